/*
 * lmdb_layout.h -- LMDB 0.9's page layout, for the two files that read
 * data.mdb's pages themselves: store/pages.c (through the map) and
 * store/lmdb_pages.c (with pread).  Internal; the short names stay in
 * those two files.
 */
#ifndef CVS_STORE_LMDB_LAYOUT_H
#define CVS_STORE_LMDB_LAYOUT_H

#include <stdint.h>

/* Byte offsets and flags of LMDB 0.9's mdb.c (MDB_page, MDB_node, MDB_db,
 * MDB_meta) on a 64-bit little-endian host, the only hosts we build on. */
enum {
    P_BRANCH = 0x01, P_LEAF = 0x02, P_OVERFLOW = 0x04, P_META = 0x08, P_LEAF2 = 0x20,
    P_SUBP = 0x40,
    F_BIGDATA = 0x01, F_SUBDATA = 0x02, F_DUPDATA = 0x04,
    DB_DUPSORT = 0x04, DB_DUPFIXED = 0x10,
    HDR = 16, NODE = 8, DBREC = 48, MAX_DEPTH = 32,
    /* MDB_meta, just after its page's header */
    META_MAGIC = HDR, META_VERSION = HDR + 4, META_MAPSIZE = HDR + 16, META_DBS = HDR + 24, META_LAST = HDR + 120,
    META_TXNID = HDR + 128, META_END = HDR + 136
};
#define P_INVALID (~(uint64_t)0)
#define CVS__LMDB_MAGIC 0xBEEFC0DEu
#define CVS__LMDB_VERSION 1u
/* LMDB 0.9.24's MAX_PAGESIZE (mdb.c, without MDB_DEVEL). */
#define CVS__LMDB_MAX_PSIZE 0x8000u
/* The most bytes any map can hold: the user address space of a 64-bit
 * Linux host with 57-bit virtual addresses (5-level paging). */
#define CVS__LMDB_MAP_MAX (UINT64_C(1) << 56)

#endif
