/* test_memory.c -- the memory layer (query/memory.c): exact duplicates are
 * stored once, near-duplicates update the memory they resemble, namespaces
 * never see each other, a superseded memory ranks below its replacement,
 * conversations are chained by prev/next links that recall can follow,
 * recency weighting reorders results and recall stores its time, forget
 * works by id and by filter inside a namespace, list pages newest first
 * without gaps or repeats, and the token budget holds; and `cvstore mcp`
 * answers a scripted session, bad lines included, over a plain pipe; and,
 * where the GloVe cache is, facts told one at a time are found again by
 * paraphrased questions.
 *
 * (A near-duplicate that changes the words is a revision, superseding.)
 *
 * The embedder is a bag-of-words hash (dimension 1024) attached as a
 * callback: deterministic, and texts with the same words embed alike, which
 * is what the near-duplicate rule needs to be tested exactly. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvstore.h"
#include "tests/testutil.h"

enum { D = 1024 };

static char *dir;
static cvs_db *db;

static int bow_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                     float *out)
{
    (void)ctx;
    return tu_bow_embed(texts, lens, n, out, D, 0);
}

/* The cosine of two texts' bag-of-words embeddings. */
static double bow_cos(const char *a, const char *b)
{
    static float v[2][D];
    const char *t[2] = {a, b};
    size_t l[2] = {strlen(a), strlen(b)};
    double d = 0, na = 0, nb = 0;
    cr_assert_eq(bow_embed(NULL, t, l, 2, &v[0][0]), 0);
    for (int i = 0; i < D; i++) {
        d += (double)v[0][i] * v[1][i];
        na += (double)v[0][i] * v[0][i];
        nb += (double)v[1][i] * v[1][i];
    }
    return d / sqrt(na * nb);
}

static void setup(void)
{
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_COSINE};
    tu_store_create(&co, "mem.cvs", &dir, &db);
    cr_assert_eq(cvs_db_set_embedder(db, "bow", D, bow_embed, NULL), 0, "%s", cvs_errmsg(db));
}

static void teardown(void)
{
    tu_store_remove(&dir, &db);
}

TestSuite(memory, .init = setup, .fini = teardown);
TestSuite(mcp, .init = setup, .fini = teardown);

static void remember(const char *ns, const char *text, const char *meta, cvs_mem_remembered *r)
{
    cvs_mem_remember_opts o = {.ns = ns, .meta = meta};
    cr_assert_eq(cvs_mem_remember(db, text, 0, &o, r), 0, "%s: %s", text, cvs_errmsg(db));
}

static uint64_t count(void)
{
    cvs_info info;
    cr_assert_eq(cvs_db_info(db, &info), 0);
    return info.count;
}

/* How many memories a recall returns (it must succeed). */
static size_t recall_count(const char *query, const cvs_mem_recall_opts *ro)
{
    cvs_mem_items r = {0};
    size_t n;
    cr_assert_eq(cvs_mem_recall(db, query, 0, ro, &r), 0, "%s", cvs_errmsg(db));
    n = r.n;
    cvs_mem_items_free(&r);
    return n;
}

/* Position of id in a result, or -1. */
static long find(const cvs_mem_items *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->items[i].id, id))
            return (long)i;
    return -1;
}

/* Recall's lexical query carries each word's other inflection of number
 * (memory.c, rule 7): BM25's postings are not stemmed, and a question says
 * "tax" where the memory said "taxes", or "cats" where it said "cat". */
