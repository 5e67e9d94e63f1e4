/*
 * err_lmdb.c -- see err_lmdb.h.
 */
#include <errno.h>
#include <lmdb.h>

#include "store/err_lmdb.h"

int cvs__err_lmdb(int mdb_rc, const char *what)
{
    int rc = CVS_ELMDB;
    if (mdb_rc == CVS__EAUTH || mdb_rc == CVS__EDAMAGED)
        return cvs__err_prefix(CVS_ECORRUPT, "%s", what);
    if (mdb_rc == MDB_NOTFOUND)
        rc = CVS_NOTFOUND;
    else if (mdb_rc == ENOMEM)
        rc = CVS_ENOMEM;
    else if (mdb_rc == EACCES || mdb_rc == EROFS)
        rc = CVS_ERDONLY;
    else if (mdb_rc > 0)
        rc = CVS_EIO;
    else if (mdb_rc == MDB_CORRUPTED || mdb_rc == MDB_PAGE_NOTFOUND)
        rc = CVS_ECORRUPT;
    else if (mdb_rc == MDB_INVALID || mdb_rc == MDB_VERSION_MISMATCH)
        rc = CVS_EFORMAT;
    return cvs__err(rc, "%s: %s", what, mdb_strerror(mdb_rc));
}
