/*
 * fault.c -- a damaged store ends a command with a message, never a signal.
 *
 * LMDB keeps no page checksums and takes its pages as it finds them.  A
 * damaged data.mdb can end a process three ways:
 *  1. one of LMDB's assertions fails (mdb_assert_fail prints it and calls
 *     abort());
 *  2. a damaged branch or leaf page sends LMDB's own reads outside the map
 *     (SIGSEGV) or into the part of the map past the end of the file
 *     (SIGBUS);
 *  3. a node's key size, value size or overflow page sends our read of a
 *     key or value past the end of the file (SIGBUS).
 * Case 3 is caught before the read: every key and value the store/seal.h
 * wrappers return is checked against the part of the map the file covers,
 * and one that runs past it is CVS_ECORRUPT like a value that fails
 * authentication (cvs_check lists it and goes on).  Cases 1 and 2 happen
 * inside LMDB, and there is nowhere safe to return to: LMDB aborts as soon
 * as its assertion callback returns, with the tree it was walking half
 * visited, and a fault handler cannot resume the faulting read.
 *
 * What we do, and why:
 *  1. LMDB's assertion callback (mdb_env_set_assert, store/db.c) and
 *     handlers for SIGSEGV and SIGBUS, installed by cvs_fault_exit, print
 *     "store is damaged: ..." and _exit() with the caller's status.  Only a
 *     process that asks for it gets this; a library must not take over the
 *     signals of a program that did not.
 *  2. No siglongjmp back into an error return.  It would be the one way to
 *     let a call fail and the process go on, but it abandons whatever the
 *     interrupted code held: LMDB's reader slot or writer mutex, our map
 *     lock, a half-updated in-memory cache, malloc's own locks if the
 *     fault came under them.  A process that then goes on using the store
 *     is in undefined territory.  Ending the process releases all of it
 *     (LMDB's locks are robust against a dead owner), and a command-line
 *     tool was about to end anyway.
 *  3. No check of every page's structure before LMDB reads it: that is a
 *     read of the whole file on every open, for damage that is rare.
 *     `cvstore check` walks every database, so it meets a damaged page
 *     wherever one is and reports it through this path.
 *  4. The handlers take every SIGSEGV and SIGBUS of the process for damage:
 *     telling a wild read of a damaged page from one of a bug would need
 *     the addresses of every map in every thread, and the message says
 *     where the fault was, which is what a bug report needs too.
 *  5. One SIGBUS is no damage: LMDB writes its lock file (lock.mdb)
 *     through a shared map, and a write there on a full file system (a new
 *     or recreated lock file, a reader slot on a page never written) is a
 *     SIGBUS.  The handler looks the address up in /proc/self/maps (open
 *     and read only: async-signal-safe) and, when it falls in lock.mdb,
 *     says the file system is full, not that the store is damaged (whose
 *     remedy, a restore, would be the wrong thing to do).
 *  6. Several threads can fault at once (two stores, a Python program
 *     with threads, one damaged page read by every worker of a build).
 *     The handler keeps nothing of its own outside its stack frame: the
 *     message and the lines of /proc/self/maps are built in automatic
 *     buffers, so each thread has its own.  The first thread in claims the
 *     exit with an atomic exchange, writes its message with one write(2)
 *     (a whole line: stderr as a pipe takes up to PIPE_BUF bytes at once)
 *     and calls _exit; any other waits in pause() for that _exit, which
 *     ends every thread.  So the user reads one message, never two mixed.
 *     The prefix and status are published with release stores and read
 *     with acquire loads (both lock-free, so async-signal-safe); a prefix
 *     replaced by a later cvs_fault_exit is not freed, since a handler on
 *     another thread may be reading it.
 *  7. A stack overflow is a SIGSEGV too, and its handler cannot run on the
 *     stack that has just run out: without an alternate signal stack
 *     (sigaltstack(2)) the kernel finds no room for the handler's frame
 *     and kills the process silently.  So cvs_fault_exit gives the thread
 *     that calls it an alternate stack (ALT_STACK_SIZE, more than the
 *     handler's buffers of deviation 6 take, with a guard page below it)
 *     and installs the handlers with SA_ONSTACK; a thread that already has
 *     one at least that large (its program's, or ours from an earlier call)
 *     keeps it.  The stack is mapped with mmap, not malloc (a handler may
 *     run while malloc's lock is held), and freed at the thread's exit by
 *     a thread-specific key's destructor, after sigaltstack disables it;
 *     the main thread's lasts as long as the process.  Other threads get
 *     none: the library's own workers (core/jobs.c: k-means, encoding, the
 *     IVF and graph searches, the embedders' groups) run loops, and the
 *     one recursion their direct calls reach (gcc -fcallgraph-info over
 *     the library) is the IVF coarse sort's, at most one small frame per
 *     list, far inside a thread's 8 MiB; a program whose own threads
 *     recurse without a bound calls cvs_fault_exit in each of them.  The handler tells an overflow from
 *     damage by the faulting address: within ALT_STACK_NEAR bytes of the
 *     interrupted stack pointer (read from the signal's context, on
 *     x86-64 and aarch64) it is the stack's guard, not a page of the store,
 *     and the message says so instead of asking for a restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "store/db.h"

#define FAULT_PREFIX_MAX 255
/* Deviation 7: the alternate stack (the handler's frame takes about 10 KiB)
 * and how near the stack pointer a fault counts as the stack's. */
