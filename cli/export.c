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
 * --output never destroys what it names, and its partial output never has
 * a name.  A regular file (or a new name) is written as an unnamed file in
 * the same directory (O_TMPFILE), synced, and linked into place only once
 * the export is complete: straight to a new name, or, to replace a file, to
 * a temporary name beside it that is then renamed over it (the one moment a
 * second name exists, and the file under it is complete).  So a failed or
 * killed export leaves the old file as it was and nothing of its own: an
 * export of an encrypted store is its plaintext.  Where the file system
 * (or an old kernel) has no O_TMPFILE, or /proc is not mounted, the export
 * falls back to a named owner-only temporary file beside FILE, removed on
 * failure; and, since a killed process removes nothing, a guardian (a
 * forked child that only waits on a pipe from the export, then removes the
 * temporary file if it is still there and still ours) removes it when the
 * export dies of any signal, kill -9 included; only a kill of the whole
 * process group, or of the machine, leaves it.  CVSTORE_TEST_NO_TMPFILE=1
 * forces this fallback, for tests (tests/cli_export.sh).  Anything else (a device such as
 * /dev/null, a FIFO) is written in place and never removed: renaming over
 * it or unlinking it would destroy the node itself.  A new file is
 * owner-only (0600) unless --umask asks for the usual permissions; a file
 * replaced keeps its permissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
    "                       mode 0600; a store's data.mdb or lock.mdb is\n"
    "                       refused)\n"
    "  -n, --no-vector      leave the vectors out (the output then imports\n"
    "                       only into a text store, which embeds the texts\n"
    "                       again: cvstore init DB --embedder ...)\n"
    "      --umask          create a new FILE with the usual permissions (0666\n"
    "                       less the umask) instead of 0600\n"
    "  -q, --quiet          no progress bar (shown on a terminal with --output)\n"
    "                       and no summary (\"exported N records to FILE\")\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

/* The output: where to write (the target itself, an unnamed file linked
 * into place at the end, or a named temporary file renamed over it). */
typedef struct outfile {
    const char *path;      /* as the user named it, for messages */
    char *target;          /* the file the rename replaces (symlinks resolved) */
    char *tmp;             /* the named temporary file, NULL when there is none */
    int unnamed;           /* f is an O_TMPFILE file, linked to target at the end */
    int existed;           /* target existed at the start */
    FILE *f;
    pid_t guard;           /* the guardian of tmp (guard_start), 0 when none */
    int guard_fd;          /* the write end of its pipe */
} outfile;

/* An unnamed file in target's directory (O_TMPFILE), mode `mode`, or -1
 * where O_TMPFILE is not supported or the file could not be linked later
 * (no /proc: linkat's AT_EMPTY_PATH needs a privilege). */
static int unnamed_open(const char *target, mode_t mode)
{
#ifdef O_TMPFILE
    const char *slash = strrchr(target, '/');
    const char *force = getenv("CVSTORE_TEST_NO_TMPFILE");
    char *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target))
                      : strdup(".");
    char proc[64];
    int fd = -1;

    if (!dir || (force && !strcmp(force, "1"))) {
        free(dir);
        return -1;
    }
    fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    free(dir);
    if (fd < 0)
        return -1;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (access(proc, F_OK) != 0 || fchmod(fd, mode) != 0) {
        close(fd);
        return -1;
    }
    return fd;
#else
    (void)target;
    (void)mode;
    return -1;
#endif
}

/* Gives the complete unnamed file fd the name target: a link straight to
 * it when it is new, else a link to a fresh name beside it renamed over it
 * (linkat never replaces).  Returns 0 or an errno value. */
static int unnamed_link(int fd, const char *target, int existed)
{
    const char *slash = strrchr(target, '/');
    char proc[64], *name = NULL;
    unsigned seed;
    int e = 0, i;

    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (!existed) {
        if (linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            return errno;
        /* Someone made the name meanwhile: replace it as an existing file. */
    }
    /* Names that differ per process and per try; linkat refuses a taken one. */
    seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    for (i = 0; i < 100; i++) {
        seed = seed * 1103515245u + 12345u;
        free(name);
        if (asprintf(&name, "%.*s.%s.tmp-%06x", slash ? (int)(slash - target + 1) : 0, target,
                     slash ? slash + 1 : target, (seed >> 8) & 0xffffff) < 0) {
            name = NULL;
            e = ENOMEM;
            goto out;
        }
        if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0)
            break;
        if (errno != EEXIST) {
            e = errno;
            goto out;
        }
    }
    if (i == 100) {
        e = EEXIST;
        goto out;
    }
    if (rename(name, target) != 0) {
        e = errno;
        unlink(name);
    }
out:
    free(name);
    return e;
}

/* Starts the guardian of the named temporary file o->tmp (open as fd): a
 * child that blocks reading a pipe whose only write end this process holds,
 * so that the read returns when this process closes it or dies, however it
 * dies; it then removes o->tmp if that name still holds the file it was
 * given (after a completed export the name is gone, renamed over FILE; a
 * file made under the same name since is someone else's).  The child runs
 * only async-signal-safe calls (this process may have threads) and ignores
 * the terminal's signals, which reach the whole foreground group: Ctrl-C
 * must kill the export, not its guardian.  Returns 0, or -1 when it could
 * not start (the export goes on, guarded only by its own cleanup). */
