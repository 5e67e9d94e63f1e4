/*
 * lmdb_pages.h -- data.mdb's meta pages and free list read with pread
 * (store/lmdb_pages.c).  Internal to store/.
 */
#ifndef CVS_STORE_LMDB_PAGES_H
#define CVS_STORE_LMDB_PAGES_H

#include <stddef.h>
#include <stdint.h>

/* What the newer of data.mdb's two meta pages says. */
typedef struct {
    uint64_t txnid;   /* the transaction that wrote it */
    uint64_t last_pg; /* the last page the snapshot counts (used or free) */
    uint64_t mapsize; /* the map size it asks for */
    uint32_t psize;   /* the page size */
    unsigned meta;    /* 0 or 1: which meta page */
    uint64_t free_root;     /* the free list's root page, ~0 when empty */
    unsigned free_depth;    /* its depth */
} cvs__lmdb_meta;

/* Reads both meta pages of data.mdb (open as fd) with pread and picks the
 * newer, as LMDB does at open (mdb_env_read_header).  CVS_OK; CVS_ECORRUPT
 * when the file is shorter than its meta pages, one gives a page size
 * other than the one LMDB uses on this host, or the newer counts more
 * pages or asks for a larger map than any host can map; CVS_EFORMAT when
 * a meta page is not LMDB's; CVS_EVERSION for another LMDB data version;
 * CVS_EIO when the file cannot be read.  why (nwhy bytes) receives a
 * sentence naming data.mdb on every failure. */
int cvs__lmdb_meta_read(int fd, cvs__lmdb_meta *m, char *why, size_t nwhy);

/* *none = 1 when data.mdb (open as fd) holds no committed transaction:
 * it is empty, or holds no more than LMDB's first write to a new file (its
 * meta pages, transaction id 0, the second possibly cut short), else 0.
 * CVS_OK, or CVS_EIO when the file cannot be measured. */
int cvs__lmdb_uncommitted(int fd, int *none);

/* The checks cvs__db_open makes before LMDB reads data.mdb (open as fd):
 * cvs__lmdb_meta_read's, and CVS_ECORRUPT when the newer meta page counts
 * more pages past the end of the file than its free list could name.  Two
 * preads and an fstat.  Codes and why as cvs__lmdb_meta_read. */
int cvs__lmdb_open_check(int fd, char *why, size_t nwhy);

/* The pages in [lo, hi] that the free list of snapshot m lists, read with
 * pread from fd, whose first np pages are wholly in the file: *pages
 * (malloc'ed, the caller frees it; NULL when *n is 0) sorted, without
 * repeats.  CVS_ECORRUPT (why says which page and what) when a page of the
 * free list lies outside the first np or is malformed; CVS_ENOMEM;
 * CVS_EIO. */
int cvs__lmdb_free_pages(int fd, const cvs__lmdb_meta *m, uint64_t np, uint64_t lo, uint64_t hi,
                         uint64_t **pages, size_t *n, char *why, size_t nwhy);

/* CVS_OK when every page of data.mdb's newest snapshot that lies past the
 * end of the file (fd) is on its free list, so LMDB never reads it;
 * CVS_ECORRUPT (why: "data.mdb is cut short: ...") when a page in use does,
 * or the other codes of the two functions above.  The caller keeps a read
 * transaction open across the call, so that no writer reuses the pages the
 * walk reads. */
int cvs__lmdb_short_check(int fd, char *why, size_t nwhy);

#endif
