/* test_module.c -- the module table (store/module.h): the store calls a
 * registered module's hooks in order, creates its later-added databases,
 * re-runs its write hooks after the map grows, writes a record's title
 * itself, and has room for more databases than the 16 LMDB slots it used
 * to allow. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "store/db.h"
#include "store/module.h"
#include "store/seal.h"
#include "tests/testutil.h"

#define NDBI 8 /* with the store's 9, more than the 16 the store used to allow */

struct tstate {
    MDB_dbi dbi[NDBI];
    int closed;
};

static struct {
    int attach, close, added, begin, put, put_done, del, del_done, end, wfree;
    size_t put_done_n, del_done_n;
    uint64_t last_put_key;
    size_t big;            /* bytes put_done writes in one value (0: none) */
} calls;

static int t_attach(cvs_db *db, void *state)
{
    (void)db;
    (void)state;
    calls.attach++;
    return CVS_OK;
}

static void t_close(cvs_db *db, void *state)
{
    (void)db;
    ((struct tstate *)state)->closed = 1;
    calls.close++;
}

/* Writes one value larger than the initial map into meta when calls.big is
 * set: the first run fails with MDB_MAP_FULL, the store grows the map and
 * runs everything again. */
static int write_big(cvs_db *db, MDB_txn *txn)
{
    MDB_val k = {3, "big"}, v = {calls.big, NULL};
    int mrc;
    void *buf;
    if (!calls.big)
        return CVS_OK;
    buf = calloc(1, calls.big);
    cr_assert_not_null(buf);
    v.mv_data = buf;
    mrc = mdb_put(txn, db->dbi_meta, &k, &v, 0);
    free(buf);
    return mrc ? cvs__werr(mrc, "writing a big value") : CVS_OK;
}

static int t_added(cvs_db *db, void *state, MDB_txn *txn)
{
    (void)state;
    calls.added++;
    return write_big(db, txn);
}

static int t_begin(cvs__wctx *w, void *ws)
{
    (void)w;
    *(int *)ws = 0; /* reset: per-run count of records put */
    calls.begin++;
    return CVS_OK;
}

static int t_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    (void)w;
    (*(int *)ws)++;
    calls.put++;
    calls.last_put_key = r->key;
    return CVS_OK;
}

static int t_put_done(cvs__wctx *w, void *ws, const int64_t *keys, const unsigned char *existed,
                      size_t n)
{
    (void)keys;
    (void)existed;
    calls.put_done++;
    calls.put_done_n = n;
    cr_assert_eq((size_t)*(int *)ws, n, "ws was reset at write_begin");
    return write_big(w->db, w->txn);
}

static int t_del(cvs__wctx *w, void *ws, uint64_t key)
{
    MDB_val k = {8, &key}, v;
    (void)ws;
    /* Called before the store removes anything of the record. */
    cr_assert_eq(mdb_get(w->txn, w->db->dbi_recs, &k, &v), 0);
    calls.del++;
    return CVS_OK;
}

static int t_del_done(cvs__wctx *w, void *ws, int64_t *keys, size_t n)
{
    (void)w;
    (void)ws;
    (void)keys;
    calls.del_done++;
    calls.del_done_n = n;
    return CVS_OK;
}

static int t_end(cvs__wctx *w, void *ws)
{
    (void)w;
    (void)ws;
    calls.end++;
    return CVS_OK;
}

static void t_free(void *ws)
{
    (void)ws;
    calls.wfree++;
}

#define DBI(i, name) {name, MDB_INTEGERKEY, 0, offsetof(struct tstate, dbi) + (i) * sizeof(MDB_dbi), \
                      0, CVS__SEAL_VALUES}
static const cvs__dbi_spec t_dbis[NDBI] = {
    DBI(0, "t0"), DBI(1, "t1"), DBI(2, "t2"), DBI(3, "t3"),
    DBI(4, "t4"), DBI(5, "t5"), DBI(6, "t6"), DBI(7, "t7"),
};

static const cvs__module tmod = {
    .version = CVS__MODULE_VERSION,
    .name = "test",
    .dbis = t_dbis,
    .ndbis = NDBI,
    .state_size = sizeof(struct tstate),
    .attach = t_attach,
    .close = t_close,
    .added = t_added,
    .wstate_size = sizeof(int),
    .write_begin = t_begin,
    .put = t_put,
    .put_done = t_put_done,
    .del = t_del,
    .del_done = t_del_done,
    .write_end = t_end,
    .write_free = t_free,
};
static const cvs__module *const with_t[] = {&tmod};

static cvs_record rec(const char *id, float *v)
{
    cvs_record r = {0};
    r.id = id;
    r.id_len = strlen(id);
    r.vector = v;
    r.title = "A title";
    r.title_len = 7;
    return r;
}

