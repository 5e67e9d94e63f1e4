/* test_filter.c -- metadata filters: parse errors are clean CVS_EINVALs
 * (also on mutated garbage), every predicate kind agrees with a brute-force
 * evaluation over generated records, filtered searches (exact, codes,
 * codes-only, ANN over the IVF index at nprobe 1) return min(k, matches)
 * results that all match and equal the brute-force top k where exact, $ids
 * ignores unknown ids, the column cache follows puts and deletes while older
 * snapshots keep their view, and a code scan or an ANN search short of k
 * falls back to the exact scan of the matches. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf.h"
#include "index/search.h"
#include "store/colcache.h"
#include "store/db.h"
#include "store/filter.h"
#include "tests/testutil.h"

enum { N = 2000, D = 16, K = 10, NQ = 5 };

/* ==== Generated records ==== */

typedef struct trec {
    int has_meta;
    int lang;        /* 0 en, 1 fr, 2 de, 3 absent */
    int year;        /* a number, or a string when year_str */
    int year_str;
    double score;
    int flag;        /* 1 true, 0 false, -1 absent */
    int rare;        /* "rare": "x" */
    int q5;          /* "a\"b": i % 5 (a name jansson escapes) */
    int uni;         /* "é": "ü" */
    int gone;        /* deleted */
} trec;

static const char *langs[] = {"en", "fr", "de"};
static trec R[N];
static int allowed[N]; /* for the $ids predicates */
static int64_t keys[N];
static float *base;

static void gen(size_t i, trec *r)
{
    memset(r, 0, sizeof *r);
    r->has_meta = i % 17 != 0;
    r->lang = (int)(i % 4);
    r->year = 1990 + (int)((i * 7) % 40);
    r->year_str = i % 10 == 0;
    r->score = (double)(i % 100) / 8.0; /* exact in binary */
    r->flag = i % 3 == 0 ? 1 : i % 3 == 1 ? 0 : -1;
    r->rare = i % 250 == 7;
    r->q5 = (int)(i % 5);
    r->uni = i % 2 == 0;
}

static char *meta_json(const trec *r)
{
    char *s = malloc(512);
    int n = 0;
    n += sprintf(s + n, "{");
    if (r->lang < 3)
        n += sprintf(s + n, "\"lang\":\"%s\",", langs[r->lang]);
    if (r->year_str)
        n += sprintf(s + n, "\"year\":\"%d\",", r->year);
    else
        n += sprintf(s + n, "\"year\":%d,", r->year);
    n += sprintf(s + n, "\"score\":%.17g,", r->score);
    if (r->flag >= 0)
        n += sprintf(s + n, "\"flag\":%s,", r->flag ? "true" : "false");
    if (r->rare)
        n += sprintf(s + n, "\"rare\":\"x\",");
    n += sprintf(s + n, "\"a\\\"b\":%d,", r->q5);
    if (r->uni)
        n += sprintf(s + n, "\"\xc3\xa9\":\"\xc3\xbc\",");
    sprintf(s + n, "\"list\":[1,2]}");
    return s;
}

