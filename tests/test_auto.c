/* test_auto.c -- the defaults a user gets: cvs_build_choose's rules for
 * small, large, odd, high-dimensional and raw "none" stores (every choice
 * a spec the codec and the IVF accept), cvs_build with no spec building
 * that choice and searching, and cvs_tune with CVS_TUNE_REBUILD reaching
 * its target on a generated store and leaving it consistent. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvstore.h"
#include "index/codes.h"
#include "index/ivf.h"
#include "pq/codec.h"
#include "core/rng.h"
#include "tests/testutil.h"

/* ==== The chooser ==== */

/* cvs_build_choose for count records of dim dimensions must succeed and
 * choose codec and index (either NULL: not checked); returns the choice for
 * any further check. */
static cvs_build_choice chooses(uint64_t count, uint32_t dim, cvs_metric m, cvs_raw raw,
                                const char *codec, const char *index)
{
    cvs_build_choice ch;
    cr_assert_eq(cvs_build_choose(count, dim, m, raw, &ch), 0);
    if (codec)
        cr_assert_str_eq(ch.codec, codec, "%llu x %u", (unsigned long long)count, dim);
    if (index)
        cr_assert_str_eq(ch.index, index, "%llu x %u", (unsigned long long)count, dim);
    return ch;
}

Test(choose, small_stores_get_sq8_and_no_index)
{
    cvs_build_choice ch;
    chooses(1000, 128, CVS_METRIC_L2, CVS_RAW_F32, "sq8", "");
    chooses(2047, 100, CVS_METRIC_COSINE, CVS_RAW_F16, NULL, "");
    ch = chooses(2048, 100, CVS_METRIC_COSINE, CVS_RAW_F16, "opq,pq50x4", NULL);
    cr_assert_neq(ch.index[0], 0, "an index from 2048 records on");
}

Test(choose, list_count_and_sq8_rows_follow_the_size)
{
    /* SIFT10K: 4 sqrt(n) = 400, capped at n / 39 = 256; rows 1.2 MiB. */
    chooses(10000, 128, CVS_METRIC_L2, CVS_RAW_F32, "opq,pq64x4", "ivf256,sq8");
    /* 1M x 128: 4000 lists, and rows (122 MiB): the bound is the machine's
     * memory, not the record count (index/choose.c rule 6; the bound had
     * been 64 MiB, which left 1M x 100 without them, 1.2-1.8x slower). */
    chooses(1000000, 128, CVS_METRIC_L2, CVS_RAW_F32, "opq,pq64x4", "ivf4000,sq8");
    /* GloVe-100 (1.18M, cosine): rows too. */
    chooses(1183514, 100, CVS_METRIC_COSINE, CVS_RAW_F32, "opq,pq50x4", "ivf4351,sq8");
}

Test(choose, sq8_rows_up_to_a_quarter_of_memory_and_2_gib)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t mem = (uint64_t)pages * (uint64_t)size, limit, n;
    cvs_build_choice ch;
    if (pages <= 0 || size <= 0)
        cr_skip_test("the system does not say its memory size");
    /* At d = 256 the rows of n records take 256 n bytes: n = limit / 256 is
     * exactly the limit (a quarter of memory, at most 2 GiB: every process
     * that opens the store holds them), one record more is over it (counts
     * far above the 4 sqrt(n) lists' bounds only change N). */
    limit = mem / 4 < (2ull << 30) ? mem / 4 : (2ull << 30);
    n = limit / 256;
    ch = chooses(n, 256, CVS_METRIC_IP, CVS_RAW_F32, NULL, NULL);
    cr_assert(strstr(ch.index, ",sq8"), "%llu x 256: %s", (unsigned long long)n, ch.index);
    ch = chooses(n + 1, 256, CVS_METRIC_IP, CVS_RAW_F32, NULL, NULL);
    cr_assert_null(strstr(ch.index, ",sq8"), "%llu x 256: %s", (unsigned long long)n + 1,
                   ch.index);
}

Test(choose, high_dimensions_get_pca_and_odd_ones_padding)
{
    /* Fashion-MNIST: 60000 x 784. */
    chooses(60000, 784, CVS_METRIC_L2, CVS_RAW_F32, "pca256,opq,pq128x4", "ivf979,sq8");
    /* 256 dimensions need no PCA. */
    chooses(50000, 256, CVS_METRIC_L2, CVS_RAW_F32, "opq,pq128x4", NULL);
    chooses(50000, 101, CVS_METRIC_L2, CVS_RAW_F32, "opq102,pq51x4", NULL);
}

