/*
 * bench_ann.c -- `cvstore-bench ann`: approximate nearest-neighbour search,
 * cvstore's index against FAISS and hnswlib, on the same data, in the same
 * process and the same run (issue 4's benchmark).
 *
 * Systems, each built once per data set and then swept over its search-time
 * knob:
 *   cvstore  a scratch store (raw f32 vectors, ids = base row numbers), then
 *            per codec (and per --cvs-index spec, default "ivf")
 *            cvs_build(db, codec, {.index = "ivf"}) and
 *            cvs_txn_search_params with CVS_SEARCH_ANN over nprobe x rerank
 *            (rerank 0 = CVS_SEARCH_NORERANK): the public API, as a user
 *            calls it.  The codecs default to opq,pq{d}x4 and opq,pq{d/2}x4
 *            (M rounded down to a divisor of d; above 256 dimensions
 *            pca256,opq,pq128x4 and pca128,opq,pq64x4), --cvs-codecs
 *            overrides.
 *   FAISS    through the C API (index_factory; search-time knobs through
 *            ParameterSpace): IVF{n},PQ{m}np, IVF{n},PQ{2m}x4fs with and
 *            without RFlat (k_factor = R / 10 for the same R as cvstore's
 *            rerank), IVF{n},SQ8, HNSW32 (efSearch swept).  n is the largest
 *            power of two <= 2 sqrt(nb), m the largest divisor of d <= d/4.
 *   hnswlib  M = 16, efConstruction = 200, ef swept; inner-product space for
 *            ip and cosine data (normalized), L2 otherwise (hnsw_bench.cpp).
 *
 * What is measured, and how:
 *  1. recall@10: |top 10 found ∩ true top 10| / 10, averaged over queries.
 *  2. QPS with 1 and with 2 threads: all queries answered by one batched
 *     call (FAISS's search, cvstore's cvs_txn_search_params with
 *     params.threads) or split over the threads query by query (hnswlib has
 *     no batch search; its Python binding does the same).  OpenMP (FAISS's
 *     pool) and OpenBLAS are set to the same thread count.  A sweep point
 *     is repeated until it has run for at least 0.3 s, and QPS = queries
 *     answered / seconds.  --cpu-clock counts the single-thread seconds in
 *     the process's CPU time instead, so that other jobs on a shared
 *     machine do not bill their time slices to whichever system ran then.
 *  3. build_s: what a user waits for between having the vectors in memory
 *     (or, for cvstore, in the store) and searching: FAISS train + add,
 *     hnswlib's inserts, cvs_build (codec training, encoding, lists).  All
 *     builds use every core (2 here); --hnsw-build1 also times hnswlib's
 *     single-thread build.  cvstore's import into the store is reported
 *     separately, not in build_s: a store has its records before any index
 *     is built.
 *  4. bytes_per_vector: resident memory of the searchable structure / nb.
 *     FAISS: the size of the index written by write_index (codes, ids,
 *     centroids, graph, refine vectors: what read_index loads).  hnswlib:
 *     vectors and graph computed from its fields (hb_mem_bytes; its
 *     per-element locks and id map, ~90 B more, are left out, so the ratio
 *     against it errs against cvstore).  cvstore: the index's
 *     cvs_index_info.mem_bytes; its re-ranking reads the raw vectors from
 *     the LMDB memory map (page cache, not the process's heap), which is
 *     not counted -- the table says so.  Indexes built with ",sq8" keep
 *     their re-ranking rows in memory, and mem_bytes counts them.
 *
 * The goal check at the end reads issue 4's goals off the same rows.
 *
 * --split-seed S measures on a query split nothing was chosen on: --nq base
 * rows drawn at random (seeded) become the queries and leave the base, and
 * their exact ground truth is computed (resplit).  GloVe's own split is
 * fixed (every 341st word), so a default picked while looking at it is
 * reported on such a split too.
 */
#include <getopt.h>
#include <stddef.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "bench/bench.h"
#include "bench/benchutil.h"
#include "bench/hnsw_bench.h"
#include "bench/report.h"
#include "core/rng.h"
#include "index/faiss_util.h"

/* OpenBLAS's own controls (see bench_exact.c for why not cblas.h). */
extern void openblas_set_num_threads(int);



#define K 10               /* recall@10, top 10 asked of every system */
#define GT_K 100           /* exact ground truth computed when none is given */
#define MAX_LIST 16
#define MAX_SPECS 12
#define HNSW_M 16
#define HNSW_EFC 200

/* ==== Options ==== */

typedef struct options {
    size_t nprobe[MAX_LIST], n_nprobe;
    size_t ef[MAX_LIST], n_ef;
    size_t rerank[MAX_LIST], n_rerank; /* 0 = no rerank */
    size_t refine;                     /* cvstore ,sq8: exact re-scores (0 = the store's: none) */
    char *cvs_specs[MAX_SPECS];        /* NULL: per data set defaults */
    size_t n_cvs_specs;
    char *cvs_index[MAX_SPECS];        /* cvs_build_opts.index values */
    size_t n_cvs_index;
    char *faiss_specs[MAX_SPECS];
    size_t n_faiss_specs;
    int sys_cvs, sys_faiss, sys_hnsw;
    int hnsw_build1;
    int no_sweep;          /* cvstore: only the build+tune defaults */
    int cpu_clock;         /* single-thread QPS from process CPU time */
    int ncores;
    double min_time;       /* seconds each sweep point runs at least */
    uint64_t seed;
    const char *tmpparent;
} options;

/* ==== Results ==== */

typedef struct result {
    const char *dataset;   /* the data set's name, which outlives the rows */
    const char *system;    /* "cvstore", "faiss", "hnswlib" */
    char family[96];       /* one plot curve: the structure, without knobs */
    char config[160];
    double bpv, build_s, r10, qps1, qps2;
} result;

typedef struct results {
    result *r;
    size_t n, cap;
} results;

static result *results_add(results *rs, const char *dataset, const char *system,
                           const char *family)
{
    result *r = br_push((void **)&rs->r, &rs->n, &rs->cap, sizeof *r, 128);
    if (!r)
        return NULL;
    r->dataset = dataset;
    r->system = system;
    snprintf(r->family, sizeof r->family, "%s", family);
    return r;
}

static void progress_line(const result *r)
{
    fprintf(stderr, "  [%s] %-8s %-44s R@10 %.4f  qps %8.0f / %8.0f  %7.1f B/vec  build %.1f s\n",
            r->dataset, r->system, r->config, r->r10, r->qps1, r->qps2, r->bpv, r->build_s);
}

/* Mean |lab[q][0..10) ∩ gt[q][0..10)| / 10 over the queries. */
static double recall10(const bu_dataset *ds, const int64_t *lab)
{
    return br_recall(ds, lab, K, K);
}

/* ==== Timing ==== */

