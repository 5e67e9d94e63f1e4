/*
 * test_kernels.c -- Criterion unit tests for the PQ distance kernels.
 *
 * This file includes kernels.c instead of linking kernels.o: the AVX2
 * kernels are static there, and including the source lets us call each of
 * them by name against the scalar reference whatever the dispatcher picked
 * (so `CVSTORE_SIMD=scalar ./test_kernels` still tests the AVX2 code; the
 * SIMD tests skip only when the CPU itself lacks AVX2).
 *
 * Oracles: adc8 kernels (single- and multi-query) are checked against
 * cvs__adc8_scan_scalar, the fast-scan kernels against each other bit for
 * bit *and* against a naive sum computed from the plain (unpacked) codes,
 * so that a layout bug shared by pack and both scans cannot pass
 * unnoticed.  The LUT kernels (pq/panel.c) are checked against a naive
 * sum over the unpacked matrix, and AVX2 against scalar, bit for bit.
 */
#include "pq/kernels.c"
#include "pq/panel.c"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>

/* ==== Helpers ==== */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static float rndf(float lo, float hi) /* uniform in [lo, hi) */
{
    return lo + (hi - lo) * (float)(rnd() >> 40) / (float)(1u << 24);
}

/* Exact-size allocations so that ASan (make asan) catches any over-read. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    return p;
}

/* 97, 129, 160, 200: 4 to 7 fast-scan blocks (4 per step, then 2, then 1) */
static const size_t test_ns[] = {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 97, 129, 160, 200, 1000};
static const size_t test_Ms[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 32, 64};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct adc8_variant {
    const char *name;
    adc8_fn fn;
    int needs_avx2;
    int bit_exact; /* sums in the reference order */
} adc8_variant;

static const adc8_variant adc8_variants[] = {
    {"x8", adc8_scan_x8, 1, 1},
    {"gather", adc8_scan_gather, 1, 0},
    {"dispatched", cvs__adc8_scan, 0, 0},
};

#define CANARY 12345.0f

/* Runs every variant on (lut, codes) and compares with the reference.
 * Tolerance for reordered float sums: 1e-5 of sum_m |entry|, the natural
 * scale of the rounding error (a relative error on a cancelling signed sum
 * would be meaningless). */
static void check_adc8(const float *lut, const uint8_t *codes, size_t n, size_t M)
{
    float *ref = xmalloc((n + 1) * sizeof *ref), *got = xmalloc((n + 1) * sizeof *got);
    ref[n] = CANARY;
    cvs__adc8_scan_scalar(lut, codes, n, M, ref);
    cr_assert_eq(ref[n], CANARY, "reference wrote past n");
    for (size_t v = 0; v < COUNT(adc8_variants); v++) {
        const adc8_variant *a = &adc8_variants[v];
        if (a->needs_avx2 && !cvs__cpu_avx2())
            continue;
        for (size_t i = 0; i <= n; i++)
            got[i] = CANARY;
        a->fn(lut, codes, n, M, got);
        cr_assert_eq(got[n], CANARY, "%s wrote past n (n=%zu M=%zu)", a->name, n, M);
        for (size_t i = 0; i < n; i++) {
            if (a->bit_exact) {
                cr_assert_eq(got[i], ref[i], "%s: n=%zu M=%zu i=%zu: %.9g vs %.9g", a->name, n, M,
                             i, got[i], ref[i]);
            } else {
                double mag = 0.0;
                for (size_t m = 0; m < M; m++)
                    mag += fabs(lut[m * 256 + codes[i * M + m]]);
                cr_assert_leq(fabs((double)got[i] - (double)ref[i]), 1e-5 * mag + 1e-30,
                              "%s: n=%zu M=%zu i=%zu: %.9g vs %.9g", a->name, n, M, i, got[i],
                              ref[i]);
            }
        }
    }
    free(got);
    free(ref);
}

/* Naive fast-scan distance from a plain 4-bit code. */
static uint32_t fs4_naive(const uint8_t *qlut, const uint8_t *code4, size_t M)
{
    uint32_t s = 0;
    for (size_t m = 0; m < M; m++) {
        uint8_t x = code4[m / 2];
        s += qlut[m * 16 + ((m & 1) ? (x >> 4) : (x & 15))];
    }
    return s;
}

/* Packs codes4, scans with scalar and (when available) AVX2, compares both
 * with each other bit for bit and with the naive sum; padding slots of the
 * last block must come out as the sum of entry 0 of every table. */
static void check_fs4(const uint8_t *codes4, size_t n, size_t M, const uint8_t *qlut)
{
    size_t nblocks = (n + 31) / 32, sz = cvs__fs4_packed_size(n, M);
    cr_assert_eq(sz, nblocks * 32 * ((M + 1) / 2));
    uint8_t *packed = xmalloc(sz);
    uint16_t *ref = xmalloc((nblocks * 32 + 1) * sizeof *ref);
    uint16_t *got = xmalloc((nblocks * 32 + 1) * sizeof *got);
    cvs__fs4_pack(codes4, n, M, packed);
    ref[nblocks * 32] = 0xBEEF;
    cvs__fs4_scan_scalar(packed, nblocks, M, qlut, ref);
    cr_assert_eq(ref[nblocks * 32], 0xBEEF);

    size_t P = (M + 1) / 2;
    uint32_t pad = 0;
    for (size_t m = 0; m < M; m++)
        pad += qlut[m * 16];
    for (size_t i = 0; i < nblocks * 32; i++) {
        uint32_t want = i < n ? fs4_naive(qlut, codes4 + i * P, M) : pad;
        cr_assert_eq(ref[i], (uint16_t)want, "scalar: n=%zu M=%zu i=%zu: %u vs %u", n, M, i,
                     ref[i], want);
    }

    fs4_fn fns[2] = {fs4_scan_avx2, cvs__fs4_scan};
    const char *names[2] = {"avx2", "dispatched"};
    for (int f = 0; f < 2; f++) {
        if (f == 0 && !cvs__cpu_avx2())
            continue;
        for (size_t i = 0; i <= nblocks * 32; i++)
            got[i] = 0xBEEF;
        fns[f](packed, nblocks, M, qlut, got);
        cr_assert_eq(got[nblocks * 32], 0xBEEF, "%s wrote past the last block", names[f]);
        for (size_t i = 0; i < nblocks * 32; i++)
            cr_assert_eq(got[i], ref[i], "%s: n=%zu M=%zu i=%zu: %u vs %u", names[f], n, M, i,
                         got[i], ref[i]);
    }
    free(got);
    free(ref);
    free(packed);
}

