/*
 * bench_codecs.c -- `cvstore-bench codecs`: our vector codecs against
 * FAISS's product quantizers, at equal code sizes, on the same data, in the
 * same process and the same run.
 *
 * For each data set and each code size B (bytes per vector, 8/16/32/64 by
 * default) it trains, encodes and scans:
 *   ours   pq{B} (8-bit), pq{2B}x4 (4-bit fast scan), opq,pq{B}, for ip and
 *          cosine data also opq,pq{B} with the ScaNN loss (anisotropic_eta
 *          = 4, "+aniso"), pca{B},sq8 where B <= dim, and rq{B} (residual
 *          quantizer, B code bytes; pca128,rq{B} on data of more than 128
 *          dimensions), and rabitq{b} with the most bits per dimension b
 *          (1..8) whose code, factors included, fits in B bytes;
 *   FAISS  PQ{m}np, OPQ{m},PQ{m}np and PQ{2B}x4fs, built by index_factory
 *          through the C API.
 * and reports recall@10 of the exhaustive code scan alone and after
 * re-ranking its top 100 with the raw vectors, training time, encoding
 * throughput, single-thread scan throughput and bytes per vector with the
 * codebooks spread over the base.
 *
 * How each side is measured, and why:
 *  1. Ours go through the internal codec API, the way index/codescan.c
 *     scans a store: for blocks of 8 queries, cvs__codec_lut_batch,
 *     cvs__adc8_interleave + cvs__adc8_scan_multi (8-bit), or per query
 *     cvs__codec_lut, cvs__fs4_quantize_lut + cvs__fs4_scan over codes
 *     packed once by cvs__fs4_pack (4-bit), or cvs__codec_distances
 *     (sq8); the top 100 by a bounded heap.  Going through a store would
 *     add LMDB reads that FAISS does not pay, and hide the codec in the
 *     noise.
 *  2. Both sides train on the same seeded sample of at most 65536 base
 *     vectors (selection sampling, so the sample keeps input order), and
 *     both train and encode with every core: the training times are the
 *     ones a user waits for.  FAISS does so with a single-threaded OpenBLAS
 *     under its OpenMP threads (see run_faiss for why).
 *  3. Scans run on one thread (OpenBLAS, OpenMP -- which is also FAISS's
 *     thread pool -- pinned to 1) and their time covers everything a search
 *     does after the codes exist: query transform, LUT, scan, top-100
 *     heap.  FAISS answers all queries in one search call with k = 100;
 *     ours loop over queries, as codescan.c does.  codes/s = nq * n / time,
 *     wall time, or the thread's CPU time with --cpu-clock.
 *  4. Re-ranking is done here for both sides, identically: the 100
 *     candidates are re-scored by exact distance to the raw vectors and the
 *     best 10 kept.  For every method the recall after re-ranking only the
 *     first R of the 100 (R = 1..100) is kept too, so that the re-rank
 *     reads a method needs for a given recall can be read off.  RaBitQ
 *     codecs are also re-ranked by their error bound, as the IVF index does
 *     (index/ivf_search.c deviation 4): the 100 smallest lower bounds
 *     est - 1.9 err, re-scored in that order until a lower bound exceeds the
 *     10th best exact distance; the reads are counted per query.  The
 *     summary then sets each RaBitQ codec beside every other method of the
 *     same code size: the re-rank depth R it needs to reach the RaBitQ
 *     codec's bound-re-ranked recall.
 *  5. Bytes per vector = code bytes + parameter bytes / n.  Ours come from
 *     cvs__codec_param_bytes; FAISS's from the size of the trained, empty
 *     index written by write_index (a few header bytes included).
 *  6. A dimension that M does not divide (GloVe's 100 with M = 8 .. 64) is
 *     first projected by PCA on the largest multiple of M below it, on both
 *     sides ("pca96,opq,pq32", "PCA96,PQ32np", "OPQ32_96,PQ32np", FAISS's
 *     syntax for OPQ with an output dimension); where no multiple exists
 *     (M = 128 > 100) the method is skipped.  FAISS's PCA centres the data,
 *     which for inner-product search changes the ranking by a per-vector
 *     term (q . x becomes (q - mu) . (x - mu)); it is what FAISS does, so it
 *     is what it gets measured on.
 *
 * GloVe-100-angular is built from the vectors of scripts/fetch-glove.sh:
 * rows normalized, every 341st row (i % 341 == 0) a query removed from the
 * base, the exact top 100 by inner product as ground truth, computed by our
 * own exact search (a scratch cosine store, cvs_search CVS_SEARCH_EXACT).
 * The same is done for --base files given without --gt.
 */
#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "bench/bench.h"
#include "bench/benchutil.h"
#include "bench/report.h"
#include "index/faiss_util.h"
#include "core/heap.h"
#include "index/topk.h"

/* Codes per multi-query scan call: 8 x 2048 floats of distances = 64 KiB. */
#define ADC8_CHUNK 2048
#include "pq/codec.h"
#include "pq/kernels.h"

/* OpenBLAS's own controls (see bench_exact.c for why not cblas.h). */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

#define TOPK 100           /* candidates kept by every scan, re-ranked */
#define RK 10              /* recall@10 */
#define MAX_TRAIN 65536
#define ANISO_ETA 4.0f

/* ==== Data sets (benchutil.h: bu_dataset) ==== */

typedef bu_dataset dataset;

/* Exact "smaller is better" distance of query q to base row i. */
static float exact_dist(const dataset *ds, const float *q, size_t i)
{
    const float *x = ds->xb + i * ds->d;
    double acc = 0;
    if (ds->metric == CVS_METRIC_L2) {
        for (uint32_t t = 0; t < ds->d; t++) {
            double e = (double)q[t] - x[t];
            acc += e * e;
        }
        return (float)acc;
    }
    for (uint32_t t = 0; t < ds->d; t++)
        acc += (double)q[t] * x[t];
    return (float)-acc;
}

/* ==== Results ==== */

typedef struct result {
    const char *dataset;
    char method[160];
    const char *family;    /* one plot line per family */
    int faiss;
    size_t size;           /* nominal code bytes B */
    double bpv, r10, r10rr, train_s, encode_vps, scan_cps;
    double r10_at[TOPK + 1]; /* recall@10 after re-ranking the first R */
    int rbq;                 /* RaBitQ: bound re-ranking measured */
    double r10b, reads_b;    /* its recall@10 and re-rank reads per query */
} result;

typedef struct results {
    result *r;
    size_t n, cap;
} results;

static result *results_add(results *rs)
{
    return br_push((void **)&rs->r, &rs->n, &rs->cap, sizeof rs->r[0], 64);
}

