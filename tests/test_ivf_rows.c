/* test_ivf_rows.c -- the SQ8 re-ranking rows of an "ivfN,sq8" index
 * (index/ivf_lists.c, docs/FORMAT.md "`ivf` (meta)"): stored after the list
 * id of each "lists" value by a build and by every put (meta ivf version
 * 3), read back instead of encoded when a process loads the index or
 * applies the change log, equal byte for byte to the SQ8 codes of the
 * stored vectors after puts, updates, deletes, a second handle's catch-up
 * and a reopen; damaged values are a clean CVS_ECORRUPT; and a store
 * written before the rows were stored (tests/data/fixture-ivf2, version 2)
 * opens, answers as it did, keeps version 2 through writes and becomes
 * version 3 with the next build. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "index/ivf.h"
#include "pq/codec.h"
#include "store/seal.h"
#include "tests/testutil.h"

enum { D = 16, N = 2000 };

static char *dir;
static cvs_db *db;
static int sealed; /* the store is encrypted (passphrase "pw") */

static void put_vecs(cvs_db *d, const float *v, size_t n, size_t dim, const char *prefix,
                     size_t from)
{
    cvs_record *r = calloc(n, sizeof *r);
    char (*ids)[32] = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[0], "%s%zu", prefix, from + i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = v + i * dim;
    }
    cr_assert_eq(cvs_put(d, r, n, 0, NULL, NULL), 0, "%s", cvs_errmsg(d));
    free(r);
    free(ids);
}

static void del_ids(cvs_db *d, const char *prefix, size_t from, size_t n)
{
    char buf[32];
    for (size_t i = from; i < from + n; i++) {
        const char *id = buf;
        size_t len;
        snprintf(buf, sizeof buf, "%s%zu", prefix, i);
        len = strlen(buf);
        cr_assert_eq(cvs_delete(d, &id, &len, 1, NULL), 0, "%s", cvs_errmsg(d));
    }
}

/* The version field of meta "ivf" (0: none). */
static uint32_t ivf_version(cvs_db *d)
{
    MDB_txn *rt;
    MDB_val k = {3, "ivf"}, v;
    uint32_t ver = 0;
    cr_assert_eq(cvs__read_begin(d, &rt), 0);
    if (mdb_get(rt, d->dbi_meta, &k, &v) == 0 && v.mv_size >= 12)
        ver = cvs__get_u32((const unsigned char *)v.mv_data + 8);
    cvs__read_end(d, rt);
    return ver;
}

/* Bytes of key's "lists" value (0: none); *val gets a copy when not NULL. */
static size_t list_value(cvs_db *d, uint64_t key, unsigned char *val)
{
    MDB_txn *rt;
    MDB_val k = {8, &key}, v;
    size_t n = 0;
    cr_assert_eq(cvs__read_begin(d, &rt), 0);
    if (mdb_get(rt, cvs__codes(d)->dbi_lists, &k, &v) == 0) {
        n = v.mv_size;
        if (val)
            memcpy(val, v.mv_data, n);
    }
    cvs__read_end(d, rt);
    return n;
}

/* Loads (or catches up) d's in-memory index in a fresh snapshot and
 * compares every live entry's row with the SQ8 code of the record's
 * stored vector (*differ: the rows that differ) and, with stored rows,
 * with the row in its "lists" value (*differ_stored).  Returns the rows
 * compared. */