/* ==== adc8 ==== */

Test(adc8, random_nonnegative_lut)
{
    rng_seed(1);
    for (size_t a = 0; a < COUNT(test_Ms); a++)
        for (size_t b = 0; b < COUNT(test_ns); b++) {
            size_t M = test_Ms[a], n = test_ns[b];
            float *lut = xmalloc(M * 256 * sizeof *lut);
            uint8_t *codes = xmalloc(n * M);
            for (size_t i = 0; i < M * 256; i++)
                lut[i] = rndf(0.0f, 4.0f);
            for (size_t i = 0; i < n * M; i++)
                codes[i] = (uint8_t)rnd();
            check_adc8(lut, codes, n, M);
            free(codes);
            free(lut);
        }
}

Test(adc8, signed_lut_inner_product)
{
    rng_seed(2);
    size_t Ms[] = {8, 16, 24, 64}, n = 1000;
    for (size_t a = 0; a < COUNT(Ms); a++) {
        size_t M = Ms[a];
        float *lut = xmalloc(M * 256 * sizeof *lut);
        uint8_t *codes = xmalloc(n * M);
        for (size_t i = 0; i < M * 256; i++)
            lut[i] = rndf(-1.0f, 1.0f);
        for (size_t i = 0; i < n * M; i++)
            codes[i] = (uint8_t)rnd();
        check_adc8(lut, codes, n, M);
        free(codes);
        free(lut);
    }
}

/* The strided scan (RaBitQ codes: table bytes, then factors): AVX2 and
 * the dispatched kernel bit-identical to the scalar reference, which is
 * itself checked against cvs__adc8_scan_scalar on the codes copied to
 * stride M; bytes past M (the factors, here 0xFF poison) are never read
 * into a sum. */
Test(adc8, strided_matches_scalar)
{
    static const size_t Ms[] = {1, 7, 8, 13, 32, 33, 52, 64, 104};
    static const size_t extra[] = {0, 1, 12};
    rng_seed(5);
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t e = 0; e < COUNT(extra); e++)
            for (size_t b = 0; b < COUNT(test_ns); b++) {
                size_t M = Ms[a], S = M + extra[e], n = test_ns[b];
                float *lut = xmalloc(M * 256 * sizeof *lut);
                uint8_t *codes = xmalloc(n * S), *plain = xmalloc(n * M);
                float *ref = xmalloc((n + 1) * sizeof *ref), *got = xmalloc((n + 1) * sizeof *got);
                float *want = xmalloc((n + 1) * sizeof *want);
                for (size_t i = 0; i < M * 256; i++)
                    lut[i] = rndf(-1.0f, 1.0f);
                for (size_t i = 0; i < n; i++)
                    for (size_t m = 0; m < S; m++) {
                        codes[i * S + m] = m < M ? (uint8_t)rnd() : 0xFF;
                        if (m < M)
                            plain[i * M + m] = codes[i * S + m];
                    }
                cvs__adc8_scan_scalar(lut, plain, n, M, want);
                cvs__adc8_scan_strided_scalar(lut, codes, n, M, S, ref);
                cr_assert(!memcmp(ref, want, n * sizeof *ref), "scalar strided: M=%zu S=%zu n=%zu",
                          M, S, n);
                for (int f = 0; f < 2; f++) {
                    if (f == 0 && !cvs__cpu_avx2())
                        continue;
                    got[n] = -7.0f;
                    if (f == 0)
                        adc8_scan_x8_strided(lut, codes, n, M, S, got);
                    else
                        cvs__adc8_scan_strided(lut, codes, n, M, S, got);
                    cr_assert_eq(got[n], -7.0f, "wrote past n");
                    for (size_t i = 0; i < n; i++)
                        cr_assert_eq(got[i], ref[i], "%s: M=%zu S=%zu n=%zu i=%zu: %.9g vs %.9g",
                                     f ? "dispatched" : "avx2", M, S, n, i, got[i], ref[i]);
                }
                free(lut);
                free(codes);
                free(plain);
                free(ref);
                free(got);
                free(want);
            }
}

Test(adc8, extreme_codes_and_zero_lut)
{
    /* Codes 0 and 255 hit the first and last entry of every row: catches
     * off-by-one row offsets in the gather index vector. */
    size_t Ms[] = {1, 8, 16, 33, 64}, n = 40;
    for (size_t a = 0; a < COUNT(Ms); a++) {
        size_t M = Ms[a];
        float *lut = xmalloc(M * 256 * sizeof *lut);
        uint8_t *codes = xmalloc(n * M);
        for (size_t m = 0; m < M; m++)
            for (size_t j = 0; j < 256; j++)
                lut[m * 256 + j] = (float)(m * 1000 + j);
        for (size_t i = 0; i < n * M; i++)
            codes[i] = (i / M) % 2 ? 255 : 0;
        check_adc8(lut, codes, n, M);
        float *out = xmalloc(n * sizeof *out);
        cvs__adc8_scan(lut, codes, n, M, out);
        for (size_t i = 0; i < n; i++) {
            double want = 0;
            for (size_t m = 0; m < M; m++)
                want += m * 1000.0 + (i % 2 ? 255 : 0);
            cr_assert_float_eq(out[i], (float)want, 1e-3 * want + 1e-6, "M=%zu i=%zu", M, i);
        }
        for (size_t i = 0; i < M * 256; i++)
            lut[i] = 0.0f;
        cvs__adc8_scan(lut, codes, n, M, out);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(out[i], 0.0f);
        free(out);
        free(codes);
        free(lut);
    }
}

