/*
 * bench_scale.c -- `cvstore-bench scale`: cost curves from 0.1 to 10 million
 * vectors (issue 18): what cvstore, hnswlib and FAISS cost in time, memory
 * and disk as the collection grows, and how fast each answers at recall@10
 * 0.90, 0.95 and 0.99, one thread, in one run.
 *
 * ==== The data ====
 *
 * There is no public 10-million-vector set of GloVe-like vectors, so the
 * larger sets grow from real ones, in the way of the synthetic extensions of
 * the ANN benchmarks: each new vector is a real vector moved by Gaussian
 * noise as large as the gap to that vector's own nearest neighbour.  The
 * noise is then on the scale of the data's local structure wherever the
 * seed sits (dense regions get small noise, sparse ones large), so a new
 * vector is a plausible neighbour of its seed without being a copy of it.
 * Precisely, with the seed file's ns vectors (GloVe-100, 341,479 words, from
 * scripts/fetch-glove.sh, by default), d dimensions, the cosine metric and a
 * generator seed S (--seed, default 1):
 *  1. Every seed vector is scaled to unit length.  r_s is the Euclidean
 *     distance from seed s to its nearest other seed, computed exactly (one
 *     sgemm pass over all pairs, cached); a seed whose nearest neighbour is
 *     a duplicate of it (r_s = 0) takes the median of the non-zero r_s.
 *  2. The seeds are shuffled by a splitmix64 stream seeded with S.  The
 *     first nq (--nq, default 1,000) are query seeds and the last nt
 *     (--tune-seeds, default 1,000) tune seeds, both held out of every
 *     base; the nbs = ns - nq - nt between them, in shuffled order
 *     B[0..nbs), are base seeds.  The tune seeds sit at the end so that
 *     B[i] is the same seed as before they were reserved for every i <
 *     nbs: bases of up to nbs rows (0.1M and 0.3M on GloVe) are the rows
 *     they were, so their figures compare with earlier runs' (their ground
 *     truth is computed once more: its cache key now holds nbs).  Larger bases
 *     changed when the tune seeds came in: row i >= nbs copies B[i mod
 *     nbs], and nbs fell by nt (340,479 -> 339,479 on GloVe), so most
 *     generated rows copy another seed than before, and the nt seeds
 *     reserved are no longer in the base nor copied into it.
 *  3. Base row i (0 <= i < n) is seed B[i mod nbs] itself for i < nbs, and
 *     for i >= nbs that seed plus noise: x = v_s + (r_s / sqrt(d)) g, g a
 *     vector of d independent standard normals (Box-Muller over splitmix64,
 *     the stream started from S, the stream number 1 and i), then scaled to
 *     unit length.  So the noise has expected norm close to r_s; sizes up
 *     to nbs (0.1M and 0.3M on GloVe) are random subsets of the real
 *     vectors, and a larger base holds every real vector plus
 *     n / nbs - 1 noisy copies of each on average.  A smaller base is a
 *     prefix of a larger one.
 *  4. Query j is query seed j plus noise drawn the same way (stream 2,
 *     index j), scaled to unit length: the same 1,000 queries at every n,
 *     never in the base, since their seeds are not.
 *  5. Ground truth: the exact top 100 of each query by inner product over
 *     the whole base, in sgemm blocks with a bounded heap per query
 *     (OpenBLAS), cached per (seed file, S, n, nq, nbs) under
 *     ${CVSTORE_CACHE:-~/.cache/cvstore}/scale/ as is the nearest-neighbour
 *     table of step 1, so that a rerun reads both back.
 *
 * ==== The systems ====
 *
 *  cvstore  a store made with cvs_db_create (raw f32 vectors, cosine), the
 *           rows imported with cvs_put in batches of 10,000 (import_s),
 *           then cvs_build with no codec (build_s): the codec and index
 *           `cvstore build DB` chooses for the store's size and dimension
 *           (cvs_build_choose: opq,pq{d/2}x4 and ivfN, N about 4 sqrt(n),
 *           with ",sq8" re-ranking rows while n*d bytes fit in a quarter of
 *           the machine's memory; --cvstore-index names another index, to
 *           measure the choice against it); then, for each of
 *           the recalls 0.90, 0.95, 0.99 and 0.995, cvs_tune(target) and a
 *           search with the store's defaults (CVS_SEARCH_ANN, nprobe 0,
 *           rerank 0): the configurations a user gets from build + tune,
 *           not a sweep.  The configuration column lists, per tuned
 *           target, the recall the setting measured on the queries, which
 *           may fall short of it (tune measures on the store's own
 *           vectors).
 *  cvstore-tuneq  the same store, tuned again for each target with
 *           cvs_tune_opts.queries (`cvstore tune --query-file`): 200 sample
 *           queries made as the measured ones are (step 4) from the tune
 *           seeds of step 2 (stream 3 picks the seed, stream 4 draws the
 *           noise), the same 200 at every n: what a user who keeps a sample
 *           of past queries gets.  Their seeds are neither in the base nor
 *           copied into it, as the measured queries' are not; drawn from
 *           base seeds instead (as they were before the tune seeds), each
 *           sample query had its own seed -- and at n > nbs that seed's
 *           noisy copies -- among its neighbours, and was easier than a
 *           measured query (1M: tuned so for 0.95, 0.944 on the measured
 *           queries).  Import, build and memory are the cvstore row's.
 *  hnswlib  M = 16, efConstruction = 200, inner-product space, one thread
 *           (build_s = the inserts), ef swept in steps of at most 1.5x.
 *  FAISS    "IVF{nlist},PQ{d/2}x4fs,RFlat" through the C API (the closest
 *           FAISS design to cvstore's: an IVF over 4-bit fast-scan PQ codes,
 *           re-ranked with the exact vectors it keeps in memory); nlist as in
 *           `cvstore-bench ann` (bu_faiss_nlist); trained on min(n,
 *           256 nlist) rows, which is what FAISS would sample itself;
 *           nprobe swept in steps of at most 1.5x, k_factor_rf in 2, 5,
 *           10, 20, 50 (R = 20 .. 500 re-ranked); the nprobe sweep ends
 *           where no re-ranking depth gains recall any more.
 *
 * ==== The measures ====
 *
 *  1. qps@t: single-thread queries per second of all 1,000 queries in one
 *     batch (hnswlib one at a time, its only interface), repeated for at
 *     least --min-time seconds; the fastest measured point whose recall@10
 *     on the queries reaches t (no interpolation): of the sweep for
 *     hnswlib and FAISS, of the four tuned settings for cvstore.  The ef
 *     sweep stops at the first point reaching 0.99; the nprobe sweep one
 *     nprobe after the first reaching it.
 *  2. build_s: wall seconds of train + add.  hnswlib and FAISS run on one
 *     thread; cvstore's k-means starts a thread per core (no public knob),
 *     so for strictly one core run the whole benchmark under taskset -c 0.
 *  3. rss_gib: the process's peak resident set during the system's import,
 *     build and searches, minus the resident set just before it started
 *     (the peak is reset through /proc/self/clear_refs).  For cvstore it
 *     counts the pages of the store's memory map the process touched.
 *  4. bytes_per_vector: the searchable structure's own size / n -- cvstore
 *     cvs_index_info.mem_bytes (its re-ranking reads the raw vectors from
 *     the map, counted in rss_gib, not here), hnswlib its fields
 *     (hb_mem_bytes), FAISS the write_index size.
 *  5. disk: cvstore the store's directory (raw vectors, codes, lists), hnswlib
 *     saveIndex's file, FAISS write_index's file.
 *  6. Before each size and system, an estimate of the memory it needs; a
 *     system whose estimate does not fit under --mem-gib (default the
 *     machine's memory) next to what the process already holds is skipped
 *     and reported as "skipped: needs X GiB".
 *
 * Deviations from the wording, and why:
 *  1. Cosine only: GloVe-100-angular is the data set, and one metric
 *     keeps the generator and the ground truth one code path.
 *  2. Queries are noisy copies of held-out real vectors, not the held-out
 *     real vectors themselves (as GloVe-100-angular's are): one set of
 *     queries for every n, made by the generator of the base's synthetic
 *     rows, so that at 10M, where 97% of the base is generated, a query is
 *     drawn the way the rows it is compared with were.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "bench/bench.h"
#include "bench/benchutil.h"
#include "bench/hnsw_bench.h"
#include "bench/report.h"
#include "core/heap.h"
#include "core/rng.h"
#include "index/faiss_util.h"

#define K 10              /* recall@10 */
#define GT_K 100          /* ground truth kept per query */
#define NTARGET 3
#define MAX_SIZES 16
#define MAX_SWEEP 128      /* FAISS: 20 nprobe x 5 k_factor at most */
#define HNSW_M 16
#define HNSW_EFC 200
#define NSYS 4
#define SYS_TUNEQ 3 /* cvstore's store again, tuned on sample queries (run with 0) */
#define NTUNEQ 200  /* the sample queries tune measures in that row */

static const double targets[NTARGET] = {0.90, 0.95, 0.99};
/* The recalls cvstore is tuned for: the table's three, and one above the
 * last, since tune's own queries (the store's vectors) are easier than
 * held-out ones and a user short of 0.99 asks for more. */
