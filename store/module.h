/*
 * module.h -- how a derived structure plugs into the store.
 *
 * The store keeps records (ids, recs, vecs, text, titles, attrs, links,
 * backlinks, meta).  Everything computed from records -- codes and the IVF
 * lists, the FAISS index's dirty marks, the BM25 postings, the kNN graph and
 * the title map -- is a module: one static, read-only table of function
 * pointers (struct cvs__module) in the module's own files.  The store never
 * names a module; the composition file (api/compose.c) hands the list to
 * cvs__db_open / cvs__db_create and the store calls the tables in that
 * order, the way PostgreSQL's executor loops over a relation's index access
 * methods (IndexAmRoutine) after each heap insert, or SQLite calls a virtual
 * table's sqlite3_module.  Every slot but name may be NULL: the store skips
 * it.  The store never copies or frees a table.
 *
 * ==== The re-run rule ====
 * A write (cvs_put, cvs_delete, a database added on open) runs inside
 * cvs__write (db.h): when LMDB runs out of map space, the transaction is
 * aborted, the map grows and the whole write runs again from write_begin.
 * So every hook that takes a transaction must keep its effects inside it:
 * write to LMDB through txn, keep scratch in the per-write state (ws) that
 * write_begin resets, and change nothing outside the transaction (no
 * in-memory cache, no file, no counter) before it commits.  A per-handle
 * cache a hook fills must be keyed by something the transaction's snapshot
 * determines (a generation in meta, a txnid), so that a value read by an
 * aborted transaction is either still right or never looked up again; that
 * is how the codec and IVF caches stay correct across an abort without an
 * explicit invalidation.
 */
#ifndef CVS_MODULE_H
#define CVS_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Bumped when a slot is added, as SQLite's iVersion: a table declares the
 * version it was written against. */
#define CVS__MODULE_VERSION 1

/* At most CVS__MAX_MODULES (db.h) modules per handle. */

/* ==== Databases a module owns ==== */

/* dbi flags (besides LMDB's, which go to mdb_dbi_open). */
enum {
    /* A store without this database is not a cvstore store (format 1 had it
     * from the start): opening fails with CVS_EFORMAT.  Without the flag the
     * database was added later: a writable open creates it (and calls the
     * module's added slot), a read-only open leaves the module absent. */
    CVS__DBI_REQUIRED = 1u << 0,
    /* cvs_check on an encrypted store opens every value of this database
     * once, so that damage is reported even where no other check reads. */
    CVS__DBI_CHECK_OPENS = 1u << 1,
    /* Added later, and the module works without it (in a read-only open of
     * an older store): the int at have_off in the module's state tells
     * whether it is open, and its absence does not make the module absent. */
    CVS__DBI_OPTIONAL = 1u << 2,
};

typedef struct cvs__dbi_spec {
    const char *name;      /* the LMDB database name (docs/FORMAT.md) */
    unsigned mdb_flags;    /* MDB_INTEGERKEY, MDB_DUPSORT, ... */
    unsigned flags;        /* CVS__DBI_* */
    size_t off;            /* where its MDB_dbi lives in the module's state */
    size_t have_off;       /* CVS__DBI_OPTIONAL: where its int "is open" lives */
    unsigned seal;         /* CVS__SEAL_* (store/seal.h): how an encrypted store keeps it */
} cvs__dbi_spec;

/* ==== Writes ==== */

enum { CVS__WRITE_PUT = 1, CVS__WRITE_DELETE = 2 };

/* One write transaction as the modules see it. */
typedef struct cvs__wctx {
    cvs_db *db;
    MDB_txn *txn;
    int op;                /* CVS__WRITE_PUT or CVS__WRITE_DELETE */
    unsigned flags;        /* cvs_put's flags */
    /* Set by the store to 1 before write_begin; a module that reconstructs
     * every record's vector from what it stores (a raw "none" store after a
     * build) sets it to 0 there, and the store then writes no raw vector. */
    int keep_raw;
} cvs__wctx;

/* One record being put, as the store has it when the put slot runs: ids and
 * recs are written, the raw vector too (when kept); the record's title,
 * text, attrs and links still hold their old values, so a module can read
 * the old version of an update through txn. */
typedef struct cvs__wrec {
    uint64_t key;
    int existed;           /* 1: an update of a record in txn's snapshot */
    const cvs_record *r;   /* validated by cvs_put */
    const float *x;        /* the vector as stored (unit length in a cosine store) */
} cvs__wrec;

/* ==== Checking ==== */

/* cvs_check's state, opaque to modules. */
typedef struct cvs__chk cvs__chk;
/* The snapshot being checked. */
MDB_txn *cvs__chk_txn(cvs__chk *c);
/* Reports one violation. */
void cvs__chk_problem(cvs__chk *c, const char *fmt, ...) CVS_PRINTF(2, 3);
/* The same as a (void *ctx, const char *msg) callback, ctx the cvs__chk:
 * what a module's own check function (written to report through a callback
 * so that tests can call it alone) is given by its check slot. */
void cvs__chk_problem_cb(void *ctx, const char *msg);
/* Walks every entry of dbi (name for messages), calling fn; values that fail
 * authentication in an encrypted store are reported and skipped.  Stops on
 * an error of fn or of LMDB. */
