/*
 * test_faiss.c -- the FAISS C API as cvstore sees it: through the headers in
 * <faiss/c_api/>, implemented by index/faiss_c_shim.cpp on Debian (or by a
 * system libfaiss_c).  Checks that search matches brute force, that failures
 * come back as codes with a message instead of C++ exceptions, and that
 * cvs__faiss_err carries that message into cvs_errmsg.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "cvstore.h"
#include "index/faiss_util.h"
#include "tests/testutil.h"

#define D 24
#define NB 2000
#define NQ 25
#define K 10

/* Brute-force top-K by squared L2 (or by -IP when ip), ties broken by the
 * lower id as FAISS does. */
static void brute_force(const float *xb, size_t nb, const float *q, int ip,
                        int64_t *lab, float *dis)
{
    for (int j = 0; j < K; j++) {
        lab[j] = -1;
        dis[j] = INFINITY;
    }
    for (size_t i = 0; i < nb; i++) {
        float s = 0;
        for (int t = 0; t < D; t++) {
            if (ip)
                s -= xb[i * D + t] * q[t];
            else {
                float diff = xb[i * D + t] - q[t];
                s += diff * diff;
            }
        }
        if (s >= dis[K - 1])
            continue;
        int j = K - 1;
        while (j > 0 && dis[j - 1] > s) {
            dis[j] = dis[j - 1];
            lab[j] = lab[j - 1];
            j--;
        }
        dis[j] = s;
        lab[j] = (int64_t)i;
    }
}

/* The true distance of xb[i] to q: squared L2, or the inner product. */
static float true_distance(const float *xb, int64_t i, const float *q, int ip)
{
    float s = 0;
    for (int t = 0; t < D; t++) {
        if (ip)
            s += xb[i * D + t] * q[t];
        else {
            float diff = xb[i * D + t] - q[t];
            s += diff * diff;
        }
    }
    return s;
}

/* Every returned id is a distinct stored vector whose true distance is the
 * one reported, and those true distances are, rank by rank, the brute-force
 * top K (so the ids are the true top K up to exact ties). */
static void check_against_brute_force(FaissIndex *idx, const float *xb, int ip)
{
    float *xq = malloc(sizeof(float) * NQ * D);
    float dis[NQ * K], bdis[K];
    idx_t lab[NQ * K];
    int64_t blab[K];

    tu_randvecs(xq, (size_t)NQ * D, 99);
    cr_assert_eq(faiss_Index_search(idx, NQ, xq, K, dis, lab), 0, "%s", faiss_get_last_error());
    for (int q = 0; q < NQ; q++) {
        brute_force(xb, NB, xq + q * D, ip, blab, bdis);
        for (int j = 0; j < K; j++) {
            idx_t id = lab[q * K + j];
            float want = ip ? -bdis[j] : bdis[j], truth;
            cr_assert(id >= 0 && id < NB, "query %d rank %d: id %lld", q, j, (long long)id);
            for (int m = 0; m < j; m++)
                cr_assert_neq(lab[q * K + m], id, "query %d: id %lld twice", q, (long long)id);
            truth = true_distance(xb, id, xq + q * D, ip);
            cr_expect_float_eq(dis[q * K + j], truth, 1e-4f * (1 + fabsf(truth)),
                               "query %d rank %d: id %lld reported at %g, its distance is %g", q,
                               j, (long long)id, dis[q * K + j], truth);
            cr_expect_float_eq(truth, want, 1e-5f * (1 + fabsf(want)),
                               "query %d rank %d: id %lld at %g, the rank-%d distance is %g", q, j,
                               (long long)id, truth, j, want);
        }
    }
    free(xq);
}

Test(faiss, factory_flat_l2_matches_brute_force)
{
    FaissIndex *idx = NULL;
    float *xb = malloc(sizeof(float) * NB * D);
    tu_randvecs(xb, (size_t)NB * D, 7);

    cr_assert_eq(faiss_index_factory(&idx, D, "Flat", METRIC_L2), 0, "%s", faiss_get_last_error());
    cr_assert_not_null(idx);
    cr_expect_eq(faiss_Index_d(idx), D);
    cr_expect(faiss_Index_is_trained(idx));
    cr_assert_eq(faiss_Index_add(idx, NB, xb), 0, "%s", faiss_get_last_error());
    cr_expect_eq(faiss_Index_ntotal(idx), NB);
    check_against_brute_force(idx, xb, 0);

    cr_assert_eq(faiss_Index_reset(idx), 0);
    cr_expect_eq(faiss_Index_ntotal(idx), 0);
    faiss_Index_free(idx);
    free(xb);
}

Test(faiss, flat_ip_matches_brute_force)
{
    FaissIndexFlatIP *idx = NULL;
    float *xb = malloc(sizeof(float) * NB * D);
    tu_randvecs(xb, (size_t)NB * D, 8);

    cr_assert_eq(faiss_IndexFlatIP_new_with(&idx, D), 0);
    cr_assert_eq(faiss_Index_add(idx, NB, xb), 0);
    check_against_brute_force(idx, xb, 1);
    faiss_Index_free(idx);
    free(xb);
}

