/*
 * knn.c -- the kNN graph over the records, and the edge readers that
 * query/context.c walks (links, backlinks, kNN rows).
 *
 * A kNN graph joins every record to its K nearest records, so a walk from a
 * relevant record reaches records close to it even when no link says so:
 * the "proximity graph" half of graph-augmented retrieval.  It is built
 * here the straightforward way (Dong, Moses & Li, "Efficient K-Nearest
 * Neighbor Graph Construction for Generic Similarity Measures", WWW 2011,
 * call it the brute-force baseline): every record is a query against the
 * whole store.  With exact search that is N x N dot products in sgemm
 * batches (index/exact.c), about a second for 10^4 records of 100
 * dimensions on one core; with the store's ANN index it is N ANN queries,
 * and the build then measures what that costs in quality: the recall of
 * the true K nearest neighbours on a sample of records.
 *
 * Storage (docs/FORMAT.md): database "knn", key = the record's key, value =
 * K x {u64 neighbour key, f32 score}, best first; meta "knn" holds the
 * report (K, rows, source, recall, time).
 *
 * Where we deviate or choose:
 *   1. No NN-descent: exact construction is quadratic, but the corpora that
 *      context sets are built over (passages of a knowledge base) are small
 *      enough, and exact neighbours make the graph's quality a non-question.
 *      The ANN source is there for large stores.
 *   2. Maintenance happens in the write transaction of every put and
 *      delete once a store has a graph.  A put finds the exact K nearest of
 *      its records in one batched scan (sgemm over the whole batch, so an
 *      import pays about what a build of its records would) and writes
 *      their rows; each new record then enters the rows of its own
 *      neighbours where it beats their K-th edge, as an HNSW insert adds
 *      reverse edges (Malkov & Yashunin 2018).  That is not exact: a record
 *      y whose true K nearest now include x, while x's K nearest do not
 *      include y, keeps its old row; on random 8-d data (tests) 40 puts
 *      into 300 records leave a recall of 0.98.  Making it exact would take
 *      a second scan scoring every stored record against the batch.  A
 *      delete removes the row and every edge naming the record: in-edges
 *      are not stored (no reverse index to keep), so one scan of all rows
 *      finds them, O(N K) bytes read per delete transaction whatever its
 *      size, and the rows that lost an edge are recomputed by one batched
 *      exact scan.  Stores without raw vectors keep the old behaviour:
 *      rows of new records are searched when read.
 *   3. The edge weight read back is a similarity: the score itself for ip
 *      and cosine stores, 1 / (1 + d) for l2 ones.
 *   4. Backlinks are read in key order, the cap smallest, in an encrypted
 *      store too, whose stored order is a keyed permutation's: it reads
 *      all of a record's backlinks to sort them (backlinks_of).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "graph/graph.h"
#include "index/exact.h"
#include "store/seal.h"

#define ROW_BYTES 12
#define META_BYTES 48
#define BATCH 256


/* ==== Build ==== */

typedef struct knn_build {
    size_t k, n;
    int64_t *keys;          /* n record keys, ascending */
    int64_t *up;            /* n record update times, in the snapshot */
    uint64_t snap;          /* the snapshot's LMDB transaction id */
    int64_t *nb;            /* n x k neighbour keys (-1 padded) */
    float *sc;              /* n x k scores */
    unsigned char meta[META_BYTES];
} knn_build;

void (*cvs__graph_test_hook)(cvs_db *db);

/* The graph was computed in snapshot b->snap and has just been written in
 * txn, where other writers may have committed since: brings it up to date
 * as put and delete would have, had the graph existed when they ran.
 * Records of the snapshot that are gone are deleted (rows, edges naming
 * them); those whose update time changed, and records added since, are put
 * (cvs__graph_on_put: their own rows exactly, and reverse edges).  Only
 * the changed records are looked at in the graph, but finding them reads
 * every record's key and times once. */
static int reconcile(cvs_db *db, MDB_txn *txn, const knn_build *b)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    cvs__scan scan = {0};
    int64_t *gone = NULL, *put = NULL;
    unsigned char *upd = NULL;
    size_t ngone = 0, nput = 0, cput = 0;
    int rc = CVS_OK, mrc;

    if (!(gone = malloc((b->n ? b->n : 1) * sizeof *gone)))
        return cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur))) {
        rc = cvs__werr(mrc, "opening a cursor");
        goto out;
    }
    /* One merge of the records now (ascending keys) with the snapshot's. */
    size_t i = 0;
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        int64_t key, cr, up;
        const char *id;
        size_t idl;
        if (k.mv_size != 8 || (rc = cvs__rec_decode(&v, &cr, &up, &id, &idl))) {
            rc = rc ? rc : cvs__err(CVS_ECORRUPT, "recs: key of %zu bytes", k.mv_size);
            goto out;
        }
        key = (int64_t)cvs__get_u64(k.mv_data);
        while (i < b->n && b->keys[i] < key)
            gone[ngone++] = b->keys[i++];
        int same = i < b->n && b->keys[i] == key;
        if (same && b->up[i] == up) {
            i++;
            continue;
        }
        if (nput == cput) {
            size_t c = cput ? 2 * cput : 64;
            int64_t *np = realloc(put, c * sizeof *np);
            unsigned char *nu = np ? realloc(upd, c) : NULL;
            if (np)
                put = np;
            if (!nu) {
                rc = cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
                goto out;
            }
            upd = nu;
            cput = c;
        }
        upd[nput] = (unsigned char)same;
        put[nput++] = key;
        i += same;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "reading records");
        goto out;
    }
    while (i < b->n)
        gone[ngone++] = b->keys[i++];
    mdb_cursor_close(cur);
    cur = NULL;
    if (ngone && (rc = cvs__graph_on_delete(db, txn, gone, ngone)))
        goto out;
    if (nput)
        rc = cvs__graph_on_put(db, txn, put, upd, nput);
