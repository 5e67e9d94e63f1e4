/*
 * export.c -- `cvstore export`: writes every record as JSONL in exactly the
 * format `cvstore import` reads, so export -> import is a faithful copy
 * (ids, vectors to the last bit via %.9g, title, text, meta, links; the internal
 * keys and timestamps are the store's own and are not carried over).  One
 * snapshot covers the whole export, so it is consistent even while
 * writers run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore export DB [--output FILE] [--no-vector]\n"
    "\n"
    "Writes every record, in insertion order, one JSON object per line:\n"
    "  {\"id\": ..., \"vector\": [...], \"title\": ..., \"text\": ..., \"meta\": {...},\n"
    "   \"links\": [...]}\n"
    "the format `cvstore import` reads.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE    write to FILE instead of standard output\n"
    "  -n, --no-vector      leave the vectors out (the output is then not\n"
    "                       importable)\n"
    "  -h, --help           show this help\n";

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"no-vector", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *outpath = NULL;
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_iter *it = NULL;
    cvs_info info;
    FILE *out = stdout;
    float *vec = NULL;
    uint64_t n = 0;
    int c, rc, irc, novec = 0;

    while ((c = getopt_long(argc, argv, "o:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            outpath = optarg;
            break;
        case 'n':
            novec = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("export", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }

    if ((rc = cli_open("export", argv[optind], CVS_OPEN_RDONLY, &db)))
        goto done;
    if ((rc = cvs_db_info(db, &info))) {
        rc = cli_fail("export", rc, db);
        goto done;
    }
    if (!novec && !(vec = malloc((size_t)info.dim * sizeof *vec))) {
        rc = cli_fail("export", CVS_ENOMEM, NULL);
        goto done;
    }
    if (outpath && !(out = fopen(outpath, "w"))) {
        cli_err("export", "%s: %s", outpath, strerror(errno));
        out = stdout;
        rc = CLI_EFAIL;
        goto done;
    }
    if ((rc = cvs_txn_begin(db, &txn)) || (rc = cvs_iter_open(txn, &it))) {
        rc = cli_fail("export", rc, db);
        goto done;
    }
    for (;;) {
        cvs_record r;
        irc = cvs_iter_next(it, &r, vec);
        if (irc == CVS_NOTFOUND)
            break;
        if (irc) {
            rc = cli_fail("export", irc, db);
            goto done;
        }
        if (cli_write_record_json(out, &r, vec, info.dim, 0))
            break; /* reported below, with the file's name */
        n++;
    }
    if (fflush(out) != 0 || ferror(out)) {
        cli_err("export", "error writing %s: %s", outpath ? outpath : "standard output",
                strerror(errno));
        rc = CLI_EFAIL;
        goto done;
    }
    if (outpath)
        fprintf(stderr, "exported %" PRIu64 " records to %s\n", n, outpath);
    rc = CLI_OK;
done:
    if (out != stdout && fclose(out) != 0 && rc == CLI_OK) {
        cli_err("export", "error writing %s: %s", outpath, strerror(errno));
        rc = CLI_EFAIL;
    }
    /* A half-written file looks like a complete export; don't leave one. */
    if (rc != CLI_OK && outpath && out != stdout)
        unlink(outpath);
    cvs_iter_close(it);
    cvs_txn_end(txn);
    free(vec);
    cvs_db_close(db);
    return rc;
}
