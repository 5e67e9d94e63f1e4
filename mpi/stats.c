/*
 * stats.c -- `cvstore-mpi stats` and `cvstore-mpi check` over all shards.
 * Each rank looks at its shards and rank 0 prints the sums.  check runs
 * cvs_check on every shard and also verifies the three invariants of the
 * sharded layout: every record lives in the shard its id hashes to (a
 * record elsewhere would be found by search but missed by an upsert,
 * which would then store it twice), a link into another shard names a
 * record that shard holds (each shard's own check cannot look), and every
 * shard has the same codec or none (else code distances are not
 * comparable across shards).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "mpicmd.h"

static const char stats_usage[] =
    "Usage: mpirun -np N cvstore-mpi stats DB [--json]\n"
    "\n"
    "Records and bytes on disk of every shard, and their sums; a note when\n"
    "shards' mention links were made by an older rule of the linker.\n"
    "  -j, --json   one JSON object: {\"shards\": S, \"ranks\": N, \"records\": R,\n"
    "               \"disk_bytes\": B, \"links_outdated_shards\": O,\n"
    "               \"per_shard\": [{\"shard\": 0, ..., \"links_outdated\": false}, ...]}\n"
    "  -h, --help   show this help\n";

static const char check_usage[] =
    "Usage: mpirun -np N cvstore-mpi check DB [--json]\n"
    "\n"
    "cvstore check of every shard, that every record is in the shard its id\n"
    "hashes to, that a link into another shard names a record there, and that\n"
    "all shards share one codec (or none).  Exit code 0 when\n"
    "healthy, 1 when problems were found, 2 when the check itself failed.\n"
    "Shards whose mention links an older rule made get a note (not a problem).\n"
    "  -j, --json   one JSON object: {\"healthy\": true, \"problems\": 0,\n"
    "               \"records\": R, \"messages\": [...], \"notes\": [...]}\n"
    "  -h, --help   show this help\n";

int mcmd_json_flag(const char *usage, int argc, char **argv, int *json)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            *json = 1;
            break;
        case 'h':
            if (g_mpi.rank == 0)
                fputs(usage, stdout);
            return -1;
        default:
            return mcmd_usage(usage);
        }
    }
    if (argc - optind != 1) {
        MCMD_ERR0(argv[0], "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return mcmd_usage(usage);
    }
    return CLI_OK;
}

/* 1 when db's mention links were made by an older rule of the linker
 * (cvs_link_rule_outdated); a shard that cannot say is not noted, as
 * `cvstore check` does not note a store that cannot. */
static int links_outdated(cvs_db *db)
{
    int o = 0;
    if (cvs_link_rule_outdated(db, &o))
        o = 0;
    return o;
}

/* The note of stats and check for n of shards outdated shards. */
static const char *outdated_note(uint64_t n, uint32_t shards, const char *db, char *buf,
                                 size_t cap)
{
    snprintf(buf, cap, "the mention links of %" PRIu64 " of %u shard%s were made by an older "
             "rule; run `cvstore-mpi link %s` to rebuild them over all shards", n, shards,
             shards == 1 ? "" : "s", db);
    return buf;
}

