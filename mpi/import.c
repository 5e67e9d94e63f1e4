/*
 * import.c -- `cvstore-mpi import`: every rank reads the whole vector file
 * (and the ids file), or JSONL file, and writes the records whose id hashes
 * to a shard it owns.  Reading everything on every rank costs each rank the file's size
 * in memory, but needs no scatter protocol and puts each record in its
 * shard in file order, as a single store would key them.
 *
 * Two phases, as cvs_import has: every rank validates its records (finite
 * values, id lengths, no id twice) and the ranks agree before anything is written, so a
 * bad file changes no shard.  Then each shard is written in batches, each
 * batch one transaction of that shard.  A batch spanning shards is not
 * atomic: a killed rank leaves the other shards' batches committed and its
 * own shards at their last committed batch (docs/SCALING.md); re-running
 * the import is idempotent (upsert by id).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <mpi.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi import DB FILE [--format FMT] [--ids F] [--batch B]\n"
    "\n"
    "Imports the records of FILE (fvecs, bvecs, npy, or jsonl with text, title,\n"
    "meta and links, as `cvstore import` takes) into the sharded store DB, each\n"
    "record into the shard its id hashes to.  Vector files' ids are the record\n"
    "numbers (\"0\", \"1\", ...) or the lines of --ids; jsonl links may name\n"
    "records of any shard, and a text store's mention links are made against\n"
    "the titles of all shards.  The file is validated by every rank\n"
    "before anything is written; then each shard takes batches of B records, each\n"
    "batch atomic within its shard (a batch spanning shards is not).  A file of\n"
    "no records (empty, blank lines only) imports nothing and says so, exit 0.\n"
    "\n"
    "Options:\n"
    "  -f, --format FMT   fvecs, bvecs, npy or jsonl (default: from the extension)\n"
    "  -i, --ids F        one id per line, in record order\n"
    "  -b, --batch B      records per transaction of a shard (default 10000)\n"
    "  -h, --help         show this help\n";

typedef struct ids_file {
    char *buf;      /* the whole file; ids are NUL-terminated in place */
    char **ids;
    size_t *lens;
    size_t n;
} ids_file;

static void ids_free(ids_file *f)
{
    free(f->buf);
    free(f->ids);
    free(f->lens);
}

/* One id per line (a final line without newline counts; "\r\n" too). */
static int ids_load(const char *cmd, const char *path, size_t want, ids_file *f)
{
    FILE *fp = fopen(path, "rb");
    long size;
    size_t n = 0;
    char *p, *end;
    int rc = CLI_EUSER;

    if (!fp) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? CLI_EUSER : CLI_EFAIL;
    }
    if (fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET)) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        rc = CLI_EFAIL;
        goto out;
    }
    f->buf = malloc((size_t)size + 1);
    f->ids = malloc((want ? want : 1) * sizeof *f->ids);
    f->lens = malloc((want ? want : 1) * sizeof *f->lens);
    if (!f->buf || !f->ids || !f->lens) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        goto out;
    }
    if (fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
        cli_err(cmd, "%s: read error", path);
        rc = CLI_EFAIL;
        goto out;
    }
    f->buf[size] = '\0';
    for (p = f->buf, end = f->buf + size; p < end; n++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (n == want) {
            cli_err(cmd, "%s has more ids than the file has records (%zu)", path, want);
            goto out;
        }
        if (e == p || (size_t)(e - p) > CVS_MAX_ID_LEN) {
            cli_err(cmd, "%s: line %zu: an id must have 1 to %d bytes", path, n + 1,
                    CVS_MAX_ID_LEN);
            goto out;
        }
        *e = '\0';
        f->ids[n] = p;
        f->lens[n] = (size_t)(e - p);
        p = nl ? nl + 1 : end;
    }
    if (n != want) {
        cli_err(cmd, "%s: %zu ids, but the file has %zu records", path, n, want);
        goto out;
    }
    f->n = n;
    rc = CLI_OK;
out:
    fclose(fp);
    return rc;
}

/* Orders record numbers by their ids (qsort has no context argument). */
static const ids_file *g_ids;

