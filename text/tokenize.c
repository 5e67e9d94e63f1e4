/*
 * tokenize.c -- words out of UTF-8 text, for BM25 and the SIF embedder.
 *
 * One tokenizer serves both the lexical index and the word-vector embedder,
 * so that "what a word is" means the same thing everywhere in the store.  It
 * follows the usual search-engine recipe (Manning, Raghavan & Schütze,
 * "Introduction to Information Retrieval", 2008, ch. 2: normalization, case
 * folding, stop words), on top of Unicode's own definitions:
 *
 *   1. Normalize with NFKC_Casefold (Unicode TR #15 and the DerivedNormalization
 *      property; utf8proc's COMPAT|CASEFOLD|COMPOSE|IGNORE): compatibility
 *      forms fold ("ﬁ" -> "fi", full-width "Ａ" -> "a", "①" -> "1"), case
 *      folds fully ("Straße" -> "strasse", "ΣΟΦΌΣ" -> "σοφόσ"), default
 *      ignorables vanish (soft hyphen, zero-width joiner).
 *   2. A token is a maximal run of letters (L*), marks (M*, which belong to
 *      the letter before them) and numbers (Nd, Nl, No).  Everything else
 *      separates: spaces, punctuation, symbols.  So "don't" gives "don" and
 *      "t", "e-mail" gives "e" and "mail", "3.14" gives "3" and "14".
 *   3. Tokens longer than CVS_TOKEN_MAX (64) bytes after folding are dropped,
 *      not truncated: they are almost always URLs, hashes or base64, which
 *      no query matches anyway, and a truncated token would match unrelated
 *      ones.  The bound also keeps every BM25 term far below LMDB's 511-byte
 *      key limit.
 *   4. Stop words (the list below) are dropped unless CVS_TOK_KEEP_STOP.
 *
 * Where we deviate or choose:
 *   1. Accents are stripped only on request (CVS_TOK_STRIP_ACCENTS, which
 *      adds utf8proc's STRIPMARK): BM25 asks for it, so "Beyonce" finds
 *      "Beyoncé"; the SIF embedder does not, because GloVe's vocabulary keeps
 *      accented words ("café", "pokémon") with their own vectors (it tries the
 *      stripped form itself when the accented one is missing).  Stripping
 *      marks also removes vowel signs of Indic scripts; that damage is
 *      confined to BM25, where it applies to documents and queries alike.
 *   2. No word segmentation for scripts written without spaces (Chinese,
 *      Japanese, Thai): a run of such letters is one token, often longer
 *      than the limit and dropped.  A dictionary segmenter is out of scope;
 *      the text layer targets English corpora first (the stop list is
 *      English too).
 *   3. No stemming: GloVe has vectors for inflected forms, and BM25 without
 *      stemming is the baseline the reference numbers were measured
 *      with.
 *   4. The stop list is deliberately short (45 words: articles, auxiliary
 *      verbs, pronouns, the commonest prepositions and conjunctions, plus the
 *      fragments "s" and "t" that apostrophes leave).  BM25's IDF already
 *      discounts frequent words and SIF's weights do the same, so the list
 *      only has to remove the words that would otherwise fill postings lists
 *      and carry no meaning; words that are sometimes content ("not", "no",
 *      "new", "first", numbers) stay.
 *
 *   5. Case is folded away, but the linker (graph/link.c, deviation 8)
 *      asks how a word was written: with CVS_TOK_CAPS the text is also
 *      normalized without case folding and each token learns whether its
 *      first letter was a capital (utf8proc's Unicode categories Lu and Lt,
 *      the data ICU's u_isupper / u_istitle read).  The tokens themselves
 *      do not change.
 *
 * Any change to these rules changes stored BM25 postings: bump
 * CVS_TOKENIZER_VERSION (bm25.c records it in the store).
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/err.h"
#include "text/tokenize.h"

/* Sorted (strcmp order) for bsearch. */
static const char *const stop_words[] = {
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by",
    "did", "do", "does", "for", "from", "had", "has", "have", "he", "her",
    "his", "i", "in", "is", "it", "its", "of", "on", "or", "s",
    "she", "t", "that", "the", "their", "them", "they", "this", "to", "was",
    "we", "were", "which", "who", "with",
};

