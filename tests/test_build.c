/* test_build.c -- codecs in the store: cvs_build, code scans with and
 * without re-ranking, puts and deletes after a build, rebuilds, bad specs,
 * and a build killed part-way that must leave the previous codec usable. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvstore.h"
#include "tests/testutil.h"

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

/* 10-recall@10 against the official ground truth (keys are row + 1). */
static double recall10(size_t rerank)
{
    cvs_search_params p = {.flags = CVS_SEARCH_CODES, .rerank = rerank};
    int64_t *l = malloc(sift.nq * 10 * sizeof *l);
    float *s = malloc(sift.nq * 10 * sizeof *s);
    cvs_txn *t;
    size_t hit = 0;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, sift.query, sift.nq, 10, &p, l, s), 0, "%s",
                 cvs_errmsg(db));
    cvs_txn_end(t);
    for (size_t i = 0; i < sift.nq; i++)
        for (size_t a = 0; a < 10; a++)
            for (size_t b = 0; b < 10; b++)
                hit += l[i * 10 + a] - 1 == sift.gt[i * sift.gdim + b];
    free(l);
    free(s);
    return (double)hit / (double)(sift.nq * 10);
}

static uint64_t problems(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    return p;
}

TestSuite(build, .init = load_sift, .fini = unload, .timeout = 120);

Test(build, pq_codes_recall_and_rerank)
{
    cvs_codec_info ci;
    double r0, r100;
    cr_assert_eq(cvs_codec_get_info(db, &ci), CVS_NOTFOUND);
    {
        cvs_search_params p = {.flags = CVS_SEARCH_CODES, .rerank = 0};
        int64_t l[10];
        float sc[10];
        cvs_txn *t;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, sift.query, 1, 10, &p, l, sc), CVS_EINVAL,
                     "codes search without a codec must fail");
        cr_assert(strstr(cvs_errmsg(db), "no codec"), "%s", cvs_errmsg(db));
        cvs_txn_end(t);
    }
    cr_assert_eq(cvs_build(db, "pq16", NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq16x8");
    cr_assert_eq(ci.code_bytes, 16);
    cr_assert_eq(ci.generation, 1);
    cr_assert_eq(problems(), 0);
    r0 = recall10(0);
    r100 = recall10(100);
    fprintf(stderr, "SIFT10K pq16: recall@10 codes %.3f, reranked %.3f\n", r0, r100);
    cr_assert(r0 > 0.6 && r0 < 0.95, "codes-only recall %.3f", r0);
    cr_assert(r100 > 0.97, "reranked recall %.3f", r100);
    /* The 8-bit scan scores 8 queries per pass, in chunks of codes: a batch
     * of 13 (one full block, one partial) must answer exactly as 13 single
     * queries do. */
    {
        cvs_search_params p = {.flags = CVS_SEARCH_CODES};
        int64_t lb[13 * 10], l1[10];
        float sb[13 * 10], s1[10];
        cvs_txn *t;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_search_params(t, sift.query, 13, 10, &p, lb, sb), 0);
        for (size_t i = 0; i < 13; i++) {
            cr_assert_eq(cvs_txn_search_params(t, sift.query + i * sift.dim, 1, 10, &p, l1, s1), 0);
            cr_assert_eq(memcmp(l1, lb + i * 10, sizeof l1), 0, "query %zu differs", i);
            cr_assert_eq(memcmp(s1, sb + i * 10, sizeof s1), 0, "query %zu scores differ", i);
        }
        cvs_txn_end(t);
    }
}

Test(build, fast_scan_4bit_and_sq8)
{
    double r;
    cr_assert_eq(cvs_build(db, "pq32x4", NULL), 0, "%s", cvs_errmsg(db));
    r = recall10(0);
    fprintf(stderr, "SIFT10K pq32x4: recall@10 codes %.3f\n", r);
    cr_assert(r > 0.45, "4-bit recall %.3f", r);
    cr_assert(recall10(100) > 0.95);
    cr_assert_eq(cvs_build(db, "pca64,sq8", NULL), 0, "%s", cvs_errmsg(db));
    r = recall10(0);
    fprintf(stderr, "SIFT10K pca64,sq8: recall@10 codes %.3f\n", r);
    cr_assert(r > 0.6, "sq8 recall %.3f", r);
    cr_assert_eq(problems(), 0);
}

