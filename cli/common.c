/*
 * common.c -- helpers shared by the cvstore subcommands (see common.h).
 * The point of keeping them in one place is that every command then fails
 * the same way: one message format on stderr, one mapping from library
 * codes to the three exit codes that scripts test for.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "common.h"

/* ==== Errors and exit codes ==== */

int cli_exit_code(int rc)
{
    switch (rc) {
    case CVS_OK:
        return CLI_OK;
    case CVS_EINPUT:
    case CVS_EDIM:
    case CVS_EINVAL:
    case CVS_NOTFOUND:
    case CVS_EEXIST:
    case CVS_EVERSION:
    case CVS_EFORMAT:
    case CVS_ERDONLY:
    case CVS_EKEY:
        return CLI_EUSER;
    default:
        return CLI_EFAIL;
    }
}

int cli_fail(const char *cmd, int rc, const cvs_db *db)
{
    const char *detail = cvs_errmsg(db);
    size_t n = strlen(cmd);
    /* The library names the operation as the command does ("context: the
     * query has ..."): said once. */
    if (detail && !strncmp(detail, cmd, n) && detail[n] == ':' && detail[n + 1] == ' ')
        detail += n + 2;
    if (detail && *detail)
        fprintf(stderr, "cvstore: %s: %s: %s\n", cmd, cvs_strerror(rc), detail);
    else
        fprintf(stderr, "cvstore: %s: %s\n", cmd, cvs_strerror(rc));
    return cli_exit_code(rc);
}

void cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cvstore: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The messages of a shard of several (cvs_db_get_shard), by kind: 0 the
 * warning of `cvstore link`, 1 the outdated-links note; NULL for a store
 * of its own (or of one shard, which holds every title). */
static const char *shard_message(cvs_db *db, int note)
{
    static char buf[512];
    uint32_t index, count;
    if (cvs_db_get_shard(db, &index, &count) || count < 2)
        return NULL;
    snprintf(buf, sizeof buf,
             note ? "mention links were made by an older rule; this store is shard %u of %u: "
                    "run `cvstore-mpi link` on the sharded store to rebuild them over all "
                    "shards' titles (`cvstore link` here sees only this shard's)"
                  : "this store is shard %u of %u: linked alone it sees only its own titles; "
                    "`cvstore-mpi link` links every shard against the titles of all",
             index, count);
    return buf;
}

const char *cli_shard_link_warning(cvs_db *db)
{
    return shard_message(db, 0);
}

const char *cli_links_outdated_note(cvs_db *db)
{
    const char *m = shard_message(db, 1);
    return m ? m : CLI_LINKS_OUTDATED;
}

/* The argv the subcommand's getopt_long reads (cli_getopt_reset). */
static char **getopt_argv;

/* The long option usage lists that the word getopt has just refused
 * likely meant, or NULL.  getopt_long leaves the refused word at
 * argv[optind - 1]; a later usage error (a missing argument) finds a word
 * there that usage lists, or no option at all, and gets nothing.  The
 * names come from the usage text itself, every "--name" in it, so the
 * suggestion cannot drift from what --help says. */
static const char *option_meant(const char *usage, char *buf, size_t size)
{
    const char *names[128], *hit, *p;
    char list[4096], word[64];
    size_t n = 0, at = 0, len;
    const char *arg;

    if (!getopt_argv || optind < 2 || strncmp(arg = getopt_argv[optind - 1], "--", 2) ||
        (len = strcspn(arg + 2, "=")) == 0 || len >= sizeof word)
        return NULL;
    memcpy(word, arg + 2, len);
    word[len] = 0;
    for (p = usage; (p = strstr(p, "--")) && n < sizeof names / sizeof *names; p += 2) {
        size_t k = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (!k || at + k + 1 > sizeof list)
            continue;
        memcpy(list + at, p + 2, k);
        list[at + k] = 0;
        /* An option usage lists, or the start of some (getopt named them
         * all as ambiguous): not a typo to guess at. */
        if (k >= len && !memcmp(list + at, word, len))
            return NULL;
        names[n++] = list + at;
        at += k + 1;
    }
    if (!(hit = cvs_suggest(word, names, n)))
        return NULL;
    snprintf(buf, size, "--%s", hit);
    return buf;
}

int cli_usage_error(const char *usage)
{
    /* The whole help would scroll the one-line error away: name the help
     * instead.  Every usage text starts "Usage: cvstore CMD ...". */
    const char *cmd = strncmp(usage, "Usage: ", 7) ? "cvstore" : usage + 7;
    int len = (int)strcspn(cmd, " \n");
    char meant[80];
    if (cmd != usage + 7 || cmd[len] != ' ')
        len = (int)strlen("cvstore");
    else
        len += 1 + (int)strcspn(cmd + len + 1, " \n");
    if (option_meant(usage, meant, sizeof meant))
        fprintf(stderr, "Did you mean '%s'?\n", meant);
    fprintf(stderr, "Try '%.*s --help' for more information.\n", len, cmd);
    return CLI_EUSER;
}

