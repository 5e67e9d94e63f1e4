/*
 * ivf_lists.c -- the in-memory inverted lists of the IVF index (see
 * index/ivf.c for the method), kept in step with the store across
 * transactions and processes.
 *
 * Each list holds its keys and codes in the layout the kernels scan: packed
 * 32-code fast-scan blocks for 4-bit codecs (pq/kernels.c), plain rows
 * otherwise.  The lists are loaded once from the stored assignments
 * ("lists" + "codes"; no retraining), then follow the change log
 * ("ivflog"): a search whose snapshot has log entries the index has not
 * applied takes the index's write lock and applies them first.
 *
 * Snapshots.  LMDB txnids order every commit of the environment, across
 * processes: a read snapshot with txnid T sees exactly the writes of
 * transactions <= T.  An entry appended from the log remembers the txnid
 * that added it, and a logged delete stamps the entry's deleted txnid
 * instead of removing it, so a search of snapshot T keeps exactly the
 * entries with added <= T < deleted.  These stamps ("vis") exist only for
 * lists that changed; once no open snapshot of this process can tell the
 * difference (cvs_txn_begin registers every snapshot), the purge removes
 * deleted entries for good (swap with the list's last entry) and drops the
 * stamps, so deletes never pile up as tombstones.  A snapshot older than
 * the one the shared index was loaded from, or of another build, gets a
 * private index loaded from its own snapshot: correct, slower, rare.
 *
 * Deviations (from FAISS's ArrayInvertedLists, the usual design):
 *  1. FAISS lists are not transactional: removal is an explicit O(n) call
 *     and concurrent readers must be excluded.  Ours are multi-version, as
 *     above.
 *  2. No per-entry id map: a logged delete names its list, and the list is
 *     searched linearly for the key (lists are ~100-2000 entries).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf.h"
#include "pq/codec.h"
#include "pq/kernels.h"
#include "store/seal.h"

/* Oldest open snapshot of this process (at most `cur`): the store's
 * registry (store/read.c), under its own lock.  A snapshot that registers
 * after this returns sees a state at least as new as `cur`'s (LMDB begins
 * every read at the newest commit), so nothing a purge bounded by the
 * result removes is visible to it. */
static uint64_t oldest_snap(cvs_db *db, uint64_t cur)
{
    return cvs__snap_oldest(db, cur);
}

/* ==== Lists ==== */

static size_t row_bytes(const cvs_ivf *ix) { return ix->fs4 ? (ix->m + 1) / 2 : ix->cs; }

/* Grows l to hold need entries: exactly (rounded up to a 32-code block)
 * when exact, else by doubling, so appends stay amortized O(1). */
static int list_reserve(cvs_ivf *ix, cvs_ivf_list *l, size_t need, int exact)
{
    size_t cap;
    int64_t *k;
    uint8_t *c;
    if (ix->rqb && need > l->rq_cap) {
        /* Exact at load: these rows are the bulk of a refine index. */
        size_t rows = exact ? need : need > 2 * l->rq_cap ? need : 2 * l->rq_cap;
        uint8_t *r = realloc(l->rq, rows * ix->rqb);
        if (!r)
            return cvs__err(CVS_ENOMEM, "out of memory growing a list");
        l->rq = r;
        l->rq_cap = rows;
    }
    if (need <= l->cap)
        return CVS_OK;
    if (exact) {
        cap = (need + 31) & ~(size_t)31;
    } else {
        cap = l->cap ? l->cap + l->cap / 2 : 32;
        cap = (cap < need ? need : cap);
        cap = (cap + 31) & ~(size_t)31;
    }
    if (!(k = realloc(l->keys, cap * sizeof *k)))
        return cvs__err(CVS_ENOMEM, "out of memory growing a list");
    l->keys = k;
    /* fs4: cap is a multiple of 32, so cap * P bytes are whole blocks. */
    if (!(c = realloc(l->codes, cap * row_bytes(ix) + 32)))
        return cvs__err(CVS_ENOMEM, "out of memory growing a list");
    if (ix->fs4) /* new blocks start zeroed: padding codes must be 0 */
        memset(c + l->cap * row_bytes(ix), 0, (cap - l->cap) * row_bytes(ix) + 32);
    l->codes = c;
    if (l->vis) {
        uint64_t *v = realloc(l->vis, cap * 2 * sizeof *v);
        if (!v)
            return cvs__err(CVS_ENOMEM, "out of memory growing a list");
        l->vis = v;
    }
    l->cap = cap;
    return CVS_OK;
}

