/*
 * vecmat.h -- y = x M for one row x (internal): the query side of the PCA
 * and OPQ projections (pq/vecmat.c says why not OpenBLAS).
 */
#ifndef CVS_VECMAT_H
#define CVS_VECMAT_H

#include <stddef.h>

/* Below this many rows the projections use cvs__vecmat row by row. */
#define CVS_VECMAT_MAX_ROWS 4

/* y[j] = sum_i x[i] * M[i * dout + j] for j < dout (M row-major, din x
 * dout).  y must not overlap x or M. */
void cvs__vecmat(const float *x, const float *M, size_t din, size_t dout, float *y);
/* The portable reference (tests compare the dispatched one against it). */
void cvs__vecmat_scalar(const float *x, const float *M, size_t din, size_t dout, float *y);

#endif
