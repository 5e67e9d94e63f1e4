/*
 * test_import.c -- cvs_import end to end: values arrive exactly, a file
 * that fails validation anywhere changes nothing, re-imports are idempotent,
 * jsonl ids/links/meta/text and ids files behave as documented.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cvstore.h"
#include "tests/testutil.h"

#define D 16
#define N 2500
#define BATCH 1000

static char *dir;
static cvs_db *db;

static void open_store(cvs_metric m)
{
    char path[4200];
    cvs_create_opts o = {D, m, CVS_RAW_F32};
    snprintf(path, sizeof path, "%s/store", dir);
    cr_assert_eq(cvs_db_create(path, &o, &db), 0, "%s", cvs_errmsg(NULL));
}

static void setup(void)
{
    dir = tu_tmpdir();
    open_store(CVS_METRIC_L2);
}

static void teardown(void)
{
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

TestSuite(import, .init = setup, .fini = teardown);

static char *fvecs(const char *name, const float *v, size_t n)
{
    size_t rec = 4 + D * 4;
    unsigned char *b = malloc(n * rec);
    char *p;
    for (size_t i = 0; i < n; i++) {
        int32_t d = D;
        memcpy(b + i * rec, &d, 4);
        memcpy(b + i * rec + 4, v + i * D, D * 4);
    }
    p = tu_write_file(dir, name, b, n * rec);
    free(b);
    return p;
}

static char *text_file(const char *name, const char *s)
{
    return tu_write_file(dir, name, s, strlen(s));
}

static uint64_t count(void)
{
    cvs_info info;
    cr_assert_eq(cvs_db_info(db, &info), 0);
    return info.count;
}

static void expect_vec(const char *id, const float *want)
{
    cvs_txn *t;
    cvs_record r;
    float got[D];
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, got), 0, "get %s: %s", id, cvs_errmsg(db));
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "record %s differs", id);
    cvs_txn_end(t);
}

typedef struct pstat {
    int final_validate, final_write, calls;
    uint64_t last_done;
} pstat;

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    pstat *p = ctx;
    p->calls++;
    cr_assert_leq(bytes_done, bytes_total);
    if (done == total && bytes_done == bytes_total) {
        if (strcmp(phase, "validate") == 0)
            p->final_validate++;
        else if (strcmp(phase, "write") == 0)
            p->final_write++;
    }
    p->last_done = done;
}

Test(import, fvecs_multi_batch_then_idempotent)
{
    float *v = malloc(N * D * sizeof *v);
    char *p;
    cvs_import_opts o = {0};
    cvs_import_stats st;
    pstat ps = {0};
    tu_randvecs(v, N * D, 11);
    p = fvecs("a.fvecs", v, N);
    o.batch = BATCH;
    o.progress = on_progress;
    o.progress_ctx = &ps;
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), N);
    cr_assert_eq(st.records, N);
    cr_assert_eq(st.inserted, N);
    cr_assert_eq(st.updated, 0);
    cr_assert_eq(st.bytes, (uint64_t)N * (4 + D * 4));
    cr_assert_geq(ps.final_validate, 1);
    cr_assert_geq(ps.final_write, 1);
    cr_assert_eq(ps.last_done, N);
    expect_vec("0", v);
    expect_vec("1234", v + 1234 * D);
    expect_vec("2499", v + 2499 * D);

    /* Re-running the same import: every record is an update. */
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), N);
    cr_assert_eq(st.inserted, 0);
    cr_assert_eq(st.updated, N);
    expect_vec("1234", v + 1234 * D);
    free(p);
    free(v);
}

/* A batch larger than the file is the whole file in one transaction:
 * `cvstore import DB f --batch 100000000` of 1,000 records failed "out of
 * memory for a batch of 100000000 records" (exit 2), the buffers sized by
 * the batch asked for instead of the records there are. */
Test(import, a_batch_larger_than_the_file_is_one_batch)
{
    enum { SMALL = 100 };
    float *v = malloc(SMALL * D * sizeof *v);
    char *p;
    cvs_import_opts o = {.batch = (size_t)1 << 40};
    cvs_import_stats st;
    tu_randvecs(v, SMALL * D, 12);
    p = fvecs("small.fvecs", v, SMALL);
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.inserted, SMALL);
    cr_assert_eq(count(), SMALL);
    expect_vec("99", v + 99 * D);
    free(p);
    free(v);
}

Test(import, bad_record_late_in_file_changes_nothing)
{
    float *v = malloc(N * D * sizeof *v), *w = malloc(N * D * sizeof *w);
    cvs_import_opts o = {0};
    char *p, *q;
    tu_randvecs(v, N * D, 12);
    tu_randvecs(w, N * D, 13);
    o.batch = BATCH;
    p = fvecs("good.fvecs", v, N);
    cr_assert_eq(cvs_import(db, p, &o, NULL), 0, "%s", cvs_errmsg(db));
    /* Same ids, new values, and a NaN in the third batch. */
    w[2300 * D + 5] = NAN;
    q = fvecs("bad.fvecs", w, N);
    cr_assert_eq(cvs_import(db, q, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "record 2300: value 5 is NaN"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), N);
    expect_vec("0", v);
    expect_vec("999", v + 999 * D);
    expect_vec("2000", v + 2000 * D);
    free(q);
    /* A truncated file likewise. */
    w[2300 * D + 5] = 0;
    q = fvecs("trunc.fvecs", w, N);
    cr_assert(truncate(q, (off_t)N * (4 + D * 4) - 3) == 0);
    cr_assert_eq(cvs_import(db, q, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "record 2499: truncated"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), N);
    expect_vec("0", v);
    free(q);
    free(p);
    free(v);
    free(w);
}