/* ==== adc8: multi-query ==== */

Test(adc8_multi, interleave_layout)
{
    rng_seed(7);
    size_t M = 3;
    for (size_t nq = 0; nq <= CVS_ADC8_QBLOCK; nq++) {
        float *luts[CVS_ADC8_QBLOCK];
        float *lutq = xmalloc(M * 256 * CVS_ADC8_QBLOCK * sizeof *lutq);
        for (size_t q = 0; q < nq; q++) {
            luts[q] = xmalloc(M * 256 * sizeof *luts[q]);
            for (size_t r = 0; r < M * 256; r++)
                luts[q][r] = rndf(-1.0f, 1.0f);
        }
        for (size_t r = 0; r < M * 256 * CVS_ADC8_QBLOCK; r++)
            lutq[r] = CANARY;
        cvs__adc8_interleave((const float *const *)luts, nq, M, lutq);
        for (size_t r = 0; r < M * 256; r++)
            for (size_t q = 0; q < CVS_ADC8_QBLOCK; q++)
                cr_assert_eq(lutq[r * CVS_ADC8_QBLOCK + q], q < nq ? luts[q][r] : 0.0f,
                             "nq=%zu r=%zu q=%zu", nq, r, q);
        for (size_t q = 0; q < nq; q++)
            free(luts[q]);
        free(lutq);
    }
}

/* Scores nq queries with the scalar and AVX2 multi-query kernels, the
 * dispatcher, and nq separate single-query scans.  Both multi kernels sum
 * in reference order, so they must equal cvs__adc8_scan_scalar bit for bit
 * (stronger than the 1e-5 relative agreement asked of them); against the
 * dispatched single-query scan, whichever kernel that is, we allow the
 * 1e-5 of sum_m |entry| used for reordered sums above.  Canaries check that
 * rows q >= nq and everything past nq*n stay untouched. */
static void check_adc8_multi(float *const *luts, size_t nq, const uint8_t *codes, size_t n,
                             size_t M)
{
    const size_t tot = CVS_ADC8_QBLOCK * n + 1;
    float *lutq = xmalloc(M * 256 * CVS_ADC8_QBLOCK * sizeof *lutq);
    float *ref = xmalloc(tot * sizeof *ref), *single = xmalloc(tot * sizeof *single);
    float *got = xmalloc(tot * sizeof *got);
    cvs__adc8_interleave((const float *const *)luts, nq, M, lutq);
    for (size_t q = 0; q < nq; q++) {
        cvs__adc8_scan_scalar(luts[q], codes, n, M, ref + q * n);
        cvs__adc8_scan(luts[q], codes, n, M, single + q * n);
    }
    adc8q_fn fns[3] = {cvs__adc8_scan_multi_scalar, adc8_scan_multi_avx2, cvs__adc8_scan_multi};
    const char *names[3] = {"scalar", "avx2", "dispatched"};
    for (int f = 0; f < 3; f++) {
        if (f == 1 && !cvs__cpu_avx2())
            continue;
        for (size_t i = 0; i < tot; i++)
            got[i] = CANARY;
        fns[f](lutq, nq, codes, n, M, got);
        for (size_t i = nq * n; i < tot; i++)
            cr_assert_eq(got[i], CANARY, "%s wrote past nq*n (nq=%zu n=%zu M=%zu)", names[f], nq,
                         n, M);
        for (size_t q = 0; q < nq; q++)
            for (size_t i = 0; i < n; i++) {
                float g = got[q * n + i];
                cr_assert_eq(g, ref[q * n + i], "%s: nq=%zu n=%zu M=%zu q=%zu i=%zu: %.9g vs %.9g",
                             names[f], nq, n, M, q, i, g, ref[q * n + i]);
                double mag = 0.0;
                for (size_t m = 0; m < M; m++)
                    mag += fabs(luts[q][m * 256 + codes[i * M + m]]);
                cr_assert_leq(fabs((double)g - (double)single[q * n + i]), 1e-5 * mag + 1e-30,
                              "%s vs cvs__adc8_scan: nq=%zu n=%zu M=%zu q=%zu i=%zu", names[f], nq,
                              n, M, q, i);
            }
    }
    free(got);
    free(single);
    free(ref);
    free(lutq);
}

static void adc8_multi_sweep(uint64_t seed, float lo, float hi)
{
    static const size_t ns[] = {0, 1, 7, 8, 9, 1000}, Ms[] = {1, 2, 8, 16, 32, 64};
    rng_seed(seed);
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t b = 0; b < COUNT(ns); b++) {
            size_t M = Ms[a], n = ns[b];
            uint8_t *codes = xmalloc(n * M);
            float *luts[CVS_ADC8_QBLOCK];
            for (size_t i = 0; i < n * M; i++)
                codes[i] = (uint8_t)rnd();
            for (size_t q = 0; q < CVS_ADC8_QBLOCK; q++) {
                luts[q] = xmalloc(M * 256 * sizeof *luts[q]);
                for (size_t r = 0; r < M * 256; r++)
                    luts[q][r] = rndf(lo, hi);
            }
            for (size_t nq = 1; nq <= CVS_ADC8_QBLOCK; nq++)
                check_adc8_multi(luts, nq, codes, n, M);
            for (size_t q = 0; q < CVS_ADC8_QBLOCK; q++)
                free(luts[q]);
            free(codes);
        }
}