Test(choose, raw_none_keeps_fidelity)
{
    /* No SQ8 rows without raw vectors. */
    chooses(1000000, 512, CVS_METRIC_COSINE, CVS_RAW_NONE, "sq8", "ivf4000");
    /* Above 512 dimensions sq8 codes do not fit an IVF list: no index. */
    chooses(1000000, 768, CVS_METRIC_COSINE, CVS_RAW_NONE, "sq8", "");
}

Test(choose, every_choice_is_a_valid_spec)
{
    static const uint64_t counts[] = {0, 1, 100, 2048, 9999, 100000, 3000000, 50000000};
    static const uint32_t dims[] = {1, 2, 3, 7, 16, 96, 100, 128, 255, 256, 257, 384, 784, 1536,
                                    CVS_MAX_DIM};
    static const cvs_raw raws[] = {CVS_RAW_F32, CVS_RAW_F16, CVS_RAW_NONE};
    for (size_t a = 0; a < sizeof counts / sizeof counts[0]; a++)
        for (size_t b = 0; b < sizeof dims / sizeof dims[0]; b++)
            for (size_t r = 0; r < 3; r++) {
                cvs_build_choice ch;
                size_t nlist;
                int residual, refine;
                cr_assert_eq(cvs_build_choose(counts[a], dims[b], CVS_METRIC_IP, raws[r], &ch),
                             0);
                cr_assert_eq(cvs__codec_check_spec(ch.codec, dims[b]), 0, "%s for d %u: %s",
                             ch.codec, dims[b], cvs_errmsg(NULL));
                cr_assert_eq(cvs__ivf_parse_spec(ch.index, counts[a], &nlist, &residual,
                                                 &refine), 0, "%s: %s", ch.index,
                             cvs_errmsg(NULL));
                if (*ch.index) {
                    size_t bytes;
                    cr_assert(nlist >= 1 && nlist * 39 <= counts[a], "%s for %llu records",
                              ch.index, (unsigned long long)counts[a]);
                    /* An index the build can make: its codes fit a list. */
                    cr_assert_eq(cvs__codec_spec_code_size(ch.codec, dims[b], CVS_METRIC_IP,
                                                           &bytes), 0);
                    cr_assert_leq(bytes, CVS_IVF_MAX_CODE, "%s with %s at d %u", ch.codec,
                                  ch.index, dims[b]);
                }
            }
}

Test(choose, bad_arguments)
{
    cvs_build_choice ch;
    cr_assert_eq(cvs_build_choose(100, 0, CVS_METRIC_L2, CVS_RAW_F32, &ch), CVS_EINVAL);
    cr_assert_eq(cvs_build_choose(100, CVS_MAX_DIM + 1, CVS_METRIC_L2, CVS_RAW_F32, &ch),
                 CVS_EINVAL);
    cr_assert_eq(cvs_build_choose(100, 8, (cvs_metric)9, CVS_RAW_F32, &ch), CVS_EINVAL);
    cr_assert_eq(cvs_build_choose(100, 8, CVS_METRIC_L2, (cvs_raw)9, &ch), CVS_EINVAL);
    cr_assert_eq(cvs_build_choose(100, 8, CVS_METRIC_L2, CVS_RAW_F32, NULL), CVS_EINVAL);
    cr_assert_eq(cvs_build_choose(100, 8, CVS_METRIC_L2, 0, &ch), 0, "raw 0 means f32");
}

/* ==== Building and tuning a generated store ==== */

#define D 32
#define CLUSTERS 40

static char *dir;
static cvs_db *db;
static float *vecs;
static size_t nvecs;

/* n vectors around CLUSTERS random centres (a spread like real data's, so
 * that an IVF has clusters to find), ids "0".."n-1". */
static void make_store(size_t n, cvs_raw raw)
{
    cvs_create_opts co = {D, CVS_METRIC_L2, raw};
    float *cent = malloc(CLUSTERS * D * sizeof *cent), *noise = malloc(n * D * sizeof *noise);
    cvs_record *recs = calloc(n, sizeof *recs);
    char (*ids)[16] = malloc(n * sizeof *ids);
    uint64_t s = 7;
    cr_assert(cent && noise && recs && ids);
    vecs = malloc(n * D * sizeof *vecs);
    nvecs = n;
    tu_randvecs(cent, CLUSTERS * D, 11);
    tu_randvecs(noise, n * D, 12);
    for (size_t i = 0; i < n; i++) {
        size_t c = cvs__rng_next(&s) % CLUSTERS;
        for (size_t j = 0; j < D; j++)
            vecs[i * D + j] = 4 * cent[c * D + j] + noise[i * D + j];
        recs[i].id_len = (size_t)snprintf(ids[i], sizeof ids[i], "%zu", i);
        recs[i].id = ids[i];
        recs[i].vector = vecs + i * D;
    }
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &co, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, recs, n, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(cent);
    free(noise);
    free(recs);
    free(ids);
}

