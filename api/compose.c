/*
 * compose.c -- the one place that names every derived structure.
 *
 * The store (store/) keeps records and knows no derived structure by name:
 * it calls the module tables (store/module.h) it is handed, in order.  This
 * file hands them over: the public cvs_db_create* and cvs_db_open* pass the
 * list below to the store's cvs__db_create / cvs__db_open, and cvs_build,
 * which chooses between the codes module's build and a FAISS index by the
 * spec, lives here for the same reason: the store calls nothing above it.
 *
 * The order is the calling order of every hook (put, delete, check, ...):
 * the codes first (so the vectors a raw "none" store keeps are settled
 * before anything else runs), the graph after the BM25 index, whose terms
 * the mention links read.  Close runs in the reverse order.  Adding a
 * derived structure means writing its table in its own files and adding
 * one line here (docs/ARCHITECTURE.md).
 */
#include <string.h>

#include "graph/graph.h"
#include "index/codes.h"
#include "index/faiss_index.h"
#include "index/flat.h"
#include "index/ivf.h"
#include "index/qg_store.h"
#include "pq/codec.h"
#include "query/text.h"
#include "text/sentences.h"
#include "store/db.h"
#include "store/module.h"

static const cvs__module *const modules[] = {
    &cvs__flat_module,  /* the decoded-vectors cache of exact search */
    &cvs__codes_module, /* codec, codes, IVF lists */
    &cvs__faiss_module, /* FAISS index dirty marks */
    &cvs__qg_module,    /* graph index marks */
    &cvs__text_module,  /* BM25 postings */
    &cvs__sent_module,  /* sentence offsets */
    &cvs__graph_module, /* kNN graph, title map, mention links */
    &cvs__embed_module, /* the handle's embedder */
};
#define NMODULES (sizeof modules / sizeof modules[0])

CVS_API int cvs_db_create(const char *path, const cvs_create_opts *opts, cvs_db **out)
{
    return cvs__db_create(path, opts, NULL, 0, modules, NMODULES, out);
}

CVS_API int cvs_db_create_encrypted(const char *path, const cvs_create_opts *opts,
                                    const char *passphrase, size_t len, cvs_db **out)
{
    return cvs__db_create(path, opts, passphrase, len, modules, NMODULES, out);
}

CVS_API int cvs_db_open(const char *path, unsigned flags, cvs_db **out)
{
    cvs_open_opts o = {.flags = flags};
    return cvs__db_open(path, &o, modules, NMODULES, out);
}

CVS_API int cvs_db_open_opts(const char *path, const cvs_open_opts *opts, cvs_db **out)
{
    return cvs__db_open(path, opts, modules, NMODULES, out);
}

/* cvs_build told "auto" (or nothing): the choice of cvs_build_choose
 * (index/choose.c) for the store as it is now, for whichever of the codec
 * and the index was left to it. */
static int build_auto(cvs_db *db, const char *spec, const cvs_build_opts *opts)
{
    cvs_build_opts o = {0};
    cvs_build_choice ch;
    cvs_codec_info ci;
    cvs_info info;
    int rc;

    if (opts)
        o = *opts;
    if ((rc = cvs_db_info(db, &info)) ||
        (rc = cvs_build_choose(info.count, info.dim, info.metric, info.raw, &ch)))
        return rc;
    /* Called with the codec or the index (or both) left to the choice; an
     * index given ("" included) is kept. */
    if (!o.index || !strcmp(o.index, "auto"))
        o.index = ch.index;
    if (!spec || !strcmp(spec, "auto")) {
        spec = ch.codec;
        /* A raw "none" store keeps the codec it has, the only one its codes
         * fit (index/codes.c): the choice is its index. */
        if (info.raw == CVS_RAW_NONE && (rc = cvs_codec_get_info(db, &ci)) != CVS_NOTFOUND) {
            if (rc)
                return rc;
            spec = ci.spec;
        }
    }
    return cvs__codes_build(db, spec, &o, NULL);
}

static int build_impl(cvs_db *db, const char *spec, const cvs_build_opts *opts);

/* What can be told of a build's arguments without reading the store: the
 * codec spec against the store's dimension, the index spec's syntax, and
 * a graph index's need of 4-bit codes.  cvs_build runs it first, so a
 * caller that checks first (the CLI, before it says what it chose) gets
 * the same refusal, word for word. */
CVS_API int cvs_build_check(cvs_db *db, const char *spec, const cvs_build_opts *opts)
{
    const char *index = opts ? opts->index : NULL;
    size_t nlist;
    int residual, refine, rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_build_check: NULL argument");
    /* "" is cvs_build's business: no codec beside a graph or FAISS index. */
    if (spec && *spec && strcmp(spec, "auto") && (rc = cvs__codec_check_spec(spec, db->dim)))
        return rc;
    if (!index || !*index || !strcmp(index, "auto") || !strncmp(index, "faiss:", 6))
        return CVS_OK; /* a FAISS factory string is FAISS's to judge */
    if (cvs__qg_parse_spec(index)) {
        /* Refused before the store's codec is replaced by an unusable one. */
        if (spec && *spec && !strstr(spec, "x4"))
            return cvs__err(CVS_EINVAL, "index \"%s\" needs 4-bit PQ codes (e.g. opq,pq%ux4), "
                            "not \"%s\"", index, db->dim / 2 ? db->dim / 2 : 1, spec);
        return CVS_OK;
    }
    return cvs__ivf_parse_spec(index, 0, &nlist, &residual, &refine);
}

/* One ANN index at a time: a build of anything but the graph index
 * removes the graph, in its own write (a codec build: the codes it was
 * built over are replaced; a FAISS build: with its index). */
CVS_API int cvs_build(cvs_db *db, const char *spec, const cvs_build_opts *opts)
{
    uint64_t gen = 0;
    int rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_build: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    if ((rc = cvs_build_check(db, spec, opts)))
        return rc;
    if (opts && cvs__qg_parse_spec(opts->index)) {
        /* The graph over the codes: the codec (without IVF lists) first,
         * or the store's own when spec is NULL. */
        cvs_build_opts co = *opts;
        co.index = "";
        if (spec && *spec && (rc = cvs__codes_build(db, spec, &co, &gen)))
            return rc;
        return cvs__qg_build(db, opts, gen);
    }
    return build_impl(db, spec, opts);
}

static int build_impl(cvs_db *db, const char *spec, const cvs_build_opts *opts)
{
    uint64_t gen = 0;
    int rc;
    if (opts && opts->index && !strncmp(opts->index, "faiss:", 6)) {
        /* A FAISS index stands on its own; a codec, if named too, is built
         * first, as without an index. */
        if (spec && *spec && (rc = cvs__codes_build(db, spec, &(cvs_build_opts){
                                   .seed = opts->seed, .max_train = opts->max_train,
                                   .anisotropic_eta = opts->anisotropic_eta,
                                   .progress = opts->progress,
                                   .progress_ctx = opts->progress_ctx}, &gen)))
            return rc;
        return cvs__fidx_build(db, opts->index + 6, opts, gen);
    }
    if (!spec || !strcmp(spec, "auto") || (opts && opts->index && !strcmp(opts->index, "auto")))
        return build_auto(db, spec, opts);
    return cvs__codes_build(db, spec, opts, NULL);
}
