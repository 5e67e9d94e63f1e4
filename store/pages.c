/*
 * pages.c -- the B-trees of data.mdb checked page by page before a handle's
 * first write (cvs__pages_check, called by cvs__write).
 *
 * LMDB keeps no page checksums and trusts every page it reaches.  Reading
 * a damaged page is made safe elsewhere (store/seal.h checks every key and
 * value a read returns against the file, store/fault.c turns a wild read
 * into an error), but writing one is not: an insert or delete moves a
 * page's nodes by the offsets and sizes the page records, a rebalance
 * copies nodes between siblings, a DUPFIXED database's packed values are
 * moved by a size read from the store, and the free list's page numbers
 * are merged by a count read from the store, all inside page copies LMDB
 * has just allocated.  One flipped byte in any of them is a heap overflow
 * in the middle of a write transaction (tests/cli_damaged.sh finds them
 * with `delete` and `link` on damaged copies, under AddressSanitizer).
 *
 * So before the first write of each handle, every page of every tree the
 * newest meta page reaches is checked the way LMDB 0.9 lays it out (mdb.c:
 * MDB_page, MDB_node, MDB_db, MDB_meta): the free list, the main database
 * and, through its records, every named database with its sub-databases
 * and sub-pages.  A page must lie inside the file, carry its own number,
 * be reached once, have the kind its level calls for (branch pages above
 * md_depth, leaf pages at it), keep its node offsets inside its free-space
 * bounds and each node (key, data, overflow run, sub-page) inside the
 * page; a DUPFIXED database must pack one value size everywhere; a free
 * list entry must be a counted list of pages up to the meta page's last
 * (free pages may lie past the end of the file: store/lmdb_pages.c).
 *
 * Deviations from "check before every write":
 *  1. Once per handle, not per transaction.  The pages a later transaction
 *     finds are the checked ones or pages this process or another cvstore
 *     writer wrote since; damage at rest is what the check is for, and it
 *     costs one pass over the file's pages (5.7 ms for the 24 MB store of
 *     HotpotQA's 6,640 passages with their BM25 postings, sentences, links
 *     and kNN graph, in memory), which a handle would otherwise pay on
 *     every write.
 *  2. Structure only: a page that passes may still hold wrong bytes in its
 *     keys and values, which the read checks, the seals and `cvstore
 *     check` find.  Pages on the free list are not read (LMDB writes them
 *     before it reads them).
 *  3. `cvstore check` runs the same walk over its read snapshot
 *     (cvs__pages_report), reports each named database whose tree is
 *     damaged (its first damaged page) and does not walk its entries:
 *     LMDB follows a damaged tree's page numbers wherever they lead, and
 *     a cursor stepping through a cycle of pages never ends.
 *  4. Nothing is checked when the map was not located (store/db.c
 *     locate_map; no /proc): the read checks are off then too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/lmdb_layout.h"
#include "store/seal.h"

/* What a tree's leaves hold. */
enum kind { K_FREE, K_MAIN, K_DATA, K_SUBDB };

typedef struct {
    const unsigned char *map;
    size_t ps;
    uint64_t np;         /* pages the file covers */
    uint64_t last;       /* the meta page's last page: free ones may lie
                          * past the file's end (store/lmdb_pages.c) */
    unsigned char *seen; /* one bit per page: reached already */
    const char *why;     /* the first fault found */
    uint64_t at;         /* its page */
    /* NULL: stop at the first fault; else each named database whose tree
     * is damaged is reported here and the walk goes on to the next one. */
    cvs__pages_fn on_db;
    void *ctx;
} walk;

typedef struct {
    enum kind kind;
    unsigned flags; /* the database's MDB_db flags */
    size_t fixed;   /* DUPFIXED: the one value size seen so far, 0 before */
} dbctx;

static unsigned u16(const unsigned char *p)
{
    uint16_t x;
    memcpy(&x, p, 2);
    return x;
}