static void teardown(void)
{
    cvs_db_close(db);
    db = NULL;
    if (dir)
        tu_rmrf(dir);
    free(dir);
    dir = NULL;
    free(vecs);
    vecs = NULL;
}

/* Recall@10 of the ANN search at the store's defaults against exact, on
 * the nq queries q; *se (if not NULL) the standard error of the mean of
 * the per-query recalls. */
static double recall_se(const float *q, size_t nq, double *se)
{
    int64_t *a = malloc(nq * 10 * sizeof *a), *e = malloc(nq * 10 * sizeof *e);
    float *sc = malloc(nq * 10 * sizeof *sc);
    cvs_search_params ap = {.flags = CVS_SEARCH_ANN}, ep = {.flags = CVS_SEARCH_EXACT};
    cvs_txn *t;
    size_t hit = 0;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, nq, 10, &ap, a, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_search_params(t, q, nq, 10, &ep, e, sc), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    double sq = 0, mean;
    for (size_t i = 0; i < nq; i++) {
        size_t h = 0;
        for (size_t j = 0; j < 10; j++)
            for (size_t l = 0; l < 10; l++)
                h += a[i * 10 + j] == e[i * 10 + l];
        hit += h;
        sq += (h / 10.0) * (h / 10.0);
    }
    free(a);
    free(e);
    free(sc);
    mean = (double)hit / (double)(nq * 10);
    if (se)
        *se = sqrt(fmax(0, (sq - (double)nq * mean * mean) / (double)(nq - 1)) / (double)nq);
    return mean;
}

/* The same on nq of the store's vectors (each its own nearest, in both
 * lists). */
static double ann_recall(size_t nq)
{
    return recall_se(vecs, nq, NULL);
}

static uint64_t problems(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0, "%s", cvs_errmsg(db));
    return p;
}

Test(auto_build, no_spec_builds_the_choice_and_searches, .fini = teardown)
{
    cvs_build_choice ch;
    cvs_codec_info ci;
    cvs_index_info ii;
    make_store(5000, CVS_RAW_F32);
    cr_assert_eq(cvs_build_choose(5000, D, CVS_METRIC_L2, CVS_RAW_F32, &ch), 0);
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_str_eq(ci.spec, ch.codec);
    cr_assert_str_eq(ii.spec, ch.index);
    cr_assert_str_eq(ii.spec, "ivf128,sq8", "5000 / 39 = 128 lists, with rows");
    double r = ann_recall(200);
    cr_log_info("auto build: %s %s, recall@10 %.3f at nprobe %zu rerank %zu", ci.spec, ii.spec,
                r, ii.nprobe, ii.rerank);
    cr_assert_geq(r, 0.9, "recall@10 %.3f at the built defaults", r);
    cr_assert_eq(problems(), 0);

    /* "auto" is NULL's spelling; an index given ("" = none) is kept. */
    cr_assert_eq(cvs_build(db, "auto", &(cvs_build_opts){.index = ""}), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, ch.codec);
    /* A codec given, the index chosen. */
    cr_assert_eq(cvs_build(db, "pq8x8", &(cvs_build_opts){.index = "auto"}), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq8x8");
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_str_eq(ii.spec, ch.index);
    cr_assert_eq(problems(), 0);
}

Test(auto_build, tiny_store_gets_codes_and_no_index, .fini = teardown)
{
    cvs_codec_info ci;
    cvs_index_info ii;
    make_store(300, CVS_RAW_F16);
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "sq8");
    cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
    cr_assert_eq(problems(), 0);
}

/* A sample too small for k is the caller's --sample, not the store's size:
 * the message said "too few records (5) ...: add records" of a store of
 * thousands. */
Test(auto_tune, a_sample_too_small_for_k_names_the_sample, .fini = teardown)
{
    cvs_tune_opts to = {.target_recall = 0.9, .sample = 5};
    cvs_tune_result tr;
    make_store(3000, CVS_RAW_F32);
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_tune(db, &to, &tr), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "sample of 5"), "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "at least 11"), "%s", cvs_errmsg(db));
    cr_assert_null(strstr(cvs_errmsg(db), "add records"), "%s", cvs_errmsg(db));
    to.sample = 11;
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
}

