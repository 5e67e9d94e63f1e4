/*
 * faiss_index.c -- FAISS indexes kept inside the store ("faiss:FACTORY").
 *
 * Users who want one of FAISS's structures (HNSW32, IVF1024,PQ32x4fs, ...)
 * get it through the same search call and with the same durability as our
 * own index: `cvstore build DB --index faiss:HNSW32` builds it through the C
 * API (index/faiss_c_shim.cpp) from a snapshot of the store, serializes it
 * with faiss_write_index and keeps the bytes in the store's meta database,
 * next to a position -> record key table (FAISS labels are positions, which
 * every index type supports; HNSW has no add_with_ids).
 *
 * FAISS indexes are not transactional and most cannot remove entries, so
 * records written after the build are not added to the FAISS index;
 * instead every put and delete marks its key "dirty" in the same
 * transaction.  A search asks FAISS for candidates, drops the dirty ones
 * (their stored vectors may be stale, or gone), scores the dirty records
 * that still exist exactly from their raw vectors, and merges the two.  The
 * answer is therefore always the one the snapshot calls for, whatever was
 * written since; the cost of a search grows with the dirty set, and the
 * next build folds it in (cvstore stats shows its size).
 *
 * Records written *during* a build must not be lost either.  A build first
 * commits a new epoch number (meta "fidx_epoch"); from then on dirty marks
 * carry that epoch.  It then reads its snapshot, trains and adds, and in
 * the final write transaction drops only the marks of older epochs: those
 * records are in the snapshot it indexed; the others stay dirty.  The
 * final write also sets "fidx_done" to the build's epoch: every epoch up
 * to it is over.  A build whose epoch is over when it comes to write is
 * stale: a build that started later (whose newer snapshot let it drop
 * marks this one's older snapshot may lack) wrote first, or an index of
 * another kind removed the FAISS meta, marks included (the removal also
 * ends every epoch begun so far).  It starts again from a new epoch, as
 * writers that take turns would have (at most FIDX_BUILD_TRIES times).
 * An older build that wrote first costs the later one nothing: what the
 * older dropped, the later snapshot holds too, so both write and the
 * later one's index is kept.  Epochs only grow, across removals too (a
 * new one is above "fidx_done"), so an epoch names one build.
 *
 * Builds of other kinds.  A FAISS build and a graph index build (qg) side
 * by side must end as if one had run after the other, not with one's
 * codec and the other's index (both said they succeeded; `stats` showed a
 * codec neither asked for beside its index).  So the final write also
 * removes the graph index (one ANN index at a time, in the same
 * transaction: a later separate removal dropped a graph built in between,
 * and left the store with no ANN index at all), and a build that made its
 * own codec first (`--codec`) refuses to write, with CVS_ECONFLICT, when
 * the store's codec is no longer the one it committed: another build
 * wrote a codec after it (which build started first is not known, nor
 * whether that one has an index), and the store keeps what that one wrote.
 * The generation compared is the one the codec's own write transaction
 * gave (cvs__codes_build's *gen): read after its commit, it could be that
 * other build's already.
 * A build without a codec of its own writes over any codec: the result is
 * the one the other build followed by this one gives.  qg_store.c does
 * the same on its side.
 *
 * A deleted record needs no mark when the stored index never held it
 * (its key is at or above "fidx_next", the first key after the stored
 * build's snapshot); but while a build runs ("fidx_epoch" above
 * "fidx_done") that build's snapshot may hold it, so the mark is written.
 *
 * Layout in the meta database (documented in docs/FORMAT.md):
 *   "fidx_spec"  the factory string;  "fidx_gen" u64, +1 per build;
 *   "fidx_epoch" u64;  "fidx_done" u64;  "fidx_nchunks" u64;  "fidx_param" u64 default;
 *   "fidx/c" + u32 big-endian chunk number -> up to 16 MiB of the blob;
 *   "fidx/d" + u64 big-endian record key -> u64 epoch (dirty records).
 * The blob: "CVSFIDX1", u64 n, i64 keys[n] (position -> key), u64 length,
 * then FAISS's own serialization of the index.
 *
 * Where this deviates from plain FAISS usage:
 *  1. nprobe / efSearch are set per search through a ParameterSpace on the
 *     shared index (Debian's FAISS 1.7.3 C API has no per-call search
 *     parameters), under a write lock only when the value changes; searches
 *     with the current value share a read lock.
 *  2. Filters and dirty records can leave fewer than k usable results;
 *     the search then asks FAISS again for twice as many, up to the whole
 *     index; when FAISS cannot give more (an IVF index returns at most what
 *     its probed lists hold), the query falls back to an exact scan, so k
 *     come back whenever k records qualify.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "index/faiss_index.h"
#include "index/marks.h"
#include "index/faiss_util.h"
#include "core/heap.h"
#include "index/ivf.h"
#include "index/codes.h"
#include "index/qg_store.h"
#include "store/filter.h"
#include "store/seal.h"

#define FIDX_CHUNK (16u << 20)
#define FIDX_MAGIC "CVSFIDX1"
#define FIDX_SAMPLE 65536
#define FIDX_BUILD_TRIES 3 /* tries of a build that another build keeps overtaking */
/* Chunk and dirty-mark keys: a meta-key prefix, then a big-endian number. */
#define PREFIX_BYTES CVS__MKEY_LEN(CVS__META_FIDX_CHUNK)
#define CHUNK_KEY_BYTES (PREFIX_BYTES + 4)
#define DIRTY_KEY_BYTES (PREFIX_BYTES + 8)
_Static_assert(CVS__MKEY_LEN(CVS__META_FIDX_DIRTY) == PREFIX_BYTES, "one prefix length");