/* Mean |lab[0..10) ∩ gt[0..10)| / 10; lab has stride TOPK. */
static double recall10(const dataset *ds, const int64_t *lab, size_t stride)
{
    return br_recall(ds, lab, stride, RK);
}

/* Fills r->r10 and r->r10rr from the top-TOPK lists of every query. */
static int score(const dataset *ds, const int64_t *lab, result *r)
{
    int64_t *best = malloc(ds->nq * RK * sizeof *best);
    float hd[RK];
    if (!best)
        return CVS_ENOMEM;
    r->r10 = recall10(ds, lab, TOPK);
    for (size_t q = 0; q < ds->nq; q++) {
        const float *qv = ds->xq + q * ds->d;
        cvs_heap h;
        size_t n;
        cvs__heap_init(&h, RK, hd, best + q * RK);
        for (size_t j = 0; j < TOPK; j++) {
            int64_t id = lab[q * TOPK + j];
            if (id >= 0 && (size_t)id < ds->nb)
                cvs__heap_push(&h, exact_dist(ds, qv, (size_t)id), id);
        }
        n = cvs__heap_sort(&h);
        for (size_t j = n; j < RK; j++)
            best[q * RK + j] = -1;
    }
    /* Recall after re-ranking only the first R candidates, R = 1..TOPK. */
    for (size_t q = 0; q < ds->nq; q++) {
        const float *qv = ds->xq + q * ds->d;
        int64_t hid[RK];
        cvs_heap h;
        cvs__heap_init(&h, RK, hd, hid);
        for (size_t R = 1; R <= TOPK; R++) {
            int64_t id = lab[q * TOPK + R - 1];
            size_t hit = 0;
            if (id >= 0 && (size_t)id < ds->nb)
                cvs__heap_push(&h, exact_dist(ds, qv, (size_t)id), id);
            for (size_t i = 0; i < h.n; i++)
                for (size_t j = 0; j < RK; j++)
                    if (h.id[i] == ds->gt[q * ds->gtk + j]) {
                        hit++;
                        break;
                    }
            r->r10_at[R] += (double)hit / RK / (double)ds->nq;
        }
    }
    r->r10rr = recall10(ds, best, RK);
    free(best);
    return CVS_OK;
}

/* ==== Scan clock ==== */

/* --cpu-clock: scans are timed by the CPU time of the calling thread, which
 * runs the whole single-thread scan on both sides (FAISS's OpenMP team of
 * one and a one-thread OpenBLAS work in the caller).  On a shared machine
 * wall time also counts the time slices of other processes, and those land
 * unevenly on the two sides of a comparison. */
static int scan_cpu_clock;

/* Both sides' scans are timed the same way: at least 3 passes over all
 * the queries, more until 0.5 s have passed (at most 20), and the fastest
 * pass counts.  One pass over SIFT10K is ~50 ms, short enough for a single
 * scheduler hiccup or a cold cache to move the ratio by a third. */
static int scan_more(int pass, double total)
{
    return pass < 3 || (pass < 20 && total < 0.5);
}

static double scan_now(void)
{
    struct timespec ts;
    if (!scan_cpu_clock)
        return bu_now();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ==== Threads ==== */

typedef struct threads {
    int omp, blas;
} threads;

static threads threads_one(void)
{
    threads t = {omp_get_max_threads(), openblas_get_num_threads()};
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    return t;
}

static void threads_restore(threads t)
{
    openblas_set_num_threads(t.blas);
    omp_set_num_threads(t.omp);
}

/* ==== Our codecs ==== */

typedef struct run_ctx {
    const dataset *ds;
    const float *sample;
    size_t ns;
    uint64_t seed;
    const char *tmpdir;
} run_ctx;

/* RaBitQ re-ranked by its error bound (point 4 above): the TOPK smallest
 * lower bounds, re-scored in increasing order until one exceeds the RK-th
 * best exact distance.  Fills r10b and reads_b. */
static int rbq_bound_rerank(const dataset *ds, const cvs_codec *codec, const uint8_t *codes,
                            result *r)
{
    size_t k = ds->nb < TOPK ? ds->nb : TOPK;
    /* One prepared query, written by each estimate: this loop runs on one
     * thread (pq/codec.h, cvs__codec_rbq_estimate). */
    float *qb = malloc(cvs__codec_rbq_query_floats(codec) * sizeof *qb);
    float *est = malloc((ds->nb + 1) * sizeof *est), *err = malloc((ds->nb + 1) * sizeof *err);
    int64_t *best = malloc(ds->nq * RK * sizeof *best), cid[TOPK];
    float cd[TOPK], hd[RK];
    double reads = 0;
    int rc = CVS_OK;
    if (!qb || !est || !err || !best) {
        rc = CVS_ENOMEM;
        goto out;
    }
    for (size_t q = 0; q < ds->nq; q++) {
        const float *qv = ds->xq + q * ds->d;
        cvs_heap h, h2;
        size_t n, j;
        if ((rc = cvs__codec_rbq_prepare(codec, qv, qb)))
            goto out;
        cvs__codec_rbq_estimate(codec, qb, codes, ds->nb, est, err);
        cvs__heap_init(&h, k, cd, cid);
        for (size_t i = 0; i < ds->nb; i++)
            cvs__heap_push(&h, est[i] - CVS_RBQ_EPS0 * err[i], (int64_t)i);
        n = cvs__heap_sort(&h);
        cvs__heap_init(&h2, RK, hd, best + q * RK);
        for (j = 0; j < n && !(h2.n == h2.k && cd[j] > h2.d[0]); j++)
            cvs__heap_push(&h2, exact_dist(ds, qv, (size_t)cid[j]), cid[j]);
        reads += (double)j;
        n = cvs__heap_sort(&h2);
        for (j = n; j < RK; j++)
            best[q * RK + j] = -1;
    }
    r->r10b = recall10(ds, best, RK);
    r->reads_b = ds->nq ? reads / (double)ds->nq : NAN;
    r->rbq = 1;
out:
    free(qb);
    free(est);
    free(err);
    free(best);
    return rc;
}

static void train_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    bu_progress(ctx, phase, done, total, 0, 0);
}

