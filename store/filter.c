/*
 * filter.c -- metadata filters: the JSON predicate language of
 * cvs_filter_parse and its evaluation to a bitmap over internal keys.
 *
 * Method.  A filter is an AND of terms.  Each term is one of
 *   IN     field's value is one of a set of strings, numbers or booleans
 *          (plain equality is IN with one value; $eq and $in too),
 *   RANGE  field's value is a number within bounds ($gt $gte $lt $lte),
 *   IDS    the record's external id is in an allow-list ($ids).
 * Evaluation produces one bit per internal key, the form every search path
 * consumes (exact scan, code scan, and the IVF index, which tests the bits
 * of its candidates).  This is the "pre-filter" of the filtered-ANN
 * literature (e.g. Gollapudi et al. 2023, Filtered-DiskANN, section 2):
 * compute the allowed set first, then search only within it, so a search
 * can promise k results whenever k records match; post-filtering the top
 * candidates cannot (pgvector's HNSW returns fewer rows than asked for
 * under a selective WHERE clause).
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
 *  3. Numbers compare as doubles: exact for integers up to 2^53, and
 *     2020 equals 2020.0.  A field whose value has another type than the
 *     predicate's (a string compared with a range, a missing field, null,
 *     an array) does not match.
 *  4. An $ids allow-list resolves through the "ids" database, one B-tree
 *     look-up per id, with no scan; when it leaves at most PERREC_MAX
 *     records, the field terms are checked against those records' own JSON
 *     instead of (re)building columns of the whole store.
 *  5. Carrying a column over copies its string dictionary whole, so that
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

#include "store/filter.h"
#include "store/seal.h"

#define FILTER_MAX_BYTES (16u << 20) /* a long $ids list fits */
#define FILTER_MAX_MEMBERS 256
#define FILTER_MAX_FIELD 1024        /* bytes of a field name */
#define FILTER_MAX_IN 65536          /* values of one $in */
#define FILTER_MAX_IDS (1u << 20)    /* ids of $ids */
#define FCACHE_MAX_COLS 64
#define DICT_SLACK 64 /* strings a dictionary may carry beyond twice its uses */
#define PERREC_MAX 256
#define KEY_MAX (1ull << 40)         /* keys beyond: a damaged store, not a
                                        bitmap we should try to allocate */

/* ==== The parsed filter ==== */

enum { T_IN = 1, T_RANGE = 2 };

typedef struct fstr {
    char *s;
    size_t len;
} fstr;

typedef struct fterm {
    int kind;
    char *field;       /* NUL-terminated (jansson keys hold no NUL) */
    size_t field_len;
    /* T_IN: sorted strings and numbers, and the booleans wanted */
    fstr *strs;
    size_t nstrs;
    double *nums;
    size_t nnums;
    int want_true, want_false;
    /* T_RANGE */
    int has_lo, lo_incl, has_hi, hi_incl;
    double lo, hi;
} fterm;

struct cvs_filter {
    fterm *terms;
    size_t nterms;
    int has_ids;
    fstr *ids;
    size_t nids;
};

/* Value types of a column entry (and of a JSON value met per record). */
enum { V_ABSENT = 0, V_STR, V_NUM, V_TRUE, V_FALSE, V_OTHER };

