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
 * Deviation: the threshold is exact, never approximate, so the heap ends
 * with the same k (distance, key) pairs as the scalar pass, and
 * cvs__heap_sort gives them in the same order bit for bit (a distance equal
 * to the worst is still a candidate, and ties break by key).  Only the
 * heap's slot layout before the sort may differ.
 *
 * Later: gather, then select.  Pushing every candidate as it comes cost
 * about 560 pushes per row of 10,000 (k ln(n/k) + k), each a sift-down
 * through 7 levels with an unpredictable branch per level: on SIFT10K at
 * 8 bytes the heap took 3.7x the time of the scan kernel, and the 8-bit
 * scan ran at only 1.42x FAISS's.  Now the pass (1) guesses a first
 * threshold, when the heap is empty and the row long, from 128 evenly
 * spaced distances, at the rank where about 2.5 k of the row pass; (2)
 * gathers the distances at or under the threshold into a stack buffer, an
 * AVX2 compare giving a bit mask whose set bits are copied; (3) merges the
 * buffer into the heap: by pushes when it holds at most k, otherwise by
 * selecting the best k of buffer and heap together (quickselect with a
 * branchless partition) and rebuilding the heap bottom-up.  A guess that
 * turns out too tight (fewer than k pass) is made good by pushing the rest
 * of the row afterwards, so it costs time, never results.  The
 * micro-benchmark described below (random distances in chunks of 2,048,
 * k = 100, sort included): rows of 10,000, the SIFT10K case, 23.6-24.2 us
 * per row with pushes against 8.4-8.8 with gathering; rows of 60,000, 40.3
 * against 17.3.  cvstore-bench's 8-byte SIFT10K scan went from 280 to
 * about 405 M codes/s.  Heaps over GATHER_MAXK keep the pushing pass.
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
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CVS_TOPK_X86 1
#endif

#include "core/cpu.h"
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

/* The pass of the first AVX2 version: pushes every candidate as it comes.
 * Kept for heaps too large for the gathering pass's stack scratch. */
static void offer_pushes(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                         size_t n)
{
    size_t j = 0;
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

/* ---- Gathering, then selecting (see the top, "Later") ---- */

#define GATHER_CAP 512   /* candidates gathered between two merges */
#define GATHER_MAXK 256  /* larger heaps push (offer_pushes) */
#define SAMPLE 128       /* distances sampled for a first threshold */

typedef cvs_cand cand;
_Static_assert(sizeof(cvs_cand) == 16, "cvs__cand_select moves a cvs_cand as 16 bytes");

static inline int cand_better(cand a, cand b)
{
    return cvs__heap_worse(b.d, b.id, a.d, a.id);
}

/* (topk.h) Quickselect with a median-of-three pivot and a branchless Lomuto
 * partition: the swap is unconditional and only the boundary moves by
 * the comparison, so the half-random outcomes cost no mispredictions. */
void cvs__cand_select(cvs_cand *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n, t = k - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1, s = lo;
        cand tmp;
#define CSWAP(x, y) (tmp = a[x], a[x] = a[y], a[y] = tmp)
        if (cand_better(a[mid], a[lo]))
            CSWAP(mid, lo);
        if (cand_better(a[last], a[mid]))
            CSWAP(last, mid);
        if (cand_better(a[mid], a[lo]))
            CSWAP(mid, lo);
        CSWAP(mid, last); /* the median is the pivot, parked at the end */
        cand p = a[last];
        for (size_t i = lo; i < last; i++) {
#ifdef CVS_TOPK_X86
            /* Every copy as one 16-byte move: GCC wrote a[s] = x as two
             * narrow stores and read a[s] back as one wide load, which the
             * store buffer cannot forward when s stays put (a third of
             * the time of this loop went to that stall). */
            const __m128i xv = _mm_loadu_si128((const __m128i *)(void *)(a + i));
            cand x;
            x.d = _mm_cvtss_f32(_mm_castsi128_ps(xv));
            x.id = (int64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(xv, xv));
            /* cand_better without its short-circuit, which GCC compiles
             * to a branch taken half the time at random. */
            size_t lt = (size_t)((x.d < p.d) | ((x.d == p.d) & (x.id < p.id)));
            _mm_storeu_si128((__m128i *)(void *)(a + i),
                             _mm_loadu_si128((const __m128i *)(void *)(a + s)));
            _mm_storeu_si128((__m128i *)(void *)(a + s), xv);
#else
            cand x = a[i];
            size_t lt = cand_better(x, p);
            a[i] = a[s];
            a[s] = x;
#endif
            s += lt;
        }
        CSWAP(s, last);
#undef CSWAP
        if (t == s)
            return;
        if (t < s)
            hi = s;
        else
            lo = s + 1;
    }
}

/* Puts the c gathered candidates into h.  Up to k of them go in by pushes:
 * the threshold falls as they go in, so most later ones stop at the first
 * compare.  More are merged: the heap's contents join them in buf (which
 * has room for h->k more), the best h->k are selected and the heap is
 * rebuilt bottom-up, O(c + k) instead of O(c log k).  (The cut at k was
 * the fastest of k/4, k/2, k, 2k and "merge only into a heap not yet
 * full" in the micro-benchmark of the top, by a few percent.) */
