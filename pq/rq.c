/*
 * rq.c -- residual vector quantization (Juang and Gray 1982; for nearest-
 * neighbour search Chen, Guan and Wang 2010, "Approximate nearest neighbor
 * search by residual vector quantization", Sensors 10(12)), with beam-
 * search encoding and jointly refined codebooks as in Liu et al. 2015
 * ("Improved residual vector quantization for high-dimensional approximate
 * nearest neighbor search", AAAI), and the extra norm byte of Babenko and
 * Lempitsky 2014 ("Additive quantization for extreme vector compression",
 * CVPR) for Euclidean search.
 *
 * A vector is approximated by a sum of S centroids, one from each stage's
 * codebook of 256 full-dimensional vectors: x~ = c_1[b_1] + ... + c_S[b_S].
 * Stage m is trained by k-means on what stages 1..m-1 left over.  Where PQ
 * cuts the dimensions into independent blocks, every stage here spans all
 * of them, which is what wins on data whose variance sits in few, spread-
 * out directions (Fashion-MNIST's pixels): at 8 bytes it keeps noticeably
 * more of the true neighbours than OPQ does (BENCHMARKS.md, "Codecs").
 *
 * Distances stay sums of table entries.  For inner products q . x~ =
 * sum_m q . c_m[b_m]: one table per stage.  For squared L2,
 *     ||q - x~||^2 = ||q||^2 - 2 sum_m q . c_m[b_m] + ||x~||^2,
 * and ||x~||^2 is not a sum over stages (it has cross terms c_i . c_j), so
 * the code carries one more byte that quantizes it; the scan then sums S+1
 * tables exactly like an (S+1)-byte PQ code, through the same kernels.
 *
 * Where we deviate:
 *  1. The extra byte quantizes only the cross term
 *        t(x~) = ||x~||^2 - sum_m ||c_m[b_m]||^2 = 2 sum_{i<j} c_i . c_j
 *     (the per-stage squared norms go into the stage tables), with 256
 *     levels from a 1-d k-means over the training set's values, not a
 *     uniform grid over the whole norm: the cross term has a much smaller
 *     range than ||x~||^2, so the same byte errs less.  The consequence:
 *     table distances equal the distance to the decoded vector up to that
 *     quantization, not up to float rounding as for PQ.
 *  2. Training is greedy stage by stage (plain k-means on the residuals,
 *     25 iterations), then `refine` rounds (codec.c: 6; 4 above 32
 *     stages, where deviation 4's table does not fit) of: encode the
 *     training set by beam search, then re-fit each codebook by least
 *     squares with the others fixed (centroid k of stage m becomes the mean
 *     of x - sum_{j != m} c_j[b_j] over the rows with b_m = k, stage after
 *     stage).  Liu et al. warm-start their stages from PCA-reduced sub-
 *     spaces instead; the least-squares sweep is simpler and each sweep
 *     cannot increase the training error.
 *  3. Beam search keeps the B best partial sums per vector (codec.c: 32
 *     when encoding, 16 inside training; 16 and 8 above 32 stages, where
 *     every beam pays the direct scores), scoring each of the B x 256
 *     extensions exactly: the extension distances of a whole block of
 *     beams come from one sgemm against the stage's codebook.
 *     Ties keep the earlier candidate, so codes are deterministic.
 *  4. For bulk encoding the extension scores come from tables instead, as
 *     FAISS's ResidualQuantizer does when its tables fit: with the beam's
 *     codes b_1..b_{m-1},
 *        r . c_m[k] = x . c_m[k] - sum_{j<m} c_j[b_j] . c_m[k],
 *     so one product of x with all codebooks plus m rows of a table of
 *     codebook cross products replace the d-long dot products of every
 *     beam: B K m additions instead of B K d multiply-adds at stage m.  The
 *     table holds S(S-1)/2 x 256 x 256 floats, so it is built only for a
 *     call that encodes enough rows to pay for it (never for a put) and
 *     only up to XTAB_MAX_BYTES (32 stages); a stage reads just its own m
 *     slices (m x 256 KiB), which stay in cache while the block passes.
 *     Without a per-stage sgemm the rows split cleanly over threads, one
 *     block each.  The chosen beams' residuals and errors are still
 *     computed exactly.  Scores differ from the direct ones by float
 *     rounding only, so a near-tie may go the other way; test_codec checks
 *     that codes and error match.  At the same beam width this encodes SIFT10K
 *     2-3x faster at 8-32 bytes (docs/BENCHMARKS.md as of commit 7b7bbbc).
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jobs.h"
#include "pq/panel.h"
#include "pq/rq.h"

#define K CVS_RQ_K
#define EBLOCK 128 /* vectors per beam-search block: bounds the beam arrays */
#define XTAB_MAX_BYTES ((size_t)160 << 20) /* deviation 4: 32 stages fit */

