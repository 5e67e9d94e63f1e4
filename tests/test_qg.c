/*
 * test_qg.c -- the graph index over 4-bit codes (index/qg.c).
 *
 * Data: generated clustered vectors (Gaussian blobs around random
 * centres), so that nearest neighbours are meaningful and the graph has
 * structure to find.  Oracles: brute-force exact top-k for recall, and the
 * exhaustive scan of the same codes re-ranked with the same depth for the
 * recall a code-guided search can reach at best; the graph search must
 * come within a small margin of that bound (a threshold computed from the
 * data, not a constant guessed for it).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap.h"
#include "core/rng.h"
#include "index/qg.h"
#include "pq/codec.h"
#include "pq/kernels.h"
#include "pq/sq8.h"
#include "testutil.h"

#define N 3000
#define D 32
#define NQ 100
#define K 10
#define NCLUST 24

static float gauss(uint64_t *s)
{
    double u1 = ((double)(cvs__rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(cvs__rng_next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* n vectors around NCLUST centres in [-1, 1)^D, spread 0.15. */
static void blobs(float *x, size_t n, uint64_t seed)
{
    float cent[NCLUST * D];
    uint64_t s = seed;
    tu_randvecs(cent, NCLUST * D, 77);
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)cvs__rng_below(&s, NCLUST);
        for (size_t d = 0; d < D; d++)
            x[i * D + d] = cent[c * D + d] + 0.15f * gauss(&s);
    }
}

static float l2(const float *a, const float *b)
{
    float s = 0;
    for (size_t d = 0; d < D; d++)
        s += (a[d] - b[d]) * (a[d] - b[d]);
    return s;
}

static void exact_topk(const float *x, const float *q, int64_t *out)
{
    float hd[K];
    int64_t hid[K];
    for (size_t i = 0; i < NQ; i++) {
        cvs_heap h;
        cvs__heap_init(&h, K, hd, hid);
        for (size_t j = 0; j < N; j++)
            cvs__heap_push(&h, l2(q + i * D, x + j * D), (int64_t)j);
        cvs__heap_sort(&h);
        memcpy(out + i * K, hid, sizeof hid);
    }
}

static double recall(const int64_t *got, const int64_t *truth)
{
    size_t hit = 0;
    for (size_t i = 0; i < NQ; i++)
        for (size_t a = 0; a < K; a++)
            for (size_t b = 0; b < K; b++)
                hit += got[i * K + a] == truth[i * K + b];
    return (double)hit / (NQ * K);
}

typedef struct fixture {
    float *x, *q;
    cvs_codec *codec;
    uint8_t *codes;
    uint32_t *nbr;
    cvs_qg g;
    int64_t truth[NQ * K];
} fixture;

static void setup(fixture *f, int threads)
{
    cvs_qg_build_opts bo = {.threads = threads, .seed = 5};
    memset(f, 0, sizeof *f);
    f->x = malloc(N * D * sizeof *f->x);
    f->q = malloc(NQ * D * sizeof *f->q);
    cr_assert(f->x && f->q);
    blobs(f->x, N, 1);
    blobs(f->q, NQ, 2);
    {
        int rc = cvs__codec_train("opq,pq16x4", D, CVS_METRIC_L2, f->x, N, NULL, &f->codec);
        cr_assert_eq(rc, 0, "%s", cvs_errmsg(NULL));
    }
    f->codes = malloc(N * cvs__codec_code_size(f->codec));
    cr_assert(f->codes);
    cr_assert_eq(cvs__codec_encode(f->codec, f->x, N, f->codes), 0);
    cr_assert_eq(cvs__qg_graph_build(f->x, N, D, &bo, &f->nbr, &f->g.entry), 0);
    f->g.n = N;
    f->g.dim = D;
    f->g.l2 = 1;
    f->g.codec = f->codec;
    f->g.keys = malloc(N * sizeof *f->g.keys);
    cr_assert(f->g.keys);
    for (size_t i = 0; i < N; i++)
        f->g.keys[i] = 1000 + (int64_t)i; /* keys differ from node numbers */
    cr_assert_eq(cvs__qg_assemble(&f->g, f->nbr, f->codes), 0);
    f->g.rows = malloc(N * D);
    cr_assert(f->g.rows);
    cr_assert_eq(cvs__sq8_alloc(&f->g.sq, D), 0);
    cr_assert_eq(cvs__sq8_train(&f->g.sq, f->x, N, D), 0);
    cvs__sq8_encode(&f->g.sq, f->x, N, f->g.rows);
    exact_topk(f->x, f->q, f->truth);
    for (size_t i = 0; i < NQ * K; i++)
        f->truth[i] += 1000;
}

static void teardown(fixture *f)
{
    cvs__qg_free(&f->g);
    cvs__codec_free(f->codec);
    free(f->codes);
    free(f->nbr);
    free(f->x);
    free(f->q);
}

