/*
 * lmdb_pages.c -- is a data.mdb shorter than its last page still whole?
 * Its meta pages and free list read with pread (cvs__lmdb_short_check,
 * called by cvs__db_open when the file ends before the newest meta page's
 * last page), and the meta pages checked before LMDB opens the file
 * (cvs__lmdb_open_check).
 *
 * LMDB does not write every page up to the last one its meta page counts
 * (MDB_meta.mm_last_pg; mdb.c says so beside the field: "the file may be
 * shorter if the freeDB lists the final pages").  A page dirtied and freed
 * in one write transaction is never written: mdb_page_flush skips P_LOOSE
 * pages, mdb_ovpage_free takes a large value's pages off the dirty list,
 * and at commit mdb_freelist_save puts both on the free list.  When such a
 * page is the highest, the committed file ends before it, and the store is
 * healthy: LMDB reads a free page never (a writer that takes it writes it
 * with pwrite first), and mdb_env_copy copies only what the file holds.
 * A copy or download that stopped is different: pages in use lie past the
 * end, and LMDB's first read of one through its map is a SIGBUS.  So the
 * open refuses a short file only when a page past its end is not free.
 *
 * The layout read is LMDB 0.9.24's (Debian 12's liblmdb0; mdb.c):
 *  - pages 0 and 1 are meta pages: a 16-byte MDB_page header (mp_pgno u64,
 *    mp_pad u16, mp_flags u16 with P_META, lower/upper u16), then MDB_meta:
 *    mm_magic u32 (0xBEEFC0DE), mm_version u32 (1), mm_address, mm_mapsize u64,
 *    mm_dbs[2] (48-byte MDB_db each: md_pad u32, which in the free list's
 *    record is the page size, md_flags u16, md_depth u16, three page counts,
 *    md_entries, md_root u64), mm_last_pg u64, mm_txnid u64.  LMDB reads
 *    both and takes the one with the larger txnid, meta 0 on a tie
 *    (mdb_env_read_header); page 1 starts at meta 0's page size.
 *  - the free list is the B-tree of mm_dbs[0] (FREE_DBI), md_depth levels
 *    down from md_root: branch pages (P_BRANCH) of MDB_nodes whose 48-bit
 *    child page number is mn_lo | mn_hi << 16 | mn_flags << 32 (NODEPGNO),
 *    leaf pages (P_LEAF) whose nodes hold a txnid key and, inline or on
 *    overflow pages (F_BIGDATA: an 8-byte page number in the node; the
 *    first overflow page's header counts the run in mp_pages, u32 at 12),
 *    an IDL of u64s: a count, then that many page numbers (descending;
 *    LMDB reserves values before it fills them, so the count may fill less
 *    than the value, mdb_freelist_save).  A page's nodes are at the u16
 *    offsets from byte 16 to mp_lower; mp_upper bounds their space from
 *    below.
 *
 * Deviations and limits:
 *  1. The common case reads nothing here: cvs__db_open compares the file's
 *     size with LMDB's own mdb_env_info (read from meta pages LMDB has
 *     already checked are in the file) and calls this only when the file
 *     is shorter.  This file reads the meta pages again with pread and
 *     checks them itself, so its answer does not rest on the map.
 *  2. Only the free list is walked, not the trees in use: the question is
 *     whether the pages past the end are free, and every page of a
 *     committed snapshot is either on the free list or in a tree (LMDB's
 *     own audit, mdb_audit, checks exactly that).  The trees' pages are
 *     checked before the first write (store/pages.c), through the map,
 *     which covers only the file.
 *  3. A page the walk reads must lie wholly inside the file (the last,
 *     partial page counts as missing): a free list reaching past the end
 *     is a cut file, whatever else it says.  The walk reads at most as many
 *     pages as the file holds, so a damaged tree (a cycle, a fan-out that
 *     repeats pages) ends with an error, never a loop.  A value on
 *     overflow pages is read a page at a time, so memory stays at one page
 *     per level whatever length a damaged node gives.
 *  4. A free list entry naming page 0, 1 or a page past mm_last_pg is
 *     damage: LMDB never frees a meta page, and its next page number never
 *     shrinks.
 *  5. A concurrent writer: the caller holds a read transaction across the
 *     walk, and LMDB reuses no page of a snapshot at least as new as a live
 *     reader's, so the pages read stay as the newest meta page left them.
 *  6. The meta pages are also read before LMDB opens the file
 *     (cvs__lmdb_open_check, from cvs__db_open), because LMDB trusts them:
 *     it divides by their page size and maps (last page + 1) x page size
 *     bytes, unchecked, so a damaged field is a SIGFPE, a SIGBUS or an
 *     open that loops on MDB_MAP_RESIZED.  A page size is accepted when it
 *     is a power of two in LMDB's range (512 bytes to MAX_PAGESIZE, 32
 *     KiB), both meta pages give it, each meta page carries its own page
 *     number, and meta page 1 lies where meta page 0's size puts it: a
 *     damaged size sends that read elsewhere.  It need not be this host's
 *     page size: LMDB reads a store made on a host with other memory
 *     pages (an aarch64 one of 16 KiB) with the size its meta pages give.
 *  7. Pages past the end of the file can all be free only if the free
 *     list, inside the file, names each one in 8 bytes: a newer meta page
 *     counting more than the file's bytes / 8 past its end is refused
 *     before the map is made (which would otherwise be sized by it).
 *  8. Whether data.mdb holds any committed transaction at all
 *     (cvs__lmdb_uncommitted): a create killed after claiming the file
 *     leaves it empty or holding only LMDB's first write, whose meta pages
 *     both carry transaction id 0.  store/db.c takes such a file for an
 *     interrupted init, never for a store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvstore.h"
#include "core/bytes.h"
#include "store/lmdb_layout.h"
#include "store/lmdb_pages.h"

/* ==== Meta pages ==== */

