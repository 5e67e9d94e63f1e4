/*
 * mpicmd.h -- what the cvstore-mpi subcommands share.  Every rank runs the
 * same subcommand; rank r owns the shards s with s % nranks == r.  A rank
 * that fails prints its own message (naming the rank and shard) and still
 * takes part in the next collective, where mcmd_agree makes every rank
 * leave with the same exit code: no rank waits for one that gave up.
 */
#ifndef CVS_MPI_MPICMD_H
#define CVS_MPI_MPICMD_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "cli/common.h"
#include "shards.h"

typedef struct mcmd {
    int rank, nranks;
    int threads; /* worker threads of this rank (mcmd_threads in main.c) */
} mcmd;

extern mcmd g_mpi;

/* Usage errors are the same on every rank: rank 0 alone prints them. */
#define MCMD_ERR0(...) do { if (g_mpi.rank == 0) cli_err(__VA_ARGS__); } while (0)
static inline int mcmd_usage(const char *usage)
{
    if (g_mpi.rank == 0)
        fputs(usage, stderr);
    return CLI_EUSER;
}

/* The worst exit code (CLI_OK < CLI_EUSER < CLI_EFAIL) over all ranks;
 * the point where ranks wait for each other after their own work, so it
 * waits with mcmd_wait, not spinning. */
int mcmd_agree(int rc);

/* Completes a non-blocking MPI request, sleeping between polls. */
void mcmd_wait(MPI_Request *req);

/* The first half of an MPI_Gatherv to rank 0: gathers every rank's count
 * (mine), and at rank 0 allocates and fills sizes and displs (the caller
 * frees them) and sets *total to their sum.  0, or the agreed exit code.
 * A total past INT32_MAX (MPI's int displacements) is the caller's to
 * refuse, with a message in its own terms. */
int mcmd_gather_counts(const char *cmd, int mine, int **sizes, int **displs, uint64_t *total);

/* MPI_Allgatherv of bytes: every rank's n bytes (n <= INT_MAX, the caller's
 * to check) into *all, malloc'd on every rank (the caller frees it), in rank
 * order, *total bytes.  A total past INT_MAX (MPI's int displacements) fails
 * with too_big as the message, or as out of memory when too_big is NULL.
 * 0, or the agreed exit code. */
int mcmd_allgather_bytes(const char *cmd, const void *mine, size_t n, const char *too_big,
                         char **all, size_t *total);

static inline int mcmd_owns(uint32_t shard)
{
    return (int)(shard % (uint32_t)g_mpi.nranks) == g_mpi.rank;
}

/* Reads DB's manifest on every rank; an exit code (message printed by
 * rank 0 only, since every rank sees the same file). */
int mcmd_manifest(const char *cmd, const char *db, shards_manifest *m);

/* Opens the shards this rank owns into dbs[shard] (others NULL); an exit
 * code, agreed over all ranks.  mcmd_close_all accepts a partly filled
 * array. */
int mcmd_open_owned(const char *cmd, const char *db, const shards_manifest *m, unsigned flags,
                    cvs_db **dbs);
void mcmd_close_all(cvs_db **dbs, uint32_t n);

/* Test hook (docs/SCALING.md): CVSTORE_MPI_KILL="RANK:POINT" makes that rank
 * kill itself with SIGKILL on reaching POINT ("open", "batch": after a
 * committed batch of an import, "encode": after a shard's build). */
void mcmd_maybe_die(const char *point);

/* Mention links over all shards (mpi/link.c): every rank with its owned
 * shards open for writing in dbs; the sums of the shards' link statistics
 * into *total on every rank.  An exit code, agreed. */
int mcmd_link_mentions(const char *cmd, const shards_manifest *m, cvs_db **dbs,
                       cvs_link_stats *total);

/* Parses a command of the one option --json (and --help) and the DB
 * argument at optind: CLI_OK, -1 after --help (exit 0), else an exit code
 * (mpi/stats.c). */
int mcmd_json_flag(const char *usage, int argc, char **argv, int *json);

int mpi_cmd_link(int argc, char **argv);
int mpi_cmd_init(int argc, char **argv);
int mpi_cmd_import(int argc, char **argv);
int mpi_cmd_search(int argc, char **argv);
int mpi_cmd_stats(int argc, char **argv);
int mpi_cmd_check(int argc, char **argv);
int mpi_cmd_build(int argc, char **argv);
int mpi_cmd_context(int argc, char **argv);

#endif
