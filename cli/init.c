/*
 * init.c -- `cvstore init`: creates an empty store.  The dimension, metric
 * and raw precision are fixed for the store's lifetime (cosine vectors are
 * normalized at insert, so the metric cannot be changed later), which is
 * why they are required here rather than guessed from the first import.
 */
#include <getopt.h>
#include <stdio.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore init DB --dim D --metric l2|ip|cosine [--raw f32|f16|none]\n"
    "\n"
    "Creates an empty store in directory DB (created if missing; it must not\n"
    "already hold a store).\n"
    "\n"
    "Options:\n"
    "  -d, --dim D          vector dimension, 1..65536 (required)\n"
    "  -m, --metric M       l2 (scores are Euclidean distances), ip (inner\n"
    "                       product) or cosine (required)\n"
    "  -r, --raw P          precision of the stored vectors: f32 (default), f16,\n"
    "                       or none (keep them only until `cvstore build`, then\n"
    "                       keep the codes alone)\n"
    "  -h, --help           show this help\n";

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dim", required_argument, NULL, 'd'},
        {"metric", required_argument, NULL, 'm'},
        {"raw", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_create_opts co = {0};
    cvs_db *db = NULL;
    uint64_t dim = 0;
    int c, rc = CLI_OK, have_metric = 0;

    while ((c = getopt_long(argc, argv, "d:m:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (cli_parse_u64(optarg, 1, CVS_MAX_DIM, &dim)) {
                cli_err("init", "--dim must be an integer from 1 to %d, not '%s'",
                        CVS_MAX_DIM, optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'm':
            if (cvs_metric_parse(optarg, &co.metric)) {
                cli_err("init", "unknown metric '%s' (l2, ip or cosine)", optarg);
                return cli_usage_error(usage);
            }
            have_metric = 1;
            break;
        case 'r':
            if (cvs_raw_parse(optarg, &co.raw)) {
                cli_err("init", "unknown raw precision '%s' (f32, f16 or none)", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("init", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (!dim || !have_metric) {
        cli_err("init", "--dim and --metric are required");
        return cli_usage_error(usage);
    }
    co.dim = (uint32_t)dim;
    if (!co.raw)
        co.raw = CVS_RAW_F32;

    if ((rc = cvs_db_create(argv[optind], &co, &db))) {
        rc = cli_fail("init", rc, NULL);
        goto out;
    }
    printf("created %s: dim %u, metric %s, raw %s\n", argv[optind], co.dim,
           cvs_metric_name(co.metric), cvs_raw_name(co.raw));
out:
    cvs_db_close(db);
    return rc;
}
