/* test_sentences.c -- the sentence table (text/sentences.c): ICU's split
 * (abbreviations, quotes, scripts without spaces), sentences given in JSONL,
 * offsets kept through put/update/delete, cvs_check on damaged offsets,
 * and stores from before the table (the v1 fixture). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "store/db.h"
#include "text/sentences.h"
#include "tests/testutil.h"

/* The sentences of t joined by '|'. */
static char *split(const char *t)
{
    static char out[2048];
    cvs_spans sp = {0};
    size_t w = 0;
    cr_assert_eq(cvs__sent_split(t, strlen(t), &sp), 0, "%s", cvs_errmsg(NULL));
    out[0] = '\0';
    for (size_t i = 0; i < sp.n; i++)
        w += (size_t)snprintf(out + w, sizeof out - w, "%s%.*s", i ? "|" : "",
                              (int)(sp.s[i].end - sp.s[i].start), t + sp.s[i].start);
    free(sp.s);
    return out;
}

Test(split, abbreviations_quotes_and_scripts)
{
    /* "Mr." is in ICU's suppression list; "U.S." before a lower-case word,
     * "p.m." and "e.g." inside a sentence are no ends (UAX #29). */
    cr_assert_str_eq(split("Mr. Smith went to the U.S. in May. He left at 5 p.m. with e.g. "
                           "a hat."),
                     "Mr. Smith went to the U.S. in May.|He left at 5 p.m. with e.g. a hat.");
    /* The closing quote stays with its sentence; white space is trimmed. */
    cr_assert_str_eq(split("  He said \"Stop.\"  Then he left!\n"),
                     "He said \"Stop.\"|Then he left!");
    cr_assert_str_eq(split("这是第一句。这是第二句。"), "这是第一句。|这是第二句。");
    cr_assert_str_eq(split("Привет, мир. Как дела? Хорошо!"), "Привет, мир.|Как дела?|Хорошо!");
    cr_assert_str_eq(split("no full stop at the end"), "no full stop at the end");
    cr_assert_str_eq(split(" \n\t "), "");
    cr_assert_str_eq(split(""), "");
}

Test(split, locate_given_sentences)
{
    const char *text = "Keith Moon (1946 \xc2\xa0\xe2\x80\x93 1978) was a drummer. He played.";
    const char *ss[] = {" Keith Moon (1946 \xe2\x80\x93  1978) was a drummer.", "", "He played."};
    size_t ls[] = {strlen(ss[0]), 0, strlen(ss[2])};
    const char *bad[] = {"He played.", "Keith Moon"};
    size_t lb[] = {10, 10};
    cvs_spans sp = {0};
    cr_assert_eq(cvs__sent_locate(text, strlen(text), ss, ls, 3, &sp), 0, "%s",
                 cvs_errmsg(NULL));
    cr_assert_eq(sp.n, 3);
    cr_assert_eq(sp.s[0].start, 0);
    cr_assert_eq(memcmp(text + sp.s[0].end - 8, "drummer.", 8), 0);
    cr_assert_eq(sp.s[1].start, sp.s[1].end, "a blank sentence keeps its index, empty");
    cr_assert_str_eq(text + sp.s[2].start, "He played.");
    /* Out of order: the second is not after the first. */
    cr_assert_eq(cvs__sent_locate(text, strlen(text), bad, lb, 2, &sp), CVS_EINPUT);
    free(sp.s);
}

/* ==== In the store ==== */

static char *dir;
static cvs_db *db;

static void mkstore(void)
{
    cvs_create_opts o = {4, CVS_METRIC_L2, CVS_RAW_F32};
    dir = tu_tmpdir();
    cr_assert_eq(cvs_db_create(dir, &o, &db), 0, "%s", cvs_errmsg(NULL));
}

static void teardown(void)
{
    cvs_db_close(db);
    db = NULL;
    if (dir) {
        tu_rmrf(dir);
        free(dir);
        dir = NULL;
    }
}

static void put(const char *id, const char *text, const uint32_t *given, size_t ngiven)
{
    float v[4] = {1, 0.5f, 0.25f, 0.125f};
    cvs_record r = {0};
    r.id = id;
    r.id_len = strlen(id);
    r.vector = v;
    r.text = text;
    r.text_len = text ? strlen(text) : 0;
    r.sentences = given;
    r.nsentences = ngiven;
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
}

/* The stored entry of id: its sentences joined by '|' (the text read in the
 * same snapshot), and its tag; "-" when there is no entry. */