static void set_threads(int n)
{
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* One batch of all queries with the given thread count, labels (nq x K)
 * out: a system's search step behind one signature. */
typedef int (*search_fn)(void *ctx, int threads, int64_t *lab);

/* Process CPU time: on a machine shared with other jobs, one thread's
 * search is charged only for the time it actually ran (--cpu-clock). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs search until min_time has passed (at least once) and returns
 * queries per second through qps. */
static int timed(const options *o, search_fn fn, void *ctx, int threads, size_t nq,
                 int64_t *lab, double *qps)
{
    const int cpu = o->cpu_clock && threads == 1;
    double t0, el;
    size_t reps = 0;
    int rc;
    set_threads(threads);
    t0 = cpu ? cpu_now() : bu_now();
    do {
        rc = fn(ctx, threads, lab);
        reps++;
        el = (cpu ? cpu_now() : bu_now()) - t0;
    } while (!rc && el < o->min_time);
    set_threads(o->ncores);
    *qps = (double)(nq * reps) / el;
    return rc;
}

/* Measures one sweep point: recall from the single-thread run's labels,
 * then QPS with two threads. */
static int measure(const options *o, const bu_dataset *ds, search_fn fn, void *ctx,
                   int64_t *lab, result *r)
{
    int rc;
    if ((rc = timed(o, fn, ctx, 1, ds->nq, lab, &r->qps1)))
        return rc;
    r->r10 = recall10(ds, lab);
    if ((rc = timed(o, fn, ctx, 2, ds->nq, lab, &r->qps2)))
        return rc;
    progress_line(r);
    return 0;
}

/* ==== cvstore ==== */

typedef struct cvs_ctx {
    const bu_dataset *ds;
    cvs_txn *txn;
    cvs_search_params p;
    float *scores;
} cvs_ctx;

static int cvs_search_fn(void *ctx, int threads, int64_t *lab)
{
    cvs_ctx *c = ctx;
    c->p.threads = threads;
    return cvs_txn_search_params(c->txn, c->ds->xq, c->ds->nq, K, &c->p, lab, c->scores);
}


static int cvs_import_rows(cvs_db *db, const bu_dataset *ds)
{
    const size_t batch = 10000;
    cvs_record *recs = calloc(batch, sizeof *recs);
    char (*ids)[24] = malloc(batch * sizeof *ids);
    int rc = CVS_ENOMEM;
    if (!recs || !ids)
        goto out;
    for (size_t i = 0; i < ds->nb; i += batch) {
        size_t m = ds->nb - i < batch ? ds->nb - i : batch;
        for (size_t j = 0; j < m; j++) {
            int len = snprintf(ids[j], sizeof ids[j], "%zu", i + j);
            recs[j].id = ids[j];
            recs[j].id_len = (size_t)len;
            recs[j].vector = ds->xb + (i + j) * ds->d;
        }
        if ((rc = cvs_put(db, recs, m, 0, NULL, NULL)))
            goto out;
        bu_progress(NULL, "import", i + m, ds->nb, 0, 0);
    }
    rc = 0;
out:
    free(recs);
    free(ids);
    return rc;
}

/* Sweeps one codec's IVF index.  Returns 0 also when the index is not
 * available (the cvstore rows are then missing, with the reason on stderr);
 * a non-zero return is a failure of the benchmark itself. */
static int run_cvs_spec(const options *o, const bu_dataset *ds, cvs_db *db, const char *spec,
                        const char *index, results *rs, int64_t *lab, float *scores)
{
    cvs_build_opts bo = {.seed = o->seed, .progress = bu_progress, .index = index};
    cvs_index_info ii;
    cvs_ctx c = {.ds = ds, .scores = scores};
    double t0, build_s, bpv = NAN;
    size_t nlist = 0;
    char family[96];
    int rc;

    fprintf(stderr, "  [%s] cvstore: build %s, index %s\n", ds->name, spec, index);
    t0 = bu_now();
    rc = cvs_build(db, spec, &bo);
    build_s = bu_now() - t0;
    if (rc) {
        fprintf(stderr, "  [%s] cvstore: build %s: %s: %s -- skipped\n", ds->name, spec,
                cvs_strerror(rc), cvs_errmsg(db));
        return 0;
    }
    if ((rc = cvs_index_get_info(db, &ii))) {
        fprintf(stderr, "  [%s] cvstore: cvs_index_get_info: %s: %s -- skipped\n", ds->name,
                cvs_strerror(rc), cvs_errmsg(db));
        return 0;
    }
    nlist = ii.nlist;
    bpv = ii.count ? (double)ii.mem_bytes / (double)ii.count : NAN;
    snprintf(family, sizeof family, "%.40s,%.50s", ii.spec, spec);
    if ((rc = cvs_txn_begin(db, &c.txn)))
        return rc;
    for (size_t a = 0; a < o->n_nprobe && !rc; a++) {
        if (nlist && o->nprobe[a] > nlist)
            break;
        for (size_t b = 0; b < o->n_rerank && !rc; b++) {
            result *r = results_add(rs, ds->name, "cvstore", family);
            if (!r) {
                rc = CVS_ENOMEM;
                break;
            }
            c.p = (cvs_search_params){.flags = CVS_SEARCH_ANN, .nprobe = o->nprobe[a],
                                      .rerank = o->rerank[b]};
            /* R=0: the graph index's answer without re-ranking is its SQ8
             * rows' (index/qg.c); its codes alone only steer. */
            if (!o->rerank[b] && !strncmp(ii.spec, "qg", 2))
                c.p.rerank = CVS_RERANK_NONE;
            else if (!o->rerank[b])
                c.p.flags |= CVS_SEARCH_NORERANK;
            c.p.refine = o->refine;
            if (o->refine && strstr(ii.spec, ",sq8") && o->rerank[b])
                snprintf(r->config, sizeof r->config, "%s nprobe=%zu R=%zu refine=%zu", family,
                         o->nprobe[a], o->rerank[b], o->refine);
            else
                snprintf(r->config, sizeof r->config, "%s nprobe=%zu R=%zu", family,
                         o->nprobe[a], o->rerank[b]);
            r->bpv = bpv;
            r->build_s = build_s;
            /* As measure(), with the keys mapped to rows before scoring. */
            if (!(rc = timed(o, cvs_search_fn, &c, 1, ds->nq, lab, &r->qps1)) &&
                !(rc = bu_keys_to_rows(c.txn, lab, ds->nq * K))) {
                r->r10 = recall10(ds, lab);
                rc = timed(o, cvs_search_fn, &c, 2, ds->nq, lab, &r->qps2);
            }
            if (rc) {
                /* Until the ANN search exists, this is where it says so. */
                rs->n--;
                fprintf(stderr, "  [%s] cvstore: search %s: %s: %s -- skipped\n", ds->name,
                        r->config, cvs_strerror(rc), cvs_errmsg(db));
                rc = 0;
                goto out;
            }
            progress_line(r);
        }
    }
out:
    cvs_txn_end(c.txn);
    return rc;
}

#define SYS_DEFAULTS "cvstore (build, tune --rebuild)"

/* The configuration a user gets without a sweep: cvs_build with no codec
 * (cvs_build_choose's codec and index), then cvs_tune with CVS_TUNE_REBUILD
 * at target recall 0.95 and again at 0.99, each measured at the store's
 * defaults (nprobe and rerank 0), as `cvstore build DB` + `cvstore tune DB
 * --rebuild --target-recall R` + `cvstore search --ann` would run.  The
 * tuner measures on the store's own vectors; the rows measure on the data
 * set's held-out queries.  build_s is the build plus that tune (its
 * rebuilds included). */
static int run_cvs_defaults(const options *o, const bu_dataset *ds, cvs_db *db, results *rs,
                            int64_t *lab, float *scores)
{
    static const double targets[] = {0.95, 0.99};
    cvs_build_opts bo = {.seed = o->seed, .progress = bu_progress};
    cvs_codec_info ci;
    double t0, build_s;
    int rc;

    fprintf(stderr, "  [%s] cvstore: build with no codec (chosen), then tune --rebuild\n",
            ds->name);
    t0 = bu_now();
    if ((rc = cvs_build(db, NULL, &bo)) || (rc = cvs_codec_get_info(db, &ci))) {
        fprintf(stderr, "  [%s] cvstore: default build: %s: %s -- skipped\n", ds->name,
                cvs_strerror(rc), cvs_errmsg(db));
        return 0;
    }
    build_s = bu_now() - t0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        cvs_tune_opts to = {.target_recall = targets[t], .seed = o->seed,
                            .flags = CVS_TUNE_REBUILD, .progress = bu_progress};
        cvs_ctx c = {.ds = ds, .scores = scores,
                     .p = {.flags = CVS_SEARCH_ANN}}; /* the store's defaults */
        cvs_tune_result tr;
        cvs_index_info ii;
        result *r;
        double tune_s;
        t0 = bu_now();
        if ((rc = cvs_tune(db, &to, &tr)) || (rc = cvs_index_get_info(db, &ii))) {
            fprintf(stderr, "  [%s] cvstore: tune %.2f: %s: %s -- skipped\n", ds->name,
                    targets[t], cvs_strerror(rc), cvs_errmsg(db));
            return 0;
        }
        tune_s = bu_now() - t0;
        fprintf(stderr, "  [%s] cvstore: tune %.2f in %.1f s (%d rebuilds): %s nprobe %zu "
                "rerank %zu refine %zu, recall %.4f on the store's own vectors%s\n", ds->name,
                targets[t], tune_s, tr.rebuilds, tr.index, tr.nprobe, tr.rerank, tr.refine,
                tr.recall,
                tr.reached ? "" : " (target not reached)");
        if (!(r = results_add(rs, ds->name, SYS_DEFAULTS, "build, tune --rebuild")))
            return CVS_ENOMEM;
        snprintf(r->config, sizeof r->config, "tune %.2f: %.40s,%.50s nprobe=%zu R=%zu E=%zu",
                 targets[t], ii.spec, ci.spec, tr.nprobe, tr.rerank, tr.refine);
        r->bpv = ii.count ? (double)ii.mem_bytes / (double)ii.count : NAN;
        r->build_s = build_s + tune_s;
        if ((rc = cvs_txn_begin(db, &c.txn)))
            return rc;
        if (!(rc = timed(o, cvs_search_fn, &c, 1, ds->nq, lab, &r->qps1)) &&
            !(rc = bu_keys_to_rows(c.txn, lab, ds->nq * K))) {
            r->r10 = recall10(ds, lab);
            rc = timed(o, cvs_search_fn, &c, 2, ds->nq, lab, &r->qps2);
        }
        cvs_txn_end(c.txn);
        if (rc)
            return rc;
        progress_line(r);
    }
    return 0;
}

