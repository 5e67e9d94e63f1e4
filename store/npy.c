/*
 * npy.c -- reader for NumPy's .npy files holding a 2-D array of vectors.
 *
 * The format is specified in NumPy's "A Simple File Format for NumPy
 * Arrays" (NEP 1) and the numpy.lib.format documentation: the magic
 * "\x93NUMPY", a major and a minor version byte, the header length
 * (little-endian u16 in version 1.0, u32 in 2.0 and 3.0), then the header --
 * the repr of a Python dict with exactly the keys 'descr', 'fortran_order'
 * and 'shape', padded with spaces and a newline (3.0 only differs by
 * allowing UTF-8 in it) -- then the raw array data.
 *
 * The header is a Python literal.  We never evaluate it: a small parser
 * accepts exactly the dict grammar NumPy writes (quoted keys, a quoted
 * dtype string, True/False, a tuple of integers, optional trailing commas)
 * and anything else is CVS_EINPUT naming what it found.
 *
 * Where we are stricter or narrower than NumPy:
 *  1. dtypes: '<f4' (float32), '<f2' (float16, widened exactly), '<f8'
 *     (float64, NumPy's default: rounded to the nearest float32, and a value
 *     beyond float32's range is an error naming it rather than an infinity),
 *     '|u1' or '<u1' (uint8).  Big-endian, other widths and structured
 *     dtypes are refused with a message saying so; convert with
 *     arr.astype('<f4').
 *  2. 'fortran_order': True is refused (a column-major file would need the
 *     whole array in memory to stream rows); np.ascontiguousarray fixes it.
 *  3. shape must be (n, d) or (d,) -- the latter is one vector.
 *  4. The data must be exactly as long as the shape says: a short file names
 *     the first incomplete record, extra bytes at the end are an error too
 *     (NumPy ignores them; here they suggest a file written twice).
 *  5. We do not insist on the 64-byte alignment of the header that NumPy
 *     writes (older NumPy used 16), nor on a trailing newline: neither
 *     affects reading.  The header is capped at 1 MiB (NumPy itself refuses
 *     headers above 10000 bytes by default).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/reader_impl.h"

#define NPY_MAX_HEADER (1u << 20)

/* ==== Header dict parser ==== */

typedef struct hp {
    const char *s, *end;
    const char *path;
} hp;

static void skip_ws(hp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int bad(hp *p, const char *what)
{
    if (p->s >= p->end)
        return cvs__err(CVS_EINPUT, "%s: npy header: %s, found the end of the header", p->path, what);
    /* Show a few printable characters of what was there instead. */
    {
        char shown[17];
        size_t n = 0;
        for (const char *q = p->s; q < p->end && n < 16; q++)
            shown[n++] = (*q >= 0x20 && *q < 0x7f) ? *q : '?';
        while (n && shown[n - 1] == ' ') /* NumPy's padding says nothing */
            n--;
        shown[n] = '\0';
        return cvs__err(CVS_EINPUT, "%s: npy header: %s, found \"%s\"", p->path, what, shown);
    }
}

/* A quoted string without escapes ('...' or "..."), as NumPy's repr writes
 * keys and dtype strings. */
static int parse_str(hp *p, const char **s, size_t *len)
{
    char q;
    const char *start;
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return bad(p, "expected a quoted string");
    q = *p->s++;
    start = p->s;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' || *p->s == '\n')
            return bad(p, "escapes and newlines are not expected in a header string");
        p->s++;
    }
    if (p->s >= p->end)
        return bad(p, "unterminated string");
    *s = start;
    *len = (size_t)(p->s - start);
    p->s++;
    return CVS_OK;
}

static int lit(hp *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, word, n) == 0) {
        p->s += n;
        return 1;
    }
    return 0;
}

/* (a, b, ...) of non-negative integers; Python 2 wrote a trailing L. */
static int parse_shape(hp *p, uint64_t *dims, int *ndims)
{
    *ndims = 0;
    if (!lit(p, "("))
        return bad(p, "expected a shape tuple");
    skip_ws(p);
    while (!lit(p, ")")) {
        uint64_t v = 0;
        int digits = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return bad(p, "shape value too large");
            v = v * 10 + (uint64_t)(*p->s++ - '0');
            digits++;
        }
        if (!digits)
            return bad(p, "expected a non-negative integer in the shape");
        lit(p, "L");
        if (*ndims == 3)
            return cvs__err(CVS_EINPUT, "%s: npy shape has more than 2 dimensions; "
                            "expected (n, d) or (d,)", p->path);
        dims[(*ndims)++] = v;
        skip_ws(p);
        if (lit(p, ",")) {
            skip_ws(p);
        } else if (p->s < p->end && *p->s != ')') {
            return bad(p, "expected ',' or ')' in the shape");
        }
    }
    return CVS_OK;
}

