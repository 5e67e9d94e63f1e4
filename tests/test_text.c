/* test_text.c -- the text layer: tokenizer, titles, BM25 (scores against a
 * hand-computed example, maintenance through put/update/delete, old stores),
 * the SIF embedder on a tiny generated GloVe cache, embedder bookkeeping
 * (mismatch refusal), and the HTTP embedder against a local server
 * (tests/embed_server.py). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvstore.h"
#include "query/embed.h"
#include "query/text.h"
#include "store/db.h"
#include "tests/testutil.h"
#include "text/tokenize.h"

/* ==== Tokenizer ==== */

/* Tokens of s joined by '|'. */
static char *toks(const char *s, unsigned flags)
{
    static char out[1024];
    cvs_tokens t = {0};
    size_t n = 0;
    cr_assert_eq(cvs__tokenize(s, strlen(s), flags, &t), 0, "%s", cvs_errmsg(NULL));
    out[0] = '\0';
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(strlen(t.buf + t.off[i]), t.len[i]);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "|" : "", t.buf + t.off[i]);
    }
    cvs__tokens_free(&t);
    return out;
}

Test(tokenize, case_punctuation_stop_words)
{
    cr_assert_str_eq(toks("Hello, World! The cat's HAT.", 0), "hello|world|cat|hat");
    cr_assert_str_eq(toks("e-mail costs 3.14 dollars; don't", 0), "e|mail|costs|3|14|dollars|don");
    cr_assert_str_eq(toks("The cat is on the mat", CVS_TOK_KEEP_STOP), "the|cat|is|on|the|mat");
    cr_assert_str_eq(toks("  \t\n ", 0), "");
    cr_assert_str_eq(toks("", 0), "");
    cr_assert_str_eq(toks("the of and", 0), "");
    cr_assert_str_eq(toks("snake_case x1y2", 0), "snake|case|x1y2");
}

Test(tokenize, unicode_folding)
{
    /* NFKC casefold: ß, ligatures, full-width forms, circled digits. */
    cr_assert_str_eq(toks("Straße", 0), "strasse");
    cr_assert_str_eq(toks("\xef\xac\x81ne", 0), "fine");                  /* "ﬁne" */
    cr_assert_str_eq(toks("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", 0), "abc"); /* "ＡＢＣ" */
    cr_assert_str_eq(toks("\xe2\x91\xa0", 0), "1");                       /* "①" */
    /* Soft hyphen is ignorable: one word. */
    cr_assert_str_eq(toks("co\xc2\xadoperate", 0), "cooperate");
    /* Accents kept unless stripping is asked for; decomposed input composes. */
    cr_assert_str_eq(toks("Café naïve", 0), "café|naïve");
    cr_assert_str_eq(toks("Cafe\xcc\x81", 0), "café");
    cr_assert_str_eq(toks("Café naïve Beyoncé", CVS_TOK_STRIP_ACCENTS), "cafe|naive|beyonce");
    cr_assert_str_eq(toks("ΣΟΦΌΣ", CVS_TOK_STRIP_ACCENTS), "σοφοσ");
    /* Non-Latin letters and digits are word characters; CJK punctuation is not. */
    cr_assert_str_eq(toks("Москва — столица", 0), "москва|столица");
    cr_assert_str_eq(toks("東京\xe3\x80\x82大阪", 0), "東|東京|京|大|大阪|阪"); /* deviation 2 */
}

Test(tokenize, limits_and_errors)
{
    char big[200];
    cvs_tokens t = {0};
    memset(big, 'a', 65);
    strcpy(big + 65, " ok ");
    memset(big + 69, 'b', 64);
    big[133] = '\0';
    /* 65 bytes dropped, 64 kept. */
    cr_assert_eq(cvs__tokenize(big, strlen(big), 0, &t), 0);
    cr_assert_eq(t.n, 2);
    cr_assert_str_eq(t.buf + t.off[0], "ok");
    cr_assert_eq(t.len[1], 64);
    cr_assert_eq(cvs__tokenize("bad \xff utf8", 10, 0, &t), CVS_EINPUT);
    cvs__tokens_free(&t);
    cvs__tokens_free(&t); /* twice is fine */
}

Test(tokenize, stop_list)
{
    const char *stop[] = {"a", "the", "of", "with", "s", "t", "which", "were"};
    const char *keep[] = {"not", "no", "new", "first", "cat", "thee", "ab", ""};
    for (size_t i = 0; i < 8; i++) {
        cr_assert(cvs__is_stopword(stop[i], strlen(stop[i])), "%s", stop[i]);
        cr_assert(!cvs__is_stopword(keep[i], strlen(keep[i])), "%s", keep[i]);
    }
}

/* CVS_TOK_CAPS: how each kept token was written, capitals outside ASCII
 * too; the tokens themselves are those of a call without the flag. */
static char *caps_of(const char *s, unsigned flags, int *any)
{
    static char out[256];
    cvs_tokens t = {0}, u = {0};
    size_t n = 0;
    cr_assert_eq(cvs__tokenize(s, strlen(s), flags | CVS_TOK_CAPS, &t), 0);
    cr_assert_eq(cvs__tokenize(s, strlen(s), flags, &u), 0);
    cr_assert_eq(t.n, u.n, "%s", s);
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_str_eq(t.buf + t.off[i], u.buf + u.off[i]);
        out[n++] = t.caps[i] ? 'C' : 'l';
    }
    out[n] = '\0';
    *any = t.caps_any;
    cvs__tokens_free(&t);
    cvs__tokens_free(&u);
    return out;
}

Test(tokenize, capitals_as_written)
{
    int any;
    /* Émile, ÉCOLE, Straße (folds to two letters more), İstanbul (folds to
     * i and a combining dot), the titlecase digraph ǅ, Greek, an uncased
     * script (北京: three tokens, deviation 2) and a digit. */
    cr_assert_str_eq(caps_of("Émile ÉCOLE Straße İstanbul \xc7\x85" "emal Σοφός σοφός 北京 3M iPhone "
                             "guest", CVS_TOK_STRIP_ACCENTS, &any),
                     "CCCCCClllllll");
    cr_assert(any);
    /* Stop words are dropped, but their capitals say the text uses case. */
    cr_assert_str_eq(caps_of("The guest and a pilot", 0, &any), "ll");
    cr_assert(any);
    cr_assert_str_eq(caps_of("the guest and a pilot", 0, &any), "ll");
    cr_assert_not(any);
    cr_assert_str_eq(caps_of("ﬁne \xef\xbc\xa1" "BC", 0, &any), "lC");  /* "ﬁne ＡBC" */
    cr_assert_str_eq(caps_of("", 0, &any), "");
    cr_assert_not(any);
}

/* Chinese and Japanese (deviation 2): overlapping bigrams over runs of
 * Han and kana, each Han character a token too, before its pair; a lone
 * character is itself; Hangul keeps its words. */
Test(tokenize, cjk_bigrams)
{
    cr_assert_str_eq(toks("パスワード", 0), "パス|スワ|ワー|ード");
    cr_assert_str_eq(toks("北京大学", 0), "北|北京|京|京大|大|大学|学");
    cr_assert_str_eq(toks("猫", 0), "猫");
    cr_assert_str_eq(toks("の", 0), "の");
    /* Punctuation ends a run; kana after Han continue it. */
    cr_assert_str_eq(toks("東京。大阪", 0), "東|東京|京|大|大阪|阪");
    cr_assert_str_eq(toks("猫がいる", 0), "猫|猫が|がい|いる");
    /* A run of several scripts: the CJK stretch alone is split. */
    cr_assert_str_eq(toks("iPhone用のパスワード", 0), "iphone|用|用の|のパ|パス|スワ|ワー|ード");
    cr_assert_str_eq(toks("Reset パスワード now", 0), "reset|パス|スワ|ワー|ード|now");
    /* Full-width Latin and half-width katakana fold first (NFKC). */
    cr_assert_str_eq(toks("\xef\xbc\xa1\xef\xbc\xb0\xef\xbc\xa9キー", 0), "api|キー"); /* ＡＰＩキー */
    cr_assert_str_eq(toks("ﾊﾟｽﾜｰﾄﾞ", 0), "パス|スワ|ワー|ード");
    /* Hangul is written with spaces: words stay words. */
    cr_assert_str_eq(toks("비밀번호 변경", 0), "비밀번호|변경");
    /* Stripping accents keeps the kana voicing marks (deviation 6),
     * precomposed, decomposed or half-width, and strips the Latin ones
     * next to them. */
    cr_assert_str_eq(toks("パスワード", CVS_TOK_STRIP_ACCENTS), "パス|スワ|ワー|ード");
    cr_assert_str_eq(toks("ハ\xe3\x82\x9aス バス", CVS_TOK_STRIP_ACCENTS), "パス|バス");
    cr_assert_str_eq(toks("ﾊﾟｽﾜｰﾄﾞ café", CVS_TOK_STRIP_ACCENTS), "パス|スワ|ワー|ード|cafe");
    /* A private-use character there is no kana (and no letter). */
    cr_assert_str_eq(toks("x\xf3\xb0\x82\xab" "y", CVS_TOK_STRIP_ACCENTS), "x|y");
    /* A long run is no longer dropped whole: 40 characters, 120 bytes. */
    {
        char run[256] = "";
        for (int i = 0; i < 40; i++)
            strcat(run, i % 2 ? "語" : "日");
        cvs_tokens t = {0};
        cr_assert_eq(cvs__tokenize(run, strlen(run), 0, &t), 0);
        cr_assert_eq(t.n, 40 + 39);
        cvs__tokens_free(&t);
    }
    /* Case is the run's: CJK has none. */
    {
        int any;
        cr_assert_str_eq(caps_of("東京タワー Tokyo", CVS_TOK_STRIP_ACCENTS, &any), "llllllC");
        cr_assert(any);
    }
}

/* ==== Store helpers ==== */

static char *dir;
static cvs_db *db;

static void mkstore(uint32_t dim, cvs_metric m)
{
    cvs_create_opts o = {dim, m, CVS_RAW_F32};
    tu_store_create(&o, NULL, &dir, &db);
}

static void teardown(void)
{
    tu_store_remove(&dir, &db);
}

static void put(const char *id, const char *title, const char *text)
{
    float v[4] = {1, 0.5f, 0.25f, 0.125f};
    cvs_record r = {0};
    r.id = id;
    r.id_len = strlen(id);
    r.vector = v;
    if (title) {
        r.title = title;
        r.title_len = strlen(title);
    }
    if (text) {
        r.text = text;
        r.text_len = strlen(text);
    }
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

static void del(const char *id)
{
    size_t len = strlen(id), n;
    cr_assert_eq(cvs_delete(db, &id, &len, 1, &n), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(n, 1);
}

static int64_t key_of(const char *id)
{
    cvs_txn *t;
    cvs_record r;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0, "%s", cvs_errmsg(db));
    cvs_txn_end(t);
    return r.key;
}

/* Top-k ids of a BM25 query, joined by '|'. */
static char *search(const char *q, size_t k, float *scores)
{
    static char out[1024];
    int64_t keys[16];
    float s[16];
    cvs_txn *t;
    size_t n = 0;
    cr_assert(k <= 16);
    cr_assert_eq(cvs_text_search(db, q, strlen(q), k, keys, s), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        const char *id;
        size_t len;
        if (scores)
            scores[i] = s[i];
        if (keys[i] < 0) {
            cr_assert(isnan(s[i]));
            continue;
        }
        cr_assert_eq(cvs_key_id(t, keys[i], &id, &len), 0);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? "|" : "", (int)len, id);
    }
    cvs_txn_end(t);
    return out;
}

static void stats(uint64_t *ndocs, uint64_t *total)
{
    cvs_txn *t;
    MDB_val k = {4, "bm25"}, v;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    *ndocs = *total = 0;
    if (mdb_get(t->txn, db->dbi_meta, &k, &v) == 0) {
        cr_assert_eq(v.mv_size, 24);
        cr_assert_eq(cvs__get_u32(v.mv_data), CVS_TOKENIZER_VERSION);
        *ndocs = cvs__get_u64((unsigned char *)v.mv_data + 8);
        *total = cvs__get_u64((unsigned char *)v.mv_data + 16);
    }
    cvs_txn_end(t);
}

/* ==== BM25 ==== */

TestSuite(bm25, .fini = teardown);

