/*
 * bench_soak.c -- `cvstore-bench soak`: the memory layer (cvs_mem_*) under a
 * sustained mixed load for minutes, with a constant live set: every round
 * remembers a new memory, forgets the oldest, and recalls a few times.  It
 * reports throughput and p50/p99 latency per operation, and the store's
 * size sampled every few seconds, which must level off: with the live set
 * constant, LMDB reuses the pages that deleted records free, so a store
 * that keeps growing is a leak (of records, index entries or pages).
 *
 * Choices:
 *   1. The texts are made up: 8 to 20 words drawn from a vocabulary with a
 *      skew towards its first words (index = V * u^2), like the frequency
 *      ranks of real text.  With the GloVe cache of scripts/fetch-glove.sh
 *      the vocabulary is GloVe's first 20000 alphabetic words and the
 *      embedder the built-in SIF one (as `cvstore init --embedder glove`);
 *      without it, or with --embedder synthetic, 4096 syllable words with
 *      random 100-d vectors, written as a GloVe cache in the scratch
 *      directory for the same SIF embedder, so the benchmark runs anywhere
 *      on the same code path; the report names which.
 *   2. A recall's query is 4 words of a random live memory, k 10, budget
 *      256 tokens, the default selection (diverse) and hybrid rankings; it
 *      stores its time (a write), as an agent's recall does.
 *   3. Size is the store directory's bytes on disk and LMDB's high-water
 *      mark (last page used): the file never shrinks, so the high-water
 *      mark is what shows whether freed pages are reused.
 *   4. One thread, as one agent's memory server runs, and BLAS pinned to
 *      it (--threads to change): on a busy machine, OpenBLAS's idle
 *      threads spin in sched_yield around recall's small matrix products
 *      and tripled the CPU time per round in a first measurement.
 *   5. Besides rates, each sample gives this process's CPU time per round,
 *      which other processes on the machine disturb far less.
 *   6. --index ivf or --index faiss:FACTORY builds that index (with the
 *      --codec for ivf) once the live set is full, so that every round
 *      also maintains it: the IVF change log and the FAISS index's dirty
 *      marks must level off with the live set too.
 */
#include <ctype.h>
#include <getopt.h>
#include <lmdb.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/benchutil.h"
#include "index/ivf.h"
#include "store/db.h"

#define SYNTH_DIM 100

/* OpenBLAS's own control (see bench_exact.c). */
extern void openblas_set_num_threads(int);
#define VOCAB_MAX 20000

/* ==== Texts ==== */

typedef struct vocab {
    char **w;
    size_t n;
} vocab;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / (double)(1ull << 53);
}

/* GloVe's first alphabetic words (the file is in frequency order). */
static int vocab_glove(const char *path, vocab *v)
{
    FILE *f = fopen(path, "r");
    char line[256];
    if (!f)
        return -1;
    v->w = malloc(VOCAB_MAX * sizeof *v->w);
    while (v->w && v->n < VOCAB_MAX && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        int alpha = n > 1;
        line[n] = 0;
        for (size_t i = 0; i < n && alpha; i++)
            alpha = isalpha((unsigned char)line[i]);
        if (alpha)
            v->w[v->n++] = strdup(line);
    }
    fclose(f);
    return v->w && v->n ? 0 : -1;
}

/* Two or three syllables each: "kato", "rimela", ... */
static int vocab_syllables(vocab *v)
{
    static const char *const syl[] = {"ka", "to", "ri", "me", "la", "su", "no", "vi",
                                      "de", "po", "gu", "sa", "te", "mo", "ne", "fi"};
    v->w = malloc(4096 * sizeof *v->w);
    if (!v->w)
        return -1;
    for (size_t i = 0; i < 4096; i++) {
        char b[16];
        snprintf(b, sizeof b, "%s%s%s", syl[i % 16], syl[(i / 16) % 16], i >= 256 ? syl[i / 256] : "");
        v->w[v->n++] = strdup(b);
    }
    return 0;
}

static void vocab_free(vocab *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->w[i]);
    free(v->w);
}