static int cmp_id(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = g_ids->lens[i], lj = g_ids->lens[j];
    int c = memcmp(g_ids->ids[i], g_ids->ids[j], li < lj ? li : lj);
    return c ? c : (li > lj) - (li < lj);
}

/* ==== JSONL records ====
 *
 * Records with text, title, metadata and links go through the store's own
 * importer, shard by shard, so that they are read, checked, embedded (a
 * shard made with an embedder embeds the records that come without a
 * vector) and written exactly as `cvstore import` would.  Every rank reads
 * the whole file and copies each line of its shards to a part file of that
 * shard (in $TMPDIR); cvs_import_check validates every part against its
 * shard, the ranks agree, and only then does cvs_import write any part.
 * Messages name the original file and line: the part's name and line
 * numbers are mapped back.
 *
 * Links are kept by external id in the record's own store, so a link to a
 * record of another shard is stored as any link is, in its source's shard
 * (with its backlink there), and `cvstore-mpi context` follows it to the
 * target's shard.  Each shard written is marked with its place
 * (cvs_db_set_shard), so that its check takes a link to an id of another
 * shard for what it is; `cvstore-mpi check` looks for the target there.
 * In a text store the import ends, as `cvstore import` does, with the
 * mention links of every record against the titles of all shards
 * (mpi/link.c). */

typedef struct jpart {
    char path[4096];
    FILE *f;
    uint64_t *lines;        /* the original line number of each part line */
    size_t n, cap;
} jpart;

/* A JSONL id (a string, or an integer written in decimal, as the reader
 * reads it) into *id and *len; -1 when x is neither. */
static int json_id(json_t *x, char *buf, size_t cap, const char **id, size_t *len)
{
    if (json_is_string(x)) {
        *id = json_string_value(x);
        *len = json_string_length(x);
        return 0;
    }
    if (json_is_integer(x)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
        *id = buf;
        *len = strlen(buf);
        return 0;
    }
    return -1;
}

/* msg with the part's path replaced by file and every "line N" by the
 * original line of the part's line N. */
static void map_msg(const jpart *p, const char *file, const char *msg, char *out, size_t cap)
{
    size_t plen = strlen(p->path), o = 0;
    while (*msg && o + 1 < cap) {
        if (!strncmp(msg, p->path, plen)) {
            o += (size_t)snprintf(out + o, cap - o, "%s", file);
            msg += plen;
        } else if (!strncmp(msg, "line ", 5) && msg[5] >= '0' && msg[5] <= '9') {
            char *end;
            unsigned long long l = strtoull(msg + 5, &end, 10);
            if (l >= 1 && l <= p->n)
                l = (unsigned long long)p->lines[l - 1];
            o += (size_t)snprintf(out + o, cap - o, "line %llu", l);
            msg = end;
        } else {
            out[o++] = *msg++;
        }
        if (o >= cap)
            o = cap - 1;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static int jpart_add(jpart *p, const char *line, size_t len, uint64_t lineno)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? 2 * p->cap : 1024;
        uint64_t *q = realloc(p->lines, nc * sizeof *q);
        if (!q)
            return CVS_ENOMEM;
        p->lines = q;
        p->cap = nc;
    }
    p->lines[p->n++] = lineno;
    if (fwrite(line, 1, len, p->f) != len || putc('\n', p->f) == EOF)
        return CVS_EIO;
    return CVS_OK;
}

/* ==== Links across shards ====
 *
 * One store's importer refuses a link to an id that is neither in the file
 * nor in the store.  A shard's importer checks the links into its own
 * shard; a link into another shard is checked here: every rank sees every
 * line, so it knows every id of the file (ids), and a target in none is
 * looked for in its shard by the rank that owns it (ask, gathered). */

typedef struct idlist {
    char **id;                 /* malloc'd, NUL-terminated */
    size_t *len;
    uint64_t *line;            /* for ask: the line of the link */
    size_t n, cap;
} idlist;

