/*
 * qg.c -- a proximity graph searched through 4-bit codes ("quantized
 * graph"), after SymphonyQG (Gong, Zeng, Xiao, Long et al., "SymphonyQG:
 * Towards Symphonious Integration of Quantization and Graph for
 * Approximate Nearest Neighbor Search", SIGMOD 2025) and NGT-QG (Iwasaki,
 * Yahoo Japan): a graph whose every node stores, next to its neighbour
 * list, the compressed codes of those neighbours in the fast-scan block
 * layout (André, Kermarrec & Le Scouarnec, VLDB 2015; pq/kernels.c), so
 * expanding a node estimates the distances of all its neighbours with one
 * in-register table pass instead of one full-precision distance each.
 *
 * The graph itself is Vamana's (Subramanya, Devvrit, Kadekodi, Krishnaswamy
 * & Simhadri, "DiskANN: Fast Accurate Billion-point Nearest Neighbor
 * Search on a Single Node", NeurIPS 2019): each node's out-edges are the
 * result of RobustPrune over the nodes a greedy search for it visited,
 * with reverse edges added (and pruned when a list overflows), a first
 * pass with alpha = 1 and a second with alpha > 1 that keeps some longer
 * edges, and the medoid as the entry point.
 *
 * Search: a best-first beam search with a candidate list of size ef
 * ordered by the codes' estimated distances; expanding a node scans its
 * block (32 estimates in one cvs__fs4_scan) and offers the neighbours that
 * beat the list's worst; the node expanded is itself scored exactly from
 * its SQ8 row, and the top k of those exact scores are the answer.
 *
 * Deviations:
 *  1. Codes are the store's own OPQ+PQ 4-bit codes (opq,pq{M}x4), not
 *     RaBitQ's as in SymphonyQG: they are what the store already keeps,
 *     their LUT is built once per query (no residuals), and the fast-scan
 *     kernel is the one the IVF index uses.  With no error bound, the
 *     codes only steer; the answer comes from the rows.
 *  2. As SymphonyQG, every expanded node is scored exactly (here from an
 *     SQ8 row, d bytes, prefetched with the node); the answer is the best
 *     k of those.  Measured alternative (prototype runs on a loaded
 *     machine): the beam on estimates alone and the best R of the final
 *     list re-scored.  On SIFT10K (opq,pq64x4) the two were within noise
 *     (recall@10 0.965 at ef = R = 20).  On Fashion-MNIST
 *     (pca256,opq,pq128x4, codes-only recall@10 0.63) the list's order is
 *     the weak part: 0.975 needed R = 60 at ef = 64 (9.6k queries/s)
 *     against 0.978 at ef = 64 scoring the visited rows (11.2k).  Scoring
 *     what the search visits anyway is the better use of the row reads.
 *     SQ8 rows cap recall@10 on SIFT10K near 0.99 (float rows: 0.998), so
 *     the store's graph (qg_store.c) can re-score the best of these with
 *     the raw vectors as a last step.
 *  3. The candidate list is keyed by the u16 fast-scan sums, not floats:
 *     the order is the same (one scale for the whole query), and the test
 *     "beats the worst" is one vector compare for all 32 neighbours.  A
 *     neighbour that fails it is not marked visited: its estimate is the
 *     same from any parent (the codes are not residual) and the list's
 *     worst only improves, so it would fail again.
 *  4. Build: Vamana's passes are sequential.  We insert in batches whose
 *     searches run in parallel on the graph as it stood before the batch
 *     (batches double from 1 up to n/64 nodes in the first pass, as
 *     ParlayANN's prefix doubling does), then add the batch's lists and
 *     its reverse edges, pruning each overflowing list once for the whole
 *     batch.  The graph therefore depends on the seed only, not on the
 *     thread count.  The first pass starts from an empty graph, not a
 *     random one: the doubling batches make it navigable from the start.
 *  5. Build distances are squared L2 on the vectors as stored (unit
 *     vectors for cosine stores, where it orders like the cosine), and
 *     alpha is applied squared.  Inner-product stores are built with L2
 *     too (the graph then follows L2 neighbourhoods) and searched with
 *     the inner product.
 *  6. Candidates for RobustPrune are capped at the 3R nearest of those
 *     visited (DiskANN keeps all): the rest are almost always pruned, and
 *     the cap bounds the build's cost at high dimension.
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/err.h"
#include "core/heap.h"
#include "core/jobs.h"
#include "core/rng.h"
#include "index/qg.h"
#include "pq/codec.h"
#include "pq/kernels.h"

#define R CVS_QG_R
#define NONE CVS_QG_NONE
#define EXPANDED 0x80000000u /* flag on a candidate list entry's node */
#define CAND_MAX (3 * R)     /* deviation 6 */

