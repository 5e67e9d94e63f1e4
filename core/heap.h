/*
 * heap.h -- a bounded max-heap keeping the k best (smallest) distances, the
 * standard way to take a top-k without sorting all N candidates.  Every
 * search path (exact scan now, ADC scans later) works in "smaller is
 * better" distances: squared L2, or the negated similarity for ip/cosine.
 * Ties break on the smaller key, so results are deterministic.
 */
#ifndef CVS_HEAP_H
#define CVS_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvs_heap {
    size_t k, n;
    float *d;      /* k slots, caller-owned */
    int64_t *id;   /* k slots, caller-owned */
} cvs_heap;

static inline int cvs__heap_worse(float da, int64_t ia, float db, int64_t ib)
{
    return da > db || (da == db && ia > ib);
}

static inline void cvs__heap_init(cvs_heap *h, size_t k, float *d, int64_t *id)
{
    h->k = k;
    h->n = 0;
    h->d = d;
    h->id = id;
}

static inline void cvs__heap_sift_down(cvs_heap *h, size_t i)
{
    float d = h->d[i];
    int64_t id = h->id[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && cvs__heap_worse(h->d[c + 1], h->id[c + 1], h->d[c], h->id[c]))
            c++;
        if (!cvs__heap_worse(h->d[c], h->id[c], d, id))
            break;
        h->d[i] = h->d[c];
        h->id[i] = h->id[c];
        i = c;
    }
    h->d[i] = d;
    h->id[i] = id;
}

/* Offers a candidate; kept if the heap has room or it beats the worst. */
static inline void cvs__heap_push(cvs_heap *h, float d, int64_t id)
{
    if (h->n < h->k) {
        size_t i = h->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!cvs__heap_worse(d, id, h->d[p], h->id[p]))
                break;
            h->d[i] = h->d[p];
            h->id[i] = h->id[p];
            i = p;
        }
        h->d[i] = d;
        h->id[i] = id;
        return;
    }
    if (h->k == 0 || !cvs__heap_worse(h->d[0], h->id[0], d, id))
        return;
    h->d[0] = d;
    h->id[0] = id;
    cvs__heap_sift_down(h, 0);
}

/* Sorts the heap's contents best first, in place; returns the count. */
static inline size_t cvs__heap_sort(cvs_heap *h)
{
    size_t n = h->n;
    while (h->n > 1) {
        float d = h->d[0];
        int64_t id = h->id[0];
        h->n--;
        h->d[0] = h->d[h->n];
        h->id[0] = h->id[h->n];
        h->d[h->n] = d;
        h->id[h->n] = id;
        cvs__heap_sift_down(h, 0);
    }
    h->n = n;
    return n;
}

#endif
