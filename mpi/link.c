/*
 * link.c -- mention links over all shards (cvs_link_mentions_scope): the
 * links a sharded store's records would have in one store holding them
 * all, so that `cvstore-mpi context` walks one store's graph
 * (docs/SCALING.md, "context across shards").
 *
 * One store's linker (graph/link.c) matches every text against every
 * title, judging a one-word title by its document frequency and the record
 * count.  Across shards each of those is global:
 *   1. every rank reads the titles of its shards, and an all-gather gives
 *      every rank all of them, ordered by id (one store orders a title's
 *      several records by key, i.e. by insertion; a file imported in id
 *      order keys them so);
 *   2. the record count, and the document frequency of each one-word title
 *      form (cvs_link_title_terms), are summed over the shards
 *      (cvs_txn_text_stats, an all-reduce);
 *   3. each rank links its shards' texts against all the titles with those
 *      statistics.  A mention of another shard's record is a link by id,
 *      as every link is kept: the record's shard keeps it, with its
 *      backlink, and `cvstore-mpi context` follows it to the target's
 *      shard.  Each shard is marked with its place (cvs_db_set_shard) so
 *      that its own check knows such a link is not dangling.
 * Cost: every rank holds every title (about 40 bytes a record with its
 * id: 4 GB per rank at 100M records, docs/SCALING.md), and scans only its
 * own texts, so the scan parallelizes as the import does.
 *
 * Deviation: a put on one shard alone (`cvstore put` on shard-0001) keeps
 * mention links with that shard's title map, as a text store does; its
 * links to other shards come back at the next `cvstore-mpi import`, which
 * ends with this pass.
 */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "mpicmd.h"

/* Bytewise, the shorter first: the order of ids across shards. */
static int cmp_title(const void *x, const void *y)
{
    const cvs_link_title *a = x, *b = y;
    int d = memcmp(a->id, b->id, a->id_len < b->id_len ? a->id_len : b->id_len);
    return d ? d : (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

static int put_bytes(char **buf, size_t *n, size_t *cap, const void *x, size_t len)
{
    if (*n + len > *cap) {
        size_t c = *cap ? *cap * 2 : 1 << 16;
        char *p;
        while (c < *n + len)
            c *= 2;
        if (!(p = realloc(*buf, c)))
            return CVS_ENOMEM;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *n, x, len);
    *n += len;
    return CVS_OK;
}

/* This rank's shards' titled records, packed: u32 id length, id, u32 title
 * length, title; and their record count. */
static int pack_titles(const char *cmd, const shards_manifest *m, cvs_db **dbs, char **buf,
                       size_t *n, uint64_t *records)
{
    size_t cap = 0;
    int rc = CVS_OK;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_txn *txn = NULL;
        cvs_iter *it = NULL;
        cvs_record r;
        uint64_t count = 0;
        if (!dbs[s])
            continue;
        if ((rc = cvs_txn_begin(dbs[s], &txn)) || (rc = cvs_txn_count(txn, &count)) ||
            (rc = cvs_iter_open(txn, &it)))
            goto next;
        *records += count;
        while ((rc = cvs_iter_next(it, &r, NULL)) == CVS_OK) {
            uint32_t il = (uint32_t)r.id_len, tl = (uint32_t)r.title_len;
            if (!r.title)
                continue;
            if (put_bytes(buf, n, &cap, &il, 4) || put_bytes(buf, n, &cap, r.id, il) ||
                put_bytes(buf, n, &cap, &tl, 4) || put_bytes(buf, n, &cap, r.title, tl)) {
                rc = CVS_ENOMEM;
                break;
            }
        }
        if (rc == CVS_NOTFOUND)
            rc = CVS_OK;
    next:
        if (rc)
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(rc),
                    cvs_errmsg(dbs[s]));
        cvs_iter_close(it);
        cvs_txn_end(txn);
    }
    return rc;
}

