/* test_memory_many.c -- cvs_mem_remember_many (query/memory.c deviation 7):
 * a batch gives what as many cvs_mem_remember calls in its order give.
 * Each scenario is run twice, on two stores made alike: one text a call
 * on the first, one batch on the second; then the outcomes, the stores
 * (key by key: id mapped, text, metadata, links, vector bit for bit) and
 * recall's answers are compared.  Ids are random either way, so records
 * are paired by key (both stores give keys in the order memories are
 * added).  Then the all-or-nothing cases: a bad text, bad options or a
 * failing embedder anywhere in a batch stores nothing, and the message
 * names the text; and a batch of none.
 *
 * The embedder is a bag-of-words hash (tu_bow_embed): texts with
 * the same words embed alike, so near-duplicates and revisions are made
 * on purpose; a text with no ASCII letter or digit ("日本語") is one it
 * cannot embed (CVS_EINPUT: kept with the stand-in vector), and one with
 * the word "boom" makes it fail (a non-finite value: CVS_EIO). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"

enum { D = 256 };

static char *dir[2];
static cvs_db *db[2];

static int bow_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                     float *out)
{
    (void)ctx;
    return tu_bow_embed(texts, lens, n, out, D, 1);
}

static void setup(void)
{
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_COSINE};
    for (int s = 0; s < 2; s++) {
        tu_store_create(&co, "mem.cvs", &dir[s], &db[s]);
        cr_assert_eq(cvs_db_set_embedder(db[s], "bow", D, bow_embed, NULL), 0, "%s",
                     cvs_errmsg(db[s]));
    }
}

static void teardown(void)
{
    for (int s = 0; s < 2; s++)
        tu_store_remove(&dir[s], &db[s]);
}

TestSuite(remember_many, .init = setup, .fini = teardown);

static uint64_t count(cvs_db *d)
{
    cvs_info info;
    cr_assert_eq(cvs_db_info(d, &info), 0);
    return info.count;
}

/* The same texts into both stores one call each (history before a batch). */
static void both_one_by_one(const char *const *texts, size_t n, const cvs_mem_remember_opts *o)
{
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < n; i++) {
            cvs_mem_remembered r;
            cr_assert_eq(cvs_mem_remember(db[s], texts[i], 0, o, &r), 0, "%s: %s", texts[i],
                         cvs_errmsg(db[s]));
        }
}

/* Ids of store 0 and the ids of store 1's records of the same keys. */
typedef struct idmap {
    char (*a)[CVS_MAX_ID_LEN + 1], (*b)[CVS_MAX_ID_LEN + 1];
    size_t n;
} idmap;

static const char *mapped(const idmap *m, const char *id, size_t len)
{
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->a[i]) == len && !memcmp(m->a[i], id, len))
            return m->b[i];
    cr_assert_fail("id \"%.*s\" of store 0 has no record", (int)len, id);
    return NULL;
}

/* Store 0's metadata with its ids mapped to store 1's, as a JSON value. */
static json_t *meta_mapped(const idmap *m, const char *meta, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(meta, len, 0, &je), *sb;
    cr_assert_not_null(j, "%s", je.text);
    if ((sb = json_object_get(j, "_superseded_by")))
        json_object_set_new(j, "_superseded_by",
                            json_string(mapped(m, json_string_value(sb),
                                               strlen(json_string_value(sb)))));
    return j;
}

/* Compares the two stores record by record (keys 0 .. up to the first
 * gap past the count) and fills the id map. */
