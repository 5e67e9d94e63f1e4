"""A Store across os.fork(): multiprocessing's default start method on
Linux, gunicorn's workers and PyTorch's DataLoader workers all fork a
process that holds an open Store.  LMDB handles do not survive a fork, so
the child's calls raise UsedAfterFork, the child opens the store itself,
and the parent loses nothing."""

import multiprocessing
import os
import pickle
import signal

import numpy as np
import pytest

import cvstore


def in_child(fn):
    """fn() run in a forked child; what it returned (or raised, as a
    (type name, message) pair) comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(30)  # a child that hangs dies, and the test fails
        os.close(r)
        try:
            out = ("ok", fn())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = ("raised", (type(e).__name__, str(e)))
        with os.fdopen(w, "wb") as f:
            pickle.dump(out, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = pickle.load(f)
    _, st = os.waitpid(pid, 0)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
    return out


@pytest.fixture
def store(tmp_path):
    db = cvstore.open(tmp_path / "s.cvs", create=True, dim=4, metric="l2")
    db.put(["a", "b"], np.eye(4, dtype=np.float32)[:2], texts=["alpha", "beta"])
    yield db
    db.close()


def test_the_inherited_store_raises_in_the_child(store):
    for call in (lambda: len(store), lambda: store.get("a"),
                 lambda: store.search(np.eye(4, dtype=np.float32)[:1], k=1),
                 lambda: store.put("c", [0, 0, 1, 0]), lambda: store.delete("a"),
                 lambda: store.ids()):
        kind, (name, msg) = in_child(call)
        assert kind == "raised" and name == "UsedAfterFork", (name, msg)
        assert "open it again in this process" in msg
    assert issubclass(cvstore.UsedAfterFork, cvstore.Error)
    assert issubclass(cvstore.UsedAfterFork, RuntimeError)
    # The parent lost nothing, and nothing was written.
    assert sorted(store.ids()) == ["a", "b"] and store.check() == []
    store.put("p", [0, 0, 0, 1])
    assert len(store) == 3


def test_a_lock_held_at_the_fork_does_not_hang_the_child(store):
    """A thread of the parent inside a call holds the Store's gate at the
    fork: the child, which has no such thread, raises rather than wait
    for it forever."""
    with store._gate:  # as a call of another thread would at the fork
        kind, (name, _) = in_child(lambda: store.get("a"))
    assert kind == "raised" and name == "UsedAfterFork"
    with store._gate:
        kind, _ = in_child(store.close)
    assert kind == "ok"
    assert store.get("a") is not None


def test_the_child_opens_the_store_itself(store):
    def child():
        store.close()  # at once, and harmless: the parent's handle is its own
        store.close()
        with cvstore.open(store.path) as own:  # not "open already in this process"
            own.put("child", [0, 0, 1, 0])
            return sorted(own.ids())
    kind, ids = in_child(child)
    assert kind == "ok" and ids == ["a", "b", "child"]
    assert store.get("child") is not None and store.check() == []


def test_results_and_snapshots_begun_before_the_fork(store):
    """A Results object made before the fork, read in the child: its ids
    were not looked up yet, and the lookup needs the store: it raises,
    nothing crashes, and the parent's own Results still resolve."""
    res = store.search(np.eye(4, dtype=np.float32)[:1], k=2)
    kind, (name, _) = in_child(lambda: res.ids)
    assert kind == "raised" and name == "UsedAfterFork"
    assert res.ids == [["a", "b"]]


def _worker(store, q):
    try:
        len(store)
        q.put("no error")
    except cvstore.UsedAfterFork:
        q.put("UsedAfterFork")


def test_a_multiprocessing_worker(store):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(store, q))
    p.start()
    got = q.get(timeout=60)
    p.join(60)
    assert got == "UsedAfterFork" and p.exitcode == 0
    assert len(store) == 2 and store.check() == []


def test_a_store_is_neither_copied_nor_pickled(store):
    """A copy of a Store closed its one library handle twice (the
    interpreter died of a segmentation fault at exit), and pickling one to
    send it to a spawned process failed with ctypes' words; both are a
    TypeError saying what to do.  Results pickle as their values."""
    import copy
    for f in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="cannot be"):
            f(store)
    ctx = multiprocessing.get_context("spawn")
    with pytest.raises(TypeError, match=r"open the store there with cvstore.open\("):
        ctx.Process(target=len, args=(store,)).start()
    res = store.search(np.eye(4, dtype=np.float32)[:2], k=3, include="text")
    back = pickle.loads(pickle.dumps(res))
    assert back.ids == res.ids == [["a", "b"], ["b", "a"]]
    np.testing.assert_array_equal(back.keys, res.keys)
    np.testing.assert_array_equal(back.scores, res.scores)
    assert back.texts == res.texts and back[0] == res[0] and len(back) == 2
    store.close()
    assert pickle.loads(pickle.dumps(res)).ids == res.ids  # no store needed
