/* test_concurrency.c -- one writer and several reader threads on one
 * handle, while the map grows underneath them: readers never fail, every
 * snapshot holds whole batches only, and counts never go backwards. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"

enum { D = 256, BATCH = 1000, BATCHES = 80, READERS = 3 };

static cvs_db *db;
static atomic_int writer_done;

typedef struct reader_stats {
    int errors;
    int torn;        /* a snapshot with a partial batch */
    int backwards;   /* a count smaller than an earlier one */
    long rounds;
    char msg[256];
} reader_stats;

static void *reader(void *arg)
{
    reader_stats *st = arg;
    uint64_t last = 0;
    float q[D];
    int64_t l[5];
    float s[5];
    tu_randvecs(q, D, 5);
    while (!atomic_load(&writer_done) || st->rounds < 5) {
        cvs_txn *t;
        uint64_t n;
        cvs_record r;
        int rc = cvs_txn_begin(db, &t);
        if (rc) {
            st->errors++;
            snprintf(st->msg, sizeof st->msg, "begin: %s", cvs_errmsg(db));
            continue;
        }
        if ((rc = cvs_txn_count(t, &n)) == 0) {
            if (n % BATCH)
                st->torn++;
            if (n < last)
                st->backwards++;
            last = n;
            if (n && (rc = cvs_get(t, "0", 1, &r, NULL)))
                snprintf(st->msg, sizeof st->msg, "get: %s", cvs_errmsg(db));
            /* A full exact search every few rounds keeps the flat cache
             * reloading while the writer commits. */
            if (rc == 0 && st->rounds % 8 == 0 && (rc = cvs_txn_search(t, q, 1, 5, 0, l, s)))
                snprintf(st->msg, sizeof st->msg, "search: %s", cvs_errmsg(db));
        }
        if (rc)
            st->errors++;
        cvs_txn_end(t);
        st->rounds++;
    }
    return NULL;
}

Test(concurrency, readers_during_writes_and_map_growth, .timeout = 240)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    pthread_t th[READERS];
    reader_stats st[READERS];
    float *v = malloc((size_t)BATCH * D * sizeof *v);
    cvs_record *recs = calloc(BATCH, sizeof *recs);
    char (*ids)[16] = malloc(BATCH * 16);
    cvs_info info;
    uint64_t problems;

    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    memset(st, 0, sizeof st);
    atomic_store(&writer_done, 0);
    for (int i = 0; i < READERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, &st[i]), 0);
    for (int b = 0; b < BATCHES; b++) {
        tu_randvecs(v, (size_t)BATCH * D, (uint64_t)b + 100);
        for (int i = 0; i < BATCH; i++) {
            snprintf(ids[i], 16, "%d", b * BATCH + i);
            recs[i].id = ids[i];
            recs[i].id_len = strlen(ids[i]);
            recs[i].vector = v + (size_t)i * D;
        }
        cr_assert_eq(cvs_put(db, recs, BATCH, 0, NULL, NULL), 0, "batch %d: %s", b, cvs_errmsg(db));
    }
    atomic_store(&writer_done, 1);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(st[i].errors, 0, "reader %d: %d errors, last: %s", i, st[i].errors, st[i].msg);
        cr_assert_eq(st[i].torn, 0, "reader %d saw a partial batch", i);
        cr_assert_eq(st[i].backwards, 0, "reader %d saw the count go back", i);
        cr_assert_gt(st[i].rounds, 0);
    }
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert_eq(info.count, (uint64_t)BATCH * BATCHES);
    cr_assert_gt(info.map_bytes, 64ull << 20, "the map grew while readers ran");
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    free(v);
    free(recs);
    free(ids);
}

/* ==== Graph builds beside other writers ====
 *
 * cvs_knn_build and cvs_link_mentions compute from a read snapshot and
 * write afterwards.  The test hook (graph/graph.h) commits other writes
 * exactly between the two: deletes, an update and new records.  The store
 * must come out consistent (cvs_check) and the graph must describe the
 * records as they are after those writes. */

#include "graph/graph.h"

enum { GN = 400, GD = 8, GK = 5 };
static float gvec[GN + 40][GD];
static int hook_calls;

