/* test_store.c -- the LMDB store: create/open, put/get/update/delete, links,
 * iteration, map growth, format versioning and cvs_check. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cvstore.h"
#include "graph/graph.h"
#include "store/db.h"
#include "tests/testutil.h"

static char *dir;
static cvs_db *db;

static void setup_l2(void)
{
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    dir = tu_tmpdir();
    cr_assert_not_null(dir);
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
}

static void teardown(void)
{
    cvs_db_close(db);
    db = NULL;
    tu_rmrf(dir);
    free(dir);
}

static uint64_t count(void)
{
    cvs_info info;
    cr_assert_eq(cvs_db_info(db, &info), 0);
    return info.count;
}

static uint64_t check_problems(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0, "%s", cvs_errmsg(db));
    return p;
}

TestSuite(store, .init = setup_l2, .fini = teardown);

Test(store, put_get_roundtrip)
{
    float v[4] = {1, 2, 3, 4}, out[4];
    cvs_record r = tu_rec("alpha", v), g;
    cvs_link links[2] = {{"alpha", 5, "self", 0.5f}, {"beta", 4, NULL, 1.0f}};
    float w[4] = {0, 0, 0, 1};
    cvs_record r2 = tu_rec("beta", w);
    size_t ins, upd;
    cvs_txn *t;

    r.text = "hello wörld";
    r.text_len = strlen(r.text);
    r.meta = "{ \"lang\" : \"en\", \"n\": 3 }";
    r.meta_len = strlen(r.meta);
    r.links = links;
    r.nlinks = 2;
    cvs_record batch[2] = {r, r2};
    cr_assert_eq(cvs_put(db, batch, 2, 0, &ins, &upd), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ins, 2);
    cr_assert_eq(upd, 0);
    cr_assert_eq(count(), 2);

    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "alpha", 5, &g, out), 0);
    cr_assert_eq(memcmp(out, v, sizeof v), 0);
    cr_assert_eq(g.text_len, strlen("hello wörld"));
    cr_assert_eq(memcmp(g.text, "hello wörld", g.text_len), 0);
    cr_assert_eq(g.meta_len, strlen("{\"lang\":\"en\",\"n\":3}"));
    cr_assert_eq(memcmp(g.meta, "{\"lang\":\"en\",\"n\":3}", g.meta_len), 0);
    cr_assert_eq(g.nlinks, 2);
    cr_assert_eq(g.links[0].id_len, 5);
    cr_assert_str_eq(g.links[0].type, "self");
    cr_assert_float_eq(g.links[0].weight, 0.5f, 1e-9);
    cr_assert_null(g.links[1].type);
    cr_assert(g.created_us > 0 && g.updated_us == g.created_us);
    cr_assert_eq(cvs_get(t, "gamma", 5, &g, NULL), CVS_NOTFOUND);
    cvs_txn_end(t);
    cr_assert_eq(check_problems(), 0);
}

Test(store, upsert_keeps_key_and_created)
{
    float v[4] = {1, 2, 3, 4}, v2[4] = {4, 3, 2, 1}, out[4];
    cvs_record r = tu_rec("a", v), g;
    size_t ins, upd;
    cvs_txn *t;
    int64_t key, created;

    r.text = "first";
    r.text_len = 5;
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &g, NULL), 0);
    key = g.key;
    created = g.created_us;
    cvs_txn_end(t);

    r.vector = v2;
    r.text = NULL;
    r.text_len = 0;
    cr_assert_eq(cvs_put(db, &r, 1, 0, &ins, &upd), 0);
    cr_assert_eq(ins, 0);
    cr_assert_eq(upd, 1);
    cr_assert_eq(count(), 1);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &g, out), 0);
    cr_assert_eq(g.key, key);
    cr_assert_eq(g.created_us, created);
    cr_assert(g.updated_us >= created);
    cr_assert_null(g.text, "text removed by the update");
    cr_assert_eq(memcmp(out, v2, sizeof v2), 0);
    cvs_txn_end(t);
}

Test(store, bad_records_change_nothing)
{
    float v[4] = {1, 2, 3, 4}, bad[4] = {1, NAN, 3, 4};
    cvs_record ok = tu_rec("ok", v), r[2];
    cr_assert_eq(cvs_put(db, &ok, 1, 0, NULL, NULL), 0);

    r[0] = tu_rec("x", v);
    r[1] = tu_rec("y", bad);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "not finite"), "%s", cvs_errmsg(db));
    r[1] = tu_rec("x", v);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "duplicate id"), "%s", cvs_errmsg(db));
    r[1] = tu_rec("z", v);
    r[1].meta = "[1,2]";
    r[1].meta_len = 5;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    r[1].meta = "{bad";
    r[1].meta_len = 4;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    r[1] = tu_rec("\xff\xfe", v);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert_str_eq(cvs_errmsg(db), "record 1: id is not valid UTF-8");
    r[1] = tu_rec("", v);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert_str_eq(cvs_errmsg(db), "record 1: empty id");
    r[1] = tu_rec("z", v);
    r[1].text = "ok\xc3";
    r[1].text_len = 3;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cvs_link dangling = {"nowhere", 7, NULL, 1};
    r[1] = tu_rec("z", v);
    r[1].links = &dangling;
    r[1].nlinks = 1;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "unknown id"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 1);
    cr_assert_eq(check_problems(), 0);
}

Test(store, long_ids_up_to_512_bytes)
{
    char id1[513], id2[513];
    float v[4] = {1, 1, 1, 1};
    cvs_record r[2];
    cvs_record g;
    cvs_txn *t;
    memset(id1, 'a', 512);
    id1[512] = 0;
    memcpy(id2, id1, 513);
    id2[511] = 'b'; /* same 448-byte prefix, different hash */
    r[0] = tu_rec(id1, v);
    r[1] = tu_rec(id2, v);
    cvs_link l = {id2, 512, NULL, 1};
    r[0].links = &l;
    r[0].nlinks = 1;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 2);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id2, 512, &g, NULL), 0);
    cr_assert_eq(g.id_len, 512);
    cr_assert_eq(memcmp(g.id, id2, 512), 0);
    cvs_txn_end(t);
    cr_assert_eq(check_problems(), 0);
    char id3[514];
    memset(id3, 'c', 513);
    id3[513] = 0;
    r[0] = tu_rec(id3, v);
    cr_assert_eq(cvs_put(db, r, 1, 0, NULL, NULL), CVS_EINPUT);
    const char *ids[1] = {id2};
    size_t lens[1] = {512}, n;
    cr_assert_eq(cvs_delete(db, ids, lens, 1, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(check_problems(), 0);
}

Test(store, delete_removes_incoming_links)
{
    float v[4] = {1, 2, 3, 4};
    cvs_record r[3] = {tu_rec("a", v), tu_rec("b", v), tu_rec("c", v)};
    cvs_link ab[2] = {{"b", 1, NULL, 1}, {"c", 1, "cites", 2}};
    cvs_link cb = {"b", 1, NULL, 1};
    cvs_record g;
    cvs_txn *t;
    size_t n;
    r[0].links = ab;
    r[0].nlinks = 2;
    r[2].links = &cb;
    r[2].nlinks = 1;
    cr_assert_eq(cvs_put(db, r, 3, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    const char *ids[2] = {"b", "nope"};
    size_t lens[2] = {1, 4};
    cr_assert_eq(cvs_delete(db, ids, lens, 2, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(count(), 2);
    cr_assert_eq(check_problems(), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &g, NULL), 0);
    cr_assert_eq(g.nlinks, 1);
    cr_assert_eq(memcmp(g.links[0].id, "c", 1), 0);
    cr_assert_str_eq(g.links[0].type, "cites");
    cr_assert_eq(cvs_get(t, "c", 1, &g, NULL), 0);
    cr_assert_eq(g.nlinks, 0);
    cvs_txn_end(t);
}

Test(store, iterate_in_insertion_order)
{
    float v[4] = {0};
    char ids[50][8];
    cvs_record r[50], g;
    cvs_txn *t;
    cvs_iter *it;
    size_t i = 0;
    float out[4];
    for (i = 0; i < 50; i++) {
        snprintf(ids[i], sizeof ids[i], "r%zu", i);
        v[0] = (float)i;
        r[i] = tu_rec(ids[i], v);
    }
    /* vector pointers all alias v, so every record has v[0]=49: fine here */
    cr_assert_eq(cvs_put(db, r, 50, 0, NULL, NULL), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_iter_open(t, &it), 0);
    i = 0;
    while (cvs_iter_next(it, &g, out) == 0) {
        cr_assert_eq(g.id_len, strlen(ids[i]));
        cr_assert_eq(memcmp(g.id, ids[i], g.id_len), 0);
        i++;
    }
    cr_assert_eq(i, 50);
    cvs_iter_close(it);
    cvs_txn_end(t);
}

Test(store, reopen_and_readonly)
{
    float v[4] = {1, 2, 3, 4};
    cvs_record r = tu_rec("a", v);
    cvs_info info;
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0);
    cvs_db_close(db);
    db = NULL;
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert_eq(info.count, 1);
    cr_assert_eq(info.dim, 4);
    cr_assert_eq(info.metric, CVS_METRIC_L2);
    cr_assert_eq(info.format_version, CVS_FORMAT_VERSION);
    cr_assert(info.disk_bytes > 0);
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), CVS_ERDONLY);
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_db *other;
    cr_assert_eq(cvs_db_create(dir, &o, &other), CVS_EEXIST);
}

Test(store, open_errors)
{
    cvs_db *other = NULL;
    char path[4200];
    cr_assert_eq(cvs_db_open("/nonexistent/cvstore", 0, &other), CVS_NOTFOUND);
    cr_assert(strstr(cvs_errmsg(NULL), "no store"), "%s", cvs_errmsg(NULL));

    /* A version mismatch is a clear error: rewrite the header's version. */
    cvs_db_close(db);
    db = NULL;
    {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = {6, "header"}, v;
        unsigned char h[CVS_HEADER_SIZE];
        cr_assert_eq(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 16);
        cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
        cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
        cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
        cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
        memcpy(h, v.mv_data, sizeof h);
        cvs__put_u32(h + 8, 99);
        v.mv_data = h;
        cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
        cr_assert_eq(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    cr_assert_eq(cvs_db_open(dir, 0, &other), CVS_EVERSION);
    cr_assert(strstr(cvs_errmsg(NULL), "format version 99"), "%s", cvs_errmsg(NULL));

    /* A plain LMDB environment that is not ours: never written to, it holds
     * no more than an interrupted init does (store/db.c); with a record,
     * it is another program's. */
    snprintf(path, sizeof path, "%s/plain", dir);
    {
        MDB_env *env;
        cr_assert_eq(mkdir(path, 0755), 0);
        cr_assert_eq(mdb_env_create(&env), 0);
        cr_assert_eq(mdb_env_open(env, path, 0, 0644), 0);
        mdb_env_close(env);
    }
    cr_assert_eq(cvs_db_open(path, 0, &other), CVS_EFORMAT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "an LMDB environment never written to"), "%s",
              cvs_errmsg(NULL));
    {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = {1, "k"}, v = {1, "v"};
        cr_assert_eq(mdb_env_create(&env), 0);
        cr_assert_eq(mdb_env_open(env, path, 0, 0644), 0);
        cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
        cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
        cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
        cr_assert_eq(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    cr_assert_eq(cvs_db_open(path, 0, &other), CVS_EFORMAT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "not a cvstore store"), "%s", cvs_errmsg(NULL));
}

/* A data.mdb cut short (a copy or download that stopped, a full disk)
 * holds fewer bytes than its pages reach: the open says so, for reading
 * and writing alike, instead of a later read past the end of the file
 * (SIGBUS: Python and every program without cvs_fault_exit died of it). */
Test(store, a_data_file_cut_short_is_refused_at_open)
{
    char path[4200], text[200];
    cvs_db *other = NULL;
    struct stat st;
    for (int b = 0; b < 20; b++) {
        cvs_record r[100];
        float v[100][4];
        char ids[100][16];
        for (int i = 0; i < 100; i++) {
            snprintf(ids[i], sizeof ids[i], "r%d", b * 100 + i);
            snprintf(text, sizeof text, "record %d of batch %d, some words to fill pages", i, b);
            for (int d = 0; d < 4; d++)
                v[i][d] = (float)(b * 100 + i + d);
            r[i] = (cvs_record){.id = ids[i], .id_len = strlen(ids[i]), .vector = v[i]};
        }
        cr_assert_eq(cvs_put(db, r, 100, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    cvs_db_close(db);
    db = NULL;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt(st.st_size, 5 * 4096);
    cr_assert_eq(truncate(path, st.st_size / 2), 0);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &other), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(NULL), "data.mdb is cut short"), "%s", cvs_errmsg(NULL));
    cr_assert_null(other);
    cr_assert_eq(cvs_db_open(dir, 0, &other), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(NULL), "restore"), "%s", cvs_errmsg(NULL));
    /* Nothing was written: the file is as it was left. */
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(cvs_db_open(dir, 0, &other), CVS_ECORRUPT);
}

Test(store, map_grows_without_error)
{
    /* 64 MiB initial map; write ~100 MiB of vectors in batches. */
    cvs_create_opts o = {1024, CVS_METRIC_IP, CVS_RAW_F32};
    cvs_db *big;
    char *d2 = tu_tmpdir();
    float *v = malloc(1000 * 1024 * sizeof *v);
    char (*ids)[16] = malloc(1000 * 16);
    cvs_record *r = malloc(1000 * sizeof *r);
    cvs_info info;
    uint64_t p;
    cr_assert_eq(cvs_db_create(d2, &o, &big), 0);
    for (int b = 0; b < 25; b++) {
        tu_randvecs(v, 1000 * 1024, (uint64_t)b);
        for (int i = 0; i < 1000; i++) {
            snprintf(ids[i], 16, "%d", b * 1000 + i);
            r[i] = tu_rec(ids[i], v + (size_t)i * 1024);
        }
        cr_assert_eq(cvs_put(big, r, 1000, 0, NULL, NULL), 0, "batch %d: %s", b, cvs_errmsg(big));
    }
    cr_assert_eq(cvs_db_info(big, &info), 0);
    cr_assert_eq(info.count, 25000);
    cr_assert(info.map_bytes > (64u << 20), "map grew: %llu", (unsigned long long)info.map_bytes);
    cr_assert_eq(cvs_check(big, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    cvs_db_close(big);
    tu_rmrf(d2);
    free(d2);
    free(v);
    free(ids);
    free(r);
}

static void collect(void *ctx, const char *msg)
{
    int *n = ctx;
    (*n)++;
    fprintf(stderr, "check: %s\n", msg);
}

Test(store, check_reports_damage)
{
    float v[4] = {1, 2, 3, 4};
    cvs_record r[2] = {tu_rec("a", v), tu_rec("b", v)};
    int seen = 0;
    uint64_t p;
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0);
    /* Damage: drop b's vector and give a a vector of the wrong size. */
    {
        MDB_txn *txn;
        uint64_t ka = 1, kb = 2;
        MDB_val k = {8, &kb}, val = {8, v};
        cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
        cr_assert_eq(mdb_del(txn, db->dbi_vecs, &k, NULL), 0);
        k.mv_data = &ka;
        cr_assert_eq(mdb_put(txn, db->dbi_vecs, &k, &val, 0), 0);
        cr_assert_eq(mdb_txn_commit(txn), 0);
    }
    cr_assert_eq(cvs_check(db, collect, &seen, &p), 0);
    cr_assert_geq(p, 2);
    cr_assert_eq((uint64_t)seen, p);
}

Test(store, f16_cosine_store)
{
    cvs_create_opts o = {3, CVS_METRIC_COSINE, CVS_RAW_F16};
    cvs_db *h;
    char *d2 = tu_tmpdir();
    float v[3] = {3, 0, 4}, out[3], zero[3] = {0, 0, 0};
    cvs_record r = tu_rec("v", v), g;
    cvs_txn *t;
    cr_assert_eq(cvs_db_create(d2, &o, &h), 0);
    cr_assert_eq(cvs_put(h, &r, 1, 0, NULL, NULL), 0);
    cr_assert_eq(cvs_txn_begin(h, &t), 0);
    cr_assert_eq(cvs_get(t, "v", 1, &g, out), 0);
    cr_assert_float_eq(out[0], 0.6f, 1e-3);
    cr_assert_float_eq(out[1], 0.0f, 1e-6);
    cr_assert_float_eq(out[2], 0.8f, 1e-3);
    cvs_txn_end(t);
    r.vector = zero;
    cr_assert_eq(cvs_put(h, &r, 1, 0, NULL, NULL), CVS_EINPUT, "zero vector rejected in cosine store");
    cvs_db_close(h);
    tu_rmrf(d2);
    free(d2);
}

Test(f16, simd_matches_scalar)
{
    enum { N = 4099 };
    static float in[N], a[N];
    static uint16_t h1[N], h2[N];
    tu_randvecs(in, N, 7);
    for (int i = 0; i < N; i++)
        in[i] *= (i % 7 == 0) ? 70000.0f : (i % 5 == 0 ? 1e-6f : 10.0f);
    in[0] = INFINITY;
    in[1] = -0.0f;
    in[2] = 65504.0f;
    in[3] = 65520.0f;   /* rounds to inf */
    in[4] = 5.96e-8f;   /* smallest subnormal */
    in[5] = NAN;
    cvs__f32_to_f16(in, h1, N);
    for (int i = 0; i < N; i++)
        h2[i] = cvs__f32_to_f16_scalar1(in[i]);
    for (int i = 0; i < N; i++)
        cr_assert_eq(h1[i], h2[i], "encode %d: %g -> %04x vs %04x", i, in[i], h1[i], h2[i]);
    cvs__f16_to_f32(h1, a, N);
    for (int i = 0; i < N; i++) {
        float s = cvs__f16_to_f32_scalar1(h1[i]);
        cr_assert(memcmp(&s, &a[i], 4) == 0 || (isnan(s) && isnan(a[i])), "decode %d", i);
    }
    for (uint32_t x = 0; x < 65536; x++) {
        float f = cvs__f16_to_f32_scalar1((uint16_t)x);
        if (!isnan(f))
            cr_assert_eq(cvs__f32_to_f16_scalar1(f), x, "round trip %04x", x);
    }
}

/* Vectors whose distances overflow single precision are refused as records
 * and as queries; what is accepted just below the limit ranks by finite
 * scores.  A zero query in a cosine store is refused. */
Test(store, overflowing_vectors_and_zero_cosine_queries_are_refused)
{
    float huge[4] = {3.4e38f, -3.4e38f, 1e-45f, 0}, near[4] = {6e18f, -6e18f, 0, 0};
    float v[4] = {1, 2, 3, 4}, q[4] = {1, 1, 1, 1}, zero[4] = {0};
    float f16big[4] = {1, 70000, 0, 0};
    cvs_record r[2] = {tu_rec("ok", v), tu_rec("huge", huge)};
    cvs_create_opts co = {4, CVS_METRIC_COSINE, CVS_RAW_F32}, fo = {4, CVS_METRIC_L2, CVS_RAW_F16};
    cvs_db *c = NULL;
    char *cdir;
    int64_t lab[3];
    float sc[3];

    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "record \"huge\": vector too large"), "%s",
              cvs_errmsg(db));
    cr_assert_eq(count(), 0);
    r[1] = tu_rec("near", near);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_search(db, q, 1, 3, 0, lab, sc), 0, "%s", cvs_errmsg(db));
    cr_assert(isfinite(sc[0]) && isfinite(sc[1]), "%g %g", sc[0], sc[1]);
    cr_assert(sc[0] < sc[1] && sc[1] > 1e18f, "%g %g", sc[0], sc[1]);
    cr_assert_eq(lab[2], -1);
    cr_assert_eq(cvs_search(db, huge, 1, 3, 0, lab, sc), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "query 0: vector too large"), "%s", cvs_errmsg(db));

    cr_assert_not_null(cdir = tu_tmpdir());
    cr_assert_eq(cvs_db_create(cdir, &co, &c), 0, "%s", cvs_errmsg(NULL));
    r[1] = tu_rec("huge", huge); /* cosine keeps the direction only: fine */
    cr_assert_eq(cvs_put(c, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(c));
    cr_assert_eq(cvs_search(c, zero, 1, 3, 0, lab, sc), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(c), "zero vector in a cosine store"), "%s", cvs_errmsg(c));
    cr_assert_eq(cvs_search(c, q, 1, 3, 0, lab, sc), 0, "%s", cvs_errmsg(c));
    cvs_db_close(c);
    tu_rmrf(cdir);

    cr_assert_eq(cvs_db_create(cdir, &fo, &c), 0, "%s", cvs_errmsg(NULL));
    r[1] = tu_rec("big", f16big);
    cr_assert_eq(cvs_put(c, r, 2, 0, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(c), "half precision"), "%s", cvs_errmsg(c));
    cvs_db_close(c);
    tu_rmrf(cdir);
    free(cdir);
}