static void make_text(const vocab *v, uint64_t *rng, char *buf, size_t cap)
{
    size_t n = 0, words = 8 + rng_next(rng) % 13;
    buf[0] = 0;
    for (size_t i = 0; i < words && n + 32 < cap; i++) {
        double u = rng_unit(rng);
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? " " : "", v->w[(size_t)(u * u * v->n)]);
    }
}

/* The first `words` words of text. */
static void make_query(const char *text, size_t words, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p && words; p++) {
        if (*p == ' ' && --words == 0)
            break;
        if (n + 1 < cap)
            buf[n++] = *p;
    }
    buf[n] = 0;
}

/* The fallback: a GloVe cache of the syllable words with random vectors,
 * under dir, for the same built-in SIF embedder (via CVSTORE_GLOVE_DIR). */
static int synthetic_glove(const vocab *v, const char *dir, uint64_t seed)
{
    char path[4400];
    FILE *w, *f;
    int ok;
    snprintf(path, sizeof path, "%s/glove100.words", dir);
    if (!(w = fopen(path, "w")))
        return -1;
    snprintf(path, sizeof path, "%s/glove100.fvecs", dir);
    if (!(f = fopen(path, "wb"))) {
        fclose(w);
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        int32_t d = SYNTH_DIM;
        float x[SYNTH_DIM];
        for (int j = 0; j < SYNTH_DIM; j++)
            x[j] = (float)(rng_unit(&seed) * 2 - 1);
        fprintf(w, "%s\n", v->w[i]);
        fwrite(&d, 4, 1, f);
        fwrite(x, sizeof x, 1, f);
    }
    ok = !ferror(w) && !ferror(f);
    ok &= fclose(w) == 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

/* ==== Latencies ==== */

typedef struct lat {
    double *s;
    size_t n, cap;
} lat;

static void lat_add(lat *l, double s)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 4096;
        double *p = realloc(l->s, c * sizeof *p);
        if (!p)
            return; /* a lost sample, not a lost run */
        l->s = p;
        l->cap = c;
    }
    l->s[l->n++] = s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of a sorted sample. */
static double quantile(const lat *l, double q)
{
    if (!l->n)
        return 0;
    size_t i = (size_t)ceil(q * (double)l->n);
    return l->s[i ? i - 1 : 0];
}

/* ==== Sizes ==== */

typedef struct sample {
    double t;
    uint64_t count, disk, used, map;
    uint64_t ivflog, dirty; /* IVF change log entries, FAISS dirty marks */
    double ops[3]; /* remember, recall, forget per second since the last */
    double cpu;    /* this process's CPU seconds so far */
    double cpu_round; /* CPU ms per round since the last sample: unlike the
                         rates, blind to other processes on the machine */
} sample;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int take_sample(cvs_db *db, const char *path, double t, sample *s)
{
    cvs_info info;
    MDB_envinfo ei;
    MDB_stat st;
    int rc;
    if ((rc = cvs_db_info(db, &info)))
        return rc;
    mdb_env_info(db->env, &ei);
    mdb_env_stat(db->env, &st);
    s->t = t;
    s->count = info.count;
    s->map = info.map_bytes;
    s->disk = bu_dir_bytes(path);
    s->used = ((uint64_t)ei.me_last_pgno + 1) * st.ms_psize;
    s->ivflog = s->dirty = 0;
    {
        cvs_index_info ii;
        MDB_txn *txn;
        MDB_stat ls;
        if (cvs_index_get_info(db, &ii) == 0)
            s->dirty = ii.dirty;
        if (cvs__codes(db)->has_ivf_dbis && mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn) == 0) {
            if (mdb_stat(txn, cvs__codes(db)->dbi_ivflog, &ls) == 0)
                s->ivflog = ls.ms_entries;
            mdb_txn_abort(txn);
        }
    }
    return 0;
}

