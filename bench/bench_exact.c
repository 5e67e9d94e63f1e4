/*
 * bench_exact.c -- `cvstore-bench exact`: single-thread exact-search QPS of
 * cvs_search(..., CVS_SEARCH_EXACT) against FAISS's IndexFlat on the same
 * data in the same process, batched (all queries in one call, where BLAS
 * does the work) and one query per call (the latency-bound case an
 * interactive caller sees).
 *
 * Why single-threaded: it compares the kernels, not the machines' core
 * counts, and it is the number that scales predictably.  OpenBLAS and OpenMP
 * are both pinned to one thread, because FAISS's flat search uses sgemm for
 * batches of 20 or more queries and OpenMP loops below that.
 *
 * Why FAISS sees normalized data for cosine: IndexFlat has no cosine metric;
 * cosine is inner product on unit vectors, which is also what cvstore does
 * internally (vectors normalized once at insert).
 *
 * Recall@k is measured against --gt when given; otherwise the column is the
 * agreement of each engine's top k with the other's (cvstore is compared to
 * FAISS batched, FAISS to cvstore batched), which should be ~1.0 for exact
 * search, short of ties and float rounding.
 */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>

#include "bench/bench.h"
#include "bench/benchutil.h"
#include "index/faiss_util.h"

/* OpenBLAS's own control; declared here rather than pulling cblas.h, whose
 * location differs between the pthread and openmp builds. */
extern void openblas_set_num_threads(int);

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench exact [--base FILE --query FILE] [--gt FILE.ivecs]\n"
        "                           [--metric l2|ip|cosine] [-k K] [--nq N]\n"
        "                           [--max-seconds S] [--reps R] [--dir TMPDIR] [--csv PATH]\n"
        "Single-thread exact k-NN search: cvstore (CVS_SEARCH_EXACT) vs FAISS IndexFlat,\n"
        "all queries in one call and one query per call.\n"
        "  --base FILE      vectors to search (imported into a temporary store)\n"
        "  --query FILE     query vectors\n"
        "  --gt FILE        ground truth (ivecs); recall@k is measured against it,\n"
        "                   else each engine's agreement with the other\n"
        "  --metric M       l2 (default with --base), ip or cosine\n"
        "  -k K             neighbours per query (default 10)\n"
        "  --nq N           use the first N queries (default all)\n"
        "  --max-seconds S  stop each one-query-per-call run after S seconds (default 15)\n"
        "  --reps R         batched runs: best of R (default 3)\n"
        "  --dir DIR        where to make the temporary store\n"
        "  --csv PATH       also write the table as CSV\n"
        "With no --base: GloVe 100-d (scripts/fetch-glove.sh), cosine, base = all\n"
        "341,479 words, queries = 1000 of them (every 341st word).\n");
}


/* Mean |a ∩ b| / k over the first nq rows; a has stride k, b stride bstride
 * (ground truth files often hold 100 neighbours). */
static double overlap(const int64_t *a, const int64_t *b, size_t bstride, size_t nq, size_t k)
{
    double sum = 0;
    if (nq == 0)
        return NAN;
    for (size_t q = 0; q < nq; q++) {
        size_t hit = 0;
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (a[q * k + i] >= 0 && a[q * k + i] == b[q * bstride + j]) {
                    hit++;
                    break;
                }
        sum += (double)hit / (double)k;
    }
    return sum / (double)nq;
}

/* One timed run: results land in lab/dis (nq*k); *done says how many queries
 * were answered (all, for batched runs). */
typedef struct run {
    const char *engine, *mode;
    size_t done;
    double seconds;
    int64_t *lab;
    float *dis;
} run;

typedef struct ctx {
    cvs_db *db;
    FaissIndex *flat;
    const float *q;      /* queries as given (cvstore normalizes itself) */
    const float *qf;     /* queries as FAISS needs them */
    size_t nq, k;
    uint32_t dim;
    double max_s;
    int reps;
} ctx;

static int search_cvs(const ctx *c, const float *q, size_t n, int64_t *lab, float *dis)
{
    return cvs_search(c->db, q, n, c->k, CVS_SEARCH_EXACT, lab, dis);
}

static int search_faiss(const ctx *c, const float *q, size_t n, int64_t *lab, float *dis)
{
    return cvs__faiss_err(faiss_Index_search(c->flat, (idx_t)n, q, (idx_t)c->k, dis, lab),
                          "FAISS IndexFlat search");
}

