/*
 * faiss_index.h -- FAISS indexes kept inside the store, "faiss:FACTORY"
 * (internal).  See faiss_index.c.
 */
#ifndef CVS_FAISS_INDEX_H
#define CVS_FAISS_INDEX_H

#include "store/db.h"
#include "store/module.h"

/* Builds the FAISS index named by factory (without the "faiss:" prefix) over
 * every record of a snapshot and stores it; see faiss_index.c for how
 * records written during the build are caught.  codec_gen: the codec
 * generation the same cvs_build made first (0: none made), which must still
 * be the store's when the index is written, else CVS_ECONFLICT (another
 * build replaced it: the header essay, "Builds of other kinds"). */
int cvs__fidx_build(cvs_db *db, const char *factory, const cvs_build_opts *o,
                    uint64_t codec_gen);

/* Whether txn's snapshot has a FAISS index (*spec gets "faiss:FACTORY",
 * cap bytes, when not NULL). */
int cvs__fidx_present(cvs_db *db, MDB_txn *txn, int *yes, char *spec, size_t cap);

/* Top-k with the stored index: q are nq prepared queries (normalized for
 * cosine), qn their squared norms.  param: nprobe for IVF indexes,
 * efSearch for HNSW ones (0 = the stored default).  allow: optional bitmap
 * of record keys (bit k = key k may be returned), allow_words words.
 * labels/scores as cvs_txn_search_params. */
int cvs__fidx_search(cvs_txn *t, const float *q, const float *qn, size_t nq, size_t k,
                     size_t param, const uint64_t *allow, size_t allow_words, int64_t *labels,
                     float *scores);

/* The put/delete hook: inside the writing transaction, marks key as changed
 * since the FAISS index was built (a no-op for stores that never had one);
 * deleted: key was deleted (a record the index never held loses its mark). */
int cvs__fidx_on_write(cvs_db *db, MDB_txn *txn, uint64_t key, int deleted);

/* Stores the default search parameter (nprobe or efSearch). */
int cvs__fidx_set_default(cvs_db *db, size_t param);

/* Info for cvs_index_get_info: count, the default parameter, resident and
 * on-disk bytes.  CVS_NOTFOUND without an index. */
int cvs__fidx_info(cvs_db *db, cvs_index_info *info);

/* Inside a write transaction: removes the FAISS index (an IVF build
 * replaces it). */
int cvs__fidx_remove(cvs_db *db, MDB_txn *txn);

/* cvstore check of the FAISS index (docs/FORMAT.md, invariant 11): with
 * meta "fidx_spec", the build's meta values are there, the chunks are
 * numbered 0..fidx_nchunks-1, the blob loads as n vectors of the store's
 * dimension under n distinct keys assigned before the build, and every
 * live record is in the index or marked dirty while every key the index
 * holds is live or marked; without it, no chunk.  Calls problem once per
 * violation; an error only when reading fails. */
int cvs__fidx_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx);

/* Frees the cached index (close). */
void cvs__fidx_drop(cvs_db *db);

/* The FAISS module (store/module.h): marks records written since the
 * index was built, drops the loaded index at close. */
extern const cvs__module cvs__faiss_module;

#endif
