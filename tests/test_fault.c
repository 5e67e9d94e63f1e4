/* test_fault.c -- cvs_fault_exit's handlers when several threads fault at
 * once (store/fault.c): one whole message, never two interleaved, and the
 * lock-file case still told from damage. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define NTHREADS 6
#define STATUS 7
#define PREFIX "cvstore-fault-test"

static pthread_barrier_t start;
static volatile char *bus_page;

/* Every thread waits at the barrier, then reads a page of a file named
 * lock.mdb past its end (SIGBUS in lock.mdb: the "file system is full"
 * message) or, for odd threads when both kinds are asked for, a wild
 * address (SIGSEGV: "store is damaged"). */
static void *fault_thread(void *arg)
{
    int which = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    if (which < 0) {
        volatile char *volatile wild = (volatile char *)(uintptr_t)16;
        return (void *)(intptr_t)*wild;
    }
    return (void *)(intptr_t)bus_page[which];
}

/* The child: arms the handlers, maps dir/lock.mdb (0 bytes) and lets
 * NTHREADS threads fault together.  Never returns. */
static void child(const char *dir, int mixed)
{
    char f[4200];
    pthread_t t[NTHREADS];
    snprintf(f, sizeof f, "%s/lock.mdb", dir);
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || cvs_fault_exit(PREFIX, STATUS))
        _exit(90);
    bus_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (bus_page == MAP_FAILED)
        _exit(91);
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, fault_thread,
                           (void *)(intptr_t)(mixed && (i & 1) ? -1 : i)))
            _exit(92);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    _exit(93); /* no thread faulted */
}

/* Runs one child, fn(dir, arg), returns its stderr (malloc'd) and exit
 * status. */
