/*
 * grow.c -- see grow.h.
 */
#include <stdlib.h>

#include "core/err.h"
#include "core/grow.h"

int cvs__grow(void **p, size_t *cap, size_t need, size_t elem, const char *oom)
{
    size_t nc;
    void *q;
    if (need <= *cap)
        return CVS_OK;
    nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    if (!(q = realloc(*p, nc * elem)))
        return cvs__err(CVS_ENOMEM, "%s", oom);
    *p = q;
    *cap = nc;
    return CVS_OK;
}
