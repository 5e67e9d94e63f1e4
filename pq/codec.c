/*
 * codec.c -- the codec pipeline: spec grammar, training, encode/decode,
 * query look-up tables, and the serialized blob.
 *
 * A codec chains up to three stages, the way FAISS's index_factory strings
 * do ("PCA64,OPQ16,PQ16"): an optional PCA projection (pca.c), an optional
 * OPQ rotation (opq.c, Ge et al. 2013), and one quantizer: a product
 * quantizer (pq.c, Jégou et al. 2011), per-dimension int8 (sq8.c), a
 * residual quantizer (rq.c, with beam search and a norm byte), or RaBitQ
 * (rabitq.c, Gao & Long 2024 and Extended RaBitQ, Gao et al. 2025: a random
 * rotation, held in the OPQ slot, then B bits per dimension and three
 * factors per vector).
 * Distances are computed asymmetrically (ADC): the query goes through the
 * same projection/rotation but is never quantized.
 *
 * ==== Spec grammar ====
 *
 *     spec     := [pca ","] [opq ","] quant
 *     pca      := "pca" R            R in 1..dim: keep R principal axes
 *     opq      := "opq" [D]          learned rotation; needs a pq quantizer.
 *                                    With D (> the input dimension) the
 *                                    input is zero-padded to D dimensions
 *                                    first, so M need not divide it
 *                                    ("opq128,pq64" on 100-d vectors)
 *     quant    := "pq" M ["x" B]     M in 1..256 dividing the (projected)
 *                                    dimension, B in {4, 8}, default 8
 *               | "sq8"              one byte per (projected) dimension
 *               | "rq" M             M in 1..256 code bytes (2..256 on l2
 *                                    stores): M codebooks of 256 centroids
 *                                    over all dimensions, or M - 1 and a
 *                                    byte for the norm term on l2; no opq
 *                                    before it (nothing to rotate for)
 *               | "rabitq" [B]       RaBitQ (rabitq.c), B in 1..8 bits per
 *                                    dimension, default 1; it brings its own
 *                                    random rotation, so no opq before it
 *
 * Numbers are decimal without sign or leading zeros; spaces around commas
 * are ignored; stage names are lower-case.  Examples: "pq32" (=
 * "pq32x8"), "pq32x4", "opq,pq16", "pca64,pq32", "pca64,opq,pq32x4",
 * "pca64,sq8", "sq8", "pca128,rq8", "rabitq", "rabitq4".  The canonical
 * form (cvs__codec_spec) always writes the bit count: "pca64,opq,pq32x4",
 * "pq32x8", "sq8", "rabitq1"; rq has none ("rq8").
 *
 * Code sizes: pqMx8 -> M bytes, pqMx4 -> ceil(M/2) bytes (sub-quantizer m
 * in the low nibble of byte m/2 when m is even, the high one when odd),
 * sq8 -> one byte per projected dimension, rqM -> M bytes, rabitqB ->
 * B * D / 8 + 11 bytes (D: the projected dimension rounded up to a
 * multiple of 8; rabitq.h).
 *
 * rabitq has no look-up table of this kind (cvs__codec_lut_size is 0):
 * cvs__codec_distances returns its estimates, and cvs__codec_rbq_prepare /
 * cvs__codec_rbq_estimate give them with their error bounds.
 *
 * ==== Metrics and the LUT offset ====
 *
 * Every distance is "smaller is better" and equals offset + sum of LUT
 * entries (PQ) or offset + a scalar sum (sq8):
 *   l2:  squared distance from q to the decoded vector.  PCA keeps only the
 *        component of q - mean inside the kept subspace; the rest,
 *        ||q - mean||^2 - ||(q - mean) P||^2, is the same for every code
 *        (decoded vectors lie in the subspace) and is the offset.  The OPQ
 *        rotation preserves distances.
 *   ip / cosine: minus the inner product of q with the decoded vector.
 *        Decoded vectors are mean + z R^T P^T, so q . x~ = q . mean +
 *        (q P R) . z: the LUT uses q P R (not centered) and the offset is
 *        -q . mean.  Cosine callers pass unit vectors; the codec does
 *        nothing more for cosine than for ip.
 *   rq:  the same offsets, and on l2 also ||qz||^2, since rq's l2 tables
 *        hold ||c||^2 - 2 qz.c (rq.h).
 * So the offset is exact, not an approximation: offset + sum equals the
 * distance to cvs__codec_decode's output up to float rounding -- except
 * rq on l2, where it is off by the quantization of the norm byte, an
 * error fixed per code and the same for every query (rq.c, deviation 1).
 *
 * Where this module deviates from the papers it follows (each stage's file
 * lists its own deviations):
 *  1. Training uses at most max_train vectors (default 65536), a seeded
 *     uniform sample drawn by selection sampling (Knuth, TAOCP vol. 2,
 *     Algorithm 3.4.2S), which keeps the sample in input order.
 *  2. With anisotropic_eta > 0 and an ip/cosine metric, codes are chosen by
 *     the ScaNN score-aware loss (Guo et al. 2020) instead of nearest
 *     centroid, both when training ends and in every later encode; the
 *     codebooks themselves are plain k-means ones (see pq.c).  eta is part
 *     of the blob, since encoding depends on it.
 *  3. The OPQ alternation (rotation + provisional codebooks) runs on a
 *     seeded subset of at most 16384 training rows, with 10 k-means
 *     iterations for its first PQ and 4 for the later hot-started ones;
 *     the final codebooks are then trained on the whole sample (up to
 *     max_train) with kmeans_iters, hot-started.  FAISS runs the
 *     alternation on up to 65536 rows (40, then 4 iterations); a d x d
 *     rotation is well determined by 16384 rows (d <= a few hundred), and
 *     this is what brings a 32-byte OPQ codec on 64K x 100-d vectors
 *     under 30 s on 2 cores.
 *  4. "opqD" learns a D x D rotation of the input padded with zeros, as
 *     FAISS's OPQMatrix(d, M, d2) does for d2 > d, and keeps only its first
 *     din rows (the rows that meet non-zero input): a din x D matrix with
 *     orthonormal rows, an isometric embedding.  It lets M sub-quantizers
 *     share a dimension M does not divide (GloVe's 100 for 64 bytes)
 *     without discarding variance the way "pca64" must.  ADC distances are
 *     then those between the embedded query and the code's reconstruction
 *     in the D-dimensional space.
 *  5. Query side: look-up tables are built for blocks of queries, and the
 *     queries are projected and rotated by the LUT kernel of panel.c (on
 *     copies of the matrices packed once, at training or loading) rather
 *     than by BLAS as encoding is.  Its sums have a fixed order, so a
 *     query's table is the same bits alone as in any batch, and a block
 *     reads each matrix once per 4 queries.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "pq/codec.h"
#include "pq/opq.h"
#include "pq/panel.h"
#include "pq/pca.h"
#include "pq/pq.h"
#include "pq/rabitq.h"
#include "pq/rq.h"
#include "pq/sq8.h"

#define CODEC_MAGIC "CVSCODEC"
#define CODEC_VERSION 1u    /* blobs without an rq stage */
#define CODEC_VERSION_RQ 2u /* blobs with one: older builds reject them by version */
#define CODEC_VERSION_RBQ1 3u /* rabitq with one centre: read and kept, never trained */
#define CODEC_VERSION_RBQ 4u /* blobs with a rabitq stage, likewise */
/* rq beam widths when encoding and while training (rq.c, deviation 3), and
 * refit rounds (deviation 2).  Wider beams and more rounds each lower the
 * quantization error; the cross-product tables (deviation 4) paid for the
 * widening: 32-byte Fashion-MNIST codes train in about the time beam 8 and
 * 4 rounds took before (docs/BENCHMARKS.md as of commit 7b7bbbc). */
