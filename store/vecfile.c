/*
 * vecfile.c -- the TEXMEX vector formats (fvecs, bvecs, ivecs), format
 * names, and the whole-file loaders cvs_vecs_load / cvs_ivecs_load.
 *
 * The format is the one of the TEXMEX corpus (Jégou, Douze, Schmid;
 * http://corpus-texmex.irisa.fr/, used by SIFT1M/GIST1M/SIFT1B): a file is
 * a plain sequence of records, each a little-endian int32 dimension d
 * followed by d values -- float32 (fvecs), uint8 (bvecs) or int32 (ivecs).
 * There is no header, no magic and no count, so the only checks the format
 * allows are the ones on each record's dimension and on the file's end.
 *
 * Where we are stricter than the corpus tools (which read whatever is there):
 *  1. Every record must have the first record's dimension (CVS_EDIM
 *     otherwise): the format permits ragged files, but no vector store or
 *     benchmark uses one, and a changing "dimension" is how a wrong file type
 *     or a corrupted file shows itself.
 *  2. A record cut short (partial header or payload) is an error naming the
 *     record, never silently dropped.
 *  3. NaN and Inf are rejected (reader.c); ivecs values are converted to
 *     float only for cvs_vecs_load, cvs_ivecs_load keeps them exact.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "store/db.h"
#include "store/reader_impl.h"

/* ==== Format names ==== */

static const struct {
    const char *name;
    cvs_format fmt;
} fmt_names[] = {
    {"auto", CVS_FMT_AUTO},   {"fvecs", CVS_FMT_FVECS}, {"bvecs", CVS_FMT_BVECS},
    {"npy", CVS_FMT_NPY},     {"jsonl", CVS_FMT_JSONL}, {"ivecs", CVS_FMT_IVECS},
    /* Aliases people type; listed after the canonical names so that
     * cvs_format_name finds those first. */
    {"ndjson", CVS_FMT_JSONL}, {"json", CVS_FMT_JSONL},
};

CVS_API int cvs_format_parse(const char *s, cvs_format *out)
{
    if (!s || !out)
        return cvs__err(CVS_EINVAL, "cvs_format_parse: NULL argument");
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (strcasecmp(s, fmt_names[i].name) == 0) {
            *out = fmt_names[i].fmt;
            return CVS_OK;
        }
    return cvs__err(CVS_EINVAL, "unknown format \"%s\" (fvecs, bvecs, ivecs, npy, jsonl or auto)", s);
}

CVS_API const char *cvs_format_name(cvs_format f)
{
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (fmt_names[i].fmt == f)
            return fmt_names[i].name;
    return "unknown";
}

CVS_API int cvs_format_guess(const char *path, cvs_format *out)
{
    static const struct {
        const char *ext;
        cvs_format fmt;
    } exts[] = {
        {"fvecs", CVS_FMT_FVECS}, {"bvecs", CVS_FMT_BVECS}, {"ivecs", CVS_FMT_IVECS},
        {"npy", CVS_FMT_NPY},     {"jsonl", CVS_FMT_JSONL}, {"json", CVS_FMT_JSONL},
        {"ndjson", CVS_FMT_JSONL},
    };
    /* Compressed files are read by their tools, in a pipe: the importer
     * takes standard input (cvs_import's "-"). */
    static const struct {
        const char *ext, *tool; /* the command that writes the file out */
    } packed[] = {
        {"gz", "gunzip -c"}, {"tgz", "tar -xzOf"}, {"bz2", "bzip2 -dc"}, {"xz", "xz -dc"},
        {"zst", "zstd -dc"}, {"zip", "unzip -p"},  {"lz4", "lz4 -dc"},
    };
    const char *dot, *slash;
    struct stat st;
    if (!path || !out)
        return cvs__err(CVS_EINVAL, "cvs_format_guess: NULL argument");
    dot = strrchr(path, '.');
    slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) {
        for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
            if (strcasecmp(dot + 1, exts[i].ext) == 0) {
                *out = exts[i].fmt;
                return CVS_OK;
            }
        for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++)
            if (strcasecmp(dot + 1, packed[i].ext) == 0)
                return cvs__err(CVS_EINVAL, "%s: a compressed file (.%s): decompress it, or pipe "
                                "it in (%s FILE | cvstore import DB - --format jsonl)", path,
                                packed[i].ext, packed[i].tool);
    }
    /* A directory has no name to tell a format by, and "give it
     * explicitly" would send the user to the wrong fix. */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cvs__err(CVS_EINVAL, "%s: is a directory, not a file of records", path);
    return cvs__err(CVS_EINVAL, "%s: cannot tell the format from the file name "
                    "(.fvecs .bvecs .ivecs .npy .jsonl); give it explicitly", path);
}

/* ==== The reader ==== */

static int check_dim(cvs_reader *r, int32_t d, uint64_t recno)
{
    if (d <= 0 || d > CVS_MAX_DIM)
        return cvs__err(CVS_EINPUT, "%s: record %llu: dimension %d is out of range (1..%d)",
                        r->path, (unsigned long long)recno, (int)d, CVS_MAX_DIM);
    return CVS_OK;
}

