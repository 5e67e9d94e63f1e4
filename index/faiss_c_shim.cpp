/*
 * faiss_c_shim.cpp -- the slice of FAISS's C API that cvstore uses,
 * implemented over the C++ library.
 *
 * Why this file exists: Debian 12's libfaiss-dev ships the C API headers
 * (/usr/include/faiss/c_api/) and a static libfaiss.a, but not libfaiss_c,
 * the library those headers describe.  Rather than write C++ across the
 * project, every cvstore file talks to FAISS through the C headers, and this
 * one translation unit supplies the functions they declare.  CMakeLists.txt
 * compiles it only when no system libfaiss_c is found, so on a system that
 * has the real one, this file drops out and nothing else changes.
 *
 * It follows FAISS's own c_api/ sources:
 *   1. Signatures come from the installed headers (included below), so a
 *      mismatch is a compile error, not a silent ABI break.
 *   2. Opaque handles are the C++ objects themselves: a FaissIndex* is a
 *      faiss::Index* (FAISS_DECLARE_CLASS / _INHERITED in faiss_c.h).
 *   3. No exception crosses into C.  Each call catches everything, keeps the
 *      message in thread-local storage for faiss_get_last_error(), and returns
 *      FAISS's codes (error_c.h: FAISS_EXCEPT -2, STD_EXCEPT -4,
 *      UNKNOWN_EXCEPT -1).
 * Where we deviate:
 *   1. The last error is kept as a std::string, not as the std::exception_ptr
 *      of error_impl.h (which lives in libfaiss_c and would be undefined
 *      here).  The observable behaviour is the same: the pointer stays valid
 *      until this thread's next failing call.
 *   2. Only the functions cvstore calls are defined.  Add more here, one
 *      wrapper each, as code starts using them; a missing one shows up as a
 *      link error.
 *   3. faiss_omp_set_num_threads is not declared by Debian's 1.7.3 headers,
 *      so it is not provided; callers use omp_set_num_threads directly.
 */
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <new>
#include <stdexcept>
#include <string>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/faiss_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

namespace {

thread_local std::string last_error;

/* Runs f and turns any exception into FAISS's C error code.  A lambda per
 * call site keeps every wrapper a one-liner with a single catch block. */
template <typename F>
int guarded(F &&f)
{
    try {
        f();
        return OK;
    } catch (const faiss::FaissException &e) {
        last_error = e.what();
        return FAISS_EXCEPT;
    } catch (const std::bad_alloc &e) {
        /* Kept verbatim: cvs__faiss_err recognizes it to report CVS_ENOMEM
         * instead of a generic FAISS failure. */
        last_error = e.what();
        return STD_EXCEPT;
    } catch (const std::exception &e) {
        last_error = e.what();
        return STD_EXCEPT;
    } catch (...) {
        last_error = "Unknown error";
        return UNKNOWN_EXCEPT;
    }
}

inline faiss::Index *cxx(FaissIndex *p) { return reinterpret_cast<faiss::Index *>(p); }
inline const faiss::Index *cxx(const FaissIndex *p)
{
    return reinterpret_cast<const faiss::Index *>(p);
}

} // namespace

extern "C" {

/* ==== Errors ==== */

const char *faiss_get_last_error()
{
    /* FAISS returns NULL when nothing failed yet; "" is friendlier to callers
     * that print it unconditionally, and no caller tests for NULL. */
    return last_error.c_str();
}

/* ==== Index ==== */

void faiss_Index_free(FaissIndex *obj)
{
    delete cxx(obj);
}

int faiss_Index_d(const FaissIndex *obj)
{
    return cxx(obj)->d;
}

int faiss_Index_is_trained(const FaissIndex *obj)
{
    return cxx(obj)->is_trained ? 1 : 0;
}

idx_t faiss_Index_ntotal(const FaissIndex *obj)
{
    return cxx(obj)->ntotal;
}

FaissMetricType faiss_Index_metric_type(const FaissIndex *obj)
{
    return static_cast<FaissMetricType>(cxx(obj)->metric_type);
}

int faiss_Index_verbose(const FaissIndex *obj)
{
    return cxx(obj)->verbose ? 1 : 0;
}

void faiss_Index_set_verbose(FaissIndex *obj, int verbose)
{
    cxx(obj)->verbose = verbose != 0;
}

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x)
{
    return guarded([&] { cxx(index)->train(n, x); });
}

int faiss_Index_add(FaissIndex *index, idx_t n, const float *x)
{
    return guarded([&] { cxx(index)->add(n, x); });
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids)
{
    return guarded([&] { cxx(index)->add_with_ids(n, x, xids); });
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
                       float *distances, idx_t *labels)
{
    return guarded([&] { cxx(index)->search(n, x, k, distances, labels); });
}

int faiss_Index_reset(FaissIndex *index)
{
    return guarded([&] { cxx(index)->reset(); });
}

/* ==== Flat indexes ==== */

int faiss_IndexFlat_new_with(FaissIndexFlat **p_index, idx_t d, FaissMetricType metric)
{
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndexFlat *>(
            new faiss::IndexFlat(d, static_cast<faiss::MetricType>(metric)));
    });
}

int faiss_IndexFlatL2_new_with(FaissIndexFlatL2 **p_index, idx_t d)
{
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndexFlatL2 *>(new faiss::IndexFlatL2(d));
    });
}

int faiss_IndexFlatIP_new_with(FaissIndexFlatIP **p_index, idx_t d)
{
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndexFlatIP *>(new faiss::IndexFlatIP(d));
    });
}

/* ==== Factory and I/O ==== */

int faiss_index_factory(FaissIndex **p_index, int d, const char *description,
                        FaissMetricType metric)
{
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndex *>(
            faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric)));
    });
}

int faiss_write_index_fname(const FaissIndex *idx, const char *fname)
{
    return guarded([&] { faiss::write_index(cxx(idx), fname); });
}

int faiss_read_index_fname(const char *fname, int io_flags, FaissIndex **p_out)
{
    return guarded([&] {
        *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(fname, io_flags));
    });
}

int faiss_write_index(const FaissIndex *idx, FILE *f)
{
    return guarded([&] { faiss::write_index(cxx(idx), f); });
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out)
{
    return guarded([&] {
        *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(f, io_flags));
    });
}

/* ==== Search-time parameters ====
 * ParameterSpace knows where each index family keeps its knobs ("nprobe"
 * of an IVF, also under a pre-transform or a refine stage; "efSearch" of
 * an HNSW; "k_factor_rf" of a refine stage), so one call covers every
 * factory string; cvstore-bench ann and index/faiss_index.c use them. */

int faiss_ParameterSpace_new(FaissParameterSpace **space)
{
    return guarded([&] {
        *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace());
    });
}

void faiss_ParameterSpace_free(FaissParameterSpace *space)
{
    delete reinterpret_cast<faiss::ParameterSpace *>(space);
}

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space, FaissIndex *index,
                                             const char *name, double value)
{
    return guarded([&] {
        reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(
            cxx(index), name, value);
    });
}

} // extern "C"
