/*
 * kernels.c -- distance kernels over product-quantization codes.
 *
 * Two scans, both "asymmetric distance computation" (ADC) in the sense of
 * Jégou, Douze & Schmid, "Product quantization for nearest neighbor search"
 * (TPAMI 2011): for one query we precompute a look-up table (LUT) holding,
 * for every sub-quantizer m and centroid j, the partial distance between the
 * query's m-th sub-vector and centroid j; the distance to a code is then the
 * sum of M table entries, one per sub-quantizer, selected by the code.
 *
 *  - adc8: 8-bit codes (256 centroids per sub-quantizer), float LUT.  Each
 *    code costs M independent random loads into a LUT of M KiB, so the
 *    scan is bound by load and integer-ALU throughput, not arithmetic, and
 *    AVX2 has no cheap 256-entry float table look-up (vgatherdps is one,
 *    but slow on the machine we measured).  The "avx2" kernel is therefore
 *    a carefully scheduled scalar loop: 8 codes interleaved, code bytes
 *    read 8 at a time, the LUT blocked to stay in L1 (adc8_scan_x8).
 *
 *  - fs4: 4-bit codes (16 centroids per sub-quantizer), "fast scan" after
 *    André, Kermarrec & Le Scouarnec, "Cache locality is not enough:
 *    high-performance nearest neighbor search with product quantization
 *    fast scan" (VLDB 2015) and "Accelerated nearest neighbor search with
 *    Quick ADC" (ICMR 2017), as also done by FAISS's IndexPQFastScan.  A
 *    16-entry table of bytes fits in one 128-bit register, so pshufb
 *    (_mm256_shuffle_epi8) performs 32 table look-ups in one instruction,
 *    provided (a) the LUT is quantized to uint8 (cvs__fs4_quantize_lut) and
 *    (b) codes are transposed so that one 32-byte load brings the same
 *    sub-quantizers of 32 different vectors (cvs__fs4_pack).
 *
 * ==== The fast-scan packed layout (in-memory only, not on disk) ====
 *
 *   P      = ceil(M/2)                pairs of sub-quantizers (= bytes of a
 *                                     plain 4-bit code)
 *   block  = 32 codes, P*32 bytes     block b holds codes 32b .. 32b+31
 *   byte   packed[b*P*32 + p*32 + j]  = byte p of the plain code of vector
 *                                       i = 32b + j, i.e.
 *                                       low  nibble: sub-quantizer 2p,
 *                                       high nibble: sub-quantizer 2p+1.
 *
 * So a block is simply the 32 x P byte matrix of its plain codes,
 * transposed: row p (32 bytes, one AVX2 register) holds pair p of the 32
 * codes in natural order j = 0..31.  Padding is zero: codes past n in the
 * last block are all-zero, and for odd M the high nibble of the last pair
 * (the missing sub-quantizer M) is zero.  cvs__fs4_packed_size(n, M) =
 * ceil(n/32) * P * 32 bytes; the buffer needs no particular alignment.
 *
 * ==== Deviations from the papers (and from FAISS) ====
 *
 *  1. adc8 returns all n distances into a caller buffer; it does not keep
 *     the top-k heap inside the scan as FAISS's IndexPQ does.  Selection is
 *     the caller's job (a bounded heap), which keeps the kernel testable
 *     and lets the same scan serve re-ranking.
 *  2. The paper's ADC scan is one code at a time.  Ours interleaves 8
 *     codes and, for M > 32, visits sub-quantizers in chunks over blocks of
 *     codes so that the LUT chunk stays in L1 (see adc8_scan_x8).  Each
 *     code is still summed in reference order, so it is bit-identical to
 *     the scalar reference.  The gather alternative (not dispatched) sums
 *     in another order and agrees to ~1e-6 of sum_m |entry|; the tests
 *     allow 1e-5 of that.
 *  3. Packed layout: André et al. and FAISS permute codes inside a block so
 *     that each 128-bit lane works on its own subset of vectors and the
 *     nibble split needs no cross-lane fix-up.  We keep the natural order
 *     (a block is a plain transpose, see above), broadcast each 16-byte
 *     table to both lanes instead, and pay 4 shuffles per 32 codes at the
 *     end to put the u16 sums back in order.  In exchange packing,
 *     unpacking (cvs__fs4_get) and the scalar reference are trivial, and a
 *     packed byte is byte-for-byte a plain code byte.
 *  4. LUT quantization: one global scale, per-sub-quantizer bias, rounding
 *     to nearest, no clipping (FAISS does the same; Quick ADC instead clips
 *     to a range estimated from a first sample of distances and sums in u8
 *     with saturation).  Every entry is representable, so the only error is
 *     rounding: see cvs__fs4_quantize_lut for the bound.
 *  5. Accumulation is in u16 with plain (wrapping) 16-bit adds, never
 *     saturating ones: each entry is <= 255, so a sum of M entries is
 *     <= 255*M <= 65535 for M <= 257, and within that range modular
 *     arithmetic gives the exact sum (the even/odd byte trick below relies
 *     on this: its intermediate values do wrap).  The header's contract
 *     M <= 256 is therefore safe; at M >= 258 sums would wrap silently.
 *  6. Odd M is supported by padding a zero sub-quantizer; the kernels skip
 *     its look-up entirely (so qlut needs only M*16 bytes, not P*32).
 *  7. André et al. 2015 ("PQ Fast Scan") keep 8-bit codes, group vectors by
 *     their first components and use small in-register tables only for
 *     lower bounds, re-checking candidates with the full tables.  We follow
 *     the 2017 Quick ADC variant instead: the codes themselves are 4-bit,
 *     the shuffled sums are the (quantized) distances, no grouping and no
 *     lower-bound pass.  Re-ranking of the best candidates with exact
 *     distances is left to the caller.
 *  8. Multi-query adc8 (cvs__adc8_scan_multi).  The paper, FAISS's IndexPQ
 *     and cvs__adc8_scan score one query per pass over the codes.  Batched
 *     searches instead score CVS_ADC8_QBLOCK = 8 queries per pass: their
 *     LUTs are interleaved once per block (cvs__adc8_interleave) so that
 *     the 8 queries' entries for one centroid are adjacent,
 *     lutq[(m*256 + j)*8 + q]; one code byte then costs one 32-byte load
 *     and one vaddps for 8 queries, instead of 8 scalar loads and adds in
 *     8 passes.  The interleaved LUT is 8x larger (8 KiB per sub-quantizer,
 *     so it lives in L2, and the scan is blocked over sub-quantizers as
 *     adc8_scan_x8 is), but sums are still in reference order, bit-
 *     identical to cvs__adc8_scan_scalar per query.  Measured below: ~3.4x
 *     fewer ns per (query, code) than adc8 x8 at every M.  Q = 8 is one
 *     __m256; chunks of 2, 4, 16 or all sub-quantizers and a round-robin
 *     order of the 8 codes' adds all measured the same or worse, within
 *     noise, than chunks of 8.
 *
 * ==== Measured (bench_kernels.c; AMD EPYC Zen 4 VM, shared, 1 thread) ====
 *
 * ns per code, n = 1e5, best of 5, quiet moments (the machine is shared and
 * noisy; spreads of +-30% between runs were seen):
 *
 *              adc8 scalar  adc8 avx2 (x8)   fs4 scalar  fs4 avx2
 *     M = 8        3.0          1.9             2.8        0.13
 *     M = 16       6.5          3.5             5.3        0.24
 *     M = 32      16.0          7.0            10.0        0.54
 *     M = 64      37-43        17-19           19          1.0
 *
 * adc8 multi-query (deviation 8), nq = 8, same conditions, ns per
 * (query, code), interleaving included (it adds ~2%): 0.57-0.64 /
 * 1.05-1.15 / 2.1-2.2 / 4.6-4.8 at M = 8/16/32/64.
 *
 * fs4 at M = 32 and 64 is partly bound by memory: n = 1e5 packed codes are
 * 1.6 and 3.2 MB, beyond the 1 MiB L2.
 *
 * For scale, FAISS 1.7.3 as Debian builds it (generic x86-64), 1 thread,
 * nq = 16, timed interleaved with these kernels (min of 11): IndexPQ 8-bit
 * 2.4-2.6 / 4.2-5.8 / 12.2-12.7 / 26.6-30.5 ns/code at M = 8/16/32/64,
 * i.e. only 1.1-1.35x slower than adc8 above: its scalar scan is already
 * load-bound too.  IndexPQFastScan (PQ{M}x4fs, SIMD emulated in scalar C++
 * in that build): 5.8-6.5 / 11.5-15.4 / 31-34 / 40-74 ns/code, 30-50x
 * slower than fs4 above.
 */
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "pq/kernels.h"

