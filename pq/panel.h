/*
 * panel.h -- query-side products against a small dense matrix, for building
 * PQ look-up tables (internal).
 *
 * A matrix W (din x dout) is stored in "panels" of CVS_PANEL columns: panel
 * p holds rows t = 0..din-1 of columns p*CVS_PANEL .. p*CVS_PANEL+15,
 * contiguously, the last panel padded with zero columns:
 *     Wp[(p * din + t) * CVS_PANEL + c] = W[t][p * CVS_PANEL + c].
 * One panel row is one 64-byte line, so a kernel streams a panel forward.
 *
 * For nq query rows x (row q at x + q * ldx, din floats) the kernels write
 * y[q * ldy + j], j < dout:
 *     CVS_PANEL_DOT:  sum_t x[t] * W[t][j]
 *     CVS_PANEL_L2:   sum_t (x[t] - W[t][j])^2
 * each as one float accumulator, t in increasing order, no fused multiply-
 * add: the scalar and AVX2 kernels agree bit for bit, for any nq, and the
 * sums are those of the plain loops in pq.c's cvs__pq_lut_scalar.
 */
#ifndef CVS_PQ_PANEL_H
#define CVS_PQ_PANEL_H

#include <stddef.h>

#define CVS_PANEL 16

typedef enum { CVS_PANEL_DOT = 0, CVS_PANEL_L2 = 1 } cvs_panel_op;

/* Floats of the panel layout of a din x dout matrix. */
size_t cvs__panel_floats(size_t din, size_t dout);
/* Packs W[t][j] = src[t * st + j * sj] (t < din, j < dout) into Wp
 * (cvs__panel_floats(din, dout) floats, caller-owned; with 64-byte
 * alignment each panel row is one cache line).  st/sj let the caller pack a
 * row-major W (st = dout, sj = 1) or its transpose (a codebook: st = 1,
 * sj = din). */
void cvs__panel_pack(const float *src, size_t din, size_t dout, size_t st, size_t sj, float *Wp);

void cvs__panel_apply(cvs_panel_op op, const float *Wp, size_t din, size_t dout, const float *x,
                      size_t ldx, size_t nq, float *y, size_t ldy);
void cvs__panel_apply_scalar(cvs_panel_op op, const float *Wp, size_t din, size_t dout,
                             const float *x, size_t ldx, size_t nq, float *y, size_t ldy);

/* Block-diagonal product: nb single-panel matrices of din rows each,
 * stored one after another (block b at Wp + b * din * CVS_PANEL, as nb
 * calls of cvs__panel_pack with dout = CVS_PANEL place them), block b
 * applied to x[q * ldx + b * din .. + din) and written to
 * y[q * ldy + b * CVS_PANEL .. + CVS_PANEL).  Exactly the nb calls
 *     cvs__panel_apply(op, Wp + b * din * CVS_PANEL, din, CVS_PANEL,
 *                      x + b * din, ldx, nq, y + b * CVS_PANEL, ldy)
 * bit for bit, in one call: the look-up tables of 16-centroid PQ
 * (pq{M}x4), whose blocks of 2-4 rows made the per-call set-up most of the
 * cost. */
void cvs__panel_apply_blocks(cvs_panel_op op, const float *Wp, size_t nb, size_t din,
                             const float *x, size_t ldx, size_t nq, float *y, size_t ldy);
void cvs__panel_apply_blocks_scalar(cvs_panel_op op, const float *Wp, size_t nb, size_t din,
                                    const float *x, size_t ldx, size_t nq, float *y, size_t ldy);

/* "avx2" or "scalar" (CVSTORE_SIMD=scalar forces the scalar kernel). */
const char *cvs__panel_impl(void);

#endif