#define RQ_BEAM 32
#define RQ_TRAIN_BEAM 16
#define RQ_REFINE 6
/* Above 32 stages there is no table (cvs__rq_has_tables) and every beam
 * costs a d-long dot product per centroid and stage: the wide settings
 * doubled the training of Fashion-MNIST's pca128,rq64 (193 -> 406 s) and
 * halved its encoding, so there the earlier widths stay. */
#define RQ_BEAM_DIRECT 16
#define RQ_TRAIN_BEAM_DIRECT 8
#define RQ_REFINE_DIRECT 4
#define SPEC_MAX 255
#define BLOCK 4096 /* vectors per encode/decode block: bounds temporaries */
#define OPQ_SAMPLE 16384 /* rows for the OPQ alternation (deviation 3) */

enum { Q_PQ = 1, Q_SQ8 = 2, Q_RQ = 3, Q_RBQ = 4 };
enum { TAG_PCA = 1, TAG_OPQ = 2, TAG_PQ = 3, TAG_SQ8 = 4, TAG_RQ = 5, TAG_RBQ = 6 };

typedef struct spec {
    uint32_t pca_r;  /* 0 = no PCA */
    int opq;
    uint32_t opq_d;  /* opqD: output dimension D > input (zero padding); 0 = square */
    int quant;       /* Q_PQ, Q_SQ8, Q_RQ or Q_RBQ */
    uint32_t M, nbits; /* rq: M = code bytes, nbits = 8; rabitq: M = 0,
                          nbits = bits per dimension */
} spec;

struct cvs_codec {
    char spec[64];
    uint32_t dim;
    cvs_metric metric;
    spec s;
    uint32_t din;     /* dimension entering OPQ (dim, or R after PCA) */
    uint32_t dq;      /* dimension seen by the quantizer (din, or D of opqD,
                         or din rounded up to 8 for rabitq) */
    float eta;        /* anisotropic weight, 0 = off (ip/cosine only) */
    cvs__pca pca;
    float *R;         /* din x dq (opq's, or rabitq's random rotation), or NULL */
    float *pca_p;     /* query-side copies of pca.P and R in panels
                         (pq/panel.h), or NULL; in memory only */
    float *R_p;
    cvs__pq pq;
    cvs__sq8 sq;
    cvs__rq rq;
    cvs__rbq rbq;
};

/* ==== Spec parsing ==== */

/* Decimal number of at most 7 digits, no sign, no leading zero. */
static int parse_num(const char **p, const char *end, uint32_t *out)
{
    const char *s = *p;
    uint32_t v = 0;
    int nd = 0;
    while (s < end && *s >= '0' && *s <= '9' && nd < 8) {
        v = v * 10 + (uint32_t)(*s - '0');
        s++;
        nd++;
    }
    if (nd == 0 || nd > 7 || (nd > 1 && **p == '0'))
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int parse_spec(const char *str, uint32_t dim, spec *s)
{
    memset(s, 0, sizeof *s);
    if (!str)
        return cvs__err(CVS_EINVAL, "codec spec is NULL");
    size_t len = strlen(str);
    if (len == 0 || len > SPEC_MAX)
        return cvs__err(CVS_EINVAL, "codec spec must be 1..%d characters", SPEC_MAX);
    if (dim == 0 || dim > CVS_MAX_DIM)
        return cvs__err(CVS_EINVAL, "codec: dimension %u out of range 1..%d", dim, CVS_MAX_DIM);
    const char *p = str, *end = str + len;
    int stage = 0;
    while (p <= end) {
        const char *te = memchr(p, ',', (size_t)(end - p));
        if (!te)
            te = end;
        const char *a = p, *b = te;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        int tl = (int)(b - a);
        stage++;
        if (tl == 0)
            return cvs__err(CVS_EINVAL, "codec spec \"%s\": empty stage %d", str, stage);
        if (s->quant)
            return cvs__err(CVS_EINVAL,
                            "codec spec \"%s\": \"%.*s\" after the quantizer stage (the "
                            "quantizer, pqM, rqM or sq8, must come last)", str, tl, a);
        if (tl > 3 && !strncmp(a, "pca", 3)) {
            const char *q = a + 3;
            uint32_t r;
            if (parse_num(&q, b, &r) || q != b)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want pcaR)",
                                str, tl, a);
            if (stage != 1)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": pca must be the first stage", str);
            if (r == 0 || r > dim)
                return cvs__err(CVS_EINVAL,
                                "codec spec \"%s\": pca%u must keep 1..%u dimensions (the "
                                "input dimension)", str, r, dim);
            s->pca_r = r;
        } else if (tl >= 3 && !strncmp(a, "opq", 3)) {
            uint32_t din = s->pca_r ? s->pca_r : dim, D = 0;
            const char *q = a + 3;
            if (s->opq)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": opq given twice", str);
            if (q < b && (parse_num(&q, b, &D) || q != b))
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want opq "
                                "or opqD)", str, tl, a);
            if (q != a + 3 && (D < din || D > CVS_MAX_DIM))
                return cvs__err(CVS_EINVAL,
                                "codec spec \"%s\": opq%u pads to D dimensions, D in %u..%d "
                                "(to reduce, use pcaR,opq)", str, D, din, CVS_MAX_DIM);
            s->opq = 1;
            s->opq_d = D > din ? D : 0;
        } else if (tl == 3 && !strncmp(a, "sq8", 3)) {
            if (s->opq)
                return cvs__err(CVS_EINVAL,
                                "codec spec \"%s\": opq needs a pq quantizer, not sq8", str);
            s->quant = Q_SQ8;
        } else if (tl >= 6 && !strncmp(a, "rabitq", 6)) {
            const char *q = a + 6;
            uint32_t B = 1;
            if (q < b && (parse_num(&q, b, &B) || q != b))
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want rabitq "
                                "or rabitqB, B bits per dimension)", str, tl, a);
            if (s->opq)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": opq does not apply to rabitq (it "
                                "brings its own random rotation; drop opq)", str);
            if (B < 1 || B > 8)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": rabitq codes are 1..8 bits per "
                                "dimension, not %u", str, B);
            s->quant = Q_RBQ;
            s->M = 0;
            s->nbits = B;
        } else if (tl > 2 && !strncmp(a, "rq", 2)) {
            const char *q = a + 2;
            uint32_t M;
            if (parse_num(&q, b, &M) || q != b)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want rqM, "
                                "M code bytes)", str, tl, a);
            if (s->opq)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": opq does not apply to rq (every "
                                "rq stage spans all dimensions; drop opq)", str);
            if (M == 0 || M > 256)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": rq codes are 1..256 bytes, not %u",
                                str, M);
            s->quant = Q_RQ;
            s->M = M;
            s->nbits = 8;
        } else if (tl > 2 && !strncmp(a, "pq", 2)) {
            const char *q = a + 2;
            uint32_t M, B = 8;
            if (parse_num(&q, b, &M))
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want pqM "
                                "or pqMxB)", str, tl, a);
            if (q < b) {
                if (*q != 'x')
                    return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad stage \"%.*s\" (want "
                                    "pqM or pqMxB)", str, tl, a);
                q++;
                if (parse_num(&q, b, &B) || q != b)
                    return cvs__err(CVS_EINVAL, "codec spec \"%s\": bad bit count in \"%.*s\"",
                                    str, tl, a);
            }
            if (B != 4 && B != 8)
                return cvs__err(CVS_EINVAL, "codec spec \"%s\": pq codes are 4 or 8 bits, not %u",
                                str, B);
            if (M == 0 || M > 256)
                return cvs__err(CVS_EINVAL,
                                "codec spec \"%s\": pq needs 1..256 sub-quantizers, not %u", str, M);
            uint32_t dq = s->opq_d ? s->opq_d : s->pca_r ? s->pca_r : dim;
            if (dq % M)
                return cvs__err(CVS_EINVAL,
                                "codec spec \"%s\": pq%u needs the %sdimension (%u) to be a "
                                "multiple of %u (or pad it: opq%u,pq%u)", str, M,
                                s->opq_d ? "padded " : s->pca_r ? "projected " : "", dq, M,
                                (dq + M - 1) / M * M, M);
            s->quant = Q_PQ;
            s->M = M;
            s->nbits = B;
        } else {
            return cvs__err(CVS_EINVAL, "codec spec \"%s\": unknown stage \"%.*s\" (stages: "
                            "pcaR, opq, pqM[xB], rqM, sq8, rabitq[B])", str, tl, a);
        }
        p = te + 1;
    }
    if (!s->quant)
        return cvs__err(CVS_EINVAL, "codec spec \"%s\": no quantizer stage (end with pqM[xB], "
                        "rqM, sq8 or rabitq[B])", str);
    return 0;
}