typedef int (*cvs__chk_fn)(cvs__chk *c, void *arg, const MDB_val *k, const MDB_val *v);
int cvs__chk_walk(cvs__chk *c, MDB_dbi dbi, const char *name, cvs__chk_fn fn, void *arg);
/* Reports a key that is not 8 bytes or names no record ("name: key N has
 * no record"). */
void cvs__chk_orphan(cvs__chk *c, const MDB_val *k, const char *name);
/* The number of records in the snapshot. */
uint64_t cvs__chk_nrecs(cvs__chk *c);
/* Values that failed authentication so far (encrypted store): a check
 * that re-reads values beyond its own walk skips that part when nonzero
 * (cvs_check then says what was not checked). */
uint64_t cvs__chk_failed_values(cvs__chk *c);

/* ==== The table ==== */

enum {
    /* The check slot re-reads records' text and its own rows; it is skipped
     * (with one message) when values failed authentication. */
    CVS__MOD_CHECK_NEEDS_VALUES = 1u << 0,
};

typedef struct cvs__module {
    int version;           /* CVS__MODULE_VERSION */
    const char *name;      /* for messages */
    unsigned flags;        /* CVS__MOD_* */

    /* The databases it owns, opened by the store in the open transaction
     * (created with the store).  A module whose databases are all present
     * (optional ones aside) is "present" (cvs__module_present); one whose
     * later-added databases are missing in a read-only open is absent, and
     * none of its hooks but close is called. */
    const cvs__dbi_spec *dbis;
    size_t ndbis;

    /* Per-handle state: state_size bytes, zeroed by the store before attach
     * and freed after close.  attach runs before any database is opened
     * (initialize locks here); close runs once at cvs_db_close, after every
     * snapshot and write of the handle has ended, also when attach or the
     * open failed later (it must accept the zeroed state). */
    size_t state_size;
    int (*attach)(cvs_db *db, void *state);
    void (*close)(cvs_db *db, void *state);

    /* The module's databases were just created in an existing store (a
     * writable open of a store from before they existed): fill them from
     * the records in txn.  Subject to the re-run rule. */
    int (*added)(cvs_db *db, void *state, MDB_txn *txn);

    /* Every write: ws is wstate_size zeroed bytes for the whole call
     * (cvs_put or cvs_delete), freed after write_free.  write_begin runs
     * at the start of every run of the transaction (the first and each
     * re-run after the map grew) and must reset ws.  Then, in order:
     *   put:    put per record, then put_done for the batch;
     *   delete: del per record (before the store removes anything of it),
     *           then del_done for the batch;
     * then write_end.  All subject to the re-run rule.  Errors abort the
     * write; CVS__MAPFULL (db.h) asks for the re-run. */
    size_t wstate_size;
    int (*write_begin)(cvs__wctx *w, void *ws);
    int (*put)(cvs__wctx *w, void *ws, const cvs__wrec *rec);
    int (*put_done)(cvs__wctx *w, void *ws, const int64_t *keys, const unsigned char *existed,
                    size_t n);
    int (*del)(cvs__wctx *w, void *ws, uint64_t key);
    /* keys: the records deleted; the module may reorder them. */
    int (*del_done)(cvs__wctx *w, void *ws, int64_t *keys, size_t n);
    int (*write_end)(cvs__wctx *w, void *ws);
    void (*write_free)(void *ws);

    /* Vectors held instead of the raw ones (raw "none" after a build):
     * holds_vectors sets *yes when, in txn's snapshot, the store keeps no
     * raw vectors because this module answers reconstruct for every record;
     * reconstruct writes the dim floats it holds for key into out
     * (CVS_NOTFOUND: it holds nothing for the store; CVS_ECORRUPT: it should
     * and does not). */
    int (*holds_vectors)(cvs_db *db, void *state, MDB_txn *txn, int *yes);
    int (*reconstruct)(cvs_db *db, void *state, MDB_txn *txn, uint64_t key, float *out);

    /* cvs_check's part (docs/FORMAT.md, the module's invariants): reports
     * every violation through cvs__chk_problem; returns an error only when
     * the check itself cannot run. */
    int (*check)(cvs_db *db, void *state, cvs__chk *c);
} cvs__module;

/* The state of module m on db (NULL when m is not registered on it).  Valid
 * until cvs_db_close. */
void *cvs__module_state(const cvs_db *db, const cvs__module *m);
/* 1 when every database of m is present on db. */
int cvs__module_present(const cvs_db *db, const cvs__module *m);

/* The store's open and create, given the modules in calling order (the
 * table pointers must outlive the handle; the composition passes static
 * tables).  The public cvs_db_open* and cvs_db_create* are in api/. */
int cvs__db_create(const char *path, const cvs_create_opts *opts, const char *passphrase,
                   size_t len, const cvs__module *const *mods, size_t nmods, cvs_db **out);
int cvs__db_open(const char *path, const cvs_open_opts *opts, const cvs__module *const *mods,
                 size_t nmods, cvs_db **out);

/* The vectors of records held by a module instead of the store (raw
 * "none" after a build): *yes when some module holds them in txn. */
int cvs__vectors_held(cvs_db *db, MDB_txn *txn, int *yes);

#endif
