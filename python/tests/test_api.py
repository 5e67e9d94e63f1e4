"""The whole interface of the binding: opening, records, search, builds,
context sets, memory, embedders and errors."""

import ctypes
import errno
import json
import os
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import cvstore
from cvstore import _lib
from conftest import CLI, DIM, fake_glove, hash_embed


def ids_of(n, prefix=""):
    return [f"{prefix}{i}" for i in range(n)]


# ==== opening ====

def test_create_open_close(path):
    with cvstore.open(path, create=True, dim=8, metric="l2", raw="f16") as db:
        assert (db.dim, db.metric, db.raw) == (8, "l2", "f16")
        assert len(db) == 0
    with pytest.raises(cvstore.Error, match="closed"):
        len(db)
    # A ValueError, as a closed file's: a caller's `except ValueError` holds.
    with pytest.raises(ValueError, match="closed"):
        db.search(np.zeros(8, dtype=np.float32), k=1)
    db.close()  # idempotent
    db = cvstore.open(path)
    assert (db.dim, db.metric, db.raw) == (8, "l2", "f16")
    db.close()


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_metrics_score_like_numpy(path, rng, metric):
    x = rng.standard_normal((50, 6)).astype(np.float32)
    q = rng.standard_normal(6).astype(np.float32)
    with cvstore.open(path, create=True, dim=6, metric=metric) as db:
        db.put(ids_of(50), x)
        r = db.search(q, k=5)
        unread = db.search(q, k=5)
    # Closing looked up the ids of results not read yet.
    assert unread.ids == r.ids
    if metric == "l2":
        s = np.linalg.norm(x - q, axis=1)
        order = np.argsort(s)
    elif metric == "ip":
        s = x @ q
        order = np.argsort(-s)
    else:
        s = (x / np.linalg.norm(x, axis=1)[:, None]) @ (q / np.linalg.norm(q))
        order = np.argsort(-s)
    assert r.ids == [[str(i) for i in order[:5]]]
    np.testing.assert_allclose(r.scores[0], s[order[:5]], rtol=1e-4, atol=1e-5)


def test_open_errors(path, tmp_path):
    with pytest.raises(cvstore.NotFound) as e:
        cvstore.open(str(tmp_path / "none.cvs"))
    assert e.value.code == _lib.NOTFOUND and "none.cvs" in str(e.value)
    # The hint is the Python way to create one, not the CLI's `cvstore init`.
    assert "create=True" in str(e.value) and "cvstore init" not in str(e.value)
    cvstore.open(path, create=True, dim=3).close()
    with pytest.raises(cvstore.AlreadyExists):
        cvstore.open(path, create=True, dim=3)
    with pytest.raises(cvstore.InvalidArgument):
        cvstore.open(str(tmp_path / "x.cvs"), create=True, dim=3, metric="hamming")
    with pytest.raises(cvstore.InvalidArgument):
        cvstore.open(str(tmp_path / "y.cvs"), create=True)
    with pytest.raises(cvstore.Error):
        cvstore.open(str(tmp_path / "z.cvs"), create=True, dim=0)


def test_create_dim_is_checked_before_ctypes(tmp_path):
    # ctypes wraps an int into the uint32 field: dim=2**32 + 3 made a store
    # of 3 dimensions, dim=True one of 1, and dim=-3 was refused as
    # "dimension 4294967293".  Each is refused as given, and no store made.
    for i, bad in enumerate((2**32 + 3, True, -3, 2.0, "4")):
        p = tmp_path / f"d{i}.cvs"
        with pytest.raises(cvstore.InvalidArgument, match=r"dim " + re.escape(repr(bad))):
            cvstore.open(str(p), create=True, dim=bad)
        assert not p.exists(), bad


def test_open_with_another_dim_is_refused(path):
    # dim= on an open was ignored: the README's idiom (create=not exists,
    # dim=...) opened a 3-d store as dim=8 silently, and the first put of
    # the new model's vectors failed later, about vectors.  Now the open
    # refuses it, naming both; the store is unchanged and opens as it is.
    cvstore.open(path, create=True, dim=3).close()
    with pytest.raises(cvstore.DimensionMismatch, match=r"holds 3-dimensional vectors, not dim=8"):
        cvstore.open(path, dim=8)
    with cvstore.open(path, dim=3) as db:  # its own dim, or none, opens it
        assert db.dim == 3
        db.put("a", [1, 0, 0])
    with cvstore.open(path) as db:
        assert len(db) == 1


def test_one_handle_per_process(path, tmp_path):
    db = cvstore.open(path, create=True, dim=2)
    for spelling in (path, path + "/", str(tmp_path / "." / "s.cvs")):
        with pytest.raises(cvstore.InvalidArgument, match="open already"):
            cvstore.open(spelling)
    db.put("a", [1, 0])  # the first handle is untouched
    db.close()
    with cvstore.open(path + "/") as again:
        assert again.get("a") is not None
    other = cvstore.open(str(tmp_path / "other.cvs"), create=True, dim=2)
    other.close()


def test_passphrase(path, monkeypatch):
    monkeypatch.delenv("CVSTORE_PASSPHRASE", raising=False)
    with cvstore.open(path, create=True, dim=2, passphrase="correct horse") as db:
        db.put("a", [1, 2], texts="secret")
        assert db.stats()["encrypted"] is True
    with pytest.raises(cvstore.WrongPassphrase) as e:
        cvstore.open(path, passphrase="wrong")
    assert e.value.code == _lib.EKEY and e.value.message
    with pytest.raises(cvstore.WrongPassphrase, match=r"encrypted: open it with passphrase=") \
            as e:
        cvstore.open(path)
    assert "--key-file" not in str(e.value)  # the CLI's ways, not Python's
    with cvstore.open(path, passphrase=b"correct horse") as db:
        assert db.get("a")["text"] == "secret"