Test(adc8_multi, random_nonnegative_luts) { adc8_multi_sweep(11, 0.0f, 4.0f); }

Test(adc8_multi, signed_luts_inner_product) { adc8_multi_sweep(12, -1.0f, 1.0f); }

/* Odd M and n across several blocks of the AVX2 kernel (ADC8Q_NB codes,
 * ADC8Q_MC sub-quantizers per chunk): tails of every loop at once. */
Test(adc8_multi, odd_sizes_across_blocks)
{
    static const size_t ns[] = {ADC8Q_NB - 1, ADC8Q_NB + 9, 3 * ADC8Q_NB + 5};
    static const size_t Ms[] = {3, 9, 13, 17, 33};
    rng_seed(13);
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t b = 0; b < COUNT(ns); b++) {
            size_t M = Ms[a], n = ns[b];
            uint8_t *codes = xmalloc(n * M);
            float *luts[CVS_ADC8_QBLOCK];
            for (size_t i = 0; i < n * M; i++)
                codes[i] = (uint8_t)rnd();
            for (size_t q = 0; q < CVS_ADC8_QBLOCK; q++) {
                luts[q] = xmalloc(M * 256 * sizeof *luts[q]);
                for (size_t r = 0; r < M * 256; r++)
                    luts[q][r] = rndf(0.0f, 4.0f);
            }
            check_adc8_multi(luts, 5, codes, n, M);
            check_adc8_multi(luts, CVS_ADC8_QBLOCK, codes, n, M);
            for (size_t q = 0; q < CVS_ADC8_QBLOCK; q++)
                free(luts[q]);
            free(codes);
        }
}

/* ==== fs4: layout ==== */

Test(fs4, packed_size)
{
    cr_assert_eq(cvs__fs4_packed_size(0, 16), 0);
    cr_assert_eq(cvs__fs4_packed_size(1, 16), 32 * 8);
    cr_assert_eq(cvs__fs4_packed_size(32, 16), 32 * 8);
    cr_assert_eq(cvs__fs4_packed_size(33, 16), 64 * 8);
    cr_assert_eq(cvs__fs4_packed_size(33, 1), 64);
    cr_assert_eq(cvs__fs4_packed_size(33, 3), 64 * 2);
}

Test(fs4, layout_is_documented_transpose)
{
    /* Pins the layout described in kernels.c: byte p*32 + j of block b is
     * byte p of code 32b + j. */
    size_t n = 70, M = 6, P = 3;
    uint8_t codes4[70 * 3], packed[3 * 3 * 32];
    for (size_t i = 0; i < n * P; i++)
        codes4[i] = (uint8_t)(i * 7 + 3);
    cvs__fs4_pack(codes4, n, M, packed);
    for (size_t b = 0; b < 3; b++)
        for (size_t p = 0; p < P; p++)
            for (size_t j = 0; j < 32; j++) {
                size_t i = 32 * b + j;
                uint8_t want = i < n ? codes4[i * P + p] : 0;
                cr_assert_eq(packed[b * P * 32 + p * 32 + j], want, "b=%zu p=%zu j=%zu", b, p, j);
            }
}

Test(fs4, pack_get_round_trip)
{
    rng_seed(3);
    for (size_t a = 0; a < COUNT(test_Ms); a++)
        for (size_t b = 0; b < COUNT(test_ns); b++) {
            size_t M = test_Ms[a], n = test_ns[b], P = (M + 1) / 2;
            size_t cap = ((n + 31) / 32) * 32;
            uint8_t *codes4 = xmalloc(n * P), *packed = xmalloc(cvs__fs4_packed_size(n, M));
            uint8_t *back = xmalloc(P);
            /* Random bytes, including garbage in the unused high nibble
             * of odd M: pack must clear it. */
            for (size_t i = 0; i < n * P; i++)
                codes4[i] = (uint8_t)rnd();
            cvs__fs4_pack(codes4, n, M, packed);
            for (size_t i = 0; i < cap; i++) {
                cvs__fs4_get(packed, i, M, back);
                for (size_t p = 0; p < P; p++) {
                    uint8_t want = i < n ? codes4[i * P + p] : 0;
                    if (p == P - 1 && (M & 1))
                        want &= 0x0f;
                    cr_assert_eq(back[p], want, "M=%zu n=%zu i=%zu p=%zu", M, n, i, p);
                }
            }
            free(back);
            free(packed);
            free(codes4);
        }
}

/* ==== fs4: scan ==== */

Test(fs4, scan_random)
{
    rng_seed(4);
    for (size_t a = 0; a < COUNT(test_Ms); a++)
        for (size_t b = 0; b < COUNT(test_ns); b++) {
            size_t M = test_Ms[a], n = test_ns[b], P = (M + 1) / 2;
            uint8_t *codes4 = xmalloc(n * P), *qlut = xmalloc(M * 16);
            for (size_t i = 0; i < n * P; i++)
                codes4[i] = (uint8_t)rnd();
            if (M & 1) /* naive oracle reads only valid nibbles anyway */
                for (size_t i = 0; i < n; i++)
                    codes4[i * P + P - 1] &= 0x0f;
            for (size_t i = 0; i < M * 16; i++)
                qlut[i] = (uint8_t)rnd();
            check_fs4(codes4, n, M, qlut);
            free(qlut);
            free(codes4);
        }
}

