/*
 * search.c -- `cvstore search`: the k nearest records to one or more query
 * vectors, taken from a file, from a stored record (--query-id: "words
 * nearest to king"), or from the command line.  Search and the mapping of
 * internal keys back to ids run in one snapshot, so a concurrent delete
 * cannot leave a result without an id.  Output is a table for people, or
 * with --json one line per query for programs, in query order.  --filter
 * restricts the results to records whose metadata matches (cvs_filter_parse).
 * --bm25 ranks text queries lexically (cvs_txn_text_search) instead of by
 * their embedding, as Python's search(mode="bm25") does: a store with no
 * embedder can answer them, and the output is the same.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore search DB (--query-file F [--format FMT] | --query-id ID |\n"
    "                          --query-vector \"x,y,...\" | --text \"...\" |\n"
    "                          --queries FILE.jsonl) -k K [--json]\n"
    "                          [--exact | --codes [--rerank R] |\n"
    "                           --ann [--nprobe N] [--rerank R] [--refine E]\n"
    "                                 [--threads T] | --bm25]\n"
    "                          [--filter JSON] [--include text,title,meta]\n"
    "\n"
    "Prints the K nearest records to each query, best first.  The score is the\n"
    "Euclidean distance for l2 stores (smaller is nearer) and the similarity for\n"
    "ip and cosine stores (larger is nearer); with --bm25 it is the BM25 score\n"
    "(larger is nearer).\n"
    "\n"
    "Options:\n"
    "  -q, --query-file F   queries from a vector file (fvecs, bvecs, npy, jsonl)\n"
    "  -f, --format FMT     format of --query-file (default: from the extension)\n"
    "  -i, --query-id ID    the vector of the stored record ID; that record itself\n"
    "                       is left out of the results\n"
    "  -v, --query-vector V one query, comma-separated numbers\n"
    "  -T, --text TEXT      one query as text, embedded by the store's embedder\n"
    "                       (a store made with cvstore init --embedder)\n"
    "      --queries FILE   a batch of text queries (- reads stdin), one\n"
    "                       {\"id\", \"text\"} object per line, each embedded like\n"
    "                       --text; answered in JSON, one\n"
    "                       line per query in file order with \"query_id\" added;\n"
    "                       a query that cannot be embedded (no word of the\n"
    "                       vocabulary) gets {\"error\": ...} instead of results\n"
    "  -k, --k K            number of results per query (required)\n"
    "  -j, --json           one line per query:\n"
    "                       {\"query\": 0, \"results\": [{\"id\": \"7\", \"score\": 0.87}, ...]}\n"
    "      --include LIST   with --json: add each hit's payload, any of text,\n"
    "                       title and meta, comma-separated (absent parts are\n"
    "                       left out; meta is the stored object, verbatim)\n"
    "  -a, --ann            search the ANN index (cvstore build --index ivf or\n"
    "                       faiss:FACTORY); the default when the store has one\n"
    "  -e, --exact          exact search (a full scan of the stored vectors; the\n"
    "                       default without an ANN index)\n"
    "  -c, --codes          scan all the compressed codes (after cvstore build)\n"
    "  -b, --bm25           lexical search: BM25 over the records' title and text\n"
    "                       (text queries only: --text or --queries; no\n"
    "                       embedder needed).  A query with no indexable word\n"
    "                       (empty, stop words only) has no results.  Takes no\n"
    "                       --filter, --rerank, --nprobe, --refine or --threads\n"
    "  -n, --nprobe N       with --ann: inverted lists to visit (efSearch for a\n"
    "                       FAISS HNSW index; default: the store's, see cvstore\n"
    "                       stats and cvstore tune)\n"
    "  -r, --rerank R       re-score the R best by their stored vectors; --codes:\n"
    "                       default 100, 0 = code distances only; --ann: default\n"
    "                       the store's, 0 = code distances only\n"
    "      --refine E       with --ann over an ivfN,sq8 index: score the best E\n"
    "                       (at least K) of the SQ8 re-rank again exactly from\n"
    "                       the stored vectors; 0 = none (default: the store's,\n"
    "                       see cvstore tune)\n"
    "  -t, --threads T      with --ann: threads for a file of queries (default:\n"
    "                       one per core)\n"
    "  -F, --filter JSON    only records whose metadata matches, e.g.\n"
    "                       '{\"lang\": \"en\", \"year\": {\"$gte\": 2000}}' (equality on\n"
    "                       strings, numbers and booleans, $in, $gt $gte $lt $lte,\n"
    "                       \"$ids\": [...] an allow-list of ids; members are ANDed).\n"
    "                       K results come back whenever at least K records match\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n"
    "\n"
    "In the table, ids that are not printable text on one line (a newline, a\n"
    "control character) show those characters as \\xNN and a backslash as \\\\.\n";

/* Text column width, in characters: enough to recognize a document, short
 * enough to keep one result per line. */
