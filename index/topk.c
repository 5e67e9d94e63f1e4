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
 * 16 distances with the heap's current worst and takes the scalar pushes
 * only for the blocks that hold a candidate.
 *
 * Deviation: no reservoir or approximate threshold, the heap is exact, so
 * the result equals the scalar pass bit for bit (a lane that compares equal
 * to the worst still goes to cvs__heap_push, which breaks the tie by key).
 *
 * History, and why the 256-bit loop is now a function of its own: the
 * first AVX2 pass measured 3.5x slower than the scalar loop on Fashion-
 * MNIST's 8-byte codes (61 vs 212 M codes/s) and was left off.  The cause
 * was not the compares: it called cvs__heap_push, SSE-encoded code, from
 * inside the 256-bit loop, with the offset and threshold vectors live
 * across the call, so the upper halves of the ymm registers stayed dirty;
 * on the development machine (AMD EPYC, Zen 3 family, virtualized) SSE
 * code run in that state is several times slower.  Now only
 * next_candidates uses 256-bit registers, and it returns (GCC emits
 * vzeroupper there) before any push.  A micro-benchmark of the pass alone
 * (60,000 random distances in chunks of 2,048, k = 100) then gave
 * 0.8-1.0 ns per distance against 1.5-3.0 for the scalar loop, and the
 * dispatcher picks it (CVSTORE_SIMD=scalar still forces the scalar one).
 * tests/test_topk.c keeps both equal.
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
/* The first block of 16 at or after j (j + 16 <= n) holding a sum
 * d[i] + offset <= thr, or the first j' with j' + 16 > n if none.  Only
 * this loop is 256-bit code, and it returns (vzeroupper) before any push:
 * cvs__heap_push is SSE code, and entering SSE code with dirty upper
 * register halves is what made the first version of this pass slow (see
 * the top). */
__attribute__((target("avx2"))) static size_t next_candidates(const float *d, size_t j, size_t n,
                                                              float offset, float thr)
{
    const __m256 off = _mm256_set1_ps(offset), t = _mm256_set1_ps(thr);
    for (; j + 16 <= n; j += 16) {
        __m256 a = _mm256_add_ps(_mm256_loadu_ps(d + j), off);
        __m256 b = _mm256_add_ps(_mm256_loadu_ps(d + j + 8), off);
        __m256 m = _mm256_or_ps(_mm256_cmp_ps(a, t, _CMP_LE_OQ), _mm256_cmp_ps(b, t, _CMP_LE_OQ));
        if (!_mm256_testz_ps(m, m))
            break;
    }
    return j;
}

static void heap_offer_avx2(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                            size_t n)
{
    size_t j = 0;
    if (h->k == 0)
        return;
    for (; j < n && h->n < h->k; j++)
        cvs__heap_push(h, d[j] + offset, keys[j]);
    /* The threshold only falls, so a block skipped against it holds no
     * candidate for the heap as it is afterwards either. */
    while ((j = next_candidates(d, j, n, offset, h->d[0])) + 16 <= n) {
        for (size_t i = j; i < j + 16; i++) {
            float v = d[i] + offset;
            if (v <= h->d[0])
                cvs__heap_push(h, v, keys[i]);
        }
        j += 16;
    }
    cvs__heap_offer_scalar(h, d + j, offset, keys + j, n - j);
}
#endif

typedef void (*offer_fn)(cvs_heap *, const float *, float, const int64_t *, size_t);
static _Atomic(offer_fn) chosen;

/* Idempotent like pq/kernels.c's. */
static offer_fn resolve(void)
{
    const char *env = getenv("CVSTORE_SIMD");
    if (env && strcmp(env, "scalar") == 0)
        return cvs__heap_offer_scalar;
#ifdef CVS_TOPK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
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