out:
    if (cur)
        mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    free(gone);
    free(put);
    free(upd);
    return rc;
}

static int write_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    knn_build *b = arg;
    unsigned char *row = malloc(b->k * ROW_BYTES + 1);
    MDB_val mk = CVS__MKEY(CVS__META_KNN), mv = {META_BYTES, b->meta};
    int rc = CVS_OK, mrc;

    if (!row)
        return cvs__err(CVS_ENOMEM, "out of memory writing the kNN graph");
    if ((mrc = mdb_drop(txn, cvs__graph(db)->dbi_knn, 0))) {
        rc = cvs__werr(mrc, "emptying the kNN graph");
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        uint64_t key = (uint64_t)b->keys[i];
        size_t m = 0;
        for (size_t j = 0; j < b->k; j++) {
            if (b->nb[i * b->k + j] < 0)
                break;
            cvs__put_u64(row + m * ROW_BYTES, (uint64_t)b->nb[i * b->k + j]);
            memcpy(row + m * ROW_BYTES + 8, &b->sc[i * b->k + j], 4);
            m++;
        }
        MDB_val k = {8, &key}, v = {m * ROW_BYTES, row};
        if ((mrc = cvs__vput(db, txn, cvs__graph(db)->dbi_knn, &k, &v, MDB_APPEND))) {
            rc = cvs__werr(mrc, "writing the kNN graph");
            goto out;
        }
    }
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &mk, &mv, 0))) {
        rc = cvs__werr(mrc, "writing meta knn");
        goto out;
    }
    /* Write transaction ids follow each other: any other id means that
     * writers committed between the snapshot and now, and the rows just
     * written may name records that are gone or miss ones that came. */
    if ((uint64_t)mdb_txn_id(txn) != b->snap + 1)
        rc = reconcile(db, txn, b);
out:
    free(row);
    return rc;
}

/* Neighbours of rows [from, from + nq) of vecs, self removed: searches k + 1
 * and keeps the first k results that are not the query's own key. */
static int search_rows(cvs_txn *t, const float *vecs, uint32_t dim, const int64_t *keys,
                       size_t from, size_t nq, size_t k, const cvs_search_params *p,
                       int64_t *lab, float *sc, int64_t *nb, float *nsc)
{
    int rc = cvs_txn_search_params(t, vecs + from * dim, nq, k + 1, p, lab, sc);
    if (rc)
        return rc;
    for (size_t q = 0; q < nq; q++) {
        size_t m = 0;
        for (size_t j = 0; j < k + 1 && m < k; j++) {
            int64_t l = lab[q * (k + 1) + j];
            if (l < 0 || l == keys[from + q])
                continue;
            nb[(from + q) * k + m] = l;
            nsc[(from + q) * k + m] = sc[q * (k + 1) + j];
            m++;
        }
        for (; m < k; m++) {
            nb[(from + q) * k + m] = -1;
            nsc[(from + q) * k + m] = NAN;
        }
    }
    return CVS_OK;
}

