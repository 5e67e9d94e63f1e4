/*
 * test_core.c -- Criterion unit tests for the bottom layer, core/: the
 * seeded PRNG, the little-endian byte helpers and the private return codes.
 *
 * Oracles: the PRNG against the first outputs of the splitmix64 reference
 * implementation (Vigna, prng.di.unimi.it/splitmix64.c) from seed 0, which
 * every stored codebook and training sample depends on; the byte helpers
 * against byte orders written out by hand.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "core/rng.h"

/* ==== PRNG ==== */

Test(rng, matches_splitmix64_reference)
{
    uint64_t s = 0;
    cr_assert_eq(cvs__rng_next(&s), 0xE220A8397B1DCDAFull);
    cr_assert_eq(cvs__rng_next(&s), 0x6E789E6AA1B965F4ull);
    cr_assert_eq(cvs__rng_next(&s), 0x06C45D188009454Full);
    cr_assert_eq(s, 3 * 0x9E3779B97F4A7C15ull, "the state advances by the golden gamma");
}

Test(rng, below_stays_in_range_and_is_seeded)
{
    uint64_t a = 7, b = 7, seen = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = cvs__rng_below(&a, 5);
        cr_assert_lt(x, 5);
        cr_assert_eq(x, cvs__rng_below(&b, 5), "same seed, same sequence");
        seen |= 1ull << x;
    }
    cr_assert_eq(seen, 0x1f, "every value of [0, 5) comes up in 1000 draws");
    cr_assert_eq(cvs__rng_below(&a, 1), 0);
}
