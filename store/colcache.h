/*
 * colcache.h -- the column cache under the metadata filters (internal):
 * per snapshot, one decoded column per metadata field, built from the
 * "attrs" database and shared by every filter evaluation of that snapshot
 * (store/colcache.c has the design).  The filter language (store/filter.c)
 * reads the columns; nothing else does.
 */
#ifndef CVS_COLCACHE_H
#define CVS_COLCACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Value types of a column entry (and of a JSON value met per record). */
enum { CVS__V_ABSENT = 0, CVS__V_STR, CVS__V_NUM, CVS__V_TRUE, CVS__V_FALSE, CVS__V_OTHER };

/* A string with its length; s is NUL-terminated when owned. */
typedef struct cvs__fstr {
    char *s;
    size_t len;
} cvs__fstr;

/* Interned strings of one column: codes 0..n-1, looked up by an
 * open-addressing hash table (FNV-1a). */
typedef struct cvs__sdict {
    cvs__fstr *v;
    size_t n, cap;
    uint32_t *tab;     /* tcap slots of code + 1, 0 = empty */
    size_t tcap;
} cvs__sdict;

typedef struct cvs__fcol {
    char *name;
    size_t name_len;
    size_t nkeys;
    uint8_t *type;     /* nkeys CVS__V_* */
    union {
        double d;
        uint32_t s;
    } *val;            /* nkeys */
    cvs__sdict dict;
    size_t nstr;       /* keys holding a string (colcache.c deviation 3) */
    int refs;          /* guarded by db->filter_mu */
} cvs__fcol;

/* The CVS__V_* type of x (NULL: absent), with its number in *num or its
 * string (borrowed from x) in *s, *len. */
int cvs__json_classify(const json_t *x, double *num, const char **s, size_t *len);

/* out->s = a malloc'd NUL-terminated copy of s[0..len). */
int cvs__fstr_dup(const char *s, size_t len, cvs__fstr *out);

/* Code of s in d, or UINT32_MAX when absent. */
uint32_t cvs__sdict_find(const cvs__sdict *d, const char *s, size_t len);

/* Fills tc[i] (NULL on entry) with the column of field fields[i] over keys
 * 0..nkeys-1 of t's snapshot, one reference each, from the cache when it
 * holds them for this snapshot, building and caching the others.  When the
 * cache holds an older snapshot, its columns are carried over too,
 * re-parsing only the records whose metadata changed.  Release with
 * cvs__colcache_release, also after a failure. */
int cvs__colcache_get(cvs_txn *t, size_t nkeys, const cvs__fstr *fields, size_t n,
                      cvs__fcol **tc);

/* Releases the references taken by cvs__colcache_get (NULL entries and a
 * NULL tc are fine). */
void cvs__colcache_release(cvs_db *db, cvs__fcol **tc, size_t n);

/* Drops the column cache (on close). */
void cvs__filter_cache_drop(cvs_db *db);

/* Testing: the strings held by the dictionaries of the cached columns. */
size_t cvs__filter_cache_strings(cvs_db *db);

#endif
