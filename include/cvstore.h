/*
 * cvstore.h -- the one public header of cvstore, a compressed vector store
 * and semantic retrieval engine.
 *
 * Conventions (LMDB's, mostly):
 *   - Handles are opaque.  Every name is cvs_<object>_<verb>.
 *   - Every fallible call returns an int: 0 (CVS_OK) on success, a negative
 *     CVS_E* code on failure, CVS_NOTFOUND when "not there" is a normal
 *     outcome.  Results are written through trailing pointers.
 *   - cvs_strerror(rc) names the code; cvs_errmsg(db) gives the detail of the
 *     last failure seen by the calling thread (file, record, what is wrong).
 *   - Buffers for search results and vectors are owned by the caller.
 *     Pointers the library hands out say how long they stay valid.
 *   - Every *_close / *_free / *_end accepts NULL.
 *
 * Threads and processes: one cvs_db handle per process per store, shared by
 * any number of threads.  Writes (cvs_put, cvs_delete, cvs_import) are
 * serialized by LMDB's writer lock across threads and processes; readers
 * never block and see a consistent snapshot.
 */
#ifndef CVSTORE_H
#define CVSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CVS_VERSION_STRING "0.1.0"
#define CVS_VERSION_MAJOR 0
#define CVS_VERSION_MINOR 1

#if defined(__GNUC__)
#  if defined(CVS_BUILDING)
#    define CVS_API __attribute__((visibility("default")))
#  else
#    define CVS_API
#  endif
#  define CVS_WUR __attribute__((warn_unused_result))
#else
#  define CVS_API
#  define CVS_WUR
#endif

typedef struct cvs_db cvs_db;     /* an open store */
typedef struct cvs_txn cvs_txn;   /* a read snapshot */
typedef struct cvs_iter cvs_iter; /* a cursor over a snapshot's records */

/* ==== Return codes ==== */

#define CVS_OK          0
#define CVS_NOTFOUND    (-30900) /* no such record / end of iteration: normal */
#define CVS_EINVAL      (-30901) /* bad argument from the caller */
#define CVS_ENOMEM      (-30902) /* out of memory */
#define CVS_EIO         (-30903) /* operating-system I/O failure (detail has errno text) */
#define CVS_EFORMAT     (-30904) /* not a cvstore store, or its meta record is damaged */
#define CVS_EVERSION    (-30905) /* store written by another on-disk format version */
#define CVS_EDIM        (-30906) /* vector dimension differs from the store's */
#define CVS_EINPUT      (-30907) /* malformed input: file being imported or record given */
#define CVS_EEXIST      (-30908) /* a store already exists at that path */
#define CVS_ECORRUPT    (-30909) /* a stored value fails validation */
#define CVS_ELMDB       (-30910) /* unexpected LMDB failure (detail has LMDB's text) */
#define CVS_EFAISS      (-30911) /* FAISS failure (detail has FAISS's last error) */
#define CVS_ERDONLY     (-30912) /* write attempted on a store opened read-only */
#define CVS_EINTERNAL   (-30913) /* a bug in cvstore */
#define CVS_EBUSY       (-30914) /* the map must grow but this process holds
                                    read snapshots open for too long */
#define CVS_EKEY        (-30915) /* encrypted store: passphrase missing or wrong */
#define CVS_ECONFLICT   (-30916) /* a FAISS build kept being overtaken by later
                                    builds' writes: nothing written, try again */
#define CVS_EFORK       (-30917) /* the handle was opened by the parent of this
                                    process, before a fork(): open the store
                                    again in this process */

/* Static text naming rc; never NULL.  Covers positive errno values too. */
CVS_API const char *cvs_strerror(int rc);

/* "Did you mean": the one of names[0..n) that word, an unknown name, most
 * likely meant, or NULL -- within one edit (ASCII case ignored; an edit
 * inserts, deletes or changes a letter, or swaps two adjacent ones) of a
 * name of up to four letters, two of a longer one, or held in the name or
 * holding it ("meta" and "metadata"); the nearest, the first listed on a
 * tie (core/suggest.c).  Returns one of names. */
CVS_API const char *cvs_suggest(const char *word, const char *const *names, size_t n);

/* Detail of the last failure of a cvstore call made by this thread (db may be
 * NULL, e.g. after a failed open).  Valid until the thread's next failing
 * call; "" when there is none. */
CVS_API const char *cvs_errmsg(const cvs_db *db);

/* ==== Store ==== */

typedef enum cvs_metric {
    CVS_METRIC_L2 = 1,     /* squared-distance search; scores are Euclidean distances */
    CVS_METRIC_IP = 2,     /* inner product, larger is better */
    CVS_METRIC_COSINE = 3  /* vectors normalized once at insert, then IP */
} cvs_metric;

typedef enum cvs_raw {
    CVS_RAW_F32 = 1,       /* raw vectors kept as float32 */
    CVS_RAW_F16 = 2,       /* raw vectors kept as IEEE half precision */
    CVS_RAW_NONE = 3       /* kept (as f32) only until a codec is built
                              (cvs_build), which then drops them: from then
                              on the store holds codes only, searches scan
                              the codes, reads return decoded vectors, and
                              the codec cannot be retrained */
} cvs_raw;

/* "l2" | "ip" | "cosine"; CVS_EINVAL otherwise. */
CVS_API int cvs_metric_parse(const char *s, cvs_metric *out) CVS_WUR;
CVS_API const char *cvs_metric_name(cvs_metric m);
/* "f32" | "f16" | "none"; CVS_EINVAL otherwise. */
CVS_API int cvs_raw_parse(const char *s, cvs_raw *out) CVS_WUR;
CVS_API const char *cvs_raw_name(cvs_raw r);

#define CVS_MAX_DIM    65536
#define CVS_MAX_ID_LEN 512
/* The most bytes of a query's text: cvs_text_search, cvs_context (and
 * cvs_txn_context, cvs_context_source_run) and cvs_mem_recall refuse a
 * longer one with CVS_EINVAL, naming the limit.  A query is a question or
 * a passage, not a corpus: 32 KiB is 8192 tokens of 4 bytes (the token of
 * cvs_context's budget), the longest input that the embedding models with
 * the longest context take (OpenAI's text-embedding-3, bge-m3,
 * nomic-embed: 8192 tokens; most take 512), so a longer query cannot be
 * embedded whole by them anyway, while its cost keeps growing with every
 * word (each distinct word reads its BM25 postings, and recall looks for
 * a stand-in for each word no memory has: a 12 MB query took 18 s). */
#define CVS_QUERY_MAX_BYTES 32768

typedef struct cvs_create_opts {
    uint32_t dim;          /* 1..CVS_MAX_DIM */
    cvs_metric metric;
    cvs_raw raw;           /* 0 means CVS_RAW_F32 */
} cvs_create_opts;

/* Creates a new, empty store in directory path (created if missing; it must
 * not already hold a store: CVS_EEXIST).  The store is owner-only, since it
 * holds its users' text: the directory, when made here, 0700, the files
 * 0600; chmod them afterwards to share it (a later open makes a missing
 * lock.mdb with data.mdb's permissions).  An empty path, one that is not
 * a directory, or a directory holding files other than a store's (a store
 * is made in a new or empty directory) is CVS_EINVAL.  The create is
 * exclusive: of processes creating one store at the same moment one makes
 * it and the others get CVS_EEXIST, and a create that fails removes what
 * it made (its files, the directory if made here) and nothing else.  A
 * create killed before its store was whole (kill -9, a power cut) leaves
 * files that hold nothing committed; a later create makes its store there,
 * unless the process that made them is still creating it (CVS_EEXIST). */
CVS_API int cvs_db_create(const char *path, const cvs_create_opts *opts,
                          cvs_db **db) CVS_WUR;

/* cvs_db_create for an encrypted store (docs/SECURITY.md): every value is
 * sealed under a key derived from the len bytes of passphrase with Argon2id
 * (not kept after the call).  An empty passphrase is refused (CVS_EKEY).  A
 * function of its own rather than a field of cvs_create_opts, so that
 * positional initializers of that struct stay complete. */
CVS_API int cvs_db_create_encrypted(const char *path, const cvs_create_opts *opts,
                                    const char *passphrase, size_t len, cvs_db **db) CVS_WUR;

#define CVS_OPEN_RDONLY 0x1u
/* Opens an existing store.  CVS_NOTFOUND if path holds no store, CVS_EVERSION
 * if it was written by another format version, CVS_EFORMAT if it is not ours
 * or holds nothing committed (a create still running, or one that was
 * interrupted: the message says which; cvs_db_create there makes the
 * store), CVS_ECORRUPT if its data.mdb is cut short or its LMDB meta pages
 * are damaged (see "Damaged stores"). */
CVS_API int cvs_db_open(const char *path, unsigned flags, cvs_db **db) CVS_WUR;

/* Options of cvs_db_open_opts; zero-fill what you do not need. */
typedef struct cvs_open_opts {
    unsigned flags;          /* CVS_OPEN_RDONLY or 0 */
    /* The passphrase of an encrypted store (read only during the call; NULL
     * for a plain one, where a passphrase given is not used: cvs_info's
     * encrypted field tells the two apart). */
    const char *passphrase;
    size_t passphrase_len;
} cvs_open_opts;

/* cvs_db_open with options.  For an encrypted store: CVS_EKEY when the
 * passphrase is missing or wrong (the store is not changed); the key
 * derivation costs about 0.1-0.5 s and 64 MiB of memory on every open. */
CVS_API int cvs_db_open_opts(const char *path, const cvs_open_opts *opts, cvs_db **db) CVS_WUR;
/* Closes the handle; NULL is accepted.  Every snapshot (cvs_txn) must have
 * ended.
 *
 * Fork.  A handle belongs to the process that opened it (LMDB's rule): in
 * a child of fork() -- multiprocessing's workers, gunicorn's, a PyTorch
 * DataLoader's -- every call that reads or writes through a handle the
 * parent opened fails with CVS_EFORK, and the child opens the store
 * itself (cvs_db_open).  So do the reads of a snapshot begun before the
 * fork (cvs_get, cvs_get_key, cvs_key_id, cvs_txn_count, cvs_iter_open,
 * cvs_iter_next): the parent may end it and reuse its pages at any
 * moment.  The parent's handle and store are untouched.  In
 * the child, cvs_db_close and cvs_txn_end of the inherited handle and its
 * snapshots release nothing (closing the parent's LMDB files would drop
 * the locks of the child's own handle on the store; ending the parent's
 * snapshot would free its reader slot under the parent): their memory
 * stays until the child exits. */
CVS_API void cvs_db_close(cvs_db *db);

/* Writers wait for each other: a store has one write transaction at a time
 * across all processes (LMDB's writer lock), and a write -- a put, an
 * import batch, a build's whole encoding pass -- waits for the one in
 * progress, then runs on the store as that one left it.  Nothing is lost
 * or mixed: two builds both complete, one after the other, and the store
 * keeps the codec of the last to write.  Readers never wait.
 *
 * A write that waits for another process's writer calls fn(ctx, pid,
 * waited_s, done) once the wait passes CVS_WAIT_NOTICE_S seconds (done 0,
 * pid the other writer's process id, or 0 when unknown), and once more
 * when the wait ends (done 1, waited_s the whole wait), so that a program
 * can tell its user why nothing moves.  fn runs on the waiting thread,
 * without any lock of the store held; it must not call into db.  A writer
 * that is not a cvstore of this version (or newer) is waited for all the
 * same, silently.  fn NULL turns it off (the default).  ctx is the
 * caller's and must outlive the handle or the next call. */
#define CVS_WAIT_NOTICE_S 1.0
typedef void (*cvs_wait_fn)(void *ctx, int64_t pid, double waited_s, int done);
CVS_API void cvs_db_set_wait_fn(cvs_db *db, cvs_wait_fn fn, void *ctx);

typedef struct cvs_info {
    uint32_t format_version;
    uint32_t dim;
    cvs_metric metric;
    cvs_raw raw;
    uint64_t count;        /* live records */
    uint64_t next_key;     /* next internal key to be assigned */
    uint64_t disk_bytes;   /* bytes of the store's files on disk */
    uint64_t map_bytes;    /* current LMDB map size */
    int64_t created_us;    /* store creation time, microseconds since epoch */
    int encrypted;         /* 1 for an encrypted store (docs/SECURITY.md) */
} cvs_info;

CVS_API int cvs_db_info(cvs_db *db, cvs_info *info) CVS_WUR;

/* Marks the store as shard index of count (0 <= index < count) of a sharded
 * store (docs/SCALING.md), whose records belong to the shard FNV-1a-64 of
 * their id mod count picks: a link to an id of another shard is then not
 * dangling to cvs_check (that shard holds it; `cvstore-mpi check` looks).
 * Kept in the store (docs/FORMAT.md, meta "shard"); set again to change. */
CVS_API int cvs_db_set_shard(cvs_db *db, uint32_t index, uint32_t count) CVS_WUR;
/* The store's place set by cvs_db_set_shard: *index and *count, or
 * CVS_NOTFOUND for a store of its own.  Reads a snapshot; works read-only.
 * (The CLI's `stats`, `check` and `link` say of a shard that its mention
 * links are made over all shards by `cvstore-mpi link`.) */