static cvs_db *make_store(char **dir, cvs_raw raw)
{
    cvs_create_opts o = {D, CVS_METRIC_L2, raw};
    cvs_db *db;
    cvs_record *r = calloc(N, sizeof *r);
    char (*ids)[16] = malloc(N * 16);
    char **metas = calloc(N, sizeof *metas);
    cvs_txn *t;
    base = malloc((size_t)N * D * sizeof *base);
    tu_randvecs(base, (size_t)N * D, 5);
    *dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(*dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
    for (size_t i = 0; i < N; i++) {
        gen(i, &R[i]);
        snprintf(ids[i], 16, "r%zu", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = base + i * D;
        if (R[i].has_meta) {
            metas[i] = meta_json(&R[i]);
            r[i].meta = metas[i];
            r[i].meta_len = strlen(metas[i]);
        }
    }
    cr_assert_eq(cvs_put(db, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (size_t i = 0; i < N; i++) {
        cvs_record rec;
        cr_assert_eq(cvs_get(t, ids[i], strlen(ids[i]), &rec, NULL), 0);
        keys[i] = rec.key;
    }
    cvs_txn_end(t);
    for (size_t i = 0; i < N; i++)
        free(metas[i]);
    free(metas);
    free(r);
    free(ids);
    return db;
}

static void drop_store(cvs_db *db, char *dir)
{
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
    free(base);
}

/* ==== Filters and their brute-force predicates ==== */

typedef int (*pred_fn)(const trec *r, size_t i);

static int p_en(const trec *r, size_t i) { (void)i; return r->has_meta && r->lang == 0; }
static int p_fr_de(const trec *r, size_t i) { (void)i; return r->has_meta && (r->lang == 1 || r->lang == 2); }
static int p_de(const trec *r, size_t i) { (void)i; return r->has_meta && r->lang == 2; }
static int p_y2000(const trec *r, size_t i) { (void)i; return r->has_meta && !r->year_str && r->year == 2000; }
static int p_y00s(const trec *r, size_t i)
{
    (void)i;
    return r->has_meta && !r->year_str && r->year >= 2000 && r->year < 2010;
}
static int p_ygt(const trec *r, size_t i) { (void)i; return r->has_meta && !r->year_str && r->year > 2000; }
static int p_yle(const trec *r, size_t i) { (void)i; return r->has_meta && !r->year_str && r->year <= 1995; }
static int p_score(const trec *r, size_t i) { (void)i; return r->has_meta && r->score > 3.5 && r->score <= 7.25; }
static int p_true(const trec *r, size_t i) { (void)i; return r->has_meta && r->flag == 1; }
static int p_false(const trec *r, size_t i) { (void)i; return r->has_meta && r->flag == 0; }
static int p_and(const trec *r, size_t i)
{
    return p_en(r, i) && p_true(r, i) && r->year >= 2005 && !r->year_str;
}
static int p_rare(const trec *r, size_t i) { (void)i; return r->has_meta && r->rare; }
static int p_q5(const trec *r, size_t i) { (void)i; return r->has_meta && r->q5 == 3; }
static int p_uni(const trec *r, size_t i) { (void)i; return r->has_meta && r->uni; }
static int p_all(const trec *r, size_t i) { (void)i; return !r->gone; }
static int p_none(const trec *r, size_t i) { (void)r; (void)i; return 0; }
static int p_ystr(const trec *r, size_t i) { (void)i; return r->has_meta && r->year_str && r->year == 1990; }
static int p_ymix(const trec *r, size_t i)
{
    (void)i;
    return r->has_meta && ((!r->year_str && r->year == 1991) || (r->year_str && r->year == 2000));
}
static int p_ids(const trec *r, size_t i) { (void)r; return allowed[i]; }
static int p_ids_en(const trec *r, size_t i) { return allowed[i] && p_en(r, i); }
static int p_ids_y(const trec *r, size_t i) { return allowed[i] && p_y00s(r, i) && p_fr_de(r, i); }
static int p_ids_frde(const trec *r, size_t i) { return allowed[i] && p_fr_de(r, i); }

typedef struct fcase {
    const char *json;
    pred_fn pred;
} fcase;

static const fcase cases[] = {
    {"{\"lang\": \"en\"}", p_en},
    {"{\"lang\": {\"$in\": [\"fr\", \"de\", \"zz\", \"fr\"]}}", p_fr_de},
    {"{\"lang\": {\"$eq\": \"de\"}}", p_de},
    {"{\"year\": 2000}", p_y2000},
    {"{\"year\": 2000.0}", p_y2000},
    {"{\"year\": {\"$gte\": 2000, \"$lt\": 2010}}", p_y00s},
    {"{\"year\": {\"$gt\": 2000}}", p_ygt},
    {"{\"year\": {\"$lte\": 1995}}", p_yle},
    {"{\"score\": {\"$gt\": 3.5, \"$lte\": 7.25}}", p_score},
    {"{\"flag\": true}", p_true},
    {"{\"flag\": false}", p_false},
    {"{\"lang\": \"en\", \"flag\": true, \"year\": {\"$gte\": 2005}}", p_and},
    {"{\"rare\": \"x\"}", p_rare},
    {"{\"a\\\"b\": 3}", p_q5},
    {"{\"\xc3\xa9\": \"\xc3\xbc\"}", p_uni},
    {"{}", p_all},
    {"{\"nope\": 1}", p_none},
    {"{\"\": 1}", p_none}, /* the empty name (found by fuzz_filter) */
    {"{\"list\": {\"$in\": [1, 2]}}", p_none},
    {"{\"year\": \"1990\"}", p_ystr},
    {"{\"year\": {\"$in\": [1991, \"2000\", true]}}", p_ymix},
    {"{\"lang\": \"en\", \"lang \": \"en\"}", p_none},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* {"$ids": [...]} over every step-th record from first, plus unknown ids,
 * with extra members appended; fills allowed[]. */
static char *ids_filter(size_t first, size_t step, const char *extra)
{
    size_t cap = N * 16 + 256, n = 0;
    char *s = malloc(cap);
    memset(allowed, 0, sizeof allowed);
    n += (size_t)sprintf(s + n, "{\"$ids\": [\"nope\", \"\", \"r99999\"");
    for (size_t i = first; i < N; i += step) {
        n += (size_t)sprintf(s + n, ", \"r%zu\"", i);
        allowed[i] = 1;
    }
    sprintf(s + n, "]%s}", extra);
    return s;
}

/* The filter's bitmap equals the predicate over every record. */
static void check_eval(cvs_db *db, const char *json, pred_fn pred)
{
    cvs_filter *f;
    cvs_txn *t;
    uint64_t *bits, nmatch, want = 0;
    size_t nw;
    cr_assert_eq(cvs_filter_parse(json, 0, &f), 0, "%s: %s", json, cvs_errmsg(NULL));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__filter_eval(t, f, &bits, &nw, &nmatch), 0, "%s: %s", json, cvs_errmsg(db));
    cr_assert_not_null(bits);
    for (size_t i = 0; i < N; i++) {
        int w = pred(&R[i], i);
        want += (uint64_t)w;
        cr_assert_eq(cvs__bit_test(bits, nw, keys[i]), w, "%s: record %zu: got %d, want %d", json,
                     i, !w, w);
    }
    cr_assert_eq(nmatch, want, "%s: %llu matches, want %llu", json, (unsigned long long)nmatch,
                 (unsigned long long)want);
    free(bits);
    cvs_txn_end(t);
    cvs_filter_free(f);
}

/* Brute-force top k (squared l2, double) among the records pred allows. */
static size_t naive_topk(const float *q, pred_fn pred, size_t k, int64_t *out)
{
    double *d = malloc(N * sizeof *d);
    char *used = calloc(N, 1);
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        double acc = 0;
        for (size_t j = 0; j < D; j++)
            acc += ((double)q[j] - base[i * D + j]) * ((double)q[j] - base[i * D + j]);
        d[i] = acc;
    }
    for (; n < k; n++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < N; i++)
            if (!used[i] && pred(&R[i], i) && (best == SIZE_MAX || d[i] < d[best]))
                best = i;
        if (best == SIZE_MAX)
            break;
        used[best] = 1;
        out[n] = keys[best];
    }
    free(d);
    free(used);
    return n;
}

static size_t index_of_key(int64_t key)
{
    for (size_t i = 0; i < N; i++)
        if (keys[i] == key)
            return i;
    cr_assert_fail("key %lld is not a record", (long long)key);
    return 0;
}

/* A filtered search: min(k, matches) results, all matching, distinct;
 * exact (flags EXACT, or CODES reranked on a store with raw vectors and
 * the direct path) also equal to the brute force. */
static void check_search_p(cvs_db *db, const char *json, pred_fn pred,
                           const cvs_search_params *tmpl, int exact)
{
    float q[NQ * D], scores[NQ * K];
    int64_t labels[NQ * K], ref[K];
    cvs_filter *f;
    cvs_search_params p = *tmpl;
    unsigned flags = p.flags;
    size_t nmatch = 0;
    cvs_txn *t;
    for (size_t i = 0; i < N; i++)
        nmatch += (size_t)(pred(&R[i], i) != 0);
    tu_randvecs(q, NQ * D, 77);
    cr_assert_eq(cvs_filter_parse(json, strlen(json), &f), 0, "%s", cvs_errmsg(NULL));
    p.filter = f;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, NQ, K, &p, labels, scores), 0, "%s: %s", json,
                 cvs_errmsg(db));
    for (size_t qi = 0; qi < NQ; qi++) {
        size_t want = nmatch < K ? nmatch : K, got = 0, nref = 0;
        const int64_t *l = labels + qi * K;
        while (got < K && l[got] >= 0)
            got++;
        cr_assert_eq(got, want, "%s flags %u: query %zu: %zu results, want %zu", json, flags, qi,
                     got, want);
        for (size_t j = got; j < K; j++)
            cr_assert(l[j] == -1 && isnan(scores[qi * K + j]), "%s: padding", json);
        for (size_t j = 0; j < got; j++) {
            size_t i = index_of_key(l[j]);
            cr_assert(pred(&R[i], i), "%s flags %u: result %zu (r%zu) does not match", json, flags,
                      j, i);
            for (size_t m = 0; m < j; m++)
                cr_assert_neq(l[m], l[j], "%s: duplicate result", json);
        }
        if (exact) {
            nref = naive_topk(q + qi * D, pred, K, ref);
            cr_assert_eq(nref, got);
            for (size_t j = 0; j < got; j++)
                cr_assert_eq(l[j], ref[j], "%s flags %u: query %zu rank %zu: r%zu, want r%zu", json,
                             flags, qi, j, index_of_key(l[j]), index_of_key(ref[j]));
        }
    }
    cvs_txn_end(t);
    cvs_filter_free(f);
}

