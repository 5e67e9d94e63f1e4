/*
 * jobs.h -- fan a few independent jobs out over threads (internal).  The
 * k-means assignment, rq's block encoding and the IVF batch search all cut
 * their rows into one job per core; this is the one place that starts the
 * threads, runs job 0 on the caller, and falls back to the caller for any
 * job whose thread cannot start, so a failed pthread_create costs speed,
 * never a result.
 */
#ifndef CVS_JOBS_H
#define CVS_JOBS_H

#include <stddef.h>

/* Runs fn on each of n jobs (job i at (char *)jobs + i * size) and returns
 * when all have finished.  fn's return value is ignored: a job reports
 * through its own struct. */
void cvs__run_jobs(void *jobs, size_t size, size_t n, void *(*fn)(void *));

/* The CPUs this process may run on (its affinity mask: taskset, a
 * container's cpuset), else the online ones; 1..16, read once.  How many
 * jobs the training, encoding and embedding loops cut their rows into. */
int cvs__ncpu(void);

#endif
