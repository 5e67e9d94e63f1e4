/*
 * search.c -- `cvstore-mpi search`: exact (or code-scan) top-k over a
 * sharded store, printed as `cvstore search --json` prints it.
 *
 * Method: the scatter-gather of sharded vector databases.  Rank 0 reads the
 * queries and broadcasts them; every rank searches each of its shards for
 * the k best, keeps the k best over its shards, and sends them (score and
 * external id) to rank 0, which keeps the k best over all ranks.  The k best
 * of a union are among the union of the k bests, so exact search over the
 * shards returns what one store holding all the records returns.
 *
 * Deviations from a single store:
 *  1. Ties.  One store breaks equal scores by the smaller internal key
 *     (insertion order, core/heap.h); keys are per shard, so across shards
 *     equal scores break by the external id (bytewise, then the shorter
 *     first).  Within a shard the store's own rule still decides, so a tie
 *     at the k-th place may keep a different record than one store would.
 *  2. Results carry ids, not keys: a key means nothing outside its shard.
 *  3. ANN (--ann, shards built by `cvstore-mpi build --index`): every shard
 *     probes the same nprobe lists (the centroids are shared) and re-ranks
 *     its own rerank best, so the sharded search looks at every candidate
 *     one store with those centroids would, and re-ranks up to S times as
 *     many (S shards): its recall is at least one store's, up to the
 *     records one store's re-ranking misses and a shard's does not.  The
 *     cost is S times the re-ranking work; lower --rerank to trade it back.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi search DB --query-file F -k K [--json]\n"
    "                                   [--exact | --codes [--rerank R] |\n"
    "                                    --ann [--nprobe P] [--rerank R]]\n"
    "\n"
    "The K nearest records to each query of F over all shards, best first, in\n"
    "the output of `cvstore search` (--json: one line per query,\n"
    "{\"query\": 0, \"results\": [{\"id\": \"7\", \"score\": 0.87}, ...]}).\n"
    "\n"
    "Options:\n"
    "  -q, --query-file F   queries (fvecs, bvecs, npy or jsonl vectors)\n"
    "  -f, --format FMT     format of F (default: from the extension)\n"
    "  -k, --k K            results per query (required)\n"
    "  -j, --json           JSON lines instead of a table\n"
    "  -e, --exact          exact scan of the stored vectors (what no mode gives,\n"
    "                       but on a --raw none store, whose build keeps only\n"
    "                       codes: there no mode scans the codes, as --codes)\n"
    "  -c, --codes          scan the compressed codes of every shard\n"
    "  -a, --ann            the IVF index of every shard (`cvstore-mpi build\n"
    "                       --index ivf`): each shard probes the same lists\n"
    "  -n, --nprobe P       --ann: lists to visit per shard (default: the\n"
    "                       store's)\n"
    "  -r, --rerank R       --codes: re-score the R best with the stored\n"
    "                       vectors (default 100, 0 = code distances); --ann:\n"
    "                       the R best of each shard (default: the store's)\n"
    "  -t, --timing         print on stderr the time from the broadcast queries to\n"
    "                       the merged results (start-up and output left out),\n"
    "                       the slowest rank's wall and CPU time, all ranks' CPU\n"
    "                       time, the longest wait for a core, threads a rank\n"
    "  -w, --warmup         search the batch once, untimed, before the timed pass\n"
    "                       (shards' caches and memory maps warm, as in a\n"
    "                       process that serves queries; with --timing)\n"
    "  -h, --help           show this help\n";

/* CPU seconds of this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds this thread has waited for a core, ready to run (Linux's
 * /proc/thread-self/schedstat: CPU time, run-queue wait, timeslices, in
 * ns; the main thread's, which runs BLAS and the exact scans); 0
 * where that file is missing.  On a machine shared with other jobs it is
 * what the wall clock counts beside the CPU time. */
static double runq_wait_now(void)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    unsigned long long run = 0, wait = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &run, &wait) != 2)
        wait = 0;
    fclose(f);
    return (double)wait * 1e-9;
}

/* One candidate: its score and where its id is (in a rank's id bytes). */
typedef struct cand {
    float score;
    const char *id;
    size_t id_len;
} cand;

static int g_larger_better; /* ip and cosine: similarities */

