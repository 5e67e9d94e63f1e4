/*
 * test_topk.c -- the SIMD selection pass (index/topk.c) against the scalar
 * one and against a sort.
 *
 * Includes topk.c so that the AVX2 function is called by name whatever the
 * dispatcher picked.  Oracles: the scalar pass must keep exactly the k
 * smallest (distance, key) pairs of a full sort; after cvs__heap_sort the
 * AVX2 pass's heap must equal the scalar pass's slot for slot, on random
 * rows, rows with many ties (ties break on key), negative offsets, lengths
 * around multiples of 8, long rows (the sampled first threshold), heaps
 * too large for the gathering buffer, and rows built to defeat the
 * sampled guess.
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

/* Offers d[0..n) + offset with keys to the scalar pass, the AVX2 pass and
 * the dispatcher, and checks all three against a full sort. */
static void check_row(const float *d, const int64_t *keys, size_t n, size_t k, float offset)
{
    float *h1d = malloc((k + 1) * sizeof *h1d), *h2d = malloc((k + 1) * sizeof *h2d);
    int64_t *h1i = malloc((k + 1) * sizeof *h1i), *h2i = malloc((k + 1) * sizeof *h2i);
    pair *all = malloc((n + 1) * sizeof *all);
    cvs_heap a, b;
    cr_assert(h1d && h2d && h1i && h2i && all);
    for (size_t j = 0; j < n; j++) {
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
    if (cvs__cpu_avx2()) {
        heap_offer_avx2(&b, d, offset, keys, n);
        size_t nb = cvs__heap_sort(&b);
        cr_assert_eq(nb, na);
        for (size_t j = 0; j < nb; j++)
            cr_assert(b.d[j] == a.d[j] && b.id[j] == a.id[j], "n=%zu k=%zu: avx2 differs at %zu",
                      n, k, j);
    }
    cvs__heap_init(&b, k, h2d, h2i);
    cvs__heap_offer(&b, d, offset, keys, n);
    cr_assert_eq(cvs__heap_sort(&b), na);
    for (size_t j = 0; j < na; j++)
        cr_assert(b.d[j] == a.d[j] && b.id[j] == a.id[j]);
    free(h1d);
    free(h2d);
    free(h1i);
    free(h2i);
    free(all);
}

static void check(size_t n, size_t k, int ties, float offset)
{
    float *d = malloc((n + 1) * sizeof *d);
    int64_t *keys = malloc((n + 1) * sizeof *keys);
    cr_assert(d && keys);
    for (size_t j = 0; j < n; j++) {
        d[j] = ties ? (float)(rnd() % 5) : (float)(rnd() >> 11) / 9007199254740992.0f - 0.5f;
        keys[j] = (int64_t)(rnd() % (n * 4 + 1));
    }
    check_row(d, keys, n, k, offset);
    free(d);
    free(keys);
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
    /* Long rows of five values: the sampled threshold and the selection's
     * partitions meet runs of equal distances. */
    for (size_t k = 1; k <= 300; k += 99)
        check(5000, k, 1, 3.0f);
}

/* Rows long enough for the sampled first threshold (n >= 4 * SAMPLE), and
 * heaps on both sides of GATHER_MAXK (above it the pass pushes). */
Test(topk, long_rows_and_large_heaps)
{
    static const size_t ns[] = {4 * SAMPLE - 1, 4 * SAMPLE, 2048, 10007, 100003};
    static const size_t ks[] = {1, 10, 100, GATHER_MAXK, GATHER_MAXK + 1, 1000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
            check(ns[i], ks[j], 0, 0.125f);
}

/* The sampled guess is only a guess: rows built so that it is far too
 * tight (the sampled slots hold the row's smallest distances, so fewer
 * than k pass and the pass has to take the rest afterwards) and far too
 * loose (they hold the largest, so everything passes and the gathering
 * buffer fills and merges many times).  Asserts that each row really
 * reaches that case, then that the result is still exact. */
Test(topk, bad_sampled_guesses)
{
    const size_t n = 4096, stride = n / SAMPLE;
    float *d = malloc(n * sizeof *d);
    int64_t *keys = malloc(n * sizeof *keys);
    cr_assert(d && keys);
    for (size_t k = 10; k <= 200; k += 95) {
        for (int loose = 0; loose <= 1; loose++) {
            size_t pass = 0;
            float g;
            for (size_t j = 0; j < n; j++) {
                float r = (float)(rnd() >> 40);
                int sampled = j % stride == 0 && j / stride < SAMPLE;
                d[j] = sampled == !loose ? r : 1e8f + r;
                keys[j] = (int64_t)j;
            }
            g = sample_threshold(d, n, 0.0f, k);
            for (size_t j = 0; j < n; j++)
                pass += d[j] <= g;
            if (loose)
                cr_assert_gt(pass, GATHER_CAP + k, "k=%zu: %zu pass the loose guess", k, pass);
            else
                cr_assert_lt(pass, k, "k=%zu: %zu pass the tight guess", k, pass);
            check_row(d, keys, n, k, 0.0f);
        }
    }
    free(d);
    free(keys);
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
    /* Chunks of the scans' size (codescan.c's ADC8_CHUNK): the first one
     * samples a threshold, the later ones meet a full heap. */
    cvs__heap_init(&a, k, ad, ai);
    cvs__heap_offer_scalar(&a, d, 0.5f, keys, n);
    cvs__heap_init(&b, k, bd, bi);
    for (size_t j = 0; j < n; j += 2048)
        cvs__heap_offer(&b, d + j, 0.5f, keys + j, n - j < 2048 ? n - j : 2048);
    cr_assert_eq(cvs__heap_sort(&a), k);
    cr_assert_eq(cvs__heap_sort(&b), k);
    for (size_t j = 0; j < k; j++)
        cr_assert(ad[j] == bd[j] && ai[j] == bi[j], "2048-chunks: slot %zu differs", j);
    free(d);
    free(keys);
}

/* The selection under the merges and the sampled guess: the k best in
 * front, the k-th best at k - 1, on distinct values and on many ties. */
Test(topk, select_best_against_sort)
{
    enum { N = 300 };
    cand a[N];
    pair sorted[N];
    for (int ties = 0; ties <= 1; ties++)
        for (size_t n = 2; n <= N; n += 37)
            for (size_t k = 1; k < n; k += 1 + n / 7) {
                for (size_t i = 0; i < n; i++) {
                    a[i].d = ties ? (float)(rnd() % 3) : (float)(rnd() >> 40);
                    a[i].id = (int64_t)(rnd() % 50);
                    sorted[i].d = a[i].d;
                    sorted[i].id = a[i].id;
                }
                qsort(sorted, n, sizeof *sorted, cmp_pair);
                cvs__cand_select(a, n, k);
                cr_assert(a[k - 1].d == sorted[k - 1].d && a[k - 1].id == sorted[k - 1].id,
                          "n=%zu k=%zu: a[k-1] is not the k-th best", n, k);
                pair front[N];
                for (size_t i = 0; i < k; i++) {
                    front[i].d = a[i].d;
                    front[i].id = a[i].id;
                }
                qsort(front, k, sizeof *front, cmp_pair);
                for (size_t i = 0; i < k; i++)
                    cr_assert(front[i].d == sorted[i].d && front[i].id == sorted[i].id,
                              "n=%zu k=%zu: the front differs at %zu", n, k, i);
            }
}

/* The dispatcher follows core/cpu.c's rule: CVSTORE_SIMD=scalar, set before
 * the first offer (Criterion runs each test in its own process), picks the
 * scalar pass; otherwise the AVX2 pass exactly when the CPU has it. */
Test(topk, dispatch_follows_core_rule)
{
    float hd[4], d[3] = {3.0f, 1.0f, 2.0f};
    int64_t hi[4], keys[3] = {0, 1, 2};
    cvs_heap h;
    setenv("CVSTORE_SIMD", "scalar", 1);
    cvs__heap_init(&h, 2, hd, hi);
    cvs__heap_offer(&h, d, 0.0f, keys, 3);
    cr_assert_eq(atomic_load(&chosen), cvs__heap_offer_scalar);
    cr_assert_eq(cvs__heap_sort(&h), 2);
    cr_assert(h.id[0] == 1 && h.id[1] == 2);
}
