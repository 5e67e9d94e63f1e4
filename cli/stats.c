/*
 * stats.c -- `cvstore stats`: what a store holds and what it costs on disk
 * (cvs_db_info), for a person or, with --json, for monitoring scripts.  The
 * store is opened read-only so stats can run beside an import.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore stats DB [--json]\n"
    "\n"
    "Prints the record count, dimension, metric, raw precision, format version,\n"
    "size on disk, LMDB map size and creation time of the store, its codec, and\n"
    "its ANN index: lists, search defaults, memory per vector once loaded (the\n"
    "index is loaded to measure it) and bytes on disk, and its text embedder\n"
    "with, for glove, the state of its SIF common component.\n"
    "\n"
    "Options:\n"
    "  -j, --json           one JSON object: path, count, dim, metric, raw,\n"
    "                       format_version, encrypted, disk_bytes, map_bytes, created,\n"
    "                       codec {spec, code_bytes, param_bytes, generation,\n"
    "                       format} or null, index {spec, count, nlist, residual,\n"
    "                       nprobe, rerank, refine, mem_bytes, mem_bytes_per_vector,\n"
    "                       disk_bytes, dirty} or null, embedder {name, dim,\n"
    "                       common_component, vocabulary_in_store, fingerprint\n"
    "                       (BLAKE2b-256 of its data files, hex; null for one\n"
    "                       without)} or null,\n"
    "                       links_outdated (true: the mention links were made by\n"
    "                       an older rule of the linker; cvstore link rebuilds them)\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n"
    "\n"
    "A codec, index or embedder this build cannot read (a newer format, or\n"
    "damage) is named on its line (in JSON, {\"error\": MESSAGE}) and the rest is\n"
    "printed; the exit status is then 1, with the first such error on stderr.\n";

/* The built-in glove embedder's text state (query/embed.c), or NULL for
 * embedders that have none. */
static const char *sif_state(const cvs_embedder_info *e)
{
    if (strcmp(e->name, "glove") != 0)
        return NULL;
    return e->fitted == 2 ? "fixed by the vocabulary"
           : e->fitted   ? "fitted on the first import"
                         : "none (embeddings skip its removal)";
}

/* The embedder's fingerprint in hex, as Python's stats() gives it, into
 * hex (65 bytes); NULL for an embedder with none (an application's). */
static const char *fingerprint_hex(const cvs_embedder_info *e, char *hex)
{
    if (!e->has_fingerprint)
        return NULL;
    for (size_t i = 0; i < sizeof e->fingerprint; i++)
        snprintf(hex + 2 * i, 3, "%02x", e->fingerprint[i]);
    return hex;
}

/* A part stats cannot read: its message, kept before a later call
 * replaces the handle's, and the first such error for the exit status. */
typedef struct part_err {
    int rc;            /* the first failure, 0 = none */
    char first[512];   /* its message */
} part_err;

/* rc of reading one part: 0 and CVS_NOTFOUND pass through; anything else is
 * kept in msg (size bytes) and, if the first, in pe. */
static int part(int rc, cvs_db *db, char *msg, size_t size, part_err *pe)
{
    if (rc == 0 || rc == CVS_NOTFOUND)
        return rc;
    snprintf(msg, size, "%s: %s", cvs_strerror(rc), cvs_errmsg(db));
    if (!pe->rc) {
        pe->rc = rc;
        snprintf(pe->first, sizeof pe->first, "%s", msg);
    }
    return rc;
}