Test(memory, recall_matches_the_other_inflection)
{
    cvs_mem_remembered tax, cat, other;
    cvs_mem_recall_opts o = {.strategy = CVS_MEM_LEXICAL, .no_touch = 1};
    cvs_mem_items r = {0};
    remember(NULL, "Rahul files the taxes every April.", NULL, &tax);
    remember(NULL, "Mei has one cat called Miso.", NULL, &cat);
    remember(NULL, "The quarterly report is due in April.", NULL, &other);
    cr_assert_eq(cvs_mem_recall(db, "Who prepares the tax return?", 0, &o, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_geq(r.n, 1, "no memory for the singular");
    cr_assert_str_eq(r.items[0].id, tax.id);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_recall(db, "Which cats live with Mei?", 0, &o, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(find(&r, cat.id), 0);
    cvs_mem_items_free(&r);
    /* a two-letter word and a number are not inflected: "ci" is no "cis" */
    cr_assert_eq(recall_count("cis 30s", &o), 0);
}

/* A memory that names what the question names (a capitalised word past
 * the sentence's first, a number) comes before memories that share more
 * of its other words (memory.c, rule 8). */
Test(memory, recall_puts_the_named_memory_first)
{
    cvs_mem_remembered priya, sister;
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_items r = {0};
    remember(NULL, "Priya likes green tea.", NULL, &priya);
    remember(NULL, "My sister drinks coffee every morning in the garden.", NULL, &sister);
    cr_assert_eq(cvs_mem_recall(db, "What does Priya drink every morning in the garden?", 0,
                                &o, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, priya.id);
    cvs_mem_items_free(&r);
    /* a capital that only opens the sentence names nothing */
    cr_assert_eq(cvs_mem_recall(db, "Drinks every morning in the garden? Coffee?", 0, &o, &r),
                 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(r.items[0].id, sister.id);
    cvs_mem_items_free(&r);
}

/* A memory that holds more of the question's words, weighed by their idf,
 * comes first when the two rankings disagree (memory.c, rule 10): here
 * BM25 puts the designer's memory first (three of the question's words)
 * and the vector ranking the other (the bag-of-words embedding counts the
 * shared "who" and "the"), so the reciprocal ranks tie and, without the
 * rule, the newer memory would win the tie. */
Test(memory, recall_prefers_the_memory_with_more_of_the_question)
{
    cvs_mem_remembered designer, user;
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_items r = {0};
    remember(NULL, "elena designs mobile app icons", NULL, &designer);
    remember(NULL, "who uses the mobile app at the office", NULL, &user);
    /* the premise: each ranking alone puts a different one first */
    o.strategy = CVS_MEM_LEXICAL;
    cr_assert_eq(cvs_mem_recall(db, "who designs the mobile app", 0, &o, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(find(&r, designer.id), 0);
    cvs_mem_items_free(&r);
    o.strategy = CVS_MEM_VECTOR;
    cr_assert_eq(cvs_mem_recall(db, "who designs the mobile app", 0, &o, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(find(&r, user.id), 0);
    cvs_mem_items_free(&r);
    o.strategy = CVS_MEM_HYBRID;
    cr_assert_eq(cvs_mem_recall(db, "who designs the mobile app", 0, &o, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, designer.id);
    cr_assert_gt(r.items[0].score, r.items[1].score, "a tie, broken by age");
    cvs_mem_items_free(&r);
}

/* ==== Rule 9: a near word stands in for one no memory has ==== */

/* A GloVe cache of dimension 8 written to gdir: 1,000 filler words (the
 * "frequent" ones, ranks 1-1000, orthogonal to the test words but for
 * "stuff" and "sketches") with "often" among them at rank 11, then the
 * test words, whose cosines are set by hand: writer/author 0.9;
 * designs/designer 0.6 (the same stem) and designs/painter 0.65;
 * often/occasionally 0.99.  "stuff" lies along the fillers' mean, which
 * is nearly the vocabulary's common component, and "sketches" is stuff
 * plus 1.5 times writer: its cosine is 0.71 to stuff and 0.63 to author
 * as they stand, and about 0.9 to author and near 0 to stuff once the
 * component is removed. */
static void write_small_glove(const char *gdir)
{
    static const struct { const char *w; float v[8]; } test_words[] = {
        {"stuff", {0, 0, 0, 0, 1, 0.43f, 0.4f, 1}},
        {"sketches", {1.5f, 0, 0, 0, 1, 0.43f, 0.4f, 1}},
        {"writer", {1, 0, 0, 0}},          {"author", {0.9f, 0.43589f, 0, 0}},
        {"novels", {0, 0, 1, 0}},          {"gardener", {0, 0, 0, 1}},
        {"roses", {0, 0.3f, 0.3f, 0.9f}}, {"designs", {0, 1, 0, 0}},
        {"designer", {0, 0.6f, 0.8f, 0}},  {"painter", {0, 0.65f, 0, 0.75993f}},
        {"posters", {0.5f, 0, 0.5f, 0.5f}}, {"occasionally", {0.2f, 0.2f, 0.2f, 0.9f}},
        {"swims", {0.7f, 0, 0, 0.7f}},     {"songs", {0, 0, 0.7f, 0.7f}}};
    enum { NT = sizeof test_words / sizeof *test_words, NW = 1000 + NT, ROW = 4 + 8 * 4 };
    char *words = malloc(NW * 16);
    unsigned char *fv = malloc((size_t)NW * ROW);
    size_t wl = 0;
    cr_assert(words && fv);
    for (int i = 0; i < NW; i++) {
        int32_t d = 8;
        float v[8] = {0};
        if (i == 10) {
            wl += (size_t)sprintf(words + wl, "often\n");
            v[0] = v[1] = 0.2f, v[2] = 0.25f, v[3] = 0.9f;
        } else if (i < 1000) {
            wl += (size_t)sprintf(words + wl, "filler%d\n", i);
            v[4] = 1, v[5] = (float)(i % 7) / 7, v[6] = (float)(i % 5) / 5, v[7] = (float)(i % 3);
        } else {
            wl += (size_t)sprintf(words + wl, "%s\n", test_words[i - 1000].w);
            memcpy(v, test_words[i - 1000].v, sizeof test_words[i - 1000].v);
        }
        memcpy(fv + (size_t)i * ROW, &d, 4);
        memcpy(fv + (size_t)i * ROW + 4, v, sizeof v);
    }
    free(tu_write_file(gdir, "glove100.words", words, wl));
    free(tu_write_file(gdir, "glove100.fvecs", fv, (size_t)NW * ROW));
    free(words);
    free(fv);
}

/* Whether recall of q puts the memory id among its results as found by
 * BM25 (path_types[0] "bm25" or "bm25+vector"). */
static int found_by_bm25(cvs_db *g, const char *q, const char *id)
{
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_items r = {0};
    long at;
    int yes;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    at = find(&r, id);
    yes = at >= 0 && strstr(r.items[at].path_types[0], "bm25") != NULL;
    cvs_mem_items_free(&r);
    return yes;
}

/* A store of dimension 8 with the glove embedder over the GloVe files in
 * gdir, in the file-scope dir; glove_store_close removes both. */
static cvs_db *glove_store(const char *gdir)
{
    cvs_create_opts co = {.dim = 8, .metric = CVS_METRIC_COSINE};
    char path[4200];
    cvs_db *g;
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/g.cvs", dir);
    cr_assert_eq(cvs_db_create(path, &co, &g), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_set_embedder(g, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(g));
    return g;
}

static void glove_store_close(cvs_db *g, char *gdir)
{
    cvs_db_close(g);
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(dir);
    free(dir);
    dir = NULL;
    tu_rmrf(gdir);
    free(gdir);
}

/* A memory of no word the embedder knows is kept with a stand-in vector,
 * to be found by its words: its vector says nothing about its text, so it
 * is never a vector hit (it came back from every recall, an unrelated
 * question's "vector" match); its own words still find it. */
Test(memory_words, a_stand_in_vector_is_no_vector_hit)
{
    char *gdir = tu_tmpdir();
    cvs_mem_remembered junk, author;
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_items r = {0};
    cvs_db *g;
    write_small_glove(gdir);
    g = glove_store(gdir);
    cr_assert_eq(cvs_mem_remember(g, "zorblatix quuxorrf", 0, NULL, &junk), 0, "%s",
                 cvs_errmsg(g));
    cr_assert_eq(cvs_mem_remember(g, "author of novels", 0, NULL, &author), 0);
    for (int s = 0; s < 2; s++) {
        o.strategy = s ? CVS_MEM_VECTOR : CVS_MEM_HYBRID;
        cr_assert_eq(cvs_mem_recall(g, "gardener roses", 0, &o, &r), 0, "%s", cvs_errmsg(g));
        cr_assert_lt(find(&r, junk.id), 0, "the stand-in came back (%s)", s ? "vector" : "hybrid");
        cvs_mem_items_free(&r);
    }
    o.strategy = CVS_MEM_HYBRID;
    cr_assert_eq(cvs_mem_recall(g, "zorblatix", 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert_geq(find(&r, junk.id), 0, "its own word finds it");
    cvs_mem_items_free(&r);
    glove_store_close(g, gdir);
}

/* Rule 11's tests: of the two memories, BM25 alone puts `other` first and
 * the vector ranking alone `first` (the premise: the reciprocal ranks tie,
 * and age would put the newer `other` first); hybrid recall must put
 * `first` ahead by its score. */
static void hybrid_puts_first(cvs_db *g, const char *q, const cvs_mem_remembered *first,
                              const cvs_mem_remembered *other)
{
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_items r = {0};
    o.strategy = CVS_MEM_LEXICAL;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert(r.n == 2 && !strcmp(r.items[0].id, other->id), "premise: BM25's first (%s)", q);
    cvs_mem_items_free(&r);
    o.strategy = CVS_MEM_VECTOR;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert(r.n == 2 && !strcmp(r.items[0].id, first->id), "premise: SIF's first (%s)", q);
    cvs_mem_items_free(&r);
    o.strategy = CVS_MEM_HYBRID;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, first->id);
    cr_assert_gt(r.items[0].score, r.items[1].score, "a tie, broken by age");
    cvs_mem_items_free(&r);
}

/* Recall's lexical query carries, for a question word that no memory has
 * in either number and that is no name, the nearest word in GloVe that a
 * memory has: a synonym (cosine >= 0.75), or a word of the same stem at a
 * lower bar (0.5); never for a word among GloVe's 1,000 most frequent,
 * and never when the word itself is in a memory (memory.c, rule 9). */
Test(memory_words, recall_stands_in_a_near_word_for_one_no_memory_has)
{
    char *gdir = tu_tmpdir();
    cvs_mem_remembered author, gardener, designer, painter, swimmer, songwriter;
    cvs_db *g;
    write_small_glove(gdir);
    g = glove_store(gdir);
    cr_assert_eq(cvs_mem_remember(g, "author of novels", 0, NULL, &author), 0);
    cr_assert_eq(cvs_mem_remember(g, "gardener grows roses", 0, NULL, &gardener), 0);
    cr_assert_eq(cvs_mem_remember(g, "designer of posters", 0, NULL, &designer), 0);
    cr_assert_eq(cvs_mem_remember(g, "painter of posters", 0, NULL, &painter), 0);
    cr_assert_eq(cvs_mem_remember(g, "occasionally swims", 0, NULL, &swimmer), 0);
    /* a synonym stands in */
    cr_assert(found_by_bm25(g, "writer", author.id), "author is writer's stand-in");
    cr_assert_not(found_by_bm25(g, "writer", gardener.id));
    /* under the synonyms' bar, the word of the same stem stands in, a
     * nearer one of another stem does not */
    cr_assert(found_by_bm25(g, "designs", designer.id), "designer is designs' stand-in");
    cr_assert_not(found_by_bm25(g, "designs", painter.id));
    /* a frequent word gets none, however near */
    cr_assert_not(found_by_bm25(g, "often", swimmer.id));
    /* a word some memory has is its own evidence: no stand-in */
    cr_assert_eq(cvs_mem_remember(g, "writer of songs", 0, NULL, &songwriter), 0);
    cr_assert(found_by_bm25(g, "writer", songwriter.id));
    cr_assert_not(found_by_bm25(g, "writer", author.id), "a stand-in for a word a memory has");
    glove_store_close(g, gdir);
}

/* A question word that no memory has, and that has no stand-in (rule 9's
 * bars), still counts for the memory with the word nearest to it
 * (memory.c, rule 11): "designs" is nearer "painter" (cosine 0.65) than
 * any word of the other memory.  The premise: each ranking alone puts a
 * different memory first, so the reciprocal ranks tie and rule 10 (both
 * hold "posters", the only question word a memory has) leaves the tie to
 * age, which would put the newer gardener first. */
Test(memory_words, recall_counts_the_nearest_word_to_one_no_memory_has)
{
    char *gdir = tu_tmpdir();
    cvs_mem_remembered painter, gardener;
    cvs_db *g;
    write_small_glove(gdir);
    g = glove_store(gdir);
    cr_assert_eq(cvs_mem_remember(g, "painter of posters and novels", 0, NULL, &painter), 0);
    cr_assert_eq(cvs_mem_remember(g, "gardener posters", 0, NULL, &gardener), 0);
    hybrid_puts_first(g, "who designs posters", &painter, &gardener);
    glove_store_close(g, gdir);
}

/* Rule 11 compares word vectors without the embedder's common component
 * (memory.c, rule 11 (a)): "sketches" is nearest "stuff" as the vectors
 * stand (0.71, against 0.63 to "author"), only because both lie along the
 * direction all frequent words share; without it, "author" is its near
 * word.  The premise is rule 11's test's: each ranking alone puts a
 * different memory first, and the newer one would win the tie. */
Test(memory_words, recall_compares_words_without_the_common_component)
{
    char *gdir = tu_tmpdir();
    cvs_mem_remembered author, stuff;
    cvs_db *g;
    write_small_glove(gdir);
    g = glove_store(gdir);
    cr_assert_eq(cvs_mem_remember(g, "author of posters and novels", 0, NULL, &author), 0);
    cr_assert_eq(cvs_mem_remember(g, "stuff posters", 0, NULL, &stuff), 0);
    hybrid_puts_first(g, "who sketches posters", &author, &stuff);
    glove_store_close(g, gdir);
}

/* Rule 11 weighs a question word by the embedder's weight of it too
 * (memory.c, rule 11 (c)): "often" (rank 11) and "designs" are both words
 * no memory has, so the store's idf weighs them alike, but "often" says
 * little; its near word "occasionally" (0.99) must count for less than
 * "painter", near "designs" (0.65).  Premise as in the tests above. */
Test(memory_words, recall_weighs_a_frequent_word_less)
{
    char *gdir = tu_tmpdir();
    cvs_mem_remembered painter, occasional;
    cvs_db *g;
    write_small_glove(gdir);
    g = glove_store(gdir);
    cr_assert_eq(cvs_mem_remember(g, "painter of posters and novels", 0, NULL, &painter), 0);
    cr_assert_eq(cvs_mem_remember(g, "posters occasionally", 0, NULL, &occasional), 0);
    hybrid_puts_first(g, "who often designs posters", &painter, &occasional);
    glove_store_close(g, gdir);
}

/* Rule 11 counts a near word by what it is above the median match of the
 * same question word among the candidates (memory.c, rule 11 (b)).  The
 * question "who plays violin" has two words no memory has: "plays" is
 * near a word of most memories ("games" 0.95, "football" 0.9), "violin"
 * of one ("cello" 0.6).  Unscaled, "games" holds more of the question;
 * above the median, "cello" does, by enough to overturn the vector
 * ranking's order (games, football, cello; BM25 finds none).  A GloVe of
 * dimension 8: 1,000 fillers along the last four axes ("plays" at rank
 * 500, so no stand-in for it, rule 9), the other words after them. */
Test(memory_words, recall_counts_a_near_word_above_the_candidates_median)
{
    enum { NF = 1000, NT = 4, NW = NF + NT, DIM = 8 };
    static const char *const tw[NT] = {"violin", "games", "football", "cello"};
    static const float tv[NT][4] = {
        {0, 1, 0, 0}, {0.95f, 0, 0.31225f, 0}, {0.9f, 0, 0, 0.43589f}, {0.1f, 0.6f, 0.79373f, 0}};
    const char **words = calloc(NW, sizeof *words);
    float *vecs = calloc((size_t)NW * DIM, sizeof *vecs);
    char (*names)[16] = calloc(NF, sizeof *names), *gdir = tu_tmpdir();
    cvs_mem_recall_opts o = {.no_touch = 1};
    cvs_mem_remembered games, football, cello;
    cvs_mem_items r = {0};
    const char *q = "who plays violin";
    cvs_db *g;
    cr_assert(words && vecs && names);
    for (int i = 0; i < NF; i++) {
        float *v = vecs + (size_t)i * DIM;
        if (i == 499) {
            words[i] = "plays";
            v[0] = 1;
            continue;
        }
        snprintf(names[i], sizeof names[i], "filler%d", i);
        words[i] = names[i];
        v[4] = 1, v[5] = (float)(i % 7) / 7, v[6] = (float)(i % 5) / 5, v[7] = (float)(i % 3);
    }
    for (int i = 0; i < NT; i++) {
        words[NF + i] = tw[i];
        memcpy(vecs + (size_t)(NF + i) * DIM, tv[i], sizeof tv[i]);
    }
    tu_glove_write(gdir, words, vecs, NW, DIM);
    g = glove_store(gdir); /* of dimension 8, DIM */
    cr_assert_eq(cvs_mem_remember(g, "the cello", 0, NULL, &cello), 0);
    cr_assert_eq(cvs_mem_remember(g, "the football", 0, NULL, &football), 0);
    cr_assert_eq(cvs_mem_remember(g, "the games", 0, NULL, &games), 0);
    cr_assert_eq(cello.outcome, CVS_MEM_ADDED);
    cr_assert_eq(football.outcome, CVS_MEM_ADDED);
    cr_assert_eq(games.outcome, CVS_MEM_ADDED);
    o.strategy = CVS_MEM_VECTOR;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert(r.n == 3 && !strcmp(r.items[0].id, games.id) && !strcmp(r.items[2].id, cello.id),
              "premise: SIF's order is games, football, cello");
    cvs_mem_items_free(&r);
    o.strategy = CVS_MEM_HYBRID;
    cr_assert_eq(cvs_mem_recall(g, q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.items[0].id, cello.id);
    cvs_mem_items_free(&r);
    glove_store_close(g, gdir);
    free(words);
    free(vecs);
    free(names);
}

Test(memory, exact_duplicate_stored_once)
{
    cvs_mem_remembered a, b;
    remember(NULL, "Alice lives in Paris.", NULL, &a);
    cr_assert_eq(a.outcome, CVS_MEM_ADDED);
    cr_assert_eq(strlen(a.id), 17);
    cr_assert_eq(a.id[0], 'm');
    remember(NULL, "Alice lives in Paris.", "{\"x\": 1}", &b);
    cr_assert_eq(b.outcome, CVS_MEM_DUPLICATE);
    cr_assert_str_eq(b.id, a.id);
    cr_assert_eq(count(), 1);
    /* The same text in another namespace is another memory. */
    remember("other", "Alice lives in Paris.", NULL, &b);
    cr_assert_eq(b.outcome, CVS_MEM_ADDED);
    cr_assert_str_neq(b.id, a.id);
    cr_assert_eq(count(), 2);
}

/* Two writers remembering the same texts at once (two agents' `cvstore
 * mcp` on one store, or threads of one program): each text is stored once,
 * the other remember finds it a duplicate.  Checking in a snapshot and
 * writing later let both add it (memory.c deviation 6). */
enum { RACE_THREADS = 4, RACE_TEXTS = 40 };

static void *remember_all(void *arg)
{
    int *added = arg;
    for (int i = 0; i < RACE_TEXTS; i++) {
        char text[128];
        cvs_mem_remembered r;
        snprintf(text, sizeof text, "memory %d holds token%d and item%d", i, i, i);
        if (cvs_mem_remember(db, text, 0, NULL, &r)) {
            *added = -1;
            break;
        }
        *added += r.outcome == CVS_MEM_ADDED;
    }
    return NULL;
}

Test(memory, the_same_text_remembered_at_once_is_stored_once, .timeout = 120)
{
    pthread_t th[RACE_THREADS];
    int added[RACE_THREADS] = {0}, total = 0;
    for (int i = 0; i < RACE_THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, remember_all, &added[i]), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_geq(added[i], 0, "a remember failed");
        total += added[i];
    }
    cr_assert_eq(count(), RACE_TEXTS, "%llu memories for %d texts",
                 (unsigned long long)count(), RACE_TEXTS);
    cr_assert_eq(total, RACE_TEXTS);
}

Test(memory, near_duplicate_updates_in_place)
{
    cvs_mem_remembered a, b, c;
    cvs_mem_items l = {0};
    remember("n", "Alice lives in Paris", "{\"src\": \"chat\", \"k\": 1}", &a);
    /* Same words, other bytes: cosine 1, a merge. */
    remember("n", "alice LIVES in paris!", "{\"k\": 2}", &b);
    cr_assert_eq(b.outcome, CVS_MEM_MERGED);
    cr_assert_str_eq(b.id, a.id);
    cr_assert_float_eq(b.similarity, 1.0f, 1e-5);
    cr_assert_eq(count(), 1);
    cr_assert_eq(cvs_mem_list(db, "n", NULL, 0, &l), 0);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.items[0].text, "alice LIVES in paris!");
    cr_assert_str_eq(l.items[0].meta, "{\"src\":\"chat\",\"k\":2}");
    cvs_mem_items_free(&l);
    /* The new wording is now the one exact duplicates are checked against. */
    remember("n", "alice LIVES in paris!", NULL, &c);
    cr_assert_eq(c.outcome, CVS_MEM_DUPLICATE);
    /* Different enough (3 of 5 words shared): a new memory. */
    remember("n", "Alice works in Berlin", NULL, &c);
    cr_assert_eq(c.outcome, CVS_MEM_ADDED);
    /* Threshold above 1: merging off. */
    {
        cvs_mem_remember_opts o = {.ns = "n", .near_dup = 2.0f};
        cr_assert_eq(cvs_mem_remember(db, "ALICE lives in Paris", 0, &o, &c), 0);
        cr_assert_eq(c.outcome, CVS_MEM_ADDED);
    }
    cr_assert_eq(count(), 3);
}

Test(memory, near_in_embedding_but_not_in_words_is_a_revision)
{
    cvs_mem_remembered a, b;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "v", .no_touch = 1};
    const char *mon = "standup standup standup standup standup standup standup standup "
                      "standup standup monday";
    const char *fri = "standup standup standup standup standup standup standup standup "
                      "standup standup friday";
    remember("v", mon, NULL, &a);
    /* Cosine 100/101, but the word sets {standup, monday} and {standup,
     * friday} overlap by 1/3: a changed fact, kept as a new memory. */
    remember("v", fri, NULL, &b);
    cr_assert_eq(b.outcome, CVS_MEM_ADDED);
    cr_assert_str_neq(b.id, a.id);
    cr_assert_str_eq(b.superseded, a.id);
    cr_assert_gt(b.similarity, 0.95f);
    cr_assert_eq(count(), 2);
    cr_assert_eq(cvs_mem_recall(db, "standup monday", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, b.id);
    cr_assert_str_eq(r.items[1].superseded_by, b.id);
    cvs_mem_items_free(&r);
}

/* A merge replaces the old text, so only a rewording that keeps every
 * name, number and word of it may merge: one changed name or place, even at
 * cosine >= 0.95 and word overlap >= 0.8, is a new memory, and nothing told
 * is lost. */
Test(memory, a_changed_name_or_place_is_never_merged)
{
    static const char *pairs[2][2] = {
        {"Bob's flight to Tokyo departs from Berlin Brandenburg airport on April 2nd at 10:40 "
         "from gate B12.",
         "Carol's flight to Tokyo departs from Berlin Brandenburg airport on April 2nd at 10:40 "
         "from gate B12."},
        {"The payments database runs on the primary cluster in production with nightly backups "
         "at 02:00 and 30 days retention",
         "The payments database runs on the primary cluster in staging with nightly backups "
         "at 02:00 and 30 days retention"},
    };
    for (int i = 0; i < 2; i++) {
        const char *ns = i ? "p" : "f";
        cvs_mem_remembered a, b;
        cvs_mem_items l = {0};
        remember(ns, pairs[i][0], NULL, &a);
        remember(ns, pairs[i][1], NULL, &b);
        cr_assert_eq(b.outcome, CVS_MEM_ADDED, "%s: outcome %d", pairs[i][1], (int)b.outcome);
        cr_assert_str_neq(b.id, a.id);
        cr_assert_gt(bow_cos(pairs[i][0], pairs[i][1]), 0.95);
        /* Carol's flight is another fact than Bob's (another theme); the
         * database's other setting is a revision of it (the same one). */
        if (i == 0)
            cr_assert_str_eq(b.superseded, "");
        else
            cr_assert_str_eq(b.superseded, a.id);
        cr_assert_eq(cvs_mem_list(db, ns, NULL, 0, &l), 0);
        cr_assert_eq(l.n, 2);
        cr_assert(find(&l, a.id) >= 0 && find(&l, b.id) >= 0);
        cr_assert_str_eq(l.items[find(&l, a.id)].text, pairs[i][0]);
        cvs_mem_items_free(&l);
    }
    /* Saying more, every old word kept, is still the same memory. */
    {
        cvs_mem_remembered a, b;
        remember("g", pairs[0][0], NULL, &a);
        remember("g", "Bob's flight to Tokyo departs from Berlin Brandenburg airport on April 2nd "
                      "at 10:40 from gate B12, seat 14C.", NULL, &b);
        cr_assert_eq(b.outcome, CVS_MEM_MERGED);
        cr_assert_str_eq(b.id, a.id);
    }
    cr_assert_eq(count(), 5);
}

/* "Every number of the old text still there" counts each occurrence: a
 * number said twice and changed once ("meeting 2 ... on March 2" /
 * "meeting 3 ... on March 2") is a changed fact, not a rewording.  It was
 * merged (the new text holds a 2 as well), and the old text, the only
 * record of meeting 2, was overwritten. */
Test(memory, a_number_said_twice_and_changed_once_is_not_merged)
{
    static const char *old = "Meeting 2 of the budget review is on March 2 in the large hall on "
                             "the third floor of the north building with the finance team";
    static const char *new = "Meeting 3 of the budget review is on March 2 in the large hall on "
                             "the third floor of the north building with the finance team";
    cvs_mem_remembered a, b;
    cvs_mem_items l = {0};
    cr_assert_gt(bow_cos(old, new), 0.95);
    remember("m", old, NULL, &a);
    remember("m", new, NULL, &b);
    cr_assert_eq(b.outcome, CVS_MEM_ADDED, "outcome %d", (int)b.outcome);
    cr_assert_str_eq(b.superseded, a.id);
    cr_assert_eq(cvs_mem_list(db, "m", NULL, 0, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert(find(&l, a.id) >= 0);
    cr_assert_str_eq(l.items[find(&l, a.id)].text, old);
    cvs_mem_items_free(&l);
    /* The same words as often, in other words' order: still a rewording. */
    remember("m", "meeting 3 of the budget review is on march 2, in the large hall on the "
                  "third floor of the north building, with the finance team!", NULL, &a);
    cr_assert_eq(a.outcome, CVS_MEM_MERGED, "outcome %d", (int)a.outcome);
    cr_assert_str_eq(a.id, b.id);
}

/* A revision keeps what the memory is about, its theme (the first content
 * word, with the words that own it): near vectors with another theme are
 * another fact, kept live beside the first, and recall finds each by its
 * own words.  The theme skips articles, pronouns and a correction's
 * opening words, so a revision that opens with "Actually" is still one. */
Test(memory, a_near_memory_about_something_else_supersedes_nothing, .timeout = 60)
{
    static const char *tail = " school bus leaves the north gate of the park every weekday "
                              "morning and returns at four in the afternoon with the same "
                              "driver on the same route past the library, the river bridge, "
                              "the swimming pool and the old market square";
    char d[512], s[512], d2[512];
    cvs_mem_remembered a, b, c;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "t", .no_touch = 1, .k = 2};
    snprintf(d, sizeof d, "My daughter's%s at 7:40", tail);
    snprintf(s, sizeof s, "My son's%s at 7:40", tail);
    snprintf(d2, sizeof d2, "Actually, my daughter's%s at 7:50", tail);
    remember("t", d, NULL, &a);
    remember("t", s, NULL, &b);
    cr_assert_eq(b.outcome, CVS_MEM_ADDED);
    cr_assert_gt(bow_cos(d, s), 0.95, "the pair must be near for the test to mean anything");
    cr_assert_str_eq(b.superseded, "");
    cr_assert_eq(cvs_mem_recall(db, "daughter school bus", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(r.n, 1);
    cr_assert_str_eq(r.items[0].id, a.id);
    cr_assert_null(r.items[0].superseded_by);
    cvs_mem_items_free(&r);
    /* The daughter's bus again, a new time: her memory's revision. */
    remember("t", d2, NULL, &c);
    cr_assert_eq(c.outcome, CVS_MEM_ADDED);
    cr_assert_gt(c.similarity, 0.95f);
    cr_assert_str_eq(c.superseded, a.id);
    /* Stray apostrophes (ASCII and U+2019) where a word would start, and
     * one ending the text, are skipped, not taken for a word (or looped
     * on); the first content word after them is the theme. */
    {
        char x[512], y[512];
        cvs_mem_remembered e, f;
        snprintf(x, sizeof x, "\xe2\x80\x99 ' \xe2\x80\x99s daughter%s at 7:40 '", tail);
        snprintf(y, sizeof y, "\xe2\x80\x99 ' \xe2\x80\x99s son%s at 7:40 \xe2\x80\x99", tail);
        remember("u", x, NULL, &e);
        remember("u", y, NULL, &f);
        cr_assert_gt(bow_cos(x, y), 0.95);
        cr_assert_str_eq(f.superseded, "");
    }
}

/* A memory that supersedes the conversation's last one (by subject, by an
 * explicit supersedes, or as a revision) links to it twice -- supersedes and
 * prev -- and both changes to it land in one write. */
Test(memory, superseding_the_conversations_last_memory)
{
    cvs_mem_remember_opts o = {.ns = "c", .conversation = "c1", .meta = "{\"subject\": \"colour\"}"};
    cvs_mem_remembered a, b, c, d;
    cvs_txn *t;
    cvs_record rec;
    cr_assert_eq(cvs_mem_remember(db, "my favourite colour is blue", 0, &o, &a), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_mem_remember(db, "my favourite colour is green", 0, &o, &b), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_str_eq(b.superseded, a.id);
    o.meta = NULL;
    o.supersedes = b.id;
    cr_assert_eq(cvs_mem_remember(db, "actually it is red", 0, &o, &c), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(c.superseded, b.id);
    o.supersedes = NULL;
    cr_assert_eq(cvs_mem_remember(db, "standup standup standup standup standup standup standup "
                                      "standup standup standup standup standup standup standup "
                                      "standup standup standup standup standup standup red",
                                  0, &o, &d), 0, "%s", cvs_errmsg(db));
    {
        cvs_mem_remembered e;
        cr_assert_eq(cvs_mem_remember(db, "standup standup standup standup standup standup "
                                          "standup standup standup standup standup standup "
                                          "standup standup standup standup standup standup "
                                          "standup standup blue", 0, &o, &e), 0, "%s",
                     cvs_errmsg(db));
        cr_assert_eq(e.outcome, CVS_MEM_ADDED);
        cr_assert_str_eq(e.superseded, d.id); /* a revision */
    }
    cr_assert_eq(count(), 5);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, a.id, strlen(a.id), &rec, NULL), 0);
    cr_assert(strstr(rec.meta, "_superseded_by"), "%s", rec.meta);
    cr_assert_eq(rec.nlinks, 1);
    cr_assert_str_eq(rec.links[0].type, "next");
    cr_assert_eq(cvs_get(t, b.id, strlen(b.id), &rec, NULL), 0);
    cr_assert(strstr(rec.meta, "_superseded_by"), "%s", rec.meta);
    cr_assert_eq(rec.nlinks, 3); /* supersedes a, prev a, next c */
    cvs_txn_end(t);
}

Test(memory, namespaces_isolated)
{
    cvs_mem_remembered a, b;
    cvs_mem_items r = {0};
    size_t n;
    cvs_mem_recall_opts ro = {.ns = "alice"};
    remember("alice", "my favourite colour is green", NULL, &a);
    remember("bob", "my favourite colour is blue", NULL, &b);
    cr_assert_eq(cvs_mem_recall(db, "favourite colour", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].id, a.id);
    cr_assert_str_eq(r.items[0].ns, "alice");
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_list(db, "bob", NULL, 0, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].id, b.id);
    cvs_mem_items_free(&r);
    /* Forgetting bob's memory from alice's namespace does nothing. */
    cr_assert_eq(cvs_mem_forget(db, "alice", b.id, 0, NULL, 0, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(count(), 2);
    /* A link or supersedes across namespaces is refused. */
    {
        cvs_link l = {.id = b.id, .id_len = strlen(b.id)};
        cvs_mem_remember_opts o = {.ns = "alice", .links = &l, .nlinks = 1};
        cvs_mem_remembered c;
        cr_assert_eq(cvs_mem_remember(db, "something else entirely", 0, &o, &c), CVS_EINPUT);
        o.nlinks = 0;
        o.supersedes = b.id;
        cr_assert_eq(cvs_mem_remember(db, "something else entirely", 0, &o, &c), CVS_EINPUT);
    }
    /* The default namespace is a namespace like the others. */
    cr_assert_eq(cvs_mem_recall(db, "favourite colour", 0, NULL, &r), 0);
    cr_assert_eq(r.n, 0);
    cvs_mem_items_free(&r);
    /* Reserved members cannot be forged. */
    {
        cvs_mem_remembered c;
        cvs_mem_remember_opts o = {.ns = "alice", .meta = "{\"_ns\": \"bob\"}"};
        cr_assert_eq(cvs_mem_remember(db, "forged", 0, &o, &c), CVS_EINPUT);
        cr_assert_eq(cvs_mem_forget(db, "alice", NULL, 0, "{\"_ns\": \"bob\"}", 0, &n), CVS_EINVAL);
    }
    cr_assert_eq(count(), 2);
}

Test(memory, supersedes_prefers_newer)
{
    cvs_mem_remembered old, neu, x, y;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "s", .no_touch = 1};
    /* By subject: the old one is the better lexical match, yet ranks second. */
    remember("s", "the team meeting is on monday morning", "{\"subject\": \"meeting\"}", &old);
    remember("s", "team meeting moved to friday", "{\"subject\": \"meeting\"}", &neu);
    cr_assert_eq(neu.outcome, CVS_MEM_ADDED);
    cr_assert_str_eq(neu.superseded, old.id);
    cr_assert_eq(cvs_mem_recall(db, "when is the team meeting on monday", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, neu.id);
    cr_assert_str_eq(r.items[0].supersedes, old.id);
    cr_assert_str_eq(r.items[1].superseded_by, neu.id);
    cr_assert_lt(r.items[1].score, r.items[0].score);
    cvs_mem_items_free(&r);
    /* A third memory of the subject supersedes the newest live one. */
    remember("s", "meeting cancelled", "{\"subject\": \"meeting\"}", &x);
    cr_assert_str_eq(x.superseded, neu.id);
    /* Explicitly, without a subject; nothing is deleted. */
    remember("s", "the cat is called tom", NULL, &y);
    {
        cvs_mem_remember_opts o = {.ns = "s", .supersedes = y.id};
        cvs_mem_remembered z;
        cr_assert_eq(cvs_mem_remember(db, "our cat is named felix", 0, &o, &z), 0);
        cr_assert_str_eq(z.superseded, y.id);
        cr_assert_eq(cvs_mem_recall(db, "cat", 0, &ro, &r), 0);
        cr_assert_eq(r.n, 2);
        cr_assert_str_eq(r.items[0].id, z.id);
        cvs_mem_items_free(&r);
    }
    cr_assert_eq(count(), 5);
    /* Forgetting the newer one lifts the down-weighting. */
    cr_assert_eq(cvs_mem_forget(db, "s", x.id, 0, NULL, 0, NULL), 0);
    cr_assert_eq(cvs_mem_recall(db, "team meeting", 0, &ro, &r), 0);
    cr_assert_geq(find(&r, neu.id), 0);
    cr_assert_null(r.items[find(&r, neu.id)].superseded_by);
    cvs_mem_items_free(&r);
}

/* remember with an explicit supersedes (NULL: none) in namespace "r". */
static void remember_over(const char *text, const char *meta, const char *over,
                          cvs_mem_remembered *m)
{
    cvs_mem_remember_opts o = {.ns = "r", .meta = meta, .supersedes = over};
    cr_assert_eq(cvs_mem_remember(db, text, 0, &o, m), 0, "%s: %s", text, cvs_errmsg(db));
    if (over)
        cr_assert_str_eq(m->superseded, over);
}

/* Recall of q must give first, then second (its first two memories). */
static void recall_two(const char *q, const cvs_mem_recall_opts *ro, const char *first,
                       const char *second)
{
    cvs_mem_items r = {0};
    cr_assert_eq(cvs_mem_recall(db, q, 0, ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_geq(r.n, 2, "%s: %zu memories", q, r.n);
    cr_expect_str_eq(r.items[0].id, first, "%s: the first", q);
    cr_expect_str_eq(r.items[1].id, second, "%s: the second", q);
    cvs_mem_items_free(&r);
}

/* Rule 19 of query/memory.c: a superseded memory is the old value of a
 * fact, so its replacement is at least as relevant and comes first.  The
 * old one names what the question names ("Dr Patel", rule 8: a factor of
 * about 7 per name in the fusion) and the new one does not, so the old
 * one's score was some 50 times the new one's, and the supersession
 * factor (1/4) could not turn that round: the stale fact came first. */
Test(memory, a_replacement_comes_before_the_memory_it_replaced)
{
    cvs_mem_remembered old, neu, other;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "r", .no_touch = 1};
    remember_over("dentist appointment with Dr Patel on tuesday at 10am", NULL, NULL, &old);
    remember_over("the appointment moved to friday at 3pm", NULL, old.id, &neu);
    remember_over("the car needs new tyres before winter", NULL, NULL, &other);
    cr_assert_eq(cvs_mem_recall(db, "When is my appointment with Dr Patel?", 0, &ro, &r), 0,
                 "%s", cvs_errmsg(db));
    cr_assert_geq(r.n, 2);
    cr_expect_str_eq(r.items[0].id, neu.id, "the replacement is not first");
    cr_expect_str_eq(r.items[1].id, old.id);
    cr_expect_str_eq(r.items[1].superseded_by, neu.id);
    cr_expect_geq(r.items[0].score, r.items[1].score);
    cvs_mem_items_free(&r);
    /* k = 1: the new value alone */
    ro.k = 1;
    cr_assert_eq(cvs_mem_recall(db, "When is my appointment with Dr Patel?", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.items[0].id, neu.id);
    cvs_mem_items_free(&r);
    /* with the other strategies and selections too */
    ro.k = 0;
    for (int st = 0; st < 3; st++)
        for (int sel = 0; sel < 3; sel++) {
            ro.strategy = (cvs_mem_strategy)st;
            ro.selection = (cvs_context_strategy)sel;
            cr_assert_eq(cvs_mem_recall(db, "appointment with Dr Patel", 0, &ro, &r), 0);
            long a = find(&r, old.id), b = find(&r, neu.id);
            cr_expect(a < 0 || (b >= 0 && b < a), "strategy %d selection %d: old at %ld, new at %ld",
                      st, sel, a, b);
            cvs_mem_items_free(&r);
        }
}

/* The replacement shares no word with the question, so neither ranking
 * finds it (hops 0: no link is followed); before rule 19 recall returned
 * the old value alone.  It joins the candidates, reached from the old one
 * by a "superseded_by" step, unless the caller's filter leaves it out. */
Test(memory, a_replacement_that_no_ranking_finds_joins_and_leads)
{
    cvs_mem_remembered old, neu;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "r", .no_touch = 1};
    remember_over("dentist appointment on tuesday at 10am", "{\"topic\": \"health\"}", NULL,
                  &old);
    remember_over("moved to friday at 3pm", NULL, old.id, &neu);
    cr_assert_eq(cvs_mem_recall(db, "when is the dentist appointment", 0, &ro, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(r.n, 2);
    cr_expect_str_eq(r.items[0].id, neu.id);
    cr_expect_str_eq(r.items[1].id, old.id);
    cr_assert_eq(r.items[0].npath, 2);
    cr_expect_str_eq(r.items[0].path[0], old.id);
    cr_expect_str_eq(r.items[0].path_types[1], "superseded_by");
    cvs_mem_items_free(&r);
    /* a filter that leaves the replacement out: the old one alone, as ever */
    ro.filter = "{\"topic\": \"health\"}";
    cr_assert_eq(cvs_mem_recall(db, "when is the dentist appointment", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.items[0].id, old.id);
    cvs_mem_items_free(&r);
}

/* Under a budget that the old value fits and its replacement does not, the
 * old value is not returned alone; and along a chain a -> b -> c the
 * newest live memory leads, the next once the newest is forgotten. */
Test(memory, a_superseded_memory_never_comes_without_its_replacement)
{
    cvs_mem_remembered a, b, c;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "r", .no_touch = 1};
    remember_over("parking spot is number 12", NULL, NULL, &a);
    remember_over("we were given another space in the basement garage, the one by the lift "
                  "shaft, number 48, from the first of next month until the renovation of "
                  "the outdoor lot is finished in the spring",
                  NULL, a.id, &b);
    ro.token_budget = 10; /* a: 7 tokens; b: 50 */
    cr_assert_eq(cvs_mem_recall(db, "parking spot number", 0, &ro, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_expect_eq(find(&r, a.id), -1, "the old value alone under the budget");
    cvs_mem_items_free(&r);
    ro.token_budget = 0;
    remember_over("space 48 again", NULL, b.id, &c);
    cr_assert_eq(cvs_mem_recall(db, "parking spot number", 0, &ro, &r), 0);
    cr_assert_geq(r.n, 2);
    cr_expect_str_eq(r.items[0].id, c.id);
    cr_expect_gt(find(&r, a.id), 0);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_forget(db, "r", c.id, 0, NULL, 0, NULL), 0);
    recall_two("parking spot number", &ro, b.id, a.id);
}

/* A blank namespace or one with a control character is refused when a
 * memory would be written into it (the same error through the C API,
 * Python and MCP), and nothing is stored; one that a store already holds
 * (written before the check: here a record put directly) is still listed,
 * recalled and forgotten. */
Test(memory, blank_or_control_namespaces_are_refused_on_write_only)
{
    static const char *const bad[] = {" ", "  ", "\t", "a\nb", "x\x7f", "x\xc2\x85" /* U+0085 */,
                                      "\xc2\xa0\xe3\x80\x80" /* U+00A0 U+3000 */};
    static const char *const good[] = {"a b", " work", "\xc3\xa9t\xc3\xa9", "\xe4\xbb\x95\xe4\xba\x8b"};
    const char *text = "alice lives in paris";
    cvs_mem_remembered m;
    cvs_mem_items r = {0};
    size_t n = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cvs_mem_remember_opts o = {.ns = bad[i]};
        cr_assert_eq(cvs_mem_remember(db, text, 0, &o, &m), CVS_EINVAL, "namespace %zu", i);
        cr_assert(strstr(cvs_errmsg(db), "namespace"), "%s", cvs_errmsg(db));
        cr_assert(strstr(cvs_errmsg(db), i < 2 || i == 6 ? "blank" : "control character"),
                  "namespace %zu: %s", i, cvs_errmsg(db));
        cr_assert_eq(cvs_mem_remember_many(db, &text, NULL, 1, &o, &m), CVS_EINVAL);
    }
    cr_assert_eq(count(), 0);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cvs_mem_remember_opts o = {.ns = good[i]};
        cr_assert_eq(cvs_mem_remember(db, text, 0, &o, &m), 0, "%zu: %s", i, cvs_errmsg(db));
    }
    cr_assert_eq(count(), 4);
    {
        static float v[D];
        size_t len = strlen(text);
        cr_assert_eq(bow_embed(NULL, &text, &len, 1, v), 0);
        cvs_record rec = {.id = "m00000000000000aa", .id_len = 17, .vector = v, .text = text,
                          .text_len = len, .meta = "{\"_ns\": \"a\\nb\"}"};
        rec.meta_len = strlen(rec.meta);
        cr_assert_eq(cvs_put(db, &rec, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    }
    cvs_mem_recall_opts ro = {.ns = "a\nb", .no_touch = 1};
    cr_assert_eq(cvs_mem_recall(db, "paris", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].id, "m00000000000000aa");
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_list(db, "a\nb", NULL, 10, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_forget(db, "a\nb", "m00000000000000aa", 0, NULL, 0, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(count(), 4);
}

Test(memory, conversation_linked_and_followed)
{
    const char *turns[] = {"user asked about the weather in oslo", "assistant said it is raining",
                           "user wants an umbrella shop"};
    cvs_mem_remembered m[3];
    cvs_txn *t;
    cvs_record rec;
    cvs_mem_items r = {0};
    for (int i = 0; i < 3; i++) {
        cvs_mem_remember_opts o = {.ns = "c", .conversation = "conv-1"};
        cr_assert_eq(cvs_mem_remember(db, turns[i], 0, &o, &m[i]), 0, "%s", cvs_errmsg(db));
    }
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, m[1].id, strlen(m[1].id), &rec, NULL), 0);
    cr_assert_eq(rec.nlinks, 2);
    for (size_t i = 0; i < 2; i++) {
        const char *want = !strcmp(rec.links[i].type, "prev") ? m[0].id : m[2].id;
        cr_assert(!strcmp(rec.links[i].type, "prev") || !strcmp(rec.links[i].type, "next"));
        cr_assert_eq(rec.links[i].id_len, strlen(want));
        cr_assert(!memcmp(rec.links[i].id, want, rec.links[i].id_len));
    }
    cr_assert_eq(cvs_get(t, m[0].id, strlen(m[0].id), &rec, NULL), 0);
    cr_assert_eq(rec.nlinks, 1);
    cr_assert_str_eq(rec.links[0].type, "next");
    cvs_txn_end(t);
    /* "raining" hits turn 1 only; one hop brings its neighbours with paths. */
    {
        cvs_mem_recall_opts ro = {.ns = "c", .strategy = CVS_MEM_LEXICAL, .hops = 1};
        long i0, i2;
        cr_assert_eq(cvs_mem_recall(db, "raining", 0, &ro, &r), 0);
        cr_assert_eq(r.n, 3);
        cr_assert_str_eq(r.items[0].id, m[1].id);
        cr_assert_eq(r.items[0].npath, 1);
        i0 = find(&r, m[0].id);
        i2 = find(&r, m[2].id);
        cr_assert(i0 > 0 && i2 > 0);
        cr_assert_eq(r.items[i0].npath, 2);
        cr_assert_str_eq(r.items[i0].path[0], m[1].id);
        cr_assert_str_eq(r.items[i0].path[1], m[0].id);
        cr_assert_str_eq(r.items[i2].conversation, "conv-1");
        cvs_mem_items_free(&r);
        ro.hops = 0;
        cr_assert_eq(cvs_mem_recall(db, "raining", 0, &ro, &r), 0);
        cr_assert_eq(r.n, 1);
        cvs_mem_items_free(&r);
    }
    /* Another conversation starts its own chain. */
    {
        cvs_mem_remember_opts o = {.ns = "c", .conversation = "conv-2"};
        cvs_mem_remembered x;
        cr_assert_eq(cvs_mem_remember(db, "unrelated greeting hello", 0, &o, &x), 0);
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(cvs_get(t, x.id, strlen(x.id), &rec, NULL), 0);
        cr_assert_eq(rec.nlinks, 0);
        cvs_txn_end(t);
    }
}

/* Recall is a context set: links are followed several hops (a -> b -> c
 * here, where only a shares a word with the query), each item carries the
 * path that reached it, and the selection strategies all see them. */
Test(memory, recall_follows_links_two_hops)
{
    cvs_mem_remembered a, b, c, other;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "h", .no_touch = 1, .hops = 2};
    cvs_link l = {.weight = 1};
    long ib, ic;
    remember("h", "carol sits in oslo", NULL, &c);
    l.id = c.id;
    l.id_len = strlen(c.id);
    cr_assert_eq(cvs_mem_remember(db, "alice reports to carol", 0,
                                  &(cvs_mem_remember_opts){.ns = "h", .links = &l, .nlinks = 1}, &b),
                 0, "%s", cvs_errmsg(db));
    l.id = b.id;
    l.id_len = strlen(b.id);
    cr_assert_eq(cvs_mem_remember(db, "alice leads bluebird", 0,
                                  &(cvs_mem_remember_opts){.ns = "h", .links = &l, .nlinks = 1}, &a),
                 0, "%s", cvs_errmsg(db));
    /* Another namespace's memory with the query's word stays out. */
    remember("elsewhere", "bluebird leads", NULL, &other);

    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.items[0].id, a.id);
    cr_assert_eq(r.items[0].npath, 1);
    cr_assert_str_eq(r.items[0].path_types[0], "bm25+vector");
    ib = find(&r, b.id);
    ic = find(&r, c.id);
    cr_assert(ib > 0 && ic > 0);
    cr_assert_eq(r.items[ib].npath, 2);
    cr_assert_eq(r.items[ic].npath, 3, "c is two hops away");
    cr_assert_str_eq(r.items[ic].path[0], a.id);
    cr_assert_str_eq(r.items[ic].path[1], b.id);
    cr_assert_str_eq(r.items[ic].path[2], c.id);
    cr_assert_str_eq(r.items[ic].path_types[1], "link");
    cr_assert_str_eq(r.items[ic].path_types[2], "link");
    /* Each hop halves what is passed on. */
    cr_assert_lt(r.items[ic].score, r.items[ib].score);
    cr_assert_lt(r.items[ib].score, r.items[0].score);
    cvs_mem_items_free(&r);

    for (int s = CVS_CONTEXT_DIVERSE; s <= CVS_CONTEXT_MMR; s++) {
        ro.selection = (cvs_context_strategy)s;
        cr_assert_eq(recall_count("bluebird", &ro), 3, "strategy %s",
                     cvs_context_strategy_name(ro.selection));
    }
    /* One hop stops at b; none at a. */
    ro.selection = CVS_CONTEXT_DIVERSE;
    ro.hops = 1;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_lt(find(&r, c.id), 0);
    cvs_mem_items_free(&r);
    ro.hops = 0;
    cr_assert_eq(recall_count("bluebird", &ro), 1);
    /* k caps the set, the budget too (a: 5 tokens, b: 6, c: 5). */
    ro.hops = 2;
    ro.k = 2;
    cr_assert_eq(recall_count("bluebird", &ro), 2);
    ro.k = 0;
    ro.token_budget = 10;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_leq(r.tokens, 10);
    cvs_mem_items_free(&r);
    /* Bad options. */
    ro.token_budget = 0;
    ro.hops = CVS_MEM_HOPS_MAX + 1;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), CVS_EINVAL);
    ro.hops = 1;
    ro.selection = CVS_CONTEXT_BM25;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), CVS_EINVAL);
    /* A half-life below 0 or not a number was taken for "off" in silence
     * (MCP refused it); named now. */
    ro.selection = CVS_CONTEXT_DIVERSE;
    ro.half_life_s = -1;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "half_life_s"), "%s", cvs_errmsg(db));
    ro.half_life_s = NAN;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), CVS_EINVAL);
    ro.half_life_s = 0;
    cr_assert_eq(cvs_mem_recall(db, "bluebird", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cvs_mem_items_free(&r);
}

Test(memory, recency_half_life_and_recall_time)
{
    cvs_mem_remembered a, b;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "r", .no_touch = 1};
    remember("r", "apple pie recipe from grandma", NULL, &a);
    usleep(300 * 1000);
    remember("r", "apple pie notes", NULL, &b);
    /* Off by default: the better match first. */
    cr_assert_eq(cvs_mem_recall(db, "apple pie recipe from grandma", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, a.id);
    cr_assert_eq(r.items[0].recalled_us, 0);
    cvs_mem_items_free(&r);
    /* A half-life of 50 ms makes the 300 ms older one worth 1/64. */
    ro.half_life_s = 0.05;
    cr_assert_eq(cvs_mem_recall(db, "apple pie recipe from grandma", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.items[0].id, b.id);
    cvs_mem_items_free(&r);
    /* A recall stores its time; recency then counts from it. */
    ro.half_life_s = 0;
    ro.no_touch = 0;
    ro.strategy = CVS_MEM_LEXICAL;
    cr_assert_eq(cvs_mem_recall(db, "grandma", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 1);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_list(db, "r", NULL, 0, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_gt(r.items[find(&r, a.id)].recalled_us, r.items[find(&r, a.id)].created_us);
    cr_assert_eq(r.items[find(&r, b.id)].recalled_us, 0);
    cvs_mem_items_free(&r);
    ro.half_life_s = 0.05;
    ro.strategy = CVS_MEM_HYBRID;
    ro.no_touch = 1;
    cr_assert_eq(cvs_mem_recall(db, "apple pie recipe from grandma", 0, &ro, &r), 0);
    cr_assert_str_eq(r.items[0].id, a.id);
    cvs_mem_items_free(&r);
}

/* Recall stores the time when it can; a store that cannot be written (here
 * a read-only handle, as on a full disk) still answers, without it. */
Test(memory, recall_answers_when_the_store_cannot_be_written)
{
    cvs_mem_remembered a;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "w"};
    char path[4200];
    remember("w", "the spare key is under the blue flower pot", NULL, &a);
    cvs_db_close(db);
    snprintf(path, sizeof path, "%s/mem.cvs", dir);
    cr_assert_eq(cvs_db_open(path, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_set_embedder(db, "bow", D, bow_embed, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_mem_recall(db, "where is the spare key", 0, &ro, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].id, a.id);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_list(db, "w", NULL, 0, &r), 0);
    cr_assert_eq(r.items[0].recalled_us, 0);
    cvs_mem_items_free(&r);
}

static void count_wait(void *ctx, int64_t pid, double waited_s, int done)
{
    (void)pid, (void)waited_s, (void)done;
    ++*(int *)ctx;
}

/* A recall is a read: while another process writes (a build's encoding
 * pass, an import: minutes), it answers at once and leaves the recall time
 * out rather than wait for the writer to store it.  With no writer, the
 * time is stored. */
Test(memory, recall_does_not_wait_for_another_writer, .timeout = 60)
{
    cvs_mem_remembered a;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "w"};
    char path[4200];
    int waits = 0;
    pid_t pid;
    remember("w", "the spare key is under the blue flower pot", NULL, &a);
    snprintf(path, sizeof path, "%s/mem.cvs", dir);
    cvs_db_set_wait_fn(db, count_wait, &waits);
    pid = tu_hold_writer(path);
    cr_assert_eq(cvs_mem_recall(db, "where is the spare key", 0, &ro, &r), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cvs_mem_items_free(&r);
    cr_assert_eq(waits, 0, "recall waited for the other writer");
    tu_child_done(pid);
    cr_assert_eq(cvs_mem_list(db, "w", NULL, 0, &r), 0);
    cr_assert_eq(r.items[0].recalled_us, 0);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_recall(db, "where is the spare key", 0, &ro, &r), 0);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_list(db, "w", NULL, 0, &r), 0);
    cr_assert_neq(r.items[0].recalled_us, 0);
    cvs_mem_items_free(&r);
}

Test(memory, forget_by_id_and_filter)
{
    cvs_mem_remembered m[6];
    size_t n;
    char text[64];
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "fact number %c%c about things", 'a' + i, 'k' + i);
        remember(i < 5 ? "f" : "g", text, i % 2 ? "{\"topic\": \"x\"}" : "{\"topic\": \"y\"}",
                 &m[i]);
    }
    cr_assert_eq(cvs_mem_forget(db, "f", m[0].id, 0, NULL, 0, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(cvs_mem_forget(db, "f", m[0].id, 0, NULL, 0, &n), 0);
    cr_assert_eq(n, 0);
    /* id and filter together: only if it matches. */
    cr_assert_eq(cvs_mem_forget(db, "f", m[2].id, 0, "{\"topic\": \"x\"}", 0, &n), 0);
    cr_assert_eq(n, 0);
    /* By filter: m[1], m[3] in f; m[5] (topic x, namespace g) stays. */
    cr_assert_eq(cvs_mem_forget(db, "f", NULL, 0, "{\"topic\": \"x\"}", 0, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(count(), 3);
    cr_assert_eq(cvs_mem_forget(db, "f", NULL, 0, NULL, 0, &n), CVS_EINVAL);
    cr_assert_eq(cvs_mem_forget(db, "f", NULL, 0, "[1]", 0, &n), CVS_EINVAL);
    cr_assert_eq(cvs_mem_forget(db, "g", NULL, 0, "{}", 0, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(count(), 2);
}

Test(memory, list_pages_newest_first)
{
    enum { NM = 25 };
    cvs_mem_remembered m[NM];
    cvs_mem_items r = {0};
    char text[64], cursor[32] = "";
    int seen[NM] = {0}, pos = NM - 1, pages = 0;
    for (int i = 0; i < NM; i++) {
        snprintf(text, sizeof text, "note %c%c%c", 'a' + i % 26, 'a' + i / 26, 'q');
        /* Two-word notes may share a hash bucket: no merging here. */
        cvs_mem_remember_opts o = {.ns = "p", .near_dup = 2};
        cr_assert_eq(cvs_mem_remember(db, text, 0, &o, &m[i]), 0);
        o.ns = "other";
        cr_assert_eq(cvs_mem_remember(db, text, 0, &o, &(cvs_mem_remembered){0}), 0);
    }
    do {
        cr_assert_eq(cvs_mem_list(db, "p", cursor, 10, &r), 0, "%s", cvs_errmsg(db));
        pages++;
        cr_assert_leq(r.n, 10);
        for (size_t i = 0; i < r.n; i++, pos--) {
            cr_assert_geq(pos, 0);
            cr_assert_str_eq(r.items[i].id, m[pos].id, "page %d item %zu", pages, i);
            cr_assert_eq(seen[pos]++, 0);
            cr_assert_null(r.items[i].path);
        }
        strcpy(cursor, r.cursor);
        cvs_mem_items_free(&r);
    } while (cursor[0]);
    cr_assert_eq(pages, 3);
    cr_assert_eq(pos, -1);
    cr_assert_eq(cvs_mem_list(db, "p", "x1", 10, &r), CVS_EINVAL);
    cr_assert_eq(cvs_mem_list(db, "nobody", NULL, 10, &r), 0);
    cr_assert_eq(r.n, 0);
    cr_assert_str_eq(r.cursor, "");
    cvs_mem_items_free(&r);
}

Test(memory, token_budget_and_k)
{
    cvs_mem_remembered a, b, c;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "t", .no_touch = 1};
    /* 40, 12 and 20 bytes: 10, 3 and 5 tokens. */
    remember("t", "zebra zebra zebra zebra zebra zebra zebr", NULL, &a);
    remember("t", "zebra lion x", NULL, &b);
    remember("t", "zebra tiger tiger ok", NULL, &c);
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.tokens, 10 + 3 + 5);
    cvs_mem_items_free(&r);
    ro.token_budget = 9;
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_leq(r.tokens, 9);
    cr_assert_lt(find(&r, a.id), 0);
    cvs_mem_items_free(&r);
    ro.token_budget = 0;
    ro.k = 1;
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &ro, &r), 0);
    cr_assert_eq(r.n, 1);
    cvs_mem_items_free(&r);
    /* A query with no known word at all: no results, no error.  One with
     * no word at all (punctuation) is refused (blank_memories_refused). */
    ro.k = 0;
    cr_assert_eq(cvs_mem_recall(db, "the", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 0);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_recall(db, "...", 0, &ro, &r), CVS_EINVAL);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &(cvs_mem_recall_opts){.ns = "t", .filter = "nope"}, &r),
                 CVS_EINVAL);
}

/* A k far above the namespace's memories (10^9: "all of them") returns
 * every match: it sized the candidate pools and failed with ENOMEM. */
Test(memory, a_huge_k_returns_every_match)
{
    cvs_mem_remembered m;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.ns = "h", .no_touch = 1, .k = 1000000000};
    remember("h", "zebra lion", NULL, &m);
    remember("h", "zebra tiger", NULL, &m);
    remember("h", "zebra wolf bear", NULL, &m);
    remember("other", "zebra elsewhere", NULL, &m);
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 3);
    cvs_mem_items_free(&r);
    ro.k = SIZE_MAX;
    ro.strategy = CVS_MEM_LEXICAL;
    cr_assert_eq(cvs_mem_recall(db, "zebra", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 3);
    cvs_mem_items_free(&r);
}

/* A memory of no words (blank, Unicode spaces, punctuation) is refused
 * and nothing is stored: it came back from a later recall of anything.
 * A query of no words is refused too. */
Test(memory, blank_memories_refused)
{
    static const char *const blank[] = {"   ", "\t\n ", "\xc2\xa0\xc2\xa0", "\xe3\x80\x80",
                                        " \xe3\x80\x80\xc2\xa0 ", "?!", "..."};
    cvs_mem_remembered m;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.no_touch = 1};
    remember(NULL, "the river floods in spring", NULL, &m);
    for (size_t i = 0; i < sizeof blank / sizeof *blank; i++) {
        cr_assert_eq(cvs_mem_remember(db, blank[i], 0, NULL, &m), CVS_EINPUT, "'%s'", blank[i]);
        cr_assert(strstr(cvs_errmsg(db), "text has no words"), "%s", cvs_errmsg(db));
        cr_assert_eq(cvs_mem_recall(db, blank[i], 0, &ro, &r), CVS_EINVAL, "'%s'", blank[i]);
        cr_assert(strstr(cvs_errmsg(db), "query has no words"), "%s", cvs_errmsg(db));
    }
    cr_assert_eq(count(), 1);
    cr_assert_eq(cvs_mem_recall(db, "river", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].text, "the river floods in spring");
    cvs_mem_items_free(&r);
    /* Stop words are words: kept. */
    remember(NULL, "it is", NULL, &m);
    cr_assert_eq(count(), 2);
}

/* ==== `cvstore mcp` over a pipe, without any MCP client library ==== */

/* The replies of an MCP session (tu_mcp_glove), freed. */
static void free_replies(json_t **msg, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(msg[i]);
}

/* The SDK-driven test (tests/cli_mcp.sh) is skipped where npm cannot be
 * reached; this one keeps the protocol's error handling covered anyway. */
Test(mcp, raw_protocol_errors_and_tools)
{
    static const char *const words[] = {"alice", "lives", "paris", "bob", "coffee", "likes"};
    /* Word i along axis i (the first three), apart by its last coordinate. */
    static const float vecs[6 * 4] = {1, 0, 0, 0.125f, 0, 1, 0, 0.25f,  0, 0, 1, 0.375f,
                                      0, 0, 0, 0.5f,   0, 0, 0, 0.625f, 0, 0, 0, 0.75f};
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"0\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"Alice lives in Paris\",\"namespace\":\"n\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
        "\"arguments\":{\"query\":\"alice paris\",\"namespace\":\"n\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
        "\"arguments\":{\"query\":\"alice paris\",\"namespace\":\"other\"}}}\n"
        "{bad json\n"
        "42\n"
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"frobnicate\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"forget\","
        "\"arguments\":{}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{}}\n"
        "[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]\n"
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}"; /* no final newline: EOF ends it */
    json_t *msg[16] = {0};
    size_t n = tu_mcp_glove_raw(dir, words, vecs, 6, input, msg, 16);
    cr_assert_eq(n, 12, "%zu replies", n);
#define ERRCODE(i) json_integer_value(json_object_get(json_object_get(msg[i], "error"), "code"))
#define RESULT(i) json_object_get(msg[i], "result")
    cr_assert_str_eq(json_string_value(json_object_get(RESULT(0), "protocolVersion")), "2025-03-26");
    cr_assert_eq(json_array_size(json_object_get(RESULT(1), "tools")), 4);
    cr_assert(json_is_false(json_object_get(RESULT(2), "isError")));
    {
        json_t *sc = json_object_get(RESULT(2), "structuredContent");
        json_t *mem = json_array_get(json_object_get(json_object_get(RESULT(3), "structuredContent"),
                                                     "memories"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(sc, "status")), "added");
        cr_assert_str_eq(json_string_value(json_object_get(mem, "id")),
                         json_string_value(json_object_get(sc, "id")));
        cr_assert(json_is_integer(json_object_get(mem, "hop")));
        cr_assert_eq(json_integer_value(json_object_get(mem, "hop")), 0);
        cr_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(mem, "via"), 0), "id")),
                         json_string_value(json_object_get(sc, "id")));
        cr_assert_eq(json_array_size(json_object_get(json_object_get(RESULT(4), "structuredContent"),
                                                     "memories")), 0);
    }
    cr_assert_eq(ERRCODE(5), -32700);
    cr_assert_eq(ERRCODE(6), -32600);
    cr_assert_eq(ERRCODE(7), -32601);
    cr_assert(json_is_true(json_object_get(RESULT(8), "isError")));
    cr_assert_eq(ERRCODE(9), -32602);
    cr_assert(json_is_array(msg[10]) && json_array_size(msg[10]) == 1);
    cr_assert_eq(json_integer_value(json_object_get(msg[11], "id")), 10);
    free_replies(msg, n);
    /* Usage errors. */
    cr_assert_eq(tu_cli(NULL, "mcp 2>/dev/null"), 1);
    cr_assert_eq(tu_cli(NULL, "mcp '%s/none' 2>/dev/null </dev/null", dir), 1);
    cr_assert_eq(tu_cli(NULL, "mcp --help >/dev/null"), 0);
}

/* The three-word GloVe cache of the MCP tests that need no more. */
static const char *const mcp_words[] = {"alice", "lives", "paris"};
static const float mcp_vecs[3 * 4] = {1, 0, 0, 0.125f, 0, 1, 0, 0.25f, 0, 0, 1, 0.375f};

/* A tools/call of list with id ID (JSON text), one line; and how many
 * memories its reply holds. */
#define LIST_CALL(ID)                                                                      \
    "{\"jsonrpc\":\"2.0\",\"id\":" ID ",\"method\":\"tools/call\",\"params\":{"             \
    "\"name\":\"list\",\"arguments\":{}}}\n"

static size_t listed(const json_t *reply)
{
    return json_array_size(json_object_get(
        json_object_get(json_object_get(reply, "result"), "structuredContent"), "memories"));
}


/* The lifecycle: before initialize is answered, a request other than ping
 * is -32002 and runs nothing (the remember before it stored nothing);
 * notifications get no reply, before and after; initialize needs its
 * protocolVersion (-32602) and is refused inside a batch (-32600); once it
 * is answered, calls are served without waiting for
 * notifications/initialized.  Unknown methods are -32601 before as after,
 * and every id comes back as it was sent: a string, an integer (7.0 is
 * one); an id that MCP does not allow (null, a fraction, a boolean) is
 * -32600 with id null, and the request runs not. */
Test(mcp, requests_before_initialize_are_refused)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"remember\",\"arguments\":{\"text\":\"Alice lives in Paris\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"frobnicate\"}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"initialize\",\"params\":{}}\n"
        "[{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"initialize\",\"params\":{"
        "\"protocolVersion\":\"2025-03-26\"}}]\n"
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list\",\"arguments\":{}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":8.0,\"method\":\"initialize\",\"params\":{"
        "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
        "\"version\":\"0\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"remember\",\"arguments\":{\"text\":\"Bob lives in Paris\"}}}\n"
        LIST_CALL("\"l\"")
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":-9,\"method\":\"frobnicate\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9t\u00e9\",\"method\":\"ping\"}\n";
    json_t *msg[16] = {0};
    size_t n = tu_mcp_glove_raw(dir, mcp_words, mcp_vecs, 3, input, msg, 16);
    cr_assert_eq(n, 14, "%zu replies", n);
    cr_assert_str_eq(json_string_value(json_object_get(msg[0], "id")), "r1");
    cr_assert_eq(ERRCODE(0), -32002);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[0], "error"),
                                                       "message")), "initialize"));
    cr_assert_eq(ERRCODE(1), -32002);
    cr_assert(json_is_object(RESULT(2)), "ping is served before initialize");
    cr_assert_eq(ERRCODE(3), -32601);
    cr_assert_eq(json_integer_value(json_object_get(msg[4], "id")), 5);
    cr_assert_eq(ERRCODE(4), -32602);
    cr_assert(json_is_array(msg[5]) && json_array_size(msg[5]) == 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(msg[5], 0), "id")), 6);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(msg[5], 0),
                                                                    "error"), "code")), -32600);
    cr_assert_eq(ERRCODE(6), -32002, "neither a bad initialize nor a batched one initializes");
    cr_assert(json_is_real(json_object_get(msg[7], "id")));
    cr_assert_float_eq(json_real_value(json_object_get(msg[7], "id")), 8.0, 0);
    cr_assert_str_eq(json_string_value(json_object_get(RESULT(7), "protocolVersion")),
                     "2025-03-26");
    /* An id of null, a fraction, true: -32600, id null, and nothing runs. */
    for (size_t i = 8; i <= 11; i += i == 8 ? 2 : 1) {
        cr_assert(json_is_null(json_object_get(msg[i], "id")), "reply %zu", i);
        cr_assert_eq(ERRCODE(i), -32600, "reply %zu", i);
    }
    /* Served before notifications/initialized; neither refused remember stored anything. */
    cr_assert_str_eq(json_string_value(json_object_get(msg[9], "id")), "l");
    cr_assert(json_is_false(json_object_get(RESULT(9), "isError")));
    cr_assert_eq(listed(msg[9]), 0);
    cr_assert_eq(json_integer_value(json_object_get(msg[12], "id")), -9);
    cr_assert_eq(ERRCODE(12), -32601);
    cr_assert_str_eq(json_string_value(json_object_get(msg[13], "id")), "\xc3\xa9t\xc3\xa9");
    cr_assert(json_is_object(RESULT(13)));
    free_replies(msg, n);
}

