/* test_ivf.c -- the IVF index over the codes: recall against exact search
 * on SIFT10K, nprobe p answering exactly as a brute-force scan of the codes
 * in the p nearest lists, incremental puts / deletes / updates without a
 * rebuild, reclaimed space, snapshots, a second handle and a second process,
 * reopen without retraining, a build killed part-way, the allow-bitmap, and
 * thread-count independence. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cpu.h"
#include "cvstore.h"
#include "index/ivf.h"
#include "index/search.h"
#include "pq/codec.h"
#include "tests/testutil.h"

/* ==== SIFT10K ==== */

static tu_sift sift;
static char *dir;
static cvs_db *db;

static void load_sift(void)
{
    tu_sift_load(&sift, &dir, &db);
}

static void unload(void)
{
    tu_sift_unload(&sift, &dir, &db);
}

static void search(cvs_db *d, const cvs_search_params *p, const float *q, size_t n, size_t k,
                   int64_t *l, float *s)
{
    cvs_txn *t;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, n, k, p, l, s), 0, "%s", cvs_errmsg(d));
    cvs_txn_end(t);
}

/* 10-recall@10 against the official ground truth (keys are row + 1). */
static double recall10(const int64_t *l)
{
    size_t hit = 0;
    for (size_t i = 0; i < sift.nq; i++)
        for (size_t j = 0; j < 10; j++)
            for (size_t h = 0; h < 10; h++)
                if (l[i * 10 + j] == (int64_t)sift.gt[i * sift.gdim + h] + 1) {
                    hit++;
                    break;
                }
    return (double)hit / (10.0 * sift.nq);
}

/* The exact L2 distance of query qi to the base vector of record key. */
static double exact_dist(size_t qi, int64_t key)
{
    const float *x = sift.base + (size_t)(key - 1) * sift.dim, *q = sift.query + qi * sift.dim;
    double e = 0;
    for (uint32_t d = 0; d < sift.dim; d++)
        e += ((double)q[d] - x[d]) * ((double)q[d] - x[d]);
    return sqrt(e);
}

/* Searches all queries with p into l2/s2 and requires exactly l/s. */
static void same_answers(const cvs_search_params *p, const int64_t *l, const float *s,
                         int64_t *l2, float *s2)
{
    search(db, p, sift.query, sift.nq, 10, l2, s2);
    cr_assert_eq(memcmp(l, l2, sift.nq * 10 * sizeof *l), 0);
    cr_assert_eq(memcmp(s, s2, sift.nq * 10 * sizeof *s), 0);
}

Test(ivf, sift_recall_reopen_threads_info, .init = load_sift, .fini = unload, .timeout = 240)
{
    cvs_build_opts bo = {0};
    cvs_index_info ii;
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .threads = 1};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l), *l2 = malloc(sift.nq * 10 * sizeof *l2);
    float *s = malloc(sift.nq * 10 * sizeof *s), *s2 = malloc(sift.nq * 10 * sizeof *s2);
    double r_full, r_mid;

    cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
    bo.index = "ivf64,residual"; /* l2 default is direct; residual has its own path */
    cr_assert_eq(cvs_build(db, "pq32x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(ii.spec, "ivf64");
    cr_assert_eq(ii.nlist, 64);
    cr_assert_eq(ii.count, sift.nb);
    cr_assert_eq(ii.residual, 1);
    cr_assert_gt(ii.mem_bytes, sift.nb * 16);
    cr_assert_lt(ii.mem_bytes, sift.nb * 137, "%llu bytes", (unsigned long long)ii.mem_bytes);
    cr_assert_gt(ii.disk_bytes, sift.nb * 16);

    /* All lists probed, no re-ranking: the exhaustive scan of the codes. */
    p.nprobe = 64;
    p.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK;
    search(db, &p, sift.query, sift.nq, 10, l, s);
    r_full = recall10(l);
    {
        cvs_search_params c = {.flags = CVS_SEARCH_CODES};
        search(db, &c, sift.query, sift.nq, 10, l2, s2);
        cr_assert_eq(recall10(l2), r_full);
    }
    cr_assert_gt(r_full, 0.5, "codes-only recall %.3f", r_full);
    /* Moderate nprobe with re-ranking. */
    p.flags = CVS_SEARCH_ANN;
    p.nprobe = 12;
    p.rerank = 100;
    search(db, &p, sift.query, sift.nq, 10, l, s);
    r_mid = recall10(l);
    cr_assert_geq(r_mid, 0.93, "recall %.3f at nprobe 12, rerank 100", r_mid);

    /* A batch on two threads gives exactly the single-thread results. */
    p.threads = 2;
    same_answers(&p, l, s, l2, s2);
    /* One query at a time too. */
    p.threads = 1;
    for (size_t i = 0; i < sift.nq; i++)
        search(db, &p, sift.query + i * sift.dim, 1, 10, l2 + i * 10, s2 + i * 10);
    cr_assert_eq(memcmp(l, l2, sift.nq * 10 * sizeof *l), 0);

    /* Reopen: the lists come back from the store, identical. */
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    same_answers(&p, l, s, l2, s2);
    /* Read-only opens work as well. */
    {
        cvs_db *ro;
        cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &ro), 0);
        search(ro, &p, sift.query, sift.nq, 10, l2, s2);
        cr_assert_eq(memcmp(l, l2, sift.nq * 10 * sizeof *l), 0);
        cvs_db_close(ro);
    }

    /* Defaults. */
    cr_assert_eq(cvs_index_set_defaults(db, 5, 77), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.nprobe, 5);
    cr_assert_eq(ii.rerank, 77);
    cr_assert_eq(cvs_index_set_defaults(db, 0, 50), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.nprobe, 5);
    cr_assert_eq(ii.rerank, 50);

    /* A metadata filter through the index: only the allowed ids, and all
     * of them when fewer than k match. */
    {
        cvs_filter *f = NULL;
        cvs_txn *t;
        cr_assert_eq(cvs_filter_parse("{\"$ids\": [\"5\", \"17\"]}", 0, &f), 0);
        p.filter = f;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, sift.query, 1, 10, &p, l, s), 0, "%s",
                     cvs_errmsg(db));
        cvs_txn_end(t);
        cr_assert((l[0] == 6 && l[1] == 18) || (l[0] == 18 && l[1] == 6), "%lld %lld",
                  (long long)l[0], (long long)l[1]);
        for (int j = 2; j < 10; j++)
            cr_assert_eq(l[j], -1);
        p.filter = NULL;
        cvs_filter_free(f);
    }
    free(l);
    free(l2);
    free(s);
    free(s2);
}

/* The centres of the store's rabitq codec: its parameters are the
 * rotation (d x D floats) and K x D centres (docs/FORMAT.md). */
static size_t rabitq_centres(cvs_db *d)
{
    void *blob = NULL;
    size_t len = 0, k;
    cvs_codec *c = NULL;
    cr_assert_eq(cvs_codec_export(d, &blob, &len), 0, "%s", cvs_errmsg(d));
    cr_assert_eq(cvs__codec_deserialize(blob, len, &c), 0, "%s", cvs_errmsg(NULL));
    k = cvs__codec_param_bytes(c) / sizeof(float) / 128 - 128; /* SIFT: d = D = 128 */
    cvs__codec_free(c);
    free(blob);
    return k;
}

/* RaBitQ codes under IVF (residual and direct), SIFT10K: codes-only recall
 * above a low floor, and re-ranking by the error bound (ivf_search.c
 * deviation 4): the recall of a deep re-rank with far fewer reads than the
 * cap R, which a fixed-depth re-rank would read in full.  Reopening keeps
 * the answers. */
