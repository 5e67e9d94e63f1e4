/*
 * kmeans.h -- seeded Lloyd k-means and batched nearest-centroid search
 * (internal to the codec module).
 */
#ifndef CVS_PQ_KMEANS_H
#define CVS_PQ_KMEANS_H

#include <stddef.h>
#include <stdint.h>

/* Progress hook shared by every training stage of the codec module. */
typedef void (*cvs__progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

/* ==== Seeded PRNG ====
 * splitmix64 (Steele, Lea, Flood 2014): tiny, full-period, and independent
 * of libc, so a seed gives the same codebooks on every platform. */
static inline uint64_t cvs__rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below
 * 2^-32 for the sizes we use, irrelevant for sampling). */
static inline uint64_t cvs__rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)cvs__rng_next(s) * n) >> 64);
}

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

/* Online CPUs, 1..16, read once: how many threads the training and
 * encoding loops split their rows over. */
int cvs__ncpu(void);

/* Nearest centroid of each of n points (same x/ldx convention), by one
 * sgemm per block: ||x||^2 - 2 x.c + ||c||^2.  cnorm (k floats) may be NULL
 * (computed here).  dist (may be NULL) receives the squared distance.
 * CVS_ENOMEM or 0. */
int cvs__kmeans_assign(const float *x, size_t n, size_t d, size_t ldx, const float *cent,
                       size_t k, const float *cnorm, int32_t *assign, float *dist);

/* Squared norms of n rows of d floats. */
void cvs__row_norms(const float *x, size_t n, size_t d, size_t ldx, float *out);

#endif