static uint32_t u32(const unsigned char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

static uint64_t u64(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static int fault(walk *w, uint64_t pg, const char *why)
{
    if (!w->why) {
        w->why = why;
        w->at = pg;
    }
    return -1;
}

/* The page pg, marked reached, with n - 1 overflow pages after it: NULL
 * (and the fault noted) when any lies outside the file or was reached
 * before (a tree's pages have one parent each). */
static const unsigned char *claim(walk *w, uint64_t pg, uint64_t n)
{
    if (pg < 2 || n == 0 || pg >= w->np || n > w->np - pg) {
        fault(w, pg, "a page number outside the file");
        return NULL;
    }
    for (uint64_t i = pg; i < pg + n; i++) {
        if (w->seen[i >> 3] & (1u << (i & 7))) {
            fault(w, pg, "a page reached twice");
            return NULL;
        }
        w->seen[i >> 3] |= (unsigned char)(1u << (i & 7));
    }
    if (u64(w->map + pg * w->ps) != pg) {
        fault(w, pg, "a page that does not carry its own number");
        return NULL;
    }
    return w->map + pg * w->ps;
}

/* One value size for all of a DUPFIXED database. */
static int same_size(walk *w, uint64_t pg, dbctx *d, size_t size)
{
    if (!size)
        return fault(w, pg, "a packed value size of 0");
    if (!d->fixed)
        d->fixed = size;
    return d->fixed == size ? 0 : fault(w, pg, "packed values of two sizes in one database");
}

static int tree(walk *w, const unsigned char *rec, dbctx *d);

/* A free list entry: a count and that many page numbers up to the meta
 * page's last.  Not "in the file": LMDB never writes a page freed in the
 * transaction that took it, so the last pages of a healthy file may be
 * free and missing (store/lmdb_pages.c).  LMDB reserves entries before it
 * fills them and may leave room unused (mdb_freelist_save), so the count
 * may be below what the size holds. */
static int idl_sound(walk *w, uint64_t pg, const unsigned char *p, size_t size)
{
    uint64_t n;
    if (size < 8 || size % 8 || (n = u64(p)) > size / 8 - 1)
        return fault(w, pg, "a free list entry counting more pages than it holds");
    for (uint64_t i = 1; i <= n; i++)
        if (u64(p + 8 * i) < 2 || u64(p + 8 * i) > w->last)
            return fault(w, pg, "a free list entry naming a page past the last page");
    return 0;
}

/* A sub-page (a key's values inline in its leaf node) of size bytes. */
static int subpage_sound(walk *w, uint64_t pg, const unsigned char *sp, size_t size, dbctx *d)
{
    unsigned flags, lower, upper;
    size_t n;
    if (size < HDR)
        return fault(w, pg, "a sub-page smaller than its header");
    flags = u16(sp + 10);
    lower = u16(sp + 12);
    upper = u16(sp + 14);
    if (!(flags & P_SUBP) || !(flags & P_LEAF) || lower < HDR || (lower & 1) || lower > upper ||
        upper > size)
        return fault(w, pg, "a sub-page whose header is inconsistent");
    n = (lower - HDR) / 2;
    if (d->flags & DB_DUPFIXED) {
        if (!(flags & P_LEAF2) || same_size(w, pg, d, u16(sp + 8)))
            return fault(w, pg, "a packed sub-page of the wrong value size");
        return HDR + n * d->fixed <= size ? 0 : fault(w, pg, "a sub-page's values run past it");
    }
    for (size_t i = 0; i < n; i++) {
        size_t off = u16(sp + HDR + 2 * i);
        if (off < upper || off + NODE > size || u16(sp + off + 4) ||
            NODE + (size_t)u16(sp + off + 6) > size - off)
            return fault(w, pg, "a sub-page node outside its sub-page");
    }
    return 0;
}

/* The nodes of leaf page p (number pg). */
static int leaf_sound(walk *w, uint64_t pg, const unsigned char *p, size_t n, unsigned upper,
                      dbctx *d)
{
    for (size_t i = 0; i < n; i++) {
        size_t off = u16(p + HDR + 2 * i), dsize, ks;
        const unsigned char *nd = p + off, *data;
        unsigned nf;
        if (off < upper || off + NODE > w->ps)
            return fault(w, pg, "a node outside its page");
        nf = u16(nd + 4);
        ks = u16(nd + 6);
        dsize = (size_t)u16(nd) | (size_t)u16(nd + 2) << 16;
        data = nd + NODE + ks;
        if (NODE + ks + (nf & F_BIGDATA ? 8 : dsize) > w->ps - off)
            return fault(w, pg, "a node whose key or data runs past its page");
        if (nf & F_BIGDATA) {
            uint64_t opg = u64(data), pages;
            const unsigned char *op;
            if (nf & (F_SUBDATA | F_DUPDATA) || opg >= w->np)
                return fault(w, pg, "a large value's first page outside the file");
            pages = u32(w->map + opg * w->ps + 12);
            if (!(op = claim(w, opg, pages)))
                return -1;
            if (!(u16(op + 10) & P_OVERFLOW) || dsize > pages * w->ps - HDR)
                return fault(w, opg, "a large value longer than its pages");
            if (d->kind == K_FREE && idl_sound(w, opg, op + HDR, dsize))
                return -1;
            if ((d->flags & DB_DUPFIXED) && d->kind == K_DATA && same_size(w, pg, d, dsize))
                return -1;
            continue;
        }
        if (nf & F_SUBDATA) {
            dbctx sub = {K_SUBDB, 0, 0};
            if (dsize != DBREC)
                return fault(w, pg, "a database record of the wrong size");
            if (d->kind == K_MAIN) { /* a named database */
                sub.kind = K_DATA;
                sub.flags = u16(data + 4);
                if (nf & F_DUPDATA)
                    return fault(w, pg, "a named database whose record is inconsistent");
                if (tree(w, data, &sub) == 0)
                    continue;
                if (!w->on_db)
                    return -1;
                w->on_db(w->ctx, (const char *)nd + NODE, ks, w->at, w->why);
                w->why = NULL;
                continue;
            }
            if (d->kind != K_DATA || !(d->flags & DB_DUPSORT) || !(nf & F_DUPDATA))
                return fault(w, pg, "a sub-database where none can be");
            sub.flags = d->flags;
            if ((d->flags & DB_DUPFIXED) && same_size(w, pg, d, u32(data)))
                return -1;
            sub.fixed = d->fixed;
            if (tree(w, data, &sub))
                return -1;
            continue;
        }
        if (nf & F_DUPDATA) {
            if (d->kind != K_DATA || !(d->flags & DB_DUPSORT))
                return fault(w, pg, "a sub-page where none can be");
            if (subpage_sound(w, pg, data, dsize, d))
                return -1;
            continue;
        }
        if (nf)
            return fault(w, pg, "a node with unknown flags");
        if (d->kind == K_FREE && idl_sound(w, pg, data, dsize))
            return -1;
        if (d->kind == K_SUBDB && dsize)
            return fault(w, pg, "a duplicate value with data");
        if ((d->flags & DB_DUPFIXED) && d->kind == K_DATA && same_size(w, pg, d, dsize))
            return -1;
    }
    return 0;
}

/* The subtree under page pg at level (1 = the root) of a tree depth deep. */
static int node_sound(walk *w, uint64_t pg, unsigned level, unsigned depth, dbctx *d)
{
    const unsigned char *p = claim(w, pg, 1);
    unsigned flags, lower, upper;
    size_t n;
    if (!p)
        return -1;
    flags = u16(p + 10);
    lower = u16(p + 12);
    upper = u16(p + 14);
    if (lower < HDR || (lower & 1) || lower > upper || upper > w->ps)
        return fault(w, pg, "a page whose free-space bounds are inconsistent");
    n = (lower - HDR) / 2;
    if (level < depth) {
        if ((flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) != P_BRANCH || n == 0)
            return fault(w, pg, "a branch page of the wrong kind");
        for (size_t i = 0; i < n; i++) {
            size_t off = u16(p + HDR + 2 * i);
            const unsigned char *nd = p + off;
            if (off < upper || off + NODE > w->ps || NODE + (size_t)u16(nd + 6) > w->ps - off)
                return fault(w, pg, "a branch node outside its page");
            if (node_sound(w, (uint64_t)u16(nd) | (uint64_t)u16(nd + 2) << 16 |
                                  (uint64_t)u16(nd + 4) << 32,
                           level + 1, depth, d))
                return -1;
        }
        return 0;
    }
    if (flags & P_LEAF2) {
        if (d->kind != K_SUBDB || !(d->flags & DB_DUPFIXED) || !(flags & P_LEAF) || !d->fixed)
            return fault(w, pg, "a packed page where none can be");
        return HDR + n * d->fixed <= w->ps ? 0 : fault(w, pg, "a packed page's values run past it");
    }
    if ((flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) != P_LEAF)
        return fault(w, pg, "a leaf page of the wrong kind");
    return leaf_sound(w, pg, p, n, upper, d);
}

/* The tree whose MDB_db record is rec. */
static int tree(walk *w, const unsigned char *rec, dbctx *d)
{
    uint64_t root = u64(rec + 40);
    unsigned depth = u16(rec + 6);
    if (root == P_INVALID)
        return depth == 0 ? 0 : fault(w, 0, "an empty database with a depth");
    if (depth == 0 || depth > MAX_DEPTH)
        return fault(w, root, "a database deeper than LMDB can walk");
    return node_sound(w, root, 1, depth, d);
}

/* Walks the trees of the snapshot whose meta page holds txnid: CVS_OK, or
 * CVS_ECORRUPT with the fault written to why. */
static int pages_walk(const cvs_db *db, uint64_t txnid, char *why, size_t nwhy,
                      cvs__pages_fn on_db, void *ctx)
{
    walk w = {.on_db = on_db, .ctx = ctx};
    const unsigned char *meta = NULL;
    dbctx fr = {K_FREE, 0, 0}, mn = {K_MAIN, 0, 0};

    w.map = (const unsigned char *)db->map_lo;
    w.ps = db->map_psize;
    w.np = __atomic_load_n(&db->map_used, __ATOMIC_RELAXED) / w.ps;
    if (w.np < 2)
        return CVS_OK;
    for (int m = 0; m < 2; m++)
        if (u64(w.map + m * w.ps + META_TXNID) == txnid)
            meta = w.map + m * w.ps;
    if (!meta) {
        snprintf(why, nwhy, "no meta page holds transaction %llu", (unsigned long long)txnid);
        return CVS_ECORRUPT;
    }
    w.last = u64(meta + META_LAST);
    if (!(w.seen = calloc(w.np / 8 + 1, 1)))
        return CVS_ENOMEM;
    if (tree(&w, meta + META_DBS, &fr) == 0)
        tree(&w, meta + META_DBS + DBREC, &mn);
    free(w.seen);
    if (!w.why)
        return CVS_OK;
    snprintf(why, nwhy, "data.mdb page %llu: %s", (unsigned long long)w.at, w.why);
    return CVS_ECORRUPT;
}

int cvs__pages_check(cvs_db *db, MDB_txn *txn)
{
    char why[160];
    int rc;
    if (db->pages_checked || !db->map_len)
        return CVS_OK;
    /* A write transaction's snapshot is the newest commit, one before it. */
    rc = pages_walk(db, (uint64_t)mdb_txn_id(txn) - 1, why, sizeof why, NULL, NULL);
    if (rc == CVS_ENOMEM)
        return cvs__err(rc, "out of memory checking the store's pages");
    if (rc)
        return cvs__err(rc, "store is damaged: %s (found checking the pages before writing); "
                            "nothing was written; restore the store from a backup, or export "
                            "what `cvstore check` can still read", why);
    db->pages_checked = 1;
    return CVS_OK;
}

int cvs__pages_report(const cvs_db *db, MDB_txn *txn, cvs__pages_fn fn, void *ctx)
{
    char why[160];
    int rc;
    if (!db->map_len)
        return CVS_OK;
    rc = pages_walk(db, (uint64_t)mdb_txn_id(txn), why, sizeof why, fn, ctx);
    if (rc == CVS_ECORRUPT) { /* the free list, the main database, or the meta page */
        fn(ctx, NULL, 0, 0, why);
        rc = CVS_OK;
    }
    return rc;
}