void cli_getopt_reset(char **argv)
{
    getopt_argv = argv;
    optind = 0;
    opterr = 1;
}

/* ==== The passphrase of an encrypted store ==== */

/* Taken out of every command's argv by main (cli_key_file_take), so that all
 * commands accept it without each listing it in its getopt table. */
static const char *key_file;

int cli_key_file_take(const char *cmd, int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--")) { /* the rest is positional */
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(argv[i], "--key-file")) {
            if (i + 1 >= *argc) {
                cli_err(cmd, "--key-file needs a file name");
                return CLI_EUSER;
            }
            key_file = argv[++i];
        } else if (!strncmp(argv[i], "--key-file=", 11)) {
            key_file = argv[i] + 11;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    return CLI_OK;
}

/* Files of any size would do, but a passphrase file of more than this is
 * surely the wrong file. */
#define KEY_FILE_MAX 4096

int cli_passphrase(const char *cmd, char **pass, size_t *len)
{
    const char *env = getenv("CVSTORE_PASSPHRASE");
    struct stat st;
    FILE *f;
    size_t n;
    *pass = NULL;
    *len = 0;
    if (!key_file) {
        if (!env || !*env)
            return CLI_OK;
        if (!(*pass = strdup(env)))
            goto nomem;
        *len = strlen(env);
        return CLI_OK;
    }
    if (!(f = fopen(key_file, "rb"))) {
        cli_err(cmd, "--key-file %s: %s", key_file, strerror(errno));
        return CLI_EUSER;
    }
    if (fstat(fileno(f), &st) != 0)
        st.st_mode = 0;
    /* fopen opens a directory for reading; fread then fails (EISDIR), which
     * read as an empty file. */
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        cli_err(cmd, "--key-file %s: %s", key_file, strerror(EISDIR));
        return CLI_EUSER;
    }
    /* Like ssh with a private key, but a warning: refusing would lock the
     * user out of a store over a chmod. */
    if (S_ISREG(st.st_mode) && (st.st_mode & 0044))
        fprintf(stderr, "cvstore: %s: warning: --key-file %s is readable by others "
                "(mode %04o); run chmod 600 on it\n", cmd, key_file,
                (unsigned)(st.st_mode & 07777));
    if (!(*pass = malloc(KEY_FILE_MAX + 1))) {
        fclose(f);
        goto nomem;
    }
    n = fread(*pass, 1, KEY_FILE_MAX + 1, f);
    fclose(f);
    /* One trailing newline is the editor's, not the passphrase's. */
    if (n && (*pass)[n - 1] == '\n')
        n--;
    if (n && (*pass)[n - 1] == '\r')
        n--;
    if (n == 0 || n > KEY_FILE_MAX) {
        cli_err(cmd, "--key-file %s: %s", key_file,
                n ? "more than 4096 bytes: not a passphrase file" : "empty");
        cli_passphrase_free(*pass, n);
        *pass = NULL;
        return CLI_EUSER;
    }
    *len = n;
    return CLI_OK;
nomem:
    cli_err(cmd, "out of memory");
    return CLI_EFAIL;
}

void cli_passphrase_free(char *pass, size_t len)
{
    if (!pass)
        return;
    /* Volatile stores, so the wipe is not optimized away before free. */
    for (volatile char *p = pass; len--; p++)
        *p = 0;
    free(pass);
}

/* ==== Waiting for another writer ==== */

/* A command opens one store (cli_open) and draws one bar at a time. */
static struct {
    const char *cmd;
    int quiet;
    int64_t pid;
    double waited_s;
    int bar_drawn;     /* a progress bar's line is on the terminal */
} wait_state;

void cli_wait_quiet(void)
{
    wait_state.quiet = 1;
}

double cli_waited(int64_t *pid)
{
    if (pid)
        *pid = wait_state.pid;
    return wait_state.waited_s;
}

/* cvs_wait_fn: a line on a terminal once the wait passes about a second
 * (the library calls it then), clearing the bar first; the total kept for
 * cli_waited. */
static void on_wait(void *ctx, int64_t pid, double waited_s, int done)
{
    (void)ctx;
    if (done) {
        wait_state.pid = pid;
        wait_state.waited_s += waited_s;
        return;
    }
    if (wait_state.quiet || !isatty(STDERR_FILENO))
        return;
    if (wait_state.bar_drawn) /* the bar redraws itself on its next update */
        fputs("\r\033[K", stderr);
    wait_state.bar_drawn = 0;
    if (pid > 0)
        fprintf(stderr, "cvstore: %s: waiting for another writer (pid %" PRId64 ") to "
                "finish...\n", wait_state.cmd, pid);
    else
        fprintf(stderr, "cvstore: %s: waiting for another writer to finish...\n",
                wait_state.cmd);
    fflush(stderr);
}