static int idl_add(idlist *l, const char *id, size_t len, uint64_t line)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1024;
        char **a = realloc(l->id, nc * sizeof *a);
        size_t *b = a ? realloc(l->len, nc * sizeof *b) : NULL;
        uint64_t *c = b ? realloc(l->line, nc * sizeof *c) : NULL;
        if (a)
            l->id = a;
        if (b)
            l->len = b;
        if (!c)
            return CVS_ENOMEM;
        l->line = c;
        l->cap = nc;
    }
    if (!(l->id[l->n] = malloc(len + 1)))
        return CVS_ENOMEM;
    memcpy(l->id[l->n], id, len);
    l->id[l->n][len] = '\0';
    l->len[l->n] = len;
    l->line[l->n++] = line;
    return CVS_OK;
}

static void idl_free(idlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->id[i]);
    free(l->id);
    free(l->len);
    free(l->line);
}

static int cmp_idp(const void *x, const void *y)
{
    const char *const *a = x, *const *b = y;
    return strcmp(*a, *b);
}

/* The targets of doc's links (doc: a record of shard s) in other shards:
 * into ask, with the line. */
static int cross_links(const shards_manifest *m, json_t *doc, uint32_t s, uint64_t line,
                       idlist *ask)
{
    json_t *links = json_object_get(doc, "links"), *l;
    size_t i;
    char buf[32];
    if (!json_is_array(links))
        return CVS_OK; /* the shard's reader names what is wrong with it */
    json_array_foreach(links, i, l) {
        json_t *x = json_is_object(l) ? json_object_get(l, "id") : l;
        const char *to;
        size_t tolen;
        int rc;
        if (!x || json_id(x, buf, sizeof buf, &to, &tolen) || shards_of(m, to, tolen) == s)
            continue;
        if ((rc = idl_add(ask, to, tolen, line)))
            return rc;
    }
    return CVS_OK;
}

/* Every rank's ask, gathered; each target looked for in its shard by its
 * owner.  An exit code, agreed (a message names each line). */
static int check_cross(const char *cmd, const char *file, const shards_manifest *m, cvs_db **dbs,
                       const idlist *ask)
{
    char *mine = NULL, *all = NULL;
    size_t n = 0, sum = 0;
    int rc = CLI_OK;
    for (size_t i = 0; i < ask->n; i++)
        n += 12 + ask->len[i];
    if (!(mine = malloc(n ? n : 1)) || n > INT_MAX)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (size_t i = 0, at = 0; !rc && i < ask->n; i++) {
        uint32_t len = (uint32_t)ask->len[i];
        memcpy(mine + at, &ask->line[i], 8);
        memcpy(mine + at + 8, &len, 4);
        memcpy(mine + at + 12, ask->id[i], len);
        at += 12 + len;
    }
    if ((rc = mcmd_agree(rc)) || (rc = mcmd_allgather_bytes(cmd, mine, n, NULL, &all, &sum)))
        goto out;
    for (size_t at = 0; at < sum;) {
        uint64_t line;
        uint32_t len;
        cvs_txn *txn = NULL;
        int64_t key;
        int crc;
        memcpy(&line, all + at, 8);
        memcpy(&len, all + at + 8, 4);
        const char *id = all + at + 12;
        uint32_t t = shards_of(m, id, len);
        at += 12 + (size_t)len;
        if (!dbs[t])
            continue;
        if ((crc = cvs_txn_begin(dbs[t], &txn)) == CVS_OK)
            crc = cvs_txn_id_key(txn, id, len, &key);
        cvs_txn_end(txn);
        if (crc == CVS_NOTFOUND) {
            cli_err(cmd, "%s: line %llu: link to unknown id \"%.*s\" (in no record of the file, "
                    "nor in shard-%04u)", file, (unsigned long long)line,
                    (int)(len > 64 ? 64 : len), id, t);
            rc = CLI_EUSER;
        } else if (crc) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, t, cvs_strerror(crc),
                    cvs_errmsg(dbs[t]));
            rc = cli_exit_code(crc);
        }
    }
    rc = mcmd_agree(rc);
out:
    free(mine);
    free(all);
    return rc;
}

