/* test_search.c -- exact search: agrees with a naive double-precision
 * brute force on random data for every metric and raw precision, pads with
 * -1, and reproduces the official SIFT10K ground truth. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"

static cvs_db *make_store(char **dir, uint32_t dim, cvs_metric m, cvs_raw raw,
                          const float *base, size_t n)
{
    cvs_create_opts o = {dim, m, raw};
    cvs_db *db;
    cvs_record *r = calloc(n, sizeof *r);
    char (*ids)[24] = malloc(n * 24);
    *dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(*dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 24, "%zu", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = base + i * dim;
    }
    cr_assert_eq(cvs_put(db, r, n, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(r);
    free(ids);
    return db;
}

/* Naive reference: best-first index list of the top k by double precision. */
static void naive(const float *base, size_t n, const float *q, uint32_t dim, cvs_metric m,
                  size_t k, size_t *out, double *sc)
{
    double *s = malloc(n * sizeof *s);
    char *used = calloc(n, 1);
    double qn = 0;
    for (uint32_t d = 0; d < dim; d++)
        qn += (double)q[d] * q[d];
    for (size_t i = 0; i < n; i++) {
        const float *x = base + i * dim;
        double dot = 0, xn = 0, l2 = 0;
        for (uint32_t d = 0; d < dim; d++) {
            dot += (double)q[d] * x[d];
            xn += (double)x[d] * x[d];
            l2 += ((double)q[d] - x[d]) * ((double)q[d] - x[d]);
        }
        s[i] = m == CVS_METRIC_L2 ? l2 : m == CVS_METRIC_IP ? -dot : -dot / sqrt(qn * xn);
    }
    for (size_t j = 0; j < k; j++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (!used[i] && (best == SIZE_MAX || s[i] < s[best]))
                best = i;
        used[best] = 1;
        out[j] = best;
        sc[j] = m == CVS_METRIC_L2 ? sqrt(s[best]) : -s[best];
    }
    free(s);
    free(used);
}

static void check_metric(cvs_metric m, cvs_raw raw)
{
    enum { N = 3000, D = 37, NQ = 20, K = 10 };
    float *base = malloc(N * D * sizeof *base), q[NQ * D], scores[NQ * K];
    int64_t labels[NQ * K];
    size_t ref[K];
    double refs[K];
    char *dir;
    cvs_db *db;
    tu_randvecs(base, N * D, 11);
    tu_randvecs(q, NQ * D, 12);
    db = make_store(&dir, D, m, raw, base, N);
    if (raw == CVS_RAW_F16) /* compare against what the store really holds */
        for (size_t i = 0; i < N; i++) {
            cvs_txn *t;
            cvs_record g;
            char id[24];
            snprintf(id, sizeof id, "%zu", i);
            cr_assert_eq(cvs_txn_begin(db, &t), 0);
            cr_assert_eq(cvs_get(t, id, strlen(id), &g, base + i * D), 0);
            cvs_txn_end(t);
        }
    cr_assert_eq(cvs_search(db, q, NQ, K, CVS_SEARCH_EXACT, labels, scores), 0, "%s", cvs_errmsg(db));
    for (int i = 0; i < NQ; i++) {
        cvs_txn *t;
        naive(base, N, q + i * D, D, m, K, ref, refs);
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        for (int j = 0; j < K; j++) {
            const char *id;
            size_t len;
            char want[24];
            cr_assert_eq(cvs_key_id(t, labels[i * K + j], &id, &len), 0);
            snprintf(want, sizeof want, "%zu", ref[j]);
            cr_assert(len == strlen(want) && memcmp(id, want, len) == 0,
                      "metric %s query %d rank %d: got %.*s want %s", cvs_metric_name(m), i, j,
                      (int)len, id, want);
            cr_assert(fabs(scores[i * K + j] - refs[j]) < 1e-3 * (1 + fabs(refs[j])),
                      "score %f vs %f", scores[i * K + j], refs[j]);
        }
        cvs_txn_end(t);
    }
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    free(base);
}

Test(search, l2_f32) { check_metric(CVS_METRIC_L2, CVS_RAW_F32); }
Test(search, ip_f32) { check_metric(CVS_METRIC_IP, CVS_RAW_F32); }
Test(search, cosine_f32) { check_metric(CVS_METRIC_COSINE, CVS_RAW_F32); }
Test(search, l2_f16) { check_metric(CVS_METRIC_L2, CVS_RAW_F16); }
Test(search, cosine_f16) { check_metric(CVS_METRIC_COSINE, CVS_RAW_F16); }