static const double tune_targets[] = {0.90, 0.95, 0.99, 0.995};
static const char *const sys_names[NSYS] = {"cvstore", "hnswlib", "faiss", "cvstore-tuneq"};

/* ==== Options and results ==== */

typedef struct options {
    size_t sizes[MAX_SIZES], nsizes;
    size_t nq, nt;
    int sys_on[NSYS];
    uint64_t seed;
    double min_time, mem_gib;
    int cpu_clock, json, estimate_only;
    const char *seed_file, *out_dir, *cache_dir, *tmpparent, *split;
    const char *cvs_index;  /* --cvstore-index: the index instead of the chosen one */
    int ncores;
} options;

typedef struct point {
    char setting[48];
    double recall, qps;
} point;

typedef struct row {
    size_t n;
    int sys;
    char config[256];
    char skipped[96];         /* "" when the system ran */
    double est_gib;
    double import_s, build_s, tune_s, rss_gib, bpv;
    uint64_t disk;
    point at[NTARGET];        /* qps NAN: no point reached the target */
    point sweep[MAX_SWEEP];
    size_t nsweep;
} row;

typedef struct results {
    row *r;
    size_t n, cap;
} results;

static row *row_add(results *rs, size_t n, int sys)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? 2 * rs->cap : 16;
        row *p = realloc(rs->r, cap * sizeof *p);
        if (!p)
            return NULL;
        rs->r = p;
        rs->cap = cap;
    }
    row *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    r->n = n;
    r->sys = sys;
    r->import_s = r->build_s = r->tune_s = r->rss_gib = r->bpv = r->est_gib = NAN;
    for (int t = 0; t < NTARGET; t++)
        r->at[t].qps = r->at[t].recall = NAN;
    return r;
}

/* ==== Data: seeds, generator, ground truth ==== */

typedef struct seeds {
    float *v;                 /* ns x d, unit rows */
    float *r;                 /* ns nearest-neighbour distances */
    size_t ns, nq, nbs, nt;
    uint32_t d;
    uint32_t *perm;           /* shuffled seed order: queries, base, tune */
    uint64_t hash;            /* of the normalized vectors, names the caches */
} seeds;