/* ==== Full-precision distances ==== */

typedef float (*dist_fn)(const float *a, const float *b, size_t d);

__attribute__((target("avx2,fma"))) static float l2_avx2(const float *a, const float *b,
                                                        size_t d)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    float t = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 x0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 x1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(x0, x0, s0);
        s1 = _mm256_fmadd_ps(x1, x1, s1);
    }
    for (; i < d; i++)
        t += (a[i] - b[i]) * (a[i] - b[i]);
    s0 = _mm256_add_ps(s0, s1);
    {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        return _mm_cvtss_f32(h) + t;
    }
}

static float l2_scalar(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

static float ip_scalar(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return -s;
}

__attribute__((target("avx2,fma"))) static float ip_avx2(const float *a, const float *b,
                                                        size_t d)
{
    __m256 s0 = _mm256_setzero_ps();
    size_t i = 0;
    float t = 0;
    for (; i + 8 <= d; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    for (; i < d; i++)
        t += a[i] * b[i];
    {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        return -(_mm_cvtss_f32(h) + t);
    }
}

/* Distance of q to an SQ8 row, "smaller is better" as the codes' estimates
 * (the IVF index's ",sq8" rows use the same quantizer, pq/sq8.c). */
__attribute__((target("avx2,fma"))) static float sq8_avx2(const float *q, const uint8_t *c,
                                                         const cvs__sq8 *sq, int l2)
{
    const size_t dim = sq->d;
    __m256 a = _mm256_setzero_ps();
    size_t d = 0;
    float t = 0;
    for (; d + 8 <= dim; d += 8) {
        __m256 cf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const void *)(c + d))));
        __m256 x = _mm256_fmadd_ps(cf, _mm256_loadu_ps(sq->scale + d), _mm256_loadu_ps(sq->vmin + d));
        __m256 qd = _mm256_loadu_ps(q + d);
        if (l2) {
            x = _mm256_sub_ps(qd, x);
            a = _mm256_fmadd_ps(x, x, a);
        } else {
            a = _mm256_fmadd_ps(qd, x, a);
        }
    }
    for (; d < dim; d++) {
        float x = sq->vmin[d] + sq->scale[d] * (float)c[d];
        t += l2 ? (q[d] - x) * (q[d] - x) : q[d] * x;
    }
    {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        t += _mm_cvtss_f32(h);
    }
    return l2 ? t : -t;
}

static size_t nthreads(int threads)
{
    long c = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : (size_t)c;
}

/* ==== Build (Vamana, deviations 4-6) ==== */

typedef struct cand {
    float d;
    uint32_t id;
} cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct bscratch {
    uint32_t *stamp, gen;  /* visited marks, n entries */
    float *pd;             /* candidate list: distances, node | EXPANDED */
    uint32_t *pid;
    cand *vis;             /* nodes expanded by the last search */
    size_t nvis, capvis;
    cand *c;               /* prune candidates (CAND_MAX + R + 1) */
    uint8_t *gone;
} bscratch;

typedef struct bctx {
    const float *x;
    size_t n, dim, L;
    float alpha2;          /* alpha squared (deviation 5) */
    uint32_t *nbr;
    dist_fn dist;
} bctx;

/* Inserts (d, id) into the sorted candidate list of *pn (<= cap)
 * entries; returns its position, or cap when it did not enter. */
static size_t list_insert(float *pd, uint32_t *pid, size_t *pn, size_t cap, float d, uint32_t id)
{
    size_t lo = 0, hi = *pn;
    if (*pn == cap && d >= pd[cap - 1])
        return cap;
    while (lo < hi) { /* after equal distances: earlier offers stay first */
        size_t mid = (lo + hi) / 2;
        if (pd[mid] <= d)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*pn < cap)
        (*pn)++;
    memmove(pd + lo + 1, pd + lo, (*pn - 1 - lo) * sizeof *pd);
    memmove(pid + lo + 1, pid + lo, (*pn - 1 - lo) * sizeof *pid);
    pd[lo] = d;
    pid[lo] = id;
    return lo;
}

static void bump_gen(uint32_t *stamp, uint32_t *gen, size_t n)
{
    if (++*gen == 0) { /* wrapped: old marks could collide */
        memset(stamp, 0, n * sizeof *stamp);
        *gen = 1;
    }
}

/* Greedy search for xq from entry over the current graph with a list of
 * c->L; the expanded nodes and their distances go to s->vis. */
