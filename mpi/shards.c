/*
 * shards.c -- the manifest of a sharded store and the placement of records
 * (see shards.h; the format is in docs/FORMAT.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "shards.h"

uint64_t shards_hash(const char *id, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint32_t shards_of(const shards_manifest *m, const char *id, size_t len)
{
    return (uint32_t)(shards_hash(id, len) % m->shards);
}

int shards_path(const char *db, uint32_t shard, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/shard-%04u", db, shard);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int shards_manifest_write(const char *db, const shards_manifest *m, char *err, size_t cap)
{
    char path[4096], tmp[4200];
    json_t *j = NULL;
    char *text = NULL;
    int fd = -1, rc = CVS_EIO;
    size_t len;

    if (snprintf(path, sizeof path, "%s/%s", db, SHARDS_MANIFEST) >= (int)sizeof path) {
        snprintf(err, cap, "%s: path too long", db);
        return CVS_EINVAL;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    j = json_pack("{s:s,s:i,s:i,s:s,s:i,s:s,s:s}", "format", SHARDS_FORMAT,
                  "version", (int)m->version, "shards", (int)m->shards, "hash", SHARDS_HASH,
                  "dim", (int)m->dim, "metric", cvs_metric_name(m->metric),
                  "raw", cvs_raw_name(m->raw));
    if (!j || !(text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        snprintf(err, cap, "out of memory");
        rc = CVS_ENOMEM;
        goto out;
    }
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
        write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd)) {
        snprintf(err, cap, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        snprintf(err, cap, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path)) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = CVS_OK;
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    free(text);
    json_decref(j);
    return rc;
}

int shards_manifest_read(const char *db, shards_manifest *m, char *err, size_t cap)
{
    char path[4096];
    json_error_t je;
    json_t *j = NULL;
    const char *format = NULL, *hash = NULL, *metric = NULL, *raw = NULL;
    json_int_t version = 0, shards = 0, dim = 0;
    int rc = CVS_EFORMAT;

    if (snprintf(path, sizeof path, "%s/%s", db, SHARDS_MANIFEST) >= (int)sizeof path) {
        snprintf(err, cap, "%s: path too long", db);
        return CVS_EINVAL;
    }
    if (access(path, F_OK)) {
        snprintf(err, cap, "no sharded store at %s (no %s)", db, SHARDS_MANIFEST);
        return CVS_NOTFOUND;
    }
    if (!(j = json_load_file(path, 0, &je))) {
        snprintf(err, cap, "%s: not JSON: %s (line %d)", path, je.text, je.line);
        goto out;
    }
    if (json_unpack(j, "{s:s,s:I}", "format", &format, "version", &version) ||
        strcmp(format, SHARDS_FORMAT)) {
        snprintf(err, cap, "%s: not a cvstore shard manifest", path);
        goto out;
    }
    if (version != SHARDS_VERSION) {
        snprintf(err, cap, "%s: manifest version %lld; this cvstore-mpi reads version %d",
                 path, (long long)version, SHARDS_VERSION);
        rc = CVS_EVERSION;
        goto out;
    }
    if (json_unpack(j, "{s:I,s:s,s:I,s:s,s:s}", "shards", &shards, "hash", &hash, "dim", &dim,
                    "metric", &metric, "raw", &raw)) {
        snprintf(err, cap, "%s: a member is missing or of the wrong type", path);
        goto out;
    }
    if (shards < 1 || shards > SHARDS_MAX || dim < 1 || dim > CVS_MAX_DIM ||
        strcmp(hash, SHARDS_HASH) || cvs_metric_parse(metric, &m->metric) ||
        cvs_raw_parse(raw, &m->raw)) {
        snprintf(err, cap, "%s: shards, hash, dim, metric or raw out of range", path);
        goto out;
    }
    m->version = (uint32_t)version;
    m->shards = (uint32_t)shards;
    m->dim = (uint32_t)dim;
    rc = CVS_OK;
out:
    json_decref(j);
    return rc;
}