Test(bm25, hand_computed_scores)
{
    float s[4];
    uint64_t n, tot;
    mkstore(4, CVS_METRIC_L2);
    put("d1", "Cats", "cats chase mice"); /* cats cats chase mice: dl 4 */
    put("d2", NULL, "Dogs chase the cats"); /* dogs chase cats: dl 3 ("the" is a stop word) */
    put("d3", NULL, "birds sing");          /* dl 2 */
    put("d4", NULL, "the of and");          /* no tokens: not a document */
    stats(&n, &tot);
    cr_assert_eq(n, 3);
    cr_assert_eq(tot, 9); /* avgdl 3 */

    /* "cats": df 2, idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6 = 0.4700036
     * d1: tf 2, dl 4: 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 4/3)) = 4.4 / 3.5 = 1.2571429
     *     -> 0.5908617
     * d2: tf 1, dl 3: 2.2 / (1 + 1.2) = 1 -> 0.4700036 */
    cr_assert_str_eq(search("cats", 4, s), "d1|d2");
    cr_assert_float_eq(s[0], 0.5908617f, 1e-5);
    cr_assert_float_eq(s[1], 0.4700036f, 1e-5);
    cr_assert(isnan(s[2]) && isnan(s[3]));

    /* "Chase MICE!": chase df 2 (idf 0.4700036), mice df 1
     * (idf ln(1 + 2.5 / 1.5) = 0.9808293).
     * d1: dl 4, tf 1 each: 2.2 / (1 + 1.5) = 0.88 -> 0.88 * (0.4700036 + 0.9808293) = 1.2767330
     * d2: chase only, dl 3 -> 0.4700036 */
    cr_assert_str_eq(search("Chase MICE!", 3, s), "d1|d2");
    cr_assert_float_eq(s[0], 1.2767330f, 1e-5);
    cr_assert_float_eq(s[1], 0.4700036f, 1e-5);

    /* A repeated query word counts once; stop words and unknown words add nothing. */
    cr_assert_str_eq(search("the cats cats zebra", 4, s), "d1|d2");
    cr_assert_float_eq(s[0], 0.5908617f, 1e-5);
    cr_assert_str_eq(search("the of", 2, s), "");
    cr_assert_str_eq(search("", 2, NULL), "");
    cr_assert_str_eq(search("cats", 1, NULL), "d1");
    cr_assert_eq(cvs_text_search(db, "cats", 4, 0, NULL, NULL), 0);
}

/* Document frequencies and idf as hand-computed (query/memory.c reads
 * them to tell a word no memory has, rule 9, and to weigh words, rule 10). */
Test(bm25, document_frequency_and_idf)
{
    const char *terms[3] = {"cats", "mice", "zebra"};
    size_t lens[3] = {4, 4, 5}, df = 9;
    double idf[3];
    cvs_txn *t;
    mkstore(4, CVS_METRIC_L2);
    put("d1", "Cats", "cats chase mice");
    put("d2", NULL, "Dogs chase the cats");
    put("d3", NULL, "birds sing");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__bm25_df(t, "cats", 4, &df), 0);
    cr_assert_eq(df, 2);
    cr_assert_eq(cvs__bm25_df(t, "mice", 4, &df), 0);
    cr_assert_eq(df, 1);
    cr_assert_eq(cvs__bm25_df(t, "zebra", 5, &df), 0);
    cr_assert_eq(df, 0);
    cr_assert_eq(cvs__bm25_idf(t, terms, lens, 3, idf), 0);
    cr_assert_float_eq(idf[0], log(1.6), 1e-9);           /* df 2 of 3 */
    cr_assert_float_eq(idf[1], log(1 + 2.5 / 1.5), 1e-9); /* df 1 */
    cr_assert_float_eq(idf[2], log(1 + 3.5 / 0.5), 1e-9); /* df 0 */
    cvs_txn_end(t);
}

/* Word forms (query/context.c, deviation 17): the vocabulary's terms
 * under a prefix come in byte order, and a class of forms scores as one
 * term of an index that wrote every form as one word would: the same keys
 * and scores as plain BM25 over a store with "invent" in place of each
 * form, and a class of one form as that term alone. */
static int collect_term(void *ctx, const char *term, size_t len)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%.*s", n ? "|" : "", (int)len, term);
    return CVS_OK;
}

static void put_forms(const char *a, const char *b)
{
    char t1[64], t2[64];
    snprintf(t1, sizeof t1, "the %s of the telephone", a);
    snprintf(t2, sizeof t2, "bakers %s bread and %s cakes", b, a);
    put("d1", NULL, t1);
    put("d2", NULL, t2);
    put("d3", NULL, "a telephone line to the quarry");
    put("d4", NULL, "granite by rail");
}

Test(bm25, word_form_classes_score_as_one_term)
{
    cvs__form forms[3] = {{"invention", 9, 0}, {"invented", 8, 0}, {"telephone", 9, 1}},
              one = {"telephone", 9, 0};
    int64_t ck[4], pk[4];
    float cs[4], ps[4], os[4];
    char listed[256] = "";
    int ordered = 0;
    cvs_txn *t;

    mkstore(4, CVS_METRIC_L2);
    put_forms("invention", "invented");
    put("d5", NULL, "inventory of the inventors");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs__bm25_terms_prefixed(t, "inven", 5, &ordered, collect_term, listed), 0);
    cr_assert(ordered);
    cr_assert_str_eq(listed, "invented|invention|inventors|inventory");
    cr_assert_eq(cvs__bm25_search_classes(t, forms, 3, 4, ck, cs), 0,
                 "%s", cvs_errmsg(db));
    /* A class of one form scores as plain BM25 does. */
    cr_assert_eq(cvs__bm25_search_classes(t, &one, 1, 4, pk, os), 0);
    cvs_txn_end(t);
    cr_assert_str_eq(search("telephone", 4, ps), "d1|d3");
    cr_assert_float_eq(os[0], ps[0], 1e-6);
    cr_assert_float_eq(os[1], ps[1], 1e-6);
    cr_assert_eq(pk[0], key_of("d1"));
    cr_assert_eq(pk[1], key_of("d3"));
    cr_assert_eq(pk[2], -1);
    teardown();

    /* The same records with every form written "invent". */
    mkstore(4, CVS_METRIC_L2);
    put_forms("invent", "invent");
    put("d5", NULL, "inventory of the inventors");
    cr_assert_eq(cvs_text_search(db, "invent telephone", 16, 4, pk, ps), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ck[i], pk[i], "rank %d", i);
        if (pk[i] >= 0)
            cr_assert_float_eq(cs[i], ps[i], 1e-6, "rank %d", i);
    }
    cr_assert_geq(pk[2], 0); /* d1, d2 and d3 */
}

/* The public calls a store answers word forms across stores with
 * (cvstore-mpi's shards): the classes of a question's terms in the
 * store's vocabulary (cvs_txn_word_classes), their df (the records
 * holding any form: d2 holds two forms of one class, and counts once),
 * and the class search with statistics handed in.  The records split over
 * two stores, each finding the classes in its own vocabulary and scoring
 * with the sums of both stores' statistics, give one store's keys and
 * scores, bit for bit. */
typedef struct id_score {
    char id[8];
    float score;
} id_score;

static int cmp_id_score(const void *a, const void *b)
{
    const id_score *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static const char forms_q[] = "invented\0telephone";

/* The store d's classes of forms_q into *wc, and its statistics added to
 * sum (N, total, each class's df). */
static void word_classes_add(cvs_db *d, cvs_word_classes *wc, uint64_t *sum)
{
    cvs_terms q = {forms_q, sizeof forms_q, 2};
    cvs_txn *t;
    uint64_t nd, tot, df[2];
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(cvs_txn_word_classes(t, &q, wc), 0, "%s", cvs_errmsg(d));
    cr_assert(wc->ordered);
    cr_assert_eq(wc->classes.nclasses, 2);
    cr_assert_eq(cvs_txn_text_class_stats(t, &wc->classes, &nd, &tot, df), 0, "%s",
                 cvs_errmsg(d));
    cvs_txn_end(t);
    sum[0] += nd;
    sum[1] += tot;
    sum[2] += df[0];
    sum[3] += df[1];
}

/* The class search of tc over the store d with statistics st, its hits
 * appended to out[*n] by id. */
static void class_hits(cvs_db *d, const cvs_term_classes *tc, const cvs_text_stats *st,
                       id_score *out, size_t *n)
{
    cvs_txn *t;
    int64_t k[8];
    float sc[8];
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(cvs_txn_text_search_classes(t, tc, st, 8, k, sc), 0, "%s", cvs_errmsg(d));
    for (size_t i = 0; i < 8 && k[i] >= 0; i++) {
        const char *id;
        size_t len;
        cr_assert_eq(cvs_key_id(t, k[i], &id, &len), 0);
        snprintf(out[*n].id, sizeof out[*n].id, "%.*s", (int)len, id);
        out[(*n)++].score = sc[i];
    }
    cvs_txn_end(t);
}

Test(bm25, word_form_classes_over_two_stores_score_as_one)
{
    static const char fbuf[] = "invention\0invented\0telephone";
    static const uint32_t cls[] = {0, 0, 1};
    cvs_term_classes tc = {{fbuf, sizeof fbuf, 3}, cls, 2};
    cvs__form forms[3] = {{"invention", 9, 0}, {"invented", 8, 0}, {"telephone", 9, 1}};
    cvs_create_opts co = {4, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_word_classes wc, wa, wb;
    char *dir2 = NULL, *dir3 = NULL;
    cvs_db *one, *a = NULL, *b = NULL;
    uint64_t whole[4] = {0}, split[4] = {0};
    id_score h1[16], h2[16];
    size_t n1 = 0, n2 = 0;
    int64_t ik[8], pk[8];
    float is[8], ps[8];
    cvs_txn *t;

    mkstore(4, CVS_METRIC_L2);
    put_forms("invention", "invented");
    put("d5", NULL, "inventory of the inventors");
    one = db;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    /* With no statistics given, the public search is the internal one. */
    cr_assert_eq(cvs__bm25_search_classes(t, forms, 3, 8, ik, is), 0);
    cr_assert_eq(cvs_txn_text_search_classes(t, &tc, NULL, 8, pk, ps), 0, "%s", cvs_errmsg(db));
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(ik[i], pk[i], "rank %d", i);
        cr_assert(ik[i] < 0 || is[i] == ps[i], "rank %d: %g, %g", i, is[i], ps[i]);
    }
    /* Bad classes: refused, naming the form. */
    uint32_t over[] = {0, 2, 1};
    cvs_term_classes bad = {{fbuf, sizeof fbuf, 3}, over, 2};
    cr_assert_eq(cvs_txn_text_search_classes(t, &bad, NULL, 8, pk, ps), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "invented"), "%s", cvs_errmsg(db));
    static const char twice[] = "invention\0invention";
    cvs_term_classes dup = {{twice, sizeof twice, 2}, cls, 2};
    cr_assert_eq(cvs_txn_text_search_classes(t, &dup, NULL, 8, pk, ps), CVS_EINVAL);
    cvs_txn_end(t);
    /* The question's classes: "invented" finds "invention" (not
     * "inventors", "inventory": other stems), "telephone" itself. */
    word_classes_add(db, &wc, whole);
    cr_assert_eq(wc.other, 1);
    cr_assert_eq(wc.classes.forms.n, 3);
    cr_assert_eq(wc.classes.forms.bytes, sizeof fbuf);
    for (size_t i = 0, at = 0; i < 3; at += strlen(wc.classes.forms.buf + at) + 1, i++) {
        const char *f = wc.classes.forms.buf + at;
        cr_assert_eq(wc.classes.cls[i], strcmp(f, "telephone") ? 0u : 1u, "%s", f);
        cr_assert(!strcmp(f, "invented") || !strcmp(f, "invention") || !strcmp(f, "telephone"),
                  "%s", f);
    }
    cr_assert_eq(whole[0], 5);
    cr_assert_eq(whole[2], 2, "the class's df is its union's: d1 and d2, not %llu",
                 (unsigned long long)whole[2]);
    cr_assert_eq(whole[3], 2);
    cvs_text_stats ws = {whole[0], whole[1], whole + 2};
    class_hits(db, &wc.classes, &ws, h1, &n1);
    cr_assert_eq(n1, 3, "d1, d2, d3");

    /* The same records in two stores, each with its own classes. */
    tu_store_create(&co, NULL, &dir2, &a);
    tu_store_create(&co, NULL, &dir3, &b);
    db = a;
    put("d1", NULL, "the invention of the telephone");
    put("d5", NULL, "inventory of the inventors");
    db = b;
    put("d2", NULL, "bakers invented bread and invention cakes");
    put("d3", NULL, "a telephone line to the quarry");
    put("d4", NULL, "granite by rail");
    db = one;
    word_classes_add(a, &wa, split);
    word_classes_add(b, &wb, split);
    cr_assert_eq(memcmp(whole, split, sizeof whole), 0, "summed statistics differ");
    cvs_text_stats ss = {split[0], split[1], split + 2};
    class_hits(a, &wa.classes, &ss, h2, &n2);
    class_hits(b, &wb.classes, &ss, h2, &n2);
    qsort(h2, n2, sizeof *h2, cmp_id_score);
    cr_assert_eq(n2, n1);
    for (size_t i = 0; i < n1; i++) {
        cr_assert_str_eq(h1[i].id, h2[i].id, "rank %zu", i);
        cr_assert_eq(h1[i].score, h2[i].score, "rank %zu: %g, %g", i, h1[i].score, h2[i].score);
    }
    /* Each store alone (its own statistics) scores otherwise. */
    n2 = 0;
    class_hits(b, &wb.classes, NULL, h2, &n2);
    cr_assert_neq(h2[0].score, h1[0].score);
    cvs_word_classes_free(&wc);
    cvs_word_classes_free(&wa);
    cvs_word_classes_free(&wb);
    cvs_word_classes_free(NULL);
    tu_store_remove(&dir2, &a);
    tu_store_remove(&dir3, &b);
}

