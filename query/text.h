/*
 * text.h -- the text layer's internal entry points: the hooks the store
 * calls inside its write transactions (titles and the BM25 index,
 * query/bm25.c) and the embedder's per-handle state (query/embed.c).
 * Not installed.
 */
#ifndef CVS_TEXT_H
#define CVS_TEXT_H

#include <lmdb.h>
#include <stdint.h>

#include "cvstore.h"
#include "store/module.h"
#include "text/bm25.h"

/* BM25 parameters (Robertson & Zaragoza 2009, the usual defaults). */
#define CVS_BM25_K1 1.2f
#define CVS_BM25_B 0.75f

/* ==== The module's hooks, inside the put's or delete's write transaction
 * (also called by the linker) ==== */

/* Before record key's title and text are overwritten (the store writes
 * them): replaces its BM25 postings and totals ("terms", meta "bm25") with
 * those of r's title and text.  existed: the key held a record before this
 * put (whose old title and text are still readable in txn).  Errors are
 * CVS__MAPFULL (core/err.h) or LMDB's; r was validated by cvs_put. */
int cvs__bm25_on_put(cvs_db *db, MDB_txn *txn, uint64_t key, int existed,
                     const cvs_record *r);

/* Before record key's title and text are deleted: drops its postings. */
int cvs__bm25_on_delete(cvs_db *db, MDB_txn *txn, uint64_t key);

/* Indexes every record of the store from scratch (the text databases were
 * just created empty in txn, for a store written before they existed). */
int cvs__bm25_reindex(cvs_db *db, MDB_txn *txn);

/* cvs_check's part: titles belong to records and are UTF-8; "terms" holds
 * exactly the postings that tokenizing every record's title and text gives;
 * meta "bm25" has the right totals.  Calls problem once per violation;
 * returns an error only when the check itself fails. */
int cvs__bm25_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx);

/* Top-k BM25 search inside a snapshot: keys best first, padded with -1,
 * scores padded with NaN.  A query with no indexable term gives no results
 * (not an error). */
int cvs__bm25_search(cvs_txn *txn, const char *query, size_t len, size_t k,
                     int64_t *keys, float *scores);

/* BM25's idf (deviation 1 of query/bm25.c) of n terms (already tokenized,
 * accents stripped) in the snapshot, into idf[0..n); 0 for every term of a
 * store without the text layer. */
int cvs__bm25_idf(cvs_txn *txn, const char *const *terms, const size_t *lens, size_t n,
                  double *idf);
/* The same for a question already tokenized (cvs__tokenize with
 * CVS_TOK_STRIP_ACCENTS, as the index is). */
struct cvs_tokens;
int cvs__bm25_search_tokens(cvs_txn *txn, const struct cvs_tokens *query, size_t k,
                            int64_t *keys, float *scores);

/* Records indexed (with a word in their title or text) in the snapshot. */
int cvs__bm25_docs(cvs_txn *txn, uint64_t *ndocs);

/* ==== Embedders (query/embed.c) ==== */

/* 1 when an embedder is attached to the handle. */
int cvs__embedder_attached(cvs_db *db);
/* Frees the handle's embedder (cvs_db_close). */
void cvs__embedder_drop(cvs_db *db);
/* The module (store/module.h) that owns the embedder attached to a
 * handle: it only frees it at close. */
extern const cvs__module cvs__embed_module;

/* Makes sure the handle has an embedder (attaching the built-in glove when
 * the store records it): the importer calls it before writing anything. */
int cvs__embed_prepare(cvs_db *db);
/* CVS_EINPUT when the handle's embedder certainly cannot embed text (glove:
 * no word of it in the vocabulary); CVS_OK otherwise.  For pass 1 of an
 * import, after cvs__embed_prepare. */
int cvs__embed_check(cvs_db *db, const char *text, size_t len);
/* A stand-in vector (dim floats into out) for a text the embedder cannot
 * embed, so that it can still be stored and found by its words: for glove
 * with a common component, the component itself, to which every embedding
 * is orthogonal (it scores 0 against any query); otherwise the first axis. */
int cvs__embed_standin(cvs_db *db, float *out);

#endif
