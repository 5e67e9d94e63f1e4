/*
 * kernels.h -- distance kernels over product-quantization codes (internal).
 *
 * Conventions shared by every kernel:
 *  - A look-up table (LUT) for one query holds, for each sub-quantizer m and
 *    centroid j, the contribution of that centroid to the query's distance,
 *    "smaller is better" (squared L2 of the sub-vectors, or the negated
 *    inner product).  Layout: lut[m * ksub + j], ksub = 256 (8-bit) or 16.
 *  - 8-bit codes: n codes of M bytes each, row-major (code i at codes + i*M).
 *  - 4-bit codes, "plain" layout: n codes of ceil(M/2) bytes each; sub-
 *    quantizer m is the low nibble of byte m/2 when m is even, the high
 *    nibble when odd.  The fast-scan kernels use a packed block layout made
 *    by cvs__fs4_pack (documented in kernels.c), 32 codes per block.
 *  - Every SIMD kernel has a scalar reference with the same signature,
 *    exported for the tests; the plain names dispatch once, by CPU feature.
 */
#ifndef CVS_PQ_KERNELS_H
#define CVS_PQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* out[i] = sum_m lut[m*256 + codes[i*M + m]] for i < n.  The AVX2 kernel
 * adds in the same order as the scalar one: results are bit-identical. */
void cvs__adc8_scan(const float *lut, const uint8_t *codes, size_t n, size_t M, float *out);
void cvs__adc8_scan_scalar(const float *lut, const uint8_t *codes, size_t n, size_t M, float *out);

/* The same sums for codes S >= M bytes apart (code i at codes + i*S; bytes
 * past M are not read): RaBitQ codes keep their factors there.  AVX2 and
 * scalar are bit-identical, as for cvs__adc8_scan. */
void cvs__adc8_scan_strided(const float *lut, const uint8_t *codes, size_t n, size_t M, size_t S,
                            float *out);
void cvs__adc8_scan_strided_scalar(const float *lut, const uint8_t *codes, size_t n, size_t M,
                                   size_t S, float *out);

/* Multi-query 8-bit scan: up to CVS_ADC8_QBLOCK queries per pass over the
 * codes, so each code byte is read once and selects one contiguous vector
 * of CVS_ADC8_QBLOCK floats (one AVX2 load) holding all the queries'
 * entries for that centroid.  Interleaved LUT layout ("lutq"):
 *     lutq[(m*256 + j) * CVS_ADC8_QBLOCK + q] = lut of query q [m*256 + j]. */
#define CVS_ADC8_QBLOCK 8
/* Interleaves nq (<= CVS_ADC8_QBLOCK) float LUTs (each M*256, layout of
 * cvs__adc8_scan) into lutq (M*256*CVS_ADC8_QBLOCK floats, caller-owned;
 * missing queries' entries zero).  luts[q] is only read, for q < nq. */
void cvs__adc8_interleave(const float *const *luts, size_t nq, size_t M, float *lutq);
/* out[q*n + i] = sum_m lutq[(m*256 + codes[i*M+m])*QBLOCK + q] for q < nq,
 * i < n; out (caller-owned) holds nq*n floats, rows q >= nq are not
 * written.  Each sum is in the order of cvs__adc8_scan_scalar, so both
 * implementations give, bit for bit, what nq separate cvs__adc8_scan calls
 * on the original LUTs give.  nq <= CVS_ADC8_QBLOCK. */
void cvs__adc8_scan_multi(const float *lutq, size_t nq, const uint8_t *codes, size_t n, size_t M,
                          float *out);
void cvs__adc8_scan_multi_scalar(const float *lutq, size_t nq, const uint8_t *codes, size_t n,
                                 size_t M, float *out);

/* Bytes of the fast-scan layout for n codes of M 4-bit sub-quantizers
 * (M rounded up to even, n rounded up to a multiple of 32). */
size_t cvs__fs4_packed_size(size_t n, size_t M);
/* Plain 4-bit codes -> packed blocks; padding codes are zero.  For odd M
 * the unused high nibble of each code's last byte is ignored (packed as 0). */
void cvs__fs4_pack(const uint8_t *codes4, size_t n, size_t M, uint8_t *packed);
/* Reads code i back out of the packed layout into plain 4-bit form
 * (ceil(M/2) bytes); used by tests and by deletes that move codes. */
void cvs__fs4_get(const uint8_t *packed, size_t i, size_t M, uint8_t *code4);
/* Writes plain 4-bit code4 as code i of the packed layout (the inverse of
 * cvs__fs4_get); the IVF lists append and move codes with it. */
void cvs__fs4_set(uint8_t *packed, size_t i, size_t M, const uint8_t *code4);

/* Quantizes a float LUT (M x 16) to bytes for the fast-scan kernel:
 * lut[m][j] ~= bias_m + qlut[m][j] * scale, one scale for all m, so that
 * sum_m lut ~= bias + scale * sum_m qlut, with bias = sum_m bias_m.
 * Error: |sum_m lut - (bias + scale * sum_m qlut)| <= M*scale/2 (+ float
 * rounding of bias).  *scale is always > 0 (1 when every row is constant).
 * Entries must be finite.  The u16 accumulators cannot overflow for
 * M <= 256. */
void cvs__fs4_quantize_lut(const float *lut, size_t M, uint8_t *qlut, float *scale, float *bias);

/* out[i] = sum_m qlut[m*16 + code_i[m]] for all codes of nblocks packed
 * blocks (out has nblocks*32 entries; those past the last real code are
 * padding, to be ignored).  qlut holds M*16 bytes; M <= 256.  AVX2 byte
 * shuffles (André et al.) when available; bit-identical to the scalar. */
void cvs__fs4_scan(const uint8_t *packed, size_t nblocks, size_t M, const uint8_t *qlut,
                   uint16_t *out);
void cvs__fs4_scan_scalar(const uint8_t *packed, size_t nblocks, size_t M, const uint8_t *qlut,
                          uint16_t *out);

/* Which implementation the dispatcher picked: "avx2" or "scalar".  The
 * environment variable CVSTORE_SIMD=scalar forces the scalar kernels. */
const char *cvs__kernels_impl(void);

#endif
