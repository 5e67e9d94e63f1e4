"""The README's Python examples run as written: the first (a complete
retrieval-augmented lookup) prints what the README shows, twice in a row
(the second run reopens the store it made), and the second runs."""

import os
import re
import subprocess
import sys

from conftest import REPO


def python_section():
    text = (REPO / "README.md").read_text()
    start = text.index("\n## Python\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(section):
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


def run(code, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_first_example_prints_the_documented_context(tmp_path):
    bl = blocks(python_section())
    lang, code = bl[0]
    assert lang == "python" and "cvstore.open" in code and "context(" in code
    out_lang, shown = bl[1]
    assert out_lang == ""
    for _ in range(2):
        p = run(code, tmp_path)
        assert p.returncode == 0, p.stderr
        assert p.stdout == shown
    assert (tmp_path / "rag.cvs").is_dir()


def test_vectors_example_runs(tmp_path):
    code = [c for lang, c in blocks(python_section()) if lang == "python"][1]
    p = run(code, tmp_path)
    assert p.returncode == 0, p.stderr
