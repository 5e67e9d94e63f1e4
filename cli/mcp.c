/*
 * mcp.c -- `cvstore mcp DB`: a Model Context Protocol server over the
 * memory layer (cvstore.h, "Memory"), so that an agent can remember,
 * recall, forget and list through any MCP client.
 *
 * Protocol.  MCP (modelcontextprotocol.io, revisions 2024-11-05, 2025-03-26
 * and 2025-06-18) is JSON-RPC 2.0; its stdio transport exchanges one JSON
 * message per line, UTF-8, on stdin and stdout, with nothing else on
 * stdout (logs go to stderr).  The server answers:
 *   initialize                 the client's protocolVersion when we speak
 *                              it, else our newest; capabilities {tools}
 *   notifications/initialized  nothing (no notification is ever answered)
 *   ping                       {}
 *   tools/list                 remember, recall, forget, list, with their
 *                              JSON Schemas
 *   tools/call                 the tool's result: a text content block
 *                              holding the result as JSON, the same object
 *                              as structuredContent
 * Errors are JSON-RPC's: -32700 for a line that is not JSON, -32600 for
 * JSON that is not a request, -32601 for an unknown method, -32602 for
 * tools/call without a known tool name, with arguments that are not an
 * object, with one over its size limit (below, Sizes), or with a memory's
 * text or a recall's query of no words (empty, spaces, punctuation).  Whatever goes wrong inside a tool -- a missing or mistyped
 * argument, a store error -- comes back as a result with isError true and
 * the reason as text, which is what MCP asks for errors a model can read
 * and correct.
 *
 * Robustness: a line is read whole (up to MCP_LINE_MAX bytes; a longer one
 * is consumed and answered -32700), parsed by jansson (which refuses
 * invalid UTF-8 and caps nesting depth; "\u0000" is let through the parser
 * and the request refused with its id: has_nul), and answered before the
 * next is read, so a bad line costs one error reply and nothing else.  EOF on stdin
 * ends the server with exit code 0; so does a closed stdout.
 *
 * Lifecycle (the spec's "Lifecycle" page).  A session begins with
 * initialize; "the client SHOULD NOT send requests other than pings before
 * the server has responded to the initialize request", so until it has, any
 * other request is answered -32002 (RPC_NOT_INITIALIZED; the number LSP, the
 * protocol MCP grew from, gives the same case, within JSON-RPC's range for
 * servers' own errors) naming the fix, and nothing runs: a client that skips
 * the handshake has not agreed on a protocol version, and may read results
 * of a revision it does not speak.  Notifications are dropped then as ever.
 * notifications/initialized is not waited for (the spec asks it of the
 * client and says the server may not send requests before it; we send
 * none), so a client that pipelines its first call after it is served.
 * initialize "MUST NOT be part of a JSON-RPC batch": in one it is -32600.
 * A repeated initialize is answered again, with the same choice of
 * version: nothing about the session changes.
 *
 * Ids.  "Requests MUST include a string or integer ID.  Unlike base
 * JSON-RPC, the ID MUST NOT be null" (the spec's "Messages"): a request
 * whose id is null, a fraction, a boolean, an array or an object is -32600
 * with id null (JSON-RPC's answer to a request whose id cannot be used).
 * An integer is JSON Schema's: a number with no fractional part, so 7.0
 * is one (JavaScript clients cannot tell it from 7).  An id is echoed back
 * as it came.
 *
 * Batches (a JSON array of requests) were allowed by 2025-03-26 and
 * earlier, and removed by 2025-06-18.  A session that negotiated
 * 2025-03-26 or 2024-11-05 (or none yet) has them answered as JSON-RPC
 * says, with an array; once 2025-06-18 is negotiated a batch is -32600,
 * id null, run not at all and saying to send the requests one by one: a
 * client of that revision sends none, so one is a broken client, better
 * told than served with a reply shape its revision does not have.
 *
 * Sizes.  A result carries its object twice (as text, which the spec asks
 * of tools that return structured content, and as structuredContent), and
 * clients read a message into a bounded buffer (the TypeScript SDK's stdio
 * transport: 10 MiB).  So a memory is capped (--max-memory-bytes, text plus
 * metadata, CVS_MEM_MAX_BYTES by default, at most MCP_MEMORY_BYTES_MAX), a
 * memory stored larger than the cap before (by another program) is shown
 * cut to it ("text_truncated"), and a result stays under MCP_RESULT_MAX
 * bytes: recall drops its last memories ("truncated": true), list returns
 * a shorter page whose next_cursor continues after it.  A free-text
 * argument has a limit too (arg_limits: a query CVS_QUERY_MAX_BYTES, a
 * filter as much serialized, a namespace CVS_MEM_NS_MAX, an id
 * CVS_MAX_ID_LEN, ...), checked before the tool runs: one over it is
 * answered -32602 naming the argument and the limit, since a 12 MB query
 * took 18 s for nothing any model could use.  The memory's own text is
 * the exception: over --max-memory-bytes it is the tool's error (isError),
 * which a model reads and answers with a summary.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define MCP_LINE_MAX (64u << 20)
#define MCP_K_MAX 100
#define MCP_LIST_MAX 100
#define MCP_MEMORY_BYTES_MAX (1u << 20) /* --max-memory-bytes at most */
/* remember's texts at most: a result is up to about 1.4 KB (two ids of
 * CVS_MAX_ID_LEN, a namespace of CVS_MEM_NS_MAX), carried twice, so 1000
 * of them stay under MCP_RESULT_MAX; and a batch is one transaction whose
 * plans cost the square of its size, which one request must not make
 * unbounded (a 64 MiB line holds millions of short texts): the library's
 * own limit (query/memory.c deviation 8). */
#define MCP_TEXTS_MAX CVS_MEM_REMEMBER_MAX
/* The tool's schema says maxItems 1000 in a string literal. */
_Static_assert(MCP_TEXTS_MAX == 1000, "remember's maxItems in TOOLS_JSON says 1000");
#define MCP_RESULT_MAX (6u << 20)       /* bytes of one serialized reply */
#define STR_(x) #x
#define CLI_STR(x) STR_(x)

#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_METHOD_NOT_FOUND (-32601)
#define RPC_INVALID_PARAMS (-32602)
#define RPC_INTERNAL_ERROR (-32603)
#define RPC_NOT_INITIALIZED (-32002)