typedef struct cvs_fidx {
    uint64_t gen;
    FaissIndex *index;
    size_t n;
    int64_t *keys;          /* position -> record key */
    uint64_t blob_bytes;
    const char *param_name; /* "nprobe", "efSearch" or NULL */
    size_t cur_param;       /* value currently set on index */
    pthread_rwlock_t lock;  /* shared by searches, exclusive to change it */
    int refs;
} cvs_fidx;

/* ==== Meta helpers ==== */

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void chunk_key(unsigned char key[CHUNK_KEY_BYTES], uint32_t c)
{
    memcpy(key, CVS__META_FIDX_CHUNK, PREFIX_BYTES);
    be32(key + PREFIX_BYTES, c);
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ==== Build ==== */

typedef struct epoch_arg {
    uint64_t epoch;
} epoch_arg;

static int epoch_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    epoch_arg *a = arg;
    uint64_t e = 0, done = 0;
    int found, rc;
    /* Above every epoch handed out before: fidx_epoch is removed with the
     * index, fidx_done is not (the header essay). */
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_EPOCH, &e, &found)) ||
        (rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_DONE, &done, &found)))
        return rc;
    a->epoch = (e > done ? e : done) + 1;
    return cvs__meta_put_u64(db, txn, CVS__META_FIDX_EPOCH, a->epoch);
}

typedef struct store_arg {
    const char *factory;
    const unsigned char *blob;
    size_t len;
    uint64_t epoch;
    uint64_t next;          /* above the largest key indexed */
    uint64_t codec_gen;     /* the codec this build made, 0 for none */
} store_arg;

static int older_epoch_keep(const MDB_val *v, uint64_t epoch)
{
    /* keep marks of this build's epoch (written while it ran) */
    return v->mv_size == 8 && cvs__get_u64(v->mv_data) >= epoch;
}

static int store_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    store_arg *a = arg;
    uint64_t gen, epoch, done = 0;
    int found, found_done, rc, mrc;
    size_t nchunks = (a->len + FIDX_CHUNK - 1) / FIDX_CHUNK;
    MDB_val k, v;

    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_EPOCH, &epoch, &found)) ||
        (rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_DONE, &done, &found_done)))
        return rc;
    /* Stale only when a later build wrote or the index was removed: the
     * header essay.  An older build's write leaves this one's marks whole. */
    if (!found || epoch < a->epoch || (found_done && done >= a->epoch))
        return CVS__STALE;
    if ((rc = cvs__codec_gen_check(db, txn, a->codec_gen, "FAISS index")))
        return rc;
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_GEN, &gen, &found)) ||
        (rc = cvs__meta_drop_prefix(db, txn, CVS__META_FIDX_CHUNK, NULL, 0)) ||
        (rc = cvs__meta_drop_prefix(db, txn, CVS__META_FIDX_DIRTY, older_epoch_keep, a->epoch)))
        return rc;
    if ((rc = cvs__meta_put_u64(db, txn, CVS__META_FIDX_NEXT, a->next)) ||
        (rc = cvs__meta_put_u64(db, txn, CVS__META_FIDX_DONE, a->epoch)))
        return rc;
    /* One ANN index at a time: this one replaces an IVF index and the
     * graph index, in this transaction (Builds of other kinds). */
    if ((cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_build_begin(db, txn, NULL, 0))) ||
        (rc = cvs__qg_remove(db, txn)))
        return rc;
    for (size_t c = 0; c < nchunks; c++) {
        unsigned char key[CHUNK_KEY_BYTES];
        size_t off = c * FIDX_CHUNK, sz = a->len - off < FIDX_CHUNK ? a->len - off : FIDX_CHUNK;
        chunk_key(key, (uint32_t)c);
        k.mv_data = key;
        k.mv_size = sizeof key;
        v.mv_data = (void *)(a->blob + off);
        v.mv_size = sz;
        if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
            return cvs__werr(mrc, "writing the FAISS index");
    }
    k.mv_data = CVS__META_FIDX_SPEC;
    k.mv_size = CVS__MKEY_LEN(CVS__META_FIDX_SPEC);
    v.mv_data = (void *)a->factory;
    v.mv_size = strlen(a->factory);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing the FAISS index spec");
    if ((rc = cvs__meta_put_u64(db, txn, CVS__META_FIDX_NCHUNKS, nchunks)) ||
        (rc = cvs__meta_put_u64(db, txn, CVS__META_FIDX_GEN, gen + 1)))
        return rc;
    return CVS_OK;
}

/* Reads every (key, vector) of a snapshot. */
static int read_all(cvs_db *db, int64_t **keys_out, float **x_out, size_t *n_out)
{
    MDB_txn *txn = NULL;
    int rc;
    *keys_out = NULL;
    *x_out = NULL;
    *n_out = 0;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = cvs__vecs_read_all(db, txn, keys_out, x_out, n_out);
    cvs__read_end(db, txn);
    return rc;
}

/* One try of a build: a new epoch, the snapshot, training, the write;
 * CVS__STALE when another build wrote meanwhile.  idx is a new, empty
 * index of the factory (freed here). */