CVS_API int cvs_db_get_shard(cvs_db *db, uint32_t *index, uint32_t *count) CVS_WUR;

/* ==== Records ==== */

/* An explicit link from one record to another, by external id.  type is an
 * optional NUL-terminated label (NULL or "" = untyped), weight defaults to 1. */
typedef struct cvs_link {
    const char *id;
    size_t id_len;
    const char *type;
    float weight;
} cvs_link;

/* A record as given to cvs_put and as returned by cvs_get / cvs_iter_next.
 * On put, unused optional fields are NULL/0.  On get, every pointer refers to
 * memory owned by the read transaction, valid until cvs_txn_end. */
typedef struct cvs_record {
    const char *id;        /* external id, UTF-8, 1..CVS_MAX_ID_LEN bytes */
    size_t id_len;
    const float *vector;   /* dim floats; required on put.  NULL on get: the
                              vector goes to the caller's buffer instead */
    const char *text;      /* optional UTF-8 payload, any size */
    size_t text_len;
    const char *title;     /* optional UTF-8 title, any size; indexed for
                              cvs_text_search together with the text */
    size_t title_len;
    const char *meta;      /* optional metadata: a JSON object, as text */
    size_t meta_len;
    const cvs_link *links; /* optional */
    size_t nlinks;
    /* Output only (ignored on put): */
    int64_t key;           /* internal 64-bit key */
    /* Microseconds since the epoch.  On get: when the record was first put
       and last put.  On put: ignored (the store sets them) unless the put
       has CVS_PUT_TIMES. */
    int64_t created_us;
    int64_t updated_us;
    /* Optional on put (NULL/0 on get): the text's sentences as given,
       nsentences pairs (start, end) of byte offsets into text, in order,
       none beginning before the one before it ends;
       without them the text is split by ICU's sentence break iterator
       (docs/FORMAT.md, "sents"). */
    const uint32_t *sentences;
    size_t nsentences;
} cvs_record;

/* cvs_put flags */
#define CVS_PUT_FORWARD_LINKS 0x1u /* allow links to ids not (yet) in the store;
                                      the importer sets it after checking them */
#define CVS_PUT_TIMES 0x2u         /* keep the times the records give: a nonzero
                                      created_us / updated_us is stored as it
                                      is instead of the time of the put (0 =
                                      as without the flag: the put's time, and
                                      an update keeps its creation time).  For
                                      restoring records with their history
                                      (cvs_import does it for JSONL
                                      "created_us" / "updated_us", as export
                                      writes them).  A time given alone keeps
                                      the pair ordered: a new record given only
                                      updated_us was created then; an update
                                      given only updated_us keeps its stored
                                      creation time, which must not be later.
                                      A negative time, one more than a day past
                                      the clock, or an update before the
                                      creation is CVS_EINPUT */

/* Upserts n records (by external id) in one transaction: all of them or none.
 * Cosine stores normalize vectors.  Fails with CVS_EINPUT (bad UTF-8, bad
 * JSON meta, NaN/Inf, a zero vector in a cosine store, a vector of an l2 or
 * ip store whose squared norm exceeds FLT_MAX / 4 (beyond it distances
 * overflow single precision) or, in an f16 store, a value beyond 65504, id
 * too long, duplicate id in the batch, link to an unknown id), CVS_EDIM
 * never (the dimension is the store's by contract).
 * inserted/updated may be NULL. */
CVS_API int cvs_put(cvs_db *db, const cvs_record *recs, size_t n, unsigned flags,
                    size_t *inserted, size_t *updated) CVS_WUR;

/* Deletes the records with the given ids in one transaction; ids not present
 * are skipped and not counted.  Links pointing at a deleted record are
 * removed from their sources. */
CVS_API int cvs_delete(cvs_db *db, const char *const *ids, const size_t *id_lens,
                       size_t n, size_t *deleted) CVS_WUR;

/* A read snapshot.  Cheap; hold it only as long as needed, since a long-lived
 * snapshot keeps old pages from being reused and delays growth of the map:
 * a write that must grow the map waits for this process's snapshots to end
 * (new ones wait behind it) and fails with CVS_EBUSY after 30 s.  So a
 * thread holding a snapshot should not write, nor begin a second snapshot,
 * while other threads write. */
CVS_API int cvs_txn_begin(cvs_db *db, cvs_txn **txn) CVS_WUR;
CVS_API void cvs_txn_end(cvs_txn *txn);

/* Reads a record by external id.  vec_out, if not NULL, receives dim floats.
 * CVS_NOTFOUND if absent. */
CVS_API int cvs_get(cvs_txn *txn, const char *id, size_t id_len,
                    cvs_record *rec, float *vec_out) CVS_WUR;
/* Same, by internal key. */
CVS_API int cvs_get_key(cvs_txn *txn, int64_t key, cvs_record *rec,
                        float *vec_out) CVS_WUR;
/* Count of live records in the snapshot. */
CVS_API int cvs_txn_count(cvs_txn *txn, uint64_t *count) CVS_WUR;

/* Iterates all records in key (insertion) order within a snapshot. */
CVS_API int cvs_iter_open(cvs_txn *txn, cvs_iter **it) CVS_WUR;
/* CVS_NOTFOUND at the end.  rec pointers valid until cvs_txn_end. */
CVS_API int cvs_iter_next(cvs_iter *it, cvs_record *rec, float *vec_out) CVS_WUR;
CVS_API void cvs_iter_close(cvs_iter *it);

/* ==== Consistency check ==== */

/* Progress callback: done/total records (total 0 when unknown) and bytes of
 * the input consumed; phase names the step ("validate", "write", "sample",
 * "train", "encode", ...). */
typedef void (*cvs_progress_fn)(void *ctx, const char *phase, uint64_t done,
                                uint64_t total, uint64_t bytes_done,
                                uint64_t bytes_total);

/* Called once per problem found; msg valid during the call only. */
typedef void (*cvs_report_fn)(void *ctx, const char *msg);

/* Verifies every invariant of docs/FORMAT.md ("Invariants") inside one read
 * snapshot, changing nothing: the id maps are a bijection and the counts
 * agree; every vector has the right length and is finite (or, raw none
 * after a build, every record has a code); text, metadata and links belong
 * to records, text is UTF-8, metadata are JSON objects, no link dangles and
 * backlinks mirror links; every key is below next_key; with a codec, one
 * code of the codec's size per record and a blob that loads; titles, BM25
 * postings and totals match the records; with an IVF index, it belongs to
 * the codec in force, one valid list per record, a well-formed change log;
 * kNN rows and title-map entries are well formed and name live records; a
 * FAISS index loads with the store's dimension, and every live record is
 * in it or marked changed since (and nothing else is); every stored text
 * has its sentence offsets, matching the text.  In an encrypted
 * store, every value that fails authentication is reported.  report gets
 * one message per problem (may be NULL); *problems gets the number found
 * (0 = healthy); the return code is for failures of the check itself. */
CVS_API int cvs_check(cvs_db *db, cvs_report_fn report, void *ctx,
                      uint64_t *problems) CVS_WUR;
/* cvs_check telling progress (may be NULL) as it walks each database:
 * phase "check NAME" (NAME the database: "ids", "vecs", "postings", ...),
 * done and total its entries. */
CVS_API int cvs_check_progress(cvs_db *db, cvs_report_fn report, void *ctx,
                               cvs_progress_fn progress, void *progress_ctx,
                               uint64_t *problems) CVS_WUR;

/* ==== Damaged stores ====
 *
 * Damage to a stored value is an error (CVS_ECORRUPT, listed by cvs_check).
 * So is a data.mdb cut short (a page in use lies past its end: a copy that
 * stopped), refused by cvs_db_open before any read; a file whose pages
 * past its end are all free (LMDB leaves one) is whole, and opens.
 * Damage to the structure of data.mdb's pages is not always reachable that
 * way: LMDB keeps no page checksums, and a damaged page can make it fail
 * one of its internal assertions (it then calls abort()) or read memory
 * outside the file (SIGSEGV, SIGBUS), in the middle of any call.  No
 * function can return from there with the store in a usable state, so the
 * choice is the process's: cvs_fault_exit makes such a fault print "PREFIX:
 * store is damaged: WHAT" on stderr and end the process with status
 * (_exit, from whichever thread hit it first: when several threads fault
 * at once, one message is printed, whole) instead of dying by a signal.  It
 * installs handlers for SIGSEGV and SIGBUS, so it is for programs that own
 * their signals and may end on a damaged store, such as the cvstore tool;
 * it also takes any other SIGSEGV or SIGBUS of the process for one, except
 * a stack overflow, which prints "PREFIX: stack overflow ..." and ends
 * with the same status.  For that, the calling thread gets an alternate
 * signal stack (64 KiB, unless it has one at least that large), freed
 * when the thread ends; a program whose other threads may recurse deeply
 * calls cvs_fault_exit in each of them.
 * Without it, LMDB's abort() and the default signal actions stand.  prefix
 * is copied (at most 255 bytes).  CVS_EINVAL for a NULL prefix, CVS_ENOMEM
 * when it cannot be copied, CVS_EIO when a handler cannot be installed. */
CVS_API int cvs_fault_exit(const char *prefix, int status) CVS_WUR;

/* ==== Search ==== */

#define CVS_SEARCH_EXACT 0x1u   /* exact scan of the raw vectors (the default
                                   while no codec has been built) */
#define CVS_SEARCH_CODES 0x2u   /* exhaustive scan of the compressed codes
                                   (asymmetric distances), see cvs_build */
#define CVS_SEARCH_ANN 0x4u     /* the approximate index built by cvs_build
                                   with opts->index (IVF over the codes, or a
                                   FAISS index); nprobe/rerank 0 take the
                                   store's defaults (see cvs_tune) */
#define CVS_SEARCH_NORERANK 0x8u /* ANN: no re-ranking with raw vectors, even
                                   where the store's default has one */

/* Top-k for nq queries (nq*dim floats, row-major).  labels (nq*k) receives
 * internal keys, best first, padded with -1; scores (nq*k) receives the
 * Euclidean distance (l2) or the similarity (ip, cosine), padded with NaN.
 * Cosine queries need not be normalized.  flags 0 means CVS_SEARCH_EXACT.
 * CVS_EINPUT for a query that cvs_put would refuse as a record (a NaN or
 * infinite value, a squared norm above FLT_MAX / 4 in an l2 or ip store, a
 * zero vector in a cosine store). */
CVS_API int cvs_search(cvs_db *db, const float *queries, size_t nq, size_t k,
                       unsigned flags, int64_t *labels, float *scores) CVS_WUR;

/* Same, inside a caller's snapshot. */
CVS_API int cvs_txn_search(cvs_txn *txn, const float *queries, size_t nq,
                           size_t k, unsigned flags, int64_t *labels,
                           float *scores) CVS_WUR;

/* A metadata predicate (see cvs_filter_parse). Immutable once parsed: one
 * filter may be used by many searches and threads at once. */
typedef struct cvs_filter cvs_filter;

/* Parses a filter written in JSON (len bytes; len 0 = strlen):
 *   {"lang": "en"}                       equality on a string field
 *   {"year": 2020}                       equality on a number field
 *   {"year": {"$gte": 2000, "$lt": 2010}} numeric range ($gt $gte $lt $lte)
 *   {"lang": {"$in": ["en", "fr"]}}      one of several values
 *   {"$ids": ["doc1", "doc7"]}           an allow-list of external ids
 * Several members are combined with AND.  Field names address top-level
 * members of the records' JSON metadata; $eq is equality spelled as an
 * operator.  A record whose field is missing or of another type (a string
 * against a range, null, an array) does not match; numbers compare as
 * doubles (2020 equals 2020.0).  Unknown $ids are ignored.  CVS_EINVAL with
 * the reason, naming the member, for a malformed filter (also for one over
 * 16 MiB, or with over 256 members, 65536 $in values or 2^20 $ids).  *out
 * is freed with cvs_filter_free. */
CVS_API int cvs_filter_parse(const char *json, size_t len, cvs_filter **out) CVS_WUR;
CVS_API void cvs_filter_free(cvs_filter *f);

typedef struct cvs_search_params {
    unsigned flags;        /* CVS_SEARCH_EXACT, CVS_SEARCH_CODES or
                              CVS_SEARCH_ANN (| CVS_SEARCH_NORERANK) */
    size_t rerank;         /* CODES: re-score this many best candidates with
                              the raw vectors (0 = return code distances);
                              ANN: candidates re-scored (0 = store default) */
    size_t nprobe;         /* ANN (IVF): lists probed, 0 = store default */
    const cvs_filter *filter; /* only records matching it; NULL = all.  When
                              at least k records match, k come back. */
    int threads;           /* ANN batches: worker threads, 0 = one per core */
    size_t refine;         /* ANN over an IVF index with ",sq8" rows: after
                              the SQ8 re-rank, the best max(refine, k) of
                              its candidates are scored again exactly from
                              the stored vectors (SQ8 distances are
                              approximate and cap recall near 0.98).
                              0 = store default (cvs_index_set_refine),
                              CVS_RERANK_NONE = none; ignored by other
                              indexes and without re-ranking */
} cvs_search_params;

