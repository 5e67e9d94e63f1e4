/*
 * fuzz_filter.c -- libFuzzer target for metadata filters (store/filter.c):
 * every input goes to cvs_filter_parse, which must accept it or fail with
 * CVS_EINVAL; an accepted filter is then evaluated (cvs__filter_eval) and
 * searched with, exactly and over the codes, against a small store made
 * once per process, whose records carry metadata of every type (strings,
 * numbers, booleans, null, arrays, objects, missing fields).  See
 * fuzz/README.md for building and running.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/filter.h"

#define NREC 300
#define DIM 8

static cvs_db *db;
static char dir[64];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_filter: %s: %s\n", what, cvs_errmsg(db));
    exit(2);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The store goes with the process (libFuzzer exits through exit() too). */
static void cleanup(void)
{
    cvs_db_close(db);
    db = NULL;
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *langs[] = {"en", "fr", "de", "", "\xc3\xa9t\xc3\xa9"};
    cvs_create_opts o = {DIM, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_record r[NREC];
    char ids[NREC][16], meta[NREC][160];
    float v[NREC * DIM];
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/cvs-fuzz-filter-%ld", (long)getpid());
    if (cvs_db_create(dir, &o, &db))
        die("create");
    atexit(cleanup);
    memset(r, 0, sizeof r);
    for (int i = 0; i < NREC; i++) {
        for (int d = 0; d < DIM; d++)
            v[i * DIM + d] = (float)((i * 31 + d * 17) % 97) / 97.0f;
        snprintf(ids[i], sizeof ids[i], "%d", i);
        snprintf(meta[i], sizeof meta[i],
                 "{\"lang\":\"%s\",\"year\":%d,\"x\":%s,\"f\":%s,\"n\":null,\"a\":[%d],"
                 "\"o\":{\"k\":%d},\"\\\"q\":%d%s}",
                 langs[i % 5], 1990 + i % 40, i % 3 ? "1.5" : "\"1.5\"", i % 2 ? "true" : "false",
                 i, i, i % 7, i % 4 ? ",\"opt\":1" : "");
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = v + i * DIM;
        if (i % 11) {
            r[i].meta = meta[i];
            r[i].meta_len = strlen(meta[i]);
        }
    }
    if (cvs_put(db, r, NREC, 0, NULL, NULL))
        die("put");
    if (cvs_build(db, "pq4", NULL))
        die("build");
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    cvs_filter *f = NULL;
    cvs_txn *t = NULL;
    uint64_t *bits = NULL, nmatch = 0, count = 0;
    size_t nw = 0;
    int rc;
    if (size == 0)
        return 0;
    rc = cvs_filter_parse((const char *)data, size, &f);
    if (rc != 0 && rc != CVS_EINVAL)
        abort();
    if (rc)
        return 0;
    if (cvs_txn_begin(db, &t) || cvs__filter_eval(t, f, &bits, &nw, &nmatch))
        abort();
    for (size_t w = 0; w < nw; w++)
        count += (uint64_t)__builtin_popcountll(bits[w]);
    if (count != nmatch || nmatch > NREC)
        abort();
    {
        float q[DIM] = {0.5f, 0.1f, 0.9f, 0.3f, 0.2f, 0.7f, 0.4f, 0.6f}, s[5];
        int64_t l[5];
        cvs_search_params p = {.flags = CVS_SEARCH_EXACT, .filter = f};
        for (int m = 0; m < 2; m++) {
            size_t got = 0;
            p.flags = m ? CVS_SEARCH_CODES : CVS_SEARCH_EXACT;
            if (cvs_txn_search_params(t, q, 1, 5, &p, l, s))
                abort();
            while (got < 5 && l[got] >= 0) {
                if (!cvs__bit_test(bits, nw, l[got]))
                    abort(); /* a result outside the filter */
                got++;
            }
            if (got != (nmatch < 5 ? nmatch : 5))
                abort(); /* fewer than k while k match */
        }
    }
    free(bits);
    cvs_txn_end(t);
    cvs_filter_free(f);
    return 0;
}