int cvs__rq_init(cvs__rq *rq, uint32_t d, uint32_t S, int norm)
{
    memset(rq, 0, sizeof *rq);
    if (d == 0 || S == 0 || S > 256)
        return cvs__err(CVS_EINVAL, "rq: bad shape (d=%u, stages=%u)", d, S);
    rq->d = d;
    rq->S = S;
    rq->norm = norm ? 1 : 0;
    rq->cent = calloc((size_t)S * K * d, sizeof *rq->cent);
    rq->levels = norm ? calloc(K, sizeof *rq->levels) : NULL;
    if (!rq->cent || (norm && !rq->levels)) {
        cvs__rq_destroy(rq);
        return cvs__err(CVS_ENOMEM, "rq: out of memory for %u x %u x %u codebooks", S, K, d);
    }
    return 0;
}

void cvs__rq_destroy(cvs__rq *rq)
{
    free(rq->cent);
    free(rq->levels);
    free(rq->cnorm);
    free(rq->cent_p);
    memset(rq, 0, sizeof *rq);
}

int cvs__rq_prepare(cvs__rq *rq)
{
    size_t nc = (size_t)rq->S * K, pf = cvs__panel_floats(rq->d, nc);
    free(rq->cnorm);
    free(rq->cent_p);
    rq->cnorm = malloc(nc * sizeof *rq->cnorm);
    rq->cent_p = aligned_alloc(64, (pf * sizeof(float) + 63) / 64 * 64 + 64);
    if (!rq->cnorm || !rq->cent_p)
        return cvs__err(CVS_ENOMEM, "rq: out of memory");
    cvs__row_norms(rq->cent, nc, rq->d, rq->d, rq->cnorm);
    cvs__panel_pack(rq->cent, rq->d, nc, 1, rq->d, rq->cent_p);
    return 0;
}

size_t cvs__rq_code_size(const cvs__rq *rq) { return rq->S + rq->norm; }

/* ==== Encoding ==== */

typedef struct beams {
    float *res, *nres;     /* EBLOCK * B * d residuals, current and next */
    float *err, *nerr;     /* EBLOCK * B squared residual norms */
    uint8_t *code, *ncode; /* EBLOCK * B * S codes so far */
    float *dots;           /* EBLOCK * B * K */
    float *xdots;          /* EBLOCK * S * K, x . every centroid (tables only) */
    float *topv;           /* B */
    uint32_t *tops;        /* B: source beam * K + centroid */
} beams;

static void beams_free(beams *w)
{
    free(w->res);
    free(w->nres);
    free(w->err);
    free(w->nerr);
    free(w->code);
    free(w->ncode);
    free(w->dots);
    free(w->xdots);
    free(w->topv);
    free(w->tops);
}

