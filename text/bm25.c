/*
 * bm25.c -- the lexical index: Okapi BM25 over each record's title and text,
 * kept in LMDB and updated inside the same write transaction as every put
 * and delete, so the index never disagrees with the records it describes.
 *
 * The method is BM25 as summarized by Robertson & Zaragoza, "The
 * Probabilistic Relevance Framework: BM25 and Beyond" (Foundations and
 * Trends in IR 3(4), 2009), eq. 3.15 with query-term frequency 1:
 *
 *   score(q, d) = sum over distinct terms t of q present in d of
 *                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * dl(d) / avgdl))
 *
 * with k1 = 1.2 and b = 0.75 (their recommended defaults), tf the count of t
 * in d, dl the number of tokens of d and avgdl the mean over the store.  A
 * record's "document" is its title followed by its text, tokenized by
 * text/tokenize.c with accents stripped.
 *
 * Storage (docs/FORMAT.md): a dupsort database "terms" maps each term to
 * fixed 16-byte postings (u64 key, u32 tf, u32 dl), and the meta record
 * "bm25" holds the tokenizer version, the number of indexed documents N and
 * their total length.  Putting dl into every posting costs 4 bytes per
 * posting but lets a query score a posting without a second lookup per
 * document, which is what dominates the cost of frequent query terms.
 *
 * Where we deviate or choose:
 *   1. idf is Robertson–Spärck Jones with 1 added inside the logarithm,
 *      log(1 + (N - df + 0.5) / (df + 0.5)), as Lucene does: the textbook
 *      form goes negative for terms in more than half the documents, which
 *      would make matching a common word worse than not matching it.
 *   2. A query term repeated in the query counts once (query tf is
 *      ignored; R&Z's k3 saturation with k3 = 0).  Queries here are
 *      questions, where a repeated word is seldom a signal.
 *   3. Title and text form one field.  BM25F (field weights) would let the
 *      title count more; it needs per-field lengths and is left for later.
 *   4. Only records with at least one token are documents (count in N).
 *   5. No posting of the old version is stored apart from the record: to
 *      unindex a record, its stored title and text are tokenized again.  This
 *      ties the postings to the tokenizer, so the store records the
 *      tokenizer's version, and the first write under a different version
 *      rebuilds the whole index in its transaction.
 *   6. Ties in the top-k break on the smaller key (core/heap.h), so results
 *      are deterministic.
 *   7. No stemming in the index (text/tokenize.c deviation 3), but a query
 *      may ask for classes of terms (cvs__bm25_search_classes: the context
 *      pipeline's single-hop route, query/context.c deviation 17, asks for
 *      a question term's forms), each scored as one term of an index that
 *      conflated them would score it -- Robertson & Zaragoza's treatment of
 *      a term and its variants: tf the sum of the forms' tfs in a record, df
 *      the records holding any form.  The forms come from the sorted
 *      "terms" table, one cursor range per prefix
 *      (cvs__bm25_terms_prefixed); an encrypted store's terms are keyed
 *      hashes in no useful order, and it says so.  Like a term query, a
 *      class query takes its statistics from outside
 *      (cvs_txn_text_class_stats summed over stores that share no record,
 *      then cvs_txn_text_search_classes): cvstore-mpi's shards score a
 *      question's classes as one store holding all of them would.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/heap.h"
#include "text/bm25.h"
#include "store/db.h"
#include "store/seal.h"
#include "text/tokenize.h"

#define POSTING_BYTES 16
#define STATS_BYTES 24

typedef struct bm25_stats {
    uint32_t tokver;
    uint64_t ndocs, total;
} bm25_stats;

typedef struct term {
    const char *s;
    uint32_t len, tf;
} term;

/* The distinct terms of one document and their counts. */
typedef struct doc_terms {
    cvs_tokens title, text;
    term *t;
    size_t n, cap;
    uint32_t dl;
} doc_terms;

static void doc_terms_free(doc_terms *d)
{
    cvs__tokens_free(&d->title);
    cvs__tokens_free(&d->text);
    free(d->t);
}

static int cmp_term(const void *a, const void *b)
{
    return strcmp(((const term *)a)->s, ((const term *)b)->s);
}

/* The sorted distinct terms of the token lists a and b (either may be
 * NULL) with their frequencies into d, and dl, their token count.  The
 * terms point into a's and b's buffers. */
static int doc_terms_of(doc_terms *d, const cvs_tokens *a, const cvs_tokens *b)
{
    size_t all = (a ? a->n : 0) + (b ? b->n : 0), m = 0;
    d->n = 0;
    d->dl = 0;
    if (all > UINT32_MAX)
        return cvs__err(CVS_EINPUT, "text has more than 2^32 tokens");
    if (all > d->cap) {
        term *p = realloc(d->t, all * sizeof *p);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory indexing text");
        d->t = p;
        d->cap = all;
    }
    for (size_t i = 0; a && i < a->n; i++)
        d->t[m++] = (term){a->buf + a->off[i], a->len[i], 1};
    for (size_t i = 0; b && i < b->n; i++)
        d->t[m++] = (term){b->buf + b->off[i], b->len[i], 1};
    d->dl = (uint32_t)all;
    if (m == 0)
        return CVS_OK;
    qsort(d->t, m, sizeof *d->t, cmp_term);
    d->n = 1;
    for (size_t i = 1; i < m; i++) {
        if (strcmp(d->t[i].s, d->t[d->n - 1].s) == 0)
            d->t[d->n - 1].tf++;
        else
            d->t[d->n++] = d->t[i];
    }
    return CVS_OK;
}

