/*
 * test_load.c -- many processes on one store at once: one writer process
 * importing batches (cvs_import, one transaction each) while three reader
 * processes check every snapshot they open and a fourth drives `cvstore
 * mcp` over stdio with recall requests (which also write: recall stores
 * its time).  Bounded: fixed counts, and every child is killed by alarm()
 * long before the suite's timeout.
 *
 * What makes the snapshot check real: every batch is one JSONL file of N
 * text records plus a manifest record, imported as one transaction, so a
 * snapshot holds whole batches 0..B-1 and nothing else.  Each record
 * carries its batch and an FNV-1a checksum of its text in its metadata,
 * each manifest the combined checksum of its batch.  A reader finds B from
 * the manifests and then demands: the count is exactly B * (N + 1), every
 * record of every batch reads back with matching text, checksum and batch,
 * the manifest matches its records, an exact search of a record's vector
 * finds it, a BM25 search of its unique word finds it first, and B never
 * goes down.  The writer pauses every PACE batches until each reader (and
 * the MCP client) has seen that exact state, so the readers are known to
 * have checked snapshots taken in the middle of the import, not only
 * before or after it.  At the end every record is findable by id, by
 * exact search of its own vector and by its word, and cvs_check is clean.
 *
 * The embedder is the built-in glove over a tiny generated cache (16
 * dimensions, 64 words), so the MCP server -- another process -- embeds
 * exactly as the importer did.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvstore.h"
#include "tests/testutil.h"

enum {
    D = 16,           /* embedding dimension of the tiny GloVe cache */
    NVOCAB = 64,
    WORDS = 8,        /* vocabulary words per record text */
    N = 40,           /* records per batch (plus one manifest) */
    BATCHES = 30,
    PACE = 5,         /* the writer waits for the readers every PACE batches */
    READERS = 3,
    PROCS = READERS + 1, /* slot READERS is the MCP client */
    CHILD_ALARM_S = 60,
};

#define NS "load"

/* Shared by all processes (an anonymous MAP_SHARED mapping made before
 * fork). */
typedef struct shared {
    atomic_int committed;          /* batches committed by the writer */
    atomic_int begun;              /* batches whose import has begun: a
                                    * snapshot may hold batch `committed`
                                    * before the writer gets to say so, but
                                    * never one past `begun` */
    atomic_int writer_done;
    atomic_int seen[PROCS];        /* batches in the newest snapshot checked */
    atomic_long rounds[PROCS];
    atomic_int mid_states[PROCS];  /* distinct states 0 < B < BATCHES checked */
    atomic_int errors[PROCS + 1];  /* slot PROCS is the writer */
    atomic_int mcp_hits;           /* recalls that returned the memory asked for */
    atomic_int pauses_timed_out;
    char msg[PROCS + 1][512];
} shared;

static shared *sh;
static char *dir, *gdir, store[4200];

/* ==== Deterministic content ==== */

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* The text of record i of batch b: WORDS words of the vocabulary and one
 * word of its own ("u<b>x<i>", unknown to GloVe, unique for BM25). */
static void record_text(int b, int i, char *buf, size_t cap)
{
    size_t n = 0;
    for (int w = 0; w < WORDS; w++)
        n += (size_t)snprintf(buf + n, cap - n, "w%d ",
                              (int)(mix((uint64_t)b * 1000003u + (uint64_t)i * 31u + (uint64_t)w) %
                                    NVOCAB));
    snprintf(buf + n, cap - n, "u%dx%d", b, i);
}

static void record_id(int b, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "b%d-%d", b, i);
}

static void manifest_id(int b, char *buf, size_t cap)
{
    snprintf(buf, cap, "manifest-%d", b);
}

/* The combined checksum of batch b, from its texts. */
static uint64_t batch_sum(int b)
{
    uint64_t s = 0;
    char t[256];
    for (int i = 0; i < N; i++) {
        record_text(b, i, t, sizeof t);
        s ^= mix(fnv(t, strlen(t)) + (uint64_t)i);
    }
    return s;
}