/* An MCP client hands each tool's inputSchema to the model, which reads
 * nothing else about the arguments: every argument of every tool says what
 * it is (forget's id, list's cursor and three tools' namespace said
 * nothing: not that an omitted namespace is the server's default, nor
 * where an id or a cursor comes from). */
Test(mcp, every_tool_argument_is_described)
{
    static const char input[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n";
    json_t *msg[2] = {0}, *tool, *schema;
    size_t n = tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 2), i, checked = 0;
    cr_assert_eq(n, 1, "%zu replies", n);
    json_array_foreach(json_object_get(RESULT(0), "tools"), i, tool) {
        const char *name = json_string_value(json_object_get(tool, "name")), *arg;
        json_t *prop;
        schema = json_object_get(json_object_get(tool, "inputSchema"), "properties");
        cr_assert(json_object_size(schema) > 0, "%s: no properties", name);
        json_object_foreach(schema, arg, prop) {
            const char *d = json_string_value(json_object_get(prop, "description"));
            cr_assert(d && strlen(d) >= 10, "%s.%s has no description", name, arg);
            checked++;
        }
    }
    cr_assert_geq(checked, 20, "%zu arguments", checked);
    {
        /* the namespace an agent leaves out is the server's default, said */
        json_t *ns = json_object_get(json_object_get(json_object_get(json_object_get(
            json_array_get(json_object_get(RESULT(0), "tools"), 1), "inputSchema"), "properties"),
            "namespace"), "description");
        cr_assert(strstr(json_string_value(ns), "default"), "%s", json_string_value(ns));
    }
    free_replies(msg, n);
}