/* A text store (its shards made with an embedder) links its mentions
 * after an import, as `cvstore import` does, over all shards. */
static int link_if_text(const char *cmd, const shards_manifest *m, cvs_db **dbs)
{
    int text = 0, any = 0, rc = CLI_OK;
    cvs_link_stats ls;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_embedder_info ei;
        int erc;
        if (!dbs[s])
            continue;
        erc = cvs_db_embedder_info(dbs[s], &ei);
        if (erc == CVS_OK)
            text = 1;
        else if (erc != CVS_NOTFOUND)
            rc = cli_fail(cmd, erc, dbs[s]);
    }
    if ((rc = mcmd_agree(rc)))
        return rc;
    MPI_Allreduce(&text, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!any)
        return CLI_OK;
    if ((rc = mcmd_link_mentions(cmd, m, dbs, &ls)))
        return rc;
    if (g_mpi.rank == 0)
        fprintf(stderr, "linked: %llu mention links from %llu records against %llu titles of "
                "all shards, %.2f s\n", (unsigned long long)ls.links,
                (unsigned long long)ls.sources, (unsigned long long)ls.titles, ls.seconds);
    return CLI_OK;
}

/* Rank 0 says that file held no records and nothing changed (exit 0),
 * in the words of `cvstore import`. */
static void empty_file(const char *file)
{
    if (g_mpi.rank == 0)
        fprintf(stderr, "imported 0 records: %s holds no records; the store is unchanged\n",
                file);
}

/* A JSONL key that is no record field (cvs_import_warn_fn), in the
 * original file's words, said once per key per import as `cvstore import`
 * says it: each shard's validation meets its own records' keys, so every
 * rank keeps its warnings (kw_add) and rank 0 says each key once, at its
 * first line over all shards, after the ranks' lists are gathered
 * (kw_say).  A record of the buffer: the original line (8 bytes), the key
 * and the message, each NUL-terminated. */
#define KEYS_MORE "; any further unknown keys are counted, not named"

typedef struct part_warn {
    const char *file;
    const jpart *part;
    char *buf;           /* this rank's warnings, records as above */
    size_t len, cap;
    int oom;
} part_warn;

static void on_unknown_key(void *ctx, const char *key, uint64_t line, const char *suggest,
                           const char *msg)
{
    part_warn *w = ctx;
    char out[2048];
    size_t ol, kl = strlen(key), need;
    uint64_t orig = line >= 1 && line <= w->part->n ? w->part->lines[line - 1] : line;
    (void)suggest;
    map_msg(w->part, w->file, msg, out, sizeof out);
    /* Whether the set of all shards' keys reaches the cap is kw_say's to
     * say; a shard's own sixteenth key is not the import's. */
    ol = strlen(out);
    if (ol >= strlen(KEYS_MORE) && !strcmp(out + ol - strlen(KEYS_MORE), KEYS_MORE))
        out[ol -= strlen(KEYS_MORE)] = '\0';
    need = 8 + kl + 1 + ol + 1;
    if (w->len + need > w->cap) {
        size_t nc = 2 * (w->len + need);
        char *p = realloc(w->buf, nc);
        if (!p) {
            w->oom = 1; /* a warning lost to memory, said by kw_say */
            return;
        }
        w->buf = p;
        w->cap = nc;
    }
    memcpy(w->buf + w->len, &orig, 8);
    memcpy(w->buf + w->len + 8, key, kl + 1);
    memcpy(w->buf + w->len + 8 + kl + 1, out, ol + 1);
    w->len += need;
}

typedef struct kw_item {
    uint64_t line;
    size_t seq;              /* order met: a line's keys in the record's order */
    const char *key, *msg;
} kw_item;