/* Reads len bytes at off: CVS_OK, CVS_EIO, or 1 when the file ends first
 * (*got then says how much there was). */
static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *got, char *why,
                   size_t nwhy)
{
    size_t have = 0;
    while (have < len) {
        ssize_t r = pread(fd, (char *)buf + have, len - have, (off_t)(off + have));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, nwhy, "data.mdb cannot be read at byte %llu: %s",
                     (unsigned long long)(off + have), strerror(errno));
            return CVS_EIO;
        }
        if (r == 0)
            break;
        have += (size_t)r;
    }
    if (got)
        *got = have;
    return have < len;
}

/* Meta page i (at byte off): its fields in *m. */
static int meta_one(int fd, unsigned i, uint64_t off, cvs__lmdb_meta *m, char *why, size_t nwhy)
{
    unsigned char b[META_END];
    size_t got = 0;
    uint32_t x;
    int rc = read_at(fd, b, sizeof b, off, &got, why, nwhy);
    if (rc == 1) {
        snprintf(why, nwhy, "data.mdb is cut short: it has %llu bytes, and LMDB's meta page %u "
                 "needs %llu", (unsigned long long)(off + got), i,
                 (unsigned long long)(off + sizeof b));
        return CVS_ECORRUPT;
    }
    if (rc)
        return rc;
    if (!(cvs__get_u16(b + 10) & P_META)) {
        snprintf(why, nwhy, "data.mdb is not an LMDB file: page %u is not a meta page", i);
        return CVS_EFORMAT;
    }
    if ((x = cvs__get_u32(b + META_MAGIC)) != CVS__LMDB_MAGIC) {
        snprintf(why, nwhy, "data.mdb is not an LMDB file: meta page %u's magic is 0x%08x, "
                 "not 0x%08x", i, (unsigned)x, CVS__LMDB_MAGIC);
        return CVS_EFORMAT;
    }
    if ((x = cvs__get_u32(b + META_VERSION)) != CVS__LMDB_VERSION) {
        snprintf(why, nwhy, "data.mdb is LMDB data format version %u (meta page %u); this "
                 "LMDB reads version %u", (unsigned)x, i, CVS__LMDB_VERSION);
        return CVS_EVERSION;
    }
    m->meta = i;
    m->psize = cvs__get_u32(b + META_DBS);
    m->txnid = cvs__get_u64(b + META_TXNID);
    m->last_pg = cvs__get_u64(b + META_LAST);
    m->mapsize = cvs__get_u64(b + META_MAPSIZE);
    m->free_depth = cvs__get_u16(b + META_DBS + 6);
    m->free_root = cvs__get_u64(b + META_DBS + 40);
    /* LMDB divides by the page size (mdb_env_open2: me_maxpg) and places
     * meta page 1 and every page by it, trusting it: 0 is a SIGFPE, a
     * huge one a SIGBUS.  A size in LMDB's range is checked by where it
     * leads (deviation 6): meta page 1 must lie at meta 0's page size. */
    if (m->psize < 512 || m->psize > CVS__LMDB_MAX_PSIZE || (m->psize & (m->psize - 1))) {
        snprintf(why, nwhy, "data.mdb is damaged: meta page %u gives a page size of %u, "
                 "not a power of two from 512 to %u", i, (unsigned)m->psize,
                 (unsigned)CVS__LMDB_MAX_PSIZE);
        return CVS_ECORRUPT;
    }
    if (cvs__get_u64(b) != i) {
        snprintf(why, nwhy, "data.mdb is damaged: meta page %u is numbered %llu", i,
                 (unsigned long long)cvs__get_u64(b));
        return CVS_ECORRUPT;
    }
    return CVS_OK;
}