/* Gives list l stamps ("every entry visible since forever"). */
static int list_stamp(cvs_ivf *ix, cvs_ivf_list *l)
{
    if (l->vis)
        return CVS_OK;
    if (!(l->vis = malloc((l->cap ? l->cap : 1) * 2 * sizeof *l->vis)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        l->vis[2 * i] = 0;
        l->vis[2 * i + 1] = UINT64_MAX;
    }
    ix->ndirty++;
    return CVS_OK;
}

static void set_code(cvs_ivf *ix, cvs_ivf_list *l, size_t i, const uint8_t *code)
{
    if (ix->fs4)
        cvs__fs4_set(l->codes, i, ix->m, code);
    else
        memcpy(l->codes + i * ix->cs, code, ix->cs);
}

static int list_append(cvs_ivf *ix, cvs_ivf_list *l, int64_t key, const uint8_t *code,
                       uint64_t added)
{
    int rc;
    if ((rc = list_reserve(ix, l, l->n + 1, 0)) || (rc = list_stamp(ix, l)))
        return rc;
    l->keys[l->n] = key;
    set_code(ix, l, l->n, code);
    l->vis[2 * l->n] = added;
    l->vis[2 * l->n + 1] = UINT64_MAX;
    l->n++;
    return CVS_OK;
}

/* Removes entry i: the last entry takes its place. */
static void list_remove(cvs_ivf *ix, cvs_ivf_list *l, size_t i)
{
    size_t last = l->n - 1;
    uint8_t code[512], zero[512] = {0};
    if (i != last) {
        l->keys[i] = l->keys[last];
        if (ix->fs4) {
            cvs__fs4_get(l->codes, last, ix->m, code);
            cvs__fs4_set(l->codes, i, ix->m, code);
        } else {
            memcpy(l->codes + i * ix->cs, l->codes + last * ix->cs, ix->cs);
        }
        if (l->vis) {
            l->vis[2 * i] = l->vis[2 * last];
            l->vis[2 * i + 1] = l->vis[2 * last + 1];
        }
        if (ix->rqb)
            memcpy(l->rq + i * ix->rqb, l->rq + last * ix->rqb, ix->rqb);
    }
    if (ix->fs4)
        cvs__fs4_set(l->codes, last, ix->m, zero);
    l->n--;
}

static void ivf_free(cvs_ivf *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; ix->lists && i < ix->nlist; i++) {
        free(ix->lists[i].keys);
        free(ix->lists[i].codes);
        free(ix->lists[i].vis);
        free(ix->lists[i].rq);
    }
    free(ix->lists);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

uint64_t cvs__ivf_mem_bytes(const cvs_ivf *ix)
{
    uint64_t b = sizeof *ix + ix->nlist * sizeof *ix->lists;
    b += (uint64_t)ix->p->nlist * ix->p->dim * 4 + ix->p->nlist * 4;
    b += ix->rqb ? (uint64_t)ix->p->dim * 8 : 0; /* SQ8 ranges */
    for (size_t i = 0; i < ix->nlist; i++) {
        const cvs_ivf_list *l = &ix->lists[i];
        b += l->cap * (sizeof(int64_t) + row_bytes(ix)) + l->rq_cap * ix->rqb + (l->cap ? 32 : 0);
        if (l->vis)
            b += l->cap * 2 * sizeof(uint64_t);
    }
    return b;
}

/* ==== Re-ranking codes (",sq8") ====
 *
 * Each entry's row is the SQ8 code of its record's vector as stored.  An
 * index built by this cvstore (meta ivf version 3) keeps the rows in the
 * store, after the list id of each "lists" value, written by the build and
 * by every put in the put's transaction, so entering the in-memory lists
 * (load, or catch-up from the log) copies the row: a load walks "lists"
 * anyway, and a catch-up reads the record's "lists" value in the snapshot
 * being caught up to.  Version 2 indexes (built before the rows were
 * stored, until the next build) encode each row from the record's stored
 * vector instead, read in that snapshot: on Fashion-MNIST's 60,000 x 784
 * store that costs a process about 0.25 s of CPU before its first answer,
 * against 0.1 s in all with stored rows (docs/BENCHMARKS.md).
 *
 * Either way the row is read in the newest snapshot.  An entry live there
 * has had the same vector since it was added (an update logs a delete and
 * a new entry), so its row is right for every snapshot that sees it.  An
 * entry already deleted or replaced there has no row of its own (zero, or
 * its successor's); searches re-rank such entries (deleted in the newest
 * state, seen only by older snapshots) from the stored vector instead
 * (ivf_search.c). */

/* Version 2: row i of l encoded from its record's stored vector. */
static int refine_row(cvs_db *db, MDB_txn *txn, cvs_ivf *ix, cvs_ivf_list *l, size_t i,
                      float *tmp)
{
    uint8_t *row = l->rq + i * ix->rqb;
    int rc = cvs__ivf_vec_row(db, txn, ix->p, (uint64_t)l->keys[i], tmp, row);
    if (rc == CVS_NOTFOUND) {
        memset(row, 0, ix->rqb);
        return CVS_OK;
    }
    return rc;
}

/* The damaged "lists" value of key (list: its list id when it has one). */
static int bad_list_value(const cvs_ivf *ix, uint64_t key, const MDB_val *v)
{
    char list[32] = "";
    if (v->mv_size >= 4)
        snprintf(list, sizeof list, " (list %u)", cvs__get_u32(v->mv_data));
    return cvs__err(CVS_ECORRUPT, "lists: the entry of key %llu%s has %zu bytes, expected %zu "
                    "(a list id%s); run cvstore check", (unsigned long long)key, list, v->mv_size,
                    cvs__ivf_list_bytes(ix->p), ix->p->rows ? " and an SQ8 row" : "");
}

/* Version 3: row i of l copied from its record's "lists" value. */
static int stored_row(cvs_db *db, MDB_txn *txn, cvs_ivf *ix, cvs_ivf_list *l, size_t i)
{
    uint64_t key = (uint64_t)l->keys[i];
    MDB_val k = {8, &key}, v;
    int mrc = cvs__vget(db, txn, cvs__codes(db)->dbi_lists, &k, &v);
    memset(l->rq + i * ix->rqb, 0, ix->rqb);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading a list entry for its SQ8 row");
    if (v.mv_size != cvs__ivf_list_bytes(ix->p))
        return bad_list_value(ix, key, &v);
    memcpy(l->rq + i * ix->rqb, (const unsigned char *)v.mv_data + 4, ix->rqb);
    return CVS_OK;
}

/* ==== Loading ==== */

static int read_seq(cvs_db *db, MDB_txn *txn, uint64_t *seq)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF_SEQ), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *seq = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading ivf_seq");
    if (v.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf_seq has %zu bytes", db->path, v.mv_size);
    *seq = cvs__get_u64(v.mv_data);
    return CVS_OK;
}