int cvs__vf_open(cvs_reader *r)
{
    unsigned char h[4];
    size_t got;
    int32_t d;
    int rc;

    r->el = r->fmt == CVS_FMT_FVECS ? CVS__EL_F32 : r->fmt == CVS_FMT_BVECS ? CVS__EL_U8 : CVS__EL_I32;
    r->el_size = r->el == CVS__EL_U8 ? 1 : 4;
    if ((rc = cvs__reader_read(r, h, 4, &got)) < 0)
        return rc;
    if (rc)
        return cvs__err(CVS_EINPUT, "%s: record 0: truncated: %zu of 4 header bytes", r->path, got);
    d = (int32_t)cvs__get_u32(h);
    if ((rc = check_dim(r, d, 0)))
        return rc;
    if (r->expect_dim && (uint32_t)d != r->expect_dim)
        return cvs__err(CVS_EDIM, "%s: record 0: dimension %d, expected %u", r->path, (int)d,
                        r->expect_dim);
    r->dim = (uint32_t)d;
    r->total = r->size / (4 + (uint64_t)r->dim * r->el_size);
    if ((rc = cvs__reader_alloc(r, r->dim)))
        return rc;
    /* Records are read whole, header included: go back to the first. */
    return cvs_reader_rewind(r);
}

int cvs__vf_next(cvs_reader *r, cvs_rrec *rec)
{
    unsigned char h[4];
    size_t got, want = (size_t)r->dim * r->el_size;
    int32_t d;
    int rc;

    r->rec_off = r->pos;
    if ((rc = cvs__reader_read(r, h, 4, &got)) < 0)
        return rc;
    if (rc == 1)
        return CVS_NOTFOUND;
    if (rc == 2)
        return cvs__err(CVS_EINPUT, "%s: record %llu: truncated: %zu of 4 header bytes",
                        r->path, (unsigned long long)r->recno, got);
    d = (int32_t)cvs__get_u32(h);
    if ((rc = check_dim(r, d, r->recno)))
        return rc;
    if ((uint32_t)d != r->dim)
        return cvs__err(CVS_EDIM, "%s: record %llu: dimension %d differs from the file's %u",
                        r->path, (unsigned long long)r->recno, (int)d, r->dim);
    if ((rc = cvs__reader_read(r, r->raw, want, &got)) < 0)
        return rc;
    if (rc)
        return cvs__err(CVS_EINPUT, "%s: record %llu: truncated: %zu of %zu value bytes",
                        r->path, (unsigned long long)r->recno, got, want);
    if ((rc = cvs__reader_convert(r, r->recno)))
        return rc;
    rec->vec = r->vec;
    rec->dim = r->dim;
    rec->recno = r->recno;
    return CVS_OK;
}

/* ==== Whole-file loaders ==== */

/* Appends one row of row_bytes to a growing array. */
static int push_row(void **data, size_t *cap, size_t n, const void *row, size_t row_bytes)
{
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void *p;
        if (nc > SIZE_MAX / row_bytes)
            return cvs__err(CVS_ENOMEM, "vector file too large for memory");
        if (!(p = realloc(*data, nc * row_bytes)))
            return cvs__err(CVS_ENOMEM, "out of memory loading vectors (%zu rows)", n);
        *data = p;
        *cap = nc;
    }
    memcpy((char *)*data + n * row_bytes, row, row_bytes);
    return CVS_OK;
}

static int load(const char *path, cvs_format fmt, int ints, void **data, size_t *n,
                uint32_t *dim)
{
    cvs_reader *r = NULL;
    void *buf = NULL;
    size_t cap = 0, cnt = 0, row;
    cvs_rrec rec;
    int rc;

    if (!path || !data || !n || !dim)
        return cvs__err(CVS_EINVAL, "cvs_vecs_load: NULL argument");
    *data = NULL;
    *n = 0;
    *dim = 0;
    if (fmt == CVS_FMT_AUTO && (rc = cvs_format_guess(path, &fmt)))
        return rc;
    if (ints && fmt != CVS_FMT_IVECS)
        return cvs__err(CVS_EINVAL, "%s: cvs_ivecs_load reads ivecs only", path);
    /* The vectors are all that is kept: a query file's lines need no id. */
    if ((rc = cvs_reader_open_flags(path, fmt, 0, CVS_READER_NO_ID, &r)))
        return rc;
    /* Sized up front when the file says how many records it holds, so the
     * usual load is one allocation and no copies. */
    if (r->total && r->dim) {
        row = (size_t)r->dim * 4;
        if (r->total > SIZE_MAX / row) {
            rc = cvs__err(CVS_ENOMEM, "%s: too large for memory", path);
            goto out;
        }
        cap = r->total;
        if (!(buf = malloc(cap * row))) {
            rc = cvs__err(CVS_ENOMEM, "%s: out of memory for %zu vectors", path, cap);
            goto out;
        }
    }
    while ((rc = cvs_reader_next(r, &rec)) == CVS_OK) {
        row = (size_t)rec.dim * 4;
        if ((rc = push_row(&buf, &cap, cnt, ints ? (const void *)r->raw : (const void *)rec.vec, row)))
            goto out;
        cnt++;
    }
    if (rc != CVS_NOTFOUND)
        goto out;
    rc = CVS_OK;
    if (!buf && !(buf = malloc(1))) { /* zero records (npy shape (0, d)) */
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    *data = buf;
    *n = cnt;
    *dim = r->dim;
    buf = NULL;
out:
    free(buf);
    cvs_reader_close(r);
    return rc;
}

CVS_API int cvs_vecs_load(const char *path, cvs_format fmt, float **data, size_t *n, uint32_t *dim)
{
    return load(path, fmt, 0, (void **)data, n, dim);
}

CVS_API int cvs_ivecs_load(const char *path, int32_t **data, size_t *n, uint32_t *dim)
{
    return load(path, CVS_FMT_IVECS, 1, (void **)data, n, dim);
}

CVS_API void cvs_free(void *p)
{
    free(p);
}
