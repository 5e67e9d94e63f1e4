/*
 * get.c -- `cvstore get`: prints records by external id, for a person
 * (one block per record) or for a program (--json, one object per line).
 * All ids are read from one snapshot so the output is consistent even while
 * an import runs.  Missing ids do not stop the others from being printed;
 * they are reported at the end and make the exit code 1, so a script can
 * tell "all found" from "some missing" without parsing.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore get DB ID... [--json] [--vector]\n"
    "\n"
    "Prints the records with the given ids: id, key, text, meta, links and the\n"
    "creation and update times (ISO-8601, UTC).  Ids that are not in the store\n"
    "are reported on stderr after the others are printed, and the exit code is 1.\n"
    "\n"
    "Options:\n"
    "  -j, --json           one JSON object per record per line, as export writes\n"
    "                       it (\"sentences\" when the record came with them) with\n"
    "                       \"key\", \"created\" and \"updated\"\n"
    "  -v, --vector         include the vector\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static void print_human(const cvs_record *r, const float *vec, uint32_t dim)
{
    char tb[40], *id = cli_escape_text(r->id, r->id_len);

    /* The id on one line whatever it holds (a newline would fake a field). */
    printf("id:       %s\n", id ? id : "?");
    free(id);
    printf("key:      %" PRId64 "\n", r->key);
    if (r->title)
        printf("title:    %.*s\n", (int)r->title_len, r->title);
    if (r->text)
        printf("text:     %.*s\n", (int)r->text_len, r->text);
    if (r->meta && r->meta_len)
        printf("meta:     %.*s\n", (int)r->meta_len, r->meta);
    for (size_t i = 0; i < r->nlinks; i++) {
        const cvs_link *l = &r->links[i];
        char *lid = cli_escape_text(l->id, l->id_len);
        printf("%s%s", i ? ", " : "links:    ", lid ? lid : "?");
        free(lid);
        if ((l->type && *l->type) || l->weight != 1.0f)
            printf(" (%s%sweight %g)", l->type && *l->type ? l->type : "",
                   l->type && *l->type ? ", " : "", (double)l->weight);
        if (i + 1 == r->nlinks)
            putchar('\n');
    }
    printf("created:  %s\n", cli_iso8601(r->created_us, tb, sizeof tb));
    printf("updated:  %s\n", cli_iso8601(r->updated_us, tb, sizeof tb));
    if (vec) {
        fputs("vector:   [", stdout);
        for (uint32_t i = 0; i < dim; i++) {
            if (i)
                fputs(", ", stdout);
            cli_write_float(stdout, vec[i]);
        }
        fputs("]\n", stdout);
    }
}

int cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"vector", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_info info;
    float *vec = NULL;
    char **missing = NULL;
    uint32_t *sents = NULL; /* (start, end) pairs of one record's given sentences */
    size_t nmissing = 0, nfound = 0, sents_cap = 0, nsents = 0;
    int c, rc, json = 0, want_vec = 0;

    while ((c = getopt_long(argc, argv, "jvh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'v':
            want_vec = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind < 2) {
        cli_err("get", "expected DB and at least one ID");
        return cli_usage_error(usage);
    }

    if ((rc = cli_open("get", argv[optind], CVS_OPEN_RDONLY, &db)))
        goto out;
    if ((rc = cvs_db_info(db, &info)) || (rc = cvs_txn_begin(db, &txn))) {
        rc = cli_fail("get", rc, db);
        goto out;
    }
    if (want_vec && !(vec = malloc((size_t)info.dim * sizeof *vec))) {
        rc = cli_fail("get", CVS_ENOMEM, NULL);
        goto out;
    }
    /* At most one slot per id given; sized by the command line, not a
     * compile-time guess. */
    if (!(missing = calloc((size_t)argc, sizeof *missing))) {
        rc = cli_fail("get", CVS_ENOMEM, NULL);
        goto out;
    }
    for (int i = optind + 1; i < argc; i++) {
        cvs_record r;
        const char *id = argv[i];
        int grc = cvs_get(txn, id, strlen(id), &r, vec);
        if (grc == CVS_NOTFOUND) {
            missing[nmissing++] = argv[i];
            continue;
        }
        if (grc) {
            rc = cli_fail("get", grc, db);
            goto out;
        }
        if (json) {
            /* As export writes them, so get --json shows what a record is. */
            if ((grc = cli_given_sentences(txn, &r, &sents, &sents_cap, &nsents))) {
                rc = cli_fail("get", grc, grc == CVS_ENOMEM ? NULL : db);
                goto out;
            }
            if (cli_write_record_json(stdout, &r, vec, info.dim, 1, nsents ? sents : NULL,
                                      nsents)) {
                cli_err("get", "error writing output");
                rc = CLI_EFAIL;
                goto out;
            }
        } else {
            if (nfound)
                putchar('\n');
            print_human(&r, vec, info.dim);
        }
        nfound++;
    }
    /* Found records first, then the complaints: stdout and stderr may be the
     * same terminal, and interleaving would split a record's block. */
    fflush(stdout);
    for (size_t i = 0; i < nmissing; i++) {
        char *m = cli_escape_text(missing[i], strlen(missing[i]));
        cli_err("get", "not found: %s", m ? m : "?");
        free(m);
    }
    rc = nmissing ? CLI_EUSER : CLI_OK;
out:
    free(sents);
    free(missing);
    free(vec);
    cvs_txn_end(txn);
    cvs_db_close(db);
    return rc;
}