/* Loads the lists of txn's snapshot from "lists" and "codes". */
static int ivf_load(cvs_db *db, MDB_txn *txn, cvs_ivf_params *p, const cvs_codec *codec,
                    cvs_ivf **out)
{
    cvs__scan lscan = {0};
    cvs__scan cscan = {0};
    cvs_ivf *ix = calloc(1, sizeof *ix);
    MDB_cursor *lc = NULL, *cc = NULL;
    MDB_stat st;
    MDB_val k, v, ck, cv;
    uint32_t *lid = NULL;
    int64_t *keys = NULL;
    uint8_t *codes = NULL, *sorted = NULL, *rows = NULL;
    const uint8_t **rowp = NULL;
    float *tmp = NULL;
    size_t n = 0, *fill = NULL, lb = cvs__ivf_list_bytes(p);
    int rc = CVS_OK, mrc;

    *out = NULL;
    if (!ix)
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (pthread_rwlock_init(&ix->lock, NULL)) {
        free(ix);
        return cvs__err(CVS_ENOMEM, "cannot create a lock");
    }
    ix->p = p;
    ix->codec = codec;
    ix->gen = p->gen;
    ix->base_txn = (uint64_t)mdb_txn_id(txn);
    ix->cs = cvs__codec_code_size(codec);
    ix->m = cvs__codec_m(codec);
    ix->fs4 = cvs__codec_is_4bit(codec);
    ix->rqb = p->refine ? p->dim : 0;
    ix->nlist = p->nlist;
    ix->refs = 1;
    if (ix->cs > CVS_IVF_MAX_CODE) {
        rc = cvs__err(CVS_EINVAL, "%s: codes of %zu bytes are too long for the IVF index "
                      "(at most %d)", db->path, ix->cs, CVS_IVF_MAX_CODE);
        goto out;
    }
    if ((rc = read_seq(db, txn, &ix->applied_seq)))
        goto out;
    if (!(ix->lists = calloc(ix->nlist, sizeof *ix->lists))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((mrc = mdb_stat(txn, cvs__codes(db)->dbi_lists, &st))) {
        rc = cvs__err_lmdb(mrc, "counting list entries");
        goto out;
    }
    if (!cvs__count_fits(st.ms_entries, ix->cs > ix->rqb ? ix->cs + 8 : ix->rqb + 8)) {
        rc = cvs__err(CVS_ECORRUPT, "lists: a count of %zu entries; run cvstore check",
                      st.ms_entries);
        goto out;
    }
    lid = malloc((st.ms_entries + 1) * sizeof *lid);
    keys = malloc((st.ms_entries + 1) * sizeof *keys);
    codes = malloc((st.ms_entries + 1) * ix->cs);
    fill = calloc(ix->nlist + 1, sizeof *fill);
    /* Where each entry's row is, in key order, until the lists are laid
     * out: in LMDB's map, which stays put while txn is open (the load makes
     * no write in it), or, in an
     * encrypted store, whose cursor reuses one plaintext buffer, in a copy
     * (rows).  Pointing saves a plain store a copy of every row and the
     * memory for it. */
    if (p->rows) {
        rowp = malloc((st.ms_entries + 1) * sizeof *rowp);
        if (db->crypt)
            rows = malloc((st.ms_entries + 1) * ix->rqb);
    }
    if (!lid || !keys || !codes || !fill || (p->rows && (!rowp || (db->crypt && !rows)))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory loading %zu list entries", st.ms_entries);
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_lists, &lc)) ||
        (mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_codes, &cc))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    /* Both databases hold exactly the records, in key order: walk them in
     * step, falling back to a look-up should they ever disagree. */
    mrc = cvs__cscan(db, cc, &ck, &cv, MDB_FIRST, &cscan);
    for (int lrc = cvs__cscan(db, lc, &k, &v, MDB_FIRST, &lscan); lrc == 0 && n < st.ms_entries;
         lrc = cvs__cscan(db, lc, &k, &v, MDB_NEXT, &lscan)) {
        uint64_t key = k.mv_size == 8 ? cvs__get_u64(k.mv_data) : 0;
        if (v.mv_size != lb) {
            rc = bad_list_value(ix, key, &v);
            goto out;
        }
        if (k.mv_size != 8 || cvs__get_u32(v.mv_data) >= ix->nlist) {
            rc = cvs__err(CVS_ECORRUPT, "lists: bad entry for key %llu (list %u of %zu); run "
                          "cvstore check", (unsigned long long)key, cvs__get_u32(v.mv_data),
                          ix->nlist);
            goto out;
        }
        if (mrc || ck.mv_size != 8 || cvs__get_u64(ck.mv_data) != key) {
            ck.mv_size = 8;
            ck.mv_data = &key;
            mrc = cvs__cscan(db, cc, &ck, &cv, MDB_SET_KEY, &cscan);
        }
        if (mrc || cv.mv_size != ix->cs) {
            rc = cvs__err(CVS_ECORRUPT, "codes: missing or bad code for key %llu; run cvstore check",
                          (unsigned long long)key);
            goto out;
        }
        lid[n] = cvs__get_u32(v.mv_data);
        keys[n] = (int64_t)key;
        memcpy(codes + n * ix->cs, cv.mv_data, ix->cs);
        if (rows) {
            memcpy(rows + n * ix->rqb, (const unsigned char *)v.mv_data + 4, ix->rqb);
            rowp[n] = rows + n * ix->rqb;
        } else if (rowp) {
            rowp[n] = (const uint8_t *)v.mv_data + 4;
        }
        fill[lid[n]]++;
        n++;
        mrc = cvs__cscan(db, cc, &ck, &cv, MDB_NEXT, &cscan);
    }
    /* Bucket by list (a counting sort), then lay each list out. */
    if (!(sorted = malloc((n + 1) * ix->cs))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t l = 0; l < ix->nlist; l++)
        if (fill[l] && (rc = list_reserve(ix, &ix->lists[l], fill[l], 1)))
            goto out;
    {
        size_t *start = fill, acc = 0;
        for (size_t l = 0; l < ix->nlist; l++) {
            size_t c = start[l];
            start[l] = acc;
            acc += c;
        }
        for (size_t i = 0; i < n; i++) {
            cvs_ivf_list *l = &ix->lists[lid[i]];
            memcpy(sorted + (start[lid[i]] + l->n) * ix->cs, codes + i * ix->cs, ix->cs);
            if (rowp)
                memcpy(l->rq + l->n * ix->rqb, rowp[i], ix->rqb);
            l->keys[l->n++] = keys[i];
        }
        for (size_t l = 0; l < ix->nlist; l++) {
            cvs_ivf_list *L = &ix->lists[l];
            if (!L->n)
                continue;
            if (ix->fs4)
                cvs__fs4_pack(sorted + start[l] * ix->cs, L->n, ix->m, L->codes);
            else
                memcpy(L->codes, sorted + start[l] * ix->cs, L->n * ix->cs);
        }
    }
    if (ix->rqb && !p->rows) { /* version 2: encode the rows */
        if (!(tmp = malloc(p->dim * sizeof *tmp))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t l = 0; l < ix->nlist; l++)
            for (size_t i = 0; i < ix->lists[l].n; i++)
                if ((rc = refine_row(db, txn, ix, &ix->lists[l], i, tmp)))
                    goto out;
    }
    ix->live = n;