static void write_glove(const char *d)
{
    char words[NVOCAB * 8] = "";
    static unsigned char fv[NVOCAB * (4 + 4 * D)];
    float v[D];
    for (int i = 0; i < NVOCAB; i++) {
        int32_t dim = D;
        size_t n = strlen(words);
        snprintf(words + n, sizeof words - n, "w%d\n", i);
        tu_randvecs(v, D, (uint64_t)i + 7);
        memcpy(fv + i * (4 + 4 * D), &dim, 4);
        memcpy(fv + i * (4 + 4 * D) + 4, v, sizeof v);
    }
    free(tu_write_file(d, "glove100.words", words, strlen(words)));
    free(tu_write_file(d, "glove100.fvecs", fv, sizeof fv));
}

/* ==== Reporting from children ==== */

static void fail(int slot, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int slot, const char *fmt, ...)
{
    va_list ap;
    if (atomic_fetch_add(&sh->errors[slot], 1) == 0) { /* keep the first */
        va_start(ap, fmt);
        vsnprintf(sh->msg[slot], sizeof sh->msg[slot], fmt, ap);
        va_end(ap);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ==== The writer ==== */

static int write_batch_file(int b, char *path, size_t cap)
{
    FILE *f;
    char t[256], id[64];
    snprintf(path, cap, "%s/batch-%d.jsonl", dir, b);
    if (!(f = fopen(path, "w")))
        return -1;
    for (int i = 0; i < N; i++) {
        record_text(b, i, t, sizeof t);
        record_id(b, i, id, sizeof id);
        fprintf(f,
                "{\"id\":\"%s\",\"text\":\"%s\",\"meta\":{\"_ns\":\"" NS "\",\"batch\":%d,"
                "\"i\":%d,\"sum\":\"%016llx\"}}\n",
                id, t, b, i, (unsigned long long)fnv(t, strlen(t)));
    }
    /* The manifest comes last: it is committed with its batch or not at
     * all, and lives in a namespace of its own so recall never sees it. */
    manifest_id(b, id, sizeof id);
    fprintf(f,
            "{\"id\":\"%s\",\"text\":\"w1 w2 manifest m%d\",\"meta\":{\"_ns\":\"manifests\","
            "\"batch\":%d,\"n\":%d,\"sum\":\"%016llx\"}}\n",
            id, b, b, N, (unsigned long long)batch_sum(b));
    return fclose(f);
}

static void writer(void)
{
    cvs_db *db = NULL;
    char path[4300];
    int rc;
    if ((rc = cvs_db_open(store, 0, &db))) {
        fail(PROCS, "open: %s", cvs_errmsg(NULL));
        goto out;
    }
    /* Start together with the readers: they report B = 0 first. */
    for (double t0 = now_s(); now_s() - t0 < 10;) {
        int all = 1;
        for (int p = 0; p < PROCS; p++)
            all &= atomic_load(&sh->rounds[p]) > 0;
        if (all)
            break;
        usleep(2000);
    }
    for (int b = 0; b < BATCHES; b++) {
        cvs_import_opts io = {.format = CVS_FMT_JSONL, .batch = N + 1};
        cvs_import_stats st;
        atomic_store(&sh->begun, b + 1);
        if (write_batch_file(b, path, sizeof path)) {
            fail(PROCS, "writing %s: %s", path, strerror(errno));
            goto out;
        }
        if ((rc = cvs_import(db, path, &io, &st))) {
            fail(PROCS, "import of batch %d: %s", b, cvs_errmsg(db));
            goto out;
        }
        if (st.inserted != N + 1) {
            fail(PROCS, "batch %d: %llu inserted", b, (unsigned long long)st.inserted);
            goto out;
        }
        atomic_store(&sh->committed, b + 1);
        if ((b + 1) % PACE || b + 1 == BATCHES)
            continue;
        /* Hold this state until every reader has checked it. */
        double t0 = now_s();
        for (;;) {
            int all = 1;
            for (int p = 0; p < PROCS; p++)
                all &= atomic_load(&sh->seen[p]) >= b + 1;
            if (all)
                break;
            if (now_s() - t0 > 10) {
                atomic_fetch_add(&sh->pauses_timed_out, 1);
                break;
            }
            usleep(1000);
        }
    }
out:
    atomic_store(&sh->writer_done, 1);
    cvs_db_close(db);
}

/* ==== The readers ==== */

static int check_record(cvs_txn *t, int b, int i, const cvs_record *r, const float *v, int slot)
{
    char want[256];
    json_error_t je;
    json_t *m;
    int ok = 1;
    record_text(b, i, want, sizeof want);
    if (!r->text || r->text_len != strlen(want) || memcmp(r->text, want, r->text_len)) {
        fail(slot, "b%d-%d: text differs", b, i);
        return 0;
    }
    if (!(m = json_loadb(r->meta, r->meta_len, 0, &je))) {
        fail(slot, "b%d-%d: meta is not JSON", b, i);
        return 0;
    }
    char sum[17];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)fnv(r->text, r->text_len));
    if (json_integer_value(json_object_get(m, "batch")) != b ||
        json_integer_value(json_object_get(m, "i")) != i ||
        !json_is_string(json_object_get(m, "sum")) ||
        strcmp(json_string_value(json_object_get(m, "sum")), sum) ||
        !json_is_string(json_object_get(m, "_ns")) ||
        strcmp(json_string_value(json_object_get(m, "_ns")), NS)) {
        fail(slot, "b%d-%d: metadata does not match its text: %.*s", b, i, (int)r->meta_len,
             r->meta);
        ok = 0;
    }
    json_decref(m);
    for (int d = 0; ok && d < D; d++)
        if (!isfinite(v[d])) {
            fail(slot, "b%d-%d: vector component %d is not finite", b, i, d);
            ok = 0;
        }
    (void)t;
    return ok;
}