static int beams_alloc(beams *w, size_t rows, size_t d, size_t S, size_t B, int tables)
{
    size_t r = rows * B;
    memset(w, 0, sizeof *w);
    w->res = malloc(r * d * sizeof(float));
    w->nres = malloc(r * d * sizeof(float));
    w->err = malloc(r * sizeof(float));
    w->nerr = malloc(r * sizeof(float));
    w->code = malloc(r * S);
    w->ncode = malloc(r * S);
    w->dots = malloc(r * K * sizeof(float));
    w->xdots = tables ? malloc(rows * S * K * sizeof(float)) : NULL;
    w->topv = malloc(B * sizeof(float));
    w->tops = malloc(B * sizeof(uint32_t));
    if (!w->res || !w->nres || !w->err || !w->nerr || !w->code || !w->ncode || !w->dots ||
        (tables && !w->xdots) || !w->topv || !w->tops) {
        beams_free(w);
        return cvs__err(CVS_ENOMEM, "rq: out of memory for the encoding beams");
    }
    return 0;
}

static float sqnorm(const float *v, size_t d)
{
    float s = 0;
    for (size_t t = 0; t < d; t++)
        s += v[t] * v[t];
    return s;
}

/* Deviation 4: the cross-product table.  Slice (j, m), j < m, is the
 * 256 x 256 matrix c_j[a] . c_m[b]; stage m's slices j = 0..m-1 are
 * contiguous from xtab_at(m), which makes them one sgemm per stage. */
static size_t xtab_at(size_t m) { return m * (m - 1) / 2 * K * K; }

static size_t xtab_bytes(size_t S) { return xtab_at(S) * sizeof(float); }

static float *xtab_build(const cvs__rq *rq)
{
    const size_t d = rq->d;
    float *t = malloc(xtab_bytes(rq->S));
    if (!t)
        return NULL;
    for (size_t m = 1; m < rq->S; m++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m * K), K, (int)d, 1.0f,
                    rq->cent, (int)d, rq->cent + m * K * d, (int)d, 0.0f, t + xtab_at(m), K);
    return t;
}

/* Deviation 4: worth it when the direct scores of n rows (B K d per row and
 * stage) cost well over building the table (K^2 d per stage pair); the
 * factor 4 is for the table's additions running slower than sgemm. */
static int use_xtab(const cvs__rq *rq, size_t n, size_t B)
{
    return cvs__rq_has_tables(rq) && B >= 4 && n * B >= 4 * (size_t)rq->S * K;
}

int cvs__rq_has_tables(const cvs__rq *rq)
{
    return rq->S > 1 && xtab_bytes(rq->S) <= XTAB_MAX_BYTES;
}

int cvs__rq_uses_tables(const cvs__rq *rq, size_t n, int beam)
{
    return use_xtab(rq, n, beam < 1 ? 1 : (size_t)beam);
}

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* r . c_m[k] for every k, for the beam of codes `code`, from the tables:
 * 32 sums at a time in four 8-float vectors that stay in registers across
 * the m rows (a plain array accumulator goes back to memory every row).
 * Cloned for AVX2 and the x86-64 baseline, picked by the loader. */
__attribute__((target_clones("avx2", "default"))) static void
table_dots(const float *restrict xt, const float *restrict xd, const uint8_t *restrict code,
           size_t m, float *restrict dt)
{
    const float *base = xt + xtab_at(m);
    for (size_t k0 = 0; k0 < K; k0 += 32) {
        v8f a0, a1, a2, a3, r0, r1, r2, r3;
        memcpy(&a0, xd + k0, 32);
        memcpy(&a1, xd + k0 + 8, 32);
        memcpy(&a2, xd + k0 + 16, 32);
        memcpy(&a3, xd + k0 + 24, 32);
        for (size_t j = 0; j < m; j++) {
            const float *row = base + (j * K + code[j]) * K + k0;
            memcpy(&r0, row, 32);
            memcpy(&r1, row + 8, 32);
            memcpy(&r2, row + 16, 32);
            memcpy(&r3, row + 24, 32);
            a0 -= r0;
            a1 -= r1;
            a2 -= r2;
            a3 -= r3;
        }
        memcpy(dt + k0, &a0, 32);
        memcpy(dt + k0 + 8, &a1, 32);
        memcpy(dt + k0 + 16, &a2, 32);
        memcpy(dt + k0 + 24, &a3, 32);
    }
}

