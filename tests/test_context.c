/* test_context.c -- the graph layer and context sets: the title-mention
 * linker, the kNN graph against brute force, deletes leaving no dangling
 * edges, every strategy within its budget, the diverse strategy on a
 * constructed two-hop question, MMR at lambda 1 against top-k, the
 * question's tokens read as its text, a question naming no title going by
 * BM25 with the links of its best records, and re-ranked by its records'
 * best sentences (the one-sentence match first; over a source, with the
 * source's idf), the records a question names
 * leading with their links, near-copies by words (and sibling copies)
 * taken once, templated stubs of other entities not taken for copies, a
 * seed's copies kept out of its bridges, relation links passing the seed's
 * score, the relation link named nearest a relation word (an agent noun
 * meeting its verb) following the record the question names, a title of
 * stop words written whole in the question naming its record, diverse
 * keeping top-k's set without copies, a metadata filter keeping every
 * stage (seeds, links, bridges, the walk) to one tenant, items carrying
 * their metadata, and the JSON shape of `cvstore context`.  All data is
 * generated here. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cvstore.h"
#include "graph/graph.h"
#include "query/text.h"
#include "text/tokenize.h"
#include "store/db.h"
#include "store/seal.h"
#include "tests/testutil.h"

#define DIM 8

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

/* A unit vector along axis a, tilted by eps toward axis b. */
static void axis(float *v, int a, int b, float eps)
{
    memset(v, 0, DIM * sizeof *v);
    v[a] = 1;
    v[b] += eps;
}

static void put(const char *id, const char *title, const char *text, const float *v)
{
    cvs_record r = {.id = id, .id_len = strlen(id), .vector = v, .text = text,
                    .text_len = text ? strlen(text) : 0, .title = title,
                    .title_len = title ? strlen(title) : 0};
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_FORWARD_LINKS, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

/* n passages about nothing a test asks, each along one of the axes 4-7,
 * tilted toward axis toward. */
static void put_fillers(int n, int toward)
{
    float v[DIM];
    for (int i = 0; i < n; i++) {
        char id[24], text[96];
        axis(v, 4 + i % 4, toward, 0.3f);
        snprintf(id, sizeof id, "filler%d", i);
        snprintf(text, sizeof text, "An unrelated passage number %d about farming and weather.", i);
        put(id, NULL, text, v);
    }
}

/* 1 if record id has a link of type "mentions" to target. */
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

/* ==== Linker ==== */

Test(context, linker_titles_not_substrings, .init = setup, .fini = teardown)
{
    float v[DIM];
    cvs_link_stats st;
    axis(v, 0, 1, 0.1f);
    put("paris", "Paris", "Paris is the capital of France.", v);
    put("ny", "New York", "A state of the United States.", v);
    put("nyc", "New York City", "The most populous city of the United States.", v);
    put("curie", "Marie Curie", "A physicist who worked in PARIS, France.", v);
    put("cafe", "Cafe Society", "A Parisian café that Marie Curie never visited.", v);
    put("trip", "A Trip", "We flew to New York City, then drove on.", v);
    put("stop", "The Who", "Who is there?  The who.", v);
    put("num", "1999", "In 1999 nothing happened in Paris.", v);
    put("smith", "Steve Smith (musician)", "An American drummer.", v);
    put("stanley", "Stanley, North Dakota", "A city, the seat of Mountrail County.", v);
    put("band", "Journey", "Its drummer was Steve Smith; it toured to Stanley.", v);
    cr_assert_eq(cvs_link_mentions(db, &st), 0, "%s", cvs_errmsg(db));
    /* Case folding, punctuation, and the accent-insensitive tokenizer. */
    cr_assert(mentions("curie", "paris"));
    /* A word that starts with a title is not a mention. */
    cr_assert_not(mentions("cafe", "paris"));
    cr_assert(mentions("cafe", "curie"));
    /* Leftmost-longest: New York City, not also New York. */
    cr_assert(mentions("trip", "nyc"));
    cr_assert_not(mentions("trip", "ny"));
    /* No self links; stop-word and numeric titles are skipped. */
    cr_assert_not(mentions("paris", "paris"));
    cr_assert(mentions("num", "paris"));
    cr_assert_not(mentions("stop", "stop"));
    cr_assert_not(mentions("num", "num"));
    /* Titles without their disambiguation suffix. */
    cr_assert(mentions("band", "smith"));
    cr_assert(mentions("band", "stanley"));
    cr_assert_eq(st.records, 11);
    /* Idempotent: a second run replaces, does not add. */
    cvs_link_stats st2;
    cr_assert_eq(cvs_link_mentions(db, &st2), 0);
    cr_assert_eq(st2.links, st.links);
    uint64_t problems = 1;
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
}

/* ==== Mentions kept by puts in a text store ==== */

static int zero_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out)
{
    (void)ctx;
    (void)texts;
    (void)lens;
    for (size_t i = 0; i < n * DIM; i++)
        out[i] = i % DIM == 0;
    return 0;
}

/* The raw entries of links, backlinks and the title map, in key order: what
 * a full rebuild must reproduce byte for byte. */
static char *graph_dump(void)
{
    cvs_txn *t;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    MDB_dbi dbis[3] = {db->dbi_links, db->dbi_backlinks, cvs__graph(db)->dbi_titlemap};
    for (int d = 0; d < 3; d++) {
        MDB_cursor *cur;
        MDB_val k, v;
        cr_assert_eq(mdb_cursor_open(t->txn, dbis[d], &cur), 0);
        fprintf(f, "db %d\n", d);
        for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            fwrite(k.mv_data, 1, k.mv_size, f);
            fputs(" -> ", f);
            fwrite(v.mv_data, 1, v.mv_size, f);
            fputc('\n', f);
        }
        mdb_cursor_close(cur);
    }
    cvs_txn_end(t);
    fclose(f);
    return buf;
}

/* The store's links as puts left them equal a full rebuild's. */
static void assert_as_rebuilt(const char *when)
{
    char *inc = graph_dump(), *full;
    uint64_t problems = 1;
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    full = graph_dump();
    cr_assert_str_eq(inc, full, "%s: links kept by puts differ from a rebuild's", when);
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0, "%s", when);
    free(inc);
    free(full);
}

static void del(const char *id)
{
    size_t len = strlen(id), n = 0;
    cr_assert_eq(cvs_delete(db, &id, &len, 1, &n), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(n, 1);
}

Test(context, puts_keep_mentions_as_rebuilt, .init = setup, .fini = teardown)
{
    float v[DIM];
    char id[32], text[96];
    cr_assert_eq(cvs_db_set_embedder(db, "zero", DIM, zero_embed, NULL), 0, "%s", cvs_errmsg(db));
    axis(v, 0, 1, 0.1f);
    /* Each text names titles that come later, and a longer title comes
     * after a shorter one it contains (New York City after New York). */
    put("band", "Journey", "Its drummer was Steve Smith; it toured to Stanley.", v);
    put("trip", "A Trip", "We flew to New York City, then drove on, to Paris.", v);
    put("num", "1999", "In 1999 nothing happened in Paris.", v);
    put("cafe", "Cafe Society", "A Parisian café that Marie Curie never visited.", v);
    put("explicit", "Explicit", "Marie Curie again.", v);
    cr_assert_not(mentions("cafe", "curie"));
    put("curie", "Marie Curie", "A physicist who worked in PARIS, France.", v);
    cr_assert(mentions("cafe", "curie"));
    put("ny", "New York", "A state of the United States.", v);
    cr_assert(mentions("trip", "ny"));
    put("nyc", "New York City", "The most populous city of the United States.", v);
    /* Leftmost-longest: the new, longer title takes the old one's place. */
    cr_assert(mentions("trip", "nyc"));
    cr_assert_not(mentions("trip", "ny"));
    put("paris", "Paris", "Paris is the capital of France.", v);
    put("stop", "The Who", "Who is there?  The who.", v);
    put("smith", "Steve Smith (musician)", "An American drummer.", v);
    put("stanley", "Stanley, North Dakota", "A city, the seat of Mountrail County.", v);
    cr_assert(mentions("cafe", "curie"));
    cr_assert(mentions("curie", "paris"));
    cr_assert(mentions("band", "smith"));
    cr_assert(mentions("band", "stanley"));
    assert_as_rebuilt("puts one at a time");

    /* A title shared by more records than MAX_SAME_TITLE (8) links none. */
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "zorb%d", i);
        snprintf(text, sizeof text, "Number %d of the Zorblax, near Paris.", i);
        put(id, "Zorblax", text, v);
        put("fan", "Fan", "A fan of Zorblax.", v);
        cr_assert_eq(mentions("fan", "zorb0"), i < 8, "after %d", i + 1);
    }
    assert_as_rebuilt("a crowded title");
    del("zorb8");
    cr_assert(mentions("fan", "zorb0"));
    assert_as_rebuilt("a crowded title thinned");
}

Test(context, updates_and_deletes_keep_mentions_as_rebuilt, .init = setup, .fini = teardown)
{
    float v[DIM];
    cr_assert_eq(cvs_db_set_embedder(db, "zero", DIM, zero_embed, NULL), 0, "%s", cvs_errmsg(db));
    axis(v, 0, 1, 0.1f);
    put("ny", "New York", "A state of the United States.", v);
    put("nyc", "New York City", "The most populous city of the United States.", v);
    put("trip", "A Trip", "We flew to New York City, then drove on to Paris.", v);
    put("paris", "Paris", "Paris is the capital of France; New York is far.", v);
    cr_assert(mentions("trip", "nyc"));
    /* An explicit link stays beside the mentions. */
    cvs_link lk = {"ny", 2, "see", 1.0f};
    cvs_record r = {.id = "lyon", .id_len = 4, .vector = v, .title = "Lyon", .title_len = 4,
                    .text = "Lyon is south of Paris.", .text_len = 23, .links = &lk, .nlinks = 1};
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("lyon", "paris"));
    assert_as_rebuilt("puts");

    /* A new title: the texts naming the old one lose it, the new one's gain. */
    put("nyc", "Gotham", "The most populous city of the United States.", v);
    cr_assert_not(mentions("trip", "nyc"));
    cr_assert(mentions("trip", "ny"));
    put("lyon", "Lyon", "Lyon is not far from Gotham.", v);
    cr_assert(mentions("lyon", "nyc"));
    cr_assert_not(mentions("lyon", "paris"));
    assert_as_rebuilt("updates");

    /* A deleted record's mentions, backlinks and title go; a text that named
     * it links what it names now. */
    put("nyc", "New York City", "The most populous city of the United States.", v);
    cr_assert(mentions("trip", "nyc"));
    del("nyc");
    cr_assert(mentions("trip", "ny"));
    del("paris");
    cr_assert_not(mentions("trip", "paris"));
    assert_as_rebuilt("deletes");
    del("ny");
    assert_as_rebuilt("a link target deleted");
}

/* ==== Names as the text writes them (link.c deviation 8) ==== */

/* Texts first, titles after (a text store links them as the titles come),
 * then the mentions a rebuild finds. */
static void put_case_store(void)
{
    float v[DIM];
    axis(v, 0, 1, 0.1f);
    put("band", "Band", "Their guest vocals came from a French pilot; ÉMILE ZOLA was read "
        "aloud in the kingdom of Hungary.", v);
    put("film", "Film", "She starred in The Guest, then in the Pilot of the show, after "
        "reading émile zola at home.", v);
    put("note", "Note", "met the guest pilot at home about an ipod classic", v);
    put("review", "Review", "Notes on the ipod classic and the Ipod Classic; see the guest.", v);
    put("opening", "Opening", "Guest vocals were by Ann.", v);
    put("guest", "The Guest", "The Guest is a 2014 film.", v);
    put("pilot", "Pilot (Will & Grace)", "The first episode of Will & Grace.", v);
    put("ipod", "ipod classic", "A title its record writes in lower case.", v);
    put("zola", "Émile Zola", "A French novelist.", v);
    put("hungary", "Hungary", "A country in Europe.", v);
    put("koh", "Kingdom of Hungary", "A monarchy of Central Europe.", v);
    put("guest2", "the guest", "A lower-case title shared with The Guest.", v);
}

static void assert_case_mentions(void)
{
    /* A common noun that happens to be a title is not a mention of it. */
    cr_assert_not(mentions("band", "guest"));
    cr_assert_not(mentions("band", "pilot"));
    cr_assert_not(mentions("film", "zola"));
    /* The name written with its capitals is; capitals outside ASCII too. */
    cr_assert(mentions("film", "guest"));
    cr_assert(mentions("film", "pilot"));
    cr_assert(mentions("band", "zola"));
    /* "kingdom of Hungary" is not the title "Kingdom of Hungary", and the
     * shorter title inside it still links. */
    cr_assert_not(mentions("band", "koh"));
    cr_assert(mentions("band", "hungary"));
    /* A text without a capital tells nothing about case: case-blind. */
    cr_assert(mentions("note", "guest"));
    cr_assert(mentions("note", "pilot"));
    cr_assert(mentions("note", "ipod"));
    /* A title its record writes in lower case matches in any case, and of
     * two records sharing a title, the one written as the text writes it. */
    cr_assert(mentions("review", "ipod"));
    cr_assert(mentions("review", "guest2"));
    cr_assert_not(mentions("review", "guest"));
    cr_assert(mentions("film", "guest2"));
    /* A capital at a sentence's start counts as one (no evidence against). */
    cr_assert(mentions("opening", "guest"));
}

Test(link, mentions_need_the_titles_capitals, .init = setup, .fini = teardown)
{
    cvs_link_stats st;
    put_case_store();
    cr_assert_eq(cvs_link_mentions(db, &st), 0, "%s", cvs_errmsg(db));
    assert_case_mentions();
}

Test(link, puts_keep_the_titles_capitals, .init = setup, .fini = teardown)
{
    cr_assert_eq(cvs_db_set_embedder(db, "zero", DIM, zero_embed, NULL), 0, "%s", cvs_errmsg(db));
    put_case_store();
    assert_case_mentions();
    assert_as_rebuilt("capitals");
}

/* Makes db a text store (the zero embedder) and v the vector its records get. */
static void text_store(float *v)
{
    cr_assert_eq(cvs_db_set_embedder(db, "zero", DIM, zero_embed, NULL), 0, "%s", cvs_errmsg(db));
    axis(v, 0, 1, 0.1f);
}

/* The titles read for capitals by the put of untitled record id whose
 * text is head, then rep forty times. */
static size_t reads_of_put(const char *id, const char *head, const char *rep, const float *v)
{
    char *text = malloc(strlen(head) + 40 * strlen(rep) + 1);
    size_t before = cvs__link_title_reads;
    cr_assert_not_null(text);
    strcpy(text, head);
    for (int i = 0; i < 40; i++)
        strcat(text, rep);
    put(id, NULL, text, v);
    free(text);
    return cvs__link_title_reads - before;
}

/* A relink reads a title's capitals once per record, not per occurrence,
 * and never for a title of more than MAX_SAME_TITLE (8) records, which
 * links nothing whatever its case: counted through the linker's count of
 * title reads, so the bound holds without timing anything. */
Test(link, puts_read_each_title_once, .init = setup, .fini = teardown)
{
    float v[DIM];
    char id[32], text[64];
    text_store(v);
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "chunk%d", i);
        snprintf(text, sizeof text, "Part %d of the minutes.", i);
        put(id, "Meeting Notes", text, v);
    }
    put("guest", "The Guest", "The Guest is a 2014 film.", v);
    put("guest2", "the guest", "A lower-case title shared with The Guest.", v);

    /* A crowded title written forty times in lower case: nothing read. */
    cr_assert_eq(reads_of_put("minutes", "", "We took meeting notes. ", v), 0);
    cr_assert_not(mentions("minutes", "chunk0"));
    /* A shared title of two records written forty times: each read once. */
    cr_assert_eq(reads_of_put("fan", "The Guest. ", "We met the guest. ", v), 2);
    cr_assert(mentions("fan", "guest"));
    cr_assert(mentions("fan", "guest2"));
    assert_as_rebuilt("repeated titles");
}

/* Removes the linker's rule from meta, as a store linked before the rule
 * was recorded has it. */
static int drop_rule_fn(cvs_db *d, MDB_txn *txn, void *arg)
{
    MDB_val k = CVS__MKEY(CVS__META_LINK_RULE);
    int mrc = cvs__vdel(d, txn, d->dbi_meta, &k, NULL);
    (void)arg;
    return mrc == 0 || mrc == MDB_NOTFOUND ? CVS_OK : CVS_EIO;
}

static int outdated(void)
{
    int o = -1;
    cr_assert_eq(cvs_link_rule_outdated(db, &o), 0, "%s", cvs_errmsg(db));
    return o;
}

