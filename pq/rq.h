/*
 * rq.h -- residual (additive) quantizer over already-transformed vectors
 * (internal to the codec module; codec.c adds the PCA front and the
 * metric).  See rq.c for the method and its sources.
 */
#ifndef CVS_PQ_RQ_H
#define CVS_PQ_RQ_H

#include <stddef.h>
#include <stdint.h>

#include "pq/kmeans.h"

#define CVS_RQ_K 256 /* centroids per stage: one byte each */

typedef struct cvs__rq {
    uint32_t d;      /* dimension */
    uint32_t S;      /* stages (codebooks), 1..256 */
    uint32_t norm;   /* 1: one more code byte, the quantized cross term of
                        the reconstruction's squared norm (l2) */
    float *cent;     /* S x 256 x d, owned */
    float *levels;   /* 256 ascending cross-term values (norm only), owned */
    float *cnorm;    /* S x 256 squared centroid norms; derived */
    float *cent_p;   /* all codebooks as one d x (S*256) panel matrix for the
                        LUT kernel (pq/panel.h); derived */
} cvs__rq;

typedef struct cvs__rq_opts {
    int iters;       /* k-means iterations per stage */
    int refine;      /* rounds of beam encoding + codebook update */
    int beam;        /* beam width while training */
    uint64_t seed;
    cvs__progress_fn progress;
    void *progress_ctx;
} cvs__rq_opts;

/* Allocates zeroed codebooks (and levels when norm).  CVS_EINVAL/ENOMEM. */
int cvs__rq_init(cvs__rq *rq, uint32_t d, uint32_t S, int norm);
void cvs__rq_destroy(cvs__rq *rq);   /* accepts a zeroed struct */
/* Rebuilds the derived arrays from cent; a loader that fills cent and
 * levels itself must call it.  CVS_ENOMEM. */
int cvs__rq_prepare(cvs__rq *rq);

size_t cvs__rq_code_size(const cvs__rq *rq);   /* S + norm bytes */

/* Trains the codebooks (and levels) on n rows of x (n x d). */
int cvs__rq_train(cvs__rq *rq, const float *x, size_t n, const cvs__rq_opts *o);

/* Codes of n rows by beam search of width beam (>= 1).  A call with many
 * rows scores through a table of codebook cross products (rq.c, deviation
 * 4); _direct always scores by dot products with the residuals. */
int cvs__rq_encode(const cvs__rq *rq, const float *x, size_t n, int beam, uint8_t *codes);
int cvs__rq_encode_direct(const cvs__rq *rq, const float *x, size_t n, int beam,
                          uint8_t *codes);
/* 1 if this quantizer's table fits (deviation 4: up to 32 stages), so that
 * bulk encodings can go through it; codec.c sizes its beams by it. */
int cvs__rq_has_tables(const cvs__rq *rq);
/* 1 if cvs__rq_encode of n rows at this beam goes through the table. */
int cvs__rq_uses_tables(const cvs__rq *rq, size_t n, int beam);

/* Reconstruction (n x d): the sum of the stages' centroids. */
void cvs__rq_decode(const cvs__rq *rq, const uint8_t *codes, size_t n, float *x);

/* LUTs for nq queries y (row q at y + q*d), (S + norm) x 256 floats each:
 *   l2 (ip == 0): lut[m][k] = ||c_mk||^2 - 2 y.c_mk, lut[S][j] = levels[j],
 *                 so that ||y||^2 + sum = ||y - x~||^2 up to the levels'
 *                 quantization of the cross term;
 *   ip:           lut[m][k] = -y.c_mk.
 * Each row bit-identical whatever nq (the panel kernel's fixed order). */
void cvs__rq_lut(const cvs__rq *rq, const float *y, size_t nq, int ip, float *lut);

#endif
