/* test_create_race.c -- two processes creating one store at the same
 * moment (store/db.c cvs__db_create, cli/init.c): one wins, the other is
 * told a store is there, and the winner's store is whole. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Forks a child that waits for the go pipe's write end to close, then runs fn(arg) and
 * exits with its result. */
static pid_t spawn(const int go[2], int (*fn)(const char *, int), const char *path, int arg)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        while (read(go[0], &c, 1) > 0)
            ;
        _exit(fn(path, arg));
    }
    return pid;
}

/* The library's create: 0 when made (then one record put), 10 for
 * CVS_EEXIST, 20 for anything else. */
static int lib_create(const char *path, int dim)
{
    cvs_create_opts o = {.dim = (uint32_t)dim, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int rc = cvs_db_create(path, &o, &db);
    if (rc == CVS_EEXIST)
        return strstr(cvs_errmsg(NULL), "already") ? 10 : 21;
    if (rc)
        return 20;
    cvs_record r = {.id = "winner", .id_len = 6, .vector = v};
    rc = cvs_put(db, &r, 1, 0, NULL, NULL);
    cvs_db_close(db);
    return rc ? 22 : 0;
}

/* The store db holds the winner's record. */
static void expect_record(cvs_db *db, int round, float *vec)
{
    cvs_txn *t = NULL;
    cvs_record rec;
    cr_assert_eq(cvs_txn_begin(db, &t), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_get(t, "winner", 6, &rec, vec), 0, "round %d: %s", round, cvs_errmsg(db));
    cr_assert_eq(vec[0], 1.0f);
    cvs_txn_end(t);
}

static void race(int (*fn)(const char *, int), int dim_a, int dim_b, int rounds)
{
    char *dir = tu_tmpdir(), path[4200];
    for (int round = 0; round < rounds; round++) {
        int p[2], st[2], dims[2] = {dim_a, dim_b}, won = -1;
        pid_t pid[2];
        /* Half the rounds in a directory that is there (empty), half in
         * one the creates make. */
        snprintf(path, sizeof path, "%s/s%d", dir, round);
        if (round & 1)
            cr_assert_eq(mkdir(path, 0700), 0);
        cr_assert_eq(pipe(p), 0);
        for (int i = 0; i < 2; i++)
            pid[i] = spawn(p, fn, path, dims[i]);
        close(p[0]);
        close(p[1]);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(waitpid(pid[i], &st[i], 0), pid[i]);
            cr_assert(WIFEXITED(st[i]), "round %d: child %d died (%d)", round, i, st[i]);
            st[i] = WEXITSTATUS(st[i]);
            if (st[i] == 0)
                won = i;
        }
        cr_assert(won >= 0 && st[!won] == 10,
                  "round %d: exit codes %d and %d: one must make the store and the other "
                  "be told one is there", round, st[0], st[1]);
        cvs_db *db = NULL;
        cvs_info info;
        float out[8];
        cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &db), 0, "round %d: %s", round,
                     cvs_errmsg(NULL));
        cr_assert_eq(cvs_db_info(db, &info), 0);
        cr_assert_eq(info.dim, (uint32_t)dims[won], "round %d: the store has the loser's "
                     "dimension %u", round, info.dim);
        cr_assert_eq(info.count, 1, "round %d", round);
        expect_record(db, round, out);
        cvs_db_close(db);
    }
    tu_rmrf(dir);
    free(dir);
}

/* Both processes call cvs_db_create with their own dimension: exactly one
 * makes the store, the other gets CVS_EEXIST, and the store holds the
 * winner's header and record.  Without an exclusive create both opened
 * the same data.mdb, both "made" the store, and the later header won. */
Test(create_race, two_processes_creating_one_store, .timeout = 240)
{
    race(lib_create, 4, 8, 40);
}

/* `cvstore init` in both processes, the second with an embedder that
 * cannot be attached (no GloVe cache), whose failure removes what it
 * made.  Exit 0 for the one that made the store; 10 for "already
 * exists" (exit 1); the GloVe one that made its store and removed it
 * again counts as a loss too, so the plain one must then have made its
 * own.  Its cleanup must never remove the other's store. */
static int cli_init(const char *path, int dim)
{
    char cmd[9000], err[4096] = "";
    int st;
    FILE *f;
    if (dim == 100)
        snprintf(cmd, sizeof cmd, "CVSTORE_GLOVE_DIR=/nonexistent-glove '%s' init '%s' "
                 "--embedder glove 2>&1 >/dev/null", CVS_CLI_PATH, path);
    else
        snprintf(cmd, sizeof cmd, "'%s' init '%s' --dim %d --metric l2 2>&1 >/dev/null && "
                 "printf '{\"id\":\"winner\",\"vector\":[1,2,3,4]}\\n' | '%s' import '%s' - --format jsonl "
                 "2>&1 >/dev/null", CVS_CLI_PATH, path, dim, CVS_CLI_PATH, path);
    if (!(f = popen(cmd, "r")))
        return 20;
    size_t n = fread(err, 1, sizeof err - 1, f);
    err[n] = '\0';
    st = pclose(f);
    if (!WIFEXITED(st))
        return 23;
    if (WEXITSTATUS(st) == 0)
        return 0;
    if (WEXITSTATUS(st) == 1 && strstr(err, "already exists"))
        return 10;
    if (dim == 100 && strstr(err, "glove"))
        return 11; /* made its store, could not attach the embedder */
    fprintf(stderr, "init (dim %d) exit %d: %s\n", dim, WEXITSTATUS(st), err);
    return 21;
}

Test(create_race, two_inits_racing_keep_the_winners_store, .timeout = 240)
{
    char *dir = tu_tmpdir(), path[4200];
    for (int round = 0; round < 30; round++) {
        int p[2], st[2];
        pid_t pid[2];
        snprintf(path, sizeof path, "%s/s%d", dir, round);
        cr_assert_eq(pipe(p), 0);
        pid[0] = spawn(p, cli_init, path, 4);
        pid[1] = spawn(p, cli_init, path, 100);
        close(p[0]);
        close(p[1]);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(waitpid(pid[i], &st[i], 0), pid[i]);
            cr_assert(WIFEXITED(st[i]), "round %d: child %d died", round, i);
            st[i] = WEXITSTATUS(st[i]);
        }
        /* The GloVe init never keeps a store; the plain one made it, or
         * found the GloVe one's (exit 1, already exists) and then the
         * GloVe one removed its own. */
        cr_assert(st[1] == 10 || st[1] == 11, "round %d: glove init %d", round, st[1]);
        cr_assert(st[0] == 0 || (st[0] == 10 && st[1] == 11), "round %d: plain init %d, "
                  "glove init %d", round, st[0], st[1]);
        if (st[0] == 0) {
            cvs_db *db = NULL;
            float out[4];
            cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &db), 0,
                         "round %d: the winner's store is gone: %s", round, cvs_errmsg(NULL));
            expect_record(db, round, out);
            cvs_db_close(db);
        }
    }
    tu_rmrf(dir);
    free(dir);
}