/* What a tune reports as it goes: "tune" once per setting measured (each
 * one run of the sample), "compare" once per run of a head-to-head. */
typedef struct tune_reports {
    size_t measured, compared;
} tune_reports;

static void count_reports(void *ctx, const char *phase, uint64_t done, uint64_t total,
                          uint64_t bytes_done, uint64_t bytes_total)
{
    tune_reports *t = ctx;
    (void)done, (void)total, (void)bytes_done, (void)bytes_total;
    t->measured += !strcmp(phase, "tune");
    t->compared += !strcmp(phase, "compare");
}

Test(auto_tune, rebuild_reaches_the_target_and_keeps_the_store_consistent, .fini = teardown)
{
    tune_reports rep = {0};
    cvs_tune_opts to = {.target_recall = 0.95, .sample = 100, .flags = CVS_TUNE_REBUILD,
                        .progress = count_reports, .progress_ctx = &rep};
    cvs_tune_result tr;
    cvs_index_info ii;
    make_store(6000, CVS_RAW_F32);
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    /* 6000 / 39 = 153 lists: doubling is over the limit, so the tries are
     * without ",sq8", half the lists and, if half won, a quarter, plus at
     * most the winner's rebuild. */
    cr_assert_str_eq(ii.spec, "ivf153,sq8");
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_log_info("tune --rebuild: %s nprobe %zu rerank %zu recall %.3f %.3f ms, %d rebuilds",
                tr.index, tr.nprobe, tr.rerank, tr.recall, tr.ms_per_query, tr.rebuilds);
    cr_assert(tr.reached);
    cr_assert_geq(tr.recall, 0.95);
    cr_assert(tr.rebuilds >= 2 && tr.rebuilds <= 4, "%d rebuilds", tr.rebuilds);
    /* The work is bounded by the design, not by the machine (index/tune.c
     * deviations 10-13): every setting measured is one run of the sample,
     * and only the two a (rerank, refine) pair's cost is read from (its
     * last failing and its passing setting) get the other 4 of the 5 timed
     * runs: at most 8 runs for each of the 13 pairs of a ",sq8" index, in
     * each of at most rebuilds + 1 knob searches, plus 4 for the most
     * accurate setting when none passes and the one run that checks a
     * rebuilt winner.  A head-to-head is at most 9 rounds of 24 runs (3
     * settings a side at 2 nprobe each, twice), one after each of the 3
     * tries at most.  Timing every setting 5 times, as tune did, makes
     * `searches` 5 x `measured` and breaks the first bound. */
    cr_log_info("%zu searches of the sample: %zu settings measured, %zu runs compared",
                tr.searches, rep.measured, rep.compared);
    cr_assert_gt(rep.measured, 0);
    cr_assert_leq(tr.searches,
                  rep.measured + rep.compared + 8 * 13 * ((size_t)tr.rebuilds + 1) + 4 + 1,
                  "%zu searches, %zu settings measured", tr.searches, rep.measured);
    cr_assert_leq(rep.compared, 3 * 9 * 24);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_str_eq(ii.spec, tr.index, "the result names the index in the store");
    cr_assert(!strcmp(ii.spec, "ivf153,sq8") || !strcmp(ii.spec, "ivf153") ||
              !strcmp(ii.spec, "ivf76,sq8") || !strcmp(ii.spec, "ivf76") ||
              !strcmp(ii.spec, "ivf38,sq8") || !strcmp(ii.spec, "ivf38"), "%s", ii.spec);
    cr_assert_eq(ii.nprobe, tr.nprobe, "the defaults are the tuned knobs");
    cr_assert_eq(ii.count, 6000);
    cr_assert_eq(problems(), 0);
    /* Measured on 100 of the store's vectors (self excluded); on 300
     * others, with self included in both lists, within sampling error. */
    double r = ann_recall(300);
    cr_assert_geq(r, 0.92, "recall@10 %.3f at the tuned defaults", r);

    /* Without the flag nothing is rebuilt. */
    to.flags = 0;
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(tr.rebuilds, 0);
    cr_assert_str_eq(tr.index, ii.spec);
    to.flags = 0x80;
    cr_assert_eq(cvs_tune(db, &to, &tr), CVS_EINVAL);
}

static double recall_on(const float *q, size_t nq)
{
    return recall_se(q, nq, NULL);
}

/* Queries of another distribution than the stored vectors -- here the
 * midpoints of two stored vectors of different clusters, which lie between
 * clusters, where an IVF must probe more lists -- reach a target only when
 * tune measures them (opts->queries), not the store's own vectors. */