/* cvstore stats DB / check DB print the note (1) or not (0). */
static void assert_cli_note(int want, const char *when)
{
    char *out = NULL;
    const char *note = "mention links were made by an older rule; run `cvstore link` to "
                       "rebuild them";
    cr_assert_eq(tu_cli(&out, "stats '%s/db'", dir), 0, "%s", when);
    cr_expect_eq(strstr(out, note) != NULL, want, "%s: stats says\n%s", when, out);
    free(out);
    cr_assert_eq(tu_cli(&out, "check '%s/db' --quiet", dir), 0, "%s: a note is no problem", when);
    cr_expect_eq(strstr(out, note) != NULL, want, "%s: check says\n%s", when, out);
    free(out);
    cr_assert_eq(tu_cli(&out, "stats '%s/db' --json", dir), 0, "%s", when);
    cr_expect(strstr(out, want ? "\"links_outdated\":true" : "\"links_outdated\":false"),
              "%s: %s", when, out);
    free(out);
}

/* The store says which rule made its mention links: a store linked before
 * the rule was recorded (no key) is told to run cvstore link, and is not
 * after it; puts neither add nor remove the key on a store with titles,
 * and a store whose links only puts ever made needs no rebuild. */
Test(link, store_says_when_links_need_the_new_rule, .init = setup, .fini = teardown)
{
    float v[DIM];
    axis(v, 0, 1, 0.1f);
    /* A plain store: titles, no links yet, nothing to rebuild. */
    put("paris", "Paris", "Paris is the capital of France.", v);
    put("curie", "Marie Curie", "A physicist who worked in Paris.", v);
    cr_assert_eq(outdated(), 0);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(outdated(), 0);
    assert_cli_note(0, "linked");
    cr_assert_eq(cvs__write(db, drop_rule_fn, NULL), 0);
    cr_assert_eq(outdated(), 1);
    assert_cli_note(1, "linked by an older rule");
    put("lyon", "Lyon", "Lyon is south of Paris.", v);
    cr_assert_eq(outdated(), 1, "a put does not make the old links new");
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(outdated(), 0);
    assert_cli_note(0, "relinked");
}

Test(link, puts_from_the_first_title_make_links_of_the_rule, .init = setup, .fini = teardown)
{
    float v[DIM];
    text_store(v);
    put("paris", "Paris", "Paris is the capital of France.", v);
    put("curie", "Marie Curie", "A physicist who worked in Paris.", v);
    cr_assert(mentions("curie", "paris"));
    cr_assert_eq(outdated(), 0);
    /* Its key dropped, a text store with titles is an old one: puts keep
     * saying so until a full run. */
    cr_assert_eq(cvs__write(db, drop_rule_fn, NULL), 0);
    put("lyon", "Lyon", "Lyon is south of Paris.", v);
    cr_assert_eq(outdated(), 1);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(outdated(), 0);
}

/* A plain vector store keeps its links as they are until cvstore link. */
Test(context, plain_store_links_on_request, .init = setup, .fini = teardown)
{
    float v[DIM];
    axis(v, 0, 1, 0.1f);
    put("paris", "Paris", "Paris is the capital of France.", v);
    put("curie", "Marie Curie", "A physicist who worked in Paris.", v);
    cr_assert_not(mentions("curie", "paris"));
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("curie", "paris"));
}

/* ==== kNN graph ==== */

#define NREC 300
#define K 10

Test(context, knn_matches_brute_force, .init = setup, .fini = teardown)
{
    float *v = malloc(NREC * DIM * sizeof *v);
    char id[32];
    cvs_knn_opts ko = {.k = K};
    cvs_knn_info ki, ki2;
    cvs_txn *t;
    size_t hit = 0, tot = 0;

    tu_randvecs(v, NREC * DIM, 7);
    for (int i = 0; i < NREC; i++) {
        float *x = v + i * DIM, n = 0;
        for (int d = 0; d < DIM; d++)
            n += x[d] * x[d];
        for (int d = 0; d < DIM; d++)
            x[d] /= sqrtf(n);
        snprintf(id, sizeof id, "r%d", i);
        put(id, NULL, NULL, x);
    }
    cr_assert_eq(cvs_knn_build(db, &ko, &ki), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ki.k, K);
    cr_assert_eq(ki.records, NREC);
    cr_assert_float_eq(ki.recall, 1.0, 1e-9);
    cr_assert_eq(cvs_knn_get_info(db, &ki2), 0);
    cr_assert_eq(ki2.records, NREC);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int i = 0; i < NREC; i++) {
        int64_t key, nb[K];
        float sc[K], best[K];
        size_t n;
        const char *s;
        size_t sl;
        cvs_record r;
        snprintf(id, sizeof id, "r%d", i);
        cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0);
        key = r.key;
        cr_assert_eq(cvs_knn_neighbors(t, key, K, nb, sc, &n), 0);
        cr_assert_eq(n, K);
        /* Brute force: the K best cosines to the others. */
        for (int k = 0; k < K; k++)
            best[k] = -2;
        for (int j = 0; j < NREC; j++) {
            float d = 0;
            if (j == i)
                continue;
            for (int c = 0; c < DIM; c++)
                d += v[i * DIM + c] * v[j * DIM + c];
            for (int k = 0; k < K; k++)
                if (d > best[k]) {
                    memmove(best + k + 1, best + k, (K - 1 - k) * sizeof *best);
                    best[k] = d;
                    break;
                }
        }
        for (int k = 0; k < K; k++) {
            cr_assert_eq(cvs_key_id(t, nb[k], &s, &sl), 0);
            cr_assert_neq(nb[k], key);
            tot++;
            hit += sc[k] >= best[K - 1] - 1e-5f;
        }
        cr_assert_float_eq(sc[0], best[0], 1e-4);
    }
    cvs_txn_end(t);
    cr_assert_eq(hit, tot, "recall %zu/%zu", hit, tot);

    /* A record put after the build gets its neighbours at read time: a
     * copy of r0 has r0 first. */
    {
        int64_t nb[K];
        float sc[K];
        size_t n;
        cvs_record r;
        const char *s;
        size_t sl;
        put("late", NULL, NULL, v);
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_get(t, "late", 4, &r, NULL), 0);
        cr_assert_eq(cvs_knn_neighbors(t, r.key, K, nb, sc, &n), 0);
        cr_assert_eq(n, K);
        cr_assert_eq(cvs_key_id(t, nb[0], &s, &sl), 0);
        cr_assert_eq(sl, 2);
        cr_assert_eq(memcmp(s, "r0", 2), 0);
        cr_assert_float_eq(sc[0], 1.0, 1e-5);
        cvs_txn_end(t);
    }

    /* From the ANN index: the build measures its recall against exact. */
    cvs_build_opts bo = {.seed = 1, .index = "faiss:IVF4,Flat"};
    cr_assert_eq(cvs_build(db, "pq4x4", &bo), 0, "%s", cvs_errmsg(db));
    ko.flags = CVS_SEARCH_ANN;
    ko.recall_sample = 50;
    cr_assert_eq(cvs_knn_build(db, &ko, &ki), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(ki.approximate, 1);
    cr_assert(ki.recall > 0.3 && ki.recall <= 1.0, "recall %f", ki.recall);
    cr_assert_eq(cvs_knn_get_info(db, &ki2), 0);
    cr_assert_eq(ki2.approximate, 1);
    cr_assert_float_eq(ki2.recall, ki.recall, 1e-12);
    free(v);
}

/* Exact neighbours of vector x among the live records of t (itself, by key,
 * left out): the K best cosines into best[], descending. */
static void brute_knn(cvs_txn *t, const float *x, int64_t self, float *best, int64_t *bk)
{
    cvs_iter *it;
    cvs_record r;
    float v[DIM];
    for (int k = 0; k < K; k++) {
        best[k] = -2;
        bk[k] = -1;
    }
    cr_assert_eq(cvs_iter_open(t, &it), 0);
    while (cvs_iter_next(it, &r, v) == 0) {
        float d = 0, n = 0;
        if (r.key == self)
            continue;
        for (int c = 0; c < DIM; c++) {
            d += x[c] * v[c];
            n += v[c] * v[c];
        }
        d /= sqrtf(n);
        for (int k = 0; k < K; k++)
            if (d > best[k]) {
                memmove(best + k + 1, best + k, (K - 1 - k) * sizeof *best);
                memmove(bk + k + 1, bk + k, (K - 1 - k) * sizeof *bk);
                best[k] = d;
                bk[k] = r.key;
                break;
            }
    }
    cvs_iter_close(it);
}

/* Every stored row, read raw: its record and every neighbour are live,
 * and it has K edges.  Returns the share of the true K nearest the rows
 * hold (the graph's recall). */
static double check_rows(void)
{
    cvs_txn *t;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t rows = 0, hit = 0;
    uint64_t count;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_count(t, &count), 0);
    cr_assert_eq(mdb_cursor_open(t->txn, cvs__graph(db)->dbi_knn, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, rows ? MDB_NEXT : MDB_FIRST) == 0) {
        int64_t key = (int64_t)cvs__get_u64(k.mv_data), bk[K];
        float x[DIM], best[K];
        cvs_record r;
        rows++;
        cr_assert_eq(cvs_get_key(t, key, &r, x), 0, "row of deleted key %lld", (long long)key);
        cr_assert_eq(v.mv_size, K * 12, "row of %lld has %zu bytes", (long long)key, v.mv_size);
        brute_knn(t, x, key, best, bk);
        for (int i = 0; i < K; i++) {
            int64_t nk = (int64_t)cvs__get_u64((const unsigned char *)v.mv_data + 12 * i);
            const char *s;
            size_t sl;
            cr_assert_eq(cvs_key_id(t, nk, &s, &sl), 0, "row of %lld names deleted %lld",
                         (long long)key, (long long)nk);
            for (int j = 0; j < K; j++)
                hit += bk[j] == nk;
        }
    }
    mdb_cursor_close(cur);
    cvs_txn_end(t);
    cr_assert_eq(rows, count, "%zu rows for %llu records", rows, (unsigned long long)count);
    return (double)hit / (double)(rows * K);
}

/* The row of id is its exact K nearest among the live records. */
static void assert_row_exact(const char *id)
{
    cvs_txn *t;
    cvs_record r;
    int64_t nb[K], bk[K];
    float sc[K], best[K], x[DIM];
    size_t n;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, x), 0);
    cr_assert_eq(cvs_knn_neighbors(t, r.key, K, nb, sc, &n), 0);
    cr_assert_eq(n, K);
    brute_knn(t, x, r.key, best, bk);
    for (int j = 0; j < K; j++) {
        cr_assert_eq(nb[j], bk[j], "%s: neighbour %d", id, j);
        cr_assert_float_eq(sc[j], best[j], 1e-4);
    }
    cvs_txn_end(t);
}

/* The graph follows puts and deletes: a record put after the build gets
 * its exact K nearest as its row (and enters its neighbours' rows), a
 * deleted one leaves no row and no edge, and the rows that named it are
 * recomputed. */
Test(context, knn_maintained_on_put_and_delete, .init = setup, .fini = teardown)
{
    float *v = malloc((NREC + 40) * DIM * sizeof *v);
    char id[32];
    cvs_knn_opts ko = {.k = K};
    cvs_record recs[30];
    char ids[30][16];
    double recall;

    tu_randvecs(v, (NREC + 40) * DIM, 11);
    for (int i = 0; i < NREC; i++) {
        snprintf(id, sizeof id, "r%d", i);
        put(id, NULL, NULL, v + i * DIM);
    }
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_float_eq(check_rows(), 1.0, 1e-9);
    /* One batch of 30 and 10 single puts, each row exact right after its
     * put (later puts only enter the rows of their own neighbours). */
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i);
        recs[i] = (cvs_record){.id = ids[i], .id_len = strlen(ids[i]),
                               .vector = v + (NREC + i) * DIM};
    }
    cr_assert_eq(cvs_put(db, recs, 30, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    assert_row_exact("b0");
    assert_row_exact("b17");
    assert_row_exact("b29");
    for (int i = 30; i < 40; i++) {
        snprintf(id, sizeof id, "s%d", i);
        put(id, NULL, NULL, v + (NREC + i) * DIM);
        assert_row_exact(id);
    }
    /* An update moves r0 onto r1: r1 is then its nearest. */
    put("r0", NULL, NULL, v + 1 * DIM);
    assert_row_exact("r0");
    recall = check_rows();
    cr_assert_geq(recall, 0.95, "graph recall %.3f after puts", recall);
    cr_log_info("graph recall after puts %.4f", recall);
    /* Deletes: old records, new ones, in one call and alone. */
    {
        const char *gone[] = {"r5", "r6", "b3", "s31", "r100"};
        size_t lens[5], deleted;
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(gone[i]);
        cr_assert_eq(cvs_delete(db, gone, lens, 4, &deleted), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(deleted, 4);
        cr_assert_eq(cvs_delete(db, gone + 4, lens + 4, 1, &deleted), 0);
    }
    recall = check_rows();
    cr_assert_geq(recall, 0.95, "graph recall %.3f after deletes", recall);
    cr_log_info("graph recall after deletes %.4f", recall);
    uint64_t problems = 1;
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    free(v);
}

/* ==== Context sets ==== */

/* A two-hop question.  "Which river flows through the birthplace of the
 * composer of Zorblat?": three near-copies of the first-hop passage (what
 * BM25 and the vectors find) and the second-hop passage, which shares no
 * word with the question but is mentioned by the first. */
static void make_two_hop(void)
{
    float v[DIM];
    axis(v, 0, 1, 0.00f);
    put("hop1", "Zorblat", "Zorblat is an opera composed by Quentin Vale, born in Brindlemoor.", v);
    axis(v, 0, 1, 0.01f);
    put("hop1-copy", "Zorblat (opera)",
        "Zorblat is an opera composed by Quentin Vale, born in Brindlemoor town.", v);
    axis(v, 0, 1, 0.02f);
    put("hop1-copy2", "Zorblat opera",
        "Zorblat: an opera composed by Quentin Vale, who was born in Brindlemoor.", v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Brindlemoor", "Brindlemoor is a market town on the Wendle.", v);
    put_fillers(6, 3);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("hop1", "hop2"));
}

static const char question[] = "Which river flows through the birthplace of the composer of Zorblat?";

static void run(cvs_context_strategy s, size_t budget, float lambda, cvs_context_result *r)
{
    cvs_context_opts o;
    cvs_txn *t;
    float q[DIM];
    cvs_context_opts_init(&o);
    o.strategy = s;
    o.budget = budget;
    o.lambda = lambda;
    axis(q, 0, 1, 0.005f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, question, 0, q, r), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
}

static int has(const cvs_context_result *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].id_len == strlen(id) && !memcmp(r->items[i].id, id, r->items[i].id_len))
            return 1;
    return 0;
}

Test(context, diverse_finds_second_hop, .init = setup, .fini = teardown)
{
    cvs_context_result top, div;
    make_two_hop();
    /* Room for two of these passages (each 20-25 tokens), not three. */
    run(CVS_CONTEXT_TOPK, 50, 0.7f, &top);
    run(CVS_CONTEXT_DIVERSE, 50, 0.7f, &div);
    cr_assert_eq(top.n, 2);
    cr_assert_eq(has(&top, "hop1") + has(&top, "hop1-copy") + has(&top, "hop1-copy2"), 2);
    cr_assert_not(has(&top, "hop2"), "top-k should fill up with the near-copies");
    /* One of the three copies (they differ by a word), and the second hop. */
    cr_assert_eq(has(&div, "hop1") + has(&div, "hop1-copy") + has(&div, "hop1-copy2"), 1);
    cr_assert(has(&div, "hop2"));
    for (size_t i = 0; i < div.n; i++)
        if (!strcmp(div.items[i].id, "hop2")) {
            /* The path: the seed, then the mention. */
            cr_assert_eq(div.items[i].hop, 1);
            cr_assert_str_eq(div.items[i].via[1].type, "mentions");
            cr_assert_str_eq(div.items[i].via[1].id, "hop2");
        }
    cvs_context_result_free(&top);
    cvs_context_result_free(&div);
    cvs_context_result_free(NULL);
}

/* Options out of range are refused naming the option; a NaN weight, which
 * passes every comparison, made every score NaN and the set silently
 * empty. */
Test(context, options_out_of_range_are_named, .init = setup, .fini = teardown)
{
    cvs_context_opts o;
    cvs_context_result r;
    make_two_hop();
    cvs_context_opts_init(&o);
    o.lexical_weight = NAN;
    cr_assert_eq(cvs_context(db, &o, "hop question", 0, &r), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "lexical_weight nan is out of range (0 to 1)"), "%s",
              cvs_errmsg(db));
    cr_assert_eq(r.n, 0);
    cvs_context_opts_init(&o);
    o.knn_weight = INFINITY;
    cr_assert_eq(cvs_context(db, &o, "hop question", 0, &r), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "knn_weight"), "%s", cvs_errmsg(db));
    cvs_context_opts_init(&o);
    o.hops = -1;
    cr_assert_eq(cvs_context(db, &o, "hop question", 0, &r), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "hops -1"), "%s", cvs_errmsg(db));
    cvs_context_opts_init(&o);
    cr_assert_eq(cvs_context(db, &o, "hop question", 0, &r), 0, "%s", cvs_errmsg(db));
    cvs_context_result_free(&r);
}

