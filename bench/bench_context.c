/*
 * bench_context.c -- `cvstore-bench context`: do context sets answer
 * multi-hop questions within a token budget?
 *
 * For each data set (HotpotQA, MuSiQue as prepared under
 * ../shared/data/multihop-qa: corpus.jsonl, queries.jsonl, qrels.tsv) the
 * corpus is imported into a fresh store with the built-in glove embedder,
 * linked (title mentions) and given its kNN graph, exactly as a user would
 * with `cvstore init --embedder glove`, `import` and `link`.  Then every
 * question is answered at every budget by every strategy (diverse, mmr,
 * topk over the graph-expanded hybrid pool; bm25 and vector top-k alone as
 * baselines) and scored against the gold passages of qrels.tsv:
 *   full   share of questions whose context holds every gold passage
 *   recall mean share of gold passages in the context
 *   tokens mean tokens used (cvs_tokens_estimate)
 *   p50/p99 latency of the whole cvs_txn_context call (embedding the
 *          question included), one thread; run under `taskset -c 0` to pin
 *          it to one core.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

typedef struct question {
    char *id, *text;
    char **gold;
    size_t ngold;
} question;

typedef struct qset {
    question *q;
    size_t n, cap;
} qset;

static void qset_free(qset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->q[i].id);
        free(s->q[i].text);
        for (size_t g = 0; g < s->q[i].ngold; g++)
            free(s->q[i].gold[g]);
        free(s->q[i].gold);
    }
    free(s->q);
    memset(s, 0, sizeof *s);
}

static question *find_q(qset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->q[i].id, id))
            return &s->q[i];
    return NULL;
}

static int load_questions(const char *dir, size_t offset, size_t limit, qset *s)
{
    char path[4400], *line = NULL;
    size_t cap = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    if (!(f = fopen(path, "r"))) {
        perror(path);
        return -1;
    }
    for (size_t lineno = 0; getline(&line, &cap, f) > 0 && (!limit || s->n < limit); lineno++) {
        json_t *j, *id, *qt;
        if (lineno < offset || !(j = json_loads(line, 0, NULL)))
            continue;
        id = json_object_get(j, "id");
        qt = json_object_get(j, "question");
        if (json_is_string(id) && json_is_string(qt)) {
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                s->q = realloc(s->q, s->cap * sizeof *s->q);
            }
            s->q[s->n++] = (question){strdup(json_string_value(id)),
                                      strdup(json_string_value(qt)), NULL, 0};
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    /* Gold passages from qrels.tsv (query-id, corpus-id, score). */
    snprintf(path, sizeof path, "%s/qrels.tsv", dir);
    if (!(f = fopen(path, "r"))) {
        perror(path);
        return -1;
    }
    line = NULL;
    cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *sv = NULL, *qid = strtok_r(line, "\t\r\n", &sv), *cid = strtok_r(NULL, "\t\r\n", &sv);
        question *q;
        if (!qid || !cid || !strcmp(qid, "query-id") || !(q = find_q(s, qid)))
            continue;
        q->gold = realloc(q->gold, (q->ngold + 1) * sizeof *q->gold);
        q->gold[q->ngold++] = strdup(cid);
    }
    free(line);
    fclose(f);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench context [--data DIR] [--datasets hotpotqa,musique]\n"
        "                             [--offset N] [--limit N]\n"
        "                             [--budgets 256,512,1024] [--strategies LIST] [--csv PATH]\n"
        "                             [--dir TMPDIR] [tuning options]\n"
        "Imports each data set's corpus.jsonl (glove embedder, mention links, kNN graph)\n"
        "and scores context sets against qrels.tsv: full-support rate, gold recall,\n"
        "tokens, p50/p99 latency, per strategy and budget.\n"
        "  --data DIR        the multihop-qa folder (default ../shared/data/multihop-qa\n"
        "                    next to the source tree)\n"
        "  --offset N        skip the first N questions of each data set (a held-out\n"
        "                    part when tuning on the first N; default 0)\n"
        "  --limit N         at most N questions of each data set (default all)\n"
        "  --strategies L    of diverse,mmr,topk,bm25,vector (default all)\n"
        "  tuning (defaults: cvs_context_opts_init): --hops N --fanout N --beam N\n"
        "  --seeds N --depth N --decay X --lambda X --coverage X --lexical-weight X\n"
        "  --fusion rrf|weighted --dup X --pool N --no-links --no-knn --knn K\n"
        "  --title-weight X --knn-weight X --rrf-k X --bridges N --bridge-weight X\n");
}

