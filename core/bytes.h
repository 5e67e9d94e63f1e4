/*
 * bytes.h -- little-endian fixed-width fields (internal, header-only).
 *
 * Every on-disk integer of cvstore is little-endian (docs/FORMAT.md).  These
 * helpers assemble and split the bytes explicitly, so they are right on any
 * host; compilers turn each into one unaligned load or store on
 * little-endian machines.  p need not be aligned.
 */
#ifndef CVS_CORE_BYTES_H
#define CVS_CORE_BYTES_H

#include <stdint.h>

static inline void cvs__put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void cvs__put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void cvs__put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t cvs__get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t cvs__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t cvs__get_u64(const unsigned char *p)
{
    return (uint64_t)cvs__get_u32(p) | (uint64_t)cvs__get_u32(p + 4) << 32;
}

#endif