/* Better first; deviation 1 for ties. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    size_t l;
    int c;
    if (x->score != y->score)
        return (x->score < y->score) == !g_larger_better ? -1 : 1;
    l = x->id_len < y->id_len ? x->id_len : y->id_len;
    if ((c = memcmp(x->id, y->id, l)))
        return c;
    return x->id_len < y->id_len ? -1 : x->id_len > y->id_len;
}

/* A growable byte buffer of the wire format: per query a uint32 count, then
 * per candidate a float score, a uint16 id length and the id bytes (host
 * byte order: every rank of a job runs the same binary on the same kind of
 * machine; heterogeneous clusters are not supported). */
typedef struct wbuf {
    char *p;
    size_t n, cap;
} wbuf;

static int wput(wbuf *b, const void *src, size_t len)
{
    if (b->n + len > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        char *np;
        while (nc < b->n + len)
            nc *= 2;
        if (!(np = realloc(b->p, nc)))
            return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, src, len);
    b->n += len;
    return 0;
}

/* Reads nq query lists from buf into cands (appending to each query's
 * list); -1 on a malformed buffer. */
static int wparse(const char *p, size_t len, size_t nq, cand **lists, size_t *counts)
{
    size_t off = 0;
    for (size_t q = 0; q < nq; q++) {
        uint32_t cnt;
        if (off + 4 > len)
            return -1;
        memcpy(&cnt, p + off, 4);
        off += 4;
        for (uint32_t j = 0; j < cnt; j++) {
            cand c;
            uint16_t il;
            if (off + 6 > len)
                return -1;
            memcpy(&c.score, p + off, 4);
            memcpy(&il, p + off + 4, 2);
            off += 6;
            if (off + il > len)
                return -1;
            c.id = p + off;
            c.id_len = il;
            off += il;
            lists[q][counts[q]++] = c;
        }
    }
    return off == len ? 0 : -1;
}

/* One shard's search parameters, as `cvstore search` passes them. */
static cvs_search_params shard_params(unsigned flags, uint64_t rerank, int rerank_set,
                                      uint64_t nprobe)
{
    cvs_search_params sp = {.flags = flags, .rerank = (size_t)rerank};
    if (flags == CVS_SEARCH_ANN) {
        sp.nprobe = (size_t)nprobe;
        sp.rerank = rerank_set ? (size_t)rerank : 0;
        if (rerank_set && rerank == 0)
            sp.flags |= CVS_SEARCH_NORERANK;
    }
    /* Several ranks on a machine are its parallelism already. */
    sp.threads = g_mpi.threads;
    return sp;
}