/* MCP 2025-06-18 has no batches: in a session of that revision (the
 * handshake's) a batch is -32600 with id null, and none of its requests
 * runs; the requests after it are served.  (2025-03-26 sessions keep them:
 * raw_protocol_errors_and_tools.) */
Test(mcp, no_batches_in_a_2025_06_18_session)
{
    static const char input[] =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"remember\",\"arguments\":{\"text\":\"Alice lives in Paris\"}}},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]\n" LIST_CALL("3");
    json_t *msg[4] = {0};
    size_t n = tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 4);
    cr_assert_eq(n, 2, "%zu replies", n);
    cr_assert(json_is_object(msg[0]), "one error, not an array of replies");
    cr_assert(json_is_null(json_object_get(msg[0], "id")));
    cr_assert_eq(ERRCODE(0), -32600);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[0], "error"),
                                                       "message")), "batch"));
    cr_assert_eq(json_integer_value(json_object_get(msg[1], "id")), 3);
    cr_assert_eq(listed(msg[1]), 0, "the batch ran nothing");
    free_replies(msg, n);
}

/* Two messages on one line (a client that writes them back to back, with or
 * without a space): each is answered with its own id, as if each had its
 * line.  Before, the line was one parse error with id null, and the client
 * waited for answers that never came.  What follows a message and is not
 * JSON is still a parse error. */
