/* testutil.c -- helpers for the Criterion tests (see testutil.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/cvstest-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_rmrf(const char *path)
{
    char cmd[4200];
    if (!path || strncmp(path, "/tmp/cvstest-", 13) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "tu_rmrf: could not remove %s\n", path);
}

char *tu_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    FILE *f;
    snprintf(p, n, "%s/%s", dir, name);
    f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    return p;
}

int tu_cli(char **out, const char *fmt, ...)
{
    char args[8192], cmd[8400];
    va_list ap;
    FILE *p;
    size_t cap = 4096, len = 0, got;
    char *buf;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", CVS_CLI_PATH, args);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_randvecs(float *v, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v[i] = (float)((double)(s >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

/* ==== Fixtures ==== */

void tu_store_create(const cvs_create_opts *o, const char *sub, char **dir, cvs_db **db)
{
    char path[4200];
    *dir = tu_tmpdir();
    cr_assert_not_null(*dir);
    snprintf(path, sizeof path, "%s%s%s", *dir, sub ? "/" : "", sub ? sub : "");
    cr_assert_eq(cvs_db_create(path, o, db), 0, "%s", cvs_errmsg(NULL));
}

void tu_store_remove(char **dir, cvs_db **db)
{
    cvs_db_close(*db);
    *db = NULL;
    tu_rmrf(*dir);
    free(*dir);
    *dir = NULL;
}

#define SIFT CVS_TEST_DATA "/siftsmall/siftsmall_"

void tu_sift_load(tu_sift *s, char **dir, cvs_db **db)
{
    cvs_import_opts io = {0};
    cvs_create_opts o = {128, CVS_METRIC_L2, CVS_RAW_F32};
    cr_assert_eq(cvs_vecs_load(SIFT "base.fvecs", CVS_FMT_AUTO, &s->base, &s->nb, &s->dim), 0);
    cr_assert_eq(cvs_vecs_load(SIFT "query.fvecs", CVS_FMT_AUTO, &s->query, &s->nq, &s->dim), 0);
    cr_assert_eq(cvs_ivecs_load(SIFT "groundtruth.ivecs", &s->gt, &s->ng, &s->gdim), 0);
    tu_store_create(&o, NULL, dir, db);
    cr_assert_eq(cvs_import(*db, SIFT "base.fvecs", &io, NULL), 0, "%s", cvs_errmsg(*db));
}

void tu_sift_unload(tu_sift *s, char **dir, cvs_db **db)
{
    tu_store_remove(dir, db);
    cvs_free(s->base);
    cvs_free(s->query);
    cvs_free(s->gt);
    s->base = s->query = NULL;
    s->gt = NULL;
}

void tu_glove_write(const char *dir, const char *const *words, const float *vecs, size_t n,
                    uint32_t dim)
{
    size_t row = 4 + 4 * (size_t)dim, wlen = 0;
    unsigned char *fv = malloc(n * row);
    char *txt;
    int32_t d = (int32_t)dim;
    for (size_t i = 0; i < n; i++)
        wlen += strlen(words[i]) + 1;
    txt = malloc(wlen + 1);
    cr_assert(fv && txt);
    txt[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(strcat(txt, words[i]), "\n");
        memcpy(fv + i * row, &d, 4);
        memcpy(fv + i * row + 4, vecs + i * dim, 4 * (size_t)dim);
    }
    free(tu_write_file(dir, "glove100.words", txt, strlen(txt)));
    free(tu_write_file(dir, "glove100.fvecs", fv, n * row));
    free(txt);
    free(fv);
}

/* The handshake a session begins with (the server refuses other requests
 * before it): tu_mcp_glove sends it first and drops its reply. */
static const char mcp_handshake[] =
    "{\"jsonrpc\":\"2.0\",\"id\":\"handshake\",\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
    "\"tu\",\"version\":\"0\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