static int plot(const sample *sm, size_t n, const char *path, const char *title)
{
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        fprintf(stderr, "cvstore-bench soak: cannot run gnuplot; no plot written\n");
        return -1;
    }
    fprintf(g, "$d << EOD\n");
    for (size_t i = 0; i < n; i++)
        fprintf(g, "%.1f %.3f %.3f %llu\n", sm[i].t, sm[i].disk / 1048576.0, sm[i].used / 1048576.0,
                (unsigned long long)sm[i].count);
    fprintf(g, "EOD\n"
               "set terminal svg size 720,420 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
               "set output '%s'\nset title '%s'\nset grid\nset key bottom right\n"
               "set xlabel 'seconds'\nset ylabel 'MiB'\nset yrange [0:*]\n"
               "set y2label 'live memories'\nset y2tics\nset y2range [0:*]\n"
               "plot $d using 1:2 with lines lw 2 title 'store on disk', "
               "$d using 1:3 with lines lw 2 dt 2 title 'LMDB pages in use (high-water)', "
               "$d using 1:4 axes x1y2 with lines lw 1 title 'live memories'\n",
            path, title);
    if (pclose(g) != 0) {
        fprintf(stderr, "cvstore-bench soak: gnuplot failed; plot %s may be missing\n", path);
        return -1;
    }
    fprintf(stderr, "cvstore-bench soak: plot written to %s\n", path);
    return 0;
}

/* ==== The run ==== */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench soak [--seconds S] [--live N] [--recalls R] [--sample S]\n"
        "                          [--embedder glove|synthetic] [--seed N] [--threads T]\n"
        "                          [--index none|ivf|faiss:FACTORY] [--codec SPEC]\n"
        "                          [--dir TMPDIR] [--csv PATH] [--plot PATH.svg | --no-plot]\n"
        "Remembers, recalls and forgets (cvs_mem_*) in a fresh text store for S seconds\n"
        "with a constant live set: each round remembers one memory, forgets the oldest\n"
        "and recalls R times.  Reports ops/s and p50/p99 latency per operation and the\n"
        "store's size every few seconds.\n"
        "  --seconds S    duration after the live set is filled (default 120)\n"
        "  --live N       memories kept (default 2000)\n"
        "  --recalls R    recalls per round (default 2)\n"
        "  --sample S     seconds between size samples (default 5)\n"
        "  --embedder E   glove (SIF over the GloVe cache; the default when it exists)\n"
        "                 or synthetic (SIF over random vectors of made-up words)\n"
        "  --index I      once the live set is full, build an ANN index: none (default),\n"
        "                 ivf (over the --codec codes) or faiss:FACTORY (e.g.\n"
        "                 faiss:IVF64,Flat), maintained by every round from then on\n"
        "  --codec C      codec for --index ivf (default pq50x4)\n"
        "  --seed N       text generator seed (default 1)\n"
        "  --threads T    BLAS and OpenMP threads (default 1)\n"
        "  --dir DIR      where to make the temporary store (default $TMPDIR or /tmp)\n"
        "  --csv PATH     also write the size samples as CSV\n"
        "  --plot PATH    size over time (gnuplot SVG; default: the CSV's path with\n"
        "                 .svg, else no plot)\n");
}

enum { OP_REMEMBER, OP_RECALL, OP_FORGET };
static const char *const op_name[] = {"remember", "recall", "forget"};