/* Bad terms and classes handed to the public calls are refused with a
 * message that says what is wrong, before any work: an empty string (no
 * term BM25 reads is empty; LMDB refused the key: "MDB_BAD_VALSIZE"), and
 * more classes than forms (a class holds a form; 2^31 classes of one form
 * looped over every class number, half a minute). */
Test(bm25, term_calls_refuse_empty_terms_and_classes_without_forms)
{
    static const char q[] = "invented\0\0telephone";
    static const uint32_t cls[] = {0, 1, 2};
    cvs_terms tm = {q, sizeof q, 3};
    cvs_term_classes tc = {{q, sizeof q, 3}, cls, 3};
    cvs_term_classes many = {{"invented", 9, 1}, cls, (size_t)1 << 31};
    uint64_t nd, tot, df[3];
    int64_t k[4];
    float sc[4];
    cvs_word_classes wc;
    cvs_txn *t;
    mkstore(4, CVS_METRIC_L2);
    put("d1", NULL, "the inventor invented the telephone");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_txn_text_stats(t, &tm, &nd, &tot, df), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "term 1 is empty"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_search_terms(t, &tm, NULL, 4, k, sc), CVS_EINPUT);
    cr_assert_eq(cvs_txn_text_class_stats(t, &tc, &nd, &tot, df), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "term 1 is empty"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_search_classes(t, &tc, NULL, 4, k, sc), CVS_EINPUT);
    cr_assert_eq(cvs_txn_word_classes(t, &tm, &wc), CVS_EINPUT);
    cr_assert_eq(wc.classes.forms.n, 0);
    cr_assert_eq(cvs_txn_text_search_classes(t, &many, NULL, 4, k, sc), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "2147483648 classes of 1 form"), "%s", cvs_errmsg(db));
    many.nclasses = 2;
    cr_assert_eq(cvs_txn_text_class_stats(t, &many, &nd, &tot, df), CVS_EINVAL);
    /* NULL where an argument is needed: CVS_EINVAL naming the call. */
    many.nclasses = 1;
    cr_assert_eq(cvs_txn_text_class_stats(t, &many, &nd, &tot, NULL), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "cvs_txn_text_class_stats: NULL"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_class_stats(NULL, &many, &nd, &tot, df), CVS_EINVAL);
    cr_assert_eq(cvs_txn_text_search_classes(t, &many, NULL, 4, NULL, sc), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "cvs_txn_text_search_classes: NULL"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_text_search_classes(t, &many, &(cvs_text_stats){1, 1, NULL}, 4, k, sc),
                 CVS_EINVAL);
    many.cls = NULL;
    cr_assert_eq(cvs_txn_text_search_classes(t, &many, NULL, 4, k, sc), CVS_EINVAL);
    cr_assert_eq(cvs_txn_word_classes(t, NULL, &wc), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "cvs_txn_word_classes: NULL"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_word_classes(t, &(cvs_terms){NULL, 4, 1}, &wc), CVS_EINVAL);
    cvs_word_classes_free(NULL);
    cvs_txn_end(t);
}

Test(bm25, titles_round_trip_and_are_indexed)
{
    cvs_txn *t;
    cvs_record r;
    mkstore(4, CVS_METRIC_L2);
    put("x", "Jeff Porcaro", "American drummer");
    put("y", NULL, "a drummer too");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "x", 1, &r, NULL), 0);
    cr_assert_eq(r.title_len, 12);
    cr_assert_eq(memcmp(r.title, "Jeff Porcaro", 12), 0);
    cr_assert_eq(cvs_get(t, "y", 1, &r, NULL), 0);
    cr_assert_null(r.title);
    cr_assert_eq(r.title_len, 0);
    cvs_txn_end(t);
    cr_assert_str_eq(search("porcaro", 4, NULL), "x");
    cr_assert_str_eq(search("drummer", 4, NULL), "y|x"); /* shorter document first */
    {
        float v[4] = {0};
        cvs_record bad = {.id = "z", .id_len = 1, .vector = v, .title = "\xff", .title_len = 1};
        cr_assert_eq(cvs_put(db, &bad, 1, 0, NULL, NULL), CVS_EINPUT);
        cr_assert(strstr(cvs_errmsg(db), "title"));
    }
}

Test(bm25, follows_put_update_delete)
{
    uint64_t n, tot;
    mkstore(4, CVS_METRIC_L2);
    put("a", "Paris", "capital of France");
    put("b", NULL, "Lyon is a city in France");
    put("c", NULL, "Berlin");
    cr_assert_str_eq(search("france", 4, NULL), "a|b");
    cr_assert_str_eq(search("paris", 4, NULL), "a");

    /* Update: the old words go, the new ones come, the key stays. */
    int64_t ka = key_of("a");
    put("a", NULL, "Marseille is a port");
    cr_assert_eq(key_of("a"), ka);
    cr_assert_str_eq(search("paris", 4, NULL), "");
    cr_assert_str_eq(search("france", 4, NULL), "b");
    cr_assert_str_eq(search("port", 4, NULL), "a");
    stats(&n, &tot);
    cr_assert_eq(n, 3);
    cr_assert_eq(tot, 2 + 3 + 1); /* marseille port | lyon city france | berlin */

    /* An update to no text at all leaves no postings and no document. */
    put("c", NULL, NULL);
    cr_assert_str_eq(search("berlin", 4, NULL), "");
    stats(&n, &tot);
    cr_assert_eq(n, 2);

    del("b");
    cr_assert_str_eq(search("france lyon", 4, NULL), "");
    del("a");
    stats(&n, &tot);
    cr_assert_eq(n, 0);
    cr_assert_eq(tot, 0);
    cr_assert_str_eq(search("port", 4, NULL), "");

    /* Nothing left in "terms" after everything is gone. */
    {
        cvs_txn *t;
        MDB_stat st;
        cr_assert_eq(cvs_txn_begin(db, &t), 0);
        cr_assert_eq(mdb_stat(t->txn, cvs__text(db)->dbi_terms, &st), 0);
        cr_assert_eq(st.ms_entries, 0);
        cvs_txn_end(t);
    }
    /* And the index survives a reopen. */
    put("d", "Rome", "Italy");
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_str_eq(search("rome italy", 4, NULL), "d");
}

Test(bm25, many_postings_span_pages)
{
    /* Enough documents for a term's postings to leave their node. */
    enum { N = 1500 };
    static char ids[N][16], texts[N][64];
    static cvs_record recs[N];
    float v[4] = {1, 2, 3, 4};
    mkstore(4, CVS_METRIC_L2);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(texts[i], sizeof texts[i], "common word%d%s", i, i == 777 ? " rare rare" : "");
        recs[i] = (cvs_record){.id = ids[i], .id_len = strlen(ids[i]), .vector = v,
                               .text = texts[i], .text_len = strlen(texts[i])};
    }
    cr_assert_eq(cvs_put(db, recs, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(search("rare common", 1, NULL), "r777");
    {
        int64_t keys[16];
        float s[16];
        cr_assert_eq(cvs_text_search(db, "common", 6, 16, keys, s), 0);
        for (int i = 0; i < 16; i++)
            cr_assert(keys[i] > 0);
    }
}

/* A store written before the text databases existed. */
Test(bm25, old_store_opens)
{
    char cmd[512];
    int64_t keys[2];
    float s[2];
    dir = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp '%s/fixture-v1/data.mdb' '%s/'", CVS_TEST_DATA, dir);
    cr_assert_eq(system(cmd), 0);
    /* Read-only: the index reads as empty. */
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_text_search(db, "alpha", 5, 2, keys, s), 0);
    cr_assert_eq(keys[0], -1);
    cvs_db_close(db);
    /* Writable: created and filled with the records already there. */
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_text_search(db, "alpha", 5, 2, keys, s), 0);
    cr_assert_eq(keys[0], key_of("a"));
    cr_assert_eq(keys[1], -1);
    {
        uint64_t problems = 9;
        cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
        cr_assert_eq(problems, 0);
    }
}

/* ==== SIF over a generated GloVe cache ==== */

static const char *vocab[] = {"king", "queen", "apple", "banana", "café", "beyonce", "paris", "fruit"};
#define NV 8
static float vecs[NV][4] = {
    {1, 0, 0, 0.5f}, {0.9f, 0.1f, 0, 0.5f}, {0, 1, 0, 0.5f}, {0, 0.9f, 0.1f, 0.5f},
    {0, 0, 1, 0.5f}, {0.3f, 0.3f, 0.3f, 0.5f}, {0.5f, 0, 0.5f, 0.5f}, {0, 0.7f, 0.3f, 0.5f},
};
static char *gdir;

static void write_glove(const char *d, const char *extra_word)
{
    char words[512] = "";
    unsigned char fv[NV * 20];
    for (int i = 0; i < NV; i++) {
        int32_t dim = 4;
        strcat(words, i == NV - 1 && extra_word ? extra_word : vocab[i]);
        strcat(words, "\n");
        memcpy(fv + i * 20, &dim, 4);
        memcpy(fv + i * 20 + 4, vecs[i], 16);
    }
    free(tu_write_file(d, CVS_GLOVE_WORDS, words, strlen(words)));
    free(tu_write_file(d, CVS_GLOVE_FVECS, fv, sizeof fv));
}

static void sif_setup(void)
{
    gdir = tu_tmpdir();
    write_glove(gdir, NULL);
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    mkstore(4, CVS_METRIC_COSINE);
}

static void sif_teardown(void)
{
    teardown();
    unsetenv("CVSTORE_GLOVE_DIR");
    tu_rmrf(gdir);
    free(gdir);
}

TestSuite(sif, .init = sif_setup, .fini = sif_teardown);

static double harmonic(int n)
{
    double h = 0;
    for (int r = 1; r <= n; r++)
        h += 1.0 / r;
    return h;
}

static double weight(int idx)
{
    double p = 1.0 / ((idx + 1) * harmonic(NV));
    return 1e-3 / (1e-3 + p);
}

/* The store's common component (meta "sif"): its kind, and the unit
 * vector in pc when there is one. */
static int stored_pc(cvs_db *d, float pc[4])
{
    cvs_txn *t;
    MDB_val k = {3, "sif"}, v;
    uint32_t kind;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(mdb_get(t->txn, d->dbi_meta, &k, &v), 0);
    memcpy(&kind, (unsigned char *)v.mv_data + 12, 4);
    cr_assert_eq(v.mv_size, 16 + (kind ? 16 : 0));
    if (kind)
        memcpy(pc, (unsigned char *)v.mv_data + 16, 16);
    cvs_txn_end(t);
    return (int)kind;
}

/* raw - (raw . pc) pc */
static void remove_pc(const double raw[4], const float pc[4], double out[4])
{
    double dot = 0;
    for (int d = 0; d < 4; d++)
        dot += raw[d] * pc[d];
    for (int d = 0; d < 4; d++)
        out[d] = raw[d] - dot * pc[d];
}

