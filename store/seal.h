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

/* mdb_get */
static inline int cvs__vget(const cvs_db *db, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    return db->crypt ? cvs__vget_sealed(db, txn, dbi, k, v) : mdb_get(txn, dbi, k, v);
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
    return db->crypt ? cvs__cget_sealed(db, cur, k, v, op) : mdb_cursor_get(cur, k, v, op);
}

/* cvs__cget for loops that consume each value before the next step: an
 * encrypted store's value is decrypted into scan's buffer, valid only until
 * the next call with the same scan (instead of the transaction's arena,
 * which would hold every value of a full scan until the transaction ends). */
static inline int cvs__cscan(const cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                             MDB_cursor_op op, cvs__scan *scan)
{
    return db->crypt ? cvs__cscan_sealed(db, cur, k, v, op, scan)
                     : mdb_cursor_get(cur, k, v, op);
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