/* Exact search of a record's own vector finds it (among equal scores: two
 * texts with the same vocabulary words embed alike), and its own word
 * finds it first by BM25. */
static int findable(cvs_txn *t, const char *id, int64_t key, const float *v, const char *word,
                    int slot)
{
    int64_t l[5], tk[1];
    float s[5], ts[1];
    int found = 0, rc;
    if ((rc = cvs_txn_search(t, v, 1, 5, CVS_SEARCH_EXACT, l, s))) {
        fail(slot, "search: %s", cvs_strerror(rc));
        return 0;
    }
    for (int j = 0; j < 5 && l[j] >= 0 && s[j] >= s[0] - 1e-4f; j++)
        found |= l[j] == key;
    if (!found) {
        fail(slot, "%s: exact search of its vector does not find it (top %lld, %g)", id,
             (long long)l[0], (double)s[0]);
        return 0;
    }
    if ((rc = cvs_txn_text_search(t, word, strlen(word), 1, tk, ts))) {
        fail(slot, "text search: %s", cvs_strerror(rc));
        return 0;
    }
    if (tk[0] != key) {
        fail(slot, "%s: BM25 search of \"%s\" gives key %lld", id, word, (long long)tk[0]);
        return 0;
    }
    return 1;
}

/* Checks one snapshot; returns the batches it holds, or -1. */
static int check_snapshot(cvs_db *db, int slot, int last, uint64_t *rng)
{
    cvs_txn *t = NULL;
    cvs_record r;
    uint64_t count;
    char id[64], word[32];
    float v[D];
    int B = 0, rc;

    if ((rc = cvs_txn_begin(db, &t))) {
        fail(slot, "begin: %s", cvs_errmsg(db));
        return -1;
    }
    if ((rc = cvs_txn_count(t, &count))) {
        fail(slot, "count: %s", cvs_errmsg(db));
        goto bad;
    }
    /* The manifests say how many batches the snapshot holds. */
    for (;; B++) {
        manifest_id(B, id, sizeof id);
        rc = cvs_get(t, id, strlen(id), &r, NULL);
        if (rc == CVS_NOTFOUND)
            break;
        if (rc) {
            fail(slot, "get %s: %s", id, cvs_errmsg(db));
            goto bad;
        }
        char sum[17];
        json_error_t je;
        json_t *m = json_loadb(r.meta, r.meta_len, 0, &je);
        snprintf(sum, sizeof sum, "%016llx", (unsigned long long)batch_sum(B));
        int ok = m && json_integer_value(json_object_get(m, "n")) == N &&
                 json_is_string(json_object_get(m, "sum")) &&
                 !strcmp(json_string_value(json_object_get(m, "sum")), sum);
        json_decref(m);
        if (!ok) {
            fail(slot, "%s: wrong manifest", id);
            goto bad;
        }
    }
    if (B < last) {
        fail(slot, "went back from %d batches to %d", last, B);
        goto bad;
    }
    if (B > atomic_load(&sh->begun)) {
        fail(slot, "%d batches in a snapshot, but only %d imports begun", B,
             atomic_load(&sh->begun));
        goto bad;
    }
    if (count != (uint64_t)B * (N + 1)) {
        fail(slot, "torn snapshot: %d whole batches but %llu records", B,
             (unsigned long long)count);
        goto bad;
    }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            record_id(b, i, id, sizeof id);
            if ((rc = cvs_get(t, id, strlen(id), &r, v))) {
                fail(slot, "batch %d is partial: get %s: %s", b, id, cvs_strerror(rc));
                goto bad;
            }
            if (!check_record(t, b, i, &r, v, slot))
                goto bad;
        }
    /* The first record of the next batch is absent (the count says the
     * same; this says it by id). */
    record_id(B, 0, id, sizeof id);
    if ((rc = cvs_get(t, id, strlen(id), &r, NULL)) != CVS_NOTFOUND) {
        fail(slot, "%s is there without its manifest (%s)", id, cvs_strerror(rc));
        goto bad;
    }
    if (B) {
        *rng = mix(*rng + 1);
        int b = (int)(*rng % (uint64_t)B), i = (int)((*rng >> 32) % N);
        record_id(b, i, id, sizeof id);
        snprintf(word, sizeof word, "u%dx%d", b, i);
        if ((rc = cvs_get(t, id, strlen(id), &r, v))) {
            fail(slot, "get %s: %s", id, cvs_strerror(rc));
            goto bad;
        }
        if (!findable(t, id, r.key, v, word, slot))
            goto bad;
    }
    cvs_txn_end(t);
    return B;
