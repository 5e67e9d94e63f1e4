/*
 * kmeans.c -- Lloyd's k-means (Lloyd 1982) as used to train product
 * quantizer codebooks, following the FAISS implementation choices
 * (Johnson, Douze, Jégou 2019, "Billion-scale similarity search with GPUs",
 * faiss/Clustering.cpp).
 *
 * Each iteration assigns every point to its nearest centroid and moves each
 * centroid to the mean of its points.  The assignment is the expensive part
 * (n x k x d); it is written as one sgemm per block of points,
 *     ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2,
 * where the ||x||^2 term is dropped for the argmin.  OpenBLAS threads the
 * sgemm over both cores; the argmin pass is a plain loop the compiler
 * vectorizes.
 *
 * Where we deviate from the textbook / from FAISS:
 *  1. Initialization is a uniform random sample of k distinct points drawn
 *     with our own splitmix64 generator (FAISS's default too), not
 *     k-means++: on PQ sub-spaces of 2-8 dimensions with 256 centroids
 *     k-means++ costs n*k*d sequential work and, in FAISS's and our tests,
 *     does not lower the final distortion measurably.
 *  2. Empty clusters are re-seeded by splitting the currently largest
 *     cluster: its centroid is copied and both copies are nudged by
 *     +-1/1024 in alternating coordinates (FAISS splits a cluster drawn
 *     with probability proportional to its size; "largest" is
 *     deterministic without spending random numbers).
 *  3. A fixed iteration count, no convergence test: the caller's budget
 *     (25, or 4 inside OPQ) is what bounds training time.
 *  4. n < k is accepted: the surplus centroids duplicate existing ones,
 *     which encodes correctly (the duplicates are simply never chosen).
 *  5. For d <= 32 and k <= 256 (every PQ sub-space) the assignment skips
 *     BLAS: a register-blocked kernel (GCC vector extensions, AVX2 clone
 *     chosen at load time) fuses distances and argmin, split over one
 *     thread per core.  An sgemm of inner dimension 2..16 is dominated by
 *     call and thread wake-up overhead; this is ~3x faster there.
 */
#include <cblas.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jobs.h"
#include "pq/kmeans.h"

/* ==== Assignment ==== */

void cvs__row_norms(const float *x, size_t n, size_t d, size_t ldx, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * ldx;
        float s = 0;
        for (size_t t = 0; t < d; t++)
            s += r[t] * r[t];
        out[i] = s;
    }
}

/* ---- Small dimensions: direct kernel ----
 * PQ sub-spaces have 2..16 dimensions, where an sgemm of inner dimension d
 * is mostly call and thread-wake-up overhead (measured: ~0.5 G distance
 * evaluations/s on 2 cores, with a third of the time in the kernel).  Here
 * the centroids are transposed (d x kpad) and each point's k partial
 * distances ||c||^2 - 2 x.c are accumulated in an L1-resident row, eight
 * centroids per vector operation (GCC vector extensions; target_clones
 * builds an AVX2 clone picked at load time by CPU feature, and a baseline
 * SSE2 one).  Points are split over threads. */

#define DIRECT_MAX_D 32

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

typedef struct direct_job {
    const float *x;
    size_t n, d, ldx, k, kpad;
    const float *cT;  /* d x kpad */
    const float *cn;  /* kpad, +FLT_MAX in the padding */
    int32_t *assign;
    float *dist;
} direct_job;

/* Lane-wise select a < b ? a : b and its index (C has no vector ?:). */
#define VSEL(mask, a, b) ((v8f)(((v8i)(a) & (mask)) | ((v8i)(b) & ~(mask))))
#define ISEL(mask, a, b) (((a) & (mask)) | ((b) & ~(mask)))

/* Four centroid groups (32 centroids) per step keep four independent
 * accumulator chains in registers; the running minimum and its index are
 * tracked lane-wise, so no distance row is ever stored. */