static const char usage[] =
    "Usage: cvstore mcp DB [--namespace NS] [--max-memory-bytes N]\n"
    "\n"
    "Serves the store as agent memory over the Model Context Protocol: JSON-RPC\n"
    "2.0, one message per line on stdin and stdout (the MCP stdio transport).\n"
    "Tools: remember, recall, forget, list.  The store needs an embedder\n"
    "(`cvstore init DB --embedder minilm`, the recommended one, or the lighter\n"
    "use or glove); without one, or without its data, it is refused at start-up.\n"
    "A store that cannot be written (a read-only file system) is served read-only:\n"
    "recall and list answer, remember and forget fail with the reason.  Runs until\n"
    "stdin closes.\n"
    "A session begins with initialize (its protocolVersion): until it is answered,\n"
    "every request but ping gets the error -32002, so a call typed by hand\n"
    "needs one first:\n"
    "  {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":\n"
    "   {\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\n"
    "    \"clientInfo\":{\"name\":\"sh\",\"version\":\"1\"}}}\n"
    "\n"
    "Options:\n"
    "  -n, --namespace NS   namespace of tool calls that name none (default\n"
    "                       \"default\")\n"
    "  -m, --max-memory-bytes N\n"
    "                       refuse a memory whose text and metadata exceed N\n"
    "                       bytes (default " CLI_STR(CVS_MEM_MAX_BYTES) ", at most 1048576)\n"
    CLI_KEY_FILE_HELP
    "  -h, --help           show this help\n";

static const char *const versions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

typedef struct server {
    cvs_db *db;
    const char *ns;        /* default namespace */
    size_t max_bytes;      /* a memory's text + metadata, at most */
    int initialized;       /* initialize has been answered */
    int no_batches;        /* the revision negotiated has no batches (2025-06-18 on) */
} server;

/* ==== Tool descriptions ==== */

/* Every tool's namespace, said once: an agent that leaves it out should
 * know where its memories go. */
#define MCP_NS_DESC                                                                              \
    "\"Namespace (agent or user); omitted: the server's default namespace. Memories of other "  \
    "namespaces are never seen.\""

static const char tools_json[] =
    "["
    "{\"name\":\"remember\","
    "\"description\":\"Store a memory (a piece of text) for later recall. An exact duplicate of a "
    "memory of the namespace is not stored again; a rewording of one (embedding cosine >= 0.95, "
    "every word of it kept, as often) updates it instead; a near-duplicate that changes or drops a word is "
    "added and supersedes the old one, which is kept. Returns the memory's id and status (added, duplicate, merged). "
    "Give text for one memory, or texts for many at once (a conversation log, notes): each is "
    "handled as if remembered alone in order, all with the same options, stored all or none.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "\"text\":{\"type\":\"string\",\"minLength\":1,\"description\":\"What to remember: a fact or a "
    "summary (text and metadata at most the server's --max-memory-bytes, 65536 by default). "
    "Give text or texts, not both.\"},"
    "\"texts\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1},"
    "\"maxItems\":1000,"
    "\"description\":\"Many memories at once, in order, each as text is; the result lists "
    "each one's id and status (results), in the same order.\"},"
    "\"metadata\":{\"type\":\"object\",\"description\":\"JSON metadata; names beginning with '_' are "
    "reserved. A string member 'subject' makes this memory supersede the newest earlier memory "
    "with the same subject.\"},"
    "\"namespace\":{\"type\":\"string\",\"description\":" MCP_NS_DESC "},"
    "\"links\":{\"type\":\"array\",\"description\":\"Links to other memories of the namespace.\","
    "\"items\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"string\",\"description\":\"Id of the memory linked to.\"},"
    "\"type\":{\"type\":\"string\",\"description\":\"Kind of link, e.g. related or cites.\"},"
    "\"weight\":{\"type\":\"number\",\"description\":\"Strength of the link (default 1).\"}},"
    "\"required\":[\"id\"]}]}},"
    "\"conversation\":{\"type\":\"string\",\"description\":\"Conversation id: consecutive memories of "
    "one conversation are linked (prev/next).\"},"
    "\"supersedes\":{\"type\":\"string\",\"description\":\"Id of an earlier memory this one replaces; "
    "recall prefers the newer.\"}},"
    "\"additionalProperties\":false}},"
    "{\"name\":\"recall\","
    "\"description\":\"Find the memories most relevant to a query, as a context set: BM25 and "
    "embedding rankings fused by reciprocal rank, links followed for hops steps, superseded "
    "memories down-weighted, chosen by a strategy within k and a token budget. Returns ids, "
    "scores, texts, and for each memory its hop count and the path (via) that reached it.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"description\":\"What to look for: a question or a "
    "passage, at most " CLI_STR(CVS_QUERY_MAX_BYTES) " bytes.\"},"
    "\"namespace\":{\"type\":\"string\",\"description\":" MCP_NS_DESC "},"
    "\"token_budget\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Most tokens (4 bytes each) "
    "of text to return; 0 = no limit.\"},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"Most memories to "
    "return (default 10).\"},"
    "\"strategy\":{\"type\":\"string\",\"enum\":[\"diverse\",\"topk\",\"mmr\",\"hybrid\","
    "\"lexical\",\"vector\"],\"description\":\"How memories are chosen: diverse (default: relevant "
    "and covering the query without near-copies), topk (by score) or mmr (maximal marginal "
    "relevance). hybrid, lexical and vector are kept for older clients: they set retrieval.\"},"
    "\"retrieval\":{\"type\":\"string\",\"enum\":[\"hybrid\",\"lexical\",\"vector\"],"
    "\"description\":\"hybrid (default), lexical (BM25 only) or vector (embeddings only).\"},"
    "\"hops\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":" CLI_STR(CVS_MEM_HOPS_MAX) ","
    "\"description\":\"Follow links (conversation neighbours, superseded memories, given links) "
    "this many steps from the direct hits; each step halves the score. Default 0.\"},"
    "\"half_life_seconds\":{\"type\":\"number\",\"minimum\":0,\"description\":\"Weigh recency: a "
    "memory untouched for this long counts half. 0 = off (default).\"},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"passage\",\"sentence\"],\"description\":"
    "\"passage (default): whole memories; sentence: only the sentences of each memory that "
    "answer the query (for long memories).\"},"
    "\"filter\":{\"type\":\"object\",\"description\":\"Metadata filter, e.g. {\\\"topic\\\": \\\"x\\\"} "
    "or {\\\"year\\\": {\\\"$gte\\\": 2020}}.\"}},"
    "\"required\":[\"query\"],\"additionalProperties\":false}},"
    "{\"name\":\"forget\","
    "\"description\":\"Delete memories of a namespace: one by id, or all matching a metadata "
    "filter (both: the id only if it matches). Returns how many were deleted.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"string\",\"description\":\"Id of the memory to delete, as remember, "
    "recall or list returned it.\"},"
    "\"filter\":{\"type\":\"object\",\"description\":\"Metadata filter; {} matches every memory of "
    "the namespace.\"},"
    "\"namespace\":{\"type\":\"string\",\"description\":" MCP_NS_DESC "}},"
    "\"additionalProperties\":false}},"
    "{\"name\":\"list\","
    "\"description\":\"List the memories of a namespace, newest first, a page at a time; pass "
    "next_cursor back as cursor for the next page.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "\"namespace\":{\"type\":\"string\",\"description\":" MCP_NS_DESC "},"
    "\"cursor\":{\"type\":\"string\",\"description\":\"next_cursor of the previous page; "
    "omitted: the first page.\"},"
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"Page size "
    "(default 20).\"}},\"additionalProperties\":false}}"
    "]";

/* ==== JSON-RPC replies ==== */

