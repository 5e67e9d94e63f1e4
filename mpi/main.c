/*
 * main.c -- cvstore-mpi: a sharded store (mpi/shards.h) served by the ranks
 * of an MPI job, started with mpirun on one machine or across a cluster
 * (docs/SCALING.md).  Each subcommand runs on every rank; rank r owns
 * shards r, r + N, r + 2N, ... of N ranks and rank 0 prints the results.
 *
 * Why MPI rather than a protocol of our own: process start-up on many
 * hosts, collectives (broadcast of queries, gather of top-k lists) and the
 * network come with it, and a rank that dies makes mpirun end the whole job
 * with a message naming the rank, so a command fails instead of hanging.
 * Like the plain CLI, this is a client of include/cvstore.h only.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "mpicmd.h"

mcmd g_mpi;

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi COMMAND [ARGS...]\n"
    "\n"
    "A sharded store: a directory of ordinary stores (shard-0000, ...) and a\n"
    "manifest; rank r of N owns the shards r, r+N, r+2N, ...\n"
    "\n"
    "Commands:\n"
    "  init DB --shards S --dim D --metric M [--raw R]   create a sharded store\n"
    "  init DB --shards S --embedder glove    a sharded text store (or http)\n"
    "  import DB FILE [--ids F] [--batch B]   import vectors or jsonl records, each into\n"
    "                                         the shard its id hashes to\n"
    "  build DB [--codec SPEC [--index ivf[N]]]  one codec (and IVF lists), trained on a\n"
    "                                         sample of all shards, for every shard\n"
    "                                         (default: chosen for the total count, as\n"
    "                                         `cvstore build`)\n"
    "  search DB --query-file F -k K [--exact | --codes | --ann] [--json]\n"
    "  context DB --queries F.jsonl [--budget B]   context sets over all shards,\n"
    "                                         as `cvstore context --queries` prints\n"
    "  link DB [--json]                       mention links again, over all shards'\n"
    "                                         titles (an import ends with it)\n"
    "  stats DB [--json]                      counts and sizes over all shards\n"
    "  check DB [--json]                      cvstore check of every shard, and\n"
    "                                         every record in its hash's shard\n"
    "\n"
    "Exit codes: 0 success, 1 bad arguments or input, 2 internal or I/O error;\n"
    "every rank exits with the same code.  `COMMAND --help` for the options.\n";

/* Waits for a non-blocking collective without spinning.  A blocking
 * Open MPI collective polls at full speed until the slowest rank arrives:
 * a rank that finished its shards early (or every rank but 0 while rank 0
 * trains a codec) would burn a core that the ranks still working, on the
 * same host, need, and on a host shared with other jobs it takes their
 * cores too.  So MPI_Test, then sleep, doubling the sleep from 2 us to at
 * most 256 us: a collective that completes at once costs nothing more,
 * a long wait costs under 0.3 ms of latency and next to no CPU. */
void mcmd_wait(MPI_Request *req)
{
    struct timespec ts = {0, 2000};
    int done = 0;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    while (!done) {
        nanosleep(&ts, NULL);
        if (ts.tv_nsec < 256000)
            ts.tv_nsec *= 2;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
    }
}

int mcmd_agree(int rc)
{
    int all = rc;
    MPI_Request req;
    MPI_Iallreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
    mcmd_wait(&req);
    return all;
}