static int run_cvs(const options *o, const bu_dataset *ds, results *rs, int64_t *lab,
                   float *scores)
{
    char *dir = NULL, path[4200];
    cvs_db *db = NULL;
    char defaults[2][64];
    const char *specs[MAX_SPECS];
    size_t nspecs = 0;
    double t0;
    int rc;

    if (o->n_cvs_specs) {
        for (size_t i = 0; i < o->n_cvs_specs; i++)
            specs[nspecs++] = o->cvs_specs[i];
    } else {
        /* The same defaults as every benchmark (benchutil.c). */
        bu_cvs_default_codecs(ds->d, defaults, 2);
        specs[nspecs++] = defaults[0];
        specs[nspecs++] = defaults[1];
    }
    if (!(dir = bu_tmpdir(o->tmpparent)))
        return CVS_EIO;
    snprintf(path, sizeof path, "%s/store", dir);
    {
        cvs_create_opts co = {.dim = ds->d, .metric = ds->metric, .raw = CVS_RAW_F32};
        if ((rc = cvs_db_create(path, &co, &db)))
            goto out;
    }
    t0 = bu_now();
    if ((rc = cvs_import_rows(db, ds)))
        goto out;
    fprintf(stderr, "  [%s] cvstore: import of %zu vectors in %.1f s (not in build_s)\n",
            ds->name, ds->nb, bu_now() - t0);
    for (size_t i = 0; i < nspecs && !rc && !o->no_sweep; i++)
        for (size_t j = 0; j < o->n_cvs_index && !rc; j++)
            rc = run_cvs_spec(o, ds, db, specs[i], o->cvs_index[j], rs, lab, scores);
    if (!rc && !o->n_cvs_specs)
        rc = run_cvs_defaults(o, ds, db, rs, lab, scores);
out:
    cvs_db_close(db);
    bu_rmrf(dir);
    free(dir);
    return rc;
}

/* ==== FAISS ==== */

typedef struct faiss_ctx {
    const bu_dataset *ds;
    FaissIndex *idx;
    float *dis;
    const char *spec;
} faiss_ctx;

static int faiss_search_fn(void *ctx, int threads, int64_t *lab)
{
    faiss_ctx *c = ctx;
    (void)threads; /* set through OpenMP by timed() */
    return cvs__faiss_err(faiss_Index_search(c->idx, (idx_t)c->ds->nq, c->ds->xq, K, c->dis,
                                             lab), c->spec);
}

