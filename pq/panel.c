/*
 * panel.c -- look-up table construction: query rows against a small dense
 * matrix, kept in column panels (layout in panel.h).
 *
 * Asymmetric distance computation (Jégou, Douze & Schmid 2011) costs two
 * things per query: the look-up table, ksub partial distances per sub-
 * quantizer (d * ksub multiply-adds in all), and the scan, M look-ups per
 * code.  At small M on high-dimensional data the table is the larger part:
 * Fashion-MNIST at 8 bytes is 784 * 256 = 200K multiply-adds per query
 * against 60K * 8 look-ups, and the plain loop of pq.c (one dependent add
 * chain per centroid, the compiler may not reorder float sums) ran at well
 * under one multiply-add per cycle, most of the query's time.  FAISS builds
 * its tables for a batch of queries with one sgemm per sub-quantizer, using
 * ||y - c||^2 = ||y||^2 - 2 y.c + ||c||^2.
 *
 * We vectorize across centroids instead: a codebook is stored transposed,
 * in panels of 16 centroids (two AVX2 registers), and each lane keeps its
 * own centroid's sum, in the dimension order of the scalar loop.  A block
 * of up to 4 queries shares each panel row it loads, and a single query
 * takes up to 4 panels at once, so 8 independent add chains are always in
 * flight.  The same kernel computes the dot products of a query with a
 * PCA or OPQ matrix.
 *
 * Deviations from FAISS's compute_distance_tables:
 *  1. Differences are squared directly, (y - c)^2, not expanded through
 *     the norms: no cancellation when ||y|| and ||c|| are large and close
 *     (pixel data, residuals), and no per-centroid norms to keep.  It costs
 *     one subtraction more per term than a fused multiply-add would.
 *  2. No FMA and a fixed summation order per output, so the AVX2 kernel is
 *     bit-identical to the scalar reference and to pq.c's plain loops, and
 *     a query's table does not depend on how many queries share the block:
 *     a batched search answers exactly as single ones do.
 *
 * 4-bit PQ (16 centroids) makes each sub-quantizer's codebook a single
 * panel of ds = 2-4 rows, and one cvs__panel_apply per sub-quantizer spent
 * more on the call and its set-up than on the 32-64 multiply-adds:
 * cvs__panel_apply_blocks takes all M blocks in one call (from 14K to
 * under 2K instructions per SIFT10K query at pq64x4), same sums.
 *
 * Measured (development machine, shared, one thread, thread CPU time, best
 * of 5; l2 tables of 784-d queries as for Fashion-MNIST): 148 us per
 * query with the plain loops at M = 8 (127 at M = 16), 16 (19) us with
 * the panels one query at a time, 8.1 (8.2) us in blocks of 8 queries;
 * 128-d, M = 16 (SIFT): 13.2 -> 2.0 -> 1.6 us.  A scan of Fashion's
 * 60,000 8-byte codes costs about 40 us per query, so the plain table had
 * been more than half of the query (about 250 us in all).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CVS_PANEL_X86 1
#endif

#include "core/cpu.h"
#include "pq/panel.h"

size_t cvs__panel_floats(size_t din, size_t dout)
{
    return (dout + CVS_PANEL - 1) / CVS_PANEL * din * CVS_PANEL;
}

void cvs__panel_pack(const float *src, size_t din, size_t dout, size_t st, size_t sj, float *Wp)
{
    const size_t np = (dout + CVS_PANEL - 1) / CVS_PANEL;
    for (size_t p = 0; p < np; p++)
        for (size_t t = 0; t < din; t++)
            for (size_t c = 0; c < CVS_PANEL; c++) {
                size_t j = p * CVS_PANEL + c;
                Wp[(p * din + t) * CVS_PANEL + c] = j < dout ? src[t * st + j * sj] : 0.0f;
            }
}

/* ==== Scalar reference ==== */

void cvs__panel_apply_scalar(cvs_panel_op op, const float *Wp, size_t din, size_t dout,
                             const float *x, size_t ldx, size_t nq, float *y, size_t ldy)
{
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < dout; j++) {
            const float *w = Wp + (j / CVS_PANEL) * din * CVS_PANEL + j % CVS_PANEL;
            const float *xq = x + q * ldx;
            float s = 0.0f;
            if (op == CVS_PANEL_L2) {
                for (size_t t = 0; t < din; t++) {
                    float df = xq[t] - w[t * CVS_PANEL];
                    s += df * df;
                }
            } else {
                for (size_t t = 0; t < din; t++)
                    s += xq[t] * w[t * CVS_PANEL];
            }
            y[q * ldy + j] = s;
        }
}

void cvs__panel_apply_blocks_scalar(cvs_panel_op op, const float *Wp, size_t nb, size_t din,
                                    const float *x, size_t ldx, size_t nq, float *y, size_t ldy)
{
    for (size_t b = 0; b < nb; b++)
        cvs__panel_apply_scalar(op, Wp + b * din * CVS_PANEL, din, CVS_PANEL, x + b * din, ldx,
                                nq, y + b * CVS_PANEL, ldy);
}