/* cvs_txn_search with parameters (params NULL = exact). */
CVS_API int cvs_txn_search_params(cvs_txn *txn, const float *queries, size_t nq,
                                  size_t k, const cvs_search_params *params,
                                  int64_t *labels, float *scores) CVS_WUR;

/* External id of an internal key (pointer valid until cvs_txn_end). */
CVS_API int cvs_key_id(cvs_txn *txn, int64_t key, const char **id,
                       size_t *id_len) CVS_WUR;

/* ==== Compression ==== */

typedef struct cvs_build_opts {
    uint64_t seed;          /* training sample and k-means seeds; 0 = 1 */
    size_t max_train;       /* training sample cap; 0 = 65536 */
    float anisotropic_eta;  /* ip/cosine: ScaNN score-aware loss weight
                               (0 = plain reconstruction loss) */
    cvs_progress_fn progress;
    void *progress_ctx;
    const char *index;      /* NULL or "": codes only (exhaustive scans);
                               "ivf" (lists from the store's size) or "ivfN"
                               (N lists): inverted lists over the codes,
                               optionally followed by ",direct" or
                               ",residual" and by ",sq8" (re-rank from
                               in-memory SQ8 codes, not stored vectors);
                               "faiss:FACTORY" (e.g. "faiss:HNSW32"): a FAISS
                               index kept in the store */
} cvs_build_opts;

/* Trains the codec named by spec (e.g. "pq32", "pq32x4", "opq,pq16",
 * "pca64,opq,pq32x4", "pca64,sq8"; grammar in pq/codec.c and README) on a
 * sample of the store's vectors, then encodes every record.  Training reads
 * a snapshot; the codec and all codes are written in one transaction, so a
 * build that fails or is killed leaves the previous codec and codes in
 * use.  From then on every put encodes its record.  CVS_EINVAL for a bad
 * spec, CVS_EINPUT for a store with too few records to train on.
 * spec NULL or "auto" takes the codec cvs_build_choose gives for the store
 * (its count, dimension, metric and raw mode at the call), and then
 * opts->index NULL (or opts NULL) or "auto" takes its index as well ("" =
 * codes only).  Exception, as before: spec NULL with opts->index
 * "faiss:..." builds the FAISS index alone, no codec.  An IVF index over
 * codes of more than 512 bytes (sq8 above 512 dimensions) is CVS_EINVAL,
 * before any training.  A raw "none" store keeps its first codec (its codes
 * are the only copy of the vectors): a later build with that spec (or NULL /
 * "auto") and an IVF index builds the index again over the codes, kept as
 * they are; anything else is CVS_EINVAL. */
CVS_API int cvs_build(cvs_db *db, const char *spec, const cvs_build_opts *opts) CVS_WUR;

/* The checks cvs_build makes of its arguments before any work, alone: the
 * codec spec against the store's dimension, opts->index's syntax (a FAISS
 * factory string is left to the build) and a graph index's need of 4-bit
 * codes.  CVS_EINVAL with cvs_build's own message; CVS_OK says nothing of
 * what the store's contents allow (too few records, a raw "none" store's
 * codec).  For callers that report something before the build starts. */
CVS_API int cvs_build_check(cvs_db *db, const char *spec, const cvs_build_opts *opts) CVS_WUR;

/* What cvs_build picks when told nothing: codec is a spec for cvs_build,
 * index a value for cvs_build_opts.index ("ivfN" or "ivfN,sq8"; "" for
 * none).  NUL-terminated. */
typedef struct cvs_build_choice {
    char codec[64];
    char index[64];
} cvs_build_choice;

/* The codec and index for a store of count records of dimension dim with
 * that metric and raw mode (raw 0 = CVS_RAW_F32), by the rules written out
 * (with their reasons) in index/choose.c:
 *   - under 2048 records: codec "sq8", no index (exact search is fastest);
 *   - raw none: "sq8" (the codes are the only copy of the vectors), and
 *     no index above 512 dimensions (an IVF list holds codes of at most
 *     512 bytes);
 *   - d <= 256: "opq,pq{d/2}x4" (odd d: "opq{d+1},pq{(d+1)/2}x4");
 *   - d > 256: "pca256,opq,pq128x4";
 *   - index "ivfN", N about 4 sqrt(count) (the "ivf" default), with ",sq8"
 *     re-ranking rows when the store keeps raw vectors and count * dim
 *     bytes is at most a quarter of the machine's physical memory and at
 *     most 2 GiB (every process that opens the store holds the rows).
 * It reads no store (only the machine's memory size).  CVS_EINVAL for dim 0 or above
 * CVS_MAX_DIM, or an unknown metric or raw mode. */
CVS_API int cvs_build_choose(uint64_t count, uint32_t dim, cvs_metric metric, cvs_raw raw,
                             cvs_build_choice *out) CVS_WUR;

typedef struct cvs_codec_info {
    char spec[128];        /* canonical spec */
    size_t code_bytes;     /* bytes per vector */
    size_t param_bytes;    /* codebooks and matrices */
    uint64_t generation;   /* increments with every build */
    uint32_t format;       /* the codec blob's version (docs/FORMAT.md, "Codec
                              blob"); 3 is rabitq's older one-centre layout,
                              read, searched and extended by puts but never
                              trained: a build gives version 4's codes */
} cvs_codec_info;

/* The store's codec; CVS_NOTFOUND when none has been built. */
CVS_API int cvs_codec_get_info(cvs_db *db, cvs_codec_info *info) CVS_WUR;

/* The store's trained codec as one self-contained blob (docs/FORMAT.md,
 * "Codec blob"), for cvs_build_with_codec on another store: how the shards
 * of a sharded store (docs/SCALING.md) share one codec, so that their code
 * distances are comparable.  *blob is malloc'd, freed with cvs_free.
 * CVS_NOTFOUND when no codec has been built. */
CVS_API int cvs_codec_export(cvs_db *db, void **blob, size_t *len) CVS_WUR;

/* cvs_build with a codec trained elsewhere: the len bytes of blob (from
 * cvs_codec_export of a store with the same dimension and metric; read only
 * during the call) replace the training, then the codec and every record's
 * code are written in one transaction, as cvs_build writes them.  Codes
 * only: opts->index must be NULL or "" (opts may be NULL; only its progress
 * callback is used).  CVS_ECORRUPT or CVS_EVERSION for a bad blob,
 * CVS_EINVAL for another dimension or metric. */
CVS_API int cvs_build_with_codec(cvs_db *db, const void *blob, size_t len,
                                 const cvs_build_opts *opts) CVS_WUR;

/* The store's IVF index parameters (centroids, residual or direct codes,
 * SQ8 ranges; the "meta/ivf" value of docs/FORMAT.md) as one blob, for
 * cvs_build_with_index on another store: how the shards of a sharded
 * store share one coarse quantizer as well as one codec.  *blob is
 * malloc'd, freed with cvs_free.  CVS_NOTFOUND when the store has no IVF
 * index (none built, or a FAISS one). */
CVS_API int cvs_index_export(cvs_db *db, void **blob, size_t *len) CVS_WUR;

/* cvs_build_with_codec with an IVF index too: the codec of codec_blob
 * (cvs_codec_export) and the centroids of index_blob (cvs_index_export,
 * both of one store of the same dimension and metric) replace all
 * training; the codec, every record's code and its inverted list are
 * written in one transaction, as cvs_build with opts->index "ivf..."
 * writes them.  Search defaults are the built-in ones, as after any build.
 * opts->index must be NULL or "" (only the progress callback is used).
 * CVS_ECORRUPT or CVS_EVERSION for a bad blob, CVS_EINVAL for another
 * dimension or metric, or residual / ",sq8" parameters given to a raw
 * "none" store.  A raw "none" store that has a codec keeps its codes (the
 * only copy of its vectors): it takes its own codec (the same bytes as
 * its cvs_codec_export) with an index, which is then built over the codes
 * as cvs_build does, and refuses any other (CVS_EINVAL). */
CVS_API int cvs_build_with_index(cvs_db *db, const void *codec_blob, size_t codec_len,
                                 const void *index_blob, size_t index_len,
                                 const cvs_build_opts *opts) CVS_WUR;

typedef struct cvs_index_info {
    char spec[128];        /* "ivf1024" or "faiss:HNSW32" */
    uint64_t count;        /* records in the index */
    size_t nlist;          /* IVF lists (0 for FAISS) */
    int residual;          /* IVF: codes encode the residual to the list
                              centroid (1) or the vector itself (0) */
    size_t nprobe;         /* defaults used by CVS_SEARCH_ANN */
    size_t rerank;
    uint64_t mem_bytes;    /* resident memory of the loaded index */
    uint64_t disk_bytes;   /* bytes of the index in the store's file */
    uint64_t dirty;        /* FAISS: records written since the build, which
                              searches score exactly until the next build */
    size_t refine;         /* IVF with ",sq8" rows: default exact re-score
                              depth (cvs_search_params.refine), 0 = none */
} cvs_index_info;

/* The store's ANN index; CVS_NOTFOUND when none has been built. */
CVS_API int cvs_index_get_info(cvs_db *db, cvs_index_info *info) CVS_WUR;
/* Stores the defaults CVS_SEARCH_ANN uses (0 leaves one unchanged;
 * rerank CVS_RERANK_NONE makes "no re-ranking" the default). */
#define CVS_RERANK_NONE ((size_t)-1)
CVS_API int cvs_index_set_defaults(cvs_db *db, size_t nprobe, size_t rerank) CVS_WUR;
/* Stores the default exact re-score depth of an IVF index with ",sq8" rows
 * (cvs_search_params.refine; 0 = none).  CVS_NOTFOUND without an IVF index;
 * every build removes it, as it does the other defaults. */
CVS_API int cvs_index_set_refine(cvs_db *db, size_t refine) CVS_WUR;

/* cvs_tune_opts.flags */
#define CVS_TUNE_REBUILD 0x1u /* IVF: also try other list counts and ",sq8"
                                 re-ranking rows, rebuilding the index
                                 (codec included) for each; see cvs_tune */

typedef struct cvs_tune_opts {
    double target_recall;  /* recall@k to reach, e.g. 0.95 */
    size_t k;              /* 0 = 10 */
    size_t sample;         /* query vectors drawn from the store; 0 = by
                              its size: 1e7 / records, in [200, 1000]
                              (index/tune.c deviation 9) */
    uint64_t seed;
    cvs_progress_fn progress;
    void *progress_ctx;
    unsigned flags;        /* 0 or CVS_TUNE_REBUILD */
    /* Sample queries of the workload (nqueries x dim, row-major), measured
     * instead of the store's own vectors; NULL draws `sample` of those.
     * Queries that come from elsewhere than the stored vectors (questions
     * against passages, another model's embeddings) are usually farther
     * from their neighbours and need more lists probed than a stored vector
     * does. */
    const float *queries;
    size_t nqueries;
} cvs_tune_opts;

typedef struct cvs_tune_result {
    size_t nprobe, rerank; /* the cheapest setting that reached the target */
    double recall;         /* its measured recall@k */
    double ms_per_query;   /* its measured cost: process CPU time per
                              query, one search thread */
    int reached;           /* 0: no setting reached the target; the most
                              accurate one tried is stored */
    char index[128];       /* the index spec in force afterwards, as
                              cvs_index_info.spec gives it */
    int rebuilds;          /* index builds CVS_TUNE_REBUILD ran (0 without) */
    size_t refine;         /* ",sq8" rows: the exact re-score depth chosen
                              (cvs_search_params.refine), 0 = none */
    size_t sample;         /* queries measured: opts->nqueries, or the
                              store's vectors drawn (opts->sample or its
                              default) */
    size_t searches;       /* runs of the sample's searches the tune made
                              (measurements, timings, head-to-heads): its
                              work, whatever the machine's load */
} cvs_tune_result;

/* Measures recall on a sample of the store's own vectors (or on
 * opts->queries) against exact search and stores the cheapest nprobe/rerank
 * (and, on an IVF index with ",sq8" rows, exact re-score depth: none or 2k)
 * reaching the target as the store's defaults.  "Reaching" means the lower
 * bound of a one-sided 90% confidence interval over the sample's per-query
 * recalls is at least the target, so that queries outside the sample reach
 * it too; res->recall is the sample's mean.  With CVS_TUNE_REBUILD on an IVF index of a store that
 * keeps raw vectors, it also tries, one change at a time from the best so
 * far, the index with and without ",sq8" rows, then half the list count,
 * then double it (or, when half won, half again; within the "ivf"
 * limits), each with the same residual/direct choice, the default
 * training sample and seed, and the store's codec (kept as it is over
 * direct codes; trained again from its spec over residual ones, which
 * depend on the lists), and measured the same way; a setting replaces the best
 * one only when its time per query at the target (interpolated between the
 * settings measured on either side of it) is lower by more than either's
 * timing noise (the gap between its two fastest of five runs), and the
 * best is
 * rebuilt at the end if it is not the last one built.  So at most four
 * builds, each at most as long as cvs_build's.  Every rebuild is one transaction
 * (cvs_build's promise): a failure leaves a consistent store with the last
 * index built, and the error.  A FAISS index is tuned without rebuilds
 * (res->rebuilds 0); a raw "none" store cannot be tuned (CVS_EINVAL: no
 * exact search to measure against). */
