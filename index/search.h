/*
 * search.h -- internal entry points of the search dispatcher
 * (index/search.c).
 */
#ifndef CVS_INDEX_SEARCH_H
#define CVS_INDEX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

/* cvs_txn_search_params with an optional allow-bitmap of keys (bit k of
 * allow[k / 64] set = key k may be returned; keys at or past
 * allow_words * 64 are excluded), applied when params has no filter.
 * Queries are prepared here (validated, normalized for cosine).  The tests
 * use it. */
int cvs__txn_search_allow(cvs_txn *t, const float *queries, size_t nq, size_t k,
                          const cvs_search_params *params, const uint64_t *allow,
                          size_t allow_words, int64_t *labels, float *scores);

#endif
