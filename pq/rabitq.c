/*
 * rabitq.c -- RaBitQ codes: a random rotation, B bits per dimension, a
 * centre byte and three factors per vector, with an unbiased distance
 * estimator and an error bound.
 *
 * Method: Gao & Long, "RaBitQ: Quantizing High-Dimensional Vectors with a
 * Theoretical Error Bound for Approximate Nearest Neighbor Search" (SIGMOD
 * 2024), and for B > 1 bits per dimension Gao, Gou, Xu, Yang, Long & Wong,
 * "Practical and Asymptotically Optimal Quantization of High-Dimensional
 * Vectors in Euclidean Space for Approximate Nearest Neighbor Search"
 * (Extended RaBitQ, SIGMOD 2025).
 *
 * A vector x is centred, v = x - c (c: the nearest of the codec's K
 * centres, deviation 5; under IVF residual codes the list centroid comes
 * first, since the IVF index hands residuals to the codec), rotated
 * by a random orthogonal matrix P (codec.c applies it: every direction of
 * v is then equally likely), and normalized, o = Pv / ||v||.  The code is
 * the grid point nearest in angle to o on the grid of levels
 *     y_j = u_j - (2^B - 1)/2,  u_j in 0 .. 2^B - 1,
 * i.e. the y maximizing <y, o> / ||y||; ō = y / ||y||.  For B = 1 that is
 * the sign of each o_j (RaBitQ); for B > 1 Extended RaBitQ finds it by
 * scaling: y(t)_j = sign(o_j) (min(floor(t |o_j|), 2^(B-1) - 1) + 1/2),
 * and only the t where some floor steps, t = k / |o_j|, need be tried; they
 * are visited in increasing order by a priority queue, each step updating
 * <y, o> and ||y||^2 in O(1).
 *
 * Estimator (RaBitQ section 3.2): for a query q, rotated the same way
 * and centred on the same centre (q' = P(q - c)), <o, q'> is estimated by <ō, q'> / <ō, o>, unbiased, with
 *     |<ō,q'>/<ō,o> - <o,q'>| <= ||q'|| sqrt(1 - <ō,o>^2) / <ō,o>
 *                                  * eps0 / sqrt(D - 1)
 * with probability at least 1 - 2 exp(-c0 eps0^2) over the rotation
 * (Theorem 3.2; eps0 = 1.9 is the paper's setting for re-ranking).  The
 * error is close to normal with a standard deviation of about the bound at
 * eps0 = 1 (exactly so for a query orthogonal to o), so per single pair
 * eps0 = 1.9 holds ~95% of the time and 2.6 ~99% (measured in
 * tests/test_codec.c); re-ranking only loses a neighbour when its error
 * falls outside on the far side, and the IVF runs re-rank to recall 0.995+
 * (docs/BENCHMARKS.md).  The
 * Extended RaBitQ paper keeps the same estimator and bound for its codes
 * (its section 3.3): only <ō, o>, larger for more bits, changes.  Then
 *     <v, q'> ~ ||v|| <ō,q'> / <ō,o> = scale * <y, q'>,  y = u - cb,
 * with cb = (2^B - 1)/2 and scale = ||v|| / <y, o>, and
 *     l2: ||q - x||^2 = ||q'||^2 + ||v||^2 - 2 <v, q'>
 *     ip: q.x = q.c + <v, c> + <v, q'>.
 * The estimate is linear in the query, so <y, q'> = <y, Pq> - <y, c>: one
 * table per query (on Pq) serves every centre, and the part that depends
 * on the centre alone is a per-vector constant known at encoding, the
 * shift = ||v||^2 + 2 scale <y,c> (l2) or scale <y,c> - <v,c> (ip).  So
 *     est = share_k(q) + shift - w scale <y, Pq>,  w = 2 (l2) or 1 (ip),
 * share_k = ||q - c_k||^2 (l2) or -<q, c_k> (ip), a table of K per query.
 * The bound: err = ||v|| sqrt(1 - <ō,o>^2) / <ō,o> / sqrt(D - 1) in the
 * code, times w ||q - c_k|| and eps0.  <u, Pq> is a sum of look-ups: bit
 * plane b of byte m selects 2^b times the sum of the query's coordinates
 * over the set bits of dimensions 8m .. 8m+7 (a 256-entry table per byte),
 * which is exactly the 8-bit ADC scan of pq/kernels.c over B * D / 8
 * "sub-quantizers", run with the code stride.
 *
 * Deviations:
 *  1. The query is not quantized.  The paper rounds q' to 4-bit integers
 *     to score with popcounts (B = 1) or FastScan (B > 1) and widens the
 *     bound for that rounding; here the per-byte tables hold floats and the
 *     existing byte-LUT kernel sums them, so the only error is the code's,
 *     and the bound needs no extra term.
 *  2. All B bits of a dimension are scored in one pass over bit planes,
 *     where Extended RaBitQ scores the sign bit first (1-bit FastScan) and
 *     reads the extra bits only for candidates that survive.  One pass is
 *     simpler and, at B = 4 on 100-128 dimensions, costs 52-64 look-ups a
 *     code.
 *  3. P is a stored dense matrix (Haar-random: Gram-Schmidt on a seeded
 *     Gaussian matrix), not the Fast Hadamard / Kac-walk rotations of the
 *     reference library: the codec already applies dense rotations (opq),
 *     and at D ~ 100 the O(D^2) product costs ~10K multiply-adds.  D is the
 *     input dimension rounded up to a multiple of 8 (the byte tables want
 *     whole bytes), zero padding first; the paper pads to 64.
 *  4. The code's tail is 11 bytes: the centre byte, scale and shift as
 *     float32, and err as an IEEE half rounded up (a bound only ever
 *     widens; 2^-11 relative is far below its own spread).  ||v|| is not
 *     stored: the shift carries it into the estimate, and the
 *     reconstruction recovers it from scale, err and ||y|| (decode).  A
 *     bound past the largest half (||v|| beyond ~6e6 at 4 bits) is
 *     infinite: the code is always re-ranked, and decodes to its centre.  At
 *     4 bits on 100-d GloVe the code is 63 bytes, under a 64-byte budget.
 *  5. The centre is the nearest of K centres (k-means on the training
 *     sample, K = one per CVS_RBQ_MIN_PER_CENTRE training vectors, at most
 *     256: a byte names it; 39 is FAISS's minimum of points per centroid
 *     below which k-means warns), where the paper codes against one
 *     centre per IVF list (and so do IVF residual codes here: the index
 *     trains the codec with one centre, index/codes.c).  The estimator's error grows with ||v|| and
 *     with the centred query's length; one global centre leaves both
 *     near the data's own scale on data whose mean is near the origin
 *     (normalized GloVe: ||mean|| 0.15, ||v||^2 0.99 on average), 256
 *     bring ||v||^2 to 0.71 (docs/BENCHMARKS.md, "RaBitQ codes").
 *     The query costs a K-entry table, K * D multiply-adds (~3x the
 *     rest of the query's preparation at K = 256, D = 128), filled as the
 *     scan first meets each centre, so that an IVF search that scans a
 *     few lists pays only for the centres their codes name; the scan does
 *     one more look-up per code.
 *  6. The level search keeps the t midway between the best step and the
 *     next one and rebuilds the code from it; every factor is then computed
 *     from that final code, so the estimator never depends on the search
 *     having been exact.  (The sweep stops at t = (H + 9) / max |o_j|, as
 *     the reference implementation does; sweeping every step to the end
 *     gives the same codes on GloVe: mean <ō,o> 0.99521 either way.)
 *  7. Inner-product codes score the centred query too (the shift): the
 *     estimator's error is <e, q'> for a per-vector e orthogonal to o, so
 *     scoring the raw query Pq adds <e, c>, an error fixed per vector that
 *     every query repeats; the shift removes it exactly and the bound uses
 *     ||q - c|| instead of ||q||.
 *  8. Codes of codec blob version 3 (r->v3) are still read, searched and
 *     extended by puts: one centre (the training mean), no shift, and a
 *     tail of three float32, norm = ||v||, scale and err.  Their estimate
 *     is the same estimator over the centred query for l2 (the table is
 *     built on q - c: ||q'||^2 + norm^2 - 2 scale <y, q'>) and over q
 *     itself for ip (q.c - scale <y, q>, deviation 7's error left in);
 *     the bound is w ||q'|| err.  A raw "none" store's codes are its only
 *     copy of the vectors, so they cannot be re-encoded into version 4;
 *     a store with raw vectors gets version 4 by building again.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pq/kernels.h"
#include "pq/kmeans.h"
#include "pq/rabitq.h"

/* Header floats of a prepared query, before the tables. */
enum { QH_OFF, QH_SUM, QH_N2, QH_N, QH_SIZE = 8 };