out:
    cvs__scan_free(&lscan);
    cvs__scan_free(&cscan);
    if (lc)
        mdb_cursor_close(lc);
    if (cc)
        mdb_cursor_close(cc);
    free(lid);
    free(keys);
    free(codes);
    free(sorted);
    free(rows);
    free(rowp);
    free(fill);
    free(tmp);
    if (rc) {
        ivf_free(ix);
        ix = NULL;
    }
    *out = ix;
    return rc;
}

/* ==== Catching up and purging (write lock held) ==== */

static int catch_up(cvs_db *db, MDB_txn *txn, cvs_ivf *ix, uint64_t upto)
{
    MDB_cursor *cur = NULL;
    uint64_t want = ix->applied_seq + 1;
    MDB_val k = {8, &want}, v;
    float *tmp = NULL;
    int rc = CVS_OK, mrc;

    if (ix->rqb && !ix->p->rows && !(tmp = malloc(ix->p->dim * sizeof *tmp)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_ivflog, &cur))) {
        free(tmp);
        return cvs__err_lmdb(mrc, "opening a cursor");
    }
    mrc = cvs__cget(db, cur, &k, &v, MDB_SET_RANGE);
    if (mrc || cvs__get_u64(k.mv_data) != want) {
        rc = CVS__RELOAD; /* trimmed past us (or emptied by a build) */
        goto out;
    }
    for (; mrc == 0; mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t seq = cvs__get_u64(k.mv_data), key, txnid;
        const unsigned char *b = v.mv_data;
        uint32_t list;
        int op;
        if (seq > upto)
            break;
        if (v.mv_size < CVS_IVF_LOG_FIXED) {
            rc = cvs__err(CVS_ECORRUPT, "ivflog: entry %llu is truncated", (unsigned long long)seq);
            goto out;
        }
        key = cvs__get_u64(b);
        txnid = cvs__get_u64(b + 8);
        list = cvs__get_u32(b + 16);
        op = b[20];
        if (list >= ix->nlist || (op == CVS_IVF_OP_ADD && v.mv_size != CVS_IVF_LOG_FIXED + ix->cs)) {
            rc = cvs__err(CVS_ECORRUPT, "ivflog: bad entry %llu", (unsigned long long)seq);
            goto out;
        }
        if (op == CVS_IVF_OP_ADD) {
            cvs_ivf_list *l = &ix->lists[list];
            if ((rc = list_append(ix, l, (int64_t)key, b + CVS_IVF_LOG_FIXED, txnid)) ||
                (ix->rqb && ix->p->rows && (rc = stored_row(db, txn, ix, l, l->n - 1))) ||
                (ix->rqb && !ix->p->rows && (rc = refine_row(db, txn, ix, l, l->n - 1, tmp))))
                goto out;
            ix->live++;
        } else if (op == CVS_IVF_OP_DEL) {
            cvs_ivf_list *l = &ix->lists[list];
            if ((rc = list_stamp(ix, l)))
                goto out;
            for (size_t i = 0; i < l->n; i++)
                if (l->keys[i] == (int64_t)key && l->vis[2 * i + 1] == UINT64_MAX) {
                    l->vis[2 * i + 1] = txnid;
                    ix->live--;
                    break;
                }
        } else {
            rc = cvs__err(CVS_ECORRUPT, "ivflog: entry %llu has op %d", (unsigned long long)seq, op);
            goto out;
        }
        ix->applied_seq = seq;
    }
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading the index log");
out:
    mdb_cursor_close(cur);
    free(tmp);
    return rc;
}

