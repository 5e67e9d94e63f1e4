/*
 * opq.h -- optimized product quantization rotation (internal to the codec
 * module).
 */
#ifndef CVS_PQ_OPQ_H
#define CVS_PQ_OPQ_H

#include <stddef.h>
#include <stdint.h>

#include "pq/pq.h"

typedef struct cvs__opq_opts {
    int iters;          /* outer alternations (>= 1) */
    int first_kiters;   /* k-means iterations of the first PQ training */
    int inner_kiters;   /* k-means iterations of later (hot-started) ones */
    uint64_t seed;
    cvs__progress_fn progress;
    void *progress_ctx;
} cvs__opq_opts;

/* Learns an orthogonal R (d x d, row-major, applied as z = x R) for the
 * shape of pq (x: n x d, d = pq->d), training pq's codebooks along the way
 * (they are left trained for x R with the final R's predecessor: callers
 * hot-start a final PQ training from them). */
int cvs__opq_train(const float *x, size_t n, cvs__pq *pq, const cvs__opq_opts *o, float *R);

/* y = x R for n rows; R is din x dout (din <= dout), the first din rows of
 * an orthogonal dout x dout matrix: a rotation when din == dout, otherwise
 * an isometric embedding of the input into a larger space (zero padding
 * followed by a rotation, see codec.c's "opqD"). */
void cvs__opq_apply(const float *R, uint32_t din, uint32_t dout, const float *x, size_t n,
                    float *y);
/* x = y R^T (n rows of dout -> din). */
void cvs__opq_unapply(const float *R, uint32_t din, uint32_t dout, const float *y, size_t n,
                      float *x);

#endif
