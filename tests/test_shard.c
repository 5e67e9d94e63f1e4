/* test_shard.c -- a store as one shard of several (store/shard.c,
 * graph/link.c "scope"): mention links against the titles and statistics
 * of all shards, links by id to another shard's record, backlinks by id,
 * and a check that knows such a link is not dangling. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "tests/testutil.h"

#define DIM 4

static char *dir;
static cvs_db *db;

static void setup(void)
{
    cvs_create_opts o = {.dim = DIM, .metric = CVS_METRIC_COSINE};
    tu_store_create(&o, "db", &dir, &db);
}

static void teardown(void)
{
    tu_store_remove(&dir, &db);
}

static void put(const char *id, const char *title, const char *text)
{
    float v[DIM] = {1, 0.5f, 0.25f, (float)strlen(id)};
    cvs_record r = {.id = id, .id_len = strlen(id), .vector = v, .text = text,
                    .text_len = strlen(text), .title = title, .title_len = strlen(title)};
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_FORWARD_LINKS, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

/* 1 if record id links (type "mentions") to target. */
static int mentions(const char *id, const char *target)
{
    cvs_txn *t;
    cvs_record r;
    int found = 0;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0);
    for (size_t i = 0; i < r.nlinks; i++)
        if (r.links[i].type && !strcmp(r.links[i].type, CVS_LINK_MENTIONS) &&
            r.links[i].id_len == strlen(target) && !memcmp(r.links[i].id, target, r.links[i].id_len))
            found = 1;
    cvs_txn_end(t);
    return found;
}

static uint32_t shard_of(const char *id, uint32_t count)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (uint32_t)(h % count);
}

static uint64_t problems(void)
{
    uint64_t n = 0;
    cr_assert_eq(cvs_check(db, NULL, NULL, &n), 0, "%s", cvs_errmsg(db));
    return n;
}

/* This store holds a1 and a2; another store holds b1 ("Belquira"), whose
 * one-word title a1's text names. */
static const cvs_link_title all_titles[] = {
    {"a1", 2, "Zorvak Hel", 10},
    {"a2", 2, "Dromel", 6},
    {"b1", 2, "Belquira", 8},
};

/* The scope of all_titles with every one-word form's document frequency
 * set to df, over records records. */
static int link_scope(uint64_t records, uint64_t df)
{
    char *buf = NULL;
    cvs_terms terms;
    uint64_t dfs[8];
    int rc;
    cr_assert_eq(cvs_link_title_terms(all_titles, 3, &buf, &terms), 0);
    cr_assert_eq(terms.n, 2, "one-word forms: \"dromel\", \"belquira\"");
    cr_assert_str_eq(terms.buf, "dromel");
    for (size_t i = 0; i < terms.n; i++)
        dfs[i] = df;
    cvs_link_scope sc = {all_titles, 3, records, dfs, terms.n};
    rc = cvs_link_mentions_scope(db, &sc, NULL);
    cvs_free(buf);
    return rc;
}

Test(shard, mentions_of_another_stores_titles, .init = setup, .fini = teardown)
{
    put("a1", "Zorvak Hel", "a ferry crosses the Belquira near Dromel");
    put("a2", "Dromel", "a town");
    /* Alone, the store knows no "Belquira". */
    cr_assert_eq(cvs_link_mentions(db, NULL), 0);
    cr_assert(mentions("a1", "a2"));
    cr_assert_not(mentions("a1", "b1"));
    /* With the titles of both stores, a1 names b1 too, by id. */
    cr_assert_eq(link_scope(3, 1), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("a1", "a2"));
    cr_assert(mentions("a1", "b1"));
    /* A one-word title is judged by the counts of all stores: in 5% of
     * 1,000 records, it is too common to link (graph/link.c, deviation 2). */
    cr_assert_eq(link_scope(1000, 50), 0, "%s", cvs_errmsg(db));
    cr_assert_not(mentions("a1", "b1"));
    cr_assert_not(mentions("a1", "a2"));
    /* The frequencies must be those of cvs_link_title_terms. */
    uint64_t one = 1;
    cvs_link_scope bad = {all_titles, 3, 3, &one, 1};
    cr_assert_eq(cvs_link_mentions_scope(db, &bad, NULL), CVS_EINVAL);
}

Test(shard, backlinks_by_id, .init = setup, .fini = teardown)
{
    cvs_txn *t;
    cvs_edge e[4];
    size_t n;
    int64_t a1;
    put("a1", "Zorvak Hel", "a ferry crosses the Belquira");
    put("a2", "Dromel", "a town");
    cr_assert_eq(link_scope(3, 1), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_id_key(t, "a1", 2, &a1), 0);
    int64_t none;
    cr_assert_eq(cvs_txn_id_key(t, "b1", 2, &none), CVS_NOTFOUND);
    /* b1 is not in this store, but a1 links to it. */
    cr_assert_eq(cvs_txn_backlinks_id(t, "b1", 2, 4, e, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(e[0].key, a1);
    cr_assert_str_eq(e[0].type, "linked-by");
    /* The store's own reader skips the link: b1 is not here. */
    cr_assert_eq(cvs_txn_edges(t, a1, CVS_EDGES_LINKS, 4, e, &n), 0);
    cr_assert_eq(n, 0);
    cvs_txn_end(t);
}

Test(shard, check_knows_other_shards, .init = setup, .fini = teardown)
{
    uint32_t other = shard_of("b1", 2), here = 1 - other;
    put("a1", "Zorvak Hel", "a ferry crosses the Belquira");
    cr_assert_eq(link_scope(2, 1), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("a1", "b1"));
    /* A store of its own: the link to b1 dangles. */
    cr_assert_eq(problems(), 1);
    /* b1 would belong here: still dangling. */
    cr_assert_eq(cvs_db_set_shard(db, other, 2), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(problems(), 1);
    /* b1 belongs to the other shard: not this store's to hold. */
    cr_assert_eq(cvs_db_set_shard(db, here, 2), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(problems(), 0);
    cr_assert_eq(cvs_db_set_shard(db, 2, 2), CVS_EINVAL);
    cr_assert_eq(cvs_db_set_shard(db, 0, 0), CVS_EINVAL);
}

/* A store tells its place: none for a store of its own, then what
 * cvs_db_set_shard set, the last one set winning; a refused set changes
 * nothing. */
Test(shard, get_returns_what_set_kept, .init = setup, .fini = teardown)
{
    uint32_t i = 99, n = 99;
    cr_assert_eq(cvs_db_get_shard(db, &i, &n), CVS_NOTFOUND);
    cr_assert_eq(cvs_db_set_shard(db, 3, 8), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_get_shard(db, &i, &n), 0, "%s", cvs_errmsg(db));
    cr_assert(i == 3 && n == 8, "shard %u of %u", i, n);
    cr_assert_eq(cvs_db_set_shard(db, 8, 8), CVS_EINVAL);
    cr_assert_eq(cvs_db_set_shard(db, 0, 2), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_get_shard(db, &i, &n), 0);
    cr_assert(i == 0 && n == 2, "shard %u of %u", i, n);
    cr_assert_eq(cvs_db_get_shard(db, NULL, &n), CVS_EINVAL);
}
