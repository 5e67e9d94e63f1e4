/*
 * sentences.c -- the sentence table: where each record's sentences begin
 * and end in its text, kept in LMDB inside the same write transaction as
 * every put and delete (like the BM25 index), for context sets made of
 * sentences (query/sentsel.c).
 *
 * The segmentation is not ours: it is ICU's sentence break iterator
 * (ubrk_open(UBRK_SENTENCE)), which implements the sentence boundary rules
 * of Unicode Standard Annex #29 ("Unicode Text Segmentation") and, with the
 * locale keyword "ss=standard", suppresses breaks after the abbreviations
 * of ICU's locale data ("Mr.", "Dr.", "U.S." ...).  UAX #29 handles
 * quotes and closing punctuation after a full stop, and scripts without
 * spaces (Chinese and Japanese full stops) alike.
 *
 * Storage (docs/FORMAT.md): a database "sents", u64 record key ->
 * [u32 tag][u32 text length][u32 FNV-1a hash of the text][u32 n]
 * [n x (u32 start, u32 end)], byte offsets into the record's UTF-8 text.
 * The tag holds CVS_SENT_VERSION and the flag CVS_SENT_GIVEN.
 *
 * Where we deviate or choose:
 *   1. Each segment ICU returns is trimmed of white space, and a blank one
 *      is dropped: the spans are what a context prints, joined by a space.
 *   2. The value repeats the text's length and a 32-bit hash of it, so a
 *      reader can tell an entry that no longer describes its text (an
 *      older cvstore, which does not know this table, put the record again)
 *      and split the text itself instead of cutting it at wrong places.
 *      cvs_check reports such entries; the next rebuild rewrites them.
 *   3. Sentences that come with the record (JSONL "sentences", HotpotQA's
 *      corpus has them) are kept as given: the data set's sentence indexes
 *      (its gold supporting sentences) must mean the same in the store.
 *   4. One break iterator per thread, cloned from one opened at first use:
 *      ubrk_open parses the rules and the suppression list, which costs
 *      far more than splitting one passage.
 *   5. A store written before this table existed gets it filled when first
 *      opened for writing (as the text databases were added); opened
 *      read-only, its sentences are split when read (cvs__sent_get).
 *
 * Measured and not taken: no break after a name's initial.  ICU's English
 * suppressions hold titles ("Mr.") but not initials, so "Harry S. Truman"
 * and "Samuel L. Jackson" are cut after the initial.  Dropping a break
 * when the text before it ends in capital initials ("S.", "J.R.", not "I."
 * alone) after a capitalised word drops 179 of MuSiQue's 11,473 breaks,
 * 528 of HotpotQA's 28,198 and 35 of the SQuAD half's 2,881 (one true end
 * in MuSiQue's first 40: "directed by Louis C.K. Adapted ...").  With it
 * (a split version 2, cvstore-bench context --unit sentence, half A / B):
 * answers at 128 tokens HotpotQA 0.666 / 0.626 -> 0.663 / 0.620, MuSiQue
 * 0.215 / 0.243 -> 0.226 / 0.252; full support at 128 MuSiQue 0.183 /
 * 0.224 -> 0.151 / 0.224, the SQuAD half 0.875 / 0.891 -> 0.869 / 0.885;
 * passages unchanged but for one SQuAD question.  The whole names make
 * sentences longer, and fewer fit a small budget, so the rule loses more
 * than it gains on these measures; it would need the selection to weigh
 * a sentence's cost against what the merged half adds.
 *
 * Measured and not taken either: no break after a title or a legal
 * abbreviation that ICU's English suppressions lack and that a name always
 * follows -- "St. James Street", "U.S. v. Harris", "Gen. Lee" (also "vs.",
 * "Col.", "Lt.", "Sgt.", "Capt.", "Rev.", "Prof.", "Ft.", "Gov.", "Sen.",
 * "Rep.", "Maj.", "Adm.", "Pres."): ICU cuts "He lives on St." from
 * "James Street.".  Such a word before a capital occurs in the texts
 * ICU splits 173 times in HotpotQA, 68 in MuSiQue and 31 in the
 * SQuAD half ("St." most, then "v." and "Gen.").  With it (fresh stores,
 * cvstore-bench context --unit passage,sentence --half A, at sentsel.c
 * deviation 29): answers at 64 / 128 / 256 / 512 tokens the same on
 * HotpotQA and MuSiQue, SQuAD's sample 0.800 -> 0.791 at 64 tokens (one
 * question), full support within a question; passages unchanged.  A
 * fragment that short is joined to what follows when reading anyway
 * (sentsel.c deviation 6), so the split has nothing to win there.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include "core/hash.h"
#include "store/db.h"
#include "store/seal.h"
#include "text/sentences.h"

/* ==== Splitting ==== */

