/*
 * read.c -- read snapshots: get by id or key, count, iterate.
 *
 * A cvs_txn wraps one LMDB read transaction.  Strings handed out point into
 * LMDB's memory map (zero copy) and so live exactly as long as the snapshot;
 * decoded link arrays are allocated and kept in a small arena freed by
 * cvs_txn_end, which gives them the same lifetime.
 */
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/module.h"
#include "store/seal.h"

/* ==== Open snapshots ==== */

int cvs__snap_register(cvs_db *db, uint64_t txnid)
{
    int rc = CVS_OK;
    pthread_mutex_lock(&db->snap_mu);
    if (db->nsnaps == db->csnaps) {
        size_t c = db->csnaps ? db->csnaps * 2 : 16;
        uint64_t *p = realloc(db->snaps, c * sizeof *p);
        if (!p) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto out;
        }
        db->snaps = p;
        db->csnaps = c;
    }
    db->snaps[db->nsnaps++] = txnid;
out:
    pthread_mutex_unlock(&db->snap_mu);
    return rc;
}

void cvs__snap_replace(cvs_db *db, uint64_t old, uint64_t txnid)
{
    pthread_mutex_lock(&db->snap_mu);
    for (size_t i = 0; i < db->nsnaps; i++)
        if (db->snaps[i] == old) {
            db->snaps[i] = txnid;
            break;
        }
    pthread_mutex_unlock(&db->snap_mu);
}

void cvs__snap_unregister(cvs_db *db, uint64_t txnid)
{
    pthread_mutex_lock(&db->snap_mu);
    for (size_t i = 0; i < db->nsnaps; i++)
        if (db->snaps[i] == txnid) {
            db->snaps[i] = db->snaps[--db->nsnaps];
            break;
        }
    pthread_mutex_unlock(&db->snap_mu);
}

uint64_t cvs__snap_oldest(cvs_db *db, uint64_t cur)
{
    uint64_t m = cur;
    pthread_mutex_lock(&db->snap_mu);
    for (size_t i = 0; i < db->nsnaps; i++)
        if (db->snaps[i] < m)
            m = db->snaps[i];
    pthread_mutex_unlock(&db->snap_mu);
    return m;
}

/* ==== Snapshots ==== */

