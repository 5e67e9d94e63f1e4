/*
 * check.c -- cvs_check: verifies the store's invariants inside one read
 * snapshot and reports every violation, changing nothing.
 *
 * First the structure of data.mdb's pages (store/pages.c, what a write
 * would refuse), then the invariants (docs/FORMAT.md): ids and recs are inverse maps (a bijection
 * between external ids and keys); every record has exactly one vector of
 * dim values, all finite; no text, attrs or links value without a record;
 * every key is below next_key; attrs are JSON objects and text is UTF-8;
 * every link's target exists; backlinks mirror links exactly; titles are
 * UTF-8 and belong to records.  Then each registered module checks its own
 * invariants through its check slot (store/module.h): codes, the IVF index
 * and its log (index/codes.c, index/ivf.c), the FAISS index (index/), the
 * BM25 postings (text/bm25.c), the kNN rows and the title map (graph/).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/module.h"
#include "store/seal.h"

typedef struct cvs__chk {
    cvs_db *db;
    MDB_txn *txn;
    cvs_report_fn report;
    void *ctx;
    uint64_t problems;
    uint64_t next_key;
    uint64_t nrecs;
    int codes_only;        /* a module holds the vectors: the store keeps none */
    int held_unknown;      /* the module that would say so cannot load its state:
                              whether a record needs a vector is not known */
    uint64_t auth_failures; /* encrypted store: values that failed authentication */
    uint32_t shard, shards; /* the store's place in a sharded store (0 of 0: none) */
    /* Databases whose pages are damaged (store/pages.c): not walked. */
    char damaged[8][64];
    size_t ndamaged;
    cvs_progress_fn progress; /* cvs_check_progress: each walk's entries */
    void *progress_ctx;
} chk;

static void problem(chk *c, const char *fmt, ...) CVS_PRINTF(2, 3);
static void problem(chk *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report)
        c->report(c->ctx, msg);
}

static int exists_key(chk *c, MDB_dbi dbi, uint64_t key)
{
    MDB_val k = {8, &key}, v;
    return cvs__vget(c->db, c->txn, dbi, &k, &v) == 0;
}

/* An encrypted store's value that fails authentication: name the record by
 * its external id when its "recs" value still opens, else by its key. */
static void auth_problem(chk *c, const char *name, const MDB_val *k)
{
    MDB_val rv;
    const char *id;
    size_t len;
    int64_t cr, up;
    char kn[96];
    if (k->mv_size == 8 && strcmp(name, "ivflog") != 0 && strcmp(name, "meta") != 0 &&
        cvs__vget(c->db, c->txn, c->db->dbi_recs, (MDB_val *)k, &rv) == 0 &&
        cvs__rec_decode(&rv, &cr, &up, &id, &len) == CVS_OK)
        problem(c, "%s: record \"%.*s\" (key %s) fails authentication: damaged, tampered "
                "with, or moved from another record", name, (int)len, id,
                cvs__key_name(k, kn, sizeof kn));
    else
        problem(c, "%s: the value of key %s fails authentication: damaged, tampered with, "
                "or moved from another record", name, cvs__key_name(k, kn, sizeof kn));
}

/* cvs__pages_report's callback: each damaged tree is a problem, and a
 * named one is left out of the walks below. */
static void on_damaged(void *ctx, const char *name, size_t len, uint64_t page, const char *why)
{
    chk *c = ctx;
    if (!name) {
        problem(c, "store is damaged: %s", why);
        return;
    }
    problem(c, "store is damaged: %.*s: data.mdb page %llu: %s; its entries are not read",
            (int)len, name, (unsigned long long)page, why);
    if (c->ndamaged < sizeof c->damaged / sizeof c->damaged[0] && len < sizeof c->damaged[0]) {
        memcpy(c->damaged[c->ndamaged], name, len);
        c->damaged[c->ndamaged++][len] = 0;
    }
}

