/*
 * graph.h -- internals of the graph layer shared with query/context.c:
 * reading a record's edges inside a snapshot.  The public side is in
 * cvstore.h ("Graph and context sets").  Not installed.
 */
#ifndef CVS_GRAPH_H
#define CVS_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/module.h"

/* ==== The graph module (store/module.h): the kNN graph (graph/knn.c), the
 * title map and the mention links kept on every write (graph/link.c) ==== */

struct cvs__graph_state {
    MDB_dbi dbi_knn;       /* "knn": key -> neighbour keys and scores */
    MDB_dbi dbi_titlemap;  /* "titlemap": folded title tokens -> keys (dupsort) */
};
extern const cvs__module cvs__graph_module;
static inline struct cvs__graph_state *cvs__graph(const cvs_db *db)
{
    return (struct cvs__graph_state *)cvs__module_state(db, &cvs__graph_module);
}

/* Edges are cvs_edge (cvstore.h): types are static strings. */

/* Up to cap edges of kind "links" leaving key (explicit and mention links,
 * in stored order), skipping targets that are not in the snapshot.  type is
 * "mentions" for mention links and "link" for any other (static strings). */
int cvs__graph_links(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n);

/* Up to cap records linking TO key (the reverse of links), type "linked-by". */
int cvs__graph_backlinks(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n);

/* Up to cap kNN edges of key, best first, without deleted targets; weight
 * is a similarity: the score for ip/cosine stores, 1 / (1 + d) for l2. */
int cvs__graph_knn(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n);

/* Key of an external id in the snapshot; CVS_NOTFOUND when absent. */
int cvs__graph_id_key(cvs_txn *t, const char *id, size_t len, int64_t *key);

/* Records whose title the text mentions (graph/link.c: the same matching
 * as the linker, against the title map its last run wrote), in order of
 * appearance, without deleted ones: up to cap keys, *n the count. */
int cvs__graph_title_seeds(cvs_txn *t, const char *text, size_t len, int64_t *keys, size_t cap,
                           size_t *n);
/* The lengths of a title's forms (prefixes of ts, tl bytes) that the linker
 * matches: the whole title, and without a disambiguation suffix: "Steve
 * Smith (musician)" -> "Steve Smith", "Stanley, North Dakota" -> "Stanley".
 * Returns how many (1 to 3). */
size_t cvs__title_forms(const char *ts, size_t tl, size_t forms[3]);

/* *known = 1 when the store's title map holds a title (a text store keeps
 * it on every put; cvs_link_mentions writes it), so that a question naming
 * no title is known to name none. */
int cvs__graph_titles_known(cvs_txn *t, int *known);

/* The same for a text already tokenized (cvs__tokenize with
 * CVS_TOK_STRIP_ACCENTS, text/tokenize.h). */
struct cvs_tokens;
int cvs__graph_title_seeds_tokens(cvs_txn *t, const struct cvs_tokens *tok, int64_t *keys,
                                  size_t cap, size_t *n);

/* Graph maintenance inside put's and delete's write transaction, for a
 * store with a kNN graph (graph/knn.c, "Maintenance"; no-ops otherwise).
 * on_put: the n records keys were just written (updated[i] != 0: it existed
 * before); on_delete: the n records keys were just removed (keys is
 * sorted in place), their kNN rows, edges and title-map entries go. */
int cvs__graph_on_put(cvs_db *db, MDB_txn *txn, const int64_t *keys,
                      const unsigned char *updated, size_t n);
int cvs__graph_on_delete(cvs_db *db, MDB_txn *txn, int64_t *keys, size_t n);

/* Mention links kept by puts and deletes in a text store (graph/link.c,
 * "Keeping mentions on every write"): cvs__mentions_before saves the old
 * title of a record about to be updated or deleted (before the BM25 hook
 * replaces it), cvs__mentions_after, once the batch is written, updates the
 * title map and relinks the records written and every record whose text
 * holds the rarest word of a title added or removed.  put keys (n) are the
 * records put (NULL, 0 for a delete).  cvs__minc_reset starts a transaction
 * over (it may re-run after the map grows). */
typedef struct cvs__minc {
    uint64_t *keys;
    char *titles;          /* old titles, concatenated */
    size_t *off, *len;     /* len[i] == SIZE_MAX: key had no title */
    size_t n, cap, tlen, tcap;
} cvs__minc;
void cvs__minc_reset(cvs__minc *m);
void cvs__minc_free(cvs__minc *m);
int cvs__mentions_before(cvs_db *db, MDB_txn *txn, cvs__minc *m, uint64_t key);
int cvs__mentions_after(cvs_db *db, MDB_txn *txn, cvs__minc *m, const int64_t *put, size_t n);

/* Meta key of the rule that made the mention links (graph/link.c; u32,
 * docs/FORMAT.md).  The graph's own: the store never names it. */
#define CVS__META_LINK_RULE "link_rule"

/* Test-only: when set, called by cvs_knn_build and cvs_link_mentions
 * between computing from their snapshot and writing, so that a test can
 * commit other writes exactly there. */
extern void (*cvs__graph_test_hook)(cvs_db *db);
/* Test-only: how many times a relink of a text store's put has read a
 * record's title for its capitals (graph/link.c deviation 8), counted
 * since the process started; a test reads it before and after a put. */
extern size_t cvs__link_title_reads;

/* Removes the title-map entries of the records keys (sorted) (graph/link.c). */
int cvs__titlemap_on_delete(cvs_db *db, MDB_txn *txn, const int64_t *keys, size_t n);

/* cvstore check of the graph layer (docs/FORMAT.md, invariant 10): every
 * problem goes to problem(ctx, message); an error only when reading fails. */
typedef void (*cvs__problem_fn)(void *ctx, const char *msg);
int cvs__knn_check(cvs_db *db, MDB_txn *txn, cvs__problem_fn problem, void *ctx);
int cvs__titlemap_check(cvs_db *db, MDB_txn *txn, cvs__problem_fn problem, void *ctx);
/* problem(ctx, the formatted message). */
void cvs__graph_problem(cvs__problem_fn problem, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* qsort/bsearch order of int64_t keys. */
int cvs__cmp_i64(const void *a, const void *b);

#endif
