/*
 * common.h -- what the cvstore subcommands share: the exit-code contract,
 * error reporting in one format, opening a store, strict number parsing,
 * the stderr progress bar, and JSON output.  The CLI is a thin client of
 * cvstore.h; nothing here reaches into the library's internals.
 */
#ifndef CVS_CLI_COMMON_H
#define CVS_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cvstore.h"
#include "eta.h"

/* ==== Exit codes (documented in `cvstore --help`; scripts rely on them) ==== */

#define CLI_OK    0  /* success */
#define CLI_EUSER 1  /* bad arguments or input, no such store or record */
#define CLI_EFAIL 2  /* internal or I/O error */

/* What stats and check say of a store cvs_link_rule_outdated marks. */
#define CLI_LINKS_OUTDATED                                                                   \
    "mention links were made by an older rule; run `cvstore link` to rebuild them"

/* What check says of a store cvs_text_index_outdated marks. */
#define CLI_TOKENIZER_OUTDATED                                                               \
    "the BM25 index was made by an older tokenizer (Chinese and Japanese text not split "    \
    "into words); it still answers, and the next write (any put or delete) rebuilds it"

/* CLI_LINKS_OUTDATED, or for a shard of a sharded store (cvs_db_get_shard,
 * more than one shard) the same note naming `cvstore-mpi link`: a `cvstore
 * link` of one shard would link against that shard's titles alone and
 * drop its mentions of the others'.  Valid until the next call. */
const char *cli_links_outdated_note(cvs_db *db);
/* For a shard of a sharded store (more than one shard): a message saying
 * that linking it alone sees only its own titles; NULL for any other
 * store.  Valid until the next call. */
const char *cli_shard_link_warning(cvs_db *db);

/* A subcommand: argv[0] is "cvstore NAME" (so getopt's own messages name
 * the command); returns one of the exit codes above. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_mcp(int argc, char **argv);
int cmd_link(int argc, char **argv);
int cmd_context(int argc, char **argv);

/* Maps a cvs return code to an exit code: the caller's fault -> 1, ours or
 * the system's -> 2. */
int cli_exit_code(int rc);

/* Prints "cvstore: CMD: <cvs_strerror>: <cvs_errmsg>" on stderr and returns
 * cli_exit_code(rc).  db may be NULL. */
int cli_fail(const char *cmd, int rc, const cvs_db *db);

/* Prints "cvstore: CMD: <message>" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints a pointer to the usage on stderr after a bad command line and
 * returns CLI_EUSER.  After getopt's "unrecognized option '--jsn'" it adds
 * the option the usage lists that was likely meant ("did you mean
 * '--json'?"). */
int cli_usage_error(const char *usage);

/* Resets getopt before a subcommand parses its own argv (glibc: optind = 0
 * reinitializes completely, including the permutation state).  argv is
 * that argv, kept for cli_usage_error's "did you mean" (NULL: none). */
void cli_getopt_reset(char **argv);

/* Removes `--key-file F` (or --key-file=F) from a subcommand's argv,
 * remembering F for cli_passphrase; returns an exit code.  Called by main for
 * every command, so each accepts the option the same way. */
int cli_key_file_take(const char *cmd, int *argc, char **argv);

/* The passphrase for an encrypted store: the contents of the --key-file (one
 * trailing \n or \r\n dropped, and a lone trailing \r), else $CVSTORE_PASSPHRASE, else none (*pass
 * NULL).  Returns an exit code; free *pass with cli_passphrase_free. */
int cli_passphrase(const char *cmd, char **pass, size_t *len);
/* Wipes and frees a passphrase; NULL is fine. */
void cli_passphrase_free(char *pass, size_t len);

/* Opens the store at path (with the passphrase of cli_passphrase, if any),
 * returning an exit code; on failure the message
 * says which path and why ("no store at PATH" rather than LMDB's ENOENT). */
int cli_open(const char *cmd, const char *path, unsigned flags, cvs_db **db);
/* A flag of cli_open: a store that cannot be opened for writing (a
 * read-only file system) is opened read-only instead, with a note on
 * stderr, for a command that can serve reads without writing. */
#define CLI_OPEN_READ_FALLBACK 0x10000u
/* A flag of cli_open, for `check`: a store the library refuses to open for
 * its damage (CVS_ECORRUPT: data.mdb cut short, meta pages out of range;
 * CVS_EFORMAT: no LMDB file or no cvstore meta record where a store's
 * directory is) is not reported; cli_open returns CLI_DAMAGED instead, the
 * library's message left in cvs_errmsg(NULL), for the caller to give as its
 * finding. */
#define CLI_OPEN_DAMAGE_VERDICT 0x20000u
#define CLI_DAMAGED (-1)