/* 40 records, each text naming two others' titles, mention-linked: every
 * record then has the backlinks of two sources, two values under one key,
 * which LMDB keeps in a sub-page (DUPFIXED: packed 8-byte values). */
static void put_mentioning_records(void)
{
    static float v[40][4];
    static char ids[40][16], titles[40][16], texts[40][64];
    cvs_record r;
    cvs_link_stats st;

    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(titles[i], sizeof titles[i], "topic%d", i);
        snprintf(texts[i], sizeof texts[i], "note about topic%d and topic%d", (i + 1) % 40,
                 (i + 7) % 40);
        for (int j = 0; j < 4; j++)
            v[i][j] = (float)(i * 3 + j);
        r = tu_rec(ids[i], v[i]);
        r.title = titles[i];
        r.title_len = strlen(titles[i]);
        r.text = texts[i];
        r.text_len = strlen(texts[i]);
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    cr_assert_eq(cvs_link_mentions(db, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_gt(st.links, 0);
    cvs_db_close(db);
    db = NULL;
}

/* Where the first backlink lies, found through LMDB itself, so that it is
 * a live page of that database, not a free one: the file offset of its
 * leaf page and, within that page, of its key and of its first value. */
static void first_backlink(long *page_off, size_t *key_in_page, size_t *val_in_page)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, d;
    MDB_stat ms;
    uint64_t pgno;
    uintptr_t page;

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 32), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    cr_assert_eq(mdb_env_stat(env, &ms), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "backlinks", 0, &dbi), 0);
    cr_assert_eq(mdb_cursor_open(txn, dbi, &cur), 0);
    cr_assert_eq(mdb_cursor_get(cur, &k, &d, MDB_FIRST), 0);
    page = (uintptr_t)k.mv_data & ~(uintptr_t)(ms.ms_psize - 1);
    memcpy(&pgno, (const void *)page, 8);
    *page_off = (long)(pgno * ms.ms_psize);
    *key_in_page = (uintptr_t)k.mv_data - page;
    *val_in_page = (uintptr_t)d.mv_data - page;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void overwrite(long off, const void *bytes, size_t n)
{
    char path[4200];
    FILE *f;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_not_null(f = fopen(path, "r+b"));
    cr_assert_eq(fseek(f, off, SEEK_SET), 0);
    cr_assert_eq(fwrite(bytes, n, 1, f), 1);
    cr_assert_eq(fclose(f), 0);
}