/* The nnew best of the nbeam x 256 extensions of one row, ascending into
 * topv/tops (source beam * 256 + centroid); dots holds r . c per beam and
 * is overwritten by the scores ||r||^2 - 2 r . c + ||c||^2.  Once the list
 * is full, a group of 8 scores none of which beats its last entry is
 * skipped by one vector test: most are, and the scalar compare-and-branch
 * per candidate was the larger part of encoding.  Ties keep the earlier
 * candidate, as the plain loop did. */
__attribute__((target_clones("avx2", "default"))) static void
select_best(float *restrict dots, const float *restrict err, const float *restrict cn,
            size_t nbeam, size_t nnew, float *restrict topv, uint32_t *restrict tops)
{
    size_t cnt = 0;
    for (size_t b = 0; b < nbeam; b++) {
        float *v = dots + b * K;
        const float e = err[b];
        for (size_t k = 0; k < K; k++)
            v[k] = e - 2.0f * v[k] + cn[k];
        for (size_t k0 = 0; k0 < K; k0 += 8) {
            if (cnt == nnew) {
                v8f g;
                memcpy(&g, v + k0, 32);
                v8i lt = g < topv[cnt - 1];
                int64_t any = 0;
                for (int l = 0; l < 8; l++)
                    any |= lt[l];
                if (!any)
                    continue;
            }
            for (size_t k = k0; k < k0 + 8; k++) {
                float x = v[k];
                size_t j;
                if (cnt == nnew && !(x < topv[cnt - 1]))
                    continue;
                j = cnt < nnew ? cnt++ : cnt - 1;
                while (j > 0 && x < topv[j - 1]) {
                    topv[j] = topv[j - 1];
                    tops[j] = tops[j - 1];
                    j--;
                }
                topv[j] = x;
                tops[j] = (uint32_t)(b * K + k);
            }
        }
    }
}

/* Deviation 3: beam search over nb <= EBLOCK rows; writes S stage codes
 * per row (stride cs) and leaves each row's final residual in res[row].
 * xt: the cross-product table (deviation 4), with w->xdots already
 * holding x . every centroid; or NULL for direct scores. */
static void encode_block(const cvs__rq *rq, const float *xt, const float *x, size_t nb,
                         size_t B, beams *w, uint8_t *codes, size_t cs, float *res_out)
{
    const size_t d = rq->d, S = rq->S;
    size_t nbeam = 1;
    memcpy(w->res, x, nb * d * sizeof(float));
    for (size_t i = 0; i < nb; i++)
        w->err[i] = sqnorm(x + i * d, d);
    for (size_t m = 0; m < S; m++) {
        const float *C = rq->cent + m * K * d, *cn = rq->cnorm + m * K;
        size_t rows = nb * nbeam, nnew = nbeam * K < B ? nbeam * K : B;
        if (!xt)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, K, (int)d, 1.0f,
                        w->res, (int)d, C, (int)d, 0.0f, w->dots, K);
        else
            for (size_t r = 0; r < rows; r++)
                table_dots(xt, w->xdots + ((r / nbeam) * S + m) * K, w->code + r * S, m,
                           w->dots + r * K);
        for (size_t i = 0; i < nb; i++) {
            select_best(w->dots + i * nbeam * K, w->err + i * nbeam, cn, nbeam, nnew, w->topv,
                        w->tops);
            for (size_t j = 0; j < nnew; j++) {
                size_t b = w->tops[j] / K, k = w->tops[j] % K;
                const float *src = w->res + (i * nbeam + b) * d, *c = C + k * d;
                float *dst = w->nres + (i * nnew + j) * d;
                for (size_t t = 0; t < d; t++)
                    dst[t] = src[t] - c[t];
                /* The exact norm, not the running e - 2 dot + ||c||^2:
                 * on raw pixel data that sum cancels most of its digits. */
                w->nerr[i * nnew + j] = sqnorm(dst, d);
                memcpy(w->ncode + (i * nnew + j) * S, w->code + (i * nbeam + b) * S, m);
                w->ncode[(i * nnew + j) * S + m] = (uint8_t)k;
            }
        }
        float *tf = w->res;
        w->res = w->nres;
        w->nres = tf;
        tf = w->err;
        w->err = w->nerr;
        w->nerr = tf;
        uint8_t *tc = w->code;
        w->code = w->ncode;
        w->ncode = tc;
        nbeam = nnew;
    }
    for (size_t i = 0; i < nb; i++) {
        size_t best = 0;
        for (size_t j = 1; j < nbeam; j++)
            if (w->err[i * nbeam + j] < w->err[i * nbeam + best])
                best = j;
        memcpy(codes + i * cs, w->code + (i * nbeam + best) * S, S);
        if (res_out)
            memcpy(res_out + i * d, w->res + (i * nbeam + best) * d, d * sizeof(float));
    }
}

