/* test_format.c -- the bytes docs/FORMAT.md documents, read back raw.
 *
 * Each test writes records through the public API, closes the store, opens
 * data.mdb with LMDB alone and checks the stored keys and values field by
 * field at the offsets the document gives: the header, next_key, ids (raw
 * and hashed idkeys), recs, vecs (f32, f16, cosine-normalized), text,
 * titles, attrs, links and backlinks, the text layer's terms and
 * meta/bm25, the sentence table, meta/shard, the codec blob (header, PQ
 * stage, size, CRC), meta/ivf, lists, codes, ivflog, meta/knn and knn
 * rows, the FAISS index chunk and the graph index blob with their counters
 * and marks, and an encrypted store's header, meta/crypt, keys (Argon2id,
 * the KDF subkeys), sealed values, hashed keys and permuted dupsort values,
 * and that the Databases table names exactly the databases a new store has.
 * The little-endian decoding, the CRC and the decryption are the test's
 * own (from the document, with libsodium's primitives), so a writer that
 * changed a field's place, size, byte order or sealing fails here even
 * where the store's own reader would follow it. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cvstore.h"
#include "tests/testutil.h"

static uint16_t le16(const void *p)
{
    const unsigned char *b = p;
    return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t le32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const void *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32((const unsigned char *)p + 4) << 32;
}

static float lef32(const void *p)
{
    uint32_t u = le32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* One read transaction over a closed store's data.mdb, LMDB only. */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
} raw;

static void raw_open(raw *r, const char *dir)
{
    cr_assert_eq(mdb_env_create(&r->env), 0);
    mdb_env_set_maxdbs(r->env, 32);
    cr_assert_eq(mdb_env_open(r->env, dir, MDB_RDONLY, 0600), 0);
    cr_assert_eq(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn), 0);
}

static void raw_close(raw *r)
{
    mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

/* The value under key (k, klen) of database name; fails the test if absent. */
static MDB_val raw_get(raw *r, const char *name, const void *k, size_t klen)
{
    MDB_dbi dbi;
    MDB_val key = {klen, (void *)k}, v;
    cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &dbi), 0, "database %s", name);
    cr_assert_eq(mdb_get(r->txn, dbi, &key, &v), 0, "%s: key of %zu bytes", name, klen);
    return v;
}

static MDB_val raw_meta(raw *r, const char *name)
{
    return raw_get(r, "meta", name, strlen(name));
}

static int raw_has(raw *r, const char *name, const void *k, size_t klen)
{
    MDB_dbi dbi;
    MDB_val key = {klen, (void *)k}, v;
    cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &dbi), 0, "database %s", name);
    return mdb_get(r->txn, dbi, &key, &v) == 0;
}

/* The DUPSORT values under key, concatenated into out (at most cap bytes);
 * returns how many. */
static size_t raw_dups(raw *r, const char *name, const void *k, size_t klen, unsigned char *out,
                       size_t cap, size_t each)
{
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val key = {klen, (void *)k}, v;
    size_t n = 0;
    int rc;
    cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &dbi), 0, "database %s", name);
    cr_assert_eq(mdb_cursor_open(r->txn, dbi, &c), 0);
    for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_NEXT_DUP)) {
        cr_assert_eq(v.mv_size, each, "%s: a value of %zu bytes", name, v.mv_size);
        cr_assert_leq((n + 1) * each, cap);
        memcpy(out + n * each, v.mv_data, each);
        n++;
    }
    mdb_cursor_close(c);
    return n;
}

/* The "## Databases" table of docs/FORMAT.md, as a malloc'd string of its
 * rows (from the table's header to the first blank line). */
static char *format_databases_table(void)
{
    char *doc = tu_read_repo_file("docs/FORMAT.md"), *t, *end;
    t = strstr(doc, "\n## Databases\n");
    cr_assert(t, "docs/FORMAT.md has no \"## Databases\" section");
    t = strstr(t, "\n| name |");
    cr_assert(t, "the Databases section has no table");
    end = strstr(t + 1, "\n\n");
    cr_assert(end);
    *end = '\0';
    t = strdup(t);
    free(doc);
    cr_assert(t);
    return t;
}

/* Every named LMDB database a new store (plain and encrypted) has is a row
 * of FORMAT.md's Databases table, and every row is a database it has: a
 * database added to the store or a module without its documentation, or
 * a row for one that is gone, fails here. */