/* A question of no words (empty, spaces of any kind, punctuation) and no
 * vector is refused, naming the problem: an empty set would read as
 * "nothing in the store answers it".  With a query vector it is answered
 * by the vector; a question of stop words only has words and is answered
 * (with whatever they find). */
Test(context, a_question_of_no_words_is_refused, .init = setup, .fini = teardown)
{
    static const char *const blank[] = {"", "   ", "\t\n", "\xc2\xa0", "\xe3\x80\x80 \xc2\xa0",
                                        "?!", "-- ... --"};
    cvs_context_result r;
    cvs_txn *t;
    float q[DIM];
    size_t n;
    make_two_hop();
    for (size_t i = 0; i < sizeof blank / sizeof *blank; i++) {
        cr_assert_eq(cvs_text_words(blank[i], 0, &n), 0);
        cr_assert_eq(n, 0, "'%s' has %zu words", blank[i], n);
        cr_assert_eq(cvs_context(db, NULL, blank[i], strlen(blank[i]), &r), CVS_EINVAL,
                     "'%s' was not refused", blank[i]);
        cr_assert(strstr(cvs_errmsg(db), "the question has no words"), "%s", cvs_errmsg(db));
        cr_assert_eq(r.n, 0);
    }
    /* Words: stop words, and a run longer than BM25 keeps (70 letters). */
    cr_assert_eq(cvs_text_words("the of", 0, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(cvs_text_words("\xc2\xa0" "Brindlemoor" "\xe3\x80\x80", 0, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(cvs_text_words("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij",
                                0, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(cvs_text_words("\xff", 1, &n), CVS_EINPUT);
    cr_assert_eq(cvs_context(db, NULL, "the of", 0, &r), 0, "%s", cvs_errmsg(db));
    cvs_context_result_free(&r);
    /* A blank question with a vector: the vector answers. */
    axis(q, 0, 1, 0.005f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, NULL, "\xe3\x80\x80", 0, q, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_gt(r.n, 0);
    cvs_context_result_free(&r);
    cr_assert_eq(cvs_txn_context(t, NULL, " ", 0, NULL, &r), CVS_EINVAL);
    cvs_txn_end(t);
}

/* Why an empty set is empty, when the question is the reason: one library
 * function says it (cvs_text_empty_note), for the CLI, MCP and Python
 * alike.  Stop words only, or a run BM25 leaves out, get the note; a
 * question with a searchable word, or none at all, gets none (the first
 * is an answer, the second is refused before any search). */
Test(context, empty_set_note_comes_from_the_library)
{
    static const char *const noted[] = {"who was the", "The OF", "\xc2\xa0is\xe3\x80\x80it",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"};
    static const char *const none[] = {"who was Brindlemoor", "", "  ", "?!"};
    const char *note = "unset";
    for (size_t i = 0; i < sizeof noted / sizeof *noted; i++) {
        cr_assert_eq(cvs_text_empty_note(noted[i], 0, &note), 0, "%s", cvs_errmsg(NULL));
        cr_assert(note && strstr(note, "only stop words") && strstr(note, "add a word"),
                  "'%s': %s", noted[i], note ? note : "(none)");
    }
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        note = "unset";
        cr_assert_eq(cvs_text_empty_note(none[i], 0, &note), 0);
        cr_assert_null(note, "'%s' got a note: %s", none[i], note);
    }
    note = "unset";
    cr_assert_eq(cvs_text_empty_note("the\xff", 4, &note), CVS_EINPUT);
    cr_assert_null(note);
    cr_assert_eq(cvs_text_empty_note(NULL, 3, &note), CVS_EINVAL);
    cr_assert_eq(cvs_text_empty_note("the", 3, NULL), CVS_EINVAL);
}

/* An empty set whose candidates are all longer than the budget said
 * nothing ("0 items, 0 of 2 tokens, 15 candidates"): cvs_context_note
 * names the budget then, and the question when it is the reason; a set
 * with items has no note. */
Test(context, an_empty_set_for_want_of_budget_says_so, .init = setup, .fini = teardown)
{
    cvs_context_opts o;
    cvs_context_result r;
    const char *note = "unset";
    make_two_hop();
    cvs_context_opts_init(&o);
    o.budget = 1;
    cr_assert_eq(cvs_context(db, &o, question, 0, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 0);
    cr_assert_gt(r.pool, 0);
    cr_assert_eq(cvs_context_note(&r, question, 0, &note), 0);
    cr_assert(note && strstr(note, "budget"), "%s", note ? note : "(none)");
    cvs_context_result_free(&r);
    o.budget = 512;
    cr_assert_eq(cvs_context(db, &o, question, 0, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_gt(r.n, 0);
    cr_assert_eq(cvs_context_note(&r, question, 0, &note), 0);
    cr_assert_null(note);
    cvs_context_result_free(&r);
    cr_assert_eq(cvs_context(db, &o, "who was the", 0, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 0); /* no word of it is searched, so nothing is found */
    cr_assert_eq(cvs_context_note(&r, "who was the", 0, &note), 0);
    cr_assert(note && strstr(note, "only stop words"), "%s", note ? note : "(none)");
    cvs_context_result_free(&r);
    cr_assert_eq(cvs_context_note(NULL, "x", 0, &note), CVS_EINVAL);
}

/* A single-hop question: BM25's best passage holds the answer, and a
 * record the vectors like (and that passage mentions) collects the walk's
 * score on top of its own.  The lexical evidence still goes first, and a
 * budget with room for one passage gets it. */
Test(context, bm25_best_goes_first, .init = setup, .fini = teardown)
{
    static const char q[] = "When was the Quillon harbour lighthouse built?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM], qv[DIM];
    axis(v, 5, 6, 0.0f);
    put("gold", "Osric Pell works", "The Quillon harbour lighthouse was built in 1872 by Osric "
        "Pell, near Tarnby.", v);
    axis(v, 0, 1, 0.0f);
    put("hub", "Tarnby", "Tarnby is a harbour town whose lighthouse was built on the harbour wall.", v);
    for (int i = 0; i < 6; i++) {
        char id[16], text[96];
        axis(v, 1 + i % 4, 0, 0.3f);
        snprintf(id, sizeof id, "filler%d", i);
        snprintf(text, sizeof text, "An unrelated passage number %d about farming and weather.", i);
        put(id, NULL, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("gold", "hub"));
    axis(qv, 0, 1, 0.0f);
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        cvs_context_opts_init(&o);
        o.strategy = (cvs_context_strategy)s;
        o.budget = 30; /* one of the two */
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, qv, &r), 0, "%s", cvs_errmsg(db));
        cvs_txn_end(t);
        cr_assert_geq(r.n, 1);
        cr_assert_str_eq(r.items[0].id, "gold", "strategy %d: %s first", s, r.items[0].id);
        cvs_context_result_free(&r);
    }
}

/* A compositional question whose second passage neither shares a rare word
 * with the question nor is mentioned by title in the first: only the
 * bridge query (question minus the first passage, plus what the first
 * passage adds: "Mountrail") finds it, past distractors that match the
 * question's own words better. */
Test(context, bridge_finds_unlinked_second_hop, .init = setup, .fini = teardown)
{
    static const char q[] = "What is the seat of the county where Van Hook Township is located?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("hop1", "Van Hook Township", "Van Hook Township is a township in Mountrail County, "
        "North Dakota.", v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Courthouse of Stanley", "The courthouse in Stanley has served Mountrail "
        "County since 1914.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[128];
        axis(v, 4 + i, 1, 0.2f);
        snprintf(id, sizeof id, "other%d", i);
        snprintf(text, sizeof text, "Hook Township %d is a township; the seat of its county "
                 "is a town on a river.", i);
        put(id, NULL, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_not(mentions("hop1", "hop2"));
    cvs_context_opts_init(&o);
    o.budget = 45; /* two passages */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&r, "hop1") && has(&r, "hop2"), "%zu items", r.n);
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.items[i].id, "hop2")) {
            cr_assert_eq(r.items[i].hop, 1);
            cr_assert_str_eq(r.items[i].via[0].id, "hop1");
            cr_assert_str_eq(r.items[i].via[1].type, "bridge");
        }
    cvs_context_result_free(&r);
    o.bridges = 0;
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&r, "hop1"));
    cr_assert_not(has(&r, "hop2"), "without bridges the distractors should win");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* The question is tokenized once (query/context.c, "the question,
 * analyzed once"): BM25 and the title seeds read its tokens and must give
 * what they give from its text. */
Test(context, question_tokens_read_as_text, .init = setup, .fini = teardown)
{
    static const char *qs[] = {"Which river flows through the birthplace of the composer of "
                               "Zorblat?", "Is Café Rotterdam in ZORBLAT, or in New York City?",
                               "", "the of and"};
    float v[DIM];
    int64_t k1[8], k2[8];
    float s1[8], s2[8];
    size_t n1, n2;
    cvs_txn *t;
    cvs_tokens tok = {0};
    make_two_hop();
    axis(v, 3, 4, 0.1f);
    put("cafe", "Cafe Rotterdam", "A café in New York City named after a port.", v);
    put("nyc", "New York City", "The most populous city of the United States.", v);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        cr_assert_eq(cvs__tokenize(qs[i], strlen(qs[i]), CVS_TOK_STRIP_ACCENTS, &tok), 0);
        cr_assert_eq(cvs__bm25_search(t, qs[i], strlen(qs[i]), 8, k1, s1), 0);
        cr_assert_eq(cvs__bm25_search_tokens(t, &tok, 8, k2, s2), 0);
        for (size_t j = 0; j < 8; j++) {
            cr_assert_eq(k1[j], k2[j], "%s: rank %zu", qs[i], j);
            if (k1[j] >= 0)
                cr_assert_eq(s1[j], s2[j]);
        }
        cr_assert_eq(cvs__graph_title_seeds(t, qs[i], strlen(qs[i]), k1, 8, &n1), 0);
        cr_assert_eq(cvs__graph_title_seeds_tokens(t, &tok, k2, 8, &n2), 0);
        cr_assert_eq(n1, n2, "%s", qs[i]);
        for (size_t j = 0; j < n1; j++)
            cr_assert_eq(k1[j], k2[j]);
        if (i == 1)
            cr_assert_geq(n1, 3, "Zorblat, Cafe Rotterdam and New York City");
    }
    cvs__tokens_free(&tok);
    cvs_txn_end(t);
}

/* A question that names no record by its title, in a store that knows its
 * titles, goes by BM25's ranking (query/context.c, deviation 8): no vector
 * list, no bridges, no kNN edges; only the records that BM25's three best
 * mention come in, each right after its leader (deviation 12).  Here
 * BM25's best is the first hop, which mentions "Brindlemoor"; its copies
 * mention it too, and it is placed once.  The same store with a question
 * naming "Zorblat" walks (diverse_finds_second_hop). */
Test(context, single_hop_question_gets_no_walk, .init = setup, .fini = teardown)
{
    static const char q[] = "Which opera did Quentin Vale compose?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    int64_t keys[16];
    float scores[16];
    make_two_hop();
    axis(v, 0, 1, 0.005f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_text_search(t, q, strlen(q), 16, keys, scores), 0);
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        size_t next = 0; /* BM25's rank of the last record it placed */
        cvs_context_opts_init(&o);
        o.strategy = (cvs_context_strategy)s;
        o.budget = 1000;
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
        cr_assert_geq(r.n, 1);
        cr_assert(has(&r, "hop2"));
        for (size_t i = 0; i < r.n; i++) {
            if (r.items[i].hop == 0) {
                cr_assert_str_eq(r.items[i].via[0].type, "bm25");
                if (s == CVS_CONTEXT_TOPK) {
                    /* The records no link placed keep BM25's order. */
                    while (next < 16 && keys[next] != r.items[i].key)
                        next++;
                    cr_assert_lt(next, 16, "rank %zu is not BM25's", i);
                }
                continue;
            }
            /* Reached from one of BM25's three best by mentions only: a
             * leader's link (which may be a leader too, and bring its
             * own link), never a vector, bridge or kNN step. */
            cr_assert(r.items[i].via[0].key == keys[0] || r.items[i].via[0].key == keys[1] ||
                      r.items[i].via[0].key == keys[2]);
            for (int k = 1; k <= r.items[i].hop; k++)
                cr_assert_str_eq(r.items[i].via[k].type, "mentions", "strategy %d walked", s);
        }
        if (s == CVS_CONTEXT_TOPK) {
            cr_assert_eq(r.items[0].key, keys[0]);
            for (size_t i = 0; i < r.n; i++)
                if (!strcmp(r.items[i].id, "hop2"))
                    cr_assert_lt(i, 6, "the link of a leader comes early, not at %zu", i);
        }
        cvs_context_result_free(&r);
    }
    /* Without links, BM25's ranking alone. */
    cvs_context_opts_init(&o);
    o.strategy = CVS_CONTEXT_TOPK;
    o.budget = 1000;
    o.use_links = 0;
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    for (size_t i = 0; i < r.n; i++)
        cr_assert_eq(r.items[i].key, keys[i], "rank %zu", i);
    cvs_context_result_free(&r);
    /* With the walk asked for by a title in the question, it walks. */
    cvs_context_opts_init(&o);
    o.budget = 1000;
    cr_assert_eq(cvs_txn_context(t, &o, question, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&r, "hop2"));
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* A compositional question that names no title ("the wife of the painter
 * of the Quillon lighthouse mural"): BM25's best record is the first hop,
 * and the second hop, which shares no word with the question, is only the
 * record it mentions.  The single-hop route puts it right after its
 * mention (query/context.c, deviation 12), ahead of passages that match
 * the question's words and say nothing of her; a budget of two passages
 * holds both hops. */
Test(context, single_hop_route_follows_the_best_records_link, .init = setup, .fini = teardown)
{
    static const char q[] = "Where was the wife of the painter of the Quillon lighthouse mural "
                            "born?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    int64_t keys[4];
    float scores[4];
    axis(v, 0, 1, 0.0f);
    put("hop1", "Osric Pell", "Osric Pell painted the Quillon lighthouse mural; he married "
        "Ilse Marrow in 1901.", v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Ilse Marrow", "Ilse Marrow (1880-1950) was a sculptor from Tarnby.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[128];
        axis(v, 4 + i, 0, 0.3f);
        snprintf(id, sizeof id, "other%d", i);
        snprintf(text, sizeof text, "The lighthouse keeper number %d was born where his wife "
                 "painted.", i);
        put(id, NULL, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("hop1", "hop2"));
    cvs_context_opts_init(&o);
    o.budget = 50; /* hop1 (26 tokens) and one more (16-21), not two */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    /* The premises: BM25 ranks the first hop first and does not find the
     * second; the question names no title. */
    cr_assert_eq(cvs_txn_text_search(t, q, strlen(q), 4, keys, scores), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, "hop1");
    cr_assert_eq(r.items[0].key, keys[0]);
    cr_assert_str_eq(r.items[0].via[0].type, "bm25");
    cr_assert_str_eq(r.items[1].id, "hop2", "%s", r.items[1].id);
    cr_assert_eq(r.items[1].hop, 1);
    cr_assert_str_eq(r.items[1].via[1].type, "mentions");
    for (size_t i = 0; i < 4; i++)
        cr_assert_neq(keys[i], r.items[1].key, "BM25 should not find the second hop");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* Two passages for a question written about one sentence, "spread" (the
 * question's words over several sentences; BM25's first) and "sentence"
 * (most of them in one), among others; titles known, none named. */
/* Four passages on another subject (18 tokens each), then the title map. */
static void put_quarries(void)
{
    float v[DIM];
    for (int i = 0; i < 4; i++) {
        char id[16], title[32], text[128];
        axis(v, 4 + i, 0, 0.3f);
        snprintf(id, sizeof id, "other%d", i);
        snprintf(title, sizeof title, "Quarry Number %d", i);
        snprintf(text, sizeof text, "Quarry %d ships granite by rail to the coast every week.",
                 i);
        put(id, title, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db)); /* the title map */
}

static const char velmar_q[] = "When did the Velmar observatory open its northern telescope dome?";

static void make_velmar(void)
{
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("spread", "Hill Station Grounds",
        "The Velmar observatory stands on a hill. The Velmar observatory has a cafe. A "
        "telescope shop sells maps. A northern road leads up. The observatory dome is white. "
        "The Velmar observatory gardens open at noon.", v);
    axis(v, 2, 3, 0.0f);
    put("sentence", "Karst Plateau Sites",
        "The town below has a bakery, a school and a small harbour that freezes in winter. "
        "The northern telescope dome of the Velmar observatory was open to visitors in 1911, "
        "when the road was paved. Its museum keeps letters, photographs and old instruments "
        "from the founders.", v);
    put_quarries();
}

/* The one passage that strategy s puts in a budget that holds one, for
 * question q (the query vector along axis 0) into *r (freed by the caller). */
static void one_passage(cvs_txn *t, const char *q, int s, size_t budget, cvs_context_result *r)
{
    cvs_context_opts o;
    float v[DIM];
    cvs_context_opts_init(&o);
    o.strategy = (cvs_context_strategy)s;
    o.budget = budget;
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r->n, 1, "strategy %d: %zu items", s, r->n);
}

/* A question that names no title, written about one sentence: the passage
 * whose one sentence holds all its words answers it, not the one that BM25
 * ranks first for repeating some of them across several sentences.  The
 * single-hop route re-ranks BM25's first records by their best sentence too
 * (query/context.c, deviation 14), so a budget of one passage holds the
 * answer. */
Test(context, passage_evidence_ranks_the_one_sentence_match_first, .init = setup,
     .fini = teardown)
{
    const char *q = velmar_q;
    cvs_context_result r;
    cvs_txn *t;
    int64_t keys[8];
    float scores[8];
    make_velmar();
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    /* The premise: BM25 ranks the passage that spreads the question's words
     * first. */
    cr_assert_eq(cvs_txn_text_search(t, q, strlen(q), 8, keys, scores), 0);
    cr_assert_geq(keys[1], 0);
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        one_passage(t, q, s, 74, &r); /* one passage: 57 or 72 tokens, the others 18 */
        cr_assert_str_eq(r.items[0].id, "sentence", "strategy %d: %s", s, r.items[0].id);
        cr_assert_str_eq(r.items[0].via[0].type, "bm25");
        cr_assert_neq(r.items[0].key, keys[0], "BM25 should rank the spread passage first");
        cvs_context_result_free(&r);
    }
    /* BM25's own ranking (strategy bm25, no walk) keeps BM25's order. */
    one_passage(t, q, CVS_CONTEXT_BM25, 74, &r);
    cr_assert_eq(r.items[0].key, keys[0]);
    cr_assert_str_eq(r.items[0].id, "spread");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* A question asking "invented" about the one passage that says
 * "invention" (query/context.c, deviation 17): the single-hop route counts
 * the store's other forms of a question term (its Snowball stem's) as the
 * term, so that passage comes first; over exact forms BM25 knows only
 * "telephone" and ranks first the passage that repeats it, and its own
 * ranking (cvs_txn_text_search, the bm25 strategy: the bm25-topk baseline)
 * stays so. */
/* Deviation 17's passages: "form" says the question's word in another form
 * ("invention"), "repeat" says another of its words three times; the
 * quarries make the title map. */
static void put_telephones(void)
{
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("form", "Speaking Machines", "The invention of the telephone made Alexander Bell famous.",
        v);
    axis(v, 2, 3, 0.0f);
    put("repeat", "Exchange Hall", "The telephone exchange had a telephone desk and a telephone "
        "clerk.", v);
    put_quarries();
}

Test(context, word_forms_find_the_passage_saying_the_question_word_in_another_form,
     .init = setup, .fini = teardown)
{
    const char *q = "Who invented the telephone?";
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    int64_t keys[8];
    float scores[8];
    put_telephones();
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    /* The premise: over exact forms BM25 ranks the repeated word first. */
    cr_assert_eq(cvs_txn_text_search(t, q, strlen(q), 8, keys, scores), 0);
    cr_assert_eq(keys[0], tu_key_of(db, "repeat"));
    cr_assert_eq(keys[1], tu_key_of(db, "form"));
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        one_passage(t, q, s, 20, &r); /* one passage: 18 to 20 tokens */
        cr_assert_str_eq(r.items[0].id, "form", "strategy %d: %s", s, r.items[0].id);
        cvs_context_result_free(&r);
    }
    /* The bm25 strategy keeps plain BM25's order. */
    one_passage(t, q, CVS_CONTEXT_BM25, 20, &r);
    cr_assert_str_eq(r.items[0].id, "repeat");
    cvs_context_result_free(&r);
    /* exact_words (what cvstore-mpi's shards do) reads the words as written. */
    {
        cvs_context_opts o;
        axis(v, 0, 1, 0.0f);
        cvs_context_opts_init(&o);
        o.budget = 20;
        o.exact_words = 1;
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(r.n, 1);
        cr_assert_str_eq(r.items[0].id, "repeat");
        cvs_context_result_free(&r);
    }
    cvs_txn_end(t);
}

/* A question whose first term is nowhere in the store: its class has no
 * posting (bm25.c sorted an empty, NULL list of them, undefined behaviour
 * that the sanitizer build stops at), and the next class's forms still
 * count. */
Test(context, word_forms_after_a_term_the_store_lacks, .init = setup, .fini = teardown)
{
    const char *q = "Zyxwvut invented the telephone?";
    cvs_context_result r;
    cvs_txn *t;
    put_telephones();
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    one_passage(t, q, CVS_CONTEXT_DIVERSE, 20, &r);
    cr_assert_str_eq(r.items[0].id, "form", "%s", r.items[0].id);
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* CPU time of the calling thread, in seconds. */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The least CPU time of three runs of question q (the machine is shared:
 * the least is the one others interfered with least). */
static double least_cpu(cvs_txn *t, const char *q)
{
    double best = 1e9;
    for (int run = 0; run < 3; run++) {
        cvs_context_result r;
        cvs_context_opts o;
        double t0;
        cvs_context_opts_init(&o);
        o.unit = CVS_UNIT_PASSAGE;
        o.budget = 64;
        t0 = thread_cpu();
        cr_assert_eq(cvs_txn_context(t, &o, q, strlen(q), NULL, &r), 0, "%s", cvs_errmsg(db));
        best = fmin(best, thread_cpu() - t0);
        cr_assert_geq(r.n, 1, "%s: no item", q);
        cvs_context_result_free(&r);
    }
    return best;
}

/* Deviation 17's cost: question terms whose stems share a prefix range of
 * the vocabulary ("cabs", "cats", "caps": "ca") read that range once, so
 * a question of many such terms costs about what one costs, not one scan
 * of the range a term (which, over a large vocabulary, made a question of
 * a few dozen words take seconds). */
Test(context, word_forms_read_a_shared_prefix_range_once, .init = setup, .fini = teardown)
{
    const char *one = "Where does granite go with cats?";
    char many[512] = "Where does granite go with";
    const char *cons = "bcdfglmnprtvwyz";
    float v[DIM];
    char text[1024];
    unsigned x = 12345;
    cvs_txn *t;
    double t1, tn;
    /* 150 passages of 60 words "ca?????": 9,000 terms in the range "ca". */
    for (int i = 0; i < 150; i++) {
        char id[16];
        size_t n = 0;
        for (int w = 0; w < 60; w++) {
            n += (size_t)snprintf(text + n, sizeof text - n, "ca");
            for (int c = 0; c < 5; c++) {
                x = x * 1103515245u + 12345u;
                text[n++] = (char)('a' + (x >> 16) % 26);
            }
            text[n++] = ' ';
        }
        text[n] = '\0';
        snprintf(id, sizeof id, "ca%d", i);
        axis(v, i % DIM, (i + 1) % DIM, 0.1f);
        put(id, NULL, text, v);
    }
    put_quarries();
    for (const char *c = cons; *c; c++) /* "cabs", "cacs", ... (15 stems "ca?") */
        snprintf(many + strlen(many), sizeof many - strlen(many), " ca%cs", *c);
    strcat(many, "?");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    t1 = least_cpu(t, one);
    tn = least_cpu(t, many);
    cvs_txn_end(t);
    /* Before: 15 scans of the range against one (about 15 times). */
    cr_assert_lt(tn, 4 * t1 + 0.002, "one term %.2f ms, fifteen %.2f ms", t1 * 1e3, tn * 1e3);
}

/* ==== GloVe's vector list on the single-hop route (deviation 16) ==== */

/* A GloVe vocabulary of DIM-d vectors for the glove embedder: a frequent
 * word along axis 0 first, so that the common component the embedder
 * removes (embed_sif.c deviation 4) is that axis, then FILLER words along
 * it too, so that the words below sit at nearly the same Zipf rank and get
 * nearly the same SIF weight: a text's vector is then about the plain mean
 * of its known words' vectors. */
enum { GLOVE_FILLER = 1000 };
static const char *const gf_words[] = {"composer", "illness", "disease", "sickness", "choir",
                                       "hospital", "concert",  "hall",    "orchestra", "apples",
                                       "tram"};
static const float gf_vecs[][DIM] = {
    {0, 0, 0, 1, 0, 0, 0, 0},          /* composer */
    {0, 1, 0, 0, 0, 0, 0, 0},          /* illness */
    {0, 0.95f, 0.3f, 0, 0, 0, 0, 0},   /* disease, near illness */
    {0, 0.95f, -0.3f, 0, 0, 0, 0, 0},  /* sickness, near illness */
    {0, 0, 0, 0, 1, 0, 0, 0},          /* choir */
    {0, 0, 0, 0, 0, 1, 0, 0},          /* hospital */
    {0, 0, 0, 0, 0, 0, 1, 0},          /* concert */
    {0, 0, 0, 0, 0, 0, 0, 1},          /* hall */
    {0, 0, 0, 0, 0, 0, 0.7f, 0.7f},    /* orchestra */
    {0, -0.7f, 0, -0.7f, 0, 0, 0, 0},  /* apples: away from the question */
    {0, -0.7f, 0, -0.7f, 0, 0, 0, 0}}; /* tram */

static char *glove_vocab(void)
{
    enum { NW = sizeof gf_words / sizeof *gf_words, N = 1 + GLOVE_FILLER + NW };
    char *gdir = tu_tmpdir(), (*fill)[16] = malloc(GLOVE_FILLER * sizeof *fill);
    const char **w = malloc(N * sizeof *w);
    float *v = calloc((size_t)N * DIM, sizeof *v);
    cr_assert(gdir && fill && w && v);
    w[0] = "thing";
    v[0] = 50;
    for (int i = 0; i < GLOVE_FILLER; i++) {
        snprintf(fill[i], sizeof fill[i], "filler%04d", i);
        w[1 + i] = fill[i];
        v[(1 + i) * DIM] = 1;
    }
    for (int i = 0; i < NW; i++) {
        w[1 + GLOVE_FILLER + i] = gf_words[i];
        memcpy(v + (1 + GLOVE_FILLER + i) * DIM, gf_vecs[i], sizeof gf_vecs[i]);
    }
    tu_glove_write(gdir, w, v, N, DIM);
    free(fill);
    free(w);
    free(v);
    return gdir;
}

/* A question that names no title, in a store whose embedder is the
 * built-in glove: GloVe's list joins BM25's after BM25's three best
 * records, which keep their places (query/context.c, deviation 16).  The
 * answer's passage says "sickness" and "disease" where the question says
 * "illness", so BM25 ranks it fifth, below a passage ("concert") that
 * matches "composer" as it does and is shorter; GloVe's list puts it
 * second, after BM25's best and far ahead of BM25's third ("choir", whose
 * "tram" pulls its vector away), so that fused as a trained encoder's list
 * is (deviation 15) it would take that leader's place.  Two stores hold the
 * same records and vectors (the embedder's) and get the same question
 * vector: in the glove store the answer comes fourth, right after BM25's
 * three leaders, and a budget of four passages holds it; the store that
 * records no embedder (nothing known of its vectors) keeps BM25's ranking
 * (deviation 8).  Sentence units keep it in both (deviation 16 is for
 * passages). */
Test(context, glove_list_joins_the_single_hop_route_after_bm25s_leaders)
{
    static const char *const id[] = {"lead", "hospital", "choir", "concert", "answer",
                                     "apples", "tram"};
    static const char *const title[] = {"Fever Symphony", "Saint Ann Hospital", "Choir School",
                                        "Concert Hall", "Ludwig Brenner", "Orchard", "Tramway"};
    static const char *const text[] = {
        "The Fever Symphony is a work about illness by a young composer.",
        "The hospital treats every illness.",
        "The composer wrote for the tram choir.",
        "The composer gave a concert in the orchestra hall.",
        "The composer Brenner passed away from sickness, a disease of the liver.",
        "Apples grow best in cool climates.",
        "The tram line closed in the sixties."};
    static const char q[] = "What illness did the composer die of?";
    enum { N = sizeof id / sizeof *id };
    cvs_create_opts co = {.dim = DIM, .metric = CVS_METRIC_COSINE};
    char *sdir[2] = {NULL, NULL}, *gdir = glove_vocab(), in[256];
    cvs_db *sdb[2] = {NULL, NULL};
    float v[N][DIM], qv[DIM];
    int64_t key[N], keys[8], vkeys[8];
    float scores[8], vscores[8];
    size_t four = 0;
    int kind;
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    for (int s = 0; s < 2; s++)
        tu_store_create(&co, NULL, &sdir[s], &sdb[s]);
    cr_assert_eq(cvs_db_set_embedder(sdb[0], "glove", 0, NULL, NULL), CVS_OK, "%s",
                 cvs_errmsg(sdb[0]));
    /* The input an import embeds: title, newline, text. */
    for (int i = 0; i < N; i++) {
        snprintf(in, sizeof in, "%s\n%s", title[i], text[i]);
        cr_assert_eq(cvs_embed_text(sdb[0], in, 0, v[i]), CVS_OK, "%s", cvs_errmsg(sdb[0]));
    }
    cr_assert_eq(cvs_embed_text(sdb[0], q, 0, qv), CVS_OK, "%s", cvs_errmsg(sdb[0]));
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < N; i++) {
            cvs_record r = {.id = id[i], .id_len = strlen(id[i]), .vector = v[i],
                            .title = title[i], .title_len = strlen(title[i]), .text = text[i],
                            .text_len = strlen(text[i])};
            cr_assert_eq(cvs_put(sdb[s], &r, 1, 0, NULL, NULL), CVS_OK, "%s", cvs_errmsg(sdb[s]));
        }
        cr_assert_eq(cvs_link_mentions(sdb[s], NULL), CVS_OK, "%s", cvs_errmsg(sdb[s]));
    }
    cr_assert_eq(cvs__embedder_kind(sdb[0], &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_SIF, "the built-in glove");
    cr_assert_eq(cvs__embedder_kind(sdb[1], &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_UNKNOWN, "a store that records no embedder");
    for (int i = 0; i < 5; i++) /* BM25's leaders and the answer, not the concert passage */
        if (i != 3)
            four += cvs_tokens_estimate(strlen(title[i]), strlen(text[i]));
    for (int s = 0; s < 2; s++) {
        cvs_context_opts o;
        cvs_context_result r;
        cvs_txn *t;
        int known = 0;
        size_t at = SIZE_MAX;
        cr_assert_eq(cvs_txn_begin(sdb[s], &t), CVS_OK);
        cr_assert_eq(cvs_txn_titles_known(t, &known), CVS_OK);
        cr_assert(known, "store %d: no title map, so no single-hop route", s);
        /* The premises: BM25 ranks the answer fifth, the concert passage
         * fourth; the vector list puts the answer right after BM25's best. */
        for (int i = 0; i < N; i++)
            cr_assert_eq(cvs_txn_id_key(t, id[i], strlen(id[i]), &key[i]), CVS_OK);
        cr_assert_eq(cvs_txn_text_search(t, q, strlen(q), 8, keys, scores), CVS_OK);
        cr_assert_eq(cvs_txn_search(t, qv, 1, 8, 0, vkeys, vscores), CVS_OK);
        cr_assert_eq(keys[0], key[0], "BM25's best is the lead passage");
        cr_assert_eq(keys[3], key[3], "BM25's fourth is the concert passage");
        cr_assert_eq(keys[4], key[4], "BM25's fifth is the answer");
        cr_assert_eq(vkeys[0], key[0], "the vector list's best is the lead passage");
        cr_assert_eq(vkeys[1], key[4], "the vector list's second is the answer");
        cvs_context_opts_init(&o);
        o.strategy = CVS_CONTEXT_TOPK;
        o.budget = four + 1; /* the concert passage is shorter than the answer's */
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, qv, &r), CVS_OK, "%s", cvs_errmsg(sdb[s]));
        for (size_t i = 0; i < r.n; i++)
            if (!strcmp(r.items[i].id, "answer"))
                at = i;
        /* BM25's three best lead in both stores, whatever the vectors say. */
        cr_assert_geq(r.n, 3);
        for (size_t i = 0; i < 3; i++)
            cr_expect(r.items[i].key == keys[0] || r.items[i].key == keys[1] ||
                          r.items[i].key == keys[2],
                      "store %d: %s at %zu is not one of BM25's three best", s, r.items[i].id, i);
        if (s == 0)
            cr_expect_eq(at, 3, "glove's list brings the answer right after the leaders (at %zu)",
                         at);
        else
            cr_expect_eq(at, SIZE_MAX, "BM25 alone finds the answer: the test shows nothing");
        cvs_context_result_free(&r);
        cvs_txn_end(t);
    }
    /* Sentence units keep BM25's ranking in the glove store too: the two
     * stores choose the same sentences of the same records. */
    for (size_t budget = 16; budget <= 64; budget *= 2) {
        cvs_context_result r[2];
        for (int s = 0; s < 2; s++) {
            cvs_context_opts o;
            cvs_txn *t;
            cvs_context_opts_init(&o);
            o.unit = CVS_UNIT_SENTENCE;
            o.budget = budget;
            cr_assert_eq(cvs_txn_begin(sdb[s], &t), CVS_OK);
            cr_assert_eq(cvs_txn_context(t, &o, q, 0, qv, &r[s]), CVS_OK, "%s",
                         cvs_errmsg(sdb[s]));
            cvs_txn_end(t);
        }
        cr_assert_gt(r[0].n, 0);
        cr_expect_eq(r[0].n, r[1].n, "budget %zu: %zu items against %zu", budget, r[0].n, r[1].n);
        for (size_t i = 0; i < r[0].n && i < r[1].n; i++) {
            cr_expect_str_eq(r[0].items[i].id, r[1].items[i].id, "budget %zu, item %zu", budget,
                             i);
            cr_expect(r[0].items[i].text_len == r[1].items[i].text_len &&
                          !memcmp(r[0].items[i].text, r[1].items[i].text, r[0].items[i].text_len),
                      "budget %zu, item %zu: other sentences", budget, i);
        }
        for (int s = 0; s < 2; s++)
            cvs_context_result_free(&r[s]);
    }
    for (int s = 0; s < 2; s++)
        tu_store_remove(&sdir[s], &sdb[s]);
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(gdir);
    free(gdir);
}

/* A record mentions its own copy (the same text under the title
 * "Zorblat Libretto", which the text names), which BM25 scores as high as
 * the record itself.  Behind BM25's best record diverse
 * places the link that is no copy of it, the second hop (deviation 12's
 * copy test); topk, the relevance order without redundancy handling,
 * places the copy. */
Test(context, lead_link_is_no_copy_for_diverse_only, .init = setup, .fini = teardown)
{
    static const char q[] = "Which opera did Quentin Vale compose?";
    static const char text[] = "Zorblat is an opera composed by Quentin Vale, born in "
                               "Brindlemoor; its text is the Zorblat Libretto.";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("a", "Zorblat", text, v);
    axis(v, 0, 1, 0.01f);
    put("a2", "Zorblat Libretto", text, v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Brindlemoor", "Brindlemoor is a market town on the Wendle.", v);
    put_fillers(4, 1);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("a", "a2") && mentions("a", "hop2"));
    axis(v, 0, 1, 0.005f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_TOPK; s++) {
        cvs_context_opts_init(&o);
        o.strategy = (cvs_context_strategy)s;
        o.budget = 1000;
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
        cr_assert_geq(r.n, 2);
        cr_assert(!strcmp(r.items[0].id, "a") || !strcmp(r.items[0].id, "a2"));
        if (s == CVS_CONTEXT_TOPK)
            cr_assert(!strcmp(r.items[1].id, "a") || !strcmp(r.items[1].id, "a2"),
                      "topk: %s after %s", r.items[1].id, r.items[0].id);
        else
            cr_assert_str_eq(r.items[1].id, "hop2");
        cvs_context_result_free(&r);
    }
    cvs_txn_end(t);
}

/* A compositional question that names its first hop ("the wife of Osric
 * Pell"), whose second hop shares no word with the question and is only
 * what the named record mentions, in a sentence without the question's
 * relation words ("married", not "wife": deviation 11 does not apply).
 * Passages that match the question's words ("wife", "born") outscore the
 * mention's decayed share; the named record and then its best link come
 * right after BM25's best (query/context.c, deviation 13), so a budget of
 * three passages holds both hops. */
Test(context, named_records_lead_with_their_link, .init = setup, .fini = teardown)
{
    static const char q[] = "Where was the wife of Osric Pell born?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("hop1", "Osric Pell", "Osric Pell was a painter from Quillon; he married Ilse Marrow "
        "in 1901.", v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Ilse Marrow", "Ilse Marrow (1880-1950) was a sculptor from Tarnby.", v);
    static const char *const others[] = {
        "Osric, a keeper, and his wife Agnes Pell were born at sea.",
        "Where was Mary Pell born?  Her husband Osric, a miller, never said.",
        "Osric's wife, a Pell, was born in a tent during the great fair.",
        "The Pell family: every wife was born in the valley, every Osric too.",
        "Tom Pell and his wife were both born near the mill of Osric."};
    for (int i = 0; i < 5; i++) {
        char id[16];
        axis(v, 0, 4 + i % 4, 0.3f);
        snprintf(id, sizeof id, "other%d", i);
        put(id, NULL, others[i], v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("hop1", "hop2"));
    cvs_context_opts_init(&o);
    o.budget = 60; /* three of these passages (16-22 tokens), not four */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&r, "hop1") && has(&r, "hop2"), "%zu items: %s, %s", r.n, r.items[0].id,
              r.n > 1 ? r.items[1].id : "-");
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.items[i].id, "hop2")) {
            cr_assert_str_eq(r.items[i].via[0].id, "hop1");
            cr_assert_str_eq(r.items[i].via[1].type, "mentions");
        }
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* A redundant corpus: the passage that answers is there three times, the
 * copies lightly rewritten (sentences rotated, one dropped) and their
 * vectors apart (cosine 0.64-0.8, below the cosine rule's 0.999).  The
 * default set holds one copy and fills the rest with other passages
 * (query/context.c, deviation 9); top-k takes the copies. */
Test(context, near_copies_by_words_go_once, .init = setup, .fini = teardown)
{
    static const char q[] = "When was the Quillon lighthouse built?";
    static const char *copies[] = {"orig", "orig#2", "orig#3"};
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("orig", "Quillon light", "The Quillon lighthouse was built in 1872. It stands on the "
        "north pier. Its lamp was electrified in 1931.", v);
    axis(v, 0, 2, 0.75f);
    put("orig#2", "Quillon light", "It stands on the north pier. Its lamp was electrified in "
        "1931. The Quillon lighthouse was built in 1872.", v);
    axis(v, 0, 3, 0.75f);
    put("orig#3", "Quillon light", "The Quillon lighthouse was built in 1872. Its lamp was "
        "electrified in 1931.", v);
    axis(v, 4, 0, 0.5f);
    put("pier", "North pier", "The north pier was rebuilt after the storm of 1953, with a new "
        "house for the lighthouse keeper of Quillon.", v);
    axis(v, 5, 0, 0.5f);
    put("keeper", "Keepers", "Lighthouse keepers at Quillon were paid by the harbour board "
        "until the light was built again.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[96];
        axis(v, 6 + i % 2, 0, 0.3f);
        snprintf(id, sizeof id, "filler%d", i);
        snprintf(text, sizeof text, "An unrelated passage number %d about farming and weather.", i);
        put(id, NULL, text, v);
    }
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        int ncopies = 0;
        cvs_context_opts_init(&o);
        o.strategy = (cvs_context_strategy)s;
        o.budget = 90; /* three of these passages */
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
        for (size_t i = 0; i < 3; i++)
            ncopies += has(&r, copies[i]);
        if (s == CVS_CONTEXT_TOPK) {
            cr_assert_geq(ncopies, 2, "top-k takes the copies");
        } else {
            cr_assert_eq(ncopies, 1, "strategy %d: %d copies", s, ncopies);
            cr_assert(has(&r, "pier") && has(&r, "keeper"));
        }
        cvs_context_result_free(&r);
    }
    cvs_txn_end(t);
}

/* Two rewrites of one passage, each with another clause cut, share less
 * than 90% of their words, but each is a copy of the passage itself, which
 * is in the pool: they are copies of each other (query/context.c,
 * deviation 9, siblings), so the default set holds one of the three. */
Test(context, sibling_copies_go_once, .init = setup, .fini = teardown)
{
    static const char q[] = "When was the Quillon lighthouse built?";
    static const char *copies[] = {"orig", "orig#2", "orig#3"};
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    int n = 0;
    axis(v, 0, 1, 0.0f);
    put("orig", "Quillon light", "The Quillon lighthouse was built in 1872 by the harbour "
        "board, as soon as the pier was finished, with granite from Tarnby quarry.", v);
    axis(v, 0, 2, 0.75f);
    put("orig#2", "Quillon light", "The Quillon lighthouse was built in 1872 by the harbour "
        "board, with granite from Tarnby quarry.", v);
    axis(v, 0, 3, 0.75f);
    put("orig#3", "Quillon light", "The Quillon lighthouse was built in 1872 by the harbour "
        "board, as soon as the pier was finished.", v);
    axis(v, 4, 0, 0.5f);
    put("pier", "North pier", "The north pier was rebuilt after the storm of 1953, with a new "
        "house for the lighthouse keeper of Quillon.", v);
    axis(v, 5, 0, 0.5f);
    put("keeper", "Keepers", "Lighthouse keepers at Quillon were paid by the harbour board "
        "until the light was built again.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[96];
        axis(v, 6 + i % 2, 0, 0.3f);
        snprintf(id, sizeof id, "filler%d", i);
        snprintf(text, sizeof text, "An unrelated passage number %d about farming and weather.", i);
        put(id, NULL, text, v);
    }
    cvs_context_opts_init(&o);
    o.budget = 75; /* three of these passages */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    for (size_t i = 0; i < 3; i++)
        n += has(&r, copies[i]);
    cr_assert_eq(n, 1, "%d of the three versions", n);
    cr_assert(has(&r, "pier") || has(&r, "keeper"));
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* Two templated stubs about different entities ("Gmina Alpha", "Gmina
 * Beta": same sentence frame, other names) have SIF vectors closer than
 * 0.95, yet their words say they are not copies.  The default's cosine
 * threshold (0.999, query/context.c deviation 9) leaves that to the word
 * test, so when the objective chooses (top-k's set holds Alpha's copy)
 * Beta still goes in; at the old 0.95 it was suppressed. */
Test(context, templated_stubs_are_not_copies, .init = setup, .fini = teardown)
{
    static const char q[] = "Which rural gmina of Ryki County has its seat in a village?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("alpha", "Gmina Alpha", "Gmina Alpha is a rural gmina in Ryki County. Its seat is the "
        "village of Alpha.", v);
    axis(v, 0, 2, 0.75f);
    put("alpha#2", "Gmina Alpha", "Its seat is the village of Alpha. Gmina Alpha is a rural "
        "gmina in Ryki County.", v);
    axis(v, 0, 1, 0.25f); /* cosine 0.97 with alpha */
    put("beta", "Gmina Beta", "Gmina Beta is an urban gmina in Ryki County. Its seat is the "
        "town of Beta, on the Wieprz.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[96];
        axis(v, 4 + i % 2, 0, 0.3f);
        snprintf(id, sizeof id, "filler%d", i);
        snprintf(text, sizeof text, "An unrelated passage number %d about a rural village.", i);
        put(id, NULL, text, v);
    }
    cvs_context_opts_init(&o);
    cr_assert_float_eq(o.dup_threshold, 0.999f, 1e-6);
    o.budget = 50; /* two of these passages */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(has(&r, "alpha") + has(&r, "alpha#2"), 1);
    cr_assert(has(&r, "beta"), "%zu items", r.n);
    cvs_context_result_free(&r);
    o.dup_threshold = 0.95f;
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_not(has(&r, "beta"), "the cosine rule at 0.95 takes Beta for a copy");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* The first hop is in the store three times (lightly rewritten).  Copies
 * have the same words, so the bridge query of a seed finds its copies
 * first; they are neither bridges nor seeds of their own (query/context.c,
 * deviation 10), so the bridge reaches the second hop at full weight, past
 * distractors that match the question's words (without the rule, its
 * weight is its score over a copy's, far higher). */
Test(context, copies_of_a_seed_do_not_take_its_bridges, .init = setup, .fini = teardown)
{
    static const char q[] = "What is the seat of the county where Van Hook Township is located?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("hop1", "Van Hook Township", "Van Hook Township is a township in Mountrail County, "
        "North Dakota. Its population was 255 at the 2000 census.", v);
    axis(v, 0, 1, 0.05f);
    put("hop1#2", "Van Hook Township", "Its population was 255 at the 2000 census. Van Hook "
        "Township is a township in Mountrail County, North Dakota.", v);
    axis(v, 0, 1, 0.1f);
    put("hop1#3", "Van Hook Township", "Van Hook Township is a township in Mountrail County, "
        "North Dakota.", v);
    axis(v, 2, 3, 0.0f);
    put("hop2", "Courthouse of Stanley", "The courthouse in Stanley has served Mountrail "
        "County since 1914.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[128];
        axis(v, 4 + i, 1, 0.2f);
        snprintf(id, sizeof id, "other%d", i);
        snprintf(text, sizeof text, "Hook Township %d is a township located in a county on "
                 "a river.", i);
        put(id, NULL, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_not(mentions("hop1", "hop2"));
    cvs_context_opts_init(&o);
    o.budget = 60; /* a first hop and two more */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&r, "hop2"), "%zu items", r.n);
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.items[i].id, "hop2"))
            cr_assert_str_eq(r.items[i].via[1].type, "bridge");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* The record the question names mentions two titles; the sentence naming
 * one of them also holds a word of the question outside the titles it
 * names ("licensed"): that link states the relation asked about and passes
 * the seed's whole score (query/context.c, deviation 11), so the place it
 * names goes in before radio stations that match the question's words. */
Test(context, relation_link_passes_the_seed_score, .init = setup, .fini = teardown)
{
    static const char q[] = "What administrative territorial entity includes the place that "
                            "KTRP is licensed to broadcast to?";
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("ktrp", "KTRP (AM)", "KTRP is a radio station licensed to serve Notus, Idaho. The "
        "station is owned by Centro Familiar.", v);
    axis(v, 2, 3, 0.0f);
    put("notus", "Notus, Idaho", "Notus is a small rural city in Canyon County.", v);
    axis(v, 3, 2, 0.0f);
    put("centro", "Centro Familiar", "Centro Familiar is a church with a choir.", v);
    for (int i = 0; i < 4; i++) {
        char id[16], text[128];
        axis(v, 4 + i, 0, 0.3f);
        snprintf(id, sizeof id, "station%d", i);
        snprintf(text, sizeof text, "Station W%dX is licensed to broadcast to a place in an "
                 "administrative area.", i);
        put(id, NULL, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("ktrp", "notus") && mentions("ktrp", "centro"));
    cvs_context_opts_init(&o);
    o.budget = 55; /* ktrp (30 tokens) and one of the others (15-22), not two */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_assert(has(&r, "ktrp") && has(&r, "notus"), "%s, %s", r.items[0].id, r.items[1].id);
    cr_assert_str_eq(r.items[1].via[1].type, "mentions");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* A film the question q names (title), its director and its actor:
 * film_text names both, and the actor's passage matches more of the
 * question's words than the director's, which matches none.  Puts the
 * store and returns the context set of a budget of two of these passages
 * (12-26 tokens). */
static void director_of_film(const char *title, const char *film_text, const char *q,
                             cvs_context_result *r)
{
    cvs_context_opts o;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("film", title, film_text, v);
    axis(v, 2, 3, 0.0f);
    put("smith", "John Smith", "John Smith (1901-1980) came from Quillon.", v);
    axis(v, 3, 2, 0.0f);
    put("lee", "Ann Lee", "Ann Lee was born in Tarnby and acted in many a film.", v);
    put_fillers(4, 0);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("film", "smith") && mentions("film", "lee"));
    cvs_context_opts_init(&o);
    o.budget = 40;
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, r), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
}

#define GREY_HARBOUR_Q "Where was the director of film Grey Harbour born?"

static void assert_director_follows(const cvs_context_result *r)
{
    cr_assert_eq(r->n, 2);
    cr_assert_str_eq(r->items[0].id, "film");
    cr_assert_str_eq(r->items[1].id, "smith", "%s after the film, not the director",
                     r->items[1].id);
    cr_assert_str_eq(r->items[1].via[0].id, "film");
}

/* One sentence names the director and the actor together with a relation
 * word of the question ("film"): both are relation links (deviation 11).
 * The one named next to a relation word ("directed by John Smith") follows
 * the film the question names (query/context.c, deviation 18), not the one
 * BM25 scores best (the actor: "born", "film"). */
Test(context, relation_link_named_nearest_follows, .init = setup, .fini = teardown)
{
    cvs_context_result r;
    director_of_film("Grey Harbour", "Grey Harbour is a 1958 drama film directed by John Smith "
                     "and starring Ann Lee.", GREY_HARBOUR_Q, &r);
    assert_director_follows(&r);
    cvs_context_result_free(&r);
}

/* The sentence naming the director holds no word of the question as it is
 * written, only "directed" for "director": an agent noun and its verb are
 * one relation word (deviation 18: "director" is Snowball's "direct" plus
 * "or"), so the director's link is the relation link that follows. */
Test(context, relation_word_meets_its_agent_noun, .init = setup, .fini = teardown)
{
    cvs_context_result r;
    director_of_film("Grey Harbour", "Grey Harbour is a 1958 drama starring Ann Lee. It was "
                     "directed by John Smith.", GREY_HARBOUR_Q, &r);
    assert_director_follows(&r);
    cvs_context_result_free(&r);
}

/* A film whose title is mostly stop words ("I Was All His": the title map
 * passes it over, graph/link.c deviation 2), named whole in the question
 * with its capitals: it is a record the question names (query/context.c,
 * deviation 19), so its director, linked by "directed by", follows it.
 * Without the rule the question names nothing, goes by BM25 (deviation 8),
 * and the actor ("born", "film") follows the film.  Written in other
 * capitals it names nothing: "i was all his" in a question typed in lower
 * case is words, not the film's name. */
Test(context, stop_word_title_named_whole_leads, .init = setup, .fini = teardown)
{
    cvs_context_opts o;
    cvs_context_result r;
    cvs_txn *t;
    float v[DIM];
    director_of_film("I Was All His (film)", "I Was All His is a 1958 drama film directed by "
                     "John Smith and starring Ann Lee.",
                     "Where was the director of film I Was All His born?", &r);
    assert_director_follows(&r);
    cvs_context_result_free(&r);
    cvs_context_opts_init(&o);
    o.budget = 40;
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, "where was the director of film i was all his born?", 0,
                                 v, &r), 0, "%s", cvs_errmsg(db));
    /* unnamed, the film's follower is the link BM25 scores best (the
     * actor), not its relation link (deviation 12, not 18) */
    cr_assert_eq(r.n, 2);
    cr_assert_str_neq(r.items[1].id, "smith", "lower case named the film");
    cvs_context_result_free(&r);
    cvs_txn_end(t);
}

