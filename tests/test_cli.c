/* test_cli.c -- the cvstore command line as a program sees it: JSON output
 * parsed with jansson and checked field by field (stats, search, check),
 * search results checked against the SIFT10K ground truth, and golden
 * comparisons of outputs that are stable by construction (export lines,
 * cosine scores that are exact in float arithmetic).  The shell test
 * tests/cli_basic.sh covers the exit-code contract more broadly. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"
#include "cli/eta.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    cr_assert_not_null(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
    dir = NULL;
}

/* Three records whose cosine scores against (1,0,0) are exact in float:
 * after normalization a's first component is 1, b's is 0. */
static const char small_jsonl[] =
    "{\"id\":\"a\",\"vector\":[1,0,0],\"text\":\"first\",\"meta\":{\"k\":\"v\"},\"links\":[\"b\"]}\n"
    "{\"id\":\"b\",\"vector\":[0,1,0.5],\"links\":[{\"id\":\"a\",\"type\":\"cites\",\"weight\":0.5}]}\n"
    "{\"id\":7,\"vector\":[0.9,0.1,0]}\n";

/* Creates dir/db with the given metric and imports small_jsonl into it. */
static void make_small(const char *metric)
{
    char *src = tu_write_file(dir, "small.jsonl", small_jsonl, sizeof small_jsonl - 1);
    cr_assert_not_null(src);
    cr_assert_eq(tu_cli(NULL, "init '%s/db' --dim 3 --metric %s", dir, metric), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s/db' '%s' --quiet", dir, src), 0);
    free(src);
}

/* Parses one line of JSON (an object), failing the test otherwise. */
static json_t *parse_line(const char *line, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(line, len, 0, &err);
    cr_assert_not_null(j, "bad JSON (%s): %.*s", err.text, (int)len, line);
    cr_assert(json_is_object(j));
    return j;
}

Test(cli, stats_json, .init = setup, .fini = teardown)
{
    char *out = NULL;
    json_t *j;

    make_small("ip");
    cr_assert_eq(tu_cli(&out, "stats '%s/db' --json", dir), 0);
    j = parse_line(out, strlen(out));
    cr_expect_eq(json_integer_value(json_object_get(j, "count")), 3);
    cr_expect_eq(json_integer_value(json_object_get(j, "dim")), 3);
    cr_expect_str_eq(json_string_value(json_object_get(j, "metric")), "ip");
    cr_expect_str_eq(json_string_value(json_object_get(j, "raw")), "f32");
    cr_expect_eq(json_integer_value(json_object_get(j, "format_version")), 1);
    cr_expect_gt(json_integer_value(json_object_get(j, "disk_bytes")), 0);
    cr_expect_gt(json_integer_value(json_object_get(j, "map_bytes")), 0);
    {
        const char *c = json_string_value(json_object_get(j, "created"));
        cr_assert_not_null(c);
        /* 2026-11-23T02:28:10.123456Z */
        cr_expect_eq(strlen(c), 27, "created: %s", c);
        cr_expect_eq(c[10], 'T');
        cr_expect_eq(c[26], 'Z');
    }
    json_decref(j);
    free(out);

    cr_assert_eq(tu_cli(&out, "stats '%s/db'", dir), 0);
    cr_expect(strstr(out, "records:        3\n") != NULL, "%s", out);
    cr_expect(strstr(out, "metric:         ip\n") != NULL, "%s", out);
    free(out);
}

/* Each member of a command's --json output (nested ones too) is named in
 * its --help. */
/* key occurs in text as a word of its own (not inside a longer name:
 * "k" is in "knn", which would let any short key pass). */
static int names_word(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; (p = strstr(p, key)); p++) {
        int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = isalnum((unsigned char)p[n]) || p[n] == '_';
        if (!before && !after)
            return 1;
    }
    return 0;
}