#define FS4_BLOCK 32 /* codes per packed block: one AVX2 register of bytes */

/* ==== adc8: scalar ==== */

/* The reference: one code at a time, sub-quantizers in order, one float
 * accumulator.  Everything else is checked against this. */
void cvs__adc8_scan_scalar(const float *lut, const uint8_t *codes, size_t n, size_t M, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * M;
        float s = 0.0f;
        for (size_t m = 0; m < M; m++)
            s += lut[m * 256 + c[m]];
        out[i] = s;
    }
}

/* The same sums over codes S bytes apart (S >= M). */
void cvs__adc8_scan_strided_scalar(const float *lut, const uint8_t *codes, size_t n, size_t M,
                                   size_t S, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * S;
        float s = 0.0f;
        for (size_t m = 0; m < M; m++)
            s += lut[m * 256 + c[m]];
        out[i] = s;
    }
}

/* ==== adc8: AVX2, chosen kernel: 8 interleaved codes, blocked over M ====
 *
 * Why not SIMD arithmetic: an 8-bit ADC scan does one random load per
 * sub-quantizer and one add; the add is free, the loads are the cost.  So
 * the kernel is about issuing loads as fast as the ports allow:
 *
 *  - 8 codes are interleaved, one accumulator each, so 8 add chains are in
 *    flight (a single code's sum is a chain of M dependent adds, 3-4
 *    cycles each, which caps a plain loop far below load throughput).
 *  - Code bytes are read 8 at a time with a 64-bit load and extracted with
 *    shifts (BMI2 shrx): shifts run on ALU ports the loop leaves idle,
 *    while byte loads would compete with the LUT loads.
 *  - Adds are written as _mm_add_ss(acc, _mm_load_ss(p)): one fused vaddss
 *    with a memory operand per look-up.  Plain C here gets
 *    "SLP-vectorized" by GCC 12 at -O2 into one vector accumulator fed by
 *    vinsertps, which is slower than scalar.
 *  - The LUT is M KiB; at M = 64 it no longer fits a 32 KiB L1d.  So for
 *    M > ADC8_MC the scan is blocked:
 *    for each block of ADC8_NB codes, sub-quantizers are visited in chunks
 *    of ADC8_MC (32 KiB of LUT), partial sums parked in out[].  At M = 64
 *    this took the scan from ~25-28 to ~17-19 ns/code on the development
 *    machine; chunks of 16 measured the same at M = 64 within noise but
 *    cost ~10% at M = 32, which 32 does not split.
 *
 * Each code is still summed in the reference order (storing a partial sum
 * to out[] and reloading it does not change its value), so this kernel is
 * bit-identical to cvs__adc8_scan_scalar; the tests check equality.
 *
 * Measured alternative, kept below as adc8_scan_gather and in the bench:
 * vgatherdps over 8 sub-quantizers of a code.  On the development machine
 * (AMD EPYC, Zen 4, where a ymm gather issues as ~8 loads plus overhead) it
 * was 1.5-2x slower than this kernel at every M.  Gathers are relatively
 * better on Intel since Skylake; if cvstore is tuned for Intel hosts, rerun
 * bench_kernels there before switching ADC8_AVX2_CHOICE. */

#ifndef ADC8_MC
#define ADC8_MC 32 /* sub-quantizers per chunk: 32 KiB of LUT */
#endif
#ifndef ADC8_NB
#define ADC8_NB 128 /* codes per block: <= 8 KiB of codes at M = 64 */
#endif

#define ADC8_ADD(k, b)                                                                             \
    acc##k = _mm_add_ss(acc##k, _mm_load_ss(L + (b) * 256 + ((w##k >> (8 * (b))) & 0xff)))