static int greedy(const bctx *c, bscratch *s, const float *xq, uint32_t entry)
{
    size_t pn = 0, cur = 0;
    bump_gen(s->stamp, &s->gen, c->n);
    s->nvis = 0;
    s->stamp[entry] = s->gen;
    list_insert(s->pd, s->pid, &pn, c->L, c->dist(xq, c->x + (size_t)entry * c->dim, c->dim),
                entry);
    while (cur < pn) {
        uint32_t u = s->pid[cur];
        const uint32_t *nb = c->nbr + (size_t)u * R;
        size_t lo = pn;
        s->pid[cur] |= EXPANDED;
        if (s->nvis == s->capvis) {
            size_t nc = s->capvis * 2;
            cand *t = realloc(s->vis, nc * sizeof *t);
            if (!t)
                return cvs__err(CVS_ENOMEM, "out of memory building the graph");
            s->vis = t;
            s->capvis = nc;
        }
        s->vis[s->nvis++] = (cand){s->pd[cur], u};
        for (size_t j = 0; j < R && nb[j] != NONE; j++) {
            uint32_t v = nb[j];
            size_t pos;
            if (s->stamp[v] == s->gen)
                continue;
            s->stamp[v] = s->gen;
            pos = list_insert(s->pd, s->pid, &pn, c->L,
                              c->dist(xq, c->x + (size_t)v * c->dim, c->dim), v);
            if (pos < lo)
                lo = pos;
        }
        cur = lo < cur + 1 ? lo : cur + 1;
        while (cur < pn && (s->pid[cur] & EXPANDED))
            cur++;
    }
    return CVS_OK;
}

/* RobustPrune of node p's candidates cs[0..nc) (distances to p filled in):
 * sorted, repeats and p itself dropped, capped (deviation 6), then the
 * alpha rule; the kept nodes go to out (R entries, NONE padding). */
static void robust_prune(const bctx *c, bscratch *s, uint32_t p, cand *cs, size_t nc,
                         float alpha2, uint32_t *out)
{
    size_t m = 0, no = 0;
    qsort(cs, nc, sizeof *cs, cand_cmp);
    for (size_t i = 0; i < nc; i++)
        if (cs[i].id != p && (m == 0 || cs[m - 1].id != cs[i].id))
            cs[m++] = cs[i];
    /* Equal ids have equal distances, so repeats are adjacent after the
     * sort, unless two nodes tie on distance: catch those too. */
    if (m > CAND_MAX)
        m = CAND_MAX;
    memset(s->gone, 0, m);
    for (size_t i = 0; i < m && no < R; i++) {
        const float *xi;
        int dup = 0;
        if (s->gone[i])
            continue;
        for (size_t t = 0; t < no; t++)
            dup |= out[t] == cs[i].id;
        if (dup)
            continue;
        out[no++] = cs[i].id;
        xi = c->x + (size_t)cs[i].id * c->dim;
        for (size_t j = i + 1; j < m; j++)
            if (!s->gone[j] &&
                alpha2 * c->dist(xi, c->x + (size_t)cs[j].id * c->dim, c->dim) <= cs[j].d)
                s->gone[j] = 1;
    }
    for (size_t t = no; t < R; t++)
        out[t] = NONE;
}

typedef struct bjob {
    const bctx *c;
    bscratch *s;
    const uint32_t *order;  /* the batch's nodes */
    size_t i0, i1;          /* this job's slice of the batch */
    uint32_t entry;
    float alpha2;
    uint32_t *out;          /* batch size * R new lists */
    /* reverse edges: pairs (target, source), this job's slice */
    const uint64_t *pairs;
    size_t p0, p1;
    int rc;
} bjob;

/* Forward step: search and prune for the job's nodes of the batch. */
static void *forward_job(void *arg)
{
    bjob *j = arg;
    const bctx *c = j->c;
    bscratch *s = j->s;
    int rc = CVS_OK;
    for (size_t i = j->i0; i < j->i1 && !rc; i++) {
        uint32_t p = j->order[i];
        const float *xp = c->x + (size_t)p * c->dim;
        const uint32_t *old = c->nbr + (size_t)p * R;
        size_t nc = 0;
        if ((rc = greedy(c, s, xp, j->entry)))
            break;
        /* Candidates: the expanded nodes (closest first) and p's list. */
        qsort(s->vis, s->nvis, sizeof *s->vis, cand_cmp);
        for (size_t t = 0; t < s->nvis && nc < CAND_MAX; t++)
            s->c[nc++] = s->vis[t];
        for (size_t t = 0; t < R && old[t] != NONE; t++)
            s->c[nc++] = (cand){c->dist(xp, c->x + (size_t)old[t] * c->dim, c->dim), old[t]};
        robust_prune(c, s, p, s->c, nc, j->alpha2, j->out + i * R);
    }
    j->rc = rc;
    return NULL;
}

/* Reverse step: each target's list gets the batch's new in-edges, pruned
 * once when it overflows.  The job's pairs start and end on target
 * boundaries, so no two jobs touch one list. */