CVS_API int cvs_tune(cvs_db *db, const cvs_tune_opts *opts, cvs_tune_result *res) CVS_WUR;

/* ==== Files of vectors ==== */

typedef enum cvs_format {
    CVS_FMT_AUTO = 0,      /* from the file name's extension */
    CVS_FMT_FVECS = 1,
    CVS_FMT_BVECS = 2,
    CVS_FMT_NPY = 3,
    CVS_FMT_JSONL = 4,
    CVS_FMT_IVECS = 5      /* ground-truth files; not importable */
} cvs_format;

CVS_API int cvs_format_parse(const char *s, cvs_format *out) CVS_WUR;
CVS_API const char *cvs_format_name(cvs_format f);
/* Guess from the extension (.fvecs .bvecs .ivecs .npy .jsonl .json .ndjson).
 * CVS_EINVAL for a name without one, saying so (or that path is a
 * directory) and what to do. */
CVS_API int cvs_format_guess(const char *path, cvs_format *out) CVS_WUR;

/* Loads a whole vector file (fvecs, bvecs, npy or jsonl vectors; a jsonl
 * line's "id" may be left out, as only the vectors are kept) into memory
 * as float32.  *data is malloc'd, freed by the caller with cvs_free.  For
 * ivecs use cvs_ivecs_load. */
CVS_API int cvs_vecs_load(const char *path, cvs_format fmt, float **data,
                          size_t *n, uint32_t *dim) CVS_WUR;
CVS_API int cvs_ivecs_load(const char *path, int32_t **data, size_t *n,
                           uint32_t *dim) CVS_WUR;
CVS_API void cvs_free(void *p);

/* ==== Import ==== */

/* A JSONL record's top-level key that no field of the record format
 * (docs/FORMAT.md, "JSONL records") has, or a link object's member that is
 * not id, type or weight (named "links[].NAME"): the import ignores it --
 * files written for other tools import as they are -- and calls this once
 * per distinct key, at its first line, during the validation pass (before
 * anything is written).  key is the key (NUL-terminated), line its first
 * line (1-based), suggest the field it most likely meant ("meta" for
 * "metadata", "vector" for "embedding" or "vectr") or NULL, msg the whole
 * warning: "PATH: line N: key \"metadata\" is not a record field and was
 * ignored (did you mean \"meta\"?)".  All valid during the call only.
 * After CVS_IMPORT_KEYS_NAMED distinct keys the rest are counted (in
 * cvs_import_stats) but not named. */
typedef void (*cvs_import_warn_fn)(void *ctx, const char *key, uint64_t line,
                                   const char *suggest, const char *msg);
#define CVS_IMPORT_KEYS_NAMED 16

typedef struct cvs_import_opts {
    cvs_format format;     /* CVS_FMT_AUTO guesses from the extension */
    size_t batch;          /* records per transaction; 0 = 10000 */
    const char *ids_path;  /* fvecs/bvecs/npy: optional file with one id per
                              line, in record order (default "0","1",...) */
    int ids_as_text;       /* with ids_path: store each id as the text too */
    cvs_progress_fn progress;
    void *progress_ctx;
    cvs_import_warn_fn warn; /* jsonl: unknown keys, once each (NULL: counted only) */
    void *warn_ctx;
} cvs_import_opts;

typedef struct cvs_import_stats {
    uint64_t records;      /* records read */
    uint64_t inserted;
    uint64_t updated;
    uint64_t bytes;        /* bytes of input read */
    double validate_s;
    double write_s;
    uint64_t unknown_keys; /* jsonl: distinct keys ignored, top-level and
                              links[].NAME (counted up to 1024) */
    uint64_t unknown_key_records; /* jsonl: records holding such a key */
} cvs_import_stats;

/* Imports a file in two streaming passes: the first validates every record
 * (a file that fails changes nothing: CVS_EINPUT or CVS_EDIM, with file,
 * record and reason in cvs_errmsg), the second writes in batches of
 * opts->batch records, each batch its own transaction.  Killing the process
 * during the second pass leaves every committed batch intact; re-running the
 * same import is idempotent (upsert by id).  opts and stats may be NULL.
 * path "-" is standard input (opts->format then must be given); it, and any
 * other input that is not a regular file (a pipe, /dev/stdin), is first
 * copied to an unlinked spool file in $TMPDIR (else /tmp), so the same
 * validate-then-write promise holds.  A file of no records (empty, only
 * blank lines, or an npy of zero rows: what cvstore export writes for an
 * empty store) imports nothing and succeeds with stats->records 0; a
 * missing or unreadable one is CVS_EINVAL. */
CVS_API int cvs_import(cvs_db *db, const char *path, const cvs_import_opts *opts,
                       cvs_import_stats *stats) CVS_WUR;
/* Pass 1 of cvs_import alone: validates the file against db as cvs_import
 * would (the same errors and messages; links may name records of the file
 * or of db) and writes nothing (stats->inserted, updated and write_s stay
 * 0).  For callers that must check several inputs before writing any, as
 * cvstore-mpi does for the shards of one file.  A file that passes may
 * still fail cvs_import if db or the file changes in between. */
CVS_API int cvs_import_check(cvs_db *db, const char *path, const cvs_import_opts *opts,
                             cvs_import_stats *stats) CVS_WUR;

/* ==== Text ==== */

/* Lexical search: BM25 (k1 = 1.2, b = 0.75) over the records' title and
 * text, tokenized as documented in text/tokenize.c (NFKC case folding,
 * accents stripped, split on anything but letters and digits, Chinese and
 * Japanese into overlapping pairs of characters, a short English stop
 * list).  The index is updated in the transaction of every put
 * and delete.  keys (k) receives internal keys, best first, padded with -1;
 * scores (k) the BM25 scores, padded with NaN.  A query with no indexable
 * word (empty, only stop words) returns no results, not an error; one of
 * more than CVS_QUERY_MAX_BYTES is CVS_EINVAL. */
CVS_API int cvs_text_search(cvs_db *db, const char *query, size_t len, size_t k,
                            int64_t *keys, float *scores) CVS_WUR;
/* *outdated = 1 when the store's BM25 index was made by another version of
 * the tokenizer than this cvstore's (version 1, before Chinese and Japanese
 * text was split into words, text/tokenize.c deviation 2), else 0.  Such an
 * index still answers (English and other spaced text alike) and is sound;
 * the store's next write (any put or delete) indexes every record again in
 * that write's transaction.  cvs_check does not count it as a problem
 * (cvstore check prints it as a note). */
CVS_API int cvs_text_index_outdated(cvs_db *db, int *outdated) CVS_WUR;
/* Same, inside a caller's snapshot. */
CVS_API int cvs_txn_text_search(cvs_txn *txn, const char *query, size_t len, size_t k,
                                int64_t *keys, float *scores) CVS_WUR;
/* *n = the words of len bytes of UTF-8 text (len 0 = strlen; text NULL
 * with len 0 has none), split as BM25 splits them (runs of letters and
 * digits, text/tokenize.c) but counting stop words and over-long runs
 * too.  0 means the text has nothing to read: empty, or only spaces (any
 * Unicode space: U+00A0, U+3000, ...), punctuation and symbols.  Such a
 * text is refused by cvs_mem_remember (nothing to remember), cvs_mem_recall
 * and cvs_context (no question) with no query vector; callers use this to
 * refuse it first (cvstore context --text, the MCP server).  CVS_EINPUT
 * for text that is not UTF-8. */
CVS_API int cvs_text_words(const char *text, size_t len, size_t *n) CVS_WUR;
/* *n = the words of the text BM25 searches: cvs_text_words' words less the
 * stop words ("the", "is", "who", ... text/tokenize.c) and runs over 64
 * bytes.  A question with words but no such word (stop words only) finds
 * nothing by text, and nothing at all with the glove embedder, which
 * leaves stop words out too: an empty set is then no verdict on the store,
 * and callers say why (cvs_text_empty_note).  CVS_EINPUT for text that is
 * not UTF-8. */
CVS_API int cvs_text_terms(const char *text, size_t len, size_t *n) CVS_WUR;
/* Why a question of these len bytes (0 = strlen) finds nothing, when the
 * question itself is the reason: *note = a message for the user ("no
 * result: the question has only stop words ...: add a word that names what
 * you look for") when the text has words (cvs_text_words) but none that
 * BM25 searches (cvs_text_terms), else NULL.  The message is static: valid
 * for the life of the program, never freed.  Callers show it beside an
 * empty result (cvstore context, MCP recall's "note", Python's Context.note
 * and recall()), so that an empty set of such a question does not read as
 * "the store holds nothing about it".  CVS_EINVAL for a NULL argument,
 * CVS_EINPUT for text that is not UTF-8 (*note = NULL then). */
CVS_API int cvs_text_empty_note(const char *text, size_t len, const char **note) CVS_WUR;

/* The sentences of the record with internal key `key` in txn's snapshot, as
 * context sets cut it (--unit sentence): *n (start, end) pairs of byte
 * offsets into its text, the first min(*n, cap) written to pairs (2 * cap
 * uint32_t, caller-owned; call again with room when *n > cap).  *given
 * (may be NULL) is 1 when they came with the record (JSONL "sentences",
 * cvs_record.sentences) and 0 when they are ICU's split of the text, which
 * an import of the same text computes again.  A record without text has
 * none (*n = 0); CVS_NOTFOUND when there is no such record. */
CVS_API int cvs_txn_sentences(cvs_txn *txn, int64_t key, uint32_t *pairs, size_t cap,
                              size_t *n, int *given) CVS_WUR;

/* An embedder: writes n rows of dim floats (the dim it was attached with) to
 * out for the n texts (texts[i] has lens[i] bytes of UTF-8, not necessarily
 * NUL-terminated; valid during the call only).  Returns 0, or a negative
 * CVS_E* code that the calling cvstore function passes on (any other
 * non-zero value becomes CVS_EIO).  May be called from several threads at
 * once when the application searches from several threads. */
typedef int (*cvs_embed_fn)(void *ctx, const char *const *texts, const size_t *lens,
                            size_t n, float *out /* n x dim */);

#define CVS_EMBEDDER_NAME_MAX 255

/* Attaches an embedder to this handle, for cvs_embed_text(s) (and text
 * imports).  name (1..CVS_EMBEDDER_NAME_MAX bytes) identifies the model:
 * the store records the name and dim of the first embedder attached to it
 * (meta "embedder"), and from then on refuses another name or dim with
 * CVS_EINVAL, so a store's vectors and its queries always come from the
 * same model.  dim must be the store's (CVS_EDIM otherwise).
 *
 * fn NULL selects a built-in by name (dim 0 = the built-in's own):
 *   "glove": SIF sentence embeddings (Arora et al. 2017) over the GloVe 6B
 *            100-d word vectors, from the cache that cvs_glove_dir names;
 *            CVS_NOTFOUND, naming the directory and the command that fetches
 *            the files, when they are missing; CVS_ECORRUPT, with the same
 *            command and the files to remove first, when they are damaged
 *            (cut short, or not of one download).  The store also records a
 *            BLAKE2b fingerprint of the vocabulary and refuses a cache whose
 *            vocabulary differs.
 *   "use":   Google's Universal Sentence Encoder lite (Cer et al. 2018),
 *            512-d, a small transformer trained for question-answer
 *            retrieval and paraphrase, run on the CPU (query/embed_use.c),
 *            from use-lite.bin in the cache that cvs_use_dir names (same
 *            CVS_NOTFOUND, and CVS_ECORRUPT for a damaged file, or
 *            CVS_EVERSION for one of another version: the message names the
 *            fetcher, fetch-use.sh beside fetch-glove.sh).  The store
 *            records a BLAKE2b fingerprint of the model file and refuses
 *            another.  Texts past 128 pieces are embedded by their start.
 *   "minilm": all-MiniLM-L6-v2 (sentence-transformers; Reimers & Gurevych
 *            2019, Wang et al. 2020), 384-d, a 6-layer BERT trained on
 *            sentence and question-answer pairs, run on the CPU
 *            (query/embed_minilm.c), from model.fp16.safetensors and
 *            tokenizer.json in the cache that cvs_minilm_dir names (the
 *            same CVS_NOTFOUND and CVS_ECORRUPT, naming fetch-minilm.sh).
 *            The store records a BLAKE2b fingerprint of the model (weights
 *            and vocabulary) and refuses another.  Texts past 256 pieces
 *            are embedded by their start.  ~90 MB per process, shared by
 *            every handle that loads the same files.
 * ctx belongs to the caller and must outlive the handle (or the next
 * cvs_db_set_embedder).  A read-only handle attaches without recording. */
