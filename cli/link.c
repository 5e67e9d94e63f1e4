/*
 * link.c -- `cvstore link`: builds the graph that context sets walk: the
 * automatic "mentions" links (records whose title another record's text
 * mentions) and the kNN graph.  Both replace what an earlier run wrote.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore link DB [-k K] [--ann] [--no-mentions] [--no-knn] [--json] [--quiet]\n"
    "\n"
    "Links every record to the records whose title its text mentions (type\n"
    "\"mentions\"; explicit links stay), and builds the kNN graph: each record's\n"
    "K nearest records, found by exact search, or with --ann by the store's ANN\n"
    "index (then the recall of the true K nearest is measured and printed).\n"
    "Run it after imports; `cvstore context` walks both.  The exact kNN graph\n"
    "compares every record with every other: a progress bar shows on a terminal.\n"
    "\n"
    "Options:\n"
    "  -k, --knn K          neighbours per record (default 16)\n"
    "      --ann            find neighbours with the ANN index (cvstore build --index)\n"
    "      --no-mentions    skip the title-mention linker\n"
    "      --no-knn         skip the kNN graph\n"
    "      --json           one JSON object with both reports: {\"mentions\":\n"
    "                       {\"records\", \"titles\", \"sources\", \"links\",\n"
    "                       \"seconds\"}, \"knn\": {\"k\", \"records\", \"approximate\",\n"
    "                       \"recall\", \"seconds\"}} (each left out when skipped)\n"
    "  -q, --quiet          no progress bar\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    cli_progress_update(ctx, phase, done, total, bytes_done, bytes_total);
}

int cmd_link(int argc, char **argv)
{
    static const struct option opts[] = {
        {"knn", required_argument, NULL, 'k'},
        {"ann", no_argument, NULL, 'a'},
        {"no-mentions", no_argument, NULL, 'M'},
        {"no-knn", no_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_db *db = NULL;
    cvs_link_stats ls = {0};
    cvs_knn_opts ko = {0};
    cvs_knn_info ki = {0};
    uint64_t k = 16;
    cli_progress prog;
    int c, rc, mentions = 1, knn = 1, json = 0, quiet = 0;

    while ((c = getopt_long(argc, argv, "k:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (cli_parse_u64(optarg, 1, 4096, &k)) {
                cli_err("link", "-k/--knn: expected an integer in 1..4096, got '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'a': ko.flags = CVS_SEARCH_ANN; break;
        case 'M': mentions = 0; break;
        case 'N': knn = 0; break;
        case 'j': json = 1; cli_wait_quiet(); break;
        case 'q': quiet = 1; cli_wait_quiet(); break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("link", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (!mentions && !knn) {
        /* Both parts skipped would open the store, do nothing and exit 0:
         * a script that meant one of them would never hear of it. */
        cli_err("link", "--no-mentions and --no-knn together leave nothing to do: drop one");
        return cli_usage_error(usage);
    }
    ko.k = (size_t)k;
    if ((rc = cli_open("link", argv[optind], 0, &db)))
        goto out;
    cli_interrupt_note("link", "the mention links and the kNN graph are each written in "
                       "one transaction: a part not finished is not written, and the store "
                       "keeps its previous one; the same command again completes it");
    /* Said, not refused: a shard's own mention links are still right,
     * only those into the other shards go missing. */
    if (mentions && cli_shard_link_warning(db))
        fprintf(stderr, "cvstore: link: warning: %s\n", cli_shard_link_warning(db));
    if (mentions && (rc = cvs_link_mentions(db, &ls))) {
        rc = cli_fail("link", rc, db);
        goto out;
    }
    cli_progress_init(&prog, quiet);
    if (prog.enabled) {
        ko.progress = on_progress;
        ko.progress_ctx = &prog;
    }
    rc = knn ? cvs_knn_build(db, &ko, &ki) : CVS_OK;
    cli_progress_clear(&prog);
    if (rc) {
        rc = cli_fail("link", rc, db);
        goto out;
    }
    if (json) {
        rc = cli_json_report("link", cli_link_json(mentions ? &ls : NULL, knn ? &ki : NULL),
                             "the links are committed");
    } else {
        if (mentions)
            printf("mentions: %llu links from %llu of %llu records (%llu usable titles), %.2f s\n",
                   (unsigned long long)ls.links, (unsigned long long)ls.sources,
                   (unsigned long long)ls.records, (unsigned long long)ls.titles, ls.seconds);
        if (knn) {
            /* A record's neighbours are the other records: k at most. */
            unsigned long long nb = ki.records > ki.k ? (unsigned long long)ki.k
                                    : ki.records      ? (unsigned long long)ki.records - 1
                                                      : 0;
            printf("knn: %llu neighbour%s each for %llu record%s, %s, recall@%zu %.4f, %.2f s\n",
                   nb, nb == 1 ? "" : "s", (unsigned long long)ki.records,
                   ki.records == 1 ? "" : "s", ki.approximate ? "ANN" : "exact", ki.k, ki.recall,
                   ki.seconds);
        }
    }
out:
    cvs_db_close(db);
    return rc;
}
