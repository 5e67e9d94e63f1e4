/*
 * flat.h -- an in-memory copy of a snapshot's vectors, decoded to float32
 * in one contiguous array, for exact search.
 */
#ifndef CVS_FLAT_H
#define CVS_FLAT_H

#include "store/db.h"
#include "store/module.h"

typedef struct cvs_flat {
    size_t txnid;      /* the LMDB snapshot it was read from */
    size_t n;
    uint32_t dim;
    float *x;          /* n * dim */
    float *xn;         /* squared norms (l2 stores), else NULL */
    int64_t *keys;     /* n keys, ascending */
    int refs;          /* guarded by the flat module's lock */
} cvs_flat;

/* The flat copy of txn's snapshot: shared if it is cached, loaded (and
 * cached, replacing an older one) if not.  *out is NULL, with CVS_OK, when
 * the store is too large for the memory budget: callers then stream. */
int cvs__flat_get(cvs_db *db, MDB_txn *txn, cvs_flat **out);
void cvs__flat_release(cvs_db *db, cvs_flat *f);
/* Drops the cached copy (on close). */
void cvs__flat_drop(cvs_db *db);

/* The module (store/module.h) that owns the decoded-vectors cache: it only
 * frees it at close. */
extern const cvs__module cvs__flat_module;

#endif