static void check_search(cvs_db *db, const char *json, pred_fn pred, unsigned flags,
                         size_t rerank, int exact)
{
    cvs_search_params p = {.flags = flags, .rerank = rerank};
    check_search_p(db, json, pred, &p, exact);
}

/* ==== Parsing ==== */

Test(filter, parse_errors)
{
    static const char *bad[] = {
        "", "   ", "null", "[]", "1", "\"lang\"", "true", "{", "}", "{\"a\"}", "{\"a\":}",
        "{\"a\": 1,}", "{\"a\": 1} x", "{a: 1}", "{'a': 1}", "{\"a\": null}", "{\"a\": [1]}",
        "{\"a\": []}", "{\"a\": {}}", "{\"a\": {\"$foo\": 1}}", "{\"a\": {\"gt\": 1}}",
        "{\"a\": {\"$gt\": \"x\"}}", "{\"a\": {\"$gt\": null}}", "{\"a\": {\"$lt\": [1]}}",
        "{\"a\": {\"$gt\": 1, \"$gte\": 2}}", "{\"a\": {\"$lt\": 1, \"$lte\": 2}}",
        "{\"a\": {\"$in\": 3}}", "{\"a\": {\"$in\": \"x\"}}", "{\"a\": {\"$in\": [[1]]}}",
        "{\"a\": {\"$in\": [null]}}", "{\"a\": {\"$in\": [{}]}}", "{\"a\": {\"$eq\": {}}}",
        "{\"a\": {\"$eq\": null}}", "{\"a\": {\"$eq\": [1]}}", "{\"a\": {\"$gt\": 1, \"b\": 2}}",
        "{\"$ids\": \"x\"}", "{\"$ids\": [1]}", "{\"$ids\": [\"a\", null]}", "{\"$ids\": {}}",
        "{\"$foo\": 1}", "{\"$in\": [1]}", "{\"a\": 1, \"a\": 2}", "{\"a\": \"\xff\"}",
        "{\"\xc3\": 1}", "{\"a\": \"\\u0000\"}", "{\"a\": 1e999}", "{\"a\": 99999999999999999999}",
        "{\"a\": NaN}", "{\"a\": Infinity}", "{\"a\": {\"$gt\": -Infinity}}", "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cvs_filter *f = (cvs_filter *)&f; /* must come back NULL */
        int rc = cvs_filter_parse(bad[i], 0, &f);
        cr_assert_eq(rc, CVS_EINVAL, "'%s' gave %d", bad[i], rc);
        cr_assert_null(f, "'%s'", bad[i]);
        cr_assert_neq(cvs_errmsg(NULL)[0], '\0', "'%s' has no message", bad[i]);
    }
    /* Messages name the offending member. */
    {
        cvs_filter *f;
        cr_assert_eq(cvs_filter_parse("{\"ok\": 1, \"year\": {\"$gt\": \"x\"}}", 0, &f), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(NULL), "\"year\"") && strstr(cvs_errmsg(NULL), "$gt"), "%s",
                  cvs_errmsg(NULL));
        cr_assert_eq(cvs_filter_parse("{\"lang\": {\"$regex\": \"e.*\"}}", 0, &f), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(NULL), "\"lang\"") && strstr(cvs_errmsg(NULL), "$regex"), "%s",
                  cvs_errmsg(NULL));
        cr_assert_eq(cvs_filter_parse("{\"$ids\": [\"a\", 7]}", 0, &f), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(NULL), "$ids"), "%s", cvs_errmsg(NULL));
    }
    /* NULL arguments; free accepts NULL. */
    {
        cvs_filter *f;
        cr_assert_eq(cvs_filter_parse(NULL, 3, &f), CVS_EINVAL);
        cr_assert_eq(cvs_filter_parse("{}", 2, NULL), CVS_EINVAL);
        cvs_filter_free(NULL);
    }
}