/* Removes entries deleted before every open snapshot and forgets the
 * stamps no open snapshot needs. */
static void purge(cvs_ivf *ix, uint64_t oldest)
{
    for (size_t li = 0; li < ix->nlist && ix->ndirty; li++) {
        cvs_ivf_list *l = &ix->lists[li];
        int clean = 1;
        if (!l->vis)
            continue;
        for (size_t i = l->n; i-- > 0;) {
            if (l->vis[2 * i + 1] <= oldest)
                list_remove(ix, l, i);
            else if (l->vis[2 * i + 1] != UINT64_MAX || l->vis[2 * i] > oldest)
                clean = 0;
        }
        if (clean) {
            free(l->vis);
            l->vis = NULL;
            ix->ndirty--;
        }
    }
    ix->purged_min = oldest;
}

/* ==== Acquire / release ==== */

static void ivf_unref(cvs_db *db, cvs_ivf *ix)
{
    int last;
    if (!ix)
        return;
    pthread_mutex_lock(&cvs__codes(db)->ivf_mu);
    last = --ix->refs == 0;
    pthread_mutex_unlock(&cvs__codes(db)->ivf_mu);
    if (last)
        ivf_free(ix);
}

/* Installs fresh as the shared index if it is newer than the current one. */
static void install(cvs_db *db, cvs_ivf *fresh)
{
    struct cvs__codes_state *st = cvs__codes(db);
    cvs_ivf *old = NULL;
    pthread_mutex_lock(&st->ivf_mu);
    if (!st->ivf || st->ivf->gen < fresh->gen ||
        (st->ivf->gen == fresh->gen && st->ivf->applied_seq <= fresh->applied_seq &&
         st->ivf->base_txn <= fresh->base_txn)) {
        old = st->ivf;
        if (old)
            old->shared = 0;
        st->ivf = fresh;
        fresh->shared = 1;
        fresh->refs++;
    }
    pthread_mutex_unlock(&st->ivf_mu);
    ivf_unref(db, old);
}