int cli_open(const char *cmd, const char *path, unsigned flags, cvs_db **db)
{
    struct stat st;
    cvs_open_opts oo = {.flags = flags & ~(CLI_OPEN_READ_FALLBACK | CLI_OPEN_DAMAGE_VERDICT)};
    char *pass = NULL;
    int rc;

    *db = NULL;
    /* LMDB would report a missing directory as a bare ENOENT; say it plainly
     * and count it as the user's mistake. */
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            cli_err(cmd, "no store at %s (run `cvstore init` first)", path);
            return CLI_EUSER;
        }
        cli_err(cmd, "%s: %s", path, strerror(errno));
        return CLI_EFAIL;
    }
    if ((rc = cli_passphrase(cmd, &pass, &oo.passphrase_len)))
        return rc;
    oo.passphrase = pass;
    rc = cvs_db_open_opts(path, &oo, db);
    if (rc == CVS_ERDONLY && (flags & CLI_OPEN_READ_FALLBACK)) {
        oo.flags |= CVS_OPEN_RDONLY;
        if (!(rc = cvs_db_open_opts(path, &oo, db)))
            fprintf(stderr, "cvstore: %s: %s cannot be written (a read-only file system or "
                    "directory): opened read-only, so whatever writes fails\n", cmd, path);
    }
    cli_passphrase_free(pass, oo.passphrase_len);
    if (rc == CVS_ERDONLY && !(oo.flags & CVS_OPEN_RDONLY)) {
        /* A command that writes, on a store it may not write: "store is
         * opened read-only" would blame an option nobody gave.  The reason
         * is the system's, last in the library's message. */
        const char *why = strrchr(cvs_errmsg(NULL), ':');
        why = why ? why + 1 + (why[1] == ' ') : "read-only";
        if (!strcmp(why, "Permission denied")) /* reading needs lock.mdb written too */
            cli_err(cmd, "%s cannot be written by this user (Permission denied)", path);
        else
            cli_err(cmd, "%s cannot be written (%s): a read-only file system or directory; "
                    "the commands that only read it (search, get, context, stats, check, "
                    "export) still do", path, why);
        return cli_exit_code(rc);
    }
    if (rc) {
        if (rc == CVS_NOTFOUND) {
            cli_err(cmd, "no store at %s (run `cvstore init` first)", path);
            return CLI_EUSER;
        }
        if ((flags & CLI_OPEN_DAMAGE_VERDICT) && (rc == CVS_ECORRUPT || rc == CVS_EFORMAT))
            return CLI_DAMAGED;
        return cli_fail(cmd, rc, NULL);
    }
    wait_state.cmd = cmd;
    cvs_db_set_wait_fn(*db, on_wait, NULL);
    return CLI_OK;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9') /* strtoull would accept "-1" and " 5" */
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_human_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024.0 && u + 1 < sizeof unit / sizeof unit[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, unit[u]);
    return buf;
}

const char *cli_iso8601(int64_t us, char *buf, size_t cap)
{
    /* Floor division, so times before 1970 still get a non-negative fraction. */
    int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - sec * 1000000;
    time_t t = (time_t)sec;
    struct tm tm;
    char date[24];

    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(buf, cap, "%" PRId64, us);
        return buf;
    }
    snprintf(buf, cap, "%s.%06dZ", date, (int)frac);
    return buf;
}

/* ==== Progress bar ==== */

