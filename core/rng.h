/*
 * rng.h -- the library's one seeded PRNG (internal, header-only).
 *
 * splitmix64 (Steele, Lea, Flood 2014): tiny, full-period, and independent
 * of libc, so a seed gives the same codebooks, training samples and fuzz
 * mutations on every platform.  The state is a plain uint64_t owned by the
 * caller; any value is a valid seed.
 */
#ifndef CVS_CORE_RNG_H
#define CVS_CORE_RNG_H

#include <stdint.h>

/* Advances *s and returns the next 64 random bits. */
static inline uint64_t cvs__rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below
 * 2^-32 for the sizes we use, irrelevant for sampling). */
static inline uint64_t cvs__rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)cvs__rng_next(s) * n) >> 64);
}

#endif
