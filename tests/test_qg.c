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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"

#include "core/heap.h"
#include "core/rng.h"
#include "index/qg.h"
#include "index/qg_store.h"
#include "index/search.h"
#include "pq/codec.h"
#include "pq/kernels.h"
#include "pq/sq8.h"
#include "store/db.h"
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

Test(qg, recall_close_to_the_exhaustive_row_scan)
{
    fixture f;
    int64_t *lab = malloc(NQ * K * sizeof *lab), *base = malloc(NQ * K * sizeof *base);
    float *sc = malloc(NQ * K * sizeof *sc), *dist = malloc(N * sizeof *dist);
    double rg, rb;
    setup(&f, 2);
    cr_assert(lab && sc && base && dist);
    /* The bound: every SQ8 row scored, the search's own exact measure. */
    for (size_t i = 0; i < NQ; i++) {
        float hd[K];
        int64_t hid[K];
        cvs_heap h;
        cvs__sq8_distances(&f.g.sq, f.q + i * D, 0, f.g.rows, N, dist);
        cvs__heap_init(&h, K, hd, hid);
        for (size_t j = 0; j < N; j++)
            cvs__heap_push(&h, dist[j], 1000 + (int64_t)j);
        cvs__heap_sort(&h);
        memcpy(base + i * K, hid, sizeof hid);
    }
    rb = recall(base, f.truth);
    /* These codes are coarse (codes-only recall ~0.4 here): the list must
     * be long for the beam to reach every true neighbour's parent. */
    cr_assert_eq(cvs__qg_search_graph(&f.g, f.q, NQ, K, &(cvs_qg_search_opts){.ef = 128}, lab,
                                      sc), 0);
    rg = recall(lab, f.truth);
    cr_log_info("graph recall %.3f, exhaustive scan of the rows %.3f", rg, rb);
    cr_assert_geq(rg, rb - 0.01, "graph recall %.3f, exhaustive scan of the rows %.3f", rg, rb);
    /* Scores are the sqrt of the rows' squared distances, sorted. */
    for (size_t i = 0; i < NQ; i++) {
        for (size_t j = 1; j < K; j++)
            cr_assert_leq(sc[i * K + j - 1], sc[i * K + j]);
        cvs__sq8_distances(&f.g.sq, f.q + i * D, 0, f.g.rows + (size_t)(lab[i * K] - 1000) * D, 1,
                           dist);
        cr_assert_float_eq(sc[i * K], sqrtf(dist[0]), 1e-4f);
    }
    /* The codes alone rank worse than the rows of the nodes visited. */
    {
        double r0, r1;
        cr_assert_eq(cvs__qg_search_graph(&f.g, f.q, NQ, K,
                                          &(cvs_qg_search_opts){.ef = 20, .codes_only = 1}, lab,
                                          sc), 0);
        r0 = recall(lab, f.truth);
        cr_assert_eq(cvs__qg_search_graph(&f.g, f.q, NQ, K, &(cvs_qg_search_opts){.ef = 20}, lab,
                                          sc), 0);
        r1 = recall(lab, f.truth);
        cr_assert_gt(r1, r0, "rows did not help: %.3f vs %.3f", r1, r0);
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
    cr_assert_eq(cvs__qg_search_graph(&a.g, a.q, NQ, K,
                                &(cvs_qg_search_opts){.ef = 32, .threads = 1}, l1, s1),
                 0);
    cr_assert_eq(cvs__qg_search_graph(&a.g, a.q, NQ, K,
                                &(cvs_qg_search_opts){.ef = 32, .threads = 3}, l3, s3),
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
    for (int co = 0; co <= 1; co++) {
        cr_assert_eq(cvs__qg_search_graph(&f.g, f.q, NQ, K,
                                          &(cvs_qg_search_opts){.ef = 40, .codes_only = co,
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

/* ==== The stored index (index/qg_store.c), through the public API ==== */

static cvs_db *sdb;
static char *sdir;

static void put_rows(const float *x, size_t from, size_t to)
{
    cvs_record *recs = calloc(to - from, sizeof *recs);
    char (*ids)[16] = malloc((to - from) * sizeof *ids);
    cr_assert(recs && ids);
    for (size_t i = from; i < to; i++) {
        int len = snprintf(ids[i - from], sizeof ids[i - from], "r%zu", i);
        recs[i - from].id = ids[i - from];
        recs[i - from].id_len = (size_t)len;
        recs[i - from].vector = x + (i - from) * D;
    }
    cr_assert_eq(cvs_put(sdb, recs, to - from, 0, NULL, NULL), 0, "%s", cvs_errmsg(sdb));
    free(recs);
    free(ids);
}

/* A store of the N blob vectors (ids r0..), codec opq,pq16x4, graph index. */
static void store_setup(float **x, float **q)
{
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_L2};
    char path[4200];
    *x = malloc(N * D * sizeof **x);
    *q = malloc(NQ * D * sizeof **q);
    cr_assert(*x && *q);
    blobs(*x, N, 1);
    blobs(*q, NQ, 2);
    sdir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/s", sdir);
    cr_assert_eq(cvs_db_create(path, &co, &sdb), 0);
    put_rows(*x, 0, N);
    cr_assert_eq(cvs_build(sdb, "opq,pq16x4", &(cvs_build_opts){.seed = 3, .index = "qg"}), 0,
                 "%s", cvs_errmsg(sdb));
}

static void store_teardown(void)
{
    cvs_db_close(sdb);
    sdb = NULL;
    tu_rmrf(sdir);
    free(sdir);
}

static void search(unsigned flags, size_t ef, size_t rerank, int threads, const float *q,
                   int64_t *lab, float *sc)
{
    cvs_txn *t;
    cvs_search_params p = {.flags = flags, .nprobe = ef, .rerank = rerank, .threads = threads};
    cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, NQ, K, &p, lab, sc), 0, "%s", cvs_errmsg(sdb));
    cvs_txn_end(t);
}

static uint64_t problems(void)
{
    uint64_t n = 0;
    cr_assert_eq(cvs_check(sdb, NULL, NULL, &n), 0, "%s", cvs_errmsg(sdb));
    return n;
}

static void collect_msg(void *ctx, const char *msg)
{
    char *all = ctx;
    size_t n = strlen(all);
    snprintf(all + n, 4000 - n, "%s\n", msg);
}

Test(qg_store, build_search_reopen, .timeout = 120)
{
    float *x, *q, sc[NQ * K];
    int64_t exact[NQ * K], codes[NQ * K], lab[NQ * K], lab2[NQ * K];
    cvs_index_info ii;
    double ra, rc;
    char path[4200];
    store_setup(&x, &q);
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_str_eq(ii.spec, "qg32");
    cr_assert_eq(ii.count, N);
    cr_assert_gt(ii.mem_bytes, (uint64_t)N * D); /* at least the SQ8 rows */
    cr_assert_eq(problems(), 0);
    search(CVS_SEARCH_EXACT, 0, 0, 0, q, exact, sc);
    /* The threshold: every code scanned and the best 128 re-ranked. */
    search(CVS_SEARCH_CODES, 0, 128, 0, q, codes, sc);
    rc = recall(codes, exact);
    /* The graph's best 20 by SQ8 row, re-ranked with the raw vectors. */
    search(CVS_SEARCH_ANN, 128, 20, 1, q, lab, sc);
    ra = recall(lab, exact);
    cr_log_info("graph %.3f, code scan re-ranked 128 deep %.3f", ra, rc);
    cr_assert_geq(ra, rc - 0.02, "graph %.3f, code scan %.3f", ra, rc);
    search(CVS_SEARCH_ANN, 128, 20, 2, q, lab2, sc);
    cr_assert_eq(memcmp(lab, lab2, sizeof lab), 0, "results depend on the thread count");
    /* The rows' error bound skips reads that cannot change the answer. */
    {
        int64_t l0[NQ * K];
        float s0[NQ * K], s1[NQ * K];
        uint64_t r0, r1, q0, q1, r2, q2;
        cvs__qg_rerank_counts(&r0, &q0);
        cvs__qg_rerank_bound = 0;
        search(CVS_SEARCH_ANN, 128, 50, 0, q, l0, s0);
        cvs__qg_rerank_bound = 1;
        cvs__qg_rerank_counts(&r1, &q1);
        search(CVS_SEARCH_ANN, 128, 50, 0, q, lab2, s1);
        cvs__qg_rerank_counts(&r2, &q2);
        cr_assert_eq(q1 - q0, NQ);
        cr_assert_eq(r1 - r0, (uint64_t)NQ * 50, "without the bound every candidate is read");
        cr_assert_lt(r2 - r1, (r1 - r0) / 2, "the bound read %llu of %llu",
                     (unsigned long long)(r2 - r1), (unsigned long long)(r1 - r0));
        cr_log_info("re-rank reads with the bound: %llu of %llu", (unsigned long long)(r2 - r1),
                    (unsigned long long)(r1 - r0));
        cr_assert_eq(memcmp(l0, lab2, sizeof l0), 0, "the bound changed the answer");
        cr_assert_eq(memcmp(s0, s1, sizeof s0), 0);
    }
    /* Without raw re-ranking the rows' order is the answer: no better. */
    search(CVS_SEARCH_ANN, 128, 0, 0, q, lab, sc);
    cr_assert_leq(recall(lab, exact), ra);
    /* An allow-bitmap (a filter's): only even keys come back, k of them. */
    {
        uint64_t allow[(N + 63) / 64 + 1];
        cvs_txn *t;
        cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 64};
        for (size_t w = 0; w < sizeof allow / sizeof allow[0]; w++)
            allow[w] = 0x5555555555555555ull;
        cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
        cr_assert_eq(cvs__txn_search_allow(t, q, NQ, K, &p, allow, sizeof allow / sizeof allow[0],
                                           lab, sc), 0);
        cvs_txn_end(t);
        for (size_t i = 0; i < NQ * K; i++)
            cr_assert(lab[i] >= 0 && lab[i] % 2 == 0, "result %zu: key %lld", i,
                      (long long)lab[i]);
    }
    /* Stored defaults are used with 0; the index survives a reopen. */
    cr_assert_eq(cvs_index_set_defaults(sdb, 128, 0), 0);
    search(CVS_SEARCH_ANN, 0, 0, 0, q, lab2, sc);
    search(CVS_SEARCH_ANN, 128, 0, 0, q, lab, sc);
    cr_assert_eq(memcmp(lab, lab2, sizeof lab), 0);
    snprintf(path, sizeof path, "%s/s", sdir);
    cvs_db_close(sdb);
    cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
    search(CVS_SEARCH_ANN, 0, 0, 0, q, lab2, sc);
    cr_assert_eq(memcmp(lab, lab2, sizeof lab), 0, "different answer after reopening");
    /* An 8-bit codec is refused before anything changes. */
    cr_assert_eq(cvs_build(sdb, "pq16", &(cvs_build_opts){.index = "qg"}), CVS_EINVAL);
    search(CVS_SEARCH_ANN, 0, 0, 0, q, lab2, sc);
    cr_assert_eq(memcmp(lab, lab2, sizeof lab), 0);
    /* Another index replaces the graph. */
    cr_assert_eq(cvs_build(sdb, "opq,pq16x4", &(cvs_build_opts){.index = "ivf16"}), 0);
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_str_eq(ii.spec, "ivf16");
    cr_assert_eq(problems(), 0);
    free(x);
    free(q);
    store_teardown();
}

/* A FAISS build with its own codec, overtaken by a graph index build with
 * another codec that starts while FAISS trains: the store must end as one
 * build after the other would leave it -- the later build's codec and
 * index -- and the overtaken build say so (CVS_ECONFLICT).  It ended with
 * the graph build's codec and the FAISS build's index, both builds
 * reporting success. */
static void qg_during_training(void *ctx, const char *phase, uint64_t done, uint64_t total,
                               uint64_t bytes_done, uint64_t bytes_total)
{
    int *state = ctx; /* 0: codec not yet encoded, 1: encoded, 2: graph built */
    (void)done, (void)total, (void)bytes_done, (void)bytes_total;
    if (!strcmp(phase, "encode") && *state == 0)
        *state = 1;
    else if (!strcmp(phase, "train") && *state == 1) { /* FAISS's training, outside a write */
        *state = 2;
        cr_assert_eq(cvs_build(sdb, "pq16x4", &(cvs_build_opts){.seed = 5, .index = "qg"}), 0,
                     "%s", cvs_errmsg(sdb));
    }
}

Test(qg_store, a_faiss_build_overtaken_by_a_graph_build, .timeout = 120)
{
    float *x, *q;
    int state = 0, rc;
    cvs_index_info ii;
    cvs_codec_info ci;
    store_setup(&x, &q);
    rc = cvs_build(sdb, "pq8x4", &(cvs_build_opts){.index = "faiss:IVF16,Flat",
                                                   .progress = qg_during_training,
                                                   .progress_ctx = &state});
    cr_assert_eq(state, 2, "the graph build ran while FAISS trained");
    cr_assert_eq(rc, CVS_ECONFLICT, "rc %d: %s", rc, cvs_errmsg(sdb));
    cr_assert(strstr(cvs_errmsg(sdb), "FAISS index not written: another build replaced the codec"),
              "%s", cvs_errmsg(sdb));
    cr_assert_eq(cvs_codec_get_info(sdb, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq16x4");
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_str_eq(ii.spec, "qg32");
    cr_assert_eq(problems(), 0);
    /* Built after it, the FAISS index replaces the graph, in one write. */
    cr_assert_eq(cvs_build(sdb, NULL, &(cvs_build_opts){.index = "faiss:IVF16,Flat"}), 0,
                 "%s", cvs_errmsg(sdb));
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_str_eq(ii.spec, "faiss:IVF16,Flat");
    cr_assert_eq(cvs_codec_get_info(sdb, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq16x4");
    cr_assert_eq(problems(), 0);
    free(x);
    free(q);
    store_teardown();
}

/* Deleted records never come back; records put after the build are
 * found; an update is answered with its new vector. */
Test(qg_store, writes_after_the_build, .timeout = 120)
{
    float *x, *q, sc[NQ * K];
    int64_t lab[NQ * K], exact[NQ * K];
    cvs_txn *t;
    cvs_index_info ii;
    cvs_info info;
    size_t nd = 0;
    store_setup(&x, &q);
    search(CVS_SEARCH_EXACT, 0, 0, 0, q, exact, sc);
    /* Delete every query's exact top 3. */
    cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
    {
        const char *ids[NQ * 3];
        size_t lens[NQ * 3], n = 0;
        char (*copies)[16] = malloc(NQ * 3 * sizeof *copies);
        for (size_t i = 0; i < NQ; i++)
            for (size_t j = 0; j < 3; j++) {
                const char *id;
                size_t len;
                cr_assert_eq(cvs_key_id(t, exact[i * K + j], &id, &len), 0);
                memcpy(copies[n], id, len);
                ids[n] = copies[n];
                lens[n++] = len;
            }
        cvs_txn_end(t);
        cr_assert_eq(cvs_delete(sdb, ids, lens, n, &nd), 0);
        free(copies);
    }
    for (int rr = 0; rr <= 20; rr += 20) {
        search(CVS_SEARCH_ANN, 64, (size_t)rr, 0, q, lab, sc);
        for (size_t i = 0; i < NQ; i++)
            for (size_t j = 0; j < K; j++) {
                cr_assert_geq(lab[i * K + j], 0);
                for (size_t d = 0; d < 3; d++)
                    cr_assert_neq(lab[i * K + j], exact[i * K + d], "deleted key %lld returned",
                                  (long long)lab[i * K + j]);
            }
    }
    /* New records: copies of the queries, each its query's nearest. */
    put_rows(q, N, N + NQ);
    search(CVS_SEARCH_ANN, 64, 0, 0, q, lab, sc);
    for (size_t i = 0; i < NQ; i++) {
        cr_assert_float_eq(sc[i * K], 0.0f, 1e-6f, "query %zu: new record not found", i);
        cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
        {
            const char *id;
            size_t len;
            char want[16];
            snprintf(want, sizeof want, "r%zu", N + i);
            cr_assert_eq(cvs_key_id(t, lab[i * K], &id, &len), 0);
            cr_assert(len == strlen(want) && !memcmp(id, want, len));
        }
        cvs_txn_end(t);
    }
    /* An update moves r0 onto query 0: found at distance 0. */
    {
        cvs_record r = {.id = "r0", .id_len = 2, .vector = q};
        cr_assert_eq(cvs_put(sdb, &r, 1, 0, NULL, NULL), 0);
    }
    search(CVS_SEARCH_ANN, 64, 0, 0, q, lab, sc);
    cr_assert_float_eq(sc[0], 0.0f, 1e-6f);
    cr_assert_float_eq(sc[1], 0.0f, 1e-6f);
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_eq(ii.dirty, nd + NQ + 1);
    cr_assert_eq(problems(), 0);
    /* A rebuild folds the marks in. */
    cr_assert_eq(cvs_build(sdb, NULL, &(cvs_build_opts){.index = "qg"}), 0, "%s",
                 cvs_errmsg(sdb));
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_eq(ii.dirty, 0);
    cr_assert_eq(cvs_db_info(sdb, &info), 0);
    cr_assert_eq(ii.count, info.count);
    cr_assert_eq(problems(), 0);
    free(x);
    free(q);
    store_teardown();
}

typedef struct raw_op {
    MDB_val k, v;
    int del;
} raw_op;

static int raw_meta_fn(cvs_db *d, MDB_txn *txn, void *arg)
{
    raw_op *r = arg;
    return (r->del ? mdb_del(txn, d->dbi_meta, &r->k, NULL)
                   : mdb_put(txn, d->dbi_meta, &r->k, &r->v, 0)) ? CVS_EIO : CVS_OK;
}

/* A damaged graph is an error for searches and a problem for check, never
 * a crash; so are lost marks and malformed ones. */
Test(qg_store, damage_is_reported, .timeout = 120)
{
    float *x, *q, sc[NQ * K];
    int64_t lab[NQ * K];
    unsigned char *blob;
    size_t len;
    raw_op r;
    store_setup(&x, &q);
    {
        MDB_txn *rt;
        MDB_val k = {2, "qg"}, v;
        cr_assert_eq(cvs__read_begin(sdb, &rt), 0);
        cr_assert_eq(mdb_get(rt, sdb->dbi_meta, &k, &v), 0);
        len = v.mv_size;
        blob = malloc(len);
        memcpy(blob, v.mv_data, len);
        cvs__read_end(sdb, rt);
    }
    /* Damage in turn: the magic, the length, a neighbour out of range, a
     * self-loop, the node keys' order; each fails the search cleanly. */
    for (int what = 0; what < 5; what++) {
        unsigned char *b = malloc(len);
        size_t blen = len, nbr0 = len - (size_t)N * CVS_QG_R * 4 - (size_t)N * D,
               keys0 = 40 + 8 * D;
        cvs_txn *t;
        cvs_search_params p = {.flags = CVS_SEARCH_ANN};
        memcpy(b, blob, len);
        if (what == 0)
            b[0] ^= 0xff;
        else if (what == 1)
            blen -= 3;
        else if (what == 2)
            memset(b + nbr0, 0x7f, 4);
        else if (what == 3)
            memset(b + nbr0 + 4 * CVS_QG_R, 0, 4); /* node 1 -> node 0 ... */
        else
            memcpy(b + keys0, b + keys0 + 8, 8); /* keys 0 and 1 equal */
        if (what == 3) /* ... and node 0 -> node 0 */
            memset(b + nbr0, 0, 4);
        r = (raw_op){{2, "qg"}, {blen, b}, 0};
        cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
        /* A new handle: the loaded graph is cached per generation. */
        {
            char path[4200];
            snprintf(path, sizeof path, "%s/s", sdir);
            cvs_db_close(sdb);
            cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
        }
        cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, q, NQ, K, &p, lab, sc), CVS_ECORRUPT,
                     "damage %d: %s", what, cvs_errmsg(sdb));
        cvs_txn_end(t);
        cr_assert_eq(problems(), 1, "damage %d", what);
        free(b);
    }
    /* Random damage, a byte at a time: an error or an answer, never a
     * crash (the sanitizer build checks the reads). */
    {
        uint64_t rs = 12345;
        unsigned char *b = malloc(len);
        cr_assert(b);
        for (int it = 0; it < 40; it++) {
            char path[4200];
            cvs_txn *t;
            cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16};
            uint64_t np;
            int src;
            memcpy(b, blob, len);
            b[cvs__rng_below(&rs, len)] ^= (unsigned char)(1 + cvs__rng_below(&rs, 255));
            r = (raw_op){{2, "qg"}, {len, b}, 0};
            cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
            snprintf(path, sizeof path, "%s/s", sdir);
            cvs_db_close(sdb);
            cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
            cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
            src = cvs_txn_search_params(t, q, NQ, K, &p, lab, sc);
            cvs_txn_end(t);
            cr_assert(src == CVS_OK || src == CVS_ECORRUPT || src == CVS_EVERSION, "rc %d", src);
            cr_assert_eq(cvs_check(sdb, NULL, NULL, &np), 0);
            cr_assert(src == CVS_OK || np > 0, "a failing search but a clean check");
        }
        free(b);
    }
    /* The blob gone, qg_next left (seen by a new handle: the last one may
     * hold a graph loaded from a blob whose damage left it usable). */
    r = (raw_op){{2, "qg"}, {0, NULL}, 1};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    {
        char path[4200];
        snprintf(path, sizeof path, "%s/s", sdir);
        cvs_db_close(sdb);
        cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
    }
    {
        cvs_txn *t;
        cvs_search_params p = {.flags = CVS_SEARCH_ANN};
        cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, q, NQ, K, &p, lab, sc), CVS_ECORRUPT);
        cvs_txn_end(t);
    }
    cr_assert_eq(problems(), 1);
    r = (raw_op){{2, "qg"}, {len, blob}, 0};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    cr_assert_eq(problems(), 0);
    /* A record deleted behind the index's back (its mark lost). */
    cr_assert_eq(cvs_delete(sdb, (const char *[]){"r5"}, (size_t[]){2}, 1, NULL), 0);
    cr_assert_eq(problems(), 0);
    {
        MDB_txn *rt;
        MDB_cursor *c;
        MDB_val k = {4, "qg/d"}, v;
        unsigned char kb[12];
        cr_assert_eq(cvs__read_begin(sdb, &rt), 0);
        cr_assert_eq(mdb_cursor_open(rt, sdb->dbi_meta, &c), 0);
        cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), 0);
        cr_assert_eq(k.mv_size, 12);
        memcpy(kb, k.mv_data, 12);
        mdb_cursor_close(c);
        cvs__read_end(sdb, rt);
        r = (raw_op){{12, kb}, {0, NULL}, 1};
        cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    }
    cr_assert_eq(problems(), 1);
    /* A mark whose key is too short for a record key: named by check. */
    r = (raw_op){{7, "qg/d\0\0\0"}, {0, "qg/d"}, 0};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    {
        char msgs[4001] = "";
        uint64_t n = 0;
        cr_assert_eq(cvs_check(sdb, collect_msg, msgs, &n), 0, "%s", cvs_errmsg(sdb));
        cr_assert_eq(n, 2, "%s", msgs);
        cr_assert(strstr(msgs, "meta: a graph index mark (key of 7 bytes) is malformed"), "%s",
                  msgs);
    }
    free(blob);
    free(x);
    free(q);
    store_teardown();
}

