/*
 * bm25.h -- the BM25 index as a derived structure: its module table and
 * per-handle state, for the structures that read its postings (the mention
 * linker, graph/link.c).  The index itself is query/bm25.c; its entry
 * points are in query/text.h.  Not installed.
 */
#ifndef CVS_TEXT_BM25_H
#define CVS_TEXT_BM25_H

#include "store/module.h"

/* ==== The text module (store/module.h): the BM25 index ==== */

struct cvs__text_state {
    MDB_dbi dbi_terms;     /* "terms": BM25 term -> postings (dupsort) */
};
extern const cvs__module cvs__text_module;
static inline struct cvs__text_state *cvs__text(const cvs_db *db)
{
    return (struct cvs__text_state *)cvs__module_state(db, &cvs__text_module);
}

#endif