/* Walks every entry of dbi, calling fn; stops on an LMDB error.  A
 * database whose pages are damaged is skipped (on_damaged reported it). */
typedef int (*walk_fn)(chk *c, const MDB_val *k, const MDB_val *v);
static int walk_any(chk *c, MDB_dbi dbi, const char *name, walk_fn fn, cvs__chk_fn mfn,
                    void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    cvs__scan scan = {0};
    cvs__mark mark;
    int mrc, rc = CVS_OK;
    char what[64];
    MDB_stat st;
    uint64_t done = 0, total = 0;
    for (size_t i = 0; i < c->ndamaged; i++)
        if (!strcmp(c->damaged[i], name))
            return CVS_OK;
    if ((mrc = mdb_cursor_open(c->txn, dbi, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    /* Progress counts the walk's entries, phase "check NAME": every
     * database is walked here, the modules' too (cvs__chk_walk). */
    snprintf(what, sizeof what, "check %s", name);
    if (c->progress && mdb_stat(c->txn, dbi, &st) == 0)
        total = st.ms_entries;
    /* An encrypted store's values that fn looks up are dropped after each
     * entry, so that checking holds one record's plaintext at a time. */
    cvs__arena_mark(c->db, c->txn, &mark);
    for (mrc = cvs__cscan(c->db, cur, &k, &v, MDB_FIRST, &scan); rc == CVS_OK;
         mrc = cvs__cscan(c->db, cur, &k, &v, MDB_NEXT, &scan)) {
        if (mrc == CVS__EAUTH) {
            c->auth_failures++;
            auth_problem(c, name, &k);
            continue;
        }
        if (mrc == CVS__EDAMAGED) { /* the wrapper's message names it */
            problem(c, "%s", cvs_errmsg(c->db));
            continue;
        }
        if (mrc)
            break;
        rc = fn ? fn(c, &k, &v) : mfn(c, arg, &k, &v);
        cvs__arena_rewind(c->db, c->txn, &mark);
        if (c->progress && (++done & 4095) == 0)
            c->progress(c->progress_ctx, what, done, total, 0, 0);
    }
    if (c->progress && rc == CVS_OK)
        c->progress(c->progress_ctx, what, total, total, 0, 0);
    mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    if (rc == CVS_OK && mrc != MDB_NOTFOUND) {
        snprintf(what, sizeof what, "walking %s", name);
        rc = cvs__err_lmdb(mrc, what);
    }
    return rc;
}

static int walk(chk *c, MDB_dbi dbi, const char *name, walk_fn fn)
{
    return walk_any(c, dbi, name, fn, NULL, NULL);
}

/* ==== What modules use (store/module.h) ==== */

MDB_txn *cvs__chk_txn(cvs__chk *c)
{
    return c->txn;
}

uint64_t cvs__chk_nrecs(cvs__chk *c)
{
    return c->nrecs;
}

uint64_t cvs__chk_failed_values(cvs__chk *c)
{
    return c->auth_failures;
}

void cvs__chk_problem(cvs__chk *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    problem(c, "%s", msg);
}

void cvs__chk_problem_cb(void *ctx, const char *msg)
{
    problem(ctx, "%s", msg);
}

int cvs__chk_walk(cvs__chk *c, MDB_dbi dbi, const char *name, cvs__chk_fn fn, void *arg)
{
    return walk_any(c, dbi, name, NULL, fn, arg);
}

static int check_ids(chk *c, const MDB_val *k, const MDB_val *v)
{
    uint64_t key;
    MDB_val rk = {8, &key}, rv, ik;
    const char *id;
    size_t len;
    int64_t cr, up;
    unsigned char buf[CVS_IDKEY_MAX], hb[CVS_HKEY_BYTES];
    if (v->mv_size != 8) {
        problem(c, "ids: entry \"%.*s\" has a value of %zu bytes (expected 8)",
                (int)(k->mv_size > 64 ? 64 : k->mv_size), (const char *)k->mv_data, v->mv_size);
        return CVS_OK;
    }
    key = cvs__get_u64(v->mv_data);
    if (cvs__vget(c->db, c->txn, c->db->dbi_recs, &rk, &rv) != 0) {
        problem(c, "ids: \"%.*s\" maps to key %llu, which has no record",
                (int)(k->mv_size > 64 ? 64 : k->mv_size), (const char *)k->mv_data,
                (unsigned long long)key);
        return CVS_OK;
    }
    if (cvs__rec_decode(&rv, &cr, &up, &id, &len) != CVS_OK)
        return CVS_OK; /* reported by check_recs */
    cvs__idkey(id, len, buf, &ik);
    cvs__vkey(c->db, c->db->dbi_ids, &ik, hb, &ik);
    if (ik.mv_size != k->mv_size || memcmp(ik.mv_data, k->mv_data, k->mv_size) != 0)
        problem(c, "ids: key %llu is claimed by \"%.*s\" but its record says \"%.*s\"",
                (unsigned long long)key, (int)(k->mv_size > 64 ? 64 : k->mv_size),
                (const char *)k->mv_data, (int)len, id);
    return CVS_OK;
}

static int check_recs(chk *c, const MDB_val *k, const MDB_val *v)
{
    uint64_t key;
    const char *id;
    size_t len;
    int64_t cr, up;
    MDB_val ik, iv, vk, vv;
    unsigned char buf[CVS_IDKEY_MAX];
    if (k->mv_size != 8) {
        problem(c, "recs: key of %zu bytes", k->mv_size);
        return CVS_OK;
    }
    key = cvs__get_u64(k->mv_data);
    if (cvs__rec_decode(v, &cr, &up, &id, &len) != CVS_OK) {
        problem(c, "recs: key %llu: %s", (unsigned long long)key, cvs_errmsg(c->db));
        return CVS_OK;
    }
    if (!cvs__utf8_valid(id, len))
        problem(c, "recs: key %llu: id is not valid UTF-8", (unsigned long long)key);
    cvs__idkey(id, len, buf, &ik);
    if (cvs__vget(c->db, c->txn, c->db->dbi_ids, &ik, &iv) != 0)
        problem(c, "recs: \"%.*s\" (key %llu) is missing from ids", (int)len, id,
                (unsigned long long)key);
    else if (iv.mv_size != 8 || cvs__get_u64(iv.mv_data) != key)
        problem(c, "recs: \"%.*s\" (key %llu) maps back to another key", (int)len, id,
                (unsigned long long)key);
    if (key >= c->next_key)
        problem(c, "recs: \"%.*s\" has key %llu, not below next_key %llu", (int)len, id,
                (unsigned long long)key, (unsigned long long)c->next_key);
    vk.mv_data = &key;
    vk.mv_size = 8;
    if (c->codes_only) {
        /* The module holding the vectors checks that each record has one. */
    } else if (cvs__vget(c->db, c->txn, c->db->dbi_vecs, &vk, &vv) != 0) {
        if (!c->held_unknown)
            problem(c, "vecs: \"%.*s\" (key %llu) has no vector", (int)len, id,
                    (unsigned long long)key);
    } else if (vv.mv_size != cvs__vec_bytes(c->db)) {
        problem(c, "vecs: \"%.*s\" has a vector of %zu bytes, expected %zu (dim %u, %s)",
                (int)len, id, vv.mv_size, cvs__vec_bytes(c->db), c->db->dim,
                cvs_raw_name(c->db->raw));
    } else {
        float *x = malloc((size_t)c->db->dim * sizeof *x);
        if (!x)
            return cvs__err(CVS_ENOMEM, "out of memory");
        cvs__decode_vec(c->db, vv.mv_data, x);
        for (uint32_t d = 0; d < c->db->dim; d++)
            if (!isfinite(x[d])) {
                problem(c, "vecs: \"%.*s\" has a non-finite value at %u", (int)len, id, d);
                break;
            }
        free(x);
    }
    return CVS_OK;
}

static int orphan_check(chk *c, const MDB_val *k, const char *name)
{
    if (k->mv_size != 8)
        problem(c, "%s: key of %zu bytes", name, k->mv_size);
    else if (!exists_key(c, c->db->dbi_recs, cvs__get_u64(k->mv_data)))
        problem(c, "%s: key %llu has no record", name,
                (unsigned long long)cvs__get_u64(k->mv_data));
    return CVS_OK;
}

void cvs__chk_orphan(cvs__chk *c, const MDB_val *k, const char *name)
{
    orphan_check(c, k, name);
}

static int check_vecs(chk *c, const MDB_val *k, const MDB_val *v)
{
    (void)v;
    return orphan_check(c, k, "vecs");
}

static int check_text(chk *c, const MDB_val *k, const MDB_val *v)
{
    orphan_check(c, k, "text");
    if (!cvs__utf8_valid(v->mv_data, v->mv_size))
        problem(c, "text: key %llu is not valid UTF-8",
                (unsigned long long)(k->mv_size == 8 ? cvs__get_u64(k->mv_data) : 0));
    return CVS_OK;
}

static int check_attrs(chk *c, const MDB_val *k, const MDB_val *v)
{
    char *canon = NULL;
    size_t clen;
    orphan_check(c, k, "attrs");
    if (cvs__meta_canonical(v->mv_data, v->mv_size, &canon, &clen) != CVS_OK)
        problem(c, "attrs: key %llu: %s",
                (unsigned long long)(k->mv_size == 8 ? cvs__get_u64(k->mv_data) : 0),
                cvs_errmsg(c->db));
    free(canon);
    return CVS_OK;
}

static int check_links(chk *c, const MDB_val *k, const MDB_val *v)
{
    cvs_link *links = NULL;
    size_t n = 0;
    uint64_t src;
    unsigned char buf[CVS_IDKEY_MAX];
    orphan_check(c, k, "links");
    if (k->mv_size != 8)
        return CVS_OK;
    src = cvs__get_u64(k->mv_data);
    if (cvs__links_decode(v->mv_data, v->mv_size, &links, &n) != CVS_OK) {
        problem(c, "links: key %llu: %s", (unsigned long long)src, cvs_errmsg(c->db));
        return CVS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        MDB_val ik, iv, bv = {8, &src};
        MDB_cursor *cur;
        cvs__idkey(links[i].id, links[i].id_len, buf, &ik);
        if (cvs__vget(c->db, c->txn, c->db->dbi_ids, &ik, &iv) != 0 &&
            (!c->shards || cvs__shard_of(links[i].id, links[i].id_len, c->shards) == c->shard))
            problem(c, "links: key %llu links to \"%.*s\", which does not exist (dangling)",
                    (unsigned long long)src, (int)links[i].id_len, links[i].id);
        if (mdb_cursor_open(c->txn, c->db->dbi_backlinks, &cur) == 0) {
            if (cvs__cget(c->db, cur, &ik, &bv, MDB_GET_BOTH) != 0)
                problem(c, "backlinks: missing entry for the link from key %llu to \"%.*s\"",
                        (unsigned long long)src, (int)links[i].id_len, links[i].id);
            mdb_cursor_close(cur);
        }
    }
    free(links);
    return CVS_OK;
}

static int check_backlinks(chk *c, const MDB_val *k, const MDB_val *v)
{
    uint64_t src;
    MDB_val sk = {8, &src}, sv;
    cvs_link *links = NULL;
    size_t n = 0, found = 0;
    unsigned char buf[CVS_IDKEY_MAX], hb[CVS_HKEY_BYTES];
    if (v->mv_size != 8) {
        problem(c, "backlinks: value of %zu bytes", v->mv_size);
        return CVS_OK;
    }
    src = cvs__get_u64(v->mv_data);
    if (cvs__vget(c->db, c->txn, c->db->dbi_links, &sk, &sv) != 0 ||
        cvs__links_decode(sv.mv_data, sv.mv_size, &links, &n) != CVS_OK) {
        problem(c, "backlinks: key %llu is listed as a source but has no links",
                (unsigned long long)src);
        return CVS_OK;
    }
    for (size_t i = 0; i < n && !found; i++) {
        MDB_val ik;
        cvs__idkey(links[i].id, links[i].id_len, buf, &ik);
        cvs__vkey(c->db, c->db->dbi_backlinks, &ik, hb, &ik);
        found = ik.mv_size == k->mv_size && memcmp(ik.mv_data, k->mv_data, k->mv_size) == 0;
    }
    if (!found)
        problem(c, "backlinks: key %llu is listed as linking to an id it does not link to",
                (unsigned long long)src);
    free(links);
    return CVS_OK;
}

/* Encrypted stores: databases walked only so that every value is opened
 * once (what fails is reported by walk). */
static int check_opens(chk *c, const MDB_val *k, const MDB_val *v)
{
    (void)c;
    (void)k;
    (void)v;
    return CVS_OK;
}

/* The modules' checks: first those that read only their own rows, then,
 * when every value opened, those that re-read the records' values. */
static int check_modules(chk *c, int needs_values)
{
    cvs_db *db = c->db;
    int rc;
    for (size_t i = 0; i < db->nmods; i++) {
        const cvs__module *m = db->mods[i].m;
        int skip = 0;
        if (!db->mods[i].present || !m->check ||
            !(m->flags & CVS__MOD_CHECK_NEEDS_VALUES) != !needs_values)
            continue;
        /* A module walks its databases itself: not over damaged pages. */
        for (size_t j = 0; j < m->ndbis && !skip; j++)
            for (size_t d = 0; d < c->ndamaged && !skip; d++)
                skip = !strcmp(m->dbis[j].name, c->damaged[d]);
        if (skip) {
            problem(c, "%s: not checked, since one of its databases has damaged pages", m->name);
            continue;
        }
        if ((rc = m->check(db, db->mods[i].state, c)))
            return rc;
    }
    return CVS_OK;
}

/* Encrypted stores: opens every value of the databases that ask for it. */
static int check_opens_all(chk *c)
{
    cvs_db *db = c->db;
    int rc;
    if ((rc = walk(c, db->dbi_meta, "meta", check_opens)))
        return rc;
    for (size_t i = 0; i < db->nmods; i++)
        for (size_t j = 0; db->mods[i].present && j < db->mods[i].m->ndbis; j++) {
            const cvs__dbi_spec *d = &db->mods[i].m->dbis[j];
            if (!(d->flags & CVS__DBI_CHECK_OPENS) ||
                ((d->flags & CVS__DBI_OPTIONAL) && !*(int *)((char *)db->mods[i].state + d->have_off)))
                continue;
            if ((rc = walk(c, *(MDB_dbi *)((char *)db->mods[i].state + d->off), d->name,
                           check_opens)))
                return rc;
        }
    return CVS_OK;
}

static int check_titles(chk *c, const MDB_val *k, const MDB_val *v)
{
    orphan_check(c, k, "titles");
    if (!cvs__utf8_valid(v->mv_data, v->mv_size))
        problem(c, "titles: key %llu is not valid UTF-8",
                (unsigned long long)(k->mv_size == 8 ? cvs__get_u64(k->mv_data) : 0));
    return CVS_OK;
}

CVS_API int cvs_check(cvs_db *db, cvs_report_fn report, void *ctx, uint64_t *problems)
{
    return cvs_check_progress(db, report, ctx, NULL, NULL, problems);
}

CVS_API int cvs_check_progress(cvs_db *db, cvs_report_fn report, void *ctx,
                               cvs_progress_fn progress, void *progress_ctx, uint64_t *problems)
{
    chk c = {.db = db, .report = report, .ctx = ctx, .progress = progress,
             .progress_ctx = progress_ctx};
    MDB_stat s_ids, s_recs, s_vecs;
    MDB_val nk = CVS__MKEY(CVS__META_NEXT_KEY), nv;
    int rc;

    if (problems)
        *problems = 0;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_check: NULL argument");
    if ((rc = cvs__read_begin(db, &c.txn)))
        return rc;
    /* The pages' structure first: the writes would refuse this store. */
    if ((rc = cvs__pages_report(db, c.txn, on_damaged, &c)))
        goto out;
    if (cvs__vget(db, c.txn, db->dbi_meta, &nk, &nv) == 0 && nv.mv_size == 8)
        c.next_key = cvs__get_u64(nv.mv_data);
    else
        problem(&c, "meta: next_key is missing or not 8 bytes");
    if (mdb_stat(c.txn, db->dbi_ids, &s_ids) || mdb_stat(c.txn, db->dbi_recs, &s_recs) ||
        mdb_stat(c.txn, db->dbi_vecs, &s_vecs)) {
        rc = cvs__err(CVS_ELMDB, "reading database statistics");
        goto out;
    }
    c.nrecs = s_recs.ms_entries;
    /* A shard's links may name records of other shards (store/shard.c). */
    if ((rc = cvs__shard_get(db, c.txn, &c.shard, &c.shards)) == CVS_ECORRUPT) {
        problem(&c, "meta: %s", cvs_errmsg(db));
        c.shard = c.shards = 0;
    } else if (rc && rc != CVS_NOTFOUND) {
        goto out;
    }
    rc = CVS_OK;
    /* A module whose state cannot be loaded reports that in its own check,
     * once; the vectors' presence is then not checked record by record. */
    if (cvs__vectors_held(db, c.txn, &c.codes_only) != CVS_OK) {
        c.codes_only = 0;
        c.held_unknown = 1;
    }
    if (s_ids.ms_entries != s_recs.ms_entries ||
        (!c.codes_only && !c.held_unknown && s_recs.ms_entries != s_vecs.ms_entries))
        problem(&c, "counts differ: %zu ids, %zu records, %zu vectors", s_ids.ms_entries,
                s_recs.ms_entries, s_vecs.ms_entries);
    if (c.codes_only && s_vecs.ms_entries)
        problem(&c, "vecs: %zu raw vectors in a store that keeps codes only (raw none)",
                s_vecs.ms_entries);
    if ((rc = walk(&c, db->dbi_ids, "ids", check_ids)) ||
        (rc = walk(&c, db->dbi_recs, "recs", check_recs)) ||
        (rc = walk(&c, db->dbi_vecs, "vecs", check_vecs)) ||
        (rc = walk(&c, db->dbi_text, "text", check_text)) ||
        (rc = walk(&c, db->dbi_attrs, "attrs", check_attrs)) ||
        (rc = walk(&c, db->dbi_links, "links", check_links)) ||
        (rc = walk(&c, db->dbi_backlinks, "backlinks", check_backlinks)) ||
        (db->have_titles && (rc = walk(&c, db->dbi_titles, "titles", check_titles))))
        goto out;
    if (db->crypt && (rc = check_opens_all(&c)))
        goto out;
    if ((rc = check_modules(&c, 0)))
        goto out;
    /* The text index and graph checks re-read every record's text and rows
     * and stop at the first value that does not open; the failures are
     * reported above. */
    if (c.auth_failures)
        problem(&c, "text index and graph not checked: %llu values failed authentication",
                (unsigned long long)c.auth_failures);
    else if ((rc = check_modules(&c, 1)))
        goto out;
out:
    cvs__read_end(db, c.txn);
    if (problems)
        *problems = c.problems;
    return rc;
}
