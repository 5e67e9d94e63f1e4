/*
 * import.c -- cvs_import: a file of vectors (fvecs, bvecs, npy, jsonl) into
 * a store, in two streaming passes.
 *
 * Pass 1 (validate) reads every record with the streaming readers and checks
 * everything cvs_put would refuse (dimension, NaN/Inf, ids, zero vectors in a
 * cosine store, link targets), so a bad file changes nothing.  Pass 2
 * (write) rewinds and upserts batches of opts->batch records, one
 * transaction each: a crash keeps every committed batch, and re-running the
 * import finishes the job (upsert by id is idempotent).
 *
 * Duplicate ids.  A file naming one id twice would silently overwrite its
 * own record, so pass 1 refuses it.  Keeping every id in memory would make
 * memory grow with the file's bytes of ids (up to 512 per record); instead
 * we keep an open-addressing table of 16 bytes per record: a keyed 64-bit
 * SipHash of the id (libsodium's crypto_shorthash, with a random key so that
 * no file can be crafted to collide) and the byte offset of the line where
 * the id was first seen.  On a hash match the earlier line is re-read from
 * disk and the ids compared exactly, so a collision never causes a false
 * "duplicate"; true duplicates are errors, so the re-read happens at most
 * once per import.  The line number of the first occurrence is found only
 * then, by counting newlines up to that offset.
 *
 * Links.  Every link target must be an id of the file or already in the
 * store.  Targets may point forward, so they are checked by a second read of
 * the file after pass 1 (only when the file has links), against the same
 * table and then the store (cvs_get in one read snapshot).  Here a hash hit
 * is taken as "present" without re-reading: re-reading a line per link would
 * make link-heavy files slow, and a false hit needs a 2^-64 event per
 * (link, id) pair under a secret key.  The write then uses
 * CVS_PUT_FORWARD_LINKS, since a batch may link to a later batch.
 *
 * Text to embed.  A jsonl record with "text" (or "title") and no "vector"
 * is embedded with the store's embedder (query/embed.c; the built-in
 * "glove" attaches itself when the store records it).  The input is the
 * title, a newline and the text.  Pass 1 also checks what can be checked
 * without writing: that an embedder is there (a missing GloVe cache fails
 * here, before anything is written) and, for glove, that every such text
 * has a word in the vocabulary.  When any record is to be embedded,
 * cvs_embed_fit then makes sure the store has its embedder's fixed state
 * (for glove, the vocabulary's common component, which no text changes)
 * before the first write.  Pass 2 embeds each batch before its put, in
 * calls of EMBED_CHUNK texts with progress reported between them (a use
 * import embeds for minutes).  An HTTP embedder can still fail in pass 2 (the server goes away):
 * the committed batches stay, and re-running the import finishes it.
 *
 * Times.  A JSONL record's "created_us" and "updated_us" (export writes
 * them) are put with CVS_PUT_TIMES, so a restored store keeps its records'
 * history (the memory layer's recency reads it); a record without them
 * gets the import's time, as any put.
 *
 * No records.  A file with none (empty, blank lines only, an npy of zero
 * rows) imports as nothing and succeeds (stats->records 0): an export of
 * an empty store is an empty file, and a backup restored must come back
 * as the empty store it was.  The callers say so (cvstore import: "the
 * file holds no records"), so that a wrong file is still noticed.
 *
 * Vector files carry no ids: records are "0", "1", ... or the lines of
 * opts->ids_path, which get the same checks (count, uniqueness, length,
 * UTF-8).
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "query/text.h"
#include "store/db.h"
#include "store/reader_impl.h"

#define DEFAULT_BATCH 10000
#define PROGRESS_EVERY_S 0.1
#define SHOW_ID 200 /* bytes of an id shown in a message */


/* ==== Id table: keyed hash -> offset of first occurrence ==== */

typedef struct idtab {
    uint64_t *slots;       /* pairs (hash, offset); hash 0 = empty */
    size_t cap, n;         /* cap is a power of two */
    unsigned char key[crypto_shorthash_KEYBYTES];
} idtab;

static uint64_t id_hash(const idtab *t, const char *id, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)id, len, t->key);
    memcpy(&h, out, 8);
    return h ? h : 1;
}

static int idtab_grow(idtab *t)
{
    size_t nc = t->cap ? t->cap * 2 : 1024;
    uint64_t *ns = calloc(nc * 2, sizeof *ns);
    if (!ns)
        return cvs__err(CVS_ENOMEM, "out of memory for the id table (%zu ids)", t->n);
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t h = t->slots[2 * i];
        size_t j;
        if (!h)
            continue;
        for (j = h & (nc - 1); ns[2 * j]; j = (j + 1) & (nc - 1))
            ;
        ns[2 * j] = h;
        ns[2 * j + 1] = t->slots[2 * i + 1];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = nc;
    return CVS_OK;
}

/* Visits the offsets stored under hash h, in probe order; stops when fn
 * returns non-zero and returns that value. */