static pthread_once_t brk_once = PTHREAD_ONCE_INIT;
static UBreakIterator *brk_proto;
static UErrorCode brk_proto_err = U_ZERO_ERROR;
static pthread_key_t brk_key;

static void brk_free(void *p)
{
    ubrk_close(p);
}

static void brk_init(void)
{
    brk_proto = ubrk_open(UBRK_SENTENCE, "en@ss=standard", NULL, 0, &brk_proto_err);
    if (U_FAILURE(brk_proto_err))
        brk_proto = NULL;
    else if (pthread_key_create(&brk_key, brk_free) != 0) {
        ubrk_close(brk_proto);
        brk_proto = NULL;
        brk_proto_err = U_MEMORY_ALLOCATION_ERROR;
    }
}

/* This thread's iterator (deviation 4), or NULL with *err set. */
static UBreakIterator *brk_get(UErrorCode *err)
{
    UBreakIterator *b;
    pthread_once(&brk_once, brk_init);
    if (!brk_proto) {
        *err = brk_proto_err;
        return NULL;
    }
    if ((b = pthread_getspecific(brk_key)))
        return b;
    b = ubrk_clone(brk_proto, err);
    if (U_FAILURE(*err))
        return NULL;
    if (pthread_setspecific(brk_key, b) != 0) {
        ubrk_close(b);
        *err = U_MEMORY_ALLOCATION_ERROR;
        return NULL;
    }
    return b;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int cvs__sent_split(const char *text, size_t len, cvs_spans *sp)
{
    UErrorCode err = U_ZERO_ERROR;
    UText *ut = NULL;
    UBreakIterator *b;
    int32_t lo, hi;
    int rc = CVS_OK;

    sp->n = 0;
    if (!text || len == 0 || len >= UINT32_MAX || len > INT32_MAX)
        return CVS_OK;
    if (!(b = brk_get(&err)))
        return cvs__err(CVS_ENOMEM, "ICU sentence break iterator: %s", u_errorName(err));
    ut = utext_openUTF8(NULL, text, (int64_t)len, &err);
    if (U_FAILURE(err))
        return cvs__err(CVS_EINPUT, "ICU cannot read the text: %s", u_errorName(err));
    ubrk_setUText(b, ut, &err);
    if (U_FAILURE(err)) {
        rc = cvs__err(CVS_EINPUT, "ICU cannot segment the text: %s", u_errorName(err));
        goto out;
    }
    /* With a UTF-8 UText, boundaries are native (byte) offsets. */
    for (lo = ubrk_first(b); (hi = ubrk_next(b)) != UBRK_DONE; lo = hi) {
        uint32_t a = (uint32_t)lo, e = (uint32_t)hi;
        while (a < e && is_space((unsigned char)text[a]))
            a++;
        while (e > a && is_space((unsigned char)text[e - 1]))
            e--;
        if (a < e && (rc = cvs__spans_push(sp, a, e)))
            goto out;
    }
out:
    /* Detach the text so the iterator keeps no pointer into it. */
    {
        UErrorCode e2 = U_ZERO_ERROR;
        UText *empty = utext_openUTF8(NULL, "", 0, &e2);
        if (U_SUCCESS(e2))
            ubrk_setUText(b, empty, &e2);
        utext_close(empty);
    }
    utext_close(ut);
    return rc;
}

static int utf8_boundary(const char *t, size_t len, size_t i)
{
    return i == 0 || i >= len || ((unsigned char)t[i] & 0xC0) != 0x80;
}

int cvs__sent_valid(const char *text, size_t len, const uint32_t *pairs, size_t n)
{
    uint32_t prev = 0;
    if (n && !text)
        return cvs__err(CVS_EINPUT, "sentences given for a record without text");
    for (size_t i = 0; i < n; i++) {
        uint32_t a = pairs[2 * i], b = pairs[2 * i + 1];
        if (a > b || b > len)
            return cvs__err(CVS_EINPUT, "sentence %zu spans bytes %u..%u of a text of %zu", i,
                            a, b, len);
        if (a < prev)
            return cvs__err(CVS_EINPUT, "sentence %zu begins before sentence %zu ends", i, i - 1);
        if (!utf8_boundary(text, len, a) || !utf8_boundary(text, len, b))
            return cvs__err(CVS_EINPUT, "sentence %zu does not begin and end on UTF-8 "
                            "character boundaries", i);
        prev = b; /* no overlap: export writes given sentences as strings,
                   * which an import locates each after the one before */
    }
    return CVS_OK;
}

/* ==== Values ==== */

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = CVS__FNV32_BASIS;
    for (size_t i = 0; i < n; i++)
        h = cvs__fnv32_step(h, (unsigned char)s[i]);
    return h;
}

