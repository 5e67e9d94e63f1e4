/* test_cutshort.c -- a data.mdb that ends before its last page
 * (store/lmdb_pages.c): healthy when every page past its end is on the
 * free list, as LMDB leaves a file whose last pages were freed in the
 * transaction that took them; cut short when a page in use lies past it.
 * The healthy file is made for real: large records whose pages end the
 * file are deleted, later writes reuse lower free pages, and the file is
 * truncated to drop exactly the free pages at its end.  LMDB also writes
 * one itself: deleting every record of a store in one call. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "cvstore.h"
#include "core/bytes.h"
#include "store/lmdb_pages.h"
#include "tests/testutil.h"

#define NSMALL 400
#define NBIG 4
#define BIG (40 * 1024)

static char *dir;
static char data[4200];

static void setup(void)
{
    dir = tu_tmpdir();
    cr_assert_not_null(dir);
    snprintf(data, sizeof data, "%s/data.mdb", dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(cutshort, .init = setup, .fini = teardown);

static void small_vec(int i, float v[4])
{
    for (int d = 0; d < 4; d++)
        v[d] = (float)(i * 4 + d);
}

/* Records s0..s(n-1) from first on, with a short text each. */
static void put_small(cvs_db *db, int first, int n)
{
    cvs_record r[100];
    float v[100][4];
    char ids[100][16], text[100][64];
    for (int b = 0; b < n; b += 100) {
        int m = n - b < 100 ? n - b : 100;
        for (int i = 0; i < m; i++) {
            int k = first + b + i;
            snprintf(ids[i], sizeof ids[i], "s%d", k);
            snprintf(text[i], sizeof text[i], "record %d, some words to fill a page", k);
            small_vec(k, v[i]);
            r[i] = tu_rec(ids[i], v[i]);
            r[i].text = text[i];
            r[i].text_len = strlen(text[i]);
        }
        cr_assert_eq(cvs_put(db, r, (size_t)m, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
}

/* The newest meta page of data.mdb, the pages its file holds whole, and
 * where the run of free pages that ends at its last page begins (last_pg
 * + 1 when the last page is in use). */
static void free_tail(cvs__lmdb_meta *m, uint64_t *np, uint64_t *tail)
{
    char why[400];
    uint64_t *pg;
    size_t n;
    struct stat st;
    int fd = open(data, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cvs__lmdb_meta_read(fd, m, why, sizeof why), 0, "%s", why);
    cr_assert_eq(fstat(fd, &st), 0);
    *np = (uint64_t)st.st_size / m->psize;
    cr_assert_eq(cvs__lmdb_free_pages(fd, m, *np, 2, m->last_pg, &pg, &n, why, sizeof why), 0,
                 "%s", why);
    *tail = m->last_pg + 1;
    while (n > 0 && pg[n - 1] == *tail - 1) {
        n--;
        (*tail)--;
    }
    free(pg);
    close(fd);
}

/* Puts nbig records of bytes of metadata each (large values: overflow
 * pages of their own, at the end of the file when the free list has no run
 * long enough), then deletes them in a second transaction. */
static void big_put_then_delete(cvs_db *db, int nbig, size_t bytes)
{
    cvs_record *r = calloc((size_t)nbig, sizeof *r);
    float (*v)[4] = calloc((size_t)nbig, sizeof *v);
    char (*ids)[16] = calloc((size_t)nbig, sizeof *ids), *blob = malloc(bytes + 32);
    const char **del = calloc((size_t)nbig, sizeof *del);
    size_t *lens = calloc((size_t)nbig, sizeof *lens), gone;
    cr_assert(r && v && ids && blob && del && lens);
    memcpy(blob, "{\"blob\":\"", 9);
    memset(blob + 9, 'x', bytes);
    memcpy(blob + 9 + bytes, "\"}", 3);
    for (int i = 0; i < nbig; i++) {
        snprintf(ids[i], sizeof ids[i], "big%d", i);
        small_vec(100000 + i, v[i]);
        r[i] = tu_rec(ids[i], v[i]);
        r[i].meta = blob;
        r[i].meta_len = strlen(blob);
        del[i] = ids[i];
        lens[i] = strlen(ids[i]);
    }
    cr_assert_eq(cvs_put(db, r, (size_t)nbig, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_delete(db, del, lens, (size_t)nbig, &gone), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(gone, (size_t)nbig);
    free(r);
    free(v);
    free(ids);
    free(blob);
    free(del);
    free(lens);
}

/* A store of NSMALL small records whose data.mdb ends in free pages: NBIG
 * large records (BIG bytes of metadata each, on overflow pages at the end
 * of the file) deleted, then small writes until the free run at the end
 * is at least 4 pages (a write takes the lowest free pages first, and
 * frees the copies the delete made).  Returns the run's first page. */
static uint64_t make_free_tail(cvs__lmdb_meta *m)
{
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_db *db;
    uint64_t np, tail;
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    put_small(db, 0, NSMALL / 2);
    big_put_then_delete(db, NBIG, BIG);
    put_small(db, NSMALL / 2, NSMALL / 2);
    for (int round = 0;; round++) {
        free_tail(m, &np, &tail);
        /* The file covers every page it counts: LMDB wrote them all. */
        cr_assert_eq(np, m->last_pg + 1);
        if (m->last_pg + 1 - tail >= 4)
            break;
        cr_assert_lt(round, 40, "the last pages stayed in use: free run from %llu of %llu",
                     (unsigned long long)tail, (unsigned long long)m->last_pg);
        put_small(db, round % NSMALL, 1);
    }
    cvs_db_close(db);
    return tail;
}

/* Every small record reads back with its vector and text. */
static void all_read_back(cvs_db *db)
{
    cvs_txn *t;
    uint64_t n, problems = 99;
    cr_assert_eq(cvs_txn_begin(db, &t), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_count(t, &n), 0);
    cr_assert_eq(n, NSMALL);
    for (int i = 0; i < NSMALL; i++) {
        char id[16], text[64];
        float v[4], out[4];
        cvs_record g;
        snprintf(id, sizeof id, "s%d", i);
        snprintf(text, sizeof text, "record %d, some words to fill a page", i);
        small_vec(i, v);
        cr_assert_eq(cvs_get(t, id, strlen(id), &g, out), 0, "%s: %s", id, cvs_errmsg(db));
        cr_assert_arr_eq(out, v, sizeof v);
        cr_assert_eq(g.text_len, strlen(text));
        cr_assert_arr_eq(g.text, text, g.text_len);
    }
    cvs_txn_end(t);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(problems, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void cut(uint64_t bytes)
{
    cr_assert_eq(truncate(data, (off_t)bytes), 0);
}

/* A file whose dropped pages are all free opens, for reading and writing,
 * and loses nothing; a write after it works and reads back. */
Test(cutshort, a_file_ending_in_free_pages_is_whole)
{
    cvs__lmdb_meta m;
    uint64_t tail = make_free_tail(&m), np, t2;
    cvs_db *db = NULL;
    char *out = NULL;
    cut(tail * m.psize);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    all_read_back(db);
    cvs_db_close(db);
    cr_assert_eq(tu_cli(&out, "check '%s' 2>&1", dir), 0, "%s", out);
    free(out);
    cr_assert_eq(tu_cli(&out, "stats '%s' 2>&1", dir), 0, "%s", out);
    free(out);
    /* Writing: the first write checks every tree's pages (store/pages.c),
     * free list included, whose entries name pages past the end. */
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    put_small(db, 0, 100);
    all_read_back(db);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    all_read_back(db);
    cvs_db_close(db);
    free_tail(&m, &np, &t2); /* the walk itself finds nothing wrong */
}

/* One page further, into a page in use: refused, naming it. */
Test(cutshort, a_file_cut_into_a_page_in_use_is_refused)
{
    cvs__lmdb_meta m;
    uint64_t tail = make_free_tail(&m);
    cvs_db *db = NULL;
    char *out = NULL, want[80];
    struct stat st;
    cut((tail - 1) * m.psize);
    snprintf(want, sizeof want, "page %llu, past its end, is in use", (unsigned long long)(tail - 1));
    for (int ro = 0; ro < 2; ro++) {
        cr_assert_eq(cvs_db_open(dir, ro ? CVS_OPEN_RDONLY : 0, &db), CVS_ECORRUPT, "%s",
                     cvs_errmsg(NULL));
        cr_assert_null(db);
        cr_assert(strstr(cvs_errmsg(NULL), "data.mdb is cut short"), "%s", cvs_errmsg(NULL));
        cr_assert(strstr(cvs_errmsg(NULL), want), "%s", cvs_errmsg(NULL));
        cr_assert(strstr(cvs_errmsg(NULL), "restore"), "%s", cvs_errmsg(NULL));
    }
    cr_assert_eq(stat(data, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, (tail - 1) * m.psize, "the file was left as it was");
    /* The tools say so and exit with a status, not a signal: check with its
     * verdict (1, the damage its one problem), stats with an error (2). */
    cr_assert_eq(tu_cli(&out, "check '%s' 2>&1", dir), 1, "%s", out);
    cr_assert(strstr(out, "is in use"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(&out, "stats '%s' 2>&1", dir), 2, "%s", out);
    cr_assert(strstr(out, "is in use"), "%s", out);
    free(out);
    /* Half a page into the page in use is no better. */
    cut((tail - 1) * m.psize + m.psize / 2);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), want), "%s", cvs_errmsg(NULL));
}

/* A file cut inside the free list's own pages: the walk does not follow a
 * page number past the end. */
Test(cutshort, a_file_cut_inside_its_free_list_is_refused)
{
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    char want[80];
    make_free_tail(&m);
    cr_assert_neq(m.free_root, ~(uint64_t)0);
    cut(m.free_root * m.psize);
    snprintf(want, sizeof want, "its free list reaches page %llu",
             (unsigned long long)m.free_root);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), want), "%s", cvs_errmsg(NULL));
}

/* A damaged free list in a short file is an error, not a crash. */
Test(cutshort, a_damaged_free_list_in_a_short_file_is_refused)
{
    cvs__lmdb_meta m;
    uint64_t tail = make_free_tail(&m);
    cvs_db *db = NULL;
    unsigned char b[2] = {0xff, 0xff};
    int fd;
    cut(tail * m.psize);
    fd = open(data, O_WRONLY);
    cr_assert_geq(fd, 0);
    /* The root's lower bound past its upper one. */
    cr_assert_eq(pwrite(fd, b, 2, (off_t)(m.free_root * m.psize + 12)), 2);
    close(fd);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "free-space bounds"), "%s", cvs_errmsg(NULL));
}

/* Cut inside the meta pages: LMDB's "not an LMDB file" is explained. */
Test(cutshort, a_file_cut_inside_its_meta_pages_is_refused)
{
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    char *out = NULL;
    make_free_tail(&m);
    cut(m.psize + 100);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "cut short"), "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "meta page 1"), "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_open(dir, 0, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert_eq(tu_cli(&out, "check '%s' 2>&1", dir), 1, "%s", out); /* check's verdict */
    cr_assert(strstr(out, "meta page 1"), "%s", out);
    free(out);
    cut(100);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "meta page 0"), "%s", cvs_errmsg(NULL));
    cut(0);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_EFORMAT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "empty"), "%s", cvs_errmsg(NULL));
    cr_assert_eq(tu_cli(&out, "stats '%s' 2>&1", dir), 1, "%s", out);
    cr_assert(strstr(out, "empty"), "%s", out);
    free(out);
    cr_assert_null(db);
}

