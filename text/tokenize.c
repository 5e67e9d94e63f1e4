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
 *   2. Chinese and Japanese, written without spaces, are split into
 *      overlapping character bigrams, the way Lucene's CJKBigramFilter
 *      (and Elasticsearch's cjk analyzer over it) does: within a maximal
 *      stretch of Han, Hiragana and Katakana letters, every pair of
 *      neighbouring characters is a token ("パスワード" gives パス|スワ|
 *      ワー|ード, "北京大学" 北京|京大|大学), and a stretch of one character
 *      is that character.  Bigrams need no dictionary, segment no word
 *      wrongly (a word of two or more characters is always among them, so
 *      a query word inside an unspaced passage finds it), and are what
 *      search engines index CJK text with; Chinese IR studies found them at
 *      least as effective as dictionary words (Kwok, "Comparing
 *      representations in Chinese information retrieval", SIGIR 1997; Nie,
 *      Gao, Zhang & Zhou, "On the use of words and n-grams for Chinese
 *      information retrieval", IRAL 2000), best together with single
 *      characters.  So we add one thing to Lucene's rule: each Han
 *      character is a token too, placed before the pair it starts
 *      (北|北京|京|京大|大|大学|学), because an ideograph is a word of its own
 *      (猫 "cat", 本 "book") and a question of one character would
 *      otherwise find nothing; kana are syllables, whose single
 *      characters are mostly particles (の, は, を) that would fill
 *      postings lists and mean nothing.  The order keeps every phrase of a
 *      stretch a contiguous stretch of its tokens, which the mention linker
 *      (graph/link.c) needs to find a CJK title in a text.  Chosen over
 *      ICU's dictionary word break (ubrk_open(UBRK_WORD); Debian 12's ICU
 *      72 splits Chinese, Japanese, Thai and Lao with its built-in
 *      dictionaries: アカウント|の|パスワード|を|変更|する, but 北京|大学|位于|
 *      北京市|海|淀|区, the district 海淀 unknown): a dictionary splits an
 *      unknown name or a new coinage into pieces that a query holding it
 *      within other words need not split alike (北京市 is one word, 北京 in
 *      a question another, and neither finds the other), and its result
 *      changes with the ICU release a build links against, which BM25's
 *      stored postings (re-tokenized to be removed, bm25.c deviation 5)
 *      cannot follow.  Costs: about two
 *      tokens per Han character, one per kana; bigrams that straddle two
 *      words ("東京都" gives 京都, Kyoto) add some false matches, which the
 *      scores of the true pairs outweigh.  Hangul keeps its words (Korean
 *      is written with spaces).  Thai, Lao, Khmer and Burmese, written
 *      without spaces and with no bigram convention, still make one token
 *      per run (often longer than the limit and dropped).  A stretch ends
 *      where another script begins, inside a run too ("iphone用" gives
 *      iphone|用).  GloVe has no CJK word (the SIF embedder finds none of
 *      these tokens, as it found none of the whole runs), no stop word is
 *      CJK, and Snowball's English stemmer (query/context.c deviation 17)
 *      leaves them alone.  Text with no CJK letter tokenizes exactly as
 *      before the split was added.
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
 *   6. Stripping accents keeps the voicing marks of kana (dakuten and
 *      handakuten: パ, バ and ハ stay three letters; バス "bus", パス "pass"
 *      and ハス "lotus" three words).  They are not accents a writer may
 *      leave off, as é in "Beyoncé" is: a Japanese writer never does, and
 *      the letters without them are other syllables.  utf8proc strips every
 *      mark (Unicode category M) or none, so the marks are held out of its
 *      decomposition (hold_kana).
 *
 * Any change to these rules changes stored BM25 postings: bump
 * CVS_TOKENIZER_VERSION (bm25.c records it in the store).
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/err.h"
#include "core/grow.h"
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

/* Kana voicing marks (deviation 6): with accents stripped, a kana that
 * carries a voicing mark (ガ, パ, ゔ: canonically ka + U+3099) and the marks
 * themselves (U+3099, U+309A, half-width U+FF9E, U+FF9F) are held out of
 * utf8proc's decomposition as private-use characters of plane 15,
 * KANA_HELD + (c - 0x3000), then put back and composed.  A private
 * character of the text in that range is moved out of it first
 * (KANA_HELD + 0x100: private still, so still no letter). */
#define KANA_HELD 0xF0000

static utf8proc_int32_t hold_kana(utf8proc_int32_t c, void *unused)
{
    (void)unused;
    if (c == 0xFF9E || c == 0xFF9F)
        c = c == 0xFF9E ? 0x3099 : 0x309A;
    if (c == 0x3099 || c == 0x309A)
        return KANA_HELD + (c - 0x3000);
    if (c >= 0x3040 && c <= 0x30FF) {
        const utf8proc_property_t *p = utf8proc_get_property(c);
        return p->decomp_seqindex != UINT16_MAX && !p->decomp_type ? KANA_HELD + (c - 0x3000)
                                                                    : c;
    }
    return c >= KANA_HELD && c <= KANA_HELD + 0xFF ? KANA_HELD + 0x100 : c;
}

/* Puts back what hold_kana held, composing a mark with its kana. */
static utf8proc_ssize_t release_kana(int32_t *cps, utf8proc_ssize_t n)
{
    int marks = 0;
    for (utf8proc_ssize_t i = 0; i < n; i++)
        if (cps[i] >= KANA_HELD && cps[i] <= KANA_HELD + 0xFF) {
            cps[i] = cps[i] - KANA_HELD + 0x3000;
            marks |= cps[i] == 0x3099 || cps[i] == 0x309A;
        }
    /* The rest is composed already, and composing is idempotent. */
    return marks ? utf8proc_normalize_utf32(cps, n, UTF8PROC_COMPOSE) : n;
}

/* The code points of text normalized under opt, in t->cps; *n of them. */
static int normalize(const char *text, size_t len, utf8proc_option_t opt, cvs_tokens *t,
                     utf8proc_ssize_t *n)
{
    utf8proc_custom_func hold = (opt & UTF8PROC_STRIPMARK) ? hold_kana : NULL;
    /* Decompose into code points; a second round when the first buffer was
     * too small (folding can expand, "ß" -> "ss", "ﬃ" -> "ffi"). */
    for (;;) {
        *n = utf8proc_decompose_custom((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                                       t->cps, (utf8proc_ssize_t)t->cps_cap, opt, hold, NULL);
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
    if (*n >= 0 && hold)
        *n = release_kana(t->cps, *n);
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

/* ==== Runs of letters into tokens ==== */

static int is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* Han ideographs (unified, extensions A to I, compatibility, radicals)
 * and the ideographic marks that behave as ones: 々 (iteration), 〆, 〇,
 * the Hangzhou numerals, 〻.  Each carries a meaning of its own, so a
 * character is also a token (deviation 2). */
static int is_han(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x323AF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x2E80 && c <= 0x2FDF) || (c >= 0x3005 && c <= 0x3007) ||
           (c >= 0x3021 && c <= 0x3029) || (c >= 0x3038 && c <= 0x303B);
}

/* The scripts written without spaces that deviation 2 splits into
 * bigrams: Han, Hiragana (U+3041..309F), Katakana (U+30A1..30FF with the
 * prolonged sound mark ー, the small extensions U+31F0..31FF, the kana
 * supplements U+1AFF0..1B16F).  Half-width katakana are folded to these
 * by NFKC before we look.  Hangul is not here: Korean is written with
 * spaces between words. */
static int is_cjk(int32_t c)
{
    return is_han(c) || (c >= 0x3041 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
           (c >= 0x1AFF0 && c <= 0x1B16F);
}

/* Appends cps[0..m) to the token being built at the end of t->buf, which
 * grows when needed (a bigram repeats its characters, so the first guess
 * of cvs__tokenize can be short for CJK text). */
static int append_cps(cvs_tokens *t, const int32_t *cps, size_t m)
{
    void *buf = t->buf;
    int rc = cvs__grow(&buf, &t->buf_cap, t->buf_len + m * 4 + 1, 1, "out of memory tokenizing");
    t->buf = buf;
    if (rc)
        return rc;
    for (size_t i = 0; i < m; i++)
        t->buf_len += (size_t)utf8proc_encode_char(cps[i], (utf8proc_uint8_t *)t->buf + t->buf_len);
    return 0;
}

/* One token of cps[0..m). */
static int emit(cvs_tokens *t, const int32_t *cps, size_t m, unsigned flags, uint8_t cap)
{
    size_t start = t->buf_len;
    int rc = append_cps(t, cps, m);
    return rc ? rc : finish_token(t, start, flags, cap);
}

/* The index just past the character at cps[k] (its marks with it). */
static size_t next_char(const int32_t *cps, size_t m, size_t k)
{
    for (k++; k < m && is_mark(cps[k]); k++)
        ;
    return k;
}

/* A run of CJK characters (deviation 2): one token per pair of neighbours,
 * and one per Han character, in reading order (the character before the
 * pair that starts with it), so that a phrase of the run is a contiguous
 * stretch of tokens (the linker matches titles so).  A run of one
 * character is that character. */
static int emit_cjk(cvs_tokens *t, const int32_t *cps, size_t m, unsigned flags, uint8_t cap)
{
    size_t a = 0, b = next_char(cps, m, 0);
    int rc = 0;
    if (b == m)
        return emit(t, cps, m, flags, cap);
    while (a < m && !rc) {
        size_t c = b < m ? next_char(cps, m, b) : m;
        if (is_han(cps[a]))
            rc = emit(t, cps + a, b - a, flags, cap);
        if (!rc && b < m)
            rc = emit(t, cps + a, c - a, flags, cap);
        a = b;
        b = c;
    }
    return rc;
}

/* The tokens of one maximal run of word characters cps[0..m): its
 * stretches of CJK letters as emit_cjk splits them, every other stretch
 * one token (a run without CJK is one token, as it always was).  A mark
 * stays with the letter before it.  cap: the run's (every token of it). */
static int split_run(cvs_tokens *t, const int32_t *cps, size_t m, unsigned flags, uint8_t cap)
{
    for (size_t k = 0, e; k < m; k = e) {
        int cjk = is_cjk(cps[k]), rc;
        for (e = k + 1; e < m && (is_mark(cps[e]) || is_cjk(cps[e]) == cjk); e++)
            ;
        rc = cjk ? emit_cjk(t, cps + k, e - k, flags, cap) : emit(t, cps + k, e - k, flags, cap);
        if (rc)
            return cvs__err(rc, "out of memory tokenizing");
    }
    return 0;
}

int cvs__tokenize(const char *text, size_t len, unsigned flags, cvs_tokens *t)
{
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                            UTF8PROC_COMPOSE | UTF8PROC_IGNORE;
    utf8proc_ssize_t n;
    size_t nruns = 0, run = 0;
    int rc;

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
    for (utf8proc_ssize_t i = 0, j; i < n; i = j) {
        if (!is_word_char(t->cps[i])) {
            j = i + 1;
            continue;
        }
        for (j = i + 1; j < n && is_word_char(t->cps[j]); j++)
            ;
        if ((rc = split_run(t, t->cps + i, (size_t)(j - i), flags,
                            run < nruns ? t->rcaps[run] : 1)))
            return rc;
        run++;
    }
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
