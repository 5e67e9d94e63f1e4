/*
 * ivf.h -- the IVF index over the compressed codes (internal).
 *
 *   index/ivf.c        essay, stored parameters ("ivf" meta blob), the
 *                      write-side hooks used by build, put and delete
 *   index/ivf_lists.c  the in-memory inverted lists: load from LMDB,
 *                      catch-up from the change log, purge of deletes
 *   index/ivf_search.c probing, ADC scans, re-ranking, threads
 *
 * Layout of everything stored: docs/FORMAT.md, sections "lists", "ivflog"
 * and "meta/ivf".
 */
#ifndef CVS_IVF_H
#define CVS_IVF_H

#include "index/codes.h"
#include "index/topk.h"
#include "pq/sq8.h"
#include "store/db.h"

struct cvs_codec;

#define CVS_IVF_MAX_NLIST 65536
/* The longest code an IVF list holds (bytes per vector); a build refuses a
 * longer one before it trains (index/codes.c), a load of one stored
 * otherwise fails. */
#define CVS_IVF_MAX_CODE 512
/* The change log keeps about as many entries as the index holds records,
 * at least CVS_IVF_LOG_MIN and at most cvs__ivf_log_keep (CVS_IVF_LOG_KEEP;
 * a variable so that tests can make the log short); a process whose
 * in-memory index is further behind reloads it from the stored lists. */
#define CVS_IVF_LOG_KEEP 200000u
#define CVS_IVF_LOG_MIN 1024u
extern uint64_t cvs__ivf_log_keep;
#define CVS_IVF_OP_ADD 1
#define CVS_IVF_OP_DEL 2
/* Bytes of a log value before the code: key u64, txnid u64, list u32, op u8. */
#define CVS_IVF_LOG_FIXED 21

/* The stored, immutable parameters of one build (meta "ivf"): shared by
 * every user of that generation, kept until cvs_db_close. */
typedef struct cvs_ivf_params {
    uint64_t gen;          /* the codec generation it was built with */
    uint32_t nlist, dim;
    int residual;          /* codes encode x - centroid */
    float *cent;           /* nlist * dim */
    float *cnorm;          /* nlist squared norms */
    int refine;            /* ",sq8": re-rank with in-memory SQ8 codes of
                              the stored vectors (sq), not the vectors */
    int rows;              /* refine and the rows are stored after the list
                              id of each "lists" value (meta ivf version 3);
                              0 with refine: version 2, rows encoded from
                              "vecs" on load */
    cvs__sq8 sq;
} cvs_ivf_params;

/* Bytes of a "lists" value: the u32 list id, then with stored rows the
 * record's SQ8 row (dim bytes). */
static inline size_t cvs__ivf_list_bytes(const cvs_ivf_params *p)
{
    return 4 + (p->rows ? (size_t)p->dim : 0);
}

/* ==== Stored parameters (ivf.c) ==== */

/* The IVF parameters in force in txn's snapshot, or *out = NULL when the
 * store has no IVF index (no codec, or a codec built without one). */
int cvs__ivf_params_for_txn(cvs_db *db, MDB_txn *txn, cvs_ivf_params **out);
/* Decodes a "meta/ivf" value held outside the store (cvs_index_export's
 * blob) for db's dimension; the caller frees it with cvs__ivf_params_free. */
int cvs__ivf_params_from_blob(cvs_db *db, const void *blob, size_t len, cvs_ivf_params **out);
/* Stored search defaults (meta "ivf_defaults"); built-in ones when unset. */
int cvs__ivf_defaults(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, size_t *nprobe,
                      size_t *rerank);

/* out[i * nlist + l] = q_i . cent[l] for nq queries and nlist centroids of
 * dim floats.  Each product is the same bits whatever nq, nlist and its
 * place among them.  The _with form takes the kernel (avx2 = 1 only where
 * cvs__cpu_avx2()), for tests. */
void cvs__ivf_dots(const float *q, size_t nq, const float *cent, size_t nlist, size_t dim,
                   float *out);
void cvs__ivf_dots_with(const float *q, size_t nq, const float *cent, size_t nlist, size_t dim,
                        float *out, int avx2);
/* Nearest centroid (squared L2) of each of n vectors. */
int cvs__ivf_assign(const cvs_ivf_params *p, const float *x, size_t n, int32_t *list);

/* ==== Build (ivf.c, called by index/codes.c) ==== */

/* Parses opts->index: "" / NULL -> *nlist 0 (no index); "ivf" -> the default
 * for n records; "ivfN" -> N; either may be followed by ",residual" or
 * ",direct" (*residual 1 / 0; -1 when not given) and by ",sq8" (*refine 1:
 * re-rank from in-memory SQ8 codes).  CVS_EINVAL otherwise. */
