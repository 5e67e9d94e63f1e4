/*
 * embed.c -- embedders attached to a store handle: the application's own
 * (a cvs_embed_fn callback), the built-in "glove" (SIF, query/embed_sif.c)
 * and the HTTP one (query/embed_http.c), behind one entry point,
 * cvs_embed_texts, and the built-in sentence encoders "use" (the Universal
 * Sentence Encoder lite, query/embed_use.c) and "minilm" (all-MiniLM-L6-v2,
 * query/embed_minilm.c).
 *
 * The store remembers which model made its vectors.  The first embedder
 * attached to a writable store is recorded in meta "embedder" (name, dim
 * and, for "glove", a BLAKE2b fingerprint of the vocabulary file, for "use"
 * and "minilm" one of the model); from then
 * on an embedder of another name or dim, or a GloVe cache with another
 * vocabulary, is refused with CVS_EINVAL.  Vectors from two models share no
 * geometry, so a mismatched query would return confident nonsense; refusing
 * it is the only safe answer.  The SIF common component is kept in meta
 * "sif" and read by every embedding.
 *
 * Choices:
 *   1. The library never downloads by itself.  A missing GloVe cache is
 *      CVS_NOTFOUND with a message naming the directory and the command that
 *      fetches it (scripts/fetch-glove.sh, which the CLI may run).  A
 *      library call that silently pulls 117 MB from a registry would
 *      surprise an embedding application (and fail in sandboxes); the tar
 *      and JSON conversion already exist in the script.
 *   2. Each handle loads its own copy of the word table (~10 MB with the
 *      hash table; the 138 MB of vectors are memory-mapped and shared by the
 *      page cache).  A process-wide cache would save the ~50 ms load for
 *      processes that open many stores; none does yet.
 *   3. The vocabulary is copied into the store only on request
 *      (cvs_db_copy_embedder_data, `cvstore init --copy-vocab`): 141 MB per
 *      store is too much to spend by default, and the fingerprint already
 *      makes a moved store refuse a different cache instead of misbehaving.
 *      A store with a copy uses the cache when the cache's fingerprint
 *      matches (mapped, shared between processes) and its own copy
 *      otherwise (read into memory: ~0.1 s and 141 MB per handle).
 *   4. Attaching (cvs_db_set_embedder) must not race with embedding calls
 *      on the same handle; embedding calls may run concurrently.  The
 *      implicit attach of cvs_embed_texts is guarded by a mutex.
 *   5. An HTTP embedder's URL is kept in meta "embed_url" (the latest one
 *      that worked), so that any handle, e.g. the CLI importing text-only
 *      records, attaches it by itself; the URL is a hint, not part of the
 *      model's identity ("http:MODEL" is), so a moved server is fixed by
 *      attaching it again with the new URL.  The API key is never stored:
 *      an implicit attach reads $CVSTORE_EMBED_API_KEY.
 *   6. The SIF common component is the vocabulary's (embed_sif.c, deviation
 *      4), installed in meta "sif" when the embedder is first attached to a
 *      writable handle (`cvstore init --embedder glove`; records already
 *      there were not embedded by it), or, for a store created before this
 *      existed, by its first writer while the store has no record (two
 *      processes writing such a store's very first records at once could
 *      still embed them differently; a store made now is never in that
 *      state).  It never changes afterwards, so an embedding depends on the
 *      text and the vocabulary only, never on the order, size or route
 *      (import, put, memory) of earlier writes, and an export imported into
 *      a new store meets the same component.  A store that already has
 *      records and no component keeps none (its vectors were embedded
 *      without removal); one fitted by an older version keeps its fitted
 *      component.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/embed.h"
#include "query/embed_minilm.h"
#include "query/text.h"
#include "store/db.h"
#include "store/seal.h"

#define EMB_REC_VERSION 1u
#define SIF_REC_VERSION 1u
#define SIF_REC_FIXED 16
/* meta "sif" has_pc: where the stored common component comes from. */
#define SIF_PC_NONE 0    /* none: embeddings skip the removal */
#define SIF_PC_FITTED 1  /* fitted on a store's first import (older stores) */
#define SIF_PC_VOCAB 2   /* fixed by the vocabulary (cvs__sif_vocab_pc) */

typedef struct cvs_embedder {
    char name[CVS_EMBEDDER_NAME_MAX + 1];
    uint32_t dim;
    cvs_embed_fn fn;       /* NULL for the built-in glove */
    void *ctx;
    cvs_sif *sif;          /* owned: "glove" */
    cvs_use *use;          /* owned: "use" */
    cvs_minilm *minilm;    /* owned: "minilm" */
    cvs_http_embedder *http; /* owned: cvs_db_set_embedder_http */
    const char *http_url;  /* its URL (owned by the caller during attach) */
    const float *first_pc; /* glove, during a first attach: the component */
    /* The store's SIF state, cached once fitted (it never changes then). */
    pthread_mutex_t mu;
    float a;
    float *pc;             /* dim floats once fitted, else NULL */
} cvs_embedder;

static void embedder_free(cvs_embedder *e)
{
    if (!e)
        return;
    cvs__sif_free(e->sif);
    cvs__use_free(e->use);
    cvs__minilm_free(e->minilm);
    cvs_http_embedder_free(e->http);
    pthread_mutex_destroy(&e->mu);
    free(e->pc);
    free(e);
}

/* The module's per-handle state: the embedder attached, under its own
 * lock. */
struct embed_state {
    pthread_mutex_t mu;
    int mu_ok;
    struct cvs_embedder *e;
};

static struct embed_state *embed_st(const cvs_db *db)
{
    return cvs__module_state(db, &cvs__embed_module);
}

int cvs__embedder_attached(cvs_db *db)
{
    struct embed_state *st = embed_st(db);
    int yes;
    pthread_mutex_lock(&st->mu);
    yes = st->e != NULL;
    pthread_mutex_unlock(&st->mu);
    return yes;
}

void cvs__embedder_drop(cvs_db *db)
{
    embedder_free(embed_st(db)->e);
    embed_st(db)->e = NULL;
}

/* ==== The GloVe cache ==== */