static void relink_is_damage(void)
{
    cvs_link_stats st;
    int rc;
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    rc = cvs_link_mentions(db, &st);
    cr_assert_eq(rc, CVS_ECORRUPT, "relink: rc %d: %s", rc, cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "store is damaged"), "%s", cvs_errmsg(db));
}

/* A leaf page whose first node offset points below the page's free space
 * (mp_upper): LMDB reads its nodes as it finds them, and a delete on that
 * page moves (offset - upper) bytes, a negative length, over its page copy.
 * Relinking deletes and rewrites the mention links and their backlinks;
 * the page check before the handle's first write (store/pages.c) must call
 * the page damaged instead. */
Test(store, relinking_over_a_damaged_leaf_page_is_an_error)
{
    long page;
    size_t kin, vin;
    uint16_t upper, bad;
    char path[4200];
    FILE *f;

    put_mentioning_records();
    first_backlink(&page, &kin, &vin);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_not_null(f = fopen(path, "rb"));
    cr_assert_eq(fseek(f, page + 14, SEEK_SET), 0);
    cr_assert_eq(fread(&upper, 2, 1, f), 1);
    cr_assert_eq(fclose(f), 0);
    bad = (uint16_t)(upper - 16);
    overwrite(page + 16, &bad, 2);
    relink_is_damage();
}