static char *run_fn(void (*fn)(const char *, int), const char *dir, int arg, int *status)
{
    int p[2];
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    ssize_t got;
    cr_assert_not_null(buf);
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        fn(dir, arg);
        _exit(94);
    }
    close(p[1]);
    while ((got = read(p[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(p[0]);
    cr_assert_eq(waitpid(pid, status, 0), pid);
    return buf;
}

static char *run_child(const char *dir, int mixed, int *status)
{
    return run_fn(child, dir, mixed, status);
}

static const char lock_msg[] = PREFIX ": a write to the store's lock file (lock.mdb) failed "
                               "(SIGBUS at 0x";
static const char damage_msg[] = PREFIX ": store is damaged: a read outside the store's map "
                                 "(SIGSEGV at 0x";

/* Many threads of one process fault at the same moment (two stores, or a
 * Python program with threads): stderr holds exactly one message, whole,
 * and the process ends with the status asked for.  A message built in a
 * buffer shared by the threads, or written in pieces, came out garbled or
 * twice; a SIGBUS in lock.mdb that another thread's lookup of
 * /proc/self/maps overwrote was called damage. */
Test(fault, threads_faulting_at_once_print_one_whole_message, .timeout = 120)
{
    char *dir = tu_tmpdir();
    for (int round = 0; round < 60; round++) {
        int status, mixed = round & 1;
        char *err = run_child(dir, mixed, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == STATUS,
                  "round %d: status %d, stderr: %s", round, status, err);
        char *nl = strchr(err, '\n');
        cr_assert_not_null(nl, "round %d: no whole line: %s", round, err);
        cr_assert_eq(nl[1], '\0', "round %d: more than one message:\n%s", round, err);
        int is_lock = !strncmp(err, lock_msg, sizeof lock_msg - 1);
        int is_damage = !strncmp(err, damage_msg, sizeof damage_msg - 1);
        cr_assert(is_lock || (mixed && is_damage), "round %d: unexpected message: %s", round,
                  err);
        cr_assert(strstr(err, is_lock ? "free some space and run the command again "
                                        "(the store is not damaged)\n"
                                      : "restore the store from a backup or an export\n"),
                  "round %d: message cut: %s", round, err);
        free(err);
    }
    tu_rmrf(dir);
    free(dir);
}

/* ==== Stack overflow (store/fault.c deviation 7) ==== */

static volatile int never = -1;

/* Recurses until the stack runs out: each frame keeps a live array, and
 * the sum after the call keeps it from being a loop. */
__attribute__((noinline)) static int deep(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    pad[511] = (char)(n >> 8);
    if (n == never)
        return 0;
    return deep(n + 1) + pad[0] + pad[511];
}

static void *deep_thread(void *arg)
{
    (void)arg;
    if (cvs_fault_exit(PREFIX, STATUS))
        _exit(90);
    return (void *)(intptr_t)deep(1);
}

/* The child: the handlers armed in the thread that then overflows its
 * stack, the main thread (arg 0) or another (1).  Never returns. */
static void overflow_child(const char *dir, int in_thread)
{
    pthread_t t;
    (void)dir;
    if (!in_thread)
        deep_thread(NULL);
    else if (pthread_create(&t, NULL, deep_thread, NULL) || pthread_join(t, NULL))
        _exit(92);
    _exit(93);
}

static const char overflow_msg[] = PREFIX ": stack overflow (SIGSEGV at 0x";

/* A recursion that runs out of stack prints the handler's message and ends
 * with its status.  Without an alternate signal stack the handler had no
 * room to run, and the process died of SIGSEGV with no word. */
Test(fault, stack_overflow_prints_its_message, .timeout = 60)
{
    char *dir = tu_tmpdir();
    for (int in_thread = 0; in_thread < 2; in_thread++) {
        int status;
        char *err = run_fn(overflow_child, dir, in_thread, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == STATUS,
                  "%s: status %d (%s), stderr: %s", in_thread ? "thread" : "main thread",
                  status, WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited", err);
        cr_assert(!strncmp(err, overflow_msg, sizeof overflow_msg - 1), "%s", err);
        cr_assert(strstr(err, "not damage to the store\n"), "%s", err);
        free(err);
    }
    tu_rmrf(dir);
    free(dir);
}

static size_t maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int c;
    if (!f)
        _exit(95);
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void *arm_and_leave(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)cvs_fault_exit(PREFIX, STATUS);
}

static void threads_arming(int n)
{
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *r = NULL;
        if (pthread_create(&t, NULL, arm_and_leave, NULL) || pthread_join(t, &r) || r)
            _exit(90);
    }
}

/* The child: threads that arm the handlers and end, then the main thread
 * twice; exit 0 when no mapping was left behind, else 91 or 93. */
static void freed_child(const char *dir, int arg)
{
    size_t before, after;
    (void)dir;
    (void)arg;
    threads_arming(2); /* glibc's cached thread stack, the key */
    before = maps_lines();
    threads_arming(200);
    /* Stacks left behind would be 400 more mappings; a few more than
     * none are the allocator's (ASan's, in a CVS_SANITIZE build, maps
     * its own regions as threads come and go: 9 more here). */
    if ((after = maps_lines()) > before + 40) {
        fprintf(stderr, "%zu mappings before 200 threads, %zu after\n", before, after);
        _exit(91);
    }
    if (cvs_fault_exit(PREFIX, STATUS))
        _exit(92);
    before = maps_lines();
    if (cvs_fault_exit(PREFIX, STATUS) || (after = maps_lines()) != before) {
        fprintf(stderr, "a second call: %zu mappings before, %zu after\n", before, after);
        _exit(93);
    }
    _exit(0);
}

/* Each thread that calls cvs_fault_exit gets its own signal stack, freed
 * when the thread ends: 200 such threads leave no mapping behind (a stack
 * and its guard page that stayed would be two more each), and a second
 * call in one thread maps nothing new. */
Test(fault, signal_stacks_are_freed_with_their_threads, .timeout = 60)
{
    int status;
    char *err = run_fn(freed_child, NULL, 0, &status);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d, stderr: %s", status,
              err);
    free(err);
}