static void same_stores(idmap *m)
{
    cvs_txn *t[2];
    uint64_t n = count(db[0]);
    float va[D], vb[D];
    cr_assert_eq(count(db[1]), n, "%llu memories one call each, %llu in batches",
                 (unsigned long long)n, (unsigned long long)count(db[1]));
    m->a = calloc(n + 1, sizeof *m->a);
    m->b = calloc(n + 1, sizeof *m->b);
    m->n = 0;
    for (int s = 0; s < 2; s++)
        cr_assert_eq(cvs_txn_begin(db[s], &t[s]), 0);
    /* First pass: the keys and the id map. */
    for (int64_t k = 0; m->n < n && k < (int64_t)(4 * n + 8); k++) {
        cvs_record ra, rb;
        int ea = cvs_get_key(t[0], k, &ra, NULL), eb = cvs_get_key(t[1], k, &rb, NULL);
        cr_assert_eq(ea, eb, "key %lld: %d in store 0, %d in store 1", (long long)k, ea, eb);
        if (ea == CVS_NOTFOUND)
            continue;
        cr_assert_eq(ea, 0);
        memcpy(m->a[m->n], ra.id, ra.id_len);
        memcpy(m->b[m->n], rb.id, rb.id_len);
        m->n++;
    }
    cr_assert_eq(m->n, n);
    /* Second pass: everything else of each record. */
    for (size_t i = 0; i < m->n; i++) {
        cvs_record ra, rb;
        json_t *ja, *jb;
        json_error_t je;
        cr_assert_eq(cvs_get(t[0], m->a[i], strlen(m->a[i]), &ra, va), 0);
        cr_assert_eq(cvs_get(t[1], m->b[i], strlen(m->b[i]), &rb, vb), 0);
        cr_assert_eq(ra.key, rb.key);
        cr_assert_eq(ra.text_len, rb.text_len);
        cr_assert(!memcmp(ra.text, rb.text, ra.text_len), "%.*s", (int)ra.text_len, ra.text);
        cr_assert(!memcmp(va, vb, sizeof va), "the vectors of \"%.*s\" differ", (int)ra.text_len,
                  ra.text);
        ja = meta_mapped(m, ra.meta, ra.meta_len);
        jb = json_loadb(rb.meta, rb.meta_len, 0, &je);
        cr_assert(json_equal(ja, jb), "metadata %.*s against %.*s", (int)ra.meta_len, ra.meta,
                  (int)rb.meta_len, rb.meta);
        json_decref(ja);
        json_decref(jb);
        cr_assert_eq(ra.nlinks, rb.nlinks, "\"%.*s\": %zu links against %zu", (int)ra.text_len,
                     ra.text, ra.nlinks, rb.nlinks);
        for (size_t l = 0; l < ra.nlinks; l++) {
            const char *want = mapped(m, ra.links[l].id, ra.links[l].id_len);
            cr_assert_eq(rb.links[l].id_len, strlen(want));
            cr_assert(!memcmp(rb.links[l].id, want, rb.links[l].id_len));
            cr_assert_str_eq(ra.links[l].type ? ra.links[l].type : "",
                             rb.links[l].type ? rb.links[l].type : "");
            cr_assert_eq(ra.links[l].weight, rb.links[l].weight);
        }
    }
    for (int s = 0; s < 2; s++)
        cvs_txn_end(t[s]);
}

static void idmap_free(idmap *m)
{
    free(m->a);
    free(m->b);
}

/* Recall's answer to q in ns, each strategy, on both stores: the same
 * memories (ids mapped), in the same order, with the same scores. */
static void same_recall(const idmap *m, const char *ns, const char *q)
{
    for (int st = CVS_MEM_HYBRID; st <= CVS_MEM_VECTOR; st++) {
        cvs_mem_recall_opts ro = {.ns = ns, .no_touch = 1, .strategy = (cvs_mem_strategy)st,
                                  .hops = 1};
        cvs_mem_items r[2] = {{0}, {0}};
        for (int s = 0; s < 2; s++)
            cr_assert_eq(cvs_mem_recall(db[s], q, 0, &ro, &r[s]), 0, "%s", cvs_errmsg(db[s]));
        cr_assert_eq(r[0].n, r[1].n, "\"%s\": %zu memories against %zu", q, r[0].n, r[1].n);
        cr_assert_gt(r[0].n, 0, "\"%s\" recalls nothing", q);
        for (size_t i = 0; i < r[0].n; i++) {
            cr_assert_str_eq(mapped(m, r[0].items[i].id, r[0].items[i].id_len),
                             r[1].items[i].id, "\"%s\", strategy %d, item %zu", q, st, i);
            cr_assert_eq(r[0].items[i].score, r[1].items[i].score);
        }
        for (int s = 0; s < 2; s++)
            cvs_mem_items_free(&r[s]);
    }
}

/* texts one call each into store 0 and in one batch into store 1; the
 * outcomes must match (ids through the stores' map), then the stores and
 * the recall of each query.  The outcomes are returned (store 0's ids). */
