/*
 * pca.h -- low-rank PCA projection (internal to the codec module).
 */
#ifndef CVS_PQ_PCA_H
#define CVS_PQ_PCA_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvs__pca {
    uint32_t d;    /* input dimension */
    uint32_t r;    /* kept components, 1..d */
    float *mean;   /* d floats, owned */
    float *P;      /* d x r row-major: column j is the j-th principal axis */
    float *eig;    /* r eigenvalues, descending (training only: not saved) */
} cvs__pca;

/* Fits mean and top-r axes on n x d rows.  CVS_EINVAL/CVS_ENOMEM/
 * CVS_EINTERNAL (LAPACK failure). */
int cvs__pca_train(cvs__pca *p, const float *x, size_t n, uint32_t d, uint32_t r);
/* Allocates mean/P for deserialization (eig stays NULL). */
int cvs__pca_alloc(cvs__pca *p, uint32_t d, uint32_t r);
void cvs__pca_destroy(cvs__pca *p);  /* accepts a zeroed struct */

/* y = (x - mean) P for n rows (center != 0) or y = x P (center == 0, for
 * inner-product queries whose mean term is handled as an offset). */
int cvs__pca_apply(const cvs__pca *p, const float *x, size_t n, int center, float *y);
/* x = mean + y P^T for n rows. */
void cvs__pca_unapply(const cvs__pca *p, const float *y, size_t n, float *x);

#endif