/* A store cli_open opened tells, when a write of the command waits more
 * than about a second for another process's writer (cvs_db_set_wait_fn),
 * on a terminal only: "cvstore: CMD: waiting for another writer (pid N)
 * to finish..." on stderr, clearing a progress bar first.  Commands call
 * cli_wait_quiet for --quiet and --json, whose output stays as it is.
 * cli_waited gives the seconds waited so far and the last writer waited
 * for (*pid 0 when unknown; pid may be NULL). */
void cli_wait_quiet(void);
double cli_waited(int64_t *pid);

/* Strict decimal parse of the whole string into [min, max]; 0 or -1. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Seconds on a monotonic clock. */
double cli_now(void);

/* "12.4 MiB" into buf (at least 16 bytes). */
const char *cli_human_bytes(uint64_t n, char *buf, size_t cap);

/* ISO-8601 UTC with microseconds, "2026-11-23T02:28:10.123456Z", into buf
 * (at least 32 bytes). */
const char *cli_iso8601(int64_t us, char *buf, size_t cap);

/* ==== Interrupts ==== */

/* Ctrl-C, SIGTERM or SIGHUP from here on prints "cvstore: CMD:
 * interrupted: NOTE" on stderr (clearing a progress bar) and ends the
 * process by that signal (exit status 128 + N in the shell), as it would
 * have ended anyway.  NOTE (printf-style, at most ~4 KB) says what the
 * command committed before and what to run to complete it; it is built
 * here, before any signal.  A later call replaces the note (a command
 * that has done one part says what is left).  A signal ignored at start
 * stays ignored. */
