/*
 * marks.h -- what the indexes built from a snapshot (the FAISS index,
 * index/faiss_index.c; the graph, index/qg_store.c) read from it and keep
 * in the store's meta table beside their data: every stored vector, at
 * build time; u64 counters, and one "mark" per record
 * written or deleted since the build (a meta key of a prefix and the
 * record's key in big-endian, so the marks of a prefix sort by record key),
 * which searches score exactly and the next build clears.
 */
#ifndef CVS_INDEX_MARKS_H
#define CVS_INDEX_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Every stored vector of txn's snapshot, decoded to float32, with its
 * record key, in key order: malloc'd arrays (*n rows) the caller frees.
 * CVS_EINPUT when the store keeps no raw vectors; CVS_ECORRUPT for an entry
 * of the wrong size. */
int cvs__vecs_read_all(cvs_db *db, MDB_txn *txn, int64_t **keys, float **x, size_t *n);

/* Meta u64 name: *found 0 and *out 0 when absent; CVS_ECORRUPT when it is
 * not 8 bytes. */
int cvs__meta_get_u64(cvs_db *db, MDB_txn *txn, const char *name, uint64_t *out, int *found);
int cvs__meta_put_u64(cvs_db *db, MDB_txn *txn, const char *name, uint64_t val);

/* Deletes every meta key that starts with prefix, except those whose value
 * keep(value, arg) accepts (keep NULL: all). */
int cvs__meta_drop_prefix(cvs_db *db, MDB_txn *txn, const char *prefix,
                          int (*keep)(const MDB_val *v, uint64_t arg), uint64_t arg);

/* Inside a write: marks record key under prefix, with value val (vlen
 * bytes).  A deleted record whose key is at or past *next -- the first key
 * the index never held; NULL when the index does not know it -- is unmarked
 * instead: keys only grow, so the index never held it, and dropping its
 * mark keeps the marks (and the cost of every search) bounded by the
 * records indexed plus those live, under any churn.  what names the index
 * in error messages. */
int cvs__mark_write(cvs_db *db, MDB_txn *txn, const char *prefix, uint64_t key, int deleted,
                    const uint64_t *next, const void *val, size_t vlen, const char *what);

/* One meta key under a mark prefix, as cvs__marks_each finds it: k and v
 * are valid until the next call; key is the record key of a well-formed
 * mark (k->mv_size is strlen(prefix) + 8 and the key below 2^63), and 0
 * with malformed set for any other key under the prefix.  As cvs__marks_each's fn, a nonzero return
 * stops the walk; as cvs__marks_list's keep, it takes the mark. */
typedef int (*cvs__mark_fn)(void *arg, const MDB_val *k, const MDB_val *v, uint64_t key,
                            int malformed);

/* Calls fn for every meta key under prefix in txn, in key order (the
 * well-formed marks by ascending record key), malformed ones included, so
 * that a check can name each of them.  Returns fn's first nonzero return,
 * or an LMDB error of the walk. */
int cvs__marks_each(cvs_db *db, MDB_txn *txn, const char *prefix, cvs__mark_fn fn, void *arg);

/* The record keys marked under prefix in txn, ascending, in a malloc'd
 * array (NULL when none) the caller frees.  A malformed mark is left out;
 * so is any mark keep(arg, ...) refuses (keep NULL: every well-formed one),
 * keep being called for the malformed ones too (malformed set), which lets
 * a check report them as it lists the rest; keep returns nonzero to take
 * the mark. */
int cvs__marks_list(cvs_db *db, MDB_txn *txn, const char *prefix, cvs__mark_fn keep, void *arg,
                    int64_t **out, size_t *n);

/* The record key of a mark's meta key k (k->mv_size must be
 * strlen(prefix) + 8, checked by the caller). */
uint64_t cvs__mark_key_of(const MDB_val *k, size_t prefix_len);

/* Index of key in the ascending a[0..n), or n. */
size_t cvs__sorted_find(const int64_t *a, size_t n, int64_t key);

#endif
