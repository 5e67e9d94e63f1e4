/*
 * qg_store.c -- the quantized graph (index/qg.c) kept in the store:
 * `cvstore build DB CODEC --index qg` builds it, CVS_SEARCH_ANN searches
 * it, puts and deletes after the build are caught by dirty marks, and
 * `cvstore check` verifies it.
 *
 * What is stored (docs/FORMAT.md, "meta/qg"): the graph's node -> key
 * table, its neighbour lists, its entry node, the SQ8 quantizer of the
 * re-ranking rows and (blob version 2) the rows themselves, in one meta
 * value; nothing of the codes or vectors, which the store already holds.
 * Loading rebuilds the in-memory records (each node's neighbours' codes
 * as a fast-scan block) from the codes of the snapshot, read in one walk
 * of "codes" in key order, once per build generation ("qg_gen"), shared
 * by every search of the handle.  The rows are copied from the blob:
 * encoding them from the vectors (version 1 blobs, which still load that
 * way) read every vector at random before a process's first answer, the
 * cost the IVF index's stored rows remove too (index/ivf_lists.c).
 *
 * Records written after the build are handled as the FAISS index handles
 * them (index/faiss_index.c): every put and delete marks its key in the
 * same transaction ("qg/d" + key), a search drops marked keys from the
 * graph's answer and scores the marked records that still exist exactly,
 * from their raw vectors, and merges the two; the next build folds them
 * in.  A deleted record is thus never returned and a new one always found,
 * at a cost that grows with the marks.
 *
 * Deviations from how the other indexes are built:
 *  1. The whole build -- reading the vectors and codes, the graph, the
 *     write -- runs inside one write transaction, so no record written
 *     meanwhile can be missed (the writers wait; readers do not).  The
 *     price: other writers wait for the build, and a map that must grow
 *     runs the build again (the store's re-run rule).
 *  2. A deleted key at or above "qg_next" (the first key after the build)
 *     was never in the graph, so its mark is dropped rather than kept.
 *  3. A build that made its own codec first refuses to write the graph
 *     (CVS_ECONFLICT) when another build's codec replaced it meanwhile,
 *     as a FAISS build does (faiss_index.c, "Builds of other kinds"): the
 *     store keeps what that build wrote, not a mix.
 *  4. Re-ranking (rerank R) reads the stored vectors of the graph's best R
 *     by SQ8 row, but only while a row distance is within 2e of the k-th
 *     best (e the SQ8 rows' largest possible error, sq8_radius): past
 *     that, a candidate provably cannot enter the top k, so reading it
 *     changes nothing.  The bound is RaBitQ's re-ranking rule (Gao & Long
 *     2024; ivf_search.c deviation 4) with the rows' deterministic error
 *     bound in place of a probabilistic one; R is then a cap.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/heap.h"
#include "index/codes.h"
#include "index/faiss_index.h"
#include "index/marks.h"
#include "index/qg.h"
#include "index/qg_store.h"
#include "pq/codec.h"
#include "store/meta_keys.h"
#include "store/seal.h"

#define QG_MAGIC "CVSQG\0\0\1"
#define QG_VERSION 2u /* 1: no rows, encoded from "vecs" on load; still read */
#define QG_HEAD 40 /* magic, version, R, dim, entry, n, codec generation */
#define DEF_EF 32
#define DEF_RERANK CVS_RERANK_NONE /* the SQ8 rows' distances are the answer */

/* ==== Meta ==== */

/* Every search and every write asks, so the answer comes from the small
 * "qg_next" (written and removed with the blob), not from the blob, which
 * an encrypted store would open in full each time. */
int cvs__qg_present(cvs_db *db, MDB_txn *txn, int *yes)
{
    MDB_val k = CVS__MKEY(CVS__META_QG_NEXT), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *yes = mrc == 0;
    if (mrc && mrc != MDB_NOTFOUND)
        return cvs__err_lmdb(mrc, "reading meta");
    return CVS_OK;
}

/* Deletes every mark. */
static int drop_marks(cvs_db *db, MDB_txn *txn)
{
    return cvs__meta_drop_prefix(db, txn, CVS__META_QG_DIRTY, NULL, 0);
}

int cvs__qg_remove(cvs_db *db, MDB_txn *txn)
{
    static const MDB_val keys[] = {CVS__MKEY(CVS__META_QG), CVS__MKEY(CVS__META_QG_DEFAULTS),
                                   CVS__MKEY(CVS__META_QG_NEXT)};
    int mrc;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        MDB_val k = keys[i];
        if ((mrc = cvs__vdel(db, txn, db->dbi_meta, &k, NULL)) && mrc != MDB_NOTFOUND)
            return cvs__werr(mrc, "removing the graph index");
    }
    return drop_marks(db, txn); /* qg_gen stays: generations only grow, for the cache */
}

/* Sorted keys of the snapshot's marked records. */
static int dirty_keys(cvs_db *db, MDB_txn *txn, int64_t **out, size_t *nout)
{
    return cvs__marks_list(db, txn, CVS__META_QG_DIRTY, NULL, NULL, out, nout);
}

/* ==== The stored blob ====
 *
 *   0  "CVSQG\0\0\1"   8 bytes
 *   8  u32 version (1)      12 u32 R (32)
 *  16  u32 dim              20 u32 entry node
 *  24  u64 n                32 u64 codec generation
 *  40  f32 vmin[dim], f32 scale[dim]   (SQ8 re-ranking rows)
 *      i64 keys[n], strictly increasing (node -> record key)
 *      u32 nbr[n * R], node numbers < n or 0xffffffff (empty slot)
 *      u8 rows[n * dim], version 2 only: node i's SQ8 row
 * All little-endian.  Parsed with every length checked first. */