Test(mcp, two_messages_on_one_line_are_both_answered)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} "
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"} garbage\n"
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}   \n";
    json_t *msg[16] = {0};
    size_t n = tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 16);
    static const int ids[] = {1, 2, 3, 4, 5};
    cr_assert_eq(n, 7, "%zu replies", n);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(json_integer_value(json_object_get(msg[i], "id")), ids[i], "reply %zu", i);
        cr_assert(json_object_get(msg[i], "result"), "reply %zu has no result", i);
    }
    cr_assert_eq(json_array_size(json_object_get(json_object_get(msg[3], "result"), "tools")), 4);
    cr_assert(json_is_null(json_object_get(msg[5], "id")));
    cr_assert_eq(ERRCODE(5), -32700);
    cr_assert_eq(json_integer_value(json_object_get(msg[6], "id")), 6);
    free_replies(msg, n);
}

/* A message holding an integer beyond 64 bits is refused with its id; the
 * message after it on the same line is still answered (the re-read that
 * finds the id also says where the first message ends). */
Test(mcp, a_message_after_an_oversized_integer_is_answered)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":"
        "99999999999999999999999}} {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n";
    json_t *msg[4] = {0};
    size_t n = tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 4);
    cr_assert_eq(n, 2, "%zu replies", n);
    cr_assert_eq(json_integer_value(json_object_get(msg[0], "id")), 1);
    cr_assert_eq(ERRCODE(0), -32602);
    cr_assert_eq(json_integer_value(json_object_get(msg[1], "id")), 2);
    cr_assert(json_object_get(msg[1], "result"));
    free_replies(msg, n);
}