static void same_as_one_by_one(const char *const *texts, size_t n,
                               const cvs_mem_remember_opts *o, const char *const *queries,
                               cvs_mem_remembered *seq)
{
    cvs_mem_remembered *bat = calloc(n, sizeof *bat);
    idmap m;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cvs_mem_remember(db[0], texts[i], 0, o, &seq[i]), 0, "%s: %s", texts[i],
                     cvs_errmsg(db[0]));
    cr_assert_eq(cvs_mem_remember_many(db[1], texts, NULL, n, o, bat), 0, "%s",
                 cvs_errmsg(db[1]));
    same_stores(&m);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(seq[i].outcome, bat[i].outcome, "text %zu \"%s\": outcome %d against %d",
                     i, texts[i], seq[i].outcome, bat[i].outcome);
        cr_assert_str_eq(mapped(&m, seq[i].id, strlen(seq[i].id)), bat[i].id, "text %zu", i);
        cr_assert_eq(seq[i].similarity, bat[i].similarity, "text %zu", i);
        if (seq[i].superseded[0])
            cr_assert_str_eq(mapped(&m, seq[i].superseded, strlen(seq[i].superseded)),
                             bat[i].superseded, "text %zu", i);
        else
            cr_assert_str_eq(bat[i].superseded, "", "text %zu", i);
    }
    for (size_t q = 0; queries && queries[q]; q++)
        same_recall(&m, o ? o->ns : NULL, queries[q]);
    idmap_free(&m);
    free(bat);
}

#define STANDUP10 "standup standup standup standup standup standup standup standup standup standup "