static void help_names_json(const char *json_args, const char *cmd)
{
    char *out = NULL, *help = NULL;
    const char *key, *k2;
    json_t *j, *v, *v2;
    cr_assert_eq(tu_cli(&out, "%s", json_args), 0, "%s", json_args);
    cr_assert_eq(tu_cli(&help, "%s --help", cmd), 0);
    j = parse_line(out, strlen(out));
    json_object_foreach(j, key, v) {
        cr_expect(names_word(help, key), "%s --help does not name %s", cmd, key);
        if (json_is_object(v))
            json_object_foreach(v, k2, v2)
                cr_expect(names_word(help, k2), "%s --help does not name %s.%s", cmd, key, k2);
    }
    json_decref(j);
    free(out);
    free(help);
}

/* stats, link and tune --help name every member their --json prints (they
 * left out stats' path, its codec's members and its index's refine and
 * dirty, and all of link's and tune's). */
Test(cli, help_names_every_json_member, .init = setup, .fini = teardown)
{
    char args[4300];
    make_small("l2");
    cr_assert_eq(tu_cli(NULL, "build '%s/db' --codec sq8 --index ivf1 -q", dir), 0);
    snprintf(args, sizeof args, "stats '%s/db' --json", dir);
    help_names_json(args, "stats");
    snprintf(args, sizeof args, "link '%s/db' --json", dir);
    help_names_json(args, "link");
    snprintf(args, sizeof args, "tune '%s/db' --json -k 1 2>/dev/null", dir);
    help_names_json(args, "tune");
    snprintf(args, sizeof args, "import '%s/db' '%s/small.jsonl' --link --json", dir, dir);
    help_names_json(args, "import");
    snprintf(args, sizeof args, "delete '%s/db' a --json", dir);
    help_names_json(args, "delete");
}

/* Every command that opens a store takes --key-file (taken before getopt
 * sees the rest), and its --help says so: only init's and the top-level
 * help did, so `cvstore search --help` never said how to open an encrypted
 * store. */
Test(cli, every_help_names_key_file)
{
    static const char *const cmds[] = {"init", "import", "build", "tune", "get", "delete",
                                       "search", "stats", "check", "export", "mcp", "link",
                                       "context"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *help = NULL;
        cr_assert_eq(tu_cli(&help, "%s --help", cmds[i]), 0, "%s --help", cmds[i]);
        cr_expect(strstr(help, "--key-file F"), "%s --help does not name --key-file", cmds[i]);
        free(help);
    }
}

/* import and delete print their summaries as JSON for scripts (they had no
 * --json): the counts, the link report as `link --json` gives it, and the
 * same exit codes as without. */
Test(cli, import_and_delete_json, .init = setup, .fini = teardown)
{
    char *out = NULL;
    json_t *j, *l;
    make_small("l2");
    cr_assert_eq(tu_cli(&out, "import '%s/db' '%s/small.jsonl' --json", dir, dir), 0);
    j = parse_line(out, strlen(out));
    cr_assert_eq(json_integer_value(json_object_get(j, "records")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "inserted")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "updated")), 3);
    cr_assert_gt(json_integer_value(json_object_get(j, "bytes")), 0);
    cr_assert(json_is_real(json_object_get(j, "seconds")));
    cr_assert(!json_object_get(j, "link"), "a store without an embedder links on --link only");
    cr_assert(strstr(json_string_value(json_object_get(j, "file")), "small.jsonl"));
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(&out, "import '%s/db' '%s/small.jsonl' --json --link", dir, dir), 0);
    j = parse_line(out, strlen(out));
    l = json_object_get(j, "link");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(l, "mentions"), "records")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(l, "knn"), "records")), 3);
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(&out, "delete '%s/db' a b nope --json", dir), 0);
    j = parse_line(out, strlen(out));
    cr_assert_eq(json_integer_value(json_object_get(j, "deleted")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "requested")), 3);
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(&out, "delete '%s/db' nope --json 2>/dev/null", dir), 1);
    j = parse_line(out, strlen(out));
    cr_assert_eq(json_integer_value(json_object_get(j, "deleted")), 0);
    json_decref(j);
    free(out);
}

/* A file or store name is bytes: import --json and stats --json give one
 * that is not UTF-8 with \xNN escapes (import exited 2 with no word although
 * its import was committed, stats said "out of memory").  A report that
 * cannot be written (a full disk) says on stderr that the change is
 * committed, exit code 2, once. */
