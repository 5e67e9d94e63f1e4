/*
 * import.c -- `cvstore import`: loads a file of vectors (fvecs, bvecs, npy)
 * or records (jsonl) into a store through cvs_import, which validates the
 * whole file before writing anything.  This command adds what a person at a
 * terminal wants around that: a progress bar while it runs (only on a
 * terminal, so logs stay clean) and a one-line summary with the rate.
 *
 * A text store (one that records an embedder) gets its graph kept with its
 * records, as BM25 is: every put keeps its mention links (graph/link.c,
 * "Keeping mentions on every write") and, once the store has a kNN graph,
 * that graph (graph/knn.c); an import builds the kNN graph when the store
 * has none, so `import` then `context` needs no `--link`.  After an import
 * the mention links are still rebuilt once: the rebuild judges every
 * title's frequency against the final store, where a put judged it against
 * the store of its batch (on a generated 5,000-record corpus imported in
 * one batch the two are byte-identical; in batches of 100 one link in
 * 16,623 differs), and it costs 0.3 s there, a third of the import.
 * `--no-link` skips that rebuild.  A plain vector store keeps the explicit `--link` / `cvstore
 * link`: its records have no text to mention titles, and a kNN graph over
 * hundreds of thousands of vectors (the 341K-word demo store) is a build a
 * user should ask for.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore import DB FILE [--format fvecs|bvecs|npy|jsonl] [--batch N]\n"
    "                      [--ids FILE] [--ids-as-text] [--link|--no-link] [--json]\n"
    "                      [--quiet]\n"
    "\n"
    "Imports FILE into the store DB.  The whole file is validated first: a file\n"
    "with a bad record changes nothing, and the error names the file, the record\n"
    "or line and the problem.  Records are upserted by id, so re-running an\n"
    "import is harmless.  A file of no records (empty, or blank lines only, as\n"
    "the export of an empty store is) imports nothing, and the summary says so.\n"
    "A JSONL key that is no record field (\"metadata\" for \"meta\") is ignored\n"
    "with a warning naming it, its first line and the field it likely meant.\n"
    "\n"
    "FILE - reads standard input (give --format; JSONL, which export writes,\n"
    "is recognised by its first '{').  Standard input, a pipe or\n"
    "any other FILE that is not a regular file is first copied to a temporary\n"
    "file in $TMPDIR (else /tmp; it needs room for one copy of the input) and\n"
    "imported from there, so the same all-or-nothing validation holds:\n"
    "  gunzip -c vecs.jsonl.gz | cvstore import DB - --format jsonl\n"
    "\n"
    "Options:\n"
    "  -f, --format F       fvecs, bvecs, npy or jsonl (default: from the extension)\n"
    "  -b, --batch N        records per transaction (default 10000)\n"
    "  -i, --ids FILE       fvecs/bvecs/npy: one id per line, in record order\n"
    "                       (default ids are \"0\", \"1\", ...)\n"
    "  -t, --ids-as-text    with --ids: store each id as the record's text too\n"
    "  -l, --link           then run `cvstore link` on the store: title-mention\n"
    "                       links and the kNN graph, for `cvstore context`; a text\n"
    "                       store (init --embedder) does this by itself (the kNN\n"
    "                       graph is built when it has none; puts keep it)\n"
    "  -L, --no-link        a text store: skip the rebuild of the mention links and\n"
    "                       the kNN build (puts keep the links all the same)\n"
    "      --json           the summary as one JSON object on standard output:\n"
    "                       {\"file\", \"records\", \"inserted\", \"updated\", \"bytes\",\n"
    "                       \"seconds\", \"link\"} (\"link\": `cvstore link --json`'s\n"
    "                       {\"mentions\", \"knn\"}, when the import linked; \"knn\"\n"
    "                       left out when the graph was kept up to date by the\n"
    "                       writes; \"unknown_keys\" and \"unknown_key_records\" when\n"
    "                       JSONL records held keys that are no field)\n"
    "  -q, --quiet          no progress bar and no summary (a file of no\n"
    "                       records is still said: a wrong file is noticed)\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    cli_progress_update(ctx, phase, done, total, bytes_done, bytes_total);
}

/* A JSONL key the import ignored (cvs_import_warn_fn): said on standard
 * error whatever --quiet and --json say (what a user stored must not go
 * missing unnoticed), and kept for --json's "unknown_keys". */
typedef struct warned {
    cli_progress *prog;
    json_t *keys;          /* --json: the names, in order met */
} warned;