CVS_API int cvs_db_set_embedder(cvs_db *db, const char *name, uint32_t dim,
                                cvs_embed_fn fn, void *ctx) CVS_WUR;

typedef struct cvs_embedder_info {
    char name[CVS_EMBEDDER_NAME_MAX + 1];
    uint32_t dim;
    int has_fingerprint;          /* built-ins with data files ("glove", "use",
                                     "minilm") */
    unsigned char fingerprint[32]; /* BLAKE2b-256 of the vocabulary file
                                      (glove) or of the model (use, minilm) */
    int fitted;                   /* SIF common component: 0 none (embeddings
                                     skip its removal), 1 fitted on a first
                                     import (stores of older versions), 2
                                     fixed by the vocabulary (every store
                                     made now) */
    int data_in_store;            /* glove: the store keeps its own copy of the
                                     vocabulary (cvs_db_copy_embedder_data) */
} cvs_embedder_info;

/* The embedder recorded in the store; CVS_NOTFOUND when none is. */
CVS_API int cvs_db_embedder_info(cvs_db *db, cvs_embedder_info *info) CVS_WUR;

/* Copies the data of the store's embedder into the store, so that it keeps
 * working where the data is missing (a store moved to another machine):
 * for "glove", glove100.words and glove100.fvecs from the cache (~141 MB),
 * which must match the recorded fingerprint (CVS_EINVAL otherwise).  The
 * cache is still preferred when it matches.  CVS_OK without change for
 * other embedders and for a store that has the copy already. */
CVS_API int cvs_db_copy_embedder_data(cvs_db *db) CVS_WUR;

/* Embeds n texts with the handle's embedder into out (n x dim floats,
 * caller-owned).  With none attached, a store that records "glove" attaches
 * the built-in by itself; any other store needs cvs_db_set_embedder first
 * (CVS_EINVAL).  CVS_EINPUT for text that is not UTF-8, or (glove) that has
 * no word of the vocabulary, or that an application's embedder refused with
 * CVS_EINPUT; CVS_EIO when an application's embedder fails otherwise or
 * returns a non-finite value (the embedder is broken, not the text: the
 * memory layer keeps a text its embedder cannot embed, never one embedded
 * wrong). */
CVS_API int cvs_embed_texts(cvs_db *db, const char *const *texts, const size_t *lens,
                            size_t n, float *out) CVS_WUR;
/* One text (len 0 with a NUL-terminated text means strlen). */
CVS_API int cvs_embed_text(cvs_db *db, const char *text, size_t len, float *out) CVS_WUR;

/* Makes sure the store has its embedder's fixed state before texts are
 * embedded: for "glove", the SIF common component, which is derived from
 * the vocabulary alone (query/embed_sif.c) and installed while the store
 * has no record; the texts are not used (they once were a fitting sample,
 * which made embeddings depend on what was written first).  A store that
 * has a component keeps it.  A no-op for other embedders. */
CVS_API int cvs_embed_fit(cvs_db *db, const char *const *texts, const size_t *lens,
                          size_t n) CVS_WUR;

/* The directory of the GloVe cache, without creating it: $CVSTORE_GLOVE_DIR,
 * else $CVSTORE_CACHE/glove, else $XDG_CACHE_HOME/cvstore/glove, else
 * $HOME/.cache/cvstore/glove.  It holds glove100.fvecs and glove100.words
 * (scripts/fetch-glove.sh writes them).  CVS_EINVAL if it does not fit in
 * cap bytes, CVS_NOTFOUND when no variable names a place. */
CVS_API int cvs_glove_dir(char *buf, size_t cap) CVS_WUR;

/* The directory of the "use" model cache, the same way: $CVSTORE_USE_DIR,
 * else $CVSTORE_CACHE/use, else $XDG_CACHE_HOME/cvstore/use, else
 * $HOME/.cache/cvstore/use.  It holds use-lite.bin (scripts/fetch-use.sh
 * writes it). */
CVS_API int cvs_use_dir(char *buf, size_t cap) CVS_WUR;

/* The directory of the "minilm" model cache, the same way:
 * $CVSTORE_MINILM_DIR, else $CVSTORE_CACHE/minilm, else
 * $XDG_CACHE_HOME/cvstore/minilm, else $HOME/.cache/cvstore/minilm.  It
 * holds model.fp16.safetensors and tokenizer.json (scripts/fetch-minilm.sh
 * writes them, with the package's licence files). */
CVS_API int cvs_minilm_dir(char *buf, size_t cap) CVS_WUR;

/* An HTTP embedder for servers speaking OpenAI's POST /v1/embeddings
 * (llama.cpp's server, Ollama, text-embeddings-inference, vLLM): url is the
 * full endpoint ("http://localhost:8080/v1/embeddings"), model the model
 * name sent with every request, api_key (NULL = none) is sent as a bearer
 * token; all three are copied.  dim 0 asks the server once (one request
 * embedding "dimension").  Texts go in batches of 64 per request.  HTTP and transport failures are
 * CVS_EIO with the URL, the status and the server's error message. */
typedef struct cvs_http_embedder cvs_http_embedder;
CVS_API int cvs_http_embedder_new(const char *url, const char *model, const char *api_key,
                                  uint32_t dim, cvs_http_embedder **out) CVS_WUR;
CVS_API uint32_t cvs_http_embedder_dim(const cvs_http_embedder *e);
/* A cvs_embed_fn; ctx is a cvs_http_embedder.  Calls are serialized. */
CVS_API int cvs_http_embed(void *ctx, const char *const *texts, const size_t *lens,
                           size_t n, float *out) CVS_WUR;
CVS_API void cvs_http_embedder_free(cvs_http_embedder *e);
/* Creates an HTTP embedder owned by db (freed with it) and attaches it under
 * the name "http:MODEL". */
CVS_API int cvs_db_set_embedder_http(cvs_db *db, const char *url, const char *model,
                                     const char *api_key) CVS_WUR;

/* How a context set is chosen from its candidates (cvs_context, and the
 * memory layer's recall). */
typedef enum cvs_context_strategy {
    CVS_CONTEXT_DIVERSE = 0, /* relevance + facility-location coverage,
                                cost-aware lazy greedy (query/select.c) */
    CVS_CONTEXT_TOPK = 1,    /* by score while the budget allows */
    CVS_CONTEXT_MMR = 2,     /* maximal marginal relevance, lambda */
    CVS_CONTEXT_BM25 = 3,    /* baselines: BM25 ranking alone, no graph */
    CVS_CONTEXT_VECTOR = 4   /*            vector ranking alone, no graph */
} cvs_context_strategy;

/* What a context set is made of (cvs_context_opts.unit). */
typedef enum cvs_context_unit {
    CVS_UNIT_PASSAGE = 0,    /* whole records */
    CVS_UNIT_SENTENCE = 1    /* the sentences of records that answer the
                                question (query/sentsel.c) */
} cvs_context_unit;

/* "passage" | "sentence"; CVS_EINVAL otherwise. */
CVS_API int cvs_context_unit_parse(const char *s, cvs_context_unit *out) CVS_WUR;

/* ==== Memory (for agents) ==== */

/* A memory layer over a text store (one with an embedder, e.g. `cvstore
 * init DB --embedder glove`), as the MCP server (`cvstore mcp`) exposes it.
 * Memories are ordinary records: an id the library picks ("m" and 16 hex
 * digits), the text, JSON metadata and links, so every other part of the
 * store (BM25, filters, links, export) sees them.  query/memory.c explains
 * the method; docs/FORMAT.md lists the reserved metadata members ("_ns",
 * "_hash", "_recalled", "_conv", "_seq", "_superseded_by").
 *
 *   - Namespaces: every memory belongs to one (a string of 1..255 bytes;
 *     NULL or "" means "default").  Remember refuses (CVS_EINVAL) a blank
 *     namespace (only spaces, of any script) or one holding a control
 *     character (C0, DEL, C1: a newline, a tab); recall, list and forget
 *     still take one, so that a store written before keeps its memories.  Recall, list and forget see only the
 *     namespace they are given; links, "supersedes" and conversations stay
 *     inside one namespace.
 *   - Exact duplicates (same namespace and text, by a BLAKE2b-256 hash) are
 *     not stored again.  Near-duplicates -- cosine similarity of the
 *     embeddings >= CVS_MEM_NEAR_DUP to a memory of the namespace -- are
 *     judged by their words (the BM25 tokens, stop words left out): when
 *     the new text has every word of the old one and their Jaccard overlap
 *     is >= CVS_MEM_SAME_WORDS they are the same memory reworded and update
 *     it (its text becomes the new wording, the metadata members given
 *     are merged in, its id, creation time and links stay); otherwise
 *     (a name, number or word of the old text is missing from the new)
 *     they are a revision of it, added as a new memory that supersedes it
 *     -- when both are about the same thing: the same theme, the first
 *     content word with the words that own it ("my son's school": son,
 *     school; pronouns, articles and a correction's "actually" skipped).
 *     Near embeddings with another theme ("my daughter's school ...") are
 *     another fact, added as a memory of its own.
 *   - A memory that replaces an earlier one gets a "supersedes" link to it
 *     and the earlier one the member "_superseded_by"; recall multiplies
 *     the score of a superseded memory by CVS_MEM_SUPERSEDED_WEIGHT, gives
 *     its newest live replacement at least the score that leaves it (adding
 *     it to the answer's candidates when no ranking found it), and never
 *     returns it without that replacement, which comes first (when the
 *     replacement passes the recall's filter; query/memory.c, rule 19).  It
 *     happens when remember names the earlier memory (supersedes), for a
 *     revision (above), or when the new memory's metadata has a string
 *     member "subject" equal to that of the newest memory of the namespace
 *     not yet superseded.  Nothing is deleted except by cvs_mem_forget.
 *   - Memories remembered with the same conversation id are chained by
 *     "prev" (to the one before) and "next" links (from it).
 *
 * Checks and writes of one call are two transactions, and the write is
 * made only when no other writer committed since the checks (else they run
 * again), so two processes or threads remembering the same text at once
 * store it once.  Every
 * function here writes through cvs_put/cvs_delete, so the handle must be
 * writable -- except recall, which stores the last-recalled time when it
 * can and answers without storing it when the store cannot be written (a
 * full disk, a read-only handle) or another process is writing it (rather
 * than wait for that writer: recall is a read). */

#define CVS_MEM_NEAR_DUP 0.95f          /* default near-duplicate threshold */
#define CVS_MEM_SAME_WORDS 0.8          /* word overlap of a rewording */
#define CVS_MEM_SUPERSEDED_WEIGHT 0.25f /* recall score factor of a superseded memory */
#define CVS_MEM_RRF_K 60                /* reciprocal-rank fusion constant */
#define CVS_MEM_NS_MAX 255              /* bytes of a namespace */
#define CVS_MEM_HOPS_MAX 4              /* recall's hops */
#define CVS_MEM_DEFAULT_NS "default"
#define CVS_MEM_MAX_BYTES 65536         /* default cap on a memory's text + metadata */

typedef struct cvs_mem_remember_opts {
    const char *ns;            /* namespace (NUL-terminated); NULL = "default" */
    const char *meta;          /* JSON object or NULL; members whose names
                                  begin with "_" are reserved (CVS_EINPUT) */
    size_t meta_len;           /* 0 = strlen(meta) */
    const cvs_link *links;     /* to memories of the same namespace */
    size_t nlinks;
    const char *conversation;  /* NULL, or a conversation id (NUL-terminated):
                                  chains this memory after its last one (not
                                  when it merges into a near-duplicate) */
    const char *supersedes;    /* NULL, or the id (NUL-terminated) of a memory
                                  of the namespace that this one replaces */
    float near_dup;            /* cosine threshold; 0 = CVS_MEM_NEAR_DUP,
                                  above 1 turns near-duplicate merging off */
    size_t max_bytes;          /* most bytes of text plus metadata;
                                  0 = CVS_MEM_MAX_BYTES.  A memory is a fact
                                  or a summary, not a document, and one that
                                  is too large breaks the clients that read
                                  it back (an MCP client's message buffer) */
} cvs_mem_remember_opts;

typedef enum cvs_mem_outcome {
    CVS_MEM_ADDED = 1,         /* a new memory */
    CVS_MEM_DUPLICATE = 2,     /* the same text was there: nothing changed */
    CVS_MEM_MERGED = 3         /* a near-duplicate was updated */
} cvs_mem_outcome;

typedef struct cvs_mem_remembered {
    char id[CVS_MAX_ID_LEN + 1];         /* the memory added, found or updated */
    cvs_mem_outcome outcome;
    float similarity;                    /* MERGED: the cosine similarity to the
                                            memory updated; ADDED: to the memory
                                            it superseded as a revision; else 0 */
    char superseded[CVS_MAX_ID_LEN + 1]; /* the memory it superseded, or "" */
} cvs_mem_remembered;

