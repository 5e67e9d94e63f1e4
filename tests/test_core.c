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
#include <lmdb.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/err.h"
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

/* ==== Byte helpers ==== */

Test(bytes, little_endian_on_any_host)
{
    unsigned char b[8];
    static const unsigned char w16[2] = {0x34, 0x12};
    static const unsigned char w32[4] = {0x78, 0x56, 0x34, 0x12};
    static const unsigned char w64[8] = {0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01};
    cvs__put_u16(b, 0x1234);
    cr_assert_arr_eq(b, w16, 2);
    cvs__put_u32(b, 0x12345678u);
    cr_assert_arr_eq(b, w32, 4);
    cvs__put_u64(b, 0x0123456789abcdefull);
    cr_assert_arr_eq(b, w64, 8);
    cr_assert_eq(cvs__get_u16(w16), 0x1234);
    cr_assert_eq(cvs__get_u32(w32), 0x12345678u);
    cr_assert_eq(cvs__get_u64(w64), 0x0123456789abcdefull);
    /* Unaligned, and the top bit of every byte survives. */
    unsigned char u[9] = {0};
    cvs__put_u64(u + 1, 0xff80ff80ff80ff80ull);
    cr_assert_eq(cvs__get_u64(u + 1), 0xff80ff80ff80ff80ull);
    cr_assert_eq(cvs__get_u32(u + 1), 0xff80ff80u);
    cr_assert_eq(u[0], 0);
}

/* ==== Private return codes ==== */

Test(err, private_codes_are_distinct_and_clear_of_others)
{
    static const int priv[] = {CVS__MAPFULL, CVS__EAUTH, CVS__EDAMAGED, CVS__RELOAD, CVS__STALE};
    static const int pub[] = {CVS_NOTFOUND, CVS_EINVAL,  CVS_ENOMEM,    CVS_EIO,   CVS_EFORMAT,
                              CVS_EVERSION, CVS_EDIM,    CVS_EINPUT,    CVS_EEXIST, CVS_ECORRUPT,
                              CVS_ELMDB,    CVS_EFAISS,  CVS_ERDONLY,   CVS_EINTERNAL, CVS_EBUSY,
                              CVS_EKEY,     CVS_ECONFLICT, CVS_EFORK};
    const size_t np = sizeof priv / sizeof priv[0], nq = sizeof pub / sizeof pub[0];
    for (size_t i = 0; i < np; i++) {
        cr_assert_lt(priv[i], 0);
        for (size_t j = i + 1; j < np; j++)
            cr_assert_neq(priv[i], priv[j], "private codes %zu and %zu collide", i, j);
        for (size_t j = 0; j < nq; j++)
            cr_assert_neq(priv[i], pub[j], "private code %d is a public one", priv[i]);
        cr_assert(priv[i] < MDB_KEYEXIST || priv[i] > MDB_LAST_ERRCODE,
                  "private code %d is in LMDB's range", priv[i]);
        cr_assert_str_eq(cvs_strerror(priv[i]), "unknown error");
    }
}

/* ==== Did you mean ==== */

Test(suggest, the_nearest_name_within_its_reach)
{
    static const char *const f[] = {"id", "vector", "text", "title", "meta", "token_budget"};
    const size_t n = sizeof f / sizeof f[0];
    cr_assert_str_eq(cvs_suggest("Text", f, n), "text", "case is ignored");
    cr_assert_str_eq(cvs_suggest("txt", f, n), "text", "one edit of a short name");
    cr_assert_str_eq(cvs_suggest("vecotr", f, n), "vector", "a swap is one edit");
    cr_assert_str_eq(cvs_suggest("vctr", f, n), "vector", "two edits of a longer name");
    cr_assert_str_eq(cvs_suggest("titel", f, n), "title");
    cr_assert_str_eq(cvs_suggest("metadata", f, n), "meta", "held in the word");
    cr_assert_str_eq(cvs_suggest("budget", f, n), "token_budget", "held in the name");
    cr_assert_str_eq(cvs_suggest("ip", f, n), "id");
    cr_assert_null(cvs_suggest("xy", f, n), "two edits of a two-letter name are too far");
    cr_assert_null(cvs_suggest("source", f, n));
    cr_assert_null(cvs_suggest("tx", f, n), "containment needs three letters");
    cr_assert_str_eq(cvs_suggest("tile", f, n), "title", "the nearest wins (title 1, text 2)");
    cr_assert_null(cvs_suggest(NULL, f, n));
    cr_assert_null(cvs_suggest("a_very_long_key_that_is_nothing_like_any_field_at_all", f, n));
}