static uint64_t fnv64(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The splitmix64 state of one generated row: its own stream, so that any
 * row can be made without the ones before it. */
static uint64_t row_state(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t s = seed ^ (stream * 0xD1B54A32D192ED03ull);
    (void)cvs__rng_next(&s);
    s ^= i * 0x9E3779B97F4A7C15ull;
    (void)cvs__rng_next(&s);
    return s;
}

static double unit_open(uint64_t *s)
{
    /* 53 random bits in (0, 1): never 0, so log() below is finite. */
    return ((double)(cvs__rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void normalize(float *x, uint32_t d)
{
    double s = 0;
    for (uint32_t k = 0; k < d; k++)
        s += (double)x[k] * x[k];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (uint32_t k = 0; k < d; k++)
            x[k] *= inv;
    }
}

/* Seed s moved by N(0, (r_s^2 / d) I), unit length (steps 3 and 4). */
static void noisy_copy(const seeds *sd, uint32_t s, uint64_t state, float *x)
{
    double sigma = sd->r[s] / sqrt((double)sd->d);
    const float *v = sd->v + (size_t)s * sd->d;
    for (uint32_t k = 0; k < sd->d; k += 2) {
        double u1 = unit_open(&state), u2 = unit_open(&state);
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        x[k] = v[k] + (float)(sigma * rad * cos(th));
        if (k + 1 < sd->d)
            x[k + 1] = v[k + 1] + (float)(sigma * rad * sin(th));
    }
    normalize(x, sd->d);
}

/* The seeds of step 2: of base row i, query j and tune sample j (stream 3
 * picks it).  The generators and --split name seeds through these alone. */
static uint32_t base_seed(const seeds *sd, size_t i) { return sd->perm[sd->nq + i % sd->nbs]; }

static uint32_t query_seed(const seeds *sd, size_t j) { return sd->perm[j]; }

static uint32_t tune_seed(const seeds *sd, uint64_t seed, size_t j)
{
    uint64_t st = row_state(seed, 3, j);
    return sd->perm[sd->nq + sd->nbs + cvs__rng_below(&st, sd->nt)];
}

static void gen_base(const seeds *sd, uint64_t seed, size_t i0, size_t n, float *x)
{
    for (size_t i = i0; i < i0 + n; i++) {
        uint32_t s = base_seed(sd, i);
        float *out = x + (i - i0) * sd->d;
        if (i < sd->nbs)
            memcpy(out, sd->v + (size_t)s * sd->d, sd->d * sizeof *out);
        else
            noisy_copy(sd, s, row_state(seed, 1, i), out);
    }
}

static void gen_queries(const seeds *sd, uint64_t seed, float *x)
{
    for (size_t j = 0; j < sd->nq; j++)
        noisy_copy(sd, query_seed(sd, j), row_state(seed, 2, j), x + j * sd->d);
}

/* The cvstore-tuneq row's sample queries: NTUNEQ made as the queries are
 * (step 4) from the tune seeds (stream 3 picks the seed, stream 4 draws the
 * noise): like the measured queries, none has its seed or a copy of it in
 * the base, and none is a measured query.  What a user holds when they keep
 * a sample of past queries. */
static void gen_tune_queries(const seeds *sd, uint64_t seed, float *x)
{
    for (size_t j = 0; j < NTUNEQ; j++)
        noisy_copy(sd, tune_seed(sd, seed, j), row_state(seed, 4, j), x + j * sd->d);
}

/* Reads a cache file: magic, then the u64 header words, then want bytes. 0
 * when it is there and whole; -1 otherwise (a damaged or foreign file is
 * recomputed, with a note, never trusted). */
static int cache_read(const char *path, const char *magic, const uint64_t *hdr, size_t nhdr,
                      void *buf, size_t want)
{
    char m[8];
    uint64_t h[8];
    int ok = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    if (fread(m, 1, 8, f) == 8 && memcmp(m, magic, 8) == 0 && nhdr <= 8 &&
        fread(h, sizeof h[0], nhdr, f) == nhdr && memcmp(h, hdr, nhdr * sizeof h[0]) == 0 &&
        fread(buf, 1, want, f) == want && fgetc(f) == EOF)
        ok = 1;
    fclose(f);
    if (!ok)
        fprintf(stderr, "  cache %s does not match; recomputing\n", path);
    return ok ? 0 : -1;
}

/* Writes it through a temporary name and rename, so that a killed run
 * leaves no half file behind.  Failure only costs the next run a
 * recomputation, so it is a note, not an error. */
static void cache_write(const char *path, const char *magic, const uint64_t *hdr, size_t nhdr,
                        const void *buf, size_t len)
{
    char tmp[4200];
    FILE *f;
    int ok;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (!(f = fopen(tmp, "wb"))) {
        fprintf(stderr, "  cannot write cache %s: %s\n", tmp, strerror(errno));
        return;
    }
    ok = fwrite(magic, 1, 8, f) == 8 && fwrite(hdr, sizeof hdr[0], nhdr, f) == nhdr &&
         fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "  cannot write cache %s\n", path);
        unlink(tmp);
    }
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Exact top-k by inner product of nq queries over nb rows (unit vectors:
 * the cosine order), in sgemm blocks, ids and similarities best first.
 * exclude_self: query i is row i of xb and is skipped (the seeds' nearest
 * neighbours). */
static int exact_topk(const float *xq, size_t nq, const float *xb, size_t nb, uint32_t d,
                      size_t k, int exclude_self, size_t q_offset, int progress, int32_t *ids,
                      float *sims)
{
    const size_t qb = 1024, bb = 8192;
    float *c = malloc(qb * bb * sizeof *c);
    float *hd = malloc(nq * k * sizeof *hd);
    int64_t *hi = malloc(nq * k * sizeof *hi);
    cvs_heap *h = malloc(nq * sizeof *h);
    int rc = CVS_ENOMEM;
    if (!c || !hd || !hi || !h)
        goto out;
    for (size_t q = 0; q < nq; q++)
        cvs__heap_init(&h[q], k, hd + q * k, hi + q * k);
    for (size_t b0 = 0; b0 < nb; b0 += bb) {
        size_t bn = nb - b0 < bb ? nb - b0 : bb;
        for (size_t q0 = 0; q0 < nq; q0 += qb) {
            size_t qn = nq - q0 < qb ? nq - q0 : qb;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qn, (int)bn, (int)d, 1.0f,
                        xq + q0 * d, (int)d, xb + b0 * d, (int)d, 0.0f, c, (int)bn);
            for (size_t q = 0; q < qn; q++) {
                cvs_heap *hq = &h[q0 + q];
                const float *cr = c + q * bn;
                size_t self = exclude_self ? q_offset + q0 + q : (size_t)-1;
                for (size_t j = 0; j < bn; j++) {
                    /* heap keeps the smallest: negated similarity */
                    float dd = -cr[j];
                    if (hq->n == k && dd > hq->d[0])
                        continue;
                    if (b0 + j != self)
                        cvs__heap_push(hq, dd, (int64_t)(b0 + j));
                }
            }
        }
        if (progress)
            bu_progress(NULL, "exact", b0 + bn, nb, 0, 0);
    }
    for (size_t q = 0; q < nq; q++) {
        size_t m = cvs__heap_sort(&h[q]);
        for (size_t j = 0; j < k; j++) {
            ids[q * k + j] = j < m ? (int32_t)h[q].id[j] : -1;
            if (sims)
                sims[q * k + j] = j < m ? -h[q].d[j] : NAN;
        }
    }
    rc = 0;
out:
    free(c);
    free(hd);
    free(hi);
    free(h);
    return rc;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Step 1: r_s for every seed, from the cache or computed. */
static int seed_nn(const options *o, seeds *sd)
{
    char path[4200];
    uint64_t hdr[2] = {sd->ns, sd->d};
    const size_t chunk = 16384;
    int32_t *id = NULL;
    float *sim = NULL, *sorted = NULL;
    int rc = CVS_ENOMEM;
    double t0 = bu_now(), med = 0;
    size_t nz = 0;

    snprintf(path, sizeof path, "%s/nn-%016llx.f32", o->cache_dir,
             (unsigned long long)sd->hash);
    if (!(sd->r = malloc(sd->ns * sizeof *sd->r)))
        return CVS_ENOMEM;
    if (cache_read(path, "CVSNN001", hdr, 2, sd->r, sd->ns * sizeof *sd->r) == 0) {
        fprintf(stderr, "  seed nearest-neighbour distances: cached (%s)\n", path);
        return 0;
    }
    fprintf(stderr, "  seed nearest-neighbour distances: exact, %zu x %zu (cached after)\n",
            sd->ns, sd->ns);
    if (!(id = malloc(chunk * sizeof *id)) || !(sim = malloc(chunk * sizeof *sim)) ||
        !(sorted = malloc(sd->ns * sizeof *sorted)))
        goto out;
    for (size_t q0 = 0; q0 < sd->ns; q0 += chunk) {
        size_t qn = sd->ns - q0 < chunk ? sd->ns - q0 : chunk;
        if ((rc = exact_topk(sd->v + q0 * sd->d, qn, sd->v, sd->ns, sd->d, 1, 1, q0, 0, id,
                              sim)))
            goto out;
        for (size_t q = 0; q < qn; q++) {
            /* |a - b|^2 = 2 - 2 a.b for unit vectors; rounding can make
             * a duplicate's slightly negative. */
            double dd = 2.0 - 2.0 * (double)sim[q];
            sd->r[q0 + q] = id[q] < 0 || dd <= 1e-12 ? 0.0f : (float)sqrt(dd);
        }
        fprintf(stderr, "  seeds %zu/%zu (%.0f s)\n", q0 + qn, sd->ns, bu_now() - t0);
    }
    for (size_t s = 0; s < sd->ns; s++)
        if (sd->r[s] > 0)
            sorted[nz++] = sd->r[s];
    if (nz) {
        qsort(sorted, nz, sizeof *sorted, cmp_float);
        med = sorted[nz / 2];
    }
    for (size_t s = 0; s < sd->ns; s++)
        if (sd->r[s] <= 0)
            sd->r[s] = (float)med;
    cache_write(path, "CVSNN001", hdr, 2, sd->r, sd->ns * sizeof *sd->r);
    rc = 0;
out:
    free(id);
    free(sim);
    free(sorted);
    return rc;
}

static int seeds_load(const options *o, seeds *sd)
{
    char words[4096], glove[4096];
    const char *path = o->seed_file;
    float *v = NULL;
    size_t n = 0;
    uint32_t d = 0;
    uint64_t st;
    int rc;

    if (!path) {
        if (bu_glove_paths(glove, words, sizeof glove) != 0)
            return CVS_NOTFOUND;
        path = glove;
    }
    fprintf(stderr, "  seeds: %s\n", path);
    if ((rc = cvs_vecs_load(path, CVS_FMT_AUTO, &v, &n, &d)))
        return rc;
    if (n < o->nq + o->nt + 2) {
        fprintf(stderr, "cvstore-bench scale: %s has %zu vectors; need more than --nq %zu + "
                "--tune-seeds %zu + 1\n", path, n, o->nq, o->nt);
        cvs_free(v);
        return CVS_EINPUT;
    }
    if (!(sd->v = malloc(n * d * sizeof *sd->v)) || !(sd->perm = malloc(n * sizeof *sd->perm))) {
        cvs_free(v);
        return CVS_ENOMEM;
    }
    memcpy(sd->v, v, n * d * sizeof *v);
    cvs_free(v);
    sd->ns = n;
    sd->d = d;
    sd->nq = o->nq;
    sd->nt = o->nt;
    sd->nbs = n - o->nq - o->nt;
    bu_normalize_rows(sd->v, n, d);
    sd->hash = fnv64(0xcbf29ce484222325ull, sd->v, n * d * sizeof *sd->v);
    /* Fisher-Yates with the generator seed (step 2). */
    for (size_t i = 0; i < n; i++)
        sd->perm[i] = (uint32_t)i;
    st = row_state(o->seed, 0, 0);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = cvs__rng_below(&st, i + 1);
        uint32_t t = sd->perm[i];
        sd->perm[i] = sd->perm[j];
        sd->perm[j] = t;
    }
    fprintf(stderr, "  seeds: %zu x %u (%zu query and %zu tune seeds held out, %zu base seeds)\n",
            n, d, sd->nq, sd->nt, sd->nbs);
    return seed_nn(o, sd);
}

static void seeds_free(seeds *sd)
{
    free(sd->v);
    free(sd->r);
    free(sd->perm);
    memset(sd, 0, sizeof *sd);
}

/* Step 5: the exact top GT_K of every query over the n-row base. */
static int ground_truth(const options *o, const seeds *sd, const float *xb, size_t n,
                        const float *xq, int32_t *gt)
{
    char path[4200];
    /* The base seed count is in the key (version 2) since the tune seeds
     * (step 2) changed the bases past it; a version 1 file has no nbs and
     * is never read (its name lacks the -b part). */
    uint64_t hdr[6] = {sd->hash, o->seed, n, sd->nq, GT_K, sd->nbs};
    double t0 = bu_now();
    int rc;
    snprintf(path, sizeof path, "%s/gt-%016llx-s%llu-n%zu-q%zu-b%zu.i32", o->cache_dir,
             (unsigned long long)sd->hash, (unsigned long long)o->seed, n, sd->nq, sd->nbs);
    if (cache_read(path, "CVSGT002", hdr, 6, gt, sd->nq * GT_K * sizeof *gt) == 0) {
        fprintf(stderr, "  ground truth: cached (%s)\n", path);
        return 0;
    }
    fprintf(stderr, "  ground truth: exact top %d of %zu queries over %zu vectors\n", GT_K,
            sd->nq, n);
    if ((rc = exact_topk(xq, sd->nq, xb, n, sd->d, n < GT_K ? n : GT_K, 0, 0, 1, gt,
                          NULL)))
        return rc;
    if (n < GT_K)
        for (size_t q = sd->nq; q-- > 0;) {
            memmove(gt + q * GT_K, gt + q * n, n * sizeof *gt);
            for (size_t j = n; j < GT_K; j++)
                gt[q * GT_K + j] = -1;
        }
    fprintf(stderr, "  ground truth in %.1f s\n", bu_now() - t0);
    cache_write(path, "CVSGT002", hdr, 6, gt, sd->nq * GT_K * sizeof *gt);
    return 0;
}

/* ==== Measuring ==== */

/* Resets the process's peak resident set (VmHWM) to the current one:
 * Linux's clear_refs "5".  Without it the peaks are the process's. */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef int (*search_fn)(void *ctx, int64_t *lab);

typedef struct bench_ctx {
    const options *o;
    size_t nq;
    const int32_t *gt;
    const float *xt;  /* NTUNEQ sample queries for the cvstore-tuneq row */
} bench_ctx;

static double recall10(const bench_ctx *b, const int64_t *lab)
{
    size_t hit = 0;
    for (size_t q = 0; q < b->nq; q++)
        for (size_t i = 0; i < K; i++) {
            if (lab[q * K + i] < 0)
                continue;
            for (size_t j = 0; j < K; j++)
                if (lab[q * K + i] == b->gt[q * GT_K + j]) {
                    hit++;
                    break;
                }
        }
    return (double)hit / (double)(b->nq * K);
}

/* Runs fn until min_time has passed (at least once): queries per second
 * and the labels of the last run. */
static int timed(const bench_ctx *b, search_fn fn, void *ctx, int64_t *lab, double *qps)
{
    double t0 = b->o->cpu_clock ? cpu_now() : bu_now(), el;
    size_t reps = 0;
    int rc;
    do {
        rc = fn(ctx, lab);
        reps++;
        el = (b->o->cpu_clock ? cpu_now() : bu_now()) - t0;
    } while (!rc && el < b->o->min_time);
    *qps = (double)(b->nq * reps) / el;
    return rc;
}

/* Records one swept point and returns its recall. */
static double sweep_point(row *r, const char *setting, double recall, double qps)
{
    if (r->nsweep < MAX_SWEEP) {
        point *p = &r->sweep[r->nsweep++];
        snprintf(p->setting, sizeof p->setting, "%s", setting);
        p->recall = recall;
        p->qps = qps;
    } else {
        fprintf(stderr, "cvstore-bench scale: more than %d points in a sweep (bug)\n", MAX_SWEEP);
    }
    fprintf(stderr, "    %-8s %-22s R@10 %.4f  %8.0f q/s\n", sys_names[r->sys], setting, recall,
            qps);
    return recall;
}

/* qps@t of a swept system: the fastest point reaching t. */
static void pick_targets(row *r)
{
    for (int t = 0; t < NTARGET; t++)
        for (size_t i = 0; i < r->nsweep; i++) {
            const point *p = &r->sweep[i];
            if (p->recall >= targets[t] && !(p->qps <= r->at[t].qps))
                r->at[t] = *p;
        }
}

/* ==== Memory estimates ==== */

/* Bytes each system is expected to hold above the base array, at n rows of
 * d floats: an upper-side estimate from each structure's layout, so that a
 * size is skipped before it fails rather than after an hour. */
static double estimate_bytes(int sys, size_t n, uint32_t d)
{
    double nn = (double)n, vec = 4.0 * d;
    switch (sys) {
    case 0:
    case SYS_TUNEQ: /* cvstore: the store's mapped pages (vectors, ids, B-tree),
               the 4-bit codes and lists and the ",sq8" rows (d bytes a
               vector, index/choose.c rule 6) held and written, a training
               sample */
        return nn * (vec * 1.25 + 96) + nn * (d / 2.0 + 16 + d) * 2 + 65536.0 * vec * 4 + 256e6;
    case 1: /* hnswlib: level 0 (vector, 2M links, count, label), upper
               levels (1/M of the elements), a lock and a map entry each */
        return nn * (vec + 2.0 * HNSW_M * 4 + 4 + 8) + nn / HNSW_M * (HNSW_M * 4 + 4) +
               nn * 100 + 64e6;
    default: { /* FAISS: the refine vectors, the codes (packed in blocks,
                  copied once while adding), ids, the training sample */
        double nlist = (double)bu_faiss_nlist(n), ntrain = fmin(nn, 256 * nlist);
        return nn * vec + nn * (d / 4.0 + 8) * 2 + ntrain * vec + nlist * vec + 128e6;
    }
    }
}

/* 0 when est more bytes fit; otherwise the row says so. */
static int fits(const options *o, row *r, double est)
{
    double have = gib((double)bu_rss_now());
    r->est_gib = gib(est);
    if (have + r->est_gib <= o->mem_gib)
        return 1;
    snprintf(r->skipped, sizeof r->skipped, "skipped: needs %.1f GiB", r->est_gib);
    fprintf(stderr, "  %s: %s (%.1f GiB in use, budget %.1f GiB)\n", sys_names[r->sys],
            r->skipped, have, o->mem_gib);
    return 0;
}

/* ==== cvstore ==== */

typedef struct cvs_ctx {
    cvs_txn *txn;
    const float *xq;
    size_t nq;
    float *scores;
    unsigned flags; /* CVS_SEARCH_ANN, or 0: exact (a store left without an index) */
} cvs_ctx;

static int cvs_search_fn(void *ctx, int64_t *lab)
{
    cvs_ctx *c = ctx;
    /* nprobe and rerank 0: the store's defaults, as cvs_tune left them. */
    cvs_search_params p = {.flags = c->flags, .threads = 1};
    return cvs_txn_search_params(c->txn, c->xq, c->nq, K, &p, lab, c->scores);
}


/* The tuned settings' points: for each of tune_targets, cvs_tune (on the
 * store's own vectors, or with tq on b->xt) and a search with the store's
 * defaults, into r. */
static int tune_points(const bench_ctx *b, cvs_db *db, cvs_ctx *c, int tq, row *r,
                       int64_t *lab)
{
    int rc = 0;
    r->tune_s = 0;
    for (size_t t = 0; t < sizeof tune_targets / sizeof tune_targets[0] && !rc; t++) {
        cvs_tune_opts to = {.target_recall = tune_targets[t], .seed = 1};
        cvs_tune_result tr;
        char setting[48];
        double qps, t0 = bu_now();
        size_t len = strlen(r->config);
        if (tq) {
            to.queries = b->xt;
            to.nqueries = NTUNEQ;
        }
        if ((rc = cvs_tune(db, &to, &tr)))
            break;
        r->tune_s += bu_now() - t0;
        if ((rc = cvs_txn_begin(db, &c->txn)))
            break;
        if (!(rc = timed(b, cvs_search_fn, c, lab, &qps)) &&
            !(rc = bu_keys_to_rows(c->txn, lab, b->nq * K))) {
            double rec = recall10(b, lab);
            snprintf(setting, sizeof setting, "tune %.3g: nprobe=%zu R=%zu E=%zu",
                     tune_targets[t], tr.nprobe, tr.rerank, tr.refine);
            sweep_point(r, setting, rec, qps);
            snprintf(r->config + len, sizeof r->config - len, "%s%.3g->%.3f",
                     t ? ", " : "; tuned for -> recall here: ", tune_targets[t], rec);
        }
        cvs_txn_end(c->txn);
        c->txn = NULL;
    }
    pick_targets(r);
    return rc;
}

/* r: the store tuned on its own vectors (what `cvstore tune` does); r2
 * (NULL: not run): the same store tuned on b->xt (`tune --query-file`). */
static int run_cvstore(const bench_ctx *b, const float *xb, size_t n, uint32_t d,
                       const float *xq, row *r, row *r2, int64_t *lab, float *scores)
{
    const size_t batch = 10000;
    char *dir = NULL, path[4200];
    cvs_build_choice ch;
    cvs_db *db = NULL;
    cvs_record *recs = calloc(batch, sizeof *recs);
    char (*ids)[24] = malloc(batch * sizeof *ids);
    cvs_ctx c = {.xq = xq, .nq = b->nq, .scores = scores, .flags = CVS_SEARCH_ANN};
    /* index NULL: the chosen one; --cvstore-index names another (the codec
     * stays the chosen one), to measure a default against an alternative in
     * one run. */
    cvs_build_opts bo = {.seed = 1, .progress = bu_progress, .index = b->o->cvs_index};
    cvs_index_info ii;
    double t0;
    int rc = CVS_ENOMEM;

    /* What `cvstore build DB` with no codec builds for this n (printed; the
     * build itself passes no spec, so it is cvs_build's own choice). */
    if ((rc = cvs_build_choose(n, d, CVS_METRIC_COSINE, CVS_RAW_F32, &ch)))
        goto out;
    rc = CVS_ENOMEM;
    if (b->o->cvs_index)
        snprintf(ch.index, sizeof ch.index, "%s", b->o->cvs_index);
    snprintf(r->config, sizeof r->config, "%s, index %s (build with %s), %s", ch.codec,
             *ch.index ? ch.index : "none",
             b->o->cvs_index ? "--cvstore-index" : "no codec", *ch.index ? "cvs_tune" : "exact search");
    if (!recs || !ids)
        goto out;
    if (!(dir = bu_tmpdir(b->o->tmpparent))) {
        rc = CVS_EIO;
        goto out;
    }
    snprintf(path, sizeof path, "%s/store", dir);
    {
        cvs_create_opts co = {.dim = d, .metric = CVS_METRIC_COSINE, .raw = CVS_RAW_F32};
        if ((rc = cvs_db_create(path, &co, &db)))
            goto out;
    }
    t0 = bu_now();
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < m; j++) {
            int len = snprintf(ids[j], sizeof ids[j], "%zu", i + j);
            recs[j].id = ids[j];
            recs[j].id_len = (size_t)len;
            recs[j].vector = xb + (i + j) * d;
        }
        if ((rc = cvs_put(db, recs, m, 0, NULL, NULL)))
            goto out;
        bu_progress(NULL, "import", i + m, n, 0, 0);
    }
    r->import_s = bu_now() - t0;
    fprintf(stderr, "  cvstore: import %.1f s; build %s, index %s\n", r->import_s, ch.codec,
            *ch.index ? ch.index : "none");
    t0 = bu_now();
    if ((rc = cvs_build(db, NULL, &bo)))
        goto out;
    r->build_s = bu_now() - t0;
    if ((rc = cvs_index_get_info(db, &ii)) == CVS_NOTFOUND) {
        /* Too few records for an index (the chooser's rule): nothing to
         * tune; a user's search is exact, measured once as the one point. */
        cvs_codec_info ci;
        double qps;
        if ((rc = cvs_codec_get_info(db, &ci)))
            goto out;
        r->bpv = (double)ci.code_bytes;
        c.flags = 0;
        if ((rc = cvs_txn_begin(db, &c.txn)))
            goto out;
        if (!(rc = timed(b, cvs_search_fn, &c, lab, &qps)) &&
            !(rc = bu_keys_to_rows(c.txn, lab, b->nq * K)))
            sweep_point(r, "no index: exact", recall10(b, lab), qps);
        cvs_txn_end(c.txn);
        c.txn = NULL;
        pick_targets(r);
        if (r2)
            snprintf(r2->skipped, sizeof r2->skipped, "no index to tune (exact search)");
        if (rc)
            goto out;
        goto close;
    }
    if (rc)
        goto out;
    r->bpv = (double)ii.mem_bytes / (double)n;
    fprintf(stderr, "  cvstore: build %.1f s (%s, %.1f B/vector)\n", r->build_s, ii.spec, r->bpv);
    if ((rc = tune_points(b, db, &c, 0, r, lab)))
        goto out;
    if (r2) {
        char *cut;
        size_t len;
        snprintf(r2->config, sizeof r2->config, "%s", r->config);
        if ((cut = strstr(r2->config, "; tuned for")))
            *cut = 0;
        len = strlen(r2->config);
        snprintf(r2->config + len, sizeof r2->config - len, " on %d sample queries", NTUNEQ);
        r2->import_s = r->import_s;
        r2->build_s = r->build_s;
        r2->bpv = r->bpv;
        if ((rc = tune_points(b, db, &c, 1, r2, lab)))
            goto out;
    }
