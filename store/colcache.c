/*
 * colcache.c -- the column cache under the metadata filters
 * (store/filter.c): per snapshot, one decoded column per metadata field that
 * some filter has touched.
 *
 * The metadata lives in LMDB as JSON text (the "attrs" database), and
 * parsing every record's JSON per query would cost more than the vector scan
 * it guards.  So, as a column store would, we keep per snapshot one decoded
 * column per field that some filter has touched: a type byte and a value
 * (a double, or a code into the column's string dictionary) per key, built
 * in one pass over "attrs" and shared by every later evaluation of that
 * snapshot, like the decoded vectors of index/flat.c.
 *
 * Deviations and choices:
 *  1. The cache is keyed by LMDB's transaction id, so any committed write
 *     invalidates it, and the next filtered search of the new snapshot
 *     builds new columns.  LMDB keeps no change log to patch them from, but
 *     the cache also keeps a hash (SipHash) of every record's metadata text:
 *     a build for a newer snapshot carries over every column of the cached
 *     older one, hashing each record's metadata and re-parsing only those
 *     whose hash changed (or that are new).  Hashing costs a small fraction
 *     of parsing (200K records: ~40 ms instead of ~500 ms per field), so a
 *     write that touches few records, or no metadata (a codec build), costs
 *     little.  Older snapshots evaluated after a newer one replaced the cache
 *     build private columns, used once.
 *  2. Columns are reference counted, one reference per user, so that a
 *     newer snapshot replacing the cache does not free a column under an
 *     evaluation of an older one.  At most FCACHE_MAX_COLS columns are
 *     cached; columns beyond that are built for one evaluation only.  A
 *     column costs 9 bytes per key (type and value) plus its distinct
 *     strings, and the hashes 8 bytes per key.
 *  3. Carrying a column over copies its string dictionary whole, so that
 *     the codes of unchanged records stay valid; the strings of deleted or
 *     changed records come along too.  Under a steady churn (an agent's
 *     memory: every memory's "_hash" is a new string, the oldest memories
 *     are forgotten) that grew the dictionary, and the copy each write
 *     makes, without bound.  So when the dictionary holds more than twice
 *     the strings still in use (plus DICT_SLACK), the build re-interns the
 *     carried strings into a fresh one instead: amortized, a constant cost
 *     per string added, and the dictionary stays within twice the live set.
 */
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/colcache.h"
#include "store/seal.h"

#define FCACHE_MAX_COLS 64
#define DICT_SLACK 64 /* strings a dictionary may carry beyond twice its uses */

/* The columns of one snapshot.  Reference counted (db->fcache holds one),
 * since a build for a newer snapshot reads the older one's columns and
 * hashes while another thread may replace it. */
struct cvs_fcache {
    size_t txnid;
    size_t nkeys;
    uint64_t *hash;    /* nkeys: hash of each record's metadata, 0 = none */
    cvs__fcol **cols;
    size_t ncols;
    int refs;          /* guarded by db->filter_mu */
};

/* ==== Values and strings ==== */

int cvs__json_classify(const json_t *x, double *num, const char **s, size_t *len)
{
    if (!x)
        return CVS__V_ABSENT;
    switch (json_typeof(x)) {
    case JSON_STRING:
        *s = json_string_value(x);
        *len = json_string_length(x);
        return CVS__V_STR;
    case JSON_INTEGER:
    case JSON_REAL:
        *num = json_number_value(x);
        return CVS__V_NUM;
    case JSON_TRUE: return CVS__V_TRUE;
    case JSON_FALSE: return CVS__V_FALSE;
    default: return CVS__V_OTHER;
    }
}

int cvs__fstr_dup(const char *s, size_t len, cvs__fstr *out)
{
    if (!(out->s = malloc(len + 1)))
        return cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
    memcpy(out->s, s, len);
    out->s[len] = '\0';
    out->len = len;
    return CVS_OK;
}

/* ==== Columns ==== */

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Code of s, or UINT32_MAX when absent. */
uint32_t cvs__sdict_find(const cvs__sdict *d, const char *s, size_t len)
{
    if (!d->tcap)
        return UINT32_MAX;
    for (size_t i = fnv1a(s, len) & (d->tcap - 1);; i = (i + 1) & (d->tcap - 1)) {
        uint32_t c = d->tab[i];
        if (!c)
            return UINT32_MAX;
        if (d->v[c - 1].len == len && !memcmp(d->v[c - 1].s, s, len))
            return c - 1;
    }
}