typedef int (*search_fn)(const ctx *, const float *, size_t, int64_t *, float *);

/* Warm-up: faults in the store's pages / the index's memory, so the first
 * timed query does not pay for the page cache. */
static void warm_up(const ctx *c, run *r, int faiss)
{
    search_fn fn = faiss ? search_faiss : search_cvs;
    bu_check(fn(c, faiss ? c->qf : c->q, 1, r->lab, r->dis), r->engine);
    r->seconds = INFINITY;
}

/* One batched run: all queries in one call; r keeps the fastest run. */
static void timed_batch(const ctx *c, run *r, int faiss)
{
    search_fn fn = faiss ? search_faiss : search_cvs;
    double t0 = bu_now(), s;
    bu_check(fn(c, faiss ? c->qf : c->q, c->nq, r->lab, r->dis), r->engine);
    s = bu_now() - t0;
    if (s < r->seconds)
        r->seconds = s;
    r->done = c->nq;
}

/* One query per call until all are answered or max_s has passed. */
static void timed_single(const ctx *c, run *r, int faiss)
{
    search_fn fn = faiss ? search_faiss : search_cvs;
    const float *q = faiss ? c->qf : c->q;
    double t0 = bu_now();

    fprintf(stderr, "  %s, %s ...\n", r->engine, r->mode);
    for (r->done = 0; r->done < c->nq; r->done++) {
        bu_check(fn(c, q + r->done * c->dim, 1, r->lab + r->done * c->k,
                    r->dis + r->done * c->k), r->engine);
        if (bu_now() - t0 > c->max_s) {
            r->done++;
            break;
        }
    }
    r->seconds = bu_now() - t0;
}

/* cvstore labels are internal keys; the base was imported with ids "0",
 * "1", ..., so the id names the row, which is what FAISS and the ground
 * truth use. */
static void keys_to_rows(cvs_db *db, int64_t *lab, size_t n)
{
    cvs_txn *txn = NULL;
    bu_check(cvs_txn_begin(db, &txn), "read snapshot");
    for (size_t i = 0; i < n; i++) {
        const char *id;
        size_t len;
        char buf[32];
        if (lab[i] < 0)
            continue;
        bu_check(cvs_key_id(txn, lab[i], &id, &len), "key to id");
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), id);
        lab[i] = strtoll(buf, NULL, 10);
    }
    cvs_txn_end(txn);
}