/* A built-in's cache directory: $env, else $CVSTORE_CACHE/sub, else
 * $XDG_CACHE_HOME/cvstore/sub, else $HOME/.cache/cvstore/sub. */
static int cache_dir(char *buf, size_t cap, const char *env, const char *sub, const char *what)
{
    const char *v;
    int n;
    if (!buf || !cap)
        return cvs__err(CVS_EINVAL, "%s cache directory: NULL argument", what);
    if ((v = getenv(env)) && *v)
        n = snprintf(buf, cap, "%s", v);
    else if ((v = getenv("CVSTORE_CACHE")) && *v)
        n = snprintf(buf, cap, "%s/%s", v, sub);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v)
        n = snprintf(buf, cap, "%s/cvstore/%s", v, sub);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(buf, cap, "%s/.cache/cvstore/%s", v, sub);
    else
        return cvs__err(CVS_NOTFOUND, "no %s cache directory: set %s (or HOME)", what, env);
    if (n < 0 || (size_t)n >= cap)
        return cvs__err(CVS_EINVAL, "%s cache path longer than %zu bytes", what, cap);
    return CVS_OK;
}

CVS_API int cvs_glove_dir(char *buf, size_t cap)
{
    return cache_dir(buf, cap, "CVSTORE_GLOVE_DIR", "glove", "GloVe");
}

CVS_API int cvs_use_dir(char *buf, size_t cap)
{
    return cache_dir(buf, cap, "CVSTORE_USE_DIR", "use", "USE model");
}

CVS_API int cvs_minilm_dir(char *buf, size_t cap)
{
    return cache_dir(buf, cap, "CVSTORE_MINILM_DIR", "minilm", "MiniLM model");
}

/* Whether name is one of the built-in embedders embedder_new makes. */
static int builtin(const char *name)
{
    return !strcmp(name, "glove") || !strcmp(name, "use") || !strcmp(name, "minilm");
}

#ifndef CVS_DATADIR
#define CVS_DATADIR "/usr/local/share/cvstore"
#endif

/* Whether dir/rel/script is readable; its path into buf then, without the
 * "..": the user copies it into a shell. */
static int fetcher_at(const char *dir, const char *rel, const char *script, char *buf,
                      size_t cap)
{
    char real[PATH_MAX];
    int n = snprintf(buf, cap, "%s/%s/%s", dir, rel, script);
    if (n <= 0 || (size_t)n >= cap || access(buf, R_OK) != 0)
        return 0;
    if (realpath(buf, real) && strlen(real) < cap)
        memcpy(buf, real, strlen(real) + 1);
    return 1;
}

/* Choice 1's remedy has to name a script the user has: `cmake --install`
 * puts the fetchers in PREFIX/share/cvstore, a checkout has them in
 * scripts/, and a message naming "scripts/fetch-use.sh" sends an installed
 * user looking for a file that is not there.  So, in order: beside the
 * library that runs (found by dladdr: PREFIX/lib/.. or PREFIX/lib/ARCH/../..
 * for an install, moved or not; BUILD/.. for a build tree in a checkout,
 * the case of Python over build/libcvstore.so), beside the program (a
 * static link), the configured prefix, else the checkout-relative name,
 * which the caller says is one. */
const char *cvs__fetcher(const char *script, char *buf, size_t cap)
{
    static const char *const rel[] = {"../share/cvstore", "../../share/cvstore", "../scripts"};
    char dir[2][4096];
    size_t nd = 0;
    Dl_info info;
    ssize_t n;
    char *slash;
    if (dladdr((void *)cvs__fetcher, &info) && info.dli_fname && info.dli_fname[0] == '/' &&
        snprintf(dir[nd], sizeof dir[nd], "%s", info.dli_fname) < (int)sizeof dir[nd] &&
        (slash = strrchr(dir[nd], '/')))
        *slash = '\0', nd++;
    if ((n = readlink("/proc/self/exe", dir[nd], sizeof dir[nd] - 1)) > 0) {
        dir[nd][n] = '\0';
        if ((slash = strrchr(dir[nd], '/')))
            *slash = '\0', nd++;
    }
    for (size_t d = 0; d < nd; d++)
        for (size_t r = 0; r < sizeof rel / sizeof *rel; r++)
            if (fetcher_at(dir[d], rel[r], script, buf, cap))
                return buf;
    if (fetcher_at(CVS_DATADIR, ".", script, buf, cap))
        return buf;
    snprintf(buf, cap, "scripts/%s", script);
    return buf;
}

/* ==== meta "embedder" and meta "sif" ==== */

typedef struct emb_rec {
    int present;
    uint32_t dim;
    char name[CVS_EMBEDDER_NAME_MAX + 1];
    int has_fp;
    unsigned char fp[CVS_FINGERPRINT_BYTES];
} emb_rec;

static int emb_rec_get(cvs_db *db, MDB_txn *txn, emb_rec *r)
{
    MDB_val k = CVS__MKEY(CVS__META_EMBEDDER), v;
    const unsigned char *p;
    size_t nl, fl;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    memset(r, 0, sizeof *r);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta embedder");
    p = v.mv_data;
    if (v.mv_size < 12 || cvs__get_u32(p) != EMB_REC_VERSION)
        return cvs__err(CVS_ECORRUPT, "meta embedder: bad size or version");
    r->dim = cvs__get_u32(p + 4);
    nl = cvs__get_u16(p + 8);
    if (nl == 0 || nl > CVS_EMBEDDER_NAME_MAX || v.mv_size < 12 + nl)
        return cvs__err(CVS_ECORRUPT, "meta embedder: bad name length %zu", nl);
    memcpy(r->name, p + 10, nl);
    r->name[nl] = '\0';
    fl = cvs__get_u16(p + 10 + nl);
    if ((fl != 0 && fl != CVS_FINGERPRINT_BYTES) || v.mv_size != 12 + nl + fl)
        return cvs__err(CVS_ECORRUPT, "meta embedder: bad fingerprint length %zu", fl);
    r->has_fp = fl != 0;
    memcpy(r->fp, p + 12 + nl, fl);
    r->present = 1;
    return CVS_OK;
}

