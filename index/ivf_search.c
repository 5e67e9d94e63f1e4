/*
 * ivf_search.c -- search of the IVF index (method in index/ivf.c):
 * coarse probe -> ADC scan of the probed lists -> best R candidates ->
 * re-rank with the raw vectors -> top k.
 *
 * Per query:
 *  - coarse: q.c for every centroid, for chunks of 16 queries at a time
 *    (cvs__ivf_dots reads each slice of centroids once per chunk), then the
 *    nprobe nearest by ||c||^2 - 2 q.c (deviations 7 and 8);
 *  - LUT: one per query for direct codes and for ip/cosine residual codes
 *    (q.(c + r) = q.c + q.r, the q.c term is the list's constant), made for
 *    the same chunks of 16 queries so that they share each load of the
 *    PCA/OPQ matrices; one per probed list for l2 residual codes (the LUT
 *    of q - c);
 *  - scan: the fast-scan kernel for 4-bit codes (LUT quantized to bytes,
 *    32 codes per shuffle), the 8-bit ADC kernel, or the codec's own
 *    distances for sq8; a candidate enters the heap only if it beats the
 *    heap's worst (4-bit codes: the gathering threshold of deviation 5),
 *    and only then are the allow-bitmap and the snapshot stamps
 *    (ivf_lists.c) consulted, so filters cost nothing on the common path;
 *  - re-rank: the best R candidates are re-scored exactly with their
 *    stored vectors, read with mdb_get straight from LMDB's memory map (no
 *    in-memory copy of the vectors: the index keeps codes and keys only);
 *    all R look-ups come first, prefetching each vector, then the
 *    distances.  With ",sq8" (ivf.c deviation 5) they are re-scored from
 *    the in-memory SQ8 rows instead, by list position (each row
 *    prefetched 8 candidates ahead: the rows are scattered over the lists),
 *    and optionally the best few of those again from the stored vectors
 *    (deviation 6).
 *
 * Deviations:
 *  1. Batches are split into contiguous ranges of queries, one per thread;
 *     the threads share the caller's read transaction for their mdb_get
 *     calls (read-only use of one MDB_txn from several threads: every
 *     database is touched once before the threads start, so LMDB updates no
 *     per-transaction state during the scan).
 *  2. Results are deterministic and independent of the thread count: each
 *     query is computed by exactly one thread with the same code path.
 *  3. The coarse products q.c come from our own small kernel
 *     (cvs__ivf_dots, index/ivf.c) rather than OpenBLAS: see there.
 *  4. RaBitQ codes (pq/rabitq.c) come with an error bound, and re-ranking
 *     follows RaBitQ's rule (Gao & Long 2024, section 5) instead of a fixed
 *     depth: the candidate heap keeps the R smallest lower bounds
 *     est - eps0 * err (eps0 = CVS_RBQ_EPS0), and they are re-scored in
 *     increasing order of that bound until the bound exceeds the k-th best
 *     exact distance found so far; every later candidate's bound is larger
 *     still, so with probability ~1 none of them belongs to the top k.  R
 *     is then a cap, not the number of reads.  The paper applies the rule
 *     to every scanned code; the cap bounds the heap as for other codecs.
 *     Without re-ranking the heap keeps the R smallest estimates.  The reads
 *     are counted (cvs__ivf_rerank_counts).
 *  5. 4-bit codes are selected by gathering, not by pushes (the idea of
 *     index/topk.c, per query over all probed lists).  Pushing each code
 *     that beat the heap's worst cost ~140 sift-downs through a heap of 50
 *     per SIFT10K query, each level an unpredictable branch: a fifth of
 *     the query's instructions and more of its time.  Now every probed
 *     list is scanned first (their u16 sums kept, with each list's bias
 *     and scale), a threshold T is guessed as the sum of rank ~1.3 kk in
 *     128 sums sampled evenly over the lists, the codes at or under T (and
 *     allowed, and visible) are gathered, and the best kk selected
 *     by slices of distance (deviation 9).  If fewer than kk pass T (a poor
 *     sample, or a filter), they are gathered again under the sample's
 *     rank ~2.5 kk, then under its ranks 4 and 16 times that one, and
 *     then, if still too few, every code: the guess costs time, never
 *     results, and the kk kept are exactly the heap's,
 *     ties broken by id, so answers do not change and stay independent of
 *     threads.  Why 1.3 kk and not more: the selection's cost grows with
 *     what was gathered, and aiming at 2 kk (2.3 kk gathered on average
 *     on SIFT10K) made the selection a sixth of a query; at 1.3 kk the
 *     second threshold is needed for 7% of SIFT10K's queries (4% of
 *     Fashion-MNIST's) and a SIFT10K query costs 5% fewer instructions.
 *     The sample's ranks come from a sorted run of its smallest sums
 *     (sample_ranks), not from a quickselect of all 128 (another 6%).
 *  6. ",sq8" rows make the re-rank's distances approximate: each
 *     coordinate is rounded to 1/255 of its range, so two candidates whose
 *     true distances differ by less than the rounding can swap, and the
 *     k-th neighbour is often within that of the (k+1)-th.  On GloVe-100
 *     that caps recall@10 near 0.98 however many lists are probed.  FAISS's
 *     IndexRefine has one refinement stage; we add a second one, exact: the
 *     best `refine` of the SQ8 re-rank (at least k, at most its candidates)
 *     are scored again from their stored vectors, as the re-rank without
 *     rows does.  Rounding only reorders near-ties, so a few more than k
 *     suffice; each costs an LMDB look-up, which is why it is a knob that
 *     cvs_tune turns on only where it pays (index/tune.c deviation 7), not
 *     always on.  The reads count with the re-rank's.
 *  7. The coarse probe keeps the nprobe nearest centroids in a sorted run
 *     (cvs__ivf_coarse_select), not a bounded heap: a centroid enters only
 *     when it beats the run's last, which after the first few is rare
 *     (about nprobe ln(nlist / nprobe) entries in all), and the run comes
 *     out in the probe order without a heap sort.  On SIFT10K's tuned ivf64
 *     nprobe 11 the heap's pushes and sort were 4,400 of a query's 74,100
 *     instructions.  Same lists, same order (ties to the lower list).  Only
 *     up to 32 lists probed: an entry shifts the run behind it, so with
 *     many lists probed (most of them entering) the run costs nprobe^2;
 *     past 32, deviation 8.
 *  8. Past 32 lists probed, the coarse probe guesses a threshold as the
 *     fast-scan selection does (deviation 5): the distances of 128 evenly
 *     spaced centroids give the ranks of about 1.3 and 2.5 nprobe; the
 *     centroids at or under the first (8 compared per AVX2 instruction)
 *     are gathered as 64-bit keys, distance bits over list number, and
 *     only the first nprobe of them sorted (a quicksort that skips the
 *     parts past nprobe).  Fewer than nprobe under it: the second, then
 *     every centroid, so the guess costs time, never lists.  A heap took
 *     ~4 nprobe pushes (about nprobe (1 + ln(nlist / nprobe))) with a
 *     mispredicted branch per level and a heap sort: on GloVe-100 at
 *     nprobe 160 of 2,334 lists it was 150,000 of a query's 725,000
 *     instructions, at nprobe 72 of 1,167 61,000 of 545,000; now 612,000
 *     and 504,000 in all, the same lists in the same order (keys order
 *     as the floats with ties to the lower list; -0 is made +0 first).
 *  9. The best kk of the candidates gathered under deviation 5's threshold
 *     are picked by slices of distance (cvs__ivf_best_of), not by a
 *     quickselect of all of them: the candidates are counted in 256 equal
 *     slices of their range, those of the slices below the one holding
 *     the kk-th are taken whole, and only that slice goes through the
 *     quickselect.  Three branch-free passes of a few instructions per
 *     candidate, where the quickselect's partitions visit each ~3 times
 *     with a 16-byte swap.  With 128 sampled sums the threshold passes
 *     1.3-3 kk codes on GloVe-100 (the sample's rank rounds up, and the
 *     looser second threshold serves one query in seven), so this step
 *     was 33,000 of a query's 490,000 instructions at nprobe 72, R 200 and
 *     101,000 of 1,400,000 at nprobe 256, R 400; now a query costs 480,900
 *     and 1,377,000.  The same kk: a lower slice never holds a worse
 *     candidate.  Below 256 candidates (fewer than one a slice) the
 *     quickselect stays: there the slices' counts cost more than they save.
 */
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/jobs.h"
#include "index/codes.h"
#include "core/heap.h"
#include "index/ivf.h"
#include "index/topk.h"
#include "pq/codec.h"
#include "pq/kernels.h"
#include "store/seal.h"