static int cmp_stop(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

int cvs__is_stopword(const char *tok, size_t len)
{
    char buf[8];
    if (len >= sizeof buf)
        return 0; /* no stop word has 8 bytes or more */
    memcpy(buf, tok, len);
    buf[len] = '\0';
    return bsearch(buf, stop_words, sizeof stop_words / sizeof stop_words[0],
                   sizeof stop_words[0], cmp_stop) != NULL;
}

void cvs__tokens_free(cvs_tokens *t)
{
    if (!t)
        return;
    free(t->buf);
    free(t->off);
    free(t->len);
    free(t->caps);
    free(t->cps);
    free(t->rcaps);
    memset(t, 0, sizeof *t);
}

static int is_word_char(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* Appends the token buf[start..buf_len) to the index unless it is too long
 * or a stop word; otherwise rolls buf back.  cap: how it was written
 * (stored with CVS_TOK_CAPS). */
static int finish_token(cvs_tokens *t, size_t start, unsigned flags, uint8_t cap)
{
    size_t len = t->buf_len - start;
    if (len == 0)
        return 0;
    if ((len > CVS_TOKEN_MAX && !(flags & CVS_TOK_KEEP_LONG)) ||
        (!(flags & CVS_TOK_KEEP_STOP) && cvs__is_stopword(t->buf + start, len))) {
        t->buf_len = start;
        return 0;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        uint32_t *o = realloc(t->off, nc * sizeof *o), *l;
        if (!o)
            return CVS_ENOMEM;
        t->off = o;
        if (!(l = realloc(t->len, nc * sizeof *l)))
            return CVS_ENOMEM;
        t->len = l;
        t->cap = nc;
    }
    /* caps has its own capacity: code that builds a cvs_tokens by hand
     * (query/context.c) grows off and len alone. */
    if ((flags & CVS_TOK_CAPS) && t->n >= t->caps_cap) {
        size_t nc = t->cap > t->n ? t->cap : t->n + 1;
        uint8_t *c = realloc(t->caps, nc);
        if (!c)
            return CVS_ENOMEM;
        t->caps = c;
        t->caps_cap = nc;
    }
    if (flags & CVS_TOK_CAPS)
        t->caps[t->n] = cap;
    t->off[t->n] = (uint32_t)start;
    t->len[t->n] = (uint32_t)len;
    t->n++;
    t->buf[t->buf_len++] = '\0';
    return 0;
}

/* The code points of text normalized under opt, in t->cps; *n of them. */
static int normalize(const char *text, size_t len, utf8proc_option_t opt, cvs_tokens *t,
                     utf8proc_ssize_t *n)
{
    /* Decompose into code points; a second round when the first buffer was
     * too small (folding can expand, "ß" -> "ss", "ﬃ" -> "ffi"). */
    for (;;) {
        *n = utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                                t->cps, (utf8proc_ssize_t)t->cps_cap, opt);
        if (*n < 0)
            return *n == UTF8PROC_ERROR_NOMEM
                       ? cvs__err(CVS_ENOMEM, "out of memory tokenizing")
                       : cvs__err(CVS_EINPUT, "text is not valid UTF-8 (%s)", utf8proc_errmsg(*n));
        if ((size_t)*n <= t->cps_cap)
            break;
        int32_t *p = realloc(t->cps, (size_t)*n * sizeof *p);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory tokenizing %zu bytes", len);
        t->cps = p;
        t->cps_cap = (size_t)*n;
    }
    *n = utf8proc_normalize_utf32(t->cps, *n, opt);
    if (*n < 0)
        return cvs__err(CVS_EINPUT, "text cannot be normalized (%s)", utf8proc_errmsg(*n));
    return CVS_OK;
}

/* CVS_TOK_CAPS: the same normalization without case folding, split into
 * the same runs of word characters; t->rcaps[r] says whether run r starts
 * with a capital (Lu or Lt), *nruns counts the runs.  Folding maps letters
 * to letters, so the runs are the folded text's, token for token (the
 * caller checks the count). */
static int run_capitals(const char *text, size_t len, utf8proc_option_t opt, cvs_tokens *t,
                        size_t *nruns)
{
    utf8proc_ssize_t n;
    int rc, in_tok = 0;
    *nruns = 0;
    if ((rc = normalize(text, len, opt & ~(utf8proc_option_t)UTF8PROC_CASEFOLD, t, &n)))
        return rc;
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        int32_t c = t->cps[i];
        if (!is_word_char(c)) {
            in_tok = 0;
            continue;
        }
        if (in_tok)
            continue;
        in_tok = 1;
        if (*nruns == t->rcaps_cap) {
            size_t nc = t->rcaps_cap ? t->rcaps_cap * 2 : 64;
            uint8_t *p = realloc(t->rcaps, nc);
            if (!p)
                return cvs__err(CVS_ENOMEM, "out of memory tokenizing");
            t->rcaps = p;
            t->rcaps_cap = nc;
        }
        utf8proc_category_t cat = utf8proc_category(c);
        t->rcaps[(*nruns)++] = cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT;
    }
    return CVS_OK;
}