typedef int (*idtab_fn)(void *ctx, uint64_t off);
static int idtab_each(const idtab *t, uint64_t h, idtab_fn fn, void *ctx)
{
    if (!t->cap)
        return 0;
    for (size_t j = h & (t->cap - 1); t->slots[2 * j]; j = (j + 1) & (t->cap - 1))
        if (t->slots[2 * j] == h) {
            int rc = fn(ctx, t->slots[2 * j + 1]);
            if (rc)
                return rc;
        }
    return 0;
}

static int idtab_has_hash(const idtab *t, uint64_t h)
{
    if (!t->cap)
        return 0;
    for (size_t j = h & (t->cap - 1); t->slots[2 * j]; j = (j + 1) & (t->cap - 1))
        if (t->slots[2 * j] == h)
            return 1;
    return 0;
}

static int idtab_add(idtab *t, uint64_t h, uint64_t off)
{
    size_t j;
    int rc;
    if ((t->n + 1) * 2 > t->cap && (rc = idtab_grow(t)))
        return rc;
    for (j = h & (t->cap - 1); t->slots[2 * j]; j = (j + 1) & (t->cap - 1))
        ;
    t->slots[2 * j] = h;
    t->slots[2 * j + 1] = off;
    t->n++;
    return CVS_OK;
}

/* ==== Re-reading an earlier line (error paths and verification) ==== */

typedef struct lookback {
    const char *path;      /* for messages */
    const char *file;      /* what fopen opens: path, or a spool (reader.c) */
    FILE *f;               /* opened on first use */
    char *line;
    size_t cap;
    json_t *doc;
    char ibuf[32];
} lookback;

static void lookback_close(lookback *b)
{
    if (b->f)
        fclose(b->f);
    if (b->doc)
        json_decref(b->doc);
    free(b->line);
}

/* The line starting at off, without its end of line. */
static int lookback_line(lookback *b, uint64_t off, const char **s, size_t *len)
{
    ssize_t got;
    if (!b->f && !(b->f = fopen(b->file, "rb")))
        return cvs__err(CVS_EIO, "%s: %s", b->path, strerror(errno));
    if (fseeko(b->f, (off_t)off, SEEK_SET) != 0 || (got = getline(&b->line, &b->cap, b->f)) < 0)
        return cvs__err(CVS_EIO, "%s: cannot re-read offset %llu", b->path, (unsigned long long)off);
    /* Exactly as ids_next strips, so the comparison sees the same id. */
    if (got > 0 && b->line[got - 1] == '\n')
        got--;
    if (got > 0 && b->line[got - 1] == '\r')
        got--;
    *s = b->line;
    *len = (size_t)got;
    if (off == 0 && *len >= 3 && memcmp(*s, "\xef\xbb\xbf", 3) == 0) {
        *s += 3;
        *len -= 3;
    }
    return CVS_OK;
}

/* The id of the jsonl record starting at off (same rules as jsonl.c). */
static int lookback_jsonl_id(lookback *b, uint64_t off, const char **id, size_t *len)
{
    const char *s;
    size_t n;
    json_t *x;
    int rc;
    if ((rc = lookback_line(b, off, &s, &n)))
        return rc;
    if (b->doc)
        json_decref(b->doc);
    if (!(b->doc = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL)) ||
        !(x = json_object_get(b->doc, "id")))
        return cvs__err(CVS_EIO, "%s: the file changed during the import", b->path);
    if (json_is_integer(x)) {
        snprintf(b->ibuf, sizeof b->ibuf, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
        *id = b->ibuf;
        *len = strlen(b->ibuf);
    } else {
        *id = json_string_value(x);
        *len = json_string_length(x);
    }
    return CVS_OK;
}

/* 1-based line number of the line starting at off. */
static uint64_t lookback_lineno(lookback *b, uint64_t off)
{
    char buf[65536];
    uint64_t line = 1, at = 0;
    if (!b->f || fseeko(b->f, 0, SEEK_SET) != 0)
        return 0;
    while (at < off) {
        size_t want = off - at < sizeof buf ? (size_t)(off - at) : sizeof buf;
        size_t got = fread(buf, 1, want, b->f);
        if (!got)
            return 0;
        for (size_t i = 0; i < got; i++)
            line += buf[i] == '\n';
        at += got;
    }
    return line;
}

/* ==== Duplicate detection ==== */

typedef struct dupctx {
    lookback *b;
    int jsonl;             /* else an ids file */
    const char *id;
    size_t len;
    uint64_t found;        /* offset of the equal id */
    int err;
} dupctx;

static int dup_cb(void *ctx, uint64_t off)
{
    dupctx *d = ctx;
    const char *s;
    size_t n;
    d->err = d->jsonl ? lookback_jsonl_id(d->b, off, &s, &n) : lookback_line(d->b, off, &s, &n);
    if (d->err)
        return 1;
    if (n == d->len && memcmp(s, d->id, n) == 0) {
        d->found = off;
        return 1;
    }
    return 0;
}

/* Adds id (seen at off, on line lineno of b's file) or reports it as a
 * duplicate. */
static int check_dup(idtab *t, lookback *b, int jsonl, const char *id, size_t len,
                     uint64_t off, uint64_t lineno)
{
    uint64_t h = id_hash(t, id, len);
    dupctx d = {b, jsonl, id, len, 0, 0};
    if (idtab_each(t, h, dup_cb, &d)) {
        if (d.err)
            return d.err;
        return cvs__err(CVS_EINPUT, "%s: line %llu: duplicate id \"%.*s\" (first seen on line %llu)",
                        b->path, (unsigned long long)lineno, (int)(len > SHOW_ID ? SHOW_ID : len),
                        id, (unsigned long long)lookback_lineno(b, d.found));
    }
    return idtab_add(t, h, off);
}