/* Why a stored value does not describe text, or NULL when it does; *n and
 * *pairs get its spans. */
static const char *decode(const MDB_val *v, const char *text, size_t len, unsigned *tag,
                          size_t *n, const unsigned char **pairs)
{
    const unsigned char *p = v->mv_data;
    uint32_t prev = 0;
    if (v->mv_size < CVS_SENT_HEADER || (v->mv_size - CVS_SENT_HEADER) % 8)
        return "value has a bad size";
    *tag = cvs__get_u32(p);
    *n = cvs__get_u32(p + 12);
    *pairs = p + CVS_SENT_HEADER;
    if ((v->mv_size - CVS_SENT_HEADER) / 8 != *n)
        return "sentence count does not match the value's size";
    if ((*tag & 0xFFFFu) != CVS_SENT_VERSION)
        return "made by another version of the split";
    if (cvs__get_u32(p + 4) != len || cvs__get_u32(p + 8) != fnv1a(text, len))
        /* Most likely not damage: FORMAT.md's sents, an older cvstore's
         * update of the text. */
        return "does not match the record's text (length or hash): a cvstore older than "
               "the sentence table changed the text, or the entry is damaged; reads split "
               "the text again meanwhile, and putting the record again rewrites the entry "
               "(importing the store's own export rewrites every one)";
    for (size_t i = 0; i < *n; i++) {
        uint32_t a = cvs__get_u32(*pairs + 8 * i), b = cvs__get_u32(*pairs + 8 * i + 4);
        if (a > b || b > len || a < prev || !utf8_boundary(text, len, a) ||
            !utf8_boundary(text, len, b))
            return "holds a sentence outside the text or off a character boundary";
        prev = a;
    }
    return NULL;
}

/* The module's per-handle state. */
struct sent_state {
    MDB_dbi dbi_sents;     /* "sents": key -> sentence offsets */
};

static struct sent_state *sent_st(const cvs_db *db)
{
    return cvs__module_state(db, &cvs__sent_module);
}

MDB_dbi cvs__sent_dbi(const cvs_db *db)
{
    return sent_st(db)->dbi_sents;
}

static int store_spans(cvs_db *db, MDB_txn *txn, uint64_t key, const char *text, size_t len,
                       const uint32_t *pairs, size_t n, unsigned flags)
{
    MDB_val k = {8, &key}, v;
    unsigned char *buf;
    int mrc;
    v.mv_size = CVS_SENT_HEADER + 8 * n;
    if (!(buf = malloc(v.mv_size)))
        return cvs__err(CVS_ENOMEM, "out of memory for sentence offsets");
    cvs__put_u32(buf, CVS_SENT_VERSION | flags);
    cvs__put_u32(buf + 4, (uint32_t)len);
    cvs__put_u32(buf + 8, fnv1a(text, len));
    cvs__put_u32(buf + 12, (uint32_t)n);
    for (size_t i = 0; i < 2 * n; i++)
        cvs__put_u32(buf + CVS_SENT_HEADER + 4 * i, pairs[i]);
    v.mv_data = buf;
    mrc = cvs__vput(db, txn, sent_st(db)->dbi_sents, &k, &v, 0);
    free(buf);
    return mrc ? cvs__werr(mrc, "writing sentence offsets") : CVS_OK;
}

/* Splits text and stores the result for key. */
static int split_and_store(cvs_db *db, MDB_txn *txn, uint64_t key, const char *text,
                           size_t len)
{
    cvs_spans sp = {0};
    int rc;
    if (len >= UINT32_MAX)
        return CVS_OK; /* no 32-bit offsets: read by splitting (cvs__sent_get) */
    if (!(rc = cvs__sent_split(text, len, &sp)))
        rc = store_spans(db, txn, key, text, len, (const uint32_t *)sp.s, sp.n, 0);
    free(sp.s);
    return rc;
}

/* ==== Module slots ==== */

