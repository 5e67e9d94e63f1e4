/*
 * fuzz_readers.c -- libFuzzer target for the streaming readers
 * (store/reader.h): every input is written to a temporary file and read to
 * its end or first error by each reader, twice (the second time after a
 * rewind, as cvs_import's second pass does), once taking the file's own
 * dimension and once expecting dimension 3; then cvs_vecs_load (or
 * cvs_ivecs_load) loads it whole.  A JSONL record's given sentences must
 * be spans of its text, in order and not overlapping.
 *
 * The readers take a path rather than a buffer because they stream from
 * stdio; a file per process in /tmp (tmpfs on most systems) keeps that
 * cheap.  CVS_FUZZ_FORMAT=fvecs|bvecs|ivecs|npy|jsonl limits a run to one
 * reader.  See fuzz/README.md for building and running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/reader.h"

static char path[64];
static cvs_format only = CVS_FMT_AUTO;
static volatile int c_sink;

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *f = getenv("CVS_FUZZ_FORMAT");
    (void)argc;
    (void)argv;
    snprintf(path, sizeof path, "/tmp/cvs-fuzz-readers-%ld", (long)getpid());
    atexit(cleanup);
    if (f && cvs_format_parse(f, &only) != 0) {
        fprintf(stderr, "CVS_FUZZ_FORMAT: %s\n", cvs_errmsg(NULL));
        exit(2);
    }
    return 0;
}

static void drain(cvs_format fmt, uint32_t expect)
{
    cvs_reader *r;
    cvs_rrec rec;
    if (cvs_reader_open(path, fmt, expect, &r) != 0)
        return;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t n = 0;
        while (cvs_reader_next(r, &rec) == 0) {
            /* Touch everything a record points at, so ASan sees any
             * dangling or short pointer. */
            volatile float acc = 0;
            volatile char c = 0;
            for (uint32_t i = 0; i < rec.dim; i++)
                acc += rec.vec[i];
            for (size_t i = 0; i < rec.id_len; i++)
                c ^= rec.id[i];
            for (size_t i = 0; i < rec.text_len; i++)
                c ^= rec.text[i];
            for (size_t i = 0; i < rec.meta_len; i++)
                c ^= rec.meta[i];
            for (size_t l = 0; l < rec.nlinks; l++) {
                for (size_t i = 0; i < rec.links[l].id_len; i++)
                    c ^= rec.links[l].id[i];
                if (rec.links[l].type)
                    c ^= (char)strlen(rec.links[l].type);
            }
            /* Given sentences: byte spans of the text, in order, never
             * overlapping (docs/FORMAT.md, "sents"), which the store
             * writes as they come. */
            if (rec.nsentences && (!rec.sentences || !rec.text))
                abort();
            for (size_t k = 0; k < rec.nsentences; k++) {
                uint32_t b = rec.sentences[2 * k], e = rec.sentences[2 * k + 1];
                if (b > e || e > rec.text_len || (k && b < rec.sentences[2 * k - 1]))
                    abort();
                for (uint32_t i = b; i < e; i++)
                    c ^= rec.text[i];
            }
            c_sink += (acc != 0) + c;
            if (rec.dim != cvs_reader_dim(r) || rec.recno != n)
                abort();
            n++;
        }
        if (cvs_reader_bytes_done(r) > cvs_reader_bytes_total(r))
            abort();
        if (cvs_reader_rewind(r) != 0)
            break;
    }
    cvs_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cvs_format fmts[] = {CVS_FMT_FVECS, CVS_FMT_BVECS, CVS_FMT_IVECS, CVS_FMT_NPY,
                                      CVS_FMT_JSONL};
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        if (only != CVS_FMT_AUTO && only != fmts[i])
            continue;
        drain(fmts[i], 0);
        drain(fmts[i], 3);
        {   /* the whole-file loaders share the readers but not their buffers */
            void *v = NULL;
            size_t n;
            uint32_t d;
            int rc = fmts[i] == CVS_FMT_IVECS ? cvs_ivecs_load(path, (int32_t **)&v, &n, &d)
                                              : cvs_vecs_load(path, fmts[i], (float **)&v, &n, &d);
            if (rc == 0 && n && ((const volatile char *)v)[n * d * 4 - 1] == 1)
                c_sink++;
            cvs_free(v);
        }
    }
    return 0;
}