Test(faiss, add_with_ids_and_padding)
{
    FaissIndexFlat *flat = NULL;
    FaissIndex *idx = NULL;
    float xb[3 * D], dis[5];
    idx_t ids[3] = {100, 200, 300}, lab[5];

    tu_randvecs(xb, sizeof xb / sizeof xb[0], 3);
    /* Flat indexes number vectors themselves; IDMap takes explicit ids. */
    cr_assert_eq(faiss_IndexFlat_new_with(&flat, D, METRIC_L2), 0);
    cr_expect_neq(faiss_Index_add_with_ids(flat, 3, xb, ids), 0);
    cr_expect_gt(strlen(faiss_get_last_error()), 0);
    faiss_Index_free(flat);

    cr_assert_eq(faiss_index_factory(&idx, D, "IDMap,Flat", METRIC_L2), 0, "%s", faiss_get_last_error());
    cr_assert_eq(faiss_Index_add_with_ids(idx, 3, xb, ids), 0, "%s", faiss_get_last_error());
    cr_assert_eq(faiss_Index_search(idx, 1, xb + D, 5, dis, lab), 0);
    cr_expect_eq(lab[0], 200);
    cr_expect_float_eq(dis[0], 0.0f, 1e-6f);
    cr_expect_eq(lab[3], -1, "fewer than k results are padded with -1");
    cr_expect_eq(lab[4], -1);
    faiss_Index_free(idx);
}

Test(faiss, train_and_write_read_roundtrip)
{
    FaissIndex *idx = NULL, *back = NULL;
    float *xb = malloc(sizeof(float) * NB * D);
    char *dir = tu_tmpdir(), path[4200];
    float d1[K], d2[K];
    idx_t l1[K], l2[K];

    tu_randvecs(xb, (size_t)NB * D, 11);
    /* "np": Debian's factory would otherwise turn on polysemous training. */
    cr_assert_eq(faiss_index_factory(&idx, D, "PQ4x4np", METRIC_L2), 0, "%s", faiss_get_last_error());
    cr_expect_not(faiss_Index_is_trained(idx));
    faiss_Index_set_verbose(idx, 0);
    cr_expect_eq(faiss_Index_verbose(idx), 0);
    cr_assert_eq(faiss_Index_train(idx, NB, xb), 0, "%s", faiss_get_last_error());
    cr_expect(faiss_Index_is_trained(idx));
    cr_assert_eq(faiss_Index_add(idx, NB, xb), 0);

    snprintf(path, sizeof path, "%s/pq.faiss", dir);
    cr_assert_eq(faiss_write_index_fname(idx, path), 0, "%s", faiss_get_last_error());
    cr_assert_eq(faiss_read_index_fname(path, 0, &back), 0, "%s", faiss_get_last_error());
    cr_expect_eq(faiss_Index_ntotal(back), NB);
    cr_assert_eq(faiss_Index_search(idx, 1, xb, K, d1, l1), 0);
    cr_assert_eq(faiss_Index_search(back, 1, xb, K, d2, l2), 0);
    cr_expect_arr_eq(l1, l2, sizeof l1);

    cr_expect_neq(faiss_read_index_fname("/nonexistent/x.faiss", 0, &back), 0);
    cr_expect_gt(strlen(faiss_get_last_error()), 0);

    faiss_Index_free(back);
    faiss_Index_free(idx);
    tu_rmrf(dir);
    free(dir);
    free(xb);
}

Test(faiss, invalid_factory_string_is_an_error_not_an_exception)
{
    FaissIndex *idx = NULL;
    int rc = faiss_index_factory(&idx, D, "NoSuchIndex123", METRIC_L2);
    cr_expect_neq(rc, 0);
    cr_expect_null(idx);
    const char *msg = faiss_get_last_error();
    cr_assert_not_null(msg);
    cr_expect_gt(strlen(msg), 0, "FAISS gave no message");

    int crc = cvs__faiss_err(rc, "building NoSuchIndex123");
    cr_expect_eq(crc, CVS_EFAISS);
    cr_expect_not_null(strstr(cvs_errmsg(NULL), "building NoSuchIndex123: "));
    cr_expect_not_null(strstr(cvs_errmsg(NULL), "NoSuchIndex123"));
    cr_expect_eq(strchr(cvs_errmsg(NULL), '\n'), NULL, "detail should be one line");
    cr_log_info("%s", cvs_errmsg(NULL));
}

Test(faiss, success_passes_through_untouched)
{
    cr_expect_eq(cvs__faiss_err(0, "anything"), CVS_OK);
}

Test(faiss, search_with_wrong_k_is_reported)
{
    FaissIndex *idx = NULL;
    float x[D] = {0}, dis[1];
    idx_t lab[1];
    cr_assert_eq(faiss_index_factory(&idx, D, "Flat", METRIC_L2), 0);
    cr_assert_eq(faiss_Index_add(idx, 1, x), 0);
    int rc = faiss_Index_search(idx, 1, x, 0, dis, lab);
    cr_expect_neq(rc, 0, "k = 0 is rejected by FAISS");
    cr_expect_eq(cvs__faiss_err(rc, NULL), CVS_EFAISS);
    cr_expect_gt(strlen(cvs_errmsg(NULL)), 0);
    faiss_Index_free(idx);
}