static void on_unknown_key(void *ctx, const char *key, uint64_t line, const char *suggest,
                           const char *msg)
{
    warned *w = ctx;
    (void)line;
    (void)suggest;
    cli_progress_clear(w->prog);
    fprintf(stderr, "cvstore: import: warning: %s\n", msg);
    if (w->keys)
        json_array_append_new(w->keys, json_string(key));
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* The graph's line of the summary.  Mention links exist only where records
 * have titles: a store without any says so, rather than "0 mention links
 * from 0 records", which read as if nothing had been imported.  ki NULL:
 * the kNN graph was there already (puts keep it). */
static void link_summary(const cvs_link_stats *ls, const cvs_knn_info *ki)
{
    char knn[160];
    if (!ki) {
        snprintf(knn, sizeof knn, "kNN graph kept up to date by the writes");
    } else {
        /* A record's neighbours are the other records, k at most. */
        uint64_t nb = ki->records > ki->k ? (uint64_t)ki->k : ki->records ? ki->records - 1 : 0;
        snprintf(knn, sizeof knn, "kNN graph of %" PRIu64 " record%s, %" PRIu64 " neighbour%s "
                 "each, %.2f s", ki->records, plural(ki->records), nb, plural(nb), ki->seconds);
    }
    if (ls->titles == 0)
        fprintf(stderr, "linked: no mention links (no record has a title to be mentioned "
                "by); %s\n", knn);
    else if (ls->links == 0)
        fprintf(stderr, "linked: no mention links (no text mentions one of the %" PRIu64
                " title%s); %s\n", ls->titles, plural(ls->titles), knn);
    else
        fprintf(stderr, "linked: %" PRIu64 " mention link%s from %" PRIu64 " record%s to "
                "%" PRIu64 " title%s; %s\n", ls->links, plural(ls->links), ls->sources,
                plural(ls->sources), ls->titles, plural(ls->titles), knn);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'b'},
        {"ids", required_argument, NULL, 'i'},
        {"ids-as-text", no_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"link", no_argument, NULL, 'l'},
        {"no-link", no_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_import_opts io = {0};
    cvs_import_stats st = {0};
    cli_progress prog;
    cvs_db *db = NULL;
    const char *path, *file;
    uint64_t batch;
    double t0, el;
    int c, rc, quiet = 0, json = 0, link = 0; /* 1 --link, -1 --no-link, 2 a text store */
    json_t *linked = NULL; /* --json's "link" */
    warned wd = {0};

    while ((c = getopt_long(argc, argv, "f:b:i:tqlLh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (cvs_format_parse(optarg, &io.format) || io.format == CVS_FMT_IVECS) {
                cli_err("import", "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'b':
            if (cli_parse_u64(optarg, 1, SIZE_MAX, &batch)) {
                cli_err("import", "--batch must be a positive integer, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            io.batch = (size_t)batch;
            break;
        case 'i':
            io.ids_path = optarg;
            break;
        case 't':
            io.ids_as_text = 1;
            break;
        case 'q':
            quiet = 1;
            cli_wait_quiet();
            break;
        case 'j':
            json = 1;
            cli_wait_quiet();
            break;
        case 'l':
            link = 1;
            break;
        case 'L':
            link = -1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 2) {
        cli_err("import", "%s", argc - optind < 2 ? "expected DB and FILE" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (io.ids_as_text && !io.ids_path) {
        cli_err("import", "--ids-as-text needs --ids FILE");
        return cli_usage_error(usage);
    }
    path = argv[optind];
    file = argv[optind + 1];
    if (!strcmp(file, "-") && !io.format) {
        /* JSONL, what `cvstore export` writes, starts with '{' (an empty
         * store's export with nothing), so `export A | import B -` needs no
         * --format.  The binary formats cannot be told by one byte (an
         * fvecs of 147 dimensions starts as .npy does), and stdio gives
         * back one byte only; the library's copy of stdin reads it again. */
        int c = getc(stdin);
        if (c == '{' || (c == EOF && !ferror(stdin)))
            io.format = CVS_FMT_JSONL;
        if (c != EOF && ungetc(c, stdin) == EOF) {
            cli_err("import", "standard input: cannot read it back");
            return CLI_EFAIL;
        }
        if (!io.format) {
            cli_err("import", "standard input needs --format (fvecs, bvecs, npy or jsonl; "
                    "JSONL is recognised by its first '{')");
            return cli_usage_error(usage);
        }
    }
    {
        /* Said before the store is opened, and plainly: a wrong name is not
         * "malformed input". */
        struct stat fst;
        if (strcmp(file, "-") && stat(file, &fst) != 0) {
            cli_err("import", "%s: %s", file, strerror(errno));
            return CLI_EUSER;
        }
    }

    if ((rc = cli_open("import", path, 0, &db)))
        goto out;
    cli_interrupt_note("import", "each batch of records written before it is committed "
                       "(`cvstore stats %s` counts them); the same import again completes it "
                       "(records are upserted by id)", path);
    cli_progress_init(&prog, quiet);
    if (prog.enabled) {
        io.progress = on_progress;
        io.progress_ctx = &prog;
    }
    wd.prog = &prog;
    if (json && !(wd.keys = json_array())) {
        rc = cli_fail("import", CVS_ENOMEM, NULL);
        goto out;
    }
    io.warn = on_unknown_key;
    io.warn_ctx = &wd;
    t0 = cli_now();
    rc = cvs_import(db, file, &io, &st);
    el = cli_now() - t0;
    cli_progress_clear(&prog);
    if (rc) {
        rc = cli_fail("import", rc, db);
        /* A write that failed after some batches (a full disk): those stay
         * committed, which the error alone does not say; the same import
         * again, once the cause is fixed, completes it (upserts by id). */
        if (st.inserted + st.updated)
            fprintf(stderr, "cvstore: import: the first %" PRIu64 " record%s of %s %s "
                    "committed; once the problem is fixed, the same import again completes "
                    "it (records are upserted by id)\n",
                    st.inserted + st.updated, plural(st.inserted + st.updated),
                    strcmp(file, "-") ? base_name(file) : "standard input",
                    st.inserted + st.updated == 1 ? "is" : "are");
        goto out;
    }
    if (st.records == 0) {
        /* Said even with --quiet: a wrong file (a failed download) is
         * noticed, and a restored empty export reads as one. */
        fprintf(stderr, "imported 0 records: %s holds no records; the store is unchanged\n",
                strcmp(file, "-") ? base_name(file) : "standard input");
        goto summary;
    }
    if (!quiet && !json) {
        /* Large texts import at a few records a second: "0 rec/s" would
         * read as a stall, so slow rates keep a decimal; for the same
         * reason a text store's import (a few kB a second) is in kB/s. */
        double rate = el > 0 ? (double)st.records / el : 0.0;
        double mbs = el > 0 ? (double)st.bytes / el / 1e6 : 0.0;
        fprintf(stderr,
                "imported %" PRIu64 " record%s (%" PRIu64 " new, %" PRIu64 " updated)"
                " from %s in %.*f s: %.*f rec/s, %.1f %s\n",
                st.records, st.records == 1 ? "" : "s", st.inserted, st.updated,
                strcmp(file, "-") ? base_name(file) : "standard input", el < 10 ? 2 : 1, el,
                rate < 10 ? 1 : 0, rate, mbs < 1 ? mbs * 1e3 : mbs, mbs < 1 ? "kB/s" : "MB/s");
    }
    if (link == 0) {
        cvs_embedder_info ei;
        if ((rc = cvs_db_embedder_info(db, &ei)) == CVS_OK)
            link = 2; /* a text store keeps its graph */
        else if (rc != CVS_NOTFOUND) {
            rc = cli_fail("import", rc, db);
            goto out;
        }
        rc = CVS_OK;
    }
    if (link > 0) {
        /* After the records are in: mentions may point anywhere in the file. */
        cvs_link_stats ls;
        cvs_knn_info ki = {0};
        cvs_knn_opts ko = {0};
        int have_knn = 0;
        if (link == 2) {
            if ((rc = cvs_knn_get_info(db, &ki)) && rc != CVS_NOTFOUND) {
                rc = cli_fail("import", rc, db);
                goto out;
            }
            have_knn = rc == CVS_OK;
            rc = CVS_OK;
        }
        if (prog.enabled) {
            /* The kNN build compares every record with every other: on a
             * large import it is the longest part after the writes. */
            ko.progress = on_progress;
            ko.progress_ctx = &prog;
        }
        /* Stopped from here on, the import again would upsert and embed
         * every record anew, for the links alone. */
        cli_interrupt_note("import", "all %" PRIu64 " records are imported and committed; "
                           "the links (mentions%s) were not finished: `cvstore link %s` "
                           "makes them", st.inserted + st.updated, have_knn ? "" : ", kNN graph",
                           path);
        if ((rc = cvs_link_mentions(db, &ls)) == CVS_OK && !have_knn)
            rc = cvs_knn_build(db, &ko, &ki);
        cli_progress_clear(&prog);
        if (rc) {
            rc = cli_fail("import", rc, db);
            goto out;
        }
        if (json && !(linked = cli_link_json(&ls, have_knn ? NULL : &ki))) {
            rc = cli_fail("import", CVS_ENOMEM, NULL);
            goto out;
        }
        if (!quiet && !json)
            link_summary(&ls, have_knn ? NULL : &ki);
    }
summary:
    if (json) {
        /* A file name is bytes: one that is not UTF-8 is given escaped. */
        json_t *j = json_pack("{so sI sI sI sI sf}", "file", cli_json_name(file), "records",
                              (json_int_t)st.records, "inserted", (json_int_t)st.inserted,
                              "updated", (json_int_t)st.updated, "bytes",
                              (json_int_t)st.bytes, "seconds", el);
        if (j && st.unknown_key_records &&
            (json_object_set(j, "unknown_keys", wd.keys) ||
             json_object_set_new(j, "unknown_key_records",
                                 json_integer((json_int_t)st.unknown_key_records)))) {
            json_decref(j);
            j = NULL;
        }
        if (j && linked && json_object_set(j, "link", linked)) {
            json_decref(j);
            j = NULL;
        }
        rc = cli_json_report("import", j, "the import is committed");
    }
out:
    json_decref(wd.keys);
    json_decref(linked);
    cvs_db_close(db);
    return rc;
}