#define ADC8_STEP8(k)                                                                              \
    do {                                                                                           \
        uint64_t w##k;                                                                             \
        memcpy(&w##k, c + (k) * M + m, 8);                                                         \
        ADC8_ADD(k, 0);                                                                            \
        ADC8_ADD(k, 1);                                                                            \
        ADC8_ADD(k, 2);                                                                            \
        ADC8_ADD(k, 3);                                                                            \
        ADC8_ADD(k, 4);                                                                            \
        ADC8_ADD(k, 5);                                                                            \
        ADC8_ADD(k, 6);                                                                            \
        ADC8_ADD(k, 7);                                                                            \
    } while (0)

#define ADC8_TAIL(k) acc##k = _mm_add_ss(acc##k, _mm_load_ss(lut + m * 256 + c[(k) * M + m]))

/* Sub-quantizers [m0, m1) of the 8 codes at c (stride M) into out[0..7];
 * first: start from 0, else continue the partial sums in out. */
__attribute__((target("avx2,bmi2"))) static inline void adc8_x8_range(const float *lut,
                                                                     const uint8_t *c, size_t M,
                                                                     size_t m0, size_t m1,
                                                                     int first, float *out)
{
    __m128 acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7;
    if (first) {
        acc0 = acc1 = acc2 = acc3 = acc4 = acc5 = acc6 = acc7 = _mm_setzero_ps();
    } else {
        acc0 = _mm_load_ss(out), acc1 = _mm_load_ss(out + 1);
        acc2 = _mm_load_ss(out + 2), acc3 = _mm_load_ss(out + 3);
        acc4 = _mm_load_ss(out + 4), acc5 = _mm_load_ss(out + 5);
        acc6 = _mm_load_ss(out + 6), acc7 = _mm_load_ss(out + 7);
    }
    size_t m = m0;
    for (; m + 8 <= m1; m += 8) {
        const float *L = lut + m * 256;
        ADC8_STEP8(0);
        ADC8_STEP8(1);
        ADC8_STEP8(2);
        ADC8_STEP8(3);
        ADC8_STEP8(4);
        ADC8_STEP8(5);
        ADC8_STEP8(6);
        ADC8_STEP8(7);
    }
    for (; m < m1; m++) {
        ADC8_TAIL(0);
        ADC8_TAIL(1);
        ADC8_TAIL(2);
        ADC8_TAIL(3);
        ADC8_TAIL(4);
        ADC8_TAIL(5);
        ADC8_TAIL(6);
        ADC8_TAIL(7);
    }
    _mm_store_ss(out, acc0), _mm_store_ss(out + 1, acc1);
    _mm_store_ss(out + 2, acc2), _mm_store_ss(out + 3, acc3);
    _mm_store_ss(out + 4, acc4), _mm_store_ss(out + 5, acc5);
    _mm_store_ss(out + 6, acc6), _mm_store_ss(out + 7, acc7);
}

/* Codes at a stride S >= M bytes (RaBitQ codes carry factors after their
 * M table bytes); adc8_x8_range only ever uses its M as the stride. */
__attribute__((target("avx2,bmi2"))) static void adc8_scan_x8_strided(const float *lut,
                                                                     const uint8_t *codes,
                                                                     size_t n, size_t M,
                                                                     size_t S, float *out)
{
    if (M == 0) { /* no chunk would write out[]; the reference gives 0 */
        for (size_t i = 0; i < n; i++)
            out[i] = 0.0f;
        return;
    }
    for (size_t i0 = 0; i0 < n; i0 += ADC8_NB) {
        const size_t nb = n - i0 < ADC8_NB ? n - i0 : ADC8_NB;
        for (size_t m0 = 0; m0 < M; m0 += ADC8_MC) {
            const size_t m1 = M - m0 < ADC8_MC ? M : m0 + ADC8_MC;
            size_t i = i0;
            for (; i + 8 <= i0 + nb; i += 8)
                adc8_x8_range(lut, codes + i * S, S, m0, m1, m0 == 0, out + i);
            for (; i < i0 + nb; i++) { /* < 8 codes left in the block */
                const uint8_t *c = codes + i * S;
                float s = m0 == 0 ? 0.0f : out[i];
                for (size_t m = m0; m < m1; m++)
                    s += lut[m * 256 + c[m]];
                out[i] = s;
            }
        }
    }
}

__attribute__((target("avx2,bmi2"))) static void adc8_scan_x8(const float *lut,
                                                             const uint8_t *codes, size_t n,
                                                             size_t M, float *out)
{
    adc8_scan_x8_strided(lut, codes, n, M, M, out);
}

/* ==== adc8: AVX2, measured alternative: gathers ==== */

/* Sums of each of 8 vectors, as one vector: out[k] = sum(a_k).  Three
 * levels of hadd plus one cross-lane add; cheaper than 8 separate
 * horizontal sums and gives one store for 8 codes. */
__attribute__((target("avx2"))) static inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2,
                                                           __m256 a3, __m256 a4, __m256 a5,
                                                           __m256 a6, __m256 a7)
{
    __m256 h01 = _mm256_hadd_ps(a0, a1), h23 = _mm256_hadd_ps(a2, a3);
    __m256 h45 = _mm256_hadd_ps(a4, a5), h67 = _mm256_hadd_ps(a6, a7);
    __m256 q0 = _mm256_hadd_ps(h01, h23); /* [a0..a3 low halves | a0..a3 high halves] */
    __m256 q1 = _mm256_hadd_ps(h45, h67); /* same for a4..a7 */
    __m256 lo = _mm256_permute2f128_ps(q0, q1, 0x20);
    __m256 hi = _mm256_permute2f128_ps(q0, q1, 0x31);
    return _mm256_add_ps(lo, hi);
}

/* One code's gathered partial sums for sub-quantizers [0, M8). */
__attribute__((target("avx2"))) static inline __m256 adc8_gather_one(const float *lut,
                                                                   const uint8_t *c, size_t M8)
{
    const __m256i step = _mm256_set1_epi32(8 * 256);
    __m256i offs = _mm256_setr_epi32(0, 256, 2 * 256, 3 * 256, 4 * 256, 5 * 256, 6 * 256, 7 * 256);
    __m256 acc = _mm256_setzero_ps();
    for (size_t m = 0; m < M8; m += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(c + m));
        __m256i idx = _mm256_add_epi32(_mm256_cvtepu8_epi32(b), offs);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(lut, idx, 4));
        offs = _mm256_add_epi32(offs, step);
    }
    return acc;
}

/* 8 codes per iteration, each code's sub-quantizers 8 at a time; those
 * past the last multiple of 8 are added in scalar.  M < 8 has nothing to
 * gather and goes to adc8_scan_x8.  Sums in a different order than the
 * reference (deviation 2).  Not dispatched ("unused" silences the warning
 * in kernels.o); kept compiled, tested and benchmarked so the choice can be
 * re-measured on another CPU. */