static int build_once(cvs_db *db, const char *factory, const cvs_build_opts *o,
                      const char *what, FaissIndex *idx, uint64_t codec_gen)
{
    epoch_arg ea = {0};
    store_arg sa = {.codec_gen = codec_gen};
    int64_t *keys = NULL;
    float *x = NULL, *train = NULL;
    size_t n = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rc;

    if ((rc = cvs__write(db, epoch_fn, &ea)))
        goto out;
    if ((rc = read_all(db, &keys, &x, &n)))
        goto out;
    if (!faiss_Index_is_trained(idx)) {
        size_t nt = n < FIDX_SAMPLE ? n : FIDX_SAMPLE;
        const float *tx = x;
        if (nt < n) { /* an evenly strided sample: deterministic, spread over the store */
            if (!(train = malloc(nt * db->dim * sizeof *train))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < nt; i++)
                memcpy(train + i * db->dim, x + (i * n / nt) * db->dim, db->dim * sizeof *train);
            tx = train;
        }
        if (o && o->progress)
            o->progress(o->progress_ctx, "train", 0, nt, 0, 0);
        if ((rc = cvs__faiss_err(faiss_Index_train(idx, (idx_t)nt, tx), what)))
            goto out;
    }
    for (size_t i = 0; i < n; i += 16384) {
        size_t nb = n - i < 16384 ? n - i : 16384;
        if ((rc = cvs__faiss_err(faiss_Index_add(idx, (idx_t)nb, x + i * db->dim), what)))
            goto out;
        if (o && o->progress)
            o->progress(o->progress_ctx, "add", i + nb, n, 0, 0);
    }
    free(x);
    x = NULL;
    /* Serialize: header, key table, then FAISS's bytes. */
    if (!(f = open_memstream(&buf, &len))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory serializing the index");
        goto out;
    }
    {
        unsigned char h[16];
        uint64_t n64 = n;
        fwrite(FIDX_MAGIC, 1, 8, f);
        cvs__put_u64(h, n64);
        fwrite(h, 1, 8, f);
        fwrite(keys, sizeof *keys, n, f);
        long at = ftell(f);
        fwrite(h, 1, 8, f); /* length placeholder, patched below */
        if ((rc = cvs__faiss_err(faiss_write_index(idx, f), what)))
            goto out;
        if (fflush(f) || ferror(f)) {
            rc = cvs__err(CVS_ENOMEM, "out of memory serializing the index");
            goto out;
        }
        fclose(f);
        f = NULL;
        cvs__put_u64((unsigned char *)buf + at, (uint64_t)(len - (size_t)at - 8));
    }
    sa.factory = factory;
    sa.blob = (const unsigned char *)buf;
    sa.len = len;
    sa.epoch = ea.epoch;
    for (size_t i = 0; i < n; i++)
        if ((uint64_t)keys[i] >= sa.next)
            sa.next = (uint64_t)keys[i] + 1;
    if (o && o->progress)
        o->progress(o->progress_ctx, "write", 0, 1, 0, len);
    rc = cvs__write(db, store_fn, &sa);
out:
    if (f)
        fclose(f);
    free(buf);
    faiss_Index_free(idx);
    free(keys);
    free(x);
    free(train);
    return rc;
}

int cvs__fidx_build(cvs_db *db, const char *factory, const cvs_build_opts *o,
                    uint64_t codec_gen)
{
    FaissIndex *idx = NULL;
    char what[200];
    int metric = db->metric == CVS_METRIC_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT, rc;

    if (!factory || !*factory || strlen(factory) > 100)
        return cvs__err(CVS_EINVAL, "faiss index: want faiss:FACTORY, e.g. faiss:HNSW32 or "
                        "faiss:IVF1024,PQ32x4fs (at most 100 characters)");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s is open read-only", db->path);
    snprintf(what, sizeof what, "faiss index \"%s\"", factory);
    /* Validate the factory string before anything is written. */
    if ((rc = cvs__faiss_err(faiss_index_factory(&idx, (int)db->dim, factory, metric), what))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cvs_errmsg(NULL)); /* the buffer cvs__err writes */
        return cvs__err(CVS_EINVAL, "%s", msg);
    }
    for (int t = 1;; t++) {
        if ((rc = build_once(db, factory, o, what, idx, codec_gen)) != CVS__STALE)
            return rc;
        if (t == FIDX_BUILD_TRIES)
            return cvs__err(CVS_ECONFLICT, "%s: %d times, a build of %s that started later "
                            "wrote its index (or one of another kind replaced it) while this "
                            "one trained: build again when the others are done", what, t,
                            db->path);
        if ((rc = cvs__faiss_err(faiss_index_factory(&idx, (int)db->dim, factory, metric),
                                 what)))
            return rc;
    }
}