#define ALT_STACK_SIZE (64u * 1024)
#define ALT_STACK_NEAR ((uintptr_t)256 * 1024)

static char *fault_prefix; /* published once whole (deviation 6) */
static int fault_status;
static int fault_armed;
static int fault_claimed; /* set by the first thread to report */

/* ==== The message, built on the stack (deviation 6) ==== */

typedef struct msg {
    char b[1024];
    size_t n;
} msg;

static void msg_str(msg *m, const char *s)
{
    for (; *s && m->n < sizeof m->b - 1; s++)
        m->b[m->n++] = *s;
}

static void msg_hex(msg *m, uintptr_t x)
{
    char b[2 * sizeof x + 1], *p = b + sizeof b - 1;
    *p = '\0';
    do {
        *--p = "0123456789abcdef"[x & 15];
        x >>= 4;
    } while (x);
    msg_str(m, "0x");
    msg_str(m, p);
}

/* Claims the report for this thread, writes m whole and ends the process;
 * a thread that comes second waits for the first one's _exit. */
static void report_and_exit(msg *m)
{
    const char *s = m->b;
    size_t n = m->n;
    if (__atomic_exchange_n(&fault_claimed, 1, __ATOMIC_ACQ_REL))
        for (;;)
            pause();
    if (n == sizeof m->b - 1)
        m->b[n - 1] = '\n'; /* cut short: still one line */
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            break;
        s += w;
        n -= (size_t)w;
    }
    _exit(__atomic_load_n(&fault_status, __ATOMIC_ACQUIRE));
}

/* Whether line, one of /proc/self/maps ("lo-hi perms offset dev inode
 * path"), maps addr from a file whose name ends with suffix. */
static int maps_line_is(const char *line, size_t n, uintptr_t addr, const char *suffix)
{
    uintptr_t b[2] = {0, 0};
    size_t i = 0, sl = strlen(suffix);
    for (int k = 0; k < 2; k++, i++)
        for (; i < n && line[i] != (k ? ' ' : '-'); i++) {
            char c = line[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return 0;
            b[k] = b[k] << 4 | (uintptr_t)d;
        }
    return addr >= b[0] && addr < b[1] && n >= sl && !memcmp(line + n - sl, suffix, sl);
}

/* Whether addr lies in a map of a file named ...suffix (deviation 5);
 * async-signal-safe: open, read and close of /proc/self/maps, into this
 * thread's own buffers (deviation 6). */
static int addr_in_file(uintptr_t addr, const char *suffix)
{
    char line[4352];
    char buf[4096];
    size_t n = 0;
    ssize_t got;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), found = 0;
    if (fd < 0)
        return 0;
    while (!found && (got = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got && !found; i++) {
            if (buf[i] != '\n') {
                if (n < sizeof line)
                    line[n++] = buf[i];
                continue;
            }
            found = maps_line_is(line, n, addr, suffix);
            n = 0;
        }
    close(fd);
    return found;
}

/* The interrupted thread's stack pointer, from the signal's context; 0
 * where we do not know the register (deviation 7). */
static uintptr_t fault_sp(void *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    msg m = {.n = 0};
    uintptr_t sp = fault_sp(uc), a = (uintptr_t)si->si_addr;
    msg_str(&m, __atomic_load_n(&fault_prefix, __ATOMIC_ACQUIRE));
    if (sig == SIGSEGV && sp && (a > sp ? a - sp : sp - a) < ALT_STACK_NEAR) {
        msg_str(&m, ": stack overflow (SIGSEGV at ");
        msg_hex(&m, a);
        msg_str(&m, ", the stack pointer at ");
        msg_hex(&m, sp);
        msg_str(&m, "): a recursion too deep for the thread's stack, a bug to report, not "
                    "damage to the store\n");
        report_and_exit(&m);
    }
    if (sig == SIGBUS && addr_in_file((uintptr_t)si->si_addr, "/lock.mdb")) {
        msg_str(&m, ": a write to the store's lock file (lock.mdb) failed (SIGBUS at ");
        msg_hex(&m, (uintptr_t)si->si_addr);
        msg_str(&m, "): its file system is full; free some space and run the command again "
                    "(the store is not damaged)\n");
        report_and_exit(&m);
    }
    msg_str(&m, ": store is damaged: ");
    msg_str(&m, sig == SIGBUS ? "a read past the end of data.mdb (SIGBUS at "
                              : "a read outside the store's map (SIGSEGV at ");
    msg_hex(&m, (uintptr_t)si->si_addr);
    msg_str(&m, "): a page of data.mdb points outside the file; restore the store from a "
                "backup or an export\n");
    report_and_exit(&m);
}

/* LMDB's assertion callback (store/db.c), in an ordinary thread context:
 * the same one-message rule as the handlers, so a thread that faults
 * meanwhile does not print a second one. */
void cvs__fault_lmdb(const char *path, const char *msg_text)
{
    msg m = {.n = 0};
    if (!__atomic_load_n(&fault_armed, __ATOMIC_ACQUIRE))
        return;
    msg_str(&m, __atomic_load_n(&fault_prefix, __ATOMIC_ACQUIRE));
    msg_str(&m, ": store is damaged: ");
    msg_str(&m, path ? path : "?");
    msg_str(&m, ": LMDB found an inconsistent page (");
    msg_str(&m, msg_text);
    msg_str(&m, "); restore the store from a backup or an export\n");
    report_and_exit(&m);
}

/* ==== The alternate stack (deviation 7) ==== */

static pthread_key_t alt_key;
static int alt_key_ok;
static pthread_once_t alt_once = PTHREAD_ONCE_INIT;

/* A thread's mapping: its guard page, then the stack. */
static size_t alt_map_size(void)
{
    return ALT_STACK_SIZE + (size_t)sysconf(_SC_PAGESIZE);
}

/* The key's destructor, at the exit of a thread that has our stack: off
 * first, so that the kernel never delivers a signal onto freed memory. */
static void alt_free(void *map)
{
    stack_t off = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&off, NULL) == 0)
        munmap(map, alt_map_size());
}