Test(import, wrong_dimension)
{
    float v[3 * 8] = {0};
    unsigned char b[3 * 36];
    char *p;
    for (int i = 0; i < 3; i++) {
        int32_t d = 8;
        memcpy(b + i * 36, &d, 4);
        memcpy(b + i * 36 + 4, v + i * 8, 32);
    }
    p = tu_write_file(dir, "d8.fvecs", b, sizeof b);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EDIM);
    cr_assert(strstr(cvs_errmsg(db), "expected 16"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    free(p);
    p = text_file("d.jsonl", "{\"id\":\"a\",\"vector\":[1,2]}\n");
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EDIM);
    cr_assert(strstr(cvs_errmsg(db), "line 1: expected 16 values, got 2"), "%s", cvs_errmsg(db));
    free(p);
    p = text_file("g.ivecs", "x");
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINVAL);
    free(p);
}

/* A jsonl line for id with vector seed, plus extra JSON members. */
static void jline(char **buf, size_t *len, const char *id, uint64_t seed, const char *extra)
{
    float v[D];
    char tmp[4096];
    int k;
    FILE *f = open_memstream(buf, len);
    tu_randvecs(v, D, seed);
    k = snprintf(tmp, sizeof tmp, "{\"id\": %s, \"vector\": [", id);
    fwrite(tmp, 1, (size_t)k, f);
    for (int i = 0; i < D; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", v[i]);
    fprintf(f, "]%s%s}\n", extra ? ", " : "", extra ? extra : "");
    fclose(f);
}

static char *jsonl_file(const char *name, int n, int dup_at, const char *bad_line, int bad_at)
{
    char path[4200];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        char *b, id[64], extra[256];
        size_t l;
        if (i == bad_at) {
            fprintf(f, "%s\n", bad_line);
            continue;
        }
        snprintf(id, sizeof id, "\"doc-%d\"", i == dup_at ? 3 : i);
        /* Each record links to the next one (a forward link) and the first. */
        snprintf(extra, sizeof extra,
                 "\"text\": \"text of %d\", \"meta\": {\"n\": %d,  \"tag\": \"t\"}, "
                 "\"links\": [\"doc-%d\", {\"id\": \"doc-0\", \"type\": \"first\", \"weight\": 0.5}]",
                 i, i, (i + 1) % n);
        jline(&b, &l, id, (uint64_t)i, extra);
        fwrite(b, 1, l, f);
        free(b);
        if (i % 7 == 0)
            fputs("\n", f); /* blank lines are skipped */
    }
    fclose(f);
    return strdup(path);
}

Test(import, jsonl_records_links_meta_text)
{
    char *p = jsonl_file("a.jsonl", N, -1, NULL, -1);
    cvs_import_opts o = {0};
    cvs_import_stats st;
    cvs_txn *t;
    cvs_record r;
    float got[D], want[D];
    o.batch = BATCH;
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.inserted, N);
    cr_assert_eq(count(), N);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "doc-42", 6, &r, got), 0, "%s", cvs_errmsg(db));
    tu_randvecs(want, D, 42);
    for (int i = 0; i < D; i++)
        cr_assert_eq(got[i], want[i]);
    cr_assert_eq(r.text_len, strlen("text of 42"));
    cr_assert_eq(memcmp(r.text, "text of 42", r.text_len), 0);
    cr_assert_eq(r.meta_len, strlen("{\"n\":42,\"tag\":\"t\"}"));
    cr_assert_eq(memcmp(r.meta, "{\"n\":42,\"tag\":\"t\"}", r.meta_len), 0);
    cr_assert_eq(r.nlinks, 2);
    cr_assert_eq(memcmp(r.links[0].id, "doc-43", 6), 0);
    cr_assert_str_eq(r.links[1].type, "first");
    cr_assert_eq(r.links[1].weight, 0.5f);
    cvs_txn_end(t);
    {
        uint64_t problems;
        cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
        cr_assert_eq(problems, 0);
    }
    /* Idempotent. */
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.updated, N);
    cr_assert_eq(count(), N);
    free(p);
}

Test(import, jsonl_duplicate_id)
{
    char *p = jsonl_file("dup.jsonl", 100, 57, NULL, -1);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    /* doc-3 is on line 5 (a blank line follows line 1); its copy, record
     * 57, on line 58 + 9 blank lines. */
    cr_assert(strstr(cvs_errmsg(db), "duplicate id \"doc-3\" (first seen on line 5)"), "%s",
              cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "line 67:"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    free(p);
    /* An integer id and the same id as a string are the same id. */
    p = text_file("dup2.jsonl", "{\"id\": 7, \"vector\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}\n"
                                "{\"id\": \"7\", \"vector\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}\n");
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 2: duplicate id \"7\" (first seen on line 1)"), "%s",
              cvs_errmsg(db));
    free(p);
}

Test(import, jsonl_bad_line_late_changes_nothing)
{
    char *p = jsonl_file("bad.jsonl", N, -1, "{\"id\": \"x\", \"vector\": [1, 2, \"oops\"", 2200);
    cvs_import_opts o = {0};
    o.batch = BATCH;
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "bad JSON"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    free(p);
    p = text_file("utf.jsonl", "{\"id\": \"a\xff\", \"vector\": [1]}\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1: invalid UTF-8"), "%s", cvs_errmsg(db));
    free(p);
    p = text_file("inf.jsonl", "{\"id\": \"a\", \"vector\": [1e999]}\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    free(p);
    cr_assert_eq(count(), 0);
}

/* A file of no records -- what export writes for an empty store -- imports
 * as nothing and succeeds, so that a backup of an empty store restores;
 * stats say 0 records.  An ids file with ids for no records still fails. */