bad:
    cvs_txn_end(t);
    return -1;
}

static void reader(int slot)
{
    cvs_db *db = NULL;
    uint64_t rng = (uint64_t)slot * 977 + 1;
    int last = 0, finals = 0, prev = -1;
    if (cvs_db_open(store, CVS_OPEN_RDONLY, &db)) {
        fail(slot, "open: %s", cvs_errmsg(NULL));
        return;
    }
    /* After the writer is done, one more snapshot: it must hold everything. */
    while (finals < 1) {
        int done = atomic_load(&sh->writer_done);
        int B = check_snapshot(db, slot, last, &rng);
        if (B < 0)
            break;
        if (B > 0 && B < BATCHES && B != prev)
            atomic_fetch_add(&sh->mid_states[slot], 1);
        prev = last = B;
        atomic_store(&sh->seen[slot], B);
        atomic_fetch_add(&sh->rounds[slot], 1);
        finals += done;
    }
    cvs_db_close(db);
}

/* ==== The MCP client ==== */

static json_t *rpc(FILE *to, FILE *from, const char *line, int slot)
{
    char *buf = NULL;
    size_t cap = 0;
    json_error_t je;
    json_t *reply;
    if (fprintf(to, "%s\n", line) < 0 || fflush(to)) {
        fail(slot, "writing to cvstore mcp: %s", strerror(errno));
        return NULL;
    }
    if (getline(&buf, &cap, from) < 0) {
        fail(slot, "cvstore mcp closed its output");
        free(buf);
        return NULL;
    }
    if (!(reply = json_loads(buf, 0, &je)))
        fail(slot, "not JSON from cvstore mcp: %.200s", buf);
    free(buf);
    return reply;
}

