/*
 * kmeans.h -- seeded Lloyd k-means and batched nearest-centroid search
 * (internal to the codec module).
 */
#ifndef CVS_PQ_KMEANS_H
#define CVS_PQ_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

/* Progress hook shared by every training stage of the codec module. */
typedef void (*cvs__progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

/* The seeded PRNG (cvs__rng_next, cvs__rng_below) is core/rng.h. */

typedef struct cvs__kmeans_opts {
    int iters;              /* Lloyd iterations (>= 1) */
    uint64_t seed;
    int hot_start;          /* 1: cent already holds the initial centroids */
    cvs__progress_fn progress;  /* may be NULL; called once per iteration */
    void *progress_ctx;
    const char *phase;      /* name passed to progress */
    uint64_t progress_base, progress_total; /* offsets for multi-run phases */
} cvs__kmeans_opts;

/* Clusters n points of d floats (row i at x + i*ldx, ldx >= d, so that a
 * sub-vector of wider rows can be clustered in place) into k centroids
 * (cent: k x d, row-major, written).  assign (n entries, may be NULL)
 * receives the assignment of the last Lloyd step.  n < k is allowed: the
 * surplus centroids are duplicates.  CVS_ENOMEM or 0. */
int cvs__kmeans(const float *x, size_t n, size_t d, size_t ldx, size_t k,
                const cvs__kmeans_opts *o, float *cent, int32_t *assign, double *obj);

/* Nearest centroid of each of n points (same x/ldx convention), by one
 * sgemm per block: ||x||^2 - 2 x.c + ||c||^2.  cnorm (k floats) may be NULL
 * (computed here).  dist (may be NULL) receives the squared distance.
 * CVS_ENOMEM or 0. */
int cvs__kmeans_assign(const float *x, size_t n, size_t d, size_t ldx, const float *cent,
                       size_t k, const float *cnorm, int32_t *assign, float *dist);

/* Squared norms of n rows of d floats. */
void cvs__row_norms(const float *x, size_t n, size_t d, size_t ldx, float *out);

#endif