int mcmd_gather_counts(const char *cmd, int mine, int **sizes, int **displs, uint64_t *total)
{
    int rc = CLI_OK;
    *total = 0;
    if (g_mpi.rank == 0 && (!(*sizes = calloc((size_t)g_mpi.nranks, sizeof **sizes)) ||
                            !(*displs = calloc((size_t)g_mpi.nranks, sizeof **displs))))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        return rc;
    MPI_Gather(&mine, 1, MPI_INT, *sizes, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (g_mpi.rank == 0)
        for (int r = 0; r < g_mpi.nranks; r++) {
            (*displs)[r] = (int)*total; /* meaningful while the total fits */
            *total += (uint64_t)(*sizes)[r];
        }
    return CLI_OK;
}

int mcmd_allgather_bytes(const char *cmd, const void *mine, size_t n, const char *too_big,
                         char **all, size_t *total)
{
    int *sizes = calloc((size_t)g_mpi.nranks, sizeof *sizes);
    int *displs = calloc((size_t)g_mpi.nranks, sizeof *displs);
    int rc = sizes && displs ? CLI_OK : cli_fail(cmd, CVS_ENOMEM, NULL), mysize = (int)n;
    long long sum = 0;
    *all = NULL;
    *total = 0;
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Allgather(&mysize, 1, MPI_INT, sizes, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < g_mpi.nranks; r++) {
        displs[r] = (int)sum;
        sum += sizes[r];
    }
    if (sum > INT_MAX && too_big) {
        MCMD_ERR0(cmd, "%s", too_big);
        rc = CLI_EFAIL;
    } else if (sum > INT_MAX || !(*all = malloc(sum ? (size_t)sum : 1))) {
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Allgatherv(mine, mysize, MPI_CHAR, *all, sizes, displs, MPI_CHAR, MPI_COMM_WORLD);
    *total = (size_t)sum;
out:
    if (rc) {
        free(*all);
        *all = NULL;
    }
    free(sizes);
    free(displs);
    return rc;
}

int mcmd_manifest(const char *cmd, const char *db, shards_manifest *m)
{
    char err[512];
    int rc = shards_manifest_read(db, m, err, sizeof err);
    if (rc) {
        if (g_mpi.rank == 0)
            cli_err(cmd, "%s", err);
        rc = rc == CVS_NOTFOUND || rc == CVS_EINVAL ? CLI_EUSER : cli_exit_code(rc);
    }
    return mcmd_agree(rc);
}

int mcmd_open_owned(const char *cmd, const char *db, const shards_manifest *m, unsigned flags,
                    cvs_db **dbs)
{
    char path[4096];
    int rc = CLI_OK;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        if (!mcmd_owns(s))
            continue;
        if (shards_path(db, s, path, sizeof path)) {
            cli_err(cmd, "%s: path too long", db);
            rc = CLI_EUSER;
        } else {
            rc = cli_open(cmd, path, flags, &dbs[s]);
        }
    }
    if (!rc)
        mcmd_maybe_die("open");
    return mcmd_agree(rc);
}

void mcmd_close_all(cvs_db **dbs, uint32_t n)
{
    if (!dbs)
        return;
    for (uint32_t s = 0; s < n; s++)
        cvs_db_close(dbs[s]);
}

void mcmd_maybe_die(const char *point)
{
    const char *e = getenv("CVSTORE_MPI_KILL");
    char *colon;
    long r;
    if (!e || !*e)
        return;
    r = strtol(e, &colon, 10);
    if (*colon != ':' || r != g_mpi.rank || strcmp(colon + 1, point))
        return;
    fflush(NULL);
    raise(SIGKILL);
}

/* Threads for this rank: the cores it may run on (its affinity: mpirun
 * binds each rank to a core by default up to 2 ranks, to a socket
 * above), shared with the other ranks of its host when they are not bound
 * apart; at least one.  The ranks are the parallelism: N ranks on N cores
 * must not each start a thread per core (BLAS's default, and `threads = 0`
 * of an ANN search), or every core runs several threads and each search
 * waits for the others.  BLAS is told through openblas_set_num_threads
 * when the BLAS loaded is OpenBLAS (looked up, not linked: another BLAS
 * keeps its own setting, e.g. OPENBLAS_NUM_THREADS or OMP_NUM_THREADS);
 * an explicit OPENBLAS_NUM_THREADS is the user's and is left alone. */
static void mcmd_threads(void)
{
    MPI_Comm node;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int local = 1, mine = 1, t;
    void (*set_blas)(int);

    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        mine = CPU_COUNT(&set);
    t = online > 0 ? (int)(online / local) : 1;
    if (mine < t)
        t = mine;
    g_mpi.threads = t > 0 ? t : 1;
    *(void **)&set_blas = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (set_blas && !getenv("OPENBLAS_NUM_THREADS"))
        set_blas(g_mpi.threads);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"init", mpi_cmd_init},     {"import", mpi_cmd_import}, {"search", mpi_cmd_search},
        {"stats", mpi_cmd_stats},   {"check", mpi_cmd_check},  {"build", mpi_cmd_build},
        {"context", mpi_cmd_context}, {"link", mpi_cmd_link},
    };
    char name[64];
    int rc = CLI_EUSER;

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "cvstore-mpi: MPI_Init failed\n");
        return CLI_EFAIL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_mpi.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_mpi.nranks);
    mcmd_threads();

    if (argc < 2) {
        if (g_mpi.rank == 0)
            fputs(usage, stderr);
        goto out;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (g_mpi.rank == 0)
            fputs(usage, stdout);
        rc = CLI_OK;
        goto out;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name))
            continue;
        /* "mpi search" names the command in every message of cli_err. */
        snprintf(name, sizeof name, "cvstore-mpi %s", cmds[i].name);
        argv[1] = name;
        cli_getopt_reset(argv + 1);
        opterr = g_mpi.rank == 0; /* getopt's messages once, not once per rank */
        rc = cmds[i].fn(argc - 1, argv + 1);
        goto out;
    }
    if (g_mpi.rank == 0) {
        fprintf(stderr, "cvstore-mpi: unknown command '%s'\n\n", argv[1]);
        fputs(usage, stderr);
    }
out:
    fflush(stdout);
    MPI_Finalize();
    return rc;
}