int bench_exact(int argc, char **argv)
{
    static const struct option opts[] = {
        {"base", required_argument, 0, 'b'}, {"query", required_argument, 0, 'q'},
        {"gt", required_argument, 0, 'g'}, {"metric", required_argument, 0, 'm'},
        {"nq", required_argument, 0, 'n'}, {"max-seconds", required_argument, 0, 'S'},
        {"dir", required_argument, 0, 'd'}, {"csv", required_argument, 0, 'c'},
        {"reps", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    char glove_fvecs[4096], glove_words[4096], storepath[4200];
    const char *base = NULL, *query = NULL, *gtpath = NULL, *parent = NULL, *csv = NULL;
    int have_metric = 0, c, ret = 2;
    cvs_metric metric = CVS_METRIC_L2;
    size_t k = 10, nq_max = 0;
    double max_s = 15;
    int reps = 3;
    float *xb = NULL, *xq = NULL, *xqf = NULL;
    int32_t *gt = NULL;
    size_t nb = 0, nq = 0, ngt = 0;
    uint32_t dim = 0, qdim = 0, gtdim = 0;
    char *dir = NULL;
    cvs_db *db = NULL;
    FaissIndex *flat = NULL;
    run runs[4] = {{"cvstore", "batched", 0, 0, 0, 0}, {"cvstore", "1 query/call", 0, 0, 0, 0},
                   {"faiss IndexFlat", "batched", 0, 0, 0, 0},
                   {"faiss IndexFlat", "1 query/call", 0, 0, 0, 0}};

    optind = 1;
    while ((c = getopt_long(argc, argv, "hk:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': base = optarg; break;
        case 'q': query = optarg; break;
        case 'g': gtpath = optarg; break;
        case 'm':
            if (cvs_metric_parse(optarg, &metric) != 0) {
                fprintf(stderr, "cvstore-bench exact: bad --metric '%s'\n", optarg);
                return 1;
            }
            have_metric = 1;
            break;
        case 'k': k = strtoul(optarg, NULL, 10); break;
        case 'n': nq_max = strtoul(optarg, NULL, 10); break;
        case 'S': max_s = strtod(optarg, NULL); break;
        case 'R': reps = atoi(optarg); break;
        case 'd': parent = optarg; break;
        case 'c': csv = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || reps < 1 || k < 1 || k > 4096 || (query && !base) || (base && !query)) {
        usage(stderr);
        return 1;
    }

    /* ---- data ---- */
    if (!base) {
        if (bu_glove_paths(glove_fvecs, glove_words, sizeof glove_fvecs) != 0)
            return 2;
        base = glove_fvecs;
        if (!have_metric)
            metric = CVS_METRIC_COSINE;
        fprintf(stderr, "cvstore-bench exact: loading %s\n", base);
        bu_check(cvs_vecs_load(base, CVS_FMT_AUTO, &xb, &nb, &dim), base);
        /* Queries are words from across the frequency range: every 341st. */
        size_t want = nq_max ? nq_max : 1000;
        xq = malloc(sizeof(float) * want * dim);
        if (!xq)
            bu_check(CVS_ENOMEM, "queries");
        for (size_t i = 0; i < nb && nq < want; i += 341)
            memcpy(xq + nq++ * dim, xb + i * dim, sizeof(float) * dim);
        qdim = dim;
    } else {
        fprintf(stderr, "cvstore-bench exact: loading %s and %s\n", base, query);
        bu_check(cvs_vecs_load(base, CVS_FMT_AUTO, &xb, &nb, &dim), base);
        bu_check(cvs_vecs_load(query, CVS_FMT_AUTO, &xq, &nq, &qdim), query);
        if (nq_max && nq_max < nq)
            nq = nq_max;
    }
    if (qdim != dim) {
        fprintf(stderr, "cvstore-bench exact: queries have dim %u, base %u\n", qdim, dim);
        goto out;
    }
    if (gtpath) {
        bu_check(cvs_ivecs_load(gtpath, &gt, &ngt, &gtdim), gtpath);
        if (ngt < nq || gtdim < k) {
            fprintf(stderr, "cvstore-bench exact: %s has %zu rows of %u; need %zu of >= %zu\n",
                    gtpath, ngt, gtdim, nq, k);
            goto out;
        }
    }
    if (k > nb)
        k = nb;

    /* ---- the store ---- */
    if (!(dir = bu_tmpdir(parent)))
        goto out;
    snprintf(storepath, sizeof storepath, "%s/store", dir);
    {
        cvs_create_opts co = {.dim = dim, .metric = metric, .raw = CVS_RAW_F32};
        cvs_import_opts io = {.format = CVS_FMT_AUTO, .progress = bu_progress};
        cvs_import_stats st;
        double t0 = bu_now();
        fprintf(stderr, "cvstore-bench exact: importing %zu x %u (%s) into %s\n", nb, dim,
                cvs_metric_name(metric), storepath);
        bu_check(cvs_db_create(storepath, &co, &db), "creating the store");
        bu_check(cvs_import(db, base, &io, &st), base);
        fprintf(stderr, "  imported in %.1f s\n", bu_now() - t0);
    }

    /* ---- FAISS ---- */
    if (metric == CVS_METRIC_COSINE) {
        bu_normalize_rows(xb, nb, dim);
        if (!(xqf = malloc(sizeof(float) * nq * dim)))
            bu_check(CVS_ENOMEM, "queries");
        memcpy(xqf, xq, sizeof(float) * nq * dim);
        bu_normalize_rows(xqf, nq, dim);
    }
    {
        int frc;
        double t0 = bu_now();
        if (metric == CVS_METRIC_L2)
            frc = faiss_IndexFlatL2_new_with((FaissIndexFlatL2 **)&flat, dim);
        else
            frc = faiss_IndexFlatIP_new_with((FaissIndexFlatIP **)&flat, dim);
        bu_check(cvs__faiss_err(frc, "IndexFlat"), "FAISS");
        bu_check(cvs__faiss_err(faiss_Index_add(flat, (idx_t)nb, xb), "IndexFlat add"), "FAISS");
        fprintf(stderr, "  FAISS IndexFlat%s built in %.1f s\n",
                metric == CVS_METRIC_L2 ? "L2" : "IP", bu_now() - t0);
    }

    /* ---- searches ---- */
    /* Other processes' load is the main source of noise; it goes in the
     * report so numbers from a busy machine can be recognized as such. */
    double load = 0;
    if (getloadavg(&load, 1) != 1)
        load = NAN;
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    for (int i = 0; i < 4; i++) {
        runs[i].lab = malloc(sizeof(int64_t) * nq * k);
        runs[i].dis = malloc(sizeof(float) * nq * k);
        if (!runs[i].lab || !runs[i].dis)
            bu_check(CVS_ENOMEM, "result buffers");
    }
    ctx cx = {db, flat, xq, xqf ? xqf : xq, nq, k, dim, max_s, reps};
    fprintf(stderr, "cvstore-bench exact: %zu queries, k=%zu, 1 thread\n", nq, k);
    for (int i = 0; i < 4; i++)
        warm_up(&cx, &runs[i], i >= 2);
    /* Batched runs alternate between the engines, and each keeps its best:
     * other processes on a small machine only ever make a run slower, and
     * alternating spreads a burst of them over both engines. */
    for (int i = 0; i < reps; i++) {
        fprintf(stderr, "  batched, round %d of %d ...\n", i + 1, reps);
        timed_batch(&cx, &runs[0], 0);
        timed_batch(&cx, &runs[2], 1);
    }
    timed_single(&cx, &runs[1], 0);
    timed_single(&cx, &runs[3], 1);
    keys_to_rows(db, runs[0].lab, nq * k);
    keys_to_rows(db, runs[1].lab, runs[1].done * k);

    /* ---- report ---- */
    int64_t *gt64 = NULL;
    if (gt) {
        if (!(gt64 = malloc(sizeof(int64_t) * nq * gtdim)))
            bu_check(CVS_ENOMEM, "ground truth");
        for (size_t i = 0; i < nq * gtdim; i++)
            gt64[i] = gt[i];
    }
    char qcol[64];
    snprintf(qcol, sizeof qcol, gt ? "recall@%zu" : "agreement@%zu", k);
    const char *const header[] = {"engine", "mode", "queries", "seconds", "QPS", qcol};
    bu_table *t = bu_table_new(6, header);
    for (int i = 0; i < 4; i++) {
        /* Without ground truth, cvstore is checked against FAISS and FAISS
         * against cvstore: either being wrong shows up in both rows. */
        const int64_t *ref = gt64 ? gt64 : runs[i < 2 ? 2 : 0].lab;
        double ov = overlap(runs[i].lab, ref, gt64 ? gtdim : k, runs[i].done, k);
        bu_table_row(t);
        bu_table_cell(t, "%s", runs[i].engine);
        bu_table_cell(t, "%s", runs[i].mode);
        bu_table_cell(t, "%zu", runs[i].done);
        bu_table_cell(t, "%.3f", runs[i].seconds);
        bu_table_cell(t, "%.1f", runs[i].seconds > 0 ? (double)runs[i].done / runs[i].seconds : 0);
        bu_table_cell(t, "%.4f", ov);
    }
    printf("### exact search: %s (%zu x %u, %s), %zu queries, k=%zu, 1 thread\n\n"
           "Batched: best of %d runs.  1 query/call: queries answered in %.0f s at most.  "
           "Load average at start: %.2f.\n\n",
           base, nb, dim, cvs_metric_name(metric), nq, k, reps, max_s, load);
    bu_table_print(t);
    printf("\npeak RSS %.0f MB\n", (double)bu_rss_peak() / 1e6);
    ret = 0;
    if (csv && bu_table_csv(t, csv) != 0)
        ret = 2;
    bu_table_free(t);
    free(gt64);

out:
    for (int i = 0; i < 4; i++) {
        free(runs[i].lab);
        free(runs[i].dis);
    }
    if (flat)
        faiss_Index_free(flat);
    cvs_db_close(db);
    bu_rmrf(dir);
    free(dir);
    cvs_free(xb);
    if (base == glove_fvecs)
        free(xq);
    else
        cvs_free(xq);
    free(xqf);
    cvs_free(gt);
    return ret;
}
