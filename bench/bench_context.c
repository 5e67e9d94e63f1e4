/*
 * bench_context.c -- `cvstore-bench context`: do context sets hold the
 * evidence for a question within a token budget, on data nobody tuned on,
 * single-hop and multi-hop, clean and redundant?  This is the benchmark
 * that decides issue 15's goals.
 *
 * Sets (under --data, default ../shared/data beside the source tree; each
 * has corpus.jsonl, queries.jsonl and BEIR qrels.tsv):
 *   hotpotqa  multihop-qa/hotpotqa   685 questions, 6,640 passages, 2 gold
 *   musique   multihop-qa/musique    200 questions, 3,141 passages, 2-4 gold
 *   squad     squad2-test-half     5,915 questions, 570 passages, 1 gold
 * and --sets NAME=DIR runs any folder in that layout (a user's own QA set;
 * the templated 2Wiki-style proxy that scripts/make-templated-set.py
 * writes): its questions' "type" feeds --by-type as the others' do.
 * HotpotQA and MuSiQue carry gold answers ("answer", MuSiQue also
 * "answer_aliases"); the SQuAD half carries none (its SOURCE.md: the CS224N
 * test file has no answers).  For it the answers of a hand-labelled sample
 * are read from bench/data/squad2-test-half-answers.jsonl of the source
 * tree (200 questions of each half, written from the gold paragraph alone;
 * see bench/data/README.md), or from --answers PATH: one JSON object a
 * line, {"id", "answers": [...]} or {"id", "answerable": false}.  Answer
 * containment is then a mean over the questions that have an answer (on
 * SQuAD, the sample's answerable ones: SQuAD 2.0 mixes in questions the
 * paragraph does not answer), and every row says over how many
 * ("answer_questions" in the CSV and JSON, a note under the tables).
 *
 * Each corpus is imported into a fresh store as a user would: `init
 * --embedder glove`, `import corpus.jsonl`, then `link` (mention links and
 * the exact kNN graph, K = 16) unless --no-link.  --embedder use (the
 * Universal Sentence Encoder lite, 512-d) or --embedder minilm
 * (all-MiniLM-L6-v2, 384-d) makes the stores with that embedder instead;
 * a list such as --embedder glove,use makes one store of each per set
 * and variant and runs every method on both, each row naming its embedder
 * ("default (use)"; the CSV's and JSON's "embedder" column), so the two
 * compare on the same questions in one run.  Import times are printed per
 * store.  --store-cache DIR keeps the stores (named by set, variant, seed,
 * kNN K, embedder; each made under a temporary name and renamed when
 * finished) and opens them on later runs: a use import is slow (~85
 * passages a second on one core), and a run that only changes the query
 * pipeline need not repeat it.  A stamp file in each cached store says
 * what it was built from (the BLAKE2b-256 of the data file's contents and
 * its size, format, library version, STORE_BUILD); a store whose stamp
 * differs from this run's, or that refuses the embedder's data, is built
 * again.
 *
 * Halves.  Every question belongs to half A or half B by a hash of its id:
 * half A when the top bit of FNV-1a-64(id) is 0.  Half A is for choosing
 * rules and weights, half B for reporting them; every figure is printed for
 * A, B and all.  The split does not depend on --limit's order or on the
 * other questions, so a question never changes halves.
 *
 * Redundant variant (--variants redundant).  Real corpora repeat
 * themselves; these QA corpora are de-duplicated, so the benchmark makes a
 * redundant copy of each: every passage appears 1-4 times (the count drawn
 * from a hash of --seed and the passage id), the original first, then
 * copies lightly rewritten by one of three edits: a sentence dropped, the
 * sentences rotated, or a clause cut (the first parenthesis, else a comma
 * clause), whichever applies and keeps at least half of the text; a
 * passage where none does is copied as it is.  Copies get the ids "ID#2", "ID#3", "ID#4" and the same title; the
 * originals come first in the file, copies after them.  A gold passage is
 * found when any of its copies is.
 *
 * Methods, all in the same run:
 *   bm25-topk    BM25 ranking (cvs_txn_text_search), filled into the budget
 *   vector-topk  the embedded question's exact vector ranking, filled
 *   bm25+links   "naive BM25 + title links": the BM25 ranking where each of
 *                the top 3 passages is followed by its 2 mention-linked
 *                passages with the best BM25 scores among those not placed
 *                yet (unscored ones last, in link order), then the rest of
 *                the ranking, filled
 *   default      cvs_txn_context with cvs_context_opts_init's options
 *   diverse, mmr, topk   cvs_txn_context with that strategy
 * "Filled" is the same greedy rule for every baseline: walk the ranking, a
 * passage that does not fit the remaining budget is skipped and filling
 * goes on (cvs_context's strategies never exceed the budget either).
 *
 * Metrics per set, variant, half, method and budget (default 256, 512,
 * 1024 tokens, cvs_tokens_estimate of title + text):
 *   full     share of questions whose context holds every gold passage
 *   answer   share whose context text (titles and texts) contains a gold
 *            answer or alias, both normalized as SQuAD's evaluation does
 *            (lowercase, ASCII punctuation dropped, the articles a/an/the
 *            dropped, whitespace collapsed), matched on word boundaries
 *   recall   mean share of gold passages in the context
 *   R@2, R@5 passage recall of the method's ranking before the budget
 *            fill, as HippoRAG reports it: the baselines' rankings, and
 *            for cvs_context the order its strategy picks with no budget
 *            limit (one more call per question)
 *   tokens   mean tokens used
 *   p50/p99  latency in ms: the whole cvs_txn_context call for the
 *            strategies; the ranking, record reads and fill for the
 *            baselines.  One thread; pin it with `taskset -c 0`.
 * --unit passage,sentence runs each cvs_context method also (or only) with
 * unit sentence (query/sentsel.c), as the method "NAME/sentence"; the
 * sentence-level table then adds, per budget (by default 64, 128, 256,
 * 512 for that table's purpose, see usage):
 *   srec     supporting-sentence recall: the share of the gold sentences
 *            (HotpotQA's gold_sentences, [corpus id, sentence index]) in
 *            the context -- a passage item holds all its sentences, a
 *            sentence item those it lists whole (a sentence over the
 *            budget may be listed for a clause of it, sentsel.c deviation
 *            28, and counts only when the item's text holds all of it);
 *            over the questions that have
 *            gold sentences, clean variant only (copies renumber them)
 * Output: the tables on stdout (every figure, then the issue's goals on
 * half B as differences), --csv and --json with the same rows, and
 * --per-question with one JSON line per question and method (id, half,
 * the data set's question type, per-budget outcomes, supporting-sentence
 * recall among them) for analysis.
 * --by-type adds the rows per question type (HotpotQA's bridge and
 * comparison, untyped for the questions whose source did not keep it;
 * MuSiQue's 2hop, 3hop, 4hop) and default's full support minus the better
 * of bm25-topk and bm25+links per type: an average over a set hides the
 * kind of question a rule loses on.  --half A runs half A alone (choosing
 * a rule needs no look at half B); the goals are then printed for A.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

#define MAX_BUDGETS 8
#define RANK_DEPTH 100          /* baseline rankings: enough for 1024 tokens */
#define UNLIMITED ((size_t)1 << 40)
#define SET_NAME_MAX 24         /* NAME of --sets NAME=DIR: store names, rows */

/* ==== Questions ==== */

typedef struct question {
    char *id, *text;
    char *type;             /* "bridge", "2hop", ... or NULL */
    char **gold;            /* corpus ids */
    size_t ngold;
    char **answers;         /* normalized answer and aliases */
    size_t nans;
    int half;               /* 0 = A, 1 = B */
    char **gs_id;           /* gold sentences: corpus id and index */
    uint32_t *gs_idx;
    size_t ngs;
} question;

typedef struct qset {
    question *q;
    size_t n, cap;
    int has_answers;
} qset;

static void question_free(question *q)
{
    free(q->id);
    free(q->text);
    free(q->type);
    for (size_t g = 0; g < q->ngold; g++)
        free(q->gold[g]);
    free(q->gold);
    for (size_t a = 0; a < q->nans; a++)
        free(q->answers[a]);
    free(q->answers);
    for (size_t g = 0; g < q->ngs; g++)
        free(q->gs_id[g]);
    free(q->gs_id);
    free(q->gs_idx);
}

static void qset_free(qset *s)
{
    for (size_t i = 0; i < s->n; i++)
        question_free(&s->q[i]);
    free(s->q);
    memset(s, 0, sizeof *s);
}

/* Keeps the questions of one half of s (0 = A, 1 = B), in their order. */
static void qset_keep_half(qset *s, int half)
{
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->q[i].half == half)
            s->q[m++] = s->q[i];
        else
            question_free(&s->q[i]);
    s->n = m;
}

/* The group a question's type is counted in by --by-type: the data set's
 * type ("bridge", "comparison"), MuSiQue's "3hop1", "3hop2" as "3hop" (the
 * hop count; the digit after it is the shape of the chain, and each shape
 * alone holds a handful of questions), "untyped" for none. */
static void type_group(const char *type, char *out, size_t cap)
{
    const char *h = type ? strstr(type, "hop") : NULL;
    if (!type)
        snprintf(out, cap, "untyped");
    else if (h && h > type && isdigit((unsigned char)type[0]))
        snprintf(out, cap, "%.*s", (int)(h - type + 3), type);
    else
        snprintf(out, cap, "%s", type);
}

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n ? n : 1);
    if (!r) {
        fprintf(stderr, "cvstore-bench: out of memory\n");
        exit(2);
    }
    return r;
}

static char *xstrdup(const char *s)
{
    char *r = strdup(s);
    if (!r) {
        fprintf(stderr, "cvstore-bench: out of memory\n");
        exit(2);
    }
    return r;
}

/* SQuAD's answer normalization (lowercase, punctuation and articles out,
 * whitespace collapsed), on ASCII; other bytes are kept as they are.  The
 * result has one space before and after every word, so that " w1 w2 " is
 * found in another normalized text only on word boundaries.  Malloc'd. */
static char *normalize(const char *s, size_t n)
{
    char *out = xrealloc(NULL, n + 3), *w = out;
    size_t i = 0;
    *w++ = ' ';
    while (i < n) {
        size_t b, e;
        while (i < n && (isspace((unsigned char)s[i]) || ispunct((unsigned char)s[i])))
            i++;
        /* a word: up to white space; punctuation inside it is dropped, as
         * SQuAD does before splitting ("U.S." -> "us") */
        b = i;
        while (i < n && !isspace((unsigned char)s[i]))
            i++;
        e = i;
        char *start = w;
        for (size_t k = b; k < e; k++)
            if (!ispunct((unsigned char)s[k]))
                *w++ = (char)tolower((unsigned char)s[k]);
        size_t wl = (size_t)(w - start);
        if (wl == 0)
            continue;
        if ((wl == 1 && start[0] == 'a') || (wl == 2 && !memcmp(start, "an", 2)) ||
            (wl == 3 && !memcmp(start, "the", 3))) {
            w = start;
            continue;
        }
        *w++ = ' ';
    }
    *w = '\0';
    return out;
}

static void add_answer(question *q, const char *a)
{
    char *n = normalize(a, strlen(a));
    if (strlen(n) <= 1) { /* nothing left ("the") */
        free(n);
        return;
    }
    q->answers = xrealloc(q->answers, (q->nans + 1) * sizeof *q->answers);
    q->answers[q->nans++] = n;
}