Test(filter, parse_limits)
{
    cvs_filter *f;
    /* Deep nesting: jansson's parser stops at 2048 levels; ours at 3. */
    size_t n = 100000;
    char *s = malloc(2 * n + 16);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    cr_assert_eq(cvs_filter_parse(s, 0, &f), CVS_EINVAL);
    free(s);
    s = strdup("{\"a\": {\"$in\": [[[[[[[[[[1]]]]]]]]]]}}");
    cr_assert_eq(cvs_filter_parse(s, 0, &f), CVS_EINVAL);
    free(s);
    /* Too long: more than 16 MiB. */
    n = (16u << 20) + 10;
    s = malloc(n + 1);
    memset(s, ' ', n);
    memcpy(s, "{\"a\": 1}", 8);
    s[n] = '\0';
    cr_assert_eq(cvs_filter_parse(s, n, &f), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(NULL), "too long"), "%s", cvs_errmsg(NULL));
    free(s);
    /* Too many $in values. */
    s = malloc(70000 * 4 + 64);
    n = (size_t)sprintf(s, "{\"a\": {\"$in\": [0");
    for (int i = 1; i < 70000; i++)
        n += (size_t)sprintf(s + n, ",%d", i % 10);
    sprintf(s + n, "]}}");
    cr_assert_eq(cvs_filter_parse(s, 0, &f), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(NULL), "\"a\""), "%s", cvs_errmsg(NULL));
    free(s);
    /* An explicit length shorter than the string: only that prefix. */
    cr_assert_eq(cvs_filter_parse("{\"a\": 1}garbage", 8, &f), 0, "%s", cvs_errmsg(NULL));
    cvs_filter_free(f);
}

Test(filter, parse_valid)
{
    static const char *good[] = {
        "{}", " { } ", "{\"a\": 1}", "{\"a\": -1.5e3}", "{\"a\": \"\"}", "{\"\": 1}",
        "{\"a\": false}", "{\"a\": {\"$in\": []}}", "{\"a\": {\"$in\": [1, \"x\", true, false]}}",
        "{\"a\": {\"$gte\": 1, \"$lte\": 0}}", "{\"a\": {\"$gt\": 1, \"$in\": [2, 3], \"$eq\": 2}}",
        "{\"$ids\": []}", "{\"$ids\": [\"a\", \"a\"]}", "{\"$ids\": [\"a\"], \"b\": {\"$lt\": 3}}",
        "{\"a.b\": 1}", "{\"\xe6\x97\xa5\": \"\xe6\x9c\xac\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cvs_filter *f = NULL;
        cr_assert_eq(cvs_filter_parse(good[i], 0, &f), 0, "'%s': %s", good[i], cvs_errmsg(NULL));
        cr_assert_not_null(f);
        cvs_filter_free(f);
    }
}

/* Random mutations of valid filters: each parses or fails with
 * CVS_EINVAL, never anything else (and, under ASan, never a bad access). */
Test(filter, parse_mutations)
{
    static const char *seeds[] = {
        "{\"lang\": \"en\", \"year\": {\"$gte\": 2000, \"$lt\": 2010}}",
        "{\"lang\": {\"$in\": [\"en\", \"fr\", 3, true]}, \"$ids\": [\"doc1\", \"doc7\"]}",
        "{\"x\": {\"$eq\": -1.25e-3}, \"y\": false}",
    };
    uint64_t st = 12345;
    char buf[256];
    for (int it = 0; it < 20000; it++) {
        const char *seed = seeds[it % 3];
        size_t n = strlen(seed);
        cvs_filter *f = NULL;
        int rc;
        memcpy(buf, seed, n);
        for (int m = 0; m < 1 + it % 4; m++) {
            size_t pos;
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            pos = (size_t)(st >> 33) % n;
            switch ((st >> 20) % 3) {
            case 0: buf[pos] = (char)(st >> 40); break;                  /* replace */
            case 1: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break; /* delete */
            default:                                                     /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = "{}[]\":,$0e-"[(st >> 44) % 11];
                    n++;
                }
            }
            if (n == 0)
                break;
        }
        rc = cvs_filter_parse(buf, n ? n : 1, &f);
        cr_assert(rc == 0 || rc == CVS_EINVAL, "mutation %d gave %d", it, rc);
        cr_assert((rc == 0) == (f != NULL));
        cvs_filter_free(f);
    }
}

/* ==== Evaluation ==== */