CVS_API int cvs_txn_begin(cvs_db *db, cvs_txn **out)
{
    cvs_txn *t;
    int rc;
    if (!db || !out)
        return cvs__err(CVS_EINVAL, "cvs_txn_begin: NULL argument");
    *out = NULL;
    if ((rc = cvs__db_usable(db)))
        return rc;
    if (!(t = calloc(1, sizeof *t)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    t->db = db;
    /* Registered before the snapshot exists (as 0, which holds back every
     * purge of the IVF lists), so no purge can remove what it will see. */
    if ((rc = cvs__snap_register(db, 0))) {
        free(t);
        return rc;
    }
    if ((rc = cvs__read_begin(db, &t->txn))) {
        cvs__snap_unregister(db, 0);
        free(t);
        return rc;
    }
    t->txnid = (uint64_t)mdb_txn_id(t->txn);
    cvs__snap_replace(db, 0, t->txnid);
    *out = t;
    return CVS_OK;
}

CVS_API void cvs_txn_end(cvs_txn *t)
{
    if (!t)
        return;
    /* A snapshot the parent began: ending it here would free the parent's
     * reader slot under the parent (store/db.c, deviation 5). */
    if (cvs__db_inherited(t->db))
        return;
    cvs__read_end(t->db, t->txn);
    cvs__snap_unregister(t->db, t->txnid);
    for (size_t i = 0; i < t->narena; i++)
        free(t->arena[i]);
    free(t->arena);
    free(t);
}

static int arena_keep(cvs_txn *t, void *p)
{
    if (t->narena == t->carena) {
        size_t c = t->carena ? t->carena * 2 : 16;
        void **a = realloc(t->arena, c * sizeof *a);
        if (!a)
            return cvs__err(CVS_ENOMEM, "out of memory");
        t->arena = a;
        t->carena = c;
    }
    t->arena[t->narena++] = p;
    return CVS_OK;
}

int cvs__rec_decode(const MDB_val *v, int64_t *created, int64_t *updated,
                    const char **id, size_t *id_len)
{
    const unsigned char *p = v->mv_data;
    size_t len;
    if (v->mv_size < CVS_REC_FIXED)
        return cvs__err(CVS_ECORRUPT, "record value of %zu bytes is too short", v->mv_size);
    len = cvs__get_u16(p + 16);
    if (v->mv_size != CVS_REC_FIXED + len || len == 0)
        return cvs__err(CVS_ECORRUPT, "record value length %zu does not match its id length %zu",
                        v->mv_size, len);
    *created = (int64_t)cvs__get_u64(p);
    *updated = (int64_t)cvs__get_u64(p + 8);
    *id = (const char *)p + CVS_REC_FIXED;
    *id_len = len;
    return CVS_OK;
}

int cvs__load_record(cvs_txn *t, int64_t key, const MDB_val *recval,
                     cvs_record *rec, float *vec_out)
{
    cvs_db *db = t->db;
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    cvs_link *links = NULL;
    size_t nlinks = 0;
    int rc, mrc;

    memset(rec, 0, sizeof *rec);
    rec->key = key;
    if ((rc = cvs__rec_decode(recval, &rec->created_us, &rec->updated_us, &rec->id, &rec->id_len)))
        return cvs__err_prefix(rc, "key %lld", (long long)key);
    if (vec_out && db->raw == CVS_RAW_NONE &&
        (mrc = cvs__vget(db, t->txn, db->dbi_vecs, &k, &v)) == MDB_NOTFOUND) {
        /* A codes-only store: the vector is what a module holds for it
         * (store/module.h, reconstruct). */
        rc = CVS_NOTFOUND;
        for (size_t i = 0; i < db->nmods && rc == CVS_NOTFOUND; i++)
            if (db->mods[i].present && db->mods[i].m->reconstruct)
                rc = db->mods[i].m->reconstruct(db, db->mods[i].state, t->txn, k64, vec_out);
        if (rc == CVS_NOTFOUND)
            return cvs__err(CVS_ECORRUPT, "record \"%.*s\" has no vector", (int)rec->id_len, rec->id);
        if (rc)
            return cvs__err_prefix(rc, "record \"%.*s\"", (int)rec->id_len, rec->id);
    } else if (vec_out) {
        if ((mrc = cvs__vget(db, t->txn, db->dbi_vecs, &k, &v)))
            return mrc == MDB_NOTFOUND
                       ? cvs__err(CVS_ECORRUPT, "record \"%.*s\" has no vector", (int)rec->id_len, rec->id)
                       : cvs__err_lmdb(mrc, "reading a vector");
        if (v.mv_size != cvs__vec_bytes(db))
            return cvs__err(CVS_ECORRUPT, "record \"%.*s\": vector of %zu bytes, expected %zu",
                            (int)rec->id_len, rec->id, v.mv_size, cvs__vec_bytes(db));
        cvs__decode_vec(db, v.mv_data, vec_out);
    }
    if ((mrc = cvs__vget(db, t->txn, db->dbi_text, &k, &v)) == 0) {
        rec->text = v.mv_data;
        rec->text_len = v.mv_size;
    } else if (mrc != MDB_NOTFOUND) {
        return cvs__err_lmdb(mrc, "reading text");
    }
    if (db->have_titles) {
        if ((mrc = cvs__vget(db, t->txn, db->dbi_titles, &k, &v)) == 0) {
            rec->title = v.mv_data;
            rec->title_len = v.mv_size;
        } else if (mrc != MDB_NOTFOUND) {
            return cvs__err_lmdb(mrc, "reading a title");
        }
    }
    if ((mrc = cvs__vget(db, t->txn, db->dbi_attrs, &k, &v)) == 0) {
        rec->meta = v.mv_data;
        rec->meta_len = v.mv_size;
    } else if (mrc != MDB_NOTFOUND) {
        return cvs__err_lmdb(mrc, "reading meta");
    }
    if ((mrc = cvs__vget(db, t->txn, db->dbi_links, &k, &v)) == 0) {
        if ((rc = cvs__links_decode(v.mv_data, v.mv_size, &links, &nlinks)))
            return cvs__err_prefix(rc, "record \"%.*s\"", (int)rec->id_len, rec->id);
        if (links && (rc = arena_keep(t, links))) {
            free(links);
            return rc;
        }
        rec->links = links;
        rec->nlinks = nlinks;
    } else if (mrc != MDB_NOTFOUND) {
        return cvs__err_lmdb(mrc, "reading links");
    }
    return CVS_OK;
}

CVS_API int cvs_get_key(cvs_txn *t, int64_t key, cvs_record *rec, float *vec_out)
{
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    int mrc;
    if (!t || !rec)
        return cvs__err(CVS_EINVAL, "cvs_get_key: NULL argument");
    if ((mrc = cvs__db_usable(t->db))) /* a snapshot the parent began */
        return mrc;
    if ((mrc = cvs__vget(t->db, t->txn, t->db->dbi_recs, &k, &v)))
        return mrc == MDB_NOTFOUND ? cvs__err(CVS_NOTFOUND, "no record with key %lld", (long long)key)
                                   : cvs__err_lmdb(mrc, "reading a record");
    return cvs__load_record(t, key, &v, rec, vec_out);
}

CVS_API int cvs_get(cvs_txn *t, const char *id, size_t id_len, cvs_record *rec, float *vec_out)
{
    unsigned char buf[CVS_IDKEY_MAX];
    MDB_val ik, iv;
    int mrc;
    if (!t || !id || !rec)
        return cvs__err(CVS_EINVAL, "cvs_get: NULL argument");
    if (id_len == 0 || id_len > CVS_MAX_ID_LEN)
        return cvs__err(CVS_NOTFOUND, "not found: id of %zu bytes", id_len);
    cvs__idkey(id, id_len, buf, &ik);
    if ((mrc = cvs__vget(t->db, t->txn, t->db->dbi_ids, &ik, &iv)))
        return mrc == MDB_NOTFOUND ? cvs__err(CVS_NOTFOUND, "not found: \"%.*s\"", (int)id_len, id)
                                   : cvs__err_lmdb(mrc, "looking up an id");
    if (iv.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "ids entry of \"%.*s\" has %zu bytes", (int)id_len, id, iv.mv_size);
    return cvs_get_key(t, (int64_t)cvs__get_u64(iv.mv_data), rec, vec_out);
}

CVS_API int cvs_txn_count(cvs_txn *t, uint64_t *count)
{
    MDB_stat st;
    int mrc;
    if (!t || !count)
        return cvs__err(CVS_EINVAL, "cvs_txn_count: NULL argument");
    if ((mrc = cvs__db_usable(t->db)))
        return mrc;
    if ((mrc = mdb_stat(t->txn, t->db->dbi_ids, &st)))
        return cvs__err_lmdb(mrc, "counting records");
    *count = st.ms_entries;
    return CVS_OK;
}

CVS_API int cvs_key_id(cvs_txn *t, int64_t key, const char **id, size_t *id_len)
{
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    int64_t c, u;
    int mrc;
    if (!t || !id || !id_len)
        return cvs__err(CVS_EINVAL, "cvs_key_id: NULL argument");
    if ((mrc = cvs__db_usable(t->db)))
        return mrc;
    if ((mrc = cvs__vget(t->db, t->txn, t->db->dbi_recs, &k, &v)))
        return mrc == MDB_NOTFOUND ? cvs__err(CVS_NOTFOUND, "no record with key %lld", (long long)key)
                                   : cvs__err_lmdb(mrc, "reading a record");
    return cvs__rec_decode(&v, &c, &u, id, id_len);
}

/* ==== Iteration ==== */

struct cvs_iter {
    cvs_txn *t;
    MDB_cursor *cur;
    int started;
};

CVS_API int cvs_iter_open(cvs_txn *t, cvs_iter **out)
{
    cvs_iter *it;
    int mrc;
    if (!t || !out)
        return cvs__err(CVS_EINVAL, "cvs_iter_open: NULL argument");
    *out = NULL;
    if ((mrc = cvs__db_usable(t->db)))
        return mrc;
    if (!(it = calloc(1, sizeof *it)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    it->t = t;
    if ((mrc = mdb_cursor_open(t->txn, t->db->dbi_recs, &it->cur))) {
        free(it);
        return cvs__err_lmdb(mrc, "opening a cursor");
    }
    *out = it;
    return CVS_OK;
}

CVS_API int cvs_iter_next(cvs_iter *it, cvs_record *rec, float *vec_out)
{
    MDB_val k, v;
    int mrc;
    if (!it || !rec)
        return cvs__err(CVS_EINVAL, "cvs_iter_next: NULL argument");
    if ((mrc = cvs__db_usable(it->t->db)))
        return mrc;
    mrc = cvs__cget(it->t->db, it->cur, &k, &v, it->started ? MDB_NEXT : MDB_FIRST);
    it->started = 1;
    if (mrc == MDB_NOTFOUND)
        return CVS_NOTFOUND;
    if (mrc)
        return cvs__err_lmdb(mrc, "iterating");
    if (k.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "recs key of %zu bytes", k.mv_size);
    return cvs__load_record(it->t, (int64_t)cvs__get_u64(k.mv_data), &v, rec, vec_out);
}

CVS_API void cvs_iter_close(cvs_iter *it)
{
    if (!it)
        return;
    mdb_cursor_close(it->cur);
    free(it);
}