static int run_faiss(const options *o, const bu_dataset *ds, const char *spec, results *rs,
                     int64_t *lab, float *dis)
{
    FaissIndex *idx = NULL;
    FaissParameterSpace *ps = NULL;
    faiss_ctx c = {.ds = ds, .dis = dis, .spec = spec};
    FaissMetricType mt = ds->metric == CVS_METRIC_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
    char path[4200], *dir = NULL;
    struct stat st;
    double t0, build_s, bpv;
    int rc, hnsw = strncmp(spec, "HNSW", 4) == 0, refine = strstr(spec, "RFlat") != NULL;
    size_t nlist = 0;

    fprintf(stderr, "  [%s] faiss: build %s\n", ds->name, spec);
    if ((rc = cvs__faiss_err(faiss_index_factory(&idx, (int)ds->d, spec, mt), spec)))
        goto out;
    /* FAISS's advice: a single-threaded BLAS under its OpenMP threads (see
     * bench_codecs.c); train and add use every core through OpenMP. */
    openblas_set_num_threads(1);
    t0 = bu_now();
    if (!(rc = cvs__faiss_err(faiss_Index_train(idx, (idx_t)ds->nb, ds->xb), spec)))
        rc = cvs__faiss_err(faiss_Index_add(idx, (idx_t)ds->nb, ds->xb), spec);
    build_s = bu_now() - t0;
    set_threads(o->ncores);
    if (rc)
        goto out;

    /* Memory: the whole index as read_index would load it. */
    if (!(dir = bu_tmpdir(o->tmpparent))) {
        rc = CVS_EIO;
        goto out;
    }
    snprintf(path, sizeof path, "%s/faiss.index", dir);
    if ((rc = cvs__faiss_err(faiss_write_index_fname(idx, path), spec)))
        goto out;
    if (stat(path, &st) != 0) {
        rc = CVS_EIO;
        goto out;
    }
    bpv = (double)st.st_size / (double)ds->nb;
    bu_rmrf(dir);
    free(dir);
    dir = NULL;

    if ((rc = cvs__faiss_err(faiss_ParameterSpace_new(&ps), spec)))
        goto out;
    if (!hnsw && sscanf(spec, "IVF%zu", &nlist) != 1)
        nlist = 0;
    c.idx = idx;
    for (size_t a = 0; a < (hnsw ? o->n_ef : o->n_nprobe) && !rc; a++) {
        size_t v = hnsw ? o->ef[a] : o->nprobe[a];
        if (nlist && v > nlist)
            break;
        if ((rc = cvs__faiss_err(faiss_ParameterSpace_set_index_parameter(
                 ps, idx, hnsw ? "efSearch" : "nprobe", (double)v), spec)))
            break;
        for (size_t b = 0; b < (refine ? o->n_rerank : 1) && !rc; b++) {
            result *r;
            if (refine && o->rerank[b] < K)
                continue;
            if (refine && (rc = cvs__faiss_err(faiss_ParameterSpace_set_index_parameter(
                               ps, idx, "k_factor_rf", (double)o->rerank[b] / K), spec)))
                break;
            if (!(r = results_add(rs, ds->name, "faiss", spec))) {
                rc = CVS_ENOMEM;
                break;
            }
            if (refine)
                snprintf(r->config, sizeof r->config, "%s nprobe=%zu R=%zu", spec, v,
                         o->rerank[b]);
            else
                snprintf(r->config, sizeof r->config, "%s %s=%zu", spec,
                         hnsw ? "efSearch" : "nprobe", v);
            r->bpv = bpv;
            r->build_s = build_s;
            rc = measure(o, ds, faiss_search_fn, &c, lab, r);
        }
    }
out:
    set_threads(o->ncores);
    faiss_ParameterSpace_free(ps);
    faiss_Index_free(idx);
    bu_rmrf(dir);
    free(dir);
    return rc;
}

/* ==== hnswlib ==== */

typedef struct hnsw_ctx {
    const bu_dataset *ds;
    hb_index *h;
    size_t ef;
} hnsw_ctx;

static int hnsw_search_fn(void *ctx, int threads, int64_t *lab)
{
    hnsw_ctx *c = ctx;
    return hb_search(c->h, c->ds->xq, c->ds->nq, K, c->ef, threads, lab) ? CVS_EINTERNAL : 0;
}

static int run_hnsw(const options *o, const bu_dataset *ds, results *rs, int64_t *lab,
                    double *build1_s)
{
    int ip = ds->metric != CVS_METRIC_L2, rc = 0;
    hnsw_ctx c = {.ds = ds};
    double t0, build_s, bpv;
    char family[64];

    *build1_s = NAN;
    if (!hb_cpu_ok()) {
        fprintf(stderr, "  [%s] hnswlib: compiled for AVX2, which this CPU lacks -- skipped\n",
                ds->name);
        return 0;
    }
    snprintf(family, sizeof family, "HNSW M=%d efC=%d %s", HNSW_M, HNSW_EFC, ip ? "ip" : "l2");
    if (o->hnsw_build1) {
        fprintf(stderr, "  [%s] hnswlib: build on 1 thread\n", ds->name);
        if (!(c.h = hb_new(ds->d, ip, ds->nb, HNSW_M, HNSW_EFC, 100)))
            return CVS_ENOMEM;
        t0 = bu_now();
        rc = hb_add(c.h, ds->xb, ds->nb, 1) ? CVS_EINTERNAL : 0;
        *build1_s = bu_now() - t0;
        hb_free(c.h);
        if (rc)
            return rc;
        fprintf(stderr, "  [%s] hnswlib: 1-thread build %.1f s\n", ds->name, *build1_s);
    }
    fprintf(stderr, "  [%s] hnswlib: build on %d threads\n", ds->name, o->ncores);
    if (!(c.h = hb_new(ds->d, ip, ds->nb, HNSW_M, HNSW_EFC, 100)))
        return CVS_ENOMEM;
    t0 = bu_now();
    if (hb_add(c.h, ds->xb, ds->nb, o->ncores)) {
        rc = CVS_EINTERNAL;
        goto out;
    }
    build_s = bu_now() - t0;
    bpv = (double)hb_mem_bytes(c.h) / (double)ds->nb;
    for (size_t a = 0; a < o->n_ef && !rc; a++) {
        result *r = results_add(rs, ds->name, "hnswlib", family);
        if (!r) {
            rc = CVS_ENOMEM;
            break;
        }
        c.ef = o->ef[a];
        snprintf(r->config, sizeof r->config, "%s ef=%zu", family, c.ef);
        r->bpv = bpv;
        r->build_s = build_s;
        rc = measure(o, ds, hnsw_search_fn, &c, lab, r);
    }
out:
    hb_free(c.h);
    return rc;
}

/* ==== One data set ==== */

typedef struct ds_notes {
    const char *dataset;
    double hnsw_build1_s;
} ds_notes;

static int run_dataset(const options *o, const bu_dataset *ds, results *rs, ds_notes *notes)
{
    int64_t *lab = malloc(ds->nq * K * sizeof *lab);
    float *dis = malloc(ds->nq * K * sizeof *dis);
    char specs[5][96];
    size_t nspecs = 0;
    int rc = CVS_ENOMEM;

    notes->dataset = ds->name;
    notes->hnsw_build1_s = NAN;
    if (!lab || !dis)
        goto out;
    fprintf(stderr, "[%s] %zu x %u, %zu queries, %s\n", ds->name, ds->nb, ds->d, ds->nq,
            cvs_metric_name(ds->metric));
    rc = 0;
    if (o->sys_hnsw)
        rc = run_hnsw(o, ds, rs, lab, &notes->hnsw_build1_s);
    if (!rc && o->sys_faiss) {
        size_t n = bu_faiss_nlist(ds->nb);
        size_t m8 = bu_divisor_below(ds->d, ds->d / 4), m4 = bu_divisor_below(ds->d, ds->d / 2);
        if (!o->n_faiss_specs) {
            snprintf(specs[nspecs++], sizeof specs[0], "IVF%zu,PQ%zunp", n, m8);
            snprintf(specs[nspecs++], sizeof specs[0], "IVF%zu,PQ%zux4fs", n, m4);
            snprintf(specs[nspecs++], sizeof specs[0], "IVF%zu,PQ%zux4fs,RFlat", n, m4);
            snprintf(specs[nspecs++], sizeof specs[0], "IVF%zu,SQ8", n);
            snprintf(specs[nspecs++], sizeof specs[0], "HNSW32");
        }
        for (size_t i = 0; i < (o->n_faiss_specs ? o->n_faiss_specs : nspecs) && !rc; i++)
            rc = run_faiss(o, ds, o->n_faiss_specs ? o->faiss_specs[i] : specs[i], rs, lab, dis);
    }
    if (!rc && o->sys_cvs)
        rc = run_cvs(o, ds, rs, lab, dis);
out:
    free(lab);
    free(dis);
    return rc;
}

/* ==== Plot ==== */