static int run_cvs(const run_ctx *rc_, const char *spec, float eta, result *r, int64_t *lab)
{
    const dataset *ds = rc_->ds;
    cvs_codec *codec = NULL;
    uint8_t *codes = NULL, *packed = NULL, *qlut = NULL;
    float *lut = NULL, *dist = NULL, hd[TOPK], *luts = NULL, *lutq = NULL, *distm = NULL;
    float hdm[CVS_ADC8_QBLOCK * TOPK];
    uint16_t *acc = NULL;
    int64_t *iota = NULL;
    size_t k = ds->nb < TOPK ? ds->nb : TOPK, cs, m, lut_n, nblocks = 0;
    int rc, four;
    double t0;
    cvs_codec_train_opts to = {.seed = rc_->seed, .max_train = MAX_TRAIN,
                               .anisotropic_eta = eta, .progress = train_progress};

    t0 = bu_now();
    if ((rc = cvs__codec_train(spec, ds->d, ds->metric, rc_->sample, rc_->ns, &to, &codec)))
        goto out;
    r->train_s = bu_now() - t0;
    cs = cvs__codec_code_size(codec);
    m = cvs__codec_m(codec);
    four = cvs__codec_is_4bit(codec);
    lut_n = cvs__codec_lut_size(codec);
    r->bpv = (double)cs + (double)cvs__codec_param_bytes(codec) / (double)ds->nb;

    /* Encoding, with the fast-scan packing of 4-bit codes: what a store
     * does before its first scan (FAISS's add packs too). */
    if (!(codes = malloc(ds->nb * cs + 32))) {
        rc = CVS_ENOMEM;
        goto out;
    }
    t0 = bu_now();
    if ((rc = cvs__codec_encode(codec, ds->xb, ds->nb, codes)))
        goto out;
    if (four) {
        nblocks = (ds->nb + 31) / 32;
        if (!(packed = malloc(cvs__fs4_packed_size(ds->nb, m) + 32))) {
            rc = CVS_ENOMEM;
            goto out;
        }
        cvs__fs4_pack(codes, ds->nb, m, packed);
    }
    r->encode_vps = (double)ds->nb / (bu_now() - t0);

    lut = malloc((lut_n + 1) * sizeof *lut);
    dist = malloc((ds->nb + 32) * sizeof *dist);
    qlut = malloc(lut_n + 32);
    acc = malloc((nblocks * 32 + 32) * sizeof *acc);
    iota = malloc((ds->nb + 1) * sizeof *iota);
    if (!lut || !dist || !qlut || !acc || !iota) {
        rc = CVS_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < ds->nb; j++)
        iota[j] = (int64_t)j;

    /* 8-bit codes with a LUT: blocks of CVS_ADC8_QBLOCK queries share one
     * pass over the codes (cvs__adc8_scan_multi), as index/codescan.c does. */
    if (!four && lut_n) {
        size_t lutq_bytes = ((size_t)m * 256 * CVS_ADC8_QBLOCK * sizeof(float) + 63) / 64 * 64;
        luts = malloc(CVS_ADC8_QBLOCK * lut_n * sizeof *luts);
        lutq = aligned_alloc(64, lutq_bytes);
        distm = malloc(CVS_ADC8_QBLOCK * (ADC8_CHUNK + 1) * sizeof *distm);
        if (!luts || !lutq || !distm) {
            rc = CVS_ENOMEM;
            goto out;
        }
    }

    /* The scan, as index/codescan.c does it, one thread; the fastest of
     * several passes (scan_more). */
    threads th = threads_one();
    double scan_s = INFINITY, scan_total = 0;
    for (int pass = 0; !rc && scan_more(pass, scan_total); pass++) {
        t0 = scan_now();
        for (size_t q0 = 0; distm && q0 < ds->nq && !rc; q0 += CVS_ADC8_QBLOCK) {
            size_t bn = ds->nq - q0 < CVS_ADC8_QBLOCK ? ds->nq - q0 : CVS_ADC8_QBLOCK;
            const float *lp[CVS_ADC8_QBLOCK];
            float off[CVS_ADC8_QBLOCK];
            if ((rc = cvs__codec_lut_batch(codec, ds->xq + q0 * ds->d, bn, luts, off)))
                break;
            for (size_t b = 0; b < bn; b++)
                lp[b] = luts + b * lut_n;
            cvs__adc8_interleave(lp, bn, m, lutq);
            /* Chunks of ADC8_CHUNK codes keep the 8 rows of distances in L2
             * between the scan that writes them and the selection that reads
             * them (as index/codescan.c does). */
            cvs_heap hs[CVS_ADC8_QBLOCK];
            for (size_t b = 0; b < bn; b++)
                cvs__heap_init(&hs[b], k, hdm + b * TOPK, lab + (q0 + b) * TOPK);
            for (size_t c0 = 0; c0 < ds->nb; c0 += ADC8_CHUNK) {
                size_t cn = ds->nb - c0 < ADC8_CHUNK ? ds->nb - c0 : ADC8_CHUNK;
                cvs__adc8_scan_multi(lutq, bn, codes + c0 * m, cn, m, distm);
                for (size_t b = 0; b < bn; b++)
                    cvs__heap_offer(&hs[b], distm + b * cn, off[b], iota + c0, cn);
            }
            for (size_t b = 0; b < bn; b++) {
                size_t q = q0 + b, n = cvs__heap_sort(&hs[b]);
                for (size_t j = n; j < TOPK; j++)
                    lab[q * TOPK + j] = -1;
            }
        }
        for (size_t q = 0; !distm && q < ds->nq && !rc; q++) {
            const float *qv = ds->xq + q * ds->d;
            float offset = 0;
            cvs_heap h;
            size_t n;
            cvs__heap_init(&h, k, hd, lab + q * TOPK);
            if (four) {
                float scale, bias;
                if ((rc = cvs__codec_lut(codec, qv, lut, &offset)))
                    break;
                cvs__fs4_quantize_lut(lut, m, qlut, &scale, &bias);
                cvs__fs4_scan(packed, nblocks, m, qlut, acc);
                offset += bias;
                for (size_t j = 0; j < ds->nb; j++)
                    dist[j] = scale * (float)acc[j];
                cvs__heap_offer(&h, dist, offset, iota, ds->nb);
            } else {
                if (lut_n) {
                    if ((rc = cvs__codec_lut(codec, qv, lut, &offset)))
                        break;
                    cvs__adc8_scan(lut, codes, ds->nb, m, dist);
                } else if ((rc = cvs__codec_distances(codec, qv, codes, ds->nb, dist))) {
                    break;
                }
                cvs__heap_offer(&h, dist, offset, iota, ds->nb);
            }
            n = cvs__heap_sort(&h);
            for (size_t j = n; j < TOPK; j++)
                lab[q * TOPK + j] = -1;
        }
        double one = scan_now() - t0;
        scan_s = one < scan_s ? one : scan_s;
        scan_total += one;
    }
    threads_restore(th);
    if (rc)
        goto out;
    r->scan_cps = (double)ds->nq * (double)ds->nb / scan_s;
    rc = score(ds, lab, r);
    if (!rc && cvs__codec_rabitq_bits(codec))
        rc = rbq_bound_rerank(ds, codec, codes, r);
out:
    cvs__codec_free(codec);
    free(codes);
    free(packed);
    free(lut);
    free(dist);
    free(qlut);
    free(acc);
    free(iota);
    free(luts);
    free(lutq);
    free(distm);
    return rc;
}