/* A meta page that is not LMDB's, or of another LMDB version: said so. */
Test(cutshort, a_foreign_meta_page_is_named)
{
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    unsigned char b[4] = {1, 2, 3, 4}, one[4] = {2, 0, 0, 0};
    int fd;
    make_free_tail(&m);
    fd = open(data, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, one, 4, 20), 4); /* meta 0's version */
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_EVERSION, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "LMDB data format version 2"), "%s", cvs_errmsg(NULL));
    cr_assert_eq(pwrite(fd, b, 4, 16), 4); /* meta 0's magic */
    close(fd);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), CVS_EFORMAT, "%s", cvs_errmsg(NULL));
    cr_assert(strstr(cvs_errmsg(NULL), "not an LMDB file"), "%s", cvs_errmsg(NULL));
    cr_assert_null(db);
}

/* LMDB itself leaves the file short: one cvs_delete of all 5,000 records
 * copies the trees' pages to new pages at the end of the file, merges them
 * away as they empty, and never writes those it freed (P_LOOSE), so the
 * committed meta page counts pages past the end of the file.  The store
 * is healthy, and opens. */
Test(cutshort, lmdb_leaves_the_file_short_after_deleting_every_record)
{
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    cvs_record r[1000];
    float v[1000][4];
    char ids[1000][16];
    const char *del[5000];
    char (*names)[16] = malloc(5000 * 16);
    size_t lens[5000], gone;
    uint64_t np, tail, n;
    cvs_txn *t;
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(ids[i], sizeof ids[i], "r%d", b * 1000 + i);
            small_vec(b * 1000 + i, v[i]);
            r[i] = tu_rec(ids[i], v[i]);
        }
        cr_assert_eq(cvs_put(db, r, 1000, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(names[i], 16, "r%d", i);
        del[i] = names[i];
        lens[i] = strlen(names[i]);
    }
    cr_assert_eq(cvs_delete(db, del, lens, 5000, &gone), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(gone, 5000);
    cvs_db_close(db);
    free_tail(&m, &np, &tail);
    cr_assert_lt(np, m.last_pg + 1, "LMDB wrote every page (%llu of %llu): nothing to test",
                 (unsigned long long)np, (unsigned long long)(m.last_pg + 1));
    cr_assert_leq(tail, np, "a page past the end is in use");
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_count(t, &n), 0);
    cr_assert_eq(n, 0);
    cvs_txn_end(t);
    put_small(db, 0, NSMALL);
    all_read_back(db);
    cvs_db_close(db);
    free(names);
}

