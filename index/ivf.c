/*
 * ivf.c -- an inverted-file (IVF) index over the compressed codes: the
 * stored parameters and the write side (build, put, delete).
 *
 * Method: IVFADC, Jégou, Douze & Schmid, "Product quantization for nearest
 * neighbor search" (TPAMI 2011, section 5).  A coarse k-means quantizer
 * splits the space into nlist cells; each record is stored in the list of
 * its nearest centroid, with a PQ code of its residual x - c (or of x
 * itself, "direct").  A query visits the nprobe lists whose centroids are
 * nearest and scores their codes by asymmetric distance; the best R
 * candidates are re-scored with the raw vectors (the "re-ranking" of Jégou,
 * Tavenard, Douze & Amsaleg, ICASSP 2011), read through LMDB's memory map.
 * 4-bit codes are scanned by the fast-scan kernel (André, Kermarrec & Le
 * Scouarnec, VLDB 2015) in 32-code blocks.
 *
 * Deviations:
 *  1. Residual or direct encoding is a per-build choice kept in the store.
 *     For ip/cosine, q.(c + r) = q.c + q.r, so one LUT per query serves
 *     every list even with residuals; for l2 a residual codec needs one LUT
 *     per probed list (of q - c).  Defaults, measured:
 *       - GloVe-100 (cosine, opq,pq50x4, 2334 lists), recall@10 at nprobe 64
 *         / rerank 100 and nprobe 128 / rerank 200: residual 0.907 and
 *         0.958, direct 0.865 and 0.935 (with --anisotropic 4: residual
 *         0.910 and 0.960, direct 0.893 and 0.948), at the same speed.
 *         Residual it is, for ip and cosine.
 *       - SIFT10K (l2, pq32x4, 251 lists): the same recall within 0.003 at
 *         every nprobe (0.963 / 0.962 at nprobe 16, rerank 100), but the
 *         per-list LUTs halve the speed (pq16x8: a fifth).  Direct for l2.
 *     Raw "none" stores always use direct codes, since their records are
 *     read back by decoding the code alone.
 *  2. Records are assigned to lists by squared L2 to the centroids for every
 *     metric (the k-means objective), but ip/cosine queries probe the lists
 *     with the largest q.c, as FAISS's IVF-IP does: with residual codes the
 *     score is q.c + q.r, so q.c is the part of the score a list shares.
 *     On GloVe-100 (nlist 1200, opq,pq50x4, 64 lists, rerank 150) that
 *     took recall@10 from 0.938 (probing by L2) to 0.945, and the ceiling
 *     at 64 lists from 0.948 to 0.955.
 *  3. Incremental, transactional maintenance: every put and delete after a
 *     build writes the record's list ("lists"), its code ("codes") and an
 *     entry in a change log ("ivflog": sequence -> key, list, op, code,
 *     writer's LMDB txnid) in the write's own transaction.  Each process's
 *     in-memory lists (ivf_lists.c) catch up from the log at search time, so
 *     a write in another process is seen by the next search of a snapshot
 *     that contains it; a process that fell further behind than the log
 *     keeps reloads from "lists" and "codes", which needs no retraining.
 *     The log keeps as many entries as the index holds records (at least
 *     CVS_IVF_LOG_MIN, at most CVS_IVF_LOG_KEEP): replaying more would
 *     cost more than that reload, and so deletes and re-imports leave no
 *     bloat behind (cvs__ivf_writer_end).
 *  4. The coarse quantizer is searched exactly (sgemm for the build's
 *     batches, our own AVX2 kernel for queries and single puts, see "Coarse
 *     products" below): at nlist = 2048, d = 100 that is 0.2 MFLOP per
 *     query, cheaper and simpler than a second-level quantizer or HNSW over
 *     the centroids, which only pay off beyond ~16K lists.  Measured on
 *     GloVe-100 (callgrind, one thread): 36,000 instructions a query at
 *     1,167 lists and 72,000 at 2,334, 7-14% of a query at the tuned
 *     settings (docs/BENCHMARKS.md, "Where a GloVe query's instructions
 *     go").
 *  5. ",sq8": the re-ranking of the paper reads each candidate's raw vector;
 *     on small stores those LMDB look-ups (a B-tree descent each, ~0.25 us
 *     on SIFT10K) were a third of a query.  With ",sq8" the index also
 *     holds one byte per dimension of every vector (the sq8 codec's rule,
 *     ranges from the training sample, stored in meta "ivf" version 3)
 *     and re-ranks from those: FAISS's IndexRefine with an SQ8 refine
 *     index, kept in memory.  The rows are stored too, after the list id
 *     of each "lists" value, so a process that opens the store copies
 *     them rather than reading and encoding every vector (about 0.25 s of
 *     CPU before the first answer on Fashion-MNIST's 60,000 x 784, where
 *     the search itself takes well under a millisecond; version 2
 *     indexes, written before, still do that until the next build; see
 *     docs/BENCHMARKS.md, "Time to the first answer").  Scores are then SQ8 distances, not exact
 *     ones.  It costs dim bytes per vector, so it is an option for small
 *     stores, not the default (see docs/BENCHMARKS.md for the numbers).
 *
 * Operating points measured while writing this (2-core shared VM, one
 * thread, 1000 GloVe-100 queries = every 341st word, removed from the base;
 * ground truth by exact inner product; QPS in thread CPU time when the
 * machine was loaded, wall time when it was quiet, the two agreeing then):
 *   opq,pq100x4 + ivf1200, nprobe 64, rerank 40-50: recall@10 0.953-0.954,
 *     3,000-3,500 QPS, 63 bytes/vector resident; build 20 s on 2 cores.
 *   opq,pq50x4 + ivf1200, nprobe 72-80, rerank 150: recall@10 0.950-0.955,
 *     2,400-2,800 QPS, 37 bytes/vector resident.
 *   opq,pq50x4 + ivf (2334 lists), nprobe 112, rerank 150: 0.951, 2,650 QPS.
 * Re-scoring the 2R best fast-scan candidates with the float LUT before
 * re-ranking was tried and changed recall by < 0.001: the byte-quantized
 * LUT is not what limits recall, the codes are.
 */
