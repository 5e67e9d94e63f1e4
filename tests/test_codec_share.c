/* test_codec_share.c -- cvs_codec_export and cvs_build_with_codec: a codec
 * trained in one store, given to another, gives that store's records the
 * codes (and code distances) the first store gives the same vectors; a
 * damaged blob or one of another dimension or metric is refused and
 * changes nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"

#define DIM 32
#define N 1200

static cvs_db *make(const char *dir, uint32_t dim, cvs_metric metric, cvs_raw raw, const float *x,
                    size_t n, size_t first)
{
    cvs_create_opts o = {dim, metric, raw};
    cvs_record *r = calloc(n, sizeof *r);
    char (*ids)[16] = calloc(n, sizeof *ids);
    cvs_db *db;
    cr_assert(r && ids);
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%zu", first + i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = x + i * dim;
    }
    cr_assert_eq(cvs_put(db, r, n, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(r);
    free(ids);
    return db;
}

/* Code distances (no re-ranking) of q to the store's best 10. */
static void codes10(cvs_db *db, const float *q, int64_t *l, float *s)
{
    cvs_search_params p = {.flags = CVS_SEARCH_CODES, .rerank = 0};
    cvs_txn *t;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, 1, 10, &p, l, s), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
}

Test(codec_share, same_codes_in_another_store, .timeout = 120)
{
    float *x = malloc((size_t)N * DIM * sizeof *x), q[DIM];
    char *da = tu_tmpdir(), *db_ = tu_tmpdir();
    cvs_db *a, *b;
    void *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0;
    cvs_codec_info ia, ib;
    int64_t lb[10];
    float sb[10];
    cr_assert(x);
    tu_randvecs(x, (size_t)N * DIM, 5);
    tu_randvecs(q, DIM, 6);
    /* a holds every record; b only the second half, with the same ids. */
    a = make(da, DIM, CVS_METRIC_L2, CVS_RAW_NONE, x, N, 0);
    b = make(db_, DIM, CVS_METRIC_L2, CVS_RAW_NONE, x + (size_t)(N / 2) * DIM, N / 2, N / 2);
    cr_assert_eq(cvs_codec_export(a, &blob, &len), CVS_NOTFOUND);
    cr_assert_eq(cvs_build(a, "pq8", NULL), 0, "%s", cvs_errmsg(a));
    cr_assert_eq(cvs_codec_export(a, &blob, &len), 0, "%s", cvs_errmsg(a));
    cr_assert_gt(len, 16);
    cr_assert_eq(cvs_build_with_codec(b, blob, len, NULL), 0, "%s", cvs_errmsg(b));
    cr_assert_eq(cvs_codec_get_info(a, &ia), 0);
    cr_assert_eq(cvs_codec_get_info(b, &ib), 0);
    cr_assert_str_eq(ia.spec, ib.spec);
    cr_assert_eq(ib.generation, 1);
    /* The blob round-trips unchanged. */
    cr_assert_eq(cvs_codec_export(b, &blob2, &len2), 0);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(blob, blob2, len), 0);
    /* Every record of b has the code a gives the same vector: in raw
     * "none" stores a read decodes the stored code, so equal decoded
     * vectors mean equal codes. */
    {
        cvs_txn *ta, *tb;
        cvs_iter *it;
        cvs_record r, ra;
        float va[DIM], vb[DIM];
        size_t seen = 0;
        cr_assert_eq(cvs_txn_begin(a, &ta), 0);
        cr_assert_eq(cvs_txn_begin(b, &tb), 0);
        cr_assert_eq(cvs_iter_open(tb, &it), 0);
        while (cvs_iter_next(it, &r, vb) == CVS_OK) {
            cr_assert_eq(cvs_get(ta, r.id, r.id_len, &ra, va), 0);
            cr_assert_eq(memcmp(va, vb, sizeof va), 0, "id %.*s: another code in b",
                         (int)r.id_len, r.id);
            seen++;
        }
        cr_assert_eq(seen, N / 2);
        cvs_iter_close(it);
        cvs_txn_end(ta);
        cvs_txn_end(tb);
    }
    /* And b answers code searches with its new codes. */
    codes10(b, q, lb, sb);
    cr_assert_geq(lb[0], 0);
    cvs_free(blob2);
    cvs_free(blob);
    cvs_db_close(a);
    cvs_db_close(b);
    tu_rmrf(da);
    tu_rmrf(db_);
    free(da);
    free(db_);
    free(x);
}

