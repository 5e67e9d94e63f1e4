/*
 * pq.c -- product quantization (Jégou, Douze, Schmid 2011, "Product
 * quantization for nearest neighbor search", IEEE TPAMI 33(1)).
 *
 * A d-dimensional vector is cut into M sub-vectors of dsub = d/M floats;
 * each is replaced by the index of its nearest centroid in a per-sub-space
 * codebook of ksub = 2^nbits centroids learned by k-means.  A query is
 * compared to all codes through a look-up table of query-to-centroid
 * sub-distances (asymmetric distance computation, ADC: the query stays
 * exact, only the database is quantized).
 *
 * Where we deviate from the paper:
 *  1. 4-bit codebooks (ksub = 16) besides 8-bit, for the fast-scan kernels
 *     (André, Kermarrec, Le Scouarnec 2015); the paper only uses 8 bits.
 *  2. Nearest-centroid search is batched as one sgemm per sub-space and
 *     block (see kmeans.c) rather than a per-vector loop.
 *  3. Optional score-aware encoding (Guo et al. 2020, "Accelerating
 *     large-scale inference with anisotropic vector quantization", ScaNN)
 *     for inner-product search, see cvs__pq_assign_aniso below.  Only the
 *     assignment uses the anisotropic loss; the codebooks stay the k-means
 *     ones (the paper's codebook update solves a coupled least-squares
 *     system over all M*ksub*dsub centroid coordinates; not done here).
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pq/panel.h"
#include "pq/pq.h"

int cvs__pq_init(cvs__pq *pq, uint32_t d, uint32_t M, uint32_t nbits)
{
    memset(pq, 0, sizeof *pq);
    if (M == 0 || M > 256 || d == 0 || d % M || (nbits != 4 && nbits != 8))
        return cvs__err(CVS_EINVAL, "pq: bad shape d=%u M=%u nbits=%u", d, M, nbits);
    pq->d = d;
    pq->M = M;
    pq->nbits = nbits;
    pq->ksub = 1u << nbits;
    pq->dsub = d / M;
    pq->cent = calloc((size_t)M * pq->ksub * pq->dsub, sizeof *pq->cent);
    if (!pq->cent)
        return cvs__err(CVS_ENOMEM, "pq: out of memory for codebooks");
    return 0;
}

void cvs__pq_destroy(cvs__pq *pq)
{
    if (!pq)
        return;
    free(pq->cent);
    free(pq->cent_p);
    pq->cent = NULL;
    pq->cent_p = NULL;
}

int cvs__pq_prepare(cvs__pq *pq)
{
    const size_t K = pq->ksub, ds = pq->dsub, pf = cvs__panel_floats(ds, K);
    /* 64-byte aligned: each panel row is one cache line (pf is a multiple
     * of 16 floats, so every sub-quantizer's panels stay aligned). */
    float *p = aligned_alloc(64, (size_t)pq->M * pf * sizeof *p + 64);
    if (!p)
        return cvs__err(CVS_ENOMEM, "pq: out of memory for the LUT codebooks");
    for (size_t m = 0; m < pq->M; m++)
        cvs__panel_pack(pq->cent + m * K * ds, ds, K, 1, ds, p + m * pf);
    free(pq->cent_p);
    pq->cent_p = p;
    return 0;
}

size_t cvs__pq_code_size(const cvs__pq *pq)
{
    return pq->nbits == 8 ? pq->M : (pq->M + 1) / 2;
}

/* ==== Training ==== */

int cvs__pq_train(cvs__pq *pq, const float *x, size_t n, const cvs__kmeans_opts *o,
                  uint8_t *idx)
{
    int rc = 0;
    int32_t *asg = malloc(n * sizeof *asg);
    if (!asg)
        return cvs__err(CVS_ENOMEM, "pq: out of memory");
    for (uint32_t m = 0; m < pq->M; m++) {
        cvs__kmeans_opts ko = *o;
        /* A distinct, reproducible stream per sub-space. */
        ko.seed = o->seed + 0x9E3779B97F4A7C15ull * (m + 1);
        ko.progress_base = o->progress_base + (uint64_t)m * o->iters;
        ko.progress_total = o->progress_total ? o->progress_total
                                              : (uint64_t)pq->M * o->iters;
        rc = cvs__kmeans(x + (size_t)m * pq->dsub, n, pq->dsub, pq->d, pq->ksub, &ko,
                         pq->cent + (size_t)m * pq->ksub * pq->dsub, asg, NULL);
        if (rc)
            goto out;
        if (idx)
            for (size_t i = 0; i < n; i++)
                idx[i * pq->M + m] = (uint8_t)asg[i];
    }
    rc = cvs__pq_prepare(pq);
out:
    free(asg);
    return rc;
}

