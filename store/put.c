/*
 * put.c -- upsert and delete.
 *
 * A batch is validated completely before its write transaction begins
 * (UTF-8, finite values, JSON metadata, duplicate ids), so the transaction
 * itself only fails for reasons of the store (space, I/O) and the retry after
 * growing the map (db.c) re-runs pure LMDB work.  Each record touches:
 *   ids[idkey] = key        recs[key] = times + id      vecs[key] = vector
 *   text[key], attrs[key], links[key] when present, and
 *   backlinks[idkey(target)] += key for every link.
 *   titles[key] when present.
 * and then whatever the derived structures keep (codes and IVF lists, BM25
 * postings, the kNN graph, ...): the store calls every registered module's
 * hooks (store/module.h) in order, knowing none of them by name.  A
 * record's per-record hook runs before its title and text are replaced, so
 * the module can still read the old version of an update.
 * An update keeps the key and the creation time, replaces the rest; with
 * CVS_PUT_TIMES the times a record gives replace the put's (an import
 * restoring an export's history).
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/module.h"
#include "store/seal.h"

void cvs__idkey(const char *id, size_t len, unsigned char *buf, MDB_val *key)
{
    if (len <= CVS_IDKEY_RAW) {
        key->mv_data = (void *)id;
        key->mv_size = len;
        return;
    }
    memcpy(buf, id, 448);
    buf[448] = 0xff;
    crypto_generichash(buf + 449, 32, (const unsigned char *)id, len, NULL, 0);
    key->mv_data = buf;
    key->mv_size = CVS_IDKEY_LONG;
}

/* ==== Validation ==== */

typedef struct put_arg {
    const cvs_record *recs;
    size_t n;
    unsigned flags;
    char **meta;           /* canonical meta per record (or NULL) */
    size_t *meta_len;
    float *tmp;            /* dim floats for cosine normalization */
    size_t inserted, updated;
    int64_t *keys;         /* n: each record's key, for the modules */
    unsigned char *existed; /* n: 1 for an update */
    cvs__wctx w;           /* the modules' view of the transaction */
    void *ws[CVS__MAX_MODULES]; /* their per-write states */
    int since;             /* cvs__put_since: only onto snapshot snap */
    uint64_t snap;
} put_arg;

/* ==== The modules' write hooks (store/module.h) ==== */

#define EACH_MOD(db, i, slot) \
    for (size_t i = 0; i < (db)->nmods; i++) \
        if ((db)->mods[i].present && (db)->mods[i].m->slot)

/* A vector as a cosine store keeps it (store/db.h). */
void cvs__unit_vec(const cvs_db *db, const float *in, float *out)
{
    double norm = 0;
    for (uint32_t d = 0; d < db->dim; d++)
        norm += (double)in[d] * in[d];
    norm = 1.0 / sqrt(norm);
    for (uint32_t d = 0; d < db->dim; d++)
        out[d] = (float)(in[d] * norm);
}

static int wstates_alloc(cvs_db *db, void **ws)
{
    for (size_t i = 0; i < db->nmods; i++) {
        size_t sz = db->mods[i].m->wstate_size;
        if (!(ws[i] = calloc(1, sz ? sz : 1)))
            return cvs__err(CVS_ENOMEM, "out of memory");
    }
    return CVS_OK;
}

static void wstates_free(cvs_db *db, void **ws)
{
    for (size_t i = 0; i < db->nmods; i++) {
        if (ws[i] && db->mods[i].m->write_free)
            db->mods[i].m->write_free(ws[i]);
        free(ws[i]);
        ws[i] = NULL;
    }
}

/* Starts (or, after the map grew, restarts) a write for every module. */
static int wbegin(cvs__wctx *w, void **ws, cvs_db *db, MDB_txn *txn, int op, unsigned flags)
{
    int rc;
    w->db = db;
    w->txn = txn;
    w->op = op;
    w->flags = flags;
    w->keep_raw = 1;
    EACH_MOD(db, i, write_begin)
        if ((rc = db->mods[i].m->write_begin(w, ws[i])))
            return rc;
    return CVS_OK;
}

