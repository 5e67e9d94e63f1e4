/*
 * text.h -- the query layer's internal entry points: the embedder's
 * per-handle state (query/embed.c), with the BM25 index's entry points
 * (text/bm25.h) that every reader of this header also uses.
 * Not installed.
 */
#ifndef CVS_TEXT_H
#define CVS_TEXT_H

#include <lmdb.h>
#include <stdint.h>

#include "cvstore.h"
#include "store/module.h"
#include "text/bm25.h"

/* A byte of a word, for the scans of raw text outside the tokenizer: an
 * ASCII letter or digit, or any byte >= 0x80 (UTF-8 beyond ASCII). */
static inline int cvs__word_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* ==== Embedders (query/embed.c) ==== */

/* 1 when an embedder is attached to the handle. */
int cvs__embedder_attached(cvs_db *db);
/* Frees the handle's embedder (cvs_db_close). */
void cvs__embedder_drop(cvs_db *db);
/* What is known of the vectors of the handle's embedder (the one attached,
 * else the one the store records), read without attaching it:
 * CVS__EMB_TRAINED, a trained sentence encoder: a model trained to place a
 * question near the passages that answer it and paraphrases near each
 * other (the built-in "use" and "minilm"); CVS__EMB_SIF, the built-in "glove": a
 * weighted mean of the text's word vectors; CVS__EMB_UNKNOWN, an
 * application's or a server's model, of which nothing is known, or a store
 * that records none.  Context sets read it (query/context.c, deviations 15
 * and 16).  An error only from reading the record. */
enum { CVS__EMB_UNKNOWN = 0, CVS__EMB_SIF = 1, CVS__EMB_TRAINED = 2 };
int cvs__embedder_kind(cvs_db *db, int *kind);
/* *yes = 1 when cvs__embedder_kind says CVS__EMB_TRAINED.  Memory recall
 * reads it (query/memory.c, rule 12: its vector ranking leads). */
int cvs__embedder_trained(cvs_db *db, int *yes);
/* The number of pieces the attached built-in sentence encoder ("use",
 * "minilm") reads text as, into *n; CVS_NOTFOUND for any other embedder. */
int cvs__embedder_pieces(cvs_db *db, const char *text, size_t len, size_t *n);
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
/* CVS_EINPUT, saying why, for a text with no words (cvs_text_words: only
 * spaces, punctuation or symbols, or empty), which a store with an
 * embedder refuses as a record's text (cvs_put, cvs_import's first pass);
 * the caller names the record. */
int cvs__embed_text_words(const char *text, size_t len);
/* A stand-in vector (dim floats into out) for a text the embedder cannot
 * embed, so that it can still be stored and found by its words: for glove
 * with a common component, the component itself, to which every embedding
 * is orthogonal (it scores 0 against any query); otherwise the first axis. */
int cvs__embed_standin(cvs_db *db, float *out);
/* The word vectors of the handle's embedder, for word-level lookups
 * (query/memory.c, rule 9): CVS_NOTFOUND when it is not the built-in
 * glove.  *out stays valid while the embedder is attached (until the
 * handle closes or gets another embedder), as for every embedding. */
struct cvs_sif;
int cvs__embed_words(cvs_db *db, const struct cvs_sif **out);
/* The common component the glove embedder removes from every embedding
 * (embed_sif.c, deviation 4), dim floats, into *out (NULL when the store
 * embeds without one); valid as long as cvs__embed_words' vectors.
 * CVS_NOTFOUND when the embedder is not the built-in glove. */
int cvs__embed_component(cvs_db *db, const float **out);

#endif
