/*
 * main.c -- cvstore-bench: measurements of cvstore against the baselines it
 * has to beat (FAISS, mostly), on real data (GloVe from
 * scripts/fetch-glove.sh) unless told otherwise.  Results are a markdown
 * table on stdout, progress on stderr, CSV on request.
 *
 * Exit codes: 0 success, 1 usage error, 2 a benchmark step failed.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"import", bench_import, "import throughput (records/s, MB/s) and store size"},
    {"exact", bench_exact, "exact-search QPS and recall: cvstore vs FAISS IndexFlat"},
    {"codecs", bench_codecs, "codec recall, training, encode and scan speed vs FAISS PQ/OPQ"},
    {"ann", bench_ann, "ANN index: recall@10, QPS, build, memory vs FAISS and hnswlib"},
    {"crypt", bench_crypt, "encryption at rest: import and query throughput, plain vs encrypted"},
    {"context", bench_context, "context sets on HotpotQA, MuSiQue, SQuAD (clean, redundant) vs baselines"},
    {"memory", bench_memory, "agent memory recall: paraphrased questions, before and after 500 unrelated memories"},
    {"scale", bench_scale, "cost curves to 10M vectors: build, memory, disk, QPS at recall vs n, vs hnswlib and FAISS"},
    {"embed", bench_embed, "what one short question costs each built-in embedder (ms wall and CPU)"},
    {"soak", bench_soak, "memory layer under sustained remember/recall/forget: latency, store size over time"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cvstore-bench COMMAND [OPTIONS]   (COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nWith no --base, benchmarks run on the GloVe 100-d vectors fetched by\n"
               "scripts/fetch-glove.sh into ${CVSTORE_CACHE:-$HOME/.cache/cvstore}/glove.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cvstore-bench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
