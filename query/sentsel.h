/*
 * sentsel.h -- sentence-level context sets (query/sentsel.c): from the
 * candidate passages of a context set to their sentences that best answer
 * the question under a token budget.  Not installed.
 */
#ifndef CVS_SENTSEL_H
#define CVS_SENTSEL_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

/* One candidate passage, best first (the context pipeline's order). */
typedef struct cvs_sentsel_in {
    int64_t key;
    const char *title;     /* may be NULL */
    size_t title_len;
    const char *text;      /* may be NULL: such a passage has no sentence */
    size_t text_len;
    float rel;             /* relevance in [0, 1] */
    int parent;            /* index of the passage whose edge led the walk
                              here (it mentions this one), or -1 */
} cvs_sentsel_in;

/* The chosen passages in the order they were first chosen.  For item j:
 * the input index item[j], its chosen sentence indexes sents[j][0..
 * nsents[j]) ascending (a sentence cut into clauses, deviation 28, listed
 * once), the text they make (joined by one space, owned here,
 * NUL-terminated; of a cut sentence, its chosen clauses) and its tokens
 * (cvs_tokens_estimate of title and that text). */
typedef struct cvs_sentsel_out {
    size_t n;
    size_t *item;
    uint32_t **sents;
    size_t *nsents;
    char **text;
    size_t *text_len;
    size_t *tokens;
    size_t total;          /* sum of tokens, <= budget */
} cvs_sentsel_out;

/* Chooses sentences of the n passages for the question (its tokens as
 * the context's question analysis made them, cvs__tokenize with
 * CVS_TOK_STRIP_ACCENTS; NULL for a vector question) within budget
 * tokens.  flags: CVS__SENTSEL_SINGLE, the pipeline took the question for
 * one that one passage answers (query/context.c, deviation 8);
 * CVS__SENTSEL_COMPARE, its words compare (cvs__question_compares).  *out
 * is overwritten (free with cvs__sentsel_free).  Reads the sentence table
 * and BM25's term statistics in t's snapshot. */
#define CVS__SENTSEL_SINGLE 0x1u
#define CVS__SENTSEL_COMPARE 0x2u
struct cvs_tokens;
int cvs__sentsel(cvs_txn *t, const struct cvs_tokens *question, unsigned flags,
                 const cvs_sentsel_in *in, size_t n, size_t budget, cvs_sentsel_out *out);

/* sentsel.c deviation 29: whether a question (len bytes of UTF-8) has a
 * word of comparison -- "or", "both", "same" -- as "Which came first, A or
 * B?", "Are A and B both ...?", "Were A and B of the same ...?" do.
 * 0 for text that does not tokenize. */
int cvs__question_compares(const char *text, size_t len);

void cvs__sentsel_free(cvs_sentsel_out *out);

/* ==== One sentence's lexical score, shared with query/context.c ==== */

#define CVS__QTERMS_MAX 64

/* The question's distinct terms, in order of first occurrence (at most
 * CVS__QTERMS_MAX), each with its weight and their sum: BM25's idf in t's
 * snapshot, or 1 for every term when t is NULL (a source without BM25's
 * statistics) or the store has none.  The terms point into the question's
 * tokens, which must outlive qt. */
typedef struct cvs__qterms {
    size_t n;
    const char *term[CVS__QTERMS_MAX];
    size_t len[CVS__QTERMS_MAX];
    double idf[CVS__QTERMS_MAX];
    double sum;
} cvs__qterms;

int cvs__qterms_init(cvs_txn *t, const struct cvs_tokens *question, cvs__qterms *qt);

/* The question terms (bits of qt's order) that each sentence of a text holds,
 * a fragment counted with the sentence after it (sentsel.c deviation 6),
 * appended to (*masks)[0..*n), one per such unit, grown as needed (*cap;
 * the caller frees *masks).  sp: the text's sentence spans (cvs__sent_get or
 * cvs__sent_split); tok: scratch tokens, reused. */
struct cvs_spans;
int cvs__sent_qmasks(const cvs__qterms *qt, const char *text, const struct cvs_spans *sp,
                     struct cvs_tokens *tok, uint64_t **masks, size_t *n, size_t *cap);

/* lex(s) of sentsel.c: the share of qt's weight that the terms of mask
 * hold, in [0, 1] (0 for an empty question). */
double cvs__qterms_share(const cvs__qterms *qt, uint64_t mask);

#endif