Test(module, hooks_called_in_order_and_databases_made)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_open_opts oo = {0};
    float v[3][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
    cvs_record r[3] = {rec("a", v[0]), rec("b", v[1]), rec("c", v[2])};
    const char *ids[1] = {"b"};
    size_t lens[1] = {1}, ins, upd, del;
    cvs_db *db;

    memset(&calls, 0, sizeof calls);
    cr_assert_eq(cvs__db_create(dir, &o, NULL, 0, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(calls.attach, 1);
    cr_assert(cvs__module_present(db, &tmod), "8 databases beyond the store's 10 were made");
    cr_assert_eq(calls.added, 0, "created with the store: nothing to fill");
    cr_assert_eq(cvs_put(db, r, 3, 0, &ins, &upd), 0);
    cr_assert_eq(calls.begin, 1);
    cr_assert_eq(calls.put, 3);
    cr_assert_eq(calls.put_done, 1);
    cr_assert_eq(calls.put_done_n, 3);
    cr_assert_eq(calls.end, 1);
    cr_assert_eq(calls.wfree, 1);
    cr_assert_eq(cvs_delete(db, ids, lens, 1, &del), 0);
    cr_assert_eq(del, 1);
    cr_assert_eq(calls.del, 1);
    cr_assert_eq(calls.del_done, 1);
    cr_assert_eq(calls.del_done_n, 1);
    cr_assert_eq(calls.end, 2);
    cvs_db_close(db);
    cr_assert_eq(calls.close, 1);

    /* The same store opened without the module: the store alone works. */
    cr_assert_eq(cvs__db_open(dir, &oo, NULL, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(module, title_is_the_stores)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    float v[4] = {1, 2, 3, 4};
    cvs_record r = rec("a", v), got;
    cvs_txn *t;
    cvs_db *db;

    /* No module at all: the title is written and read back by the store. */
    cr_assert_eq(cvs__db_create(dir, &o, NULL, 0, NULL, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &got, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(got.title_len, 7);
    cr_assert_eq(memcmp(got.title, "A title", 7), 0);
    cvs_txn_end(t);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(module, databases_added_later_are_made_and_filled)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_open_opts ro = {.flags = CVS_OPEN_RDONLY}, rw = {0};
    float v[4] = {1, 2, 3, 4};
    cvs_record r = rec("a", v);
    cvs_db *db;

    memset(&calls, 0, sizeof calls);
    cr_assert_eq(cvs__db_create(dir, &o, NULL, 0, NULL, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0);
    cvs_db_close(db);
    /* Read-only: the module is absent and none of its hooks runs. */
    cr_assert_eq(cvs__db_open(dir, &ro, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_not(cvs__module_present(db, &tmod));
    cr_assert_eq(calls.added, 0);
    cvs_db_close(db);
    /* Writable: its databases are created and it fills them, once. */
    cr_assert_eq(cvs__db_open(dir, &rw, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert(cvs__module_present(db, &tmod));
    cr_assert_eq(calls.added, 1);
    cvs_db_close(db);
    cr_assert_eq(cvs__db_open(dir, &rw, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(calls.added, 1);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(module, write_hooks_rerun_after_the_map_grows)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    float v[2][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}};
    cvs_record r[2] = {rec("a", v[0]), rec("b", v[1])};
    MDB_txn *txn;
    MDB_val k = {3, "big"}, val;
    cvs_db *db;

    memset(&calls, 0, sizeof calls);
    cr_assert_eq(cvs__db_create(dir, &o, NULL, 0, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    calls.big = 80u << 20; /* above the 64 MiB initial map */
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(calls.begin, 2, "the write ran again after the map grew");
    cr_assert_eq(calls.put, 2 * calls.begin);
    cr_assert_eq(calls.put_done, calls.begin);
    cr_assert_eq(calls.end, 1, "only the run that committed reached write_end");
    cr_assert_eq(calls.wfree, 1, "per-write state freed once per cvs_put");
    cr_assert_eq(cvs__read_begin(db, &txn), 0);
    cr_assert_eq(mdb_get(txn, db->dbi_meta, &k, &val), 0);
    cr_assert_eq(val.mv_size, calls.big);
    cvs__read_end(db, txn);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

Test(module, added_reruns_after_the_map_grows)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_open_opts rw = {0};
    float v[4] = {1, 2, 3, 4};
    cvs_record r = rec("a", v);
    MDB_txn *txn;
    MDB_val k = {3, "big"}, val;
    cvs_db *db;

    memset(&calls, 0, sizeof calls);
    cr_assert_eq(cvs__db_create(dir, &o, NULL, 0, NULL, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0);
    cvs_db_close(db);
    /* The module's databases are added and filled in one transaction that
     * does not fit the initial map: the re-run must fill them again. */
    calls.big = 80u << 20;
    cr_assert_eq(cvs__db_open(dir, &rw, with_t, 1, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(calls.added, 2, "added ran in the aborted run and again in the re-run");
    cr_assert_eq(cvs__read_begin(db, &txn), 0);
    cr_assert_eq(mdb_get(txn, db->dbi_meta, &k, &val), 0, "the re-run's fill was committed");
    cr_assert_eq(val.mv_size, calls.big);
    cvs__read_end(db, txn);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}
