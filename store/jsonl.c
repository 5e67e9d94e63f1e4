/*
 * jsonl.c -- reader for JSON Lines records (https://jsonlines.org/: UTF-8,
 * one JSON value per line, lines ended by \n, \r\n accepted).
 *
 * Each line is one record, an object:
 *   {"id": "a" | 7, "vector": [0.1, ...], "text": "...", "meta": {...},
 *    "links": ["b", {"id": "c", "type": "cites", "weight": 0.5}],
 *    "title": "..."}
 * id and vector are required; unknown keys are ignored so that files made
 * for other tools import as they are, but never silently (choice 10).
 * Lines are parsed by jansson one at a time (json_loadb), and a line is
 * held whole, so a record's text may be of any size while memory stays
 * bounded by the longest line.
 *
 * Choices and where we are strict:
 *  1. Blank lines (only whitespace) are skipped, and a UTF-8 byte-order mark
 *     before the first line is ignored: editors produce both.
 *  2. Duplicate keys inside one object are an error (JSON_REJECT_DUPLICATES):
 *     which one should win is a guess we refuse to make.
 *  3. An integer id 7 becomes "7"; a real (7.0) or any other type is an
 *     error.  Link targets must be strings.
 *  4. Numbers must fit in float32: 1e999 (which jansson refuses as an
 *     overflow) and 1e300 (finite as a double, infinite as a float) are both
 *     rejected rather than stored as infinity.
 *  5. meta must be an object (null counts as absent) and is re-serialized
 *     compactly, so equal metadata is stored as equal bytes.
 *  6. "title" must be a string; it is stored and indexed for BM25 with the
 *     text (text/bm25.c).
 *  7. "\u0000" is read (JSON_ALLOW_NUL) where the store keeps bytes with
 *     their length -- ids (which are bytes: export writes such an id back
 *     as it came), titles, texts -- and refused, naming the field, where it
 *     cannot be kept: in a link's type, in meta (meta_has_nul), in a key.
 *  8. "sentences" (an array of strings, as HotpotQA's corpus gives them)
 *     are kept as the record's sentences (text/sentences.c).  Without
 *     "text", the text is the sentences, each trimmed of white space,
 *     joined by one space (blank ones add nothing).  With "text", each
 *     sentence is located in it in order, white-space runs matching any
 *     white-space run; a sentence not found is an error.
 *  9. "created_us" and "updated_us" (integers, microseconds since the
 *     epoch, as export writes them) are the record's times, restored by the
 *     import (CVS_PUT_TIMES); absent, the import's time.  Negative times
 *     and an update before the creation are errors.
 * 10. A top-level key the format does not have is ignored, and reported:
 *     while the importer's first pass reads (r->note_unknown), each
 *     distinct key is counted and named once, at its first line, through
 *     the importer's warning callback, with the field it most likely meant
 *     (suggest_field); a link object's members likewise, named as
 *     "links[].kind".  A user who writes "metadata" (as MCP's tools and
 *     Pinecone call it) for "meta" would otherwise lose the metadata
 *     without a word.  Not an error: files made for other tools carry
 *     fields of theirs, and refusing them would make every such file need
 *     a rewrite before import.
 * 11. A first line that does not parse and begins with the magic number of
 *     a compressed file (gzip, bzip2, xz, zstd, zip) is refused as that:
 *     "bad JSON at column 1" would leave the user guessing.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/db.h"
#include "store/reader_impl.h"
#include "store/spans.h"

#define LINK_TYPE_MAX 255

void cvs__jsonl_release(cvs_reader *r)
{
    if (r->doc) {
        json_decref(r->doc);
        r->doc = NULL;
    }
    free(r->meta);
    r->meta = NULL;
}

int cvs__jsonl_open(cvs_reader *r)
{
    r->data_off = 0;
    r->el_size = 4;
    return CVS_OK;
}

/* Every message of this file reads "PATH: line N: ...". */
#define LERR(rc, fmt, ...) \
    cvs__err((rc), "%s: line %llu: " fmt, r->path, (unsigned long long)r->lineno, __VA_ARGS__)