/* ==== Encoding ==== */

int cvs__pq_assign(const cvs__pq *pq, const float *x, size_t n, uint8_t *idx)
{
    int rc = 0;
    const size_t bs = 16384;
    size_t K = pq->ksub, ds = pq->dsub;
    int32_t *asg = malloc((n < bs ? n : bs) * sizeof *asg + 1);
    float *cn = malloc((size_t)pq->M * K * sizeof *cn);
    if (!asg || !cn) {
        rc = cvs__err(CVS_ENOMEM, "pq: out of memory");
        goto out;
    }
    for (uint32_t m = 0; m < pq->M; m++)
        cvs__row_norms(pq->cent + m * K * ds, K, ds, ds, cn + m * K);
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        for (uint32_t m = 0; m < pq->M; m++) {
            rc = cvs__kmeans_assign(x + i0 * pq->d + m * ds, nb, ds, pq->d,
                                    pq->cent + m * K * ds, K, cn + m * K, asg, NULL);
            if (rc)
                goto out;
            for (size_t i = 0; i < nb; i++)
                idx[(i0 + i) * pq->M + m] = (uint8_t)asg[i];
        }
    }
out:
    free(asg);
    free(cn);
    return rc;
}

/*
 * Score-aware assignment (ScaNN, Guo et al. 2020, section 3).  For a
 * datapoint x and its reconstruction x~, r = x - x~ splits into r_par (along
 * x) and r_perp.  For inner-product search the error that matters is the
 * one along x (queries that score high against x are nearly parallel to
 * it), so the loss is h_par ||r_par||^2 + h_perp ||r_perp||^2 with
 * eta = h_par / h_perp > 1.  With E = ||r||^2 and P = r . x/||x|| this is
 *     E + (eta - 1) P^2            (taking h_perp = 1).
 * Both E and P are sums over sub-spaces, and every term needed for a
 * candidate centroid j of sub-space m comes from the dot product
 * D_mj = x_m . c_mj (computed once, by sgemm):
 *     e_mj = ||x_m||^2 - 2 D_mj + ||c_mj||^2,   p_mj = (||x_m||^2 - D_mj)/||x||.
 * Coordinate descent then visits the sub-spaces in turn, replacing one
 * code at a time by the best one given the others (the paper's
 * Algorithm 1 does the same); each visit never increases the loss.
 */
int cvs__pq_assign_aniso(const cvs__pq *pq, const float *x, size_t n, float eta, int passes,
                         uint8_t *idx)
{
    int rc = 0;
    size_t M = pq->M, K = pq->ksub, ds = pq->dsub, d = pq->d;
    size_t bs = (size_t)(1u << 20) / (M * K);
    if (bs < 1)
        bs = 1;
    float *cn = malloc(M * K * sizeof *cn);
    float *D = malloc(bs * M * K * sizeof *D);
    double *e = malloc(M * sizeof *e), *p = malloc(M * sizeof *p);
    if (!cn || !D || !e || !p) {
        rc = cvs__err(CVS_ENOMEM, "pq: out of memory");
        goto out;
    }
    const double w = (double)eta - 1.0;
    for (size_t m = 0; m < M; m++)
        cvs__row_norms(pq->cent + m * K * ds, K, ds, ds, cn + m * K);
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        /* D[i][m][j] = x_i,m . c_mj: C = X_m * C_m^T, written with ldc = M*K. */
        for (size_t m = 0; m < M; m++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)K, (int)ds,
                        1.0f, x + i0 * d + m * ds, (int)d, pq->cent + m * K * ds, (int)ds,
                        0.0f, D + m * K, (int)(M * K));
        for (size_t i = 0; i < nb; i++) {
            const float *xi = x + (i0 + i) * d;
            const float *Di = D + i * M * K;
            uint8_t *code = idx + (i0 + i) * M;
            double nx2 = 0;
            for (size_t t = 0; t < d; t++)
                nx2 += (double)xi[t] * xi[t];
            if (nx2 <= 0)
                continue; /* zero vector: every code scores 0 anyway */
            double inv = 1.0 / sqrt(nx2), E = 0, P = 0;
            for (size_t m = 0; m < M; m++) {
                double xm2 = 0;
                for (size_t t = 0; t < ds; t++)
                    xm2 += (double)xi[m * ds + t] * xi[m * ds + t];
                size_t j = code[m];
                e[m] = xm2 - 2.0 * Di[m * K + j] + cn[m * K + j];
                p[m] = (xm2 - Di[m * K + j]) * inv;
                E += e[m];
                P += p[m];
            }
            for (int pass = 0; pass < passes; pass++) {
                int changed = 0;
                for (size_t m = 0; m < M; m++) {
                    double xm2 = e[m] + 2.0 * Di[m * K + code[m]] - cn[m * K + code[m]];
                    double E0 = E - e[m], P0 = P - p[m];
                    double best = E + w * P * P;
                    size_t bj = code[m];
                    for (size_t j = 0; j < K; j++) {
                        double ej = xm2 - 2.0 * Di[m * K + j] + cn[m * K + j];
                        double pj = (xm2 - Di[m * K + j]) * inv;
                        double Pn = P0 + pj;
                        double l = E0 + ej + w * Pn * Pn;
                        if (l < best) {
                            best = l;
                            bj = j;
                        }
                    }
                    if (bj != code[m]) {
                        code[m] = (uint8_t)bj;
                        e[m] = xm2 - 2.0 * Di[m * K + bj] + cn[m * K + bj];
                        p[m] = (xm2 - Di[m * K + bj]) * inv;
                        E = E0 + e[m];
                        P = P0 + p[m];
                        changed = 1;
                    }
                }
                if (!changed)
                    break;
            }
        }
    }
