/*
 * benchutil.c -- helpers shared by the cvstore-bench subcommands (see
 * benchutil.h).  Numbers go to stdout as markdown because that is where they
 * end up (docs, PR descriptions); CSV is for plotting with gnuplot.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"

double bu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t proc_status_kb(const char *key)
{
    char line[256];
    size_t klen = strlen(key);
    uint64_t kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            kb = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

uint64_t bu_rss_peak(void) { return proc_status_kb("VmHWM") * 1024; }
uint64_t bu_rss_now(void) { return proc_status_kb("VmRSS") * 1024; }

uint64_t bu_dir_bytes(const char *path)
{
    struct stat st;
    uint64_t total = 0;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if (!(d = opendir(path)))
        return 0;
    while ((e = readdir(d))) {
        char sub[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        total += bu_dir_bytes(sub);
    }
    closedir(d);
    return total;
}

/* Scratch stores made by bu_tmpdir and not yet removed: bu_check exits on
 * the first failure, and a failed run must not leave a 200 MB store behind
 * in /tmp, so whatever is still listed here is removed at exit. */
static char *scratch[8];

static void remove_scratch(void)
{
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        if (scratch[i]) {
            char *p = scratch[i];
            scratch[i] = NULL;
            bu_rmrf(p);
            free(p);
        }
}

char *bu_tmpdir(const char *parent)
{
    static int registered;
    char tmpl[4096];
    size_t slot;

    for (slot = 0; slot < sizeof scratch / sizeof scratch[0] && scratch[slot]; slot++)
        ;
    if (slot == sizeof scratch / sizeof scratch[0]) {
        fprintf(stderr, "cvstore-bench: too many scratch directories (bug)\n");
        return NULL;
    }
    if (!parent || !*parent)
        parent = getenv("TMPDIR");
    if (!parent || !*parent)
        parent = "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/cvstore-bench-XXXXXX", parent);
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "cvstore-bench: mkdtemp %s: %s\n", tmpl, strerror(errno));
        return NULL;
    }
    if (!registered && atexit(remove_scratch) == 0)
        registered = 1;
    if (!(scratch[slot] = strdup(tmpl)))
        return NULL;
    return strdup(tmpl);
}

void bu_rmrf(const char *path)
{
    char cmd[4200];
    const char *base;
    if (!path || !(base = strrchr(path, '/')) || strncmp(base, "/cvstore-bench-", 15) != 0 ||
        strchr(path, '\''))
        return;
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        if (scratch[i] && scratch[i] != path && strcmp(scratch[i], path) == 0) {
            free(scratch[i]);
            scratch[i] = NULL;
        }
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cvstore-bench: could not remove %s\n", path);
}

int bu_glove_paths(char *fvecs, char *words, size_t size)
{
    const char *cache = getenv("CVSTORE_CACHE");
    const char *home = getenv("HOME");
    char dir[4096];

    if (cache && *cache)
        snprintf(dir, sizeof dir, "%s/glove", cache);
    else
        snprintf(dir, sizeof dir, "%s/.cache/cvstore/glove", home ? home : ".");
    snprintf(fvecs, size, "%s/glove100.fvecs", dir);
    snprintf(words, size, "%s/glove100.words", dir);
    if (access(fvecs, R_OK) != 0 || access(words, R_OK) != 0) {
        fprintf(stderr, "cvstore-bench: no GloVe data in %s; run scripts/fetch-glove.sh "
                        "or pass --base\n", dir);
        return -1;
    }
    return 0;
}

int bu_file_dim(const char *path, uint32_t *dim)
{
    cvs_format fmt;
    int rc = cvs_format_guess(path, &fmt);
    if (rc == 0 && (fmt == CVS_FMT_FVECS || fmt == CVS_FMT_BVECS)) {
        int32_t d = 0;
        FILE *f = fopen(path, "rb");
        if (!f)
            return errno;
        if (fread(&d, 4, 1, f) != 1 || d < 1 || d > CVS_MAX_DIM) {
            fclose(f);
            fprintf(stderr, "cvstore-bench: %s: no valid first record\n", path);
            return CVS_EINPUT;
        }
        fclose(f);
        *dim = (uint32_t)d;
        return 0;
    }
    /* npy and jsonl: rare in benchmarks, so simply load the file once. */
    float *data = NULL;
    size_t n = 0;
    rc = cvs_vecs_load(path, CVS_FMT_AUTO, &data, &n, dim);
    cvs_free(data);
    return rc;
}