static void alt_key_make(void)
{
    alt_key_ok = pthread_key_create(&alt_key, alt_free) == 0;
}

/* Gives the calling thread an alternate signal stack, unless it has one of
 * at least ALT_STACK_SIZE bytes: its own, mapped once, turned on again if
 * it was turned off. */
static int alt_stack_install(void)
{
    stack_t old, ss;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *map;
    int rc = CVS_OK;
    if (sigaltstack(NULL, &old))
        return cvs__err(CVS_EIO, "cvs_fault_exit: reading the signal stack failed: %s",
                        strerror(errno));
    if (!(old.ss_flags & SS_DISABLE) && old.ss_size >= ALT_STACK_SIZE)
        return CVS_OK;
    if (pthread_once(&alt_once, alt_key_make) || !alt_key_ok)
        return cvs__err(CVS_ENOMEM, "cvs_fault_exit: cannot make a thread key");
    if (!(map = pthread_getspecific(alt_key))) {
        map = mmap(NULL, alt_map_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
        if (map == MAP_FAILED)
            return cvs__err(CVS_ENOMEM, "cvs_fault_exit: no memory for a signal stack");
        /* The guard: a handler that outgrows the stack faults, and the
         * kernel ends the process, instead of writing over what lies
         * below. */
        if (mprotect(map, page, PROT_NONE)) {
            rc = cvs__err(CVS_EIO, "cvs_fault_exit: protecting a signal stack's guard page "
                          "failed: %s", strerror(errno));
            goto unmap;
        }
        if (pthread_setspecific(alt_key, map)) {
            rc = cvs__err(CVS_ENOMEM, "cvs_fault_exit: cannot record the signal stack");
            goto unmap;
        }
    }
    ss.ss_sp = map + page;
    ss.ss_size = ALT_STACK_SIZE;
    ss.ss_flags = 0;
    /* Kept mapped on failure too: the key owns it, and frees it at the
     * thread's exit. */
    if (sigaltstack(&ss, NULL))
        return cvs__err(CVS_EIO, "cvs_fault_exit: installing a signal stack failed: %s",
                        strerror(errno));
    return CVS_OK;
unmap:
    munmap(map, alt_map_size());
    return rc;
}

CVS_API int cvs_fault_exit(const char *prefix, int status)
{
    struct sigaction sa;
    char *copy;
    int rc;
    if (!prefix)
        return cvs__err(CVS_EINVAL, "cvs_fault_exit: NULL prefix");
    if ((rc = alt_stack_install()))
        return rc;
    if (!(copy = strndup(prefix, FAULT_PREFIX_MAX)))
        return cvs__err(CVS_ENOMEM, "cvs_fault_exit: out of memory");
    /* The old copy stays allocated: a handler may be reading it. */
    __atomic_store_n(&fault_prefix, copy, __ATOMIC_RELEASE);
    __atomic_store_n(&fault_status, status, __ATOMIC_RELEASE);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
        return cvs__err(CVS_EIO, "cvs_fault_exit: installing a signal handler failed");
    __atomic_store_n(&fault_armed, 1, __ATOMIC_RELEASE);
    return CVS_OK;
}