Test(qg, graph_is_well_formed_and_connected)
{
    fixture f;
    uint8_t *seen = calloc(N, 1);
    uint32_t *queue = malloc(N * sizeof *queue);
    size_t head = 0, tail = 0;
    setup(&f, 2);
    cr_assert(seen && queue);
    for (size_t u = 0; u < N; u++) {
        const uint32_t *nb = f.nbr + u * CVS_QG_R;
        size_t deg = 0;
        while (deg < CVS_QG_R && nb[deg] != CVS_QG_NONE)
            deg++;
        cr_assert_gt(deg, 0, "node %zu has no out-edge", u);
        for (size_t j = deg; j < CVS_QG_R; j++)
            cr_assert_eq(nb[j], CVS_QG_NONE, "node %zu: padding is not at the end", u);
        for (size_t j = 0; j < deg; j++) {
            cr_assert_lt(nb[j], N);
            cr_assert_neq(nb[j], (uint32_t)u, "node %zu links to itself", u);
            for (size_t t = 0; t < j; t++)
                cr_assert_neq(nb[t], nb[j], "node %zu lists %u twice", u, nb[j]);
        }
        /* The assembled record carries the same list. */
        cr_assert_eq(memcmp(cvs__qg_nbr(&f.g, u), nb, CVS_QG_R * sizeof *nb), 0);
    }
    /* Every node is reachable from the entry: a search can find it. */
    seen[f.g.entry] = 1;
    queue[tail++] = f.g.entry;
    while (head < tail) {
        const uint32_t *nb = f.nbr + (size_t)queue[head++] * CVS_QG_R;
        for (size_t j = 0; j < CVS_QG_R && nb[j] != CVS_QG_NONE; j++)
            if (!seen[nb[j]]) {
                seen[nb[j]] = 1;
                queue[tail++] = nb[j];
            }
    }
    cr_assert_eq(tail, N, "only %zu of %d nodes reachable from the entry", tail, N);
    free(seen);
    free(queue);
    teardown(&f);
}

/* The neighbour blocks hold exactly the neighbours' codes: the estimate
 * the fast-scan gives for neighbour j equals the LUT sum over its code. */
Test(qg, blocks_hold_the_neighbours_codes)
{
    fixture f;
    size_t m, P, bb;
    uint8_t code[64];
    setup(&f, 2);
    m = cvs__codec_m(f.codec);
    P = (m + 1) / 2;
    bb = f.g.bb;
    for (size_t u = 0; u < N; u += 97) {
        const uint32_t *nb = f.nbr + u * CVS_QG_R;
        for (size_t j = 0; j < CVS_QG_R; j++) {
            cvs__fs4_get(f.g.nodes + u * f.g.ns, j, m, code);
            if (nb[j] == CVS_QG_NONE)
                continue;
            cr_assert_eq(memcmp(code, f.codes + (size_t)nb[j] * P, P), 0,
                         "node %zu slot %zu: code differs", u, j);
        }
    }
    (void)bb;
    teardown(&f);
}

Test(qg, recall_close_to_the_exhaustive_code_scan)
{
    fixture f;
    int64_t *lab = malloc(NQ * K * sizeof *lab), *base = malloc(NQ * K * sizeof *base);
    float *sc = malloc(NQ * K * sizeof *sc), *dist = malloc(N * sizeof *dist);
    const size_t rr = 40;
    double rg, rb;
    setup(&f, 2);
    cr_assert(lab && base && sc && dist);
    /* The bound: every code scanned, the best rr re-ranked from the same
     * SQ8 rows. */
    for (size_t i = 0; i < NQ; i++) {
        float hd[40], h2d[K];
        int64_t hid[40], h2id[K];
        cvs_heap h, h2;
        cr_assert_eq(cvs__codec_distances(f.codec, f.q + i * D, f.codes, N, dist), 0);
        cvs__heap_init(&h, rr, hd, hid);
        for (size_t j = 0; j < N; j++)
            cvs__heap_push(&h, dist[j], (int64_t)j);
        cvs__heap_init(&h2, K, h2d, h2id);
        for (size_t j = 0; j < h.n; j++) {
            float d;
            cvs__sq8_distances(&f.g.sq, f.q + i * D, 0, f.g.rows + (size_t)hid[j] * D, 1, &d);
            cvs__heap_push(&h2, d, 1000 + hid[j]);
        }
        cvs__heap_sort(&h2);
        memcpy(base + i * K, h2id, sizeof h2id);
    }
    rb = recall(base, f.truth);
    cr_assert_eq(cvs__qg_search(&f.g, f.q, NQ, K, &(cvs_qg_search_opts){.ef = 64, .rerank = rr},
                                lab, sc), 0);
    rg = recall(lab, f.truth);
    cr_log_info("graph recall %.3f, exhaustive scan of the codes %.3f", rg, rb);
    cr_assert_geq(rg, rb - 0.02, "graph recall %.3f, exhaustive scan of the codes %.3f", rg, rb);
    /* Scores are the sqrt of the re-ranked squared distances, sorted. */
    for (size_t i = 0; i < NQ; i++)
        for (size_t j = 1; j < K; j++)
            cr_assert_leq(sc[i * K + j - 1], sc[i * K + j]);
    /* Re-ranking the best 20 candidates of the same search finds more
     * than their codes' order alone. */
    {
        double r0, r1;
        cr_assert_eq(cvs__qg_search(&f.g, f.q, NQ, K, &(cvs_qg_search_opts){.ef = 20}, lab, sc), 0);
        r0 = recall(lab, f.truth);
        cr_assert_eq(cvs__qg_search(&f.g, f.q, NQ, K, &(cvs_qg_search_opts){.ef = 20, .rerank = 20},
                                    lab, sc), 0);
        r1 = recall(lab, f.truth);
        cr_assert_gt(r1, r0, "re-ranking did not help: %.3f vs %.3f", r1, r0);
    }
    free(lab);
    free(base);
    free(sc);
    free(dist);
    teardown(&f);
}