Test(ivf, rabitq_bound_rerank_reopen, .init = load_sift, .fini = unload, .timeout = 240)
{
    cvs_build_opts bo = {.index = "ivf64,residual"};
    cvs_search_params p = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = 64,
                           .threads = 1};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l), *l2 = malloc(sift.nq * 10 * sizeof *l2);
    float *s = malloc(sift.nq * 10 * sizeof *s), *s2 = malloc(sift.nq * 10 * sizeof *s2);
    uint64_t r0, q0, r1, q1;
    double rc_only, rr, reads;

    cr_assert_eq(cvs_build(db, "rabitq4", &bo), 0, "%s", cvs_errmsg(db));
    /* Residual codes are centred on their lists: one codec centre
     * (index/codes.c). */
    cr_assert_eq(rabitq_centres(db), 1);
    search(db, &p, sift.query, sift.nq, 10, l, s);
    rc_only = recall10(l);
    cr_assert_gt(rc_only, 0.7, "codes-only recall %.3f", rc_only);

    p.flags = CVS_SEARCH_ANN;
    p.nprobe = 12;
    p.rerank = 100;
    cvs__ivf_rerank_counts(&r0, &q0);
    search(db, &p, sift.query, sift.nq, 10, l, s);
    cvs__ivf_rerank_counts(&r1, &q1);
    rr = recall10(l);
    reads = (double)(r1 - r0) / (double)(q1 - q0);
    cr_log_info("rabitq4 ivf64: codes-only recall %.4f (all lists), nprobe 12 re-ranked %.4f "
                "with %.1f reads/query (cap 100)", rc_only, rr, reads);
    cr_assert_eq(q1 - q0, sift.nq);
    cr_assert_geq(rr, 0.93, "recall %.3f at nprobe 12", rr);
    cr_assert_lt(reads, 50.0, "%.1f reads per query", reads);
    cr_assert_geq(reads, 10.0); /* at least the k answers are re-scored */
    /* Scores of re-ranked answers are exact distances. */
    for (size_t j = 0; j < 10; j++) {
        double e = exact_dist(0, l[j]);
        cr_assert_float_eq(s[j], e, 1e-3 * e + 1e-3);
    }

    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    same_answers(&p, l, s, l2, s2);

    /* Direct codes (the l2 default) work too. */
    bo.index = "ivf64";
    cr_assert_eq(cvs_build(db, "rabitq4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(rabitq_centres(db), 256); /* 10,000 vectors: one per 39, at most 256 */
    search(db, &p, sift.query, sift.nq, 10, l, s);
    cr_assert_geq(recall10(l), 0.93, "direct: recall %.3f", recall10(l));
    free(l);
    free(l2);
    free(s);
    free(s2);
}

/* ",sq8": re-ranking from in-memory SQ8 codes of the stored vectors. */
Test(ivf, sq8_refine_recall_scores_reopen, .init = load_sift, .fini = unload, .timeout = 240)
{
    cvs_build_opts bo = {.index = "ivf64,sq8"};
    cvs_index_info ii;
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16, .rerank = 50, .threads = 1};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l), *l2 = malloc(sift.nq * 10 * sizeof *l2);
    float *s = malloc(sift.nq * 10 * sizeof *s), *s2 = malloc(sift.nq * 10 * sizeof *s2);
    double r;

    bo.index = "ivf64,sq8,sq8";
    cr_assert_eq(cvs_build(db, "pq32x4", &bo), CVS_EINVAL);
    bo.index = "ivf64,direct,sq8";
    cr_assert_eq(cvs_build(db, "opq,pq32x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(ii.spec, "ivf64,sq8");
    cr_assert_eq(ii.residual, 0);
    /* Codes, keys and one byte per dimension: ~152 B of rows per vector. */
    cr_assert_gt(ii.mem_bytes, sift.nb * (16 + 8 + 128));
    cr_assert_lt(ii.mem_bytes, sift.nb * 175, "%llu bytes", (unsigned long long)ii.mem_bytes);

    search(db, &p, sift.query, sift.nq, 10, l, s);
    r = recall10(l);
    cr_assert_geq(r, 0.95, "recall %.3f at nprobe 16, rerank 50", r);
    /* SIFT's components are integers below 256, so SQ8 distances are
     * nearly exact: the reported score of the best hit is within 1% of its
     * exact distance. */
    for (size_t i = 0; i < sift.nq; i++) {
        double e = exact_dist(i, l[i * 10]);
        cr_assert_leq(fabs(s[i * 10] - e), 0.01 * e + 1e-3, "query %zu: %g vs %g", i, s[i * 10],
                      e);
    }
    /* Without re-ranking the codes alone answer, as for any index. */
    p.flags |= CVS_SEARCH_NORERANK;
    search(db, &p, sift.query, sift.nq, 10, l2, s2);
    cr_assert_lt(recall10(l2), r);
    p.flags &= ~(unsigned)CVS_SEARCH_NORERANK;
    /* Two threads, and a reopen (rows rebuilt from the stored vectors):
     * the same answers. */
    p.threads = 2;
    same_answers(&p, l, s, l2, s2);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    same_answers(&p, l, s, l2, s2);
    /* A rebuild without ",sq8" goes back to version 1 parameters. */
    bo.index = "ivf64";
    cr_assert_eq(cvs_build(db, "pq32x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_str_eq(ii.spec, "ivf64");
    cr_assert_lt(ii.mem_bytes, sift.nb * 40);
    free(l);
    free(l2);
    free(s);
    free(s2);
}

Test(ivf, direct_full_probe_equals_code_scan, .init = load_sift, .fini = unload, .timeout = 240)
{
    cvs_build_opts bo = {.index = "ivf32"}; /* direct: the l2 default */
    cvs_index_info ii;
    cvs_search_params p = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = 32};
    cvs_search_params c = {.flags = CVS_SEARCH_CODES};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l), *l2 = malloc(sift.nq * 10 * sizeof *l2);
    float *s = malloc(sift.nq * 10 * sizeof *s), *s2 = malloc(sift.nq * 10 * sizeof *s2);

    cr_assert_eq(cvs_build(db, "pq16x8", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.residual, 0);
    search(db, &p, sift.query, sift.nq, 10, l, s);
    search(db, &c, sift.query, sift.nq, 10, l2, s2);
    /* Same codes, same LUTs, same kernel: the same answers. */
    cr_assert_eq(memcmp(l, l2, sift.nq * 10 * sizeof *l), 0);
    cr_assert_eq(recall10(l), recall10(l2));

    /* A build without an index removes it. */
    cr_assert_eq(cvs_build(db, "pq16x8", NULL), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
    {
        cvs_txn *t;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, sift.query, 1, 10, &p, l, s), CVS_EINVAL);
        cvs_txn_end(t);
    }
    free(l);
    free(l2);
    free(s);
    free(s2);
}

/* 4-bit codes take the fast-scan selection (ivf_search.c deviation 5): all
 * probed lists scanned, a threshold guessed from a sample, the candidates
 * under it gathered and the best selected, with every code gathered when
 * too few pass.  Probing every list of direct codes, it must give exactly
 * what the store's code scan gives (the same LUT, quantization and float
 * sums; a plain heap there): for short and long candidate lists (k 10 and
 * 200 of 10,000, where the guess is taken and where it is not), and under
 * allow-bitmaps that leave a fifth of the keys, half of them (the first
 * threshold, ~1.3 kk, then lets about 0.65 kk through, the second ~1.25
 * kk), and only 31 of them, so that the guessed thresholds let too few
 * through and the fallbacks run. */
Test(ivf, fs4_selection_equals_code_scan, .init = load_sift, .fini = unload, .timeout = 240)
{
    static const size_t ks[] = {10, 200};
    cvs_build_opts bo = {.index = "ivf16"};
    cvs_search_params ann = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = 16,
                             .threads = 1};
    cvs_search_params ref = {.flags = CVS_SEARCH_CODES, .threads = 1};
    const size_t words = sift.nb / 64 + 2, kmax = 200;
    uint64_t *allow = malloc(words * sizeof *allow);
    int64_t *la = malloc(sift.nq * kmax * sizeof *la), *lr = malloc(sift.nq * kmax * sizeof *lr);
    float *sa = malloc(sift.nq * kmax * sizeof *sa), *sr = malloc(sift.nq * kmax * sizeof *sr);
    cvs_txn *t;

    cr_assert_eq(cvs_build(db, "opq,pq32x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int f = 0; f < 4; f++) {
        memset(allow, 0, words * sizeof *allow);
        for (size_t i = 1; i <= sift.nb; i++)
            if (f == 1 ? i % 5 == 0 : f == 2 ? i % 331 == 7 : f == 3 ? i % 2 == 0 : 1)
                allow[i / 64] |= 1ull << (i % 64);
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
            const size_t k = ks[a];
            cr_assert_eq(cvs__txn_search_allow(t, sift.query, sift.nq, k, &ann, f ? allow : NULL,
                                               words, la, sa), 0, "%s", cvs_errmsg(db));
            cr_assert_eq(cvs__txn_search_allow(t, sift.query, sift.nq, k, &ref, f ? allow : NULL,
                                               words, lr, sr), 0, "%s", cvs_errmsg(db));
            for (size_t i = 0; i < sift.nq * k; i++) {
                cr_assert_eq(la[i], lr[i], "filter %d k %zu query %zu rank %zu: %lld vs %lld", f,
                             k, i / k, i % k, (long long)la[i], (long long)lr[i]);
                cr_assert(sa[i] == sr[i] || (isnan(sa[i]) && isnan(sr[i])));
                if (f == 1 && la[i] >= 0)
                    cr_assert_eq(la[i] % 5, 0);
                if (f == 3 && la[i] >= 0)
                    cr_assert_eq(la[i] % 2, 0);
            }
            if (f == 2) /* 31 keys allowed: all of them, then padding */
                cr_assert(la[k - 1] == (k > 30 ? -1 : la[k - 1]) && la[29] >= 0);
        }
    }
    cvs_txn_end(t);
    free(allow);
    free(la);
    free(lr);
    free(sa);
    free(sr);
}

/* Over direct codes one LUT serves every list, and a batch makes its
 * queries' LUTs a chunk of 16 at a time (ivf_search.c, run_job).  Each
 * query of a batch of 100 (six full chunks and a partial one) must get
 * bit for bit what it gets searched alone, through PCA and OPQ (whose
 * offsets differ per query), with the 8-bit scan and the fast-scan one. */
Test(ivf, batched_luts_equal_single_queries, .init = load_sift, .fini = unload, .timeout = 240)
{
    static const char *codecs[] = {"pca64,opq,pq16x4", "pca64,opq,pq16"};
    cvs_build_opts bo = {.index = "ivf16"};
    cvs_search_params p = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = 4,
                           .threads = 1};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l), *l1 = malloc(10 * sizeof *l1);
    float *s = malloc(sift.nq * 10 * sizeof *s), *s1 = malloc(10 * sizeof *s1);

    cr_assert_geq(sift.nq, 100);
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        cr_assert_eq(cvs_build(db, codecs[c], &bo), 0, "%s", cvs_errmsg(db));
        search(db, &p, sift.query, sift.nq, 10, l, s);
        for (size_t i = 0; i < sift.nq; i++) {
            search(db, &p, sift.query + i * sift.dim, 1, 10, l1, s1);
            cr_assert_eq(memcmp(l + i * 10, l1, 10 * sizeof *l1), 0, "%s query %zu", codecs[c],
                         i);
            cr_assert_eq(memcmp(s + i * 10, s1, 10 * sizeof *s1), 0, "%s query %zu", codecs[c],
                         i);
        }
    }
    free(l);
    free(l1);
    free(s);
    free(s1);
}