Test(cli, json_reports_of_names_not_utf8, .init = setup, .fini = teardown)
{
    char *out = NULL;
    json_t *j;
    make_small("l2");
    static const char rec[] = "{\"id\":\"new\",\"vector\":[1,2,3]}\n";
    free(tu_write_file(dir, "v\xff.jsonl", rec, sizeof rec - 1));
    cr_assert_eq(tu_cli(&out, "import '%s/db' '%s/v\xff.jsonl' --json", dir, dir), 0);
    j = parse_line(out, strlen(out));
    cr_assert_eq(json_integer_value(json_object_get(j, "inserted")), 1);
    cr_assert(strstr(json_string_value(json_object_get(j, "file")), "/v\\xff.jsonl"), "%s", out);
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(NULL, "init '%s/d\xfe' --dim 2 --metric l2 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(&out, "stats '%s/d\xfe' --json", dir), 0);
    j = parse_line(out, strlen(out));
    cr_assert(strstr(json_string_value(json_object_get(j, "path")), "/d\\xfe"), "%s", out);
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(&out, "delete '%s/db' new --json 2>&1 >/dev/full", dir), 2);
    cr_assert(strstr(out, "the delete is committed, but its JSON report could not be written"),
              "%s", out);
    cr_assert(!strstr(out, "error writing output"), "said twice: %s", out);
    free(out);
    cr_assert_eq(tu_cli(NULL, "get '%s/db' new >/dev/null 2>&1", dir), 1, "the delete is done");
    cr_assert_eq(tu_cli(&out, "import '%s/db' '%s/v\xff.jsonl' --json 2>&1 >/dev/full", dir, dir),
                 2);
    cr_assert(strstr(out, "the import is committed"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(NULL, "get '%s/db' new >/dev/null", dir), 0, "the import is done");
}

Test(cli, search_json_cosine_golden, .init = setup, .fini = teardown)
{
    char *out = NULL;

    make_small("cosine");
    cr_assert_eq(tu_cli(&out, "search '%s/db' --query-vector 1,0,0 -k 3 --json --exact", dir), 0);
    cr_expect_str_eq(out, "{\"query\":0,\"results\":[{\"id\":\"a\",\"score\":1.0},"
                          "{\"id\":\"7\",\"score\":0.993883729},{\"id\":\"b\",\"score\":0.0}]}\n");
    free(out);

    /* k beyond the count: the padding is not printed. */
    cr_assert_eq(tu_cli(&out, "search '%s/db' --query-vector 1,0,0 -k 50 --json", dir), 0);
    {
        json_t *j = parse_line(out, strlen(out));
        cr_expect_eq(json_array_size(json_object_get(j, "results")), 3);
        json_decref(j);
    }
    free(out);
}

Test(cli, search_query_id, .init = setup, .fini = teardown)
{
    char *out = NULL;
    json_t *j, *res;

    make_small("cosine");
    cr_assert_eq(tu_cli(&out, "search '%s/db' --query-id a -k 5 --json", dir), 0);
    j = parse_line(out, strlen(out));
    cr_expect_eq(json_integer_value(json_object_get(j, "query")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(j, "query_id")), "a");
    res = json_object_get(j, "results");
    /* The record itself is left out. */
    cr_assert_eq(json_array_size(res), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "id")), "7");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(res, 1), "id")), "b");
    json_decref(j);
    free(out);

    cr_expect_eq(tu_cli(NULL, "search '%s/db' --query-id nope -k 5 2>/dev/null", dir), 1);
}