static int fstr_cmp(const void *a, const void *b)
{
    const fstr *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bytes of name to show in a message: at most 64, cut on a UTF-8
 * character boundary so the message stays valid UTF-8. */
static int shown(const char *name, size_t len)
{
    size_t n = len < 64 ? len : 64;
    while (n < len && n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

static void term_clear(fterm *t)
{
    free(t->field);
    for (size_t i = 0; i < t->nstrs; i++)
        free(t->strs[i].s);
    free(t->strs);
    free(t->nums);
}

CVS_API void cvs_filter_free(cvs_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nterms; i++)
        term_clear(&f->terms[i]);
    free(f->terms);
    for (size_t i = 0; i < f->nids; i++)
        free(f->ids[i].s);
    free(f->ids);
    free(f);
}

static int dup_str(const char *s, size_t len, fstr *out)
{
    if (!(out->s = malloc(len + 1)))
        return cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
    memcpy(out->s, s, len);
    out->s[len] = '\0';
    out->len = len;
    return CVS_OK;
}

static const char *json_type_name(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Adds the scalar x (string, number, boolean) to an IN term; what names
 * where it came from, for the message. */
static int in_add(fterm *t, const json_t *x, const char *what)
{
    if (json_is_string(x))
        return dup_str(json_string_value(x), json_string_length(x), &t->strs[t->nstrs++]);
    if (json_is_number(x)) {
        t->nums[t->nnums++] = json_number_value(x);
        return CVS_OK;
    }
    if (json_is_true(x) || json_is_false(x)) {
        *(json_is_true(x) ? &t->want_true : &t->want_false) = 1;
        return CVS_OK;
    }
    return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": %s must be a string, number or boolean, "
                    "not %s", shown(t->field, t->field_len), t->field, what, json_type_name(x));
}

/* Starts a term on field in f->terms (sized by the caller). */
static int term_new(cvs_filter *f, const char *field, int kind, size_t nvals, fterm **out)
{
    fterm *t = &f->terms[f->nterms];
    size_t len = strlen(field);
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->field_len = len;
    if (!(t->field = strdup(field)))
        return cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
    f->nterms++; /* from here on cvs_filter_free owns it */
    if (nvals && (!(t->strs = calloc(nvals, sizeof *t->strs)) ||
                  !(t->nums = calloc(nvals, sizeof *t->nums))))
        return cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
    *out = t;
    return CVS_OK;
}

/* Sorts an IN term's values for binary search, dropping duplicates. */
static void in_finish(fterm *t)
{
    size_t n = 0;
    if (t->nstrs > 1) /* (qsort's base may not be NULL, even for 0 items) */
        qsort(t->strs, t->nstrs, sizeof *t->strs, fstr_cmp);
    for (size_t i = 0; i < t->nstrs; i++) {
        if (n && fstr_cmp(&t->strs[n - 1], &t->strs[i]) == 0)
            free(t->strs[i].s);
        else
            t->strs[n++] = t->strs[i];
    }
    t->nstrs = n;
    if (t->nnums > 1)
        qsort(t->nums, t->nnums, sizeof *t->nums, dbl_cmp);
}

static int parse_in(cvs_filter *f, const char *field, const json_t *arr)
{
    fterm *t;
    size_t i, n;
    const json_t *x;
    int rc;
    if (!json_is_array(arr))
        return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": $in needs an array, not %s",
                        shown(field, strlen(field)), field, json_type_name(arr));
    n = json_array_size(arr);
    if (n > FILTER_MAX_IN)
        return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": $in has %zu values (at most %d)",
                        shown(field, strlen(field)), field, n, FILTER_MAX_IN);
    if ((rc = term_new(f, field, T_IN, n, &t)))
        return rc;
    json_array_foreach(arr, i, x)
        if ((rc = in_add(t, x, "each $in value")))
            return rc;
    in_finish(t);
    return CVS_OK;
}

/* {"$gte": 1, "$lt": 2, "$in": [...], "$eq": x}: one term per operator
 * kind, ANDed. */
static int parse_ops(cvs_filter *f, const char *field, json_t *ops)
{
    const char *op;
    json_t *v;
    fterm *range = NULL;
    int rc;
    if (json_object_size(ops) == 0)
        return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": empty operator object",
                        shown(field, strlen(field)), field);
    json_object_foreach(ops, op, v) {
        int lower = !strcmp(op, "$gt") || !strcmp(op, "$gte");
        int upper = !strcmp(op, "$lt") || !strcmp(op, "$lte");
        if (!strcmp(op, "$in")) {
            if ((rc = parse_in(f, field, v)))
                return rc;
        } else if (!strcmp(op, "$eq")) {
            fterm *t;
            if ((rc = term_new(f, field, T_IN, 1, &t)) || (rc = in_add(t, v, "$eq")))
                return rc;
        } else if (lower || upper) {
            double d;
            if (!json_is_number(v))
                return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": %s needs a number, not %s",
                                shown(field, strlen(field)), field, op, json_type_name(v));
            d = json_number_value(v);
            if (!range && (rc = term_new(f, field, T_RANGE, 0, &range)))
                return rc;
            if ((lower && range->has_lo) || (upper && range->has_hi))
                return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": two %s bounds (give one of "
                                "%s)", shown(field, strlen(field)), field, lower ? "lower" : "upper",
                                lower ? "$gt, $gte" : "$lt, $lte");
            if (lower) {
                range->has_lo = 1;
                range->lo = d;
                range->lo_incl = op[3] == 'e';
            } else {
                range->has_hi = 1;
                range->hi = d;
                range->hi_incl = op[3] == 'e';
            }
        } else {
            return cvs__err(CVS_EINVAL, "filter: member \"%.*s\": unknown operator \"%.*s\" "
                            "(expected $eq, $in, $gt, $gte, $lt or $lte)",
                            shown(field, strlen(field)), field, shown(op, strlen(op)), op);
        }
    }
    return CVS_OK;
}