Test(format, the_databases_table_names_exactly_the_databases_a_store_has, .timeout = 120)
{
    char *table = format_databases_table();
    for (int enc = 0; enc < 2; enc++) {
        cvs_create_opts o = {3, CVS_METRIC_L2, CVS_RAW_F32};
        char *dir = NULL, row[80];
        cvs_db *db = NULL;
        raw w;
        MDB_dbi main_dbi;
        MDB_cursor *c;
        MDB_val k, v;
        size_t ndb = 0, nrows = 0;
        const char *p;
        if (enc) {
            dir = tu_tmpdir();
            cr_assert_eq(cvs_db_create_encrypted(dir, &o, "pw", 2, &db), 0, "%s",
                         cvs_errmsg(NULL));
        } else {
            tu_store_create(&o, NULL, &dir, &db);
        }
        cvs_db_close(db);
        db = NULL;
        raw_open(&w, dir);
        cr_assert_eq(mdb_dbi_open(w.txn, NULL, 0, &main_dbi), 0);
        cr_assert_eq(mdb_cursor_open(w.txn, main_dbi, &c), 0);
        while (mdb_cursor_get(c, &k, &v, ndb ? MDB_NEXT : MDB_FIRST) == 0) {
            cr_assert_lt(k.mv_size, 60, "a database name of %zu bytes", k.mv_size);
            snprintf(row, sizeof row, "\n| `%.*s` |", (int)k.mv_size, (const char *)k.mv_data);
            cr_assert(strstr(table, row), "%s store: database %.*s has no row in FORMAT.md",
                      enc ? "an encrypted" : "a plain", (int)k.mv_size,
                      (const char *)k.mv_data);
            ndb++;
        }
        mdb_cursor_close(c);
        raw_close(&w);
        for (p = strstr(table, "\n| `"); p; p = strstr(p + 1, "\n| `"))
            nrows++;
        cr_assert_eq(nrows, ndb, "FORMAT.md lists %zu databases, a new %s store has %zu", nrows,
                     enc ? "encrypted" : "plain", ndb);
        tu_store_remove(&dir, &db);
    }
    free(table);
}

Test(format, header_and_the_record_databases_are_laid_out_as_documented)
{
    cvs_create_opts o = {3, CVS_METRIC_L2, CVS_RAW_F32};
    char *dir = NULL;
    cvs_db *db = NULL;
    float va[3] = {1.5f, -2.0f, 0.25f}, vb[3] = {0, 1, 0};
    cvs_link links[2] = {{"b", 1, NULL, 1.0f}, {"b", 1, "cites", 0.5f}};
    cvs_record r[2] = {tu_rec("b", vb), tu_rec("a", va)};
    int64_t before = now_us(), after;
    raw w;
    MDB_val v;
    uint64_t key;
    unsigned char back[64];

    r[1].text = "first text";
    r[1].text_len = 10;
    r[1].title = "Alpha";
    r[1].title_len = 5;
    r[1].meta = "{ \"lang\" : \"en\" }";
    r[1].meta_len = strlen(r[1].meta);
    r[1].links = links;
    r[1].nlinks = 2;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    after = now_us();
    cvs_db_close(db);
    db = NULL;

    raw_open(&w, dir);
    /* meta/header: 64 bytes. */
    v = raw_meta(&w, "header");
    cr_assert_eq(v.mv_size, 64);
    cr_assert_eq(memcmp(v.mv_data, "CVSTORE\0", 8), 0);
    cr_assert_eq(le32((char *)v.mv_data + 8), 1, "format version");
    cr_assert_eq(le32((char *)v.mv_data + 12), 3, "dim");
    cr_assert_eq(le32((char *)v.mv_data + 16), 1, "metric l2");
    cr_assert_eq(le32((char *)v.mv_data + 20), 1, "raw f32");
    cr_assert_geq((int64_t)le64((char *)v.mv_data + 24), before, "creation time");
    cr_assert_leq((int64_t)le64((char *)v.mv_data + 24), after, "creation time");
    cr_assert_eq(le32((char *)v.mv_data + 32), 0, "flags of a plain store");
    for (int i = 36; i < 64; i++)
        cr_assert_eq(((unsigned char *)v.mv_data)[i], 0, "reserved byte %d", i);
    /* next_key starts at 1: b got 1, a got 2. */
    v = raw_meta(&w, "next_key");
    cr_assert_eq(v.mv_size, 8);
    cr_assert_eq(le64(v.mv_data), 3);
    /* ids: the id's own bytes -> u64 key. */
    v = raw_get(&w, "ids", "a", 1);
    cr_assert_eq(v.mv_size, 8);
    cr_assert_eq(le64(v.mv_data), 2);
    key = 2;
    /* recs: i64 created, i64 updated, u16 L, id. */
    v = raw_get(&w, "recs", &key, 8);
    cr_assert_eq(v.mv_size, 18 + 1);
    cr_assert_geq((int64_t)le64(v.mv_data), before);
    cr_assert_leq((int64_t)le64(v.mv_data), after);
    cr_assert_eq(le64((char *)v.mv_data + 8), le64(v.mv_data), "updated = created at insert");
    cr_assert_eq(le16((char *)v.mv_data + 16), 1);
    cr_assert_eq(((char *)v.mv_data)[18], 'a');
    /* vecs: dim f32, little-endian. */
    v = raw_get(&w, "vecs", &key, 8);
    cr_assert_eq(v.mv_size, 12);
    for (int d = 0; d < 3; d++)
        cr_assert_eq(lef32((char *)v.mv_data + 4 * d), va[d], "coordinate %d", d);
    /* text and titles: the UTF-8 bytes; attrs: compact JSON. */
    v = raw_get(&w, "text", &key, 8);
    cr_assert_eq(v.mv_size, 10);
    cr_assert_eq(memcmp(v.mv_data, "first text", 10), 0);
    v = raw_get(&w, "titles", &key, 8);
    cr_assert_eq(v.mv_size, 5);
    cr_assert_eq(memcmp(v.mv_data, "Alpha", 5), 0);
    v = raw_get(&w, "attrs", &key, 8);
    cr_assert_eq(v.mv_size, strlen("{\"lang\":\"en\"}"));
    cr_assert_eq(memcmp(v.mv_data, "{\"lang\":\"en\"}", v.mv_size), 0);
    /* links: u32 n, then per link u16 L, u16 T, f32 weight, id, type. */
    v = raw_get(&w, "links", &key, 8);
    cr_assert_eq(v.mv_size, 4 + (8 + 1) + (8 + 1 + 5));
    {
        const unsigned char *p = v.mv_data;
        cr_assert_eq(le32(p), 2);
        cr_assert_eq(le16(p + 4), 1);
        cr_assert_eq(le16(p + 6), 0, "an untyped link has T = 0");
        cr_assert_eq(lef32(p + 8), 1.0f);
        cr_assert_eq(p[12], 'b');
        cr_assert_eq(le16(p + 13), 1);
        cr_assert_eq(le16(p + 15), 5);
        cr_assert_eq(lef32(p + 17), 0.5f);
        cr_assert_eq(p[21], 'b');
        cr_assert_eq(memcmp(p + 22, "cites", 5), 0);
    }
    /* backlinks: under the target's idkey, the source's key once per link. */
    cr_assert_eq(raw_dups(&w, "backlinks", "b", 1, back, sizeof back, 8), 1);
    cr_assert_eq(le64(back), 2);
    /* A record without text, title, meta or links has no entry there. */
    key = 1;
    cr_assert_not(raw_has(&w, "text", &key, 8));
    cr_assert_not(raw_has(&w, "titles", &key, 8));
    cr_assert_not(raw_has(&w, "attrs", &key, 8));
    cr_assert_not(raw_has(&w, "links", &key, 8));
    raw_close(&w);
    tu_store_remove(&dir, &db);
}