Test(build, puts_and_deletes_after_build_keep_codes)
{
    cvs_record r = {0};
    float v[128];
    int64_t l[1];
    float s[1];
    cvs_search_params p = {.flags = CVS_SEARCH_CODES, .rerank = 0};
    cvs_txn *t;
    const char *ids[2] = {"new", "17"};
    size_t lens[2] = {3, 2}, n;
    cr_assert_eq(cvs_build(db, "opq,pq16", NULL), 0, "%s", cvs_errmsg(db));
    /* A new record far from everything is its own nearest code. */
    for (int d = 0; d < 128; d++)
        v[d] = 500.0f + (float)d;
    r.id = "new";
    r.id_len = 3;
    r.vector = v;
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(problems(), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, v, 1, 1, &p, l, s), 0);
    {
        const char *id;
        size_t len;
        cr_assert_eq(cvs_key_id(t, l[0], &id, &len), 0);
        cr_assert(len == 3 && memcmp(id, "new", 3) == 0);
    }
    cvs_txn_end(t);
    cr_assert_eq(cvs_delete(db, ids, lens, 2, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(problems(), 0);
}

Test(build, bad_spec_changes_nothing)
{
    cvs_codec_info ci;
    cr_assert_eq(cvs_build(db, "pq16", NULL), 0);
    cr_assert_eq(cvs_build(db, "pq15", NULL), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "multiple of 15"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build(db, "pq16x5", NULL), CVS_EINVAL);
    cr_assert_eq(cvs_build(db, "bogus", NULL), CVS_EINVAL);
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq16x8");
    cr_assert_eq(ci.generation, 1);
}

/* cvs_build_check refuses what cvs_build refuses of its arguments, with
 * the same message, and writes nothing; it passes what only the store's
 * contents decide. */
Test(build, check_refuses_as_build_does)
{
    char msg[512];
    cvs_codec_info ci;
    cr_assert_eq(cvs_build(db, "pq16", NULL), 0);
    cr_assert_eq(cvs_build_check(db, "pq15", NULL), CVS_EINVAL);
    snprintf(msg, sizeof msg, "%s", cvs_errmsg(db));
    cr_assert(strstr(msg, "multiple of 15"), "%s", msg);
    cr_assert_eq(cvs_build(db, "pq15", NULL), CVS_EINVAL);
    cr_assert_str_eq(cvs_errmsg(db), msg);
    cr_assert_eq(cvs_build_check(db, "auto", &(cvs_build_opts){.index = "hnsw"}), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "expected ivf or ivfN"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build_check(db, NULL, &(cvs_build_opts){.index = "ivf0"}), CVS_EINVAL);
    cr_assert_eq(cvs_build_check(db, "pq16", &(cvs_build_opts){.index = "qg"}), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "4-bit"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build_check(db, "opq,pq64x4", &(cvs_build_opts){.index = "qg"}), 0);
    cr_assert_eq(cvs_build_check(db, NULL, &(cvs_build_opts){.index = "ivf64,residual,sq8"}), 0);
    cr_assert_eq(cvs_build_check(db, "auto", &(cvs_build_opts){.index = "auto"}), 0);
    cr_assert_eq(cvs_build_check(db, NULL, NULL), 0);
    cr_assert_eq(cvs_build_check(NULL, NULL, NULL), CVS_EINVAL);
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq16x8");
    cr_assert_eq(ci.generation, 1);
}

/* Child side of the kill test: when the build reaches the phase named in
 * stall_phase (for "encode": with codes still to write), tell the parent
 * where it is and wait there for the kill. */
static int stall_fd = -1;
static const char *stall_phase;
static void stall(void *ctx, const char *phase, uint64_t done, uint64_t total, uint64_t b,
                  uint64_t bt)
{
    char msg[128];
    int n;
    (void)ctx, (void)b, (void)bt;
    if (strcmp(phase, stall_phase) != 0 || (strcmp(phase, "encode") == 0 && done >= total))
        return;
    n = snprintf(msg, sizeof msg, "%s %llu %llu\n", phase, (unsigned long long)done,
                 (unsigned long long)total);
    if (write(stall_fd, msg, (size_t)n) != n)
        _exit(5);
    for (;;)
        pause();
}

/* A rebuild killed while it trains (before its write transaction) and
 * while it writes codes (inside it, some codes of the new codec written)
 * leaves the old codec, whole: the kill is made to land there by a
 * progress callback that stops the child at that point and reports it. */
Test(build, killed_rebuild_leaves_old_codec, .timeout = 600)
{
    static const char *phases[] = {"opq", "encode"};
    cvs_codec_info ci;
    char path[4200];
    snprintf(path, sizeof path, "%s", dir);
    cr_assert_eq(cvs_build(db, "pq8", NULL), 0);
    cvs_db_close(db);
    db = NULL;
    for (size_t ph = 0; ph < 2; ph++) {
        char msg[128] = "", name[16];
        unsigned long long done = 0, total = 0;
        ssize_t got;
        int fds[2], st;
        pid_t pid;
        cr_assert_eq(pipe(fds), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            cvs_db *w;
            /* A small training sample: the kill is about the write, not
             * the training, and the test runs under ASan too. */
            cvs_build_opts bo = {.progress = stall, .max_train = 2000};
            close(fds[0]);
            stall_fd = fds[1];
            stall_phase = phases[ph];
            if (cvs_db_open(path, 0, &w) != 0)
                _exit(3);
            _exit(cvs_build(w, "opq,pq32", &bo) == 0 ? 0 : 4);
        }
        close(fds[1]);
        got = read(fds[0], msg, sizeof msg - 1);
        close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        /* The child stopped where it was meant to (it did not finish or fail
         * first), and was killed there. */
        cr_assert_gt(got, 0, "%s: the build ended without reaching that phase (status %d)",
                     phases[ph], st);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: status %d", phases[ph], st);
        cr_assert_eq(sscanf(msg, "%15s %llu %llu", name, &done, &total), 3, "%s", msg);
        cr_assert_str_eq(name, phases[ph]);
        if (ph == 1)
            cr_assert(done > 0 && done < total, "encode %llu of %llu", done, total);

        cr_assert_eq(cvs_db_open(path, 0, &db), 0);
        cr_assert_eq(problems(), 0);
        cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
        cr_assert_str_eq(ci.spec, "pq8x8", "killed in %s: codec %s", phases[ph], ci.spec);
        cr_assert_eq(ci.generation, 1);
        cr_assert(recall10(0) > 0.3);
        cvs_db_close(db);
        db = NULL;
    }
    cr_assert_eq(cvs_db_open(path, 0, &db), 0);
}

/* raw "none": vectors are kept only until the first build, which drops
 * them; afterwards the store is codes only. */
Test(rawnone, codes_only_after_build, .timeout = 120)
{
    cvs_create_opts o = {128, CVS_METRIC_L2, CVS_RAW_NONE};
    cvs_import_opts io = {0};
    cvs_info before, after;
    cvs_codec_info ci;
    cvs_txn *t;
    cvs_record r = {0}, g;
    float v[128], out[128], s[10];
    int64_t l[10];
    uint64_t p;
    double err = 0;
    char *d = tu_tmpdir();
    cr_assert_eq(cvs_db_create(d, &o, &db), 0);
    cr_assert_eq(cvs_import(db, CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", &io, NULL), 0);
    /* Before a build it searches exactly, like any store. */
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_query.fvecs", CVS_FMT_AUTO,
                               &sift.query, &sift.nq, &sift.dim), 0);
    cr_assert_eq(cvs_search(db, sift.query, 1, 10, CVS_SEARCH_EXACT, l, s), 0);
    cr_assert_eq(cvs_db_info(db, &before), 0);
    cr_assert_eq(cvs_build(db, "pq32", NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    /* Exact search is refused; the default search scans the codes. */
    cr_assert_eq(cvs_search(db, sift.query, 1, 10, CVS_SEARCH_EXACT, l, s), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "raw none"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_search(db, sift.query, 1, 10, 0, l, s), 0, "%s", cvs_errmsg(db));
    cr_assert_neq(l[9], -1);
    /* Reads return the code's reconstruction. */
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "0", 1, &g, out), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", CVS_FMT_AUTO,
                               &sift.base, &sift.nb, &sift.dim), 0);
    for (int i = 0; i < 128; i++)
        err += (out[i] - sift.base[i]) * (out[i] - sift.base[i]);
    cr_assert(err < 0.1 * 128 * 128 * 30, "reconstruction error %g", err);
    /* New records get codes only; rebuilds are refused. */
    for (int i = 0; i < 128; i++)
        v[i] = (float)(i % 7);
    r.id = "x";
    r.id_len = 1;
    r.vector = v;
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    cr_assert_eq(cvs_build(db, "pq16", NULL), CVS_EINVAL);
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "pq32x8");
    cr_assert_eq(cvs_db_info(db, &after), 0);
    cr_assert_eq(after.count, before.count + 1);
    cvs_db_close(db);
    db = NULL;
    tu_rmrf(d);
    free(d);
    cvs_free(sift.query);
    cvs_free(sift.base);
}

