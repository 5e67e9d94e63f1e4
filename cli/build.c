/*
 * build.c -- `cvstore build`: trains a codec on a sample of the store's
 * vectors and encodes every record, after which searches can scan the
 * compressed codes (`search --codes`) and every put is encoded as it lands.
 * With --index ivf[N] it also builds the IVF index over the codes.  With
 * no --codec the library chooses the codec, and with neither --codec nor
 * --index the index too (cvs_build_choose); the summary says what it chose.
 * The library writes the codec and all codes in one transaction, so an
 * interrupted build leaves the previous codec in force; this command only
 * adds the progress display and the summary.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore build DB [--codec SPEC|auto] [--index IDX|auto] [options]\n"
    "\n"
    "Trains the codec SPEC on a sample of DB's vectors and encodes every record.\n"
    "\n"
    "With no --codec (or --codec auto) the codec is chosen from the store's\n"
    "record count, dimension and raw mode, and with no --index as well (or\n"
    "--index auto) an index too; the rules and their reasons are in\n"
    "index/choose.c (cvs_build_choose):\n"
    "  under 2048 records   sq8, no index (exact search is fastest there)\n"
    "  --raw none stores    sq8 (the codes are the only copy of the vectors); no\n"
    "                       index above 512 dims (a list holds codes of <= 512 B);\n"
    "                       once built, the codec is kept and only the index is\n"
    "                       built again, over the codes\n"
    "  up to 256 dims       opq,pq{d/2}x4: 4-bit codes for the fast-scan kernel,\n"
    "                       d/4 bytes per vector, re-ranked with the stored vectors\n"
    "  above 256 dims       pca256,opq,pq128x4\n"
    "  index                ivfN, N about 4*sqrt(records), with ,sq8 re-ranking\n"
    "                       rows while they take at most a quarter of the\n"
    "                       machine's memory and 2 GiB (records * dim bytes;\n"
    "                       every process that searches the store holds them)\n"
    "Then `cvstore tune DB --rebuild` measures the search knobs, the list count\n"
    "and the ,sq8 rows on the store's own vectors.\n"
    "\n"
    "SPEC is [pcaR,][opq,](pqM[xB] | sq8) or [pcaR,](rqM | rabitq[B]):\n"
    "  pqM, pqMx8     product quantization, M sub-quantizers of 8 bits (M bytes)\n"
    "  pqMx4          M sub-quantizers of 4 bits (M/2 bytes), scanned with AVX2\n"
    "                 \"fast scan\"\n"
    "  opq,...        learn a rotation first (optimized PQ)\n"
    "  pcaR,...       project to R dimensions first (principal components)\n"
    "  sq8            one byte per dimension (usually after pcaR)\n"
    "  rqM            residual quantization, M bytes: a sum of centroids from\n"
    "                 M codebooks over all dimensions (M-1 and a norm byte on l2\n"
    "                 stores); slower to train, most recall per byte on\n"
    "                 correlated data (pca128,rq8 on 784-d images)\n"
    "  rabitq[B]      RaBitQ: a random rotation, B bits per dimension (1..8,\n"
    "                 default 1), a centre byte and 10 bytes of factors;\n"
    "                 distances are estimates with an error bound, and --ann\n"
    "                 re-ranks only the candidates the bound cannot rule out\n"
    "                 (rabitq4: ~0.9+ recall codes only)\n"
    "M must divide the dimension (after pcaR).  Examples: pq32, pq64x4,\n"
    "opq,pq16, pca96,opq,pq32, pca64,sq8, pca128,rq16, rabitq4.\n"
    "\n"
    "With --index ivf[N], the codes are also split into N inverted lists (an IVF\n"
    "index: k-means centroids, about 4*sqrt(records) lists by default) that\n"
    "`cvstore search --ann` probes; puts and deletes keep it up to date.\n"
    "The codes encode each vector's residual to its list centroid on ip and\n"
    "cosine stores and the vector itself (direct) on l2 stores and stores with\n"
    "--raw none (measured: on l2 direct codes scan faster for the same recall);\n"
    "append \",residual\" or \",direct\" to choose.  Append \",sq8\" to re-rank candidates\n"
    "from one byte per dimension held in memory instead of reading the stored\n"
    "vectors (faster on small stores; costs dim bytes per record of memory).\n"
    "\n"
    "With --index qg, a graph over the records (Vamana, 32 neighbours each) whose\n"
    "nodes keep their neighbours' 4-bit codes for one fast-scan pass per node\n"
    "visited, and one byte per dimension per record to score the nodes visited;\n"
    "the codec must be 4-bit PQ (opq,pqMx4).  `search --ann --nprobe` sets the\n"
    "candidate list (ef, default 32), --rerank re-scores the best R with the\n"
    "stored vectors.  Records written after the build are scored exactly until\n"
    "the next build.\n"
    "\n"
    "Two builds of one store train side by side; their writes take turns, and\n"
    "the store keeps the last to write, whole.  A build that waited for\n"
    "another writer says so in its summary.\n"
    "\n"
    "Options:\n"
    "  -c, --codec SPEC     the codec (default auto: chosen, see above)\n"
    "  -x, --index IDX      also build an ANN index: ivf, ivfN, ivfN,direct, ...,sq8,\n"
    "                       auto (chosen; the default when --codec is not given); or\n"
    "                       faiss:FACTORY (e.g. faiss:HNSW32, faiss:IVF1024,PQ32x4fs),\n"
    "                       a FAISS index kept in the store (no --codec needed);\n"
    "                       or qg, the graph over the codes (see above)\n"
    "  -n, --train N        train the codec on at most N vectors (default 65536);\n"
    "                       an IVF index's k-means takes at least 40 per list,\n"
    "                       more than N when N is smaller (the summary says so)\n"
    "  -s, --seed S         seed of the training sample and k-means (default 1)\n"
    "  -a, --anisotropic E  ip/cosine stores: ScaNN's score-aware loss with\n"
    "                       weight E (e.g. 4; default 0 = off)\n"
    "  -j, --json           print a summary as one JSON object on stdout:\n"
    "                       {\"codec\": {...}, \"index\": {...} or null, \"seconds\",\n"
    "                       \"chosen\": {\"codec\", \"index\"} or null}\n"
    "  -q, --quiet          no progress bar and no summary\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total,
                        uint64_t bytes_done, uint64_t bytes_total)
{
    cli_progress_update(ctx, phase, done, total, bytes_done, bytes_total);
}

/* cvs_build samples at least 40 vectors per IVF list for the coarse
 * k-means (fewer leave lists empty or noisy), so a --train below that is
 * raised for the k-means alone; the user who gave it is told, not left to
 * wonder why training took longer.  Returns an exit code. */