typedef struct qg_blob {
    uint32_t dim, entry;
    uint64_t n, gen;
    const unsigned char *sq, *keys, *nbr;
    const unsigned char *rows; /* NULL in a version 1 blob */
} qg_blob;

static int blob_parse(const cvs_db *db, const void *data, size_t len, qg_blob *b)
{
    const unsigned char *p = data;
    uint32_t version, r;
    uint64_t need;
    if (len < QG_HEAD || memcmp(p, QG_MAGIC, 8))
        return cvs__err(CVS_ECORRUPT, "%s: the graph index is damaged (bad header); rebuild it",
                        db->path);
    version = cvs__get_u32(p + 8);
    if (version < 1 || version > QG_VERSION)
        return cvs__err(CVS_EVERSION, "%s: graph index format %u, this build reads 1 to %u; "
                        "rebuild it", db->path, version, QG_VERSION);
    r = cvs__get_u32(p + 12);
    b->dim = cvs__get_u32(p + 16);
    b->entry = cvs__get_u32(p + 20);
    b->n = cvs__get_u64(p + 24);
    b->gen = cvs__get_u64(p + 32);
    if (r != CVS_QG_R || b->dim != db->dim || b->n == 0 || b->n >= 0x80000000u ||
        b->entry >= b->n)
        return cvs__err(CVS_ECORRUPT, "%s: the graph index is damaged (degree %u, dimension %u, "
                        "%llu nodes, entry %u); rebuild it", db->path, r, b->dim,
                        (unsigned long long)b->n, b->entry);
    need = QG_HEAD + 8ull * b->dim + b->n * 8 + b->n * CVS_QG_R * 4 +
           (version >= 2 ? b->n * b->dim : 0);
    if (len != need)
        return cvs__err(CVS_ECORRUPT, "%s: the graph index has %zu bytes, its header says %llu; "
                        "rebuild it", db->path, len, (unsigned long long)need);
    b->sq = p + QG_HEAD;
    b->keys = b->sq + 8ull * b->dim;
    b->nbr = b->keys + b->n * 8;
    b->rows = version >= 2 ? b->nbr + b->n * CVS_QG_R * 4 : NULL;
    return CVS_OK;
}

/* Checks what the header cannot: keys increasing, neighbours in range,
 * no self-loops or repeats, padding at the end of each list, finite SQ8
 * ranges.  The first violation goes to msg (cap bytes); 0 when none. */
static int blob_validate(const qg_blob *b, char *msg, size_t cap)
{
    for (uint32_t d = 0; d < 2 * b->dim; d++) {
        float f;
        uint32_t u = cvs__get_u32(b->sq + 4 * d);
        memcpy(&f, &u, 4);
        if (!isfinite(f) || (d >= b->dim && f < 0)) {
            snprintf(msg, cap, "SQ8 range %u is not a finite value", d);
            return 1;
        }
    }
    for (uint64_t i = 1; i < b->n; i++)
        if ((int64_t)cvs__get_u64(b->keys + 8 * i) <= (int64_t)cvs__get_u64(b->keys + 8 * (i - 1))) {
            snprintf(msg, cap, "node keys not increasing at node %llu", (unsigned long long)i);
            return 1;
        }
    for (uint64_t u = 0; u < b->n; u++) {
        const unsigned char *l = b->nbr + u * CVS_QG_R * 4;
        int end = 0;
        for (size_t j = 0; j < CVS_QG_R; j++) {
            uint32_t v = cvs__get_u32(l + 4 * j);
            if (v == CVS_QG_NONE) {
                end = 1;
                continue;
            }
            if (end || v >= b->n || v == u) {
                snprintf(msg, cap, "node %llu: neighbour slot %zu holds %u", (unsigned long long)u,
                         j, v);
                return 1;
            }
            for (size_t t = 0; t < j; t++)
                if (cvs__get_u32(l + 4 * t) == v) {
                    snprintf(msg, cap, "node %llu lists %u twice", (unsigned long long)u, v);
                    return 1;
                }
        }
    }
    return 0;
}

/* ==== Build (deviation 1) ==== */

typedef struct build_arg {
    const cvs_build_opts *o;
    uint64_t codec_gen;     /* the codec this cvs_build made, 0 for none */
} build_arg;

