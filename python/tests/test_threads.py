"""Several threads on one Store: readers in parallel (the GIL is released
in every library call), embedder callbacks from several threads, and a
writer alongside readers."""

import threading

import numpy as np
import pytest

import cvstore
from cvstore import _lib
from conftest import DIM, hash_embed

THREADS = 8


def run_threads(fn, n=THREADS):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def db(path, rng):
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    d = cvstore.open(path, create=True, dim=32, metric="l2")
    d.put([str(i) for i in range(len(x))], x, metas=[{"g": i % 4} for i in range(len(x))])
    yield d, x
    d.close()


def test_parallel_readers_agree_with_one_thread(db, rng):
    d, x = db
    q = rng.standard_normal((64, 32)).astype(np.float32)
    want = d.search(q, k=10)
    want_f = d.search(q, k=5, filter={"g": 1})
    d.build(codec="pq8", index="ivf16")
    want_ann = d.search(q, k=10, mode="ann", nprobe=4)

    def reader(i):
        for rep in range(20):
            j = (i * 7 + rep) % 64
            r = d.search(q[j], k=10, mode="exact")
            assert r.ids[0] == want.ids[j]
            np.testing.assert_allclose(r.scores[0], want.scores[j], rtol=1e-5)
            if rep % 5 == 0:
                assert d.search(q, k=5, mode="exact", filter={"g": 1}).ids == want_f.ids
                assert d.search(q, k=10, mode="ann", nprobe=4).ids == want_ann.ids
                assert d.get(str(j))["meta"] == {"g": j % 4}

    run_threads(reader)


def test_writer_alongside_readers(db, rng):
    d, x = db
    stop = threading.Event()

    def writer():
        for i in range(30):
            d.put([f"w{i}"], rng.standard_normal((1, 32)))
        stop.set()

    def reader(i):
        while not stop.is_set():
            r = d.search(x[i], k=1)
            assert r.ids == [[str(i)]]

    w = threading.Thread(target=writer)
    w.start()
    run_threads(reader, 4)
    w.join()
    assert len(d) == 2030


def test_embedder_callback_from_threads(path):
    calls = []

    def embed(texts):
        calls.append(threading.get_ident())
        return hash_embed(texts)

    with cvstore.open(path, create=True, dim=DIM, embedder=embed, embedder_name="t") as d:
        words = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"]
        d.put(words, texts=[f"a {w} fruit" for w in words])

        def reader(i):
            for _ in range(10):
                assert d.search(f"{words[i]}", k=1).ids == [[words[i]]]

        run_threads(reader)
    assert len(set(calls)) >= 2  # callbacks ran on the searching threads