#include <immintrin.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "index/ivf.h"
#include "pq/codec.h"
#include "pq/kmeans.h"
#include "store/seal.h"

uint64_t cvs__ivf_log_keep = CVS_IVF_LOG_KEEP;

#define IVF_MAGIC "CVSIVF\0\0"
#define IVF_HDR 32 /* magic 8, version 4, dim 4, nlist 4, flags 4, gen 8 */

/* ==== Stored parameters ==== */

void cvs__ivf_params_free(cvs_ivf_params *p)
{
    if (!p)
        return;
    free(p->cent);
    free(p->cnorm);
    cvs__sq8_destroy(&p->sq);
    free(p);
}

static int params_decode(cvs_db *db, const MDB_val *v, cvs_ivf_params **out)
{
    const unsigned char *b = v->mv_data;
    cvs_ivf_params *p = NULL;
    uint32_t ver, dim, nlist, flags;
    size_t nf, rb;

    *out = NULL;
    if (v->mv_size < IVF_HDR || memcmp(b, IVF_MAGIC, 8) != 0)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf: bad magic or size", db->path);
    ver = cvs__get_u32(b + 8);
    dim = cvs__get_u32(b + 12);
    nlist = cvs__get_u32(b + 16);
    flags = cvs__get_u32(b + 20);
    if (ver < 1 || ver > 3)
        return cvs__err(CVS_EVERSION, "%s: meta ivf has version %u; this cvstore reads 1 to 3",
                        db->path, ver);
    if (dim != db->dim || nlist == 0 || nlist > CVS_IVF_MAX_NLIST || (flags & ~1u))
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf: bad dim/nlist/flags", db->path);
    nf = (size_t)nlist * dim;
    /* Versions 2 and 3 append the SQ8 re-ranking ranges: dim minima, dim
     * steps (3 also stores the rows, in "lists"). */
    rb = ver >= 2 ? (size_t)dim * 8 : 0;
    if (v->mv_size != IVF_HDR + nf * 4 + rb)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf has %zu bytes, expected %zu", db->path,
                        v->mv_size, IVF_HDR + nf * 4 + rb);
    if (!(p = calloc(1, sizeof *p)) || !(p->cent = malloc(nf * sizeof *p->cent)) ||
        !(p->cnorm = malloc(nlist * sizeof *p->cnorm))) {
        cvs__ivf_params_free(p);
        return cvs__err(CVS_ENOMEM, "out of memory for %u centroids", nlist);
    }
    p->gen = cvs__get_u64(b + 24);
    p->nlist = nlist;
    p->dim = dim;
    p->residual = flags & 1u;
    memcpy(p->cent, b + IVF_HDR, nf * 4);
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(p->cent[i])) {
            cvs__ivf_params_free(p);
            return cvs__err(CVS_ECORRUPT, "%s: meta ivf: a centroid is not finite", db->path);
        }
    if (rb) {
        int rc = cvs__sq8_alloc(&p->sq, dim);
        if (rc) {
            cvs__ivf_params_free(p);
            return rc;
        }
        memcpy(p->sq.vmin, b + IVF_HDR + nf * 4, (size_t)dim * 4);
        memcpy(p->sq.scale, b + IVF_HDR + nf * 4 + (size_t)dim * 4, (size_t)dim * 4);
        for (uint32_t t = 0; t < dim; t++)
            if (!isfinite(p->sq.vmin[t]) || !isfinite(p->sq.scale[t]) || p->sq.scale[t] < 0) {
                cvs__ivf_params_free(p);
                return cvs__err(CVS_ECORRUPT, "%s: meta ivf: bad SQ8 range", db->path);
            }
        p->refine = 1;
        p->rows = ver == 3;
    }
    cvs__row_norms(p->cent, nlist, dim, dim, p->cnorm);
    *out = p;
    return CVS_OK;
}

int cvs__ivf_params_from_blob(cvs_db *db, const void *blob, size_t len, cvs_ivf_params **out)
{
    MDB_val v = {len, (void *)blob};
    return params_decode(db, &v, out);
}

int cvs__ivf_params_for_txn(cvs_db *db, MDB_txn *txn, cvs_ivf_params **out)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF), v;
    cvs_ivf_params *p = NULL;
    uint64_t gen;
    int rc, mrc;

    *out = NULL;
    mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta ivf");
    if (v.mv_size < IVF_HDR)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf is truncated", db->path);
    gen = cvs__get_u64((const unsigned char *)v.mv_data + 24);
    if ((*out = cvs__gencache_get(&cvs__codes(db)->ivf_params, gen)))
        return CVS_OK;
    if ((rc = params_decode(db, &v, &p)))
        return rc;
    *out = cvs__gencache_offer(&cvs__codes(db)->ivf_params, gen, p);
    return CVS_OK;
}