static char *stored(const char *id, unsigned *tag)
{
    static char out[1024];
    cvs_txn *t;
    cvs_record r;
    MDB_val k, v;
    cvs_spans sp = {0};
    size_t w = 0;
    int mrc;
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, id, strlen(id), &r, NULL), 0);
    k.mv_size = 8;
    k.mv_data = &r.key;
    mrc = mdb_get(t->txn, db->dbi_sents, &k, &v);
    if (mrc == MDB_NOTFOUND) {
        cvs_txn_end(t);
        return "-";
    }
    cr_assert_eq(mrc, 0);
    if (tag)
        *tag = cvs__get_u32(v.mv_data);
    cr_assert_eq(cvs__sent_get(db, t->txn, (uint64_t)r.key, r.text, r.text_len, &sp), 0);
    out[0] = '\0';
    for (size_t i = 0; i < sp.n; i++)
        w += (size_t)snprintf(out + w, sizeof out - w, "%s%.*s", i ? "|" : "",
                              (int)(sp.s[i].end - sp.s[i].start), r.text + sp.s[i].start);
    free(sp.s);
    cvs_txn_end(t);
    return out;
}

static uint64_t problems_of(void)
{
    uint64_t p = 99;
    cr_assert_eq(cvs_check(db, NULL, NULL, &p), 0);
    return p;
}

Test(sents, follow_put_update_delete, .fini = teardown)
{
    const char *ids[] = {"a"};
    size_t lens[] = {1};
    unsigned tag = 0;
    uint32_t given[] = {0, 3, 4, 8};
    mkstore();
    put("a", "One. Two.", NULL, 0);
    put("b", "Alpha beta. Gamma.", NULL, 0);
    cr_assert_str_eq(stored("a", &tag), "One.|Two.");
    cr_assert_eq(tag, CVS_SENT_VERSION);
    /* Update: the offsets follow the new text. */
    put("a", "A longer first sentence. Second one here. Third.", NULL, 0);
    cr_assert_str_eq(stored("a", NULL), "A longer first sentence.|Second one here.|Third.");
    /* Given offsets are kept as given, flagged. */
    put("b", "abc defg", given, 2);
    cr_assert_str_eq(stored("b", &tag), "abc|defg");
    cr_assert_eq(tag, CVS_SENT_VERSION | CVS_SENT_GIVEN);
    /* Refused: beyond the text, or inside a UTF-8 character. */
    {
        float v[4] = {1, 0, 0, 0};
        uint32_t out[] = {0, 30}, mid[] = {0, 1};
        cvs_record r = {.id = "c", .id_len = 1, .vector = v, .text = "abc", .text_len = 3,
                        .sentences = out, .nsentences = 1};
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), CVS_EINPUT);
        r.text = "\xc3\xa9t\xc3\xa9";
        r.text_len = 5;
        r.sentences = mid;
        cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), CVS_EINPUT);
    }
    /* No text: no entry. */
    put("b", NULL, NULL, 0);
    cr_assert_str_eq(stored("b", NULL), "-");
    cr_assert_eq(problems_of(), 0);
    cr_assert_eq(cvs_delete(db, ids, lens, 1, NULL), 0);
    {
        MDB_stat st;
        MDB_txn *txn;
        cr_assert_eq(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), 0);
        cr_assert_eq(mdb_stat(txn, db->dbi_sents, &st), 0);
        cr_assert_eq(st.ms_entries, 0, "the deleted record's entry is gone");
        mdb_txn_abort(txn);
    }
    cr_assert_eq(problems_of(), 0);
}