close:
    cvs_db_close(db);
    db = NULL;
    r->disk = bu_dir_bytes(path);
    if (r2)
        r2->disk = r->disk;
out:
    if (rc)
        fprintf(stderr, "  cvstore: %s: %s\n", cvs_strerror(rc), cvs_errmsg(db));
    cvs_db_close(db);
    bu_rmrf(dir);
    free(dir);
    free(recs);
    free(ids);
    return rc;
}

/* ==== hnswlib ==== */

typedef struct hnsw_ctx {
    hb_index *h;
    const float *xq;
    size_t nq, ef;
} hnsw_ctx;

static int hnsw_search_fn(void *ctx, int64_t *lab)
{
    hnsw_ctx *c = ctx;
    return hb_search(c->h, c->xq, c->nq, K, c->ef, 1, lab) ? CVS_EINTERNAL : 0;
}

static int run_hnswlib(const bench_ctx *b, const float *xb, size_t n, uint32_t d,
                       const float *xq, row *r, int64_t *lab)
{
    static const size_t efs[] = {10, 14, 20, 28, 40, 56, 80, 112, 160, 224, 320, 448, 640, 960,
                                 1440, 2160};
    _Static_assert(sizeof efs / sizeof efs[0] <= MAX_SWEEP, "the ef sweep must fit in row.sweep");
    hnsw_ctx c = {.xq = xq, .nq = b->nq};
    char *dir = NULL, path[4200];
    struct stat st;
    double t0;
    int rc = 0;

    snprintf(r->config, sizeof r->config, "HNSW M=%d efConstruction=%d, ip, ef swept (x1.5)",
             HNSW_M, HNSW_EFC);
    if (!hb_cpu_ok()) {
        snprintf(r->skipped, sizeof r->skipped, "skipped: compiled for AVX2, which this CPU lacks");
        return 0;
    }
    if (!(c.h = hb_new(d, 1, n, HNSW_M, HNSW_EFC, 100)))
        return CVS_ENOMEM;
    fprintf(stderr, "  hnswlib: build, 1 thread\n");
    t0 = bu_now();
    /* In slices, for progress on a build that takes hours at 10M. */
    for (size_t i = 0; i < n && !rc; i += 50000) {
        size_t m = n - i < 50000 ? n - i : 50000;
        rc = hb_add_rows(c.h, xb + i * d, i, m, 1) ? CVS_EINTERNAL : 0;
        bu_progress(NULL, "hnsw add", i + m, n, 0, 0);
    }
    if (rc)
        goto out;
    r->build_s = bu_now() - t0;
    r->bpv = (double)hb_mem_bytes(c.h) / (double)n;
    fprintf(stderr, "  hnswlib: build %.1f s (%.1f B/vector)\n", r->build_s, r->bpv);
    for (size_t a = 0; a < sizeof efs / sizeof efs[0]; a++) {
        char setting[48];
        double qps;
        c.ef = efs[a];
        if ((rc = timed(b, hnsw_search_fn, &c, lab, &qps)))
            goto out;
        snprintf(setting, sizeof setting, "ef=%zu", c.ef);
        /* A larger ef is only slower: nothing past 0.99 can be chosen. */
        if (sweep_point(r, setting, recall10(b, lab), qps) >= targets[NTARGET - 1])
            break;
    }
    pick_targets(r);
    if (!(dir = bu_tmpdir(b->o->tmpparent))) {
        rc = CVS_EIO;
        goto out;
    }
    snprintf(path, sizeof path, "%s/hnsw.bin", dir);
    if (hb_save(c.h, path) == 0 && stat(path, &st) == 0)
        r->disk = (uint64_t)st.st_size;
out:
    hb_free(c.h);
    bu_rmrf(dir);
    free(dir);
    return rc;
}

