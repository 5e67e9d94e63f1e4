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
/* 0 when bu_tmpdir(parent) can make a scratch directory (one is made and
 * removed), else -1 after its message: a benchmark checks --dir before it
 * loads data and runs peers for minutes. */
int bu_tmpdir_check(const char *parent);
/* Removes a directory made by bu_tmpdir (refuses any other path). */
void bu_rmrf(const char *path);

/* The GloVe files of scripts/fetch-glove.sh:
 * ${CVSTORE_CACHE:-$HOME/.cache/cvstore}/glove/glove100.{fvecs,words}.
 * Returns 0, or -1 with a hint on stderr when they are missing. */
int bu_glove_paths(char *fvecs, char *words, size_t size);

/* The built-in embedders a bench store can be made with (--embedder), each
 * with its own dimension (cvs_db_create needs it before the embedder
 * attaches): glove, use, minilm. */
typedef struct bu_embedder {
    const char *name;
    uint32_t dim;
} bu_embedder;
#define BU_N_EMBEDDERS 3
extern const bu_embedder bu_embedders[BU_N_EMBEDDERS];
/* A comma-separated list of bu_embedders' names, each at most once, as
 * indexes into idx (room for BU_N_EMBEDDERS) and their number in *n.
 * Returns 0, or 1 after a message on stderr that starts with who. */
int bu_embedders_parse(const char *who, const char *list, size_t *idx, size_t *n);

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

/* ==== Default configurations ==== */

/* The codec specs cvstore's benchmarks build by default for d-dimensional
 * data, first the one a user gets (until `cvstore build` with no codec
 * chooses for itself, this is the one place to swap): 4-bit fast-scan codes
 * after an OPQ rotation, at one and at half a sub-quantizer per dimension
 * (M a divisor of d); above 256 dimensions PCA first, to 256 and 128.
 * Writes at most max (<= 2) specs of up to 64 bytes; returns how many.  The
 * index that goes with them is BU_CVS_DEFAULT_INDEX. */
size_t bu_cvs_default_codecs(uint32_t d, char (*specs)[64], size_t max);

/* Internal keys lab[0..n) (-1 = none, kept) to the base row numbers that the
 * benchmarks use as record ids, in place; a cvs_key_id error code. */
int bu_keys_to_rows(cvs_txn *txn, int64_t *lab, size_t n);
#define BU_CVS_DEFAULT_INDEX "ivf"

/* Largest divisor of d in 1..cap (PQ sub-quantizer counts). */
size_t bu_divisor_below(uint32_t d, size_t cap);

/* The IVF list count of the FAISS baselines: the largest power of two
 * <= 2 sqrt(nb) that leaves at least 39 training points per list (FAISS's
 * own minimum), at least 16. */
size_t bu_faiss_nlist(size_t nb);

/* ==== Data sets ==== */

/* A benchmark data set held in memory: base and queries as float32 rows,
 * ground truth as base row numbers.  Loaded whole, since every benchmark
 * scans it many times. */
typedef struct bu_dataset {
    char name[64];         /* "sift10k", "fashion-mnist", "glove-100-angular",
                              or a --base file's name without extension */
    cvs_metric metric;
    uint32_t d;
    float *xb, *xq;        /* nb x d and nq x d */
    size_t nb, nq;
    int32_t *gt;           /* nq x gtk nearest base rows, best first; NULL
                              until loaded or computed */
    size_t gtk;
    int xb_cvs, xq_cvs, gt_cvs; /* allocated by cvs_*_load (cvs_free) */
} bu_dataset;

/* The directory holding siftsmall/ and fashion-mnist/: given, else
 * $CVSTORE_DATA, else ../shared/data beside the source tree. */
const char *bu_data_dir(const char *given);

/* Fills ds[0..*n) with names and metrics from a list such as
 * "sift,fashion,glove" (SIFT10K and Fashion-MNIST l2, GloVe-100-angular
 * cosine), or with the one data set of a --base file when base is set.
 * 0, or -1 with a message on stderr. */
int bu_dataset_select(const char *list, const char *base, cvs_metric metric,
                      bu_dataset *ds, size_t max, size_t *n);

/* Loads the data set ds->name (set by bu_dataset_select): the files under
 * datadir, GloVe from bu_glove_paths (normalized; every 341st row a query,
 * removed from the base), or base/query/gt when base is set.  Cosine data
 * are normalized.  At most nq_max queries (0 = all).  gt may stay NULL
 * (GloVe, or files without --gt): see bu_dataset_exact_gt. */
int bu_dataset_load(bu_dataset *ds, const char *datadir, const char *base,
                    const char *query, const char *gt, size_t nq_max);

/* Keeps the first max_base base rows (0 = all); a ground truth loaded from
 * a file no longer applies and is dropped. */
void bu_dataset_truncate(bu_dataset *ds, size_t max_base);

/* Ground truth by cvstore's own exact search: the exact top k (capped at
 * nb) of every query, through a scratch store made under tmpparent. */
int bu_dataset_exact_gt(bu_dataset *ds, size_t k, const char *tmpparent);

/* Frees the arrays and zeroes ds (the name included). */
void bu_dataset_free(bu_dataset *ds);

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