Test(sif, cache_dir_resolution)
{
    char buf[4096];
    cr_assert_eq(cvs_glove_dir(buf, sizeof buf), 0);
    cr_assert_str_eq(buf, gdir);
    unsetenv("CVSTORE_GLOVE_DIR");
    setenv("CVSTORE_CACHE", "/x/cache", 1);
    cr_assert_eq(cvs_glove_dir(buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "/x/cache/glove");
    unsetenv("CVSTORE_CACHE");
    setenv("XDG_CACHE_HOME", "/x/xdg", 1);
    cr_assert_eq(cvs_glove_dir(buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "/x/xdg/cvstore/glove");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/x/home", 1);
    cr_assert_eq(cvs_glove_dir(buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "/x/home/.cache/cvstore/glove");
    cr_assert_eq(cvs_glove_dir(buf, 5), CVS_EINVAL);
}

/* msg tells the user to run `bash PATH ...` with PATH the GloVe fetcher,
 * by a full path to a file that exists. */
static void assert_names_fetcher(const char *msg)
{
    char fetch[4200];
    cr_assert(tu_names_fetcher(msg, "fetch-glove.sh", fetch, sizeof fetch), "%s", msg);
}

Test(sif, missing_cache_names_path_and_command)
{
    setenv("CVSTORE_GLOVE_DIR", "/nonexistent/glove", 1);
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_NOTFOUND);
    cr_assert(strstr(cvs_errmsg(db), "/nonexistent/glove/glove100.words"), "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "fetch-glove.sh"), "%s", cvs_errmsg(db));
    /* The command names a fetcher that exists here ("bash PATH DIR"):
     * this checkout's scripts/, not a path relative to the cwd. */
    assert_names_fetcher(cvs_errmsg(db));
    /* Nothing was recorded. */
    cvs_embedder_info info;
    cr_assert_eq(cvs_db_embedder_info(db, &info), CVS_NOTFOUND);
}

/* A damaged cache (a cut download: fewer vectors than words) is named with
 * a remedy that works: the fetcher skips files that are there, so the
 * message says to remove them first, and names the fetcher by its path
 * ("fetch them again" alone sent the user to a fetcher that did nothing). */
Test(sif, damaged_cache_says_remove_then_fetch)
{
    char dir[] = "/tmp/cvs-glove-XXXXXX", path[4200];
    float row[5] = {0};
    int32_t d = 4;
    FILE *f;
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/glove100.words", dir);
    cr_assert((f = fopen(path, "w")));
    fputs("alpha\nbeta\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/glove100.fvecs", dir);
    cr_assert((f = fopen(path, "wb")));
    memcpy(row, &d, 4);
    fwrite(row, sizeof row, 1, f); /* one vector of the two */
    fclose(f);
    setenv("CVSTORE_GLOVE_DIR", dir, 1);
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(db), path), "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "remove"), "%s", cvs_errmsg(db));
    assert_names_fetcher(cvs_errmsg(db));
    remove(path);
    snprintf(path, sizeof path, "%s/glove100.words", dir);
    remove(path);
    rmdir(dir);
}

/* A value that is not a finite number in the vectors file (a flipped bit
 * of a download) is a damaged cache too, named with the same remedy:
 * `init --embedder glove` said "internal error: LAPACK dsyev failed (-5)"
 * (exit 2), and on a store made before the damage an import blamed its own
 * file ("record ...: value 0 is not finite") and `search --text` its query. */
Test(sif, non_finite_value_is_a_damaged_cache)
{
    char *bad = tu_tmpdir(), path[4200];
    unsigned char fv[NV * 20];
    int32_t dim = 4;
    float nan_row[4] = {0, NAN, 0, 0.5f}, out[4], pc[4];
    const char *banana = "banana", *king = "king";
    size_t blen = 6, klen = 4;
    size_t n;
    long idx[NV];
    float cos[NV];
    cvs_sif *s;
    for (int i = 0; i < NV; i++) {
        memcpy(fv + i * 20, &dim, 4);
        memcpy(fv + i * 20 + 4, i == 3 ? nan_row : vecs[i], 16);
    }
    write_glove(bad, NULL);
    free(tu_write_file(bad, CVS_GLOVE_FVECS, fv, sizeof fv));
    snprintf(path, sizeof path, "%s/%s", bad, CVS_GLOVE_FVECS);
    /* the store: refused as damaged, with the remedy; nothing recorded */
    setenv("CVSTORE_GLOVE_DIR", bad, 1);
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_ECORRUPT, "%s",
                 cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), path), "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "banana"), "%s", cvs_errmsg(db));
    cr_assert(strstr(cvs_errmsg(db), "remove"), "%s", cvs_errmsg(db));
    assert_names_fetcher(cvs_errmsg(db));
    {
        cvs_embedder_info info;
        cr_assert_eq(cvs_db_embedder_info(db, &info), CVS_NOTFOUND);
    }
    /* the reader: the damaged word is an error wherever it is read, the
     * others embed as before */
    cr_assert_eq(cvs__sif_load(bad, &s), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__sif_embed(s, 1e-3f, &king, &klen, 1, out, NULL), 0, "%s",
                 cvs_errmsg(NULL));
    cr_assert_eq(cvs__sif_embed(s, 1e-3f, &banana, &blen, 1, out, NULL), CVS_ECORRUPT);
    cr_assert(strstr(cvs_errmsg(NULL), path), "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__sif_vocab_pc(s, 1e-3f, pc), CVS_ECORRUPT, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs__sif_unit(s, 3, out), CVS_ECORRUPT);
    cr_assert_eq(cvs__sif_neighbours(s, 2, NV, 0.6f, idx, cos, NV, &n), CVS_ECORRUPT);
    cvs__sif_free(s);
    tu_rmrf(bad);
    free(bad);
}

/* The weighted mean of a text's words, before the component's removal. */
static void raw_sif(const int *words, int n, double out[4])
{
    for (int d = 0; d < 4; d++) {
        out[d] = 0;
        for (int i = 0; i < n; i++)
            out[d] += weight(words[i]) * vecs[words[i]][d];
        out[d] /= n;
    }
}

static void assert_embeds_as(const char *text, const int *words, int n, const float pc[4])
{
    double raw[4], want[4];
    float out[4];
    cr_assert_eq(cvs_embed_text(db, text, 0, out), 0, "%s: %s", text, cvs_errmsg(db));
    raw_sif(words, n, raw);
    remove_pc(raw, pc, want);
    for (int d = 0; d < 4; d++)
        cr_assert_float_eq(out[d], want[d], 1e-6, "%s: axis %d: %g, not %g", text, d, out[d],
                           want[d]);
}

Test(sif, weighted_mean_and_accent_fallback)
{
    float out[4], two[4], pc[4];
    cvs_embedder_info info;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &info), 0);
    cr_assert_str_eq(info.name, "glove");
    cr_assert_eq(info.dim, 4);
    cr_assert(info.has_fingerprint);
    cr_assert_eq(info.fitted, 2, "the vocabulary's component is there from the start");
    cr_assert_eq(stored_pc(db, pc), 2);

    /* One word: its vector times its SIF weight (Zipf p from rank), less
     * the common component. */
    assert_embeds_as("The KING!", (const int[]){0}, 1, pc);
    /* Two words and an unknown one: the mean over the known words. */
    assert_embeds_as("apple and zebra banana", (const int[]){2, 3}, 2, pc);
    cr_assert_eq(cvs_embed_text(db, "apple and zebra banana", 0, two), 0);
    /* Accented as written, or found without the accent. */
    assert_embeds_as("CAFÉ", (const int[]){4}, 1, pc);
    assert_embeds_as("Beyoncé", (const int[]){5}, 1, pc);
    /* No known word: an error, not a zero vector. */
    cr_assert_eq(cvs_embed_text(db, "zebra the", 0, out), CVS_EINPUT);
    cr_assert_str_eq(cvs_errmsg(db), "text (\"zebra the\") has no word the GloVe embedder reads "
                                     "(it leaves out stop words such as \"the\" and words not in "
                                     "its vocabulary)");
    /* Batches agree with single calls; a batch's message names the text. */
    {
        const char *t[2] = {"king", "apple banana"}, *u[2] = {"king", "zebra"};
        size_t l[2] = {4, 12}, ul[2] = {4, 5};
        float b[8];
        cr_assert_eq(cvs_embed_texts(db, u, ul, 2, b), CVS_EINPUT);
        cr_assert_str_eq(cvs_errmsg(db), "text 1 (\"zebra\") has no word the GloVe embedder "
                                         "reads (it leaves out stop words such as \"the\" and "
                                         "words not in its vocabulary)");
        cr_assert_eq(cvs_embed_texts(db, t, l, 2, b), 0);
        cr_assert_float_eq(b[4], two[0], 1e-6);
        cr_assert_float_eq(b[5], two[1], 1e-6);
    }
}

/* A word's nearest words (query/memory.c, rule 9): every word within the
 * cosine among the first max_rank, best first, at most cap, the word
 * itself aside, as a brute-force cosine in double precision says; and a
 * store's word vectors are its glove embedder's, none for another. */
