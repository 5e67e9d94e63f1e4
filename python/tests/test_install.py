"""`pip install ./python` works offline (no package index, no compiler) and
records the version.  Installs into a temporary --target directory, from a
copy of python/ so that the build leaves nothing in the checkout."""

import os
import shutil
import subprocess
import sys

import pytest

import cvstore

from conftest import REPO


def test_pip_install_offline(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode:
        pytest.fail(f"{sys.executable} has no pip: apt-get install python3-pip")
    src = tmp_path / "src"
    shutil.copytree(REPO / "python", src,
                    ignore=shutil.ignore_patterns("tests", "bench", "build", "*.egg-info",
                                                  "__pycache__"))
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "--target", str(target), str(src)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    code = ("import cvstore, importlib.metadata as m; "
            "print(cvstore.__file__); print(m.version('cvstore'))")
    # The installed package finds the library through CVSTORE_LIB (the one
    # these tests run against; an installed libcvstore needs nothing).
    env = dict(os.environ, PYTHONPATH=str(target), CVSTORE_LIB=cvstore.lib_path)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    where, version = p.stdout.split()
    assert where.startswith(str(target)) and version == "0.1.0"


def test_library_location(tmp_path):
    """CVSTORE_LIB names the library file or its directory; a wrong one is an
    ImportError that says where it looked and how to fix it."""
    code = "import cvstore; print(cvstore.lib_path)"
    lib = os.path.realpath(cvstore.lib_path)
    for value, ok in ((lib, True), (os.path.dirname(lib), True),
                      (str(tmp_path / "nowhere.so"), False)):
        env = dict(os.environ, PYTHONPATH=str(REPO / "python"), CVSTORE_LIB=value)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
        if ok:
            assert p.returncode == 0, p.stderr
            assert os.path.realpath(p.stdout.strip()) == lib
        else:
            assert p.returncode != 0
            assert "nowhere.so" in p.stderr and "CVSTORE_LIB" in p.stderr