Test(codec_share, refused_blobs_change_nothing, .timeout = 120)
{
    float *x = malloc((size_t)N * DIM * sizeof *x);
    char *da = tu_tmpdir(), *d2 = tu_tmpdir(), *d3 = tu_tmpdir();
    cvs_db *a, *other_dim, *other_metric;
    void *blob = NULL;
    uint8_t *bad;
    size_t len = 0;
    cvs_codec_info ci;
    cr_assert(x);
    tu_randvecs(x, (size_t)N * DIM, 9);
    a = make(da, DIM, CVS_METRIC_L2, CVS_RAW_F32, x, N, 0);
    other_dim = make(d2, DIM / 2, CVS_METRIC_L2, CVS_RAW_F32, x, 100, 0);
    other_metric = make(d3, DIM, CVS_METRIC_IP, CVS_RAW_F32, x, 100, 0);
    cr_assert_eq(cvs_build(a, "pq8", NULL), 0, "%s", cvs_errmsg(a));
    cr_assert_eq(cvs_codec_export(a, &blob, &len), 0);
    cr_assert_eq(cvs_build_with_codec(other_dim, blob, len, NULL), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(other_dim), "dimension"), "%s", cvs_errmsg(other_dim));
    cr_assert_eq(cvs_build_with_codec(other_metric, blob, len, NULL), CVS_EINVAL);
    cr_assert_eq(cvs_codec_get_info(other_dim, &ci), CVS_NOTFOUND);
    cr_assert_eq(cvs_codec_get_info(other_metric, &ci), CVS_NOTFOUND);
    bad = malloc(len);
    cr_assert(bad);
    memcpy(bad, blob, len);
    bad[len / 2] ^= 0x40; /* the CRC catches it */
    cr_assert_eq(cvs_build_with_codec(a, bad, len, NULL), CVS_ECORRUPT);
    cr_assert_eq(cvs_build_with_codec(a, blob, len / 2, NULL), CVS_ECORRUPT);
    cr_assert_eq(cvs_codec_get_info(a, &ci), 0);
    cr_assert_eq(ci.generation, 1, "a refused blob must not write a generation");
    cr_assert_eq(cvs_build_with_codec(a, blob, len, &(cvs_build_opts){.index = "ivf"}),
                 CVS_EINVAL);
    free(bad);
    cvs_free(blob);
    cvs_db_close(a);
    cvs_db_close(other_dim);
    cvs_db_close(other_metric);
    tu_rmrf(da);
    tu_rmrf(d2);
    tu_rmrf(d3);
    free(da);
    free(d2);
    free(d3);
    free(x);
}

/* ANN results (ids and scores) of nq queries, k 10, nprobe 4, rerank 20. */
static void ann10(cvs_db *db, const float *q, size_t nq, char (*ids)[16], float *s)
{
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 4, .rerank = 20, .threads = 1};
    int64_t *l = malloc(nq * 10 * sizeof *l);
    cvs_txn *t;
    cr_assert(l);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, nq, 10, &p, l, s), 0, "%s", cvs_errmsg(db));
    for (size_t i = 0; i < nq * 10; i++) {
        const char *id = "";
        size_t il = 0;
        if (l[i] >= 0)
            cr_assert_eq(cvs_key_id(t, l[i], &id, &il), 0);
        snprintf(ids[i], sizeof ids[i], "%.*s", (int)il, id);
    }
    cvs_txn_end(t);
    free(l);
}

/* A store built from another's exported codec and IVF centroids, on the
 * same records (put in another order, so that internal keys differ), gives
 * the same ANN results; residual codes (cosine) and SQ8 re-ranking carry
 * over; a damaged index blob, or one of another dimension, changes nothing. */