#define TEXT_CHARS 60

/* Parses "0.1,0.2,..." into exactly dim finite floats. */
static int parse_vector(const char *s, uint32_t dim, float *out)
{
    const char *p = s;
    uint32_t n = 0;

    for (;;) {
        char *end;
        float v;
        while (*p == ' ' || *p == '\t')
            p++;
        errno = 0;
        v = strtof(p, &end);
        if (end == p || !isfinite(v)) {
            cli_err("search", "--query-vector: not a finite number at '%.20s'", p);
            return -1;
        }
        if (n == dim) {
            cli_err("search", "--query-vector has more than %u values (the store's dimension)", dim);
            return -1;
        }
        out[n++] = v;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (*p != ',') {
            cli_err("search", "--query-vector: expected ',' at '%.20s'", p);
            return -1;
        }
        p++;
    }
    if (n != dim) {
        cli_err("search", "--query-vector has %u values; the store's dimension is %u", n, dim);
        return -1;
    }
    return 0;
}

/* Prints up to TEXT_CHARS characters of s, whole UTF-8 sequences only, with
 * control characters (newlines, tabs) shown as spaces to keep the table. */
static void print_snippet(const char *s, size_t len)
{
    size_t i = 0, chars = 0;
    while (i < len && chars < TEXT_CHARS) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        if (i + n > len)
            break;
        if (ch < 0x20 || ch == 0x7f)
            putchar(' ');
        else
            fwrite(s + i, 1, n, stdout);
        i += n;
        chars++;
    }
    if (i < len)
        fputs("...", stdout);
}

/* --include: what each JSON hit carries besides id and score. */
enum { INC_TEXT = 1, INC_TITLE = 2, INC_META = 4 };

static int parse_include(const char *s, unsigned *out)
{
    *out = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 4 && !strncmp(s, "text", 4))
            *out |= INC_TEXT;
        else if (n == 5 && !strncmp(s, "title", 5))
            *out |= INC_TITLE;
        else if (n == 4 && !strncmp(s, "meta", 4))
            *out |= INC_META;
        else
            return -1;
        s += n;
        if (*s == ',' && *++s == '\0')
            return -1;
    }
    return *out ? 0 : -1;
}

/* Writes x as jansson writes a real under CLI_JSON_FLAGS, so that the
 * hand-written hits below read like every other JSON line. */
static int write_real(FILE *f, double x)
{
    json_t *j = json_real(x);
    int rc = j && json_dumpf(j, f, CLI_JSON_FLAGS | JSON_ENCODE_ANY) == 0 ? 0 : -1;
    json_decref(j);
    return rc;
}

/* One hit of a JSON result: {"id", "score"} and what --include asks for.
 * Written by hand rather than through jansson because meta is copied
 * verbatim (re-encoding would round its doubles, as in `get --json`).
 * Returns 0, -1 on a write error, or the CVS_E... code of a failed read
 * (those are all far below -1). */
static int write_hit(FILE *f, cvs_txn *txn, int64_t key, const char *id, size_t id_len,
                     float score, unsigned inc)
{
    cvs_record r;
    int rc;

    fputs("{\"id\":", f);
    if (cli_json_write_string(f, id, id_len))
        return -1;
    fputs(",\"score\":", f);
    if (write_real(f, (double)score))
        return -1;
    if (inc) {
        if ((rc = cvs_get_key(txn, key, &r, NULL)))
            return rc;
        if ((inc & INC_TITLE) && r.title) {
            fputs(",\"title\":", f);
            if (cli_json_write_string(f, r.title, r.title_len))
                return -1;
        }
        if ((inc & INC_TEXT) && r.text) {
            fputs(",\"text\":", f);
            if (cli_json_write_string(f, r.text, r.text_len))
                return -1;
        }
        if ((inc & INC_META) && r.meta && r.meta_len) {
            fputs(",\"meta\":", f);
            fwrite(r.meta, 1, r.meta_len, f);
        }
    }
    fputc('}', f);
    return ferror(f) ? -1 : 0;
}