static question *find_q(qset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->q[i].id, id))
            return &s->q[i];
    return NULL;
}

/* The first `limit` questions (0 = all) of dir/queries.jsonl, their gold
 * passages from dir/qrels.tsv and answers from "answer" and
 * "answer_aliases" where present. */
static int load_questions(const char *dir, size_t limit, qset *s)
{
    char path[4400], *line = NULL;
    size_t cap = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    if (!(f = fopen(path, "r"))) {
        perror(path);
        return -1;
    }
    while (getline(&line, &cap, f) > 0 && (!limit || s->n < limit)) {
        json_t *j = json_loads(line, 0, NULL), *id, *qt, *ans, *al;
        if (!j)
            continue;
        id = json_object_get(j, "id");
        qt = json_object_get(j, "question");
        if (json_is_string(id) && json_is_string(qt)) {
            question *q;
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                s->q = xrealloc(s->q, s->cap * sizeof *s->q);
            }
            q = &s->q[s->n++];
            memset(q, 0, sizeof *q);
            q->id = xstrdup(json_string_value(id));
            q->text = xstrdup(json_string_value(qt));
            q->half = (int)(fnv1a64(q->id, strlen(q->id)) >> 63);
            if (json_is_string(json_object_get(j, "type")))
                q->type = xstrdup(json_string_value(json_object_get(j, "type")));
            if (json_is_string(ans = json_object_get(j, "answer")))
                add_answer(q, json_string_value(ans));
            if (json_is_array(al = json_object_get(j, "answer_aliases"))) {
                size_t k;
                json_t *v;
                json_array_foreach(al, k, v)
                    if (json_is_string(v))
                        add_answer(q, json_string_value(v));
            }
            s->has_answers |= q->nans > 0;
            if (json_is_array(al = json_object_get(j, "gold_sentences"))) {
                size_t k;
                json_t *v;
                char nb[32];
                json_array_foreach(al, k, v) {
                    json_t *pid = json_array_get(v, 0), *six = json_array_get(v, 1);
                    if (!json_is_integer(six) || !(json_is_integer(pid) || json_is_string(pid)))
                        continue;
                    if (json_is_integer(pid))
                        snprintf(nb, sizeof nb, "%" JSON_INTEGER_FORMAT, json_integer_value(pid));
                    q->gs_id = xrealloc(q->gs_id, (q->ngs + 1) * sizeof *q->gs_id);
                    q->gs_idx = xrealloc(q->gs_idx, (q->ngs + 1) * sizeof *q->gs_idx);
                    q->gs_id[q->ngs] = xstrdup(json_is_integer(pid) ? nb : json_string_value(pid));
                    q->gs_idx[q->ngs++] = (uint32_t)json_integer_value(six);
                }
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
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
        q->gold = xrealloc(q->gold, (q->ngold + 1) * sizeof *q->gold);
        q->gold[q->ngold++] = xstrdup(cid);
    }
    free(line);
    fclose(f);
    return 0;
}

/* Answers kept apart from the questions (--answers; the SQuAD sample of
 * bench/data): one JSON object a line, {"id", "answers": [strings]} or
 * {"id", "answerable": false}.  A labelled question of s gets the answers;
 * one marked unanswerable gets none and so stays out of answer containment
 * (a question the paragraph does not answer cannot be contained); ids that
 * s does not hold (the other half, past --limit) are skipped.  A line that
 * is not such an object is an error naming the line: a label file read
 * wrong would change a figure silently.  *labelled and *answerable count
 * the lines that matched a question of s. */
static int load_answer_file(const char *path, qset *s, size_t *labelled, size_t *answerable)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = 0;
    FILE *f = fopen(path, "r");
    *labelled = *answerable = 0;
    if (!f) {
        perror(path);
        return -1;
    }
    while (!rc && getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL), *id, *ans, *v;
        int ok, unans;
        size_t k;
        lineno++;
        id = json_object_get(j, "id");
        ans = json_object_get(j, "answers");
        unans = json_is_false(json_object_get(j, "answerable"));
        ok = json_is_string(id) && (unans || (json_is_array(ans) && json_array_size(ans) > 0));
        json_array_foreach(ans, k, v)
            ok &= json_is_string(v);
        if (!ok) {
            fprintf(stderr, "cvstore-bench context: %s line %zu: expected {\"id\", \"answers\": "
                    "[strings]} or {\"id\", \"answerable\": false}\n", path, lineno);
            rc = -1;
        } else {
            question *q = find_q(s, json_string_value(id));
            if (q) {
                ++*labelled;
                if (!unans) {
                    json_array_foreach(ans, k, v)
                        add_answer(q, json_string_value(v));
                    *answerable += q->nans > 0;
                }
                s->has_answers |= q->nans > 0;
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return rc;
}

/* ==== The redundant variant ==== */

typedef struct span {
    size_t b, e; /* [b, e) of the text, without the separating space */
} span;

/* Sentence boundaries: [.!?] then a space then an ASCII capital or digit,
 * where the word before the mark has 3 or more letters (so "St. Louis" and
 * "U.S. Army" stay whole).  Good enough to make plausible rewrites. */
static size_t sentences(const char *t, size_t n, span *sp, size_t cap)
{
    size_t ns = 0, b = 0;
    for (size_t i = 0; i + 2 < n; i++) {
        if ((t[i] == '.' || t[i] == '!' || t[i] == '?') && t[i + 1] == ' ' &&
            (isupper((unsigned char)t[i + 2]) || isdigit((unsigned char)t[i + 2]))) {
            size_t w = i, letters = 0;
            while (w > b && isalpha((unsigned char)t[w - 1])) {
                w--;
                letters++;
            }
            if (letters < 3)
                continue;
            if (ns + 1 < cap)
                sp[ns++] = (span){b, i + 1};
            b = i + 2;
        }
    }
    if (b < n)
        sp[ns++] = (span){b, n};
    return ns;
}

/* Appends t[b, e) to the buffer (with a space before it when not empty). */
static void cat_span(char *buf, size_t *len, const char *t, size_t b, size_t e)
{
    if (*len && e > b)
        buf[(*len)++] = ' ';
    memcpy(buf + *len, t + b, e - b);
    *len += e - b;
    buf[*len] = '\0';
}

/* A clause cut in t: the first " (...)" if any, else a ", ...," or a
 * trailing ", ...[.]" inside one sentence.  Writes the result to out,
 * returns 0 when there is nothing to cut. */
static int cut_clause(const char *t, size_t n, uint64_t *rng, char *out)
{
    const char *p = memchr(t, '(', n), *q;
    size_t b, e;
    if (p && (q = memchr(p, ')', n - (size_t)(p - t)))) {
        b = (size_t)(p - t);
        e = (size_t)(q - t) + 1;
        if (b > 0 && t[b - 1] == ' ')
            b--;
    } else {
        /* the k-th comma, k drawn, that has a word after it */
        size_t commas = 0, k;
        for (size_t i = 0; i + 1 < n; i++)
            commas += t[i] == ',' && t[i + 1] == ' ';
        if (!commas)
            return 0;
        k = splitmix64(rng) % commas;
        b = 0;
        for (size_t i = 0, c = 0; i + 1 < n; i++)
            if (t[i] == ',' && t[i + 1] == ' ' && c++ == k) {
                b = i;
                break;
            }
        /* to the next comma (a parenthetical) or the sentence's end */
        for (e = b + 1; e < n && t[e] != ',' && t[e] != '.' && t[e] != ';'; e++)
            ;
        if (e < n && t[e] == ',')
            e++; /* ", clause," -> "" keeps the sentence's flow */
        else if (b == 0)
            return 0;
    }
    memcpy(out, t, b);
    memcpy(out + b, t + e, n - e);
    out[b + n - e] = '\0';
    return e > b;
}

/* Copy `copy` (>= 2) of a passage, rewritten by one edit drawn from seed
 * and the copy number, or the next one (drop, rotate, cut) when it does not
 * apply. */
static char *rewrite(const char *t, size_t n, int copy, uint64_t seed)
{
    size_t cap = n / 2 + 4;
    span *sp = xrealloc(NULL, cap * sizeof *sp);
    size_t ns = sentences(t, n, sp, cap), len = 0;
    char *out = xrealloc(NULL, n + 2);
    uint64_t rng = seed;
    int done = 0, first = (int)((splitmix64(&rng) + (uint64_t)copy) % 3);
    out[0] = '\0';
    for (int tries = 0; tries < 3 && !done; tries++) {
        int edit = (first + tries) % 3;
        len = 0;
        out[0] = '\0';
        if (edit == 0 && ns >= 2) { /* drop one sentence */
            size_t d = splitmix64(&rng) % ns;
            for (size_t i = 0; i < ns; i++)
                if (i != d)
                    cat_span(out, &len, t, sp[i].b, sp[i].e);
            done = 1;
        } else if (edit == 1 && ns >= 2) { /* rotate the sentences */
            size_t r = 1 + splitmix64(&rng) % (ns - 1);
            for (size_t i = 0; i < ns; i++)
                cat_span(out, &len, t, sp[(i + r) % ns].b, sp[(i + r) % ns].e);
            done = 1;
        } else if (edit == 2) {
            done = cut_clause(t, n, &rng, out);
        }
        /* light: at least half of the text stays (a cut of a passage that
         * is mostly one parenthesis would leave nothing to embed) */
        if (done && strlen(out) < n / 2)
            done = 0;
    }
    if (!done) { /* one sentence, no clause: an exact copy */
        memcpy(out, t, n);
        out[n] = '\0';
    }
    free(sp);
    return out;
}

/* Writes the redundant variant of corpus (see the top of the file) to path;
 * *npass gets the passages written. */
static int write_redundant(const char *corpus, const char *path, uint64_t seed, size_t *npass)
{
    FILE *in = fopen(corpus, "r"), *out = NULL, *copies = NULL;
    char *line = NULL, cpath[4500];
    size_t cap = 0;
    int rc = -1;
    *npass = 0;
    snprintf(cpath, sizeof cpath, "%s.copies", path);
    if (!in || !(out = fopen(path, "w")) || !(copies = fopen(cpath, "w+"))) {
        perror(!in ? corpus : path);
        goto out;
    }
    while (getline(&line, &cap, in) > 0) {
        json_t *j = json_loads(line, 0, NULL), *idv, *tv;
        char id[64], *text;
        if (!j)
            continue;
        idv = json_object_get(j, "id");
        tv = json_object_get(j, "text");
        if (json_is_integer(idv))
            snprintf(id, sizeof id, "%lld", (long long)json_integer_value(idv));
        else if (json_is_string(idv))
            snprintf(id, sizeof id, "%s", json_string_value(idv));
        else {
            json_decref(j);
            continue;
        }
        json_object_del(j, "sentences");
        json_object_set_new(j, "id", json_string(id));
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(out, "%s\n", s);
        free(s);
        (*npass)++;
        uint64_t h = seed ^ fnv1a64(id, strlen(id));
        int n = 1 + (int)(splitmix64(&h) % 4);
        /* a copy: setting the copies' text frees the original's */
        text = xstrdup(json_is_string(tv) ? json_string_value(tv) : "");
        for (int c = 2; c <= n; c++) {
            char cid[80];
            char *rw = rewrite(text, strlen(text), c, splitmix64(&h));
            snprintf(cid, sizeof cid, "%s#%d", id, c);
            json_object_set_new(j, "id", json_string(cid));
            json_object_set_new(j, "text", json_string(rw));
            s = json_dumps(j, JSON_COMPACT);
            fprintf(copies, "%s\n", s);
            free(s);
            free(rw);
            (*npass)++;
        }
        free(text);
        json_decref(j);
    }
    rewind(copies);
    while (getline(&line, &cap, copies) > 0)
        fputs(line, out);
    rc = ferror(out) ? -1 : 0;
out:
    free(line);
    if (in)
        fclose(in);
    if (copies) {
        fclose(copies);
        remove(cpath);
    }
    if (out && fclose(out))
        rc = -1;
    return rc;
}

/* ==== Scoring ==== */

/* The corpus id a record stands for: its id up to a '#' (redundant copies). */
static size_t base_len(const char *id, size_t len)
{
    const char *h = memchr(id, '#', len);
    return h ? (size_t)(h - id) : len;
}

/* Gold passages found among ids[0..n): a bit per gold passage. */
static unsigned gold_hits(const question *q, const char *const *ids, const size_t *lens, size_t n)
{
    unsigned hit = 0;
    for (size_t k = 0; k < n; k++) {
        size_t bl = base_len(ids[k], lens[k]);
        for (size_t g = 0; g < q->ngold && g < 32; g++)
            if (strlen(q->gold[g]) == bl && !memcmp(q->gold[g], ids[k], bl))
                hit |= 1u << g;
    }
    return hit;
}

static int popcount(unsigned x) { return __builtin_popcount(x); }

/* A context as the bench scores it: ids and the text it puts in front of a
 * reader, in order. */
typedef struct ctx {
    const char **ids;
    size_t *lens, n, cap, tokens;
    char *text;
    size_t tlen, tcap;
} ctx;

static void ctx_reset(ctx *c)
{
    c->n = 0;
    c->tokens = 0;
    c->tlen = 0;
    if (c->text)
        c->text[0] = '\0';
}

static void ctx_add(ctx *c, const char *id, size_t id_len, const char *title, size_t tl,
                    const char *text, size_t xl)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->ids = xrealloc(c->ids, c->cap * sizeof *c->ids);
        c->lens = xrealloc(c->lens, c->cap * sizeof *c->lens);
    }
    c->ids[c->n] = id;
    c->lens[c->n++] = id_len;
    if (c->tlen + tl + xl + 3 > c->tcap) {
        c->tcap = (c->tlen + tl + xl + 3) * 2;
        c->text = xrealloc(c->text, c->tcap);
    }
    if (title) {
        memcpy(c->text + c->tlen, title, tl);
        c->tlen += tl;
        c->text[c->tlen++] = '\n';
    }
    if (text) {
        memcpy(c->text + c->tlen, text, xl);
        c->tlen += xl;
    }
    c->text[c->tlen++] = '\n';
    c->text[c->tlen] = '\0';
}