static int system_index(const char *s)
{
    return strncmp(s, "cvstore", 7) == 0 ? 0 : strcmp(s, "faiss") == 0 ? 1 : 2;
}

/* One panel per data set, recall@10 (x) against single-thread QPS (y, log
 * scale), one curve per family: its Pareto frontier (the fastest setting at
 * each recall), since a family with two knobs (nprobe x R) is a cloud of
 * points of which only the frontier is a choice anyone would make.  Colour
 * by system, dash pattern by family. */
static int write_plot(const void *rows, const char *path)
{
    static const char *const colour[3] = {"#d62728", "#1f77b4", "#2ca02c"};
    const results *rs = rows;
    const char *names[16], *fams[64];
    size_t nds = br_dataset_names(rs->r, rs->n, sizeof rs->r[0], offsetof(result, dataset),
                                  names, 16);
    double *pts = malloc(rs->n * 2 * sizeof *pts);
    FILE *g;
    if (!pts)
        return -1;
    if (!nds) {
        free(pts);
        return 0;
    }
    if (!(g = br_plot_open("ann"))) {
        free(pts);
        return -1;
    }
    fprintf(g, "set terminal svg size %zu,520 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
               "set output '%s'\n"
               "set multiplot layout 1,%zu\n"
               "set logscale y\nset grid\nset key bottom left font 'sans,9'\n"
               "set xlabel 'recall@10'\nset ylabel 'queries per second, 1 thread'\n",
            620 * nds, path, nds);
    for (size_t s = 0; s < nds; s++) {
        size_t nf = 0;
        int dt[3] = {1, 1, 1};
        for (size_t i = 0; i < rs->n; i++) {
            size_t j = 0;
            if (strcmp(rs->r[i].dataset, names[s]) != 0)
                continue;
            while (j < nf && strcmp(fams[j], rs->r[i].family) != 0)
                j++;
            if (j == nf && nf < 64)
                fams[nf++] = rs->r[i].family;
        }
        fprintf(g, "set title '%s'\nplot ", names[s]);
        for (size_t f = 0; f < nf; f++) {
            /* fams[f] points into the family's first row */
            const result *first = (const result *)(fams[f] - offsetof(result, family));
            int si = system_index(first->system);
            fprintf(g, "%s'-' using 1:2 with linespoints", f ? ", " : "");
            fprintf(g, " lw 2 lc rgb '%s' dt %d title '%s %s'", colour[si], dt[si]++,
                    first->system, fams[f]);
        }
        fprintf(g, "\n");
        for (size_t f = 0; f < nf; f++) {
            size_t np = 0, keep;
            for (size_t i = 0; i < rs->n; i++)
                if (strcmp(rs->r[i].dataset, names[s]) == 0 &&
                    strcmp(rs->r[i].family, fams[f]) == 0 && rs->r[i].qps1 > 0) {
                    pts[2 * np] = rs->r[i].r10;
                    pts[2 * np + 1] = rs->r[i].qps1;
                    np++;
                }
            keep = br_frontier(pts, np);
            for (size_t i = keep; i-- > 0;)
                fprintf(g, "%.4f %.1f\n", pts[2 * i], pts[2 * i + 1]);
            fprintf(g, "e\n");
        }
    }
    fprintf(g, "unset multiplot\n");
    free(pts);
    return br_plot_close(g, "ann", path);
}

/* ==== Goal check ==== */

/* Fastest single-thread row of a system at recall >= target and at most
 * max_bpv bytes per vector; NULL if none. */
/* Whether r is a point of system sys.  "cvstore" takes in the build+tune
 * defaults rows too: they are cvstore settings, and under --no-sweep they
 * are its only ones (the goals read "none reaches 0.95" and "0 of N FAISS
 * points beaten" before, with a default at 0.99 in the same table). */
static int sys_is(const result *r, const char *sys)
{
    return strcmp(r->system, sys) == 0 ||
           (strcmp(sys, "cvstore") == 0 && strcmp(r->system, SYS_DEFAULTS) == 0);
}

static const result *best_at(const results *rs, const char *ds, const char *sys, double target,
                             double max_bpv)
{
    const result *b = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        const result *r = &rs->r[i];
        if (strcmp(r->dataset, ds) == 0 && sys_is(r, sys) && r->r10 >= target &&
            !(r->bpv > max_bpv) && (!b || r->qps1 > b->qps1))
            b = r;
    }
    return b;
}

/* Issue 4's goals, read off the rows: at recall@10 >= 0.95, cvstore's
 * fastest single-thread setting against hnswlib's (2x on GloVe, 1x
 * elsewhere) at <= 1/4 of its memory per vector; every FAISS point beaten
 * (some cvstore setting at least as accurate and at least as fast); and
 * cvstore's build no slower than hnswlib's 2-core build on GloVe. */
