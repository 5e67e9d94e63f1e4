#!/usr/bin/env python3
"""Writes the seeds of fuzz/corpus/lmdb_pages: data.mdb files in LMDB 0.9's
layout (store/lmdb_pages.c), made by hand because the replay driver takes
inputs of at most 4096 bytes and LMDB writes pages of the OS page size.
They use 512-byte pages (the smallest the reader takes): meta pages 0 and 1,
a free list of depth 2 (branch page 2, leaf pages 3 and 4, one entry inline,
one on overflow page 5), free pages 6 and 7, and 8 whole pages in the file.

  short-whole.mdb  last page 9: pages 8 and 9, past the end, are free
  short-cut.mdb    last page 10: page 10, past the end, is in use
"""
import os
import struct

PS = 512
P_BRANCH, P_LEAF, P_OVERFLOW, P_META = 1, 2, 4, 8
F_BIGDATA = 1
INVALID = 2**64 - 1


def page(pgno, flags, nodes=(), pages=None):
    """A page with nodes (bytes each) packed from its end, as LMDB does."""
    p = bytearray(PS)
    upper, ptrs = PS, []
    for nd in nodes:
        upper -= len(nd) + (len(nd) & 1)
        p[upper:upper + len(nd)] = nd
        ptrs.append(upper)
    lower = 16 + 2 * len(ptrs)
    struct.pack_into("<QHH", p, 0, pgno, 0, flags)
    if pages is None:
        struct.pack_into("<HH", p, 12, lower, upper)
        struct.pack_into("<%dH" % len(ptrs), p, 16, *ptrs)
    else:
        struct.pack_into("<I", p, 12, pages)
    return p


def branch_node(child, key):
    return struct.pack("<HHHH", child & 0xffff, (child >> 16) & 0xffff, child >> 32,
                       len(key)) + key


def leaf_node(key, data, flags=0, size=None):
    size = len(data) if size is None else size
    return struct.pack("<HHHH", size & 0xffff, size >> 16, flags, len(key)) + key + data


def idl(ids):
    return struct.pack("<%dQ" % (len(ids) + 1), len(ids), *ids)


def db(flags, depth, root, pad=0):
    return struct.pack("<IHHQQQQQ", pad, flags, depth, 0, 0, 0, 0, root)


def meta(pgno, txnid, last):
    m = struct.pack("<IIQQ", 0xBEEFC0DE, 1, 0, 1 << 20)
    m += db(0, 2, 2, pad=PS) + db(0, 0, INVALID) + struct.pack("<QQ", last, txnid)
    p = page(pgno, P_META)
    p[16:16 + len(m)] = m
    return p


def store(last):
    big = idl([7, 6])
    pages = [meta(0, 4, last), meta(1, 3, last),
             page(2, P_BRANCH, [branch_node(3, b""), branch_node(4, struct.pack("<Q", 4))]),
             page(3, P_LEAF, [leaf_node(struct.pack("<Q", 3), idl([9, 8]))]),
             page(4, P_LEAF, [leaf_node(struct.pack("<Q", 4), struct.pack("<Q", 5), F_BIGDATA,
                                        size=len(big))]),
             page(5, P_OVERFLOW, pages=1), bytearray(PS), bytearray(PS)]
    pages[5][16:16 + len(big)] = big
    return b"".join(pages)


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "lmdb_pages")
os.makedirs(here, exist_ok=True)
for name, last in (("short-whole.mdb", 9), ("short-cut.mdb", 10)):
    with open(os.path.join(here, name), "wb") as f:
        f.write(store(last))