static int build_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    build_arg *a = arg;
    cvs_codec *codec;
    uint64_t gen, qgen;
    int64_t *keys = NULL;
    float *x = NULL;
    uint8_t *codes = NULL;
    uint32_t *nbr = NULL, entry = 0;
    unsigned char *blob = NULL;
    cvs__sq8 sq = {0};
    size_t n = 0, cs, len;
    int rc = CVS_OK, mrc, found;

    if ((rc = cvs__codec_for_txn(db, txn, &codec, &gen)) ||
        (rc = cvs__codec_gen_check(db, txn, a->codec_gen, "graph index")))
        return rc;
    if (!codec || !cvs__codec_is_4bit(codec) || !cvs__codec_lut_size(codec) ||
        cvs__codec_rabitq_bits(codec))
        return cvs__err(CVS_EINVAL, "%s: the graph index needs 4-bit PQ codes (e.g. cvstore "
                        "build DB opq,pq%ux4 --index qg)", db->path, db->dim / 2 ? db->dim / 2 : 1);
    cs = cvs__codec_code_size(codec);
    if (cs != (cvs__codec_m(codec) + 1) / 2)
        return cvs__err(CVS_EINTERNAL, "4-bit codec with %zu-byte codes", cs);
    if ((rc = cvs__vecs_read_all(db, txn, &keys, &x, &n)))
        goto out;
    if (!(codes = malloc(n * cs))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu vectors", n);
        goto out;
    }
    /* Keys come in increasing order (an integer-key database), which the
     * node -> key table relies on; checked all the same. */
    for (size_t i = 1; i < n; i++)
        if (keys[i] <= keys[i - 1]) {
            rc = cvs__err(CVS_EINTERNAL, "vecs: keys out of order");
            goto out;
        }
    for (size_t i = 0; i < n; i++) {
        uint64_t k64 = (uint64_t)keys[i];
        MDB_val ck = {8, &k64}, cv;
        if ((mrc = cvs__vget(db, txn, cvs__codes(db)->dbi_codes, &ck, &cv))) {
            rc = mrc == MDB_NOTFOUND
                     ? cvs__err(CVS_ECORRUPT, "record key %llu has no code; run cvstore check",
                                (unsigned long long)k64)
                     : cvs__err_lmdb(mrc, "reading a code");
            goto out;
        }
        if (cv.mv_size != cs) {
            rc = cvs__err(CVS_ECORRUPT, "codes: entry of %zu bytes; run cvstore check", cv.mv_size);
            goto out;
        }
        memcpy(codes + i * cs, cv.mv_data, cs);
    }
    if (a->o && a->o->progress)
        a->o->progress(a->o->progress_ctx, "graph", 0, n, 0, 0);
    {
        cvs_qg_build_opts bo = {.seed = a->o ? a->o->seed : 0};
        if ((rc = cvs__qg_graph_build(x, n, db->dim, &bo, &nbr, &entry)))
            goto out;
    }
    if ((rc = cvs__sq8_train(&sq, x, n, db->dim)))
        goto out;
    len = QG_HEAD + 8 * (size_t)db->dim + n * 8 + n * CVS_QG_R * 4 + n * db->dim;
    if (!(blob = malloc(len))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for the graph index");
        goto out;
    }
    {
        unsigned char *p = blob;
        memcpy(p, QG_MAGIC, 8);
        cvs__put_u32(p + 8, QG_VERSION);
        cvs__put_u32(p + 12, CVS_QG_R);
        cvs__put_u32(p + 16, db->dim);
        cvs__put_u32(p + 20, entry);
        cvs__put_u64(p + 24, n);
        cvs__put_u64(p + 32, gen);
        p += QG_HEAD;
        for (uint32_t d = 0; d < 2 * db->dim; d++, p += 4) {
            float f = d < db->dim ? sq.vmin[d] : sq.scale[d - db->dim];
            uint32_t u;
            memcpy(&u, &f, 4);
            cvs__put_u32(p, u);
        }
        for (size_t i = 0; i < n; i++, p += 8)
            cvs__put_u64(p, (uint64_t)keys[i]);
        for (size_t i = 0; i < n * CVS_QG_R; i++, p += 4)
            cvs__put_u32(p, nbr[i]);
        cvs__sq8_encode(&sq, x, n, p); /* the rows, of the vectors as read */
    }
    {
        MDB_val bk = CVS__MKEY(CVS__META_QG), bv = {len, blob};
        if ((mrc = cvs__vput(db, txn, db->dbi_meta, &bk, &bv, 0))) {
            rc = cvs__werr(mrc, "writing the graph index");
            goto out;
        }
    }
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_QG_GEN, &qgen, &found)) ||
        (rc = cvs__meta_put_u64(db, txn, CVS__META_QG_GEN, qgen + 1)) ||
        (rc = cvs__meta_put_u64(db, txn, CVS__META_QG_NEXT,
                      (uint64_t)keys[n - 1] + 1)) ||
        (rc = drop_marks(db, txn)) ||
        (rc = cvs__fidx_remove(db, txn))) /* one ANN index at a time */
        goto out;
out:
    cvs__sq8_destroy(&sq);
    free(blob);
    free(nbr);
    free(codes);
    free(x);
    free(keys);
    return rc;
}

int cvs__qg_parse_spec(const char *index)
{
    return index && (!strcmp(index, "qg") || !strcmp(index, "qg32"));
}

int cvs__qg_build(cvs_db *db, const cvs_build_opts *o, uint64_t codec_gen)
{
    build_arg a = {.o = o, .codec_gen = codec_gen};
    if (!o || !cvs__qg_parse_spec(o->index))
        return cvs__err(CVS_EINVAL, "graph index: want \"qg\" or \"qg32\"");
    return cvs__write(db, build_fn, &a);
}

/* ==== Loading ==== */

typedef struct qg_loaded {
    uint64_t gen;
    cvs_qg g;
    int refs;
} qg_loaded;

struct qg_state {
    pthread_mutex_t mu;
    int mu_ok;
    qg_loaded *cur;
};

static struct qg_state *qg_st(const cvs_db *db)
{
    return cvs__module_state(db, &cvs__qg_module);
}

static void loaded_free(qg_loaded *l)
{
    if (!l)
        return;
    cvs__qg_free(&l->g);
    free(l);
}

