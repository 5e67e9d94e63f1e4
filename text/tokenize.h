/*
 * tokenize.h -- the one tokenizer of the text layer, shared by BM25
 * (text/bm25.c) and the SIF embedder (query/embed_sif.c).  Internal.
 * The rules are documented at the top of text/tokenize.c; changing them
 * changes what stored BM25 postings mean, so bump CVS_TOKENIZER_VERSION.
 */
#ifndef CVS_TOKENIZE_H
#define CVS_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define CVS_TOKENIZER_VERSION 2u /* 2: CJK runs split into bigrams, kana voicing marks kept (tokenize.c deviations 2, 6) */
#define CVS_TOKEN_MAX 64       /* bytes (UTF-8, after folding); longer tokens are dropped */

/* cvs__tokenize flags */
#define CVS_TOK_STRIP_ACCENTS 0x1u /* "café" -> "cafe" (BM25 does; SIF does not) */
#define CVS_TOK_KEEP_STOP 0x2u     /* keep stop words (tests, diagnostics) */
#define CVS_TOK_KEEP_LONG 0x4u     /* keep tokens over CVS_TOKEN_MAX (cvs_text_words) */
#define CVS_TOK_CAPS 0x8u          /* fill caps: how each token was written (graph/link.c) */

/* Tokens of one text: n NUL-terminated strings in buf, token i at
 * buf + off[i] with len[i] bytes.  Reused across calls (grows only);
 * zero-initialize, release with cvs__tokens_free. */
typedef struct cvs_tokens {
    char *buf;
    size_t buf_len, buf_cap;
    uint32_t *off, *len;
    size_t n, cap;
    /* With CVS_TOK_CAPS: caps[i] is 1 when token i was written with a
     * capital first letter (Unicode Lu or Lt before folding: "Guest",
     * "GUEST", "Émile"), 0 when with a small or uncased one ("guest",
     * "iPhone", "3M", "北京"); every token 1 when the unfolded text does
     * not split into the same runs of letters (not seen; then case tells
     * nothing).  caps_any: whether any word of the text, stop words
     * included, was written with a capital ("We", "The").  Not touched
     * without the flag. */
    uint8_t *caps;
    size_t caps_cap;
    int caps_any;
    /* Scratch for the folded text, and the capitals of the unfolded one. */
    int32_t *cps;
    size_t cps_cap;
    uint8_t *rcaps;
    size_t rcaps_cap;
} cvs_tokens;

/* Splits text (len bytes of UTF-8) into folded tokens, in order, replacing
 * out's previous contents.  CVS_EINPUT if text is not valid UTF-8,
 * CVS_ENOMEM. */
int cvs__tokenize(const char *text, size_t len, unsigned flags, cvs_tokens *out);
void cvs__tokens_free(cvs_tokens *t);

/* Token lists as the public API hands them over (cvs_terms, cvstore.h):
 * cvs__terms_view makes out a read-only view of terms (buf aliased, off
 * and len allocated; CVS_EINPUT when buf does not hold exactly n
 * NUL-terminated strings in bytes); free it with cvs__terms_view_free,
 * not cvs__tokens_free.  cvs__tokens_terms is the reverse, aliasing t. */
struct cvs_terms;
int cvs__terms_view(const struct cvs_terms *terms, cvs_tokens *out);
void cvs__terms_view_free(cvs_tokens *t);
void cvs__tokens_terms(const cvs_tokens *t, struct cvs_terms *out);

/* 1 if the folded token (len bytes) is on the stop list. */
int cvs__is_stopword(const char *tok, size_t len);

#endif