void cli_interrupt_note(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For `init`, whose store is not whole until its embedder is attached: a
 * signal after this also removes DIR's data.mdb and lock.mdb, and DIR
 * itself when made_dir (before the note is printed).  Set it with the
 * signals blocked (cli_interrupt_block), right after an exclusive create
 * made those files, so that a signal can never remove another process's
 * store; cli_interrupt_off disarms it once the store is whole. */
void cli_interrupt_remove(const char *dir, int made_dir);
/* The work the note describes is done: the signals get their default
 * action again (a signal now ends the command with nothing to say), and
 * cli_interrupt_remove's files are no longer removed. */
void cli_interrupt_off(void);
/* Blocks (1) or unblocks (0) SIGINT, SIGTERM and SIGHUP: one that comes
 * meanwhile is delivered when they are unblocked. */
void cli_interrupt_block(int block);

/* ==== Progress bar on stderr ==== */

/* Only draws when stderr is a terminal (and !quiet), so redirected runs and
 * scripts get clean logs; redraws at most 10 times a second because a
 * terminal repaint costs more than importing a batch of small records. */
typedef struct cli_progress {
    int enabled;
    int drawn;             /* a line is on screen and must be cleared */
    char phase[32];
    double last_draw;
    cli_eta eta;           /* the phase's recent pace (eta.h) */
} cli_progress;

void cli_progress_init(cli_progress *p, int quiet);
/* total and bytes_total may be 0 when unknown; the ETA then uses whichever
 * is known, or is left out.  The rate and the ETA are the last 20 seconds'
 * pace (eta.h), not the phase's average. */
void cli_progress_update(cli_progress *p, const char *phase, uint64_t done,
                         uint64_t total, uint64_t bytes_done, uint64_t bytes_total);
/* Clears the bar so the next message starts on a clean line. */
void cli_progress_clear(cli_progress *p);

/* ==== Text that may not be text ==== */

/* Ids are bytes: an id may hold a newline, and the hashed ids an encrypted
 * store reports when damaged are binary.  Returns a malloc'd, NUL-terminated
 * copy of s (len bytes) that is printable UTF-8 on one line: a backslash
 * becomes \\, and every control character and every byte that is not part
 * of valid UTF-8 becomes \xNN (hex).  NULL when out of memory. */
char *cli_escape_text(const char *s, size_t len);

/* The --help line of every command that opens a store (cli_take_key_file
 * takes the option before getopt sees it). */
#define CLI_KEY_FILE_HELP                                                      \
    "      --key-file F     an encrypted store's passphrase is F's contents\n"  \
    "                       (else $CVSTORE_PASSPHRASE; docs/SECURITY.md)\n"

/* ==== JSON output ==== */

/* Floats need 9 significant digits to survive a print/parse round trip. */
#define CLI_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

/* Writes j as one line on f and drops the reference; 0 or -1 on failure. */
int cli_json_print(FILE *f, json_t *j);

/* The --json report of a command that has changed the store (j, whose
 * reference it takes; NULL when it could not be made).  The change is
 * committed by then: a report that cannot be written is said on stderr
 * with what was done (`done`, e.g. "the import is committed"), never left
 * to look like a failed command; CLI_EFAIL then (the output asked for is
 * missing: exit code 2), else CLI_OK. */
int cli_json_report(const char *cmd, json_t *j, const char *done);

/* A name from outside (a file name: bytes) as a JSON string: itself when it
 * is UTF-8, else cli_escape_text's \xNN form, since a JSON string can only
 * hold text.  NULL when out of memory. */
json_t *cli_json_name(const char *s);

/* `link --json`'s object, which `import --json` gives as its "link":
 * {"mentions": {...}, "knn": {...}}, each left out when its report is
 * NULL.  NULL when out of memory. */
json_t *cli_link_json(const cvs_link_stats *ls, const cvs_knn_info *ki);

/* Writes s (len bytes, UTF-8) as a JSON string literal; 0 or -1. */
int cli_json_write_string(FILE *f, const char *s, size_t len);

/* Writes a float so that parsing it gives the same float back. */
void cli_write_float(FILE *f, float x);

/* A batch of text queries (--queries FILE.jsonl, "-" for stdin): one
 * {"id", "text"} object per line, blank lines skipped (CRLF line ends and
 * a leading UTF-8 byte order mark too).  Calls fn once per line in file
 * order with the id (the "id" string, an integer "id" as text, else the line
 * number; valid during the call) and the text (NUL-terminated, len bytes);
 * stops at the first nonzero return of fn and returns it.  A line that is
 * not such an object is a user error naming the line (CLI_EUSER), and so
 * is a file with no query at all: the whole file is checked before fn is
 * first called, so a bad file answers nothing.  Memory stays bounded
 * whatever the file's size: a first pass checks line by line, a second
 * answers (a stream that is not a regular file is kept in a temporary
 * file meanwhile). */
typedef int (*cli_query_fn)(void *ctx, const char *id, const char *text, size_t len);
int cli_queries_each(const char *cmd, const char *path, cli_query_fn fn, void *ctx);

/* The context-set options shared by `cvstore context` and `cvstore-mpi
 * context`: c is the getopt value of --budget ('b'), --strategy ('s'),
 * --hops ('H'), --fanout ('f'), --bridges ('g'), --lambda ('l'),
 * --lexical-weight ('w'), --fusion ('u'), --unit ('U'), --no-links ('L')
 * or --no-knn ('K'), set into o.  -1 for a bad value or another option,
 * with a message naming cmd (none when cmd is NULL). */
int cli_context_option(const char *cmd, int c, const char *arg, cvs_context_opts *o);

/* Their getopt_long entries, for each command's option table. */
#define CLI_CONTEXT_LONG_OPTIONS                                                     \
    {"budget", required_argument, NULL, 'b'},                                        \
    {"strategy", required_argument, NULL, 's'},                                      \
    {"hops", required_argument, NULL, 'H'},                                          \
    {"fanout", required_argument, NULL, 'f'},                                        \
    {"bridges", required_argument, NULL, 'g'},                                       \
    {"lambda", required_argument, NULL, 'l'},                                        \
    {"lexical-weight", required_argument, NULL, 'w'},                                \
    {"fusion", required_argument, NULL, 'u'},                                        \
    {"unit", required_argument, NULL, 'U'},                                          \
    {"no-links", no_argument, NULL, 'L'},                                            \
    {"no-knn", no_argument, NULL, 'K'},                                              \
    {"exact-words", no_argument, NULL, 'E'}

/* A context set as one JSON object, the shape `cvstore context --json`
 * prints ({"budget", "tokens", "pool", "ms", "items"}); a new reference. */
json_t *cli_context_json(const cvs_context_result *r);

/* cvs_text_empty_note's note for a text question that found nothing, or
 * NULL (also when the text cannot be read: the caller has reported that
 * already, if it matters).  The caller prints it beside the empty set. */
const char *cli_empty_note(const char *text, size_t len);
/* cvs_context_note's note for the context set r of text (may be NULL), or
 * NULL: the question's reason, or the budget's. */
const char *cli_context_note(const cvs_context_result *r, const char *text, size_t len);

/* The sentences rec came with (JSONL "sentences", put's own), read into
 * *buf (grown as needed: *cap pairs, free it after the last call), *n
 * pairs; *n 0 when its text was split by ICU (which an import does again)
 * or it has none.  Returns a cvs code. */
int cli_given_sentences(cvs_txn *txn, const cvs_record *rec, uint32_t **buf, size_t *cap,
                        size_t *n);

/* Record as one JSON object on one line, in the import format
 * {"id","vector","text","meta","links"} (absent parts left out).  meta is
 * copied verbatim: the store keeps it as compact canonical JSON, and
 * re-encoding through jansson would round its doubles.  vec may be NULL.
 * With extra, also "key", "created" and "updated" (ISO-8601, for `get
 * --json`); without, "created_us" and "updated_us" (integer microseconds,
 * which import restores: export).
 * sents (nsents (start, end) byte-offset pairs into rec->text, or NULL)
 * are written as "sentences", the strings they span, after the text.
 * Returns 0 or -1 on a write error. */
int cli_write_record_json(FILE *f, const cvs_record *rec, const float *vec,
                          uint32_t dim, int extra, const uint32_t *sents, size_t nsents);

#endif