int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_db *db = NULL;
    cvs_info in;
    cvs_codec_info ci;
    cvs_index_info ii;
    cvs_embedder_info ei;
    int crc, irc, erc, lrc, outdated = 0;
    part_err pe = {0};
    char cmsg[512] = "", imsg[512] = "", emsg[512] = "", lmsg[512] = "", fp[65];
    const char *path;
    char created[40], b1[24], b2[24];
    int c, rc, json = 0;

    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("stats", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    path = argv[optind];

    if ((rc = cli_open("stats", path, CVS_OPEN_RDONLY, &db)))
        goto out;
    if ((rc = cvs_db_info(db, &in))) {
        rc = cli_fail("stats", rc, db);
        goto out;
    }
    cli_iso8601(in.created_us, created, sizeof created);
    crc = part(cvs_codec_get_info(db, &ci), db, cmsg, sizeof cmsg, &pe);
    irc = part(cvs_index_get_info(db, &ii), db, imsg, sizeof imsg, &pe);
    erc = part(cvs_db_embedder_info(db, &ei), db, emsg, sizeof emsg, &pe);
    lrc = part(cvs_link_rule_outdated(db, &outdated), db, lmsg, sizeof lmsg, &pe);
    if (json) {
        json_t *j = json_pack("{s:o,s:I,s:i,s:s,s:s,s:i,s:b,s:I,s:I,s:s}",
                              "path", cli_json_name(path),
                              "count", (json_int_t)in.count,
                              "dim", (int)in.dim,
                              "metric", cvs_metric_name(in.metric),
                              "raw", cvs_raw_name(in.raw),
                              "format_version", (int)in.format_version,
                              "encrypted", in.encrypted,
                              "disk_bytes", (json_int_t)in.disk_bytes,
                              "map_bytes", (json_int_t)in.map_bytes,
                              "created", created);
        if (j && crc == 0)
            json_object_set_new(j, "codec", json_pack("{s:s,s:I,s:I,s:I,s:i}", "spec", ci.spec,
                                                      "code_bytes", (json_int_t)ci.code_bytes,
                                                      "param_bytes", (json_int_t)ci.param_bytes,
                                                      "generation", (json_int_t)ci.generation,
                                                      "format", (int)ci.format));
        else if (j && crc != CVS_NOTFOUND)
            json_object_set_new(j, "codec", json_pack("{s:s}", "error", cmsg));
        else if (j)
            json_object_set_new(j, "codec", json_null());
        if (j && irc == 0)
            json_object_set_new(
                j, "index",
                json_pack("{s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:f,s:I,s:I}", "spec", ii.spec, "count",
                          (json_int_t)ii.count, "nlist", (json_int_t)ii.nlist, "residual",
                          ii.residual, "nprobe", (json_int_t)ii.nprobe, "rerank",
                          (json_int_t)ii.rerank, "refine", (json_int_t)ii.refine, "mem_bytes",
                          (json_int_t)ii.mem_bytes, "mem_bytes_per_vector",
                          ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0,
                          "disk_bytes", (json_int_t)ii.disk_bytes, "dirty",
                          (json_int_t)ii.dirty));
        else if (j && irc != CVS_NOTFOUND)
            json_object_set_new(j, "index", json_pack("{s:s}", "error", imsg));
        else if (j)
            json_object_set_new(j, "index", json_null());
        if (j && erc == 0)
            json_object_set_new(j, "embedder",
                                json_pack("{s:s,s:i,s:s?,s:b,s:s?}", "name", ei.name, "dim",
                                          (int)ei.dim, "common_component", sif_state(&ei),
                                          "vocabulary_in_store", ei.data_in_store,
                                          "fingerprint", fingerprint_hex(&ei, fp)));
        else if (j && erc != CVS_NOTFOUND)
            json_object_set_new(j, "embedder", json_pack("{s:s}", "error", emsg));
        else if (j)
            json_object_set_new(j, "embedder", json_null());
        if (j && lrc == 0)
            json_object_set_new(j, "links_outdated", json_boolean(outdated));
        else if (j)
            json_object_set_new(j, "links_outdated", json_pack("{s:s}", "error", lmsg));
        if (!j) {
            rc = cli_fail("stats", CVS_ENOMEM, NULL);
            goto out;
        }
        if (cli_json_print(stdout, j)) {
            cli_err("stats", "error writing output");
            rc = CLI_EFAIL;
        }
        goto out;
    }
    printf("store:          %s\n", path);
    printf("records:        %" PRIu64 "\n", in.count);
    printf("dim:            %u\n", in.dim);
    printf("metric:         %s\n", cvs_metric_name(in.metric));
    printf("raw:            %s\n", cvs_raw_name(in.raw));
    printf("format version: %u\n", in.format_version);
    printf("encrypted:      %s\n", in.encrypted ? "yes" : "no");
    printf("disk:           %s (%" PRIu64 " bytes)\n",
           cli_human_bytes(in.disk_bytes, b1, sizeof b1), in.disk_bytes);
    printf("map:            %s\n", cli_human_bytes(in.map_bytes, b2, sizeof b2));
    printf("created:        %s\n", created);
    if (crc == 0)
        printf("codec:          %s (%zu bytes per vector, %s of codebooks)\n", ci.spec,
               ci.code_bytes, cli_human_bytes(ci.param_bytes, b1, sizeof b1));
    else if (crc != CVS_NOTFOUND)
        printf("codec:          cannot be read: %s\n", cmsg);
    else
        printf("codec:          none (cvstore build DB --codec SPEC)\n");
    /* Format 3 is rabitq's one-centre layout (cvstore.h, cvs_codec_info). */
    if (crc == 0 && ci.format == 3)
        printf("codec format:   rabitq, format 3: %s\n",
               in.raw == CVS_RAW_NONE
                   ? "one centre; its codes are the only copy of the vectors (raw none), "
                     "kept as they are"
                   : "rebuild the codes to get the centres' recall (cvstore build DB "
                     "--codec SPEC)");
    if (irc == 0 && !strncmp(ii.spec, "qg", 2)) {
        printf("index:          %s (graph over the codes), %" PRIu64 " records, default nprobe "
               "(ef) %zu, rerank %zu, %" PRIu64 " written since the build (searched exactly)\n",
               ii.spec, ii.count, ii.nprobe, ii.rerank, ii.dirty);
        printf("index memory:   %s (%.1f bytes per vector: neighbours, their codes, SQ8 rows)\n",
               cli_human_bytes(ii.mem_bytes, b1, sizeof b1),
               ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0);
        printf("index disk:     %s (node keys, neighbour lists, SQ8 rows)\n",
               cli_human_bytes(ii.disk_bytes, b2, sizeof b2));
    } else if (irc == 0 && !strncmp(ii.spec, "faiss:", 6)) {
        printf("index:          %s, %" PRIu64 " records, default search parameter %zu "
               "(0 = FAISS's), %" PRIu64 " written since the build (searched exactly)\n",
               ii.spec, ii.count, ii.nprobe, ii.dirty);
        printf("index memory:   %s (%.1f bytes per vector)\n",
               cli_human_bytes(ii.mem_bytes, b1, sizeof b1),
               ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0);
        printf("index disk:     %s (the serialized FAISS index and its key table)\n",
               cli_human_bytes(ii.disk_bytes, b2, sizeof b2));
    } else if (irc == 0) {
        printf("index:          %s, %s codes, %" PRIu64 " records, default nprobe %zu, "
               "rerank %zu", ii.spec, ii.residual ? "residual" : "direct", ii.count,
               ii.nprobe, ii.rerank);
        if (ii.refine)
            printf(", refine %zu", ii.refine);
        printf("\n");
        printf("index memory:   %s (%.1f bytes per vector; %s)\n",
               cli_human_bytes(ii.mem_bytes, b1, sizeof b1),
               ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0,
               in.raw == CVS_RAW_NONE
                   ? "no raw vectors are kept (raw none), so nothing is re-ranked"
                   : "raw vectors for re-ranking are\n                read from disk "
                     "through the memory map");
        printf("index disk:     %s (lists, codes, change log, centroids)\n",
               cli_human_bytes(ii.disk_bytes, b2, sizeof b2));
    } else if (irc != CVS_NOTFOUND) {
        printf("index:          cannot be read: %s\n", imsg);
    } else {
        printf("index:          none (cvstore build DB --codec SPEC --index ivf)\n");
    }
    if (erc == 0 && sif_state(&ei))
        printf("embedder:       %s (dim %u; SIF common component: %s%s)\n", ei.name, ei.dim,
               sif_state(&ei), ei.data_in_store ? "; vocabulary copied into the store" : "");
    else if (erc == 0)
        printf("embedder:       %s (dim %u)\n", ei.name, ei.dim);
    else if (erc != CVS_NOTFOUND)
        printf("embedder:       cannot be read: %s\n", emsg);
    else
        printf("embedder:       none (text needs one: cvstore init DB --embedder glove)\n");
    if (lrc)
        printf("links:          cannot be read: %s\n", lmsg);
    else if (outdated)
        printf("links:          %s\n", cli_links_outdated_note(db));
out:
    if (!rc && pe.rc) {
        cli_err("stats", "%s", pe.first);
        rc = cli_exit_code(pe.rc);
    }
    cvs_db_close(db);
    return rc;
}
