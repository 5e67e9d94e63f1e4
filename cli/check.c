/*
 * check.c -- `cvstore check`: runs cvs_check over a store and lists every
 * problem it finds.  Its exit code separates the three outcomes a cron job
 * needs to tell apart: 0 healthy, 1 the store has problems, 2 the check
 * itself could not run (I/O, memory).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore check DB [--json] [--quiet]\n"
    "\n"
    "Verifies the store's invariants without changing anything: the id maps are\n"
    "a bijection, the count matches, every vector has the right length and is\n"
    "finite, every meta is a JSON object, no link dangles, the BM25 index matches\n"
    "the texts, and the kNN graph and title map are well formed and name only\n"
    "existing records.\n"
    "A note is not a problem: it says what a command would improve (mention\n"
    "links made by an older rule of the linker: run cvstore link; a BM25 index\n"
    "made by an older tokenizer: the next write rebuilds it).\n"
    "Exit code 0: healthy; 1: problems found (a store too damaged to open is\n"
    "one: its data.mdb cut short, not an LMDB file, or without its meta record);\n"
    "2: the check itself failed.\n"
    "Ids in the messages that are not printable text (an encrypted store's ids\n"
    "are kept hashed, so those are binary) show each such byte as \\xNN, in\n"
    "both modes; a backslash shows as \\\\.\n"
    "\n"
    "A progress bar shows on a terminal (stderr) while each database is walked.\n"
    "\n"
    "Options:\n"
    "  -j, --json           one JSON object: {\"healthy\": true, \"problems\": 0,\n"
    "                       \"records\": N, \"messages\": [...], \"notes\": [...]}\n"
    "                       (\"records\": null when the store cannot be opened)\n"
    "  -q, --quiet          no progress bar\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

struct report {
    int json;
    json_t *messages;      /* --json: collected, printed at the end */
    int oom;
    cli_progress *bar;
};

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    cli_progress_update(ctx, phase, done, total, bytes_done, bytes_total);
}

static void on_problem(void *ctx, const char *msg)
{
    struct report *r = ctx;
    /* A message quotes ids, and ids are bytes (an encrypted store's are
     * hashes): never raw binary on a terminal, always valid JSON strings. */
    char *text = cli_escape_text(msg, strlen(msg));
    if (!text) {
        r->oom = 1;
        return;
    }
    if (!r->json) {
        cli_progress_clear(r->bar); /* the bar is on stderr, the problems on stdout */
        printf("problem: %s\n", text);
        /* Out before anything else is read: damage LMDB trips over ends
         * the process (cvs_fault_exit), and buffered lines would be lost. */
        fflush(stdout);
    } else if (json_array_append_new(r->messages, json_string(text)))
        r->oom = 1;
    free(text);
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct report rep = {0};
    cli_progress prog;
    cvs_db *db = NULL;
    cvs_info info;
    uint64_t problems = 0;
    int c, rc, quiet = 0, outdated = 0, tok_outdated = 0;

    while ((c = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            rep.json = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("check", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }

    if (rep.json && !(rep.messages = json_array())) {
        rc = cli_fail("check", CVS_ENOMEM, NULL);
        goto out;
    }
    cli_progress_init(&prog, quiet);
    rep.bar = &prog;
    rc = cli_open("check", argv[optind], CVS_OPEN_RDONLY | CLI_OPEN_DAMAGE_VERDICT, &db);
    if (rc == CLI_DAMAGED) {
        /* The library refused the store for its damage (data.mdb cut short,
         * no meta record): that is the check's verdict, the one a script
         * asks for (exit 1, "healthy": false), not a check that failed. */
        char msg[1024];
        snprintf(msg, sizeof msg, "store cannot be opened: %s", cvs_errmsg(NULL));
        on_problem(&rep, msg);
        problems = 1;
        rc = CVS_OK;
    } else if (rc) {
        goto out;
    } else {
        rc = cvs_check_progress(db, on_problem, &rep, prog.enabled ? on_progress : NULL, &prog,
                                &problems);
    }
    cli_progress_clear(&prog);
    if (rc) {
        /* Whatever the code, the store was not verified: that is never a
         * verdict on the store, so never exit 1 here. */
        cli_fail("check", rc, db);
        rc = CLI_EFAIL;
        goto out;
    }
    if (rep.oom) {
        rc = cli_fail("check", CVS_ENOMEM, NULL);
        goto out;
    }
    if (!db || cvs_db_info(db, &info))
        info.count = 0; /* only for the message; the verdict stands */
    /* A note, not a problem: the links are sound, only made by an older
     * rule (a store that cannot say is not noted; the verdict stands). */
    if (!db || cvs_link_rule_outdated(db, &outdated))
        outdated = 0;
    if (!db || cvs_text_index_outdated(db, &tok_outdated))
        tok_outdated = 0;
    if (rep.json) {
        json_t *j = json_pack("{s:b,s:I,s:o,s:O,s:[s*s*]}", "healthy", problems == 0,
                              "problems", (json_int_t)problems,
                              "records", db ? json_integer((json_int_t)info.count)
                                            : json_null(),
                              "messages", rep.messages,
                              "notes", outdated ? cli_links_outdated_note(db) : NULL,
                              tok_outdated ? CLI_TOKENIZER_OUTDATED : NULL);
        if (!j || cli_json_print(stdout, j)) {
            cli_err("check", "error writing output");
            rc = CLI_EFAIL;
            goto out;
        }
    } else if (problems == 0) {
        printf("ok: %" PRIu64 " records, no problems found\n", info.count);
    } else {
        printf("%" PRIu64 " problem%s found\n", problems, problems == 1 ? "" : "s");
    }
    if (!rep.json && outdated)
        printf("note: %s\n", cli_links_outdated_note(db));
    if (!rep.json && tok_outdated)
        printf("note: %s\n", CLI_TOKENIZER_OUTDATED);
    rc = problems ? CLI_EUSER : CLI_OK;
out:
    json_decref(rep.messages);
    cvs_db_close(db);
    return rc;
}
