/*
 * gencache.h -- a per-handle cache of immutable objects keyed by a
 * generation stored in meta (the codec's "codec_gen", the IVF parameters'
 * generation).  Internal.
 *
 * A search of an older snapshot may still hold the object of an older
 * generation, so a replaced object is not freed but retired until the
 * handle closes (builds are rare; each retires one object), and found
 * again by its generation: a snapshot held open across a build (cvs_tune's
 * head-to-head, index/tune.c deviation 4) decodes its objects once, not on
 * every search.  Because the key
 * is a generation read in the caller's snapshot, an object decoded in a
 * transaction that later aborts is still right for that generation: the
 * cache needs no invalidation (store/module.h, the re-run rule).
 */
#ifndef CVS_GENCACHE_H
#define CVS_GENCACHE_H

#include <pthread.h>
#include <stdint.h>

typedef struct cvs__gencache {
    pthread_mutex_t mu;
    void *cur;             /* the newest generation's object, or NULL */
    uint64_t gen;          /* cur's generation */
    struct cvs__gencache_old {
        void *obj;
        uint64_t gen;
    } *retired;            /* replaced or older ones, freed at destroy */
    size_t nretired;
    void (*free_fn)(void *);
} cvs__gencache;

/* 0, or -1 when the lock cannot be made. */
int cvs__gencache_init(cvs__gencache *c, void (*free_fn)(void *));
/* Frees every object; accepts a zeroed cache. */
void cvs__gencache_destroy(cvs__gencache *c);
/* The cached object of generation gen (current or retired), or NULL. */
void *cvs__gencache_get(cvs__gencache *c, uint64_t gen);
/* Offers obj, just decoded for generation gen, and returns the object to
 * use: the one another thread cached for gen meanwhile (obj is freed), or
 * obj itself, which becomes current when newer and is retired when older.
 * Valid until cvs__gencache_destroy. */
void *cvs__gencache_offer(cvs__gencache *c, uint64_t gen, void *obj);

#endif
