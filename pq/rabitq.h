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
 *   one byte: the centre k (0..K-1) the vector is coded against;
 *   two little-endian float32 factors, scale and shift, then one
 *     little-endian IEEE half, the bound's factor (see rabitq.c);
 * CVS_RBQ_TAIL bytes after the planes in all.
 */
#ifndef CVS_PQ_RABITQ_H
#define CVS_PQ_RABITQ_H

#include <stddef.h>
#include <stdint.h>

#define CVS_RBQ_TAIL 11 /* bytes after the bit planes: centre, 2 floats, 1 half */
#define CVS_RBQ_TAIL_V3 12 /* the same in codec blob version 3: norm, scale, err as float32 */
#define CVS_RBQ_MAXK 256 /* centres one byte can name */

typedef struct cvs__rbq {
    uint32_t d;      /* dimension seen by the quantizer (a multiple of 8) */
    uint32_t B;      /* bits per dimension, 1..8 */
    uint32_t K;      /* centres, 1..CVS_RBQ_MAXK */
    int ip;          /* 1: codes for inner-product scores, 0: squared L2 */
    float *cent;     /* K x d floats: the centres, owned */
    float *cn2;      /* K floats: their squared norms (derived), owned */
    int v3;          /* 1: the codes of codec blob version 3 (K = 1, no centre
                        byte, a tail of CVS_RBQ_TAIL_V3 bytes: norm, scale, err);
                        read, searched and extended, never trained */
} cvs__rbq;

/* K centres (zeroed until cvs__rbq_train or the caller fills them; call
 * cvs__rbq_centres_set after filling).  CVS_EINVAL, CVS_ENOMEM. */
int cvs__rbq_init(cvs__rbq *r, uint32_t d, uint32_t B, uint32_t K, int ip);
void cvs__rbq_destroy(cvs__rbq *r); /* accepts a zeroed struct */
/* Recomputes what derives from the centres (after filling r->cent). */
void cvs__rbq_centres_set(cvs__rbq *r);
/* The centres a training sample of n vectors supports: one per
 * CVS_RBQ_MIN_PER_CENTRE vectors, 1..CVS_RBQ_MAXK. */
uint32_t cvs__rbq_centres_for(size_t n);
#define CVS_RBQ_MIN_PER_CENTRE 39

/* Bytes of one code: B * d / 8 + CVS_RBQ_TAIL (CVS_RBQ_TAIL_V3 if v3). */
size_t cvs__rbq_code_size(const cvs__rbq *r);
/* Floats of a prepared query (cvs__rbq_prepare). */
size_t cvs__rbq_query_floats(const cvs__rbq *r);

/* A random din x dout matrix with orthonormal rows (the first din rows of
 * a Haar-random dout x dout orthogonal matrix), from seed; dout >= din.
 * CVS_ENOMEM. */
int cvs__rbq_rotation(uint32_t din, uint32_t dout, uint64_t seed, float *R);

/* The centres: k-means over n rows of z (n x d), iters Lloyd steps from
 * seed (r->K = 1: the mean).  CVS_ENOMEM. */
int cvs__rbq_train(cvs__rbq *r, const float *z, size_t n, int iters, uint64_t seed);
/* Codes of n rows z (n x d, already rotated), each against its nearest
 * centre.  CVS_ENOMEM. */
int cvs__rbq_encode(const cvs__rbq *r, const float *z, size_t n, uint8_t *codes);
/* Reconstructions c + norm * <ō,o> * ō (the projection of v on the code's
 * direction: least squared error for that direction), n x d. */
void cvs__rbq_decode(const cvs__rbq *r, const uint8_t *codes, size_t n, float *z);

/* Query side.  qz: the query in the quantizer's space (d floats), scored
 * as r->ip says.  off is added to every estimate.  Fills qbuf
 * (cvs__rbq_query_floats floats, caller-owned); cvs__rbq_estimate fills
 * its per-centre tables as codes name the centres. */
void cvs__rbq_prepare(const cvs__rbq *r, const float *qz, float off, float *qbuf);
/* For n codes (stride cs bytes, >= cvs__rbq_code_size): est[i], the
 * estimated "smaller is better" distance (squared L2, or minus the inner
 * product), and err[i] (may be NULL), the half-width of its confidence
 * interval at eps0 = 1: |est - true| <= eps0 * err with probability
 * >= 1 - 2 exp(-c0 eps0^2) over the random rotation (RaBitQ, Theorem 3.2).
 * Writes qbuf (a centre's table, the first time a code names it, unlocked):
 * a qbuf must not be used by two threads at once; r is only read. */
void cvs__rbq_estimate(const cvs__rbq *r, float *qbuf, const uint8_t *codes, size_t n,
                       size_t cs, float *est, float *err);

#endif