static int cmp_kw_key(const void *a, const void *b)
{
    const kw_item *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line ? 1 : (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_kw_line(const void *a, const void *b)
{
    const kw_item *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line ? 1 : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Collective: gathers every rank's warnings; rank 0 names each key once, at
 * its first line, the first CVS_IMPORT_KEYS_NAMED keys in line order (as
 * one store's import names them).  0, or the agreed exit code. */
static int kw_say(const char *cmd, part_warn *w)
{
    char *all = NULL;
    size_t total = 0, n = 0, k = 0;
    kw_item *it = NULL;
    int rc, oom;

    oom = mcmd_agree(w->oom);
    if (w->len > INT_MAX)
        w->len = 0; /* not sayable through MPI; the count of such keys is small by design */
    if ((rc = mcmd_allgather_bytes(cmd, w->buf, w->len, NULL, &all, &total)))
        return rc;
    if (g_mpi.rank != 0)
        goto out;
    for (size_t o = 0; o < total; n++) { /* line, key, message */
        o += 8;
        o += strlen(all + o) + 1;
        o += strlen(all + o) + 1;
    }
    if (n && !(it = malloc(n * sizeof *it))) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        goto out;
    }
    n = 0;
    for (size_t o = 0; o < total; n++) {
        memcpy(&it[n].line, all + o, 8);
        it[n].seq = n;
        it[n].key = all + o + 8;
        it[n].msg = it[n].key + strlen(it[n].key) + 1;
        o = (size_t)(it[n].msg + strlen(it[n].msg) + 1 - all);
    }
    /* Each key's first line: sorted by key, then line, the first of each run. */
    if (n > 1)
        qsort(it, n, sizeof *it, cmp_kw_key);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(it[i].key, it[k - 1].key))
            it[k++] = it[i];
    if (k > 1)
        qsort(it, k, sizeof *it, cmp_kw_line);
    for (size_t i = 0; i < k && i < CVS_IMPORT_KEYS_NAMED; i++)
        fprintf(stderr, "cvstore: %s: warning: %s%s\n", cmd, it[i].msg,
                i + 1 == CVS_IMPORT_KEYS_NAMED ? KEYS_MORE : "");
    if (oom)
        cli_err(cmd, "warning: out of memory: some unknown keys were not named");
out:
    free(it);
    free(all);
    return rc;
}

static int import_jsonl(const char *cmd, const char *db, const char *file,
                        const shards_manifest *m, uint64_t batch, double t0)
{
    const char *tmp = getenv("TMPDIR");
    jpart *parts = NULL;
    cvs_db **dbs = NULL;
    FILE *in = NULL;
    char *line = NULL, msg[2048];
    size_t cap = 0;
    ssize_t got;
    uint64_t lineno = 0, nrec = 0;
    unsigned long long local[3] = {0, 0, 0}, total[3] = {0, 0, 0};
    cvs_import_opts o = {0};
    idlist ids = {0}, cand = {0}, ask = {0};
    part_warn pw = {0};
    int rc = CLI_OK, prc;

    pw.file = file;
    if (!tmp || !*tmp)
        tmp = "/tmp";
    o.format = CVS_FMT_JSONL;
    o.batch = (size_t)batch;
    if (!(parts = calloc(m->shards, sizeof *parts)) || !(dbs = calloc(m->shards, sizeof *dbs))) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    } else if (!(in = fopen(file, "rb"))) {
        MCMD_ERR0(cmd, "%s: %s", file, strerror(errno));
        rc = errno == ENOENT || errno == EISDIR ? CLI_EUSER : CLI_EFAIL;
    }
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        int fd;
        if (!mcmd_owns(s))
            continue;
        if (snprintf(parts[s].path, sizeof parts[s].path, "%s/cvstore-mpi-%04u-XXXXXX", tmp, s) >=
                (int)sizeof parts[s].path ||
            (fd = mkstemp(parts[s].path)) < 0 || !(parts[s].f = fdopen(fd, "wb"))) {
            cli_err(cmd, "rank %d: a part file in %s: %s", g_mpi.rank, tmp, strerror(errno));
            parts[s].path[0] = '\0';
            rc = CLI_EFAIL;
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* Split: each line of an owned shard into its part.  A line without a
     * readable id goes to shard 0, whose validation names the problem. */
    while (!rc && (got = getline(&line, &cap, in)) >= 0) {
        char *p = line, ibuf[32];
        size_t len = (size_t)got, id_len;
        const char *id;
        json_t *doc;
        uint32_t s = 0;
        int has_id;
        lineno++;
        while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
            len--;
        if (lineno == 1 && len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
            p += 3;
            len -= 3;
        }
        if (strspn(p, " \t\r\n") >= len)
            continue; /* blank: skipped, as the reader does */
        nrec++;
        doc = json_loadb(p, len, 0, NULL);
        has_id = doc && !json_id(json_object_get(doc, "id"), ibuf, sizeof ibuf, &id, &id_len);
        if (has_id)
            s = shards_of(m, id, id_len);
        if ((has_id && idl_add(&ids, id, id_len, lineno)) ||
            (mcmd_owns(s) && has_id && cross_links(m, doc, s, lineno, &cand)))
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        else if (mcmd_owns(s) && (rc = jpart_add(&parts[s], p, len, lineno)))
            rc = cli_fail(cmd, rc, NULL);
        json_decref(doc);
    }
    if (!rc && ferror(in)) {
        cli_err(cmd, "%s: read error after line %llu", file, (unsigned long long)lineno);
        rc = CLI_EFAIL;
    }
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        if (parts[s].f && fclose(parts[s].f)) {
            cli_err(cmd, "rank %d: %s: %s", g_mpi.rank, parts[s].path, strerror(errno));
            rc = CLI_EFAIL;
        }
        parts[s].f = NULL;
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    if (nrec == 0) {
        /* Every rank read the same lines.  A file of no records (empty, or
         * blank lines only) is what export writes for an empty store: it
         * imports as nothing, said even so, as `cvstore import` says it. */
        empty_file(file);
        goto out;
    }

    /* Validate every part against its shard before any is written; each
     * shard knows its place first, so that its importer leaves the links
     * into other shards to check_cross. */
    if ((rc = mcmd_open_owned(cmd, db, m, 0, dbs)))
        goto out;
    if (ids.n > 1)
        qsort(ids.id, ids.n, sizeof *ids.id, cmp_idp);
    for (size_t i = 0; i < cand.n && !rc; i++)
        if (!bsearch(&cand.id[i], ids.id, ids.n, sizeof *ids.id, cmp_idp) &&
            idl_add(&ask, cand.id[i], cand.len[i], cand.line[i]))
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        if (dbs[s] && (prc = cvs_db_set_shard(dbs[s], s, m->shards))) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(prc),
                    cvs_errmsg(dbs[s]));
            rc = cli_exit_code(prc);
        }
    }
    if ((rc = mcmd_agree(rc)) || (rc = check_cross(cmd, file, m, dbs, &ask)))
        goto out;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        if (!mcmd_owns(s) || !parts[s].n)
            continue;
        pw.part = &parts[s];
        o.warn = on_unknown_key;
        o.warn_ctx = &pw;
        prc = cvs_import_check(dbs[s], parts[s].path, &o, NULL);
        o.warn = NULL; /* the write pass would say it again */
        if (prc) {
            map_msg(&parts[s], file, cvs_errmsg(dbs[s]), msg, sizeof msg);
            cli_err(cmd, "%s (shard-%04u)", msg, s);
            rc = cli_exit_code(prc);
        }
    }
    /* Every rank reaches the gather, a failed one too: the keys met before
     * a bad record are said, as one store's import says them. */
    if ((prc = kw_say(cmd, &pw)) > rc)
        rc = prc;
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* Write: each part in batches, each batch one transaction of its shard. */
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_import_stats st;
        if (!mcmd_owns(s) || !parts[s].n)
            continue;
        if ((prc = cvs_import(dbs[s], parts[s].path, &o, &st))) {
            map_msg(&parts[s], file, cvs_errmsg(dbs[s]), msg, sizeof msg);
            cli_err(cmd, "rank %d: shard-%04u: %s", g_mpi.rank, s, msg);
            rc = cli_exit_code(prc);
        }
        local[0] += st.records;
        local[1] += st.inserted;
        local[2] += st.updated;
    }
    if ((rc = mcmd_agree(rc))) {
        MCMD_ERR0(cmd, "import failed; committed batches stay in their shards, and running "
                  "the same import again completes it");
        goto out;
    }
    MPI_Reduce(local, total, 3, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if ((rc = link_if_text(cmd, m, dbs)))
        goto out;
    if (g_mpi.rank == 0)
        printf("imported %llu records (%llu inserted, %llu updated) into %u shards on %d "
               "ranks in %.2f s\n", total[0], total[1], total[2], m->shards, g_mpi.nranks,
               cli_now() - t0);
out:
    mcmd_close_all(dbs, dbs ? m->shards : 0);
    free(dbs);
    for (uint32_t s = 0; parts && s < m->shards; s++) {
        if (parts[s].f)
            fclose(parts[s].f);
        if (parts[s].path[0])
            unlink(parts[s].path);
        free(parts[s].lines);
    }
    free(parts);
    free(pw.buf);
    free(line);
    idl_free(&ids);
    idl_free(&cand);
    idl_free(&ask);
    if (in)
        fclose(in);
    return rc;
}