def test_other_threads_run_during_a_library_call(path, rng):
    """While one thread is inside a long library call (an exact search of
    2,000 queries over 20,000 x 64 vectors), another Python thread keeps
    running: the call does not hold the GIL.  The other thread counts only
    while the last result slot still holds its sentinel, i.e. before the
    library has written the answer, so with a GIL-holding call (PyDLL) it
    would count nothing."""
    x = rng.standard_normal((20000, 64)).astype(np.float32)
    q = rng.standard_normal((2000, 64)).astype(np.float32)
    k = 10
    labels = np.full((len(q), k), -2, dtype=np.int64)
    scores = np.empty((len(q), k), dtype=np.float32)
    started = threading.Event()
    counted = []
    with cvstore.open(path, create=True, dim=64, metric="l2") as d:
        d.put([str(i) for i in range(len(x))], x)

        def searcher():
            started.set()
            rc = _lib.lib.cvs_search(d._db, q.ctypes.data, len(q), k, _lib.SEARCH_EXACT,
                                     labels.ctypes.data, scores.ctypes.data)
            assert rc == 0

        def counter():
            started.wait()
            n = 0
            while labels[-1, -1] == -2:
                n += 1
            counted.append(n)

        ts = [threading.Thread(target=counter), threading.Thread(target=searcher)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert labels[-1, -1] >= 0
    assert counted[0] > 0


def test_close_waits_for_a_call_in_flight(path):
    """close() from one thread while another is inside a call (held in its
    embedder function) waits for that call, which completes with its
    results; calls made once close() has begun raise Error instead of
    reaching a handle being closed (cvs_db_close under a running call is a
    segmentation fault)."""
    inside, go = threading.Event(), threading.Event()
    held = []

    def embed(texts):
        if held == [] and texts == ["held query"]:
            held.append(True)
            inside.set()
            go.wait(60)
        return hash_embed(texts)

    d = cvstore.open(path, create=True, dim=DIM, embedder=embed, embedder_name="t:hash")
    d.put(["a", "b"], texts=["alpha words", "beta words"])
    out = {}

    def searcher():
        out["ids"] = d.search("held query", k=2).ids

    s = threading.Thread(target=searcher)
    s.start()
    assert inside.wait(60)
    c = threading.Thread(target=d.close)
    c.start()
    for _ in range(6000):  # until close() is waiting at the gate
        if d._closing:
            break
        c.join(0.01)
    assert d._closing and c.is_alive()
    with pytest.raises(cvstore.Error, match="closed"):
        d.search("alpha", k=1)
    go.set()
    s.join()
    c.join()
    assert sorted(out["ids"][0]) == ["a", "b"]
    with pytest.raises(cvstore.Error, match="closed"):
        len(d)


def test_close_under_searching_threads(path, rng):
    """Threads searching in a loop while the main thread closes the store:
    each ends with Error("the store is closed") or finishes; the process
    survives."""
    x = rng.standard_normal((5000, 32)).astype(np.float32)
    d = cvstore.open(path, create=True, dim=32, metric="l2")
    d.put([str(i) for i in range(len(x))], x)
    started = threading.Barrier(THREADS // 2 + 1)
    ended = []

    def searcher(i):
        started.wait()
        try:
            for _ in range(200):
                assert len(d.search(x[:100], k=5).ids) == 100
        except cvstore.Error as e:
            assert "closed" in str(e)
        ended.append(i)

    ts = [threading.Thread(target=searcher, args=(i,)) for i in range(THREADS // 2)]
    for t in ts:
        t.start()
    started.wait()
    d.close()
    for t in ts:
        t.join()
    assert len(ended) == THREADS // 2


def test_close_inside_the_embedder_raises(path):
    holder = {}

    def embed(texts):
        holder["d"].close()
        return hash_embed(texts)

    with cvstore.open(path, create=True, dim=DIM, embedder=embed, embedder_name="t:hash") as d:
        holder["d"] = d
        with pytest.raises(cvstore.IoError) as e:
            d.embed(["x"])
        assert "close() inside a call" in str(e.value)
        assert len(d) == 0


def test_results_read_during_an_interrupted_close(path, rng):
    """A Results whose ids are read while close() waits for a call in
    flight waits for the close; when that close is interrupted (Ctrl-C in
    its wait: the store stays open), the reader is woken and reads the ids
    from the open store instead of waiting for ever."""
    x = rng.standard_normal((50, 8)).astype(np.float32)
    d = cvstore.open(path, create=True, dim=8, metric="l2")
    d.put([str(i) for i in range(len(x))], x)
    res = d.search(x[:2], k=3)
    assert res._ids is None  # looked up when read

    closer = {}
    fire = threading.Event()

    class Gate(threading.Condition):
        def wait_for(self, predicate, timeout=None):
            if threading.current_thread() is closer.get("t"):
                while not fire.is_set():  # the close waits (the lock let go) ...
                    self.wait(0.01)
                raise KeyboardInterrupt  # ... until it is interrupted
            return super().wait_for(predicate, timeout)

    d._gate = Gate(threading.Lock())
    with d._gate:
        d._active[-1] = 1  # a call in flight that close() must wait for
    out, errs = {}, []

    def close():
        try:
            d.close()
        except KeyboardInterrupt:
            errs.append("interrupted")

    closer["t"] = threading.Thread(target=close)
    closer["t"].start()
    for _ in range(6000):
        if d._closing:
            break
        closer["t"].join(0.01)
    assert d._closing
    reader = threading.Thread(target=lambda: out.setdefault("ids", res.ids))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # waiting for the close
    fire.set()
    closer["t"].join(60)
    reader.join(60)
    assert errs == ["interrupted"] and not reader.is_alive()
    assert len(out["ids"]) == 2 and all(len(r) == 3 for r in out["ids"])
    with d._gate:
        del d._active[-1]
    d.close()
