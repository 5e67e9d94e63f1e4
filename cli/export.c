/*
 * export.c -- `cvstore export`: writes every record as JSONL in exactly the
 * format `cvstore import` reads, so export -> import is a faithful copy
 * (ids, vectors to the last bit via %.9g, title, text, meta, links, the
 * sentences a record came with, which an import would not split the same,
 * and the times it was created and last updated, which an import restores,
 * so that a restored agent memory keeps its recency; only the internal keys
 * are the store's own and are not carried over).  One
 * snapshot covers the whole export, so it is consistent even while
 * writers run.
 *
 * --output never destroys what it names.  A regular file (or a new name)
 * is written as a temporary file beside it, synced, and renamed over it only
 * once the export is complete, so a failed export leaves the old file as it
 * was and no half-written file behind.  Anything else (a device such as
 * /dev/null, a FIFO) is written in place and never removed: renaming over
 * it or unlinking it would destroy the node itself.  A new file is
 * owner-only (0600: an export of an encrypted store is its plaintext)
 * unless --umask asks for the usual permissions; a file replaced keeps its
 * permissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore export DB [--output FILE] [--no-vector] [--umask] [--quiet]\n"
    "\n"
    "Writes every record, in insertion order, one JSON object per line:\n"
    "  {\"id\": ..., \"vector\": [...], \"title\": ..., \"text\": ..., \"meta\": {...},\n"
    "   \"links\": [...], \"created_us\": ..., \"updated_us\": ...}\n"
    "the format `cvstore import` reads; a record imported with its own\n"
    "\"sentences\" has them too (otherwise import splits the text again).\n"
    "created_us and updated_us are the record's times (microseconds since\n"
    "1970), which import restores.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE    write to FILE instead of standard output (- is\n"
    "                       standard output; a file is replaced only once\n"
    "                       the export is complete; a new one is owner-only,\n"
    "                       mode 0600)\n"
    "  -n, --no-vector      leave the vectors out (the output then imports\n"
    "                       only into a text store, which embeds the texts\n"
    "                       again: cvstore init DB --embedder ...)\n"
    "      --umask          create a new FILE with the usual permissions (0666\n"
    "                       less the umask) instead of 0600\n"
    "  -q, --quiet          no progress bar (shown on a terminal with --output)\n"
    "  -h, --help           show this help\n";

/* The output: where to write (the target itself, or a temporary file
 * beside it that is renamed over it at the end). */
typedef struct outfile {
    const char *path;      /* as the user named it, for messages */
    char *target;          /* the file the rename replaces (symlinks resolved) */
    char *tmp;             /* the temporary file, NULL when writing in place */
    FILE *f;
} outfile;

/* Opens o->path for writing: in place when it is not a regular file, else
 * through a temporary file in the same directory (rename needs one file
 * system).  Returns an exit code. */
static int out_open(outfile *o, int use_umask)
{
    struct stat st;
    mode_t mode = 0600;
    const char *slash;
    int fd = -1, existed;

    existed = stat(o->path, &st) == 0;
    if (existed && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            cli_err("export", "%s: is a directory", o->path);
            return CLI_EUSER;
        }
        if (!(o->f = fopen(o->path, "w"))) {
            int e = errno;
            cli_err("export", "%s: %s", o->path, strerror(e));
            return e == EACCES ? CLI_EUSER : CLI_EFAIL;
        }
        return CLI_OK;
    }
    if (existed) {
        /* Renaming would replace a file the user may not write. */
        if (access(o->path, W_OK) != 0) {
            cli_err("export", "%s: %s", o->path, strerror(errno));
            return CLI_EUSER;
        }
        mode = st.st_mode & 07777;
        /* Through a symlink the link stays and its file is replaced. */
        o->target = realpath(o->path, NULL);
    } else {
        if (use_umask) {
            mode_t um = umask(0);
            umask(um);
            mode = 0666 & ~um;
        }
        o->target = strdup(o->path);
    }
    if (!o->target) {
        cli_err("export", "%s: %s", o->path, strerror(errno));
        return CLI_EFAIL;
    }
    slash = strrchr(o->target, '/');
    if (asprintf(&o->tmp, "%.*s.%s.tmp-XXXXXX", slash ? (int)(slash - o->target + 1) : 0,
                 o->target, slash ? slash + 1 : o->target) < 0) {
        o->tmp = NULL;
        cli_err("export", "out of memory");
        return CLI_EFAIL;
    }
    if ((fd = mkstemp(o->tmp)) < 0) {
        int e = errno;
        cli_err("export", "%s: cannot create a file beside it: %s", o->path, strerror(e));
        free(o->tmp);
        o->tmp = NULL;
        return e == ENOENT || e == ENOTDIR || e == EACCES ? CLI_EUSER : CLI_EFAIL;
    }
    if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "w"))) {
        cli_err("export", "%s: %s", o->tmp, strerror(errno));
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return CLI_EFAIL;
    }
    return CLI_OK;
}