/* Remembers len bytes of UTF-8 text (len 0 = strlen) in opts->ns (opts may
 * be NULL).  CVS_EINPUT for empty or invalid text, text of no words
 * (cvs_text_words: only spaces, punctuation or symbols), text and metadata over
 * opts->max_bytes (nothing is stored), bad metadata, a link or
 * supersedes naming no memory of the namespace; CVS_EINVAL for a store
 * without an embedder.  Text the embedder cannot embed (glove: no word of
 * its vocabulary) is stored all the same with a stand-in vector (metadata
 * "_noembed"): recall finds it by its words, and it is never taken for a
 * near-duplicate.  *out is the caller's. */
CVS_API int cvs_mem_remember(cvs_db *db, const char *text, size_t len,
                             const cvs_mem_remember_opts *opts,
                             cvs_mem_remembered *out) CVS_WUR;

/* Remembers n texts (texts[i] of lens[i] bytes; lens NULL or lens[i] 0 =
 * strlen) with the same opts, into outs[0..n-1] (caller-owned, n of them):
 * each outcome is exactly what n cvs_mem_remember calls in this order
 * would give (ids apart, which are random either way): a later text may be
 * a duplicate of, merge into, revise or follow in a conversation an
 * earlier one of the same call.  The texts are embedded together (with
 * "minilm" a text costs about half the CPU time of one call each) and
 * written in one transaction: all or nothing.
 * Every text is checked first; a bad one (empty, not UTF-8, no words, over
 * opts->max_bytes) fails the whole call with CVS_EINPUT, its index in the
 * message ("text 3: empty text"), and nothing is stored; so do the errors
 * of cvs_mem_remember.  n 0 checks opts and stores nothing.  texts may be
 * NULL when n is 0.  n over CVS_MEM_REMEMBER_MAX is CVS_EINVAL (nothing
 * stored): checking a text against the earlier ones of its call makes a
 * call's cost grow with the square of n; split more into several calls. */
#define CVS_MEM_REMEMBER_MAX 1000
CVS_API int cvs_mem_remember_many(cvs_db *db, const char *const *texts, const size_t *lens,
                                  size_t n, const cvs_mem_remember_opts *opts,
                                  cvs_mem_remembered *outs) CVS_WUR;

typedef enum cvs_mem_strategy {
    CVS_MEM_HYBRID = 0,        /* BM25 and vector ranks, fused (RRF) */
    CVS_MEM_LEXICAL = 1,       /* BM25's ranking */
    CVS_MEM_VECTOR = 2         /* the embeddings' ranking */
    /* Lexical and vector keep query/memory.c's rule 8 (a memory naming what
     * the question names by a capitalised word or number comes first); only
     * hybrid recall with a trained encoder (rules 12 and 18) weighs names
     * otherwise. */
} cvs_mem_strategy;

/* "hybrid" | "lexical" (or "bm25") | "vector"; CVS_EINVAL otherwise. */
CVS_API int cvs_mem_strategy_parse(const char *s, cvs_mem_strategy *out) CVS_WUR;

typedef struct cvs_mem_recall_opts {
    const char *ns;            /* namespace; NULL = "default" */
    size_t k;                  /* at most k memories; 0 = 10; a k above
                                  the memories that match (10^9) returns
                                  every match */
    size_t token_budget;       /* at most this many tokens in all, a token
                                  being 4 bytes of title + text, rounded up;
                                  0 = no limit */
    cvs_mem_strategy strategy; /* the rankings that find candidates */
    cvs_context_strategy selection; /* how the answer is chosen from them:
                                  CVS_CONTEXT_DIVERSE (0, the default),
                                  CVS_CONTEXT_TOPK or CVS_CONTEXT_MMR, as
                                  cvs_context chooses (others: CVS_EINVAL) */
    double half_life_s;        /* > 0: scores are multiplied by
                                  0.5^(age / half_life), age counted from the
                                  later of creation and last recall; 0 = off;
                                  below 0 or NaN: CVS_EINVAL */
    int hops;                  /* links of the direct hits (conversation
                                  neighbours, superseded memories, the
                                  caller's links) followed this many hops,
                                  0..CVS_MEM_HOPS_MAX, in both directions;
                                  the memories found compete too, at half
                                  their source's score per hop (a quarter
                                  against a link's direction); 0 = direct
                                  hits only */
    const char *filter;        /* NULL, or a metadata filter (cvs_filter_parse
                                  syntax) ANDed with the namespace */
    size_t filter_len;         /* 0 = strlen(filter) */
    int no_touch;              /* 1: do not store the last-recalled time */
    cvs_context_unit unit;     /* CVS_UNIT_SENTENCE: each memory's text is
                                  only its sentences that answer the query
                                  (cvs_context_opts.unit); default passage */
} cvs_mem_recall_opts;

/* One memory in a result.  Every pointer refers to memory owned by the
 * cvs_mem_items it came from, valid until cvs_mem_items_free. */
typedef struct cvs_mem_item {
    const char *id;            /* NUL-terminated, id_len bytes */
    size_t id_len;
    const char *text;          /* NUL-terminated, text_len bytes */
    size_t text_len;
    const char *meta;          /* the caller's metadata (reserved members
                                  left out), compact JSON, "{}" when none */
    const char *ns;
    const char *conversation;  /* NULL when none */
    const char *supersedes;    /* id of the memory it superseded, or NULL */
    const char *superseded_by; /* id of the memory superseding it, or NULL */
    int64_t created_us;        /* microseconds since the epoch */
    int64_t recalled_us;       /* last recall before this one; 0 = never */
    float score;               /* recall: the score it was selected by;
                                  list: 0 */
    size_t tokens;
    const char *const *path;   /* recall: ids from a direct hit to this
                                  memory (path[0] is the hit; npath 1 for a
                                  direct hit itself); list: NULL */
    const char *const *path_types; /* recall: how each step was reached
                                  (cvs_context_step's type): path[0] by the
                                  rankings that found it ("bm25", "vector",
                                  "bm25+vector"), each later one by the link
                                  taken from the step before ("link", or
                                  "linked-by" against its direction);
                                  list: NULL */
    size_t npath;              /* hops from the direct hit, plus 1 */
} cvs_mem_item;

/* A result, in a struct the caller owns (zero it or let the call fill it);
 * its contents are the library's until cvs_mem_items_free. */
typedef struct cvs_mem_items {
    cvs_mem_item *items;       /* n items, best (recall) or newest (list) first */
    size_t n;
    size_t tokens;             /* sum over the items */
    char cursor[32];           /* list: pass to the next call for the next
                                  page; "" after the last page */
    void *priv_;               /* private */
} cvs_mem_items;

/* Frees what a result holds and zeroes it; accepts NULL and a zeroed one. */
CVS_API void cvs_mem_items_free(cvs_mem_items *r);

/* The context set (cvs_context) of a query over one namespace: the BM25
 * ranking (cvs_text_search) and the vector ranking (the embedded query) of
 * the namespace's memories, fused by reciprocal-rank fusion (Cormack et al.
 * 2009, k = CVS_MEM_RRF_K; the hybrid strategy also weighs each memory by
 * the question's names and the share of its words it holds, looks for a
 * question word no memory has under a near word and, with the glove
 * embedder, counts a memory's words near the question's too,
 * query/memory.c rules 7 to 11; with the built-in use embedder the hybrid
 * strategy does not fuse ranks: the encoder's cosine leads, the question's
 * names (not a lone digit) still first and the share of its words
 * adding at most the spread of the question's cosines to the memories in
 * scope (an evenly spaced sample of them), and a memory's score is exp of
 * how many spreads it falls below the best, rules 12 to 15),
 * expanded opts->hops along links
 * inside the namespace,
 * down-weighted when superseded and, optionally, by age; then
 * chosen by opts->selection within k and the token budget (a memory that
 * does not fit is skipped for a smaller one).  A superseded memory is
 * never hidden as a near-duplicate of the one replacing it: it comes
 * later, marked superseded_by.  In ip and cosine stores, vector hits of
 * similarity 0 or less are left out (they are unrelated, not far down).
 * Stores the time as the last-recalled time of the memories returned
 * (unless opts->no_touch).  A query with no
 * indexable word and no embeddable word (stop words only) gives no
 * results, not an error; one of no words at all (cvs_text_words: empty,
 * spaces, punctuation) or of more than CVS_QUERY_MAX_BYTES is CVS_EINVAL.  opts may be NULL;
 * *out is overwritten (free it first if it held one). */
CVS_API int cvs_mem_recall(cvs_db *db, const char *query, size_t len,
                           const cvs_mem_recall_opts *opts, cvs_mem_items *out) CVS_WUR;

/* The memories of namespace ns, newest first, limit at a time (0 = 20):
 * cursor NULL or "" for the first page, then out->cursor of the previous
 * page.  CVS_EINVAL for a malformed cursor. */
CVS_API int cvs_mem_list(cvs_db *db, const char *ns, const char *cursor, size_t limit,
                         cvs_mem_items *out) CVS_WUR;

/* Deletes from namespace ns the memory id (id_len 0 = strlen) and/or the
 * memories matching filter (cvs_filter_parse syntax; filter_len 0 =
 * strlen); with both, only the memory id and only if it matches.  At least
 * one must be given (CVS_EINVAL).  *forgotten (may be NULL) gets the count;
 * an id not in the namespace counts 0 and is not an error.  Links to the
 * memories forgotten are removed from the others (cvs_delete). */
CVS_API int cvs_mem_forget(cvs_db *db, const char *ns, const char *id, size_t id_len,
                           const char *filter, size_t filter_len,
                           size_t *forgotten) CVS_WUR;
/* ==== Graph and context sets ==== */

/* The graph over the records has two kinds of edges:
 *   - links (cvs_link): explicit ones from the JSONL "links", and the
 *     automatic "mentions" links of cvs_link_mentions; kept by external id
 *     in the "links" database, visible in cvs_get and export;
 *   - kNN edges: each record's K nearest records (cvs_knn_build), in the
 *     "knn" database (docs/FORMAT.md).
 * cvs_context walks both from the seeds of a hybrid search. */

#define CVS_LINK_MENTIONS "mentions" /* type of the automatic links */

typedef struct cvs_link_stats {
    uint64_t records;      /* records scanned */
    uint64_t titles;       /* titles usable as mentions (after skipping short,
                              stop-word and numeric ones) */
    uint64_t sources;      /* records that got at least one mention link */
    uint64_t links;        /* mention links written */
    double seconds;
} cvs_link_stats;

/* The automatic linker: links every record to the records whose title its
 * text mentions, as links of type CVS_LINK_MENTIONS, weight 1.  A mention
 * is the title's token sequence (text/tokenize.c: case and Unicode folded,
 * accents and stop words dropped) occurring in the text's token sequence,
 * so "Paris" matches "PARIS," but not "Parisian"; a title's form before
 * " (" or ", " counts too ("Steve Smith (musician)", "Stanley, North
 * Dakota" are mentioned as "Steve Smith", "Stanley"); leftmost-longest, so
 * "New York City" links to that title and not also to "New York".  Titles
 * that are mostly stop words, a single token under 3 bytes or in over 1%
 * of the records, or only numbers are skipped; a title shared by several
 * records links to each of them (up to 8; a title of more records links
 * none).  A match is a mention only when the text writes with a capital
 * each word the title writes with one (unless the text writes no capital
 * at all, or the title none): "a French pilot" does not mention "Pilot
 * (Will & Grace)".  Replaces the mention links of an earlier run (explicit
 * links stay) and the title map that cvs_context matches questions
 * against, and records the linker's rule (cvs_link_rule_outdated), in one
 * write transaction, so it is idempotent.  A record put again later loses its mention links (cvs_put
 * replaces all links) until the next run.  stats may be NULL. */
CVS_API int cvs_link_mentions(cvs_db *db, cvs_link_stats *stats) CVS_WUR;

/* Mention links of one store among several (the shards of a sharded store,
 * docs/SCALING.md) as one store holding all their records would have them:
 * the linker matches this store's texts against the titles of every store,
 * judges a title with the record count and document frequencies of all,
 * and links a mention of another store's record by its id (links are kept
 * by id: the reader of all the stores follows it there; this store's own
 * readers skip it, as any link to an id they do not hold).  The title map
 * keeps this store's titles only.  The scope, caller-owned, read during the
 * call: */
struct cvs_terms;
typedef struct cvs_link_title {
    const char *id;            /* a record with a title, of any of the stores */
    size_t id_len;
    const char *title;
    size_t title_len;
} cvs_link_title;
typedef struct cvs_link_scope {
    const cvs_link_title *titles; /* every titled record of all the stores, in
                                     the order one store would hold them (it
                                     orders a title's several records) */
    size_t ntitles;
    uint64_t records;          /* records of all the stores */
    const uint64_t *df;        /* document frequency over all the stores (the
                                  sums of cvs_txn_text_stats) of each term of
                                  cvs_link_title_terms(titles) ... */
    size_t ndf;                /* ... of which there are ndf */
} cvs_link_scope;
/* The terms whose document frequencies judge titles (their one-word forms,
 * in the order the linker takes them): *buf malloc'd (free with cvs_free),
 * terms->buf pointing into it.  CVS_EINVAL for a NULL title of nonzero
 * length. */