static int sdict_grow(cvs__sdict *d)
{
    size_t tcap = d->tcap ? d->tcap * 2 : 64;
    uint32_t *tab = calloc(tcap, sizeof *tab);
    if (!tab)
        return cvs__err(CVS_ENOMEM, "out of memory for a metadata column");
    for (size_t c = 0; c < d->n; c++) {
        size_t i = fnv1a(d->v[c].s, d->v[c].len) & (tcap - 1);
        while (tab[i])
            i = (i + 1) & (tcap - 1);
        tab[i] = (uint32_t)c + 1;
    }
    free(d->tab);
    d->tab = tab;
    d->tcap = tcap;
    return CVS_OK;
}

static int sdict_intern(cvs__sdict *d, const char *s, size_t len, uint32_t *code)
{
    uint32_t c = cvs__sdict_find(d, s, len);
    int rc;
    if (c != UINT32_MAX) {
        *code = c;
        return CVS_OK;
    }
    if (d->n >= UINT32_MAX - 1)
        return cvs__err(CVS_ENOMEM, "too many distinct strings in one metadata field");
    if ((d->n + 1) * 2 > d->tcap && (rc = sdict_grow(d)))
        return rc;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        cvs__fstr *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return cvs__err(CVS_ENOMEM, "out of memory for a metadata column");
        d->v = v;
        d->cap = cap;
    }
    if ((rc = cvs__fstr_dup(s, len, &d->v[d->n])))
        return rc;
    {
        size_t i = fnv1a(s, len) & (d->tcap - 1);
        while (d->tab[i])
            i = (i + 1) & (d->tcap - 1);
        d->tab[i] = (uint32_t)d->n + 1;
    }
    *code = (uint32_t)d->n++;
    return CVS_OK;
}

static void col_free(cvs__fcol *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->type);
    free(c->val);
    for (size_t i = 0; i < c->dict.n; i++)
        free(c->dict.v[i].s);
    free(c->dict.v);
    free(c->dict.tab);
    free(c);
}

/* True when name must appear in a record's metadata text exactly as
 * "name" if the record has that field, so that a record whose text lacks
 * it need not be parsed.  That holds for printable ASCII other than '"' and
 * '\\': "attrs" holds what cvs__meta_canonical wrote (jansson's compact
 * dump), which escapes only '"', '\\' and control characters.  Other names
 * are always looked up by parsing. */
static int plain_name(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return 0;
    }
    return 1;
}

static int has_quoted(const char *text, size_t tlen, const char *name, size_t len)
{
    const char *p = text, *end = text + tlen;
    while (p < end && (p = memmem(p, (size_t)(end - p), name, len)) != NULL) {
        if (p > text && p[-1] == '"' && p + len < end && p[len] == '"')
            return 1;
        p++;
    }
    return 0;
}

static cvs__fcol *cache_find(const struct cvs_fcache *fc, const char *name, size_t len);

/* The key of the per-record hashes (SipHash, libsodium's crypto_shorthash):
 * random per process, so that crafted metadata cannot collide on purpose. */
static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static int hash_ready;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_init(void)
{
    if (sodium_init() < 0)
        return;
    crypto_shorthash_keygen(hash_key);
    hash_ready = 1;
}

/* Never 0, which marks "no metadata". */
static uint64_t attrs_hash(const void *p, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, p, len, hash_key);
    memcpy(&h, out, 8);
    return h | 1;
}

/* dst (empty) gets src's strings with the same codes. */
static int sdict_copy(cvs__sdict *dst, const cvs__sdict *src)
{
    uint32_t code;
    int rc;
    for (size_t i = 0; i < src->n; i++)
        if ((rc = sdict_intern(dst, src->v[i].s, src->v[i].len, &code)))
            return rc;
    return CVS_OK;
}

/* Builds columns for n fields in one pass over "attrs", filling hash[key]
 * with each record's metadata hash.  With base (the columns of an older
 * snapshot, deviation 1), a record whose hash is unchanged copies its
 * entries from base's column of the same field and is not parsed. */