#define QCHUNK 16 /* queries per coarse pass over the centroids */
/* With SQ8 re-ranking codes the candidate heap holds list positions (list
 * << 32 | entry) rather than keys, to find the codes again. */
#define POS(li, j) ((int64_t)(((uint64_t)(li) << 32) | (uint64_t)(j)))
#define POS_LIST(pos) ((size_t)((uint64_t)(pos) >> 32))
#define POS_ENTRY(pos) ((size_t)((uint64_t)(pos) & 0xffffffffu))


/* Deviation 4: raw vectors (or sq8 rows) re-scored, and queries that
 * re-ranked, over every search of this process. */
static _Atomic uint64_t rerank_reads, rerank_queries;

void cvs__ivf_rerank_counts(uint64_t *reads, uint64_t *queries)
{
    *reads = atomic_load_explicit(&rerank_reads, memory_order_relaxed);
    *queries = atomic_load_explicit(&rerank_queries, memory_order_relaxed);
}

typedef struct job {
    cvs_db *db;
    MDB_txn *txn;
    cvs_ivf *ix;
    const cvs_ivf_params *p;
    const cvs_codec *codec;
    const float *q, *qn;
    size_t k, nprobe, kk, maxn;
    size_t refine;    /* deviation 6: SQ8-ranked candidates re-scored exactly, 0 = none */
    int rerank;
    const uint64_t *allow;
    size_t allow_words;
    uint64_t T;
    int64_t *labels;
    float *scores;
    size_t q0, q1;
    int rc;
    char err[512];
} job;

static inline int visible(const cvs_ivf_list *l, size_t j, uint64_t T)
{
    return !l->vis || (l->vis[2 * j] <= T && T < l->vis[2 * j + 1]);
}

static inline int allowed(const job *jb, int64_t key)
{
    uint64_t w = (uint64_t)key >> 6;
    return !jb->allow || (w < jb->allow_words && ((jb->allow[w] >> ((uint64_t)key & 63)) & 1));
}

/* ==== Re-ranking ==== */



/* sum q[d]*x[d] (ip) or sum (q[d]-x[d])^2 (l2); x may be unaligned (it
 * points into LMDB's map). */
__attribute__((target("avx2,fma"))) static float exact_avx2(const float *q, const void *xv,
                                                           size_t dim, int l2)
{
    const unsigned char *x = xv;
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    size_t d = 0;
    float t = 0;
    for (; d + 16 <= dim; d += 16) {
        __m256 x0 = _mm256_loadu_ps((const float *)(const void *)(x + 4 * d));
        __m256 x1 = _mm256_loadu_ps((const float *)(const void *)(x + 4 * d + 32));
        __m256 q0 = _mm256_loadu_ps(q + d), q1 = _mm256_loadu_ps(q + d + 8);
        if (l2) {
            x0 = _mm256_sub_ps(q0, x0);
            x1 = _mm256_sub_ps(q1, x1);
            a = _mm256_fmadd_ps(x0, x0, a);
            b = _mm256_fmadd_ps(x1, x1, b);
        } else {
            a = _mm256_fmadd_ps(q0, x0, a);
            b = _mm256_fmadd_ps(q1, x1, b);
        }
    }
    for (; d < dim; d++) {
        float xd;
        memcpy(&xd, x + 4 * d, 4);
        t += l2 ? (q[d] - xd) * (q[d] - xd) : q[d] * xd;
    }
    a = _mm256_add_ps(a, b);
    {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        return _mm_cvtss_f32(h) + t;
    }
}

static float exact_scalar(const float *q, const float *x, size_t dim, int l2)
{
    float s = 0;
    for (size_t d = 0; d < dim; d++)
        s += l2 ? (q[d] - x[d]) * (q[d] - x[d]) : q[d] * x[d];
    return s;
}

/* Points *x at key's stored vector in LMDB's map (valid for the read
 * transaction) and starts loading it into the cache. */
static int fetch_vec(const job *jb, int64_t key, const void **x)
{
    cvs_db *db = jb->db;
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    int mrc = cvs__vget(db, jb->txn, db->dbi_vecs, &k, &v);
    if (mrc)
        return cvs__err_lmdb(mrc, "reading a vector to rerank");
    if (v.mv_size != cvs__vec_bytes(db))
        return cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check", v.mv_size);
    /* The first KiB; the hardware prefetcher follows longer vectors. */
    for (size_t o = 0; o < v.mv_size && o < 1024; o += 64)
        _mm_prefetch((const char *)v.mv_data + o, _MM_HINT_T0);
    *x = v.mv_data;
    return CVS_OK;
}

/* Exact "smaller is better" distance of q to a stored vector val (f16
 * vectors are decoded into tmp first). */
static float raw_distance(const job *jb, const float *q, const void *val, float *tmp)
{
    const cvs_db *db = jb->db;
    const int l2 = db->metric == CVS_METRIC_L2;
    const void *x = val;
    float s;
    if (db->raw != CVS_RAW_F32) {
        cvs__decode_vec(db, val, tmp);
        x = tmp;
    }
    if (cvs__simd_avx2()) {
        s = exact_avx2(q, x, db->dim, l2);
    } else {
        if (x != tmp)
            cvs__decode_vec(db, val, tmp);
        s = exact_scalar(q, tmp, db->dim, l2);
    }
    return l2 ? s : -s;
}

/* ==== Re-ranking from in-memory SQ8 codes (",sq8") ==== */

/* Distance of q to the decoded row c (x = vmin + scale * c), as
 * raw_distance scores a stored vector, from the query prepared once by
 * sq8_prepare: l2 sums (y - scale * c)^2 with y = q - vmin, ip is
 * -(c0 + y . c) with y = q * scale and c0 = q . vmin.  Per 8 dimensions
 * that is a convert and two fused multiply-adds, where expanding
 * vmin + scale * c per row took twice the instructions; two accumulators
 * halve the add chain a row waits on. */
__attribute__((target("avx2"))) static void sub_avx2(const float *a, const float *b, size_t n,
                                                     float *y)
{
    size_t d = 0;
    for (; d + 8 <= n; d += 8)
        _mm256_storeu_ps(y + d, _mm256_sub_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d)));
    for (; d < n; d++)
        y[d] = a[d] - b[d];
}

static void sq8_prepare(const cvs__sq8 *sq, const float *q, int l2, float *y, float *c0)
{
    double c = 0;
    if (l2 && cvs__simd_avx2()) { /* -O2 leaves the loop below scalar */
        sub_avx2(q, sq->vmin, sq->d, y);
    } else if (l2) {
        for (size_t d = 0; d < sq->d; d++)
            y[d] = q[d] - sq->vmin[d];
    } else {
        for (size_t d = 0; d < sq->d; d++) {
            y[d] = q[d] * sq->scale[d];
            c += (double)q[d] * sq->vmin[d];
        }
    }
    *c0 = (float)c;
}