Test(import, no_records_import_as_nothing)
{
    static const char *const empties[] = {"", "\n\n  \n"};
    cvs_import_stats st;
    char *p, *ids;
    for (size_t i = 0; i < 2; i++) {
        p = text_file("e.jsonl", empties[i]);
        st.records = 99;
        cr_assert_eq(cvs_import(db, p, NULL, &st), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(st.records, 0);
        cr_assert_eq(st.inserted + st.updated, 0);
        cr_assert_eq(cvs_import_check(db, p, NULL, &st), 0, "%s", cvs_errmsg(db));
        free(p);
    }
    p = text_file("e.fvecs", "");
    cr_assert_eq(cvs_import(db, p, NULL, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.records, 0);
    ids = text_file("ids.txt", "a\n");
    {
        cvs_import_opts o = {.ids_path = ids};
        cr_assert_eq(cvs_import(db, p, &o, &st), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "more ids than the 0 records"), "%s", cvs_errmsg(db));
    }
    /* Loading vectors (queries) from an empty file is still an error. */
    {
        float *v = NULL;
        size_t n;
        uint32_t d;
        cr_assert_eq(cvs_vecs_load(p, CVS_FMT_AUTO, &v, &n, &d), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(NULL), "empty file"), "%s", cvs_errmsg(NULL));
    }
    free(ids);
    free(p);
    cr_assert_eq(count(), 0);
}

Test(import, jsonl_links_unknown_and_in_store)
{
    char *a, *b, *c;
    jline(&a, &(size_t){0}, "\"base\"", 1, NULL);
    jline(&b, &(size_t){0}, "\"x\"", 2, "\"links\": [\"base\", \"nowhere\"]");
    jline(&c, &(size_t){0}, "\"y\"", 3, "\"links\": [{\"id\": \"base\"}]");
    {
        char *p = text_file("l1.jsonl", b);
        cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "line 1: link to unknown id \"base\""), "%s", cvs_errmsg(db));
        free(p);
    }
    {
        char *p = text_file("base.jsonl", a);
        cr_assert_eq(cvs_import(db, p, NULL, NULL), 0, "%s", cvs_errmsg(db));
        free(p);
    }
    {
        char *p = text_file("l2.jsonl", b);
        cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "link to unknown id \"nowhere\""), "%s", cvs_errmsg(db));
        free(p);
    }
    {
        char *p = text_file("l3.jsonl", c); /* target already in the store */
        cr_assert_eq(cvs_import(db, p, NULL, NULL), 0, "%s", cvs_errmsg(db));
        free(p);
    }
    cr_assert_eq(count(), 2);
    free(a);
    free(b);
    free(c);
}

Test(import, ids_file)
{
    float v[5 * D];
    char *p, *ids;
    cvs_import_opts o = {0};
    cvs_txn *t;
    cvs_record r;
    float got[D];
    tu_randvecs(v, 5 * D, 21);
    p = fvecs("v.fvecs", v, 5);
    o.ids_path = ids = text_file("ids.txt", "\xef\xbb\xbf" "alpha\nbeta\r\ngamma\ndelta\nepsilon\n");
    o.ids_as_text = 1;
    cr_assert_eq(cvs_import(db, p, &o, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 5);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "beta", 4, &r, got), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(memcmp(got, v + D, sizeof got), 0);
    cr_assert_eq(r.text_len, 4);
    cr_assert_eq(memcmp(r.text, "beta", 4), 0);
    cr_assert_eq(cvs_get(t, "alpha", 5, &r, got), 0, "the byte-order mark stays out of the id");
    cvs_txn_end(t);
    free(ids);

    o.ids_path = ids = text_file("few.txt", "a\nb\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "has more records"), "%s", cvs_errmsg(db));
    free(ids);
    o.ids_path = ids = text_file("many.txt", "a\nb\nc\nd\ne\nf\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 6: more ids"), "%s", cvs_errmsg(db));
    free(ids);
    o.ids_path = ids = text_file("dup.txt", "a\nb\nc\nb\ne\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 4: duplicate id \"b\" (first seen on line 2)"), "%s",
              cvs_errmsg(db));
    free(ids);
    o.ids_path = ids = text_file("empty.txt", "a\nb\n\nd\ne\n");
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 3: empty id"), "%s", cvs_errmsg(db));
    free(ids);
    cr_assert_eq(count(), 5);
    free(p);
}

Test(import, npy_and_bvecs)
{
    float v[4 * D];
    unsigned char hdr[128], *file;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 16), }";
    char *p;
    cvs_import_stats st;
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(hdr + 10, dict, strlen(dict));
    hdr[127] = '\n';
    tu_randvecs(v, 4 * D, 31);
    file = malloc(sizeof hdr + sizeof v);
    memcpy(file, hdr, sizeof hdr);
    memcpy(file + sizeof hdr, v, sizeof v);
    p = tu_write_file(dir, "v.npy", file, sizeof hdr + sizeof v);
    cr_assert_eq(cvs_import(db, p, NULL, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.inserted, 4);
    expect_vec("3", v + 3 * D);
    free(p);
    free(file);
}

Test(import, cosine_zero_vector_rejected_in_validation)
{
    float v[3 * D];
    char *p;
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    dir = tu_tmpdir();
    open_store(CVS_METRIC_COSINE);
    tu_randvecs(v, 3 * D, 41);
    memset(v + 2 * D, 0, D * sizeof(float));
    p = fvecs("z.fvecs", v, 3);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "record 2: zero vector"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    free(p);
}