void cli_progress_init(cli_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

/* What a phase counts.  The library reports records for the phases that
 * pass over records and iterations (or stages) for the training ones:
 * k-means iterations must not show up as a record rate. */
static const char *phase_unit(const char *phase)
{
    static const char *const rec_phases[] = {"validate", "write", "sample", "encode",
                                             "knn", "add", "train", "import", "export"};
    for (size_t i = 0; i < sizeof rec_phases / sizeof rec_phases[0]; i++)
        if (!strcmp(phase, rec_phases[i]))
            return "rec";
    if (!strncmp(phase, "check ", 6)) /* cvs_check_progress: a database's entries */
        return "entry";
    return "step";
}

static void fmt_count(double v, char *buf, size_t cap)
{
    if (v >= 1e9)
        snprintf(buf, cap, "%.1fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.1fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

void cli_progress_update(cli_progress *p, const char *phase, uint64_t done,
                         uint64_t total, uint64_t bytes_done, uint64_t bytes_total)
{
    enum { WIDTH = 30 };
    double now, frac = -1, rate, eta;
    char bar[WIDTH + 1], rbuf[16], dbuf[16], tbuf[16], etabuf[24] = "";
    const char *unit;
    int fill;

    if (!p->enabled)
        return;
    now = cli_now();
    if (!phase)
        phase = "";
    unit = phase_unit(phase);
    if (strncmp(p->phase, phase, sizeof p->phase - 1) != 0) {
        /* A new phase measures its own rate: validating is much faster
         * than writing, and a shared clock would make the ETA lie. */
        snprintf(p->phase, sizeof p->phase, "%s", phase);
        cli_eta_reset(&p->eta);
        p->last_draw = 0;
    }
    if (total)
        frac = (double)done / (double)total;
    else if (bytes_total)
        frac = (double)bytes_done / (double)bytes_total;
    if (frac > 1)
        frac = 1;
    /* Every report is a sample, drawn or not: the pace is measured between
     * reports (the work of the first one had no known start). */
    cli_eta_add(&p->eta, now, (double)done, frac);
    if (now - p->last_draw < 0.1 && !(total && done >= total))
        return;
    p->last_draw = now;
    /* A phase over within half a second (a small kNN graph) has no rate to
     * show, rather than "0 rec/s". */
    rate = cli_eta_rate(&p->eta);
    if (rate == 0)
        rate = -1;
    eta = cli_eta_seconds(&p->eta);

    fill = frac >= 0 ? (int)(frac * WIDTH) : 0;
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : (frac >= 0 ? '.' : ' ');
    bar[WIDTH] = '\0';
    if (rate >= 0)
        fmt_count(rate, rbuf, sizeof rbuf);
    fmt_count((double)done, dbuf, sizeof dbuf);
    fmt_count((double)total, tbuf, sizeof tbuf);
    if (eta >= 0)
        snprintf(etabuf, sizeof etabuf, "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);

    fprintf(stderr, "\r\033[K%-8s [%s]", p->phase, bar);
    if (frac >= 0)
        fprintf(stderr, " %3d%%", (int)(frac * 100));
    fprintf(stderr, "  %s", dbuf);
    if (total)
        fprintf(stderr, "/%s", tbuf);
    fprintf(stderr, " %s", unit);
    if (rate >= 0)
        fprintf(stderr, "  %s %s/s", rbuf, unit);
    fprintf(stderr, "%s", etabuf);
    fflush(stderr);
    p->drawn = 1;
    wait_state.bar_drawn = 1;
}

void cli_progress_clear(cli_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
    wait_state.bar_drawn = 0;
}

/* ==== Interrupts ====
 *
 * Ctrl-C (SIGINT), SIGTERM and SIGHUP end a command where it stands; LMDB
 * makes the transaction in flight invisible and keeps every one committed
 * before, so nothing is damaged.  What the user needs is to be told so:
 * a bare shell prompt after a long import says neither what was kept nor
 * what to do.  The handler writes the note it was given at install (built
 * then, never changed after: the handler only reads it), with one write(2)
 * (async-signal-safe; the first signal only: a second Ctrl-C does not
 * print it again), then restores the default action and raises the
 * signal again: blocked while its handler runs, it is delivered as the
 * handler returns and ends the process by that signal, so the exit status is the
 * shell's 128 + N (130 for Ctrl-C, 143 for SIGTERM) and a shell loop
 * around the command stops as it would.  A signal the command was started
 * with ignored (a background job of a script, nohup) stays ignored. */

/* Two notes, so that a command can say more as it goes (import: its
 * records all in, then its links): the next one is written into the note
 * not in force and then put in force by one store of note_cur, so a
 * handler running meanwhile on another thread reads a whole note. */
static char interrupt_note[2][4608];
static size_t interrupt_len[2];
static volatile sig_atomic_t note_cur;
static volatile sig_atomic_t interrupt_seen;
/* cli_interrupt_remove's store: its two files and, when made by the
 * command, its directory; set while the signals are blocked. */
static char remove_files[2][4200], remove_dir[4200];
static volatile sig_atomic_t remove_armed;
static unsigned interrupt_installed; /* bit i: interrupt_sigs[i] is ours */

static void on_interrupt(int sig)
{
    if (!interrupt_seen) {
        interrupt_seen = 1;
        if (remove_armed) { /* unlink and rmdir are async-signal-safe */
            unlink(remove_files[0]);
            unlink(remove_files[1]);
            if (*remove_dir)
                rmdir(remove_dir);
        }
        int c = note_cur;
        ssize_t w = write(STDERR_FILENO, interrupt_note[c], interrupt_len[c]);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig); /* blocked here: delivered as this handler returns */
}

static const int interrupt_sigs[] = {SIGINT, SIGTERM, SIGHUP};

void cli_interrupt_block(int block)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof interrupt_sigs / sizeof interrupt_sigs[0]; i++)
        sigaddset(&set, interrupt_sigs[i]);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

void cli_interrupt_off(void)
{
    remove_armed = 0;
    for (size_t i = 0; i < sizeof interrupt_sigs / sizeof interrupt_sigs[0]; i++)
        if (interrupt_installed & (1u << i))
            signal(interrupt_sigs[i], SIG_DFL);
    interrupt_installed = 0;
}

void cli_interrupt_remove(const char *dir, int made_dir)
{
    snprintf(remove_files[0], sizeof remove_files[0], "%s/data.mdb", dir);
    snprintf(remove_files[1], sizeof remove_files[1], "%s/lock.mdb", dir);
    snprintf(remove_dir, sizeof remove_dir, "%s", made_dir ? dir : "");
    remove_armed = 1;
}

void cli_interrupt_note(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    int next = interrupt_installed ? !note_cur : note_cur;
    char *note = interrupt_note[next];
    size_t cap = sizeof interrupt_note[next];
    int n = snprintf(note, cap, "%scvstore: %s: interrupted: ",
                     isatty(STDERR_FILENO) ? "\r\033[K" : "", cmd);
    if (n < 0 || (size_t)n >= cap - 2)
        return;
    va_start(ap, fmt);
    vsnprintf(note + n, cap - 1 - (size_t)n, fmt, ap);
    va_end(ap);
    interrupt_len[next] = strlen(note);
    note[interrupt_len[next]++] = '\n';
    note_cur = next;
    for (size_t i = 0; i < sizeof interrupt_sigs / sizeof interrupt_sigs[0]; i++) {
        struct sigaction sa, old;
        if (sigaction(interrupt_sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        if (sigaction(interrupt_sigs[i], &sa, NULL) == 0)
            interrupt_installed |= 1u << i;
    }
}

/* ==== Escaping ==== */

char *cli_escape_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out, *o;
    size_t i = 0;

    if (len > (SIZE_MAX - 1) / 4 || !(out = malloc(len * 4 + 1)))
        return NULL;
    o = out;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n > 0 && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0)) {
            if (cp == '\\')
                *o++ = '\\';
            memcpy(o, p + i, (size_t)n);
            o += n;
            i += (size_t)n;
            continue;
        }
        /* A control character or a byte that starts no valid sequence:
         * one byte at a time, so the rest still prints as text. */
        if (n > 1) {
            for (utf8proc_ssize_t k = 0; k < n; k++)
                o += sprintf(o, "\\x%02x", p[i + (size_t)k]);
            i += (size_t)n;
        } else {
            o += sprintf(o, "\\x%02x", p[i]);
            i++;
        }
    }
    *o = '\0';
    return out;
}

/* ==== JSON ==== */

int cli_json_print(FILE *f, json_t *j)
{
    int rc = -1;
    if (!j)
        return -1;
    if (json_dumpf(j, f, CLI_JSON_FLAGS) == 0 && fputc('\n', f) != EOF)
        rc = 0;
    json_decref(j);
    return rc;
}

int cli_json_report(const char *cmd, json_t *j, const char *done)
{
    int made = j != NULL;
    errno = 0;
    if (cli_json_print(stdout, j) == 0 && fflush(stdout) == 0)
        return CLI_OK;
    cli_err(cmd, "%s, but its JSON report could not be written: %s", done,
            !made ? "out of memory" : errno ? strerror(errno) : "write error");
    clearerr(stdout); /* said here: not again as a bare "error writing output" */
    return CLI_EFAIL;
}

json_t *cli_json_name(const char *s)
{
    json_t *j = json_string(s);
    char *e;
    if (j || !(e = cli_escape_text(s, strlen(s))))
        return j;
    j = json_string(e);
    free(e);
    return j;
}

json_t *cli_link_json(const cvs_link_stats *ls, const cvs_knn_info *ki)
{
    json_t *j = json_object();
    if (j && ls && json_object_set_new(j, "mentions",
                                       json_pack("{sI sI sI sI sf}", "records",
                                                 (json_int_t)ls->records, "titles",
                                                 (json_int_t)ls->titles, "sources",
                                                 (json_int_t)ls->sources, "links",
                                                 (json_int_t)ls->links, "seconds",
                                                 ls->seconds)))
        goto fail;
    if (j && ki && json_object_set_new(j, "knn",
                                       json_pack("{sI sI sb sf sf}", "k", (json_int_t)ki->k,
                                                 "records", (json_int_t)ki->records,
                                                 "approximate", ki->approximate, "recall",
                                                 ki->recall, "seconds", ki->seconds)))
        goto fail;
    return j;
fail:
    json_decref(j);
    return NULL;
}

int cli_json_write_string(FILE *f, const char *s, size_t len)
{
    json_t *j = json_stringn(s ? s : "", s ? len : 0);
    int rc = -1;
    if (!j)
        return -1;
    if (json_dumpf(j, f, JSON_ENCODE_ANY) == 0)
        rc = 0;
    json_decref(j);
    return rc;
}

void cli_write_float(FILE *f, float x)
{
    /* Stored vectors are finite (the store rejects NaN/Inf), but a JSON
     * reader must never see "nan": write null if one slips through. */
    if (!isfinite(x))
        fputs("null", f);
    else
        fprintf(f, "%.9g", (double)x);
}

static int write_links(FILE *f, const cvs_link *links, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        const cvs_link *l = &links[i];
        int typed = l->type && *l->type;
        if (i)
            fputc(',', f);
        /* The short form is what importers write by hand; objects only when
         * they carry something beyond the id, so export -> import -> export
         * is a fixed point. */
        if (!typed && l->weight == 1.0f) {
            if (cli_json_write_string(f, l->id, l->id_len))
                return -1;
            continue;
        }
        fputs("{\"id\":", f);
        if (cli_json_write_string(f, l->id, l->id_len))
            return -1;
        if (typed) {
            fputs(",\"type\":", f);
            if (cli_json_write_string(f, l->type, strlen(l->type)))
                return -1;
        }
        if (l->weight != 1.0f) {
            fputs(",\"weight\":", f);
            cli_write_float(f, l->weight);
        }
        fputc('}', f);
    }
    fputc(']', f);
    return 0;
}