__attribute__((target("avx2,fma"))) static float sq8_avx2(const float *y, float c0,
                                                         const uint8_t *c, const cvs__sq8 *sq,
                                                         int l2)
{
    const size_t dim = sq->d;
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    size_t d = 0;
    float t = 0;
#define SQ8_CVT(o) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const void *)(c + (o)))))
    if (l2) {
        for (; d + 16 <= dim; d += 16) {
            __m256 u = _mm256_fnmadd_ps(SQ8_CVT(d), _mm256_loadu_ps(sq->scale + d),
                                        _mm256_loadu_ps(y + d));
            __m256 v = _mm256_fnmadd_ps(SQ8_CVT(d + 8), _mm256_loadu_ps(sq->scale + d + 8),
                                        _mm256_loadu_ps(y + d + 8));
            a = _mm256_fmadd_ps(u, u, a);
            b = _mm256_fmadd_ps(v, v, b);
        }
        for (; d + 8 <= dim; d += 8) {
            __m256 u = _mm256_fnmadd_ps(SQ8_CVT(d), _mm256_loadu_ps(sq->scale + d),
                                        _mm256_loadu_ps(y + d));
            a = _mm256_fmadd_ps(u, u, a);
        }
        for (; d < dim; d++) {
            float u = y[d] - sq->scale[d] * (float)c[d];
            t += u * u;
        }
    } else {
        for (; d + 16 <= dim; d += 16) {
            a = _mm256_fmadd_ps(SQ8_CVT(d), _mm256_loadu_ps(y + d), a);
            b = _mm256_fmadd_ps(SQ8_CVT(d + 8), _mm256_loadu_ps(y + d + 8), b);
        }
        for (; d + 8 <= dim; d += 8)
            a = _mm256_fmadd_ps(SQ8_CVT(d), _mm256_loadu_ps(y + d), a);
        for (; d < dim; d++)
            t += y[d] * (float)c[d];
    }
#undef SQ8_CVT
    a = _mm256_add_ps(a, b);
    {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        t += _mm_cvtss_f32(h);
    }
    return l2 ? t : -(c0 + t);
}

/* Rows prefetched ahead of the one scored.  A row costs ~110 instructions,
 * ~40 cycles, and a row from memory ~300 cycles: 8 in flight cover it (on
 * GloVe-100, R = 400 of 2,334 lists, 4 ahead gave 113-150 us a query, 8
 * 113-137, 16 118-137, best of 10 rounds, five alternations, loaded). */
#define SQ8_AHEAD 8

/* Starts loading the SQ8 row of candidate pos: every cache line of its
 * rqb bytes (a row of 100 bytes can straddle three).  always_inline: GCC
 * treats a function whose only effect is __builtin_prefetch as free of
 * side effects and deletes its calls once it has not inlined it, which it
 * did here, so rerank_sq8 prefetched nothing. */
static inline __attribute__((always_inline)) void prefetch_row(const cvs_ivf *ix, int64_t pos)
{
    const char *p = (const char *)(ix->lists[POS_LIST(pos)].rq + POS_ENTRY(pos) * ix->rqb);
    for (size_t o = 0; o < ix->rqb; o += 64)
        _mm_prefetch(p + o, _MM_HINT_T0);
    _mm_prefetch(p + ix->rqb - 1, _MM_HINT_T0);
}

/* Re-scores candidate positions pos[0..n) into h2 (keys): from their SQ8
 * rows (y, c0: sq8_prepare's), or from the stored vector for entries
 * deleted in the index's newest state, whose rows may be blank (see
 * ivf_lists.c). */
static int rerank_sq8(const job *jb, const float *q, const float *y, float c0,
                      const int64_t *pos, size_t n, float *tmp, cvs_heap *h2)
{
    const cvs_ivf *ix = jb->ix;
    const int l2 = jb->db->metric == CVS_METRIC_L2;
    for (size_t j = 0; j < n && j < SQ8_AHEAD; j++)
        prefetch_row(ix, pos[j]);
    for (size_t j = 0; j < n; j++) {
        const cvs_ivf_list *l = &ix->lists[POS_LIST(pos[j])];
        const size_t e = POS_ENTRY(pos[j]);
        const uint8_t *row = l->rq + e * ix->rqb;
        float d;
        int rc;
        if (j + SQ8_AHEAD < n) /* rows are scattered: start loading one ahead */
            prefetch_row(ix, pos[j + SQ8_AHEAD]);
        if (l->vis && l->vis[2 * e + 1] != UINT64_MAX) {
            const void *x;
            if ((rc = fetch_vec(jb, l->keys[e], &x)))
                return rc;
            d = raw_distance(jb, q, x, tmp);
        } else if (cvs__simd_avx2()) {
            d = sq8_avx2(y, c0, row, &ix->p->sq, l2);
        } else {
            cvs__sq8_distances(&ix->p->sq, q, !l2, row, 1, &d);
        }
        cvs__heap_push(h2, d, l->keys[e]);
    }
    return CVS_OK;
}

/* Deviation 6: the n keys of id[] scored again from their stored vectors
 * into h3 (capacity k).  All look-ups first, then the distances, as for a
 * re-rank from the stored vectors; vp holds at least n pointers. */
static int refine_exact(const job *jb, const float *q, const int64_t *id, size_t n,
                        const void **vp, float *tmp, cvs_heap *h3)
{
    int rc;
    for (size_t j = 0; j < n; j++)
        if ((rc = fetch_vec(jb, id[j], &vp[j])))
            return rc;
    for (size_t j = 0; j < n; j++)
        cvs__heap_push(h3, raw_distance(jb, q, vp[j], tmp), id[j]);
    atomic_fetch_add_explicit(&rerank_reads, n, memory_order_relaxed);
    return CVS_OK;
}

typedef struct scratch {
    const void **vp;
    float *qc, *lut, *dist, *hd, *hd2, *tmp, *pd;
    float *sqy; /* ",sq8": the query as sq8_prepare leaves it */
    float *lutb, *offb; /* one LUT (and offset) per query of the chunk, when they serve every list */
    float *rbq, *err; /* RaBitQ: the prepared query (written by every estimate:
                         one per job, never shared), the bounds of a list */
    int64_t *hid, *pid;
    uint64_t *ckey;   /* coarse selection's keys, one per list */
    float *rfd;       /* deviation 6: the SQ8 re-rank's best jb->refine */
    int64_t *rfid;
    uint8_t *qlut;
    uint16_t *acc;
    /* Fast-scan selection (fs4_select): the probed lists' sums, where each
     * list's start and its (bias, scale), and the gathered candidates. */
    uint16_t *accs;
    size_t accs_cap, cand_cap, cand2_cap;
    size_t *aoff;
    float *ab, *as;
    cvs_cand *cand, *cand2; /* cand2: cvs__ivf_best_of's straddling slice */
} scratch;

static void scratch_free(scratch *s)
{
    free(s->vp);
    free(s->qc);
    free(s->lut);
    free(s->dist);
    free(s->hd);
    free(s->hd2);
    free(s->tmp);
    free(s->sqy);
    free(s->lutb);
    free(s->offb);
    free(s->pd);
    free(s->hid);
    free(s->pid);
    free(s->ckey);
    free(s->rfd);
    free(s->rfid);
    free(s->qlut);
    free(s->acc);
    free(s->rbq);
    free(s->err);
    free(s->accs);
    free(s->aoff);
    free(s->ab);
    free(s->as);
    free(s->cand);
    free(s->cand2);
}