int cvs__ivf_parse_spec(const char *index, uint64_t n, size_t *nlist, int *residual,
                        int *refine);
/* Trains nlist centroids on x (n x dim) (and, when refine, the SQ8 ranges)
 * and, when residual, replaces x by the residuals of each vector to its
 * centroid (in place). */
int cvs__ivf_train(cvs_db *db, float *x, size_t n, size_t nlist, int residual, int refine,
                   uint64_t seed, cvs_progress_fn progress, void *ctx, cvs_ivf_params **out);
void cvs__ivf_params_free(cvs_ivf_params *p);
/* Inside a build's write transaction: stores the parameters for generation
 * gen (p NULL: removes any index), empties "lists" and "ivflog".  With
 * refine it sets p->rows: every build writes the rows (version 3). */
int cvs__ivf_build_begin(cvs_db *db, MDB_txn *txn, cvs_ivf_params *p, uint64_t gen);
/* Writes the list of one record during a build (after its code), and with
 * p->rows its SQ8 row (dim bytes: cvs__sq8_encode of the vector as decoded
 * from "vecs"; NULL otherwise). */
int cvs__ivf_build_put(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, uint64_t key,
                       uint32_t list, const uint8_t *row);
/* The SQ8 row of a record whose prepared vector is x, as the rows of the
 * index encode it: of the vector "vecs" holds, so rounded to f16 first in
 * an f16 store (tmp: dim floats of scratch). */
void cvs__ivf_row(const cvs_db *db, const cvs_ivf_params *p, const float *x, float *tmp,
                  uint8_t *row);
/* The SQ8 row of key's vector as "vecs" holds it (what a version 2 load
 * encodes, and what a stored row must equal): CVS_OK, CVS_NOTFOUND when
 * key has no vector, CVS_ECORRUPT for a vector of the wrong size (tmp: dim
 * floats of scratch). */
int cvs__ivf_vec_row(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, uint64_t key,
                     float *tmp, uint8_t *row);

/* cvstore check, the parts of invariant 9 (docs/FORMAT.md) that
 * store/check.c does not see: meta "ivf" was built for the codec
 * generation in force, and "ivflog" is empty without an index and else
 * holds well-formed entries numbered up to meta "ivf_seq".  Calls problem
 * once per violation; an error only when reading fails. */
int cvs__ivf_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                   void *ctx);

/* ==== Write hooks (ivf.c, called by store/put.c) ==== */

/* State of one write transaction: the sequence counter and the txnid. */
typedef struct cvs_ivf_writer {
    cvs_ivf_params *p;     /* NULL: no index, the hooks do nothing */
    uint64_t seq, seq0;    /* last sequence assigned / at the start */
    uint64_t txnid;
} cvs_ivf_writer;

int cvs__ivf_writer_begin(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w);
/* Record key (re)written: x is its prepared vector (normalized for cosine);
 * encodes into code (code_size bytes of scratch), writes codes, lists and
 * the log.  existed: the key had a record before (its old entry is logged
 * as deleted). */
int cvs__ivf_put(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, const struct cvs_codec *codec,
                 uint64_t key, int existed, const float *x, float *tmp, uint8_t *code);
/* Record key deleted (before its codes entry is removed). */
int cvs__ivf_del(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, uint64_t key);
/* Writes the sequence counter and trims the log. */
int cvs__ivf_writer_end(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w);

/* ==== In-memory lists (ivf_lists.c) ==== */

typedef struct cvs_ivf_list {
    size_t n, cap;         /* entries; capacity (a multiple of 32 for fs4) */
    int64_t *keys;
    uint8_t *codes;        /* fs4: packed blocks; else n plain rows */
    uint8_t *rq;           /* refine: SQ8 rows of dim bytes, else NULL; a
                              row is valid while its entry is live in the
                              newest state (see ivf_lists.c) */
    size_t rq_cap;         /* rows allocated: not rounded to 32 codes */
    /* NULL when every entry is visible to every snapshot the index
     * serves; else per entry {added txnid, deleted txnid (UINT64_MAX =
     * live)}.  Dropped again by the purge. */
    uint64_t *vis;
} cvs_ivf_list;

typedef struct cvs_ivf {
    cvs_ivf_params *p;
    const struct cvs_codec *codec;
    uint64_t gen;
    uint64_t base_txn;     /* snapshot it was loaded from */
    uint64_t applied_seq;  /* last log sequence applied */
    size_t cs, m;          /* code bytes, sub-quantizers */
    size_t rqb;            /* bytes of a refine row (dim), 0 without */
    int fs4;
    size_t nlist;
    cvs_ivf_list *lists;
    uint64_t live;         /* live entries (newest state) */
    size_t ndirty;         /* lists with vis != NULL */
    uint64_t purged_min;   /* oldest open snapshot at the last purge */
    pthread_rwlock_t lock; /* searches shared, catch-up/purge exclusive */
    int refs;              /* guarded by the codes module's ivf_mu */
    int shared;            /* installed as the codes module's ivf */
} cvs_ivf;

