/*
 * grow.h -- a growing array (internal; core/: depends on libc only).
 */
#ifndef CVS_CORE_GROW_H
#define CVS_CORE_GROW_H

#include <stddef.h>

/* Makes *p (an array of *cap elements of elem bytes, NULL when *cap is 0)
 * hold at least need elements: the capacity doubles, from 64, until it
 * does, so n appends cost O(n) copying.  On failure *p and *cap are as
 * they were and the result is CVS_ENOMEM with the message oom. */
int cvs__grow(void **p, size_t *cap, size_t need, size_t elem, const char *oom);

#endif
