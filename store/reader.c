/*
 * reader.c -- the format-independent half of the streaming readers
 * (store/reader.h): open, dispatch, byte accounting, rewind, close, and the
 * raw-payload helpers the vector formats share.
 *
 * Every reader works on a stdio stream with a large buffer and holds one
 * record at a time, so memory is constant in the file's length (a jsonl
 * line is the exception: it is held whole, since a record is a line).
 * Sizes come from fstat at open; a file that grows while it is read is read
 * to its new end, and its "total" is then only an estimate for progress.
 *
 * Strictness shared by all formats:
 *  1. An empty file is an error, not zero records: a file of queries or
 *     vectors to load that holds nothing is almost always a wrong path or
 *     a failed download.  The importer alone opens one as zero records
 *     (CVS_READER_EMPTY_OK): the export of an empty store is empty, and
 *     its import must restore that store (query/import.c).
 *  2. A dimension of 0 or above CVS_MAX_DIM is an error at the first record
 *     that declares it.
 *  3. Non-finite values (NaN, +-Inf, and f16/f32 overflow) are rejected:
 *     the store refuses them anyway, and naming the record here is kinder.
 *
 * Pipes.  The importer reads a file twice (validate, then write) and
 * re-reads single lines to report duplicates, so it needs a file it can
 * seek.  Standard input ("-") and anything else that is not a regular file
 * (a pipe, /dev/stdin, a FIFO, a process substitution) is first copied to a
 * spool: an unlinked temporary file in $TMPDIR (else /tmp), owner-only, gone
 * when the reader closes or the process dies.  The import then keeps its
 * all-or-nothing promise for pipes too, at the price of disk space for one
 * copy of the input.  A re-read opens the spool again through
 * /proc/self/fd (a new file offset, so the reader's own is not moved).
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db.h"
#include "store/reader_impl.h"
#include "store/spans.h"

#define READ_BUF (1u << 20)

int cvs__reader_read(cvs_reader *r, void *buf, size_t n, size_t *got)
{
    size_t k = n ? fread(buf, 1, n, r->f) : 0;
    if (got)
        *got = k;
    r->pos += k;
    if (k == n)
        return 0;
    if (ferror(r->f))
        return cvs__err(CVS_EIO, "%s: read error: %s", r->path, strerror(errno));
    return k == 0 ? 1 : 2;
}

int cvs__reader_alloc(cvs_reader *r, uint32_t dim)
{
    if (dim <= r->vec_cap)
        return CVS_OK;
    free(r->vec);
    free(r->raw);
    r->vec = malloc((size_t)dim * sizeof(float));
    r->raw = malloc((size_t)dim * (r->el_size ? r->el_size : 4));
    if (!r->vec || !r->raw) {
        r->vec_cap = 0;
        return cvs__err(CVS_ENOMEM, "%s: out of memory for a vector of %u values", r->path, dim);
    }
    r->vec_cap = dim;
    return CVS_OK;
}

int cvs__reader_convert(cvs_reader *r, uint64_t recno)
{
    const unsigned char *p = r->raw;
    for (uint32_t i = 0; i < r->dim; i++) {
        float v;
        switch (r->el) {
        case CVS__EL_F32: {
            uint32_t b = cvs__get_u32(p + 4 * (size_t)i);
            memcpy(&v, &b, 4);
            break;
        }
        case CVS__EL_F16:
            v = cvs__f16_to_f32_scalar1(cvs__get_u16(p + 2 * (size_t)i));
            break;
        case CVS__EL_U8:
            v = p[i];
            break;
        case CVS__EL_F64: {
            uint64_t b = cvs__get_u64(p + 8 * (size_t)i);
            double d;
            memcpy(&d, &b, 8);
            /* Rounding would turn these into infinities: say what they were. */
            if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX))
                return cvs__err(CVS_EINPUT, "%s: record %llu: value %u (%g) is outside the "
                                "float32 range the store keeps (|x| <= %g)", r->path,
                                (unsigned long long)recno, i, d, (double)FLT_MAX);
            v = (float)d;
            break;
        }
        default: /* ivecs: exact up to 2^24, which is all a vector needs */
            v = (float)(int32_t)cvs__get_u32(p + 4 * (size_t)i);
            break;
        }
        if (!isfinite(v))
            return cvs__err(CVS_EINPUT, "%s: record %llu: value %u is %s", r->path,
                            (unsigned long long)recno, i, isnan(v) ? "NaN" : "infinite");
        r->vec[i] = v;
    }
    return CVS_OK;
}

int cvs__open_errno_rc(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ELOOP:
    case ENAMETOOLONG:
    case EISDIR:
        return CVS_EINVAL;
    default:
        return CVS_EIO;
    }
}

/* Copies in (named name for messages) to an unlinked temporary file and
 * returns it positioned at its start. */
static int spool(FILE *in, const char *name, FILE **out)
{
    const char *dir = getenv("TMPDIR");
    char tmpl[4200], buf[65536];
    size_t got;
    int fd = -1, rc = CVS_OK;

    *out = NULL;
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/cvstore-spool-XXXXXX", dir);
    if ((fd = mkstemp(tmpl)) < 0)
        return cvs__err(CVS_EIO, "%s: cannot make a spool file in %s: %s", name, dir,
                        strerror(errno));
    unlink(tmpl);
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        for (size_t done = 0; done < got;) {
            ssize_t w = write(fd, buf + done, got - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = cvs__err(CVS_EIO, "%s: copying it to a spool file in %s: %s", name, dir,
                              strerror(errno));
                goto out;
            }
            done += (size_t)w;
        }
    }
    if (ferror(in)) {
        rc = cvs__err(CVS_EIO, "%s: read error: %s", name, strerror(errno));
        goto out;
    }
    if (lseek(fd, 0, SEEK_SET) != 0 || !(*out = fdopen(fd, "rb")))
        rc = cvs__err(CVS_EIO, "%s: spool file: %s", name, strerror(errno));