static void ctx_free(ctx *c)
{
    free(c->ids);
    free(c->lens);
    free(c->text);
}

static int contains_answer(const question *q, const ctx *c)
{
    char *norm;
    int found = 0;
    if (!q->nans || !c->tlen)
        return 0;
    norm = normalize(c->text, c->tlen);
    for (size_t a = 0; a < q->nans && !found; a++)
        found = strstr(norm, q->answers[a]) != NULL;
    free(norm);
    return found;
}

/* ==== Methods ==== */

/* The cvs_context methods come twice: unit passage, then unit sentence. */
enum { M_BM25, M_VECTOR, M_LINKS, M_DEFAULT, M_DIVERSE, M_MMR, M_TOPK, M_SDEFAULT, M_SDIVERSE,
       M_SMMR, M_STOPK, M_COUNT };
#define M_SENT_OFF (M_SDEFAULT - M_DEFAULT)
static const char *const method_names[M_COUNT] = {
    "bm25-topk", "vector-topk", "bm25+links", "default", "diverse", "mmr", "topk",
    "default/sentence", "diverse/sentence", "mmr/sentence", "topk/sentence"};

/* What one question gave under one method. */
typedef struct qres {
    unsigned char full[MAX_BUDGETS], ans[MAX_BUDGETS];
    float recall[MAX_BUDGETS], tokens[MAX_BUDGETS], ms[MAX_BUDGETS];
    float srec[MAX_BUDGETS];  /* supporting-sentence recall; -1: no gold sentences */
    float r2, r5;
} qres;

typedef struct scratch {
    int64_t *keys;
    float *scores;
    size_t cap;
    int64_t *rank;       /* the method's ranking, keys */
    size_t nrank;
    float *qvec;
    struct kv { int64_t key; float score; } *bm; /* BM25 scores by key */
    size_t nbm;
} scratch;

static int cmp_kv(const void *a, const void *b)
{
    int64_t x = ((const struct kv *)a)->key, y = ((const struct kv *)b)->key;
    return x < y ? -1 : x > y;
}

static float bm25_of(const scratch *s, int64_t key)
{
    struct kv k = {key, 0}, *f = bsearch(&k, s->bm, s->nbm, sizeof *s->bm, cmp_kv);
    return f ? f->score : -1;
}

static int in_rank(const scratch *s, int64_t key)
{
    for (size_t i = 0; i < s->nrank; i++)
        if (s->rank[i] == key)
            return 1;
    return 0;
}

/* The ranking of a baseline method into s->rank. */
static void baseline_rank(cvs_db *db, cvs_txn *t, int m, const char *text, size_t nrec,
                          scratch *s)
{
    size_t depth = m == M_LINKS ? nrec : RANK_DEPTH;
    s->nrank = 0;
    if (depth > s->cap) {
        s->cap = depth;
        s->keys = xrealloc(s->keys, depth * sizeof *s->keys);
        s->scores = xrealloc(s->scores, depth * sizeof *s->scores);
        s->rank = xrealloc(s->rank, (depth + 8) * sizeof *s->rank);
        s->bm = xrealloc(s->bm, depth * sizeof *s->bm);
    }
    if (m == M_VECTOR) {
        /* A question without a word of the vocabulary has no vector:
         * an empty ranking, as cvs_context answers it. */
        if (cvs_embed_text(db, text, 0, s->qvec))
            return;
        bu_check(cvs_txn_search(t, s->qvec, 1, depth, 0, s->keys, s->scores), "vector search");
    } else {
        bu_check(cvs_txn_text_search(t, text, strlen(text), depth, s->keys, s->scores),
                 "text search");
    }
    size_t n = 0;
    while (n < depth && s->keys[n] >= 0)
        n++;
    if (m != M_LINKS) {
        memcpy(s->rank, s->keys, n * sizeof *s->keys);
        s->nrank = n;
        return;
    }
    /* bm25+links: the BM25 scores of everything, to rank the links */
    for (size_t i = 0; i < n; i++)
        s->bm[i] = (struct kv){s->keys[i], s->scores[i]};
    s->nbm = n;
    qsort(s->bm, n, sizeof *s->bm, cmp_kv);
    for (size_t i = 0; i < n && i < RANK_DEPTH; i++) {
        cvs_record rec;
        /* one of the top 3 placed already as a link still brings its own
         * links */
        if (!in_rank(s, s->keys[i]))
            s->rank[s->nrank++] = s->keys[i];
        if (i >= 3)
            continue;
        bu_check(cvs_get_key(t, s->keys[i], &rec, NULL), "get");
        int64_t best[2] = {-1, -1};
        float bs[2] = {-2, -2};
        for (size_t l = 0; l < rec.nlinks; l++) {
            cvs_record to;
            if (cvs_get(t, rec.links[l].id, rec.links[l].id_len, &to, NULL))
                continue;
            float sc = bm25_of(s, to.key);
            if (to.key == s->keys[i] || to.key == best[0] || to.key == best[1] ||
                in_rank(s, to.key))
                continue;
            if (sc > bs[0]) {
                best[1] = best[0], bs[1] = bs[0];
                best[0] = to.key, bs[0] = sc;
            } else if (sc > bs[1]) {
                best[1] = to.key, bs[1] = sc;
            }
        }
        for (int b = 0; b < 2; b++)
            if (best[b] >= 0)
                s->rank[s->nrank++] = best[b];
    }
}

/* Fills a budget greedily from s->rank: a passage that does not fit is
 * skipped and filling goes on. */
static void fill(cvs_txn *t, const scratch *s, size_t budget, ctx *c)
{
    ctx_reset(c);
    for (size_t i = 0; i < s->nrank; i++) {
        cvs_record rec;
        bu_check(cvs_get_key(t, s->rank[i], &rec, NULL), "get");
        size_t tl = rec.title ? rec.title_len : 0, xl = rec.text ? rec.text_len : 0;
        size_t tok = cvs_tokens_estimate(tl, xl);
        if (c->tokens + tok > budget)
            continue;
        c->tokens += tok;
        ctx_add(c, rec.id, rec.id_len, rec.title, tl, rec.text, xl);
    }
}

static void score(const question *q, const ctx *c, qres *r, size_t b)
{
    unsigned hit = gold_hits(q, c->ids, c->lens, c->n);
    r->full[b] = (size_t)popcount(hit) == q->ngold;
    r->recall[b] = (float)popcount(hit) / (float)q->ngold;
    r->ans[b] = (unsigned char)contains_answer(q, c);
    r->tokens[b] = (float)c->tokens;
}

static void score_rank(const question *q, const char *const *ids, const size_t *lens, size_t n,
                       qres *r)
{
    r->r2 = (float)popcount(gold_hits(q, ids, lens, n < 2 ? n : 2)) / (float)q->ngold;
    r->r5 = (float)popcount(gold_hits(q, ids, lens, n < 5 ? n : 5)) / (float)q->ngold;
}

/* Supporting-sentence recall of a context result: item ids must equal
 * the gold corpus id (a redundant copy renumbers its sentences). */
/* Whether item it, listing sentence idx of its record, holds that
 * sentence whole: a sentence longer than the budget may be listed for the
 * clauses of it the item holds (query/sentsel.c deviation 28), which do
 * not make it recalled. */
static int holds_whole(cvs_txn *t, const cvs_context_item *it, uint32_t idx, const char *qid)
{
    uint32_t *pairs = NULL;
    size_t n = 0;
    int given, whole = 0;
    cvs_record rec;
    /* A read error ends the run (bu_check): taken for "not whole", it
     * lowered supporting-sentence recall without a word. */
    bu_check(cvs_txn_sentences(t, it->key, NULL, 0, &n, &given), qid);
    if (idx >= n)
        return 0;
    if (!(pairs = malloc(2 * n * sizeof *pairs)))
        bu_check(CVS_ENOMEM, qid);
    bu_check(cvs_txn_sentences(t, it->key, pairs, n, &n, &given), qid);
    bu_check(cvs_get_key(t, it->key, &rec, NULL), qid);
    whole = idx < n && rec.text && it->text &&
            memmem(it->text, it->text_len, rec.text + pairs[2 * idx],
                   pairs[2 * idx + 1] - pairs[2 * idx]) != NULL;
    free(pairs);
    return whole;
}

