/*
 * rabitq.h -- RaBitQ / Extended RaBitQ codes over already-rotated vectors
 * (internal to the codec module; codec.c applies the random rotation, the
 * optional PCA in front of it, and the metric).  Method, sources and
 * deviations: rabitq.c.
 *
 * Code of one vector (cvs__rbq_code_size bytes), for dimension d (a
 * multiple of 8) and B bits per dimension:
 *   B bit planes of d/8 bytes: byte m of plane b holds, in bit t, bit b of
 *     the level u_j in 0..2^B-1 of dimension j = 8m + t;
 *   three little-endian float32 factors: norm = ||v||, scale and err (see
 *     rabitq.c), v = z - mean the centred vector.
 */
#ifndef CVS_PQ_RABITQ_H
#define CVS_PQ_RABITQ_H

#include <stddef.h>
#include <stdint.h>

#define CVS_RBQ_FACTORS 3 /* floats after the bit planes */

typedef struct cvs__rbq {
    uint32_t d;      /* dimension seen by the quantizer (a multiple of 8) */
    uint32_t B;      /* bits per dimension, 1..8 */
    float *mean;     /* d floats: the centre of the codes, owned */
} cvs__rbq;

int cvs__rbq_init(cvs__rbq *r, uint32_t d, uint32_t B);
void cvs__rbq_destroy(cvs__rbq *r); /* accepts a zeroed struct */

/* Bytes of one code: B * d / 8 + 4 * CVS_RBQ_FACTORS. */
size_t cvs__rbq_code_size(const cvs__rbq *r);
/* Floats of a prepared query (cvs__rbq_prepare). */
size_t cvs__rbq_query_floats(const cvs__rbq *r);

/* A random din x dout matrix with orthonormal rows (the first din rows of
 * a Haar-random dout x dout orthogonal matrix), from seed; dout >= din.
 * CVS_ENOMEM. */
int cvs__rbq_rotation(uint32_t din, uint32_t dout, uint64_t seed, float *R);

/* mean = the average of n rows of z (n x d). */
void cvs__rbq_train(cvs__rbq *r, const float *z, size_t n);
/* Codes of n rows z (n x d, already rotated).  CVS_ENOMEM. */
int cvs__rbq_encode(const cvs__rbq *r, const float *z, size_t n, uint8_t *codes);
/* Reconstructions mean + norm * <ō,o> * ō (the projection of v on the
 * code's direction: least squared error for that direction), n x d. */
void cvs__rbq_decode(const cvs__rbq *r, const uint8_t *codes, size_t n, float *z);

/* Query side.  qz: the query in the quantizer's space (d floats); ip: 1 for
 * inner-product scores.  off is added to every estimate.  Fills qbuf
 * (cvs__rbq_query_floats floats, caller-owned). */
void cvs__rbq_prepare(const cvs__rbq *r, const float *qz, int ip, float off, float *qbuf);
/* For n codes (stride cs bytes, >= cvs__rbq_code_size): est[i], the
 * estimated "smaller is better" distance (squared L2, or minus the inner
 * product), and err[i] (may be NULL), the half-width of its confidence
 * interval at eps0 = 1: |est - true| <= eps0 * err with probability
 * >= 1 - 2 exp(-c0 eps0^2) over the random rotation (RaBitQ, Theorem 3.2). */
void cvs__rbq_estimate(const cvs__rbq *r, const float *qbuf, const uint8_t *codes, size_t n,
                       size_t cs, float *est, float *err);

#endif