/* Rewrites the entry of key k (u64) with value bytes behind the store's back. */
static void raw_put(uint64_t key, const void *val, size_t len)
{
    MDB_txn *txn;
    MDB_val k = {8, &key}, v = {len, (void *)val};
    cr_assert_eq(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_put(txn, db->dbi_sents, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void count_msgs(void *ctx, const char *msg)
{
    (void)msg;
    (*(int *)ctx)++;
}

Test(sents, check_finds_damaged_offsets, .fini = teardown)
{
    cvs_txn *t;
    cvs_record r;
    MDB_val k, v;
    unsigned char buf[64];
    uint64_t key;
    int n = 0;
    uint64_t p;
    mkstore();
    put("a", "First sentence. Second sentence.", NULL, 0);
    cr_assert_eq(problems_of(), 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &r, NULL), 0);
    key = (uint64_t)r.key;
    k.mv_size = 8;
    k.mv_data = &key;
    cr_assert_eq(mdb_get(t->txn, db->dbi_sents, &k, &v), 0);
    cr_assert_eq(v.mv_size, CVS_SENT_HEADER + 16);
    memcpy(buf, v.mv_data, v.mv_size);
    cvs_txn_end(t);
    /* An end beyond the text. */
    cvs__put_u32(buf + CVS_SENT_HEADER + 12, 500);
    raw_put(key, buf, CVS_SENT_HEADER + 16);
    cr_assert_eq(cvs_check(db, count_msgs, &n, &p), 0);
    cr_assert_eq(p, 1);
    /* Readers do not trust it: the text is split again. */
    cr_assert_str_eq(stored("a", NULL), "First sentence.|Second sentence.");
    /* A truncated value. */
    raw_put(key, buf, CVS_SENT_HEADER + 5);
    cr_assert_eq(problems_of(), 1);
    /* A count that disagrees with the size. */
    cvs__put_u32(buf + 12, 7);
    raw_put(key, buf, CVS_SENT_HEADER + 16);
    cr_assert_eq(problems_of(), 1);
    /* Stale: the entry of another text (as an older cvstore would leave). */
    put("b", "Other text here.", NULL, 0);
    put("a", "First sentence. Second sentence.", NULL, 0);
    cr_assert_eq(problems_of(), 0, "a put rewrites the entry");
}

Test(sents, jsonl_sentences_taken_as_given, .fini = teardown)
{
    const char *jl =
        "{\"id\": \"h\", \"vector\": [1,0,0,0], \"sentences\": [\"Dr. No is a film.\", "
        "\" It was made in 1962.\"]}\n"
        "{\"id\": \"g\", \"vector\": [0,1,0,0], \"text\": \"A  B. C D.\", "
        "\"sentences\": [\"A B.\", \"C D.\"]}\n"
        "{\"id\": \"s\", \"vector\": [0,0,1,0], \"text\": \"Dr. No is a film.\"}\n";
    const char *bad = "{\"id\": \"x\", \"vector\": [1,0,0,0], \"text\": \"abc\", "
                      "\"sentences\": [\"abd\"]}\n";
    const char *notstr = "{\"id\": \"x\", \"vector\": [1,0,0,0], \"sentences\": [1]}\n";
    char *path;
    cvs_txn *t;
    cvs_record r;
    unsigned tag;
    mkstore();
    path = tu_write_file(dir, "in.jsonl", jl, strlen(jl));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), 0, "%s", cvs_errmsg(db));
    free(path);
    /* No "text": the sentences joined by a space. */
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "h", 1, &r, NULL), 0);
    cr_assert_eq(r.text_len, strlen("Dr. No is a film. It was made in 1962."));
    cr_assert_eq(memcmp(r.text, "Dr. No is a film. It was made in 1962.", r.text_len), 0);
    cvs_txn_end(t);
    /* As given, even where ICU would split after "Dr.". */
    cr_assert_str_eq(stored("h", &tag), "Dr. No is a film.|It was made in 1962.");
    cr_assert_eq(tag, CVS_SENT_VERSION | CVS_SENT_GIVEN);
    cr_assert_str_eq(stored("g", NULL), "A  B.|C D.");
    cr_assert_str_eq(stored("s", &tag), "Dr.|No is a film.");
    cr_assert_eq(tag, CVS_SENT_VERSION);
    cr_assert_eq(problems_of(), 0);
    /* A sentence not in the text, or not a string: the import fails. */
    path = tu_write_file(dir, "bad.jsonl", bad, strlen(bad));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), CVS_EINPUT);
    cr_assert(strstr(cvs_errmsg(db), "line 1") && strstr(cvs_errmsg(db), "not in the text"),
              "%s", cvs_errmsg(db));
    free(path);
    path = tu_write_file(dir, "bad2.jsonl", notstr, strlen(notstr));
    cr_assert_eq(cvs_import(db, path, NULL, NULL), CVS_EINPUT);
    free(path);
}

Test(sents, old_store_opens, .fini = teardown)
{
    char cmd[512];
    cvs_txn *t;
    cvs_record r;
    cvs_spans sp = {0};
    dir = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp '%s/fixture-v1/data.mdb' '%s/'", CVS_TEST_DATA, dir);
    cr_assert_eq(system(cmd), 0);
    /* Read-only: no table, sentences split when read. */
    cr_assert_eq(cvs_db_open(dir, CVS_OPEN_RDONLY, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(db->have_sent_dbi, 0);
    cr_assert_eq(cvs_txn_begin(db, &t), 0);
    cr_assert_eq(cvs_get(t, "a", 1, &r, NULL), 0);
    cr_assert_eq(cvs__sent_get(db, t->txn, (uint64_t)r.key, r.text, r.text_len, &sp), 0);
    cr_assert_eq(sp.n, 1);
    cr_assert_eq(sp.s[0].end, 5);
    cvs_txn_end(t);
    free(sp.s);
    cvs_db_close(db);
    /* Writable: created and filled from the stored texts. */
    cr_assert_eq(cvs_db_open(dir, 0, &db), 0, "%s", cvs_errmsg(NULL));
    cr_assert_eq(db->have_sent_dbi, 1);
    cr_assert_str_eq(stored("a", NULL), "alpha");
    cr_assert_eq(problems_of(), 0);
}
