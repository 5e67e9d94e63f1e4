/*
 * fork.h -- which process a handle belongs to (core/fork.c).  A handle
 * remembers the fork generation it was opened in; a call on it in a child
 * of fork() (another generation) is refused with CVS_EFORK.
 */
#ifndef CVS_CORE_FORK_H
#define CVS_CORE_FORK_H

/* This process's generation: 0 in the process that first called it, one
 * more in each child of fork() since.  The first call registers the
 * counting (pthread_atfork); call it when a handle is opened, before any
 * fork the handle could live through. */
unsigned cvs__fork_gen(void);

#endif