int bench_context(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'D'}, {"datasets", required_argument, 0, 'S'},
        {"limit", required_argument, 0, 'n'},
        {"offset", required_argument, 0, 'O'}, {"budgets", required_argument, 0, 'B'},
        {"strategies", required_argument, 0, 'T'}, {"csv", required_argument, 0, 'c'},
        {"dir", required_argument, 0, 'd'}, {"hops", required_argument, 0, 'H'},
        {"fanout", required_argument, 0, 'f'}, {"beam", required_argument, 0, 'b'},
        {"seeds", required_argument, 0, 's'}, {"depth", required_argument, 0, 'p'},
        {"decay", required_argument, 0, 'y'}, {"lambda", required_argument, 0, 'l'},
        {"coverage", required_argument, 0, 'v'}, {"lexical-weight", required_argument, 0, 'w'},
        {"fusion", required_argument, 0, 'u'}, {"dup", required_argument, 0, 'x'},
        {"pool", required_argument, 0, 'P'}, {"no-links", no_argument, 0, 'L'},
        {"no-knn", no_argument, 0, 'K'}, {"knn", required_argument, 0, 'k'},
        {"title-weight", required_argument, 0, 'W'}, {"knn-weight", required_argument, 0, 'N'},
        {"rrf-k", required_argument, 0, 'R'}, {"bridges", required_argument, 0, 'g'},
        {"bridge-weight", required_argument, 0, 'G'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = CVS_SOURCE_DIR "/../shared/data/multihop-qa", *parent = NULL, *csv = NULL;
    char datasets[256] = "hotpotqa,musique", budgets_s[256] = "256,512,1024";
    char strategies_s[256] = "bm25,vector,topk,mmr,diverse";
    size_t limit = 0, offset = 0, knn_k = 16;
    cvs_context_opts base;
    int c, ret = 0;
    static const char *const header[] = {"dataset", "strategy", "budget", "questions",
                                         "full_support", "gold_recall", "tokens", "p50_ms",
                                         "p99_ms"};
    bu_table *tab;

    cvs_context_opts_init(&base);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': data = optarg; break;
        case 'S': snprintf(datasets, sizeof datasets, "%s", optarg); break;
        case 'n': limit = strtoul(optarg, NULL, 10); break;
        case 'O': offset = strtoul(optarg, NULL, 10); break;
        case 'B': snprintf(budgets_s, sizeof budgets_s, "%s", optarg); break;
        case 'T': snprintf(strategies_s, sizeof strategies_s, "%s", optarg); break;
        case 'c': csv = optarg; break;
        case 'd': parent = optarg; break;
        case 'H': base.hops = atoi(optarg); break;
        case 'f': base.fanout = strtoul(optarg, NULL, 10); break;
        case 'b': base.beam = strtoul(optarg, NULL, 10); break;
        case 's': base.seeds = strtoul(optarg, NULL, 10); break;
        case 'p': base.depth = strtoul(optarg, NULL, 10); break;
        case 'y': base.decay = strtof(optarg, NULL); break;
        case 'l': base.lambda = strtof(optarg, NULL); break;
        case 'v': base.coverage = strtof(optarg, NULL); break;
        case 'w': base.lexical_weight = strtof(optarg, NULL); break;
        case 'u': base.fusion = strcmp(optarg, "weighted") ? CVS_FUSION_RRF : CVS_FUSION_WEIGHTED; break;
        case 'x': base.dup_threshold = strtof(optarg, NULL); break;
        case 'P': base.max_pool = strtoul(optarg, NULL, 10); break;
        case 'L': base.use_links = 0; break;
        case 'K': base.use_knn = 0; break;
        case 'k': knn_k = strtoul(optarg, NULL, 10); break;
        case 'W': base.title_weight = strtof(optarg, NULL); break;
        case 'N': base.knn_weight = strtof(optarg, NULL); break;
        case 'R': base.rrf_k = strtof(optarg, NULL); break;
        case 'g': base.bridges = strtoul(optarg, NULL, 10); break;
        case 'G': base.bridge_weight = strtof(optarg, NULL); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    tab = bu_table_new(9, header);
    char *dsave = NULL;
    for (char *ds = strtok_r(datasets, ",", &dsave); ds; ds = strtok_r(NULL, ",", &dsave)) {
        char dir[4200], corpus[4300], store[4300], *tmp;
        qset qs = {0};
        cvs_create_opts co = {.dim = 100, .metric = CVS_METRIC_COSINE};
        cvs_import_opts io = {.format = CVS_FMT_JSONL};
        cvs_link_stats ls;
        cvs_knn_opts ko = {.k = knn_k};
        cvs_knn_info ki;
        cvs_db *db = NULL;
        cvs_txn *t = NULL;
        double t0;

        snprintf(dir, sizeof dir, "%s/%s", data, ds);
        snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", dir);
        if (load_questions(dir, offset, limit, &qs)) {
            ret = 1;
            break;
        }
        if (!(tmp = bu_tmpdir(parent))) {
            ret = 2;
            qset_free(&qs);
            break;
        }
        snprintf(store, sizeof store, "%s/store", tmp);
        t0 = bu_now();
        bu_check(cvs_db_create(store, &co, &db), "create");
        bu_check(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), "glove embedder");
        bu_check(cvs_import(db, corpus, &io, NULL), corpus);
        double t_imp = bu_now() - t0;
        bu_check(cvs_link_mentions(db, &ls), "link");
        bu_check(cvs_knn_build(db, &ko, &ki), "knn");
        fprintf(stderr, "%s: %zu questions; import %.1f s; %llu mention links from %llu records "
                "(%.2f s); kNN k=%zu %.2f s, recall %.3f\n", ds, qs.n, t_imp,
                (unsigned long long)ls.links, (unsigned long long)ls.sources, ls.seconds, ki.k,
                ki.seconds, ki.recall);
        bu_check(cvs_txn_begin(db, &t), "txn");
        {   /* Warm-up: loads the word vectors and the flat vectors once. */
            cvs_context_result r;
            bu_check(cvs_txn_context(t, &base, "warm up", 0, NULL, &r), "warm-up");
            cvs_context_result_free(&r);
        }
        char bcopy[256], scopy[256];
        snprintf(scopy, sizeof scopy, "%s", strategies_s);
        char *ssave = NULL;
        for (char *sn = strtok_r(scopy, ",", &ssave); sn; sn = strtok_r(NULL, ",", &ssave)) {
            cvs_context_strategy st;
            bu_check(cvs_context_strategy_parse(sn, &st), "--strategies");
            snprintf(bcopy, sizeof bcopy, "%s", budgets_s);
            char *bsave = NULL;
            for (char *bs = strtok_r(bcopy, ",", &bsave); bs; bs = strtok_r(NULL, ",", &bsave)) {
                cvs_context_opts o = base;
                double *lat = malloc((qs.n + 1) * sizeof *lat), full = 0, rec = 0, tok = 0;
                size_t nq = 0;
                o.strategy = st;
                o.budget = strtoul(bs, NULL, 10);
                for (size_t i = 0; i < qs.n; i++) {
                    question *q = &qs.q[i];
                    cvs_context_result r;
                    size_t hit = 0;
                    if (!q->ngold)
                        continue;
                    double a = bu_now();
                    bu_check(cvs_txn_context(t, &o, q->text, 0, NULL, &r), q->id);
                    lat[nq++] = (bu_now() - a) * 1e3;
                    for (size_t g = 0; g < q->ngold; g++)
                        for (size_t k = 0; k < r.n; k++)
                            if (strlen(q->gold[g]) == r.items[k].id_len &&
                                !memcmp(q->gold[g], r.items[k].id, r.items[k].id_len)) {
                                hit++;
                                break;
                            }
                    full += hit == q->ngold;
                    rec += (double)hit / (double)q->ngold;
                    tok += (double)r.tokens;
                    cvs_context_result_free(&r);
                }
                qsort(lat, nq, sizeof *lat, cmp_double);
                bu_table_row(tab);
                bu_table_cell(tab, "%s", ds);
                bu_table_cell(tab, "%s", sn);
                bu_table_cell(tab, "%zu", o.budget);
                bu_table_cell(tab, "%zu", nq);
                bu_table_cell(tab, "%.3f", nq ? full / (double)nq : 0);
                bu_table_cell(tab, "%.3f", nq ? rec / (double)nq : 0);
                bu_table_cell(tab, "%.0f", nq ? tok / (double)nq : 0);
                bu_table_cell(tab, "%.2f", nq ? lat[nq / 2] : 0);
                bu_table_cell(tab, "%.2f", nq ? lat[(size_t)((double)(nq - 1) * 0.99)] : 0);
                fprintf(stderr, "%s %s %zu: full %.3f recall %.3f\n", ds, sn, o.budget,
                        nq ? full / (double)nq : 0, nq ? rec / (double)nq : 0);
                free(lat);
            }
        }
        cvs_txn_end(t);
        cvs_db_close(db);
        bu_rmrf(tmp);
        free(tmp);
        qset_free(&qs);
    }
    bu_table_print(tab);
    if (csv && bu_table_csv(tab, csv))
        ret = 2;
    bu_table_free(tab);
    return ret;
}
