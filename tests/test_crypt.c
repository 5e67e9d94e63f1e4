/* test_crypt.c -- encryption at rest (store/seal.c): every kind of value
 * round-trips through an encrypted store and none is readable in the file,
 * a wrong or missing passphrase fails cleanly and changes nothing, and a
 * flipped or moved value is reported by cvs_check and fails reads cleanly,
 * and the answers (backlinks, title seeds, a context set) are a plain
 * store's whatever the salt.
 * Tamper tests write raw values through the internal handle (db->env), the
 * test-only path this file is allowed. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "graph/graph.h"
#include "query/text.h"
#include "store/db.h"
#include "tests/testutil.h"

#define DIM 16
#define N 400
#define PASS "correct horse battery staple"

static char *dir;
static cvs_db *db;
static float vecs[N * DIM];

static void make_store(void)
{
    cvs_create_opts o = {DIM, CVS_METRIC_L2, CVS_RAW_F32};
    char ids[N][32], texts[N][64], metas[N][48], titles[N][32];
    cvs_record r[N];
    cvs_link links[N];
    dir = tu_tmpdir();
    cr_assert_not_null(dir);
    cr_assert_eq(cvs_db_create_encrypted(dir, &o, PASS, strlen(PASS), &db), 0, "%s",
                 cvs_errmsg(NULL));
    tu_randvecs(vecs, (size_t)N * DIM, 7);
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "secret-id-%d", i);
        snprintf(texts[i], sizeof texts[i], "plaintextmarker number %d zebra%d", i, i);
        snprintf(titles[i], sizeof titles[i], "titlemarker %d", i);
        snprintf(metas[i], sizeof metas[i], "{\"metamarker\":%d}", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = vecs + (size_t)i * DIM;
        r[i].text = texts[i];
        r[i].text_len = strlen(texts[i]);
        r[i].title = titles[i];
        r[i].title_len = strlen(titles[i]);
        r[i].meta = metas[i];
        r[i].meta_len = strlen(metas[i]);
        if (i > 0) {
            links[i] = (cvs_link){ids[i - 1], strlen(ids[i - 1]), "prev", 1.0f};
            r[i].links = &links[i];
            r[i].nlinks = 1;
        }
    }
    cr_assert_eq(cvs_put(db, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

static void teardown(void)
{
    cvs_db_close(db);
    db = NULL;
    tu_rmrf(dir);
    free(dir);
}

static char *read_file(const char *name, size_t *len)
{
    char p[4200];
    FILE *f;
    char *buf;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_not_null(f = fopen(p, "rb"));
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert_not_null(buf = malloc(*len + 1));
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static int file_has(const char *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (buf[i] == s[0] && !memcmp(buf + i, s, n))
            return 1;
    return 0;
}

static uint64_t problems(cvs_db *h)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(h, NULL, NULL, &p), 0, "%s", cvs_errmsg(h));
    return p;
}

static int64_t key_of(const char *id)
{
    cvs_txn *t;
    cvs_record rec;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &rec, NULL), 0, "%s", cvs_errmsg(db));
    int64_t k = rec.key;
    cvs_txn_end(t);
    return k;
}

/* Everything a record holds, read back and compared. */
static void expect_record(cvs_db *h, int i)
{
    cvs_txn *t;
    cvs_record rec;
    float v[DIM];
    char id[32], want[64];
    snprintf(id, sizeof id, "secret-id-%d", i);
    cr_assert_eq(cvs_txn_begin(h, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &rec, v), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(memcmp(v, vecs + (size_t)i * DIM, sizeof v), 0);
    snprintf(want, sizeof want, "plaintextmarker number %d zebra%d", i, i);
    cr_assert_eq(rec.text_len, strlen(want));
    cr_assert_eq(memcmp(rec.text, want, rec.text_len), 0);
    snprintf(want, sizeof want, "titlemarker %d", i);
    cr_assert_eq(rec.title_len, strlen(want));
    cr_assert_eq(memcmp(rec.title, want, rec.title_len), 0);
    snprintf(want, sizeof want, "{\"metamarker\":%d}", i);
    cr_assert_eq(rec.meta_len, strlen(want));
    cr_assert_eq(memcmp(rec.meta, want, rec.meta_len), 0);
    if (i > 0) {
        snprintf(want, sizeof want, "secret-id-%d", i - 1);
        cr_assert_eq(rec.nlinks, 1);
        cr_assert_eq(rec.links[0].id_len, strlen(want));
        cr_assert_eq(memcmp(rec.links[0].id, want, strlen(want)), 0);
        cr_assert_str_eq(rec.links[0].type, "prev");
    }
    cvs_txn_end(t);
}

/* Top-1 of each record's own vector is itself, for a share of records. */
static void expect_self_found(cvs_db *h, unsigned flags, int min_hits)
{
    int64_t lab[10];
    float sc[10];
    int hits = 0;
    for (int i = 0; i < N; i += 40) {
        char id[32];
        snprintf(id, sizeof id, "secret-id-%d", i);
        cr_assert_eq(cvs_search(h, vecs + (size_t)i * DIM, 1, 10, flags, lab, sc), 0, "%s",
                     cvs_errmsg(h));
        hits += lab[0] == key_of(id);
    }
    cr_assert_geq(hits, min_hits, "flags %u: %d of 10 found themselves", flags, hits);
}

TestSuite(crypt, .init = make_store, .fini = teardown, .timeout = 120);

/* An encrypted store keeps keyed hashes of its BM25 terms, so no range of
 * them holds a word's forms: the scan says so and lists nothing, and the
 * single-hop route keeps exact forms there (query/context.c, deviation
 * 17).  BM25 still finds the exact term. */
static int count_term(void *ctx, const char *term, size_t len)
{
    (void)term;
    (void)len;
    ++*(int *)ctx;
    return CVS_OK;
}

Test(crypt, bm25_terms_have_no_order_to_scan)
{
    cvs_txn *t;
    int ordered = 1, n = 0;
    int64_t keys[2];
    float sc[2];
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__bm25_terms_prefixed(t, "zebra", 5, &ordered, count_term, &n), 0);
    cr_assert_not(ordered);
    cr_assert_eq(n, 0);
    /* The public call a shard answers with (cvstore-mpi) says the same:
     * the question's own forms only. */
    cvs_terms q = {"zebras\0zebra7", 14, 2};
    cvs_word_classes wc;
    cr_assert_eq(cvs_txn_word_classes(t, &q, &wc), 0, "%s", cvs_errmsg(db));
    cr_assert_not(wc.ordered);
    cr_assert_eq(wc.other, 0);
    cr_assert_eq(wc.classes.forms.n, 2);
    cr_assert_eq(wc.classes.nclasses, 2);
    /* Its exact forms are found through the hashed terms: the class
     * statistics and search are the terms' own, score for score. */
    uint64_t nd, tot, cdf[2], tdf[2];
    int64_t ck[2];
    float cs[2];
    cr_assert_eq(cvs_txn_text_class_stats(t, &wc.classes, &nd, &tot, cdf), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_stats(t, &q, &nd, &tot, tdf), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cdf[1], tdf[1]);
    cr_assert_geq(cdf[1], 1, "zebra7 is in secret-id-7's text");
    cr_assert_eq(cvs_txn_text_search_classes(t, &wc.classes, NULL, 2, ck, cs), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_search_terms(t, &q, NULL, 2, keys, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ck[0], key_of("secret-id-7"));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ck[i], keys[i], "rank %d", i);
        cr_assert(ck[i] < 0 || cs[i] == sc[i], "rank %d: %g, %g", i, cs[i], sc[i]);
    }
    cvs_word_classes_free(&wc);
    cr_assert_eq(cvs_txn_text_search(t, "zebra7", 6, 2, keys, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(keys[0], key_of("secret-id-7"));
    cvs_txn_end(t);
}

Test(crypt, every_kind_of_value_round_trips_and_none_is_plaintext_on_disk)
{
    cvs_build_opts bo = {0};
    cvs_knn_opts ko = {.k = 4};
    cvs_info info;
    int64_t keys[5], nb[4];
    float sc[5], nsc[4];
    size_t nn = 0, len;
    char *file;
    cvs_txn *t;

    for (int i = 0; i < N; i += 37)
        expect_record(db, i);
    expect_self_found(db, CVS_SEARCH_EXACT, 10);
    {
        /* Metadata filters read the sealed attrs. */
        cvs_filter *f;
        cvs_search_params sp = {.flags = CVS_SEARCH_EXACT};
        int64_t l[3];
        float fs[3];
        cr_assert_eq(cvs_filter_parse("{\"metamarker\": {\"$gte\": 200, \"$lt\": 202}}", 0,
                                      &f), 0);
        sp.filter = f;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, vecs, 1, 3, &sp, l, fs), 0, "%s", cvs_errmsg(db));
        cvs_txn_end(t);
        cvs_filter_free(f);
        cr_assert((l[0] == key_of("secret-id-200") && l[1] == key_of("secret-id-201")) ||
                  (l[0] == key_of("secret-id-201") && l[1] == key_of("secret-id-200")));
        cr_assert_eq(l[2], -1);
    }
    bo.index = "ivf8";
    cr_assert_eq(cvs_build(db, "pq4", &bo), 0, "%s", cvs_errmsg(db));
    expect_self_found(db, CVS_SEARCH_CODES, 5);
    expect_self_found(db, CVS_SEARCH_ANN, 5);
    cr_assert_eq(cvs_text_search(db, "zebra123", 8, 5, keys, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(keys[0], key_of("secret-id-123"));
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_knn_neighbors(t, key_of("secret-id-5"), 4, nb, nsc, &nn), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(nn, 4);
    cvs_txn_end(t);
    cr_assert_eq(problems(db), 0);
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert(info.encrypted);
    cr_assert_eq(info.format_version, 2);

    /* Puts after the build encode into the sealed codes, lists and log. */
    {
        cvs_record r = {0};
        r.id = "late";
        r.id_len = 4;
        r.vector = vecs + 3 * DIM;
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    expect_self_found(db, CVS_SEARCH_ANN, 5);

    /* The kNN graph follows puts and deletes through its sealed rows:
     * "late" has secret-id-3's vector, so each is the other's nearest. */
    {
        int64_t k3 = key_of("secret-id-3"), kl = key_of("late");
        const char *gone = "secret-id-3";
        size_t glen = strlen(gone), ndel = 0;
        int named = 0;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_knn_neighbors(t, kl, 4, nb, nsc, &nn), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(nn, 4);
        cr_assert_eq(nb[0], k3);
        cr_assert_eq(cvs_knn_neighbors(t, k3, 4, nb, nsc, &nn), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(nb[0], kl);
        cvs_txn_end(t);
        cr_assert_eq(cvs_delete(db, &gone, &glen, 1, &ndel), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(ndel, 1);
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_knn_neighbors(t, kl, 4, nb, nsc, &nn), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(nn, 4);
        for (size_t i = 0; i < nn; i++)
            named += nb[i] == k3;
        cr_assert_eq(named, 0, "a deleted record is still a neighbour");
        cvs_txn_end(t);
        cr_assert_eq(problems(db), 0);
    }

    cvs_db_close(db);
    db = NULL;
    file = read_file("data.mdb", &len);
    cr_assert(!file_has(file, len, "plaintextmarker"), "text is readable on disk");
    cr_assert(!file_has(file, len, "titlemarker"), "a title is readable on disk");
    cr_assert(!file_has(file, len, "metamarker"), "metadata is readable on disk");
    cr_assert(!file_has(file, len, "secret-id-"), "an external id is readable on disk");
    cr_assert(!file_has(file, len, "zebra"), "a BM25 term is readable on disk");
    cr_assert(!file_has(file, len, "prev"), "a link type is readable on disk");
    free(file);

    /* Reopened with the right passphrase, everything is still there. */
    {
        cvs_open_opts oo = {0, PASS, strlen(PASS)};
        cr_assert_eq(cvs_db_open_opts(dir, &oo, &db), 0, "%s", cvs_errmsg(NULL));
    }
    for (int i = 0; i < N; i += 53)
        expect_record(db, i);
    expect_self_found(db, CVS_SEARCH_EXACT, 10);
    expect_self_found(db, CVS_SEARCH_ANN, 5);
    cr_assert_eq(problems(db), 0);
}

Test(crypt, wrong_or_missing_passphrase_is_a_clear_error_and_changes_nothing)
{
    cvs_open_opts wrong = {0, "Correct horse battery staple", strlen(PASS)};
    cvs_open_opts empty = {0, "", 0};
    cvs_db *h = NULL;
    size_t l1, l2;
    char *before, *after;

    cvs_db_close(db);
    db = NULL;
    before = read_file("data.mdb", &l1);
    cr_assert_eq(cvs_db_open_opts(dir, &wrong, &h), CVS_EKEY);
    cr_assert_null(h);
    cr_assert(strstr(cvs_errmsg(NULL), "wrong passphrase"), "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_open(dir, 0, &h), CVS_EKEY);
    cr_assert(strstr(cvs_errmsg(NULL), "passphrase is needed"), "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &h), CVS_EKEY);
    cr_assert_eq(cvs_db_open_opts(dir, &empty, &h), CVS_EKEY);
    after = read_file("data.mdb", &l2);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(before, after, l1), 0, "a failed open changed the store");
    free(before);
    free(after);
    {
        cvs_open_opts oo = {0, PASS, strlen(PASS)};
        cr_assert_eq(cvs_db_open_opts(dir, &oo, &db), 0, "%s", cvs_errmsg(NULL));
    }
    expect_record(db, 7);
}

/* Rewrites the raw meta record name through fn. */
static void meta_rewrite(const char *name, void (*fn)(unsigned char *, size_t))
{
    MDB_txn *txn;
    MDB_val k = {strlen(name), (void *)name}, v;
    unsigned char copy[256];
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_get(txn, db->dbi_meta, &k, &v), 0);
    cr_assert_leq(v.mv_size, sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    fn(copy, v.mv_size);
    v.mv_data = copy;
    cr_assert_eq(mdb_put(txn, db->dbi_meta, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void huge_memlimit(unsigned char *p, size_t n)
{
    (void)n;
    cvs__put_u64(p + 24, 1ull << 40);
}

static void flip_salt(unsigned char *p, size_t n)
{
    (void)n;
    p[32] ^= 1;
}

Test(crypt, forged_kdf_limits_are_a_clear_error)
{
    cvs_open_opts oo = {0, PASS, strlen(PASS)};
    cvs_db *h = NULL;
    meta_rewrite("crypt", huge_memlimit);
    cvs_db_close(db);
    db = NULL;
    cr_assert_eq(cvs_db_open_opts(dir, &oo, &h), CVS_EFORMAT);
    cr_assert(strstr(cvs_errmsg(NULL), "out-of-range KDF"), "%s", cvs_errmsg(NULL));
    cr_assert_null(h);
}

Test(crypt, a_changed_salt_derives_a_key_that_fails_the_check)
{
    cvs_open_opts oo = {0, PASS, strlen(PASS)};
    cvs_db *h = NULL;
    meta_rewrite("crypt", flip_salt);
    cvs_db_close(db);
    db = NULL;
    cr_assert_eq(cvs_db_open_opts(dir, &oo, &h), CVS_EKEY);
    cr_assert_null(h);
}

/* Replaces the raw (sealed) value of key in dbi by fn's rewrite of it. */
static void raw_rewrite(MDB_dbi dbi, int64_t key, void (*fn)(unsigned char *, size_t))
{
    MDB_txn *txn;
    MDB_val k = {8, &key}, v;
    unsigned char *copy;
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    cr_assert_not_null(copy = malloc(v.mv_size));
    memcpy(copy, v.mv_data, v.mv_size);
    fn(copy, v.mv_size);
    v.mv_data = copy;
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    free(copy);
}

static void flip_last(unsigned char *p, size_t n)
{
    p[n - 1] ^= 0x01;
}

typedef struct {
    char all[8192];
} report_buf;

static void collect(void *ctx, const char *msg)
{
    report_buf *b = ctx;
    size_t l = strlen(b->all);
    snprintf(b->all + l, sizeof b->all - l, "%s\n", msg);
}

static void flip_mid(unsigned char *p, size_t n)
{
    p[n / 2] ^= 0x04;
}

Test(crypt, flipped_meta_and_title_values_are_reported_by_name)
{
    report_buf rb = {{0}};
    uint64_t p = 0;
    int64_t key = key_of("secret-id-9");
    int64_t l[3];
    float sc[3];

    meta_rewrite("bm25", flip_mid);
    raw_rewrite(db->dbi_titles, key, flip_mid);

    cr_assert_eq(cvs_check(db, collect, &rb, &p), 0, "%s", cvs_errmsg(db));
    cr_assert(strstr(rb.all, "meta: the value of key \"bm25\" fails authentication"), "%s",
              rb.all);
    cr_assert(strstr(rb.all, "titles: record \"secret-id-9\""), "%s", rb.all);
    /* The text search needs the BM25 totals: a clean error, no crash. */
    cr_assert_eq(cvs_text_search(db, "zebra9", 6, 3, l, sc), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(db), "fails authentication"), "%s", cvs_errmsg(db));
}

Test(crypt, a_flipped_byte_is_reported_by_check_and_fails_reads_cleanly)
{
    int64_t k = key_of("secret-id-42");
    report_buf rb = {{0}};
    uint64_t p = 0;
    cvs_txn *t;
    cvs_record rec;
    float v[DIM];
    int64_t lab[3];
    float sc[3];

    raw_rewrite(db->dbi_vecs, k, flip_last);
    cr_assert_eq(cvs_check(db, collect, &rb, &p), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(p, 1);
    cr_assert(strstr(rb.all, "vecs: record \"secret-id-42\"") &&
              strstr(rb.all, "fails authentication"), "%s", rb.all);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "secret-id-42", 12, &rec, v), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(db), "fails authentication"), "%s", cvs_errmsg(db));
    /* Its neighbours still read. */
    cr_assert_eq(cvs_get(t, "secret-id-41", 12, &rec, v), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    /* An exact search loads every vector: it fails, naming the key. */
    cr_assert_eq(cvs_search(db, vecs, 1, 3, CVS_SEARCH_EXACT, lab, sc), CVS_ECORRUPT);

    /* A flipped record header ("recs") is reported by key. */
    memset(&rb, 0, sizeof rb);
    raw_rewrite(db->dbi_recs, k, flip_last);
    cr_assert_eq(cvs_check(db, collect, &rb, &p), 0, "%s", cvs_errmsg(db));
    {
        char want[64];
        snprintf(want, sizeof want, "recs: the value of key %lld fails", (long long)k);
        cr_assert(strstr(rb.all, want), "%s", rb.all);
    }
}

Test(crypt, a_flipped_id_entry_is_reported_by_its_hashed_key)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char copy[64];
    report_buf rb = {{0}};
    uint64_t p = 0;
    int failed = 0;
    cvs_txn *t;
    cvs_record rec;

    /* The first entry of "ids", whatever record its hashed key stands for. */
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, db->dbi_ids, &cur), 0);
    cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    cr_assert_eq(k.mv_size, 32, "ids keys are keyed hashes");
    cr_assert_leq(v.mv_size, sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 1] ^= 0x80;
    v.mv_data = copy;
    cr_assert_eq(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
    mdb_cursor_close(cur);
    cr_assert_eq(mdb_txn_commit(txn), 0);

    cr_assert_eq(cvs_check(db, collect, &rb, &p), 0, "%s", cvs_errmsg(db));
    cr_assert(strstr(rb.all, "ids: the value of key 0x") && strstr(rb.all, "fails authentication"),
              "%s", rb.all);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int i = 0; i < N; i++) {
        char id[32];
        int rc;
        snprintf(id, sizeof id, "secret-id-%d", i);
        rc = cvs_get(t, id, strlen(id), &rec, NULL);
        cr_assert(rc == 0 || rc == CVS_ECORRUPT, "rc %d", rc);
        failed += rc == CVS_ECORRUPT;
    }
    cvs_txn_end(t);
    cr_assert_eq(failed, 1);
}

/* Readers on their own snapshots share the arena registry with a writer. */
static void *reader(void *arg)
{
    long fails = 0;
    (void)arg;
    for (int round = 0; round < 30; round++) {
        cvs_txn *t;
        cvs_record rec;
        float v[DIM];
        if (cvs_txn_begin(db, &t) != 0) {
            fails++;
            continue;
        }
        for (int i = round; i < N; i += 17) {
            char id[32];
            snprintf(id, sizeof id, "secret-id-%d", i);
            fails += cvs_get(t, id, strlen(id), &rec, v) != 0 ||
                     memcmp(v, vecs + (size_t)i * DIM, sizeof v) != 0;
        }
        cvs_txn_end(t);
    }
    return (void *)fails;
}

Test(crypt, readers_and_a_writer_in_threads)
{
    pthread_t th[3];
    void *fails;
    long total = 0;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int b = 0; b < 20; b++) {
        char id[32];
        cvs_record r = {0};
        snprintf(id, sizeof id, "new-%d", b);
        r.id = id;
        r.id_len = strlen(id);
        r.vector = vecs + (size_t)b * DIM;
        r.text = "written while others read";
        r.text_len = strlen(r.text);
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_join(th[i], &fails), 0);
        total += (long)fails;
    }
    cr_assert_eq(total, 0);
    cr_assert_eq(problems(db), 0);
}

/* Counts raw values of dbi whose first 8 bytes read as a small integer, as
 * every plain record key (and so every plain dupsort value) here would. */
static size_t small_raw_values(MDB_dbi dbi, size_t *total)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t small = 0;
    *total = 0;
    cr_assert_eq(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, dbi, &cur), 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cr_assert_geq(v.mv_size, 8);
        small += cvs__get_u64(v.mv_data) < 1000000;
        ++*total;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return small;
}