void bu_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                 uint64_t bytes_done, uint64_t bytes_total)
{
    static double last;
    double now = bu_now();
    (void)ctx;
    (void)bytes_done;
    (void)bytes_total;
    if (now - last < 0.5 && done != total)
        return;
    last = now;
    if (total)
        fprintf(stderr, "\r  %-8s %llu/%llu (%.0f%%)   ", phase, (unsigned long long)done,
                (unsigned long long)total, 100.0 * (double)done / (double)total);
    else
        fprintf(stderr, "\r  %-8s %llu   ", phase, (unsigned long long)done);
    if (done == total)
        fputc('\n', stderr);
}

void bu_check(int rc, const char *what)
{
    if (rc == 0)
        return;
    const char *detail = cvs_errmsg(NULL);
    if (detail && *detail)
        fprintf(stderr, "cvstore-bench: %s: %s: %s\n", what, cvs_strerror(rc), detail);
    else
        fprintf(stderr, "cvstore-bench: %s: %s\n", what, cvs_strerror(rc));
    exit(2);
}

/* ==== Result tables ==== */

struct bu_table {
    size_t ncols, nrows, cap;
    size_t fill;  /* cells filled in the last row */
    char **cells; /* (nrows + 1) * ncols; row 0 is the header */
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "cvstore-bench: out of memory\n");
        exit(2);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "cvstore-bench: out of memory\n");
        exit(2);
    }
    return d;
}

bu_table *bu_table_new(size_t ncols, const char *const *header)
{
    bu_table *t = xrealloc(NULL, sizeof *t);
    t->ncols = ncols;
    t->nrows = 0;
    t->cap = 8;
    t->fill = 0;
    t->cells = xrealloc(NULL, sizeof(char *) * ncols * (t->cap + 1));
    for (size_t c = 0; c < ncols; c++)
        t->cells[c] = xstrdup(header[c]);
    return t;
}

void bu_table_row(bu_table *t)
{
    if (t->nrows == t->cap) {
        t->cap *= 2;
        t->cells = xrealloc(t->cells, sizeof(char *) * t->ncols * (t->cap + 1));
    }
    /* Unfilled cells print as empty rather than crash. */
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[(t->nrows + 1) * t->ncols + c] = NULL;
    t->nrows++;
    t->fill = 0;
}

void bu_table_cell(bu_table *t, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    if (t->nrows == 0 || t->fill >= t->ncols) {
        fprintf(stderr, "cvstore-bench: table cell outside a row (bug)\n");
        exit(2);
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->cells[t->nrows * t->ncols + t->fill++] = xstrdup(buf);
}

void bu_table_print(const bu_table *t)
{
    for (size_t r = 0; r <= t->nrows; r++) {
        fputs("|", stdout);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            printf(" %s |", s ? s : "");
        }
        fputc('\n', stdout);
        if (r == 0) {
            fputs("|", stdout);
            for (size_t c = 0; c < t->ncols; c++)
                fputs(c == 0 ? "---|" : "---:|", stdout);
            fputc('\n', stdout);
        }
    }
    fflush(stdout);
}

int bu_table_csv(const bu_table *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cvstore-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (!s)
                s = "";
            if (strpbrk(s, ",\"\n")) {
                fputc('"', f);
                for (; *s; s++) {
                    if (*s == '"')
                        fputc('"', f);
                    fputc(*s, f);
                }
                fputc('"', f);
            } else {
                fputs(s, f);
            }
            fputs(c + 1 == t->ncols ? "\n" : ",", f);
        }
    if (fclose(f) != 0) {
        fprintf(stderr, "cvstore-bench: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(stderr, "cvstore-bench: wrote %s\n", path);
    return 0;
}

void bu_table_free(bu_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void bu_normalize_rows(float *x, size_t n, uint32_t dim)
{
    for (size_t i = 0; i < n; i++) {
        float *v = x + i * dim;
        double s = 0;
        for (uint32_t t = 0; t < dim; t++)
            s += (double)v[t] * v[t];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (uint32_t t = 0; t < dim; t++)
                v[t] *= inv;
        }
    }
}