Test(format, an_id_over_480_bytes_is_keyed_by_its_head_0xff_and_blake2b)
{
    cvs_create_opts o = {2, CVS_METRIC_L2, CVS_RAW_F32};
    char *dir = NULL, id[500];
    cvs_db *db = NULL;
    float x[2] = {1, 2};
    cvs_record r = tu_rec("", x);
    unsigned char ik[481], h[32];
    uint64_t key = 1;
    raw w;
    MDB_val v;

    for (size_t i = 0; i < sizeof id; i++)
        id[i] = (char)('a' + i % 26);
    r.id = id;
    r.id_len = sizeof id;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;

    cr_assert_geq(sodium_init(), 0);
    crypto_generichash(h, sizeof h, (const unsigned char *)id, sizeof id, NULL, 0);
    memcpy(ik, id, 448);
    ik[448] = 0xff;
    memcpy(ik + 449, h, 32);
    raw_open(&w, dir);
    v = raw_get(&w, "ids", ik, sizeof ik);
    cr_assert_eq(le64(v.mv_data), 1);
    /* The full id stays in recs. */
    v = raw_get(&w, "recs", &key, 8);
    cr_assert_eq(v.mv_size, 18 + sizeof id);
    cr_assert_eq(le16((char *)v.mv_data + 16), sizeof id);
    cr_assert_eq(memcmp((char *)v.mv_data + 18, id, sizeof id), 0);
    raw_close(&w);
    tu_store_remove(&dir, &db);
}

