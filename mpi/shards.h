/*
 * shards.h -- the sharded store: a directory of ordinary cvstore stores
 * (shard-0000, shard-0001, ...) and a manifest naming how many there are
 * and how a record's id picks its shard (docs/FORMAT.md, "Sharded
 * stores").  Nothing here knows about MPI: cvstore-mpi composes these
 * pieces with the collectives in mpi/main.c, and every shard stays a
 * store that plain `cvstore` opens alone.
 */
#ifndef CVS_MPI_SHARDS_H
#define CVS_MPI_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"

#define SHARDS_MANIFEST "cvstore-shards.json"
#define SHARDS_FORMAT "cvstore-sharded"
#define SHARDS_VERSION 1
#define SHARDS_MAX 4096 /* shard-%04u names them; a store needs far fewer */
#define SHARDS_HASH "fnv1a64"

typedef struct shards_manifest {
    uint32_t version;
    uint32_t shards;
    uint32_t dim;
    cvs_metric metric;
    cvs_raw raw;
} shards_manifest;

/* FNV-1a, 64-bit (offset basis 14695981039346656037, prime 1099511628211)
 * of the id bytes: the shard of a record is this hash modulo the shard
 * count.  Chosen for being short to specify exactly, so that any program
 * can place a record without linking cvstore. */
uint64_t shards_hash(const char *id, size_t len);
uint32_t shards_of(const shards_manifest *m, const char *id, size_t len);

/* "DB/shard-0007" into buf (cap bytes); -1 when it does not fit. */
int shards_path(const char *db, uint32_t shard, char *buf, size_t cap);

/* Writes DB/cvstore-shards.json through a temporary file renamed over it,
 * so a reader sees the old manifest or the new one, never half of one.
 * Returns a cvs return code; the message goes to *err (static or buf). */
int shards_manifest_write(const char *db, const shards_manifest *m, char *err, size_t cap);

/* Reads and checks the manifest: CVS_NOTFOUND when DB has none,
 * CVS_EVERSION for another version, CVS_EFORMAT when it is damaged; the
 * detail goes to err. */
int shards_manifest_read(const char *db, shards_manifest *m, char *err, size_t cap);

#endif