/* Tokenizes title and text (either may be NULL) into d: sorted distinct
 * terms with their frequencies, and dl, the token count. */
static int doc_terms_build(doc_terms *d, const char *title, size_t title_len,
                           const char *text, size_t text_len)
{
    int rc;
    if ((rc = cvs__tokenize(title ? title : "", title ? title_len : 0, CVS_TOK_STRIP_ACCENTS,
                            &d->title)) ||
        (rc = cvs__tokenize(text ? text : "", text ? text_len : 0, CVS_TOK_STRIP_ACCENTS,
                            &d->text)))
        return rc;
    return doc_terms_of(d, &d->title, &d->text);
}

/* ==== Totals (meta "bm25") ==== */

static int stats_get(cvs_db *db, MDB_txn *txn, bm25_stats *s)
{
    MDB_val k = CVS__MKEY(CVS__META_BM25), v;
    int mrc = cvs__vget(db, txn, db->dbi_meta, &k, &v);
    memset(s, 0, sizeof *s);
    if (mrc == MDB_NOTFOUND) {
        s->tokver = CVS_TOKENIZER_VERSION;
        return CVS_OK;
    }
    if (mrc)
        return cvs__err_lmdb(mrc, "reading meta bm25");
    if (v.mv_size != STATS_BYTES)
        return cvs__err(CVS_ECORRUPT, "meta bm25 has %zu bytes, expected %d", v.mv_size, STATS_BYTES);
    s->tokver = cvs__get_u32(v.mv_data);
    s->ndocs = cvs__get_u64((const unsigned char *)v.mv_data + 8);
    s->total = cvs__get_u64((const unsigned char *)v.mv_data + 16);
    return CVS_OK;
}

static int stats_put(cvs_db *db, MDB_txn *txn, const bm25_stats *s)
{
    unsigned char buf[STATS_BYTES] = {0};
    MDB_val k = CVS__MKEY(CVS__META_BM25), v = {STATS_BYTES, buf};
    int mrc;
    cvs__put_u32(buf, s->tokver);
    cvs__put_u64(buf + 8, s->ndocs);
    cvs__put_u64(buf + 16, s->total);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing meta bm25");
    return CVS_OK;
}

/* ==== Postings ==== */

static void posting_encode(unsigned char p[POSTING_BYTES], uint64_t key, uint32_t tf, uint32_t dl)
{
    cvs__put_u64(p, key);
    cvs__put_u32(p + 8, tf);
    cvs__put_u32(p + 12, dl);
}

/* Adds (add = 1) or removes d's postings for key and adjusts s. */
static int apply(cvs_db *db, MDB_txn *txn, uint64_t key, const doc_terms *d, int add,
                 bm25_stats *s)
{
    unsigned char p[POSTING_BYTES];
    int mrc;
    if (d->n == 0)
        return CVS_OK;
    for (size_t i = 0; i < d->n; i++) {
        MDB_val k = {d->t[i].len, (void *)d->t[i].s}, v = {POSTING_BYTES, p};
        posting_encode(p, key, d->t[i].tf, d->dl);
        if (add)
            mrc = cvs__vput(db, txn, cvs__text(db)->dbi_terms, &k, &v, MDB_NODUPDATA);
        else
            mrc = cvs__vdel(db, txn, cvs__text(db)->dbi_terms, &k, &v);
        /* A missing posting on removal (or a present one on adding) means
         * the index was already in that state: nothing to repair. */
        if (mrc && mrc != MDB_NOTFOUND && mrc != MDB_KEYEXIST)
            return cvs__werr(mrc, add ? "writing a posting" : "removing a posting");
    }
    if (add) {
        s->ndocs++;
        s->total += d->dl;
    } else {
        s->ndocs -= s->ndocs > 0;
        s->total -= s->total >= d->dl ? d->dl : s->total;
    }
    return CVS_OK;
}

/* The stored title and text of key (either may come back NULL). */
static int stored_doc(cvs_db *db, MDB_txn *txn, uint64_t key, MDB_val *title, MDB_val *text)
{
    MDB_val k = {8, &key};
    int mrc;
    title->mv_data = text->mv_data = NULL;
    title->mv_size = text->mv_size = 0;
    if (db->have_titles && (mrc = cvs__vget(db, txn, db->dbi_titles, &k, title)) &&
        mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading a title");
    if ((mrc = cvs__vget(db, txn, db->dbi_text, &k, text)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading text");
    return CVS_OK;
}

static int add_stored(cvs_db *db, MDB_txn *txn, uint64_t key, doc_terms *d, bm25_stats *s)
{
    MDB_val ti, te;
    int rc;
    if ((rc = stored_doc(db, txn, key, &ti, &te)) ||
        (rc = doc_terms_build(d, ti.mv_data, ti.mv_size, te.mv_data, te.mv_size)))
        return rc;
    return apply(db, txn, key, d, 1, s);
}

int cvs__bm25_reindex(cvs_db *db, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    doc_terms d = {0};
    bm25_stats s = {CVS_TOKENIZER_VERSION, 0, 0};
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_drop(txn, cvs__text(db)->dbi_terms, 0)))
        return cvs__werr(mrc, "emptying terms");
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    /* Collecting keys first is unnecessary: writes go to other databases. */
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t key;
        if (k.mv_size != 8) {
            rc = cvs__err(CVS_ECORRUPT, "recs key of %zu bytes", k.mv_size);
            goto out;
        }
        memcpy(&key, k.mv_data, 8);
        if ((rc = add_stored(db, txn, key, &d, &s)))
            goto out;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "reading records");
        goto out;
    }
    rc = stats_put(db, txn, &s);
