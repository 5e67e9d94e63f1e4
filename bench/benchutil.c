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
    /* A --dir that does not exist yet is made (one level, as mkdir would):
     * the benchmarks ask for scratch space only after their peers' runs,
     * so failing here threw minutes of measurements away. */
    if (!mkdtemp(tmpl)) {
        int made = errno == ENOENT && mkdir(parent, 0700) == 0;
        snprintf(tmpl, sizeof tmpl, "%s/cvstore-bench-XXXXXX", parent);
        if (!made || !mkdtemp(tmpl)) {
            fprintf(stderr,
                    "cvstore-bench: cannot make a scratch directory under %s (--dir or "
                    "$TMPDIR): %s\n",
                    parent, strerror(errno));
            return NULL;
        }
    }
    if (!registered && atexit(remove_scratch) == 0)
        registered = 1;
    if (!(scratch[slot] = strdup(tmpl)))
        return NULL;
    return strdup(tmpl);
}

int bu_tmpdir_check(const char *parent)
{
    char *d = bu_tmpdir(parent);
    if (!d)
        return -1;
    bu_rmrf(d);
    free(d);
    return 0;
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

const bu_embedder bu_embedders[BU_N_EMBEDDERS] = {{"glove", 100}, {"use", 512}, {"minilm", 384}};

int bu_embedders_parse(const char *who, const char *list, size_t *idx, size_t *n)
{
    size_t l;
    *n = 0;
    for (const char *p = list;; p += l + 1) {
        size_t e = 0, dup = 0;
        l = strcspn(p, ",");
        while (e < BU_N_EMBEDDERS &&
               (strlen(bu_embedders[e].name) != l || strncmp(bu_embedders[e].name, p, l)))
            e++;
        for (size_t i = 0; i < *n; i++)
            dup |= idx[i] == e;
        if (e == BU_N_EMBEDDERS || dup) {
            fprintf(stderr, "%s: --embedder: '%.*s' is %s (a list of glove, use, minilm)\n", who,
                    (int)l, p, dup ? "named twice" : "unknown");
            return 1;
        }
        idx[(*n)++] = e;
        if (!p[l])
            return 0;
    }
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

/* ==== Default configurations ==== */

size_t bu_divisor_below(uint32_t d, size_t cap)
{
    for (size_t m = cap < d ? cap : d; m > 1; m--)
        if (d % m == 0)
            return m;
    return 1;
}

size_t bu_faiss_nlist(size_t nb)
{
    size_t n = 16;
    while (n * 2 <= 2 * sqrt((double)nb) && n * 2 * 39 <= nb)
        n *= 2;
    return n;
}

size_t bu_cvs_default_codecs(uint32_t d, char (*specs)[64], size_t max)
{
    size_t n = 0;
    /* 4-bit codes because the scan reads M/2 bytes per code from registers
     * (fast-scan); above 256 dimensions a projection first, since the
     * re-ranking restores what it loses. */
    if (d <= 256) {
        size_t m1 = bu_divisor_below(d, d), m2 = bu_divisor_below(d, m1 / 2);
        if (n < max)
            snprintf(specs[n++], 64, "opq,pq%zux4", m1);
        if (n < max)
            snprintf(specs[n++], 64, "opq,pq%zux4", m2);
    } else {
        if (n < max)
            snprintf(specs[n++], 64, "pca256,opq,pq128x4");
        if (n < max)
            snprintf(specs[n++], 64, "pca128,opq,pq64x4");
    }
    return n;
}

/* ==== Data sets ==== */

#define GLOVE_QSTRIDE 341  /* GloVe-100-angular: every 341st word is a query */

const char *bu_data_dir(const char *given)
{
    const char *env;
    if (given && *given)
        return given;
    if ((env = getenv("CVSTORE_DATA")) && *env)
        return env;
    return CVS_SOURCE_DIR "/../shared/data";
}

int bu_dataset_select(const char *list, const char *base, cvs_metric metric,
                      bu_dataset *ds, size_t max, size_t *n)
{
    char buf[256], *tok, *save = NULL;
    *n = 0;
    if (base) {
        const char *slash = strrchr(base, '/'), *nm = slash ? slash + 1 : base;
        memset(&ds[0], 0, sizeof ds[0]);
        snprintf(ds[0].name, sizeof ds[0].name, "%.*s", (int)strcspn(nm, "."), nm);
        ds[0].metric = metric;
        *n = 1;
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max || (strcmp(tok, "sift") && strcmp(tok, "fashion") && strcmp(tok, "glove"))) {
            fprintf(stderr, "cvstore-bench: unknown or repeated data set '%s' (sift, fashion, glove)\n",
                    tok);
            return -1;
        }
        memset(&ds[*n], 0, sizeof ds[*n]);
        snprintf(ds[*n].name, sizeof ds[*n].name, "%s", strcmp(tok, "sift") == 0 ? "sift10k"
                 : strcmp(tok, "fashion") == 0 ? "fashion-mnist" : "glove-100-angular");
        ds[*n].metric = strcmp(tok, "glove") == 0 ? CVS_METRIC_COSINE : CVS_METRIC_L2;
        (*n)++;
    }
    if (*n == 0) {
        fprintf(stderr, "cvstore-bench: no data set selected\n");
        return -1;
    }
    return 0;
}

void bu_dataset_free(bu_dataset *ds)
{
    if (ds->xb_cvs) cvs_free(ds->xb); else free(ds->xb);
    if (ds->xq_cvs) cvs_free(ds->xq); else free(ds->xq);
    if (ds->gt_cvs) cvs_free(ds->gt); else free(ds->gt);
    memset(ds, 0, sizeof *ds);
}

void bu_dataset_truncate(bu_dataset *ds, size_t max_base)
{
    if (!max_base || max_base >= ds->nb)
        return;
    ds->nb = max_base;
    if (ds->gt_cvs) cvs_free(ds->gt); else free(ds->gt);
    ds->gt = NULL;
    ds->gt_cvs = 0;
    ds->gtk = 0;
}

int bu_dataset_exact_gt(bu_dataset *ds, size_t k, const char *parent)
{
    const size_t batch = 10000;
    char storepath[4200];
    char *dir = NULL;
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_record *recs = NULL;
    char (*ids)[24] = NULL;
    int64_t *lab = NULL;
    float *sc = NULL;
    int rc = CVS_ENOMEM;
    double t0 = bu_now();

    if (k > ds->nb)
        k = ds->nb;
    if (!(dir = bu_tmpdir(parent)))
        return CVS_EIO;
    snprintf(storepath, sizeof storepath, "%s/gt", dir);
    recs = calloc(batch, sizeof *recs);
    ids = malloc(batch * sizeof *ids);
    lab = malloc(ds->nq * k * sizeof *lab);
    sc = malloc(ds->nq * k * sizeof *sc);
    if (ds->gt_cvs) cvs_free(ds->gt); else free(ds->gt);
    ds->gt = malloc(ds->nq * k * sizeof *ds->gt);
    ds->gt_cvs = 0;
    if (!recs || !ids || !lab || !sc || !ds->gt)
        goto out;
    {
        cvs_create_opts co = {.dim = ds->d, .metric = ds->metric, .raw = CVS_RAW_F32};
        if ((rc = cvs_db_create(storepath, &co, &db)))
            goto out;
    }
    fprintf(stderr, "  [%s] ground truth: exact top %zu of %zu queries over %zu vectors\n",
            ds->name, k, ds->nq, ds->nb);
    /* Row numbers as ids: cvs_key_id maps the keys found back to rows. */
    for (size_t i = 0; i < ds->nb; i += batch) {
        size_t m = ds->nb - i < batch ? ds->nb - i : batch;
        for (size_t j = 0; j < m; j++) {
            int len = snprintf(ids[j], sizeof ids[j], "%zu", i + j);
            recs[j].id = ids[j];
            recs[j].id_len = (size_t)len;
            recs[j].vector = ds->xb + (i + j) * ds->d;
        }
        if ((rc = cvs_put(db, recs, m, 0, NULL, NULL)))
            goto out;
        bu_progress(NULL, "gt import", i + m, ds->nb, 0, 0);
    }
    if ((rc = cvs_search(db, ds->xq, ds->nq, k, CVS_SEARCH_EXACT, lab, sc)))
        goto out;
    if ((rc = cvs_txn_begin(db, &txn)))
        goto out;
    for (size_t i = 0; i < ds->nq * k; i++) {
        const char *id;
        size_t len;
        char buf[32];
        ds->gt[i] = -1;
        if (lab[i] < 0)
            continue;
        if ((rc = cvs_key_id(txn, lab[i], &id, &len)))
            goto out;
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), id);
        ds->gt[i] = (int32_t)strtol(buf, NULL, 10);
    }
    ds->gtk = k;
    fprintf(stderr, "  [%s] ground truth in %.1f s\n", ds->name, bu_now() - t0);
    rc = CVS_OK;