/* "\u0000" is valid JSON: a request holding it is answered with its own
 * id (a parse error's null id would leave the client waiting for an
 * answer), a notification holding it gets no reply (JSON-RPC answers no
 * notification), and the server goes on.  A namespace that is not UTF-8 is
 * refused at start-up. */
Test(mcp, nul_in_a_string_is_answered_with_the_request_id)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"Alice\\u0000 lives in Paris\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"ping\\u0000x\"}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"a\":\"b\\u0000\"}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"list\","
        "\"arguments\":{}}}\n";
    json_t *msg[4] = {0};
    size_t n = tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 4);
    cr_assert_eq(n, 3, "%zu replies", n);
    cr_assert_eq(json_integer_value(json_object_get(msg[0], "id")), 1);
    cr_assert_eq(ERRCODE(0), -32602);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[0], "error"),
                                                       "message")), "NUL"));
    cr_assert_str_eq(json_string_value(json_object_get(msg[1], "id")), "two");
    cr_assert_eq(ERRCODE(1), -32600);
    /* Nothing was stored. */
    cr_assert_eq(json_array_size(json_object_get(json_object_get(RESULT(2), "structuredContent"),
                                                 "memories")), 0);
    free_replies(msg, n);
    {
        char *gdir = tu_tmpdir();
        tu_glove_write(gdir, mcp_words, mcp_vecs, 3, 4);
        setenv("CVSTORE_GLOVE_DIR", gdir, 1);
        cr_assert_eq(tu_cli(NULL, "mcp '%s/g.cvs' </dev/null", dir), 0);
        cr_assert_eq(tu_cli(NULL, "mcp '%s/g.cvs' --namespace \"$(printf 'a\\377')\" "
                                  "</dev/null 2>/dev/null", dir), 1);
        unsetenv("CVSTORE_GLOVE_DIR");
        tu_rmrf(gdir);
        free(gdir);
    }
}

