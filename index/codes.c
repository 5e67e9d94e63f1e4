/*
 * codes.c -- the codes module: the store's codec and compressed codes,
 * cvs_build's codec and IVF part, the codec cache, and the module table
 * (store/module.h) whose hooks keep codes and IVF lists in step with puts
 * and deletes.
 *
 * A build trains on a snapshot (reads never block writers), then writes the
 * codec blob, a new generation number and every record's code in ONE write
 * transaction.  Readers therefore see either the old codec with the old
 * codes or the new with the new, and a build that fails or is killed leaves
 * the old pair in place.  Records put between the training snapshot and the
 * write transaction are still encoded, because the write transaction walks
 * the vectors it sees itself.
 *
 * In a raw "none" store the same transaction drops the raw vectors, so the
 * first build is the last to train a codec: nothing is left to retrain on.
 * An IVF index over the codes it made can still be built (the store built
 * while small got none, cvs_build_choose's rule 1, and has grown): the
 * lists are trained on the codes' reconstructions, each record is assigned
 * by its reconstruction, and the codes, direct in such a store, stay as
 * they are (build_arg.from_codes).
 *
 * Each process caches the codec it last loaded, keyed by the generation
 * ("codec_gen" in meta).  A put checks the generation inside its own write
 * transaction, so a build by another process is picked up before anything
 * is encoded with a stale codec.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "index/codes.h"
#include "index/codescan.h"
#include "index/faiss_index.h"
#include "index/gencache.h"
#include "index/ivf.h"
#include "index/qg_store.h"
#include "pq/codec.h"
#include "store/db.h"
#include "store/module.h"
#include "store/seal.h"

#define ENCODE_BATCH 4096

static int read_gen(cvs_db *db, MDB_txn *txn, uint64_t *gen)
{
    MDB_val k = CVS__MKEY(CVS__META_CODEC_GEN), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *gen = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading codec_gen");
    if (v.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "meta codec_gen has %zu bytes", v.mv_size);
    *gen = cvs__get_u64(v.mv_data);
    return CVS_OK;
}

int cvs__codec_gen_check(cvs_db *db, MDB_txn *txn, uint64_t want, const char *what)
{
    uint64_t gen;
    int rc;
    if (!want || (rc = read_gen(db, txn, &gen)) || gen == want)
        return want ? rc : CVS_OK;
    return cvs__err(CVS_ECONFLICT, "%s not written: another build replaced the codec this "
                    "build made while it ran, and the store keeps what that build wrote (this "
                    "one wrote nothing more): build again to have this build's codec and index",
                    what);
}

int cvs__codec_for_txn(cvs_db *db, MDB_txn *txn, cvs_codec **out, uint64_t *gen_out)
{
    struct cvs__codes_state *st = cvs__codes(db);
    uint64_t gen;
    MDB_val k = CVS__MKEY(CVS__META_CODEC), v;
    cvs_codec *c = NULL;
    int rc, mrc;

    *out = NULL;
    if (gen_out)
        *gen_out = 0;
    if ((rc = read_gen(db, txn, &gen)) || gen == 0)
        return rc;
    if (gen_out)
        *gen_out = gen;
    if ((*out = cvs__gencache_get(&st->codecs, gen)))
        return CVS_OK;
    if ((mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v)))
        return mrc == MDB_NOTFOUND
                   ? cvs__err(CVS_ECORRUPT, "meta has codec_gen %llu but no codec",
                              (unsigned long long)gen)
                   : cvs__err_lmdb(mrc, "reading the codec");
    if ((rc = cvs__codec_deserialize(v.mv_data, v.mv_size, &c)))
        return cvs__err_prefix(rc, "%s: the stored codec", db->path);
    *out = cvs__gencache_offer(&st->codecs, gen, c);
    return CVS_OK;
}

/* ==== Build ==== */

typedef struct build_arg {
    cvs_codec *codec;
    cvs_ivf_params *ivf;   /* NULL: codes only */
    const cvs_build_opts *opts;
    uint64_t total;
    int from_codes;        /* raw "none": read the codes, keep them */
    uint64_t gen;          /* from_codes: the generation of codec */
    uint64_t made_gen;     /* out: the generation this build's write gave it */
} build_arg;