/* cvs_tune's default sample follows the store's size (index/tune.c
 * deviation 9): 1000 of SIFT10K's 10,000 vectors, not a fixed 200; a
 * sample the caller names, or its own queries, are taken as given. */
Test(ivf, tune_default_sample_by_size, .init = load_sift, .fini = unload, .timeout = 240)
{
    cvs_build_opts bo = {.index = "ivf32"};
    cvs_tune_opts to = {.target_recall = 0.9};
    cvs_tune_result tr;

    cr_assert_eq(cvs_build(db, "opq,pq16x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(tr.sample, 1000);
    cr_assert(tr.reached);
    to.sample = 300;
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(tr.sample, 300);
    to.sample = 0;
    to.queries = sift.query;
    to.nqueries = 40;
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(tr.sample, 40);
}

/* nprobe p must scan exactly the p lists whose centroids are nearest the
 * query, all of each.  A recall floor cannot tell: SIFT10K keeps recall
 * above 0.93 even when half the lists asked for are probed.  So each query's
 * answer at nprobe p is compared with a brute-force scan of the codes in its
 * p nearest lists, found here from the stored centroids and the lists' own
 * keys: for direct codes the store's code scan restricted to those keys
 * (the same codes and LUTs, an independent loop), for residual codes the
 * search probing every list restricted to them.  A query whose p-th and
 * (p+1)-th centroid distances nearly tie is left out (the index computes
 * them in float, we in double). */
static void same_as_nearest_lists(const char *index, int residual)
{
    /* 20 of 32: a long run of nearest lists (ivf_search.c deviation 7). */
    static const size_t probes[] = {1, 3, 8, 20};
    const size_t nprobes = sizeof probes / sizeof probes[0];
    cvs_build_opts bo = {.index = index};
    cvs_ivf_params *ip = NULL;
    struct cvs_codec *codec = NULL;
    cvs_ivf *ix = NULL;
    cvs_txn *t;
    size_t nlist, words = sift.nb / 64 + 2, compared = 0, skipped = 0, moved = 0;
    int32_t *list_of = malloc((sift.nb + 1) * sizeof *list_of);
    uint64_t *allow = malloc(words * sizeof *allow);
    double *cd = NULL;
    size_t *order = NULL;

    cr_assert_eq(cvs_build(db, "pq16x8", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__ivf_params_for_txn(db, t->txn, &ip), 0, "%s", cvs_errmsg(db));
    cr_assert_not_null(ip);
    cr_assert_eq(ip->residual, residual);
    nlist = ip->nlist;
    cd = malloc(nlist * sizeof *cd);
    order = malloc(nlist * sizeof *order);
    /* Which list holds each key: the lists themselves say. */
    for (size_t i = 0; i <= sift.nb; i++)
        list_of[i] = -1;
    cr_assert_eq(cvs__codec_for_txn(db, t->txn, &codec, NULL), 0);
    cr_assert_eq(cvs__ivf_acquire(db, t->txn, ip, codec, &ix), 0, "%s", cvs_errmsg(db));
    for (size_t l = 0; l < nlist; l++)
        for (size_t j = 0; j < ix->lists[l].n; j++) {
            int64_t key = ix->lists[l].keys[j];
            cr_assert(key >= 1 && (size_t)key <= sift.nb && list_of[key] < 0, "key %lld",
                      (long long)key);
            list_of[key] = (int32_t)l;
        }
    cvs__ivf_release(db, ix);
    for (size_t i = 1; i <= sift.nb; i++)
        cr_assert_geq(list_of[i], 0, "key %zu is in no list", i);

    for (size_t qi = 0; qi < sift.nq; qi++) {
        const float *q = sift.query + qi * sift.dim;
        for (size_t l = 0; l < nlist; l++) {
            double e = 0;
            for (uint32_t d = 0; d < sift.dim; d++) {
                double x = (double)q[d] - ip->cent[l * sift.dim + d];
                e += x * x;
            }
            cd[l] = e;
            order[l] = l;
        }
        for (size_t a = 1; a < nlist; a++) /* insertion sort by distance */
            for (size_t b = a; b > 0 && cd[order[b]] < cd[order[b - 1]]; b--) {
                size_t tmp = order[b];
                order[b] = order[b - 1];
                order[b - 1] = tmp;
            }
        for (size_t pi = 0; pi < nprobes; pi++) {
            size_t p = probes[pi];
            cvs_search_params ann = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = p,
                                     .threads = 1};
            cvs_search_params ref = {.flags = CVS_SEARCH_CODES, .threads = 1};
            int64_t la[10], lr[10], lfull[10];
            float sa[10], sr[10], sfull[10];
            double gap = cd[order[p]] - cd[order[p - 1]];
            if (gap <= 1e-4 * cd[order[p]]) {
                skipped++;
                continue;
            }
            memset(allow, 0, words * sizeof *allow);
            for (size_t i = 1; i <= sift.nb; i++)
                for (size_t j = 0; j < p; j++)
                    if ((size_t)list_of[i] == order[j])
                        allow[i / 64] |= 1ull << (i % 64);
            cr_assert_eq(cvs_txn_search_params(t, q, 1, 10, &ann, la, sa), 0, "%s", cvs_errmsg(db));
            if (residual) { /* every list probed, the keys of the p nearest allowed */
                ref.flags = ann.flags;
                ref.nprobe = nlist;
            }
            cr_assert_eq(cvs__txn_search_allow(t, q, 1, 10, &ref, allow, words, lr, sr), 0, "%s",
                         cvs_errmsg(db));
            cr_assert_eq(memcmp(la, lr, sizeof la), 0,
                         "%s query %zu nprobe %zu: %lld %lld %lld ... vs the scan of its %zu "
                         "nearest lists: %lld %lld %lld ...", index, qi, p, (long long)la[0],
                         (long long)la[1], (long long)la[2], p, (long long)lr[0],
                         (long long)lr[1], (long long)lr[2]);
            for (size_t j = 0; j < 10; j++)
                cr_assert_float_eq(sa[j], sr[j], 1e-4f * (1 + fabsf(sr[j])), "%s query %zu rank %zu",
                                   index, qi, j);
            /* and probing more lists does change some answers, so the
             * comparison is not between two unrestricted scans */
            ann.nprobe = nlist;
            cr_assert_eq(cvs_txn_search_params(t, q, 1, 10, &ann, lfull, sfull), 0);
            moved += memcmp(la, lfull, sizeof la) != 0;
            compared++;
        }
    }
    cvs_txn_end(t);
    cr_log_info("%s: %zu answers compared, %zu near ties left out, %zu differ from the full "
                "probe", index, compared, skipped, moved);
    cr_assert_geq(compared, nprobes * sift.nq - 10, "%zu of %zu compared", compared,
                  nprobes * sift.nq);
    cr_assert_gt(moved, sift.nq / 2);
    free(list_of);
    free(allow);
    free(cd);
    free(order);
}

Test(ivf, nprobe_scans_the_nearest_lists_direct, .init = load_sift, .fini = unload,
     .timeout = 240)
{
    same_as_nearest_lists("ivf32", 0);
}

Test(ivf, nprobe_scans_the_nearest_lists_residual, .init = load_sift, .fini = unload,
     .timeout = 240)
{
    same_as_nearest_lists("ivf32,residual", 1);
}

/* ==== Synthetic store: incremental maintenance ==== */

enum { D = 16, N = 4000 };
static float *vecs;

static void put_range(cvs_db *d, const float *v, size_t from, size_t to, const char *prefix)
{
    cvs_record *r = calloc(to - from, sizeof *r);
    char (*ids)[32] = malloc((to - from) * sizeof *ids);
    for (size_t i = from; i < to; i++) {
        snprintf(ids[i - from], sizeof ids[0], "%s%zu", prefix, i);
        r[i - from].id = ids[i - from];
        r[i - from].id_len = strlen(ids[i - from]);
        r[i - from].vector = v + (i - from) * D;
    }
    cr_assert_eq(cvs_put(d, r, to - from, 0, NULL, NULL), 0, "%s", cvs_errmsg(d));
    free(r);
    free(ids);
}

static void make_store(void)
{
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf16"};
    vecs = malloc((size_t)N * D * sizeof *vecs);
    tu_randvecs(vecs, (size_t)N * D, 7);
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    put_range(db, vecs, 0, N, "r");
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
}

static void drop_store(void)
{
    cvs_db_close(db);
    db = NULL;
    tu_rmrf(dir);
    free(dir);
    free(vecs);
}

/* Does an ANN search for v in snapshot t return key among the top 10? */
static int finds_in(cvs_txn *t, const float *v, int64_t key)
{
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 4};
    int64_t l[10];
    float s[10];
    cr_assert_eq(cvs_txn_search_params(t, v, 1, 10, &p, l, s), 0, "%s", cvs_errmsg(NULL));
    for (int i = 0; i < 10; i++)
        if (l[i] == key)
            return 1;
    return 0;
}

static int finds(cvs_db *d, const float *v, int64_t key)
{
    cvs_txn *t;
    int r;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    r = finds_in(t, v, key);
    cvs_txn_end(t);
    return r;
}

/* Entries physically held by the shared in-memory lists. */
static size_t held(cvs_db *d)
{
    size_t n = 0;
    pthread_mutex_lock(&cvs__codes(d)->ivf_mu);
    if (cvs__codes(d)->ivf)
        for (size_t i = 0; i < cvs__codes(d)->ivf->nlist; i++)
            n += cvs__codes(d)->ivf->lists[i].n;
    pthread_mutex_unlock(&cvs__codes(d)->ivf_mu);
    return n;
}

Test(ivf, puts_deletes_updates, .init = make_store, .fini = drop_store, .timeout = 120)
{
    float extra[50 * D], moved[D];
    const char *ids[25];
    size_t lens[25], deleted;
    char idbuf[25][16];
    cvs_index_info ii;

    cr_assert(finds(db, vecs + 5 * D, tu_key_of(db, "r5")));
    cr_assert_eq(held(db), N);

    /* Puts after the build are searchable at once, without a rebuild. */
    tu_randvecs(extra, 50 * D, 11);
    put_range(db, extra, 0, 50, "new");
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof id, "new%d", i);
        cr_assert(finds(db, extra + i * D, tu_key_of(db, id)), "%s not found", id);
    }
    cr_assert_eq(held(db), N + 50);

    /* Deletes never come back, and their entries leave the lists. */
    for (int i = 0; i < 25; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "r%d", i * 3);
        ids[i] = idbuf[i];
        lens[i] = strlen(idbuf[i]);
    }
    {
        int64_t keys[25];
        for (int i = 0; i < 25; i++)
            keys[i] = tu_key_of(db, ids[i]);
        cr_assert_eq(cvs_delete(db, ids, lens, 25, &deleted), 0);
        cr_assert_eq(deleted, 25);
        for (int i = 0; i < 25; i++)
            cr_assert(!finds(db, vecs + (size_t)i * 3 * D, keys[i]), "deleted %s came back", ids[i]);
        cr_assert_eq(held(db), N + 50 - 25, "held %zu", held(db));
        cr_assert_eq(cvs_index_get_info(db, &ii), 0);
        cr_assert_eq(ii.count, N + 50 - 25);

        /* Updates move: found at the new vector, not at the old one. */
        for (int d = 0; d < D; d++)
            moved[d] = -vecs[7 * D + d] * 0.5f + 0.25f;
        {
            cvs_record r = {.id = "r7", .id_len = 2, .vector = moved};
            size_t up = 0;
            int64_t k7 = tu_key_of(db, "r7");
            cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, &up), 0);
            cr_assert_eq(up, 1);
            cr_assert(finds(db, moved, k7));
            cr_assert(!finds(db, vecs + 7 * D, k7));
            cr_assert_eq(held(db), N + 50 - 25);
        }

        /* All of it survives a reopen (loaded from the stored lists). */
        cvs_db_close(db);
        cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
        for (int i = 0; i < 25; i++)
            cr_assert(!finds(db, vecs + (size_t)i * 3 * D, keys[i]));
        cr_assert(finds(db, moved, tu_key_of(db, "r7")));
        cr_assert(finds(db, extra + 49 * D, tu_key_of(db, "new49")));
        cr_assert_eq(held(db), N + 50 - 25);
    }
    {
        uint64_t problems;
        cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
        cr_assert_eq(problems, 0);
    }
}