static int parse_ids(cvs_filter *f, const json_t *arr)
{
    size_t i, n;
    const json_t *x;
    int rc;
    if (!json_is_array(arr))
        return cvs__err(CVS_EINVAL, "filter: member \"$ids\" needs an array of ids, not %s",
                        json_type_name(arr));
    n = json_array_size(arr);
    if (n > FILTER_MAX_IDS)
        return cvs__err(CVS_EINVAL, "filter: member \"$ids\" has %zu ids (at most %u)", n,
                        FILTER_MAX_IDS);
    if (!(f->ids = calloc(n ? n : 1, sizeof *f->ids)))
        return cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
    f->has_ids = 1;
    json_array_foreach(arr, i, x) {
        if (!json_is_string(x))
            return cvs__err(CVS_EINVAL, "filter: member \"$ids\": id %zu is %s, not a string", i,
                            json_type_name(x));
        if ((rc = dup_str(json_string_value(x), json_string_length(x), &f->ids[f->nids])))
            return rc;
        f->nids++;
    }
    return CVS_OK;
}

/* Upper bound on the terms one member can add, to size f->terms once. */
static size_t member_terms(const json_t *v)
{
    return json_is_object(v) ? json_object_size(v) : 1;
}

CVS_API int cvs_filter_parse(const char *json, size_t len, cvs_filter **out)
{
    json_error_t err;
    json_t *root = NULL, *v;
    cvs_filter *f = NULL;
    const char *key;
    size_t nt = 0;
    int rc = CVS_OK;

    if (!out)
        return cvs__err(CVS_EINVAL, "cvs_filter_parse: NULL argument");
    *out = NULL;
    if (!json)
        return cvs__err(CVS_EINVAL, "cvs_filter_parse: NULL argument");
    if (len == 0)
        len = strlen(json);
    if (len > FILTER_MAX_BYTES)
        return cvs__err(CVS_EINVAL, "filter of %zu bytes is too long (at most %u)", len,
                        FILTER_MAX_BYTES);
    /* Duplicate members are refused: {"a": 1, "a": 2} is a typo either way. */
    if (!(root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err))) {
        rc = cvs__err(CVS_EINVAL, "filter is not valid JSON: %s (column %d)", err.text, err.column);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = cvs__err(CVS_EINVAL, "filter must be a JSON object such as {\"lang\": \"en\"}, not %s",
                      json_type_name(root));
        goto out;
    }
    if (json_object_size(root) > FILTER_MAX_MEMBERS) {
        rc = cvs__err(CVS_EINVAL, "filter has %zu members (at most %d)", json_object_size(root),
                      FILTER_MAX_MEMBERS);
        goto out;
    }
    json_object_foreach(root, key, v)
        nt += member_terms(v);
    if (!(f = calloc(1, sizeof *f)) || !(f->terms = calloc(nt ? nt : 1, sizeof *f->terms))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory parsing a filter");
        goto out;
    }
    json_object_foreach(root, key, v) {
        size_t klen = strlen(key);
        if (key[0] == '$') {
            if (strcmp(key, "$ids")) {
                rc = cvs__err(CVS_EINVAL, "filter: unknown member \"%.*s\" (the only top-level "
                              "operator is $ids; field names may not start with '$')",
                              shown(key, klen), key);
                goto out;
            }
            if ((rc = parse_ids(f, v)))
                goto out;
            continue;
        }
        if (klen > FILTER_MAX_FIELD) {
            rc = cvs__err(CVS_EINVAL, "filter: member \"%.*s...\": field name of %zu bytes (at "
                          "most %d)", shown(key, klen), key, klen, FILTER_MAX_FIELD);
            goto out;
        }
        if (json_is_object(v)) {
            rc = parse_ops(f, key, v);
        } else if (json_is_array(v) || json_is_null(v)) {
            rc = cvs__err(CVS_EINVAL, "filter: member \"%.*s\": %s cannot be compared (give a "
                          "string, number or boolean, or {\"$in\": [...]})", shown(key, klen), key,
                          json_type_name(v));
        } else {
            fterm *t;
            if (!(rc = term_new(f, key, T_IN, 1, &t)))
                rc = in_add(t, v, "the value");
        }
        if (rc)
            goto out;
    }
    *out = f;
    f = NULL;
