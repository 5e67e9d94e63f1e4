/*
 * build.c -- `cvstore-mpi build`: one codec for every shard.
 *
 * Code distances are comparable across shards only if every shard encodes
 * with the same trained codec, so training happens once: each rank draws a
 * uniform sample of its shards (each shard contributing in proportion to
 * its records, by Knuth's selection sampling), rank 0 gathers the samples,
 * trains the codec on them (cvs_build on a scratch store holding just the
 * sample, the public way to train), exports it (cvs_codec_export) and
 * broadcasts the blob, and every rank encodes its shards with it
 * (cvs_build_with_codec).  With --index ivf[N], the scratch store's
 * build trains the IVF centroids on the same sample too, and both the
 * codec and the centroids are broadcast (cvs_index_export) and given to
 * every shard (cvs_build_with_index): every shard's records fall into the
 * same lists, encoded against the same centroids, so an ANN search with
 * nprobe P probes the same P lists of every shard.  With --codec-from, the
 * codec of an existing store (a shard of another sharded store, say), and
 * its IVF centroids when it has an index, are used instead of training.
 *
 * A raw "none" store whose shards have a codec keeps it, as `cvstore
 * build` keeps one store's: the codes are the only copy of the vectors.
 * Only the IVF centroids are trained (on a sample of the codes'
 * reconstructions), and each shard builds its index over its codes
 * (cvs_build_with_index with the shards' own codec); the index of a raw
 * none store has direct codes.
 *
 * Each shard's build is one transaction of that shard, as with cvs_build;
 * a build that fails on one shard leaves the shards already encoded with
 * the new codec and the rest with their old one: run it again.
 *
 * Deviation: the sample is the union of per-shard samples, each a uniform
 * sample of its shard, of sizes proportional to the shards' counts (within
 * rounding), rather than one uniform sample of the whole store.
 */
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi build DB [--codec SPEC [--index ivf[N]] |\n"
    "                                  --codec-from STORE] [--max-train N] [--seed S]\n"
    "\n"
    "Trains one codec (e.g. pq16, opq,pq32x4; as `cvstore build --codec`) on a\n"
    "sample gathered from all shards and encodes every shard with it, so that\n"
    "`cvstore-mpi search --codes` compares code distances across shards.\n"
    "With neither --codec nor --codec-from (or --codec auto), the codec and\n"
    "index are those `cvstore build` chooses for one store holding the records\n"
    "of all shards (cvs_build_choose: the total count, dimension, metric).\n"
    "\n"
    "Options:\n"
    "  -c, --codec SPEC        the codec to train (default auto)\n"
    "  -i, --index ivf[N]      also train N IVF lists (as `cvstore build --index`;\n"
    "                          \"ivf\": N from the records of all shards), shared by\n"
    "                          every shard, for `cvstore-mpi search --ann`\n"
    "  -F, --codec-from STORE  use the codec of this store (e.g. DB2/shard-0000),\n"
    "                          and its IVF centroids when it has an index\n"
    "  -m, --max-train N       training sample over all shards (default 65536)\n"
    "  -s, --seed S            sample and k-means seed (default 1)\n"
    "  -h, --help              show this help\n";

/* splitmix64, for a reproducible sample. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Appends a uniform sample of want of the shard's count records to *x. */
static int sample_shard(cvs_db *db, uint32_t dim, uint64_t count, size_t want, uint64_t seed,
                        float *x, size_t *n)
{
    cvs_txn *txn = NULL;
    cvs_iter *it = NULL;
    cvs_record r;
    uint64_t seen = 0;
    size_t got = 0;
    int rc;
    if ((rc = cvs_txn_begin(db, &txn)) || (rc = cvs_iter_open(txn, &it)))
        goto out;
    while (got < want && (rc = cvs_iter_next(it, &r, x + (*n + got) * dim)) == CVS_OK) {
        /* Algorithm S: keep this one with probability (want - got) / left. */
        uint64_t left = count > seen ? count - seen : 1;
        seen++;
        if (mix(&seed) % left < want - got)
            got++;
    }
    if (rc == CVS_NOTFOUND)
        rc = CVS_OK;
    *n += got;
out:
    cvs_iter_close(it);
    cvs_txn_end(txn);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Rank 0: trains spec on the n x dim sample in a scratch store under db and
 * returns the exported codec blob. */
static int train(const char *cmd, const char *dbpath, const shards_manifest *m, const char *spec,
                 const char *index, uint64_t seed, const float *x, size_t n, void **blob,
                 size_t *len, void **iblob, size_t *ilen)
{
    char tmp[4096];
    cvs_create_opts co = {.dim = m->dim, .metric = m->metric, .raw = CVS_RAW_F32};
    cvs_build_opts bo = {.seed = seed, .max_train = n, .index = index};
    cvs_db *db = NULL;
    cvs_record *recs = NULL;
    char (*ids)[24] = NULL;
    const size_t batch = 10000;
    int rc, crc = CVS_OK;

    if (snprintf(tmp, sizeof tmp, "%s/.build-sample-%ld", dbpath, (long)getpid()) >=
        (int)sizeof tmp) {
        cli_err(cmd, "%s: path too long", dbpath);
        return CLI_EUSER;
    }
    recs = calloc(batch, sizeof *recs);
    ids = calloc(batch, sizeof *ids);
    if (!recs || !ids) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        goto out;
    }
    if ((crc = cvs_db_create(tmp, &co, &db)))
        goto fail;
    for (size_t i = 0; i < n; i += batch) {
        size_t nb = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < nb; j++) {
            snprintf(ids[j], sizeof ids[j], "%zu", i + j);
            memset(&recs[j], 0, sizeof recs[j]);
            recs[j].id = ids[j];
            recs[j].id_len = strlen(ids[j]);
            recs[j].vector = x + (i + j) * m->dim;
        }
        if ((crc = cvs_put(db, recs, nb, 0, NULL, NULL)))
            goto fail;
    }
    if ((crc = cvs_build(db, spec, &bo)) || (crc = cvs_codec_export(db, blob, len)) ||
        (index && (crc = cvs_index_export(db, iblob, ilen))))
        goto fail;
    rc = CLI_OK;
    goto out;
fail:
    cli_err(cmd, "training %s%s%s on %zu sampled vectors: %s: %s", spec, index ? " with " : "",
            index ? index : "", n, cvs_strerror(crc), cvs_errmsg(db));
    rc = cli_exit_code(crc);
out:
    cvs_db_close(db);
    nftw(tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(ids);
    free(recs);
    return rc;
}

int mpi_cmd_build(int argc, char **argv)
{
    static const struct option opts[] = {
        {"codec", required_argument, NULL, 'c'},     {"codec-from", required_argument, NULL, 'F'},
        {"max-train", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 's'},
        {"index", required_argument, NULL, 'i'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "mpi build";
    const char *dbpath, *spec = NULL, *from = NULL, *index = NULL;
    char index_n[80], index_d[96], kept_spec[sizeof ((cvs_codec_info *)0)->spec] = "";
    void *kept = NULL;
    size_t klen = 0;
    int keeps = 0;
    cvs_build_choice choice;
    int autospec = 0;
    uint64_t max_train = 65536, seed = 1, len64 = 0;
    shards_manifest m;
    cvs_db **dbs = NULL;
    uint64_t *counts = NULL, total = 0, mytotal = 0;
    float *x = NULL, *all = NULL;
    size_t n = 0, want = 0;
    int *sizes = NULL, *displs = NULL, mysize;
    uint64_t tot;
    void *blob = NULL, *iblob = NULL;
    size_t len = 0, ilen = 0;
    uint64_t ilen64 = 0;
    int c, rc = CLI_OK;

    while ((c = getopt_long(argc, argv, "c:F:i:m:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            spec = optarg;
            break;
        case 'F':
            from = optarg;
            break;
        case 'i':
            index = optarg;
            break;
        case 'm':
            if (cli_parse_u64(optarg, 1, 1u << 24, &max_train)) {
                MCMD_ERR0(cmd, "--max-train must be an integer from 1 to %u, not '%s'", 1u << 24,
                          optarg);
                return mcmd_usage(usage);
            }
            break;
        case 's':
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &seed)) {
                MCMD_ERR0(cmd, "--seed must be a positive integer, not '%s'", optarg);
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
    if (argc - optind != 1 || (spec && from)) {
        MCMD_ERR0(cmd, "%s", argc - optind > 1 ? "too many arguments"
                             : argc - optind < 1 ? "missing DB"
                                                 : "give one of --codec and --codec-from");
        return mcmd_usage(usage);
    }
    /* No codec named: chosen below, once the total count is known. */
    autospec = !from && (!spec || strcmp(spec, "auto") == 0);
    if (index && (from || strncmp(index, "ivf", 3) != 0)) {
        MCMD_ERR0(cmd, "%s", from ? "--index goes with --codec (--codec-from takes the index "
                                    "of its store)"
                                  : "--index takes ivf or ivfN (FAISS indexes are not sharded)");
        return mcmd_usage(usage);
    }
    dbpath = argv[optind];
    if ((rc = mcmd_manifest(cmd, dbpath, &m)))
        return rc;
    dbs = calloc(m.shards, sizeof *dbs);
    counts = calloc(m.shards, sizeof *counts);
    if (!dbs || !counts)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    if ((rc = mcmd_open_owned(cmd, dbpath, &m, 0, dbs)))
        goto out;
    if (m.raw == CVS_RAW_NONE && !from) {
        /* Whether the shards have a codec to keep; rank 0 exports its
         * first shard's (every shard has the same one, from one build). */
        int mine = 0;
        for (uint32_t s = 0; s < m.shards && !rc; s++) {
            cvs_codec_info ci;
            int crc;
            if (!dbs[s])
                continue;
            crc = cvs_codec_get_info(dbs[s], &ci);
            if (crc == CVS_OK && !mine && g_mpi.rank == 0) {
                snprintf(kept_spec, sizeof kept_spec, "%s", ci.spec);
                if ((crc = cvs_codec_export(dbs[s], &kept, &klen)))
                    rc = cli_fail(cmd, crc, dbs[s]);
            } else if (crc && crc != CVS_NOTFOUND) {
                rc = cli_fail(cmd, crc, dbs[s]);
            }
            mine |= crc == CVS_OK;
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
        MPI_Allreduce(&mine, &keeps, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (keeps && g_mpi.rank == 0 && !kept) {
            cli_err(cmd, "%s keeps no raw vectors (raw none), and some of its shards have a "
                    "codec but shard-0000 has none (a build that failed part way): run "
                    "`cvstore build` on each shard without one, with the others' codec", dbpath);
            rc = CLI_EUSER;
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
    }

    if (from) {
        if (g_mpi.rank == 0) {
            cvs_db *src = NULL;
            int erc;
            if (!(rc = cli_open(cmd, from, CVS_OPEN_RDONLY, &src)) &&
                (erc = cvs_codec_export(src, &blob, &len)))
                rc = cli_fail(cmd, erc, src);
            if (!rc && (erc = cvs_index_export(src, &iblob, &ilen)) && erc != CVS_NOTFOUND)
                rc = cli_fail(cmd, erc, src);
            cvs_db_close(src);
        }
    } else {
        /* Sizes: each shard's share of min(max_train, total). */
        for (uint32_t s = 0; s < m.shards && !rc; s++) {
            cvs_info info;
            int irc;
            if (!dbs[s])
                continue;
            if ((irc = cvs_db_info(dbs[s], &info)))
                rc = cli_fail(cmd, irc, dbs[s]);
            counts[s] = info.count;
            mytotal += info.count;
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
        MPI_Allreduce(&mytotal, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        if (autospec) {
            /* The choice of one store holding every record, not of the
             * scratch store's sample (which cvs_build's own auto would
             * see); a pure function, so every rank gets the same. */
            int crc = cvs_build_choose(total, m.dim, m.metric, m.raw, &choice);
            if (crc) {
                MCMD_ERR0(cmd, "choosing a codec: %s", cvs_strerror(crc));
                rc = CLI_EFAIL;
                goto out;
            }
            spec = keeps ? kept_spec : choice.codec;
            if (!index)
                index = choice.index[0] ? choice.index : NULL;
            if (g_mpi.rank == 0)
                fprintf(stderr, "chose codec %s and %s for %" PRIu64 " records of dimension %u\n",
                        spec, index ? index : "no index", total, m.dim);
        }
        if (keeps && g_mpi.rank == 0 && (!index || strcmp(spec, kept_spec))) {
            cli_err(cmd, "%s keeps no raw vectors (raw none) and already has codec %s: there "
                    "is nothing left to train another codec on (an index over its codes: "
                    "--codec %s --index ivf)", dbpath, kept_spec, kept_spec);
            rc = CLI_EUSER;
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
        if (index && (index[3] == 0 || index[3] == ',')) {
            /* "ivf": the list count of one store holding every record
             * (about 4 sqrt(n), at least 16, at least 39 records a list;
             * index/ivf.c), not of the scratch store's sample. */
            uint64_t l = (uint64_t)(4.0 * sqrt((double)total)), cap = total / 39;
            if (l < 16)
                l = 16;
            if (l > cap)
                l = cap;
            if (l > 65536)
                l = 65536;
            snprintf(index_n, sizeof index_n, "ivf%" PRIu64 "%s", l ? l : 1, index + 3);
            index = index_n;
        }
        if (index && m.raw == CVS_RAW_NONE && !strstr(index, ",residual") &&
            !strstr(index, ",direct")) {
            /* The scratch store keeps raw vectors and would choose residual
             * codes for ip and cosine; a raw none shard reads a record back
             * from its code alone, so takes direct ones only. */
            snprintf(index_d, sizeof index_d, "%s,direct", index);
            index = index_d;
        }
        if (index) { /* the coarse k-means wants ~40 points per list, as in cvs_build */
            unsigned long nl = strtoul(index + 3, NULL, 10);
            if (nl && max_train < (uint64_t)nl * 40)
                max_train = (uint64_t)nl * 40;
        }
        want = total < max_train ? (size_t)total : (size_t)max_train;
        if (total == 0) {
            MCMD_ERR0(cmd, "%s is empty: nothing to train a codec on", dbpath);
            rc = CLI_EUSER;
            goto out;
        }
        if ((uint64_t)want * m.dim > INT32_MAX) {
            MCMD_ERR0(cmd, "a sample of %zu vectors of dimension %u is too large; lower "
                      "--max-train", want, m.dim);
            rc = CLI_EUSER;
            goto out;
        }
        {
            size_t mine = 0;
            for (uint32_t s = 0; s < m.shards; s++)
                if (dbs[s])
                    mine += (size_t)((counts[s] * (uint64_t)want + total - 1) / total);
            if (!(x = malloc((mine ? mine : 1) * m.dim * sizeof *x)))
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
        }
        for (uint32_t s = 0; s < m.shards && !rc; s++) {
            size_t ws;
            int src;
            if (!dbs[s])
                continue;
            ws = (size_t)((counts[s] * (uint64_t)want + total - 1) / total);
            if (ws > counts[s])
                ws = (size_t)counts[s];
            if ((src = sample_shard(dbs[s], m.dim, counts[s], ws, seed ^ ((uint64_t)s << 32), x,
                                    &n)))
                rc = cli_fail(cmd, src, dbs[s]);
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
        /* Gather the samples at rank 0 (rounding up per shard may pass
         * INT32_MAX floats by a little: checked again). */
        mysize = (int)(n * m.dim);
        if ((rc = mcmd_gather_counts(cmd, mysize, &sizes, &displs, &tot)))
            goto out;
        if (g_mpi.rank == 0) {
            if (tot > INT32_MAX) {
                cli_err(cmd, "the training sample is too large; lower --max-train");
                rc = CLI_EUSER;
            } else if (!(all = malloc((tot ? tot : 1) * sizeof *all))) {
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
            }
            n = (size_t)(tot / m.dim);
        }
        if ((rc = mcmd_agree(rc)))
            goto out;
        MPI_Gatherv(x, mysize, MPI_FLOAT, all, sizes, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (g_mpi.rank == 0)
            rc = train(cmd, dbpath, &m, spec, index, seed, all, n, &blob, &len, &iblob, &ilen);
        if (g_mpi.rank == 0 && !rc && keeps) {
            /* The centroids of the sample; the codec is the shards' own. */
            cvs_free(blob);
            blob = kept;
            len = klen;
            kept = NULL;
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;

    /* The codec to every rank, then every shard encoded with it. */
    len64 = len;
    MPI_Bcast(&len64, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (len64 > INT32_MAX) {
        MCMD_ERR0(cmd, "the codec is %" PRIu64 " bytes: too large to broadcast", len64);
        rc = CLI_EUSER;
        goto out;
    }
    if (g_mpi.rank != 0 && !(blob = malloc(len64 ? len64 : 1)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    len = (size_t)len64;
    MPI_Bcast(blob, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
    /* The centroids, when there are any (ilen 0: codes only). */
    ilen64 = iblob ? ilen : 0;
    MPI_Bcast(&ilen64, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (ilen64 > INT32_MAX) {
        MCMD_ERR0(cmd, "the IVF centroids are %" PRIu64 " bytes: too large to broadcast", ilen64);
        rc = CLI_EUSER;
        goto out;
    }
    if (ilen64 && g_mpi.rank != 0 && !(iblob = malloc(ilen64)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    ilen = (size_t)ilen64;
    if (ilen)
        MPI_Bcast(iblob, (int)ilen, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        int brc;
        if (!dbs[s])
            continue;
        brc = ilen ? cvs_build_with_index(dbs[s], blob, len, iblob, ilen, NULL)
                   : cvs_build_with_codec(dbs[s], blob, len, NULL);
        if (brc) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(brc),
                    cvs_errmsg(dbs[s]));
            rc = cli_exit_code(brc);
        }
        mcmd_maybe_die("encode");
    }
    if ((rc = mcmd_agree(rc))) {
        MCMD_ERR0(cmd, "build failed; shards already encoded keep the new codec, the others "
                  "their old one: run the build again");
        goto out;
    }
    if (g_mpi.rank == 0) {
        cvs_codec_info ci;
        cvs_index_info ii;
        cvs_db *any = NULL;
        for (uint32_t s = 0; s < m.shards && !any; s++)
            any = dbs[s];
        if (any && cvs_codec_get_info(any, &ci) == CVS_OK) {
            char ix[160] = "";
            if (ilen && cvs_index_get_info(any, &ii) == CVS_OK)
                snprintf(ix, sizeof ix, " with index %s (%s codes)", ii.spec,
                         ii.residual ? "residual" : "direct");
            if (keeps)
                fprintf(stderr, "kept codec %s (raw none: its codes are the only copy of the "
                        "vectors)\n", ci.spec);
            printf("built %s (%zu bytes per vector)%s %s; %u shards encoded on %d ranks\n",
                   ci.spec, ci.code_bytes, ix,
                   from ? "from another store" : "on a sample of all shards", m.shards,
                   g_mpi.nranks);
        }
    }
out:
    cvs_free(kept);
    if (g_mpi.rank == 0) {
        cvs_free(blob);
        cvs_free(iblob);
    } else {
        free(blob);
        free(iblob);
    }
    free(all);
    free(sizes);
    free(displs);
    free(x);
    free(counts);
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    return rc;
}