Test(ivf, snapshots_see_their_state, .init = make_store, .fini = drop_store, .timeout = 120)
{
    cvs_txn *old, *now;
    float x[D];
    int64_t k9 = tu_key_of(db, "r9"), kx;
    const char *id = "r9";
    size_t len = 2;

    tu_randvecs(x, D, 23);
    cr_assert(finds(db, vecs + 9 * D, k9)); /* the index is loaded before the snapshot */
    cr_assert_eq(cvs_txn_begin(db, &old), 0);
    put_range(db, x, 0, 1, "x");
    kx = tu_key_of(db, "x0");
    cr_assert_eq(cvs_delete(db, &id, &len, 1, NULL), 0);

    cr_assert_eq(cvs_txn_begin(db, &now), 0);
    cr_assert(finds_in(now, x, kx));
    cr_assert(!finds_in(now, vecs + 9 * D, k9));
    /* The older snapshot still sees r9 and not x0 ... */
    cr_assert(finds_in(old, vecs + 9 * D, k9));
    cr_assert(!finds_in(old, x, kx));
    /* ... so r9's entry is still held; it goes once old ends. */
    cr_assert_eq(held(db), N + 1);
    cvs_txn_end(old);
    cr_assert(!finds_in(now, vecs + 9 * D, k9));
    cvs_txn_end(now);
    cr_assert(!finds(db, vecs + 9 * D, k9));
    cr_assert_eq(held(db), N);

    /* A snapshot older than the index's load gets a private index. */
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_txn_begin(db, &old), 0);
    put_range(db, vecs + 9 * D, 0, 1, "again");
    cr_assert(finds(db, vecs + 9 * D, tu_key_of(db, "again0"))); /* loads after the put */
    cr_assert(!finds_in(old, vecs + 9 * D, tu_key_of(db, "again0")));
    cvs_txn_end(old);
}

/* ",sq8" rows follow puts, updates and deletes; an entry replaced before
 * the index caught up has no row of its own, and an older snapshot that
 * still sees it re-ranks it from its stored vector. */