static size_t compare_rows(cvs_db *d, size_t *differ, size_t *differ_stored)
{
    cvs_txn *t;
    cvs_ivf_params *p;
    cvs_codec *codec;
    cvs_ivf *ix;
    size_t n = 0;
    float *x = malloc(d->dim * sizeof *x);
    uint8_t *row = malloc(d->dim);

    *differ = *differ_stored = 0;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(cvs__ivf_params_for_txn(d, t->txn, &p), 0, "%s", cvs_errmsg(d));
    cr_assert_not_null(p);
    cr_assert(p->refine);
    cr_assert_eq(cvs__codec_for_txn(d, t->txn, &codec, NULL), 0);
    cr_assert_eq(cvs__ivf_acquire(d, t->txn, p, codec, &ix), 0, "%s", cvs_errmsg(d));
    cr_assert_eq(ix->rqb, d->dim);
    for (size_t li = 0; li < ix->nlist; li++) {
        const cvs_ivf_list *l = &ix->lists[li];
        for (size_t i = 0; i < l->n; i++) {
            uint64_t key = (uint64_t)l->keys[i];
            MDB_val k = {8, &key}, v;
            if (l->vis && l->vis[2 * i + 1] != UINT64_MAX)
                continue; /* deleted: its row is never read */
            cr_assert_eq(cvs__vget(d, t->txn, d->dbi_vecs, &k, &v), 0, "key %llu",
                         (unsigned long long)key);
            cvs__decode_vec(d, v.mv_data, x);
            cvs__sq8_encode(&p->sq, x, 1, row);
            if (memcmp(row, l->rq + i * ix->rqb, d->dim))
                ++*differ;
            if (p->rows) {
                cr_assert_eq(cvs__vget(d, t->txn, cvs__codes(d)->dbi_lists, &k, &v), 0);
                cr_assert_eq(v.mv_size, 4 + (size_t)d->dim);
                cr_assert_eq(cvs__get_u32(v.mv_data), li);
                if (memcmp(l->rq + i * ix->rqb, (const unsigned char *)v.mv_data + 4, d->dim))
                    ++*differ_stored;
            }
            n++;
        }
    }
    cvs__ivf_release(d, ix);
    cvs_txn_end(t);
    free(x);
    free(row);
    return n;
}

static size_t rows_equal_vectors(cvs_db *d)
{
    size_t differ, differ_stored, n = compare_rows(d, &differ, &differ_stored);
    cr_assert_eq(differ, 0, "%zu of %zu rows differ from their vectors' codes", differ, n);
    cr_assert_eq(differ_stored, 0, "%zu of %zu rows differ from the stored ones", differ_stored,
                 n);
    return n;
}

static uint64_t problems(cvs_db *d)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(d, NULL, NULL, &p), 0, "%s", cvs_errmsg(d));
    return p;
}

static int ann(cvs_db *d, const float *q, size_t k, size_t nprobe, size_t rerank, int64_t *l,
               float *s)
{
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = nprobe, .rerank = rerank,
                           .threads = 1};
    cvs_txn *t;
    int rc;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    rc = cvs_txn_search_params(t, q, 1, k, &p, l, s);
    cvs_txn_end(t);
    return rc;
}

static int open_at(const char *path, cvs_db **d)
{
    cvs_open_opts oo = {0, sealed ? "pw" : NULL, sealed ? 2 : 0};
    return cvs_db_open_opts(path, &oo, d);
}

static void open_dir(void)
{
    cr_assert_eq(open_at(dir, &db), 0, "%s", cvs_errmsg(NULL));
}

static void fini(void)
{
    cvs_db_close(db);
    db = NULL;
    if (dir)
        tu_rmrf(dir);
    free(dir);
    dir = NULL;
}

/* ==== Rows written by this cvstore (version 3) ==== */

/* The rows a build and later writes store, in an f16 l2 store (direct
 * codes; rows of the f16-rounded vector) and an f32 cosine one (residual
 * codes; rows of the normalized vector): equal to the codes of the stored
 * vectors in a load, after puts, updates and deletes applied from the log
 * by the writing handle and by a second one, and after a reopen, and
 * `cvstore check` finds nothing. */
