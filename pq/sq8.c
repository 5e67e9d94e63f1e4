/*
 * sq8.c -- uniform 8-bit scalar quantization per dimension, the "SQ8" of
 * FAISS's IndexScalarQuantizer (QT_8bit), itself the classic uniform
 * quantizer (see Gray & Neuhoff 1998, "Quantization", IEEE Trans. IT).
 *
 * Each dimension t keeps the training minimum and a step
 * scale_t = (max_t - min_t) / 255; a value is stored as the nearest of the
 * 256 levels min_t + k scale_t, so values inside the training range are
 * off by at most scale_t / 2.
 *
 * Where we deviate from FAISS:
 *  1. Levels include both endpoints (FAISS decodes at cell centres,
 *     (k + 0.5)/256): the training extremes are then exact, and the error
 *     bound is the same scale/2.
 *  2. Values outside the training range are clamped (FAISS does the same)
 *     and, when the range is empty (constant dimension), scale is 0 and
 *     every value decodes to that constant.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pq/sq8.h"

int cvs__sq8_alloc(cvs__sq8 *s, uint32_t d)
{
    memset(s, 0, sizeof *s);
    if (d == 0)
        return cvs__err(CVS_EINVAL, "sq8: zero dimension");
    s->d = d;
    s->vmin = calloc(d, sizeof *s->vmin);
    s->scale = calloc(d, sizeof *s->scale);
    if (!s->vmin || !s->scale) {
        cvs__sq8_destroy(s);
        return cvs__err(CVS_ENOMEM, "sq8: out of memory");
    }
    return 0;
}

void cvs__sq8_destroy(cvs__sq8 *s)
{
    if (!s)
        return;
    free(s->vmin);
    free(s->scale);
    s->vmin = s->scale = NULL;
}

int cvs__sq8_train(cvs__sq8 *s, const float *x, size_t n, uint32_t d)
{
    int rc;
    float *vmax = NULL;
    if (n == 0)
        return cvs__err(CVS_EINVAL, "sq8: no training vectors");
    /* s may hold an earlier quantizer (a caller that allocated first):
     * its buffers are reused, or freed before new ones replace them. */
    if (!(s->vmin && s->scale && s->d == d)) {
        cvs__sq8_destroy(s);
        if ((rc = cvs__sq8_alloc(s, d)))
            return rc;
    }
    vmax = malloc(d * sizeof *vmax);
    if (!vmax) {
        cvs__sq8_destroy(s);
        return cvs__err(CVS_ENOMEM, "sq8: out of memory");
    }
    memcpy(s->vmin, x, d * sizeof *vmax);
    memcpy(vmax, x, d * sizeof *vmax);
    for (size_t i = 1; i < n; i++)
        for (uint32_t t = 0; t < d; t++) {
            float v = x[i * d + t];
            if (v < s->vmin[t])
                s->vmin[t] = v;
            if (v > vmax[t])
                vmax[t] = v;
        }
    for (uint32_t t = 0; t < d; t++)
        s->scale[t] = (vmax[t] - s->vmin[t]) / 255.0f;
    free(vmax);
    return 0;
}

void cvs__sq8_encode(const cvs__sq8 *s, const float *x, size_t n, uint8_t *codes)
{
    for (size_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < s->d; t++) {
            float sc = s->scale[t];
            float q = sc > 0 ? (x[i * s->d + t] - s->vmin[t]) / sc : 0.0f;
            /* The negated test also sends NaN to code 0. */
            codes[i * s->d + t] = !(q > 0) ? 0 : q >= 255.0f ? 255 : (uint8_t)lrintf(q);
        }
}

void cvs__sq8_decode(const cvs__sq8 *s, const uint8_t *codes, size_t n, float *x)
{
    for (size_t i = 0; i < n; i++)
        for (uint32_t t = 0; t < s->d; t++)
            x[i * s->d + t] = s->vmin[t] + s->scale[t] * (float)codes[i * s->d + t];
}

void cvs__sq8_distances(const cvs__sq8 *s, const float *y, int ip, const uint8_t *codes,
                        size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * s->d;
        float acc = 0;
        if (ip) {
            for (uint32_t t = 0; t < s->d; t++)
                acc += y[t] * (s->vmin[t] + s->scale[t] * (float)c[t]);
            acc = -acc;
        } else {
            for (uint32_t t = 0; t < s->d; t++) {
                float df = y[t] - (s->vmin[t] + s->scale[t] * (float)c[t]);
                acc += df * df;
            }
        }
        out[i] = acc;
    }
}
