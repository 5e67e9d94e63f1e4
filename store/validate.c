/*
 * validate.c -- checks applied to everything a caller hands to the store:
 * UTF-8 for ids and text, JSON objects for metadata.  The store keeps the
 * compact re-serialization of metadata, so equal objects are stored as
 * equal bytes whatever whitespace the caller used, with reals printed in
 * the fewest digits (15 or 17) that read back exactly.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "store/db.h"

int cvs__utf8_valid(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t cp;
    size_t i = 0;
    while (i < len) {
        utf8proc_ssize_t n;
        if (p[i] < 0x80) { /* ASCII fast path: most text is */
            i++;
            continue;
        }
        n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n < 0)
            return 0;
        i += (size_t)n;
    }
    return 1;
}

const char *cvs__json_int_range_why(const json_error_t *e)
{
    /* jansson says "too big integer" / "too big negative integer" for an
     * integer outside int64, "real number overflow" for a real beyond
     * double range. */
    if (json_error_code(e) != json_error_numeric_overflow || strncmp(e->text, "too big", 7))
        return NULL;
    return "integers are 64-bit (-9223372036854775808 to 9223372036854775807); write it as "
           "a string (\"...\") to keep every digit";
}

int cvs__meta_canonical(const char *meta, size_t len, char **out, size_t *out_len)
{
    json_error_t err;
    json_t *j = json_loadb(meta, len, JSON_REJECT_DUPLICATES, &err);
    const char *why;
    char *s;
    *out = NULL;
    if (!j && (why = cvs__json_int_range_why(&err)))
        return cvs__err(CVS_EINPUT, "meta: integer out of range at column %d (%s): %s",
                        err.column, err.text, why);
    /* jansson's text for this names its flag (JSON_ALLOW_NUL), not the
     * problem: meta is kept and read back as text. */
    if (!j && json_error_code(&err) == json_error_null_character)
        return cvs__err(CVS_EINPUT, "meta holds a NUL character (\\u0000) at column %d, which "
                        "metadata cannot hold (remove it)", err.column);
    if (!j)
        return cvs__err(CVS_EINPUT, "meta is not valid JSON: %s (column %d)", err.text, err.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return cvs__err(CVS_EINPUT, "meta must be a JSON object");
    }
    /* Jansson prints reals with 17 digits, so 0.1 would come back as
     * 0.10000000000000001.  Print with 15 first and keep that when it
     * parses back to the same values; fall back to 17, which always does. */
    s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s) {
        json_t *back = json_loads(s, 0, NULL);
        int same = back && json_equal(back, j);
        json_decref(back);
        if (!same) {
            free(s);
            s = json_dumps(j, JSON_COMPACT);
        }
    }
    json_decref(j);
    if (!s)
        return cvs__err(CVS_ENOMEM, "out of memory serializing meta");
    *out = s;
    *out_len = strlen(s);
    return CVS_OK;
}
