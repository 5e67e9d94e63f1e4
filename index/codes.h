/*
 * codes.h -- the codes module (index/codes.c): the store's codec, every
 * record's code ("codes") and the IVF lists ("lists", "ivflog"), kept in
 * step with puts and deletes through the module table (store/module.h).
 * Internal.
 */
#ifndef CVS_CODES_H
#define CVS_CODES_H

#include <pthread.h>

#include "index/gencache.h"
#include "store/db.h"
#include "store/module.h"

struct cvs_codec;

/* The module's per-handle state. */
struct cvs__codes_state {
    MDB_dbi dbi_codes;     /* "codes": key -> compressed code (after a build) */
    MDB_dbi dbi_lists;     /* "lists": key -> IVF list id (after an IVF build) */
    MDB_dbi dbi_ivflog;    /* "ivflog": sequence -> IVF change (index/ivf.c) */
    int has_ivf_dbis;      /* 0: an old store opened read-only lacks them */
    /* The codec of the newest generation seen, older ones retired until
     * close (index/codes.c). */
    cvs__gencache codecs;
    /* The IVF parameters likewise (index/ivf.c). */
    cvs__gencache ivf_params;
    /* In-memory codes of one snapshot (index/codescan.c). */
    pthread_mutex_t scan_mu;
    struct cvs_codes *scan;
    /* The shared in-memory IVF lists (index/ivf_lists.c). */
    pthread_mutex_t ivf_mu;
    struct cvs_ivf *ivf;
    /* An older build's lists kept loaded for searches of its snapshot
     * (cvs__ivf_pin), or NULL; under ivf_mu. */
    struct cvs_ivf *ivf_pin;
    int scan_mu_ok, ivf_mu_ok; /* the locks were made (close destroys them) */
};

extern const cvs__module cvs__codes_module;

static inline struct cvs__codes_state *cvs__codes(const cvs_db *db)
{
    return (struct cvs__codes_state *)cvs__module_state(db, &cvs__codes_module);
}

/* True when the store keeps codes only: raw "none" and a codec built. */
static inline int cvs__codes_only(const cvs_db *db, const struct cvs_codec *codec)
{
    return db->raw == CVS_RAW_NONE && codec != NULL;
}

/* The codec in force in txn's snapshot (NULL when none was built), loaded
 * and cached on first use; valid until cvs_db_close. */
int cvs__codec_for_txn(cvs_db *db, MDB_txn *txn, struct cvs_codec **out, uint64_t *gen);

/* CVS_OK when want is 0 or still txn's codec generation; else CVS_ECONFLICT
 * saying that another build replaced the codec the build writing `what`
 * made, after it was committed (faiss_index.c, "Builds of other kinds"). */
int cvs__codec_gen_check(cvs_db *db, MDB_txn *txn, uint64_t want, const char *what);

/* cvs_build without the "faiss:" indexes (api/compose.c dispatches those):
 * trains a codec (and an IVF index when opts->index names one) on a sample
 * and writes it with every record's code in one write transaction.  *gen
 * (gen may be NULL) is the codec generation that transaction wrote, for a
 * later write of an index over these codes to check (0 on failure). */
int cvs__codes_build(cvs_db *db, const char *spec, const cvs_build_opts *opts, uint64_t *gen);

/* cvs__codes_build of a new IVF index (opts->index, which must name one
 * with ",direct" codes) that keeps the store's codec instead of training
 * it again: direct codes do not depend on the lists, so the codec is the
 * same whatever their count, and the training (OPQ's above all) is most of
 * a build's time.  cvs_tune's rebuilds.  CVS_NOTFOUND without a codec. */
int cvs__codes_reindex(cvs_db *db, const cvs_build_opts *opts);

#endif