Test(sif, nearest_words_by_cosine)
{
    cvs_sif *s;
    const cvs_sif *sw;
    long idx[NV];
    float cos[NV];
    size_t n, len;
    double want[NV];
    int order[NV], m = 0;
    cr_assert_eq(cvs__sif_load(gdir, &s), 0, "%s", cvs_errmsg(NULL));
    for (int i = 0; i < NV; i++) {
        double d = 0, a = 0, b = 0;
        for (int k = 0; k < 4; k++) {
            d += (double)vecs[2][k] * vecs[i][k];
            a += (double)vecs[2][k] * vecs[2][k];
            b += (double)vecs[i][k] * vecs[i][k];
        }
        want[i] = d / sqrt(a * b);
        if (i != 2 && want[i] >= 0.6) {
            int j = m++;
            for (; j > 0 && want[order[j - 1]] < want[i]; j--)
                order[j] = order[j - 1];
            order[j] = i;
        }
    }
    cr_assert_geq(m, 3, "the fixture has three words near apple");
    cr_assert_eq(cvs__sif_neighbours(s, 2, NV, 0.6f, idx, cos, NV, &n), 0);
    cr_assert_eq(n, (size_t)m);
    for (int i = 0; i < m; i++) {
        cr_assert_eq(idx[i], order[i], "rank %d", i);
        cr_assert_float_eq(cos[i], want[order[i]], 1e-5);
    }
    /* capped: the best two */
    cr_assert_eq(cvs__sif_neighbours(s, 2, NV, 0.6f, idx, cos, 2, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(idx[0], order[0]);
    cr_assert_eq(idx[1], order[1]);
    /* only the 4 most frequent words: banana (3) and not fruit (7) */
    cr_assert_eq(cvs__sif_neighbours(s, 2, 4, 0.6f, idx, cos, NV, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(cvs__sif_word(s, idx[0], &len), "banana");
    cr_assert_eq(len, 6);
    cr_assert_null(cvs__sif_word(s, NV, &len));
    cvs__sif_free(s);
    /* a damaged row header is an error, not a read past the row */
    {
        char *bad = tu_tmpdir();
        unsigned char fv[NV * 20];
        int32_t dim = 4, wrong = 7;
        write_glove(bad, NULL);
        for (int i = 0; i < NV; i++) {
            memcpy(fv + i * 20, i == 5 ? &wrong : &dim, 4);
            memcpy(fv + i * 20 + 4, vecs[i], 16);
        }
        free(tu_write_file(bad, CVS_GLOVE_FVECS, fv, sizeof fv));
        cr_assert_eq(cvs__sif_load(bad, &s), 0, "%s", cvs_errmsg(NULL));
        cr_assert_eq(cvs__sif_neighbours(s, 2, 4, 0.6f, idx, cos, NV, &n), 0, "rows 0-3 are sound");
        cr_assert_eq(cvs__sif_neighbours(s, 2, NV, 0.6f, idx, cos, NV, &n), CVS_ECORRUPT);
        cr_assert_eq(cvs__sif_neighbours(s, 5, 4, 0.6f, idx, cos, NV, &n), CVS_ECORRUPT);
        cvs__sif_free(s);
        tu_rmrf(bad);
        free(bad);
    }
    /* the store's: its glove embedder's vectors (another embedder has
     * none: custom_embedder) */
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs__embed_words(db, &sw), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs__sif_neighbours(sw, 2, NV, 0.6f, idx, cos, NV, &n), 0);
    cr_assert_eq(n, (size_t)m);
    cr_assert_eq(idx[0], order[0]);
}

/* The component is the top eigenvector of mu mu^T + (E[x x^T] - mu mu^T) / 8
 * over the vocabulary (x = weight * vector, drawn with Zipf p): computed
 * here by power iteration, independently of LAPACK. */
Test(sif, component_comes_from_the_vocabulary)
{
    const char *sample[] = {"king queen", "apple banana", "paris fruit", "café", "zebra"};
    size_t lens[5];
    double m[4][4] = {{0}}, mu[4] = {0}, mass = 0, v[4] = {1, 1, 1, 1}, dot = 0;
    float pc[4], after[4], again[4];
    for (int w = 0; w < NV; w++) {
        double p = 1.0 / ((w + 1) * harmonic(NV)), x[4];
        mass += p;
        for (int d = 0; d < 4; d++) {
            x[d] = weight(w) * vecs[w][d];
            mu[d] += p * x[d];
        }
        for (int d = 0; d < 4; d++)
            for (int e = 0; e < 4; e++)
                m[d][e] += p * x[d] * x[e];
    }
    for (int d = 0; d < 4; d++)
        mu[d] /= mass;
    for (int d = 0; d < 4; d++)
        for (int e = 0; e < 4; e++)
            m[d][e] = mu[d] * mu[e] + (m[d][e] / mass - mu[d] * mu[e]) / 8;
    for (int it = 0; it < 500; it++) {
        double nv[4] = {0}, n = 0;
        for (int d = 0; d < 4; d++)
            for (int e = 0; e < 4; e++)
                nv[d] += m[d][e] * v[e];
        for (int d = 0; d < 4; d++)
            n += nv[d] * nv[d];
        for (int d = 0; d < 4; d++)
            v[d] = nv[d] / sqrt(n);
    }
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(sample[i]);
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 4, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(stored_pc(db, pc), 2);
    for (int d = 0; d < 4; d++)
        dot += v[d] * pc[d];
    cr_assert_float_eq(fabs(dot), 1.0, 1e-5, "pc %g %g %g %g", pc[0], pc[1], pc[2], pc[3]);
    /* The shared 4th axis dominates every word: the component leans on it. */
    cr_assert(pc[3] > 0.5f, "pc %g %g %g %g", pc[0], pc[1], pc[2], pc[3]);
    /* Fitting on texts changes nothing, and a fresh handle (a query
     * process) embeds identically. */
    cr_assert_eq(cvs_embed_text(db, "queen fruit", 0, after), 0);
    cr_assert_eq(cvs_embed_fit(db, sample, lens, 5), 0, "%s", cvs_errmsg(db));
    {
        float pc2[4];
        cr_assert_eq(stored_pc(db, pc2), 2);
        cr_assert_eq(memcmp(pc, pc2, sizeof pc), 0);
    }
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "queen fruit", 0, again), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(memcmp(again, after, sizeof after), 0);
}

/* The vector stored for id, normalized as a cosine store keeps it. */
static void stored_vec(cvs_db *d, const char *id, float out[4])
{
    cvs_txn *t;
    cvs_record r;
    cr_assert_eq(cvs_txn_begin(d, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, out), 0, "%s: %s", id, cvs_errmsg(d));
    cvs_txn_end(t);
}

static void import_lines(cvs_db *d, const char *where, const char *jl)
{
    char *path = tu_write_file(where, "in.jsonl", jl, strlen(jl));
    cr_assert_eq(cvs_import(d, path, NULL, NULL), 0, "%s", cvs_errmsg(d));
    free(path);
}

/* A record's and a query's embedding depend neither on what was written
 * before nor on the route: a store whose first import is one text, a store
 * filled in one batch, and one filled one memory at a time agree to the
 * bit, and the one-text store finds its text. */
Test(sif, embeddings_do_not_depend_on_earlier_writes)
{
    char *dir2 = tu_tmpdir(), *dir3 = tu_tmpdir();
    cvs_create_opts o = {4, CVS_METRIC_COSINE, CVS_RAW_F32};
    cvs_db *b, *c;
    float va[4], vb[4], vc[4], qa[4], qb[4], qc[4];
    int64_t keys[2];
    float scores[2];
    cvs_mem_remembered mr;

    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    import_lines(db, dir, "{\"id\": \"k\", \"text\": \"king queen\"}\n");
    cr_assert_eq(cvs_db_create(dir2, &o, &b), 0);
    cr_assert_eq(cvs_db_set_embedder(b, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(b));
    import_lines(b, dir2, "{\"id\": \"a\", \"text\": \"apple banana\"}\n"
                          "{\"id\": \"p\", \"text\": \"paris fruit\"}\n"
                          "{\"id\": \"k\", \"text\": \"king queen\"}\n");
    cr_assert_eq(cvs_db_create(dir3, &o, &c), 0);
    cr_assert_eq(cvs_db_set_embedder(c, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(c));
    cr_assert_eq(cvs_mem_remember(c, "paris fruit", 0, NULL, &mr), 0, "%s", cvs_errmsg(c));
    cr_assert_eq(cvs_mem_remember(c, "king queen", 0, NULL, &mr), 0, "%s", cvs_errmsg(c));

    stored_vec(db, "k", va);
    stored_vec(b, "k", vb);
    stored_vec(c, mr.id, vc);
    cr_assert_eq(memcmp(va, vb, sizeof va), 0, "%g %g %g %g vs %g %g %g %g", va[0], va[1],
                 va[2], va[3], vb[0], vb[1], vb[2], vb[3]);
    cr_assert_eq(memcmp(va, vc, sizeof va), 0);
    cr_assert_eq(cvs_embed_text(db, "queen and the king", 0, qa), 0);
    cr_assert_eq(cvs_embed_text(b, "queen and the king", 0, qb), 0);
    cr_assert_eq(cvs_embed_text(c, "queen and the king", 0, qc), 0);
    cr_assert_eq(memcmp(qa, qb, sizeof qa), 0);
    cr_assert_eq(memcmp(qa, qc, sizeof qa), 0);
    /* The one-text store: its text is found as itself, not as noise. */
    cr_assert_eq(cvs_search(db, qa, 1, 2, CVS_SEARCH_EXACT, keys, scores), 0);
    cr_assert_eq(keys[0], key_of("k"));
    cr_assert_float_eq(scores[0], 1.0f, 1e-4, "score %g", scores[0]);
    cvs_db_close(b);
    cvs_db_close(c);
    tu_rmrf(dir2);
    tu_rmrf(dir3);
    free(dir2);
    free(dir3);
}

/* A memory with no word of the vocabulary is stored, found by its words,
 * and never merged with another such memory (their stand-in vectors are
 * alike); the stand-in scores 0 against every query. */
Test(sif, memory_without_a_known_word_is_found_by_its_words)
{
    cvs_mem_remembered a, b, c;
    cvs_mem_items r = {0};
    cvs_mem_recall_opts ro = {.no_touch = 1};
    float q[4], v[4];
    double dot = 0;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_mem_remember(db, "king and queen", 0, NULL, &c), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_mem_remember(db, "xylophone zebra quartet", 0, NULL, &a), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(a.outcome, CVS_MEM_ADDED);
    cr_assert_eq(cvs_mem_remember(db, "xylophone zebra orchestra", 0, NULL, &b), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(b.outcome, CVS_MEM_ADDED);
    cr_assert_str_eq(b.superseded, "");
    cr_assert_eq(cvs_mem_recall(db, "zebra orchestra", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert(r.n >= 1);
    cr_assert_str_eq(r.items[0].id, b.id);
    cvs_mem_items_free(&r);
    cr_assert_eq(cvs_mem_recall(db, "quartet", 0, &ro, &r), 0, "%s", cvs_errmsg(db));
    cr_assert_str_eq(r.items[0].id, a.id);
    cvs_mem_items_free(&r);
    /* The stand-in is orthogonal to an embedded query. */
    cr_assert_eq(cvs_embed_text(db, "queen apple", 0, q), 0);
    stored_vec(db, a.id, v);
    for (int d = 0; d < 4; d++)
        dot += (double)q[d] * v[d];
    cr_assert_float_eq(dot, 0.0, 1e-6);
}

/* An export imported into a new store meets the same component: the copy
 * answers a text query with the same scores, before and after more text
 * is imported into both. */
Test(sif, export_import_keeps_the_embedding)
{
    const char *one = "{\"id\": \"k\", \"text\": \"king\"}\n";
    const char *more = "{\"id\": \"f\", \"text\": \"apple banana\"}\n"
                       "{\"id\": \"p\", \"text\": \"paris fruit queen\"}\n";
    char *a1 = tu_write_file(dir, "one.jsonl", one, strlen(one));
    char *a2 = tu_write_file(dir, "more.jsonl", more, strlen(more));
    char *ra = NULL, *rb = NULL;
    cr_assert_eq(tu_cli(NULL, "init '%s/a' --embedder glove --dim 4 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s/a' '%s' --quiet", dir, a1), 0);
    cr_assert_eq(tu_cli(NULL, "export '%s/a' -o '%s/x.jsonl' 2>/dev/null", dir, dir), 0);
    cr_assert_eq(tu_cli(NULL, "init '%s/b' --embedder glove --dim 4 >/dev/null", dir), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s/b' '%s/x.jsonl' --quiet", dir, dir), 0);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(tu_cli(&ra, "search '%s/a' --text 'queen king' -k 3 --json --exact", dir), 0);
        cr_assert_eq(tu_cli(&rb, "search '%s/b' --text 'queen king' -k 3 --json --exact", dir), 0);
        cr_assert_str_eq(ra, rb);
        cr_assert(strstr(ra, "\"k\""), "%s", ra);
        free(ra);
        free(rb);
        cr_assert_eq(tu_cli(NULL, "import '%s/a' '%s' --quiet", dir, a2), 0);
        cr_assert_eq(tu_cli(NULL, "import '%s/b' '%s' --quiet", dir, a2), 0);
    }
    free(a1);
    free(a2);
}

static int sif_none_fn(cvs_db *d, MDB_txn *txn, void *arg)
{
    unsigned char v16[16] = {1, 0, 0, 0, 4, 0, 0, 0};
    float a = 1e-3f;
    MDB_val k = {3, "sif"}, v = {16, v16};
    (void)arg;
    memcpy(v16 + 8, &a, 4);
    return mdb_put(txn, d->dbi_meta, &k, &v, 0) ? CVS_EIO : CVS_OK;
}

/* Stores written before the vocabulary's component: an empty one gets it
 * from its first writer; one that embedded records without a component
 * keeps embedding without, so its vectors and queries still agree. */
Test(sif, older_stores_without_a_component)
{
    float pc[4], out[4];
    double raw[4];
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs__write(db, sif_none_fn, NULL), 0);
    cr_assert_eq(stored_pc(db, pc), 0);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "king", 0, out), 0); /* a reader changes nothing */
    cr_assert_eq(stored_pc(db, pc), 0);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "king", 0, out), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(stored_pc(db, pc), 2);

    /* With a record already there, no component is installed. */
    cr_assert_eq(cvs__write(db, sif_none_fn, NULL), 0);
    import_lines(db, dir, "{\"id\": \"v\", \"vector\": [0, 0, 0, 1]}\n");
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "king", 0, out), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(stored_pc(db, pc), 0);
    raw_sif((const int[]){0}, 1, raw);
    for (int d = 0; d < 4; d++)
        cr_assert_float_eq(out[d], raw[d], 1e-6);
}

/* Vectors imported before the embedder was attached were not made by it:
 * the first attach brings the component all the same. */
Test(sif, first_attach_to_a_store_of_vectors)
{
    float pc[4];
    import_lines(db, dir, "{\"id\": \"v\", \"vector\": [0, 0, 0, 1]}\n");
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(stored_pc(db, pc), 2);
}

/* ==== Fork ==== */

/* fork_child_refuses_while_a_thread_attaches: a thread of the parent
 * embedding with the store's recorded glove, which attaches it first. */
static void *attach_thread(void *arg)
{
    float out[4];
    int rc = cvs_embed_text(arg, "king", 0, out); /* fails: the FIFO gives no words */
    (void)rc;
    return NULL;
}

/* A child of fork() made while another thread of the parent was attaching
 * the store's embedder (loading its model, seconds for minilm, with the
 * handle's embedder lock held) gets CVS_EFORK from the inherited handle,
 * as from every call (include/cvstore.h), not a lock that no thread of
 * the child will ever release.  The model's words file is a FIFO here, so
 * the attaching thread waits in its open until the parent writes it. */
Test(sif, fork_child_refuses_while_a_thread_attaches)
{
    char *fdir = tu_tmpdir(), path[4200];
    pthread_t th;
    pid_t pid;
    int st, fd;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    /* The same vocabulary, its words behind a FIFO. */
    write_glove(fdir, NULL);
    snprintf(path, sizeof path, "%s/%s", fdir, CVS_GLOVE_WORDS);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkfifo(path, 0600), 0);
    setenv("CVSTORE_GLOVE_DIR", fdir, 1);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(pthread_create(&th, NULL, attach_thread, db), 0);
    usleep(300000); /* the thread is in the attach, blocked in the FIFO's open */
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        float out[4];
        alarm(10); /* a deadlock dies of SIGALRM */
        _exit(cvs_embed_text(db, "king", 0, out) == CVS_EFORK ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    /* Let the parent's thread go: the FIFO gives it no words. */
    fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    close(fd);
    pthread_join(th, NULL);
    cr_assert(WIFEXITED(st), "the child hung or died (signal %d)",
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_eq(WEXITSTATUS(st), 0, "the child's call did not fail with CVS_EFORK");
    setenv("CVSTORE_GLOVE_DIR", gdir, 1);
    tu_rmrf(fdir);
    free(fdir);
}

static int len_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    int *calls = ctx;
    (*calls)++;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 4 && memcmp(texts[i], "FAIL", 4) == 0)
            return CVS_EINPUT;
        if (lens[i] == 5 && memcmp(texts[i], "WEIRD", 5) == 0)
            return 7;
        for (int d = 0; d < 4; d++)
            out[i * 4 + d] = (float)(lens[i] + (size_t)d);
    }
    return 0;
}