/* ==== FAISS ==== */

static int run_faiss(const run_ctx *rc_, const char *spec, size_t code_bytes, result *r,
                     int64_t *lab)
{
    const dataset *ds = rc_->ds;
    FaissIndex *idx = NULL;
    float *dis = NULL;
    char path[4200];
    struct stat st;
    int rc, blas = 0;
    double t0;
    FaissMetricType mt = ds->metric == CVS_METRIC_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
    size_t k = ds->nb < TOPK ? ds->nb : TOPK;

    if ((rc = cvs__faiss_err(faiss_index_factory(&idx, (int)ds->d, spec, mt), spec)))
        goto out;
    /* FAISS parallelizes with OpenMP and calls sgemm from inside; a
     * threaded OpenBLAS then oversubscribes the cores (measured: OPQ8 on
     * SIFT10K trains in 40 s instead of 17 s on 2 cores).  FAISS's own
     * advice is a single-threaded BLAS, so it gets one for training and
     * adding; ours keep OpenBLAS threaded, as they use it. */
    blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    t0 = bu_now();
    rc = cvs__faiss_err(faiss_Index_train(idx, (idx_t)rc_->ns, rc_->sample), spec);
    r->train_s = bu_now() - t0;
    if (rc)
        goto out;

    /* Parameter bytes: the trained index, still empty, as FAISS stores it. */
    snprintf(path, sizeof path, "%s/faiss.index", rc_->tmpdir);
    if ((rc = cvs__faiss_err(faiss_write_index_fname(idx, path), spec)))
        goto out;
    if (stat(path, &st) != 0) {
        rc = CVS_EIO;
        goto out;
    }
    unlink(path);
    r->bpv = (double)code_bytes + (double)st.st_size / (double)ds->nb;

    t0 = bu_now();
    if ((rc = cvs__faiss_err(faiss_Index_add(idx, (idx_t)ds->nb, ds->xb), spec)))
        goto out;
    r->encode_vps = (double)ds->nb / (bu_now() - t0);
    openblas_set_num_threads(blas);
    blas = 0;

    if (!(dis = malloc(ds->nq * TOPK * sizeof *dis))) {
        rc = CVS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < ds->nq * TOPK; i++)
        lab[i] = -1;
    threads th = threads_one();
    double scan_s = INFINITY, scan_total = 0;
    for (int pass = 0; !rc && scan_more(pass, scan_total); pass++) {
        t0 = scan_now();
        rc = cvs__faiss_err(faiss_Index_search(idx, (idx_t)ds->nq, ds->xq, (idx_t)k, dis, lab),
                            spec);
        double one = scan_now() - t0;
        scan_s = one < scan_s ? one : scan_s;
        scan_total += one;
    }
    threads_restore(th);
    if (rc)
        goto out;
    if (k < TOPK) /* lab was filled with stride k: spread it to stride TOPK */
        for (size_t q = ds->nq; q-- > 0;)
            for (size_t j = TOPK; j-- > 0;)
                lab[q * TOPK + j] = j < k ? lab[q * k + j] : -1;
    r->scan_cps = (double)ds->nq * (double)ds->nb / scan_s;
    rc = score(ds, lab, r);
out:
    if (blas)
        openblas_set_num_threads(blas);
    if (idx)
        faiss_Index_free(idx);
    free(dis);
    return rc;
}

/* ==== Methods ==== */

enum { F_PQ, F_PQX4, F_OPQ, F_ANISO, F_SQ8, F_RQ, F_RBQ, F_FPQ, F_FOPQ, F_FFS, NFAM };
static const char *const family_name[NFAM] = {
    "cvs:pq", "cvs:pq-x4", "cvs:opq", "cvs:opq+aniso", "cvs:pca-sq8", "cvs:rq", "cvs:rabitq",
    "faiss:PQ", "faiss:OPQ", "faiss:PQx4fs"};

/* --methods: comma-separated family names (case-insensitive), or "cvs" /
 * "faiss" for one whole side. */
static int parse_methods(const char *s, int *on)
{
    char buf[512], *tok, *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    for (int f = 0; f < NFAM; f++)
        on[f] = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int f = 0; f < NFAM; f++)
            if (strcasecmp(tok, family_name[f]) == 0 ||
                (strcasecmp(tok, "cvs") == 0 && f < F_FPQ) ||
                (strcasecmp(tok, "faiss") == 0 && f >= F_FPQ))
                on[f] = found = 1;
        if (!found) {
            fprintf(stderr, "cvstore-bench codecs: unknown method family '%s'\n", tok);
            return -1;
        }
    }
    return 0;
}

#define RQ_PCA 128u /* the rq family's PCA dimension for wider data */

/* Largest multiple of M not above d (0: none). */
static uint32_t proj_dim(uint32_t d, size_t M)
{
    return M > d ? 0 : (uint32_t)(d / M * M);
}

typedef struct options {
    int fam[NFAM];
    size_t sizes[16], nsizes;
    int skip_slow;
    uint64_t seed;
    const char *extra[8]; /* --cvs-specs templates */
    size_t nextra;
    const char *tmpparent;
} options;

/* --cvs-specs: a codec spec with {B} standing for the code size in bytes
 * and {2B} for twice it (the sub-quantizer count of a 4-bit code). */
static int expand_spec(const char *tpl, size_t B, char *out, size_t cap)
{
    size_t n = 0;
    while (*tpl) {
        int w = 0;
        if (strncmp(tpl, "{B}", 3) == 0) {
            w = snprintf(out + n, cap - n, "%zu", B);
            tpl += 3;
        } else if (strncmp(tpl, "{2B}", 4) == 0) {
            w = snprintf(out + n, cap - n, "%zu", 2 * B);
            tpl += 4;
        } else if (n + 1 < cap) {
            out[n] = *tpl++;
            w = 1;
        }
        if (w <= 0 || n + (size_t)w >= cap)
            return -1;
        n += (size_t)w;
    }
    out[n] = 0;
    return 0;
}