int mpi_cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        {"query-file", required_argument, NULL, 'q'}, {"format", required_argument, NULL, 'f'},
        {"k", required_argument, NULL, 'k'},          {"json", no_argument, NULL, 'j'},
        {"exact", no_argument, NULL, 'e'},            {"codes", no_argument, NULL, 'c'},
        {"rerank", required_argument, NULL, 'r'},     {"timing", no_argument, NULL, 't'},
        {"ann", no_argument, NULL, 'a'},              {"nprobe", required_argument, NULL, 'n'},
        {"warmup", no_argument, NULL, 'w'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "mpi search";
    const char *db, *qfile = NULL;
    cvs_format fmt = CVS_FMT_AUTO;
    shards_manifest m;
    cvs_db **dbs = NULL;
    cvs_txn **txns = NULL;
    float *queries = NULL, *scores = NULL;
    int64_t *labels = NULL;
    cand **lists = NULL;
    size_t *counts = NULL;
    wbuf out = {0};
    char *all = NULL;
    int *sizes = NULL, *displs = NULL;
    uint64_t tot;
    uint64_t k = 0, rerank = 100, nprobe = 0, hdr[2] = {0, 0};
    int rerank_set = 0;
    size_t nq = 0, nown = 0;
    unsigned flags = 0;
    uint32_t qdim = 0;
    int c, json = 0, timing = 0, warmup = 0, rc = CLI_OK, mysize;
    double t0 = 0, c0 = 0, w0 = 0, cpu[3] = {0, 0, 0}, cpu_max[3] = {0, 0, 0}, cpu_sum[1] = {0};

    while ((c = getopt_long(argc, argv, "q:f:k:jecan:r:twh", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            qfile = optarg;
            break;
        case 'f':
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS) {
                MCMD_ERR0(cmd, "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'k':
            if (cli_parse_u64(optarg, 1, 1u << 16, &k)) {
                MCMD_ERR0(cmd, "-k must be an integer from 1 to %u, not '%s'", 1u << 16, optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'j':
            json = 1;
            break;
        case 't':
            timing = 1;
            break;
        case 'w':
            warmup = 1;
            break;
        case 'e':
            flags |= CVS_SEARCH_EXACT;
            break;
        case 'c':
            flags |= CVS_SEARCH_CODES;
            break;
        case 'a':
            flags |= CVS_SEARCH_ANN;
            break;
        case 'n':
            if (cli_parse_u64(optarg, 1, 65536, &nprobe)) {
                MCMD_ERR0(cmd, "--nprobe must be an integer from 1 to 65536, not '%s'", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'r':
            if (cli_parse_u64(optarg, 0, 1000000, &rerank)) {
                MCMD_ERR0(cmd, "--rerank must be an integer from 0 to 1000000, not '%s'", optarg);
                return mcmd_usage(usage);
            }
            rerank_set = 1;
            break;
        case 'h':
            if (g_mpi.rank == 0)
                fputs(usage, stdout);
            return CLI_OK;
        default:
            return mcmd_usage(usage);
        }
    }
    if (flags && flags != CVS_SEARCH_EXACT && flags != CVS_SEARCH_CODES &&
        flags != CVS_SEARCH_ANN) {
        MCMD_ERR0(cmd, "--exact, --codes and --ann exclude each other");
        return mcmd_usage(usage);
    }
    if (nprobe && flags != CVS_SEARCH_ANN) {
        MCMD_ERR0(cmd, "--nprobe goes with --ann");
        return mcmd_usage(usage);
    }
    if (argc - optind != 1 || !qfile || !k) {
        MCMD_ERR0(cmd, "%s", argc - optind > 1 ? "too many arguments"
                             : argc - optind < 1 ? "missing DB"
                                                 : "--query-file and -k are required");
        return mcmd_usage(usage);
    }
    db = argv[optind];
    /* No mode: the most exact search the shards can answer, as the library
     * takes flags 0: the stored vectors, or a raw none store's codes once
     * its build has dropped the vectors (EXACT there fails: "keeps no raw
     * vectors"). */
    if ((rc = mcmd_manifest(cmd, db, &m)))
        return rc;
    if (!flags && m.raw != CVS_RAW_NONE)
        flags = CVS_SEARCH_EXACT;
    g_larger_better = m.metric != CVS_METRIC_L2;

    /* Rank 0 reads the queries; the others get them by broadcast. */
    if (g_mpi.rank == 0) {
        int lrc = cvs_vecs_load(qfile, fmt, &queries, &nq, &qdim);
        if (lrc) {
            rc = cli_fail(cmd, lrc, NULL);
        } else if (qdim != m.dim) {
            cli_err(cmd, "%s has dimension %u; the store's is %u", qfile, qdim, m.dim);
            rc = CLI_EUSER;
        }
        hdr[0] = nq;
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    nq = (size_t)hdr[0];
    if (g_mpi.rank != 0 && nq && !(queries = malloc(nq * m.dim * sizeof *queries)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    /* In chunks: MPI counts are ints. */
    for (size_t off = 0, total = nq * m.dim; off < total;) {
        size_t len = total - off < (1u << 30) ? total - off : (1u << 30);
        MPI_Bcast(queries + off, (int)len, MPI_FLOAT, 0, MPI_COMM_WORLD);
        off += len;
    }

    dbs = calloc(m.shards, sizeof *dbs);
    txns = calloc(m.shards, sizeof *txns);
    if (!dbs || !txns)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    if ((rc = mcmd_open_owned(cmd, db, &m, CVS_OPEN_RDONLY, dbs)))
        goto out;

    /* --warmup: the same searches once before the clock starts, results
     * dropped.  A process that serves queries has filled its shards'
     * caches (the exact scan's column cache, the IVF lists) and touched
     * their memory maps long before; a single cold batch of 1,000 queries
     * (40-110 ms on SIFT10K) is as much that first fill as search. */
    for (uint32_t s = 0; warmup && s < m.shards && !rc; s++) {
        cvs_search_params sp = shard_params(flags, rerank, rerank_set, nprobe);
        cvs_txn *wt = NULL;
        int src;
        if (!dbs[s] || !nq)
            continue;
        if (!labels && (!(labels = malloc(nq * k * sizeof *labels)) ||
                        !(scores = malloc(nq * k * sizeof *scores)))) {
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
            break;
        }
        if ((src = cvs_txn_begin(dbs[s], &wt)) ||
            (src = cvs_txn_search_params(wt, queries, nq, k, &sp, labels, scores))) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(src),
                    cvs_errmsg(dbs[s]));
            rc = cli_exit_code(src);
        }
        cvs_txn_end(wt);
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* --timing: from here (queries on every rank, shards open) to the
     * merged results at rank 0, so that start-up and output are left out. */
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    c0 = cpu_now();
    w0 = runq_wait_now();

    /* Each owned shard's k best, then this rank's k best of those. */
    for (uint32_t s = 0; s < m.shards; s++)
        nown += dbs[s] != NULL;
    if (!labels)
        labels = malloc((nq ? nq : 1) * k * sizeof *labels);
    if (!scores)
        scores = malloc((nq ? nq : 1) * k * sizeof *scores);
    if (!labels || !scores)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        cvs_search_params sp = shard_params(flags, rerank, rerank_set, nprobe);
        int src;
        if (!dbs[s])
            continue;
        if ((src = cvs_txn_begin(dbs[s], &txns[s])) ||
            (nq && (src = cvs_txn_search_params(txns[s], queries, nq, k, &sp,
                                                 labels, scores)))) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(src),
                    cvs_errmsg(dbs[s]));
            rc = cli_exit_code(src);
            break;
        }
        /* Keep the results of this shard: labels/scores are per shard, so
         * turn them into candidates right away, ids from this snapshot
         * (valid until the txn ends, which is at the end). */
        if (!lists) {
            if (!(lists = calloc(nq ? nq : 1, sizeof *lists)) ||
                !(counts = calloc(nq ? nq : 1, sizeof *counts))) {
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
                break;
            }
            for (size_t q = 0; q < nq && !rc; q++)
                if (!(lists[q] = malloc((nown ? nown : 1) * k * sizeof **lists)))
                    rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        }
        for (size_t q = 0; q < nq && !rc; q++) {
            for (size_t j = 0; j < k; j++) {
                cand cd;
                int krc;
                if (labels[q * k + j] < 0)
                    break;
                if ((krc = cvs_key_id(txns[s], labels[q * k + j], &cd.id, &cd.id_len))) {
                    rc = cli_fail(cmd, krc, dbs[s]);
                    break;
                }
                cd.score = scores[q * k + j];
                lists[q][counts[q]++] = cd;
            }
        }
    }
    /* This rank's k best per query, on the wire. */
    for (size_t q = 0; q < nq && !rc; q++) {
        uint32_t cnt = 0;
        if (lists && counts[q]) {
            qsort(lists[q], counts[q], sizeof **lists, cand_cmp);
            cnt = (uint32_t)(counts[q] < k ? counts[q] : k);
        }
        if (wput(&out, &cnt, 4)) {
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
            break;
        }
        for (uint32_t j = 0; j < cnt && !rc; j++) {
            uint16_t il = (uint16_t)lists[q][j].id_len;
            if (wput(&out, &lists[q][j].score, 4) || wput(&out, &il, 2) ||
                wput(&out, lists[q][j].id, il))
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        }
    }
    if (!rc && out.n > (size_t)INT32_MAX) {
        cli_err(cmd, "rank %d: %zu bytes of results; search fewer queries at a time",
                g_mpi.rank, out.n);
        rc = CLI_EUSER;
    }
    /* --timing: each rank's CPU time for its shards, so that on a machine
     * shared with other jobs the work (the sum) and its balance (the
     * largest) can be told apart from the waiting for a core. */
    cpu[0] = cpu_now() - c0;
    cpu[1] = MPI_Wtime() - t0;
    cpu[2] = runq_wait_now() - w0;
    if ((rc = mcmd_agree(rc)))
        goto out;
    if (timing) {
        MPI_Reduce(cpu, cpu_max, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        MPI_Reduce(cpu, cpu_sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    }

    /* Gather at rank 0 and merge. */
    mysize = (int)out.n;
    if ((rc = mcmd_gather_counts(cmd, mysize, &sizes, &displs, &tot)))
        goto out;
    if (g_mpi.rank == 0) {
        if (tot > (uint64_t)INT32_MAX) {
            cli_err(cmd, "%" PRIu64 " bytes of results; search fewer queries at a time", tot);
            rc = CLI_EUSER;
        } else if (!(all = malloc(tot ? (size_t)tot : 1))) {
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Gatherv(out.p, mysize, MPI_CHAR, all, sizes, displs, MPI_CHAR, 0, MPI_COMM_WORLD);

    if (g_mpi.rank == 0) {
        cand **merged = calloc(nq ? nq : 1, sizeof *merged);
        size_t *mcount = calloc(nq ? nq : 1, sizeof *mcount);
        if (!merged || !mcount)
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        for (size_t q = 0; q < nq && !rc; q++)
            if (!(merged[q] = malloc((size_t)g_mpi.nranks * k * sizeof **merged)))
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        for (int r = 0; r < g_mpi.nranks && !rc; r++) {
            if (wparse(all + displs[r], (size_t)sizes[r], nq, merged, mcount)) {
                cli_err(cmd, "rank %d sent malformed results", r);
                rc = CLI_EFAIL;
            }
        }
        for (size_t q = 0; q < nq && !rc; q++)
            qsort(merged[q], mcount[q], sizeof **merged, cand_cmp);
        if (!rc && timing) {
            double dt = MPI_Wtime() - t0;
            fprintf(stderr, "cvstore-mpi search: %zu queries, k %" PRIu64 ", %d ranks, %u shards: "
                    "%.3f s, %.1f queries/s (slowest rank's shards %.3f s, %.3f s of CPU; "
                    "CPU of all ranks %.3f s; longest wait for a core %.3f s; threads a "
                    "rank: %d)\n", nq, k, g_mpi.nranks, m.shards, dt,
                    dt > 0 ? (double)nq / dt : 0.0, cpu_max[1], cpu_max[0], cpu_sum[0],
                    cpu_max[2], g_mpi.threads);
        }
        for (size_t q = 0; q < nq && !rc; q++) {
            size_t shown = mcount[q] < k ? mcount[q] : k;
            if (json) {
                json_t *res = json_array(), *obj;
                for (size_t j = 0; res && j < shown; j++) {
                    json_t *o = json_pack("{s:s%,s:f}", "id", merged[q][j].id,
                                          merged[q][j].id_len, "score",
                                          (double)merged[q][j].score);
                    if (!o || json_array_append_new(res, o)) {
                        json_decref(res);
                        res = NULL;
                    }
                }
                obj = res ? json_pack("{s:I,s:o}", "query", (json_int_t)q, "results", res) : NULL;
                if (!obj) {
                    rc = cli_fail(cmd, CVS_ENOMEM, NULL);
                    break;
                }
                if (cli_json_print(stdout, obj)) {
                    cli_err(cmd, "error writing output");
                    rc = CLI_EFAIL;
                    break;
                }
            } else {
                if (q)
                    putchar('\n');
                printf("query %zu\n", q);
                printf("%4s  %-20s  %12s\n", "rank", "id", "score");
                for (size_t j = 0; j < shown; j++)
                    printf("%4zu  %-20.*s  %12.6f\n", j + 1, (int)merged[q][j].id_len,
                           merged[q][j].id, (double)merged[q][j].score);
            }
        }
        for (size_t q = 0; merged && q < nq; q++)
            free(merged[q]);
        free(merged);
        free(mcount);
    }
    rc = mcmd_agree(rc);
out:
    free(all);
    free(sizes);
    free(displs);
    free(out.p);
    for (size_t q = 0; lists && q < nq; q++)
        free(lists[q]);
    free(lists);
    free(counts);
    free(labels);
    free(scores);
    for (uint32_t s = 0; txns && s < m.shards; s++)
        cvs_txn_end(txns[s]);
    free(txns);
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    if (g_mpi.rank == 0)
        cvs_free(queries);
    else
        free(queries);
    return rc;
}
