/*
 * seal.h -- the one layer between the store and LMDB's values: encryption
 * at rest (store/seal.c).
 *
 * Every read or write of a stored value goes through these wrappers instead
 * of mdb_get/mdb_put/mdb_del/mdb_cursor_get.  For a plain store they are the
 * LMDB call itself (an inline test of db->crypt), so plain stores stay
 * byte-identical and as fast as before.  For an encrypted store they seal
 * values with XChaCha20-Poly1305 and replace the keys that are themselves
 * data (external ids, BM25 terms, title tokens) by a keyed hash; which
 * database gets which treatment is listed in docs/FORMAT.md and
 * docs/SECURITY.md.
 *
 * The wrappers keep LMDB's conventions: they take and return LMDB codes
 * (MDB_NOTFOUND, MDB_MAP_FULL, ...), so call sites need no other change,
 * plus one of ours: CVS__EAUTH when a value fails authentication (the thread's
 * message then names the database and key; cvs__err_lmdb turns it into
 * CVS_ECORRUPT).
 *
 * Lifetime of what a read returns: for a plain store, LMDB's (the value
 * points into the map, valid until the transaction ends or the next update).
 * For an encrypted store the value is decrypted into an arena owned by the
 * transaction, valid until the transaction ends (cvs__read_end, or the end of
 * cvs__write's transaction) -- at least as long as LMDB promises, so code
 * written against LMDB's rule stays correct.  The arena is wiped and freed
 * there; a transaction that reads N values holds their plaintext until then.
 */
#ifndef CVS_SEAL_H
#define CVS_SEAL_H

#include "store/db.h"

/* How an encrypted store treats a database (docs/SECURITY.md); a module
 * names its databases' treatment in its cvs__dbi_spec (store/module.h). */
#define CVS__SEAL_VALUES 1u  /* values sealed */
#define CVS__SEAL_HKEY 2u    /* keys replaced by a keyed hash */
#define CVS__SEAL_META 4u    /* values sealed except "header" and "crypt" */
#define CVS__SEAL_DET8 8u    /* dupsort: 8-byte values under a keyed permutation */
#define CVS__SEAL_DET16 16u  /* dupsort: 16-byte values under a keyed permutation */

/* Bytes a sealed value adds to its plaintext: the nonce and the tag. */
#define CVS_SEAL_OVERHEAD 40u
/* Bytes of a keyed-hash key. */
#define CVS_HKEY_BYTES 32u

/* Key derivation and the key check (create and open, store/db.c).  The
 * "crypt" meta record holds the KDF parameters, the salt and a sealed check
 * block; see docs/FORMAT.md. */
int cvs__crypt_create(cvs_db *db, const char *pass, size_t len);
int cvs__crypt_write_meta(cvs_db *db, MDB_txn *txn);
int cvs__crypt_open(cvs_db *db, MDB_txn *txn, const char *pass, size_t len);
void cvs__crypt_free(cvs_db *db);

/* Frees the plaintext arena of txn; called just before txn ends (store/db.c
 * only).  A no-op for plain stores and transactions that decrypted nothing. */
void cvs__seal_txn_end(cvs_db *db, MDB_txn *txn);

