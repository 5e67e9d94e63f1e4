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
#include <math.h>
#include <stdlib.h>
#include <string.h>
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
    "numbers (\"0\", \"1\", ...) or the lines of --ids; jsonl links must stay\n"
    "within a shard.  The file is validated by every rank\n"
    "before anything is written; then each shard takes batches of B records, each\n"
    "batch atomic within its shard (a batch spanning shards is not).\n"
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
 * Links are kept by external id in the record's own store, which checks
 * that every link target is there (`cvstore check`: no link dangles), so a
 * link between records of different shards would leave both shards
 * failing their check.  Such a link is refused before anything is written
 * (exit 1, naming the line): sharded stores take links within a shard
 * only, until the shards learn to keep links to one another. */

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

/* The first link of doc (a record of shard s) to a record of another
 * shard: 1 with its id in *to and *tolen, else 0. */
static int cross_link(const shards_manifest *m, json_t *doc, uint32_t s, char *buf, size_t cap,
                      const char **to, size_t *tolen)
{
    json_t *links = json_object_get(doc, "links"), *l;
    size_t i;
    if (!json_is_array(links))
        return 0; /* the shard's reader names what is wrong with it */
    json_array_foreach(links, i, l) {
        json_t *x = json_is_object(l) ? json_object_get(l, "id") : l;
        if (x && !json_id(x, buf, cap, to, tolen) && shards_of(m, *to, *tolen) != s)
            return 1;
    }
    return 0;
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
    int rc = CLI_OK;

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
        char *p = line, ibuf[32], tbuf[32];
        size_t len = (size_t)got, id_len, to_len;
        const char *id, *to;
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
        if (mcmd_owns(s)) {
            if (has_id && cross_link(m, doc, s, tbuf, sizeof tbuf, &to, &to_len)) {
                cli_err(cmd, "%s: line %llu: a link from \"%.*s\" (shard-%04u) to \"%.*s\" "
                        "(shard-%04u): links across shards are not supported", file,
                        (unsigned long long)lineno, (int)(id_len > 64 ? 64 : id_len), id, s,
                        (int)(to_len > 64 ? 64 : to_len), to, shards_of(m, to, to_len));
                rc = CLI_EUSER;
            } else if ((rc = jpart_add(&parts[s], p, len, lineno))) {
                rc = cli_fail(cmd, rc, NULL);
            }
        }
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
    if (!rc && nrec == 0) { /* every rank read the same lines */
        MCMD_ERR0(cmd, "%s: no records in the file (only blank lines)", file);
        rc = CLI_EUSER;
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* Validate every part against its shard before any is written. */
    if ((rc = mcmd_open_owned(cmd, db, m, 0, dbs)))
        goto out;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        int prc;
        if (!mcmd_owns(s) || !parts[s].n)
            continue;
        if ((prc = cvs_import_check(dbs[s], parts[s].path, &o, NULL))) {
            map_msg(&parts[s], file, cvs_errmsg(dbs[s]), msg, sizeof msg);
            cli_err(cmd, "%s (shard-%04u)", msg, s);
            rc = cli_exit_code(prc);
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* Write: each part in batches, each batch one transaction of its shard. */
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_import_stats st;
        int prc;
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
    free(line);
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
    if ((rc = cvs_vecs_load(file, fmt, &data, &n, &dim))) {
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
