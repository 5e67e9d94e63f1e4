"""SIFT10K (tests/data/siftsmall): exact search from Python against the
official ground truth, and the compressed scan's recall."""

import numpy as np
import pytest

import cvstore
from conftest import DATA

SIFT = DATA / "siftsmall"


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].view(np.float32)


def ivecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:]


@pytest.fixture(scope="module")
def sift(tmp_path_factory):
    base = fvecs(SIFT / "siftsmall_base.fvecs")
    query = fvecs(SIFT / "siftsmall_query.fvecs")
    gt = ivecs(SIFT / "siftsmall_groundtruth.ivecs")
    assert base.shape == (10000, 128) and query.shape == (100, 128) and gt.shape == (100, 100)
    path = str(tmp_path_factory.mktemp("sift") / "sift.cvs")
    db = cvstore.open(path, create=True, dim=128, metric="l2")
    # A strided view of the file's rows: converted once for the batch.
    db.put([str(i) for i in range(len(base))], base)
    yield db, base, query, gt
    db.close()


def test_exact_matches_ground_truth(sift):
    db, base, query, gt = sift
    r = db.search(query, k=100, mode="exact")
    assert r.scores.shape == (100, 100)
    got = np.array([[int(i) for i in row] for row in r.ids])
    # Ties (equal distances) may come in either order; compare by distance
    # and require the same sets.
    assert (got[:, 0] == gt[:, 0]).mean() >= 0.99
    same = [len(set(got[i]) & set(gt[i])) for i in range(100)]
    assert np.mean(same) >= 99.5
    want = np.linalg.norm(base[gt] - query[:, None, :], axis=2)
    np.testing.assert_allclose(r.scores, want, rtol=1e-3, atol=1e-2)


def test_codes_recall(sift):
    db, base, query, gt = sift
    db.build(codec="pq16", seed=1)
    r = db.search(query, k=10, mode="codes", rerank=100)
    got = np.array([[int(i) for i in row] for row in r.ids])
    recall = np.mean([len(set(got[i]) & set(gt[i, :10])) / 10 for i in range(100)])
    assert recall >= 0.95