/* ==== FAISS ==== */

typedef struct faiss_ctx {
    FaissIndex *idx;
    const float *xq;
    size_t nq;
    float *dis;
    const char *spec;
} faiss_ctx;

static int faiss_search_fn(void *ctx, int64_t *lab)
{
    faiss_ctx *c = ctx;
    return cvs__faiss_err(faiss_Index_search(c->idx, (idx_t)c->nq, c->xq, K, c->dis, lab),
                          c->spec);
}

static int run_faiss(const bench_ctx *b, const float *xb, size_t n, uint32_t d,
                     const float *xq, row *r, int64_t *lab, float *dis)
{
    static const size_t nprobes[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
                                     256, 384, 512, 768, 1024};
    static const size_t kfs[] = {2, 5, 10, 20, 50};
    _Static_assert(sizeof nprobes / sizeof nprobes[0] * (sizeof kfs / sizeof kfs[0]) <= MAX_SWEEP,
                   "a FAISS sweep must fit in row.sweep");
    double prev[5] = {0};
    size_t nlist = bu_faiss_nlist(n), m = bu_divisor_below(d, d / 2);
    size_t ntrain = n < 256 * nlist ? n : 256 * nlist;
    char spec[96], *dir = NULL, path[4200];
    FaissIndex *idx = NULL;
    FaissParameterSpace *ps = NULL;
    faiss_ctx c = {.xq = xq, .nq = b->nq, .dis = dis, .spec = spec};
    struct stat st;
    double t0;
    int rc, done = 0, reached = 0, reached_at = 0;

    snprintf(spec, sizeof spec, "IVF%zu,PQ%zux4fs,RFlat", nlist, m);
    snprintf(r->config, sizeof r->config, "%s, nprobe (x1.5) x k_factor_rf 2,5,10,20,50 swept", spec);
    if ((rc = cvs__faiss_err(faiss_index_factory(&idx, (int)d, spec, METRIC_INNER_PRODUCT),
                             spec)))
        goto out;
    fprintf(stderr, "  faiss: build %s, train on %zu rows, 1 thread\n", spec, ntrain);
    t0 = bu_now();
    /* The first ntrain rows are a fair sample: the base is a shuffled
     * prefix of real vectors, and noisy copies follow the same order. */
    if ((rc = cvs__faiss_err(faiss_Index_train(idx, (idx_t)ntrain, xb), spec)))
        goto out;
    for (size_t i = 0; i < n; i += 100000) {
        size_t k = n - i < 100000 ? n - i : 100000;
        if ((rc = cvs__faiss_err(faiss_Index_add(idx, (idx_t)k, xb + i * d), spec)))
            goto out;
        bu_progress(NULL, "faiss add", i + k, n, 0, 0);
    }
    r->build_s = bu_now() - t0;
    if (!(dir = bu_tmpdir(b->o->tmpparent))) {
        rc = CVS_EIO;
        goto out;
    }
    snprintf(path, sizeof path, "%s/faiss.index", dir);
    if ((rc = cvs__faiss_err(faiss_write_index_fname(idx, path), spec)))
        goto out;
    if (stat(path, &st) == 0)
        r->disk = (uint64_t)st.st_size;
    r->bpv = (double)r->disk / (double)n;
    fprintf(stderr, "  faiss: build %.1f s (%.1f B/vector)\n", r->build_s, r->bpv);
    if ((rc = cvs__faiss_err(faiss_ParameterSpace_new(&ps), spec)))
        goto out;
    c.idx = idx;
    for (size_t a = 0; a < sizeof nprobes / sizeof nprobes[0] && !done && !rc; a++) {
        if (nprobes[a] > nlist)
            break;
        if ((rc = cvs__faiss_err(faiss_ParameterSpace_set_index_parameter(
                 ps, idx, "nprobe", (double)nprobes[a]), spec)))
            break;
        int gained = 0;
        for (size_t f = 0; f < sizeof kfs / sizeof kfs[0] && !rc; f++) {
            char setting[48];
            double qps, rec;
            if ((rc = cvs__faiss_err(faiss_ParameterSpace_set_index_parameter(
                     ps, idx, "k_factor_rf", (double)kfs[f]), spec)) ||
                (rc = timed(b, faiss_search_fn, &c, lab, &qps)))
                break;
            snprintf(setting, sizeof setting, "nprobe=%zu R=%zu", nprobes[a], kfs[f] * K);
            rec = sweep_point(r, setting, recall10(b, lab), qps);
            reached |= rec >= targets[NTARGET - 1];
            gained |= rec > prev[f];
            prev[f] = rec;
        }
        /* More lists cannot help once no re-ranking depth gained: every
         * true neighbour is already in the probed lists.  Past the first
         * nprobe reaching 0.99, one more (with a shallower re-ranking) can
         * still be cheaper; two more cannot in practice, and at 1M+ each
         * of their points costs a minute. */
        if (reached)
            reached_at++;
        if (!gained || reached_at == 2)
            done = 1;
    }
    pick_targets(r);
out:
    faiss_ParameterSpace_free(ps);
    faiss_Index_free(idx);
    bu_rmrf(dir);
    free(dir);
    return rc;
}

