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
 * costs 1/nq of the sgemm).  Each query keeps a bounded heap (index/heap.h).
 *
 * Deviations:
 *  1. The vectors come from a decoded in-memory copy of the snapshot
 *     (index/flat.c) shared by all searches of that snapshot; stores larger
 *     than its budget are streamed from LMDB block by block instead.
 *  2. Squared distances that rounding makes slightly negative are clamped to
 *     zero before the square root, so identical vectors score exactly 0.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/codescan.h"
#include "index/flat.h"
#include "index/heap.h"
#include "index/ivf.h"
#include "pq/codec.h"
#include "store/db.h"

#define BLOCK_FLOATS (1u << 18)   /* ~1 MiB of decoded vectors per block */
#define QUERY_CHUNK 256

typedef struct scan {
    const cvs_db *db;
    size_t nq, k, dim;
    float *q;        /* nq * dim, normalized for cosine */
    float *qn;       /* ||q||^2 (l2) */
    float *s;        /* QUERY_CHUNK * block scores */
    cvs_heap *heaps;
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
                float d = l2 ? qn + xn[j] - 2.0f * row[j] : -row[j];
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
    for (mrc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
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
    if (cur)
        mdb_cursor_close(cur);
    free(x);
    free(xn);
    free(keys);
    return rc;
}

int cvs__txn_search_allow(cvs_txn *t, const float *queries, size_t nq, size_t k,
                          const cvs_search_params *params, const uint64_t *allow,
                          size_t allow_words, int64_t *labels, float *scores)
{
    unsigned flags = params ? params->flags : 0;
    size_t rerank = params ? params->rerank : 0;
    unsigned modes;
    scan sc = {0};
    cvs_db *db;
    cvs_flat *flat = NULL;
    float *hd = NULL;
    size_t block;
    int rc = CVS_OK;

    if (!t || (nq && (!queries || !labels || !scores)))
        return cvs__err(CVS_EINVAL, "cvs_search: NULL argument");
    if (flags & ~(CVS_SEARCH_EXACT | CVS_SEARCH_CODES | CVS_SEARCH_ANN | CVS_SEARCH_NORERANK))
        return cvs__err(CVS_EINVAL, "cvs_search: unknown flags 0x%x", flags);
    modes = flags & (CVS_SEARCH_EXACT | CVS_SEARCH_CODES | CVS_SEARCH_ANN);
    if (modes & (modes - 1))
        return cvs__err(CVS_EINVAL, "cvs_search: EXACT, CODES and ANN exclude each other");
    if ((flags & CVS_SEARCH_NORERANK) && !(flags & CVS_SEARCH_ANN))
        return cvs__err(CVS_EINVAL, "cvs_search: NORERANK applies to ANN searches only");
    if (allow && !(flags & CVS_SEARCH_ANN))
        return cvs__err(CVS_EINVAL, "cvs_search: an allow-list needs an ANN search");
    if (nq == 0 || k == 0)
        return CVS_OK;
    db = t->db;
    sc.db = db;
    sc.nq = nq;
    sc.k = k;
    sc.dim = db->dim;
    block = BLOCK_FLOATS / sc.dim;
    if (block < 16)
        block = 16;
    for (size_t i = 0; i < nq * sc.dim; i++)
        if (!isfinite(queries[i]))
            return cvs__err(CVS_EINPUT, "query %zu: value %zu is not finite", i / sc.dim, i % sc.dim);
    sc.q = malloc(nq * sc.dim * sizeof *sc.q);
    sc.qn = malloc(nq * sizeof *sc.qn);
    if (!sc.q || !sc.qn) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers (%zu queries, k=%zu)", nq, k);
        goto out;
    }
    memcpy(sc.q, queries, nq * sc.dim * sizeof *sc.q);
    for (size_t i = 0; i < nq; i++) {
        float *q = sc.q + i * sc.dim;
        double n2 = 0;
        for (size_t d = 0; d < sc.dim; d++)
            n2 += (double)q[d] * q[d];
        sc.qn[i] = (float)n2;
        if (db->metric == CVS_METRIC_COSINE && n2 > 0) {
            float inv = (float)(1.0 / sqrt(n2));
            for (size_t d = 0; d < sc.dim; d++)
                q[d] *= inv;
        }
    }

    if (db->raw == CVS_RAW_NONE) {
        struct cvs_codec *codec;
        if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
            goto out;
        if (cvs__codes_only(db, codec)) {
            if (flags & CVS_SEARCH_EXACT) {
                rc = cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none): only its codes "
                              "can be searched", db->path);
                goto out;
            }
            if (!(flags & CVS_SEARCH_ANN))
                flags = CVS_SEARCH_CODES;
            rerank = 0; /* nothing to re-rank with */
        }
    }
    if (flags & CVS_SEARCH_ANN) {
        rc = cvs__ivf_search(t, sc.q, sc.qn, nq, k, params->nprobe, params->rerank,
                             (flags & CVS_SEARCH_NORERANK) != 0, allow, allow_words,
                             params->threads, labels, scores);
        goto out;
    }
    if (flags & CVS_SEARCH_CODES) {
        struct cvs_ivf_params *ip = NULL;
        if (db->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &ip)))
            goto out;
        if (ip && ip->residual) {
            /* Residual codes mean nothing without their list's centroid:
             * the exhaustive scan is the IVF search probing every list. */
            rc = cvs__ivf_search(t, sc.q, sc.qn, nq, k, ip->nlist, rerank, rerank == 0, NULL, 0,
                                 params ? params->threads : 0, labels, scores);
            goto out;
        }
        rc = cvs__codes_search(t, sc.q, sc.qn, nq, k, rerank, labels, scores);
        goto out;
    }
    /* The exact scan's buffers (~2 MiB of scores), allocated only here: the
     * code and ANN paths above would pay an mmap per call for them. */
    sc.s = malloc((size_t)QUERY_CHUNK * block * sizeof *sc.s);
    sc.heaps = malloc(nq * sizeof *sc.heaps);
    hd = malloc(nq * k * sizeof *hd);
    if (!sc.s || !sc.heaps || !hd) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers (%zu queries, k=%zu)", nq, k);
        goto out;
    }
    for (size_t i = 0; i < nq; i++)
        cvs__heap_init(&sc.heaps[i], k, hd + i * k, labels + i * k);
    if ((rc = cvs__flat_get(db, t->txn, &flat)))
        goto out;
    if (flat) {
        for (size_t j = 0; j < flat->n; j += block) {
            size_t nb = flat->n - j < block ? flat->n - j : block;
            score_block(&sc, flat->x + j * sc.dim, flat->xn ? flat->xn + j : NULL,
                        flat->keys + j, nb);
        }
    } else if ((rc = scan_stream(&sc, t->txn, block))) {
        goto out;
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
    free(sc.q);
    free(sc.qn);
    free(sc.s);
    free(sc.heaps);
    free(hd);
    return rc;
}

CVS_API int cvs_txn_search_params(cvs_txn *t, const float *queries, size_t nq, size_t k,
                                  const cvs_search_params *params, int64_t *labels,
                                  float *scores)
{
    if (params && params->filter) /* wired by the filter engine (cvs__filter_eval) */
        return cvs__err(CVS_EINVAL, "cvs_search: filters not supported yet");
    return cvs__txn_search_allow(t, queries, nq, k, params, NULL, 0, labels, scores);
}

CVS_API int cvs_txn_search(cvs_txn *t, const float *queries, size_t nq, size_t k,
                           unsigned flags, int64_t *labels, float *scores)
{
    cvs_search_params p = {.flags = flags};
    return cvs_txn_search_params(t, queries, nq, k, &p, labels, scores);
}

CVS_API int cvs_search(cvs_db *db, const float *queries, size_t nq, size_t k, unsigned flags,
                       int64_t *labels, float *scores)
{
    cvs_txn *t;
    int rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_search: NULL argument");
    if ((rc = cvs_txn_begin(db, &t)))
        return rc;
    rc = cvs_txn_search(t, queries, nq, k, flags, labels, scores);
    cvs_txn_end(t);
    return rc;
}