/* ==== Ids file ==== */

typedef struct idsfile {
    const char *path;
    FILE *f;
    char reopen[64 + 4096]; /* for lookback: see cvs__input_open */
    char *line;
    size_t cap;
    uint64_t lineno, off;  /* off: where the current line starts */
    uint64_t pos;
} idsfile;

/* Next id line: 0, 1 at the end. */
static int ids_next(idsfile *fi, const char **id, size_t *len)
{
    ssize_t got;
    fi->off = fi->pos;
    if ((got = getline(&fi->line, &fi->cap, fi->f)) < 0) {
        if (ferror(fi->f))
            return cvs__err(CVS_EIO, "%s: read error: %s", fi->path, strerror(errno));
        return 1;
    }
    fi->pos += (uint64_t)got;
    fi->lineno++;
    if (got > 0 && fi->line[got - 1] == '\n')
        got--;
    if (got > 0 && fi->line[got - 1] == '\r')
        got--;
    *id = fi->line;
    *len = (size_t)got;
    if (fi->lineno == 1 && *len >= 3 && memcmp(*id, "\xef\xbb\xbf", 3) == 0) { /* a BOM */
        *id += 3;
        *len -= 3;
    }
    return 0;
}

static int ids_check(idsfile *fi, const char *id, size_t len)
{
    if (len == 0)
        return cvs__err(CVS_EINPUT, "%s: line %llu: empty id", fi->path, (unsigned long long)fi->lineno);
    if (len > CVS_MAX_ID_LEN)
        return cvs__err(CVS_EINPUT, "%s: line %llu: id of %zu bytes is too long (at most %d)",
                        fi->path, (unsigned long long)fi->lineno, len, CVS_MAX_ID_LEN);
    if (memchr(id, '\0', len) || !cvs__utf8_valid(id, len))
        return cvs__err(CVS_EINPUT, "%s: line %llu: id is not valid UTF-8 text", fi->path,
                        (unsigned long long)fi->lineno);
    return CVS_OK;
}

static int ids_rewind(idsfile *fi)
{
    if (fseeko(fi->f, 0, SEEK_SET) != 0)
        return cvs__err(CVS_EIO, "%s: cannot rewind: %s", fi->path, strerror(errno));
    fi->lineno = fi->pos = 0;
    return CVS_OK;
}

/* ==== Progress ==== */

typedef struct prog {
    const cvs_import_opts *o;
    const char *phase;
    double last;
    uint64_t total;        /* records, when known beyond the reader's (pass 2) */
} prog;

static void progress(prog *p, cvs_reader *r, uint64_t done, int final)
{
    double t;
    if (!p->o || !p->o->progress)
        return;
    t = cvs__mono_s();
    if (!final && t - p->last < PROGRESS_EVERY_S)
        return;
    p->last = t;
    p->o->progress(p->o->progress_ctx, p->phase, done, p->total ? p->total : cvs_reader_total(r),
                   cvs_reader_bytes_done(r), cvs_reader_bytes_total(r));
}

/* ==== Batches ==== */

/* A batch's strings live in one growing arena; records keep offsets until
 * the batch is flushed, when the arena no longer moves. */
typedef struct boff {
    size_t id, id_len, text, text_len, meta, meta_len, link0, nlinks, title, title_len;
    size_t emb, emb_len;   /* the embedding input, when the record has no vector */
    size_t sent0, nsent;   /* given sentences: pairs at b->sents[2 * sent0] */
    int64_t created_us, updated_us; /* given times, 0 = the put's */
    uint64_t recno, line;  /* where the record is in the file (line 0: not a line) */
    int has_text, has_meta, has_title, need_embed;
} boff;

typedef struct loff {
    size_t id, id_len, type; /* type SIZE_MAX: none */
    float weight;
} loff;

typedef struct batch {
    size_t cap, n;
    uint32_t dim;
    float *vecs;
    boff *offs;
    cvs_record *recs;
    loff *loffs;
    cvs_link *links;
    size_t nl, cl;
    uint32_t *sents;       /* given sentence offsets, pairs */
    size_t ns, cs;
    char *arena;
    size_t alen, acap;
    uint64_t first_rec, first_line, last_line;
} batch;

static int arena_put(batch *b, const void *s, size_t len, int nul, size_t *off)
{
    size_t need = len + (nul ? 1 : 0);
    /* Defined on failure too (cvs__err's nonzero return is not visible to
     * the compiler, which otherwise sees a caller read it unset). */
    *off = 0;
    if (b->alen + need > b->acap) {
        size_t nc = b->acap ? b->acap : 1 << 16;
        char *p;
        while (nc < b->alen + need)
            nc *= 2;
        if (!(p = realloc(b->arena, nc)))
            return cvs__err(CVS_ENOMEM, "out of memory for a batch of records");
        b->arena = p;
        b->acap = nc;
    }
    *off = b->alen;
    memcpy(b->arena + b->alen, s, len);
    if (nul)
        b->arena[b->alen + len] = '\0';
    b->alen += need;
    return CVS_OK;
}