int cvs__ivf_defaults(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, size_t *nprobe,
                      size_t *rerank)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF_DEFAULTS), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    /* Built-in defaults: nlist/16 lists (at least 8) and 100 candidates,
     * which on SIFT and GloVe sit near recall@10 0.9; cvs_tune or
     * cvs_index_set_defaults store better ones. */
    *nprobe = p->nlist / 16 < 8 ? 8 : p->nlist / 16;
    if (*nprobe > p->nlist)
        *nprobe = p->nlist;
    *rerank = 100;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta ivf_defaults");
    if (v.mv_size != 16)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf_defaults has %zu bytes", db->path, v.mv_size);
    if (cvs__get_u64(v.mv_data))
        *nprobe = (size_t)cvs__get_u64(v.mv_data);
    if (cvs__get_u64((const unsigned char *)v.mv_data + 8))
        *rerank = (size_t)cvs__get_u64((const unsigned char *)v.mv_data + 8);
    return CVS_OK;
}

/* The default exact re-score depth after SQ8 re-ranking (meta ivf_refine,
 * ivf_search.c deviation 6); absent = 0, none. */
int cvs__ivf_refine_default(cvs_db *db, MDB_txn *txn, size_t *refine)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF_REFINE), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *refine = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta ivf_refine");
    if (v.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "%s: meta ivf_refine has %zu bytes", db->path, v.mv_size);
    *refine = (size_t)cvs__get_u64(v.mv_data);
    return CVS_OK;
}

/* ==== Coarse products ====
 *
 * q.c for every centroid, by our own small kernel rather than OpenBLAS:
 * for one vector (a query, or a put) OpenBLAS's threads cost more in
 * wake-ups and yields than the 0.2 MFLOP of work, and on a loaded machine
 * their spinning made single-query search 5-10x slower.  Four centroids
 * per pass share each load of the query (AVX2 + FMA when the CPU has
 * them; CVSTORE_SIMD=scalar forces the plain loop). */

static void coarse_scalar(const float *q, const float *cent, size_t nlist, size_t dim, float *out)
{
    for (size_t l = 0; l < nlist; l++) {
        const float *c = cent + l * dim;
        float s = 0;
        for (size_t d = 0; d < dim; d++)
            s += q[d] * c[d];
        out[l] = s;
    }
}

/* The 4 sums of a[i]'s 8 lanes, as one vector (i = 0..3): three
 * horizontal adds and one cross-lane add where four separate reductions
 * took 7 instructions each. */
__attribute__((target("avx2,fma"))) static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2,
                                                              __m256 a3)
{
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Four centroids per pass share each load of the query.  The last dim % 8
 * dimensions are one masked load and multiply-add (a masked load reads
 * only the lanes it keeps: no read past a row), not a scalar loop per
 * centroid, and the four sums are reduced together (hsum4).  On GloVe-100
 * (100 dimensions) the scalar tail and four separate reductions were 75 of
 * the 186 instructions a group of four centroids cost; at 2,334 lists the
 * products went from 108,000 to 72,000 instructions a query.  The sums
 * come out in another order than the scalar loop's (the tests allow 1e-5
 * of sum |q_d c_d|), but the same for a centroid wherever it sits. */
__attribute__((target("avx2,fma"))) static void coarse_avx2(const float *q, const float *cent,
                                                            size_t nlist, size_t dim, float *out)
{
    const size_t d8 = dim & ~(size_t)7, r = dim - d8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 xt = _mm256_maskload_ps(q + d8, mask);
    size_t l = 0;
    for (; l + 4 <= nlist; l += 4) {
        const float *c0 = cent + l * dim, *c1 = c0 + dim, *c2 = c1 + dim, *c3 = c2 + dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#pragma GCC unroll 4
        for (size_t d = 0; d < d8; d += 8) {
            __m256 x = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(c0 + d), a0);
            a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(c1 + d), a1);
            a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(c2 + d), a2);
            a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(c3 + d), a3);
        }
        if (r) {
            a0 = _mm256_fmadd_ps(xt, _mm256_maskload_ps(c0 + d8, mask), a0);
            a1 = _mm256_fmadd_ps(xt, _mm256_maskload_ps(c1 + d8, mask), a1);
            a2 = _mm256_fmadd_ps(xt, _mm256_maskload_ps(c2 + d8, mask), a2);
            a3 = _mm256_fmadd_ps(xt, _mm256_maskload_ps(c3 + d8, mask), a3);
        }
        _mm_storeu_ps(out + l, hsum4(a0, a1, a2, a3));
    }
    for (; l < nlist; l++) { /* the last nlist % 4, one at a time */
        const float *c = cent + l * dim;
        __m256 a = _mm256_setzero_ps(), z = a;
        for (size_t d = 0; d < d8; d += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(c + d), a);
        if (r)
            a = _mm256_fmadd_ps(xt, _mm256_maskload_ps(c + d8, mask), a);
        out[l] = _mm_cvtss_f32(hsum4(a, z, z, z));
    }
}

void cvs__ivf_dots_with(const float *q, size_t nq, const float *cent, size_t nlist, size_t dim,
                        float *out, int avx2)
{
    /* Blocks of centroids of ~64 KiB (an L2-resident slice) are scored
     * against every query before moving on, so the centroids stream from
     * memory once per batch rather than once per query: Fashion-MNIST's
     * 979 x 784 (3 MB) made the coarse step a third of a query's time.
     * Each product is summed as in the one-query kernel, so results do not
     * depend on the batch. */
    const size_t cb = dim > 4096 ? 4 : (16384 / dim) & ~(size_t)3;
    for (size_t l0 = 0; l0 < nlist; l0 += cb) {
        const size_t nb = nlist - l0 < cb ? nlist - l0 : cb;
        for (size_t i = 0; i < nq; i++) {
            if (avx2)
                coarse_avx2(q + i * dim, cent + l0 * dim, nb, dim, out + i * nlist + l0);
            else
                coarse_scalar(q + i * dim, cent + l0 * dim, nb, dim, out + i * nlist + l0);
        }
    }
}