/* The index for t's snapshot, caught up and ready to scan: *out is
 * referenced and read-locked; release with cvs__ivf_release. */
int cvs__ivf_acquire(cvs_db *db, MDB_txn *txn, cvs_ivf_params *p, const struct cvs_codec *codec,
                     cvs_ivf **out);
void cvs__ivf_release(cvs_db *db, cvs_ivf *ix);
/* Drops the shared index and the pinned one. */
void cvs__ivf_drop(cvs_db *db);
/* Keeps the lists of t's snapshot loaded after a newer build replaces them
 * as the shared index, so that searches of that snapshot (t kept open) scan
 * them instead of loading a private copy each time: cvs_tune's head-to-head
 * of two builds (index/tune.c deviation 4).  One pin per handle, replaced by
 * the next; held until cvs__ivf_unpin or cvs_db_close.  CVS_NOTFOUND when
 * t's snapshot has no IVF index. */
int cvs__ivf_pin(cvs_txn *t);
void cvs__ivf_unpin(cvs_db *db);
/* Resident bytes of an index. */
uint64_t cvs__ivf_mem_bytes(const cvs_ivf *ix);

/* ==== Search (ivf_search.c) ==== */

/* q: nq prepared queries (normalized for cosine), qn their squared norms.
 * nprobe/rerank/refine 0 = stored defaults (refine CVS_RERANK_NONE: no
 * exact re-score after SQ8 re-ranking, ivf_search.c deviation 6); norerank
 * skips re-ranking.  allow (may
 * be NULL): bit k of allow[k / 64] set = key k may be returned; keys at or
 * past allow_words * 64 are excluded.  threads 0 = one per core. */
int cvs__ivf_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                    size_t nprobe, size_t rerank, size_t refine, int norerank,
                    const uint64_t *allow, size_t allow_words, int threads, int64_t *labels,
                    float *scores);

/* Candidates re-scored (raw vectors read, or sq8 rows) and queries that
 * re-ranked, summed over every IVF search of this process since it
 * started; the bench and the tests read the difference around a search.
 * With RaBitQ codes the reads per query follow the error bound (ivf_search.c
 * deviation 4), with other codecs they are the re-rank depth. */
void cvs__ivf_rerank_counts(uint64_t *reads, uint64_t *queries);

/* cvs_index_get_info / cvs_index_set_defaults for an IVF index
 * (index/search.c picks the FAISS or the IVF one). */
int cvs__ivf_get_info(cvs_db *db, cvs_index_info *info);
int cvs__ivf_set_defaults(cvs_db *db, size_t nprobe, size_t rerank);
/* The default exact re-score depth after SQ8 re-ranking (meta ivf_refine;
 * 0 = none): read in txn, and stored (cvs_index_set_refine). */
int cvs__ivf_refine_default(cvs_db *db, MDB_txn *txn, size_t *refine);
int cvs__ivf_set_refine(cvs_db *db, size_t refine);

/* True when t's snapshot has an IVF index. */
int cvs__ivf_exists(cvs_txn *t, int *yes);

/* The np nearest of nlist centroids (ivf_search.c deviations 7 and 8),
 * nearest first, ties to the lower list, into pd/pid (min(np, nlist) slots
 * each); distances cnorm[l] - 2 qc[l], or -qc[l] when cnorm is NULL.  keys
 * is the caller's scratch of nlist entries.  Returns min(np, nlist).  The
 * _with form takes the choice of the AVX2 gathering pass (avx2 = 1 only
 * where cvs__cpu_avx2()) so that tests can run both. */
size_t cvs__ivf_coarse_select(const float *cnorm, const float *qc, size_t nlist, size_t np,
                              float *pd, int64_t *pid, uint64_t *keys);
size_t cvs__ivf_coarse_select_with(const float *cnorm, const float *qc, size_t nlist, size_t np,
                                   float *pd, int64_t *pid, uint64_t *keys, int avx2);

/* The k best (distance, id) pairs of a[0..n) (0 < k < n; ties to the lower
 * id) into d[0..k) and id[0..k), in no particular order; tmp has room for n
 * (ivf_search.c deviation 9).  _with takes the choice of the AVX2 range
 * pass (avx2 = 1 only where cvs__cpu_avx2()), for tests. */
void cvs__ivf_best_of(const cvs_cand *a, size_t n, size_t k, float *d, int64_t *id,
                      cvs_cand *tmp);
void cvs__ivf_best_of_with(const cvs_cand *a, size_t n, size_t k, float *d, int64_t *id,
                           cvs_cand *tmp, int avx2);

#endif