/* Finishes the output: on success syncs the temporary file and renames it
 * into place; on failure removes the temporary file, the only thing this
 * command created.  Returns rc, or CLI_EFAIL if finishing fails. */
static int out_close(outfile *o, int rc)
{
    int e = 0;

    if (!o->f)
        goto out;
    if (rc == CLI_OK && (fflush(o->f) != 0 || (o->tmp && fsync(fileno(o->f)) != 0)))
        e = errno;
    if (fclose(o->f) != 0 && !e)
        e = errno;
    o->f = NULL;
    if (rc == CLI_OK && !e && o->tmp && rename(o->tmp, o->target) != 0)
        e = errno;
    if (rc == CLI_OK && e) {
        cli_err("export", "error writing %s: %s", o->path, strerror(e));
        rc = CLI_EFAIL;
    }
    if (rc == CLI_OK && o->tmp) {
        /* The rename is durable once the directory is synced. */
        char *slash = strrchr(o->target, '/');
        int dfd;
        if (slash)
            *slash = '\0';
        if ((dfd = open(slash ? (*o->target ? o->target : "/") : ".", O_RDONLY | O_DIRECTORY)) >= 0) {
            fsync(dfd);
            close(dfd);
        }
    } else if (o->tmp) {
        unlink(o->tmp);
    }
out:
    free(o->tmp);
    free(o->target);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"no-vector", no_argument, NULL, 'n'},
        {"umask", no_argument, NULL, 'u'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *outpath = NULL;
    outfile of = {0};
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_iter *it = NULL;
    cvs_info info;
    FILE *out = stdout;
    float *vec = NULL;
    uint32_t *sents = NULL; /* (start, end) pairs of one record's sentences */
    size_t nsents = 0, nsents_cap = 0;
    uint64_t n = 0;
    int c, rc, irc, novec = 0, use_umask = 0, quiet = 0;
    uint64_t total = 0;
    cli_progress prog = {0};

    while ((c = getopt_long(argc, argv, "o:nqh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            /* "-" is standard output, as `import DB -` reads standard input. */
            outpath = strcmp(optarg, "-") ? optarg : NULL;
            break;
        case 'n':
            novec = 1;
            break;
        case 'u':
            use_umask = 1;
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
    if (outpath) {
        of.path = outpath;
        if ((rc = out_open(&of, use_umask)))
            goto done;
        out = of.f;
    }
    if ((rc = cvs_txn_begin(db, &txn)) || (rc = cvs_txn_count(txn, &total)) ||
        (rc = cvs_iter_open(txn, &it))) {
        rc = cli_fail("export", rc, db);
        goto done;
    }
    /* A bar on stderr, unless the records themselves go to the terminal. */
    cli_progress_init(&prog, quiet || (!outpath && isatty(STDOUT_FILENO)));
    for (;;) {
        cvs_record r;
        irc = cvs_iter_next(it, &r, vec);
        if (irc == CVS_NOTFOUND)
            break;
        if (irc) {
            rc = cli_fail("export", irc, db);
            goto done;
        }
        /* Sentences that came with the record (JSONL "sentences") go out
         * with it; ICU's split of the text is computed again on import. */
        if ((irc = cli_given_sentences(txn, &r, &sents, &nsents_cap, &nsents))) {
            rc = cli_fail("export", irc, irc == CVS_ENOMEM ? NULL : db);
            goto done;
        }
        if (cli_write_record_json(out, &r, vec, info.dim, 0, nsents ? sents : NULL, nsents))
            break; /* reported below, with the file's name */
        n++;
        if (prog.enabled && (n % 1024 == 0 || n == total))
            cli_progress_update(&prog, "export", n, total, 0, 0);
    }
    if (fflush(out) != 0 || ferror(out)) {
        cli_err("export", "error writing %s: %s", outpath ? outpath : "standard output",
                strerror(errno));
        rc = CLI_EFAIL;
        goto done;
    }
    rc = CLI_OK;
done:
    cli_progress_clear(&prog);
    rc = out_close(&of, rc);
    if (rc == CLI_OK && outpath)
        fprintf(stderr, "exported %" PRIu64 " records to %s\n", n, outpath);
    cvs_iter_close(it);
    cvs_txn_end(txn);
    free(sents);
    free(vec);
    cvs_db_close(db);
    return rc;
}