/* ==== AVX2 ==== */

#ifdef CVS_PANEL_X86
/* QN queries x PN panels, accumulators acc[q][p][half]; QN * PN <= 4 keeps
 * the 8 (or fewer) accumulators and the operands in the 16 registers.  The
 * constant arguments and the unroll pragmas make GCC emit one straight
 * loop body per (op, QN, PN). */
__attribute__((target("avx2"), always_inline)) static inline void
panel_block(int l2, const float *P, size_t din, size_t PN, const float *x, size_t ldx, size_t QN,
            float *y, size_t ldy, size_t ncols)
{
    const size_t pstride = din * CVS_PANEL;
    __m256 acc[4][4][2];
#pragma GCC unroll 4
    for (size_t q = 0; q < QN; q++)
#pragma GCC unroll 4
        for (size_t p = 0; p < PN; p++)
            acc[q][p][0] = acc[q][p][1] = _mm256_setzero_ps();
    for (size_t t = 0; t < din; t++) {
#pragma GCC unroll 4
        for (size_t q = 0; q < QN; q++) {
            const __m256 xb = _mm256_broadcast_ss(x + q * ldx + t);
#pragma GCC unroll 4
            for (size_t p = 0; p < PN; p++) {
                const float *w = P + p * pstride + t * CVS_PANEL;
                __m256 a = _mm256_loadu_ps(w), b = _mm256_loadu_ps(w + 8);
                if (l2) {
                    a = _mm256_sub_ps(xb, a);
                    b = _mm256_sub_ps(xb, b);
                    a = _mm256_mul_ps(a, a);
                    b = _mm256_mul_ps(b, b);
                } else {
                    a = _mm256_mul_ps(xb, a);
                    b = _mm256_mul_ps(xb, b);
                }
                acc[q][p][0] = _mm256_add_ps(acc[q][p][0], a);
                acc[q][p][1] = _mm256_add_ps(acc[q][p][1], b);
            }
        }
    }
#pragma GCC unroll 4
    for (size_t q = 0; q < QN; q++)
#pragma GCC unroll 4
        for (size_t p = 0; p < PN; p++) {
            float *dst = y + q * ldy + p * CVS_PANEL;
            size_t cols = ncols - p * CVS_PANEL;
            if (cols >= CVS_PANEL) {
                _mm256_storeu_ps(dst, acc[q][p][0]);
                _mm256_storeu_ps(dst + 8, acc[q][p][1]);
            } else { /* the last, partial panel: no write past dout */
                float tmp[CVS_PANEL];
                _mm256_storeu_ps(tmp, acc[q][p][0]);
                _mm256_storeu_ps(tmp + 8, acc[q][p][1]);
                memcpy(dst, tmp, cols * sizeof *dst);
            }
        }
}

/* Every (op, PN, QN) shape used, each its own straight-line function. */
#define PANEL_SHAPE(name, L2, PN, QN)                                                              \
    __attribute__((target("avx2"))) static void name(const float *P, size_t din, const float *x,  \
                                                     size_t ldx, float *y, size_t ldy,           \
                                                     size_t ncols)                               \
    {                                                                                              \
        panel_block(L2, P, din, PN, x, ldx, QN, y, ldy, ncols);                                    \
    }
PANEL_SHAPE(panel_q4_0, 0, 1, 4)
PANEL_SHAPE(panel_q4_1, 1, 1, 4)
PANEL_SHAPE(panel_q2_0, 0, 2, 2)
PANEL_SHAPE(panel_q2_1, 1, 2, 2)
PANEL_SHAPE(panel_p4_0, 0, 4, 1)
PANEL_SHAPE(panel_p4_1, 1, 4, 1)
PANEL_SHAPE(panel_p1_0, 0, 1, 1)
PANEL_SHAPE(panel_p1_1, 1, 1, 1)

typedef void (*panel_fn)(const float *, size_t, const float *, size_t, float *, size_t, size_t);

/* Panels outer, queries inner: one panel (din * 64 bytes) stays in L1
 * while every query block reads it, and the block's query rows stay there
 * across panels.  Queries 4 at a time; the 1-3 left over take 4, 2 or 1
 * panels per pass instead, so a single query still has 8 add chains. */
