/*
 * share.c -- what the built-in sentence encoders share.
 *
 * One copy per process of a model loaded from files: a list of (key,
 * model, holders) per kind of model, all under one mutex.  The key is a
 * hash of the files' bytes, so a changed file is another model; the copy
 * is freed by its last holder.  Not an algorithm of any paper: the
 * reference counting of a shared read-only object.
 *
 * Multi-head attention (Vaswani et al., "Attention Is All You Need", 2017,
 * section 3.2), the same arithmetic in both encoders: two cblas_sgemm calls
 * a head, the softmax between them with its row maximum subtracted first.
 * No mask: a text is embedded alone, never padded (embed_use.c deviation
 * 4, embed_minilm.c deviation 3).
 *
 * A batch of texts is spread over worker threads (embed_minilm.c
 * deviation 7 has the figures):
 *   1. Texts, not matrix rows, are what is parallel.  A text's matrices
 *      are its L pieces by 384 or 1536: OpenBLAS's own threads (one per
 *      core when OPENBLAS_NUM_THREADS is unset, as a user has it) cost
 *      more in hand-offs than they save at that size (measured: a short
 *      question took twice the wall time with them, and a batch of
 *      passages half as much CPU again).  So while any text is
 *      embedded here OpenBLAS is set to one thread, process-wide (a
 *      counted section: the first to enter saves the count, the last to
 *      leave restores it); another thread's BLAS call that starts meanwhile
 *      runs on one core, which costs it time, never a result.
 *   2. Workers take the next texts from a shared counter (texts differ in
 *      length by 20 times, so fixed shares would leave a worker idle), and
 *      each text's vector is the same arithmetic whichever worker does it.
 *   3. The workers live for one call (core/jobs.c): none outlives it, so a
 *      child of fork() never waits on a thread it does not have.  The one
 *      mutex here (the registries, the BLAS section's count) is taken by a
 *      pthread_atfork handler before fork and released after it on both
 *      sides, so a child never inherits it held; a child forked inside a
 *      BLAS section (by another thread) restores OpenBLAS's count at once.
 *   4. A failing text stops the workers at it: texts after the first
 *      failure are not started, every text before it is finished, and the
 *      first failure's message (its index) is the one reported, as a loop
 *      one text at a time reports it.
 *   5. An encoder that can (minilm: forward_many) runs a group of texts
 *      through one pass, their rows stacked under each matrix product, so
 *      the weights are packed and streamed once a group rather than once a
 *      text: a short question is ~12 rows, where sgemm of these widths
 *      runs at under half its speed (42 GFLOPS against 96 at 600 rows, one
 *      core).  A group is filled to GROUP_ROWS pieces, and kept small
 *      enough that every worker gets two or more groups of the call.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/jobs.h"
#include "query/share.h"

/* ==== The registries and the BLAS section: one mutex, fork-safe ==== */

