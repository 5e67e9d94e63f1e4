/*
 * embed.h -- internals of the built-in embedders: SIF over GloVe
 * (query/embed_sif.c).  The public side is in cvstore.h ("Text"); the
 * per-handle glue is query/embed.c.  Not installed.
 */
#ifndef CVS_EMBED_H
#define CVS_EMBED_H

#include <stddef.h>
#include <stdint.h>

#define CVS_SIF_A 1e-3f        /* Arora et al.'s a, within their best range */
#define CVS_GLOVE_WORDS "glove100.words"
#define CVS_GLOVE_FVECS "glove100.fvecs"
#define CVS_FINGERPRINT_BYTES 32

/* Word vectors loaded from a GloVe cache directory; immutable once loaded,
 * so any number of threads may embed with it at once. */
typedef struct cvs_sif cvs_sif;

/* Loads dir/glove100.words and maps dir/glove100.fvecs.  CVS_NOTFOUND (the
 * message names the files and how to fetch them) when either is missing,
 * CVS_ECORRUPT when they disagree. */
int cvs__sif_load(const char *dir, cvs_sif **out);
/* The same from memory: the bytes of a words file and of an fvecs file
 * (both copied; the store keeps them as meta "glove_words"/"glove_vecs"). */
int cvs__sif_load_mem(const void *words, size_t wlen, const void *fvecs, size_t flen,
                      cvs_sif **out);
void cvs__sif_free(cvs_sif *s);
uint32_t cvs__sif_dim(const cvs_sif *s);
size_t cvs__sif_vocab(const cvs_sif *s);
const unsigned char *cvs__sif_fingerprint(const cvs_sif *s);
/* Index of a word (already folded by the tokenizer) or -1. */
long cvs__sif_lookup(const cvs_sif *s, const char *w, size_t len);

/* SIF embeddings without the common-component removal: for each text the
 * a/(a + p(w))-weighted mean of its words' vectors.  A text with no word in
 * the vocabulary is CVS_EINPUT when empty is NULL; otherwise its row is
 * zero and empty[i] is set to 1 (0 for the others). */
int cvs__sif_embed(const cvs_sif *s, float a, const char *const *texts, const size_t *lens,
                   size_t n, float *out, unsigned char *empty);

/* The common component fixed by the vocabulary alone (embed_sif.c,
 * deviation 4): the unit top eigenvector of the expected X^T X of texts
 * whose words are drawn from the Zipf unigram distribution, stop words
 * excluded, with SIF weights for a. */
int cvs__sif_vocab_pc(const cvs_sif *s, float a, float *pc);
/* Word x of the vocabulary (NUL-terminated, *len bytes; valid while s is),
 * or NULL when x is out of range. */
const char *cvs__sif_word(const cvs_sif *s, long x, size_t *len);
/* The words among the vocabulary's first max_rank (the most frequent)
 * whose vector is within cosine min_cos of word w's, w itself aside: at
 * most cap of them, best first, into idx and cos, their number in *n. */
int cvs__sif_neighbours(const cvs_sif *s, long w, size_t max_rank, float min_cos, long *idx,
                        float *cos, size_t cap, size_t *n);
/* The SIF weight a / (a + p(x)) of word x (deviation 1's Zipf p), in
 * (0, 1); 1 for x out of range (a word without a vector is rarer than
 * every word with one). */
double cvs__sif_weight(const cvs_sif *s, long x, float a);
/* The unit vector of word x into out (dim floats): CVS_OK, CVS_NOTFOUND
 * when x is out of range or its vector is zero, CVS_ECORRUPT when its row
 * is damaged. */
int cvs__sif_unit(const cvs_sif *s, long x, float *out);
/* v -= (v . pc) pc for n rows. */
void cvs__sif_remove_pc(float *v, size_t n, uint32_t dim, const float *pc);

/* ==== The Universal Sentence Encoder lite (query/embed_use.c) ==== */

#define CVS_USE_DIM 512
#define CVS_USE_FILE "use-lite.bin"

/* A SentencePiece unigram vocabulary: immutable once made. */
typedef struct cvs_spm cvs_spm;
/* Piece i (lens[i] bytes of UTF-8, score scores[i]) is token id i; the
 * first `reserved` ids never match text.  Everything is copied. */
int cvs__spm_new(const char *const *pieces, const size_t *lens, const double *scores, size_t n,
                 size_t reserved, cvs_spm **out);
void cvs__spm_free(cvs_spm *s);
/* The token ids of text (embed_use.c: normalisation, Viterbi, unknown
 * characters as id 0, runs of them merged) into *ids (malloc'ed, freed by
 * the caller; NULL when *n is 0). */
int cvs__spm_encode(const cvs_spm *s, const char *text, size_t len, int32_t **ids, size_t *n);

/* The model, loaded from dir/use-lite.bin (CVS_NOTFOUND naming the file and
 * scripts/fetch-use.sh when it is missing) or from its bytes.  Immutable:
 * any number of threads may embed with it at once.  Loads of the same file
 * bytes in one process return one shared copy (embed_use.c, deviation 7),
 * freed when every holder has called cvs__use_free; a model from
 * cvs__use_load_mem is its caller's alone. */
/* The path of a fetcher script ("fetch-glove.sh", "fetch-use.sh") that exists
 * for this installation or checkout, for remedy messages, written to buf
 * (returned); "scripts/SCRIPT" when none is found (embed.c). */
const char *cvs__fetcher(const char *script, char *buf, size_t cap);

typedef struct cvs_use cvs_use;
int cvs__use_load(const char *dir, cvs_use **out);
int cvs__use_load_mem(const void *buf, size_t len, cvs_use **out);
void cvs__use_free(cvs_use *u);
/* BLAKE2b-256 of the model file (weights and vocabulary). */
const unsigned char *cvs__use_fingerprint(const cvs_use *u);
const cvs_spm *cvs__use_tokenizer(const cvs_use *u);
/* The unit 512-d embedding of n token ids (the first 128 count). */
int cvs__use_forward(const cvs_use *u, const int32_t *ids, size_t n, float *out);
/* Texts to rows of out (n x 512).  A text with no piece (empty or only
 * whitespace) is CVS_EINPUT when empty is NULL; otherwise its row is zero
 * and empty[i] is 1 (0 for the others). */
int cvs__use_embed(const cvs_use *u, const char *const *texts, const size_t *lens, size_t n,
                   float *out, unsigned char *empty);

#endif