Test(ivf, sq8_refine_updates_and_snapshots, .init = make_store, .fini = drop_store,
     .timeout = 120)
{
    cvs_build_opts bo = {.index = "ivf16,sq8"};
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16, .rerank = 50};
    float y[D], z[D], sc[10];
    int64_t l[10], ky;
    const char *id = "y0";
    size_t len = 2;
    cvs_txn *old, *now;

    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    tu_randvecs(y, D, 31);
    tu_randvecs(z, D, 32);
    cr_assert(finds(db, vecs + 9 * D, tu_key_of(db, "r9"))); /* loads the index */
    put_range(db, y, 0, 1, "y");
    cr_assert_eq(cvs_txn_begin(db, &old), 0); /* sees y0 = y */
    put_range(db, z, 0, 1, "y");              /* y0 = z */
    ky = tu_key_of(db, "y0");
    /* The newest snapshot catches up first: its rows are read there. */
    cr_assert_eq(cvs_txn_begin(db, &now), 0);
    cr_assert(finds_in(now, z, ky));
    cr_assert_eq(cvs_txn_search_params(now, z, 1, 10, &p, l, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(l[0], ky);
    cr_assert_float_eq(sc[0], 0.0f, 0.05f);
    cvs_txn_end(now);
    cr_assert_eq(cvs_txn_search_params(old, y, 1, 10, &p, l, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(l[0], ky, "the old snapshot's y0 is y");
    cr_assert_eq(sc[0], 0.0f, "scored from its stored vector: exactly 0");
    cvs_txn_end(old);
    /* Deleted: gone from every later search. */
    cr_assert_eq(cvs_delete(db, &id, &len, 1, NULL), 0);
    cr_assert(!finds(db, z, ky));
    cr_assert(!finds(db, y, ky));
    cr_assert_eq(held(db), N);
}

Test(ivf, other_handles_and_processes, .init = make_store, .fini = drop_store, .timeout = 120)
{
    cvs_db *db2;
    float x[D], y[D];
    pid_t pid;
    int st;

    tu_randvecs(x, D, 31);
    tu_randvecs(y, D, 37);
    cr_assert_eq(cvs_db_open(dir, 0, &db2), 0);
    cr_assert(finds(db2, vecs, tu_key_of(db2, "r0"))); /* db2 loads its lists */
    put_range(db, x, 0, 1, "x");
    cr_assert(finds(db2, x, tu_key_of(db2, "x0")), "a second handle misses a put");
    {
        const char *id = "r0";
        size_t len = 2;
        int64_t k0 = tu_key_of(db2, "r0");
        cr_assert_eq(cvs_delete(db, &id, &len, 1, NULL), 0);
        cr_assert(!finds(db2, vecs, k0), "a second handle still sees a delete");
    }
    cvs_db_close(db2);

    /* Another process writes; this one's loaded lists catch up. */
    cr_assert(finds(db, x, tu_key_of(db, "x0")));
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        cvs_db *w;
        cvs_record r = {.id = "y0", .id_len = 2, .vector = y};
        const char *id = "x0";
        size_t len = 2;
        if (cvs_db_open(dir, 0, &w) != 0)
            _exit(3);
        if (cvs_put(w, &r, 1, 0, NULL, NULL) != 0 || cvs_delete(w, &id, &len, 1, NULL) != 0)
            _exit(4);
        cvs_db_close(w);
        _exit(0);
    }
    {
        int64_t kx = tu_key_of(db, "x0");
        waitpid(pid, &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        cr_assert(finds(db, y, tu_key_of(db, "y0")), "a put by another process is missed");
        cr_assert(!finds(db, x, kx), "a delete by another process is missed");
    }
}

Test(ivf, trimmed_log_reloads, .init = make_store, .fini = drop_store, .timeout = 120)
{
    cvs_db *db2;
    float x[40 * D];
    int64_t k5 = tu_key_of(db, "r5");
    const char *id = "r5";
    size_t len = 2;

    tu_randvecs(x, 40 * D, 41);
    cr_assert(finds(db, vecs + 5 * D, k5)); /* db's lists are loaded */
    cvs__ivf_log_keep = 8;
    cr_assert_eq(cvs_db_open(dir, 0, &db2), 0);
    for (int i = 0; i < 40; i++) /* one transaction each: the log keeps 8 */
        put_range(db2, x + i * D, (size_t)i, (size_t)i + 1, "t");
    cr_assert_eq(cvs_delete(db2, &id, &len, 1, NULL), 0);
    {
        MDB_txn *rt;
        MDB_stat st;
        cr_assert_eq(cvs__read_begin(db2, &rt), 0);
        cr_assert_eq(mdb_stat(rt, cvs__codes(db2)->dbi_ivflog, &st), 0);
        cvs__read_end(db2, rt);
        cr_assert_leq(st.ms_entries, 10, "the log holds %zu entries", st.ms_entries);
    }
    cvs_db_close(db2);
    cvs__ivf_log_keep = CVS_IVF_LOG_KEEP;
    /* db is 41 changes behind a log of ~8: it reloads, and sees all. */
    for (int i = 0; i < 40; i++) {
        char tid[16];
        snprintf(tid, sizeof tid, "t%d", i);
        cr_assert(finds(db, x + i * D, tu_key_of(db, tid)), "%s missed", tid);
    }
    cr_assert(!finds(db, vecs + 5 * D, k5));
    cr_assert_eq(held(db), N + 40 - 1);
}

Test(ivf, allow_bitmap, .init = make_store, .fini = drop_store, .timeout = 120)
{
    uint64_t allow[(N + 64) / 64 + 1];
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16, .threads = 1};
    int64_t l[20 * 10];
    float s[20 * 10];
    cvs_txn *t;

    memset(allow, 0, sizeof allow);
    for (int64_t k = 0; k <= N; k += 2) /* even keys only */
        allow[k / 64] |= 1ull << (k % 64);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__txn_search_allow(t, vecs, 20, 10, &p, allow, sizeof allow / 8, l, s), 0);
    for (int i = 0; i < 200; i++)
        cr_assert(l[i] >= 0 && l[i] % 2 == 0, "key %lld is not allowed", (long long)l[i]);
    /* Three keys allowed: exactly those, then padding. */
    memset(allow, 0, sizeof allow);
    allow[0] = (1ull << 3) | (1ull << 10) | (1ull << 40);
    cr_assert_eq(cvs__txn_search_allow(t, vecs, 1, 10, &p, allow, 1, l, s), 0);
    for (int i = 0; i < 10; i++)
        cr_assert(i < 3 ? (l[i] == 3 || l[i] == 10 || l[i] == 40) : l[i] == -1);
    cvs_txn_end(t);
}

Test(ivf, cosine_residual, .timeout = 120)
{
    enum { CN = 3000, CD = 32, CQ = 50 };
    cvs_create_opts o = {CD, CVS_METRIC_COSINE, CVS_RAW_F16};
    cvs_build_opts bo = {.index = "ivf24"};
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 24, .rerank = 200};
    cvs_search_params e = {.flags = CVS_SEARCH_EXACT};
    cvs_index_info ii;
    int64_t la[CQ * 10], le[CQ * 10];
    float sa[CQ * 10], se[CQ * 10];
    size_t hit = 0;

    vecs = malloc((size_t)CN * CD * sizeof *vecs);
    tu_randvecs(vecs, (size_t)CN * CD, 5);
    for (size_t i = 0; i < (size_t)CN * CD; i++) /* some structure: a shared direction */
        vecs[i] += (i % CD) < 4 ? 0.8f : 0.0f;
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    {
        cvs_record *r = calloc(CN, sizeof *r);
        char (*ids)[16] = malloc(CN * sizeof *ids);
        for (size_t i = 0; i < CN; i++) {
            snprintf(ids[i], sizeof ids[i], "c%zu", i);
            r[i].id = ids[i];
            r[i].id_len = strlen(ids[i]);
            r[i].vector = vecs + i * CD;
        }
        cr_assert_eq(cvs_put(db, r, CN, 0, NULL, NULL), 0);
        free(r);
        free(ids);
    }
    cr_assert_eq(cvs_build(db, "pq16x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.residual, 1);
    search(db, &p, vecs, CQ, 10, la, sa);
    search(db, &e, vecs, CQ, 10, le, se);
    for (size_t i = 0; i < CQ; i++) {
        cr_assert_eq(la[i * 10], le[i * 10], "query %zu: its own record first", i);
        cr_assert_float_eq(sa[i * 10], se[i * 10], 1e-3);
        for (size_t j = 0; j < 10; j++)
            for (size_t h = 0; h < 10; h++)
                if (la[i * 10 + j] == le[i * 10 + h]) {
                    hit++;
                    break;
                }
    }
    cr_assert_geq(hit, CQ * 10 * 9 / 10, "recall %zu / %d", hit, CQ * 10);
    drop_store();
}

/* RaBitQ on generated clustered cosine data (residual codes, one prepared
 * query for every list), 1 and 4 bits: the exact top 10 found with
 * re-ranking, codes alone above a low floor (1 bit on 64 dimensions is a
 * coarse code, ~0.3; 4 bits ~0.75 on these evenly spread clusters). */
static void rabitq_clusters(const char *spec, double floor_codes)
{
    enum { CN = 4000, CD = 64, CQ = 50, NC = 40 };
    cvs_create_opts o = {CD, CVS_METRIC_COSINE, CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf32"};
    cvs_search_params p = {.flags = CVS_SEARCH_ANN | CVS_SEARCH_NORERANK, .nprobe = 32};
    cvs_search_params e = {.flags = CVS_SEARCH_EXACT};
    int64_t la[CQ * 10], le[CQ * 10];
    float sa[CQ * 10], se[CQ * 10], *cent = malloc((size_t)NC * CD * sizeof *cent);
    size_t hit = 0, hit_codes = 0;

    vecs = malloc((size_t)CN * CD * sizeof *vecs);
    tu_randvecs(cent, (size_t)NC * CD, 11);
    tu_randvecs(vecs, (size_t)CN * CD, 12);
    for (size_t i = 0; i < (size_t)CN * CD; i++) /* points around NC centres */
        vecs[i] = 3.0f * cent[(i / CD) % NC * CD + i % CD] + vecs[i];
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    {
        cvs_record *r = calloc(CN, sizeof *r);
        char (*ids)[16] = malloc(CN * sizeof *ids);
        for (size_t i = 0; i < CN; i++) {
            snprintf(ids[i], sizeof ids[i], "c%zu", i);
            r[i].id = ids[i];
            r[i].id_len = strlen(ids[i]);
            r[i].vector = vecs + i * CD;
        }
        cr_assert_eq(cvs_put(db, r, CN, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
        free(r);
        free(ids);
    }
    cr_assert_eq(cvs_build(db, spec, &bo), 0, "%s", cvs_errmsg(db));
    search(db, &e, vecs + 100 * CD, CQ, 10, le, se);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) { /* re-ranked */
            p.flags = CVS_SEARCH_ANN;
            p.nprobe = 8;
            p.rerank = 200;
        }
        search(db, &p, vecs + 100 * CD, CQ, 10, la, sa);
        for (size_t i = 0; i < CQ * 10; i++)
            for (size_t h = 0; h < 10; h++)
                if (la[i] == le[i / 10 * 10 + h]) {
                    *(pass ? &hit : &hit_codes) += 1;
                    break;
                }
    }
    cr_log_info("%s cosine clusters: recall codes only %.3f, re-ranked %.3f", spec,
                hit_codes / (CQ * 10.0), hit / (CQ * 10.0));
    cr_assert_geq(hit_codes, floor_codes * CQ * 10, "codes-only recall %zu / %d", hit_codes,
                  CQ * 10);
    cr_assert_geq(hit, CQ * 10 * 95 / 100, "re-ranked recall %zu / %d", hit, CQ * 10);
    free(cent);
    drop_store();
}

Test(ivf, rabitq_cosine_clusters_1bit, .timeout = 120) { rabitq_clusters("rabitq", 0.2); }
Test(ivf, rabitq_cosine_clusters_4bit, .timeout = 120) { rabitq_clusters("rabitq4", 0.6); }

/* Every codec family through the index: sq8 (the codec's own distances)
 * residual and direct, and a raw "none" store (codes only, no re-ranking). */
Test(ivf, sq8_and_raw_none, .timeout = 120)
{
    enum { SN = 2000, SD = 16 };
    const cvs_raw raws[2] = {CVS_RAW_F32, CVS_RAW_NONE};
    const char *idx[3] = {"ivf8", "ivf8,residual", "ivf8"};
    const cvs_metric metrics[3] = {CVS_METRIC_L2, CVS_METRIC_L2, CVS_METRIC_IP};
    float *v = malloc((size_t)SN * SD * sizeof *v);
    tu_randvecs(v, (size_t)SN * SD, 13);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) {
            cvs_create_opts o = {SD, metrics[c], raws[r]};
            cvs_build_opts bo = {.index = idx[c]};
            cvs_index_info ii;
            size_t self = 0;
            char *d = tu_tmpdir();
            cvs_record *rec = calloc(SN, sizeof *rec);
            char (*ids)[16] = malloc(SN * sizeof *ids);
            cr_assert_eq(cvs_db_create(d, &o, &db), 0);
            for (size_t i = 0; i < SN; i++) {
                snprintf(ids[i], sizeof ids[i], "%zu", i);
                rec[i].id = ids[i];
                rec[i].id_len = strlen(ids[i]);
                rec[i].vector = v + i * SD;
            }
            cr_assert_eq(cvs_put(db, rec, SN, 0, NULL, NULL), 0);
            cr_assert_eq(cvs_build(db, r ? "pq8x4" : "sq8", &bo), 0, "%s", cvs_errmsg(db));
            cr_assert_eq(cvs_index_get_info(db, &ii), 0);
            cr_assert_eq(ii.residual, r == 0 && (c == 1 || c == 2), "raw %d case %d", r, c);
            for (size_t i = 0; i < 40; i++) {
                cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 3, .threads = 1};
                int64_t l[5];
                float s[5];
                cvs_txn *t;
                cr_assert_eq(cvs_txn_begin(db, &t), 0);
                cr_assert_eq(cvs_txn_search_params(t, v + i * SD, 1, 5, &p, l, s), 0, "%s",
                             cvs_errmsg(db));
                cvs_txn_end(t);
                for (int j = 0; j < 5; j++)
                    self += l[j] == (int64_t)i + 1;
            }
            /* l2: the record itself is among its 5 nearest by codes (sq8 nearly
             * always; 4-bit codes without re-ranking most of the time); ip
             * does not rank a vector first for itself, so only run it. */
            if (metrics[c] == CVS_METRIC_L2)
                cr_assert_geq(self, r ? 30 : 38, "raw %d case %d: %zu of 40", r, c, self);
            cvs_db_close(db);
            db = NULL;
            tu_rmrf(d);
            free(d);
            free(rec);
            free(ids);
        }
    free(v);
}

/* ==== Corrupted stored values: clear errors, never a crash ==== */

static int ann_rc(cvs_db *d)
{
    cvs_search_params p = {.flags = CVS_SEARCH_ANN};
    int64_t l[5];
    float s[5];
    cvs_txn *t;
    int rc;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    rc = cvs_txn_search_params(t, vecs, 1, 5, &p, l, s);
    cvs_txn_end(t);
    return rc;
}

Test(ivf, corrupt_values, .init = make_store, .fini = drop_store, .timeout = 120)
{
    MDB_txn *rt;
    MDB_val k = {3, "ivf"}, v;
    unsigned char *blob;
    size_t len;
    uint64_t key = 1, seq, problems;
    uint32_t bad_list = 999;
    unsigned char entry[CVS_IVF_LOG_FIXED] = {0};
    tu_raw_put r;
    cvs_index_info ii;

    cr_assert_eq(ann_rc(db), 0);
    cr_assert_eq(cvs__read_begin(db, &rt), 0);
    cr_assert_eq(mdb_get(rt, db->dbi_meta, &k, &v), 0);
    len = v.mv_size;
    blob = malloc(len);
    memcpy(blob, v.mv_data, len);
    cvs__read_end(db, rt);

    /* A log entry with an unknown op: the catch-up refuses it. */
    {
        MDB_val sk = {7, "ivf_seq"}, sv;
        cr_assert_eq(cvs__read_begin(db, &rt), 0);
        seq = mdb_get(rt, db->dbi_meta, &sk, &sv) == 0 ? cvs__get_u64(sv.mv_data) : 0;
        cvs__read_end(db, rt);
        seq++;
        cvs__put_u64(entry, 5);
        entry[20] = 9;
        r = (tu_raw_put){cvs__codes(db)->dbi_ivflog, {8, &seq}, {sizeof entry, entry}};
        cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
        r = (tu_raw_put){db->dbi_meta, {7, "ivf_seq"}, {8, &seq}};
        cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
        cr_assert_eq(ann_rc(db), CVS_ECORRUPT, "%s", cvs_errmsg(db));
    }

    /* A list id out of range: loading refuses it, check reports it. */
    r = (tu_raw_put){cvs__codes(db)->dbi_lists, {8, &key}, {4, &bad_list}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(ann_rc(db), CVS_ECORRUPT, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_geq(problems, 1);

    /* The parameters blob: bad magic, another version, truncated, version 2
     * with a negative SQ8 step (each seen by a fresh handle: a handle keeps
     * the blob it validated, by generation).  The list id is repaired
     * first. */
    bad_list = 0;
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    for (int c = 0; c < 4; c++) {
        unsigned char *b = calloc(1, len + 8 * D);
        size_t blen = c == 2 ? len - 4 : c == 3 ? len + 8 * D : len;
        memcpy(b, blob, len);
        if (c == 0) {
            b[0] ^= 0xff;
        } else if (c == 1) {
            b[8] = 4; /* 2 and 3 are the versions with SQ8 ranges */
        } else if (c == 3) { /* version 2 whose first SQ8 step is negative */
            float neg = -1.0f;
            b[8] = 2;
            memcpy(b + len + 4 * D, &neg, 4);
        }
        r = (tu_raw_put){db->dbi_meta, {3, "ivf"}, {blen, b}};
        cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
        cvs_db_close(db);
        cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
        cr_assert_eq(cvs_index_get_info(db, &ii), c == 1 ? CVS_EVERSION : CVS_ECORRUPT,
                     "case %d: %s", c, cvs_errmsg(db));
        cr_assert_eq(ann_rc(db), c == 1 ? CVS_EVERSION : CVS_ECORRUPT);
        free(b);
    }
    /* Restored, it works again: a fresh load starts after the bad log
     * entry (and the list repair above went through no log at all). */
    r = (tu_raw_put){db->dbi_meta, {3, "ivf"}, {len, blob}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ann_rc(db), 0, "%s", cvs_errmsg(db));
    free(blob);
}

/* Child side of the crash test: signal the parent once encoding starts,
 * then stall so that the kill lands inside the build's transaction. */
static int crash_fd;
static void stall(void *ctx, const char *phase, uint64_t done, uint64_t total, uint64_t b,
                  uint64_t bt)
{
    (void)ctx, (void)done, (void)total, (void)b, (void)bt;
    if (strcmp(phase, "encode") == 0) {
        if (write(crash_fd, "x", 1) != 1)
            _exit(5);
        sleep(30);
    }
}

Test(ivf, build_killed_keeps_old_index, .init = make_store, .fini = drop_store, .timeout = 120)
{
    int fds[2];
    pid_t pid;
    int st;
    char c;
    cvs_index_info ii;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        cvs_db *w;
        cvs_build_opts bo = {.index = "ivf40", .progress = stall};
        close(fds[0]);
        crash_fd = fds[1];
        if (cvs_db_open(dir, 0, &w) != 0)
            _exit(3);
        (void)!cvs_build(w, "pq4x4", &bo);
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &c, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    close(fds[0]);
    cr_assert(WIFSIGNALED(st));

    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.nlist, 16);
    cr_assert_eq(ii.count, N);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        cr_assert(finds(db, vecs + i * D, tu_key_of(db, id)));
    }
    /* And the store still takes writes that the index follows. */
    put_range(db, vecs + 100 * D, 0, 1, "z");
    cr_assert(finds(db, vecs + 100 * D, tu_key_of(db, "z0")));
}

/* Deleting every record and putting them back, again and again, with a
 * constant live set: the change log stays about as long as the index holds
 * records, and LMDB's pages in use level off (the log used to keep 200,000
 * entries, growing the store by a few percent per cycle).  A process
 * whose lists are behind the trimmed log still finds everything. */
Test(ivf, log_stays_bounded_over_delete_and_reimport_cycles, .init = make_store,
     .fini = drop_store, .timeout = 240)
{
    char (*ids)[32] = malloc(N * sizeof *ids);
    const char **p = malloc(N * sizeof *p);
    size_t *len = malloc(N * sizeof *len), used[6] = {0};
    cvs_db *w;
    int64_t k7;

    cr_assert(finds(db, vecs + 7 * D, tu_key_of(db, "r7"))); /* db's lists are loaded */
    cr_assert_eq(cvs_db_open(dir, 0, &w), 0);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        p[i] = ids[i];
        len[i] = strlen(ids[i]);
    }
    for (int c = 0; c < 6; c++) {
        MDB_txn *rt;
        MDB_stat st;
        MDB_envinfo ei;
        size_t deleted;
        cr_assert_eq(cvs_delete(w, p, len, N, &deleted), 0, "%s", cvs_errmsg(w));
        cr_assert_eq(deleted, N);
        for (int b = 0; b < N; b += 500) /* in batches, as an import writes */
            put_range(w, vecs + (size_t)b * D, (size_t)b, (size_t)b + 500, "r");
        cr_assert_eq(cvs__read_begin(w, &rt), 0);
        cr_assert_eq(mdb_stat(rt, cvs__codes(w)->dbi_ivflog, &st), 0);
        cvs__read_end(w, rt);
        cr_assert_leq(st.ms_entries, N + 64, "cycle %d: the log holds %zu entries", c,
                      st.ms_entries);
        mdb_env_info(w->env, &ei);
        used[c] = ei.me_last_pgno;
    }
    /* Pages in use: the first cycles fill the free list, then it levels. */
    cr_assert_leq(used[5], used[2] + used[2] / 50, "pages in use %zu after cycle 3, %zu "
                  "after cycle 6", used[2], used[5]);
    cvs_db_close(w);
    k7 = tu_key_of(db, "r7");
    cr_assert(finds(db, vecs + 7 * D, k7), "a reader behind the trimmed log misses r7");
    cr_assert_eq(held(db), N);
    free(ids);
    free(p);
    free(len);
}

