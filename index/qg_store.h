/*
 * qg_store.h -- the graph index kept in the store, "qg" (internal).  The
 * structure is index/qg.c's; storing, loading, marks and check are
 * index/qg_store.c's.
 */
#ifndef CVS_QG_STORE_H
#define CVS_QG_STORE_H

#include "store/db.h"
#include "store/module.h"

/* 1 when index names the graph index ("qg" or "qg32"). */
int cvs__qg_parse_spec(const char *index);

/* Builds the graph over every record of the store, whose codec must give
 * 4-bit PQ codes (cvs_build builds that codec first), and stores it in one
 * write transaction (qg_store.c deviation 1); replaces a FAISS index.
 * codec_gen as for cvs__fidx_build: the codec this build made, which
 * another build's may not have replaced meanwhile (CVS_ECONFLICT). */
int cvs__qg_build(cvs_db *db, const cvs_build_opts *o, uint64_t codec_gen);

/* Whether txn's snapshot has a graph index. */
int cvs__qg_present(cvs_db *db, MDB_txn *txn, int *yes);

/* Inside a write transaction: removes the graph index and its marks (a
 * build of another index replaces it). */
int cvs__qg_remove(cvs_db *db, MDB_txn *txn);

/* Top-k of nq prepared queries (normalized for cosine) with the stored
 * graph: ef the candidate list (0 = the stored default), rerank the
 * candidates re-scored from SQ8 rows (0 = the default; norerank: none).
 * allow: optional key bitmap of allow_words words.  Records written since
 * the build are scored exactly and merged.  labels/scores as
 * cvs_txn_search_params. */
int cvs__qg_search(cvs_txn *t, const float *q, size_t nq, size_t k, size_t ef, size_t rerank,
                   int norerank, const uint64_t *allow, size_t allow_words, int threads,
                   int64_t *labels, float *scores);

/* Stored vectors read by graph re-ranking and queries that re-ranked,
 * over the process (qg_store.c deviation 4); cvs__qg_rerank_bound = 0
 * turns the bound off (tests). */
void cvs__qg_rerank_counts(uint64_t *reads, uint64_t *queries);
extern int cvs__qg_rerank_bound;

/* cvs_index_get_info's fields for the graph (nprobe = ef); the graph must
 * exist (see cvs__qg_present). */
int cvs__qg_info(cvs_db *db, cvs_index_info *info);
/* Stores the search defaults (0 leaves one unchanged). */
int cvs__qg_set_defaults(cvs_db *db, size_t ef, size_t rerank);

/* The module (store/module.h): marks records written after the build,
 * checks invariant 14, drops the loaded graph at close. */
extern const cvs__module cvs__qg_module;

#endif