Test(codec_share, same_ann_results_in_another_store, .timeout = 120)
{
    static const char *const specs[] = {"ivf16", "ivf16,sq8"};
    static const cvs_metric metrics[] = {CVS_METRIC_L2, CVS_METRIC_COSINE};
    float *x = malloc((size_t)N * DIM * sizeof *x), *xr = malloc((size_t)N * DIM * sizeof *xr);
    float *q = malloc((size_t)20 * DIM * sizeof *q), sa[200], sb[200];
    char ida[200][16], idb[200][16];
    cr_assert(x && xr && q);
    tu_randvecs(x, (size_t)N * DIM, 15);
    tu_randvecs(q, (size_t)20 * DIM, 16);
    for (size_t i = 0; i < N; i++) /* reversed: the same records, other keys */
        memcpy(xr + i * DIM, x + (N - 1 - i) * DIM, DIM * sizeof *x);
    for (int v = 0; v < 2; v++) {
        char *da = tu_tmpdir(), *db_ = tu_tmpdir(), *d2 = tu_tmpdir();
        cvs_db *a = make(da, DIM, metrics[v], CVS_RAW_F32, x, N, 0), *b, *small;
        cvs_record *r = calloc(N, sizeof *r);
        char (*rid)[16] = calloc(N, sizeof *rid);
        void *cb = NULL, *ib = NULL, *ib2 = NULL;
        size_t cl = 0, il = 0, il2 = 0;
        cvs_index_info ia, ibi;
        cvs_create_opts co = {DIM, metrics[v], CVS_RAW_F32};
        uint8_t *bad;
        cr_assert(r && rid);
        cr_assert_eq(cvs_db_create(db_, &co, &b), 0);
        for (size_t i = 0; i < N; i++) {
            snprintf(rid[i], sizeof rid[i], "%zu", N - 1 - i);
            r[i].id = rid[i];
            r[i].id_len = strlen(rid[i]);
            r[i].vector = xr + i * DIM;
        }
        cr_assert_eq(cvs_put(b, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(b));
        small = make(d2, DIM / 2, metrics[v], CVS_RAW_F32, x, 100, 0);
        cr_assert_eq(cvs_build(a, "pq8", NULL), 0);
        cr_assert_eq(cvs_index_export(a, &ib, &il), CVS_NOTFOUND, "codes only: no index");
        cr_assert_eq(cvs_build(a, "pq8", &(cvs_build_opts){.index = specs[v]}), 0, "%s",
                     cvs_errmsg(a));
        cr_assert_eq(cvs_codec_export(a, &cb, &cl), 0);
        cr_assert_eq(cvs_index_export(a, &ib, &il), 0, "%s", cvs_errmsg(a));
        /* Refused: damaged, truncated, another dimension; b keeps no index. */
        bad = malloc(il);
        cr_assert(bad);
        memcpy(bad, ib, il);
        memcpy(bad + 40, &(float){NAN}, 4); /* inside the centroids */
        cr_assert_eq(cvs_build_with_index(b, cb, cl, bad, il, NULL), CVS_ECORRUPT);
        cr_assert_eq(cvs_build_with_index(b, cb, cl, ib, il - 4, NULL), CVS_ECORRUPT);
        cr_assert_eq(cvs_build_with_index(small, cb, cl, ib, il, NULL), CVS_EINVAL);
        cr_assert_eq(cvs_index_get_info(b, &ibi), CVS_NOTFOUND);
        free(bad);

        cr_assert_eq(cvs_build_with_index(b, cb, cl, ib, il, NULL), 0, "%s", cvs_errmsg(b));
        cr_assert_eq(cvs_index_get_info(a, &ia), 0);
        cr_assert_eq(cvs_index_get_info(b, &ibi), 0);
        cr_assert_str_eq(ia.spec, ibi.spec);
        cr_assert_eq(ia.residual, ibi.residual);
        cr_assert_eq(ia.residual, v == 1, "cosine builds residual codes");
        cr_assert_eq(ibi.count, N);
        /* The exported blob of b is a's, but for the generation. */
        cr_assert_eq(cvs_index_export(b, &ib2, &il2), 0);
        cr_assert_eq(il2, il);
        cr_assert_eq(memcmp((char *)ib + 32, (char *)ib2 + 32, il - 32), 0);
        ann10(a, q, 20, ida, sa);
        ann10(b, q, 20, idb, sb);
        for (size_t i = 0; i < 200; i++) {
            cr_assert_str_eq(ida[i], idb[i], "%s: result %zu: %s vs %s", specs[v], i, ida[i],
                             idb[i]);
            cr_assert_float_eq(sa[i], sb[i], 1e-5f, "%s: result %zu", specs[v], i);
        }
        cvs_free(cb);
        cvs_free(ib);
        cvs_free(ib2);
        free(r);
        free(rid);
        cvs_db_close(a);
        cvs_db_close(b);
        cvs_db_close(small);
        tu_rmrf(da);
        tu_rmrf(db_);
        tu_rmrf(d2);
        free(da);
        free(db_);
        free(d2);
    }
    free(q);
    free(xr);
    free(x);
}