static void print_goals(const results *rs, const ds_notes *notes, size_t nds)
{
    const char *const hdr[] = {"dataset", "goal", "cvstore", "reference", "met"};
    bu_table *t = bu_table_new(5, hdr);
    for (size_t d = 0; d < nds; d++) {
        const char *ds = notes[d].dataset;
        int glove = strstr(ds, "glove") != NULL;
        double want = glove ? 2.0 : 1.0;
        const result *h = best_at(rs, ds, "hnswlib", 0.95, INFINITY);
        const result *f = best_at(rs, ds, "faiss", 0.95, INFINITY);
        /* Both goals hold for one setting: the fastest within the memory
         * budget, else (none within it) the fastest. */
        const result *c = best_at(rs, ds, "cvstore", 0.95, h ? h->bpv / 4 : INFINITY);
        if (!c)
            c = best_at(rs, ds, "cvstore", 0.95, INFINITY);
        size_t nf = 0, beaten = 0, nc = 0;

        bu_table_row(t);
        bu_table_cell(t, "%s", ds);
        bu_table_cell(t, "QPS at R@10>=0.95, 1 thread: >= %.0fx hnswlib", want);
        bu_table_cell(t, "%s", c ? c->config : "none reaches 0.95");
        if (h)
            bu_table_cell(t, "hnswlib %s: %.0f QPS (R@10 %.3f)%s%s", h->config, h->qps1, h->r10,
                          f ? "; best faiss " : "", f ? f->config : "");
        else
            bu_table_cell(t, "hnswlib: none reaches 0.95");
        if (c && h)
            bu_table_cell(t, "%s (%.0f QPS, %.2fx)", c->qps1 >= want * h->qps1 ? "yes" : "no",
                          c->qps1, c->qps1 / h->qps1);
        else
            bu_table_cell(t, "-");

        bu_table_row(t);
        bu_table_cell(t, "%s", ds);
        bu_table_cell(t, "memory per vector <= 1/4 hnswlib's");
        bu_table_cell(t, "%.1f B (%s)", c ? c->bpv : NAN,
                      c && strstr(c->config, ",sq8")
                          ? "index with its in-memory SQ8 re-ranking rows"
                          : "index only; rerank reads raw vectors from the LMDB map");
        bu_table_cell(t, "hnswlib %.1f B", h ? h->bpv : NAN);
        if (c && h && !isnan(c->bpv))
            bu_table_cell(t, "%s (%.3f)", c->bpv <= h->bpv / 4 ? "yes" : "no", c->bpv / h->bpv);
        else
            bu_table_cell(t, "-");

        for (size_t i = 0; i < rs->n; i++) {
            const result *r = &rs->r[i];
            if (strcmp(r->dataset, ds) == 0 && sys_is(r, "cvstore"))
                nc++;
            if (strcmp(r->dataset, ds) != 0 || strcmp(r->system, "faiss") != 0)
                continue;
            nf++;
            for (size_t j = 0; j < rs->n; j++) {
                const result *q = &rs->r[j];
                if (strcmp(q->dataset, ds) == 0 && sys_is(q, "cvstore") && q->r10 >= r->r10 &&
                    q->qps1 >= r->qps1) {
                    beaten++;
                    break;
                }
            }
        }
        bu_table_row(t);
        bu_table_cell(t, "%s", ds);
        bu_table_cell(t, "ahead of FAISS at every recall (1 thread)");
        bu_table_cell(t, "%zu of %zu FAISS points matched or beaten", beaten, nf);
        bu_table_cell(t, "a cvstore point with recall and QPS >= the FAISS point's");
        bu_table_cell(t, "%s", !nc || !nf ? "-" : beaten == nf ? "yes" : "no");

        /* Issue 18: what `build` + `tune --rebuild` give, against hnswlib's
         * fastest setting at least as accurate (equal recall, not equal
         * target): at 0.95 3x on GloVe and 1.5x elsewhere, at 0.99 2x on
         * GloVe. */
        for (size_t i = 0; i < rs->n; i++) {
            const result *r = &rs->r[i], *hh;
            double target = 0, goal;
            if (strcmp(r->dataset, ds) != 0 || strcmp(r->system, SYS_DEFAULTS) != 0 ||
                sscanf(r->config, "tune %lf", &target) != 1)
                continue;
            goal = target < 0.98 ? (glove ? 3.0 : 1.5) : (glove ? 2.0 : NAN);
            hh = best_at(rs, ds, "hnswlib", r->r10, INFINITY);
            bu_table_row(t);
            bu_table_cell(t, "%s", ds);
            if (isnan(goal))
                bu_table_cell(t, "defaults tuned for %.2f: QPS vs hnswlib at equal recall",
                              target);
            else
                bu_table_cell(t, "defaults tuned for %.2f: >= %.1fx hnswlib at equal recall",
                              target, goal);
            bu_table_cell(t, "%s: %.0f QPS, R@10 %.4f, %.1f B", r->config, r->qps1, r->r10,
                          r->bpv);
            if (hh)
                bu_table_cell(t, "hnswlib %s: %.0f QPS (R@10 %.4f), %.1f B", hh->config,
                              hh->qps1, hh->r10, hh->bpv);
            else
                bu_table_cell(t, "hnswlib: none reaches R@10 %.4f", r->r10);
            if (hh && !isnan(goal))
                bu_table_cell(t, "%s (%.2fx)", r->qps1 >= goal * hh->qps1 ? "yes" : "no",
                              r->qps1 / hh->qps1);
            else if (hh)
                bu_table_cell(t, "%.2fx", r->qps1 / hh->qps1);
            else
                bu_table_cell(t, "-");
        }

        if (glove) {
            const result *hb = NULL;
            double cb = NAN;
            for (size_t i = 0; i < rs->n; i++) {
                const result *r = &rs->r[i];
                if (strcmp(r->dataset, ds) == 0 && strcmp(r->system, "hnswlib") == 0)
                    hb = r;
            }
            if (c)
                cb = c->build_s;
            bu_table_row(t);
            bu_table_cell(t, "%s", ds);
            bu_table_cell(t, "build (train + add) <= hnswlib's on 2 cores");
            if (c)
                bu_table_cell(t, "%.1f s (%s)", cb, c->family);
            else
                bu_table_cell(t, "-");
            if (!isnan(notes[d].hnsw_build1_s))
                bu_table_cell(t, "hnswlib %.1f s on 2 cores, %.1f s on 1", hb ? hb->build_s : NAN,
                              notes[d].hnsw_build1_s);
            else
                bu_table_cell(t, "hnswlib %.1f s on 2 cores", hb ? hb->build_s : NAN);
            bu_table_cell(t, "%s", c && hb ? (cb <= hb->build_s ? "yes" : "no") : "-");
        }
    }
    printf("\n### issue 4 goals; issue 18: cvstore build + tune --rebuild (no settings given) against hnswlib\n\n");
    bu_table_print(t);
    bu_table_free(t);
}

/* ==== Another query split (--split-seed) ==== */

/* Replaces the data set's queries with nq base rows picked at random
 * (seeded), removed from the base, and drops the ground truth so that the
 * exact one is computed for them: a split the defaults were not chosen
 * on.  The rows are taken in the order drawn; the rest of the base keeps
 * its order. */
static int resplit(bu_dataset *ds, size_t nq, uint64_t seed)
{
    uint64_t st = seed, *taken;
    float *xq;
    size_t w = 0;
    if (nq == 0 || nq >= ds->nb) {
        fprintf(stderr, "cvstore-bench ann: --split-seed: %zu queries from %zu base rows\n", nq,
                ds->nb);
        return CVS_EINPUT;
    }
    taken = calloc(ds->nb / 64 + 1, sizeof *taken);
    xq = malloc(nq * ds->d * sizeof *xq);
    if (!taken || !xq) {
        free(taken);
        free(xq);
        return CVS_ENOMEM;
    }
    for (size_t i = 0; i < nq;) {
        uint64_t r = cvs__rng_below(&st, ds->nb);
        if (taken[r / 64] >> (r % 64) & 1)
            continue;
        taken[r / 64] |= 1ull << (r % 64);
        memcpy(xq + i * ds->d, ds->xb + r * ds->d, ds->d * sizeof *xq);
        i++;
    }
    for (size_t r = 0; r < ds->nb; r++)
        if (!(taken[r / 64] >> (r % 64) & 1)) {
            if (w != r)
                memcpy(ds->xb + w * ds->d, ds->xb + r * ds->d, ds->d * sizeof *xq);
            w++;
        }
    free(taken);
    if (ds->xq_cvs) cvs_free(ds->xq); else free(ds->xq);
    if (ds->gt_cvs) cvs_free(ds->gt); else free(ds->gt);
    ds->xq = xq;
    ds->xq_cvs = 0;
    ds->nq = nq;
    ds->nb = w;
    ds->gt = NULL;
    ds->gt_cvs = 0;
    ds->gtk = 0;
    return CVS_OK;
}