void cvs__ivf_dots(const float *q, size_t nq, const float *cent, size_t nlist, size_t dim,
                   float *out)
{
    cvs__ivf_dots_with(q, nq, cent, nlist, dim, out, cvs__simd_avx2());
}

int cvs__ivf_assign(const cvs_ivf_params *p, const float *x, size_t n, int32_t *list)
{
    float *qc;
    if (n > 16) /* batches (builds): one sgemm per block */
        return cvs__kmeans_assign(x, n, p->dim, p->dim, p->cent, p->nlist, p->cnorm, list, NULL);
    /* List 0 (one that exists) after a failure too: the output is defined
     * on every path of the one-vector calls a put makes. */
    memset(list, 0, n * sizeof *list);
    if (!(qc = malloc(p->nlist * sizeof *qc)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        float best = INFINITY;
        cvs__ivf_dots(x + i * p->dim, 1, p->cent, p->nlist, p->dim, qc);
        for (size_t l = 0; l < p->nlist; l++) {
            float d = p->cnorm[l] - 2.0f * qc[l];
            if (d < best) {
                best = d;
                list[i] = (int32_t)l;
            }
        }
    }
    free(qc);
    return CVS_OK;
}

/* ==== Build ==== */

int cvs__ivf_parse_spec(const char *index, uint64_t n, size_t *nlist, int *residual,
                        int *refine)
{
    char buf[64], *s = buf, *comma, *end;
    unsigned long v;

    *nlist = 0;
    *residual = -1;
    *refine = 0;
    if (!index || !*index)
        return CVS_OK;
    /* Every spec that is not another kind's ends here (cvs_build sends
     * faiss:, qg and auto elsewhere first), so the message names them all:
     * a user who typed "hnsw" learns of faiss:HNSW32, not only of ivf. */
    if (strlen(index) >= sizeof buf || strncmp(index, "ivf", 3) != 0)
        return cvs__err(CVS_EINVAL, "index \"%s\": expected ivf or ivfN (with ,residual or "
                        ",direct and/or ,sq8), qg, faiss:FACTORY (e.g. faiss:HNSW32, "
                        "faiss:IVF1024,PQ32x4fs) or auto", index);
    strcpy(buf, index);
    for (char *opt = (comma = strchr(buf, ',')) ? comma + 1 : NULL; opt;) {
        char *next = strchr(opt, ',');
        if (next)
            *next++ = 0;
        if (strcmp(opt, "residual") == 0 && *residual < 0)
            *residual = 1;
        else if (strcmp(opt, "direct") == 0 && *residual < 0)
            *residual = 0;
        else if (strcmp(opt, "sq8") == 0 && !*refine)
            *refine = 1;
        else
            return cvs__err(CVS_EINVAL, "index \"%s\": expected ,residual or ,direct and/or "
                            ",sq8 after the list count", index);
        opt = next;
    }
    if (comma)
        *comma = 0;
    s += 3;
    if (*s == 0) {
        /* About 4 sqrt(n) lists, at least 16, and at least 39 records per
         * list (FAISS's warning threshold for training k-means). */
        double d = 4.0 * sqrt((double)n);
        size_t cap = (size_t)(n / 39);
        size_t l = (size_t)d;
        if (l < 16)
            l = 16;
        if (l > cap)
            l = cap;
        if (l > CVS_IVF_MAX_NLIST)
            l = CVS_IVF_MAX_NLIST;
        *nlist = l ? l : 1;
        return CVS_OK;
    }
    if (*s < '1' || *s > '9')
        return cvs__err(CVS_EINVAL, "index \"%s\": expected ivf or ivfN", index);
    v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > CVS_IVF_MAX_NLIST)
        return cvs__err(CVS_EINVAL, "index \"%s\": N must be 1..%d", index, CVS_IVF_MAX_NLIST);
    *nlist = v;
    return CVS_OK;
}

typedef struct bridge {
    cvs_progress_fn fn;
    void *ctx;
} bridge;

static void kmeans_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    bridge *b = ctx;
    b->fn(b->ctx, phase, done, total, 0, 0);
}

int cvs__ivf_train(cvs_db *db, float *x, size_t n, size_t nlist, int residual, int refine,
                   uint64_t seed, cvs_progress_fn progress, void *ctx, cvs_ivf_params **out)
{
    cvs__kmeans_opts ko = {0};
    bridge br = {progress, ctx};
    cvs_ivf_params *p = NULL;
    int32_t *assign = NULL;
    int rc;

    *out = NULL;
    if (!(p = calloc(1, sizeof *p)) || !(p->cent = malloc(nlist * db->dim * sizeof *p->cent)) ||
        !(p->cnorm = malloc(nlist * sizeof *p->cnorm)) || !(assign = malloc(n * sizeof *assign))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu centroids", nlist);
        goto out;
    }
    p->nlist = (uint32_t)nlist;
    p->dim = db->dim;
    p->residual = residual;
    /* 12 Lloyd iterations: the coarse quantizer only has to spread the
     * records evenly; more iterations barely move recall (FAISS uses 10). */
    ko.iters = 12;
    ko.seed = seed ^ 0x697666ull; /* "ivf" */
    ko.phase = "coarse";
    if (progress) {
        ko.progress = kmeans_progress;
        ko.progress_ctx = &br;
    }
    if ((rc = cvs__kmeans(x, n, db->dim, db->dim, nlist, &ko, p->cent, assign, NULL)))
        goto out;
    cvs__row_norms(p->cent, nlist, db->dim, db->dim, p->cnorm);
    if (refine && (rc = cvs__sq8_train(&p->sq, x, n, db->dim)))
        goto out;
    p->refine = refine;
    if (residual)
        for (size_t i = 0; i < n; i++) {
            const float *c = p->cent + (size_t)assign[i] * db->dim;
            float *xi = x + i * db->dim;
            for (uint32_t d = 0; d < db->dim; d++)
                xi[d] -= c[d];
        }
    *out = p;
    p = NULL;
out:
    cvs__ivf_params_free(p);
    free(assign);
    return rc;
}

