/*
 * bench_embed.c -- `cvstore-bench embed`: what one text costs a built-in
 * embedder.  Every question of the memory benchmark's main set
 * (bench/data/memory-questions.jsonl, short paraphrased questions: the
 * texts an agent's recall embeds) is embedded alone, one cvs_embed_text
 * call each, by every embedder named, the embedders taking turns text by
 * text so that a loaded machine slows them alike; --rounds passes over the
 * questions.  Reported per embedder: the texts, ms of wall time and ms of
 * the process's CPU time a text (every thread's: OpenBLAS's own threads,
 * when a BLAS call uses them, and the encoders' workers; --cpu-clock orders
 * the rows' ratio by CPU time; both are printed), and the ratio to the
 * first embedder.
 * Each store is fresh and empty; one warm-up call loads the model before
 * the clock starts.  --batch N embeds the texts N a call instead
 * (cvs_embed_texts, as an import does 64 at a time), over the encoders'
 * worker threads (query/share.c).  A --questions file may hold {"text": ...} lines too (a
 * corpus).  The built-in encoders keep OpenBLAS on one thread while they
 * embed (share.c deviation 1).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

static double process_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench embed [--embedder LIST] [--rounds N] [--questions PATH]\n"
        "                           [--batch N] [--cpu-clock] [--dir TMPDIR]\n"
        "Embeds every question of the memory benchmark's main set alone with each\n"
        "built-in embedder of LIST (default use,minilm), taking turns text by text,\n"
        "and prints ms of wall and process CPU time (all threads) a text.\n"
        "  --embedder   a list of glove, use, minilm (default use,minilm)\n"
        "  --rounds N   passes over the questions (default 5)\n"
        "  --questions  a JSONL file of {\"question\": ...} (or {\"text\": ...}) lines\n"
        "               instead\n"
        "  --batch N    N texts a call (default 1), as an import embeds them\n"
        "  --cpu-clock  the ratio column by CPU time (default wall time)\n");
}

int bench_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        {"embedder", required_argument, 0, 'E'}, {"rounds", required_argument, 0, 'r'},
        {"questions", required_argument, 0, 'Q'}, {"cpu-clock", no_argument, 0, 'U'},
        {"dir", required_argument, 0, 'd'}, {"batch", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    static const char *const header[] = {"embedder", "texts", "mean_bytes", "wall_ms",
                                         "cpu_ms", "ratio"};
    const char *qpath = CVS_SOURCE_DIR "/bench/data/memory-questions.jsonl", *parent = NULL;
    size_t emb[BU_N_EMBEDDERS] = {1, 2}, nemb = 2, nq = 0, bytes = 0, rounds = 5, batch = 1;
    size_t *lens = NULL, cap = 0;
    cvs_db *db[BU_N_EMBEDDERS] = {0};
    double wall[BU_N_EMBEDDERS] = {0}, cpu[BU_N_EMBEDDERS] = {0};
    char **qs = NULL, *tmp = NULL, *line = NULL;
    int c, by_cpu = 0, ret = 0;
    float *v = NULL;
    FILE *f;
    bu_table *tab;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'E':
            if (bu_embedders_parse("cvstore-bench embed", optarg, emb, &nemb)) {
                usage(stderr);
                return 1;
            }
            break;
        case 'r': rounds = strtoul(optarg, NULL, 10); break;
        case 'Q': qpath = optarg; break;
        case 'U': by_cpu = 1; break;
        case 'd': parent = optarg; break;
        case 'b': batch = strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || rounds == 0 || batch == 0) {
        usage(stderr);
        return 1;
    }
    if (!(f = fopen(qpath, "r"))) {
        perror(qpath);
        return 1;
    }
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *q = json_string_value(json_object_get(o, "question"));
        if (!q)
            q = json_string_value(json_object_get(o, "text"));
        if (q) {
            qs = realloc(qs, (nq + 1) * sizeof *qs);
            lens = realloc(lens, (nq + 1) * sizeof *lens);
            if (!qs || !lens || !(qs[nq] = strdup(q))) {
                fprintf(stderr, "cvstore-bench embed: out of memory\n");
                exit(2);
            }
            bytes += lens[nq] = strlen(q);
            nq++;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (!nq) {
        fprintf(stderr, "cvstore-bench embed: %s: no \"question\" lines\n", qpath);
        free(qs);
        free(lens);
        return 1;
    }
    if (batch > nq)
        batch = nq;
    if (!(tmp = bu_tmpdir(parent)) || !(v = malloc(batch * 4096 * sizeof *v))) {
        ret = 2;
        goto out;
    }
    for (size_t e = 0; e < nemb; e++) {
        const bu_embedder *b = &bu_embedders[emb[e]];
        char path[4200];
        cvs_create_opts co = {.dim = b->dim, .metric = CVS_METRIC_COSINE};
        snprintf(path, sizeof path, "%s/%s", tmp, b->name);
        bu_check(cvs_db_create(path, &co, &db[e]), "create");
        bu_check(cvs_db_set_embedder(db[e], b->name, 0, NULL, NULL), b->name);
        bu_check(cvs_embed_text(db[e], qs[0], 0, v), b->name); /* loads the model */
    }
    for (size_t r = 0; r < rounds; r++)
        for (size_t i = 0; i < nq; i += batch)
            for (size_t e = 0; e < nemb; e++) {
                size_t k = nq - i < batch ? nq - i : batch;
                double w0 = bu_now(), c0 = process_cpu();
                bu_check(cvs_embed_texts(db[e], (const char *const *)qs + i, lens + i, k, v),
                         bu_embedders[emb[e]].name);
                cpu[e] += process_cpu() - c0;
                wall[e] += bu_now() - w0;
            }
    tab = bu_table_new(6, header);
    for (size_t e = 0; e < nemb; e++) {
        double n = (double)(rounds * nq);
        bu_table_row(tab);
        bu_table_cell(tab, "%s", bu_embedders[emb[e]].name);
        bu_table_cell(tab, "%zu", rounds * nq);
        bu_table_cell(tab, "%.1f", (double)bytes / (double)nq);
        bu_table_cell(tab, "%.2f", 1e3 * wall[e] / n);
        bu_table_cell(tab, "%.2f", 1e3 * cpu[e] / n);
        bu_table_cell(tab, "%.2f", by_cpu ? cpu[e] / cpu[0] : wall[e] / wall[0]);
    }
    bu_table_print(tab);
    bu_table_free(tab);
out:
    for (size_t e = 0; e < nemb; e++)
        cvs_db_close(db[e]);
    if (tmp) {
        bu_rmrf(tmp);
        free(tmp);
    }
    for (size_t i = 0; i < nq; i++)
        free(qs[i]);
    free(qs);
    free(lens);
    free(v);
    return ret;
}
