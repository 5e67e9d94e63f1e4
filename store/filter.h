/*
 * filter.h -- metadata filters (internal): evaluation of a parsed cvs_filter
 * to a bitmap over a snapshot's internal keys, the form every search path
 * (exact scan, code scan, the ANN index) consumes.
 */
#ifndef CVS_FILTER_H
#define CVS_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "store/colcache.h" /* cvs__filter_cache_drop, for db.c */
#include "store/db.h"

/* Evaluates f in t's snapshot.  On success:
 *   *bits   a bitmap over internal keys: bit (key & 63) of word key >> 6 is
 *           set when the record with that key exists in the snapshot and
 *           matches.  Keys at or beyond *nwords * 64 never match.  *bits is
 *           malloc'd for the caller (never borrowed from a cache), never
 *           NULL on success, and freed by the caller with free().
 *   *nwords its length in 64-bit words (0 for an empty store).
 *   *nmatch the number of bits set.
 * Field predicates read per-snapshot columns of the column cache
 * (store/colcache.h: built by parsing every record's metadata once per
 * snapshot and field, then shared by all later evaluations of that
 * snapshot); $ids resolves through the ids database without a scan.  On
 * failure *bits is NULL. */
int cvs__filter_eval(cvs_txn *t, const cvs_filter *f, uint64_t **bits, size_t *nwords,
                     uint64_t *nmatch);

/* True when key's bit is set in a bitmap from cvs__filter_eval. */
static inline int cvs__bit_test(const uint64_t *bits, size_t nwords, int64_t key)
{
    uint64_t k = (uint64_t)key;
    return key >= 0 && (k >> 6) < nwords && ((bits[k >> 6] >> (k & 63)) & 1u);
}

#endif
