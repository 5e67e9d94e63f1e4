"""The ctypes structures match include/cvstore.h: every struct's size and
every field's offset, as the C compiler lays them out (a mismatch would
have the library write outside a Python-owned buffer)."""

import ctypes
import shutil
import subprocess

import pytest

from cvstore import _lib
from conftest import REPO


def structs():
    for name, obj in vars(_lib).items():
        if name.startswith("cvs_") and isinstance(obj, type) and \
                issubclass(obj, ctypes.Structure):
            yield name, obj


def c_field(name):
    return "lambda" if name == "lambda_" else name


def test_struct_layouts_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler (build-essential) to check the layouts with")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <cvstore.h>",
             "int main(void) {"]
    want = []
    for name, st in structs():
        lines.append(f'  printf("%zu\\n", sizeof({name}));')
        want.append((name, "sizeof", ctypes.sizeof(st)))
        for field, _ in st._fields_:
            lines.append(f'  printf("%zu\\n", offsetof({name}, {c_field(field)}));')
            want.append((name, field, getattr(st, field).offset))
    lines += ["  return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    p = subprocess.run([cc, "-std=c11", "-I", str(REPO / "include"), str(src), "-o", str(exe)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got = [int(x) for x in subprocess.run([str(exe)], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert len(got) == len(want)
    bad = [(n, f, w, g) for (n, f, w), g in zip(want, got) if w != g]
    assert not bad, bad
    assert len(list(structs())) >= 20