CVS_API int cvs_knn_build(cvs_db *db, const cvs_knn_opts *opts, cvs_knn_info *info)
{
    knn_build b = {0};
    cvs_txn *t = NULL;
    cvs_iter *it = NULL;
    float *vecs = NULL, *sc = NULL, *esc = NULL;
    int64_t *lab = NULL, *enb = NULL;
    size_t cap = 0, sample;
    cvs_search_params p = {0};
    double t0 = cvs__mono_s(), recall = 1.0;
    int approx, rc;
    uint64_t count;

    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_knn_build: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if (!cvs__module_present(db, &cvs__graph_module))
        return cvs__err(CVS_EINTERNAL, "cvs_knn_build: no knn database");
    b.k = opts && opts->k ? opts->k : 16;
    approx = opts && (opts->flags & CVS_SEARCH_ANN);
    p.flags = approx ? opts->flags : CVS_SEARCH_EXACT;
    sample = opts && opts->recall_sample ? opts->recall_sample : 200;
    if (b.k > 4096)
        return cvs__err(CVS_EINVAL, "link: k (the kNN graph's neighbours per record) is %zu; at most 4096", b.k);

    if ((rc = cvs_txn_begin(db, &t)) || (rc = cvs_txn_count(t, &count)) ||
        (rc = cvs_iter_open(t, &it)))
        goto out;
    cap = count;
    b.snap = t->txnid;
    if (!(vecs = malloc((cap + 1) * db->dim * sizeof *vecs)) ||
        !(b.keys = malloc((cap + 1) * sizeof *b.keys)) ||
        !(b.up = malloc((cap + 1) * sizeof *b.up))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory building the kNN graph");
        goto out;
    }
    for (;;) {
        cvs_record r;
        /* count + 1 rows of room: the extra one only ever holds a vector
         * when the snapshot has more records than it counted (a bug). */
        rc = cvs_iter_next(it, &r, vecs + b.n * db->dim);
        if (rc == CVS_NOTFOUND)
            break;
        if (rc)
            goto out;
        if (b.n == cap) {
            rc = cvs__err(CVS_EINTERNAL, "more records than counted");
            goto out;
        }
        b.keys[b.n] = r.key;
        b.up[b.n++] = r.updated_us;
    }
    rc = CVS_OK;
    if (!(b.nb = malloc((b.n ? b.n : 1) * b.k * sizeof *b.nb)) ||
        !(b.sc = malloc((b.n ? b.n : 1) * b.k * sizeof *b.sc)) ||
        !(lab = malloc(BATCH * (b.k + 1) * sizeof *lab)) ||
        !(sc = malloc(BATCH * (b.k + 1) * sizeof *sc))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory building the kNN graph");
        goto out;
    }
    for (size_t i = 0; i < b.n; i += BATCH) {
        size_t nq = b.n - i < BATCH ? b.n - i : BATCH;
        if ((rc = search_rows(t, vecs, db->dim, b.keys, i, nq, b.k, &p, lab, sc, b.nb, b.sc)))
            goto out;
        if (opts && opts->progress)
            opts->progress(opts->progress_ctx, "knn", i + nq, b.n, 0, 0);
    }
    if (approx && b.n) {
        /* Recall against exact search on an evenly spaced sample. */
        cvs_search_params ep = {.flags = CVS_SEARCH_EXACT};
        size_t ns = sample < b.n ? sample : b.n, hit = 0, tot = 0;
        if (!(enb = malloc(b.n * b.k * sizeof *enb)) || !(esc = malloc(b.n * b.k * sizeof *esc))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory measuring recall");
            goto out;
        }
        for (size_t s = 0; s < ns; s++) {
            size_t i = s * b.n / ns;
            if ((rc = search_rows(t, vecs, db->dim, b.keys, i, 1, b.k, &ep, lab, sc, enb, esc)))
                goto out;
            for (size_t a = 0; a < b.k; a++) {
                if (enb[i * b.k + a] < 0)
                    continue;
                tot++;
                for (size_t c = 0; c < b.k; c++)
                    if (b.nb[i * b.k + c] == enb[i * b.k + a]) {
                        hit++;
                        break;
                    }
            }
        }
        recall = tot ? (double)hit / (double)tot : 1.0;
    }
    cvs_iter_close(it);
    it = NULL;
    cvs_txn_end(t);
    t = NULL;

    double secs = cvs__mono_s() - t0;
    int64_t built = cvs__now_us();
    cvs__put_u32(b.meta, 1);
    cvs__put_u32(b.meta + 4, (uint32_t)b.k);
    cvs__put_u64(b.meta + 8, b.n);
    cvs__put_u32(b.meta + 16, (uint32_t)approx);
    cvs__put_u32(b.meta + 20, 0);
    memcpy(b.meta + 24, &recall, 8);
    memcpy(b.meta + 32, &secs, 8);
    cvs__put_u64(b.meta + 40, (uint64_t)built);
    /* The iteration is in key order already; reconcile relies on it. */
    for (size_t i = 1; i < b.n; i++)
        if (b.keys[i - 1] >= b.keys[i]) {
            rc = cvs__err(CVS_EINTERNAL, "records not in key order");
            goto out;
        }
    if (cvs__graph_test_hook)
        cvs__graph_test_hook(db);
    if ((rc = cvs__write(db, write_fn, &b)))
        goto out;
    if (info) {
        info->k = b.k;
        info->records = b.n;
        info->approximate = approx;
        info->recall = recall;
        info->seconds = secs;
        info->built_us = built;
    }
out:
    cvs_iter_close(it);
    cvs_txn_end(t);
    free(vecs);
    free(b.keys);
    free(b.up);
    free(b.nb);
    free(b.sc);
    free(lab);
    free(sc);
    free(enb);
    free(esc);
    return rc;
}

CVS_API int cvs_knn_get_info(cvs_db *db, cvs_knn_info *info)
{
    MDB_txn *txn;
    MDB_val k = CVS__MKEY(CVS__META_KNN), v;
    int rc = CVS_OK, mrc;
    if (!db || !info)
        return cvs__err(CVS_EINVAL, "cvs_knn_get_info: NULL argument");
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc == MDB_NOTFOUND) {
        rc = cvs__err(CVS_NOTFOUND, "the store has no kNN graph (cvstore link builds one)");
    } else if (mrc) {
        rc = cvs__err_lmdb(mrc, "reading meta knn");
    } else if (v.mv_size != META_BYTES || cvs__get_u32(v.mv_data) != 1) {
        rc = cvs__err(CVS_ECORRUPT, "meta knn: %zu bytes or unknown version", v.mv_size);
    } else {
        const unsigned char *p = v.mv_data;
        info->k = cvs__get_u32(p + 4);
        info->records = cvs__get_u64(p + 8);
        info->approximate = (int)cvs__get_u32(p + 16);
        memcpy(&info->recall, p + 24, 8);
        memcpy(&info->seconds, p + 32, 8);
        info->built_us = (int64_t)cvs__get_u64(p + 40);
    }
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Maintenance ====
 *
 * store/put.c calls these inside its write transaction when the store has a
 * graph (meta "knn"), so the graph changes with the records it describes.
 * The few LMDB calls are in row_get / row_put / knn_k. */

/* K of the store's graph in txn; 0 when it has none. */
static size_t knn_k(cvs_db *db, MDB_txn *txn)
{
    MDB_val mk = CVS__MKEY(CVS__META_KNN), mv;
    if (!cvs__module_present(db, &cvs__graph_module) || cvs__vget(db, txn, db->dbi_meta, &mk, &mv) != 0 ||
        mv.mv_size != META_BYTES)
        return 0;
    return cvs__get_u32((const unsigned char *)mv.mv_data + 4);
}