static int build_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    struct cvs__codes_state *st = cvs__codes(db);
    cvs__scan scan = {0};
    build_arg *a = arg;
    size_t cs = cvs__codec_code_size(a->codec), nb = 0;
    uint8_t *blob = NULL, *codes = NULL, *rows = NULL;
    float *x = NULL;
    uint64_t *keys = NULL, gen, done = 0;
    int32_t *lists = NULL;
    size_t blen;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc, mrc;

    if ((rc = read_gen(db, txn, &gen)))
        return rc;
    /* Checked again: another process may have built meanwhile. */
    if (db->raw == CVS_RAW_NONE && gen != (a->from_codes ? a->gen : 0))
        return cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none) and %s", db->path,
                        a->from_codes ? "another process built it meanwhile: build again"
                                      : "already has a codec: there is nothing left to "
                                        "retrain on");
    gen++;
    /* From this write itself: a read after its commit could see another
     * build's codec, committed in between, and take it for this one's. */
    a->made_gen = gen;
    if ((rc = cvs__codec_serialize(a->codec, &blob, &blen)))
        goto out;
    k.mv_data = CVS__META_CODEC;
    k.mv_size = CVS__MKEY_LEN(CVS__META_CODEC);
    v.mv_data = blob;
    v.mv_size = blen;
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0))) {
        rc = cvs__werr(mrc, "writing the codec");
        goto out;
    }
    k.mv_data = CVS__META_CODEC_GEN;
    k.mv_size = CVS__MKEY_LEN(CVS__META_CODEC_GEN);
    v.mv_data = &gen;
    v.mv_size = 8;
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0))) {
        rc = cvs__werr(mrc, "writing codec_gen");
        goto out;
    }
    if (!a->from_codes && (mrc = mdb_drop(txn, st->dbi_codes, 0))) {
        rc = cvs__werr(mrc, "clearing the old codes");
        goto out;
    }
    if (st->has_ivf_dbis && (rc = cvs__ivf_build_begin(db, txn, a->ivf, gen)))
        goto out;
    if (a->ivf && (rc = cvs__fidx_remove(db, txn))) /* one ANN index at a time */
        goto out;
    if ((rc = cvs__qg_remove(db, txn))) /* a graph index steers by the old codes */
        goto out;
    x = malloc((size_t)ENCODE_BATCH * db->dim * sizeof *x);
    keys = malloc(ENCODE_BATCH * sizeof *keys);
    codes = malloc(ENCODE_BATCH * cs);
    lists = malloc(ENCODE_BATCH * sizeof *lists);
    /* ",sq8": the records' rows, stored with their lists (index/ivf.c). */
    if (a->ivf && a->ivf->rows)
        rows = malloc((size_t)ENCODE_BATCH * db->dim);
    if (!x || !keys || !codes || !lists || (a->ivf && a->ivf->rows && !rows)) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, a->from_codes ? st->dbi_codes : db->dbi_vecs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan);; mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        if (mrc == 0) {
            if (k.mv_size != 8 || v.mv_size != (a->from_codes ? cs : cvs__vec_bytes(db))) {
                rc = cvs__err(CVS_ECORRUPT, "%s: entry of %zu bytes; run cvstore check",
                              a->from_codes ? "codes" : "vecs", v.mv_size);
                goto out;
            }
            keys[nb] = cvs__get_u64(k.mv_data);
            if (a->from_codes) {
                memcpy(codes + nb * cs, v.mv_data, cs);
                if ((rc = cvs__codec_decode(a->codec, codes + nb * cs, 1, x + nb * db->dim)))
                    goto out;
            } else {
                cvs__decode_vec(db, v.mv_data, x + nb * db->dim);
            }
            nb++;
        } else if (mrc != MDB_NOTFOUND) {
            rc = cvs__err_lmdb(mrc, "reading vectors");
            goto out;
        }
        if (nb == ENCODE_BATCH || (mrc == MDB_NOTFOUND && nb)) {
            int done_mrc = mrc;
            if (a->ivf) { /* assign lists; residual codes encode x - c */
                if ((rc = cvs__ivf_assign(a->ivf, x, nb, lists)))
                    goto out;
                if (rows) /* of the vectors as read, before any residual */
                    cvs__sq8_encode(&a->ivf->sq, x, nb, rows);
                if (a->ivf->residual)
                    for (size_t i = 0; i < nb; i++) {
                        const float *c = a->ivf->cent + (size_t)lists[i] * db->dim;
                        for (uint32_t d = 0; d < db->dim; d++)
                            x[i * db->dim + d] -= c[d];
                    }
            }
            /* from_codes: the codes read are the records' codes still. */
            if (!a->from_codes && (rc = cvs__codec_encode(a->codec, x, nb, codes)))
                goto out;
            for (size_t i = 0; i < nb; i++) {
                MDB_val ck = {8, &keys[i]}, cv = {cs, codes + i * cs};
                /* Keys arrive ascending into an emptied database. */
                if (!a->from_codes &&
                    (mrc = cvs__vput(db, txn, st->dbi_codes, &ck, &cv, MDB_APPEND))) {
                    rc = cvs__werr(mrc, "writing codes");
                    goto out;
                }
                if (a->ivf && (rc = cvs__ivf_build_put(db, txn, a->ivf, keys[i], (uint32_t)lists[i],
                                                       rows ? rows + i * db->dim : NULL)))
                    goto out;
            }
            mrc = done_mrc;
            done += nb;
            nb = 0;
            if (a->opts && a->opts->progress)
                a->opts->progress(a->opts->progress_ctx, "encode", done, a->total, 0, 0);
        }
        if (mrc == MDB_NOTFOUND)
            break;
    }
    /* raw "none": the codes are all the store keeps from now on. */
    if (db->raw == CVS_RAW_NONE && (mrc = mdb_drop(txn, db->dbi_vecs, 0))) {
        rc = cvs__werr(mrc, "dropping the raw vectors");
        goto out;
    }
    rc = CVS_OK;
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    free(blob);
    free(x);
    free(keys);
    free(codes);
    free(rows);
    free(lists);
    return rc;
}

/* Reads a uniform sample of up to max vectors (selection sampling, in key
 * order, one pass); with from (raw "none"), the reconstructions of the
 * codes that codec made. */