static void qg_release(cvs_db *db, qg_loaded *l)
{
    int last;
    if (!l)
        return;
    pthread_mutex_lock(&qg_st(db)->mu);
    last = --l->refs == 0;
    pthread_mutex_unlock(&qg_st(db)->mu);
    if (last)
        loaded_free(l);
}

/* Rebuilds the in-memory graph of txn's snapshot from the blob and the
 * codes (and, for a version 1 blob, the vectors).  A node whose record is
 * gone (deleted since the build, so marked) gets a zero code (and, from a
 * version 1 blob, a zero row): it still routes the search, and its mark
 * keeps it out of the results. */
static int qg_load(cvs_db *db, MDB_txn *txn, uint64_t gen, qg_loaded **out)
{
    MDB_val bk = CVS__MKEY(CVS__META_QG), bv;
    qg_blob b;
    qg_loaded *l = NULL;
    cvs_codec *codec;
    cvs__scan scan = {0};
    MDB_cursor *cur = NULL;
    uint64_t cgen;
    uint32_t *nbr = NULL;
    uint8_t *codes = NULL;
    float *tmp = NULL;
    size_t cs;
    char msg[160];
    int rc, mrc;

    *out = NULL;
    if ((mrc = cvs__vget(db, txn, db->dbi_meta, &bk, &bv)))
        return mrc == MDB_NOTFOUND /* qg_next said there is one */
                   ? cvs__err(CVS_ECORRUPT, "%s: the graph index is missing (meta qg_next "
                              "without qg); rebuild it", db->path)
                   : cvs__err_lmdb(mrc, "reading the graph index");
    if ((rc = blob_parse(db, bv.mv_data, bv.mv_size, &b)))
        return rc;
    if (blob_validate(&b, msg, sizeof msg))
        return cvs__err(CVS_ECORRUPT, "%s: the graph index is damaged (%s); rebuild it",
                        db->path, msg);
    if ((rc = cvs__codec_for_txn(db, txn, &codec, &cgen)))
        return rc;
    if (!codec || cgen != b.gen || !cvs__codec_is_4bit(codec) || !cvs__codec_lut_size(codec))
        return cvs__err(CVS_ECORRUPT, "%s: the graph index was built for codec generation %llu, "
                        "the store's is %llu; rebuild it", db->path, (unsigned long long)b.gen,
                        (unsigned long long)cgen);
    cs = cvs__codec_code_size(codec);
    l = calloc(1, sizeof *l);
    nbr = malloc(b.n * CVS_QG_R * sizeof *nbr);
    codes = calloc(b.n, cs);
    tmp = malloc(db->dim * sizeof *tmp);
    if (!l || !nbr || !codes || !tmp) {
        rc = cvs__err(CVS_ENOMEM, "out of memory loading the graph index");
        goto out;
    }
    l->gen = gen;
    l->g.n = b.n;
    l->g.dim = db->dim;
    l->g.l2 = db->metric == CVS_METRIC_L2;
    l->g.entry = b.entry;
    l->g.codec = codec;
    l->g.keys = malloc(b.n * sizeof *l->g.keys);
    l->g.rows = b.rows ? malloc(b.n * db->dim) : calloc(b.n, db->dim);
    if (!l->g.keys || !l->g.rows || (rc = cvs__sq8_alloc(&l->g.sq, db->dim))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory loading the graph index");
        goto out;
    }
    for (uint32_t d = 0; d < db->dim; d++) {
        uint32_t u0 = cvs__get_u32(b.sq + 4 * d), u1 = cvs__get_u32(b.sq + 4 * (db->dim + d));
        memcpy(&l->g.sq.vmin[d], &u0, 4);
        memcpy(&l->g.sq.scale[d], &u1, 4);
    }
    for (uint64_t i = 0; i < b.n * CVS_QG_R; i++)
        nbr[i] = cvs__get_u32(b.nbr + 4 * i);
    if (b.rows)
        memcpy(l->g.rows, b.rows, b.n * db->dim);
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_codes, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    /* The node keys increase (blob_validate), so one walk of "codes" in key
     * order meets every node's code, a B-tree step each instead of a
     * descent; keys it passes over are records added since the build. */
    {
        MDB_val k, v;
        int crc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan);
        for (uint64_t i = 0; i < b.n; i++) {
            uint64_t k64 = cvs__get_u64(b.keys + 8 * i);
            l->g.keys[i] = (int64_t)k64;
            while (crc == 0 && k.mv_size == 8 && cvs__get_u64(k.mv_data) < k64)
                crc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan);
            if (crc && crc != MDB_NOTFOUND) {
                rc = cvs__err_lmdb(crc, "reading a code");
                goto out;
            }
            if (crc == 0 && k.mv_size != 8) {
                rc = cvs__err(CVS_ECORRUPT, "codes: a key of %zu bytes; run cvstore check",
                              k.mv_size);
                goto out;
            }
            if (crc == 0 && cvs__get_u64(k.mv_data) == k64 && v.mv_size == cs)
                memcpy(codes + i * cs, v.mv_data, cs);
            if (!b.rows) { /* version 1: encode the row from the vector */
                MDB_val vk = {8, &k64}, vv;
                mrc = cvs__vget(db, txn, db->dbi_vecs, &vk, &vv);
                if (mrc == 0 && vv.mv_size == cvs__vec_bytes(db)) {
                    cvs__decode_vec(db, vv.mv_data, tmp);
                    cvs__sq8_encode(&l->g.sq, tmp, 1, l->g.rows + i * db->dim);
                } else if (mrc && mrc != MDB_NOTFOUND) {
                    rc = cvs__err_lmdb(mrc, "reading a vector");
                    goto out;
                }
            }
        }
    }
    if ((rc = cvs__qg_assemble(&l->g, nbr, codes)))
        goto out;
    *out = l;
    l = NULL;
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    loaded_free(l);
    free(nbr);
    free(codes);
    free(tmp);
    return rc;
}

