/*
 * cpu.c -- see cpu.h.
 *
 * The answers are cached in atomics without a lock: resolution is
 * idempotent (every racing thread reads the same CPU and the same
 * environment and stores the same value), so whichever store wins, the value
 * is identical; no pthread_once is needed.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/cpu.h"

static _Atomic int cpu_feats = -1, simd_avx2 = -1;

unsigned cvs__cpu_features(void)
{
    int v = atomic_load_explicit(&cpu_feats, memory_order_relaxed);
    if (__builtin_expect(v < 0, 0)) {
        v = 0;
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        __builtin_cpu_init(); /* needed if we run before the libgcc constructor */
        v |= __builtin_cpu_supports("avx2") ? CVS_CPU_AVX2 : 0;
        v |= __builtin_cpu_supports("fma") ? CVS_CPU_FMA : 0;
        v |= __builtin_cpu_supports("bmi2") ? CVS_CPU_BMI2 : 0;
        /* F16C is CPUID leaf 1, ECX bit 29, asked through cpuid: clang 14
         * does not know "f16c" as a __builtin_cpu_supports feature.  Its
         * instructions are VEX-coded, usable where AVX2 is (whose check
         * includes the OS's saving of the ymm registers). */
        v |= __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) ? CVS_CPU_F16C : 0;
#endif
        atomic_store_explicit(&cpu_feats, v, memory_order_relaxed);
    }
    return (unsigned)v;
}

int cvs__cpu_rule_avx2(unsigned feats)
{
    const unsigned need = CVS_CPU_AVX2 | CVS_CPU_FMA | CVS_CPU_BMI2;
    return (feats & need) == need;
}

int cvs__cpu_rule_f16c(unsigned feats)
{
    return cvs__cpu_rule_avx2(feats) && (feats & CVS_CPU_F16C);
}

int cvs__cpu_avx2(void)
{
    return cvs__cpu_rule_avx2(cvs__cpu_features());
}

int cvs__cpu_f16c(void)
{
    return cvs__cpu_rule_f16c(cvs__cpu_features());
}

int cvs__simd_avx2(void)
{
    int v = atomic_load_explicit(&simd_avx2, memory_order_relaxed);
    if (__builtin_expect(v < 0, 0)) {
        const char *env = getenv("CVSTORE_SIMD");
        v = !(env && strcmp(env, "scalar") == 0) && cvs__cpu_avx2();
        atomic_store_explicit(&simd_avx2, v, memory_order_relaxed);
    }
    return v;
}

int cvs__simd_f16c(void)
{
    return cvs__simd_avx2() && cvs__cpu_f16c();
}
