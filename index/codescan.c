/*
 * codescan.c -- exhaustive search over the compressed codes: asymmetric
 * distance computation (Jégou, Douze, Schmid 2011, section 4) with an
 * optional re-ranking of the best candidates by their raw vectors.
 *
 * For each query the codec builds a look-up table (LUT) of the query's
 * distance to every centroid of every sub-quantizer; a code's distance is
 * then M table look-ups and adds, done by the pq/ kernels: float look-ups
 * for 8-bit codes, and for 4-bit codes the "fast scan" of André et
 * al. (2015), where the LUT is quantized to bytes and 32 codes are scored
 * per AVX2 shuffle.  sq8 codecs have no LUT and use the codec's own
 * distance routine.
 *
 * Deviations:
 *  1. The codes of a snapshot are copied once into memory (and, for 4-bit
 *     codes, packed into fast-scan blocks) and shared by the searches of that
 *     snapshot, as the raw vectors are in index/flat.c.
 *  2. The fast-scan distances are quantized; with re-ranking the final
 *     order comes from exact distances, without it the quantization error
 *     (at most M * scale / 2) shows in the order of near-ties.
 *  3. 8-bit codes are scanned for CVS_ADC8_QBLOCK queries at once
 *     (cvs__adc8_scan_multi): their LUTs are interleaved so that each code
 *     byte selects one vector of all the block's entries, which reads the
 *     codes once per block instead of once per query and took the scan
 *     from ~3.5 to ~1.05 ns per query and code at M = 16 (see pq/kernels.c).
 *     The distances are bit-identical to the per-query scalar reference
 *     (and so to cvs__adc8_scan's x8 kernel); the price is a distance
 *     buffer of CVS_ADC8_QBLOCK * n floats and a LUT of 8x the size.
 *  4. Filters: codes of records outside the filter's bitmap are kept out of
 *     the candidate heap (their distances are still computed, since the
 *     kernels score whole blocks), so the re-ranked candidates all match and
 *     a filter never costs results the way post-filtering would.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/codescan.h"
#include "index/codes.h"
#include "index/flat.h"
#include "core/heap.h"
#include "index/topk.h"

/* Codes per multi-query scan call: 8 x 2048 floats of distances = 64 KiB. */
#define ADC8_CHUNK 2048
#include "pq/codec.h"
#include "pq/kernels.h"
#include "store/filter.h"
#include "store/seal.h"

typedef struct cvs_codes {
    size_t txnid;
    size_t n, cs, m;
    int64_t *keys;
    uint8_t *codes;    /* n * cs, plain layout */
    uint8_t *packed;   /* fast-scan blocks (4-bit codecs), else NULL */
    int refs;
} cvs_codes;

static void codes_free(cvs_codes *c)
{
    if (!c)
        return;
    free(c->keys);
    free(c->codes);
    free(c->packed);
    free(c);
}

static void codes_release(cvs_db *db, cvs_codes *c)
{
    int last;
    if (!c)
        return;
    pthread_mutex_lock(&cvs__codes(db)->scan_mu);
    last = --c->refs == 0;
    pthread_mutex_unlock(&cvs__codes(db)->scan_mu);
    if (last)
        codes_free(c);
}

void cvs__codes_drop(cvs_db *db)
{
    struct cvs__codes_state *st = cvs__codes(db);
    cvs_codes *c;
    pthread_mutex_lock(&st->scan_mu);
    c = st->scan;
    st->scan = NULL;
    pthread_mutex_unlock(&st->scan_mu);
    codes_release(db, c);
}