/* The fingerprint of a built-in's data files, or NULL. */
static const unsigned char *emb_fp(const cvs_embedder *e)
{
    return e->sif      ? cvs__sif_fingerprint(e->sif)
           : e->use    ? cvs__use_fingerprint(e->use)
           : e->minilm ? cvs__minilm_fingerprint(e->minilm)
                       : NULL;
}

static int emb_rec_put(cvs_db *db, MDB_txn *txn, const cvs_embedder *e)
{
    size_t nl = strlen(e->name), fl = emb_fp(e) ? CVS_FINGERPRINT_BYTES : 0;
    unsigned char buf[12 + CVS_EMBEDDER_NAME_MAX + CVS_FINGERPRINT_BYTES];
    MDB_val k = CVS__MKEY(CVS__META_EMBEDDER), v = {12 + nl + fl, buf};
    int mrc;
    cvs__put_u32(buf, EMB_REC_VERSION);
    cvs__put_u32(buf + 4, e->dim);
    cvs__put_u16(buf + 8, (uint16_t)nl);
    memcpy(buf + 10, e->name, nl);
    cvs__put_u16(buf + 10 + nl, (uint16_t)fl);
    if (fl)
        memcpy(buf + 12 + nl, emb_fp(e), fl);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta embedder");
    return CVS_OK;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* CVS_EINVAL when e is not the embedder the store recorded. */
static int emb_rec_match(const cvs_db *db, const emb_rec *r, const cvs_embedder *e)
{
    if (strcmp(r->name, e->name) != 0 || r->dim != e->dim)
        return cvs__err(CVS_EINVAL, "%s: the store's vectors come from embedder '%s' (dim %u); "
                        "refusing embedder '%s' (dim %u): its vectors would not be comparable",
                        db->path, r->name, r->dim, e->name, e->dim);
    if (r->has_fp && emb_fp(e) && memcmp(r->fp, emb_fp(e), CVS_FINGERPRINT_BYTES) != 0) {
        char a[2 * CVS_FINGERPRINT_BYTES + 1], b[2 * CVS_FINGERPRINT_BYTES + 1], buf[4200];
        const char *what = e->sif ? "GloVe vocabulary" : e->use ? "USE model" : "MiniLM model",
                   *env = e->sif   ? "CVSTORE_GLOVE_DIR"
                          : e->use ? "CVSTORE_USE_DIR"
                                   : "CVSTORE_MINILM_DIR",
                   *script = e->sif ? "fetch-glove.sh" : e->use ? "fetch-use.sh"
                                                                : "fetch-minilm.sh";
        hex(r->fp, 8, a);
        hex(emb_fp(e), 8, b);
        return cvs__err(CVS_EINVAL, "%s: the store was embedded with a %s of fingerprint "
                        "%s..., but the cache has %s...: point %s at the files the store was "
                        "built with (a damaged cache: remove its files and fetch it again with "
                        "`bash %s`)", db->path, what, a, b, env,
                        cvs__fetcher(script, buf, sizeof buf));
    }
    return CVS_OK;
}

/* meta "sif": u32 version, u32 dim, f32 a, u32 has_pc, [f32 pc[dim]].
 * *has_pc is the SIF_PC_* kind (SIF_PC_NONE when there is no record). */
static int sif_rec_get(cvs_db *db, MDB_txn *txn, float *a, float *pc, int *has_pc)
{
    MDB_val k = CVS__MKEY(CVS__META_SIF), v;
    const unsigned char *p;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *a = CVS_SIF_A;
    *has_pc = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta sif");
    p = v.mv_data;
    if (v.mv_size < SIF_REC_FIXED || cvs__get_u32(p) != SIF_REC_VERSION ||
        cvs__get_u32(p + 4) != db->dim)
        return cvs__err(CVS_ECORRUPT, "meta sif: bad size, version or dimension");
    memcpy(a, p + 8, 4);
    *has_pc = (int)cvs__get_u32(p + 12);
    if (*has_pc != SIF_PC_NONE && *has_pc != SIF_PC_FITTED && *has_pc != SIF_PC_VOCAB)
        return cvs__err(CVS_ECORRUPT, "meta sif: unknown component kind %d", *has_pc);
    if (!(*a > 0) || !isfinite(*a) ||
        v.mv_size != SIF_REC_FIXED + (*has_pc ? 4 * (size_t)db->dim : 0))
        return cvs__err(CVS_ECORRUPT, "meta sif: bad a or size");
    if (*has_pc && pc)
        memcpy(pc, p + SIF_REC_FIXED, 4 * (size_t)db->dim);
    return CVS_OK;
}

static int sif_rec_put(cvs_db *db, MDB_txn *txn, float a, const float *pc, int kind)
{
    MDB_val k = CVS__MKEY(CVS__META_SIF), v;
    int mrc;
    v.mv_size = SIF_REC_FIXED + (pc ? 4 * (size_t)db->dim : 0);
    if ((mrc = cvs__vreserve(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta sif");
    cvs__put_u32(v.mv_data, SIF_REC_VERSION);
    cvs__put_u32((unsigned char *)v.mv_data + 4, db->dim);
    memcpy((unsigned char *)v.mv_data + 8, &a, 4);
    cvs__put_u32((unsigned char *)v.mv_data + 12, pc ? (uint32_t)kind : SIF_PC_NONE);
    if (pc)
        memcpy((unsigned char *)v.mv_data + SIF_REC_FIXED, pc, 4 * (size_t)db->dim);
    if ((mrc = cvs__vreserve_done(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta sif");
    return CVS_OK;
}

/* ==== The vocabulary kept in the store ==== */

static const MDB_val copy_words_key = CVS__MKEY(CVS__META_GLOVE_WORDS),
                     copy_vecs_key = CVS__MKEY(CVS__META_GLOVE_VECS);

/* Loads the store's copy of the GloVe files; *present 0 when it has none. */
static int load_store_copy(cvs_db *db, cvs_sif **out, int *present)
{
    MDB_txn *txn;
    MDB_val kw = copy_words_key, kv = copy_vecs_key, w, v;
    int rc = CVS_OK, m1, m2;
    *out = NULL;
    *present = 0;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    m1 = cvs__vget(db, txn, db->dbi_meta, &kw, &w);
    m2 = cvs__vget(db, txn, db->dbi_meta, &kv, &v);
    if (m1 == 0 && m2 == 0) {
        *present = 1;
        rc = cvs__sif_load_mem(w.mv_data, w.mv_size, v.mv_data, v.mv_size, out);
    } else if ((m1 && m1 != MDB_NOTFOUND) || (m2 && m2 != MDB_NOTFOUND)) {
        rc = cvs__err_lmdb(m1 ? m1 : m2, "reading the store's copy of the vocabulary");
    }
    cvs__read_end(db, txn);
    return rc;
}

/* The GloVe vectors for this store: the cache when it is there and matches
 * the store's fingerprint, else the store's own copy when it has one, else
 * the cache's error (or the cache, which the caller then refuses). */
static int load_glove(cvs_db *db, cvs_sif **out)
{
    char dir[4096];
    MDB_txn *txn;
    emb_rec r;
    cvs_sif *cache = NULL, *copy = NULL;
    int rc, crc, present;

    *out = NULL;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = emb_rec_get(db, txn, &r);
    cvs__read_end(db, txn);
    if (rc)
        return rc;
    crc = cvs_glove_dir(dir, sizeof dir);
    if (crc == CVS_OK)
        crc = cvs__sif_load(dir, &cache);
    if (crc == CVS_OK && (!r.present || !r.has_fp ||
                          memcmp(r.fp, cvs__sif_fingerprint(cache), CVS_FINGERPRINT_BYTES) == 0)) {
        *out = cache;
        return CVS_OK;
    }
    if (crc != CVS_OK && crc != CVS_NOTFOUND)
        return crc;
    if ((rc = load_store_copy(db, &copy, &present))) {
        cvs__sif_free(cache);
        return rc;
    }
    if (present) {
        cvs__sif_free(cache);
        *out = copy;
        return CVS_OK;
    }
    if (!cache) /* the cache's message (how to fetch it) is still the thread's */
        return crc;
    *out = cache; /* a mismatching cache: the caller refuses it with a clear message */
    return CVS_OK;
}

typedef struct copy_arg {
    const unsigned char *words, *vecs;
    size_t wlen, vlen;
} copy_arg;

static int copy_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    copy_arg *a = arg;
    MDB_val kw = copy_words_key, kv = copy_vecs_key;
    MDB_val w = {a->wlen, (void *)a->words}, v = {a->vlen, (void *)a->vecs};
    int mrc;
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &kw, &w, 0)) ||
        (mrc = cvs__vput(db, txn, db->dbi_meta, &kv, &v, 0)))
        return cvs__werr(mrc, "writing the store's copy of the vocabulary");
    return CVS_OK;
}

static int read_file(const char *dir, const char *name, unsigned char **buf, size_t *len)
{
    char path[4200];
    FILE *f;
    long n;
    int rc = CVS_OK;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *buf = NULL;
    if (!(f = fopen(path, "rb")))
        return cvs__err(CVS_NOTFOUND, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = cvs__err(CVS_EIO, "%s: cannot size it", path);
        goto out;
    }
    if (!(*buf = malloc((size_t)n))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %s", path);
        goto out;
    }
    if (fread(*buf, 1, (size_t)n, f) != (size_t)n) {
        rc = cvs__err(CVS_EIO, "%s: short read", path);
        goto out;
    }
    *len = (size_t)n;
out:
    fclose(f);
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

CVS_API int cvs_db_copy_embedder_data(cvs_db *db)
{
    char dir[4096];
    copy_arg a = {0};
    unsigned char *w = NULL, *v = NULL, fp[CVS_FINGERPRINT_BYTES];
    cvs_embedder_info info;
    int rc;

    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_db_copy_embedder_data: NULL argument");
    if ((rc = cvs_db_embedder_info(db, &info)))
        return rc;
    if (strcmp(info.name, "glove") != 0)
        return CVS_OK; /* nothing to copy: the model lives elsewhere */
    if (info.data_in_store)
        return CVS_OK;
    if ((rc = cvs_glove_dir(dir, sizeof dir)) ||
        (rc = read_file(dir, CVS_GLOVE_WORDS, &w, &a.wlen)) ||
        (rc = read_file(dir, CVS_GLOVE_FVECS, &v, &a.vlen)))
        goto out;
    crypto_generichash(fp, sizeof fp, w, a.wlen, NULL, 0);
    if (memcmp(fp, info.fingerprint, sizeof fp) != 0) {
        rc = cvs__err(CVS_EINVAL, "%s: the GloVe cache in %s is not the vocabulary the store "
                      "was built with (fingerprints differ); nothing copied", db->path, dir);
        goto out;
    }
    a.words = w;
    a.vecs = v;
    rc = cvs__write(db, copy_fn, &a);
out:
    free(w);
    free(v);
    return rc;
}

/* ==== Attaching ==== */

/* Checks e against the store and records it when the store has none yet. */
static int record_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    const cvs_embedder *e = arg;
    emb_rec r;
    float a;
    int has_pc, rc, mrc;
    if ((rc = emb_rec_get(db, txn, &r)))
        return rc;
    if (r.present && (rc = emb_rec_match(db, &r, e)))
        return rc;
    if (e->http) {
        /* Where the server was last seen, for handles that attach by
         * themselves (choice 5); updated by every successful attach. */
        MDB_val k = CVS__MKEY(CVS__META_EMBED_URL), v = {strlen(e->http_url), (void *)e->http_url};
        if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
            return cvs__werr(mrc, "writing meta embed_url");
    }
    if (r.present)
        return CVS_OK;
    if ((rc = emb_rec_put(db, txn, e)))
        return rc;
    /* The vocabulary's component: no record was embedded by this embedder
     * yet, whatever the store holds (choice 6). */
    if (e->sif && (rc = sif_rec_get(db, txn, &a, NULL, &has_pc)) == CVS_OK &&
        has_pc == SIF_PC_NONE)
        rc = sif_rec_put(db, txn, CVS_SIF_A, e->first_pc, SIF_PC_VOCAB);
    return rc;
}

/* ==== The SIF common component ==== */

/* Whether the store has no record yet. */
static int store_empty(cvs_db *db, MDB_txn *txn, int *empty)
{
    MDB_stat st;
    int mrc = mdb_stat(txn, db->dbi_recs, &st);
    if (mrc)
        return cvs__err_lmdb(mrc, "counting records");
    *empty = st.ms_entries == 0;
    return CVS_OK;
}

/* Whether the vocabulary's component should be installed: the store has
 * none and no record yet (an older store that embedded records without one
 * keeps embedding that way, or its vectors and queries would disagree). */
static int component_wanted(cvs_db *db, MDB_txn *txn, int *want)
{
    float a;
    int rc, kind, empty = 0;
    *want = 0;
    if ((rc = sif_rec_get(db, txn, &a, NULL, &kind)) || kind != SIF_PC_NONE)
        return rc;
    if ((rc = store_empty(db, txn, &empty)))
        return rc;
    *want = empty;
    return CVS_OK;
}

static int install_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    int want, rc;
    if ((rc = component_wanted(db, txn, &want)) || !want)
        return rc; /* another writer installed it, or wrote a record first */
    return sif_rec_put(db, txn, CVS_SIF_A, arg, SIF_PC_VOCAB);
}

/* Installs the vocabulary's common component in a writable store that
 * wants it (component_wanted).  The component depends on the vocabulary
 * alone, so two writers racing here write the same vector. */
static int ensure_component(cvs_db *db, cvs_embedder *e)
{
    MDB_txn *txn;
    float *pc;
    int rc, want;
    if (!e->sif || (db->flags & CVS_OPEN_RDONLY))
        return CVS_OK;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = component_wanted(db, txn, &want);
    cvs__read_end(db, txn);
    if (rc || !want)
        return rc;
    if (!(pc = malloc(e->dim * sizeof *pc)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = cvs__sif_vocab_pc(e->sif, CVS_SIF_A, pc)) == CVS_OK)
        rc = cvs__write(db, install_fn, pc);
    free(pc);
    return rc;
}

static int check_fn_ro(cvs_db *db, const cvs_embedder *e)
{
    MDB_txn *txn;
    emb_rec r;
    int rc;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((rc = emb_rec_get(db, txn, &r)) == CVS_OK && r.present)
        rc = emb_rec_match(db, &r, e);
    cvs__read_end(db, txn);
    return rc;
}

static int embedder_new(cvs_db *db, const char *name, uint32_t dim, cvs_embed_fn fn, void *ctx,
                        cvs_embedder **out)
{
    cvs_embedder *e;
    size_t nl;
    int rc;
    *out = NULL;
    if (!name || !(nl = strlen(name)) || nl > CVS_EMBEDDER_NAME_MAX || !cvs__utf8_valid(name, nl))
        return cvs__err(CVS_EINVAL, "embedder name must be UTF-8 of 1..%d bytes",
                        CVS_EMBEDDER_NAME_MAX);
    if (!fn && !builtin(name))
        return cvs__err(CVS_EINVAL, "no built-in embedder '%s' (the built-ins are glove, use and "
                        "minilm; an HTTP embedding service is given by its URL: cvstore "
                        "init DB --embedder http --embed-url URL --embed-model NAME)", name);
    if (fn && dim == 0)
        return cvs__err(CVS_EINVAL, "embedder '%s': dim 0", name);
    if (!(e = calloc(1, sizeof *e)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (pthread_mutex_init(&e->mu, NULL)) {
        free(e);
        return cvs__err(CVS_ENOMEM, "cannot create a mutex");
    }
    memcpy(e->name, name, nl + 1);
    e->fn = fn;
    e->ctx = ctx;
    e->dim = dim;
    e->a = CVS_SIF_A;
    if (!fn && strcmp(name, "use") == 0) {
        char dir[4096];
        if ((rc = cvs_use_dir(dir, sizeof dir)) || (rc = cvs__use_load(dir, &e->use)))
            goto fail;
        e->dim = CVS_USE_DIM;
    } else if (!fn && strcmp(name, "minilm") == 0) {
        char dir[4096];
        if ((rc = cvs_minilm_dir(dir, sizeof dir)) || (rc = cvs__minilm_load(dir, &e->minilm)))
            goto fail;
        e->dim = CVS_MINILM_DIM;
    } else if (!fn) {
        if ((rc = load_glove(db, &e->sif)))
            goto fail;
        e->dim = cvs__sif_dim(e->sif);
    }
    /* A built-in's dimension is its model's; a caller's dim, if given,
     * must agree with it. */
    if (!fn && dim && dim != e->dim) {
        rc = cvs__err(CVS_EDIM, "embedder %s gives %u-dimensional vectors, not %u", e->name,
                      e->dim, dim);
        goto fail;
    }
    if (e->dim != db->dim) {
        rc = cvs__err(CVS_EDIM, "%s: embedder '%s' gives %u-dimensional vectors; the store holds "
                      "%u (create the store with dim %u)", db->path, e->name, e->dim, db->dim, e->dim);
        goto fail;
    }
    *out = e;
    return CVS_OK;
fail:
    embedder_free(e);
    return rc;
}

/* Checks (and records) e, then makes it the handle's embedder. */
static int attach(cvs_db *db, cvs_embedder *e)
{
    float *pc = NULL;
    int rc = CVS_OK;
    if (e->sif && !(db->flags & CVS_OPEN_RDONLY)) {
        /* A first attach brings the component along (computed outside the
         * write transaction: it takes a pass over the vocabulary). */
        MDB_txn *txn;
        emb_rec r;
        if ((rc = cvs__read_begin(db, &txn)) == CVS_OK) {
            rc = emb_rec_get(db, txn, &r);
            cvs__read_end(db, txn);
        }
        if (rc == CVS_OK && !r.present) {
            if (!(pc = malloc(e->dim * sizeof *pc)))
                rc = cvs__err(CVS_ENOMEM, "out of memory");
            else
                rc = cvs__sif_vocab_pc(e->sif, CVS_SIF_A, pc);
        }
        e->first_pc = pc;
    }
    if (rc == CVS_OK)
        rc = (db->flags & CVS_OPEN_RDONLY) ? check_fn_ro(db, e) : cvs__write(db, record_fn, e);
    e->first_pc = NULL;
    free(pc);
    if (rc == CVS_OK)
        rc = ensure_component(db, e);
    if (rc) {
        embedder_free(e);
        return rc;
    }
    pthread_mutex_lock(&embed_st(db)->mu);
    embedder_free(embed_st(db)->e);
    embed_st(db)->e = e;
    pthread_mutex_unlock(&embed_st(db)->mu);
    return CVS_OK;
}

CVS_API int cvs_db_set_embedder(cvs_db *db, const char *name, uint32_t dim, cvs_embed_fn fn,
                                void *ctx)
{
    cvs_embedder *e;
    int rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_db_set_embedder: NULL argument");
    /* Before loading a model the child of a fork could not use (current). */
    if ((rc = cvs__db_usable(db)) || (rc = embedder_new(db, name, dim, fn, ctx, &e)))
        return rc;
    return attach(db, e);
}

CVS_API int cvs_db_set_embedder_http(cvs_db *db, const char *url, const char *model,
                                     const char *api_key)
{
    cvs_http_embedder *h = NULL;
    cvs_embedder *e;
    char name[CVS_EMBEDDER_NAME_MAX + 1];
    int rc;
    if (!db || !url || !model)
        return cvs__err(CVS_EINVAL, "cvs_db_set_embedder_http: NULL argument");
    if (snprintf(name, sizeof name, "http:%s", model) >= (int)sizeof name)
        return cvs__err(CVS_EINVAL, "model name too long");
    if ((rc = cvs__db_usable(db)) || (rc = cvs_http_embedder_new(url, model, api_key, 0, &h)))
        return rc;
    if ((rc = embedder_new(db, name, cvs_http_embedder_dim(h), cvs_http_embed, h, &e))) {
        cvs_http_embedder_free(h);
        return rc;
    }
    e->http = h;
    e->http_url = url;
    rc = attach(db, e);
    if (rc == CVS_OK)
        embed_st(db)->e->http_url = NULL; /* url is the caller's; only attach used it */
    return rc;
}

static int current(cvs_db *db, cvs_embedder **out);

/* The pieces a built-in encoder (use, minilm) reads text as, into *n,
 * reading no further than max pieces where its tokenizer can stop early
 * (WordPiece; SentencePiece's Viterbi pass needs the whole text).
 * CVS_NOTFOUND for glove, an application's or a server's embedder, whose
 * pieces are not known. */
static int encoder_pieces(const cvs_embedder *e, const char *text, size_t len, size_t max,
                          size_t *n)
{
    int32_t *ids = NULL;
    int rc;
    *n = 0;
    if (e->use)
        rc = cvs__spm_encode(cvs__use_tokenizer(e->use), text, len, &ids, n);
    else if (e->minilm)
        rc = cvs__wordpiece_encode(cvs__minilm_tokenizer(e->minilm), text, len, max, &ids, n);
    else
        rc = CVS_NOTFOUND;
    free(ids);
    return rc;
}

/* The number of pieces the attached built-in encoder reads text as, into
 * *n (rule 18 of query/memory.c: a name the encoder holds as one piece is
 * one it weighs in its cosine).  CVS_NOTFOUND for glove, an application's
 * or a server's embedder, whose pieces are not known. */
int cvs__embedder_pieces(cvs_db *db, const char *text, size_t len, size_t *n)
{
    cvs_embedder *e;
    int rc;
    *n = 0;
    if ((rc = current(db, &e)))
        return rc;
    return encoder_pieces(e, text, len, SIZE_MAX, n);
}

/* What kind of model the handle's embedder is (text.h, cvs__embedder_kind):
 * from the embedder attached, else from the store's record, so that a store
 * queried with a vector and no embedder attached (or none recorded:
 * CVS__EMB_UNKNOWN) needs no model loaded to say it. */
int cvs__embedder_kind(cvs_db *db, int *kind)
{
    cvs_embedder *e;
    MDB_txn *txn;
    emb_rec r;
    int rc;
    *kind = CVS__EMB_UNKNOWN;
    if ((rc = cvs__db_usable(db))) /* the lock may be a parent's thread's (current) */
        return rc;
    pthread_mutex_lock(&embed_st(db)->mu);
    e = embed_st(db)->e;
    if (e)
        /* A sentence encoder trained for question-answer retrieval ("use",
         * Cer et al. 2018; "minilm", Reimers & Gurevych 2019), not an
         * average of word vectors: its vector ranking leads memory recall
         * and joins single-hop context questions. */
        *kind = e->use || e->minilm ? CVS__EMB_TRAINED : e->sif ? CVS__EMB_SIF : CVS__EMB_UNKNOWN;
    pthread_mutex_unlock(&embed_st(db)->mu);
    if (e)
        return CVS_OK;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    /* The record names a built-in; "use" and "minilm" are the ones
     * embedder_new loads as trained encoders.  A built-in's record holds
     * its model's fingerprint; an application's function that calls
     * itself "use", "minilm" or "glove" leaves none, and is not the
     * built-in (as embedder_new does not load it). */
    if ((rc = emb_rec_get(db, txn, &r)) == CVS_OK && r.present && r.has_fp)
        *kind = strcmp(r.name, "use") == 0 || strcmp(r.name, "minilm") == 0 ? CVS__EMB_TRAINED
                : strcmp(r.name, "glove") == 0                              ? CVS__EMB_SIF
                                                                             : CVS__EMB_UNKNOWN;
    cvs__read_end(db, txn);
    return rc;
}

int cvs__embedder_trained(cvs_db *db, int *yes)
{
    int kind, rc = cvs__embedder_kind(db, &kind);
    *yes = kind == CVS__EMB_TRAINED;
    return rc;
}

CVS_API int cvs_db_embedder_info(cvs_db *db, cvs_embedder_info *info)
{
    MDB_txn *txn;
    emb_rec r;
    float a;
    int rc, has_pc = 0;
    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_db_embedder_info: NULL argument");
    memset(info, 0, sizeof *info);
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((rc = emb_rec_get(db, txn, &r)) || (rc = sif_rec_get(db, txn, &a, NULL, &has_pc)))
        goto out;
    if (!r.present) {
        rc = cvs__err(CVS_NOTFOUND, "%s: the store records no embedder", db->path);
        goto out;
    }
    memcpy(info->name, r.name, sizeof info->name);
    info->dim = r.dim;
    info->has_fingerprint = r.has_fp;
    memcpy(info->fingerprint, r.fp, sizeof r.fp);
    info->fitted = has_pc;
    {
        MDB_val kw = copy_words_key, w;
        info->data_in_store = cvs__vget(db, txn, db->dbi_meta, &kw, &w) == 0;
    }
out:
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Embedding ==== */

/* A store recording "http:MODEL" and the server's URL: attach an HTTP
 * embedder to it (API key from $CVSTORE_EMBED_API_KEY), without asking the
 * server anything until the first text. */
static int attach_http_recorded(cvs_db *db, const emb_rec *r, cvs_embedder **out)
{
    MDB_txn *txn;
    MDB_val k = CVS__MKEY(CVS__META_EMBED_URL), v;
    char *url = NULL;
    cvs_http_embedder *h = NULL;
    cvs_embedder *e = NULL;
    int rc, mrc;

    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc == 0 && (url = malloc(v.mv_size + 1))) {
        memcpy(url, v.mv_data, v.mv_size);
        url[v.mv_size] = '\0';
    }
    cvs__read_end(db, txn);
    if (mrc == MDB_NOTFOUND)
        return cvs__err(CVS_EINVAL, "%s: the store was embedded with '%s' but records no URL of "
                        "its embedding service, so text cannot be embedded here: attach the "
                        "service by its URL, or give vectors instead of text", db->path,
                        r->name);
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta embed_url");
    if (!url)
        return cvs__err(CVS_ENOMEM, "out of memory");
    pthread_mutex_lock(&embed_st(db)->mu);
    if (!embed_st(db)->e) {
        if ((rc = cvs_http_embedder_new(url, r->name + 5, getenv("CVSTORE_EMBED_API_KEY"), r->dim,
                                        &h)) == CVS_OK &&
            (rc = embedder_new(db, r->name, r->dim, cvs_http_embed, h, &e)) == CVS_OK) {
            e->http = h;
            h = NULL;
            embed_st(db)->e = e;
        }
        cvs_http_embedder_free(h);
    }
    *out = embed_st(db)->e;
    pthread_mutex_unlock(&embed_st(db)->mu);
    free(url);
    return rc;
}

/* The handle's embedder, attaching the built-in glove (or the recorded HTTP
 * server) when the store records it and none is attached. */
static int current(cvs_db *db, cvs_embedder **out)
{
    MDB_txn *txn;
    emb_rec r;
    cvs_embedder *e;
    int rc;
    /* In a child of fork() the lock below may be held for good: a thread
     * of the parent attaching a model at the fork (seconds of loading) is
     * not in the child to release it (store/db.c, deviation 5). */
    if ((rc = cvs__db_usable(db)))
        return rc;
    pthread_mutex_lock(&embed_st(db)->mu);
    e = embed_st(db)->e;
    pthread_mutex_unlock(&embed_st(db)->mu);
    if (e) {
        *out = e;
        return CVS_OK;
    }
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = emb_rec_get(db, txn, &r);
    cvs__read_end(db, txn);
    if (rc)
        return rc;
    if (!r.present)
        return cvs__err(CVS_EINVAL, "%s: the store has no embedder, so text cannot be turned "
                        "into vectors: give each record a \"vector\", or use a text store "
                        "(cvstore init DB --embedder glove)", db->path);
    if (strncmp(r.name, "http:", 5) == 0)
        return attach_http_recorded(db, &r, out);
    if (!builtin(r.name))
        return cvs__err(CVS_EINVAL, "%s: the store was embedded with '%s', an application's own "
                        "model, which is not attached here, so text cannot be embedded: "
                        "attach that model to the handle (in Python, cvstore.open(path, "
                        "embedder=fn, embedder_name=\"%s\")), or "
                        "give vectors instead of text (cvstore: --query-vector or "
                        "--query-file, records with a \"vector\")", db->path, r.name, r.name);
    /* Serialize the implicit attach so that two threads load the model
     * once. */
    pthread_mutex_lock(&embed_st(db)->mu);
    if (!embed_st(db)->e) {
        if ((rc = embedder_new(db, r.name, 0, NULL, NULL, &e)) == CVS_OK) {
            if ((rc = check_fn_ro(db, e)))
                embedder_free(e);
            else
                embed_st(db)->e = e;
        }
    }
    *out = embed_st(db)->e;
    pthread_mutex_unlock(&embed_st(db)->mu);
    return rc;
}

/* The store's common component for e, cached once it exists. */
static int sif_state(cvs_db *db, cvs_embedder *e, float *a, const float **pc)
{
    MDB_txn *txn;
    float *buf = NULL;
    int rc, has_pc;
    pthread_mutex_lock(&e->mu);
    if (e->pc) {
        *a = e->a;
        *pc = e->pc;
        pthread_mutex_unlock(&e->mu);
        return CVS_OK;
    }
    if (!(buf = malloc(e->dim * sizeof *buf))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    /* A store created before the vocabulary's component existed gets it
     * from its first writer, while it has no record.  When that write fails
     * (a full disk) the embedding goes on without it: the state changes only
     * while no record exists, so nothing embedded meanwhile can disagree. */
    (void)ensure_component(db, e);
    if ((rc = cvs__read_begin(db, &txn)))
        goto out;
    rc = sif_rec_get(db, txn, &e->a, buf, &has_pc);
    cvs__read_end(db, txn);
    if (rc)
        goto out;
    *a = e->a;
    *pc = NULL;
    if (has_pc) {
        e->pc = buf;
        buf = NULL;
        *pc = e->pc;
    }
out:
    pthread_mutex_unlock(&e->mu);
    free(buf);
    return rc;
}

CVS_API int cvs_embed_texts(cvs_db *db, const char *const *texts, const size_t *lens, size_t n,
                            float *out)
{
    cvs_embedder *e;
    int rc;
    if (!db || (n && (!texts || !lens || !out)))
        return cvs__err(CVS_EINVAL, "cvs_embed_texts: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!texts[i] && lens[i])
            return cvs__err(CVS_EINVAL, "cvs_embed_texts: text %zu is NULL", i);
    if (n == 0)
        return CVS_OK;
    if ((rc = current(db, &e)))
        return rc;
    if (e->sif) {
        float a;
        const float *pc;
        if ((rc = sif_state(db, e, &a, &pc)) ||
            (rc = cvs__sif_embed(e->sif, a, texts, lens, n, out, NULL)))
            return rc;
        if (pc)
            cvs__sif_remove_pc(out, n, e->dim, pc);
        return CVS_OK;
    }
    if (e->use)
        return cvs__use_embed(e->use, texts, lens, n, out, NULL);
    if (e->minilm)
        return cvs__minilm_embed(e->minilm, texts, lens, n, out, NULL);
    rc = e->fn(e->ctx, texts, lens, n, out);
    if (rc && (rc > CVS_NOTFOUND || rc < CVS_NOTFOUND - 99)) /* not one of ours */
        return cvs__err(CVS_EIO, "embedder '%s' failed with code %d", e->name, rc);
    if (rc)
        return rc;
    /* CVS_EIO, not CVS_EINPUT: the text is not at fault, and callers that
     * keep a text the embedder cannot embed (cvs_mem_remember's stand-in
     * vector) must not keep it as if it had been. */
    for (size_t i = 0; i < n * e->dim; i++)
        if (!isfinite(out[i])) {
            if (n == 1) /* one text needs no name (the caller names it) */
                return cvs__err(CVS_EIO, "embedder '%s' returned a non-finite value", e->name);
            return cvs__err(CVS_EIO, "embedder '%s' returned a non-finite value for text %zu",
                            e->name, i / e->dim);
        }
    return CVS_OK;
}

CVS_API int cvs_embed_text(cvs_db *db, const char *text, size_t len, float *out)
{
    if (text && len == 0)
        len = strlen(text);
    return cvs_embed_texts(db, &text, &len, 1, out);
}

CVS_API int cvs_embed_fit(cvs_db *db, const char *const *texts, const size_t *lens, size_t n)
{
    cvs_embedder *e;
    float a;
    const float *pc;
    int rc;
    (void)texts;
    if (!db || (n && (!texts || !lens)))
        return cvs__err(CVS_EINVAL, "cvs_embed_fit: NULL argument");
    /* The component comes from the vocabulary, not from these texts
     * (embed_sif.c, deviation 4); reading the state installs it in a
     * writable store that wants it. */
    if ((rc = current(db, &e)) || !e->sif)
        return rc;
    return sif_state(db, e, &a, &pc);
}

int cvs__embed_words(cvs_db *db, const struct cvs_sif **out)
{
    cvs_embedder *e;
    int rc;
    *out = NULL;
    if ((rc = current(db, &e)))
        return rc;
    if (!e->sif)
        return CVS_NOTFOUND;
    *out = e->sif;
    return CVS_OK;
}

int cvs__embed_component(cvs_db *db, const float **out)
{
    cvs_embedder *e;
    float a;
    int rc;
    *out = NULL;
    if ((rc = current(db, &e)))
        return rc;
    if (!e->sif)
        return CVS_NOTFOUND;
    return sif_state(db, e, &a, out);
}

/* ==== For the importer ==== */

int cvs__embed_prepare(cvs_db *db)
{
    cvs_embedder *e;
    return current(db, &e);
}

int cvs__embed_check(cvs_db *db, const char *text, size_t len)
{
    cvs_embedder *e;
    float *tmp;
    unsigned char empty = 0;
    int rc;
    if ((rc = current(db, &e)) || (!e->sif && !e->use && !e->minilm))
        return rc;
    if (e->use || e->minilm) {
        /* Only the tokenizer: a text with a piece has an embedding. */
        size_t k;
        if ((rc = encoder_pieces(e, text, len, 1, &k)))
            return rc;
        return k ? CVS_OK : cvs__err(CVS_EINPUT, "its text has no character to embed");
    }
    if (!(tmp = malloc(e->dim * sizeof *tmp)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    rc = cvs__sif_embed(e->sif, CVS_SIF_A, &text, &len, 1, tmp, &empty);
    free(tmp);
    if (rc == CVS_OK && empty)
        rc = cvs__err(CVS_EINPUT, "no word of its text is one the GloVe embedder reads (it "
                      "leaves out stop words such as \"the\" and words not in its vocabulary)");
    return rc;
}

int cvs__embed_standin(cvs_db *db, float *out)
{
    cvs_embedder *e;
    float a;
    const float *pc = NULL;
    int rc;
    if ((rc = current(db, &e)) || (e->sif && (rc = sif_state(db, e, &a, &pc))))
        return rc;
    memset(out, 0, db->dim * sizeof *out);
    if (pc)
        memcpy(out, pc, db->dim * sizeof *out);
    else
        out[0] = 1;
    return CVS_OK;
}

/* ==== The module (store/module.h) ==== */

static int embed_attach(cvs_db *db, void *state)
{
    struct embed_state *st = state;
    (void)db;
    if (pthread_mutex_init(&st->mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make a lock");
    st->mu_ok = 1;
    return CVS_OK;
}

static void embed_close(cvs_db *db, void *state)
{
    struct embed_state *st = state;
    if (!st->mu_ok)
        return;
    cvs__embedder_drop(db);
    pthread_mutex_destroy(&st->mu);
}

/* ==== A text the store must embed has words ==== */

int cvs__embed_text_words(const char *text, size_t len)
{
    size_t words = 0;
    int rc;
    if ((rc = cvs_text_words(text, len, &words)))
        return rc;
    if (!words)
        return cvs__err(CVS_EINPUT, "text has no words (only spaces, punctuation or symbols): "
                        "a store with an embedder cannot embed it; give the record its "
                        "vector, or leave the text out");
    return CVS_OK;
}

const cvs__module cvs__embed_module = {
    .version = CVS__MODULE_VERSION,
    .name = "embed",
    .state_size = sizeof(struct embed_state),
    .attach = embed_attach,
    .close = embed_close,
};