static int cols_build(cvs_txn *t, size_t nkeys, cvs__fcol **cols, size_t n,
                      const struct cvs_fcache *base, uint64_t *hash)
{
    cvs__scan scan = {0};
    cvs_db *db = t->db;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    json_t *obj = NULL;
    const cvs__fcol **olds = NULL;
    unsigned char *compact = NULL;
    int rc = CVS_OK, mrc, all_plain = 1;

    if (!(olds = calloc(n ? n : 1, sizeof *olds)) || !(compact = calloc(n ? n : 1, 1))) {
        free(olds);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        cvs__fcol *c = cols[i];
        c->nkeys = nkeys;
        if (!(c->type = calloc(nkeys ? nkeys : 1, 1)) ||
            !(c->val = malloc((nkeys ? nkeys : 1) * sizeof *c->val))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory for a metadata column of %zu keys", nkeys);
            goto out;
        }
        all_plain &= plain_name(c->name, c->name_len);
        if (base && hash_ready && (olds[i] = cache_find(base, c->name, c->name_len))) {
            compact[i] = olds[i]->dict.n > 2 * olds[i]->nstr + DICT_SLACK;
            if (!compact[i] && (rc = sdict_copy(&c->dict, &olds[i]->dict)))
                goto out;
        }
    }
    if ((mrc = mdb_cursor_open(t->txn, db->dbi_attrs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (mrc = cvs__cscan(db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(db, cur, &k, &v, MDB_NEXT, &scan)) {
        uint64_t key, h = 0;
        json_error_t err;
        int same, parse = 0, wanted = !all_plain;
        if (k.mv_size != 8) {
            rc = cvs__err(CVS_ECORRUPT, "attrs: key of %zu bytes; run cvstore check", k.mv_size);
            goto out;
        }
        key = cvs__get_u64(k.mv_data);
        if (key >= nkeys) {
            rc = cvs__err(CVS_ECORRUPT, "attrs: key %llu has no record; run cvstore check",
                          (unsigned long long)key);
            goto out;
        }
        if (hash_ready)
            hash[key] = h = attrs_hash(v.mv_data, v.mv_size);
        same = base && base->hash && key < base->nkeys && base->hash[key] == h && h != 0;
        for (size_t i = 0; i < n; i++) {
            if (same && olds[i]) {
                cols[i]->type[key] = olds[i]->type[key];
                if (compact[i] && olds[i]->type[key] == CVS__V_STR) {
                    const cvs__fstr *o = &olds[i]->dict.v[olds[i]->val[key].s];
                    if ((rc = sdict_intern(&cols[i]->dict, o->s, o->len, &cols[i]->val[key].s)))
                        goto out;
                } else {
                    cols[i]->val[key] = olds[i]->val[key];
                }
                cols[i]->nstr += olds[i]->type[key] == CVS__V_STR;
            } else {
                parse = 1;
                if (!wanted)
                    wanted = has_quoted(v.mv_data, v.mv_size, cols[i]->name, cols[i]->name_len);
            }
        }
        if (!parse || !wanted)
            continue;
        if (!(obj = json_loadb(v.mv_data, v.mv_size, 0, &err)) || !json_is_object(obj)) {
            rc = cvs__err(CVS_ECORRUPT, "attrs: key %llu: not a JSON object; run cvstore check",
                          (unsigned long long)key);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            cvs__fcol *c = cols[i];
            const char *s = NULL;
            size_t len = 0;
            double d = 0;
            int type;
            if (same && olds[i])
                continue;
            type = cvs__json_classify(json_object_getn(obj, c->name, c->name_len), &d, &s, &len);
            c->type[key] = (uint8_t)type;
            if (type == CVS__V_NUM)
                c->val[key].d = d;
            else if (type == CVS__V_STR && (rc = sdict_intern(&c->dict, s, len, &c->val[key].s)))
                goto out;
            c->nstr += type == CVS__V_STR;
        }
        json_decref(obj);
        obj = NULL;
    }
    if (mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading metadata");
out:
    cvs__scan_free(&scan);
    json_decref(obj);
    if (cur)
        mdb_cursor_close(cur);
    free(olds);
    free(compact);
    return rc;
}

static cvs__fcol *cache_find(const struct cvs_fcache *fc, const char *name, size_t len)
{
    for (size_t i = 0; fc && i < fc->ncols; i++)
        if (fc->cols[i]->name_len == len && !memcmp(fc->cols[i]->name, name, len))
            return fc->cols[i];
    return NULL;
}

/* Drops one reference to fc; call with filter_mu held.  The last one drops
 * fc's column references, freeing columns left without users (cheap: a
 * few free() calls). */
static void cache_release_locked(struct cvs_fcache *fc)
{
    if (!fc || --fc->refs > 0)
        return;
    for (size_t i = 0; i < fc->ncols; i++)
        if (--fc->cols[i]->refs == 0)
            col_free(fc->cols[i]);
    free(fc->cols);
    free(fc->hash);
    free(fc);
}

void cvs__filter_cache_drop(cvs_db *db)
{
    pthread_mutex_lock(&db->filter_mu);
    cache_release_locked(db->fcache);
    db->fcache = NULL;
    pthread_mutex_unlock(&db->filter_mu);
}

void cvs__colcache_release(cvs_db *db, cvs__fcol **tc, size_t n)
{
    if (!tc)
        return;
    pthread_mutex_lock(&db->filter_mu);
    for (size_t i = 0; i < n; i++)
        if (tc[i] && --tc[i]->refs == 0)
            col_free(tc[i]);
    pthread_mutex_unlock(&db->filter_mu);
}

/* Appends a new, empty column named name to fresh unless one is there. */
static int fresh_add(cvs__fcol **fresh, size_t *n, const char *name, size_t len)
{
    for (size_t j = 0; j < *n; j++)
        if (fresh[j]->name_len == len && !memcmp(fresh[j]->name, name, len))
            return CVS_OK;
    if (!(fresh[*n] = calloc(1, sizeof **fresh)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (!(fresh[*n]->name = malloc(len + 1))) {
        free(fresh[*n]);
        fresh[*n] = NULL;
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    memcpy(fresh[*n]->name, name, len);
    fresh[*n]->name[len] = '\0';
    fresh[(*n)++]->name_len = len;
    return CVS_OK;
}

/* See colcache.h. */
int cvs__colcache_get(cvs_txn *t, size_t nkeys, const cvs__fstr *fields, size_t n, cvs__fcol **tc)
{
    cvs_db *db = t->db;
    size_t id = mdb_txn_id(t->txn), nnew = 0;
    struct cvs_fcache *base = NULL;
    cvs__fcol **fresh = NULL;
    uint64_t *hash = NULL;
    int rc = CVS_OK;

    pthread_once(&hash_once, hash_init);
    pthread_mutex_lock(&db->filter_mu);
    if (db->fcache && db->fcache->txnid == id) {
        for (size_t i = 0; i < n; i++)
            if ((tc[i] = cache_find(db->fcache, fields[i].s, fields[i].len)))
                tc[i]->refs++;
    } else if (db->fcache && db->fcache->txnid < id) {
        base = db->fcache;
        base->refs++;
    }
    pthread_mutex_unlock(&db->filter_mu);

    /* The distinct fields still missing, built outside the lock: two
     * threads may both build one; the first to publish it wins the slot
     * and the other's copy lives for its own evaluation only. */
    if (!(fresh = calloc(n + (base ? base->ncols : 0) + 1, sizeof *fresh)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!tc[i] && (rc = fresh_add(fresh, &nnew, fields[i].s, fields[i].len)))
            goto out;
    if (nnew == 0)
        goto out;
    for (size_t i = 0; base && i < base->ncols && nnew < FCACHE_MAX_COLS; i++)
        if ((rc = fresh_add(fresh, &nnew, base->cols[i]->name, base->cols[i]->name_len)))
            goto out;
    if (!(hash = calloc(nkeys ? nkeys : 1, sizeof *hash))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for %zu metadata hashes", nkeys);
        goto out;
    }
    if ((rc = cols_build(t, nkeys, fresh, nnew, base, hash)))
        goto out;

    pthread_mutex_lock(&db->filter_mu);
    if (!db->fcache || db->fcache->txnid < id) {
        struct cvs_fcache *fc = calloc(1, sizeof *fc);
        if (fc) { /* not caching is no failure */
            fc->txnid = id;
            fc->nkeys = nkeys;
            if (hash_ready) { /* else no refresh: the next snapshot parses */
                fc->hash = hash;
                hash = NULL;
            }
            fc->refs = 1;
            cache_release_locked(db->fcache);
            db->fcache = fc;
        }
    }
    for (size_t j = 0; j < nnew; j++) {
        struct cvs_fcache *fc = db->fcache;
        cvs__fcol *c = fresh[j];
        if (fc && fc->txnid == id && fc->ncols < FCACHE_MAX_COLS &&
            !cache_find(fc, c->name, c->name_len)) {
            cvs__fcol **cols = realloc(fc->cols, (fc->ncols + 1) * sizeof *cols);
            if (cols) {
                fc->cols = cols;
                cols[fc->ncols++] = c;
                c->refs++;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (!tc[i] && fields[i].len == c->name_len &&
                !memcmp(fields[i].s, c->name, c->name_len)) {
                tc[i] = c;
                c->refs++;
            }
        if (c->refs)
            fresh[j] = NULL; /* owned by its references now */
    }
    pthread_mutex_unlock(&db->filter_mu);
out:
    if (base) {
        pthread_mutex_lock(&db->filter_mu);
        cache_release_locked(base);
        pthread_mutex_unlock(&db->filter_mu);
    }
    for (size_t j = 0; j < nnew; j++)
        col_free(fresh[j]);
    free(fresh);
    free(hash);
    return rc;
}

/* ==== Testing ==== */

size_t cvs__filter_cache_strings(cvs_db *db)
{
    size_t n = 0;
    pthread_mutex_lock(&db->filter_mu);
    for (size_t i = 0; db->fcache && i < db->fcache->ncols; i++)
        n += db->fcache->cols[i]->dict.n;
    pthread_mutex_unlock(&db->filter_mu);
    return n;
}