static int sample(cvs_db *db, const cvs_build_opts *o, const cvs_codec *from, float **out,
                  size_t *nout, uint64_t *total)
{
    MDB_dbi dbi = from ? cvs__codes(db)->dbi_codes : db->dbi_vecs;
    size_t vbytes = from ? cvs__codec_code_size(from) : cvs__vec_bytes(db);
    cvs__scan scan = {0};
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_stat st;
    MDB_val k, v;
    size_t max = o && o->max_train ? o->max_train : 65536, n = 0, want;
    uint64_t seed = o && o->seed ? o->seed : 1, seen = 0;
    float *x = NULL;
    int rc, mrc;

    *out = NULL;
    *nout = 0;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((mrc = mdb_stat(txn, dbi, &st))) {
        rc = cvs__err_lmdb(mrc, "counting vectors");
        goto out;
    }
    *total = st.ms_entries;
    want = st.ms_entries < max ? st.ms_entries : max;
    if (want == 0) {
        rc = cvs__err(CVS_EINPUT, "%s: the store is empty: nothing to train a codec on", db->path);
        goto out;
    }
    if (!(x = malloc(want * db->dim * sizeof *x))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu training vectors", want);
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, dbi, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0 && n < want;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan), seen++) {
        /* Knuth's algorithm S: take this one with probability
         * (want - n) / (N - seen). */
        uint64_t left = st.ms_entries - seen;
        if (v.mv_size != vbytes) {
            rc = cvs__err(CVS_ECORRUPT, "%s: entry of %zu bytes; run cvstore check",
                          from ? "codes" : "vecs", v.mv_size);
            goto out;
        }
        if (cvs__rng_next(&seed) % left < want - n) {
            if (!from)
                cvs__decode_vec(db, v.mv_data, x + n * db->dim);
            else if ((rc = cvs__codec_decode(from, v.mv_data, 1, x + n * db->dim)))
                goto out;
            n++;
        }
        if (o && o->progress && (seen & 0xffff) == 0)
            o->progress(o->progress_ctx, "sample", n, want, 0, 0);
    }
    *out = x;
    *nout = n;
    x = NULL;
    rc = CVS_OK;
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    cvs__read_end(db, txn);
    free(x);
    return rc;
}

typedef struct progress_bridge {
    const cvs_build_opts *o;
} progress_bridge;

static void train_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    const cvs_build_opts *o = ((progress_bridge *)ctx)->o;
    o->progress(o->progress_ctx, phase, done, total, 0, 0);
}

/* Whether the codes of spec (NULL: of the store's codec) at the store's
 * dimension fit an IVF list (CVS_IVF_MAX_CODE bytes); CVS_EINVAL saying
 * what would, otherwise. */
static int ivf_code_fits(cvs_db *db, const char *spec, const char *index)
{
    cvs_codec_info ci;
    size_t bytes;
    int rc;
    if (spec) {
        if ((rc = cvs__codec_spec_code_size(spec, db->dim, db->metric, &bytes)))
            return rc;
    } else {
        if ((rc = cvs_codec_get_info(db, &ci)))
            return rc;
        spec = ci.spec;
        bytes = ci.code_bytes;
    }
    if (bytes <= CVS_IVF_MAX_CODE)
        return CVS_OK;
    return cvs__err(CVS_EINVAL, "index \"%s\": codec %s makes codes of %zu bytes at dimension "
                    "%u, and an IVF list holds codes of at most %d bytes: choose a codec of "
                    "shorter codes (pcaR,sq8 with R <= %d, or a pq codec) or no index", index,
                    spec, bytes, db->dim, CVS_IVF_MAX_CODE, CVS_IVF_MAX_CODE);
}

/* cvs__codes_build and cvs__codes_reindex: keep_codec takes the store's
 * codec (exported and loaded again, so the build owns its copy) where the
 * other trains spec's. */