static float sentence_recall(cvs_txn *t, const question *q, const cvs_context_result *res)
{
    size_t hit = 0;
    if (!q->ngs)
        return -1;
    for (size_t g = 0; g < q->ngs; g++) {
        size_t gl = strlen(q->gs_id[g]);
        for (size_t i = 0; i < res->n; i++) {
            const cvs_context_item *it = &res->items[i];
            int in = 0;
            if (it->id_len != gl || memcmp(it->id, q->gs_id[g], gl))
                continue;
            if (!it->sentences)
                in = 1;
            for (size_t k = 0; k < it->nsentences && !in; k++)
                in = it->sentences[k] == q->gs_idx[g] && holds_whole(t, it, q->gs_idx[g], q->id);
            hit += (size_t)in;
            break;
        }
    }
    return (float)hit / (float)q->ngs;
}

/* Same for a baseline's context (whole passages). */
static float sentence_recall_ctx(const question *q, const ctx *c)
{
    size_t hit = 0;
    if (!q->ngs)
        return -1;
    for (size_t g = 0; g < q->ngs; g++)
        for (size_t i = 0; i < c->n; i++)
            if (c->lens[i] == strlen(q->gs_id[g]) && !memcmp(c->ids[i], q->gs_id[g], c->lens[i])) {
                hit++;
                break;
            }
    return (float)hit / (float)q->ngs;
}

/* Runs method m on question q at every budget. */
static void run_question(cvs_db *db, cvs_txn *t, int m, const cvs_context_opts *base,
                         const question *q, const size_t *budgets, size_t nb, size_t nrec,
                         scratch *s, ctx *c, qres *r)
{
    memset(r, 0, sizeof *r);
    if (m <= M_LINKS) {
        double t0 = bu_now();
        baseline_rank(db, t, m, q->text, nrec, s);
        double rank_s = bu_now() - t0;
        for (size_t b = 0; b < nb; b++) {
            double a = bu_now();
            fill(t, s, budgets[b], c);
            r->ms[b] = (float)((rank_s + bu_now() - a) * 1e3);
            score(q, c, r, b);
            r->srec[b] = sentence_recall_ctx(q, c);
        }
        /* ids of the ranking's first five */
        const char *ids[5];
        size_t lens[5], n = 0;
        for (size_t i = 0; i < s->nrank && n < 5; i++, n++)
            bu_check(cvs_key_id(t, s->rank[i], &ids[n], &lens[n]), "key id");
        score_rank(q, ids, lens, n, r);
        return;
    }
    cvs_context_opts o = *base;
    if (m >= M_SDEFAULT) {
        o.unit = CVS_UNIT_SENTENCE;
        m -= M_SENT_OFF;
    }
    if (m == M_DIVERSE)
        o.strategy = CVS_CONTEXT_DIVERSE;
    else if (m == M_MMR)
        o.strategy = CVS_CONTEXT_MMR;
    else if (m == M_TOPK)
        o.strategy = CVS_CONTEXT_TOPK;
    /* The question is embedded once and its vector passed with its text to
     * every call below (cvs_txn_context then embeds nothing): the same
     * sets, and the embedding's time is added to each call's, so a latency
     * is still that of one call from the text.  The use embedder takes
     * ~10 ms a question, and four calls a method made it most of the run.
     * A question the embedder refuses (no word of GloVe's vocabulary) goes
     * without a vector, as cvs_txn_context itself answers it. */
    double e0 = bu_now();
    const float *qv = cvs_embed_text(db, q->text, 0, s->qvec) ? NULL : s->qvec;
    double embed_s = bu_now() - e0;
    for (size_t b = 0; b < nb; b++) {
        cvs_context_result res;
        o.budget = budgets[b];
        double a = bu_now();
        bu_check(cvs_txn_context(t, &o, q->text, 0, qv, &res), q->id);
        r->ms[b] = (float)((embed_s + bu_now() - a) * 1e3);
        ctx_reset(c);
        for (size_t i = 0; i < res.n; i++) {
            const cvs_context_item *it = &res.items[i];
            ctx_add(c, it->id, it->id_len, it->title, it->title_len, it->text, it->text_len);
        }
        c->tokens = res.tokens;
        score(q, c, r, b);
        r->srec[b] = sentence_recall(t, q, &res);
        cvs_context_result_free(&res);
    }
    /* the ranking: the strategy's order with no budget limit */
    cvs_context_result res;
    o.budget = UNLIMITED;
    bu_check(cvs_txn_context(t, &o, q->text, 0, qv, &res), q->id);
    const char *ids[5];
    size_t lens[5], n = 0;
    for (; n < res.n && n < 5; n++) {
        ids[n] = res.items[n].id;
        lens[n] = res.items[n].id_len;
    }
    score_rank(q, ids, lens, n, r);
    cvs_context_result_free(&res);
}

/* ==== Aggregation and output ==== */

/* One JSON line per question and method (--per-question), for looking at
 * the questions behind a rate: which half, which type, what each budget
 * found. */
static void write_per_question(FILE *f, const char *set, const char *variant, const char *emb,
                               const qset *qs, int m, const qres *res, const size_t *budgets,
                               size_t nb)
{
    for (size_t i = 0; i < qs->n; i++) {
        const question *q = &qs->q[i];
        const qres *r = &res[i];
        json_t *full = json_array(), *ans = json_array(), *rec = json_array(),
               *ms = json_array(), *bud = json_array(), *srec = json_array();
        if (!q->ngold)
            continue;
        for (size_t b = 0; b < nb; b++) {
            json_array_append_new(bud, json_integer((json_int_t)budgets[b]));
            json_array_append_new(full, json_integer(r->full[b]));
            json_array_append_new(ans, q->nans ? json_integer(r->ans[b]) : json_null());
            json_array_append_new(rec, json_real(r->recall[b]));
            json_array_append_new(ms, json_real(r->ms[b]));
            json_array_append_new(srec, r->srec[b] >= 0 ? json_real(r->srec[b]) : json_null());
        }
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:o,s:o,s:o,s:o,s:o,s:f,s:f}",
                              "set", set, "variant", variant, "embedder", emb, "id", q->id, "half", q->half ? "B" : "A",
                              "type", q->type, "method", method_names[m], "budgets", bud,
                              "full", full, "answer", ans, "recall", rec, "ms", ms, "r2",
                              (double)r->r2, "r5", (double)r->r5);
        if (o)
            json_object_set_new(o, "sentence_recall", srec);
        else
            json_decref(srec);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            fprintf(f, "%s\n", line);
        free(line);
        json_decref(o);
    }
}

/* One aggregated line: a set, variant, half, question type ("" = all
 * types) and method at one budget. */
typedef struct agg {
    /* type: 2Wiki's longest, "bridge_comparison", fits */
    char set[SET_NAME_MAX + 1], variant[16], half[4], type[24], emb[16];
    int method;
    size_t budget, nq;
    int has_answers;        /* some question of the row has an answer */
    size_t nans;            /* how many: ans is a mean over them */
    double full, ans, recall, tokens, r2, r5, p50, p99;
    double srec;            /* over nsq questions with gold sentences */
    size_t nsq;
} agg;

typedef struct aggs {
    agg *a;
    size_t n, cap;
    int show_emb;           /* the tables name each row's embedder (--embedder) */
} aggs;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The rows of method m: per half (A, B, all) and budget, over all the
 * questions and, with by_type, over each type group (type_group) too.  A
 * half or type with no question gives no row; with one half run (--half)
 * the "all" rows, equal to its rows, are left out. */
static void aggregate(aggs *out, const char *set, const char *variant, const char *emb,
                      const qset *qs, int m, const qres *res, const size_t *budgets, size_t nb,
                      int by_type, int one_half)
{
    static const char *const halves[3] = {"A", "B", "all"};
    float *lat = xrealloc(NULL, (qs->n + 1) * sizeof *lat);
    char (*types)[24] = xrealloc(NULL, (qs->n + 1) * sizeof *types), qt[24];
    size_t nt = 1;
    types[0][0] = '\0';
    for (size_t i = 0; by_type && i < qs->n; i++) {
        size_t k = 1;
        type_group(qs->q[i].type, qt, sizeof qt);
        while (k < nt && strcmp(types[k], qt))
            k++;
        if (k == nt)
            memcpy(types[nt++], qt, sizeof qt);
    }
    for (int h = 0; h < (one_half ? 2 : 3); h++)
        for (size_t ty = 0; ty < nt; ty++)
            for (size_t b = 0; b < nb; b++) {
                agg g = {.method = m, .budget = budgets[b]};
                size_t n = 0;
                snprintf(g.set, sizeof g.set, "%s", set);
                snprintf(g.variant, sizeof g.variant, "%s", variant);
                snprintf(g.emb, sizeof g.emb, "%s", emb);
                snprintf(g.half, sizeof g.half, "%s", halves[h]);
                memcpy(g.type, types[ty], sizeof g.type);
                for (size_t i = 0; i < qs->n; i++) {
                    const qres *r = &res[i];
                    if (!qs->q[i].ngold || (h < 2 && qs->q[i].half != h))
                        continue;
                    if (ty) {
                        type_group(qs->q[i].type, qt, sizeof qt);
                        if (strcmp(qt, types[ty]))
                            continue;
                    }
                    g.full += r->full[b];
                    if (qs->q[i].nans) {
                        g.ans += r->ans[b];
                        g.nans++;
                    }
                    g.recall += r->recall[b];
                    g.tokens += r->tokens[b];
                    g.r2 += r->r2;
                    g.r5 += r->r5;
                    if (r->srec[b] >= 0) {
                        g.srec += r->srec[b];
                        g.nsq++;
                    }
                    lat[n++] = r->ms[b];
                }
                if (!n)
                    continue;
                g.nq = n;
                g.full /= (double)n;
                g.ans /= g.nans ? (double)g.nans : 1;
                g.has_answers = g.nans > 0;
                g.recall /= (double)n;
                g.tokens /= (double)n;
                g.r2 /= (double)n;
                g.r5 /= (double)n;
                g.srec /= g.nsq ? (double)g.nsq : 1;
                qsort(lat, n, sizeof *lat, cmp_float);
                g.p50 = lat[n / 2];
                g.p99 = lat[(size_t)((double)(n - 1) * 0.99 + 0.5)];
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 64;
                    out->a = xrealloc(out->a, out->cap * sizeof *out->a);
                }
                out->a[out->n++] = g;
            }
    free(types);
    free(lat);
}

/* The row of a set, variant, half, type ("" = all) and method at one
 * budget, or NULL. */
/* The row of set, variant, half, type ("" = all) and method at one budget
 * from the stores of like's embedder, or NULL. */
static const agg *find_agg_type(const aggs *as, const agg *like, const char *set,
                                const char *variant, const char *half, const char *type, int m,
                                size_t budget)
{
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        if (g->method == m && g->budget == budget && !strcmp(g->set, set) &&
            !strcmp(g->variant, variant) && !strcmp(g->half, half) && !strcmp(g->type, type) &&
            !strcmp(g->emb, like->emb))
            return g;
    }
    return NULL;
}

static const agg *find_agg(const aggs *as, const agg *like, const char *set, const char *variant,
                           const char *half, int m, size_t budget)
{
    return find_agg_type(as, like, set, variant, half, "", m, budget);
}

/* A row's method as the tables name it: "default", or "default (use)"
 * when the run compares embedders. */