/* One recall of a record of a committed batch, by its words; every
 * memory returned must be one of ours, whole. */
static int mcp_recall(FILE *to, FILE *from, int id, uint64_t *rng, int slot)
{
    int committed = atomic_load(&sh->committed), ok = 0;
    char text[256], want[64], line[1024];
    json_t *reply, *res, *mems;
    *rng = mix(*rng + 1);
    int b = committed ? (int)(*rng % (uint64_t)committed) : 0, i = (int)((*rng >> 32) % N);
    record_text(b, i, text, sizeof text);
    record_id(b, i, want, sizeof want);
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"recall\",\"arguments\":{\"query\":\"%s\",\"namespace\":\"" NS "\",\"k\":5}}}",
             id, text);
    if (!(reply = rpc(to, from, line, slot)))
        return 0;
    res = json_object_get(reply, "result");
    mems = json_object_get(json_object_get(res, "structuredContent"), "memories");
    if (!res || json_integer_value(json_object_get(reply, "id")) != id ||
        !json_is_false(json_object_get(res, "isError")) || !json_is_array(mems)) {
        char *s = json_dumps(reply, JSON_COMPACT);
        fail(slot, "recall failed: %.400s", s ? s : "?");
        free(s);
        goto out;
    }
    if (committed && json_array_size(mems) == 0) {
        fail(slot, "recall of %s found nothing with %d batches committed", want, committed);
        goto out;
    }
    size_t k;
    json_t *mem;
    json_array_foreach(mems, k, mem) {
        const char *mid = json_string_value(json_object_get(mem, "id"));
        const char *mt = json_string_value(json_object_get(mem, "text"));
        json_t *meta = json_object_get(mem, "metadata");
        const char *sum = json_string_value(json_object_get(meta, "sum"));
        char s[17], expect[256], eid[64];
        int mb = (int)json_integer_value(json_object_get(meta, "batch"));
        int mi = (int)json_integer_value(json_object_get(meta, "i"));
        if (!mid || !mt || !sum) {
            fail(slot, "recall returned a memory without id, text or sum");
            goto out;
        }
        record_id(mb, mi, eid, sizeof eid);
        record_text(mb, mi, expect, sizeof expect);
        snprintf(s, sizeof s, "%016llx", (unsigned long long)fnv(mt, strlen(mt)));
        if (strcmp(mid, eid) || strcmp(mt, expect) || strcmp(sum, s) ||
            mb >= atomic_load(&sh->begun)) {
            fail(slot, "recall returned %s (batch %d), not a record as written of a batch begun",
                 mid, mb);
            goto out;
        }
        if (!strcmp(mid, want))
            atomic_fetch_add(&sh->mcp_hits, 1);
    }
    ok = 1;
out:
    json_decref(reply);
    return ok;
}