__attribute__((target("avx2"), unused)) static void adc8_scan_gather(const float *lut,
                                                             const uint8_t *codes, size_t n,
                                                             size_t M, float *out)
{
    const size_t M8 = M & ~(size_t)7;
    if (M8 == 0) {
        adc8_scan_x8(lut, codes, n, M, out);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint8_t *c = codes + i * M;
        __m256 s = hsum8x8(adc8_gather_one(lut, c, M8), adc8_gather_one(lut, c + M, M8),
                           adc8_gather_one(lut, c + 2 * M, M8), adc8_gather_one(lut, c + 3 * M, M8),
                           adc8_gather_one(lut, c + 4 * M, M8), adc8_gather_one(lut, c + 5 * M, M8),
                           adc8_gather_one(lut, c + 6 * M, M8), adc8_gather_one(lut, c + 7 * M, M8));
        if (M8 != M) {
            float t[8];
            for (int k = 0; k < 8; k++) {
                float r = 0.0f;
                for (size_t m = M8; m < M; m++)
                    r += lut[m * 256 + c[k * M + m]];
                t[k] = r;
            }
            s = _mm256_add_ps(s, _mm256_loadu_ps(t));
        }
        _mm256_storeu_ps(out + i, s);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * M;
        __m256 a = adc8_gather_one(lut, c, M8);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_hadd_ps(h, h);
        h = _mm_hadd_ps(h, h);
        float r = _mm_cvtss_f32(h);
        for (size_t m = M8; m < M; m++)
            r += lut[m * 256 + c[m]];
        out[i] = r;
    }
}

/* The kernel behind the "avx2" name; overridable with -D for benchmarking
 * on another microarchitecture.  Note kernels.h promises bit-identical
 * results: switching to adc8_scan_gather would break that promise (and the
 * "x8"-only exactness test would then have to become a tolerance test). */
#ifndef ADC8_AVX2_CHOICE
#define ADC8_AVX2_CHOICE adc8_scan_x8
#endif

/* ==== adc8: multi-query (deviation 8) ==== */

#define ADC8Q CVS_ADC8_QBLOCK /* queries per pass: one __m256 of floats */

/* Row-major over (m, j), queries inner: the writes are sequential and the
 * nq sources are read as nq forward streams. */
void cvs__adc8_interleave(const float *const *luts, size_t nq, size_t M, float *lutq)
{
    const size_t rows = M * 256;
    for (size_t r = 0; r < rows; r++) {
        float *d = lutq + r * ADC8Q;
        size_t q = 0;
        for (; q < nq; q++)
            d[q] = luts[q][r];
        for (; q < ADC8Q; q++)
            d[q] = 0.0f;
    }
}

/* The reference: query by query, code by code, sub-quantizers in order,
 * one float accumulator -- the same sums, in the same order, as
 * cvs__adc8_scan_scalar on query q's own LUT. */
void cvs__adc8_scan_multi_scalar(const float *lutq, size_t nq, const uint8_t *codes, size_t n,
                                 size_t M, float *out)
{
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < n; i++) {
            const uint8_t *c = codes + i * M;
            float s = 0.0f;
            for (size_t m = 0; m < M; m++)
                s += lutq[(m * 256 + c[m]) * ADC8Q + q];
            out[q * n + i] = s;
        }
}

/* AVX2: per code, one accumulator vector holds its 8 queries' sums; each
 * code byte costs one shift-and-mask and one vaddps with a 32-byte memory
 * operand.  8 codes in flight (8 independent add chains), code bytes read 8
 * at a time as in adc8_x8_range.  The interleaved LUT is 8 KiB per
 * sub-quantizer, so it does not fit L1 for any useful M: the scan is
 * blocked as adc8_scan_x8 is, ADC8Q_NB codes at a time, sub-quantizers in
 * chunks of ADC8Q_MC, partial sums parked code-major in a small buffer
 * (part[code * 8 + q]); at the end of a block an 8x8 transpose turns 8
 * codes x 8 queries into 8 query rows of out.  Storing and reloading a
 * partial sum does not change it, so each sum is still in reference order
 * and bit-identical to the scalar. */
#ifndef ADC8Q_MC
#define ADC8Q_MC 8
#endif
#ifndef ADC8Q_NB
#define ADC8Q_NB 256
#endif

/* Entry of centroid byte b of word w for sub-quantizer m + b; Lc is the
 * byte address of sub-quantizer m's rows, each row 32 bytes. */
#define ADC8Q_LOOK(w, b)                                                                           \
    _mm256_loadu_ps((const float *)(Lc + (b) * (256 * ADC8Q * 4) +                                \
                                    ((((w) >> (8 * (b))) & 0xff) * (ADC8Q * 4))))
#define ADC8Q_ADD(k, w, b) acc##k = _mm256_add_ps(acc##k, ADC8Q_LOOK(w, b))