/* Deviation 1: the cross term of a reconstruction, from its codes and the
 * residual it left (x~ = x - res). */
static float cross_term(const cvs__rq *rq, const float *x, const float *res, const uint8_t *code)
{
    double s = 0, own = 0;
    for (size_t t = 0; t < rq->d; t++) {
        double v = (double)x[t] - res[t];
        s += v * v;
    }
    for (size_t m = 0; m < rq->S; m++)
        own += rq->cnorm[m * K + code[m]];
    return (float)(s - own);
}

static uint8_t nearest_level(const float *lv, float v)
{
    size_t lo = 0, hi = K - 1;
    while (lo < hi) { /* first level >= v */
        size_t mid = (lo + hi) / 2;
        if (lv[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && v - lv[lo - 1] <= lv[lo] - v)
        lo--;
    return (uint8_t)lo;
}

typedef struct block_job {
    const cvs__rq *rq;
    const float *xt, *x;
    size_t nb, B, cs;
    beams *w;
    uint8_t *codes;
    float *res;
} block_job;

static void *block_thread(void *arg)
{
    const block_job *j = arg;
    /* x . every centroid, by the LUT panel kernel on this thread: an
     * OpenBLAS call here would leave its worker threads spinning against
     * the encoding threads (measured: a quarter of the time in sched_yield). */
    if (j->xt)
        cvs__panel_apply(CVS_PANEL_DOT, j->rq->cent_p, j->rq->d, (size_t)j->rq->S * K, j->x,
                         j->rq->d, j->nb, j->w->xdots, (size_t)j->rq->S * K);
    encode_block(j->rq, j->xt, j->x, j->nb, j->B, j->w, j->codes, j->cs, j->res);
    return NULL;
}

#define MAXT 16

/* Codes of n rows; res (n x d, may be NULL) receives their residuals.
 * tables: 1 use the cross-product table where it pays (deviation 4),
 * 0 never (tests compare the two).
 *
 * The direct scores are one sgemm per stage, which OpenBLAS spreads over
 * the cores itself; the table scores are plain loops, so with the table
 * each core takes a block of rows of its own. */
static int encode_rows(const cvs__rq *rq, const float *x, size_t n, int beam, int tables,
                       uint8_t *codes, float *res)
{
    beams w[MAXT];
    block_job job[MAXT];
    const size_t S = rq->S, B = beam < 1 ? 1 : (size_t)beam, cs = cvs__rq_code_size(rq),
                 d = rq->d, rows = n < EBLOCK ? n : EBLOCK;
    size_t nt = 1, nw = 0;
    float *r = NULL, *xt = NULL;
    int rc = 0;
    /* Without memory for the table, the direct scores do the same job. */
    if (tables && use_xtab(rq, n, B) && (xt = xtab_build(rq))) {
        nt = (size_t)cvs__ncpu();
        if (nt > (n + EBLOCK - 1) / EBLOCK)
            nt = (n + EBLOCK - 1) / EBLOCK;
    }
    /* A put encodes one vector: size the beams for the block, not EBLOCK. */
    for (; nw < nt; nw++)
        if ((rc = beams_alloc(&w[nw], rows, d, S, B, xt != NULL)))
            goto out;
    if (rq->norm && !res && !(r = malloc(nt * rows * d * sizeof *r))) {
        rc = cvs__err(CVS_ENOMEM, "rq: out of memory");
        goto out;
    }
    for (size_t g0 = 0; g0 < n; g0 += nt * EBLOCK) {
        size_t nj = 0;
        for (size_t i0 = g0; i0 < n && nj < nt; i0 += EBLOCK, nj++) {
            block_job *j = &job[nj];
            *j = (block_job){rq,     xt,    x + i0 * d, n - i0 < EBLOCK ? n - i0 : EBLOCK,
                             B,      cs,    &w[nj],     codes + i0 * cs,
                             res ? res + i0 * d : r ? r + nj * rows * d : NULL};
        }
        cvs__run_jobs(job, sizeof *job, nj, block_thread);
        if (rq->norm)
            for (size_t t = 0; t < nj; t++)
                for (size_t i = 0; i < job[t].nb; i++) {
                    uint8_t *c = job[t].codes + i * cs;
                    c[S] = nearest_level(rq->levels,
                                         cross_term(rq, job[t].x + i * d, job[t].res + i * d, c));
                }
    }
out:
    free(r);
    free(xt);
    for (size_t t = 0; t < nw; t++)
        beams_free(&w[t]);
    return rc;
}

int cvs__rq_encode(const cvs__rq *rq, const float *x, size_t n, int beam, uint8_t *codes)
{
    return n ? encode_rows(rq, x, n, beam, 1, codes, NULL) : 0;
}

int cvs__rq_encode_direct(const cvs__rq *rq, const float *x, size_t n, int beam,
                          uint8_t *codes)
{
    return n ? encode_rows(rq, x, n, beam, 0, codes, NULL) : 0;
}

void cvs__rq_decode(const cvs__rq *rq, const uint8_t *codes, size_t n, float *x)
{
    const size_t d = rq->d, cs = cvs__rq_code_size(rq);
    for (size_t i = 0; i < n; i++) {
        float *xi = x + i * d;
        memset(xi, 0, d * sizeof *xi);
        for (size_t m = 0; m < rq->S; m++) {
            const float *c = rq->cent + ((size_t)m * K + codes[i * cs + m]) * d;
            for (size_t t = 0; t < d; t++)
                xi[t] += c[t];
        }
    }
}

/* ==== Training ==== */

/* Deviation 2: one least-squares sweep over the stages; res holds each
 * row's residual x - x~ and is kept current. */
static int refit(cvs__rq *rq, size_t n, const uint8_t *codes, size_t cs, float *res)
{
    const size_t d = rq->d;
    double *sum = malloc((size_t)K * d * sizeof *sum);
    size_t *cnt = malloc(K * sizeof *cnt);
    if (!sum || !cnt) {
        free(sum);
        free(cnt);
        return cvs__err(CVS_ENOMEM, "rq: out of memory");
    }
    for (size_t m = 0; m < rq->S; m++) {
        float *C = rq->cent + m * K * d;
        memset(sum, 0, (size_t)K * d * sizeof *sum);
        memset(cnt, 0, K * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            size_t k = codes[i * cs + m];
            const float *r = res + i * d, *c = C + k * d;
            double *s = sum + k * d;
            cnt[k]++;
            for (size_t t = 0; t < d; t++)
                s[t] += (double)r[t] + c[t];
        }
        for (size_t i = 0; i < n; i++) {
            size_t k = codes[i * cs + m];
            float *r = res + i * d;
            const float *c = C + k * d;
            if (!cnt[k])
                continue;
            for (size_t t = 0; t < d; t++)
                r[t] = (float)((double)r[t] + c[t] - sum[k * d + t] / (double)cnt[k]);
        }
        for (size_t k = 0; k < K; k++)
            if (cnt[k])
                for (size_t t = 0; t < d; t++)
                    C[k * d + t] = (float)(sum[k * d + t] / (double)cnt[k]);
    }
    free(sum);
    free(cnt);
    return 0;
}

int cvs__rq_train(cvs__rq *rq, const float *x, size_t n, const cvs__rq_opts *o)
{
    int rc = 0;
    const size_t d = rq->d, S = rq->S, cs = cvs__rq_code_size(rq);
    const uint64_t total = S + (uint64_t)(o->refine + 1);
    float *res = malloc(n * d * sizeof *res), *cross = NULL, *lv = NULL;
    int32_t *asg = malloc(n * sizeof *asg);
    uint8_t *codes = malloc(n * cs);

    if (!res || !asg || !codes) {
        rc = cvs__err(CVS_ENOMEM, "rq: out of memory for %zu training rows", n);
        goto out;
    }
    /* Greedy stages: k-means on what the earlier stages left. */
    memcpy(res, x, n * d * sizeof *res);
    for (size_t m = 0; m < S; m++) {
        float *C = rq->cent + m * K * d;
        cvs__kmeans_opts ko = {.iters = o->iters, .seed = o->seed + 0x9E37u * m};
        if (o->progress)
            o->progress(o->progress_ctx, "rq", m, total);
        /* k-means's own assignment predates its last centroid update, so
         * the residuals are taken against a fresh one. */
        if ((rc = cvs__kmeans(res, n, d, d, K, &ko, C, NULL, NULL)) ||
            (rc = cvs__kmeans_assign(res, n, d, d, C, K, NULL, asg, NULL)))
            goto out;
        for (size_t i = 0; i < n; i++) {
            const float *c = C + (size_t)asg[i] * d;
            float *r = res + i * d;
            for (size_t t = 0; t < d; t++)
                r[t] -= c[t];
        }
    }
    /* Deviation 2: beam-encode, then re-fit every codebook. */
    for (int it = 0; it <= o->refine; it++) {
        if (o->progress)
            o->progress(o->progress_ctx, "rq", S + (uint64_t)it, total);
        if ((rc = cvs__rq_prepare(rq)) ||
            (rc = encode_rows(rq, x, n, o->beam, 1, codes, res)))
            goto out;
        if (it < o->refine && (rc = refit(rq, n, codes, cs, res)))
            goto out;
    }
    /* Deviation 1: levels of the cross term, by 1-d k-means. */
    if (rq->norm) {
        cross = malloc(n * sizeof *cross);
        lv = malloc(K * sizeof *lv);
        if (!cross || !lv) {
            rc = cvs__err(CVS_ENOMEM, "rq: out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            cross[i] = cross_term(rq, x + i * d, res + i * d, codes + i * cs);
        cvs__kmeans_opts ko = {.iters = 25, .seed = o->seed ^ 0x6e6f726dull /* "norm" */};
        if ((rc = cvs__kmeans(cross, n, 1, 1, K, &ko, lv, NULL, NULL)))
            goto out;
        for (size_t i = 1; i < K; i++) { /* insertion sort: 256 values */
            float v = lv[i];
            size_t j = i;
            while (j > 0 && lv[j - 1] > v) {
                lv[j] = lv[j - 1];
                j--;
            }
            lv[j] = v;
        }
        memcpy(rq->levels, lv, K * sizeof *lv);
    }
    if (o->progress)
        o->progress(o->progress_ctx, "rq", total, total);
out:
    free(res);
    free(asg);
    free(codes);
    free(cross);
    free(lv);
    return rc;
}

/* ==== Look-up tables ==== */

void cvs__rq_lut(const cvs__rq *rq, const float *y, size_t nq, int ip, float *lut)
{
    const size_t nc = (size_t)rq->S * K, ls = nc + (rq->norm ? K : 0);
    cvs__panel_apply(CVS_PANEL_DOT, rq->cent_p, rq->d, nc, y, rq->d, nq, lut, ls);
    for (size_t q = 0; q < nq; q++) {
        float *l = lut + q * ls;
        if (ip) {
            for (size_t j = 0; j < nc; j++)
                l[j] = -l[j];
        } else {
            for (size_t j = 0; j < nc; j++)
                l[j] = rq->cnorm[j] - 2.0f * l[j];
            if (rq->norm)
                memcpy(l + nc, rq->levels, K * sizeof *l);
        }
    }
}