Test(import, write_failure_names_the_batch)
{
    float *v = malloc(N * D * sizeof *v);
    char *p, path[4200];
    cvs_import_opts o = {0};
    cvs_db *ro;
    tu_randvecs(v, N * D, 51);
    p = fvecs("a.fvecs", v, N);
    o.batch = BATCH;
    snprintf(path, sizeof path, "%s/store", dir);
    cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &ro), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_import(ro, p, &o, NULL), CVS_ERDONLY);
    cr_assert(strstr(cvs_errmsg(ro), "a.fvecs: writing records 0..999"), "%s", cvs_errmsg(ro));
    cvs_db_close(ro);
    cr_assert_eq(count(), 0);
    free(p);
    free(v);
}

/* cvs_import_check is pass 1 alone: a good file passes and writes nothing
 * (not even on a later look), a bad one fails with cvs_import's message. */
Test(import, check_validates_and_writes_nothing)
{
    char *good = jsonl_file("good.jsonl", N, -1, NULL, -1);
    char *bad = jsonl_file("bad.jsonl", N, -1, "{\"id\": \"x\", \"vector\": [1, 2]}", N - 5);
    cvs_import_opts o = {0};
    cvs_import_stats st;
    o.batch = BATCH;
    cr_assert_eq(cvs_import_check(db, good, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.records, N);
    cr_assert_eq(st.inserted + st.updated, 0);
    cr_assert_eq(count(), 0);
    cr_assert_neq(cvs_import_check(db, bad, &o, &st), 0);
    cr_assert(strstr(cvs_errmsg(db), "line"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    cr_assert_eq(cvs_import(db, good, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), N);
    free(good);
    free(bad);
}

/* The times of a record: created_us and updated_us. */
static void times_of(const char *id, int64_t *created, int64_t *updated)
{
    cvs_txn *t;
    cvs_record r;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0, "get %s: %s", id, cvs_errmsg(db));
    *created = r.created_us;
    *updated = r.updated_us;
    cvs_txn_end(t);
}

/* JSONL "created_us" / "updated_us" (what export writes) are restored, so
 * that a store restored from an export keeps its records' history; a
 * record without them gets the import's time; bad ones fail validation and
 * change nothing. */
Test(import, jsonl_times_are_restored)
{
    const char *v = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]";
    char buf[1024], *p;
    int64_t c, u, before;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    before = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    snprintf(buf, sizeof buf,
             "{\"id\":\"old\",\"vector\":%s,\"created_us\":1000000000000000,"
             "\"updated_us\":1500000000000001}\n"
             "{\"id\":\"new\",\"vector\":%s}\n"
             "{\"id\":\"half\",\"vector\":%s,\"created_us\":1000000000000000,\"updated_us\":null}\n",
             v, v, v);
    p = text_file("times.jsonl", buf);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("old", &c, &u);
    cr_assert_eq(c, 1000000000000000);
    cr_assert_eq(u, 1500000000000001);
    times_of("new", &c, &u);
    cr_assert_geq(c, before, "a record without times gets the import's");
    cr_assert_eq(c, u);
    times_of("half", &c, &u);
    cr_assert_eq(c, 1000000000000000);
    cr_assert_geq(u, before);
    free(p);

    /* Refused in validation, naming the line; nothing written. */
    snprintf(buf, sizeof buf, "{\"id\":\"x\",\"vector\":%s}\n"
             "{\"id\":\"y\",\"vector\":%s,\"created_us\":-5}\n", v, v);
    p = text_file("neg.jsonl", buf);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 2: \"created_us\" must be an integer >= 0"), "%s",
              cvs_errmsg(db));
    free(p);
    snprintf(buf, sizeof buf, "{\"id\":\"x\",\"vector\":%s,\"created_us\":\"2024-01-01\"}\n", v);
    p = text_file("str.jsonl", buf);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1: \"created_us\" must be an integer"), "%s",
              cvs_errmsg(db));
    free(p);
    snprintf(buf, sizeof buf, "{\"id\":\"x\",\"vector\":%s,\"created_us\":20,\"updated_us\":10}\n",
             v);
    p = text_file("order.jsonl", buf);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1: \"updated_us\" 10 is before \"created_us\" 20"),
              "%s", cvs_errmsg(db));
    free(p);
    snprintf(buf, sizeof buf, "{\"id\":\"x\",\"vector\":%s,\"created_us\":%lld}\n", v,
             (long long)before * 1000); /* nanoseconds by mistake */
    p = text_file("ns.jsonl", buf);
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1: \"created_us\"") &&
                  strstr(cvs_errmsg(db), "more than a day in the future"),
              "%s", cvs_errmsg(db));
    free(p);
    cr_assert_eq(count(), 3);
}

/* cvs_put keeps the store's times unless CVS_PUT_TIMES: then the times
 * given, 0 meaning the put's (an update keeping its creation time). */
Test(import, put_times_flag)
{
    float v[D] = {1};
    cvs_record r = {.id = "a", .id_len = 1, .vector = v, .created_us = 7, .updated_us = 9};
    int64_t c, u, c0;

    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("a", &c0, &u);
    cr_assert_gt(c0, 9, "without the flag the times given are ignored");
    r.created_us = 0;
    r.updated_us = c0 + 1000;
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("a", &c, &u);
    cr_assert_eq(c, c0, "an update with created_us 0 keeps its creation time");
    cr_assert_eq(u, c0 + 1000);
    r.updated_us = c0 - 1; /* before the creation time the store keeps */
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "is before its creation time"), "%s", cvs_errmsg(db));
    r.updated_us = c0 + 3 * 86400ll * 1000000ll; /* days ahead: nanoseconds, a typo */
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "more than a day in the future"), "%s", cvs_errmsg(db));
    r.created_us = 7;
    r.updated_us = 9;
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("a", &c, &u);
    cr_assert_eq(c, 7);
    cr_assert_eq(u, 9);
    r.updated_us = 3;
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "updated_us 3 is before created_us 7"), "%s",
              cvs_errmsg(db));
    r.created_us = -1;
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), CVS_EINPUT);
    times_of("a", &c, &u);
    cr_assert_eq(c, 7);
    cr_assert_eq(u, 9);
}