static void canonical(const spec *s, char *buf, size_t cap)
{
    int n = 0;
    buf[0] = 0;
    if (s->pca_r)
        n += snprintf(buf + n, cap - (size_t)n, "pca%u,", s->pca_r);
    if (s->opq_d)
        n += snprintf(buf + n, cap - (size_t)n, "opq%u,", s->opq_d);
    else if (s->opq)
        n += snprintf(buf + n, cap - (size_t)n, "opq,");
    if (s->quant == Q_PQ)
        snprintf(buf + n, cap - (size_t)n, "pq%ux%u", s->M, s->nbits);
    else if (s->quant == Q_RQ)
        snprintf(buf + n, cap - (size_t)n, "rq%u", s->M);
    else if (s->quant == Q_RBQ)
        snprintf(buf + n, cap - (size_t)n, "rabitq%u", s->nbits);
    else
        snprintf(buf + n, cap - (size_t)n, "sq8");
}

int cvs__codec_check_spec(const char *spec_str, uint32_t dim)
{
    spec s;
    return parse_spec(spec_str, dim, &s);
}

/* ==== Accessors ==== */

void cvs__codec_free(cvs_codec *c)
{
    if (!c)
        return;
    cvs__pca_destroy(&c->pca);
    free(c->R);
    free(c->pca_p);
    free(c->R_p);
    cvs__pq_destroy(&c->pq);
    cvs__sq8_destroy(&c->sq);
    cvs__rq_destroy(&c->rq);
    cvs__rbq_destroy(&c->rbq);
    free(c);
}

const char *cvs__codec_spec(const cvs_codec *c) { return c->spec; }

/* Bytes per vector of spec s with dq dimensions at the quantizer: known
 * from the spec alone, so that a build can refuse a code its index cannot
 * hold before it trains (cvs__codec_spec_code_size). */
static size_t spec_code_size(const spec *s, uint32_t dq)
{
    return s->quant == Q_PQ    ? (s->nbits == 8 ? s->M : (s->M + 1) / 2)
           : s->quant == Q_RQ  ? s->M
           : s->quant == Q_RBQ ? (size_t)s->nbits * dq / 8 + CVS_RBQ_TAIL
                               : dq;
}

size_t cvs__codec_code_size(const cvs_codec *c)
{
    /* A codec read from blob version 3 keeps that version's rabitq codes. */
    return c->s.quant == Q_RBQ ? cvs__rbq_code_size(&c->rbq) : spec_code_size(&c->s, c->dq);
}

size_t cvs__codec_param_bytes(const cvs_codec *c)
{
    size_t b = 0;
    if (c->s.pca_r)
        b += ((size_t)c->dim + (size_t)c->dim * c->s.pca_r) * sizeof(float);
    if (c->s.opq || c->s.quant == Q_RBQ)
        b += (size_t)c->din * c->dq * sizeof(float);
    if (c->s.quant == Q_RBQ)
        b += (size_t)c->rbq.K * c->dq * sizeof(float); /* the centres */
    else if (c->s.quant == Q_PQ)
        b += (size_t)c->pq.M * c->pq.ksub * c->pq.dsub * sizeof(float);
    else if (c->s.quant == Q_RQ)
        b += ((size_t)c->rq.S * CVS_RQ_K * c->dq + (c->rq.norm ? CVS_RQ_K : 0)) * sizeof(float);
    else
        b += 2 * (size_t)c->dq * sizeof(float);
    return b;
}

int cvs__codec_is_4bit(const cvs_codec *c) { return c->s.quant == Q_PQ && c->s.nbits == 4; }

size_t cvs__codec_m(const cvs_codec *c)
{
    return c->s.quant == Q_SQ8 ? c->dq : c->s.quant == Q_RBQ ? c->s.nbits * c->dq / 8 : c->s.M;
}

size_t cvs__codec_lut_size(const cvs_codec *c)
{
    return c->s.quant == Q_PQ ? (size_t)c->pq.M * c->pq.ksub
           : c->s.quant == Q_RQ ? (size_t)c->s.M * CVS_RQ_K : 0;
}

static int is_ip(const cvs_codec *c) { return c->metric != CVS_METRIC_L2; }

/* Empty codec for a parsed spec (no parameters yet). */
static int codec_new(const char *spec_str, uint32_t dim, cvs_metric metric, cvs_codec **out)
{
    int rc;
    cvs_codec *c;
    *out = NULL;
    if (metric != CVS_METRIC_L2 && metric != CVS_METRIC_IP && metric != CVS_METRIC_COSINE)
        return cvs__err(CVS_EINVAL, "codec: unknown metric %d", (int)metric);
    c = calloc(1, sizeof *c);
    if (!c)
        return cvs__err(CVS_ENOMEM, "codec: out of memory");
    rc = parse_spec(spec_str, dim, &c->s);
    if (rc) {
        free(c);
        return rc;
    }
    if (c->s.quant == Q_RQ && metric == CVS_METRIC_L2 && c->s.M < 2) {
        free(c);
        return cvs__err(CVS_EINVAL, "codec spec \"%s\": rq on an l2 store needs at least 2 "
                        "bytes (one of them holds the norm term)", spec_str);
    }
    canonical(&c->s, c->spec, sizeof c->spec);
    c->dim = dim;
    c->metric = metric;
    c->din = c->s.pca_r ? c->s.pca_r : dim;
    c->dq = c->s.opq_d ? c->s.opq_d : c->din;
    if (c->s.quant == Q_RBQ)
        c->dq = (c->din + 7) / 8 * 8;
    *out = c;
    return 0;
}