int cvs__ivf_acquire(cvs_db *db, MDB_txn *txn, cvs_ivf_params *p, const cvs_codec *codec,
                     cvs_ivf **out)
{
    uint64_t T = (uint64_t)mdb_txn_id(txn), S, oldest;
    cvs_ivf *ix = NULL, *fresh = NULL;
    int rc, need_purge;

    *out = NULL;
    if ((rc = read_seq(db, txn, &S)))
        return rc;
    pthread_mutex_lock(&cvs__codes(db)->ivf_mu);
    if (cvs__codes(db)->ivf && cvs__codes(db)->ivf->gen == p->gen && cvs__codes(db)->ivf->base_txn <= T) {
        ix = cvs__codes(db)->ivf;
        ix->refs++;
    } else if (cvs__codes(db)->ivf_pin && cvs__codes(db)->ivf_pin->gen == p->gen &&
               cvs__codes(db)->ivf_pin->base_txn <= T) {
        ix = cvs__codes(db)->ivf_pin; /* an older build kept loaded */
        ix->refs++;
    }
    oldest = oldest_snap(db, T);
    pthread_mutex_unlock(&cvs__codes(db)->ivf_mu);
    if (ix) { /* the common case: nothing to apply or purge, share the lock */
        pthread_rwlock_rdlock(&ix->lock);
        if (ix->applied_seq >= S && !(ix->ndirty && oldest > ix->purged_min)) {
            *out = ix;
            return CVS_OK;
        }
        pthread_rwlock_unlock(&ix->lock);
    }
    if (!ix) {
        if ((rc = ivf_load(db, txn, p, codec, &ix)))
            return rc;
        install(db, ix); /* kept private when older than the shared one */
    }
    for (;;) {
        pthread_rwlock_wrlock(&ix->lock);
        rc = ix->applied_seq < S ? catch_up(db, txn, ix, S) : CVS_OK;
        if (rc == CVS__RELOAD) {
            pthread_rwlock_unlock(&ix->lock);
            if ((rc = ivf_load(db, txn, p, codec, &fresh)))
                goto fail;
            install(db, fresh);
            ivf_unref(db, ix);
            ix = fresh;
            fresh = NULL;
            continue;
        }
        if (rc) {
            pthread_rwlock_unlock(&ix->lock);
            goto fail;
        }
        break;
    }
    pthread_mutex_lock(&cvs__codes(db)->ivf_mu);
    oldest = oldest_snap(db, T);
    pthread_mutex_unlock(&cvs__codes(db)->ivf_mu);
    need_purge = ix->ndirty && oldest > ix->purged_min;
    if (need_purge)
        purge(ix, oldest);
    pthread_rwlock_unlock(&ix->lock);
    pthread_rwlock_rdlock(&ix->lock);
    *out = ix;
    return CVS_OK;
fail:
    ivf_unref(db, ix);
    return rc;
}