out:
    mdb_cursor_close(cur);
    doc_terms_free(&d);
    return rc;
}

/* Totals for a write; rebuilds the index first when it was made by another
 * tokenizer version (deviation 5). */
static int stats_for_write(cvs_db *db, MDB_txn *txn, bm25_stats *s)
{
    int rc;
    if ((rc = stats_get(db, txn, s)))
        return rc;
    if (s->tokver == CVS_TOKENIZER_VERSION)
        return CVS_OK;
    if ((rc = cvs__bm25_reindex(db, txn)))
        return rc;
    return stats_get(db, txn, s);
}

int cvs__bm25_on_put(cvs_db *db, MDB_txn *txn, uint64_t key, int existed, const cvs_record *r)
{
    doc_terms d = {0};
    bm25_stats s;
    int rc;

    if ((rc = stats_for_write(db, txn, &s)))
        return rc;
    if (existed) {
        MDB_val ti, te;
        /* Tokenize the old version before anything overwrites its pages. */
        if ((rc = stored_doc(db, txn, key, &ti, &te)) ||
            (rc = doc_terms_build(&d, ti.mv_data, ti.mv_size, te.mv_data, te.mv_size)) ||
            (rc = apply(db, txn, key, &d, 0, &s)))
            goto out;
    }
    if ((rc = doc_terms_build(&d, r->title, r->title_len, r->text, r->text_len)) ||
        (rc = apply(db, txn, key, &d, 1, &s)))
        goto out;
    rc = stats_put(db, txn, &s);
out:
    doc_terms_free(&d);
    return rc;
}

int cvs__bm25_on_delete(cvs_db *db, MDB_txn *txn, uint64_t key)
{
    doc_terms d = {0};
    bm25_stats s;
    MDB_val ti, te;
    int rc;

    if ((rc = stats_for_write(db, txn, &s)) || (rc = stored_doc(db, txn, key, &ti, &te)) ||
        (rc = doc_terms_build(&d, ti.mv_data, ti.mv_size, te.mv_data, te.mv_size)) ||
        (rc = apply(db, txn, key, &d, 0, &s)))
        goto out;
    rc = stats_put(db, txn, &s);
out:
    doc_terms_free(&d);
    return rc;
}