/* The free list read with pread is LMDB's own, page for page, where it has
 * branch pages and entries on overflow pages of their own: one delete
 * frees the pages of 3 MB of large records (an entry of some 750 pages),
 * and 300 writes while a snapshot is held free pages none may reuse (an
 * entry each: more than one leaf page holds).  LMDB's view is a cursor
 * over its free list database (dbi 0, as mdb_stat -f reads it). */
Test(cutshort, the_free_list_read_with_pread_is_lmdbs)
{
    enum { NB = 12, BIGB = 256 * 1024 };
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    cvs_txn *t;
    char why[400];
    size_t n = 0, nl = 0, cap = 1024, biggest = 0;
    uint64_t *mine, *lmdb = malloc(cap * sizeof *lmdb);
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, d;
    struct stat st;
    int fd;
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    put_small(db, 0, NSMALL);
    big_put_then_delete(db, NB, BIGB);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int i = 0; i < 300; i++)
        put_small(db, i, 1);
    cvs_txn_end(t);
    cvs_db_close(db);

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, 0, &cur), 0);
    while (mdb_cursor_get(cur, &k, &d, nl ? MDB_NEXT : MDB_FIRST) == 0) {
        const uint64_t *ids_in = d.mv_data; /* aligned: LMDB's own IDL */
        if (d.mv_size > biggest)
            biggest = d.mv_size;
        for (uint64_t i = 1; i <= ids_in[0]; i++) {
            if (n == cap)
                lmdb = realloc(lmdb, (cap *= 2) * sizeof *lmdb);
            lmdb[n++] = ids_in[i];
        }
        nl++;
    }
    mdb_cursor_close(cur);

    fd = open(data, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cvs__lmdb_meta_read(fd, &m, why, sizeof why), 0, "%s", why);
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_geq(m.free_depth, 2, "the free list has no branch page: %u", m.free_depth);
    cr_assert_gt(biggest, m.psize, "no free list entry on overflow pages: %zu", biggest);
    cr_assert_eq(cvs__lmdb_free_pages(fd, &m, (uint64_t)st.st_size / m.psize, 2, m.last_pg,
                                      &mine, &nl, why, sizeof why), 0, "%s", why);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    close(fd);
    qsort(lmdb, n, sizeof *lmdb, cmp_u64);
    cr_assert_eq(nl, n);
    cr_assert_arr_eq(mine, lmdb, n * sizeof *lmdb);
    free(mine);
    free(lmdb);
}

