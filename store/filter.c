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
 * Field predicates read per-snapshot columns of decoded metadata from the
 * column cache (store/colcache.c), so that a filter does not parse every
 * record's JSON per query.
 *
 * Deviations and choices:
 *  1. Numbers compare as doubles: exact for integers up to 2^53, and
 *     2020 equals 2020.0.  A field whose value has another type than the
 *     predicate's (a string compared with a range, a missing field, null,
 *     an array) does not match.
 *  2. An $ids allow-list resolves through the "ids" database, one B-tree
 *     look-up per id, with no scan; when it leaves at most PERREC_MAX
 *     records, the field terms are checked against those records' own JSON
 *     instead of (re)building columns of the whole store.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/colcache.h"
#include "store/filter.h"
#include "store/seal.h"

#define FILTER_MAX_BYTES (16u << 20) /* a long $ids list fits */
#define FILTER_MAX_MEMBERS 256
#define FILTER_MAX_FIELD 1024        /* bytes of a field name */
#define FILTER_MAX_IN 65536          /* values of one $in */
#define FILTER_MAX_IDS (1u << 20)    /* ids of $ids */
#define PERREC_MAX 256
#define KEY_MAX (1ull << 40)         /* keys beyond: a damaged store, not a
                                        bitmap we should try to allocate */

/* ==== The parsed filter ==== */

enum { T_IN = 1, T_RANGE = 2 };

typedef struct fterm {
    int kind;
    char *field;       /* NUL-terminated (jansson keys hold no NUL) */
    size_t field_len;
    /* T_IN: sorted strings and numbers, and the booleans wanted */
    cvs__fstr *strs;
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
    cvs__fstr *ids;
    size_t nids;
};

static int fstr_cmp(const void *a, const void *b)
{
    const cvs__fstr *x = a, *y = b;
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
        return cvs__fstr_dup(json_string_value(x), json_string_length(x), &t->strs[t->nstrs++]);
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
        if ((rc = cvs__fstr_dup(json_string_value(x), json_string_length(x), &f->ids[f->nids])))
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
 * records of an $ids list (deviation 2). */
static int term_match_json(const fterm *t, const json_t *obj)
{
    double d = 0;
    const char *s = NULL;
    size_t len = 0;
    int type = cvs__json_classify(json_object_getn(obj, t->field, t->field_len), &d, &s, &len);
    if (t->kind == T_RANGE)
        return type == CVS__V_NUM && range_ok(t, d);
    switch (type) {
    case CVS__V_STR: {
        cvs__fstr key = {(char *)s, len};
        return t->nstrs && bsearch(&key, t->strs, t->nstrs, sizeof *t->strs, fstr_cmp) != NULL;
    }
    case CVS__V_NUM: return num_in(t, d);
    case CVS__V_TRUE: return t->want_true;
    case CVS__V_FALSE: return t->want_false;
    default: return 0;
    }
}

/* Clears the bits of keys whose column value fails term t. */
static int apply_col(const fterm *t, const cvs__fcol *c, uint64_t *b, size_t nw)
{
    uint8_t *want = NULL; /* by string code, for IN terms on strings */
    if (t->kind == T_IN && t->nstrs && c->dict.n) {
        if (!(want = calloc(c->dict.n, 1)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        for (size_t i = 0; i < t->nstrs; i++) {
            uint32_t code = cvs__sdict_find(&c->dict, t->strs[i].s, t->strs[i].len);
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
                case CVS__V_STR: ok = t->kind == T_IN && want && want[c->val[key].s]; break;
                case CVS__V_NUM:
                    ok = t->kind == T_RANGE ? range_ok(t, c->val[key].d) : num_in(t, c->val[key].d);
                    break;
                case CVS__V_TRUE: ok = t->kind == T_IN && t->want_true; break;
                case CVS__V_FALSE: ok = t->kind == T_IN && t->want_false; break;
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

/* Deviation 2: checks the few records left by $ids against their JSON. */
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
    cvs__fcol **tc = NULL;
    cvs__fstr *fields = NULL;
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
            if (!(tc = calloc(f->nterms, sizeof *tc)) ||
                !(fields = malloc(f->nterms * sizeof *fields))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < f->nterms; i++)
                fields[i] = (cvs__fstr){f->terms[i].field, f->terms[i].field_len};
            if ((rc = cvs__colcache_get(t, nkeys, fields, f->nterms, tc)))
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
        cvs__colcache_release(t->db, tc, f->nterms);
    free(tc);
    free(fields);
    free(b);
    return rc;
}