/* The loaded graph of txn's snapshot, referenced; cvs__qg_release it. */
static int qg_get(cvs_db *db, MDB_txn *txn, qg_loaded **out)
{
    struct qg_state *st = qg_st(db);
    qg_loaded *l;
    uint64_t gen;
    int found, rc;

    *out = NULL;
    if ((rc = cvs__meta_get_u64(db, txn, CVS__META_QG_GEN, &gen, &found)))
        return rc;
    pthread_mutex_lock(&st->mu);
    if (st->cur && st->cur->gen == gen) {
        st->cur->refs++;
        *out = st->cur;
        pthread_mutex_unlock(&st->mu);
        return CVS_OK;
    }
    pthread_mutex_unlock(&st->mu);
    if ((rc = qg_load(db, txn, gen, &l)))
        return rc;
    l->refs = 1; /* the caller's */
    pthread_mutex_lock(&st->mu);
    if (!st->cur || st->cur->gen < gen) {
        qg_loaded *old = st->cur;
        st->cur = l;
        l->refs++;
        if (old && --old->refs == 0)
            loaded_free(old);
    }
    pthread_mutex_unlock(&st->mu);
    *out = l;
    return CVS_OK;
}

/* ==== Defaults and info ==== */

static int get_defaults(cvs_db *db, MDB_txn *txn, size_t *ef, size_t *rerank)
{
    MDB_val k = CVS__MKEY(CVS__META_QG_DEFAULTS), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    *ef = DEF_EF;
    *rerank = DEF_RERANK;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta");
    if (v.mv_size != 16)
        return cvs__err(CVS_ECORRUPT, "meta qg_defaults has %zu bytes (expected 16)", v.mv_size);
    *ef = (size_t)cvs__get_u64(v.mv_data);
    *rerank = (size_t)cvs__get_u64((const unsigned char *)v.mv_data + 8);
    return CVS_OK;
}

typedef struct defaults_arg {
    size_t ef, rerank;
} defaults_arg;

static int defaults_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    defaults_arg *a = arg;
    size_t ef, rerank;
    unsigned char b[16];
    MDB_val k = CVS__MKEY(CVS__META_QG_DEFAULTS), v = {16, b};
    int rc, mrc, yes;
    if ((rc = cvs__qg_present(db, txn, &yes)))
        return rc;
    if (!yes)
        return cvs__err(CVS_NOTFOUND, "%s: no graph index has been built", db->path);
    if ((rc = get_defaults(db, txn, &ef, &rerank)))
        return rc;
    cvs__put_u64(b, a->ef ? a->ef : ef);
    cvs__put_u64(b + 8, a->rerank ? a->rerank : rerank);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta");
    return CVS_OK;
}

int cvs__qg_set_defaults(cvs_db *db, size_t ef, size_t rerank)
{
    defaults_arg a = {ef, rerank};
    return cvs__write(db, defaults_fn, &a);
}

int cvs__qg_info(cvs_db *db, cvs_index_info *info)
{
    cvs_txn *t = NULL;
    qg_loaded *l = NULL;
    int64_t *dirty = NULL;
    size_t ndirty = 0;
    MDB_val k = CVS__MKEY(CVS__META_QG), v;
    int rc;

    memset(info, 0, sizeof *info);
    if ((rc = cvs_txn_begin(db, &t)))
        return rc;
    if ((rc = qg_get(db, t->txn, &l)) || (rc = dirty_keys(db, t->txn, &dirty, &ndirty)) ||
        (rc = get_defaults(db, t->txn, &info->nprobe, &info->rerank)))
        goto out;
    snprintf(info->spec, sizeof info->spec, "qg%d", CVS_QG_R);
    info->count = l->g.n;
    info->mem_bytes = cvs__qg_mem_bytes(&l->g);
    if (cvs__vget(db, t->txn, db->dbi_meta, &k, &v) == 0)
        info->disk_bytes = v.mv_size;
    info->dirty = ndirty;
    if (info->rerank == CVS_RERANK_NONE)
        info->rerank = 0;
out:
    free(dirty);
    qg_release(db, l);
    cvs_txn_end(t);
    return rc;
}

/* ==== Search ==== */

static float exact_dist(const float *q, const float *x, size_t dim, int l2)
{
    float s = 0;
    for (size_t d = 0; d < dim; d++)
        s += l2 ? (q[d] - x[d]) * (q[d] - x[d]) : q[d] * x[d];
    return l2 ? s : -s;
}

static int allowed(const uint64_t *allow, size_t words, int64_t key)
{
    uint64_t w = (uint64_t)key >> 6;
    return !allow || (w < words && ((allow[w] >> ((uint64_t)key & 63)) & 1));
}

/* Deviation 3: raw vectors read by re-ranking, and queries that re-ranked;
 * the rule itself can be turned off (tests compare). */
static _Atomic uint64_t rerank_reads, rerank_queries;
int cvs__qg_rerank_bound = 1;