int cvs__vget_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int cvs__vput_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                     unsigned flags);
int cvs__vdel_sealed(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int cvs__cget_sealed(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op);
int cvs__vreserve_sealed(const cvs_db *db, MDB_txn *txn, MDB_val *v);

/* A reusable plaintext buffer for bulk scans (cvs__cscan); zero-initialize,
 * release with cvs__scan_free (wipes it; NULL and empty ones are fine). */
typedef struct cvs__scan {
    unsigned char *buf;
    size_t cap;
} cvs__scan;
void cvs__scan_free(cvs__scan *scan);
int cvs__cscan_sealed(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                      MDB_cursor_op op, cvs__scan *scan);

/* ==== Keys and values outside their page ====
 *
 * LMDB takes a node's key size, value size and overflow page from the page
 * as it finds them: on a damaged page they can describe bytes of other
 * pages, or past the end of data.mdb, which are inside the map but not
 * backed by the file (reading them is a SIGBUS).  So every key and value
 * the wrappers return is checked first.  One that lies in the map must end
 * inside the part the file covers, and lie inside one page: LMDB keeps keys
 * and small values in their node's page (sub-pages of duplicates
 * included), and a large value on overflow pages of its own, starting just
 * after the first one's 16-byte header.  Pointers outside the map are
 * pages a write transaction has copied to memory, and fine. */
#define CVS__PAGE_HDR 16u
static inline int cvs__vin_file(const cvs_db *db, const MDB_val *x, int may_overflow)
{
    uintptr_t off = (uintptr_t)x->mv_data - db->map_lo;
    size_t used, ps = db->map_psize;
    if (off >= db->map_len)
        return 1;
    used = __atomic_load_n(&db->map_used, __ATOMIC_RELAXED);
    if (off >= used || x->mv_size > used - off)
        return 0;
    return x->mv_size == 0 || off / ps == (off + x->mv_size - 1) / ps ||
           (may_overflow && off % ps == CVS__PAGE_HDR);
}

/* Sets the thread's message ("store is damaged: DB: ... outside its page
 * or past the end of data.mdb") and returns CVS__EDAMAGED; k is named only
 * when it is itself sound. */
int cvs__vdamaged(const cvs_db *db, MDB_dbi dbi, const MDB_val *k, const char *what);

/* 0, or CVS__EDAMAGED when k (may be NULL) or v is not where it can be. */
static inline int cvs__vcheck(const cvs_db *db, MDB_dbi dbi, const MDB_val *k, const MDB_val *v)
{
    if (k && !cvs__vin_file(db, k, 0))
        return cvs__vdamaged(db, dbi, NULL, "a key");
    if (!cvs__vin_file(db, v, 1))
        return cvs__vdamaged(db, dbi, k, "a value");
    return 0;
}

static inline int cvs__mdb_get(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                               MDB_val *v)
{
    int mrc = mdb_get(txn, dbi, k, v);
    return mrc ? mrc : cvs__vcheck(db, dbi, NULL, v);
}

static inline int cvs__mdb_cget(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                                MDB_cursor_op op)
{
    int mrc = mdb_cursor_get(cur, k, v, op);
    return mrc ? mrc : cvs__vcheck(db, mdb_cursor_dbi(cur), k, v);
}

/* mdb_get */
static inline int cvs__vget(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    return db->crypt ? cvs__vget_sealed(db, txn, dbi, k, v) : cvs__mdb_get(db, txn, dbi, k, v);
}

/* mdb_put, without MDB_RESERVE (use cvs__vreserve for that). */
static inline int cvs__vput(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                            unsigned flags)
{
    return db->crypt ? cvs__vput_sealed(db, txn, dbi, k, v, flags)
                     : mdb_put(txn, dbi, k, v, flags);
}

/* mdb_del */
static inline int cvs__vdel(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    return db->crypt ? cvs__vdel_sealed(db, txn, dbi, k, v) : mdb_del(txn, dbi, k, v);
}

/* mdb_cursor_get.  Keys that come back from a hashed-key database are the
 * stored (hashed) form. */
static inline int cvs__cget(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                            MDB_cursor_op op)
{
    return db->crypt ? cvs__cget_sealed(db, cur, k, v, op) : cvs__mdb_cget(db, cur, k, v, op);
}

/* cvs__cget for loops that consume each value before the next step: an
 * encrypted store's value is decrypted into scan's buffer, valid only until
 * the next call with the same scan (instead of the transaction's arena,
 * which would hold every value of a full scan until the transaction ends). */
static inline int cvs__cscan(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                             MDB_cursor_op op, cvs__scan *scan)
{
    return db->crypt ? cvs__cscan_sealed(db, cur, k, v, op, scan)
                     : cvs__mdb_cget(db, cur, k, v, op);
}

/* A point in txn's arena, and a return to it: every value decrypted since
 * the mark is wiped and freed.  For single-threaded loops that read other
 * values per step and keep none of them (cvs_check); wrong wherever another
 * thread reads in the same transaction.  No-ops for a plain store. */
typedef struct cvs__mark {
    void *chunk;
    size_t used;
} cvs__mark;
void cvs__arena_mark(const cvs_db *db, MDB_txn *txn, cvs__mark *m);
void cvs__arena_rewind(const cvs_db *db, MDB_txn *txn, const cvs__mark *m);

/* mdb_put with MDB_RESERVE, in two steps: cvs__vreserve gives v->mv_size
 * bytes to fill at v->mv_data (LMDB's space for a plain store, the
 * transaction's arena for an encrypted one), and cvs__vreserve_done, called
 * once they are filled, seals and writes them (a no-op for a plain store). */
static inline int cvs__vreserve(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                                MDB_val *v, unsigned flags)
{
    return db->crypt ? cvs__vreserve_sealed(db, txn, v)
                     : mdb_put(txn, dbi, k, v, flags | MDB_RESERVE);
}

static inline int cvs__vreserve_done(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                                     MDB_val *v, unsigned flags)
{
    return db->crypt ? cvs__vput_sealed(db, txn, dbi, k, v, flags) : 0;
}

/* The key as stored in dbi: key itself, or its keyed hash (in buf) for the
 * hashed-key databases of an encrypted store.  For comparisons with keys
 * that come back from a cursor. */
void cvs__vkey(const cvs_db *db, MDB_dbi dbi, const MDB_val *key,
               unsigned char buf[CVS_HKEY_BYTES], MDB_val *out);

/* A printable name for a key, for messages: "next_key" (quoted) when it is
 * text, 42 for an integer key, else hex; buf of at least 80 bytes. */
const char *cvs__key_name(const MDB_val *key, char *buf, size_t cap);

/* Whether dbi holds the 8-byte key: existence only, no value opened, so it
 * costs no decryption and no arena space.  For the databases keyed by a
 * record's key (recs, vecs, codes, knn...), whose keys are stored as given
 * in every store; never for T_HKEY databases. */
static inline int cvs__has_key(MDB_txn *txn, MDB_dbi dbi, uint64_t key)
{
    MDB_val k = {8, &key}, v;
    return mdb_get(txn, dbi, &k, &v) == 0;
}

#endif
