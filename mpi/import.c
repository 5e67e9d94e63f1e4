/*
 * import.c -- `cvstore-mpi import`: every rank reads the whole vector file
 * (and the ids file) and writes the records whose id hashes to a shard it
 * owns.  Reading everything on every rank costs each rank the file's size
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
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi import DB FILE [--format FMT] [--ids F] [--batch B]\n"
    "\n"
    "Imports the vectors of FILE (fvecs, bvecs or npy) into the sharded store DB,\n"
    "each record into the shard its id hashes to.  Ids are the record numbers\n"
    "(\"0\", \"1\", ...) or the lines of --ids.  The file is validated by every rank\n"
    "before anything is written; then each shard takes batches of B records, each\n"
    "batch atomic within its shard (a batch spanning shards is not).\n"
    "\n"
    "Options:\n"
    "  -f, --format FMT   fvecs, bvecs or npy (default: from the extension)\n"
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
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS || fmt == CVS_FMT_JSONL) {
                MCMD_ERR0(cmd, "unknown format '%s' (fvecs, bvecs or npy)", optarg);
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
    if (fmt == CVS_FMT_AUTO && cvs_format_guess(file, &fmt) == CVS_OK && fmt == CVS_FMT_JSONL) {
        /* Records with text, meta and links need the JSONL reader of the
         * store, which imports into one store; not sharded yet. */
        MCMD_ERR0(cmd, "%s: sharded import reads fvecs, bvecs and npy files, not JSONL", file);
        return CLI_EUSER;
    }
    if ((rc = mcmd_manifest(cmd, db, &m)))
        return rc;

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