static void progress_line(const result *r)
{
    fprintf(stderr,
            "  [%s] %-28s %6.2f B/vec  R@10 %.4f  rerank %.4f  train %6.2f s  "
            "encode %9.0f v/s  scan %6.1f Mc/s\n",
            r->dataset, r->method, r->bpv, r->r10, r->r10rr, r->train_s, r->encode_vps,
            r->scan_cps / 1e6);
    if (r->rbq)
        fprintf(stderr, "  [%s] %-28s bound re-rank: R@10 %.4f with %.1f reads/query\n",
                r->dataset, r->method, r->r10b, r->reads_b);
}

/* Smallest re-rank depth R at which r reaches recall@10 target (0: not
 * within TOPK). */
static size_t depth_for(const result *r, double target)
{
    for (size_t R = 1; R <= TOPK; R++)
        if (r->r10_at[R] >= target - 1e-9)
            return R;
    return 0;
}

/* One row: trains, encodes and scans spec (FAISS's when faiss), reporting
 * progress and failures.  code_bytes is what FAISS's side needs. */
static int run_method(const run_ctx *cx, results *rs, const char *family, int faiss, size_t B,
                      const char *spec, const char *suffix, float eta, size_t code_bytes,
                      int64_t *lab)
{
    int rc;
    result *r = results_add(rs);
    if (!r)
        return CVS_ENOMEM;
    r->dataset = cx->ds->name;
    r->family = family;
    r->faiss = faiss;
    r->size = B;
    snprintf(r->method, sizeof r->method, "%s:%s%s", faiss ? "faiss" : "cvs", spec, suffix);
    fprintf(stderr, "  [%s] %s ...\n", r->dataset, r->method);
    rc = faiss ? run_faiss(cx, spec, code_bytes, r, lab) : run_cvs(cx, spec, eta, r, lab);
    if (rc)
        fprintf(stderr, "cvstore-bench codecs: %s on %s: %s: %s\n", r->method, r->dataset,
                cvs_strerror(rc), cvs_errmsg(NULL));
    else
        progress_line(r);
    return rc;
}

