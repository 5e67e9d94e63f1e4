/*
 * choose.c -- cvs_build_choose: the codec and index a store gets when its
 * user names none (`cvstore build DB`, cvs_build with spec NULL or "auto").
 *
 * There is no paper for this; it is the IVFADC recipe of Jégou, Douze &
 * Schmid (TPAMI 2011: a coarse k-means quantizer, PQ codes scanned by
 * asymmetric distance, the best candidates re-ranked with the stored
 * vectors) with each free parameter set by a rule that has a reason, from
 * the store's record count n, dimension d, metric and raw-vector mode.  The
 * rule is a starting point, not the last word: `cvstore tune` then measures
 * the search knobs on the store's own vectors, and with --rebuild the list
 * count and the ",sq8" rows too (index/tune.c).
 *
 *  1. No index below CVS_AUTO_MIN_INDEX (2048) records.  An IVF index wants
 *     about 40 training points per list, so a store that small has at most
 *     52 lists; reaching recall 0.95 then means probing a large share of
 *     them, plus a coarse scan and per-query tables, to save at most a scan
 *     of 2048 * d floats (1 MiB at d = 128), which exact search does with
 *     one sgemm per batch.  The codec is still built (sq8: one byte per
 *     dimension, trained from ranges alone, so any count will do), so that
 *     `search --codes` works and an f32 store can later be indexed.
 *  2. Raw "none" stores: sq8 at full dimension.  Their codes are the only
 *     copy of the vectors (reads return decoded codes, and nothing can be
 *     re-ranked or retrained), so fidelity comes before scan speed: sq8
 *     keeps each coordinate within 1/510 of its range, where 4-bit PQ would
 *     make every read lossy, and no PCA (what it drops is gone for good).
 *     Above CVS_IVF_MAX_CODE (512) dimensions their sq8 codes are longer
 *     than an IVF list holds, so they get no index: the codes are scanned
 *     whole, which is slower but loses nothing, where an index would need
 *     a shorter, lossier code that the store could never undo.
 *  3. Otherwise 4-bit PQ after an OPQ rotation, two dimensions per
 *     sub-quantizer: opq,pq{d/2}x4, d/4 bytes per vector (1/16 of f32).
 *     4-bit codes are what the fast-scan kernel (André, Kermarrec & Le
 *     Scouarnec, VLDB 2015; pq/kernels.c) scans from in-register tables,
 *     several times faster per code than 8-bit tables read from memory;
 *     the re-ranking restores exact distances, so the codes only have to
 *     put the true neighbours among the best R candidates.  Two dimensions
 *     per 16-centroid sub-quantizer is the measured default of the IVF
 *     (index/ivf.c deviation 1: opq,pq50x4 on GloVe-100, opq,pq64x4 the
 *     fastest at 0.95 on SIFT10K in `cvstore-bench ann`).  OPQ (Ge et al.
 *     2013) balances the variance among sub-spaces that PQ's fixed split
 *     would leave uneven.  An odd d is padded by one zero dimension in the
 *     rotation (opq{d+1}), since pq needs M to divide the dimension.
 *     One dimension per sub-quantizer (pq{d}x4: twice the scan, finer
 *     codes, shallower re-ranking) was measured against this in
 *     `cvstore-bench ann` sweeps, one thread, CPU time, on a loaded
 *     machine.  With ",sq8" rows (rule 6; every store of the three
 *     benchmark sets gets them) pq{d/2}x4 was as fast or faster at recall
 *     0.95: GloVe-100 (340K, ivf1167,sq8) ~5,400 queries/s at nprobe
 *     80-96, R 200-400 against ~4,100 for pq100x4 at nprobe 80, R 50;
 *     SIFT10K within noise.  The rows make a deep re-rank cheap, so the
 *     coarser codes' extra candidates cost little and their scan is half.
 *     Re-ranking from the stored vectors instead (no rows), GloVe favoured
 *     pq100x4 (~3,400 against ~2,700-2,900 at 0.95: each extra candidate
 *     is an LMDB look-up), SIFT10K was within noise, and Fashion-MNIST
 *     behind PCA (rule 4) gave the same recall at each nprobe and R with
 *     pq256x4 as with pq128x4 (the PCA truncation, not the codes, limits
 *     it).  One data set in favour is no rule, so the width stays d/2 for
 *     all; stores without rows (raw "none", or rows past rule 6's share of
 *     memory) are where to measure it again.
 *  4. Above 256 dimensions, PCA to 256 first: pca256,opq,pq128x4.  The
 *     scan cost grows with M, the codes' budget is better spent on the
 *     directions that carry the variance (image and text embeddings keep
 *     most of it in their top few hundred components), and the re-ranking
 *     reads the full stored vectors, so what PCA drops costs recall only
 *     among the candidates.
 *  5. The list count is the IVF's own default, about 4 sqrt(n) (FAISS's
 *     guideline: 4 to 16 sqrt(n)), at most n / 39: the balance between the
 *     coarse scan (nlist centroids) and the lists' length (n / nlist) that
 *     probing a fixed share of the lists reads.  Written out as ivfN, so
 *     the summary shows N.  Residual or direct codes stay the IVF's default
 *     per metric (index/ivf.c deviation 1).
 *  6. ",sq8" re-ranking rows when the store keeps raw vectors and the rows
 *     (n * d bytes) take at most a quarter of the machine's physical
 *     memory and at most 2 GiB.  Re-ranking from stored vectors costs an LMDB B-tree descent
 *     and a decode per candidate (a third of a query on SIFT10K,
 *     index/ivf.c deviation 5); the rows are d bytes per record held in
 *     memory, a quarter of the f32 vectors the store keeps anyway.  Their
 *     cost per vector does not depend on n, and the look-ups they save do
 *     not get cheaper as n grows (a deeper B-tree, a map that outgrows the
 *     page cache), so a bound on n has no reason; memory does: every
 *     process that searches holds the rows, beside the codes and lists and
 *     the page cache that the exact re-score (index/ivf_search.c deviation
 *     6) and the tuner read through.  A quarter leaves the rest of the
 *     machine to those.  And every process that opens the store copies the
 *     rows into its heap before its first answer (index/ivf_lists.c) and
 *     fails to search if they do not fit, on whatever machine the store is
 *     later opened: 2 GiB (20M vectors of 100 dimensions) bounds that copy
 *     and what a laptop's CLI, Python or MCP process must hold, where the
 *     quarter alone would let a store built on a large server need tens of
 *     GiB in each.  A bound on n * d alone (64 MiB, chosen with the rule
 *     and never measured) had left 1M x 100 without rows; there
 *     (`cvstore-bench scale`, docs/BENCHMARKS.md, "Cost curves") the store
 *     without them answered the same held-out queries at the same recall
 *     1.2-1.8x slower.  `tune --rebuild` measures both ways.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "index/ivf.h"

#define CVS_AUTO_MIN_INDEX 2048u
#define CVS_AUTO_SQ8_SHARE 4u             /* rule 6: rows up to 1/4 of memory */
#define CVS_AUTO_SQ8_MAX (2ull << 30)     /* rule 6: and up to 2 GiB */
#define CVS_AUTO_MEM_UNKNOWN (4ull << 30) /* when the system does not say */
#define CVS_AUTO_PCA_ABOVE 256u