/* The size LMDB moves a DUPFIXED key's packed values by is the sub-page's
 * own mp_pad (offset 8 of its header), not the caller's: with 8 turned into
 * 37, deleting the first backlink moved 37-byte values past the page copy
 * (a heap overflow in mdb_cursor_del, seen with a damaged copy in
 * tests/cli_damaged.sh).  The page check before the write must refuse it. */
Test(store, relinking_over_a_damaged_sub_page_size_is_an_error)
{
    long page;
    size_t kin, vin;
    uint16_t bad = 37;

    put_mentioning_records();
    first_backlink(&page, &kin, &vin);
    /* the first value of a two-value key: the sub-page's first packed
     * value, right after its 16-byte header, inside the leaf page */
    cr_assert_gt(vin, kin, "the first backlink's values are not in a sub-page");
    cr_assert_lt(vin, 4096);
    overwrite(page + (long)vin - 16 + 8, &bad, 2);
    relink_is_damage();
}

/* The first write of a handle checks every page of data.mdb first
 * (store/pages.c): a delete on a store whose backlinks sub-page packs its
 * values by a flipped size (37 for 8) is refused before LMDB moves them,
 * nothing is written, the record is still there, and `check` reports the
 * page. */
static char first_problem[512];

static void keep_first(void *ctx, const char *msg)
{
    char *buf = ctx;
    if (!buf[0])
        snprintf(buf, sizeof first_problem, "%s", msg);
}