static json_t *rpc_error(json_t *id, int code, const char *msg)
{
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", msg);
}

static json_t *rpc_result(json_t *id, json_t *result /* stolen */)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* A tool's failure, as MCP wants it: a result the model can read. */
static json_t *tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *tool_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg, "isError", 1);
}

/* A library call's failure.  A value the library refused (CVS_EINPUT: a
 * memory over the size cap, a supersedes or link naming no memory, bad
 * metadata; CVS_EINVAL: a namespace, a filter, an option out of range)
 * comes from a well-formed request, so its message, which names the value,
 * goes alone: cvs_strerror's "malformed input" would tell the model its
 * request was broken.  Any other failure (the store's) keeps that prefix,
 * which says what kind of failure it is. */
static json_t *tool_cvs_error(const char *tool, int rc, const cvs_db *db)
{
    if (rc == CVS_EINPUT || rc == CVS_EINVAL)
        return tool_error("%s: %s", tool, cvs_errmsg(db));
    return tool_error("%s: %s: %s", tool, cvs_strerror(rc), cvs_errmsg(db));
}

/* A tool's success: the object as text and as structured content. */
static json_t *tool_ok(json_t *obj /* stolen */)
{
    char *txt = json_dumps(obj, CLI_JSON_FLAGS);
    json_t *r = NULL;
    if (txt)
        r = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text", txt,
                      "structuredContent", obj, "isError", 0);
    else
        json_decref(obj);
    free(txt);
    return r;
}

/* The bytes of a tool's result as sent (0 for want of memory). */
static size_t result_size(json_t *res)
{
    char *txt = json_dumps(res, CLI_JSON_FLAGS);
    size_t n = txt ? strlen(txt) : 0;
    free(txt);
    return n;
}

/* How many memories to send next, when n of them made a result of size
 * bytes: proportionally fewer, and at least one fewer. */
static size_t fewer(size_t n, size_t size)
{
    size_t m = (size_t)((double)n * MCP_RESULT_MAX / (double)size * 0.9);
    m = m < n ? m : n - 1;
    return m ? m : 1;
}

/* ==== Argument helpers ==== */

/* args[name] as a string: *out NULL when absent; -1 when present but not a
 * string. */
static int arg_str(json_t *args, const char *name, const char **out)
{
    json_t *v = json_object_get(args, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* args[name] as an integer in [min, max], or def when absent; -1 otherwise. */
static int arg_int(json_t *args, const char *name, long long min, long long max, long long def,
                   long long *out)
{
    json_t *v = json_object_get(args, name);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v))
        *out = (long long)json_real_value(v);
    else if (json_is_integer(v))
        *out = json_integer_value(v);
    else
        return -1;
    return *out >= min && *out <= max ? 0 : -1;
}

static json_t *iso_time(int64_t us)
{
    char buf[40];
    return us ? json_string(cli_iso8601(us, buf, sizeof buf)) : json_null();
}

/* The length of the longest UTF-8 prefix of s (n bytes) of at most max
 * bytes that ends on a character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* One memory as JSON; text and metadata beyond max bytes (a memory stored
 * before the cap, or by another program) are cut and flagged. */
static json_t *item_json(const cvs_mem_item *it, int with_score, size_t max)
{
    json_error_t je;
    size_t tl = utf8_cut(it->text, it->text_len, max), ml = strlen(it->meta);
    int meta_cut = ml > max - tl;
    json_t *o = json_object(), *meta = meta_cut ? json_object() : json_loads(it->meta, 0, &je);
    json_t *path;
    if (!o || !meta)
        goto fail;
    if (json_object_set_new(o, "id", json_stringn(it->id, it->id_len)) ||
        json_object_set_new(o, "text", json_stringn(it->text, tl)))
        goto fail;
    if (tl < it->text_len &&
        (json_object_set_new(o, "text_truncated", json_true()) ||
         json_object_set_new(o, "text_bytes", json_integer((json_int_t)it->text_len))))
        goto fail;
    if (meta_cut && json_object_set_new(o, "metadata_truncated", json_true()))
        goto fail;
    if (json_object_set_new(o, "metadata", meta)) /* takes meta, even when failing */
        goto fail_meta_owned;
    if (json_object_set_new(o, "namespace", json_string(it->ns)) ||
        json_object_set_new(o, "created", iso_time(it->created_us)) ||
        json_object_set_new(o, "last_recalled", iso_time(it->recalled_us)) ||
        json_object_set_new(o, "tokens", json_integer((json_int_t)it->tokens)))
        goto fail_meta_owned;
    if (with_score && json_object_set_new(o, "score", json_real(it->score)))
        goto fail_meta_owned;
    if (it->conversation && json_object_set_new(o, "conversation", json_string(it->conversation)))
        goto fail_meta_owned;
    if (it->supersedes && json_object_set_new(o, "supersedes", json_string(it->supersedes)))
        goto fail_meta_owned;
    if (it->superseded_by && json_object_set_new(o, "superseded_by", json_string(it->superseded_by)))
        goto fail_meta_owned;
    if (it->npath) {
        json_t *via;
        if (!(path = json_array()) || json_object_set_new(o, "path", path) ||
            !(via = json_array()) || json_object_set_new(o, "via", via) ||
            json_object_set_new(o, "hop", json_integer((json_int_t)it->npath - 1)))
            goto fail_meta_owned;
        for (size_t i = 0; i < it->npath; i++)
            if (json_array_append_new(path, json_string(it->path[i])) ||
                json_array_append_new(via, json_pack("{s:s, s:s}", "id", it->path[i], "type",
                                                     it->path_types[i])))
                goto fail_meta_owned;
    }
    return o;
fail:
    json_decref(meta);
fail_meta_owned:
    json_decref(o);
    return NULL;
}

