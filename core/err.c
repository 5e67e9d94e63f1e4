/*
 * err.c -- return-code names and the thread-local detail message.
 *
 * Why thread-local rather than a buffer in the cvs_db handle: one handle is
 * shared by many reader threads, and a message written by one thread's
 * failure must not be overwritten by another's before it is read (FAISS
 * makes the same choice for faiss_get_last_error).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

static __thread char err_buf[1024];

CVS_API const char *cvs_strerror(int rc)
{
    switch (rc) {
    case CVS_OK: return "success";
    case CVS_NOTFOUND: return "not found";
    case CVS_EINVAL: return "invalid argument";
    case CVS_ENOMEM: return "out of memory";
    case CVS_EIO: return "I/O error";
    case CVS_EFORMAT: return "not a cvstore store, or its meta record is damaged";
    case CVS_EVERSION: return "store format version not supported";
    case CVS_EDIM: return "vector dimension mismatch";
    case CVS_EINPUT: return "malformed input";
    case CVS_EEXIST: return "store already exists";
    case CVS_ECORRUPT: return "stored data is corrupt";
    case CVS_ELMDB: return "LMDB error";
    case CVS_EFAISS: return "FAISS error";
    case CVS_ERDONLY: return "store is opened read-only";
    case CVS_EINTERNAL: return "internal error";
    case CVS_EBUSY: return "store busy: read snapshots held open in this process";
    case CVS_EKEY: return "wrong or missing passphrase";
    case CVS_ECONFLICT: return "other writers kept overtaking this build";
    case CVS_EFORK: return "store handle used in a child process after fork";
    default:
        if (rc > 0)
            return strerror(rc);
        return "unknown error";
    }
}

CVS_API const char *cvs_errmsg(const cvs_db *db)
{
    (void)db;
    return err_buf;
}

int cvs__err(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return rc;
}

int cvs__err_prefix(int rc, const char *fmt, ...)
{
    char prefix[512], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    if (!old[0])
        snprintf(old, sizeof old, "%s", cvs_strerror(rc));
    /* Assembled by hand: the message may be cut at the buffer's end. */
    {
        size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof err_buf - 1;
        if (pl > cap)
            pl = cap;
        memcpy(err_buf, prefix, pl);
        if (pl + 2 <= cap) {
            memcpy(err_buf + pl, ": ", 2);
            pl += 2;
        }
        if (ol > cap - pl)
            ol = cap - pl;
        memcpy(err_buf + pl, old, ol);
        err_buf[pl + ol] = '\0';
    }
    return rc;
}

void cvs__err_clear(void)
{
    err_buf[0] = '\0';
}

int cvs__query_len_check(const char *fn, size_t len)
{
    if (len <= CVS_QUERY_MAX_BYTES)
        return CVS_OK;
    /* A public function's name given as fn (cvs_mem_recall) is said as the
     * operation the command line, Python and MCP call it ("mem recall" is
     * not theirs: "recall"): the message reaches all three. */
    if (!strncmp(fn, "cvs_", 4))
        fn += 4;
    if (!strncmp(fn, "txn_", 4) || !strncmp(fn, "mem_", 4))
        fn += 4;
    return cvs__err(CVS_EINVAL, "%s: the query has %zu bytes, over the limit of %d bytes: ask "
                    "with a question or a passage, not a document", fn, len,
                    CVS_QUERY_MAX_BYTES);
}
