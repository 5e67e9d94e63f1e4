/*
 * delete.c -- `cvstore delete`: removes records by external id, all in one
 * transaction (links pointing at them are dropped by the library).  Ids
 * that are not there are skipped, as rm -f would; but if none of them was
 * there the exit code is 1, because that is almost always a wrong store or
 * a mistyped id.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore delete DB ID... [--json]\n"
    "\n"
    "Deletes the records with the given ids in one transaction and prints how\n"
    "many were deleted.  Ids not in the store are skipped; the exit code is 1\n"
    "if none of them was there.\n"
    "\n"
    "Options:\n"
    "      --json           print {\"deleted\": N, \"requested\": M} instead\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

int cmd_delete(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_db *db = NULL;
    const char **ids = NULL;
    size_t *lens = NULL, n, deleted = 0;
    int c, rc, json = 0;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            cli_wait_quiet();
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind < 2) {
        cli_err("delete", "expected DB and at least one ID");
        return cli_usage_error(usage);
    }
    n = (size_t)(argc - optind - 1);
    ids = calloc(n, sizeof *ids);
    lens = calloc(n, sizeof *lens);
    if (!ids || !lens) {
        rc = cli_fail("delete", CVS_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = argv[optind + 1 + (int)i];
        lens[i] = strlen(ids[i]);
        /* Said here, in the user's terms, rather than by the library's
         * argument check. */
        if (lens[i] == 0 || lens[i] > CVS_MAX_ID_LEN) {
            if (lens[i])
                cli_err("delete", "id %zu is longer than the %d bytes an id may have", i + 1,
                        CVS_MAX_ID_LEN);
            else
                cli_err("delete", "id %zu is empty", i + 1);
            rc = CLI_EUSER;
            goto out;
        }
    }

    if ((rc = cli_open("delete", argv[optind], 0, &db)))
        goto out;
    if ((rc = cvs_delete(db, ids, lens, n, &deleted))) {
        rc = cli_fail("delete", rc, db);
        goto out;
    }
    if (json) {
        if ((rc = cli_json_report("delete", json_pack("{sI sI}", "deleted", (json_int_t)deleted,
                                                      "requested", (json_int_t)n),
                                  "the delete is committed")))
            goto out;
    } else {
        printf("deleted %zu of %zu\n", deleted, n);
    }
    if (!deleted) {
        if (n == 1) {
            char *m = cli_escape_text(ids[0], lens[0]);
            cli_err("delete", "not found: %s", m ? m : "?");
            free(m);
        } else
            cli_err("delete", "none of the %zu ids was found", n);
        rc = CLI_EUSER;
    }
out:
    free(lens);
    free(ids);
    cvs_db_close(db);
    return rc;
}