Test(remember_many, later_texts_merge_into_and_revise_earlier_ones)
{
    const char *texts[] = {
        "Alice lives in Paris with two cats",                /* 0 */
        "the deploy window is tuesday at noon",              /* 1 */
        "Bob drives a red car to work every day",            /* 2 */
        STANDUP10 "monday",                                  /* 3 */
        "日本語",                                             /* 4: no word it can embed */
        "bob DRIVES a red car to work every day!",           /* 5: near-duplicate of 2 */
        STANDUP10 "friday",                                  /* 6: a revision of 3 */
        "Alice lives in Paris with two cats",                /* 7: exact duplicate of 0 */
        "bob DRIVES a red car to work every day!",           /* 8: of 5's wording, now 2's */
        "the deploy window is tuesday at noon and thursday", /* 9: near 1, a revision */
        "Carol keeps the office plants watered",             /* 10 */
        "日本語",                                             /* 11: duplicate of 4 */
    };
    const char *queries[] = {"where does alice live", "bob car", "standup day",
                             "deploy window", NULL};
    cvs_mem_remember_opts o = {.ns = "b"};
    cvs_mem_remembered r[12];
    same_as_one_by_one(texts, 12, &o, queries, r);
    /* The cases were made on purpose; they must be what they were meant to be. */
    cr_assert_eq(r[5].outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(r[5].id, r[2].id);
    cr_assert_eq(r[6].outcome, CVS_MEM_ADDED);
    cr_assert_str_eq(r[6].superseded, r[3].id);
    cr_assert_eq(r[7].outcome, CVS_MEM_DUPLICATE);
    cr_assert_str_eq(r[7].id, r[0].id);
    cr_assert_eq(r[8].outcome, CVS_MEM_DUPLICATE);
    cr_assert_str_eq(r[8].id, r[2].id);
    cr_assert_eq(r[9].outcome, CVS_MEM_ADDED);
    cr_assert_eq(r[11].outcome, CVS_MEM_DUPLICATE);
    cr_assert_str_eq(r[11].id, r[4].id);
    cr_assert_eq(count(db[1]), 8);
}

Test(remember_many, a_batch_revises_and_merges_into_stored_memories)
{
    const char *before[] = {STANDUP10 "monday", "Carol likes green tea in the morning",
                            "the backup runs nightly at two"};
    const char *texts[] = {
        STANDUP10 "friday",                       /* 0: revises a stored memory */
        "carol LIKES green tea in the morning.",  /* 1: merges into a stored one */
        STANDUP10 "sunday",                       /* 2: as near the stored monday as text 0 */
        "the backup runs nightly at two",         /* 3: duplicate of a stored one */
        "carol likes green tea in the morning",   /* 4: merges into text 1's merge */
        "Dan fixes the printer on the third floor",
        STANDUP10 "friday holiday",               /* 6: revises text 0 */
    };
    const char *queries[] = {"standup", "green tea", "backup", "printer", NULL};
    cvs_mem_remember_opts o = {0};
    cvs_mem_remembered r[7];
    cvs_mem_items l = {0};
    both_one_by_one(before, 3, &o);
    cr_assert_eq(cvs_mem_list(db[0], NULL, NULL, 0, &l), 0);
    cr_assert_eq(l.n, 3);
    same_as_one_by_one(texts, 7, &o, queries, r);
    cr_assert_eq(r[0].outcome, CVS_MEM_ADDED);
    cr_assert_str_eq(r[0].superseded, l.items[2].id); /* newest first: monday is last */
    cr_assert_eq(r[1].outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(r[1].id, l.items[1].id);
    /* A tie (cosine 100/101 to both) goes to the older memory, the stored
     * one, as the exact search breaks ties, whether or not text 0 is in
     * the store yet. */
    cr_assert_str_eq(r[2].superseded, l.items[2].id);
    cr_assert_eq(r[3].outcome, CVS_MEM_DUPLICATE);
    cr_assert_eq(r[4].outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(r[4].id, l.items[1].id);
    cr_assert_str_eq(r[6].superseded, r[0].id);
    cvs_mem_items_free(&l);
}

Test(remember_many, conversations_and_subjects_chain_inside_a_batch)
{
    const char *before[] = {"my favourite colour is blue"};
    const char *texts[] = {"my favourite colour is green", "actually it is red",
                           "the meeting room is booked", "my favourite colour is green"};
    const char *queries[] = {"favourite colour", "meeting room", NULL};
    cvs_mem_remember_opts o = {.ns = "c", .conversation = "c1",
                               .meta = "{\"subject\": \"colour\"}"};
    cvs_mem_remembered r[4];
    both_one_by_one(before, 1, &o);
    same_as_one_by_one(texts, 4, &o, queries, r);
    /* Each new one supersedes the newest live one of its subject. */
    cr_assert_str_eq(r[1].superseded, r[0].id);
    cr_assert_str_eq(r[2].superseded, r[1].id);
    cr_assert_eq(r[3].outcome, CVS_MEM_DUPLICATE);
}

Test(remember_many, a_named_supersedes_and_links_apply_to_every_text)
{
    const char *before[] = {"the office wifi password is hunter2"};
    cvs_mem_remembered first;
    cvs_mem_items l = {0};
    cvs_link link;
    both_one_by_one(before, 1, NULL);
    /* Each store's own id: the batch names the memory of its store. */
    cvs_mem_remembered r[2][3];
    const char *texts[] = {"the office wifi password changed to swordfish",
                           "guests use the wifi network called lobby",
                           "the printer needs a pin"};
    for (int s = 0; s < 2; s++) {
        cvs_mem_remember_opts o = {0};
        cr_assert_eq(cvs_mem_list(db[s], NULL, NULL, 0, &l), 0);
        snprintf(first.id, sizeof first.id, "%s", l.items[0].id);
        cvs_mem_items_free(&l);
        link = (cvs_link){.id = first.id, .id_len = strlen(first.id), .type = "about",
                          .weight = 1.0f};
        o.supersedes = first.id;
        o.links = &link;
        o.nlinks = 1;
        if (s == 0) {
            for (int i = 0; i < 3; i++)
                cr_assert_eq(cvs_mem_remember(db[0], texts[i], 0, &o, &r[0][i]), 0, "%s",
                             cvs_errmsg(db[0]));
        } else {
            cr_assert_eq(cvs_mem_remember_many(db[1], texts, NULL, 3, &o, r[1]), 0, "%s",
                         cvs_errmsg(db[1]));
        }
    }
    {
        idmap m;
        same_stores(&m);
        for (int i = 0; i < 3; i++) {
            cr_assert_str_eq(mapped(&m, r[0][i].id, strlen(r[0][i].id)), r[1][i].id);
            cr_assert_str_eq(mapped(&m, r[0][i].superseded, strlen(r[0][i].superseded)),
                             r[1][i].superseded);
        }
        same_recall(&m, NULL, "wifi password");
        idmap_free(&m);
    }
}

/* Two threads remembering the same batch at once (two agents loading one
 * history): each text is stored once, since a batch whose snapshot another
 * writer moved is planned again (memory.c deviation 6). */
enum { RACE_TEXTS = 40 };

static void *remember_batch(void *arg)
{
    int *added = arg;
    char buf[RACE_TEXTS][64];
    const char *t[RACE_TEXTS];
    cvs_mem_remembered out[RACE_TEXTS];
    for (int i = 0; i < RACE_TEXTS; i++) {
        snprintf(buf[i], sizeof buf[i], "memory %d holds token%d and item%d", i, i, i);
        t[i] = buf[i];
    }
    if (cvs_mem_remember_many(db[1], t, NULL, RACE_TEXTS, NULL, out)) {
        *added = -1;
        return NULL;
    }
    for (int i = 0; i < RACE_TEXTS; i++)
        *added += out[i].outcome == CVS_MEM_ADDED;
    return NULL;
}

Test(remember_many, the_same_batch_remembered_at_once_is_stored_once, .timeout = 120)
{
    pthread_t th[2];
    int added[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, remember_batch, &added[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert(added[0] >= 0 && added[1] >= 0, "a batch failed: %s", cvs_errmsg(db[1]));
    cr_assert_eq(count(db[1]), RACE_TEXTS);
    cr_assert_eq(added[0] + added[1], RACE_TEXTS, "%d + %d added", added[0], added[1]);
}

/* ==== All or nothing ==== */

/* The batch fails with code want and a message holding what; neither store
 * changes.  The first store has memories before. */
static void refused(const char *const *texts, size_t n, const cvs_mem_remember_opts *o,
                    int want, const char *what)
{
    cvs_mem_remembered out[8];
    uint64_t before = count(db[1]);
    int rc;
    memset(out, 0x5a, sizeof out);
    rc = cvs_mem_remember_many(db[1], texts, NULL, n, o, out);
    cr_assert_eq(rc, want, "%d: %s", rc, cvs_errmsg(db[1]));
    cr_assert(strstr(cvs_errmsg(db[1]), what), "\"%s\" does not say \"%s\"", cvs_errmsg(db[1]),
              what);
    cr_assert_eq(count(db[1]), before, "a refused batch stored memories");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out[i].outcome, 0, "outs[%zu] kept an outcome of the refused batch", i);
}

Test(remember_many, a_bad_text_anywhere_stores_nothing)
{
    const char *before[] = {"the cat is called Miso"};
    both_one_by_one(before, 1, NULL);
    {
        const char *t[] = {"one fact", "two facts", "three facts", "", "five facts"};
        refused(t, 5, NULL, CVS_EINPUT, "text 3: empty text");
    }
    {
        const char *t[] = {"one fact", "two facts", " ... !!! "};
        refused(t, 3, NULL, CVS_EINPUT, "text 2: text has no words");
    }
    {
        const char *t[] = {"one fact", "bad \xff byte"};
        refused(t, 2, NULL, CVS_EINPUT, "text 1: text is not valid UTF-8");
    }
    {
        char big[200];
        const char *t[] = {"one fact", "two facts", "three facts", "four facts", big};
        cvs_mem_remember_opts o = {.max_bytes = 100};
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        refused(t, 5, &o, CVS_EINPUT, "text 4: a memory of 199 bytes");
    }
    {
        const char *t[] = {"one fact", "the boom was loud", "three facts"};
        refused(t, 3, NULL, CVS_EIO, "text 1: embedder 'bow' returned a non-finite value");
    }
    {
        const char *t[] = {"one fact", "two facts"};
        cvs_mem_remember_opts o = {.meta = "{\"_ns\": \"x\"}"};
        refused(t, 2, &o, CVS_EINPUT, "metadata: member \"_ns\" is reserved");
        o.meta = "[1]";
        refused(t, 2, &o, CVS_EINPUT, "metadata: not a JSON object");
    }
    {
        /* A check that only the snapshot can make: the last text's. */
        const char *t[] = {"one fact", "two facts", "three facts"};
        cvs_mem_remember_opts o = {.supersedes = "m0000000000000000"};
        refused(t, 3, &o, CVS_EINPUT, "supersedes: no memory \"m0000000000000000\"");
    }
    /* The store is whole: the batch that is right goes in after all that. */
    {
        const char *t[] = {"one fact", "two facts"};
        cvs_mem_remembered out[2];
        cr_assert_eq(cvs_mem_remember_many(db[1], t, NULL, 2, NULL, out), 0, "%s",
                     cvs_errmsg(db[1]));
        cr_assert_eq(out[0].outcome, CVS_MEM_ADDED);
        cr_assert_eq(count(db[1]), 3);
    }
}

Test(remember_many, a_batch_of_none)
{
    cvs_mem_remember_opts o = {.meta = "{\"_x\": 1}"};
    cr_assert_eq(cvs_mem_remember_many(db[1], NULL, NULL, 0, NULL, NULL), 0, "%s",
                 cvs_errmsg(db[1]));
    cr_assert_eq(count(db[1]), 0);
    /* Its options are still checked. */
    cr_assert_eq(cvs_mem_remember_many(db[1], NULL, NULL, 0, &o, NULL), CVS_EINPUT);
    cr_assert_eq(cvs_mem_remember_many(NULL, NULL, NULL, 0, NULL, NULL), CVS_EINVAL);
    {
        const char *t[] = {"one fact"};
        cr_assert_eq(cvs_mem_remember_many(db[1], t, NULL, 1, NULL, NULL), CVS_EINVAL);
    }
}

/* A call takes at most CVS_MEM_REMEMBER_MAX texts (query/memory.c
 * deviation 8): one more is CVS_EINVAL naming the limit, before anything
 * is embedded or stored; the limit itself is taken. */
Test(remember_many, a_batch_over_the_limit_is_refused, .timeout = 240)
{
    enum { N = CVS_MEM_REMEMBER_MAX + 1 };
    char **buf = calloc(N, sizeof *buf);
    cvs_mem_remembered *out = calloc(N, sizeof *out);
    cr_assert(buf && out);
    for (size_t i = 0; i < N; i++) {
        cr_assert_not_null(buf[i] = malloc(64));
        snprintf(buf[i], 64, "fact%zu holds word%zu", i, i);
    }
    cr_assert_eq(cvs_mem_remember_many(db[1], (const char *const *)buf, NULL, N, NULL, out),
                 CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db[1]), "1001 texts, over the limit of "
                                        "CVS_MEM_REMEMBER_MAX (1000)"),
              "%s", cvs_errmsg(db[1]));
    cr_assert_eq(count(db[1]), 0);
    cr_assert_eq(cvs_mem_remember_many(db[1], (const char *const *)buf, NULL, N - 1, NULL,
                                       out), 0, "%s", cvs_errmsg(db[1]));
    cr_assert_eq(count(db[1]), N - 1);
    for (size_t i = 0; i < N; i++)
        free(buf[i]);
    free(buf);
    free(out);
}

/* Lengths given: a text need not end in NUL, and the lengths cut it. */
Test(remember_many, lengths_cut_the_texts)
{
    const char *t[] = {"first fact here, and not this", "second fact"};
    size_t lens[] = {15, 0};
    cvs_mem_remembered out[2];
    cvs_mem_items l = {0};
    cr_assert_eq(cvs_mem_remember_many(db[1], t, lens, 2, NULL, out), 0, "%s",
                 cvs_errmsg(db[1]));
    cr_assert_eq(cvs_mem_list(db[1], NULL, NULL, 0, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.items[1].text, "first fact here");
    cr_assert_str_eq(l.items[0].text, "second fact");
    cvs_mem_items_free(&l);
}

/* ==== The MCP remember tool with texts ==== */

#define TOOL_CALL(id, args)                                                                    \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"tools/call\",\"params\":{\"name\":"      \
    "\"remember\",\"arguments\":" args "}}\n"

/* `texts` remembers many memories: results in order, each what `text`
 * gives; a text of no words among them is -32602 naming its index, both
 * text and texts is refused, and a refused call stores nothing. */
Test(remember_many, the_mcp_tool_takes_texts)
{
    static const char *const words[] = {"alice", "lives", "paris", "bob", "berlin"};
    static const float vecs[5 * 4] = {1, 0, 0, 0.125f, 0, 1, 0, 0.25f, 0, 0, 1, 0.375f,
                                      0.5f, 0.5f, 0, 0, 0, 0.25f, 0.5f, 1};
    static const char input[] =
        TOOL_CALL(1, "{\"texts\":[\"alice lives in paris\",\"bob lives in berlin\","
                     "\"alice lives in paris\"],\"namespace\":\"n\"}")
        TOOL_CALL(2, "{\"texts\":[\"bob\",\" ... \"],\"namespace\":\"n\"}")
        TOOL_CALL(3, "{\"text\":\"bob\",\"texts\":[\"alice\"],\"namespace\":\"n\"}")
        TOOL_CALL(4, "{\"texts\":\"alice\",\"namespace\":\"n\"}")
        TOOL_CALL(5, "{\"texts\":[],\"namespace\":\"n\"}")
        TOOL_CALL(6, "{\"namespace\":\"n\"}")
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"list\","
        "\"arguments\":{\"namespace\":\"n\"}}}\n";
    json_t *msg[7] = {0}, *res, *arr;
    char *gdir = tu_tmpdir();
    cr_assert_eq(tu_mcp_glove(gdir, words, vecs, 5, input, msg, 7), 7);
#define RES(i) json_object_get(json_object_get(msg[i], "result"), "structuredContent")
#define IS_ERROR(i) json_is_true(json_object_get(json_object_get(msg[i], "result"), "isError"))
#define TEXT(i)                                                                                \
    json_string_value(json_object_get(                                                         \
        json_array_get(json_object_get(json_object_get(msg[i], "result"), "content"), 0), "text"))
    res = RES(0);
    cr_assert(!IS_ERROR(0), "%s", TEXT(0));
    cr_assert_str_eq(json_string_value(json_object_get(res, "namespace")), "n");
    arr = json_object_get(res, "results");
    cr_assert_eq(json_array_size(arr), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "status")), "added");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 1), "status")), "added");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 2), "status")),
                     "duplicate");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 2), "id")),
                     json_string_value(json_object_get(json_array_get(arr, 0), "id")));
    {
        const char *m = json_string_value(
            json_object_get(json_object_get(msg[1], "error"), "message"));
        cr_assert(m && strstr(m, "remember: texts[1] has no words"), "%s", m ? m : "(none)");
    }
    cr_assert(IS_ERROR(2));
    cr_assert(strstr(TEXT(2), "not both"), "%s", TEXT(2));
    cr_assert(IS_ERROR(3));
    cr_assert(strstr(TEXT(3), "texts must be an array"), "%s", TEXT(3));
    cr_assert(!IS_ERROR(4), "%s", TEXT(4));
    cr_assert_eq(json_array_size(json_object_get(RES(4), "results")), 0);
    cr_assert(IS_ERROR(5));
    cr_assert(strstr(TEXT(5), "text (a non-empty string) or texts"), "%s", TEXT(5));
    cr_assert_eq(json_array_size(json_object_get(RES(6), "memories")), 2);
    for (size_t i = 0; i < 7; i++)
        json_decref(msg[i]);
    tu_rmrf(gdir);
    free(gdir);
}