CVS_API int cvs_link_title_terms(const cvs_link_title *titles, size_t n, char **buf,
                                 struct cvs_terms *terms) CVS_WUR; /* cvs_terms: below */
/* cvs_link_mentions with the titles and statistics of scope (the same
 * transaction, the same replacement of mention links and title map);
 * stats->records counts this store's records.  CVS_EINVAL when scope->ndf
 * is not the count of cvs_link_title_terms. */
CVS_API int cvs_link_mentions_scope(cvs_db *db, const cvs_link_scope *scope,
                                    cvs_link_stats *stats) CVS_WUR;

/* Were the store's mention links made by an older rule of the linker than
 * this build's?  The rule changes what a match is (today: a title's
 * occurrence is a mention only when the text writes the title's capitals,
 * graph/link.c deviation 8); cvs_link_mentions records its rule in the
 * store, and a put in a text store relinks only the records it touches,
 * so a store linked by an older cvstore keeps its other links as that one
 * made them.  *outdated 1 when the store has titles to link (its title map
 * is not empty) and no run of this rule has linked it (cvs_link_mentions,
 * `cvstore link`, an import that links); then run cvs_link_mentions.  0
 * otherwise, also for a store never linked, or one that only puts have
 * linked since its first title.  Reads a snapshot; works read-only. */
CVS_API int cvs_link_rule_outdated(cvs_db *db, int *outdated) CVS_WUR;

typedef struct cvs_knn_opts {
    size_t k;              /* neighbours per record; 0 = 16 */
    unsigned flags;        /* search used to find them: 0 or CVS_SEARCH_EXACT
                              (sgemm batches), or CVS_SEARCH_ANN (the store's
                              index; then recall is measured) */
    size_t recall_sample;  /* ANN: records whose neighbours are checked
                              against exact search; 0 = 200 */
    cvs_progress_fn progress;
    void *progress_ctx;
} cvs_knn_opts;

typedef struct cvs_knn_info {
    size_t k;
    uint64_t records;      /* rows written by the build */
    int approximate;       /* built from the ANN index */
    double recall;         /* mean recall@k of the rows against the exact
                              k nearest (1 for an exact build) */
    double seconds;        /* build time */
    int64_t built_us;
} cvs_knn_info;

/* Builds the kNN graph: for every record its k nearest other records, with
 * their scores (as cvs_search reports them), replacing any earlier graph in
 * one write transaction.  Deleting a record drops its row at once; rows
 * naming it are filtered when read, so no edge ever leads to a deleted
 * record.  Records put after the build have no stored row: their
 * neighbours are found by an exact search when read (cvs_knn_neighbors,
 * cvs_context), but older records' rows name them only after the next
 * build.  info may be NULL. */
CVS_API int cvs_knn_build(cvs_db *db, const cvs_knn_opts *opts, cvs_knn_info *info) CVS_WUR;
/* The last build's report; CVS_NOTFOUND when the store has no graph. */
CVS_API int cvs_knn_get_info(cvs_db *db, cvs_knn_info *info) CVS_WUR;
/* Neighbours of one record in txn's snapshot, best first, skipping deleted
 * ones: up to cap into keys/scores (caller-owned), *n the count written.
 * A record put after the build gets its K nearest by an exact search; *n =
 * 0 when the store has no graph or no such record. */
CVS_API int cvs_knn_neighbors(cvs_txn *txn, int64_t key, size_t cap, int64_t *keys,
                              float *scores, size_t *n) CVS_WUR;

/* The token estimate used by every budget: ceil(bytes / 4) of the UTF-8 the
 * item puts into the context (its title and its text). */
CVS_API size_t cvs_tokens_estimate(size_t title_bytes, size_t text_bytes);

/* "diverse" | "topk" | "mmr" | "bm25" | "vector"; CVS_EINVAL otherwise. */
CVS_API int cvs_context_strategy_parse(const char *s, cvs_context_strategy *out) CVS_WUR;
CVS_API const char *cvs_context_strategy_name(cvs_context_strategy s);

typedef enum cvs_fusion {
    CVS_FUSION_RRF = 0,      /* reciprocal-rank fusion (Cormack et al. 2009),
                                weighted: w/(rrf_k + rank_bm25) +
                                (1 - w)/(rrf_k + rank_vector) */
    CVS_FUSION_WEIGHTED = 1  /* w * bm25/max(bm25) + (1 - w) * (the vector
                                score min-max normalized over its list) */
} cvs_fusion;

/* Options of cvs_context.  Fill with cvs_context_opts_init (the defaults,
 * tuned on HotpotQA and MuSiQue: see docs/BENCHMARKS.md), then change what
 * you need.  NULL opts means the defaults. */
typedef struct cvs_context_opts {
    size_t budget;            /* tokens (cvs_tokens_estimate); default 512 */
    cvs_context_strategy strategy; /* default CVS_CONTEXT_DIVERSE */
    cvs_fusion fusion;        /* default CVS_FUSION_WEIGHTED */
    float lexical_weight;     /* w above, in [0, 1]: 1 = BM25 only, 0 =
                                 vector only; default 0.8 */
    float rrf_k;              /* default 60 */
    float title_weight;       /* weight of a third list in the fusion: the
                                 records whose title the question mentions
                                 (matched as cvs_link_mentions matches, in
                                 the title map of its last run); each counts
                                 as rank 1 of that list.  0 = off;
                                 default 0.5 */
    size_t depth;             /* results taken from each retriever; 50 */
    size_t seeds;             /* best fused results that start the walk; 10 */
    int hops;                 /* graph hops from the seeds (0 = none); 2 */
    size_t fanout;            /* edges followed per node and kind; 8 */
    size_t beam;              /* nodes expanded per hop; 10 */
    float decay;              /* score factor per hop; 0.5 */
    float knn_weight;         /* kNN edges pass decay * knn_weight * their
                                 similarity (links pass decay * weight, and
                                 links followed backwards half that); 0.2 */
    int use_links;            /* follow links (explicit and mentions); 1 */
    int use_knn;              /* follow kNN edges; 1 */
    float lambda;             /* mmr: relevance vs. novelty, in [0, 1]; 0.7 */
    float coverage;           /* diverse: weight of coverage vs. relevance; 1 */
    float dup_threshold;      /* cosine above which a candidate counts as a
                                 near-duplicate of a chosen one and is
                                 skipped (diverse, and mmr with lambda < 1);
                                 below 1 the near-copy test by words is on
                                 too; >= 1 disables both; 0.999 */
    size_t max_pool;          /* candidates kept for selection, the most
                                 relevant; 100 */
    unsigned search_flags;    /* vector seeds: CVS_SEARCH_* (0 = exact) */
    size_t bridges;           /* bridge queries: the best `bridges` seeds
                                 each ask BM25 for the residual of the
                                 question (its words the seed lacks, and the
                                 seed's words the question lacks) and pass
                                 their score to what it finds (edge type
                                 "bridge", first hop only); 0 = none; 3 */
    float bridge_weight;      /* bridge edges pass decay * bridge_weight *
                                 their BM25 score over the best one's; 1 */
    cvs_context_unit unit;    /* CVS_UNIT_SENTENCE: each item keeps only its
                                 chosen sentences (text, sentences); the
                                 candidates are found as for passages, and
                                 when none of them has a text (records of
                                 titles or bare vectors) they are chosen
                                 as passages.  Default CVS_UNIT_PASSAGE */
    int exact_words;          /* 1: a question that names no title is
                                 ranked by BM25 over its words as written,
                                 not also their other forms in the store
                                 (query/context.c deviation 17), as an
                                 outside source (cvstore-mpi) ranks it;
                                 default 0 */
    const cvs_filter *filter; /* only records whose metadata matches it
                                 (cvs_filter_parse); NULL = all, the
                                 default.  Every stage keeps to it: BM25,
                                 vector and title seeds, the bridge
                                 queries and the walk, which neither
                                 returns nor steps through a record
                                 outside it (query/context.c deviation
                                 20).  No record matching gives n = 0, not
                                 an error.  Borrowed for the call; one
                                 store only (cvs_context_source_run:
                                 CVS_EINVAL) */
} cvs_context_opts;

CVS_API void cvs_context_opts_init(cvs_context_opts *opts);

/* One step of the path that reached an item: the record, and how the walk
 * got there: for the first step (the seed) the retrievers that found it
 * ("bm25", "vector", "title", joined by "+" when several did), for later
 * ones the edge taken from the step before ("mentions", "link",
 * "linked-by": a link followed backwards, "knn", or "bridge": found by the
 * bridge query of the step before, see cvs_context_opts.bridges). */
typedef struct cvs_context_step {
    int64_t key;
    const char *id;
    size_t id_len;
    const char *type;       /* static string, see above */
} cvs_context_step;

typedef struct cvs_context_item {
    int64_t key;
    const char *id;        /* external id */
    size_t id_len;
    const char *title;     /* NULL when the record has none */
    size_t title_len;
    const char *text;      /* NULL when the record has none */
    size_t text_len;
    float score;           /* relevance: fused seed score, or the decayed
                              score carried along the path */
    size_t tokens;         /* cvs_tokens_estimate(title_len, text_len) */
    int hop;               /* 0 for a seed */
    const cvs_context_step *via; /* hop + 1 steps: the seed first, then each
                              record on the way, ending with this item */
    /* CVS_UNIT_SENTENCE: text is the record's chosen sentences in their
       order, joined by one space, and sentences their nsentences indexes
       among the record's sentences (ascending; docs/FORMAT.md "sents").
       A sentence longer than the whole budget may be given in part: the
       pieces of it that were chosen (cut after "; " and ", " outside
       parentheses), in order, joined by one space; its index is listed
       once.  CVS_UNIT_PASSAGE: NULL and 0 (text is the whole text). */
    const uint32_t *sentences;
    size_t nsentences;
    const char *meta;      /* the record's metadata (a JSON object as
                              text, as cvs_get gives it), NULL when it has
                              none; a copy owned by the result as id is */
    size_t meta_len;
} cvs_context_item;

typedef struct cvs_context_result {
    cvs_context_item *items; /* n items in the order chosen */
    size_t n;
    size_t tokens;         /* sum of the items' tokens, <= budget */
    size_t budget;
    size_t pool;           /* candidates the strategy chose from */
    double seconds;        /* time of the call */
    void *priv;            /* owned storage; do not touch */
} cvs_context_result;

/* A context set for a question: seeds from hybrid search (BM25 over text
 * and title fused with the vector search of the embedded question), a walk
 * of opts->hops over links and kNN edges with scores decayed per hop, and a
 * selection by opts->strategy whose tokens never exceed opts->budget.
 * text has len bytes of UTF-8 (len 0 with a NUL-terminated text means
 * strlen).  Items carry copies of id, title, text and meta owned by *out
 * (valid until cvs_context_result_free; each is also NUL-terminated).  The text
 * is embedded by the handle's embedder (cvs_embed_text); a store that
 * records no embedder and has none attached answers from BM25, the titles
 * and the graph alone (as with lexical_weight 1), and fails with
 * CVS_EINVAL ("no text to search") when no record has a text or a title
 * either, rather than answer a text question with nothing.  A question that finds
 * nothing gives n = 0, not an error; one of more than CVS_QUERY_MAX_BYTES
 * is CVS_EINVAL, and so is one of no words (cvs_text_words: empty, only
 * spaces of any kind, punctuation or symbols) without a query vector,
 * since an empty set would read as "nothing answers it" (a batch of
 * questions checks each with cvs_text_words first, as cvstore context
 * does).  *out is zeroed on failure. */
CVS_API int cvs_context(cvs_db *db, const cvs_context_opts *opts, const char *text,
                        size_t len, cvs_context_result *out) CVS_WUR;
/* Same, inside a caller's snapshot; qvec (dim floats, or NULL) replaces the
 * embedding of the text, and text may be NULL when qvec is given (vector
 * seeds only); with qvec, a text of no words is taken as none. */
CVS_API int cvs_txn_context(cvs_txn *txn, const cvs_context_opts *opts, const char *text,
                            size_t len, const float *qvec, cvs_context_result *out) CVS_WUR;
/* Frees what *r owns and zeroes it; accepts NULL and a zeroed result. */
CVS_API void cvs_context_result_free(cvs_context_result *r);
/* Why the context set r (of the question text, len bytes, 0 = strlen; may
 * be NULL for a query vector) is empty, for the user: *note = the question's
 * reason (cvs_text_empty_note: stop words only), else, when candidates were
 * found (r->pool > 0) and none was taken, that each is longer than the
 * budget (raise it; with passage units, sentence units fit more); NULL for a set with items or
 * no such reason.  Static messages, valid for the life of the program.
 * CVS_EINVAL for a NULL r or note, CVS_EINPUT for text that is not UTF-8. */
CVS_API int cvs_context_note(const cvs_context_result *r, const char *text, size_t len,
                             const char **note) CVS_WUR;

