/*
 * db.h -- the store's internals, shared by the store/ and index/ files.
 * Not installed; tests reach it through the cvstore_internal target.
 *
 * The layout of every LMDB database named here is specified in
 * docs/FORMAT.md; change the two together and bump CVS_FORMAT_VERSION.
 */
#ifndef CVS_DB_H
#define CVS_DB_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "cvstore.h"
#include "core/bytes.h"
#include "core/err.h"
#include "store/err_lmdb.h"
#include "store/meta_keys.h"

#define CVS_FORMAT_VERSION 1u
/* Encrypted stores carry version 2, so that a cvstore from before encryption
 * refuses them with a clear version error instead of reading sealed values
 * as data.  Plain stores stay version 1.  See docs/FORMAT.md. */
#define CVS_FORMAT_VERSION_CRYPT 2u
#define CVS_HEADER_ENCRYPTED 0x1u  /* header flags (offset 32) */
#define CVS_MAGIC "CVSTORE\0"
#define CVS_HEADER_SIZE 64
#define CVS_REC_FIXED 18       /* created i64 + updated i64 + id_len u16 */

/* The largest squared norm a vector of an l2 or ip store (record or query)
 * may have: with both ||x||^2 and ||y||^2 at most FLT_MAX / 4, every
 * distance and inner product we compute in single precision, ||x - y||^2 <=
 * (||x|| + ||y||)^2 included, stays below FLT_MAX, so no score is ever
 * infinite (or NaN from inf - inf) and ranking stays a total order.  About
 * 8.5e37, a norm of 9.2e18: far beyond any embedding.  Larger vectors are
 * refused at the door (cvs_put, cvs_txn_search) with a clear error. */
#define CVS__NORM2_MAX (3.4028234663852886e38 / 4)
/* The largest magnitude binary16 holds: values of an f16 store beyond it
 * would be stored as infinities, so they are refused too. */
#define CVS__F16_MAX 65504.0

struct cvs__module;
#define CVS__MAX_MODULES 12    /* modules per handle (store/module.h) */

/* One registered derived structure (store/module.h): its table, its
 * per-handle state, and whether its databases are all present. */
struct cvs__mslot {
    const struct cvs__module *m;
    void *state;
    int attached;          /* attach ran: close must run */
    int present;           /* every database of the module is open */
};

struct cvs_db {
    MDB_env *env;
    MDB_dbi dbi_meta;      /* "meta": header, next_key */
    MDB_dbi dbi_ids;       /* "ids": external id -> key */
    MDB_dbi dbi_recs;      /* "recs": key -> times + external id */
    MDB_dbi dbi_vecs;      /* "vecs": key -> raw vector */
    MDB_dbi dbi_text;      /* "text": key -> UTF-8 payload */
    MDB_dbi dbi_attrs;     /* "attrs": key -> JSON object text */
    MDB_dbi dbi_links;     /* "links": key -> encoded outgoing links */
    MDB_dbi dbi_backlinks; /* "backlinks": target id -> source keys (dupsort) */
    /* "titles": key -> UTF-8 title.  Added after format 1's first release
     * (with the text layer): have_titles is 0 only for a store from before
     * opened read-only, where titles read as absent. */
    MDB_dbi dbi_titles;
    int have_titles;
    /* Encryption at rest (store/seal.c); NULL for a plain store. */
    struct cvs_crypt *crypt;
    uint32_t dim;
    cvs_metric metric;
    cvs_raw raw;
    int64_t created_us;
    unsigned flags;
    char *path;
    /* Held shared by every transaction of this process and exclusively to
     * resize the map: LMDB forbids mdb_env_set_mapsize while this process
     * has any transaction open. */
    pthread_rwlock_t maplock;
    /* Metadata columns of the newest snapshot filtered (store/filter.c):
     * the fields filters have touched, decoded once and carried over to
     * newer snapshots by re-parsing only changed records. */
    pthread_mutex_t filter_mu;
    struct cvs_fcache *fcache;
    /* Where LMDB's map of data.mdb lies in this process and how much of it
     * the file covers (store/db.c locate_map, refresh_used), so that a key
     * or value a damaged page sends past the end of the file is an error
     * rather than a SIGBUS (store/seal.h cvs__vin_file).  map_lo and
     * map_len change only under maplock held exclusively (a remap);
     * map_used only grows and is read and written with __atomic builtins.
     * map_len 0: not located (no /proc), nothing is checked. */
    uintptr_t map_lo;
    size_t map_len;
    size_t map_used;
    size_t map_file;       /* data.mdb's size when last looked at (atomic) */
    unsigned map_psize;    /* LMDB's page size */
    /* 1 once data.mdb's pages passed cvs__pages_check (store/pages.c),
     * set and read only inside write transactions. */
    int pages_checked;
    /* The txnids of this process's open snapshots (cvs_txn, store/read.c),
     * which hold back purges of derived structures (the IVF lists), under
     * their own lock. */
    pthread_mutex_t snap_mu;
    uint64_t *snaps;
    size_t nsnaps, csnaps;
    /* The derived structures, in calling order (store/module.h). */
    struct cvs__mslot mods[CVS__MAX_MODULES];
    size_t nmods;
    /* cvs_db_set_wait_fn: told when a write waits for another process's
     * writer (store/db.c, deviation 4). */
    cvs_wait_fn wait_fn;
    void *wait_ctx;
    /* The process that opened the handle: its fork generation
     * (core/fork.h) and pid (for the message); cvs__db_usable refuses a
     * call made in a child of a fork since (store/db.c, deviation 5). */
    unsigned fork_gen;
    long pid;
};