int cvs__codec_spec_code_size(const char *spec_str, uint32_t dim, cvs_metric metric,
                              size_t *bytes)
{
    cvs_codec *c;
    int rc = codec_new(spec_str, dim, metric, &c);
    if (rc)
        return rc;
    *bytes = cvs__codec_code_size(c);
    free(c);
    return CVS_OK;
}

/* ==== Transforms ==== */

/* z = OPQ(PCA(x)) for n <= BLOCK rows; tmp holds n * dq floats.  center
 * is 0 only for inner-product queries (see the offset note above). */
static int to_space(const cvs_codec *c, const float *x, size_t n, int center, float *tmp,
                    float *z)
{
    int rc = 0;
    const float *cur = x;
    if (c->s.pca_r) {
        float *dst = c->R ? tmp : z;
        rc = cvs__pca_apply(&c->pca, cur, n, center, dst);
        if (rc)
            return rc;
        cur = dst;
    }
    if (c->R)
        cvs__opq_apply(c->R, c->din, c->dq, cur, n, z);
    else if (cur != z)
        memcpy(z, cur, n * c->dq * sizeof *z);
    return 0;
}

/* x = PCA^-1(OPQ^-1(z)) for n rows; z is clobbered when both exist. */
static void from_space(const cvs_codec *c, float *z, size_t n, float *tmp, float *x)
{
    if (c->R && c->s.pca_r) {
        cvs__opq_unapply(c->R, c->din, c->dq, z, n, tmp);
        cvs__pca_unapply(&c->pca, tmp, n, x);
    } else if (c->R) {
        cvs__opq_unapply(c->R, c->din, c->dq, z, n, x);
    } else if (c->s.pca_r) {
        cvs__pca_unapply(&c->pca, z, n, x);
    } else {
        memcpy(x, z, n * c->dq * sizeof *x);
    }
}

/* Codes of n rows already in codec space. */
static int encode_space(const cvs_codec *c, const float *z, size_t n, uint8_t *idx,
                        uint8_t *codes)
{
    int rc = 0;
    if (c->s.quant == Q_SQ8) {
        cvs__sq8_encode(&c->sq, z, n, codes);
        return 0;
    }
    if (c->s.quant == Q_RBQ)
        return cvs__rbq_encode(&c->rbq, z, n, codes);
    if (c->s.quant == Q_RQ)
        return cvs__rq_encode(&c->rq, z, n,
                              cvs__rq_has_tables(&c->rq) ? RQ_BEAM : RQ_BEAM_DIRECT, codes);
    rc = cvs__pq_assign(&c->pq, z, n, idx);
    if (!rc && c->eta > 0)
        rc = cvs__pq_assign_aniso(&c->pq, z, n, c->eta, 3, idx);
    if (!rc)
        cvs__pq_pack(&c->pq, idx, n, codes);
    return rc;
}

/* Queries are transformed by the panel kernel, not by sgemm as encoding
 * is: the kernel gives a query the same bits alone as in a batch (a
 * batched search answers exactly as single ones), and for a block of
 * queries it streams the matrix once per 4 queries where one sgemv per
 * query reads all of it each time (784 x 768 floats for Fashion-MNIST's
 * pca768, 2.4 MB, beyond L2). */
static int codec_prepare(cvs_codec *c)
{
    if (c->s.pca_r) {
        size_t nf = cvs__panel_floats(c->dim, c->din);
        if (!(c->pca_p = aligned_alloc(64, (nf * sizeof(float) + 63) / 64 * 64 + 64)))
            return cvs__err(CVS_ENOMEM, "codec: out of memory");
        cvs__panel_pack(c->pca.P, c->dim, c->din, c->din, 1, c->pca_p);
    }
    if (c->R) {
        size_t nf = cvs__panel_floats(c->din, c->dq);
        if (!(c->R_p = aligned_alloc(64, (nf * sizeof(float) + 63) / 64 * 64 + 64)))
            return cvs__err(CVS_ENOMEM, "codec: out of memory");
        cvs__panel_pack(c->R, c->din, c->dq, c->dq, 1, c->R_p);
    }
    return 0;
}

/* ==== Training ==== */

/* want of the n rows of x (want < n), uniformly, in input order
 * (selection sampling), into a malloc'd copy. */
static int subsample(const float *x, size_t n, size_t d, size_t want, uint64_t seed,
                     float **out)
{
    uint64_t rng = seed;
    float *s = malloc(want * d * sizeof *s);
    if (!s)
        return cvs__err(CVS_ENOMEM, "codec: out of memory for %zu training vectors", want);
    size_t got = 0;
    for (size_t i = 0; i < n && got < want; i++)
        if (cvs__rng_below(&rng, n - i) < want - got)
            memcpy(s + d * got++, x + i * d, d * sizeof *s);
    *out = s;
    return 0;
}

static int check_finite(const float *x, size_t n, uint32_t d, const char *what)
{
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return cvs__err(CVS_EINVAL, "codec: %s vector %zu has a non-finite value", what,
                            i / d);
    return 0;
}