/* ==== Context sets over several stores ====
 *
 * cvs_context reads one store.  A store split into shards (cvstore-mpi,
 * docs/SCALING.md) runs the same pipeline through a source: a table of
 * callbacks answering each read of the pipeline (BM25, vector search, the
 * title seeds, a record's edges, a record itself) for all the stores at
 * once, the way PostgreSQL's index access methods plug into the executor.
 * The shard-side calls below answer those reads for one store with
 * statistics given from outside, so that every shard scores as one store
 * holding all of them would. */

/* A question's terms as BM25 reads them (folded, accents stripped, stop
 * words dropped, in question order, repeats kept): n NUL-terminated
 * strings packed one after the other in buf, bytes in all (the NULs
 * included), none empty (CVS_EINPUT).  Valid during the call that hands them out. */
typedef struct cvs_terms {
    const char *buf;
    size_t bytes;
    size_t n;
} cvs_terms;

/* BM25's collection statistics for some terms: documents (records with a
 * word in their title or text), their total length in tokens, and the
 * document frequency of each term (df[i] for term i; n entries). */
typedef struct cvs_text_stats {
    uint64_t ndocs;
    uint64_t total;
    const uint64_t *df;
} cvs_text_stats;

/* The snapshot's own statistics for terms: *ndocs, *total, and df[i]
 * (caller-owned, room for terms->n).  All 0 in a store without text. */
CVS_API int cvs_txn_text_stats(cvs_txn *txn, const cvs_terms *terms, uint64_t *ndocs,
                               uint64_t *total, uint64_t *df) CVS_WUR;
/* BM25 top-k of terms over the snapshot's records, as cvs_txn_text_search,
 * scored with the statistics st (NULL: the snapshot's own) instead: the
 * sums of cvs_txn_text_stats over several stores give every store the
 * scores one store holding all their records would give. */
CVS_API int cvs_txn_text_search_terms(cvs_txn *txn, const cvs_terms *terms,
                                      const cvs_text_stats *st, size_t k, int64_t *keys,
                                      float *scores) CVS_WUR;

/* Word forms over several stores (query/context.c deviation 17: a
 * single-hop question's terms each stand for the class of their forms,
 * the terms of the vocabulary with the same Snowball stem).  A record is
 * in one store, so each store may find the classes in its own vocabulary:
 * a form no record of the store holds adds nothing to its scores, and the
 * sum over stores of each class's df (cvs_txn_text_class_stats) is the df
 * in one store holding them all. */
/* Classes of terms: forms.n forms (tokenized as BM25's terms are), form i
 * of class cls[i] (below nclasses, which is at most forms.n; no form twice
 * in one class, else CVS_EINVAL).  A class scores as one term of an index that kept its forms
 * as one: its tf in a record the sum of its forms' tfs, its df the records
 * holding any form.  Arrays are the caller's. */
typedef struct cvs_term_classes {
    cvs_terms forms;
    const uint32_t *cls;
    size_t nclasses;
} cvs_term_classes;
/* The snapshot's *ndocs, *total and df[c] (caller-owned, room for
 * nclasses): the records of the snapshot holding any form of class c.
 * Summed over stores that share no record, they are the statistics of one
 * store holding all of them. */
CVS_API int cvs_txn_text_class_stats(cvs_txn *txn, const cvs_term_classes *classes,
                                     uint64_t *ndocs, uint64_t *total, uint64_t *df) CVS_WUR;
/* BM25 top-k over the classes, keys best first, padded with -1 (scores with
 * NaN), scored with the statistics st (st->df[c] per class; NULL: the
 * snapshot's own), as cvs_txn_text_search_terms scores terms. */
CVS_API int cvs_txn_text_search_classes(cvs_txn *txn, const cvs_term_classes *classes,
                                        const cvs_text_stats *st, size_t k, int64_t *keys,
                                        float *scores) CVS_WUR;
/* The classes of the question's terms (question: as BM25 reads them,
 * cvs_context_source hands them out so) in the snapshot's vocabulary, as
 * cvs_txn_context finds them: class c is the c-th distinct stem among the
 * terms, its forms the question's terms of that stem and the snapshot's
 * terms with it.  out->ordered = 0 for an encrypted store (its terms are
 * keyed hashes: no form is found, and the question keeps its exact forms);
 * out->other counts the forms found other than the question's own (none:
 * the class search ranks as plain BM25 does, and one store skips it).
 * out's arrays are the library's until cvs_word_classes_free (which
 * accepts NULL and a zeroed struct). */
typedef struct cvs_word_classes {
    cvs_term_classes classes;
    int ordered;
    size_t other;
} cvs_word_classes;
CVS_API int cvs_txn_word_classes(cvs_txn *txn, const cvs_terms *question,
                                 cvs_word_classes *out) CVS_WUR;
CVS_API void cvs_word_classes_free(cvs_word_classes *wc);

/* One edge of the graph, resolved to an internal key.  type is a static
 * string: "mentions", "link" (any other explicit link), "linked-by" (a
 * link followed backwards), "knn" or "bridge". */
typedef struct cvs_edge {
    int64_t key;
    float weight;          /* link weight, or the kNN similarity in [0, 1] */
    const char *type;
} cvs_edge;

typedef enum cvs_edge_kind {
    CVS_EDGES_LINKS = 0,     /* links leaving the record, in stored order */
    CVS_EDGES_BACKLINKS = 1, /* records linking to it */
    CVS_EDGES_KNN = 2        /* its kNN edges, best first */
} cvs_edge_kind;

/* Up to cap edges of one kind leaving the record key into out
 * (caller-owned), *n their count; targets not in the snapshot are
 * skipped, and a key not in it has none. */
CVS_API int cvs_txn_edges(cvs_txn *txn, int64_t key, cvs_edge_kind kind, size_t cap,
                          cvs_edge *out, size_t *n) CVS_WUR;
/* Up to cap records of the snapshot whose links name id (CVS_EDGES_BACKLINKS
 * by id: the record need not be in this store, as when a shard's record
 * links to another shard's, cvs_link_mentions_scope), in key order, the
 * record of id itself left out. */
CVS_API int cvs_txn_backlinks_id(cvs_txn *txn, const char *id, size_t id_len, size_t cap,
                                 cvs_edge *out, size_t *n) CVS_WUR;
/* The internal key of an external id: CVS_NOTFOUND when absent. */
CVS_API int cvs_txn_id_key(cvs_txn *txn, const char *id, size_t id_len, int64_t *key) CVS_WUR;
/* Title seeds over several stores.  A run of terms names a title when the
 * title map holds it (cvs_link_mentions' matching, which
 * cvs_context_opts.title_weight reads).  cvs_txn_title_runs calls fn once
 * for every run of terms that names a title in the snapshot, every start
 * and length (a store's own seeds take the longest at each place, but
 * over several stores the longest may be in another); run->keys (valid
 * during the call) are the live records of that title in key order (an
 * encrypted store's too, whatever its salt), none when too many
 * records share it.  A nonzero return of fn stops the walk and is
 * returned.  cvs_title_runs_resolve takes the runs of every store (the
 * same run from several stores counts once, their records together) and
 * writes the records one store holding them all would seed, by its rule:
 * from the first term on, the longest run naming a title of at most 8
 * records, then on after it; up to cap keys into keys, *n their count.
 * *known (cvs_txn_titles_known) = 1 when the store's title map holds any
 * title. */
typedef struct cvs_title_run {
    size_t start, len;         /* terms [start, start + len) */
    size_t same;               /* records of that title in the store */
    const int64_t *keys;       /* the live ones (nkeys) */
    size_t nkeys;
} cvs_title_run;
CVS_API int cvs_txn_title_runs(cvs_txn *txn, const cvs_terms *terms,
                               int (*fn)(void *ctx, const cvs_title_run *run), void *ctx) CVS_WUR;
CVS_API int cvs_title_runs_resolve(const cvs_title_run *runs, size_t nruns, size_t cap,
                                   int64_t *keys, size_t *n) CVS_WUR;
CVS_API int cvs_txn_titles_known(cvs_txn *txn, int *known) CVS_WUR;

#define CVS_CONTEXT_SOURCE_VERSION 3 /* 1: without text_stats; 2: without bm25_forms */

/* Where a context set's pipeline reads from.  Keys are the source's own
 * (e.g. a shard number folded into each store's key); every callback
 * returns 0 or a negative CVS_E* code, which fails the call (the source
 * reports its own message).  Arrays are caller-owned; no slot may be NULL
 * unless marked optional. */
typedef struct cvs_context_source {
    int version;               /* CVS_CONTEXT_SOURCE_VERSION */
    void *ctx;                 /* passed to every callback */
    uint32_t dim;              /* the records' vector dimension */
    cvs_metric metric;
    cvs_db *embedder;          /* embeds text questions (a handle with the
                                  records' embedder), or NULL: text
                                  questions go by BM25, titles and graph */
    uint64_t text_docs;        /* records with text in all; with no
                                  embedder, 0 refuses a text question as
                                  cvs_context does */
    int titles_known;          /* some store's title map holds a title */
    /* BM25's k best for terms over all records, padded with -1 / NaN. */
    int (*bm25)(void *ctx, const cvs_terms *terms, size_t k, int64_t *keys, float *scores);
    /* The k nearest records to q (dim floats), as cvs_txn_search_params
     * with these flags: padded with -1. */
    int (*vector)(void *ctx, const float *q, size_t k, unsigned flags, int64_t *keys,
                  float *scores);
    /* The records whose title the terms name, up to cap (as one store
     * seeds them: see cvs_title_runs_resolve). */
    int (*title_seeds)(void *ctx, const cvs_terms *terms, size_t cap, int64_t *keys,
                       size_t *n);
    /* As cvs_txn_edges, over all records. */
    int (*edges)(void *ctx, int64_t key, cvs_edge_kind kind, size_t cap, cvs_edge *out,
                 size_t *n);
    /* The record key (CVS_NOTFOUND when absent) and its vector (vec: dim
     * floats, or NULL); its pointers stay valid until the context call
     * returns. */
    int (*record)(void *ctx, int64_t key, cvs_record *rec, float *vec);
    /* Its external id (valid until the context call returns). */
    int (*key_id)(void *ctx, int64_t key, const char **id, size_t *id_len);
    /* Optional: the order of records of equal relevance (<0, 0, >0);
     * NULL = the smaller key first, as in one store. */
    int (*cmp)(void *ctx, int64_t a, int64_t b);
    /* Optional: the pipeline is about to read, of the n records keys, what
     * `what` names (CVS_PREFETCH_*; edges up to cap of each kind), so that
     * a source paying a round trip per read can fetch them in one.  The
     * reads that follow must give what they would have given without it. */
    int (*prefetch)(void *ctx, const int64_t *keys, size_t n, unsigned what, size_t cap);
    /* Optional: the BM25 queries (n of them, each for its k best) that the
     * pipeline is about to ask one by one (a hop's bridge queries), so
     * that they can be asked in one round trip; the same contract. */
    int (*bm25_prefetch)(void *ctx, const cvs_terms *queries, size_t n, size_t k);
    /* Optional, version 2 on: the BM25 statistics of terms over all
     * records, as cvs_txn_text_stats (*ndocs, and df[i] for each of the
     * terms->n terms), from which the question's terms get the idf one
     * store would give them.  NULL (or a version 1 source): every term
     * weighs alike there, and single-hop rankings may differ from one
     * store's (query/context.c, deviation 14). */
    int (*text_stats)(void *ctx, const cvs_terms *terms, uint64_t *ndocs, uint64_t *df);
    /* Optional, version 3 on: a single-hop question's BM25 list with its
     * words' other forms (query/context.c, deviation 17), as one store
     * holding every record ranks it: the k best of the question's terms,
     * each standing for its class of forms in the vocabulary of all
     * records (cvs_txn_word_classes; each class's df over all records:
     * cvs_txn_text_class_stats summed, cvs_txn_text_search_classes with
     * the sums), padded with -1 / NaN, and *used = 1; *used = 0 (keys and
     * scores unread) when no term has another form anywhere, or when a
     * store keeps its terms hashed (encrypted): the question then keeps
     * the bm25 slot's list.  NULL (or an older source): exact forms, and
     * single-hop rankings may differ from one store's. */
    int (*bm25_forms)(void *ctx, const cvs_terms *question, size_t k, int64_t *keys,
                      float *scores, int *used);
} cvs_context_source;

#define CVS_PREFETCH_RECORDS 0x1u   /* record (with its vector) */
#define CVS_PREFETCH_LINKS 0x2u     /* edges of kind CVS_EDGES_LINKS */
#define CVS_PREFETCH_BACKLINKS 0x4u /* CVS_EDGES_BACKLINKS */
#define CVS_PREFETCH_KNN 0x8u       /* CVS_EDGES_KNN */

/* cvs_txn_context over a source: the same stages and rules, every read
 * answered by src.  opts->unit must be CVS_UNIT_PASSAGE (a sentence needs
 * one store's sentence table: CVS_EINVAL otherwise).  Items' keys are the
 * source's. */
CVS_API int cvs_context_source_run(const cvs_context_source *src, const cvs_context_opts *opts,
                                   const char *text, size_t len, const float *qvec,
                                   cvs_context_result *out) CVS_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CVSTORE_H */
