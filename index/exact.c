/*
 * exact.c -- exact top-k search over the raw vectors: the baseline every
 * approximate index is measured against, and the ground truth of our own
 * benchmarks.
 *
 * Method: the brute-force scan as FAISS's IndexFlat does it.  Stored vectors
 * are read block by block from LMDB (decoded from f16 when needed), and the
 * query-by-block score matrix is one OpenBLAS sgemm, so the work runs at
 * matrix-multiply speed rather than one dot product at a time.  For L2 we use
 * ||q - x||^2 = ||q||^2 + ||x||^2 - 2 q.x, computing ||x||^2 per block (it
 * costs 1/nq of the sgemm).  Each query keeps a bounded heap (core/heap.h).
 *
 * Deviations:
 *  1. The vectors come from a decoded in-memory copy of the snapshot
 *     (index/flat.c) shared by all searches of that snapshot; stores larger
 *     than its budget are streamed from LMDB block by block instead.
 *  2. Squared distances that rounding makes slightly negative are clamped to
 *     zero before the square root, so identical vectors score exactly 0.
 *  3. Filters (store/filter.c) arrive as a bitmap over keys.  A selective
 *     filter is served by reading just the matches' vectors, one B-tree
 *     look-up each ("direct"); a broader one by the full scan, skipping keys
 *     whose bit is clear.  Either way every match is scored.  Which of the
 *     two, and when a code or ANN search falls back to this exact scan of
 *     the matches, is decided by the dispatcher (index/search.c).
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/exact.h"
#include "index/flat.h"
#include "core/heap.h"
#include "store/filter.h"
#include "store/seal.h"

#define BLOCK_FLOATS (1u << 18)   /* ~1 MiB of decoded vectors per block */
#define QUERY_CHUNK 256
typedef struct scan {
    const cvs_db *db;
    size_t nq, k, dim;
    const float *q;  /* nq * dim, normalized for cosine */
    const float *qn; /* ||q||^2 (l2) */
    float *s;        /* QUERY_CHUNK * block scores */
    cvs_heap *heaps;
    const uint64_t *allow; /* filter bitmap (store/filter.h), NULL = all */
    size_t allow_words;
} scan;

/* Scores nb vectors x (with squared norms xn for l2) against every query. */
static void score_block(scan *sc, const float *x, const float *xn, const int64_t *keys, size_t nb)
{
    int l2 = sc->db->metric == CVS_METRIC_L2;
    size_t dim = sc->dim;
    for (size_t q0 = 0; q0 < sc->nq; q0 += QUERY_CHUNK) {
        size_t qb = sc->nq - q0 < QUERY_CHUNK ? sc->nq - q0 : QUERY_CHUNK;
        if (qb == 1) /* gemv: OpenBLAS's sgemm does not special-case one row */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)dim, 1.0f, x, (int)dim,
                        sc->q + q0 * dim, 1, 0.0f, sc->s, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)nb, (int)dim, 1.0f,
                        sc->q + q0 * dim, (int)dim, x, (int)dim, 0.0f, sc->s, (int)nb);
        for (size_t i = 0; i < qb; i++) {
            cvs_heap *h = &sc->heaps[q0 + i];
            const float *row = sc->s + i * nb;
            float qn = l2 ? sc->qn[q0 + i] : 0;
            for (size_t j = 0; j < nb; j++) {
                float d;
                if (sc->allow && !cvs__bit_test(sc->allow, sc->allow_words, keys[j]))
                    continue;
                d = l2 ? qn + xn[j] - 2.0f * row[j] : -row[j];
                if (h->n == h->k && d > h->d[0])
                    continue; /* the common case, kept out of the heap call */
                cvs__heap_push(h, d, keys[j]);
            }
        }
    }
}

/* Scans the snapshot's vectors straight from LMDB, block by block: the path
 * for stores larger than the flat cache's budget. */
static int scan_stream(scan *sc, MDB_txn *txn, size_t block)
{
    cvs__scan vscan = {0};
    const cvs_db *db = sc->db;
    MDB_cursor *cur = NULL;
    MDB_val mk, mv;
    float *x = malloc(block * sc->dim * sizeof *x), *xn = malloc(block * sizeof *xn);
    int64_t *keys = malloc(block * sizeof *keys);
    size_t nb = 0;
    int rc = CVS_OK, mrc;

    if (!x || !xn || !keys) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers");
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, db->dbi_vecs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &mk, &mv, MDB_FIRST, &vscan); mrc == 0;
         mrc = cvs__cscan(db, cur, &mk, &mv, MDB_NEXT, &vscan)) {
        float *row = x + nb * sc->dim, acc = 0;
        if (mk.mv_size != 8 || mv.mv_size != cvs__vec_bytes(db)) {
            rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes (expected %zu); run cvstore check",
                          mv.mv_size, cvs__vec_bytes(db));
            goto out;
        }
        keys[nb] = (int64_t)cvs__get_u64(mk.mv_data);
        cvs__decode_vec(db, mv.mv_data, row);
        for (size_t d = 0; d < sc->dim; d++)
            acc += row[d] * row[d];
        xn[nb] = acc;
        if (++nb == block) {
            score_block(sc, x, xn, keys, nb);
            nb = 0;
        }
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "scanning vectors");
        goto out;
    }
    if (nb)
        score_block(sc, x, xn, keys, nb);
out:
    cvs__scan_free(&vscan);
    if (cur)
        mdb_cursor_close(cur);
    free(x);
    free(xn);
    free(keys);
    return rc;
}

/* Deviation 3: reads the vectors of the allowed keys only, in key order,
 * one LMDB look-up each, and scores them block by block. */
