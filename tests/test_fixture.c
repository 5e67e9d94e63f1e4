/* test_fixture.c -- stores written by format version 1 (tests/data/
 * fixture-v1) and 2 (fixture-v2, encrypted, same content) must still open
 * and read back exactly, and a codec of blob version 3 (fixture-rbq3-f32:
 * rabitq, one centre) must still be read, written back and score. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "pq/codec.h"
#include "tests/testutil.h"

/* Copies tests/data/NAME/data.mdb into a fresh directory (malloc'd path). */
static char *fixture_copy(const char *name)
{
    char *dir = tu_tmpdir(), cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s/%s/data.mdb' '%s/'", CVS_TEST_DATA, name, dir);
    cr_assert_eq(system(cmd), 0);
    return dir;
}

/* Every field of the fixture's three records, and a code search. */
static void fixture_reads_back(cvs_db *db, uint32_t version)
{
    cvs_info info;
    cvs_txn *t;
    cvs_record r;
    float v[3];
    uint64_t problems;
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert_eq(info.format_version, version);
    cr_assert_eq(info.dim, 3);
    cr_assert_eq(info.metric, CVS_METRIC_COSINE);
    cr_assert_eq(info.raw, CVS_RAW_F16);
    cr_assert_eq(info.count, 3);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &r, v), 0);
    cr_assert(v[0] == 1.0f && v[1] == 0.0f && v[2] == 0.0f);
    cr_assert_eq(r.text_len, 5);
    cr_assert_eq(memcmp(r.text, "alpha", 5), 0);
    cr_assert_eq(r.meta_len, 7);
    cr_assert_eq(memcmp(r.meta, "{\"k\":1}", 7), 0);
    cr_assert_eq(r.nlinks, 2);
    cr_assert_str_eq(r.links[0].type, "next");
    cr_assert_float_eq(r.links[0].weight, 0.5f, 0);
    cr_assert_eq(cvs_get(t, "c", 1, &r, v), 0);
    cr_assert_float_eq(v[0], 0.57735f, 1e-3);
    {
        /* The stored sq8 codec and codes: "b" (0,1,0 after normalization)
         * is its own nearest code. */
        cvs_codec_info ci;
        cvs_search_params p = {.flags = CVS_SEARCH_CODES, .rerank = 0};
        float q[3] = {0, 1, 0}, s[1];
        int64_t l[1];
        const char *id;
        size_t len;
        cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
        cr_assert_str_eq(ci.spec, "sq8");
        cr_assert_eq(ci.code_bytes, 3);
        cr_assert_eq(cvs_txn_search_params(t, q, 1, 1, &p, l, s), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_key_id(t, l[0], &id, &len), 0);
        cr_assert(len == 1 && id[0] == 'b');
    }
    cvs_txn_end(t);
}