Test(qg, deterministic_across_thread_counts)
{
    fixture a, b;
    int64_t *l1 = malloc(NQ * K * sizeof *l1), *l3 = malloc(NQ * K * sizeof *l3);
    float *s1 = malloc(NQ * K * sizeof *s1), *s3 = malloc(NQ * K * sizeof *s3);
    setup(&a, 1);
    setup(&b, 3);
    cr_assert(l1 && l3 && s1 && s3);
    cr_assert_eq(a.g.entry, b.g.entry);
    cr_assert_eq(memcmp(a.nbr, b.nbr, (size_t)N * CVS_QG_R * sizeof *a.nbr), 0,
                 "the graph depends on the thread count");
    cr_assert_eq(cvs__qg_search(&a.g, a.q, NQ, K,
                                &(cvs_qg_search_opts){.ef = 32, .rerank = 20, .threads = 1}, l1, s1),
                 0);
    cr_assert_eq(cvs__qg_search(&a.g, a.q, NQ, K,
                                &(cvs_qg_search_opts){.ef = 32, .rerank = 20, .threads = 3}, l3, s3),
                 0);
    cr_assert_eq(memcmp(l1, l3, NQ * K * sizeof *l1), 0);
    cr_assert_eq(memcmp(s1, s3, NQ * K * sizeof *s1), 0);
    free(l1);
    free(l3);
    free(s1);
    free(s3);
    teardown(&a);
    teardown(&b);
}

Test(qg, skipped_nodes_are_never_returned)
{
    fixture f;
    uint64_t skip[(N + 63) / 64] = {0};
    int64_t *lab = malloc(NQ * K * sizeof *lab);
    float *sc = malloc(NQ * K * sizeof *sc);
    setup(&f, 2);
    cr_assert(lab && sc);
    /* Skip each query's true nearest neighbour (and the entry node). */
    for (size_t i = 0; i < NQ; i++) {
        uint64_t u = (uint64_t)(f.truth[i * K] - 1000);
        skip[u >> 6] |= 1ull << (u & 63);
    }
    skip[f.g.entry >> 6] |= 1ull << (f.g.entry & 63);
    for (int rr = 0; rr <= 20; rr += 20) {
        cr_assert_eq(cvs__qg_search(&f.g, f.q, NQ, K,
                                    &(cvs_qg_search_opts){.ef = 40, .rerank = (size_t)rr,
                                                          .skip = skip}, lab, sc), 0);
        for (size_t i = 0; i < NQ * K; i++) {
            uint64_t u;
            cr_assert_geq(lab[i], 1000, "query %zu: result %lld", i / K, (long long)lab[i]);
            u = (uint64_t)(lab[i] - 1000);
            cr_assert_eq((skip[u >> 6] >> (u & 63)) & 1, 0, "a skipped node came back");
        }
    }
    free(lab);
    free(sc);
    teardown(&f);
}

Test(qg, single_node_and_short_lists)
{
    float x[2 * D];
    uint32_t *nbr = NULL, entry = 7;
    tu_randvecs(x, 2 * D, 3);
    cr_assert_eq(cvs__qg_graph_build(x, 1, D, NULL, &nbr, &entry), 0);
    cr_assert_eq(entry, 0);
    for (size_t j = 0; j < CVS_QG_R; j++)
        cr_assert_eq(nbr[j], CVS_QG_NONE);
    free(nbr);
    cr_assert_eq(cvs__qg_graph_build(x, 2, D, NULL, &nbr, &entry), 0);
    cr_assert_eq(nbr[0], 1);
    cr_assert_eq(nbr[CVS_QG_R], 0);
    free(nbr);
    cr_assert_neq(cvs__qg_graph_build(x, 0, D, NULL, &nbr, &entry), 0);
}