/* The first n memories of r. */
static json_t *items_json(const cvs_mem_items *r, size_t n, int with_score, size_t max)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n && i < r->n; i++) {
        json_t *it = item_json(&r->items[i], with_score, max);
        if (!it || json_array_append_new(a, it)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Checks a namespace argument; *ns keeps the default when absent. */
static json_t *get_ns(json_t *args, const char *tool, const server *s, const char **ns)
{
    if (arg_str(args, "namespace", ns))
        return tool_error("%s: namespace must be a string", tool);
    if (!*ns || !**ns)
        *ns = s->ns;
    return NULL;
}

/* A JSON object argument (filter), serialized; NULL when absent. */
static json_t *get_filter(json_t *args, const char *tool, char **out)
{
    json_t *v = json_object_get(args, "filter");
    *out = NULL;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_object(v))
        return tool_error("%s: filter must be an object", tool);
    if (!(*out = json_dumps(v, JSON_COMPACT)))
        return tool_error("%s: out of memory", tool);
    return NULL;
}

/* ==== Tools ==== */

/* One memory's result: {id, status, namespace[, similarity][, supersedes]}. */
static json_t *remembered_json(const cvs_mem_remembered *out, const char *ns)
{
    static const char *const names[] = {"", "added", "duplicate", "merged"};
    json_t *r = json_pack("{s:s, s:s, s:s}", "id", out->id, "status", names[out->outcome],
                          "namespace", ns);
    if (r && out->outcome == CVS_MEM_MERGED &&
        json_object_set_new(r, "similarity", json_real(out->similarity)))
        goto fail;
    if (r && out->superseded[0] &&
        json_object_set_new(r, "supersedes", json_string(out->superseded)))
        goto fail;
    return r;
fail:
    json_decref(r);
    return NULL;
}

static json_t *tool_remember(server *s, json_t *args)
{
    cvs_mem_remember_opts o = {0};
    cvs_mem_remembered out, *outs = NULL;
    json_t *err, *links = json_object_get(args, "links"), *meta = json_object_get(args, "metadata");
    json_t *many = json_object_get(args, "texts");
    const char *text, **texts = NULL;
    size_t n = 0;
    char *meta_txt = NULL;
    cvs_link *lk = NULL;
    json_t *res = NULL;
    int rc;

    if (json_is_null(many))
        many = NULL;
    if ((err = get_ns(args, "remember", s, &o.ns)))
        return err;
    if (arg_str(args, "text", &text) || (!many && (!text || !*text)))
        return tool_error("remember: text (a non-empty string) or texts (an array of them) is "
                          "required");
    if (many && text)
        return tool_error("remember: give text (one memory) or texts (many), not both");
    if (many) {
        size_t i;
        json_t *t;
        if (!json_is_array(many))
            return tool_error("remember: texts must be an array of strings");
        n = json_array_size(many);
        if (!(texts = calloc(n ? n : 1, sizeof *texts)) || !(outs = calloc(n ? n : 1, sizeof *outs))) {
            res = tool_error("remember: out of memory");
            goto out;
        }
        json_array_foreach(many, i, t) {
            if (!json_is_string(t)) {
                res = tool_error("remember: texts[%zu] must be a string", i);
                goto out;
            }
            texts[i] = json_string_value(t);
        }
    }
    /* From here on texts and outs are held: every exit goes through out. */
    if (arg_str(args, "conversation", &o.conversation) || arg_str(args, "supersedes", &o.supersedes)) {
        res = tool_error("remember: conversation and supersedes must be strings");
        goto out;
    }
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            res = tool_error("remember: metadata must be an object");
            goto out;
        }
        if (!(meta_txt = json_dumps(meta, CLI_JSON_FLAGS))) {
            res = tool_error("remember: out of memory");
            goto out;
        }
        o.meta = meta_txt;
    }
    if (links && !json_is_null(links)) {
        size_t i;
        json_t *l;
        if (!json_is_array(links)) {
            res = tool_error("remember: links must be an array");
            goto out;
        }
        if (json_array_size(links) && !(lk = calloc(json_array_size(links), sizeof *lk))) {
            res = tool_error("remember: out of memory");
            goto out;
        }
        json_array_foreach(links, i, l) {
            json_t *id = json_is_string(l) ? l : json_object_get(l, "id");
            json_t *type = json_object_get(l, "type"), *w = json_object_get(l, "weight");
            if (!json_is_string(id) || (type && !json_is_string(type)) || (w && !json_is_number(w))) {
                res = tool_error("remember: links[%zu] must be an id or {\"id\", \"type\", "
                                 "\"weight\"}", i);
                goto out;
            }
            lk[i].id = json_string_value(id);
            lk[i].id_len = json_string_length(id);
            lk[i].type = type ? json_string_value(type) : NULL;
            lk[i].weight = w ? (float)json_number_value(w) : 1.0f;
        }
        o.links = lk;
        o.nlinks = json_array_size(links);
    }
    o.max_bytes = s->max_bytes;
    rc = many ? cvs_mem_remember_many(s->db, texts, NULL, n, &o, outs)
              : cvs_mem_remember(s->db, text, strlen(text), &o, &out);
    if (rc) {
        res = tool_cvs_error("remember", rc, s->db);
        goto out;
    }
    if (!many) {
        json_t *r = remembered_json(&out, o.ns);
        res = r ? tool_ok(r) : NULL;
    } else {
        /* {results: [one memory's result, ...], namespace} */
        json_t *arr = json_array(), *r = NULL;
        for (size_t i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, remembered_json(&outs[i], o.ns))) {
                json_decref(arr);
                arr = NULL;
            }
        if (arr)
            r = json_pack("{s:o, s:s}", "results", arr, "namespace", o.ns);
        res = r ? tool_ok(r) : NULL;
    }
out:
    free(lk);
    free(meta_txt);
    free(texts);
    free(outs);
    return res;
}

static json_t *tool_recall(server *s, json_t *args)
{
    cvs_mem_recall_opts o = {0};
    cvs_mem_items r = {0};
    const char *query, *strategy, *retrieval, *unit, *note;
    long long k, budget, hops;
    char *filter = NULL;
    json_t *err, *hl = json_object_get(args, "half_life_seconds"), *res = NULL, *items;
    int rc;

    if ((err = get_ns(args, "recall", s, &o.ns)))
        return err;
    if (arg_str(args, "query", &query) || !query)
        return tool_error("recall: query (a string) is required");
    if (arg_int(args, "k", 1, MCP_K_MAX, 10, &k))
        return tool_error("recall: k must be an integer from 1 to %d", MCP_K_MAX);
    if (arg_int(args, "token_budget", 0, (long long)1 << 40, 0, &budget))
        return tool_error("recall: token_budget must be an integer from 0 (no limit) to %lld",
                          (long long)1 << 40);
    if (arg_int(args, "hops", 0, CVS_MEM_HOPS_MAX, 0, &hops))
        return tool_error("recall: hops must be an integer from 0 to %d", CVS_MEM_HOPS_MAX);
    if (arg_str(args, "retrieval", &retrieval) ||
        (retrieval && cvs_mem_strategy_parse(retrieval, &o.strategy)))
        return tool_error("recall: retrieval must be hybrid, lexical or vector");
    /* strategy once named the rankings; those names still mean them. */
    if (arg_str(args, "strategy", &strategy) ||
        (strategy && cvs_mem_strategy_parse(strategy, &o.strategy) &&
         (cvs_context_strategy_parse(strategy, &o.selection) ||
          o.selection > CVS_CONTEXT_MMR)))
        return tool_error("recall: strategy must be diverse, topk or mmr (or hybrid, lexical, "
                          "vector)");
    if (arg_str(args, "unit", &unit) || (unit && cvs_context_unit_parse(unit, &o.unit)))
        return tool_error("recall: unit must be passage or sentence");
    if (hl && !json_is_null(hl)) {
        if (!json_is_number(hl) || !(json_number_value(hl) >= 0))
            return tool_error("recall: half_life_seconds must be a non-negative number");
        o.half_life_s = json_number_value(hl);
    }
    if ((err = get_filter(args, "recall", &filter)))
        return err;
    o.k = (size_t)k;
    o.token_budget = (size_t)budget;
    o.hops = (int)hops;
    o.filter = filter;
    if ((rc = cvs_mem_recall(s->db, query, strlen(query), &o, &r))) {
        res = tool_cvs_error("recall", rc, s->db);
        goto out;
    }
    /* The best first: what does not fit in one reply is left out. */
    for (size_t n = r.n, size;; n = fewer(n, size)) {
        size_t tokens = n == r.n ? r.tokens : 0;
        json_t *obj;
        for (size_t i = 0; n < r.n && i < n; i++)
            tokens += r.items[i].tokens;
        json_decref(res);
        res = NULL;
        if (!(items = items_json(&r, n, 1, s->max_bytes)) ||
            !(obj = json_pack("{s:o, s:I, s:s}", "memories", items, "tokens",
                              (json_int_t)tokens, "namespace", o.ns)) ||
            (n < r.n && json_object_set_new(obj, "truncated", json_true())) ||
            (!r.n && (note = cli_empty_note(query, strlen(query))) &&
             json_object_set_new(obj, "note", json_string(note))) ||
            !(res = tool_ok(obj)))
            break;
        if ((size = result_size(res)) <= MCP_RESULT_MAX || n <= 1)
            break;
    }
out:
    cvs_mem_items_free(&r);
    free(filter);
    return res;
}