static void *reverse_job(void *arg)
{
    bjob *j = arg;
    const bctx *c = j->c;
    bscratch *s = j->s;
    for (size_t a = j->p0; a < j->p1;) {
        uint32_t t = (uint32_t)(j->pairs[a] >> 32);
        uint32_t *lst = c->nbr + (size_t)t * R;
        size_t b = a, deg = 0, nc = 0;
        while (b < j->p1 && (uint32_t)(j->pairs[b] >> 32) == t)
            b++;
        while (deg < R && lst[deg] != NONE)
            deg++;
        for (size_t i = 0; i < deg; i++)
            s->c[nc++] = (cand){0, lst[i]};
        for (size_t i = a; i < b && nc < CAND_MAX + R; i++) {
            uint32_t src = (uint32_t)j->pairs[i];
            int have = 0;
            for (size_t q = 0; q < nc; q++)
                have |= s->c[q].id == src;
            if (!have)
                s->c[nc++] = (cand){0, src};
        }
        if (nc <= R) {
            for (size_t i = 0; i < R; i++)
                lst[i] = i < nc ? s->c[i].id : NONE;
        } else {
            const float *xt = c->x + (size_t)t * c->dim;
            for (size_t i = 0; i < nc; i++)
                s->c[i].d = c->dist(xt, c->x + (size_t)s->c[i].id * c->dim, c->dim);
            robust_prune(c, s, t, s->c, nc, j->alpha2, lst);
        }
        a = b;
    }
    return NULL;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One pass over order[0..n): batches of growing size (first pass) or of
 * maxb (second), each searched in parallel and then merged. */
static int build_pass(const bctx *c, bscratch *sc, size_t nt, const uint32_t *order,
                      uint32_t entry, float alpha2, int doubling, size_t maxb, uint32_t *out,
                      uint64_t *pairs, bjob *jobs)
{
    size_t done = 0, b = doubling ? 1 : maxb;
    while (done < c->n) {
        size_t bn = c->n - done < b ? c->n - done : b, np = 0, jn = nt < bn ? nt : bn;
        const uint32_t *bo = order + done;
        for (size_t i = 0; i < jn; i++) {
            jobs[i] = (bjob){.c = c, .s = &sc[i], .order = bo, .i0 = bn * i / jn,
                             .i1 = bn * (i + 1) / jn, .entry = entry, .alpha2 = alpha2,
                             .out = out};
        }
        cvs__run_jobs(jobs, sizeof *jobs, jn, forward_job);
        for (size_t i = 0; i < jn; i++)
            if (jobs[i].rc)
                return jobs[i].rc;
        for (size_t i = 0; i < bn; i++) {
            memcpy(c->nbr + (size_t)bo[i] * R, out + i * R, R * sizeof *out);
            for (size_t t = 0; t < R && out[i * R + t] != NONE; t++)
                pairs[np++] = (uint64_t)out[i * R + t] << 32 | bo[i];
        }
        qsort(pairs, np, sizeof *pairs, u64_cmp);
        jn = nt < np ? nt : np;
        for (size_t i = 0; i < jn; i++) {
            size_t p0 = np * i / jn, p1 = np * (i + 1) / jn;
            /* Move both ends forward to a target boundary. */
            while (p0 > 0 && p0 < np && pairs[p0] >> 32 == pairs[p0 - 1] >> 32)
                p0++;
            while (p1 > 0 && p1 < np && pairs[p1] >> 32 == pairs[p1 - 1] >> 32)
                p1++;
            jobs[i] = (bjob){.c = c, .s = &sc[i], .alpha2 = alpha2, .pairs = pairs, .p0 = p0,
                             .p1 = p1};
        }
        cvs__run_jobs(jobs, sizeof *jobs, jn, reverse_job);
        done += bn;
        if (b < maxb)
            b = b * 2 < maxb ? b * 2 : maxb;
    }
    return CVS_OK;
}

int cvs__qg_graph_build(const float *x, size_t n, size_t dim, const cvs_qg_build_opts *o,
                        uint32_t **nbr_out, uint32_t *entry)
{
    bctx c = {.x = x, .n = n, .dim = dim};
    size_t nt = nthreads(o ? o->threads : 0), maxb;
    uint64_t seed = o && o->seed ? o->seed : 1;
    float alpha = o && o->alpha > 0 ? o->alpha : 1.2f;
    uint32_t *order = NULL, *out = NULL;
    uint64_t *pairs = NULL;
    bscratch *sc = NULL;
    bjob *jobs = NULL;
    double *mean = NULL;
    int rc = CVS_OK;

    *nbr_out = NULL;
    *entry = 0;
    if (!x || n == 0 || dim == 0 || n >= EXPANDED)
        return cvs__err(CVS_EINVAL, "graph build: %zu vectors of dimension %zu", n, dim);
    c.L = o && o->L ? o->L : 64;
    if (c.L < R)
        c.L = R;
    c.dist = cvs__simd_avx2() ? l2_avx2 : l2_scalar;
    maxb = n / 64 > 64 ? n / 64 : 64;
    if (nt > maxb)
        nt = maxb;
    c.nbr = malloc(n * R * sizeof *c.nbr);
    order = malloc(n * sizeof *order);
    out = malloc(maxb * R * sizeof *out);
    pairs = malloc(maxb * R * sizeof *pairs);
    sc = calloc(nt, sizeof *sc);
    jobs = calloc(nt, sizeof *jobs);
    mean = calloc(dim, sizeof *mean);
    if (!c.nbr || !order || !out || !pairs || !sc || !jobs || !mean) {
        rc = cvs__err(CVS_ENOMEM, "out of memory building the graph (%zu nodes)", n);
        goto out;
    }
    for (size_t i = 0; i < nt; i++) {
        sc[i].stamp = calloc(n, sizeof *sc[i].stamp);
        sc[i].pd = malloc((c.L + 1) * sizeof *sc[i].pd);
        sc[i].pid = malloc((c.L + 1) * sizeof *sc[i].pid);
        sc[i].capvis = 2 * c.L;
        sc[i].vis = malloc(sc[i].capvis * sizeof *sc[i].vis);
        sc[i].c = malloc((CAND_MAX + 2 * R + 1) * sizeof *sc[i].c);
        sc[i].gone = malloc(CAND_MAX + 2 * R + 1);
        if (!sc[i].stamp || !sc[i].pd || !sc[i].pid || !sc[i].vis || !sc[i].c || !sc[i].gone) {
            rc = cvs__err(CVS_ENOMEM, "out of memory building the graph (%zu nodes)", n);
            goto out;
        }
    }
    for (size_t i = 0; i < n * R; i++)
        c.nbr[i] = NONE;
    /* Entry: the medoid, here the vector nearest the mean. */
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < dim; d++)
            mean[d] += x[i * dim + d];
    {
        float *mf = malloc(dim * sizeof *mf), best = INFINITY;
        if (!mf) {
            rc = cvs__err(CVS_ENOMEM, "out of memory building the graph");
            goto out;
        }
        for (size_t d = 0; d < dim; d++)
            mf[d] = (float)(mean[d] / (double)n);
        for (size_t i = 0; i < n; i++) {
            float d = c.dist(mf, x + i * dim, dim);
            if (d < best) {
                best = d;
                *entry = (uint32_t)i;
            }
        }
        free(mf);
    }
    /* A seeded random insertion order (Fisher-Yates). */
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)cvs__rng_below(&seed, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (n > 1 &&
        ((rc = build_pass(&c, sc, nt, order, *entry, 1.0f, 1, maxb, out, pairs, jobs)) ||
         (rc = build_pass(&c, sc, nt, order, *entry, alpha * alpha, 0, maxb, out, pairs, jobs))))
        goto out;
    *nbr_out = c.nbr;
    c.nbr = NULL;
out:
    if (sc)
        for (size_t i = 0; i < nt; i++) {
            free(sc[i].stamp);
            free(sc[i].pd);
            free(sc[i].pid);
            free(sc[i].vis);
            free(sc[i].c);
            free(sc[i].gone);
        }
    free(sc);
    free(jobs);
    free(mean);
    free(pairs);
    free(out);
    free(order);
    free(c.nbr);
    return rc;
}