/* Rule 6: the bytes of ,sq8 rows a default build may add, the smaller of
 * a quarter of the machine's physical memory and CVS_AUTO_SQ8_MAX. */
static uint64_t sq8_rows_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size
                                         : CVS_AUTO_MEM_UNKNOWN;
    mem /= CVS_AUTO_SQ8_SHARE;
    return mem < CVS_AUTO_SQ8_MAX ? mem : CVS_AUTO_SQ8_MAX;
}

CVS_API int cvs_build_choose(uint64_t count, uint32_t dim, cvs_metric metric, cvs_raw raw,
                             cvs_build_choice *out)
{
    size_t nlist;
    int residual, refine, rc;

    if (!out)
        return cvs__err(CVS_EINVAL, "cvs_build_choose: NULL argument");
    memset(out, 0, sizeof *out);
    if (dim == 0 || dim > CVS_MAX_DIM)
        return cvs__err(CVS_EINVAL, "cvs_build_choose: dimension %u out of range 1..%d", dim,
                        CVS_MAX_DIM);
    if (metric != CVS_METRIC_L2 && metric != CVS_METRIC_IP && metric != CVS_METRIC_COSINE)
        return cvs__err(CVS_EINVAL, "cvs_build_choose: unknown metric %d", (int)metric);
    if (raw == 0)
        raw = CVS_RAW_F32;
    if (raw != CVS_RAW_F32 && raw != CVS_RAW_F16 && raw != CVS_RAW_NONE)
        return cvs__err(CVS_EINVAL, "cvs_build_choose: unknown raw mode %d", (int)raw);

    /* Rules 1 and 2: sq8 where fidelity or trainability matter more than
     * scan speed. */
    if (raw == CVS_RAW_NONE || count < CVS_AUTO_MIN_INDEX)
        snprintf(out->codec, sizeof out->codec, "sq8");
    else if (dim > CVS_AUTO_PCA_ABOVE) /* rule 4 */
        snprintf(out->codec, sizeof out->codec, "pca%u,opq,pq%ux4", CVS_AUTO_PCA_ABOVE,
                 CVS_AUTO_PCA_ABOVE / 2);
    else if (dim % 2) /* rule 3, padded */
        snprintf(out->codec, sizeof out->codec, "opq%u,pq%ux4", dim + 1, (dim + 1) / 2);
    else
        snprintf(out->codec, sizeof out->codec, "opq,pq%ux4", dim / 2);

    if (count < CVS_AUTO_MIN_INDEX) /* rule 1 */
        return CVS_OK;
    if (raw == CVS_RAW_NONE && dim > CVS_IVF_MAX_CODE) /* rule 2: sq8 codes, too long */
        return CVS_OK;
    if ((rc = cvs__ivf_parse_spec("ivf", count, &nlist, &residual, &refine)))
        return rc; /* rule 5 */
    refine = raw != CVS_RAW_NONE && count * (uint64_t)dim <= sq8_rows_limit(); /* rule 6 */
    snprintf(out->index, sizeof out->index, "ivf%zu%s", nlist, refine ? ",sq8" : "");
    return CVS_OK;
}