static int wend(cvs__wctx *w, void **ws)
{
    int rc;
    EACH_MOD(w->db, i, write_end)
        if ((rc = w->db->mods[i].m->write_end(w, ws[i])))
            return rc;
    return CVS_OK;
}

/* what prefixes the message ("link: empty id"); NULL for none, where the
 * caller prefixes its own ("record 3: empty id"). */
static int check_id(const char *id, size_t len, const char *what)
{
    const char *sep = what ? ": " : "";
    if (!what)
        what = "";
    if (!id || len == 0)
        return cvs__err(CVS_EINPUT, "%s%sempty id", what, sep);
    if (len > CVS_MAX_ID_LEN)
        return cvs__err(CVS_EINPUT, "%s%sid of %zu bytes (at most %d)", what, sep, len,
                        CVS_MAX_ID_LEN);
    if (!cvs__utf8_valid(id, len))
        return cvs__err(CVS_EINPUT, "%s%sid is not valid UTF-8", what, sep);
    return CVS_OK;
}

static int cmp_rec_id(const void *a, const void *b)
{
    const cvs_record *x = *(const cvs_record *const *)a, *y = *(const cvs_record *const *)b;
    size_t m = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(x->id, y->id, m);
    return c ? c : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

static int validate(cvs_db *db, put_arg *a)
{
    const int64_t latest = cvs__now_us() + CVS__TIME_AHEAD_US; /* CVS_PUT_TIMES */
    const cvs_record **sorted = NULL;
    int rc = CVS_OK;

    for (size_t i = 0; i < a->n; i++) {
        const cvs_record *r = &a->recs[i];
        double norm = 0;
        if ((rc = check_id(r->id, r->id_len, NULL)))
            return cvs__err_prefix(rc, "record %zu", i);
        if (!r->vector)
            return cvs__err(CVS_EINPUT, "record \"%.*s\": no vector", (int)r->id_len, r->id);
        for (uint32_t d = 0; d < db->dim; d++) {
            if (!isfinite(r->vector[d]))
                return cvs__err(CVS_EINPUT, "record \"%.*s\": value %u is not finite",
                                (int)r->id_len, r->id, d);
            norm += (double)r->vector[d] * r->vector[d];
        }
        if (db->metric == CVS_METRIC_COSINE && norm == 0)
            return cvs__err(CVS_EINPUT, "record \"%.*s\": zero vector in a cosine store",
                            (int)r->id_len, r->id);
        /* Cosine stores keep the vector divided by its norm (computed here
         * in double), so only l2 and ip ones meet the limits. */
        if (db->metric != CVS_METRIC_COSINE && norm > CVS__NORM2_MAX)
            return cvs__err(CVS_EINPUT, "record \"%.*s\": vector too large (squared norm %.3g "
                            "above %.3g: its distances would overflow single precision)",
                            (int)r->id_len, r->id, norm, CVS__NORM2_MAX);
        if (db->metric != CVS_METRIC_COSINE && db->raw == CVS_RAW_F16)
            for (uint32_t d = 0; d < db->dim; d++)
                if (fabs(r->vector[d]) > CVS__F16_MAX)
                    return cvs__err(CVS_EINPUT, "record \"%.*s\": value %u (%g) does not fit "
                                    "the store's half precision (at most %g in magnitude)",
                                    (int)r->id_len, r->id, d, (double)r->vector[d],
                                    CVS__F16_MAX);
        if (r->text && !cvs__utf8_valid(r->text, r->text_len))
            return cvs__err(CVS_EINPUT, "record \"%.*s\": text is not valid UTF-8",
                            (int)r->id_len, r->id);
        if (r->title && !cvs__utf8_valid(r->title, r->title_len))
            return cvs__err(CVS_EINPUT, "record \"%.*s\": title is not valid UTF-8",
                            (int)r->id_len, r->id);
        if (r->meta && (rc = cvs__meta_canonical(r->meta, r->meta_len, &a->meta[i], &a->meta_len[i])))
            return cvs__err_prefix(rc, "record \"%.*s\"", (int)r->id_len, r->id);
        if (r->nlinks && !r->links)
            return cvs__err(CVS_EINVAL, "record \"%.*s\": nlinks without links", (int)r->id_len, r->id);
        if ((a->flags & CVS_PUT_TIMES) && (r->created_us < 0 || r->updated_us < 0))
            return cvs__err(CVS_EINPUT, "record \"%.*s\": a negative time (created_us %lld, "
                            "updated_us %lld; microseconds since 1970)", (int)r->id_len, r->id,
                            (long long)r->created_us, (long long)r->updated_us);
        if ((a->flags & CVS_PUT_TIMES) &&
            (r->created_us > latest || r->updated_us > latest))
            return cvs__err(CVS_EINPUT, "record \"%.*s\": a time more than a day in the future "
                            "(created_us %lld, updated_us %lld; microseconds since 1970)",
                            (int)r->id_len, r->id, (long long)r->created_us,
                            (long long)r->updated_us);
        if ((a->flags & CVS_PUT_TIMES) && r->created_us && r->updated_us &&
            r->updated_us < r->created_us)
            return cvs__err(CVS_EINPUT, "record \"%.*s\": updated_us %lld is before created_us "
                            "%lld", (int)r->id_len, r->id, (long long)r->updated_us,
                            (long long)r->created_us);
        for (size_t l = 0; l < r->nlinks; l++) {
            const cvs_link *k = &r->links[l];
            if ((rc = check_id(k->id, k->id_len, "link")))
                return cvs__err_prefix(rc, "record \"%.*s\"", (int)r->id_len, r->id);
            if (k->type && (strlen(k->type) > 255 || !cvs__utf8_valid(k->type, strlen(k->type))))
                return cvs__err(CVS_EINPUT, "record \"%.*s\": link type must be UTF-8 of at most 255 bytes",
                                (int)r->id_len, r->id);
            if (!isfinite(k->weight))
                return cvs__err(CVS_EINPUT, "record \"%.*s\": link weight is not finite",
                                (int)r->id_len, r->id);
        }
    }
    if (a->n > 1) {
        if (!(sorted = malloc(a->n * sizeof *sorted)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        for (size_t i = 0; i < a->n; i++)
            sorted[i] = &a->recs[i];
        qsort(sorted, a->n, sizeof *sorted, cmp_rec_id);
        for (size_t i = 1; i < a->n; i++)
            if (cmp_rec_id(&sorted[i - 1], &sorted[i]) == 0) {
                rc = cvs__err(CVS_EINPUT, "duplicate id \"%.*s\" in one batch",
                              (int)sorted[i]->id_len, sorted[i]->id);
                break;
            }
        free(sorted);
    }
    return rc;
}

/* ==== Writing ==== */

static int read_next_key(cvs_db *db, MDB_txn *txn, uint64_t *nk)
{
    MDB_val k = CVS__MKEY(CVS__META_NEXT_KEY), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc)
        return cvs__err_lmdb(mrc, "reading next_key");
    if (v.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "meta next_key has %zu bytes", v.mv_size);
    *nk = cvs__get_u64(v.mv_data);
    return CVS_OK;
}

/* Removes key from the backlinks of every target of its stored links. */
static int drop_outgoing(cvs_db *db, MDB_txn *txn, uint64_t key)
{
    MDB_val k = {8, &key}, v, bk, bv;
    cvs_link *links = NULL;
    size_t n = 0;
    unsigned char buf[CVS_IDKEY_MAX];
    int rc, mrc = cvs__vget(db, txn, db->dbi_links, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__werr(mrc, "reading links");
    if ((rc = cvs__links_decode(v.mv_data, v.mv_size, &links, &n)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        cvs__idkey(links[i].id, links[i].id_len, buf, &bk);
        bv.mv_data = &key;
        bv.mv_size = 8;
        mrc = cvs__vdel(db, txn, db->dbi_backlinks, &bk, &bv);
        if (mrc && mrc != MDB_NOTFOUND) {
            rc = cvs__werr(mrc, "removing a backlink");
            break;
        }
    }
    free(links);
    if (rc == CVS_OK && (mrc = cvs__vdel(db, txn, db->dbi_links, &k, NULL)) && mrc != MDB_NOTFOUND)
        rc = cvs__werr(mrc, "removing links");
    return rc;
}

static int put_or_del(cvs_db *db, MDB_txn *txn, MDB_dbi dbi, uint64_t *key, const void *data,
                      size_t len, int existed, const char *what)
{
    MDB_val k = {8, key}, v = {len, (void *)data};
    int mrc;
    if (data) {
        mrc = cvs__vput(db, txn, dbi, &k, &v, 0);
    } else if (existed) {
        mrc = mdb_del(txn, dbi, &k, NULL);
        if (mrc == MDB_NOTFOUND)
            mrc = 0;
    } else {
        mrc = 0;
    }
    return mrc ? cvs__werr(mrc, what) : CVS_OK;
}

static int put_one(cvs_db *db, MDB_txn *txn, put_arg *a, size_t i, uint64_t *next_key,
                   int64_t now)
{
    const cvs_record *r = &a->recs[i];
    unsigned char idbuf[CVS_IDKEY_MAX];
    MDB_val ik, iv, k, v;
    uint64_t key;
    int64_t created = now, updated = now;
    int existed, rc, mrc;

    cvs__idkey(r->id, r->id_len, idbuf, &ik);
    mrc = cvs__vget(db, txn, db->dbi_ids, &ik, &iv);
    if (mrc && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "looking up an id");
    existed = mrc == 0;
    if (existed) {
        if (iv.mv_size != 8)
            return cvs__err(CVS_ECORRUPT, "ids entry of \"%.*s\" has %zu bytes",
                            (int)r->id_len, r->id, iv.mv_size);
        key = cvs__get_u64(iv.mv_data);
        k.mv_data = &key;
        k.mv_size = 8;
        if (cvs__vget(db, txn, db->dbi_recs, &k, &v) == 0 && v.mv_size >= CVS_REC_FIXED)
            created = (int64_t)cvs__get_u64(v.mv_data);
        if ((rc = drop_outgoing(db, txn, key)))
            return rc;
        a->updated++;
        a->existed[i] = 1;
    } else {
        key = (*next_key)++;
        iv.mv_data = &key;
        iv.mv_size = 8;
        if ((mrc = cvs__vput(db, txn, db->dbi_ids, &ik, &iv, 0)))
            return cvs__werr(mrc, "writing an id");
        a->inserted++;
        a->existed[i] = 0;
    }
    a->keys[i] = (int64_t)key;
    if (a->flags & CVS_PUT_TIMES) {
        /* Times restored; validate() checked each, and here the pair is
         * made whole so that updated >= created always holds (an export
         * writes both, and its own import refuses an update before the
         * creation).  A time not given is the record's stored creation
         * time, or for a new record the update time given, else now. */
        if (r->created_us)
            created = r->created_us;
        else if (!existed && r->updated_us)
            created = r->updated_us;
        if (r->updated_us)
            updated = r->updated_us;
        else if (updated < created)
            updated = created; /* a creation time given up to a day ahead */
        if (updated < created)
            return cvs__err(CVS_EINPUT, "record \"%.*s\": updated_us %lld is before its "
                            "creation time %lld (microseconds since 1970)", (int)r->id_len,
                            r->id, (long long)updated, (long long)created);
    }

    k.mv_data = &key;
    k.mv_size = 8;
    v.mv_size = CVS_REC_FIXED + r->id_len;
    if ((mrc = cvs__vreserve(db, txn, db->dbi_recs, &k, &v, 0)))
        return cvs__werr(mrc, "writing a record");
    cvs__put_u64(v.mv_data, (uint64_t)created);
    cvs__put_u64((unsigned char *)v.mv_data + 8, (uint64_t)updated);
    cvs__put_u16((unsigned char *)v.mv_data + 16, (uint16_t)r->id_len);
    memcpy((unsigned char *)v.mv_data + CVS_REC_FIXED, r->id, r->id_len);
    if ((mrc = cvs__vreserve_done(db, txn, db->dbi_recs, &k, &v, 0)))
        return cvs__werr(mrc, "writing a record");

    {
        const float *x = r->vector;
        if (db->metric == CVS_METRIC_COSINE) {
            cvs__unit_vec(db, r->vector, a->tmp);
            x = a->tmp;
        }
        if (a->w.keep_raw) {
            v.mv_size = cvs__vec_bytes(db);
            if ((mrc = cvs__vreserve(db, txn, db->dbi_vecs, &k, &v, 0)))
                return cvs__werr(mrc, "writing a vector");
            cvs__encode_vec(db, x, v.mv_data);
            if ((mrc = cvs__vreserve_done(db, txn, db->dbi_vecs, &k, &v, 0)))
                return cvs__werr(mrc, "writing a vector");
        }
        {
            cvs__wrec wr = {key, existed, r, x};
            EACH_MOD(db, m, put)
                if ((rc = db->mods[m].m->put(&a->w, a->ws[m], &wr)))
                    return rc;
        }
    }

    if (db->have_titles &&
        (rc = put_or_del(db, txn, db->dbi_titles, &key, r->title ? r->title : NULL,
                         r->title ? r->title_len : 0, existed, "writing a title")))
        return rc;
    if ((rc = put_or_del(db, txn, db->dbi_text, &key, r->text ? r->text : NULL,
                         r->text ? r->text_len : 0, existed, "writing text")))
        return rc;
    if ((rc = put_or_del(db, txn, db->dbi_attrs, &key, a->meta[i], a->meta_len[i], existed,
                         "writing meta")))
        return rc;
    if (r->nlinks) {
        v.mv_size = cvs__links_encoded_size(r->links, r->nlinks);
        if ((mrc = cvs__vreserve(db, txn, db->dbi_links, &k, &v, 0)))
            return cvs__werr(mrc, "writing links");
        cvs__links_encode(r->links, r->nlinks, v.mv_data);
        if ((mrc = cvs__vreserve_done(db, txn, db->dbi_links, &k, &v, 0)))
            return cvs__werr(mrc, "writing links");
        for (size_t l = 0; l < r->nlinks; l++) {
            MDB_val bk, bv = {8, &key};
            cvs__idkey(r->links[l].id, r->links[l].id_len, idbuf, &bk);
            if ((mrc = cvs__vput(db, txn, db->dbi_backlinks, &bk, &bv, 0)))
                return cvs__werr(mrc, "writing a backlink");
        }
    }
    return CVS_OK;
}

static int put_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    put_arg *a = arg;
    uint64_t next_key;
    int64_t now = cvs__now_us();
    MDB_val k = CVS__MKEY(CVS__META_NEXT_KEY), v = {8, &next_key};
    int rc, mrc;

    a->inserted = a->updated = 0;
    if (a->since && (uint64_t)mdb_txn_id(txn) != a->snap + 1)
        return CVS__STALE; /* another writer committed after the snapshot */
    if ((rc = read_next_key(db, txn, &next_key)))
        return rc;
    /* Inside the write transaction, so that a module sees a build by
     * another process before it encodes anything with stale parameters. */
    if ((rc = wbegin(&a->w, a->ws, db, txn, CVS__WRITE_PUT, a->flags)))
        return rc;
    for (size_t i = 0; i < a->n; i++)
        if ((rc = put_one(db, txn, a, i, &next_key, now)))
            return rc;
    if (!(a->flags & CVS_PUT_FORWARD_LINKS)) {
        for (size_t i = 0; i < a->n; i++)
            for (size_t l = 0; l < a->recs[i].nlinks; l++) {
                const cvs_link *lk = &a->recs[i].links[l];
                unsigned char buf[CVS_IDKEY_MAX];
                MDB_val ik, iv;
                cvs__idkey(lk->id, lk->id_len, buf, &ik);
                mrc = cvs__vget(db, txn, db->dbi_ids, &ik, &iv);
                if (mrc == MDB_NOTFOUND)
                    return cvs__err(CVS_EINPUT, "record \"%.*s\": link to unknown id \"%.*s\"",
                                    (int)a->recs[i].id_len, a->recs[i].id,
                                    (int)lk->id_len, lk->id);
                if (mrc)
                    return cvs__werr(mrc, "checking a link");
            }
    }
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing next_key");
    EACH_MOD(db, i, put_done)
        if ((rc = db->mods[i].m->put_done(&a->w, a->ws[i], a->keys, a->existed, a->n)))
            return rc;
    return wend(&a->w, a->ws);
}

static int put(cvs_db *db, const cvs_record *recs, size_t n, unsigned flags, const uint64_t *snap,
               size_t *inserted, size_t *updated)
{
    put_arg a = {.since = snap != NULL, .snap = snap ? *snap : 0};
    int rc;

    if (inserted)
        *inserted = 0;
    if (updated)
        *updated = 0;
    if (!db || (!recs && n))
        return cvs__err(CVS_EINVAL, "cvs_put: NULL argument");
    if (n == 0)
        return CVS_OK;
    a.recs = recs;
    a.n = n;
    a.flags = flags;
    a.meta = calloc(n, sizeof *a.meta);
    a.meta_len = calloc(n, sizeof *a.meta_len);
    a.tmp = malloc((size_t)db->dim * sizeof(float));
    a.keys = malloc(n * sizeof *a.keys);
    a.existed = malloc(n);
    if (!a.meta || !a.meta_len || !a.tmp || !a.keys || !a.existed) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = wstates_alloc(db, a.ws)))
        goto out;
    if ((rc = validate(db, &a)))
        goto out;
    if ((rc = cvs__write(db, put_fn, &a)))
        goto out;
    if (inserted)
        *inserted = a.inserted;
    if (updated)
        *updated = a.updated;
out:
    if (a.meta)
        for (size_t i = 0; i < n; i++)
            free(a.meta[i]);
    free(a.meta);
    free(a.meta_len);
    free(a.tmp);
    free(a.keys);
    free(a.existed);
    wstates_free(db, a.ws);
    return rc;
}

CVS_API int cvs_put(cvs_db *db, const cvs_record *recs, size_t n, unsigned flags,
                    size_t *inserted, size_t *updated)
{
    return put(db, recs, n, flags, NULL, inserted, updated);
}

int cvs__put_since(cvs_db *db, const cvs_record *recs, size_t n, unsigned flags,
                   uint64_t snap)
{
    return put(db, recs, n, flags, &snap, NULL, NULL);
}

/* ==== Delete ==== */

typedef struct del_arg {
    const char *const *ids;
    const size_t *lens;
    size_t n;
    size_t deleted;
    int64_t *keys;         /* the keys deleted, for the modules */
    cvs__wctx w;
    void *ws[CVS__MAX_MODULES];
} del_arg;

/* Rewrites src's links without those pointing at id. */
static int unlink_from(cvs_db *db, MDB_txn *txn, uint64_t src, const char *id, size_t len)
{
    MDB_val k = {8, &src}, v;
    cvs_link *links = NULL;
    size_t n = 0, m = 0;
    unsigned char *enc = NULL;
    int rc, mrc = cvs__vget(db, txn, db->dbi_links, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__werr(mrc, "reading links");
    if ((rc = cvs__links_decode(v.mv_data, v.mv_size, &links, &n)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!(links[i].id_len == len && memcmp(links[i].id, id, len) == 0))
            links[m++] = links[i];
    if (m == 0) {
        mrc = cvs__vdel(db, txn, db->dbi_links, &k, NULL);
    } else {
        /* links point into the page we are about to overwrite: copy first. */
        size_t sz = cvs__links_encoded_size(links, m);
        if (!(enc = malloc(sz))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto out;
        }
        cvs__links_encode(links, m, enc);
        v.mv_data = enc;
        v.mv_size = sz;
        mrc = cvs__vput(db, txn, db->dbi_links, &k, &v, 0);
    }
    if (mrc)
        rc = cvs__werr(mrc, "rewriting links");
out:
    free(enc);
    free(links);
    return rc;
}

static int del_one(cvs_db *db, MDB_txn *txn, del_arg *a, const char *id, size_t len,
                   int *found, int64_t *deleted_key)
{
    unsigned char buf[CVS_IDKEY_MAX];
    MDB_val ik, iv, k, bv;
    MDB_cursor *cur = NULL;
    uint64_t key, *srcs = NULL;
    size_t nsrc = 0, csrc = 0;
    int rc = CVS_OK, mrc;
    MDB_dbi by_key[5] = {db->dbi_recs, db->dbi_vecs, db->dbi_text, db->dbi_attrs, db->dbi_titles};
    int nby_key = db->have_titles ? 5 : 4;

    *found = 0;
    cvs__idkey(id, len, buf, &ik);
    mrc = cvs__vget(db, txn, db->dbi_ids, &ik, &iv);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__werr(mrc, "looking up an id");
    if (iv.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "ids entry of \"%.*s\" has %zu bytes", (int)len, id, iv.mv_size);
    key = cvs__get_u64(iv.mv_data);
    *found = 1;
    *deleted_key = (int64_t)key;
    /* The modules first, while every value of the record is still there. */
    EACH_MOD(db, m, del)
        if ((rc = db->mods[m].m->del(&a->w, a->ws[m], key)))
            return rc;
    if ((mrc = cvs__vdel(db, txn, db->dbi_ids, &ik, NULL)))
        return cvs__werr(mrc, "deleting an id");
    k.mv_data = &key;
    k.mv_size = 8;
    for (int i = 0; i < nby_key; i++)
        if ((mrc = mdb_del(txn, by_key[i], &k, NULL)) && mrc != MDB_NOTFOUND)
            return cvs__werr(mrc, "deleting a record");
    if ((rc = drop_outgoing(db, txn, key)))
        return rc;

    /* Incoming links: collect the sources first, since rewriting them while a
     * cursor walks backlinks would be fragile. */
    if ((mrc = mdb_cursor_open(txn, db->dbi_backlinks, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    mrc = cvs__cget(db, cur, &ik, &bv, MDB_SET_KEY);
    while (mrc == 0) {
        if (nsrc == csrc) {
            uint64_t *p = realloc(srcs, (csrc = csrc ? csrc * 2 : 16) * sizeof *srcs);
            if (!p) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            srcs = p;
        }
        srcs[nsrc++] = cvs__get_u64(bv.mv_data);
        mrc = cvs__cget(db, cur, &ik, &bv, MDB_NEXT_DUP);
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "reading backlinks");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    cvs__idkey(id, len, buf, &ik);
    if (nsrc && (mrc = cvs__vdel(db, txn, db->dbi_backlinks, &ik, NULL)) && mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "deleting backlinks");
        goto out;
    }
    for (size_t i = 0; i < nsrc && rc == CVS_OK; i++)
        if (srcs[i] != key)
            rc = unlink_from(db, txn, srcs[i], id, len);
out:
    if (cur)
        mdb_cursor_close(cur);
    free(srcs);
    return rc;
}

static int del_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    del_arg *a = arg;
    int rc, found;
    a->deleted = 0;
    if ((rc = wbegin(&a->w, a->ws, db, txn, CVS__WRITE_DELETE, 0)))
        return rc;
    for (size_t i = 0; i < a->n; i++) {
        if ((rc = del_one(db, txn, a, a->ids[i], a->lens[i], &found, &a->keys[a->deleted])))
            return rc;
        a->deleted += (size_t)found;
    }
    /* After the batch: what is recomputed over the records that remain
     * (the kNN graph, the mention links). */
    EACH_MOD(db, i, del_done)
        if ((rc = db->mods[i].m->del_done(&a->w, a->ws[i], a->keys, a->deleted)))
            return rc;
    return wend(&a->w, a->ws);
}

CVS_API int cvs_delete(cvs_db *db, const char *const *ids, const size_t *id_lens,
                       size_t n, size_t *deleted)
{
    del_arg a = {.ids = ids, .lens = id_lens, .n = n};
    int rc;
    if (deleted)
        *deleted = 0;
    if (!db || (n && (!ids || !id_lens)))
        return cvs__err(CVS_EINVAL, "cvs_delete: NULL argument");
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            return cvs__err(CVS_EINVAL, "delete: id %zu is NULL", i);
        if (id_lens[i] == 0)
            return cvs__err(CVS_EINVAL, "delete: id %zu is empty", i);
        if (id_lens[i] > CVS_MAX_ID_LEN)
            return cvs__err(CVS_EINVAL, "delete: id %zu has %zu bytes, more than the %d an id "
                            "may have", i, id_lens[i], CVS_MAX_ID_LEN);
    }
    if (n == 0)
        return CVS_OK;
    if (!(a.keys = malloc(n * sizeof *a.keys)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = wstates_alloc(db, a.ws)) == CVS_OK)
        rc = cvs__write(db, del_fn, &a);
    free(a.keys);
    wstates_free(db, a.ws);
    if (rc)
        return rc;
    if (deleted)
        *deleted = a.deleted;
    return CVS_OK;
}
