"""Python-side overhead of Store.search against the C library's own time.

For one query and for a batch of 1,000, times (best of several rounds):
  c      the library alone: cvs_search called through the bare ctypes
         function on preallocated buffers (what any caller pays);
  py     Store.search(queries, k): the binding's whole call, returning
         Results (keys and scores as NumPy arrays, ids not yet looked up);
  +scores the same, then reading Results.scores (the NumPy view is made
         on first use);
  +ids   the same, then reading Results.ids (one Python str per result,
         one cvs_key_id call each).
The overhead is py - c.  Two stores: a tiny one (100 x 16), where the C
work is small and the overhead shows, and SIFT10K (10,000 x 128).

  /usr/bin/python3 python/bench/bench_search.py [--json]
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import cvstore  # noqa: E402
from cvstore import _lib  # noqa: E402


def best(fns, reps, rounds=9):
    """Best per-call time in microseconds of each function over rounds of
    reps calls; the functions take turns within a round, so that a machine
    whose load changes slows them alike."""
    for fn in fns:
        fn()
    out = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter_ns()
            for _ in range(reps):
                fn()
            out[i].append((time.perf_counter_ns() - t0) / reps / 1000)
    return [min(o) for o in out]


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return np.ascontiguousarray(a.reshape(-1, a[0] + 1)[:, 1:].view(np.float32))


def bench(name, base, queries, k=10):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = cvstore.open(os.path.join(tmp, "b.cvs"), create=True, dim=base.shape[1],
                          metric="l2")
        db.put([str(i) for i in range(len(base))], base)
        h = db._db
        search = _lib.lib.cvs_search
        for nq in (1, 1000):
            q = np.ascontiguousarray(queries[np.arange(nq) % len(queries)])
            labels = np.empty((nq, k), dtype=np.int64)
            scores = np.empty((nq, k), dtype=np.float32)
            qp, lp, sp = q.ctypes.data, labels.ctypes.data, scores.ctypes.data
            reps = 2000 if nq == 1 else 3
            if len(base) > 1000:
                reps = 200 if nq == 1 else 2
            qq = q[0] if nq == 1 else q
            c, py, pyscores, pyids = best(
                [lambda: search(h, qp, nq, k, _lib.SEARCH_EXACT, lp, sp),
                 lambda: db.search(qq, k),
                 lambda: db.search(qq, k).scores,
                 lambda: db.search(qq, k).ids], reps)
            rows.append({"store": name, "queries": nq, "k": k, "c_us": round(c, 2),
                         "py_us": round(py, 2), "py_scores_us": round(pyscores, 2), "py_ids_us": round(pyids, 2),
                         "overhead_us": round(py - c, 2),
                         "overhead_us_per_query": round((py - c) / nq, 3)})
        db.close()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    noop = best([lambda: _lib.lib.cvs_strerror(0)], 20000)[0]
    rows = bench("tiny 100x16", rng.standard_normal((100, 16)).astype(np.float32),
                 rng.standard_normal((1000, 16)).astype(np.float32))
    sift = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "siftsmall"
    if (sift / "siftsmall_base.fvecs").exists():
        rows += bench("sift10k 10000x128", fvecs(sift / "siftsmall_base.fvecs"),
                      fvecs(sift / "siftsmall_query.fvecs"))
    if args.json:
        print(json.dumps({"ctypes_call_us": round(noop, 3), "rows": rows}, indent=1))
        return
    print(f"one bare ctypes call (cvs_strerror): {noop:.2f} us")
    print(f"{'store':<18} {'queries':>7} {'C us':>10} {'Python us':>10} {'+scores':>10} "
          f"{'+ids us':>10} "
          f"{'overhead us':>12} {'per query':>10}")
    for r in rows:
        print(f"{r['store']:<18} {r['queries']:>7} {r['c_us']:>10.2f} {r['py_us']:>10.2f} "
              f"{r['py_scores_us']:>10.2f} "
              f"{r['py_ids_us']:>10.2f} {r['overhead_us']:>12.2f} "
              f"{r['overhead_us_per_query']:>10.3f}")


if __name__ == "__main__":
    main()
