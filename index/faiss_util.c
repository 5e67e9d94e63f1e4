/*
 * faiss_util.c -- copies FAISS's last error into cvstore's error state
 * (see faiss_util.h for why it has to happen right after the failing call).
 */
#include <string.h>

#include <faiss/c_api/error_c.h>

#include "core/err.h"
#include "index/faiss_util.h"

int cvs__faiss_err(int faiss_rc, const char *what)
{
    const char *msg;
    size_t len;
    int rc = CVS_EFAISS;

    if (faiss_rc == 0)
        return CVS_OK;
    msg = faiss_get_last_error();
    if (!msg || !*msg)
        msg = "unknown FAISS error";
    /* std::bad_alloc reaches us only as its what() text; an allocation
     * failure is the caller's resource problem, not a FAISS bug, so it gets
     * the code scripts already handle for out-of-memory. */
    if (strcmp(msg, "std::bad_alloc") == 0)
        rc = CVS_ENOMEM;
    /* FAISS messages end in a newline at times; the detail is one line. */
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    if (what && *what)
        return cvs__err(rc, "%s: %.*s (FAISS code %d)", what, (int)len, msg, faiss_rc);
    return cvs__err(rc, "%.*s (FAISS code %d)", (int)len, msg, faiss_rc);
}