int cvs__lmdb_meta_read(int fd, cvs__lmdb_meta *m, char *why, size_t nwhy)
{
    cvs__lmdb_meta m1;
    int rc;
    if ((rc = meta_one(fd, 0, 0, m, why, nwhy)))
        return rc;
    /* Meta page 0 is LMDB's, so a page 1 that is not a meta page where its
     * page size puts it is a damaged page size (or a damaged page 1). */
    if ((rc = meta_one(fd, 1, m->psize, &m1, why, nwhy)) == CVS_EFORMAT) {
        snprintf(why, nwhy, "data.mdb is damaged: meta page 0 gives a page size of %u, and "
                 "there is no meta page 1 at byte %u", (unsigned)m->psize, (unsigned)m->psize);
        return CVS_ECORRUPT;
    }
    if (rc)
        return rc;
    if (m1.psize != m->psize) {
        snprintf(why, nwhy, "data.mdb is damaged: its meta pages give page sizes of %u and "
                 "%u; LMDB writes both alike", (unsigned)m->psize, (unsigned)m1.psize);
        return CVS_ECORRUPT;
    }
    if (m1.txnid > m->txnid)
        *m = m1;
    /* LMDB maps (last page + 1) x page size bytes at least, computed
     * without an overflow check: a count past any map wraps to a small
     * map, and every read transaction then fails with MDB_MAP_RESIZED.
     * Page 1 is a meta page, so the last is at least 1. */
    if (m->last_pg < 1 || m->last_pg >= CVS__LMDB_MAP_MAX / m->psize) {
        snprintf(why, nwhy, "data.mdb is damaged: meta page %u counts pages up to %llu, "
                 "which no map of pages of %u bytes can hold", m->meta,
                 (unsigned long long)m->last_pg, (unsigned)m->psize);
        return CVS_ECORRUPT;
    }
    if (m->mapsize > CVS__LMDB_MAP_MAX) {
        snprintf(why, nwhy, "data.mdb is damaged: meta page %u gives a map size of %llu "
                 "bytes, more than any host can map", m->meta,
                 (unsigned long long)m->mapsize);
        return CVS_ECORRUPT;
    }
    return CVS_OK;
}

/* Deviation 8: LMDB's first write to a new data.mdb (mdb_env_init_meta)
 * is its two meta pages, both with transaction id 0, in one pwrite; the
 * first commit (ours: the store's header, store/db.c) writes a meta page
 * with id 1 or more.  A kill can stop that pwrite between its pages (a
 * write to a file checks for a fatal signal before each page it copies),
 * so meta page 1 may be missing or cut short: page 0 alone then decides. */
int cvs__lmdb_uncommitted(int fd, int *none)
{
    cvs__lmdb_meta m0, m1;
    struct stat st;
    char why[300];
    *none = 0;
    if (fstat(fd, &st))
        return CVS_EIO;
    if (st.st_size == 0) {
        *none = 1;
        return CVS_OK;
    }
    if (meta_one(fd, 0, 0, &m0, why, sizeof why) || m0.txnid != 0)
        return CVS_OK;
    if ((uint64_t)st.st_size < (uint64_t)m0.psize + META_END) {
        *none = 1; /* the first write stopped inside meta page 1 */
        return CVS_OK;
    }
    *none = meta_one(fd, 1, m0.psize, &m1, why, sizeof why) == CVS_OK && m1.txnid == 0;
    return CVS_OK;
}