int cvs__codec_train(const char *spec_str, uint32_t dim, cvs_metric metric, const float *x,
                     size_t n, const cvs_codec_train_opts *opts, cvs_codec **out)
{
    int rc;
    cvs_codec *c = NULL;
    cvs_codec_train_opts o = {0};
    float *sample = NULL, *osample = NULL, *y = NULL, *z = NULL;
    const float *xs = x;

    if (!out)
        return cvs__err(CVS_EINVAL, "codec: NULL output pointer");
    *out = NULL;
    if (opts)
        o = *opts;
    if (!o.max_train)
        o.max_train = 65536;
    if (o.kmeans_iters <= 0)
        o.kmeans_iters = 25;
    if (o.opq_iters <= 0)
        o.opq_iters = 20;
    if (!(o.anisotropic_eta >= 0) || !isfinite(o.anisotropic_eta))
        return cvs__err(CVS_EINVAL, "codec: anisotropic_eta must be a finite value >= 0");
    rc = codec_new(spec_str, dim, metric, &c);
    if (rc)
        return rc;
    if (!x || n == 0) {
        rc = cvs__err(CVS_EINVAL, "codec: no training vectors");
        goto out;
    }
    rc = check_finite(x, n, dim, "training");
    if (rc)
        goto out;
    if (c->s.quant == Q_PQ && is_ip(c))
        c->eta = o.anisotropic_eta;

    /* Deviation 1: a seeded sample, in input order. */
    if (n > o.max_train) {
        rc = subsample(x, n, dim, o.max_train, o.seed ^ 0x73616d706c65ull /* "sample" */,
                       &sample);
        if (rc)
            goto out;
        xs = sample;
        n = o.max_train;
    }

    if (c->s.pca_r) {
        if (o.progress)
            o.progress(o.progress_ctx, "pca", 0, 1);
        rc = cvs__pca_train(&c->pca, xs, n, dim, c->s.pca_r);
        if (rc)
            goto out;
        y = malloc(n * c->dq * sizeof *y);
        if (!y) {
            rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
            goto out;
        }
        rc = cvs__pca_apply(&c->pca, xs, n, 1, y);
        if (rc)
            goto out;
        if (o.progress)
            o.progress(o.progress_ctx, "pca", 1, 1);
    }
    const float *ys = y ? y : xs;

    if (c->s.quant == Q_SQ8) {
        rc = cvs__sq8_train(&c->sq, ys, n, c->dq);
        goto out;
    }
    if (c->s.quant == Q_RBQ) {
        /* A random rotation (not learned) onto dq >= din dimensions, then
         * the centre: the mean of the rotated sample. */
        c->R = malloc((size_t)c->din * c->dq * sizeof *c->R);
        z = malloc(n * c->dq * sizeof *z);
        if (!c->R || !z) {
            rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
            goto out;
        }
        if ((rc = cvs__rbq_init(&c->rbq, c->dq, c->s.nbits,
                                   o.rabitq_one_centre ? 1u : cvs__rbq_centres_for(n), is_ip(c))) ||
            (rc = cvs__rbq_rotation(c->din, c->dq, o.seed, c->R)))
            goto out;
        cvs__opq_apply(c->R, c->din, c->dq, ys, n, z);
        rc = cvs__rbq_train(&c->rbq, z, n, o.kmeans_iters, o.seed);
        goto out;
    }
    if (c->s.quant == Q_RQ) {
        int l2 = !is_ip(c);
        cvs__rq_opts ro = {.iters = o.kmeans_iters, .seed = o.seed, .progress = o.progress,
                           .progress_ctx = o.progress_ctx};
        rc = cvs__rq_init(&c->rq, c->dq, c->s.M - (uint32_t)l2, l2);
        if (!rc) {
            int wide = cvs__rq_has_tables(&c->rq);
            ro.refine = wide ? RQ_REFINE : RQ_REFINE_DIRECT;
            ro.beam = wide ? RQ_TRAIN_BEAM : RQ_TRAIN_BEAM_DIRECT;
            rc = cvs__rq_train(&c->rq, ys, n, &ro);
        }
        goto out;
    }
    rc = cvs__pq_init(&c->pq, c->dq, c->s.M, c->s.nbits);
    if (rc)
        goto out;
    cvs__kmeans_opts ko = {.iters = o.kmeans_iters, .seed = o.seed, .progress = o.progress,
                           .progress_ctx = o.progress_ctx, .phase = "pq"};
    if (c->s.opq) {
        /* Deviation 3: the alternation runs on at most OPQ_SAMPLE rows. */
        cvs__opq_opts oo = {.iters = o.opq_iters,
                            .first_kiters = o.kmeans_iters < 10 ? o.kmeans_iters : 10,
                            .inner_kiters = 4, .seed = o.seed, .progress = o.progress,
                            .progress_ctx = o.progress_ctx};
        size_t no = n > OPQ_SAMPLE ? OPQ_SAMPLE : n;
        c->R = malloc((size_t)c->dq * c->dq * sizeof *c->R);
        z = malloc(n * c->dq * sizeof *z);
        if (!c->R || !z) {
            rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
            goto out;
        }
        if (no < n || c->dq > c->din) {
            rc = subsample(ys, n, c->din, no, o.seed ^ 0x6f7071ull /* "opq" */, &osample);
            if (rc)
                goto out;
        }
        if (c->dq > c->din) {
            /* Deviation 4: opqD trains a D x D rotation on zero-padded
             * rows and keeps its first din rows. */
            float *pad = calloc(no * c->dq, sizeof *pad);
            if (!pad) {
                rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
                goto out;
            }
            for (size_t i = 0; i < no; i++)
                memcpy(pad + i * c->dq, osample + i * c->din, c->din * sizeof *pad);
            free(osample);
            osample = pad;
        }
        rc = cvs__opq_train(osample ? osample : ys, no, &c->pq, &oo, c->R);
        if (rc)
            goto out;
        cvs__opq_apply(c->R, c->din, c->dq, ys, n, z);
        ys = z;
        ko.hot_start = 1; /* OPQ's deviation 2: finish from its codebooks */
    }
    rc = cvs__pq_train(&c->pq, ys, n, &ko, NULL);
out:
    if (!rc)
        rc = codec_prepare(c);
    free(sample);
    free(osample);
    free(y);
    free(z);
    if (rc)
        cvs__codec_free(c);
    else
        *out = c;
    return rc;
}

/* ==== Encode / decode ==== */

int cvs__codec_encode(const cvs_codec *c, const float *x, size_t n, uint8_t *codes)
{
    int rc = 0;
    size_t bs = n < BLOCK ? n : BLOCK, cs = cvs__codec_code_size(c);
    float *tmp = NULL, *z = NULL;
    uint8_t *idx = NULL;
    if (n == 0)
        return 0;
    if (!x || !codes)
        return cvs__err(CVS_EINVAL, "codec encode: NULL buffer");
    tmp = malloc(bs * c->dq * sizeof *tmp);
    z = malloc(bs * c->dq * sizeof *z);
    idx = malloc(bs * (c->s.quant == Q_PQ ? c->s.M : 1));
    if (!tmp || !z || !idx) {
        rc = cvs__err(CVS_ENOMEM, "codec encode: out of memory");
        goto out;
    }
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        rc = to_space(c, x + i0 * c->dim, nb, 1, tmp, z);
        if (!rc)
            rc = encode_space(c, z, nb, idx, codes + i0 * cs);
        if (rc)
            goto out;
    }
out:
    free(tmp);
    free(z);
    free(idx);
    return rc;
}

int cvs__codec_decode(const cvs_codec *c, const uint8_t *codes, size_t n, float *x)
{
    int rc = 0;
    size_t bs = n < BLOCK ? n : BLOCK, cs = cvs__codec_code_size(c);
    float *tmp = NULL, *z = NULL;
    uint8_t *idx = NULL;
    if (n == 0)
        return 0;
    if (!x || !codes)
        return cvs__err(CVS_EINVAL, "codec decode: NULL buffer");
    tmp = malloc(bs * c->dq * sizeof *tmp);
    z = malloc(bs * c->dq * sizeof *z);
    idx = malloc(bs * (c->s.quant == Q_PQ ? c->s.M : 1));
    if (!tmp || !z || !idx) {
        rc = cvs__err(CVS_ENOMEM, "codec decode: out of memory");
        goto out;
    }
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        if (c->s.quant == Q_SQ8) {
            cvs__sq8_decode(&c->sq, codes + i0 * cs, nb, z);
        } else if (c->s.quant == Q_RQ) {
            cvs__rq_decode(&c->rq, codes + i0 * cs, nb, z);
        } else if (c->s.quant == Q_RBQ) {
            cvs__rbq_decode(&c->rbq, codes + i0 * cs, nb, z);
        } else {
            cvs__pq_unpack(&c->pq, codes + i0 * cs, nb, idx);
            cvs__pq_decode_idx(&c->pq, idx, nb, z);
        }
        from_space(c, z, nb, tmp, x + i0 * c->dim);
    }
out:
    free(tmp);
    free(z);
    free(idx);
    return rc;
}

/* ==== Query side ==== */

/* nq queries in codec space (qz: nq x dq floats) and their offsets (see
 * the top; rq on l2 keeps ||qz||^2 in the offset, its tables leave it out:
 * rq.h); PCA and OPQ by the panel kernel (codec_prepare). */
