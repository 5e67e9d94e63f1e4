"""readme_python_api.py -- the README's table of the Python API names
parameters python/cvstore has.

README.md's "## Python" section lists the binding's calls as signatures in
a table (`search(queries, k=10, *, mode, ...)`).  For each signature in the
table's first column: the call exists (`cvstore.open`, else a method of
`cvstore.Store`), every parameter it names is one of the call's (or the
call takes **kwargs and the README says `**opts`), and a default it writes
out as a Python literal is the call's default.  A parameter added to the
table without the code, renamed in the code without the table, or given
another default fails here.  Names the table lists without parentheses
(`remember`, `recall`, ...) must be methods too.  The table may leave
parameters out: it is a summary, and the docstrings are the reference.

    /usr/bin/python3 tests/readme_python_api.py README.md
"""
import ast
import inspect
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import cvstore  # noqa: E402


def table_rows(readme):
    """The first cells of the Python section's API table."""
    text = open(readme, encoding="utf-8").read()
    start = text.index("\n## Python\n")
    end = text.index("\n## ", start + 1)
    cells = []
    for line in text[start:end].splitlines():
        if line.startswith("| `"):
            cells.append(line.split(" | ")[0][2:])
    return cells


def params_of(text):
    """Splits "a, b=(1, 2), *, c" at the commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def target(name):
    if name == "cvstore.open":
        return cvstore.open
    return getattr(cvstore.Store, name, None)


def main():
    readme = sys.argv[1]
    fails, checked = [], 0
    cells = table_rows(readme)
    if len(cells) < 8:
        fails.append(f"only {len(cells)} rows found in the README's Python table")
    for cell in cells:
        # Every `name(...)` in the cell, the parentheses balanced.
        for m in re.finditer(r"`([\w.]+)\(", cell):
            name, i, depth = m.group(1), m.end(), 1
            j = i
            while j < len(cell) and depth:
                depth += {"(": 1, ")": -1}.get(cell[j], 0)
                j += 1
            args = cell[i:j - 1]
            fn = target(name)
            if fn is None:
                fails.append(f"{name}: no such call in cvstore")
                continue
            sig = inspect.signature(fn)
            kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            for a in params_of(args):
                if a in ("*", "...") or not a:
                    continue
                if a.startswith("**"):
                    if not kwargs:
                        fails.append(f"{name}: the README gives {a}, the call takes no **kwargs")
                    continue
                pname, _, default = a.partition("=")
                pname = pname.strip()
                checked += 1
                if pname not in sig.parameters:
                    fails.append(f"{name}: the README names parameter {pname!r}, which "
                                 f"{name}{sig} does not have")
                    continue
                default = default.strip()
                if not default or default == "...":
                    continue
                try:
                    want = ast.literal_eval(default)
                except (ValueError, SyntaxError):
                    continue
                have = sig.parameters[pname].default
                if have is inspect.Parameter.empty or have != want:
                    fails.append(f"{name}: the README gives {pname}={default}, the code "
                                 f"{pname}={'(none)' if have is inspect.Parameter.empty else repr(have)}")
        # A row of names listed bare: "`remember`, `recall`, ..." (no call
        # written out in it).
        if "(" not in cell:
            for m in re.finditer(r"`(\w+)`", cell):
                if target(m.group(1)) is None:
                    fails.append(f"{m.group(1)}: no such method of cvstore.Store")
    for f in fails:
        print("FAIL:", f, file=sys.stderr)
    if checked < 30:
        print(f"FAIL: only {checked} parameters checked (the parser is broken)", file=sys.stderr)
        return 1
    if not fails:
        print(f"ok - {checked} parameters of {len(cells)} rows of the README's Python table")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