int cli_given_sentences(cvs_txn *txn, const cvs_record *rec, uint32_t **buf, size_t *cap,
                        size_t *n)
{
    int given = 0, rc;
    *n = 0;
    if (!rec->text)
        return CVS_OK;
    rc = cvs_txn_sentences(txn, rec->key, *buf, *cap, n, &given);
    if (rc == CVS_OK && given && *n > *cap) {
        uint32_t *p = realloc(*buf, *n * 2 * sizeof *p);
        if (!p)
            return CVS_ENOMEM;
        *buf = p;
        *cap = *n;
        rc = cvs_txn_sentences(txn, rec->key, *buf, *cap, n, &given);
    }
    if (rc || !given)
        *n = 0;
    return rc;
}

int cli_write_record_json(FILE *f, const cvs_record *rec, const float *vec,
                          uint32_t dim, int extra, const uint32_t *sents, size_t nsents)
{
    char tb[40];

    fputs("{\"id\":", f);
    if (cli_json_write_string(f, rec->id, rec->id_len))
        return -1;
    if (extra)
        fprintf(f, ",\"key\":%" PRId64, rec->key);
    if (vec) {
        fputs(",\"vector\":[", f);
        for (uint32_t i = 0; i < dim; i++) {
            if (i)
                fputc(',', f);
            cli_write_float(f, vec[i]);
        }
        fputc(']', f);
    }
    if (rec->title) {
        fputs(",\"title\":", f);
        if (cli_json_write_string(f, rec->title, rec->title_len))
            return -1;
    }
    if (rec->text) {
        fputs(",\"text\":", f);
        if (cli_json_write_string(f, rec->text, rec->text_len))
            return -1;
    }
    if (sents && rec->text) {
        fputs(",\"sentences\":[", f);
        for (size_t i = 0; i < nsents; i++) {
            uint32_t a = sents[2 * i], b = sents[2 * i + 1];
            if (i)
                fputc(',', f);
            if (a > b || b > rec->text_len ||
                cli_json_write_string(f, rec->text + a, (size_t)(b - a)))
                return -1;
        }
        fputc(']', f);
    }
    if (rec->meta && rec->meta_len) {
        fputs(",\"meta\":", f);
        fwrite(rec->meta, 1, rec->meta_len, f);
    }
    if (rec->nlinks) {
        fputs(",\"links\":", f);
        if (write_links(f, rec->links, rec->nlinks))
            return -1;
    }
    if (extra) {
        fprintf(f, ",\"created\":\"%s\"", cli_iso8601(rec->created_us, tb, sizeof tb));
        fprintf(f, ",\"updated\":\"%s\"", cli_iso8601(rec->updated_us, tb, sizeof tb));
    } else {
        /* The import format: exact integers, which import restores. */
        fprintf(f, ",\"created_us\":%" PRId64 ",\"updated_us\":%" PRId64, rec->created_us,
                rec->updated_us);
    }
    fputs("}\n", f);
    return ferror(f) ? -1 : 0;
}