static int run_dataset(const dataset *ds, const options *o, results *rs)
{
    run_ctx cx = {ds, NULL, 0, o->seed, NULL};
    float *sample = NULL;
    int64_t *lab = malloc(ds->nq * TOPK * sizeof *lab);
    char *tmp = bu_tmpdir(o->tmpparent);
    int rc = CVS_OK, ip = ds->metric != CVS_METRIC_L2;
    size_t ns = ds->nb < MAX_TRAIN ? ds->nb : MAX_TRAIN;

    if (!lab || !tmp || !(sample = malloc(ns * ds->d * sizeof *sample))) {
        rc = tmp ? CVS_ENOMEM : CVS_EIO;
        goto out;
    }
    /* Selection sampling (Knuth, Algorithm S) with splitmix64: a seeded
     * sample in input order, shared by both sides. */
    {
        uint64_t s = o->seed ? o->seed : 1;
        size_t got = 0;
        for (size_t i = 0; i < ds->nb && got < ns; i++) {
            uint64_t z = (s += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            double u = (double)(z >> 11) * (1.0 / 9007199254740992.0);
            if (u * (double)(ds->nb - i) < (double)(ns - got))
                memcpy(sample + got++ * ds->d, ds->xb + i * ds->d, ds->d * sizeof *sample);
        }
        ns = got;
    }
    cx.sample = sample;
    cx.ns = ns;
    cx.tmpdir = tmp;
    fprintf(stderr, "cvstore-bench codecs: %s: %zu x %u (%s), %zu queries, %zu training vectors\n",
            ds->name, ds->nb, ds->d, cvs_metric_name(ds->metric), ds->nq, ns);

    for (size_t si = 0; si < o->nsizes; si++) {
        size_t B = o->sizes[si];
        for (int f = 0; f < NFAM; f++) {
            char spec[128], pfx[32] = "";
            size_t M = f == F_PQX4 || f == F_FFS ? 2 * B : B;
            uint32_t r_ = proj_dim(ds->d, M);
            /* When M does not divide d, PQ alone must project to r_ < d
             * dimensions.  Where that would drop more than a tenth of them
             * (GloVe's 100 -> 64 at 64 bytes), the OPQ families of both
             * sides pad to the next multiple of M instead ("opq128,pq64",
             * FAISS "OPQ64_128"): the rotation spreads d dimensions of
             * variance over all M sub-spaces. */
            uint32_t pad = r_ && r_ < ds->d && (uint64_t)r_ * 10 < (uint64_t)ds->d * 9
                               ? (uint32_t)((ds->d + M - 1) / M * M) : 0;
            float eta = 0;
            if (!o->fam[f] || (f == F_ANISO && !ip))
                continue;
            if (f == F_SQ8) {
                if (B > ds->d)
                    continue;
                snprintf(spec, sizeof spec, "pca%zu,sq8", B);
            } else if (f == F_RBQ) {
                /* The most bits per dimension whose code (bit planes of
                 * the dimension rounded up to 8, and the bytes of centre
                 * and factors every code has, as the codec counts them)
                 * fits in B bytes. */
                size_t dp = (ds->d + 7) / 8 * 8, one = 0, tail, bits;
                if (cvs__codec_spec_code_size("rabitq1", (uint32_t)ds->d, ds->metric, &one))
                    continue;
                tail = one - dp / 8;
                bits = B > tail ? (B - tail) * 8 / dp : 0;
                if (bits < 1) {
                    fprintf(stderr, "  [%s] cvs:rabitq at %zu B: skipped (1 bit needs %zu B)\n",
                            ds->name, B, dp / 8 + tail);
                    continue;
                }
                snprintf(spec, sizeof spec, "rabitq%zu", bits > 8 ? (size_t)8 : bits);
            } else if (f == F_RQ) {
                /* Every rq stage spans all dimensions, so its training and
                 * encoding cost grows with d; above RQ_PCA dimensions a PCA
                 * first keeps both in seconds and (on Fashion-MNIST) gives
                 * the better recall too (BENCHMARKS.md). */
                if (ds->d > RQ_PCA)
                    snprintf(spec, sizeof spec, "pca%u,rq%zu", RQ_PCA, B);
                else
                    snprintf(spec, sizeof spec, "rq%zu", B);
            } else if (r_ == 0) {
                fprintf(stderr, "  [%s] %s at %zu B: skipped (%zu sub-quantizers > dim %u)\n",
                        ds->name, family_name[f], B, M, ds->d);
                continue;
            } else if (f < F_FPQ) {
                if (pad && (f == F_OPQ || f == F_ANISO))
                    snprintf(pfx, sizeof pfx, "opq%u,", pad);
                else if (r_ < ds->d)
                    snprintf(pfx, sizeof pfx, "pca%u,", r_);
                switch (f) {
                case F_PQ: snprintf(spec, sizeof spec, "%spq%zu", pfx, M); break;
                case F_PQX4: snprintf(spec, sizeof spec, "%spq%zux4", pfx, M); break;
                default:
                    snprintf(spec, sizeof spec, pad ? "%spq%zu" : "%sopq,pq%zu", pfx, M);
                    break;
                }
                if (f == F_ANISO)
                    eta = ANISO_ETA;
            } else {
                if (f == F_FOPQ && o->skip_slow && ds->d > 256) {
                    fprintf(stderr, "  [%s] faiss OPQ%zu: skipped (--skip-slow, dim %u > 256)\n",
                            ds->name, M, ds->d);
                    continue;
                }
                if (r_ < ds->d && f != F_FOPQ)
                    snprintf(pfx, sizeof pfx, "PCA%u,", r_);
                switch (f) {
                case F_FPQ: snprintf(spec, sizeof spec, "%sPQ%zunp", pfx, M); break;
                case F_FFS: snprintf(spec, sizeof spec, "%sPQ%zux4fs", pfx, M); break;
                default:
                    if (pad)
                        snprintf(spec, sizeof spec, "OPQ%zu_%u,PQ%zunp", M, pad, M);
                    else if (r_ < ds->d)
                        snprintf(spec, sizeof spec, "OPQ%zu_%u,PQ%zunp", M, r_, M);
                    else
                        snprintf(spec, sizeof spec, "OPQ%zu,PQ%zunp", M, M);
                    break;
                }
            }
            rc = run_method(&cx, rs, family_name[f], f >= F_FPQ, B, spec,
                            f == F_ANISO ? "+aniso" : "", eta, f == F_FFS ? (M + 1) / 2 : M,
                            lab);
            if (rc)
                goto out;
        }
        for (size_t e = 0; e < o->nextra; e++) {
            char spec[128];
            if (expand_spec(o->extra[e], B, spec, sizeof spec) != 0) {
                fprintf(stderr, "  [%s] %s at %zu B: spec too long, skipped\n", ds->name,
                        o->extra[e], B);
                continue;
            }
            if ((rc = run_method(&cx, rs, o->extra[e], 0, B, spec, "", 0, B, lab)))
                goto out;
        }
    }
out:
    free(lab);
    free(sample);
    bu_rmrf(tmp);
    free(tmp);
    return rc;
}

/* ==== Plot ==== */

/* One panel per data set: recall@10 of the codes alone against bytes per
 * vector, one line per method family.  Data go inline as gnuplot
 * datablocks, so nothing but the SVG is written. */
static int write_plot(const void *rows, const char *path)
{
    const results *rs = rows;
    const char *names[16];
    size_t nds = br_dataset_names(rs->r, rs->n, sizeof rs->r[0], offsetof(result, dataset),
                                  names, 16);
    FILE *g;
    if (!nds)
        return 0;
    if (!(g = br_plot_open("codecs")))
        return -1;
    for (size_t s = 0; s < nds; s++)
        for (int f = 0; f < NFAM; f++) {
            fprintf(g, "$d%zu_%d << EOD\n", s, f);
            for (size_t i = 0; i < rs->n; i++)
                if (strcmp(rs->r[i].dataset, names[s]) == 0 && rs->r[i].family == family_name[f])
                    fprintf(g, "%.4f %.4f\n", rs->r[i].bpv, rs->r[i].r10);
            fprintf(g, "EOD\n");
        }
    fprintf(g, "set terminal svg size %zu,480 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
               "set output '%s'\n"
               "set multiplot layout 1,%zu\n"
               "set logscale x 2\nset grid\nset key bottom right\nset yrange [0:1]\n"
               "set xlabel 'bytes per vector (code + codebooks / n)'\n"
               "set ylabel 'recall@10, codes only'\n",
            560 * nds, path, nds);
    for (size_t s = 0; s < nds; s++) {
        int first = 1;
        fprintf(g, "set title '%s'\nplot ", names[s]);
        for (int f = 0; f < NFAM; f++) {
            int have = 0;
            for (size_t i = 0; i < rs->n && !have; i++)
                have = strcmp(rs->r[i].dataset, names[s]) == 0 && rs->r[i].family == family_name[f];
            if (!have)
                continue;
            fprintf(g, "%s$d%zu_%d using 1:2 with linespoints lw 2 %s title '%s'",
                    first ? "" : ", ", s, f, f >= F_FPQ ? "dt 2" : "dt 1", family_name[f]);
            first = 0;
        }
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    return br_plot_close(g, "codecs", path);
}

/* ==== Report ==== */

static const result *find(const results *rs, const char *ds, size_t B, const char *family)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].dataset, ds) == 0 && rs->r[i].size == B &&
            strcmp(rs->r[i].family, family) == 0)
            return &rs->r[i];
    return NULL;
}

/* Head to head per data set and size: best recall of each side, and the
 * scan-speed ratios of the matching 4-bit and 8-bit quantizers. */
