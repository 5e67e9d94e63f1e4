/*
 * search.c -- the search dispatcher behind cvs_search, cvs_txn_search and
 * cvs_txn_search_params: validates and prepares the queries (finite values,
 * the norm limit, normalization for cosine), evaluates the filter, and
 * sends each search to the exact scan (index/exact.c), the code scan
 * (index/codescan.c), the IVF index (index/ivf_search.c) or a FAISS index
 * (index/faiss_index.c).  Also the ANN-index info and defaults calls, which
 * pick between the FAISS and the IVF index the same way.
 *
 * Filters (store/filter.c) arrive as a bitmap over keys.  A filter that
 * matches few records (at most DIRECT_MIN, or 1/DIRECT_FRACTION of the
 * store) is served by reading just those vectors, one B-tree look-up each;
 * a broader one by the full scan, skipping keys whose bit is clear.  Either
 * way every match is scored, so min(k, matches) results come back.  Code
 * scans (CVS_SEARCH_CODES) get the same bitmap and skip non-matching codes,
 * so their candidates and re-ranking all match; when the filter is that
 * selective, or a code scan returns fewer than min(k, matches) results (a
 * match without a code), the query is answered by the exact scan of the
 * matches instead, raw vectors permitting.  (This is deviation 3 of
 * index/exact.c.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/codescan.h"
#include "index/exact.h"
#include "index/faiss_index.h"
#include "index/ivf.h"
#include "index/qg_store.h"
#include "index/search.h"
#include "pq/codec.h"
#include "store/db.h"
#include "store/filter.h"

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
    if ((rc = cvs__exact_search(t, sq, sqn, ns, k, allow, allow_words, 0, sl, ss)))
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
        /* Float squares cannot overflow a double sum, so n2 is finite
         * exactly when every value is: one pass checks both. */
        if (!isfinite(n2)) {
            size_t d = 0;
            while (d + 1 < dim && isfinite(qi[d]))
                d++;
            rc = cvs__err(CVS_EINPUT, "query %zu: value %zu is not finite", i, d);
            goto out;
        }
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
        int have_faiss, have_qg;
        struct cvs_ivf_params *ip = NULL;
        if ((rc = cvs__fidx_present(db, t->txn, &have_faiss, NULL, 0)) ||
            (rc = cvs__qg_present(db, t->txn, &have_qg)))
            goto out;
        if (have_qg && !direct) {
            rc = cvs__qg_search(t, q, nq, k, params->nprobe, params->rerank,
                                (flags & CVS_SEARCH_NORERANK) != 0 || codes_only, use_allow,
                                allow_words, params->threads, labels, scores);
            if (!rc && filter && !codes_only)
                rc = refill_short(t, q, qn, nq, k, use_allow, allow_words, nmatch, labels, scores);
            goto out;
        }
        if (!have_faiss && cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &ip)))
            goto out;
        if (!have_faiss && !ip && !have_qg) {
            rc = cvs__err(CVS_EINVAL, "%s: no ANN index has been built (cvstore build --index "
                          "ivf, or --index faiss:FACTORY)", db->path);
            goto out;
        }
        if (direct) /* a selective filter: the exact scan of the matches is cheaper */
            rc = cvs__exact_search(t, q, qn, nq, k, use_allow, allow_words, 1, labels, scores);
        else if (have_faiss)
            rc = cvs__fidx_search(t, q, qn, nq, k, params->nprobe, use_allow, allow_words,
                                  labels, scores);
        else
            rc = cvs__ivf_search(t, q, qn, nq, k, params->nprobe, params->rerank,
                                 params->refine, (flags & CVS_SEARCH_NORERANK) != 0, use_allow,
                                 allow_words, params->threads, labels, scores);
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
            rc = cvs__ivf_search(t, q, qn, nq, k, ip->nlist, rerank, CVS_RERANK_NONE,
                                 rerank == 0, use_allow, allow_words,
                                 params ? params->threads : 0, labels, scores);
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
    rc = cvs__exact_search(t, q, qn, nq, k, use_allow, allow_words, direct, labels, scores);
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

/* The graph index (index/qg_store.c) likewise excludes the other two. */
static int have_qg(cvs_db *db, int *yes)
{
    MDB_txn *txn;
    int rc;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = cvs__qg_present(db, txn, yes);
    cvs__read_end(db, txn);
    return rc;
}

CVS_API int cvs_index_get_info(cvs_db *db, cvs_index_info *info)
{
    int yes, rc;
    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_index_get_info: NULL argument");
    if ((rc = have_qg(db, &yes)))
        return rc;
    if (yes)
        return cvs__qg_info(db, info);
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
    if ((rc = have_qg(db, &yes)))
        return rc;
    if (yes) /* nprobe is the graph's candidate list, ef */
        return cvs__qg_set_defaults(db, nprobe, rerank);
    if ((rc = have_faiss(db, &yes)))
        return rc;
    /* FAISS indexes do not re-rank; their one parameter is nprobe/efSearch. */
    return yes ? cvs__fidx_set_default(db, nprobe) : cvs__ivf_set_defaults(db, nprobe, rerank);
}

CVS_API int cvs_index_set_refine(cvs_db *db, size_t refine)
{
    int yes, rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_index_set_refine: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if ((rc = have_qg(db, &yes)) || (!yes && (rc = have_faiss(db, &yes))))
        return rc;
    if (yes)
        return cvs__err(CVS_NOTFOUND, "%s: the exact re-score depth is a setting of IVF "
                        "indexes, not of this one", db->path);
    return cvs__ivf_set_refine(db, refine);
}