static int bad_json(cvs_reader *r, const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        return LERR(CVS_EINPUT, "invalid UTF-8 at column %d (%s)", e->column, e->text);
    case json_error_numeric_overflow:
        if (cvs__json_int_range_why(e))
            return LERR(CVS_EINPUT, "integer out of range at column %d (%s): %s", e->column,
                        e->text, cvs__json_int_range_why(e));
        return LERR(CVS_EINPUT, "number out of range at column %d (%s): it would be infinite",
                    e->column, e->text);
    case json_error_null_byte_in_key:
        /* jansson's text does not say which character. */
        return LERR(CVS_EINPUT, "a key holds a NUL character (\\u0000) at column %d, which "
                    "a key cannot hold (remove it)", e->column);
    default:
        return LERR(CVS_EINPUT, "bad JSON at column %d: %s", e->column, e->text);
    }
}

/* Whether a string inside v holds a NUL character.  The parser takes
 * "\u0000" (JSON_ALLOW_NUL, for ids, titles and texts); meta is kept and
 * read back as text, so the store refuses it there (cvs__meta_canonical).
 * That refusal comes only when the batch is written, after earlier batches
 * were: checking here, in pass 1, refuses the file before anything is
 * written.  (A key cannot hold one: jansson refuses it while parsing.) */
static int meta_has_nul(json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_string(v))
        return memchr(json_string_value(v), 0, json_string_length(v)) != NULL;
    if (json_is_object(v)) {
        json_object_foreach(v, key, x)
            if (meta_has_nul(x))
                return 1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
            if (meta_has_nul(x))
                return 1;
    }
    return 0;
}

static int check_id_len(cvs_reader *r, size_t len, const char *what)
{
    if (len == 0)
        return LERR(CVS_EINPUT, "empty %s", what);
    if (len > CVS_MAX_ID_LEN)
        return LERR(CVS_EINPUT, "%s of %zu bytes is too long (at most %d)", what, len, CVS_MAX_ID_LEN);
    return CVS_OK;
}