/* A pool without near-copies: diverse keeps top-k's order (query/select.c,
 * deviation 6), though its coverage term would trade the second most
 * relevant passage (alone in its direction) for a weaker one that looks
 * like many others. */
Test(context, diverse_without_copies_is_topk, .init = setup, .fini = teardown)
{
    static const char q[] = "Quillon harbour lighthouse keeper";
    static const char *words[] = {"barley", "oats", "rye", "wheat", "millet", "sorghum", "hops",
                                  "flax", "hemp", "beans", "peas", "lentils", "clover", "kale",
                                  "turnips", "beets", "onions", "leeks", "garlic", "carrots"};
    cvs_context_opts o;
    cvs_context_result a, b;
    cvs_txn *t;
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put("a", NULL, "Quillon harbour lighthouse keeper.", v);
    axis(v, 1, 0, 0.0f);
    put("b", NULL, "Quillon harbour.", v);
    for (int i = 0; i < 20; i++) {
        char id[16], text[96];
        axis(v, 2, 3, 0.01f * (float)i);
        snprintf(id, sizeof id, "farm%d", i);
        snprintf(text, sizeof text, "A keeper grew %s.", words[i]);
        put(id, NULL, text, v);
    }
    axis(v, 0, 2, 0.5f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (size_t budget = 10; budget <= 40; budget += 5) {
        cvs_context_opts_init(&o);
        o.budget = budget;
        o.strategy = CVS_CONTEXT_TOPK;
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &a), 0, "%s", cvs_errmsg(db));
        o.strategy = CVS_CONTEXT_DIVERSE;
        cr_assert_eq(cvs_txn_context(t, &o, q, 0, v, &b), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(a.n, b.n, "budget %zu", budget);
        for (size_t i = 0; i < a.n; i++)
            cr_assert_eq(a.items[i].key, b.items[i].key, "budget %zu, item %zu", budget, i);
        cvs_context_result_free(&a);
        cvs_context_result_free(&b);
    }
    cvs_txn_end(t);
}

