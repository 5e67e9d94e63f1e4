/* test_crash.c -- SIGKILL a writer in the middle of an import: the store
 * must reopen, pass cvs_check, hold exactly the committed batches (a whole
 * number of batches, each record intact), and a re-run of the same import
 * must complete it idempotently. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvstore.h"
#include "tests/testutil.h"

enum { N = 300000, D = 24, BATCH = 2000 };

static char *write_fvecs(const char *dir, float **vecs)
{
    float *v = malloc((size_t)N * D * sizeof *v);
    size_t rec = 4 + D * 4;
    unsigned char *buf = malloc((size_t)N * rec);
    int32_t d = D;
    char *path;
    tu_randvecs(v, (size_t)N * D, 99);
    for (size_t i = 0; i < N; i++) {
        memcpy(buf + i * rec, &d, 4);
        memcpy(buf + i * rec + 4, v + i * D, D * 4);
    }
    path = tu_write_file(dir, "big.fvecs", buf, (size_t)N * rec);
    free(buf);
    *vecs = v;
    return path;
}

static uint64_t count_of(const char *path)
{
    cvs_db *db;
    cvs_info info;
    if (cvs_db_open(path, CVS_OPEN_RDONLY, &db) != 0)
        return 0;
    if (cvs_db_info(db, &info) != 0)
        info.count = 0;
    cvs_db_close(db);
    return info.count;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(crash, sigkill_mid_import_keeps_committed_batches, .timeout = 240)
{
    char *dir = tu_tmpdir(), store[4200];
    float *vecs, got[D];
    char *file = write_fvecs(dir, &vecs);
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_import_opts io = {0};
    cvs_db *db;
    pid_t pid;
    int st;
    uint64_t before, after, problems;
    cvs_txn *t;

    snprintf(store, sizeof store, "%s/store", dir);
    cr_assert_eq(cvs_db_create(store, &o, &db), 0);
    cvs_db_close(db);
    io.batch = BATCH;

    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* the writer: no LMDB handle is inherited across fork */
        cvs_db *w;
        if (cvs_db_open(store, 0, &w) != 0)
            _exit(3);
        _exit(cvs_import(w, file, &io, NULL) == 0 ? 0 : 4);
    }
    /* Kill once a few batches are durable but well before the end. */
    for (int i = 0; i < 60000 && count_of(store) < 5 * BATCH; i++)
        sleep_ms(2);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st), "the writer finished before it could be killed");

    cr_assert_eq(cvs_db_open(store, 0, &db), 0, "reopen: %s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0, "check found %llu problems", (unsigned long long)problems);
    {
        cvs_info info;
        cr_assert_eq(cvs_db_info(db, &info), 0);
        before = info.count;
    }
    cr_assert_geq(before, 5 * BATCH);
    cr_assert_lt(before, N, "import was not interrupted");
    cr_assert_eq(before % BATCH, 0, "a partial batch is visible: %llu", (unsigned long long)before);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (uint64_t i = 0; i < before; i++) {
        char id[24];
        cvs_record r;
        snprintf(id, sizeof id, "%llu", (unsigned long long)i);
        cr_assert_eq(cvs_get(t, id, strlen(id), &r, got), 0, "record %s lost", id);
        cr_assert_eq(memcmp(got, vecs + i * D, sizeof got), 0, "record %s damaged", id);
    }
    cvs_txn_end(t);

    /* Re-running the same import completes it. */
    cr_assert_eq(cvs_import(db, file, &io, NULL), 0, "%s", cvs_errmsg(db));
    after = count_of(store);
    cr_assert_eq(after, N);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    free(file);
    free(vecs);
}
