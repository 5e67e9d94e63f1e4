/*
 * context.c -- `cvstore context`: a context set for a question (or a batch
 * of them): hybrid seeds, a walk over links and kNN edges, and a selection
 * that fits a token budget (cvs_context in cvstore.h).  The store and its
 * embedder are loaded once per run, so --queries FILE answers a whole batch
 * at the cost of the queries alone.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: cvstore context DB (--text QUESTION | --queries FILE.jsonl |\n"
    "                           --query-vector \"x,y,...\" | --query-file F [--format FMT])\n"
    "                       [--budget TOKENS] [--strategy diverse|topk|mmr|bm25|vector]\n"
    "                       [--hops N] [--fanout N] [--bridges N] [--lambda L]\n"
    "                       [--lexical-weight W] [--unit passage|sentence]\n"
    "                       [--fusion rrf|weighted] [--no-links] [--no-knn]\n"
    "                       [--exact-words] [--filter JSON] [--json]\n"
    "\n"
    "Prints the records that answer a question best within a token budget\n"
    "(tokens = ceil(UTF-8 bytes of title + text / 4)).  Seeds come from BM25 and\n"
    "vector search fused; a walk of --hops steps over links (explicit and the\n"
    "\"mentions\" of `cvstore link`) and kNN edges adds what the seeds point to;\n"
    "the strategy picks the set: diverse (default: relevance plus coverage of\n"
    "the candidates, near-duplicates suppressed), topk, mmr, or the baselines\n"
    "bm25 and vector (one ranking alone, no walk).  A question in words\n"
    "(--text, --queries) gets sentences by default (--unit sentence): the\n"
    "candidates are found the same way, then cut down to the sentences that\n"
    "answer the question (each item prints its title and its chosen sentences\n"
    "in their order; tokens count what is printed); --unit passage prints whole\n"
    "records, the default for a query vector.\n"
    "\n"
    "With --json, one object per query on one line:\n"
    "  {\"query\", \"budget\", \"tokens\", \"pool\" (candidates chosen from), \"ms\",\n"
    "   \"items\": [{\"id\", \"score\", \"tokens\", \"hop\", \"via\": [{\"id\", \"type\"}, ...],\n"
    "   \"title\", \"text\", \"meta\"}]}\n"
    "(\"meta\": the record's metadata object, when it has one)\n"
    "(with --unit sentence each item also has \"sentences\": the indexes of its\n"
    "chosen sentences among the record's; a sentence longer than the whole\n"
    "budget may be there in part, its clauses that answer, listed once)\n"
    "An empty set for a question of stop words only (\"who was the\": nothing\n"
    "reads them) says so on stderr and in a \"note\" member; exit 0; so does one\n"
    "whose candidates are each longer than the budget.\n"
    "--queries FILE.jsonl reads one {\"id\", \"text\"} object per line and answers\n"
    "each with one such line (always JSON), with \"query_id\" added, in file order;\n"
    "a question with no words (blank, only punctuation or symbols) or that\n"
    "cannot be embedded gets {\"query_id\", \"query\", "
    "\"error\"}; a line that is not such an object refuses the file (exit 1)\n"
    "before any question is answered.\n"
    "--query-file F (fvecs, bvecs, npy, jsonl; --format when its name does not\n"
    "say) takes query vectors instead of text (vector seeds only); \"query\" is\n"
    "then the row number.\n"
    "\n"
    "Options:\n"
    "  -t, --text Q            the question\n"
    "      --queries FILE      a batch of questions, JSONL (- reads stdin)\n"
    "      --query-vector V    one query vector, comma-separated\n"
    "      --query-file F      query vectors (fvecs, bvecs, npy, jsonl)\n"
    "      --format FMT        format of --query-file (default: from the extension)\n"
    "  -b, --budget N          token budget (default 512)\n"
    "  -s, --strategy S        diverse (default), topk, mmr, bm25, vector\n"
    "      --hops N            graph hops from the seeds (default 2; 0 = none)\n"
    "      --fanout N          edges followed per node and kind (default 8)\n"
    "      --bridges N         seeds that issue a bridge query, BM25 for the question's\n"
    "                          words they lack plus their words the question lacks\n"
    "                          (default 3; 0 = none)\n"
    "      --lambda L          mmr: relevance vs. novelty in [0, 1] (default 0.7)\n"
    "      --lexical-weight W  share of BM25 in the fusion, [0, 1] (default 0.8)\n"
    "      --fusion F          weighted (default: normalized scores) or rrf\n"
    "      --unit U            sentence (default for --text and --queries: the\n"
    "                          records' sentences that answer) or passage (whole\n"
    "                          records; default for query vectors)\n"
    "      --no-links          do not follow links\n"
    "      --no-knn            do not follow kNN edges\n"
    "      --exact-words       a question that names no title is ranked by its\n"
    "                          words as written, not also their other forms in\n"
    "                          the store (\"invented\" finding \"invention\"), as\n"
    "                          an encrypted store ranks it\n"
    "      --filter JSON       only records whose metadata matches, as search\n"
    "                          --filter takes it, e.g. '{\"tenant\": \"acme\"}': no\n"
    "                          seed, walk step or item outside it (the walk does\n"
    "                          not pass through one); none matching: an empty set\n"
    "      --json              JSON output\n"
    CLI_KEY_FILE_HELP
    "  -h, --help              show this help\n";

/* "x,y,..." into a malloc'd array of exactly dim floats. */
static int parse_vector(const char *s, uint32_t dim, float **out)
{
    float *v = malloc(dim * sizeof *v);
    uint32_t n = 0;
    const char *p = s;
    if (!v)
        return -1;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || n == dim || !isfinite(x)) {
            free(v);
            return -1;
        }
        v[n++] = (float)x;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p) {
            free(v);
            return -1;
        }
    }
    if (n != dim) {
        free(v);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_text(const cvs_context_result *r)
{
    printf("context: %zu items, %zu of %zu tokens, %zu candidates, %.2f ms\n", r->n, r->tokens,
           r->budget, r->pool, r->seconds * 1e3);
    for (size_t i = 0; i < r->n; i++) {
        const cvs_context_item *it = &r->items[i];
        printf("\n[%zu] %.*s  score %.4f  %zu tokens  hop %d  via", i + 1, (int)it->id_len, it->id,
               it->score, it->tokens, it->hop);
        for (int s = 0; s <= it->hop; s++)
            printf("%s %s %.*s", s ? " ->" : "", it->via[s].type, (int)it->via[s].id_len,
                   it->via[s].id);
        printf("\n");
        if (it->title)
            printf("    %.*s\n", (int)it->title_len, it->title);
        if (it->text) {
            size_t n = it->text_len > 300 ? 300 : it->text_len;
            while (n < it->text_len && n > 0 && ((unsigned char)it->text[n] & 0xc0) == 0x80)
                n--; /* do not cut a UTF-8 sequence */
            printf("    %.*s%s\n", (int)n, it->text, n < it->text_len ? " ..." : "");
        }
    }
}

/* One query: text and/or vector; prints one line (JSON) or the listing. */
static int answer(cvs_db *db, cvs_txn *t, const cvs_context_opts *o, const char *text,
                  const float *qvec, json_t *qfield, const char *qid, int json)
{
    cvs_context_result r;
    const char *note;
    /* A question of a batch with no words (blank, punctuation, symbols) is a hole
     * in the file, not a question nothing answers: said as --text "" is,
     * and the batch goes on (cvs_txn_context would refuse it). */
    size_t words = 1;
    int blank = qid && text && !qvec && !cvs_text_words(text, strlen(text), &words) && !words;
    int rc = blank ? CVS_EINPUT : cvs_txn_context(t, o, text, text ? strlen(text) : 0, qvec, &r);
    if (rc == CVS_EINPUT && qid) {
        /* A question of a --queries batch that cannot be answered for what
         * it is (no word the embedder knows, with a strategy that needs the
         * vector): its line says so and the batch goes on.  A store error
         * still stops it. */
        const char *why = blank ? "empty question" : cvs_errmsg(db);
        json_t *j = json_pack("{s:s, s:o, s:s}", "query_id", qid, "query", qfield, "error", why);
        cli_err("context", "query %s: %s", qid, why);
        return cli_json_print(stdout, j) ? cli_fail("context", CVS_ENOMEM, NULL) : CLI_OK;
    }
    if (rc) {
        json_decref(qfield);
        return cli_fail("context", rc, db);
    }
    note = cli_context_note(&r, text, text ? strlen(text) : 0);
    if (note && qid)
        cli_err("context", "query %s: %s", qid, note);
    else if (note)
        cli_err("context", "%s", note);
    if (json) {
        json_t *j = cli_context_json(&r);
        if (qid)
            json_object_set_new(j, "query_id", json_string(qid));
        json_object_set_new(j, "query", qfield);
        if (note)
            json_object_set_new(j, "note", json_string(note));
        rc = cli_json_print(stdout, j) ? CLI_EFAIL : CLI_OK;
    } else {
        json_decref(qfield);
        print_text(&r);
    }
    cvs_context_result_free(&r);
    return rc;
}

typedef struct batch_ctx {
    cvs_db *db;
    cvs_txn *t;
    const cvs_context_opts *o;
} batch_ctx;

static int answer_line(void *ctx, const char *id, const char *text, size_t len)
{
    batch_ctx *b = ctx;
    return answer(b->db, b->t, b->o, text, NULL, json_stringn(text, len), id, 1);
}

int cmd_context(int argc, char **argv)
{
    static const struct option opts[] = {
        {"text", required_argument, NULL, 't'},
        {"queries", required_argument, NULL, 'Q'},
        {"query-vector", required_argument, NULL, 'V'},
        {"query-file", required_argument, NULL, 'F'},
        {"format", required_argument, NULL, 'M'}, /* 'f' is --fanout */
        {"filter", required_argument, NULL, 'R'}, /* 'F' is --query-file */
        CLI_CONTEXT_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cvs_context_opts o;
    cvs_db *db = NULL;
    cvs_txn *t = NULL;
    const char *text = NULL, *batch = NULL, *vecstr = NULL, *vecfile = NULL;
    const char *filter_json = NULL;
    cvs_filter *filter = NULL;
    float *qv = NULL, *qf = NULL;
    size_t nqf = 0;
    uint32_t qdim = 0;
    int c, rc, json = 0, inputs = 0, unit_given = 0;
    cvs_format fmt = CVS_FMT_AUTO;

    cvs_context_opts_init(&o);
    while ((c = getopt_long(argc, argv, "t:b:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': text = optarg; inputs++; break;
        case 'Q': batch = optarg; inputs++; break;
        case 'V': vecstr = optarg; inputs++; break;
        case 'F': vecfile = optarg; inputs++; break;
        case 'R': filter_json = optarg; break; /* parsed below, after the cheap checks */
        case 'M':
            /* The load's message told the user to give the format, which
             * context took no option for. */
            if (cvs_format_parse(optarg, &fmt) || fmt == CVS_FMT_IVECS) {
                cli_err("context", "unknown format '%s' (fvecs, bvecs, npy or jsonl)", optarg);
                return cli_usage_error(usage);
            }
            break;
        case 'b': case 's': case 'H': case 'f': case 'g': case 'l': case 'w': case 'u':
        case 'U': case 'L': case 'K': case 'E':
            if (cli_context_option("context", c, optarg, &o))
                return cli_usage_error(usage);
            unit_given |= c == 'U';
            break;
        case 'j': json = 1; break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        /* The common slip is the question as a second word (`cvstore context DB "who ..."`):
         * name the argument and the option it belongs to instead of a bare "expected DB". */
        if (argc - optind < 1)
            cli_err("context", "missing DB");
        else if (argc - optind == 2 && inputs == 0) {
            /* The question as it was typed, up to a line of it: a pasted
             * page is not echoed back whole. */
            const char *q = argv[optind + 1];
            size_t n = strlen(q), cut = n > 60 ? 60 : n;
            while (cut < n && cut > 0 && ((unsigned char)q[cut] & 0xC0) == 0x80)
                cut--;
            cli_err("context", "unexpected argument '%.*s%s': give the question with --text",
                    (int)cut, q, cut < n ? "..." : "");
        }
        else
            cli_err("context", "too many arguments (the question goes in one --text argument; quote it)");
        return cli_usage_error(usage);
    }
    if (fmt != CVS_FMT_AUTO && !vecfile) {
        cli_err("context", "--format applies to --query-file only");
        return cli_usage_error(usage);
    }
    if (inputs != 1) {
        cli_err("context", "give exactly one of --text, --queries, --query-vector, --query-file");
        return cli_usage_error(usage);
    }
    if (text) {
        /* An empty variable in a script (--text "$Q"): an empty set with
         * exit 0 would read as "nothing in the store answers it".  Spaces
         * of any kind, punctuation and symbols (emoji) hold no words either. */
        size_t words = 1; /* text that is not UTF-8: the library says so */
        if (!cvs_text_words(text, strlen(text), &words) && !words) {
            cli_err("context", "--text has no words (it is empty, or only spaces, punctuation or symbols): give the question");
            return cli_usage_error(usage);
        }
    }
    /* Sentences by default for a question in words: at every budget they
     * hold the answer at least as often as whole passages on every
     * benchmark set (docs/BENCHMARKS.md, "Sentence-level context sets").
     * A query vector has no words to choose sentences by, and a store of
     * bare vectors has no sentences: passages there. */
    if (!unit_given)
        o.unit = text || batch ? CVS_UNIT_SENTENCE : CVS_UNIT_PASSAGE;
    if (filter_json && cvs_filter_parse(filter_json, strlen(filter_json), &filter)) {
        cli_err("context", "--%s", cvs_errmsg(NULL)); /* "--filter ..." */
        return CLI_EUSER;
    }
    o.filter = filter;
    if ((rc = cli_open("context", argv[optind], CVS_OPEN_RDONLY, &db)))
        goto out;
    if (vecstr || vecfile) {
        cvs_info info;
        if ((rc = cvs_db_info(db, &info))) {
            rc = cli_fail("context", rc, db);
            goto out;
        }
        if (vecstr && parse_vector(vecstr, info.dim, &qv)) {
            cli_err("context", "--query-vector: expected %u comma-separated numbers", info.dim);
            rc = CLI_EUSER;
            goto out;
        }
        if (vecfile) {
            if ((rc = cvs_vecs_load(vecfile, fmt, &qf, &nqf, &qdim))) {
                rc = cli_fail("context", rc, db);
                goto out;
            }
            if (qdim != info.dim) {
                cli_err("context", "%s: vectors of dimension %u, the store's is %u", vecfile, qdim,
                        info.dim);
                rc = CLI_EUSER;
                goto out;
            }
        }
    }
    if ((rc = cvs_txn_begin(db, &t))) {
        rc = cli_fail("context", rc, db);
        goto out;
    }
    if (batch) {
        batch_ctx b = {db, t, &o};
        rc = cli_queries_each("context", batch, answer_line, &b);
    }
    else if (text)
        rc = answer(db, t, &o, text, NULL, json_string(text), NULL, json);
    else if (qv)
        rc = answer(db, t, &o, NULL, qv, json_integer(0), NULL, json);
    else
        for (size_t i = 0; i < nqf && rc == CLI_OK; i++)
            rc = answer(db, t, &o, NULL, qf + i * qdim, json_integer((json_int_t)i), NULL, json);
out:
    cvs_txn_end(t);
    free(qv);
    cvs_free(qf);
    cvs_filter_free(filter);
    cvs_db_close(db);
    return rc;
}