/* Row of key into nb/sc (cap entries at most); *n = 0 when it has none. */
static int row_get(cvs_db *db, MDB_txn *txn, uint64_t key, int64_t *nb, float *sc, size_t cap,
                   size_t *n)
{
    MDB_val k = {8, &key}, v;
    const unsigned char *p;
    int mrc = cvs__vget(db, txn, cvs__graph(db)->dbi_knn, &k, &v);
    *n = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__werr(mrc, "reading a kNN row");
    if (v.mv_size % ROW_BYTES)
        return cvs__err(CVS_ECORRUPT, "kNN row of key %llu has %zu bytes (cvstore link "
                        "rebuilds the graph)", (unsigned long long)key, v.mv_size);
    p = v.mv_data;
    for (size_t i = 0; i < v.mv_size / ROW_BYTES && *n < cap; i++, p += ROW_BYTES) {
        nb[*n] = (int64_t)cvs__get_u64(p);
        memcpy(&sc[(*n)++], p + 8, 4);
    }
    return CVS_OK;
}

/* Writes (n > 0) or deletes (n == 0) the row of key. */
static int row_put(cvs_db *db, MDB_txn *txn, uint64_t key, const int64_t *nb, const float *sc,
                   size_t n)
{
    MDB_val k = {8, &key}, v = {n * ROW_BYTES, NULL};
    int mrc;
    if (n == 0) {
        mrc = cvs__vdel(db, txn, cvs__graph(db)->dbi_knn, &k, NULL);
        return mrc && mrc != MDB_NOTFOUND ? cvs__werr(mrc, "deleting a kNN row") : CVS_OK;
    }
    if ((mrc = cvs__vreserve(db, txn, cvs__graph(db)->dbi_knn, &k, &v, 0)))
        return cvs__werr(mrc, "writing a kNN row");
    for (size_t i = 0; i < n; i++) {
        cvs__put_u64((unsigned char *)v.mv_data + i * ROW_BYTES, (uint64_t)nb[i]);
        memcpy((unsigned char *)v.mv_data + i * ROW_BYTES + 8, &sc[i], 4);
    }
    if ((mrc = cvs__vreserve_done(db, txn, cvs__graph(db)->dbi_knn, &k, &v, 0)))
        return cvs__werr(mrc, "writing a kNN row");
    return CVS_OK;
}

/* a ranks before b: the higher similarity, or the smaller l2 distance. */
static int better(const cvs_db *db, float a, float b)
{
    return db->metric == CVS_METRIC_L2 ? a < b : a > b;
}

/* Writes the exact rows of the n records keys (their K nearest others),
 * by one batched scan of the store's vectors. */
static int rows_exact(cvs_db *db, MDB_txn *txn, const int64_t *keys, size_t n, size_t k)
{
    float *q = calloc((n ? n : 1) * db->dim, sizeof *q), *sc = NULL, *rs = NULL;
    int64_t *lab = NULL, *rn = NULL;
    unsigned char *gone = calloc(n ? n : 1, 1);
    size_t m;
    int rc = CVS_OK;
    if (!q || !gone || !(sc = malloc(n * (k + 1) * sizeof *sc)) ||
        !(lab = malloc(n * (k + 1) * sizeof *lab)) || !(rs = malloc(k * sizeof *rs)) ||
        !(rn = malloc(k * sizeof *rn))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k64 = (uint64_t)keys[i];
        MDB_val vk = {8, &k64}, vv;
        int mrc = cvs__vget(db, txn, db->dbi_vecs, &vk, &vv);
        if (mrc == MDB_NOTFOUND) { /* a row without a record: it goes (q stays 0) */
            gone[i] = 1;
            continue;
        }
        if (mrc || vv.mv_size != cvs__vec_bytes(db)) {
            rc = mrc ? cvs__werr(mrc, "reading a vector") :
                       cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes", vv.mv_size);
            goto out;
        }
        cvs__decode_vec(db, vv.mv_data, q + i * db->dim);
    }
    if ((rc = cvs__exact_scan_txn(db, txn, q, n, k + 1, lab, sc)))
        goto out;
    for (size_t i = 0; i < n && rc == CVS_OK; i++) {
        uint64_t k64 = (uint64_t)keys[i];
        m = 0;
        if (gone[i]) {
            rc = row_put(db, txn, k64, NULL, NULL, 0);
            continue;
        }
        for (size_t j = 0; j < k + 1 && m < k; j++)
            if (lab[i * (k + 1) + j] >= 0 && lab[i * (k + 1) + j] != keys[i]) {
                rn[m] = lab[i * (k + 1) + j];
                rs[m++] = sc[i * (k + 1) + j];
            }
        rc = row_put(db, txn, (uint64_t)keys[i], rn, rs, m);
    }
out:
    free(q);
    free(gone);
    free(sc);
    free(lab);
    free(rs);
    free(rn);
    return rc;
}

int cvs__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void cvs__graph_problem(cvs__problem_fn problem, void *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    problem(ctx, msg);
}

/* Removes keys[0..n) (sorted) from every row that names them: one scan of
 * all rows, since in-edges are not stored.  The rows that lost an edge are
 * recomputed exactly when the store keeps raw vectors (else they keep
 * K - 1 edges until the next build). */