/* ==== The searchable graph ==== */

/* Visited marks kept between searches (see "Visited marks" below). */
typedef struct visit {
    uint32_t *stamp, gen;
    struct visit *next;
} visit;

struct cvs_qg_pool {
    pthread_mutex_t mu;
    visit *free;
};


int cvs__qg_assemble(cvs_qg *g, const uint32_t *nbr, const uint8_t *codes4)
{
    size_t P, m;
    uint8_t *tmp = NULL;
    int rc = CVS_OK;

    if (!g->codec || !cvs__codec_is_4bit(g->codec) || !cvs__codec_lut_size(g->codec))
        return cvs__err(CVS_EINVAL, "the graph index needs 4-bit PQ codes (e.g. opq,pq64x4)");
    m = cvs__codec_m(g->codec);
    P = (m + 1) / 2;
    g->m = m;
    g->bb = cvs__fs4_packed_size(R, m);
    g->ns = g->bb + R * sizeof(uint32_t);
    free(g->nodes);
    free(g->eblock);
    if (!g->pool && (g->pool = calloc(1, sizeof *g->pool)) &&
        pthread_mutex_init(&g->pool->mu, NULL)) {
        free(g->pool);
        g->pool = NULL; /* searches then allocate their own marks */
    }
    g->nodes = malloc(g->n * g->ns);
    g->eblock = calloc(1, g->bb);
    tmp = calloc(R, P);
    if (!g->nodes || !g->eblock || !tmp) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the graph (%zu nodes)", g->n);
        goto out;
    }
    for (size_t u = 0; u < g->n; u++) {
        uint8_t *node = g->nodes + u * g->ns;
        const uint32_t *nb = nbr + u * R;
        memset(tmp, 0, R * P);
        for (size_t j = 0; j < R; j++)
            if (nb[j] != NONE)
                memcpy(tmp + j * P, codes4 + (size_t)nb[j] * P, P);
        cvs__fs4_pack(tmp, R, m, node);
        memcpy(node + g->bb, nb, R * sizeof *nb);
    }
    cvs__fs4_pack(codes4 + (size_t)g->entry * P, 1, m, g->eblock);