static void mcp_client(int slot)
{
    int in[2], out[2], st, id = 1;
    uint64_t rng = 4242;
    FILE *to = NULL, *from = NULL;
    pid_t pid;
    json_t *r;

    if (pipe(in) || pipe(out)) {
        fail(slot, "pipe: %s", strerror(errno));
        return;
    }
    if ((pid = fork()) == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(CVS_CLI_PATH, "cvstore", "mcp", store, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to = fdopen(in[1], "w");
    from = fdopen(out[0], "r");
    if (pid < 0 || !to || !from) {
        fail(slot, "starting cvstore mcp: %s", strerror(errno));
        goto out;
    }
    r = rpc(to, from,
            "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
            "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
            "\"load\",\"version\":\"1\"}}}",
            slot);
    if (!r || !json_object_get(r, "result")) {
        fail(slot, "initialize failed");
        json_decref(r);
        goto out;
    }
    json_decref(r);
    for (int finals = 0; finals < 1;) {
        int done = atomic_load(&sh->writer_done), committed = atomic_load(&sh->committed);
        if (!mcp_recall(to, from, id++, &rng, slot))
            break;
        atomic_store(&sh->seen[slot], committed);
        atomic_fetch_add(&sh->rounds[slot], 1);
        finals += done;
    }
out:
    if (to)
        fclose(to); /* EOF: the server exits 0 */
    if (pid > 0) {
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail(slot, "cvstore mcp did not exit cleanly (status %d)", st);
    }
    if (from)
        fclose(from);
}

/* ==== The test ==== */

static pid_t spawn(void (*fn)(int), int slot)
{
    pid_t p = fork();
    if (p == 0) {
        alarm(CHILD_ALARM_S);
        fn(slot);
        _exit(0);
    }
    return p;
}

static void run_writer(int slot)
{
    (void)slot;
    writer();
}

Test(load, writer_readers_and_mcp_processes, .timeout = 180)
{
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_COSINE};
    pid_t pids[PROCS + 1];
    cvs_db *db;
    cvs_txn *t;
    uint64_t count, problems;
    double t0 = now_s();

    dir = tu_tmpdir();
    gdir = tu_tmpdir();
    write_glove(gdir);
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    snprintf(store, sizeof store, "%s/load.cvs", dir);
    cr_assert_eq(cvs_db_create(store, &co, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_set_embedder(db, "glove", D, NULL, NULL), 0, "%s", cvs_errmsg(db));
    /* No handle may cross a fork (LMDB's rule): children open their own. */
    cvs_db_close(db);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);

    for (int p = 0; p < READERS; p++)
        pids[p] = spawn(reader, p);
    pids[READERS] = spawn(mcp_client, READERS);
    pids[PROCS] = spawn(run_writer, PROCS);
    for (int p = 0; p <= PROCS; p++) {
        int st;
        cr_assert_gt(pids[p], 0, "fork");
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "process %d died (status %#x%s)", p, st,
                  WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": out of time" : "");
    }
    for (int p = 0; p <= PROCS; p++)
        cr_expect_eq(atomic_load(&sh->errors[p]), 0, "process %d: %d errors, first: %s", p,
                     atomic_load(&sh->errors[p]), sh->msg[p]);
    cr_assert_eq(atomic_load(&sh->committed), BATCHES);
    cr_assert_eq(atomic_load(&sh->pauses_timed_out), 0, "the readers did not keep up");
    for (int p = 0; p < PROCS; p++) {
        cr_assert_eq(atomic_load(&sh->seen[p]), BATCHES, "process %d's last snapshot", p);
        if (p < READERS)
            cr_assert_geq(atomic_load(&sh->mid_states[p]), BATCHES / PACE - 1,
                          "reader %d checked %d snapshots taken mid-import", p,
                          atomic_load(&sh->mid_states[p]));
    }
    cr_assert_gt(atomic_load(&sh->mcp_hits), 0, "recall never found the memory asked for");

    /* Every committed record, findable. */
    cr_assert_eq(cvs_db_open(store, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_count(t, &count), 0);
    cr_assert_eq(count, (uint64_t)BATCHES * (N + 1));
    for (int b = 0; b < BATCHES; b++)
        for (int i = 0; i < N; i++) {
            char id[64], word[32];
            float v[D];
            cvs_record r;
            record_id(b, i, id, sizeof id);
            snprintf(word, sizeof word, "u%dx%d", b, i);
            cr_assert_eq(cvs_get(t, id, strlen(id), &r, v), 0, "%s", id);
            cr_assert(check_record(t, b, i, &r, v, PROCS), "%s: %s", id, sh->msg[PROCS]);
            cr_assert(findable(t, id, r.key, v, word, PROCS), "%s", sh->msg[PROCS]);
        }
    cvs_txn_end(t);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    cvs_db_close(db);
    cr_log_info("load: %d batches of %d, %ld/%ld/%ld snapshots checked, %ld recalls, %.1f s",
                BATCHES, N, (long)sh->rounds[0], (long)sh->rounds[1], (long)sh->rounds[2],
                (long)sh->rounds[READERS], now_s() - t0);
    munmap(sh, sizeof *sh);
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(dir);
    tu_rmrf(gdir);
    free(dir);
    free(gdir);
}