static void print_summary(const results *rs, const options *o)
{
    const char *const hdr[] = {"dataset", "bytes", "best cvs", "R@10", "best faiss", "R@10",
                               "x4 scan vs PQx4fs", "adc8 vs PQnp"};
    bu_table *t = bu_table_new(8, hdr);
    const char *last = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        const char *ds = rs->r[i].dataset;
        if (last && strcmp(last, ds) == 0)
            continue;
        last = ds;
        for (size_t si = 0; si < o->nsizes; si++) {
            size_t B = o->sizes[si];
            const result *bc = NULL, *bf = NULL, *a, *b;
            for (size_t j = 0; j < rs->n; j++) {
                const result *r = &rs->r[j];
                if (strcmp(r->dataset, ds) != 0 || r->size != B)
                    continue;
                if (!r->faiss && (!bc || r->r10 > bc->r10))
                    bc = r;
                if (r->faiss && (!bf || r->r10 > bf->r10))
                    bf = r;
            }
            if (!bc && !bf)
                continue;
            bu_table_row(t);
            bu_table_cell(t, "%s", ds);
            bu_table_cell(t, "%zu", B);
            bu_table_cell(t, "%s", bc ? bc->method : "-");
            bu_table_cell(t, "%.4f", bc ? bc->r10 : NAN);
            bu_table_cell(t, "%s", bf ? bf->method : "-");
            bu_table_cell(t, "%.4f", bf ? bf->r10 : NAN);
            a = find(rs, ds, B, "cvs:pq-x4");
            b = find(rs, ds, B, "faiss:PQx4fs");
            if (a && b)
                bu_table_cell(t, "%.2fx", a->scan_cps / b->scan_cps);
            else
                bu_table_cell(t, "-");
            a = find(rs, ds, B, "cvs:pq");
            b = find(rs, ds, B, "faiss:PQ");
            if (a && b)
                bu_table_cell(t, "%.2fx", a->scan_cps / b->scan_cps);
            else
                bu_table_cell(t, "-");
        }
    }
    printf("\n### head to head (codes-only recall@10; scan speed ratios per code, 1 thread)\n\n");
    bu_table_print(t);
    bu_table_free(t);

    /* RaBitQ against every method of the same nominal size: re-rank reads
     * per query at the RaBitQ codec's bound-re-ranked recall. */
    {
        const char *const h2[] = {"dataset", "bytes", "method", "B/vec", "R@10 codes",
                                  "R@10 re-ranked", "reads/query", "at recall"};
        bu_table *t2 = bu_table_new(8, h2);
        int any = 0;
        for (size_t i = 0; i < rs->n; i++) {
            const result *rb = &rs->r[i];
            if (!rb->rbq)
                continue;
            any = 1;
            for (size_t j = 0; j < rs->n; j++) {
                const result *r = &rs->r[j];
                size_t R;
                if (strcmp(r->dataset, rb->dataset) != 0 || r->size != rb->size)
                    continue;
                bu_table_row(t2);
                bu_table_cell(t2, "%s", r->dataset);
                bu_table_cell(t2, "%zu", r->size);
                bu_table_cell(t2, "%s%s", r->method, r == rb ? " (bound)" : "");
                bu_table_cell(t2, "%.2f", r->bpv);
                bu_table_cell(t2, "%.4f", r->r10);
                if (r == rb) {
                    bu_table_cell(t2, "%.4f", r->r10b);
                    bu_table_cell(t2, "%.1f", r->reads_b);
                } else if ((R = depth_for(r, rb->r10b)) != 0) {
                    bu_table_cell(t2, "%.4f", r->r10_at[R]);
                    bu_table_cell(t2, "%zu", R);
                } else {
                    bu_table_cell(t2, "%.4f", r->r10_at[TOPK]);
                    bu_table_cell(t2, ">%d", TOPK);
                }
                bu_table_cell(t2, "%.4f", rb->r10b);
            }
        }
        if (any) {
            printf("\n### RaBitQ: re-rank reads per query to reach the RaBitQ codec's recall@10 "
                   "after re-ranking by its error bound (eps0 %.1f); other methods re-rank "
                   "their first R candidates\n\n", (double)CVS_RBQ_EPS0);
            bu_table_print(t2);
        }
        bu_table_free(t2);
    }
}

/* ==== Command ==== */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench codecs [--datasets sift,fashion,glove] [--sizes 8,16,32,64]\n"
        "                            [--methods LIST] [--nq N] [--skip-slow] [--seed S]\n"
        "                            [--csv PATH] [--plot PATH.svg | --no-plot]\n"
        "                            [--data-dir DIR] [--dir TMPDIR] [--cpu-clock]\n"
        "                            [--max-base N]\n"
        "                            [--cvs-specs LIST]\n"
        "       cvstore-bench codecs --base F --query F [--gt F.ivecs] --metric l2|ip|cosine ...\n"
        "Codes-only and re-ranked recall@10, training time, encoding and single-thread\n"
        "scan throughput, and bytes per vector (codebooks included) of cvstore's codecs\n"
        "and FAISS's PQ{m}np, OPQ{m},PQ{m}np and PQ{m}x4fs at equal code sizes; for\n"
        "RaBitQ codecs also the re-rank reads its error bound needs, against the\n"
        "re-rank depth each other method needs for the same recall.\n"
        "  --datasets LIST  of sift (SIFT10K), fashion (Fashion-MNIST), glove\n"
        "                   (GloVe-100-angular from scripts/fetch-glove.sh); default all\n"
        "  --sizes LIST     code bytes per vector (default 8,16,32,64)\n"
        "  --methods LIST   families: cvs:pq cvs:pq-x4 cvs:opq cvs:opq+aniso cvs:pca-sq8 cvs:rq\n"
        "                   cvs:rabitq faiss:PQ faiss:OPQ faiss:PQx4fs, or cvs / faiss\n"
        "                   (default all); cvs:rabitq is rabitq{b}, b the most bits per\n"
        "                   dimension that fit the size (factors included)\n"
        "  --nq N           first N queries (default 1000)\n"
        "  --max-base N     first N base vectors only (ground truth recomputed)\n"
        "  --skip-slow      skip FAISS OPQ on dimensions > 256 (minutes to train)\n"
        "  --seed S         training sample and k-means seed (default 1)\n"
        "  --csv PATH       write the results as CSV\n"
        "  --plot PATH.svg  recall@10 vs bytes/vector (gnuplot; default: the CSV's path\n"
        "                   with .svg, else codecs.svg)\n"
        "  --data-dir DIR   where siftsmall/ and fashion-mnist/ are (default\n"
        "                   $CVSTORE_DATA, else ../shared/data beside the source tree)\n"
        "  --base/--query/--gt/--metric  any data as files (fvecs, bvecs, npy; ivecs);\n"
        "                   without --gt the exact top 100 is computed by cvstore\n"
        "  --dir DIR        where to make scratch directories\n"
        "  --cpu-clock      time the (single-thread) scans by the thread's CPU time\n"
        "                   instead of wall time: steadier on a shared machine\n"
        "  --cvs-specs LIST more codecs of ours, ';'-separated specs in which {B}\n"
        "                   stands for the code size and {2B} for twice it, e.g.\n"
        "                   \"pca128,opq,pq{B};pca256,opq,pq{2B}x4\"\n");
}