static const char *row_method(const aggs *as, const agg *g, char *buf, size_t cap)
{
    if (!as->show_emb)
        return method_names[g->method];
    snprintf(buf, cap, "%s (%s)", method_names[g->method], g->emb);
    return buf;
}

/* The human table: one row per set, variant, half and method, the budgets
 * side by side; R@2/R@5 do not depend on the budget. */
static void print_table(const aggs *as, const size_t *budgets, size_t nb, size_t lat_b)
{
    printf("| set | variant | half | method | n |");
    for (size_t b = 0; b < nb; b++)
        printf(" full@%zu |", budgets[b]);
    for (size_t b = 0; b < nb; b++)
        printf(" ans@%zu |", budgets[b]);
    printf(" R@2 | R@5 | p50@%zu ms | p99@%zu ms |\n|---|---|---|---|---:|", budgets[lat_b],
           budgets[lat_b]);
    for (size_t b = 0; b < 2 * nb + 4; b++)
        printf("---:|");
    printf("\n");
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        char mb[48];
        if (g->budget != budgets[0] || g->type[0])
            continue;
        printf("| %s | %s | %s | %s | %zu |", g->set, g->variant, g->half,
               row_method(as, g, mb, sizeof mb), g->nq);
        for (size_t b = 0; b < nb; b++)
            printf(" %.3f |", find_agg(as, g, g->set, g->variant, g->half, g->method, budgets[b])->full);
        for (size_t b = 0; b < nb; b++)
            if (g->has_answers)
                printf(" %.3f |",
                       find_agg(as, g, g->set, g->variant, g->half, g->method, budgets[b])->ans);
            else
                printf(" n/a |");
        const agg *l = find_agg(as, g, g->set, g->variant, g->half, g->method, budgets[lat_b]);
        printf(" %.3f | %.3f | %.2f | %.2f |\n", g->r2, g->r5, l->p50, l->p99);
    }
}

/* The per-type table (--by-type): for each set, variant, half and
 * question type, every method's full support and answer containment at
 * each budget and its R@5; then default's full support minus the better of
 * bm25-topk and bm25+links per type, where all three ran. */
static void print_by_type(const aggs *as, const size_t *budgets, size_t nb)
{
    int first = -1, deltas = 0;
    printf("\nBy question type (the data set's type; MuSiQue's by hop count):\n\n"
           "| set | variant | half | type | method | n |");
    for (size_t b = 0; b < nb; b++)
        printf(" full@%zu |", budgets[b]);
    for (size_t b = 0; b < nb; b++)
        printf(" ans@%zu |", budgets[b]);
    for (size_t b = 0; b < nb; b++)
        printf(" srec@%zu |", budgets[b]);
    printf(" R@5 |\n|---|---|---|---|---|---:|");
    for (size_t b = 0; b < 3 * nb + 1; b++)
        printf("---:|");
    printf("\n");
    /* The first method's rows name every set, variant, half and type once,
     * in run order; the other methods ran on the same questions. */
    for (size_t i = 0; i < as->n && first < 0; i++)
        if (as->a[i].type[0])
            first = as->a[i].method;
    for (size_t i = 0; i < as->n; i++) {
        const agg *k = &as->a[i];
        if (k->method != first || k->budget != budgets[0] || !k->type[0])
            continue;
        for (int m = 0; m < M_COUNT; m++) {
            const agg *g = find_agg_type(as, k, k->set, k->variant, k->half, k->type, m, budgets[0]);
            char mb[48];
            if (!g)
                continue;
            printf("| %s | %s | %s | %s | %s | %zu |", g->set, g->variant, g->half, g->type,
                   row_method(as, g, mb, sizeof mb), g->nq);
            for (size_t b = 0; b < nb; b++)
                printf(" %.3f |",
                       find_agg_type(as, g, g->set, g->variant, g->half, g->type, m, budgets[b])->full);
            for (size_t b = 0; b < nb; b++)
                if (g->has_answers)
                    printf(" %.3f |", find_agg_type(as, g, g->set, g->variant, g->half, g->type, m,
                                                    budgets[b])->ans);
                else
                    printf(" n/a |");
            for (size_t b = 0; b < nb; b++) {
                const agg *x = find_agg_type(as, g, g->set, g->variant, g->half, g->type, m,
                                             budgets[b]);
                if (x->nsq)
                    printf(" %.3f |", x->srec);
                else
                    printf(" n/a |");
            }
            printf(" %.3f |\n", g->r5);
        }
        deltas |= find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_DEFAULT, budgets[0]) &&
                  find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_BM25, budgets[0]) &&
                  find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_LINKS, budgets[0]);
    }
    if (!deltas)
        return;
    printf("\nBy question type: default's full support minus the better of bm25-topk and "
           "bm25+links:\n\n| set | variant | half | type | n |");
    for (size_t b = 0; b < nb; b++)
        printf(" default-best@%zu |", budgets[b]);
    printf("\n|---|---|---|---|---:|");
    for (size_t b = 0; b < nb; b++)
        printf("---:|");
    printf("\n");
    for (size_t i = 0; i < as->n; i++) {
        const agg *k = &as->a[i];
        if (k->method != M_DEFAULT || k->budget != budgets[0] || !k->type[0] ||
            !find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_BM25, budgets[0]) ||
            !find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_LINKS, budgets[0]))
            continue;
        if (as->show_emb)
            printf("| %s | %s (%s) | %s | %s | %zu |", k->set, k->variant, k->emb, k->half,
                   k->type, k->nq);
        else
            printf("| %s | %s | %s | %s | %zu |", k->set, k->variant, k->half, k->type, k->nq);
        for (size_t b = 0; b < nb; b++) {
            const agg *d = find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_DEFAULT,
                                         budgets[b]),
                      *x = find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_BM25,
                                         budgets[b]),
                      *y = find_agg_type(as, k, k->set, k->variant, k->half, k->type, M_LINKS,
                                         budgets[b]);
            printf(" %+.3f |", d->full - (x->full > y->full ? x->full : y->full));
        }
        printf("\n");
    }
}

/* The sentence-level table (--unit): the cvs_context methods of either
 * unit, per budget answer containment, full support, supporting-sentence
 * recall and tokens, and the latency at budget lat_b. */
static void print_unit_table(const aggs *as, const size_t *budgets, size_t nb, size_t lat_b)
{
    static const char *const what[4] = {"ans", "full", "srec", "tokens"};
    printf("\nSentence-level context sets (unit passage vs sentence):\n\n"
           "| set | variant | half | method | n |");
    for (int w = 0; w < 4; w++)
        for (size_t b = 0; b < nb; b++)
            printf(" %s@%zu |", what[w], budgets[b]);
    printf(" p50@%zu ms | p99@%zu ms |\n|---|---|---|---|---:|", budgets[lat_b], budgets[lat_b]);
    for (size_t b = 0; b < 4 * nb + 2; b++)
        printf("---:|");
    printf("\n");
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        char mb[48];
        if (g->budget != budgets[0] || g->method < M_DEFAULT || g->type[0])
            continue;
        printf("| %s | %s | %s | %s | %zu |", g->set, g->variant, g->half,
               row_method(as, g, mb, sizeof mb), g->nq);
        for (int w = 0; w < 4; w++)
            for (size_t b = 0; b < nb; b++) {
                const agg *x = find_agg(as, g, g->set, g->variant, g->half, g->method, budgets[b]);
                if (w == 0 && !x->has_answers)
                    printf(" n/a |");
                else if (w == 2 && !x->nsq)
                    printf(" n/a |");
                else
                    printf(w == 3 ? " %.0f |" : " %.3f |",
                           w == 0 ? x->ans : w == 1 ? x->full : w == 2 ? x->srec : x->tokens);
            }
        const agg *l = find_agg(as, g, g->set, g->variant, g->half, g->method, budgets[lat_b]);
        printf(" %.2f | %.2f |\n", l->p50, l->p99);
    }
}

/* Where answer containment is a mean over fewer questions than the row's
 * (the SQuAD sample), one line per set, variant and half says over how
 * many, so a figure is never read as one over the whole set. */
static void print_answer_note(const aggs *as, const size_t *budgets)
{
    int first = 1;
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        int seen = 0;
        if (g->budget != budgets[0] || g->type[0] || !g->has_answers || g->nans == g->nq)
            continue;
        for (size_t k = 0; k < i && !seen; k++)
            seen = as->a[k].budget == budgets[0] && !as->a[k].type[0] &&
                   !strcmp(as->a[k].set, g->set) && !strcmp(as->a[k].variant, g->variant) &&
                   !strcmp(as->a[k].half, g->half);
        if (seen)
            continue;
        printf("%s%s %s half %s: ans is over the %zu of %zu questions with a hand-written "
               "answer (the labelled sample's answerable ones)\n", first ? "\n" : "", g->set,
               g->variant, g->half, g->nans, g->nq);
        first = 0;
    }
}

/* The goals of issue 15 on half B (or the one half run, --half), as
 * differences, so a reader sees at a glance which hold: default vs the
 * better of bm25-topk and bm25+links (full support), default's R@5 over
 * bm25-topk's, and diverse over topk at each budget on the redundant
 * variant. */
static void print_goals(const aggs *as, const size_t *budgets, size_t nb, const char *half)
{
    printf("\nHalf %s: default's full support minus the better of bm25-topk and bm25+links; "
           "R@5 minus bm25-topk's; diverse and default minus topk (full support):\n\n"
           "| set | variant |", half);
    for (size_t b = 0; b < nb; b++)
        printf(" default-best@%zu |", budgets[b]);
    printf(" R@5 default-bm25 |");
    for (size_t b = 0; b < nb; b++)
        printf(" diverse-topk@%zu | default-topk@%zu |", budgets[b], budgets[b]);
    printf("\n|---|---|");
    for (size_t b = 0; b < 3 * nb + 1; b++)
        printf("---:|");
    printf("\n");
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        if (g->method != M_DEFAULT || g->budget != budgets[0] || strcmp(g->half, half) || g->type[0])
            continue;
        if (as->show_emb)
            printf("| %s | %s (%s) |", g->set, g->variant, g->emb);
        else
            printf("| %s | %s |", g->set, g->variant);
        for (size_t b = 0; b < nb; b++) {
            const agg *d = find_agg(as, g, g->set, g->variant, half, M_DEFAULT, budgets[b]),
                      *x = find_agg(as, g, g->set, g->variant, half, M_BM25, budgets[b]),
                      *y = find_agg(as, g, g->set, g->variant, half, M_LINKS, budgets[b]);
            if (x && y)
                printf(" %+.3f |", d->full - (x->full > y->full ? x->full : y->full));
            else
                printf(" - |");
        }
        const agg *x = find_agg(as, g, g->set, g->variant, half, M_BM25, budgets[0]);
        if (x)
            printf(" %+.3f |", g->r5 - x->r5);
        else
            printf(" - |");
        for (size_t b = 0; b < nb; b++) {
            const agg *t = find_agg(as, g, g->set, g->variant, half, M_TOPK, budgets[b]),
                      *v = find_agg(as, g, g->set, g->variant, half, M_DIVERSE, budgets[b]),
                      *d = find_agg(as, g, g->set, g->variant, half, M_DEFAULT, budgets[b]);
            if (t && v)
                printf(" %+.3f |", v->full - t->full);
            else
                printf(" - |");
            if (t)
                printf(" %+.3f |", d->full - t->full);
            else
                printf(" - |");
        }
        printf("\n");
    }
}