Test(fixture, format_v1_reads_back)
{
    char *dir = fixture_copy("fixture-v1");
    cvs_db *db;
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    fixture_reads_back(db, 1);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(fixture, format_v2_encrypted_reads_back)
{
    char *dir = fixture_copy("fixture-v2");
    cvs_open_opts oo = {0, "fixture", 7}, bad = {0, "fixturf", 7};
    cvs_db *db = NULL;
    cr_assert_eq(cvs_db_open_opts(dir, &bad, &db), CVS_EKEY);
    cr_assert_eq(cvs_db_open(dir, 0, &db), CVS_EKEY);
    cr_assert_eq(cvs_db_open_opts(dir, &oo, &db), 0, "%s", cvs_errmsg(NULL));
    fixture_reads_back(db, 2);
    {
        /* Its BM25 index is tokenizer version 1's: sound, noted, and
         * rebuilt by the next write, after which the store checks clean
         * and still finds its words. */
        int outdated = 9;
        uint64_t problems = 9;
        float v[3] = {0, 0, 1};
        cvs_record r = tu_rec("d", v);
        int64_t keys[1];
        float scores[1];
        cr_assert_eq(cvs_text_index_outdated(db, &outdated), 0);
        cr_assert_eq(outdated, 1);
        r.text = "delta";
        r.text_len = 5;
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_text_index_outdated(db, &outdated), 0);
        cr_assert_eq(outdated, 0);
        cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
        cr_assert_eq(problems, 0);
        cr_assert_eq(cvs_text_search(db, "alpha", 5, 1, keys, scores), 0, "%s", cvs_errmsg(db));
        cr_assert_geq(keys[0], 0);
    }
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

/* The version 3 codec as the old build wrote it: read, serialized back to
 * the same bytes (a build that keeps it, IVF over a raw none store's codes,
 * writes it so), codes of 16 * 4 / 8 + 12 bytes, and the estimates of the
 * stored vectors' codes (ip) within their bound of the exact scores. */
Test(fixture, rabitq_v3_codec_reads_back_and_scores)
{
    enum { N = 240, D = 16, CS = D * 4 / 8 + 12 };
    char *dir = fixture_copy("fixture-rbq3-f32"), id[8];
    cvs_db *db;
    cvs_txn *t;
    cvs_record r;
    cvs_codec *c = NULL;
    void *blob = NULL;
    uint8_t *back = NULL, *codes = malloc((size_t)N * CS);
    size_t len = 0, blen = 0, within = 0;
    float *x = malloc((size_t)N * D * sizeof *x), *y = malloc((size_t)N * D * sizeof *y);
    float q[D], est[N], err[N], *qb;
    double worst = 0, bias = 0, mean_err = 0;
    cr_assert(codes && x && y);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_codec_export(db, &blob, &len), 0, "%s", cvs_errmsg(db));
    cr_assert(len > 12 && ((const uint8_t *)blob)[8] == 3, "blob version %u",
              ((const uint8_t *)blob)[8]);
    cr_assert_eq(cvs__codec_deserialize(blob, len, &c), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__codec_code_size(c), CS);
    cr_assert_eq(cvs__codec_blob_version(c), 3);
    cr_assert_eq(cvs__codec_serialize(c, &back, &blen), 0, "%s", cvs_errmsg(NULL));
    cr_assert(blen == len && !memcmp(back, blob, len), "written back differently");
    /* The version 3 parser is as strict as the others: every truncation and
     * every single bit flip is refused (CRC-32 sees any one flip). */
    for (size_t l = 0; l < len; l++) {
        cvs_codec *b = NULL;
        cr_assert_neq(cvs__codec_deserialize(blob, l, &b), 0, "truncation to %zu accepted", l);
        cr_assert_null(b);
    }
    for (size_t bit = 0; bit < len * 8; bit += 7) {
        cvs_codec *b = NULL;
        int rc;
        back[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        rc = cvs__codec_deserialize(back, len, &b);
        cr_assert(rc == CVS_ECORRUPT || rc == CVS_EVERSION, "flip of bit %zu gave %d", bit, rc);
        back[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "%d", i);
        cr_assert_eq(cvs_get(t, id, strlen(id), &r, x + (size_t)i * D), 0, "%s",
                     cvs_errmsg(db));
    }
    cvs_txn_end(t);
    cr_assert_eq(cvs__codec_encode(c, x, N, codes), 0);
    /* A reconstruction is the projection on the code's direction: never
     * farther from the vector than the centre is. */
    cr_assert_eq(cvs__codec_decode(c, codes, N, y), 0);
    for (int i = 0; i < N; i++) {
        double e = 0, n = 0;
        for (int d = 0; d < D; d++) {
            e += (x[i * D + d] - y[i * D + d]) * (x[i * D + d] - y[i * D + d]);
            n += x[i * D + d] * x[i * D + d];
        }
        cr_assert(e < 0.05 * n, "record %d: reconstruction error %g of %g", i, e, n);
    }
    /* Along the dimensions the data's mean leans on (its README: +3 on
     * every third), so that the centre's share q.c is large. */
    for (int d = 0; d < D; d++)
        q[d] = d % 3 == 0 ? 3.0f : (float)((d * 7) % 5) - 2.0f;
    qb = malloc(cvs__codec_rbq_query_floats(c) * sizeof *qb);
    cr_assert_not_null(qb);
    cr_assert_eq(cvs__codec_rbq_prepare(c, q, qb), 0);
    cvs__codec_rbq_estimate(c, qb, codes, N, est, err);
    for (int i = 0; i < N; i++) {
        double ip = 0;
        for (int d = 0; d < D; d++)
            ip += (double)q[d] * x[i * D + d];
        /* est is minus the inner product; err the bound at eps0 = 1. */
        if (fabs(-est[i] - ip) <= 2.6 * err[i])
            within++;
        if (fabs(-est[i] - ip) > worst)
            worst = fabs(-est[i] - ip);
        bias += (-est[i] - ip) / N;
        mean_err += err[i] / N;
        cr_assert(err[i] > 0 && isfinite(err[i]), "record %d: bound %g", i, err[i]);
    }
    cr_assert_geq(within, N * 95 / 100, "%zu of %d within 2.6 bounds (worst error %g)", within,
                  N, worst);
    /* Unbiased: the errors of 240 codes average out far below one bound. */
    cr_assert_lt(fabs(bias), 0.25 * mean_err, "mean error %g, mean bound %g", bias, mean_err);
    cr_log_info("v3 ip estimates: %zu of %d within 2.6 bounds, worst %g, mean error %g, mean "
                "bound %g", within, N, worst, bias, mean_err);
    free(qb);
    free(back);
    free(blob);
    cvs__codec_free(c);
    free(codes);
    free(x);
    free(y);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}