int mpi_cmd_stats(int argc, char **argv)
{
    const char *cmd = "mpi stats";
    char note[4400];
    shards_manifest m;
    cvs_db **dbs = NULL;
    uint64_t *mine = NULL, *all = NULL; /* per shard: records, disk bytes, links outdated */
    int json = 0, rc;

    if ((rc = mcmd_json_flag(stats_usage, argc, argv, &json)))
        return rc < 0 ? CLI_OK : rc;
    if ((rc = mcmd_manifest(cmd, argv[optind], &m)))
        return rc;
    dbs = calloc(m.shards, sizeof *dbs);
    mine = calloc(3 * (size_t)m.shards, sizeof *mine);
    all = calloc(3 * (size_t)m.shards, sizeof *all);
    if (!dbs || !mine || !all)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    if ((rc = mcmd_open_owned(cmd, argv[optind], &m, CVS_OPEN_RDONLY, dbs)))
        goto out;
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        cvs_info info;
        int irc;
        if (!dbs[s])
            continue;
        if ((irc = cvs_db_info(dbs[s], &info))) {
            rc = cli_fail(cmd, irc, dbs[s]);
            break;
        }
        mine[3 * s] = info.count;
        mine[3 * s + 1] = info.disk_bytes;
        mine[3 * s + 2] = (uint64_t)links_outdated(dbs[s]);
    }
    if ((rc = mcmd_agree(rc)))
        goto out;
    /* Each shard's figures come from its one owner, zeros from the rest. */
    MPI_Reduce(mine, all, 3 * (int)m.shards, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (g_mpi.rank == 0) {
        uint64_t records = 0, bytes = 0, outdated = 0;
        for (uint32_t s = 0; s < m.shards; s++) {
            records += all[3 * s];
            bytes += all[3 * s + 1];
            outdated += all[3 * s + 2];
        }
        if (json) {
            json_t *per = json_array(), *j;
            for (uint32_t s = 0; per && s < m.shards; s++)
                if (json_array_append_new(per, json_pack("{s:i,s:I,s:I,s:b}", "shard", (int)s,
                                                         "records", (json_int_t)all[3 * s],
                                                         "disk_bytes",
                                                         (json_int_t)all[3 * s + 1],
                                                         "links_outdated",
                                                         all[3 * s + 2] != 0))) {
                    json_decref(per);
                    per = NULL;
                }
            j = per ? json_pack("{s:i,s:i,s:s,s:i,s:s,s:I,s:I,s:I,s:o}", "shards", (int)m.shards,
                                "ranks", g_mpi.nranks, "hash", SHARDS_HASH, "dim", (int)m.dim,
                                "metric", cvs_metric_name(m.metric), "records",
                                (json_int_t)records, "disk_bytes", (json_int_t)bytes,
                                "links_outdated_shards", (json_int_t)outdated, "per_shard", per)
                    : NULL;
            if (!j || cli_json_print(stdout, j)) {
                cli_err(cmd, "error writing output");
                rc = CLI_EFAIL;
            }
        } else {
            char hb[32];
            printf("shards:     %u (hash %s, %d ranks)\n", m.shards, SHARDS_HASH, g_mpi.nranks);
            printf("dimension:  %u\nmetric:     %s\n", m.dim, cvs_metric_name(m.metric));
            printf("records:    %" PRIu64 "\n", records);
            printf("disk:       %s\n", cli_human_bytes(bytes, hb, sizeof hb));
            for (uint32_t s = 0; s < m.shards; s++)
                printf("  shard-%04u  %12" PRIu64 " records  %s%s\n", s, all[3 * s],
                       cli_human_bytes(all[3 * s + 1], hb, sizeof hb),
                       all[3 * s + 2] ? "  (links outdated)" : "");
            if (outdated)
                printf("links:      %s\n", outdated_note(outdated, m.shards, argv[optind],
                                                        note, sizeof note));
        }
    }
    rc = mcmd_agree(rc);
out:
    free(all);
    free(mine);
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    return rc;
}

/* Problems found by this rank, as one buffer of NUL-terminated messages. */
typedef struct problems {
    char *p;
    size_t n, cap;
    uint64_t count;
    uint32_t shard;
    int oom;
} problems;

static void add_problem(void *ctx, const char *msg)
{
    problems *pr = ctx;
    char line[1024];
    size_t len;
    pr->count++;
    len = (size_t)snprintf(line, sizeof line, "shard-%04u: %s", pr->shard, msg);
    if (len >= sizeof line)
        len = sizeof line - 1;
    if (pr->n + len + 1 > pr->cap) {
        size_t nc = pr->cap ? 2 * pr->cap : 4096;
        char *np;
        while (nc < pr->n + len + 1)
            nc *= 2;
        if (!(np = realloc(pr->p, nc))) {
            pr->oom = 1;
            return;
        }
        pr->p = np;
        pr->cap = nc;
    }
    memcpy(pr->p + pr->n, line, len);
    pr->p[pr->n + len] = '\0';
    pr->n += len + 1;
}