Test(crypt, dupsort_values_are_permuted_and_still_work)
{
    size_t total;
    int64_t keys[3], seeds[4];
    float sc[3];
    cvs_edge e[8];
    size_t n = 0;
    cvs_txn *t;
    cvs_link_stats ls;
    cr_assert_eq(cvs_link_mentions(db, &ls), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(small_raw_values(db->dbi_backlinks, &total), 0);
    cr_assert_eq(total, N - 1);
    cr_assert_eq(small_raw_values(cvs__text(db)->dbi_terms, &total), 0);
    cr_assert_gt(total, 3 * N);
    cr_assert_eq(small_raw_values(cvs__graph(db)->dbi_titlemap, &total), 0);
    cr_assert_gt(total, 0);
    /* Postings, backlinks and the title map still answer. */
    cr_assert_eq(cvs_text_search(db, "zebra77", 7, 3, keys, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(keys[0], key_of("secret-id-77"));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    /* secret-id-78 links to 77 (make_store): 77's backlink names 78. */
    cr_assert_eq(cvs__graph_backlinks(t, key_of("secret-id-77"), e, 8, &n), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(n, 1);
    cr_assert_eq(e[0].key, key_of("secret-id-78"));
    n = 0;
    cr_assert_eq(cvs__graph_title_seeds(t, "about titlemarker 77", 20, seeds, 4, &n), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_geq(n, 1);
    cr_assert_eq(seeds[0], key_of("secret-id-77"));
    cvs_txn_end(t);
    cr_assert_eq(problems(db), 0);
    /* Deletes find their postings and backlinks by value. */
    {
        size_t deleted = 0;
        const char *id = "secret-id-77";
        size_t len = strlen(id);
        cr_assert_eq(cvs_delete(db, &id, &len, 1, &deleted), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(deleted, 1);
    }
    cr_assert_eq(cvs_text_search(db, "zebra77", 7, 3, keys, sc), 0);
    cr_assert_eq(keys[0], -1);
    cr_assert_eq(problems(db), 0);

    /* A changed backlink decrypts to a random key: check finds it through
     * the links it no longer matches. */
    {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        unsigned char kb[64], vb[8];
        cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
        cr_assert_eq(mdb_cursor_open(txn, db->dbi_backlinks, &cur), 0);
        cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
        memcpy(kb, k.mv_data, k.mv_size);
        memcpy(vb, v.mv_data, 8);
        k.mv_data = kb;
        mdb_cursor_close(cur);
        cr_assert_eq(mdb_del(txn, db->dbi_backlinks, &k, &v), 0);
        vb[3] ^= 0x10;
        v.mv_data = vb;
        cr_assert_eq(mdb_put(txn, db->dbi_backlinks, &k, &v, 0), 0);
        cr_assert_eq(mdb_txn_commit(txn), 0);
    }
    cr_assert_geq(problems(db), 2);
}

static unsigned char swap_buf[4096];
static size_t swap_len;

static void take(unsigned char *p, size_t n)
{
    unsigned char tmp[4096];
    cr_assert_leq(n, sizeof tmp);
    memcpy(tmp, p, n);
    cr_assert_leq(swap_len, sizeof swap_buf);
    memcpy(p, swap_buf, swap_len);
    memcpy(swap_buf, tmp, n);
    swap_len = n;
}

Test(crypt, values_swapped_between_records_or_databases_are_detected)
{
    int64_t a = key_of("secret-id-10"), b = key_of("secret-id-11");
    MDB_txn *txn;
    MDB_val k = {8, &a}, v;
    report_buf rb = {{0}};
    uint64_t p = 0;
    cvs_txn *t;
    cvs_record rec;

    /* Two texts of equal length exchanged: each is a valid sealed value,
     * but under the other record's key. */
    cr_assert_eq(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_get(txn, db->dbi_text, &k, &v), 0);
    swap_len = v.mv_size;
    memcpy(swap_buf, v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    raw_rewrite(db->dbi_text, b, take); /* b gets a's, swap_buf b's */
    raw_rewrite(db->dbi_text, a, take); /* a gets b's */
    cr_assert_eq(cvs_check(db, collect, &rb, &p), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(p, 2, "%s", rb.all);
    cr_assert(strstr(rb.all, "text: record \"secret-id-10\"") &&
              strstr(rb.all, "text: record \"secret-id-11\""), "%s", rb.all);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "secret-id-10", 12, &rec, NULL), CVS_ECORRUPT);
    cr_assert_eq(cvs_get(t, "secret-id-11", 12, &rec, NULL), CVS_ECORRUPT);
    cvs_txn_end(t);

    /* A record's text moved into its own metadata slot: same key, another
     * database. */
    {
        int64_t c = key_of("secret-id-12");
        MDB_val ck = {8, &c};
        cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
        cr_assert_eq(mdb_get(txn, db->dbi_text, &ck, &v), 0);
        memcpy(swap_buf, v.mv_data, v.mv_size);
        v.mv_data = swap_buf;
        cr_assert_eq(mdb_put(txn, db->dbi_attrs, &ck, &v, 0), 0);
        cr_assert_eq(mdb_txn_commit(txn), 0);
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_get(t, "secret-id-12", 12, &rec, NULL), CVS_ECORRUPT);
        cvs_txn_end(t);
    }
}

Test(crypt, plain_stores_are_unaffected_and_ignore_a_passphrase)
{
    cvs_create_opts o = {DIM, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_open_opts oo = {0, PASS, strlen(PASS)};
    char *d2 = tu_tmpdir();
    cvs_db *h = NULL;
    cvs_info info;
    cr_assert_eq(cvs_db_create(d2, &o, &h), 0);
    cvs_db_close(h);
    cr_assert_eq(cvs_db_open_opts(d2, &oo, &h), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_info(h, &info), 0);
    cr_assert_eq(info.encrypted, 0);
    cr_assert_eq(info.format_version, 1);
    cvs_db_close(h);
    cr_assert_eq(cvs_db_create_encrypted(d2, &o, "", 0, &h), CVS_EKEY);
    tu_rmrf(d2);
    free(d2);
}

/* A damaged page whose node claims a key longer than LMDB ever writes (its
 * key size field is not checked on read): every copy of record 5's 8-byte
 * key in data.mdb gets a key size of 1000.  Opening the sealed values under
 * such keys once copied the key into a fixed stack buffer; now it is
 * reported as damage (CVS_ECORRUPT from the read, or a problem in check):
 * by the page check of store/seal.h when the key runs out of its page, by
 * make_ad's length check when it does not. */
Test(crypt, a_page_claiming_a_long_key_is_damage_not_an_overflow)
{
    int64_t k = key_of("secret-id-5");
    cvs_open_opts oo = {0, PASS, strlen(PASS)};
    unsigned char pat[12] = {0, 0, 8, 0};
    char path[4200];
    unsigned char *buf;
    size_t len, hits = 0;
    uint64_t p = 0;
    report_buf rb = {{0}};
    int rc;
    FILE *f;

    cvs_db_close(db);
    db = NULL;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_not_null(buf = (unsigned char *)read_file("data.mdb", &len));
    cvs__put_u64(pat + 4, (uint64_t)k);
    for (size_t i = 0; i + sizeof pat <= len; i++)
        if (!memcmp(buf + i, pat, sizeof pat)) {
            buf[i + 2] = 1000 & 0xff; /* mn_ksize, little-endian */
            buf[i + 3] = 1000 >> 8;
            hits++;
        }
    cr_assert_gt(hits, 0, "record 5's key not found in data.mdb");
    cr_assert_not_null(f = fopen(path, "r+b"));
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    free(buf);
    cr_assert_eq(cvs_db_open_opts(dir, &oo, &db), 0, "%s", cvs_errmsg(NULL));
    rc = cvs_check(db, collect, &rb, &p);
    cr_assert(rc == CVS_ECORRUPT || (rc == 0 && p > 0), "check: rc %d, %llu problems: %s",
              rc, (unsigned long long)p, rc ? cvs_errmsg(db) : rb.all);
    /* Which check meets it first depends on where the node sits in its
     * page: a key running out of its page is damage before it is opened. */
    cr_assert(strstr(rc ? cvs_errmsg(db) : rb.all, "fails authentication") ||
              strstr(rc ? cvs_errmsg(db) : rb.all, "store is damaged"), "%s",
              rc ? cvs_errmsg(db) : rb.all);
}

/* ==== Answers do not follow the salt ====
 * The same records put in the same order into a plain store and into two
 * encrypted ones (each create draws its own random salt).  Backlinks and a
 * title's records are dupsort values, kept in an encrypted store in the
 * order of a keyed permutation (seal.c, deviation 2) that follows the salt;
 * a capped read of them took a different subset in each store (knn.c
 * deviation 4, link.c deviation 9).  Here a record named by 40 others
 * (more than any cap below) and a title shared by 6 records: the capped
 * reads must give the smallest keys in key order (a title's runs all of
 * its records, in key order), and a question naming the title the same
 * context set, in every store. */
#define SN 60
#define SNAMED 40
#define SSHARED 6

static void salt_store(int encrypted, char **sdir, cvs_db **sdb)
{
    cvs_create_opts o = {DIM, CVS_METRIC_COSINE, CVS_RAW_F32};
    static float v[SN * DIM];
    char ids[SN][16], titles[SN][32], texts[SN][96];
    cvs_record r[SN];
    cvs_link_stats ls;
    *sdir = tu_tmpdir();
    cr_assert_not_null(*sdir);
    cr_assert_eq(encrypted ? cvs_db_create_encrypted(*sdir, &o, PASS, strlen(PASS), sdb)
                           : cvs_db_create(*sdir, &o, sdb),
                 0, "%s", cvs_errmsg(NULL));
    tu_randvecs(v, (size_t)SN * DIM, 17);
    memset(r, 0, sizeof r);
    for (int i = 0; i < SN; i++) {
        snprintf(ids[i], sizeof ids[i], "r%02d", i);
        if (i == 0) {
            snprintf(titles[i], sizeof titles[i], "Robert Plant");
            snprintf(texts[i], sizeof texts[i], "An English singer and songwriter.");
        } else if (i <= SNAMED) {
            snprintf(titles[i], sizeof titles[i], "Track r%02d", i);
            snprintf(texts[i], sizeof texts[i], "Track r%02d was sung by Robert Plant, take %d.",
                     i, i);
        } else if (i <= SNAMED + SSHARED) {
            snprintf(titles[i], sizeof titles[i], "Led Zeppelin");
            snprintf(texts[i], sizeof texts[i], "A rock band, part %d of its history.", i);
        } else {
            snprintf(titles[i], sizeof titles[i], "Other r%02d", i);
            snprintf(texts[i], sizeof texts[i], "A record about nothing in particular, %d.", i);
        }
        r[i] = (cvs_record){.id = ids[i], .id_len = strlen(ids[i]),
                            .vector = v + (size_t)i * DIM, .text = texts[i],
                            .text_len = strlen(texts[i]), .title = titles[i],
                            .title_len = strlen(titles[i])};
    }
    cr_assert_eq(cvs_put(*sdb, r, SN, 0, NULL, NULL), 0, "%s", cvs_errmsg(*sdb));
    cr_assert_eq(cvs_link_mentions(*sdb, &ls), 0, "%s", cvs_errmsg(*sdb));
}

/* Collects the keys of the title run of 2 terms (cvs_txn_title_runs). */
static int salt_run(void *ctx, const cvs_title_run *run)
{
    int64_t *keys = ctx;
    if (run->start == 0 && run->len == 2)
        for (size_t i = 0; i < run->nkeys && i < SSHARED; i++)
            keys[i] = run->keys[i];
    return 0;
}

/* The ids of a store's capped reads and of its context set for the
 * question, one string ("backlinks: ...; seeds: ...; context: ..."). */
static void salt_answers(cvs_db *sdb, char *out, size_t cap)
{
    cvs_txn *t;
    cvs_edge e[5];
    int64_t hub, seeds[3], prev = -1;
    size_t n = 0, len = 0;
    const char *id;
    size_t idl;
    const char *q = "Which songs did Robert Plant of Led Zeppelin sing?";
    cvs_context_opts o;
    cvs_context_result res;

    cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
    cr_assert_eq(cvs_txn_id_key(t, "r00", 3, &hub), 0);
    cr_assert_eq(cvs_txn_edges(t, hub, CVS_EDGES_BACKLINKS, 5, e, &n), 0, "%s", cvs_errmsg(sdb));
    cr_assert_eq(n, 5, "the hub is named by %d records; 5 read", SNAMED);
    len += (size_t)snprintf(out + len, cap - len, "backlinks:");
    for (size_t i = 0; i < n; i++) {
        cr_assert_gt(e[i].key, prev, "backlinks not in key order");
        prev = e[i].key;
        cr_assert_eq(cvs_key_id(t, e[i].key, &id, &idl), 0);
        len += (size_t)snprintf(out + len, cap - len, " %.*s", (int)idl, id);
    }
    /* The 5 smallest keys of the 40 records naming the hub: r01 .. r05. */
    cr_assert_str_eq(out, "backlinks: r01 r02 r03 r04 r05");
    n = 0;
    cr_assert_eq(cvs__graph_title_seeds(t, "Led Zeppelin", 12, seeds, 3, &n), 0, "%s",
                 cvs_errmsg(sdb));
    cr_assert_eq(n, 3);
    len += (size_t)snprintf(out + len, cap - len, "; seeds:");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(cvs_key_id(t, seeds[i], &id, &idl), 0);
        len += (size_t)snprintf(out + len, cap - len, " %.*s", (int)idl, id);
    }
    /* The same title's records over several stores (cvs_txn_title_runs):
     * all 6, in key order. */
    int64_t run[SSHARED] = {0};
    cvs_terms terms = {"led\0zeppelin", 13, 2};
    cr_assert_eq(cvs_txn_title_runs(t, &terms, salt_run, run), 0, "%s", cvs_errmsg(sdb));
    len += (size_t)snprintf(out + len, cap - len, "; runs:");
    for (size_t i = 0; i < SSHARED; i++) {
        cr_assert_eq(cvs_key_id(t, run[i], &id, &idl), 0);
        len += (size_t)snprintf(out + len, cap - len, " %.*s", (int)idl, id);
    }
    cvs_txn_end(t);
    cr_assert_str_eq(out, "backlinks: r01 r02 r03 r04 r05; seeds: r41 r42 r43; "
                          "runs: r41 r42 r43 r44 r45 r46");

    cvs_context_opts_init(&o);
    o.exact_words = 1;
    o.fanout = 3;
    o.budget = 400;
    cr_assert_eq(cvs_context(sdb, &o, q, strlen(q), &res), 0, "%s", cvs_errmsg(sdb));
    cr_assert_gt(res.n, 3);
    len += (size_t)snprintf(out + len, cap - len, "; context:");
    for (size_t i = 0; i < res.n; i++)
        len += (size_t)snprintf(out + len, cap - len, " %.*s/%d/%.5g", (int)res.items[i].id_len,
                                res.items[i].id, res.items[i].hop, (double)res.items[i].score);
    cvs_context_result_free(&res);
    cr_assert_lt(len, cap - 1, "answers truncated");
}

Test(crypt, answers_do_not_follow_the_salt)
{
    char *dirs[3];
    cvs_db *dbs[3];
    char ans[3][4096];
    for (int s = 0; s < 3; s++) {
        salt_store(s > 0, &dirs[s], &dbs[s]);
        salt_answers(dbs[s], ans[s], sizeof ans[s]);
    }
    /* The context set took backlinks of the hub: the walk read them. */
    cr_assert(strstr(ans[0], "/1/"), "no record reached by the walk: %s", ans[0]);
    cr_assert_str_eq(ans[1], ans[0], "encrypted store 1 differs from the plain one");
    cr_assert_str_eq(ans[2], ans[0], "encrypted store 2 differs from the plain one");
    for (int s = 0; s < 3; s++) {
        cvs_db_close(dbs[s]);
        tu_rmrf(dirs[s]);
        free(dirs[s]);
    }
}