out:
    cvs_txn_end(txn);
    cvs_db_close(db);
    bu_rmrf(dir);
    free(dir);
    free(recs);
    free(ids);
    free(lab);
    free(sc);
    return rc;
}

static int load_files(bu_dataset *ds, const char *base, const char *query, const char *gt,
                      size_t nq_max)
{
    int rc;
    uint32_t qd = 0, gd = 0;
    size_t ngt = 0;
    fprintf(stderr, "  [%s] loading %s\n", ds->name, base);
    if ((rc = cvs_vecs_load(base, CVS_FMT_AUTO, &ds->xb, &ds->nb, &ds->d)))
        return rc;
    ds->xb_cvs = 1;
    if ((rc = cvs_vecs_load(query, CVS_FMT_AUTO, &ds->xq, &ds->nq, &qd)))
        return rc;
    ds->xq_cvs = 1;
    if (qd != ds->d) {
        fprintf(stderr, "cvstore-bench: %s has dim %u, %s %u\n", query, qd, base, ds->d);
        return CVS_EDIM;
    }
    if (nq_max && nq_max < ds->nq)
        ds->nq = nq_max;
    if (ds->metric == CVS_METRIC_COSINE) {
        bu_normalize_rows(ds->xb, ds->nb, ds->d);
        bu_normalize_rows(ds->xq, ds->nq, ds->d);
    }
    if (gt) {
        if ((rc = cvs_ivecs_load(gt, &ds->gt, &ngt, &gd)))
            return rc;
        ds->gt_cvs = 1;
        ds->gtk = gd;
        if (ngt < ds->nq || gd < 10) {
            fprintf(stderr, "cvstore-bench: %s has %zu rows of %u; need %zu of >= 10\n",
                    gt, ngt, gd, ds->nq);
            return CVS_EINPUT;
        }
    }
    return CVS_OK;
}