void cvs__qg_rerank_counts(uint64_t *reads, uint64_t *queries)
{
    *reads = atomic_load_explicit(&rerank_reads, memory_order_relaxed);
    *queries = atomic_load_explicit(&rerank_queries, memory_order_relaxed);
}

/* How far an SQ8 row can be from its vector (L2): rounding moves each
 * coordinate by at most half a step.  Holds for every row encoded from a
 * vector inside the trained ranges -- every node's at the build; a record
 * changed since is marked and never taken from the rows. */
static float sq8_radius(const cvs__sq8 *sq)
{
    double e2 = 0;
    for (uint32_t d = 0; d < sq->d; d++)
        e2 += 0.25 * (double)sq->scale[d] * (double)sq->scale[d];
    return (float)sqrt(e2);
}

/* The graph's best kk by SQ8 row, re-scored with the stored vectors, the
 * best k of those kept (qg.c deviation 2: the rows cap recall@10 near
 * 0.99 on SIFT10K), skipping those the rows' error bound rules out
 * (deviation 3). */
static int search_rerank(cvs_txn *t, const cvs_qg *g, const float *q, size_t nq, size_t k,
                         size_t kk, size_t ef, int threads, const uint64_t *skip,
                         int64_t *labels, float *scores)
{
    cvs_db *db = t->db;
    const int l2 = db->metric == CVS_METRIC_L2;
    cvs_qg_search_opts so = {.ef = ef, .threads = threads, .skip = skip};
    int64_t *cl = malloc(nq * kk * sizeof *cl), *hid = malloc(k * sizeof *hid);
    float *cs = malloc(nq * kk * sizeof *cs), *hd = malloc(k * sizeof *hd);
    float *x = malloc(db->dim * sizeof *x), radius;
    int rc;

    if (!cl || !cs || !hid || !hd || !x) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = cvs__qg_search_graph(g, q, nq, kk, &so, cl, cs)))
        goto out;
    radius = sq8_radius(&g->sq);
    for (size_t i = 0; i < nq; i++) {
        const float *sc = cs + i * kk;
        float limit = INFINITY;
        cvs_heap h;
        size_t n, j;
        /* Row distances, smallest first: sqrt of L2, or minus the product.
         * Each true one lies within e of its row's; the k best rows' true
         * distances are all at most t + e, so a candidate whose row
         * distance passes t + 2e cannot enter the top k. */
        if (cvs__qg_rerank_bound && kk > k && cl[i * kk + k] >= 0) {
            float t = l2 ? sc[k - 1] : -sc[k - 1], e = radius;
            if (!l2) {
                double qn = 0;
                for (size_t d = 0; d < db->dim; d++)
                    qn += (double)q[i * db->dim + d] * q[i * db->dim + d];
                e *= (float)sqrt(qn);
            }
            limit = t + 2 * e;
            limit += 1e-5f * (fabsf(limit) + 1.0f); /* float rounding of both sides */
        }
        cvs__heap_init(&h, k, hd, hid);
        for (j = 0; j < kk && cl[i * kk + j] >= 0 && (l2 ? sc[j] : -sc[j]) <= limit; j++) {
            uint64_t k64 = (uint64_t)cl[i * kk + j];
            MDB_val mk = {8, &k64}, mv;
            int mrc = cvs__vget(db, t->txn, db->dbi_vecs, &mk, &mv);
            if (mrc) {
                rc = mrc == MDB_NOTFOUND
                         ? cvs__err(CVS_ECORRUPT, "graph node key %llu has no vector and no "
                                    "mark; run cvstore check", (unsigned long long)k64)
                         : cvs__err_lmdb(mrc, "reading a vector to rerank");
                goto out;
            }
            if (mv.mv_size != cvs__vec_bytes(db)) {
                rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check",
                              mv.mv_size);
                goto out;
            }
            cvs__decode_vec(db, mv.mv_data, x);
            cvs__heap_push(&h, exact_dist(q + i * db->dim, x, db->dim, l2), (int64_t)k64);
        }
        atomic_fetch_add_explicit(&rerank_reads, j, memory_order_relaxed);
        atomic_fetch_add_explicit(&rerank_queries, 1, memory_order_relaxed);
        n = cvs__heap_sort(&h);
        for (size_t j = 0; j < k; j++) {
            labels[i * k + j] = j < n ? hid[j] : -1;
            scores[i * k + j] = j >= n ? NAN : l2 ? (hd[j] > 0 ? sqrtf(hd[j]) : 0.0f) : -hd[j];
        }
    }
out:
    free(cl);
    free(cs);
    free(hid);
    free(hd);
    free(x);
    return rc;
}