Test(store, a_write_to_a_store_with_a_damaged_page_is_refused)
{
    uint64_t problems;
    long page;
    size_t kin, vin, del = 9;
    uint16_t bad = 37;
    const char *id = "r1";
    size_t len = 2;
    cvs_record got;
    cvs_txn *t;
    int rc;

    put_mentioning_records();
    first_backlink(&page, &kin, &vin);
    cr_assert_gt(vin, kin, "the first backlink's values are not in a sub-page");
    overwrite(page + (long)vin - 16 + 8, &bad, 2);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    rc = cvs_delete(db, &id, &len, 1, &del);
    cr_assert_eq(rc, CVS_ECORRUPT, "delete: rc %d: %s", rc, cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "store is damaged: data.mdb page"), "%s", cvs_errmsg(db));
    cr_assert_eq(del, 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, len, &got, NULL), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    /* check names it, as the first of its problems */
    first_problem[0] = 0;
    cr_assert_eq(cvs_check(db, keep_first, first_problem, &problems), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(problems, 1);
    cr_assert(strstr(first_problem, "store is damaged: backlinks: data.mdb page"), "%s",
              first_problem);
}

/* A live page that does not carry its own page number is damage too, and
 * a sound store opened afresh passes the check and takes the write. */
Test(store, a_page_without_its_own_number_is_refused_a_sound_one_is_written)
{
    long page;
    size_t kin, vin, ins = 0;
    uint64_t wrong = 3;
    float v[4] = {1, 2, 3, 4};
    cvs_record r = tu_rec("fresh", v);
    int rc;

    put_mentioning_records();
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, 0, &ins, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ins, 1);
    cvs_db_close(db);
    db = NULL;

    first_backlink(&page, &kin, &vin);
    wrong = (uint64_t)page / (uint64_t)sysconf(_SC_PAGESIZE) + 1;
    overwrite(page, &wrong, 8);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    r.id = "fresher";
    r.id_len = strlen(r.id);
    rc = cvs_put(db, &r, 1, 0, &ins, NULL);
    cr_assert_eq(rc, CVS_ECORRUPT, "put: rc %d: %s", rc, cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "does not carry its own number"), "%s", cvs_errmsg(db));
}