static int meta_put(cvs_db *db, MDB_txn *txn, const char *name, const void *data, size_t len)
{
    MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)data};
    int mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0);
    return mrc ? cvs__werr(mrc, "writing meta") : CVS_OK;
}

int cvs__ivf_build_begin(cvs_db *db, MDB_txn *txn, cvs_ivf_params *p, uint64_t gen)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF), dk = CVS__MKEY(CVS__META_IVF_DEFAULTS),
           rk = CVS__MKEY(CVS__META_IVF_REFINE);
    unsigned char *blob = NULL;
    size_t nf, rb;
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_drop(txn, cvs__codes(db)->dbi_lists, 0)) || (mrc = mdb_drop(txn, cvs__codes(db)->dbi_ivflog, 0)))
        return cvs__werr(mrc, "clearing the old lists");
    /* Defaults tuned for the old lists do not carry over. */
    if ((mrc = cvs__vdel(db, txn, db->dbi_meta, &dk, NULL)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "clearing ivf_defaults");
    if ((mrc = cvs__vdel(db, txn, db->dbi_meta, &rk, NULL)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "clearing ivf_refine");
    if (!p) {
        if ((mrc = cvs__vdel(db, txn, db->dbi_meta, &k, NULL)) && mrc != MDB_NOTFOUND)
            return cvs__werr(mrc, "removing the index");
        return CVS_OK;
    }
    p->gen = gen;
    /* The rows go into "lists" with the build (version 3), even when p
     * came from a version 2 blob (cvs_build_with_index): a store rebuilt
     * by this cvstore never encodes its rows on load again. */
    p->rows = p->refine;
    nf = (size_t)p->nlist * p->dim;
    /* Version 1 without SQ8 ranges, so such stores stay readable by older
     * cvstore versions. */
    rb = p->refine ? (size_t)p->dim * 8 : 0;
    if (!(blob = malloc(IVF_HDR + nf * 4 + rb)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    memcpy(blob, IVF_MAGIC, 8);
    cvs__put_u32(blob + 8, p->refine ? 3 : 1);
    cvs__put_u32(blob + 12, p->dim);
    cvs__put_u32(blob + 16, p->nlist);
    cvs__put_u32(blob + 20, p->residual ? 1u : 0u);
    cvs__put_u64(blob + 24, gen);
    memcpy(blob + IVF_HDR, p->cent, nf * 4);
    if (rb) {
        memcpy(blob + IVF_HDR + nf * 4, p->sq.vmin, rb / 2);
        memcpy(blob + IVF_HDR + nf * 4 + rb / 2, p->sq.scale, rb / 2);
    }
    rc = meta_put(db, txn, CVS__META_IVF, blob, IVF_HDR + nf * 4 + rb);
    free(blob);
    return rc;
}

/* Writes key's "lists" value: its list, then its row when rows are stored
 * (row NULL: the row of x, tmp dim floats of scratch). */
static int list_put(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, uint64_t key,
                    uint32_t list, const uint8_t *row, const float *x, float *tmp,
                    unsigned flags)
{
    MDB_val k = {8, &key}, v = {cvs__ivf_list_bytes(p), NULL};
    int mrc;
    if ((mrc = cvs__vreserve(db, txn, cvs__codes(db)->dbi_lists, &k, &v, flags)))
        return cvs__werr(mrc, "writing a list assignment");
    cvs__put_u32(v.mv_data, list);
    if (p->rows && row)
        memcpy((unsigned char *)v.mv_data + 4, row, p->dim);
    else if (p->rows)
        cvs__ivf_row(db, p, x, tmp, (uint8_t *)v.mv_data + 4);
    if ((mrc = cvs__vreserve_done(db, txn, cvs__codes(db)->dbi_lists, &k, &v, flags)))
        return cvs__werr(mrc, "writing a list assignment");
    return CVS_OK;
}

int cvs__ivf_build_put(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, uint64_t key,
                       uint32_t list, const uint8_t *row)
{
    if (p->rows && !row)
        return cvs__err(CVS_EINTERNAL, "cvs__ivf_build_put: no SQ8 row for key %llu",
                        (unsigned long long)key);
    /* Keys arrive ascending into an emptied database. */
    return list_put(db, txn, p, key, list, row, NULL, NULL, MDB_APPEND);
}

void cvs__ivf_row(const cvs_db *db, const cvs_ivf_params *p, const float *x, float *tmp,
                  uint8_t *row)
{
    /* What a load of a version 2 index encodes is the vector read back
     * from "vecs"; a put's x is that before f16 rounding, so round it the
     * same way (the scalar conversion gives the same bits as the F16C one,
     * tests/test_store.c) and version 2 and 3 rows agree byte for byte. */
    if (db->raw == CVS_RAW_F16) {
        for (uint32_t d = 0; d < p->dim; d++)
            tmp[d] = cvs__f16_to_f32_scalar1(cvs__f32_to_f16_scalar1(x[d]));
        x = tmp;
    }
    cvs__sq8_encode(&p->sq, x, 1, row);
}

int cvs__ivf_vec_row(cvs_db *db, MDB_txn *txn, const cvs_ivf_params *p, uint64_t key,
                     float *tmp, uint8_t *row)
{
    MDB_val k = {8, &key}, v;
    int mrc = cvs__vget(db, txn, db->dbi_vecs, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_NOTFOUND;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading a vector for its SQ8 code");
    if (v.mv_size != cvs__vec_bytes(db))
        return cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check", v.mv_size);
    cvs__decode_vec(db, v.mv_data, tmp);
    cvs__sq8_encode(&p->sq, tmp, 1, row);
    return CVS_OK;
}

/* ==== Write hooks ==== */

int cvs__ivf_writer_begin(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF_SEQ), v;
    int rc, mrc;
    memset(w, 0, sizeof *w);
    if ((rc = cvs__ivf_params_for_txn(db, txn, &w->p)) || !w->p)
        return rc;
    mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc == 0 && v.mv_size == 8)
        w->seq = cvs__get_u64(v.mv_data);
    else if (mrc && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading ivf_seq");
    w->seq0 = w->seq;
    w->txnid = (uint64_t)mdb_txn_id(txn);
    return CVS_OK;
}

static int log_append(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, uint64_t key, uint32_t list,
                      int op, const uint8_t *code, size_t cs)
{
    uint64_t seq = ++w->seq;
    MDB_val k = {8, &seq}, v = {CVS_IVF_LOG_FIXED + (code ? cs : 0), NULL};
    unsigned char *b;
    int mrc;
    if ((mrc = cvs__vreserve(db, txn, cvs__codes(db)->dbi_ivflog, &k, &v, MDB_APPEND)))
        return cvs__werr(mrc, "writing the index log");
    b = v.mv_data;
    cvs__put_u64(b, key);
    cvs__put_u64(b + 8, w->txnid);
    cvs__put_u32(b + 16, list);
    b[20] = (unsigned char)op;
    if (code)
        memcpy(b + CVS_IVF_LOG_FIXED, code, cs);
    if ((mrc = cvs__vreserve_done(db, txn, cvs__codes(db)->dbi_ivflog, &k, &v, MDB_APPEND)))
        return cvs__werr(mrc, "writing the index log");
    return CVS_OK;
}

/* Logs the deletion of key's current entry, if it has one, and removes its
 * list assignment. */
static int del_entry(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, uint64_t key, int remove)
{
    MDB_val k = {8, &key}, v;
    uint32_t list;
    int rc, mrc = cvs__vget(db, txn, cvs__codes(db)->dbi_lists, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__werr(mrc, "reading a list assignment");
    if (v.mv_size != cvs__ivf_list_bytes(w->p))
        return cvs__err(CVS_ECORRUPT, "lists: the entry of key %llu has %zu bytes, expected %zu; "
                        "run cvstore check", (unsigned long long)key, v.mv_size,
                        cvs__ivf_list_bytes(w->p));
    list = cvs__get_u32(v.mv_data);
    if ((rc = log_append(db, txn, w, key, list, CVS_IVF_OP_DEL, NULL, 0)))
        return rc;
    if (remove && (mrc = cvs__vdel(db, txn, cvs__codes(db)->dbi_lists, &k, NULL)))
        return cvs__werr(mrc, "removing a list assignment");
    return CVS_OK;
}

int cvs__ivf_put(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, const cvs_codec *codec,
                 uint64_t key, int existed, const float *x, float *tmp, uint8_t *code)
{
    cvs_ivf_params *p = w->p;
    size_t cs = cvs__codec_code_size(codec);
    int32_t list;
    uint32_t l32;
    MDB_val k = {8, &key}, cv = {cs, code};
    int rc, mrc;

    if ((rc = cvs__ivf_assign(p, x, 1, &list)))
        return rc;
    l32 = (uint32_t)list;
    if (existed && (rc = del_entry(db, txn, w, key, 0)))
        return rc;
    /* Before x becomes the residual: the row is of the vector itself. */
    if ((rc = list_put(db, txn, p, key, l32, NULL, x, tmp, 0)))
        return rc;
    if (p->residual) {
        const float *c = p->cent + (size_t)list * p->dim;
        for (uint32_t d = 0; d < p->dim; d++)
            tmp[d] = x[d] - c[d];
        x = tmp;
    }
    if ((rc = cvs__codec_encode(codec, x, 1, code)))
        return rc;
    if ((mrc = cvs__vput(db, txn, cvs__codes(db)->dbi_codes, &k, &cv, 0)))
        return cvs__werr(mrc, "writing a code");
    return log_append(db, txn, w, key, l32, CVS_IVF_OP_ADD, code, cs);
}

int cvs__ivf_del(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w, uint64_t key)
{
    return w->p ? del_entry(db, txn, w, key, 1) : CVS_OK;
}

int cvs__ivf_writer_end(cvs_db *db, MDB_txn *txn, cvs_ivf_writer *w)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t seq = w->seq, budget;
    int rc = CVS_OK, mrc;
    MDB_stat st;
    uint64_t keep;

    if (!w->p || w->seq == w->seq0)
        return CVS_OK;
    if ((rc = meta_put(db, txn, CVS__META_IVF_SEQ, &seq, 8)))
        return rc;
    /* How much log to keep (deviation 3): a process whose in-memory lists
     * are further behind than the log reloads them from "lists" and
     * "codes", one entry per record of the index, so replaying a log
     * longer than the index holds records costs more than that reload and
     * buys nothing; a log of at most max(records, CVS_IVF_LOG_MIN) entries
     * stays as large as the live set, whatever the churn.  Capped by
     * cvs__ivf_log_keep.  Correctness never depends on the log's length
     * (a process that finds a gap reloads), so LMDB's reader table, which
     * says which snapshots are open but not how far each process's lists
     * have applied the log, does not enter into it. */
    if ((mrc = mdb_stat(txn, cvs__codes(db)->dbi_lists, &st)))
        return cvs__werr(mrc, "counting the index's records");
    keep = st.ms_entries > CVS_IVF_LOG_MIN ? st.ms_entries : CVS_IVF_LOG_MIN;
    if (keep > cvs__ivf_log_keep)
        keep = cvs__ivf_log_keep;
    if (seq <= keep)
        return CVS_OK;
    /* Trim: twice the entries just written, so the log stays bounded
     * without one write paying for a long backlog. */
    budget = 2 * (w->seq - w->seq0) + 64;
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_ivflog, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    while (budget-- && (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST)) == 0 &&
           cvs__get_u64(k.mv_data) + keep < seq)
        if ((mrc = mdb_cursor_del(cur, 0)))
            break;
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__werr(mrc, "trimming the index log");
    mdb_cursor_close(cur);
    return rc;
}

/* ==== Public: information and defaults ==== */

static uint64_t dbi_bytes(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    if (mdb_stat(txn, dbi, &st))
        return 0;
    return (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

int cvs__ivf_get_info(cvs_db *db, cvs_index_info *info)
{
    cvs_txn *t = NULL;
    cvs_codec *codec;
    cvs_ivf_params *p = NULL;
    cvs_ivf *ix = NULL;
    MDB_stat st;
    MDB_val k = CVS__MKEY(CVS__META_IVF), v;
    int rc, mrc;

    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_index_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    if ((rc = cvs_txn_begin(db, &t)))
        return rc;
    if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
        goto out;
    if (cvs__codes(db)->has_ivf_dbis && (rc = cvs__ivf_params_for_txn(db, t->txn, &p)))
        goto out;
    if (!codec || !p) {
        rc = cvs__err(CVS_NOTFOUND, "%s: no ANN index has been built (cvstore build --index ivf)",
                      db->path);
        goto out;
    }
    snprintf(info->spec, sizeof info->spec, "ivf%u%s", p->nlist, p->refine ? ",sq8" : "");
    info->nlist = p->nlist;
    info->residual = p->residual;
    if ((rc = cvs__ivf_defaults(db, t->txn, p, &info->nprobe, &info->rerank)))
        goto out;
    if (info->rerank == CVS_RERANK_NONE)
        info->rerank = 0;
    if (p->refine && (rc = cvs__ivf_refine_default(db, t->txn, &info->refine)))
        goto out;
    if ((mrc = mdb_stat(t->txn, cvs__codes(db)->dbi_lists, &st))) {
        rc = cvs__err_lmdb(mrc, "counting list entries");
        goto out;
    }
    info->count = st.ms_entries;
    info->disk_bytes = dbi_bytes(t->txn, cvs__codes(db)->dbi_lists) + dbi_bytes(t->txn, cvs__codes(db)->dbi_codes) +
                       dbi_bytes(t->txn, cvs__codes(db)->dbi_ivflog);
    if (cvs__vget(db, t->txn, db->dbi_meta, &k, &v) == 0)
        info->disk_bytes += v.mv_size;
    if ((rc = cvs__ivf_acquire(db, t->txn, p, codec, &ix)))
        goto out;
    info->mem_bytes = cvs__ivf_mem_bytes(ix);
    cvs__ivf_release(db, ix);
out:
    cvs_txn_end(t);
    return rc;
}

typedef struct defaults_arg {
    size_t nprobe, rerank;
} defaults_arg;

/* The index txn sees, for a write that changes its stored search setting. */
static int built_params(cvs_db *db, MDB_txn *txn, cvs_ivf_params **p)
{
    int rc = cvs__ivf_params_for_txn(db, txn, p);
    if (rc == CVS_OK && !*p)
        rc = cvs__err(CVS_NOTFOUND, "%s: no ANN index has been built (cvstore build --index ivf)",
                      db->path);
    return rc;
}

/* Whether a stored search setting can be written at all. */
static int settable(cvs_db *db)
{
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if (!cvs__codes(db)->has_ivf_dbis)
        return cvs__err(CVS_NOTFOUND, "%s: no ANN index has been built", db->path);
    return CVS_OK;
}

static int defaults_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    defaults_arg *a = arg;
    MDB_val k = CVS__MKEY(CVS__META_IVF_DEFAULTS), v;
    cvs_ivf_params *p;
    uint64_t cur[2] = {0, 0};
    unsigned char buf[16];
    int rc, mrc;

    if ((rc = built_params(db, txn, &p)))
        return rc;
    if ((mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v)) == 0 && v.mv_size == 16) {
        cur[0] = cvs__get_u64(v.mv_data);
        cur[1] = cvs__get_u64((const unsigned char *)v.mv_data + 8);
    } else if (mrc && mrc != MDB_NOTFOUND) {
        return cvs__werr(mrc, "reading ivf_defaults");
    }
    if (a->nprobe)
        cur[0] = a->nprobe < p->nlist ? a->nprobe : p->nlist;
    if (a->rerank)
        cur[1] = a->rerank;
    cvs__put_u64(buf, cur[0]);
    cvs__put_u64(buf + 8, cur[1]);
    return meta_put(db, txn, CVS__META_IVF_DEFAULTS, buf, 16);
}

int cvs__ivf_set_defaults(cvs_db *db, size_t nprobe, size_t rerank)
{
    defaults_arg a = {nprobe, rerank};
    int rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_index_set_defaults: NULL argument");
    return (rc = settable(db)) ? rc : cvs__write(db, defaults_fn, &a);
}

static int refine_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF_REFINE);
    cvs_ivf_params *p;
    unsigned char buf[8];
    int rc, mrc;

    if ((rc = built_params(db, txn, &p)))
        return rc;
    if (*(const size_t *)arg == 0) { /* none: the absent key says so */
        mrc = cvs__vdel(db, txn, db->dbi_meta, &k, NULL);
        return mrc && mrc != MDB_NOTFOUND ? cvs__werr(mrc, "clearing ivf_refine") : CVS_OK;
    }
    cvs__put_u64(buf, (uint64_t)*(const size_t *)arg);
    return meta_put(db, txn, CVS__META_IVF_REFINE, buf, 8);
}

