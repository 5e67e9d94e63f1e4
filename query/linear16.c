/*
 * linear16.c -- the dense layers of the built-in encoders, y = x W^T + b,
 * with W kept in half precision in column panels (layout in linear16.h).
 *
 * The method is the register-blocked GEMM of Goto & van de Geijn,
 * "Anatomy of High-Performance Matrix Multiplication" (ACM TOMS 2008), as
 * BLIS restates it (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
 * Instantiating BLAS Functionality", TOMS 2015): the product is cut into
 * micro-tiles of MR rows x NR columns whose sums stay in registers while
 * the k loop streams one column panel of B and MR rows of A through them;
 * BLIS's Haswell sgemm kernel is 6 x 16 (12 of the 16 ymm registers
 * accumulate, two hold the panel's row, one the broadcast element of A).
 * We keep that tile.
 *
 * Where we deviate:
 *   1. B is never packed per call: W is laid out in panels once, when the
 *      model is loaded, and in binary16, the precision the model ships in
 *      (all-MiniLM-L6-v2's fp16 safetensors).  Each panel row (16 halves,
 *      32 bytes) is widened with VCVTPH2PS (F16C) as it is read; binary16
 *      to binary32 is exact, so the weights are the model's, bit for bit,
 *      and half the bytes of an fp32 copy are held and streamed.  For a
 *      short text (12 rows) the product is bound by streaming the weights
 *      (21 MB for the 6 layers in fp16, which fit the 32 MB L3 of the
 *      machine that runs the tests; 42 MB in fp32 did not), not by the
 *      multiply-adds, and an sgemm's packing of B is work repeated each
 *      call.
 *   2. A is not packed either: the tile reads its MR rows of x in place
 *      (row-major, one broadcast per row and k step), and the rows are
 *      taken in chunks whose x fits in L2 (ROW_CHUNK_BYTES), panels outer
 *      and tiles inner within a chunk, so one panel stays in L1/L2 while
 *      every tile of the chunk reads it.
 *   3. Every output is one accumulator summed over k in increasing order,
 *      begun at zero, with the bias added after the sum; a row that does
 *      not fill a 6-row tile runs the same chain in a smaller tile (1-5
 *      rows, the same instructions per lane).  So a row's result never
 *      depends on how many rows the call has or where the row sits in it:
 *      an encoder that stacks many texts under one product gives each the
 *      vector it has alone (embed_minilm.c deviation 3).  An sgemm may
 *      split k or change kernels with the shape; this never does.
 *   4. The scalar reference (CPUs without AVX2, FMA and F16C, or
 *      CVSTORE_SIMD=scalar) sums in the same order with separate multiply
 *      and add; the AVX2 kernel fuses them (one rounding a term), so the
 *      two differ by rounding only, which the tests bound (test_minilm.c).
 *      It widens a slice of a panel at a time into a buffer on the stack
 *      and keeps its sums in y between slices (a float stored and loaded is
 *      unchanged), so it needs no allocation.
 *   5. Rows that do not fill whole tiles are spread evenly over the tiles
 *      (13 rows are tiles of 5, 4 and 4, not 6, 6 and 1): a tile of R rows
 *      keeps 2R sums in flight, and one row alone (2 chains of fused
 *      multiply-adds, each waiting the 4 cycles of the last, where 2 units
 *      need 8 chains to stay busy) can run at a quarter of a full tile's
 *      rate at best.  Any split gives every row the same sums (deviation
 *      3).
 *
 * The feed-forward's activation is here too, GELU(x) = x/2 (1 + erf(x /
 * sqrt 2)) (Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016), over
 * a product's outputs: libm's erff took a tenth of a short question's CPU
 * time, one call per element.
 *   6. The AVX2 GELU takes erf from Abramowitz & Stegun, "Handbook of
 *      Mathematical Functions" (1964), 7.1.26: erf(z) = 1 - q for z >= 0,
 *      q = (a1 t + ... + a5 t^5) exp(-z^2), t = 1 / (1 + p z), error at
 *      most 1.5e-7 (the accuracy of the erf in test_minilm's numpy check),
 *      and 1 + erf(z) = q for z < 0, so the tail of negative inputs, where
 *      GELU is a small multiple of q, loses nothing to cancellation.  exp
 *      is Cephes's expf (Moshier): n = round(x log2 e), x - n ln 2 in two
 *      parts, a degree-5 polynomial, times 2^n.  The scalar reference keeps
 *      libm's erff; the two agree within a few units of 1e-7 of x
 *      (test_minilm).  Elementwise, so a row's result is still its own.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CVS_L16_X86 1
#endif

#include "core/cpu.h"
#include "query/linear16.h"
#include "store/db.h"

#define NR CVS_L16_COLS
#define MR 6
/* Deviation 2: the rows of one chunk of x, about this many bytes, stay in
 * L2 while every panel passes over them. */