/* Every record of shard s hashes to s. */
static int check_placement(const shards_manifest *m, uint32_t s, cvs_db *db, problems *pr)
{
    cvs_txn *txn = NULL;
    cvs_iter *it = NULL;
    cvs_record r;
    int rc;
    if ((rc = cvs_txn_begin(db, &txn)) || (rc = cvs_iter_open(txn, &it)))
        goto out;
    while ((rc = cvs_iter_next(it, &r, NULL)) == CVS_OK) {
        uint32_t want = shards_of(m, r.id, r.id_len);
        if (want != s) {
            char msg[700];
            snprintf(msg, sizeof msg, "record %.*s belongs in shard-%04u (%s of its id)",
                     (int)r.id_len, r.id, want, SHARDS_HASH);
            add_problem(pr, msg);
        }
    }
    if (rc == CVS_NOTFOUND)
        rc = CVS_OK;
out:
    cvs_iter_close(it);
    cvs_txn_end(txn);
    return rc;
}

/* Links into other shards (a shard keeps them by id, its check takes
 * them as held there: meta "shard", docs/FORMAT.md): every rank sends the
 * links of its shards that leave them, and the rank owning each target's
 * shard looks for it there.  A problem names the source's shard.  A
 * collective: every rank calls it; an exit code, agreed. */
static int check_cross_links(const char *cmd, const shards_manifest *m, cvs_db **dbs,
                             problems *pr)
{
    char *mine = NULL, *all = NULL;
    size_t n = 0, cap = 0, sum = 0;
    int rc = CLI_OK;
    for (uint32_t s = 0; s < m->shards && !rc; s++) {
        cvs_txn *txn = NULL;
        cvs_iter *it = NULL;
        cvs_record r;
        int crc;
        if (!dbs[s])
            continue;
        if ((crc = cvs_txn_begin(dbs[s], &txn)) == CVS_OK && (crc = cvs_iter_open(txn, &it)) == CVS_OK)
            while ((crc = cvs_iter_next(it, &r, NULL)) == CVS_OK && !rc)
                for (size_t i = 0; i < r.nlinks && !rc; i++) {
                    uint32_t h[3] = {s, (uint32_t)r.id_len, (uint32_t)r.links[i].id_len};
                    size_t need = n + sizeof h + h[1] + h[2];
                    if (shards_of(m, r.links[i].id, r.links[i].id_len) == s)
                        continue;
                    if (need > cap) {
                        size_t nc = cap ? cap * 2 : 4096;
                        char *p;
                        while (nc < need)
                            nc *= 2;
                        if (!(p = realloc(mine, nc))) {
                            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
                            break;
                        }
                        mine = p;
                        cap = nc;
                    }
                    memcpy(mine + n, h, sizeof h);
                    memcpy(mine + n + sizeof h, r.id, h[1]);
                    memcpy(mine + n + sizeof h + h[1], r.links[i].id, h[2]);
                    n = need;
                }
        if (crc != CVS_OK && crc != CVS_NOTFOUND && !rc) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(crc),
                    cvs_errmsg(dbs[s]));
            rc = CLI_EFAIL;
        }
        cvs_iter_close(it);
        cvs_txn_end(txn);
    }
    if (!rc && n > INT_MAX) {
        cli_err(cmd, "rank %d: over 2 GiB of links across shards", g_mpi.rank);
        rc = CLI_EFAIL;
    }
    if ((rc = mcmd_agree(rc)) || (rc = mcmd_allgather_bytes(cmd, mine, n, NULL, &all, &sum)))
        goto out;
    for (size_t at = 0; at < sum && !rc;) {
        uint32_t h[3], t;
        const char *src, *to;
        cvs_txn *txn = NULL;
        int64_t key;
        int crc;
        memcpy(h, all + at, sizeof h);
        src = all + at + sizeof h;
        to = src + h[1];
        at += sizeof h + h[1] + h[2];
        t = shards_of(m, to, h[2]);
        if (!dbs[t])
            continue;
        if ((crc = cvs_txn_begin(dbs[t], &txn)) == CVS_OK)
            crc = cvs_txn_id_key(txn, to, h[2], &key);
        cvs_txn_end(txn);
        if (crc == CVS_NOTFOUND) {
            char msg[600];
            snprintf(msg, sizeof msg, "links: \"%.*s\" links to \"%.*s\", which shard-%04u "
                     "(its shard) does not hold (dangling)", (int)(h[1] > 200 ? 200 : h[1]), src,
                     (int)(h[2] > 200 ? 200 : h[2]), to, t);
            pr->shard = h[0];
            add_problem(pr, msg);
        } else if (crc) {
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, t, cvs_strerror(crc),
                    cvs_errmsg(dbs[t]));
            rc = CLI_EFAIL;
        }
    }
    rc = mcmd_agree(rc);
