/*
 * clock.h -- the monotonic clock in seconds, for elapsed times (progress
 * rates, waits, deadlines): never the wall clock, which can step.
 */
#ifndef CVS_CORE_CLOCK_H
#define CVS_CORE_CLOCK_H

#include <time.h>

static inline double cvs__mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
