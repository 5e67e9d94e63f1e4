/*
 * hnsw_bench.h -- hnswlib (Malkov & Yashunin's HNSW, Debian's header-only
 * libhnswlib-dev) behind a small C API, for cvstore-bench ann only: the
 * baseline cvstore's ANN index is measured against.  Bench-only; nothing in
 * the library depends on it.
 */
#ifndef CVS_HNSW_BENCH_H
#define CVS_HNSW_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hb_index hb_index;

/* A graph for up to max_n vectors of dim floats; ip selects hnswlib's
 * InnerProductSpace (distance 1 - q.x; for ip and, on normalized data,
 * cosine), otherwise L2Space.  NULL on failure, with the reason on stderr. */
hb_index *hb_new(uint32_t dim, int ip, size_t max_n, size_t M, size_t ef_construction,
                 size_t seed);
void hb_free(hb_index *h);

/* Adds rows 0..n-1 of x (labels = row numbers) with threads workers, as
 * hnswlib's Python binding does (each worker takes the next row).  0, or -1
 * with the reason on stderr. */
int hb_add(hb_index *h, const float *x, size_t n, int threads);

/* The same for rows first..first+n-1 of a larger set, x pointing at row
 * first (labels = row numbers): a long build added in slices. */
int hb_add_rows(hb_index *h, const float *x, size_t first, size_t n, int threads);

/* Top k of nq queries into labels (nq x k, best first, padded with -1) with
 * the search-time ef, the queries split over threads workers. */
int hb_search(hb_index *h, const float *q, size_t nq, size_t k, size_t ef, int threads,
              int64_t *labels);

/* Writes the index with hnswlib's saveIndex (what loadIndex reads back).
 * 0, or -1 with the reason on stderr. */
int hb_save(hb_index *h, const char *path);

/* Bytes of the graph and its vectors, from hnswlib's own fields: the
 * level-0 block of every element (vector, links, label), the upper-level
 * link lists, and the arrays locating them.  Deliberately a lower bound:
 * hnswlib also holds a mutex per element and an id hash map (about 90 more
 * bytes per vector on x86-64), left out so that a memory ratio against it
 * is never flattered. */
uint64_t hb_mem_bytes(const hb_index *h);

/* 1 when this CPU runs the AVX2 kernels this file is compiled with. */
int hb_cpu_ok(void);

#ifdef __cplusplus
}
#endif
#endif