/* Whether a line holds only white space (its newline, a CR, spaces, tabs). */
static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* One line of a query file: *q = its object (NULL for a blank line), or a
 * message naming the line.  jansson's running out of memory is said so,
 * not reported as a malformed line. */
static int query_line(const char *cmd, const char *path, size_t lineno, const char *p,
                      size_t len, json_t **q)
{
    json_error_t err;
    json_t *j, *text;
    *q = NULL;
    /* A byte order mark, as editors on Windows write them, and CRLF line
     * ends: the importer takes both, so the queries do too. */
    if (lineno == 1 && len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
        p += 3;
        len -= 3;
    }
    if (blank_line(p, len))
        return CLI_OK;
    j = json_loadb(p, len, 0, &err);
    if (!j && json_error_code(&err) == json_error_out_of_memory)
        return cli_fail(cmd, CVS_ENOMEM, NULL);
    if (!j || !json_is_object(j) || !(text = json_object_get(j, "text")) ||
        !json_is_string(text)) {
        if (!j && json_error_code(&err) == json_error_null_character)
            cli_err(cmd, "%s:%zu: a NUL character (\\u0000) at column %d: a question cannot "
                    "hold one (remove it)", path, lineno, err.column);
        else if (!j)
            cli_err(cmd, "%s:%zu: expected {\"id\": ..., \"text\": \"...\"}: %s (column %d)",
                    path, lineno, err.text, err.column);
        else
            cli_err(cmd, "%s:%zu: expected {\"id\": ..., \"text\": \"...\"}", path, lineno);
        json_decref(j);
        return CLI_EUSER;
    }
    *q = j;
    return CLI_OK;
}