static int query_space(const cvs_codec *c, const float *q, size_t nq, float *qz, float *offsets)
{
    const int ip = is_ip(c), keep_qz = !ip && c->s.quant == Q_RQ;
    const float *cur = q;
    float *tmp = malloc(nq * ((size_t)c->dim + c->din) * sizeof *tmp + 1);
    float *cen = tmp, *proj = tmp + nq * c->dim;
    if (!tmp)
        return cvs__err(CVS_ENOMEM, "codec: out of memory");
    if (c->s.pca_r) {
        float *dst = c->R ? proj : qz;
        if (!ip) {
            for (size_t i = 0; i < nq; i++)
                for (uint32_t t = 0; t < c->dim; t++)
                    cen[i * c->dim + t] = q[i * c->dim + t] - c->pca.mean[t];
            cur = cen;
        }
        cvs__panel_apply(CVS_PANEL_DOT, c->pca_p, c->dim, c->din, cur, c->dim, nq, dst, c->din);
        cur = dst;
    }
    if (c->R)
        cvs__panel_apply(CVS_PANEL_DOT, c->R_p, c->din, c->dq, cur, c->din, nq, qz, c->dq);
    else if (cur != qz)
        memcpy(qz, cur, nq * c->dq * sizeof *qz);
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * c->dim, *zi = qz + i * c->dq;
        double off = 0;
        if (c->s.pca_r && ip) {
            for (uint32_t t = 0; t < c->dim; t++)
                off -= (double)qi[t] * c->pca.mean[t];
        } else if (c->s.pca_r) {
            /* OPQ preserves norms, so ||qz|| = ||(q - mean) P||. */
            for (uint32_t t = 0; t < c->dim; t++) {
                double df = (double)qi[t] - c->pca.mean[t];
                off += df * df;
            }
            for (uint32_t t = 0; t < c->dq && !keep_qz; t++)
                off -= (double)zi[t] * zi[t];
            if (off < 0)
                off = 0;
        } else if (keep_qz) {
            for (uint32_t t = 0; t < c->dq; t++)
                off += (double)zi[t] * zi[t];
        }
        offsets[i] = (float)off;
    }
    free(tmp);
    return 0;
}

int cvs__codec_lut_batch(const cvs_codec *c, const float *q, size_t nq, float *lut,
                         float *offsets)
{
    int rc = 0;
    float *qz;
    if (c->s.quant == Q_SQ8 || c->s.quant == Q_RBQ)
        return cvs__err(CVS_EINVAL, "codec %s has no look-up table (use "
                        "cvs__codec_distances)", c->spec);
    if (nq && (!q || !lut || !offsets))
        return cvs__err(CVS_EINVAL, "codec lut: NULL argument");
    qz = malloc(nq * c->dq * sizeof *qz + 1);
    if (!qz)
        return cvs__err(CVS_ENOMEM, "codec: out of memory");
    rc = query_space(c, q, nq, qz, offsets);
    if (!rc && c->s.quant == Q_RQ)
        cvs__rq_lut(&c->rq, qz, nq, is_ip(c), lut);
    else if (!rc)
        cvs__pq_lut(&c->pq, qz, nq, is_ip(c), lut);
    free(qz);
    return rc;
}

int cvs__codec_lut(const cvs_codec *c, const float *q, float *lut, float *offset)
{
    return cvs__codec_lut_batch(c, q, 1, lut, offset);
}

int cvs__codec_distances(const cvs_codec *c, const float *q, const uint8_t *codes, size_t n,
                         float *out)
{
    int rc = 0;
    float *qz = NULL, *lut = NULL, off = 0;
    if (!q || (n && (!codes || !out)))
        return cvs__err(CVS_EINVAL, "codec distances: NULL argument");
    qz = malloc(c->dq * sizeof *qz);
    if (!qz) {
        rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
        goto out;
    }
    if (c->s.quant == Q_RBQ) {
        if (!(lut = malloc(cvs__rbq_query_floats(&c->rbq) * sizeof *lut))) {
            rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
            goto out;
        }
        if ((rc = cvs__codec_rbq_prepare(c, q, lut)))
            goto out;
        cvs__rbq_estimate(&c->rbq, lut, codes, n, cvs__codec_code_size(c), out, NULL);
        goto out;
    }
    if (c->s.quant == Q_SQ8) {
        rc = query_space(c, q, 1, qz, &off);
        if (rc)
            goto out;
        cvs__sq8_distances(&c->sq, qz, is_ip(c), codes, n, out);
        for (size_t i = 0; i < n; i++)
            out[i] += off;
        goto out;
    }
    lut = malloc(cvs__codec_lut_size(c) * sizeof *lut);
    if (!lut) {
        rc = cvs__err(CVS_ENOMEM, "codec: out of memory");
        goto out;
    }
    rc = cvs__codec_lut(c, q, lut, &off);
    if (rc)
        goto out;
    /* Plain scalar sums: the SIMD scans live in kernels.c. */
    size_t M = cvs__codec_m(c), cs = cvs__codec_code_size(c);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *code = codes + i * cs;
        float s = off;
        if (c->s.nbits == 8) {
            for (size_t m = 0; m < M; m++)
                s += lut[m * 256 + code[m]];
        } else {
            for (size_t m = 0; m < M; m++)
                s += lut[m * 16 + ((code[m / 2] >> (m % 2 ? 4 : 0)) & 15)];
        }
        out[i] = s;
    }
out:
    free(qz);
    free(lut);
    return rc;
}

/* ==== RaBitQ query side ==== */

int cvs__codec_rabitq_bits(const cvs_codec *c)
{
    return c->s.quant == Q_RBQ ? (int)c->s.nbits : 0;
}

size_t cvs__codec_rbq_query_floats(const cvs_codec *c)
{
    return c->s.quant == Q_RBQ ? cvs__rbq_query_floats(&c->rbq) : 0;
}

int cvs__codec_rbq_prepare(const cvs_codec *c, const float *q, float *qbuf)
{
    int rc;
    float off = 0, *qz;
    if (c->s.quant != Q_RBQ)
        return cvs__err(CVS_EINVAL, "codec %s is not a rabitq codec", c->spec);
    if (!q || !qbuf)
        return cvs__err(CVS_EINVAL, "codec rabitq prepare: NULL argument");
    if (!(qz = malloc(c->dq * sizeof *qz)))
        return cvs__err(CVS_ENOMEM, "codec: out of memory");
    if (!(rc = query_space(c, q, 1, qz, &off)))
        cvs__rbq_prepare(&c->rbq, qz, off, qbuf);
    free(qz);
    return rc;
}

void cvs__codec_rbq_estimate(const cvs_codec *c, float *qbuf, const uint8_t *codes,
                             size_t n, float *est, float *err)
{
    cvs__rbq_estimate(&c->rbq, qbuf, codes, n, cvs__codec_code_size(c), est, err);
}

/* ==== Serialization ==== */

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), as zlib's crc32(). */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t tab[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++)
            v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
        tab[i] = v;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = tab[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

typedef struct wbuf {
    uint8_t *p;
    size_t n;
} wbuf;

static void put_u32(wbuf *w, uint32_t v)
{
    cvs__put_u32(w->p + w->n, v);
    w->n += 4;
}

static void put_f32s(wbuf *w, const float *f, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        uint32_t v = 0;
        memcpy(&v, &f[i], 4);
        put_u32(w, v);
    }
}

/* The oldest format version that can hold c: older builds then reject
 * what they cannot read by its version. */
static uint32_t blob_version(const cvs_codec *c)
{
    return c->s.quant == Q_RBQ ? (c->rbq.v3 ? CODEC_VERSION_RBQ1 : CODEC_VERSION_RBQ)
           : c->s.quant == Q_RQ ? CODEC_VERSION_RQ : CODEC_VERSION;
}

uint32_t cvs__codec_blob_version(const cvs_codec *c) { return blob_version(c); }