/* CVS_OK in the process that opened db; CVS_EFORK, with a message saying
 * to open the store again, in a child of a fork() since.  Every snapshot
 * and write begins with it (cvs__read_begin, cvs__write, cvs_txn_begin). */
int cvs__db_usable(const cvs_db *db);
/* Whether db came from a parent process (the fork check's verdict alone,
 * no message): cvs_db_close and cvs_txn_end then release nothing. */
int cvs__db_inherited(const cvs_db *db);

struct cvs_txn {
    cvs_db *db;
    MDB_txn *txn;
    uint64_t txnid;        /* registered with cvs__snap_register (read.c) */
    /* Links decoded for cvs_record results live until cvs_txn_end. */
    void **arena;
    size_t narena, carena;
};

/* The little-endian fixed-width helpers (cvs__put_u32, cvs__get_u64, ...)
 * are core/bytes.h. */

/* Bytes of one stored raw vector (raw "none" stores keep f32 until their
 * first build). */
static inline size_t cvs__vec_bytes(const cvs_db *db)
{
    return (size_t)db->dim * (db->raw == CVS_RAW_F16 ? 2u : 4u);
}

/* Whether n + 1 items of `each` bytes can be sized without wrapping: a
 * count read from the store (LMDB's ms_entries) is the store's word, and a
 * damaged one must be an error, not a small buffer its walk overruns. */
static inline int cvs__count_fits(uint64_t n, size_t each)
{
    return each == 0 || n < SIZE_MAX / each;
}


int64_t cvs__now_us(void);
/* A record time given with CVS_PUT_TIMES (or in a JSONL line) may lie at
 * most this far past the clock: a clock a little behind another machine's
 * is tolerated, a time in nanoseconds or a typo of the next century is
 * not (memory recall would take a future time for "just now" for ever). */
#define CVS__TIME_AHEAD_US (86400ll * 1000000ll)

/* LMDB failed an assertion in the store at path (store/fault.c): ends the
 * process with a message when cvs_fault_exit asked for it, else returns
 * (and LMDB aborts). */
void cvs__fault_lmdb(const char *path, const char *msg);

/* Runs fn inside a write transaction, committing on 0 and aborting
 * otherwise; grows the map and re-runs fn from scratch when LMDB runs out of
 * space, so fn must keep its effects inside the transaction. */
typedef int (*cvs__write_fn)(cvs_db *db, MDB_txn *txn, void *arg);
int cvs__write(cvs_db *db, cvs__write_fn fn, void *arg);
/* cvs_put, conditioned on the store being as the read snapshot of txnid
 * snap (cvs_txn's txnid) saw it: when another writer, of this process or
 * another, committed after that snapshot, nothing is written and the
 * result is CVS__STALE, so that a caller that decided what to write from
 * the snapshot (query/memory.c, remember's duplicate check) decides again.
 * Write transaction ids follow each other, so the write is the snapshot's
 * next exactly when nothing came between. */
int cvs__put_since(cvs_db *db, const cvs_record *recs, size_t n, unsigned flags,
                   uint64_t snap);
/* 1 when another process is inside a write transaction (it holds the
 * writer byte, db.c deviation 4), so that a best-effort write (recall's
 * last-recalled time) can be left out instead of waiting behind a build
 * or an import for minutes; 0 otherwise, or when it cannot be told. */
int cvs__writer_elsewhere(cvs_db *db);

/* Grows the map, if need be, so that at least bytes more than the pages in
 * use fit: for a write that must run while a snapshot of this process stays
 * open, when the map cannot grow (cvs_tune's rebuild beside a held index,
 * index/tune.c deviation 4).  Call with no snapshot of this process open;
 * CVS_EBUSY when one stays open (store/db.c deviation 1). */
int cvs__map_reserve(cvs_db *db, uint64_t bytes);

/* Before a handle's first write: every page of data.mdb's B-trees checked
 * as LMDB lays it out (store/pages.c), since LMDB's writers move nodes by
 * what damaged pages record; CVS_OK, or CVS_ECORRUPT naming the page.
 * Called by cvs__write at the start of each write transaction; a no-op
 * once a check passed. */
int cvs__pages_check(cvs_db *db, MDB_txn *txn);
/* The same check of read snapshot txn for `cvstore check`: fn is called
 * for each named database whose tree is damaged (name, name_len: its
 * name, not NUL-terminated; page: the first damaged page; why: what is
 * wrong), and once with name NULL when the free list, the main database or
 * the meta page is (why then names the page).  CVS_OK, or CVS_ENOMEM. */