/* An unnamed temporary file in $TMPDIR (else /tmp): tmpfile() ignores
 * TMPDIR, and /tmp is often a small tmpfs.  NULL with errno set. */
static FILE *temp_file(void)
{
    const char *d = getenv("TMPDIR");
    char path[4096];
    FILE *f;
    int fd;
    if (!d || !*d)
        d = "/tmp";
    if (snprintf(path, sizeof path, "%s/cvstore-queries-XXXXXX", d) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    if ((fd = mkstemp(path)) < 0)
        return NULL;
    unlink(path);
    if (!(f = fdopen(fd, "w+")))
        close(fd);
    return f;
}

/* Two passes, so that memory stays bounded for a file of millions of
 * lines: the first checks every line and keeps none, the second parses
 * each line again and answers it.  A bad line is a bad file, refused
 * before any answer, so a script never gets half a batch with its error.
 * A regular file is read twice; any other (stdin as "-", a pipe such as
 * --queries <(...)) is copied to an unnamed temporary file while it is
 * checked, since it cannot be read again: disk, not memory, as big as the
 * input. */
int cli_queries_each(const char *cmd, const char *path, cli_query_fn fn, void *ctx)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "r"), *spool = NULL, *src;
    char *line = NULL, idbuf[32];
    size_t cap = 0, lineno = 0, checked = 0, n = 0;
    ssize_t len;
    struct stat st;
    off_t start = 0;
    json_t *q = NULL;
    int rc = CLI_OK, regular;
    if (!f) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        return CLI_EUSER;
    }
    if (is_stdin)
        path = "stdin";
    /* The second pass reads from where the first began: stdin may be a
     * file that a script has read some lines of already ("(read -r h;
     * cvstore ...) < q.jsonl"). */
    regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    if (regular)
        start = ftello(f);
    if ((!regular || start < 0) && !(spool = temp_file())) {
        cli_err(cmd, "%s: cannot make a temporary file to keep the queries read from it "
                "(set TMPDIR to a folder with room): %s", path, strerror(errno));
        rc = CLI_EFAIL;
        goto out;
    }
    while (rc == CLI_OK && (len = getline(&line, &cap, f)) != -1) {
        if ((rc = query_line(cmd, path, ++lineno, line, (size_t)len, &q)))
            break;
        n += q != NULL;
        json_decref(q);
        if (spool && fwrite(line, 1, (size_t)len, spool) != (size_t)len) {
            cli_err(cmd, "%s: cannot keep the queries read from it in a temporary file: %s",
                    path, strerror(errno));
            rc = CLI_EFAIL;
        }
    }
    /* A directory opens, then fails its first read; an empty file would
     * answer nothing with exit code 0, which a script takes for success. */
    if (rc == CLI_OK && ferror(f)) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        rc = CLI_EUSER;
    } else if (rc == CLI_OK && n == 0) {
        cli_err(cmd, "%s: no queries (one {\"id\": ..., \"text\": \"...\"} per line)", path);
        rc = CLI_EUSER;
    }
    src = spool ? spool : f;
    if (rc == CLI_OK && (fflush(src) != 0 || fseeko(src, spool ? 0 : start, SEEK_SET) != 0)) {
        cli_err(cmd, "%s: cannot read the queries a second time: %s", path, strerror(errno));
        rc = CLI_EFAIL;
    }
    /* Only the lines checked: a file that grows meanwhile (a log being
     * written) answers what the first pass saw. */
    checked = lineno;
    lineno = 0;
    while (rc == CLI_OK && lineno < checked && (len = getline(&line, &cap, src)) != -1) {
        json_t *id, *text;
        const char *qid = idbuf;
        /* The file changed under us between the passes: its message. */
        if ((rc = query_line(cmd, path, ++lineno, line, (size_t)len, &q)) || !q)
            continue;
        id = json_object_get(q, "id");
        text = json_object_get(q, "text");
        if (json_is_string(id))
            qid = json_string_value(id);
        else if (json_is_integer(id))
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(id));
        else
            snprintf(idbuf, sizeof idbuf, "%zu", lineno);
        rc = fn(ctx, qid, json_string_value(text), json_string_length(text));
        json_decref(q);
    }
    /* A read error, or a file cut short between the passes, leaves
     * queries unanswered: that must not end with exit code 0. */
    if (rc == CLI_OK && ferror(src)) {
        cli_err(cmd, "%s: read error after line %zu (reading the queries a second time): %s",
                path, lineno, strerror(errno ? errno : EIO));
        rc = CLI_EFAIL;
    } else if (rc == CLI_OK && lineno < checked) {
        cli_err(cmd, "%s: ends after line %zu of the %zu checked (it changed while being read); "
                "the queries after it were not answered", path, lineno, checked);
        rc = CLI_EFAIL;
    }
out:
    free(line);
    if (spool)
        fclose(spool);
    if (!is_stdin)
        fclose(f);
    return rc;
}

/* ==== Context sets (cvstore context, cvstore-mpi context) ==== */

static int parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = (float)v;
    return 0;
}

