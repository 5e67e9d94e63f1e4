/*
 * shard.c -- a store's place in a sharded store (docs/SCALING.md): the
 * optional meta entry "shard" = u32 index, u32 count (little-endian), set
 * by cvstore-mpi on each of its shards.  A record belongs to shard
 * FNV-1a-64(id) mod count (docs/FORMAT.md, "Sharded stores"); a store that
 * knows its place lets a link name a record of another shard: its check
 * does not call such a link dangling (the sharded check looks for the
 * target in its own shard), and its readers skip it as they skip any id
 * they do not hold.  A store without the entry is a store of its own.
 */
#include <string.h>

#include "store/db.h"
#include "store/meta_keys.h"
#include "store/seal.h"

#define SHARD_BYTES 8

typedef struct shard_arg {
    uint32_t index, count;
} shard_arg;

static int shard_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    const shard_arg *a = arg;
    unsigned char b[SHARD_BYTES];
    MDB_val k = CVS__MKEY(CVS__META_SHARD), v = {SHARD_BYTES, b};
    int mrc;
    cvs__put_u32(b, a->index);
    cvs__put_u32(b + 4, a->count);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing the shard entry");
    return CVS_OK;
}

CVS_API int cvs_db_set_shard(cvs_db *db, uint32_t index, uint32_t count)
{
    shard_arg a = {index, count};
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_db_set_shard: NULL argument");
    if (count == 0 || index >= count)
        return cvs__err(CVS_EINVAL, "cvs_db_set_shard: shard %u of %u", index, count);
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "%s: store opened read-only", db->path);
    return cvs__write(db, shard_fn, &a);
}

int cvs__shard_get(cvs_db *db, MDB_txn *txn, uint32_t *index, uint32_t *count)
{
    MDB_val k = CVS__MKEY(CVS__META_SHARD), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CVS_NOTFOUND;
    if (mrc)
        return cvs__err_lmdb(mrc, "reading the shard entry");
    if (v.mv_size != SHARD_BYTES)
        return cvs__err(CVS_ECORRUPT, "meta \"shard\" has %zu bytes (expected %d)", v.mv_size,
                        SHARD_BYTES);
    *index = cvs__get_u32(v.mv_data);
    *count = cvs__get_u32((const unsigned char *)v.mv_data + 4);
    if (*count == 0 || *index >= *count)
        return cvs__err(CVS_ECORRUPT, "meta \"shard\" says shard %u of %u", *index, *count);
    return CVS_OK;
}

CVS_API int cvs_db_get_shard(cvs_db *db, uint32_t *index, uint32_t *count)
{
    MDB_txn *txn;
    int rc;
    if (!db || !index || !count)
        return cvs__err(CVS_EINVAL, "cvs_db_get_shard: NULL argument");
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = cvs__shard_get(db, txn, index, count);
    cvs__read_end(db, txn);
    return rc;
}

uint32_t cvs__shard_of(const char *id, size_t len, uint32_t count)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
    return (uint32_t)(h % count);
}
