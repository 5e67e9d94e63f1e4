/*
 * pq.h -- product quantizer over already-transformed vectors (internal to
 * the codec module; codec.c adds the PCA/OPQ front and the metric).
 */
#ifndef CVS_PQ_PQ_H
#define CVS_PQ_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "pq/kmeans.h"

typedef struct cvs__pq {
    uint32_t d;      /* input dimension, = M * dsub */
    uint32_t M;      /* sub-quantizers, 1..256 */
    uint32_t nbits;  /* 8 or 4 */
    uint32_t ksub;   /* 1 << nbits */
    uint32_t dsub;   /* d / M */
    float *cent;     /* M x ksub x dsub, owned */
    float *cent_p;   /* the same codebooks transposed into panels for the
                        LUT kernel (pq/panel.h), M x panel_floats(dsub,
                        ksub), owned; in memory only, rebuilt by
                        cvs__pq_prepare whenever cent changes */
} cvs__pq;

/* Allocates the codebooks (zeroed).  CVS_EINVAL / CVS_ENOMEM. */
int cvs__pq_init(cvs__pq *pq, uint32_t d, uint32_t M, uint32_t nbits);
void cvs__pq_destroy(cvs__pq *pq);   /* accepts a zeroed struct */
/* (Re)builds cent_p from cent; cvs__pq_train calls it, a loader that fills
 * cent itself must too.  CVS_ENOMEM. */
int cvs__pq_prepare(cvs__pq *pq);

size_t cvs__pq_code_size(const cvs__pq *pq);  /* M or ceil(M/2) bytes */

/* Trains each sub-quantizer by k-means on its columns of x (n x d).
 * hot_start reuses the current codebooks as initial centroids (OPQ's inner
 * loop).  idx (n*M bytes, one byte per sub-quantizer, may be NULL) receives
 * the last assignment. */
int cvs__pq_train(cvs__pq *pq, const float *x, size_t n, const cvs__kmeans_opts *o,
                  uint8_t *idx);

/* Unpacked codes: one byte per sub-quantizer (n x M), nearest centroid. */
int cvs__pq_assign(const cvs__pq *pq, const float *x, size_t n, uint8_t *idx);
/* ScaNN score-aware assignment: starts from idx (nearest-centroid codes)
 * and improves them by coordinate descent on
 *   eta * ||r_par||^2 + ||r_perp||^2,  r = x - decode(idx),
 * r_par the component of r along x.  idx updated in place. */
int cvs__pq_assign_aniso(const cvs__pq *pq, const float *x, size_t n, float eta, int passes,
                         uint8_t *idx);

/* Unpacked <-> packed codes (8-bit: identity; 4-bit: nibbles, sub-quantizer
 * m in the low nibble of byte m/2 when m is even, the high one when odd). */
void cvs__pq_pack(const cvs__pq *pq, const uint8_t *idx, size_t n, uint8_t *codes);
void cvs__pq_unpack(const cvs__pq *pq, const uint8_t *codes, size_t n, uint8_t *idx);

/* Reconstruction from unpacked codes (n x d). */
void cvs__pq_decode_idx(const cvs__pq *pq, const uint8_t *idx, size_t n, float *x);

/* LUTs for nq queries y (row q at y + q*d): lut[q*M*ksub + m*ksub + j] =
 * ||y_m - c_mj||^2 (ip == 0) or -y_m . c_mj (ip != 0).  Bit-identical to
 * cvs__pq_lut_scalar on each row, whatever nq (see panel.h); without
 * cent_p (not prepared) it is that reference. */
void cvs__pq_lut(const cvs__pq *pq, const float *y, size_t nq, int ip, float *lut);
/* The reference: one query, one centroid at a time, plain loops. */
void cvs__pq_lut_scalar(const cvs__pq *pq, const float *y, int ip, float *lut);

#endif