/* cli_err, unless cmd is NULL (a caller that says nothing). */
static void ctx_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctx_err(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!cmd)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_err(cmd, "%s", msg);
}

int cli_context_option(const char *cmd, int c, const char *arg, cvs_context_opts *o)
{
    uint64_t u;
    switch (c) {
    case 'b':
        if (cli_parse_u64(arg, 1, (uint64_t)1 << 40, &u)) {
            ctx_err(cmd, "--budget: expected a whole number of tokens from 1 to %llu, got '%s'",
                    (unsigned long long)((uint64_t)1 << 40), arg);
            return -1;
        }
        o->budget = (size_t)u;
        return 0;
    case 's':
        if (cvs_context_strategy_parse(arg, &o->strategy)) {
            ctx_err(cmd, "--strategy: expected diverse, topk, mmr, bm25 or vector, got '%s'",
                    arg);
            return -1;
        }
        return 0;
    case 'H':
        if (cli_parse_u64(arg, 0, 16, &u)) {
            ctx_err(cmd, "--hops: expected an integer in 0..16, got '%s'", arg);
            return -1;
        }
        o->hops = (int)u;
        return 0;
    case 'f':
        if (cli_parse_u64(arg, 1, 1024, &u)) {
            ctx_err(cmd, "--fanout: expected an integer in 1..1024, got '%s'", arg);
            return -1;
        }
        o->fanout = (size_t)u;
        return 0;
    case 'g':
        if (cli_parse_u64(arg, 0, 1024, &u)) {
            ctx_err(cmd, "--bridges: expected an integer in 0..1024, got '%s'", arg);
            return -1;
        }
        o->bridges = (size_t)u;
        return 0;
    case 'l':
        if (parse_float(arg, 0, 1, &o->lambda)) {
            ctx_err(cmd, "--lambda: expected a number in [0, 1], got '%s'", arg);
            return -1;
        }
        return 0;
    case 'w':
        if (parse_float(arg, 0, 1, &o->lexical_weight)) {
            ctx_err(cmd, "--lexical-weight: expected a number in [0, 1], got '%s'", arg);
            return -1;
        }
        return 0;
    case 'u':
        if (!strcmp(arg, "rrf"))
            o->fusion = CVS_FUSION_RRF;
        else if (!strcmp(arg, "weighted"))
            o->fusion = CVS_FUSION_WEIGHTED;
        else {
            ctx_err(cmd, "--fusion: expected rrf or weighted, got '%s'", arg);
            return -1;
        }
        return 0;
    case 'U':
        if (cvs_context_unit_parse(arg, &o->unit)) {
            ctx_err(cmd, "--unit: expected passage or sentence, got '%s'", arg);
            return -1;
        }
        return 0;
    case 'L': o->use_links = 0; return 0;
    case 'K': o->use_knn = 0; return 0;
    case 'E': o->exact_words = 1; return 0;
    }
    return -1;
}

const char *cli_empty_note(const char *text, size_t len)
{
    const char *note = NULL;
    return text && !cvs_text_empty_note(text, len, &note) ? note : NULL;
}

const char *cli_context_note(const cvs_context_result *r, const char *text, size_t len)
{
    const char *note = NULL;
    return !cvs_context_note(r, text, len, &note) ? note : NULL;
}

json_t *cli_context_json(const cvs_context_result *r)
{
    json_t *items = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const cvs_context_item *it = &r->items[i];
        json_t *via = json_array(), *o;
        for (int s = 0; s <= it->hop; s++)
            json_array_append_new(via, json_pack("{s:s%, s:s}", "id", it->via[s].id,
                                                 it->via[s].id_len, "type",
                                                 it->via[s].type ? it->via[s].type : ""));
        o = json_pack("{s:s%, s:f, s:I, s:i, s:o}", "id", it->id, it->id_len, "score",
                      (double)it->score, "tokens", (json_int_t)it->tokens, "hop", it->hop,
                      "via", via);
        if (it->title)
            json_object_set_new(o, "title", json_stringn(it->title, it->title_len));
        json_object_set_new(o, "text", json_stringn(it->text ? it->text : "", it->text_len));
        if (it->sentences) {
            json_t *ss = json_array();
            for (size_t s = 0; s < it->nsentences; s++)
                json_array_append_new(ss, json_integer((json_int_t)it->sentences[s]));
            json_object_set_new(o, "sentences", ss);
        }
        if (it->meta) {
            /* Stored metadata is a JSON object (the put checked it); one
             * that does not read back is left out rather than fail the set. */
            json_t *m = json_loadb(it->meta, it->meta_len, 0, NULL);
            if (m)
                json_object_set_new(o, "meta", m);
        }
        json_array_append_new(items, o);
    }
    return json_pack("{s:I, s:I, s:I, s:f, s:o}", "budget", (json_int_t)r->budget, "tokens",
                     (json_int_t)r->tokens, "pool", (json_int_t)r->pool, "ms",
                     r->seconds * 1e3, "items", items);
}