static int codes_load(cvs_db *db, MDB_txn *txn, const cvs_codec *codec, cvs_codes **out)
{
    cvs__scan scan = {0};
    cvs_codes *c = calloc(1, sizeof *c);
    MDB_stat st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t i = 0;
    int rc = CVS_OK, mrc;

    if (!c)
        return cvs__err(CVS_ENOMEM, "out of memory");
    c->txnid = mdb_txn_id(txn);
    c->cs = cvs__codec_code_size(codec);
    c->m = cvs__codec_m(codec);
    c->refs = 1;
    if ((mrc = mdb_stat(txn, cvs__codes(db)->dbi_codes, &st))) {
        rc = cvs__err_lmdb(mrc, "counting codes");
        goto out;
    }
    if (!cvs__count_fits(st.ms_entries, c->cs + 8)) {
        rc = cvs__err(CVS_ECORRUPT, "codes: a count of %zu entries; run cvstore check",
                      st.ms_entries);
        goto out;
    }
    c->keys = malloc((st.ms_entries + 1) * sizeof *c->keys);
    c->codes = malloc((st.ms_entries + 1) * c->cs);
    if (!c->keys || !c->codes) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu codes", st.ms_entries);
        goto out;
    }
    if ((mrc = mdb_cursor_open(txn, cvs__codes(db)->dbi_codes, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0 && i < st.ms_entries;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan), i++) {
        if (k.mv_size != 8 || v.mv_size != c->cs) {
            rc = cvs__err(CVS_ECORRUPT, "codes: entry of %zu bytes (expected %zu); run cvstore check",
                          v.mv_size, c->cs);
            goto out;
        }
        c->keys[i] = (int64_t)cvs__get_u64(k.mv_data);
        memcpy(c->codes + i * c->cs, v.mv_data, c->cs);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading codes");
        goto out;
    }
    c->n = i;
    if (cvs__codec_is_4bit(codec)) {
        if (!(c->packed = malloc(cvs__fs4_packed_size(c->n, c->m) + 32))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory packing codes");
            goto out;
        }
        cvs__fs4_pack(c->codes, c->n, c->m, c->packed);
    }
out:
    cvs__scan_free(&scan);
    if (cur)
        mdb_cursor_close(cur);
    if (rc) {
        codes_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

static int codes_get(cvs_db *db, MDB_txn *txn, const cvs_codec *codec, cvs_codes **out)
{
    struct cvs__codes_state *st = cvs__codes(db);
    size_t id = mdb_txn_id(txn);
    cvs_codes *c = NULL;
    int rc;
    pthread_mutex_lock(&st->scan_mu);
    if (st->scan && st->scan->txnid == id) {
        st->scan->refs++;
        *out = st->scan;
        pthread_mutex_unlock(&st->scan_mu);
        return CVS_OK;
    }
    pthread_mutex_unlock(&st->scan_mu);
    if ((rc = codes_load(db, txn, codec, &c)))
        return rc;
    pthread_mutex_lock(&st->scan_mu);
    if (!st->scan || st->scan->txnid < c->txnid) {
        cvs_codes *old = st->scan;
        st->scan = c;
        c->refs++;
        if (old && --old->refs == 0)
            codes_free(old);
    }
    pthread_mutex_unlock(&st->scan_mu);
    *out = c;
    return CVS_OK;
}

/* Exact "smaller is better" distance of q to key's raw vector. */
static int raw_distance(cvs_db *db, MDB_txn *txn, const cvs_flat *flat, const float *q,
                        float qn, int64_t key, float *tmp, float *out)
{
    const float *x = NULL;
    double acc = 0;
    if (flat) {
        size_t lo = 0, hi = flat->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (flat->keys[mid] < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < flat->n && flat->keys[lo] == key)
            x = flat->x + lo * db->dim;
    }
    if (!x) {
        uint64_t k64 = (uint64_t)key;
        MDB_val k = {8, &k64}, v;
        int mrc = cvs__vget(db, txn, db->dbi_vecs, &k, &v);
        if (mrc)
            return cvs__err_lmdb(mrc, "reading a vector to rerank");
        if (v.mv_size != cvs__vec_bytes(db))
            return cvs__err(CVS_ECORRUPT, "vecs: entry of %zu bytes; run cvstore check", v.mv_size);
        cvs__decode_vec(db, v.mv_data, tmp);
        x = tmp;
    }
    for (uint32_t d = 0; d < db->dim; d++)
        acc += (double)q[d] * x[d];
    if (db->metric == CVS_METRIC_L2) {
        double xn = 0;
        for (uint32_t d = 0; d < db->dim; d++)
            xn += (double)x[d] * x[d];
        *out = (float)(qn + xn - 2 * acc);
    } else {
        *out = (float)-acc;
    }
    return CVS_OK;
}

int cvs__codes_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                      size_t rerank, const uint64_t *allow, size_t allow_words,
                      int64_t *labels, float *scores)
{
    cvs_db *db = t->db;
    cvs_codec *codec;
    cvs_codes *cc = NULL;
    cvs_flat *flat = NULL;
    size_t kk = rerank > k ? rerank : k, lut_n, qblock;
    float *lut = NULL, *lutq = NULL, *dist = NULL, *hd = NULL, *hd2 = NULL, *tmp = NULL;
    float offsets[CVS_ADC8_QBLOCK];
    int64_t *hid = NULL, *hidm = NULL;
    float *hdm = NULL;
    cvs_heap hs[CVS_ADC8_QBLOCK];
    uint8_t *qlut = NULL;
    uint16_t *acc = NULL;
    int multi, rc;

    if ((rc = cvs__codec_for_txn(db, t->txn, &codec, NULL)))
        return rc;
    if (!codec)
        return cvs__err(CVS_EINVAL, "%s: no codec has been built: run cvstore build, or search exactly",
                        db->path);
    if ((rc = codes_get(db, t->txn, codec, &cc)))
        return rc;
    if (rerank && (rc = cvs__flat_get(db, t->txn, &flat)))
        goto out;
    lut_n = cvs__codec_lut_size(codec);
    /* 8-bit PQ: queries are scored CVS_ADC8_QBLOCK at a time by the
     * multi-query kernel (deviation 3), one LUT per query of the block and
     * one distance row per query.  4-bit and sq8: one query at a time. */
    multi = lut_n && !cvs__codec_is_4bit(codec);
    qblock = multi ? CVS_ADC8_QBLOCK : 1;
    lut = malloc((qblock * lut_n + 1) * sizeof *lut);
    dist = malloc(((multi ? qblock * ADC8_CHUNK : cc->n) + 32) * sizeof *dist);
    if (multi) {
        hdm = malloc(qblock * kk * sizeof *hdm);
        hidm = malloc(qblock * kk * sizeof *hidm);
        if (!hdm || !hidm) {
            rc = cvs__err(CVS_ENOMEM, "out of memory for a code scan");
            goto out;
        }
    }
    hd = malloc(kk * sizeof *hd);
    hid = malloc(kk * sizeof *hid);
    hd2 = malloc(k * sizeof *hd2);
    tmp = malloc(db->dim * sizeof *tmp);
    if (multi) /* 64-byte aligned: each 32-byte entry vector stays within one cache line */
        lutq = aligned_alloc(64, (lut_n * CVS_ADC8_QBLOCK * sizeof *lutq + 63) & ~(size_t)63);
    if (cvs__codec_is_4bit(codec)) {
        qlut = malloc(lut_n + 32);
        acc = malloc((cc->n + 32) * sizeof *acc);
    }
    if (!lut || !dist || !hd || !hid || !hd2 || !tmp || (multi && !lutq) ||
        (cvs__codec_is_4bit(codec) && (!qlut || !acc))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for a code scan");
        goto out;
    }
    for (size_t b0 = 0; b0 < nq; b0 += qblock) {
        const size_t bn = nq - b0 < qblock ? nq - b0 : qblock;
        if (multi) {
            const float *luts[CVS_ADC8_QBLOCK];
            if ((rc = cvs__codec_lut_batch(codec, q + b0 * db->dim, bn, lut, offsets)))
                goto out;
            for (size_t b = 0; b < bn; b++)
                luts[b] = lut + b * lut_n;
            cvs__adc8_interleave(luts, bn, cc->m, lutq);
            /* Chunks of ADC8_CHUNK codes: the 8 rows of distances stay in
             * L2 between the scan and the selection (deviation 3). */
            for (size_t b = 0; b < bn; b++)
                cvs__heap_init(&hs[b], kk, hdm + b * kk, hidm + b * kk);
            for (size_t c0 = 0; c0 < cc->n; c0 += ADC8_CHUNK) {
                size_t cn = cc->n - c0 < ADC8_CHUNK ? cc->n - c0 : ADC8_CHUNK;
                cvs__adc8_scan_multi(lutq, bn, cc->codes + c0 * cc->cs, cn, cc->m, dist);
                for (size_t b = 0; b < bn; b++)
                    cvs__heap_offer_allow(&hs[b], dist + b * cn, offsets[b], cc->keys + c0, cn,
                                          allow, allow_words);
            }
        }
        for (size_t i = b0; i < b0 + bn; i++) {
            const float *qi = q + i * db->dim;
            float *di = dist + (i - b0) * cc->n;
            float offset = 0;
            cvs_heap h;
            size_t n;
            if (multi) {
                h = hs[i - b0];
                memcpy(hd, h.d, h.n * sizeof *hd);
                memcpy(hid, h.id, h.n * sizeof *hid);
                h.d = hd;
                h.id = hid;
            } else if (lut_n) { /* 4-bit: fast scan */
                float scale, bias;
                size_t nblocks = (cc->n + 31) / 32;
                if ((rc = cvs__codec_lut(codec, qi, lut, &offset)))
                    goto out;
                cvs__fs4_quantize_lut(lut, cc->m, qlut, &scale, &bias);
                cvs__fs4_scan(cc->packed, nblocks, cc->m, qlut, acc);
                for (size_t j = 0; j < cc->n; j++)
                    di[j] = scale * (float)acc[j];
                offset += bias; /* (offset + bias) + scale * acc, as before */
            } else if ((rc = cvs__codec_distances(codec, qi, cc->codes, cc->n, di))) {
                goto out;
            }
            if (!multi) {
                cvs__heap_init(&h, kk, hd, hid);
                cvs__heap_offer_allow(&h, di, offset, cc->keys, cc->n, allow, allow_words);
            }
            n = cvs__heap_sort(&h);
            if (rerank) {
                cvs_heap h2;
                cvs__heap_init(&h2, k, hd2, labels + i * k);
                for (size_t j = 0; j < n; j++) {
                    float d = 0;
                    if ((rc = raw_distance(db, t->txn, flat, qi, qn[i], hid[j], tmp, &d)))
                        goto out;
                    cvs__heap_push(&h2, d, hid[j]);
                }
                n = cvs__heap_sort(&h2);
                memcpy(hd, hd2, n * sizeof *hd);
            } else {
                memcpy(labels + i * k, hid, (n < k ? n : k) * sizeof *hid);
                if (n > k)
                    n = k;
            }
            for (size_t j = 0; j < k; j++) {
                if (j >= n) {
                    labels[i * k + j] = -1;
                    scores[i * k + j] = NAN;
                } else if (db->metric == CVS_METRIC_L2) {
                    scores[i * k + j] = hd[j] > 0 ? sqrtf(hd[j]) : 0.0f;
                } else {
                    scores[i * k + j] = -hd[j];
                }
            }
        }
    }
out:
    codes_release(db, cc);
    cvs__flat_release(db, flat);
    free(lut);
    free(lutq);
    free(dist);
    free(hd);
    free(hid);
    free(hidm);
    free(hdm);
    free(hd2);
    free(tmp);
    free(qlut);
    free(acc);
    return rc;
}