int cvs__fidx_remove(cvs_db *db, MDB_txn *txn)
{
    static const MDB_val keys[] = {CVS__MKEY(CVS__META_FIDX_SPEC), CVS__MKEY(CVS__META_FIDX_NCHUNKS),
                                   CVS__MKEY(CVS__META_FIDX_PARAM), CVS__MKEY(CVS__META_FIDX_EPOCH),
                                   CVS__MKEY(CVS__META_FIDX_NEXT)};
    uint64_t epoch;
    int found, rc, mrc;
    /* Ends every epoch begun so far: a build still training is stale, and
     * later epochs start above (the header essay). */
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_EPOCH, &epoch, &found)) ||
        (found && (rc = cvs__meta_put_u64(db, txn, CVS__META_FIDX_DONE, epoch))))
        return rc;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        MDB_val k = keys[i];
        if ((mrc = cvs__vdel(db, txn, db->dbi_meta, &k, NULL)) && mrc != MDB_NOTFOUND)
            return cvs__werr(mrc, "removing the FAISS index");
    }
    if ((rc = cvs__meta_drop_prefix(db, txn, CVS__META_FIDX_CHUNK, NULL, 0)) ||
        (rc = cvs__meta_drop_prefix(db, txn, CVS__META_FIDX_DIRTY, NULL, 0)))
        return rc;
    return CVS_OK; /* fidx_gen and fidx_done stay: both only grow */
}

/* ==== Loading ==== */

static void fidx_free(cvs_fidx *fx)
{
    if (!fx)
        return;
    if (fx->index)
        faiss_Index_free(fx->index);
    free(fx->keys);
    pthread_rwlock_destroy(&fx->lock);
    free(fx);
}

/* The module's per-handle state: the loaded index, under its own lock. */
struct fidx_state {
    pthread_mutex_t mu;
    int mu_ok;
    cvs_fidx *fidx;
};

static struct fidx_state *fidx_st(const cvs_db *db)
{
    return cvs__module_state(db, &cvs__faiss_module);
}

static void fidx_release(cvs_db *db, cvs_fidx *fx)
{
    int last;
    if (!fx)
        return;
    pthread_mutex_lock(&fidx_st(db)->mu);
    last = --fx->refs == 0;
    pthread_mutex_unlock(&fidx_st(db)->mu);
    if (last)
        fidx_free(fx);
}

void cvs__fidx_drop(cvs_db *db)
{
    cvs_fidx *fx;
    pthread_mutex_lock(&fidx_st(db)->mu);
    fx = fidx_st(db)->fidx;
    fidx_st(db)->fidx = NULL;
    pthread_mutex_unlock(&fidx_st(db)->mu);
    fidx_release(db, fx);
}

int cvs__fidx_present(cvs_db *db, MDB_txn *txn, int *yes, char *spec, size_t cap)
{
    MDB_val k = CVS__MKEY(CVS__META_FIDX_SPEC), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *yes = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta");
    *yes = 1;
    if (spec && cap)
        snprintf(spec, cap, "faiss:%.*s", (int)(v.mv_size < 100 ? v.mv_size : 100),
                 (const char *)v.mv_data);
    return CVS_OK;
}

static int fidx_load(cvs_db *db, MDB_txn *txn, uint64_t gen, cvs_fidx **out)
{
    uint64_t nchunks, n;
    int found, rc, mrc;
    unsigned char *blob = NULL;
    size_t len = 0, cap = 0;
    FILE *f = NULL;
    cvs_fidx *fx = NULL;
    MDB_val sk = CVS__MKEY(CVS__META_FIDX_SPEC), sv;

    *out = NULL;
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_NCHUNKS, &nchunks, &found)))
        return rc;
    if (!found || nchunks == 0 || nchunks > (1u << 20))
        return cvs__err(CVS_ECORRUPT, "%s: FAISS index has no data; rebuild it", db->path);
    for (uint64_t c = 0; c < nchunks; c++) {
        unsigned char key[CHUNK_KEY_BYTES];
        MDB_val k = {sizeof key, key}, v;
        chunk_key(key, (uint32_t)c);
        if ((mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v))) {
            rc = mrc == MDB_NOTFOUND
                     ? cvs__err(CVS_ECORRUPT, "%s: FAISS index chunk %llu missing; rebuild it",
                                db->path, (unsigned long long)c)
                     : cvs__err_lmdb(mrc, "reading the FAISS index");
            goto out;
        }
        if (len + v.mv_size > cap) {
            size_t nc = (len + v.mv_size) * 2;
            unsigned char *nb = realloc(blob, nc);
            if (!nb) {
                rc = cvs__err(CVS_ENOMEM, "out of memory loading the FAISS index");
                goto out;
            }
            blob = nb;
            cap = nc;
        }
        memcpy(blob + len, v.mv_data, v.mv_size);
        len += v.mv_size;
    }
    if (len < 24 || memcmp(blob, FIDX_MAGIC, 8)) {
        rc = cvs__err(CVS_ECORRUPT, "%s: FAISS index blob has a bad header", db->path);
        goto out;
    }
    n = cvs__get_u64(blob + 8);
    if (n > (len - 24) / 8 || cvs__get_u64(blob + 16 + n * 8) != len - 24 - n * 8) {
        rc = cvs__err(CVS_ECORRUPT, "%s: FAISS index blob is truncated", db->path);
        goto out;
    }
    if (!(fx = calloc(1, sizeof *fx)) || !(fx->keys = malloc((n + 1) * sizeof *fx->keys))) {
        free(fx);
        fx = NULL;
        rc = cvs__err(CVS_ENOMEM, "out of memory loading the FAISS index");
        goto out;
    }
    pthread_rwlock_init(&fx->lock, NULL);
    fx->refs = 1;
    fx->gen = gen;
    fx->n = n;
    fx->blob_bytes = len;
    memcpy(fx->keys, blob + 16, n * 8);
    if (!(f = fmemopen(blob + 24 + n * 8, len - 24 - n * 8, "rb"))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory loading the FAISS index");
        goto out;
    }
    if ((rc = cvs__faiss_err(faiss_read_index(f, 0, &fx->index), "reading the FAISS index"))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cvs_errmsg(NULL));
        rc = cvs__err(CVS_ECORRUPT, "%s", msg);
        goto out;
    }
    if ((size_t)faiss_Index_ntotal(fx->index) != n || faiss_Index_d(fx->index) != (int)db->dim) {
        rc = cvs__err(CVS_ECORRUPT, "%s: FAISS index holds %lld vectors of %d dimensions, "
                      "expected %llu of %u", db->path, (long long)faiss_Index_ntotal(fx->index),
                      faiss_Index_d(fx->index), (unsigned long long)n, db->dim);
        goto out;
    }
    if ((mrc = cvs__vget(db, txn, db->dbi_meta, &sk, &sv)) == 0) {
        if (memmem(sv.mv_data, sv.mv_size, "HNSW", 4))
            fx->param_name = "efSearch";
        else if (memmem(sv.mv_data, sv.mv_size, "IVF", 3))
            fx->param_name = "nprobe";
    }