static int write_csv(const aggs *as, const char *path)
{
    static const char *const header[] = {"set", "variant", "half", "method", "budget",
                                         "questions", "full_support", "answer_contained",
                                         "gold_recall", "recall_at_2", "recall_at_5", "tokens",
                                         "p50_ms", "p99_ms", "sentence_recall", "type",
                                         "embedder", "answer_questions"};
    bu_table *tab = bu_table_new(18, header);
    int rc;
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        bu_table_row(tab);
        bu_table_cell(tab, "%s", g->set);
        bu_table_cell(tab, "%s", g->variant);
        bu_table_cell(tab, "%s", g->half);
        bu_table_cell(tab, "%s", method_names[g->method]);
        bu_table_cell(tab, "%zu", g->budget);
        bu_table_cell(tab, "%zu", g->nq);
        bu_table_cell(tab, "%.4f", g->full);
        if (g->has_answers)
            bu_table_cell(tab, "%.4f", g->ans);
        else
            bu_table_cell(tab, "%s", "");
        bu_table_cell(tab, "%.4f", g->recall);
        bu_table_cell(tab, "%.4f", g->r2);
        bu_table_cell(tab, "%.4f", g->r5);
        bu_table_cell(tab, "%.1f", g->tokens);
        bu_table_cell(tab, "%.3f", g->p50);
        bu_table_cell(tab, "%.3f", g->p99);
        if (g->nsq)
            bu_table_cell(tab, "%.4f", g->srec);
        else
            bu_table_cell(tab, "%s", "");
        bu_table_cell(tab, "%s", g->type[0] ? g->type : "all");
        bu_table_cell(tab, "%s", g->emb);
        bu_table_cell(tab, "%zu", g->nans);
    }
    rc = bu_table_csv(tab, path);
    bu_table_free(tab);
    return rc;
}

static int write_json(const aggs *as, json_t *sets, const char *path)
{
    json_t *doc = json_object(), *rows = json_array();
    int rc;
    for (size_t i = 0; i < as->n; i++) {
        const agg *g = &as->a[i];
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:f,s:o,s:f,s:f,s:f,s:f,s:f,s:f}", "set",
                            g->set, "variant", g->variant, "half", g->half, "method",
                            method_names[g->method], "budget", (json_int_t)g->budget,
                            "questions", (json_int_t)g->nq, "full_support", g->full,
                            "answer_contained", g->has_answers ? json_real(g->ans) : json_null(),
                            "gold_recall", g->recall, "recall_at_2", g->r2, "recall_at_5",
                            g->r5, "tokens", g->tokens, "p50_ms", g->p50, "p99_ms", g->p99));
        json_object_set_new(json_array_get(rows, json_array_size(rows) - 1), "sentence_recall",
                            g->nsq ? json_real(g->srec) : json_null());
        json_object_set_new(json_array_get(rows, json_array_size(rows) - 1), "type",
                            json_string(g->type[0] ? g->type : "all"));
        json_object_set_new(json_array_get(rows, json_array_size(rows) - 1), "embedder",
                            json_string(g->emb));
        json_object_set_new(json_array_get(rows, json_array_size(rows) - 1), "answer_questions",
                            json_integer((json_int_t)g->nans));
    }
    json_object_set(doc, "sets", sets);
    json_object_set_new(doc, "rows", rows);
    json_object_set_new(doc, "halves",
                        json_string("A: top bit of FNV-1a-64(question id) is 0; B: it is 1"));
    rc = strcmp(path, "-") ? json_dump_file(doc, path, JSON_INDENT(1))
                           : json_dumpf(doc, stdout, JSON_INDENT(1));
    if (rc)
        fprintf(stderr, "cvstore-bench: cannot write %s\n", path);
    json_decref(doc);
    return rc ? -1 : 0;
}

/* ==== The store cache ==== */

/* What a cached store was built from, written to STAMP_FILE inside it
 * when it is finished and compared, line for line, before it is reused: a
 * store built from other data, by code whose import, mention
 * links or kNN graph have changed since, or in another format was reused
 * silently when only set, variant, seed, K and embedder named it.
 * STORE_BUILD is the code's version for this purpose: bump it with any
 * change to query/import.c, graph/ or text/ that changes what a store
 * holds. */
#define STORE_BUILD 2
#define STAMP_FILE "cvstore-bench.stamp"
/* A stamp's size at most: the one made (cache_stamp) and the one read
 * back (stamp_matches) use it, so a long one is read whole. */
#define STAMP_MAX 9000

/* The format version this build writes: a store made for the asking (the
 * public header has no constant for it). */
static int build_format(const char *tmp, uint32_t *fmt)
{
    static uint32_t known;
    char path[4200];
    cvs_create_opts co = {.dim = 1, .metric = CVS_METRIC_L2};
    cvs_db *db = NULL;
    cvs_info in;
    int rc;
    if (known) {
        *fmt = known;
        return 0;
    }
    snprintf(path, sizeof path, "%s/format-probe", tmp);
    if ((rc = cvs_db_create(path, &co, &db)) == 0 && (rc = cvs_db_info(db, &in)) == 0)
        known = *fmt = in.format_version;
    if (rc)
        fprintf(stderr, "cvstore-bench context: making a store to learn its format: %s\n",
                cvs_errmsg(db));
    cvs_db_close(db);
    bu_rmrf(path);
    return rc;
}

/* The BLAKE2b-256 of file path's contents, in hex, and its size. */
static int file_blake2b(const char *path, char hex[65], long long *bytes)
{
    unsigned char buf[1 << 16], h[32];
    crypto_generichash_blake2b_state st;
    FILE *f = fopen(path, "rb");
    size_t n;
    int bad;
    if (!f || sodium_init() < 0) {
        if (f)
            fclose(f);
        return -1;
    }
    *bytes = 0;
    crypto_generichash_blake2b_init(&st, NULL, 0, sizeof h);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_generichash_blake2b_update(&st, buf, n);
        *bytes += (long long)n;
    }
    bad = ferror(f);
    fclose(f);
    if (bad)
        return -1;
    crypto_generichash_blake2b_final(&st, h, sizeof h);
    sodium_bin2hex(hex, 65, h, sizeof h);
    return 0;
}

/* The stamp of a store built now from corpus (the data file), in buf.  The
 * data is named by its contents, not its path or modification time: the
 * same data laid out again (copied, unpacked, moved) is the same store,
 * which for a use or minilm store is minutes of import saved, and a byte
 * changed anywhere in it builds the store again.  Hashing reads the file
 * once per run (BLAKE2b: hundreds of MB a second), small beside the
 * questions' runs. */
static int cache_stamp(char *buf, size_t size, const char *corpus, const char *variant,
                       uint64_t seed, const char *embedder, int link, unsigned knn_k,
                       uint32_t fmt)
{
    char hex[65];
    long long bytes;
    int n;
    if (file_blake2b(corpus, hex, &bytes)) {
        fprintf(stderr, "cvstore-bench context: %s: cannot read it to stamp the store: %s\n",
                corpus, strerror(errno));
        return -1;
    }
    n = snprintf(buf, size,
                 "cvstore-bench context store\n"
                 "library %s\nformat %u\nstore build %d\n"
                 "data blake2b-256 %s\nsize %lld\n"
                 "variant %s\nseed %llu\nembedder %s\nlinks %s\nknn k %u\n",
                 CVS_VERSION_STRING, (unsigned)fmt, STORE_BUILD, hex, bytes, variant,
                 (unsigned long long)seed, embedder, link ? "yes" : "no", link ? knn_k : 0);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Whether the cached store's stamp is want; if not, says on stderr which
 * line differs (or that it has none). */
static int stamp_matches(const char *store, const char *want)
{
    char path[4700], have[STAMP_MAX + 1];
    FILE *f;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", store, STAMP_FILE);
    if (!(f = fopen(path, "r"))) {
        fprintf(stderr, "cvstore-bench context: the cached store %s has no %s (made by an older "
                "cvstore-bench, from unknown data): building it again\n", store, STAMP_FILE);
        return 0;
    }
    n = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[n] = '\0';
    if (!strcmp(have, want))
        return 1;
    for (const char *h = have, *w = want;; ) {
        size_t hl = strcspn(h, "\n"), wl = strcspn(w, "\n");
        if (hl != wl || memcmp(h, w, hl)) {
            fprintf(stderr, "cvstore-bench context: the cached store %s was built from '%.*s', "
                    "this run needs '%.*s': building it again\n", store, (int)hl, h, (int)wl, w);
            break;
        }
        if (!h[hl] || !w[wl])
            break;
        h += hl + 1;
        w += wl + 1;
    }
    return 0;
}

/* Removes a stale cached store: its files, then the folder (a store is
 * one folder of files; bu_rmrf removes only the benchmark's own scratch
 * folders). */
static void remove_store(const char *store)
{
    DIR *d = opendir(store);
    struct dirent *e;
    char path[4800 + 260]; /* a store's path (old[] below) and a file name */
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", store, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    if (rmdir(store))
        fprintf(stderr, "cvstore-bench context: cannot remove the stale store %s: %s\n", store,
                strerror(errno));
}

static int stamp_write(const char *store, const char *stamp)
{
    char path[4800];
    FILE *f;
    int bad;
    snprintf(path, sizeof path, "%s/%s", store, STAMP_FILE);
    if (!(f = fopen(path, "w")))
        return -1;
    bad = fputs(stamp, f) < 0;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

/* ==== The command ==== */

/* Each set's folder under --data, and for a set whose questions carry no
 * answers the file of hand-written ones (--answers replaces it). */
static const struct {
    const char *name, *dir, *answers;
} known_sets[] = {
    {"hotpotqa", "multihop-qa/hotpotqa", NULL},
    {"musique", "multihop-qa/musique", NULL},
    {"squad", "squad2-test-half", CVS_SOURCE_DIR "/bench/data/squad2-test-half-answers.jsonl"},
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench context [--data DIR] [--sets hotpotqa,musique,squad]\n"
        "         [--limit N] [--variants clean,redundant] [--seed N]\n"
        "         [--methods LIST] [--budgets 256,512,1024] [--no-link]\n"
        "         [--half A|B] [--by-type] [--csv PATH] [--json PATH|-]\n"
        "         [--per-question PATH] [--dir TMPDIR] [--embedder LIST]\n"
        "         [--store-cache DIR] [--answers PATH|none]\n"
        "         [tuning options]\n"
        "Imports each set's corpus (one store per embedder; mention links and kNN\n"
        "graph unless --no-link), answers every question with every method at every\n"
        "budget and reports, for question halves A, B and all: full-support rate,\n"
        "answer containment, passage R@2/R@5 of the ranking, tokens, p50/p99 ms.\n"
        "Half A (top bit of FNV-1a-64 of the question id 0) is for choosing rules,\n"
        "half B for reporting them.\n"
        "  --data DIR        folder holding multihop-qa/ and squad2-test-half/\n"
        "                    (default $CVSTORE_DATA, else ../shared/data)\n"
        "  --sets LIST       of hotpotqa, musique, squad, or NAME=DIR: any folder in\n"
        "                    their layout (corpus.jsonl {id, title, text}; queries.jsonl\n"
        "                    {id, question, answer, [answer_aliases], [type]}; BEIR\n"
        "                    qrels.tsv query-id, corpus-id), e.g. your own QA set or\n"
        "                    one from scripts/make-templated-set.py; NAME (letters,\n"
        "                    digits, - and _, at most 24) labels its rows; SET:N takes\n"
        "                    its first N questions (default hotpotqa,musique,squad)\n"
        "  --limit N         at most N questions of every set (SET:N wins)\n"
        "  --half A|B        only that half's questions (of the first N with SET:N)\n"
        "  --by-type         also a table per question type (HotpotQA bridge and\n"
        "                    comparison, MuSiQue by hop count: full support, answers\n"
        "                    and supporting-sentence recall per budget) and default's\n"
        "                    full support minus the better baseline per type\n"
        "  --variants LIST   clean, redundant (each passage 1-4 times, copies\n"
        "                    lightly rewritten); default both\n"
        "  --seed N          seed of the redundant variant (default 1)\n"
        "  --methods LIST    of bm25-topk, vector-topk, bm25+links, default, diverse,\n"
        "                    mmr, topk (default all; --strategies is the same, and\n"
        "                    takes bm25 and vector for the top-k baselines)\n"
        "  --no-link         plain import: no mention links, no kNN graph\n"
        "  --embedder LIST   glove, use, minilm or a list (glove,use,minilm): the\n"
        "                    built-in embedder of the stores (default glove); a list\n"
        "                    makes one store of each\n"
        "                    per set and variant, rows labelled \"METHOD (EMBEDDER)\"\n"
        "  --store-cache DIR keep each store in DIR (named by set, variant, seed, kNN\n"
        "                    K, embedder) and open it there on later runs instead of\n"
        "                    importing again (a use import of HotpotQA takes minutes);\n"
        "                    the import time is then not measured.  A stamp in the\n"
        "                    store (a hash of the data file's contents, format, code\n"
        "                    version) must match, else it is built again, said on\n"
        "                    stderr\n"
        "  --unit LIST       passage, sentence or passage,sentence: the unit of the\n"
        "                    cvs_context methods (default passage); with sentence\n"
        "                    they run as NAME/sentence and a sentence-level table\n"
        "                    (answer, full support, supporting-sentence recall,\n"
        "                    tokens; latency at 256) follows; e.g. --unit\n"
        "                    passage,sentence --methods default --budgets 64,128,256,512\n"
        "  --answers PATH    hand-written answers for the squad set, whose questions\n"
        "                    carry none: JSONL {\"id\", \"answers\": [...]} or {\"id\",\n"
        "                    \"answerable\": false} (default: the labelled sample of\n"
        "                    200 questions per half, bench/data/squad2-test-half-\n"
        "                    answers.jsonl; 'none': no answers, ans n/a); answer\n"
        "                    containment is over the questions with an answer, their\n"
        "                    count in a note under the tables and in the CSV/JSON\n"
        "                    column answer_questions\n"
        "  --json PATH       every figure as JSON ('-': stdout, instead of the tables)\n"
        "  --per-question P  one JSON line per question and method: id, half, type,\n"
        "                    and per budget full support, answer, recall, ms,\n"
        "                    sentence_recall (null without gold sentences)\n"
        "  tuning (applied to the cvs_context methods; defaults: cvs_context_opts_init):\n"
        "  --hops N --fanout N --beam N --seeds N --depth N --decay X --lambda X\n"
        "  --coverage X --lexical-weight X --fusion rrf|weighted --dup X --pool N\n"
        "  --no-links --no-knn --knn K --title-weight X --knn-weight X --rrf-k X\n"
        "  --bridges N --bridge-weight X\n");
}

static int parse_list(const char *s, size_t *out, size_t max, size_t *n)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long v = strtoul(tok, &end, 10);
        if (*end || !v || *n == max)
            return -1;
        out[(*n)++] = v;
    }
    return *n ? 0 : -1;
}

