/*
 * fork.c -- telling a child of fork() from the process that opened a store.
 *
 * LMDB forbids using an environment in a child process ("Use an MDB_env*
 * in the process which opened it, without fork()ing", lmdb.h, Caveats):
 * the child inherits the parent's reader slot through its thread-local
 * pointer and would overwrite the parent's snapshot marker in lock.mdb,
 * the store's own snapshot registry (store/read.c) is a copy the parent
 * never sees, so a purge of the IVF lists in the parent can free what the
 * child is reading, and a lock another thread held at the fork stays held
 * forever in the child.  Before this file a child's calls worked in a
 * quiet test and failed at random under load.  So each handle records the
 * generation it was opened in, and the store refuses (CVS_EFORK) a call
 * made in another.
 *
 * Why a counter bumped by a pthread_atfork child handler rather than
 * getpid() on every call: the check runs at every snapshot begin, and
 * getpid is a system call (glibc stopped caching it in 2.25); the counter
 * is one relaxed load.  A process made by a raw clone() or vfork() that
 * skips the handlers is not counted; vfork's child may only exec or _exit,
 * and a raw clone is outside what any library can support.
 */
#include <pthread.h>

#include "core/fork.h"

static unsigned generation;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    __atomic_add_fetch(&generation, 1, __ATOMIC_RELAXED);
}

static void watch(void)
{
    /* On failure (ENOMEM) forks go uncounted: the store works as before
     * this file, no worse. */
    (void)pthread_atfork(NULL, NULL, in_child);
}

unsigned cvs__fork_gen(void)
{
    pthread_once(&once, watch);
    return __atomic_load_n(&generation, __ATOMIC_RELAXED);
}