static size_t mcp_session(const char *dir, const char *const *words, const float *vecs,
                          size_t n, const char *input, int handshake, json_t **msg, size_t cap)
{
    char *gdir = tu_tmpdir(), *in, *out = NULL, store[4200], *all;
    size_t got = 0, skip = handshake ? 1 : 0;
    cr_assert_not_null(gdir);
    tu_glove_write(gdir, words, vecs, n, 4);
    cr_assert_not_null(all = malloc(sizeof mcp_handshake + strlen(input)));
    strcpy(all, handshake ? mcp_handshake : "");
    strcat(all, input);
    in = tu_write_file(dir, "in.jsonl", all, strlen(all));
    free(all);
    snprintf(store, sizeof store, "%s/g.cvs", dir);
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    cr_assert_eq(tu_cli(NULL, "init '%s' --embedder glove --dim 4 >/dev/null", store), 0);
    cr_assert_eq(tu_cli(&out, "mcp '%s' < '%s'", store, in), 0);
    for (char *line = strtok(out, "\n"); line && got < cap; line = strtok(NULL, "\n")) {
        if (skip) {
            cr_assert(strstr(line, "\"handshake\"") && strstr(line, "\"result\""),
                      "the handshake failed: %s", line);
            skip = 0;
            continue;
        }
        cr_assert(msg[got++] = json_loads(line, 0, NULL), "not JSON: %s", line);
    }
    unsetenv("CVSTORE_GLOVE_DIR");
    free(out);
    free(in);
    tu_rmrf(gdir);
    free(gdir);
    return got;
}

size_t tu_mcp_glove(const char *dir, const char *const *words, const float *vecs, size_t n,
                    const char *input, json_t **msg, size_t cap)
{
    return mcp_session(dir, words, vecs, n, input, 1, msg, cap);
}

size_t tu_mcp_glove_raw(const char *dir, const char *const *words, const float *vecs, size_t n,
                        const char *input, json_t **msg, size_t cap)
{
    return mcp_session(dir, words, vecs, n, input, 0, msg, cap);
}

/* ==== Another process writing ==== */

static int hold_fd = -1;     /* the child's: tells the parent it holds the lock */
static int release_fd = -1;  /* the child's: closed by the parent to release it */
static int release_w = -1;   /* the parent's end of that pipe */

#ifdef CVS_TEST_SLOW
#define HOLD_MAX_MS (8000 * CVS_TEST_SLOW)
#else
#define HOLD_MAX_MS 8000
#endif

/* Inside the build's write transaction (its encoding pass): says so on
 * the pipe, then holds the writer's lock until the parent releases it
 * (tu_release_writer, tu_child_done) or HOLD_MAX_MS pass.  A fixed hold
 * would race the waiter: a CLI process must start and reach its write
 * with more than the notice's second of the hold left, which a loaded or
 * sanitized run does not promise. */
static void hold_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                          uint64_t bytes_done, uint64_t bytes_total)
{
    struct pollfd pf;
    (void)ctx, (void)done, (void)total, (void)bytes_done, (void)bytes_total;
    if (strcmp(phase, "encode") || hold_fd < 0)
        return;
    if (write(hold_fd, "x", 1) != 1)
        _exit(3);
    close(hold_fd);
    hold_fd = -1;
    pf.fd = release_fd;
    pf.events = POLLIN;
    while (poll(&pf, 1, HOLD_MAX_MS) < 0 && errno == EINTR)
        ;
    close(release_fd);
    release_fd = -1;
}

pid_t tu_hold_writer(const char *path)
{
    int p[2], q[2];
    char c;
    pid_t pid;
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    cr_assert_neq(pid = fork(), -1);
    if (pid == 0) {
        cvs_db *h;
        cvs_build_opts bo = {.progress = hold_progress};
        close(p[0]);
        close(q[1]);
        hold_fd = p[1];
        release_fd = q[0];
        if (cvs_db_open(path, 0, &h) || cvs_build(h, "sq8", &bo))
            _exit(2);
        cvs_db_close(h);
        _exit(0);
    }
    close(p[1]);
    close(q[0]);
    release_w = q[1];
    cr_assert_eq(read(p[0], &c, 1), 1, "the child did not reach its write");
    close(p[0]);
    return pid;
}

void tu_release_writer(void)
{
    if (release_w >= 0)
        close(release_w);
    release_w = -1;
}

