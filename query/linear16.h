/*
 * linear16.h -- y = x W^T + b with W kept in half precision, in column
 * panels, for the built-in encoders' dense layers (internal; the method and
 * its deviations are in linear16.c).
 *
 * W is n x k as PyTorch's Linear stores it (output j is row j, k inputs).
 * The panel layout holds n rounded up to CVS_L16_COLS outputs:
 *     Wp[(p * k + t) * CVS_L16_COLS + c] = W[p * CVS_L16_COLS + c][t]
 * (zero for outputs past n), so panel p is one run of k * 32 bytes read
 * forward.  Matrices whose n is a multiple of CVS_L16_COLS stack: the
 * panels of [A; B] are A's panels followed by B's (the encoders' fused
 * query-key-value product).
 *
 * Every output is one float sum over t in increasing order, begun at zero,
 * with the bias added last; the AVX2 kernel and the scalar reference differ
 * only in rounding (the AVX2 one fuses each multiply-add), and neither's
 * result for a row depends on the other rows of the call, on how many there
 * are, or on where the row sits among them.
 */
#ifndef CVS_QUERY_LINEAR16_H
#define CVS_QUERY_LINEAR16_H

#include <stddef.h>
#include <stdint.h>

#define CVS_L16_COLS 16

/* Halves of the panel layout of an n x k matrix. */
size_t cvs__l16_halves(size_t n, size_t k);
/* Packs W (n x k, row-major binary16 at src, little-endian, any alignment)
 * into Wp (cvs__l16_halves(n, k) halves, caller-owned). */
void cvs__l16_pack(const void *src, size_t n, size_t k, uint16_t *Wp);

/* y[i * n + j] = b[j] + sum_t x[i * k + t] * W[j][t], for the m rows of x
 * (i < m, j < n); b may be NULL (no bias).  Picks the AVX2 kernel when
 * cvs__simd_avx2() says so, else the scalar one. */
void cvs__l16_apply(const uint16_t *Wp, size_t n, size_t k, const float *b, const float *x,
                    size_t m, float *y);
void cvs__l16_apply_scalar(const uint16_t *Wp, size_t n, size_t k, const float *b,
                           const float *x, size_t m, float *y);
/* The AVX2 kernel itself, for the tests: only where cvs__cpu_avx2() is 1
 * (on other CPUs and builds it is the scalar one). */
void cvs__l16_apply_avx2(const uint16_t *Wp, size_t n, size_t k, const float *b, const float *x,
                         size_t m, float *y);

/* v[i] = GELU(v[i]) = v[i]/2 (1 + erf(v[i] / sqrt 2)), i < n, by the
 * kernel cvs__l16_apply uses: the scalar one with libm's erff, the AVX2 one
 * with Abramowitz & Stegun's 7.1.26 (within 1.5e-7 of erf; linear16.c
 * deviation 6).  An element's result depends on its value alone. */
void cvs__l16_gelu(float *v, size_t n);
void cvs__l16_gelu_scalar(float *v, size_t n);
void cvs__l16_gelu_avx2(float *v, size_t n); /* as cvs__l16_apply_avx2 */

/* "avx2" or "scalar": what cvs__l16_apply and cvs__l16_gelu run (CVSTORE_SIMD=scalar forces
 * the scalar kernel). */
const char *cvs__l16_impl(void);

#endif