def test_passphrase_environment(path, monkeypatch):
    """CVSTORE_PASSPHRASE is the CLI's fallback, and open()'s: the same
    environment opens the same encrypted store from both."""
    with cvstore.open(path, create=True, dim=2, passphrase="correct horse") as db:
        db.put("a", [1, 2], texts="secret")
    monkeypatch.setenv("CVSTORE_PASSPHRASE", "correct horse")
    with cvstore.open(path) as db:
        assert db.get("a")["text"] == "secret"
    with cvstore.open(path, readonly=True) as db:
        assert db.get("a")["text"] == "secret"
    # The CLI in the same environment reads it too.
    out = subprocess.run([CLI, "get", path, "a", "--json"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["text"] == "secret", out.stderr
    # An explicit argument wins over the environment.
    with pytest.raises(cvstore.WrongPassphrase):
        cvstore.open(path, passphrase="wrong")
    # A wrong one in the environment is named as such, and never shown.
    monkeypatch.setenv("CVSTORE_PASSPHRASE", "not it at all")
    with pytest.raises(cvstore.WrongPassphrase, match="CVSTORE_PASSPHRASE") as e:
        cvstore.open(path)
    assert "not it at all" not in str(e.value)
    with cvstore.open(path, passphrase="correct horse") as db:
        assert db.get("a")["text"] == "secret"
    # A create never reads it: encryption is asked for with passphrase=.
    plain = path + "-plain"
    with cvstore.open(plain, create=True, dim=2) as db:
        assert db.stats()["encrypted"] is False
    # and a plain store opens with it set (the library ignores it there).
    with cvstore.open(plain) as db:
        assert db.stats()["encrypted"] is False
    # An empty variable is no passphrase, as for the CLI.
    monkeypatch.setenv("CVSTORE_PASSPHRASE", "")
    with pytest.raises(cvstore.WrongPassphrase, match="passphrase="):
        cvstore.open(path)


def test_readonly(path):
    cvstore.open(path, create=True, dim=2).close()
    with cvstore.open(path, readonly=True) as db:
        with pytest.raises(cvstore.ReadOnly):
            db.put("a", [1, 2])
        assert db.search([1, 0], k=1).ids == [[]]


_RO_OPEN = """
import subprocess, sys
sys.path.insert(0, sys.argv[2])
import cvstore
d = sys.argv[1]
cvstore.open(d + "/s", create=True, dim=2).close()
subprocess.run(["mount", "-o", "remount,ro", d], check=True)
try:
    cvstore.open(d + "/s")
except cvstore.ReadOnly as e:
    print("refused:", e)
with cvstore.open(d + "/s", readonly=True) as db:
    print("read:", len(db))
"""


def test_a_store_on_a_read_only_file_system_says_to_open_it_readonly(tmp_path):
    """cvstore.open(path) of a store on a read-only file system (a container
    image, a read-only mount) raises ReadOnly saying how to read it, as the
    CLI and MCP read such a store without being told."""
    import sys
    from conftest import REPO
    # The whole set-up, tried first on a scratch directory: a machine may
    # allow the namespace but not the tmpfs or its read-only remount.
    probe = tmp_path / "probe"
    probe.mkdir()
    if subprocess.run(["unshare", "-rm", "sh", "-c",
                       'mount -t tmpfs -o size=1m tmpfs "$1" && mount -o remount,ro "$1"',
                       "_", str(probe)], capture_output=True).returncode:
        pytest.skip("no private read-only tmpfs mount here (unshare -rm, mount)")
    p = subprocess.run(["unshare", "-rm", "sh", "-c",
                        'mount -t tmpfs -o size=16m tmpfs "$1" && exec "$2" -c "$3" "$1" "$4"',
                        "_", str(tmp_path), sys.executable, _RO_OPEN, str(REPO / "python")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "refused:" in p.stdout and "readonly=True" in p.stdout, p.stdout
    assert "read: 0" in p.stdout, p.stdout


_OTHER_USER = """
import sys
sys.path.insert(0, sys.argv[2])
import cvstore
for kw in ({}, {"readonly": True}):
    try:
        cvstore.open(sys.argv[1], **kw)
    except cvstore.Error as e:
        print(type(e).__name__, "|", e)
"""


def test_another_users_store_says_why_it_cannot_be_opened():
    """A store whose lock file this user may not write (another user's,
    shared read-only): open() says this user may not write it, and
    readonly=True that even a reader writes lock.mdb -- not "open it with
    readonly=True", which fails the same way.  Run as nobody when the test
    is root (root ignores permissions)."""
    import pathlib
    import shutil
    import sys
    import tempfile
    from conftest import REPO
    # Not under tmp_path: pytest's base directory is its owner's only.
    top = pathlib.Path(tempfile.mkdtemp(prefix="cvstore-other-"))
    path = top / "shared.cvs"
    try:
        cvstore.open(str(path), create=True, dim=4).close()
        for p in (top, path):
            os.chmod(p, 0o755)
        for f in ("data.mdb", "lock.mdb"):
            os.chmod(path / f, 0o444)
        _open_as_another_user(path, REPO)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _open_as_another_user(path, REPO):
    import shutil
    import sys
    cmd = [sys.executable, "-c", _OTHER_USER, str(path), str(REPO / "python")]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root, and no setpriv to run as another user")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "CVSTORE_LIB": str(_lib.lib_path)})
    if p.returncode and not p.stdout and os.geteuid() == 0:
        pytest.skip(f"nobody cannot run this checkout's Python and library: {p.stderr[-200:]}")
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and len(lines) == 2, (p.stdout, p.stderr)
    assert lines[0].startswith("ReadOnly |") and "this user may not write" in lines[0], lines
    assert "readonly=True" not in lines[0], lines
    assert "even a reader writes the store's lock file" in lines[1], lines


_FULL_IMPORT = """
import sys
sys.path.insert(0, sys.argv[2])
import cvstore
m, f = sys.argv[1], sys.argv[3]
with cvstore.open(m + "/s", create=True, dim=64, metric="l2") as db:
    try:
        db.import_file(f, batch=1000)
    except cvstore.IoError as e:
        print("refused:", e)
with cvstore.open(m + "/s", readonly=True) as db:
    print("count:", len(db), "problems:", len(db.check()))
import os
open(m + "/fill", "wb").write(bytes(4 << 20)[:max(0, os.statvfs(m).f_bavail - 1) * 4096])
try:
    cvstore.open(m + "/new", create=True, dim=4)
except cvstore.IoError as e:
    print("create refused:", e, "left:", os.path.exists(m + "/new"))
"""


def test_an_import_onto_a_full_disk_says_what_is_committed(tmp_path):
    """import_file onto a file system that fills raises IoError naming the
    full disk and how many records are committed (the batches before stay,
    as the store's count shows), so the caller knows the same import again
    completes it; the store opens and checks clean after.  A create on the
    full file system raises IoError saying so, and leaves no directory."""
    import sys
    from conftest import REPO
    m = tmp_path / "m"
    m.mkdir()
    if subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$1"',
                       "_", str(m)], capture_output=True).returncode:
        pytest.skip("no private tmpfs mount here (unshare -rm, mount)")
    x = np.random.default_rng(3).random((20000, 64), dtype=np.float32)   # 5.2 MB
    with open(tmp_path / "big.fvecs", "wb") as f:
        np.hstack([np.full((len(x), 1), 64, np.int32).view(np.float32), x]).tofile(f)
    p = subprocess.run(["unshare", "-rm", "sh", "-c",
                        'mount -t tmpfs -o size=3m tmpfs "$1" && exec "$2" -c "$3" "$1" "$4" "$5"',
                        "_", str(m), sys.executable, _FULL_IMPORT, str(REPO / "python"),
                        str(tmp_path / "big.fvecs")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "No space left on device" in p.stdout, p.stdout
    said = re.search(r"the first (\d+) records of the file are committed", p.stdout)
    assert said and "the same import again" in p.stdout, p.stdout
    assert f"count: {said.group(1)} problems: 0" in p.stdout, p.stdout
    # A store is not made where there is no room, and no directory stays.
    assert "its file system is full" in p.stdout and "left: False" in p.stdout, p.stdout


# ==== records ====

def test_put_get_delete(path, rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    with cvstore.open(path, create=True, dim=3, metric="l2") as db:
        r = db.put(ids_of(5), x, texts=["t0", None, "t2", "t3", "t4"],
                   titles=[None, "T1", None, None, None],
                   metas=[{"n": 0, "s": "é"}, None, None, None, None],
                   links=[None, ["0"], [("0", "cites", 0.5)], [{"id": "1"}], None])
        assert (r.inserted, r.updated) == (5, 0)
        assert len(db) == 5
        g = db.get("0")
        np.testing.assert_array_equal(g["vector"], x[0])
        assert (g["text"], g["title"], g["meta"], g["links"]) == ("t0", None,
                                                                 {"n": 0, "s": "é"}, [])
        g1 = db.get("1")
        assert g1["text"] is None and g1["title"] == "T1"
        assert g1["links"] == [{"id": "0", "type": None, "weight": 1.0}]
        assert db.get("2")["links"] == [{"id": "0", "type": "cites", "weight": 0.5}]
        assert db.get("missing") is None
        assert "3" in db and "9" not in db
        # Upsert: float64 and lists are accepted (converted once).
        r = db.put(["0", "new"], np.ones((2, 3), dtype=np.float64))
        assert (r.inserted, r.updated) == (1, 1)
        np.testing.assert_array_equal(db.get("0")["vector"], [1, 1, 1])
        assert db.get("0")["text"] is None  # put replaces the whole record
        r = db.put("single", [0.5, 0.25, 2])
        assert r.inserted == 1
        assert db.delete(["4", "nope", "new"]) == 2
        assert db.delete("single") == 1
        assert len(db) == 4
        assert db.get("4") is None
        # A deleted record's links go from the others.
        assert db.delete("0") == 1
        assert db.get("1")["links"] == []


def test_put_strided_and_no_copy(path, rng):
    big = rng.standard_normal((10, 8)).astype(np.float32)
    with cvstore.open(path, create=True, dim=4, metric="l2") as db:
        a = np.ascontiguousarray(big[:, :4])
        assert db._matrix(a) is a  # float32 C-contiguous: passed as it is
        db.put(ids_of(10), big[:, ::2])  # a strided view: converted once
        for i in (0, 9):
            np.testing.assert_array_equal(db.get(str(i))["vector"], big[i, ::2])


def test_vectors_that_are_not_real_numbers(path):
    """Complex vectors lost their imaginary parts with only a NumPy warning,
    and strings of digits were taken for numbers: each is refused, naming
    the argument, and nothing is stored.  Integers and booleans are numbers."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(["i", "b"], [np.array([1, 2], np.int64), np.array([True, False])])
        np.testing.assert_array_equal(db.get("b")["vector"], [1, 0])
        bad = [np.array([[1 + 2j, 0]]), np.array([["1.5", "2"]]), [[1, "x"]],
               np.array([[None, 1]], dtype=object), [[1, 2], [3]]]
        for v in bad:
            with pytest.raises(cvstore.InvalidArgument, match="vectors"):
                db.put(["c"], v)
            with pytest.raises(cvstore.InvalidArgument, match="queries"):
                db.search(v[0] if isinstance(v, np.ndarray) else v, k=1)
        assert db.get("c") is None and len(db) == 2
        # A function embedder returning complex values fails the put, named.
        db.set_embedder(lambda texts: np.ones((len(texts), 2), np.complex64), name="c")
        with pytest.raises(cvstore.IoError) as e:
            db.put(["t"], texts=["hello"])
        assert "complex" in str(e.value.__cause__)
        assert db.get("t") is None


def test_progress_of_long_calls(tmp_path, rng):
    """import_file, build and link report progress as the CLI's bars do (a
    Python program had no way to show any for a long import); an exception
    from the callback comes out once the call has returned."""
    x = rng.standard_normal((3000, 8)).astype(np.float32)
    f = tmp_path / "x.fvecs"
    f.write_bytes(np.hstack([np.full((len(x), 1), 8, np.int32).view(np.float32), x]).tobytes())
    seen = []
    with cvstore.open(tmp_path / "p.cvs", create=True, dim=8, metric="l2") as db:
        r = db.import_file(f, link=True, progress=lambda *a: seen.append(a))
        assert r["records"] == 3000
        phases = {p for p, _, _ in seen}
        assert {"validate", "write", "knn"} <= phases, phases
        assert ("write", 3000, 3000) in seen
        seen.clear()
        db.build("pq4", "ivf8", progress=lambda *a: seen.append(a))
        assert {"sample", "encode"} <= {p for p, _, _ in seen}
        assert all(0 <= d <= t or t == 0 for _, d, t in seen)
        seen.clear()
        db.tune(0.9, sample=200, progress=lambda *a: seen.append(a))
        assert seen, "tune reported nothing"
        seen.clear()
        db.link(mentions=False, progress=lambda *a: seen.append(a))
        assert seen and seen[-1][1] == seen[-1][2] == 3000

        def fail(phase, done, total):
            raise RuntimeError(f"stop at {phase}")
        with pytest.raises(RuntimeError, match="stop at validate"):
            db.import_file(f, progress=fail)
        assert len(db) == 3000


def test_import_without_numpy_says_what_to_do():
    """A python3 without NumPy (pyenv's, first on PATH) got a bare
    ModuleNotFoundError from deep inside the package; the message now names
    the interpreter and the fix."""
    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys; sys.modules['numpy'] = None; sys.path.insert(0, sys.argv[1])\n"
            "try:\n    import cvstore\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, pkg], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "cvstore needs NumPy" in out.stdout and sys.executable in out.stdout
    assert "python3-numpy" in out.stdout


def test_nan_in_metadata_is_named(path):
    """NaN (pandas' missing value) in metadata or a filter: a message that
    says NaN is not JSON and what to use, not the parser's "invalid token";
    nothing is stored."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        with pytest.raises(cvstore.InvalidInput, match=r"metas\[1\]: NaN .*use None"):
            db.put(["a", "b"], [[1, 2], [3, 4]], metas=[{"x": 1}, {"x": float("nan")}])
        with pytest.raises(cvstore.InvalidInput, match="filter: NaN"):
            db.search([1, 2], k=1, filter={"x": {"$lt": float("inf")}})
        assert len(db) == 0
        db.put(["a"], [[1, 2]], metas=[{"x": None}])
        assert db.get("a")["meta"] == {"x": None}


def test_circular_metadata_is_not_called_nan(path):
    """A dict that holds itself cannot be JSON either, but it is not NaN:
    the message says what json said (it said NaN and infinity)."""
    loop = {"x": 1}
    loop["self"] = loop
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        with pytest.raises(cvstore.InvalidInput, match=r"metas\[0\]: .*Circular reference") as e:
            db.put(["a"], [[1, 2]], metas=[loop])
        assert "NaN" not in str(e.value)
        with pytest.raises(cvstore.InvalidInput, match="filter: .*Circular reference"):
            db.search([1, 2], k=1, filter={"x": loop})
        assert len(db) == 0


def test_put_errors(path):
    with cvstore.open(path, create=True, dim=3) as db:
        with pytest.raises(cvstore.DimensionMismatch):
            db.put(["a"], [[1, 2]])
        with pytest.raises(cvstore.InvalidArgument):
            db.put(["a", "b"], [[1, 2, 3]])
        with pytest.raises(cvstore.InvalidArgument):
            db.put(["a"], [[1, 2, 3]], texts=["x", "y"])
        with pytest.raises(cvstore.InvalidInput, match="not finite"):
            db.put(["a"], [[1, np.nan, 3]])
        with pytest.raises(cvstore.InvalidInput):
            db.put(["a", "a"], [[1, 2, 3], [1, 2, 3]])
        with pytest.raises(cvstore.InvalidInput):
            db.put(["a"], [[1, 2, 3]], links=[["nobody"]])
        with pytest.raises(cvstore.InvalidInput):
            db.put(["x" * 600], [[1, 2, 3]])
        with pytest.raises(cvstore.InvalidArgument):  # texts without an embedder
            db.put(["a"], texts=["hello"])
        with pytest.raises(TypeError):
            db.put([1], [[1, 2, 3]])
        # One str (or dict) beside a list of ids was read as its characters
        # (keys), one per record: five ids, texts="hello", stored "h", "e", ...
        five = np.eye(5, 3, dtype=np.float32) + 0.5
        for kw in ({"texts": "hello"}, {"titles": "world"}, {"metas": {"a": 1, "b": 2, "c": 3,
                                                                       "d": 4, "e": 5}}):
            with pytest.raises(cvstore.InvalidArgument, match="give a list of one per id"):
                db.put(list("vwxyz"), five, **kw)
        assert len(db) == 0  # nothing of a failed batch is written
        db.put("s", [1, 2, 3], texts="one text", titles="its title", metas={"k": 1})
        assert db.get("s")["text"] == "one text" and db.get("s")["meta"] == {"k": 1}
        # a record's links as one str: its characters were links ("ss": two
        # links to "s"); beside a list of ids refused, for one id its links
        with pytest.raises(cvstore.InvalidArgument, match="links is a list of ids, not one id"):
            db.put(["t"], [[3, 2, 1]], links=["ss"])
        db.put(["ss"], [[1, 1, 1]])
        for links in (["ss"], "ss", [("ss", None)]):
            db.put("t", [3, 2, 1], links=links)
            assert [lk["id"] for lk in db.get("t")["links"]] == ["ss"], links
        db.put("t", [3, 2, 1], links=[])
        assert db.get("t")["links"] == []
        db.delete(["s", "ss", "t"])
        assert db.put([], np.zeros((0, 3))).inserted == 0


# ==== search ====

@pytest.fixture
def filled(path, rng):
    x = rng.standard_normal((300, 16)).astype(np.float32)
    db = cvstore.open(path, create=True, dim=16, metric="l2")
    db.put(ids_of(300), x, texts=[f"text {i}" for i in range(300)],
           titles=[f"title {i}" for i in range(300)],
           metas=[{"i": i, "even": i % 2 == 0} for i in range(300)])
    yield db, x
    db.close()


def test_search_batch_and_include(filled):
    db, x = filled
    r = db.search(x[:7], k=4, include=("text", "title", "meta"))
    assert r.scores.shape == (7, 4) and r.scores.dtype == np.float32
    assert r.keys.shape == (7, 4)
    assert [row[0] for row in r.ids] == ids_of(7)
    assert r.texts[3][0] == "text 3" and r.titles[3][0] == "title 3"
    assert r.metas[3][0] == {"i": 3, "even": False}
    assert np.all(np.diff(r.scores, axis=1) >= 0)
    assert r[2][0][0] == "2" and r[2][0][1] < 1e-2
    assert len(r) == 7
    with pytest.raises(cvstore.InvalidArgument):
        db.search(x[0], include=("vector",))


def test_search_padding_and_filter(filled):
    db, x = filled
    r = db.search(x[0], k=400)
    assert len(r.ids[0]) == 300
    assert np.all(r.keys[0, 300:] == -1) and np.all(np.isnan(r.scores[0, 300:]))
    r = db.search(x[1], k=5, filter={"even": True})
    assert len(r.ids[0]) == 5
    assert all(int(i) % 2 == 0 for i in r.ids[0])
    r = db.search(x[1], k=3, filter='{"$ids": ["5", "6"]}')
    assert sorted(r.ids[0]) == ["5", "6"]
    r = db.search(x[1], k=3, filter={"i": {"$gte": 10, "$lt": 12}})
    assert sorted(r.ids[0]) == ["10", "11"]
    with pytest.raises(cvstore.InvalidArgument):
        db.search(x[1], filter={"i": {"$near": 3}})
    with pytest.raises(cvstore.DimensionMismatch):
        db.search(np.zeros(5))
    with pytest.raises(cvstore.InvalidArgument):
        db.search(x[0], k=0)
    with pytest.raises(cvstore.InvalidArgument):
        db.search(x[0], mode="fast")


def test_ids_resolved_lazily(filled):
    db, x = filled
    r = db.search(x[:2], k=2)
    assert r._ids is None  # no per-result Python object until ids is read
    first = db.search(x[:2], k=2).ids
    db.delete(first[1][0])
    # Resolved in a new snapshot: the deleted record reads as None.
    assert r.ids == [first[0], [None, first[1][1]]]


def test_build_codes_ann_tune_stats(filled):
    db, x = filled
    assert db.stats()["codec"] is None and db.stats()["index"] is None
    b = db.build(codec="pq4", seed=3)
    assert b["codec"]["spec"].startswith("pq4") and b["codec"]["code_bytes"] == 4
    r = db.search(x[:20], k=10, mode="codes", rerank=50)
    assert [row[0] for row in r.ids] == ids_of(20)  # re-ranked with the raw vectors
    b = db.build(codec="pq8", index="ivf8")
    assert b["index"]["spec"] == "ivf8" and b["index"]["count"] == 300
    t = db.tune(target_recall=0.9, sample=50)
    assert t["recall"] >= 0.9 and t["reached"]
    st = db.stats()
    assert st["index"]["nprobe"] == t["nprobe"]
    assert st["links_outdated"] is False  # no titles: nothing an older linker made
    assert st["codec"]["format"] == 1  # a pq codec's blob version (docs/FORMAT.md)
    # Tuned on queries of the workload (points between stored vectors): the
    # stored defaults reach the target on those very queries.
    q = (x[:40] + x[40:80]) / 2
    t = db.tune(target_recall=0.97, queries=q)
    assert t["reached"] and t["recall"] >= 0.97
    exact = db.search(q, k=10, mode="exact").ids
    ann = db.search(q, k=10).ids
    hits = sum(len(set(a) & set(e)) for a, e in zip(ann, exact))
    assert hits / 400 == pytest.approx(t["recall"])
    with pytest.raises(cvstore.DimensionMismatch):
        db.tune(queries=np.zeros((2, 3), dtype=np.float32))
    st = db.stats()
    r = db.search(x[:20], k=1)  # ANN: the store has an index
    assert sum(row[0] == str(i) for i, row in enumerate(r.ids)) >= 18
    r = db.search(x[:20], k=1, mode="ann", nprobe=8, rerank=100)
    assert [row[0] for row in r.ids] == ids_of(20)
    r = db.search(x[:3], k=1, mode="exact")
    assert r.ids == [["0"], ["1"], ["2"]]
    with pytest.raises(cvstore.InvalidArgument):
        db.build(codec="pq5x")
    b = db.build()  # chosen: 300 records are few enough for exact search
    assert b["codec"]["spec"] == "sq8" and b["index"] is None
    assert db.check() == []
    assert st["count"] == 300 and st["dim"] == 16 and st["metric"] == "l2"


def test_ann_refine_sq8(filled):
    # ",sq8" rows: the re-rank scores by SQ8 distances; refine re-scores the
    # best of them from the stored vectors, all of them = exact search.
    db, x = filled
    db.build(codec="pq8", index="ivf8,sq8")
    q = x[:10] + 0.3
    exact = db.search(q, k=10, mode="exact")
    off = db.search(q, k=10, mode="ann", nprobe=8, rerank=300, refine=0)
    full = db.search(q, k=10, mode="ann", nprobe=8, rerank=300, refine=300)
    assert full.ids == exact.ids
    assert np.allclose(full.scores, exact.scores, rtol=1e-5)
    assert not np.allclose(off.scores, exact.scores, rtol=1e-5)
    t = db.tune(target_recall=0.9, sample=50)
    assert t["refine"] in (0, 20) and db.stats()["index"]["refine"] == t["refine"]
    with pytest.raises(cvstore.InvalidArgument):
        db.search(q, k=10, mode="exact", refine=20)


def test_build_bad_spec(path):
    with cvstore.open(path, create=True, dim=4) as db:
        db.put("a", [1, 2, 3, 4])
        with pytest.raises(cvstore.InvalidArgument):
            db.build(codec="pq3")  # 3 does not divide the dimension


def test_import_file(path, tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"id": "a", "vector": [1, 0], "text": "x"}\n{"id": "b", "vector": [0, 1]}\n')
    with cvstore.open(path, create=True, dim=2) as db:
        assert db.import_file(str(f))["inserted"] == 2
        assert db.get("a")["text"] == "x"
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "c", "vector": [1, 0, 0]}\n')
        with pytest.raises(cvstore.DimensionMismatch):
            db.import_file(str(bad))


def test_import_progress_in_bytes(path, tmp_path):
    """A JSONL file's record count is not known while it is validated
    (total 0): a progress function of five parameters is also given the
    bytes read, for a bar over the validation; one of three (or *args) is
    called as before."""
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": f"r{i}", "vector": [i, 1]}) + "\n"
                         for i in range(3000)))
    size = f.stat().st_size
    five, three = [], []
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.import_file(f, batch=500,
                       progress=lambda ph, d, t, bd, bt: five.append((ph, d, t, bd, bt)))
        db.import_file(f, progress=lambda *a: three.append(a))
    val = [x for x in five if x[0] == "validate"]
    assert val and val[0][2] == 0, "a JSONL validation's total is unknown"
    assert all(x[4] == size and 0 <= x[3] <= size for x in val)
    assert val[-1][3] == size and val[-1][1] == 3000
    assert all(len(a) == 3 for a in three) and three


def test_import_file_names_unknown_keys(path, tmp_path):
    """A JSONL key that is no record field is ignored, never silently: one
    UnknownKeyWarning per distinct key (its first line, the field it likely
    meant), and the result counts them."""
    f = tmp_path / "k.jsonl"
    f.write_text('{"id": "a", "vector": [1, 0], "metadata": {"k": 1}}\n'
                 '{"id": "b", "vector": [0, 1], "metadata": {"k": 2}, "source": "x"}\n'
                 '{"id": "c", "vector": [0, 1]}\n')
    with cvstore.open(path, create=True, dim=2) as db:
        with pytest.warns(cvstore.UnknownKeyWarning) as w:
            r = db.import_file(f)
        msgs = [str(x.message) for x in w]
        assert len(msgs) == 2, msgs
        assert 'line 1: key "metadata"' in msgs[0] and 'did you mean "meta"?' in msgs[0]
        assert 'line 2: key "source"' in msgs[1] and "did you mean" not in msgs[1]
        assert all(x.filename == __file__ for x in w)  # the caller's line, not ours
        assert r["unknown_keys"] == ["metadata", "source"] and r["unknown_key_records"] == 2
        assert r["inserted"] == 3 and db.get("a")["meta"] is None
        # A clean file says nothing and returns no such entries.
        ok = tmp_path / "ok.jsonl"
        ok.write_text('{"id": "d", "vector": [1, 1], "meta": {"k": 3}}\n')
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = db.import_file(ok)
        assert "unknown_keys" not in r and db.get("d")["meta"] == {"k": 3}
        # Warnings turned into errors: raised after the import returned.
        with warnings.catch_warnings():
            warnings.simplefilter("error", cvstore.UnknownKeyWarning)
            with pytest.raises(cvstore.UnknownKeyWarning, match="metadata"):
                db.import_file(f)


def test_file_errors_are_oserrors(path, tmp_path):
    """A file that is not there is a FileNotFoundError (errno, filename) as
    well as the binding's InvalidArgument; a store that is not there a
    FileNotFoundError as well as NotFound."""
    with cvstore.open(path, create=True, dim=2) as db:
        missing = tmp_path / "missing.jsonl"
        with pytest.raises(FileNotFoundError) as e:
            db.import_file(missing)
        assert isinstance(e.value, cvstore.FileNotFound)
        assert isinstance(e.value, cvstore.InvalidArgument) and e.value.code == _lib.EINVAL
        assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
        assert str(missing) in str(e.value) and "Errno" not in str(e.value)
        back = pickle.loads(pickle.dumps(e.value))  # as a multiprocessing worker's error
        assert type(back) is cvstore.FileNotFound and str(back) == str(e.value)
        assert (back.errno, back.filename, back.code) == (errno.ENOENT, str(missing), _lib.EINVAL)
        with pytest.raises(IsADirectoryError):
            db.import_file(tmp_path, format="jsonl")
        # without a format, the same, said as it is (it said "cannot tell
        # the format from the file name ... give it explicitly")
        with pytest.raises(IsADirectoryError, match="is a directory") as e:
            db.import_file(tmp_path)
        assert "format" not in str(e.value)
        vec = tmp_path / "v.fvecs"
        vec.write_bytes(np.int32(2).tobytes() + np.float32([1, 1]).tobytes())
        with pytest.raises(FileNotFoundError) as e:
            db.import_file(vec, ids=tmp_path / "no-ids.txt")
        assert e.value.filename == str(tmp_path / "no-ids.txt")
        if os.geteuid() != 0:  # root reads any file
            locked = tmp_path / "locked.jsonl"
            locked.write_text('{"id": "a", "vector": [1, 0]}\n')
            locked.chmod(0)
            with pytest.raises(PermissionError):
                db.import_file(locked)
        # Errors that are not about the file stay what they were.
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "a", "vector": [1, 0]}\n')
        with pytest.raises(cvstore.InvalidArgument) as e:
            db.import_file(bad, batch=-1)
        assert not isinstance(e.value, OSError)
    with pytest.raises(FileNotFoundError) as e:
        cvstore.open(tmp_path / "none.cvs")
    assert isinstance(e.value, cvstore.NotFound) and isinstance(e.value, cvstore.StoreNotFound)
    assert e.value.errno == errno.ENOENT and e.value.filename == str(tmp_path / "none.cvs")
    # A create in a directory that is not there, as os.mkdir says it.
    with pytest.raises(FileNotFoundError) as e:
        cvstore.open(tmp_path / "no-dir" / "s.cvs", create=True, dim=2)
    assert isinstance(e.value, cvstore.InvalidArgument) and e.value.filename == str(tmp_path / "no-dir")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(cvstore.InvalidArgument) as e:  # not about a missing directory
        cvstore.open(tmp_path / "a-file", create=True, dim=2)
    assert "not a directory" in str(e.value) and not isinstance(e.value, FileNotFoundError)


def test_import_file_as_the_cli_imports(path, tmp_path):
    """import_file takes what `cvstore import` takes (format for a name
    without the extension, an ids file, ids_as_text, batch), and a text
    store comes out of it with its graph, as from the CLI: mention links and
    a kNN graph, for context()."""
    f = tmp_path / "passages.txt"  # no .jsonl: the format must be given
    f.write_text("".join(json.dumps({"id": i, "title": t, "text": x}) + "\n"
                         for i, (t, x) in PASSAGES.items()))
    with cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash") as db:
        with pytest.raises(cvstore.InvalidArgument, match="format"):
            db.import_file(f)
        with pytest.raises(cvstore.InvalidArgument, match="csv"):
            db.import_file(f, format="csv")
        r = db.import_file(f, format="jsonl", batch=2)
        assert (r["records"], r["inserted"], r["updated"]) == (5, 5, 0)
        assert r["link"]["knn"]["records"] == 5
        ki = _lib.cvs_knn_info()
        assert _lib.lib.cvs_knn_get_info(db._db, ctypes.byref(ki)) == 0 and ki.records == 5
        assert {"id": "seine", "type": "mentions", "weight": 1.0} in db.get("paris")["links"]
        # Again: the mentions are judged again, the kNN graph is kept.
        r = db.import_file(f, format="jsonl")
        assert r["updated"] == 5 and "knn" not in r["link"]
        assert "link" not in db.import_file(f, format="jsonl", link=False)
    vec = tmp_path / "v.fvecs"
    vec.write_bytes(b"".join(np.int32(2).tobytes() + np.float32([i, 1]).tobytes()
                             for i in range(3)))
    ids = tmp_path / "ids.txt"
    ids.write_text("x\ny\nz\n")
    with cvstore.open(tmp_path / "v.cvs", create=True, dim=2, metric="l2") as db:
        with pytest.raises(cvstore.InvalidArgument, match="ids"):
            db.import_file(vec, ids_as_text=True)
        r = db.import_file(vec, ids=ids, ids_as_text=True)
        assert r["inserted"] == 3 and "link" not in r  # a vector store links on request
        assert db.get("y")["text"] == "y"
        assert db.import_file(vec, ids=ids, link=True)["link"]["knn"]["records"] == 3


def test_numpy_values_in_metadata_and_filters(path):
    """Metadata computed with NumPy (np.float32, np.int64, arrays) is stored
    as the JSON it holds instead of failing in json.dumps; filters too."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(["a", "b"], [[0, 1], [1, 0]],
               metas=[{"score": np.float32(0.5), "n": np.int64(3), "v": np.arange(2)},
                      {"n": 4}])
        assert db.get("a")["meta"] == {"score": 0.5, "n": 3, "v": [0, 1]}
        assert db.search([0, 1], k=2, filter={"n": np.int64(4)}).ids == [["b"]]


def test_records_lists_the_store_as_export_does(path, tmp_path):
    """ids() and records() read the whole store in insertion order, as
    `cvstore export` does (the same ids, texts and vectors); records() holds
    no snapshot between batches, so the loop may write: a record deleted
    meanwhile is skipped, records added are not listed."""
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put([f"r{i}" for i in range(10)], x, texts=[f"text {i}" for i in range(10)])
        db.delete("r3")
        assert db.ids() == [f"r{i}" for i in range(10) if i != 3]
        recs = list(db.records(vector=True, batch=4))
        assert [r["id"] for r in recs] == db.ids()
        np.testing.assert_array_equal(np.stack([r["vector"] for r in recs]),
                                      np.delete(x, 3, axis=0))
        seen = []
        for r in db.records(batch=3):  # writes between batches: no snapshot is held
            seen.append(r["id"])
            if r["id"] == "r0":
                db.delete("r7")
            db.put(r["id"] + "-copy", [0, 1])
        assert seen == [f"r{i}" for i in range(10) if i not in (3, 7)]
        with pytest.raises(cvstore.InvalidArgument, match="batch"):
            next(db.records(batch=0))
    p = subprocess.run([CLI, "export", path, "--no-vector"], capture_output=True, text=True,
                       check=True)
    with cvstore.open(path, readonly=True) as db:
        want = [json.loads(line) for line in p.stdout.splitlines()]
        assert [(r["id"], r["text"]) for r in db.records()] == \
            [(w["id"], w.get("text")) for w in want]


def test_given_sentences_survive_a_copy(path, tmp_path):
    """Sentences given at put (or imported from JSONL "sentences") come back
    from get() and records(), and put(sentences=) takes them, so copying a
    store record by record keeps them: "Dr. No is a film." stays one
    sentence instead of ICU's two.  A text split by ICU reads None."""
    text = "Dr. No is a film. It was made in 1962."
    given = ["Dr. No is a film.", "It was made in 1962."]
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(["a", "b"], [[1, 0], [0, 1]], texts=[text, "Plain text. Two parts."],
               sentences=[given, None])
        assert db.get("a")["sentences"] == given
        assert db.get("b")["sentences"] is None
        recs = list(db.records(vector=True))
        with pytest.raises(cvstore.InvalidInput, match="not in its text"):
            db.put("c", [1, 1], texts="Some text.", sentences=["Other text."])
    copy = str(tmp_path / "copy.cvs")
    with cvstore.open(copy, create=True, dim=2, metric="l2") as db:
        db.put([r["id"] for r in recs], np.stack([r["vector"] for r in recs]),
               texts=[r["text"] for r in recs], sentences=[r["sentences"] for r in recs])
        assert db.get("a")["sentences"] == given
    # The CLI reads them back the same: export writes them.
    p = subprocess.run([CLI, "export", copy, "--no-vector"], capture_output=True, text=True,
                       check=True)
    assert json.loads(p.stdout.splitlines()[0])["sentences"] == given


# ==== text, embedders, context ====

PASSAGES = {
    "paris": ("Paris", "Paris is the capital and largest city of France, on the Seine."),
    "berlin": ("Berlin", "Berlin is the capital of Germany and its largest city."),
    "seine": ("Seine", "The Seine flows through Paris to the English Channel."),
    "rhine": ("Rhine", "The Rhine rises in the Alps and flows through Germany."),
    "rome": ("Rome", "Rome is the capital of Italy."),
}


@pytest.fixture
def textdb(path):
    db = cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash")
    ids = list(PASSAGES)
    db.put(ids, titles=[PASSAGES[i][0] for i in ids], texts=[PASSAGES[i][1] for i in ids])
    yield db
    db.close()


def test_text_search(textdb):
    r = textdb.search("capital of Germany", k=2)
    assert r.ids[0][0] == "berlin"
    np.testing.assert_allclose(
        r.scores[0, 0],
        float(_cos(hash_embed(["capital of Germany"])[0],
                   hash_embed([PASSAGES["berlin"][1]])[0])), rtol=1e-5)
    r = textdb.search(["river through Paris", "Italy"], k=1, mode="bm25", include=("title",))
    assert r.ids == [["seine"], ["rome"]] and r.titles == [["Seine"], ["Rome"]]
    r = textdb.search("the of", k=3, mode="bm25")  # stop words only: no results
    assert r.ids == [[]]
    # What BM25 cannot honour is refused, not ignored (as `search --bm25`).
    with pytest.raises(cvstore.InvalidArgument, match="bm25' takes no filter, nprobe"):
        textdb.search("Paris", k=1, mode="bm25", filter={"a": 1}, nprobe=4)
    v = textdb.embed(["x y", "z"])
    assert v.shape == (2, DIM)
    assert textdb.embedder()["name"] == "test:hash"


# Chinese and Japanese passages written for this test: a word inside an
# unspaced run is a word BM25 finds (text/tokenize.c deviation 2), in a
# search and in a context's lexical half.
CJK_PASSAGES = {
    "pw": ("設定", "アカウントのパスワードを変更するには、設定画面を開いてください。"),
    "pasta": ("料理", "パスタの作り方：お湯を沸かして塩を入れます。"),
    "wp": ("ソフト", "新しいワードプロセッサをインストールしました。"),
    "pku": ("大学", "北京大学位于北京市海淀区，是中国著名的高等学府。"),
    "lib": ("学习", "大学生每天在图书馆学习。"),
    "en": ("River", "The river flows through the old city."),
}


def test_cjk_lexical_search(path):
    db = cvstore.open(path, create=True, dim=DIM, embedder=hash_embed, embedder_name="test:hash")
    try:
        ids = list(CJK_PASSAGES)
        db.put(ids, titles=[CJK_PASSAGES[i][0] for i in ids],
               texts=[CJK_PASSAGES[i][1] for i in ids])
        r = db.search(["パスワード", "图书馆", "北京大学", "ﾊﾟｽﾀ", "river"], k=1, mode="bm25")
        assert r.ids == [["pw"], ["lib"], ["pku"], ["pasta"], ["en"]]
        ctx = db.context("パスワードを忘れた", lexical_weight=1.0, seeds=1, hops=0)
        assert ctx.items[0].id == "pw"
    finally:
        db.close()


def _cos(a, b):
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def test_context(textdb):
    textdb.link(k=2)
    ctx = textdb.context("Which river flows through the capital of France?", budget=60,
                         hops=1)
    assert 0 < ctx.tokens <= 60 and ctx.budget == 60
    ids = [it.id for it in ctx.items]
    assert "paris" in ids or "seine" in ids
    it = ctx.items[0]
    assert it.via[0][0] and it.via[-1][0] == it.id and len(it.via) == it.hop + 1
    assert it.tokens == (len(it.title.encode()) + len(it.text.encode()) + 3) // 4
    s = str(ctx)
    assert s.startswith("[1] " + it.title + "\n" + it.text)
    assert sum(1 for line in s.splitlines() if line.startswith("[")) == len(ctx.items)
    top = textdb.context("capital of Italy", budget=512, strategy="topk")
    assert top.items[0].id == "rome"
    with pytest.raises(cvstore.InvalidArgument):
        textdb.context("x", strategy="random")
    with pytest.raises(TypeError):
        textdb.context("x", no_such_option=1)
    lex = textdb.context("capital of Italy", lexical_weight=1.0, seeds=1, hops=0)
    assert lex.items[0].id == "rome"


def test_context_filter_and_meta(path):
    """context(filter=...) takes search's filter forms: every item and every
    step of its path match; none matching is an empty set; a malformed
    filter raises InvalidArgument naming the member.  Items carry meta."""
    db = cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash")
    ids = list(PASSAGES)
    tenant = {"paris": "a", "seine": "b", "berlin": "a", "rhine": "b", "rome": "a"}
    db.put(ids + ["bare"], titles=[PASSAGES[i][0] for i in ids] + ["Tiber"],
           texts=[PASSAGES[i][1] for i in ids] + ["The Tiber flows through Rome."],
           metas=[{"tenant": tenant[i], "n": k} for k, i in enumerate(ids)] + [None])
    db.link(k=2)
    q = "Which river flows through the capital of France?"
    every = db.context(q, budget=1000)
    assert {it.id for it in every.items} >= {"seine", "rhine"}
    by_id = {it.id: it for it in every.items}
    assert by_id["seine"].meta == {"tenant": "b", "n": ids.index("seine")}
    if "bare" in by_id:
        assert by_id["bare"].meta is None
    for flt in ({"tenant": "a"}, '{"tenant": "a"}'):
        ctx = db.context(q, budget=1000, filter=flt)
        assert ctx.items and "paris" in [it.id for it in ctx.items]
        for it in ctx.items:
            assert it.meta["tenant"] == "a"
            assert all(tenant.get(step) == "a" for step, _ in it.via), it.via
    v = db.embed([q])[0]
    ctx = db.context(None, vector=v, budget=1000, filter={"n": {"$gte": 3}})
    assert ctx.items and all(it.meta["n"] >= 3 for it in ctx.items)
    assert db.context(q, filter={"tenant": "z"}).items == []
    with pytest.raises(cvstore.InvalidArgument, match='"n"'):
        db.context(q, filter={"n": {"$near": 3}})
    db.close()


def test_a_question_of_no_words_is_refused(textdb):
    """context("") or a question of spaces (U+00A0, U+3000 too) or
    punctuation raises InvalidArgument, as `cvstore context --text ""`
    refuses it, instead of an empty set that reads as "nothing answers";
    with a vector the vector answers."""
    for q in ("", "  ", "\u00a0", "\u3000\u00a0 ", "?!"):
        with pytest.raises(cvstore.InvalidArgument, match="the question has no words"):
            textdb.context(q)
    v = textdb.embed(["capital of Germany"])[0]
    assert textdb.context("\u3000", vector=v, budget=60).items


def test_messages_name_no_c_function(textdb, tmp_path):
    """What a Python user can get wrong is said in the call's terms, never
    by the C function behind it ("cvs_txn_context: ...", "cvs_tune: ...")
    or a C constant (CVS_QUERY_MAX_BYTES) the user never wrote."""
    def message(call, exc=cvstore.Error):
        with pytest.raises(exc) as e:
            call()
        msg = str(e.value)
        assert not re.search(r"\bcvs_|CVS_[A-Z]", msg), msg
        return msg
    assert message(lambda: textdb.context("?!")).startswith("context: the question has no words")
    assert message(lambda: textdb.context("word " * 20000)).startswith(
        "context: the query has 100000 bytes, over the limit of 32768 bytes")
    assert message(lambda: textdb.search("word " * 20000, mode="bm25")).startswith(
        "text search: the query has 100000 bytes")
    assert message(lambda: textdb.recall("word " * 20000)).startswith(
        "recall: the query has 100000 bytes")
    assert message(lambda: textdb.context("capital", hops=-1)) == \
        "context: hops -1 is out of range (0 or more)"
    assert message(lambda: textdb.context("capital", lambda_=2.0)) == \
        "context: lambda 2 is out of range (0 to 1)"
    assert message(lambda: textdb.delete([""])) == "delete: id 0 is empty"
    assert message(lambda: textdb.delete(["a", "x" * 600])) == \
        "delete: id 1 has 600 bytes, more than the 512 an id may have"
    assert "at most 4096" in message(lambda: textdb.link(k=5000))
    textdb.build(codec="pq4", index="ivf4")
    assert message(lambda: textdb.tune(target_recall=2)) == \
        "tune: the target recall must be in (0, 1], not 2"
    assert message(lambda: textdb.tune(k=5000)) == "tune: k is 5000; it must be from 1 to 1000"
    assert "no built-in embedder 'foo'" in message(
        lambda: cvstore.open(str(tmp_path / "e.cvs"), create=True, dim=4, embedder="foo"))
    textdb.close()
    ro = cvstore.open(textdb.path, readonly=True)
    try:
        # The application's own embedder, not attached: how to attach it,
        # or what to give instead.
        msg = message(lambda: ro.context("capital"))
        assert "embedder_name=\"test:hash\"" in msg and "--query-vector" in msg, msg
        for kw in ({}, {"mentions": False}):
            assert message(lambda: ro.link(**kw), cvstore.ReadOnly).endswith(
                "store opened read-only")
    finally:
        ro.close()


def test_a_question_of_stop_words_says_why_it_finds_nothing(textdb):
    """A question of stop words only finds nothing by BM25 (which leaves
    them out, as the glove embedder does): the empty answer carries a note
    saying why and what to do, as `cvstore context` prints it; an answer
    with items, or one to a question of content words, has none."""
    ctx = textdb.context("who was the", strategy="bm25")
    assert ctx.items == [] and "the question has only stop words" in ctx.note
    assert "add a word" in ctx.note
    assert textdb.context("capital of Germany", strategy="bm25").note is None
    assert textdb.context("zzyzx", strategy="bm25").note is None
    textdb.remember("The river floods in spring.")
    r = textdb.recall("is it the", retrieval="lexical")
    assert r["memories"] == [] and "the question has only stop words" in r["note"]
    assert "note" not in textdb.recall("river", retrieval="lexical")
    # One wording, the library's (cvs_text_empty_note), for every entry point.
    raw = ctypes.c_char_p()
    assert _lib.lib.cvs_text_empty_note(b"who was the", 11, ctypes.byref(raw)) == 0
    assert ctx.note == r["note"] == raw.value.decode()
    # Candidates, none within the budget: the note names the budget.
    tight = textdb.context("capital of Germany", budget=1, unit="passage")
    assert tight.items == [] and tight.pool > 0 and "budget" in tight.note


def test_context_by_vector_as_the_cli(textdb, path, tmp_path):
    """context(vector=...) takes a query vector as `cvstore context
    --query-vector` does: seeds by the vector alone, or the vector in place
    of the question's embedding; a vector store without an embedder answers
    too."""
    textdb.link(k=2)
    v = hash_embed(["capital of Italy"])[0]
    byvec = textdb.context(vector=v, budget=512, strategy="topk", hops=0)
    assert byvec.items[0].id == "rome" and byvec.items[0].via == [("rome", "vector")]
    both = textdb.context("capital of Italy", vector=v, budget=512, strategy="topk")
    assert both.items[0].id == "rome"
    with pytest.raises(cvstore.InvalidArgument, match="question, a vector"):
        textdb.context()
    with pytest.raises(cvstore.DimensionMismatch):
        textdb.context(vector=[1.0, 2.0])
    with pytest.raises(cvstore.InvalidArgument, match="one vector"):
        textdb.context(vector=np.ones((2, DIM)))
    with cvstore.open(tmp_path / "plain.cvs", create=True, dim=2, metric="l2") as db:
        db.put(["a", "b"], [[0, 0], [5, 5]], texts=["near", "far"])
        assert [it.id for it in db.context(vector=[0.1, 0], budget=1, hops=0)] == ["a"]


def test_bad_counts_and_names_raise(textdb):
    """Negative budgets and counts are refused (a size_t would wrap them
    into 'no limit', or an allocation that fails as OutOfMemory), an unknown
    fusion is InvalidArgument, not KeyError; include takes one string too."""
    for bad in (-1, 0, 2.5, "7", True):
        with pytest.raises(cvstore.InvalidArgument, match="budget"):
            textdb.context("capital", budget=bad)
    assert textdb.context("capital", budget=np.int64(40)).budget == 40
    with pytest.raises(cvstore.InvalidArgument, match="fusion"):
        textdb.context("capital", fusion="best")
    for bad in (-1, 0):
        with pytest.raises(cvstore.InvalidArgument, match="k"):
            textdb.recall("capital", k=bad)
        with pytest.raises(cvstore.InvalidArgument, match="limit"):
            textdb.list_memories(limit=bad)
    with pytest.raises(cvstore.InvalidArgument, match="token_budget"):
        textdb.recall("capital", token_budget=-1)
    with pytest.raises(cvstore.InvalidArgument, match="link: k -1"):
        textdb.link(k=-1)  # was "k = 18446744073709551615 is over 4096"
    with pytest.raises(cvstore.InvalidArgument, match="tune: sample -5"):
        textdb.tune(sample=-5)
    for opt in ("nprobe", "rerank", "refine", "threads"):
        with pytest.raises(cvstore.InvalidArgument, match=opt):
            textdb.search("capital", k=1, mode="codes", **{opt: -1})
    r = textdb.search("capital of Italy", k=1, mode="bm25", include="title,text")
    assert r.titles == [["Rome"]] and r.texts == [[PASSAGES["rome"][1]]]


def test_embedder_errors(textdb):
    def broken(texts):
        raise RuntimeError("model offline")

    textdb.set_embedder(broken, name="test:hash")
    with pytest.raises(cvstore.IoError, match="model offline") as e:
        textdb.search("anything")
    assert isinstance(e.value.__cause__, RuntimeError)
    textdb.set_embedder(lambda t: np.zeros((len(t), 3)), name="test:hash")
    with pytest.raises(cvstore.IoError, match="shape"):
        textdb.context("anything")
    textdb.set_embedder(lambda t: np.full((len(t), DIM), np.inf), name="test:hash")
    with pytest.raises(cvstore.IoError, match="non-finite"):  # the model's fault, not the text's
        textdb.embed(["x"])
    with pytest.raises(cvstore.IoError, match="non-finite"):  # not kept with a stand-in vector
        textdb.remember("a memory the model cannot embed right")
    assert textdb.list_memories()["memories"] == []
    with pytest.raises(cvstore.InvalidArgument, match="test:hash"):
        textdb.set_embedder(hash_embed, name="another-model")
    def interrupted(texts):
        raise KeyboardInterrupt

    textdb.set_embedder(interrupted, name="test:hash")
    with pytest.raises(KeyboardInterrupt):
        textdb.search("anything")
    with pytest.raises(TypeError):
        textdb.set_embedder(42)
    # After all that the store still works with the right model.
    textdb.set_embedder(hash_embed, name="test:hash")
    assert textdb.search("capital of Germany", k=1).ids == [["berlin"]]


def test_embedder_reference_kept(path):
    import gc

    with cvstore.open(path, create=True, dim=DIM) as db:
        db.set_embedder(lambda t: hash_embed(t), name="test:hash")
        gc.collect()  # the thunk must survive: only the Store refers to it
        db.put(["a", "b"], texts=["red apple", "green pear"])
        assert db.search("apple", k=1).ids == [["a"]]


def test_no_embedder(path):
    with cvstore.open(path, create=True, dim=4) as db:
        with pytest.raises(cvstore.InvalidArgument):
            db.search("text")


def test_glove_missing_names_directory(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CVSTORE_GLOVE_DIR", str(tmp_path / "noglove"))
    with pytest.raises(cvstore.NotFound, match="noglove"):
        cvstore.open(path, create=True, embedder="glove")


def test_use_missing_names_directory_and_fetcher(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CVSTORE_USE_DIR", str(tmp_path / "nouse"))
    with pytest.raises(cvstore.NotFound, match="nouse.*fetch-use.sh"):
        cvstore.open(path, create=True, embedder="use")


def test_a_create_whose_embedder_fails_leaves_no_store(path, tmp_path, monkeypatch):
    """open(create=True, embedder=...) whose embedder cannot be attached
    (no model yet) left a store without one, so the same call, once the
    model was fetched, raised AlreadyExists; nothing is left now, as
    `cvstore init --embedder` leaves nothing, and a directory that was
    there before (empty) stays."""
    monkeypatch.setenv("CVSTORE_GLOVE_DIR", str(tmp_path / "noglove"))
    with pytest.raises(cvstore.NotFound):
        cvstore.open(path, create=True, embedder="glove")
    assert not os.path.exists(path)
    os.mkdir(path)
    with pytest.raises(cvstore.NotFound):
        cvstore.open(path, create=True, embedder="glove")
    assert os.path.isdir(path) and os.listdir(path) == []
    with cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash") as db:
        assert len(db) == 0


def test_use_embeds_512_when_the_model_is_cached(path):
    import os
    d = os.environ.get("CVSTORE_USE_DIR") or os.path.join(
        os.environ.get("CVSTORE_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cvstore"), "use")
    if not os.path.exists(os.path.join(d, "use-lite.bin")):
        pytest.skip(f"no USE model in {d} (scripts/fetch-use.sh fetches it)")
    with cvstore.open(path, create=True, embedder="use") as db:
        assert db.dim == 512
        db.put(["gp", "tom"], texts=["The family doctor's surgery number is 020 7946 0018.",
                                     "The tomatoes on the balcony need water every second day."])
        assert db.search("How do I call the GP?", k=1).ids == [["gp"]]


# ==== memory ====

@pytest.fixture
def memdb(path):
    db = cvstore.open(path, create=True, dim=DIM, embedder=hash_embed,
                      embedder_name="test:hash")
    yield db
    db.close()


def test_remember_caps_a_memory_size(memdb):
    with pytest.raises(cvstore.InvalidInput, match="over the limit of 40 bytes"):
        memdb.remember("The user prefers green tea in the morning, every day.", max_bytes=40)
    assert memdb.list_memories()["memories"] == []
    assert memdb.remember("Short fact.", max_bytes=40)["status"] == "added"


def test_blank_or_control_namespaces_are_refused_as_in_mcp(memdb):
    """The library refuses them on write, so Python says what MCP says."""
    for ns in (" ", "\u3000", "a\nb", "tab\there"):
        with pytest.raises(cvstore.InvalidArgument, match="namespace"):
            memdb.remember("alice lives in paris", namespace=ns)
        assert memdb.recall("paris", namespace=ns)["memories"] == []
    assert memdb.remember("alice lives in paris", namespace="a b")["status"] == "added"


def test_remember_recall_forget_list(memdb):
    a = memdb.remember("The user prefers green tea in the morning.", metadata={"kind": "pref"})
    assert a["status"] == "added" and a["id"].startswith("m") and a["namespace"] == "default"
    d = memdb.remember("The user prefers green tea in the morning.")
    assert d == {"id": a["id"], "status": "duplicate", "namespace": "default"}
    m = memdb.remember("the user prefers green tea in the morning!")
    assert m["status"] == "merged" and m["id"] == a["id"] and m["similarity"] >= 0.95
    b = memdb.remember("Project Falcon ships on Friday.", namespace="work",
                       metadata={"subject": "falcon"})
    s = memdb.remember("Project Falcon slipped to Monday.", namespace="work",
                       metadata={"subject": "falcon"})
    assert s["supersedes"] == b["id"]
    r = memdb.recall("when does Falcon ship", namespace="work", k=5)
    assert r["namespace"] == "work"
    got = {x["id"]: x for x in r["memories"]}
    assert got[b["id"]]["superseded_by"] == s["id"] and got[s["id"]]["supersedes"] == b["id"]
    assert r["memories"][0]["id"] == s["id"]
    assert all(x["via"][0]["id"] and x["hop"] == 0 for x in r["memories"])
    other = {x["id"] for x in memdb.recall("Falcon", k=5)["memories"]}
    assert not other & {b["id"], s["id"]}  # another namespace
    r = memdb.recall("green tea", strategy="lexical")
    assert [x["id"] for x in r["memories"]] == [a["id"]]
    assert r["memories"][0]["metadata"] == {"kind": "pref"}
    r = memdb.recall("Falcon", namespace="work", filter={"subject": "falcon"}, touch=False,
                     token_budget=9)
    assert r["tokens"] <= 9
    with pytest.raises(cvstore.InvalidInput):
        memdb.remember("x", metadata={"_ns": "other"})
    with pytest.raises(cvstore.InvalidInput):
        memdb.remember("")
    # No words (spaces of any kind, punctuation): refused, nothing stored,
    # and a recall of no words is refused too.
    before = len(memdb)
    for t in ("   ", "\u00a0", "\u3000", " \u3000\u00a0\t", "..."):
        with pytest.raises(cvstore.InvalidInput, match="text has no words"):
            memdb.remember(t)
        with pytest.raises(cvstore.InvalidArgument, match="query has no words"):
            memdb.recall(t)
    assert len(memdb) == before
    assert all(x["text"].strip() for x in memdb.recall("river", k=50)["memories"])
    with pytest.raises(cvstore.InvalidArgument):
        memdb.recall("x", strategy="random")
    with pytest.raises(TypeError, match=r"links\[0\] must be an id \(str\)"):
        memdb.remember("a fact linked by a number", links=[5])
    # one id as a str is that id, not its characters (each a missing memory)
    target = memdb.remember("the linked fact about a lighthouse")["id"]
    linked = memdb.remember("a fact linking the lighthouse one", links=target)["id"]
    assert [lk["id"] for lk in memdb.get(linked)["links"]] == [target]
    for hl in (-1.0, float("nan"), float("-inf")):  # taken for "off" in silence before
        with pytest.raises(cvstore.InvalidArgument, match="half_life_s"):
            memdb.recall("river", half_life_seconds=hl)
    for i in range(5):
        memdb.remember(f"note number {i} about {i * 'x'} things", namespace="notes",
                       near_dup=2.0)
    page = memdb.list_memories("notes", limit=3)
    assert len(page["memories"]) == 3 and page["next_cursor"]
    rest = memdb.list_memories("notes", limit=3, cursor=page["next_cursor"])
    assert len(rest["memories"]) == 2 and rest["next_cursor"] is None
    ids = [x["id"] for x in page["memories"] + rest["memories"]]
    assert len(set(ids)) == 5
    with pytest.raises(cvstore.InvalidArgument):
        memdb.list_memories("notes", cursor="not-a-cursor")
    assert memdb.forget(ids[0], namespace="notes") == 1
    assert memdb.forget(ids[0], namespace="notes") == 0
    assert memdb.forget(filter={}, namespace="notes") == 4
    assert memdb.list_memories("notes")["memories"] == []
    with pytest.raises(cvstore.InvalidArgument):
        memdb.forget()
    assert len(memdb.list_memories("work")["memories"]) == 2


def test_namespace_empty_is_default_and_wrong_types_are_named(memdb):
    """namespace="" is the default namespace, as the library takes an empty
    one (and every result says "default"); a namespace that is not a str
    is a TypeError naming the argument, from every memory call (recall,
    forget and list_memories raised AttributeError: 'int' object has no
    attribute 'encode'), and nothing is stored."""
    a = memdb.remember("The spare key is under the blue flowerpot.", namespace="")
    assert a["namespace"] == "default"
    assert memdb.recall("spare key", namespace="")["namespace"] == "default"
    assert [x["id"] for x in memdb.recall("spare key")["memories"]] == [a["id"]]
    assert memdb.list_memories("")["namespace"] == "default"
    before = len(memdb)
    for bad in (5, b"work", ["work"]):
        with pytest.raises(TypeError, match="namespace must be str"):
            memdb.remember("Another fact about keys.", namespace=bad)
        with pytest.raises(TypeError, match="namespace must be str"):
            memdb.recall("keys", namespace=bad)
        with pytest.raises(TypeError, match="namespace must be str"):
            memdb.forget(filter={}, namespace=bad)
        with pytest.raises(TypeError, match="namespace must be str"):
            memdb.list_memories(bad)
    assert len(memdb) == before
    assert memdb.forget(a["id"], namespace="") == 1


def test_conversation_links(memdb):
    a = memdb.remember("We met at the station.", conversation="c1")
    b = memdb.remember("Then we took the train north.", conversation="c1")
    r = memdb.recall("train north", k=5, hops=1)
    by = {x["id"]: x for x in r["memories"]}
    assert by[b["id"]]["conversation"] == "c1"
    assert a["id"] in by and by[a["id"]]["hop"] == 1
    assert [v["id"] for v in by[a["id"]]["via"]] == [b["id"], a["id"]]


def test_remember_many_is_remember_in_order(memdb, tmp_path):
    """remember_many gives what remember on each text in order gives: the
    same statuses, the same memories merged into, superseded and found by
    recall (ids map one to one: they are random either way), in a store
    that holds memories before the batch; a bad text anywhere stores
    nothing and names its index; an empty list stores nothing."""
    before = ["Project Falcon ships on Friday.", "The user prefers green tea in the morning."]
    texts = ["Project Falcon slipped to Monday.",              # subject: supersedes
             "The office plant needs water on Tuesdays.",
             "The user drinks black coffee after lunch.",
             "The user prefers green tea in the morning.",     # duplicate of a stored one
             "Carol runs the Thursday design review.",
             "the user prefers GREEN tea in the morning!",     # merged into a stored one
             "carol runs the thursday design review",          # merged into text 4
             "Carol runs the Thursday design review."]         # text 4's first wording
    other = cvstore.open(str(tmp_path / "t.cvs"), create=True, dim=DIM, embedder=hash_embed,
                         embedder_name="test:hash")
    try:
        for db in (memdb, other):
            for t in before:
                db.remember(t, namespace="w", metadata={"subject": "falcon"} if "Falcon" in t
                            else None)
        one = [memdb.remember(t, namespace="w", metadata={"subject": "falcon"})
               for t in texts]
        many = other.remember_many(texts, namespace="w", metadata={"subject": "falcon"})
        assert len(many) == len(texts)
        ids = {}
        for a, b in zip(one, many):
            assert a["status"] == b["status"] and a["namespace"] == b["namespace"] == "w"
            assert ids.setdefault(a["id"], b["id"]) == b["id"]
            assert a.get("similarity") == b.get("similarity")
            assert ("supersedes" in a) == ("supersedes" in b)
        old = {m["text"]: m["id"] for m in memdb.list_memories("w")["memories"]}
        new = {m["text"]: m["id"] for m in other.list_memories("w")["memories"]}
        assert old.keys() == new.keys()
        ids.update({old[t]: new[t] for t in old})
        for a, b in zip(one, many):
            if "supersedes" in a:
                assert ids[a["supersedes"]] == b["supersedes"]
        statuses = [m["status"] for m in many]
        assert statuses[3] == "duplicate" and statuses[5] == "merged"
        assert statuses[6] == "merged" and many[6]["id"] == many[4]["id"]
        for q in ("when does Falcon ship", "green tea", "design review", "coffee"):
            ra = memdb.recall(q, namespace="w", touch=False)["memories"]
            rb = other.recall(q, namespace="w", touch=False)["memories"]
            assert [ids[m["id"]] for m in ra] == [m["id"] for m in rb]
            assert [m["score"] for m in ra] == [m["score"] for m in rb]
        n = len(other)
        with pytest.raises(cvstore.InvalidInput, match="text 2: text has no words"):
            other.remember_many(["A new fact.", "Another new fact.", " ... "], namespace="w")
        with pytest.raises(cvstore.InvalidInput, match="text 1: .*over the limit of 30"):
            other.remember_many(["A short fact.", "A fact far longer than thirty bytes."],
                                max_bytes=30)
        with pytest.raises(TypeError, match="texts must be a list of str"):
            other.remember_many("one text")
        with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
            other.remember_many(["fine", 5])
        assert other.remember_many([]) == []
        with pytest.raises(cvstore.InvalidArgument, match=r"1001 texts, over the limit of "
                           r"CVS_MEM_REMEMBER_MAX \(1000\)"):
            other.remember_many(["fact%d" % i for i in range(1001)], namespace="w")
        assert len(other) == n
    finally:
        other.close()


# ==== errors ====

def test_help_documents_every_call_and_error():
    """help(cvstore) is a user's manual: every public call of a Store says
    what it raises, and the package's docstring lists every exception and
    warning class it exports."""
    import inspect
    missing = [n for n, m in inspect.getmembers(cvstore.Store, callable)
               if not n.startswith("_") and "raise" not in (inspect.getdoc(m) or "").lower()]
    assert missing == [], f"no word of what they raise: {missing}"
    assert "raise" in inspect.getdoc(cvstore.open).lower()
    for n in ("keys", "scores", "ids"):
        assert inspect.getdoc(getattr(cvstore.Results, n)), n
    doc = cvstore.__doc__
    for n in cvstore.__all__:
        o = getattr(cvstore, n)
        if isinstance(o, type) and issubclass(o, (cvstore.Error, Warning)):
            assert re.search(rf"\b{n}\b", doc), f"{n} is not in the package's docstring"


def test_each_error_a_call_raises_is_in_its_help(tmp_path, monkeypatch):
    """What a Store call raises is in its help: its own docstring, or the
    class's paragraph on what every method (and every method that embeds
    text) raises.  Each error here is met by a user: vectors of another
    dimension, a mode not built yet, a built-in model whose files were
    deleted or moved since the store was made."""
    import inspect
    common = inspect.getdoc(cvstore.Store).split("Closing is safe")[0]

    def raises(meth, call):
        with pytest.raises(cvstore.Error) as e:
            call()
        name = type(e.value).__name__
        doc = inspect.getdoc(getattr(cvstore.Store, meth)) + common
        assert re.search(rf"\b{name}\b", doc), f"{meth} raises {name}, not in its help: {e.value}"

    db = cvstore.open(str(tmp_path / "v.cvs"), create=True, dim=4, metric="l2")
    x = np.ones((3, 4), np.float32) + np.arange(3, dtype=np.float32)[:, None]
    raises("put", lambda: db.put(["a"], np.ones((1, 5), np.float32)))
    raises("put", lambda: db.put(["a", "a"], x[:2]))
    db.put(["a", "b", "c"], x)
    raises("search", lambda: db.search(np.ones(5, np.float32)))
    raises("search", lambda: db.search(x, mode="ann"))
    raises("context", lambda: db.context(vector=np.ones(5, np.float32)))
    raises("set_embedder", lambda: db.set_embedder("glove"))  # 100-dimensional
    db.close()
    # A text store whose built-in model is not where the cache points now
    # (moved, deleted, another machine): every call that embeds says so.
    words = tmp_path / "glove"
    fake_glove(words)
    monkeypatch.setenv("CVSTORE_CACHE", str(tmp_path))
    g = cvstore.open(str(tmp_path / "g.cvs"), create=True, embedder="glove")
    g.put(["a"], texts=["cat dog"])
    g.close()
    monkeypatch.setenv("CVSTORE_CACHE", str(tmp_path / "moved"))
    g = cvstore.open(str(tmp_path / "g.cvs"))
    try:
        for meth, call in (("put", lambda: g.put(["b"], texts=["dog"])),
                           ("search", lambda: g.search("cat")),
                           ("context", lambda: g.context("cat")),
                           ("embed", lambda: g.embed(["cat"])),
                           ("remember", lambda: g.remember("the cat")),
                           ("recall", lambda: g.recall("cat"))):
            raises(meth, call)
    finally:
        g.close()


def test_every_code_has_its_class():
    codes = [v for k, v in vars(_lib).items()
             if k.isupper() and isinstance(v, int) and -30999 < v <= _lib.NOTFOUND]
    assert len(codes) == 18
    seen = set()
    for c in codes:
        e = cvstore._errors.error(c)
        assert type(e) is not cvstore.Error and e.code == c
        assert e.name == _lib.lib.cvs_strerror(c).decode()
        seen.add(type(e))
    assert len(seen) == 18
    assert issubclass(cvstore.InvalidInput, ValueError)
    assert issubclass(cvstore.NotFound, cvstore.Error)
    assert cvstore._errors.error(_lib.ECONFLICT).__class__ is cvstore.Conflict


def test_uses_cdll_not_pydll():
    # CDLL releases the GIL around every call; PyDLL would hold it.
    assert type(_lib.lib) is ctypes.CDLL
    assert _lib.lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI == 0


def test_version():
    assert cvstore.__version__ == "0.1.0"
    assert json.loads(json.dumps(cvstore.__all__))


def test_namespace_holds_only_the_api():
    # help(cvstore) and dir(cvstore) list what the package offers, and a
    # name imported for its own use (importlib's PackageNotFoundError) is
    # not part of it.
    public = {n for n in dir(cvstore) if not n.startswith("_")}
    assert public == set(cvstore.__all__) - {"__version__"}


def test_put_keeps_the_times_given(path, tmp_path):
    """put(created_us=, updated_us=) stores the times records() returns, so a
    copy made record by record keeps their history (a memory's recency);
    None is the put's time; bad times raise before anything is written."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(["a", "b"], [[1, 0], [0, 1]], texts=["one", "two"])
        db.put("a", [1, 1], texts="one again")
        recs = list(db.records(vector=True))
    assert recs[0]["created_us"] < recs[0]["updated_us"]
    copy = str(tmp_path / "copy.cvs")
    with cvstore.open(copy, create=True, dim=2, metric="l2") as db:
        db.put([r["id"] for r in recs], np.stack([r["vector"] for r in recs]),
               texts=[r["text"] for r in recs], created_us=[r["created_us"] for r in recs],
               updated_us=[r["updated_us"] for r in recs])
        for r in recs:
            got = db.get(r["id"])
            assert (got["created_us"], got["updated_us"]) == (r["created_us"], r["updated_us"])
        db.put("c", [2, 2], created_us=1_000_000, updated_us=None)
        c = db.get("c")
        assert c["created_us"] == 1_000_000 and c["updated_us"] > recs[0]["updated_us"]
        with pytest.raises(cvstore.InvalidArgument, match="created_us"):
            db.put("d", [3, 3], created_us=-1)
        with pytest.raises(cvstore.InvalidInput, match="before created_us"):
            db.put("d", [3, 3], created_us=20, updated_us=10)
        with pytest.raises(cvstore.InvalidArgument, match="2 created_us for 1 ids"):
            db.put(["d"], [[3, 3]], created_us=[1, 2])
        assert db.get("d") is None


def test_an_integer_beyond_64_bits_in_metadata_says_so(path):
    """Metadata holding an integer past 2**63 is refused saying it is out of
    range for an integer and to write it as a string, not that it 'would be
    infinite' or is 'not valid JSON'; nothing is stored."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        with pytest.raises(cvstore.InvalidInput,
                           match="integer out of range.*write it as a string"):
            db.put("a", [1, 0], metas={"n": 2**64})
        assert len(db) == 0
        db.put("a", [1, 0], metas={"n": str(2**64)})
        assert db.get("a")["meta"] == {"n": str(2**64)}


def test_an_empty_export_imports_as_nothing(path, tmp_path):
    """The export of an empty store is an empty file; import_file takes it
    as no records (records 0, the store unchanged) instead of failing, so a
    backup of an empty store restores."""
    empty = tmp_path / "empty.jsonl"
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        pass
    subprocess.run([CLI, "export", path, "-o", str(empty)], check=True, capture_output=True)
    assert empty.read_bytes() == b""
    with cvstore.open(str(tmp_path / "b.cvs"), create=True, dim=2, metric="l2") as db:
        db.put("a", [1, 0])
        assert db.import_file(empty)["records"] == 0
        assert db.ids() == ["a"]


# ==== waits and progress ====

# A child process that holds the store's writer lock: it builds a codec with
# a progress callback that, at the encoding pass (inside the write
# transaction), says "held" and waits for its stdin to close (30 s at most).
_HOLDER = r"""
import ctypes, select, sys
sys.path.insert(0, sys.argv[2])
from cvstore import _lib as L
h = ctypes.c_void_p()
assert L.lib.cvs_db_open_opts(sys.argv[1].encode(), ctypes.byref(L.cvs_open_opts()),
                              ctypes.byref(h)) == 0
said = []
def hold(_ctx, phase, done, total, bd, bt):
    if phase == b"encode" and not said:
        said.append(1)
        print("held", flush=True)
        select.select([sys.stdin], [], [], 30)
        sys.stdin.read()
o = L.cvs_build_opts(progress=L.progress_fn(hold))
sys.exit(L.lib.cvs_build(h, b"sq8", ctypes.byref(o)))
"""


def _hold_writer(path):
    from conftest import REPO
    p = subprocess.Popen([__import__("sys").executable, "-c", _HOLDER, path,
                          str(REPO / "python")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_write_waiting_for_another_process_is_told(path):
    """A put behind another process's writer calls the wait callback once
    the wait passes a second (with that process's pid) and when it ends;
    the default, wait="warn", issues a cvstore.WaitWarning instead."""
    import threading
    import warnings
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(ids_of(50), np.arange(100, dtype=np.float32).reshape(50, 2))
    calls = []
    holder = _hold_writer(path)

    def on_wait(pid, waited_s, done):
        calls.append((pid, waited_s, done))
        if not done:
            holder.stdin.close()  # let the other writer finish

    with cvstore.open(path, wait=on_wait) as db:
        db.put("x", [1, 1])
        assert db.get("x") is not None
    assert holder.wait(30) == 0
    assert calls[0][0] == holder.pid and calls[0][1] >= 1.0 and calls[0][2] is False
    assert calls[-1][2] is True and calls[-1][1] >= calls[0][1]

    holder = _hold_writer(path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")

        def release():  # once warned, or after 20 s
            for _ in range(200):
                if seen:
                    break
                threading.Event().wait(0.1)
            holder.stdin.close()

        t = threading.Thread(target=release)
        t.start()
        with cvstore.open(path) as db:
            db.put("y", [2, 2])
        t.join()
    assert holder.wait(30) == 0
    waits = [w for w in seen if issubclass(w.category, cvstore.WaitWarning)]
    assert waits and f"pid {holder.pid}" in str(waits[0].message), [str(w.message) for w in seen]
    with pytest.raises(cvstore.InvalidArgument, match="wait"):
        cvstore.open(path, wait="loud")


def test_check_tells_progress(path):
    """check(progress=...) is called for each database the check walks
    (phase "check NAME", done <= total), as `cvstore check` draws its bar;
    an exception it raises comes out of check() once the check is done."""
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(ids_of(20), np.arange(40, dtype=np.float32).reshape(20, 2),
               texts=[f"text {i}" for i in range(20)])
        seen = []
        assert db.check(progress=lambda phase, done, total: seen.append((phase, done, total))) \
            == []
        phases = {p for p, _, _ in seen}
        assert {"check ids", "check vecs"} <= phases, phases
        assert all(p.startswith("check ") and d <= t for p, d, t in seen if t), seen
        assert ("check ids", 20, 20) in seen

        def boom(phase, done, total):
            raise KeyError(phase)

        with pytest.raises(KeyError, match="check"):
            db.check(progress=boom)
        assert db.check() == []


def test_search_k_is_checked_as_an_integer_and_a_huge_one_says_why(path, monkeypatch):
    """k=2.5 is refused like every other count (it was truncated to 2), and
    a k whose results would take over 1 GiB (k=10**9 on 5 records: 12 GB
    of -1 padding) raises InvalidArgument naming k and the store's size
    before anything is allocated, for vectors and text alike; below the
    bound the (q, k) shape stays, padded."""
    import cvstore._store as S
    with cvstore.open(path, create=True, dim=2, metric="l2") as db:
        db.put(ids_of(5), np.arange(10, dtype=np.float32).reshape(5, 2))
        with pytest.raises(cvstore.InvalidArgument, match="k 2.5"):
            db.search([0, 0], k=2.5)
        allocated = []
        real = S._out_buffer
        monkeypatch.setattr(S, "_out_buffer", lambda n: allocated.append(n) or real(n))
        for k in (10**9, 10**15):
            with pytest.raises(cvstore.InvalidArgument,
                               match=rf"k {k} for 1 query .*the store has 5 records"):
                db.search([0, 0], k=k)
        with pytest.raises(cvstore.InvalidArgument, match=r"k 50000000 for 2 queries"):
            db.search([[0, 0], [1, 1]], k=5 * 10**7)
        with pytest.raises(cvstore.InvalidArgument, match="the store has 5 records"):
            db.search("x", k=10**9, mode="bm25")
        assert allocated == []
        r = db.search([0, 0], k=50)
        assert r.ids == [ids_of(5)] and allocated == [50]


def test_recall_with_a_k_beyond_the_store_returns_them_all(path):
    """recall(k=10**9) -- "all of them" -- returns every match instead of
    failing with a bare OutOfMemory (the library reserved room for k)."""
    with cvstore.open(path, create=True, dim=DIM, embedder=hash_embed) as db:
        for t in ("the river floods", "the river town", "a market by the river"):
            db.remember(t)
        got = db.recall("river", k=10**9)
        assert len(got["memories"]) == 3
        with pytest.raises(cvstore.InvalidArgument, match="k 0"):
            db.recall("river", k=0)


def test_a_store_cut_short_raises_instead_of_killing_python(path, rng):
    """A data.mdb cut short (a copy that stopped) killed the interpreter
    with SIGBUS on the first read; open now raises Corrupt naming it, and
    the process goes on."""
    x = rng.standard_normal((3000, 8)).astype(np.float32)
    with cvstore.open(path, create=True, dim=8, metric="l2") as db:
        db.put([f"v{i}" for i in range(len(x))], x)
    data = os.path.join(path, "data.mdb")
    os.truncate(data, os.path.getsize(data) // 2)
    code = ("import cvstore, sys\n"
            "try:\n"
            "    cvstore.open(sys.argv[1], readonly=True)\n"
            "except cvstore.Corrupt as e:\n"
            "    print('Corrupt:', e)\n")
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=60)
    assert p.returncode == 0, p.stderr
    assert "data.mdb is cut short" in p.stdout and "restore" in p.stdout


def test_a_store_emptied_in_one_delete_opens_again(path, rng):
    """Deleting every record of a store in one call leaves data.mdb shorter
    than the last page LMDB counts (the pages past its end are free, and
    LMDB never wrote them); the store is healthy, and opens again."""
    x = rng.standard_normal((5000, 8)).astype(np.float32)
    with cvstore.open(path, create=True, dim=8, metric="l2") as db:
        for b in range(0, 5000, 1000):
            db.put(ids_of(1000, f"b{b}-"), x[b:b + 1000])
        assert db.delete([f"b{b}-{i}" for b in range(0, 5000, 1000) for i in range(1000)]) == 5000
    # The file really is short, or the rest tests nothing: the newer LMDB
    # meta page (txnid at +144, last page at +136, page size at +40; meta 1
    # starts at meta 0's page size) counts pages past its end.
    data = os.path.join(path, "data.mdb")
    with open(data, "rb") as f:
        head = f.read(65536)
    psize = int.from_bytes(head[40:44], "little")
    metas = [(int.from_bytes(head[o + 144:o + 152], "little"),
              int.from_bytes(head[o + 136:o + 144], "little")) for o in (0, psize)]
    last_pg = metas[1][1] if metas[1][0] > metas[0][0] else metas[0][1]  # as LMDB picks
    size = os.path.getsize(data)
    if size >= (last_pg + 1) * psize:
        pytest.skip(f"LMDB wrote every page ({size} bytes, {last_pg + 1} pages of {psize}): "
                    "no short file to open")
    with cvstore.open(path) as db:
        assert len(db) == 0
        db.put(ids_of(10), x[:10])
    with cvstore.open(path, readonly=True) as db:
        assert len(db) == 10
        np.testing.assert_array_equal(db.get("3")["vector"], x[3])


def test_records_after_close_raises_at_the_next_item(path):
    """records() went on yielding the rest of its batch (up to 999 records)
    after the store was closed; the next item raises the closed-store error."""
    db = cvstore.open(path, create=True, dim=2, metric="l2")
    db.put([f"r{i}" for i in range(10)], np.zeros((10, 2), dtype=np.float32))
    it = db.records(batch=5)
    assert next(it)["id"] == "r0"
    db.close()
    with pytest.raises(cvstore.InvalidArgument, match="the store is closed"):
        next(it)


def test_with_on_a_closed_store_raises_at_once(path):
    """`with store:` on a closed Store raised nothing until the first call
    inside; it raises at the `with`, as a closed file does."""
    db = cvstore.open(path, create=True, dim=DIM)
    db.close()
    with pytest.raises(cvstore.InvalidArgument, match="the store is closed"):
        with db:
            pass


def test_create_and_readonly_exclude_each_other(path):
    """open(create=True, readonly=True) made a store (a write) though asked
    not to write; it is refused, and nothing is made."""
    with pytest.raises(cvstore.InvalidArgument, match="create.*readonly"):
        cvstore.open(path, create=True, dim=DIM, readonly=True)
    assert not os.path.exists(path)


def test_memory_in_a_store_without_an_embedder_says_what_to_do(path):
    """remember and recall on a store without an embedder advised 'give each
    record a "vector"', which no memory call takes; they name the store a
    memory needs, and lexical recall, which needs no embedder."""
    with cvstore.open(path, create=True, dim=DIM) as db:
        for call in (lambda: db.remember("The cat is called Miso."),
                     lambda: db.recall("cat")):
            with pytest.raises(cvstore.InvalidArgument) as e:
                call()
            assert "--embedder use" in str(e.value) and "vector\"" not in str(e.value)
        assert db.recall("cat", retrieval="lexical")["memories"] == []


def test_integers_beyond_their_c_field_are_refused(textdb):
    # ctypes wraps an int into a C field silently: a budget of 2**64 + 5 was
    # a budget of 5 (an empty set with no error), hops=2**32 + 1 one hop.
    q = "Which river flows through the capital of France?"
    for kw in ({"budget": 2**64 + 5}, {"hops": 2**32 + 1}, {"hops": 2**31},
               {"seeds": 2**64}, {"fanout": -1}):
        key = next(iter(kw))
        with pytest.raises(cvstore.InvalidArgument, match=f"context: {key} .* out of range"):
            textdb.context(q, **kw)
    assert textdb.context(q, budget=60, hops=1, seeds=5).budget == 60  # in range: as before
    textdb.remember("The user prefers green tea in the morning.")
    for kw in ({"token_budget": 2**64 + 5}, {"hops": 2**32 + 1}):
        key = next(iter(kw))
        with pytest.raises(cvstore.InvalidArgument, match=f"recall: {key} .* out of range"):
            textdb.recall("green tea", **kw)
    assert textdb.recall("green tea", token_budget=100, hops=1)
    # The other calls' options, as well: nprobe 2**64 + 3 was nprobe 3.
    q = np.ones(DIM, np.float32)
    calls = {"search": lambda: textdb.search(q, k=1, mode="ann", nprobe=2**64 + 3),
             "build": lambda: textdb.build("pq4", seed=2**64 + 1),
             "tune": lambda: textdb.tune(sample=2**64 + 1),
             "link": lambda: textdb.link(k=2**64 + 1),
             "import_file": lambda: textdb.import_file(__file__, format="jsonl", batch=2**64 + 1)}
    for what, call in calls.items():
        with pytest.raises(cvstore.InvalidArgument, match=f"{what}: .* out of range"):
            call()


def test_an_int_for_a_float_option_is_rounded_not_refused(textdb):
    # An int float32 cannot hold exactly (16777217) was refused as "out of
    # range": it is the float 16777216, as 16777217.0 is.  One past float32's
    # range is still refused (it would be infinity).
    q = "Which river flows through the capital of France?"
    got = textdb.context(q, budget=60, rrf_k=16777217)
    assert str(got) == str(textdb.context(q, budget=60, rrf_k=16777217.0))
    with pytest.raises(cvstore.InvalidArgument, match="context: rrf_k .* out of range"):
        textdb.context(q, budget=60, rrf_k=2**200)


def test_search_of_none_says_what_queries_are(textdb):
    # None was taken by NumPy for a NaN of shape () and refused as a
    # dimension mismatch ("vectors of shape ()"), naming no None.
    for bad in (None, {"text": "capital"}):
        with pytest.raises(TypeError, match=f"queries are text, a vector .* not {type(bad).__name__}"):
            textdb.search(bad, k=1)


def test_lifetimes_past_the_store(path, rng):
    """Results outlive their Store's name and its close; an exception in a
    `with` block closes the store with every write committed and none left
    open (the store opens again and writes); close() twice is one close;
    an iterator dropped half-way holds no snapshot."""
    import gc
    import weakref
    db = cvstore.open(path, create=True, dim=4, metric="l2")
    db.put(ids_of(20), rng.random((20, 4), dtype=np.float32))
    res = db.search(rng.random((2, 4), dtype=np.float32), k=3)
    ref = weakref.ref(db)
    it = db.records(batch=4)
    next(it)
    del db, it
    gc.collect()
    assert len(res.ids) == 2 and all(len(r) == 3 for r in res.ids)  # the Store lives on in res
    ref().close()
    ref().close()
    assert len(res.ids[0]) == 3
    with pytest.raises(RuntimeError):
        with cvstore.open(path) as db:
            db.put("x", [1, 2, 3, 4])
            raise RuntimeError("boom")
    assert db._h is None
    with cvstore.open(path) as again:
        assert again.get("x") is not None and again.check() == []
        again.put("y", [4, 3, 2, 1])  # no write of the earlier Store is in the way
        assert len(again) == 22


def test_put_text_without_words_in_a_text_store(path):
    """A text store's record whose text has no words (spaces, punctuation)
    is refused naming the record where the store must embed it, as
    remember() and import refuse it; beside its vector any text is kept, a
    vector with a title alone too, and a store with no embedder keeps any
    text."""
    with cvstore.open(path, create=True, dim=DIM) as db:
        db.put(["p"], np.ones((1, DIM), np.float32), texts=[" -- "])
    with cvstore.open(path, embedder=hash_embed, embedder_name="test:hash") as db:
        db.put(["a"], texts=["a passage"])
        with pytest.raises(cvstore.InvalidInput, match='record "b": text has no words'):
            db.put(["ok", "b"], texts=["words here", " ...\u00a0"])
        assert db.get("ok") is None
        # beside its vector any text is kept (an export imports again)
        db.put(["v"], np.ones((1, DIM), np.float32), texts=[" ...\u00a0"])
        assert db.get("v")["text"] == " ...\u00a0"
        with pytest.raises(cvstore.InvalidInput, match="no words"):
            db.remember("  ...  ")
        db.put(["t"], np.ones((1, DIM), np.float32), titles=["A title"])
        assert db.get("t")["title"] == "A title" and len(db) == 4
