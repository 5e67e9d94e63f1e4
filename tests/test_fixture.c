/* test_fixture.c -- stores written by format version 1 (tests/data/
 * fixture-v1) and 2 (fixture-v2, encrypted, same content) must still open
 * and read back exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
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
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}