/* One time given alone: the pair stays ordered (an export writes both, and
 * its own import refuses an update before the creation). */
Test(import, put_times_one_given)
{
    float v[D] = {1};
    cvs_record r = {.id = "b", .id_len = 1, .vector = v, .updated_us = 1000};
    int64_t c, u;

    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("b", &c, &u);
    cr_assert_eq(c, 1000, "a new record given only its update time was created then");
    cr_assert_eq(u, 1000);
    r.id = "c";
    r.updated_us = 0;
    r.created_us = 5000;
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_TIMES, NULL, NULL), 0, "%s", cvs_errmsg(db));
    times_of("c", &c, &u);
    cr_assert_eq(c, 5000);
    cr_assert_gt(u, 5000, "its update time is the put's");
}

/* A slow embedder (the built-in use embeds ~85 passages a second): 1 ms a
 * text, D dimensions of a hash of it. */
static int slow_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        usleep(1000);
        for (int d = 0; d < D; d++)
            out[i * D + d] = (float)((lens[i] * 31 + (size_t)d * 7 + (unsigned char)texts[i][0]) %
                                     13) + 1.0f;
    }
    return 0;
}

struct write_seen {
    uint64_t mid, last, total;
    int backwards;
};

static void on_write_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    struct write_seen *w = ctx;
    (void)bytes_done;
    (void)bytes_total;
    if (strcmp(phase, "write"))
        return;
    w->backwards |= done < w->last;
    w->last = done;
    w->total = total;
    if (done > 0 && done < 600)
        w->mid++;
}

/* The write phase of an import whose records are embedded reports progress
 * while the batch is embedded, never going back, out of the records pass 1
 * counted: the bar said 1% (or, for JSONL, whose reader knows no total,
 * the bytes read, 100% at once) for the whole embedding of a batch
 * (minutes for a use import of HotpotQA), then 100%. */
Test(import, embedding_a_batch_reports_progress)
{
    char path[4200];
    FILE *f;
    struct write_seen w = {0};
    cvs_import_opts o = {.progress = on_write_progress, .progress_ctx = &w};
    cvs_import_stats st;
    cr_assert_eq(cvs_db_set_embedder(db, "test:slow", D, slow_embed, NULL), 0, "%s",
                 cvs_errmsg(db));
    snprintf(path, sizeof path, "%s/texts.jsonl", dir);
    cr_assert((f = fopen(path, "w")));
    for (int i = 0; i < 600; i++)
        fprintf(f, "{\"id\": \"t%d\", \"text\": \"passage number %d of the test\"}\n", i, i);
    fclose(f);
    cr_assert_eq(cvs_import(db, path, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.records, 600);
    cr_assert_eq(w.last, 600);
    cr_assert_eq(w.total, 600, "the write phase's total is the records pass 1 counted");
    cr_assert_gt(w.mid, 2, "%llu reports between 0 and 600", (unsigned long long)w.mid);
    cr_assert_not(w.backwards, "the write phase went back");
}

/* An embedder that fails on one text: the one holding "poison". */
static int poison_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                        float *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        int bad = 0;
        for (size_t j = 0; j + 6 <= lens[i]; j++)
            bad |= memcmp(texts[i] + j, "poison", 6) == 0;
        for (int d = 0; d < D; d++)
            out[i * D + d] = bad ? NAN : (float)(d + 1);
    }
    return 0;
}

/* Writes dir/name (its path in path): n text records, ids t1..tn; line
 * `poison` (0: none) holds the word poison_embed refuses. */
static void passages_file(char *path, size_t cap, const char *name, int n, int poison)
{
    FILE *f;
    snprintf(path, cap, "%s/%s", dir, name);
    cr_assert((f = fopen(path, "w")));
    for (int i = 1; i <= n; i++)
        fprintf(f, "{\"id\": \"t%d\", \"text\": \"passage %d %s\"}\n", i, i,
                i == poison ? "poison" : "fine");
    fclose(f);
}

/* The message of an embedder's failure in the write phase names the line
 * of the whole file: import embeds 64 texts a call, and the message said
 * "text 35" (the index within the call) for the text on line 100. */
Test(import, embedder_failure_names_the_line_of_the_file)
{
    char path[4200];
    cvs_import_stats st;
    const char *msg;
    cr_assert_eq(cvs_db_set_embedder(db, "test:poison", D, poison_embed, NULL), 0, "%s",
                 cvs_errmsg(db));
    passages_file(path, sizeof path, "poison.jsonl", 150, 100);
    cr_assert_eq(cvs_import(db, path, NULL, &st), CVS_EIO);
    msg = cvs_errmsg(db);
    cr_assert(strstr(msg, "line 100:"), "%s", msg);
    cr_assert(strstr(msg, "non-finite"), "%s", msg);
    cr_assert_not(strstr(msg, "text 35"), "%s", msg);
    cr_assert_eq(count(), 0, "the failing batch wrote nothing");
    /* The first text of a call (line 65): the next one embeds, so it is
     * that text's fault, not the embedder's. */
    passages_file(path, sizeof path, "poison.jsonl", 150, 65);
    cr_assert_eq(cvs_import(db, path, NULL, &st), CVS_EIO);
    msg = cvs_errmsg(db);
    cr_assert(strstr(msg, "line 65: embedding its text"), "%s", msg);
    cr_assert(strstr(msg, "non-finite"), "%s", msg);
}

