/*
 * f16.c -- IEEE 754 binary16 <-> binary32 conversion for raw vectors kept
 * in half precision.
 *
 * Two implementations behind a function pointer picked once by CPU feature,
 * as libsodium and redis's vector sets do: F16C (VCVTPH2PS / VCVTPS2PH,
 * eight lanes, round-to-nearest-even) and a portable scalar reference that
 * always exists and that the tests compare against.  The scalar encoder
 * rounds to nearest even as well, so both agree bit for bit, subnormals,
 * infinities and NaN included.
 */
#include <stdint.h>
#include <string.h>

#include "store/db.h"

float cvs__f16_to_f32_scalar1(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    float f;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400u)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ffu;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t cvs__f32_to_f16_scalar1(float f)
{
    uint32_t x, sign, man;
    int32_t exp;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    exp = (int32_t)((x >> 23) & 0xffu);
    man = x & 0x7fffffu;
    if (exp == 255) /* inf or nan (keep nan quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    exp = exp - 127 + 15;
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        uint32_t shift, half, rest, r;
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        shift = (uint32_t)(14 - exp);
        r = man >> shift;
        rest = man & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rest > half || (rest == half && (r & 1u)))
            r++;
        return (uint16_t)(sign | r);
    }
    {
        uint32_t r = ((uint32_t)exp << 10) | (man >> 13);
        uint32_t rest = man & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (r & 1u)))
            r++; /* may carry into the exponent, up to inf: correct */
        return (uint16_t)(sign | r);
    }
}

static void to_f32_scalar(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = cvs__f16_to_f32_scalar1(in[i]);
}

static void to_f16_scalar(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = cvs__f32_to_f16_scalar1(in[i]);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx,f16c")))
static void to_f32_f16c(const uint16_t *in, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++)
        out[i] = cvs__f16_to_f32_scalar1(in[i]);
}

__attribute__((target("avx,f16c")))
static void to_f16_f16c(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        out[i] = cvs__f32_to_f16_scalar1(in[i]);
}
#endif

typedef void (*to_f32_fn)(const uint16_t *, float *, size_t);
typedef void (*to_f16_fn)(const float *, uint16_t *, size_t);
static to_f32_fn impl_to_f32;
static to_f16_fn impl_to_f16;

/* Racing threads all store the same pointers, so no lock is needed. */
static void pick(void)
{
    impl_to_f32 = to_f32_scalar;
    impl_to_f16 = to_f16_scalar;
#if defined(__x86_64__)
    /* F16C is CPUID leaf 1, ECX bit 29; asked through cpuid because clang 14
     * does not know "f16c" as a __builtin_cpu_supports feature. */
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29))) {
        impl_to_f32 = to_f32_f16c;
        impl_to_f16 = to_f16_f16c;
    }
#endif
}

void cvs__f16_to_f32(const uint16_t *in, float *out, size_t n)
{
    if (!impl_to_f32)
        pick();
    impl_to_f32(in, out, n);
}

void cvs__f32_to_f16(const float *in, uint16_t *out, size_t n)
{
    if (!impl_to_f16)
        pick();
    impl_to_f16(in, out, n);
}

void cvs__decode_vec(const cvs_db *db, const void *val, float *out)
{
    if (db->raw == CVS_RAW_F16) {
        /* LMDB values are only 2-byte aligned, which is all f16 needs. */
        cvs__f16_to_f32((const uint16_t *)val, out, db->dim);
    } else {
        memcpy(out, val, (size_t)db->dim * 4);
    }
}

void cvs__encode_vec(const cvs_db *db, const float *in, void *out)
{
    if (db->raw == CVS_RAW_F16)
        cvs__f32_to_f16(in, (uint16_t *)out, db->dim);
    else
        memcpy(out, in, (size_t)db->dim * 4);
}
