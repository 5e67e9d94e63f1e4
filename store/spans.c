/*
 * spans.c -- byte spans of a text and locating given sentences in it
 * (spans.h), moved here from text/sentences.c so that the JSONL reader
 * (store/jsonl.c) needs nothing above the store.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/spans.h"

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int cvs__spans_push(cvs_spans *sp, uint32_t a, uint32_t b)
{
    if (sp->n == sp->cap) {
        size_t nc = sp->cap ? sp->cap * 2 : 16;
        cvs_span *p = realloc(sp->s, nc * sizeof *p);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory for sentence offsets");
        sp->s = p;
        sp->cap = nc;
    }
    sp->s[sp->n++] = (cvs_span){a, b};
    return CVS_OK;
}

/* Bytes of the white-space character at s[i] (of n), 0 when none: ASCII
 * white space and Unicode's Zs/line separators, since data sets collapse
 * white space with Unicode's definition (Python's str.split does). */
static size_t space_at(const char *s, size_t i, size_t n)
{
    const unsigned char *p = (const unsigned char *)s + i;
    size_t left = n - i;
    if (left == 0)
        return 0;
    if (is_space(p[0]))
        return 1;
    if (left >= 2 && p[0] == 0xC2 && (p[1] == 0xA0 || p[1] == 0x85))
        return 2; /* U+00A0, U+0085 */
    if (left >= 3 && p[0] == 0xE2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
        return 3; /* U+2000..U+200A, U+2028, U+2029, U+202F */
    if (left >= 3 && ((p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F) ||
                      (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) ||
                      (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)))
        return 3; /* U+205F, U+3000, U+1680 */
    return 0;
}

/* Matches sentence s (trimmed) at text[at..]: white-space runs match
 * white-space runs.  Returns the end of the match, or 0 when none. */
static size_t match_at(const char *t, size_t len, size_t at, const char *s, size_t n)
{
    size_t i = at, j = 0, w;
    while (j < n) {
        if (space_at(s, j, n)) {
            if (!space_at(t, i, len))
                return 0;
            while ((w = space_at(s, j, n)))
                j += w;
            while ((w = space_at(t, i, len)))
                i += w;
            continue;
        }
        if (i >= len || t[i] != s[j])
            return 0;
        i++;
        j++;
    }
    return i;
}

/* The last white-space character ending at s[m] (of n), its length. */
static size_t space_before(const char *s, size_t m)
{
    for (size_t w = 1; w <= 3 && w <= m; w++)
        if (space_at(s, m - w, m) == w)
            return w;
    return 0;
}

int cvs__sent_locate(const char *text, size_t len, const char *const *sents,
                     const size_t *lens, size_t n, cvs_spans *sp)
{
    size_t pos = 0;
    int rc;
    sp->n = 0;
    if (len >= UINT32_MAX)
        return cvs__err(CVS_EINPUT, "text of %zu bytes is too long for sentence offsets", len);
    for (size_t k = 0; k < n; k++) {
        const char *s = sents[k];
        size_t m = lens[k], found = 0, end = 0, w;
        while ((w = space_at(s, 0, m))) {
            s += w;
            m -= w;
        }
        while ((w = space_before(s, m)))
            m -= w;
        if (m == 0) { /* blank: an empty span keeps the indexes */
            if ((rc = cvs__spans_push(sp, (uint32_t)pos, (uint32_t)pos)))
                return rc;
            continue;
        }
        for (size_t at = pos; at < len; at++) {
            const char *hit = memchr(text + at, s[0], len - at);
            if (!hit)
                break;
            at = (size_t)(hit - text);
            if ((end = match_at(text, len, at, s, m))) {
                found = at + 1;
                break;
            }
        }
        if (!found)
            return cvs__err(CVS_EINPUT, "sentence %zu (\"%.40s%s\") is not in the text%s", k,
                            s, m > 40 ? "..." : "", k ? " after the sentence before it" : "");
        if ((rc = cvs__spans_push(sp, (uint32_t)(found - 1), (uint32_t)end)))
            return rc;
        pos = end;
    }
    return CVS_OK;
}