static int scratch_alloc(const job *jb, scratch *s)
{
    size_t nlist = jb->p->nlist, lut_n = cvs__codec_lut_size(jb->codec), dim = jb->p->dim;
    size_t qn = jb->q1 - jb->q0 < QCHUNK ? jb->q1 - jb->q0 : QCHUNK;
    memset(s, 0, sizeof *s);
    /* Sized for the job: a single query's buffers stay below glibc's mmap
     * threshold, so a search costs no page faults. */
    s->qc = malloc((qn ? qn : 1) * nlist * sizeof *s->qc);
    s->lut = malloc((lut_n + 1) * sizeof *s->lut);
    s->lutb = malloc(((qn ? qn : 1) * lut_n + 1) * sizeof *s->lutb);
    s->offb = malloc((qn ? qn : 1) * sizeof *s->offb);
    s->qlut = malloc(lut_n + 32);
    s->dist = malloc((jb->maxn + 32) * sizeof *s->dist);
    s->acc = malloc((jb->maxn + 64) * sizeof *s->acc);
    s->hd = malloc(jb->kk * sizeof *s->hd);
    s->hid = malloc(jb->kk * sizeof *s->hid);
    s->vp = malloc(jb->kk * sizeof *s->vp);
    s->hd2 = malloc(jb->k * sizeof *s->hd2);
    s->tmp = malloc(dim * sizeof *s->tmp);
    s->sqy = malloc(dim * sizeof *s->sqy);
    s->pd = malloc(jb->nprobe * sizeof *s->pd);
    s->pid = malloc(jb->nprobe * sizeof *s->pid);
    s->ckey = malloc(nlist * sizeof *s->ckey);
    s->aoff = malloc(jb->nprobe * sizeof *s->aoff);
    s->ab = malloc(jb->nprobe * sizeof *s->ab);
    s->as = malloc(jb->nprobe * sizeof *s->as);
    if (jb->refine) {
        s->rfd = malloc(jb->refine * sizeof *s->rfd);
        s->rfid = malloc(jb->refine * sizeof *s->rfid);
    }
    if (cvs__codec_rabitq_bits(jb->codec)) {
        s->rbq = malloc(cvs__codec_rbq_query_floats(jb->codec) * sizeof *s->rbq);
        s->err = malloc((jb->maxn + 32) * sizeof *s->err);
    }
    if (!s->qc || !s->lut || !s->lutb || !s->offb || !s->qlut || !s->dist || !s->acc || !s->hd || !s->hid || !s->hd2 ||
        !s->tmp || !s->sqy || !s->pd || !s->pid || !s->ckey || !s->vp || !s->aoff || !s->ab || !s->as ||
        (cvs__codec_rabitq_bits(jb->codec) && (!s->rbq || !s->err)) ||
        (jb->refine && (!s->rfd || !s->rfid))) {
        scratch_free(s);
        memset(s, 0, sizeof *s);
        return cvs__err(CVS_ENOMEM, "out of memory for search buffers");
    }
    return CVS_OK;
}

/* Offers the scanned distances of list l to the heap. */
static inline void offer(const job *jb, const cvs_ivf_list *l, cvs_heap *h, size_t j, float d)
{
    if (h->n < h->k || d <= h->d[0]) {
        int64_t key = l->keys[j];
        if (allowed(jb, key) && visible(l, j, jb->T))
            cvs__heap_push(h, d, jb->ix->rqb ? POS(l - jb->ix->lists, j) : key);
    }
}

/* ==== Fast-scan selection: gather, then select ====
 *
 * Deviation 5 (see the top): the probed lists are all scanned first, a
 * threshold T is guessed from a sample of their sums, the candidates at or
 * under T are gathered, and the best kk of them selected. */

#define FS4_SAMPLE 128 /* sums sampled for the threshold */

/* Grows *p (elements of size sz, capacity *cap) to hold n. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
    void *q;
    if (n <= *cap)
        return CVS_OK;
    n += n / 2 + 64;
    if (!(q = realloc(*p, n * sz)))
        return cvs__err(CVS_ENOMEM, "out of memory for search buffers");
    *p = q;
    *cap = n;
    return CVS_OK;
}

/* Code j of list l (number li) at estimated distance d into *out when d
 * <= T and the code is allowed and visible: 1 if it went in, else 0. */
static inline size_t gather_one(const job *jb, const cvs_ivf_list *l, int64_t li, size_t j,
                                float d, float T, cvs_cand *out)
{
    const int64_t key = l->keys[j];
    if (!(d <= T) || !allowed(jb, key) || !visible(l, j, jb->T))
        return 0;
    out->d = d;
    out->id = jb->ix->rqb ? POS(li, j) : key;
    return 1;
}

/* Appends list l's codes with b + scale * acc <= T (and allowed, visible)
 * to out; returns how many.  lim is T in accumulator units, rounded up, so
 * the exact test decides the codes the integer compare lets through. */
static size_t fs4_gather_scalar(const job *jb, const cvs_ivf_list *l, const uint16_t *acc,
                                float b, float scale, float T, uint16_t lim, cvs_cand *out)
{
    const int64_t li = (int64_t)(l - jb->ix->lists);
    size_t c = 0;
    for (size_t j = 0; j < l->n; j++)
        if (acc[j] <= lim)
            c += gather_one(jb, l, li, j, b + scale * (float)acc[j], T, out + c);
    return c;
}

/* The same, 16 sums per compare: most codes fail the limit, so whole
 * groups are skipped on one movemask. */
__attribute__((target("avx2"))) static size_t fs4_gather_avx2(const job *jb,
                                                              const cvs_ivf_list *l,
                                                              const uint16_t *acc, float b,
                                                              float scale, float T, uint16_t lim,
                                                              cvs_cand *out)
{
    const int64_t li = (int64_t)(l - jb->ix->lists);
    const __m256i vl = _mm256_set1_epi16((short)lim);
    size_t c = 0;
    for (size_t j0 = 0; j0 < l->n; j0 += 16) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + j0));
        __m256i le = _mm256_cmpeq_epi16(_mm256_min_epu16(a, vl), a);
        uint32_t m = (uint32_t)_mm256_movemask_epi8(le) & 0x55555555u;
        while (m) {
            const size_t j = j0 + (size_t)(__builtin_ctz(m) >> 1);
            m &= m - 1;
            if (j >= l->n)
                break;
            c += gather_one(jb, l, li, j, b + scale * (float)acc[j], T, out + c);
        }
    }
    return c;
}

static inline uint16_t fs4_lim(float T, float b, float scale)
{
    float t = (T - b) / scale + 1.0f;
    return !(t < 65535.0f) ? 0xffff : t < 0 ? 0 : (uint16_t)t;
}

/* Gathers every probed list's codes at or under T into s->cand (*pc of
 * them).  The buffer grows with what is gathered, list by list, so it
 * stays near the threshold's 1.3 kk entries (2.5 kk, or every code, on a
 * fallback) rather than one per scanned code. */
static int fs4_gather_all(const job *jb, scratch *s, size_t np, float T, size_t *pc)
{
    const int avx2 = cvs__simd_avx2();
    size_t c = 0;
    int rc;
    for (size_t pi = 0; pi < np; pi++) {
        const cvs_ivf_list *l = &jb->ix->lists[s->pid[pi]];
        const uint16_t *acc = s->accs + s->aoff[pi];
        uint16_t lim;
        if (!l->n)
            continue;
        if ((rc = grow((void **)&s->cand, &s->cand_cap, c + l->n, sizeof *s->cand)))
            return rc;
        lim = fs4_lim(T, s->ab[pi], s->as[pi]);
        c += avx2 ? fs4_gather_avx2(jb, l, acc, s->ab[pi], s->as[pi], T, lim, s->cand + c)
                  : fs4_gather_scalar(jb, l, acc, s->ab[pi], s->as[pi], T, lim, s->cand + c);
    }
    *pc = c;
    return CVS_OK;
}