static int parse_sizes(const char *s, options *o)
{
    char *end;
    o->nsizes = 0;
    while (*s) {
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > 256 || o->nsizes == 16)
            return -1;
        o->sizes[o->nsizes++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return o->nsizes ? 0 : -1;
}

int bench_codecs(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"datasets", required_argument, 0, 'D'}, {"sizes", required_argument, 0, 's'},
        {"methods", required_argument, 0, 'M'}, {"nq", required_argument, 0, 'n'},
        {"skip-slow", no_argument, 0, 'S'}, {"seed", required_argument, 0, 'e'},
        {"csv", required_argument, 0, 'c'}, {"plot", required_argument, 0, 'p'},
        {"no-plot", no_argument, 0, 'P'}, {"data-dir", required_argument, 0, 'r'},
        {"base", required_argument, 0, 'b'}, {"query", required_argument, 0, 'q'},
        {"gt", required_argument, 0, 'g'}, {"metric", required_argument, 0, 'm'},
        {"dir", required_argument, 0, 'd'}, {"cpu-clock", no_argument, 0, 'C'},
        {"cvs-specs", required_argument, 0, 'x'}, {"max-base", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    options o = {.sizes = {8, 16, 32, 64}, .nsizes = 4, .seed = 1};
    const char *datasets = "sift,fashion,glove", *csv = NULL, *plot = NULL, *datadir = NULL;
    const char *base = NULL, *query = NULL, *gt = NULL;
    cvs_metric metric = CVS_METRIC_L2;
    size_t nq_max = 1000, max_base = 0;
    int c, noplot = 0, ret = 2;
    char plotbuf[4200];
    dataset dsets[4];
    size_t nds = 0;
    results rs = {0};
    bu_table *t = NULL;
    double t_start = bu_now();

    for (int f = 0; f < NFAM; f++)
        o.fam[f] = 1;
    memset(dsets, 0, sizeof dsets);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'D': datasets = optarg; break;
        case 's':
            if (parse_sizes(optarg, &o) != 0) {
                fprintf(stderr, "cvstore-bench codecs: bad --sizes '%s'\n", optarg);
                return 1;
            }
            break;
        case 'M':
            if (parse_methods(optarg, o.fam) != 0)
                return 1;
            break;
        case 'n': nq_max = strtoul(optarg, NULL, 10); break;
        case 'B': max_base = strtoul(optarg, NULL, 10); break;
        case 'S': o.skip_slow = 1; break;
        case 'e': o.seed = strtoull(optarg, NULL, 10); break;
        case 'c': csv = optarg; break;
        case 'p': plot = optarg; break;
        case 'P': noplot = 1; break;
        case 'r': datadir = optarg; break;
        case 'b': base = optarg; break;
        case 'q': query = optarg; break;
        case 'g': gt = optarg; break;
        case 'm':
            if (cvs_metric_parse(optarg, &metric) != 0) {
                fprintf(stderr, "cvstore-bench codecs: bad --metric '%s'\n", optarg);
                return 1;
            }
            break;
        case 'd': o.tmpparent = optarg; break;
        case 'C': scan_cpu_clock = 1; break;
        case 'x': {
            static char buf[1024]; /* o.extra points into it */
            char *save = NULL, *tok;
            if (snprintf(buf, sizeof buf, "%s", optarg) >= (int)sizeof buf) {
                fprintf(stderr, "cvstore-bench codecs: --cvs-specs is too long\n");
                return 1;
            }
            o.nextra = 0;
            for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
                if (o.nextra == sizeof o.extra / sizeof o.extra[0]) {
                    fprintf(stderr, "cvstore-bench codecs: at most 8 --cvs-specs\n");
                    return 1;
                }
                o.extra[o.nextra++] = tok;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || (!base != !query) || (gt && !base)) {
        usage(stderr);
        return 1;
    }
    datadir = bu_data_dir(datadir);
    if (!plot && !noplot) {
        br_plot_path(csv, "codecs.svg", plotbuf, sizeof plotbuf);
        plot = plotbuf;
    }

    /* ---- which data ---- */
    if (bu_dataset_select(datasets, base, metric, dsets, sizeof dsets / sizeof dsets[0], &nds) != 0)
        return 1;

    /* ---- run, one data set at a time (only one is in memory) ---- */
    for (size_t i = 0; i < nds; i++) {
        dataset *ds = &dsets[i];
        int rc;
        char name[64];
        memcpy(name, ds->name, sizeof name);
        rc = bu_dataset_load(ds, datadir, base, query, gt, nq_max);
        if (!rc && max_base && max_base < ds->nb) {
            bu_dataset_truncate(ds, max_base);
            snprintf(ds->name, sizeof ds->name, "%.40s-%zuk", name, max_base / 1000);
            memcpy(name, ds->name, sizeof name);
        }
        if (!rc && !ds->gt)
            rc = bu_dataset_exact_gt(ds, TOPK, o.tmpparent);
        if (!rc)
            rc = run_dataset(ds, &o, &rs);
        if (rc) {
            fprintf(stderr, "cvstore-bench codecs: %s: %s: %s\n", name, cvs_strerror(rc),
                    cvs_errmsg(NULL));
            goto out;
        }
        /* Only one data set in memory at a time; the result rows point at
         * ds->name, which stays. */
        bu_dataset_free(ds);
        memcpy(ds->name, name, sizeof name);
    }

    /* ---- report ---- */
    {
        const char *const hdr[] = {"dataset", "method", "bytes_per_vector", "recall10",
                                   "recall10_rerank", "train_s", "encode_vps", "scan_cps",
                                   "recall10_bound", "reads_bound"};
        double load = br_load();
        t = bu_table_new(10, hdr);
        for (size_t i = 0; i < rs.n; i++) {
            const result *r = &rs.r[i];
            bu_table_row(t);
            bu_table_cell(t, "%s", r->dataset);
            bu_table_cell(t, "%s", r->method);
            bu_table_cell(t, "%.3f", r->bpv);
            bu_table_cell(t, "%.4f", r->r10);
            bu_table_cell(t, "%.4f", r->r10rr);
            bu_table_cell(t, "%.3f", r->train_s);
            bu_table_cell(t, "%.0f", r->encode_vps);
            bu_table_cell(t, "%.0f", r->scan_cps);
            if (r->rbq) {
                bu_table_cell(t, "%.4f", r->r10b);
                bu_table_cell(t, "%.1f", r->reads_b);
            } else {
                bu_table_cell(t, "-");
                bu_table_cell(t, "-");
            }
        }
        printf("### codecs: recall@10 (codes only / re-ranked top %d), k-NN over the whole base\n\n"
               "Scans: 1 thread, top %d by heap, codes/s = queries x base / seconds.  Training "
               "and encoding: all %d cores.  SIMD kernels: %s.  Load average at the end: %.2f.  "
               "Wall time %.0f s.\n\n",
               TOPK, TOPK, omp_get_num_procs(), cvs__kernels_impl(), load, bu_now() - t_start);
        bu_table_print(t);
        print_summary(&rs, &o);
    }
    ret = br_write(t, csv, noplot ? NULL : write_plot, &rs, plot);
out:
    bu_table_free(t);
    for (size_t i = 0; i < nds; i++)
        bu_dataset_free(&dsets[i]);
    free(rs.r);
    return ret;
}