static int codes_build(cvs_db *db, const char *spec, const cvs_build_opts *opts, int keep_codec,
                       uint64_t *gen)
{
    cvs_codec_train_opts to = {0};
    progress_bridge pb = {opts};
    build_arg a = {0};
    cvs_build_opts so = {0};
    cvs_info info;
    float *x = NULL;
    size_t n, nlist = 0, code_bytes;
    int rc, residual = -1, refine = 0;

    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_build: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if (!spec)
        return cvs__err(CVS_EINVAL, "cvs_build: NULL codec spec");
    /* Every refusal the spec, dimension and metric decide (rq1 on an l2
     * store too), before the sample and the coarse quantizer's training. */
    if ((rc = cvs__codec_spec_code_size(spec, db->dim, db->metric, &code_bytes)))
        return rc;
    if (db->raw == CVS_RAW_NONE) {
        /* The codes are the only copy of the vectors: no other codec can be
         * trained, but an IVF index over them can be built (the head of
         * this file). */
        cvs_codec_info ci;
        rc = cvs_codec_get_info(db, &ci);
        if (rc == CVS_OK && (!opts || !opts->index || !*opts->index ||
                             (!keep_codec && strcmp(spec, ci.spec))))
            return cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none) and already has "
                            "codec %s: there is nothing left to train another codec on (an "
                            "index over its codes: --codec %s --index ivf)", db->path, ci.spec,
                            ci.spec);
        if (rc == CVS_OK) {
            keep_codec = a.from_codes = 1;
            a.gen = ci.generation;
        } else if (rc != CVS_NOTFOUND) {
            return rc;
        }
    }
    if (opts && opts->index && *opts->index) {
        if (!cvs__codes(db)->has_ivf_dbis)
            return cvs__err(CVS_EINVAL, "%s: reopen the store for writing once to add the "
                            "index databases", db->path);
        if ((rc = cvs_db_info(db, &info)) ||
            (rc = cvs__ivf_parse_spec(opts->index, info.count, &nlist, &residual, &refine)))
            return rc;
        if (refine && db->raw == CVS_RAW_NONE)
            return cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none): index \"%s\" "
                            "needs them for its SQ8 re-ranking codes", db->path, opts->index);
        /* Known from the spec and the dimension: refused now, not after
         * seconds of training (or, before this check, after a write that
         * left the store with an index no search could load). */
        if ((rc = ivf_code_fits(db, keep_codec ? NULL : spec, opts->index)))
            return rc;
        /* Residual codes by default for ip/cosine, direct for l2 (measured,
         * see index/ivf.c deviation 1); raw "none" stores read records back
         * by decoding the code alone, so theirs are direct. */
        if (residual < 0)
            residual = db->metric != CVS_METRIC_L2;
        if (db->raw == CVS_RAW_NONE)
            residual = 0;
    }
    if (opts)
        so = *opts;
    if (nlist) { /* the coarse k-means wants ~40 points per list */
        size_t want = so.max_train ? so.max_train : 65536;
        if (want < nlist * 40)
            so.max_train = nlist * 40;
    }
    if (keep_codec) {
        void *blob = NULL;
        size_t len = 0;
        if (!(rc = cvs_codec_export(db, &blob, &len)))
            rc = cvs__codec_deserialize(blob, len, &a.codec);
        free(blob);
        if (rc)
            goto out;
    }
    if ((rc = sample(db, &so, a.from_codes ? a.codec : NULL, &x, &n, &a.total)))
        goto out;
    if (nlist) {
        if (nlist > n)
            nlist = n;
        if ((rc = cvs__ivf_train(db, x, n, nlist, residual, refine, so.seed ? so.seed : 1,
                                 so.progress, so.progress_ctx, &a.ivf)))
            goto out;
    }
    to.seed = opts && opts->seed ? opts->seed : 1;
    to.max_train = opts && opts->max_train ? opts->max_train : 65536;
    to.anisotropic_eta = opts ? opts->anisotropic_eta : 0;
    /* Residual codes are centred on their list already: more centres
     * cost every probed list a table and bought no recall after
     * re-ranking (docs/BENCHMARKS.md, "RaBitQ codes"). */
    to.rabitq_one_centre = nlist && residual == 1;
    if (opts && opts->progress) {
        to.progress = train_progress;
        to.progress_ctx = &pb;
    }
    if (!keep_codec && (rc = cvs__codec_train(spec, db->dim, db->metric, x, n, &to, &a.codec)))
        goto out;
    free(x);
    x = NULL;
    a.opts = opts;
    if ((rc = cvs__write(db, build_fn, &a)))
        goto out;
    if (gen)
        *gen = a.made_gen;
out:
    cvs__codec_free(a.codec); /* the cache loads its own copy from the store */
    cvs__ivf_params_free(a.ivf);
    free(x);
    return rc;
}

int cvs__codes_build(cvs_db *db, const char *spec, const cvs_build_opts *opts, uint64_t *gen)
{
    if (gen)
        *gen = 0;
    return codes_build(db, spec, opts, 0, gen);
}

int cvs__codes_reindex(cvs_db *db, const cvs_build_opts *opts)
{
    cvs_codec_info ci;
    size_t nlist;
    int rc, residual, refine;
    if (!db || !opts || !opts->index)
        return cvs__err(CVS_EINVAL, "cvs__codes_reindex: NULL argument");
    if ((rc = cvs__ivf_parse_spec(opts->index, 1, &nlist, &residual, &refine)))
        return rc;
    if (residual != 0)
        return cvs__err(CVS_EINVAL, "index \"%s\": only direct codes keep their codec",
                        opts->index);
    if ((rc = cvs_codec_get_info(db, &ci)))
        return rc;
    return codes_build(db, ci.spec, opts, 1, NULL);
}