struct cvs__share_ent {
    unsigned char key[CVS_FINGERPRINT_BYTES];
    void *model;
    size_t refs;
    struct cvs__share_ent *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int blas_in;    /* threads inside an embedding (deviation 1), under mu */
static int blas_saved; /* OpenBLAS's thread count before the first of them */

static void fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

/* The child has only the thread that forked: the holders of the section
 * are gone, so OpenBLAS gets its count back. */
static void fork_child(void)
{
    if (blas_in && blas_saved > 1)
        openblas_set_num_threads(blas_saved);
    blas_in = 0;
    pthread_mutex_unlock(&mu);
}

static void fork_watch(void)
{
    /* On failure (ENOMEM) a fork while mu is held leaves the child's copy
     * held, as it did before this handler: no worse. */
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Every taker of mu comes through here, so the handlers are in place
 * before mu is first held. */
static void lock(void)
{
    pthread_once(&fork_once, fork_watch);
    pthread_mutex_lock(&mu);
}

static void blas_enter(void)
{
    lock();
    if (blas_in++ == 0 && (blas_saved = openblas_get_num_threads()) > 1)
        openblas_set_num_threads(1);
    pthread_mutex_unlock(&mu);
}

static void blas_leave(void)
{
    lock();
    if (--blas_in == 0 && blas_saved > 1)
        openblas_set_num_threads(blas_saved);
    pthread_mutex_unlock(&mu);
}

/* Under mu. */
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
    lock();
    m = take_locked(s, key);
    pthread_mutex_unlock(&mu);
    return m;
}

void *cvs__share_add(cvs__shared *s, const unsigned char *key, void *model)
{
    struct cvs__share_ent *e = malloc(sizeof *e);
    void *had;
    lock();
    if (!(had = take_locked(s, key)) && e) {
        memcpy(e->key, key, sizeof e->key);
        e->model = model;
        e->refs = 1;
        e->next = s->head;
        s->head = e;
        e = NULL;
    }
    pthread_mutex_unlock(&mu);
    free(e);
    return had ? had : model;
}

int cvs__share_drop(cvs__shared *s, void *model)
{
    int last = 1;
    lock();
    for (struct cvs__share_ent **p = &s->head; *p; p = &(*p)->next)
        if ((*p)->model == model) {
            struct cvs__share_ent *e = *p;
            if ((last = --e->refs == 0)) {
                *p = e->next;
                free(e);
            }
            break;
        }
    pthread_mutex_unlock(&mu);
    return last;
}

/* ==== Attention ==== */

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

/* ==== Many texts ==== */

int cvs__embed_threads(void)
{
    const char *v = getenv("CVSTORE_EMBED_THREADS");
    char *end;
    long t;
    if (v && *v) {
        t = strtol(v, &end, 10);
        if (*end == '\0' && t >= 1 && t <= 256)
            return (int)t;
    }
    return cvs__ncpu();
}

/* Deviation 5: a group is filled with texts until it holds this many
 * pieces (past a few hundred rows an sgemm of the model's widths gains
 * little more a row: 85, 91 and 96 GFLOPS at 150, 300 and 600 rows on one
 * core of the machine that runs the tests), or GROUP_MAX texts. */
#define GROUP_ROWS 384
#define GROUP_MAX 64

/* Text i's ids into *ids, *k of them.  A text with no piece gets its zero
 * row and its mark in empty here, or, with empty NULL, its error, which
 * names it when the call has several. */
static int encode_one(const cvs__encoder *e, const char *const *texts, const size_t *lens,
                      size_t n, size_t i, float *out, unsigned char *empty, int32_t **ids,
                      size_t *k)
{
    int rc;
    *ids = NULL;
    *k = 0;
    if (empty)
        empty[i] = 0;
    if ((rc = e->encode(e->model, texts[i] ? texts[i] : "", texts[i] ? lens[i] : 0, ids, k)) ||
        *k)
        return rc;
    memset(out + i * e->dim, 0, e->dim * sizeof *out);
    if (empty)
        empty[i] = 1;
    else if (n > 1) /* a batch names the text; one text needs no name */
        rc = cvs__err(CVS_EINPUT, "text %zu has no characters to embed (it is empty or only "
                      "white space)", i);
    else
        rc = cvs__err(CVS_EINPUT, "the text has no characters to embed (it is empty or only "
                      "white space)");
    return rc;
}

/* One worker of a batch (deviations 2, 4 and 5): next and stop are shared
 * by all; fail, rc and msg are its own first failure. */
struct each_job {
    const cvs__encoder *e;
    const char *const *texts;
    const size_t *lens;
    size_t n, gmax;
    float *out;
    unsigned char *empty;
    size_t *next; /* the next text to take */
    size_t *stop; /* the lowest failing text so far, n for none */
    size_t fail;
    int rc;
    char msg[1024];
};

/* Text i failed with rc (the thread's message): kept for the caller's
 * thread when it is the worker's first, and no text after i is started. */
static void each_fail(struct each_job *j, size_t i, int rc)
{
    size_t s = __atomic_load_n(j->stop, __ATOMIC_RELAXED);
    if (i < j->fail) {
        j->fail = i;
        j->rc = rc;
        snprintf(j->msg, sizeof j->msg, "%s", cvs_errmsg(NULL));
    }
    while (i < s &&
           !__atomic_compare_exchange_n(j->stop, &s, i, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void *each_run(void *arg)
{
    struct each_job *j = arg;
    const cvs__encoder *e = j->e;
    int32_t *ids[GROUP_MAX];
    size_t k[GROUP_MAX], at[GROUP_MAX];
    float *rows[GROUP_MAX];
    int done = 0;
    while (!done) {
        size_t g = 0, pieces = 0;
        int rc = CVS_OK;
        /* Texts are taken in index order, so a group's first is its lowest. */
        while (g < j->gmax && pieces < GROUP_ROWS) {
            size_t i = __atomic_fetch_add(j->next, 1, __ATOMIC_RELAXED);
            if (i >= j->n || i > __atomic_load_n(j->stop, __ATOMIC_RELAXED)) {
                done = 1;
                break;
            }
            if ((rc = encode_one(e, j->texts, j->lens, j->n, i, j->out, j->empty, &ids[g],
                                 &k[g]))) {
                each_fail(j, i, rc);
                done = 1;
                break;
            }
            if (k[g]) {
                at[g] = i;
                rows[g] = j->out + i * e->dim;
                pieces += k[g++];
            }
        }
        if (g && e->forward_many) {
            if ((rc = e->forward_many(e->model, g, (const int32_t *const *)ids, k, rows)))
                each_fail(j, at[0], rc);
        } else {
            for (size_t t = 0; t < g && rc == CVS_OK; t++)
                if ((rc = e->forward(e->model, ids[t], k[t], rows[t])))
                    each_fail(j, at[t], rc);
        }
        for (size_t t = 0; t < g; t++)
            free(ids[t]);
        done |= rc != CVS_OK;
    }
    return NULL;
}

int cvs__embed_each(const cvs__encoder *e, const char *const *texts, const size_t *lens,
                    size_t n, float *out, unsigned char *empty)
{
    size_t nt = (size_t)cvs__embed_threads(), next = 0, stop = n, best = 0, gmax;
    struct each_job one, *jobs = NULL;
    int rc = CVS_OK;
    if (nt > n)
        nt = n;
    if (nt > 1 && !(jobs = calloc(nt, sizeof *jobs)))
        nt = 1; /* no memory: all on this thread */
    if (nt <= 1) {
        memset(&one, 0, sizeof one);
        jobs = &one;
        nt = 1;
    }
    /* Deviation 5: groups small enough that every worker has two or more. */
    gmax = n / (2 * nt);
    gmax = gmax < 1 ? 1 : gmax > GROUP_MAX ? GROUP_MAX : gmax;
    for (size_t t = 0; t < nt; t++)
        jobs[t] = (struct each_job){.e = e, .texts = texts, .lens = lens, .n = n, .gmax = gmax,
                                    .out = out, .empty = empty, .next = &next, .stop = &stop,
                                    .fail = n};
    blas_enter();
    cvs__run_jobs(jobs, sizeof *jobs, nt, each_run);
    blas_leave();
    for (size_t t = 1; t < nt; t++)
        if (jobs[t].fail < jobs[best].fail)
            best = t;
    if (jobs[best].fail < n)
        rc = cvs__err(jobs[best].rc, "%s", jobs[best].msg);
    if (jobs != &one)
        free(jobs);
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

/* ==== Testing ==== */

void cvs__share_test_hold(int hold)
{
    if (hold)
        lock();
    else
        pthread_mutex_unlock(&mu);
}