__attribute__((target_clones("avx2", "default")))
static void direct_range(const direct_job *j, size_t i0, size_t i1)
{
    const size_t nv = j->kpad / 8, d = j->d;
    const v8f *cn = (const v8f *)j->cn;
    const v8f *cT = (const v8f *)j->cT;
    const v8i step = {8, 8, 8, 8, 8, 8, 8, 8};
    for (size_t i = i0; i < i1; i++) {
        const float *xi = j->x + i * j->ldx;
        v8f b[DIRECT_MAX_D];
        for (size_t t = 0; t < d; t++) {
            float m2 = -2.0f * xi[t];
            b[t] = (v8f){m2, m2, m2, m2, m2, m2, m2, m2};
        }
        v8f best = (v8f){FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX};
        v8i bidx = {0, 0, 0, 0, 0, 0, 0, 0};
        v8i idx = {0, 1, 2, 3, 4, 5, 6, 7};
        size_t v = 0;
        for (; v + 4 <= nv; v += 4) {
            v8f a0 = cn[v], a1 = cn[v + 1], a2 = cn[v + 2], a3 = cn[v + 3];
            for (size_t t = 0; t < d; t++) {
                const v8f *c = cT + t * nv + v;
                a0 += b[t] * c[0];
                a1 += b[t] * c[1];
                a2 += b[t] * c[2];
                a3 += b[t] * c[3];
            }
            v8i m;
            m = a0 < best; best = VSEL(m, a0, best); bidx = ISEL(m, idx, bidx); idx += step;
            m = a1 < best; best = VSEL(m, a1, best); bidx = ISEL(m, idx, bidx); idx += step;
            m = a2 < best; best = VSEL(m, a2, best); bidx = ISEL(m, idx, bidx); idx += step;
            m = a3 < best; best = VSEL(m, a3, best); bidx = ISEL(m, idx, bidx); idx += step;
        }
        for (; v < nv; v++) {
            v8f a0 = cn[v];
            for (size_t t = 0; t < d; t++)
                a0 += b[t] * cT[t * nv + v];
            v8i m = a0 < best;
            best = VSEL(m, a0, best);
            bidx = ISEL(m, idx, bidx);
            idx += step;
        }
        /* Lanes hold the first minimum of their own centroids (strict <);
         * across lanes take the smallest value, then the smallest index, so
         * the answer is the first minimum overall, as a scalar scan gives. */
        float m = best[0];
        int32_t a = bidx[0];
        for (int l = 1; l < 8; l++)
            if (best[l] < m || (best[l] == m && bidx[l] < a)) {
                m = best[l];
                a = bidx[l];
            }
        if (!(m < FLT_MAX)) /* NaN in the data: code 0 rather than padding */
            a = 0;
        j->assign[i] = a;
        if (j->dist) {
            float s = 0;
            for (size_t t = 0; t < d; t++)
                s += xi[t] * xi[t];
            s += m;
            j->dist[i] = s > 0 ? s : 0;
        }
    }
}

typedef struct direct_part {
    const direct_job *job;
    size_t i0, i1;
} direct_part;

static void *direct_thread(void *arg)
{
    const direct_part *p = arg;
    direct_range(p->job, p->i0, p->i1);
    return NULL;
}