Test(context, budgets_respected, .init = setup, .fini = teardown)
{
    make_two_hop();
    cvs_context_strategy all[] = {CVS_CONTEXT_DIVERSE, CVS_CONTEXT_TOPK, CVS_CONTEXT_MMR,
                                  CVS_CONTEXT_BM25, CVS_CONTEXT_VECTOR};
    for (size_t s = 0; s < 5; s++)
        for (size_t budget = 1; budget <= 200; budget += 7) {
            cvs_context_result r;
            size_t sum = 0;
            run(all[s], budget, 0.5f, &r);
            for (size_t i = 0; i < r.n; i++) {
                cr_assert_eq(r.items[i].tokens,
                             (r.items[i].title_len + r.items[i].text_len + 3) / 4);
                cr_assert_eq(r.items[i].tokens,
                             cvs_tokens_estimate(r.items[i].title_len, r.items[i].text_len));
                sum += r.items[i].tokens;
            }
            cr_assert_eq(sum, r.tokens);
            cr_assert_leq(r.tokens, budget, "%s at %zu: %zu tokens",
                          cvs_context_strategy_name(all[s]), budget, r.tokens);
            cr_assert_eq(r.budget, budget);
            if (budget >= 30)
                cr_assert_gt(r.n, 0);
            cvs_context_result_free(&r);
        }
}