/* A text store (one that records an embedder) cannot embed a text of no
 * words: cvs_import refuses a line it would have to embed, naming the line
 * before writing any batch, as cvs_mem_remember refuses such a memory.  A
 * record given with its vector is kept whatever its text (cvs_put, an
 * import line with a vector), so an export of any store imports again. */
Test(import, a_text_store_refuses_text_without_words)
{
    float v[D];
    cvs_record good = {0}, bad = {0}, batch[2];
    cvs_embedder_info ei;
    char *path;
    for (int d = 0; d < D; d++)
        v[d] = (float)(d + 1);
    bad.id = "bad";
    bad.id_len = 3;
    bad.vector = v;
    bad.text = " ... \xc2\xa0!";
    bad.text_len = strlen(bad.text);
    cr_assert_eq(cvs_put(db, &bad, 1, 0, NULL, NULL), 0, "no embedder: any text: %s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_set_embedder(db, "test:fine", D, poison_embed, NULL), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &ei), 0, "the store records the embedder: %s",
                 cvs_errmsg(db));
    good.id = "good";
    good.id_len = 4;
    good.vector = v;
    good.title = "A title";
    good.title_len = 7;
    batch[0] = good;
    batch[1] = bad;
    cr_assert_eq(cvs_put(db, batch, 2, 0, NULL, NULL), 0, "beside its vector any text: %s",
                 cvs_errmsg(db));
    cr_assert_eq(count(), 2, "both kept");
    path = text_file("nowords.jsonl",
                     "{\"id\": \"t1\", \"text\": \"a passage\"}\n"
                     "{\"id\": \"t2\", \"text\": \" -- \"}\n");
    cr_assert_eq(cvs_import(db, path, &(cvs_import_opts){.batch = 1}, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 2: record \"t2\": text has no words"), "%s",
              cvs_errmsg(db));
    cr_assert_eq(count(), 2, "the import wrote nothing");
    free(path);
    path = text_file("nowords2.jsonl",
                     "{\"id\": \"t3\", \"vector\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16], "
                     "\"text\": \" -- \"}\n");
    cr_assert_eq(cvs_import(db, path, &(cvs_import_opts){.batch = 1}, NULL), 0,
                 "a line with its vector, as an export writes it: %s", cvs_errmsg(db));
    cr_assert_eq(count(), 3);
    free(path);
}

/* An embedder that is down: every call fails. */
static int down_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out)
{
    (void)ctx, (void)texts, (void)lens, (void)n, (void)out;
    return CVS_EIO;
}

/* An embedder that fails on every text is named as failing, with the lines
 * of the call: the message blamed the call's first line ("line 1:
 * embedding its text"), whose text was fine. */
Test(import, an_embedder_that_is_down_is_named_not_a_line)
{
    char path[4200];
    cvs_import_stats st;
    const char *msg;
    cr_assert_eq(cvs_db_set_embedder(db, "test:down", D, down_embed, NULL), 0, "%s",
                 cvs_errmsg(db));
    passages_file(path, sizeof path, "down.jsonl", 100, 0);
    cr_assert_neq(cvs_import(db, path, NULL, &st), 0);
    msg = cvs_errmsg(db);
    cr_assert(strstr(msg, "down.jsonl: lines 1..64 (one embedding call): the embedder failed"),
              "%s", msg);
    cr_assert_not(strstr(msg, "embedding its text"), "%s", msg);
    cr_assert_eq(count(), 0);
}

#define V16 "[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]" /* a vector of D = 16 */

/* A NUL character (\u0000): export writes it for a text, title or id that
 * holds one (cvs_put takes them, with their lengths), so import takes it
 * back, and the store restores from its export; it refused the line with
 * jansson's text ("\u0000 is not allowed without JSON_ALLOW_NUL").  Meta
 * and a link type cannot hold one: refused, named as such. */
