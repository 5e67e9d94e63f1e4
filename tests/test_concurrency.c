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