static json_t *tool_forget(server *s, json_t *args)
{
    const char *ns, *id;
    char *filter = NULL;
    size_t n = 0;
    json_t *err, *res;
    int rc;

    if ((err = get_ns(args, "forget", s, &ns)))
        return err;
    if (arg_str(args, "id", &id))
        return tool_error("forget: id must be a string");
    if ((err = get_filter(args, "forget", &filter)))
        return err;
    if (!id && !filter)
        return tool_error("forget: give an id or a filter");
    if ((rc = cvs_mem_forget(s->db, ns, id, id ? strlen(id) : 0, filter, 0, &n)))
        res = tool_cvs_error("forget", rc, s->db);
    else
        res = tool_ok(json_pack("{s:I, s:s}", "forgotten", (json_int_t)n, "namespace", ns));
    free(filter);
    return res;
}

static json_t *tool_list(server *s, json_t *args)
{
    const char *ns, *cursor;
    long long limit;
    cvs_mem_items r = {0};
    json_t *err, *res = NULL, *items, *o;
    int rc;

    if ((err = get_ns(args, "list", s, &ns)))
        return err;
    if (arg_str(args, "cursor", &cursor))
        return tool_error("list: cursor must be a string");
    if (arg_int(args, "limit", 1, MCP_LIST_MAX, 20, &limit))
        return tool_error("list: limit must be an integer from 1 to %d", MCP_LIST_MAX);
    /* A page that does not fit in one reply is asked for again, shorter,
     * so that its next_cursor continues right after it. */
    for (size_t size;; limit = (long long)fewer(r.n, size)) {
        cvs_mem_items_free(&r);
        memset(&r, 0, sizeof r);
        json_decref(res);
        res = NULL;
        if ((rc = cvs_mem_list(s->db, ns, cursor, (size_t)limit, &r)))
            return tool_cvs_error("list", rc, s->db);
        if (!(items = items_json(&r, r.n, 0, s->max_bytes)) ||
            !(o = json_pack("{s:o, s:s}", "memories", items, "namespace", ns)))
            break;
        if (r.cursor[0])
            json_object_set_new(o, "next_cursor", json_string(r.cursor));
        if (!(res = tool_ok(o)) || (size = result_size(res)) <= MCP_RESULT_MAX || r.n <= 1)
            break;
    }
    cvs_mem_items_free(&r);
    return res;
}

/* ==== Dispatch ==== */

static json_t *do_initialize(json_t *params)
{
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const char *v = versions[0];
    for (size_t i = 0; want && i < sizeof versions / sizeof versions[0]; i++)
        if (!strcmp(want, versions[i]))
            v = versions[i];
    return json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}", "protocolVersion", v,
                     "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "cvstore",
                     "version", CVS_VERSION_STRING, "instructions",
                     "Long-term memory. Call remember to store facts worth keeping, recall "
                     "before answering to find what was stored, forget to delete, list to "
                     "browse. Memories are kept per namespace.");
}

/* ==== Argument size limits ==== */

/* The free-text arguments' limits, in bytes of UTF-8 (tool NULL: every
 * tool's).  The library refuses each of them too, but only after work
 * that grows with its size (parsing a filter, looking up every word of a
 * query), and with a tool error where the client deserves a protocol one. */
static const struct arg_limit {
    const char *tool, *name;
    size_t max;
    const char *what;
} arg_limits[] = {
    {NULL, "namespace", CVS_MEM_NS_MAX, NULL},
    {"recall", "query", CVS_QUERY_MAX_BYTES, "a question or a passage, not a document"},
    {NULL, "filter", CVS_QUERY_MAX_BYTES, "serialized"},
    {"remember", "conversation", CVS_MAX_ID_LEN, "the longest id"},
    {"remember", "supersedes", CVS_MAX_ID_LEN, "the longest id"},
    {"forget", "id", CVS_MAX_ID_LEN, "the longest id"},
    {"list", "cursor", sizeof ((cvs_mem_items *)0)->cursor - 1, "a cursor that list returned"},
};

#define LINK_TYPE_MAX 255 /* bytes of a link's type (cvs_put refuses more) */

/* The bytes v takes: a string's, or an object's serialized (0 for want of
 * memory, which the tool then meets and reports). */
static size_t arg_bytes(json_t *v)
{
    char *txt;
    size_t n;
    if (json_is_string(v))
        return json_string_length(v);
    if (!(txt = json_dumps(v, JSON_COMPACT)))
        return 0;
    n = strlen(txt);
    free(txt);
    return n;
}

/* The JSON-RPC error for the first argument of tool over its limit, or
 * NULL when all are within them.  A value of the wrong type is left to the
 * tool, which says what it wants. */
static json_t *check_limits(json_t *id, const char *tool, json_t *args)
{
    char msg[400];
    json_t *links = json_object_get(args, "links"), *l;
    size_t i, n;
    for (i = 0; i < sizeof arg_limits / sizeof arg_limits[0]; i++) {
        const struct arg_limit *al = &arg_limits[i];
        json_t *v = json_object_get(args, al->name);
        if ((al->tool && strcmp(al->tool, tool)) || (!json_is_string(v) && !json_is_object(v)))
            continue;
        if ((n = arg_bytes(v)) > al->max) {
            snprintf(msg, sizeof msg, "Invalid params: %s: %s has %zu bytes, over the limit of "
                     "%zu%s%s%s", tool, al->name, n, al->max, al->what ? " (" : "",
                     al->what ? al->what : "", al->what ? ")" : "");
            return rpc_error(id, RPC_INVALID_PARAMS, msg);
        }
    }
    if (strcmp(tool, "remember"))
        return NULL;
    if (json_array_size(json_object_get(args, "texts")) > MCP_TEXTS_MAX) {
        snprintf(msg, sizeof msg, "Invalid params: remember: texts has %zu items, over the "
                 "limit of %d: remember them in several calls",
                 json_array_size(json_object_get(args, "texts")), MCP_TEXTS_MAX);
        return rpc_error(id, RPC_INVALID_PARAMS, msg);
    }
    if (!json_is_array(links))
        return NULL;
    json_array_foreach(links, i, l) {
        json_t *lid = json_is_string(l) ? l : json_object_get(l, "id");
        json_t *type = json_object_get(l, "type");
        if (json_is_string(lid) && json_string_length(lid) > CVS_MAX_ID_LEN)
            snprintf(msg, sizeof msg, "Invalid params: remember: links[%zu]: the id has %zu "
                     "bytes, over the limit of %d (the longest id)", i, json_string_length(lid),
                     CVS_MAX_ID_LEN);
        else if (json_is_string(type) && json_string_length(type) > LINK_TYPE_MAX)
            snprintf(msg, sizeof msg, "Invalid params: remember: links[%zu]: the type has %zu "
                     "bytes, over the limit of %d", i, json_string_length(type), LINK_TYPE_MAX);
        else
            continue;
        return rpc_error(id, RPC_INVALID_PARAMS, msg);
    }
    return NULL;
}