int cvs__rbq_init(cvs__rbq *r, uint32_t d, uint32_t B, uint32_t K, int ip)
{
    memset(r, 0, sizeof *r);
    if (d == 0 || d % 8 || B < 1 || B > 8 || K < 1 || K > CVS_RBQ_MAXK)
        return cvs__err(CVS_EINVAL, "rabitq: dimension %u (a multiple of 8), %u bits (1..8) "
                        "or %u centres (1..%d)", d, B, K, CVS_RBQ_MAXK);
    r->d = d;
    r->B = B;
    r->K = K;
    r->ip = ip != 0;
    r->cent = calloc((size_t)K * d, sizeof *r->cent);
    r->cn2 = calloc(K, sizeof *r->cn2);
    if (!r->cent || !r->cn2) {
        cvs__rbq_destroy(r);
        return cvs__err(CVS_ENOMEM, "rabitq: out of memory");
    }
    return 0;
}

void cvs__rbq_destroy(cvs__rbq *r)
{
    if (!r)
        return;
    free(r->cent);
    free(r->cn2);
    memset(r, 0, sizeof *r);
}

void cvs__rbq_centres_set(cvs__rbq *r)
{
    cvs__row_norms(r->cent, r->K, r->d, r->d, r->cn2);
}

uint32_t cvs__rbq_centres_for(size_t n)
{
    size_t k = n / CVS_RBQ_MIN_PER_CENTRE;
    return k < 1 ? 1u : k > CVS_RBQ_MAXK ? (uint32_t)CVS_RBQ_MAXK : (uint32_t)k;
}

