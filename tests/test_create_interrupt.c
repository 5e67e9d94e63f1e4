/* test_create_interrupt.c -- a create killed between its claim of
 * data.mdb and its first commit (store/db.c, "An exclusive create"): the
 * directory is no store, opening it says an init was interrupted, and a
 * create takes it over; while the create is still running, opening it says
 * so and a second create is told a store is there.
 *
 * The create is stopped at exact points by this executable's own
 * mdb_env_open and mdb_txn_commit, which the library's calls reach (a
 * definition in the executable comes before liblmdb's): in a child that
 * asks for it, they kill the process (SIGKILL, as kill -9 would) or wait,
 * before LMDB's first write or before the header's commit. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Where the child stops (0: nowhere), and how: killed, or waiting for its
 * parent's SIGKILL after a byte on ready_fd. */
enum { AT_OPEN = 1, AT_COMMIT = 2 };
static int stop_at, stop_wait, ready_fd = -1;

static void stop_here(void)
{
    if (stop_wait) {
        char c = 'r';
        alarm(60); /* ends it if the parent failed before its kill */
        if (write(ready_fd, &c, 1) != 1)
            _exit(95);
        for (;;)
            pause();
    }
    kill(getpid(), SIGKILL);
}

int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
    int (*real)(MDB_env *, const char *, unsigned int, mdb_mode_t) =
        (int (*)(MDB_env *, const char *, unsigned int, mdb_mode_t))dlsym(RTLD_NEXT,
                                                                          "mdb_env_open");
    if (stop_at == AT_OPEN)
        stop_here();
    return real(env, path, flags, mode);
}