/* The JSON-RPC error for a memory's text or a recall's query with no
 * words (cvs_text_words: empty, spaces of any kind, punctuation), or NULL.
 * The library refuses both too, but as a tool error, which reads as "the
 * store failed"; an argument the client got wrong is -32602, like one over
 * its size limit.  A value of the wrong type is left to the tool. */
static json_t *check_words(json_t *id, const char *tool, json_t *args)
{
    const char *name = !strcmp(tool, "remember") ? "text" : !strcmp(tool, "recall") ? "query" : NULL;
    json_t *v = name ? json_object_get(args, name) : NULL, *many = NULL;
    size_t words = 1, i = 0;
    char msg[300], what[48];
    if (name && name[0] == 't' && (!v || json_is_null(v)) &&
        json_is_array(many = json_object_get(args, "texts"))) {
        /* the first of texts with no words (a null text is no text, as
         * arg_str reads it) */
        for (i = 0; i < json_array_size(many); i++) {
            v = json_array_get(many, i);
            if (json_is_string(v) &&
                !cvs_text_words(json_string_value(v), json_string_length(v), &words) && !words)
                break;
        }
        if (i == json_array_size(many))
            return NULL;
        snprintf(what, sizeof what, "texts[%zu]", i);
        name = what;
    }
    if (!json_is_string(v) || cvs_text_words(json_string_value(v), json_string_length(v), &words) ||
        words)
        return NULL; /* not UTF-8 cannot happen (jansson checks): the tool would say */
    snprintf(msg, sizeof msg, "Invalid params: %s: %s has no words (it is empty, or only spaces, "
             "punctuation or symbols): %s", tool, name,
             name[0] == 't' ? "give the text to remember" : "give a question");
    return rpc_error(id, RPC_INVALID_PARAMS, msg);
}

/* ==== Arguments a tool does not take ==== */

/* A tools/call whose arguments hold one the tool does not take: refused,
 * naming it and what was likely meant, before anything is done.  An agent
 * that writes "meta" for "metadata" or "namespce" for "namespace" would
 * otherwise store its memory without them, in the default namespace, and
 * never know; MCP's clients pass the inputSchema to the model, and a
 * refusal it can read is one it corrects.  NULL when every argument is
 * known (or the tool is not: the caller says so). */
static json_t *check_known(json_t *id, const char *tool, json_t *args)
{
    json_error_t je;
    json_t *tools = json_loads(tools_json, 0, &je), *t, *props = NULL, *x, *res = NULL;
    const char *key;
    size_t i;
    json_array_foreach(tools, i, t)
        if (!strcmp(json_string_value(json_object_get(t, "name")), tool))
            props = json_object_get(json_object_get(t, "inputSchema"), "properties");
    if (props) {
        json_object_foreach(args, key, x) {
            char msg[600], names[300] = "";
            const char *near, *name, *list[16];
            json_t *y;
            size_t at = 0, nnames = 0;
            if (json_object_get(props, key))
                continue;
            json_object_foreach(props, name, y) {
                if (nnames < sizeof list / sizeof *list)
                    list[nnames++] = name;
                at += (size_t)snprintf(names + at, at < sizeof names ? sizeof names - at : 0,
                                       "%s%s", at ? ", " : "", name);
            }
            near = cvs_suggest(key, list, nnames);
            snprintf(msg, sizeof msg, "Invalid params: %s: unknown argument '%.100s'%s%s%s; it "
                     "takes %s (nothing was done)", tool, key, near ? " (did you mean '" : "",
                     near ? near : "", near ? "'?)" : "", names);
            res = rpc_error(id, RPC_INVALID_PARAMS, msg);
            break;
        }
    }
    json_decref(tools);
    return res;
}

/* Whether a string inside v holds a NUL character.  Messages are parsed
 * with JSON_ALLOW_NUL, since "\u0000" is valid JSON: refusing it at the
 * parser would answer a parse error with id null, which a client cannot
 * match to its request (it would wait for an answer forever).  The request
 * is refused instead, with its id, before anything reads a string as a C
 * string (a notification, which has none, is dropped unanswered).  jansson
 * cannot hold a NUL in an object's key: such a line is a parse error, id
 * null, as any line that is not JSON. */
static int has_nul(json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_string(v))
        return memchr(json_string_value(v), 0, json_string_length(v)) != NULL;
    if (json_is_object(v)) {
        json_object_foreach(v, key, x)
            if (has_nul(x))
                return 1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
            if (has_nul(x))
                return 1;
    }
    return 0;
}

/* The methods served besides initialize and ping: before initialize, each
 * is -32002; any other method is -32601 at any time (not found is the
 * truer answer, and says more to the one who wrote it). */
static int served(const char *method)
{
    static const char *const names[] = {"tools/list", "tools/call", "resources/list",
                                        "prompts/list"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(method, names[i]))
            return 1;
    return 0;
}

/* Answers one request object; NULL when nothing is to be sent (a
 * notification) -- and, for want of memory, NULL too, which the caller
 * turns into an internal error where a reply is due. */