/* A store whose texts cannot be embedded is refused before serving, with
 * the fix; stats names the embedder and its text state. */
Test(mcp, refuses_a_store_that_cannot_embed)
{
    static const char *const words[] = {"alice", "paris"};
    static const float vecs[2 * 4] = {1, 0, 0, 0.5f, 0, 1, 0, 0.5f};
    char *out = NULL, *gdir = tu_tmpdir();
    tu_glove_write(gdir, words, vecs, 2, 4);
    cr_assert_eq(tu_cli(NULL, "init '%s/plain' --dim 4 --metric l2 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(&out, "mcp '%s/plain' </dev/null 2>&1", dir), 1);
    cr_assert(strstr(out, "no embedder") && strstr(out, "--embedder minilm"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(&out, "stats '%s/plain'", dir), 0);
    cr_assert(strstr(out, "embedder:       none"), "%s", out);
    free(out);
    /* A glove store without the GloVe cache: the message says how to fetch it. */
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    cr_assert_eq(tu_cli(NULL, "init '%s/g' --embedder glove --dim 4 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(&out, "stats '%s/g'", dir), 0);
    cr_assert(strstr(out, "embedder:       glove (dim 4; SIF common component: fixed by the "
                          "vocabulary)"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(&out, "stats '%s/g' --json", dir), 0);
    cr_assert(strstr(out, "\"common_component\": \"fixed by the vocabulary\"") ||
              strstr(out, "\"common_component\":\"fixed by the vocabulary\""), "%s", out);
    free(out);
    setenv("CVSTORE_GLOVE_DIR", "/nonexistent/glove", 1);
    cr_assert_neq(tu_cli(&out, "mcp '%s/g' </dev/null 2>&1", dir), 0);
    cr_assert(strstr(out, "fetch-glove"), "%s", out);
    free(out);
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(gdir);
    free(gdir);
}

/* A free-text argument over its limit is answered -32602 naming the
 * argument and the limit, before the tool runs; at the limit it runs. */
Test(mcp, an_argument_over_its_limit_is_a_json_rpc_error)
{
    static const char *const calls[] = {
        "\"recall\",\"arguments\":{\"query\":\"%s\"}",          /* 32769 bytes */
        "\"recall\",\"arguments\":{\"query\":\"%.32768s\"}",    /* the limit */
        "\"forget\",\"arguments\":{\"filter\":{\"a\":\"%s\"}}",
        "\"list\",\"arguments\":{\"namespace\":\"%.256s\"}",
        "\"remember\",\"arguments\":{\"text\":\"alice\",\"links\":[{\"id\":\"%.513s\"}]}",
    };
    size_t n = CVS_QUERY_MAX_BYTES + 1, len = 0, cap = 6 * (n + 200);
    char *big = malloc(n + 1), *input = malloc(cap);
    json_t *msg[5] = {0};
    for (size_t i = 0; i < n; i++)
        big[i] = i % 6 == 5 ? ' ' : "alice "[i % 6];
    big[n] = 0;
    for (size_t i = 0; i < 5; i++) {
        len += (size_t)snprintf(input + len, cap - len, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":"
                                "\"tools/call\",\"params\":{\"name\":", i);
        len += (size_t)snprintf(input + len, cap - len, calls[i], big);
        len += (size_t)snprintf(input + len, cap - len, "}}\n");
    }
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 5), 5);
    cr_assert_eq(ERRCODE(0), -32602);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[0], "error"),
                                                       "message")),
                     "query has 32769 bytes, over the limit of 32768"));
    cr_assert(json_is_false(json_object_get(RESULT(1), "isError")));
    cr_assert_eq(ERRCODE(2), -32602);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[2], "error"),
                                                       "message")), "filter"));
    cr_assert_eq(ERRCODE(3), -32602);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[3], "error"),
                                                       "message")), "namespace has 256 bytes"));
    cr_assert_eq(ERRCODE(4), -32602);
    /* In an agent's terms: no C constant (CVS_MAX_ID_LEN) it never wrote. */
    for (size_t i = 0; i < 5; i++) {
        const char *m = json_string_value(json_object_get(json_object_get(msg[i], "error"),
                                                          "message"));
        cr_assert(!m || !strstr(m, "CVS_"), "reply %zu: %s", i, m);
    }
    free_replies(msg, 5);
    free(big);
    free(input);
}

/* A memory's text or a recall's query of no words (empty, U+00A0,
 * U+3000, punctuation) is -32602 naming the argument, and nothing is
 * stored: a blank memory came back from every later recall. */
Test(mcp, a_blank_text_or_query_is_a_json_rpc_error)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"   \"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"\\u00a0\\u3000\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"alice lives in paris\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
        "\"arguments\":{\"query\":\" \\u3000 \"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
        "\"arguments\":{\"query\":\"paris\"}}}\n";
    json_t *msg[6] = {0};
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 6), 6);
    for (size_t i = 0; i < 3; i++) {
        const char *m = json_string_value(json_object_get(json_object_get(msg[i], "error"), "message"));
        cr_assert_eq(ERRCODE(i), -32602, "reply %zu", i);
        cr_assert(m && strstr(m, "remember: text has no words"), "%s", m ? m : "(none)");
    }
    cr_assert(json_is_false(json_object_get(RESULT(3), "isError")));
    cr_assert_eq(ERRCODE(4), -32602);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(msg[4], "error"), "message")),
                     "recall: query has no words"));
    {
        /* Only the one memory with words is there to be recalled. */
        json_t *mem = json_object_get(json_object_get(RESULT(5), "structuredContent"), "memories");
        cr_assert_eq(json_array_size(mem), 1);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(mem, 0), "text")),
                         "alice lives in paris");
    }
    free_replies(msg, 6);
}

/* One tools/call request line: id, tool name and its arguments (JSON). */
#define TOOL_CALL(id, name, args)                                                              \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"tools/call\",\"params\":{\"name\":\"" name  \
    "\",\"arguments\":" args "}}\n"

/* A recall of stop words only finds nothing (neither BM25 nor GloVe reads
 * a stop word); its empty answer says why, so that an agent does not take
 * it for "nothing remembered".  An answered recall has no note. */
Test(mcp, a_recall_of_stop_words_says_why_it_is_empty)
{
    static const char input[] = TOOL_CALL(0, "remember", "{\"text\":\"alice lives in paris\"}")
        TOOL_CALL(1, "recall", "{\"query\":\"who was it\"}")
        TOOL_CALL(2, "recall", "{\"query\":\"paris\"}");
    json_t *msg[3] = {0};
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 3), 3);
    {
        json_t *sc = json_object_get(RESULT(1), "structuredContent");
        const char *note = json_string_value(json_object_get(sc, "note"));
        const char *text = json_string_value(
            json_object_get(json_array_get(json_object_get(RESULT(1), "content"), 0), "text"));
        cr_assert(json_is_false(json_object_get(RESULT(1), "isError")));
        cr_assert_eq(json_array_size(json_object_get(sc, "memories")), 0);
        cr_assert(note && strstr(note, "no result: the question has only stop words"), "%s",
                  note ? note : "(no note)");
        cr_assert(text && strstr(text, "only stop words"), "the text content says it too: %s",
                  text ? text : "(none)");
    }
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(RESULT(2), "structuredContent"), "memories")), 1);
    cr_assert_null(json_object_get(json_object_get(RESULT(2), "structuredContent"), "note"));
    free_replies(msg, 3);
}

/* An integer beyond 64 bits is valid JSON that jansson cannot hold: the
 * request is refused with its own id (an error with id null left the
 * client waiting), saying what is wrong and to write it as a string, and
 * nothing is stored; a notification gets no reply. */
Test(mcp, an_integer_beyond_64_bits_is_refused_with_the_request_id)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"remember\",\"arguments\":{\"text\":\"alice lives\",\"metadata\":{\"n\":"
        "18446744073709551616}}}}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"a\":"
        "-18446744073709551616}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list\",\"arguments\":{}}}\n"
        /* Within 64 bits but over the limit: the limit is named, not "must be
         * a non-negative integer" of a number that is one. */
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"recall\",\"arguments\":{\"query\":\"alice\",\"token_budget\":99999999999999999}}}\n";
    json_t *msg[4] = {0};
    const char *m;
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 4), 3);
    cr_assert_eq(json_integer_value(json_object_get(msg[0], "id")), 7);
    cr_assert_eq(ERRCODE(0), -32602);
    m = json_string_value(json_object_get(json_object_get(msg[0], "error"), "message"));
    cr_assert(strstr(m, "integer out of range") && strstr(m, "write it as a string"), "%s", m);
    cr_assert_str_eq(json_string_value(json_object_get(msg[1], "id")), "s");
    m = json_dumps(RESULT(1), 0);
    cr_assert(!strstr(m, "alice lives"), "nothing was remembered: %s", m);
    free((char *)m);
    m = json_string_value(json_object_get(json_array_get(json_object_get(RESULT(2), "content"),
                                                         0), "text"));
    cr_assert(m && strstr(m, "token_budget must be an integer from 0 (no limit) to 1099511627776"),
              "%s", m);
    free_replies(msg, 3);
}

static int nan_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                     float *out)
{
    (void)ctx, (void)texts, (void)lens;
    for (size_t i = 0; i < n * D; i++)
        out[i] = NAN;
    return 0;
}

/* A text the embedder cannot embed is kept with a stand-in vector; a text
 * a broken embedder embeds to NaN is not kept as if it had been: remember
 * fails with CVS_EIO, nothing is stored, and recall says so too instead of
 * quietly ranking by words alone. */
