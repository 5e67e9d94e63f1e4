/*
 * sentences.h -- the sentence table: per-record sentence offsets, a
 * structure derived from each record's text (text/sentences.c).  Not
 * installed.
 *
 * The functions are shaped like the slots of a derived-structure module:
 * open (or create) its database, on_put and on_delete inside the store's
 * write transaction, check, and rebuild for a store written before the
 * table existed.  The layout of the "sents" database is in docs/FORMAT.md.
 */
#ifndef CVS_SENTENCES_H
#define CVS_SENTENCES_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "cvstore.h"
#include "store/module.h"
#include "store/spans.h"

/* Version of the split rules (ICU's sentence break iterator, locale
 * "en@ss=standard", segments trimmed of white space, blank ones dropped).
 * Stored in every value; a value of another version is not trusted (it is
 * split again when read, and rewritten by the next rebuild). */
#define CVS_SENT_VERSION 1u
/* Value flag: the offsets came with the record (JSONL "sentences",
 * cvs_record.sentences) rather than from the split. */
#define CVS_SENT_GIVEN 0x10000u
#define CVS_SENT_HEADER 16     /* u32 tag, u32 text_len, u32 hash, u32 n */


/* ==== Splitting ==== */

/* Splits text (len bytes of UTF-8) into sentences with ICU's sentence break
 * iterator, replacing sp's contents.  A text of 4 GiB or more (beyond
 * 32-bit offsets) is not split: n = 0.  CVS_ENOMEM, or CVS_EINPUT when ICU
 * refuses the text. */
int cvs__sent_split(const char *text, size_t len, cvs_spans *sp);


/* Checks caller-given spans (n pairs) against a text of len bytes: each
 * within the text, start <= end, starts non-decreasing, and both ends on
 * UTF-8 character boundaries.  CVS_EINPUT with the reason otherwise. */
int cvs__sent_valid(const char *text, size_t len, const uint32_t *pairs, size_t n);

/* ==== Module slots ==== */


/* Drops and refills the table from every stored text. */
int cvs__sent_rebuild(cvs_db *db, MDB_txn *txn);

/* Inside a put's write transaction: stores r's sentences (r->sentences when
 * given, else the split of r->text) or removes the entry when r has no
 * text.  existed: the key held a record before this put (a new key has no
 * entry to remove: internal keys are never reused).  Everything stays
 * inside txn, since a put is retried from scratch when the map grows. */
int cvs__sent_on_put(cvs_db *db, MDB_txn *txn, uint64_t key, int existed, const cvs_record *r);

/* Inside a delete's write transaction: removes key's entry. */
int cvs__sent_on_delete(cvs_db *db, MDB_txn *txn, uint64_t key);

/* cvs_check's part: every record with a text has an entry, every entry
 * belongs to a record with a text, and each entry decodes, matches its
 * text (length and hash) and has valid spans. */
int cvs__sent_check(cvs_db *db, MDB_txn *txn, void (*problem)(void *ctx, const char *msg),
                    void *ctx);

/* ==== Reading ==== */

/* The sentences of record key, whose text (len bytes) the caller read in
 * the same transaction: the stored spans when they are of this version and
 * match the text, else the split computed now (an old store opened
 * read-only, or an entry left stale by an older cvstore). */
int cvs__sent_get(cvs_db *db, MDB_txn *txn, uint64_t key, const char *text, size_t len,
                  cvs_spans *sp);

/* The sentence table's module (store/module.h), and its database's handle
 * (tests). */
extern const cvs__module cvs__sent_module;
MDB_dbi cvs__sent_dbi(const cvs_db *db);

#endif