Test(fs4, scan_constant_luts)
{
    /* All-0 and all-255 tables, including the largest M the u16
     * accumulators support exactly: 256 (header contract, 65280) and 257
     * (255 * 257 = 65535, the exact limit; see kernels.c, deviation 5). */
    rng_seed(5);
    size_t Ms[] = {1, 2, 8, 31, 32, 64, 255, 256, 257}, ns[] = {1, 32, 33, 100};
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t b = 0; b < COUNT(ns); b++) {
            size_t M = Ms[a], n = ns[b], P = (M + 1) / 2;
            uint8_t *codes4 = xmalloc(n * P), *qlut = xmalloc(M * 16);
            for (size_t i = 0; i < n * P; i++)
                codes4[i] = (uint8_t)rnd();
            for (int val = 0; val <= 255; val += 255) {
                memset(qlut, val, M * 16);
                check_fs4(codes4, n, M, qlut);
                /* check_fs4 compared against the naive sum; pin the value
                 * too, since it exercises the even/odd wrap-around. */
                uint16_t out[128 + 32];
                uint8_t *packed = xmalloc(cvs__fs4_packed_size(n, M));
                cvs__fs4_pack(codes4, n, M, packed);
                cvs__fs4_scan(packed, (n + 31) / 32, M, qlut, out);
                for (size_t i = 0; i < n; i++)
                    cr_assert_eq(out[i], (uint16_t)(val * M), "M=%zu val=%d", M, val);
                free(packed);
            }
            free(qlut);
            free(codes4);
        }
}

Test(fs4, scan_nblocks_zero)
{
    uint8_t qlut[16 * 8] = {0};
    uint16_t out[1] = {0xBEEF};
    cvs__fs4_scan(NULL, 0, 8, qlut, out);
    cvs__fs4_scan_scalar(NULL, 0, 8, qlut, out);
    if (cvs__cpu_avx2())
        fs4_scan_avx2(NULL, 0, 8, qlut, out);
    cr_assert_eq(out[0], 0xBEEF);
}

/* ==== fs4: LUT quantization ==== */

Test(fs4, quantize_bounds)
{
    rng_seed(6);
    size_t Ms[] = {1, 2, 3, 8, 16, 32, 64};
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (int trial = 0; trial < 20; trial++) {
            size_t M = Ms[a];
            float *lut = xmalloc(M * 16 * sizeof *lut);
            uint8_t *q = xmalloc(M * 16);
            /* Rows of very different ranges and offsets, some negative. */
            for (size_t m = 0; m < M; m++) {
                float off = rndf(-50.0f, 50.0f), span = rndf(0.0f, 10.0f);
                for (int j = 0; j < 16; j++)
                    lut[m * 16 + j] = off + rndf(0.0f, span);
            }
            float scale, bias;
            cvs__fs4_quantize_lut(lut, M, q, &scale, &bias);
            cr_assert_gt(scale, 0.0f);
            double bsum = 0.0, range = 0.0;
            int saw255 = 0;
            for (size_t m = 0; m < M; m++) {
                float lo = lut[m * 16], hi = lut[m * 16];
                for (int j = 0; j < 16; j++) {
                    lo = fminf(lo, lut[m * 16 + j]);
                    hi = fmaxf(hi, lut[m * 16 + j]);
                }
                bsum += lo;
                range = fmax(range, (double)hi - lo);
                int saw0 = 0;
                for (int j = 0; j < 16; j++) {
                    double rec = lo + (double)scale * q[m * 16 + j];
                    cr_assert_leq(fabs(rec - lut[m * 16 + j]), scale / 2.0 * (1 + 1e-9),
                                  "entry error > scale/2: M=%zu m=%zu j=%d", M, m, j);
                    saw0 |= q[m * 16 + j] == 0;
                    saw255 |= q[m * 16 + j] == 255;
                }
                cr_assert(saw0, "the row minimum must map to 0");
            }
            cr_assert(saw255, "the widest row's maximum must map to 255");
            cr_assert_float_eq(scale, range / 255.0, 1e-6 * range / 255.0);
            cr_assert_float_eq(bias, bsum, 1e-6 * fabs(bsum) + 1e-30);
            /* Sum bound over random codes, computed in double. */
            for (int t = 0; t < 200; t++) {
                double exact = 0.0;
                uint32_t qs = 0;
                for (size_t m = 0; m < M; m++) {
                    int j = (int)(rnd() & 15);
                    exact += lut[m * 16 + j];
                    qs += q[m * 16 + j];
                }
                double approx = (double)bias + (double)scale * qs;
                double bound = M * (double)scale / 2.0 + fabs(bias) * 0x1p-24 + 1e-12;
                cr_assert_leq(fabs(approx - exact), bound, "M=%zu: err %g > bound %g", M,
                              fabs(approx - exact), bound);
            }
            free(q);
            free(lut);
        }
}

Test(fs4, quantize_constant_rows)
{
    /* Zero range everywhere: exact, scale stays positive, q all zero. */
    float lut[3 * 16];
    for (int m = 0; m < 3; m++)
        for (int j = 0; j < 16; j++)
            lut[m * 16 + j] = (float)m - 0.5f;
    uint8_t q[3 * 16];
    float scale = 0, bias = 0;
    cvs__fs4_quantize_lut(lut, 3, q, &scale, &bias);
    cr_assert_eq(scale, 1.0f);
    cr_assert_float_eq(bias, 1.5f, 1e-7);
    for (int i = 0; i < 48; i++)
        cr_assert_eq(q[i], 0);
    /* NaN must not crash (values unspecified). */
    lut[5] = NAN;
    cvs__fs4_quantize_lut(lut, 3, q, &scale, &bias);
}