static void gput(cvs_db *h, int from, int to, float shift)
{
    static char ids[GN + 40][16], titles[GN + 40][16], texts[GN + 40][64];
    cvs_record r[64];
    for (int i = from; i < to; i += 64) {
        int n = to - i < 64 ? to - i : 64;
        memset(r, 0, sizeof r);
        for (int j = 0; j < n; j++) {
            int x = i + j;
            for (int d = 0; d < GD; d++)
                gvec[x][d] += shift;
            snprintf(ids[x], sizeof ids[x], "g%d", x);
            snprintf(titles[x], sizeof titles[x], "topic%d", x);
            snprintf(texts[x], sizeof texts[x], "about topic%d and topic%d", (x + 1) % GN,
                     (x + 3) % GN);
            r[j].id = ids[x];
            r[j].id_len = strlen(ids[x]);
            r[j].vector = gvec[x];
            r[j].title = titles[x];
            r[j].title_len = strlen(titles[x]);
            r[j].text = texts[x];
            r[j].text_len = strlen(texts[x]);
        }
        cr_assert_eq(cvs_put(h, r, (size_t)n, 0, NULL, NULL), 0, "%s", cvs_errmsg(h));
    }
}

/* Deletes every 10th record, moves record 7 far away, adds 40 records. */
static void meddle(cvs_db *h)
{
    char ids[GN / 10][16];
    const char *p[GN / 10];
    size_t l[GN / 10], n = 0, deleted = 0;
    hook_calls++;
    for (int i = 0; i < GN; i += 10) {
        snprintf(ids[n], sizeof ids[n], "g%d", i);
        p[n] = ids[n];
        l[n] = strlen(ids[n]);
        n++;
    }
    cr_assert_eq(cvs_delete(h, p, l, n, &deleted), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(deleted, n);
    gput(h, 7, 8, 100.0f);
    gput(h, GN, GN + 40, 0.0f);
}

static void graph_store(char **dir, cvs_db **h)
{
    cvs_create_opts o = {GD, CVS_METRIC_L2, CVS_RAW_F32};
    cr_assert_not_null(*dir = tu_tmpdir());
    cr_assert_eq(cvs_db_create(*dir, &o, h), 0, "%s", cvs_errmsg(NULL));
    tu_randvecs(&gvec[0][0], (size_t)(GN + 40) * GD, 11);
    gput(*h, 0, GN, 0.0f);
}

static void report(void *ctx, const char *msg)
{
    int *n = ctx;
    if ((*n)++ < 5)
        cr_log_error("%s", msg);
}

Test(graph_race, knn_build_reconciles_writes_committed_after_its_snapshot)
{
    cvs_knn_opts ko = {.k = GK};
    cvs_knn_info info;
    char *dir;
    cvs_db *h;
    cvs_txn *t;
    int64_t nb[GK], lab[GK + 1];
    float sc[GK], ls[GK + 1];
    size_t n;
    uint64_t problems = 1;
    int reported = 0;

    graph_store(&dir, &h);
    cvs__graph_test_hook = meddle;
    cr_assert_eq(cvs_knn_build(h, &ko, &info), 0, "%s", cvs_errmsg(h));
    cvs__graph_test_hook = NULL;
    cr_assert_eq(hook_calls, 1);
    cr_assert_eq(cvs_check(h, report, &reported, &problems), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(problems, 0, "%llu problems after a build beside writes",
                 (unsigned long long)problems);
    /* The moved record and a new one have the rows of their new vectors:
     * the exact K nearest others, as a search finds them now. */
    cr_assert_eq(cvs_txn_begin(h, &t), 0);
    for (int x = 7; x <= GN + 5; x += GN - 2) {
        char id[16];
        cvs_record r;
        snprintf(id, sizeof id, "g%d", x);
        cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0, "%s", cvs_errmsg(h));
        cr_assert_eq(cvs_txn_search(t, gvec[x], 1, GK + 1, 0, lab, ls), 0);
        cr_assert_eq(lab[0], r.key);
        cr_assert_eq(cvs_knn_neighbors(t, r.key, GK, nb, sc, &n), 0, "%s", cvs_errmsg(h));
        cr_assert_eq(n, GK);
        for (size_t j = 0; j < GK; j++)
            cr_assert_eq(nb[j], lab[j + 1], "%s: edge %zu", id, j);
    }
    cvs_txn_end(t);
    cvs_db_close(h);
    tu_rmrf(dir);
    free(dir);
}

Test(graph_race, mention_links_are_redone_when_writes_came_between)
{
    cvs_link_stats st;
    char *dir;
    cvs_db *h;
    uint64_t problems = 1;
    int reported = 0;

    graph_store(&dir, &h);
    cvs__graph_test_hook = meddle;
    cr_assert_eq(cvs_link_mentions(h, &st), 0, "%s", cvs_errmsg(h));
    cvs__graph_test_hook = NULL;
    cr_assert_eq(hook_calls, 1);
    cr_assert_eq(cvs_check(h, report, &reported, &problems), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(problems, 0, "%llu problems after linking beside writes",
                 (unsigned long long)problems);
    /* What was linked is the store after the writes: 400 - 40 + 40. */
    cr_assert_eq(st.records, GN);
    cvs_db_close(h);
    tu_rmrf(dir);
    free(dir);
}

/* ==== A write waiting for another process's writer is told ==== */

enum { WD = 8, WN = 64 };

typedef struct waits {
    int calls[2];        /* done 0, done 1 */
    int64_t pid[2];
    double waited[2];
} waits;

static void on_wait(void *ctx, int64_t pid, double waited_s, int done)
{
    waits *w = ctx;
    w->calls[done]++;
    w->pid[done] = pid;
    w->waited[done] = waited_s;
    /* Told it waits: the other writer may finish now. */
    if (!done)
        tu_release_writer();
}

Test(writer_wait, a_write_waiting_for_another_process_is_told, .timeout = 120)
{
    char *dir = tu_tmpdir(), *out = NULL, pat[64];
    cvs_create_opts o = {WD, CVS_METRIC_L2, CVS_RAW_F32};
    static float v[WN * WD];
    cvs_record r[WN];
    char ids[WN][8];
    waits w;
    cvs_db *h;
    pid_t pid;

    memset(&w, 0, sizeof w);
    tu_randvecs(v, WN * WD, 7);
    memset(r, 0, sizeof r);
    for (int i = 0; i < WN; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = v + i * WD;
    }
    cr_assert_eq(cvs_db_create(dir, &o, &h), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(cvs_put(h, r, WN, 0, NULL, NULL), 0, "%s", cvs_errmsg(h));
    cvs_db_close(h);

    /* The library: told once past CVS_WAIT_NOTICE_S, with the writer's
     * pid, and once when the wait ends; the write then goes through. */
    pid = tu_hold_writer(dir);
    cr_assert_eq(cvs_db_open(dir, 0, &h), 0);
    cvs_db_set_wait_fn(h, on_wait, &w);
    cr_assert_eq(cvs_delete(h, (const char *const[]){"r0"}, (const size_t[]){2}, 1, NULL), 0,
                 "%s", cvs_errmsg(h));
    cr_assert_eq(w.calls[0], 1);
    cr_assert_eq(w.calls[1], 1);
    cr_assert_eq(w.pid[0], pid);
    cr_assert_eq(w.pid[1], pid);
    cr_assert(w.waited[0] >= CVS_WAIT_NOTICE_S && w.waited[1] >= w.waited[0],
              "%g then %g s", w.waited[0], w.waited[1]);
    /* A write with no other writer is not told anything. */
    cr_assert_eq(cvs_delete(h, (const char *const[]){"r1"}, (const size_t[]){2}, 1, NULL), 0);
    cr_assert_eq(w.calls[0] + w.calls[1], 2);
    cvs_db_close(h);
    tu_child_done(pid);

    /* The CLI: a line on a terminal (script(1) gives it one) ... */
    cr_assert_eq(system("command -v script >/dev/null"), 0, "script(1) is needed");
    pid = tu_hold_writer(dir);
    snprintf(pat, sizeof pat, "waiting for another writer (pid %d) to finish...", (int)pid);
    {
        char cmd[4400], buf[4096];
        size_t n;
        FILE *p;
        snprintf(cmd, sizeof cmd, "script -qfec \"'%s' delete '%s' r2\" /dev/null 2>&1",
                 CVS_CLI_PATH, dir);
        cr_assert_not_null(p = popen(cmd, "r"));
        n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = 0;
        cr_assert_eq(pclose(p), 0, "%s", buf);
        cr_assert(strstr(buf, pat), "%s", buf);
    }
    tu_child_done(pid);
    /* ... and none in a script's log. */
    pid = tu_hold_writer(dir);
    cr_assert_eq(tu_cli(&out, "delete '%s' r3 2>&1", dir), 0);
    cr_assert(!strstr(out, "waiting"), "%s", out);
    free(out);
    tu_child_done(pid);
    /* A build that waited for another (the child's) says so in its
     * summary, terminal or not; the store keeps the later build. */
    pid = tu_hold_writer(dir);
    snprintf(pat, sizeof pat, "note: waited");
    cr_assert_eq(tu_cli(&out, "build '%s' --codec pq2 2>&1", dir), 0, "%s", out);
    cr_assert(strstr(out, pat), "%s", out);
    snprintf(pat, sizeof pat, "another writer (pid %d)", (int)pid);
    cr_assert(strstr(out, pat), "%s", out);
    free(out);
    tu_child_done(pid);
    cr_assert_eq(tu_cli(&out, "stats '%s'", dir), 0);
    cr_assert(strstr(out, "pq2"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(&out, "check '%s'", dir), 0, "%s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}
