/*
 * bm25.h -- the BM25 index as a derived structure: its module table and
 * per-handle state, for the structures that read its postings (the mention
 * linker, graph/link.c) and its entry points.  The index itself is
 * text/bm25.c.  Not installed.
 */
#ifndef CVS_TEXT_BM25_H
#define CVS_TEXT_BM25_H

#include <lmdb.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"
#include "store/module.h"

/* ==== The text module (store/module.h): the BM25 index ==== */

struct cvs__text_state {
    MDB_dbi dbi_terms;     /* "terms": BM25 term -> postings (dupsort) */
};
extern const cvs__module cvs__text_module;
static inline struct cvs__text_state *cvs__text(const cvs_db *db)
{
    return (struct cvs__text_state *)cvs__module_state(db, &cvs__text_module);
}

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

/* The idf of a term held by df of ndocs records (deviation 1 of
 * text/bm25.c): what cvs__bm25_idf gives, for statistics summed elsewhere. */
static inline double cvs__bm25_idf_of(double ndocs, double df)
{
    return log(1.0 + (ndocs - df + 0.5) / (df + 0.5));
}

/* BM25's idf (deviation 1 of text/bm25.c) of n terms (already tokenized,
 * accents stripped) in the snapshot, into idf[0..n); 0 for every term of a
 * store without the text layer. */
int cvs__bm25_idf(cvs_txn *txn, const char *const *terms, const size_t *lens, size_t n,
                  double *idf);
/* How many records of the snapshot hold the term (tokenized, accents
 * stripped) in their title or text: one look-up, whatever the count; 0
 * without the text layer. */
int cvs__bm25_df(cvs_txn *txn, const char *term, size_t len, size_t *df);
/* The same for a question already tokenized (cvs__tokenize with
 * CVS_TOK_STRIP_ACCENTS, as the index is). */
struct cvs_tokens;
int cvs__bm25_search_tokens(cvs_txn *txn, const struct cvs_tokens *query, size_t k,
                            int64_t *keys, float *scores);

/* Word forms (query/context.c, deviation 17).  Calls fn with each term of
 * the snapshot's vocabulary (the keys of "terms") that begins with the
 * len bytes of prefix, in byte order, until fn returns non-zero (returned).
 * term points into the snapshot (valid until it ends).  *ordered = 0, and
 * no call, for an encrypted store, whose terms are keyed hashes. */
int cvs__bm25_terms_prefixed(cvs_txn *txn, const char *prefix, size_t len, int *ordered,
                             int (*fn)(void *ctx, const char *term, size_t len), void *ctx);
/* Top-k BM25 over classes of terms: forms[i] (len bytes, tokenized as the
 * index is; distinct within a class) belongs to class cls (0, 1, ...).  Each class
 * scores as one term of an index that kept the class as one (Robertson &
 * Zaragoza 2009, a term's variants conflated): its tf in a record the sum
 * of its forms', its df the records holding any of them.  A class of one
 * form scores as that term does in cvs__bm25_search_tokens.  Keys best
 * first, padded with -1 (scores with NaN). */
typedef struct cvs__form {
    const char *s;
    size_t len;
    uint32_t cls;
} cvs__form;
int cvs__bm25_search_classes(cvs_txn *txn, const cvs__form *forms, size_t n, size_t k,
                             int64_t *keys, float *scores);

/* Records indexed (with a word in their title or text) in the snapshot. */
int cvs__bm25_docs(cvs_txn *txn, uint64_t *ndocs);
/* Whether the snapshot's handle has the text layer: 0 for a store written
 * before it was added and opened read-only (its index reads as empty until
 * a writable open builds it), so that "no text" can be told apart. */
int cvs__bm25_present(cvs_txn *txn);

#endif