out:
    if (f)
        fclose(f);
    free(blob);
    if (rc) {
        fidx_free(fx);
        fx = NULL;
    }
    *out = fx;
    return rc;
}

static int fidx_get(cvs_db *db, MDB_txn *txn, cvs_fidx **out)
{
    uint64_t gen;
    int found, rc;
    cvs_fidx *fx = NULL;
    *out = NULL;
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_GEN, &gen, &found)))
        return rc;
    if (!found)
        return cvs__err(CVS_EINVAL, "%s has no FAISS index: build one with "
                        "cvstore build --index faiss:FACTORY", db->path);
    pthread_mutex_lock(&fidx_st(db)->mu);
    if (fidx_st(db)->fidx && fidx_st(db)->fidx->gen == gen) {
        fidx_st(db)->fidx->refs++;
        *out = fidx_st(db)->fidx;
        pthread_mutex_unlock(&fidx_st(db)->mu);
        return CVS_OK;
    }
    pthread_mutex_unlock(&fidx_st(db)->mu);
    if ((rc = fidx_load(db, txn, gen, &fx)))
        return rc;
    pthread_mutex_lock(&fidx_st(db)->mu);
    if (!fidx_st(db)->fidx || fidx_st(db)->fidx->gen < gen) {
        cvs_fidx *old = fidx_st(db)->fidx;
        fidx_st(db)->fidx = fx;
        fx->refs++;
        if (old && --old->refs == 0)
            fidx_free(old);
    }
    pthread_mutex_unlock(&fidx_st(db)->mu);
    *out = fx;
    return CVS_OK;
}

/* ==== Dirty records ==== */

int cvs__fidx_on_write(cvs_db *db, MDB_txn *txn, uint64_t key, int deleted)
{
    uint64_t epoch, next, done;
    int found, found_next = 0, found_done, rc;
    unsigned char vb[8];
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_EPOCH, &epoch, &found)) || !found)
        return rc;
    /* fidx_next bounds the stored index, not the snapshot of a build in
     * progress (epoch above fidx_done), which may hold any key: then the
     * mark is kept.  Stores built before fidx_next existed keep every mark
     * (marks.h). */
    if (deleted && ((rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_DONE, &done, &found_done)) ||
                    (found_done && done >= epoch &&
                     (rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_NEXT, &next, &found_next)))))
        return rc;
    cvs__put_u64(vb, epoch);
    return cvs__mark_write(db, txn, CVS__META_FIDX_DIRTY, key, deleted,
                           deleted && found_next ? &next : NULL, vb, 8, "FAISS index");
}

/* Sorted keys of the snapshot's dirty records. */
static int dirty_keys(cvs_db *db, MDB_txn *txn, int64_t **out, size_t *nout)
{
    return cvs__marks_list(db, txn, CVS__META_FIDX_DIRTY, NULL, NULL, out, nout);
}

static int in_sorted(const int64_t *a, size_t n, int64_t key)
{
    return cvs__sorted_find(a, n, key) < n;
}

/* ==== Search ==== */

/* Sets the search parameter when it differs; leaves fx->lock held shared. */
static int set_param(cvs_fidx *fx, size_t param)
{
    int rc = CVS_OK;
    pthread_rwlock_rdlock(&fx->lock);
    if (!fx->param_name || param == 0 || fx->cur_param == param)
        return CVS_OK;
    pthread_rwlock_unlock(&fx->lock);
    pthread_rwlock_wrlock(&fx->lock);
    if (fx->cur_param != param) {
        FaissParameterSpace *ps = NULL;
        rc = cvs__faiss_err(faiss_ParameterSpace_new(&ps), "FAISS parameters");
        if (!rc)
            rc = cvs__faiss_err(faiss_ParameterSpace_set_index_parameter(ps, fx->index,
                                                                         fx->param_name,
                                                                         (double)param),
                                fx->param_name);
        if (ps)
            faiss_ParameterSpace_free(ps);
        if (!rc)
            fx->cur_param = param;
    }
    pthread_rwlock_unlock(&fx->lock);
    pthread_rwlock_rdlock(&fx->lock);
    return rc;
}