#define ROW_CHUNK_BYTES (128u << 10)

size_t cvs__l16_halves(size_t n, size_t k)
{
    return (n + NR - 1) / NR * NR * k;
}

void cvs__l16_pack(const void *src, size_t n, size_t k, uint16_t *Wp)
{
    const unsigned char *s = src;
    const size_t np = (n + NR - 1) / NR;
    for (size_t p = 0; p < np; p++)
        for (size_t t = 0; t < k; t++)
            for (size_t c = 0; c < NR; c++) {
                size_t j = p * NR + c;
                Wp[(p * k + t) * NR + c] =
                    j < n ? cvs__get_u16(s + 2 * (j * k + t)) : 0; /* +0.0 */
            }
}

/* ==== Scalar reference ==== */

/* Panel rows widened at a time (deviation 4): 16 KB of stack. */
#define SLICE 256

void cvs__l16_apply_scalar(const uint16_t *Wp, size_t n, size_t k, const float *b,
                           const float *x, size_t m, float *y)
{
    const size_t np = (n + NR - 1) / NR;
    float wf[SLICE * NR];
    for (size_t p = 0; p < np; p++) {
        const size_t j0 = p * NR, cols = n - j0 < NR ? n - j0 : NR;
        for (size_t i = 0; i < m; i++)
            memset(y + i * n + j0, 0, cols * sizeof *y);
        for (size_t t0 = 0; t0 < k; t0 += SLICE) {
            const size_t tc = k - t0 < SLICE ? k - t0 : SLICE;
            cvs__f16_to_f32(Wp + (p * k + t0) * NR, wf, tc * NR);
            for (size_t i = 0; i < m; i++) {
                const float *xi = x + i * k + t0;
                float acc[NR] = {0};
                memcpy(acc, y + i * n + j0, cols * sizeof *acc);
                for (size_t t = 0; t < tc; t++)
                    for (size_t c = 0; c < NR; c++)
                        acc[c] += xi[t] * wf[t * NR + c];
                memcpy(y + i * n + j0, acc, cols * sizeof *acc);
            }
        }
        if (b)
            for (size_t i = 0; i < m; i++)
                for (size_t c = 0; c < cols; c++)
                    y[i * n + j0 + c] += b[j0 + c];
    }
}

/* ==== AVX2 ==== */

#ifdef CVS_L16_X86
/* Rows a chunk holds (deviation 2): a multiple of MR, at least MR. */
static size_t row_chunk(size_t k)
{
    size_t r = ROW_CHUNK_BYTES / (k * sizeof(float)) / MR * MR;
    return r < MR ? MR : r;
}

/* One tile: R rows of x (R <= MR, a constant at each call, so GCC keeps
 * the 2R accumulators in registers and unrolls the row loop) against one
 * panel P of k rows; cols <= NR outputs written at y (row stride ldy). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile(const int R, const uint16_t *P, size_t k, const float *x, const float *b, float *y,
     size_t ldy, size_t cols)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (size_t t = 0; t < k; t++) {
        const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(P + t * NR)));
        const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(P + t * NR + 8)));
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const __m256 xb = _mm256_broadcast_ss(x + (size_t)r * k + t);
            acc[r][0] = _mm256_fmadd_ps(xb, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(xb, w1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        float *dst = y + (size_t)r * ldy;
        __m256 lo = acc[r][0], hi = acc[r][1];
        if (cols == NR) {
            if (b) {
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(b));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(b + 8));
            }
            _mm256_storeu_ps(dst, lo);
            _mm256_storeu_ps(dst + 8, hi);
        } else { /* the last, partial panel: no read or write past n */
            float tmp[NR];
            _mm256_storeu_ps(tmp, lo);
            _mm256_storeu_ps(tmp + 8, hi);
            for (size_t c = 0; c < cols; c++)
                dst[c] = b ? tmp[c] + b[c] : tmp[c];
        }
    }
}

/* Each tile height its own straight-line function. */
#define TILE(R)                                                                                  \
    __attribute__((target("avx2,fma,f16c"))) static void tile##R(                               \
        const uint16_t *P, size_t k, const float *x, const float *b, float *y, size_t ldy,      \
        size_t cols)                                                                             \
    {                                                                                            \
        tile(R, P, k, x, b, y, ldy, cols);                                                       \
    }
TILE(1)
TILE(2)
TILE(3)
TILE(4)
TILE(5)
TILE(6)

typedef void (*tile_fn)(const uint16_t *, size_t, const float *, const float *, float *, size_t,
                        size_t);
static const tile_fn tiles[MR + 1] = {NULL, tile1, tile2, tile3, tile4, tile5, tile6};