int mcmd_link_mentions(const char *cmd, const shards_manifest *m, cvs_db **dbs,
                       cvs_link_stats *total)
{
    char *mine = NULL, *all = NULL, *tbuf = NULL;
    size_t nmine = 0, ntitles = 0;
    int rc = CLI_OK, crc;
    uint64_t records = 0, grecords = 0, *df = NULL, *gdf = NULL;
    size_t sum = 0;
    cvs_link_title *titles = NULL;
    cvs_terms terms = {NULL, 0, 0};
    cvs_link_stats mystats = {0};

    memset(total, 0, sizeof *total);
    if ((crc = pack_titles(cmd, m, dbs, &mine, &nmine, &records)))
        rc = cli_exit_code(crc);
    if (!rc && nmine > INT_MAX) {
        cli_err(cmd, "rank %d: its shards' titles take over 2 GiB", g_mpi.rank);
        rc = CLI_EFAIL;
    }
    /* 1. Every rank gets every title. */
    if ((rc = mcmd_agree(rc)) ||
        (rc = mcmd_allgather_bytes(cmd, mine, nmine,
                                   "the shards' titles take over 2 GiB: too many to link in "
                                   "one pass", &all, &sum)))
        goto out;
    for (size_t at = 0, cap = 0; at < sum && !rc;) {
        uint32_t il, tl;
        if (ntitles == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            cvs_link_title *p = realloc(titles, nc * sizeof *p);
            if (!p) {
                rc = cli_fail(cmd, CVS_ENOMEM, NULL);
                break;
            }
            titles = p;
            cap = nc;
        }
        memcpy(&il, all + at, 4);
        titles[ntitles].id = all + at + 4;
        titles[ntitles].id_len = il;
        memcpy(&tl, all + at + 4 + il, 4);
        titles[ntitles].title = all + at + 8 + il;
        titles[ntitles].title_len = tl;
        at += 8 + (size_t)il + tl;
        ntitles++;
    }
    if (!rc && ntitles > 1)
        qsort(titles, ntitles, sizeof *titles, cmp_title);
    /* 2. The statistics of all shards. */
    if (!rc && (crc = cvs_link_title_terms(titles, ntitles, &tbuf, &terms)))
        rc = cli_fail(cmd, crc, NULL);
    if (!rc && (!(df = calloc(terms.n ? terms.n : 1, sizeof *df)) ||
                !(gdf = calloc(terms.n ? terms.n : 1, sizeof *gdf))))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_txn *txn = NULL;
        uint64_t nd, tot, *one = NULL;
        if (!dbs[s])
            continue;
        if (!(one = calloc(terms.n ? terms.n : 1, sizeof *one)))
            crc = CVS_ENOMEM;
        else if (!(crc = cvs_txn_begin(dbs[s], &txn)))
            crc = cvs_txn_text_stats(txn, &terms, &nd, &tot, one);
        for (size_t i = 0; !crc && i < terms.n; i++)
            df[i] += one[i];
        cvs_txn_end(txn);
        free(one);
        if (crc) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(crc),
                    cvs_errmsg(dbs[s]));
            rc = cli_exit_code(crc);
        }
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Allreduce(&records, &grecords, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (terms.n)
        MPI_Allreduce(df, gdf, (int)terms.n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    /* 3. Each shard's texts against every title. */
    cvs_link_scope scope = {titles, ntitles, grecords, gdf, terms.n};
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_link_stats st;
        if (!dbs[s])
            continue;
        if ((crc = cvs_db_set_shard(dbs[s], s, m->shards)) ||
            (crc = cvs_link_mentions_scope(dbs[s], &scope, &st))) {
            cli_err(cmd, "rank %d: shard-%04u: linking: %s: %s", g_mpi.rank, s,
                    cvs_strerror(crc), cvs_errmsg(dbs[s]));
            rc = cli_exit_code(crc);
            break;
        }
        mystats.records += st.records;
        mystats.sources += st.sources;
        mystats.links += st.links;
        if (st.seconds > mystats.seconds)
            mystats.seconds = st.seconds;
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    {
        uint64_t v[3] = {mystats.records, mystats.sources, mystats.links}, g[3];
        MPI_Allreduce(v, g, 3, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(&mystats.seconds, &total->seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        total->records = g[0];
        total->sources = g[1];
        total->links = g[2];
        total->titles = ntitles;
    }
out:
    free(mine);
    free(all);
    free(titles);
    cvs_free(tbuf);
    free(df);
    free(gdf);
    return rc;
}

/* ==== cvstore-mpi link ==== */

static const char link_usage[] =
    "Usage: mpirun -np N cvstore-mpi link DB [--json]\n"
    "\n"
    "Makes the mention links of every record of the sharded store DB again,\n"
    "against the titles of all shards, as the end of `cvstore-mpi import` does\n"
    "(and `cvstore link` does for one store).  For shards whose links an older\n"
    "rule of the linker made (`cvstore-mpi stats` and `check` say so); a\n"
    "`cvstore link` of one shard alone would see only that shard's titles.\n"
    "  -j, --json   one JSON object: {\"records\": R, \"sources\": S,\n"
    "               \"links\": L, \"titles\": T, \"seconds\": X}\n"
    "  -h, --help   show this help\n";

int mpi_cmd_link(int argc, char **argv)
{
    const char *cmd = "mpi link";
    shards_manifest m;
    cvs_db **dbs = NULL;
    cvs_link_stats ls;
    int json = 0, rc;

    if ((rc = mcmd_json_flag(link_usage, argc, argv, &json)))
        return rc < 0 ? CLI_OK : rc;
    if ((rc = mcmd_manifest(cmd, argv[optind], &m)))
        return rc;
    if (!(dbs = calloc(m.shards, sizeof *dbs)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)) || (rc = mcmd_open_owned(cmd, argv[optind], &m, 0, dbs)) ||
        (rc = mcmd_link_mentions(cmd, &m, dbs, &ls)))
        goto out;
    if (g_mpi.rank == 0) {
        if (json) {
            json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:f}", "records", (json_int_t)ls.records,
                                  "sources", (json_int_t)ls.sources, "links",
                                  (json_int_t)ls.links, "titles", (json_int_t)ls.titles,
                                  "seconds", ls.seconds);
            if (!j || cli_json_print(stdout, j)) {
                cli_err(cmd, "error writing output");
                rc = CLI_EFAIL;
            }
        } else {
            printf("linked: %llu mention links from %llu records against %llu titles of all "
                   "%u shards, %.2f s\n", (unsigned long long)ls.links,
                   (unsigned long long)ls.sources, (unsigned long long)ls.titles, m.shards,
                   ls.seconds);
        }
    }
    rc = mcmd_agree(rc);
out:
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    return rc;
}
