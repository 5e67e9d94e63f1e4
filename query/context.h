/*
 * context.h -- the selection step of context sets (query/select.c), called
 * by query/context.c.  Internal.
 */
#ifndef CVS_CONTEXT_H
#define CVS_CONTEXT_H

#include <stddef.h>

#include "cvstore.h"

/* The candidates, sorted by decreasing relevance: rel[i] in [0, 1], cost[i]
 * in tokens, sim the n x n cosine matrix (row-major). */
typedef struct cvs_pool {
    size_t n;
    const float *rel;
    const size_t *cost;
    const float *sim;
} cvs_pool;

/* Writes the chosen pool indices to order (room for n), in the order they
 * were chosen, *nsel their count; their costs sum to at most budget. */
int cvs__select(const cvs_pool *p, cvs_context_strategy strategy, size_t budget, float lambda,
                float coverage, float dup, size_t *order, size_t *nsel);

#endif