out:
    free(cn);
    free(D);
    free(e);
    free(p);
    return rc;
}

/* ==== Packing, decoding, LUTs ==== */

void cvs__pq_pack(const cvs__pq *pq, const uint8_t *idx, size_t n, uint8_t *codes)
{
    size_t M = pq->M, cs = cvs__pq_code_size(pq);
    if (pq->nbits == 8) {
        memcpy(codes, idx, n * M);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *c = codes + i * cs;
        memset(c, 0, cs);
        for (size_t m = 0; m < M; m++)
            c[m / 2] |= (uint8_t)((idx[i * M + m] & 15) << (m % 2 ? 4 : 0));
    }
}

void cvs__pq_unpack(const cvs__pq *pq, const uint8_t *codes, size_t n, uint8_t *idx)
{
    size_t M = pq->M, cs = cvs__pq_code_size(pq);
    if (pq->nbits == 8) {
        memcpy(idx, codes, n * M);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t m = 0; m < M; m++)
            idx[i * M + m] = (codes[i * cs + m / 2] >> (m % 2 ? 4 : 0)) & 15;
}

void cvs__pq_decode_idx(const cvs__pq *pq, const uint8_t *idx, size_t n, float *x)
{
    size_t M = pq->M, K = pq->ksub, ds = pq->dsub;
    for (size_t i = 0; i < n; i++)
        for (size_t m = 0; m < M; m++)
            memcpy(x + i * pq->d + m * ds, pq->cent + (m * K + idx[i * M + m]) * ds,
                   ds * sizeof *x);
}

void cvs__pq_lut(const cvs__pq *pq, const float *y, size_t nq, int ip, float *lut)
{
    const size_t M = pq->M, K = pq->ksub, ds = pq->dsub, pf = cvs__panel_floats(ds, K);
    if (!pq->cent_p) {
        for (size_t q = 0; q < nq; q++)
            cvs__pq_lut_scalar(pq, y + q * pq->d, ip, lut + q * M * K);
        return;
    }
    if (K == CVS_PANEL) /* 4-bit: each sub-quantizer is one panel */
        cvs__panel_apply_blocks(ip ? CVS_PANEL_DOT : CVS_PANEL_L2, pq->cent_p, M, ds, y, pq->d,
                                nq, lut, M * K);
    else
        for (size_t m = 0; m < M; m++)
            cvs__panel_apply(ip ? CVS_PANEL_DOT : CVS_PANEL_L2, pq->cent_p + m * pf, ds, K,
                             y + m * ds, pq->d, nq, lut + m * K, M * K);
    if (ip) /* the reference negates each finished sum: exact */
        for (size_t i = 0; i < nq * M * K; i++)
            lut[i] = -lut[i];
}

void cvs__pq_lut_scalar(const cvs__pq *pq, const float *y, int ip, float *lut)
{
    size_t M = pq->M, K = pq->ksub, ds = pq->dsub;
    for (size_t m = 0; m < M; m++) {
        const float *ym = y + m * ds;
        for (size_t j = 0; j < K; j++) {
            const float *c = pq->cent + (m * K + j) * ds;
            float s = 0;
            if (ip) {
                for (size_t t = 0; t < ds; t++)
                    s += ym[t] * c[t];
                s = -s;
            } else {
                for (size_t t = 0; t < ds; t++) {
                    float df = ym[t] - c[t];
                    s += df * df;
                }
            }
            lut[m * K + j] = s;
        }
    }
}
