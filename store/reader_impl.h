/*
 * reader_impl.h -- what store/reader.c shares with the per-format readers
 * (store/vecfile.c, store/npy.c, store/jsonl.c).  Internal to those four
 * files; everyone else goes through store/reader.h.
 *
 * One struct serves all formats rather than a union of private ones: the
 * fields are few, and the dispatcher (rewind, byte counts) then needs no
 * per-format code beyond open/next.
 */
#ifndef CVS_READER_IMPL_H
#define CVS_READER_IMPL_H

#include <jansson.h>
#include <stdio.h>

#include "store/reader.h"

/* Element types of a vector file's payload. */
enum { CVS__EL_F32 = 1, CVS__EL_F16, CVS__EL_U8, CVS__EL_I32, CVS__EL_F64 };

struct cvs_reader {
    char *path;            /* copy, for messages ("standard input" for "-") */
    char reopen[64 + 4096]; /* a name that opens the same bytes again (the
                              path, or the spool through /proc/self/fd) */
    cvs_format fmt;
    FILE *f;
    uint64_t size;         /* file size at open */
    uint64_t data_off;     /* first record's byte (npy: after the header) */
    uint64_t pos;          /* bytes consumed so far */
    uint32_t dim;          /* 0 until known */
    uint32_t expect_dim;
    uint64_t total;        /* records, when known from the size/header */
    uint64_t recno;        /* records yielded so far */
    uint64_t rec_off;      /* byte offset where the current record begins
                              (query/import.c re-reads a jsonl line there) */
    int el;                /* CVS__EL_* */
    size_t el_size;
    /* vector files: the raw payload of the current record and its floats */
    unsigned char *raw;
    float *vec;
    size_t vec_cap;        /* floats allocated in vec */
    /* jsonl */
    char *line;
    size_t line_cap;
    uint64_t lineno;
    json_t *doc;           /* current record's document (owns id/text) */
    char *meta;            /* json_dumps of the current meta */
    cvs_link *links;
    size_t links_cap;
    struct cvs_spans *sents; /* jsonl "sentences" located in the text */
    char *sjoin;           /* the text made of them when "text" is absent */
    size_t sjoin_cap;
    char idbuf[32];        /* integer ids printed here */
    int empty;             /* opened with CVS_READER_EMPTY_OK on an empty
                              file: no records, no format header read */
    int allow_noid;        /* jsonl: a record may lack "id"
                              (CVS_READER_NO_ID) */
    int allow_novec;       /* jsonl: a record may lack "vector" (the
                              importer embeds its text); rec->vec is NULL */
    /* jsonl: top-level keys the format does not have.  Noted only while
     * note_unknown is set (the importer's first pass), so that the second
     * pass neither warns again nor counts twice. */
    int note_unknown;
    cvs_import_warn_fn warn;
    void *warn_ctx;
    char **unknown;        /* the distinct keys seen, up to CVS__UNKNOWN_MAX */
    size_t nunknown;
    uint64_t unknown_records; /* records holding one */
};

/* Distinct unknown keys remembered (and counted); beyond, neither. */
#define CVS__UNKNOWN_MAX 1024

/* Per-format halves: open reads and checks any header and sets dim/total/
 * data_off; next yields one record; both report errors with the path. */
int cvs__vf_open(cvs_reader *r);
int cvs__vf_next(cvs_reader *r, cvs_rrec *rec);
int cvs__npy_open(cvs_reader *r);
int cvs__npy_next(cvs_reader *r, cvs_rrec *rec);
int cvs__jsonl_open(cvs_reader *r);
int cvs__jsonl_next(cvs_reader *r, cvs_rrec *rec);
/* Frees what the current jsonl record holds (called before each next,
 * on rewind and on close). */
void cvs__jsonl_release(cvs_reader *r);

/* The code for a failed open of an input file: CVS_EINVAL when the name
 * is wrong or not the user's to read (missing, a directory, no permission),
 * so that it counts as the caller's mistake; CVS_EIO otherwise. */
int cvs__open_errno_rc(int e);
/* Reads exactly n bytes or reports what happened: 0, 1 at a clean EOF
 * before any byte, 2 at EOF after some bytes (*got says how many),
 * CVS_EIO on a read error.  Advances r->pos. */
int cvs__reader_read(cvs_reader *r, void *buf, size_t n, size_t *got);
/* Makes room for dim floats and dim*el_size raw bytes. */
int cvs__reader_alloc(cvs_reader *r, uint32_t dim);
/* Converts r->raw (dim elements of r->el) to r->vec and rejects NaN/Inf;
 * what is the message prefix ("PATH: record N"). */
int cvs__reader_convert(cvs_reader *r, uint64_t recno);

#endif