static void merge(cvs_heap *h, cand *buf, size_t c)
{
    size_t t, keep;
    if (c <= h->k) {
        for (size_t i = 0; i < c; i++)
            cvs__heap_push(h, buf[i].d, buf[i].id);
        return;
    }
    for (size_t i = 0; i < h->n; i++) {
        buf[c + i].d = h->d[i];
        buf[c + i].id = h->id[i];
    }
    t = c + h->n;
    keep = t < h->k ? t : h->k;
    if (keep < t)
        cvs__cand_select(buf, t, keep);
    for (size_t i = 0; i < keep; i++) {
        h->d[i] = buf[i].d;
        h->id[i] = buf[i].id;
    }
    h->n = keep;
    for (size_t i = keep / 2; i-- > 0;)
        cvs__heap_sift_down(h, i);
}

/* A threshold that about 2.5 * k of d[0..n) + offset pass, from SAMPLE
 * evenly spaced sums; +inf when n is too short for the guess to pay. */
static float sample_threshold(const float *d, size_t n, float offset, size_t k)
{
    cand s[SAMPLE];
    size_t r, stride = n / SAMPLE;
    if (n < 4 * SAMPLE)
        return INFINITY;
    r = (SAMPLE * k * 5 + 2 * n - 1) / (2 * n);
    if (r >= SAMPLE / 4)
        return INFINITY;
    for (size_t i = 0; i < SAMPLE; i++) {
        s[i].d = d[i * stride] + offset;
        s[i].id = (int64_t)i;
    }
    /* cvs__cand_select leaves the element of rank r at s[r]. */
    cvs__cand_select(s, SAMPLE, r + 1);
    return s[r].d;
}

/* Appends the sums d[i] + offset <= thr, with their keys, to buf[*c...],
 * from j on in blocks of 16 while buf has room for one more block
 * (GATHER_CAP), and the last n % 16 one by one; returns where it stopped.
 * The compare gives a bit mask and only its set bits are copied, so the
 * cost goes with the candidates, not with the distances. */
__attribute__((target("avx2"))) static size_t gather(const float *d, size_t j, size_t n,
                                                     float offset, float thr,
                                                     const int64_t *keys, cand *buf, size_t *pc)
{
    const __m256 off = _mm256_set1_ps(offset), t = _mm256_set1_ps(thr);
    size_t c = *pc;
    for (; j + 16 <= n && c + 16 <= GATHER_CAP; j += 16) {
        __m256 a = _mm256_add_ps(_mm256_loadu_ps(d + j), off);
        __m256 b = _mm256_add_ps(_mm256_loadu_ps(d + j + 8), off);
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, t, _CMP_LE_OQ)) |
                     (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(b, t, _CMP_LE_OQ)) << 8;
        while (m) {
            unsigned i = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            buf[c].d = d[j + i] + offset;
            buf[c].id = keys[j + i];
            c++;
        }
    }
    if (j + 16 > n) /* the tail: at most 15 more, buf has room for 16 */
        for (; j < n; j++) {
            float v = d[j] + offset;
            buf[c].d = v;
            buf[c].id = keys[j];
            c += v <= thr;
        }
    *pc = c;
    return j;
}

static void heap_offer_avx2(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                            size_t n)
{
    cand buf[GATHER_CAP + 16 + GATHER_MAXK];
    float guess = INFINITY;
    size_t j = 0;
    if (h->k == 0)
        return;
    if (h->k > GATHER_MAXK) {
        offer_pushes(h, d, offset, keys, n);
        return;
    }
    if (h->n == 0)
        guess = sample_threshold(d, n, offset, h->k);
    while (j < n) {
        size_t c = 0;
        if (h->n < h->k && guess == INFINITY) {
            /* Filling: everything is a candidate. */
            for (; j < n && c < GATHER_CAP; j++, c++) {
                buf[c].d = d[j] + offset;
                buf[c].id = keys[j];
            }
        } else {
            /* Once full, the heap holds only sums that passed the guess,
             * so its worst is the tighter threshold. */
            j = gather(d, j, n, offset, h->n < h->k ? guess : h->d[0], keys, buf, &c);
        }
        merge(h, buf, c);
    }
    /* The guess was too tight: fewer than k sums passed it, and all of them
     * are in the heap; the rest of the best are among those above it. */
    if (h->n < h->k && guess != INFINITY)
        for (size_t i = 0; i < n; i++) {
            float v = d[i] + offset;
            if (!(v <= guess))
                cvs__heap_push(h, v, keys[i]);
        }
}
#endif

typedef void (*offer_fn)(cvs_heap *, const float *, float, const int64_t *, size_t);
static _Atomic(offer_fn) chosen;

/* Idempotent like pq/kernels.c's. */
static offer_fn resolve(void)
{
#ifdef CVS_TOPK_X86
    if (cvs__simd_avx2())
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