int cvs__sent_rebuild(cvs_db *db, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v, tk, tv;
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_drop(txn, sent_st(db)->dbi_sents, 0)))
        return cvs__werr(mrc, "emptying sents");
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t key;
        if (k.mv_size != 8) {
            rc = cvs__err(CVS_ECORRUPT, "recs key of %zu bytes", k.mv_size);
            goto out;
        }
        memcpy(&key, k.mv_data, 8);
        tk.mv_size = 8;
        tk.mv_data = &key;
        if ((mrc = cvs__vget(db, txn, db->dbi_text, &tk, &tv))) {
            if (mrc == MDB_NOTFOUND)
                continue;
            rc = cvs__werr(mrc, "reading text");
            goto out;
        }
        if ((rc = split_and_store(db, txn, key, tv.mv_data, tv.mv_size)))
            goto out;
    }
    if (mrc != MDB_NOTFOUND)
        rc = cvs__werr(mrc, "reading records");
out:
    mdb_cursor_close(cur);
    return rc;
}

int cvs__sent_on_put(cvs_db *db, MDB_txn *txn, uint64_t key, int existed, const cvs_record *r)
{
    MDB_val k = {8, &key};
    int rc, mrc;
    if (!cvs__module_present(db, &cvs__sent_module))
        return CVS_OK;
    if (!r->text) {
        /* A vector-only import pays no lookup per record. */
        if (existed &&
            (mrc = cvs__vdel(db, txn, sent_st(db)->dbi_sents, &k, NULL)) && mrc != MDB_NOTFOUND)
            return cvs__werr(mrc, "removing sentence offsets");
        return CVS_OK;
    }
    if (r->nsentences) {
        if ((rc = cvs__sent_valid(r->text, r->text_len, r->sentences, r->nsentences)))
            return rc;
        return store_spans(db, txn, key, r->text, r->text_len, r->sentences, r->nsentences,
                           CVS_SENT_GIVEN);
    }
    if (existed && r->text_len >= UINT32_MAX &&
        (mrc = cvs__vdel(db, txn, sent_st(db)->dbi_sents, &k, NULL)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "removing sentence offsets");
    return split_and_store(db, txn, key, r->text, r->text_len);
}

int cvs__sent_on_delete(cvs_db *db, MDB_txn *txn, uint64_t key)
{
    MDB_val k = {8, &key};
    int mrc;
    if (!cvs__module_present(db, &cvs__sent_module))
        return CVS_OK;
    if ((mrc = cvs__vdel(db, txn, sent_st(db)->dbi_sents, &k, NULL)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "removing sentence offsets");
    return CVS_OK;
}

int cvs__sent_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v, tk, tv;
    MDB_stat st;
    char msg[512];
    uint64_t with_text = 0;
    int rc = CVS_OK, mrc;

    if (!cvs__module_present(db, &cvs__sent_module))
        return CVS_OK;
    /* Every entry against its record's text. */
    if ((mrc = mdb_cursor_open(txn, sent_st(db)->dbi_sents, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t key;
        unsigned tag;
        size_t n;
        const unsigned char *pairs;
        const char *why;
        if (k.mv_size != 8) {
            snprintf(msg, sizeof msg, "sents: a key of %zu bytes", k.mv_size);
            problem(ctx, msg);
            continue;
        }
        memcpy(&key, k.mv_data, 8);
        tk.mv_size = 8;
        tk.mv_data = &key;
        if ((mrc = cvs__vget(db, txn, db->dbi_text, &tk, &tv))) {
            if (mrc != MDB_NOTFOUND) {
                rc = cvs__err_lmdb(mrc, "reading text");
                goto out;
            }
            snprintf(msg, sizeof msg, "sents: entry for key %llu, which has no text",
                     (unsigned long long)key);
            problem(ctx, msg);
            continue;
        }
        if ((why = decode(&v, tv.mv_data, tv.mv_size, &tag, &n, &pairs))) {
            snprintf(msg, sizeof msg, "sents: the sentence offsets of key %llu: %s",
                     (unsigned long long)key, why);
            problem(ctx, msg);
        }
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading sents");
        goto out;
    }
    /* Every text has an entry (texts beyond 32-bit offsets excepted). */
    mdb_cursor_close(cur);
    cur = NULL;
    if ((mrc = mdb_cursor_open(txn, db->dbi_text, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        with_text++;
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "reading text");
        goto out;
    }
    if ((mrc = mdb_stat(txn, sent_st(db)->dbi_sents, &st))) {
        rc = cvs__err_lmdb(mrc, "counting sents");
        goto out;
    }
    if (st.ms_entries < with_text) {
        snprintf(msg, sizeof msg, "counts differ: %llu texts but %zu sentence entries",
                 (unsigned long long)with_text, st.ms_entries);
        problem(ctx, msg);
    }
out:
    mdb_cursor_close(cur);
    return rc;
}

/* ==== Reading ==== */

int cvs__sent_get(cvs_db *db, MDB_txn *txn, uint64_t key, const char *text, size_t len,
                  cvs_spans *sp)
{
    MDB_val k = {8, &key}, v;
    unsigned tag;
    size_t n;
    const unsigned char *pairs;
    int mrc;

    sp->n = 0;
    if (!text || len == 0)
        return CVS_OK;
    if (cvs__module_present(db, &cvs__sent_module) && (mrc = cvs__vget(db, txn, sent_st(db)->dbi_sents, &k, &v)) == 0 &&
        !decode(&v, text, len, &tag, &n, &pairs)) {
        if (n > sp->cap) {
            cvs_span *p = realloc(sp->s, n * sizeof *p);
            if (!p)
                return cvs__err(CVS_ENOMEM, "out of memory for sentence offsets");
            sp->s = p;
            sp->cap = n;
        }
        for (size_t i = 0; i < n; i++)
            sp->s[i] = (cvs_span){cvs__get_u32(pairs + 8 * i), cvs__get_u32(pairs + 8 * i + 4)};
        sp->n = n;
        return CVS_OK;
    }
    /* Absent, stale or damaged (deviation 2): the text is the truth. */
    return cvs__sent_split(text, len, sp);
}

CVS_API int cvs_txn_sentences(cvs_txn *txn, int64_t key, uint32_t *pairs, size_t cap,
                              size_t *n, int *given)
{
    cvs_record rec;
    cvs_spans sp = {0};
    uint64_t k64 = (uint64_t)key;
    MDB_val k = {8, &k64}, v;
    unsigned tag;
    size_t nv;
    const unsigned char *pv;
    int rc;

    if (!txn || !n || (cap && !pairs))
        return cvs__err(CVS_EINVAL, "cvs_txn_sentences: NULL argument");
    *n = 0;
    if (given)
        *given = 0;
    if ((rc = cvs_get_key(txn, key, &rec, NULL)))
        return rc;
    if (!rec.text || rec.text_len == 0)
        return CVS_OK;
    /* The stored entry when it describes this text (with its "given" flag);
     * else the split, as cvs__sent_get reads it. */
    if (cvs__module_present(txn->db, &cvs__sent_module) &&
        cvs__vget(txn->db, txn->txn, sent_st(txn->db)->dbi_sents, &k, &v) == 0 &&
        !decode(&v, rec.text, rec.text_len, &tag, &nv, &pv)) {
        for (size_t i = 0; i < nv && i < cap; i++) {
            pairs[2 * i] = cvs__get_u32(pv + 8 * i);
            pairs[2 * i + 1] = cvs__get_u32(pv + 8 * i + 4);
        }
        *n = nv;
        if (given)
            *given = (tag & CVS_SENT_GIVEN) != 0;
        return CVS_OK;
    }
    if ((rc = cvs__sent_split(rec.text, rec.text_len, &sp)) == CVS_OK) {
        for (size_t i = 0; i < sp.n && i < cap; i++) {
            pairs[2 * i] = sp.s[i].start;
            pairs[2 * i + 1] = sp.s[i].end;
        }
        *n = sp.n;
    }
    free(sp.s);
    return rc;
}

/* ==== The module (store/module.h) ==== */

static int sent_put(cvs__wctx *w, void *ws, const cvs__wrec *r)
{
    (void)ws;
    return cvs__sent_on_put(w->db, w->txn, r->key, r->existed, r->r);
}

static int sent_del(cvs__wctx *w, void *ws, uint64_t key)
{
    (void)ws;
    return cvs__sent_on_delete(w->db, w->txn, key);
}

static int sent_added(cvs_db *db, void *state, MDB_txn *txn)
{
    (void)state;
    return cvs__sent_rebuild(db, txn);
}

static int sent_check(cvs_db *db, void *state, cvs__chk *c)
{
    (void)state;
    return cvs__sent_check(db, cvs__chk_txn(c), cvs__chk_problem_cb, c);
}

/* Added after the graph: a writable open of an older store creates it and
 * fills it from every stored text; a read-only one splits texts when read. */
static const cvs__dbi_spec sent_dbis[] = {
    {"sents", MDB_INTEGERKEY, 0, offsetof(struct sent_state, dbi_sents), 0, CVS__SEAL_VALUES},
};

const cvs__module cvs__sent_module = {
    .version = CVS__MODULE_VERSION,
    .name = "sentences",
    .flags = CVS__MOD_CHECK_NEEDS_VALUES,
    .dbis = sent_dbis,
    .ndbis = 1,
    .state_size = sizeof(struct sent_state),
    .added = sent_added,
    .put = sent_put,
    .del = sent_del,
    .check = sent_check,
};