CVS_API int cvs_codec_get_info(cvs_db *db, cvs_codec_info *info)
{
    MDB_txn *txn;
    cvs_codec *c;
    uint64_t gen;
    int rc;
    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_codec_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((rc = cvs__codec_for_txn(db, txn, &c, &gen)))
        goto out;
    if (!c) {
        rc = cvs__err(CVS_NOTFOUND, "%s: no codec has been built (cvstore build)", db->path);
        goto out;
    }
    snprintf(info->spec, sizeof info->spec, "%s", cvs__codec_spec(c));
    info->code_bytes = cvs__codec_code_size(c);
    info->param_bytes = cvs__codec_param_bytes(c);
    info->generation = gen;
    info->format = cvs__codec_blob_version(c);
out:
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Sharing a codec between stores ==== */

CVS_API int cvs_codec_export(cvs_db *db, void **blob, size_t *len)
{
    MDB_txn *txn;
    cvs_codec *c;
    uint64_t gen;
    uint8_t *buf = NULL;
    int rc;
    if (!db || !blob || !len)
        return cvs__err(CVS_EINVAL, "cvs_codec_export: NULL argument");
    *blob = NULL;
    *len = 0;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((rc = cvs__codec_for_txn(db, txn, &c, &gen)))
        goto out;
    if (!c) {
        rc = cvs__err(CVS_NOTFOUND, "%s: no codec has been built (cvstore build)", db->path);
        goto out;
    }
    if ((rc = cvs__codec_serialize(c, &buf, len)))
        goto out;
    *blob = buf;
out:
    cvs__read_end(db, txn);
    return rc;
}

/* cvs_build_with_codec and cvs_build_with_index: the codec of blob and,
 * when iblob is not NULL, the IVF parameters of iblob, written with every
 * record's code (and list) in one transaction, as cvs_build writes them. */
static int build_shared(cvs_db *db, const void *blob, size_t len, const void *iblob,
                        size_t ilen, const cvs_build_opts *opts, const char *fn)
{
    build_arg a = {0};
    const uint8_t *b = blob;
    uint32_t spec_len, dim, metric;
    cvs_info info;
    int rc;

    if (!db || !blob)
        return cvs__err(CVS_EINVAL, "%s: NULL argument", fn);
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if (opts && opts->index && *opts->index)
        return cvs__err(CVS_EINVAL, "%s takes the index from its blob, not from index \"%s\"",
                        fn, opts->index);
    if ((rc = cvs__codec_deserialize(blob, len, &a.codec)))
        return rc;
    /* A blob that deserializes has its header (docs/FORMAT.md, "Codec
     * blob"): spec_len at 12, then the spec, the dimension and the metric. */
    spec_len = cvs__get_u32(b + 12);
    dim = cvs__get_u32(b + 16 + spec_len);
    metric = cvs__get_u32(b + 20 + spec_len);
    if (dim != db->dim || metric != (uint32_t)db->metric) {
        rc = cvs__err(CVS_EINVAL, "%s: the codec is for dimension %u, metric %s; the store has "
                      "dimension %u, metric %s", db->path, dim,
                      cvs_metric_name((cvs_metric)metric), db->dim, cvs_metric_name(db->metric));
        goto out;
    }
    if (iblob) {
        if (!cvs__codes(db)->has_ivf_dbis) {
            rc = cvs__err(CVS_EINVAL, "%s: reopen the store for writing once to add the "
                          "index databases", db->path);
            goto out;
        }
        /* The same checks a stored "meta/ivf" gets, the dimension too. */
        if ((rc = cvs__ivf_params_from_blob(db, iblob, ilen, &a.ivf)))
            goto out;
        if (cvs__codec_code_size(a.codec) > CVS_IVF_MAX_CODE) {
            rc = cvs__err(CVS_EINVAL, "%s: codec %s makes codes of %zu bytes, and an IVF list "
                          "holds codes of at most %d bytes", fn, cvs__codec_spec(a.codec),
                          cvs__codec_code_size(a.codec), CVS_IVF_MAX_CODE);
            goto out;
        }
        /* raw "none" stores read records back by decoding the code alone,
         * so their codes must be direct, and keep no vectors for SQ8. */
        if (db->raw == CVS_RAW_NONE && (a.ivf->residual || a.ivf->refine)) {
            rc = cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none): it takes an index "
                          "with direct codes and without ,sq8 only", db->path);
            goto out;
        }
    }
    if (db->raw == CVS_RAW_NONE) {
        /* The codes are the only copy of the vectors: no other codec can
         * be given, but its own one with an index keeps the codes and
         * builds the index over them, as cvs_build does for such a store
         * (how the shards of a raw none store built while small get an
         * index once grown: cvstore-mpi build). */
        cvs_codec_info ci;
        void *own = NULL;
        size_t olen = 0;
        rc = cvs_codec_get_info(db, &ci);
        if (rc == CVS_OK && iblob && !(rc = cvs_codec_export(db, &own, &olen)) && olen == len &&
            !memcmp(own, blob, len)) {
            a.from_codes = 1;
            a.gen = ci.generation;
            rc = CVS_NOTFOUND; /* go on */
        } else if (rc == CVS_OK) {
            rc = cvs__err(CVS_EINVAL, "%s keeps no raw vectors (raw none) and already has "
                          "codec %s: there is nothing left to encode (an index over its codes: "
                          "its own codec with an index)", db->path, ci.spec);
        }
        free(own);
        if (rc != CVS_NOTFOUND)
            goto out;
    }
    if ((rc = cvs_db_info(db, &info)))
        goto out;
    a.total = info.count;
    a.opts = opts;
    rc = cvs__write(db, build_fn, &a);
out:
    cvs__codec_free(a.codec);
    cvs__ivf_params_free(a.ivf);
    return rc;
}

CVS_API int cvs_build_with_codec(cvs_db *db, const void *blob, size_t len,
                                 const cvs_build_opts *opts)
{
    return build_shared(db, blob, len, NULL, 0, opts, "cvs_build_with_codec");
}

/* ==== Sharing an IVF index's parameters ==== */