Test(cli, search_json_sift_ground_truth, .init = setup, .fini = teardown, .timeout = 120)
{
    const char *sift = CVS_TEST_DATA "/siftsmall";
    char *out = NULL, *line, *nl;
    float *base = NULL, *queries = NULL;
    int32_t *gt = NULL;
    size_t nb, nq, ngt, hits = 0, total = 0, q = 0;
    uint32_t dim, qdim, gdim;

    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_base.fvecs", CVS_FMT_FVECS, &base, &nb, &dim), 0);
    cr_assert_eq(cvs_vecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_query.fvecs", CVS_FMT_FVECS,
                               &queries, &nq, &qdim), 0);
    cr_assert_eq(cvs_ivecs_load(CVS_TEST_DATA "/siftsmall/siftsmall_groundtruth.ivecs", &gt, &ngt, &gdim), 0);
    cr_assert_eq(nq, ngt);
    cr_assert_geq(gdim, 10);

    cr_assert_eq(tu_cli(NULL, "init '%s/db' --dim 128 --metric l2", dir), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s/db' '%s/siftsmall_base.fvecs' --quiet", dir, sift), 0);
    cr_assert_eq(tu_cli(&out, "search '%s/db' --query-file '%s/siftsmall_query.fvecs' -k 10 --json --exact",
                        dir, sift), 0);

    for (line = out; *line; line = nl + 1, q++) {
        json_t *j, *res;
        float prev = -1;
        nl = strchr(line, '\n');
        cr_assert_not_null(nl, "every line ends with a newline");
        j = parse_line(line, (size_t)(nl - line));
        cr_assert_eq(json_integer_value(json_object_get(j, "query")), (json_int_t)q, "queries in order");
        res = json_object_get(j, "results");
        cr_assert_eq(json_array_size(res), 10);
        for (size_t r = 0; r < 10; r++) {
            json_t *e = json_array_get(res, r);
            const char *id = json_string_value(json_object_get(e, "id"));
            float score = (float)json_real_value(json_object_get(e, "score"));
            long key = strtol(id, NULL, 10);
            double d = 0;
            cr_assert(key >= 0 && (size_t)key < nb);
            cr_expect_geq(score, prev, "query %zu: scores ascend for l2", q);
            prev = score;
            /* score is the Euclidean distance, not its square */
            for (uint32_t i = 0; i < dim; i++) {
                double t = (double)queries[q * dim + i] - base[(size_t)key * dim + i];
                d += t * t;
            }
            cr_expect(fabs(sqrt(d) - score) <= 1e-3 * (sqrt(d) + 1),
                      "query %zu rank %zu: score %g, distance %g", q, r, score, sqrt(d));
            for (size_t g = 0; g < 10; g++)
                if (gt[q * gdim + g] == key) {
                    hits++;
                    break;
                }
            total++;
        }
        if (q == 0)
            for (size_t r = 0; r < 10; r++)
                cr_expect_eq(strtol(json_string_value(json_object_get(json_array_get(res, r), "id")),
                                    NULL, 10),
                             gt[r], "first query, rank %zu", r);
        json_decref(j);
    }
    cr_expect_eq(q, nq);
    /* Exact search; only ties at the 10th place may differ. */
    cr_expect_geq((double)hits / (double)total, 0.995, "recall@10 %zu/%zu", hits, total);
    free(out);
    cvs_free(base);
    cvs_free(queries);
    cvs_free(gt);
}

/* Removes from export's output each line's times, ',"created_us":N,
 * "updated_us":M}' at its end (they differ from run to run), checking
 * that every line has them. */
static void strip_times(char *out)
{
    char *w = out, *line = out;
    while (*line) {
        char *nl = strchr(line, '\n'), *t = strstr(line, ",\"created_us\":");
        cr_assert_not_null(nl);
        cr_assert(t && t < nl && strstr(t, ",\"updated_us\":") < nl, "no times: %.*s",
                  (int)(nl - line), line);
        memmove(w, line, (size_t)(t - line));
        w += t - line;
        *w++ = '}';
        *w++ = '\n';
        line = nl + 1;
    }
    *w = '\0';
}

Test(cli, export_golden, .init = setup, .fini = teardown)
{
    char *out = NULL;

    make_small("l2");
    cr_assert_eq(tu_cli(&out, "export '%s/db'", dir), 0);
    strip_times(out);
    cr_expect_str_eq(out,
                     "{\"id\":\"a\",\"vector\":[1,0,0],\"text\":\"first\",\"meta\":{\"k\":\"v\"},\"links\":[\"b\"]}\n"
                     "{\"id\":\"b\",\"vector\":[0,1,0.5],\"links\":[{\"id\":\"a\",\"type\":\"cites\",\"weight\":0.5}]}\n"
                     "{\"id\":\"7\",\"vector\":[0.899999976,0.100000001,0]}\n");
    free(out);
    cr_assert_eq(tu_cli(&out, "export '%s/db' --no-vector", dir), 0);
    strip_times(out);
    cr_expect_str_eq(out,
                     "{\"id\":\"a\",\"text\":\"first\",\"meta\":{\"k\":\"v\"},\"links\":[\"b\"]}\n"
                     "{\"id\":\"b\",\"links\":[{\"id\":\"a\",\"type\":\"cites\",\"weight\":0.5}]}\n"
                     "{\"id\":\"7\"}\n");
    free(out);
}

