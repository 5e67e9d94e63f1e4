/*
 * topk.h -- offering a row of distances to a bounded heap (internal).
 */
#ifndef CVS_TOPK_H
#define CVS_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"

/* A (distance, key) pair; "better" is smaller distance, then smaller key,
 * as in core/heap.h. */
typedef struct cvs_cand {
    float d;
    int64_t id;
} cvs_cand;

/* Moves the k best of a[0..n) to a[0..k), in no order except that a[k - 1]
 * is the k-th best (0 < k < n).  Quickselect with a median-of-three pivot
 * and a branchless partition (topk.c). */
void cvs__cand_select(cvs_cand *a, size_t n, size_t k);

/* Offers d[j] + offset with key keys[j], for j < n, to h: afterwards h holds
 * the same (distance, key) pairs as n cvs__heap_push calls would leave, bit
 * for bit (the sums are the same float additions), and cvs__heap_sort puts
 * them in the same order; only the slot layout before the sort may differ.
 * With AVX2 the candidates are gathered 16 sums at a time against the
 * heap's worst (or a sampled first guess) and merged in (topk.c). */
void cvs__heap_offer(cvs_heap *h, const float *d, float offset, const int64_t *keys, size_t n);
void cvs__heap_offer_scalar(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                            size_t n);

/* The same, offering only keys whose bit is set in allow (bit k of word
 * k / 64; keys past allow_words * 64 never); allow NULL offers all. */
void cvs__heap_offer_allow(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                           size_t n, const uint64_t *allow, size_t allow_words);

#endif