out:
    free(tmp);
    return rc;
}

void cvs__qg_free(cvs_qg *g)
{
    if (!g)
        return;
    free(g->keys);
    free(g->nodes);
    free(g->eblock);
    free(g->rows);
    cvs__sq8_destroy(&g->sq);
    if (g->pool) {
        while (g->pool->free) {
            visit *v = g->pool->free;
            g->pool->free = v->next;
            free(v->stamp);
            free(v);
        }
        pthread_mutex_destroy(&g->pool->mu);
        free(g->pool);
    }
    memset(g, 0, sizeof *g);
}

uint64_t cvs__qg_mem_bytes(const cvs_qg *g)
{
    return (uint64_t)g->n * (g->ns + sizeof *g->keys) + g->bb +
           (g->rows ? (uint64_t)g->n * g->dim : 0);
}

/* ==== Search ==== */

typedef struct sjob {
    const cvs_qg *g;
    const cvs_qg_search_opts *o;
    const float *q;
    size_t k, q0, q1;
    int64_t *labels;
    float *scores;
    int rc;
    char err[256];
} sjob;

typedef struct sscratch {
    uint32_t *stamp, gen;
    uint16_t *pacc, acc[R];
    uint32_t *pid;
    float *lut, *hd, *tmp;
    int64_t *hid;
    uint8_t *qlut;
} sscratch;

static inline void prefetch_node(const cvs_qg *g, uint32_t u)
{
    const char *p = (const char *)(g->nodes + (size_t)u * g->ns);
    for (size_t o = 0; o < g->ns; o += 64)
        _mm_prefetch(p + o, _MM_HINT_T0);
}

/* Bit j set when acc[j] < lim, for the 32 sums of one block. */
__attribute__((target("avx2"))) static uint32_t below_avx2(const uint16_t *acc, uint16_t lim)
{
    const __m256i l = _mm256_set1_epi16((short)(lim - 1));
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)acc);
    __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + 16));
    /* a < lim  <=>  min(a, lim - 1) == a, for lim >= 1 */
    __m256i e0 = _mm256_cmpeq_epi16(_mm256_min_epu16(a0, l), a0);
    __m256i e1 = _mm256_cmpeq_epi16(_mm256_min_epu16(a1, l), a1);
    /* 16-bit masks to bytes; packs works per 128-bit lane, the permute
     * puts the four quarters back in order. */
    __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi16(e0, e1), 0xd8);
    return lim ? (uint32_t)_mm256_movemask_epi8(p) : 0;
}

static uint32_t below_scalar(const uint16_t *acc, uint16_t lim)
{
    uint32_t mask = 0;
    for (int j = 0; j < R; j++)
        mask |= (uint32_t)(acc[j] < lim) << j;
    return mask;
}

/* Inserts (a, id) into the list sorted by (acc); returns the position, or
 * cap when it did not enter. */
static size_t acc_insert(uint16_t *pa, uint32_t *pid, size_t *pn, size_t cap, uint16_t a,
                         uint32_t id)
{
    size_t lo = 0, hi = *pn;
    if (*pn == cap && a >= pa[cap - 1])
        return cap;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pa[mid] <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*pn < cap)
        (*pn)++;
    memmove(pa + lo + 1, pa + lo, (*pn - 1 - lo) * sizeof *pa);
    memmove(pid + lo + 1, pid + lo, (*pn - 1 - lo) * sizeof *pid);
    pa[lo] = a;
    pid[lo] = id;
    return lo;
}

static inline int skipped(const cvs_qg_search_opts *o, uint32_t u)
{
    return o->skip && ((o->skip[u >> 6] >> (u & 63)) & 1);
}

