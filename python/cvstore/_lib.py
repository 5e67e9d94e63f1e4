"""Loading libcvstore and declaring its C interface for ctypes.

The structures below mirror include/cvstore.h field for field; ctypes lays
them out with the platform's C rules, so they match the compiler's as long
as the field types match.  Every function gets argtypes and restype so that
a wrong argument is a TypeError in Python, not memory corruption in C.

The library is a ctypes.CDLL, never a PyDLL: CDLL releases the GIL for the
duration of every foreign call, which is what lets several Python threads
search one store at once (and lets other threads run during a build).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double,
                    c_float, c_int, c_int32, c_int64, c_size_t, c_uint,
                    c_uint32, c_uint64, c_ubyte, c_void_p)
from pathlib import Path

__all__ = ["lib", "lib_path"]

# ==== Constants (cvstore.h) ====

OK = 0
NOTFOUND = -30900
EINVAL = -30901
ENOMEM = -30902
EIO = -30903
EFORMAT = -30904
EVERSION = -30905
EDIM = -30906
EINPUT = -30907
EEXIST = -30908
ECORRUPT = -30909
ELMDB = -30910
EFAISS = -30911
ERDONLY = -30912
EINTERNAL = -30913
EBUSY = -30914
EKEY = -30915
ECONFLICT = -30916
EFORK = -30917

METRIC = {"l2": 1, "ip": 2, "cosine": 3}
METRIC_NAME = {v: k for k, v in METRIC.items()}
RAW = {"f32": 1, "f16": 2, "none": 3}
RAW_NAME = {v: k for k, v in RAW.items()}

OPEN_RDONLY = 0x1
WAIT_NOTICE_S = 1.0
PUT_TIMES = 0x2
SEARCH_EXACT = 0x1
SEARCH_CODES = 0x2
SEARCH_ANN = 0x4
SEARCH_NORERANK = 0x8
RERANK_NONE = ctypes.c_size_t(-1).value

MAX_ID_LEN = 512
MAX_DIM = 65536  # CVS_MAX_DIM
EMBEDDER_NAME_MAX = 255

CONTEXT_STRATEGY = {"diverse": 0, "topk": 1, "mmr": 2, "bm25": 3, "vector": 4}
CONTEXT_UNIT = {"passage": 0, "sentence": 1}
FUSION = {"rrf": 0, "weighted": 1}
MEM_RETRIEVAL = {"hybrid": 0, "lexical": 1, "bm25": 1, "vector": 2}
MEM_OUTCOME = {1: "added", 2: "duplicate", 3: "merged"}

# ==== Structures ====


class cvs_create_opts(Structure):
    _fields_ = [("dim", c_uint32), ("metric", c_int), ("raw", c_int)]


class cvs_open_opts(Structure):
    _fields_ = [("flags", c_uint), ("passphrase", c_char_p), ("passphrase_len", c_size_t)]


class cvs_info(Structure):
    _fields_ = [("format_version", c_uint32), ("dim", c_uint32), ("metric", c_int),
                ("raw", c_int), ("count", c_uint64), ("next_key", c_uint64),
                ("disk_bytes", c_uint64), ("map_bytes", c_uint64), ("created_us", c_int64),
                ("encrypted", c_int)]


class cvs_link(Structure):
    _fields_ = [("id", c_void_p), ("id_len", c_size_t), ("type", c_char_p),
                ("weight", c_float)]


class cvs_record(Structure):
    _fields_ = [("id", c_void_p), ("id_len", c_size_t), ("vector", c_void_p),
                ("text", c_void_p), ("text_len", c_size_t),
                ("title", c_void_p), ("title_len", c_size_t),
                ("meta", c_void_p), ("meta_len", c_size_t),
                ("links", POINTER(cvs_link)), ("nlinks", c_size_t),
                ("key", c_int64), ("created_us", c_int64), ("updated_us", c_int64),
                ("sentences", c_void_p), ("nsentences", c_size_t)]


class cvs_search_params(Structure):
    _fields_ = [("flags", c_uint), ("rerank", c_size_t), ("nprobe", c_size_t),
                ("filter", c_void_p), ("threads", c_int), ("refine", c_size_t)]


progress_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_uint64, c_uint64, c_uint64)
report_fn = CFUNCTYPE(None, c_void_p, c_char_p)
wait_fn = CFUNCTYPE(None, c_void_p, c_int64, c_double, c_int)
import_warn_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_char_p, c_char_p)
embed_fn = CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), POINTER(c_size_t), c_size_t,
                     POINTER(c_float))


class cvs_build_opts(Structure):
    _fields_ = [("seed", c_uint64), ("max_train", c_size_t), ("anisotropic_eta", c_float),
                ("progress", progress_fn), ("progress_ctx", c_void_p), ("index", c_char_p)]


class cvs_import_opts(Structure):
    _fields_ = [("format", c_int), ("batch", c_size_t), ("ids_path", c_char_p),
                ("ids_as_text", c_int), ("progress", progress_fn), ("progress_ctx", c_void_p),
                ("warn", import_warn_fn), ("warn_ctx", c_void_p)]


class cvs_import_stats(Structure):
    _fields_ = [("records", c_uint64), ("inserted", c_uint64), ("updated", c_uint64),
                ("bytes", c_uint64), ("validate_s", c_double), ("write_s", c_double),
                ("unknown_keys", c_uint64), ("unknown_key_records", c_uint64)]


FORMAT = {"fvecs": 1, "bvecs": 2, "npy": 3, "jsonl": 4}


class cvs_codec_info(Structure):
    _fields_ = [("spec", c_char * 128), ("code_bytes", c_size_t), ("param_bytes", c_size_t),
                ("generation", c_uint64), ("format", c_uint32)]


class cvs_index_info(Structure):
    _fields_ = [("spec", c_char * 128), ("count", c_uint64), ("nlist", c_size_t),
                ("residual", c_int), ("nprobe", c_size_t), ("rerank", c_size_t),
                ("mem_bytes", c_uint64), ("disk_bytes", c_uint64), ("dirty", c_uint64),
                ("refine", c_size_t)]


class cvs_tune_opts(Structure):
    _fields_ = [("target_recall", c_double), ("k", c_size_t), ("sample", c_size_t),
                ("seed", c_uint64), ("progress", progress_fn), ("progress_ctx", c_void_p),
                ("flags", c_uint), ("queries", c_void_p), ("nqueries", c_size_t)]


TUNE_REBUILD = 0x1


class cvs_tune_result(Structure):
    _fields_ = [("nprobe", c_size_t), ("rerank", c_size_t), ("recall", c_double),
                ("ms_per_query", c_double), ("reached", c_int), ("index", c_char * 128),
                ("rebuilds", c_int), ("refine", c_size_t), ("sample", c_size_t),
                ("searches", c_size_t)]


class cvs_build_choice(Structure):
    _fields_ = [("codec", c_char * 64), ("index", c_char * 64)]


class cvs_embedder_info(Structure):
    _fields_ = [("name", c_char * (EMBEDDER_NAME_MAX + 1)), ("dim", c_uint32),
                ("has_fingerprint", c_int), ("fingerprint", c_ubyte * 32), ("fitted", c_int),
                ("data_in_store", c_int)]


class cvs_mem_remember_opts(Structure):
    _fields_ = [("ns", c_char_p), ("meta", c_char_p), ("meta_len", c_size_t),
                ("links", POINTER(cvs_link)), ("nlinks", c_size_t),
                ("conversation", c_char_p), ("supersedes", c_char_p), ("near_dup", c_float),
                ("max_bytes", c_size_t)]


class cvs_mem_remembered(Structure):
    _fields_ = [("id", c_char * (MAX_ID_LEN + 1)), ("outcome", c_int), ("similarity", c_float),
                ("superseded", c_char * (MAX_ID_LEN + 1))]


class cvs_mem_recall_opts(Structure):
    _fields_ = [("ns", c_char_p), ("k", c_size_t), ("token_budget", c_size_t),
                ("strategy", c_int), ("selection", c_int), ("half_life_s", c_double),
                ("hops", c_int), ("filter", c_char_p), ("filter_len", c_size_t),
                ("no_touch", c_int), ("unit", c_int)]


class cvs_mem_item(Structure):
    _fields_ = [("id", c_void_p), ("id_len", c_size_t), ("text", c_void_p),
                ("text_len", c_size_t), ("meta", c_char_p), ("ns", c_char_p),
                ("conversation", c_char_p), ("supersedes", c_char_p),
                ("superseded_by", c_char_p), ("created_us", c_int64), ("recalled_us", c_int64),
                ("score", c_float), ("tokens", c_size_t), ("path", POINTER(c_char_p)),
                ("path_types", POINTER(c_char_p)), ("npath", c_size_t)]


class cvs_mem_items(Structure):
    _fields_ = [("items", POINTER(cvs_mem_item)), ("n", c_size_t), ("tokens", c_size_t),
                ("cursor", c_char * 32), ("priv_", c_void_p)]


class cvs_link_stats(Structure):
    _fields_ = [("records", c_uint64), ("titles", c_uint64), ("sources", c_uint64),
                ("links", c_uint64), ("seconds", c_double)]


class cvs_knn_opts(Structure):
    _fields_ = [("k", c_size_t), ("flags", c_uint), ("recall_sample", c_size_t),
                ("progress", progress_fn), ("progress_ctx", c_void_p)]


class cvs_knn_info(Structure):
    _fields_ = [("k", c_size_t), ("records", c_uint64), ("approximate", c_int),
                ("recall", c_double), ("seconds", c_double), ("built_us", c_int64)]


class cvs_context_opts(Structure):
    _fields_ = [("budget", c_size_t), ("strategy", c_int), ("fusion", c_int),
                ("lexical_weight", c_float), ("rrf_k", c_float), ("title_weight", c_float),
                ("depth", c_size_t), ("seeds", c_size_t), ("hops", c_int),
                ("fanout", c_size_t), ("beam", c_size_t), ("decay", c_float),
                ("knn_weight", c_float), ("use_links", c_int), ("use_knn", c_int),
                ("lambda_", c_float), ("coverage", c_float), ("dup_threshold", c_float),
                ("max_pool", c_size_t), ("search_flags", c_uint), ("bridges", c_size_t),
                ("bridge_weight", c_float), ("unit", c_int), ("exact_words", c_int),
                ("filter", c_void_p)]


class cvs_context_step(Structure):
    _fields_ = [("key", c_int64), ("id", c_void_p), ("id_len", c_size_t), ("type", c_char_p)]


class cvs_context_item(Structure):
    _fields_ = [("key", c_int64), ("id", c_void_p), ("id_len", c_size_t),
                ("title", c_void_p), ("title_len", c_size_t),
                ("text", c_void_p), ("text_len", c_size_t), ("score", c_float),
                ("tokens", c_size_t), ("hop", c_int), ("via", POINTER(cvs_context_step)),
                ("sentences", POINTER(c_uint32)), ("nsentences", c_size_t),
                ("meta", c_void_p), ("meta_len", c_size_t)]


class cvs_context_result(Structure):
    _fields_ = [("items", POINTER(cvs_context_item)), ("n", c_size_t), ("tokens", c_size_t),
                ("budget", c_size_t), ("pool", c_size_t), ("seconds", c_double),
                ("priv", c_void_p)]


# ==== Finding the library ====

_SONAME = "libcvstore.so.0"


def _candidates():
    """Where libcvstore may be, in the order tried.

    1. CVSTORE_LIB: the library file itself (or a directory holding it).
    2. The build tree of the source checkout this package sits in
       (python/cvstore/ -> ../../build), for running from a clone.
    3. The dynamic loader's own search (ldconfig cache, LD_LIBRARY_PATH):
       an installed library (`cmake --install build && ldconfig`).
    4. The usual install prefixes, for an install ldconfig has not seen.
    """
    env = os.environ.get("CVSTORE_LIB")
    if env:
        p = Path(env)
        yield str(p / _SONAME) if p.is_dir() else str(p)
        return
    here = Path(__file__).resolve().parent
    for build in ("build", "build-asan"):
        p = here.parent.parent / build / _SONAME
        if p.exists():
            yield str(p)
    yield _SONAME
    found = ctypes.util.find_library("cvstore")
    if found:
        yield found
    for prefix in ("/usr/local/lib", "/usr/local/lib64", "/usr/lib",
                   "/usr/local/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"):
        yield os.path.join(prefix, _SONAME)


def _load():
    errors = []
    for cand in _candidates():
        try:
            return ctypes.CDLL(cand), cand
        except OSError as e:
            errors.append(f"{cand}: {e}")
    raise ImportError(
        "cvstore: cannot load libcvstore; build it (cmake --build build), install it "
        "(cmake --install build && ldconfig), or set CVSTORE_LIB to the library's path.\n  "
        + "\n  ".join(errors))


lib, lib_path = _load()

# ==== Prototypes ====

_vp = c_void_p
_sz = c_size_t
_PSZ = POINTER(c_size_t)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = argtypes
    return f


_fn("cvs_strerror", c_char_p, c_int)
_fn("cvs_errmsg", c_char_p, _vp)
_fn("cvs_db_create", c_int, c_char_p, POINTER(cvs_create_opts), POINTER(_vp))
_fn("cvs_db_create_encrypted", c_int, c_char_p, POINTER(cvs_create_opts), c_char_p, _sz,
    POINTER(_vp))
_fn("cvs_db_open_opts", c_int, c_char_p, POINTER(cvs_open_opts), POINTER(_vp))
_fn("cvs_db_close", None, _vp)
_fn("cvs_db_info", c_int, _vp, POINTER(cvs_info))
_fn("cvs_put", c_int, _vp, _vp, _sz, c_uint, _PSZ, _PSZ)
_fn("cvs_delete", c_int, _vp, _vp, _vp, _sz, _PSZ)
_fn("cvs_txn_begin", c_int, _vp, POINTER(_vp))
_fn("cvs_txn_end", None, _vp)
_fn("cvs_get", c_int, _vp, c_char_p, _sz, POINTER(cvs_record), _vp)
_fn("cvs_txn_sentences", c_int, _vp, c_int64, _vp, _sz, _PSZ, POINTER(c_int))
_fn("cvs_check", c_int, _vp, report_fn, _vp, POINTER(c_uint64))
_fn("cvs_check_progress", c_int, _vp, report_fn, _vp, progress_fn, _vp, POINTER(c_uint64))
_fn("cvs_db_set_wait_fn", None, _vp, wait_fn, _vp)
_fn("cvs_search", c_int, _vp, _vp, _sz, _sz, c_uint, _vp, _vp)
_fn("cvs_txn_search_params", c_int, _vp, _vp, _sz, _sz, POINTER(cvs_search_params), _vp, _vp)
_fn("cvs_filter_parse", c_int, c_char_p, _sz, POINTER(_vp))
_fn("cvs_filter_free", None, _vp)
_fn("cvs_key_id", c_int, _vp, c_int64, POINTER(_vp), _PSZ)
_fn("cvs_get_key", c_int, _vp, c_int64, POINTER(cvs_record), _vp)
_fn("cvs_iter_open", c_int, _vp, POINTER(c_void_p))
_fn("cvs_iter_next", c_int, _vp, POINTER(cvs_record), _vp)
_fn("cvs_iter_close", None, _vp)
_fn("cvs_build", c_int, _vp, c_char_p, POINTER(cvs_build_opts))
_fn("cvs_codec_get_info", c_int, _vp, POINTER(cvs_codec_info))
_fn("cvs_index_get_info", c_int, _vp, POINTER(cvs_index_info))
_fn("cvs_index_set_defaults", c_int, _vp, _sz, _sz)
_fn("cvs_index_set_refine", c_int, _vp, _sz)
_fn("cvs_tune", c_int, _vp, POINTER(cvs_tune_opts), POINTER(cvs_tune_result))
_fn("cvs_build_choose", c_int, c_uint64, c_uint32, c_int, c_int, POINTER(cvs_build_choice))
_fn("cvs_vecs_load", c_int, c_char_p, c_int, POINTER(POINTER(c_float)), _PSZ, POINTER(c_uint32))
_fn("cvs_ivecs_load", c_int, c_char_p, POINTER(POINTER(c_int32)), _PSZ, POINTER(c_uint32))
_fn("cvs_free", None, _vp)
_fn("cvs_import", c_int, _vp, c_char_p, _vp, _vp)
_fn("cvs_import_check", c_int, _vp, c_char_p, _vp, _vp)
_fn("cvs_txn_text_search", c_int, _vp, c_char_p, _sz, _sz, _vp, _vp)
_fn("cvs_db_set_embedder", c_int, _vp, c_char_p, c_uint32, embed_fn, _vp)
_fn("cvs_db_embedder_info", c_int, _vp, POINTER(cvs_embedder_info))
_fn("cvs_link_rule_outdated", c_int, _vp, POINTER(c_int))
_fn("cvs_embed_texts", c_int, _vp, _vp, _vp, _sz, _vp)
_fn("cvs_embed_fit", c_int, _vp, _vp, _vp, _sz)
_fn("cvs_glove_dir", c_int, ctypes.c_char_p, _sz)
_fn("cvs_text_words", c_int, c_char_p, _sz, _PSZ)
_fn("cvs_text_terms", c_int, c_char_p, _sz, _PSZ)
_fn("cvs_text_empty_note", c_int, c_char_p, _sz, POINTER(c_char_p))
_fn("cvs_mem_remember", c_int, _vp, c_char_p, _sz, POINTER(cvs_mem_remember_opts),
    POINTER(cvs_mem_remembered))
_fn("cvs_mem_remember_many", c_int, _vp, POINTER(c_char_p), POINTER(_sz), _sz,
    POINTER(cvs_mem_remember_opts), POINTER(cvs_mem_remembered))
_fn("cvs_mem_recall", c_int, _vp, c_char_p, _sz, POINTER(cvs_mem_recall_opts),
    POINTER(cvs_mem_items))
_fn("cvs_mem_list", c_int, _vp, c_char_p, c_char_p, _sz, POINTER(cvs_mem_items))
_fn("cvs_mem_forget", c_int, _vp, c_char_p, c_char_p, _sz, c_char_p, _sz, _PSZ)
_fn("cvs_mem_items_free", None, POINTER(cvs_mem_items))
_fn("cvs_link_mentions", c_int, _vp, POINTER(cvs_link_stats))
_fn("cvs_knn_build", c_int, _vp, POINTER(cvs_knn_opts), POINTER(cvs_knn_info))
_fn("cvs_knn_get_info", c_int, _vp, POINTER(cvs_knn_info))
_fn("cvs_context_opts_init", None, POINTER(cvs_context_opts))
_fn("cvs_context", c_int, _vp, POINTER(cvs_context_opts), c_char_p, _sz,
    POINTER(cvs_context_result))
_fn("cvs_txn_context", c_int, _vp, POINTER(cvs_context_opts), c_char_p, _sz, _vp,
    POINTER(cvs_context_result))
_fn("cvs_context_result_free", None, POINTER(cvs_context_result))
_fn("cvs_context_note", c_int, POINTER(cvs_context_result), c_char_p, _sz, POINTER(c_char_p))