Test(import, a_nul_character_round_trips_where_the_store_holds_it)
{
    char *p = text_file("nul.jsonl", "\n{\"id\": \"b\\u0000c\", \"vector\": " V16 ", "
                                     "\"title\": \"T\\u0000\", \"text\": \"one\\u0000two\"}\n");
    char *m = text_file("nulmeta.jsonl", "{\"id\": \"m\", \"vector\": " V16 ", "
                                         "\"meta\": {\"k\": \"x\\u0000\"}}\n");
    char *l = text_file("nullink.jsonl", "{\"id\": \"l\", \"vector\": " V16 ", "
                                         "\"links\": [{\"id\": \"b\", \"type\": \"a\\u0000\"}]}\n");
    cvs_import_stats st;
    cvs_txn *t;
    cvs_record r;
    const char *msg;
    cr_assert_eq(cvs_import(db, p, NULL, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "b\0c", 3, &r, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.text_len, 7);
    cr_assert_eq(memcmp(r.text, "one\0two", 7), 0);
    cr_assert_eq(r.title_len, 2);
    cvs_txn_end(t);
    cr_assert_eq(cvs_import(db, m, NULL, &st), CVS_EINPUT);
    msg = cvs_errmsg(db);
    cr_assert(strstr(msg, "line 1: meta holds a NUL character (\\u0000)"), "%s", msg);
    cr_assert_eq(cvs_import(db, l, NULL, &st), CVS_EINPUT);
    msg = cvs_errmsg(db);
    cr_assert(strstr(msg, "line 1: links[0].type holds a NUL character"), "%s", msg);
    cr_assert_eq(count(), 1, "only the first file's record");
    free(p);
    free(m);
    free(l);
}

/* A NUL in meta is refused while the file is checked, naming its line: it
 * was refused only when its batch was written (cvs__meta_canonical inside
 * cvs_put), after the batches before it were committed -- 50 of 51
 * records written by a file that was refused.  A NUL in a nested value
 * counts the same; one in a key is a parse error saying so. */
Test(import, a_nul_in_meta_refuses_the_file_before_writing)
{
    static const char *bad[] = {
        "{\"id\": \"bad\", \"vector\": " V16 ", \"meta\": {\"k\": \"x\\u0000\"}}\n",
        "{\"id\": \"bad\", \"vector\": " V16 ", \"meta\": {\"k\": [1, {\"j\": \"\\u0000\"}]}}\n",
        "{\"id\": \"bad\", \"vector\": " V16 ", \"meta\": {\"k\\u0000\": 1}}\n",
    };
    static const char *why[] = {"line 51: meta holds a NUL character (\\u0000)",
                                "line 51: meta holds a NUL character (\\u0000)",
                                "line 51: a key holds a NUL character (\\u0000)"};
    cvs_import_opts o = {0};
    cvs_import_stats st;
    o.batch = 10;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        size_t cap = 51 * 120, len = 0;
        char *s = malloc(cap), *p;
        const char *msg;
        for (int i = 0; i < 50; i++)
            len += (size_t)snprintf(s + len, cap - len, "{\"id\": \"r%d\", \"vector\": " V16 "}\n", i);
        snprintf(s + len, cap - len, "%s", bad[k]);
        p = text_file("nulbatch.jsonl", s);
        cr_assert_eq(cvs_import(db, p, &o, &st), CVS_EINPUT);
        msg = cvs_errmsg(db);
        cr_assert(strstr(msg, why[k]), "%s", msg);
        cr_assert_not(strstr(msg, "writing records"), "%s", msg);
        cr_assert_eq(count(), 0, "nothing written: %llu records", (unsigned long long)count());
        free(p);
        free(s);
    }
}

/* "[1,0,...,0]": a vector of D values as JSON, into v (cap bytes). */
static void json_vec(char *v, size_t cap)
{
    size_t at = (size_t)snprintf(v, cap, "[1");
    for (int i = 1; i < D; i++)
        at += (size_t)snprintf(v + at, cap - at, ",0");
    snprintf(v + at, cap - at, "]");
}

/* What the warning callback heard. */
typedef struct heard {
    int n;
    char key[20][64];
    char suggest[20][16];
    uint64_t line[20];
    char msg[20][800];
} heard;

static void hear(void *ctx, const char *key, uint64_t line, const char *suggest, const char *msg)
{
    heard *h = ctx;
    cr_assert_lt(h->n, 20);
    snprintf(h->key[h->n], sizeof h->key[0], "%s", key);
    snprintf(h->suggest[h->n], sizeof h->suggest[0], "%s", suggest ? suggest : "");
    snprintf(h->msg[h->n], sizeof h->msg[0], "%s", msg);
    h->line[h->n++] = line;
}

/* A key the format does not have is ignored but never in silence: named
 * once, at its first line, in the validation pass (not again in the
 * write pass), with the field it likely meant; counted in the stats;
 * the import still succeeds and the known fields arrive. */
Test(import, unknown_jsonl_keys_are_named_once_with_a_suggestion)
{
    char v[200];
    char *p, body[4096] = "";
    cvs_import_opts o = {0};
    cvs_import_stats st;
    heard h = {0};
    cvs_txn *t;
    cvs_record r;
    json_vec(v, sizeof v);
    snprintf(body, sizeof body,
             "{\"id\":\"a\",\"vector\":%s,\"metadata\":{\"k\":1},\"text\":\"kept\"}\n"
             "{\"id\":\"b\",\"vector\":%s,\"metadata\":{\"k\":2},\"Title\":\"T\",\"source\":\"x\"}\n"
             "{\"id\":\"c\",\"vector\":%s,\"embedding\":[1],\"titel\":\"t\",\"txt\":\"t\"}\n"
             "{\"id\":\"d\",\"vector\":%s}\n",
             v, v, v, v);
    p = text_file("k.jsonl", body);
    o.warn = hear;
    o.warn_ctx = &h;
    o.batch = 2; /* two write batches: the write pass reads every line again */
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.records, 4);
    cr_assert_eq(h.n, 6, "one warning per distinct key, got %d", h.n);
    const char *keys[] = {"metadata", "Title", "source", "embedding", "titel", "txt"};
    const char *sugg[] = {"meta", "title", "", "vector", "title", "text"};
    const uint64_t lines[] = {1, 2, 2, 3, 3, 3};
    for (int i = 0; i < 6; i++) {
        cr_expect_str_eq(h.key[i], keys[i]);
        cr_expect_str_eq(h.suggest[i], sugg[i], "%s: suggested '%s'", keys[i], h.suggest[i]);
        cr_expect_eq(h.line[i], lines[i], "%s: line %llu", keys[i], (unsigned long long)h.line[i]);
        cr_expect(strstr(h.msg[i], "k.jsonl: line ") && strstr(h.msg[i], keys[i]) &&
                      strstr(h.msg[i], "ignored"), "%s", h.msg[i]);
    }
    cr_expect(strstr(h.msg[0], "did you mean \"meta\"?"), "%s", h.msg[0]);
    cr_expect(!strstr(h.msg[2], "did you mean"), "%s", h.msg[2]);
    cr_assert_eq(st.unknown_keys, 6);
    cr_assert_eq(st.unknown_key_records, 3);
    cr_assert_eq(count(), 4);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &r, NULL), 0);
    cr_assert_eq(r.text_len, 4, "the known fields arrive");
    cr_assert_eq(r.meta_len, 0, "\"metadata\" is not \"meta\"");
    cvs_txn_end(t);

    /* Without a callback: counted all the same; cvs_import_check too. */
    memset(&o, 0, sizeof o);
    cr_assert_eq(cvs_import_check(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.unknown_keys, 6);
    cr_assert_eq(st.unknown_key_records, 3);
    free(p);
}