Test(fs4, end_to_end_float_lut)
{
    /* Random float LUT and codes -> quantize, pack, scan (dispatched):
     * bias + scale * sum must be within M * scale / 2 of the float sum. */
    rng_seed(7);
    size_t Ms[] = {1, 2, 7, 8, 16, 32, 64}, n = 1000;
    for (size_t a = 0; a < COUNT(Ms); a++) {
        size_t M = Ms[a], P = (M + 1) / 2, nb = (n + 31) / 32;
        float *lut = xmalloc(M * 16 * sizeof *lut);
        uint8_t *q = xmalloc(M * 16), *codes4 = xmalloc(n * P);
        uint8_t *packed = xmalloc(cvs__fs4_packed_size(n, M));
        uint16_t *out = xmalloc(nb * 32 * sizeof *out);
        for (size_t i = 0; i < M * 16; i++)
            lut[i] = rndf(0.0f, 3.0f);
        for (size_t i = 0; i < n * P; i++)
            codes4[i] = (uint8_t)rnd();
        float scale, bias;
        cvs__fs4_quantize_lut(lut, M, q, &scale, &bias);
        cvs__fs4_pack(codes4, n, M, packed);
        cvs__fs4_scan(packed, nb, M, q, out);
        for (size_t i = 0; i < n; i++) {
            double exact = 0.0;
            for (size_t m = 0; m < M; m++) {
                uint8_t x = codes4[i * P + m / 2];
                exact += lut[m * 16 + ((m & 1) ? (x >> 4) : (x & 15))];
            }
            double approx = (double)bias + (double)scale * out[i];
            double bound = M * (double)scale / 2.0 + fabs(bias) * 0x1p-24 + 1e-12;
            cr_assert_leq(fabs(approx - exact), bound, "M=%zu i=%zu", M, i);
        }
        free(out);
        free(packed);
        free(codes4);
        free(q);
        free(lut);
    }
}

/* ==== LUT kernels (pq/panel.c) ==== */

/* W (din x dout, row-major) packed; every shape of query block and every
 * partial panel; y rows have slack that must stay untouched.  The naive
 * sum runs over W itself, so a packing bug cannot hide in both kernels. */
static void check_panel(size_t din, size_t dout, size_t nq, cvs_panel_op op, uint64_t seed)
{
    const size_t ldx = din + 3, ldy = dout + 5;
    float *W = xmalloc(din * dout * sizeof *W), *x = xmalloc(nq * ldx * sizeof *x);
    float *Wp = xmalloc(cvs__panel_floats(din, dout) * sizeof *Wp);
    float *ref = xmalloc(nq * ldy * sizeof *ref), *got = xmalloc(nq * ldy * sizeof *got);
    rng_seed(seed);
    for (size_t i = 0; i < din * dout; i++)
        W[i] = rndf(-3.0f, 3.0f);
    for (size_t i = 0; i < nq * ldx; i++)
        x[i] = rndf(-3.0f, 3.0f);
    cvs__panel_pack(W, din, dout, dout, 1, Wp);
    for (size_t i = 0; i < nq * ldy; i++)
        ref[i] = got[i] = CANARY;
    cvs__panel_apply_scalar(op, Wp, din, dout, x, ldx, nq, ref, ldy);
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < ldy; j++) {
            float s = 0.0f;
            for (size_t t = 0; j < dout && t < din; t++) {
                float a = x[q * ldx + t], b = W[t * dout + j];
                s += op == CVS_PANEL_L2 ? (a - b) * (a - b) : a * b;
            }
            cr_assert_eq(ref[q * ldy + j], j < dout ? s : CANARY,
                         "scalar: din=%zu dout=%zu nq=%zu q=%zu j=%zu", din, dout, nq, q, j);
        }
    if (cvs__cpu_avx2()) {
        panel_apply_avx2(op, Wp, din, dout, x, ldx, nq, got, ldy);
        cr_assert_eq(memcmp(ref, got, nq * ldy * sizeof *got), 0,
                     "avx2 differs: op=%d din=%zu dout=%zu nq=%zu", (int)op, din, dout, nq);
        /* Alone, each query gets the same bits as inside a block. */
        for (size_t q = 0; q < nq; q++) {
            panel_apply_avx2(op, Wp, din, dout, x + q * ldx, ldx, 1, got, ldy);
            cr_assert_eq(memcmp(ref + q * ldy, got, dout * sizeof *got), 0,
                         "single query %zu differs (din=%zu dout=%zu nq=%zu)", q, din, dout, nq);
        }
    }
    free(W);
    free(x);
    free(Wp);
    free(ref);
    free(got);
}

Test(panel, avx2_equals_scalar_every_shape)
{
    static const size_t dins[] = {0, 1, 2, 7, 16, 98};
    static const size_t douts[] = {1, 8, 15, 16, 17, 33, 48, 64, 80, 256};
    uint64_t seed = 1;
    for (size_t a = 0; a < COUNT(dins); a++)
        for (size_t b = 0; b < COUNT(douts); b++)
            for (size_t nq = 0; nq <= 9; nq++) {
                check_panel(dins[a], douts[b], nq, CVS_PANEL_L2, seed++);
                check_panel(dins[a], douts[b], nq, CVS_PANEL_DOT, seed++);
            }
}

Test(panel, pack_layout_and_padding)
{
    float W[3 * 20], Wp[2 * 3 * CVS_PANEL];
    cr_assert_eq(cvs__panel_floats(3, 20), COUNT(Wp));
    cr_assert_eq(cvs__panel_floats(3, 16), 3 * CVS_PANEL);
    cr_assert_eq(cvs__panel_floats(0, 16), 0);
    for (size_t i = 0; i < COUNT(W); i++)
        W[i] = (float)i + 1.0f;
    /* Packed from the transpose (st = 1, sj = din) it must come out equal. */
    float Wt[20 * 3], Wp2[COUNT(Wp)];
    for (size_t t = 0; t < 3; t++)
        for (size_t j = 0; j < 20; j++)
            Wt[j * 3 + t] = W[t * 20 + j];
    cvs__panel_pack(W, 3, 20, 20, 1, Wp);
    cvs__panel_pack(Wt, 3, 20, 1, 3, Wp2);
    cr_assert_eq(memcmp(Wp, Wp2, sizeof Wp), 0);
    for (size_t p = 0; p < 2; p++)
        for (size_t t = 0; t < 3; t++)
            for (size_t c = 0; c < CVS_PANEL; c++) {
                size_t j = p * CVS_PANEL + c;
                cr_assert_eq(Wp[(p * 3 + t) * CVS_PANEL + c], j < 20 ? W[t * 20 + j] : 0.0f);
            }
}

