/*
 * hnsw_bench.cpp -- hnswlib behind the C API of hnsw_bench.h, for
 * cvstore-bench ann.
 *
 * hnswlib is header-only, so how it is compiled is part of what gets
 * measured.  Its own builds (pip, conda) use -march=native; compiled with
 * Debian's default flags it would get SSE distance kernels only and look
 * slower than it is.  So this file turns on its AVX kernels (USE_SSE /
 * USE_AVX, and the target pragma that lets the intrinsics compile); hnswlib
 * still checks the CPU at run time (AVXCapable) before using them, and
 * hb_cpu_ok() lets the benchmark skip hnswlib on a CPU without AVX2.  The
 * standard headers come first, outside the pragma, so that the library
 * templates instantiated here stay generic code.
 *
 * Threads: hnswlib's addPoint and searchKnn are safe to call concurrently
 * (per-node locks, a pool of visited lists); the workers below take rows
 * from a shared atomic counter, as its Python binding's ParallelFor does.
 */
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <new>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bench/hnsw_bench.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define USE_SSE
#define USE_AVX
#include <hnswlib/hnswlib.h>
#pragma GCC pop_options

struct hb_index {
    hnswlib::SpaceInterface<float> *space;
    hnswlib::HierarchicalNSW<float> *g;
};

namespace {

/* Runs fn(i) for i in [0, n) on threads workers; the first exception wins. */
template <typename F>
int parallel_for(size_t n, int threads, F fn)
{
    std::atomic<size_t> next(0);
    std::mutex err_mu;
    std::string err;
    auto work = [&] {
        try {
            for (size_t i; (i = next.fetch_add(1)) < n;)
                fn(i);
        } catch (const std::exception &e) {
            std::lock_guard<std::mutex> lk(err_mu);
            if (err.empty())
                err = e.what();
            next.store(n);
        }
    };
    if (threads < 1)
        threads = 1;
    std::vector<std::thread> ts;
    try {
        for (int t = 1; t < threads; t++)
            ts.emplace_back(work);
    } catch (const std::exception &e) {
        err = e.what();
        next.store(n);
    }
    work();
    for (auto &t : ts)
        t.join();
    if (!err.empty()) {
        fprintf(stderr, "hnswlib: %s\n", err.c_str());
        return -1;
    }
    return 0;
}

} // namespace

extern "C" {

int hb_cpu_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

hb_index *hb_new(uint32_t dim, int ip, size_t max_n, size_t M, size_t ef_construction,
                 size_t seed)
{
    hb_index *h = nullptr;
    try {
        h = new hb_index();
        if (ip)
            h->space = new hnswlib::InnerProductSpace(dim);
        else
            h->space = new hnswlib::L2Space(dim);
        h->g = new hnswlib::HierarchicalNSW<float>(h->space, max_n, M, ef_construction, seed);
        return h;
    } catch (const std::exception &e) {
        fprintf(stderr, "hnswlib: %s\n", e.what());
        hb_free(h);
        return nullptr;
    }
}

void hb_free(hb_index *h)
{
    if (!h)
        return;
    delete h->g;
    delete h->space;
    delete h;
}

int hb_add(hb_index *h, const float *x, size_t n, int threads)
{
    size_t dim = *static_cast<size_t *>(h->space->get_dist_func_param());
    return parallel_for(n, threads, [&](size_t i) { h->g->addPoint(x + i * dim, i); });
}

int hb_add_rows(hb_index *h, const float *x, size_t first, size_t n, int threads)
{
    size_t dim = *static_cast<size_t *>(h->space->get_dist_func_param());
    return parallel_for(n, threads,
                        [&](size_t i) { h->g->addPoint(x + i * dim, first + i); });
}

int hb_search(hb_index *h, const float *q, size_t nq, size_t k, size_t ef, int threads,
              int64_t *labels)
{
    size_t dim = *static_cast<size_t *>(h->space->get_dist_func_param());
    h->g->setEf(ef);
    return parallel_for(nq, threads, [&](size_t i) {
        auto res = h->g->searchKnn(q + i * dim, k);
        int64_t *out = labels + i * k;
        /* A max-heap: farthest on top, so fill from the back. */
        size_t m = res.size();
        for (size_t j = m; j < k; j++)
            out[j] = -1;
        for (size_t j = m; j-- > 0; res.pop())
            out[j] = static_cast<int64_t>(res.top().second);
    });
}

int hb_save(hb_index *h, const char *path)
{
    try {
        h->g->saveIndex(path);
        return 0;
    } catch (const std::exception &e) {
        fprintf(stderr, "hnswlib: save %s: %s\n", path, e.what());
        return -1;
    }
}

uint64_t hb_mem_bytes(const hb_index *h)
{
    const hnswlib::HierarchicalNSW<float> *g = h->g;
    size_t n = g->cur_element_count;
    uint64_t bytes = (uint64_t)n * g->size_data_per_element_;
    for (size_t i = 0; i < n; i++)
        if (g->element_levels_[i] > 0)
            bytes += (uint64_t)g->size_links_per_element_ * g->element_levels_[i];
    /* The arrays that locate them: linkLists_ and element_levels_. */
    bytes += (uint64_t)n * (sizeof(char *) + sizeof(int));
    return bytes;
}

} // extern "C"
