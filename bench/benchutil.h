/*
 * benchutil.h -- what every cvstore-bench subcommand needs: a clock, memory
 * and disk figures, scratch stores, the default data set, and result tables
 * printed as markdown (stdout) and optionally written as CSV.
 */
#ifndef CVS_BENCHUTIL_H
#define CVS_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

/* Monotonic seconds. */
double bu_now(void);
/* Peak and current resident set size of this process, in bytes (0 if
 * /proc is unavailable). */
uint64_t bu_rss_peak(void);
uint64_t bu_rss_now(void);
/* Total bytes of the regular files under path (du -b, without directories). */
uint64_t bu_dir_bytes(const char *path);

/* A fresh directory "PARENT/cvstore-bench-XXXXXX" (PARENT defaults to
 * $TMPDIR, then /tmp); malloc'd path, NULL with a message on stderr.  It is
 * removed at exit if bu_rmrf has not removed it before (bu_check exits). */
char *bu_tmpdir(const char *parent);
/* Removes a directory made by bu_tmpdir (refuses any other path). */
void bu_rmrf(const char *path);

/* The GloVe files of scripts/fetch-glove.sh:
 * ${CVSTORE_CACHE:-$HOME/.cache/cvstore}/glove/glove100.{fvecs,words}.
 * Returns 0, or -1 with a hint on stderr when they are missing. */
int bu_glove_paths(char *fvecs, char *words, size_t size);

/* Dimension of the vectors in path, read from the first record (fvecs and
 * bvecs) or by loading the file (other formats). */
int bu_file_dim(const char *path, uint32_t *dim);

/* Prints "phase done/total" on stderr, at most a few times a second. */
void bu_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                 uint64_t bytes_done, uint64_t bytes_total);

/* Dies with "cvstore-bench: what: <strerror>: <errmsg>" when rc != 0. */
void bu_check(int rc, const char *what);

/* Scales each of n rows of dim floats to unit length (zero rows stay zero):
 * cosine data for FAISS, which has no cosine metric of its own. */
void bu_normalize_rows(float *x, size_t n, uint32_t dim);

/* ==== Result tables ==== */

typedef struct bu_table bu_table;

/* A table with ncols named columns (header strings are copied). */
bu_table *bu_table_new(size_t ncols, const char *const *header);
/* Starts a new row; then bu_table_cell fills it left to right, ncols times. */
void bu_table_row(bu_table *t);
void bu_table_cell(bu_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Markdown to stdout. */
void bu_table_print(const bu_table *t);
/* CSV (RFC 4180 quoting) to path; 0, or -1 with a message on stderr. */
int bu_table_csv(const bu_table *t, const char *path);
void bu_table_free(bu_table *t);

#endif