int mpi_cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, {"ids", required_argument, NULL, 'i'},
        {"batch", required_argument, NULL, 'b'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "mpi import";
    const char *db, *file, *ids_path = NULL;
    cvs_format fmt = CVS_FMT_AUTO;
    shards_manifest m;
    cvs_db **dbs = NULL;
    float *data = NULL;
    size_t n = 0, *mine = NULL, nmine = 0;
    uint32_t dim = 0;
    uint64_t batch = 10000;
    ids_file idf = {0};
    cvs_record *recs = NULL;
    char (*numids)[24] = NULL;
    unsigned long long local[3] = {0, 0, 0}, total[3] = {0, 0, 0};
    double t0 = cli_now();
    struct stat sb;
    int c, rc = CLI_OK;

    while ((c = getopt_long(argc, argv, "f:i:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS) {
                MCMD_ERR0(cmd, "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'i':
            ids_path = optarg;
            break;
        case 'b':
            if (cli_parse_u64(optarg, 1, 1000000, &batch)) {
                MCMD_ERR0(cmd, "--batch must be an integer from 1 to 1000000, not '%s'", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'h':
            if (g_mpi.rank == 0)
                fputs(usage, stdout);
            return CLI_OK;
        default:
            return mcmd_usage(usage);
        }
    }
    if (argc - optind != 2) {
        MCMD_ERR0(cmd, "%s", argc - optind < 2 ? "missing DB or FILE" : "too many arguments");
        return mcmd_usage(usage);
    }
    db = argv[optind];
    file = argv[optind + 1];
    if (fmt == CVS_FMT_AUTO && cvs_format_guess(file, &fmt) != CVS_OK)
        fmt = CVS_FMT_AUTO; /* cvs_vecs_load names the problem below */
    if (fmt == CVS_FMT_JSONL && ids_path) {
        MCMD_ERR0(cmd, "%s: jsonl records carry their own ids; --ids goes with vector files "
                  "only", file);
        return CLI_EUSER;
    }
    if ((rc = mcmd_manifest(cmd, db, &m)))
        return rc;
    if (fmt == CVS_FMT_JSONL)
        return import_jsonl(cmd, db, file, &m, batch, t0);

    /* Phase 1: read and validate, every rank its own records. */
    /* An empty file, or an npy of zero rows of the store's dimension, has
     * no records: nothing to import, as for jsonl (cvs_vecs_load, a
     * loader of queries too, refuses an empty file as a wrong path). */
    if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
        n = 0;
    } else if ((rc = cvs_vecs_load(file, fmt, &data, &n, &dim))) {
        if (g_mpi.rank == 0)
            cli_fail(cmd, rc, NULL);
        rc = cli_exit_code(rc);
    } else if (dim != m.dim) {
        MCMD_ERR0(cmd, "%s has dimension %u; the store's is %u", file, dim, m.dim);
        rc = CLI_EUSER;
    } else if (ids_path) {
        rc = ids_load(cmd, ids_path, n, &idf);
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    if (n == 0) { /* every rank read the same file */
        empty_file(file);
        goto out;
    }
    mine = malloc((n ? n : 1) * sizeof *mine);
    if (!ids_path)
        numids = malloc((n ? n : 1) * sizeof *numids);
    if (!mine || (!ids_path && !numids)) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    } else {
        for (size_t i = 0; i < n && !rc; i++) {
            const char *id;
            size_t len;
            if (ids_path) {
                id = idf.ids[i];
                len = idf.lens[i];
            } else {
                len = (size_t)snprintf(numids[i], sizeof numids[i], "%zu", i);
                id = numids[i];
            }
            if (!mcmd_owns(shards_of(&m, id, len)))
                continue;
            for (uint32_t d = 0; d < dim; d++) {
                if (!isfinite(data[i * dim + d])) {
                    cli_err(cmd, "%s: record %zu (id %.*s): value %u is not finite", file, i,
                            (int)len, id, d);
                    rc = CLI_EUSER;
                    break;
                }
            }
            mine[nmine++] = i;
        }
    }
    /* A repeated id always hashes to the same shard, so each rank finds
     * the repeats among its own records (cvs_import refuses them too). */
    if (!rc && ids_path && nmine > 1) {
        size_t *byid = malloc(nmine * sizeof *byid);
        if (!byid) {
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        } else {
            memcpy(byid, mine, nmine * sizeof *byid);
            g_ids = &idf;
            qsort(byid, nmine, sizeof *byid, cmp_id);
            for (size_t j = 1; j < nmine; j++) {
                if (cmp_id(&byid[j - 1], &byid[j]) == 0) {
                    size_t a = byid[j - 1] < byid[j] ? byid[j - 1] : byid[j];
                    size_t b = byid[j - 1] < byid[j] ? byid[j] : byid[j - 1];
                    cli_err(cmd, "%s: id %s on lines %zu and %zu", ids_path, idf.ids[a], a + 1,
                            b + 1);
                    rc = CLI_EUSER;
                    break;
                }
            }
            free(byid);
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* Phase 2: each owned shard in batches, in file order. */
    if (!(dbs = calloc(m.shards, sizeof *dbs))) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        rc = mcmd_agree(rc);
        goto out;
    }
    if ((rc = mcmd_open_owned(cmd, db, &m, 0, dbs)))
        goto out;
    if (!(recs = calloc(batch, sizeof *recs)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        size_t nb = 0;
        if (!mcmd_owns(s))
            continue;
        for (size_t j = 0; j <= nmine && !rc; j++) {
            if (j < nmine) {
                size_t i = mine[j];
                const char *id = ids_path ? idf.ids[i] : numids[i];
                size_t len = ids_path ? idf.lens[i] : strlen(numids[i]);
                if (shards_of(&m, id, len) != s)
                    continue;
                memset(&recs[nb], 0, sizeof recs[nb]);
                recs[nb].id = id;
                recs[nb].id_len = len;
                recs[nb].vector = data + i * dim;
                nb++;
                local[0]++;
            }
            if (nb == batch || (j == nmine && nb)) {
                size_t ins = 0, upd = 0;
                int prc = cvs_put(dbs[s], recs, nb, 0, &ins, &upd);
                if (prc) {
                    cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(prc),
                            cvs_errmsg(dbs[s]));
                    rc = cli_exit_code(prc);
                    break;
                }
                local[1] += ins;
                local[2] += upd;
                nb = 0;
                mcmd_maybe_die("batch");
            }
        }
    }
    if ((rc = mcmd_agree(rc))) {
        MCMD_ERR0(cmd, "import failed; committed batches stay in their shards, and running "
                  "the same import again completes it");
        goto out;
    }
    MPI_Reduce(local, total, 3, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (g_mpi.rank == 0)
        printf("imported %llu records (%llu inserted, %llu updated) into %u shards on %d "
               "ranks in %.2f s\n", total[0], total[1], total[2], m.shards, g_mpi.nranks,
               cli_now() - t0);
out:
    free(recs);
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    free(numids);
    free(mine);
    ids_free(&idf);
    cvs_free(data);
    return rc;
}
