/*
 * codescan.h -- exhaustive asymmetric-distance search over a snapshot's
 * compressed codes (internal).
 */
#ifndef CVS_CODESCAN_H
#define CVS_CODESCAN_H

#include "store/db.h"

/* q: nq prepared queries (normalized for cosine), qn their squared norms.
 * rerank 0 returns code distances; otherwise the best max(k, rerank) by
 * code distance are re-scored exactly with the raw vectors.  allow, when
 * not NULL, is a filter bitmap of allow_words words (store/filter.h): keys
 * whose bit is clear are skipped during the scan, so every candidate and
 * every result matches. */
int cvs__codes_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                      size_t rerank, const uint64_t *allow, size_t allow_words,
                      int64_t *labels, float *scores);
/* Drops the cached codes (on close). */
void cvs__codes_drop(cvs_db *db);

#endif