/* More distinct unknown keys than CVS_IMPORT_KEYS_NAMED: the first ones
 * are named (the last named says the rest are not), all are counted. */
Test(import, many_unknown_keys_are_counted_not_all_named)
{
    char v[200], *p, *body = malloc(1 << 16);
    size_t at = 0;
    cvs_import_opts o = {0};
    cvs_import_stats st;
    heard h = {0};
    json_vec(v, sizeof v);
    for (int i = 0; i < 40; i++)
        at += (size_t)snprintf(body + at, (1 << 16) - at,
                               "{\"id\":\"r%d\",\"vector\":%s,\"extra_%d\":1}\n", i, v, i);
    p = text_file("many.jsonl", body);
    o.warn = hear;
    o.warn_ctx = &h;
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(h.n, CVS_IMPORT_KEYS_NAMED);
    cr_expect(strstr(h.msg[CVS_IMPORT_KEYS_NAMED - 1], "not named"), "%s",
              h.msg[CVS_IMPORT_KEYS_NAMED - 1]);
    cr_expect(!strstr(h.msg[0], "not named"), "%s", h.msg[0]);
    cr_assert_eq(st.unknown_keys, 40);
    cr_assert_eq(st.unknown_key_records, 40);
    free(p);
    free(body);
}

/* A compressed file is named as one, with the way to import it, by its
 * extension and, given as jsonl, by its first bytes; nothing is written. */
Test(import, a_compressed_file_says_so)
{
    static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                       0x03, 0xab, 0x56, 0x0a, '\n', 0x01, 0x02};
    char *p = tu_write_file(dir, "r.jsonl.gz", gz, sizeof gz);
    char *q = tu_write_file(dir, "r.jsonl", gz, sizeof gz);
    cvs_import_opts o = {0};
    cr_assert_eq(cvs_import(db, p, NULL, NULL), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "a compressed file (.gz)") &&
              strstr(cvs_errmsg(db), "--format jsonl"), "%s", cvs_errmsg(db));
    o.format = CVS_FMT_JSONL;
    cr_assert_eq(cvs_import(db, p, &o, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1: gzip-compressed"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_import(db, q, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "gzip-compressed"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    free(p);
    free(q);
}

/* The way to import a compressed file names that file's own tool: gunzip
 * reads no .zst, .xz or .bz2 file, and a .zip is extracted, not piped. */
Test(import, a_compressed_name_names_its_tool)
{
    static const struct {
        const char *name, *tool;
    } t[] = {{"r.jsonl.gz", "gunzip -c"}, {"r.jsonl.tgz", "tar -xzOf"},
             {"r.jsonl.bz2", "bzip2 -dc"}, {"r.jsonl.xz", "xz -dc"},
             {"r.jsonl.zst", "zstd -dc"},  {"r.jsonl.lz4", "lz4 -dc"},
             {"r.jsonl.zip", "unzip -p"}};
    cvs_format f;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        cr_assert_eq(cvs_format_guess(t[i].name, &f), CVS_EINVAL);
        cr_expect(strstr(cvs_errmsg(NULL), t[i].tool), "%s: %s", t[i].name, cvs_errmsg(NULL));
        if (strcmp(t[i].tool, "gunzip -c") && strcmp(t[i].tool, "tar -xzOf"))
            cr_expect(!strstr(cvs_errmsg(NULL), "gunzip"), "%s", cvs_errmsg(NULL));
    }
}

/* A link object's member given another name ("kind" for "type") would
 * lose the link's type as silently: named as "links[].kind", once. */
Test(import, unknown_keys_of_link_objects_are_named)
{
    char v[200], body[2048], *p;
    cvs_import_opts o = {0};
    cvs_import_stats st;
    heard h = {0};
    json_vec(v, sizeof v);
    snprintf(body, sizeof body,
             "{\"id\":\"a\",\"vector\":%s,\"links\":[{\"id\":\"b\",\"kind\":\"cites\"},\"b\"]}\n"
             "{\"id\":\"b\",\"vector\":%s,\"links\":[{\"id\":\"a\",\"kind\":\"x\",\"wieght\":2}]}\n"
             "{\"id\":\"c\",\"vector\":%s,\"links\":[{\"id\":\"a\",\"type\":\"t\",\"weight\":2}]}\n",
             v, v, v);
    p = text_file("l.jsonl", body);
    o.warn = hear;
    o.warn_ctx = &h;
    cr_assert_eq(cvs_import(db, p, &o, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(h.n, 2, "%d warnings", h.n);
    cr_assert_str_eq(h.key[0], "links[].kind");
    cr_assert_str_eq(h.suggest[0], "type");
    cr_assert_eq(h.line[0], 1);
    cr_assert_str_eq(h.key[1], "links[].wieght");
    cr_assert_str_eq(h.suggest[1], "weight");
    cr_assert_eq(h.line[1], 2);
    cr_assert(strstr(h.msg[0], "line 1: key \"links[].kind\"") &&
              strstr(h.msg[0], "did you mean \"type\"?"), "%s", h.msg[0]);
    cr_assert_eq(st.unknown_keys, 2);
    cr_assert_eq(st.unknown_key_records, 2);
    free(p);
}
