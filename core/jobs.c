/*
 * jobs.c -- see jobs.h.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/jobs.h"

void cvs__run_jobs(void *jobs, size_t size, size_t n, void *(*fn)(void *))
{
    struct slot {
        pthread_t t;
        int on;
    } *s = n > 1 ? calloc(n, sizeof *s) : NULL; /* no memory: all on the caller */
    char *b = jobs;
    for (size_t i = 1; s && i < n; i++)
        s[i].on = pthread_create(&s[i].t, NULL, fn, b + i * size) == 0;
    for (size_t i = 0; i < n; i++)
        if (!s || !s[i].on) /* job 0, and any whose thread did not start */
            fn(b + i * size);
    for (size_t i = 1; s && i < n; i++)
        if (s[i].on)
            pthread_join(s[i].t, NULL);
    free(s);
}

int cvs__ncpu(void)
{
    /* Relaxed atomics: threads may race to fill it, each with the same
     * value. */
    static int cached;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (!c) {
        /* Online CPUs overcount a process confined to a few of them, and a
         * worker per CPU it cannot run on only takes turns. */
        cpu_set_t set;
        long v = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
        c = v < 1 ? 1 : v > 16 ? 16 : (int)v;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c;
}
