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
 *  3. Filters (store/filter.c) arrive as a bitmap over keys.  A filter that
 *     matches few records (at most DIRECT_MIN, or 1/DIRECT_FRACTION of the
 *     store) is served by reading just those vectors, one B-tree look-up
 *     each; a broader one by the full scan, skipping keys whose bit is
 *     clear.  Either way every match is scored, so min(k, matches) results
 *     come back.  Code scans (CVS_SEARCH_CODES) get the same bitmap and skip
 *     non-matching codes, so their candidates and re-ranking all match;
 *     when the filter is that selective, or a code scan returns fewer than
 *     min(k, matches) results (a match without a code), the query is
 *     answered by the exact scan of the matches instead, raw vectors
 *     permitting.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/codescan.h"
#include "index/codes.h"
#include "index/faiss_index.h"
#include "index/flat.h"
#include "index/heap.h"
#include "index/ivf.h"
#include "pq/codec.h"
#include "store/db.h"
#include "store/filter.h"
#include "store/seal.h"

#define BLOCK_FLOATS (1u << 18)   /* ~1 MiB of decoded vectors per block */
#define QUERY_CHUNK 256
/* Deviation 3: filters matching at most max(DIRECT_MIN, count /
 * DIRECT_FRACTION) records read only the matches' vectors (DIRECT_MIN: even
 * 4096 look-ups cost less than loading the flat copy of a large store).  One look-up
 * costs about as much as streaming a few dozen vectors, hence the fraction. */
#define DIRECT_MIN 4096
#define DIRECT_FRACTION 32

/* The most matches read directly; CVSTORE_FILTER_DIRECT overrides it
 * (tests use 0 to exercise the filtered full scans on small stores). */
static uint64_t direct_limit(uint64_t count)
{
    const char *e = getenv("CVSTORE_FILTER_DIRECT");
    if (e && *e)
        return strtoull(e, NULL, 10);
    return count / DIRECT_FRACTION > DIRECT_MIN ? count / DIRECT_FRACTION : DIRECT_MIN;
}

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

static int exact_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                        const uint64_t *allow, size_t allow_words, int direct,
                        int64_t *labels, float *scores)
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

/* Deviation 3: the queries a code scan left with fewer than
 * min(k, nmatch) results are answered by the exact scan of the matches. */
static int refill_short(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                        const uint64_t *allow, size_t allow_words, uint64_t nmatch,
                        int64_t *labels, float *scores)
{
    size_t dim = t->db->dim, want = nmatch < k ? (size_t)nmatch : k, ns = 0;
    size_t *idx = malloc(nq * sizeof *idx);
    float *sq = NULL, *sqn = NULL, *ss = NULL;
    int64_t *sl = NULL;
    int rc = CVS_OK;

    if (!idx)
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nq; i++) {
        size_t got = 0;
        while (got < k && labels[i * k + got] >= 0)
            got++;
        if (got < want)
            idx[ns++] = i;
    }
    if (ns == 0)
        goto out;
    sq = malloc(ns * dim * sizeof *sq);
    sqn = malloc(ns * sizeof *sqn);
    sl = malloc(ns * k * sizeof *sl);
    ss = malloc(ns * k * sizeof *ss);
    if (!sq || !sqn || !sl || !ss) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < ns; j++) {
        memcpy(sq + j * dim, q + idx[j] * dim, dim * sizeof *sq);
        sqn[j] = qn[idx[j]];
    }
    if ((rc = exact_search(t, sq, sqn, ns, k, allow, allow_words, 0, sl, ss)))
        goto out;
    for (size_t j = 0; j < ns; j++) {
        memcpy(labels + idx[j] * k, sl + j * k, k * sizeof *sl);
        memcpy(scores + idx[j] * k, ss + j * k, k * sizeof *ss);
    }
out:
    free(idx);
    free(sq);
    free(sqn);
    free(sl);
    free(ss);
    return rc;
}

/* The search entry point.  ext_allow (ext_words words), when not NULL and
 * no filter is given, restricts the results like a filter's bitmap would
 * (index/ivf.h's cvs__txn_search_allow; the tests use it). */