static int batch_add(batch *b, const cvs_rrec *rec, const char *id, size_t id_len,
                     const char *text, size_t text_len)
{
    boff *o = &b->offs[b->n];
    int rc;
    memset(o, 0, sizeof *o);
    if (rec->vec) {
        memcpy(b->vecs + (size_t)b->n * b->dim, rec->vec, (size_t)b->dim * sizeof(float));
    } else {
        size_t t;
        o->need_embed = 1;
        o->emb_len = 0;
        if (rec->title) {
            if ((rc = arena_put(b, rec->title, rec->title_len, 0, &o->emb)))
                return rc;
            o->emb_len = rec->title_len;
            if (rec->text && (rc = arena_put(b, "\n", 1, 0, &t)))
                return rc;
            o->emb_len += rec->text ? 1 : 0;
        }
        if (rec->text) {
            if ((rc = arena_put(b, rec->text, rec->text_len, 0, &t)))
                return rc;
            if (!rec->title)
                o->emb = t;
            o->emb_len += rec->text_len;
        }
    }
    if ((rc = arena_put(b, id, id_len, 0, &o->id)))
        return rc;
    o->id_len = id_len;
    if (text) {
        if ((rc = arena_put(b, text, text_len, 0, &o->text)))
            return rc;
        o->text_len = text_len;
        o->has_text = 1;
    }
    if (rec->title) {
        if ((rc = arena_put(b, rec->title, rec->title_len, 0, &o->title)))
            return rc;
        o->title_len = rec->title_len;
        o->has_title = 1;
    }
    if (rec->meta) {
        if ((rc = arena_put(b, rec->meta, rec->meta_len, 0, &o->meta)))
            return rc;
        o->meta_len = rec->meta_len;
        o->has_meta = 1;
    }
    o->created_us = rec->created_us;
    o->updated_us = rec->updated_us;
    o->recno = rec->recno;
    o->line = rec->line;
    o->sent0 = b->ns;
    o->nsent = text ? rec->nsentences : 0;
    if (b->ns + o->nsent > b->cs) {
        size_t nc = b->cs ? b->cs : 1024;
        uint32_t *p;
        while (nc < b->ns + o->nsent)
            nc *= 2;
        if (!(p = realloc(b->sents, nc * 2 * sizeof *p)))
            return cvs__err(CVS_ENOMEM, "out of memory for a batch's sentences");
        b->sents = p;
        b->cs = nc;
    }
    if (o->nsent)
        memcpy(b->sents + 2 * b->ns, rec->sentences, o->nsent * 2 * sizeof *b->sents);
    b->ns += o->nsent;
    o->link0 = b->nl;
    o->nlinks = rec->nlinks;
    if (b->nl + rec->nlinks > b->cl) {
        size_t nc = b->cl ? b->cl : 1024;
        loff *p;
        while (nc < b->nl + rec->nlinks)
            nc *= 2;
        if (!(p = realloc(b->loffs, nc * sizeof *p)))
            return cvs__err(CVS_ENOMEM, "out of memory for a batch's links");
        b->loffs = p;
        b->cl = nc;
    }
    for (size_t i = 0; i < rec->nlinks; i++) {
        const cvs_link *k = &rec->links[i];
        loff *l = &b->loffs[b->nl++];
        if ((rc = arena_put(b, k->id, k->id_len, 0, &l->id)))
            return rc;
        l->id_len = k->id_len;
        l->type = SIZE_MAX;
        if (k->type && (rc = arena_put(b, k->type, strlen(k->type), 1, &l->type)))
            return rc;
        l->weight = k->weight;
    }
    if (b->n == 0) {
        b->first_rec = rec->recno;
        b->first_line = rec->line;
    }
    b->last_line = rec->line;
    b->n++;
    return CVS_OK;
}

/* Texts per embedding call within a batch: the progress between them. */
#define EMBED_CHUNK 64

/* Where a text of the batch is in the file, for a message: "line N" of a
 * jsonl file, "record N" of the others. */
static void place_of(const boff *o, char *buf, size_t cap)
{
    if (o->line)
        snprintf(buf, cap, "line %llu", (unsigned long long)o->line);
    else
        snprintf(buf, cap, "record %llu", (unsigned long long)o->recno);
}

/* A call of k texts failed: the embedder's message names a text by its
 * index within the call ("text 35"), which the user cannot find in the
 * file.  Embeds the texts one a call (a single text's message names no
 * index) and prefixes the first failure with the record's place in the
 * file; a failure no single text repeats (a server that came back) leaves
 * the texts embedded.  When the first text fails, the second is tried:
 * if it fails too, the embedder itself is failing (a server that is down),
 * and the message names the call's range of lines instead of blaming one
 * (the second's error is reported: the first's is likely the same).
 * whose[j] = the batch row of text j. */