/* ==== Command ==== */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench ann [--datasets sift,fashion,glove] [--nq N] [--quick]\n"
        "                         [--systems cvstore,faiss,hnswlib] [--csv PATH]\n"
        "                         [--plot PATH.svg | --no-plot] [--data-dir DIR] [--dir TMPDIR]\n"
        "       cvstore-bench ann --base F --query F [--gt F.ivecs] --metric l2|ip|cosine ...\n"
        "Approximate k-NN, side by side: cvstore's IVF index over its codes (public API,\n"
        "CVS_SEARCH_ANN), FAISS (IVF,PQnp / IVF,PQx4fs with and without RFlat / IVF,SQ8 /\n"
        "HNSW32, through the C API) and hnswlib (M=16, efConstruction=200): recall@10,\n"
        "queries per second on 1 and 2 threads, build time and memory per vector.\n"
        "  --datasets LIST  of sift (SIFT10K), fashion (Fashion-MNIST), glove\n"
        "                   (GloVe-100-angular from scripts/fetch-glove.sh); default all\n"
        "  --nq N           first N queries (default 1000)\n"
        "  --max-base N     first N base vectors only (ground truth recomputed)\n"
        "  --quick          for development: --max-base 20000 --nq 200, short timings\n"
        "  --systems LIST   of cvstore, faiss, hnswlib (default all)\n"
        "  --nprobe LIST    IVF lists probed (default 1,2,4,8,16,32,64,128, up to nlist)\n"
        "  --ef LIST        hnswlib ef and FAISS efSearch (default 10,14,20,28,40,56,80,\n"
        "                   112,160,224,320,448,640: steps of at most 1.5x, so peers are\n"
        "                   compared at nearly equal recall)\n"
        "  --rerank LIST    candidates re-scored, cvstore R and FAISS RFlat k_factor*10;\n"
        "                   0 = none (default 0,20,50,100,200)\n"
        "  --refine E       cvstore ivfN,sq8 indexes: the best E of the SQ8 re-rank\n"
        "                   scored again exactly (cvs_search_params.refine; default none)\n"
        "  --cvs-codecs L   ';'-separated codec specs (default opq,pq{d}x4;opq,pq{d/2}x4,\n"
        "                   M a divisor of d; above 256 dimensions pca256,opq,pq128x4;\n"
        "                   pca128,opq,pq64x4)\n"
        "  --no-sweep       cvstore: only the build+tune defaults rows (see below)\n"
        "  --cvs-index L    ';'-separated cvs_build index specs, each built with every\n"
        "                   codec (default ivf: lists chosen from the store's size;\n"
        "                   e.g. ivf64;ivf256,direct; qg: the graph index, --nprobe\n"
        "                   its ef, R=0 its SQ8 rows' answer, R>0 raw re-ranking)\n"
        "  --faiss L        ';'-separated factory strings instead of the default five\n"
        "  --hnsw-build1    also time hnswlib's build on one thread (a second build)\n"
        "  --cpu-clock      single-thread QPS from the process's CPU time, not wall\n"
        "                   time (a machine shared with other jobs); qps2 stays wall\n"
        "  --seed S         cvstore training seed (default 1)\n"
        "  --split-seed S   another query split: --nq random base rows (seeded by S)\n"
        "                   become the queries, removed from the base, exact ground\n"
        "                   truth computed (e.g. GloVe beyond its fixed every-341st\n"
        "                   split; data set names get -splitS)\n"
        "  --csv PATH       write the rows as CSV (dataset,system,config,bytes_per_vector,\n"
        "                   build_s,recall10,qps1,qps2)\n"
        "  --plot PATH.svg  recall@10 vs QPS (gnuplot; default: the CSV's path with .svg,\n"
        "                   else ann.svg)\n"
        "  --data-dir DIR   where siftsmall/ and fashion-mnist/ are (default\n"
        "                   $CVSTORE_DATA, else ../shared/data beside the source tree)\n"
        "  --base/--query/--gt/--metric  any data as files (fvecs, bvecs, npy; ivecs);\n"
        "                   without --gt the exact top 100 is computed by cvstore\n"
        "  --dir DIR        where to make scratch stores\n"
        "Unless --cvs-codecs is given, cvstore also runs as a user would without a\n"
        "sweep: cvs_build with no codec (the chosen codec and index), then cvs_tune\n"
        "--rebuild at recall 0.95 and at 0.99, each searched at the store's defaults:\n"
        "system \"" SYS_DEFAULTS "\", build_s = build + that tune.\n");
}