/* The SQ8 rows are stored at the end of the blob (version 2) and a load
 * copies them: they are the codes of the stored vectors, a row changed in
 * the blob is the one a fresh handle scores with (nothing encodes it
 * again), and a version 1 blob (no rows) still loads, encodes them from
 * the vectors and answers exactly as the stored rows do. */
Test(qg_store, rows_stored_in_the_blob, .timeout = 120)
{
    float *x, *q, sc[NQ * K], sc2[NQ * K];
    int64_t lab[NQ * K], lab2[NQ * K];
    unsigned char *blob, *b;
    size_t len, rows0;
    uint8_t row[D];
    cvs__sq8 sq = {0};
    char path[4200];
    raw_op r;

    store_setup(&x, &q);
    snprintf(path, sizeof path, "%s/s", sdir);
    {
        MDB_txn *rt;
        MDB_val k = {2, "qg"}, v;
        cr_assert_eq(cvs__read_begin(sdb, &rt), 0);
        cr_assert_eq(mdb_get(rt, sdb->dbi_meta, &k, &v), 0);
        len = v.mv_size;
        blob = malloc(len);
        b = malloc(len);
        cr_assert(blob && b);
        memcpy(blob, v.mv_data, len);
        cvs__read_end(sdb, rt);
    }
    cr_assert_eq(cvs__get_u32(blob + 8), 2);
    cr_assert_eq(len, 40 + 8 * D + (size_t)N * 8 + (size_t)N * CVS_QG_R * 4 + (size_t)N * D);
    rows0 = len - (size_t)N * D;
    cr_assert_eq(cvs__sq8_alloc(&sq, D), 0);
    memcpy(sq.vmin, blob + 40, 4 * D);
    memcpy(sq.scale, blob + 40 + 4 * D, 4 * D);
    {
        cvs_txn *t;
        cr_assert_eq(cvs_txn_begin(sdb, &t), 0);
        for (size_t i = 0; i < N; i++) { /* node i holds the record of key i */
            cvs_record rec;
            char id[16];
            int64_t key = (int64_t)cvs__get_u64(blob + 40 + 8 * D + 8 * i);
            size_t j;
            snprintf(id, sizeof id, "r%zu", (size_t)key - 1);
            cr_assert_eq(cvs_get(t, id, strlen(id), &rec, NULL), 0);
            cr_assert_eq(rec.key, key, "ids r0.. have keys 1..");
            j = (size_t)key - 1;
            cvs__sq8_encode(&sq, x + j * D, 1, row);
            cr_assert_eq(memcmp(row, blob + rows0 + i * D, D), 0, "node %zu's stored row", i);
        }
        cvs_txn_end(t);
    }
    search(CVS_SEARCH_ANN, 64, 0, 1, q, lab, sc); /* the rows' distances answer */

    /* Version 1: no rows; encoded on load, the same answers. */
    memcpy(b, blob, rows0);
    cvs__put_u32(b + 8, 1);
    r = (raw_op){{2, "qg"}, {rows0, b}, 0};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    cvs_db_close(sdb);
    cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
    search(CVS_SEARCH_ANN, 64, 0, 1, q, lab2, sc2);
    cr_assert_eq(memcmp(lab, lab2, sizeof lab), 0, "version 1 answers otherwise");
    cr_assert_eq(memcmp(sc, sc2, sizeof sc), 0);
    cr_assert_eq(problems(), 0);

    /* Version 2 with the row of query 0's best answer moved far away. */
    memcpy(b, blob, len);
    for (size_t i = 0; i < N; i++)
        if ((int64_t)cvs__get_u64(blob + 40 + 8 * D + 8 * i) == lab[0])
            for (size_t d = 0; d < D; d++)
                b[rows0 + i * D + d] = (unsigned char)(255 - b[rows0 + i * D + d]);
    r = (raw_op){{2, "qg"}, {len, b}, 0};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    cvs_db_close(sdb);
    cr_assert_eq(cvs_db_open(path, 0, &sdb), 0);
    search(CVS_SEARCH_ANN, 64, 0, 1, q, lab2, sc2);
    cr_assert(lab2[0] != lab[0] || sc2[0] != sc[0], "the changed row was encoded again");
    cr_assert_eq(problems(), 1, "check compares the stored rows with the vectors");
    r = (raw_op){{2, "qg"}, {len, blob}, 0};
    cr_assert_eq(cvs__write(sdb, raw_meta_fn, &r), 0);
    cr_assert_eq(problems(), 0);

    cvs__sq8_destroy(&sq);
    free(blob);
    free(b);
    free(x);
    free(q);
    store_teardown();
}