/* More texts than one embedding call takes (MEM_EMBED_CHUNK, 256), with
 * texts it cannot embed on both sides of the chunks' boundary, a
 * near-duplicate and a revision of texts of the first chunk in the second,
 * every text of one subject and one conversation: a new memory supersedes
 * the newest live one, which a later text has merged into. */
Test(remember_many, a_batch_over_one_embedding_call_with_every_relation, .timeout = 240)
{
    enum { N = 300 };
    static char buf[N][96];
    const char *texts[N];
    const char *queries[] = {"bob car", "standup day", "topic7 item7", NULL};
    cvs_mem_remember_opts o = {.ns = "big", .conversation = "log",
                               .meta = "{\"subject\": \"s\"}"};
    cvs_mem_remembered *r = calloc(N, sizeof *r);
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "note %d on topic%d holds item%d and thing%d", i, i, i, i);
        texts[i] = buf[i];
    }
    texts[10] = "Bob drives a red car to work every day";
    texts[11] = "bob DRIVES a red car to work every day!";   /* merges into 10 */
    texts[12] = STANDUP10 "monday";
    texts[255] = "日本語";                                    /* last of chunk 0 */
    texts[256] = "中文";                                      /* first of chunk 1 */
    texts[260] = "Bob drives a red car to work every day";   /* 10's text, 11's hash: merges */
    texts[261] = "bob drives a red car to work every day";   /* merges into 10 again */
    texts[262] = STANDUP10 "friday";                         /* revises 12 */
    texts[299] = "日本語";                                    /* duplicate of 255 */
    same_as_one_by_one(texts, N, &o, queries, r);
    cr_assert_eq(r[11].outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(r[11].id, r[10].id);
    cr_assert_str_eq(r[12].superseded, r[10].id); /* merged into, then superseded */
    cr_assert_eq(r[260].outcome, CVS_MEM_MERGED);
    cr_assert_eq(r[261].outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(r[261].id, r[10].id);
    cr_assert_str_eq(r[262].superseded, r[12].id);
    cr_assert_eq(r[299].outcome, CVS_MEM_DUPLICATE);
    cr_assert_str_eq(r[299].id, r[255].id);
    free(r);
}

/* texts with an option of the wrong type is a tool error that frees what
 * the call took for the texts (under the sanitizers a leak report fails
 * the server's exit, which tu_mcp_glove asserts is 0), and stores
 * nothing. */
Test(remember_many, the_mcp_tool_refuses_bad_options_with_texts)
{
    static const char *const words[] = {"alice", "lives", "paris"};
    static const float vecs[3 * 4] = {1, 0, 0, 0.125f, 0, 1, 0, 0.25f, 0, 0, 1, 0.375f};
    static const char input[] =
        TOOL_CALL(1, "{\"texts\":[\"alice lives\"],\"conversation\":5,\"namespace\":\"n\"}")
        TOOL_CALL(2, "{\"texts\":[\"alice lives\"],\"supersedes\":[],\"namespace\":\"n\"}")
        TOOL_CALL(3, "{\"texts\":[\"alice lives\"],\"metadata\":\"paris\",\"namespace\":\"n\"}")
        TOOL_CALL(5, "{\"text\":null,\"texts\":[\"alice\",\" ... \"],\"namespace\":\"n\"}")
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"list\","
        "\"arguments\":{\"namespace\":\"n\"}}}\n";
    json_t *msg[5] = {0};
    char *gdir = tu_tmpdir();
    cr_assert_eq(tu_mcp_glove(gdir, words, vecs, 3, input, msg, 5), 5);
    cr_assert(IS_ERROR(0));
    cr_assert(strstr(TEXT(0), "conversation and supersedes must be strings"), "%s", TEXT(0));
    cr_assert(IS_ERROR(1));
    cr_assert(IS_ERROR(2));
    cr_assert(strstr(TEXT(2), "metadata must be an object"), "%s", TEXT(2));
    /* A null text is no text (as the tool reads it): texts' text of no
     * words is -32602 naming it, as without the null. */
    {
        const char *m = json_string_value(
            json_object_get(json_object_get(msg[3], "error"), "message"));
        cr_assert(m && strstr(m, "remember: texts[1] has no words"), "%s",
                  m ? m : json_dumps(msg[3], 0));
    }
    cr_assert_eq(json_array_size(json_object_get(RES(4), "memories")), 0);
    for (size_t i = 0; i < 5; i++)
        json_decref(msg[i]);
    tu_rmrf(gdir);
    free(gdir);
}

/* texts has a limit (cli/mcp.c MCP_TEXTS_MAX, 1000): one item over it is
 * -32602 naming it and stores nothing; at it, the call is served. */
Test(remember_many, the_mcp_tool_limits_the_number_of_texts, .timeout = 240)
{
    static const char *const words[] = {"alice", "lives", "paris"};
    static const float vecs[3 * 4] = {1, 0, 0, 0.125f, 0, 1, 0, 0.25f, 0, 0, 1, 0.375f};
    enum { LIMIT = 1000 };
    const char *item = "\"alice lives\",", *item2 = "\"paris\",";
    size_t cap = 4096 + (2 * LIMIT + 1) * strlen(item), at = 0;
    char *input = malloc(cap);
    json_t *msg[3] = {0}, *m;
    char *gdir = tu_tmpdir();
    cr_assert_not_null(input);
    for (int call = 1; call <= 2; call++) {
        at += (size_t)snprintf(input + at, cap - at,
                               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                               "{\"name\":\"remember\",\"arguments\":{\"namespace\":\"n\","
                               "\"texts\":[", call);
        /* Call 1: one over the limit; call 2: at it. */
        for (int i = 0; i < (call == 1 ? LIMIT + 1 : LIMIT); i++)
            at += (size_t)snprintf(input + at, cap - at, "%s", call == 1 ? item2 : item);
        at--; /* the last comma */
        at += (size_t)snprintf(input + at, cap - at, "]}}}\n");
    }
    at += (size_t)snprintf(input + at, cap - at,
                           "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"list\",\"arguments\":{\"namespace\":\"n\"}}}\n");
    cr_assert_lt(at, cap);
    cr_assert_eq(tu_mcp_glove(gdir, words, vecs, 3, input, msg, 3), 3);
    m = json_object_get(msg[0], "error");
    cr_assert_eq(json_integer_value(json_object_get(m, "code")), -32602);
    cr_assert(strstr(json_string_value(json_object_get(m, "message")),
                     "texts has 1001 items, over the limit of 1000"),
              "%s", json_string_value(json_object_get(m, "message")));
    cr_assert(!IS_ERROR(1), "%s", TEXT(1));
    cr_assert_eq(json_array_size(json_object_get(RES(1), "results")), LIMIT);
    /* Only call 2's one memory: call 1 stored no "paris". */
    cr_assert_eq(json_array_size(json_object_get(RES(2), "memories")), 1);
    for (size_t i = 0; i < 3; i++)
        json_decref(msg[i]);
    free(input);
    tu_rmrf(gdir);
    free(gdir);
}