typedef struct npy_hdr {
    const char *descr;
    size_t descr_len;
    int fortran;
    uint64_t dims[3];
    int ndims;
} npy_hdr;

static int parse_header(hp *p, npy_hdr *h)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0, rc;

    skip_ws(p);
    if (!lit(p, "{"))
        return bad(p, "expected '{'");
    for (;;) {
        const char *k;
        size_t kl;
        skip_ws(p);
        if (lit(p, "}"))
            break;
        if ((rc = parse_str(p, &k, &kl)))
            return rc;
        skip_ws(p);
        if (!lit(p, ":"))
            return bad(p, "expected ':' after a key");
        skip_ws(p);
        if (kl == 5 && memcmp(k, "descr", 5) == 0 && !have_descr) {
            if ((rc = parse_str(p, &h->descr, &h->descr_len)))
                return rc == CVS_EINPUT && p->s < p->end && (*p->s == '[' || *p->s == '{')
                           ? cvs__err(CVS_EINPUT, "%s: npy structured dtypes are not supported; "
                                      "save a plain 2-D float32 array", p->path)
                           : rc;
            have_descr = 1;
        } else if (kl == 13 && memcmp(k, "fortran_order", 13) == 0 && !have_fortran) {
            if (lit(p, "True"))
                h->fortran = 1;
            else if (lit(p, "False"))
                h->fortran = 0;
            else
                return bad(p, "expected True or False for 'fortran_order'");
            have_fortran = 1;
        } else if (kl == 5 && memcmp(k, "shape", 5) == 0 && !have_shape) {
            if ((rc = parse_shape(p, h->dims, &h->ndims)))
                return rc;
            have_shape = 1;
        } else {
            return cvs__err(CVS_EINPUT, "%s: npy header: unexpected or repeated key '%.*s'",
                            p->path, (int)(kl > 64 ? 64 : kl), k);
        }
        skip_ws(p);
        if (lit(p, ","))
            continue;
        skip_ws(p);
        if (lit(p, "}"))
            break;
        return bad(p, "expected ',' or '}'");
    }
    skip_ws(p);
    /* NumPy pads with spaces and ends with '\n'; a NUL pad is seen in the
     * wild from some writers and is harmless. */
    while (p->s < p->end && *p->s == '\0')
        p->s++;
    if (p->s != p->end)
        return bad(p, "unexpected text after the header dict");
    if (!have_descr || !have_fortran || !have_shape)
        return cvs__err(CVS_EINPUT, "%s: npy header lacks '%s'", p->path,
                        !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return CVS_OK;
}