/* cvs_tune on the graph: ef (nprobe) is searched past the IVF's list
 * count of 0, the rows' answer counts as "no re-ranking" (not the codes'
 * alone), and --rebuild keeps the graph. */
Test(qg_store, tune, .timeout = 300)
{
    float *x, *q;
    cvs_tune_result res;
    cvs_index_info ii;
    store_setup(&x, &q);
    cr_assert_eq(cvs_tune(sdb, &(cvs_tune_opts){.target_recall = 0.97, .flags = CVS_TUNE_REBUILD},
                          &res), 0, "%s", cvs_errmsg(sdb));
    cr_assert(res.reached, "recall %.3f at nprobe %zu rerank %zu", res.recall, res.nprobe,
              res.rerank);
    cr_assert_geq(res.recall, 0.97);
    cr_assert_str_eq(res.index, "qg32");
    cr_assert_eq(res.rebuilds, 0);
    cr_assert_eq(cvs_index_get_info(sdb, &ii), 0);
    cr_assert_eq(ii.nprobe, res.nprobe);
    cr_assert_eq(ii.rerank, res.rerank);
    free(x);
    free(q);
    store_teardown();
}

/* An encrypted store: the blob and the marks are sealed like any meta
 * value; build, search, a delete and check work the same. */
Test(qg_store, encrypted, .timeout = 120)
{
    float *x = malloc(N * D * sizeof *x), *q = malloc(NQ * D * sizeof *q), sc[NQ * K];
    int64_t lab[NQ * K], exact[NQ * K], codes[NQ * K];
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_L2};
    char path[4200];
    cr_assert(x && q);
    blobs(x, N, 1);
    blobs(q, NQ, 2);
    sdir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/s", sdir);
    cr_assert_eq(cvs_db_create_encrypted(path, &co, "pw", 2, &sdb), 0, "%s", cvs_errmsg(NULL));
    put_rows(x, 0, N);
    cr_assert_eq(cvs_build(sdb, "opq,pq16x4", &(cvs_build_opts){.seed = 3, .index = "qg"}), 0,
                 "%s", cvs_errmsg(sdb));
    search(CVS_SEARCH_EXACT, 0, 0, 0, q, exact, sc);
    search(CVS_SEARCH_CODES, 0, 128, 0, q, codes, sc);
    search(CVS_SEARCH_ANN, 128, 20, 0, q, lab, sc);
    cr_assert_geq(recall(lab, exact), recall(codes, exact) - 0.02);
    cr_assert_eq(cvs_delete(sdb, (const char *[]){"r5"}, (size_t[]){2}, 1, NULL), 0);
    cr_assert_eq(problems(), 0);
    free(x);
    free(q);
    store_teardown();
}