Test(format, f16_and_cosine_vectors_are_stored_as_documented)
{
    cvs_create_opts o16 = {2, CVS_METRIC_L2, CVS_RAW_F16};
    cvs_create_opts ocos = {2, CVS_METRIC_COSINE, CVS_RAW_F32};
    char *dir = NULL;
    cvs_db *db = NULL;
    float x[2] = {1.0f, -2.0f}, y[2] = {3.0f, 4.0f};
    cvs_record r = tu_rec("v", x);
    uint64_t key = 1;
    raw w;
    MDB_val v;

    /* f16: 2 bytes a value, IEEE binary16 (1.0 = 0x3c00, -2.0 = 0xc000). */
    tu_store_create(&o16, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;
    raw_open(&w, dir);
    v = raw_meta(&w, "header");
    cr_assert_eq(le32((char *)v.mv_data + 20), 2, "raw f16");
    v = raw_get(&w, "vecs", &key, 8);
    cr_assert_eq(v.mv_size, 4);
    cr_assert_eq(le16(v.mv_data), 0x3c00);
    cr_assert_eq(le16((char *)v.mv_data + 2), 0xc000);
    raw_close(&w);
    tu_store_remove(&dir, &db);

    /* cosine: normalized once, at insert. */
    r.vector = y;
    tu_store_create(&ocos, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, &r, 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;
    raw_open(&w, dir);
    v = raw_meta(&w, "header");
    cr_assert_eq(le32((char *)v.mv_data + 16), 3, "metric cosine");
    v = raw_get(&w, "vecs", &key, 8);
    cr_assert_eq(v.mv_size, 8);
    cr_assert_float_eq(lef32(v.mv_data), 0.6f, 1e-6f);
    cr_assert_float_eq(lef32((char *)v.mv_data + 4), 0.8f, 1e-6f);
    raw_close(&w);
    tu_store_remove(&dir, &db);
}

Test(format, terms_bm25_sents_and_shard_are_laid_out_as_documented)
{
    cvs_create_opts o = {2, CVS_METRIC_L2, CVS_RAW_F32};
    char *dir = NULL;
    cvs_db *db = NULL;
    float x[2] = {1, 0}, y[2] = {0, 1};
    /* "the" is a stop word: the document is seine river seine river. */
    static const char text[] = "The Seine river. The river!";
    const uint32_t given[4] = {0, 3, 4, 9};
    cvs_record r[2] = {tu_rec("s", x), tu_rec("g", y)};
    unsigned char post[64];
    uint64_t key = 1;
    uint32_t h = 2166136261u;
    raw w;
    MDB_val v;

    r[0].title = "Seine";
    r[0].title_len = 5;
    r[0].text = text;
    r[0].text_len = sizeof text - 1;
    r[1].text = "Given text";
    r[1].text_len = 10;
    r[1].sentences = given;
    r[1].nsentences = 2;
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_db_set_shard(db, 2, 5), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;

    raw_open(&w, dir);
    /* terms: per document, u64 key, u32 tf, u32 dl (title + text, stop
     * words excluded: seine seine river river = 4). */
    cr_assert_eq(raw_dups(&w, "terms", "river", 5, post, sizeof post, 16), 1);
    cr_assert_eq(le64(post), 1);
    cr_assert_eq(le32(post + 8), 2, "tf");
    cr_assert_eq(le32(post + 12), 4, "dl");
    cr_assert_eq(raw_dups(&w, "terms", "seine", 5, post, sizeof post, 16), 1);
    cr_assert_eq(le32(post + 8), 2);
    cr_assert_not(raw_has(&w, "terms", "the", 3), "stop words are not terms");
    /* meta/bm25: u32 tokenizer version 2, u32 0, u64 N, u64 total length
     * ("given text": 2 terms). */
    v = raw_meta(&w, "bm25");
    cr_assert_eq(v.mv_size, 24);
    cr_assert_eq(le32(v.mv_data), 2);
    cr_assert_eq(le32((char *)v.mv_data + 4), 0);
    cr_assert_eq(le64((char *)v.mv_data + 8), 2);
    cr_assert_eq(le64((char *)v.mv_data + 16), 4 + 2);
    /* sents, split: tag 1, length, FNV-1a 32 of the text, n, then pairs. */
    for (size_t i = 0; i < sizeof text - 1; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    v = raw_get(&w, "sents", &key, 8);
    cr_assert_eq(v.mv_size, 16 + 2 * 8);
    cr_assert_eq(le32(v.mv_data), 1, "split version 1, not given");
    cr_assert_eq(le32((char *)v.mv_data + 4), sizeof text - 1);
    cr_assert_eq(le32((char *)v.mv_data + 8), h);
    cr_assert_eq(le32((char *)v.mv_data + 12), 2);
    cr_assert_eq(le32((char *)v.mv_data + 16), 0);
    cr_assert_eq(le32((char *)v.mv_data + 20), 16, "\"The Seine river.\"");
    cr_assert_eq(le32((char *)v.mv_data + 24), 17);
    cr_assert_eq(le32((char *)v.mv_data + 28), sizeof text - 1);
    /* sents, given: bit 16 set, the offsets as given. */
    key = 2;
    v = raw_get(&w, "sents", &key, 8);
    cr_assert_eq(v.mv_size, 16 + 2 * 8);
    cr_assert_eq(le32(v.mv_data), 1u | 1u << 16);
    cr_assert_eq(le32((char *)v.mv_data + 12), 2);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(le32((char *)v.mv_data + 16 + 4 * i), given[i], "offset %d", i);
    /* meta/shard: u32 index, u32 count. */
    v = raw_meta(&w, "shard");
    cr_assert_eq(v.mv_size, 8);
    cr_assert_eq(le32(v.mv_data), 2);
    cr_assert_eq(le32((char *)v.mv_data + 4), 5);
    raw_close(&w);
    tu_store_remove(&dir, &db);
}

/* CRC-32 of the zlib polynomial, bit by bit (the document's definition). */
static uint32_t crc32_bits(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

/* n records "r0".."r{n-1}" over n random vectors of dimension d in x
 * (seeded), their ids in ids. */
static void random_recs(float *x, size_t d, cvs_record *r, char (*ids)[8], int n, uint64_t seed)
{
    cr_assert_not_null(x);
    tu_randvecs(x, (size_t)n * d, seed);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        r[i] = tu_rec(ids[i], x + (size_t)i * d);
    }
}

Test(format, codec_ivf_lists_ivflog_and_knn_are_laid_out_as_documented)
{
    enum { N = 300, D = 8 };
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf4,sq8"};
    cvs_knn_opts ko = {.k = 5, .flags = CVS_SEARCH_EXACT};
    cvs_knn_info ki;
    char *dir = NULL, ids[N + 1][8];
    cvs_db *db = NULL;
    float *x = malloc((size_t)(N + 1) * D * sizeof *x);
    cvs_record r[N + 1];
    uint64_t key, gen, seq;
    const unsigned char *p;
    raw w;
    MDB_val v;
    size_t sl;

    random_recs(x, D, r, ids, N + 1, 7);
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build(db, "pq4x8", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_knn_build(db, &ko, &ki), 0, "%s", cvs_errmsg(db));
    /* One put after the build: an add entry in the change log. */
    cr_assert_eq(cvs_put(db, &r[N], 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;

    raw_open(&w, dir);
    /* The codec blob: magic, u32 version 1, u32 spec_len, spec, u32 dim,
     * u32 metric, stages, CRC-32 of every byte before it. */
    v = raw_meta(&w, "codec");
    p = v.mv_data;
    cr_assert_eq(memcmp(p, "CVSCODEC", 8), 0);
    cr_assert_eq(le32(p + 8), 1);
    sl = le32(p + 12);
    cr_assert_eq(sl, 5, "the canonical spec pq4x8");
    cr_assert_eq(memcmp(p + 16, "pq4x8", 5), 0);
    cr_assert_eq(le32(p + 16 + sl), D);
    cr_assert_eq(le32(p + 20 + sl), 1);
    /* The PQ stage: tag 3, D, M, B, eta, then M * 256 * D/M floats. */
    cr_assert_eq(le32(p + 24 + sl), 3);
    cr_assert_eq(le32(p + 28 + sl), D);
    cr_assert_eq(le32(p + 32 + sl), 4);
    cr_assert_eq(le32(p + 36 + sl), 8);
    cr_assert_eq(lef32(p + 40 + sl), 0.0f);
    cr_assert_eq(v.mv_size, 28 + sl + 20 + 4 * 256 * (D / 4) * 4, "the documented size");
    cr_assert_eq(le32(p + v.mv_size - 4), crc32_bits(p, v.mv_size - 4));
    v = raw_meta(&w, "codec_gen");
    cr_assert_eq(v.mv_size, 8);
    gen = le64(v.mv_data);
    cr_assert_geq(gen, 1);
    /* meta/ivf: magic, u32 version 3 (,sq8), dim, nlist, flags (l2:
     * direct), u64 codec generation, centroids, then vmin and scale. */
    v = raw_meta(&w, "ivf");
    p = v.mv_data;
    cr_assert_eq(memcmp(p, "CVSIVF\0\0", 8), 0);
    cr_assert_eq(le32(p + 8), 3);
    cr_assert_eq(le32(p + 12), D);
    cr_assert_eq(le32(p + 16), 4);
    cr_assert_eq(le32(p + 20), 0, "direct codes on an l2 store");
    cr_assert_eq(le64(p + 24), gen);
    cr_assert_eq(v.mv_size, 32 + 4 * 4 * D + 8 * D);
    /* lists: u32 list id, then the dim-byte SQ8 row (version 3). */
    key = 1;
    v = raw_get(&w, "lists", &key, 8);
    cr_assert_eq(v.mv_size, 4 + D);
    cr_assert_lt(le32(v.mv_data), 4);
    /* codes: pq4 = 4 bytes. */
    v = raw_get(&w, "codes", &key, 8);
    cr_assert_eq(v.mv_size, 4);
    /* ivflog: the put after the build, an add entry numbered ivf_seq. */
    v = raw_meta(&w, "ivf_seq");
    cr_assert_eq(v.mv_size, 8);
    seq = le64(v.mv_data);
    v = raw_get(&w, "ivflog", &seq, 8);
    p = v.mv_data;
    cr_assert_eq(v.mv_size, 21 + 4, "an add entry carries the code");
    cr_assert_eq(le64(p), N + 1, "the key of the record put");
    cr_assert_gt(le64(p + 8), 0, "a txnid");
    {
        uint64_t k2 = N + 1;
        MDB_val lv = raw_get(&w, "lists", &k2, 8), cv = raw_get(&w, "codes", &k2, 8);
        cr_assert_eq(le32(p + 16), le32(lv.mv_data), "the record's list");
        cr_assert_eq(p[20], 1, "op add");
        cr_assert_eq(memcmp(p + 21, cv.mv_data, 4), 0, "the record's code");
    }
    /* meta/knn: u32 1, u32 K, u64 rows, u32 source 0 (exact), u32 0, f64
     * recall 1, f64 seconds, i64 time. */
    v = raw_meta(&w, "knn");
    p = v.mv_data;
    cr_assert_eq(v.mv_size, 48);
    cr_assert_eq(le32(p), 1);
    cr_assert_eq(le32(p + 4), 5);
    cr_assert_eq(le64(p + 8), N);
    cr_assert_eq(le32(p + 16), 0);
    cr_assert_eq(le32(p + 20), 0);
    {
        double recall;
        memcpy(&recall, p + 24, 8);
        cr_assert_eq(recall, 1.0);
    }
    /* knn rows: K x (u64 key, f32 score), best first. */
    key = 1;
    v = raw_get(&w, "knn", &key, 8);
    cr_assert_eq(v.mv_size, 5 * 12);
    p = v.mv_data;
    for (int j = 0; j < 5; j++) {
        uint64_t nb = le64(p + 12 * j);
        cr_assert(nb >= 1 && nb <= N + 1 && nb != 1, "edge %d names key %llu", j,
                  (unsigned long long)nb);
        if (j)
            cr_assert_leq(lef32(p + 12 * (j - 1) + 8), lef32(p + 12 * j + 8),
                          "l2 distances, nearest first");
    }
    raw_close(&w);
    tu_store_remove(&dir, &db);
    free(x);
}

/* The Feistel permutation of FORMAT.md's dupsort values, decrypting: the
 * document's round function, undone from round 3 down to round 0. */
static void unpermute(const unsigned char pk[16], char dbinitial, const unsigned char *sk,
                      size_t sklen, unsigned char *b, size_t n)
{
    unsigned char in[18], f[8], t[8], *L = b, *R = b + n / 2;
    size_t h = n / 2;
    for (int i = 3; i >= 0; i--) {
        memset(in, 0, sizeof in);
        in[0] = (unsigned char)dbinitial;
        in[1] = (unsigned char)i;
        memcpy(in + 2, sk, sklen < 8 ? sklen : 8);
        memcpy(in + 10, L, h);
        crypto_shorthash(f, in, 10 + h, pk);
        for (size_t j = 0; j < h; j++)
            t[j] = R[j] ^ f[j];
        memcpy(R, L, h);
        memcpy(L, t, h);
    }
}

/* Opens a sealed value: nonce, ciphertext, tag; AD = name, NUL, stored key. */
static size_t unseal(const unsigned char aead[32], const char *name, const void *k, size_t klen,
                     const MDB_val *v, unsigned char *out)
{
    unsigned char ad[600];
    unsigned long long n = 0;
    size_t nl = strlen(name) + 1;
    memcpy(ad, name, nl);
    memcpy(ad + nl, k, klen);
    cr_assert_geq(v->mv_size, 40);
    cr_assert_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(
                     out, &n, NULL, (unsigned char *)v->mv_data + 24, v->mv_size - 24, ad,
                     nl + klen, v->mv_data, aead),
                 0, "%s: the value opens with the documented key, nonce and AD", name);
    cr_assert_eq(n, v->mv_size - 40);
    return (size_t)n;
}

Test(format, an_encrypted_store_seals_as_documented, .timeout = 120)
{
    cvs_create_opts o = {2, CVS_METRIC_L2, CVS_RAW_F32};
    static const char pass[] = "format test passphrase";
    char *dir = tu_tmpdir();
    cvs_db *db = NULL;
    float va[2] = {1, 2}, vb[2] = {3, 4};
    cvs_link link = {"b", 1, NULL, 1.0f};
    cvs_record r[2] = {tu_rec("b", vb), tu_rec("a", va)};
    unsigned char master[32], aead[32], hk[32], pk[16], idh[32], plain[256], back[8];
    uint64_t key = 2;
    raw w;
    MDB_val v;
    const unsigned char *p;

    r[1].links = &link;
    r[1].nlinks = 1;
    cr_assert_not_null(dir);
    cr_assert_eq(cvs_db_create_encrypted(dir, &o, pass, strlen(pass), &db), 0, "%s",
                 cvs_errmsg(NULL));
    cr_assert_eq(cvs_put(db, r, 2, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;
    cr_assert_geq(sodium_init(), 0);

    raw_open(&w, dir);
    /* The header: version 2, flag bit 0. */
    v = raw_meta(&w, "header");
    cr_assert_eq(le32((char *)v.mv_data + 8), 2);
    cr_assert_eq(le32((char *)v.mv_data + 32), 1);
    /* meta/crypt, 120 bytes, plain. */
    v = raw_meta(&w, "crypt");
    p = v.mv_data;
    cr_assert_eq(v.mv_size, 120);
    cr_assert_eq(memcmp(p, "CVSCRYPT", 8), 0);
    cr_assert_eq(le32(p + 8), 1);
    cr_assert_eq(le32(p + 12), 1);
    cr_assert_eq(le64(p + 16), crypto_pwhash_OPSLIMIT_INTERACTIVE);
    cr_assert_eq(le64(p + 24), crypto_pwhash_MEMLIMIT_INTERACTIVE);
    /* The keys, derived as documented: Argon2id, then crypto_kdf ids 1-3. */
    cr_assert_eq(crypto_pwhash(master, 32, pass, strlen(pass), p + 32, le64(p + 16),
                               (size_t)le64(p + 24), crypto_pwhash_ALG_ARGON2ID13), 0);
    crypto_kdf_derive_from_key(aead, 32, 1, "cvstore_", master);
    crypto_kdf_derive_from_key(hk, 32, 2, "cvstore_", master);
    crypto_kdf_derive_from_key(pk, 16, 3, "cvstore_", master);
    {
        MDB_val check = {72, (void *)(p + 48)};
        cr_assert_eq(unseal(aead, "meta", "crypt", 5, &check, plain), 32);
        cr_assert_eq(memcmp(plain, "cvstore key check block, v1.....", 32), 0);
    }
    /* ids: keyed BLAKE2b of the idkey, a sealed u64 key. */
    crypto_generichash(idh, 32, (const unsigned char *)"a", 1, hk, 32);
    v = raw_get(&w, "ids", idh, 32);
    cr_assert_eq(unseal(aead, "ids", idh, 32, &v, plain), 8);
    cr_assert_eq(le64(plain), 2);
    /* recs: the plain layout, sealed under the plain u64 key. */
    v = raw_get(&w, "recs", &key, 8);
    cr_assert_eq(unseal(aead, "recs", &key, 8, &v, plain), 18 + 1);
    cr_assert_eq(le16(plain + 16), 1);
    cr_assert_eq(plain[18], 'a');
    /* meta next_key: sealed under its name. */
    v = raw_meta(&w, "next_key");
    cr_assert_eq(unseal(aead, "meta", "next_key", 8, &v, plain), 8);
    cr_assert_eq(le64(plain), 3);
    /* backlinks: under the keyed hash of the target's idkey, the source's
     * key permuted. */
    crypto_generichash(idh, 32, (const unsigned char *)"b", 1, hk, 32);
    cr_assert_eq(raw_dups(&w, "backlinks", idh, 32, back, sizeof back, 8), 1);
    unpermute(pk, 'b', idh, 32, back, 8);
    cr_assert_eq(le64(back), 2);
    raw_close(&w);
    tu_store_remove(&dir, &db);
}

/* The u64 value of a meta entry named by prefix + 8-byte big-endian key. */
static int raw_mark(raw *r, const char *prefix, uint64_t key, MDB_val *v)
{
    unsigned char k[16];
    size_t pl = strlen(prefix);
    MDB_dbi dbi;
    MDB_val mk = {pl + 8, k};
    memcpy(k, prefix, pl);
    for (int i = 0; i < 8; i++)
        k[pl + i] = (unsigned char)(key >> (56 - 8 * i));
    cr_assert_eq(mdb_dbi_open(r->txn, "meta", 0, &dbi), 0);
    return mdb_get(r->txn, dbi, &mk, v) == 0;
}

Test(format, the_faiss_and_graph_index_blobs_and_their_marks_are_laid_out_as_documented)
{
    enum { N = 300, D = 8, R = 32 };
    cvs_create_opts o = {D, CVS_METRIC_L2, CVS_RAW_F32};
    char *dir = NULL, *dir2 = NULL, ids[N + 1][8];
    cvs_db *db = NULL;
    float *x = malloc((size_t)(N + 1) * D * sizeof *x);
    cvs_record r[N + 1];
    const unsigned char *p;
    uint64_t n, gen, len;
    raw w;
    MDB_val v;

    random_recs(x, D, r, ids, N + 1, 11);

    /* FAISS: one chunk "fidx/c" + u32 BE 0 holding magic, n, keys, L,
     * FAISS's bytes; the counters; a put afterwards is marked under
     * "fidx/d" + u64 BE key with the epoch. */
    tu_store_create(&o, NULL, &dir, &db);
    cr_assert_eq(cvs_put(db, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build(db, NULL, &(cvs_build_opts){.index = "faiss:Flat"}), 0, "%s",
                 cvs_errmsg(db));
    cr_assert_eq(cvs_put(db, &r[N], 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;
    raw_open(&w, dir);
    cr_assert_eq(le64(raw_meta(&w, "fidx_nchunks").mv_data), 1);
    cr_assert_eq(le64(raw_meta(&w, "fidx_gen").mv_data), 1);
    cr_assert_eq(le64(raw_meta(&w, "fidx_next").mv_data), N + 1, "one above the largest key");
    v = raw_meta(&w, "fidx_spec");
    cr_assert_eq(v.mv_size, 4);
    cr_assert_eq(memcmp(v.mv_data, "Flat", 4), 0);
    v = raw_get(&w, "meta", "fidx/c\0\0\0\0", 10);
    p = v.mv_data;
    cr_assert_eq(memcmp(p, "CVSFIDX1", 8), 0);
    n = le64(p + 8);
    cr_assert_eq(n, N);
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(le64(p + 16 + 8 * i), i + 1, "label %llu", (unsigned long long)i);
    len = le64(p + 16 + 8 * n);
    cr_assert_eq(v.mv_size, 24 + 8 * n + len);
    cr_assert_eq(memcmp(p + 24 + 8 * n, "IxF2", 4), 0, "faiss_write_index's flat L2 header");
    cr_assert(raw_mark(&w, "fidx/d", N + 1, &v), "the record put after the build is marked");
    cr_assert_eq(v.mv_size, 8);
    cr_assert_eq(le64(v.mv_data), le64(raw_meta(&w, "fidx_epoch").mv_data));
    raw_close(&w);
    tu_store_remove(&dir, &db);

    /* The graph index: meta qg (version 2) and its counters; a later put
     * is marked "qg/d" + u64 BE key with an empty value. */
    tu_store_create(&o, NULL, &dir2, &db);
    cr_assert_eq(cvs_put(db, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_build(db, "opq,pq4x4", &(cvs_build_opts){.seed = 3, .index = "qg"}), 0,
                 "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_put(db, &r[N], 1, 0, NULL, NULL), 0, "%s", cvs_errmsg(db));
    cvs_db_close(db);
    db = NULL;
    raw_open(&w, dir2);
    gen = le64(raw_meta(&w, "codec_gen").mv_data);
    cr_assert_eq(le64(raw_meta(&w, "qg_next").mv_data), N + 1);
    cr_assert_geq(le64(raw_meta(&w, "qg_gen").mv_data), 1);
    v = raw_meta(&w, "qg");
    p = v.mv_data;
    cr_assert_eq(memcmp(p, "CVSQG\0\0\x01", 8), 0);
    cr_assert_eq(le32(p + 8), 2);
    cr_assert_eq(le32(p + 12), R);
    cr_assert_eq(le32(p + 16), D);
    cr_assert_lt(le32(p + 20), N, "entry node");
    n = le64(p + 24);
    cr_assert_eq(n, N);
    cr_assert_eq(le64(p + 32), gen);
    cr_assert_eq(v.mv_size, 40 + 8 * D + 8 * n + 4 * R * n + D * n, "the documented length");
    for (int t = 0; t < D; t++)
        cr_assert_geq(lef32(p + 40 + 4 * D + 4 * t), 0.0f, "scale %d", t);
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(le64(p + 40 + 8 * D + 8 * i), i + 1, "node %llu's key",
                     (unsigned long long)i);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *l = p + 40 + 8 * D + 8 * n + 4 * R * i;
        int pad = 0;
        for (int j = 0; j < R; j++) {
            uint32_t u = le32(l + 4 * j);
            if (u == 0xffffffffu) {
                pad = 1;
                continue;
            }
            cr_assert_not(pad, "padding only at the end of node %llu's list",
                          (unsigned long long)i);
            cr_assert(u < n && u != i, "node %llu: neighbour %u", (unsigned long long)i, u);
        }
    }
    cr_assert(raw_mark(&w, "qg/d", N + 1, &v), "the record put after the build is marked");
    cr_assert_eq(v.mv_size, 0);
    raw_close(&w);
    tu_store_remove(&dir2, &db);
    free(x);
}