static int set_dtype(cvs_reader *r, const npy_hdr *h)
{
    static const struct {
        const char *d;
        int el;
        size_t sz;
    } ok[] = {
        {"<f4", CVS__EL_F32, 4}, {"<f2", CVS__EL_F16, 2}, {"<f8", CVS__EL_F64, 8},
        {"|u1", CVS__EL_U8, 1}, {"<u1", CVS__EL_U8, 1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (h->descr_len == 3 && memcmp(h->descr, ok[i].d, 3) == 0) {
            r->el = ok[i].el;
            r->el_size = ok[i].sz;
            return CVS_OK;
        }
    if (h->descr_len == 3 && h->descr[0] == '>')
        return cvs__err(CVS_EINPUT, "%s: npy dtype '%.3s' is big-endian; save it as '<%.2s'",
                        r->path, h->descr, h->descr + 1);
    return cvs__err(CVS_EINPUT, "%s: npy dtype '%.*s' is not supported "
                    "(float32 '<f4', float64 '<f8', float16 '<f2' or uint8 '|u1')",
                    r->path, (int)(h->descr_len > 32 ? 32 : h->descr_len), h->descr);
}

/* ==== The reader ==== */

int cvs__npy_open(cvs_reader *r)
{
    unsigned char pre[12];
    char *hdr = NULL;
    size_t got, pre_len, hl;
    npy_hdr h = {0};
    hp p;
    uint64_t n, d, row, avail;
    int rc;

    if ((rc = cvs__reader_read(r, pre, 10, &got)) < 0)
        return rc;
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return cvs__err(CVS_EINPUT, "%s: not a .npy file (no \\x93NUMPY magic)", r->path);
    if (rc)
        return cvs__err(CVS_EINPUT, "%s: npy file truncated inside its preamble", r->path);
    if (pre[7] != 0 || pre[6] < 1 || pre[6] > 3)
        return cvs__err(CVS_EINPUT, "%s: npy format version %u.%u is not supported (1.0, 2.0, 3.0)",
                        r->path, pre[6], pre[7]);
    if (pre[6] == 1) {
        hl = cvs__get_u16(pre + 8);
        pre_len = 10;
    } else {
        if ((rc = cvs__reader_read(r, pre + 10, 2, &got)) < 0)
            return rc;
        if (rc)
            return cvs__err(CVS_EINPUT, "%s: npy file truncated inside its preamble", r->path);
        hl = cvs__get_u32(pre + 8);
        pre_len = 12;
    }
    if (hl > NPY_MAX_HEADER)
        return cvs__err(CVS_EINPUT, "%s: npy header of %zu bytes is implausibly large", r->path, hl);
    if (!(hdr = malloc(hl + 1)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = cvs__reader_read(r, hdr, hl, &got)) != 0) {
        if (rc > 0)
            rc = cvs__err(CVS_EINPUT, "%s: npy header truncated: %zu of %zu bytes", r->path, got, hl);
        goto out;
    }
    hdr[hl] = '\0';
    p.s = hdr;
    p.end = hdr + hl;
    p.path = r->path;
    if ((rc = parse_header(&p, &h)))
        goto out;
    if ((rc = set_dtype(r, &h)))
        goto out;
    if (h.fortran) {
        rc = cvs__err(CVS_EINPUT, "%s: npy array is in Fortran (column-major) order; "
                      "save np.ascontiguousarray(a) instead", r->path);
        goto out;
    }
    if (h.ndims == 1) {
        n = 1;
        d = h.dims[0];
    } else if (h.ndims == 2) {
        n = h.dims[0];
        d = h.dims[1];
    } else {
        rc = cvs__err(CVS_EINPUT, "%s: npy shape has %d dimensions; expected (n, d) or (d,)",
                      r->path, h.ndims);
        goto out;
    }
    if (d == 0 || d > CVS_MAX_DIM) {
        rc = cvs__err(CVS_EINPUT, "%s: npy dimension %llu is out of range (1..%d)", r->path,
                      (unsigned long long)d, CVS_MAX_DIM);
        goto out;
    }
    if (r->expect_dim && d != r->expect_dim) {
        rc = cvs__err(CVS_EDIM, "%s: npy vectors have dimension %llu, expected %u", r->path,
                      (unsigned long long)d, r->expect_dim);
        goto out;
    }
    r->dim = (uint32_t)d;
    r->data_off = pre_len + hl;
    row = d * r->el_size;
    avail = r->size > r->data_off ? r->size - r->data_off : 0;
    /* n * row may overflow for a lying header: compare by division. */
    if (n > avail / row) {
        rc = cvs__err(CVS_EINPUT, "%s: record %llu: truncated: the data holds %llu whole records "
                      "of the %llu the shape promises", r->path,
                      (unsigned long long)(avail / row), (unsigned long long)(avail / row),
                      (unsigned long long)n);
        goto out;
    }
    if (avail > n * row) {
        rc = cvs__err(CVS_EINPUT, "%s: %llu bytes after the %llu records the npy shape describes",
                      r->path, (unsigned long long)(avail - n * row), (unsigned long long)n);
        goto out;
    }
    r->total = n;
    rc = cvs__reader_alloc(r, r->dim);
out:
    free(hdr);
    return rc;
}

int cvs__npy_next(cvs_reader *r, cvs_rrec *rec)
{
    size_t got, want = (size_t)r->dim * r->el_size;
    int rc;

    if (r->recno >= r->total)
        return CVS_NOTFOUND;
    r->rec_off = r->pos;
    if ((rc = cvs__reader_read(r, r->raw, want, &got)) < 0)
        return rc;
    if (rc) /* the file shrank since it was opened */
        return cvs__err(CVS_EINPUT, "%s: record %llu: truncated: %zu of %zu bytes", r->path,
                        (unsigned long long)r->recno, got, want);
    if ((rc = cvs__reader_convert(r, r->recno)))
        return rc;
    rec->vec = r->vec;
    rec->dim = r->dim;
    rec->recno = r->recno;
    return CVS_OK;
}