Test(cli, get_json, .init = setup, .fini = teardown)
{
    char *out = NULL, *nl;
    json_t *j, *links;

    make_small("l2");
    cr_assert_eq(tu_cli(&out, "get '%s/db' b nope --json --vector 2>/dev/null", dir), 1,
                 "a missing id makes the exit code 1");
    nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    cr_expect_eq(nl[1], '\0', "only the found record is printed");
    j = parse_line(out, (size_t)(nl - out));
    cr_expect_str_eq(json_string_value(json_object_get(j, "id")), "b");
    cr_expect_eq(json_integer_value(json_object_get(j, "key")), 2);
    cr_expect_eq(json_array_size(json_object_get(j, "vector")), 3);
    cr_expect_eq(json_real_value(json_array_get(json_object_get(j, "vector"), 2)), 0.5);
    links = json_object_get(j, "links");
    cr_assert_eq(json_array_size(links), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(links, 0), "type")), "cites");
    cr_expect_str_eq(json_string_value(json_object_get(j, "created")),
                     json_string_value(json_object_get(j, "updated")));
    json_decref(j);
    free(out);
}

Test(cli, check_json_and_exit_codes, .init = setup, .fini = teardown)
{
    char *out = NULL;
    json_t *j;

    make_small("l2");
    cr_assert_eq(tu_cli(&out, "check '%s/db' --json", dir), 0);
    j = parse_line(out, strlen(out));
    cr_expect(json_is_true(json_object_get(j, "healthy")));
    cr_expect_eq(json_integer_value(json_object_get(j, "problems")), 0);
    cr_expect_eq(json_array_size(json_object_get(j, "messages")), 0);
    json_decref(j);
    free(out);

    cr_expect_eq(tu_cli(NULL, "stats '%s/missing' 2>/dev/null", dir), 1);
    cr_expect_eq(tu_cli(NULL, "check '%s/missing' 2>/dev/null", dir), 1);
    cr_expect_eq(tu_cli(NULL, "search '%s/db' -k 0 --query-id a 2>/dev/null", dir), 1);
    cr_expect_eq(tu_cli(NULL, "init '%s/db' --dim 3 --metric l2 2>/dev/null", dir), 1, "EEXIST");
    cr_expect_eq(tu_cli(NULL, "frob 2>/dev/null"), 1);
    cr_expect_eq(tu_cli(NULL, "export --help >/dev/null"), 0);
}

