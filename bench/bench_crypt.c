/*
 * bench_crypt.c -- `cvstore-bench crypt`: what encryption at rest costs.
 * The same vectors go into a plain and an encrypted store, one after the
 * other in one run, and both are queried the same way, so the two rows of
 * the table differ only by store/seal.c: import throughput, the open (the
 * encrypted one derives its key with Argon2id), the first search after the
 * open (which decrypts every vector or code into memory), and steady-state
 * exact and codes search QPS (which run on the in-memory copies).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

#define BENCH_PASS "cvstore-bench passphrase"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench crypt [--data DIR] [--base FILE --query FILE] [--codec SPEC]\n"
        "                           [-k K] [--reps N] [--rounds N] [--dir TMPDIR] [--csv PATH]\n"
        "Imports the same vectors into a plain and an encrypted store and reports,\n"
        "side by side: import vectors/s, open time, first-search time after the open,\n"
        "and exact and codes search QPS.\n"
        "  --data DIR     directory holding siftsmall/ (default $CVSTORE_DATA or\n"
        "                 ../shared/data); SIFT10K is the default data set\n"
        "  --base FILE    vectors to import instead (fvecs, bvecs, npy)\n"
        "  --query FILE   query vectors for --base\n"
        "  --codec SPEC   codec built for the codes search (default pq16)\n"
        "  -k K           neighbours per query (default 10)\n"
        "  --reps N       timed passes over the queries (default 20)\n"
        "  --rounds N     imports of each store, the fastest reported (default 3)\n"
        "  --dir DIR      where to make the temporary stores (default $TMPDIR or /tmp)\n"
        "  --csv PATH     also write the table as CSV\n");
}

typedef struct result {
    double import_s, build_s, open_s;
    double cold_exact_s, exact_qps, cold_codes_s, codes_qps;
    uint64_t disk;
    int64_t *labels;       /* exact top-k of every query, to compare the two stores */
} result;

/* Seconds of one pass over all queries. */
static double search_pass(cvs_db *db, const float *q, size_t nq, size_t k, unsigned flags,
                          int64_t *labels, float *scores)
{
    double t0 = bu_now();
    bu_check(cvs_search(db, q, nq, k, flags, labels, scores), "searching");
    return bu_now() - t0;
}

/* Creates the store and imports base into it; returns the import's seconds.
 * The store stays open in *out. */
static double create_import(const char *storepath, const char *pass, const char *base,
                            uint32_t dim, cvs_db **out)
{
    cvs_create_opts co = {.dim = dim, .metric = CVS_METRIC_L2, .raw = CVS_RAW_F32};
    cvs_import_opts io = {.format = CVS_FMT_AUTO};
    double t0;
    bu_check(cvs_db_create_encrypted(storepath, &co, pass, pass ? strlen(pass) : 0, out),
             "creating the store");
    t0 = bu_now();
    bu_check(cvs_import(*out, base, &io, NULL), "importing");
    return bu_now() - t0;
}

/* Fills both stores: rounds imports each, the two kinds alternating, the
 * fastest of each kept (the machine is shared, and a single 10k import is
 * over in a fraction of a second); the last round's stores stay, with the
 * codec built, at path[0] and path[1]. */
static void fill_both(const char *dir, char path[2][4300], const char *const pass[2],
                      const char *base, uint32_t dim, const char *codec, int rounds,
                      result res[2])
{
    for (int r = 0; r < rounds; r++)
        for (int e = 0; e < 2; e++) {
            char *sub = bu_tmpdir(dir);
            cvs_db *db = NULL;
            double s;
            if (!sub)
                bu_check(CVS_EIO, "making a scratch directory");
            snprintf(path[e], sizeof path[e], "%s/store", sub);
            s = create_import(path[e], pass[e], base, dim, &db);
            if (r == 0 || s < res[e].import_s)
                res[e].import_s = s;
            if (r == rounds - 1) {
                cvs_build_opts bo = {0};
                double t0 = bu_now();
                bu_check(cvs_build(db, codec, &bo), "building the codec");
                res[e].build_s = bu_now() - t0;
            }
            cvs_db_close(db);
            if (r < rounds - 1)
                bu_rmrf(sub);
            free(sub);
        }
}

/* Opens both stores, times the first search of each kind after the open
 * (which loads, and for the encrypted store decrypts, every vector or code),
 * then the steady state with the two stores' passes interleaved, so that
 * the machine's load drifts over both alike. */
static void query_both(const char *const path[2], const char *const pass[2], const float *q,
                       size_t nq, size_t k, int reps, result res[2])
{
    static const unsigned kinds[2] = {CVS_SEARCH_EXACT, CVS_SEARCH_CODES};
    cvs_db *db[2] = {NULL, NULL};
    float *scores = malloc(nq * k * sizeof *scores);
    int64_t *scratch = malloc(nq * k * sizeof *scratch);
    double t0, s[2][2] = {{0}};

    if (!scores || !scratch)
        bu_check(CVS_ENOMEM, "allocating results");
    for (int e = 0; e < 2; e++) {
        cvs_open_opts oo = {0, pass[e], pass[e] ? strlen(pass[e]) : 0};
        if (!(res[e].labels = malloc(nq * k * sizeof *res[e].labels)))
            bu_check(CVS_ENOMEM, "allocating results");
        t0 = bu_now();
        bu_check(cvs_db_open_opts(path[e], &oo, &db[e]), "opening a store");
        res[e].open_s = bu_now() - t0;
        res[e].cold_exact_s = search_pass(db[e], q, nq, k, CVS_SEARCH_EXACT, res[e].labels, scores);
        res[e].cold_codes_s = search_pass(db[e], q, nq, k, CVS_SEARCH_CODES, scratch, scores);
    }
    for (int r = 0; r < reps; r++)
        for (int kind = 0; kind < 2; kind++)
            for (int e = 0; e < 2; e++)
                s[e][kind] += search_pass(db[e], q, nq, k, kinds[kind], scratch, scores);
    for (int e = 0; e < 2; e++) {
        res[e].exact_qps = s[e][0] > 0 ? (double)nq * reps / s[e][0] : 0;
        res[e].codes_qps = s[e][1] > 0 ? (double)nq * reps / s[e][1] : 0;
        cvs_db_close(db[e]);
        res[e].disk = bu_dir_bytes(path[e]);
    }
    free(scratch);
    free(scores);
}