/* A raw "none" store built while small gets sq8 codes and no index (the
 * default under 2048 records); once it has grown, an index over the same
 * codes can still be built, and `cvstore build` with the default choice
 * builds it: the lists are trained on the codes' reconstructions and the
 * codes stay as they are.  Every such build was refused ("nothing left
 * to retrain on"), so the store could never get an index.  Another codec
 * is still refused: the vectors it would be trained on are gone. */
static void ann_and_codes_agree(const float *q, size_t nlist)
{
    cvs_search_params pc = {.flags = CVS_SEARCH_CODES},
                      pa = {.flags = CVS_SEARCH_ANN, .nprobe = nlist};
    int64_t lc[10], la[10];
    float sc[10], sa[10];
    cvs_txn *t;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, 1, 10, &pc, lc, sc), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_search_params(t, q, 1, 10, &pa, la, sa), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    /* Every list probed: the index scans every code the codes scan does. */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(la[i], lc[i], "rank %d: ann %lld, codes %lld", i, (long long)la[i],
                     (long long)lc[i]);
}

Test(rawnone, an_index_once_the_store_has_grown, .timeout = 120)
{
    cvs_create_opts o = {128, CVS_METRIC_L2, CVS_RAW_NONE};
    cvs_build_opts bo = {.index = "ivf32"};
    cvs_import_opts io = {0};
    cvs_index_info ii;
    cvs_codec_info ci;
    uint64_t p;
    size_t nb;
    uint32_t dim;
    float *x;
    char *d = tu_tmpdir();
    cvs_record *r = calloc(1000, sizeof *r);
    char (*ids)[8] = calloc(1000, sizeof *ids);
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", CVS_FMT_AUTO, &x,
                               &nb, &dim), 0);
    cr_assert_eq(cvs_db_create(d, &o, &db), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(ids[i], sizeof ids[i], "s%d", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = x + (size_t)i * dim;
    }
    cr_assert_eq(cvs_put(db, r, 1000, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND, "a small store gets no index");
    cr_assert_eq(cvs_import(db, CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", &io, NULL), 0);
    cr_assert_eq(cvs_build(db, "sq8", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ii.nlist, 32);
    cr_assert_eq(ii.count, 11000);
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    ann_and_codes_agree(x + 5 * dim, 32);
    /* The default choice for the store as it is now: sq8 and an index. */
    cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
    cr_assert_neq(ii.nlist, 32);
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    ann_and_codes_agree(x + 7 * dim, ii.nlist);
    /* Another codec cannot be trained: refused, the store unchanged. */
    cr_assert_eq(cvs_build(db, "pq16", &bo), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "raw none"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_codec_get_info(db, &ci), 0);
    cr_assert_str_eq(ci.spec, "sq8");
    {
        /* Its own codec with an index, as cvstore-mpi build gives every
         * shard one codec and one set of centroids: the codes are kept and
         * the index built over them (it was refused: "nothing left to
         * encode"); its codec without an index is still refused. */
        void *cb = NULL, *ib = NULL;
        size_t cl = 0, il = 0;
        cr_assert_eq(cvs_codec_export(db, &cb, &cl), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_index_export(db, &ib, &il), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_build_with_index(db, cb, cl, ib, il, NULL), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(ii.count, 11000);
        cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
        cr_assert_eq(p, 0);
        ann_and_codes_agree(x + 9 * dim, ii.nlist);
        cr_assert_eq(cvs_build_with_codec(db, cb, cl, NULL), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(db), "already has codec sq8"), "%s", cvs_errmsg(db));
        cvs_free(cb);
        cvs_free(ib);
    }
    cvs_db_close(db);
    db = NULL;
    tu_rmrf(d);
    free(d);
    free(r);
    free(ids);
    cvs_free(x);
}

/* An IVF list holds codes of at most 512 bytes.  A build whose codes would
 * be longer (sq8 at 784 dimensions: 784 bytes) is refused before it trains
 * and changes nothing: it used to train for seconds, write the codec and
 * an index no search could load (every search and stats then failed), and
 * in a raw "none" store, which cannot be rebuilt, for good.  The default
 * build of such a store (cvs_build_choose) takes no index. */
static void count_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                           uint64_t bytes_done, uint64_t bytes_total)
{
    (void)phase, (void)done, (void)total, (void)bytes_done, (void)bytes_total;
    ++*(int *)ctx;
}

Test(ivfcode, long_codes_refused_before_training, .timeout = 120)
{
    enum { DIM = 784, N = 2100 };
    cvs_create_opts o = {DIM, CVS_METRIC_L2, CVS_RAW_F32};
    int calls = 0;
    cvs_build_opts bo = {.index = "ivf8", .progress = count_progress, .progress_ctx = &calls};
    cvs_record *recs = calloc(N, sizeof *recs);
    float *x = malloc((size_t)N * DIM * sizeof *x), s[3];
    char (*ids)[8] = malloc(N * sizeof *ids);
    cvs_codec_info ci;
    cvs_index_info ii;
    int64_t l[3];
    char *d = NULL;

    cr_assert(recs && x && ids);
    tu_randvecs(x, (size_t)N * DIM, 7);
    for (size_t i = 0; i < N; i++) {
        recs[i].id_len = (size_t)snprintf(ids[i], sizeof ids[i], "%zu", i);
        recs[i].id = ids[i];
        recs[i].vector = x + i * DIM;
    }
    for (int raw = 0; raw < 2; raw++) {
        o.raw = raw ? CVS_RAW_NONE : CVS_RAW_F32;
        tu_store_create(&o, "long", &d, &db);
        cr_assert_eq(cvs_put(db, recs, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_build(db, "sq8", &bo), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(db), "codes of 784 bytes") &&
                  strstr(cvs_errmsg(db), "at most 512"), "%s", cvs_errmsg(db));
        /* Refused before the sample and any training: no progress told. */
        cr_assert_eq(calls, 0);
        if (!raw) { /* a spec the metric refuses (rq on l2 needs 2 bytes), the same */
            cr_assert_eq(cvs_build(db, "rq1", &bo), CVS_EINVAL);
            cr_assert(strstr(cvs_errmsg(db), "rq on an l2 store"), "%s", cvs_errmsg(db));
            cr_assert_eq(calls, 0);
        }
        cr_assert_eq(cvs_codec_get_info(db, &ci), CVS_NOTFOUND, "nothing was trained");
        cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
        cr_assert_eq(cvs_search(db, x, 1, 3, 0, l, s), 0, "%s", cvs_errmsg(db));
        /* The default choice builds what it can load: sq8 codes, and an
         * index only where they fit. */
        cr_assert_eq(cvs_build(db, NULL, NULL), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_codec_get_info(db, &ci), 0, "%s", cvs_errmsg(db));
        if (raw) {
            cr_assert_str_eq(ci.spec, "sq8");
            cr_assert_eq(cvs_index_get_info(db, &ii), CVS_NOTFOUND);
        } else {
            cr_assert_eq(cvs_index_get_info(db, &ii), 0, "%s", cvs_errmsg(db));
            /* The store's codec, kept over a new index: refused the same. */
            cr_assert_eq(cvs_build(db, "pca600,sq8", &bo), CVS_EINVAL);
            cr_assert(strstr(cvs_errmsg(db), "codes of 600 bytes"), "%s", cvs_errmsg(db));
        }
        cr_assert_eq(cvs_search(db, x, 1, 3, 0, l, s), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(l[0], tu_key_of(db, "0"));
        tu_store_remove(&d, &db);
    }
    free(recs);
    free(x);
    free(ids);
}