size_t cvs__rbq_code_size(const cvs__rbq *r)
{
    return (size_t)r->B * r->d / 8 + (r->v3 ? CVS_RBQ_TAIL_V3 : CVS_RBQ_TAIL);
}

size_t cvs__rbq_query_floats(const cvs__rbq *r)
{
    return QH_SIZE + (size_t)r->B * r->d / 8 * 256 + 2 * (size_t)r->K + r->d;
}

/* ==== Rotation ==== */

/* Standard normal by Box-Muller from the codec's splitmix64 stream. */
static double gauss(uint64_t *s)
{
    double u1 = ((double)(cvs__rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(cvs__rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int cvs__rbq_rotation(uint32_t din, uint32_t dout, uint64_t seed, float *R)
{
    uint64_t s = seed ^ 0x72616269747100ull; /* "rabitq" */
    double *Q = malloc((size_t)din * dout * sizeof *Q);
    if (!Q)
        return cvs__err(CVS_ENOMEM, "rabitq: out of memory for the rotation");
    /* Rows of a Gaussian matrix, orthonormalized in order (modified
     * Gram-Schmidt, twice for accuracy): the first din rows of a Haar
     * orthogonal matrix.  A row that comes out (numerically) dependent is
     * redrawn, which a Gaussian draw makes vanishingly rare. */
    for (uint32_t i = 0; i < din; i++) {
        double *qi = Q + (size_t)i * dout;
        for (;;) {
            double nrm = 0;
            for (uint32_t j = 0; j < dout; j++)
                qi[j] = gauss(&s);
            for (int pass = 0; pass < 2; pass++)
                for (uint32_t k = 0; k < i; k++) {
                    const double *qk = Q + (size_t)k * dout;
                    double dot = 0;
                    for (uint32_t j = 0; j < dout; j++)
                        dot += qi[j] * qk[j];
                    for (uint32_t j = 0; j < dout; j++)
                        qi[j] -= dot * qk[j];
                }
            for (uint32_t j = 0; j < dout; j++)
                nrm += qi[j] * qi[j];
            if (nrm > 1e-6) {
                nrm = 1.0 / sqrt(nrm);
                for (uint32_t j = 0; j < dout; j++)
                    qi[j] *= nrm;
                break;
            }
        }
    }
    for (size_t t = 0; t < (size_t)din * dout; t++)
        R[t] = (float)Q[t];
    free(Q);
    return 0;
}

/* ==== Training and encoding ==== */

int cvs__rbq_train(cvs__rbq *r, const float *z, size_t n, int iters, uint64_t seed)
{
    int rc = 0;
    if (r->K > 1) {
        cvs__kmeans_opts ko = {.iters = iters > 0 ? iters : 25,
                               .seed = seed ^ 0x7262712d63ull /* "rbq-c" */};
        rc = cvs__kmeans(z, n, r->d, r->d, r->K, &ko, r->cent, NULL, NULL);
    } else {
        double *acc = calloc(r->d, sizeof *acc);
        if (!acc)
            return cvs__err(CVS_ENOMEM, "rabitq: out of memory");
        for (size_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < r->d; j++)
                acc[j] += z[i * r->d + j];
        for (uint32_t j = 0; j < r->d; j++)
            r->cent[j] = n ? (float)(acc[j] / (double)n) : 0.0f;
        free(acc);
    }
    if (!rc)
        cvs__rbq_centres_set(r);
    return rc;
}

typedef struct ev {
    float t;
    uint32_t j;
} ev;

static void heap_down(ev *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l].t < h[m].t)
            m = l;
        if (l + 1 < n && h[l + 1].t < h[m].t)
            m = l + 1;
        if (m == i)
            return;
        ev tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

/* Sorts n keys ascending: Shell sort with Ciura's gaps (extended by
 * x2.25), inlined and without a comparison callback, which is what made
 * qsort a third of the encoding time at D = 128. */
static void sort_u64(uint64_t *v, size_t n)
{
    static const size_t gaps[] = {86651, 38511, 17116, 7607, 3381, 1750, 701, 301, 132,
                                  57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        const size_t h = gaps[g];
        for (size_t i = h; i < n; i++) {
            uint64_t x = v[i];
            size_t j = i;
            for (; j >= h && v[j - h] > x; j -= h)
                v[j] = v[j - h];
            v[j] = x;
        }
    }
}

/* Scratch of one encoding call. */
typedef struct lv_scratch {
    ev *s;          /* d: (a_j, j) by a_j descending, ties by j */
    uint64_t *key;  /* d: sort keys */
    ev *h;          /* H: the heap of next steps, one per level */
    uint32_t *pos;  /* H: per level, the next dimension (index into s) */
} lv_scratch;

/* Levels k_j (0 .. H-1, the magnitude index) maximizing <y,a>/||y|| for
 * the magnitudes a (a unit vector's |o_j|), by the critical-t sweep.  The
 * steps of level k (k_j: k-1 -> k) come at t = k / a_j, so for each k in
 * order of decreasing a_j: the sweep merges H - 1 sorted runs with a heap
 * of H - 1 entries rather than keeping one entry per dimension.  Steps
 * past t = (H + 9) / max a_j are not visited (the largest coordinate has
 * then been saturated for 10 levels; the reference implementation stops
 * there too). */
static void best_levels(const float *a, uint32_t d, uint32_t H, lv_scratch *sc, uint8_t *k)
{
    double ip = 0, n2 = 0.25 * d, best, t_best = 0, t_next = -1, t_end;
    size_t nz = 0, hn = 0;
    int found = 0;
    memset(k, 0, d);
    for (uint32_t j = 0; j < d; j++) {
        ip += 0.5 * a[j];
        if (a[j] > 0) { /* positive floats order as their bits: complement for descending */
            uint32_t bits;
            memcpy(&bits, &a[j], 4);
            sc->key[nz++] = (uint64_t)(~bits) << 32 | j;
        }
    }
    best = ip / sqrt(n2);
    if (H <= 1 || nz == 0)
        return;
    sort_u64(sc->key, nz);
    for (size_t i = 0; i < nz; i++) {
        const uint32_t j = (uint32_t)sc->key[i];
        sc->s[i] = (ev){a[j], j};
    }
    t_end = (double)(H + 9) / sc->s[0].t;
    for (uint32_t lv = 1; lv < H; lv++) { /* already in heap order: t grows with lv */
        sc->pos[lv] = 0;
        sc->h[hn++] = (ev){(float)lv / sc->s[0].t, lv};
    }
    while (hn) {
        const ev e = sc->h[0];
        const uint32_t lv = e.j, j = sc->s[sc->pos[lv]].j;
        if (e.t > t_end)
            break;
        if (found && t_next < 0)
            t_next = e.t; /* the first step after the best so far */
        k[j] = (uint8_t)lv;
        ip += a[j];
        n2 += 2.0 * lv;
        if (ip / sqrt(n2) > best) {
            best = ip / sqrt(n2);
            t_best = e.t;
            t_next = -1;
            found = 1;
        }
        if (++sc->pos[lv] < nz)
            sc->h[0].t = (float)lv / sc->s[sc->pos[lv]].t;
        else
            sc->h[0] = sc->h[--hn];
        heap_down(sc->h, hn, 0);
    }
    /* Deviation 6: rebuild at a t strictly inside the best interval. */
    {
        double t = !found ? 0 : t_next < 0 ? t_best * (1.0 + 1e-6) : 0.5 * (t_best + t_next);
        for (uint32_t j = 0; j < d; j++) {
            double f = floor(t * a[j]);
            k[j] = (uint8_t)(f > H - 1 ? H - 1 : f < 0 ? 0 : f);
        }
    }
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static float get_f32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static float half_f32(uint16_t h)
{
    uint32_t e = (h >> 10) & 31u, m = h & 0x3ffu, bits;
    float f;
    if (e == 0)
        return (float)m * (1.0f / 16777216.0f);
    bits = e == 31 ? 0x7f800000u | m << 13 : (e - 15 + 127) << 23 | m << 13;
    memcpy(&f, &bits, 4);
    return f;
}

/* IEEE binary16, for the bound's factor: only ever >= 0.  Rounded up, so
 * the stored bound is never narrower than the computed one; past the
 * largest half it is infinite (every such code is re-ranked). */
static uint16_t half_up(float f)
{
    uint32_t bits, m;
    int e;
    uint16_t h;
    if (!(f > 0))
        return 0;
    if (f > 65504.0f)
        return 0x7C00;
    memcpy(&bits, &f, 4);
    e = (int)((bits >> 23) & 0xff) - 127 + 15;
    m = (bits & 0x7fffff) | 0x800000;
    if (e <= 0) /* subnormal half: m * 2^-24, truncated */
        h = (uint16_t)(14 - e < 32 ? m >> (14 - e) : 0);
    else
        h = (uint16_t)((uint32_t)e << 10 | (m & 0x7fffff) >> 13);
    return half_f32(h) < f ? (uint16_t)(h + 1) : h; /* the next half up */
}

int cvs__rbq_encode(const cvs__rbq *r, const float *z, size_t n, uint8_t *codes)
{
    const uint32_t d = r->d, B = r->B, H = 1u << (B - 1), nb = d / 8;
    const size_t cs = cvs__rbq_code_size(r);
    const double cb = ((double)(1u << B) - 1.0) / 2.0;
    int rc = 0;
    float *o = malloc(d * 2 * sizeof *o);
    int32_t *as = calloc(n ? n : 1, sizeof *as);
    lv_scratch sc = {malloc(d * sizeof(ev)), malloc(d * sizeof(uint64_t)), malloc(H * sizeof(ev)),
                     malloc(H * sizeof(uint32_t))};
    uint8_t *k = malloc(d);
    if (!o || !as || !sc.s || !sc.key || !sc.h || !sc.pos || !k) {
        rc = cvs__err(CVS_ENOMEM, "rabitq: out of memory");
        goto out;
    }
    /* Each vector against its nearest centre (one sgemm per block). */
    if (r->K > 1 && n && (rc = cvs__kmeans_assign(z, n, d, d, r->cent, r->K, r->cn2, as, NULL)))
        goto out;
    float *a = o + d;
    for (size_t i = 0; i < n; i++) {
        const float *zi = z + i * d, *ce = r->cent + (size_t)as[i] * d;
        uint8_t *c = codes + i * cs;
        double nrm = 0, ip = 0, ny = 0, yc = 0, vc = 0;
        for (uint32_t j = 0; j < d; j++) {
            o[j] = zi[j] - ce[j];
            nrm += (double)o[j] * o[j];
            vc += (double)o[j] * ce[j];
        }
        nrm = sqrt(nrm);
        for (uint32_t j = 0; j < d; j++) {
            o[j] = nrm > 0 ? (float)(o[j] / nrm) : 0.0f;
            a[j] = fabsf(o[j]);
        }
        best_levels(a, d, H, &sc, k);
        memset(c, 0, (size_t)B * nb);
        for (uint32_t j = 0; j < d; j++) {
            uint32_t u = o[j] >= 0 ? H + k[j] : H - 1 - k[j];
            double y = (double)u - cb;
            ip += y * o[j];
            ny += y * y;
            yc += y * ce[j];
            for (uint32_t b = 0; b < B; b++)
                c[b * nb + j / 8] |= (uint8_t)(((u >> b) & 1u) << (j % 8));
        }
        /* <ō, o> = ip / ||y|| > 0 whenever v != 0 (y_j has o_j's sign). */
        {
            double cosv = ny > 0 && ip > 0 ? ip / sqrt(ny) : 1.0;
            double scale = ip > 0 ? nrm / ip : 0.0;
            double e = nrm * sqrt(fmax(0.0, 1.0 - cosv * cosv)) / cosv / sqrt((double)d - 1.0);
            /* The shift (deviation 7): the estimate of <v, c> the scan
             * makes, scale <y, c>, against the exact <v, c>. */
            double shift = r->ip ? scale * yc - vc : nrm * nrm + 2.0 * scale * yc;
            uint16_t eh = half_up((float)e);
            uint8_t *t = c + (size_t)B * nb;
            if (r->v3) { /* deviation 8: a codec of blob version 3 */
                put_f32(t, (float)nrm);
                put_f32(t + 4, (float)scale);
                put_f32(t + 8, (float)e);
                continue;
            }
            t[0] = (uint8_t)as[i];
            put_f32(t + 1, (float)scale);
            put_f32(t + 5, (float)shift);
            t[9] = (uint8_t)(eh & 0xff);
            t[10] = (uint8_t)(eh >> 8);
        }
    }
out:
    free(o);
    free(as);
    free(sc.s);
    free(sc.key);
    free(sc.h);
    free(sc.pos);
    free(k);
    return rc;
}

/* The tail's centre byte and bound (scale and shift: get_f32 at 1, 5). */
static uint32_t tail_centre(const uint8_t *t) { return t[0]; }
static float tail_bound(const uint8_t *t) { return half_f32((uint16_t)(t[9] | t[10] << 8)); }

void cvs__rbq_decode(const cvs__rbq *r, const uint8_t *codes, size_t n, float *z)
{
    const uint32_t d = r->d, B = r->B, nb = d / 8;
    const size_t cs = cvs__rbq_code_size(r);
    const double cb = ((double)(1u << B) - 1.0) / 2.0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * cs, *t = c + (size_t)B * nb;
        const uint32_t k = r->v3 || tail_centre(t) >= r->K ? 0 : tail_centre(t);
        const float *ce = r->cent + (size_t)k * d;
        float *zi = z + i * d;
        double scale = get_f32(t + 1), e = tail_bound(t), ny = 0, f = 0;
        for (uint32_t j = 0; j < d; j++) {
            uint32_t u = 0;
            for (uint32_t b = 0; b < B; b++)
                u |= (uint32_t)((c[b * nb + j / 8] >> (j % 8)) & 1u) << b;
            zi[j] = (float)((double)u - cb);
            ny += (double)zi[j] * zi[j];
        }
        /* norm <ō,o> ō = (norm <ō,o> / ||y||) y.  The code keeps no norm:
         * with s = sin of the angle between ō and o,
         *   e = norm tan / sqrt(D - 1),  norm = scale <y,o> = scale ||y|| cos,
         * so s = e sqrt(D - 1) / (scale ||y||), and norm <ō,o> / ||y|| =
         * scale cos^2.  A half's rounding of e moves cos^2 by ~2 s^2 2^-11,
         * ~1e-5 at 4 bits: the reconstruction keeps float precision. */
        if (r->v3) { /* deviation 8: the norm is in the tail */
            double nrm = get_f32(t);
            scale = get_f32(t + 4);
            f = scale > 0 && ny > 0 ? nrm * nrm / scale / ny : 0.0;
        } else if (scale > 0 && ny > 0 && isfinite(e)) {
            double sn = e * sqrt((double)d - 1.0) / (scale * sqrt(ny));
            f = scale * fmax(0.0, 1.0 - sn * sn);
        }
        for (uint32_t j = 0; j < d; j++)
            zi[j] = ce[j] + (float)(f * zi[j]);
    }
}

/* ==== Query side ==== */

void cvs__rbq_prepare(const cvs__rbq *r, const float *qz, float off, float *qbuf)
{
    const uint32_t d = r->d, nb = d / 8, K = r->K;
    float *lut = qbuf + QH_SIZE, *ct = lut + (size_t)r->B * nb * 256, *cn = ct + K;
    double sum = 0, n2 = 0, qc = 0;
    /* Version 3 l2 codes score the query centred on the one centre
     * (deviation 8); every other code the query itself. */
    const int centred = r->v3 && !r->ip;
    for (uint32_t m = 0; m < nb; m++) {
        float *L = lut + (size_t)m * 256, qm[8];
        for (int t = 0; t < 8; t++) {
            const size_t j = (size_t)m * 8 + (size_t)t;
            qm[t] = centred ? qz[j] - r->cent[j] : qz[j];
            if (r->v3)
                qc += (double)qz[j] * r->cent[j];
        }
        L[0] = 0.0f;
        for (unsigned v = 1; v < 256; v++)
            L[v] = L[v & (v - 1)] + qm[__builtin_ctz(v)];
        for (int t = 0; t < 8; t++) {
            sum += qm[t];
            n2 += (double)qm[t] * qm[t];
        }
    }
    /* Plane b weighs its bit by 2^b: an exact scaling of plane 0 (a
     * multiplication by a power of two, which the compiler vectorizes;
     * ldexpf was a call per entry). */
    for (uint32_t b = 1; b < r->B; b++) {
        const float w = (float)(1u << b);
        float *dst = lut + (size_t)b * nb * 256;
        for (size_t e = 0; e < (size_t)nb * 256; e++)
            dst[e] = w * lut[e];
    }
    /* The per-centre tables are filled on first use (centre_share): an
     * IVF search scans a few lists, whose codes name a few centres, and
     * K * d multiply-adds per query (or per list) would cost more than
     * its scan.  cn[k] < 0 marks an entry not yet computed. */
    for (uint32_t k = 0; k < K; k++)
        cn[k] = -1.0f;
    memcpy(cn + K, qz, d * sizeof *qz);
    /* Version 3 ip codes: the one centre's share q.c in the offset. */
    qbuf[QH_OFF] = r->v3 && r->ip ? (float)(off - qc) : off;
    qbuf[QH_SUM] = (float)sum;
    qbuf[QH_N2] = (float)n2;
    qbuf[QH_N] = (float)sqrt(n2);
    for (int t = QH_N + 1; t < QH_SIZE; t++)
        qbuf[t] = 0.0f;
}

/* Centre k's share of the score (||q - c||^2, or -<q, c>) into ct[k], and
 * ||q - c||, the query's length as the bound sees it (the estimator's
 * error is linear in the centred query), into cn[k]. */
static void centre_share(const cvs__rbq *r, float *qbuf, float *ct, float *cn, uint32_t k)
{
    const uint32_t d = r->d;
    const float *qz = cn + r->K, *ce = r->cent + (size_t)k * d;
    float acc[8] = {0}; /* eight lanes (d is a multiple of 8): vectorized */
    double qc = 0, l2;
    for (uint32_t j = 0; j < d; j += 8)
        for (int t = 0; t < 8; t++)
            acc[t] += qz[j + t] * ce[j + t];
    for (int t = 0; t < 8; t++)
        qc += acc[t];
    l2 = fmax(0.0, (double)qbuf[QH_N2] - 2.0 * qc + r->cn2[k]);
    ct[k] = (float)(r->ip ? -qc : l2);
    cn[k] = (float)sqrt(l2);
}

void cvs__rbq_estimate(const cvs__rbq *r, float *qbuf, const uint8_t *codes, size_t n,
                       size_t cs, float *est, float *err)
{
    const uint32_t B = r->B, M = B * r->d / 8, K = r->K;
    const float cb = (float)((1u << B) - 1) * 0.5f, off = qbuf[QH_OFF], csum = cb * qbuf[QH_SUM];
    float *ct = qbuf + QH_SIZE + (size_t)M * 256, *cn = ct + K;
    const float w = r->ip ? 1.0f : 2.0f;
    cvs__adc8_scan_strided(qbuf + QH_SIZE, codes, n, M, cs, est);
    if (r->v3) { /* deviation 8: the estimator of the one-centre codes */
        const float n2 = qbuf[QH_N2], qn = qbuf[QH_N];
        for (size_t i = 0; i < n; i++) {
            const uint8_t *t = codes + i * cs + M;
            const float nrm = get_f32(t), ipv = get_f32(t + 4) * (est[i] - csum);
            est[i] = r->ip ? off - ipv : off + n2 + nrm * nrm - 2.0f * ipv;
            if (err)
                err[i] = w * qn * get_f32(t + 8);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *t = codes + i * cs + M;
        const uint32_t k = tail_centre(t) < K ? tail_centre(t) : 0;
        if (cn[k] < 0.0f)
            centre_share(r, qbuf, ct, cn, k);
        /* est = share of the centre + shift - w * scale * <y, q>. */
        est[i] = off + ct[k] + get_f32(t + 5) - w * get_f32(t + 1) * (est[i] - csum);
        if (err)
            err[i] = w * cn[k] * tail_bound(t);
    }
}