static int search_impl(cvs_txn *t, const float *queries, size_t nq, size_t k,
                       const cvs_search_params *params, const uint64_t *ext_allow,
                       size_t ext_words, int64_t *labels, float *scores)
{
    unsigned flags = params ? params->flags : 0;
    size_t rerank = params ? params->rerank : 0;
    const cvs_filter *filter = params ? params->filter : NULL;
    cvs_db *db;
    float *q = NULL, *qn = NULL;
    uint64_t *allow = NULL, nmatch = 0, count = 0;
    const uint64_t *use_allow = NULL;
    size_t allow_words = 0, dim;
    int rc = CVS_OK, direct = 0, codes_only = 0;

    if (!t || (nq && (!queries || !labels || !scores)))
        return cvs__err(CVS_EINVAL, "cvs_search: NULL argument");
    if (flags & ~(CVS_SEARCH_EXACT | CVS_SEARCH_CODES | CVS_SEARCH_ANN | CVS_SEARCH_NORERANK))
        return cvs__err(CVS_EINVAL, "cvs_search: unknown flags 0x%x", flags);
    if (!!(flags & CVS_SEARCH_EXACT) + !!(flags & CVS_SEARCH_CODES) + !!(flags & CVS_SEARCH_ANN) > 1)
        return cvs__err(CVS_EINVAL, "cvs_search: EXACT, CODES and ANN exclude each other");
    if ((flags & CVS_SEARCH_NORERANK) && !(flags & CVS_SEARCH_ANN))
        return cvs__err(CVS_EINVAL, "cvs_search: NORERANK applies to ANN searches only");
    if (nq == 0 || k == 0)
        return CVS_OK;
    db = t->db;
    dim = db->dim;
    for (size_t i = 0; i < nq * dim; i++)
        if (!isfinite(queries[i]))
            return cvs__err(CVS_EINPUT, "query %zu: value %zu is not finite", i / dim, i % dim);
    q = malloc(nq * dim * sizeof *q);
    qn = malloc(nq * sizeof *qn);
    if (!q || !qn) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers (%zu queries, k=%zu)", nq, k);
        goto out;
    }
    memcpy(q, queries, nq * dim * sizeof *q);
    for (size_t i = 0; i < nq; i++) {
        float *qi = q + i * dim;
        double n2 = 0;
        for (size_t d = 0; d < dim; d++)
            n2 += (double)qi[d] * qi[d];
        /* The limits cvs_put sets for records (store/db.h), so that no
         * score overflows; a zero query has no direction to compare. */
        if (db->metric == CVS_METRIC_COSINE && n2 == 0) {
            rc = cvs__err(CVS_EINPUT, "query %zu: zero vector in a cosine store", i);
            goto out;
        }
        if (db->metric != CVS_METRIC_COSINE && n2 > CVS__NORM2_MAX) {
            rc = cvs__err(CVS_EINPUT, "query %zu: vector too large (squared norm %.3g above "
                          "%.3g: its distances would overflow single precision)", i, n2,
                          CVS__NORM2_MAX);
            goto out;
        }
        qn[i] = (float)n2;
        if (db->metric == CVS_METRIC_COSINE) {
            float inv = (float)(1.0 / sqrt(n2));
            for (size_t d = 0; d < dim; d++)
                qi[d] *= inv;
        }
    }

    if (db->raw == CVS_RAW_NONE || (flags & CVS_SEARCH_CODES)) {
        struct cvs_codec *codec;
        if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
            goto out;
        /* Checked here too, so that a filter answered by the exact scan
         * (deviation 3) fails like any other code search. */
        if ((flags & CVS_SEARCH_CODES) && !codec) {
            rc = cvs__err(CVS_EINVAL, "%s: no codec has been built: run cvstore build, or "
                          "search exactly", db->path);
            goto out;
        }
        if ((codes_only = cvs__codes_only(db, codec))) {
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
    if (filter) {
        if ((rc = cvs__filter_eval(t, filter, &allow, &allow_words, &nmatch)) ||
            (rc = cvs_txn_count(t, &count)))
            goto out;
        if (nmatch == 0) { /* nothing to scan */
            for (size_t i = 0; i < nq * k; i++) {
                labels[i] = -1;
                scores[i] = NAN;
            }
            goto out;
        }
        direct = !codes_only && nmatch <= direct_limit(count);
        use_allow = allow;
    } else if (ext_allow) {
        use_allow = ext_allow;
        allow_words = ext_words;
        for (size_t w = 0; w < ext_words; w++)
            nmatch += (uint64_t)__builtin_popcountll(ext_allow[w]);
        filter = NULL; /* no exact refill: the caller's bitmap is not checked against records */
    }
    if (flags & CVS_SEARCH_ANN) {
        int have_faiss;
        struct cvs_ivf_params *ip = NULL;
        if ((rc = cvs__fidx_present(db, t->txn, &have_faiss, NULL, 0)))
            goto out;
        if (!have_faiss && cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &ip)))
            goto out;
        if (!have_faiss && !ip) {
            rc = cvs__err(CVS_EINVAL, "%s: no ANN index has been built (cvstore build --index "
                          "ivf, or --index faiss:FACTORY)", db->path);
            goto out;
        }
        if (direct) /* a selective filter: the exact scan of the matches is cheaper */
            rc = exact_search(t, q, qn, nq, k, use_allow, allow_words, 1, labels, scores);
        else if (have_faiss)
            rc = cvs__fidx_search(t, q, qn, nq, k, params->nprobe, use_allow, allow_words,
                                  labels, scores);
        else
            rc = cvs__ivf_search(t, q, qn, nq, k, params->nprobe, params->rerank,
                                 (flags & CVS_SEARCH_NORERANK) != 0, use_allow, allow_words,
                                 params->threads, labels, scores);
        if (!rc && filter && !codes_only)
            rc = refill_short(t, q, qn, nq, k, use_allow, allow_words, nmatch, labels, scores);
        goto out;
    }
    if ((flags & CVS_SEARCH_CODES) && !direct) {
        struct cvs_ivf_params *ip = NULL;
        if (cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &ip)))
            goto out;
        if (ip && ip->residual) {
            /* Residual codes mean nothing without their list's centroid:
             * the exhaustive scan is the IVF search probing every list. */
            rc = cvs__ivf_search(t, q, qn, nq, k, ip->nlist, rerank, rerank == 0, use_allow,
                                 allow_words, params ? params->threads : 0, labels, scores);
        } else {
            rc = cvs__codes_search(t, q, qn, nq, k, rerank, use_allow, allow_words, labels,
                                   scores);
        }
        if (rc)
            goto out;
        if (filter && !codes_only)
            rc = refill_short(t, q, qn, nq, k, allow, allow_words, nmatch, labels, scores);
        goto out;
    }
    rc = exact_search(t, q, qn, nq, k, use_allow, allow_words, direct, labels, scores);