#define ADC8Q_STEP8(k)                                                                             \
    do {                                                                                           \
        uint64_t w##k;                                                                             \
        memcpy(&w##k, c + (k) * M + m, 8);                                                         \
        ADC8Q_ADD(k, w##k, 0);                                                                     \
        ADC8Q_ADD(k, w##k, 1);                                                                     \
        ADC8Q_ADD(k, w##k, 2);                                                                     \
        ADC8Q_ADD(k, w##k, 3);                                                                     \
        ADC8Q_ADD(k, w##k, 4);                                                                     \
        ADC8Q_ADD(k, w##k, 5);                                                                     \
        ADC8Q_ADD(k, w##k, 6);                                                                     \
        ADC8Q_ADD(k, w##k, 7);                                                                     \
    } while (0)

#define ADC8Q_STEP4(k)                                                                             \
    do {                                                                                           \
        uint32_t w##k;                                                                             \
        memcpy(&w##k, c + (k) * M + m, 4);                                                         \
        ADC8Q_ADD(k, w##k, 0);                                                                     \
        ADC8Q_ADD(k, w##k, 1);                                                                     \
        ADC8Q_ADD(k, w##k, 2);                                                                     \
        ADC8Q_ADD(k, w##k, 3);                                                                     \
    } while (0)

#define ADC8Q_STEP1(k)                                                                             \
    acc##k = _mm256_add_ps(acc##k, _mm256_loadu_ps(Lc + (size_t)c[(k) * M + m] * ADC8Q))

#define ADC8Q_ALL(S)                                                                               \
    do {                                                                                           \
        S(0);                                                                                      \
        S(1);                                                                                      \
        S(2);                                                                                      \
        S(3);                                                                                      \
        S(4);                                                                                      \
        S(5);                                                                                      \
        S(6);                                                                                      \
        S(7);                                                                                      \
    } while (0)

/* Sub-quantizers [m0, m1) of the 8 codes at c (stride M) into
 * part[k*8 .. k*8+7], k < 8; first: start from 0, else continue. */
__attribute__((target("avx2,bmi2"))) static inline void adc8q_x8_range(const float *lutq,
                                                                      const uint8_t *c, size_t M,
                                                                      size_t m0, size_t m1,
                                                                      int first, float *part)
{
    __m256 acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7;
    if (first) {
        acc0 = acc1 = acc2 = acc3 = acc4 = acc5 = acc6 = acc7 = _mm256_setzero_ps();
    } else {
        acc0 = _mm256_loadu_ps(part), acc1 = _mm256_loadu_ps(part + 8);
        acc2 = _mm256_loadu_ps(part + 16), acc3 = _mm256_loadu_ps(part + 24);
        acc4 = _mm256_loadu_ps(part + 32), acc5 = _mm256_loadu_ps(part + 40);
        acc6 = _mm256_loadu_ps(part + 48), acc7 = _mm256_loadu_ps(part + 56);
    }
    size_t m = m0;
    for (; m + 8 <= m1; m += 8) {
        const char *Lc = (const char *)(lutq + m * 256 * ADC8Q);
        ADC8Q_ALL(ADC8Q_STEP8);
    }
    for (; m + 4 <= m1; m += 4) {
        const char *Lc = (const char *)(lutq + m * 256 * ADC8Q);
        ADC8Q_ALL(ADC8Q_STEP4);
    }
    for (; m < m1; m++) {
        const float *Lc = lutq + m * 256 * ADC8Q;
        ADC8Q_ALL(ADC8Q_STEP1);
    }
    _mm256_storeu_ps(part, acc0), _mm256_storeu_ps(part + 8, acc1);
    _mm256_storeu_ps(part + 16, acc2), _mm256_storeu_ps(part + 24, acc3);
    _mm256_storeu_ps(part + 32, acc4), _mm256_storeu_ps(part + 40, acc5);
    _mm256_storeu_ps(part + 48, acc6), _mm256_storeu_ps(part + 56, acc7);
}

/* The same for one code (the < 8 codes left at the end of a block). */
__attribute__((target("avx2"))) static inline void adc8q_x1_range(const float *lutq,
                                                                 const uint8_t *c, size_t m0,
                                                                 size_t m1, int first, float *part)
{
    __m256 acc = first ? _mm256_setzero_ps() : _mm256_loadu_ps(part);
    for (size_t m = m0; m < m1; m++)
        acc = _mm256_add_ps(acc, _mm256_loadu_ps(lutq + (m * 256 + c[m]) * ADC8Q));
    _mm256_storeu_ps(part, acc);
}

/* part holds 8 codes x 8 queries (code-major); writes query q's 8 sums to
 * out + q*n for q < nq.  Standard 8x8 transpose: unpack, shuffle, then
 * swap 128-bit halves. */
__attribute__((target("avx2"))) static inline void adc8q_store8(const float *part, size_t nq,
                                                               size_t n, float *out)
{
    __m256 r0 = _mm256_loadu_ps(part), r1 = _mm256_loadu_ps(part + 8);
    __m256 r2 = _mm256_loadu_ps(part + 16), r3 = _mm256_loadu_ps(part + 24);
    __m256 r4 = _mm256_loadu_ps(part + 32), r5 = _mm256_loadu_ps(part + 40);
    __m256 r6 = _mm256_loadu_ps(part + 48), r7 = _mm256_loadu_ps(part + 56);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    __m256 col[8];
    col[0] = _mm256_permute2f128_ps(s0, s4, 0x20), col[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    col[1] = _mm256_permute2f128_ps(s1, s5, 0x20), col[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    col[2] = _mm256_permute2f128_ps(s2, s6, 0x20), col[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    col[3] = _mm256_permute2f128_ps(s3, s7, 0x20), col[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
    for (size_t q = 0; q < nq; q++)
        _mm256_storeu_ps(out + q * n, col[q]);
}

__attribute__((target("avx2,bmi2"))) static void adc8_scan_multi_avx2(const float *lutq,
                                                                     size_t nq,
                                                                     const uint8_t *codes,
                                                                     size_t n, size_t M,
                                                                     float *out)
{
    float part[ADC8Q_NB * ADC8Q];
    if (M == 0) { /* no chunk would write part[]; the reference gives 0 */
        for (size_t q = 0; q < nq; q++)
            for (size_t i = 0; i < n; i++)
                out[q * n + i] = 0.0f;
        return;
    }
    for (size_t i0 = 0; i0 < n; i0 += ADC8Q_NB) {
        const size_t nb = n - i0 < ADC8Q_NB ? n - i0 : ADC8Q_NB;
        const uint8_t *cb = codes + i0 * M;
        for (size_t m0 = 0; m0 < M; m0 += ADC8Q_MC) {
            const size_t m1 = M - m0 < ADC8Q_MC ? M : m0 + ADC8Q_MC;
            size_t i = 0;
            for (; i + 8 <= nb; i += 8)
                adc8q_x8_range(lutq, cb + i * M, M, m0, m1, m0 == 0, part + i * ADC8Q);
            for (; i < nb; i++)
                adc8q_x1_range(lutq, cb + i * M, m0, m1, m0 == 0, part + i * ADC8Q);
        }
        size_t i = 0;
        for (; i + 8 <= nb; i += 8)
            adc8q_store8(part + i * ADC8Q, nq, n, out + i0 + i);
        for (; i < nb; i++)
            for (size_t q = 0; q < nq; q++)
                out[q * n + i0 + i] = part[i * ADC8Q + q];
    }
}

/* ==== fs4: packing ==== */

size_t cvs__fs4_packed_size(size_t n, size_t M)
{
    size_t nblocks = (n + FS4_BLOCK - 1) / FS4_BLOCK;
    return nblocks * ((M + 1) / 2) * FS4_BLOCK;
}

void cvs__fs4_pack(const uint8_t *codes4, size_t n, size_t M, uint8_t *packed)
{
    const size_t P = (M + 1) / 2;
    /* For odd M the plain layout leaves the last byte's high nibble unused;
     * callers may leave garbage there, the packed layout promises zero. */
    const uint8_t last_mask = (M & 1) ? 0x0f : 0xff;
    const size_t nblocks = (n + FS4_BLOCK - 1) / FS4_BLOCK;
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t *blk = packed + b * P * FS4_BLOCK;
        for (size_t j = 0; j < FS4_BLOCK; j++) {
            size_t i = b * FS4_BLOCK + j;
            if (i < n) {
                const uint8_t *c = codes4 + i * P;
                for (size_t p = 0; p < P; p++)
                    blk[p * FS4_BLOCK + j] = c[p];
                if (P)
                    blk[(P - 1) * FS4_BLOCK + j] &= last_mask;
            } else {
                for (size_t p = 0; p < P; p++)
                    blk[p * FS4_BLOCK + j] = 0;
            }
        }
    }
}

void cvs__fs4_get(const uint8_t *packed, size_t i, size_t M, uint8_t *code4)
{
    const size_t P = (M + 1) / 2;
    const uint8_t *blk = packed + (i / FS4_BLOCK) * P * FS4_BLOCK;
    const size_t j = i % FS4_BLOCK;
    for (size_t p = 0; p < P; p++)
        code4[p] = blk[p * FS4_BLOCK + j];
}

/* ==== fs4: LUT quantization ====
 *
 * bias_m = min_j lut[m][j], range_m = max_j lut[m][j] - bias_m,
 * scale = max_m range_m / 255, qlut[m][j] = round((lut[m][j] - bias_m) /
 * scale), bias = sum_m bias_m.
 *
 * Error bound.  The arithmetic is done in double, so up to double rounding
 * (~1e-16 relative) every entry satisfies
 *     |lut[m][j] - (bias_m + scale * qlut[m][j])| <= scale / 2,
 * and for any code c
 *     |sum_m lut[m][c_m] - (bias + scale * sum_m qlut[m][c_m])|
 *         <= M * scale / 2 + |bias| * 2^-24,
 * the last term being the rounding of bias to float.  (A caller who then
 * evaluates bias + scale * sum in float adds its own rounding, a few ulps of
 * the result.)  The bound is worst case; rounding errors of random entries
 * mostly cancel and the typical error is ~ sqrt(M/12) * scale.
 *
 * Degenerate and invalid input: when every sub-table is constant
 * (max range 0) the quantization is exact; we return scale = 1 and all-zero
 * qlut so that scale is always > 0 and callers may divide by it.  Entries
 * must be finite; NaN or infinities give unspecified qlut values (but no
 * undefined behaviour: values are clamped to [0, 255] before conversion). */
static int fs4_quantize_simd(void)
{
    return cvs__simd_avx2();
}

/* qlut[m][j] = round((lut[m][j] - lo[m]) * inv), clamped to [0, 255]. */
static void fs4_quantize_rows_scalar(const float *lut, const float *lo, size_t M, double inv,
                                     uint8_t *qlut)
{
    for (size_t m = 0; m < M; m++) {
        const float *t = lut + m * 16;
        const double l = lo[m];
        for (int j = 0; j < 16; j++) {
            double x = ((double)t[j] - l) * inv;
            x = x > 0.0 ? x : 0.0; /* also catches NaN */
            x = x < 255.0 ? x : 255.0;
            qlut[m * 16 + j] = (uint8_t)(int)(x + 0.5);
        }
    }
}

/* The same, 4 entries per step, in the same double operations (so the
 * same bytes; max with 0 first maps NaN to 0 too). */
__attribute__((target("avx2"))) static void fs4_quantize_rows_avx2(const float *lut,
                                                                   const float *lo, size_t M,
                                                                   double inv, uint8_t *qlut)
{
    const __m256d vinv = _mm256_set1_pd(inv), zero = _mm256_setzero_pd(),
                  top = _mm256_set1_pd(255.0), half = _mm256_set1_pd(0.5);
    for (size_t m = 0; m < M; m++) {
        const __m256d l = _mm256_set1_pd((double)lo[m]);
        __m128i q[4];
        for (int c = 0; c < 4; c++) {
            __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(lut + m * 16 + 4 * c));
            x = _mm256_mul_pd(_mm256_sub_pd(x, l), vinv);
            x = _mm256_max_pd(x, zero); /* second operand on NaN: 0 */
            x = _mm256_min_pd(x, top);
            q[c] = _mm256_cvttpd_epi32(_mm256_add_pd(x, half));
        }
        __m128i w = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
        _mm_storeu_si128((__m128i *)(void *)(qlut + m * 16), w);
    }
}

/* Row minima lo[m], the widest row's range max_m (hi_m - lo_m) in double
 * and the sum of the minima in double, in the order m = 0, 1, ...  */
static void fs4_row_bounds_scalar(const float *lut, size_t M, float *lo, double *range,
                                  double *bsum)
{
    double r0 = 0.0, b = 0.0;
    for (size_t m = 0; m < M; m++) {
        const float *t = lut + m * 16;
        float l = t[0], hi = t[0];
        for (int j = 1; j < 16; j++) {
            l = t[j] < l ? t[j] : l;
            hi = t[j] > hi ? t[j] : hi;
        }
        double r = (double)hi - (double)l;
        if (r > r0)
            r0 = r;
        b += l;
        lo[m] = l;
    }
    *range = r0;
    *bsum = b;
}

/* The same, a row's 16 entries in two registers reduced by shuffles: the
 * minimum and maximum of finite floats do not depend on the order they
 * are taken in, and the double sums run in the scalar loop's order, so
 * the results are the scalar ones (rows with NaN: unspecified, as there). */
__attribute__((target("avx2"))) static void fs4_row_bounds_avx2(const float *lut, size_t M,
                                                                float *lo, double *range,
                                                                double *bsum)
{
    double r0 = 0.0, b = 0.0;
    for (size_t m = 0; m < M; m++) {
        const __m256 v0 = _mm256_loadu_ps(lut + m * 16), v1 = _mm256_loadu_ps(lut + m * 16 + 8);
        __m256 mn = _mm256_min_ps(v0, v1), mx = _mm256_max_ps(v0, v1);
        __m128 n4 = _mm_min_ps(_mm256_castps256_ps128(mn), _mm256_extractf128_ps(mn, 1));
        __m128 x4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        n4 = _mm_min_ps(n4, _mm_movehl_ps(n4, n4));
        x4 = _mm_max_ps(x4, _mm_movehl_ps(x4, x4));
        n4 = _mm_min_ss(n4, _mm_movehdup_ps(n4));
        x4 = _mm_max_ss(x4, _mm_movehdup_ps(x4));
        const float l = _mm_cvtss_f32(n4), hi = _mm_cvtss_f32(x4);
        const double r = (double)hi - (double)l;
        if (r > r0)
            r0 = r;
        b += l;
        lo[m] = l;
    }
    *range = r0;
    *bsum = b;
}

void cvs__fs4_quantize_lut(const float *lut, size_t M, uint8_t *qlut, float *scale, float *bias)
{
    /* Runs once per query (per probed list with l2 residual codes), so it
     * is vectorized: row minima kept rather than recomputed, rounding by
     * +0.5 and truncation instead of a libm nearbyint call per entry (ties
     * round up instead of to even; the bound is the same), and the row
     * bounds taken by shuffles rather than a compare per entry (that loop
     * alone was 8% of a SIFT10K IVF query at M = 64). */
    float lo[256]; /* M <= 256: the header's contract */
    double range = 0.0, bsum = 0.0;
    if (M > 256)
        M = 256;
    if (fs4_quantize_simd())
        fs4_row_bounds_avx2(lut, M, lo, &range, &bsum);
    else
        fs4_row_bounds_scalar(lut, M, lo, &range, &bsum);
    /* The scale actually used is the float we hand back, so quantize
     * against that value, not the exact quotient: the bound above then
     * holds for what the caller computes with. */
    float s = (float)(range / 255.0);
    if (!(s > 0.0f) || isinf(s))
        s = range > 0.0 ? (float)range : 1.0f; /* 0, denormal underflow, or inf range */
    const double inv = 1.0 / (double)s;
    if (fs4_quantize_simd())
        fs4_quantize_rows_avx2(lut, lo, M, inv, qlut);
    else
        fs4_quantize_rows_scalar(lut, lo, M, inv, qlut);
    *scale = s;
    *bias = (float)bsum;
}

/* ==== fs4: scalar ==== */

/* Reference over the packed layout.  Sums in 32 bits and truncates: equal
 * to the u16 SIMD result whenever the sum fits, i.e. M <= 257. */
void cvs__fs4_scan_scalar(const uint8_t *packed, size_t nblocks, size_t M, const uint8_t *qlut,
                          uint16_t *out)
{
    const size_t P = (M + 1) / 2, full = M / 2;
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = packed + b * P * FS4_BLOCK;
        for (size_t j = 0; j < FS4_BLOCK; j++) {
            uint32_t s = 0;
            for (size_t p = 0; p < full; p++) {
                uint8_t x = blk[p * FS4_BLOCK + j];
                s += qlut[(2 * p) * 16 + (x & 15)] + qlut[(2 * p + 1) * 16 + (x >> 4)];
            }
            if (M & 1) /* last pair: sub-quantizer M-1 only, high nibble is padding */
                s += qlut[(M - 1) * 16 + (blk[full * FS4_BLOCK + j] & 15)];
            out[b * FS4_BLOCK + j] = (uint16_t)s;
        }
    }
}

/* ==== fs4: AVX2 ====
 *
 * Per pair p and block: one 32-byte load x (pair p of codes 0..31),
 * lo = x & 0x0f, hi = (x >> 4) & 0x0f (16-bit shift; the mask removes the
 * bits shifted in from the neighbour byte), then two pshufb against the
 * 16-byte tables of sub-quantizers 2p and 2p+1, each broadcast to both
 * 128-bit lanes (pshufb never crosses lanes; broadcasting makes each lane
 * see the whole table).  Byte j of the result is the entry of code j.
 *
 * Widening 32 bytes to u16 without unpacking (the trick FAISS uses): read
 * the result r as 16 u16 words, word k = r[2k] + 256 * r[2k+1].  Keep
 *     accw += r          (mod 2^16)
 *     acco += r >> 8     (the odd bytes alone; no wrap since <= 65535)
 * then sum of even bytes = accw - (acco << 8) mod 2^16, exact because the
 * true sum fits in 16 bits (deviation 5).  Even words hold codes
 * 0,2,..,30, acco holds codes 1,3,..,31; unpacklo/hi_epi16 interleave them
 * back per lane and two permute2x128 restore order 0..31.
 *
 * Four blocks per iteration share each table load (two, then one, for
 * the rest): a SIFT10K list of ~156 codes is 5 blocks, which as 2 + 2 + 1
 * loaded the tables 3 times per pair and as 4 + 1 twice (8 accumulators,
 * two tables and the mask still fit AVX2's 16 registers): 31,800 -> 30,300
 * scan instructions per query at nprobe 11 of 64 lists. */
__attribute__((target("avx2"))) static inline void fs4_finish(__m256i accw, __m256i acco,
                                                             uint16_t *out)
{
    __m256i even = _mm256_sub_epi16(accw, _mm256_slli_epi16(acco, 8));
    __m256i a = _mm256_unpacklo_epi16(even, acco); /* codes 0..7  | 16..23 */
    __m256i b = _mm256_unpackhi_epi16(even, acco); /* codes 8..15 | 24..31 */
    _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 16), _mm256_permute2x128_si256(a, b, 0x31));
}

#define FS4_ACC(accw, acco, r)                                                                     \
    do {                                                                                           \
        accw = _mm256_add_epi16(accw, r);                                                          \
        acco = _mm256_add_epi16(acco, _mm256_srli_epi16(r, 8));                                    \
    } while (0)

__attribute__((target("avx2"))) static void fs4_scan_avx2(const uint8_t *packed, size_t nblocks,
                                                          size_t M, const uint8_t *qlut,
                                                          uint16_t *out)
{
    const size_t P = (M + 1) / 2, full = M / 2, bstride = P * FS4_BLOCK;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const uint8_t *odd_tab = (M & 1) ? qlut + (M - 1) * 16 : qlut; /* read only if M is odd */
    size_t b = 0;
    for (; b + 4 <= nblocks; b += 4) {
        const uint8_t *b0 = packed + b * bstride;
        __m256i w0 = _mm256_setzero_si256(), o0 = w0, w1 = w0, o1 = w0;
        __m256i w2 = w0, o2 = w0, w3 = w0, o3 = w0;
#define FS4_BLK(i, w, o)                                                                           \
    do {                                                                                           \
        __m256i x = _mm256_loadu_si256((const __m256i *)(b0 + (i) * bstride + p * FS4_BLOCK));    \
        FS4_ACC(w, o, _mm256_shuffle_epi8(ta, _mm256_and_si256(x, low4)));                         \
        FS4_ACC(w, o, _mm256_shuffle_epi8(tb, _mm256_and_si256(_mm256_srli_epi16(x, 4), low4)));   \
    } while (0)
        for (size_t p = 0; p < full; p++) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qlut + 32 * p)));
            __m256i tb = _mm256_broadcastsi128_si256(
                _mm_loadu_si128((const __m128i *)(qlut + 32 * p + 16)));
            FS4_BLK(0, w0, o0);
            FS4_BLK(1, w1, o1);
            FS4_BLK(2, w2, o2);
            FS4_BLK(3, w3, o3);
        }
#undef FS4_BLK
        if (M & 1) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)odd_tab));
            const uint8_t *x = b0 + full * FS4_BLOCK;
            FS4_ACC(w0, o0, _mm256_shuffle_epi8(ta, _mm256_and_si256(
                                                        _mm256_loadu_si256((const __m256i *)x), low4)));
            FS4_ACC(w1, o1, _mm256_shuffle_epi8(ta, _mm256_and_si256(_mm256_loadu_si256(
                                                        (const __m256i *)(x + bstride)), low4)));
            FS4_ACC(w2, o2, _mm256_shuffle_epi8(ta, _mm256_and_si256(_mm256_loadu_si256(
                                                        (const __m256i *)(x + 2 * bstride)), low4)));
            FS4_ACC(w3, o3, _mm256_shuffle_epi8(ta, _mm256_and_si256(_mm256_loadu_si256(
                                                        (const __m256i *)(x + 3 * bstride)), low4)));
        }
        fs4_finish(w0, o0, out + b * FS4_BLOCK);
        fs4_finish(w1, o1, out + (b + 1) * FS4_BLOCK);
        fs4_finish(w2, o2, out + (b + 2) * FS4_BLOCK);
        fs4_finish(w3, o3, out + (b + 3) * FS4_BLOCK);
    }
    if (b + 2 <= nblocks) {
        const uint8_t *b0 = packed + b * bstride, *b1 = b0 + bstride;
        __m256i w0 = _mm256_setzero_si256(), o0 = w0, w1 = w0, o1 = w0;
        for (size_t p = 0; p < full; p++) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qlut + 32 * p)));
            __m256i tb = _mm256_broadcastsi128_si256(
                _mm_loadu_si128((const __m128i *)(qlut + 32 * p + 16)));
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(b0 + p * FS4_BLOCK));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(b1 + p * FS4_BLOCK));
            __m256i l0 = _mm256_and_si256(x0, low4);
            __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(x0, 4), low4);
            __m256i l1 = _mm256_and_si256(x1, low4);
            __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(x1, 4), low4);
            __m256i r;
            r = _mm256_shuffle_epi8(ta, l0);
            FS4_ACC(w0, o0, r);
            r = _mm256_shuffle_epi8(tb, h0);
            FS4_ACC(w0, o0, r);
            r = _mm256_shuffle_epi8(ta, l1);
            FS4_ACC(w1, o1, r);
            r = _mm256_shuffle_epi8(tb, h1);
            FS4_ACC(w1, o1, r);
        }
        if (M & 1) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)odd_tab));
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(b0 + full * FS4_BLOCK));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(b1 + full * FS4_BLOCK));
            __m256i r;
            r = _mm256_shuffle_epi8(ta, _mm256_and_si256(x0, low4));
            FS4_ACC(w0, o0, r);
            r = _mm256_shuffle_epi8(ta, _mm256_and_si256(x1, low4));
            FS4_ACC(w1, o1, r);
        }
        fs4_finish(w0, o0, out + b * FS4_BLOCK);
        fs4_finish(w1, o1, out + (b + 1) * FS4_BLOCK);
        b += 2;
    }
    if (b < nblocks) { /* odd block count: the same, one block */
        const uint8_t *b0 = packed + b * bstride;
        __m256i w0 = _mm256_setzero_si256(), o0 = w0;
        for (size_t p = 0; p < full; p++) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qlut + 32 * p)));
            __m256i tb = _mm256_broadcastsi128_si256(
                _mm_loadu_si128((const __m128i *)(qlut + 32 * p + 16)));
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(b0 + p * FS4_BLOCK));
            __m256i r;
            r = _mm256_shuffle_epi8(ta, _mm256_and_si256(x0, low4));
            FS4_ACC(w0, o0, r);
            r = _mm256_shuffle_epi8(tb, _mm256_and_si256(_mm256_srli_epi16(x0, 4), low4));
            FS4_ACC(w0, o0, r);
        }
        if (M & 1) {
            __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)odd_tab));
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(b0 + full * FS4_BLOCK));
            __m256i r = _mm256_shuffle_epi8(ta, _mm256_and_si256(x0, low4));
            FS4_ACC(w0, o0, r);
        }
        fs4_finish(w0, o0, out + b * FS4_BLOCK);
    }
}