/* The embedded queries of --queries, with their ids, in file order.  A
 * question that cannot be embedded (no word of the vocabulary) keeps its
 * place with the reason in errs[i] and a stand-in vector whose results are
 * not shown: it is answered with an error, and the others still are. */
typedef struct text_batch {
    cvs_db *db;
    uint32_t dim;
    int bm25;      /* keep the texts (texts, lens) instead of embedding them */
    float *vecs;
    char **ids, **errs, **texts;
    size_t *lens;
    size_t n, cap;
} text_batch;

static void text_batch_free(text_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->ids[i]);
        free(b->errs[i]);
        if (b->texts)
            free(b->texts[i]);
    }
    free(b->ids);
    free(b->errs);
    free(b->texts);
    free(b->lens);
    free(b->vecs);
}

static int embed_line(void *ctx, const char *id, const char *text, size_t len)
{
    text_batch *b = ctx;
    int rc;
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 64;
        /* --bm25 keeps the texts and no vectors; each array is kept as
         * soon as it has grown, so a failure frees what there is. */
        float *v = b->bm25 ? b->vecs : realloc(b->vecs, nc * b->dim * sizeof *v);
        char **ids = v || b->bm25 ? realloc(b->ids, nc * sizeof *ids) : NULL;
        char **errs = ids ? realloc(b->errs, nc * sizeof *errs) : NULL;
        char **texts = errs && b->bm25 ? realloc(b->texts, nc * sizeof *texts) : NULL;
        size_t *lens = texts ? realloc(b->lens, nc * sizeof *lens) : NULL;
        if (v)
            b->vecs = v;
        if (ids)
            b->ids = ids;
        if (errs)
            b->errs = errs;
        if (texts)
            b->texts = texts;
        if (lens)
            b->lens = lens;
        if (!errs || (b->bm25 && !lens))
            return cli_fail("search", CVS_ENOMEM, NULL);
        b->cap = nc;
    }
    b->errs[b->n] = NULL;
    if (b->bm25)
        b->texts[b->n] = NULL;
    if (!(b->ids[b->n] = strdup(id)))
        return cli_fail("search", CVS_ENOMEM, NULL);
    b->n++;
    if (b->bm25) {
        /* len bytes, NUL-terminated: a JSON "\u0000" stays in the text */
        if (!(b->texts[b->n - 1] = malloc(len + 1)))
            return cli_fail("search", CVS_ENOMEM, NULL);
        memcpy(b->texts[b->n - 1], text, len + 1);
        b->lens[b->n - 1] = len;
        return CLI_OK;
    }
    if ((rc = cvs_embed_text(b->db, text, len, b->vecs + (b->n - 1) * b->dim))) {
        float *v = b->vecs + (b->n - 1) * b->dim;
        cli_err("search", "query %s: %s", id, cvs_errmsg(b->db));
        if (rc != CVS_EINPUT)
            return cli_exit_code(rc);
        if (!(b->errs[b->n - 1] = strdup(cvs_errmsg(b->db))))
            return cli_fail("search", CVS_ENOMEM, NULL);
        memset(v, 0, b->dim * sizeof *v);
        v[0] = 1; /* a stand-in any metric accepts */
    }
    return CLI_OK;
}