int cvs__codec_serialize(const cvs_codec *c, uint8_t **buf, size_t *len)
{
    size_t sl = strlen(c->spec);
    size_t total = 8 + 4 + 4 + sl + 4 + 4 + cvs__codec_param_bytes(c) + 4;
    if (c->s.pca_r)
        total += 12;
    if (c->s.opq)
        total += 8;
    total += c->s.quant == Q_PQ || (c->s.quant == Q_RBQ && !c->rbq.v3) ? 20
             : c->s.quant == Q_RQ || c->s.quant == Q_RBQ                ? 16
                                                                        : 8;
    if (!buf || !len)
        return cvs__err(CVS_EINVAL, "codec serialize: NULL output");
    wbuf w = {malloc(total), 0};
    if (!w.p)
        return cvs__err(CVS_ENOMEM, "codec serialize: out of memory");
    memcpy(w.p, CODEC_MAGIC, 8);
    w.n = 8;
    put_u32(&w, blob_version(c));
    put_u32(&w, (uint32_t)sl);
    memcpy(w.p + w.n, c->spec, sl);
    w.n += sl;
    put_u32(&w, c->dim);
    put_u32(&w, (uint32_t)c->metric);
    if (c->s.pca_r) {
        put_u32(&w, TAG_PCA);
        put_u32(&w, c->dim);
        put_u32(&w, c->pca.r);
        put_f32s(&w, c->pca.mean, c->dim);
        put_f32s(&w, c->pca.P, (size_t)c->dim * c->pca.r);
    }
    if (c->s.opq) {
        put_u32(&w, TAG_OPQ);
        put_u32(&w, c->dq);
        put_f32s(&w, c->R, (size_t)c->din * c->dq);
    }
    if (c->s.quant == Q_PQ) {
        put_u32(&w, TAG_PQ);
        put_u32(&w, c->pq.d);
        put_u32(&w, c->pq.M);
        put_u32(&w, c->pq.nbits);
        put_f32s(&w, &c->eta, 1);
        put_f32s(&w, c->pq.cent, (size_t)c->pq.M * c->pq.ksub * c->pq.dsub);
    } else if (c->s.quant == Q_RBQ) {
        put_u32(&w, TAG_RBQ);
        put_u32(&w, c->din);
        put_u32(&w, c->dq);
        put_u32(&w, c->s.nbits);
        if (!c->rbq.v3) /* version 3 has one centre and no count */
            put_u32(&w, c->rbq.K);
        put_f32s(&w, c->R, (size_t)c->din * c->dq);
        put_f32s(&w, c->rbq.cent, (size_t)c->rbq.K * c->dq);
    } else if (c->s.quant == Q_RQ) {
        put_u32(&w, TAG_RQ);
        put_u32(&w, c->dq);
        put_u32(&w, c->rq.S);
        put_u32(&w, c->rq.norm);
        put_f32s(&w, c->rq.cent, (size_t)c->rq.S * CVS_RQ_K * c->dq);
        if (c->rq.norm)
            put_f32s(&w, c->rq.levels, CVS_RQ_K);
    } else {
        put_u32(&w, TAG_SQ8);
        put_u32(&w, c->dq);
        put_f32s(&w, c->sq.vmin, c->dq);
        put_f32s(&w, c->sq.scale, c->dq);
    }
    put_u32(&w, crc32_ieee(w.p, w.n));
    if (w.n != total) {
        free(w.p);
        return cvs__err(CVS_EINTERNAL, "codec serialize: wrote %zu bytes, expected %zu", w.n,
                        total);
    }
    *buf = w.p;
    *len = w.n;
    return 0;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n, pos;
} rbuf;

static int get_u32(rbuf *r, uint32_t *v, const char *what)
{
    /* *v is 0 after a failure, so a caller's variable is defined on every
     * path (cvs__err's nonzero return is not visible to the compiler). */
    *v = 0;
    if (r->n - r->pos < 4)
        return cvs__err(CVS_ECORRUPT, "codec blob: truncated at %s (offset %zu of %zu)", what,
                        r->pos, r->n);
    *v = cvs__get_u32(r->p + r->pos);
    r->pos += 4;
    return 0;
}

/* cnt finite floats into dst; the length is checked before anything is
 * read, and callers check it before allocating dst. */
static int get_f32s(rbuf *r, float *dst, size_t cnt, const char *what)
{
    if ((r->n - r->pos) / 4 < cnt)
        return cvs__err(CVS_ECORRUPT, "codec blob: truncated in %s (%zu floats at offset %zu "
                        "of %zu)", what, cnt, r->pos, r->n);
    for (size_t i = 0; i < cnt; i++) {
        uint32_t v = 0;
        (void)get_u32(r, &v, what);
        memcpy(&dst[i], &v, 4);
        if (!isfinite(dst[i]))
            return cvs__err(CVS_ECORRUPT, "codec blob: non-finite value in %s", what);
    }
    return 0;
}

static int need_floats(const rbuf *r, size_t cnt, const char *what)
{
    if ((r->n - r->pos) / 4 < cnt)
        return cvs__err(CVS_ECORRUPT, "codec blob: %s needs %zu floats, only %zu bytes left",
                        what, cnt, r->n - r->pos);
    return 0;
}

static int expect_u32(rbuf *r, uint32_t want, const char *what)
{
    uint32_t v = 0;
    int rc = get_u32(r, &v, what);
    if (!rc && v != want)
        rc = cvs__err(CVS_ECORRUPT, "codec blob: %s is %u, the spec implies %u", what, v, want);
    return rc;
}