void tu_child_done(pid_t pid)
{
    int st;
    tu_release_writer();
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

/* ==== Timeouts under the sanitizers ==== */

/* The tests' own timeouts (and their suites') are there to catch hangs.
 * ASan and UBSan make codec training and the SIFT10K scans several times
 * slower, so the sanitizer build (CVS_TEST_SLOW, a factor) stretches every
 * one of them before the first test starts, rather than each test knowing
 * how it was built.  The runner reads them from these same structures. */
#ifdef CVS_TEST_SLOW
#include <criterion/hooks.h>
#include <criterion/internal/ordered-set.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    FOREACH_SET(struct criterion_suite_set *s, set->suites) {
        if (s->suite.data && s->suite.data->timeout > 0)
            s->suite.data->timeout *= CVS_TEST_SLOW;
        FOREACH_SET(struct criterion_test *t, s->tests) {
            if (t->data && t->data->timeout > 0)
                t->data->timeout *= CVS_TEST_SLOW;
        }
    }
}
#endif

int tu_raw_put_fn(cvs_db *d, MDB_txn *txn, void *arg)
{
    tu_raw_put *r = arg;
    (void)d;
    return mdb_put(txn, r->dbi, &r->k, &r->v, 0) ? CVS_EIO : CVS_OK;
}

cvs_record tu_rec(const char *id, const float *v)
{
    cvs_record r = {0};
    r.id = id;
    r.id_len = strlen(id);
    r.vector = v;
    return r;
}

int64_t tu_key_of(cvs_db *d, const char *id)
{
    cvs_txn *t;
    cvs_record r;
    int rc;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    rc = cvs_get(t, id, strlen(id), &r, NULL);
    cvs_txn_end(t);
    return rc ? -1 : r.key;
}

int tu_names_fetcher(const char *msg, const char *script, char *buf, size_t cap)
{
    const char *p = strstr(msg, "bash ");
    size_t n = 0, sl = strlen(script);
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (!p)
        return 0;
    /* The path ends at a space (its arguments follow) or the backquote
     * that closes the command. */
    for (p += 5; p[n] && p[n] != ' ' && p[n] != '`' && n + 1 < cap; n++)
        buf[n] = p[n];
    buf[n] = '\0';
    return buf[0] == '/' && n >= sl + 1 && buf[n - sl - 1] == '/' &&
           strcmp(buf + n - sl, script) == 0 && access(buf, R_OK) == 0;
}

/* The UTF-8 bytes of code point c (not a surrogate, below 0x110000) into
 * b (room for 4); their number. */
static size_t tu_utf8(uint32_t c, char *b)
{
    if (c < 0x80) {
        b[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 63));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 63));
        b[2] = (char)(0x80 | (c & 63));
        return 3;
    }
    b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 63));
    b[2] = (char)(0x80 | ((c >> 6) & 63)), b[3] = (char)(0x80 | (c & 63));
    return 4;
}

size_t tu_each_word_char(void (*fn)(void *ctx, const char *b, size_t n, uint32_t c), void *ctx)
{
    size_t worded = 0;
    for (uint32_t c = 1; c < 0x110000; c++) {
        char b[4];
        size_t n, w = 0;
        if (c >= 0xD800 && c < 0xE000)
            continue;
        n = tu_utf8(c, b);
        if (cvs_text_words(b, n, &w) || !w)
            continue;
        worded++;
        fn(ctx, b, n, c);
    }
    return worded;
}

char *tu_read_repo_file(const char *rel)
{
    char path[4096], *text = NULL;
    size_t cap = 0;
    FILE *f;
    /* CVS_TEST_DATA is the repository's tests/data. */
    snprintf(path, sizeof path, "%s/../../%s", CVS_TEST_DATA, rel);
    f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    cr_assert(getdelim(&text, &cap, '\0', f) > 0, "%s is empty", path);
    fclose(f);
    return text;
}

int tu_bow_embed(const char *const *texts, const size_t *lens, size_t n, float *out, size_t dim,
                 int boom)
{
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * dim;
        int any = 0;
        memset(v, 0, dim * sizeof *v);
        for (size_t j = 0; j < lens[i];) {
            uint32_t h = 2166136261u;
            size_t s = j;
            while (j < lens[i] && isalnum((unsigned char)texts[i][j]))
                h = (h ^ (uint32_t)tolower((unsigned char)texts[i][j++])) * 16777619u;
            if (j > s) {
                if (boom && j - s == 4 && !strncmp(texts[i] + s, "boom", 4))
                    v[0] = NAN;
                v[h % dim] += 1;
                any = 1;
            } else {
                j++;
            }
        }
        if (!any)
            return CVS_EINPUT;
    }
    return 0;
}
