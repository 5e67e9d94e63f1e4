/*
 * context.h -- the selection step of context sets (query/select.c), called
 * by query/context.c.  Internal.
 */
#ifndef CVS_CONTEXT_H
#define CVS_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

/* The candidates, sorted by decreasing relevance: rel[i] in [0, 1], cost[i]
 * in tokens, sim the n x n cosine matrix (row-major). */
typedef struct cvs_pool {
    size_t n;
    const float *rel;
    const size_t *cost;
    const float *sim;
    /* 1 when candidates i and j are near-copies by their words (one's
     * distinct words nearly all in the other's, context.c), computed on
     * demand; NULL = none known. */
    int (*copy)(void *ctx, size_t i, size_t j);
    void *copy_ctx;
} cvs_pool;

/* Writes the chosen pool indices to order (room for n), in the order they
 * were chosen, *nsel their count; their costs sum to at most budget. */
int cvs__select(const cvs_pool *p, cvs_context_strategy strategy, size_t budget, float lambda,
                float coverage, float dup, size_t *order, size_t *nsel);

/* A record the caller adds to the candidates after they are weighed
 * (cvs_context_scope.settle): a relation of its own calls for it. */
typedef struct cvs_context_join {
    int64_t key;               /* the record that joins */
    int64_t from;              /* the candidate that calls for it: its parent
                                  in the item's path */
    double rel;                /* its relevance; a key already a candidate
                                  keeps the larger of its own and this */
    const char *type;          /* the path step's type (a static string) */
} cvs_context_join;

/* A scope for a context set inside the library (the memory layer,
 * query/memory.c, keeps recall to one namespace with it). */
typedef struct cvs_context_scope {
    const cvs_filter *filter;  /* vector seeds: only records matching it */
    const uint64_t *allow;     /* the same records as a bitmap over keys
                                  (cvs__filter_eval): BM25 seeds, title seeds
                                  and the walk's steps outside it are dropped */
    size_t nwords;
    int positive_vectors;      /* ip/cosine: a vector hit of similarity <= 0
                                  is unrelated, no candidate */
    const uint64_t *vector_deny; /* records that are never a vector hit (a
                                  bitmap over keys, deny_nwords words; NULL =
                                  none): their vectors stand in for no text */
    size_t deny_nwords;
    size_t k;                  /* at most k items (0 = no limit) */
    /* Multiplies the relevance of candidate key before selection (factor
     * starts at 1); NULL = none.  A non-zero return fails the call. */
    int (*weigh)(void *ctx, cvs_txn *t, int64_t key, double *factor);
    /* Sees every candidate's key (n of them) before weigh is called for
     * any, for a weighing that compares each candidate with the others;
     * NULL = none.  A non-zero return fails the call. */
    int (*weigh_pool)(void *ctx, cvs_txn *t, const int64_t *keys, size_t n);
    /* Replaces the fused relevance of candidate key (*rel holds it) with
     * the caller's own, after weigh_pool and before weigh; NULL = keep the
     * fusion's.  For a caller that fuses the rankings itself (query/
     * memory.c, rule 12).  A non-zero return fails the call. */
    int (*relevance)(void *ctx, cvs_txn *t, int64_t key, double *rel);
    /* Sees every candidate's key and relevance (n of them; rel[i] is
     * keys[i]'s) after weigh, for a weighing by relations between
     * candidates (query/memory.c, rule 19), and may change the relevances
     * and name records to join the candidates: *join (NULL = none) points
     * to *njoin of them, owned by ctx, read before the call ends; one
     * outside the scope or whose from is no candidate is skipped.  NULL =
     * none.  A non-zero return fails the call. */
    int (*settle)(void *ctx, cvs_txn *t, const int64_t *keys, double *rel, size_t n,
                  const cvs_context_join **join, size_t *njoin);
    void *ctx;
} cvs_context_scope;

/* cvs_txn_context within a scope (NULL = the whole store). */
int cvs__txn_context_scoped(cvs_txn *t, const cvs_context_opts *opts, const char *text,
                            size_t len, const float *qvec, const cvs_context_scope *scope,
                            cvs_context_result *out);

#endif