CVS_API int cvs_index_export(cvs_db *db, void **blob, size_t *len)
{
    MDB_txn *txn;
    MDB_val k = CVS__MKEY(CVS__META_IVF), v;
    cvs_ivf_params *p;
    cvs_codec *c;
    uint64_t gen;
    int rc, mrc;
    if (!db || !blob || !len)
        return cvs__err(CVS_EINVAL, "cvs_index_export: NULL argument");
    *blob = NULL;
    *len = 0;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    /* Decoding checks the stored value; a "meta/ivf" left from an older
     * generation is not the index in force (check reports it). */
    if ((rc = cvs__codec_for_txn(db, txn, &c, &gen)) ||
        (rc = cvs__ivf_params_for_txn(db, txn, &p)))
        goto out;
    if (!c || !p || p->gen != gen) {
        rc = cvs__err(CVS_NOTFOUND, "%s: no IVF index has been built (cvstore build --index "
                      "ivf)", db->path);
        goto out;
    }
    if ((mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v))) {
        rc = cvs__err_lmdb(mrc, "reading meta ivf");
        goto out;
    }
    if (!(*blob = malloc(v.mv_size ? v.mv_size : 1))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*blob, v.mv_data, v.mv_size);
    *len = v.mv_size;
out:
    cvs__read_end(db, txn);
    return rc;
}

CVS_API int cvs_build_with_index(cvs_db *db, const void *codec_blob, size_t codec_len,
                                 const void *index_blob, size_t index_len,
                                 const cvs_build_opts *opts)
{
    if (!index_blob)
        return cvs__err(CVS_EINVAL, "cvs_build_with_index: NULL argument");
    return build_shared(db, codec_blob, codec_len, index_blob, index_len, opts,
                        "cvs_build_with_index");
}

/* ==== The module (store/module.h) ==== */

/* Per write: the codec in force and scratch for one code. */
typedef struct codes_w {
    cvs_codec *codec;      /* the store's codec in this transaction, or NULL */
    uint8_t *code;         /* one code */
    size_t code_cap;
    float *tmp;            /* dim floats: an IVF residual */
    cvs_ivf_writer ivf;    /* IVF lists and log (index/ivf.c) */
} codes_w;

static int codes_write_begin(cvs__wctx *w, void *ws)
{
    codes_w *c = ws;
    cvs_db *db = w->db;
    int rc;
    c->codec = NULL;
    memset(&c->ivf, 0, sizeof c->ivf);
    if (w->op == CVS__WRITE_DELETE)
        return cvs__codes(db)->has_ivf_dbis ? cvs__ivf_writer_begin(db, w->txn, &c->ivf) : CVS_OK;
    /* Checked inside the write transaction, so a build by another process
     * is seen before anything is encoded with a stale codec. */
    if ((rc = cvs__codec_for_txn(db, w->txn, &c->codec, NULL)) || !c->codec)
        return rc;
    if (cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_writer_begin(db, w->txn, &c->ivf)))
        return rc;
    if (cvs__codec_code_size(c->codec) > c->code_cap) {
        uint8_t *p = realloc(c->code, cvs__codec_code_size(c->codec));
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory");
        c->code = p;
        c->code_cap = cvs__codec_code_size(c->codec);
    }
    if (!c->tmp && !(c->tmp = malloc((size_t)db->dim * sizeof *c->tmp)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (cvs__codes_only(db, c->codec))
        w->keep_raw = 0; /* the code is all a raw "none" store keeps */
    return CVS_OK;
}

static int codes_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    codes_w *c = ws;
    cvs_db *db = w->db;
    MDB_val k = {8, (void *)&r->key}, cv;
    int rc, mrc;
    if (!c->codec)
        return CVS_OK;
    if (c->ivf.p)
        return cvs__ivf_put(db, w->txn, &c->ivf, c->codec, r->key, r->existed, r->x, c->tmp,
                            c->code);
    if ((rc = cvs__codec_encode(c->codec, r->x, 1, c->code)))
        return rc;
    cv.mv_size = cvs__codec_code_size(c->codec);
    cv.mv_data = c->code;
    if ((mrc = cvs__vput(db, w->txn, cvs__codes(db)->dbi_codes, &k, &cv, 0)))
        return cvs__werr(mrc, "writing a code");
    return CVS_OK;
}