static int parse_list(const char *s, size_t *out, size_t *n, int allow_zero)
{
    char *end;
    *n = 0;
    while (*s) {
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || (!v && !allow_zero) || *n == MAX_LIST || (*end && *end != ','))
            return -1;
        out[(*n)++] = (size_t)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

/* Splits a ';'-separated list in place into at most MAX_SPECS items. */
static int parse_specs(char *s, char **out, size_t *n)
{
    char *tok, *save = NULL;
    *n = 0;
    for (tok = strtok_r(s, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        if (*n == MAX_SPECS)
            return -1;
        out[(*n)++] = tok;
    }
    return *n ? 0 : -1;
}

int bench_ann(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"datasets", required_argument, 0, 'D'}, {"nq", required_argument, 0, 'n'},
        {"max-base", required_argument, 0, 'x'}, {"quick", no_argument, 0, 'Q'},
        {"systems", required_argument, 0, 'y'}, {"nprobe", required_argument, 0, 'N'},
        {"ef", required_argument, 0, 'E'}, {"rerank", required_argument, 0, 'R'},
        {"cvs-codecs", required_argument, 0, 'C'}, {"faiss", required_argument, 0, 'F'},
        {"cvs-index", required_argument, 0, 'I'}, {"cpu-clock", no_argument, 0, 'U'},
        {"hnsw-build1", no_argument, 0, '1'}, {"seed", required_argument, 0, 'e'},
        {"csv", required_argument, 0, 'c'}, {"plot", required_argument, 0, 'p'},
        {"no-plot", no_argument, 0, 'P'}, {"data-dir", required_argument, 0, 'r'},
        {"base", required_argument, 0, 'b'}, {"query", required_argument, 0, 'q'},
        {"gt", required_argument, 0, 'g'}, {"metric", required_argument, 0, 'm'},
        {"dir", required_argument, 0, 'd'}, {"no-sweep", no_argument, 0, 'S'},
        {"split-seed", required_argument, 0, 'L'}, {"refine", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    options o = {.nprobe = {1, 2, 4, 8, 16, 32, 64, 128}, .n_nprobe = 8,
                 .ef = {10, 14, 20, 28, 40, 56, 80, 112, 160, 224, 320, 448, 640}, .n_ef = 13,
                 .rerank = {0, 20, 50, 100, 200}, .n_rerank = 5,
                 .sys_cvs = 1, .sys_faiss = 1, .sys_hnsw = 1, .min_time = 0.3, .seed = 1};
    const char *datasets = "sift,fashion,glove", *csv = NULL, *plot = NULL, *datadir = NULL;
    const char *base = NULL, *query = NULL, *gt = NULL;
    char *cvs_arg = NULL, *faiss_arg = NULL, *index_arg = NULL;
    cvs_metric metric = CVS_METRIC_L2;
    size_t nq_max = 1000, max_base = 0;
    uint64_t split_seed = 0;
    int split = 0;
    int c, noplot = 0, quick = 0, ret = 2, nq_given = 0;
    char plotbuf[4200];
    bu_dataset dsets[4];
    ds_notes notes[4];
    size_t nds = 0;
    results rs = {0};
    bu_table *t = NULL;
    double t_start = bu_now();

    memset(dsets, 0, sizeof dsets);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'D': datasets = optarg; break;
        case 'n': nq_max = strtoul(optarg, NULL, 10); nq_given = 1; break;
        case 'x': max_base = strtoul(optarg, NULL, 10); break;
        case 'Q': quick = 1; break;
        case 'y':
            o.sys_cvs = strstr(optarg, "cvstore") != NULL;
            o.sys_faiss = strstr(optarg, "faiss") != NULL;
            o.sys_hnsw = strstr(optarg, "hnswlib") != NULL;
            if (!o.sys_cvs && !o.sys_faiss && !o.sys_hnsw) {
                fprintf(stderr, "cvstore-bench ann: bad --systems '%s'\n", optarg);
                return 1;
            }
            break;
        case 'N':
        case 'E':
        case 'R': {
            int bad = c == 'N' ? parse_list(optarg, o.nprobe, &o.n_nprobe, 0)
                    : c == 'E' ? parse_list(optarg, o.ef, &o.n_ef, 0)
                               : parse_list(optarg, o.rerank, &o.n_rerank, 1);
            if (bad) {
                fprintf(stderr, "cvstore-bench ann: bad list '%s'\n", optarg);
                return 1;
            }
            break;
        }
        case 'f': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || v == 0) {
                fprintf(stderr, "cvstore-bench ann: bad --refine '%s' (a count of 1 or more)\n",
                        optarg);
                return 1;
            }
            o.refine = (size_t)v;
            break;
        }
        case 'C': cvs_arg = optarg; break;
        case 'I': index_arg = optarg; break;
        case 'U': o.cpu_clock = 1; break;
        case 'F': faiss_arg = optarg; break;
        case '1': o.hnsw_build1 = 1; break;
        case 'S': o.no_sweep = 1; break;
        case 'e': o.seed = strtoull(optarg, NULL, 10); break;
        case 'L': {
            char *end;
            split_seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) {
                fprintf(stderr, "cvstore-bench ann: bad --split-seed '%s'\n", optarg);
                return 1;
            }
            split = 1;
            break;
        }
        case 'c': csv = optarg; break;
        case 'p': plot = optarg; break;
        case 'P': noplot = 1; break;
        case 'r': datadir = optarg; break;
        case 'b': base = optarg; break;
        case 'q': query = optarg; break;
        case 'g': gt = optarg; break;
        case 'm':
            if (cvs_metric_parse(optarg, &metric) != 0) {
                fprintf(stderr, "cvstore-bench ann: bad --metric '%s'\n", optarg);
                return 1;
            }
            break;
        case 'd': o.tmpparent = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || (!base != !query) || (gt && !base)) {
        usage(stderr);
        return 1;
    }
    if ((cvs_arg && parse_specs(cvs_arg, o.cvs_specs, &o.n_cvs_specs)) ||
        (faiss_arg && parse_specs(faiss_arg, o.faiss_specs, &o.n_faiss_specs)) ||
        (index_arg && parse_specs(index_arg, o.cvs_index, &o.n_cvs_index))) {
        fprintf(stderr, "cvstore-bench ann: bad --cvs-codecs / --cvs-index / --faiss list\n");
        return 1;
    }
    if (bu_tmpdir_check(o.tmpparent))
        return 1;
    if (!o.n_cvs_index) {
        static char ivf[] = "ivf";
        o.cvs_index[o.n_cvs_index++] = ivf;
    }
    if (quick) {
        if (!max_base)
            max_base = 20000;
        if (!nq_given)
            nq_max = 200;
        o.min_time = 0.1;
    }
    o.ncores = omp_get_max_threads();
    datadir = bu_data_dir(datadir);
    if (!plot && !noplot) {
        br_plot_path(csv, "ann.svg", plotbuf, sizeof plotbuf);
        plot = plotbuf;
    }
    if (bu_dataset_select(datasets, base, metric, dsets, sizeof dsets / sizeof dsets[0], &nds))
        return 1;

    /* ---- run, one data set at a time (only one is in memory) ---- */
    for (size_t i = 0; i < nds; i++) {
        bu_dataset *ds = &dsets[i];
        char name[64];
        int rc;
        memcpy(name, ds->name, sizeof name);
        rc = bu_dataset_load(ds, datadir, base, query, gt, nq_max);
        if (!rc && max_base && max_base < ds->nb) {
            bu_dataset_truncate(ds, max_base);
            snprintf(ds->name, sizeof ds->name, "%.40s-%zuk", name, max_base / 1000);
            memcpy(name, ds->name, sizeof name);
        }
        if (!rc && split) {
            rc = resplit(ds, nq_max, split_seed);
            snprintf(ds->name, sizeof ds->name, "%.40s-split%llu", name,
                     (unsigned long long)split_seed);
            memcpy(name, ds->name, sizeof name);
        }
        if (!rc && !ds->gt)
            rc = bu_dataset_exact_gt(ds, GT_K, o.tmpparent);
        if (!rc && ds->gtk < K) {
            fprintf(stderr, "cvstore-bench ann: %s: ground truth has %zu neighbours, need %d\n",
                    name, ds->gtk, K);
            rc = CVS_EINPUT;
        }
        if (!rc)
            rc = run_dataset(&o, ds, &rs, &notes[i]);
        if (rc) {
            /* A failure outside the library (a scratch directory) has said
             * why already and left no library message. */
            const char *m = cvs_errmsg(NULL);
            fprintf(stderr, "cvstore-bench ann: %s: %s%s%s\n", name, cvs_strerror(rc),
                    m && *m ? ": " : "", m && *m ? m : "");
            goto out;
        }
        /* The result rows point at ds->name, which stays. */
        bu_dataset_free(ds);
        memcpy(ds->name, name, sizeof name);
    }

    /* ---- report ---- */
    {
        const char *const hdr[] = {"dataset", "system", "config", "bytes_per_vector",
                                   "build_s", "recall10", "qps1", "qps2"};
        double load = br_load();
        t = bu_table_new(8, hdr);
        for (size_t i = 0; i < rs.n; i++) {
            const result *r = &rs.r[i];
            bu_table_row(t);
            bu_table_cell(t, "%s", r->dataset);
            bu_table_cell(t, "%s", r->system);
            bu_table_cell(t, "%s", r->config);
            bu_table_cell(t, "%.1f", r->bpv);
            bu_table_cell(t, "%.2f", r->build_s);
            bu_table_cell(t, "%.4f", r->r10);
            bu_table_cell(t, "%.0f", r->qps1);
            bu_table_cell(t, "%.0f", r->qps2);
        }
        printf("### ann: recall@10, queries per second (1 and 2 threads), build, memory\n\n"
               "k = 10.  Builds on all %d cores (cvstore: cvs_build, import into the store not "
               "included; FAISS: train + add; hnswlib: inserts).  bytes_per_vector: resident "
               "index / n (FAISS: write_index size; hnswlib: vectors and graph from its "
               "fields, its locks and id map left out; cvstore: cvs_index_info.mem_bytes -- its rerank reads raw vectors "
               "from the LMDB memory map, not counted, except with ,sq8, whose in-memory "
               "re-ranking rows are counted).  Load average at the end: %.2f.  "
               "Wall time %.0f s.\n\n",
               o.ncores, load, bu_now() - t_start);
        bu_table_print(t);
        print_goals(&rs, notes, nds);
    }
    ret = br_write(t, csv, noplot ? NULL : write_plot, &rs, plot);
out:
    bu_table_free(t);
    for (size_t i = 0; i < nds; i++)
        bu_dataset_free(&dsets[i]);
    free(rs.r);
    return ret;
}
