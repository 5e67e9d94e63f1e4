/*
 * test_vecmat.c -- Criterion tests for y = x M (pq/vecmat.c), the query
 * side of the PCA and OPQ projections.
 *
 * Includes vecmat.c so that the AVX2 kernel is called by name whatever the
 * dispatcher picked.  Oracle: the product summed in double; both kernels
 * must agree with it to float rounding over every shape the codecs use
 * (dout not a multiple of 32 or of 8 included).
 */
#include "pq/vecmat.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

static uint64_t rng = 88172645463325252ull;

static float rndf(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / (float)(1u << 23) - 1.0f;
}

static void check(void (*fn)(const float *, const float *, size_t, size_t, float *), size_t din,
                  size_t dout)
{
    float *x = malloc(din * sizeof *x), *M = malloc(din * dout * sizeof *M);
    float *y = malloc((dout + 1) * sizeof *y);
    cr_assert(x && M && y);
    for (size_t i = 0; i < din; i++)
        x[i] = rndf() * 100.0f;
    for (size_t i = 0; i < din * dout; i++)
        M[i] = rndf();
    y[dout] = 12345.0f; /* must not be written */
    fn(x, M, din, dout, y);
    for (size_t j = 0; j < dout; j++) {
        double s = 0, mag = 0;
        for (size_t i = 0; i < din; i++) {
            s += (double)x[i] * M[i * dout + j];
            mag += fabs((double)x[i] * M[i * dout + j]);
        }
        cr_assert_leq(fabs(y[j] - s), 1e-5 * mag + 1e-6, "din %zu dout %zu j %zu: %g vs %g", din,
                      dout, j, y[j], s);
    }
    cr_assert_eq(y[dout], 12345.0f, "wrote past dout");
    free(x);
    free(M);
    free(y);
}

static const size_t shapes[][2] = {{1, 1}, {3, 7}, {128, 128}, {784, 128}, {100, 100},
                                   {256, 64}, {96, 40}, {17, 33}, {960, 256}};

Test(vecmat, scalar_matches_double)
{
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        check(cvs__vecmat_scalar, shapes[s][0], shapes[s][1]);
}

Test(vecmat, avx2_matches_double)
{
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2/FMA on this CPU");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        check(vecmat_avx2, shapes[s][0], shapes[s][1]);
}

Test(vecmat, dispatched_matches_double)
{
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        check(cvs__vecmat, shapes[s][0], shapes[s][1]);
}