/* Exact (SQ8 or float row) distance of q to node u. */
static float exact_row(const cvs_qg *g, const float *q, uint32_t u)
{
    float d;
    if (g->rows) {
        const uint8_t *row = g->rows + (size_t)u * g->dim;
        if (cvs__simd_avx2())
            return sq8_avx2(q, row, &g->sq, g->l2);
        cvs__sq8_distances(&g->sq, q, !g->l2, row, 1, &d);
        return d;
    }
    if (cvs__simd_avx2())
        return g->l2 ? l2_avx2(q, g->xf + (size_t)u * g->dim, g->dim)
                     : ip_avx2(q, g->xf + (size_t)u * g->dim, g->dim);
    return g->l2 ? l2_scalar(q, g->xf + (size_t)u * g->dim, g->dim)
                 : ip_scalar(q, g->xf + (size_t)u * g->dim, g->dim);
}

/* Queries whose LUTs are made in one cvs__codec_lut_batch call: the
 * OPQ/PCA matrices and codebooks are loaded once per block, not once per
 * query (pq/panel.c); the LUT is a fixed cost of every query. */
#define LUT_BLOCK 16

/* lut, offset: query qi's LUT (cvs__codec_lut's) and its offset. */
static int qg_one(const sjob *jb, sscratch *s, size_t qi, const float *lut, float offset)
{
    const cvs_qg *g = jb->g;
    const cvs_qg_search_opts *o = jb->o;
    const float *q = jb->q + qi * g->dim;
    const size_t ef = o->ef, k = jb->k;
    uint32_t (*below)(const uint16_t *, uint16_t) = cvs__simd_avx2() ? below_avx2 : below_scalar;
    const int exact = !o->codes_only && (g->rows || g->xf);
    float scale, bias;
    size_t pn = 0, cur = 0, n;
    cvs_heap h;

    cvs__fs4_quantize_lut(lut, g->m, s->qlut, &scale, &bias);
    bump_gen(s->stamp, &s->gen, g->n);
    cvs__heap_init(&h, k, s->hd, s->hid);
    cvs__fs4_scan(g->eblock, 1, g->m, s->qlut, s->acc);
    s->stamp[g->entry] = s->gen;
    acc_insert(s->pacc, s->pid, &pn, ef, s->acc[0], g->entry);
    while (cur < pn) {
        uint32_t u = s->pid[cur], mask;
        const uint8_t *node = g->nodes + (size_t)u * g->ns;
        const uint32_t *nb = (const uint32_t *)(const void *)(node + g->bb);
        size_t lo = pn;
        s->pid[cur] |= EXPANDED;
        /* The next candidate is most likely the next unexpanded one. */
        for (size_t t = cur + 1; t < pn; t++)
            if (!(s->pid[t] & EXPANDED)) {
                prefetch_node(g, s->pid[t]);
                if (exact && g->rows)
                    for (size_t b = 0; b < g->dim; b += 64)
                        _mm_prefetch((const char *)(g->rows + (size_t)s->pid[t] * g->dim + b),
                                     _MM_HINT_T0);
                break;
            }
        if (exact && !skipped(o, u))
            cvs__heap_push(&h, exact_row(g, q, u), g->keys[u]);
        cvs__fs4_scan(node, 1, g->m, s->qlut, s->acc);
        mask = below(s->acc, pn == ef ? s->pacc[ef - 1] : 0xffff);
        while (mask) {
            int j = __builtin_ctz(mask);
            uint32_t v = nb[j];
            size_t pos;
            mask &= mask - 1;
            if (v == NONE || s->stamp[v] == s->gen)
                continue;
            pos = acc_insert(s->pacc, s->pid, &pn, ef, s->acc[j], v);
            if (pos == ef)
                continue; /* deviation 3: not marked */
            s->stamp[v] = s->gen;
            if (pos < lo)
                lo = pos;
            if (pn == ef) /* the limit only tightens */
                mask &= below(s->acc, s->pacc[ef - 1]);
        }
        cur = lo < cur + 1 ? lo : cur + 1;
        while (cur < pn && (s->pid[cur] & EXPANDED))
            cur++;
    }
    /* Codes only: the list's best by estimate.  Otherwise every expanded
     * node was scored exactly on the way (deviation 2). */
    if (!exact)
        for (size_t t = 0; t < pn && h.n < k; t++) {
            uint32_t u = s->pid[t] & ~EXPANDED;
            if (!skipped(o, u))
                cvs__heap_push(&h, offset + bias + scale * (float)s->pacc[t], g->keys[u]);
        }
    n = cvs__heap_sort(&h);
    {
        int64_t *lab = jb->labels + qi * k;
        float *sc = jb->scores + qi * k;
        for (size_t j = 0; j < k; j++) {
            if (j >= n) {
                lab[j] = -1;
                sc[j] = NAN;
            } else {
                lab[j] = s->hid[j];
                sc[j] = g->l2 ? (s->hd[j] > 0 ? sqrtf(s->hd[j]) : 0.0f) : -s->hd[j];
            }
        }
    }
    return CVS_OK;
}