int cvs__codec_deserialize(const uint8_t *buf, size_t len, cvs_codec **out)
{
    int rc;
    rbuf r = {buf, len, 0};
    cvs_codec *c = NULL;
    uint32_t ver = 0, sl, dim, metric, v;
    char sp[SPEC_MAX + 1];

    if (!out)
        return cvs__err(CVS_EINVAL, "codec deserialize: NULL output");
    *out = NULL;
    if (!buf || len < 12 || memcmp(buf, CODEC_MAGIC, 8))
        return cvs__err(CVS_ECORRUPT, "codec blob: bad magic (not a cvstore codec)");
    r.pos = 8;
    (void)get_u32(&r, &ver, "version");
    if (ver < CODEC_VERSION || ver > CODEC_VERSION_RBQ)
        return cvs__err(CVS_EVERSION, "codec blob: format version %u, this build reads %u to %u",
                        ver, CODEC_VERSION, CODEC_VERSION_RBQ);
    if ((rc = get_u32(&r, &sl, "spec length")))
        return rc;
    if (sl == 0 || sl > SPEC_MAX || len - r.pos < sl)
        return cvs__err(CVS_ECORRUPT, "codec blob: bad spec length %u", sl);
    memcpy(sp, buf + r.pos, sl);
    sp[sl] = 0;
    r.pos += sl;
    if (memchr(sp, 0, sl))
        return cvs__err(CVS_ECORRUPT, "codec blob: NUL inside the spec");
    if ((rc = get_u32(&r, &dim, "dim")) || (rc = get_u32(&r, &metric, "metric")))
        return rc;
    rc = codec_new(sp, dim, (cvs_metric)metric, &c);
    if (rc)
        return rc == CVS_ENOMEM ? rc : cvs__err_prefix(CVS_ECORRUPT, "codec blob");
    if (strcmp(c->spec, sp)) {
        rc = cvs__err(CVS_ECORRUPT, "codec blob: spec \"%s\" is not in canonical form", sp);
        goto out;
    }
    /* Version 3 blobs hold a rabitq stage of the one-centre layout. */
    if (c->s.quant == Q_RBQ && ver == CODEC_VERSION_RBQ1)
        c->rbq.v3 = 1;
    if (blob_version(c) != ver) {
        rc = cvs__err(CVS_ECORRUPT, "codec blob: version %u with spec \"%s\"", ver, sp);
        goto out;
    }
    if (c->s.pca_r) {
        if ((rc = expect_u32(&r, TAG_PCA, "pca stage tag")) ||
            (rc = expect_u32(&r, dim, "pca input dim")) ||
            (rc = expect_u32(&r, c->s.pca_r, "pca output dim")) ||
            (rc = need_floats(&r, (size_t)dim * (1 + (size_t)c->s.pca_r), "pca")) ||
            (rc = cvs__pca_alloc(&c->pca, dim, c->s.pca_r)) ||
            (rc = get_f32s(&r, c->pca.mean, dim, "pca mean")) ||
            (rc = get_f32s(&r, c->pca.P, (size_t)dim * c->s.pca_r, "pca matrix")))
            goto out;
    }
    if (c->s.opq) {
        if ((rc = expect_u32(&r, TAG_OPQ, "opq stage tag")) ||
            (rc = expect_u32(&r, c->dq, "opq dim")) ||
            (rc = need_floats(&r, (size_t)c->din * c->dq, "opq rotation")))
            goto out;
        c->R = malloc((size_t)c->din * c->dq * sizeof *c->R);
        if (!c->R) {
            rc = cvs__err(CVS_ENOMEM, "codec blob: out of memory");
            goto out;
        }
        if ((rc = get_f32s(&r, c->R, (size_t)c->din * c->dq, "opq rotation")))
            goto out;
    }
    if (c->s.quant == Q_PQ) {
        float eta;
        if ((rc = expect_u32(&r, TAG_PQ, "pq stage tag")) ||
            (rc = expect_u32(&r, c->dq, "pq dim")) || (rc = expect_u32(&r, c->s.M, "pq M")) ||
            (rc = expect_u32(&r, c->s.nbits, "pq bits")) ||
            (rc = get_f32s(&r, &eta, 1, "pq anisotropic eta")))
            goto out;
        if (eta < 0 || (eta > 0 && !is_ip(c))) {
            rc = cvs__err(CVS_ECORRUPT, "codec blob: anisotropic eta %g invalid here", eta);
            goto out;
        }
        c->eta = eta;
        size_t nc = (size_t)c->dq << c->s.nbits; /* M * ksub * dsub */
        if ((rc = need_floats(&r, nc, "pq codebooks")) ||
            (rc = cvs__pq_init(&c->pq, c->dq, c->s.M, c->s.nbits)) ||
            (rc = get_f32s(&r, c->pq.cent, nc, "pq codebooks")) ||
            (rc = cvs__pq_prepare(&c->pq)))
            goto out;
    } else if (c->s.quant == Q_RBQ) {
        size_t nr = (size_t)c->din * c->dq;
        uint32_t K = 1;
        const int v3 = c->rbq.v3;
        if ((rc = expect_u32(&r, TAG_RBQ, "rabitq stage tag")) ||
            (rc = expect_u32(&r, c->din, "rabitq input dim")) ||
            (rc = expect_u32(&r, c->dq, "rabitq dim")) ||
            (rc = expect_u32(&r, c->s.nbits, "rabitq bits")) ||
            (!v3 && (rc = get_u32(&r, &K, "rabitq centres"))))
            goto out;
        if (K < 1 || K > CVS_RBQ_MAXK) {
            rc = cvs__err(CVS_ECORRUPT, "codec blob: %u rabitq centres (1..%d)", K, CVS_RBQ_MAXK);
            goto out;
        }
        if ((rc = need_floats(&r, nr + (size_t)K * c->dq, "rabitq rotation and centres")) ||
            (rc = cvs__rbq_init(&c->rbq, c->dq, c->s.nbits, K, is_ip(c))))
            goto out;
        c->rbq.v3 = v3; /* cvs__rbq_init cleared it */
        if (!(c->R = malloc(nr * sizeof *c->R))) {
            rc = cvs__err(CVS_ENOMEM, "codec blob: out of memory");
            goto out;
        }
        if ((rc = get_f32s(&r, c->R, nr, "rabitq rotation")) ||
            (rc = get_f32s(&r, c->rbq.cent, (size_t)K * c->dq, "rabitq centres")))
            goto out;
        cvs__rbq_centres_set(&c->rbq);
    } else if (c->s.quant == Q_RQ) {
        uint32_t l2 = !is_ip(c), S = c->s.M - l2;
        size_t nc = (size_t)S * CVS_RQ_K * c->dq;
        if ((rc = expect_u32(&r, TAG_RQ, "rq stage tag")) ||
            (rc = expect_u32(&r, c->dq, "rq dim")) || (rc = expect_u32(&r, S, "rq stages")) ||
            (rc = expect_u32(&r, l2, "rq norm byte")) ||
            (rc = need_floats(&r, nc + (l2 ? CVS_RQ_K : 0), "rq codebooks")) ||
            (rc = cvs__rq_init(&c->rq, c->dq, S, (int)l2)) ||
            (rc = get_f32s(&r, c->rq.cent, nc, "rq codebooks")) ||
            (l2 && (rc = get_f32s(&r, c->rq.levels, CVS_RQ_K, "rq norm levels"))))
            goto out;
        for (uint32_t j = 1; l2 && j < CVS_RQ_K; j++)
            if (c->rq.levels[j] < c->rq.levels[j - 1]) {
                rc = cvs__err(CVS_ECORRUPT, "codec blob: rq norm levels out of order");
                goto out;
            }
        if ((rc = cvs__rq_prepare(&c->rq)))
            goto out;
    } else {
        if ((rc = expect_u32(&r, TAG_SQ8, "sq8 stage tag")) ||
            (rc = expect_u32(&r, c->dq, "sq8 dim")) ||
            (rc = need_floats(&r, 2 * (size_t)c->dq, "sq8 ranges")) ||
            (rc = cvs__sq8_alloc(&c->sq, c->dq)) ||
            (rc = get_f32s(&r, c->sq.vmin, c->dq, "sq8 minimum")) ||
            (rc = get_f32s(&r, c->sq.scale, c->dq, "sq8 scale")))
            goto out;
        for (uint32_t t = 0; t < c->dq; t++)
            if (c->sq.scale[t] < 0) {
                rc = cvs__err(CVS_ECORRUPT, "codec blob: negative sq8 scale");
                goto out;
            }
    }
    size_t body = r.pos;
    if ((rc = get_u32(&r, &v, "checksum")))
        goto out;
    if (r.pos != len) {
        rc = cvs__err(CVS_ECORRUPT, "codec blob: %zu trailing bytes", len - r.pos);
        goto out;
    }
    if (v != crc32_ieee(buf, body)) {
        rc = cvs__err(CVS_ECORRUPT, "codec blob: checksum mismatch");
        goto out;
    }
    rc = codec_prepare(c);
out:
    if (rc) {
        /* Allocation failures keep their code; everything else is a bad blob. */
        if (rc != CVS_ENOMEM && rc != CVS_ECORRUPT)
            rc = cvs__err_prefix(CVS_ECORRUPT, "codec blob");
        cvs__codec_free(c);
    } else {
        *out = c;
    }
    return rc;
}
