/*
 * topk.c -- the selection pass of a code scan: n distances, keep the best k.
 *
 * After an ADC scan every query owns a row of n distances, and the usual
 * bounded max-heap takes its top k.  Once the heap is full almost nothing
 * enters it (about k ln(n/k) of n offers for a random order), so the pass
 * is a compare-and-branch per distance.  At small code sizes that pass
 * costs as much as the scan itself: at M = 8 the 8-bit scan does 8 table
 * look-ups per code and the selection another load, add, compare and
 * branch.  FAISS's answer for its fast-scan codes is a SIMD "reservoir"
 * (Johnson, Douze, Jégou 2019 keep per-lane queues on the GPU; FAISS's CPU
 * fast scan compares 16/32 quantized distances with a threshold per
 * block).  We do the CPU version of the same idea on floats: AVX2 compares
 * 8 distances with the heap's current worst and takes the scalar push only
 * for the lanes that could enter.
 *
 * Deviation: no reservoir or approximate threshold, the heap is exact, so
 * the result equals the scalar pass bit for bit (a lane that compares equal
 * to the worst still goes to cvs__heap_push, which breaks the tie by key).
 *
 * Measured, and therefore off by default: on Fashion-MNIST's 8-byte codes
 * (60,000 codes, k = 100) the AVX2 pass made the whole scan 3.5x slower
 * than the scalar loop (61 vs 212 M codes/s, cvstore-bench codecs,
 * quiet machine).  The scalar loop's branch is almost always predicted
 * (nothing enters a full heap) and costs about a cycle per distance; the
 * mask-and-extract loop does not beat it, and the switches between 256-bit
 * compares and the pushes' scalar code cost more.  The dispatcher uses the
 * scalar pass; CVS_TOPK_AVX2=1 in the environment selects the AVX2 one for
 * experiments.  tests/test_topk.c keeps both equal.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CVS_TOPK_X86 1
#endif

#include "index/topk.h"
#include "store/filter.h"

void cvs__heap_offer_scalar(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                            size_t n)
{
    for (size_t j = 0; j < n; j++) {
        float v = d[j] + offset;
        if (h->n < h->k || v <= h->d[0])
            cvs__heap_push(h, v, keys[j]);
    }
}

#ifdef CVS_TOPK_X86
__attribute__((target("avx2"))) static void heap_offer_avx2(cvs_heap *h, const float *d,
                                                            float offset, const int64_t *keys,
                                                            size_t n)
{
    size_t j = 0;
    const __m256 off = _mm256_set1_ps(offset);
    if (h->k == 0)
        return;
    for (; j < n && h->n < h->k; j++)
        cvs__heap_push(h, d[j] + offset, keys[j]);
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(d + j), off);
        unsigned m = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(v, _mm256_set1_ps(h->d[0]), _CMP_LE_OQ));
        while (m) {
            unsigned b = (unsigned)__builtin_ctz(m);
            float x = d[j + b] + offset;
            m &= m - 1;
            if (x <= h->d[0])
                cvs__heap_push(h, x, keys[j + b]);
        }
    }
    cvs__heap_offer_scalar(h, d + j, offset, keys + j, n - j);
}
#endif

typedef void (*offer_fn)(cvs_heap *, const float *, float, const int64_t *, size_t);
static _Atomic(offer_fn) chosen;

/* Idempotent like pq/kernels.c's; the scalar pass unless CVS_TOPK_AVX2 is
 * set (see the measurement above). */
static offer_fn resolve(void)
{
    const char *env = getenv("CVSTORE_SIMD");
    if (env && strcmp(env, "scalar") == 0)
        return cvs__heap_offer_scalar;
#ifdef CVS_TOPK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && getenv("CVS_TOPK_AVX2"))
        return heap_offer_avx2;
#endif
    return cvs__heap_offer_scalar;
}

void cvs__heap_offer(cvs_heap *h, const float *d, float offset, const int64_t *keys, size_t n)
{
    offer_fn f = atomic_load_explicit(&chosen, memory_order_acquire);
    if (__builtin_expect(f == NULL, 0)) {
        f = resolve();
        atomic_store_explicit(&chosen, f, memory_order_release);
    }
    f(h, d, offset, keys, n);
}

void cvs__heap_offer_allow(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                           size_t n, const uint64_t *allow, size_t allow_words)
{
    if (!allow) {
        cvs__heap_offer(h, d, offset, keys, n);
        return;
    }
    /* Filtered scans are rarer; the bit test sits behind the distance test,
     * which rejects most codes once the heap is full. */
    for (size_t j = 0; j < n; j++) {
        float v = d[j] + offset;
        if ((h->n < h->k || v <= h->d[0]) && cvs__bit_test(allow, allow_words, keys[j]))
            cvs__heap_push(h, v, keys[j]);
    }
}