static int note_train(cvs_db *db, const cvs_build_opts *bo)
{
    cvs_index_info ii;
    cvs_info info;
    uint64_t need, got;
    int rc;

    if ((rc = cvs_index_get_info(db, &ii)) || (rc = cvs_db_info(db, &info)))
        return cli_fail("build", rc, db);
    need = (uint64_t)ii.nlist * 40;
    got = need < info.count ? need : info.count;
    if (got > bo->max_train)
        fprintf(stderr, "note: the IVF k-means trained on %llu vectors (40 per list for %zu "
                "lists), more than --train %zu; the codec on %zu\n", (unsigned long long)got,
                ii.nlist, bo->max_train, bo->max_train);
    return CLI_OK;
}

int cmd_build(int argc, char **argv)
{
    static const struct option opts[] = {
        {"codec", required_argument, NULL, 'c'},
        {"index", required_argument, NULL, 'x'},
        {"train", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"anisotropic", required_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *spec = NULL;
    cvs_build_opts bo = {0};
    cvs_build_choice choice = {{0}, {0}};
    cvs_codec_info ci, kept;
    cvs_info info;
    cvs_index_info ii;
    cli_progress prog;
    cvs_db *db = NULL;
    uint64_t v;
    int64_t pid;
    double t0, waited;
    char *end;
    int c, rc = CLI_OK, quiet = 0, json = 0, keeps = 0;

    while ((c = getopt_long(argc, argv, "c:x:n:s:a:qjh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            spec = optarg;
            break;
        case 'x':
            bo.index = optarg;
            break;
        case 'n':
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &v)) {
                cli_err("build", "--train must be a positive integer, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            bo.max_train = (size_t)v;
            break;
        case 's':
            if (cli_parse_u64(optarg, 0, UINT64_MAX, &v)) {
                cli_err("build", "--seed must be a non-negative integer, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            bo.seed = v;
            break;
        case 'a':
            bo.anisotropic_eta = strtof(optarg, &end);
            if (*end || end == optarg || !(bo.anisotropic_eta >= 0) || bo.anisotropic_eta > 1000) {
                cli_err("build", "--anisotropic must be a number from 0 to 1000, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'q':
            quiet = 1;
            cli_wait_quiet();
            break;
        case 'j':
            json = 1;
            cli_wait_quiet();
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("build", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    int faiss = bo.index && !strncmp(bo.index, "faiss:", 6);
    /* Without a codec (and not a FAISS index alone) the library chooses:
     * the codec, and the index too when none was named. */
    int auto_codec = !faiss && (!spec || !strcmp(spec, "auto"));
    int auto_index = !faiss && (bo.index ? !strcmp(bo.index, "auto") : auto_codec);
    if ((rc = cli_open("build", argv[optind], 0, &db)))
        goto out;
    cli_interrupt_note("build", "nothing of this build was written (the codec, codes and "
                       "index are written in one transaction at its end): the store keeps "
                       "its previous ones; run the build again");
    {
        /* A raw "none" store keeps the codec it has (its codes are the
         * only copy of the vectors): a build makes its index again. */
        if ((rc = cvs_db_info(db, &info)) ||
            (info.raw == CVS_RAW_NONE && (rc = cvs_codec_get_info(db, &kept)) &&
             rc != CVS_NOTFOUND)) {
            rc = cli_fail("build", rc, db);
            goto out;
        }
        keeps = info.raw == CVS_RAW_NONE && rc == CVS_OK;
        rc = CLI_OK;
    }
    if (auto_codec || auto_index) {
        if ((rc = cvs_db_info(db, &info)) ||
            (rc = cvs_build_choose(info.count, info.dim, info.metric, info.raw, &choice))) {
            rc = cli_fail("build", rc, db);
            goto out;
        }
        if (auto_codec)
            spec = choice.codec;
        if (auto_index)
            bo.index = choice.index;
        /* A raw "none" store keeps the codec it has (its codes are the only
         * copy of the vectors): only its index is built again. */
        if (auto_codec && keeps)
            spec = kept.spec;
    }
    /* Every argument, and what was chosen for those left out, is checked
     * before any work or output: "chose codec sq8" must not come before a
     * refusal of the --index, nor a chosen codec the index cannot use. */
    if ((rc = cvs_build_check(db, spec, &bo))) {
        rc = cli_fail("build", rc, db);
        goto out;
    }
    if (auto_codec || auto_index) {
        if (!quiet && !json)
            fprintf(stderr, "chose %s%s%s%s for %llu records of dimension %u (%s, raw %s)\n",
                    auto_codec ? "codec " : "", auto_codec ? spec : "",
                    auto_codec && auto_index ? " and " : "",
                    !auto_index ? "" : *choice.index ? choice.index : "no index",
                    (unsigned long long)info.count, info.dim, cvs_metric_name(info.metric),
                    cvs_raw_name(info.raw));
    }
    cli_progress_init(&prog, quiet);
    if (prog.enabled) {
        bo.progress = on_progress;
        bo.progress_ctx = &prog;
    }
    t0 = cli_now();
    rc = cvs_build(db, spec, &bo);
    cli_progress_clear(&prog);
    if (rc) {
        rc = cli_fail("build", rc, db);
        goto out;
    }
    memset(&ci, 0, sizeof ci);
    if (spec && (rc = cvs_codec_get_info(db, &ci))) {
        rc = cli_fail("build", rc, db);
        goto out;
    }
    if (json) {
        int irc = bo.index && *bo.index ? cvs_index_get_info(db, &ii) : CVS_NOTFOUND;
        json_t *j;
        if (irc && irc != CVS_NOTFOUND) {
            rc = cli_fail("build", irc, db);
            goto out;
        }
        j = spec ? json_pack("{s:{s:s,s:I,s:I,s:I},s:f}", "codec", "spec", ci.spec, "code_bytes",
                             (json_int_t)ci.code_bytes, "param_bytes",
                             (json_int_t)ci.param_bytes, "generation",
                             (json_int_t)ci.generation, "seconds", cli_now() - t0)
                 : json_pack("{s:n,s:f}", "codec", "seconds", cli_now() - t0);
        if (j)
            json_object_set_new(j, "chosen",
                                auto_codec || auto_index
                                    ? json_pack("{s:s?,s:s?}", "codec",
                                                auto_codec ? spec : NULL, "index",
                                                auto_index ? choice.index : NULL)
                                    : json_null());
        if (j)
            json_object_set_new(
                j, "index",
                irc ? json_null()
                    : json_pack("{s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:I}", "spec", ii.spec, "count",
                                (json_int_t)ii.count, "nlist", (json_int_t)ii.nlist, "residual",
                                ii.residual, "nprobe", (json_int_t)ii.nprobe, "rerank",
                                (json_int_t)ii.rerank, "mem_bytes", (json_int_t)ii.mem_bytes,
                                "disk_bytes", (json_int_t)ii.disk_bytes));
        if (!j || cli_json_print(stdout, j)) {
            cli_err("build", "error writing output");
            rc = CLI_EFAIL;
        }
        goto out;
    }
    if (!quiet && !faiss && bo.index && *bo.index && bo.max_train &&
        (rc = note_train(db, &bo)))
        goto out;
    if (!quiet && (waited = cli_waited(&pid)) > 0) {
        /* Two builds of one store run side by side until one writes; the
         * other waits for it, then writes over it (the store keeps the
         * last, whole): the user of the second is told, not left to think
         * the first build's result is what the store holds. */
        char who[40] = "";
        if (pid > 0)
            snprintf(who, sizeof who, " (pid %lld)", (long long)pid);
        fprintf(stderr, "note: waited %.1f s for another writer%s to finish before writing; "
                "the store now holds this build's result, over what that writer wrote\n",
                waited, who);
    }
    if (!quiet && spec && keeps)
        fprintf(stderr, "kept codec %s (raw none: its codes are the only copy of the vectors; "
                "generation %llu)\n", ci.spec, (unsigned long long)ci.generation);
    else if (!quiet && spec)
        fprintf(stderr, "built codec %s in %.1f s: %zu bytes per vector, %zu bytes of "
                "codebooks (generation %llu)\n", ci.spec, cli_now() - t0, ci.code_bytes,
                ci.param_bytes, (unsigned long long)ci.generation);
    if (!quiet && bo.index && *bo.index) {
        if ((rc = cvs_index_get_info(db, &ii))) {
            rc = cli_fail("build", rc, db);
            goto out;
        }
        if (faiss || !strncmp(ii.spec, "qg", 2))
            fprintf(stderr, "built index %s over %llu records in %.1f s: %.1f bytes per vector "
                    "in memory; search with --ann\n", ii.spec, (unsigned long long)ii.count,
                    cli_now() - t0, ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0);
        else
            fprintf(stderr, "built index %s (%s codes) over %llu records: %.1f bytes per vector "
                    "in memory; search with --ann (default nprobe %zu, rerank %zu)\n", ii.spec,
                    ii.residual ? "residual" : "direct", (unsigned long long)ii.count,
                    ii.count ? (double)ii.mem_bytes / (double)ii.count : 0.0, ii.nprobe,
                    ii.rerank);
    }
out:
    cvs_db_close(db);
    return rc;
}
