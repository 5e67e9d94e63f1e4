/*
 * qg.h -- a proximity graph over the compressed codes, "quantized graph"
 * (internal).  Method and deviations: index/qg.c.
 *
 * The graph is built from full-precision vectors (cvs__qg_graph_build);
 * searching it needs only each node's neighbour list and the neighbours'
 * 4-bit codes, packed per node as one fast-scan block (cvs__qg_assemble),
 * plus optional SQ8 rows for re-ranking.
 */
#ifndef CVS_QG_H
#define CVS_QG_H

#include <stddef.h>
#include <stdint.h>

#include "pq/sq8.h"

struct cvs_codec;

/* Out-degree: one 32-code fast-scan block per node. */
#define CVS_QG_R 32
#define CVS_QG_NONE UINT32_MAX /* an empty neighbour slot */

typedef struct cvs_qg_build_opts {
    size_t L;        /* candidate list of the build's searches; 0 = 64 */
    float alpha;     /* second pass's pruning factor; 0 = 1.2 */
    uint64_t seed;   /* insertion order; 0 = 1 */
    int threads;     /* 0 = one per core */
} cvs_qg_build_opts;

/* Builds the graph over n vectors x (n x dim, row-major): *nbr (malloc'd,
 * n * CVS_QG_R node numbers, CVS_QG_NONE padding, each list without
 * repeats or self-loops) and the entry node *entry.  Deterministic for a
 * seed, whatever the thread count.  n >= 1. */
int cvs__qg_graph_build(const float *x, size_t n, size_t dim, const cvs_qg_build_opts *o,
                        uint32_t **nbr, uint32_t *entry);

/* A searchable graph.  The caller fills n, dim, l2, entry, keys, codec
 * (and rows/sq or xf for re-ranking); cvs__qg_assemble makes the node
 * records.  cvs__qg_free frees keys, nodes, eblock, rows, sq and pool,
 * never codec or xf.  Searches may run concurrently on one cvs_qg. */
typedef struct cvs_qg {
    size_t n, dim;
    int l2;                 /* 1: squared L2; 0: negated inner product */
    uint32_t entry;
    int64_t *keys;          /* node -> record key */
    const struct cvs_codec *codec; /* 4-bit, non-residual codes */
    size_t m, bb, ns;       /* sub-quantizers; bytes of a block; of a node */
    /* n records of ns bytes: node u's neighbours' codes as one packed
     * block (bb bytes), then their CVS_QG_R node numbers (u32). */
    uint8_t *nodes;
    uint8_t *eblock;        /* bb: the entry node's own code as code 0 */
    cvs__sq8 sq;            /* re-ranking rows' quantizer (rows != NULL) */
    uint8_t *rows;          /* n * dim SQ8 rows, or NULL */
    const float *xf;        /* n * dim float rows for re-ranking, or NULL */
    struct cvs_qg_pool *pool; /* searches' visited marks, kept for reuse */
} cvs_qg;

/* Makes g->nodes and g->eblock from nbr (n * CVS_QG_R, as
 * cvs__qg_graph_build gives it) and codes4 (n plain 4-bit codes of
 * ceil(m/2) bytes, node order) for g->entry and g->codec. */
int cvs__qg_assemble(cvs_qg *g, const uint32_t *nbr, const uint8_t *codes4);
/* Node u's neighbour list (CVS_QG_R entries, CVS_QG_NONE padding). */
static inline const uint32_t *cvs__qg_nbr(const cvs_qg *g, size_t u)
{
    return (const uint32_t *)(const void *)(g->nodes + u * g->ns + g->bb);
}
void cvs__qg_free(cvs_qg *g);
/* Resident bytes of the searchable structure. */
uint64_t cvs__qg_mem_bytes(const cvs_qg *g);

/* Graph searches never return these nodes (deleted records); bit u of
 * skip[u / 64].  May be NULL. */
typedef struct cvs_qg_search_opts {
    size_t ef;              /* candidate list size (beam width) */
    int threads;            /* 0 = one per core */
    const uint64_t *skip;   /* nodes never returned (still traversed) */
    int codes_only;         /* rank by the codes' estimates alone (also
                               when g has neither rows nor xf) */
} cvs_qg_search_opts;

/* Top-k of nq prepared queries (normalized for cosine) among the nodes
 * the search expands, by their row distance (SQ8 or float rows), or by
 * the codes' estimate with codes_only: labels get keys (-1 padding),
 * scores as cvs_txn_search (sqrt of L2, or the product). */
int cvs__qg_search_graph(const cvs_qg *g, const float *q, size_t nq, size_t k,
                   const cvs_qg_search_opts *o, int64_t *labels, float *scores);

#endif
