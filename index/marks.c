/*
 * marks.c -- the snapshot's vectors, meta counters and per-record marks of
 * the indexes built from a snapshot (index/marks.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "index/marks.h"
#include "store/seal.h"

int cvs__vecs_read_all(cvs_db *db, MDB_txn *txn, int64_t **keys_out, float **x_out,
                       size_t *n_out)
{
    cvs__scan scan = {0};
    MDB_cursor *cur = NULL;
    MDB_stat st;
    MDB_val k, v;
    int64_t *keys = NULL;
    float *x = NULL;
    size_t n = 0;
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_stat(txn, db->dbi_vecs, &st))) {
        rc = cvs__err_lmdb(mrc, "counting vectors");
        goto out;
    }
    if (st.ms_entries == 0) {
        rc = cvs__err(CVS_EINPUT, "%s: the store has no raw vectors to index%s", db->path,
                      db->raw == CVS_RAW_NONE ? " (raw none keeps codes only)" : "");
        goto out;
    }
    if (!cvs__count_fits(st.ms_entries, (size_t)db->dim * sizeof *x + sizeof *keys)) {
        rc = cvs__err(CVS_ECORRUPT, "vecs: a count of %zu entries; run cvstore check",
                      (size_t)st.ms_entries);
        goto out;
    }
    keys = malloc(st.ms_entries * sizeof *keys);
    x = malloc(st.ms_entries * db->dim * sizeof *x);
    if (!keys || !x) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu vectors", (size_t)st.ms_entries);
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, db->dbi_vecs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0 && n < st.ms_entries;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        if (k.mv_size != 8 || v.mv_size != cvs__vec_bytes(db)) {
            rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check", v.mv_size);
            goto out;
        }
        keys[n] = (int64_t)cvs__get_u64(k.mv_data);
        cvs__decode_vec(db, v.mv_data, x + n * db->dim);
        n++;
    }
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading vectors");
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    if (rc) {
        free(keys);
        free(x);
        keys = NULL;
        x = NULL;
        n = 0;
    }
    *keys_out = keys;
    *x_out = x;
    *n_out = n;
    return rc;
}

int cvs__meta_get_u64(cvs_db *db, MDB_txn *txn, const char *name, uint64_t *out, int *found)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *out = 0;
    *found = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta");
    if (v.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "meta %s has %zu bytes (expected 8)", name, v.mv_size);
    *out = cvs__get_u64(v.mv_data);
    *found = 1;
    return CVS_OK;
}

int cvs__meta_put_u64(cvs_db *db, MDB_txn *txn, const char *name, uint64_t val)
{
    unsigned char b[8];
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    int mrc;
    cvs__put_u64(b, val);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta");
    return CVS_OK;
}

int cvs__meta_drop_prefix(cvs_db *db, MDB_txn *txn, const char *prefix,
                          int (*keep)(const MDB_val *v, uint64_t arg), uint64_t arg)
{
    MDB_cursor *cur = NULL;
    size_t pl = strlen(prefix);
    MDB_val k = {pl, (void *)prefix}, v;
    int mrc, rc = CVS_OK;
    if ((mrc = mdb_cursor_open(txn, db->dbi_meta, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl))
            break;
        if (keep && keep(&v, arg))
            continue;
        if ((mrc = mdb_cursor_del(cur, 0))) {
            rc = cvs__werr(mrc, "deleting an old index entry");
            goto out;
        }
    }
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "walking the index entries");
out:
    mdb_cursor_close(cur);
    return rc;
}

/* prefix then key in big-endian: the marks of a prefix sort by key. */
static size_t mark_key(unsigned char *kb, size_t cap, const char *prefix, uint64_t key)
{
    size_t pl = strlen(prefix);
    if (pl + 8 > cap)
        return 0;
    memcpy(kb, prefix, pl);
    for (int i = 0; i < 8; i++)
        kb[pl + i] = (unsigned char)(key >> (56 - 8 * i));
    return pl + 8;
}