int cvs__tokenize(const char *text, size_t len, unsigned flags, cvs_tokens *t)
{
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                            UTF8PROC_COMPOSE | UTF8PROC_IGNORE;
    utf8proc_ssize_t n;
    size_t start = 0, nruns = 0, run = 0;
    int in_tok = 0, rc;

    t->n = 0;
    t->buf_len = 0;
    if (len == 0)
        return CVS_OK;
    if (len > (size_t)INT32_MAX / 8)
        return cvs__err(CVS_EINPUT, "text of %zu bytes is too long to tokenize", len);
    if (flags & CVS_TOK_STRIP_ACCENTS)
        opt |= UTF8PROC_STRIPMARK;
    if ((flags & CVS_TOK_CAPS) && (rc = run_capitals(text, len, opt, t, &nruns)))
        return rc;
    if ((rc = normalize(text, len, opt, t, &n)))
        return rc;
    /* Each code point is at most 4 bytes, plus one NUL per token. */
    if ((size_t)n * 5 + 1 > t->buf_cap) {
        char *p = realloc(t->buf, (size_t)n * 5 + 1);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory tokenizing %zu bytes", len);
        t->buf = p;
        t->buf_cap = (size_t)n * 5 + 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        int32_t c = t->cps[i];
        if (is_word_char(c)) {
            if (!in_tok) {
                start = t->buf_len;
                in_tok = 1;
            }
            t->buf_len += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)t->buf + t->buf_len);
        } else if (in_tok) {
            in_tok = 0;
            if (finish_token(t, start, flags, run < nruns ? t->rcaps[run] : 1))
                return cvs__err(CVS_ENOMEM, "out of memory tokenizing");
            run++;
        }
    }
    if (in_tok && finish_token(t, start, flags, run < nruns ? t->rcaps[run] : 1))
        return cvs__err(CVS_ENOMEM, "out of memory tokenizing");
    run += in_tok;
    if (flags & CVS_TOK_CAPS) {
        t->caps_any = nruns && memchr(t->rcaps, 1, nruns) != NULL;
        /* Runs that do not line up tell nothing about case. */
        if (run != nruns && t->n)
            memset(t->caps, 1, t->n);
    }
    return CVS_OK;
}

/* ==== Whether a text has words ==== */

/* *n = the tokens of text under flags (fn names the caller in a message). */
static int count_tokens(const char *fn, const char *text, size_t len, unsigned flags, size_t *n)
{
    cvs_tokens t = {0};
    int rc;
    if (!n || (!text && len))
        return cvs__err(CVS_EINVAL, "%s: NULL argument", fn);
    *n = 0;
    if (!text)
        return CVS_OK;
    if (!len)
        len = strlen(text);
    if (!(rc = cvs__tokenize(text, len, flags, &t)))
        *n = t.n;
    cvs__tokens_free(&t);
    return rc;
}

