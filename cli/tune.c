/*
 * tune.c -- `cvstore tune`: measures recall on a sample of the store's own
 * vectors against exact search and stores the cheapest nprobe / rerank
 * reaching the target as the defaults `cvstore search` uses; with
 * --rebuild it also tries other IVF list counts and ",sq8" rows.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore tune DB [--target-recall R] [--rebuild] [-k K]\n"
    "                       [--sample N] [--seed S] [--query-file F [--format FMT]]\n"
    "                       [--json]\n"
    "\n"
    "Finds the cheapest ANN search setting (lists probed, candidates re-ranked,\n"
    "and with ,sq8 rows whether to re-score the best 2k exactly: search --refine)\n"
    "that reaches the target recall@k on N of the store's own vectors, measured\n"
    "against exact search, and stores it as the store's default for searches.\n"
    "\"Reaches\": the lower bound of a one-sided 90% confidence interval of the\n"
    "sample's recall is at least the target, so queries outside the sample reach\n"
    "it too; the recall printed is the sample's mean.\n"
    "With --query-file it measures on those queries instead: give a sample of\n"
    "the queries the store will answer when they are not like its vectors\n"
    "(questions against passages, another distribution); such queries usually\n"
    "need more lists probed for the same recall than a stored vector does.\n"
    "Needs an index (cvstore build --index ..., or cvstore build DB with no options).\n"
    "\n"
    "With --rebuild (an IVF index on a store that keeps its raw vectors) it also\n"
    "tries the index with and without ,sq8 re-ranking rows, then half the list\n"
    "count, then double it (or, if half won, half again), one change at a time\n"
    "from the fastest so far, rebuilding the index for each (l2 stores keep their\n"
    "codec; ip and cosine ones, whose residual codes depend on the lists, train\n"
    "it again) and keeping the one with the least CPU time per query at the\n"
    "target (interpolated between the settings measured on either side of it).\n"
    "The fastest so far stays loaded while the next is built, and the two are\n"
    "timed in turns, nine rounds: the new one wins when it is the cheaper in at\n"
    "least seven, so the machine's load while each was built does not decide (the\n"
    "store's map is grown first to make room for that; data.mdb may grow by up to\n"
    "three indexes' bytes, which later writes reuse; where the older index cannot\n"
    "be kept loaded, the new one must be cheaper by more than either's timing\n"
    "noise).  At most four rebuilds,\n"
    "each at most as long as `cvstore build` (seconds on 100K vectors, several\n"
    "minutes on 1M); the\n"
    "measurements add about as much again.  Each rebuild is one transaction:\n"
    "stopped part-way, the store keeps the last complete index, at that\n"
    "build's default nprobe and rerank (run tune again).\n"
    "\n"
    "Options:\n"
    "  -r, --target-recall R  recall@k to reach, in (0, 1] (default 0.95)\n"
    "  -b, --rebuild        also try list counts and ,sq8 rows (see above)\n"
    "  -k K                 neighbours per query (default 10)\n"
    "  -n, --sample N       query vectors drawn from the store (default: 1000 up\n"
    "                       to 10,000 records, 1e7 / records above, at least 200)\n"
    "      --seed S         sample seed (default 1)\n"
    "      --query-file F   measure on these queries (fvecs, bvecs, npy, jsonl\n"
    "                       vectors) instead of a sample of the store's vectors\n"
    "      --format FMT     format of --query-file (default: from the extension)\n"
    "  -j, --json           print the result as one JSON object: {\"reached\",\n"
    "                       \"target_recall\", \"nprobe\", \"rerank\", \"refine\",\n"
    "                       \"recall\", \"ms_per_query\", \"index\", \"rebuilds\",\n"
    "                       \"sample\", \"searches\": runs of the sample made}\n"
    "  -q, --quiet          no progress bar (on a terminal it shows the setting\n"
    "                       searched, \"tune\", each rebuild's phases, and the\n"
    "                       timed comparison of two builds, \"compare\")\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    cli_progress_update(ctx, phase, done, total, bytes_done, bytes_total);
}

int cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target-recall", required_argument, NULL, 'r'},
        {"rebuild", no_argument, NULL, 'b'},
        {"sample", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"query-file", required_argument, NULL, 'Q'},
        {"format", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_tune_opts to = {.target_recall = 0.95};
    cvs_tune_result res;
    cvs_db *db = NULL;
    cvs_info info;
    cli_progress prog;
    cvs_format fmt = CVS_FMT_AUTO;
    const char *qfile = NULL;
    float *queries = NULL;
    size_t nq = 0;
    uint32_t qdim = 0;
    int c, rc, json = 0, quiet = 0, fmt_set = 0;
    uint64_t v;
    char *end;

    while ((c = getopt_long(argc, argv, "r:bk:n:jqh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            to.target_recall = strtod(optarg, &end);
            if (*end || !(to.target_recall > 0 && to.target_recall <= 1)) {
                cli_err("tune", "--target-recall wants a number in (0, 1], not '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'k':
            if (cli_parse_u64(optarg, 1, 1000, &v)) {
                cli_err("tune", "-k wants 1..1000, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            to.k = (size_t)v;
            break;
        case 'n':
            if (cli_parse_u64(optarg, 2, 100000, &v)) {
                cli_err("tune", "--sample wants 2..100000, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            to.sample = (size_t)v;
            break;
        case 's':
            if (cli_parse_u64(optarg, 0, UINT64_MAX, &v)) {
                cli_err("tune", "--seed wants a non-negative integer, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            to.seed = v;
            break;
        case 'b':
            to.flags |= CVS_TUNE_REBUILD;
            break;
        case 'Q':
            qfile = optarg;
            break;
        case 'F':
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS) {
                cli_err("tune", "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return cli_usage_error(usage);
            }
            fmt_set = 1;
            break;
        case 'j':
            json = 1;
            cli_wait_quiet();
            break;
        case 'q':
            quiet = 1;
            cli_wait_quiet();
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("tune", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (fmt_set && !qfile) {
        cli_err("tune", "--format applies to --query-file only");
        return cli_usage_error(usage);
    }
    if ((rc = cli_open("tune", argv[optind], 0, &db)))
        return rc;
    cli_interrupt_note("tune", "each rebuild is one transaction: the store keeps its last "
                       "complete index at that build's default nprobe and rerank; run tune "
                       "again");
    if (qfile) {
        if ((rc = cvs_db_info(db, &info)) || (rc = cvs_vecs_load(qfile, fmt, &queries, &nq, &qdim))) {
            rc = cli_fail("tune", rc, db);
            goto out;
        }
        if (qdim != info.dim) {
            cli_err("tune", "%s has dimension %u; the store's is %u", qfile, qdim, info.dim);
            rc = CLI_EUSER;
            goto out;
        }
        if (!nq) {
            cli_err("tune", "%s holds no queries", qfile);
            rc = CLI_EUSER;
            goto out;
        }
        to.queries = queries;
        to.nqueries = nq;
    }
    cli_progress_init(&prog, quiet);
    to.progress = on_progress;
    to.progress_ctx = &prog;
    rc = cvs_tune(db, &to, &res);
    cli_progress_clear(&prog);
    if (rc) {
        rc = cli_fail("tune", rc, db);
        goto out;
    }
    if (json) {
        json_t *j = json_pack("{s:b,s:f,s:I,s:I,s:I,s:f,s:f,s:s,s:i,s:I,s:I}", "reached",
                              res.reached, "target_recall", to.target_recall, "nprobe",
                              (json_int_t)res.nprobe, "rerank", (json_int_t)res.rerank, "refine",
                              (json_int_t)res.refine, "recall", res.recall, "ms_per_query",
                              res.ms_per_query, "index", res.index, "rebuilds", res.rebuilds,
                              "sample", (json_int_t)res.sample, "searches",
                              (json_int_t)res.searches);
        if (!j || cli_json_print(stdout, j)) {
            cli_err("tune", "error writing output");
            rc = CLI_EFAIL;
            goto out;
        }
    } else {
        printf("%s: %s nprobe %zu, rerank %zu", res.reached ? "stored" : "target not reached; stored the most accurate",
               res.index, res.nprobe, res.rerank);
        if (res.refine)
            printf(", refine %zu", res.refine);
        printf(": recall@%zu %.4f on %zu queries at %.3f ms of CPU per query (one thread)",
               to.k ? to.k : 10, res.recall, res.sample, res.ms_per_query);
        if (to.flags & CVS_TUNE_REBUILD)
            printf("; %d rebuild%s", res.rebuilds, res.rebuilds == 1 ? "" : "s");
        printf("\n");
    }
    rc = CLI_OK;
out:
    cvs_free(queries);
    cvs_db_close(db);
    return rc;
}