out:
    cvs_filter_free(f);
    json_decref(root);
    return rc;
}

/* ==== Matching one value ==== */

static int classify(const json_t *x, double *num, const char **s, size_t *len)
{
    if (!x)
        return V_ABSENT;
    switch (json_typeof(x)) {
    case JSON_STRING:
        *s = json_string_value(x);
        *len = json_string_length(x);
        return V_STR;
    case JSON_INTEGER:
    case JSON_REAL:
        *num = json_number_value(x);
        return V_NUM;
    case JSON_TRUE: return V_TRUE;
    case JSON_FALSE: return V_FALSE;
    default: return V_OTHER;
    }
}

static int num_in(const fterm *t, double d)
{
    return t->nnums && bsearch(&d, t->nums, t->nnums, sizeof *t->nums, dbl_cmp) != NULL;
}

static int range_ok(const fterm *t, double d)
{
    if (t->has_lo && (t->lo_incl ? d < t->lo : d <= t->lo))
        return 0;
    if (t->has_hi && (t->hi_incl ? d > t->hi : d >= t->hi))
        return 0;
    return 1;
}

/* The reference matcher, on a value of a record's JSON: used for the few
 * records of an $ids list (deviation 4). */
static int term_match_json(const fterm *t, const json_t *obj)
{
    double d = 0;
    const char *s = NULL;
    size_t len = 0;
    int type = classify(json_object_getn(obj, t->field, t->field_len), &d, &s, &len);
    if (t->kind == T_RANGE)
        return type == V_NUM && range_ok(t, d);
    switch (type) {
    case V_STR: {
        fstr key = {(char *)s, len};
        return t->nstrs && bsearch(&key, t->strs, t->nstrs, sizeof *t->strs, fstr_cmp) != NULL;
    }
    case V_NUM: return num_in(t, d);
    case V_TRUE: return t->want_true;
    case V_FALSE: return t->want_false;
    default: return 0;
    }
}

/* ==== Columns ==== */

/* Interned strings of one column: codes 0..n-1, looked up by an
 * open-addressing hash table (FNV-1a). */
typedef struct sdict {
    fstr *v;
    size_t n, cap;
    uint32_t *tab;     /* tcap slots of code + 1, 0 = empty */
    size_t tcap;
} sdict;

typedef struct fcol {
    char *name;
    size_t name_len;
    size_t nkeys;
    uint8_t *type;     /* nkeys V_* */
    union {
        double d;
        uint32_t s;
    } *val;            /* nkeys */
    sdict dict;
    size_t nstr;       /* keys holding a string (deviation 5) */
    int refs;          /* guarded by db->filter_mu */
} fcol;

/* The columns of one snapshot.  Reference counted (db->fcache holds one),
 * since a build for a newer snapshot reads the older one's columns and
 * hashes while another thread may replace it. */
struct cvs_fcache {
    size_t txnid;
    size_t nkeys;
    uint64_t *hash;    /* nkeys: hash of each record's metadata, 0 = none */
    fcol **cols;
    size_t ncols;
    int refs;          /* guarded by db->filter_mu */
};

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Code of s, or UINT32_MAX when absent. */
static uint32_t sdict_find(const sdict *d, const char *s, size_t len)
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

static int sdict_grow(sdict *d)
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

static int sdict_intern(sdict *d, const char *s, size_t len, uint32_t *code)
{
    uint32_t c = sdict_find(d, s, len);
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
        fstr *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return cvs__err(CVS_ENOMEM, "out of memory for a metadata column");
        d->v = v;
        d->cap = cap;
    }
    if ((rc = dup_str(s, len, &d->v[d->n])))
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

