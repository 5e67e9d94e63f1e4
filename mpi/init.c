/*
 * init.c -- `cvstore-mpi init`: creates a sharded store.  Rank 0 makes the
 * directory, every rank creates the shards it owns, and only when all of
 * them exist does rank 0 write the manifest: a directory without one is
 * not a sharded store, so an init that fails half-way is never mistaken
 * for a complete one.  With --embedder every shard records the same
 * embedder, as `cvstore init --embedder` does for one store, so that an
 * import of text-only records embeds them in their shard and `context`
 * embeds a question as the records were.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi init DB --shards S --dim D --metric M [--raw R]\n"
    "       mpirun -np N cvstore-mpi init DB --shards S --embedder glove [--metric M]\n"
    "       mpirun -np N cvstore-mpi init DB --shards S --embedder http --embed-url URL\n"
    "                                    --embed-model NAME\n"
    "\n"
    "Creates a sharded store in directory DB: S ordinary stores DB/shard-0000 ...\n"
    "and the manifest DB/" SHARDS_MANIFEST ".  Any number of ranks may run it.\n"
    "\n"
    "Options:\n"
    "  -s, --shards S   number of shards, 1 to 4096 (fixed for the store's life)\n"
    "  -d, --dim D      vector dimension\n"
    "  -m, --metric M   l2, ip or cosine (required)\n"
    "  -r, --raw R      f32 (default), f16 or none: how each shard keeps vectors\n"
    "  -e, --embedder E every shard a text store embedded by E, as `cvstore init\n"
    "                   --embedder`: glove (SIF over GloVe 100-d) or http; --dim\n"
    "                   comes from the embedder, --metric defaults to cosine\n"
    "      --embed-url U    http: the endpoint (.../v1/embeddings)\n"
    "      --embed-model M  http: the model name sent with each request\n"
    "  -h, --help       show this help\n";

int mpi_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"shards", required_argument, NULL, 's'}, {"dim", required_argument, NULL, 'd'},
        {"metric", required_argument, NULL, 'm'}, {"raw", required_argument, NULL, 'r'},
        {"embedder", required_argument, NULL, 'e'}, {"embed-url", required_argument, NULL, 'U'},
        {"embed-model", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *cmd = "mpi init";
    shards_manifest m = {.version = SHARDS_VERSION, .raw = CVS_RAW_F32};
    uint64_t v;
    char path[4096], err[512];
    const char *db, *embedder = NULL, *url = NULL, *model = NULL;
    char name[300] = "";
    int c, rc = CLI_OK;

    while ((c = getopt_long(argc, argv, "s:d:m:r:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cli_parse_u64(optarg, 1, SHARDS_MAX, &v)) {
                MCMD_ERR0(cmd, "--shards must be an integer from 1 to %d, not '%s'", SHARDS_MAX,
                          optarg);
                return mcmd_usage(usage);
            }
            m.shards = (uint32_t)v;
            break;
        case 'd':
            if (cli_parse_u64(optarg, 1, CVS_MAX_DIM, &v)) {
                MCMD_ERR0(cmd, "--dim must be an integer from 1 to %d, not '%s'", CVS_MAX_DIM,
                          optarg);
                return mcmd_usage(usage);
            }
            m.dim = (uint32_t)v;
            break;
        case 'm':
            if (cvs_metric_parse(optarg, &m.metric)) {
                MCMD_ERR0(cmd, "unknown metric '%s' (l2, ip or cosine)", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'r':
            if (cvs_raw_parse(optarg, &m.raw)) {
                MCMD_ERR0(cmd, "unknown --raw '%s' (f32, f16 or none)", optarg);
                return mcmd_usage(usage);
            }
            break;
        case 'e': embedder = optarg; break;
        case 'U': url = optarg; break;
        case 'M': model = optarg; break;
        case 'h':
            if (g_mpi.rank == 0)
                fputs(usage, stdout);
            return CLI_OK;
        default:
            return mcmd_usage(usage);
        }
    }
    if (argc - optind != 1) {
        MCMD_ERR0(cmd, "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return mcmd_usage(usage);
    }
    if (embedder) {
        if (strcmp(embedder, "glove") && strcmp(embedder, "http")) {
            MCMD_ERR0(cmd, "unknown embedder '%s' (glove or http)", embedder);
            return mcmd_usage(usage);
        }
        if (!strcmp(embedder, "http") && (!url || !model)) {
            MCMD_ERR0(cmd, "--embedder http needs --embed-url and --embed-model");
            return mcmd_usage(usage);
        }
        if (!m.metric)
            m.metric = CVS_METRIC_COSINE;
        if (!strcmp(embedder, "glove")) {
            snprintf(name, sizeof name, "glove");
            m.dim = m.dim ? m.dim : 100;
        } else {
            /* Rank 0 asks the server for the dimension, before anything is
             * made, and every rank takes its answer. */
            cvs_http_embedder *http = NULL;
            uint32_t dim = 0;
            if (g_mpi.rank == 0) {
                int hrc = cvs_http_embedder_new(url, model, getenv("CVSTORE_EMBED_API_KEY"),
                                                m.dim, &http);
                if (hrc)
                    rc = cli_fail(cmd, hrc, NULL);
                else
                    dim = cvs_http_embedder_dim(http);
                cvs_http_embedder_free(http);
            }
            if ((rc = mcmd_agree(rc)))
                return rc;
            MPI_Bcast(&dim, 1, MPI_UINT32_T, 0, MPI_COMM_WORLD);
            m.dim = dim;
            snprintf(name, sizeof name, "http:%s", model);
        }
    } else if (url || model) {
        MCMD_ERR0(cmd, "--embed-url and --embed-model go with --embedder http");
        return mcmd_usage(usage);
    }
    if (!m.shards || !m.dim || !m.metric) {
        MCMD_ERR0(cmd, "--shards, and --dim and --metric (or --embedder), are required");
        return mcmd_usage(usage);
    }
    db = argv[optind];

    if (g_mpi.rank == 0) {
        if (snprintf(path, sizeof path, "%s/%s", db, SHARDS_MANIFEST) >= (int)sizeof path) {
            cli_err(cmd, "%s: path too long", db);
            rc = CLI_EUSER;
        } else if (access(path, F_OK) == 0) {
            cli_err(cmd, "%s already holds a sharded store", db);
            rc = CLI_EUSER;
        } else if (mkdir(db, 0755) && errno != EEXIST) {
            cli_err(cmd, "%s: %s", db, strerror(errno));
            rc = errno == ENOENT || errno == EACCES ? CLI_EUSER : CLI_EFAIL;
        }
    }
    if ((rc = mcmd_agree(rc)))
        return rc;

    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        cvs_create_opts co = {.dim = m.dim, .metric = m.metric, .raw = m.raw};
        cvs_db *sdb = NULL;
        int crc;
        if (!mcmd_owns(s))
            continue;
        if (shards_path(db, s, path, sizeof path)) {
            cli_err(cmd, "%s: path too long", db);
            rc = CLI_EUSER;
        } else if ((crc = cvs_db_create(path, &co, &sdb))) {
            cli_err(cmd, "rank %d: %s: %s: %s", g_mpi.rank, path, cvs_strerror(crc),
                    cvs_errmsg(NULL));
            rc = cli_exit_code(crc);
        } else if ((crc = cvs_db_set_shard(sdb, s, m.shards))) {
            cli_err(cmd, "rank %d: %s: %s: %s", g_mpi.rank, path, cvs_strerror(crc),
                    cvs_errmsg(sdb));
            rc = cli_exit_code(crc);
        } else if (embedder &&
                   (crc = !strcmp(embedder, "http")
                              ? cvs_db_set_embedder_http(sdb, url, model,
                                                         getenv("CVSTORE_EMBED_API_KEY"))
                              : cvs_db_set_embedder(sdb, name, m.dim, NULL, NULL))) {
            cli_err(cmd, "rank %d: %s: %s: %s", g_mpi.rank, path, cvs_strerror(crc),
                    cvs_errmsg(sdb));
            rc = cli_exit_code(crc);
        }
        cvs_db_close(sdb);
    }
    if ((rc = mcmd_agree(rc))) {
        MCMD_ERR0(cmd, "%s has no manifest, so it is not a sharded store; remove it and "
                  "run init again", db);
        return rc;
    }
    if (g_mpi.rank == 0) {
        int wrc = shards_manifest_write(db, &m, err, sizeof err);
        if (wrc) {
            cli_err(cmd, "%s", err);
            rc = cli_exit_code(wrc);
        } else {
            printf("created %s: %u shards, dim %u, %s, raw %s%s%s\n", db, m.shards, m.dim,
                   cvs_metric_name(m.metric), cvs_raw_name(m.raw),
                   embedder ? ", embedder " : "", name);
        }
    }
    return mcmd_agree(rc);
}
