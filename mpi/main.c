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
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "  import DB FILE [--ids F] [--batch B]   import vectors or jsonl records, each into\n"
    "                                         the shard its id hashes to\n"
    "  build DB --codec SPEC                  one codec, trained on a sample of all\n"
    "                                         shards, for every shard\n"
    "  search DB --query-file F -k K [--exact | --codes] [--json]\n"
    "  stats DB [--json]                      counts and sizes over all shards\n"
    "  check DB [--json]                      cvstore check of every shard, and\n"
    "                                         every record in its hash's shard\n"
    "\n"
    "Exit codes: 0 success, 1 bad arguments or input, 2 internal or I/O error;\n"
    "every rank exits with the same code.  `COMMAND --help` for the options.\n";

int mcmd_agree(int rc)
{
    int all = rc;
    MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
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

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"init", mpi_cmd_init},     {"import", mpi_cmd_import}, {"search", mpi_cmd_search},
        {"stats", mpi_cmd_stats},   {"check", mpi_cmd_check},  {"build", mpi_cmd_build},
    };
    char name[64];
    int rc = CLI_EUSER;

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "cvstore-mpi: MPI_Init failed\n");
        return CLI_EFAIL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_mpi.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_mpi.nranks);

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
        cli_getopt_reset();
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