Test(memory, broken_embedder_is_an_error_not_a_stand_in)
{
    cvs_mem_remembered r;
    cvs_mem_items it = {0};
    cvs_mem_recall_opts ro = {.ns = "default", .k = 5};
    remember(NULL, "kept by its words", NULL, &r);
    remember(NULL, "\xe6\x97\xa5\xe6\x9c\xac", NULL, &r); /* words, but none bow_embed embeds: the stand-in */
    cr_assert_eq(count(), 2);
    cr_assert_eq(cvs_db_set_embedder(db, "bow", D, nan_embed, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_mem_remember(db, "lost to a broken embedder", 0, NULL, &r), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(db), "non-finite"), "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 2);
    cr_assert_eq(cvs_mem_recall(db, "kept", 0, &ro, &it), CVS_EIO);
    cvs_mem_items_free(&it);
    ro.strategy = CVS_MEM_LEXICAL; /* no embedding asked for */
    cr_assert_eq(cvs_mem_recall(db, "kept", 0, &ro, &it), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(it.n, 1);
    cvs_mem_items_free(&it);
}

/* The cap on a memory's size: text and metadata together, configurable. */
Test(memory, size_is_capped)
{
    size_t n = CVS_MEM_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    cvs_mem_remembered r;
    cvs_mem_remember_opts o = {.ns = "z"};
    for (size_t i = 0; i < n; i++)
        big[i] = i % 6 == 5 ? ' ' : "memory"[i % 6];
    big[n] = 0;
    cr_assert_eq(cvs_mem_remember(db, big, n, &o, &r), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "over the limit of 65536 bytes"), "%s", cvs_errmsg(db));
    /* Metadata counts too. */
    o.meta = "{\"a\": 1}";
    cr_assert_eq(cvs_mem_remember(db, big, n - 5, &o, &r), CVS_EINPUT);
    cr_assert_eq(count(), 0);
    o.meta = NULL;
    o.max_bytes = n;
    cr_assert_eq(cvs_mem_remember(db, big, n, &o, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(count(), 1);
    free(big);
}

/* A query is a question or a passage: one over CVS_QUERY_MAX_BYTES is
 * refused by every query entry point with CVS_EINVAL naming the limit (a
 * 12 MB recall took 18 s), and one at the limit is answered. */
Test(memory, a_query_over_the_limit_is_refused)
{
    size_t n = CVS_QUERY_MAX_BYTES + 1;
    char *q = malloc(n + 1);
    cvs_mem_remembered r;
    cvs_mem_items it = {0};
    cvs_context_result cr = {0};
    int64_t keys[1];
    float scores[1];
    for (size_t i = 0; i < n; i++)
        q[i] = i % 6 == 5 ? ' ' : "limit "[i % 6];
    q[n] = 0;
    remember(NULL, "a question about the limit", NULL, &r);
    cr_assert_eq(cvs_mem_recall(db, q, n, NULL, &it), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "over the limit of 32768"), "%s", cvs_errmsg(db));
    cr_assert_eq(it.n, 0);
    cvs_mem_items_free(&it);
    cr_assert_eq(cvs_mem_recall(db, q, 0, NULL, &it), CVS_EINVAL, "len 0 means strlen");
    cvs_mem_items_free(&it);
    cr_assert_eq(cvs_text_search(db, q, n, 1, keys, scores), CVS_EINVAL);
    /* Named in the caller's terms: the operation, not its C function or
     * the constant's name. */
    cr_assert(strstr(cvs_errmsg(db), "text search: the query has 32769 bytes, over the limit "
                                     "of 32768 bytes") && !strstr(cvs_errmsg(db), "CVS_"),
              "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_context(db, NULL, q, 0, &cr), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "over the limit of 32768"), "%s", cvs_errmsg(db));
    /* At the limit: answered. */
    q[n - 1] = 0;
    cr_assert_eq(cvs_mem_recall(db, q, n - 1, NULL, &it), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(it.n, 1);
    cvs_mem_items_free(&it);
    cr_assert_eq(cvs_text_search(db, q, n - 1, 1, keys, scores), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(keys[0], 1);
    cr_assert_eq(cvs_context(db, NULL, q, 0, &cr), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cr.n, 1);
    cvs_context_result_free(&cr);
    free(q);
}

/* ==== The built-in embedder over the real GloVe vectors ==== */

/* Facts told one call at a time, as an agent does, and asked back in other
 * words: the right memory must come first for a strong majority.  Needs the
 * GloVe cache (scripts/fetch-glove.sh); skipped without it.  The facts and
 * questions were written for this test, and nothing was tuned to them. */
static const char *const glove_facts[] = {
    "My sister Hannah lives in Lisbon with her two cats.",
    "The dentist appointment is on Thursday at 9 in the morning.",
    "I am allergic to peanuts and shellfish.",
    "Our wifi password is written on the fridge door.",
    "The car needs new tires before the winter.",
    "My favourite novel is One Hundred Years of Solitude.",
    "The quarterly report is due to the finance team on March 31.",
    "I parked the bicycle in the basement of the office building.",
    "Grandma's birthday is on the twelfth of August.",
    "The project deadline for the mobile app was moved to next Friday.",
    "I take my coffee black without sugar.",
    "The landlord will repair the leaking kitchen faucet on Monday.",
    "My passport expires in November next year.",
    "The spare house key is hidden under the blue flower pot.",
    "I started learning Japanese last spring.",
    "Our team standup meeting happens every weekday at 10:15.",
    "The plumber charged 180 euros for fixing the boiler.",
    "I run five kilometres in the park every Sunday morning.",
    "The kids' school closes early on Wednesdays.",
    "My blood type is O negative.",
    "The server backups run every night at two o'clock.",
    "I lent my camera to Marco last weekend.",
    "The gym membership renews automatically in January.",
    "My doctor recommended cutting down on salt.",
    "The vacation to Norway is booked for the second week of July.",
    "I prefer window seats on long flights.",
    "The printer on the third floor is out of toner.",
    "My son plays the violin in the school orchestra.",
    "The insurance policy number is stored in the green folder.",
    "We adopted a golden retriever puppy named Biscuit.",
    "The electricity bill went up by twenty percent this year.",
    "I am vegetarian and do not eat fish.",
    "The conference in Vienna starts on the fourth of October.",
    "My laptop battery only lasts two hours now.",
    "The neighbours are renovating their roof this month.",
    "I keep my tax documents in the filing cabinet in the study.",
    "The library books have to be returned by the twentieth.",
    "My favourite band is Radiohead.",
    "The garden hose is broken and needs replacing.",
    "I met my wife at a jazz concert in Chicago.",
    "The company's annual retreat will be held in the mountains.",
    "My brother works as an engineer at a wind turbine factory.",
    "I usually go to bed around eleven at night.",
    "The wedding anniversary dinner is reserved at the Italian restaurant downtown.",
    "The code review for the payment service is still pending.",
    "I have a meeting with the bank about the mortgage on Tuesday.",
    "The oven takes twenty minutes to preheat.",
    "My daughter is afraid of thunderstorms.",
    "I canceled the newspaper subscription in May.",
    "The hiking boots I bought last year are already worn out."
};

static const struct {
    int fact;
    const char *q;
} glove_questions[] = {
    {0, "Where does Hannah live?"},
    {1, "When do I see the dentist?"},
    {2, "What foods can I not eat because of allergies?"},
    {3, "Where can I find the wireless network key?"},
    {4, "What does the automobile need before the cold season?"},
    {5, "Which book do I like best?"},
    {6, "When must the finance people get the quarterly numbers?"},
    {7, "Where did I leave my bike?"},
    {8, "When is my grandmother's birthday?"},
    {9, "When is the app due now?"},
    {10, "How do I like my coffee?"},
    {11, "Who is fixing the dripping tap in the kitchen?"},
    {12, "When does my travel document run out?"},
    {13, "Where is the extra key to the house?"},
    {14, "Which language am I studying?"},
    {15, "What time is the daily team meeting?"},
    {16, "How much did the boiler repair cost?"},
    {17, "How far do I jog on weekends?"},
    {18, "Which day does school finish early for the children?"},
    {19, "What is my blood group?"},
    {20, "When are the nightly backups?"},
    {21, "Who borrowed my camera?"},
    {22, "When does the gym subscription renew?"},
    {23, "What did the physician advise about my diet?"},
    {24, "When is the trip to Norway?"},
    {25, "Which seat do I like on a plane?"},
    {26, "Which printer has no toner?"},
    {27, "What instrument does my son play?"},
    {28, "Where is the insurance number kept?"},
    {29, "What is the name of our dog?"},
    {30, "How much did the power bill increase?"},
    {31, "What is my diet?"},
    {32, "When does the Vienna conference begin?"},
    {33, "How long does my laptop battery last?"},
    {34, "What are the neighbours working on?"},
    {35, "Where are the tax papers?"},
    {36, "By when must I return the library books?"},
    {37, "What music group do I like most?"},
    {38, "What is wrong with the garden hose?"},
    {39, "Where did I first meet my wife?"},
    {40, "Where will the company retreat take place?"},
    {41, "What does my brother do for a living?"},
    {42, "What time do I go to sleep?"},
    {43, "Where is the anniversary dinner booked?"},
    {44, "Which code review is waiting?"},
    {45, "What am I discussing with the bank?"},
    {46, "How long does the oven need to heat up?"},
    {47, "What scares my daughter?"},
    {48, "When did I stop the newspaper?"},
    {49, "What happened to my hiking boots?"}
};

Test(memory_glove, paraphrased_questions_find_facts_told_one_at_a_time)
{
    enum { NF = sizeof glove_facts / sizeof *glove_facts,
           NQ = sizeof glove_questions / sizeof *glove_questions };
    char gdir[4096], words[4200], path[4200], ids[NF][CVS_MAX_ID_LEN + 1];
    cvs_create_opts co = {.dim = 100, .metric = CVS_METRIC_COSINE};
    cvs_db *g;
    int first = 0, vfirst = 0;

    if (cvs_glove_dir(gdir, sizeof gdir) ||
        (snprintf(words, sizeof words, "%s/glove100.words", gdir), access(words, R_OK)))
        cr_skip_test("no GloVe cache (scripts/fetch-glove.sh)");
    dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/glove.cvs", dir);
    cr_assert_eq(cvs_db_create(path, &co, &g), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_db_set_embedder(g, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(g));
    for (int i = 0; i < NF; i++) {
        cvs_mem_remembered r;
        cr_assert_eq(cvs_mem_remember(g, glove_facts[i], 0, NULL, &r), 0, "%s", cvs_errmsg(g));
        cr_assert_eq(r.outcome, CVS_MEM_ADDED, "%s", glove_facts[i]);
        strcpy(ids[i], r.id);
    }
    for (int i = 0; i < NQ; i++) {
        cvs_mem_items r = {0};
        cvs_mem_recall_opts o = {.k = 3, .no_touch = 1};
        cr_assert_eq(cvs_mem_recall(g, glove_questions[i].q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
        first += r.n && !strcmp(r.items[0].id, ids[glove_questions[i].fact]);
        cvs_mem_items_free(&r);
        o.strategy = CVS_MEM_VECTOR;
        cr_assert_eq(cvs_mem_recall(g, glove_questions[i].q, 0, &o, &r), 0, "%s", cvs_errmsg(g));
        vfirst += r.n && !strcmp(r.items[0].id, ids[glove_questions[i].fact]);
        cvs_mem_items_free(&r);
    }
    cr_log_info("right memory first: %d of %d (hybrid), %d (vector only)", first, NQ, vfirst);
    cvs_db_close(g);
    tu_rmrf(dir);
    free(dir);
    dir = NULL;
    /* Measured: 42 and 40 of 50 (41 and 40 before memory.c rule 11; 40 and
     * 40 before rules 9 and 10;
     * 38 and 32 before recall's inflection and name rules, memory.c rules
     * 7 and 8, which weigh the vector-only ranking too); 35 and 21 when the common component was fitted on the
     * first texts (never, for memories told one at a time). */
    cr_assert_geq(first, NQ * 7 / 10, "hybrid: right memory first for %d of %d", first, NQ);
    cr_assert_geq(vfirst, NQ * 11 / 20, "vector: right memory first for %d of %d", vfirst, NQ);
}

/* An argument a tool does not take is refused, named with the one it most
 * likely meant, and nothing is done: "meta" for "metadata" would have
 * stored the memory without its metadata, "namespce" in the default
 * namespace, and the agent would never have known. */
Test(mcp, an_unknown_argument_is_refused_with_a_suggestion)
{
    static const char input[] =
        TOOL_CALL(0, "remember", "{\"text\":\"alice lives in paris\",\"meta\":{\"k\":1}}")
        TOOL_CALL(1, "remember", "{\"text\":\"alice lives in paris\",\"namespce\":\"x\"}")
        TOOL_CALL(2, "list", "{}")
        TOOL_CALL(3, "recall", "{\"query\":\"paris\",\"budget\":5}")
        TOOL_CALL(4, "forget", "{\"filter\":{},\"zzz\":1}")
        TOOL_CALL(5, "remember", "{\"text\":\"alice lives in paris\",\"metadata\":{\"k\":1}}")
        TOOL_CALL(6, "list", "{}");
    json_t *msg[8] = {0};
    static const char *const want[] = {
        "remember: unknown argument 'meta' (did you mean 'metadata'?)",
        "remember: unknown argument 'namespce' (did you mean 'namespace'?)", NULL,
        "recall: unknown argument 'budget' (did you mean 'token_budget'?)",
        "forget: unknown argument 'zzz'; it takes id, filter, namespace"};
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 8), 7);
    for (size_t i = 0; i < 5; i++) {
        const char *m = json_string_value(json_object_get(json_object_get(msg[i], "error"), "message"));
        if (!want[i])
            continue;
        cr_assert_eq(ERRCODE(i), -32602, "reply %zu", i);
        cr_assert(m && strstr(m, want[i]) && strstr(m, "nothing was done"), "%s", m ? m : "(none)");
    }
    cr_assert_eq(json_array_size(json_object_get(json_object_get(RESULT(2), "structuredContent"),
                                                 "memories")), 0, "nothing was stored");
    cr_assert(json_is_false(json_object_get(RESULT(5), "isError")));
    {
        json_t *mem = json_object_get(json_object_get(RESULT(6), "structuredContent"), "memories");
        cr_assert_eq(json_array_size(mem), 1);
        cr_assert_eq(json_integer_value(json_object_get(
                         json_object_get(json_array_get(mem, 0), "metadata"), "k")), 1);
    }
    free_replies(msg, 7);
}

/* A value the library refuses in a well-formed request (a memory over the
 * size cap, a supersedes naming no memory, a blank namespace) is the
 * tool's error with the library's message, not "malformed input"; and a
 * blank namespace can still be read. */
Test(mcp, a_refused_value_is_not_called_malformed)
{
    enum { BIG = 70000 };
    char *input = malloc(BIG + 4096), *p;
    json_t *msg[6] = {0};
    p = input + sprintf(input,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"alice lives in paris\",\"supersedes\":\"m0123456789abcdef\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"");
    cr_assert_not_null(input);
    for (size_t i = 0; i < BIG / 6; i++)
        p += sprintf(p, "alice ");
    sprintf(p,
        "\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"alice lives in paris\",\"namespace\":\" \"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\","
        "\"arguments\":{\"text\":\"alice lives in paris\",\"namespace\":\"a\\nb\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\","
        "\"arguments\":{\"query\":\"paris\",\"namespace\":\" \"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"list\","
        "\"arguments\":{\"namespace\":\"a\\nb\"}}}\n");
    cr_assert_eq(tu_mcp_glove(dir, mcp_words, mcp_vecs, 3, input, msg, 6), 6);
    free(input);
    static const char *const want[] = {"remember: supersedes: no memory \"m0123456789abcdef\"",
                                       "remember: a memory of ", "remember: namespace \" \" is blank",
                                       "remember: namespace holds a control character"};
    for (size_t i = 0; i < 4; i++) {
        json_t *res = json_object_get(msg[i], "result");
        const char *m = json_string_value(
            json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
        cr_assert_null(json_object_get(msg[i], "error"), "reply %zu is a JSON-RPC error", i);
        cr_assert(json_is_true(json_object_get(res, "isError")), "reply %zu", i);
        cr_assert(m && !strncmp(m, want[i], strlen(want[i])), "reply %zu: %s", i, m ? m : "(none)");
        cr_assert(!strstr(m, "malformed"), "reply %zu: %s", i, m);
    }
    for (size_t i = 4; i < 6; i++) {
        json_t *res = json_object_get(msg[i], "result");
        cr_assert(json_is_false(json_object_get(res, "isError")), "reply %zu", i);
        cr_assert_eq(json_array_size(json_object_get(json_object_get(res, "structuredContent"),
                                                     "memories")), 0);
    }
    free_replies(msg, 6);
}