static json_t *handle(server *s, json_t *req, int in_batch, int *is_note)
{
    json_t *id = NULL, *params, *result = NULL;
    const char *method;

    *is_note = 0;
    if (!json_is_object(req))
        return rpc_error(NULL, RPC_INVALID_REQUEST, "Invalid Request: not an object");
    id = json_object_get(req, "id");
    if (id && !json_is_string(id) && !json_is_integer(id) &&
        !(json_is_real(id) && json_real_value(id) == floor(json_real_value(id))))
        return rpc_error(NULL, RPC_INVALID_REQUEST,
                         "Invalid Request: id must be a string or an integer (MCP: not null)");
    if (!id && has_nul(req)) { /* a notification gets no reply, not even an error */
        *is_note = 1;
        return NULL;
    }
    if (has_nul(json_object_get(req, "params")))
        return rpc_error(id, RPC_INVALID_PARAMS,
                         "Invalid params: a string holds \\u0000 (NUL), which no tool takes");
    if (has_nul(req))
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: a string holds \\u0000 (NUL)");
    if (!json_is_string(json_object_get(req, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(req, "jsonrpc")), "2.0"))
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
    if (!(method = json_string_value(json_object_get(req, "method")))) {
        /* A response from the client (we send no requests) or garbage. */
        if (json_object_get(req, "result") || json_object_get(req, "error")) {
            *is_note = 1;
            return NULL;
        }
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: no method");
    }
    params = json_object_get(req, "params");
    if (params && !json_is_object(params) && !json_is_array(params))
        return rpc_error(id, RPC_INVALID_REQUEST, "Invalid Request: params must be structured");
    if (!id) {
        /* Notifications (initialized, cancelled, ...) need nothing from us. */
        *is_note = 1;
        return NULL;
    }
    if (!strcmp(method, "initialize")) {
        if (in_batch)
            return rpc_error(id, RPC_INVALID_REQUEST,
                             "Invalid Request: initialize must not be part of a batch");
        if (!json_is_string(json_object_get(params, "protocolVersion")))
            return rpc_error(id, RPC_INVALID_PARAMS,
                             "Invalid params: initialize needs protocolVersion, a string");
        if ((result = do_initialize(params)) && !s->initialized) {
            /* Dates compare as strings: 2025-06-18 and any later revision. */
            s->no_batches = strcmp(json_string_value(json_object_get(result, "protocolVersion")),
                                   "2025-06-18") >= 0;
            s->initialized = 1;
        }
    } else if (!s->initialized && strcmp(method, "ping") && served(method)) {
        char msg[300];
        snprintf(msg, sizeof msg, "Server not initialized: send initialize before %.200s",
                 method);
        return rpc_error(id, RPC_NOT_INITIALIZED, msg);
    } else if (!strcmp(method, "ping")) {
        result = json_object();
    } else if (!strcmp(method, "tools/list")) {
        json_error_t je;
        json_t *tools = json_loads(tools_json, 0, &je);
        result = tools ? json_pack("{s:o}", "tools", tools) : NULL;
    } else if (!strcmp(method, "tools/call")) {
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *args = json_object_get(params, "arguments");
        json_t *empty = NULL;
        if (!json_is_object(params) || !name)
            return rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: tools/call needs a name");
        if (args && !json_is_object(args) && !json_is_null(args))
            return rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: arguments must be an object");
        if (!args || json_is_null(args))
            args = empty = json_object();
        if ((result = check_known(id, name, args)) || (result = check_limits(id, name, args)) ||
            (result = check_words(id, name, args))) {
            json_decref(empty);
            return result;
        }
        if (!strcmp(name, "remember"))
            result = tool_remember(s, args);
        else if (!strcmp(name, "recall"))
            result = tool_recall(s, args);
        else if (!strcmp(name, "forget"))
            result = tool_forget(s, args);
        else if (!strcmp(name, "list"))
            result = tool_list(s, args);
        else {
            json_decref(empty);
            char msg[300];
            snprintf(msg, sizeof msg, "Invalid params: unknown tool '%.200s'", name);
            return rpc_error(id, RPC_INVALID_PARAMS, msg);
        }
        json_decref(empty);
    } else if (!strcmp(method, "resources/list") || !strcmp(method, "prompts/list")) {
        /* Not advertised, but some clients probe them: empty lists read
         * better than errors in their logs. */
        result = json_pack("{s:[]}", method[0] == 'r' ? "resources" : "prompts");
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "Method not found: %.200s", method);
        return rpc_error(id, RPC_METHOD_NOT_FOUND, msg);
    }
    if (!result)
        return rpc_error(id, RPC_INTERNAL_ERROR, "Internal error: out of memory");
    return rpc_result(id, result);
}

/* Writes one message as one line; -1 when stdout is gone. */
static int send_msg(json_t *msg)
{
    char *txt = msg ? json_dumps(msg, CLI_JSON_FLAGS) : NULL;
    int rc = 0;
    json_decref(msg);
    if (!txt)
        txt = strdup("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                     "\"message\":\"Internal error: out of memory\"}}");
    if (!txt || fputs(txt, stdout) == EOF || putchar('\n') == EOF || fflush(stdout) == EOF)
        rc = -1;
    free(txt);
    return rc;
}

/* Reads one line (without its newline) into *buf; returns its length, -1
 * at EOF with nothing read.  A line over MCP_LINE_MAX is consumed and
 * flagged with *over, its beginning kept. */