static void rows_follow_writes(int metric, int raw)
{
    cvs_create_opts o = {D, metric, raw};
    cvs_build_opts bo = {.index = "ivf16,sq8"};
    float *v = malloc((size_t)N * D * sizeof *v), extra[60 * D];
    int64_t l[10], l2[10];
    float s[10], s2[10];
    cvs_db *db2;
    size_t n;

    tu_randvecs(v, (size_t)N * D, 41);
    dir = tu_tmpdir();
    if (sealed)
        cr_assert_eq(cvs_db_create_encrypted(dir, &o, "pw", 2, &db), 0, "%s", cvs_errmsg(NULL));
    else
        cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    put_vecs(db, v, N, D, "r", 0);
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    if (!sealed) { /* (compare_rows reads the sealed values' plaintext) */
        cr_assert_eq(ivf_version(db), 3);
        cr_assert_eq(list_value(db, (uint64_t)tu_key_of(db, "r7"), NULL), 4 + D);
    }
    cr_assert_eq(rows_equal_vectors(db), N);

    /* A second handle with the index loaded, to apply the log below. */
    cr_assert_eq(open_at(dir, &db2), 0);
    cr_assert_eq(rows_equal_vectors(db2), N);

    tu_randvecs(extra, 60 * D, 42);
    put_vecs(db, extra, 40, D, "new", 0);       /* adds */
    put_vecs(db, extra + 40 * D, 20, D, "r", 100); /* updates r100..r119 */
    del_ids(db, "r", 200, 30);                  /* deletes */
    n = N + 40 - 30;
    cr_assert_eq(rows_equal_vectors(db), n);
    cr_assert_eq(rows_equal_vectors(db2), n);
    cr_assert_eq(ann(db, extra + 45 * D, 10, 16, 50, l, s), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(l[0], tu_key_of(db, "r105"), "the updated record is its own nearest");
    cvs_db_close(db2);

    cvs_db_close(db);
    open_dir();
    cr_assert_eq(rows_equal_vectors(db), n);
    cr_assert_eq(ann(db, extra + 45 * D, 10, 16, 50, l2, s2), 0);
    cr_assert_eq(memcmp(l, l2, sizeof l), 0, "the reopened index answers otherwise");
    cr_assert_eq(memcmp(s, s2, sizeof s), 0);
    cr_assert_eq(problems(db), 0);
    free(v);
}

Test(ivf_rows, follow_writes_f16_l2, .fini = fini, .timeout = 120)
{
    rows_follow_writes(CVS_METRIC_L2, CVS_RAW_F16);
}

Test(ivf_rows, follow_writes_f32_cosine, .fini = fini, .timeout = 120)
{
    rows_follow_writes(CVS_METRIC_COSINE, CVS_RAW_F32);
}

/* An encrypted store's load copies each row out of the cursor's buffer
 * (a plain store's points into the map until the lists are laid out). */
Test(ivf_rows, follow_writes_encrypted, .fini = fini, .timeout = 120)
{
    sealed = 1;
    rows_follow_writes(CVS_METRIC_L2, CVS_RAW_F32);
    sealed = 0;
}

static void make_store(void)
{
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf16,sq8"};
    float *v = malloc((size_t)N * D * sizeof *v);
    tu_randvecs(v, (size_t)N * D, 43);
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    put_vecs(db, v, N, D, "r", 0);
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    free(v);
}

/* A load takes the stored rows, it does not encode them again: a row
 * changed in the store (the vector left alone) is the row a fresh handle
 * holds, and `cvstore check`, which does encode, reports it. */
Test(ivf_rows, load_reads_the_stored_rows, .init = make_store, .fini = fini, .timeout = 120)
{
    uint64_t key = (uint64_t)tu_key_of(db, "r9");
    unsigned char val[4 + D];
    size_t differ, differ_stored;
    tu_raw_put r = {cvs__codes(db)->dbi_lists, {8, &key}, {sizeof val, val}};

    cr_assert_eq(list_value(db, key, val), sizeof val);
    val[4 + 3] ^= 0x5a;
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cvs_db_close(db);
    open_dir();
    cr_assert_eq(compare_rows(db, &differ, &differ_stored), N);
    cr_assert_eq(differ_stored, 0, "the changed row was encoded again instead of read");
    cr_assert_eq(differ, 1);
    cr_assert_eq(problems(db), 1);
}

/* A "lists" value one byte short of its row, or one byte over, is
 * CVS_ECORRUPT naming the key and its list: when the index loads, and
 * when the change log brings an entry whose value is damaged; `cvstore
 * check` reports it.  Repaired, the store answers again. */
Test(ivf_rows, damaged_list_values, .init = make_store, .fini = fini, .timeout = 120)
{
    uint64_t key = (uint64_t)tu_key_of(db, "r9");
    unsigned char val[4 + D + 1];
    int64_t l[5];
    float s[5], q[D] = {0};
    tu_raw_put r = {cvs__codes(db)->dbi_lists, {8, &key}, {0, val}};
    char want[64];

    cr_assert_eq(list_value(db, key, val), 4 + D);
    val[4 + D] = 0;
    snprintf(want, sizeof want, "key %llu (list %u)", (unsigned long long)key,
             cvs__get_u32(val));
    for (int c = 0; c < 2; c++) {
        r.v.mv_size = c ? 4 + D + 1 : 4 + D - 1;
        cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
        cvs_db_close(db);
        open_dir();
        cr_assert_eq(ann(db, q, 5, 4, 20, l, s), CVS_ECORRUPT, "case %d", c);
        cr_assert(strstr(cvs_errmsg(db), want), "case %d: %s", c, cvs_errmsg(db));
        cr_assert_geq(problems(db), 1);
    }
    r.v.mv_size = 4 + D;
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cvs_db_close(db);
    open_dir();
    cr_assert_eq(ann(db, q, 5, 4, 20, l, s), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(problems(db), 0);

    /* Loaded, then a put whose value is damaged before this handle applies
     * its log entry: the catch-up refuses it. */
    {
        float x[D];
        cvs_db *w;
        uint64_t nk;
        tu_randvecs(x, D, 44);
        cr_assert_eq(cvs_db_open(dir, 0, &w), 0);
        put_vecs(w, x, 1, D, "late", 0);
        nk = (uint64_t)tu_key_of(w, "late0");
        cr_assert_eq(list_value(w, nk, val), 4 + D);
        r.k.mv_data = &nk;
        r.v.mv_size = 4 + D - 1;
        cr_assert_eq(cvs__write(w, tu_raw_put_fn, &r), 0);
        cvs_db_close(w);
        cr_assert_eq(ann(db, q, 5, 4, 20, l, s), CVS_ECORRUPT);
        snprintf(want, sizeof want, "key %llu (list %u)", (unsigned long long)nk,
                 cvs__get_u32(val));
        cr_assert(strstr(cvs_errmsg(db), want), "%s", cvs_errmsg(db));
    }
}

/* ==== A store written before the rows were stored (version 2) ==== */

static void open_fixture(void)
{
    char cmd[512];
    dir = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp '%s/fixture-ivf2/data.mdb' '%s/'", CVS_TEST_DATA, dir);
    cr_assert_eq(system(cmd), 0);
    open_dir();
}

/* Opens and answers as the cvstore that wrote it did (README.md there), its
 * rows encoded from the vectors on load; puts, an update and a delete keep
 * it at version 2 (4-byte "lists" values, rows encoded as the log is
 * applied, by this handle and by a fresh one); the next build writes
 * version 3 with the rows. */
Test(ivf_rows, v2_fixture_opens_answers_and_upgrades_on_build, .init = open_fixture,
     .fini = fini, .timeout = 120)
{
    static const char *const want_id[5] = {"r140", "n1", "r1", "r56", "r216"};
    static const float want_s[5] = {3.850954f, 3.966986f, 4.107821f, 4.306971f, 4.431623f};
    float q[8] = {0.5f, 1, -2, 0.3f, 3, -1, 0.2f, 1.1f}, x[3 * 8];
    cvs_build_opts bo = {.index = "ivf4,sq8"};
    cvs_index_info ii;
    int64_t l[5];
    float s[5];
    size_t n = 241;

    cr_assert_eq(ivf_version(db), 2);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(ii.spec, "ivf4,sq8");
    cr_assert_eq(ii.count, n);
    cr_assert_eq(problems(db), 0);
    cr_assert_eq(ann(db, q, 5, 2, 20, l, s), 0, "%s", cvs_errmsg(db));
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(l[i], tu_key_of(db, want_id[i]), "rank %d", i);
        cr_assert_float_eq(s[i], want_s[i], 1e-5f, "rank %d: %f", i, s[i]);
    }
    cr_assert_eq(rows_equal_vectors(db), n);

    tu_randvecs(x, 3 * 8, 45);
    put_vecs(db, x, 2, 8, "v", 0);
    put_vecs(db, x + 2 * 8, 1, 8, "r", 33); /* an update */
    del_ids(db, "r", 60, 1);
    n += 2 - 1;
    cr_assert_eq(ivf_version(db), 2);
    cr_assert_eq(list_value(db, (uint64_t)tu_key_of(db, "v1"), NULL), 4);
    cr_assert_eq(list_value(db, (uint64_t)tu_key_of(db, "r33"), NULL), 4);
    cr_assert_eq(rows_equal_vectors(db), n);
    cr_assert_eq(problems(db), 0);
    cvs_db_close(db);
    open_dir();
    cr_assert_eq(rows_equal_vectors(db), n);

    cr_assert_eq(cvs_build(db, "pq4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ivf_version(db), 3);
    cr_assert_eq(list_value(db, (uint64_t)tu_key_of(db, "v1"), NULL), 4 + 8);
    cr_assert_eq(rows_equal_vectors(db), n);
    cr_assert_eq(problems(db), 0);
    cvs_db_close(db);
    open_dir();
    cr_assert_eq(rows_equal_vectors(db), n);
}