static int embed_one_by_one(cvs_db *db, const batch *b, const char *path,
                            const char *const *texts, const size_t *lens, const size_t *whose,
                            size_t k, float *out)
{
    char first[1024], at[48];
    for (size_t j = 0; j < k; j++) {
        int rc = cvs_embed_texts(db, texts + j, lens + j, 1, out + j * b->dim);
        if (rc == CVS_OK)
            continue;
        if (j == 0 && k > 1) {
            snprintf(first, sizeof first, "%s", cvs_errmsg(db));
            if (cvs_embed_texts(db, texts + 1, lens + 1, 1, out + b->dim) != CVS_OK) {
                const boff *o0 = &b->offs[whose[0]], *o1 = &b->offs[whose[k - 1]];
                return cvs__err_prefix(rc, "%s: %s %llu..%llu (one embedding call): the "
                                       "embedder failed, on each text tried", path,
                                       o0->line ? "lines" : "records",
                                       (unsigned long long)(o0->line ? o0->line : o0->recno),
                                       (unsigned long long)(o0->line ? o1->line : o1->recno));
            }
            cvs__err(rc, "%s", first); /* the text is at fault, not the embedder */
        }
        place_of(&b->offs[whose[j]], at, sizeof at);
        return cvs__err_prefix(rc, "%s: %s: embedding its text", path, at);
    }
    return CVS_OK;
}

/* Embeds the batch's records that came without a vector into their rows of
 * b->vecs, EMBED_CHUNK texts a call, reporting progress after each (pg may
 * be NULL): the built-in use embeds ~85 passages a second, so a batch of
 * 10,000 takes minutes, and a bar that moved only once the batch was
 * written stood still all that time.  base = the records written before
 * this batch; the count reported is base plus the batch's records whose
 * texts are embedded, so it never goes back.  A failure's message names
 * the record's line, or the call's lines when the embedder itself fails
 * (embed_one_by_one); the caller adds no prefix. */
static int embed_batch(cvs_db *db, batch *b, const char *path, prog *pg, cvs_reader *r,
                       uint64_t base)
{
    const char **texts = NULL;
    size_t *lens = NULL, *whose = NULL, m = 0;
    float *out = NULL;
    int rc = CVS_OK;

    for (size_t i = 0; i < b->n; i++)
        m += (size_t)b->offs[i].need_embed;
    if (m == 0)
        return CVS_OK;
    texts = malloc(m * sizeof *texts);
    lens = malloc(m * sizeof *lens);
    whose = malloc(m * sizeof *whose);
    out = malloc(m * b->dim * sizeof *out);
    if (!texts || !lens || !whose || !out) {
        rc = cvs__err(CVS_ENOMEM, "out of memory embedding %zu texts", m);
        goto out;
    }
    m = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->offs[i].need_embed) {
            texts[m] = b->arena + b->offs[i].emb;
            whose[m] = i;
            lens[m++] = b->offs[i].emb_len;
        }
    for (size_t c = 0; c < m; c += EMBED_CHUNK) {
        size_t k = m - c < EMBED_CHUNK ? m - c : EMBED_CHUNK;
        if (cvs_embed_texts(db, texts + c, lens + c, k, out + c * b->dim) &&
            (rc = embed_one_by_one(db, b, path, texts + c, lens + c, whose + c, k,
                                   out + c * b->dim)))
            goto out;
        if (pg)
            progress(pg, r, base + (uint64_t)((double)(c + k) / (double)m * (double)b->n), 0);
    }
    for (size_t j = 0; j < m; j++)
        memcpy(b->vecs + whose[j] * b->dim, out + j * b->dim, b->dim * sizeof *out);
out:
    free(texts);
    free(lens);
    free(whose);
    free(out);
    return rc;
}

static int batch_flush(cvs_db *db, batch *b, const char *path, cvs_import_stats *st,
                       prog *pg, cvs_reader *r, uint64_t base)
{
    size_t ins = 0, upd = 0;
    cvs_link *links = NULL;
    int rc;

    if (!b->n)
        return CVS_OK;
    if ((rc = embed_batch(db, b, path, pg, r, base)))
        goto named; /* its message names the record */
    if (b->nl && !(links = malloc(b->nl * sizeof *links))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for a batch's links");
        goto fail;
    }
    for (size_t i = 0; i < b->nl; i++) {
        links[i].id = b->arena + b->loffs[i].id;
        links[i].id_len = b->loffs[i].id_len;
        links[i].type = b->loffs[i].type == SIZE_MAX ? NULL : b->arena + b->loffs[i].type;
        links[i].weight = b->loffs[i].weight;
    }
    for (size_t i = 0; i < b->n; i++) {
        const boff *o = &b->offs[i];
        cvs_record *r = &b->recs[i];
        memset(r, 0, sizeof *r);
        r->id = b->arena + o->id;
        r->id_len = o->id_len;
        r->vector = b->vecs + i * b->dim;
        if (o->has_text) {
            r->text = b->arena + o->text;
            r->text_len = o->text_len;
        }
        if (o->has_title) {
            r->title = b->arena + o->title;
            r->title_len = o->title_len;
        }
        if (o->has_meta) {
            r->meta = b->arena + o->meta;
            r->meta_len = o->meta_len;
        }
        if (o->nlinks) {
            r->links = links + o->link0;
            r->nlinks = o->nlinks;
        }
        if (o->nsent) {
            r->sentences = b->sents + 2 * o->sent0;
            r->nsentences = o->nsent;
        }
        r->created_us = o->created_us;
        r->updated_us = o->updated_us;
    }
    /* Times a record gives (an export's) are restored; one without keeps
     * the put's, as CVS_PUT_TIMES takes 0 for "now". */
    rc = cvs_put(db, b->recs, b->n, CVS_PUT_FORWARD_LINKS | CVS_PUT_TIMES, &ins, &upd);
fail:
    if (rc) {
        if (b->first_line)
            cvs__err_prefix(rc, "%s: writing records %llu..%llu (lines %llu..%llu)", path,
                            (unsigned long long)b->first_rec,
                            (unsigned long long)(b->first_rec + b->n - 1),
                            (unsigned long long)b->first_line, (unsigned long long)b->last_line);
        else
            cvs__err_prefix(rc, "%s: writing records %llu..%llu", path,
                            (unsigned long long)b->first_rec,
                            (unsigned long long)(b->first_rec + b->n - 1));
    } else {
        st->inserted += ins;
        st->updated += upd;
    }
named:
    free(links);
    b->n = b->nl = b->ns = b->alen = 0;
    return rc;
}