/* GloVe-100-angular: normalized, every 341st row a query, the rest the base. */
static int load_glove(bu_dataset *ds, size_t nq_max)
{
    char fvecs[4096], words[4096];
    float *all = NULL;
    size_t n = 0;
    int rc;
    if (bu_glove_paths(fvecs, words, sizeof fvecs) != 0)
        return CVS_NOTFOUND;
    fprintf(stderr, "  [%s] loading %s\n", ds->name, fvecs);
    if ((rc = cvs_vecs_load(fvecs, CVS_FMT_AUTO, &all, &n, &ds->d)))
        return rc;
    bu_normalize_rows(all, n, ds->d);
    size_t nq = (n + GLOVE_QSTRIDE - 1) / GLOVE_QSTRIDE;
    ds->xq = malloc(nq * ds->d * sizeof *ds->xq);
    ds->xb = malloc((n - nq) * ds->d * sizeof *ds->xb);
    if (!ds->xq || !ds->xb) {
        cvs_free(all);
        return CVS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        float *dst = i % GLOVE_QSTRIDE == 0 ? ds->xq + ds->nq++ * ds->d : ds->xb + ds->nb++ * ds->d;
        memcpy(dst, all + i * ds->d, ds->d * sizeof *dst);
    }
    cvs_free(all);
    if (nq_max && nq_max < ds->nq)
        ds->nq = nq_max;
    return CVS_OK;
}

int bu_dataset_load(bu_dataset *ds, const char *datadir, const char *base,
                    const char *query, const char *gt, size_t nq_max)
{
    char b[4096], q[4096], g[4096];
    if (base)
        return load_files(ds, base, query, gt, nq_max);
    if (strcmp(ds->name, "sift10k") == 0) {
        snprintf(b, sizeof b, "%s/siftsmall/siftsmall_base.fvecs", datadir);
        snprintf(q, sizeof q, "%s/siftsmall/siftsmall_query.fvecs", datadir);
        snprintf(g, sizeof g, "%s/siftsmall/siftsmall_groundtruth.ivecs", datadir);
        return load_files(ds, b, q, g, nq_max);
    }
    if (strcmp(ds->name, "fashion-mnist") == 0) {
        snprintf(b, sizeof b, "%s/fashion-mnist/fashion-mnist_base.bvecs", datadir);
        snprintf(q, sizeof q, "%s/fashion-mnist/fashion-mnist_query.bvecs", datadir);
        snprintf(g, sizeof g, "%s/fashion-mnist/fashion-mnist_groundtruth.ivecs", datadir);
        return load_files(ds, b, q, g, nq_max);
    }
    return load_glove(ds, nq_max);
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

int bu_keys_to_rows(cvs_txn *txn, int64_t *lab, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *id;
        size_t len;
        char buf[32];
        int rc;
        if (lab[i] < 0)
            continue;
        if ((rc = cvs_key_id(txn, lab[i], &id, &len)))
            return rc;
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), id);
        lab[i] = strtoll(buf, NULL, 10);
    }
    return 0;
}