out:
    free(mine);
    free(all);
    return rc;
}

int mpi_cmd_check(int argc, char **argv)
{
    const char *cmd = "mpi check";
    shards_manifest m;
    cvs_db **dbs = NULL;
    problems pr = {0};
    uint64_t *fp = NULL, *fp_all = NULL;
    /* problems, records, shards whose links an older rule made */
    unsigned long long local[3] = {0, 0, 0}, total[3] = {0, 0, 0};
    char note[4400];
    int json = 0, rc, mysize, *sizes = NULL, *displs = NULL;
    uint64_t tot;
    char *all = NULL;

    if ((rc = mcmd_json_flag(check_usage, argc, argv, &json)))
        return rc < 0 ? CLI_OK : rc;
    if ((rc = mcmd_manifest(cmd, argv[optind], &m)))
        return rc;
    if (!(dbs = calloc(m.shards, sizeof *dbs)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    if ((rc = mcmd_open_owned(cmd, argv[optind], &m, CVS_OPEN_RDONLY, dbs)))
        goto out;
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        uint64_t np = 0;
        cvs_info info;
        int crc;
        if (!dbs[s])
            continue;
        pr.shard = s;
        if ((crc = cvs_check(dbs[s], add_problem, &pr, &np)) ||
            (crc = check_placement(&m, s, dbs[s], &pr)) || (crc = cvs_db_info(dbs[s], &info))) {
            /* The check itself failed: never a verdict on the store. */
            cli_err(cmd, "rank %d: shard-%04u: %s: %s", g_mpi.rank, s, cvs_strerror(crc),
                    cvs_errmsg(dbs[s]));
            rc = CLI_EFAIL;
            break;
        }
        local[1] += info.count;
        local[2] += (unsigned long long)links_outdated(dbs[s]);
    }
    /* The shards' codecs and IVF centroids: a fingerprint of each per
     * shard (0 = none; fp[s] the codec, fp[shards + s] the centroids), from
     * its owner, compared at rank 0. */
    if (!rc && !(fp = calloc(2 * (size_t)m.shards, sizeof *fp)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if (!rc && !(fp_all = calloc(2 * (size_t)m.shards, sizeof *fp_all)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        void *blob = NULL;
        size_t len = 0;
        int erc;
        if (!dbs[s])
            continue;
        erc = cvs_codec_export(dbs[s], &blob, &len);
        if (erc == CVS_OK)
            fp[s] = shards_hash(blob, len) | 1;
        else if (erc != CVS_NOTFOUND)
            rc = cli_fail(cmd, erc, dbs[s]);
        cvs_free(blob);
        blob = NULL;
        /* The centroids blob but for its generation (bytes 24..31, each
         * shard's own build count; docs/FORMAT.md "meta/ivf"). */
        if (!rc && (erc = cvs_index_export(dbs[s], &blob, &len)) == CVS_OK && len >= 32)
            fp[m.shards + s] = (shards_hash(blob, 24) * 31 + shards_hash((char *)blob + 32,
                                                                         len - 32)) | 1;
        else if (!rc && erc != CVS_OK && erc != CVS_NOTFOUND)
            rc = cli_fail(cmd, erc, dbs[s]);
        cvs_free(blob);
    }
    if (!rc && pr.oom)
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)) || (rc = check_cross_links(cmd, &m, dbs, &pr)))
        goto out;
    MPI_Reduce(fp, fp_all, 2 * (int)m.shards, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (g_mpi.rank == 0) {
        for (uint32_t s = 1; s < m.shards; s++) {
            char msg[200];
            if (fp_all[s] == fp_all[0] && fp_all[m.shards + s] != fp_all[m.shards]) {
                snprintf(msg, sizeof msg, "its IVF centroids are not shard-0000's (%s), so an "
                         "ANN search probes other lists in it: run cvstore-mpi build --index",
                         fp_all[m.shards] ? "which has some" : "which has none");
                pr.shard = s;
                add_problem(&pr, msg);
            }
            if (fp_all[s] == fp_all[0])
                continue;
            snprintf(msg, sizeof msg, "its codec is not shard-0000's (%s), so code distances "
                     "are not comparable across shards: run cvstore-mpi build",
                     fp_all[0] ? "which has one" : "which has none");
            pr.shard = s;
            add_problem(&pr, msg);
        }
        if (pr.oom)
            rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    }
    local[0] = pr.count;
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Reduce(local, total, 3, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    mysize = (int)(pr.n < (size_t)INT32_MAX / 64 ? pr.n : 0); /* absurd volumes: counts only */
    if ((rc = mcmd_gather_counts(cmd, mysize, &sizes, &displs, &tot)))
        goto out;
    if (g_mpi.rank == 0 && !(all = malloc(tot ? (size_t)tot : 1)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Gatherv(pr.p, mysize, MPI_CHAR, all, sizes, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (g_mpi.rank == 0) {
        if (json) {
            json_t *msgs = json_array(), *j;
            for (size_t off = 0; msgs && off < tot; off += strlen(all + off) + 1)
                if (json_array_append_new(msgs, json_string(all + off))) {
                    json_decref(msgs);
                    msgs = NULL;
                }
            j = msgs ? json_pack("{s:b,s:I,s:I,s:o,s:[s*]}", "healthy", total[0] == 0,
                                 "problems", (json_int_t)total[0], "records",
                                 (json_int_t)total[1], "messages", msgs, "notes",
                                 total[2] ? outdated_note(total[2], m.shards, argv[optind],
                                                          note, sizeof note)
                                          : NULL)
                     : NULL;
            if (!j || cli_json_print(stdout, j)) {
                cli_err(cmd, "error writing output");
                rc = CLI_EFAIL;
            }
        } else {
            for (size_t off = 0; off < tot; off += strlen(all + off) + 1)
                printf("problem: %s\n", all + off);
            if (total[0] == 0)
                printf("ok: %llu records in %u shards, no problems found\n", total[1], m.shards);
            else
                printf("%llu problem%s found\n", total[0], total[0] == 1 ? "" : "s");
            if (total[2])
                printf("note: %s\n", outdated_note(total[2], m.shards, argv[optind], note,
                                                    sizeof note));
        }
        if (!rc && total[0])
            rc = CLI_EUSER;
    }
    rc = mcmd_agree(rc);
out:
    free(all);
    free(sizes);
    free(displs);
    free(pr.p);
    free(fp);
    free(fp_all);
    mcmd_close_all(dbs, dbs ? m.shards : 0);
    free(dbs);
    return rc;
}