static void batch_free(batch *b)
{
    free(b->vecs);
    free(b->offs);
    free(b->recs);
    free(b->loffs);
    free(b->sents);
    free(b->arena);
}

/* ==== The import ==== */

static int is_zero(const float *v, uint32_t d)
{
    for (uint32_t i = 0; i < d; i++)
        if (v[i] != 0.0f)
            return 0;
    return 1;
}

/* ==== Records to embed (pass 1) ==== */

typedef struct embstate {
    int prepared;
    char *buf;             /* the current record's embedding input */
    size_t cap;
    size_t n;              /* records to embed */
} embstate;

static void embstate_free(embstate *e)
{
    free(e->buf);
}

/* A record without a vector: it needs text, an embedder, and (glove) a word
 * of the vocabulary.  Counts the records to embed. */
static int check_embed(cvs_db *db, embstate *e, const cvs_rrec *rec, const char *path)
{
    size_t len = 0, need;
    int rc;
    if (!rec->text && !rec->title)
        return cvs__err(CVS_EINPUT, "%s: line %llu: record has neither \"vector\" nor \"text\"",
                        path, (unsigned long long)rec->line);
    if (!e->prepared) {
        if ((rc = cvs__embed_prepare(db)))
            return cvs__err_prefix(rc, "%s: line %llu: record has no vector, so its text must be "
                                   "embedded", path, (unsigned long long)rec->line);
        e->prepared = 1;
    }
    need = (rec->title ? rec->title_len + 1 : 0) + (rec->text ? rec->text_len : 0) + 1;
    if (need > e->cap) {
        char *p = realloc(e->buf, need);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory");
        e->buf = p;
        e->cap = need;
    }
    /* The same input as batch_add builds: title, newline, text. */
    if (rec->title) {
        memcpy(e->buf, rec->title, rec->title_len);
        len = rec->title_len;
        if (rec->text)
            e->buf[len++] = '\n';
    }
    if (rec->text) {
        memcpy(e->buf + len, rec->text, rec->text_len);
        len += rec->text_len;
    }
    if ((rc = cvs__embed_check(db, e->buf, len)))
        return cvs__err_prefix(rc, "%s: line %llu", path, (unsigned long long)rec->line);
    e->n++;
    return CVS_OK;
}

/* Pass 1b: every link target is in the file (the table) or the store.
 * Still the "validate" phase for progress; its count restarts from 0. */
static int check_links(cvs_db *db, cvs_reader *r, idtab *t, prog *pg)
{
    cvs_txn *txn = NULL;
    cvs_rrec rec;
    uint64_t done = 0;
    int rc;

    uint32_t shard = 0, shards = 0;
    if ((rc = cvs_reader_rewind(r)) || (rc = cvs_txn_begin(db, &txn)))
        return rc;
    /* A shard's record may link to another shard's (store/shard.c): that
     * target is for the sharded importer to find, not this store. */
    if ((rc = cvs__shard_get(db, txn->txn, &shard, &shards)) && rc != CVS_NOTFOUND)
        goto out;
    while ((rc = cvs_reader_next(r, &rec)) == CVS_OK) {
        for (size_t i = 0; i < rec.nlinks; i++) {
            const cvs_link *k = &rec.links[i];
            cvs_record got;
            if (idtab_has_hash(t, id_hash(t, k->id, k->id_len)) ||
                (shards && cvs__shard_of(k->id, k->id_len, shards) != shard))
                continue;
            rc = cvs_get(txn, k->id, k->id_len, &got, NULL);
            if (rc == CVS_NOTFOUND) {
                rc = cvs__err(CVS_EINPUT, "%s: line %llu: link to unknown id \"%.*s\"", r->path,
                              (unsigned long long)rec.line,
                              (int)(k->id_len > SHOW_ID ? SHOW_ID : k->id_len), k->id);
                goto out;
            }
            if (rc)
                goto out;
        }
        progress(pg, r, ++done, 0);
    }
    if (rc == CVS_NOTFOUND)
        rc = CVS_OK;
out:
    cvs_txn_end(txn);
    return rc;
}