int cvs__fidx_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                     size_t param, const uint64_t *allow, size_t allow_words, int64_t *labels,
                     float *scores)
{
    cvs_db *db = t->db;
    cvs_fidx *fx = NULL;
    int64_t *dirty = NULL, *flab = NULL, *hid = NULL;
    float *fdis = NULL, *hd = NULL, *tmp = NULL;
    size_t ndirty = 0, locked = 0;
    int rc, found, ip = db->metric != CVS_METRIC_L2;
    uint64_t defp;

    if ((rc = fidx_get(db, t->txn, &fx)) || (rc = dirty_keys(db, t->txn, &dirty, &ndirty)))
        goto out;
    if (!param && (rc = cvs__meta_get_u64(db, t->txn, CVS__META_FIDX_PARAM, &defp, &found)) == 0)
        param = (size_t)defp;
    if (rc)
        goto out;
    if ((rc = set_param(fx, param)))
        goto out;
    locked = 1;
    hd = malloc(k * sizeof *hd);
    hid = malloc(k * sizeof *hid);
    tmp = malloc(db->dim * sizeof *tmp);
    if (!hd || !hid || !tmp) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * db->dim;
        cvs_heap h;
        size_t want = k + (ndirty < 64 ? ndirty : 64), n;
        cvs__heap_init(&h, k, hd, hid);
        /* FAISS candidates: ask again with twice as many while filters or
         * dirty records leave fewer than k (deviation 2). */
        int exhausted = 0;
        for (;;) {
            size_t got = 0, valid = 0, kk = want < fx->n ? want : fx->n;
            int64_t *nl = realloc(flab, (kk + 1) * sizeof *nl);
            float *nd = nl ? realloc(fdis, (kk + 1) * sizeof *nd) : NULL;
            if (nl)
                flab = nl;
            if (!nd) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            fdis = nd;
            cvs__heap_init(&h, k, hd, hid);
            if (kk && (rc = cvs__faiss_err(faiss_Index_search(fx->index, 1, qi, (idx_t)kk, fdis,
                                                              flab), "FAISS search")))
                goto out;
            for (size_t j = 0; j < kk; j++) {
                int64_t key;
                if (flab[j] < 0 || (size_t)flab[j] >= fx->n)
                    continue;
                valid++;
                key = fx->keys[flab[j]];
                if (in_sorted(dirty, ndirty, key) ||
                    (allow && !cvs__bit_test(allow, allow_words, key)))
                    continue;
                cvs__heap_push(&h, ip ? -fdis[j] : fdis[j], key);
                got++;
            }
            if (got >= k)
                break;
            if (kk >= fx->n || valid < kk) {
                /* Every candidate FAISS can give (an IVF index returns no
                 * more than its probed lists hold) and still short. */
                exhausted = 1;
                break;
            }
            want = kk * 2;
        }
        if (exhausted && !allow) {
            /* Deviation 2's last resort: the exact scan of the snapshot,
             * which sees every live record, dirty ones included. */
            cvs_search_params ep = {.flags = CVS_SEARCH_EXACT};
            if ((rc = cvs_txn_search_params(t, qi, 1, k, &ep, labels + i * k, scores + i * k)))
                goto out;
            continue;
        }
        /* Dirty records that exist in this snapshot: exact scores. */
        for (size_t j = 0; j < ndirty; j++) {
            uint64_t k64 = (uint64_t)dirty[j];
            MDB_val vk = {8, &k64}, vv;
            double acc = 0, xn = 0;
            int mrc;
            if (allow && !cvs__bit_test(allow, allow_words, dirty[j]))
                continue;
            mrc = cvs__vget(db, t->txn, db->dbi_vecs, &vk, &vv);
            if (mrc == MDB_NOTFOUND)
                continue; /* deleted since the build */
            if (mrc) {
                rc = cvs__err_lmdb(mrc, "reading a vector");
                goto out;
            }
            if (vv.mv_size != cvs__vec_bytes(db)) {
                rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check",
                              vv.mv_size);
                goto out;
            }
            cvs__decode_vec(db, vv.mv_data, tmp);
            for (uint32_t d = 0; d < db->dim; d++) {
                acc += (double)qi[d] * tmp[d];
                xn += (double)tmp[d] * tmp[d];
            }
            cvs__heap_push(&h, ip ? (float)-acc : (float)(qn[i] + xn - 2 * acc), dirty[j]);
        }
        n = cvs__heap_sort(&h);
        for (size_t j = 0; j < k; j++) {
            if (j >= n) {
                labels[i * k + j] = -1;
                scores[i * k + j] = NAN;
            } else {
                labels[i * k + j] = hid[j];
                scores[i * k + j] = ip ? -hd[j] : hd[j] > 0 ? sqrtf(hd[j]) : 0.0f;
            }
        }
    }
out:
    if (locked)
        pthread_rwlock_unlock(&fx->lock);
    fidx_release(db, fx);
    free(dirty);
    free(flab);
    free(fdis);
    free(hd);
    free(hid);
    free(tmp);
    return rc;
}

/* ==== Defaults and info ==== */

typedef struct param_arg {
    size_t param;
} param_arg;

static int param_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    return cvs__meta_put_u64(db, txn, CVS__META_FIDX_PARAM, ((param_arg *)arg)->param);
    (void)db;
}