Test(filter, eval_matches_brute_force)
{
    char *dir, *js;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    for (int round = 0; round < 2; round++) /* the second one reads the cache */
        for (size_t c = 0; c < NCASES; c++)
            check_eval(db, cases[c].json, cases[c].pred);
    /* $ids: few (per-record path) and many (column path), unknown ids
     * ignored, alone and ANDed with fields. */
    js = ids_filter(3, 97, "");
    check_eval(db, js, p_ids);
    free(js);
    js = ids_filter(3, 97, ", \"lang\": \"en\"");
    check_eval(db, js, p_ids_en);
    free(js);
    js = ids_filter(1, 3, ", \"lang\": \"en\"");
    check_eval(db, js, p_ids_en);
    free(js);
    js = ids_filter(0, 2, ", \"year\": {\"$gte\": 2000, \"$lt\": 2010}, \"lang\": {\"$in\": [\"fr\", \"de\"]}");
    check_eval(db, js, p_ids_y);
    free(js);
    js = ids_filter(N, 1, ""); /* unknown ids only */
    check_eval(db, js, p_none);
    free(js);
    drop_store(db, dir);
}

Test(filter, eval_empty_store)
{
    char *dir = tu_tmpdir();
    cvs_create_opts o = {4, CVS_METRIC_IP, CVS_RAW_F32};
    cvs_db *db;
    cvs_txn *t;
    cvs_filter *f;
    uint64_t *bits, nm;
    size_t nw;
    float q[4] = {1, 0, 0, 0}, s[2];
    int64_t l[2];
    cvs_search_params p = {0};
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_filter_parse("{\"a\": 1, \"$ids\": [\"x\"]}", 0, &f), 0);
    cr_assert_eq(cvs__filter_eval(t, f, &bits, &nw, &nm), 0, "%s", cvs_errmsg(db));
    cr_assert(bits && nw == 0 && nm == 0);
    free(bits);
    p.filter = f;
    cr_assert_eq(cvs_txn_search_params(t, q, 1, 2, &p, l, s), 0);
    cr_assert(l[0] == -1 && l[1] == -1 && isnan(s[0]));
    cvs_filter_free(f);
    cvs_txn_end(t);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

/* A steady churn of unique strings (an agent's memory: each memory's
 * "_hash" is new, the oldest are forgotten) keeps the cached column's
 * dictionary within twice the live set, and the compacted one still
 * answers right: live values match once, forgotten ones never. */
static int64_t churn_matches(cvs_db *db, int i)
{
    char js[64];
    cvs_filter *f;
    cvs_txn *t;
    uint64_t *bits, nm;
    size_t nw;
    snprintf(js, sizeof js, "{\"h\": \"v%d\"}", i);
    cr_assert_eq(cvs_filter_parse(js, 0, &f), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__filter_eval(t, f, &bits, &nw, &nm), 0, "%s", cvs_errmsg(db));
    free(bits);
    cvs_txn_end(t);
    cvs_filter_free(f);
    return (int64_t)nm;
}

Test(filter, churn_keeps_dictionary_bounded)
{
    enum { LIVE = 100, ROUNDS = 40, STEP = 10 };
    char *dir = tu_tmpdir(), ids[LIVE + ROUNDS * STEP][16], meta[LIVE + ROUNDS * STEP][32];
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    float v[4] = {1, 2, 3, 4};
    cvs_db *db;
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0);
    for (int i = 0; i < LIVE + ROUNDS * STEP; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(meta[i], sizeof meta[i], "{\"h\": \"v%d\"}", i);
    }
    for (int round = -1; round < ROUNDS; round++) {
        /* Round -1 puts the first LIVE; each later one puts STEP new
         * records and forgets the oldest STEP. */
        int first = round < 0 ? 0 : LIVE + round * STEP, n = round < 0 ? LIVE : STEP;
        cvs_record r[LIVE];
        const char *del[STEP];
        size_t dl[STEP];
        for (int j = 0; j < n; j++)
            r[j] = (cvs_record){.id = ids[first + j], .id_len = strlen(ids[first + j]),
                                .vector = v, .meta = meta[first + j],
                                .meta_len = strlen(meta[first + j])};
        cr_assert_eq(cvs_put(db, r, (size_t)n, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
        if (round >= 0) {
            for (int j = 0; j < STEP; j++) {
                del[j] = ids[round * STEP + j];
                dl[j] = strlen(del[j]);
            }
            cr_assert_eq(cvs_delete(db, del, dl, STEP, NULL), 0);
        }
        /* Evaluated after every write: each build carries the last over. */
        cr_assert_eq(churn_matches(db, first + n - 1), 1);
        cr_assert_leq(cvs__filter_cache_strings(db), 2 * LIVE + 64 + STEP,
                      "dictionary of %zu strings for %d live", cvs__filter_cache_strings(db), LIVE);
    }
    for (int i = 0; i < LIVE + ROUNDS * STEP; i++)
        cr_assert_eq(churn_matches(db, i), i >= ROUNDS * STEP, "v%d", i);
    cvs_db_close(db);
    tu_rmrf(dir);
    free(dir);
}

/* ==== The column cache ==== */

/* store/colcache.h on its own: the column of a field decodes every
 * record's value (type, number or interned string), and a second request in
 * the same snapshot gets the cached column itself, not a rebuilt one. */
Test(filter, colcache_columns_decode_and_are_shared)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    cvs_txn *t;
    cvs__fstr fields[2] = {{"lang", 4}, {"year", 4}};
    cvs__fcol *a[2] = {NULL, NULL}, *b[2] = {NULL, NULL};
    size_t nkeys = 0;
    for (size_t i = 0; i < N; i++)
        nkeys = (size_t)keys[i] + 1 > nkeys ? (size_t)keys[i] + 1 : nkeys;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__colcache_get(t, nkeys, fields, 2, a), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs__colcache_get(t, nkeys, fields, 1, b), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(b[0], a[0], "the snapshot's cached column");
    cr_assert_eq(a[0]->nkeys, nkeys);
    for (size_t i = 0; i < N; i++) {
        size_t k = (size_t)keys[i];
        if (!R[i].has_meta || R[i].lang == 3) {
            cr_assert_eq(a[0]->type[k], CVS__V_ABSENT, "r%zu", i);
            continue;
        }
        cr_assert_eq(a[0]->type[k], CVS__V_STR, "r%zu", i);
        cr_assert_eq(a[0]->val[k].s, cvs__sdict_find(&a[0]->dict, langs[R[i].lang], 2));
        cr_assert_eq(a[1]->type[k], R[i].year_str ? CVS__V_STR : CVS__V_NUM, "r%zu", i);
        if (!R[i].year_str)
            cr_assert_eq(a[1]->val[k].d, (double)R[i].year, "r%zu", i);
    }
    cr_assert_eq(a[0]->dict.n, 3, "en, fr, de");
    cr_assert_eq(cvs__sdict_find(&a[0]->dict, "es", 2), UINT32_MAX);
    cvs__colcache_release(db, a, 2);
    cvs__colcache_release(db, b, 1);
    cvs_txn_end(t);
    drop_store(db, dir);
}