/* The meta key names of store/meta_keys.h (and graph.h's link_rule) are
 * on-disk bytes: each must be the name docs/FORMAT.md gives, with the
 * compiler's length and no NUL, and FORMAT.md's meta table must have a
 * row for it (`name` in its first column), so a key added to the code
 * without its documentation fails here. */
Test(store, meta_keys_are_the_documented_names)
{
    static const struct {
        MDB_val k;
        const char *doc;
    } keys[] = {
        {CVS__MKEY(CVS__META_HEADER), "header"},
        {CVS__MKEY(CVS__META_CRYPT), "crypt"},
        {CVS__MKEY(CVS__META_NEXT_KEY), "next_key"},
        {CVS__MKEY(CVS__META_CODEC), "codec"},
        {CVS__MKEY(CVS__META_CODEC_GEN), "codec_gen"},
        {CVS__MKEY(CVS__META_IVF), "ivf"},
        {CVS__MKEY(CVS__META_IVF_SEQ), "ivf_seq"},
        {CVS__MKEY(CVS__META_IVF_DEFAULTS), "ivf_defaults"},
        {CVS__MKEY(CVS__META_IVF_REFINE), "ivf_refine"},
        {CVS__MKEY(CVS__META_FIDX_SPEC), "fidx_spec"},
        {CVS__MKEY(CVS__META_FIDX_GEN), "fidx_gen"},
        {CVS__MKEY(CVS__META_FIDX_EPOCH), "fidx_epoch"},
        {CVS__MKEY(CVS__META_FIDX_DONE), "fidx_done"},
        {CVS__MKEY(CVS__META_FIDX_NEXT), "fidx_next"},
        {CVS__MKEY(CVS__META_FIDX_NCHUNKS), "fidx_nchunks"},
        {CVS__MKEY(CVS__META_FIDX_PARAM), "fidx_param"},
        {CVS__MKEY(CVS__META_FIDX_CHUNK), "fidx/c"},
        {CVS__MKEY(CVS__META_FIDX_DIRTY), "fidx/d"},
        {CVS__MKEY(CVS__META_BM25), "bm25"},
        {CVS__MKEY(CVS__META_KNN), "knn"},
        {CVS__MKEY(CVS__META_EMBEDDER), "embedder"},
        {CVS__MKEY(CVS__META_EMBED_URL), "embed_url"},
        {CVS__MKEY(CVS__META_SIF), "sif"},
        {CVS__MKEY(CVS__META_GLOVE_WORDS), "glove_words"},
        {CVS__MKEY(CVS__META_GLOVE_VECS), "glove_vecs"},
        {CVS__MKEY(CVS__META_QG), "qg"},
        {CVS__MKEY(CVS__META_QG_GEN), "qg_gen"},
        {CVS__MKEY(CVS__META_QG_NEXT), "qg_next"},
        {CVS__MKEY(CVS__META_QG_DEFAULTS), "qg_defaults"},
        {CVS__MKEY(CVS__META_QG_DIRTY), "qg/d"},
        {CVS__MKEY(CVS__META_SHARD), "shard"},
        {CVS__MKEY(CVS__META_LINK_RULE), "link_rule"},
    };
    char *format = tu_read_repo_file("docs/FORMAT.md");
    /* Only the meta table: "knn" also names a database in the table before it. */
    char *table = strstr(format, "\n### `meta`\n"), *end = table ? strstr(table, "\nHeader (") : NULL;
    cr_assert(table && end, "docs/FORMAT.md has no \"### `meta`\" section ending at \"Header (\"");
    *end = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = strlen(keys[i].doc);
        char row[64];
        /* A row of the meta table starts "| `name`" (prefixed keys: "| `fidx/c` + ..."). */
        snprintf(row, sizeof row, "\n| `%s`", keys[i].doc);
        cr_assert(strstr(table, row), "docs/FORMAT.md's meta table has no row for %s",
                  keys[i].doc);
        cr_assert_eq(keys[i].k.mv_size, n, "%s", keys[i].doc);
        cr_assert(!memcmp(keys[i].k.mv_data, keys[i].doc, n), "%s", keys[i].doc);
        cr_assert(CVS__MKEY_IS(&keys[i].k, CVS__META_HEADER) == !strcmp(keys[i].doc, "header"));
        for (size_t j = 0; j < i; j++)
            cr_assert(keys[j].k.mv_size != n || memcmp(keys[j].k.mv_data, keys[i].doc, n),
                      "%s twice", keys[i].doc);
    }
    free(format);
}