out:
    free(q);
    free(qn);
    free(allow);
    return rc;
}

CVS_API int cvs_txn_search_params(cvs_txn *t, const float *queries, size_t nq, size_t k,
                                  const cvs_search_params *params, int64_t *labels,
                                  float *scores)
{
    return search_impl(t, queries, nq, k, params, NULL, 0, labels, scores);
}

int cvs__txn_search_allow(cvs_txn *t, const float *queries, size_t nq, size_t k,
                          const cvs_search_params *params, const uint64_t *allow,
                          size_t allow_words, int64_t *labels, float *scores)
{
    return search_impl(t, queries, nq, k, params, allow, allow_words, labels, scores);
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

/* ==== ANN index info ==== */

/* A store has at most one ANN index in force: a FAISS build removes the IVF
 * index and an IVF build the FAISS one (index/faiss_index.c). */
static int have_faiss(cvs_db *db, int *yes)
{
    MDB_txn *txn;
    int rc;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = cvs__fidx_present(db, txn, yes, NULL, 0);
    cvs__read_end(db, txn);
    return rc;
}

CVS_API int cvs_index_get_info(cvs_db *db, cvs_index_info *info)
{
    int yes, rc;
    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_index_get_info: NULL argument");
    if ((rc = have_faiss(db, &yes)))
        return rc;
    return yes ? cvs__fidx_info(db, info) : cvs__ivf_get_info(db, info);
}

CVS_API int cvs_index_set_defaults(cvs_db *db, size_t nprobe, size_t rerank)
{
    int yes, rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_index_set_defaults: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if ((rc = have_faiss(db, &yes)))
        return rc;
    /* FAISS indexes do not re-rank; their one parameter is nprobe/efSearch. */
    return yes ? cvs__fidx_set_default(db, nprobe) : cvs__ivf_set_defaults(db, nprobe, rerank);
}
