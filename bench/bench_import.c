/*
 * bench_import.c -- `cvstore-bench import`: how fast cvs_import fills a fresh
 * store, split into its two passes (validate, write), and what the store
 * costs on disk.  Throughput is given per record and per input byte, since
 * record rate alone hides the dimension and the input format's size.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench import [--base FILE] [--ids WORDS] [--metric l2|ip|cosine]\n"
        "                            [--raw f32|f16] [--dir TMPDIR] [--csv PATH]\n"
        "Imports FILE into a fresh store in a temporary directory (removed afterwards)\n"
        "and reports records/s and MB/s (input bytes) of each pass and the store size.\n"
        "  --base FILE    vectors to import (fvecs, bvecs, npy, jsonl); default the\n"
        "                 GloVe vectors of scripts/fetch-glove.sh, with their words as ids\n"
        "  --ids WORDS    one id per line, in record order (default 0, 1, 2, ...)\n"
        "  --metric M     store metric (default cosine)\n"
        "  --raw R        stored vector type (default f32)\n"
        "  --dir DIR      where to make the temporary store (default $TMPDIR or /tmp)\n"
        "  --batch N      records per write transaction (default: cvstore's)\n"
        "  --csv PATH     also write the table as CSV\n");
}

static double per_s(double x, double s) { return s > 0 ? x / s : 0; }

int bench_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"base", required_argument, 0, 'b'}, {"ids", required_argument, 0, 'i'},
        {"metric", required_argument, 0, 'm'}, {"raw", required_argument, 0, 'r'},
        {"dir", required_argument, 0, 'd'}, {"csv", required_argument, 0, 'c'},
        {"batch", required_argument, 0, 'B'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    char glove_fvecs[4096], glove_words[4096];
    const char *base = NULL, *ids = NULL, *parent = NULL, *csv = NULL;
    cvs_create_opts co = {.metric = CVS_METRIC_COSINE, .raw = CVS_RAW_F32};
    cvs_import_opts io = {.format = CVS_FMT_AUTO, .progress = bu_progress};
    cvs_import_stats st = {0};
    cvs_info info;
    cvs_db *db = NULL;
    char *dir = NULL, storepath[4200];
    int c, ret = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': base = optarg; break;
        case 'i': ids = optarg; break;
        case 'm':
            if (cvs_metric_parse(optarg, &co.metric) != 0) {
                fprintf(stderr, "cvstore-bench import: bad --metric '%s'\n", optarg);
                return 1;
            }
            break;
        case 'r':
            if (cvs_raw_parse(optarg, &co.raw) != 0) {
                fprintf(stderr, "cvstore-bench import: bad --raw '%s'\n", optarg);
                return 1;
            }
            break;
        case 'd': parent = optarg; break;
        case 'c': csv = optarg; break;
        case 'B': io.batch = strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cvstore-bench import: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    if (!base) {
        if (bu_glove_paths(glove_fvecs, glove_words, sizeof glove_fvecs) != 0)
            return 2;
        base = glove_fvecs;
        if (!ids)
            ids = glove_words;
    }
    io.ids_path = ids;
    bu_check(bu_file_dim(base, &co.dim), base);

    if (!(dir = bu_tmpdir(parent)))
        return 2;
    snprintf(storepath, sizeof storepath, "%s/store", dir);
    fprintf(stderr, "cvstore-bench import: %s (dim %u, %s, %s) into %s\n", base, co.dim,
            cvs_metric_name(co.metric), cvs_raw_name(co.raw), storepath);

    int rc = cvs_db_create(storepath, &co, &db);
    if (rc != 0) {
        fprintf(stderr, "cvstore-bench import: creating the store: %s: %s\n", cvs_strerror(rc),
                cvs_errmsg(NULL));
        goto out;
    }
    double t0 = bu_now();
    rc = cvs_import(db, base, &io, &st);
    double total_s = bu_now() - t0;
    if (rc != 0) {
        fprintf(stderr, "cvstore-bench import: %s: %s\n", cvs_strerror(rc), cvs_errmsg(db));
        goto out;
    }
    rc = cvs_db_info(db, &info);
    if (rc != 0) {
        fprintf(stderr, "cvstore-bench import: info: %s\n", cvs_errmsg(db));
        goto out;
    }
    cvs_db_close(db);
    db = NULL;
    uint64_t disk = bu_dir_bytes(storepath);

    static const char *const header[] = {"phase", "seconds", "records/s", "MB/s (input)"};
    bu_table *t = bu_table_new(4, header);
    const struct { const char *name; double s; } phases[] = {
        {"validate", st.validate_s}, {"write", st.write_s}, {"total", total_s}};
    for (size_t i = 0; i < 3; i++) {
        bu_table_row(t);
        bu_table_cell(t, "%s", phases[i].name);
        bu_table_cell(t, "%.2f", phases[i].s);
        bu_table_cell(t, "%.0f", per_s((double)st.records, phases[i].s));
        bu_table_cell(t, "%.1f", per_s((double)st.bytes / 1e6, phases[i].s));
    }
    printf("### import: %s\n\n", base);
    printf("%llu records (%llu inserted, %llu updated), dim %u, %s, raw %s; input %.1f MB; "
           "store on disk %.1f MB (%.1f bytes/record); peak RSS %.0f MB\n\n",
           (unsigned long long)st.records, (unsigned long long)st.inserted,
           (unsigned long long)st.updated, info.dim, cvs_metric_name(info.metric),
           cvs_raw_name(info.raw), (double)st.bytes / 1e6, (double)disk / 1e6,
           st.records ? (double)disk / (double)st.records : 0.0, (double)bu_rss_peak() / 1e6);
    bu_table_print(t);
    if (csv) {
        /* CSV rows carry the context the markdown header gives in prose. */
        static const char *const ch[] = {"file", "records", "dim", "metric", "raw", "input_bytes",
                                         "store_bytes", "phase", "seconds", "records_per_s",
                                         "mb_per_s"};
        bu_table *ct = bu_table_new(11, ch);
        for (size_t i = 0; i < 3; i++) {
            bu_table_row(ct);
            bu_table_cell(ct, "%s", base);
            bu_table_cell(ct, "%llu", (unsigned long long)st.records);
            bu_table_cell(ct, "%u", info.dim);
            bu_table_cell(ct, "%s", cvs_metric_name(info.metric));
            bu_table_cell(ct, "%s", cvs_raw_name(info.raw));
            bu_table_cell(ct, "%llu", (unsigned long long)st.bytes);
            bu_table_cell(ct, "%llu", (unsigned long long)disk);
            bu_table_cell(ct, "%s", phases[i].name);
            bu_table_cell(ct, "%.4f", phases[i].s);
            bu_table_cell(ct, "%.1f", per_s((double)st.records, phases[i].s));
            bu_table_cell(ct, "%.3f", per_s((double)st.bytes / 1e6, phases[i].s));
        }
        if (bu_table_csv(ct, csv) != 0)
            rc = -1;
        bu_table_free(ct);
    }
    bu_table_free(t);
    ret = rc == 0 ? 0 : 2;
out:
    cvs_db_close(db);
    bu_rmrf(dir);
    free(dir);
    return ret;
}
