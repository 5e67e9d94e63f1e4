/*
 * fuzz_cli.c -- libFuzzer target for the two text inputs of the command line
 * that no reader of store/ sees.  The first byte of an input picks one:
 *
 *   'M'  the rest is what an MCP client writes to `cvstore mcp`: each line
 *        goes through the server's own line handler (cli/mcp.c, reply_to,
 *        included below so that its static functions are reachable), as
 *        serve() feeds it, messages back to back on one line included,
 *        against a store with memories (a word-hashing embedder, 16-d):
 *        every reply must serialize, and the store must pass cvs_check
 *        afterwards (checked every 64 inputs: a check reads every record);
 *   'Q'  the rest is a `--queries FILE.jsonl` file (cli_queries_each, the
 *        reader of `cvstore context` and `cvstore search`): every query
 *        it hands out is a NUL-terminated string of the length it says.
 *
 * The tools write (remember, forget), so the store changes from input to
 * input, as a long-running server's does.  See fuzz/README.md.
 */
#include <ftw.h>

#include "cli/common.c"
#include "cli/mcp.c"

#define DIM 16

static cvs_db *fz_db;
static char fz_dir[64], fz_file[64];
static server fz_srv;
static volatile size_t fz_sink;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    cvs_db_close(fz_db);
    fz_db = NULL;
    nftw(fz_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    unlink(fz_file);
}

/* Hashed words plus a constant, so that no text embeds to zero. */
static int hash_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * DIM;
        uint32_t h = 2166136261u;
        memset(v, 0, DIM * sizeof *v);
        v[0] = 0.1f;
        for (size_t k = 0; k <= lens[i]; k++) {
            unsigned char c = k < lens[i] ? (unsigned char)texts[i][k] : ' ';
            if (c == ' ' || c == '.' || c == ',') {
                if (h != 2166136261u)
                    v[1 + h % (DIM - 1)] += 1.0f;
                h = 2166136261u;
            } else {
                h = (h ^ c) * 16777619u;
            }
        }
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const facts[] = {
        "The river flows past the old mill.", "My sister lives in Lyon.",
        "The meeting moved to Thursday at ten.", "Paris is the capital of France.",
        "The dog is called Rex.", "We bought the red car in May."};
    cvs_create_opts o = {DIM, CVS_METRIC_COSINE, CVS_RAW_F32};
    (void)argc;
    (void)argv;
    snprintf(fz_dir, sizeof fz_dir, "/tmp/cvs-fuzz-cli-%ld", (long)getpid());
    snprintf(fz_file, sizeof fz_file, "/tmp/cvs-fuzz-cli-%ld.jsonl", (long)getpid());
    if (cvs_db_create(fz_dir, &o, &fz_db) ||
        cvs_db_set_embedder(fz_db, "fuzz:hash", DIM, hash_embed, NULL)) {
        fprintf(stderr, "fuzz_cli: %s\n", cvs_errmsg(fz_db));
        exit(2);
    }
    atexit(cleanup);
    fz_srv = (server){.db = fz_db, .ns = CVS_MEM_DEFAULT_NS, .max_bytes = CVS_MEM_MAX_BYTES};
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        cvs_mem_remember_opts ro = {0};
        cvs_mem_remembered out;
        ro.ns = i % 2 ? "other" : CVS_MEM_DEFAULT_NS;
        if (cvs_mem_remember(fz_db, facts[i], strlen(facts[i]), &ro, &out)) {
            fprintf(stderr, "fuzz_cli: remember: %s\n", cvs_errmsg(fz_db));
            exit(2);
        }
    }
    return 0;
}

static void mcp_case(const uint8_t *p, size_t n)
{
    static unsigned inputs;
    size_t start = 0;
    /* Each input is a session of its own: most begin past the handshake,
     * so that the corpus's tool calls reach the tools (few seeds send
     * initialize first); one in four begins before it, where every request
     * but initialize and ping is refused. */
    fz_srv.initialized = (inputs & 3) != 0;
    while (start < n) {
        const uint8_t *nl = memchr(p + start, '\n', n - start);
        size_t len = nl ? (size_t)(nl - (p + start)) : n - start, off = 0, used;
        /* serve()'s loop over one line (read_line gives it NUL-terminated) */
        char *line = malloc(len + 1);
        if (!line)
            abort();
        memcpy(line, p + start, len);
        line[len] = '\0';
        while (off < len && !blank(line + off, len - off)) {
            json_t *reply = reply_to(&fz_srv, line + off, len - off, &used);
            if (used == 0 || used > len - off)
                abort(); /* no progress, or past the line */
            off += used;
            if (reply) {
                char *s = json_dumps(reply, JSON_COMPACT);
                if (!s)
                    abort();
                fz_sink += strlen(s);
                free(s);
                json_decref(reply);
            }
        }
        free(line);
        start += len + 1;
    }
    if (++inputs % 64 == 0) {
        uint64_t problems = 0;
        if (cvs_check(fz_db, NULL, NULL, &problems) || problems) {
            fprintf(stderr, "fuzz_cli: the store fails its check: %s\n", cvs_errmsg(fz_db));
            abort();
        }
    }
}

static int each_query(void *ctx, const char *id, const char *text, size_t len)
{
    (void)ctx;
    if (text[len] != '\0')
        abort();
    fz_sink += strlen(id) + len;
    return 0;
}

static void queries_case(const uint8_t *p, size_t n)
{
    FILE *f = fopen(fz_file, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n))
        abort();
    fclose(f);
    (void)cli_queries_each("fuzz", fz_file, each_query, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == 'M')
        mcp_case(data + 1, size - 1);
    else if (data[0] == 'Q')
        queries_case(data + 1, size - 1);
    return 0;
}
