/*
 * share.c -- what the built-in sentence encoders share.
 *
 * One copy per process of a model loaded from files: a list of (key,
 * model, holders) under one mutex per kind of model.  The key is a hash of
 * the files' bytes, so a changed file is another model; the copy is freed
 * by its last holder.  Not an algorithm of any paper: the reference
 * counting of a shared read-only object.
 *
 * Multi-head attention (Vaswani et al., "Attention Is All You Need", 2017,
 * section 3.2), the same arithmetic in both encoders: two cblas_sgemm calls
 * a head, the softmax between them with its row maximum subtracted first.
 * No mask: a text is embedded alone, never padded (embed_use.c deviation
 * 4, embed_minilm.c deviation 3).
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "query/share.h"

struct cvs__share_ent {
    unsigned char key[CVS_FINGERPRINT_BYTES];
    void *model;
    size_t refs;
    struct cvs__share_ent *next;
};

/* Under s->mu. */
static void *take_locked(cvs__shared *s, const unsigned char *key)
{
    for (struct cvs__share_ent *e = s->head; e; e = e->next)
        if (!memcmp(e->key, key, sizeof e->key)) {
            e->refs++;
            return e->model;
        }
    return NULL;
}

void *cvs__share_take(cvs__shared *s, const unsigned char *key)
{
    void *m;
    pthread_mutex_lock(&s->mu);
    m = take_locked(s, key);
    pthread_mutex_unlock(&s->mu);
    return m;
}

void *cvs__share_add(cvs__shared *s, const unsigned char *key, void *model)
{
    struct cvs__share_ent *e = malloc(sizeof *e);
    void *had;
    pthread_mutex_lock(&s->mu);
    if (!(had = take_locked(s, key)) && e) {
        memcpy(e->key, key, sizeof e->key);
        e->model = model;
        e->refs = 1;
        e->next = s->head;
        s->head = e;
        e = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    free(e);
    return had ? had : model;
}

int cvs__share_drop(cvs__shared *s, void *model)
{
    int last = 1;
    pthread_mutex_lock(&s->mu);
    for (struct cvs__share_ent **p = &s->head; *p; p = &(*p)->next)
        if ((*p)->model == model) {
            struct cvs__share_ent *e = *p;
            if ((last = --e->refs == 0)) {
                *p = e->next;
                free(e);
            }
            break;
        }
    pthread_mutex_unlock(&s->mu);
    return last;
}

void cvs__attend(const float *qkv, int L, int d, int heads, float *s, float *ctx)
{
    const int dh = d / heads;
    const float scale = 1.0f / sqrtf((float)dh);
    for (int hd = 0; hd < heads; hd++) {
        const float *q = qkv + hd * dh, *k = qkv + d + hd * dh, *v = qkv + 2 * d + hd * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dh, scale, q, 3 * d, k, 3 * d,
                    0.0f, s, L);
        for (int i = 0; i < L; i++) {
            float *r = s + (size_t)i * L, mx = r[0], sum = 0;
            for (int j = 1; j < L; j++)
                mx = r[j] > mx ? r[j] : mx;
            for (int j = 0; j < L; j++)
                sum += r[j] = expf(r[j] - mx);
            for (int j = 0; j < L; j++)
                r[j] /= sum;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dh, L, 1.0f, s, L, v, 3 * d,
                    0.0f, ctx + hd * dh, d);
    }
}

int cvs__embed_each(const cvs__encoder *e, const char *const *texts, const size_t *lens,
                    size_t n, float *out, unsigned char *empty)
{
    int rc = CVS_OK;
    for (size_t i = 0; i < n && rc == CVS_OK; i++) {
        int32_t *ids = NULL;
        size_t k = 0;
        float *row = out + i * e->dim;
        if (empty)
            empty[i] = 0;
        if ((rc = e->encode(e->model, texts[i] ? texts[i] : "", texts[i] ? lens[i] : 0, &ids,
                            &k)))
            break;
        if (k == 0) {
            memset(row, 0, e->dim * sizeof *row);
            if (empty)
                empty[i] = 1;
            else if (n > 1) /* a batch names the text; one text needs no name */
                rc = cvs__err(CVS_EINPUT, "text %zu has no characters to embed (it is empty or "
                              "only white space)", i);
            else
                rc = cvs__err(CVS_EINPUT, "the text has no characters to embed (it is empty or "
                              "only white space)");
        } else {
            rc = e->forward(e->model, ids, k, row);
        }
        free(ids);
    }
    return rc;
}

int cvs__read_model_file(FILE *f, const char *path, unsigned char **buf, size_t *len)
{
    struct stat stb;
    long sz = 0;
    int rc = CVS_OK;
    *buf = NULL;
    *len = 0;
    /* fopen opens a directory too, whose size is no file's (ext4 says
     * 2^63 - 1: "out of memory" would mislead). */
    if (fstat(fileno(f), &stb) || !S_ISREG(stb.st_mode))
        rc = cvs__err(CVS_EIO, "%s: not a regular file", path);
    else if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        rc = cvs__err(CVS_EIO, "%s: cannot size it", path);
    else if (!(*buf = malloc(sz ? (size_t)sz : 1)))
        rc = cvs__err(CVS_ENOMEM, "out of memory for %s", path);
    else if (fread(*buf, 1, (size_t)sz, f) != (size_t)sz)
        rc = cvs__err(CVS_EIO, "%s: short read", path);
    if (rc) {
        free(*buf);
        *buf = NULL;
    } else {
        *len = (size_t)sz;
    }
    return rc;
}
