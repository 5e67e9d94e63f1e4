/*
 * err_lmdb.h -- LMDB return codes in cvstore's terms (internal).  Kept in
 * store/ rather than core/err.h so that the bottom layer knows nothing of
 * LMDB; the store and the layers above reach it through store/db.h.
 */
#ifndef CVS_ERR_LMDB_H
#define CVS_ERR_LMDB_H

#include "core/err.h"

/* Maps an LMDB return code (or one of the private codes of core/err.h that
 * the store/seal.h wrappers return in its place) to ours, with context in
 * the message. */
int cvs__err_lmdb(int mdb_rc, const char *what);

#endif
