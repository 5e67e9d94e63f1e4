/*
 * cpu.h -- the one answer to "may the AVX2 kernels run?" (internal).
 *
 * Every SIMD dispatcher in the library (pq/kernels.c, pq/panel.c,
 * index/topk.c, index/ivf.c, index/ivf_search.c) asks cvs__simd_avx2() and
 * nothing else, so they all follow one rule: the CPU has AVX2 with FMA and
 * BMI2 (the union of the kernels' target attributes; every x86 CPU with AVX2
 * has the other two, but a kernel must never run on a CPU lacking a feature
 * it was compiled for), and the environment variable CVSTORE_SIMD is not
 * "scalar".  query/linear16.c's kernels also widen fp16 (F16C) and ask
 * cvs__simd_f16c(), the same rule with F16C added: a CPU (or a virtual
 * machine's CPU model) with AVX2 but no F16C runs linear16's scalar
 * reference and keeps every other AVX2 kernel, which need no F16C.  The
 * variable is read here only, once per process: changing it after the
 * first call has no effect.
 */
#ifndef CVS_CORE_CPU_H
#define CVS_CORE_CPU_H

/* The features the rules look at, as CVS_CPU_* bits (cvs__cpu_features:
 * this CPU's, 0 on non-x86 builds), and the rules themselves over any set
 * of them, so that tests can ask about CPUs other than theirs. */
#define CVS_CPU_AVX2 0x1u
#define CVS_CPU_FMA 0x2u
#define CVS_CPU_BMI2 0x4u
#define CVS_CPU_F16C 0x8u
unsigned cvs__cpu_features(void);
int cvs__cpu_rule_avx2(unsigned feats); /* AVX2, FMA and BMI2 */
int cvs__cpu_rule_f16c(unsigned feats); /* those and F16C */

/* 1 if the CPU can run the AVX2 kernels (AVX2, FMA, BMI2), whatever
 * CVSTORE_SIMD says; 0 otherwise and on non-x86 builds.  Tests use it to
 * call the AVX2 kernels directly against the scalar reference. */
int cvs__cpu_avx2(void);

/* 1 if the CPU can run linear16's AVX2 kernels: cvs__cpu_avx2() and F16C. */
int cvs__cpu_f16c(void);

/* 1 if the dispatchers should pick the AVX2 kernels: cvs__cpu_avx2() and
 * CVSTORE_SIMD is not "scalar".  Computed on the first call and cached. */
int cvs__simd_avx2(void);

/* cvs__simd_avx2() and F16C: linear16's dispatcher. */
int cvs__simd_f16c(void);

#endif
