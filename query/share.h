/*
 * share.h -- what the built-in sentence encoders (embed_use.c,
 * embed_minilm.c) share (query/share.c): one copy per process of a model
 * loaded from files (embed_use.c deviation 7, embed_minilm.c deviation 5),
 * and the multi-head attention of a transformer layer.  Not installed.
 */
#ifndef CVS_QUERY_SHARE_H
#define CVS_QUERY_SHARE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "query/embed.h"

struct cvs__share_ent;

/* A registry of shared models of one kind: a static, CVS__SHARED_INIT.
 * Every registry is under share.c's one mutex, which a fork() never leaves
 * held in the child (a pthread_atfork handler). */
typedef struct cvs__shared {
    struct cvs__share_ent *head;
} cvs__shared;
#define CVS__SHARED_INIT {NULL}

/* The model registered under key (CVS_FINGERPRINT_BYTES: a hash of the
 * files' bytes) with one more holder, or NULL. */
void *cvs__share_take(cvs__shared *s, const unsigned char *key);
/* Registers model under key with one holder and returns it; or, when
 * another thread registered one under key meanwhile, returns that one with
 * one more holder, and the caller frees its own.  With no memory for the
 * entry, returns model unregistered (its caller's alone). */
void *cvs__share_add(cvs__shared *s, const unsigned char *key, void *model);
/* Drops one holder of model: 1 when the caller is to free it (it was never
 * registered, or this was its last holder, now unregistered), else 0. */
int cvs__share_drop(cvs__shared *s, void *model);

/* The whole of a model file opened as f (path names it in errors) into
 * *buf (malloc'ed; *len bytes); f stays open.  A directory (which fopen
 * opens too) or an unreadable file is CVS_EIO, naming what it is; *buf is
 * NULL on error. */
int cvs__read_model_file(FILE *f, const char *path, unsigned char **buf, size_t *len);

/* Multi-head scaled dot-product attention (Vaswani et al. 2017) over the L
 * rows of one text, unmasked: qkv is L x 3d, each row q, k and v side by
 * side; for each of the heads (d / heads wide) ctx gets softmax(q k^T /
 * sqrt(d / heads)) v in its columns.  s is L x L scratch; ctx is L x d. */
void cvs__attend(const float *qkv, int L, int d, int heads, float *s, float *ctx);

/* An encoder for cvs__embed_each: model's token ids of a text (malloc'ed
 * into *ids, *n of them, none for a text with no piece) and the unit
 * embedding of ids; optionally (may be NULL) the embeddings of count
 * texts' ids in one pass, text t's into out[t], each what forward gives
 * it alone. */
typedef struct cvs__encoder {
    const void *model;
    uint32_t dim;
    int (*encode)(const void *model, const char *text, size_t len, int32_t **ids, size_t *n);
    int (*forward)(const void *model, const int32_t *ids, size_t n, float *out);
    int (*forward_many)(const void *model, size_t count, const int32_t *const *ids,
                        const size_t *n, float *const *out);
} cvs__encoder;
/* Texts to rows of out (n x dim), each row what its text gives alone,
 * spread over cvs__embed_threads() worker threads (at most n; one text is
 * embedded on the caller's thread), in groups through forward_many when
 * the encoder has it, with OpenBLAS on one thread meanwhile (share.c
 * deviations 1-5).  A text with no piece (empty or only white space) is
 * CVS_EINPUT when empty is NULL, naming the text of a batch; otherwise its
 * row is zero and empty[i] is 1 (0 for the others).  On failure the
 * message is the lowest failing text's; rows after it are unspecified. */
int cvs__embed_each(const cvs__encoder *e, const char *const *texts, const size_t *lens,
                    size_t n, float *out, unsigned char *empty);
/* Worker threads for a batch: $CVSTORE_EMBED_THREADS when it is a number
 * from 1 to 256 (1 = the caller's thread alone), else one per CPU the
 * process may run on, at most 16 (cvs__ncpu). */
int cvs__embed_threads(void);

/* Testing: holds (hold = 1) or releases (0) the registries' mutex from the
 * calling thread, so a test can fork while another thread holds it. */
void cvs__share_test_hold(int hold);

#endif