/* The values of ranks r and r2 (from 0; r <= r2 < n) of v[0..n), n <=
 * FS4_SAMPLE, into *t and *t2: a sorted run of the r2 + 1 smallest so far,
 * which most values leave at the first compare once it is full. */
static void sample_ranks(const float *v, size_t n, size_t r, size_t r2, float *t, float *t2)
{
    float top[FS4_SAMPLE];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const float x = v[i];
        size_t j;
        if (m <= r2) {
            j = m++;
        } else if (x < top[r2]) {
            j = r2;
        } else {
            continue;
        }
        for (; j > 0 && top[j - 1] > x; j--)
            top[j] = top[j - 1];
        top[j] = x;
    }
    *t = top[r];
    *t2 = top[r2];
}

/* Deviation 9: the k best (distance, id) of a[0..n) (k < n) into d/id, in
 * no particular order, by buckets of distance: one pass for the range,
 * one counting the candidates in each of FS4_BUCKETS equal slices of it,
 * one writing out those of the slices wholly inside the k best and setting
 * aside the slice that straddles the k-th, whose best few a quickselect
 * then picks (tmp: room for n).  The slice of d is monotone in d, so a
 * lower slice never holds a worse candidate: the same k as a quickselect
 * of all n, in about a third of its instructions. */
#define FS4_BUCKETS 256
static inline size_t fs4_slice(float x, float lo, float inv)
{
    const float t = (x - lo) * inv;
    return t < (float)(FS4_BUCKETS - 1) ? (size_t)t : (size_t)(FS4_BUCKETS - 1);
}

/* The range of a[0..n).d, two candidates per AVX2 load: lanes 0 and 4
 * hold their distances, the other lanes ids and padding, kept apart. */
__attribute__((target("avx2"))) static void cand_range_avx2(const cvs_cand *a, size_t n,
                                                            float *lo, float *hi)
{
    __m256 mn = _mm256_set1_ps(a[0].d), mx = mn;
    size_t i = 0;
    float l, h;
    for (; i + 2 <= n; i += 2) {
        const __m256 v = _mm256_loadu_ps((const float *)(const void *)(a + i));
        mn = _mm256_min_ps(mn, v);
        mx = _mm256_max_ps(mx, v);
    }
    l = _mm256_cvtss_f32(mn);
    h = _mm256_cvtss_f32(mx);
    {
        const float l4 = _mm_cvtss_f32(_mm256_extractf128_ps(mn, 1));
        const float h4 = _mm_cvtss_f32(_mm256_extractf128_ps(mx, 1));
        l = l4 < l ? l4 : l;
        h = h4 > h ? h4 : h;
    }
    for (; i < n; i++) {
        l = a[i].d < l ? a[i].d : l;
        h = a[i].d > h ? a[i].d : h;
    }
    *lo = l;
    *hi = h;
}

void cvs__ivf_best_of_with(const cvs_cand *a, size_t n, size_t k, float *d, int64_t *id,
                           cvs_cand *tmp, int avx2)
{
    uint32_t hist[FS4_BUCKETS] = {0};
    float lo = a[0].d, hi = a[0].d, inv;
    size_t cut = 0, below = 0, m = 0, e = 0;
    if (avx2) {
        cand_range_avx2(a, n, &lo, &hi);
    } else {
        for (size_t i = 1; i < n; i++) {
            lo = a[i].d < lo ? a[i].d : lo;
            hi = a[i].d > hi ? a[i].d : hi;
        }
    }
    /* Not finite or all equal: one slice, a quickselect of all. */
    inv = hi > lo && isfinite(hi - lo) ? (float)FS4_BUCKETS / (hi - lo) : 0.0f;
    for (size_t i = 0; i < n; i++)
        hist[fs4_slice(a[i].d, lo, inv)]++;
    while (below + hist[cut] < k)
        below += hist[cut++];
    /* Slices under cut hold below < k candidates, all among the k best;
     * slice cut holds the k-th.  Both written without a branch on the
     * slice (half the candidates fall each way, at random). */
    for (size_t i = 0; i < n; i++) {
        const size_t b = fs4_slice(a[i].d, lo, inv);
        d[m] = a[i].d;
        id[m] = a[i].id;
        m += b < cut;
        tmp[e] = a[i];
        e += b == cut;
    }
    if (e > k - below)
        cvs__cand_select(tmp, e, k - below);
    for (size_t i = 0; i < k - below; i++) {
        d[below + i] = tmp[i].d;
        id[below + i] = tmp[i].id;
    }
}

void cvs__ivf_best_of(const cvs_cand *a, size_t n, size_t k, float *d, int64_t *id,
                      cvs_cand *tmp)
{
    cvs__ivf_best_of_with(a, n, k, d, id, tmp, cvs__simd_avx2());
}

/* Leaves in h (capacity kk, empty) the kk best (distance, id) pairs of the
 * probed lists' ntot scanned codes, as kk pushes of all of them would.
 * The threshold guess aims at about 1.3 kk candidates; if fewer than kk
 * pass it (a poor sample, or filters), a looser one (2.5 kk) and then
 * every code are gathered instead, so the guess costs time, never
 * results. */
static int fs4_select(const job *jb, scratch *s, size_t np, size_t ntot, cvs_heap *h)
{
    const size_t kk = h->k;
    float T = INFINITY, T2 = INFINITY, smp[FS4_SAMPLE];
    size_t c, r2 = FS4_SAMPLE;
    int rc;
    if (ntot >= FS4_SAMPLE && 2 * kk * FS4_SAMPLE < ntot * (FS4_SAMPLE / 2)) {
        /* Ranks r ~ 1.3 kk and r2 ~ 2.5 kk of ntot in the sample, taken
         * at evenly spaced positions over the lists in probe order. */
        const size_t r = (13 * kk * FS4_SAMPLE + 10 * ntot - 1) / (10 * ntot);
        size_t i = 0, base = 0;
        r2 = (5 * kk * FS4_SAMPLE + 2 * ntot - 1) / (2 * ntot);
        /* List by list, the sample positions i ntot / FS4_SAMPLE that fall
         * in it (no list search per sample). */
        for (size_t pi = 0; pi < np && i < FS4_SAMPLE; pi++) {
            const size_t end = base + jb->ix->lists[s->pid[pi]].n;
            const uint16_t *acc = s->accs + s->aoff[pi] - base;
            const float b = s->ab[pi], sc = s->as[pi];
            for (size_t pos; i < FS4_SAMPLE && (pos = i * ntot / FS4_SAMPLE) < end; i++)
                smp[i] = b + sc * (float)acc[pos];
            base = end;
        }
        sample_ranks(smp, FS4_SAMPLE, r, r2, &T, &T2);
    }
    if ((rc = fs4_gather_all(jb, s, np, T, &c)))
        return rc;
    if (c < kk && T2 != T && (rc = fs4_gather_all(jb, s, np, T2, &c)))
        return rc;
    if (c < kk && r2 < FS4_SAMPLE) {
        /* Still too few (one query in a hundred at nprobe 256 of GloVe's
         * 1,167 lists, where 128 samples of 75,000 sums put only ~0.7
         * under the kk-th): the sample's ranks 4 (r2 + 1) - 1, 16 (r2 + 1)
         * - 1, ... before every code, which gathered all 75,000 codes
         * and selected from them (3.4 million instructions a time). */
        for (size_t a = 1; a < FS4_SAMPLE; a++) { /* sorted: a rare path */
            const float x = smp[a];
            size_t b = a;
            for (; b > 0 && smp[b - 1] > x; b--)
                smp[b] = smp[b - 1];
            smp[b] = x;
        }
        for (size_t r3 = 4 * (r2 + 1) - 1; c < kk && r3 < FS4_SAMPLE; r3 = 4 * (r3 + 1) - 1)
            if (smp[r3] != T2 && (rc = fs4_gather_all(jb, s, np, smp[r3], &c)))
                return rc;
    }
    if (c < kk && T2 != INFINITY && (rc = fs4_gather_all(jb, s, np, INFINITY, &c)))
        return rc;
    if (c > kk && c >= FS4_BUCKETS) {
        if ((rc = grow((void **)&s->cand2, &s->cand2_cap, c, sizeof *s->cand2)))
            return rc;
        cvs__ivf_best_of(s->cand, c, kk, h->d, h->id, s->cand2);
        h->n = kk;
    } else {
        /* Fewer candidates than slices: clearing and walking the slices'
         * counts would cost more than they save (SIFT10K, R 20: +700 of
         * 70,000 instructions a query), so a quickselect. */
        if (c > kk)
            cvs__cand_select(s->cand, c, kk);
        h->n = c < kk ? c : kk;
        for (size_t i = 0; i < h->n; i++) {
            h->d[i] = s->cand[i].d;
            h->id[i] = s->cand[i].id;
        }
    }
    /* Re-ranking reads the kk in any order; the codes-only answer sorts
     * them as a heap. */
    for (size_t i = jb->rerank ? 0 : h->n / 2; i-- > 0;)
        cvs__heap_sift_down(h, i);
    return CVS_OK;
}