/* The newer meta page in *m, the file's length in *st and the pages it
 * holds in *np: what both checks below compare. */
static int meta_and_length(int fd, cvs__lmdb_meta *m, struct stat *st, uint64_t *np, char *why,
                           size_t nwhy)
{
    int rc;
    if ((rc = cvs__lmdb_meta_read(fd, m, why, nwhy)))
        return rc;
    if (fstat(fd, st)) {
        snprintf(why, nwhy, "data.mdb cannot be measured: %s", strerror(errno));
        return CVS_EIO;
    }
    *np = (uint64_t)st->st_size / m->psize;
    return CVS_OK;
}

int cvs__lmdb_open_check(int fd, char *why, size_t nwhy)
{
    cvs__lmdb_meta m;
    struct stat st;
    uint64_t np;
    int rc;
    if ((rc = meta_and_length(fd, &m, &st, &np, why, nwhy)))
        return rc;
    /* Pages past the end are healthy only when the free list names them,
     * 8 bytes each, in pages inside the file: more than the file's bytes
     * / 8 cannot all be free (deviation 7). */
    if (m.last_pg >= np && m.last_pg - np + 1 > (uint64_t)st.st_size / 8) {
        snprintf(why, nwhy, "data.mdb is cut short: it has %llu bytes, and meta page %u "
                 "counts pages up to %llu, more than its free list could name",
                 (unsigned long long)st.st_size, m.meta, (unsigned long long)m.last_pg);
        return CVS_ECORRUPT;
    }
    return CVS_OK;
}

/* ==== The free list ==== */

typedef struct {
    int fd;
    const cvs__lmdb_meta *m;
    uint64_t np;        /* pages wholly in the file */
    uint64_t lo, hi;    /* the window of free pages collected */
    uint64_t *ids;      /* collected so far */
    size_t n, cap;
    uint64_t reads;     /* pages read: never more than np (deviation 3) */
    unsigned char *buf; /* MAX_DEPTH + 1 pages: one per level */
    char *why;
    size_t nwhy;
} fwalk;

static int damaged(fwalk *w, uint64_t pg, const char *what)
{
    snprintf(w->why, w->nwhy, "data.mdb is damaged: its free list's page %llu %s",
             (unsigned long long)pg, what);
    return CVS_ECORRUPT;
}

/* n pages from pg on are in the file, and the walk may read them. */
static int in_file(fwalk *w, uint64_t pg, uint64_t n)
{
    if (pg < 2)
        return damaged(w, pg, "is a meta page");
    if (pg >= w->np || n > w->np - pg) {
        snprintf(w->why, w->nwhy, "data.mdb is cut short: it holds %llu whole pages of %u "
                 "bytes, and its free list reaches page %llu", (unsigned long long)w->np,
                 (unsigned)w->m->psize, (unsigned long long)(pg + n - 1));
        return CVS_ECORRUPT;
    }
    if (n > w->np - w->reads)
        return damaged(w, pg, "is one of more pages than the file holds (a cycle)");
    w->reads += n;
    return CVS_OK;
}

/* Page pg into buf, carrying its own number. */
static int page_read(fwalk *w, uint64_t pg, unsigned char *buf)
{
    int rc;
    if ((rc = in_file(w, pg, 1)))
        return rc;
    if ((rc = read_at(w->fd, buf, w->m->psize, pg * w->m->psize, NULL, w->why, w->nwhy)))
        return rc == 1 ? damaged(w, pg, "lies past the end of the file (it shrank)") : rc;
    return cvs__get_u64(buf) == pg ? CVS_OK : damaged(w, pg, "does not carry its own number");
}

/* A page number of a free list value found on page pg: kept when in the
 * window. */
static int id_take(fwalk *w, uint64_t pg, uint64_t id)
{
    if (id < 2 || id > w->m->last_pg)
        return damaged(w, pg, "lists a page that cannot be free (deviation 4)");
    if (id < w->lo || id > w->hi)
        return CVS_OK;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        uint64_t *ids = realloc(w->ids, cap * sizeof *ids);
        if (!ids) {
            snprintf(w->why, w->nwhy, "out of memory reading data.mdb's free list");
            return CVS_ENOMEM;
        }
        w->ids = ids;
        w->cap = cap;
    }
    w->ids[w->n++] = id;
    return CVS_OK;
}