static int get_id(cvs_reader *r, json_t *doc, cvs_rrec *rec)
{
    json_t *id = json_object_get(doc, "id");
    if (!id && r->allow_noid) { /* a query file's line (CVS_READER_NO_ID) */
        rec->id = NULL;
        rec->id_len = 0;
        return CVS_OK;
    }
    if (!id)
        return LERR(CVS_EINPUT, "%s", "record has no \"id\"");
    if (json_is_string(id)) {
        rec->id = json_string_value(id);
        rec->id_len = json_string_length(id);
    } else if (json_is_integer(id)) {
        snprintf(r->idbuf, sizeof r->idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        rec->id = r->idbuf;
        rec->id_len = strlen(r->idbuf);
    } else {
        return LERR(CVS_EINPUT, "%s", "\"id\" must be a string or an integer");
    }
    return check_id_len(r, rec->id_len, "id");
}

static int get_vector(cvs_reader *r, json_t *doc, cvs_rrec *rec)
{
    json_t *v = json_object_get(doc, "vector");
    size_t n;
    uint32_t want = r->expect_dim ? r->expect_dim : r->dim;
    int rc;

    if (!v || json_is_null(v)) {
        if (r->allow_novec)
            return CVS_OK;
        return LERR(CVS_EINPUT, "%s", "record has no vector (text-only records need an embedder)");
    }
    if (!json_is_array(v))
        return LERR(CVS_EINPUT, "%s", "\"vector\" must be an array of numbers");
    n = json_array_size(v);
    if (n == 0 || n > CVS_MAX_DIM)
        return LERR(CVS_EINPUT, "vector of %zu values (1..%d allowed)", n, CVS_MAX_DIM);
    if (want && n != want)
        return LERR(CVS_EDIM, "expected %u values, got %zu", want, n);
    if ((rc = cvs__reader_alloc(r, (uint32_t)n)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        double d;
        float f;
        if (!json_is_number(x))
            return LERR(CVS_EINPUT, "vector value %zu is not a number", i);
        d = json_number_value(x);
        f = (float)d;
        if (!isfinite(f))
            return LERR(CVS_EINPUT, "vector value %zu (%g) is out of float range", i, d);
        r->vec[i] = f;
    }
    r->dim = (uint32_t)n;
    rec->vec = r->vec;
    rec->dim = r->dim;
    return CVS_OK;
}

static int get_links(cvs_reader *r, json_t *doc, cvs_rrec *rec)
{
    json_t *ls = json_object_get(doc, "links");
    size_t n;
    int rc;

    if (!ls || json_is_null(ls))
        return CVS_OK;
    if (!json_is_array(ls))
        return LERR(CVS_EINPUT, "%s", "\"links\" must be an array");
    n = json_array_size(ls);
    if (n > r->links_cap) {
        cvs_link *p = realloc(r->links, n * sizeof *p);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory for %zu links", n);
        r->links = p;
        r->links_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(ls, i), *id = l, *type = NULL, *w = NULL;
        cvs_link *k = &r->links[i];
        if (json_is_object(l)) {
            id = json_object_get(l, "id");
            type = json_object_get(l, "type");
            w = json_object_get(l, "weight");
        }
        if (!id || !json_is_string(id))
            return LERR(CVS_EINPUT, "links[%zu] must be an id string or an object with a string \"id\"", i);
        k->id = json_string_value(id);
        k->id_len = json_string_length(id);
        if ((rc = check_id_len(r, k->id_len, "link id")))
            return rc;
        k->type = NULL;
        if (type && !json_is_null(type)) {
            if (!json_is_string(type))
                return LERR(CVS_EINPUT, "links[%zu].type must be a string", i);
            if (json_string_length(type) > LINK_TYPE_MAX)
                return LERR(CVS_EINPUT, "links[%zu].type is longer than %d bytes", i, LINK_TYPE_MAX);
            if (strlen(json_string_value(type)) != json_string_length(type))
                return LERR(CVS_EINPUT, "links[%zu].type holds a NUL character (\\u0000), "
                            "which a link type cannot hold (remove it)", i);
            k->type = json_string_value(type);
        }
        k->weight = 1.0f;
        if (w && !json_is_null(w)) {
            if (!json_is_number(w))
                return LERR(CVS_EINPUT, "links[%zu].weight must be a number", i);
            k->weight = (float)json_number_value(w);
            if (!isfinite(k->weight))
                return LERR(CVS_EINPUT, "links[%zu].weight is out of float range", i);
        }
    }
    rec->links = n ? r->links : NULL;
    rec->nlinks = n;
    return CVS_OK;
}

/* "sentences": locates them in rec->text, or makes the text from them. */
static int get_sentences(cvs_reader *r, json_t *doc, cvs_rrec *rec)
{
    json_t *a = json_object_get(doc, "sentences");
    const char **ss = NULL;
    size_t n, *ls = NULL, tot = 0;
    int rc = CVS_OK;

    if (!a || json_is_null(a))
        return CVS_OK;
    if (!json_is_array(a))
        return LERR(CVS_EINPUT, "%s", "\"sentences\" must be an array of strings");
    n = json_array_size(a);
    if (!r->sents && !(r->sents = calloc(1, sizeof *r->sents)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (n == 0)
        return CVS_OK;
    if (!(ss = malloc(n * sizeof *ss)) || !(ls = malloc(n * sizeof *ls))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_string(x)) {
            rc = LERR(CVS_EINPUT, "sentences[%zu] must be a string", i);
            goto out;
        }
        ss[i] = json_string_value(x);
        ls[i] = json_string_length(x);
        tot += ls[i] + 1;
    }
    if (!rec->text) {
        size_t w = 0;
        if (tot > r->sjoin_cap) {
            char *p = realloc(r->sjoin, tot);
            if (!p) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto out;
            }
            r->sjoin = p;
            r->sjoin_cap = tot;
        }
        for (size_t i = 0; i < n; i++) {
            const char *s = ss[i];
            size_t m = ls[i];
            while (m && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
                s++;
                m--;
            }
            while (m && (s[m - 1] == ' ' || s[m - 1] == '\t' || s[m - 1] == '\n' ||
                         s[m - 1] == '\r'))
                m--;
            if (m == 0)
                continue;
            if (w)
                r->sjoin[w++] = ' ';
            memcpy(r->sjoin + w, s, m);
            w += m;
        }
        rec->text = r->sjoin;
        rec->text_len = w;
    }
    if ((rc = cvs__sent_locate(rec->text, rec->text_len, ss, ls, n, r->sents))) {
        cvs__err_prefix(rc, "%s: line %llu", r->path, (unsigned long long)r->lineno);
        goto out;
    }
    rec->sentences = (const uint32_t *)r->sents->s;
    rec->nsentences = r->sents->n;
out:
    free(ss);
    free(ls);
    return rc;
}

/* "created_us" / "updated_us": the record's times as export writes them,
 * integer microseconds since the epoch; absent or null is 0 (the import's
 * time). */
static int get_time(cvs_reader *r, json_t *doc, const char *key, int64_t *out)
{
    json_t *x = json_object_get(doc, key);
    *out = 0;
    if (!x || json_is_null(x))
        return CVS_OK;
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return LERR(CVS_EINPUT, "\"%s\" must be an integer >= 0 (microseconds since 1970)", key);
    if (json_integer_value(x) > cvs__now_us() + CVS__TIME_AHEAD_US)
        return LERR(CVS_EINPUT, "\"%s\" %" JSON_INTEGER_FORMAT " is more than a day in the future "
                    "(microseconds since 1970; a time in nanoseconds is 1000 times too large)",
                    key, json_integer_value(x));
    *out = (int64_t)json_integer_value(x);
    return CVS_OK;
}

/* ==== Keys the format does not have (choice 10) ==== */

static const char *const fields[] = {"id",    "vector",    "text",       "title",     "meta",
                                     "links", "sentences", "created_us", "updated_us"};

/* What other tools call our fields (Pinecone's "values" and "metadata",
 * Chroma's "embeddings" and "documents", LangChain's "page_content",
 * Qdrant's "payload", MongoDB's "_id"), and our MCP tools' "metadata":
 * names no spelling distance finds. */
static const struct {
    const char *name, *field;
} other_names[] = {
    {"metadata", "meta"},       {"metadatas", "meta"},       {"payload", "meta"},
    {"attributes", "meta"},     {"attrs", "meta"},           {"properties", "meta"},
    {"embedding", "vector"},    {"embeddings", "vector"},    {"values", "vector"},
    {"vec", "vector"},          {"vectors", "vector"},       {"document", "text"},
    {"documents", "text"},      {"content", "text"},         {"contents", "text"},
    {"page_content", "text"},   {"body", "text"},            {"passage", "text"},
    {"_id", "id"},              {"doc_id", "id"},            {"uuid", "id"},
    {"name", "title"},          {"heading", "title"},        {"sents", "sentences"},
    {"edges", "links"},         {"created", "created_us"},   {"created_at", "created_us"},
    {"updated", "updated_us"},  {"updated_at", "updated_us"},
};

/* The field an unknown key most likely meant, or NULL: another tool's
 * name for it (any case), else the nearest field by spelling
 * (cvs_suggest: "txt", "ids", "vectr", "titel", "created_ms"). */
static const char *suggest_field(const char *key)
{
    for (size_t i = 0; i < sizeof other_names / sizeof *other_names; i++)
        if (!strcasecmp(key, other_names[i].name))
            return other_names[i].field;
    return cvs_suggest(key, fields, sizeof fields / sizeof *fields);
}

/* The members of a link object, and other tools' names for them. */
static const char *const link_fields[] = {"id", "type", "weight"};
static const struct {
    const char *name, *field;
} link_other_names[] = {
    {"target", "id"}, {"to", "id"},       {"kind", "type"},     {"rel", "type"},
    {"label", "type"}, {"score", "weight"}, {"strength", "weight"},
};

/* Notes one unknown key: counted and named once (shown as name, e.g.
 * "metadata" or "links[].kind"), with sug, the member it likely meant. */
static int note_key(cvs_reader *r, const char *name, const char *sug)
{
    size_t i, klen = strlen(name);
    char **p;
    for (i = 0; i < r->nunknown && strcmp(name, r->unknown[i]); i++)
        ;
    if (i < r->nunknown || r->nunknown == CVS__UNKNOWN_MAX)
        return CVS_OK;
    if (!(p = realloc(r->unknown, (r->nunknown + 1) * sizeof *p)) ||
        !((r->unknown = p)[r->nunknown] = strdup(name)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    r->nunknown++;
    if (r->warn && r->nunknown <= CVS_IMPORT_KEYS_NAMED) {
        char msg[768];
        snprintf(msg, sizeof msg,
                 "%s: line %llu: key \"%.*s%s\" is not a record field and was ignored%s%s%s%s",
                 r->path, (unsigned long long)r->lineno, (int)(klen > 100 ? 100 : klen), name,
                 klen > 100 ? "..." : "", sug ? " (did you mean \"" : "", sug ? sug : "",
                 sug ? "\"?)" : "",
                 r->nunknown == CVS_IMPORT_KEYS_NAMED
                     ? "; any further unknown keys are counted, not named" : "");
        r->warn(r->warn_ctx, name, r->lineno, sug, msg);
    }
    return CVS_OK;
}

/* Counts and names (once each) doc's keys that are no field, and those of
 * its link objects ("links[].kind": a link's "type" given another name
 * would lose the type as silently). */
static int note_unknown(cvs_reader *r, json_t *doc)
{
    const char *key;
    json_t *x, *l, *ls = json_object_get(doc, "links");
    int any = 0, rc;
    size_t j;
    json_object_foreach(doc, key, x) {
        size_t i;
        for (i = 0; i < sizeof fields / sizeof *fields && strcmp(key, fields[i]); i++)
            ;
        if (i < sizeof fields / sizeof *fields)
            continue;
        any = 1;
        if ((rc = note_key(r, key, suggest_field(key))))
            return rc;
    }
    json_array_foreach(json_is_array(ls) ? ls : NULL, j, l) {
        json_object_foreach(json_is_object(l) ? l : NULL, key, x) {
            const char *sug = NULL;
            char name[128];
            size_t i;
            for (i = 0; i < 3 && strcmp(key, link_fields[i]); i++)
                ;
            if (i < 3)
                continue;
            any = 1;
            for (i = 0; !sug && i < sizeof link_other_names / sizeof *link_other_names; i++)
                if (!strcasecmp(key, link_other_names[i].name))
                    sug = link_other_names[i].field;
            if (!sug)
                sug = cvs_suggest(key, link_fields, 3);
            snprintf(name, sizeof name, "links[].%.100s", key);
            if ((rc = note_key(r, name, sug)))
                return rc;
        }
    }
    r->unknown_records += (uint64_t)any;
    return CVS_OK;
}

/* A message when the first line begins with the magic number of a
 * compressed file (its first bytes, whatever line they make), else NULL:
 * "bad JSON at column 1" would not say why. */
static const char *packed(const char *s, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *msg;
    } m[] = {
        {"\x1f\x8b", 2, "gzip-compressed: decompress it, or pipe it in (gunzip -c FILE | "
                        "cvstore import DB - --format jsonl)"},
        {"BZh", 3, "bzip2-compressed: decompress it, or pipe it in (bzip2 -dc FILE | ...)"},
        {"\xfd" "7zXZ", 5, "xz-compressed: decompress it, or pipe it in (xz -dc FILE | ...)"},
        {"\x28\xb5\x2f\xfd", 4, "zstd-compressed: decompress it, or pipe it in (zstd -dc "
                                "FILE | ...)"},
        {"PK\x03\x04", 4, "a zip archive: extract the JSONL file from it"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (n >= m[i].len && !memcmp(s, m[i].magic, m[i].len))
            return m[i].msg;
    return NULL;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

int cvs__jsonl_next(cvs_reader *r, cvs_rrec *rec)
{
    json_error_t jerr;
    json_t *doc, *x;
    char *s;
    size_t len;
    ssize_t got;
    int rc;

    cvs__jsonl_release(r);
    for (;;) {
        r->rec_off = r->pos;
        errno = 0;
        got = getline(&r->line, &r->line_cap, r->f);
        if (got < 0) {
            if (ferror(r->f))
                return cvs__err(CVS_EIO, "%s: read error after line %llu: %s", r->path,
                                (unsigned long long)r->lineno, strerror(errno ? errno : EIO));
            if (errno == ENOMEM)
                return cvs__err(CVS_ENOMEM, "%s: line %llu: out of memory", r->path,
                                (unsigned long long)r->lineno + 1);
            return CVS_NOTFOUND;
        }
        r->pos += (uint64_t)got;
        r->lineno++;
        s = r->line;
        len = (size_t)got;
        if (r->lineno == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
            s += 3;
            len -= 3;
        }
        if (!is_blank(s, len))
            break;
    }

    /* JSON_DISABLE_EOF_CHECK is not used: the rest of the line after the
     * value must be whitespace, which jansson checks.  JSON_ALLOW_NUL: an
     * id, title or text may hold a NUL character (the store keeps their
     * lengths, cvs_put takes them, and export writes "\u0000"), so a store
     * restores from its export; a link type, a C string, may not, nor
     * may meta (meta_has_nul). */
    if (!(doc = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr)))
        return r->lineno == 1 && packed(s, len) ? LERR(CVS_EINPUT, "%s", packed(s, len))
                                                : bad_json(r, &jerr);
    r->doc = doc;
    if (!json_is_object(doc))
        return LERR(CVS_EINPUT, "%s", "record is not a JSON object");
    /* Before the fields' checks: a record refused for a missing "vector"
     * is first told that its "embedding" was not one. */
    if (r->note_unknown && (rc = note_unknown(r, doc)))
        return rc;
    if ((rc = get_id(r, doc, rec)) || (rc = get_vector(r, doc, rec)))
        return rc;
    if ((x = json_object_get(doc, "text")) && !json_is_null(x)) {
        if (!json_is_string(x))
            return LERR(CVS_EINPUT, "%s", "\"text\" must be a string");
        rec->text = json_string_value(x);
        rec->text_len = json_string_length(x);
    }
    if ((x = json_object_get(doc, "title")) && !json_is_null(x)) {
        if (!json_is_string(x))
            return LERR(CVS_EINPUT, "%s", "\"title\" must be a string");
        rec->title = json_string_value(x);
        rec->title_len = json_string_length(x);
    }
    if ((x = json_object_get(doc, "meta")) && !json_is_null(x)) {
        if (!json_is_object(x))
            return LERR(CVS_EINPUT, "%s", "\"meta\" must be a JSON object");
        if (meta_has_nul(x))
            return LERR(CVS_EINPUT, "%s", "meta holds a NUL character (\\u0000), which "
                        "metadata cannot hold (remove it)");
        if (!(r->meta = json_dumps(x, JSON_COMPACT)))
            return cvs__err(CVS_ENOMEM, "%s: line %llu: out of memory serializing meta", r->path,
                            (unsigned long long)r->lineno);
        rec->meta = r->meta;
        rec->meta_len = strlen(r->meta);
    }
    if ((rc = get_links(r, doc, rec)) || (rc = get_sentences(r, doc, rec)) ||
        (rc = get_time(r, doc, "created_us", &rec->created_us)) ||
        (rc = get_time(r, doc, "updated_us", &rec->updated_us)))
        return rc;
    if (rec->created_us && rec->updated_us && rec->updated_us < rec->created_us)
        return LERR(CVS_EINPUT, "\"updated_us\" %" JSON_INTEGER_FORMAT " is before \"created_us\" %"
                    JSON_INTEGER_FORMAT, (json_int_t)rec->updated_us, (json_int_t)rec->created_us);
    rec->recno = r->recno;
    rec->line = r->lineno;
    return CVS_OK;
}
