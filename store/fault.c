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
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/db.h"

#define FAULT_PREFIX_MAX 255

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

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    msg m = {.n = 0};
    (void)uc;
    msg_str(&m, __atomic_load_n(&fault_prefix, __ATOMIC_ACQUIRE));
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

CVS_API int cvs_fault_exit(const char *prefix, int status)
{
    struct sigaction sa;
    char *copy;
    if (!prefix)
        return cvs__err(CVS_EINVAL, "cvs_fault_exit: NULL prefix");
    if (!(copy = strndup(prefix, FAULT_PREFIX_MAX)))
        return cvs__err(CVS_ENOMEM, "cvs_fault_exit: out of memory");
    /* The old copy stays allocated: a handler may be reading it. */
    __atomic_store_n(&fault_prefix, copy, __ATOMIC_RELEASE);
    __atomic_store_n(&fault_status, status, __ATOMIC_RELEASE);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
        return cvs__err(CVS_EIO, "cvs_fault_exit: installing a signal handler failed");
    __atomic_store_n(&fault_armed, 1, __ATOMIC_RELEASE);
    return CVS_OK;
}