int cvs__qg_search(cvs_txn *t, const float *q, size_t nq, size_t k, size_t ef, size_t rerank,
                   int norerank, const uint64_t *allow, size_t allow_words, int threads,
                   int64_t *labels, float *scores)
{
    cvs_db *db = t->db;
    qg_loaded *l = NULL;
    int64_t *dirty = NULL, *live = NULL;
    float *xd = NULL, *hd = NULL;
    uint64_t *skip = NULL;
    size_t ndirty = 0, nlive = 0, def_ef, def_rr, kk;
    int rc;

    if ((rc = qg_get(db, t->txn, &l)) || (rc = dirty_keys(db, t->txn, &dirty, &ndirty)) ||
        (rc = get_defaults(db, t->txn, &def_ef, &def_rr)))
        goto out;
    if (!ef)
        ef = def_ef;
    if (!rerank)
        rerank = def_rr;
    if (rerank == CVS_RERANK_NONE || norerank)
        rerank = 0;
    kk = rerank > k ? rerank : k;
    /* Nodes never returned: marked records (stale or gone) and, with a
     * filter, the records it excludes. */
    if (ndirty || allow) {
        const cvs_qg *g = &l->g;
        if (!(skip = calloc((g->n + 63) / 64, sizeof *skip))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < ndirty; i++) {
            size_t u = cvs__sorted_find(g->keys, g->n, dirty[i]);
            if (u < g->n)
                skip[u >> 6] |= 1ull << (u & 63);
        }
        if (allow)
            for (size_t u = 0; u < g->n; u++)
                if (!allowed(allow, allow_words, g->keys[u]))
                    skip[u >> 6] |= 1ull << (u & 63);
    }
    if (!rerank) {
        cvs_qg_search_opts so = {.ef = ef, .codes_only = norerank, .threads = threads,
                                 .skip = skip};
        if ((rc = cvs__qg_search_graph(&l->g, q, nq, k, &so, labels, scores)))
            goto out;
    } else if ((rc = search_rerank(t, &l->g, q, nq, k, kk, ef, threads, skip, labels, scores))) {
        goto out;
    }
    /* The marked records that exist (and pass the filter), scored exactly
     * and merged into each query's answer. */
    if (ndirty) {
        const int l2 = db->metric == CVS_METRIC_L2;
        if (!(live = malloc(ndirty * sizeof *live)) ||
            !(xd = malloc(ndirty * db->dim * sizeof *xd)) ||
            !(hd = malloc(k * sizeof *hd))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < ndirty; i++) {
            uint64_t k64 = (uint64_t)dirty[i];
            MDB_val mk = {8, &k64}, mv;
            int mrc = cvs__vget(db, t->txn, db->dbi_vecs, &mk, &mv);
            if (mrc == MDB_NOTFOUND || !allowed(allow, allow_words, dirty[i]))
                continue;
            if (mrc) {
                rc = cvs__err_lmdb(mrc, "reading a vector");
                goto out;
            }
            if (mv.mv_size != cvs__vec_bytes(db)) {
                rc = cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check",
                              mv.mv_size);
                goto out;
            }
            cvs__decode_vec(db, mv.mv_data, xd + nlive * db->dim);
            live[nlive++] = dirty[i];
        }
        for (size_t i = 0; i < nq && nlive; i++) {
            int64_t *lab = labels + i * k;
            float *sc = scores + i * k;
            cvs_heap h;
            size_t n;
            /* The heap writes its ids straight into the query's labels. */
            int64_t *ids = malloc(k * sizeof *ids);
            if (!ids) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            cvs__heap_init(&h, k, hd, ids);
            for (size_t j = 0; j < k && lab[j] >= 0; j++)
                cvs__heap_push(&h, l2 ? sc[j] * sc[j] : -sc[j], lab[j]);
            for (size_t j = 0; j < nlive; j++)
                cvs__heap_push(&h, exact_dist(q + i * db->dim, xd + j * db->dim, db->dim, l2),
                               live[j]);
            n = cvs__heap_sort(&h);
            for (size_t j = 0; j < k; j++) {
                lab[j] = j < n ? ids[j] : -1;
                sc[j] = j >= n ? NAN : l2 ? (hd[j] > 0 ? sqrtf(hd[j]) : 0.0f) : -hd[j];
            }
            free(ids);
        }
    }
out:
    qg_release(db, l);
    free(dirty);
    free(live);
    free(xd);
    free(hd);
    free(skip);
    return rc;
}

/* ==== The module: marks, check, close ==== */

static int mark(cvs__wctx *w, uint64_t key, int deleted)
{
    uint64_t next;
    int yes, found, rc;
    if ((rc = cvs__qg_present(w->db, w->txn, &yes)) || !yes)
        return rc;
    if (deleted && /* deviation 2 */
        (rc = cvs__meta_get_u64(w->db, w->txn, CVS__META_QG_NEXT, &next, &found)))
        return rc;
    return cvs__mark_write(w->db, w->txn, CVS__META_QG_DIRTY, key, deleted,
                           deleted && found ? &next : NULL, NULL, 0, "graph index");
}

static int qg_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    (void)ws;
    return mark(w, r->key, 0);
}

static int qg_del(cvs__wctx *w, void *ws, uint64_t key)
{
    (void)ws;
    return mark(w, key, 1);
}

/* cvs__marks_list's keep for the check: each malformed mark is a problem. */
static int qg_mark_ok(void *arg, const MDB_val *k, const MDB_val *v, uint64_t key, int malformed)
{
    (void)v;
    (void)key;
    if (malformed)
        cvs__chk_problem(arg, "meta: a graph index mark (key of %zu bytes) is malformed",
                         k->mv_size);
    return !malformed;
}

/* Invariant 14 (docs/FORMAT.md): the blob parses and validates, was built
 * for the codec in force, and every live record is a node or marked while
 * every node is a live record or marked; without a graph, no marks. */
