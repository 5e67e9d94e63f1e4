/*
 * topk.h -- offering a row of distances to a bounded heap (internal).
 */
#ifndef CVS_TOPK_H
#define CVS_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "index/heap.h"

/* Offers d[j] + offset with key keys[j], for j < n, to h: afterwards h holds
 * what n cvs__heap_push calls would leave, bit for bit (the sums are the
 * same float additions).  With AVX2, 16 sums at a time are compared with
 * the heap's worst and only blocks holding a candidate take the scalar
 * path (topk.c). */
void cvs__heap_offer(cvs_heap *h, const float *d, float offset, const int64_t *keys, size_t n);
void cvs__heap_offer_scalar(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                            size_t n);

/* The same, offering only keys whose bit is set in allow (bit k of word
 * k / 64; keys past allow_words * 64 never); allow NULL offers all. */
void cvs__heap_offer_allow(cvs_heap *h, const float *d, float offset, const int64_t *keys,
                           size_t n, const uint64_t *allow, size_t allow_words);

#endif