/* cvs__embedder_kind is the same from the glove attached and from the
 * store's record read by a handle that attached nothing (the single-hop
 * context route reads it: deviation 16); an application's function named
 * "glove" is not GloVe's either way. */
Test(sif, kind_agrees_attached_and_recorded)
{
    cvs_create_opts o = {4, CVS_METRIC_COSINE, CVS_RAW_F32};
    char *d2 = NULL;
    cvs_db *db2 = NULL;
    int kind = -1, calls = 0;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs__embedder_kind(db, &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_SIF, "attached: %d", kind);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs__embedder_kind(db, &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_SIF, "recorded: %d", kind);
    tu_store_create(&o, NULL, &d2, &db2);
    cr_assert_eq(cvs_db_set_embedder(db2, "glove", 4, len_embed, &calls), 0, "%s",
                 cvs_errmsg(db2));
    cr_assert_eq(cvs__embedder_kind(db2, &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_UNKNOWN, "an application's glove, attached: %d", kind);
    cvs_db_close(db2);
    cr_assert_eq(cvs_db_open(d2, 0, &db2), 0);
    cr_assert_eq(cvs__embedder_kind(db2, &kind), CVS_OK);
    cr_expect_eq(kind, CVS__EMB_UNKNOWN, "an application's glove, recorded: %d", kind);
    tu_store_remove(&d2, &db2);
}

Test(sif, mismatched_embedders_are_refused)
{
    int calls = 0;
    float out[4];
    char *other;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0);
    /* Another model on a glove store. */
    cr_assert_eq(cvs_db_set_embedder(db, "minilm", 4, len_embed, &calls), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "'glove'") && strstr(cvs_errmsg(db), "'minilm'"),
              "%s", cvs_errmsg(db));
    cr_assert_eq(calls, 0);
    /* The same name with another dimension never reaches the store. */
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 3, NULL, NULL), CVS_EDIM);
    /* A GloVe cache with another vocabulary: refused by fingerprint. */
    other = tu_tmpdir();
    write_glove(other, "grape");
    setenv("CVSTORE_GLOVE_DIR", other, 1);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "king", 0, out), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "fingerprint"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_EINVAL);
    tu_rmrf(other);
    free(other);
}

Test(sif, custom_embedder)
{
    int calls = 0;
    float out[8];
    const char *t[2] = {"abc", "hello"};
    size_t l[2] = {3, 5};
    cvs_embedder_info info;
    /* No embedder recorded yet. */
    cr_assert_eq(cvs_embed_text(db, "x", 1, out), CVS_EINVAL);
    cr_assert_eq(cvs_db_set_embedder(db, "lengths", 3, len_embed, &calls), CVS_EDIM);
    cr_assert_eq(cvs_db_set_embedder(db, "lengths", 4, len_embed, &calls), 0, "%s", cvs_errmsg(db));
    {
        const cvs_sif *sw = (const cvs_sif *)&calls;
        cr_assert_eq(cvs__embed_words(db, &sw), CVS_NOTFOUND, "no word vectors but glove's");
        cr_assert_null(sw);
    }
    cr_assert_eq(cvs_embed_texts(db, t, l, 2, out), 0);
    cr_assert_eq(calls, 1);
    cr_assert_float_eq(out[0], 3, 0);
    cr_assert_float_eq(out[7], 8, 0);
    cr_assert_eq(cvs_embed_text(db, "FAIL", 4, out), CVS_EINPUT);
    cr_assert_eq(cvs_embed_text(db, "WEIRD", 5, out), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(db), "code 7"), "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &info), 0);
    cr_assert_str_eq(info.name, "lengths");
    cr_assert_eq(info.has_fingerprint, 0);
    /* Fitting is a no-op for embedders without a corpus part. */
    cr_assert_eq(cvs_embed_fit(db, t, l, 2), 0);
    /* A new handle has to attach it again; glove is not substituted. */
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "abc", 3, out), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "lengths"));
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), CVS_EINVAL);
}

/* ==== HTTP embedder against tests/embed_server.py ==== */

static pid_t server_pid;
static int server_port;

static void server_start(void)
{
    int fds[2];
    char line[64] = "";
    FILE *f;
    cr_assert_eq(pipe(fds), 0);
    server_pid = fork();
    cr_assert(server_pid >= 0);
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", CVS_TEST_DATA "/../embed_server.py", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (!fgets(line, sizeof line, f)) {
        int st = 0;
        fclose(f);
        waitpid(server_pid, &st, 0);
        server_pid = 0;
        /* 127: the exec failed, there is no python3 to run the server (it
         * is not on a fresh Debian); anything else is a failure. */
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            cr_skip_test("python3 not found: the HTTP embedder tests need it for "
                         "tests/embed_server.py");
        cr_assert_fail("the test server did not start (status %d)", st);
    }
    fclose(f);
    cr_assert_eq(sscanf(line, "PORT %d", &server_port), 1, "%s", line);
}

static void server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static void http_setup(void)
{
    server_start();
    mkstore(3, CVS_METRIC_L2);
}

static void http_teardown(void)
{
    teardown();
    server_stop();
}

TestSuite(http, .init = http_setup, .fini = http_teardown);

Test(http, embeds_in_batches_by_index)
{
    char url[128];
    cvs_http_embedder *e;
    enum { N = 130 };
    const char *texts[N];
    size_t lens[N];
    char bufs[N][32];
    float out[N * 3];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", server_port);
    cr_assert_eq(cvs_http_embedder_new(url, "m", NULL, 0, &e), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(cvs_http_embedder_dim(e), 3);
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof bufs[i], "text %d %.*s", i, i % 7, "aaaaaaa");
        texts[i] = bufs[i];
        lens[i] = strlen(bufs[i]);
    }
    /* 130 texts: 3 requests of at most 64, rows placed by their index. */
    cr_assert_eq(cvs_http_embed(e, texts, lens, N, out), 0, "%s", cvs_errmsg(NULL));
    for (int i = 0; i < N; i++) {
        cr_assert_float_eq(out[i * 3], (float)lens[i], 0);
        cr_assert_float_eq(out[i * 3 + 1], (float)(i % 7), 0);
        cr_assert_float_eq(out[i * 3 + 2], 1.0f, 0);
    }
    cvs_http_embedder_free(e);
}

Test(http, attached_to_a_store)
{
    char url[128];
    float out[3];
    cvs_embedder_info info;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", server_port);
    cr_assert_eq(cvs_db_set_embedder_http(db, url, "test-model", "secret"), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_embed_text(db, "banana", 0, out), 0, "%s", cvs_errmsg(db));
    cr_assert_float_eq(out[0], 6, 0);
    cr_assert_float_eq(out[1], 3, 0);
    cr_assert_eq(cvs_db_embedder_info(db, &info), 0);
    cr_assert_str_eq(info.name, "http:test-model");
    cr_assert_eq(info.dim, 3);
    /* Another model behind the same server is another embedder. */
    cr_assert_eq(cvs_db_set_embedder_http(db, url, "other-model", NULL), CVS_EINVAL);
    /* A new handle finds the server by itself (the store keeps its URL). */
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "aa", 0, out), 0, "%s", cvs_errmsg(db));
    cr_assert_float_eq(out[0], 2, 0);
    cr_assert_float_eq(out[1], 2, 0);
}

Test(http, failures_are_clear)
{
    char url[128];
    cvs_http_embedder *e;
    float out[6];
    const char *t[2] = {"a", "b"};
    size_t l[2] = {1, 1};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", server_port);
    /* HTTP 500 with the server's message. */
    cr_assert_eq(cvs_http_embedder_new(url, "fail", NULL, 0, &e), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(NULL), "HTTP 500") && strstr(cvs_errmsg(NULL), "model exploded"),
              "%s", cvs_errmsg(NULL));
    /* A wrong path: 404. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/nothing", server_port);
    cr_assert_eq(cvs_http_embedder_new(url, "m", NULL, 3, &e), 0);
    cr_assert_eq(cvs_http_embed(e, t, l, 2, out), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(NULL), "HTTP 404"), "%s", cvs_errmsg(NULL));
    cvs_http_embedder_free(e);
    /* Too few rows in the answer. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", server_port);
    cr_assert_eq(cvs_http_embedder_new(url, "short", NULL, 3, &e), 0);
    cr_assert_eq(cvs_http_embed(e, t, l, 2, out), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(NULL), "1 embeddings"), "%s", cvs_errmsg(NULL));
    cvs_http_embedder_free(e);
    /* A dimension other than declared. */
    cr_assert_eq(cvs_http_embedder_new(url, "m", NULL, 5, &e), 0);
    cr_assert_eq(cvs_http_embed(e, t, l, 2, out), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(NULL), "expected 5"), "%s", cvs_errmsg(NULL));
    cvs_http_embedder_free(e);
    /* Nobody listening. */
    server_stop();
    cr_assert_eq(cvs_http_embedder_new(url, "m", NULL, 0, &e), CVS_EIO);
    cr_assert(strstr(cvs_errmsg(NULL), url), "%s", cvs_errmsg(NULL));
}

/* ==== Import ==== */

Test(bm25, jsonl_import_stores_titles, .fini = teardown)
{
    const char *jl =
        "{\"id\": 0, \"title\": \"Jeff Porcaro\", \"text\": \"American drummer\", \"vector\": [1,0,0,0]}\n"
        "{\"id\": 1, \"text\": \"Toto was a band\", \"vector\": [0,1,0,0], \"title\": null}\n";
    char *path;
    cvs_txn *t;
    cvs_record r;
    mkstore(4, CVS_METRIC_L2);
    path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(path);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "0", 1, &r, NULL), 0);
    cr_assert_eq(r.title_len, 12);
    cr_assert_eq(memcmp(r.title, "Jeff Porcaro", 12), 0);
    cr_assert_eq(cvs_get(t, "1", 1, &r, NULL), 0);
    cr_assert_null(r.title);
    cvs_txn_end(t);
    cr_assert_str_eq(search("porcaro", 2, NULL), "0");
    cr_assert_str_eq(search("band", 2, NULL), "1");
}

