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
 *      multiply-adds, each waiting on the last) ran at a quarter of a full
 *      tile's rate.  Any split gives every row the same sums (deviation 3).
 */
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

/* Rows a chunk holds (deviation 2): a multiple of MR, at least MR. */
static size_t row_chunk(size_t k)
{
    size_t r = ROW_CHUNK_BYTES / (k * sizeof(float)) / MR * MR;
    return r < MR ? MR : r;
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
    if (!cvs__cpu_avx2()) {
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
        if (cvs__simd_avx2())
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

const char *cvs__l16_impl(void)
{
    return l16_impl_fn() == cvs__l16_apply_scalar ? "scalar" : "avx2";
}