/* ==== One size ==== */

/* Bytes a size needs before any system: the base array and the ground
 * truth. */
static double data_bytes(size_t n, uint32_t d, size_t nq)
{
    return (double)n * d * sizeof(float) + (double)nq * GT_K * sizeof(int32_t);
}

static int run_size(const options *o, const seeds *sd, size_t n, const float *xq,
                    results *rs)
{
    uint32_t d = sd->d;
    double data = data_bytes(n, d, sd->nq);
    float *xb = NULL, *dis = NULL, *xt = NULL;
    int32_t *gt = NULL;
    int64_t *lab = NULL;
    int rc = CVS_ENOMEM;
    double t0 = bu_now();

    fprintf(stderr, "[n = %zu] %u dimensions, %zu queries\n", n, d, sd->nq);
    if (gib((double)bu_rss_now() + data) > o->mem_gib) {
        for (int s = 0; s < NSYS; s++) {
            row *r = o->sys_on[s] ? row_add(rs, n, s) : NULL;
            if (!o->sys_on[s])
                continue;
            if (!r)
                return CVS_ENOMEM;
            r->est_gib = gib(data + estimate_bytes(s, n, d));
            snprintf(r->skipped, sizeof r->skipped, "skipped: needs %.1f GiB", r->est_gib);
            fprintf(stderr, "  %s: %s (the vectors alone do not fit)\n", sys_names[s],
                    r->skipped);
        }
        return 0;
    }
    if (!(xb = malloc((size_t)n * d * sizeof *xb)) || !(gt = malloc(sd->nq * GT_K * sizeof *gt)) ||
        !(xt = malloc(NTUNEQ * (size_t)d * sizeof *xt)) ||
        !(lab = malloc(sd->nq * K * sizeof *lab)) || !(dis = malloc(sd->nq * K * sizeof *dis)))
        goto out;
    for (size_t i = 0; i < n; i += 100000) {
        size_t m = n - i < 100000 ? n - i : 100000;
        gen_base(sd, o->seed, i, m, xb + i * d);
        bu_progress(NULL, "generate", i + m, n, 0, 0);
    }
    /* Data preparation on every core; measurements on one. */
    openblas_set_num_threads(o->ncores);
    rc = ground_truth(o, sd, xb, n, xq, gt);
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    if (rc)
        goto out;
    {
        bench_ctx b = {.o = o, .nq = sd->nq, .gt = gt, .xt = xt};
        gen_tune_queries(sd, o->seed, xt);
        for (int s = 0; s < NSYS && !rc; s++) {
            row *r, *r2 = NULL;
            uint64_t rss0;
            if (!o->sys_on[s] || s == SYS_TUNEQ) /* SYS_TUNEQ: run with 0 */
                continue;
            if (!(r = row_add(rs, n, s)) ||
                (s == 0 && o->sys_on[SYS_TUNEQ] && !(r2 = row_add(rs, n, SYS_TUNEQ)))) {
                rc = CVS_ENOMEM;
                break;
            }
            if (!fits(o, r, estimate_bytes(s, n, d))) {
                if (r2) { /* the same store: skipped with it */
                    r2->est_gib = r->est_gib;
                    snprintf(r2->skipped, sizeof r2->skipped, "%s", r->skipped);
                }
                continue;
            }
            fprintf(stderr, "  %s: estimated %.2f GiB\n", sys_names[s], r->est_gib);
            rss0 = bu_rss_now();
            reset_peak();
            rc = s == 0   ? run_cvstore(&b, xb, n, d, xq, r, r2, lab, dis)
                 : s == 1 ? run_hnswlib(&b, xb, n, d, xq, r, lab)
                          : run_faiss(&b, xb, n, d, xq, r, lab, dis);
            r->rss_gib = bu_rss_peak() >= rss0 ? gib((double)(bu_rss_peak() - rss0)) : NAN;
            if (r2) {
                r2->est_gib = r->est_gib;
                r2->rss_gib = r->rss_gib;
                if (rc && rc != CVS_ENOMEM)
                    snprintf(r2->skipped, sizeof r2->skipped, "failed: %s", cvs_strerror(rc));
            }
            /* One system failing (out of memory at 10M, say) costs its row,
             * not the hours of the others' figures. */
            if (rc && rc != CVS_ENOMEM) {
                snprintf(r->skipped, sizeof r->skipped, "failed: %s", cvs_strerror(rc));
                rc = 0;
            }
        }
    }
    fprintf(stderr, "[n = %zu] done in %.0f s\n", n, bu_now() - t0);
out:
    free(xb);
    free(xt);
    free(gt);
    free(lab);
    free(dis);
    return rc;
}

/* ==== Report ==== */

static void cell_num(bu_table *t, const char *fmt, double v)
{
    if (isnan(v))
        bu_table_cell(t, "-");
    else
        bu_table_cell(t, fmt, v);
}

static bu_table *make_table(const results *rs)
{
    const char *const hdr[] = {"n", "system", "import_s", "build_s", "build_us_per_vec",
                               "rss_gib", "bytes_per_vec", "disk_mib", "qps@0.90 (R@10)",
                               "qps@0.95 (R@10)", "qps@0.99 (R@10)", "configuration"};
    bu_table *t = bu_table_new(12, hdr);
    for (size_t i = 0; i < rs->n; i++) {
        const row *r = &rs->r[i];
        bu_table_row(t);
        bu_table_cell(t, "%zu", r->n);
        bu_table_cell(t, "%s", sys_names[r->sys]);
        cell_num(t, "%.1f", r->import_s);
        cell_num(t, "%.1f", r->build_s);
        cell_num(t, "%.1f", r->build_s * 1e6 / (double)r->n);
        cell_num(t, "%.2f", r->rss_gib);
        cell_num(t, "%.1f", r->bpv);
        cell_num(t, "%.1f", r->disk ? (double)r->disk / 1048576.0 : NAN);
        for (int k = 0; k < NTARGET; k++) {
            const point *p = &r->at[k];
            if (isnan(p->qps))
                bu_table_cell(t, "%s", r->skipped[0] || !r->nsweep ? "-" : "not reached");
            else
                bu_table_cell(t, "%.0f (%.3f)", p->qps, p->recall);
        }
        if (r->skipped[0])
            bu_table_cell(t, "%s", r->skipped);
        else
            bu_table_cell(t, "%s", r->config);
    }
    return t;
}

static json_t *jnum(double v) { return isnan(v) ? json_null() : json_real(v); }

static json_t *make_json(const options *o, const seeds *sd, const results *rs, double load)
{
    json_t *root = json_object(), *rows = json_array();
    json_object_set_new(root, "command", json_string("scale"));
    json_object_set_new(root, "seed_file", json_string(o->seed_file ? o->seed_file : "glove"));
    json_object_set_new(root, "seeds", json_integer((json_int_t)sd->ns));
    json_object_set_new(root, "dim", json_integer(sd->d));
    json_object_set_new(root, "queries", json_integer((json_int_t)sd->nq));
    json_object_set_new(root, "tune_seeds", json_integer((json_int_t)sd->nt));
    json_object_set_new(root, "generator_seed", json_integer((json_int_t)o->seed));
    json_object_set_new(root, "k", json_integer(K));
    json_object_set_new(root, "load", jnum(load));
    for (size_t i = 0; i < rs->n; i++) {
        const row *r = &rs->r[i];
        json_t *j = json_object(), *at = json_array(), *sw = json_array();
        json_object_set_new(j, "n", json_integer((json_int_t)r->n));
        json_object_set_new(j, "system", json_string(sys_names[r->sys]));
        json_object_set_new(j, "config", json_string(r->config));
        json_object_set_new(j, "skipped", r->skipped[0] ? json_string(r->skipped) : json_null());
        json_object_set_new(j, "estimate_gib", jnum(r->est_gib));
        json_object_set_new(j, "import_s", jnum(r->import_s));
        json_object_set_new(j, "build_s", jnum(r->build_s));
        json_object_set_new(j, "tune_s", jnum(r->tune_s));
        json_object_set_new(j, "rss_peak_gib", jnum(r->rss_gib));
        json_object_set_new(j, "bytes_per_vector", jnum(r->bpv));
        json_object_set_new(j, "disk_bytes", r->disk ? json_integer((json_int_t)r->disk)
                                                     : json_null());
        for (int k = 0; k < NTARGET; k++) {
            const point *p = &r->at[k];
            json_array_append_new(at, json_pack("{s:f, s:o, s:o, s:s}", "target", targets[k],
                                                "qps", jnum(p->qps), "recall", jnum(p->recall),
                                                "setting", p->setting));
        }
        for (size_t k = 0; k < r->nsweep; k++)
            json_array_append_new(sw, json_pack("{s:s, s:f, s:f}", "setting",
                                                r->sweep[k].setting, "recall",
                                                r->sweep[k].recall, "qps", r->sweep[k].qps));
        json_object_set_new(j, "at", at);
        json_object_set_new(j, "sweep", sw);
        json_array_append_new(rows, j);
    }
    json_object_set_new(root, "rows", rows);
    return root;
}

