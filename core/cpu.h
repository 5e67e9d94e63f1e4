/*
 * cpu.h -- the one answer to "may the AVX2 kernels run?" (internal).
 *
 * Every SIMD dispatcher in the library (pq/kernels.c, pq/panel.c,
 * index/topk.c, index/ivf.c, index/ivf_search.c, query/linear16.c) asks
 * cvs__simd_avx2() and nothing else, so they all follow one rule: the CPU
 * has AVX2 with FMA, BMI2 and F16C (the union of the kernels' target
 * attributes; every x86 CPU with AVX2 has the other three, but a kernel must
 * never run on a CPU lacking a feature it was compiled for), and the
 * environment variable CVSTORE_SIMD is not "scalar".  The variable is read
 * here only, once per process: changing it after the first call has no
 * effect.
 */
#ifndef CVS_CORE_CPU_H
#define CVS_CORE_CPU_H

/* 1 if the CPU can run the AVX2 kernels (AVX2, FMA, BMI2, F16C), whatever
 * CVSTORE_SIMD says; 0 otherwise and on non-x86 builds.  Tests use it to
 * call the AVX2 kernels directly against the scalar reference. */
int cvs__cpu_avx2(void);

/* 1 if the dispatchers should pick the AVX2 kernels: cvs__cpu_avx2() and
 * CVSTORE_SIMD is not "scalar".  Computed on the first call and cached. */
int cvs__simd_avx2(void);

#endif
