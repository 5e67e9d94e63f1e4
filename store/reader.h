/*
 * reader.h -- streaming readers for the importable file formats (fvecs,
 * bvecs, npy, jsonl).  Internal: the public entry points are cvs_import,
 * cvs_vecs_load and cvs_ivecs_load.
 *
 * A reader yields one record at a time in constant memory.  Every pointer in
 * a cvs_rrec stays valid until the next reader_next or reader_close.  On
 * malformed input reader_next returns CVS_EINPUT (or CVS_EDIM when the
 * dimension differs from expect_dim) with "PATH: record N: reason" (or
 * "PATH: line N: reason" for jsonl) in cvs_errmsg.
 */
#ifndef CVS_READER_H
#define CVS_READER_H

#include <stdio.h>

#include "cvstore.h"

typedef struct cvs_reader cvs_reader;

typedef struct cvs_rrec {
    const char *id;        /* jsonl: the id (an integer id 7 becomes "7");
                              vector files: NULL (caller numbers them) */
    size_t id_len;
    const float *vec;      /* dim floats, finite (checked) */
    uint32_t dim;
    const char *text;      /* jsonl only; NULL if absent */
    size_t text_len;
    const char *title;     /* jsonl only; NULL if absent */
    size_t title_len;
    const char *meta;      /* jsonl only: compact JSON object text, or NULL */
    size_t meta_len;
    const cvs_link *links; /* jsonl only: strings or {"id","type","weight"} */
    size_t nlinks;
    const uint32_t *sentences; /* jsonl "sentences": nsentences (start, end)
                              byte pairs into text (text/sentences.h) */
    size_t nsentences;
    int64_t created_us;    /* jsonl "created_us" / "updated_us" (microseconds
                              since the epoch, as export writes them), 0 when
                              absent; checked >= 0 and updated >= created */
    int64_t updated_us;
    uint64_t recno;        /* 0-based record index in the file */
    uint64_t line;         /* jsonl: 1-based line number; else 0 */
} cvs_rrec;

/* fmt must be resolved (not AUTO).  expect_dim 0 = take the file's.
 * An empty file is an error (CVS_EINPUT "empty file"). */
int cvs_reader_open(const char *path, cvs_format fmt, uint32_t expect_dim,
                    cvs_reader **r);
/* cvs_reader_open with flags: CVS_READER_EMPTY_OK reads an empty file (no
 * bytes, so no header either) as one of no records, for cvs_import, where
 * the export of an empty store is such a file. */
#define CVS_READER_EMPTY_OK 0x1u
/* CVS_READER_NO_ID: a jsonl record may lack "id" (rec->id NULL, id_len 0),
 * for files read for their vectors alone (cvs_vecs_load: query files). */
#define CVS_READER_NO_ID 0x2u
int cvs_reader_open_flags(const char *path, cvs_format fmt, uint32_t expect_dim,
                          unsigned flags, cvs_reader **r);
/* 0 with *rec filled, CVS_NOTFOUND at the clean end, CVS_EINPUT/CVS_EDIM/
 * CVS_EIO/CVS_ENOMEM on failure. */
int cvs_reader_next(cvs_reader *r, cvs_rrec *rec);
/* Total record count if known from the header/file size (fvecs, bvecs,
 * npy), else 0. */
uint64_t cvs_reader_total(const cvs_reader *r);
/* Bytes consumed so far and the file's size. */
uint64_t cvs_reader_bytes_done(const cvs_reader *r);
uint64_t cvs_reader_bytes_total(const cvs_reader *r);
/* Dimension: known after open for fvecs/bvecs/npy, after the first record
 * for jsonl (0 before). */
uint32_t cvs_reader_dim(const cvs_reader *r);
/* A path that opens the file being read again, with an offset of its own:
 * the path given, or for a spooled pipe its /proc/self/fd name.  Valid
 * until reader_close. */
const char *cvs_reader_reopen_path(const cvs_reader *r);

/* Opens an input file for reading twice: path itself when it is a regular
 * file, else ("-" for standard input, a pipe, a device) a spool copy of it
 * (see reader.c).  name is for messages; reopen (cap bytes) receives a path
 * that opens the same bytes again.  Missing or unreadable files are
 * CVS_EINVAL, directories too. */
int cvs__input_open(const char *path, const char *name, FILE **out, char *reopen, size_t cap);
/* "standard input" for "-", else path: what messages call the input. */
const char *cvs__input_name(const char *path);

/* Rewinds to the first record (for the import's second pass). */
int cvs_reader_rewind(cvs_reader *r);
void cvs_reader_close(cvs_reader *r);

#endif