int cvs__fidx_set_default(cvs_db *db, size_t param)
{
    param_arg a = {param};
    if (!param)
        return CVS_OK;
    return cvs__write(db, param_fn, &a);
}

int cvs__fidx_info(cvs_db *db, cvs_index_info *info)
{
    MDB_txn *txn = NULL;
    cvs_fidx *fx = NULL;
    int64_t *dirty = NULL;
    size_t ndirty = 0;
    uint64_t p;
    int rc, yes, found;

    memset(info, 0, sizeof *info);
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((rc = cvs__fidx_present(db, txn, &yes, info->spec, sizeof info->spec)))
        goto out;
    if (!yes) {
        rc = CVS_NOTFOUND;
        goto out;
    }
    if ((rc = fidx_get(db, txn, &fx)) || (rc = dirty_keys(db, txn, &dirty, &ndirty)) ||
        (rc = cvs__meta_get_u64(db, txn, CVS__META_FIDX_PARAM, &p, &found)))
        goto out;
    info->count = fx->n;
    info->nprobe = (size_t)p;
    /* FAISS's serialized form is its in-memory layout (codes, graph links,
     * centroids) to within a few headers; the key table is ours. */
    info->mem_bytes = fx->blob_bytes;
    info->disk_bytes = fx->blob_bytes;
    info->dirty = ndirty;
out:
    fidx_release(db, fx);
    free(dirty);
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Check (docs/FORMAT.md, invariant 11) ==== */

static void fidx_problem(void (*problem)(void *, const char *), void *ctx, const char *fmt, ...)
    CVS_PRINTF(3, 4);
static void fidx_problem(void (*problem)(void *, const char *), void *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    problem(ctx, msg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A meta u64 for the check: a value of the wrong size is a problem, not an
 * error. */
static int check_u64(cvs_db *db, MDB_txn *txn, const char *name, uint64_t *out, int *found,
                     void (*problem)(void *, const char *), void *ctx)
{
    int rc = cvs__meta_get_u64(db, txn, name, out, found);
    if (rc == CVS_ECORRUPT) {
        fidx_problem(problem, ctx, "meta: %s", cvs_errmsg(db));
        return CVS_OK;
    }
    return rc;
}

/* The check's view of the dirty marks: where a problem goes, and the
 * epoch no mark may pass. */
typedef struct dirty_chk {
    void (*problem)(void *ctx, const char *msg);
    void *ctx;
    uint64_t epoch;
    int f_epoch;
} dirty_chk;

/* cvs__marks_list's keep for the check: a well-formed mark holds a u64
 * epoch at most fidx_epoch; any other is reported and left out. */
static int dirty_ok(void *arg, const MDB_val *k, const MDB_val *v, uint64_t key, int malformed)
{
    dirty_chk *dc = arg;
    (void)key;
    if (malformed || v->mv_size != 8 || !dc->f_epoch || cvs__get_u64(v->mv_data) > dc->epoch) {
        fidx_problem(dc->problem, dc->ctx, "meta: a FAISS dirty mark (key of %zu bytes, value of "
                     "%zu) is malformed or from an epoch beyond fidx_epoch %llu", k->mv_size,
                     v->mv_size, (unsigned long long)dc->epoch);
        return 0;
    }
    return 1;
}

/* The search's contract: every live record is in the FAISS index or marked
 * dirty, and every record the index holds is live or marked; the stored
 * blob decodes to n vectors of the store's dimension under n distinct keys
 * that were assigned before the build; the meta values a build writes are
 * all there.  Without an index, no chunk and no chunk count. */
int cvs__fidx_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx)
{
    MDB_val sk = CVS__MKEY(CVS__META_FIDX_SPEC), sv, nk = CVS__MKEY(CVS__META_NEXT_KEY), nv, k, v;
    MDB_cursor *cur = NULL;
    cvs_fidx *fx = NULL;
    int64_t *dirty = NULL, *held = NULL;
    size_t ndirty = 0, nchunk_keys = 0;
    dirty_chk dc;
    uint64_t gen = 0, epoch = 0, nchunks = 0, next = 0, next_key = UINT64_MAX;
    int has, f_gen, f_epoch, f_nchunks, f_next, rc = CVS_OK, mrc;

    has = cvs__vget(db, txn, db->dbi_meta, &sk, &sv) == 0;
    if (cvs__vget(db, txn, db->dbi_meta, &nk, &nv) == 0 && nv.mv_size == 8)
        next_key = cvs__get_u64(nv.mv_data);
    if ((rc = check_u64(db, txn, CVS__META_FIDX_GEN, &gen, &f_gen, problem, ctx)) ||
        (rc = check_u64(db, txn, CVS__META_FIDX_EPOCH, &epoch, &f_epoch, problem, ctx)) ||
        (rc = check_u64(db, txn, CVS__META_FIDX_NCHUNKS, &nchunks, &f_nchunks, problem, ctx)) ||
        (rc = check_u64(db, txn, CVS__META_FIDX_NEXT, &next, &f_next, problem, ctx)))
        return rc;
    if ((mrc = mdb_cursor_open(txn, db->dbi_meta, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    /* Chunks: "fidx/c" + u32 BE, numbered 0..nchunks-1. */
    k = (MDB_val)CVS__MKEY(CVS__META_FIDX_CHUNK);
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        const unsigned char *kb = k.mv_data;
        if (k.mv_size < PREFIX_BYTES || memcmp(kb, CVS__META_FIDX_CHUNK, PREFIX_BYTES))
            break;
        nchunk_keys++;
        if (k.mv_size != CHUNK_KEY_BYTES ||
            (has && f_nchunks && get_be32(kb + PREFIX_BYTES) >= nchunks))
            fidx_problem(problem, ctx, "meta: a FAISS index chunk key of %zu bytes beyond "
                         "fidx_nchunks %llu", k.mv_size, (unsigned long long)nchunks);
    }
    if (mrc && mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "walking meta");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    /* Dirty marks: "fidx/d" + u64 BE key -> u64 epoch, at most fidx_epoch;
     * each malformed one reported (dirty_ok), the rest listed ascending. */
    dc = (dirty_chk){problem, ctx, epoch, f_epoch};
    if ((rc = cvs__marks_list(db, txn, CVS__META_FIDX_DIRTY, dirty_ok, &dc, &dirty, &ndirty)))
        goto out;
    if (!has) {
        if (nchunk_keys || f_nchunks)
            fidx_problem(problem, ctx, "meta: %zu FAISS index chunks%s but no fidx_spec",
                         nchunk_keys, f_nchunks ? " and fidx_nchunks" : "");
        goto out;
    }
    if (!f_gen || gen == 0 || !f_epoch || !f_nchunks) {
        fidx_problem(problem, ctx, "meta: a FAISS index (fidx_spec) without %s",
                     !f_gen || !gen ? "fidx_gen" : !f_epoch ? "fidx_epoch" : "fidx_nchunks");
        goto out;
    }
    if (nchunk_keys != nchunks)
        fidx_problem(problem, ctx, "meta: %zu FAISS index chunks, fidx_nchunks says %llu",
                     nchunk_keys, (unsigned long long)nchunks);
    if ((rc = fidx_load(db, txn, gen, &fx))) {
        if (rc == CVS_ENOMEM)
            goto out;
        fidx_problem(problem, ctx, "meta: the FAISS index does not load: %s", cvs_errmsg(db));
        rc = CVS_OK;
        goto out;
    }
    if (fx->n && !(held = malloc(fx->n * sizeof *held))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if (fx->n) {
        memcpy(held, fx->keys, fx->n * sizeof *held);
        qsort(held, fx->n, sizeof *held, cmp_i64);
    }
    for (size_t i = 0; i < fx->n; i++) {
        uint64_t key = (uint64_t)held[i];
        if (i && held[i] == held[i - 1])
            fidx_problem(problem, ctx, "FAISS index: key %lld is held twice", (long long)held[i]);
        else if (held[i] < 1 || key >= next_key || (f_next && key >= next))
            fidx_problem(problem, ctx, "FAISS index: key %lld was never assigned before the build "
                         "(next_key %llu, fidx_next %llu)", (long long)held[i],
                         (unsigned long long)next_key, (unsigned long long)next);
        else if (!cvs__has_key(txn, db->dbi_recs, key) && !in_sorted(dirty, ndirty, held[i]))
            fidx_problem(problem, ctx, "FAISS index: key %lld has no record and no dirty mark "
                         "(a search would return it)", (long long)held[i]);
    }
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    /* recs keys are plain u64 even in an encrypted store: no value is read. */
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int64_t key;
        if (k.mv_size != 8)
            continue; /* reported by store/check.c */
        key = (int64_t)cvs__get_u64(k.mv_data);
        if (!in_sorted(held, fx->n, key) && !in_sorted(dirty, ndirty, key))
            fidx_problem(problem, ctx, "FAISS index: record key %lld is neither in the index nor "
                         "marked dirty (searches would miss it)", (long long)key);
    }
    if (mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "walking recs");
out:
    if (cur)
        mdb_cursor_close(cur);
    free(held);
    free(dirty);
    fidx_free(fx);
    return rc;
}

/* ==== The module (store/module.h) ==== */

static int fidx_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    (void)ws;
    return cvs__fidx_on_write(w->db, w->txn, r->key, 0);
}

static int fidx_del(cvs__wctx *w, void *ws, uint64_t key)
{
    (void)ws;
    return cvs__fidx_on_write(w->db, w->txn, key, 1);
}

static int fidx_attach(cvs_db *db, void *state)
{
    struct fidx_state *st = state;
    (void)db;
    if (pthread_mutex_init(&st->mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make a lock");
    st->mu_ok = 1;
    return CVS_OK;
}

/* Invariant 11 (cvs__fidx_check); it re-reads the records' keys. */
static int fidx_check_slot(cvs_db *db, void *state, cvs__chk *c)
{
    (void)state;
    return cvs__fidx_check(db, cvs__chk_txn(c), cvs__chk_problem_cb, c);
}

static void fidx_close(cvs_db *db, void *state)
{
    struct fidx_state *st = state;
    if (!st->mu_ok)
        return;
    cvs__fidx_drop(db);
    pthread_mutex_destroy(&st->mu);
}

const cvs__module cvs__faiss_module = {
    .version = CVS__MODULE_VERSION,
    .name = "faiss",
    .flags = CVS__MOD_CHECK_NEEDS_VALUES,
    .state_size = sizeof(struct fidx_state),
    .attach = fidx_attach,
    .close = fidx_close,
    .put = fidx_put,
    .del = fidx_del,
    .check = fidx_check_slot,
};