int bench_soak(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seconds", required_argument, 0, 's'}, {"live", required_argument, 0, 'l'},
        {"recalls", required_argument, 0, 'r'}, {"sample", required_argument, 0, 'S'},
        {"embedder", required_argument, 0, 'e'}, {"seed", required_argument, 0, 'x'},
        {"dir", required_argument, 0, 'd'}, {"csv", required_argument, 0, 'c'},
        {"plot", required_argument, 0, 'p'}, {"no-plot", no_argument, 0, 'P'},
        {"threads", required_argument, 0, 't'}, {"index", required_argument, 0, 'i'},
        {"codec", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    double seconds = 120, every = 5;
    size_t live = 2000, recalls = 2;
    int threads = 1;
    uint64_t rng = 1;
    const char *embedder = NULL, *parent = NULL, *csv = NULL, *plotpath = NULL;
    const char *index = NULL, *codec = "pq50x4";
    int noplot = 0, c, ret = 2, glove;
    char fvecs[4096], words[4096], storepath[4200], plotbuf[4200], text[1024], query[256];
    vocab voc = {0};
    cvs_db *db = NULL;
    char *dir = NULL, **ids = NULL, **texts = NULL;
    lat lats[3] = {{0}};
    sample *sm = NULL;
    size_t nsm = 0, capsm = 0, head = 0, dups = 0;
    uint64_t opcount[3] = {0}, lastcount[3] = {0};

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': seconds = atof(optarg); break;
        case 'l': live = strtoul(optarg, NULL, 10); break;
        case 'r': recalls = strtoul(optarg, NULL, 10); break;
        case 'S': every = atof(optarg); break;
        case 'e': embedder = optarg; break;
        case 'x': rng = strtoull(optarg, NULL, 10) | 1; break;
        case 'd': parent = optarg; break;
        case 'c': csv = optarg; break;
        case 'p': plotpath = optarg; break;
        case 'P': noplot = 1; break;
        case 't': threads = atoi(optarg); break;
        case 'i': index = strcmp(optarg, "none") ? optarg : NULL; break;
        case 'C': codec = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc || !(seconds > 0) || !(every > 0) || live < 1 || threads < 1 ||
        (embedder && strcmp(embedder, "glove") && strcmp(embedder, "synthetic"))) {
        usage(stderr);
        return 1;
    }
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    glove = embedder ? !strcmp(embedder, "glove") : 0;
    if (!embedder || glove) {
        int have = bu_glove_paths(fvecs, words, sizeof fvecs) == 0;
        if (glove && !have)
            return 1;
        glove = have;
    }
    if (glove ? vocab_glove(words, &voc) : vocab_syllables(&voc)) {
        fprintf(stderr, "cvstore-bench soak: cannot make a vocabulary\n");
        goto out;
    }
    if (!(dir = bu_tmpdir(parent)))
        goto out;
    snprintf(storepath, sizeof storepath, "%s/soak.cvs", dir);
    if (!glove) {
        char gdir[4200];
        snprintf(gdir, sizeof gdir, "%.4000s/glove", dir);
        if (mkdir(gdir, 0755) || synthetic_glove(&voc, gdir, rng ^ 0x9e3779b9)) {
            fprintf(stderr, "cvstore-bench soak: cannot write %s\n", gdir);
            goto out;
        }
        setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    }
    {
        cvs_create_opts co = {.dim = SYNTH_DIM, .metric = CVS_METRIC_COSINE};
        bu_check(cvs_db_create(storepath, &co, &db), "create");
        bu_check(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), "glove embedder");
    }
    if (!(ids = calloc(live, sizeof *ids)) || !(texts = calloc(live, sizeof *texts)))
        goto out;
    {
        /* The SIF common component, from texts like the ones to come. */
        enum { NFIT = 500 };
        char *ft[NFIT];
        size_t fl[NFIT];
        uint64_t r2 = rng ^ 0x5eed;
        for (size_t i = 0; i < NFIT; i++) {
            make_text(&voc, &r2, text, sizeof text);
            ft[i] = strdup(text);
            fl[i] = strlen(text);
        }
        bu_check(cvs_embed_fit(db, (const char *const *)ft, fl, NFIT), "fit");
        for (size_t i = 0; i < NFIT; i++)
            free(ft[i]);
    }
    fprintf(stderr, "cvstore-bench soak: %s embedder, %zu words; filling %zu memories\n",
            glove ? "glove (SIF)" : "synthetic (SIF)", voc.n, live);
    double t0 = bu_now();
    for (size_t i = 0; i < live;) {
        cvs_mem_remembered r;
        make_text(&voc, &rng, text, sizeof text);
        bu_check(cvs_mem_remember(db, text, 0, NULL, &r), "remember");
        if (r.outcome != CVS_MEM_ADDED) {
            dups++;
            continue;
        }
        ids[i] = strdup(r.id);
        texts[i++] = strdup(text);
    }
    fprintf(stderr, "cvstore-bench soak: filled in %.1f s\n", bu_now() - t0);
    if (index) {
        cvs_build_opts bo = {.index = index};
        t0 = bu_now();
        bu_check(cvs_build(db, strncmp(index, "faiss:", 6) ? codec : NULL, &bo), "build");
        fprintf(stderr, "cvstore-bench soak: built %s%s%s in %.1f s\n",
                strncmp(index, "faiss:", 6) ? codec : "", strncmp(index, "faiss:", 6) ? " + " : "",
                index, bu_now() - t0);
    }
    fprintf(stderr, "cvstore-bench soak: soaking for %.0f s\n", seconds);
    t0 = bu_now();
    double next = 0;
    for (;;) {
        double now = bu_now() - t0, t;
        if (now >= next || now >= seconds) {
            if (nsm == capsm) {
                capsm = capsm ? capsm * 2 : 64;
                sample *p = realloc(sm, capsm * sizeof *p);
                if (!p)
                    goto out;
                sm = p;
            }
            bu_check(take_sample(db, storepath, now, &sm[nsm]), "sample");
            sm[nsm].cpu = cpu_now();
            sm[nsm].cpu_round =
                nsm && opcount[OP_REMEMBER] > lastcount[OP_REMEMBER]
                    ? (sm[nsm].cpu - sm[nsm - 1].cpu) * 1e3 /
                          (double)(opcount[OP_REMEMBER] - lastcount[OP_REMEMBER])
                    : 0;
            for (int o = 0; o < 3; o++) {
                double dt = nsm ? now - sm[nsm - 1].t : 0;
                sm[nsm].ops[o] = dt > 0 ? (double)(opcount[o] - lastcount[o]) / dt : 0;
                lastcount[o] = opcount[o];
            }
            fprintf(stderr, "  %6.0f s  %llu live  %.1f MiB on disk  %.1f MiB in use\n", now,
                    (unsigned long long)sm[nsm].count, sm[nsm].disk / 1048576.0,
                    sm[nsm].used / 1048576.0);
            nsm++;
            next += every;
            if (now >= seconds)
                break;
        }
        /* One round: remember, forget the oldest, recall. */
        cvs_mem_remembered r;
        make_text(&voc, &rng, text, sizeof text);
        t = bu_now();
        bu_check(cvs_mem_remember(db, text, 0, NULL, &r), "remember");
        lat_add(&lats[OP_REMEMBER], bu_now() - t);
        opcount[OP_REMEMBER]++;
        if (r.outcome == CVS_MEM_ADDED) {
            size_t forgotten;
            t = bu_now();
            bu_check(cvs_mem_forget(db, NULL, ids[head], 0, NULL, 0, &forgotten), "forget");
            lat_add(&lats[OP_FORGET], bu_now() - t);
            opcount[OP_FORGET]++;
            if (forgotten != 1) {
                fprintf(stderr, "cvstore-bench soak: forget of %s removed %zu\n", ids[head],
                        forgotten);
                goto out;
            }
            free(ids[head]);
            free(texts[head]);
            ids[head] = strdup(r.id);
            texts[head] = strdup(text);
            head = (head + 1) % live;
        } else {
            dups++;
        }
        for (size_t i = 0; i < recalls; i++) {
            cvs_mem_recall_opts ro = {.k = 10, .token_budget = 256};
            cvs_mem_items items = {0};
            make_query(texts[rng_next(&rng) % live], 4, query, sizeof query);
            t = bu_now();
            bu_check(cvs_mem_recall(db, query, 0, &ro, &items), "recall");
            lat_add(&lats[OP_RECALL], bu_now() - t);
            opcount[OP_RECALL]++;
            cvs_mem_items_free(&items);
        }
    }
    double wall = bu_now() - t0;

    /* ==== Report ==== */
    double load = 0;
    if (getloadavg(&load, 1) != 1)
        load = NAN;
    printf("soak: %.0f s, %zu live memories, %zu recalls per round, %s embedder, %d thread%s, "
           "index %s; %zu texts were duplicates or merges; load average at the end %.1f\n\n",
           wall, live, recalls, glove ? "glove (SIF)" : "synthetic (SIF)", threads,
           threads > 1 ? "s" : "", index ? index : "none", dups, load);
    {
        const char *const hdr[] = {"op", "count", "ops/s", "p50 ms", "p99 ms", "max ms"};
        bu_table *tb = bu_table_new(6, hdr);
        for (int o = 0; o < 3; o++) {
            lat *l = &lats[o];
            qsort(l->s, l->n, sizeof *l->s, cmp_double);
            bu_table_row(tb);
            bu_table_cell(tb, "%s", op_name[o]);
            bu_table_cell(tb, "%llu", (unsigned long long)opcount[o]);
            bu_table_cell(tb, "%.1f", (double)opcount[o] / wall);
            bu_table_cell(tb, "%.2f", quantile(l, 0.50) * 1e3);
            bu_table_cell(tb, "%.2f", quantile(l, 0.99) * 1e3);
            bu_table_cell(tb, "%.2f", l->n ? l->s[l->n - 1] * 1e3 : 0);
        }
        bu_table_print(tb);
        bu_table_free(tb);
    }
    printf("\n");
    {
        const char *const hdr[] = {"t s", "live", "disk MiB", "in use MiB", "map MiB",
                                   "ivflog", "dirty", "remember/s", "recall/s", "forget/s",
                                   "cpu ms/round"};
        bu_table *tb = bu_table_new(11, hdr);
        for (size_t i = 0; i < nsm; i++) {
            bu_table_row(tb);
            bu_table_cell(tb, "%.0f", sm[i].t);
            bu_table_cell(tb, "%llu", (unsigned long long)sm[i].count);
            bu_table_cell(tb, "%.2f", sm[i].disk / 1048576.0);
            bu_table_cell(tb, "%.2f", sm[i].used / 1048576.0);
            bu_table_cell(tb, "%.0f", sm[i].map / 1048576.0);
            bu_table_cell(tb, "%llu", (unsigned long long)sm[i].ivflog);
            bu_table_cell(tb, "%llu", (unsigned long long)sm[i].dirty);
            for (int o = 0; o < 3; o++)
                bu_table_cell(tb, "%.1f", sm[i].ops[o]);
            bu_table_cell(tb, "%.1f", sm[i].cpu_round);
        }
        bu_table_print(tb);
        if (csv && bu_table_csv(tb, csv) == 0)
            fprintf(stderr, "cvstore-bench soak: CSV written to %s\n", csv);
        bu_table_free(tb);
    }
    if (nsm >= 3) {
        /* Growth over the second half against the first half's: a store
         * that reuses its pages levels off. */
        const sample *a = &sm[0], *m = &sm[nsm / 2], *z = &sm[nsm - 1];
        printf("\nin use: %.2f MiB at start, %.2f at %.0f s, %.2f at the end: %+.1f%% over "
               "the first half, %+.1f%% over the second\n",
               a->used / 1048576.0, m->used / 1048576.0, m->t, z->used / 1048576.0,
               100.0 * ((double)m->used - (double)a->used) / (double)a->used,
               100.0 * ((double)z->used - (double)m->used) / (double)m->used);
    }
    if (!noplot && (plotpath || csv)) {
        if (!plotpath) {
            const char *dot = strrchr(csv, '.');
            if (dot && !strchr(dot, '/'))
                snprintf(plotbuf, sizeof plotbuf, "%.*s.svg", (int)(dot - csv), csv);
            else
                snprintf(plotbuf, sizeof plotbuf, "%s.svg", csv);
            plotpath = plotbuf;
        }
        char title[200];
        snprintf(title, sizeof title, "cvstore soak: %zu live memories, %s embedder", live,
                 glove ? "glove" : "synthetic");
        plot(sm, nsm, plotpath, title);
    }
    ret = 0;
out:
    cvs_db_close(db);
    if (dir) {
        bu_rmrf(dir);
        free(dir);
    }
    for (size_t i = 0; ids && i < live; i++) {
        free(ids[i]);
        free(texts[i]);
    }
    free(ids);
    free(texts);
    free(sm);
    for (int o = 0; o < 3; o++)
        free(lats[o].s);
    vocab_free(&voc);
    return ret;
}