/* The plotted metrics: scale.dat's column, file name, label, log y. */
static const struct {
    int col;
    const char *name, *label;
    int logy;
} metrics[] = {
    {2, "import", "import into the store, s", 1},
    {3, "build", "build (train + add), s", 1},
    {4, "build-per-vector", "build per vector, microseconds", 0},
    {5, "qps90", "queries/s at recall@10 0.90, 1 thread", 1},
    {6, "qps95", "queries/s at recall@10 0.95, 1 thread", 1},
    {7, "qps99", "queries/s at recall@10 0.99, 1 thread", 1},
    {8, "rss", "peak resident memory above the data, GiB", 1},
    {9, "bytes-per-vector", "index bytes per vector", 0},
    {10, "disk", "disk bytes per vector", 0},
};

static double metric_value(const row *r, int col)
{
    switch (col) {
    case 2: return r->import_s;
    case 3: return r->build_s;
    case 4: return r->build_s * 1e6 / (double)r->n;
    case 5: case 6: case 7: return r->at[col - 5].qps;
    case 8: return r->rss_gib;
    case 9: return r->bpv;
    default: return r->disk ? (double)r->disk / (double)r->n : NAN;
    }
}

/* scale.dat (one block per system, "-" where a value is missing), scale.gp
 * (one SVG per metric against n, log n), and the SVGs when gnuplot runs. */
static int write_plots(const results *rs, const char *dir)
{
    char path[4200];
    int block[NSYS], nblock = 0, rc = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/scale.dat", dir);
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "cvstore-bench scale: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int s = 0; s < NSYS; s++) {
        int any = 0;
        block[s] = -1;
        for (size_t i = 0; i < rs->n; i++) {
            const row *r = &rs->r[i];
            if (r->sys != s || r->skipped[0])
                continue;
            if (!any) {
                fprintf(f, "%s# %s\n# n", nblock ? "\n\n" : "", sys_names[s]);
                for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++)
                    fprintf(f, " %s", metrics[m].name);
                fputc('\n', f);
                block[s] = nblock++;
                any = 1;
            }
            fprintf(f, "%zu", r->n);
            for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
                double v = metric_value(r, metrics[m].col);
                if (isnan(v))
                    fprintf(f, " -");
                else
                    fprintf(f, " %.6g", v);
            }
            fputc('\n', f);
        }
    }
    if (fclose(f) != 0)
        rc = -1;

    snprintf(path, sizeof path, "%s/scale.gp", dir);
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "cvstore-bench scale: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# cvstore-bench scale: each metric against n (render: cd DIR && gnuplot scale.gp)\n"
               "set terminal svg size 640,420 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
               "set datafile missing '-'\nset logscale x\nset grid\nset key top left\n"
               "set xlabel 'vectors in the store (n)'\n");
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        int first = 1;
        fprintf(f, "\nset output 'scale-%s.svg'\nset ylabel '%s'\n%s\n", metrics[m].name,
                metrics[m].label, metrics[m].logy ? "set logscale y" : "unset logscale y");
        for (int s = 0; s < NSYS; s++) {
            int any = 0;
            for (size_t i = 0; i < rs->n && !any; i++)
                any = rs->r[i].sys == s && !rs->r[i].skipped[0] &&
                      !isnan(metric_value(&rs->r[i], metrics[m].col));
            if (!any || block[s] < 0)
                continue;
            fprintf(f, "%s'scale.dat' index %d using 1:%d with linespoints lw 2 title '%s'",
                    first ? "plot " : ", ", block[s], metrics[m].col, sys_names[s]);
            first = 0;
        }
        if (first)
            fprintf(f, "# (no values)\n");
        else
            fputc('\n', f);
    }
    if (fclose(f) != 0)
        rc = -1;
    if (access("/usr/bin/gnuplot", X_OK) == 0 || system("command -v gnuplot >/dev/null 2>&1") == 0) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot scale.gp", dir);
        if (strchr(dir, '\'') || system(cmd) != 0) {
            fprintf(stderr, "cvstore-bench scale: gnuplot failed on %s/scale.gp\n", dir);
            rc = -1;
        } else {
            fprintf(stderr, "plots written to %s/scale-*.svg\n", dir);
        }
    } else {
        fprintf(stderr, "cvstore-bench scale: no gnuplot; render with: cd %s && gnuplot scale.gp\n",
                dir);
    }
    return rc;
}

/* ==== Estimates only ==== */

/* --estimate: the table of what run_size would check, and for each system
 * the largest n (to 1%) whose estimate fits the budget, so that "where does
 * it stop" is answered before a run of hours. */
static void print_estimates(const options *o, uint32_t d)
{
    double base = gib((double)bu_rss_now()) + 0.2; /* the seeds and queries */
    printf("### scale: memory estimates, %u dimensions, budget %.1f GiB\n\n"
           "| n | data GiB |", d, o->mem_gib);
    for (int s = 0; s < NSYS; s++)
        printf(" %s GiB |", sys_names[s]);
    printf("\n|---:|---:|");
    for (int s = 0; s < NSYS; s++)
        printf("---:|");
    printf("\n");
    for (size_t i = 0; i < o->nsizes; i++) {
        size_t n = o->sizes[i];
        double data = gib(data_bytes(n, d, o->nq));
        printf("| %zu | %.1f |", n, data);
        for (int s = 0; s < NSYS; s++) {
            double e = gib(estimate_bytes(s, n, d));
            printf(" %.1f%s |", e, base + data + e <= o->mem_gib ? "" : " (skipped)");
        }
        printf("\n");
    }
    printf("\nLargest n within the budget:");
    for (int s = 0; s < NSYS; s++) {
        double lo = 0, hi = 1e10;
        while (hi - lo > lo * 0.01 + 1000) {
            double mid = (lo + hi) / 2, need = base + gib(data_bytes((size_t)mid, d, o->nq)) +
                                             gib(estimate_bytes(s, (size_t)mid, d));
            if (need <= o->mem_gib)
                lo = mid;
            else
                hi = mid;
        }
        printf(" %s %.1fM%s", sys_names[s], lo / 1e6, s + 1 < NSYS ? "," : ".\n");
    }
}

/* ==== Command ==== */

/* --split: the seed behind every query, tune sample query and base row of
 * the largest size, through the functions the generators use, so that a
 * test can check the three sets apart.  0, or 2 when it cannot write. */
static int write_split(const options *o, const seeds *sd, const char *path)
{
    size_t nmax = 0;
    json_t *root = json_object(), *a;
    int ret = 2;
    for (size_t i = 0; i < o->nsizes; i++)
        nmax = o->sizes[i] > nmax ? o->sizes[i] : nmax;
    if (!root)
        return 2;
    json_object_set_new(root, "base_seeds", json_integer((json_int_t)sd->nbs));
    json_object_set_new(root, "queries", a = json_array());
    for (size_t j = 0; a && j < sd->nq; j++)
        json_array_append_new(a, json_integer(query_seed(sd, j)));
    json_object_set_new(root, "tune", a = json_array());
    for (size_t j = 0; a && j < NTUNEQ; j++)
        json_array_append_new(a, json_integer(tune_seed(sd, o->seed, j)));
    json_object_set_new(root, "base", a = json_array());
    for (size_t i = 0; a && i < nmax; i++)
        json_array_append_new(a, json_integer(base_seed(sd, i)));
    if (json_dump_file(root, path, JSON_COMPACT) == 0)
        ret = 0;
    else
        fprintf(stderr, "cvstore-bench scale: cannot write %s\n", path);
    json_decref(root);
    return ret;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench scale [--sizes LIST] [--systems cvstore,hnswlib,faiss]\n"
        "                           [--out DIR] [--json] [--seed-file F] [--nq N] ...\n"
        "Cost curves against the store's size: import, build, peak memory, bytes per\n"
        "vector, disk and single-thread queries/s at recall@10 0.90 / 0.95 / 0.99 for\n"
        "cvstore (cvstore build's choice + cvs_tune on the store's own vectors; and as\n"
        "cvstore-tuneq, the same store tuned on 200 sample queries made like the measured\n"
        "ones), hnswlib (M=16, efC=200, ef swept) and\n"
        "FAISS (IVF,PQx4fs,RFlat, nprobe and k_factor_rf swept).  Data: GloVe-100 seeds\n"
        "plus Gaussian noise at each seed's nearest-neighbour distance beyond the seed\n"
        "count (bench/bench_scale.c says exactly how); ground truth cached on disk.\n"
        "  --sizes LIST    n values, in millions unless suffixed k or M\n"
        "                  (default 0.1,0.3,1,3,10)\n"
        "  --systems LIST  of cvstore, hnswlib, faiss (default all; cvstore brings\n"
        "                  its cvstore-tuneq row)\n"
        "  --out DIR       scale.csv, scale.json, scale.dat, scale.gp and the SVG plots\n"
        "                  (default ./cvstore-scale)\n"
        "  --json          JSON on stdout instead of the markdown table\n"
        "  --seed-file F   seed vectors (fvecs, bvecs, npy; default the GloVe vectors\n"
        "                  of scripts/fetch-glove.sh)\n"
        "  --nq N          queries (default 1000), held out of the seeds\n"
        "  --tune-seeds N  seeds held out for cvstore-tuneq's sample queries\n"
        "                  (default 1000)\n"
        "  --cvstore-index SPEC  build cvstore's store with this index (e.g.\n"
        "                  ivf4000,sq8) and the chosen codec, not the chosen index\n"
        "  --split FILE    write the seed of every query, tune sample query and row of\n"
        "                  the largest size as JSON, then stop\n"
        "  --seed S        generator seed (default 1)\n"
        "  --mem-gib G     memory budget (default the machine's memory)\n"
        "  --min-time S    seconds each measured point runs at least (default 0.3)\n"
        "  --cpu-clock     query time from the process's CPU time, not wall time\n"
        "  --cache DIR     ground-truth cache (default ${CVSTORE_CACHE:-~/.cache/cvstore}/scale)\n"
        "  --dir DIR       where to make scratch stores and index files\n"
        "  --estimate      print each size's memory estimates and where each system\n"
        "                  stops within --mem-gib, for 100 dimensions; run nothing\n");
}