static int scan_allowed(scan *sc, MDB_txn *txn, size_t block)
{
    const cvs_db *db = sc->db;
    float *x = malloc(block * sc->dim * sizeof *x), *xn = malloc(block * sizeof *xn);
    int64_t *keys = malloc(block * sizeof *keys);
    size_t nb = 0;
    int rc = CVS_OK;

    if (!x || !xn || !keys) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers");
        goto out;
    }
    for (size_t w = 0; w < sc->allow_words; w++) {
        uint64_t m = sc->allow[w];
        while (m) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(m);
            MDB_val mk = {8, &key}, mv;
            float *row = x + nb * sc->dim, acc = 0;
            int mrc = cvs__vget(db, txn, db->dbi_vecs, &mk, &mv);
            m &= m - 1;
            if (mrc == MDB_NOTFOUND) {
                rc = cvs__err(CVS_ECORRUPT, "record with key %llu has no vector; run cvstore check",
                              (unsigned long long)key);
                goto out;
            }
            if (mrc) {
                rc = cvs__err_lmdb(mrc, "reading a vector");
                goto out;
            }
            if (mv.mv_size != cvs__vec_bytes(db)) {
                rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes (expected %zu); run cvstore "
                              "check", mv.mv_size, cvs__vec_bytes(db));
                goto out;
            }
            keys[nb] = (int64_t)key;
            cvs__decode_vec(db, mv.mv_data, row);
            for (size_t d = 0; d < sc->dim; d++)
                acc += row[d] * row[d];
            xn[nb] = acc;
            if (++nb == block) {
                score_block(sc, x, xn, keys, nb);
                nb = 0;
            }
        }
    }
    if (nb)
        score_block(sc, x, xn, keys, nb);
out:
    free(x);
    free(xn);
    free(keys);
    return rc;
}

/* Exact top-k of nq prepared queries q (normalized for cosine; qn their
 * squared norms) among the records allowed by the bitmap (all when allow is
 * NULL); direct: read only the allowed vectors (deviation 3). */
/* The exact scan in txn; may_cache lets it use (and fill) the snapshot's
 * flat copy, which a write transaction must not. */
static int exact_run(cvs_db *db, MDB_txn *txn, int may_cache, const float *q, const float *qn,
                     size_t nq, size_t k, const uint64_t *allow, size_t allow_words, int direct,
                     int64_t *labels, float *scores)
{
    scan sc = {0};
    cvs_flat *flat = NULL;
    float *hd = NULL;
    size_t block = BLOCK_FLOATS / db->dim;
    int rc = CVS_OK;

    if (block < 16)
        block = 16;
    sc.db = db;
    sc.nq = nq;
    sc.k = k;
    sc.dim = db->dim;
    sc.q = q;
    sc.qn = qn;
    sc.allow = allow;
    sc.allow_words = allow_words;
    sc.s = malloc((size_t)QUERY_CHUNK * block * sizeof *sc.s);
    sc.heaps = malloc(nq * sizeof *sc.heaps);
    hd = malloc(nq * k * sizeof *hd);
    if (!sc.s || !sc.heaps || !hd) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers (%zu queries, k=%zu)", nq, k);
        goto out;
    }
    for (size_t i = 0; i < nq; i++)
        cvs__heap_init(&sc.heaps[i], k, hd + i * k, labels + i * k);

    if (direct && allow) {
        if ((rc = scan_allowed(&sc, txn, block)))
            goto out;
    } else {
        if (may_cache && (rc = cvs__flat_get(db, txn, &flat)))
            goto out;
        if (flat) {
            for (size_t j = 0; j < flat->n; j += block) {
                size_t nb = flat->n - j < block ? flat->n - j : block;
                score_block(&sc, flat->x + j * sc.dim, flat->xn ? flat->xn + j : NULL,
                            flat->keys + j, nb);
            }
        } else if ((rc = scan_stream(&sc, txn, block))) {
            goto out;
        }
    }

    for (size_t i = 0; i < nq; i++) {
        cvs_heap *h = &sc.heaps[i];
        size_t n = cvs__heap_sort(h);
        for (size_t j = 0; j < k; j++) {
            float *out = &scores[i * k + j];
            if (j >= n) {
                labels[i * k + j] = -1;
                *out = NAN;
            } else if (db->metric == CVS_METRIC_L2) {
                *out = h->d[j] > 0 ? sqrtf(h->d[j]) : 0.0f;
            } else {
                *out = -h->d[j];
            }
        }
    }
out:
    cvs__flat_release(db, flat);
    free(sc.s);
    free(sc.heaps);
    free(hd);
    return rc;
}

int cvs__exact_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                      const uint64_t *allow, size_t allow_words, int direct, int64_t *labels,
                      float *scores)
{
    return exact_run(t->db, t->txn, 1, q, qn, nq, k, allow, allow_words, direct, labels, scores);
}

int cvs__exact_scan_txn(cvs_db *db, MDB_txn *txn, const float *q, size_t nq, size_t k,
                        int64_t *labels, float *scores)
{
    float *qn = malloc((nq ? nq : 1) * sizeof *qn);
    int rc;
    if (!qn)
        return cvs__err(CVS_ENOMEM, "out of memory for search buffers");
    for (size_t i = 0; i < nq; i++) {
        double n2 = 0;
        for (size_t d = 0; d < db->dim; d++)
            n2 += (double)q[i * db->dim + d] * q[i * db->dim + d];
        qn[i] = (float)n2;
    }
    rc = exact_run(db, txn, 0, q, qn, nq, k, NULL, 0, 0, labels, scores);
    free(qn);
    return rc;
}