Test(sif, import_embeds_text_only_records)
{
    const char *jl =
        "{\"id\": \"k\", \"title\": \"King\", \"text\": \"the queen\"}\n"
        "{\"id\": \"f\", \"text\": \"apple banana fruit\"}\n"
        "{\"id\": \"v\", \"text\": \"has its own vector\", \"vector\": [0, 0, 0, 1]}\n"
        "{\"id\": \"t\", \"title\": \"Paris\"}\n";
    const char *bad = "{\"id\": \"z\", \"text\": \"zebra\"}\n";
    const char *novec = "{\"id\": \"n\", \"meta\": {}}\n";
    char *path;
    cvs_txn *t;
    cvs_record r;
    cvs_embedder_info info;
    cvs_info di;
    float got[4], want[4];
    double norm = 0;

    /* No embedder recorded: refused in pass 1, nothing written. */
    path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "line 1") && strstr(cvs_errmsg(db), "embedder"),
              "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_info(db, &di), 0);
    cr_assert_eq(di.count, 0);

    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    /* A fresh handle attaches glove by itself. */
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_import(db, path, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(path);
    cr_assert_eq(cvs_db_embedder_info(db, &info), 0);
    cr_assert_eq(info.fitted, 2, "the component is the vocabulary's");

    /* The stored vector is the (normalized) embedding of "title\ntext". */
    cr_assert_eq(cvs_embed_text(db, "King\nthe queen", 0, want), 0, "%s", cvs_errmsg(db));
    for (int d = 0; d < 4; d++)
        norm += (double)want[d] * want[d];
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "k", 1, &r, got), 0);
    cr_assert_eq(r.title_len, 4);
    for (int d = 0; d < 4; d++)
        cr_assert_float_eq(got[d], want[d] / sqrt(norm), 1e-5);
    cr_assert_eq(cvs_get(t, "v", 1, &r, got), 0);
    cr_assert_float_eq(got[3], 1.0f, 0);
    cr_assert_eq(cvs_get(t, "t", 1, &r, got), 0);
    cvs_txn_end(t);
    /* Searching by an embedded query finds the fruit record first. */
    {
        int64_t keys[1];
        float s[1];
        cr_assert_eq(cvs_embed_text(db, "banana", 0, want), 0);
        cr_assert_eq(cvs_search(db, want, 1, 1, CVS_SEARCH_EXACT, keys, s), 0);
        cr_assert_eq(keys[0], key_of("f"));
    }

    /* A text with no word of the vocabulary, or no text at all, fails pass 1. */
    path = tu_write_file(dir, "bad.jsonl", bad, strlen(bad));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1") && strstr(cvs_errmsg(db), "vocabulary"),
              "%s", cvs_errmsg(db));
    free(path);
    path = tu_write_file(dir, "novec.jsonl", novec, strlen(novec));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "neither"), "%s", cvs_errmsg(db));
    free(path);
    cr_assert_eq(cvs_db_info(db, &di), 0);
    cr_assert_eq(di.count, 4);
}

/* A batch of questions where one has no word of the vocabulary: that line
 * gets an error object, the others their answers, in file order. */
Test(sif, cli_batch_answers_around_a_question_it_cannot_embed)
{
    const char *jl = "{\"id\": \"k\", \"text\": \"the king and queen\"}\n"
                     "{\"id\": \"f\", \"text\": \"apple banana\"}\n";
    const char *qs = "{\"id\": \"q1\", \"text\": \"queen\"}\n"
                     "{\"id\": \"q2\", \"text\": \"zebra xylophone\"}\n"
                     "{\"id\": \"q3\", \"text\": \"banana\"}\n";
    char *out = NULL, *in, *qf, store[4200];
    snprintf(store, sizeof store, "%s/b.cvs", dir);
    in = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    qf = tu_write_file(dir, "q.jsonl", qs, strlen(qs));
    cr_assert_eq(tu_cli(NULL, "init '%s' --embedder glove --dim 4 >/dev/null", store), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s' '%s' --quiet", store, in), 0);
    for (int c = 0; c < 3; c++) {
        const char *cmd[] = {"search '%s' --queries '%s' -k 1 --json 2>/dev/null",
                             "context '%s' --queries '%s' --strategy vector 2>/dev/null",
                             "context '%s' --queries '%s' 2>/dev/null"};
        json_t *line[3];
        json_error_t je;
        char *save = NULL, *l;
        int n = 0;
        cr_assert_eq(tu_cli(&out, cmd[c], store, qf), 0, "%s", cmd[c]);
        for (l = strtok_r(out, "\n", &save); l && n < 3; l = strtok_r(NULL, "\n", &save))
            cr_assert(line[n++] = json_loads(l, 0, &je), "%s", l);
        cr_assert_eq(n, 3, "%s", cmd[c]);
        for (int i = 0; i < 3; i++) {
            char want[8];
            snprintf(want, sizeof want, "q%d", i + 1);
            cr_assert_str_eq(json_string_value(json_object_get(line[i], "query_id")), want);
        }
        if (c < 2)
            cr_assert(strstr(json_string_value(json_object_get(line[1], "error")), "vocabulary"));
        else /* hybrid: BM25 answers it (nothing matches) */
            cr_assert_null(json_object_get(line[1], "error"));
        cr_assert_null(json_object_get(line[0], "error"));
        cr_assert_null(json_object_get(line[2], "error"));
        {
            json_t *hits = json_object_get(line[2], c ? "items" : "results");
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(hits, 0), "id")),
                             "f", "%s", cmd[c]);
        }
        for (int i = 0; i < 3; i++)
            json_decref(line[i]);
        free(out);
    }
    free(in);
    free(qf);
}

Test(sif, cli_init_embedder_glove)
{
    const char *jl = "{\"id\": \"k\", \"title\": \"King\", \"text\": \"the queen\"}\n"
                     "{\"id\": \"f\", \"text\": \"apple banana\"}\n";
    char *out = NULL, *path, store[4200];
    cvs_db *d2;
    cvs_embedder_info info;
    snprintf(store, sizeof store, "%s/text.cvs", dir);
    path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    cr_assert_eq(tu_cli(&out, "init '%s' --embedder glove --dim 4", store), 0);
    cr_assert(strstr(out, "embedder glove"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(NULL, "import '%s' '%s' --quiet", store, path), 0);
    free(path);
    cr_assert_eq(cvs_db_open(store, CVS_OPEN_RDONLY, &d2), 0);
    cr_assert_eq(cvs_db_embedder_info(d2, &info), 0);
    cr_assert_str_eq(info.name, "glove");
    cr_assert_eq(info.fitted, 2);
    cvs_db_close(d2);
    /* Bad combinations are usage errors; a missing cache leaves no store. */
    cr_assert_eq(tu_cli(&out, "init '%s/c' --embedder glove --dim 4 --copy-vocab", dir), 0);
    cr_assert(strstr(out, "copied"), "%s", out);
    free(out);
    cr_assert_eq(tu_cli(NULL, "init '%s/x' --copy-vocab --dim 4 --metric l2 2>/dev/null", dir), 1);
    cr_assert_eq(tu_cli(NULL, "init '%s/x' --embedder word2vec 2>/dev/null", dir), 1);
    cr_assert_eq(tu_cli(NULL, "init '%s/x' --embedder http 2>/dev/null", dir), 1);
    cr_assert_eq(tu_cli(NULL, "init '%s/y' --embedder glove 2>/dev/null", dir), 1); /* dim 100 != 4 */
    cr_assert_eq(access(store, F_OK), 0);
    {
        char y[4200];
        snprintf(y, sizeof y, "%s/y", dir);
        cr_assert_neq(access(y, F_OK), 0, "the failed init removed its store");
    }
}

/* search --queries: one JSON line per query in file order, "query_id"
 * added, each the same answer as --text gives for that text alone. */
Test(sif, cli_search_queries_batch)
{
    const char *jl = "{\"id\": \"k\", \"text\": \"king queen\"}\n"
                     "{\"id\": \"f\", \"text\": \"apple banana fruit\"}\n"
                     "{\"id\": \"p\", \"text\": \"paris café\"}\n";
    const char *qs = "{\"id\": \"q-fruit\", \"text\": \"banana\"}\n\n"
                     "{\"id\": 7, \"text\": \"queen\"}\n"
                     "{\"text\": \"paris\"}\n";
    const char *texts[3] = {"banana", "queen", "paris"}, *qids[3] = {"q-fruit", "7", "4"};
    char *out = NULL, *one = NULL, *path, *qpath, store[4200];
    snprintf(store, sizeof store, "%s/text.cvs", dir);
    path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    qpath = tu_write_file(dir, "q.jsonl", qs, strlen(qs));
    cr_assert_eq(tu_cli(NULL, "init '%s' --embedder glove --dim 4", store), 0);
    cr_assert_eq(tu_cli(NULL, "import '%s' '%s' --quiet", store, path), 0);
    cr_assert_eq(tu_cli(&out, "search '%s' --queries '%s' -k 2", store, qpath), 0);
    char *line = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        json_t *j, *o;
        cr_assert_not_null(nl, "line %d of %s", i, out);
        j = json_loadb(line, (size_t)(nl - line), 0, NULL);
        cr_assert_not_null(j, "%s", line);
        cr_assert_eq(json_integer_value(json_object_get(j, "query")), i);
        cr_assert_str_eq(json_string_value(json_object_get(j, "query_id")), qids[i]);
        cr_assert_eq(json_array_size(json_object_get(j, "results")), 2);
        cr_assert_eq(tu_cli(&one, "search '%s' --text '%s' -k 2 --json", store, texts[i]), 0);
        o = json_loads(one, 0, NULL);
        cr_assert_not_null(o, "%s", one);
        /* The same ids; scores to float rounding (one sgemm over the batch). */
        for (size_t r = 0; r < 2; r++) {
            json_t *a = json_array_get(json_object_get(o, "results"), r),
                   *b = json_array_get(json_object_get(j, "results"), r);
            cr_assert_str_eq(json_string_value(json_object_get(a, "id")),
                             json_string_value(json_object_get(b, "id")));
            cr_assert_float_eq(json_number_value(json_object_get(a, "score")),
                               json_number_value(json_object_get(b, "score")), 1e-5);
        }
        json_decref(o);
        json_decref(j);
        free(one);
        line = nl + 1;
    }
    cr_assert_eq(*line, '\0', "one line per query: %s", out);
    free(out);
    free(qpath);
    /* A malformed line is a user error; a query of unknown words only is
     * answered with an error line. */
    static const char bad[] = "{\"id\": 1}\n", unk[] = "{\"id\": 1, \"text\": \"zzzz\"}\n";
    qpath = tu_write_file(dir, "bad.jsonl", bad, strlen(bad));
    cr_assert_eq(tu_cli(NULL, "search '%s' --queries '%s' -k 1 2>/dev/null", store, qpath), 1);
    free(qpath);
    qpath = tu_write_file(dir, "unk.jsonl", unk, strlen(unk));
    cr_assert_eq(tu_cli(&out, "search '%s' --queries '%s' -k 1 2>/dev/null", store, qpath), 0);
    cr_assert(strstr(out, "\"error\":") && strstr(out, "vocabulary"), "%s", out);
    free(out);
    free(qpath);
    cr_assert_eq(tu_cli(NULL, "search '%s' --queries x --text y -k 1 2>/dev/null", store), 1);
    free(path);
}

Test(http, cli_init_embedder_http)
{
    char *out = NULL, store[4200];
    snprintf(store, sizeof store, "%s/h.cvs", dir);
    cr_assert_eq(tu_cli(&out, "init '%s' --embedder http --embed-url http://127.0.0.1:%d/v1/embeddings "
                        "--embed-model m", store, server_port), 0);
    cr_assert(strstr(out, "dim 3") && strstr(out, "embedder http:m"), "%s", out);
    free(out);
    /* Text-only records import through the recorded server. */
    {
        const char *jl = "{\"id\": \"a\", \"title\": \"T\", \"text\": \"banana\"}\n";
        char *path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
        cvs_db *d2;
        cvs_txn *t;
        cvs_record r;
        float v[3];
        cr_assert_eq(tu_cli(NULL, "import '%s' '%s' --quiet", store, path), 0);
        free(path);
        cr_assert_eq(cvs_db_open(store, CVS_OPEN_RDONLY, &d2), 0);
        cr_assert_eq(cvs_txn_begin(d2, &t), 0);
        cr_assert_eq(cvs_get(t, "a", 1, &r, v), 0);
        /* "T\nbanana" is 8 bytes with 3 a's; cosine-normalized with the 1. */
        cr_assert_float_eq(v[0], 8 / sqrt(64 + 9 + 1), 1e-6);
        cvs_txn_end(t);
        cvs_db_close(d2);
    }
}

static uint64_t problems_of(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0, "%s", cvs_errmsg(db));
    return p;
}

static void count_msgs(void *ctx, const char *msg)
{
    (void)msg;
    (*(int *)ctx)++;
}

