/*
 * codec.h -- vector codecs: PQ (8- and 4-bit), OPQ rotation, PCA projection,
 * PCA + int8 scalar quantization (internal API).
 *
 * A codec is described by a spec string (grammar in codec.c's opening
 * comment), e.g. "pq32", "pq32x4", "opq,pq16", "pca64,opq,pq32x4", "pca64,sq8",
 * "rabitq4" (RaBitQ, pq/rabitq.c),
 * trained on a sample, then used to encode vectors into fixed-size codes and
 * to compute query-to-code distances through per-query look-up tables.
 */
#ifndef CVS_PQ_CODEC_H
#define CVS_PQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

/* A trained codec is immutable: every function below taking a const
 * cvs_codec * may be called from any number of threads at once. */
typedef struct cvs_codec cvs_codec;

typedef struct cvs_codec_train_opts {
    uint64_t seed;          /* deterministic for a given seed */
    size_t max_train;       /* sample cap; 0 = 65536 */
    int kmeans_iters;       /* 0 = 25 */
    int opq_iters;          /* 0 = 20 */
    float anisotropic_eta;  /* ScaNN score-aware loss weight for ip/cosine
                               (0 = plain reconstruction loss): eta =
                               h_par / h_perp, useful values 2..8; ignored
                               for l2 and for sq8.  Kept in the codec: every
                               later encode uses it. */
    /* rabitq: 1 codes every vector against one centre, for vectors the
     * caller has already centred (IVF residuals: each list's centroid is
     * the centre, the RaBitQ paper's setting); 0 = K k-means centres, one
     * per 39 training vectors, at most 256 (pq/rabitq.c, deviation 5). */
    int rabitq_one_centre;
    /* Progress: called with a phase name and done/total; may be NULL. */
    void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
    void *progress_ctx;
} cvs_codec_train_opts;

/* Validates a spec for a dimension: CVS_EINVAL with a clear reason
 * ("pq32 needs the dimension (100) to be a multiple of 32", ...). */
int cvs__codec_check_spec(const char *spec, uint32_t dim);
/* The bytes per vector of the codes spec would make at dimension dim,
 * without training (the errors of cvs__codec_check_spec). */
int cvs__codec_spec_code_size(const char *spec, uint32_t dim, cvs_metric metric,
                              size_t *bytes);

/* Trains on n vectors x (n x dim, row-major; cosine callers pass unit
 * vectors).  metric decides the LUT's distance. */
int cvs__codec_train(const char *spec, uint32_t dim, cvs_metric metric, const float *x, size_t n,
                     const cvs_codec_train_opts *opts, cvs_codec **out);
void cvs__codec_free(cvs_codec *c);

const char *cvs__codec_spec(const cvs_codec *c);   /* canonical spec */
size_t cvs__codec_code_size(const cvs_codec *c);  /* bytes per vector */
/* The version of the blob c serializes to (docs/FORMAT.md, "Codec blob"):
 * a codec keeps the version it was read from. */
uint32_t cvs__codec_blob_version(const cvs_codec *c);
size_t cvs__codec_param_bytes(const cvs_codec *c);/* codebooks + matrices */
int cvs__codec_is_4bit(const cvs_codec *c);        /* fast-scan capable */
size_t cvs__codec_m(const cvs_codec *c);           /* sub-quantizers (or R for sq8,
                                                      the projected dimension) */

/* Encodes n vectors into n * code_size bytes (nearest centroid, or the
 * anisotropic loss when trained with anisotropic_eta > 0). */
int cvs__codec_encode(const cvs_codec *c, const float *x, size_t n, uint8_t *codes);
/* Reconstructs approximate vectors (n x dim). */
int cvs__codec_decode(const cvs_codec *c, const uint8_t *codes, size_t n, float *x);

/* Query side.  lut_size is the number of floats of a LUT (M*ksub for PQ).
 * cvs__codec_lut fills it for one query (transformed by PCA/OPQ inside);
 * distances of codes are then sums of LUT entries ("smaller is better":
 * squared L2 for l2, negated inner product for ip/cosine, up to a per-query
 * constant that cvs__codec_lut returns in *offset so that
 * distance = offset + sum).  sq8 codecs have no LUT: use
 * cvs__codec_distances. */
size_t cvs__codec_lut_size(const cvs_codec *c);   /* 0 for sq8 codecs */
/* CVS_EINVAL for sq8 codecs. */
int cvs__codec_lut(const cvs_codec *c, const float *q, float *lut, float *offset);
/* The same for nq queries (row i at q + i*dim): lut[i*lut_size ..] and
 * offsets[i], each bit-identical to what cvs__codec_lut gives for row i
 * alone; blocks of queries share each load of the PCA/OPQ matrices and of
 * the codebooks (pq/panel.c). */
int cvs__codec_lut_batch(const cvs_codec *c, const float *q, size_t nq, float *lut,
                         float *offsets);
/* Distances from query q to n codes (plain layout), any codec. */
int cvs__codec_distances(const cvs_codec *c, const float *q, const uint8_t *codes, size_t n,
                         float *out);

/* ==== RaBitQ codecs (pq/rabitq.c) ====
 *
 * Their distances are estimates with a confidence interval: with
 * probability >= 1 - 2 exp(-c0 eps0^2) over the random rotation,
 * |est - true| <= eps0 * err.  CVS_RBQ_EPS0 is the paper's eps0 for
 * deciding what to re-rank. */
#define CVS_RBQ_EPS0 1.9f
/* Bits per dimension of a rabitq codec, 0 for every other codec. */
int cvs__codec_rabitq_bits(const cvs_codec *c);
/* Floats of a prepared query (0 for other codecs). */
size_t cvs__codec_rbq_query_floats(const cvs_codec *c);
/* Prepares query q (dim floats, as cvs__codec_lut takes it) into qbuf
 * (caller-owned, cvs__codec_rbq_query_floats floats).  CVS_EINVAL for
 * other codecs, CVS_ENOMEM. */
int cvs__codec_rbq_prepare(const cvs_codec *c, const float *q, float *qbuf);
/* est[i]: the estimated distance ("smaller is better", as
 * cvs__codec_distances gives it) of n plain codes; err[i] (err may be
 * NULL): the half-width of its interval at eps0 = 1.  est is also the
 * kernel's scratch: it needs n floats, nothing more.
 * Thread contract: this call writes qbuf (the per-centre tables are filled
 * on first use, cvs__rbq_estimate), so a prepared query belongs to one
 * thread at a time: threads that score the same query each prepare their
 * own qbuf (index/ivf_search.c keeps one per search job, in its scratch).
 * The codec itself is only read and may be shared. */
void cvs__codec_rbq_estimate(const cvs_codec *c, float *qbuf, const uint8_t *codes,
                             size_t n, float *est, float *err);

/* Versioned, little-endian serialization (layout in docs/FORMAT.md, section
 * "codec blob").  *buf is malloc'd. */
int cvs__codec_serialize(const cvs_codec *c, uint8_t **buf, size_t *len);
/* CVS_ECORRUPT / CVS_EVERSION on a bad blob; never crashes on garbage. */
int cvs__codec_deserialize(const uint8_t *buf, size_t len, cvs_codec **out);

#endif