Test(cli, check_reports_problems, .init = setup, .fini = teardown)
{
    char *out = NULL, *path = NULL;
    cvs_db *db = NULL;
    float v[3] = {1, 2, 3};
    cvs_link l = {.id = "ghost", .id_len = 5, .weight = 1};
    cvs_record r = {.id = "x", .id_len = 1, .vector = v, .links = &l, .nlinks = 1};
    json_t *j;

    make_small("l2");
    /* A forward link that never gets its target is a dangling link: the
     * kind of problem check exists to find, made through the public API. */
    cr_assert(asprintf(&path, "%s/db", dir) > 0);
    cr_assert_eq(cvs_db_open(path, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_FORWARD_LINKS, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);

    cr_assert_eq(tu_cli(&out, "check '%s' --json", path), 1, "problems found -> exit 1");
    j = parse_line(out, strlen(out));
    cr_expect(json_is_false(json_object_get(j, "healthy")));
    cr_expect_geq(json_integer_value(json_object_get(j, "problems")), 1);
    cr_expect_geq(json_array_size(json_object_get(j, "messages")), 1);
    cr_expect(strstr(json_string_value(json_array_get(json_object_get(j, "messages"), 0)), "ghost") != NULL,
              "%s", out);
    json_decref(j);
    free(out);
    cr_expect_eq(tu_cli(&out, "check '%s'", path), 1);
    cr_expect(strstr(out, "problem: ") != NULL, "%s", out);
    free(out);
    free(path);
}

/* ==== The progress bar's estimate, on synthetic timings ==== */

/* Feeds reports every dt seconds from t0 to t1 at a constant rate
 * (fraction per second), starting from fraction *f; returns the time
 * reached. */
static double feed(cli_eta *e, double t0, double t1, double dt, double rate, double *f)
{
    double t = t0;
    for (; t < t1 - 1e-9; t += dt) {
        *f += rate * dt;
        cli_eta_add(e, t + dt, *f * 1e6, *f);
    }
    return t;
}

/* At a steady pace the estimate is the truth. */
Test(eta, steady_pace_is_exact)
{
    cli_eta e;
    double f = 0, t;
    cli_eta_reset(&e);
    cli_eta_add(&e, 0, 0, 0);
    cr_assert_lt(cli_eta_seconds(&e), 0, "no estimate from one report");
    feed(&e, 0, 0.4, 0.05, 0.01, &f);
    cr_assert_lt(cli_eta_seconds(&e), 0, "no estimate before half a second of reports");
    t = feed(&e, 0.4, 30, 0.05, 0.01, &f); /* 1% a second: 30% done at 30 s */
    cr_assert_float_eq(cli_eta_seconds(&e), (1 - f) / 0.01, 0.01, "%g at t=%g",
                       cli_eta_seconds(&e), t);
    cr_assert_float_eq(cli_eta_rate(&e), 0.01 * 1e6, 1);
}

/* A fast start, then a pace ten times slower (an import past the page
 * cache): once the window has passed into the slow part, the estimate is
 * the slow pace's, where the whole phase's average (the bar's old rule:
 * elapsed * (1 - f) / f) promised a fraction of it. */
Test(eta, a_slowdown_is_not_hidden_by_the_fast_start)
{
    cli_eta e;
    double f = 0, t, truth, average;
    cli_eta_reset(&e);
    cli_eta_add(&e, 0, 0, 0);
    t = feed(&e, 0, 10, 0.1, 0.04, &f);      /* 40% in 10 s */
    t = feed(&e, t, t + 40, 0.1, 0.004, &f); /* then 0.4% a second for 40 s: 56% */
    truth = (1 - f) / 0.004;
    average = t * (1 - f) / f;
    cr_assert_float_eq(cli_eta_seconds(&e), truth, truth * 0.02, "estimate %g, truth %g",
                       cli_eta_seconds(&e), truth);
    cr_assert_lt(average, truth / 2, "the old rule was off by %g", truth / average);
}

/* A speed-up is followed too, reports bunched closer than the sampling
 * step are all counted, and a stall (no progress across the window) has no
 * estimate rather than a made-up one; a reset forgets the old phase. */
Test(eta, speedup_bunched_reports_stall_and_reset)
{
    cli_eta e;
    double f = 0, t;
    cli_eta_reset(&e);
    cli_eta_add(&e, 0, 0, 0);
    t = feed(&e, 0, 30, 0.5, 0.002, &f);
    t = feed(&e, t, t + 30, 0.001, 0.01, &f); /* a thousand reports a second */
    cr_assert_float_eq(cli_eta_seconds(&e), (1 - f) / 0.01, (1 - f) / 0.01 * 0.02);
    t = feed(&e, t, t + 25, 0.5, 0, &f);
    cr_assert_lt(cli_eta_seconds(&e), 0, "a stall has no estimate");
    cr_assert_float_eq(cli_eta_rate(&e), 0, 1e-9);
    cli_eta_reset(&e);
    cli_eta_add(&e, t, 0, -1); /* unknown total: a rate, no estimate */
    cli_eta_add(&e, t + 2, 500, -1);
    cr_assert_float_eq(cli_eta_rate(&e), 250, 1e-9);
    cr_assert_lt(cli_eta_seconds(&e), 0);
}