Test(context, mmr_lambda_one_is_topk, .init = setup, .fini = teardown)
{
    make_two_hop();
    for (size_t budget = 20; budget <= 300; budget += 40) {
        cvs_context_result a, b;
        run(CVS_CONTEXT_TOPK, budget, 1, &a);
        run(CVS_CONTEXT_MMR, budget, 1, &b);
        cr_assert_eq(a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            cr_assert_eq(a.items[i].key, b.items[i].key);
        cvs_context_result_free(&a);
        cvs_context_result_free(&b);
    }
}

Test(context, deletes_leave_no_dangling_edges, .init = setup, .fini = teardown)
{
    cvs_knn_opts ko = {.k = 4};
    cvs_txn *t;
    const char *gone[] = {"hop2", "hop1-copy"};
    size_t lens[] = {4, 9}, deleted;
    make_two_hop();
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0);
    cr_assert_eq(cvs_delete(db, gone, lens, 2, &deleted), 0);
    cr_assert_eq(deleted, 2);
    /* No kNN edge names a deleted record. */
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    for (int64_t key = 1; key <= 10; key++) {
        int64_t nb[4];
        float sc[4];
        size_t n;
        const char *id;
        size_t idl;
        cr_assert_eq(cvs_knn_neighbors(t, key, 4, nb, sc, &n), 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(cvs_key_id(t, nb[i], &id, &idl), 0, "edge to deleted key %lld",
                         (long long)nb[i]);
    }
    cvs_txn_end(t);
    /* Nor does any context item or path. */
    for (int s = 0; s < 3; s++) {
        cvs_context_result r;
        run((cvs_context_strategy)s, 1000, 0.5f, &r);
        for (size_t i = 0; i < r.n; i++)
            for (int h = 0; h <= r.items[i].hop; h++) {
                cr_assert_str_neq(r.items[i].via[h].id, "hop2");
                cr_assert_str_neq(r.items[i].via[h].id, "hop1-copy");
            }
        cvs_context_result_free(&r);
    }
    uint64_t problems = 1;
    cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
}

static void collect_msg(void *ctx, const char *msg)
{
    char *buf = ctx;
    strncat(buf, msg, 4000 - strlen(buf));
    strncat(buf, "\n", 4000 - strlen(buf));
}

/* cvstore check reads the graph: a malformed row, a row naming a missing
 * record, and title-map entries that are malformed or dangle are each
 * reported; the store is clean before the damage. */
Test(context, check_verifies_the_graph, .init = setup, .fini = teardown)
{
    cvs_knn_opts ko = {.k = 4};
    MDB_txn *txn;
    uint64_t key = 1, gone = 999, p = 1;
    unsigned char bad[12 * 2];
    MDB_val k = {8, &key}, v = {13, bad}, tk = {5, "x\x1f\x1fy!"}, tv = {8, &gone};
    char msgs[4001] = "";
    make_two_hop();
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0);
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
    /* Damage behind the store's back. */
    memset(bad, 0, sizeof bad);
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_put(txn, cvs__graph(db)->dbi_knn, &k, &v, 0), 0); /* 13 bytes */
    key = 2;
    cvs__put_u64(bad, gone);
    v.mv_size = 12;
    cr_assert_eq(mdb_put(txn, cvs__graph(db)->dbi_knn, &k, &v, 0), 0); /* an edge to key 999 */
    cr_assert_eq(mdb_put(txn, cvs__graph(db)->dbi_titlemap, &tk, &tv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cr_assert_eq(cvs_check(db, collect_msg, msgs, &p), 0);
    cr_assert_eq(p, 4, "%s", msgs);
    cr_assert(strstr(msgs, "knn: row of key 1 has 13 bytes"), "%s", msgs);
    cr_assert(strstr(msgs, "edge to key 999 (dangling)"), "%s", msgs);
    cr_assert(strstr(msgs, "titlemap: malformed"), "%s", msgs);
    cr_assert(strstr(msgs, "key 999, which has no record"), "%s", msgs);
    /* Reading a malformed row is an error, not a crash. */
    {
        cvs_txn *t;
        int64_t nb[4];
        float sc[4];
        size_t n;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_knn_neighbors(t, 1, 4, nb, sc, &n), CVS_ECORRUPT);
        cvs_txn_end(t);
    }
    /* cvstore link rebuilds the graph; the title map's bad entry goes too. */
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0);
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    cr_assert_eq(p, 0);
}

Test(context, strategy_names)
{
    cvs_context_strategy s;
    cr_assert_eq(cvs_context_strategy_parse("mmr", &s), 0);
    cr_assert_eq(s, CVS_CONTEXT_MMR);
    cr_assert_str_eq(cvs_context_strategy_name(CVS_CONTEXT_DIVERSE), "diverse");
    cr_assert_eq(cvs_context_strategy_parse("best", &s), CVS_EINVAL);
}

/* ==== CLI ==== */

Test(context, cli_json_shape, .init = setup, .fini = teardown)
{
    char *out = NULL, *qfile;
    json_t *j, *items;
    static const char queries[] =
        "{\"id\": \"q1\", \"text\": \"Which river flows through the birthplace of the composer of Zorblat?\"}\n"
        "{\"id\": 2, \"text\": \"farming and weather\"}\n";
    make_two_hop();
    cvs_db_close(db); /* the CLI opens it */
    db = NULL;
    /* link --json reports the graph's recall of the true K nearest. */
    cr_assert_eq(tu_cli(&out, "link '%s/db' -k 4 --json", dir), 0);
    j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "knn"), "k")), 4);
    cr_assert_float_eq(json_number_value(json_object_get(json_object_get(j, "knn"), "recall")),
                       1.0, 1e-9);
    json_decref(j);
    free(out);
    cr_assert_eq(tu_cli(&out, "context '%s/db' --text '%s' --budget 60 --json", dir, question), 0);
    j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "query")), question);
    cr_assert_eq(json_integer_value(json_object_get(j, "budget")), 60);
    cr_assert(json_is_integer(json_object_get(j, "tokens")));
    cr_assert_leq(json_integer_value(json_object_get(j, "tokens")), 60);
    items = json_object_get(j, "items");
    cr_assert(json_is_array(items));
    cr_assert_gt(json_array_size(items), 0);
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i), *via = json_object_get(it, "via");
        cr_assert(json_is_string(json_object_get(it, "id")));
        cr_assert(json_is_number(json_object_get(it, "score")));
        cr_assert(json_is_integer(json_object_get(it, "tokens")));
        cr_assert(json_is_integer(json_object_get(it, "hop")));
        cr_assert(json_is_string(json_object_get(it, "text")));
        cr_assert(json_is_array(via));
        cr_assert_eq(json_array_size(via), (size_t)json_integer_value(json_object_get(it, "hop")) + 1);
        cr_assert(json_is_string(json_object_get(json_array_get(via, 0), "id")));
        cr_assert(json_is_string(json_object_get(json_array_get(via, 0), "type")));
    }
    json_decref(j);
    free(out);

    /* A batch: one line per query, in order, with query_id. */
    qfile = tu_write_file(dir, "q.jsonl", queries, sizeof queries - 1);
    cr_assert_eq(tu_cli(&out, "context '%s/db' --queries '%s' --budget 40 --strategy topk", dir,
                        qfile), 0);
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    j = json_loadb(out, (size_t)(nl - out), 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "query_id")), "q1");
    json_decref(j);
    j = json_loads(nl + 1, 0, NULL);
    cr_assert_not_null(j, "%s", nl + 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "query_id")), "2");
    json_decref(j);
    free(out);
    free(qfile);

    /* Bad arguments are user errors. */
    cr_assert_eq(tu_cli(NULL, "context '%s/db' --text x --strategy best 2>/dev/null", dir), 1);
    cr_assert_eq(tu_cli(NULL, "context '%s/db' 2>/dev/null", dir), 1);
}

/* --queries files as editors write them: a UTF-8 byte order mark, CRLF
 * line ends and white-space lines are read as the importer reads them; a
 * file with no query is an error (exit 1), not an empty answer with exit 0,
 * for search and context alike; a line that is not JSON says why. */
Test(context, cli_queries_file_forms, .init = setup, .fini = teardown)
{
    static const char bom_crlf[] = "\xEF\xBB\xBF{\"id\": \"q1\", \"text\": \"farming and weather\"}\r\n"
                                   "  \r\n"
                                   "{\"id\": \"q2\", \"text\": \"river\"}\r\n";
    static const char *const words[] = {"farming", "weather", "river"};
    static const float vecs[3 * 4] = {1, 0, 0, 0.5f, 0, 1, 0, 0.5f, 0, 0, 1, 0.5f};
    static const char recs[] = "{\"id\": \"a\", \"text\": \"farming and weather\"}\n"
                               "{\"id\": \"b\", \"text\": \"the river\"}\n";
    char *out = NULL, *qf, *ef, *bf, *gdir = tu_tmpdir(), *rf;
    tu_glove_write(gdir, words, vecs, 3, 4);
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    rf = tu_write_file(dir, "recs.jsonl", recs, sizeof recs - 1);
    cr_assert_eq(tu_cli(NULL, "init '%s/g' --embedder glove --dim 4 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s/g' '%s' --quiet", dir, rf), 0);
    qf = tu_write_file(dir, "bom.jsonl", bom_crlf, sizeof bom_crlf - 1);
    ef = tu_write_file(dir, "empty.jsonl", "", 0);
    bf = tu_write_file(dir, "blank.jsonl", "\n \r\n", 4);
    for (int c = 0; c < 2; c++) {
        const char *cmd = c ? "context '%s/g' --queries '%s' --budget 40" :
                              "search '%s/g' --queries '%s' -k 2";
        char *nl;
        json_t *j;
        cr_assert_eq(tu_cli(&out, cmd, dir, qf), 0, "%s", out);
        nl = strchr(out, '\n');
        cr_assert(nl && strchr(nl + 1, '\n'), "%s", out);
        cr_assert_not_null(j = json_loadb(out, (size_t)(nl - out), 0, NULL));
        cr_assert_str_eq(json_string_value(json_object_get(j, "query_id")), "q1");
        json_decref(j);
        cr_assert_not_null(j = json_loads(nl + 1, 0, NULL));
        cr_assert_str_eq(json_string_value(json_object_get(j, "query_id")), "q2");
        json_decref(j);
        free(out);
        out = NULL;
        cr_assert_eq(tu_cli(&out, c ? "context '%s/g' --queries '%s' 2>&1" :
                                      "search '%s/g' --queries '%s' -k 2 2>&1", dir, ef), 1);
        cr_assert(strstr(out, "no queries"), "%s", out);
        free(out);
        out = NULL;
        cr_assert_eq(tu_cli(&out, c ? "context '%s/g' --queries '%s' 2>&1" :
                                      "search '%s/g' --queries '%s' -k 2 2>&1", dir, bf), 1);
        cr_assert(strstr(out, "no queries"), "%s", out);
        free(out);
        out = NULL;
    }
    free(tu_write_file(dir, "bad.jsonl", "{\"id\": 1, \"text\": \"x\"\n", 21));
    cr_assert_eq(tu_cli(&out, "search '%s/g' --queries '%s/bad.jsonl' -k 2 2>&1", dir, dir), 1);
    cr_assert(strstr(out, "bad.jsonl:1: expected") && strstr(out, "column"), "%s", out);
    free(out);
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(gdir);
    free(gdir);
    free(rf);
    free(qf);
    free(ef);
    free(bf);
}

/* ==== Old stores ==== */

/* The format-v1 fixture predates the graph databases: read-only it answers
 * with an empty graph; a writable open adds them and can link. */
