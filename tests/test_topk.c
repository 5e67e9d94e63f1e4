/*
 * test_topk.c -- the SIMD selection pass (index/topk.c) against the scalar
 * one and against a sort.
 *
 * Includes topk.c so that the AVX2 function is called by name whatever the
 * dispatcher picked.  Oracles: the scalar pass must keep exactly the k
 * smallest (distance, key) pairs of a full sort; the AVX2 pass must leave
 * the heap identical, slot for slot, to the scalar pass, on random rows,
 * rows with many ties (ties break on key), negative offsets, and lengths
 * around multiples of 8.
 */
#include "index/topk.c"

#include <criterion/criterion.h>

static uint64_t st = 88172645463325252ull;
static uint64_t rnd(void)
{
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return st;
}

typedef struct pair {
    float d;
    int64_t id;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void check(size_t n, size_t k, int ties, float offset)
{
    float *d = malloc((n + 1) * sizeof *d), *h1d = malloc((k + 1) * sizeof *h1d),
          *h2d = malloc((k + 1) * sizeof *h2d);
    int64_t *keys = malloc((n + 1) * sizeof *keys), *h1i = malloc((k + 1) * sizeof *h1i),
            *h2i = malloc((k + 1) * sizeof *h2i);
    pair *all = malloc((n + 1) * sizeof *all);
    cvs_heap a, b;
    cr_assert(d && h1d && h2d && keys && h1i && h2i && all);
    for (size_t j = 0; j < n; j++) {
        d[j] = ties ? (float)(rnd() % 5) : (float)(rnd() >> 11) / 9007199254740992.0f - 0.5f;
        keys[j] = (int64_t)(rnd() % (n * 4 + 1));
        all[j].d = d[j] + offset;
        all[j].id = keys[j];
    }
    cvs__heap_init(&a, k, h1d, h1i);
    cvs__heap_init(&b, k, h2d, h2i);
    cvs__heap_offer_scalar(&a, d, offset, keys, n);
    qsort(all, n, sizeof *all, cmp_pair);
    size_t na = cvs__heap_sort(&a);
    cr_assert_eq(na, n < k ? n : k);
    for (size_t j = 0; j < na; j++) {
        cr_assert(a.d[j] == all[j].d && a.id[j] == all[j].id,
                  "n=%zu k=%zu: slot %zu is (%g,%lld), sort says (%g,%lld)", n, k, j, a.d[j],
                  (long long)a.id[j], all[j].d, (long long)all[j].id);
    }
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        heap_offer_avx2(&b, d, offset, keys, n);
        size_t nb = cvs__heap_sort(&b);
        cr_assert_eq(nb, na);
        for (size_t j = 0; j < nb; j++)
            cr_assert(b.d[j] == a.d[j] && b.id[j] == a.id[j], "avx2 differs at %zu", j);
    }
    cvs__heap_init(&b, k, h2d, h2i);
    cvs__heap_offer(&b, d, offset, keys, n);
    cr_assert_eq(cvs__heap_sort(&b), na);
    for (size_t j = 0; j < na; j++)
        cr_assert(b.d[j] == a.d[j] && b.id[j] == a.id[j]);
    free(d);
    free(h1d);
    free(h2d);
    free(keys);
    free(h1i);
    free(h2i);
    free(all);
}

Test(topk, random_rows)
{
    static const size_t ns[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 10007};
    static const size_t ks[] = {0, 1, 5, 10, 100};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
            check(ns[i], ks[j], 0, -0.25f);
}

Test(topk, ties_break_on_key)
{
    for (size_t n = 1; n < 300; n += 37)
        for (size_t k = 1; k < 40; k += 9)
            check(n, k, 1, 3.0f);
}

/* As the code scans use it: one heap, a row offered in chunks of uneven
 * lengths (the 16-wide blocks restart at every chunk), against one scalar
 * offer of the whole row. */
Test(topk, chunked_offers_equal_one_scalar_pass)
{
    const size_t n = 5000, k = 37;
    float *d = malloc(n * sizeof *d), ad[37], bd[37];
    int64_t *keys = malloc(n * sizeof *keys), ai[37], bi[37];
    cvs_heap a, b;
    cr_assert(d && keys);
    for (size_t j = 0; j < n; j++) {
        d[j] = (float)(rnd() % 1000) / 7.0f;
        keys[j] = (int64_t)j;
    }
    cvs__heap_init(&a, k, ad, ai);
    cvs__heap_offer_scalar(&a, d, 0.5f, keys, n);
    cvs__heap_init(&b, k, bd, bi);
    for (size_t j = 0, len = 1; j < n; j += len, len = len * 3 % 97 + 1) {
        size_t c = n - j < len ? n - j : len;
        cvs__heap_offer(&b, d + j, 0.5f, keys + j, c);
    }
    cr_assert_eq(cvs__heap_sort(&a), k);
    cr_assert_eq(cvs__heap_sort(&b), k);
    for (size_t j = 0; j < k; j++)
        cr_assert(ad[j] == bd[j] && ai[j] == bi[j], "slot %zu differs", j);
    free(d);
    free(keys);
}
