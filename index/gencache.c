/*
 * gencache.c -- the generation-keyed cache shared by the codec and the IVF
 * parameters (gencache.h).
 */
#include <stdlib.h>

#include "index/gencache.h"

int cvs__gencache_init(cvs__gencache *c, void (*free_fn)(void *))
{
    c->cur = NULL;
    c->gen = 0;
    c->retired = NULL;
    c->nretired = 0;
    c->free_fn = NULL;
    if (pthread_mutex_init(&c->mu, NULL))
        return -1;
    c->free_fn = free_fn; /* also marks it made, for destroy */
    return 0;
}

/* Caller holds mu.  Leaking one object beats freeing one a search may hold,
 * so an allocation failure keeps it alive forever. */
static void retire(cvs__gencache *c, void *obj, uint64_t gen)
{
    struct cvs__gencache_old *r;
    if (!obj || !(r = realloc(c->retired, (c->nretired + 1) * sizeof *r)))
        return;
    c->retired = r;
    r[c->nretired].obj = obj;
    r[c->nretired++].gen = gen;
}

/* Caller holds mu.  Newest retired first: the likeliest to be asked for. */
static void *find(const cvs__gencache *c, uint64_t gen)
{
    if (c->cur && c->gen == gen)
        return c->cur;
    for (size_t i = c->nretired; i-- > 0;)
        if (c->retired[i].gen == gen)
            return c->retired[i].obj;
    return NULL;
}

void *cvs__gencache_get(cvs__gencache *c, uint64_t gen)
{
    void *p;
    pthread_mutex_lock(&c->mu);
    p = find(c, gen);
    pthread_mutex_unlock(&c->mu);
    return p;
}

void *cvs__gencache_offer(cvs__gencache *c, uint64_t gen, void *obj)
{
    void *have;
    pthread_mutex_lock(&c->mu);
    if ((have = find(c, gen))) { /* another thread won the race */
        c->free_fn(obj);
        obj = have;
    } else if (!c->cur || gen > c->gen) {
        retire(c, c->cur, c->gen);
        c->cur = obj;
        c->gen = gen;
    } else {
        retire(c, obj, gen); /* an older snapshot's: keep it alive */
    }
    pthread_mutex_unlock(&c->mu);
    return obj;
}

void cvs__gencache_destroy(cvs__gencache *c)
{
    if (!c->free_fn)
        return; /* never initialized */
    if (c->cur)
        c->free_fn(c->cur);
    for (size_t i = 0; i < c->nretired; i++)
        c->free_fn(c->retired[i].obj);
    free(c->retired);
    c->cur = NULL;
    c->retired = NULL;
    c->nretired = 0;
    pthread_mutex_destroy(&c->mu);
    c->free_fn = NULL;
}