Test(context, old_store_without_graph)
{
    char *d = tu_tmpdir(), cmd[4400];
    cvs_db *old;
    cvs_context_result r;
    cvs_context_opts o;
    cvs_knn_info ki;
    float q[3] = {1, 0, 0};
    cvs_txn *t;
    snprintf(cmd, sizeof cmd, "cp '%s/fixture-v1/data.mdb' '%s/'", CVS_TEST_DATA, d);
    cr_assert_eq(system(cmd), 0);
    cvs_context_opts_init(&o);
    cr_assert_eq(cvs_db_open(d, CVS_OPEN_RDONLY, &old), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_knn_get_info(old, &ki), CVS_NOTFOUND);
    cr_assert_eq(cvs_txn_begin(old, &t), 0);
    cr_assert_eq(cvs_txn_context(t, &o, "alpha", 0, q, &r), 0, "%s", cvs_errmsg(old));
    cr_assert_gt(r.n, 0);
    cvs_context_result_free(&r);
    /* A question alone: its record "a" has a text, which the read-only
     * open cannot index; the error says so, not that there is no text. */
    cr_assert_eq(cvs_txn_context(t, &o, "alpha", 0, NULL, &r), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(old), "no text index yet") &&
              strstr(cvs_errmsg(old), "read-only"), "%s", cvs_errmsg(old));
    cvs_txn_end(t);
    cr_assert_eq(cvs_link_mentions(old, NULL), CVS_ERDONLY);
    cvs_db_close(old);
    cr_assert_eq(cvs_db_open(d, 0, &old), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_link_mentions(old, NULL), 0, "%s", cvs_errmsg(old));
    cr_assert_eq(cvs_knn_build(old, NULL, &ki), 0, "%s", cvs_errmsg(old));
    cr_assert_eq(ki.records, 3);
    cvs_db_close(old);
    /* After one writable open, the read-only one answers the question. */
    cr_assert_eq(cvs_db_open(d, CVS_OPEN_RDONLY, &old), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_context(old, &o, "alpha", 0, &r), 0, "%s", cvs_errmsg(old));
    cr_assert(r.n > 0 && !strcmp(r.items[0].id, "a"));
    cvs_context_result_free(&r);
    cvs_db_close(old);
    tu_rmrf(d);
    free(d);
}

/* ==== Metadata filters (query/context.c deviation 20) ==== */

static void put_meta(const char *id, const char *title, const char *text, const float *v,
                     const char *meta)
{
    cvs_record r = {.id = id, .id_len = strlen(id), .vector = v, .text = text,
                    .text_len = text ? strlen(text) : 0, .title = title,
                    .title_len = title ? strlen(title) : 0, .meta = meta,
                    .meta_len = meta ? strlen(meta) : 0};
    cr_assert_eq(cvs_put(db, &r, 1, CVS_PUT_FORWARD_LINKS, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

static void assert_same_result(const cvs_context_result *a, const cvs_context_result *b,
                               const char *what);

#define ACME "{\"tenant\": \"acme\"}"
#define BETA "{\"tenant\": \"beta\"}"

/* Two tenants in one store.  acme holds the two-hop answer of `question`
 * (a1 names the composer's birthplace, a2, which it mentions); beta holds
 * another Zorblat (a title seed and a seed of BM25 and the vectors), the
 * composer's own record (a1 mentions it: a link out of acme), whose
 * mention leads back into acme's a3 (a path through beta), and a passage on the river of the birthplace (what a bridge
 * query from a1 finds). */
static void make_tenants(void)
{
    float v[DIM];
    axis(v, 0, 1, 0.0f);
    put_meta("a1", "Zorblat", "Zorblat is an opera composed by Quentin Vale, born in "
             "Brindlemoor.", v, ACME);
    axis(v, 2, 3, 0.0f);
    put_meta("a2", "Brindlemoor", "Brindlemoor is a market town on the Wendle.", v, ACME);
    axis(v, 5, 6, 0.0f);
    put_meta("a3", "Oster Hall", "Oster Hall is a concert hall.", v, ACME);
    axis(v, 0, 1, 0.05f);
    put_meta("b1", "Zorblat (ballet)", "Zorblat is a ballet composed by Quentin Vale for the "
             "composer's birthplace.", v, BETA);
    axis(v, 4, 1, 0.3f);
    put_meta("b2", "Quentin Vale", "Quentin Vale was a composer; his works were played at "
             "Oster Hall.", v, BETA);
    axis(v, 7, 3, 0.3f);
    put_meta("b3", NULL, "The river that flows through Brindlemoor, the birthplace of many, "
             "is the Wendle.", v, BETA);
    axis(v, 6, 4, 0.3f);
    put_meta("plain", NULL, "A passage with no metadata about weather and farming.", v, NULL);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert(mentions("a1", "b2"));
    cr_assert(mentions("b2", "a3"));
    cr_assert(mentions("a1", "a2"));
}

/* 1 when the record id's metadata says tenant acme. */
static int is_acme(const char *id)
{
    return id[0] == 'a' && id[1] >= '1' && id[1] <= '9';
}

static int filtered_context(const char *filter_json, cvs_context_strategy s, size_t budget,
                            cvs_context_result *r)
{
    cvs_context_opts o;
    cvs_filter *f = NULL;
    cvs_txn *t;
    float q[DIM];
    int rc;
    cvs_context_opts_init(&o);
    o.strategy = s;
    o.budget = budget;
    if (filter_json)
        cr_assert_eq(cvs_filter_parse(filter_json, 0, &f), 0, "%s", cvs_errmsg(NULL));
    o.filter = f;
    axis(q, 0, 1, 0.005f);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    rc = cvs_txn_context(t, &o, question, 0, q, r);
    cvs_txn_end(t);
    cvs_filter_free(f);
    return rc;
}

Test(context, filter_keeps_every_stage_to_the_tenant, .init = setup, .fini = teardown)
{
    cvs_context_result all, acme;
    int beta_seed = 0, beta_step = 0;
    make_tenants();
    /* Unfiltered, beta's records come in as seeds and as steps of a path. */
    cr_assert_eq(filtered_context(NULL, CVS_CONTEXT_DIVERSE, 2048, &all), 0, "%s",
                 cvs_errmsg(db));
    for (size_t i = 0; i < all.n; i++)
        for (int h = 0; h <= all.items[i].hop; h++)
            if (all.items[i].via[h].id[0] == 'b') {
                beta_seed |= h == 0;
                beta_step |= h > 0 || all.items[i].hop > 0;
            }
    cr_assert(beta_seed, "no beta seed unfiltered: the test would not see the seeds' filter");
    cr_assert(beta_step, "no path through or to beta unfiltered: the walk's filter untested");
    cr_assert(has(&all, "b2") && has(&all, "b3"), "beta's link and bridge targets");
    cvs_context_result_free(&all);

    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_VECTOR; s++) {
        const char *name = cvs_context_strategy_name((cvs_context_strategy)s);
        cr_assert_eq(filtered_context(ACME, (cvs_context_strategy)s, 2048, &acme), 0, "%s: %s",
                     name, cvs_errmsg(db));
        cr_assert(acme.n > 0, "%s: empty", name);
        for (size_t i = 0; i < acme.n; i++) {
            const cvs_context_item *it = &acme.items[i];
            cr_assert(is_acme(it->id), "%s: item %s is not acme's", name, it->id);
            /* Not walked through either: every step of its path is acme's. */
            for (int h = 0; h <= it->hop; h++)
                cr_assert(is_acme(it->via[h].id), "%s: %s reached through %s", name, it->id,
                          it->via[h].id);
            cr_assert(it->meta && strstr(it->meta, "\"acme\""), "%s: %s meta %s", name, it->id,
                      it->meta ? it->meta : "NULL");
            cr_assert_eq(it->meta_len, strlen(it->meta));
        }
        if (s <= CVS_CONTEXT_MMR) {
            /* The tenant's multi-hop answer: its seed and the mention. */
            cr_assert(has(&acme, "a1") && has(&acme, "a2"), "%s: the two hops", name);
            for (size_t i = 0; i < acme.n; i++)
                if (!strcmp(acme.items[i].id, "a2") && acme.items[i].hop) {
                    cr_assert_str_eq(acme.items[i].via[0].id, "a1");
                    cr_assert_str_eq(acme.items[i].via[1].type, "mentions");
                }
        }
        cvs_context_result_free(&acme);
    }
}

/* A filter that every record matches changes nothing (unlike memory's
 * scope, the filter keeps the rules of an unscoped call); one that no
 * record matches gives an empty set, not an error; the items of an
 * unfiltered set carry their metadata, NULL for a record without. */
Test(context, filter_of_all_is_none_and_of_none_is_empty, .init = setup, .fini = teardown)
{
    cvs_context_result a, b;
    make_tenants();
    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_VECTOR; s++) {
        const char *name = cvs_context_strategy_name((cvs_context_strategy)s);
        cr_assert_eq(filtered_context(NULL, (cvs_context_strategy)s, 60, &a), 0, "%s",
                     cvs_errmsg(db));
        cr_assert_eq(filtered_context("{\"$ids\": [\"a1\", \"a2\", \"a3\", \"b1\", \"b2\", "
                                      "\"b3\", \"plain\"]}", (cvs_context_strategy)s, 60, &b),
                     0, "%s", cvs_errmsg(db));
        assert_same_result(&a, &b, name);
        cvs_context_result_free(&a);
        cvs_context_result_free(&b);
    }
    cr_assert_eq(filtered_context("{\"tenant\": \"gamma\"}", CVS_CONTEXT_DIVERSE, 512, &a), 0,
                 "%s", cvs_errmsg(db));
    cr_assert_eq(a.n, 0);
    cr_assert_eq(a.pool, 0);
    cvs_context_result_free(&a);

    cr_assert_eq(filtered_context(NULL, CVS_CONTEXT_DIVERSE, 4096, &a), 0, "%s", cvs_errmsg(db));
    cr_assert(has(&a, "plain") && has(&a, "a1"), "%zu items", a.n);
    for (size_t i = 0; i < a.n; i++) {
        const cvs_context_item *it = &a.items[i];
        if (!strcmp(it->id, "plain"))
            cr_assert(it->meta == NULL && it->meta_len == 0);
        else
            cr_assert_str_eq(it->meta, is_acme(it->id) ? "{\"tenant\":\"acme\"}"
                                                       : "{\"tenant\":\"beta\"}", "%s", it->id);
    }
    cvs_context_result_free(&a);
}

/* A malformed filter is refused when parsed, naming the member, and a
 * filter over an outside source (no store's records to read) is refused
 * with the reason. */
Test(context, filter_errors_are_named, .init = setup, .fini = teardown)
{
    cvs_filter *f = NULL;
    cr_assert_eq(cvs_filter_parse("{\"tenant\": {\"$gt\": \"acme\"}}", 0, &f), CVS_EINVAL);
    cr_assert_null(f);
    cr_assert(strstr(cvs_errmsg(NULL), "\"tenant\""), "%s", cvs_errmsg(NULL));
}

/* ==== Context sets over a source (cvs_context_source_run) ==== */

/* A source over one store's snapshot through the public calls that the
 * shards of cvstore-mpi answer with: BM25 scored with statistics handed in
 * (the store's own, read by cvs_txn_text_stats), the title runs resolved
 * as over several stores. */
typedef struct one_src {
    cvs_txn *t;
    unsigned prefetched;       /* what the pipeline announced */
    size_t bridges_announced;  /* BM25 queries announced (bm25_prefetch) */
    cvs_title_run runs[64];
    int64_t keys[64 * 8];
    size_t nruns, nkeys;
} one_src;

static int os_bm25(void *ctx, const cvs_terms *terms, size_t k, int64_t *keys, float *scores)
{
    one_src *s = ctx;
    uint64_t df[64];
    cvs_text_stats st = {0, 0, df};
    int rc;
    cr_assert_leq(terms->n, 64);
    if ((rc = cvs_txn_text_stats(s->t, terms, &st.ndocs, &st.total, df)))
        return rc;
    return cvs_txn_text_search_terms(s->t, terms, &st, k, keys, scores);
}

static int os_text_stats(void *ctx, const cvs_terms *terms, uint64_t *ndocs, uint64_t *df)
{
    one_src *s = ctx;
    uint64_t total;
    return cvs_txn_text_stats(s->t, terms, ndocs, &total, df);
}

static int os_vector(void *ctx, const float *q, size_t k, unsigned flags, int64_t *keys,
                     float *scores)
{
    one_src *s = ctx;
    cvs_search_params sp = {.flags = flags};
    return cvs_txn_search_params(s->t, q, 1, k, &sp, keys, scores);
}

static int os_run(void *ctx, const cvs_title_run *run)
{
    one_src *s = ctx;
    cr_assert_lt(s->nruns, 64);
    s->runs[s->nruns] = *run;
    s->runs[s->nruns].keys = s->keys + s->nkeys;
    memcpy(s->keys + s->nkeys, run->keys, run->nkeys * sizeof *run->keys);
    s->nkeys += run->nkeys;
    s->nruns++;
    return 0;
}

static int os_titles(void *ctx, const cvs_terms *terms, size_t cap, int64_t *keys, size_t *n)
{
    one_src *s = ctx;
    int rc;
    s->nruns = s->nkeys = 0;
    if ((rc = cvs_txn_title_runs(s->t, terms, os_run, s)))
        return rc;
    return cvs_title_runs_resolve(s->runs, s->nruns, cap, keys, n);
}

static int os_edges(void *ctx, int64_t key, cvs_edge_kind kind, size_t cap, cvs_edge *out,
                    size_t *n)
{
    return cvs_txn_edges(((one_src *)ctx)->t, key, kind, cap, out, n);
}

static int os_record(void *ctx, int64_t key, cvs_record *rec, float *vec)
{
    return cvs_get_key(((one_src *)ctx)->t, key, rec, vec);
}

static int os_prefetch(void *ctx, const int64_t *keys, size_t n, unsigned what, size_t cap)
{
    one_src *s = ctx;
    cr_assert(n > 0 && keys);
    cr_assert(!(what & ~0xfu));
    cr_assert(cap > 0 || what == CVS_PREFETCH_RECORDS);
    s->prefetched |= what;
    return 0;
}

/* The queries announced must be real token lists, for the walk's k. */
static int os_bm25_prefetch(void *ctx, const cvs_terms *queries, size_t n, size_t k)
{
    one_src *s = ctx;
    cvs_context_opts o;
    cvs_context_opts_init(&o);
    cr_assert(n > 0 && n <= o.bridges, "%zu queries", n);
    cr_assert_eq(k, 2 * o.fanout + 1, "k %zu: bridges ask BM25 for twice the fanout (deviation 10)", k);
    for (size_t i = 0; i < n; i++) {
        size_t nul = 0;
        for (size_t b = 0; b < queries[i].bytes; b++)
            nul += queries[i].buf[b] == '\0';
        cr_assert_eq(nul, queries[i].n, "query %zu: %zu terms, %zu NULs", i, queries[i].n, nul);
    }
    s->bridges_announced += n;
    return 0;
}

static int os_key_id(void *ctx, int64_t key, const char **id, size_t *len)
{
    return cvs_key_id(((one_src *)ctx)->t, key, id, len);
}

static void assert_same_result(const cvs_context_result *a, const cvs_context_result *b,
                               const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu items, %zu over the source", what, a->n, b->n);
    cr_assert_eq(a->pool, b->pool, "%s: pool", what);
    cr_assert_eq(a->tokens, b->tokens, "%s: tokens", what);
    for (size_t i = 0; i < a->n; i++) {
        const cvs_context_item *x = &a->items[i], *y = &b->items[i];
        cr_assert_str_eq(x->id, y->id, "%s: item %zu", what, i);
        cr_assert_eq(x->score, y->score, "%s: item %zu: score %g vs %g", what, i, x->score,
                     y->score);
        cr_assert_eq(x->hop, y->hop, "%s: item %zu: hop", what, i);
        for (int h = 0; h <= x->hop; h++) {
            cr_assert_str_eq(x->via[h].id, y->via[h].id, "%s: item %zu step %d", what, i, h);
            cr_assert_str_eq(x->via[h].type, y->via[h].type, "%s: item %zu step %d", what, i, h);
        }
    }
}

/* The pipeline split into reads through a source gives, over a source
 * that is one store, exactly what cvs_txn_context gives: every strategy,
 * with the walk over links, kNN edges and bridges. */
Test(context, source_over_one_store_is_the_store, .init = setup, .fini = teardown)
{
    static const char *const qs[] = {
        question, "What is the seat of the county where Van Hook Township is located?",
        "Brindlemoor market town", "an opera about weather"};
    cvs_knn_opts ko = {0};
    one_src os = {0};
    cvs_context_source src = {
        .version = CVS_CONTEXT_SOURCE_VERSION, .ctx = &os, .dim = DIM,
        .metric = CVS_METRIC_COSINE, .bm25 = os_bm25, .vector = os_vector,
        .title_seeds = os_titles, .edges = os_edges, .record = os_record,
        .key_id = os_key_id, .prefetch = os_prefetch, .bm25_prefetch = os_bm25_prefetch,
        .text_stats = os_text_stats};
    float v[DIM];
    make_two_hop();
    axis(v, 0, 1, 0.0f);
    put("vh", "Van Hook Township", "Van Hook Township is a township in Mountrail County.", v);
    axis(v, 2, 3, 0.0f);
    put("st", "Courthouse of Stanley", "The courthouse in Stanley serves Mountrail County.", v);
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db));
    ko.k = 3;
    cr_assert_eq(cvs_knn_build(db, &ko, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &os.t), 0);
    cr_assert_eq(cvs_txn_titles_known(os.t, &src.titles_known), 0);
    cr_assert(src.titles_known);
    src.text_docs = 12;
    int walked = 0;
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++)
        for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_VECTOR; s++) {
            cvs_context_opts o;
            cvs_context_result a, b;
            char what[96];
            cvs_context_opts_init(&o);
            o.strategy = (cvs_context_strategy)s;
            o.budget = 80;
            axis(v, (int)qi, 1, 0.005f);
            snprintf(what, sizeof what, "question %zu, %s", qi, cvs_context_strategy_name(o.strategy));
            cr_assert_eq(cvs_txn_context(os.t, &o, qs[qi], 0, v, &a), 0, "%s", cvs_errmsg(db));
            cr_assert_eq(cvs_context_source_run(&src, &o, qs[qi], 0, v, &b), 0, "%s: %s", what,
                         cvs_errmsg(db));
            assert_same_result(&a, &b, what);
            for (size_t i = 0; i < a.n; i++)
                walked |= a.items[i].hop > 0;
            cvs_context_result_free(&a);
            cvs_context_result_free(&b);
        }
    cr_assert(walked, "no item came from the walk: the test would not see the edges");
    cr_assert_eq(os.prefetched, 0xfu, "prefetch announced %#x, not records and every edge kind",
                 os.prefetched);
    cr_assert(os.bridges_announced > 0, "no bridge query was announced");
    {
        cvs_context_opts o;
        cvs_context_result r;
        cvs_context_opts_init(&o);
        o.unit = CVS_UNIT_SENTENCE;
        cr_assert_eq(cvs_context_source_run(&src, &o, question, 0, v, &r), CVS_EINVAL);
        src.version = 99;
        o.unit = CVS_UNIT_PASSAGE;
        cr_assert_eq(cvs_context_source_run(&src, &o, question, 0, v, &r), CVS_EINVAL);
        /* A question of no words, and no vector: refused as by cvs_context. */
        src.version = CVS_CONTEXT_SOURCE_VERSION;
        cr_assert_eq(cvs_context_source_run(&src, &o, "\xe3\x80\x80 ", 0, NULL, &r), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(NULL), "the question has no words"), "%s", cvs_errmsg(NULL));
        /* A metadata filter needs one store's records (deviation 20). */
        cvs_filter *f;
        cr_assert_eq(cvs_filter_parse("{\"tenant\": \"acme\"}", 0, &f), 0);
        o.filter = f;
        cr_assert_eq(cvs_context_source_run(&src, &o, question, 0, v, &r), CVS_EINVAL);
        cr_assert(strstr(cvs_errmsg(NULL), "metadata filter"), "%s", cvs_errmsg(NULL));
        cvs_filter_free(f);
    }
    cvs_txn_end(os.t);
}

