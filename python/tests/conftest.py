"""Shared helpers of the Python binding's tests.

The tests run from ctest (CMakeLists.txt) with CVSTORE_LIB naming the
freshly built library, CVSTORE_CLI the cvstore binary and CVSTORE_TEST_DATA
the repository's tests/data; run by hand, they fall back to build/ in the
checkout.
"""

import os
import pathlib
import re
import sys
import zlib

try:
    import numpy as np
    import pytest
except ImportError as e:  # pragma: no cover - the message is the point
    raise SystemExit(f"python/tests: {sys.executable} lacks {e.name}; install python3-numpy "
                     "and python3-pytest (scripts/setup.sh does) and run them with "
                     "/usr/bin/python3") from e

REPO = pathlib.Path(__file__).resolve().parents[2]
# The package of this checkout, not one installed elsewhere.
sys.path.insert(0, str(REPO / "python"))
DATA = pathlib.Path(os.environ.get("CVSTORE_TEST_DATA", REPO / "tests" / "data"))
CLI = os.environ.get("CVSTORE_CLI", str(REPO / "build" / "cvstore"))

DIM = 64


def hash_embed(texts, dim=DIM):
    """A deterministic stand-in for a model: hashed bag of words, plus a
    constant component so that no text embeds to the zero vector."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    out[:, 0] = 0.1
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, 1 + zlib.crc32(w.encode()) % (dim - 1)] += 1.0
    return out


def fake_glove(words):
    """A GloVe cache of two words (cat, dog) of 100 dimensions in the new
    folder words, for a glove store without the real 141 MB."""
    words.mkdir()
    (words / "glove100.words").write_text("cat\ndog\n")
    with open(words / "glove100.fvecs", "wb") as f:
        for row in (np.arange(100, dtype=np.float32), np.ones(100, np.float32)):
            np.int32(100).tofile(f)
            row.tofile(f)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "s.cvs")


@pytest.fixture
def rng():
    return np.random.default_rng(7)