static int guard_start(outfile *o, int fd)
{
    struct stat st;
    struct sigaction ign;
    long open_max = sysconf(_SC_OPEN_MAX); /* here: sysconf is not async-signal-safe */
    int p[2];
    pid_t pid;

    if (fstat(fd, &st) != 0 || pipe2(p, O_CLOEXEC) != 0)
        return -1;
    if (open_max < 0 || open_max > INT_MAX)
        open_max = 65536;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    if ((pid = fork()) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        struct stat now;
        char c;
        int null;
        /* First of all: while this child holds the write end, its read
         * below never ends, and the export waits for it forever. */
        close(p[1]);
        null = open("/dev/null", O_RDWR);
        sigaction(SIGINT, &ign, NULL);
        sigaction(SIGTERM, &ign, NULL);
        sigaction(SIGHUP, &ign, NULL);
        sigaction(SIGQUIT, &ign, NULL);
        sigaction(SIGPIPE, &ign, NULL);
        /* Hold nothing of the parent's open: a shell reading its stdout
         * would wait for this child too.  Without /dev/null, stdout and
         * stderr are closed instead (never fd 0, the pipe by then). */
        if (dup2(p[0], 0) < 0)
            _exit(1);
        if (null >= 0 ? dup2(null, 1) < 0 || dup2(null, 2) < 0 : (close(1), close(2), 0))
            _exit(1);
        /* close_range is missing before Linux 5.9 (ENOSYS), which is where
         * the O_TMPFILE fallback runs most: then one close per descriptor. */
        if (close_range(3, ~0u, 0) != 0)
            for (int f = 3; f < (int)open_max; f++)
                close(f);
        while (read(0, &c, 1) < 0 && errno == EINTR)
            ;
        if (lstat(o->tmp, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
            unlink(o->tmp);
        _exit(0);
    }
    close(p[0]);
    o->guard = pid;
    o->guard_fd = p[1];
    return 0;
}

/* Lets the guardian go (closing its pipe) and waits for it, so that a
 * finished export leaves no process behind; on failure, out_close has
 * removed the file already, and the guardian finds nothing to do. */
static void guard_end(outfile *o)
{
    if (!o->guard)
        return;
    close(o->guard_fd);
    while (waitpid(o->guard, NULL, 0) < 0 && errno == EINTR)
        ;
    o->guard = 0;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Whether path is a store's data.mdb or lock.mdb: so named, with the other
 * beside it (an LMDB environment's two files). */
static int store_file(const char *path)
{
    const char *base = base_of(path), *other;
    char *buf;
    struct stat st;
    size_t dir = (size_t)(base - path);
    int yes;
    if (!strcmp(base, "data.mdb"))
        other = "lock.mdb";
    else if (!strcmp(base, "lock.mdb"))
        other = "data.mdb";
    else
        return 0;
    if (!(buf = malloc(dir + strlen(other) + 1)))
        return 1; /* out of memory: refusing is the safe answer */
    memcpy(buf, path, dir);
    strcpy(buf + dir, other);
    yes = stat(buf, &st) == 0 && S_ISREG(st.st_mode);
    free(buf);
    return yes;
}

/* Opens o->path for writing: in place when it is not a regular file, else
 * through an unnamed (or, failing that, a named temporary) file in the same
 * directory (link and rename need one file system).  Returns an exit code. */
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
    if (existed && store_file(o->path)) {
        /* Renamed over data.mdb, the export replaced the store it read
         * (`-o DB/data.mdb`, a completion away from `-o DB.jsonl`). */
        cli_err("export", "%s is a store's own file (its LMDB %s): export to another name, "
                "outside the store's directory", o->path,
                strcmp(base_of(o->path), "data.mdb") ? "lock file" : "data");
        return CLI_EUSER;
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
    o->existed = existed;
    if ((fd = unnamed_open(o->target, mode)) >= 0) {
        if (!(o->f = fdopen(fd, "w"))) {
            cli_err("export", "%s: %s", o->path, strerror(errno));
            close(fd);
            return CLI_EFAIL;
        }
        o->unnamed = 1;
        return CLI_OK;
    }
    /* The fallback: a named temporary file. */
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
    (void)guard_start(o, fd);
    return CLI_OK;
}

/* Finishes the output: on success syncs the file and links or renames it
 * into place; on failure removes the named temporary file, the only thing
 * this command created (an unnamed one goes with its descriptor).  Returns
 * rc, or CLI_EFAIL if finishing fails. */
static int out_close(outfile *o, int rc)
{
    int e = 0;

    if (!o->f)
        goto out;
    if (rc == CLI_OK && (fflush(o->f) != 0 ||
                         ((o->tmp || o->unnamed) && fsync(fileno(o->f)) != 0)))
        e = errno;
    if (rc == CLI_OK && !e && o->unnamed)
        e = unnamed_link(fileno(o->f), o->target, o->existed);
    if (fclose(o->f) != 0 && !e)
        e = errno;
    o->f = NULL;
    if (rc == CLI_OK && !e && o->tmp && rename(o->tmp, o->target) != 0)
        e = errno;
    if (rc == CLI_OK && e) {
        cli_err("export", "error writing %s: %s", o->path, strerror(e));
        rc = CLI_EFAIL;
    }
    if (rc == CLI_OK && (o->tmp || o->unnamed)) {
        /* The link or rename is durable once the directory is synced. */
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
    guard_end(o);
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
        /* The guardian removes the temporary file whatever ends us. */
        cli_interrupt_note("export", "%s is left as it was (the export is written to a temporary "
                           "file, renamed over it at the end, and removed); the store is "
                           "unchanged; run the export again", outpath);
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
    /* The note says the file is as it was: not true once it is renamed
     * into place, so the signals wait until then. */
    cli_interrupt_block(1);
    rc = out_close(&of, rc);
    cli_interrupt_off();
    cli_interrupt_block(0);
    if (rc == CLI_OK && outpath && !quiet)
        fprintf(stderr, "exported %" PRIu64 " records to %s\n", n, outpath);
    cvs_iter_close(it);
    cvs_txn_end(txn);
    free(sents);
    free(vec);
    cvs_db_close(db);
    return rc;
}
