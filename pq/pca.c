/*
 * pca.c -- principal component analysis (Pearson 1901; Hotelling 1933) as a
 * dimension-reducing front for the quantizers, as in Jégou et al. 2011
 * section IV-A ("PCA before PQ") and FAISS's PCAMatrix.
 *
 * The mean and the covariance C = (1/n) sum (x - mean)(x - mean)^T are
 * computed on the training sample (the covariance by cblas_ssyrk, block by
 * block, so the centered copy never exceeds a few MiB), and the top r
 * eigenvectors of C (LAPACKE_ssyevr, asking only for the wanted index range)
 * form P (d x r).  A vector is projected as y = (x - mean) P and
 * reconstructed as mean + y P^T; the reconstruction error is the energy in
 * the dropped directions.
 *
 * Where we deviate:
 *  1. No whitening and no random rotation after the projection (FAISS
 *     offers both): the OPQ stage, when present, finds a better rotation,
 *     and whitening would distort the distances the codec must preserve.
 *  2. Each axis's sign is fixed (largest-magnitude coordinate positive) so
 *     that a training run is reproducible across LAPACK builds.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pq/pca.h"

int cvs__pca_alloc(cvs__pca *p, uint32_t d, uint32_t r)
{
    memset(p, 0, sizeof *p);
    if (d == 0 || r == 0 || r > d)
        return cvs__err(CVS_EINVAL, "pca: bad shape d=%u r=%u", d, r);
    p->d = d;
    p->r = r;
    p->mean = calloc(d, sizeof *p->mean);
    p->P = calloc((size_t)d * r, sizeof *p->P);
    if (!p->mean || !p->P) {
        cvs__pca_destroy(p);
        return cvs__err(CVS_ENOMEM, "pca: out of memory");
    }
    return 0;
}

void cvs__pca_destroy(cvs__pca *p)
{
    if (!p)
        return;
    free(p->mean);
    free(p->P);
    free(p->eig);
    p->mean = p->P = p->eig = NULL;
}

int cvs__pca_train(cvs__pca *p, const float *x, size_t n, uint32_t d, uint32_t r)
{
    int rc;
    double *msum = NULL;
    float *C = NULL, *blk = NULL, *w = NULL, *Z = NULL;
    lapack_int *isuppz = NULL;
    const size_t bs = 4096;

    if (n == 0)
        return cvs__err(CVS_EINVAL, "pca: no training vectors");
    rc = cvs__pca_alloc(p, d, r);
    if (rc)
        return rc;
    msum = calloc(d, sizeof *msum);
    C = calloc((size_t)d * d, sizeof *C);
    blk = malloc((n < bs ? n : bs) * d * sizeof *blk);
    w = malloc(d * sizeof *w);
    Z = malloc((size_t)d * r * sizeof *Z);
    isuppz = malloc(2 * (size_t)d * sizeof *isuppz);
    p->eig = malloc(r * sizeof *p->eig);
    if (!msum || !C || !blk || !w || !Z || !isuppz || !p->eig) {
        rc = cvs__err(CVS_ENOMEM, "pca: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < d; t++)
            msum[t] += x[i * d + t];
    for (size_t t = 0; t < d; t++)
        p->mean[t] = (float)(msum[t] / (double)n);
    /* Upper triangle of C += Xc^T Xc / n, block by block. */
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        for (size_t i = 0; i < nb; i++)
            for (size_t t = 0; t < d; t++)
                blk[i * d + t] = x[(i0 + i) * d + t] - p->mean[t];
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb,
                    1.0f / (float)n, blk, (int)d, 1.0f, C, (int)d);
    }
    lapack_int found = 0;
    lapack_int info = LAPACKE_ssyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)d, C,
                                     (lapack_int)d, 0.0f, 0.0f, (lapack_int)(d - r + 1),
                                     (lapack_int)d, 0.0f, &found, w, Z, (lapack_int)r, isuppz);
    if (info != 0 || found != (lapack_int)r) {
        rc = cvs__err(CVS_EINTERNAL, "pca: LAPACKE_ssyevr failed (info=%d, found %d of %u)",
                      (int)info, (int)found, r);
        goto out;
    }
    /* ssyevr returns ascending eigenvalues: reverse into P, fix signs. */
    for (uint32_t j = 0; j < r; j++) {
        uint32_t src = r - 1 - j;
        float big = 0;
        for (uint32_t t = 0; t < d; t++)
            if (fabsf(Z[(size_t)t * r + src]) > fabsf(big))
                big = Z[(size_t)t * r + src];
        float sgn = big < 0 ? -1.0f : 1.0f;
        for (uint32_t t = 0; t < d; t++)
            p->P[(size_t)t * r + j] = sgn * Z[(size_t)t * r + src];
        p->eig[j] = w[src] > 0 ? w[src] : 0;
    }
out:
    if (rc)
        cvs__pca_destroy(p);
    free(msum);
    free(C);
    free(blk);
    free(w);
    free(Z);
    free(isuppz);
    return rc;
}

int cvs__pca_apply(const cvs__pca *p, const float *x, size_t n, int center, float *y)
{
    const size_t bs = 4096;
    size_t d = p->d;
    if (!center) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)p->r, (int)d,
                    1.0f, x, (int)d, p->P, (int)p->r, 0.0f, y, (int)p->r);
        return 0;
    }
    float *blk = malloc((n < bs ? n : bs) * d * sizeof *blk + 1);
    if (!blk)
        return cvs__err(CVS_ENOMEM, "pca: out of memory");
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        for (size_t i = 0; i < nb; i++)
            for (size_t t = 0; t < d; t++)
                blk[i * d + t] = x[(i0 + i) * d + t] - p->mean[t];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)p->r, (int)d,
                    1.0f, blk, (int)d, p->P, (int)p->r, 0.0f, y + i0 * p->r, (int)p->r);
    }
    free(blk);
    return 0;
}

void cvs__pca_unapply(const cvs__pca *p, const float *y, size_t n, float *x)
{
    size_t d = p->d;
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * d, p->mean, d * sizeof *x);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d, (int)p->r, 1.0f, y,
                (int)p->r, p->P, (int)p->r, 1.0f, x, (int)d);
}
