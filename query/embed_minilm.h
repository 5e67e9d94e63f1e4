/*
 * embed_minilm.h -- internals of the built-in "minilm" embedder
 * (query/embed_minilm.c): all-MiniLM-L6-v2, a 6-layer BERT sentence encoder,
 * with its WordPiece tokenizer.  The per-handle glue is query/embed.c.  Not
 * installed.
 */
#ifndef CVS_EMBED_MINILM_H
#define CVS_EMBED_MINILM_H

#include <stddef.h>
#include <stdint.h>

#define CVS_MINILM_DIM 384
#define CVS_MINILM_FILE "model.fp16.safetensors"
#define CVS_MINILM_VOCAB "tokenizer.json"
/* Pieces a text is cut to, [CLS] and [SEP] included (deviation 1). */
#define CVS_MINILM_MAXLEN 256

/* A WordPiece vocabulary with BERT's uncased basic tokenizer: immutable once
 * made. */
typedef struct cvs_wordpiece cvs_wordpiece;
/* From the bytes of a Hugging Face tokenizer.json of an uncased BERT
 * WordPiece model.  CVS_ECORRUPT (naming what is wrong) for anything else. */
int cvs__wordpiece_load_mem(const void *json, size_t len, cvs_wordpiece **out);
void cvs__wordpiece_free(cvs_wordpiece *w);
/* The token ids of text without [CLS] and [SEP], at most max of them (a
 * text is read only as far as its first max pieces), into *ids (malloc'ed,
 * freed by the caller; NULL when *n is 0). */
int cvs__wordpiece_encode(const cvs_wordpiece *w, const char *text, size_t len, size_t max,
                          int32_t **ids, size_t *n);

/* The model, loaded from dir/model.fp16.safetensors and dir/tokenizer.json
 * (CVS_NOTFOUND naming them and scripts/fetch-minilm.sh when one is
 * missing; CVS_ECORRUPT with the remedy when one is damaged) or from their
 * bytes.  Immutable: any number of threads may embed with it at once.
 * Loads of the same file bytes in one process return one shared copy,
 * freed when every holder has called cvs__minilm_free (embed_minilm.c,
 * deviation 5); a model from cvs__minilm_load_mem is its caller's alone. */
typedef struct cvs_minilm cvs_minilm;
int cvs__minilm_load(const char *dir, cvs_minilm **out);
int cvs__minilm_load_mem(const void *st, size_t stlen, const void *tok, size_t toklen,
                         cvs_minilm **out);
void cvs__minilm_free(cvs_minilm *m);
/* BLAKE2b-256 of the model: its weights and vocabulary (not the files). */
const unsigned char *cvs__minilm_fingerprint(const cvs_minilm *m);
const cvs_wordpiece *cvs__minilm_tokenizer(const cvs_minilm *m);
/* [CLS], the text's first CVS_MINILM_MAXLEN - 2 pieces, [SEP], into *ids
 * (malloc'ed); *n is 0 and *ids NULL when the text has no piece. */
int cvs__minilm_encode(const cvs_minilm *m, const char *text, size_t len, int32_t **ids,
                       size_t *n);
/* The unit 384-d embedding of n token ids (the first CVS_MINILM_MAXLEN
 * count; ids out of the vocabulary are CVS_EINVAL). */
int cvs__minilm_forward(const cvs_minilm *m, const int32_t *ids, size_t n, float *out);
/* The same for count texts at once (deviation 7): text t's n[t] ids into
 * out[t] (384 floats each).  The matrix products run over the stacked
 * rows of all of them, attention within each text: each vector is what
 * the text gives alone. */
int cvs__minilm_forward_many(const cvs_minilm *m, size_t count, const int32_t *const *ids,
                             const size_t *n, float *const *out);
/* Texts to rows of out (n x 384).  A text with no piece (empty, only white
 * space or control characters) is CVS_EINPUT when empty is NULL; otherwise
 * its row is zero and empty[i] is 1 (0 for the others). */
int cvs__minilm_embed(const cvs_minilm *m, const char *const *texts, const size_t *lens,
                      size_t n, float *out, unsigned char *empty);

#endif
