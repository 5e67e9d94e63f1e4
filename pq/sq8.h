/*
 * sq8.h -- per-dimension 8-bit scalar quantization (internal to the codec
 * module).
 */
#ifndef CVS_PQ_SQ8_H
#define CVS_PQ_SQ8_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvs__sq8 {
    uint32_t d;
    float *vmin;   /* d floats: value of code 0, owned */
    float *scale;  /* d floats: step between codes, >= 0, owned */
} cvs__sq8;

int cvs__sq8_alloc(cvs__sq8 *s, uint32_t d);
void cvs__sq8_destroy(cvs__sq8 *s);  /* accepts a zeroed struct */
/* min/max per dimension over n x d rows; s is zeroed or holds an earlier
 * quantizer, whose buffers are reused (same d) or freed. */
int cvs__sq8_train(cvs__sq8 *s, const float *x, size_t n, uint32_t d);
/* One byte per dimension: round((v - min) / scale), clamped to 0..255. */
void cvs__sq8_encode(const cvs__sq8 *s, const float *x, size_t n, uint8_t *codes);
void cvs__sq8_decode(const cvs__sq8 *s, const uint8_t *codes, size_t n, float *x);
/* out[i] = ||y - decode(code_i)||^2 (ip == 0) or -y . decode(code_i). */
void cvs__sq8_distances(const cvs__sq8 *s, const float *y, int ip, const uint8_t *codes,
                        size_t n, float *out);

#endif
