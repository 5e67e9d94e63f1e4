/*
 * flat.c -- the decoded-vector cache behind exact search.
 *
 * Why: reading 341K vectors out of LMDB (a cursor step and a copy each) costs
 * several times the arithmetic of one query, so a scan per query would be
 * dominated by it.  We decode the snapshot's vectors once into one array
 * (what FAISS's IndexFlat holds) and let every search of the same snapshot
 * share it.  The cache is keyed by LMDB's transaction id, which changes with
 * every committed write, so a search never sees vectors of another snapshot;
 * after a write the next search reloads.  (Incremental maintenance belongs
 * to the ANN index, which keeps its own structures up to date.)
 *
 * The cache holds at most CVSTORE_FLAT_CACHE_MB (default 8192) MiB; larger
 * stores are streamed from LMDB block by block instead.  Copies are
 * reference counted so that a reload does not pull the array out from under
 * a search still using the old one.
 */
#include <stdlib.h>
#include <string.h>

#include "index/flat.h"
#include "store/seal.h"

static size_t budget_bytes(void)
{
    const char *e = getenv("CVSTORE_FLAT_CACHE_MB");
    long mb = e ? strtol(e, NULL, 10) : 8192;
    return mb > 0 ? (size_t)mb << 20 : 0;
}

static void flat_free(cvs_flat *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->xn);
    free(f->keys);
    free(f);
}

static int flat_load(cvs_db *db, MDB_txn *txn, size_t n, cvs_flat **out)
{
    cvs__scan scan = {0};
    cvs_flat *f = calloc(1, sizeof *f);
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t i = 0;
    int rc = CVS_OK, mrc;

    if (!f)
        return cvs__err(CVS_ENOMEM, "out of memory");
    f->txnid = mdb_txn_id(txn);
    f->dim = db->dim;
    f->refs = 1;
    f->x = malloc((n ? n : 1) * db->dim * sizeof *f->x);
    f->keys = malloc((n ? n : 1) * sizeof *f->keys);
    if (db->metric == CVS_METRIC_L2)
        f->xn = malloc((n ? n : 1) * sizeof *f->xn);
    if (!f->x || !f->keys || (db->metric == CVS_METRIC_L2 && !f->xn)) {
        rc = cvs__err(CVS_ENOMEM, "out of memory caching %zu vectors", n);
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, db->dbi_vecs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0 && i < n;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan), i++) {
        if (k.mv_size != 8 || v.mv_size != cvs__vec_bytes(db)) {
            rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes (expected %zu); run cvstore check",
                          v.mv_size, cvs__vec_bytes(db));
            goto out;
        }
        f->keys[i] = (int64_t)cvs__get_u64(k.mv_data);
        cvs__decode_vec(db, v.mv_data, f->x + i * db->dim);
        if (f->xn) {
            const float *x = f->x + i * db->dim;
            float acc = 0;
            for (uint32_t d = 0; d < db->dim; d++)
                acc += x[d] * x[d];
            f->xn[i] = acc;
        }
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading vectors");
        goto out;
    }
    f->n = i;
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    if (rc) {
        flat_free(f);
        f = NULL;
    }
    *out = f;
    return rc;
}

/* The module's per-handle state: the decoded vectors of the newest snapshot
 * that was searched, shared by searches of that snapshot, under its own
 * lock. */
struct flat_state {
    pthread_mutex_t mu;
    int mu_ok;
    cvs_flat *flat;
};

static struct flat_state *flat_st(const cvs_db *db)
{
    return cvs__module_state(db, &cvs__flat_module);
}

int cvs__flat_get(cvs_db *db, MDB_txn *txn, cvs_flat **out)
{
    MDB_stat st;
    cvs_flat *f = NULL;
    size_t id = mdb_txn_id(txn);
    int rc, mrc;

    *out = NULL;
    pthread_mutex_lock(&flat_st(db)->mu);
    if (flat_st(db)->flat && flat_st(db)->flat->txnid == id) {
        flat_st(db)->flat->refs++;
        *out = flat_st(db)->flat;
        pthread_mutex_unlock(&flat_st(db)->mu);
        return CVS_OK;
    }
    pthread_mutex_unlock(&flat_st(db)->mu);

    if ((mrc = mdb_stat(txn, db->dbi_vecs, &st)))
        return cvs__err_lmdb(mrc, "counting vectors");
    /* A count too large to size (a damaged store's) is past any budget
     * too: the search goes on without the cache. */
    if (!cvs__count_fits(st.ms_entries, (size_t)db->dim * sizeof(float) + 8) ||
        st.ms_entries * (size_t)db->dim * sizeof(float) > budget_bytes())
        return CVS_OK;
    /* Loaded outside the lock: two threads may both load; the later one
     * wins the slot and the other copy lives only as long as its search. */
    if ((rc = flat_load(db, txn, st.ms_entries, &f)))
        return rc;
    pthread_mutex_lock(&flat_st(db)->mu);
    if (!flat_st(db)->flat || flat_st(db)->flat->txnid < f->txnid) {
        cvs_flat *old = flat_st(db)->flat;
        flat_st(db)->flat = f;
        f->refs++;
        if (old && --old->refs == 0)
            flat_free(old);
    }
    pthread_mutex_unlock(&flat_st(db)->mu);
    *out = f;
    return CVS_OK;
}

void cvs__flat_release(cvs_db *db, cvs_flat *f)
{
    int last;
    if (!f)
        return;
    pthread_mutex_lock(&flat_st(db)->mu);
    last = --f->refs == 0;
    pthread_mutex_unlock(&flat_st(db)->mu);
    if (last)
        flat_free(f);
}

void cvs__flat_drop(cvs_db *db)
{
    cvs_flat *f;
    pthread_mutex_lock(&flat_st(db)->mu);
    f = flat_st(db)->flat;
    flat_st(db)->flat = NULL;
    pthread_mutex_unlock(&flat_st(db)->mu);
    cvs__flat_release(db, f);
}

/* ==== The module (store/module.h) ==== */

static int flat_attach(cvs_db *db, void *state)
{
    struct flat_state *st = state;
    (void)db;
    if (pthread_mutex_init(&st->mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make a lock");
    st->mu_ok = 1;
    return CVS_OK;
}

static void flat_close(cvs_db *db, void *state)
{
    struct flat_state *st = state;
    if (!st->mu_ok)
        return;
    cvs__flat_drop(db);
    pthread_mutex_destroy(&st->mu);
}

const cvs__module cvs__flat_module = {
    .version = CVS__MODULE_VERSION,
    .name = "flat",
    .state_size = sizeof(struct flat_state),
    .attach = flat_attach,
    .close = flat_close,
};