void cvs__l16_apply_avx2(const uint16_t *Wp, size_t n, size_t k, const float *b, const float *x,
                         size_t m, float *y)
{
    const size_t np = (n + NR - 1) / NR, chunk = row_chunk(k);
    if (!cvs__cpu_f16c()) {
        cvs__l16_apply_scalar(Wp, n, k, b, x, m, y);
        return;
    }
    for (size_t i0 = 0; i0 < m; i0 += chunk) {
        const size_t i1 = m - i0 < chunk ? m : i0 + chunk;
        /* The chunk's rows in nt tiles as even as can be (deviation 5):
         * the first (i1 - i0) % nt tiles one row taller. */
        const size_t nt = (i1 - i0 + MR - 1) / MR, base = (i1 - i0) / nt, tall = (i1 - i0) % nt;
        for (size_t p = 0; p < np; p++) {
            const size_t j0 = p * NR, cols = n - j0 < NR ? n - j0 : NR;
            for (size_t q = 0, i = i0; q < nt; q++) {
                const size_t R = base + (q < tall);
                tiles[R](Wp + p * k * NR, k, x + i * k, b ? b + j0 : NULL, y + i * n + j0, n,
                         cols);
                i += R;
            }
        }
    }
}
#else
void cvs__l16_apply_avx2(const uint16_t *Wp, size_t n, size_t k, const float *b, const float *x,
                         size_t m, float *y)
{
    cvs__l16_apply_scalar(Wp, n, k, b, x, m, y);
}
#endif

/* ==== GELU (deviation 6) ==== */

void cvs__l16_gelu_scalar(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = 0.5f * v[i] * (1.0f + erff(v[i] * (float)M_SQRT1_2));
}

#ifdef CVS_L16_X86
/* exp(x) for x <= 0 (the only use): Cephes's expf, flushed to 0 below
 * -87.3 where 2^n would leave the normal range. */
__attribute__((target("avx2,fma"))) static inline __m256 exp_neg(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f);
    __m256 n, r, y, under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256i e;
    x = _mm256_max_ps(x, lo);
    n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps((float)M_SQRT1_2));
    __m256 a = _mm256_andnot_ps(sign, z), t, p, q, neg;
    t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                      _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    q = _mm256_mul_ps(p, exp_neg(_mm256_xor_ps(_mm256_mul_ps(a, a), sign)));
    /* 1 + erf(z): 2 - q for z >= 0, q below. */
    neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
    q = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), q), q, neg);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), q);
}

/* The last n % 8 through a buffer: each lane is its own element, so an
 * element's value does not depend on its place. */
__attribute__((target("avx2,fma"))) static void gelu_avx2(float *v, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(v + i, gelu8(_mm256_loadu_ps(v + i)));
    if (i < n) {
        float tmp[8] = {0};
        memcpy(tmp, v + i, (n - i) * sizeof *tmp);
        _mm256_storeu_ps(tmp, gelu8(_mm256_loadu_ps(tmp)));
        memcpy(v + i, tmp, (n - i) * sizeof *tmp);
    }
}

void cvs__l16_gelu_avx2(float *v, size_t n)
{
    if (cvs__cpu_f16c()) /* the kernel's rule, though GELU needs no F16C */
        gelu_avx2(v, n);
    else
        cvs__l16_gelu_scalar(v, n);
}
#else
void cvs__l16_gelu_avx2(float *v, size_t n)
{
    cvs__l16_gelu_scalar(v, n);
}
#endif

/* ==== Dispatch ==== */

typedef void (*apply_fn)(const uint16_t *, size_t, size_t, const float *, const float *, size_t,
                         float *);
static _Atomic(apply_fn) l16_chosen;

/* Idempotent, as in pq/kernels.c: racing threads store the same pointer. */
static apply_fn l16_impl_fn(void)
{
    apply_fn f = atomic_load_explicit(&l16_chosen, memory_order_acquire);
    if (__builtin_expect(f == NULL, 0)) {
        f = cvs__l16_apply_scalar;
#ifdef CVS_L16_X86
        if (cvs__simd_f16c())
            f = cvs__l16_apply_avx2;
#endif
        atomic_store_explicit(&l16_chosen, f, memory_order_release);
    }
    return f;
}

void cvs__l16_apply(const uint16_t *Wp, size_t n, size_t k, const float *b, const float *x,
                    size_t m, float *y)
{
    l16_impl_fn()(Wp, n, k, b, x, m, y);
}

void cvs__l16_gelu(float *v, size_t n)
{
    if (l16_impl_fn() == cvs__l16_apply_scalar)
        cvs__l16_gelu_scalar(v, n);
    else
        cvs__l16_gelu_avx2(v, n);
}

const char *cvs__l16_impl(void)
{
    return l16_impl_fn() == cvs__l16_apply_scalar ? "scalar" : "avx2";
}
