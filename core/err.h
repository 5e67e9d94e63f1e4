/*
 * err.h -- internal error reporting (core/: depends on libc only).  Every failing path records a
 * human-readable detail in a thread-local buffer (what cvs_errmsg returns)
 * and returns its code, so call sites read:  return cvs__err(CVS_EINPUT,
 * "%s: line %llu: %s", path, line, why);
 */
#ifndef CVS_CORE_ERR_H
#define CVS_CORE_ERR_H

#include "cvstore.h"

#if defined(__GNUC__)
#  define CVS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define CVS_PRINTF(a, b)
#endif

/* ==== Private return codes ====
 * Codes that never leave the library: each is caught by the layer that
 * returns it.  They are all listed here, one distinct value each, counting
 * down from -30999: clear of the public CVS_E* codes (-30900 and up, in
 * cvstore.h) and of LMDB's (-30799 to -30780), so none can be mistaken for
 * another.  test_core checks that. */

/* The operation ran out of map space and is retried after the map grows.
 * Never escapes cvs__write. */
#define CVS__MAPFULL (-30999)
/* LMDB-style code of the store/seal.h wrappers: a value failed
 * authentication.  The wrapper has already written the thread's message;
 * cvs__err_lmdb maps it to CVS_ECORRUPT and keeps that message. */
#define CVS__EAUTH (-30998)
/* Same for a key or value that LMDB returned pointing past the end of
 * data.mdb (a damaged page, store/seal.h cvs__vin_file); also mapped to
 * CVS_ECORRUPT with the wrapper's message. */
#define CVS__EDAMAGED (-30997)
/* An IVF snapshot's list log was trimmed past it (index/ivf_lists.c): the
 * reader reloads its lists. */
#define CVS__RELOAD (-30996)
/* A put conditioned on a read snapshot (store/put.c cvs__put_since) found
 * another writer's commit after it and wrote nothing: the caller decides
 * again from a new snapshot. */
#define CVS__STALE (-30995)

/* Sets the thread's message and returns rc unchanged. */
int cvs__err(int rc, const char *fmt, ...) CVS_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (keeps the code). */
int cvs__err_prefix(int rc, const char *fmt, ...) CVS_PRINTF(2, 3);
/* Clears the thread's message. */
void cvs__err_clear(void);

/* CVS_OK for a query of len bytes within CVS_QUERY_MAX_BYTES, else
 * CVS_EINVAL with a message naming fn, the length and the limit.  The one
 * check of every public query entry point (cvstore.h says which). */
int cvs__query_len_check(const char *fn, size_t len);

#endif