Test(bm25, check_verifies_the_index, .fini = teardown)
{
    MDB_txn *txn;
    MDB_val k = {4, "cats"}, v;
    int n = 0;
    uint64_t p;
    mkstore(4, CVS_METRIC_L2);
    put("d1", "Cats", "cats chase mice");
    put("d2", NULL, "dogs chase cats");
    put("d2", "Dogs", "dogs chase cats again");
    del("d1");
    put("d3", "Mice", NULL);
    cr_assert_eq(problems_of(), 0);
    /* Damage: drop one posting behind the store's back. */
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_get(txn, cvs__text(db)->dbi_terms, &k, &v), 0);
    cr_assert_eq(mdb_del(txn, cvs__text(db)->dbi_terms, &k, NULL), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cr_assert_eq(cvs_check(db, count_msgs, &n, &p), 0);
    cr_assert_eq(p, 2, "a missing posting and the postings count"); /* missing + count */
    cr_assert_eq(n, 2);
}

Test(sif, vocabulary_copied_into_the_store)
{
    float before[4], after[4];
    cvs_embedder_info info;
    char *other;
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0);
    cr_assert_eq(cvs_embed_text(db, "queen banana", 0, before), 0);
    cr_assert_eq(cvs_db_copy_embedder_data(db), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_embedder_info(db, &info), 0);
    cr_assert(info.data_in_store);
    cr_assert_eq(cvs_db_copy_embedder_data(db), 0); /* again: nothing to do */
    /* No cache at all: the store's copy serves. */
    setenv("CVSTORE_GLOVE_DIR", "/nonexistent/glove", 1);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0);
    cr_assert_eq(cvs_embed_text(db, "queen banana", 0, after), 0, "%s", cvs_errmsg(db));
    for (int d = 0; d < 4; d++)
        cr_assert_float_eq(after[d], before[d], 0);
    /* A cache with another vocabulary: the store's copy serves too. */
    other = tu_tmpdir();
    write_glove(other, "grape");
    setenv("CVSTORE_GLOVE_DIR", other, 1);
    cvs_db_close(db);
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0);
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_embed_text(db, "queen banana", 0, after), 0, "%s", cvs_errmsg(db));
    for (int d = 0; d < 4; d++)
        cr_assert_float_eq(after[d], before[d], 0);
    tu_rmrf(other);
    free(other);
}

Test(sif, copy_refuses_a_foreign_cache)
{
    char *other = tu_tmpdir();
    cr_assert_eq(cvs_db_set_embedder(db, "glove", 0, NULL, NULL), 0);
    write_glove(other, "grape");
    setenv("CVSTORE_GLOVE_DIR", other, 1);
    cr_assert_eq(cvs_db_copy_embedder_data(db), CVS_EINVAL);
    cr_assert(strstr(cvs_errmsg(db), "fingerprints differ"), "%s", cvs_errmsg(db));
    tu_rmrf(other);
    free(other);
}

/* Chinese and Japanese passages (written for this test): a word inside an
 * unspaced run finds its passage first, ahead of passages that share some
 * of its characters or bigrams (パスタ "pasta" shares パス, ワードプロセッサ
 * shares ワー and ード; 大学生 and 北京的天气 share pieces of 北京大学). */
static void put_cjk(void)
{
    put("j1", NULL, "アカウントのパスワードを変更するには、設定画面を開いてください。");
    put("j2", NULL, "ログイン画面でメールアドレスを入力してください。");
    put("j3", NULL, "パスタの作り方：お湯を沸かして塩を入れます。");
    put("j4", NULL, "新しいワードプロセッサをインストールしました。");
    put("c1", NULL, "北京大学位于北京市海淀区，是中国著名的高等学府。");
    put("c2", NULL, "上海是中国最大的城市之一，位于长江入海口。");
    put("c3", NULL, "大学生每天在图书馆学习。");
    put("c4", NULL, "今天北京的天气很好。");
    put("c5", NULL, "我家的猫喜欢在沙发上睡觉。");
    put("m1", "Password reset", "Open the settings: 設定から暗証番号を再発行できます。");
    put("m2", NULL, "\xef\xbc\xa1\xef\xbc\xb0\xef\xbc\xa9キーを再発行する手順"); /* ＡＰＩ */
    put("e1", NULL, "The river flows through the old city");
    put("bus", NULL, "バスの時刻表は駅にあります。");
}

Test(bm25, finds_words_in_chinese_and_japanese, .fini = teardown)
{
    mkstore(4, CVS_METRIC_L2);
    put_cjk();
    /* Japanese: the one passage with the word. */
    cr_assert_str_eq(search("パスワード", 1, NULL), "j1");
    cr_assert_str_eq(search("パスタ", 1, NULL), "j3");
    /* バス "bus" is not パス "pass" (deviation 6). */
    cr_assert_str_eq(search("バス", 2, NULL), "bus");
    cr_assert_str_eq(search("ワードプロセッサ", 1, NULL), "j4");
    cr_assert_str_eq(search("メールアドレス", 1, NULL), "j2");
    /* Half-width katakana and full-width Latin fold to the same terms. */
    cr_assert_str_eq(search("ﾊﾟｽﾜｰﾄﾞ", 1, NULL), "j1");
    cr_assert_str_eq(search("API キー", 1, NULL), "m2");
    /* Chinese: a word, a place, one character. */
    cr_assert_str_eq(search("北京大学", 1, NULL), "c1");
    cr_assert_str_eq(search("图书馆", 1, NULL), "c3");
    cr_assert_str_eq(search("天气", 1, NULL), "c4");
    cr_assert_str_eq(search("猫", 1, NULL), "c5");
    /* Mixed: the English word, the Japanese one, an English question
     * with a Japanese word. */
    cr_assert_str_eq(search("password", 1, NULL), "m1");
    cr_assert_str_eq(search("暗証番号", 1, NULL), "m1");
    cr_assert_str_eq(search("how to 再発行 the API key", 1, NULL), "m2");
    /* English alone is untouched by its CJK neighbours. */
    cr_assert_str_eq(search("river city", 2, NULL), "e1");
    {
        uint64_t problems = 9;
        cr_assert_eq(cvs_check(db, NULL, NULL, &problems), 0);
        cr_assert_eq(problems, 0);
    }
}

/* An index written by tokenizer version 1 (Chinese and Japanese runs
 * whole): cvs_text_index_outdated says so (check counts no problem),
 * search still answers from it, and the next write rebuilds it under the
 * current version, without losing a record. */
Test(bm25, older_tokenizer_index_is_rebuilt_on_next_write, .fini = teardown)
{
    MDB_txn *txn;
    MDB_val k = {4, "bm25"}, v, tk;
    unsigned char meta[24], post[16];
    const char *run = "アカウントのパスワードを変更するには";
    int n = 0, outdated = 9;
    uint64_t p, ndocs, total;
    mkstore(4, CVS_METRIC_L2);
    put_cjk();
    stats(&ndocs, &total);
    /* Make it what version 1 wrote for j1: its run as one term. */
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_get(txn, db->dbi_meta, &k, &v), 0);
    memcpy(meta, v.mv_data, 24);
    cvs__put_u32(meta, 1);
    v.mv_data = meta;
    v.mv_size = 24;
    cr_assert_eq(mdb_put(txn, db->dbi_meta, &k, &v, 0), 0);
    memset(post, 0, sizeof post);
    cvs__put_u64(post, (uint64_t)key_of("j1"));
    cvs__put_u32(post + 8, 1);
    cvs__put_u32(post + 12, 3);
    tk.mv_data = (void *)run;
    tk.mv_size = strlen(run);
    v.mv_data = post;
    v.mv_size = sizeof post;
    cr_assert_eq(mdb_put(txn, cvs__text(db)->dbi_terms, &tk, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    /* Not damage: check counts no problem, and the store says the index
     * is another tokenizer's (cvstore check prints it as a note). */
    cr_assert_eq(cvs_check(db, count_msgs, &n, &p), 0);
    cr_assert_eq(p, 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(cvs_text_index_outdated(db, &outdated), 0);
    cr_assert_eq(outdated, 1);
    /* It still answers, from the old terms. */
    cr_assert_str_eq(search(run, 1, NULL), "j1");
    /* The next write, about something else, rebuilds the index. */
    put("e2", NULL, "A bridge over the river");
    cr_assert_eq(cvs_text_index_outdated(db, &outdated), 0);
    cr_assert_eq(outdated, 0);
    stats(&ndocs, &total); /* asserts the current version */
    cr_assert_eq(ndocs, 14);
    cr_assert_eq(problems_of(), 0);
    cr_assert_str_eq(search("パスワード", 1, NULL), "j1");
    cr_assert_str_eq(search("bridge", 2, NULL), "e2");
    cr_assert_eq(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_get(txn, cvs__text(db)->dbi_terms, &tk, &v), MDB_NOTFOUND, "the old term is gone");
    mdb_txn_abort(txn);
}

/* The mention linker reads titles in Chinese and Japanese text too: a
 * title is its tokens in reading order, a phrase of an unspaced run a
 * contiguous stretch of the run's tokens (tokenizer deviation 2). */
Test(bm25, cjk_titles_are_mentions, .fini = teardown)
{
    cvs_link_stats st;
    cvs_txn *t;
    cvs_record r;
    mkstore(4, CVS_METRIC_L2);
    put("tower", "東京タワー", "東京タワーは港区にある電波塔です。");
    put("tea", "抹茶", "抹茶は粉末の緑茶である。");
    put("trip", "旅行記", "週末に東京タワーへ行き、抹茶のアイスを食べました。");
    put("note", "メモ", "東京の天気は晴れ。");
    cr_assert_eq(cvs_link_mentions(db, &st), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(st.links, 2, "trip -> tower, trip -> tea");
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "trip", 4, &r, NULL), 0);
    cr_assert_eq(r.nlinks, 2);
    for (size_t i = 0; i < r.nlinks; i++) {
        cr_assert_str_eq(r.links[i].type, CVS_LINK_MENTIONS);
        cr_assert((r.links[i].id_len == 5 && !memcmp(r.links[i].id, "tower", 5)) ||
                  (r.links[i].id_len == 3 && !memcmp(r.links[i].id, "tea", 3)));
    }
    cr_assert_eq(cvs_get(t, "note", 4, &r, NULL), 0);
    cr_assert_eq(r.nlinks, 0, "東京 alone is not 東京タワー");
    cvs_txn_end(t);
}

/* Text without Chinese or Japanese tokenizes byte for byte as tokenizer
 * version 1 did, so English stores keep their postings and rankings: the
 * tokens (each with its NUL, and with CVS_TOK_CAPS its capital bit) of
 * every line of tests/data/hotpot-mini/passages.jsonl, hashed with FNV-1a
 * 64, against the counts and hashes version 1 (text/tokenize.c of commit
 * ff25e43) gave for the same lines. */
Test(tokenize, english_as_version_1)
{
    static const unsigned flags[3] = {0, CVS_TOK_STRIP_ACCENTS,
                                      CVS_TOK_STRIP_ACCENTS | CVS_TOK_CAPS};
    static const uint64_t want[3] = {0xb124539ae256030full, 0xa390d97ae5ee2b8full,
                                     0x65c27b587a45d443ull};
    uint64_t h[3] = {14695981039346656037ull, 14695981039346656037ull,
                     14695981039346656037ull};
    size_t cnt[3] = {0}, cap = 0;
    char path[512], *line = NULL;
    ssize_t n;
    cvs_tokens t = {0};
    FILE *f;
    snprintf(path, sizeof path, "%s/hotpot-mini/passages.jsonl", CVS_TEST_DATA);
    cr_assert((f = fopen(path, "r")), "%s", path);
    while ((n = getline(&line, &cap, f)) > 0)
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(cvs__tokenize(line, (size_t)n, flags[k], &t), 0);
            for (size_t i = 0; i < t.n; i++) {
                for (uint32_t j = 0; j <= t.len[i]; j++)
                    h[k] = (h[k] ^ (unsigned char)t.buf[t.off[i] + j]) * 1099511628211ull;
                if (flags[k] & CVS_TOK_CAPS)
                    h[k] = (h[k] ^ t.caps[i]) * 1099511628211ull;
            }
            cnt[k] += t.n;
        }
    fclose(f);
    free(line);
    cvs__tokens_free(&t);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(cnt[k], 10638, "flags %u: %zu tokens", flags[k], cnt[k]);
        cr_assert_eq(h[k], want[k], "flags %u: tokens differ from version 1's", flags[k]);
    }
}