int bench_context(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'D'}, {"sets", required_argument, 0, 'S'},
        {"datasets", required_argument, 0, 'S'}, {"limit", required_argument, 0, 'n'},
        {"variants", required_argument, 0, 'V'}, {"seed", required_argument, 0, 'e'},
        {"methods", required_argument, 0, 'M'}, {"strategies", required_argument, 0, 'M'}, {"budgets", required_argument, 0, 'B'},
        {"no-link", no_argument, 0, 'I'}, {"csv", required_argument, 0, 'c'},
        {"json", required_argument, 0, 'j'}, {"per-question", required_argument, 0, 'Q'},
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
        {"bridge-weight", required_argument, 0, 'G'}, {"unit", required_argument, 0, 'U'},
        {"half", required_argument, 0, 'A'}, {"by-type", no_argument, 0, 'T'},
        {"embedder", required_argument, 0, 'E'}, {"store-cache", required_argument, 0, 'C'},
        {"answers", required_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = NULL, *parent = NULL, *csv = NULL, *json_path = NULL, *pq_path = NULL;
    FILE *pq = NULL;
    char sets_s[8192] = "hotpotqa,musique,squad", variants_s[64] = "clean,redundant";
    char methods_s[256] = "bm25-topk,vector-topk,bm25+links,default,diverse,mmr,topk";
    char emb_s[64] = "glove";
    const char *cache = NULL, *answers = NULL;
    size_t emb[BU_N_EMBEDDERS], nemb = 0;
    size_t budgets[MAX_BUDGETS] = {256, 512, 1024}, nb = 3, limit = 0, knn_k = 16;
    uint64_t seed = 1;
    int link = 1, c, ret = 0, use[M_COUNT] = {0}, unit_p = 1, unit_s = 0, half = -1, by_type = 0;
    cvs_context_opts base;
    aggs as = {0};
    json_t *sets_json = json_array();

    cvs_context_opts_init(&base);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': data = optarg; break;
        case 'S': snprintf(sets_s, sizeof sets_s, "%s", optarg); break;
        case 'n': limit = strtoul(optarg, NULL, 10); break;
        case 'V': snprintf(variants_s, sizeof variants_s, "%s", optarg); break;
        case 'e': seed = strtoull(optarg, NULL, 10); break;
        case 'M': snprintf(methods_s, sizeof methods_s, "%s", optarg); break;
        case 'B':
            if (parse_list(optarg, budgets, MAX_BUDGETS, &nb)) {
                fprintf(stderr, "cvstore-bench context: --budgets: 1 to %d positive numbers\n",
                        MAX_BUDGETS);
                return 1;
            }
            break;
        case 'I': link = 0; break;
        case 'c': csv = optarg; break;
        case 'j': json_path = optarg; break;
        case 'Q': pq_path = optarg; break;
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
        case 'U':
            unit_p = strstr(optarg, "passage") != NULL;
            unit_s = strstr(optarg, "sentence") != NULL;
            if (!unit_p && !unit_s) {
                fprintf(stderr, "cvstore-bench context: --unit: passage, sentence or both\n");
                json_decref(sets_json);
                return 1;
            }
            break;
        case 'A':
            if (strcmp(optarg, "A") && strcmp(optarg, "B")) {
                fprintf(stderr, "cvstore-bench context: --half: A or B\n");
                json_decref(sets_json);
                return 1;
            }
            half = optarg[0] == 'B';
            break;
        case 'T': by_type = 1; break;
        case 'E': snprintf(emb_s, sizeof emb_s, "%s", optarg); break;
        case 'C': cache = optarg; break;
        case 'a': answers = optarg; break;
        case 'h': usage(stdout); json_decref(sets_json); return 0;
        default: usage(stderr); json_decref(sets_json); return 1;
        }
    }
    {
        char buf[256], *save = NULL;
        snprintf(buf, sizeof buf, "%s", methods_s);
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int m = 0;
            /* the names of the earlier bench (--strategies bm25,vector,...) */
            const char *name = !strcmp(tok, "bm25") ? "bm25-topk"
                             : !strcmp(tok, "vector") ? "vector-topk" : tok;
            while (m < M_COUNT && strcmp(method_names[m], name))
                m++;
            if (m == M_COUNT) {
                fprintf(stderr, "cvstore-bench context: unknown method '%s'\n", tok);
                json_decref(sets_json);
                return 1;
            }
            use[m] = 1;
        }
        for (int m = M_DEFAULT; m <= M_TOPK; m++)
            if (use[m]) {
                use[m + M_SENT_OFF] |= unit_s;
                use[m] = unit_p;
            }
    }
    if (bu_embedders_parse("cvstore-bench context", emb_s, emb, &nemb)) {
        json_decref(sets_json);
        return 1;
    }
    as.show_emb = nemb > 1 || strcmp(bu_embedders[emb[0]].name, "glove");
    if (cache) {
        /* A --store-cache that does not exist yet is made (one level, as
         * mkdir would), before any import: not after minutes of one. */
        struct stat st;
        if ((mkdir(cache, 0755) && errno != EEXIST) || stat(cache, &st) || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "cvstore-bench context: --store-cache %s: %s\n", cache,
                    errno && errno != EEXIST ? strerror(errno) : "not a directory");
            json_decref(sets_json);
            return 1;
        }
    }
    data = bu_data_dir(data);
    if (pq_path && !(pq = fopen(pq_path, "w"))) {
        perror(pq_path);
        json_decref(sets_json);
        return 1;
    }

    char *ssave = NULL;
    for (char *sn = strtok_r(sets_s, ",", &ssave); sn; sn = strtok_r(NULL, ",", &ssave)) {
        char *colon = strrchr(sn, ':'), *eq = strchr(sn, '=');
        size_t lim = limit, si = 0, nsets = sizeof known_sets / sizeof known_sets[0];
        qset qs = {0};
        char dir[4200];
        /* SET:N; in NAME=DIR only a last ":digits" is N (a folder may hold ':') */
        if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
            (!eq || colon > eq)) {
            *colon = '\0';
            lim = strtoul(colon + 1, NULL, 10);
        }
        if (eq) {
            /* NAME=DIR: the user's own folder.  The name labels rows and
             * names the cached store, so it is a short plain word. */
            *eq = '\0';
            if (!*sn || strlen(sn) > SET_NAME_MAX ||
                strspn(sn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                    strlen(sn) || !eq[1]) {
                fprintf(stderr, "cvstore-bench context: --sets %s=%s: NAME=DIR with NAME of "
                        "letters, digits, - and _ (at most %d) and a folder\n", sn, eq + 1,
                        SET_NAME_MAX);
                ret = 1;
                break;
            }
            si = nsets;
            snprintf(dir, sizeof dir, "%s", eq + 1);
        } else {
            while (si < nsets && strcmp(known_sets[si].name, sn))
                si++;
            if (si == nsets) {
                fprintf(stderr, "cvstore-bench context: unknown set '%s' (hotpotqa, musique, "
                        "squad, or NAME=DIR)\n", sn);
                ret = 1;
                break;
            }
            snprintf(dir, sizeof dir, "%s/%s", data, known_sets[si].dir);
        }
        if (load_questions(dir, lim, &qs)) {
            ret = 1;
            break;
        }
        if (half >= 0)
            qset_keep_half(&qs, half);
        {
            /* the default file may be absent (a copy of the binary away
             * from its source tree): then no answers, as for 'none' */
            const char *kaf = si < nsets ? known_sets[si].answers : NULL;
            const char *af = kaf && answers ? answers : kaf;
            size_t nl, na;
            if (af && strcmp(af, "none") && (answers || !access(af, R_OK))) {
                if (load_answer_file(af, &qs, &nl, &na)) {
                    qset_free(&qs);
                    ret = 1;
                    break;
                }
                fprintf(stderr, "%s: hand-written answers of %zu questions (%zu answerable) from %s\n",
                        sn, nl, na, af);
            }
        }
        size_t nha = 0;
        for (size_t i = 0; i < qs.n; i++)
            nha += qs.q[i].half == 0;
        char vbuf[64], *vsave = NULL;
        snprintf(vbuf, sizeof vbuf, "%s", variants_s);
        for (char *vn = strtok_r(vbuf, ",", &vsave); vn; vn = strtok_r(NULL, ",", &vsave)) {
            char corpus[4400], store[4500], *tmp;
            int redundant = !strcmp(vn, "redundant");
            cvs_create_opts co = {.dim = 100, .metric = CVS_METRIC_COSINE};
            cvs_import_opts io = {.format = CVS_FMT_JSONL};
            cvs_link_stats ls = {0};
            cvs_knn_opts ko = {.k = knn_k};
            cvs_knn_info ki = {0};
            cvs_db *db = NULL;
            cvs_txn *t = NULL;
            uint64_t nrec = 0;
            size_t npass = 0;
            double t0, t_imp, t_link = 0;

            if (!redundant && strcmp(vn, "clean")) {
                fprintf(stderr, "cvstore-bench context: unknown variant '%s'\n", vn);
                ret = 1;
                break;
            }
            if (!(tmp = bu_tmpdir(parent))) {
                ret = 2;
                break;
            }
            snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", dir);
            if (redundant) {
                snprintf(corpus, sizeof corpus, "%s/redundant.jsonl", tmp);
                char orig[4400];
                snprintf(orig, sizeof orig, "%s/corpus.jsonl", dir);
                if (write_redundant(orig, corpus, seed, &npass)) {
                    ret = 2;
                    bu_rmrf(tmp);
                    free(tmp);
                    break;
                }
            }
            for (size_t ei = 0; ei < nemb; ei++) {
                const char *en = bu_embedders[emb[ei]].name;
                int cached = 0, stale = 0;
                char building[4700], stamp[STAMP_MAX];
                snprintf(store, sizeof store, "%s/store-%s", tmp, en);
                if (cache) {
                    /* The store's name says what made it: set, variant (and
                     * seed), embedder, links. */
                    char seedbuf[32] = "";
                    if (redundant)
                        snprintf(seedbuf, sizeof seedbuf, "-s%llu", (unsigned long long)seed);
                    if (link)
                        snprintf(seedbuf + strlen(seedbuf), sizeof seedbuf - strlen(seedbuf),
                                 "-k%u", (unsigned)knn_k);
                    snprintf(store, sizeof store, "%s/%s-%s%s-%s%s", cache, sn, vn, seedbuf, en,
                             link ? "" : "-nolink");
                    /* ... and its stamp what it was built from. */
                    char probe[4600], orig[4400];
                    uint32_t fmt;
                    snprintf(orig, sizeof orig, "%s/corpus.jsonl", dir);
                    if (build_format(tmp, &fmt) ||
                        cache_stamp(stamp, sizeof stamp, orig, vn, redundant ? seed : 0, en, link,
                                    (unsigned)knn_k, fmt))
                        exit(2); /* as bu_check: said on stderr */
                    snprintf(probe, sizeof probe, "%s/data.mdb", store);
                    FILE *pf = fopen(probe, "rb");
                    if ((stale = pf != NULL))
                        fclose(pf);
                    cached = stale && stamp_matches(store, stamp);
                    /* The stamp does not cover the embedder's data (a GloVe
                     * cache with another vocabulary): the store refuses it,
                     * and is built again with it. */
                    if (cached) {
                        bu_check(cvs_db_open(store, 0, &db), store);
                        if (cvs_db_set_embedder(db, en, 0, NULL, NULL)) {
                            fprintf(stderr, "cvstore-bench context: the cached store %s: %s: "
                                    "building it again\n", store, cvs_errmsg(db));
                            cached = 0;
                        }
                        cvs_db_close(db);
                        db = NULL;
                    }
                }
                co.dim = bu_embedders[emb[ei]].dim;
                ls = (cvs_link_stats){0};
                ki = (cvs_knn_info){0};
                t_link = 0;
                t0 = bu_now();
                if (cached) {
                    bu_check(cvs_db_open(store, 0, &db), store);
                    bu_check(cvs_db_set_embedder(db, en, 0, NULL, NULL), en);
                    t_imp = 0;
                    fprintf(stderr, "%s/%s (%s): store from the cache %s\n", sn, vn, en, store);
                } else {
                    /* A store for the cache is made under a name of this
                     * process and renamed into place only when its import
                     * and links are done: a killed run, or another run
                     * making the same store, never leaves a half-made one
                     * where a later run would take it as finished. */
                    if (cache)
                        snprintf(building, sizeof building, "%s.tmp-%ld", store, (long)getpid());
                    bu_check(cvs_db_create(cache ? building : store, &co, &db), "create");
                    bu_check(cvs_db_set_embedder(db, en, 0, NULL, NULL), en);
                    bu_check(cvs_import(db, corpus, &io, NULL), corpus);
                    t_imp = bu_now() - t0;
                }
                if (link && !cached) {
                    t0 = bu_now();
                    bu_check(cvs_link_mentions(db, &ls), "link");
                    bu_check(cvs_knn_build(db, &ko, &ki), "knn");
                    t_link = bu_now() - t0;
                }
                if (cache && !cached) {
                    char old[4800];
                    cvs_db_close(db);
                    db = NULL;
                    if (stamp_write(building, stamp))
                        fprintf(stderr, "cvstore-bench context: cannot write %s/%s: %s (the store "
                                "will be built again by the next run)\n", building, STAMP_FILE,
                                strerror(errno));
                    /* A stale store goes aside, then away, once the new one
                     * is in place: rename does not replace a folder that
                     * holds files. */
                    snprintf(old, sizeof old, "%s.stale-%ld", store, (long)getpid());
                    if (stale && rename(store, old))
                        fprintf(stderr, "cvstore-bench context: cannot move the stale %s aside: "
                                "%s\n", store, strerror(errno));
                    if (rename(building, store))
                        fprintf(stderr, "cvstore-bench context: cannot move %s to %s: %s (another "
                                "run may have made it first; %s is left for you to remove)\n",
                                building, store, strerror(errno), building);
                    else if (stale)
                        remove_store(old);
                    bu_check(cvs_db_open(store, 0, &db), store);
                    bu_check(cvs_db_set_embedder(db, en, 0, NULL, NULL), en);
                }
                bu_check(cvs_txn_begin(db, &t), "txn");
                bu_check(cvs_txn_count(t, &nrec), "count");
                /* A cached store was neither imported nor linked by this
                 * run: "import 0.0 s; link 0.0 s (0 mention links, kNN
                 * recall 0.000)" read as a store without links. */
                if (cached)
                    fprintf(stderr,
                            "%s/%s (%s): %zu questions (half A %zu, B %zu); %llu passages; "
                            "imported and linked by an earlier run\n",
                            sn, vn, en, qs.n, nha, qs.n - nha, (unsigned long long)nrec);
                else
                    fprintf(stderr,
                            "%s/%s (%s): %zu questions (half A %zu, B %zu); %llu passages; "
                            "import %.1f s; link %.1f s (%llu mention links, kNN recall %.3f)\n",
                            sn, vn, en, qs.n, nha, qs.n - nha, (unsigned long long)nrec, t_imp,
                            t_link, (unsigned long long)ls.links, ki.recall);
                json_array_append_new(
                    sets_json,
                    json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:b,s:b,s:b,s:f,s:f,s:I}", "set", sn,
                              "variant", vn, "embedder", en, "questions", (json_int_t)qs.n, "half_a", (json_int_t)nha,
                              "half_b", (json_int_t)(qs.n - nha), "passages", (json_int_t)nrec,
                              "answers", qs.has_answers, "linked", link, "cached", cached,
                              "import_s", t_imp,
                              "link_s", t_link, "mention_links", (json_int_t)ls.links));
                {   /* Warm-up: loads the embedder's data and the flat vectors once. */
                    cvs_context_result r;
                    bu_check(cvs_txn_context(t, &base, "warm up", 0, NULL, &r), "warm-up");
                    cvs_context_result_free(&r);
                }
                scratch s = {0};
                ctx cx = {0};
                qres *res = xrealloc(NULL, (qs.n + 1) * sizeof *res);
                s.qvec = xrealloc(NULL, co.dim * sizeof *s.qvec);
                for (int m = 0; m < M_COUNT; m++) {
                    if (!use[m])
                        continue;
                    double tm = bu_now();
                    for (size_t i = 0; i < qs.n; i++)
                        if (qs.q[i].ngold)
                            run_question(db, t, m, &base, &qs.q[i], budgets, nb, (size_t)nrec, &s,
                                         &cx, &res[i]);
                    size_t before = as.n;
                    aggregate(&as, sn, vn, en, &qs, m, res, budgets, nb, by_type, half >= 0);
                    if (pq)
                        write_per_question(pq, sn, vn, en, &qs, m, res, budgets, nb);
                    fprintf(stderr, "%s/%s (%s) %-11s (%.0f s):", sn, vn, en, method_names[m],
                            bu_now() - tm);
                    /* all questions (or the one half run), all types */
                    const char *hn = half < 0 ? "all" : half ? "B" : "A";
                    double r5 = 0;
                    for (size_t i = before; i < as.n; i++)
                        if (!strcmp(as.a[i].half, hn) && !as.a[i].type[0]) {
                            fprintf(stderr, " %.3f", as.a[i].full);
                            r5 = as.a[i].r5;
                        }
                    fprintf(stderr, "  R@5 %.3f\n", r5);
                }
                free(res);
                free(s.keys);
                free(s.scores);
                free(s.rank);
                free(s.bm);
                free(s.qvec);
                ctx_free(&cx);
                cvs_txn_end(t);
                cvs_db_close(db);
            }
            bu_rmrf(tmp);
            free(tmp);
        }
        qset_free(&qs);
        if (ret)
            break;
    }
    if (!ret) {
        size_t lat_b = 0;
        for (size_t b = 0; b < nb; b++)
            if (budgets[b] == 512)
                lat_b = b;
        if (!json_path || strcmp(json_path, "-")) {
            printf("Halves: A = questions whose FNV-1a-64(id) has top bit 0 (for choosing), "
                   "B = the rest (for reporting).\n\n");
            print_table(&as, budgets, nb, lat_b);
            if (use[M_DEFAULT])
                print_goals(&as, budgets, nb, half == 0 ? "A" : "B");
            if (by_type)
                print_by_type(&as, budgets, nb);
            if (unit_s) {
                size_t lat_s = 0;
                for (size_t b = 0; b < nb; b++)
                    if (budgets[b] == 256)
                        lat_s = b;
                print_unit_table(&as, budgets, nb, lat_s);
            }
            print_answer_note(&as, budgets);
        }
        if (csv && write_csv(&as, csv))
            ret = 2;
        if (json_path && write_json(&as, sets_json, json_path))
            ret = 2;
    }
    if (pq && fclose(pq)) {
        perror(pq_path);
        ret = 2;
    }
    json_decref(sets_json);
    free(as.a);
    return ret;
}