/* ==== Coarse selection ==== */

/* The longest run kept sorted by insertion (deviation 7).  Each entry that
 * enters shifts up to the run's length, and when many lists are probed
 * most of them enter (every one at nprobe = nlist): the cost grows as
 * nprobe^2 (3 ms a query at 4096 of 4096 lists).  Up to 32 the shifts are
 * a few cache lines and cheaper than anything else; past it the lists are
 * gathered under a sampled threshold and sorted (deviation 8). */
#define COARSE_RUN_MAX 32
#define COARSE_SAMPLE 128 /* centroid distances sampled for the threshold */

/* Offers centroid l at distance d to the sorted run pd/pid (*m of np
 * filled): kept while the run has room or when d beats its last entry; l
 * is larger than every list in the run, so it goes after equals. */
static inline void coarse_offer(float d, size_t l, size_t np, size_t *m, float *pd,
                                int64_t *pid)
{
    size_t j;
    if (*m < np)
        j = (*m)++;
    else if (d < pd[np - 1])
        j = np - 1;
    else
        return;
    for (; j > 0 && pd[j - 1] > d; j--) {
        pd[j] = pd[j - 1];
        pid[j] = pid[j - 1];
    }
    pd[j] = d;
    pid[j] = (int64_t)l;
}

static inline float coarse_dist(const float *cnorm, const float *qc, size_t l)
{
    return cnorm ? cnorm[l] - 2.0f * qc[l] : -qc[l];
}

/* (d, l) as one integer whose order is the order of distance, then list:
 * the float's bits flipped so that they compare as unsigned integers (all
 * of them for a negative d, the sign bit for a positive one), above the
 * list number.  -0 is made +0 first: the two compare equal as floats, so
 * they must tie here too. */
static inline uint64_t coarse_key(float d, size_t l)
{
    uint32_t u;
    d += 0.0f;
    memcpy(&u, &d, sizeof u);
    u ^= (u >> 31) ? 0xffffffffu : 0x80000000u;
    return (uint64_t)u << 32 | (uint64_t)l;
}

