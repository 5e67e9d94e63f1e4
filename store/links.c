/*
 * links.c -- the value layout of the "links" database (docs/FORMAT.md):
 *   u32 n, then n times { u16 id_len, u16 type_len, f32 weight,
 *                         id bytes, type bytes }.
 * Links are kept by external id, not internal key, because a link may be
 * written before its target exists (JSONL files link forward); the
 * "backlinks" database lets delete find and drop the links into a record.
 */
#include <stdlib.h>
#include <string.h>

#include "store/db.h"

#define LINK_FIXED 8

size_t cvs__links_encoded_size(const cvs_link *links, size_t n)
{
    size_t s = 4;
    for (size_t i = 0; i < n; i++)
        s += LINK_FIXED + links[i].id_len + (links[i].type ? strlen(links[i].type) : 0);
    return s;
}

void cvs__links_encode(const cvs_link *links, size_t n, unsigned char *out)
{
    cvs__put_u32(out, (uint32_t)n);
    out += 4;
    for (size_t i = 0; i < n; i++) {
        size_t tl = links[i].type ? strlen(links[i].type) : 0;
        float w = links[i].weight;
        cvs__put_u16(out, (uint16_t)links[i].id_len);
        cvs__put_u16(out + 2, (uint16_t)tl);
        memcpy(out + 4, &w, 4);
        memcpy(out + LINK_FIXED, links[i].id, links[i].id_len);
        if (tl)
            memcpy(out + LINK_FIXED + links[i].id_len, links[i].type, tl);
        out += LINK_FIXED + links[i].id_len + tl;
    }
}

int cvs__links_decode(const void *val, size_t len, cvs_link **out, size_t *nout)
{
    const unsigned char *p = val, *end = p + len;
    size_t n, types = 0;
    cvs_link *links;
    char *tbuf;

    *out = NULL;
    *nout = 0;
    if (len < 4)
        return cvs__err(CVS_ECORRUPT, "links value too short (%zu bytes)", len);
    n = cvs__get_u32(p);
    p += 4;
    /* First pass validates lengths, so the second cannot overrun. */
    for (size_t i = 0; i < n; i++) {
        size_t il, tl;
        if ((size_t)(end - p) < LINK_FIXED)
            return cvs__err(CVS_ECORRUPT, "links value truncated at link %zu", i);
        il = cvs__get_u16(p);
        tl = cvs__get_u16(p + 2);
        if ((size_t)(end - p) < LINK_FIXED + il + tl || il == 0)
            return cvs__err(CVS_ECORRUPT, "links value truncated at link %zu", i);
        types += tl + 1;
        p += LINK_FIXED + il + tl;
    }
    if (p != end)
        return cvs__err(CVS_ECORRUPT, "links value has %zu trailing bytes", (size_t)(end - p));
    if (n == 0)
        return CVS_OK;
    links = malloc(n * sizeof *links + types);
    if (!links)
        return cvs__err(CVS_ENOMEM, "out of memory decoding links");
    tbuf = (char *)(links + n);
    p = (const unsigned char *)val + 4;
    for (size_t i = 0; i < n; i++) {
        size_t il = cvs__get_u16(p), tl = cvs__get_u16(p + 2);
        memcpy(&links[i].weight, p + 4, 4);
        links[i].id = (const char *)p + LINK_FIXED;
        links[i].id_len = il;
        memcpy(tbuf, p + LINK_FIXED + il, tl);
        tbuf[tl] = '\0';
        links[i].type = tl ? tbuf : NULL;
        tbuf += tl + 1;
        p += LINK_FIXED + il + tl;
    }
    *out = links;
    *nout = n;
    return CVS_OK;
}