static int qg_check(cvs_db *db, void *state, cvs__chk *c)
{
    MDB_txn *txn = cvs__chk_txn(c);
    MDB_val bk = CVS__MKEY(CVS__META_QG), bv;
    int64_t *dirty = NULL;
    size_t ndirty = 0;
    qg_blob b;
    cvs_codec *codec;
    uint64_t cgen;
    cvs__sq8 sq = {0};
    float *tmp = NULL;
    uint8_t *row = NULL;
    char msg[160];
    int rc, mrc;
    (void)state;

    if ((rc = cvs__marks_list(db, txn, CVS__META_QG_DIRTY, qg_mark_ok, c, &dirty, &ndirty)))
        return rc;
    mrc = cvs__vget(db, txn, db->dbi_meta, &bk, &bv);
    {
        int yes;
        if ((rc = cvs__qg_present(db, txn, &yes)))
            goto out;
        if (yes != (mrc == 0)) {
            cvs__chk_problem(c, "meta: %s without %s", yes ? "qg_next" : "qg",
                             yes ? "qg" : "qg_next");
            goto out;
        }
    }
    if (mrc == MDB_NOTFOUND) {
        if (ndirty)
            cvs__chk_problem(c, "meta: %zu graph index marks but no graph index", ndirty);
        goto out;
    }
    if (mrc) {
        rc = cvs__err_lmdb(mrc, "reading the graph index");
        goto out;
    }
    if (blob_parse(db, bv.mv_data, bv.mv_size, &b)) {
        cvs__chk_problem(c, "meta: %s", cvs_errmsg(NULL));
        goto out;
    }
    if (blob_validate(&b, msg, sizeof msg)) {
        cvs__chk_problem(c, "meta: the graph index is damaged: %s", msg);
        goto out;
    }
    if ((rc = cvs__codec_for_txn(db, txn, &codec, &cgen)))
        goto out;
    if (!codec || cgen != b.gen)
        cvs__chk_problem(c, "meta: the graph index was built for codec generation %llu, the "
                         "store's is %llu", (unsigned long long)b.gen, (unsigned long long)cgen);
    {
        /* Both directions by one merge of two increasing key sequences:
         * the nodes and the records' vectors; on the way, each stored row
         * of an unmarked node against its vector's. */
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint64_t i = 0, bad_live = 0, bad_node = 0, bad_row = 0;
        if (b.rows) {
            tmp = malloc(db->dim * sizeof *tmp);
            row = malloc(db->dim);
            if (!tmp || !row || (rc = cvs__sq8_alloc(&sq, db->dim))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(sq.vmin, b.sq, 4 * (size_t)db->dim); /* little-endian host */
            memcpy(sq.scale, b.sq + 4 * (size_t)db->dim, 4 * (size_t)db->dim);
        }
        if ((mrc = mdb_cursor_open(txn, db->dbi_vecs, &cur))) {
            rc = cvs__err_lmdb(mrc, "opening a cursor");
            goto out;
        }
        for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
             mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
            int64_t key;
            if (k.mv_size != 8)
                continue; /* the store's own check reports it */
            key = (int64_t)cvs__get_u64(k.mv_data);
            for (; i < b.n && (int64_t)cvs__get_u64(b.keys + 8 * i) < key; i++)
                if (cvs__sorted_find(dirty, ndirty, (int64_t)cvs__get_u64(b.keys + 8 * i)) == ndirty)
                    bad_node++;
            if (i < b.n && (int64_t)cvs__get_u64(b.keys + 8 * i) == key) {
                if (b.rows && v.mv_size == cvs__vec_bytes(db) &&
                    cvs__sorted_find(dirty, ndirty, key) == ndirty) {
                    cvs__decode_vec(db, v.mv_data, tmp);
                    cvs__sq8_encode(&sq, tmp, 1, row);
                    bad_row += memcmp(row, b.rows + i * db->dim, db->dim) != 0;
                }
                i++;
            } else if (cvs__sorted_find(dirty, ndirty, key) == ndirty)
                bad_live++;
        }
        for (; i < b.n; i++)
            if (cvs__sorted_find(dirty, ndirty, (int64_t)cvs__get_u64(b.keys + 8 * i)) == ndirty)
                bad_node++;
        mdb_cursor_close(cur);
        if (mrc != MDB_NOTFOUND) {
            rc = cvs__err_lmdb(mrc, "walking the vectors");
            goto out;
        }
        if (bad_live)
            cvs__chk_problem(c, "graph index: %llu records are neither nodes nor marked",
                             (unsigned long long)bad_live);
        if (bad_node)
            cvs__chk_problem(c, "graph index: %llu nodes are neither records nor marked",
                             (unsigned long long)bad_node);
        if (bad_row)
            cvs__chk_problem(c, "graph index: the SQ8 rows of %llu nodes differ from their "
                             "vectors' (rebuild it)", (unsigned long long)bad_row);
    }
out:
    cvs__sq8_destroy(&sq);
    free(tmp);
    free(row);
    free(dirty);
    return rc;
}

static int qg_attach(cvs_db *db, void *state)
{
    struct qg_state *st = state;
    (void)db;
    if (pthread_mutex_init(&st->mu, NULL))
        return cvs__err(CVS_ENOMEM, "cannot make a lock");
    st->mu_ok = 1;
    return CVS_OK;
}

static void qg_close(cvs_db *db, void *state)
{
    struct qg_state *st = state;
    (void)db;
    if (!st->mu_ok)
        return;
    if (st->cur && --st->cur->refs == 0)
        loaded_free(st->cur);
    st->cur = NULL;
    pthread_mutex_destroy(&st->mu);
}

const cvs__module cvs__qg_module = {
    .version = CVS__MODULE_VERSION,
    .name = "qg",
    .state_size = sizeof(struct qg_state),
    .attach = qg_attach,
    .close = qg_close,
    .put = qg_put,
    .del = qg_del,
    .check = qg_check,
};