CVS_API int cvs_text_index_outdated(cvs_db *db, int *outdated)
{
    MDB_txn *txn = NULL;
    bm25_stats s;
    int rc;
    if (!db || !outdated)
        return cvs__err(CVS_EINVAL, "cvs_text_index_outdated: NULL argument");
    *outdated = 0;
    /* A store opened read-only before the text layer existed has no index. */
    if (!cvs__module_present(db, &cvs__text_module))
        return CVS_OK;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if (!(rc = stats_get(db, txn, &s)))
        *outdated = s.tokver != CVS_TOKENIZER_VERSION;
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Check ==== */

int cvs__bm25_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx)
{
    MDB_cursor *cur = NULL, *tc = NULL;
    MDB_val k, v;
    MDB_stat st;
    doc_terms d = {0};
    bm25_stats s, want = {CVS_TOKENIZER_VERSION, 0, 0};
    uint64_t postings = 0;
    unsigned char p[POSTING_BYTES];
    char msg[512];
    int rc = CVS_OK, mrc;

    if (!cvs__module_present(db, &cvs__text_module))
        return CVS_OK;
    if ((rc = stats_get(db, txn, &s))) {
        snprintf(msg, sizeof msg, "meta bm25: %s", cvs_errmsg(db));
        problem(ctx, msg);
        return CVS_OK;
    }
    /* Postings of another tokenizer are not this one's to verify, and not
     * damage: the next write rebuilds them (deviation 5), and
     * cvs_text_index_outdated says so, a note rather than a problem. */
    if (s.tokver != CVS_TOKENIZER_VERSION)
        return CVS_OK;
    /* The titles themselves are the store's (store/check.c). */
    if ((mrc = mdb_cursor_open(txn, cvs__text(db)->dbi_terms, &tc))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    /* Every record's expected postings must be there... */
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t key;
        MDB_val ti, te;
        if (k.mv_size != 8)
            continue; /* reported by the store's own check */
        memcpy(&key, k.mv_data, 8);
        if ((rc = stored_doc(db, txn, key, &ti, &te)))
            goto out;
        if ((rc = doc_terms_build(&d, ti.mv_data, ti.mv_size, te.mv_data, te.mv_size))) {
            snprintf(msg, sizeof msg, "key %llu: cannot tokenize: %s", (unsigned long long)key,
                     cvs_errmsg(db));
            problem(ctx, msg);
            rc = CVS_OK;
            continue;
        }
        if (d.n) {
            want.ndocs++;
            want.total += d.dl;
        }
        for (size_t i = 0; i < d.n; i++) {
            MDB_val tk = {d.t[i].len, (void *)d.t[i].s}, tv = {POSTING_BYTES, p};
            posting_encode(p, key, d.t[i].tf, d.dl);
            postings++;
            if (cvs__cget(db, tc, &tk, &tv, MDB_GET_BOTH) != 0) {
                snprintf(msg, sizeof msg, "terms: \"%s\" lacks the posting of key %llu "
                         "(tf %u, dl %u)", d.t[i].s, (unsigned long long)key, d.t[i].tf, d.dl);
                problem(ctx, msg);
            }
        }
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading records");
        goto out;
    }
    /* ...and nothing else. */
    if ((mrc = mdb_stat(txn, cvs__text(db)->dbi_terms, &st))) {
        rc = cvs__err_lmdb(mrc, "reading terms statistics");
        goto out;
    }
    if (st.ms_entries != postings) {
        snprintf(msg, sizeof msg, "terms: %zu postings, but the records give %llu",
                 (size_t)st.ms_entries, (unsigned long long)postings);
        problem(ctx, msg);
    }
    if (s.ndocs != want.ndocs || s.total != want.total) {
        snprintf(msg, sizeof msg, "meta bm25: %llu documents of %llu terms in all, but the "
                 "records give %llu and %llu", (unsigned long long)s.ndocs,
                 (unsigned long long)s.total, (unsigned long long)want.ndocs,
                 (unsigned long long)want.total);
        problem(ctx, msg);
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    if (tc)
        mdb_cursor_close(tc);
    doc_terms_free(&d);
    return rc;
}

/* ==== Search ==== */

/* Score accumulator: open addressing over keys (0 = empty: keys start at 1). */
typedef struct acc {
    uint64_t *keys;
    float *score;
    size_t cap, n;
} acc;

static size_t acc_slot(const acc *a, uint64_t key)
{
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (a->cap - 1);
    while (a->keys[i] && a->keys[i] != key)
        i = (i + 1) & (a->cap - 1);
    return i;
}

static int acc_add(acc *a, uint64_t key, float s)
{
    size_t i;
    if ((a->n + 1) * 2 > a->cap) {
        acc b = {0};
        b.cap = a->cap ? a->cap * 2 : 1024;
        b.keys = calloc(b.cap, sizeof *b.keys);
        b.score = malloc(b.cap * sizeof *b.score);
        if (!b.keys || !b.score) {
            free(b.keys);
            free(b.score);
            return cvs__err(CVS_ENOMEM, "out of memory scoring %zu documents", a->n);
        }
        for (size_t j = 0; j < a->cap; j++)
            if (a->keys[j]) {
                size_t t = acc_slot(&b, a->keys[j]);
                b.keys[t] = a->keys[j];
                b.score[t] = a->score[j];
            }
        b.n = a->n;
        free(a->keys);
        free(a->score);
        *a = b;
    }
    i = acc_slot(a, key);
    if (!a->keys[i]) {
        a->keys[i] = key;
        a->score[i] = 0;
        a->n++;
    }
    a->score[i] += s;
    return CVS_OK;
}

/* The BM25 weight of a term found tf times in a record of dl tokens
 * (Robertson & Zaragoza's eq. 3.15 for one term, query tf 1). */
static double term_weight(double idf, double tf, double dl, double avgdl)
{
    return idf * tf * (CVS_BM25_K1 + 1) /
           (tf + CVS_BM25_K1 * (1 - CVS_BM25_B + CVS_BM25_B * dl / avgdl));
}

/* Puts cur on the postings of the term k and their count into *df (0,
 * cur nowhere, when the index lacks the term); v is the first posting. */
static int term_seek(cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v, size_t *df)
{
    int mrc = cvs__cget(db, cur, k, v, MDB_SET_KEY);
    *df = 0;
    if (mrc == MDB_NOTFOUND)
        return CVS_OK;
    if (mrc || (mrc = mdb_cursor_count(cur, df)))
        return cvs__err_lmdb(mrc, "reading postings");
    return CVS_OK;
}

/* Calls fn with each posting of the term that term_seek put cur on (k and
 * v as it left them). */
typedef int (*posting_fn)(void *ctx, uint64_t key, double tf, double dl);

static int term_postings(cvs_db *db, MDB_cursor *cur, MDB_val *k, MDB_val *v, posting_fn fn,
                         void *ctx)
{
    int rc, mrc;
    /* GET_MULTIPLE hands out a page of fixed-size postings at a time; for a
     * term with a single posting it leaves v as MDB_SET_KEY filled it. */
    mrc = cvs__cget(db, cur, k, v, MDB_GET_MULTIPLE);
    while (mrc == 0) {
        const unsigned char *p = v->mv_data;
        if (v->mv_size % POSTING_BYTES)
            return cvs__err(CVS_ECORRUPT, "postings of \"%.*s\" are %zu bytes", (int)k->mv_size,
                            (const char *)k->mv_data, v->mv_size);
        for (size_t i = 0; i < v->mv_size / POSTING_BYTES; i++, p += POSTING_BYTES)
            if ((rc = fn(ctx, cvs__get_u64(p), cvs__get_u32(p + 8), cvs__get_u32(p + 12))))
                return rc;
        mrc = cvs__cget(db, cur, k, v, MDB_NEXT_MULTIPLE);
    }
    if (mrc != MDB_NOTFOUND)
        return cvs__err_lmdb(mrc, "reading postings");
    return CVS_OK;
}

typedef struct scoring {
    acc *a;
    double idf, avgdl;
} scoring;

static int score_posting(void *ctx, uint64_t key, double tf, double dl)
{
    const scoring *sc = ctx;
    return acc_add(sc->a, key, (float)term_weight(sc->idf, tf, dl, sc->avgdl));
}

/* gdf: the term's document frequency over all stores (cvs_text_stats), or
 * UINT64_MAX for the snapshot's own; st->ndocs is then the global count. */
static int score_term(cvs_db *db, MDB_txn *txn, const term *t, const bm25_stats *st,
                      double avgdl, uint64_t gdf, acc *a)
{
    MDB_cursor *cur = NULL;
    MDB_val k = {t->len, (void *)t->s}, v;
    size_t df = 0;
    int rc, mrc;

    if ((mrc = mdb_cursor_open(txn, cvs__text(db)->dbi_terms, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    if ((rc = term_seek(db, cur, &k, &v, &df)) || !df)
        goto out;
    if (gdf != UINT64_MAX)
        df = (size_t)gdf;
    scoring sc = {a, cvs__bm25_idf_of((double)st->ndocs, (double)df), avgdl};
    rc = term_postings(db, cur, &k, &v, score_posting, &sc);
out:
    mdb_cursor_close(cur);
    return rc;
}

/* Results got..k of a top-k: no record. */
static void pad_results(int64_t *keys, float *scores, size_t got, size_t k)
{
    for (size_t i = got; i < k; i++) {
        keys[i] = -1;
        scores[i] = NAN;
    }
}

/* The k best of a's scores into keys/scores (best first, ties on the
 * smaller key, deviation 6); hd holds k floats of scratch. */
static size_t acc_top(const acc *a, size_t k, float *hd, int64_t *keys, float *scores)
{
    cvs_heap h;
    size_t got;
    /* The heap keeps the smallest values: feed it negated scores. */
    cvs__heap_init(&h, k, hd, keys);
    for (size_t i = 0; i < a->cap; i++)
        if (a->keys[i])
            cvs__heap_push(&h, -a->score[i], (int64_t)a->keys[i]);
    got = cvs__heap_sort(&h);
    for (size_t i = 0; i < got; i++)
        scores[i] = -hd[i];
    return got;
}

int cvs__bm25_search(cvs_txn *t, const char *query, size_t len, size_t k, int64_t *keys,
                     float *scores)
{
    cvs_tokens tok = {0};
    int rc = cvs__tokenize(query, len, CVS_TOK_STRIP_ACCENTS, &tok);
    if (rc == CVS_OK)
        rc = cvs__bm25_search_tokens(t, &tok, k, keys, scores);
    cvs__tokens_free(&tok);
    return rc;
}

/* The top-k of query; with xs (and its terms xq, whose df it holds) the
 * collection statistics are xs's instead of the snapshot's. */
static int search_tokens(cvs_txn *t, const cvs_tokens *query, const cvs_text_stats *xs,
                         size_t k, int64_t *keys, float *scores)
{
    cvs_db *db = t->db;
    doc_terms q = {0};
    bm25_stats st;
    acc a = {0};
    float *hd = NULL;
    size_t got = 0;
    int rc;

    if (k && !(hd = malloc(k * sizeof *hd))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if (!cvs__module_present(db, &cvs__text_module)) {
        rc = CVS_OK; /* an old store opened read-only: empty index */
        goto out;
    }
    if ((rc = stats_get(db, t->txn, &st)) ||
        (rc = doc_terms_of(&q, query, NULL)))
        goto out;
    if (xs) {
        st.ndocs = xs->ndocs;
        st.total = xs->total;
    }
    if (st.ndocs == 0 || q.n == 0 || k == 0)
        goto out;
    for (size_t i = 0; i < q.n; i++) {
        uint64_t gdf = UINT64_MAX;
        /* q's terms are sorted and distinct: find the term's df in xs by
         * its place in the caller's list. */
        for (size_t j = 0; xs && j < query->n && gdf == UINT64_MAX; j++)
            if (query->len[j] == q.t[i].len &&
                !memcmp(query->buf + query->off[j], q.t[i].s, q.t[i].len))
                gdf = xs->df[j];
        if ((rc = score_term(db, t->txn, &q.t[i], &st, (double)st.total / (double)st.ndocs,
                             gdf, &a)))
            goto out;
    }
    got = acc_top(&a, k, hd, keys, scores);
out:
    if (rc == CVS_OK)
        pad_results(keys, scores, got, k);
    free(a.keys);
    free(a.score);
    free(hd);
    doc_terms_free(&q);
    return rc;
}

int cvs__bm25_search_tokens(cvs_txn *t, const cvs_tokens *query, size_t k, int64_t *keys,
                            float *scores)
{
    return search_tokens(t, query, NULL, k, keys, scores);
}

/* ==== Word forms (query/context.c, deviation 17) ==== */

int cvs__bm25_terms_prefixed(cvs_txn *t, const char *prefix, size_t len, int *ordered,
                             int (*fn)(void *ctx, const char *term, size_t len), void *ctx)
{
    cvs_db *db = t->db;
    MDB_cursor *cur = NULL;
    MDB_val k = {len, (void *)prefix}, v;
    int rc = CVS_OK, mrc;

    /* An encrypted store keeps keyed hashes of its terms: their order is
     * not the words', and no range holds a word's forms. */
    *ordered = !db->crypt;
    if (db->crypt || !cvs__module_present(db, &cvs__text_module))
        return CVS_OK;
    if ((mrc = mdb_cursor_open(t->txn, cvs__text(db)->dbi_terms, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    /* LMDB takes no empty key: the empty prefix is every term. */
    for (mrc = cvs__cget(db, cur, &k, &v, len ? MDB_SET_RANGE : MDB_FIRST);
         mrc == 0 && k.mv_size >= len && !memcmp(k.mv_data, prefix, len);
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT_NODUP))
        if ((rc = fn(ctx, k.mv_data, k.mv_size)))
            goto out;
    if (mrc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading terms");
out:
    mdb_cursor_close(cur);
    return rc;
}

/* One posting of a class's forms. */
typedef struct form_posting {
    uint64_t key;
    double tf, dl;
} form_posting;

typedef struct form_postings {
    form_posting *p;
    size_t n, cap;
} form_postings;

static int collect_posting(void *ctx, uint64_t key, double tf, double dl)
{
    form_postings *fp = ctx;
    int rc = cvs__grow((void **)&fp->p, &fp->cap, fp->n + 1, sizeof *fp->p,
                       "out of memory reading postings");
    if (rc)
        return rc;
    fp->p[fp->n++] = (form_posting){key, tf, dl};
    return CVS_OK;
}

static int cmp_posting_key(const void *a, const void *b)
{
    uint64_t x = ((const form_posting *)a)->key, y = ((const form_posting *)b)->key;
    return x < y ? -1 : x > y;
}

/* The postings of class c's forms (n of them, cur a cursor on "terms")
 * merged by record into fp, their tf summed: fp->n is then the class's df
 * in the snapshot. */
static int class_postings(cvs_db *db, MDB_cursor *cur, const cvs__form *forms, size_t n,
                          uint32_t c, form_postings *fp)
{
    size_t df = 0;
    int rc;
    fp->n = 0;
    for (size_t i = 0; i < n; i++) {
        MDB_val tk = {forms[i].len, (void *)forms[i].s}, tv;
        size_t fdf;
        if (forms[i].cls != c)
            continue;
        if ((rc = term_seek(db, cur, &tk, &tv, &fdf)))
            return rc;
        if (fdf && (rc = term_postings(db, cur, &tk, &tv, collect_posting, fp)))
            return rc;
    }
    /* A record holds each form once: its postings of one class, side by
     * side once sorted, sum to the class's tf in it.  (A class with no
     * posting before any other has one has fp->p NULL, which qsort may not
     * be given even for no element.) */
    if (fp->n)
        qsort(fp->p, fp->n, sizeof *fp->p, cmp_posting_key);
    for (size_t i = 0, j; i < fp->n; i = j) {
        for (j = i + 1; j < fp->n && fp->p[j].key == fp->p[i].key; j++)
            fp->p[i].tf += fp->p[j].tf;
        fp->p[df++] = fp->p[i];
    }
    fp->n = df;
    return CVS_OK;
}

/* The classes' top-k (ncls classes); with xs the collection statistics and
 * each class's df (xs->df[c]) are xs's instead of the snapshot's: the sums
 * of several stores' cvs_txn_text_class_stats, so that each scores as one
 * store holding all their records. */
static int search_classes(cvs_txn *t, const cvs__form *forms, size_t n, uint32_t ncls,
                          const cvs_text_stats *xs, size_t k, int64_t *keys, float *scores)
{
    cvs_db *db = t->db;
    MDB_cursor *cur = NULL;
    bm25_stats st;
    acc a = {0};
    form_postings fp = {0};
    float *hd = NULL;
    size_t got = 0;
    int rc = CVS_OK, mrc;

    if (k && !(hd = malloc(k * sizeof *hd))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if (!cvs__module_present(db, &cvs__text_module))
        goto out;
    if ((rc = stats_get(db, t->txn, &st)))
        goto out;
    if (xs) {
        st.ndocs = xs->ndocs;
        st.total = xs->total;
    }
    if (st.ndocs == 0 || n == 0 || k == 0)
        goto out;
    if ((mrc = mdb_cursor_open(t->txn, cvs__text(db)->dbi_terms, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (uint32_t c = 0; c < ncls; c++) {
        if ((rc = class_postings(db, cur, forms, n, c, &fp)))
            goto out;
        if (!fp.n)
            continue;
        double idf = cvs__bm25_idf_of((double)st.ndocs, (double)(xs ? xs->df[c] : fp.n));
        for (size_t i = 0; i < fp.n; i++)
            if ((rc = acc_add(&a, fp.p[i].key,
                              (float)term_weight(idf, fp.p[i].tf, fp.p[i].dl,
                                                 (double)st.total / (double)st.ndocs))))
                goto out;
    }
    got = acc_top(&a, k, hd, keys, scores);
out:
    if (rc == CVS_OK)
        pad_results(keys, scores, got, k);
    if (cur)
        mdb_cursor_close(cur);
    free(fp.p);
    free(a.keys);
    free(a.score);
    free(hd);
    return rc;
}

int cvs__bm25_search_classes(cvs_txn *t, const cvs__form *forms, size_t n, size_t k,
                             int64_t *keys, float *scores)
{
    uint32_t ncls = 0;
    for (size_t i = 0; i < n; i++)
        ncls = forms[i].cls + 1 > ncls ? forms[i].cls + 1 : ncls;
    return search_classes(t, forms, n, ncls, NULL, k, keys, scores);
}

/* ==== Word forms across stores (the public calls cvstore-mpi's shards
 * answer with) ==== */

/* The snapshot's record count and total length into *ndocs, *total, and a
 * cursor on "terms" into *cur (the caller closes it); *cur NULL, the
 * counts 0, in a store without the text layer. */
static int stats_cursor(cvs_txn *txn, uint64_t *ndocs, uint64_t *total, MDB_cursor **cur)
{
    bm25_stats st;
    int rc, mrc;
    *cur = NULL;
    if (!cvs__module_present(txn->db, &cvs__text_module))
        return CVS_OK;
    if ((rc = stats_get(txn->db, txn->txn, &st)))
        return rc;
    *ndocs = st.ndocs;
    *total = st.total;
    if ((mrc = mdb_cursor_open(txn->txn, cvs__text(txn->db)->dbi_terms, cur))) {
        *cur = NULL;
        return cvs__err_lmdb(mrc, "opening a cursor");
    }
    return CVS_OK;
}

/* The forms of classes as cvs__form (*out, malloc'd), each checked: a
 * class number below nclasses, no form twice in one class (its postings
 * would count twice). */
static int classes_view(const cvs_term_classes *cl, cvs_tokens *v, cvs__form **out)
{
    cvs__form *f = NULL;
    int rc;
    *out = NULL;
    if (cl->nclasses > UINT32_MAX)
        return cvs__err(CVS_EINVAL, "term classes: %zu classes, at most 2^32 - 1", cl->nclasses);
    if ((rc = cvs__terms_view(&cl->forms, v)))
        return rc;
    /* The searches loop over the class numbers: more of them than forms
     * would be classes of no form, and a count from a slip (2^31) a loop
     * of minutes. */
    if (cl->nclasses > v->n) {
        rc = cvs__err(CVS_EINVAL, "term classes: %zu classes of %zu form%s: each class has a "
                      "form", cl->nclasses, v->n, v->n == 1 ? "" : "s");
        cvs__terms_view_free(v);
        return rc;
    }
    if (v->n && !(f = malloc(v->n * sizeof *f))) {
        cvs__terms_view_free(v);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < v->n; i++) {
        f[i] = (cvs__form){v->buf + v->off[i], v->len[i], cl->cls[i]};
        if (cl->cls[i] >= cl->nclasses) {
            rc = cvs__err(CVS_EINVAL, "term classes: form %zu (\"%.*s\") is of class %u, "
                          "of %zu classes", i, (int)f[i].len, f[i].s, cl->cls[i], cl->nclasses);
            break;
        }
        for (size_t j = 0; j < i && !rc; j++)
            if (f[j].cls == f[i].cls && f[j].len == f[i].len && !memcmp(f[j].s, f[i].s, f[i].len))
                rc = cvs__err(CVS_EINVAL, "term classes: \"%.*s\" twice in class %u",
                              (int)f[i].len, f[i].s, f[i].cls);
        if (rc)
            break;
    }
    if (rc) {
        free(f);
        cvs__terms_view_free(v);
        return rc;
    }
    *out = f;
    return CVS_OK;
}

CVS_API int cvs_txn_text_class_stats(cvs_txn *txn, const cvs_term_classes *classes,
                                     uint64_t *ndocs, uint64_t *total, uint64_t *df)
{
    cvs_tokens v;
    cvs__form *f = NULL;
    MDB_cursor *cur = NULL;
    form_postings fp = {0};
    int rc;

    if (!txn || !classes || !ndocs || !total || (classes->nclasses && !df) ||
        (classes->forms.n && !classes->cls))
        return cvs__err(CVS_EINVAL, "cvs_txn_text_class_stats: NULL argument");
    *ndocs = *total = 0;
    for (size_t c = 0; c < classes->nclasses; c++)
        df[c] = 0;
    if ((rc = classes_view(classes, &v, &f)))
        return rc;
    if ((rc = stats_cursor(txn, ndocs, total, &cur)) || !cur)
        goto out;
    for (size_t c = 0; c < classes->nclasses && !rc; c++)
        if (!(rc = class_postings(txn->db, cur, f, v.n, (uint32_t)c, &fp)))
            df[c] = fp.n;
out:
    if (cur)
        mdb_cursor_close(cur);
    free(fp.p);
    free(f);
    cvs__terms_view_free(&v);
    return rc;
}

CVS_API int cvs_txn_text_search_classes(cvs_txn *txn, const cvs_term_classes *classes,
                                        const cvs_text_stats *st, size_t k, int64_t *keys,
                                        float *scores)
{
    cvs_tokens v;
    cvs__form *f = NULL;
    int rc;
    if (!txn || !classes || (k && (!keys || !scores)) ||
        (classes->forms.n && !classes->cls) || (st && classes->nclasses && !st->df))
        return cvs__err(CVS_EINVAL, "cvs_txn_text_search_classes: NULL argument");
    if ((rc = classes_view(classes, &v, &f)))
        return rc;
    rc = search_classes(txn, f, v.n, (uint32_t)classes->nclasses, st, k, keys, scores);
    free(f);
    cvs__terms_view_free(&v);
    return rc;
}

CVS_API int cvs_txn_text_stats(cvs_txn *txn, const cvs_terms *terms, uint64_t *ndocs,
                               uint64_t *total, uint64_t *df)
{
    cvs_tokens q;
    MDB_cursor *cur = NULL;
    int rc;

    if (!txn || !terms || !ndocs || !total || (terms->n && !df))
        return cvs__err(CVS_EINVAL, "cvs_txn_text_stats: NULL argument");
    *ndocs = *total = 0;
    for (size_t i = 0; i < terms->n; i++)
        df[i] = 0;
    if ((rc = cvs__terms_view(terms, &q)))
        return rc;
    if ((rc = stats_cursor(txn, ndocs, total, &cur)) || !cur)
        goto out;
    for (size_t i = 0; i < q.n && !rc; i++) {
        MDB_val k = {q.len[i], q.buf + q.off[i]}, v;
        size_t c;
        if (!(rc = term_seek(txn->db, cur, &k, &v, &c)))
            df[i] = c;
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    cvs__terms_view_free(&q);
    return rc;
}

CVS_API int cvs_txn_text_search_terms(cvs_txn *txn, const cvs_terms *terms,
                                      const cvs_text_stats *st, size_t k, int64_t *keys,
                                      float *scores)
{
    cvs_tokens q;
    int rc;
    if (!txn || !terms || (k && (!keys || !scores)) || (st && terms->n && !st->df))
        return cvs__err(CVS_EINVAL, "cvs_txn_text_search_terms: NULL argument");
    if ((rc = cvs__terms_view(terms, &q)))
        return rc;
    rc = search_tokens(txn, &q, st, k, keys, scores);
    cvs__terms_view_free(&q);
    return rc;
}

int cvs__bm25_docs(cvs_txn *t, uint64_t *ndocs)
{
    bm25_stats st;
    int rc;
    *ndocs = 0;
    if (!cvs__module_present(t->db, &cvs__text_module))
        return CVS_OK;
    if ((rc = stats_get(t->db, t->txn, &st)))
        return rc;
    *ndocs = st.ndocs;
    return CVS_OK;
}

int cvs__bm25_present(cvs_txn *t)
{
    return cvs__module_present(t->db, &cvs__text_module);
}

CVS_API int cvs_txn_text_search(cvs_txn *txn, const char *query, size_t len, size_t k,
                                int64_t *keys, float *scores)
{
    if (!txn || (!query && len) || (k && (!keys || !scores)))
        return cvs__err(CVS_EINVAL, "cvs_txn_text_search: NULL argument");
    if (cvs__query_len_check("text search", len))
        return CVS_EINVAL;
    return cvs__bm25_search(txn, query ? query : "", query ? len : 0, k, keys, scores);
}

CVS_API int cvs_text_search(cvs_db *db, const char *query, size_t len, size_t k,
                            int64_t *keys, float *scores)
{
    cvs_txn *t;
    int rc;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_text_search: NULL argument");
    if ((rc = cvs_txn_begin(db, &t)))
        return rc;
    rc = cvs_txn_text_search(t, query, len, k, keys, scores);
    cvs_txn_end(t);
    return rc;
}

/* The number of records holding each of n terms, into df[0..n), and the
 * number indexed into *ndocs (both 0 without the text layer). */
static int terms_df(cvs_txn *t, const char *const *terms, const size_t *lens, size_t n,
                    size_t *df, uint64_t *ndocs)
{
    cvs_db *db = t->db;
    MDB_cursor *cur = NULL;
    bm25_stats st;
    int rc = CVS_OK, mrc;

    for (size_t i = 0; i < n; i++)
        df[i] = 0;
    *ndocs = 0;
    if (!cvs__module_present(db, &cvs__text_module) || n == 0)
        return CVS_OK;
    if ((rc = stats_get(db, t->txn, &st)))
        return rc;
    *ndocs = st.ndocs;
    if ((mrc = mdb_cursor_open(t->txn, cvs__text(db)->dbi_terms, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {lens[i], (void *)terms[i]}, v;
        mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY);
        if (mrc == 0 && (mrc = mdb_cursor_count(cur, &df[i])) == 0)
            ;
        else if (mrc != MDB_NOTFOUND) {
            rc = cvs__err_lmdb(mrc, "reading postings");
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

int cvs__bm25_idf(cvs_txn *t, const char *const *terms, const size_t *lens, size_t n,
                  double *idf)
{
    size_t *df = NULL;
    uint64_t ndocs;
    int rc;

    for (size_t i = 0; i < n; i++)
        idf[i] = 0;
    if (!cvs__module_present(t->db, &cvs__text_module) || n == 0)
        return CVS_OK;
    if (!(df = malloc(n * sizeof *df)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    rc = terms_df(t, terms, lens, n, df, &ndocs);
    for (size_t i = 0; i < n && rc == CVS_OK; i++)
        idf[i] = cvs__bm25_idf_of((double)ndocs, (double)df[i]);
    free(df);
    return rc;
}

int cvs__bm25_df(cvs_txn *t, const char *term, size_t len, size_t *df)
{
    uint64_t ndocs;
    return terms_df(t, &term, &len, 1, df, &ndocs);
}

/* ==== The module (store/module.h) ==== */

static int text_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    (void)ws;
    return cvs__bm25_on_put(w->db, w->txn, r->key, r->existed, r->r);
}

static int text_del(cvs__wctx *w, void *ws, uint64_t key)
{
    (void)ws;
    return cvs__bm25_on_delete(w->db, w->txn, key);
}

static int text_added(cvs_db *db, void *state, MDB_txn *txn)
{
    (void)state;
    return cvs__bm25_reindex(db, txn);
}

static int text_check(cvs_db *db, void *state, cvs__chk *c)
{
    (void)state;
    return cvs__bm25_check(db, cvs__chk_txn(c), cvs__chk_problem_cb, c);
}

/* Added after format 1's first release, with "titles" (the store's): a
 * writable open of an older store creates it and indexes every record. */
static const cvs__dbi_spec text_dbis[] = {
    {"terms", MDB_DUPSORT | MDB_DUPFIXED, 0, offsetof(struct cvs__text_state, dbi_terms), 0,
     CVS__SEAL_HKEY | CVS__SEAL_DET16},
};

const cvs__module cvs__text_module = {
    .version = CVS__MODULE_VERSION,
    .name = "bm25",
    .flags = CVS__MOD_CHECK_NEEDS_VALUES,
    .dbis = text_dbis,
    .ndbis = 1,
    .state_size = sizeof(struct cvs__text_state),
    .added = text_added,
    .put = text_put,
    .del = text_del,
    .check = text_check,
};