static int assign_direct(const float *x, size_t n, size_t d, size_t ldx, const float *cent,
                         size_t k, const float *cnorm, int32_t *assign, float *dist)
{
    int rc = 0;
    size_t kpad = (k + 7) & ~(size_t)7;
    float *cT = NULL, *cn = NULL;
    if (posix_memalign((void **)&cT, 32, d * kpad * sizeof *cT) ||
        posix_memalign((void **)&cn, 32, kpad * sizeof *cn)) {
        rc = cvs__err(CVS_ENOMEM, "k-means: out of memory");
        goto out;
    }
    for (size_t j = 0; j < kpad; j++) {
        cn[j] = j < k ? cnorm[j] : FLT_MAX;
        for (size_t t = 0; t < d; t++)
            cT[t * kpad + j] = j < k ? cent[j * d + t] : 0.0f;
    }
    direct_job job = {x, n, d, ldx, k, kpad, cT, cn, assign, dist};
    /* One thread per core once there is ~1 ms of work for each. */
    size_t nt = (size_t)cvs__ncpu(), work = n * kpad * (d + 1);
    if (work < nt * (size_t)2000000)
        nt = work / 2000000 > 1 ? work / 2000000 : 1;
    direct_part part[16];
    for (size_t t = 0; t < nt; t++)
        part[t] = (direct_part){&job, n * t / nt, n * (t + 1) / nt};
    cvs__run_jobs(part, sizeof *part, nt, direct_thread);
out:
    free(cT);
    free(cn);
    return rc;
}

/* ---- General case: one sgemm per block of points ---- */

/* Argmin over one row of k partial distances cn[j] - 2 ip[j].  Two passes
 * (min, then first index reaching it) because a fused value+index
 * reduction does not vectorize, while each pass alone does. */
static inline int32_t argmin_row(float *ip, const float *cn, size_t k, float *best)
{
    float m = FLT_MAX;
    for (size_t j = 0; j < k; j++) {
        float v = cn[j] - 2.0f * ip[j];
        ip[j] = v;
        m = v < m ? v : m;
    }
    size_t j = 0;
    while (j < k && ip[j] != m)
        j++;
    if (j == k) /* NaN in the data: fall back to 0 rather than index k */
        j = 0;
    *best = m;
    return (int32_t)j;
}

int cvs__kmeans_assign(const float *x, size_t n, size_t d, size_t ldx, const float *cent,
                       size_t k, const float *cnorm, int32_t *assign, float *dist)
{
    int rc = 0;
    float *cn_own = NULL, *ip = NULL;
    /* ~1 MiB of dot products per block: stays in L2 between the sgemm and
     * the argmin. */
    size_t bs = (size_t)(256 * 1024) / (k ? k : 1);
    if (bs < 16)
        bs = 16;
    if (bs > n)
        bs = n;
    if (n == 0)
        return 0;
    if (!cnorm) {
        cn_own = malloc(k * sizeof *cn_own);
        if (!cn_own) {
            rc = cvs__err(CVS_ENOMEM, "k-means: out of memory");
            goto out;
        }
        cvs__row_norms(cent, k, d, d, cn_own);
        cnorm = cn_own;
    }
    if (d <= DIRECT_MAX_D && k <= 256) {
        rc = assign_direct(x, n, d, ldx, cent, k, cnorm, assign, dist);
        goto out;
    }
    ip = malloc(bs * k * sizeof *ip);
    if (!ip) {
        rc = cvs__err(CVS_ENOMEM, "k-means: out of memory");
        goto out;
    }
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)d, 1.0f,
                    x + i0 * ldx, (int)ldx, cent, (int)d, 0.0f, ip, (int)k);
        for (size_t i = 0; i < nb; i++) {
            float best;
            assign[i0 + i] = argmin_row(ip + i * k, cnorm, k, &best);
            if (dist) {
                const float *r = x + (i0 + i) * ldx;
                float s = 0;
                for (size_t t = 0; t < d; t++)
                    s += r[t] * r[t];
                s += best;
                dist[i0 + i] = s > 0 ? s : 0;
            }
        }
    }
out:
    free(ip);
    free(cn_own);
    return rc;
}

/* ==== Lloyd iterations ==== */