/* ==== Search ==== */

Test(filter, exact_search)
{
    char *dir, *js;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    /* direct reads (the default on a small store), the filtered scan of the
     * flat copy, and the streamed scan */
    static const char *modes[][2] = {{"", ""}, {"0", ""}, {"0", "0"}};
    for (size_t m = 0; m < 3; m++) {
        setenv("CVSTORE_FILTER_DIRECT", modes[m][0], 1);
        setenv("CVSTORE_FLAT_CACHE_MB", modes[m][1], 1);
        for (size_t c = 0; c < NCASES; c++)
            check_search(db, cases[c].json, cases[c].pred, CVS_SEARCH_EXACT, 0, 1);
        js = ids_filter(5, 300, ", \"lang\": {\"$in\": [\"fr\", \"de\"]}");
        check_search(db, js, p_ids_frde, CVS_SEARCH_EXACT, 0, 1);
        free(js);
    }
    unsetenv("CVSTORE_FILTER_DIRECT");
    unsetenv("CVSTORE_FLAT_CACHE_MB");
    drop_store(db, dir);
}

Test(filter, codes_search)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    cr_assert_eq(cvs_build(db, "pq8", NULL), 0, "%s", cvs_errmsg(db));
    for (int m = 0; m < 2; m++) {
        /* m 0: the code scan skipping non-matches; m 1: the default, where
         * every filter on this small store is selective enough for the
         * exact scan of its matches */
        setenv("CVSTORE_FILTER_DIRECT", m ? "" : "0", 1);
        for (size_t c = 0; c < NCASES; c++) {
            check_search(db, cases[c].json, cases[c].pred, CVS_SEARCH_CODES, 0, m == 1);
            check_search(db, cases[c].json, cases[c].pred, CVS_SEARCH_CODES, 50, m == 1);
        }
    }
    unsetenv("CVSTORE_FILTER_DIRECT");
    drop_store(db, dir);
}

Test(filter, codes_only_store)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_NONE);
    cr_assert_eq(cvs_build(db, "pq8", NULL), 0, "%s", cvs_errmsg(db));
    for (size_t c = 0; c < NCASES; c++)
        check_search(db, cases[c].json, cases[c].pred, 0, 0, 0);
    drop_store(db, dir);
}

/* A code scan that finds fewer than k matching codes while more records
 * match falls back to the exact scan of the matches.  Records lacking a
 * code cannot be made through the API, so the test removes some. */
Test(filter, codes_fallback_to_exact)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    MDB_txn *w;
    size_t kept = 0;
    cr_assert_eq(cvs_build(db, "pq8", NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &w), 0);
    for (size_t i = 0; i < N; i++) {
        uint64_t k = (uint64_t)keys[i];
        MDB_val mk = {8, &k};
        if (!p_en(&R[i], i) || kept++ < 3)
            continue;
        cr_assert_eq(mdb_del(w, cvs__codes(db)->dbi_codes, &mk, NULL), 0);
    }
    cr_assert_eq(mdb_txn_commit(w), 0);
    setenv("CVSTORE_FILTER_DIRECT", "0", 1);
    check_search(db, "{\"lang\": \"en\"}", p_en, CVS_SEARCH_CODES, 0, 1);
    check_search(db, "{\"lang\": \"en\"}", p_en, CVS_SEARCH_CODES, 20, 1);
    unsetenv("CVSTORE_FILTER_DIRECT");
    drop_store(db, dir);
}

/* How many of the NQ queries a filtered ANN search at nprobe 1 leaves with
 * fewer than K results when nothing refills them: the search is given the
 * filter's matches as a bare bitmap (cvs__txn_search_allow), which the exact
 * refill does not follow. */
static size_t short_without_refill(cvs_db *db, pred_fn pred)
{
    size_t words = 0, nshort = 0;
    uint64_t *allow;
    float q[NQ * D], s[NQ * K];
    int64_t l[NQ * K];
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 1};
    cvs_txn *t;
    for (size_t i = 0; i < N; i++)
        if ((size_t)keys[i] / 64 + 1 > words)
            words = (size_t)keys[i] / 64 + 1;
    allow = calloc(words, sizeof *allow);
    for (size_t i = 0; i < N; i++)
        if (pred(&R[i], i))
            allow[keys[i] / 64] |= 1ull << (keys[i] % 64);
    tu_randvecs(q, NQ * D, 77); /* check_search's queries */
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__txn_search_allow(t, q, NQ, K, &p, allow, words, l, s), 0, "%s",
                 cvs_errmsg(db));
    cvs_txn_end(t);
    for (size_t qi = 0; qi < NQ; qi++)
        nshort += l[qi * K + K - 1] < 0;
    free(allow);
    return nshort;
}