out:
    if (rc || !*out)
        close(fd);
    return rc;
}

int cvs__input_open(const char *path, const char *name, FILE **out, char *reopen, size_t cap)
{
    struct stat st;
    FILE *f;
    int rc = CVS_OK;

    *out = NULL;
    if (!strcmp(path, "-")) {
        f = stdin;
    } else if (!(f = fopen(path, "rb"))) {
        return cvs__err(cvs__open_errno_rc(errno), "%s: %s", name, strerror(errno));
    }
    if (fstat(fileno(f), &st) != 0) {
        rc = cvs__err(CVS_EIO, "%s: %s", name, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = cvs__err(CVS_EINVAL, "%s: is a directory", name);
        goto out;
    }
    if (S_ISREG(st.st_mode) && f != stdin) {
        snprintf(reopen, cap, "%s", path);
        *out = f;
        return CVS_OK;
    }
    if ((rc = spool(f, name, out)))
        goto out;
    snprintf(reopen, cap, "/proc/self/fd/%d", fileno(*out));
out:
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ==== reader.h ==== */

int cvs_reader_open(const char *path, cvs_format fmt, uint32_t expect_dim, cvs_reader **out)
{
    return cvs_reader_open_flags(path, fmt, expect_dim, 0, out);
}

int cvs_reader_open_flags(const char *path, cvs_format fmt, uint32_t expect_dim,
                          unsigned flags, cvs_reader **out)
{
    cvs_reader *r = NULL;
    struct stat st;
    int rc = CVS_OK;

    *out = NULL;
    if (!path)
        return cvs__err(CVS_EINVAL, "cvs_reader_open: NULL path");
    if (expect_dim > CVS_MAX_DIM)
        return cvs__err(CVS_EINVAL, "cvs_reader_open: dimension %u too large", expect_dim);
    if (!(r = calloc(1, sizeof *r)) || !(r->path = strdup(cvs__input_name(path)))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    r->fmt = fmt;
    r->expect_dim = expect_dim;
    r->allow_noid = (flags & CVS_READER_NO_ID) != 0;
    if ((rc = cvs__input_open(path, r->path, &r->f, r->reopen, sizeof r->reopen)))
        goto out;
    /* The buffer is a hint only: stdio keeps working without it. */
    setvbuf(r->f, NULL, _IOFBF, READ_BUF);
    if (fstat(fileno(r->f), &st) != 0) {
        rc = cvs__err(CVS_EIO, "%s: %s", r->path, strerror(errno));
        goto out;
    }
    r->size = (uint64_t)st.st_size;
    if (r->size == 0 && (flags & CVS_READER_EMPTY_OK)) {
        r->empty = 1;
        goto out;
    }
    if (r->size == 0) {
        rc = cvs__err(CVS_EINPUT, "%s: empty %s", r->path, strcmp(path, "-") ? "file" : "input");
        goto out;
    }
    switch (fmt) {
    case CVS_FMT_FVECS:
    case CVS_FMT_BVECS:
    case CVS_FMT_IVECS:
        rc = cvs__vf_open(r);
        break;
    case CVS_FMT_NPY:
        rc = cvs__npy_open(r);
        break;
    case CVS_FMT_JSONL:
        rc = cvs__jsonl_open(r);
        break;
    default:
        rc = cvs__err(CVS_EINVAL, "%s: format must be resolved before opening a reader", path);
        break;
    }
out:
    if (rc) {
        cvs_reader_close(r);
        return rc;
    }
    *out = r;
    return CVS_OK;
}

int cvs_reader_next(cvs_reader *r, cvs_rrec *rec)
{
    int rc;
    memset(rec, 0, sizeof *rec);
    if (r->empty)
        return CVS_NOTFOUND;
    switch (r->fmt) {
    case CVS_FMT_NPY:
        rc = cvs__npy_next(r, rec);
        break;
    case CVS_FMT_JSONL:
        rc = cvs__jsonl_next(r, rec);
        break;
    default:
        rc = cvs__vf_next(r, rec);
        break;
    }
    if (rc == CVS_OK)
        r->recno++;
    return rc;
}

uint64_t cvs_reader_total(const cvs_reader *r) { return r->total; }
uint64_t cvs_reader_bytes_done(const cvs_reader *r) { return r->pos; }
uint64_t cvs_reader_bytes_total(const cvs_reader *r) { return r->size; }
uint32_t cvs_reader_dim(const cvs_reader *r) { return r->dim; }
const char *cvs_reader_reopen_path(const cvs_reader *r) { return r->reopen; }

const char *cvs__input_name(const char *path)
{
    return strcmp(path, "-") ? path : "standard input";
}

int cvs_reader_rewind(cvs_reader *r)
{
    if (fseeko(r->f, (off_t)r->data_off, SEEK_SET) != 0)
        return cvs__err(CVS_EIO, "%s: cannot rewind: %s", r->path, strerror(errno));
    clearerr(r->f);
    r->pos = r->data_off;
    r->recno = 0;
    r->lineno = 0;
    cvs__jsonl_release(r);
    return CVS_OK;
}

void cvs_reader_close(cvs_reader *r)
{
    if (!r)
        return;
    cvs__jsonl_release(r);
    if (r->f)
        fclose(r->f);
    free(r->links);
    for (size_t i = 0; i < r->nunknown; i++)
        free(r->unknown[i]);
    free(r->unknown);
    if (r->sents)
        free(r->sents->s);
    free(r->sents);
    free(r->sjoin);
    free(r->line);
    free(r->vec);
    free(r->raw);
    free(r->path);
    free(r);
}