/* ==== Visited marks, kept between searches ====
 *
 * A search's visited set is an array of n generation stamps: a node is
 * visited when its stamp equals the search's generation, so starting a
 * search costs one increment, not clearing n entries.  Allocating (and
 * faulting in) the array for every call would cost more than a small
 * batch's searches, so finished jobs leave theirs in the graph's pool for
 * the next call, with its generation. */

static visit *visit_take(const cvs_qg *g)
{
    visit *v = NULL;
    if (g->pool) {
        pthread_mutex_lock(&g->pool->mu);
        if ((v = g->pool->free))
            g->pool->free = v->next;
        pthread_mutex_unlock(&g->pool->mu);
    }
    if (!v && (v = calloc(1, sizeof *v)) && !(v->stamp = calloc(g->n, sizeof *v->stamp))) {
        free(v);
        v = NULL;
    }
    return v;
}

static void visit_give(const cvs_qg *g, visit *v)
{
    if (!v)
        return;
    if (g->pool) {
        pthread_mutex_lock(&g->pool->mu);
        v->next = g->pool->free;
        g->pool->free = v;
        pthread_mutex_unlock(&g->pool->mu);
        return;
    }
    free(v->stamp);
    free(v);
}

static void *search_job(void *arg)
{
    sjob *jb = arg;
    const cvs_qg *g = jb->g;
    sscratch s = {0};
    visit *vis = visit_take(g);
    int rc = CVS_OK;
    if (vis) {
        s.stamp = vis->stamp;
        s.gen = vis->gen;
    }
    s.pacc = malloc((jb->o->ef + 1) * sizeof *s.pacc);
    s.pid = malloc((jb->o->ef + 1) * sizeof *s.pid);
    s.lut = malloc(LUT_BLOCK * cvs__codec_lut_size(g->codec) * sizeof *s.lut);
    s.qlut = malloc(g->m * 16 + 32);
    s.hd = malloc(jb->k * sizeof *s.hd);
    s.hid = malloc(jb->k * sizeof *s.hid);
    if (!s.stamp || !s.pacc || !s.pid || !s.lut || !s.qlut || !s.hd || !s.hid) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for search buffers");
        goto out;
    }
    for (size_t a = jb->q0; a < jb->q1 && !rc; a += LUT_BLOCK) {
        size_t bn = jb->q1 - a < LUT_BLOCK ? jb->q1 - a : LUT_BLOCK;
        size_t ls = cvs__codec_lut_size(g->codec);
        float off[LUT_BLOCK];
        if ((rc = cvs__codec_lut_batch(g->codec, jb->q + a * g->dim, bn, s.lut, off)))
            break;
        for (size_t i = 0; i < bn && !rc; i++)
            rc = qg_one(jb, &s, a + i, s.lut + i * ls, off[i]);
    }
out:
    if (rc)
        snprintf(jb->err, sizeof jb->err, "%s", cvs_errmsg(NULL));
    jb->rc = rc;
    if (vis)
        vis->gen = s.gen;
    visit_give(g, vis);
    free(s.pacc);
    free(s.pid);
    free(s.lut);
    free(s.qlut);
    free(s.hd);
    free(s.hid);
    return NULL;
}

int cvs__qg_search_graph(const cvs_qg *g, const float *q, size_t nq, size_t k,
                   const cvs_qg_search_opts *o, int64_t *labels, float *scores)
{
    cvs_qg_search_opts so = *o;
    size_t nt = nthreads(o->threads);
    sjob *jobs;
    int rc = CVS_OK;

    if (nq == 0 || k == 0)
        return CVS_OK;
    if (g->n == 0) {
        for (size_t i = 0; i < nq * k; i++) {
            labels[i] = -1;
            scores[i] = NAN;
        }
        return CVS_OK;
    }
    /* Codes only, the list must hold k candidates. */
    if (so.ef < k)
        so.ef = k;
    if (nt > nq)
        nt = nq;
    if (!(jobs = calloc(nt, sizeof *jobs)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nt; i++)
        jobs[i] = (sjob){.g = g, .o = &so, .q = q, .k = k, .q0 = nq * i / nt,
                         .q1 = nq * (i + 1) / nt, .labels = labels, .scores = scores};
    cvs__run_jobs(jobs, sizeof *jobs, nt, search_job);
    for (size_t i = 0; i < nt; i++)
        if (jobs[i].rc) {
            rc = cvs__err(jobs[i].rc, "%s", jobs[i].err);
            break;
        }
    free(jobs);
    return rc;
}