/* ==== Dispatch ==== */

typedef void (*adc8_fn)(const float *, const uint8_t *, size_t, size_t, float *);
typedef void (*fs4_fn)(const uint8_t *, size_t, size_t, const uint8_t *, uint16_t *);
typedef void (*adc8q_fn)(const float *, size_t, const uint8_t *, size_t, size_t, float *);

typedef void (*adc8s_fn)(const float *, const uint8_t *, size_t, size_t, size_t, float *);

typedef struct kernel_table {
    const char *name;
    adc8_fn adc8;
    fs4_fn fs4;
    adc8q_fn adc8q;
    adc8s_fn adc8s;
} kernel_table;

static const kernel_table scalar_table = {"scalar", cvs__adc8_scan_scalar, cvs__fs4_scan_scalar,
                                          cvs__adc8_scan_multi_scalar,
                                          cvs__adc8_scan_strided_scalar};
static const kernel_table avx2_table = {"avx2", ADC8_AVX2_CHOICE, fs4_scan_avx2,
                                        adc8_scan_multi_avx2, adc8_scan_x8_strided};

/* Resolution is idempotent: every thread that races here computes the same
 * pointer (same CPU, same environment) and stores it; whichever store wins,
 * the value is identical.  So a plain atomic pointer suffices, no lock and
 * no pthread_once.  (Changing CVSTORE_SIMD after the first call has no
 * effect.) */