/* A count read from a damaged store sizes nothing it cannot: the index
 * loads (index/ivf_lists.c, codescan.c, marks.c, flat.c) refuse a count
 * whose (n + 1) * each would wrap, and take every count that fits. */
Test(store, counts_that_would_wrap_a_size_are_refused)
{
    cr_assert(cvs__count_fits(0, 8));
    cr_assert(cvs__count_fits(1000000, 784 + 8));
    cr_assert(cvs__count_fits(SIZE_MAX / 16 - 1, 16));
    cr_assert(!cvs__count_fits(SIZE_MAX / 16, 16));
    cr_assert(!cvs__count_fits(UINT64_MAX, 8));
    cr_assert(!cvs__count_fits(UINT64_MAX / 8 + 1, 16)); /* (n + 1) * 16 wraps to a small size */
}

/* ==== Fork ==== */

/* The child's half of handle_refuses_use_in_a_child_of_fork: a step
 * number on the first failure, 0 when the handle refused everything
 * with CVS_EFORK and a handle of the child's own worked. */
static int child_after_fork(cvs_txn *inherited)
{
    float v[4] = {0, 1, 0, 0}, q[4] = {1, 0, 0, 0}, sc[1];
    int64_t lab[1];
    cvs_record r = tu_rec("child", v);
    cvs_info info;
    cvs_txn *t = NULL;
    cvs_db *own = NULL;
    size_t ins, upd;
    if (cvs_db_info(db, &info) != CVS_EFORK)
        return 1;
    if (!strstr(cvs_errmsg(db), "open it again in this process"))
        return 2;
    if (cvs_txn_begin(db, &t) != CVS_EFORK || t)
        return 3;
    if (cvs_put(db, &r, 1, 0, &ins, &upd) != CVS_EFORK)
        return 4;
    if (cvs_search(db, q, 1, 1, CVS_SEARCH_EXACT, lab, sc) != CVS_EFORK)
        return 5;
    {
        /* The parent's snapshot: its pages are the parent's to reuse. */
        cvs_record g;
        cvs_iter *it = NULL;
        uint64_t n;
        if (cvs_get(inherited, "a", 1, &g, NULL) != CVS_EFORK ||
            cvs_txn_count(inherited, &n) != CVS_EFORK ||
            cvs_iter_open(inherited, &it) != CVS_EFORK || it)
            return 8;
    }
    /* Ending the parent's snapshot and closing its handle here release
     * nothing of the parent's (its reader slot stays its own). */
    cvs_txn_end(inherited);
    cvs_db_close(db);
    /* The child's own handle works, reads and writes. */
    if (cvs_db_open(dir, 0, &own) || cvs_db_info(own, &info) || info.count != 2)
        return 6;
    if (cvs_put(own, &r, 1, 0, &ins, &upd) || ins != 1)
        return 7;
    cvs_db_close(own);
    return 0;
}