static long read_line(char **buf, size_t *cap, int *over)
{
    size_t n = 0;
    int c;
    *over = 0;
    while ((c = getchar_unlocked()) != EOF && c != '\n') {
        if (n >= MCP_LINE_MAX) {
            *over = 1;
            continue;
        }
        if (n + 1 >= *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            char *p = realloc(*buf, nc);
            if (!p) {
                *over = 1;
                continue;
            }
            *buf = p;
            *cap = nc;
        }
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0 && !*over)
        return -1;
    if (*buf)
        (*buf)[n] = 0;
    return (long)n;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* The reply to a line jansson could not parse.  An integer beyond 64 bits
 * (jansson's "too big integer") is valid JSON: the request is read again
 * with such integers as reals to find its id, and refused with it (-32602
 * in params, -32600 elsewhere, saying to write the number as a string),
 * since an error with id null leaves the client waiting for its answer; a
 * notification gets none (*note 1), and *used = the bytes it took, so the
 * messages after it on the line are answered too.  Anything else: -32700,
 * id null (*used left as it was: the rest of the line). */
static json_t *parse_error(const char *line, size_t n, const json_error_t *je, int *note,
                           size_t *used)
{
    char m[400];
    json_t *msg, *id, *reply;
    json_error_t je2;
    *note = 0;
    snprintf(m, sizeof m, "Parse error: %s (column %d)", je->text, je->column);
    if (json_error_code(je) != json_error_numeric_overflow || strncmp(je->text, "too big", 7) ||
        !(msg = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL |
                           JSON_DISABLE_EOF_CHECK, &je2)))
        return rpc_error(NULL, RPC_PARSE_ERROR, m);
    /* The message read again ends where the next on the line begins. */
    if (je2.position > 0 && (size_t)je2.position <= n)
        *used = (size_t)je2.position;
    if (!json_is_object(msg)) { /* a batch: no one id to answer with */
        json_decref(msg);
        return rpc_error(NULL, RPC_PARSE_ERROR, m);
    }
    id = json_object_get(msg, "id");
    if (!id) {
        *note = 1;
        json_decref(msg);
        return NULL;
    }
    /* Integer ids came back as reals; one beyond 2^53 (the integer out of
     * range may be the id itself) cannot be given back exactly: null. */
    if (!json_is_string(id) && !json_is_null(id) &&
        !(json_is_real(id) && json_real_value(id) >= -9007199254740992.0 &&
          json_real_value(id) <= 9007199254740992.0 &&
          json_real_value(id) == (double)(json_int_t)json_real_value(id)))
        id = NULL;
    snprintf(m, sizeof m, "%s: integer out of range at column %d (%s): integers are 64-bit "
             "(-9223372036854775808 to 9223372036854775807); write it as a string (\"...\")",
             json_object_get(msg, "params") ? "Invalid params" : "Invalid Request", je->column,
             je->text);
    /* An integer id was read back as a real: answer with the integer. */
    if (id && json_is_real(id))
        id = json_integer((json_int_t)json_real_value(id));
    else
        json_incref(id);
    reply = rpc_error(id, json_object_get(msg, "params") ? RPC_INVALID_PARAMS
                                                         : RPC_INVALID_REQUEST, m);
    json_decref(id);
    json_decref(msg);
    return reply;
}

/* The reply to the first message of text (n bytes): a request's, a
 * batch's, NULL for a notification (or a batch of them); a parse error for
 * text that does not start with JSON.  *used = the bytes that message
 * took: a client may write two messages on one line (back to back, or with
 * a space), and each gets its answer, as on lines of their own; before,
 * the line was one parse error with id null, and the client waited for
 * answers that never came.  After a parse error, the rest of the text. */
static json_t *reply_to(server *s, const char *text, size_t n, size_t *used)
{
    json_error_t je;
    json_t *msg, *reply = NULL, *req;
    size_t i;
    int note = 0;
    *used = n;
    if (!(msg = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK,
                           &je)))
        return parse_error(text, n, &je, &note, used);
    if (je.position > 0 && (size_t)je.position <= n)
        *used = (size_t)je.position;
    if (!json_is_array(msg)) {
        reply = handle(s, msg, 0, &note);
    } else if (s->no_batches) {
        reply = rpc_error(NULL, RPC_INVALID_REQUEST, "Invalid Request: a batch (an array), "
                          "which the protocol version of this session (2025-06-18) does not "
                          "have: send each request as a message of its own");
    } else if (json_array_size(msg) == 0) {
        reply = rpc_error(NULL, RPC_INVALID_REQUEST, "Invalid Request: empty batch");
    } else {
        reply = json_array();
        json_array_foreach(msg, i, req) {
            json_t *r = handle(s, req, 1, &note);
            if (!note && reply)
                json_array_append_new(reply, r ? r : rpc_error(NULL, RPC_INTERNAL_ERROR,
                                                               "Internal error"));
            else
                json_decref(r);
        }
        note = reply && json_array_size(reply) == 0; /* a batch of notifications */
    }
    json_decref(msg);
    if (note) {
        json_decref(reply);
        reply = NULL;
    }
    return reply;
}

static int serve(server *s)
{
    char *line = NULL;
    size_t cap = 0;
    long n;
    int over;

    while ((n = read_line(&line, &cap, &over)) >= 0) {
        size_t off = 0, used;
        int stop = 0;
        if (over && send_msg(rpc_error(NULL, RPC_PARSE_ERROR, "Parse error: message too long")))
            break;
        while (!over && !stop && off < (size_t)n && !blank(line + off, (size_t)n - off)) {
            json_t *reply = reply_to(s, line + off, (size_t)n - off, &used);
            off += used;
            stop = reply && send_msg(reply);
        }
        if (stop)
            break;
    }
    free(line);
    return CLI_OK;
}

/* Every tool embeds text: a store that cannot, for want of an embedder or
 * of its data (the GloVe cache), is refused before serving, with the fix,
 * rather than failing every call. */
static int check_embedder(server *s, const char *path)
{
    cvs_embedder_info ei;
    cvs_info in;
    float *v;
    int rc = cvs_db_embedder_info(s->db, &ei);
    if (rc == CVS_NOTFOUND) {
        cli_err("mcp", "%s has no embedder, and every memory tool embeds text: create a memory "
                "store with `cvstore init NEW_DB --embedder minilm` (or --embedder use or glove, "
                "lighter)", path);
        return CLI_EUSER;
    }
    if (rc == CVS_OK && strcmp(ei.name, "glove") && strcmp(ei.name, "use") &&
        strcmp(ei.name, "minilm") && strncmp(ei.name, "http:", 5)) {
        /* An application's own model (a Python function): this process
         * cannot run it, and vectors instead of text are no answer here. */
        cli_err("mcp", "%s was embedded with '%s', an application's own model, which only that "
                "application can run, and every memory tool embeds text: keep the memory in a "
                "store with a built-in embedder (`cvstore init NEW_DB --embedder minilm`), or "
                "use it from the application (in Python, Store.remember and Store.recall)",
                path, ei.name);
        return CLI_EUSER;
    }
    if (rc || (rc = cvs_db_info(s->db, &in)))
        return cli_fail("mcp", rc, s->db);
    if (!(v = malloc((size_t)in.dim * sizeof *v)))
        return cli_fail("mcp", CVS_ENOMEM, NULL);
    rc = cvs_embed_text(s->db, "memory", 0, v);
    free(v);
    if (rc && rc != CVS_EINPUT) /* EINPUT: the probe word itself; the embedder works */
        return cli_fail("mcp", rc, s->db);
    return CLI_OK;
}

int cmd_mcp(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"max-memory-bytes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    server s = {.ns = CVS_MEM_DEFAULT_NS, .max_bytes = CVS_MEM_MAX_BYTES};
    uint64_t u;
    int c, rc;

    while ((c = getopt_long(argc, argv, "n:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            s.ns = optarg;
            break;
        case 'm':
            if (cli_parse_u64(optarg, 1, MCP_MEMORY_BYTES_MAX, &u)) {
                cli_err("mcp", "--max-memory-bytes: expected 1 to %u, not '%s'",
                        MCP_MEMORY_BYTES_MAX, optarg);
                return CLI_EUSER;
            }
            s.max_bytes = (size_t)u;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(usage);
        }
    }
    if (argc - optind != 1) {
        cli_err("mcp", "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return cli_usage_error(usage);
    }
    if (!*s.ns || strlen(s.ns) > CVS_MEM_NS_MAX) {
        cli_err("mcp", "namespace must have 1..%d bytes", CVS_MEM_NS_MAX);
        return CLI_EUSER;
    }
    {
        /* jansson's UTF-8 check: a namespace every tool would refuse is
         * refused here, once, rather than in each call's reply. */
        json_t *ns = json_string(s.ns);
        if (!ns) {
            cli_err("mcp", "--namespace is not valid UTF-8");
            return CLI_EUSER;
        }
        json_decref(ns);
    }
    /* A store on a read-only file system still answers recall and list
     * (recall leaves its time out); remember and forget say why they fail. */
    if ((rc = cli_open("mcp", argv[optind], CLI_OPEN_READ_FALLBACK, &s.db)))
        return rc;
    if ((rc = check_embedder(&s, argv[optind]))) {
        cvs_db_close(s.db);
        return rc;
    }
    /* A client that goes away must end us through EOF or a failed write,
     * not kill us mid-transaction with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    rc = serve(&s);
    cvs_db_close(s.db);
    return rc;
}
