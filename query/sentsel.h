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
 * nsents[j]) ascending, the text they make (joined by one space, owned
 * here, NUL-terminated) and its tokens (cvs_tokens_estimate of title and
 * that text). */
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
 * tokens; single_hop: the pipeline took the question for one that one
 * passage answers (query/context.c, deviation 8).  *out is overwritten
 * (free with cvs__sentsel_free).  Reads the sentence table and BM25's
 * term statistics in t's snapshot. */
struct cvs_tokens;
int cvs__sentsel(cvs_txn *t, const struct cvs_tokens *question, int single_hop,
                 const cvs_sentsel_in *in, size_t n, size_t budget, cvs_sentsel_out *out);

void cvs__sentsel_free(cvs_sentsel_out *out);

#endif