/* ==== Meta pages LMDB would trust ==== */

/* A small healthy store; its newer meta page in *m. */
static void small_store(cvs__lmdb_meta *m)
{
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_db *db;
    char why[400];
    int fd;
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    put_small(db, 0, 50);
    cvs_db_close(db);
    fd = open(data, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cvs__lmdb_meta_read(fd, m, why, sizeof why), 0, "%s", why);
    close(fd);
}

static void put_at(uint64_t off, const void *b, size_t len)
{
    int fd = open(data, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void put_u64(uint64_t off, uint64_t x)
{
    put_at(off, &x, 8); /* little-endian host */
}

static void put_u32(uint64_t off, uint32_t x)
{
    put_at(off, &x, 4);
}

/* Both opens and the CLI refuse the store with CVS_ECORRUPT, saying want
 * (the tests' .timeout turns a hang into a failure). */
static void refused(const char *want)
{
    cvs_db *db = NULL;
    char *out = NULL;
    for (int ro = 0; ro < 2; ro++) {
        cr_assert_eq(cvs_db_open(dir, ro ? CVS_OPEN_RDONLY : 0, &db), CVS_ECORRUPT, "%s",
                     cvs_errmsg(NULL));
        cr_assert_null(db);
        cr_assert(strstr(cvs_errmsg(NULL), "data.mdb"), "%s", cvs_errmsg(NULL));
        cr_assert(strstr(cvs_errmsg(NULL), want), "%s", cvs_errmsg(NULL));
    }
    cr_assert_eq(tu_cli(&out, "stats '%s' 2>&1", dir), 2, "%s", out);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
}

/* mm_last_pg of 2^52 with 4 KiB pages: (last + 1) x page size wrapped to
 * a small number, the length check passed, and every read transaction
 * met MDB_MAP_RESIZED, adopted the same map and tried again, forever. */
Test(cutshort, a_page_count_past_any_map_is_refused, .timeout = 60)
{
    cvs__lmdb_meta m;
    small_store(&m);
    put_u64((uint64_t)m.meta * m.psize + 136, (uint64_t)1 << 52);
    refused("no map of pages");
    put_u64((uint64_t)m.meta * m.psize + 136, ~(uint64_t)0);
    refused("no map of pages");
}

/* A count that maps, but names more pages past the end than the file's
 * free list could list: refused before LMDB maps terabytes for it. */
Test(cutshort, a_page_count_no_free_list_could_cover_is_refused, .timeout = 60)
{
    cvs__lmdb_meta m;
    small_store(&m);
    put_u64((uint64_t)m.meta * m.psize + 136, (uint64_t)1 << 30);
    refused("more than its free list could name");
}

/* A page size LMDB divides by: 0 was a SIGFPE inside mdb_env_open, 2^31
 * in the newer meta page a SIGBUS, another power of two pages read at the
 * wrong places. */
Test(cutshort, a_damaged_page_size_is_refused, .timeout = 60)
{
    cvs__lmdb_meta m;
    small_store(&m);
    put_u32(40, 0); /* meta 0 */
    refused("meta page 0 gives a page size of 0");
    put_u32(40, m.psize);
    put_u32((uint64_t)m.psize + 40, 0); /* meta 1, read at meta 0's page size */
    refused("meta page 1 gives a page size of 0");
    put_u32((uint64_t)m.psize + 40, m.psize);
    put_u32((uint64_t)m.meta * m.psize + 40, 1u << 31);
    refused("a page size of 2147483648");
    /* Another size in LMDB's range: meta page 0's sends the read of meta
     * page 1 elsewhere; meta page 1's disagrees with meta page 0's. */
    put_u32(40, m.psize == 8192 ? 4096 : 8192);
    refused("there is no meta page 1");
    put_u32(40, m.psize);
    put_u32((uint64_t)m.psize + 40, m.psize == 8192 ? 4096 : 8192);
    refused("its meta pages give page sizes");
    put_u32((uint64_t)m.psize + 40, m.psize);
    put_u64((uint64_t)m.psize, 7); /* meta 1's page number */
    refused("meta page 1 is numbered 7");
    put_u64((uint64_t)m.psize, 1);
    put_u32((uint64_t)m.meta * m.psize + 40, m.psize);
    put_u64((uint64_t)m.meta * m.psize + 32, (uint64_t)1 << 62); /* mm_mapsize */
    refused("more than any host can map");
    put_u64((uint64_t)m.meta * m.psize + 32, 64 << 20);
    cvs_db *db = NULL;
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cvs_db_close(db);
}

/* Damage written after the open: each read transaction met
 * MDB_MAP_RESIZED, adopted a map that still did not hold the count, and
 * tried again without end.  Now a bounded number of rounds, then an error. */
Test(cutshort, map_resized_without_end_is_an_error, .timeout = 60)
{
    cvs__lmdb_meta m;
    cvs_db *db = NULL;
    cvs_txn *t = NULL;
    small_store(&m);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    put_u64((uint64_t)m.meta * m.psize + 136, (uint64_t)1 << 52); /* seen through the map */
    cr_assert_eq(cvs_txn_begin(db, &t), CVS_ECORRUPT, "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "resizes"), "%s", cvs_errmsg(db));
    cvs_db_close(db);
}

/* A free list entry on overflow pages whose node claims 512 MiB (its
 * pages in the file, a sparse one): the walk allocated the whole value,
 * so a damaged length made an allocation as large as the file.  It reads
 * a page at a time now, and the address space left here (256 MiB more than
 * the test uses) is plenty. */
Test(cutshort, a_huge_free_list_value_is_read_a_page_at_a_time, .timeout = 60)
{
    enum { PS = 4096, RUN = 262144 };
    const uint32_t dsize = 512u << 20;
    cvs__lmdb_meta m = {.txnid = 1, .last_pg = 3 + RUN, .psize = PS, .free_root = 2,
                        .free_depth = 1};
    unsigned char pg[PS];
    char why[400];
    uint64_t *pages = NULL;
    size_t n = 99;
    unsigned long vm = 0;
    struct rlimit rl;
    FILE *f;
    int fd = open(data, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    /* Page 2: a leaf of one node, key a txnid, data on page 3. */
    memset(pg, 0, sizeof pg);
    cvs__put_u64(pg, 2);
    cvs__put_u16(pg + 10, 0x02);           /* P_LEAF */
    cvs__put_u16(pg + 12, 18);             /* one node offset */
    cvs__put_u16(pg + 14, PS - 32);
    cvs__put_u16(pg + 16, PS - 32);
    cvs__put_u16(pg + PS - 32, dsize & 0xffff);
    cvs__put_u16(pg + PS - 30, dsize >> 16);
    cvs__put_u16(pg + PS - 28, 0x01);      /* F_BIGDATA */
    cvs__put_u16(pg + PS - 26, 8);         /* key size */
    cvs__put_u64(pg + PS - 24, 7);         /* the txnid */
    cvs__put_u64(pg + PS - 16, 3);         /* the value's first page */
    cr_assert_eq(pwrite(fd, pg, PS, 2 * PS), PS);
    /* Page 3: the run's header; the value (zeros: a count of 0) after it. */
    memset(pg, 0, sizeof pg);
    cvs__put_u64(pg, 3);
    cvs__put_u16(pg + 10, 0x04);           /* P_OVERFLOW */
    cvs__put_u32(pg + 12, RUN);
    cr_assert_eq(pwrite(fd, pg, PS, 3 * PS), PS);
    cr_assert_eq(ftruncate(fd, (off_t)(4 + RUN) * PS), 0);
    f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%lu", &vm), 1);
    fclose(f);
    rl.rlim_cur = rl.rlim_max = vm * (unsigned long)sysconf(_SC_PAGESIZE) + (256u << 20);
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    cr_assert_eq(cvs__lmdb_free_pages(fd, &m, 4 + RUN, 2, m.last_pg, &pages, &n, why,
                                      sizeof why), 0, "%s", why);
    cr_assert_eq(n, 0);
    free(pages);
    close(fd);
}