void cvs__ivf_release(cvs_db *db, cvs_ivf *ix)
{
    if (!ix)
        return;
    pthread_rwlock_unlock(&ix->lock);
    ivf_unref(db, ix);
}

void cvs__ivf_drop(cvs_db *db)
{
    struct cvs__codes_state *st = cvs__codes(db);
    cvs_ivf *ix;
    pthread_mutex_lock(&st->ivf_mu);
    ix = st->ivf;
    st->ivf = NULL;
    if (ix)
        ix->shared = 0;
    pthread_mutex_unlock(&st->ivf_mu);
    ivf_unref(db, ix);
    cvs__ivf_unpin(db);
}

int cvs__ivf_pin(cvs_txn *t)
{
    cvs_db *db = t->db;
    struct cvs__codes_state *st = cvs__codes(db);
    cvs_codec *codec;
    cvs_ivf_params *p = NULL;
    cvs_ivf *ix, *old;
    int rc;

    if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
        return rc;
    if (st->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &p)))
        return rc;
    if (!codec || !p)
        return cvs__err(CVS_NOTFOUND, "%s: no IVF index to keep loaded", db->path);
    if ((rc = cvs__ivf_acquire(db, t->txn, p, codec, &ix)))
        return rc;
    pthread_mutex_lock(&st->ivf_mu);
    ix->refs++;
    old = st->ivf_pin;
    st->ivf_pin = ix;
    pthread_mutex_unlock(&st->ivf_mu);
    cvs__ivf_release(db, ix);
    ivf_unref(db, old);
    return CVS_OK;
}

void cvs__ivf_unpin(cvs_db *db)
{
    struct cvs__codes_state *st = cvs__codes(db);
    cvs_ivf *ix;
    pthread_mutex_lock(&st->ivf_mu);
    ix = st->ivf_pin;
    st->ivf_pin = NULL;
    pthread_mutex_unlock(&st->ivf_mu);
    ivf_unref(db, ix);
}