/* A free list value of size bytes (found on page pg) begins with count: it
 * must hold that many page numbers after it. */
static int idl_count_ok(fwalk *w, uint64_t pg, uint64_t count, size_t size)
{
    if (size < 8 || size % 8 || count > size / 8 - 1)
        return damaged(w, pg, "holds an entry counting more pages than it holds");
    return CVS_OK;
}

/* One free list value (size bytes at p, found on page pg): a count and that
 * many page numbers; those in the window are kept. */
static int idl_take(fwalk *w, uint64_t pg, const unsigned char *p, size_t size)
{
    uint64_t n;
    int rc;
    if ((rc = idl_count_ok(w, pg, size >= 8 ? cvs__get_u64(p) : 0, size)))
        return rc;
    n = cvs__get_u64(p);
    for (uint64_t i = 1; i <= n; i++)
        if ((rc = id_take(w, pg, cvs__get_u64(p + 8 * i))))
            return rc;
    return CVS_OK;
}

/* A value on overflow pages from opg on, size bytes long, read a page's
 * worth at a time into buf (one page): a damaged size costs reads, never
 * an allocation as large as the file.  The value starts HDR bytes into its
 * first page and runs on contiguously; a page's worth is a multiple of 8,
 * so no page number straddles two reads. */
static int big_take(fwalk *w, uint64_t pg, uint64_t opg, size_t size, unsigned char *buf)
{
    uint64_t pages, n = 0, need = size, base;
    size_t ps = w->m->psize;
    int rc;
    if ((rc = page_read(w, opg, buf)))
        return rc;
    pages = cvs__get_u32(buf + 12);
    if (!(cvs__get_u16(buf + 10) & P_OVERFLOW) || pages == 0 ||
        size > pages * w->m->psize - HDR)
        return damaged(w, opg, "is not the start of a large value that long");
    w->reads--; /* page_read counted the first page; in_file counts the run */
    if ((rc = in_file(w, opg, pages)))
        return rc;
    if (size < 8 || size % 8)
        return idl_count_ok(w, pg, 0, size);
    base = opg * w->m->psize + HDR;
    /* need shrinks to the count's bytes once it is read: LMDB reserves
     * values before it fills them (the file head's note). */
    for (uint64_t off = 0; off < need; off += ps) {
        size_t len = need - off < ps ? (size_t)(need - off) : ps;
        rc = read_at(w->fd, buf, len, base + off, NULL, w->why, w->nwhy);
        if (rc)
            return rc == 1 ? damaged(w, opg, "lies past the end of the file (it shrank)") : rc;
        for (size_t j = 0; j < len; j += 8) {
            if (off + j == 0) {
                n = cvs__get_u64(buf);
                if ((rc = idl_count_ok(w, pg, n, size)))
                    return rc;
                need = (n + 1) * 8;
                if (len > need)
                    len = (size_t)need;
            } else if ((rc = id_take(w, pg, cvs__get_u64(buf + j)))) {
                return rc;
            }
        }
    }
    return CVS_OK;
}