__attribute__((target("avx2"))) static void panel_apply_avx2(cvs_panel_op op, const float *Wp,
                                                            size_t din, size_t dout,
                                                            const float *x, size_t ldx, size_t nq,
                                                            float *y, size_t ldy)
{
    const int l2 = op == CVS_PANEL_L2;
    const panel_fn q4 = l2 ? panel_q4_1 : panel_q4_0, q2 = l2 ? panel_q2_1 : panel_q2_0;
    const panel_fn p4 = l2 ? panel_p4_1 : panel_p4_0, p1 = l2 ? panel_p1_1 : panel_p1_0;
    const size_t np = (dout + CVS_PANEL - 1) / CVS_PANEL, pstride = din * CVS_PANEL;
    const size_t nq4 = nq / 4 * 4;
    for (size_t p = 0; p < np; p++) {
        const float *P = Wp + p * pstride;
        const size_t j0 = p * CVS_PANEL, ncols = dout - j0;
        for (size_t q = 0; q < nq4; q += 4)
            q4(P, din, x + q * ldx, ldx, y + q * ldy + j0, ldy, ncols);
    }
    for (size_t q = nq4; q < nq; q++) {
        const float *xq = x + q * ldx;
        float *yq = y + q * ldy;
        size_t p = 0;
        if (q + 1 < nq) { /* two queries left: 2 x 2 */
            for (; p + 2 <= np; p += 2)
                q2(Wp + p * pstride, din, xq, ldx, yq + p * CVS_PANEL, ldy,
                   dout - p * CVS_PANEL);
            for (; p < np; p++) {
                p1(Wp + p * pstride, din, xq, ldx, yq + p * CVS_PANEL, ldy, dout - p * CVS_PANEL);
                p1(Wp + p * pstride, din, xq + ldx, ldx, yq + ldy + p * CVS_PANEL, ldy,
                   dout - p * CVS_PANEL);
            }
            q++;
            continue;
        }
        for (; p + 4 <= np; p += 4)
            p4(Wp + p * pstride, din, xq, ldx, yq + p * CVS_PANEL, ldy, dout - p * CVS_PANEL);
        for (; p < np; p++)
            p1(Wp + p * pstride, din, xq, ldx, yq + p * CVS_PANEL, ldy, dout - p * CVS_PANEL);
    }
}

/* One block (a panel of din rows) per step; consecutive blocks are
 * independent add chains, which the out-of-order core overlaps. */
__attribute__((target("avx2"))) static void panel_blocks_avx2(cvs_panel_op op, const float *Wp,
                                                             size_t nb, size_t din,
                                                             const float *x, size_t ldx,
                                                             size_t nq, float *y, size_t ldy)
{
    const int l2 = op == CVS_PANEL_L2;
    for (size_t q = 0; q < nq; q++)
        for (size_t b = 0; b < nb; b++) {
            const float *w = Wp + b * din * CVS_PANEL, *xb = x + q * ldx + b * din;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (size_t t = 0; t < din; t++) {
                const __m256 xt = _mm256_broadcast_ss(xb + t);
                __m256 u = _mm256_loadu_ps(w + t * CVS_PANEL);
                __m256 v = _mm256_loadu_ps(w + t * CVS_PANEL + 8);
                if (l2) {
                    u = _mm256_sub_ps(xt, u);
                    v = _mm256_sub_ps(xt, v);
                    u = _mm256_mul_ps(u, u);
                    v = _mm256_mul_ps(v, v);
                } else {
                    u = _mm256_mul_ps(xt, u);
                    v = _mm256_mul_ps(xt, v);
                }
                a0 = _mm256_add_ps(a0, u);
                a1 = _mm256_add_ps(a1, v);
            }
            _mm256_storeu_ps(y + q * ldy + b * CVS_PANEL, a0);
            _mm256_storeu_ps(y + q * ldy + b * CVS_PANEL + 8, a1);
        }
}
#endif

/* ==== Dispatch ==== */

typedef void (*apply_fn)(cvs_panel_op, const float *, size_t, size_t, const float *, size_t,
                         size_t, float *, size_t);
static _Atomic(apply_fn) panel_chosen;

/* Idempotent, as in kernels.c: racing threads store the same pointer. */
static apply_fn panel_resolve(void)
{
#ifdef CVS_PANEL_X86
    if (cvs__simd_avx2())
        return panel_apply_avx2;
#endif
    return cvs__panel_apply_scalar;
}

static apply_fn panel_impl(void)
{
    apply_fn f = atomic_load_explicit(&panel_chosen, memory_order_acquire);
    if (__builtin_expect(f == NULL, 0)) {
        f = panel_resolve();
        atomic_store_explicit(&panel_chosen, f, memory_order_release);
    }
    return f;
}

void cvs__panel_apply(cvs_panel_op op, const float *Wp, size_t din, size_t dout, const float *x,
                      size_t ldx, size_t nq, float *y, size_t ldy)
{
    panel_impl()(op, Wp, din, dout, x, ldx, nq, y, ldy);
}

void cvs__panel_apply_blocks(cvs_panel_op op, const float *Wp, size_t nb, size_t din,
                             const float *x, size_t ldx, size_t nq, float *y, size_t ldy)
{
#ifdef CVS_PANEL_X86
    if (panel_impl() == panel_apply_avx2) {
        panel_blocks_avx2(op, Wp, nb, din, x, ldx, nq, y, ldy);
        return;
    }
#endif
    cvs__panel_apply_blocks_scalar(op, Wp, nb, din, x, ldx, nq, y, ldy);
}

const char *cvs__panel_impl(void)
{
    return panel_impl() == cvs__panel_apply_scalar ? "scalar" : "avx2";
}