static int codes_del(cvs__wctx *w, void *ws, uint64_t key)
{
    codes_w *c = ws;
    MDB_val k = {8, &key};
    int rc, mrc;
    if ((rc = cvs__ivf_del(w->db, w->txn, &c->ivf, key)))
        return rc;
    if ((mrc = mdb_del(w->txn, cvs__codes(w->db)->dbi_codes, &k, NULL)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "deleting a record");
    return CVS_OK;
}

static int codes_write_end(cvs__wctx *w, void *ws)
{
    codes_w *c = ws;
    return cvs__ivf_writer_end(w->db, w->txn, &c->ivf);
}

static void codes_write_free(void *ws)
{
    codes_w *c = ws;
    free(c->code);
    free(c->tmp);
}

static int codes_holds_vectors(cvs_db *db, void *state, MDB_txn *txn, int *yes)
{
    cvs_codec *codec;
    int rc;
    (void)state;
    *yes = 0;
    if (db->raw != CVS_RAW_NONE)
        return CVS_OK;
    if ((rc = cvs__codec_for_txn(db, txn, &codec, NULL)))
        return rc;
    *yes = cvs__codes_only(db, codec);
    return CVS_OK;
}

/* A codes-only store: the vector is the code's reconstruction. */
static int codes_reconstruct(cvs_db *db, void *state, MDB_txn *txn, uint64_t key, float *out)
{
    struct cvs__codes_state *st = state;
    MDB_val k = {8, &key}, v;
    cvs_codec *codec;
    int rc, mrc;
    if ((rc = cvs__codec_for_txn(db, txn, &codec, NULL)))
        return rc;
    if (!codec)
        return CVS_NOTFOUND;
    if ((mrc = cvs__vget(db, txn, st->dbi_codes, &k, &v)))
        return mrc == MDB_NOTFOUND ? cvs__err(CVS_ECORRUPT, "key %llu has no code",
                                              (unsigned long long)key)
                                   : cvs__err_lmdb(mrc, "reading a code");
    if (v.mv_size != cvs__codec_code_size(codec))
        return cvs__err(CVS_ECORRUPT, "key %llu: code of %zu bytes", (unsigned long long)key,
                        v.mv_size);
    return cvs__codec_decode(codec, v.mv_data, 1, out);
}

/* ==== Check (docs/FORMAT.md, invariants of codes and lists) ==== */

typedef struct codes_chk {
    cvs_db *db;
    struct cvs__codes_state *st;
    size_t code_size;      /* 0: no codec */
    int unreadable;        /* 1: a codec this build cannot load (reported once) */
    uint32_t nlist;        /* 0: no IVF index */
    const struct cvs_ivf_params *ip; /* the IVF index, or NULL */
    float *tmp;            /* with stored SQ8 rows: dim floats */
    uint8_t *row;          /* and dim bytes */
} codes_chk;

static unsigned long long key_of(const MDB_val *k)
{
    return k->mv_size == 8 ? (unsigned long long)cvs__get_u64(k->mv_data) : 0;
}

static int check_code(cvs__chk *c, void *arg, const MDB_val *k, const MDB_val *v)
{
    codes_chk *cc = arg;
    cvs__chk_orphan(c, k, "codes");
    if (cc->unreadable)
        return CVS_OK; /* nothing to check a code against */
    if (cc->code_size == 0)
        cvs__chk_problem(c, "codes: key %llu has a code but the store has no codec", key_of(k));
    else if (v->mv_size != cc->code_size)
        cvs__chk_problem(c, "codes: key %llu has a code of %zu bytes, the codec's are %zu",
                         key_of(k), v->mv_size, cc->code_size);
    return CVS_OK;
}

static int check_list(cvs__chk *c, void *arg, const MDB_val *k, const MDB_val *v)
{
    codes_chk *cc = arg;
    cvs__chk_orphan(c, k, "lists");
    if (cc->nlist == 0)
        cvs__chk_problem(c, "lists: key %llu has a list but the store has no IVF index",
                         key_of(k));
    else if (v->mv_size != cvs__ivf_list_bytes(cc->ip) || cvs__get_u32(v->mv_data) >= cc->nlist)
        cvs__chk_problem(c, "lists: key %llu has a bad list id (%zu bytes, expected %zu)",
                         key_of(k), v->mv_size, cvs__ivf_list_bytes(cc->ip));
    else if (cc->ip->rows && k->mv_size == 8 &&
             /* The stored row is what a load would otherwise encode (a
              * missing or damaged vector is vecs' own problem). */
             cvs__ivf_vec_row(cc->db, cvs__chk_txn(c), cc->ip, key_of(k), cc->tmp,
                              cc->row) == CVS_OK &&
             memcmp(cc->row, (const unsigned char *)v->mv_data + 4, cc->ip->dim))
        cvs__chk_problem(c, "lists: key %llu (list %u): the SQ8 row differs from its "
                         "vector's (run cvstore build)", key_of(k), cvs__get_u32(v->mv_data));
    return CVS_OK;
}

/* In a codes-only store, every record has a code (its only vector). */
static int check_rec_code(cvs__chk *c, void *arg, const MDB_val *k, const MDB_val *v)
{
    codes_chk *cc = arg;
    MDB_val cv;
    const char *id;
    size_t len;
    int64_t cr, up;
    if (k->mv_size != 8 || cvs__rec_decode(v, &cr, &up, &id, &len) != CVS_OK)
        return CVS_OK; /* reported by the store's own check */
    if (cvs__vget(cc->db, cvs__chk_txn(c), cc->st->dbi_codes, (MDB_val *)k, &cv) != 0)
        cvs__chk_problem(c, "codes: \"%.*s\" (key %llu) has no code, and the store keeps "
                         "nothing else", (int)len, id, key_of(k));
    return CVS_OK;
}

static int codes_check(cvs_db *db, void *state, cvs__chk *c)
{
    codes_chk cc = {.db = db, .st = state};
    MDB_txn *txn = cvs__chk_txn(c);
    cvs_codec *codec = NULL;
    MDB_stat s_codes;
    uint64_t nrecs = cvs__chk_nrecs(c);
    int rc;
    if (cvs__codec_for_txn(db, txn, &codec, NULL) != CVS_OK) {
        /* Once, not once per code (a newer codec format, or damage). */
        cvs__chk_problem(c, "meta: the codec cannot be loaded, so the codes are not checked "
                         "against it: %s", cvs_errmsg(db));
        cc.unreadable = 1;
    } else if (codec)
        cc.code_size = cvs__codec_code_size(codec);
    if (mdb_stat(txn, cc.st->dbi_codes, &s_codes) == 0 && codec && s_codes.ms_entries != nrecs)
        cvs__chk_problem(c, "counts differ: %llu records but %zu codes",
                         (unsigned long long)nrecs, s_codes.ms_entries);
    if (cvs__codes_only(db, codec) &&
        (rc = cvs__chk_walk(c, db->dbi_recs, "recs", check_rec_code, &cc)))
        return rc;
    if ((rc = cvs__chk_walk(c, cc.st->dbi_codes, "codes", check_code, &cc)))
        return rc;
    if (cc.st->has_ivf_dbis) { /* invariant 8: the IVF lists (index/ivf.c) */
        struct cvs_ivf_params *ip = NULL;
        MDB_stat s_lists;
        if (cvs__ivf_params_for_txn(db, txn, &ip) != CVS_OK)
            cvs__chk_problem(c, "meta: the IVF index cannot be loaded: %s", cvs_errmsg(db));
        else if (ip)
            cc.nlist = ip->nlist;
        cc.ip = ip;
        if (ip && !codec && !cc.unreadable)
            cvs__chk_problem(c, "meta: an IVF index but no codec");
        if (mdb_stat(txn, cc.st->dbi_lists, &s_lists) == 0 && ip && s_lists.ms_entries != nrecs)
            cvs__chk_problem(c, "counts differ: %llu records but %zu list entries",
                             (unsigned long long)nrecs, s_lists.ms_entries);
        if (ip && ip->rows) {
            cc.tmp = malloc((size_t)db->dim * sizeof *cc.tmp);
            cc.row = malloc(db->dim);
            if (!cc.tmp || !cc.row) {
                free(cc.tmp);
                free(cc.row);
                return cvs__err(CVS_ENOMEM, "out of memory");
            }
        }
        rc = cvs__chk_walk(c, cc.st->dbi_lists, "lists", check_list, &cc);
        free(cc.tmp);
        free(cc.row);
        if (rc)
            return rc;
        /* Invariant 9: the index's generation and its log (index/ivf.c). */
        if (!cvs__chk_failed_values(c) &&
            (rc = cvs__ivf_check(db, txn, cvs__chk_problem_cb, c)))
            return rc;
    }
    return CVS_OK;
}

static void free_codec(void *c)
{
    cvs__codec_free(c);
}

static void free_params(void *p)
{
    cvs__ivf_params_free(p);
}

static int codes_attach(cvs_db *db, void *state)
{
    struct cvs__codes_state *st = state;
    (void)db;
    if (cvs__gencache_init(&st->codecs, free_codec) ||
        cvs__gencache_init(&st->ivf_params, free_params))
        return cvs__err(CVS_ENOMEM, "cannot make the codes module's locks");
    if (pthread_mutex_init(&st->scan_mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make the codes module's locks");
    st->scan_mu_ok = 1;
    if (pthread_mutex_init(&st->ivf_mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make the codes module's locks");
    st->ivf_mu_ok = 1;
    return CVS_OK;
}

static void codes_close(cvs_db *db, void *state)
{
    struct cvs__codes_state *st = state;
    if (st->scan_mu_ok && st->ivf_mu_ok) { /* else attach failed: nothing cached */
        cvs__codes_drop(db);
        cvs__ivf_drop(db);
    }
    cvs__gencache_destroy(&st->ivf_params);
    cvs__gencache_destroy(&st->codecs);
    if (st->scan_mu_ok)
        pthread_mutex_destroy(&st->scan_mu);
    if (st->ivf_mu_ok)
        pthread_mutex_destroy(&st->ivf_mu);
}

static const cvs__dbi_spec codes_dbis[] = {
    {"codes", MDB_INTEGERKEY, CVS__DBI_REQUIRED, offsetof(struct cvs__codes_state, dbi_codes), 0,
     CVS__SEAL_VALUES},
    /* Added after format 1's first release (without a version bump: older
     * cvstore ignores them); a store without them still has its codes. */
    {"lists", MDB_INTEGERKEY, CVS__DBI_OPTIONAL, offsetof(struct cvs__codes_state, dbi_lists),
     offsetof(struct cvs__codes_state, has_ivf_dbis), CVS__SEAL_VALUES},
    {"ivflog", MDB_INTEGERKEY, CVS__DBI_OPTIONAL | CVS__DBI_CHECK_OPENS,
     offsetof(struct cvs__codes_state, dbi_ivflog), offsetof(struct cvs__codes_state, has_ivf_dbis),
     CVS__SEAL_VALUES},
};

const cvs__module cvs__codes_module = {
    .version = CVS__MODULE_VERSION,
    .name = "codes",
    .dbis = codes_dbis,
    .ndbis = sizeof codes_dbis / sizeof codes_dbis[0],
    .state_size = sizeof(struct cvs__codes_state),
    .attach = codes_attach,
    .close = codes_close,
    .wstate_size = sizeof(codes_w),
    .write_begin = codes_write_begin,
    .put = codes_put,
    .del = codes_del,
    .write_end = codes_write_end,
    .write_free = codes_write_free,
    .holds_vectors = codes_holds_vectors,
    .reconstruct = codes_reconstruct,
    .check = codes_check,
};