/* The subtree under page pg, at level (1 = the root) of the tree's depth. */
static int subtree(fwalk *w, uint64_t pg, unsigned level)
{
    unsigned char *p = w->buf + (size_t)level * w->m->psize;
    size_t ps = w->m->psize, n;
    unsigned flags, lower, upper;
    int rc;
    if ((rc = page_read(w, pg, p)))
        return rc;
    flags = cvs__get_u16(p + 10) & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META | P_LEAF2);
    lower = cvs__get_u16(p + 12);
    upper = cvs__get_u16(p + 14);
    if (lower < HDR || (lower & 1) || lower > upper || upper > ps)
        return damaged(w, pg, "has inconsistent free-space bounds");
    n = (lower - HDR) / 2;
    if (flags != (level < w->m->free_depth ? P_BRANCH : P_LEAF))
        return damaged(w, pg, "is of the wrong kind for its level");
    if (level < w->m->free_depth && n == 0)
        return damaged(w, pg, "is a branch page without nodes");
    for (size_t i = 0; i < n; i++) {
        size_t off = cvs__get_u16(p + HDR + 2 * i), ks, dsize;
        const unsigned char *nd = p + off;
        unsigned nf;
        if (off < upper || off + NODE > ps || NODE + (size_t)cvs__get_u16(nd + 6) > ps - off)
            return damaged(w, pg, "has a node outside the page");
        nf = cvs__get_u16(nd + 4);
        ks = cvs__get_u16(nd + 6);
        if (level < w->m->free_depth) {
            if ((rc = subtree(w, (uint64_t)cvs__get_u16(nd) |
                                     (uint64_t)cvs__get_u16(nd + 2) << 16 | (uint64_t)nf << 32,
                              level + 1)))
                return rc;
            continue;
        }
        dsize = (size_t)cvs__get_u16(nd) | (size_t)cvs__get_u16(nd + 2) << 16;
        if (nf & ~(unsigned)F_BIGDATA)
            return damaged(w, pg, "has a node of a kind the free list never holds");
        if (NODE + ks + (nf & F_BIGDATA ? 8 : dsize) > ps - off)
            return damaged(w, pg, "has a node whose data runs past the page");
        rc = nf & F_BIGDATA
                 ? big_take(w, pg, cvs__get_u64(nd + NODE + ks), dsize, w->buf + (level + 1) * ps)
                 : idl_take(w, pg, nd + NODE + ks, dsize);
        if (rc)
            return rc;
    }
    return CVS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int cvs__lmdb_free_pages(int fd, const cvs__lmdb_meta *m, uint64_t np, uint64_t lo, uint64_t hi,
                         uint64_t **pages, size_t *n, char *why, size_t nwhy)
{
    fwalk w = {.fd = fd, .m = m, .np = np, .lo = lo, .hi = hi, .why = why, .nwhy = nwhy};
    size_t k = 0;
    int rc = CVS_OK;
    *pages = NULL;
    *n = 0;
    if (m->free_root == P_INVALID) {
        if (m->free_depth == 0)
            return CVS_OK;
        snprintf(why, nwhy, "data.mdb is damaged: its free list is empty but has a depth");
        return CVS_ECORRUPT;
    }
    if (m->free_depth == 0 || m->free_depth > MAX_DEPTH) {
        snprintf(why, nwhy, "data.mdb is damaged: its free list is %u levels deep",
                 m->free_depth);
        return CVS_ECORRUPT;
    }
    /* One page per level, and one more for an overflow value's header. */
    if (!(w.buf = malloc((size_t)(m->free_depth + 2) * m->psize))) {
        snprintf(why, nwhy, "out of memory reading data.mdb's free list");
        return CVS_ENOMEM;
    }
    if ((rc = subtree(&w, m->free_root, 1)))
        goto out;
    if (w.n) {
        qsort(w.ids, w.n, sizeof *w.ids, cmp_u64);
        for (size_t i = 0; i < w.n; i++)
            if (k == 0 || w.ids[i] != w.ids[k - 1])
                w.ids[k++] = w.ids[i];
    }
    *pages = w.ids;
    *n = k;
    w.ids = NULL;
out:
    free(w.ids);
    free(w.buf);
    return rc;
}

/* ==== The check ==== */

int cvs__lmdb_short_check(int fd, char *why, size_t nwhy)
{
    cvs__lmdb_meta m;
    struct stat st;
    uint64_t np, *free_pg = NULL, want;
    size_t n = 0;
    int rc;
    if ((rc = meta_and_length(fd, &m, &st, &np, why, nwhy)))
        return rc;
    if (m.last_pg < np)
        return CVS_OK; /* a writer has filled it since the caller looked */
    rc = cvs__lmdb_free_pages(fd, &m, np, np, m.last_pg, &free_pg, &n, why, nwhy);
    if (rc)
        return rc;
    want = m.last_pg - np + 1;
    if (n != want) {
        /* The first page past the end that is not free: free_pg holds the
         * free ones of [np, last_pg], sorted. */
        uint64_t used = np;
        for (size_t i = 0; i < n && free_pg[i] == used; i++)
            used++;
        snprintf(why, nwhy, "data.mdb is cut short: it has %llu bytes, but its pages reach "
                 "%llu, and page %llu, past its end, is in use",
                 (unsigned long long)st.st_size,
                 (unsigned long long)((m.last_pg + 1) * m.psize), /* bounded by meta_read */
                 (unsigned long long)used);
        rc = CVS_ECORRUPT;
    }
    free(free_pg);
    return rc;
}