static int parse_sizes(const char *s, options *o)
{
    char *end;
    o->nsizes = 0;
    while (*s) {
        double v = strtod(s, &end), mult = 1e6;
        if (end == s || !(v > 0) || o->nsizes == MAX_SIZES)
            return -1;
        if (*end == 'k' || *end == 'K')
            mult = 1e3, end++;
        else if (*end == 'm' || *end == 'M')
            end++;
        if (*end && *end != ',')
            return -1;
        v *= mult;
        if (v < 100 || v > 4e9)
            return -1;
        o->sizes[o->nsizes++] = (size_t)llround(v);
        s = *end ? end + 1 : end;
    }
    return o->nsizes ? 0 : -1;
}

static double mem_total_gib(void)
{
    char line[256];
    double kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 24;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb > 0 ? kb / (1024.0 * 1024.0) : 24;
}

int bench_scale(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"sizes", required_argument, 0, 'S'}, {"systems", required_argument, 0, 'y'},
        {"out", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},
        {"seed-file", required_argument, 0, 'f'}, {"nq", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 'e'}, {"mem-gib", required_argument, 0, 'M'},
        {"min-time", required_argument, 0, 't'}, {"cpu-clock", no_argument, 0, 'U'},
        {"cache", required_argument, 0, 'c'}, {"dir", required_argument, 0, 'd'},
        {"estimate", no_argument, 0, 'E'}, {"tune-seeds", required_argument, 0, 'T'},
        {"split", required_argument, 0, 'P'}, {"cvstore-index", required_argument, 0, 'I'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    options o = {.sizes = {100000, 300000, 1000000, 3000000, 10000000}, .nsizes = 5,
                 .nq = 1000, .nt = 1000, .sys_on = {1, 1, 1, 1}, .seed = 1, .min_time = 0.3,
                 .out_dir = "cvstore-scale"};
    char cache[4096], path[4200], csv[4200];
    seeds sd = {0};
    results rs = {0};
    float *xq = NULL;
    bu_table *t = NULL;
    json_t *js = NULL;
    int c, ret = 2, rc;
    double t_start = bu_now(), load;

    o.mem_gib = mem_total_gib();
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'S':
            if (parse_sizes(optarg, &o)) {
                fprintf(stderr, "cvstore-bench scale: bad --sizes '%s' (e.g. 0.1,0.3,1 or 5k,20k; "
                                "each at least 100)\n", optarg);
                return 1;
            }
            break;
        case 'y':
            for (int s = 0; s < NSYS; s++)
                o.sys_on[s] = strstr(optarg, sys_names[s]) != NULL;
            /* cvstore-tuneq is cvstore's store tuned again: it runs with
             * cvstore ("cvstore-tuneq" holds "cvstore"). */
            o.sys_on[SYS_TUNEQ] = o.sys_on[0];
            if (!o.sys_on[0] && !o.sys_on[1] && !o.sys_on[2]) {
                fprintf(stderr, "cvstore-bench scale: bad --systems '%s'\n", optarg);
                return 1;
            }
            break;
        case 'o': o.out_dir = optarg; break;
        case 'j': o.json = 1; break;
        case 'f': o.seed_file = optarg; break;
        case 'n':
            o.nq = strtoul(optarg, &end, 10);
            if (!*optarg || *end || o.nq < 1 || o.nq > 100000) {
                fprintf(stderr, "cvstore-bench scale: bad --nq '%s' (1..100000)\n", optarg);
                return 1;
            }
            break;
        case 'T':
            o.nt = strtoul(optarg, &end, 10);
            if (!*optarg || *end || o.nt < 1 || o.nt > 100000) {
                fprintf(stderr, "cvstore-bench scale: bad --tune-seeds '%s' (1..100000)\n",
                        optarg);
                return 1;
            }
            break;
        case 'P': o.split = optarg; break;
        case 'I': o.cvs_index = optarg; break;
        case 'e': o.seed = strtoull(optarg, NULL, 10); break;
        case 'M':
            o.mem_gib = strtod(optarg, &end);
            if (!*optarg || *end || !(o.mem_gib > 0)) {
                fprintf(stderr, "cvstore-bench scale: bad --mem-gib '%s'\n", optarg);
                return 1;
            }
            break;
        case 't':
            o.min_time = strtod(optarg, &end);
            if (!*optarg || *end || !(o.min_time >= 0)) {
                fprintf(stderr, "cvstore-bench scale: bad --min-time '%s'\n", optarg);
                return 1;
            }
            break;
        case 'U': o.cpu_clock = 1; break;
        case 'E': o.estimate_only = 1; break;
        case 'c': o.cache_dir = optarg; break;
        case 'd': o.tmpparent = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 1;
    }
    if (!o.cache_dir) {
        const char *env = getenv("CVSTORE_CACHE"), *home = getenv("HOME");
        if (env && *env)
            snprintf(cache, sizeof cache, "%s/scale", env);
        else
            snprintf(cache, sizeof cache, "%s/.cache/cvstore/scale", home ? home : ".");
        o.cache_dir = cache;
    }
    if (mkdir_p(o.cache_dir) != 0 || mkdir_p(o.out_dir) != 0) {
        fprintf(stderr, "cvstore-bench scale: cannot create %s or %s: %s\n", o.cache_dir,
                o.out_dir, strerror(errno));
        return 1;
    }
    o.ncores = omp_get_max_threads();
    if (o.estimate_only) {
        print_estimates(&o, 100);
        return 0;
    }

    openblas_set_num_threads(o.ncores);
    if ((rc = seeds_load(&o, &sd))) {
        fprintf(stderr, "cvstore-bench scale: seeds: %s\n", cvs_strerror(rc));
        ret = rc == CVS_EINPUT || rc == CVS_NOTFOUND || rc == CVS_EDIM ? 1 : 2;
        goto out;
    }
    if (o.split) {
        ret = write_split(&o, &sd, o.split);
        goto out;
    }
    if (!(xq = malloc(sd.nq * sd.d * sizeof *xq)))
        goto out;
    gen_queries(&sd, o.seed, xq);
    snprintf(path, sizeof path, "%s/scale.json", o.out_dir);
    snprintf(csv, sizeof csv, "%s/scale.csv", o.out_dir);
    for (size_t i = 0; i < o.nsizes; i++) {
        if ((rc = run_size(&o, &sd, o.sizes[i], xq, &rs))) {
            fprintf(stderr, "cvstore-bench scale: n = %zu: %s: %s\n", o.sizes[i],
                    cvs_strerror(rc), cvs_errmsg(NULL));
            goto out;
        }
        /* The sizes so far, in case a long run is stopped before the end. */
        js = make_json(&o, &sd, &rs, br_load());
        if (json_dump_file(js, path, JSON_INDENT(2)) != 0)
            fprintf(stderr, "cvstore-bench scale: cannot write %s\n", path);
        json_decref(js);
        js = NULL;
        t = make_table(&rs);
        if (t)
            bu_table_csv(t, csv);
        bu_table_free(t);
        t = NULL;
    }

    load = br_load();
    t = make_table(&rs);
    js = make_json(&o, &sd, &rs, load);
    if (o.json) {
        json_dumpf(js, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        printf("### scale: cost against n (%zu queries, recall@10, 1 thread)\n\n"
               "Seeds: %s (%zu x %u, cosine), generator seed %llu.  qps@t: the fastest "
               "measured point with recall@10 >= t on these queries (its recall in "
               "brackets): of the sweep for hnswlib and FAISS, of the settings cvs_tune chose "
               "for 0.90, 0.95, 0.99 and 0.995 for cvstore.  rss_gib: peak resident set "
               "during the system's run minus the resident set before it.  bytes_per_vec: the "
               "index (cvstore mem_bytes, hnswlib fields, FAISS write_index size).  disk: the "
               "store / index file.  Load average at the end: %.2f.  Wall time %.0f s.\n\n",
               sd.nq, o.seed_file ? o.seed_file : "GloVe-100", sd.ns, sd.d,
               (unsigned long long)o.seed, load, bu_now() - t_start);
        bu_table_print(t);
    }
    ret = 0;
    snprintf(path, sizeof path, "%s/scale.json", o.out_dir);
    if (json_dump_file(js, path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "cvstore-bench scale: cannot write %s\n", path);
        ret = 2;
    }
    if (bu_table_csv(t, csv) != 0)
        ret = 2;
    if (write_plots(&rs, o.out_dir) != 0)
        ret = 2;
out:
    json_decref(js);
    bu_table_free(t);
    free(xq);
    free(rs.r);
    seeds_free(&sd);
    return ret;
}