Test(auto_tune, workload_queries_are_what_is_measured, .fini = teardown)
{
    enum { NQ = 200 };
    cvs_tune_opts own = {.target_recall = 0.95, .sample = 200};
    cvs_tune_opts wl = {.target_recall = 0.95, .queries = NULL};
    cvs_tune_result tr_own, tr_wl;
    float *q = malloc(2 * NQ * D * sizeof *q);
    uint64_t s = 99;
    cr_assert(q);
    make_store(6000, CVS_RAW_F32);
    cr_assert_eq(cvs_build(db, NULL, &(cvs_build_opts){.index = "ivf153"}), 0, "%s",
                 cvs_errmsg(db));
    for (size_t i = 0; i < 2 * NQ; i++) {
        size_t a = cvs__rng_next(&s) % nvecs, b = cvs__rng_next(&s) % nvecs;
        for (size_t j = 0; j < D; j++)
            q[i * D + j] = 0.5f * (vecs[a * D + j] + vecs[b * D + j]);
    }
    cr_assert_eq(cvs_tune(db, &own, &tr_own), 0, "%s", cvs_errmsg(db));
    double r_own = recall_on(q, NQ);
    cr_log_info("tuned on stored vectors: nprobe %zu rerank %zu, recall %.3f there, %.3f on "
                "the midpoints", tr_own.nprobe, tr_own.rerank, tr_own.recall, r_own);
    cr_assert_lt(r_own, 0.95, "precondition: the midpoints are harder (%.3f)", r_own);

    wl.queries = q;
    wl.nqueries = NQ;
    cr_assert_eq(cvs_tune(db, &wl, &tr_wl), 0, "%s", cvs_errmsg(db));
    cr_log_info("tuned on midpoints: nprobe %zu rerank %zu, recall %.3f", tr_wl.nprobe,
                tr_wl.rerank, tr_wl.recall);
    cr_assert(tr_wl.reached);
    double r_same = recall_on(q, NQ), r_other = recall_on(q + NQ * D, NQ);
    cr_assert_float_eq(r_same, tr_wl.recall, 1e-9, "the stored defaults give what tune "
                       "measured on the same queries (%.3f, %.3f)", r_same, tr_wl.recall);
    cr_assert_geq(r_same, 0.95);
    cr_assert_geq(r_other, 0.92, "%.3f on 200 other midpoints", r_other);

    /* A setting reaches the target when the lower bound of its recall's
     * one-sided 90% confidence interval does (tune.c deviation 5): over 20
     * queries that is about 0.04 above the mean's own threshold. */
    for (size_t off = 0; off < 2 * NQ; off += 40) {
        double se, m;
        wl.queries = q + off * D;
        wl.nqueries = 20;
        cr_assert_eq(cvs_tune(db, &wl, &tr_wl), 0, "%s", cvs_errmsg(db));
        m = recall_se(q + off * D, 20, &se);
        cr_assert_float_eq(m, tr_wl.recall, 1e-9);
        cr_assert(!tr_wl.reached || m - 1.2816 * se >= 0.95 - 1e-9,
                  "20 queries: nprobe %zu R %zu, recall %.3f, standard error %.4f", tr_wl.nprobe,
                  tr_wl.rerank, m, se);
    }

    /* queries and nqueries go together. */
    wl.queries = q;
    wl.nqueries = 0;
    cr_assert_eq(cvs_tune(db, &wl, &tr_wl), CVS_EINVAL);
    free(q);
}

/* tune's rebuilds over direct codes keep the codec: the same blob before
 * and after, a new index, a consistent store; residual codes are refused
 * (their codec depends on the lists). */
Test(auto_tune, reindex_keeps_the_codec, .fini = teardown)
{
    void *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    cvs_index_info ii;
    make_store(3000, CVS_RAW_F32);
    /* Seed 5 here, the default seed 1 in the rebuild: a codec trained
     * again would differ. */
    cr_assert_eq(cvs_build(db, NULL, &(cvs_build_opts){.seed = 5}), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_codec_export(db, &a, &na), 0);
    cr_assert_eq(cvs__codes_reindex(db, &(cvs_build_opts){.index = "ivf20,direct"}), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_codec_export(db, &b, &nb), 0);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0, "the codec was trained again");
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_str_eq(ii.spec, "ivf20");
    cr_assert_eq(ii.count, 3000);
    cr_assert_eq(problems(), 0);
    cr_assert_geq(ann_recall(100), 0.9);
    cr_assert_eq(cvs__codes_reindex(db, &(cvs_build_opts){.index = "ivf20,residual"}),
                 CVS_EINVAL);
    cvs_free(a);
    cvs_free(b);
}
