/*
 * hash.h -- FNV-1a, 32-bit (Fowler, Noll, Vo): a tiny byte hash for
 * fingerprints that need no resistance to chosen input (a stored text's
 * fingerprint in the sentence table, word sets of near-copy tests).  The
 * sentence table stores these values (docs/FORMAT.md), so the constants
 * are part of the format.  Internal.
 */
#ifndef CVS_CORE_HASH_H
#define CVS_CORE_HASH_H

#include <stdint.h>

#define CVS__FNV32_BASIS 2166136261u

/* The hash h extended by one byte c. */
static inline uint32_t cvs__fnv32_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

#endif