static int detach(cvs_db *db, MDB_txn *txn, const int64_t *keys, size_t n, size_t k)
{
    MDB_cursor *cur = NULL;
    MDB_val mk, mv;
    cvs__scan scan = {0};
    int64_t *hit = NULL, *nb = NULL;
    float *sc = NULL;
    size_t nhit = 0, chit = 0;
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_cursor_open(txn, cvs__graph(db)->dbi_knn, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    for (mrc = cvs__cscan(db, cur, &mk, &mv, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(db, cur, &mk, &mv, MDB_NEXT, &scan)) {
        const unsigned char *p = mv.mv_data;
        int64_t y;
        if (mk.mv_size != 8) {
            rc = cvs__err(CVS_ECORRUPT, "store is damaged: knn: a key of %zu bytes",
                          mk.mv_size);
            goto out;
        }
        y = (int64_t)cvs__get_u64(mk.mv_data);
        for (size_t i = 0; i < mv.mv_size / ROW_BYTES; i++, p += ROW_BYTES) {
            int64_t nk = (int64_t)cvs__get_u64(p);
            if (!bsearch(&nk, keys, n, sizeof *keys, cvs__cmp_i64))
                continue;
            if (nhit == chit) {
                int64_t *h = realloc(hit, (chit = chit ? 2 * chit : 64) * sizeof *h);
                if (!h) {
                    rc = cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
                    goto out;
                }
                hit = h;
            }
            hit[nhit++] = y;
            break;
        }
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "scanning the kNN graph");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (db->raw != CVS_RAW_NONE) {
        rc = rows_exact(db, txn, hit, nhit, k);
        goto out;
    }
    if (!(nb = malloc(k * sizeof *nb)) || !(sc = malloc(k * sizeof *sc))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
        goto out;
    }
    for (size_t h = 0; h < nhit && rc == CVS_OK; h++) {
        size_t m, w = 0;
        if ((rc = row_get(db, txn, (uint64_t)hit[h], nb, sc, k, &m)))
            break;
        for (size_t i = 0; i < m; i++)
            if (!bsearch(&nb[i], keys, n, sizeof *keys, cvs__cmp_i64)) {
                nb[w] = nb[i];
                sc[w++] = sc[i];
            }
        rc = row_put(db, txn, (uint64_t)hit[h], nb, sc, w);
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    free(hit);
    free(nb);
    free(sc);
    return rc;
}

int cvs__graph_on_put(cvs_db *db, MDB_txn *txn, const int64_t *keys,
                      const unsigned char *updated, size_t n)
{
    size_t k = knn_k(db, txn), nupd = 0;
    int64_t *sorted = NULL, *nb = NULL, *own;
    float *sc = NULL, *os;
    int rc = CVS_OK;

    if (!k || n == 0 || db->raw == CVS_RAW_NONE)
        return CVS_OK;
    /* An updated record's old vector may sit in any row: detach it first,
     * as a delete would. */
    for (size_t i = 0; i < n; i++)
        nupd += updated[i] != 0;
    if (nupd) {
        if (!(sorted = malloc(nupd * sizeof *sorted)))
            return cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
        nupd = 0;
        for (size_t i = 0; i < n; i++)
            if (updated[i])
                sorted[nupd++] = keys[i];
        qsort(sorted, nupd, sizeof *sorted, cvs__cmp_i64);
        rc = detach(db, txn, sorted, nupd, k);
        free(sorted);
        if (rc)
            return rc;
    }
    if ((rc = rows_exact(db, txn, keys, n, k)))
        return rc;
    if (!(nb = malloc(2 * k * sizeof *nb)) || !(sc = malloc(2 * k * sizeof *sc))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory updating the kNN graph");
        goto out;
    }
    own = nb + k;
    os = sc + k;
    /* Reverse edges, as HNSW's insert adds them: each new record enters the
     * rows of its own neighbours where it beats their worst edge. */
    for (size_t i = 0; i < n && rc == CVS_OK; i++) {
        size_t no;
        if ((rc = row_get(db, txn, (uint64_t)keys[i], own, os, k, &no)))
            break;
        for (size_t j = 0; j < no && rc == CVS_OK; j++) {
            size_t m, pos;
            int present = 0;
            if ((rc = row_get(db, txn, (uint64_t)own[j], nb, sc, k, &m)))
                break;
            for (size_t a = 0; a < m && !present; a++)
                present = nb[a] == keys[i];
            if (present || (m == k && !better(db, os[j], sc[m - 1])))
                continue;
            for (pos = 0; pos < m && !better(db, os[j], sc[pos]); pos++)
                ;
            if (m == k)
                m--;
            memmove(nb + pos + 1, nb + pos, (m - pos) * sizeof *nb);
            memmove(sc + pos + 1, sc + pos, (m - pos) * sizeof *sc);
            nb[pos] = keys[i];
            sc[pos] = os[j];
            rc = row_put(db, txn, (uint64_t)own[j], nb, sc, m + 1);
        }
    }
out:
    free(nb);
    free(sc);
    return rc;
}

int cvs__graph_on_delete(cvs_db *db, MDB_txn *txn, int64_t *keys, size_t n)
{
    size_t k;
    int rc = CVS_OK;
    if (!cvs__module_present(db, &cvs__graph_module) || n == 0)
        return CVS_OK;
    qsort(keys, n, sizeof *keys, cvs__cmp_i64);
    for (size_t i = 0; i < n && rc == CVS_OK; i++)
        rc = row_put(db, txn, (uint64_t)keys[i], NULL, NULL, 0);
    if (rc || (rc = cvs__titlemap_on_delete(db, txn, keys, n)) || !(k = knn_k(db, txn)))
        return rc;
    return detach(db, txn, keys, n, k);
}

/* ==== Check ==== */

int cvs__knn_check(cvs_db *db, MDB_txn *txn, cvs__problem_fn problem, void *ctx)
{
    MDB_val mk = CVS__MKEY(CVS__META_KNN), mv, k, v;
    MDB_cursor *cur;
    cvs__scan scan = {0};
    MDB_stat st;
    size_t K = 0, rows = 0;
    int have_meta, mrc;

    if (!cvs__module_present(db, &cvs__graph_module))
        return CVS_OK;
    have_meta = cvs__vget(db, txn, db->dbi_meta, &mk, &mv) == 0;
    if (have_meta && (mv.mv_size != META_BYTES || cvs__get_u32(mv.mv_data) != 1)) {
        cvs__graph_problem(problem, ctx, "meta: knn has %zu bytes or an unknown version", mv.mv_size);
        have_meta = 0;
    } else if (have_meta) {
        K = cvs__get_u32((const unsigned char *)mv.mv_data + 4);
    }
    if ((mrc = mdb_cursor_open(txn, cvs__graph(db)->dbi_knn, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        uint64_t key;
        const unsigned char *p = v.mv_data;
        rows++;
        if (k.mv_size != 8) {
            cvs__graph_problem(problem, ctx, "knn: key of %zu bytes", k.mv_size);
            continue;
        }
        key = cvs__get_u64(k.mv_data);
        if (!cvs__has_key(txn, db->dbi_recs, key)) {
            cvs__graph_problem(problem, ctx, "knn: row of key %llu, which has no record (run cvstore "
                     "link)", (unsigned long long)key);
        }
        if (v.mv_size % ROW_BYTES || (K && v.mv_size / ROW_BYTES > K)) {
            cvs__graph_problem(problem, ctx, "knn: row of key %llu has %zu bytes (K = %zu edges of %d "
                     "bytes at most)", (unsigned long long)key, v.mv_size, K, ROW_BYTES);
            continue;
        }
        for (size_t i = 0; i < v.mv_size / ROW_BYTES; i++, p += ROW_BYTES) {
            uint64_t nk = cvs__get_u64(p);
            float sc;
            memcpy(&sc, p + 8, 4);
            if (nk == key || !cvs__has_key(txn, db->dbi_recs, nk) || !isfinite(sc)) {
                cvs__graph_problem(problem, ctx, "knn: row of key %llu has an edge to key %llu %s "
                         "(run cvstore link)", (unsigned long long)key, (unsigned long long)nk,
                         nk == key ? "(itself)" : !isfinite(sc) ? "with a non-finite score"
                                                                : "(dangling)");
            }
        }
    }
    mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    if (mrc != MDB_NOTFOUND)
        return cvs__err_lmdb(mrc, "walking knn");
    if (rows && !have_meta) {
        cvs__graph_problem(problem, ctx, "knn: %zu rows but no valid meta knn", rows);
    }
    /* Puts keep a row per record once there is a graph (raw vectors kept,
     * and a neighbour to have). */
    if (have_meta && db->raw != CVS_RAW_NONE && mdb_stat(txn, db->dbi_recs, &st) == 0 &&
        st.ms_entries > 1 && st.ms_entries != rows) {
        cvs__graph_problem(problem, ctx, "knn: %zu rows for %zu records (run cvstore link)", rows,
                 st.ms_entries);
    }
    return CVS_OK;
}

/* ==== Edge readers ==== */

static int alive(cvs_txn *t, int64_t key)
{
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    return cvs__vget(t->db, t->txn, t->db->dbi_recs, &k, &v) == 0;
}

/* Neighbours of a record that has no row (put after the build): an exact
 * search at read time, with the K of the last build.  *n = 0 when the store
 * has no graph or the record is gone. */
static int knn_search_row(cvs_txn *t, int64_t key, size_t cap, int64_t *keys, float *scores,
                          size_t *n)
{
    MDB_val mk = CVS__MKEY(CVS__META_KNN), mv;
    cvs_record rec;
    float *v = NULL, *sc = NULL;
    int64_t *lab = NULL;
    size_t k;
    int rc = CVS_OK;

    *n = 0;
    if (cvs__vget(t->db, t->txn, t->db->dbi_meta, &mk, &mv) != 0 || mv.mv_size != META_BYTES)
        return CVS_OK;
    k = cvs__get_u32((const unsigned char *)mv.mv_data + 4);
    if (!(v = malloc(t->db->dim * sizeof *v)) || !(lab = malloc((k + 1) * sizeof *lab)) ||
        !(sc = malloc((k + 1) * sizeof *sc))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = cvs_get_key(t, key, &rec, v))) {
        rc = rc == CVS_NOTFOUND ? CVS_OK : rc;
        goto out;
    }
    if ((rc = cvs_txn_search(t, v, 1, k + 1, CVS_SEARCH_EXACT, lab, sc)))
        goto out;
    for (size_t i = 0; i < k + 1 && *n < cap && *n < k; i++)
        if (lab[i] >= 0 && lab[i] != key) {
            keys[*n] = lab[i];
            scores[*n] = sc[i];
            (*n)++;
        }
out:
    free(v);
    free(lab);
    free(sc);
    return rc;
}

int cvs__graph_knn(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n)
{
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    const unsigned char *p;
    int mrc;
    *n = 0;
    if (!cvs__module_present(t->db, &cvs__graph_module))
        return CVS_OK;
    mrc = cvs__vget(t->db, t->txn, cvs__graph(t->db)->dbi_knn, &k, &v);
    if (mrc == MDB_NOTFOUND) {
        int64_t kk[64];
        float ss[64];
        size_t m;
        int rc = knn_search_row(t, key, cap < 64 ? cap : 64, kk, ss, &m);
        for (size_t i = 0; rc == CVS_OK && i < m; i++)
            out[(*n)++] = (cvs_edge){kk[i],
                                     t->db->metric == CVS_METRIC_L2 ? 1.0f / (1.0f + ss[i]) : ss[i],
                                     "knn"};
        return rc;
    }
    if (mrc)
        return cvs__err_lmdb(mrc, "reading the kNN graph");
    if (v.mv_size % ROW_BYTES)
        return cvs__err(CVS_ECORRUPT, "kNN row of key %lld has %zu bytes", (long long)key,
                        v.mv_size);
    p = v.mv_data;
    for (size_t i = 0; i < v.mv_size / ROW_BYTES && *n < cap; i++, p += ROW_BYTES) {
        int64_t nk = (int64_t)cvs__get_u64(p);
        float s;
        memcpy(&s, p + 8, 4);
        if (!alive(t, nk))
            continue;
        if (t->db->metric == CVS_METRIC_L2)
            s = 1.0f / (1.0f + s);
        out[(*n)++] = (cvs_edge){nk, s, "knn"};
    }
    return CVS_OK;
}

CVS_API int cvs_knn_neighbors(cvs_txn *txn, int64_t key, size_t cap, int64_t *keys,
                              float *scores, size_t *n)
{
    int rc;
    if (!txn || !n || (cap && (!keys || !scores)))
        return cvs__err(CVS_EINVAL, "cvs_knn_neighbors: NULL argument");
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    *n = 0;
    if (!cvs__module_present(txn->db, &cvs__graph_module))
        return CVS_OK;
    rc = cvs__vget(txn->db, txn->txn, cvs__graph(txn->db)->dbi_knn, &k, &v);
    if (rc == MDB_NOTFOUND)
        return knn_search_row(txn, key, cap, keys, scores, n);
    if (rc)
        return cvs__err_lmdb(rc, "reading the kNN graph");
    if (v.mv_size % ROW_BYTES)
        return cvs__err(CVS_ECORRUPT, "kNN row of key %lld has %zu bytes", (long long)key,
                        v.mv_size);
    const unsigned char *p = v.mv_data;
    for (size_t i = 0; i < v.mv_size / ROW_BYTES && *n < cap; i++, p += ROW_BYTES) {
        int64_t nk = (int64_t)cvs__get_u64(p);
        if (!alive(txn, nk))
            continue;
        keys[*n] = nk;
        memcpy(&scores[*n], p + 8, 4);
        (*n)++;
    }
    return CVS_OK;
}

int cvs__graph_id_key(cvs_txn *t, const char *id, size_t len, int64_t *key)
{
    unsigned char buf[CVS_IDKEY_MAX];
    MDB_val ik, iv;
    int mrc;
    cvs__idkey(id, len, buf, &ik);
    mrc = cvs__vget(t->db, t->txn, t->db->dbi_ids, &ik, &iv);
    if (mrc == MDB_NOTFOUND)
        return CVS_NOTFOUND;
    if (mrc)
        return cvs__err_lmdb(mrc, "looking up an id");
    if (iv.mv_size != 8)
        return cvs__err(CVS_ECORRUPT, "ids entry has %zu bytes", iv.mv_size);
    *key = (int64_t)cvs__get_u64(iv.mv_data);
    return CVS_OK;
}

int cvs__graph_links(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n)
{
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    cvs_link *links = NULL;
    size_t nl = 0;
    int rc, mrc;
    *n = 0;
    mrc = cvs__vget(t->db, t->txn, t->db->dbi_links, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading links");
    if ((rc = cvs__links_decode(v.mv_data, v.mv_size, &links, &nl)))
        return rc;
    for (size_t i = 0; i < nl && *n < cap; i++) {
        int64_t tk;
        rc = cvs__graph_id_key(t, links[i].id, links[i].id_len, &tk);
        if (rc == CVS_NOTFOUND) {
            rc = CVS_OK;
            continue;
        }
        if (rc)
            break;
        /* Types other than the two common ones are reported as "link": the
         * decoded strings die with links, and a path step only needs the
         * kind of edge. */
        const char *ty = !links[i].type ? "link"
                         : !strcmp(links[i].type, CVS_LINK_MENTIONS) ? CVS_LINK_MENTIONS
                                                                     : "link";
        out[(*n)++] = (cvs_edge){tk, links[i].weight, ty};
    }
    free(links);
    return rc;
}

/* Up to cap records of the snapshot linking to id, in key order, but key
 * (the record of id itself, or -1): the cap smallest.  A plain store's
 * values come in key order (MDB_INTEGERDUP), so the walk stops at cap; an
 * encrypted store's come in the order of their keyed permutation
 * (store/seal.c, deviation 2), which follows the salt, so all are read and
 * the smallest kept (deviation 4): the records a walk reaches are the
 * records', not the salt's. */
static int backlinks_of(cvs_txn *t, const char *id, size_t idl, int64_t key, cvs_edge *out,
                        size_t cap, size_t *n)
{
    unsigned char buf[CVS_IDKEY_MAX];
    MDB_cursor *cur = NULL;
    MDB_val ik, bv;
    int64_t *all = NULL;
    size_t nall = 0, count = 0;
    int crypt = t->db->crypt != NULL, rc = CVS_OK, mrc;
    *n = 0;
    cvs__idkey(id, idl, buf, &ik);
    if ((mrc = mdb_cursor_open(t->txn, t->db->dbi_backlinks, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    mrc = cvs__cget(t->db, cur, &ik, &bv, MDB_SET_KEY);
    if (crypt && mrc == 0 && cap && (mrc = mdb_cursor_count(cur, &count)) == 0 &&
        !(all = malloc(count * sizeof *all))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (; mrc == 0 && (crypt ? nall < count : *n < cap);
         mrc = cvs__cget(t->db, cur, &ik, &bv, MDB_NEXT_DUP)) {
        int64_t src = (int64_t)cvs__get_u64(bv.mv_data);
        if (src == key)
            continue;
        if (crypt)
            all[nall++] = src;
        else
            out[(*n)++] = (cvs_edge){src, 1.0f, "linked-by"};
    }
    if (mrc && mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading backlinks");
        goto out;
    }
    if (nall)
        qsort(all, nall, sizeof *all, cvs__cmp_i64);
    for (size_t i = 0; i < nall && *n < cap; i++)
        out[(*n)++] = (cvs_edge){all[i], 1.0f, "linked-by"};
out:
    mdb_cursor_close(cur);
    free(all);
    return rc;
}

int cvs__graph_backlinks(cvs_txn *t, int64_t key, cvs_edge *out, size_t cap, size_t *n)
{
    const char *id;
    size_t idl;
    int rc;
    *n = 0;
    if ((rc = cvs_key_id(t, key, &id, &idl)))
        return rc == CVS_NOTFOUND ? CVS_OK : rc;
    return backlinks_of(t, id, idl, key, out, cap, n);
}

CVS_API int cvs_txn_backlinks_id(cvs_txn *txn, const char *id, size_t id_len, size_t cap,
                                 cvs_edge *out, size_t *n)
{
    int64_t self = -1;
    int rc;
    if (!txn || !n || !id || (cap && !out))
        return cvs__err(CVS_EINVAL, "cvs_txn_backlinks_id: NULL argument");
    *n = 0;
    if (!id_len || id_len > CVS_MAX_ID_LEN)
        return CVS_OK; /* no record has such an id, none links to it */
    if ((rc = cvs__graph_id_key(txn, id, id_len, &self)) && rc != CVS_NOTFOUND)
        return rc;
    return backlinks_of(txn, id, id_len, self, out, cap, n);
}

CVS_API int cvs_txn_id_key(cvs_txn *txn, const char *id, size_t id_len, int64_t *key)
{
    if (!txn || !key || !id)
        return cvs__err(CVS_EINVAL, "cvs_txn_id_key: NULL argument");
    if (!id_len || id_len > CVS_MAX_ID_LEN)
        return CVS_NOTFOUND;
    return cvs__graph_id_key(txn, id, id_len, key);
}

CVS_API int cvs_txn_edges(cvs_txn *txn, int64_t key, cvs_edge_kind kind, size_t cap,
                          cvs_edge *out, size_t *n)
{
    if (!txn || !n || (cap && !out))
        return cvs__err(CVS_EINVAL, "cvs_txn_edges: NULL argument");
    *n = 0;
    switch (kind) {
    case CVS_EDGES_LINKS: return cvs__graph_links(txn, key, out, cap, n);
    case CVS_EDGES_BACKLINKS: return cvs__graph_backlinks(txn, key, out, cap, n);
    case CVS_EDGES_KNN: return cvs__graph_knn(txn, key, out, cap, n);
    }
    return cvs__err(CVS_EINVAL, "cvs_txn_edges: unknown kind %d", (int)kind);
}

/* ==== The module (store/module.h) ==== */

/* Per write: the old titles of the records updated or deleted. */
static int graph_write_begin(cvs__wctx *w, void *ws)
{
    (void)w;
    cvs__minc_reset(ws);
    return CVS_OK;
}

static int graph_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    return r->existed ? cvs__mentions_before(w->db, w->txn, ws, r->key) : CVS_OK;
}

static int graph_put_done(cvs__wctx *w, void *ws, const int64_t *keys,
                          const unsigned char *existed, size_t n)
{
    int rc;
    if ((rc = cvs__mentions_after(w->db, w->txn, ws, keys, n)))
        return rc;
    return cvs__graph_on_put(w->db, w->txn, keys, existed, n);
}

static int graph_del(cvs__wctx *w, void *ws, uint64_t key)
{
    return cvs__mentions_before(w->db, w->txn, ws, key);
}

/* The graph last: its rows are recomputed over what remains. */
static int graph_del_done(cvs__wctx *w, void *ws, int64_t *keys, size_t n)
{
    int rc;
    if ((rc = cvs__mentions_after(w->db, w->txn, ws, NULL, 0)))
        return rc;
    return cvs__graph_on_delete(w->db, w->txn, keys, n);
}

static void graph_write_free(void *ws)
{
    cvs__minc_free(ws);
}

static int graph_check(cvs_db *db, void *state, cvs__chk *c)
{
    int rc;
    (void)state;
    if ((rc = cvs__knn_check(db, cvs__chk_txn(c), cvs__chk_problem_cb, c)))
        return rc;
    return cvs__titlemap_check(db, cvs__chk_txn(c), cvs__chk_problem_cb, c);
}

/* Added after the text layer: a writable open of an older store creates
 * them empty (no graph until `cvstore link`). */
static const cvs__dbi_spec graph_dbis[] = {
    {"knn", MDB_INTEGERKEY, CVS__DBI_CHECK_OPENS, offsetof(struct cvs__graph_state, dbi_knn), 0,
     CVS__SEAL_VALUES},
    {"titlemap", MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP, 0,
     offsetof(struct cvs__graph_state, dbi_titlemap), 0, CVS__SEAL_HKEY | CVS__SEAL_DET8},
};

const cvs__module cvs__graph_module = {
    .version = CVS__MODULE_VERSION,
    .name = "graph",
    .flags = CVS__MOD_CHECK_NEEDS_VALUES,
    .dbis = graph_dbis,
    .ndbis = sizeof graph_dbis / sizeof graph_dbis[0],
    .state_size = sizeof(struct cvs__graph_state),
    .wstate_size = sizeof(cvs__minc),
    .write_begin = graph_write_begin,
    .put = graph_put,
    .put_done = graph_put_done,
    .del = graph_del,
    .del_done = graph_del_done,
    .write_free = graph_write_free,
    .check = graph_check,
};