typedef void (*cvs__pages_fn)(void *ctx, const char *name, size_t name_len, uint64_t page,
                              const char *why);
int cvs__pages_report(const cvs_db *db, MDB_txn *txn, cvs__pages_fn fn, void *ctx);

/* Begins a read transaction with the map lock held shared. */
int cvs__read_begin(cvs_db *db, MDB_txn **txn);
void cvs__read_end(cvs_db *db, MDB_txn *txn);

/* Converts a stored vector value to float32 (dim floats). */
void cvs__decode_vec(const cvs_db *db, const void *val, float *out);
/* Converts float32 to the stored representation (cvs__vec_bytes bytes). */
void cvs__encode_vec(const cvs_db *db, const float *in, void *out);
/* in (dim floats, not all zero) divided by its norm into out, as a cosine
 * store keeps a vector (store/put.c: the norm summed and taken in double). */
void cvs__unit_vec(const cvs_db *db, const float *in, float *out);

/* f16 <-> f32 (store/f16.c): F16C when the CPU has it, scalar otherwise. */
void cvs__f16_to_f32(const uint16_t *in, float *out, size_t n);
void cvs__f32_to_f16(const float *in, uint16_t *out, size_t n);
float cvs__f16_to_f32_scalar1(uint16_t h);
uint16_t cvs__f32_to_f16_scalar1(float f);

/* Validation helpers (store/validate.c). */
int cvs__utf8_valid(const char *s, size_t len);
/* Parses meta as a JSON object and returns its compact serialization in
 * *out (malloc'd).  CVS_EINPUT with a reason otherwise. */
int cvs__meta_canonical(const char *meta, size_t len, char **out, size_t *out_len);
/* When jansson refused an integer beyond 64 bits (valid JSON it cannot
 * hold), what to tell the user (the range, and to write it as a string);
 * NULL for any other error, a real beyond double range included. */
struct json_error_t;
const char *cvs__json_int_range_why(const struct json_error_t *e);

/* Links value codec (store/links.c). */
size_t cvs__links_encoded_size(const cvs_link *links, size_t n);
void cvs__links_encode(const cvs_link *links, size_t n, unsigned char *out);
/* Decodes into a malloc'd array whose strings point into val (and the type
 * strings into the same allocation, NUL-terminated).  CVS_ECORRUPT on a bad
 * value. */
int cvs__links_decode(const void *val, size_t len, cvs_link **out, size_t *n);

/* Record value of "recs": fills created/updated/id. */
int cvs__rec_decode(const MDB_val *v, int64_t *created, int64_t *updated,
                    const char **id, size_t *id_len);


/* ==== Open snapshots of this process (store/read.c) ==== */

/* cvs_txn_begin / cvs_txn_end register their snapshot's txnid, so that a
 * derived structure purges deleted entries only once no open snapshot can
 * see them. */
int cvs__snap_register(cvs_db *db, uint64_t txnid);
/* cvs_txn_begin registers 0 (which holds every purge back) before it begins
 * its LMDB snapshot, then replaces it with the snapshot's txnid, so that no
 * purge can slip in between. */
void cvs__snap_replace(cvs_db *db, uint64_t old, uint64_t txnid);
void cvs__snap_unregister(cvs_db *db, uint64_t txnid);
/* The oldest registered snapshot, or cur when none is older. */
uint64_t cvs__snap_oldest(cvs_db *db, uint64_t cur);

/* Fills a cvs_record for key from the read transaction. */
int cvs__load_record(cvs_txn *t, int64_t key, const MDB_val *recval,
                     cvs_record *rec, float *vec_out);


/* ==== Keys of the id-keyed databases ("ids", "backlinks") ==== */

/* LMDB keys are at most 511 bytes but external ids may have 512.  Ids of up
 * to CVS_IDKEY_RAW bytes are their own key; longer ones become a key of
 * exactly CVS_IDKEY_LONG bytes: their first 448 bytes, a 0xff byte (never in
 * UTF-8) and their 32-byte BLAKE2b hash.  The lengths never overlap, so the
 * mapping stays one-to-one. */
#define CVS_IDKEY_RAW 480
#define CVS_IDKEY_LONG 481
#define CVS_IDKEY_MAX CVS_IDKEY_LONG
void cvs__idkey(const char *id, size_t len, unsigned char *buf, MDB_val *key);

/* The store's place in a sharded store (store/shard.c): CVS_NOTFOUND when
 * it has none.  cvs__shard_of: the shard of an id among count. */
int cvs__shard_get(cvs_db *db, MDB_txn *txn, uint32_t *index, uint32_t *count);
uint32_t cvs__shard_of(const char *id, size_t len, uint32_t count);

/* Maps an LMDB failure inside a write to our code: MDB_MAP_FULL becomes the
 * private retry code. */
static inline int cvs__werr(int mrc, const char *what)
{
    return mrc == MDB_MAP_FULL ? CVS__MAPFULL : cvs__err_lmdb(mrc, what);
}
#endif /* CVS_DB_H tail */