/* ==== cvstore check, invariant 9 (docs/FORMAT.md) ==== */

static int raw_del_fn(cvs_db *d, MDB_txn *txn, void *arg)
{
    tu_raw_put *r = arg;
    (void)d;
    return mdb_del(txn, r->dbi, &r->k, NULL) ? CVS_EIO : CVS_OK;
}

static uint64_t check_problems(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0, "%s", cvs_errmsg(db));
    return p;
}

/* Each damage breaks invariant 9 alone and is reported once: an index
 * built for another codec generation, a log entry beyond ivf_seq, one
 * that is neither an add nor a delete, and a log left without an index.
 * The clean store, before and after each repair, reports nothing. */
Test(ivf, check_reports_invariant_9, .init = make_store, .fini = drop_store, .timeout = 120)
{
    MDB_txn *rt;
    MDB_val k = {3, "ivf"}, v, sk = {7, "ivf_seq"}, sv;
    unsigned char *blob, entry[CVS_IVF_LOG_FIXED] = {0};
    size_t len;
    uint64_t seq, bad_seq;
    tu_raw_put r;

    cr_assert_eq(check_problems(), 0);
    cr_assert_eq(cvs__read_begin(db, &rt), 0);
    cr_assert_eq(mdb_get(rt, db->dbi_meta, &k, &v), 0);
    len = v.mv_size;
    blob = malloc(len);
    memcpy(blob, v.mv_data, len);
    seq = mdb_get(rt, db->dbi_meta, &sk, &sv) == 0 ? cvs__get_u64(sv.mv_data) : 0;
    cvs__read_end(db, rt);

    /* The index's generation is not the codec's. */
    cvs__put_u64(blob + 24, cvs__get_u64(blob + 24) + 1);
    r = (tu_raw_put){db->dbi_meta, {3, "ivf"}, {len, blob}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cr_assert_eq(check_problems(), 1);
    cvs__put_u64(blob + 24, cvs__get_u64(blob + 24) - 1);
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cr_assert_eq(check_problems(), 0);

    /* A well-formed delete entry numbered beyond ivf_seq. */
    bad_seq = seq + 2;
    cvs__put_u64(entry, 1);
    entry[20] = CVS_IVF_OP_DEL;
    r = (tu_raw_put){cvs__codes(db)->dbi_ivflog, {8, &bad_seq}, {sizeof entry, entry}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cr_assert_eq(check_problems(), 1);
    cr_assert_eq(cvs__write(db, raw_del_fn, &r), 0);
    cr_assert_eq(check_problems(), 0);

    /* An entry within ivf_seq with an unknown op. */
    bad_seq = seq;
    entry[20] = 9;
    if (seq == 0) { /* no write since the build: make room under ivf_seq */
        seq = bad_seq = 1;
        r = (tu_raw_put){db->dbi_meta, {7, "ivf_seq"}, {8, &seq}};
        cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
        cr_assert_eq(check_problems(), 0);
    }
    r = (tu_raw_put){cvs__codes(db)->dbi_ivflog, {8, &bad_seq}, {sizeof entry, entry}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cr_assert_eq(check_problems(), 1);

    /* A build without an index removes meta/ivf and empties the log; a
     * log entry written after that has no index to belong to. */
    cvs_build_opts bo = {0};
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(check_problems(), 0);
    entry[20] = CVS_IVF_OP_DEL;
    r = (tu_raw_put){cvs__codes(db)->dbi_ivflog, {8, &bad_seq}, {sizeof entry, entry}};
    cr_assert_eq(cvs__write(db, tu_raw_put_fn, &r), 0);
    cr_assert_eq(check_problems(), 1);
    free(blob);
}

/* ==== The exact re-score after SQ8 re-ranking (ivf_search.c deviation 6) ==== */

/* One record with a large first coordinate stretches that dimension's SQ8
 * range, so its rounding step (about 11 / 255) is wider than the gaps
 * between neighbours' distances: the SQ8 re-rank then misorders them even
 * with every list probed and every record re-ranked, and only the exact
 * re-score gives the exact answer back. */
enum { RQ = 50, RK = 10 };

static size_t hits(const int64_t *a, const int64_t *b)
{
    size_t h = 0;
    for (size_t i = 0; i < RQ; i++)
        for (size_t j = 0; j < RK; j++)
            for (size_t t = 0; t < RK; t++)
                if (a[i * RK + j] == b[i * RK + t]) {
                    h++;
                    break;
                }
    return h;
}

static void make_stretched_sq8(float *q, float stretch)
{
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf16,sq8"};
    vecs = malloc((size_t)N * D * sizeof *vecs);
    tu_randvecs(vecs, (size_t)N * D, 11);
    vecs[0] = stretch;
    tu_randvecs(q, (size_t)RQ * D, 12);
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    put_range(db, vecs, 0, N, "r");
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
}

Test(ivf, sq8_exact_refine, .fini = drop_store, .timeout = 120)
{
    float q[RQ * D], s[RQ * RK], se[RQ * RK];
    int64_t le[RQ * RK], off[RQ * RK], l[RQ * RK];
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16, .rerank = N, .threads = 1,
                           .refine = CVS_RERANK_NONE};
    cvs_search_params ep = {.flags = CVS_SEARCH_EXACT};
    cvs_build_opts bo = {.index = "ivf16,sq8"};
    cvs_index_info ii;
    uint64_t r0, r1, q0, q1;
    size_t h_off, h;

    make_stretched_sq8(q, 10.0f);
    search(db, &ep, q, RQ, RK, le, se);
    /* Off: every record re-ranked by SQ8 distances falls short of exact. */
    search(db, &p, q, RQ, RK, off, s);
    h_off = hits(off, le);
    cr_assert_lt(h_off, RQ * RK, "the SQ8 re-rank was exact: the test proves nothing");
    /* Re-scoring every candidate exactly is exact search. */
    p.refine = N;
    search(db, &p, q, RQ, RK, l, s);
    cr_assert_eq(memcmp(l, le, sizeof l), 0, "refine %d: not the exact top %d", N, RK);
    for (size_t i = 0; i < RQ * RK; i++)
        cr_assert_float_eq(s[i], se[i], 1e-4f * (1 + se[i]), "score %zu: %g vs %g", i, s[i],
                           se[i]);
    /* A few more than k already recovers most of what SQ8 lost, and reads
     * exactly that many stored vectors per query on top of the re-rank. */
    p.refine = 2 * RK;
    cvs__ivf_rerank_counts(&r0, &q0);
    search(db, &p, q, RQ, RK, l, s);
    cvs__ivf_rerank_counts(&r1, &q1);
    h = hits(l, le);
    cr_assert_gt(h, h_off, "refine %d: %zu hits, %zu without", 2 * RK, h, h_off);
    cr_assert_eq(r1 - r0, (uint64_t)RQ * (N + 2 * RK), "%llu reads",
                 (unsigned long long)(r1 - r0));
    /* Below k it re-scores k (fewer would mix SQ8 and exact distances). */
    p.refine = 1;
    search(db, &p, q, RQ, RK, off, s);
    cr_assert_eq(hits(off, le), h_off);
    /* The stored default applies when the search names none (0), and a
     * build removes it. */
    cr_assert_eq(cvs_index_set_refine(db, N), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.refine, (size_t)N);
    p.refine = 0;
    search(db, &p, q, RQ, RK, l, s);
    cr_assert_eq(memcmp(l, le, sizeof l), 0);
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.refine, 0);
    /* An index without rows has nothing to refine: the setting is ignored. */
    bo.index = "ivf16";
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    p.refine = 2 * RK;
    search(db, &p, q, RQ, RK, l, s);
    cr_assert_eq(memcmp(l, le, sizeof l), 0, "the re-rank from stored vectors is exact");
}

/* cvs_tune turns the exact re-score on where the target needs it (index/tune.c
 * deviation 7): no SQ8 re-rank of this store reaches 0.99, the re-score does. */
Test(ivf, tune_chooses_refine, .fini = drop_store, .timeout = 120)
{
    float q[RQ * D], s[RQ * RK];
    int64_t le[RQ * RK], l[RQ * RK];
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 16, .rerank = N, .threads = 1,
                           .refine = CVS_RERANK_NONE};
    cvs_search_params ep = {.flags = CVS_SEARCH_EXACT};
    cvs_tune_opts to = {.target_recall = 0.99, .k = RK};
    cvs_tune_result tr;
    cvs_index_info ii;

    make_stretched_sq8(q, 10.0f);
    /* Every list probed, every record re-ranked by SQ8: short of 0.99. */
    search(db, &ep, q, RQ, RK, le, s);
    search(db, &p, q, RQ, RK, l, s);
    cr_assert_lt(hits(l, le), 0.99 * RQ * RK, "%zu hits", hits(l, le));
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_log_info("tune: nprobe %zu rerank %zu refine %zu recall %.3f", tr.nprobe, tr.rerank,
                tr.refine, tr.recall);
    cr_assert(tr.reached);
    cr_assert_eq(tr.refine, 2 * RK);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.refine, 2 * RK);
    /* A target the SQ8 re-rank reaches alone stores none. */
    cr_assert_eq(cvs_index_set_refine(db, 7), 0);
    to.target_recall = 0.5;
    cr_assert_eq(cvs_tune(db, &to, &tr), 0, "%s", cvs_errmsg(db));
    cr_assert(tr.reached);
    cr_assert_eq(cvs_index_get_info(db, &ii), 0);
    cr_assert_eq(ii.refine, tr.refine);
}