/* A handle used in a child of fork() (multiprocessing, gunicorn, a
 * DataLoader's workers): every call fails with CVS_EFORK, the child can
 * open the store itself, and the parent loses nothing -- its snapshot
 * begun before the fork still reads, its handle still writes, the store
 * checks clean. */
Test(store, handle_refuses_use_in_a_child_of_fork)
{
    float v[4] = {1, 0, 0, 0}, w[4] = {0, 0, 1, 0}, out[4];
    cvs_record rs[2] = {tu_rec("a", v), tu_rec("b", w)}, g;
    size_t ins, upd;
    cvs_txn *t;
    pid_t pid;
    int st;
    cr_assert_eq(cvs_put(db, rs, 2, 0, &ins, &upd), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_after_fork(t));
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "the child died (status %d)", st);
    cr_assert_eq(WEXITSTATUS(st), 0, "the child failed at step %d", WEXITSTATUS(st));
    /* The parent's snapshot, begun before the fork, reads as before. */
    cr_assert_eq(cvs_get(t, "a", 1, &g, out), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(memcmp(out, v, sizeof v), 0);
    cr_assert_eq(cvs_get(t, "child", 5, &g, NULL), CVS_NOTFOUND, "a snapshot sees no later write");
    cvs_txn_end(t);
    cr_assert_eq(count(), 3, "the child's own handle wrote");
    cr_assert_eq(cvs_put(db, rs, 1, 0, &ins, &upd), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(check_problems(), 0);
}