Test(panel, nonfinite_inputs_propagate_alike)
{
    float W[4 * 16], Wp[4 * CVS_PANEL], x[2 * 4], a[2 * 16], b[2 * 16];
    for (size_t i = 0; i < COUNT(W); i++)
        W[i] = (float)i;
    W[5] = INFINITY;
    x[0] = NAN, x[1] = 1, x[2] = 2, x[3] = 3, x[4] = 1, x[5] = -INFINITY, x[6] = 0, x[7] = 0;
    cvs__panel_pack(W, 4, 16, 16, 1, Wp);
    for (int op = 0; op < 2; op++) {
        cvs__panel_apply_scalar((cvs_panel_op)op, Wp, 4, 16, x, 4, 2, a, 16);
        if (!cvs__cpu_avx2())
            continue;
        panel_apply_avx2((cvs_panel_op)op, Wp, 4, 16, x, 4, 2, b, 16);
        for (size_t i = 0; i < 32; i++)
            cr_assert(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])), "op %d i %zu", op, i);
    }
}

/* ==== Dispatch ==== */

Test(dispatch, matches_cpu_and_environment)
{
    /* The oracle probes the CPU itself rather than through core/cpu.c, the
     * code under test: the AVX2 kernels need AVX2, FMA and BMI2. */
    __builtin_cpu_init();
    const int cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2");
    const char *impl = cvs__kernels_impl();
    const char *env = getenv("CVSTORE_SIMD");
    cr_assert_eq(cvs__cpu_avx2(), cpu, "the CPU probe ignores CVSTORE_SIMD");
    if (env && strcmp(env, "scalar") == 0)
        cr_assert_str_eq(impl, "scalar");
    else
        cr_assert_str_eq(impl, cpu ? "avx2" : "scalar");
    cr_assert_eq(cvs__simd_avx2(), strcmp(impl, "avx2") == 0);
    cr_assert_eq(cvs__kernels_impl(), impl, "the choice is made once");
    cr_assert_str_eq(cvs__panel_impl(), impl, "the LUT kernels follow the same rule");
}

/* Criterion runs every test in its own process, so the dispatcher is still
 * unresolved here and the variable set below is what it reads. */
Test(dispatch, env_forces_scalar)
{
    setenv("CVSTORE_SIMD", "scalar", 1);
    cr_assert_str_eq(cvs__kernels_impl(), "scalar");
    cr_assert_eq(atomic_load(&chosen_table), &scalar_table);
    cr_assert_str_eq(cvs__panel_impl(), "scalar");
    cr_assert_eq(cvs__simd_avx2(), 0);
    cr_assert_eq(fs4_quantize_simd(), 0, "the LUT quantizer follows the same rule");
}

static void *resolve_in_thread(void *arg)
{
    (void)arg;
    return (void *)cvs__kernels_impl();
}

Test(dispatch, concurrent_first_calls_agree)
{
    pthread_t th[8];
    void *res[8];
    for (int t = 0; t < 8; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, resolve_in_thread, NULL), 0);
    for (int t = 0; t < 8; t++)
        pthread_join(th[t], &res[t]);
    for (int t = 1; t < 8; t++)
        cr_assert_eq(res[t], res[0]);
}

Test(fs4, quantize_avx2_matches_scalar)
{
    /* The AVX2 rows must give the scalar loop's bytes exactly (same double
     * operations), NaN entries included. */
    if (!cvs__cpu_avx2())
        cr_skip_test("no AVX2 on this CPU");
    rng_seed(11);
    size_t Ms[] = {1, 3, 16, 64, 256};
    for (size_t a = 0; a < COUNT(Ms); a++) {
        size_t M = Ms[a];
        float *lut = xmalloc(M * 16 * sizeof *lut), lo[256];
        uint8_t *q1 = xmalloc(M * 16), *q2 = xmalloc(M * 16);
        for (size_t i = 0; i < M * 16; i++)
            lut[i] = rndf(-20.0f, 20.0f);
        lut[M * 16 / 2] = NAN;
        for (size_t m = 0; m < M; m++) {
            lo[m] = lut[m * 16];
            for (int j = 1; j < 16; j++)
                lo[m] = lut[m * 16 + j] < lo[m] ? lut[m * 16 + j] : lo[m];
        }
        const double inv = 255.0 / 40.0;
        fs4_quantize_rows_avx2(lut, lo, M, inv, q1);
        fs4_quantize_rows_scalar(lut, lo, M, inv, q2);
        cr_assert_arr_eq(q1, q2, M * 16, "M=%zu", M);
        free(lut);
        free(q1);
        free(q2);
    }
}