/* A filtered ANN search on the native IVF index returns min(k, matches)
 * matching results even when its probed lists hold fewer matches than k:
 * the exact scan of the matches makes up the difference (search.c,
 * see its essay).  Direct reads of the matches are off so that the index
 * answers first; at nprobe 1 of 32 lists it sees about 1/32 of the 69
 * matches of the $ids filter, and of the 8 "rare" ones (all 8 must come
 * back).  The broad "en" filter (471 records) is the common case, where the
 * probed list alone holds k matches. */
Test(filter, ivf_ann_search_refills)
{
    static const char *index[] = {"ivf32", "ivf32,residual"};
    char *dir, *js;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    cvs_search_params p = {.flags = CVS_SEARCH_ANN, .nprobe = 1};
    setenv("CVSTORE_FILTER_DIRECT", "0", 1);
    js = ids_filter(3, 29, "");
    for (size_t s = 0; s < 2; s++) {
        cvs_build_opts bo = {.index = index[s]};
        cr_assert_eq(cvs_build(db, "pq8", &bo), 0, "%s", cvs_errmsg(db));
        /* The case is real: one list alone falls short for these queries. */
        cr_assert_gt(short_without_refill(db, p_ids), 0, "%s", index[s]);
        for (int nr = 0; nr < 2; nr++) {
            p.flags = CVS_SEARCH_ANN | (nr ? CVS_SEARCH_NORERANK : 0);
            check_search_p(db, js, p_ids, &p, 0);
            check_search_p(db, "{\"lang\": \"en\"}", p_en, &p, 0);
            check_search_p(db, "{\"rare\": \"x\"}", p_rare, &p, 0);
        }
    }
    free(js);
    unsetenv("CVSTORE_FILTER_DIRECT");
    drop_store(db, dir);
}

Test(filter, refused_flags)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    float q[D] = {0}, s[K];
    int64_t l[K];
    cvs_search_params p = {.flags = CVS_SEARCH_ANN};
    cvs_txn *t;
    cvs_filter *f;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_search_params(t, q, 1, K, &p, l, s), CVS_EINVAL);
    /* CODES without a codec fails with a filter too, even one selective
     * enough for the exact scan of its matches. */
    cr_assert_eq(cvs_filter_parse("{\"rare\": \"x\"}", 0, &f), 0);
    p.flags = CVS_SEARCH_CODES;
    p.filter = f;
    cr_assert_eq(cvs_txn_search_params(t, q, 1, K, &p, l, s), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "no codec"), "%s", cvs_errmsg(db));
    cvs_filter_free(f);
    cvs_txn_end(t);
    drop_store(db, dir);
}

/* ==== The column cache follows the snapshots ==== */

Test(filter, cache_invalidation)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    const char *en = "{\"lang\": \"en\"}";
    cvs_filter *f, *all;
    cvs_txn *old, *t;
    uint64_t *bits, nm, nm0;
    size_t nw, i_del = 4, i_upd = 1; /* r4 is "en", r1 is "fr" */
    const char *del = "r4";
    size_t del_len = 2;
    cvs_record up = {0};
    char *meta;

    cr_assert(p_en(&R[i_del], i_del) && p_fr_de(&R[i_upd], i_upd));
    cr_assert_eq(cvs_filter_parse(en, 0, &f), 0);
    cr_assert_eq(cvs_filter_parse("{}", 0, &all), 0);
    check_eval(db, en, p_en); /* fills the cache */
    cr_assert_eq(cvs_txn_begin(db, &old), 0);
    cr_assert_eq(cvs__filter_eval(old, f, &bits, &nw, &nm0), 0);
    free(bits);

    /* r1 becomes "en", r4 goes away */
    R[i_upd].lang = 0;
    meta = meta_json(&R[i_upd]);
    up.id = "r1";
    up.id_len = 2;
    up.vector = base + i_upd * D;
    up.meta = meta;
    up.meta_len = strlen(meta);
    cr_assert_eq(cvs_put(db, &up, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(meta);
    cr_assert_eq(cvs_delete(db, &del, &del_len, 1, NULL), 0);
    R[i_del].has_meta = 0; /* matches nothing any more */
    R[i_del].gone = 1;

    check_eval(db, en, p_en);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__filter_eval(t, f, &bits, &nw, &nm), 0);
    cr_assert_eq(nm, nm0); /* one in, one out */
    cr_assert(cvs__bit_test(bits, nw, keys[i_upd]) && !cvs__bit_test(bits, nw, keys[i_del]));
    free(bits);
    cr_assert_eq(cvs__filter_eval(t, all, &bits, &nw, &nm), 0);
    cr_assert_eq(nm, N - 1);
    cr_assert(!cvs__bit_test(bits, nw, keys[i_del]));
    free(bits);
    cvs_txn_end(t);

    /* The older snapshot still sees its own data, though the cache now
     * holds the newer one. */
    cr_assert_eq(cvs__filter_eval(old, f, &bits, &nw, &nm), 0);
    cr_assert_eq(nm, nm0);
    cr_assert(!cvs__bit_test(bits, nw, keys[i_upd]) && cvs__bit_test(bits, nw, keys[i_del]));
    free(bits);
    cvs_txn_end(old);

    /* A metadata-only update of a number field, then a range query. */
    R[i_upd].year = 2500;
    R[i_upd].year_str = 0;
    meta = meta_json(&R[i_upd]);
    up.meta = meta;
    up.meta_len = strlen(meta);
    cr_assert_eq(cvs_put(db, &up, 1, 0, NULL, NULL), 0);
    free(meta);
    {
        cvs_txn *t2;
        cvs_filter *g;
        cr_assert_eq(cvs_filter_parse("{\"year\": {\"$gt\": 2400}}", 0, &g), 0);
        cr_assert_eq(cvs_txn_begin(db, &t2), 0);
        cr_assert_eq(cvs__filter_eval(t2, g, &bits, &nw, &nm), 0);
        cr_assert_eq(nm, 1);
        cr_assert(cvs__bit_test(bits, nw, keys[i_upd]));
        free(bits);
        cvs_txn_end(t2);
        cvs_filter_free(g);
    }
    /* Every case again on this snapshot (columns carried over from the
     * previous one, re-parsing only r1), then after a write that changes
     * no metadata (all carried over), and after a codec build. */
    for (size_t c = 0; c < NCASES; c++)
        check_eval(db, cases[c].json, cases[c].pred);
    up.meta = NULL;
    up.meta_len = 0;
    R[i_upd].has_meta = 0;
    cr_assert_eq(cvs_put(db, &up, 1, 0, NULL, NULL), 0);
    for (size_t c = 0; c < NCASES; c++)
        check_eval(db, cases[c].json, cases[c].pred);
    up.id = "r0";
    up.vector = base + D; /* r0 takes r1's vector; r0 has no meta */
    cr_assert_eq(cvs_put(db, &up, 1, 0, NULL, NULL), 0);
    cr_assert_eq(cvs_build(db, "pq8", NULL), 0, "%s", cvs_errmsg(db));
    for (size_t c = 0; c < NCASES; c++)
        check_eval(db, cases[c].json, cases[c].pred);
    cvs_filter_free(f);
    cvs_filter_free(all);
    drop_store(db, dir);
}