int bench_crypt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'D'}, {"base", required_argument, 0, 'b'},
        {"query", required_argument, 0, 'q'}, {"codec", required_argument, 0, 'C'},
        {"reps", required_argument, 0, 'r'}, {"rounds", required_argument, 0, 'R'}, {"dir", required_argument, 0, 'd'},
        {"csv", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *datadir = NULL, *base = NULL, *query = NULL, *parent = NULL, *csv = NULL;
    const char *codec = "pq16";
    char b[4200], qp[4200], path[2][4300];
    const char *const pass[2] = {NULL, BENCH_PASS};
    size_t k = 10, nq = 0, nb = 0, same = 0;
    int reps = 20, rounds = 3, c, rc = 0;
    uint32_t dim = 0, qdim = 0;
    float *q = NULL;
    char *dir = NULL;
    result res[2] = {{0}};

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': datadir = optarg; break;
        case 'b': base = optarg; break;
        case 'q': query = optarg; break;
        case 'C': codec = optarg; break;
        case 'k': k = strtoul(optarg, NULL, 10); break;
        case 'r': reps = atoi(optarg); break;
        case 'R': rounds = atoi(optarg); break;
        case 'd': parent = optarg; break;
        case 'c': csv = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || k == 0 || reps < 1 || rounds < 1 || (!base) != (!query)) {
        usage(stderr);
        return 1;
    }
    if (!base) {
        datadir = bu_data_dir(datadir);
        snprintf(b, sizeof b, "%s/siftsmall/siftsmall_base.fvecs", datadir);
        snprintf(qp, sizeof qp, "%s/siftsmall/siftsmall_query.fvecs", datadir);
        base = b;
        query = qp;
    }
    bu_check(bu_file_dim(base, &dim), base);
    bu_check(cvs_vecs_load(query, CVS_FMT_AUTO, &q, &nq, &qdim), query);
    if (qdim != dim) {
        fprintf(stderr, "cvstore-bench crypt: queries have dimension %u, base %u\n", qdim, dim);
        cvs_free(q);
        return 1;
    }
    if (!(dir = bu_tmpdir(parent))) {
        cvs_free(q);
        return 2;
    }
    fprintf(stderr, "cvstore-bench crypt: filling the stores\n");
    fill_both(dir, path, pass, base, dim, codec, rounds, res);
    fprintf(stderr, "cvstore-bench crypt: querying both\n");
    query_both((const char *const[2]){path[0], path[1]}, pass, q, nq, k, reps, res);
    {
        cvs_db *db;
        cvs_info info;
        bu_check(cvs_db_open(path[0], CVS_OPEN_RDONLY, &db), "opening the plain store");
        bu_check(cvs_db_info(db, &info), "info");
        nb = info.count;
        cvs_db_close(db);
    }
    for (size_t i = 0; i < nq * k; i++)
        same += res[0].labels[i] == res[1].labels[i];

    static const char *const header[] = {"store", "import vectors/s", "build s", "open ms",
                                         "first exact search ms", "exact QPS",
                                         "first codes search ms", "codes QPS", "disk MB"};
    bu_table *t = bu_table_new(9, header);
    for (int e = 0; e < 2; e++) {
        bu_table_row(t);
        bu_table_cell(t, "%s", e ? "encrypted" : "plain");
        bu_table_cell(t, "%.0f", res[e].import_s > 0 ? (double)nb / res[e].import_s : 0);
        bu_table_cell(t, "%.2f", res[e].build_s);
        bu_table_cell(t, "%.1f", res[e].open_s * 1e3);
        bu_table_cell(t, "%.1f", res[e].cold_exact_s * 1e3);
        bu_table_cell(t, "%.0f", res[e].exact_qps);
        bu_table_cell(t, "%.1f", res[e].cold_codes_s * 1e3);
        bu_table_cell(t, "%.0f", res[e].codes_qps);
        bu_table_cell(t, "%.1f", (double)res[e].disk / 1e6);
    }
    printf("### crypt: %s\n\n", base);
    printf("%zu vectors, dim %u, l2; import: best of %d; %zu queries, k %zu, %d timed passes; codec %s; "
           "exact top-%zu identical in both stores for %.1f%% of the slots; QPS passes of the two stores interleaved\n\n",
           nb, dim, rounds, nq, k, reps, codec, k, 100.0 * (double)same / (double)(nq * k));
    bu_table_print(t);
    if (csv && bu_table_csv(t, csv) != 0)
        rc = 2;
    bu_table_free(t);
    for (int e = 0; e < 2; e++)
        free(res[e].labels);
    cvs_free(q);
    bu_rmrf(dir);
    free(dir);
    return rc;
}
