/*
 * cpu.c -- see cpu.h.
 *
 * Both answers are cached in atomics without a lock: resolution is
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

static _Atomic int cpu_avx2 = -1, simd_avx2 = -1;

int cvs__cpu_avx2(void)
{
    int v = atomic_load_explicit(&cpu_avx2, memory_order_relaxed);
    if (__builtin_expect(v < 0, 0)) {
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        __builtin_cpu_init(); /* needed if we run before the libgcc constructor */
        /* F16C is CPUID leaf 1, ECX bit 29, asked through cpuid: clang 14
         * does not know "f16c" as a __builtin_cpu_supports feature. */
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            __builtin_cpu_supports("bmi2") && __get_cpuid(1, &a, &b, &c, &d) &&
            (c & (1u << 29));
#else
        v = 0;
#endif
        atomic_store_explicit(&cpu_avx2, v, memory_order_relaxed);
    }
    return v;
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