Test(search, pads_with_minus_one)
{
    float base[3 * 2] = {0, 0, 1, 0, 0, 1}, q[2] = {0.1f, 0}, scores[5];
    int64_t labels[5];
    char *dir;
    cvs_db *db = make_store(&dir, 2, CVS_METRIC_L2, CVS_RAW_F32, base, 3);
    cr_assert_eq(cvs_search(db, q, 1, 5, 0, labels, scores), 0);
    cr_assert_neq(labels[2], -1);
    cr_assert_eq(labels[3], -1);
    cr_assert_eq(labels[4], -1);
    cr_assert(isnan(scores[3]) && isnan(scores[4]));
    cr_assert_float_eq(scores[0], 0.1f, 1e-6);
    q[0] = NAN;
    cr_assert_eq(cvs_search(db, q, 1, 5, 0, labels, scores), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "query 0: value 0 is not finite"), "%s", cvs_errmsg(db));
    {
        /* The message names the query and the value, whichever the batch
         * position (the check rides on each query's norm). */
        float qs[3 * 2] = {0.1f, 0, 0.2f, -INFINITY, 3e38f, 3e38f};
        int64_t l3[3 * 5];
        float s3[3 * 5];
        cr_assert_eq(cvs_search(db, qs, 3, 5, 0, l3, s3), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "query 1: value 1 is not finite"), "%s",
                  cvs_errmsg(db));
        qs[3] = 0; /* query 2's finite but huge values: the norm's own error */
        cr_assert_eq(cvs_search(db, qs, 3, 5, 0, l3, s3), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "query 2: vector too large"), "%s", cvs_errmsg(db));
    }
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(search, empty_store)
{
    cvs_create_opts o = {2, CVS_METRIC_IP, CVS_RAW_F32};
    cvs_db *db;
    char *dir = tu_tmpdir();
    float q[2] = {1, 0}, s[2];
    int64_t l[2];
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    cr_assert_eq(cvs_search(db, q, 1, 2, 0, l, s), 0);
    cr_assert(l[0] == -1 && l[1] == -1);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(search, siftsmall_matches_ground_truth, .timeout = 120)
{
    float *base, *query;
    int32_t *gt;
    size_t nb, nq, ng;
    uint32_t db_dim, q_dim, g_dim;
    char *dir;
    cvs_db *db;
    int64_t *labels;
    float *scores;
    size_t hits = 0, ties = 0;
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", CVS_FMT_AUTO,
                               &base, &nb, &db_dim), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_query.fvecs", CVS_FMT_AUTO,
                               &query, &nq, &q_dim), 0);
    cr_assert_eq(cvs_ivecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_groundtruth.ivecs", &gt, &ng,
                                &g_dim), 0);
    cr_assert_eq(nb, 10000);
    cr_assert_eq(nq, 100);
    cr_assert_eq(ng, 100);
    cr_assert_eq(g_dim, 100);
    db = make_store(&dir, db_dim, CVS_METRIC_L2, CVS_RAW_F32, base, nb);
    labels = malloc(nq * 100 * sizeof *labels);
    scores = malloc(nq * 100 * sizeof *scores);
    cr_assert_eq(cvs_search(db, query, nq, 100, CVS_SEARCH_EXACT, labels, scores), 0);
    /* Keys are assigned from 1 in insertion order, so key-1 is the row. The
     * official ground truth breaks distance ties arbitrarily: a mismatch
     * is accepted only where the distances are equal. */
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < 100; j++) {
            int64_t got = labels[i * 100 + j] - 1, want = gt[i * 100 + j];
            if (got == want) {
                hits++;
            } else {
                double dg = 0, dw = 0;
                for (uint32_t d = 0; d < db_dim; d++) {
                    double a = query[i * db_dim + d] - base[got * db_dim + d];
                    double b = query[i * db_dim + d] - base[want * db_dim + d];
                    dg += a * a;
                    dw += b * b;
                }
                cr_assert(fabs(dg - dw) <= 1e-6 * dw, "query %zu rank %zu: %lld vs %d (%g vs %g)",
                          i, j, (long long)got, want, dg, dw);
                ties++;
            }
        }
    /* Only exact distance ties may differ (checked above), and they are rare. */
    cr_assert_eq(hits + ties, nq * 100);
    cr_assert_geq(hits, 9950, "hits %zu ties %zu", hits, ties);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    cvs_free(base);
    cvs_free(query);
    cvs_free(gt);
    free(labels);
    free(scores);
}
