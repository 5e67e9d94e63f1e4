/*
 * opq.c -- optimized product quantization, non-parametric method (Ge, He,
 * Ke, Sun 2013, "Optimized product quantization for approximate nearest
 * neighbor search", CVPR; extended in TPAMI 2014).
 *
 * PQ cuts vectors into sub-vectors along fixed coordinates; OPQ first
 * rotates them, z = x R with R orthogonal, choosing R to minimize the PQ
 * reconstruction error ||X R - Y||_F where Y are the reconstructions.  The
 * non-parametric method alternates two steps:
 *   a. fix R: train/assign the PQ on X R, giving Y;
 *   b. fix Y: R = argmin over orthogonal R of ||X R - Y||_F, the orthogonal
 *      Procrustes problem, solved by the SVD X^T Y = U S V^T, R = U V^T.
 *
 * Where we deviate:
 *  1. Initialization: the paper's parametric solution (eigenvalue
 *     allocation, section 4.2: principal axes distributed over the M
 *     sub-spaces so that the products of their variances balance), not
 *     identity or a random rotation.  It is a good starting point on both
 *     raw data and data already reduced by our PCA stage (where identity
 *     would leave all the variance in the first sub-spaces).  The greedy
 *     allocation first gives each sub-space one of the M largest axes, then
 *     adds the next axis to the non-full sub-space with the smallest
 *     log-variance product.
 *  2. Step a. runs only a few k-means iterations, hot-started from the
 *     previous codebooks, as FAISS's OPQMatrix does (there: 40 iterations
 *     for the first PQ, 4 afterwards; the final PQ is then trained for 25
 *     more by the index).  We use first_kiters, then inner_kiters, and
 *     codec.c runs the final hot-started PQ training with kmeans_iters
 *     (codec.c runs this alternation on at most 16384 rows, with 10 then
 *     4 iterations: see its deviation 3).
 *  3. Y is taken from the k-means run itself (last assignment, updated
 *     centroids) instead of a separate encoding pass: the same
 *     reconstruction FAISS computes, one assignment pass cheaper.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pq/opq.h"
#include "pq/pca.h"

void cvs__opq_apply(const float *R, uint32_t din, uint32_t dout, const float *x, size_t n,
                    float *y)
{
    if (n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)dout, (int)din, 1.0f,
                    x, (int)din, R, (int)dout, 0.0f, y, (int)dout);
}

void cvs__opq_unapply(const float *R, uint32_t din, uint32_t dout, const float *y, size_t n,
                      float *x)
{
    if (n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)din, (int)dout, 1.0f,
                    y, (int)dout, R, (int)dout, 0.0f, x, (int)din);
}

/* Deviation 1: eigenvalue allocation (parametric OPQ) as the initial R. */
static int init_eigen_alloc(const float *x, size_t n, uint32_t d, uint32_t M, float *R)
{
    int rc;
    cvs__pca pca = {0};
    double *logp = NULL;
    uint32_t *fill = NULL;
    uint32_t dsub = d / M;

    rc = cvs__pca_train(&pca, x, n, d, d);
    if (rc)
        return rc;
    logp = calloc(M, sizeof *logp);
    fill = calloc(M, sizeof *fill);
    if (!logp || !fill) {
        rc = cvs__err(CVS_ENOMEM, "opq: out of memory");
        goto out;
    }
    double floor_ = pca.eig[0] > 0 ? pca.eig[0] * 1e-12 : 1e-30;
    for (uint32_t a = 0; a < d; a++) {
        uint32_t b = 0;
        if (a < M) {
            b = a;
        } else {
            int have = 0;
            for (uint32_t c = 0; c < M; c++)
                if (fill[c] < dsub && (!have || logp[c] < logp[b])) {
                    b = c;
                    have = 1;
                }
        }
        double ev = pca.eig[a] > floor_ ? pca.eig[a] : floor_;
        logp[b] += log(ev);
        uint32_t col = b * dsub + fill[b]++;
        for (uint32_t t = 0; t < d; t++)
            R[(size_t)t * d + col] = pca.P[(size_t)t * d + a];
    }
out:
    cvs__pca_destroy(&pca);
    free(logp);
    free(fill);
    return rc;
}

/* Step b: R = U V^T from the SVD of X^T Y. */
static int procrustes(const float *x, const float *y, size_t n, uint32_t d, float *R)
{
    int rc = 0;
    float *A = malloc((size_t)d * d * sizeof *A), *U = malloc((size_t)d * d * sizeof *U);
    float *VT = malloc((size_t)d * d * sizeof *VT), *S = malloc(d * sizeof *S);
    float *sup = malloc((d > 1 ? d : 2) * sizeof *sup);
    if (!A || !U || !VT || !S || !sup) {
        rc = cvs__err(CVS_ENOMEM, "opq: out of memory");
        goto out;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)n, 1.0f, x,
                (int)d, y, (int)d, 0.0f, A, (int)d);
    lapack_int info = LAPACKE_sgesvd(LAPACK_ROW_MAJOR, 'A', 'A', (lapack_int)d, (lapack_int)d, A,
                                     (lapack_int)d, S, U, (lapack_int)d, VT, (lapack_int)d, sup);
    if (info != 0) {
        rc = cvs__err(CVS_EINTERNAL, "opq: LAPACKE_sgesvd failed (info=%d)", (int)info);
        goto out;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0f, U,
                (int)d, VT, (int)d, 0.0f, R, (int)d);
out:
    free(A);
    free(U);
    free(VT);
    free(S);
    free(sup);
    return rc;
}

int cvs__opq_train(const float *x, size_t n, cvs__pq *pq, const cvs__opq_opts *o, float *R)
{
    int rc;
    uint32_t d = pq->d;
    float *xr = NULL, *y = NULL;
    uint8_t *idx = NULL;

    memset(R, 0, (size_t)d * d * sizeof *R);
    rc = init_eigen_alloc(x, n, d, pq->M, R);
    if (rc)
        return rc;
    xr = malloc(n * d * sizeof *xr);
    y = malloc(n * d * sizeof *y);
    idx = malloc(n * pq->M);
    if (!xr || !y || !idx) {
        rc = cvs__err(CVS_ENOMEM, "opq: out of memory for %zu training vectors", n);
        goto out;
    }
    for (int it = 0; it < o->iters; it++) {
        cvs__kmeans_opts ko = {0};
        cvs__opq_apply(R, d, d, x, n, xr);
        ko.iters = it == 0 ? o->first_kiters : o->inner_kiters;
        ko.hot_start = it > 0;
        ko.seed = o->seed;
        rc = cvs__pq_train(pq, xr, n, &ko, idx);
        if (rc)
            goto out;
        cvs__pq_decode_idx(pq, idx, n, y);
        rc = procrustes(x, y, n, d, R);
        if (rc)
            goto out;
        if (o->progress)
            o->progress(o->progress_ctx, "opq", (uint64_t)it + 1, (uint64_t)o->iters);
    }
out:
    free(xr);
    free(y);
    free(idx);
    return rc;
}