int mdb_txn_commit(MDB_txn *txn)
{
    int (*real)(MDB_txn *) = (int (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_commit");
    if (stop_at == AT_COMMIT)
        stop_here();
    return real(txn);
}

/* Forks a child that runs body(path, arg) (which never returns, and
 * writes a byte to ready_fd when it is where the test wants it); returns
 * once that byte came, when wait_ready. */
static pid_t start_child(void (*body)(const char *, int), const char *path, int arg,
                         int wait_ready)
{
    int p[2];
    char c;
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        ready_fd = p[1];
        body(path, arg);
        _exit(92);
    }
    close(p[1]);
    if (wait_ready)
        cr_assert_eq(read(p[0], &c, 1), 1, "the child did not get where it should wait");
    close(p[0]);
    return pid;
}

/* arg: where to stop (AT_*), plus 8 to wait there. */
static void create_body(const char *path, int arg)
{
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    stop_at = arg & 7;
    stop_wait = arg >> 3;
    if (cvs_db_create(path, &o, &db) == 0)
        _exit(91);
    _exit(90); /* the create was not stopped */
}

/* A child that creates path and stops at `at`; when it waits, returns
 * once it is there. */
static pid_t start_create(const char *path, int at, int wait_there)
{
    return start_child(create_body, path, at | (wait_there ? 8 : 0), wait_there);
}

static void reap_killed(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the create was not killed (%d)", st);
}

static off_t size_of(const char *dir, const char *name)
{
    char f[4200];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s", dir, name);
    cr_assert_eq(stat(f, &st), 0, "%s is missing", f);
    return st.st_size;
}

/* The leftover opens as an interrupted init, then a create makes a whole
 * store of it, which holds what is put. */
static void expect_leftover_then_create(const char *path)
{
    cvs_create_opts o = {.dim = 8, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    cvs_info info;
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cvs_record r = {.id = "a", .id_len = 1, .vector = v};
    uint64_t problems = 1;

    for (int ro = 0; ro < 2; ro++) {
        int rc = cvs_db_open(path, ro ? CVS_OPEN_RDONLY : 0, &db);
        cr_assert_eq(rc, CVS_EFORMAT, "open (%s) of an interrupted init: %d %s",
                     ro ? "read-only" : "writable", rc, cvs_errmsg(NULL));
        cr_assert_null(db);
        cr_assert(strstr(cvs_errmsg(NULL), "an init was interrupted") &&
                      strstr(cvs_errmsg(NULL), "run init again"),
                  "%s", cvs_errmsg(NULL));
    }
    cr_assert_eq(cvs_db_create(path, &o, &db), 0, "create over the leftover: %s",
                 cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert_eq(info.dim, 8);
    cr_assert_eq(info.count, 1);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    cvs_db_close(db);
}

/* Killed after the claim, before LMDB's first write: data.mdb is empty. */
Test(create_interrupt, killed_before_lmdb_writes)
{
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/s", dir);
    reap_killed(start_create(path, AT_OPEN, 0));
    cr_assert_eq(size_of(path, "data.mdb"), 0);
    expect_leftover_then_create(path);
    tu_rmrf(dir);
    free(dir);
}

/* Killed after LMDB wrote its meta pages, before the header committed:
 * data.mdb holds transaction 0 only, and lock.mdb is set up. */
Test(create_interrupt, killed_before_the_header_commits)
{
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/s", dir);
    reap_killed(start_create(path, AT_COMMIT, 0));
    cr_assert_gt(size_of(path, "data.mdb"), 0, "LMDB's first write is missing");
    cr_assert_gt(size_of(path, "lock.mdb"), 0);
    expect_leftover_then_create(path);
    tu_rmrf(dir);
    free(dir);
}

/* LMDB's first write stopped inside meta page 1 (a kill lands between the
 * pages one pwrite copies): meta page 0 alone says transaction 0. */
Test(create_interrupt, first_write_cut_inside_meta_page_1)
{
    char *dir = tu_tmpdir(), path[4200], f[4300];
    snprintf(path, sizeof path, "%s/s", dir);
    reap_killed(start_create(path, AT_COMMIT, 0));
    snprintf(f, sizeof f, "%s/data.mdb", path);
    cr_assert_eq(truncate(f, sysconf(_SC_PAGESIZE) + 16), 0);
    expect_leftover_then_create(path);
    tu_rmrf(dir);
    free(dir);
}

/* A create still running (stopped at both points in turn) is no leftover:
 * an open says a store is being made, a second create is told a store is
 * there and touches nothing; once the first is killed its files are a
 * leftover. */
Test(create_interrupt, a_running_create_is_not_taken_over)
{
    char *dir = tu_tmpdir(), path[4200];
    for (int at = AT_OPEN; at <= AT_COMMIT; at++) {
        cvs_create_opts o = {.dim = 8, .metric = CVS_METRIC_L2};
        cvs_db *db = NULL;
        off_t before;
        snprintf(path, sizeof path, "%s/s%d", dir, at);
        pid_t pid = start_create(path, at, 1);
        before = size_of(path, "data.mdb");
        cr_assert_eq(cvs_db_open(path, 0, &db), CVS_EFORMAT);
        cr_assert(strstr(cvs_errmsg(NULL), "being created there this moment"), "%s",
                  cvs_errmsg(NULL));
        cr_assert_eq(cvs_db_create(path, &o, &db), CVS_EEXIST, "%s", cvs_errmsg(NULL));
        cr_assert(strstr(cvs_errmsg(NULL), "already exists"), "%s", cvs_errmsg(NULL));
        cr_assert_eq(size_of(path, "data.mdb"), before, "the running create's file changed");
        kill(pid, SIGKILL);
        reap_killed(pid);
        expect_leftover_then_create(path);
    }
    tu_rmrf(dir);
    free(dir);
}

/* A store whose data.mdb is not a leftover is never taken over, also when
 * no process holds it: a committed store stays "already exists". */
Test(create_interrupt, a_committed_store_is_kept)
{
    char *dir = tu_tmpdir(), path[4200];
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    cvs_info info;
    snprintf(path, sizeof path, "%s/s", dir);
    cr_assert_eq(cvs_db_create(path, &o, &db), 0);
    cvs_db_close(db);
    o.dim = 8;
    cr_assert_eq(cvs_db_create(path, &o, &db), CVS_EEXIST);
    cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_info(db, &info), 0);
    cr_assert_eq(info.dim, 4);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

/* The command line: `cvstore stats` on the leftover names the cause and
 * fails; `cvstore init` again succeeds without a clean-up. */
Test(create_interrupt, cli_init_again)
{
    char *dir = tu_tmpdir(), path[4200], cmd[9000], out[4096] = "";
    FILE *f;
    size_t n;
    int st;
    snprintf(path, sizeof path, "%s/s", dir);
    reap_killed(start_create(path, AT_OPEN, 0));
    snprintf(cmd, sizeof cmd, "'%s' stats '%s' 2>&1", CVS_CLI_PATH, path);
    cr_assert_not_null(f = popen(cmd, "r"));
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    st = pclose(f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "stats succeeded: %s", out);
    cr_assert(strstr(out, "an init was interrupted"), "%s", out);
    snprintf(cmd, sizeof cmd, "'%s' init '%s' --dim 4 --metric l2 >/dev/null 2>&1 && "
             "'%s' stats '%s' >/dev/null 2>&1", CVS_CLI_PATH, path, CVS_CLI_PATH, path);
    cr_assert_eq(system(cmd), 0, "init over the leftover, then stats, failed");
    tu_rmrf(dir);
    free(dir);
}

/* Another program: opens the LMDB environment in path and waits. */
static void lmdb_body(const char *path, int arg)
{
    MDB_env *env;
    (void)arg;
    if (mdb_env_create(&env) || mdb_env_open(env, path, 0, 0600))
        _exit(90);
    stop_wait = 1;
    stop_here();
}

/* Another program's LMDB environment, open in its process and never
 * written to, holds what an interrupted init holds, but is not left over:
 * its process holds LMDB's lock on lock.mdb, and a create leaves it be. */
Test(create_interrupt, an_open_environment_of_another_program_is_kept)
{
    char *dir = tu_tmpdir(), path[4200];
    cvs_create_opts o = {.dim = 4, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    snprintf(path, sizeof path, "%s/s", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    pid_t pid = start_child(lmdb_body, path, 0, 1);
    off_t before = size_of(path, "data.mdb");
    cr_assert_eq(cvs_db_create(path, &o, &db), CVS_EEXIST, "%s", cvs_errmsg(NULL));
    cr_assert_eq(size_of(path, "data.mdb"), before);
    kill(pid, SIGKILL);
    reap_killed(pid);
    /* Closed, it holds nothing, and a create may make its store there. */
    cr_assert_eq(cvs_db_create(path, &o, &db), 0, "%s", cvs_errmsg(NULL));
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}
