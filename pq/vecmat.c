/*
 * vecmat.c -- one row times a matrix, for the query side of PCA and OPQ.
 *
 * A search projects each query by the codec's PCA and OPQ matrices before
 * its look-up table is built.  Through OpenBLAS's sgemm a single row costs
 * more in packing (sgemm_itcopy) and dispatch than in arithmetic: on SIFT10K
 * (opq,pq64x4, 128 x 128) the sgemm was 13% of an IVF query's time.  This
 * is the plain product, an axpy of each matrix row into register-held
 * accumulators, 32 outputs at a time; batches (builds, encodes) still go
 * through sgemm.
 *
 * Deviations: none from the textbook product; the sums run in another
 * order than sgemm's, so results agree to rounding, not bit for bit.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "pq/vecmat.h"

void cvs__vecmat_scalar(const float *x, const float *M, size_t din, size_t dout, float *y)
{
    memset(y, 0, dout * sizeof *y);
    for (size_t i = 0; i < din; i++) {
        const float xi = x[i], *row = M + i * dout;
        for (size_t j = 0; j < dout; j++)
            y[j] += xi * row[j];
    }
}

__attribute__((target("avx2,fma"))) static void vecmat_avx2(const float *x, const float *M,
                                                            size_t din, size_t dout, float *y)
{
    size_t j = 0;
    for (; j + 32 <= dout; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < din; i++) {
            const float *row = M + i * dout + j;
            const __m256 xi = _mm256_set1_ps(x[i]);
            a0 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(row), a0);
            a1 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(row + 8), a1);
            a2 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(row + 16), a2);
            a3 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(row + 24), a3);
        }
        _mm256_storeu_ps(y + j, a0);
        _mm256_storeu_ps(y + j + 8, a1);
        _mm256_storeu_ps(y + j + 16, a2);
        _mm256_storeu_ps(y + j + 24, a3);
    }
    for (; j + 8 <= dout; j += 8) {
        __m256 a = _mm256_setzero_ps();
        for (size_t i = 0; i < din; i++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(x[i]), _mm256_loadu_ps(M + i * dout + j), a);
        _mm256_storeu_ps(y + j, a);
    }
    for (; j < dout; j++) {
        float s = 0;
        for (size_t i = 0; i < din; i++)
            s += x[i] * M[i * dout + j];
        y[j] = s;
    }
}

void cvs__vecmat(const float *x, const float *M, size_t din, size_t dout, float *y)
{
    /* Chosen once; a benign race, every thread computes the same.
     * CVSTORE_SIMD=scalar forces the reference, as for the other kernels. */
    static int avx2 = -1;
    if (avx2 < 0) {
        const char *env = getenv("CVSTORE_SIMD");
        avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               !(env && strcmp(env, "scalar") == 0);
    }
    if (avx2)
        vecmat_avx2(x, M, din, dout, y);
    else
        cvs__vecmat_scalar(x, M, din, dout, y);
}