uint64_t cvs__mark_key_of(const MDB_val *k, size_t prefix_len)
{
    const unsigned char *p = (const unsigned char *)k->mv_data + prefix_len;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int cvs__mark_write(cvs_db *db, MDB_txn *txn, const char *prefix, uint64_t key, int deleted,
                    const uint64_t *next, const void *val, size_t vlen, const char *what)
{
    unsigned char kb[64];
    MDB_val k = {mark_key(kb, sizeof kb, prefix, key), kb}, v = {vlen, (void *)val};
    int mrc;
    if (!k.mv_size)
        return cvs__err(CVS_EINVAL, "mark prefix %s too long", prefix);
    if (deleted && next && key >= *next) {
        mrc = cvs__vdel(db, txn, db->dbi_meta, &k, NULL);
        return mrc && mrc != MDB_NOTFOUND ? cvs__werr(mrc, "unmarking a record") : CVS_OK;
    }
    if (!vlen)
        v.mv_data = kb; /* LMDB wants a pointer even for an empty value */
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0))) {
        char msg[96];
        snprintf(msg, sizeof msg, "marking a record for the %s", what);
        return cvs__werr(mrc, msg);
    }
    return CVS_OK;
}

int cvs__marks_each(cvs_db *db, MDB_txn *txn, const char *prefix, cvs__mark_fn fn, void *arg)
{
    MDB_cursor *cur = NULL;
    size_t pl = strlen(prefix);
    MDB_val k = {pl, (void *)prefix}, v;
    int rc = CVS_OK, mrc;
    if ((mrc = mdb_cursor_open(txn, db->dbi_meta, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        /* Only a key of another prefix ends the walk: one of the wrong size
         * under this prefix is still a (malformed) mark, and the marks after
         * it count. */
        int malformed = k.mv_size != pl + 8;
        uint64_t key = 0;
        if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl))
            break;
        /* Record keys are below 2^63 (int64_t everywhere else): a mark past
         * that is damage, and taken as a key it would sort first as a
         * signed value after keys it follows here, breaking the callers'
         * binary searches. */
        if (!malformed && ((key = cvs__mark_key_of(&k, pl)) >> 63))
            malformed = 1;
        if ((rc = fn(arg, &k, &v, malformed ? 0 : key, malformed)))
            goto out;
    }
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading the index's marks");
out:
    mdb_cursor_close(cur);
    return rc;
}

/* cvs__marks_list's walk: the keys so far and the caller's filter. */
typedef struct marks_acc {
    int64_t *keys;
    size_t n, cap;
    cvs__mark_fn keep;
    void *arg;
} marks_acc;

static int marks_add(void *arg, const MDB_val *k, const MDB_val *v, uint64_t key, int malformed)
{
    marks_acc *a = arg;
    int take = a->keep ? a->keep(a->arg, k, v, key, malformed) : 1;
    if (!take || malformed)
        return CVS_OK;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int64_t *nk = realloc(a->keys, nc * sizeof *nk);
        if (!nk)
            return cvs__err(CVS_ENOMEM, "out of memory");
        a->keys = nk;
        a->cap = nc;
    }
    a->keys[a->n++] = (int64_t)key;
    return CVS_OK;
}

int cvs__marks_list(cvs_db *db, MDB_txn *txn, const char *prefix, cvs__mark_fn keep, void *arg,
                    int64_t **out, size_t *nout)
{
    marks_acc a = {.keep = keep, .arg = arg};
    int rc = cvs__marks_each(db, txn, prefix, marks_add, &a);
    if (rc) {
        free(a.keys);
        a.keys = NULL;
        a.n = 0;
    }
    *out = a.keys;
    *nout = a.n;
    return rc;
}

size_t cvs__sorted_find(const int64_t *a, size_t n, int64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == key ? lo : n;
}