/* Every word, stop words and over-long runs too: the question is whether
 * the text holds anything to read, not what BM25 indexes of it.  "the",
 * a long hash or a sentence of Chinese longer than CVS_TOKEN_MAX
 * are words someone wrote (a model may embed them); spaces of any kind
 * (U+00A0, U+3000), punctuation and symbols are not. */
CVS_API int cvs_text_words(const char *text, size_t len, size_t *n)
{
    return count_tokens("cvs_text_words", text, len, CVS_TOK_KEEP_STOP | CVS_TOK_KEEP_LONG, n);
}

/* The words BM25 searches, as it splits a question (it also strips
 * accents, which changes no count). */
CVS_API int cvs_text_terms(const char *text, size_t len, size_t *n)
{
    return count_tokens("cvs_text_terms", text, len, 0, n);
}

/* One wording for every entry point (CLI, MCP, Python, cvstore-mpi), so
 * that they cannot drift apart.  It names both ways a word is left out,
 * since a user who typed "the" and one who pasted a 70-letter hash see the
 * same empty set. */
CVS_API int cvs_text_empty_note(const char *text, size_t len, const char **note)
{
    size_t words = 0, terms = 0;
    int rc;
    if (!note || (!text && len))
        return cvs__err(CVS_EINVAL, "cvs_text_empty_note: NULL argument");
    *note = NULL;
    if ((rc = cvs_text_words(text, len, &words)) || !words ||
        (rc = cvs_text_terms(text, len, &terms)) || terms)
        return rc;
    *note = "no result: the question has only stop words (words such as \"the\", \"is\", "
            "\"who\" that the text index leaves out, as the glove embedder does) or runs of "
            "over 64 bytes without a space, which it leaves out too: add a word that names "
            "what you look for";
    return CVS_OK;
}

/* ==== Token lists across the API ==== */

int cvs__terms_view(const cvs_terms *terms, cvs_tokens *out)
{
    size_t pos = 0;
    memset(out, 0, sizeof *out);
    if (!terms || (terms->n && !terms->buf))
        return cvs__err(CVS_EINVAL, "terms: NULL argument");
    if (terms->bytes > UINT32_MAX)
        return cvs__err(CVS_EINPUT, "terms: %zu bytes, at most 2^32 - 1", terms->bytes);
    if (terms->n && (!(out->off = malloc(terms->n * sizeof *out->off)) ||
                     !(out->len = malloc(terms->n * sizeof *out->len)))) {
        cvs__terms_view_free(out);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < terms->n; i++) {
        const char *end = pos < terms->bytes ? memchr(terms->buf + pos, '\0', terms->bytes - pos)
                                             : NULL;
        if (!end) {
            cvs__terms_view_free(out);
            return cvs__err(CVS_EINPUT, "terms: %zu strings announced, %zu found in %zu bytes",
                            terms->n, i, terms->bytes);
        }
        out->off[i] = (uint32_t)pos;
        out->len[i] = (uint32_t)(end - (terms->buf + pos));
        if (!out->len[i]) {
            /* The tokenizer makes no empty term, and LMDB takes no empty
             * key: a caller's slip, said as such. */
            cvs__terms_view_free(out);
            return cvs__err(CVS_EINPUT, "terms: term %zu is empty (no term BM25 reads is)", i);
        }
        pos += out->len[i] + 1;
    }
    if (pos != terms->bytes) {
        cvs__terms_view_free(out);
        return cvs__err(CVS_EINPUT, "terms: %zu bytes after the last of %zu strings",
                        terms->bytes - pos, terms->n);
    }
    out->buf = (char *)terms->buf; /* read only: a view */
    out->buf_len = terms->bytes;
    out->n = out->cap = terms->n;
    return CVS_OK;
}

void cvs__terms_view_free(cvs_tokens *t)
{
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

void cvs__tokens_terms(const cvs_tokens *t, cvs_terms *out)
{
    /* Tokens are packed in order, each followed by its NUL (cvs__tokenize,
     * and tok_push in query/context.c). */
    out->buf = t->buf;
    out->bytes = t->n ? t->buf_len : 0;
    out->n = t->n;
}