int cvs__ivf_set_refine(cvs_db *db, size_t refine)
{
    int rc;
    return (rc = settable(db)) ? rc : cvs__write(db, refine_fn, &refine);
}

/* ==== Check (docs/FORMAT.md, invariant 9) ==== */

static void ivf_problem(void (*problem)(void *, const char *), void *ctx, const char *fmt, ...)
    CVS_PRINTF(3, 4);
static void ivf_problem(void (*problem)(void *, const char *), void *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    problem(ctx, msg);
}

/* What the codes module's check does not see of invariant 9: the index belongs to the
 * codec in force, and the change log is what the writers leave (empty
 * without an index; else numbered up to ivf_seq, each entry a well-formed
 * add or delete).  The lists themselves are checked by codes_check (index/codes.c). */
int cvs__ivf_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                   void *ctx)
{
    MDB_val k = CVS__MKEY(CVS__META_IVF), v, sk = CVS__MKEY(CVS__META_IVF_SEQ), sv;
    cvs_ivf_params *p = NULL;
    cvs_codec *codec = NULL;
    uint64_t cgen = 0, seq = 0, nlog = 0;
    MDB_cursor *cur;
    cvs__scan scan = {0};
    size_t cs = 0;
    int have, mrc;

    if (!cvs__codes(db)->has_ivf_dbis)
        return CVS_OK;
    have = cvs__vget(db, txn, db->dbi_meta, &k, &v) == 0;
    /* A blob that does not load is reported by codes_check (index/codes.c). */
    if (have && cvs__ivf_params_for_txn(db, txn, &p) == CVS_OK && p &&
        cvs__codec_for_txn(db, txn, &codec, &cgen) == CVS_OK && codec) {
        cs = cvs__codec_code_size(codec);
        if (p->gen != cgen)
            ivf_problem(problem, ctx, "meta: the IVF index was built for codec generation %llu "
                        "but the codec is generation %llu (run cvstore build)",
                        (unsigned long long)p->gen, (unsigned long long)cgen);
    }
    mrc = cvs__vget(db, txn, db->dbi_meta, &sk, &sv);
    if (mrc == 0 && sv.mv_size == 8)
        seq = cvs__get_u64(sv.mv_data);
    else if (mrc == 0)
        ivf_problem(problem, ctx, "meta: ivf_seq has %zu bytes (expected 8)", sv.mv_size);
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_ivflog, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        const unsigned char *b = v.mv_data;
        unsigned long long n = k.mv_size == 8 ? cvs__get_u64(k.mv_data) : 0;
        nlog++;
        if (!have)
            continue;
        if (k.mv_size != 8 || n > seq)
            ivf_problem(problem, ctx, "ivflog: entry %llu (key of %zu bytes) is beyond ivf_seq "
                        "%llu", n, k.mv_size, (unsigned long long)seq);
        if (v.mv_size < CVS_IVF_LOG_FIXED ||
            (b[20] != CVS_IVF_OP_ADD && b[20] != CVS_IVF_OP_DEL))
            ivf_problem(problem, ctx, "ivflog: entry %llu is not an add or a delete (%zu bytes, "
                        "op %d)", n, v.mv_size, v.mv_size < CVS_IVF_LOG_FIXED ? -1 : b[20]);
        else if (p && cvs__get_u32(b + 16) >= p->nlist)
            ivf_problem(problem, ctx, "ivflog: entry %llu names list %u of %u", n,
                        cvs__get_u32(b + 16), p->nlist);
        else if (cs && v.mv_size != CVS_IVF_LOG_FIXED + (b[20] == CVS_IVF_OP_ADD ? cs : 0))
            ivf_problem(problem, ctx, "ivflog: entry %llu has %zu bytes; a%s carries %zu", n,
                        v.mv_size, b[20] == CVS_IVF_OP_ADD ? "n add" : " delete",
                        CVS_IVF_LOG_FIXED + (b[20] == CVS_IVF_OP_ADD ? cs : 0));
    }
    mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    if (mrc != MDB_NOTFOUND)
        return cvs__err_lmdb(mrc, "walking ivflog");
    if (!have && nlog)
        ivf_problem(problem, ctx, "ivflog: %llu entries but the store has no IVF index",
                    (unsigned long long)nlog);
    return CVS_OK;
}