/* Over a source, the single-hop route's passage evidence weighs the
 * question's terms by the idf the source's text_stats gives: the same
 * ranking as the store's.  Here the weights decide: "common" (BM25's best)
 * has a sentence with the four question words every record holds and the
 * rare ones ("Velmar", "dome") in two sentences, "rare" has both rare ones
 * in one sentence.  By idf the second comes first; a version 1 table (no
 * text_stats: every term alike) puts the first first, and is still
 * taken. */
Test(context, source_passage_evidence_weighs_by_the_sources_idf, .init = setup,
     .fini = teardown)
{
    static const char q[] = "When did the Velmar observatory open its northern telescope dome?";
    one_src os = {0};
    cvs_context_source src = {
        .version = CVS_CONTEXT_SOURCE_VERSION, .ctx = &os, .dim = DIM,
        .metric = CVS_METRIC_COSINE, .bm25 = os_bm25, .vector = os_vector,
        .title_seeds = os_titles, .edges = os_edges, .record = os_record,
        .key_id = os_key_id, .text_stats = os_text_stats};
    cvs_context_opts o;
    cvs_context_result a, b;
    int64_t keys[8];
    float scores[8], v[DIM];
    axis(v, 0, 1, 0.0f);
    put("common", "Hill Station Grounds", "Velmar is a quiet farming village. A dome of green "
        "glass covers its hall. The observatory has an open northern telescope deck.", v);
    axis(v, 2, 3, 0.0f);
    put("rare", "Karst Plateau Sites", "The Velmar dome was finished in 1911 by masons from "
        "the valley below.", v);
    for (int i = 0; i < 6; i++) {
        char id[16], title[32], text[128];
        axis(v, 4 + i % 4, 0, 0.3f);
        snprintf(id, sizeof id, "other%d", i);
        snprintf(title, sizeof title, "Quarry Number %d", i);
        snprintf(text, sizeof text, "Quarry %d runs an open northern telescope observatory "
                 "at night.", i);
        put(id, title, text, v);
    }
    cr_assert_eq(cvs_link_mentions(db, NULL), 0, "%s", cvs_errmsg(db)); /* the title map */
    cr_assert_eq(cvs_txn_begin(db, &os.t), 0);
    cr_assert_eq(cvs_txn_titles_known(os.t, &src.titles_known), 0);
    src.text_docs = 8;
    /* The premise: BM25 ranks "common" first. */
    cr_assert_eq(cvs_txn_text_search(os.t, q, strlen(q), 8, keys, scores), 0);
    cvs_context_opts_init(&o);
    o.strategy = CVS_CONTEXT_TOPK;
    o.budget = 1000;
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_context(os.t, &o, q, 0, v, &a), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_context_source_run(&src, &o, q, 0, v, &b), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(a.n, 2);
    cr_assert_str_eq(a.items[0].id, "rare");
    cr_assert_neq(a.items[0].key, keys[0], "BM25 should rank \"common\" first");
    assert_same_result(&a, &b, "topk");
    cvs_context_result_free(&a);
    cvs_context_result_free(&b);
    src.version = 1;
    src.text_stats = NULL;
    cr_assert_eq(cvs_context_source_run(&src, &o, q, 0, v, &b), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(b.n, 2);
    cr_assert_str_eq(b.items[0].id, "common", "terms alike: %s", b.items[0].id);
    cvs_context_result_free(&b);
    cvs_txn_end(os.t);
}

/* Deviation 17 over a source: the word forms a store finds in its
 * vocabulary, a source (version 3) finds through bm25_forms, here
 * answered as each of cvstore-mpi's shards answers it, with the public
 * cvs_txn_word_classes, cvs_txn_text_class_stats and
 * cvs_txn_text_search_classes: the same set as the store's, the passage
 * saying "invention" first.  A version 2 table, a source whose vocabulary
 * is hashed (encrypted shards: not used) and exact_words keep exact forms:
 * "repeat" first. */
typedef struct forms_src {
    one_src os;
    int hashed;                /* answer as encrypted shards do */
    size_t calls;
} forms_src;

static int fs_bm25_forms(void *ctx, const cvs_terms *question, size_t k, int64_t *keys,
                         float *scores, int *used)
{
    forms_src *s = ctx;
    cvs_word_classes wc;
    uint64_t df[64];
    cvs_text_stats st = {0, 0, df};
    int rc;
    s->calls++;
    *used = 0;
    if ((rc = cvs_txn_word_classes(s->os.t, question, &wc)))
        return rc;
    cr_assert(wc.ordered);
    cr_assert_leq(wc.classes.nclasses, question->n);
    if (!s->hashed && wc.other &&
        !(rc = cvs_txn_text_class_stats(s->os.t, &wc.classes, &st.ndocs, &st.total, df)) &&
        !(rc = cvs_txn_text_search_classes(s->os.t, &wc.classes, &st, k, keys, scores)))
        *used = 1;
    cvs_word_classes_free(&wc);
    return rc;
}

Test(context, source_word_forms_are_the_stores, .init = setup, .fini = teardown)
{
    static const char q[] = "Who invented the telephone?";
    forms_src fs = {0};
    cvs_context_source src = {
        .version = CVS_CONTEXT_SOURCE_VERSION, .ctx = &fs, .dim = DIM,
        .metric = CVS_METRIC_COSINE, .bm25 = os_bm25, .vector = os_vector,
        .title_seeds = os_titles, .edges = os_edges, .record = os_record,
        .key_id = os_key_id, .text_stats = os_text_stats, .bm25_forms = fs_bm25_forms};
    cvs_context_opts o;
    cvs_context_result a, b;
    float v[DIM];
    put_telephones();
    cr_assert_eq(cvs_txn_begin(db, &fs.os.t), 0);
    cr_assert_eq(cvs_txn_titles_known(fs.os.t, &src.titles_known), 0);
    src.text_docs = 6;
    cvs_context_opts_init(&o);
    o.budget = 20; /* one passage */
    axis(v, 0, 1, 0.0f);
    cr_assert_eq(cvs_txn_context(fs.os.t, &o, q, 0, v, &a), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_context_source_run(&src, &o, q, 0, v, &b), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(a.n, 1);
    cr_assert_str_eq(a.items[0].id, "form");
    assert_same_result(&a, &b, "forms");
    cr_assert_eq(fs.calls, 1, "one call a question, not %zu", fs.calls);
    cvs_context_result_free(&a);
    cvs_context_result_free(&b);

    /* Exact forms: a version 2 table (its new slot unread), a hashed
     * vocabulary, exact_words. */
    for (int c = 0; c < 3; c++) {
        fs.calls = 0;
        src.version = c == 0 ? 2 : CVS_CONTEXT_SOURCE_VERSION;
        fs.hashed = c == 1;
        o.exact_words = c == 2;
        cr_assert_eq(cvs_context_source_run(&src, &o, q, 0, v, &b), 0, "%s", cvs_errmsg(db));
        cr_assert_eq(b.n, 1);
        cr_assert_str_eq(b.items[0].id, "repeat", "case %d: %s", c, b.items[0].id);
        cr_assert_eq(fs.calls, c == 1, "case %d: %zu calls of bm25_forms", c, fs.calls);
        cvs_context_result_free(&b);
    }
    /* The store with exact_words: the same set. */
    cr_assert_eq(cvs_txn_context(fs.os.t, &o, q, 0, v, &a), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(a.items[0].id, "repeat");
    cvs_context_result_free(&a);
    cvs_txn_end(fs.os.t);
}

/* BM25 with statistics from outside: the store's own give its scores;
 * others (a collection twice as large, the term twice as frequent) give
 * other scores, as one store holding both halves would. */
Test(context, bm25_with_outside_statistics, .init = setup, .fini = teardown)
{
    static const char terms_buf[] = "brindlemoor\0opera";
    cvs_terms tm = {terms_buf, sizeof terms_buf, 2};
    uint64_t nd, tot, df[2], df2[2];
    int64_t k1[4], k2[4], k3[4];
    float s1[4], s2[4], s3[4];
    cvs_txn *t;
    make_two_hop();
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_text_stats(t, &tm, &nd, &tot, df), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(nd, 10);
    cr_assert_eq(df[0], 4, "brindlemoor is in 4 records, not %llu", (unsigned long long)df[0]);
    cr_assert_eq(df[1], 3);
    cvs_text_stats own = {nd, tot, df};
    cr_assert_eq(cvs_txn_text_search(t, "Brindlemoor opera", 17, 4, k1, s1), 0);
    cr_assert_eq(cvs_txn_text_search_terms(t, &tm, &own, 4, k2, s2), 0, "%s", cvs_errmsg(db));
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(k1[i], k2[i], "result %d: key %lld, %lld (%g, %g)", i, (long long)k1[i],
                     (long long)k2[i], s1[i], s2[i]);
        cr_assert_eq(s1[i], s2[i], "result %d: %g with the store's own statistics, %g", i, s1[i],
                     s2[i]);
    }
    df2[0] = 2 * df[0];
    df2[1] = 2 * df[1];
    cvs_text_stats twice = {2 * nd, 2 * tot, df2};
    cr_assert_eq(cvs_txn_text_search_terms(t, &tm, &twice, 4, k3, s3), 0);
    cr_assert_neq(s3[0], s1[0], "a larger collection did not change the scores");
    /* terms that do not hold their count: refused, not read past */
    cvs_terms bad = {terms_buf, 5, 2};
    cr_assert_eq(cvs_txn_text_stats(t, &bad, &nd, &tot, df), CVS_EINPUT);
    cvs_txn_end(t);
}

/* Title runs of several stores resolve as one store holding them all
 * would seed: the longest title at a place wins even when another store
 * holds it, and a title's records count over all stores. */
Test(context, title_runs_resolve_over_stores)
{
    int64_t ka[] = {10}, kb[] = {20}, kc[] = {30, 31, 32, 33, 34}, kd[] = {40, 41, 42, 43, 44};
    cvs_title_run runs[] = {
        {2, 2, 1, ka, 1},      /* store A: "new york" at term 2 */
        {2, 3, 1, kb, 1},      /* store B: "new york city" at term 2 */
        {3, 1, 1, ka, 1},      /* store A: "york", inside the longer match: skipped */
        {6, 1, 5, kc, 5},      /* "springfield": 5 records in store A ... */
        {6, 1, 5, kd, 5},      /* ... and 5 in store B: too many to name one */
        {7, 1, 1, ka, 1},      /* then a repeat of record 10 at term 7 */
    };
    int64_t keys[8];
    size_t n;
    cr_assert_eq(cvs_title_runs_resolve(runs, 6, 8, keys, &n), 0);
    cr_assert_eq(n, 2, "%zu seeds", n);
    cr_assert_eq(keys[0], 20, "the longest title, from the other store");
    cr_assert_eq(keys[1], 10);
    runs[4].same = 3; /* 5 + 3 records: at most 8, a match */
    cr_assert_eq(cvs_title_runs_resolve(runs, 6, 8, keys, &n), 0);
    cr_assert_eq(n, 8, "capped at 8, %zu", n);
    cr_assert_eq(keys[1], 30);
}

/* A delete drops every title-map entry of its records, wherever they sit in
 * the map.  With "alpha one" -> a1 a2 a3, "beta two" -> b1 and "gamma
 * three" -> c1 .. c4 and b1 and c1 deleted in one batch, c1's entry stayed
 * (check: "titlemap: \"gamma three\" names key 5, which has no record"):
 * the walk deleted b1's, its title's only entry, and LMDB's MDB_NEXT then
 * went on from the third value of "gamma three".  Seen once under the
 * two-writer kill -9 torture; a vector store (no embedder) keeps its map
 * this way, plain and encrypted. */
static void titled_delete(int encrypted)
{
    static const char *ids[] = {"a1", "a2", "a3", "b1", "c1", "c2", "c3", "c4"};
    static const char *titles[] = {"Alpha One", "Alpha One", "Alpha One", "Beta Two",
                                   "Gamma Three", "Gamma Three", "Gamma Three", "Gamma Three"};
    cvs_create_opts o = {2, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_record r[8];
    float v[8][2];
    char *d = tu_tmpdir(), msgs[4000] = "";
    cvs_db *h;
    uint64_t p = 99;
    size_t deleted = 0;
    cr_assert_eq(encrypted ? cvs_db_create_encrypted(d, &o, "pw", 2, &h) : cvs_db_create(d, &o, &h),
                 0, "%s", cvs_errmsg(NULL));
    memset(r, 0, sizeof r);
    for (int i = 0; i < 8; i++) {
        v[i][0] = (float)i;
        v[i][1] = 1.0f;
        r[i] = (cvs_record){.id = ids[i], .id_len = 2, .vector = v[i], .title = titles[i],
                            .title_len = strlen(titles[i]), .text = "about it", .text_len = 8};
    }
    cr_assert_eq(cvs_put(h, r, 8, 0, NULL, NULL), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(cvs_link_mentions(h, NULL), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(cvs_delete(h, (const char *[]){"b1", "c1"}, (size_t[]){2, 2}, 2, &deleted), 0);
    cr_assert_eq(deleted, 2);
    cr_assert_eq(cvs_check(h, collect_msg, msgs, &p), 0, "%s", cvs_errmsg(h));
    cr_assert_eq(p, 0, "%s", msgs);
    cvs_db_close(h);
    tu_rmrf(d);
    free(d);
}

Test(link, delete_drops_every_title_map_entry) { titled_delete(0); }
Test(link, delete_drops_every_title_map_entry_encrypted) { titled_delete(1); }
