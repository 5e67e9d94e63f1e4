/*
 * exact.h -- the exact top-k scan over the raw vectors (index/exact.c),
 * for the search dispatcher (index/search.c) and the kNN graph builder
 * (graph/knn.c).  Internal.
 */
#ifndef CVS_INDEX_EXACT_H
#define CVS_INDEX_EXACT_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Exact top-k of nq prepared queries q (normalized for cosine; qn their
 * squared norms) over t's snapshot, from its shared flat copy when it fits.
 * allow (may be NULL): bit k of allow[k / 64] set = key k may be returned,
 * keys at or past allow_words * 64 are excluded; direct: read only the
 * allowed vectors, one look-up each (for selective filters).  Scores and
 * padding as cvs_txn_search. */
int cvs__exact_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                      const uint64_t *allow, size_t allow_words, int direct, int64_t *labels,
                      float *scores);

/* Exact top-k of nq queries (prepared: normalized for cosine) over the
 * raw vectors visible in txn, a write transaction included: streamed from
 * LMDB, never from the snapshot's flat copy.  Scores and padding as
 * cvs_txn_search. */
int cvs__exact_scan_txn(cvs_db *db, MDB_txn *txn, const float *q, size_t nq, size_t k,
                        int64_t *labels, float *scores);

#endif
