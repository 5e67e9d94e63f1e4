/* testutil.h -- small helpers shared by the Criterion tests. */
#ifndef CVS_TESTUTIL_H
#define CVS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <lmdb.h>

#include "cvstore.h"

/* A fresh empty temporary directory (malloc'd path); removed by tu_rmrf. */
char *tu_tmpdir(void);
/* rm -rf path (a directory or a file). */
void tu_rmrf(const char *path);
/* Writes len bytes to dir/name and returns the malloc'd full path. */
char *tu_write_file(const char *dir, const char *name, const void *data, size_t len);
/* The whole text of the repository's file rel ("docs/FORMAT.md"), malloc'd
 * and NUL-terminated; fails the test when it cannot be read. */
char *tu_read_repo_file(const char *rel);
/* Runs the cvstore CLI with args (a shell-quoted string), captures stdout
 * into *out (malloc'd, may be NULL) and returns the exit code (-1 on a
 * signal). */
int tu_cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether msg tells the user to run `bash PATH ...` with PATH a full path
 * to an existing file named script (a fetcher: "fetch-glove.sh",
 * "fetch-use.sh"); the path found, or "", is copied into buf. */
int tu_names_fetcher(const char *msg, const char *script, char *buf, size_t cap);
/* Calls fn(ctx, bytes, len, c) for every code point c that cvs_text_words
 * counts as a word on its own (its UTF-8 bytes); returns their number. */
size_t tu_each_word_char(void (*fn)(void *ctx, const char *b, size_t n, uint32_t c), void *ctx);
/* Deterministic pseudo-random floats in [-1, 1). */
void tu_randvecs(float *v, size_t n, uint64_t seed);

/* ==== Fixtures (each asserts its own steps) ==== */

/* A new empty store of options o in a fresh temporary directory *dir
 * (malloc'd): the store is *dir itself, or the folder sub inside it when
 * sub is not NULL, which leaves *dir for other files. */
void tu_store_create(const cvs_create_opts *o, const char *sub, char **dir, cvs_db **db);
/* Closes *db and removes *dir, setting both to NULL; either may be NULL. */
void tu_store_remove(char **dir, cvs_db **db);

/* SIFT10K (tests/data/siftsmall): nb base vectors and nq queries of dim
 * floats, and the ground truth, gdim base rows (from 0) a query. */
typedef struct tu_sift {
    float *base, *query;
    int32_t *gt;
    size_t nb, nq, ng;
    uint32_t dim, gdim;
} tu_sift;
/* Loads SIFT10K into *s and its base vectors into a new L2 store (raw f32,
 * keys 1..nb in row order) made by tu_store_create(..., NULL, dir, db). */
void tu_sift_load(tu_sift *s, char **dir, cvs_db **db);
/* Frees what tu_sift_load loaded and removes its store. */
void tu_sift_unload(tu_sift *s, char **dir, cvs_db **db);

/* Writes a GloVe cache into dir, as the glove embedder reads it
 * (CVSTORE_GLOVE_DIR): glove100.words, the n words one a line, and
 * glove100.fvecs, word i's dim floats vecs[i * dim ..] as a row. */
void tu_glove_write(const char *dir, const char *const *words, const float *vecs, size_t n,
                    uint32_t dim);
/* One `cvstore mcp` session over a pipe: a GloVe cache of the n words and
 * their vectors of 4 floats (tu_glove_write), a store dir/g.cvs made by
 * `cvstore init --embedder glove --dim 4`, and input on stdin.  Each reply
 * line is parsed into msg[0..cap), which the caller json_decref's; returns
 * the number of replies.  The session's initialize handshake goes first,
 * its reply not counted; tu_mcp_glove_raw sends input alone. */
size_t tu_mcp_glove(const char *dir, const char *const *words, const float *vecs, size_t n,
                    const char *input, json_t **msg, size_t cap);
size_t tu_mcp_glove_raw(const char *dir, const char *const *words, const float *vecs, size_t n,
                        const char *input, json_t **msg, size_t cap);

/* A child process that opens the store at path and builds its codec (sq8)
 * holding the writer's lock in the encoding pass until tu_release_writer
 * (or tu_child_done) releases it, or 8 s pass (stretched under the
 * sanitizers) for a waiter the test cannot watch (a CLI process); returns
 * its pid once it holds the lock.  One at a time.  The store must have
 * records and be closed in this process or opened after the fork only.
 * tu_child_done releases it, waits for it and asserts it succeeded. */
pid_t tu_hold_writer(const char *path);
void tu_release_writer(void);
void tu_child_done(pid_t pid);

/* The internal key of the record with this id, -1 when there is none. */
int64_t tu_key_of(cvs_db *d, const char *id);

/* A record of id and vector, every other field empty. */
cvs_record tu_rec(const char *id, const float *v);

/* One value written behind the store's back (a damaged store, an old
 * format): cvs__write(db, tu_raw_put_fn, &(tu_raw_put){dbi, key, value}). */
typedef struct tu_raw_put {
    MDB_dbi dbi;
    MDB_val k, v;
} tu_raw_put;
int tu_raw_put_fn(cvs_db *d, MDB_txn *txn, void *arg);

/* A bag-of-words hash embedder of dim floats a text (an embedder
 * callback's body): each run of ASCII letters and digits, folded, adds 1
 * at its FNV-1a hash mod dim, so texts of the same words embed alike;
 * CVS_EINPUT for a text with no such run.  The word "boom" also puts a NaN
 * in the vector (an embedder that fails: CVS_EIO to the caller) when
 * boom is set. */
int tu_bow_embed(const char *const *texts, const size_t *lens, size_t n, float *out, size_t dim,
                 int boom);

#endif