/* The import proper; write 0 stops after pass 1 (cvs_import_check). */
static int import_run(cvs_db *db, const char *input, const cvs_import_opts *opts,
                      cvs_import_stats *stats, int write)
{
    const char *path;
    cvs_import_opts o = {0};
    cvs_import_stats st = {0};
    cvs_info info;
    cvs_reader *r = NULL;
    idsfile fi = {0};
    idtab tab = {0};
    lookback lb = {0}, lb_ids = {0};
    batch b = {0};
    embstate emb = {0};
    prog pg = {opts, "validate", 0, 0};
    cvs_rrec rec;
    const char *id;
    size_t id_len;
    double t0 = cvs__mono_s();
    int rc, has_links = 0, jsonl, text_store = 0;
    char nbuf[24];

    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!db || !input)
        return cvs__err(CVS_EINVAL, "cvs_import: NULL argument");
    path = cvs__input_name(input); /* in messages */
    if (opts)
        o = *opts;
    if (!o.batch)
        o.batch = DEFAULT_BATCH;
    if (o.format == CVS_FMT_AUTO && (rc = cvs_format_guess(input, &o.format)))
        return rc;
    if (o.format == CVS_FMT_IVECS)
        return cvs__err(CVS_EINVAL, "%s: ivecs files hold ground truth, not vectors to import", path);
    jsonl = o.format == CVS_FMT_JSONL;
    if (jsonl && o.ids_path)
        return cvs__err(CVS_EINVAL, "%s: jsonl records carry their own ids; a file of ids "
                        "goes with vector files only", path);
    if ((rc = cvs_db_info(db, &info)))
        return rc;
    if (sodium_init() < 0)
        return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
    crypto_shorthash_keygen(tab.key);
    if (o.ids_path && !strcmp(o.ids_path, "-") && !strcmp(input, "-"))
        return cvs__err(CVS_EINVAL, "the records and their ids cannot both come from "
                        "standard input");
    lb.path = path;

    if ((rc = cvs_reader_open_flags(input, o.format, info.dim, CVS_READER_EMPTY_OK, &r)))
        goto out;
    lb.file = cvs_reader_reopen_path(r);
    if (o.ids_path) {
        fi.path = lb_ids.path = cvs__input_name(o.ids_path);
        if ((rc = cvs__input_open(o.ids_path, fi.path, &fi.f, fi.reopen, sizeof fi.reopen)))
            goto out;
        lb_ids.file = fi.reopen;
    }

    /* A line a store with an embedder must embed (no vector) and whose
     * text has no words cannot be embedded: refused here, naming the
     * line, before any batch is written.  A line with its vector is kept
     * whatever its text, as cvs_put keeps it: an export of any store
     * imports again. */
    if (jsonl) {
        cvs_embedder_info ei;
        if ((rc = cvs_db_embedder_info(db, &ei)) && rc != CVS_NOTFOUND)
            goto out;
        text_store = rc == CVS_OK;
    }

    /* ---- Pass 1: validate ---- */
    if (jsonl) {
        r->allow_novec = 1;
        /* Keys the format does not have: named once each, in this pass
         * only (store/jsonl.c, choice 10). */
        r->note_unknown = 1;
        r->warn = o.warn;
        r->warn_ctx = o.warn_ctx;
    }
    while ((rc = cvs_reader_next(r, &rec)) == CVS_OK) {
        if (text_store && rec.text && !rec.vec && (rc = cvs__embed_text_words(rec.text, rec.text_len))) {
            rc = cvs__err_prefix(rc, "%s: line %llu: record \"%.*s\"", path,
                                 (unsigned long long)rec.line, (int)rec.id_len, rec.id);
            goto out;
        }
        if (!rec.vec) {
            if ((rc = check_embed(db, &emb, &rec, path)))
                goto out;
        } else if (info.metric == CVS_METRIC_COSINE && is_zero(rec.vec, rec.dim)) {
            if (jsonl)
                rc = cvs__err(CVS_EINPUT, "%s: line %llu: zero vector in a cosine store", path,
                              (unsigned long long)rec.line);
            else
                rc = cvs__err(CVS_EINPUT, "%s: record %llu: zero vector in a cosine store", path,
                              (unsigned long long)rec.recno);
            goto out;
        }
        if (jsonl) {
            if ((rc = check_dup(&tab, &lb, 1, rec.id, rec.id_len, r->rec_off, rec.line)))
                goto out;
            has_links |= rec.nlinks > 0;
        } else if (fi.f) {
            if ((rc = ids_next(&fi, &id, &id_len)) < 0)
                goto out;
            if (rc) {
                rc = cvs__err(CVS_EINPUT, "%s: %llu ids, but %s has more records", fi.path,
                              (unsigned long long)fi.lineno, path);
                goto out;
            }
            if ((rc = ids_check(&fi, id, id_len)) ||
                (rc = check_dup(&tab, &lb_ids, 0, id, id_len, fi.off, fi.lineno)))
                goto out;
        }
        st.records++;
        progress(&pg, r, st.records, 0);
    }
    r->note_unknown = 0;
    st.unknown_keys = r->nunknown;
    st.unknown_key_records = r->unknown_records;
    if (rc != CVS_NOTFOUND)
        goto out;
    rc = CVS_OK;
    if (fi.f) { /* the ids may end with blank lines, nothing else */
        while ((rc = ids_next(&fi, &id, &id_len)) == 0)
            if (id_len) {
                rc = cvs__err(CVS_EINPUT, "%s: line %llu: more ids than the %llu records of %s",
                              fi.path, (unsigned long long)fi.lineno,
                              (unsigned long long)st.records, path);
                goto out;
            }
        if (rc < 0)
            goto out;
        rc = CVS_OK;
    }
    /* A file of no records (empty, blank lines, an npy of zero rows) is
     * what an export of an empty store writes: it imports as nothing,
     * stats->records 0, for the caller to say so. */
    if (st.records == 0) {
        st.bytes = cvs_reader_bytes_total(r);
        st.validate_s = cvs__mono_s() - t0;
        goto out;
    }
    if (has_links && (rc = check_links(db, r, &tab, &pg)))
        goto out;
    if (!write) { /* before cvs_embed_fit, the first write */
        progress(&pg, r, st.records, 1);
        st.bytes = cvs_reader_bytes_total(r);
        st.validate_s = cvs__mono_s() - t0;
        goto out;
    }
    /* Install the embedder's fixed state (SIF's common component, from the
     * vocabulary) before the first record is embedded; a store that has
     * one keeps it.  No texts: the component does not depend on them. */
    if (emb.n && (rc = cvs_embed_fit(db, NULL, NULL, 0)))
        goto out;
    embstate_free(&emb);
    memset(&emb, 0, sizeof emb);
    progress(&pg, r, st.records, 1);
    st.bytes = cvs_reader_bytes_total(r);
    /* The table is not needed for writing: give its memory back now. */
    free(tab.slots);
    tab.slots = NULL;
    tab.cap = tab.n = 0;
    st.validate_s = cvs__mono_s() - t0;

    /* ---- Pass 2: write ---- */
    t0 = cvs__mono_s();
    pg.phase = "write";
    pg.last = 0;
    /* Pass 1 counted them: a JSONL reader knows no total, and its bytes
     * run a batch ahead of the records written. */
    pg.total = st.records;
    /* A batch larger than the file is the file: buffers for the records
     * there are, not for the batch asked for. */
    b.cap = o.batch < st.records ? o.batch : (size_t)st.records;
    b.dim = info.dim;
    if (b.cap > SIZE_MAX / ((size_t)b.dim * sizeof(float)) ||
        !(b.vecs = malloc(b.cap * b.dim * sizeof(float))) || !(b.offs = malloc(b.cap * sizeof *b.offs)) ||
        !(b.recs = malloc(b.cap * sizeof *b.recs))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory for a batch of %zu records", b.cap);
        goto out;
    }
    if ((rc = cvs_reader_rewind(r)) || (fi.f && (rc = ids_rewind(&fi))))
        goto out;
    {
        uint64_t done = 0;
        while ((rc = cvs_reader_next(r, &rec)) == CVS_OK) {
            const char *text = NULL;
            size_t text_len = 0;
            if (jsonl) {
                id = rec.id;
                id_len = rec.id_len;
                text = rec.text;
                text_len = rec.text_len;
            } else if (fi.f) {
                if ((rc = ids_next(&fi, &id, &id_len))) {
                    if (rc > 0)
                        rc = cvs__err(CVS_EIO, "%s: the file changed during the import", fi.path);
                    goto out;
                }
                if (o.ids_as_text) {
                    text = id;
                    text_len = id_len;
                }
            } else {
                snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)rec.recno);
                id = nbuf;
                id_len = strlen(nbuf);
            }
            if ((rc = batch_add(&b, &rec, id, id_len, text, text_len)))
                goto out;
            done++;
            if (b.n == b.cap && (rc = batch_flush(db, &b, path, &st, &pg, r, done - b.n)))
                goto out;
            /* The records written: those read run ahead by a batch. */
            progress(&pg, r, done - b.n, 0);
        }
        if (rc != CVS_NOTFOUND)
            goto out;
        if ((rc = batch_flush(db, &b, path, &st, &pg, r, done - b.n)))
            goto out;
        if (done != st.records) {
            rc = cvs__err(CVS_EIO, "%s: the file changed during the import (%llu records, then %llu)",
                          path, (unsigned long long)st.records, (unsigned long long)done);
            goto out;
        }
        progress(&pg, r, done, 1);
    }
    st.write_s = cvs__mono_s() - t0;
    rc = CVS_OK;
out:
    if (stats)
        *stats = st;
    batch_free(&b);
    embstate_free(&emb);
    free(tab.slots);
    lookback_close(&lb_ids);
    lookback_close(&lb);
    if (fi.f)
        fclose(fi.f);
    free(fi.line);
    cvs_reader_close(r);
    return rc;
}

CVS_API int cvs_import(cvs_db *db, const char *input, const cvs_import_opts *opts,
                       cvs_import_stats *stats)
{
    return import_run(db, input, opts, stats, 1);
}

CVS_API int cvs_import_check(cvs_db *db, const char *input, const cvs_import_opts *opts,
                             cvs_import_stats *stats)
{
    return import_run(db, input, opts, stats, 0);
}