static inline float coarse_key_dist(uint64_t key)
{
    uint32_t u = (uint32_t)(key >> 32);
    float d;
    u ^= (u >> 31) ? 0x80000000u : 0xffffffffu;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The keys of the lists with distance <= T into keys; returns how many. */
static size_t coarse_gather_scalar(const float *cnorm, const float *qc, size_t nlist, float T,
                                   uint64_t *keys)
{
    size_t c = 0;
    for (size_t l = 0; l < nlist; l++) {
        const float d = coarse_dist(cnorm, qc, l);
        if (d <= T)
            keys[c++] = coarse_key(d, l);
    }
    return c;
}

/* The same, 8 distances per compare (most fail it).  The distances of the
 * lists that pass are computed again as the scalar loop does, so the keys
 * are the same bit for bit (2 qc is exact, so no fused multiply-add can
 * round differently). */
__attribute__((target("avx2"))) static size_t coarse_gather_avx2(const float *cnorm,
                                                                 const float *qc, size_t nlist,
                                                                 float T, uint64_t *keys)
{
    const __m256 t = _mm256_set1_ps(T), two = _mm256_set1_ps(2.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    size_t c = 0, l = 0;
    for (; l + 8 <= nlist; l += 8) {
        const __m256 q = _mm256_loadu_ps(qc + l);
        const __m256 d = cnorm ? _mm256_sub_ps(_mm256_loadu_ps(cnorm + l), _mm256_mul_ps(two, q))
                               : _mm256_xor_ps(q, sign);
        uint32_t m = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(d, t, _CMP_LE_OQ));
        while (m) {
            const size_t j = l + (size_t)__builtin_ctz(m);
            m &= m - 1;
            keys[c++] = coarse_key(coarse_dist(cnorm, qc, j), j);
        }
    }
    for (; l < nlist; l++) {
        const float d = coarse_dist(cnorm, qc, l);
        if (d <= T)
            keys[c++] = coarse_key(d, l);
    }
    return c;
}

/* Sorts keys[0..n) far enough that keys[0..m) are the m smallest, in
 * order (m <= n): quicksort that leaves alone the parts past m, insertion
 * sort below 24.  Keys are distinct (the list is part of each). */
static void coarse_sort(uint64_t *a, size_t n, size_t m)
{
    while (n > 24 && m > 0) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1], p, t;
        size_t i = 0, j = n - 1;
        p = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        /* Hoare's partition: a[0..j] <= p <= a[j + 1..n) at the end; p is
         * the median of three distinct keys, so both sides are non-empty. */
        for (;;) {
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i >= j)
                break;
            t = a[i];
            a[i++] = a[j];
            a[j--] = t;
        }
        if (j + 1 >= n) /* cannot happen with distinct keys; stay finite anyway */
            break;
        if (j + 1 >= m) { /* the m smallest are all on the left */
            n = j + 1;
            continue;
        }
        coarse_sort(a, j + 1, j + 1);
        a += j + 1;
        n -= j + 1;
        m -= j + 1;
    }
    for (size_t i = 1; i < n; i++) {
        const uint64_t x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

size_t cvs__ivf_coarse_select_with(const float *cnorm, const float *qc, size_t nlist, size_t np,
                                   float *pd, int64_t *pid, uint64_t *keys, int avx2)
{
    float T = INFINITY, T2 = INFINITY;
    size_t m = 0, c;
    if (np > nlist)
        np = nlist;
    if (np <= COARSE_RUN_MAX) {
        for (size_t l = 0; l < nlist && np; l++)
            coarse_offer(coarse_dist(cnorm, qc, l), l, np, &m, pd, pid);
        return m;
    }
    if (4 * np < nlist) {
        /* Ranks ~1.3 np and ~2.5 np of nlist in a sample of evenly spaced
         * lists, as the fast-scan selection guesses its threshold. */
        float smp[COARSE_SAMPLE];
        const size_t r = (13 * np * COARSE_SAMPLE + 10 * nlist - 1) / (10 * nlist);
        const size_t r2 = (5 * np * COARSE_SAMPLE + 2 * nlist - 1) / (2 * nlist);
        for (size_t i = 0; i < COARSE_SAMPLE; i++)
            smp[i] = coarse_dist(cnorm, qc, i * nlist / COARSE_SAMPLE);
        sample_ranks(smp, COARSE_SAMPLE, r, r2, &T, &T2);
    }
    c = (avx2 ? coarse_gather_avx2 : coarse_gather_scalar)(cnorm, qc, nlist, T, keys);
    if (c < np && T2 != T)
        c = (avx2 ? coarse_gather_avx2 : coarse_gather_scalar)(cnorm, qc, nlist, T2, keys);
    if (c < np) { /* every list, whatever its distance (NaN included) */
        for (size_t l = 0; l < nlist; l++)
            keys[l] = coarse_key(coarse_dist(cnorm, qc, l), l);
        c = nlist;
    }
    coarse_sort(keys, c, np);
    for (size_t j = 0; j < np; j++) {
        pd[j] = coarse_key_dist(keys[j]);
        pid[j] = (int64_t)(keys[j] & 0xffffffffu);
    }
    return np;
}

/* The np nearest of nlist centroids into pd/pid, nearest first (ties to
 * the lower list number, as the heap of every other selection here breaks
 * them), from their products qc: ||c||^2 - 2 q.c when cnorm is given
 * (l2: ||q - c||^2 - ||q||^2), else -q.c (ivf.c deviation 2).  Returns
 * how many (min(np, nlist)).  Up to COARSE_RUN_MAX a sorted run
 * (deviation 7): most centroids fail the compare with the run's last
 * entry, and the few that enter shift a short run, where heap pushes and
 * the final heap sort cost a twentieth of a SIFT10K query (nprobe 11 of
 * 64 lists).  (An AVX2 version skipping blocks of 8 on one compare saved
 * 356 of 68,938 instructions there: the entries' shifts, not the
 * distances, are the cost.)  Past it, a threshold from a sample, the
 * lists under it gathered as keys and the first np of them sorted
 * (deviation 8). */
size_t cvs__ivf_coarse_select(const float *cnorm, const float *qc, size_t nlist, size_t np,
                              float *pd, int64_t *pid, uint64_t *keys)
{
    return cvs__ivf_coarse_select_with(cnorm, qc, nlist, np, pd, pid, keys, cvs__simd_avx2());
}

/* Query qi of the batch; qc its centroid products, clut and coff its LUT
 * and offset when one LUT serves every list (run_job makes them a chunk at
 * a time), else NULL and 0. */
static int one_query(const job *jb, scratch *s, size_t qi, const float *qc, const float *clut,
                     float coff)
{
    const cvs_ivf *ix = jb->ix;
    const cvs_ivf_params *p = jb->p;
    const cvs_db *db = jb->db;
    const float *q = jb->q + qi * p->dim;
    const size_t nlist = p->nlist, dim = p->dim;
    const int l2 = db->metric == CVS_METRIC_L2, lut_n = cvs__codec_lut_size(jb->codec) != 0;
    const int per_list_lut = l2 && p->residual;
    const int rbq = cvs__codec_rabitq_bits(jb->codec) != 0;
    const float eps0 = jb->rerank ? CVS_RBQ_EPS0 : 0.0f; /* heap keys: bounds or estimates */
    float offset = 0, scale = 1, bias = 0;
    const float *lut = s->lut;
    cvs_heap h;
    size_t np, n, ntot = 0;
    int rc;

    /* Coarse: the nprobe nearest centroids, nearest first. */
    np = cvs__ivf_coarse_select(l2 ? p->cnorm : NULL, qc, nlist, jb->nprobe, s->pd, s->pid,
                                s->ckey);

    if (rbq && !per_list_lut && (rc = cvs__codec_rbq_prepare(jb->codec, q, s->rbq)))
        return rc;
    if (lut_n && !per_list_lut) {
        lut = clut;
        offset = coff;
        if (ix->fs4)
            cvs__fs4_quantize_lut(lut, ix->m, s->qlut, &scale, &bias);
    }
    cvs__heap_init(&h, jb->kk, s->hd, s->hid);
    if (ix->fs4 && !rbq) { /* deviation 5: room for every probed list's sums */
        size_t tot = 0;
        for (size_t pi = 0; pi < np; pi++) {
            s->aoff[pi] = tot;
            tot += (ix->lists[s->pid[pi]].n + 31) / 32 * 32;
        }
        if ((rc = grow((void **)&s->accs, &s->accs_cap, tot + 16, sizeof *s->accs)))
            return rc;
    }
    for (size_t pi = 0; pi < np; pi++) {
        const size_t li = (size_t)s->pid[pi];
        const cvs_ivf_list *l = &ix->lists[li];
        const float *qv = q;
        float base = 0;
        if (l->n == 0)
            continue;
        if (p->residual) {
            if (l2) {
                const float *c = p->cent + li * dim;
                for (size_t d = 0; d < dim; d++)
                    s->tmp[d] = q[d] - c[d];
                qv = s->tmp;
                if (rbq && (rc = cvs__codec_rbq_prepare(jb->codec, qv, s->rbq)))
                    return rc;
                if (lut_n) {
                    if ((rc = cvs__codec_lut(jb->codec, qv, s->lut, &offset)))
                        return rc;
                    if (ix->fs4)
                        cvs__fs4_quantize_lut(s->lut, ix->m, s->qlut, &scale, &bias);
                }
            } else {
                base = -qc[li];
            }
        }
        if (rbq) {
            cvs__codec_rbq_estimate(jb->codec, s->rbq, l->codes, l->n, s->dist, s->err);
            for (size_t j = 0; j < l->n; j++)
                offer(jb, l, &h, j, base + s->dist[j] - eps0 * s->err[j]);
        } else if (ix->fs4) {
            s->ab[pi] = base + offset + bias;
            s->as[pi] = scale;
            ntot += l->n;
            cvs__fs4_scan(l->codes, (l->n + 31) / 32, ix->m, s->qlut, s->accs + s->aoff[pi]);
        } else if (lut_n) {
            const float b = base + offset;
            cvs__adc8_scan(lut, l->codes, l->n, ix->m, s->dist);
            for (size_t j = 0; j < l->n; j++)
                offer(jb, l, &h, j, b + s->dist[j]);
        } else {
            if ((rc = cvs__codec_distances(jb->codec, qv, l->codes, l->n, s->dist)))
                return rc;
            for (size_t j = 0; j < l->n; j++)
                offer(jb, l, &h, j, base + s->dist[j]);
        }
    }
    if (ix->fs4 && !rbq && (rc = fs4_select(jb, s, np, ntot, &h)))
        return rc;
    /* Re-ranking takes the candidates in any order (its own heap breaks
     * ties by key), so only the codes-only answer needs them sorted. */
    n = jb->rerank && !rbq ? h.n : cvs__heap_sort(&h);

    {
        int64_t *lab = jb->labels + qi * jb->k;
        float *sc = jb->scores + qi * jb->k;
        cvs_heap h2;
        float c0 = 0;
        if (jb->refine && jb->rerank) /* deviation 6: the SQ8 re-rank keeps more than k */
            cvs__heap_init(&h2, jb->refine, s->rfd, s->rfid);
        else
            cvs__heap_init(&h2, jb->k, s->hd2, lab);
        if (jb->rerank && ix->rqb)
            sq8_prepare(&ix->p->sq, q, l2, s->sqy, &c0);
        if (jb->rerank && rbq) {
            /* Deviation 4: in increasing lower bound, until it passes the
             * k-th exact distance. */
            size_t j = 0;
            for (; j < n && !(h2.n == h2.k && s->hd[j] > h2.d[0]); j++) {
                if (ix->rqb) {
                    rc = rerank_sq8(jb, q, s->sqy, c0, s->hid + j, 1, s->tmp, &h2);
                } else if (!(rc = fetch_vec(jb, s->hid[j], &s->vp[0]))) {
                    cvs__heap_push(&h2, raw_distance(jb, q, s->vp[0], s->tmp), s->hid[j]);
                }
                if (rc)
                    return rc;
            }
            atomic_fetch_add_explicit(&rerank_reads, j, memory_order_relaxed);
            atomic_fetch_add_explicit(&rerank_queries, 1, memory_order_relaxed);
            n = h2.n;
        } else if (jb->rerank) {
            atomic_fetch_add_explicit(&rerank_reads, n, memory_order_relaxed);
            atomic_fetch_add_explicit(&rerank_queries, 1, memory_order_relaxed);
            if (ix->rqb) {
                if ((rc = rerank_sq8(jb, q, s->sqy, c0, s->hid, n, s->tmp, &h2)))
                    return rc;
            } else {
                /* All look-ups first, then the distances: the vectors' cache
                 * misses overlap the later look-ups instead of following
                 * them. */
                for (size_t j = 0; j < n; j++)
                    if ((rc = fetch_vec(jb, s->hid[j], &s->vp[j])))
                        return rc;
                for (size_t j = 0; j < n; j++)
                    cvs__heap_push(&h2, raw_distance(jb, q, s->vp[j], s->tmp), s->hid[j]);
            }
            n = h2.n;
        } else {
            if (n > jb->k)
                n = jb->k;
            for (size_t j = 0; j < n; j++) { /* positions to keys */
                lab[j] = ix->rqb ? ix->lists[POS_LIST(s->hid[j])].keys[POS_ENTRY(s->hid[j])]
                                 : s->hid[j];
                s->hd2[j] = s->hd[j];
            }
        }
        if (jb->rerank) {
            if (jb->refine) { /* deviation 6 */
                cvs_heap h3;
                cvs__heap_init(&h3, jb->k, s->hd2, lab);
                if ((rc = refine_exact(jb, q, h2.id, h2.n, s->vp, s->tmp, &h3)))
                    return rc;
                n = cvs__heap_sort(&h3);
            } else {
                n = cvs__heap_sort(&h2);
            }
        }
        for (size_t j = 0; j < jb->k; j++) {
            if (j >= n) {
                lab[j] = -1;
                sc[j] = NAN;
            } else if (l2) {
                sc[j] = s->hd2[j] > 0 ? sqrtf(s->hd2[j]) : 0.0f;
            } else {
                sc[j] = -s->hd2[j];
            }
        }
    }
    return CVS_OK;
}

static void *run_job(void *arg)
{
    job *jb = arg;
    const cvs_ivf_params *p = jb->p;
    const size_t lut_n = cvs__codec_lut_size(jb->codec);
    const int per_list_lut = jb->db->metric == CVS_METRIC_L2 && p->residual;
    scratch s = {0};
    int rc;

    if ((rc = scratch_alloc(jb, &s)))
        goto out;
    for (size_t a = jb->q0; a < jb->q1; a += QCHUNK) {
        size_t bn = jb->q1 - a < QCHUNK ? jb->q1 - a : QCHUNK;
        cvs__ivf_dots(jb->q + a * p->dim, bn, p->cent, p->nlist, p->dim, s.qc);
        /* One LUT per query serving every list: made for the whole chunk,
         * so the chunk shares each load of the PCA/OPQ matrices and the
         * codebooks (on Fashion-MNIST the 784 x 256 projection alone is
         * 800 KB, past L2, read once per query before). */
        if (lut_n && !per_list_lut &&
            (rc = cvs__codec_lut_batch(jb->codec, jb->q + a * p->dim, bn, s.lutb, s.offb)))
            goto out;
        for (size_t i = 0; i < bn; i++)
            if ((rc = one_query(jb, &s, a + i, s.qc + i * p->nlist,
                                lut_n && !per_list_lut ? s.lutb + i * lut_n : NULL,
                                lut_n && !per_list_lut ? s.offb[i] : 0.0f)))
                goto out;
    }
out:
    if (rc)
        snprintf(jb->err, sizeof jb->err, "%s", cvs_errmsg(NULL));
    jb->rc = rc;
    scratch_free(&s);
    return NULL;
}

int cvs__ivf_exists(cvs_txn *t, int *yes)
{
    cvs_ivf_params *p;
    int rc = cvs__ivf_params_for_txn(t->db, t->txn, &p);
    *yes = p != NULL;
    return rc;
}

int cvs__ivf_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                    size_t nprobe, size_t rerank, size_t refine, int norerank,
                    const uint64_t *allow, size_t allow_words, int threads, int64_t *labels,
                    float *scores)
{
    cvs_db *db = t->db;
    cvs_codec *codec;
    cvs_ivf_params *p;
    cvs_ivf *ix = NULL;
    job base = {0}, *jobs = NULL;
    size_t dnprobe, drerank, nt;
    int rc;

    if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
        return rc;
    if ((rc = cvs__ivf_params_for_txn(db, t->txn, &p)))
        return rc;
    if (!codec || !p)
        return cvs__err(CVS_EINVAL, "%s: no ANN index has been built (cvstore build --index ivf)",
                        db->path);
    if ((rc = cvs__ivf_defaults(db, t->txn, p, &dnprobe, &drerank)))
        return rc;
    if (!nprobe)
        nprobe = dnprobe;
    if (nprobe > p->nlist)
        nprobe = p->nlist;
    if (!rerank)
        rerank = drerank;
    if (rerank == CVS_RERANK_NONE) /* the stored default says: no re-ranking */
        rerank = 0;
    if (norerank || cvs__codes_only(db, codec))
        rerank = 0;
    if (!refine && p->refine && (rc = cvs__ivf_refine_default(db, t->txn, &refine)))
        return rc;
    if (refine == CVS_RERANK_NONE || !p->refine || !rerank)
        refine = 0; /* deviation 6 re-scores the SQ8 re-rank's answer only */
    if ((rc = cvs__ivf_acquire(db, t->txn, p, codec, &ix)))
        return rc;
    base.db = db;
    base.txn = t->txn;
    base.ix = ix;
    base.p = p;
    base.codec = codec;
    base.q = q;
    base.qn = qn;
    base.k = k;
    base.nprobe = nprobe;
    base.rerank = rerank != 0;
    base.kk = rerank > k ? rerank : k;
    /* Deviation 6: at least k (fewer would leave SQ8 distances among the
     * answer), at most the candidates the SQ8 re-rank had. */
    base.refine = !refine ? 0 : refine < k ? k : refine > base.kk ? base.kk : refine;
    base.allow = allow;
    base.allow_words = allow_words;
    base.T = (uint64_t)mdb_txn_id(t->txn);
    base.labels = labels;
    base.scores = scores;
    for (size_t l = 0; l < ix->nlist; l++)
        if (ix->lists[l].n > base.maxn)
            base.maxn = ix->lists[l].n;
    if (base.rerank) { /* deviation 1: settle LMDB's per-database state first */
        uint64_t zero = 0;
        MDB_val mk = {8, &zero}, mv;
        (void)cvs__vget(db, t->txn, db->dbi_vecs, &mk, &mv);
    }
    nt = threads > 0 ? (size_t)threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1)
        nt = 1;
    if (nt > nq)
        nt = nq;
    if (nt <= 1) {
        base.q0 = 0;
        base.q1 = nq;
        run_job(&base);
        if ((rc = base.rc))
            cvs__err(rc, "%s", base.err);
        goto out;
    }
    jobs = calloc(nt, sizeof *jobs);
    if (!jobs) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nt; i++) {
        jobs[i] = base;
        jobs[i].q0 = nq * i / nt;
        jobs[i].q1 = nq * (i + 1) / nt;
    }
    cvs__run_jobs(jobs, sizeof *jobs, nt, run_job);
    for (size_t i = 0; i < nt; i++)
        if (jobs[i].rc) {
            rc = cvs__err(jobs[i].rc, "%s", jobs[i].err);
            break;
        }
out:
    cvs__ivf_release(db, ix);
    free(jobs);
    return rc;
}