static void col_free(fcol *c)
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

static fcol *cache_find(const struct cvs_fcache *fc, const char *name, size_t len);

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
static int sdict_copy(sdict *dst, const sdict *src)
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
static int cols_build(cvs_txn *t, size_t nkeys, fcol **cols, size_t n,
                      const struct cvs_fcache *base, uint64_t *hash)
{
    cvs__scan scan = {0};
    cvs_db *db = t->db;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    json_t *obj = NULL;
    const fcol **olds = NULL;
    unsigned char *compact = NULL;
    int rc = CVS_OK, mrc, all_plain = 1;

    if (!(olds = calloc(n ? n : 1, sizeof *olds)) || !(compact = calloc(n ? n : 1, 1))) {
        free(olds);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        fcol *c = cols[i];
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
                if (compact[i] && olds[i]->type[key] == V_STR) {
                    const fstr *o = &olds[i]->dict.v[olds[i]->val[key].s];
                    if ((rc = sdict_intern(&cols[i]->dict, o->s, o->len, &cols[i]->val[key].s)))
                        goto out;
                } else {
                    cols[i]->val[key] = olds[i]->val[key];
                }
                cols[i]->nstr += olds[i]->type[key] == V_STR;
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
            fcol *c = cols[i];
            const char *s = NULL;
            size_t len = 0;
            double d = 0;
            int type;
            if (same && olds[i])
                continue;
            type = classify(json_object_getn(obj, c->name, c->name_len), &d, &s, &len);
            c->type[key] = (uint8_t)type;
            if (type == V_NUM)
                c->val[key].d = d;
            else if (type == V_STR && (rc = sdict_intern(&c->dict, s, len, &c->val[key].s)))
                goto out;
            c->nstr += type == V_STR;
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

static fcol *cache_find(const struct cvs_fcache *fc, const char *name, size_t len)
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

/* Releases the per-term column references taken by cols_get. */
static void cols_release(cvs_db *db, fcol **tc, size_t n)
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
static int fresh_add(fcol **fresh, size_t *n, const char *name, size_t len)
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

/* Fills tc[i] with the column of term i (one reference each), from the
 * cache when it holds them for this snapshot, building and caching the
 * others.  When the cache holds an older snapshot, its columns are carried
 * over too, re-parsing only the records whose metadata changed. */
static int cols_get(cvs_txn *t, const cvs_filter *f, size_t nkeys, fcol **tc)
{
    cvs_db *db = t->db;
    size_t id = mdb_txn_id(t->txn), nnew = 0;
    struct cvs_fcache *base = NULL;
    fcol **fresh = NULL;
    uint64_t *hash = NULL;
    int rc = CVS_OK;

    pthread_once(&hash_once, hash_init);
    pthread_mutex_lock(&db->filter_mu);
    if (db->fcache && db->fcache->txnid == id) {
        for (size_t i = 0; i < f->nterms; i++)
            if ((tc[i] = cache_find(db->fcache, f->terms[i].field, f->terms[i].field_len)))
                tc[i]->refs++;
    } else if (db->fcache && db->fcache->txnid < id) {
        base = db->fcache;
        base->refs++;
    }
    pthread_mutex_unlock(&db->filter_mu);

    /* The distinct fields still missing, built outside the lock: two
     * threads may both build one; the first to publish it wins the slot
     * and the other's copy lives for its own evaluation only. */
    if (!(fresh = calloc(f->nterms + (base ? base->ncols : 0) + 1, sizeof *fresh)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->nterms; i++)
        if (!tc[i] && (rc = fresh_add(fresh, &nnew, f->terms[i].field, f->terms[i].field_len)))
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
        fcol *c = fresh[j];
        if (fc && fc->txnid == id && fc->ncols < FCACHE_MAX_COLS &&
            !cache_find(fc, c->name, c->name_len)) {
            fcol **cols = realloc(fc->cols, (fc->ncols + 1) * sizeof *cols);
            if (cols) {
                fc->cols = cols;
                cols[fc->ncols++] = c;
                c->refs++;
            }
        }
        for (size_t i = 0; i < f->nterms; i++)
            if (!tc[i] && f->terms[i].field_len == c->name_len &&
                !memcmp(f->terms[i].field, c->name, c->name_len)) {
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

/* Clears the bits of keys whose column value fails term t. */
static int apply_col(const fterm *t, const fcol *c, uint64_t *b, size_t nw)
{
    uint8_t *want = NULL; /* by string code, for IN terms on strings */
    if (t->kind == T_IN && t->nstrs && c->dict.n) {
        if (!(want = calloc(c->dict.n, 1)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        for (size_t i = 0; i < t->nstrs; i++) {
            uint32_t code = sdict_find(&c->dict, t->strs[i].s, t->strs[i].len);
            if (code != UINT32_MAX)
                want[code] = 1;
        }
    }
    for (size_t w = 0; w < nw; w++) {
        uint64_t word = b[w], m = word;
        while (m) {
            size_t key = w * 64 + (size_t)__builtin_ctzll(m);
            int ok = 0;
            m &= m - 1;
            if (key < c->nkeys) {
                switch (c->type[key]) {
                case V_STR: ok = t->kind == T_IN && want && want[c->val[key].s]; break;
                case V_NUM:
                    ok = t->kind == T_RANGE ? range_ok(t, c->val[key].d) : num_in(t, c->val[key].d);
                    break;
                case V_TRUE: ok = t->kind == T_IN && t->want_true; break;
                case V_FALSE: ok = t->kind == T_IN && t->want_false; break;
                default: break;
                }
            }
            if (!ok)
                word &= ~(1ull << (key & 63));
        }
        b[w] = word;
    }
    free(want);
    return CVS_OK;
}

/* Deviation 4: checks the few records left by $ids against their JSON. */
static int apply_perrec(cvs_txn *t, const cvs_filter *f, uint64_t *b, size_t nw)
{
    json_t *obj = NULL;
    int rc = CVS_OK;
    for (size_t w = 0; w < nw; w++) {
        uint64_t m = b[w];
        while (m) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(m);
            MDB_val k = {8, &key}, v;
            int mrc, ok = 0;
            m &= m - 1;
            mrc = cvs__vget(t->db, t->txn, t->db->dbi_attrs, &k, &v);
            if (mrc && mrc != MDB_NOTFOUND) {
                rc = cvs__err_lmdb(mrc, "reading metadata");
                goto out;
            }
            if (mrc == 0) {
                if (!(obj = json_loadb(v.mv_data, v.mv_size, 0, NULL)) || !json_is_object(obj)) {
                    rc = cvs__err(CVS_ECORRUPT, "attrs: key %llu: not a JSON object; run cvstore "
                                  "check", (unsigned long long)key);
                    goto out;
                }
                ok = 1;
                for (size_t i = 0; i < f->nterms && ok; i++)
                    ok = term_match_json(&f->terms[i], obj);
                json_decref(obj);
                obj = NULL;
            }
            if (!ok)
                b[w] &= ~(1ull << (key & 63));
        }
    }
out:
    json_decref(obj);
    return rc;
}

/* Sets the bits of the $ids that exist in the snapshot. */
static int set_ids(cvs_txn *t, const cvs_filter *f, uint64_t *b, size_t nkeys)
{
    unsigned char buf[CVS_IDKEY_MAX];
    for (size_t i = 0; i < f->nids; i++) {
        MDB_val ik, iv;
        uint64_t key;
        int mrc;
        if (f->ids[i].len == 0 || f->ids[i].len > CVS_MAX_ID_LEN)
            continue; /* no record can have it */
        cvs__idkey(f->ids[i].s, f->ids[i].len, buf, &ik);
        if ((mrc = cvs__vget(t->db, t->txn, t->db->dbi_ids, &ik, &iv)) == MDB_NOTFOUND)
            continue;
        if (mrc)
            return cvs__err_lmdb(mrc, "looking up an id");
        if (iv.mv_size != 8 || (key = cvs__get_u64(iv.mv_data)) >= nkeys)
            return cvs__err(CVS_ECORRUPT, "ids entry of \"%.*s\" is damaged; run cvstore check",
                            shown(f->ids[i].s, f->ids[i].len), f->ids[i].s);
        b[key >> 6] |= 1ull << (key & 63);
    }
    return CVS_OK;
}

/* Sets the bits of every record in the snapshot (the empty filter). */
static int set_live(cvs_txn *t, uint64_t *b, size_t nkeys)
{
    cvs__scan scan = {0};
    MDB_cursor *cur;
    MDB_val k, v;
    int mrc, rc = CVS_OK;
    if ((mrc = mdb_cursor_open(t->txn, t->db->dbi_recs, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cscan(t->db, cur, &k, &v, MDB_FIRST, &scan); mrc == 0;
         mrc = cvs__cscan(t->db, cur, &k, &v, MDB_NEXT, &scan)) {
        uint64_t key = k.mv_size == 8 ? cvs__get_u64(k.mv_data) : UINT64_MAX;
        if (key >= nkeys) {
            rc = cvs__err(CVS_ECORRUPT, "recs: bad key; run cvstore check");
            break;
        }
        b[key >> 6] |= 1ull << (key & 63);
    }
    if (!rc && mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "listing records");
    mdb_cursor_close(cur);
    cvs__scan_free(&scan);
    return rc;
}

/* Keys run from 0 to the last one in "recs": the bitmap's extent. */
static int key_extent(cvs_txn *t, size_t *nkeys)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int mrc, rc = CVS_OK;
    *nkeys = 0;
    if ((mrc = mdb_cursor_open(t->txn, t->db->dbi_recs, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    mrc = cvs__cget(t->db, cur, &k, &v, MDB_LAST);
    if (mrc == 0) {
        uint64_t last = k.mv_size == 8 ? cvs__get_u64(k.mv_data) : UINT64_MAX;
        if (last >= KEY_MAX)
            rc = cvs__err(CVS_ECORRUPT, "recs: key %llu out of range; run cvstore check",
                          (unsigned long long)last);
        else
            *nkeys = (size_t)last + 1;
    } else if (mrc != MDB_NOTFOUND) {
        rc = cvs__err_lmdb(mrc, "finding the last record");
    }
    mdb_cursor_close(cur);
    return rc;
}

int cvs__filter_eval(cvs_txn *t, const cvs_filter *f, uint64_t **bits, size_t *nwords,
                     uint64_t *nmatch)
{
    uint64_t *b = NULL, cnt = 0;
    fcol **tc = NULL;
    size_t nkeys, nw;
    int rc;

    *bits = NULL;
    *nwords = 0;
    *nmatch = 0;
    if ((rc = key_extent(t, &nkeys)))
        return rc;
    nw = (nkeys + 63) / 64;
    if (!(b = calloc(nw ? nw : 1, sizeof *b)))
        return cvs__err(CVS_ENOMEM, "out of memory for a filter bitmap of %zu keys", nkeys);
    if (f->has_ids) {
        if ((rc = set_ids(t, f, b, nkeys)))
            goto out;
    } else if (f->nterms == 0) {
        if ((rc = set_live(t, b, nkeys)))
            goto out;
    } else {
        /* Every key; the terms clear the ones without matching metadata,
         * which includes the keys of deleted records. */
        memset(b, 0xff, nw * sizeof *b);
        if (nkeys % 64)
            b[nw - 1] = (1ull << (nkeys % 64)) - 1;
    }
    if (f->nterms) {
        uint64_t left = 0;
        for (size_t w = 0; f->has_ids && w < nw; w++)
            left += (uint64_t)__builtin_popcountll(b[w]);
        if (f->has_ids && left <= PERREC_MAX) {
            rc = apply_perrec(t, f, b, nw);
        } else {
            if (!(tc = calloc(f->nterms, sizeof *tc))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            if ((rc = cols_get(t, f, nkeys, tc)))
                goto out;
            for (size_t i = 0; i < f->nterms && !rc; i++)
                rc = apply_col(&f->terms[i], tc[i], b, nw);
        }
        if (rc)
            goto out;
    }
    for (size_t w = 0; w < nw; w++)
        cnt += (uint64_t)__builtin_popcountll(b[w]);
    *bits = b;
    *nwords = nw;
    *nmatch = cnt;
    b = NULL;
out:
    if (tc)
        cols_release(t->db, tc, f->nterms);
    free(tc);
    free(b);
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