int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        {"query-file", required_argument, NULL, 'q'},
        {"format", required_argument, NULL, 'f'},
        {"query-id", required_argument, NULL, 'i'},
        {"query-vector", required_argument, NULL, 'v'},
        {"text", required_argument, NULL, 'T'},
        {"queries", required_argument, NULL, 'Q'},
        {"k", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"exact", no_argument, NULL, 'e'},
        {"codes", no_argument, NULL, 'c'},
        {"bm25", no_argument, NULL, 'b'},
        {"rerank", required_argument, NULL, 'r'},
        {"filter", required_argument, NULL, 'F'},
        {"ann", no_argument, NULL, 'a'},
        {"nprobe", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'},
        {"refine", required_argument, NULL, 'E'},
        {"include", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *qfile = NULL, *qid = NULL, *qvec = NULL, *qtext = NULL, *filter_json = NULL;
    const char *qbatch = NULL;
    text_batch tb = {0};
    cvs_format fmt = CVS_FMT_AUTO;
    cvs_db *db = NULL;
    cvs_txn *txn = NULL;
    cvs_info info;
    float *queries = NULL, *loaded = NULL, *own = NULL, *scores = NULL;
    int64_t *labels = NULL, self_key = -1;
    size_t nq = 0, kk;
    uint32_t qdim = 0;
    uint64_t k = 0;
    unsigned flags = 0;
    uint64_t rerank = 100, nprobe = 0, threads = 0;
    uint64_t refine = 0;
    int rerank_given = 0, refine_given = 0;
    cvs_search_params sp = {0};
    cvs_filter *filter = NULL;
    int c, rc, json = 0, nsrc, bm25 = 0;
    unsigned include = 0;

    while ((c = getopt_long(argc, argv, "q:f:i:v:T:k:jecbr:F:an:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            qfile = optarg;
            break;
        case 'f':
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS) {
                cli_err("search", "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'i':
            qid = optarg;
            break;
        case 'v':
            qvec = optarg;
            break;
        case 'k':
            if (cli_parse_u64(optarg, 1, 1u << 20, &k)) {
                cli_err("search", "-k must be an integer from 1 to %u, not '%s'", 1u << 20, optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'c':
            flags |= CVS_SEARCH_CODES;
            break;
        case 'b':
            bm25 = 1;
            break;
        case 'r':
            if (cli_parse_u64(optarg, 0, 1000000, &rerank)) {
                cli_err("search", "--rerank must be an integer from 0 to 1000000, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            rerank_given = 1;
            break;
        case 'a':
            flags |= CVS_SEARCH_ANN;
            break;
        case 'n':
            if (cli_parse_u64(optarg, 1, 65536, &nprobe)) {
                cli_err("search", "--nprobe must be an integer from 1 to 65536, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'E':
            if (cli_parse_u64(optarg, 0, 1000000, &refine)) {
                cli_err("search", "--refine must be an integer from 0 to 1000000, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            refine_given = 1;
            break;
        case 't':
            if (cli_parse_u64(optarg, 1, 1024, &threads)) {
                cli_err("search", "--threads must be an integer from 1 to 1024, not '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'e':
            flags |= CVS_SEARCH_EXACT;
            break;
        case 'F':
            filter_json = optarg; /* parsed below, after the cheap checks */
            break;
        case 'T':
            qtext = optarg;
            break;
        case 'Q':
            qbatch = optarg;
            json = 1;
            break;
        case 'I':
            if (parse_include(optarg, &include)) {
                cli_err("search", "--include takes text, title and meta, comma-separated, "
                        "not '%s'", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (!!(flags & CVS_SEARCH_EXACT) + !!(flags & CVS_SEARCH_CODES) + !!(flags & CVS_SEARCH_ANN) +
            bm25 > 1) {
        cli_err("search", "--exact, --codes, --ann and --bm25 exclude each other");
        return cli_usage_error(usage);
    }
    if (bm25 && (filter_json || rerank_given || nprobe || refine_given || threads)) {
        /* cvs_txn_text_search ranks the whole store, and has no candidates
         * to re-score: taking these and ignoring them would mislead. */
        cli_err("search", "--bm25 takes no --filter, --rerank, --nprobe, --refine or --threads");
        return cli_usage_error(usage);
    }
    if (bm25 && (qfile || qid || qvec)) {
        cli_err("search", "--bm25 searches text: give --text or --queries, not a vector");
        return cli_usage_error(usage);
    }
    if ((nprobe || threads) && (flags & (CVS_SEARCH_EXACT | CVS_SEARCH_CODES))) {
        cli_err("search", "--nprobe and --threads go with --ann");
        return cli_usage_error(usage);
    }
    if (argc - optind != 1) {
        cli_err("search", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (include && !json) {
        cli_err("search", "--include goes with --json (the table shows the text already)");
        return cli_usage_error(usage);
    }
    nsrc = !!qfile + !!qid + !!qvec + !!qtext + !!qbatch;
    if (nsrc != 1) {
        cli_err("search", "give exactly one of --query-file, --query-id, --query-vector, --text, "
                "--queries");
        return cli_usage_error(usage);
    }
    if (!k) {
        cli_err("search", "-k K is required");
        return cli_usage_error(usage);
    }
    if (fmt != CVS_FMT_AUTO && !qfile) {
        cli_err("search", "--format applies to --query-file only");
        return cli_usage_error(usage);
    }

    if (filter_json && cvs_filter_parse(filter_json, strlen(filter_json), &filter)) {
        cli_err("search", "--%s", cvs_errmsg(NULL)); /* "--filter ..." */
        rc = CLI_EUSER;
        goto out;
    }
    if ((rc = cli_open("search", argv[optind], CVS_OPEN_RDONLY, &db)))
        goto out;
    if ((rc = cvs_db_info(db, &info))) {
        rc = cli_fail("search", rc, db);
        goto out;
    }

    /* Queries first: a bad query file should fail before a snapshot is
     * taken, and loading it may take a while. */
    if (qbatch) {
        tb.db = db;
        tb.dim = info.dim;
        tb.bm25 = bm25;
        if ((rc = cli_queries_each("search", qbatch, embed_line, &tb)))
            goto out;
        queries = tb.vecs;
        nq = tb.n;
    } else if (qfile) {
        if ((rc = cvs_vecs_load(qfile, fmt, &loaded, &nq, &qdim))) {
            rc = cli_fail("search", rc, db);
            goto out;
        }
        queries = loaded;
        if (qdim != info.dim) {
            cli_err("search", "%s has dimension %u; the store's is %u", qfile, qdim, info.dim);
            rc = CLI_EUSER;
            goto out;
        }
    } else {
        nq = 1;
        if (!(queries = own = malloc((size_t)info.dim * sizeof *own))) {
            rc = cli_fail("search", CVS_ENOMEM, NULL);
            goto out;
        }
        if (qvec && parse_vector(qvec, info.dim, queries)) {
            rc = CLI_EUSER;
            goto out;
        }
        if (qtext && !bm25 && (rc = cvs_embed_text(db, qtext, strlen(qtext), queries))) {
            rc = cli_fail("search", rc, db);
            goto out;
        }
    }
    if ((rc = cvs_txn_begin(db, &txn))) {
        rc = cli_fail("search", rc, db);
        goto out;
    }
    if (qid) {
        cvs_record r;
        int grc = cvs_get(txn, qid, strlen(qid), &r, queries);
        if (grc == CVS_NOTFOUND) {
            char *m = cli_escape_text(qid, strlen(qid));
            cli_err("search", "not found: %s", m ? m : "?");
            free(m);
            rc = CLI_EUSER;
            goto out;
        }
        if (grc) {
            rc = cli_fail("search", grc, db);
            goto out;
        }
        self_key = r.key;
    }

    /* One extra result for --query-id, since the record itself will be
     * among the nearest and is dropped. */
    kk = (size_t)k + (qid ? 1 : 0);
    if (nq && kk > SIZE_MAX / sizeof(int64_t) / nq) {
        cli_err("search", "%zu queries x %zu results is too many", nq, kk);
        rc = CLI_EUSER;
        goto out;
    }
    labels = malloc((nq ? nq : 1) * kk * sizeof *labels);
    scores = malloc((nq ? nq : 1) * kk * sizeof *scores);
    if (!labels || !scores) {
        rc = cli_fail("search", CVS_ENOMEM, NULL);
        goto out;
    }
    if (bm25) {
        for (size_t q = 0; q < nq; q++) {
            const char *t = qbatch ? tb.texts[q] : qtext;
            size_t tl = qbatch ? tb.lens[q] : strlen(qtext);
            if ((rc = cvs_txn_text_search(txn, t, tl, kk, labels + q * kk, scores + q * kk))) {
                rc = cli_fail("search", rc, db);
                goto out;
            }
        }
    } else if (!(flags & (CVS_SEARCH_EXACT | CVS_SEARCH_CODES))) {
        /* The ANN index when the store has one (asked for or not). */
        cvs_index_info ii;
        int irc = cvs_index_get_info(db, &ii);
        if (irc == CVS_OK) {
            flags |= CVS_SEARCH_ANN;
        } else if (irc != CVS_NOTFOUND || (flags & CVS_SEARCH_ANN)) {
            rc = cli_fail("search", irc, db);
            goto out;
        }
    }
    sp.flags = flags;
    sp.rerank = (size_t)rerank;
    sp.filter = filter;
    if (flags & CVS_SEARCH_ANN) {
        sp.nprobe = (size_t)nprobe;
        sp.threads = (int)threads;
        sp.rerank = rerank_given ? (size_t)rerank : 0;
        if (rerank_given && rerank == 0)
            sp.flags |= CVS_SEARCH_NORERANK;
        if (refine_given)
            sp.refine = refine ? (size_t)refine : CVS_RERANK_NONE;
    }
    if (nq && !bm25 && (rc = cvs_txn_search_params(txn, queries, nq, kk, &sp, labels, scores))) {
        rc = cli_fail("search", rc, db);
        goto out;
    }

    for (size_t q = 0; q < nq; q++) {
        const int64_t *lab = labels + q * kk;
        const float *sc = scores + q * kk;
        size_t shown = 0;

        if (qbatch && tb.errs[q]) { /* --queries answers in JSON */
            json_t *obj = json_pack("{s:I,s:s,s:s}", "query", (json_int_t)q, "query_id", tb.ids[q],
                            "error", tb.errs[q]);
            if (!obj || cli_json_print(stdout, obj)) {
                cli_err("search", "error writing output");
                rc = CLI_EFAIL;
                goto out;
            }
            continue;
        }

        if (json) {
            const char *qname = qid ? qid : qbatch ? tb.ids[q] : NULL;
            printf("{\"query\":%zu", q);
            if (qname) {
                fputs(",\"query_id\":", stdout);
                cli_json_write_string(stdout, qname, strlen(qname));
            }
            fputs(",\"results\":[", stdout);
        } else {
            if (q)
                putchar('\n');
            if (qid) {
                char *shown_id = cli_escape_text(qid, strlen(qid));
                printf("query %s\n", shown_id ? shown_id : "?");
                free(shown_id);
            } else {
                printf("query %zu\n", q);
            }
            printf("%4s  %-20s  %12s  %s\n", "rank", "id", "score", "text");
        }
        for (size_t j = 0; j < kk && shown < k; j++) {
            const char *id;
            size_t id_len;
            int krc;
            if (lab[j] < 0)
                break; /* padding: fewer than k records */
            if (lab[j] == self_key)
                continue;
            if ((krc = cvs_key_id(txn, lab[j], &id, &id_len))) {
                rc = cli_fail("search", krc, db);
                goto out;
            }
            shown++;
            if (json) {
                if (shown > 1)
                    putchar(',');
                if ((krc = write_hit(stdout, txn, lab[j], id, id_len, sc[j], include))) {
                    if (krc == -1) {
                        /* JSON holds no infinity (stores refuse the
                         * vectors that would give one) */
                        cli_err("search", "%s", isfinite(sc[j]) ? "error writing output"
                                                                : "a score is not finite");
                        rc = CLI_EFAIL;
                    } else {
                        rc = cli_fail("search", krc, db);
                    }
                    goto out;
                }
            } else {
                cvs_record r;
                int grc;
                /* An id is bytes: a newline in one must not start a row. */
                char *shown_id = cli_escape_text(id, id_len);
                if (!shown_id) {
                    rc = cli_fail("search", CVS_ENOMEM, NULL);
                    goto out;
                }
                printf("%4zu  %-20s  %12.6f", shown, shown_id, (double)sc[j]);
                free(shown_id);
                grc = cvs_get_key(txn, lab[j], &r, NULL);
                if (grc && grc != CVS_NOTFOUND) {
                    putchar('\n');
                    rc = cli_fail("search", grc, db);
                    goto out;
                }
                if (grc == CVS_OK && r.text) {
                    fputs("  ", stdout);
                    print_snippet(r.text, r.text_len);
                }
                putchar('\n');
            }
        }
        if (json && (fputs("]}\n", stdout) == EOF || ferror(stdout))) {
            cli_err("search", "error writing output");
            rc = CLI_EFAIL;
            goto out;
        }
    }
    rc = CLI_OK;
out:
    free(scores);
    free(labels);
    free(own);
    cvs_free(loaded);
    text_batch_free(&tb);
    cvs_txn_end(txn);
    cvs_db_close(db);
    cvs_filter_free(filter);
    return rc;
}