Test(fs4, row_bounds_avx2_matches_scalar)
{
    /* Row minima, widest range and sum of minima: the shuffle reduction
     * must give the compare loop's values exactly, for rows of repeated
     * entries, constant rows and rows whose extremes sit in either half. */
    if (!cvs__cpu_avx2())
        cr_skip_test("no AVX2 on this CPU");
    rng_seed(12);
    size_t Ms[] = {1, 2, 3, 16, 64, 256};
    for (size_t a = 0; a < COUNT(Ms); a++) {
        size_t M = Ms[a];
        float *lut = xmalloc(M * 16 * sizeof *lut), lo1[256], lo2[256];
        double r1, r2, b1, b2;
        for (size_t i = 0; i < M * 16; i++)
            lut[i] = (float)(int)rndf(-8.0f, 8.0f) * 0.37f + (i % 5 == 0 ? rndf(-1e3f, 1e3f) : 0);
        for (int j = 0; j < 16; j++) /* a constant row */
            lut[(M / 2) * 16 + j] = -2.5f;
        fs4_row_bounds_avx2(lut, M, lo1, &r1, &b1);
        fs4_row_bounds_scalar(lut, M, lo2, &r2, &b2);
        cr_assert_arr_eq(lo1, lo2, M * sizeof *lo1, "M=%zu", M);
        cr_assert_eq(r1, r2, "M=%zu", M);
        cr_assert_eq(b1, b2, "M=%zu", M);
        for (size_t m = 0; m < M; m++) /* and against the definition */
            for (int j = 0; j < 16; j++)
                cr_assert_leq(lo1[m], lut[m * 16 + j]);
        free(lut);
    }
}

Test(panel, blocks_equal_separate_calls)
{
    /* cvs__panel_apply_blocks must give, bit for bit, what one
     * cvs__panel_apply_scalar call per block gives, and write nothing
     * outside the blocks' outputs (the rows' slack keeps its canary). */
    static const size_t dins[] = {1, 2, 3, 4, 8};
    static const size_t nbs[] = {1, 3, 64};
    rng_seed(13);
    for (size_t a = 0; a < COUNT(dins); a++)
        for (size_t c = 0; c < COUNT(nbs); c++)
            for (size_t nq = 0; nq <= 5; nq++)
                for (int op = 0; op < 2; op++) {
                    const size_t din = dins[a], nb = nbs[c];
                    const size_t ldx = nb * din + 3, ldy = nb * CVS_PANEL + 5;
                    float *Wp = xmalloc(nb * din * CVS_PANEL * sizeof *Wp);
                    float *x = xmalloc((nq * ldx + 1) * sizeof *x);
                    float *ref = xmalloc((nq * ldy + 1) * sizeof *ref);
                    float *got = xmalloc((nq * ldy + 1) * sizeof *got);
                    float *sc = xmalloc((nq * ldy + 1) * sizeof *sc);
                    for (size_t i = 0; i < nb * din * CVS_PANEL; i++)
                        Wp[i] = rndf(-3.0f, 3.0f);
                    for (size_t i = 0; i < nq * ldx; i++)
                        x[i] = rndf(-3.0f, 3.0f);
                    for (size_t i = 0; i < nq * ldy; i++)
                        ref[i] = got[i] = sc[i] = CANARY;
                    for (size_t b = 0; b < nb; b++)
                        cvs__panel_apply_scalar((cvs_panel_op)op, Wp + b * din * CVS_PANEL, din,
                                                CVS_PANEL, x + b * din, ldx, nq,
                                                ref + b * CVS_PANEL, ldy);
                    cvs__panel_apply_blocks_scalar((cvs_panel_op)op, Wp, nb, din, x, ldx, nq, sc,
                                                   ldy);
                    cvs__panel_apply_blocks((cvs_panel_op)op, Wp, nb, din, x, ldx, nq, got, ldy);
                    cr_assert_eq(memcmp(ref, sc, nq * ldy * sizeof *ref), 0, "scalar din %zu",
                                 din);
                    cr_assert_eq(memcmp(ref, got, nq * ldy * sizeof *ref), 0,
                                 "dispatched din %zu nb %zu nq %zu op %d", din, nb, nq, op);
                    if (cvs__cpu_avx2()) {
                        for (size_t i = 0; i < nq * ldy; i++)
                            got[i] = CANARY;
                        panel_blocks_avx2((cvs_panel_op)op, Wp, nb, din, x, ldx, nq, got, ldy);
                        cr_assert_eq(memcmp(ref, got, nq * ldy * sizeof *ref), 0,
                                     "avx2 din %zu nb %zu nq %zu op %d", din, nb, nq, op);
                    }
                    free(Wp);
                    free(x);
                    free(ref);
                    free(got);
                    free(sc);
                }
}

/* The kernels' CPU rules (core/cpu.h), asked about CPUs other than this
 * one: pq's, topk's and ivf's AVX2 kernels need AVX2, FMA and BMI2, and
 * no F16C, so a CPU without F16C (a virtual machine's CPU model may hide
 * it) keeps them; only linear16's, which widen fp16, also need F16C. */
Test(cpu, only_the_fp16_kernels_need_f16c)
{
    const unsigned base = CVS_CPU_AVX2 | CVS_CPU_FMA | CVS_CPU_BMI2;
    cr_expect(cvs__cpu_rule_avx2(base), "AVX2+FMA+BMI2 without F16C runs pq's AVX2 kernels");
    cr_expect(!cvs__cpu_rule_f16c(base), "linear16's kernel needs F16C");
    cr_expect(cvs__cpu_rule_f16c(base | CVS_CPU_F16C) && cvs__cpu_rule_avx2(base | CVS_CPU_F16C));
    for (unsigned miss = CVS_CPU_AVX2; miss <= CVS_CPU_BMI2; miss <<= 1) {
        cr_expect(!cvs__cpu_rule_avx2((base | CVS_CPU_F16C) & ~miss), "without 0x%x", miss);
        cr_expect(!cvs__cpu_rule_f16c((base | CVS_CPU_F16C) & ~miss), "without 0x%x", miss);
    }
    /* This CPU's answers are the rules' over its features. */
    cr_expect_eq(cvs__cpu_avx2(), cvs__cpu_rule_avx2(cvs__cpu_features()));
    cr_expect_eq(cvs__cpu_f16c(), cvs__cpu_rule_f16c(cvs__cpu_features()));
    cr_expect(!cvs__cpu_f16c() || cvs__cpu_avx2());
}