/* Several threads evaluating filters of one snapshot share its columns. */
typedef struct thr {
    cvs_db *db;
    int id, failures;
} thr;

static void *eval_thread(void *arg)
{
    thr *a = arg;
    for (int it = 0; it < 30; it++) {
        const fcase *c = &cases[(size_t)(a->id * 7 + it) % NCASES];
        cvs_filter *f;
        cvs_txn *t;
        uint64_t *bits, nm, want = 0;
        size_t nw;
        if (cvs_filter_parse(c->json, 0, &f) || cvs_txn_begin(a->db, &t)) {
            a->failures++;
            continue;
        }
        for (size_t i = 0; i < N; i++)
            want += (uint64_t)(c->pred(&R[i], i) != 0);
        if (cvs__filter_eval(t, f, &bits, &nw, &nm) || nm != want)
            a->failures++;
        else
            free(bits);
        cvs_txn_end(t);
        cvs_filter_free(f);
    }
    return NULL;
}

Test(filter, threads_share_the_cache)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    pthread_t th[4];
    thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr){db, i, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, eval_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(a[i].failures, 0, "thread %d", i);
    }
    drop_store(db, dir);
}

/* Readers evaluate while a writer flips one record between "en" and "fr":
 * every snapshot sees one of the two counts, and the column cache is
 * replaced (and carried over) under the readers' feet (run under ASan). */
typedef struct flip {
    cvs_db *db;
    volatile int stop;
    uint64_t lo;
    int failures;
} flip;

static void *flip_reader(void *arg)
{
    flip *a = arg;
    cvs_filter *f;
    if (cvs_filter_parse("{\"lang\": \"en\", \"year\": {\"$gte\": 1990}}", 0, &f)) {
        a->failures++;
        return NULL;
    }
    while (!a->stop) {
        cvs_txn *t;
        uint64_t *bits, nm;
        size_t nw;
        if (cvs_txn_begin(a->db, &t)) {
            a->failures++;
            break;
        }
        for (int rep = 0; rep < 3; rep++) { /* the same snapshot: cached */
            if (cvs__filter_eval(t, f, &bits, &nw, &nm) || (nm != a->lo && nm != a->lo + 1)) {
                a->failures++;
                continue;
            }
            free(bits);
        }
        cvs_txn_end(t);
    }
    cvs_filter_free(f);
    return NULL;
}

Test(filter, concurrent_writer)
{
    char *dir;
    cvs_db *db = make_store(&dir, CVS_RAW_F32);
    pthread_t th[3];
    flip a = {db, 0, 0, 0};
    size_t i = 1; /* r1: "fr", year a number */
    cvs_record up = {0};
    cr_assert(p_fr_de(&R[i], i) && !R[i].year_str);
    for (size_t j = 0; j < N; j++)
        a.lo += (uint64_t)(p_en(&R[j], j) && !R[j].year_str);
    up.id = "r1";
    up.id_len = 2;
    up.vector = base + i * D;
    for (int j = 0; j < 3; j++)
        cr_assert_eq(pthread_create(&th[j], NULL, flip_reader, &a), 0);
    for (int w = 0; w < 40; w++) {
        char *meta;
        R[i].lang = w % 2 ? 1 : 0;
        meta = meta_json(&R[i]);
        up.meta = meta;
        up.meta_len = strlen(meta);
        cr_assert_eq(cvs_put(db, &up, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
        free(meta);
    }
    a.stop = 1;
    for (int j = 0; j < 3; j++)
        pthread_join(th[j], NULL);
    cr_assert_eq(a.failures, 0);
    drop_store(db, dir);
}