static _Atomic(const kernel_table *) chosen_table;

static const kernel_table *resolve(void)
{
    if (cvs__simd_avx2())
        return &avx2_table;
    return &scalar_table;
}

static inline const kernel_table *kernels(void)
{
    const kernel_table *t = atomic_load_explicit(&chosen_table, memory_order_acquire);
    if (__builtin_expect(t == NULL, 0)) {
        t = resolve();
        atomic_store_explicit(&chosen_table, t, memory_order_release);
    }
    return t;
}

void cvs__adc8_scan(const float *lut, const uint8_t *codes, size_t n, size_t M, float *out)
{
    kernels()->adc8(lut, codes, n, M, out);
}

void cvs__adc8_scan_strided(const float *lut, const uint8_t *codes, size_t n, size_t M, size_t S,
                            float *out)
{
    kernels()->adc8s(lut, codes, n, M, S, out);
}

void cvs__adc8_scan_multi(const float *lutq, size_t nq, const uint8_t *codes, size_t n, size_t M,
                          float *out)
{
    kernels()->adc8q(lutq, nq, codes, n, M, out);
}

void cvs__fs4_scan(const uint8_t *packed, size_t nblocks, size_t M, const uint8_t *qlut,
                   uint16_t *out)
{
    kernels()->fs4(packed, nblocks, M, qlut, out);
}

const char *cvs__kernels_impl(void)
{
    return kernels()->name;
}

void cvs__fs4_set(uint8_t *packed, size_t i, size_t M, const uint8_t *code4)
{
    const size_t P = (M + 1) / 2;
    uint8_t *blk = packed + (i / FS4_BLOCK) * P * FS4_BLOCK;
    const size_t j = i % FS4_BLOCK;
    for (size_t p = 0; p < P; p++)
        blk[p * FS4_BLOCK + j] = code4[p];
    if (P && (M & 1)) /* the packed layout promises a zero unused nibble */
        blk[(P - 1) * FS4_BLOCK + j] &= 0x0f;
}