/* Checks cvs__ivf_coarse_select's answer for nlist distances dd (the
 * form's: cn - 2 qc, or -qc without cn) against a stable sort by distance
 * (ties to the lower list, as the heap it replaced broke them), with the
 * scalar gathering pass and, where the CPU has it, the AVX2 one. */
static void check_coarse(const float *cn, const float *qc, const float *dd, size_t nlist,
                         size_t np, size_t *order, float *pd, int64_t *pid, uint64_t *keys)
{
    for (size_t l = 0; l < nlist; l++)
        order[l] = l;
    for (size_t a = 1; a < nlist; a++) /* stable insertion sort */
        for (size_t b = a; b > 0 && dd[order[b]] < dd[order[b - 1]]; b--) {
            size_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    for (int avx2 = 0; avx2 <= cvs__cpu_avx2(); avx2++) {
        size_t got = cvs__ivf_coarse_select_with(cn, qc, nlist, np, pd, pid, keys, avx2);
        cr_assert_eq(got, np < nlist ? np : nlist);
        for (size_t j = 0; j < got; j++)
            cr_assert(pid[j] == (int64_t)order[j] && pd[j] == dd[order[j]],
                      "nlist %zu np %zu cnorm %d avx2 %d rank %zu: list %lld, want %zu", nlist,
                      np, cn != NULL, avx2, j, (long long)pid[j], order[j]);
    }
}

/* The coarse probe's selection (ivf_search.c deviations 7 and 8) against
 * a stable sort by distance, for nprobe from 1 to past nlist (the sorted
 * run up to 32, the sampled threshold past it), the l2 and ip forms, and
 * distances with many ties. */
Test(ivf, coarse_select_matches_sort)
{
    enum { MAXL = 70 };
    float cn[MAXL], qc[MAXL], pd[MAXL + 2], dd[MAXL];
    int64_t pid[MAXL + 2];
    uint64_t keys[MAXL];
    size_t order[MAXL];
    uint64_t seed = 7;
    for (size_t nlist = 1; nlist <= MAXL; nlist += (nlist < 20 ? 1 : 7))
        for (int form = 0; form < 2; form++)
            for (int rep = 0; rep < 3; rep++) {
                for (size_t l = 0; l < nlist; l++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    /* few distinct values, so ties are common */
                    qc[l] = (float)((seed >> 40) % 9) * 0.5f;
                    cn[l] = (float)((seed >> 20) % 5);
                    dd[l] = form ? cn[l] - 2.0f * qc[l] : -qc[l];
                }
                for (size_t np = 1; np <= nlist + 1; np++)
                    check_coarse(form ? cn : NULL, qc, dd, nlist, np, order, pd, pid, keys);
            }
}

/* Past 32 lists probed (deviation 8): thousands of lists, the threshold
 * sampled from every nlist/128-th of them.  Continuous distances, ties
 * (few distinct values, signed zeros among them), and samples that lie:
 * the sampled lists far nearer than the rest (fewer than np pass the
 * threshold, so both fallbacks run) or far further (all pass). */
Test(ivf, coarse_select_many_lists)
{
    enum { MAXL = 2400 };
    float *cn = malloc(MAXL * sizeof *cn), *qc = malloc(MAXL * sizeof *qc);
    float *dd = malloc(MAXL * sizeof *dd), *pd = malloc(MAXL * sizeof *pd);
    int64_t *pid = malloc(MAXL * sizeof *pid);
    uint64_t *keys = malloc(MAXL * sizeof *keys);
    size_t *order = malloc(MAXL * sizeof *order);
    char *sampled = malloc(MAXL);
    const size_t nlists[] = {150, 1167, 2334, MAXL};
    const size_t nps[] = {33, 40, 72, 88, 160, 256, 599, 1000};
    uint64_t seed = 11;
    cr_assert(cn && qc && dd && pd && pid && keys && order && sampled);
    for (size_t a = 0; a < sizeof nlists / sizeof *nlists; a++)
        for (int kind = 0; kind < 4; kind++)
            for (int form = 0; form < 2; form++) {
                const size_t nlist = nlists[a];
                memset(sampled, 0, nlist);
                for (size_t i = 0; i < 128; i++) /* the lists the threshold is sampled from */
                    sampled[i * nlist / 128] = 1;
                for (size_t l = 0; l < nlist; l++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    if (kind == 0) {
                        qc[l] = (float)(seed >> 40) / 16777216.0f - 0.5f;
                        cn[l] = (float)((seed >> 16) & 0xffffff) / 16777216.0f;
                    } else if (kind == 1) { /* ties, and +0 / -0 */
                        qc[l] = (float)((int)((seed >> 40) % 7) - 3) * 0.25f;
                        cn[l] = (float)((seed >> 20) % 3) * 0.5f;
                        if ((seed >> 33) & 1)
                            qc[l] = -qc[l];
                    } else {
                        const int near = (kind == 2) == (sampled[l] != 0);
                        qc[l] = (near ? 10.0f : 0.0f) + (float)(seed >> 40) / 16777216.0f;
                        cn[l] = 0.0f;
                    }
                    dd[l] = form ? cn[l] - 2.0f * qc[l] : -qc[l];
                }
                for (size_t b = 0; b < sizeof nps / sizeof *nps; b++)
                    if (nps[b] <= nlist)
                        check_coarse(form ? cn : NULL, qc, dd, nlist, nps[b], order, pd, pid,
                                     keys);
            }
    free(cn);
    free(qc);
    free(dd);
    free(pd);
    free(pid);
    free(keys);
    free(order);
    free(sampled);
}

/* The coarse products (index/ivf.c): the AVX2 kernel against the scalar
 * reference (to 1e-5 of sum |q_d c_d|; the two sum in different orders),
 * for dimensions around the 8-lane width and its masked tail, centroid
 * counts around the groups of four, and batches of queries; and each
 * AVX2 product bit for bit the same as the same centroid's alone, one
 * query at a time (the search's results must not depend on the batch). */
Test(ivf, dots_avx2_matches_scalar)
{
    const size_t dims[] = {1, 3, 7, 8, 9, 15, 16, 17, 100, 128, 200};
    const size_t nlists[] = {1, 2, 3, 4, 5, 7, 9, 163, 170};
    enum { NQ = 5, MAXD = 200, MAXL = 170 };
    float *q, *c, *a, *b, one;
    uint64_t seed = 3;
    if (!cvs__cpu_avx2())
        cr_skip_test("no AVX2 on this CPU");
    q = malloc(NQ * MAXD * sizeof *q);
    c = malloc(MAXL * MAXD * sizeof *c);
    a = malloc(NQ * MAXL * sizeof *a);
    b = malloc(NQ * MAXL * sizeof *b);
    cr_assert(q && c && a && b);
    for (size_t i = 0; i < NQ * MAXD; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        q[i] = (float)(seed >> 40) / 16777216.0f - 0.5f;
    }
    for (size_t i = 0; i < MAXL * MAXD; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        c[i] = (float)(seed >> 40) / 8388608.0f - 1.0f;
    }
    for (size_t x = 0; x < sizeof dims / sizeof *dims; x++)
        for (size_t y = 0; y < sizeof nlists / sizeof *nlists; y++) {
            const size_t dim = dims[x], nlist = nlists[y];
            cvs__ivf_dots_with(q, NQ, c, nlist, dim, a, 0);
            cvs__ivf_dots_with(q, NQ, c, nlist, dim, b, 1);
            for (size_t i = 0; i < NQ; i++)
                for (size_t l = 0; l < nlist; l++) {
                    double mag = 0;
                    for (size_t d = 0; d < dim; d++)
                        mag += fabs((double)q[i * dim + d] * c[l * dim + d]);
                    cr_assert(fabs((double)a[i * nlist + l] - b[i * nlist + l]) <= 1e-5 * mag,
                              "dim %zu nlist %zu query %zu list %zu: scalar %g avx2 %g", dim,
                              nlist, i, l, a[i * nlist + l], b[i * nlist + l]);
                    cvs__ivf_dots_with(q + i * dim, 1, c + l * dim, 1, dim, &one, 1);
                    cr_assert(one == b[i * nlist + l],
                              "dim %zu nlist %zu query %zu list %zu: %a alone, %a in the batch",
                              dim, nlist, i, l, one, b[i * nlist + l]);
                }
        }
    free(q);
    free(c);
    free(a);
    free(b);
}

/* The fast-scan selection's best-k by slices of distance (ivf_search.c
 * deviation 9) against a full sort by (distance, id): continuous
 * distances, few distinct ones (ties broken by id across the straddling
 * slice), all equal, one far outlier (every other candidate in one slice),
 * and k from 1 to n - 1. */
static int cand_cmp(const void *x, const void *y)
{
    const cvs_cand *a = x, *b = y;
    return a->d < b->d ? -1 : a->d > b->d ? 1 : a->id < b->id ? -1 : a->id > b->id;
}

Test(ivf, best_of_matches_sort)
{
    enum { MAXN = 700 };
    cvs_cand *a = malloc(MAXN * sizeof *a), *ref = malloc(MAXN * sizeof *ref);
    cvs_cand *tmp = malloc(MAXN * sizeof *tmp), *got = malloc(MAXN * sizeof *got);
    float *d = malloc(MAXN * sizeof *d);
    int64_t *id = malloc(MAXN * sizeof *id);
    const size_t ns[] = {2, 3, 17, 300, MAXN};
    uint64_t seed = 5;
    cr_assert(a && ref && tmp && got && d && id);
    for (size_t x = 0; x < sizeof ns / sizeof *ns; x++)
        for (int kind = 0; kind < 4; kind++) {
            const size_t n = ns[x];
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                a[i].id = (int64_t)(i * 7919 % 100003); /* distinct, not in order */
                a[i].d = kind == 0   ? (float)(seed >> 40) / 1048576.0f - 3.0f
                         : kind == 1 ? (float)((seed >> 40) % 5)
                         : kind == 2 ? 2.5f
                                     : (i == n / 2 ? 1e6f : (float)(seed >> 40) / 16777216.0f);
            }
            memcpy(ref, a, n * sizeof *a);
            qsort(ref, n, sizeof *ref, cand_cmp);
            for (size_t k = 1; k < n; k += (n > 40 ? 13 : 1))
                for (int avx2 = 0; avx2 <= cvs__cpu_avx2(); avx2++) {
                    cvs__ivf_best_of_with(a, n, k, d, id, tmp, avx2);
                    for (size_t i = 0; i < k; i++) {
                        got[i].d = d[i];
                        got[i].id = id[i];
                    }
                    qsort(got, k, sizeof *got, cand_cmp);
                    for (size_t i = 0; i < k; i++)
                        cr_assert(got[i].d == ref[i].d && got[i].id == ref[i].id,
                                  "n %zu kind %d k %zu avx2 %d: rank %zu is (%g, %lld), want "
                                  "(%g, %lld)", n, kind, k, avx2, i, got[i].d,
                                  (long long)got[i].id, ref[i].d, (long long)ref[i].id);
                }
        }
    free(a);
    free(ref);
    free(tmp);
    free(got);
    free(d);
    free(id);
}