/* Deviation 2: split the largest cluster into each empty one. */
static void split_empty(float *cent, size_t *size, size_t k, size_t d)
{
    const float eps = 1.0f / 1024.0f;
    for (size_t ci = 0; ci < k; ci++) {
        if (size[ci])
            continue;
        size_t cj = 0;
        for (size_t j = 1; j < k; j++)
            if (size[j] > size[cj])
                cj = j;
        if (size[cj] < 2)
            return; /* n < k: nothing left to split (deviation 4) */
        float *a = cent + ci * d, *b = cent + cj * d;
        memcpy(a, b, d * sizeof *a);
        for (size_t t = 0; t < d; t++) {
            if (t % 2 == 0) {
                a[t] *= 1 + eps;
                b[t] *= 1 - eps;
            } else {
                a[t] *= 1 - eps;
                b[t] *= 1 + eps;
            }
        }
        size[ci] = size[cj] / 2;
        size[cj] -= size[ci];
    }
}

int cvs__kmeans(const float *x, size_t n, size_t d, size_t ldx, size_t k,
                const cvs__kmeans_opts *o, float *cent, int32_t *assign, double *obj)
{
    int rc = 0;
    int32_t *asg = NULL;
    size_t *perm = NULL, *size = NULL;
    double *sum = NULL;
    float *cn = NULL, *dist = NULL;
    uint64_t rng = o->seed ^ 0x6b6d65616e73ull; /* "kmeans" */

    if (n == 0 || k == 0 || d == 0)
        return cvs__err(CVS_EINVAL, "k-means: empty input (n=%zu, k=%zu, d=%zu)", n, k, d);
    asg = assign ? assign : malloc(n * sizeof *asg);
    size = malloc(k * sizeof *size);
    sum = malloc(k * d * sizeof *sum);
    cn = malloc(k * sizeof *cn);
    dist = obj ? malloc(n * sizeof *dist) : NULL;
    if (!asg || !size || !sum || !cn || (obj && !dist)) {
        rc = cvs__err(CVS_ENOMEM, "k-means: out of memory");
        goto out;
    }

    if (!o->hot_start) {
        /* Deviation 1: k distinct points by a partial Fisher-Yates shuffle. */
        perm = malloc(n * sizeof *perm);
        if (!perm) {
            rc = cvs__err(CVS_ENOMEM, "k-means: out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t j = 0; j < k; j++) {
            size_t src;
            if (j < n) {
                size_t r = j + (size_t)cvs__rng_below(&rng, n - j);
                size_t t = perm[j];
                perm[j] = perm[r];
                perm[r] = t;
                src = perm[j];
            } else {
                src = perm[j % n]; /* deviation 4 */
            }
            memcpy(cent + j * d, x + src * ldx, d * sizeof *cent);
        }
    }

    for (int it = 0; it < o->iters; it++) {
        cvs__row_norms(cent, k, d, d, cn);
        rc = cvs__kmeans_assign(x, n, d, ldx, cent, k, cn, asg,
                                obj && it == o->iters - 1 ? dist : NULL);
        if (rc)
            goto out;
        memset(size, 0, k * sizeof *size);
        memset(sum, 0, k * d * sizeof *sum);
        /* Sums in double: 65536 points of similar magnitude lose ~4 digits
         * in float, enough to bias centroids of tight clusters. */
        for (size_t i = 0; i < n; i++) {
            const float *r = x + i * ldx;
            double *s = sum + (size_t)asg[i] * d;
            size[asg[i]]++;
            for (size_t t = 0; t < d; t++)
                s[t] += r[t];
        }
        for (size_t j = 0; j < k; j++) {
            if (!size[j])
                continue;
            double inv = 1.0 / (double)size[j];
            for (size_t t = 0; t < d; t++)
                cent[j * d + t] = (float)(sum[j * d + t] * inv);
        }
        split_empty(cent, size, k, d);
        if (o->progress)
            o->progress(o->progress_ctx, o->phase ? o->phase : "kmeans",
                        o->progress_base + (uint64_t)it + 1,
                        o->progress_total ? o->progress_total : (uint64_t)o->iters);
    }
    if (obj) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += dist[i];
        *obj = s;
    }
out:
    if (asg != assign)
        free(asg);
    free(perm);
    free(size);
    free(sum);
    free(cn);
    free(dist);
    return rc;
}
