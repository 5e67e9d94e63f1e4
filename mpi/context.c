/*
 * context.c -- `cvstore-mpi context`: context sets (cvs_context) over a
 * sharded store, printed as `cvstore context --queries --json` prints them.
 *
 * Method: the library's pipeline (query/context.c: hybrid seeds, a beam
 * walk over the graph, selection under a budget) runs once, at rank 0,
 * through cvs_context_source_run; every read it makes of "the store" is a
 * request that rank 0 broadcasts and the ranks answer for their shards,
 * the scatter-gather of sharded search engines (Elasticsearch's
 * dfs_query_then_fetch is the same idea for BM25: gather the term
 * statistics first, then score everywhere with the global ones):
 *
 *   1. BM25 (the question, and the bridge queries of the walk, announced
 *      together by cvs_context_source.bm25_prefetch and asked in one
 *      round trip): each rank
 *      sums its shards' N, total length and df of the query's terms, an
 *      MPI_Allreduce sums those over ranks, and every shard ranks its
 *      records with the global statistics (cvs_txn_text_search_terms), so
 *      a score is what one store holding every record would give it.  Each
 *      shard sends its k best; rank 0 keeps the k best of all (the k best
 *      of a union are among the union of the k bests).
 *   2. Vector search of the embedded question (rank 0 embeds it with shard
 *      0's embedder; every shard has the same one): each shard's k nearest,
 *      merged at rank 0 the same way.  The fusion and the seeds are then the
 *      pipeline's own, at rank 0, as in one store.
 *   3. Title seeds: every shard reports each run of the question's terms
 *      that names a title in its title map (cvs_txn_title_runs), and rank 0
 *      resolves them as one store holding every title would
 *      (cvs_title_runs_resolve: the longest title at each place, a title's
 *      records counted over all shards).  The runs travel with the answer
 *      to the question's BM25 query, which has the same terms.
 *   4. The walk: keys are global (below), so an edge is followed wherever
 *      its target lives.  A record's links come from the rank that owns
 *      its shard, in stored order (put_links): a link is kept by id, and
 *      its target may be in another shard (an explicit link across shards,
 *      or a mention: `cvstore-mpi import` links every shard's texts against
 *      the titles of all, mpi/link.c), whose key the owner gives when it
 *      is its own and rank 0 asks the target's rank for otherwise
 *      (OP_RESOLVE, one round trip for the whole hop); a target found
 *      nowhere is skipped, as one store skips it.  Its backlinks come from
 *      every shard (a link's backlink is kept in its source's shard, under
 *      the target's id: cvs_txn_backlinks_id), merged by id.  The mention
 *      links themselves are made when the records are written, not here:
 *      a backlink is a search over every text for the record's title,
 *      which only a stored index answers in one read.  Its kNN edges are
 *      found at query time
 *      over all shards (x_knn): one store's kNN graph (graph/knn.c, built
 *      by `cvstore import`) holds each record's exact K = 16 nearest, found
 *      by an exact search with the record's vector, so an exact search of
 *      every shard with that vector, merged, the record left out, is the
 *      same row wherever the neighbours live.  This route rather than a
 *      stored cross-shard graph: a row names its neighbours by local key,
 *      which cannot name another shard's record without a new format, and
 *      the search costs each rank a scan of its vectors per hop, far less
 *      than the round trip it rides on at these sizes.  Each hop asks for
 *      the links, backlinks and vectors of the whole beam in one round
 *      trip (cvs_context_source.prefetch), then for their neighbours in a
 *      second.
 *   5. Selection at rank 0: the pool's records (id, title, text, vector)
 *      are fetched from their owners in one round trip.
 *   6. A question that names no title (query/context.c, deviation 14)
 *      weighs its terms by their idf over all shards: the N and df of
 *      step 1, summed by the same collective (cvs_context_source.
 *      text_stats), brought by step 7's round trip, or in one of its own
 *      (OP_STATS) when step 7 is not asked (--exact-words).
 *   7. Word forms (query/context.c, deviation 17): such a question's BM25
 *      list counts each of its terms' forms in the vocabulary, the terms
 *      with the same Snowball stem, as one term: tf summed over the forms,
 *      df the records holding any.  Over shards the vocabulary is the
 *      union of the shards', yet each shard can find the classes in its
 *      own (cvs_txn_word_classes, the library's rule): a form that no
 *      record of a shard holds adds nothing to that shard's scores, and a
 *      record is in one shard, so the sum over shards of the records
 *      holding a class's local forms is the union's df in one store.  So
 *      one round trip (OP_FORMS, the source's bm25_forms, cvs_context_
 *      source version 3): every shard finds its classes and counts per
 *      class its records holding any form (cvs_txn_text_class_stats); one
 *      MPI_Allreduce sums those with N, the total length, the forms found
 *      beyond the question's own, whether a shard keeps its terms hashed,
 *      and the question terms' own df (step 6, so the statistics' round
 *      trip is saved and the forms cost none); when some shard found
 *      another form and none is hashed, every shard ranks its records
 *      with the sums (cvs_txn_text_search_classes) and rank 0 keeps the k
 *      best, as in step 1.  The scores are one store's: a record's tf and
 *      length are its own, idf and avgdl the sums'.  The class numbers
 *      agree because each shard numbers the question's distinct stems in
 *      question order, as context.c does.  This rather than the
 *      vocabulary's ranges sent to rank 0 to be stemmed there: that costs
 *      one more round trip, and a stem's share of every shard's vocabulary
 *      on the wire.
 *      Shards whose stores are encrypted keep their terms as keyed hashes
 *      in no order a word's forms share: they say so in the sum, and the
 *      question keeps its exact forms, as one encrypted store does.
 *
 * A record's key in the pipeline is global: its key in its shard times the
 * shard count, plus the shard.  Every answer carries the record's id too,
 * which rank 0 keeps for the question (key_id, and the order of ties).
 *
 * Where the result differs from one store holding the same records
 * (docs/SCALING.md, "context across shards"):
 *   1. Ties.  One store orders records of equal score (BM25, vector, the
 *      walk's relevance) by internal key, i.e. insertion order; across
 *      shards they are ordered by id (bytewise, then shorter first), as
 *      `cvstore-mpi search` does.  Identical where one store's records were
 *      inserted in id order.
 *   2. A shard written alone.  A put on one shard through `cvstore` keeps
 *      its mention links with that shard's titles only, until the next
 *      `cvstore-mpi import` links over all shards again; a shard's own kNN
 *      graph (`cvstore link` on it) is not read.  Otherwise the walk over
 *      links, backlinks, kNN edges (step 4) and bridge edges (step 1) is
 *      one store's: with every option at its default, the sets are one
 *      store's (tests/mpi_context.sh on 2 and 4 shards).
 *   3. Sentence units need one store's sentence table: --unit sentence is
 *      refused.
 *   4. A question costs about 11 round trips at the defaults (BM25 with
 *      the title runs, vector search, per hop the beam's links, backlinks
 *      and vectors and then its kNN rows, the links into another rank's
 *      shards, the first hop's bridge queries together and their hits'
 *      records, the pool's records; a question that names no title walks
 *      no hop and asks instead for its terms' statistics, in the round
 *      trip of its word forms' class search, steps 6 and 7), each a
 *      broadcast and a gather that
 *      the ranks wait for by polling with sleeps (mcmd_wait) rather than
 *      spinning: on a machine with fewer free cores than ranks, every
 *      round trip waits for the scheduler, and latency, not work, sets the
 *      time.  Several questions per round trip would pay it per batch; the
 *      pipeline runs one question at a time, so that is not built.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "mpicmd.h"

static const char usage[] =
    "Usage: mpirun -np N cvstore-mpi context DB --queries FILE.jsonl [--budget TOKENS]\n"
    "                       [--strategy diverse|topk|mmr|bm25|vector] [--hops N]\n"
    "                       [--fanout N] [--bridges N] [--lambda L] [--lexical-weight W]\n"
    "                       [--fusion rrf|weighted] [--no-links] [--no-knn]\n"
    "                       [--exact-words] [--json] [--timing]\n"
    "\n"
    "A context set for each question of FILE.jsonl (one {\"id\", \"text\"} object a\n"
    "line) over all shards, one JSON line per question in file order, as\n"
    "`cvstore context --queries` prints them.  BM25 scores with the statistics\n"
    "of all shards together (a word's other forms found in the vocabulary of\n"
    "all shards); the seeds, the walk (links and backlinks followed into any\n"
    "shard, kNN edges found over all shards) and the selection are one store's.\n"
    "The options are those of `cvstore context` (--unit passage only; no\n"
    "--filter: a metadata filter is not supported across shards).  Items carry\n"
    "no \"meta\" here.\n"
    "\n"
    "Options:\n"
    "      --queries FILE      the questions, JSONL (required)\n"
    "  -b, --budget N          token budget (default 512)\n"
    "  -s, --strategy S        diverse (default), topk, mmr, bm25, vector\n"
    "      --hops N            graph hops from the seeds (default 2; 0 = none)\n"
    "      --fanout N          edges followed per node and kind (default 8)\n"
    "      --bridges N         seeds that issue a bridge query (default 3)\n"
    "      --lambda L          mmr: relevance vs. novelty in [0, 1] (default 0.7)\n"
    "      --lexical-weight W  share of BM25 in the fusion, [0, 1] (default 0.8)\n"
    "      --fusion F          weighted (default) or rrf\n"
    "      --unit passage      whole records (the only unit across shards)\n"
    "      --no-links          do not follow links\n"
    "      --no-knn            do not follow kNN edges\n"
    "      --exact-words       a question that names no title is ranked by its\n"
    "                          words as written, not also their other forms in\n"
    "                          the shards' vocabulary\n"
    "      --json              JSON output (always, as with `cvstore context --queries`)\n"
    "      --timing            print on stderr the batch's time at rank 0 (start-up\n"
    "                          left out), the ranks' CPU time, the round trips and\n"
    "                          the bytes of their replies\n"
    "  -h, --help              show this help\n";

/* CPU seconds of this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ==== Requests ==== */

enum {
    OP_END = 0, OP_BM25, OP_VEC, OP_TITLES, OP_FETCH, OP_BM25N, OP_KNN, OP_RESOLVE, OP_STATS,
    OP_FORMS
};

/* The K of the kNN graph the walk follows: what `cvstore import` builds in
 * one store (cvs_knn_opts.k = 0), each record's exact K nearest, found here
 * over all shards when the walk asks (x_knn). */
#define KNN_K 16

/* What rank 0 broadcasts before each request: op, three arguments, and
 * the bytes of the payload that follows. */
typedef struct req {
    int64_t op, a, b, c, len;
} req;

static const char *const edge_types[] = {"mentions", "link", "linked-by", "knn", "bridge"};

/* A growing byte buffer. */
typedef struct mbuf {
    char *p;
    size_t n, cap;
} mbuf;

static int mb_put(mbuf *b, const void *x, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 1024;
        while (c < b->n + n)
            c *= 2;
        char *p = realloc(b->p, c);
        if (!p)
            return CVS_ENOMEM;
        b->p = p;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, x, n);
    b->n += n;
    return CVS_OK;
}

/* A reader over one rank's reply. */
typedef struct rd {
    const char *p, *end;
} rd;

static int rd_get(rd *r, void *x, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    memcpy(x, r->p, n);
    r->p += n;
    return 0;
}

/* ==== Rank 0's memory of a question: ids and records by global key ==== */

typedef struct rec_copy {
    char *title, *text;        /* malloc'd, NUL-terminated, or NULL */
    size_t title_len, text_len;
    float *vec;
} rec_copy;

/* What rank 0 has fetched of one record during a question. */
typedef struct node {
    char *id;                  /* malloc'd, NUL-terminated */
    size_t len;
    int rec_state;             /* 0 not fetched, 1 rec, 2 absent */
    rec_copy rec;
    int have[3];               /* edges of each cvs_edge_kind fetched ... */
    size_t cap[3];             /* ... up to cap: ne[k] of them in e[k] */
    size_t ne[3];
    cvs_edge *e[3];
} node;

typedef struct kmap {
    int64_t *keys;             /* -1 = empty */
    node **nodes;              /* each its own allocation: pointers into it stay */
    size_t n, cap;
} kmap;

static size_t kslot(const kmap *m, int64_t key)
{
    size_t i = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ull >> 20) & (m->cap - 1);
    while (m->keys[i] >= 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void node_free(node *d)
{
    if (!d)
        return;
    free(d->id);
    free(d->rec.title);
    free(d->rec.text);
    free(d->rec.vec);
    for (int k = 0; k < 3; k++)
        free(d->e[k]);
    free(d);
}

static void kmap_clear(kmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] < 0)
            continue;
        node_free(m->nodes[i]);
        m->keys[i] = -1;
        m->nodes[i] = NULL;
    }
    m->n = 0;
}

static void kmap_free(kmap *m)
{
    if (m->keys)
        kmap_clear(m);
    free(m->keys);
    free(m->nodes);
    memset(m, 0, sizeof *m);
}

/* The node of key, added (with a copy of its id) when new. */
static int kmap_add(kmap *m, int64_t key, const char *id, size_t len, node **out)
{
    size_t i;
    if ((m->n + 1) * 2 > m->cap) {
        kmap b = {0};
        b.cap = m->cap ? m->cap * 2 : 1024;
        if (!(b.keys = malloc(b.cap * sizeof *b.keys)) ||
            !(b.nodes = calloc(b.cap, sizeof *b.nodes))) {
            free(b.keys);
            free(b.nodes);
            return CVS_ENOMEM;
        }
        for (size_t j = 0; j < b.cap; j++)
            b.keys[j] = -1;
        for (size_t j = 0; j < m->cap; j++)
            if (m->keys[j] >= 0) {
                size_t t = kslot(&b, m->keys[j]);
                b.keys[t] = m->keys[j];
                b.nodes[t] = m->nodes[j];
            }
        b.n = m->n;
        free(m->keys);
        free(m->nodes);
        *m = b;
    }
    i = kslot(m, key);
    if (m->keys[i] < 0) {
        node *d = calloc(1, sizeof *d);
        if (!d || !(d->id = malloc(len + 1))) {
            free(d);
            return CVS_ENOMEM;
        }
        memcpy(d->id, id, len);
        d->id[len] = '\0';
        d->len = len;
        m->keys[i] = key;
        m->nodes[i] = d;
        m->n++;
    }
    *out = m->nodes[i];
    return CVS_OK;
}

static node *kmap_find(const kmap *m, int64_t key)
{
    size_t i;
    if (!m->cap)
        return NULL;
    i = kslot(m, key);
    return m->keys[i] >= 0 ? m->nodes[i] : NULL;
}

/* ==== The command's state ==== */

typedef struct mctx {
    const char *cmd;
    uint32_t nshards, dim;
    cvs_metric metric;
    cvs_db **dbs;              /* [shard], NULL where another rank owns it */
    cvs_txn **txns;
    mbuf mine;                 /* this rank's reply */
    char *all;                 /* rank 0: every rank's reply */
    int *sizes, *displs;
    kmap km;                   /* rank 0: the question's keys */
    uint64_t requests;         /* rank 0: round trips so far */
    uint64_t gathered;         /* rank 0: bytes of the replies gathered so far */
    /* Rank 0: the question's title runs, fetched with its BM25 query
     * (x_bm25): for the terms tterms (tn of them), each rank's runs at
     * truns + toff[rank], tlen[rank] bytes. */
    int titles_next;           /* the next BM25 query is a question's */
    int tvalid;
    size_t tn;
    mbuf tterms, truns;
    size_t *toff, *tlen;
    /* Rank 0: the answers to the BM25 queries announced for a hop
     * (x_bm25_prefetch), nbq of them, each for its terms and k. */
    struct bq {
        mbuf terms;
        size_t n, k;
        int64_t *keys;
        float *scores;
    } *bq;
    size_t nbq, capbq;
    /* Rank 0: the BM25 statistics of the question's terms (sterms, sn of
     * them: the record count, the total length, each term's df), summed
     * over all shards by the round trip of the word forms' class search
     * (x_bm25_forms), for x_text_stats. */
    int svalid;
    size_t sn;
    mbuf sterms;
    uint64_t *sums;
} mctx;

static int64_t gkey(const mctx *c, uint32_t shard, int64_t local)
{
    return local * (int64_t)c->nshards + (int64_t)shard;
}

/* This rank's failure on shard s: the message names both; the reply
 * carries the code so that rank 0 fails the question. */
static int shard_fail(const mctx *c, uint32_t s, int rc)
{
    cli_err(c->cmd, "rank %d: shard %u: %s: %s", g_mpi.rank, s, cvs_strerror(rc),
            cvs_errmsg(c->dbs[s]));
    return rc;
}

/* One entry of a ranked list: score, global key, id. */
static int put_hit(mctx *c, uint32_t s, float score, int64_t local, int *rc)
{
    const char *id;
    size_t len;
    int64_t g = gkey(c, s, local);
    uint32_t l32;
    int r = cvs_key_id(c->txns[s], local, &id, &len);
    if (r) {
        *rc = shard_fail(c, s, r);
        return r;
    }
    l32 = (uint32_t)len;
    if (mb_put(&c->mine, &score, 4) || mb_put(&c->mine, &g, 8) || mb_put(&c->mine, &l32, 4) ||
        mb_put(&c->mine, id, len))
        return *rc = CVS_ENOMEM;
    return CVS_OK;
}

/* One title run of shard s (cvs_txn_title_runs): start, length, records
 * of the title, then its live records as hits. */
typedef struct run_ctx {
    mctx *c;
    uint32_t s;
    int rc;
} run_ctx;

static int put_run(void *ctx, const cvs_title_run *run)
{
    run_ctx *x = ctx;
    uint32_t h[4] = {(uint32_t)run->start, (uint32_t)run->len, (uint32_t)run->same,
                     (uint32_t)run->nkeys};
    if (mb_put(&x->c->mine, h, sizeof h))
        return x->rc = CVS_ENOMEM;
    for (size_t i = 0; i < run->nkeys; i++)
        if (put_hit(x->c, x->s, 0, run->keys[i], &x->rc))
            return x->rc;
    return CVS_OK;
}

/* Record g (global key) of shard s: tag 3, g, found (u8), then its id,
 * title, text (u64 length, UINT64_MAX for none, bytes) and vector. */
static int put_record(mctx *c, uint32_t s, int64_t g)
{
    cvs_record rec;
    uint8_t tag = 3, found;
    float *v = malloc(c->dim * sizeof *v);
    int rc = CVS_OK, r;
    if (!v)
        return CVS_ENOMEM;
    r = cvs_get_key(c->txns[s], g / c->nshards, &rec, v);
    found = r == CVS_OK;
    if (r && r != CVS_NOTFOUND) {
        rc = shard_fail(c, s, r);
    } else if (mb_put(&c->mine, &tag, 1) || mb_put(&c->mine, &g, 8) ||
               mb_put(&c->mine, &found, 1)) {
        rc = CVS_ENOMEM;
    } else if (found) {
        uint64_t tl = rec.title ? rec.title_len : UINT64_MAX;
        uint64_t xl = rec.text ? rec.text_len : UINT64_MAX;
        if (put_hit(c, s, 0, g / c->nshards, &rc) == CVS_OK &&
            (mb_put(&c->mine, &tl, 8) || mb_put(&c->mine, rec.title, rec.title ? tl : 0) ||
             mb_put(&c->mine, &xl, 8) || mb_put(&c->mine, rec.text, rec.text ? xl : 0) ||
             mb_put(&c->mine, v, c->dim * sizeof *v)))
            rc = CVS_ENOMEM;
    }
    free(v);
    return rc;
}

/* The links of record g of shard s, in stored order, as cvs_txn_edges
 * gives them in one store (a target that is nowhere skipped): tag 0, g,
 * their count (u32), then each: weight, type (an index of edge_types),
 * then the target as a hit when a shard of this rank holds it; with the
 * type's bit 0x80, the target's id alone (u32 length, bytes) when another
 * rank's shard would: rank 0 asks that rank (OP_RESOLVE). */
static int put_links(mctx *c, uint32_t s, int64_t g)
{
    cvs_record rec;
    uint8_t tag = CVS_EDGES_LINKS;
    uint32_t n32 = 0;
    size_t at;
    int rc = CVS_OK, r = cvs_get_key(c->txns[s], g / c->nshards, &rec, NULL);
    if (r == CVS_NOTFOUND)
        rec.nlinks = 0;
    else if (r)
        return shard_fail(c, s, r);
    if (mb_put(&c->mine, &tag, 1) || mb_put(&c->mine, &g, 8))
        return CVS_ENOMEM;
    at = c->mine.n;
    if (mb_put(&c->mine, &n32, 4))
        return CVS_ENOMEM;
    for (size_t i = 0; i < rec.nlinks && !rc; i++) {
        const cvs_link *l = &rec.links[i];
        uint32_t t = (uint32_t)(shards_hash(l->id, l->id_len) % c->nshards);
        uint8_t ty = l->type && !strcmp(l->type, CVS_LINK_MENTIONS) ? 0 : 1;
        int64_t key;
        if (!c->txns[t]) {
            uint32_t len = (uint32_t)l->id_len;
            ty |= 0x80;
            if (mb_put(&c->mine, &l->weight, 4) || mb_put(&c->mine, &ty, 1) ||
                mb_put(&c->mine, &len, 4) || mb_put(&c->mine, l->id, len))
                rc = CVS_ENOMEM;
            n32++;
            continue;
        }
        r = cvs_txn_id_key(c->txns[t], l->id, l->id_len, &key);
        if (r == CVS_NOTFOUND)
            continue;
        if (r)
            rc = shard_fail(c, t, r);
        else if (mb_put(&c->mine, &l->weight, 4) || mb_put(&c->mine, &ty, 1))
            rc = CVS_ENOMEM;
        else if (put_hit(c, t, 0, key, &rc) == CVS_OK)
            n32++;
    }
    if (!rc)
        memcpy(c->mine.p + at, &n32, 4);
    return rc;
}

/* The records of shard s linking to record g (id, len), up to cap, in the
 * shard's key order: tag 1, g, their count (u32), then each: weight, type
 * (an index of edge_types), the source as a hit.  Rank 0 merges the
 * shards' lists. */
static int put_backlinks(mctx *c, uint32_t s, int64_t g, const char *id, uint32_t len,
                         size_t cap)
{
    uint8_t tag = CVS_EDGES_BACKLINKS, ty = 2;
    uint32_t n32;
    size_t n = 0;
    cvs_edge *e = malloc((cap ? cap : 1) * sizeof *e);
    int rc = CVS_OK, r;
    if (!e)
        return CVS_ENOMEM;
    if ((r = cvs_txn_backlinks_id(c->txns[s], id, len, cap, e, &n))) {
        free(e);
        return shard_fail(c, s, r);
    }
    n32 = (uint32_t)n;
    if (mb_put(&c->mine, &tag, 1) || mb_put(&c->mine, &g, 8) || mb_put(&c->mine, &n32, 4))
        rc = CVS_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        if (mb_put(&c->mine, &e[i].weight, 4) || mb_put(&c->mine, &ty, 1))
            rc = CVS_ENOMEM;
        else
            put_hit(c, s, 0, e[i].key, &rc);
    }
    free(e);
    return rc;
}

/* Adds this rank's shards' BM25 statistics for the terms tm into st: the
 * record count, the total length, then each term's document frequency
 * (df: scratch of tm->n). */
static int add_stats(const mctx *c, const cvs_terms *tm, uint64_t *st, uint64_t *df)
{
    for (uint32_t s = 0; s < c->nshards; s++) {
        uint64_t nd, tot;
        int r;
        if (!c->txns[s])
            continue;
        if ((r = cvs_txn_text_stats(c->txns[s], tm, &nd, &tot, df)))
            return shard_fail(c, s, r);
        st[0] += nd;
        st[1] += tot;
        for (size_t i = 0; i < tm->n; i++)
            st[2 + i] += df[i];
    }
    return CVS_OK;
}

/* The BM25 statistics of the terms tm summed over every rank's shards
 * (record count, total length, each term's document frequency: 2 + tm->n
 * words, into *sum, which the caller frees).  A collective: every rank
 * calls it with the same tm->n and joins the sum even when its own shards
 * failed (the error is returned after); a rank that cannot allocate the
 * few hundred bytes cannot join, so it aborts the job. */
static int sum_stats(const mctx *c, const cvs_terms *tm, uint64_t **sum)
{
    size_t n = tm->n;
    uint64_t *st = calloc(2 + n, sizeof *st), *df = calloc(n ? n : 1, sizeof *df);
    MPI_Request ar;
    int rc;
    *sum = calloc(2 + n, sizeof **sum);
    if (!st || !*sum || !df) {
        cli_err(c->cmd, "rank %d: out of memory", g_mpi.rank);
        MPI_Abort(MPI_COMM_WORLD, CLI_EFAIL);
    }
    rc = add_stats(c, tm, st, df);
    MPI_Iallreduce(st, *sum, (int)(2 + n), MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &ar);
    mcmd_wait(&ar);
    free(st);
    free(df);
    return rc;
}

/* One store's k best for a query (a term list, or classes of terms)
 * under statistics given: cvs_txn_text_search_terms, _classes. */
typedef int (*search_fn)(cvs_txn *t, const void *q, const cvs_text_stats *st, size_t k,
                         int64_t *keys, float *scores);

static int terms_search(cvs_txn *t, const void *q, const cvs_text_stats *st, size_t k,
                        int64_t *keys, float *scores)
{
    return cvs_txn_text_search_terms(t, q, st, k, keys, scores);
}

static int classes_search(cvs_txn *t, const void *q, const cvs_text_stats *st, size_t k,
                          int64_t *keys, float *scores)
{
    return cvs_txn_text_search_classes(t, q, st, k, keys, scores);
}

/* Each of this rank's shards' k best for the query q (shard s's at q + s *
 * stride bytes: stride 0, the same for every shard) under the summed
 * statistics gs, into c->mine: their count (u32; written even when *rc
 * already holds an error, then 0), then the hits.  Errors into *rc. */
static void put_bm25_hits(mctx *c, search_fn search, const void *q, size_t stride,
                          const cvs_text_stats *gs, size_t k, int64_t *keys, float *scores,
                          int *rc)
{
    uint32_t nhits = 0;
    size_t at = c->mine.n;
    int r;
    if (mb_put(&c->mine, &nhits, 4))
        *rc = CVS_ENOMEM;
    for (uint32_t s = 0; s < c->nshards && !*rc; s++) {
        if (!c->txns[s])
            continue;
        if ((r = search(c->txns[s], (const char *)q + s * stride, gs, k, keys, scores))) {
            *rc = shard_fail(c, s, r);
            break;
        }
        for (size_t i = 0; i < k && keys[i] >= 0 && !*rc; i++)
            if (put_hit(c, s, scores[i], keys[i], rc) == CVS_OK)
                nhits++;
    }
    if (!*rc)
        memcpy(c->mine.p + at, &nhits, 4);
}

/* Deviation 17's word forms on this rank: each shard's classes of the
 * question's terms tm in its own vocabulary (into wc[s]; a form no record
 * of the shard holds adds nothing to its scores), and into st, summed
 * over the shards: the record count, the total length, the forms found
 * other than the question's, whether a shard's terms are hashed, each
 * class's df (n words: a class number is below the question's term count
 * n), then each question term's df (n words, for deviation 14's idf). */
static int add_forms(const mctx *c, const cvs_terms *tm, cvs_word_classes *wc, uint64_t *st)
{
    size_t n = tm->n;
    uint64_t *df = calloc(n ? n : 1, sizeof *df);
    int rc = df ? CVS_OK : CVS_ENOMEM;
    for (uint32_t s = 0; s < c->nshards && !rc; s++) {
        uint64_t nd, tot;
        int r;
        if (!c->txns[s])
            continue;
        if ((r = cvs_txn_word_classes(c->txns[s], tm, &wc[s])) ||
            (r = wc[s].classes.nclasses > n ? CVS_EINVAL : CVS_OK) ||
            (r = cvs_txn_text_class_stats(c->txns[s], &wc[s].classes, &nd, &tot, df))) {
            rc = shard_fail(c, s, r);
            break;
        }
        st[0] += nd;
        st[1] += tot;
        st[2] += wc[s].other;
        st[3] |= !wc[s].ordered;
        for (size_t i = 0; i < wc[s].classes.nclasses; i++)
            st[4 + i] += df[i];
        if ((r = cvs_txn_text_stats(c->txns[s], tm, &nd, &tot, df))) {
            rc = shard_fail(c, s, r);
            break;
        }
        for (size_t i = 0; i < n; i++)
            st[4 + n + i] += df[i];
    }
    free(df);
    return rc;
}

/* A request's work on this rank, into c->mine (an int32 code first). */
static int serve(mctx *c, const req *q, const char *payload)
{
    int rc = CVS_OK, r;
    int32_t code;
    c->mine.n = 0;
    if (mb_put(&c->mine, &rc, 4))
        return CVS_ENOMEM;
    switch (q->op) {
    case OP_BM25: {
        cvs_terms tm = {payload, (size_t)q->len, (size_t)q->a};
        size_t k = (size_t)q->b;
        uint64_t *sum = NULL;
        int64_t *keys = malloc((k ? k : 1) * sizeof *keys);
        float *scores = malloc((k ? k : 1) * sizeof *scores);
        if (!keys || !scores) {
            /* sum_stats is a collective every rank must join: a rank
             * without a few hundred bytes cannot. */
            cli_err(c->cmd, "rank %d: out of memory", g_mpi.rank);
            MPI_Abort(MPI_COMM_WORLD, CLI_EFAIL);
        }
        rc = sum_stats(c, &tm, &sum);
        cvs_text_stats gs = {sum[0], sum[1], sum + 2};
        put_bm25_hits(c, terms_search, &tm, 0, &gs, k, keys, scores, &rc);
        /* The question's BM25 brings its title runs along (OP_TITLES'
         * answer), saving the pipeline a round trip. */
        for (uint32_t s = 0; s < c->nshards && !rc && q->c; s++) {
            run_ctx rx = {c, s, CVS_OK};
            if (!c->txns[s])
                continue;
            if ((r = cvs_txn_title_runs(c->txns[s], &tm, put_run, &rx)))
                rc = rx.rc ? rx.rc : shard_fail(c, s, r);
        }
        free(sum);
        free(keys);
        free(scores);
        break;
    }
    case OP_BM25N: {
        /* As OP_BM25 for q->a queries at once (each: u32 terms, u32 bytes,
         * the terms), their statistics summed in one collective. */
        size_t nq = (size_t)q->a, k = (size_t)q->b, tot = 0, pos = 0;
        cvs_terms *tm = calloc(nq ? nq : 1, sizeof *tm);
        size_t *off = calloc(nq ? nq : 1, sizeof *off);
        uint64_t *st = NULL, *sum = NULL, *df = NULL;
        int64_t *keys = malloc((k ? k : 1) * sizeof *keys);
        float *scores = malloc((k ? k : 1) * sizeof *scores);
        size_t maxn = 1;
        for (size_t j = 0; tm && off && j < nq; j++) {
            uint32_t h[2];
            memcpy(h, payload + pos, sizeof h);
            tm[j] = (cvs_terms){payload + pos + 8, h[1], h[0]};
            pos += 8 + h[1];
            off[j] = tot;
            tot += 2 + h[0];
            maxn = h[0] > maxn ? h[0] : maxn;
        }
        st = calloc(tot ? tot : 1, sizeof *st);
        sum = calloc(tot ? tot : 1, sizeof *sum);
        df = calloc(maxn, sizeof *df);
        if (!tm || !off || !st || !sum || !df || !keys || !scores) {
            cli_err(c->cmd, "rank %d: out of memory", g_mpi.rank);
            MPI_Abort(MPI_COMM_WORLD, CLI_EFAIL);
        }
        for (size_t j = 0; j < nq && !rc; j++)
            rc = add_stats(c, &tm[j], st + off[j], df);
        MPI_Request ar;
        MPI_Iallreduce(st, sum, (int)tot, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &ar);
        mcmd_wait(&ar);
        for (size_t j = 0; j < nq && !rc; j++) {
            cvs_text_stats gs = {sum[off[j]], sum[off[j] + 1], sum + off[j] + 2};
            put_bm25_hits(c, terms_search, &tm[j], 0, &gs, k, keys, scores, &rc);
        }
        free(tm);
        free(off);
        free(st);
        free(sum);
        free(df);
        free(keys);
        free(scores);
        break;
    }
    case OP_STATS: {
        /* The BM25 statistics of q->a terms over all shards: the record
         * count and each term's document frequency, summed in one
         * collective; rank 0 reads its own reply (x_text_stats). */
        cvs_terms tm = {payload, (size_t)q->len, (size_t)q->a};
        size_t n = (size_t)q->a;
        uint64_t *sum = NULL;
        rc = sum_stats(c, &tm, &sum);
        if (!rc && g_mpi.rank == 0 && mb_put(&c->mine, sum, (2 + n) * sizeof *sum))
            rc = CVS_ENOMEM;
        free(sum);
        break;
    }
    case OP_FORMS: {
        /* Deviation 17's class search for the question's q->a terms (the
         * payload), in one round trip: every shard's classes and their
         * statistics summed in one collective (with the question terms'
         * own df, which rank 0 keeps for x_text_stats), then, when some
         * shard found another form and none keeps its terms hashed, every
         * shard's q->b best under the sums.  Reply: used (u8), then the
         * hits as put_bm25_hits writes them. */
        cvs_terms tm = {payload, (size_t)q->len, (size_t)q->a};
        size_t n = (size_t)q->a, k = (size_t)q->b, nst = 4 + 2 * n;
        cvs_word_classes *wc = calloc(c->nshards, sizeof *wc);
        uint64_t *st = calloc(nst, sizeof *st), *sum = calloc(nst, sizeof *sum);
        int64_t *keys = malloc((k ? k : 1) * sizeof *keys);
        float *scores = malloc((k ? k : 1) * sizeof *scores);
        MPI_Request ar;
        uint8_t used;
        if (!wc || !st || !sum || !keys || !scores) {
            /* the sum is a collective every rank must join */
            cli_err(c->cmd, "rank %d: out of memory", g_mpi.rank);
            MPI_Abort(MPI_COMM_WORLD, CLI_EFAIL);
        }
        rc = add_forms(c, &tm, wc, st);
        MPI_Iallreduce(st, sum, (int)nst, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &ar);
        mcmd_wait(&ar);
        used = !rc && !sum[3] && sum[2];
        if (!rc && mb_put(&c->mine, &used, 1))
            rc = CVS_ENOMEM;
        if (!rc && used) {
            cvs_text_stats gs = {sum[0], sum[1], sum + 4};
            put_bm25_hits(c, classes_search, &wc[0].classes, sizeof *wc, &gs, k, keys, scores,
                          &rc);
        }
        /* Rank 0 keeps the record count and the question terms' df, laid
         * out as OP_STATS answers (stats_cached). */
        if (!rc && g_mpi.rank == 0) {
            uint64_t *keep = malloc((2 + n) * sizeof *keep);
            if (!keep) {
                rc = CVS_ENOMEM;
            } else {
                keep[0] = sum[0];
                keep[1] = sum[1];
                memcpy(keep + 2, sum + 4 + n, n * sizeof *keep);
                free(c->sums);
                c->sums = keep;
            }
        }
        for (uint32_t s2 = 0; s2 < c->nshards; s2++)
            cvs_word_classes_free(&wc[s2]);
        free(wc);
        free(st);
        free(sum);
        free(keys);
        free(scores);
        break;
    }
    case OP_VEC: {
        size_t k = (size_t)q->b;
        int64_t *keys = malloc((k ? k : 1) * sizeof *keys);
        float *scores = malloc((k ? k : 1) * sizeof *scores);
        cvs_search_params sp = {.flags = (unsigned)q->c};
        if (!keys || !scores)
            rc = CVS_ENOMEM;
        for (uint32_t s = 0; s < c->nshards && !rc; s++) {
            if (!c->txns[s])
                continue;
            if ((r = cvs_txn_search_params(c->txns[s], (const float *)(const void *)payload, 1,
                                           k, &sp, keys, scores))) {
                rc = shard_fail(c, s, r);
                break;
            }
            for (size_t i = 0; i < k && keys[i] >= 0 && !rc; i++)
                put_hit(c, s, scores[i], keys[i], &rc);
        }
        free(keys);
        free(scores);
        break;
    }
    case OP_TITLES: {
        cvs_terms tm = {payload, (size_t)q->len, (size_t)q->a};
        for (uint32_t s = 0; s < c->nshards && !rc; s++) {
            run_ctx rx = {c, s, CVS_OK};
            if (!c->txns[s])
                continue;
            if ((r = cvs_txn_title_runs(c->txns[s], &tm, put_run, &rx)))
                rc = rx.rc ? rx.rc : shard_fail(c, s, r);
        }
        break;
    }
    case OP_KNN: {
        /* q->a vectors (the walk's records, dim floats each): every shard's
         * exact q->b nearest of each, as the rows of one store's kNN graph
         * are found (graph/knn.c: exact search, sgemm batches).  For each
         * shard, for each vector: u32 count, then the hits. */
        size_t nq = (size_t)q->a, k = (size_t)q->b;
        int64_t *keys = malloc((nq * k > 0 ? nq * k : 1) * sizeof *keys);
        float *scores = malloc((nq * k > 0 ? nq * k : 1) * sizeof *scores);
        cvs_search_params sp = {.flags = CVS_SEARCH_EXACT};
        if (!keys || !scores || (size_t)q->len != nq * c->dim * sizeof(float))
            rc = !keys || !scores ? CVS_ENOMEM : CVS_EINVAL;
        for (uint32_t s = 0; s < c->nshards && !rc; s++) {
            if (!c->txns[s])
                continue;
            if ((r = cvs_txn_search_params(c->txns[s], (const float *)(const void *)payload, nq,
                                           k, &sp, keys, scores))) {
                rc = shard_fail(c, s, r);
                break;
            }
            for (size_t j = 0; j < nq && !rc; j++) {
                uint32_t cnt = 0;
                while (cnt < k && keys[j * k + cnt] >= 0)
                    cnt++;
                if (mb_put(&c->mine, &cnt, 4))
                    rc = CVS_ENOMEM;
                for (size_t i = 0; i < cnt && !rc; i++)
                    put_hit(c, s, scores[j * k + i], keys[j * k + i], &rc);
            }
        }
        free(keys);
        free(scores);
        break;
    }
    case OP_FETCH: {
        /* Items: i64 global key, u32 id length, id.  The owner answers for
         * the record and its links; every shard for the records linking to
         * it (a link to another shard is kept in its source's shard). */
        size_t pos = 0;
        while (pos + 12 <= (size_t)q->len && !rc) {
            int64_t g;
            uint32_t len;
            memcpy(&g, payload + pos, 8);
            memcpy(&len, payload + pos + 8, 4);
            const char *id = payload + pos + 12;
            uint32_t s = (uint32_t)(g % c->nshards);
            pos += 12 + (size_t)len;
            if (pos > (size_t)q->len) {
                rc = CVS_EINVAL;
                break;
            }
            if (c->txns[s] && (q->a & CVS_PREFETCH_RECORDS))
                rc = put_record(c, s, g);
            if (!rc && c->txns[s] && (q->a & CVS_PREFETCH_LINKS))
                rc = put_links(c, s, g);
            for (uint32_t s2 = 0; s2 < c->nshards && !rc && (q->a & CVS_PREFETCH_BACKLINKS); s2++)
                if (c->txns[s2])
                    rc = put_backlinks(c, s2, g, id, len, (size_t)q->b);
        }
        break;
    }
    case OP_RESOLVE: {
        /* Items: u32 id length, id; each found in a shard of this rank:
         * u32 its index, then the hit (score 0). */
        size_t pos = 0;
        for (uint32_t i = 0; pos + 4 <= (size_t)q->len && !rc; i++) {
            uint32_t len;
            int64_t key;
            memcpy(&len, payload + pos, 4);
            const char *id = payload + pos + 4;
            pos += 4 + (size_t)len;
            if (pos > (size_t)q->len) {
                rc = CVS_EINVAL;
                break;
            }
            uint32_t s = (uint32_t)(shards_hash(id, len) % c->nshards);
            if (!c->txns[s])
                continue;
            r = cvs_txn_id_key(c->txns[s], id, len, &key);
            if (r == CVS_NOTFOUND)
                continue; /* gone: the link is skipped, as one store skips it */
            if (r)
                rc = shard_fail(c, s, r);
            else if (mb_put(&c->mine, &i, 4))
                rc = CVS_ENOMEM;
            else
                put_hit(c, s, 0, key, &rc);
        }
        break;
    }
    default:
        break;
    }
    code = rc;
    memcpy(c->mine.p, &code, 4);
    return CVS_OK;
}

/* Gathers every rank's reply to rank 0 (c->all, c->sizes, c->displs). */
static int gather(mctx *c)
{
    int mine = (int)c->mine.n, total = 0;
    MPI_Request r;
    MPI_Igather(&mine, 1, MPI_INT, c->sizes, 1, MPI_INT, 0, MPI_COMM_WORLD, &r);
    mcmd_wait(&r);
    if (g_mpi.rank == 0) {
        for (int r = 0; r < g_mpi.nranks; r++) {
            c->displs[r] = total;
            total += c->sizes[r];
        }
        c->gathered += (uint64_t)total;
        char *p = realloc(c->all, total ? (size_t)total : 1);
        if (!p)
            return CVS_ENOMEM; /* cannot happen at these sizes; the gather below still runs */
        c->all = p;
    }
    MPI_Igatherv(c->mine.p, mine, MPI_CHAR, c->all, c->sizes, c->displs, MPI_CHAR, 0,
                 MPI_COMM_WORLD, &r);
    mcmd_wait(&r);
    return CVS_OK;
}

/* Receives one request (every rank but 0), waiting without spinning. */
static int receive(req *q, char **payload)
{
    MPI_Request r;
    MPI_Ibcast(q, 5, MPI_INT64_T, 0, MPI_COMM_WORLD, &r);
    mcmd_wait(&r);
    free(*payload);
    *payload = NULL;
    if (q->len > 0) {
        if (!(*payload = malloc((size_t)q->len)))
            return CVS_ENOMEM;
        MPI_Ibcast(*payload, (int)q->len, MPI_CHAR, 0, MPI_COMM_WORLD, &r);
        mcmd_wait(&r);
    }
    return CVS_OK;
}

/* Rank 0: sends a request, does its own part, gathers the replies; the
 * worst code of any rank (a rank that failed printed why). */
static int request(mctx *c, req q, const void *payload)
{
    MPI_Request r;
    int rc = CVS_OK;
    c->requests++;
    MPI_Ibcast(&q, 5, MPI_INT64_T, 0, MPI_COMM_WORLD, &r);
    mcmd_wait(&r);
    if (q.len > 0) {
        MPI_Ibcast((void *)payload, (int)q.len, MPI_CHAR, 0, MPI_COMM_WORLD, &r);
        mcmd_wait(&r);
    }
    if (serve(c, &q, (const char *)payload) || gather(c))
        return CVS_ENOMEM;
    for (int k = 0; k < g_mpi.nranks; k++) {
        int32_t code;
        memcpy(&code, c->all + c->displs[k], 4);
        if (code && code != CVS_NOTFOUND)
            rc = code;
        else if (code == CVS_NOTFOUND && !rc)
            rc = CVS_NOTFOUND;
    }
    return rc;
}

/* ==== The source: rank 0's side of each read ==== */

typedef struct hit {
    float score;
    int64_t key;
    node *d;                   /* in c->km: the id */
} hit;

/* Reads one (score, key, id) entry, keeping the id in the question's map. */
static int read_hit(mctx *c, rd *r, hit *h)
{
    uint32_t len;
    if (rd_get(r, &h->score, 4) || rd_get(r, &h->key, 8) || rd_get(r, &len, 4) ||
        (size_t)(r->end - r->p) < len)
        return CVS_EFORMAT;
    if (kmap_add(&c->km, h->key, r->p, len, &h->d))
        return CVS_ENOMEM;
    r->p += len;
    return CVS_OK;
}

static rd reply_of(const mctx *c, int rank)
{
    rd r = {c->all + c->displs[rank] + 4, c->all + c->displs[rank] + c->sizes[rank]};
    return r;
}

/* The order of ties across shards: by id, bytewise, the shorter first. */
static int id_cmp(const node *a, const node *b)
{
    int d = memcmp(a->id, b->id, a->len < b->len ? a->len : b->len);
    return d ? d : (a->len > b->len) - (a->len < b->len);
}

static int x_cmp(void *ctx, int64_t a, int64_t b)
{
    mctx *c = ctx;
    node *x = kmap_find(&c->km, a), *y = kmap_find(&c->km, b);
    if (!x || !y)
        return (a > b) - (a < b);
    return id_cmp(x, y);
}

typedef struct hit_order {
    int higher;                /* higher scores first (BM25, ip, cosine) */
} hit_order;

static int cmp_hit(const void *x, const void *y, void *arg)
{
    const hit *a = x, *b = y;
    const hit_order *o = arg;
    if (a->score != b->score)
        return (a->score > b->score) == o->higher ? -1 : 1;
    return id_cmp(a->d, b->d);
}

/* *p (*cap elements of elem bytes) holds at least need: doubled from 64. */
static int grow_arr(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CVS_OK;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return CVS_ENOMEM;
    *p = q;
    *cap = nc;
    return CVS_OK;
}

/* Every rank's hits merged: the k best (higher or lower scores first),
 * ties by id, into keys/scores padded with -1 / NaN. */
static int merge_hits(mctx *c, size_t k, int higher, int64_t *keys, float *scores,
                      rd *rest, int resume)
{
    hit *h = NULL;
    size_t n = 0, cap = 0;
    int rc = CVS_OK;
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
        rd r = resume ? rest[rk] : reply_of(c, rk);
        uint32_t count = UINT32_MAX; /* rest: the hits are counted, more follows */
        if (rest && rd_get(&r, &count, 4))
            return CVS_EFORMAT;
        while (r.p < r.end && !rc && count) {
            count--;
            if ((rc = grow_arr((void **)&h, &cap, n + 1, sizeof *h)))
                break;
            rc = read_hit(c, &r, &h[n++]);
        }
        if (rest)
            rest[rk] = r;
    }
    if (!rc) {
        hit_order ho = {higher};
        if (n > 1)
            qsort_r(h, n, sizeof *h, cmp_hit, &ho);
        for (size_t i = 0; i < k; i++) {
            keys[i] = i < n ? h[i].key : -1;
            if (scores)
                scores[i] = i < n ? h[i].score : NAN;
        }
    }
    free(h);
    return rc;
}

/* The first BM25 query of a question is the question's own, whose title
 * runs the pipeline asks for next: they come along, kept for x_titles
 * with the terms they are for. */
static int x_bm25(void *ctx, const cvs_terms *terms, size_t k, int64_t *keys, float *scores)
{
    mctx *c = ctx;
    int with_titles = c->titles_next;
    for (size_t j = 0; j < c->nbq; j++) {
        struct bq *b = &c->bq[j];
        if (b->k == k && b->n == terms->n && b->terms.n == terms->bytes &&
            (!terms->bytes || !memcmp(b->terms.p, terms->buf, terms->bytes))) {
            memcpy(keys, b->keys, k * sizeof *keys);
            memcpy(scores, b->scores, k * sizeof *scores);
            return CVS_OK;
        }
    }
    req q = {OP_BM25, (int64_t)terms->n, (int64_t)k, with_titles, (int64_t)terms->bytes};
    rd *rest = calloc((size_t)g_mpi.nranks, sizeof *rest);
    int rc = rest ? request(c, q, terms->buf) : CVS_ENOMEM;
    c->titles_next = 0;
    if (!rc)
        rc = merge_hits(c, k, 1, keys, scores, rest, 0);
    if (!rc && with_titles) {
        c->tterms.n = 0;
        c->truns.n = 0;
        rc = mb_put(&c->tterms, terms->buf, terms->bytes);
        for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
            c->toff[rk] = c->truns.n;
            rc = mb_put(&c->truns, rest[rk].p, (size_t)(rest[rk].end - rest[rk].p));
            c->tlen[rk] = c->truns.n - c->toff[rk];
        }
        c->tvalid = !rc;
        c->tn = terms->n;
    }
    free(rest);
    return rc;
}

/* The terms' statistics from those OP_FORMS brought for the question's
 * terms, when each of them is one of those: 1 (*ndocs, df filled), else 0. */
static int stats_cached(const mctx *c, const cvs_terms *terms, uint64_t *ndocs, uint64_t *df)
{
    const char *t = terms->buf;
    if (!c->svalid || !c->sums)
        return 0;
    for (size_t i = 0; i < terms->n; i++, t += strlen(t) + 1) {
        const char *u = c->sterms.p;
        size_t j = 0;
        while (j < c->sn && strcmp(u, t))
            u += strlen(u) + 1, j++;
        if (j == c->sn)
            return 0;
        df[i] = c->sums[2 + j];
    }
    *ndocs = c->sums[0];
    return 1;
}

/* The terms' BM25 statistics over all shards (cvs_context_source.
 * text_stats): the sums OP_STATS computes, from rank 0's own reply. */
static int x_text_stats(void *ctx, const cvs_terms *terms, uint64_t *ndocs, uint64_t *df)
{
    mctx *c = ctx;
    req q = {OP_STATS, (int64_t)terms->n, 0, 0, (int64_t)terms->bytes};
    rd r;
    uint64_t total;
    int rc;
    if (stats_cached(c, terms, ndocs, df))
        return CVS_OK;
    if ((rc = request(c, q, terms->buf)))
        return rc;
    r = reply_of(c, 0);
    if (rd_get(&r, ndocs, 8) || rd_get(&r, &total, 8))
        return CVS_EFORMAT;
    for (size_t i = 0; i < terms->n; i++)
        if (rd_get(&r, &df[i], 8))
            return CVS_EFORMAT;
    return CVS_OK;
}

/* Deviation 17's class search over all shards, in one round trip
 * (OP_FORMS): each shard's classes in its own vocabulary, their df summed
 * over the shards, every shard's k best under the sums, merged; the
 * question terms' statistics come along for x_text_stats. */
static int x_bm25_forms(void *ctx, const cvs_terms *question, size_t k, int64_t *keys,
                        float *scores, int *used)
{
    mctx *c = ctx;
    req q = {OP_FORMS, (int64_t)question->n, (int64_t)k, 0, (int64_t)question->bytes};
    rd *rest = calloc((size_t)g_mpi.nranks, sizeof *rest);
    uint8_t u = 0;
    int rc = rest ? request(c, q, question->buf) : CVS_ENOMEM;
    *used = 0;
    c->svalid = 0;
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
        rest[rk] = reply_of(c, rk);
        if (rd_get(&rest[rk], &u, 1))
            rc = CVS_EFORMAT;
    }
    if (!rc && u)
        rc = merge_hits(c, k, 1, keys, scores, rest, 1);
    if (!rc) {
        *used = u != 0;
        c->sterms.n = 0;
        c->sn = question->n;
        c->svalid = !mb_put(&c->sterms, question->buf, question->bytes) && c->sums;
    }
    free(rest);
    return rc;
}

static int x_vector(void *ctx, const float *v, size_t k, unsigned flags, int64_t *keys,
                    float *scores)
{
    mctx *c = ctx;
    req q = {OP_VEC, 0, (int64_t)k, (int64_t)flags, (int64_t)(c->dim * sizeof *v)};
    int rc = request(c, q, v);
    return rc ? rc : merge_hits(c, k, c->metric != CVS_METRIC_L2, keys, scores, NULL, 0);
}

/* A hop's bridge queries, asked in one round trip; x_bm25 answers them
 * from what came back. */
static int x_bm25_prefetch(void *ctx, const cvs_terms *queries, size_t n, size_t k)
{
    mctx *c = ctx;
    mbuf pl = {0};
    rd *rs = calloc((size_t)g_mpi.nranks, sizeof *rs);
    int rc = rs ? CVS_OK : CVS_ENOMEM;
    for (size_t j = 0; j < n && !rc; j++) {
        uint32_t h[2] = {(uint32_t)queries[j].n, (uint32_t)queries[j].bytes};
        if (mb_put(&pl, h, sizeof h) || mb_put(&pl, queries[j].buf, queries[j].bytes))
            rc = CVS_ENOMEM;
    }
    if (!rc) {
        req q = {OP_BM25N, (int64_t)n, (int64_t)k, 0, (int64_t)pl.n};
        rc = request(c, q, pl.p);
    }
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++)
        rs[rk] = reply_of(c, rk);
    c->nbq = 0;
    if (!rc && n > c->capbq) {
        struct bq *p = realloc(c->bq, n * sizeof *p);
        if (!p)
            rc = CVS_ENOMEM;
        else {
            memset(p + c->capbq, 0, (n - c->capbq) * sizeof *p);
            c->bq = p;
            c->capbq = n;
        }
    }
    for (size_t j = 0; j < n && !rc; j++) {
        struct bq *b = &c->bq[j];
        int64_t *kk = realloc(b->keys, (k ? k : 1) * sizeof *kk);
        float *ss = kk ? realloc(b->scores, (k ? k : 1) * sizeof *ss) : NULL;
        if (kk)
            b->keys = kk;
        if (ss)
            b->scores = ss;
        if (!kk || !ss) {
            rc = CVS_ENOMEM;
            break;
        }
        b->terms.n = 0;
        b->n = queries[j].n;
        b->k = k;
        if (mb_put(&b->terms, queries[j].buf, queries[j].bytes) ||
            (rc = merge_hits(c, k, 1, b->keys, b->scores, rs, 1)))
            rc = rc ? rc : CVS_ENOMEM;
        else
            c->nbq = j + 1;
    }
    free(rs);
    free(pl.p);
    return rc;
}

/* Every shard's title runs, resolved at rank 0 as one store would seed
 * (cvs_title_runs_resolve: the longest title at each place over all
 * shards, a title's records counted over all shards). */
static int x_titles(void *ctx, const cvs_terms *terms, size_t cap, int64_t *keys, size_t *n)
{
    mctx *c = ctx;
    req q = {OP_TITLES, (int64_t)terms->n, 0, 0, (int64_t)terms->bytes};
    cvs_title_run *runs = NULL;
    int64_t *rk_keys = NULL;
    size_t nruns = 0, nkeys = 0, caprun = 0, capkey = 0;
    int cached = c->tvalid && c->tn == terms->n && c->tterms.n == terms->bytes &&
                 (!terms->bytes || !memcmp(c->tterms.p, terms->buf, terms->bytes));
    int rc = cached ? CVS_OK : request(c, q, terms->buf);
    *n = 0;
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
        rd r = cached ? (rd){c->truns.p + c->toff[rk], c->truns.p + c->toff[rk] + c->tlen[rk]}
                      : reply_of(c, rk);
        while (r.p < r.end && !rc) {
            uint32_t h[4];
            if (rd_get(&r, h, sizeof h)) {
                rc = CVS_EFORMAT;
                break;
            }
            if ((rc = grow_arr((void **)&runs, &caprun, nruns + 1, sizeof *runs)) ||
                (rc = grow_arr((void **)&rk_keys, &capkey, nkeys + h[3], sizeof *rk_keys)))
                break;
            /* keys are set once all are read: rk_keys may still move */
            runs[nruns++] = (cvs_title_run){h[0], h[1], h[2], NULL, h[3]};
            for (uint32_t i = 0; i < h[3] && !rc; i++) {
                hit ht;
                if (!(rc = read_hit(c, &r, &ht)))
                    rk_keys[nkeys++] = ht.key;
            }
        }
    }
    if (!rc) {
        size_t off = 0;
        for (size_t i = 0; i < nruns; i++) {
            runs[i].keys = rk_keys ? rk_keys + off : NULL;
            off += runs[i].nkeys;
        }
        rc = cvs_title_runs_resolve(runs, nruns, cap, keys, n);
    }
    free(runs);
    free(rk_keys);
    return rc;
}

/* Text of a record reply: u64 length (UINT64_MAX: none), then the bytes,
 * into a malloc'd NUL-terminated copy. */
static int read_text(rd *r, char **s, size_t *len)
{
    uint64_t l;
    *s = NULL;
    *len = 0;
    if (rd_get(r, &l, 8))
        return CVS_EFORMAT;
    if (l == UINT64_MAX)
        return CVS_OK;
    if ((uint64_t)(r->end - r->p) < l)
        return CVS_EFORMAT;
    if (!(*s = malloc((size_t)l + 1)))
        return CVS_ENOMEM;
    memcpy(*s, r->p, (size_t)l);
    (*s)[l] = '\0';
    *len = (size_t)l;
    r->p += l;
    return CVS_OK;
}

/* A link whose target's key rank 0 has still to ask for (OP_RESOLVE). */
typedef struct pend {
    node *d;                   /* the link's source */
    size_t e;                  /* its index in d->e[CVS_EDGES_LINKS] */
} pend;

/* A backlink of record g, as one shard gave it. */
typedef struct bhit {
    int64_t g;
    hit h;
} bhit;

static int cmp_bhit(const void *x, const void *y)
{
    const bhit *a = x, *b = y;
    if (a->g != b->g)
        return a->g < b->g ? -1 : 1;
    return id_cmp(a->h.d, b->h.d);
}

/* The keys of the links' targets held by another rank's shard, in one
 * round trip; a target found nowhere is dropped, as one store skips it. */
static int resolve(mctx *c, pend *pd, size_t np, const mbuf *ids)
{
    req q = {OP_RESOLVE, (int64_t)np, 0, 0, (int64_t)ids->n};
    int rc = request(c, q, ids->p);
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
        rd r = reply_of(c, rk);
        while (r.p < r.end && !rc) {
            uint32_t i;
            hit h;
            if (rd_get(&r, &i, 4) || i >= np)
                return CVS_EFORMAT;
            if (!(rc = read_hit(c, &r, &h)))
                pd[i].d->e[CVS_EDGES_LINKS][pd[i].e].key = h.key;
        }
    }
    for (size_t i = 0; i < np && !rc; i++) {
        node *d = pd[i].d;
        size_t m = 0;
        if (i && pd[i - 1].d == d)
            continue; /* a node's pending links are next to each other */
        for (size_t j = 0; j < d->ne[CVS_EDGES_LINKS]; j++)
            if (d->e[CVS_EDGES_LINKS][j].key >= 0)
                d->e[CVS_EDGES_LINKS][m++] = d->e[CVS_EDGES_LINKS][j];
        d->ne[CVS_EDGES_LINKS] = m;
    }
    return rc;
}

/* Fetches what `what` names of the n records keys into the question's map:
 * records and links from their owners, backlinks from every shard
 * (put_record, put_links, put_backlinks; the kNN edges are x_knn's). */
static int fetch(mctx *c, const int64_t *keys, size_t n, unsigned what, size_t cap)
{
    mbuf pl = {0}, ids = {0};
    pend *pd = NULL;
    bhit *bh = NULL;
    size_t np = 0, cappd = 0, nb = 0, capbh = 0;
    int rc = CVS_OK;
    what &= ~CVS_PREFETCH_KNN;
    for (size_t i = 0; i < n && !rc; i++) {
        node *d = kmap_find(&c->km, keys[i]);
        uint32_t len;
        if (!d)
            return CVS_EFORMAT; /* every key the pipeline holds came with its id */
        len = (uint32_t)d->len;
        if (mb_put(&pl, &keys[i], 8) || mb_put(&pl, &len, 4) || mb_put(&pl, d->id, d->len))
            rc = CVS_ENOMEM;
        if (what & CVS_PREFETCH_BACKLINKS) { /* none until a shard names one */
            free(d->e[CVS_EDGES_BACKLINKS]);
            d->e[CVS_EDGES_BACKLINKS] = NULL;
            d->ne[CVS_EDGES_BACKLINKS] = 0;
            d->have[CVS_EDGES_BACKLINKS] = 1;
            d->cap[CVS_EDGES_BACKLINKS] = cap;
        }
    }
    if (!rc) {
        req q = {OP_FETCH, (int64_t)what, (int64_t)cap, 0, (int64_t)pl.n};
        rc = request(c, q, pl.p);
    }
    for (int rk = 0; rk < g_mpi.nranks && !rc; rk++) {
        rd r = reply_of(c, rk);
        while (r.p < r.end && !rc) {
            uint8_t tag;
            int64_t g;
            node *d;
            if (rd_get(&r, &tag, 1) || rd_get(&r, &g, 8) || tag == 2 || tag > 3 ||
                !(d = kmap_find(&c->km, g))) {
                rc = CVS_EFORMAT; /* a key rank 0 asked for is one it knows */
                break;
            }
            if (tag == 3) {
                uint8_t found;
                hit h;
                if (rd_get(&r, &found, 1)) {
                    rc = CVS_EFORMAT;
                    break;
                }
                free(d->rec.title);
                free(d->rec.text);
                free(d->rec.vec);
                memset(&d->rec, 0, sizeof d->rec);
                d->rec_state = found ? 1 : 2;
                if (!found)
                    continue;
                if ((rc = read_hit(c, &r, &h)) ||
                    (rc = read_text(&r, &d->rec.title, &d->rec.title_len)) ||
                    (rc = read_text(&r, &d->rec.text, &d->rec.text_len)))
                    break;
                if (!(d->rec.vec = malloc(c->dim * sizeof(float))))
                    rc = CVS_ENOMEM;
                else if (rd_get(&r, d->rec.vec, c->dim * sizeof(float)))
                    rc = CVS_EFORMAT;
            } else if (tag == CVS_EDGES_LINKS) {
                /* All of them (cap SIZE_MAX): a target found nowhere is
                 * dropped before one store's cap would count it. */
                uint32_t ne;
                cvs_edge *e;
                if (rd_get(&r, &ne, 4) || ne > (size_t)(r.end - r.p) / 9) {
                    rc = CVS_EFORMAT;
                    break;
                }
                if (!(e = malloc((ne ? ne : 1) * sizeof *e))) {
                    rc = CVS_ENOMEM;
                    break;
                }
                free(d->e[CVS_EDGES_LINKS]);
                d->e[CVS_EDGES_LINKS] = e;
                d->ne[CVS_EDGES_LINKS] = 0;
                d->have[CVS_EDGES_LINKS] = 1;
                d->cap[CVS_EDGES_LINKS] = SIZE_MAX;
                for (uint32_t i = 0; i < ne && !rc; i++) {
                    float w;
                    uint8_t ty;
                    hit h;
                    if (rd_get(&r, &w, 4) || rd_get(&r, &ty, 1) || (ty & 0x7f) > 1) {
                        rc = CVS_EFORMAT;
                        break;
                    }
                    if (ty & 0x80) {
                        uint32_t len;
                        if (rd_get(&r, &len, 4) || (size_t)(r.end - r.p) < len) {
                            rc = CVS_EFORMAT;
                            break;
                        }
                        if (grow_arr((void **)&pd, &cappd, np + 1, sizeof *pd) ||
                            mb_put(&ids, &len, 4) || mb_put(&ids, r.p, len)) {
                            rc = CVS_ENOMEM;
                            break;
                        }
                        r.p += len;
                        pd[np++] = (pend){d, d->ne[CVS_EDGES_LINKS]};
                        e[d->ne[CVS_EDGES_LINKS]++] = (cvs_edge){-1, w, edge_types[ty & 0x7f]};
                    } else if (!(rc = read_hit(c, &r, &h))) {
                        e[d->ne[CVS_EDGES_LINKS]++] = (cvs_edge){h.key, w, edge_types[ty]};
                    }
                }
            } else {
                uint32_t ne;
                if (rd_get(&r, &ne, 4) || grow_arr((void **)&bh, &capbh, nb + ne, sizeof *bh)) {
                    rc = rc ? rc : CVS_EFORMAT;
                    break;
                }
                for (uint32_t i = 0; i < ne && !rc; i++) {
                    float w;
                    uint8_t ty;
                    if (rd_get(&r, &w, 4) || rd_get(&r, &ty, 1)) {
                        rc = CVS_EFORMAT;
                        break;
                    }
                    if (!(rc = read_hit(c, &r, &bh[nb].h)))
                        bh[nb++].g = g;
                }
            }
        }
    }
    if (!rc && np)
        rc = resolve(c, pd, np, &ids);
    /* Each record's backlinks from every shard: the first cap by id, one
     * store's key order where it was filled in id order (deviation 1). */
    if (!rc && nb > 1)
        qsort(bh, nb, sizeof *bh, cmp_bhit);
    for (size_t i = 0; i < nb && !rc;) {
        size_t j = i, m = 0;
        node *d = kmap_find(&c->km, bh[i].g);
        cvs_edge *e;
        while (j < nb && bh[j].g == bh[i].g)
            j++;
        if (!(e = malloc((j - i) * sizeof *e))) {
            rc = CVS_ENOMEM;
            break;
        }
        for (size_t k = i; k < j && m < cap; k++)
            e[m++] = (cvs_edge){bh[k].h.key, 1.0f, "linked-by"};
        free(d->e[CVS_EDGES_BACKLINKS]);
        d->e[CVS_EDGES_BACKLINKS] = e;
        d->ne[CVS_EDGES_BACKLINKS] = m;
        i = j;
    }
    free(pl.p);
    free(ids.p);
    free(pd);
    free(bh);
    return rc;
}

/* What of record key is still to be fetched, of what (up to cap edges). */
static unsigned missing(const mctx *c, int64_t key, unsigned what, size_t cap)
{
    node *d = kmap_find(&c->km, key);
    unsigned m = 0;
    if (!d)
        return what;
    if ((what & CVS_PREFETCH_RECORDS) && !d->rec_state)
        m |= CVS_PREFETCH_RECORDS;
    for (int k = 0; k < 3; k++)
        if ((what & (CVS_PREFETCH_LINKS << k)) && (!d->have[k] || d->cap[k] < cap))
            m |= CVS_PREFETCH_LINKS << k;
    return m;
}

/* A kNN hit of the query at index q (x_knn). */
typedef struct qhit {
    size_t q;
    hit h;
} qhit;

static int cmp_qhit(const void *x, const void *y, void *arg)
{
    const qhit *a = x, *b = y;
    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    return cmp_hit(&a->h, &b->h, arg);
}

/* The kNN edges (up to cap) of the n records keys whose edges are not yet
 * known, as one store's exact kNN graph would give them (essay, step 4):
 * their vectors (fetched with the hop's other reads), every shard's
 * KNN_K + 1 nearest of each in one round trip, merged, the record itself
 * left out, the first min(cap, KNN_K) kept, best first.  The queries go as
 * one batch of at least two, so that every shard scores them with sgemm,
 * as the graph's build scores its batches (one query would take gemv,
 * whose sums may differ in the last bit and reorder near ties). */
static int x_knn(mctx *c, const int64_t *keys, size_t n, size_t cap)
{
    size_t kk = KNN_K + 1, keep = cap < KNN_K ? cap : KNN_K, m = 0, nq, nh = 0, caph = 0;
    int64_t *qk = malloc((n ? n : 1) * sizeof *qk);
    float *vecs = NULL;
    qhit *hs = NULL;
    int rc = qk ? CVS_OK : CVS_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        node *d = kmap_find(&c->km, keys[i]);
        if (!d || !missing(c, keys[i], CVS_PREFETCH_KNN, cap))
            continue;
        if (d->rec_state != 1) { /* gone: no edges, as in one store */
            d->have[CVS_EDGES_KNN] = 1;
            d->cap[CVS_EDGES_KNN] = cap;
            d->ne[CVS_EDGES_KNN] = 0;
            continue;
        }
        qk[m++] = keys[i];
    }
    nq = m == 1 ? 2 : m;
    if (!rc && m && !(vecs = malloc(nq * c->dim * sizeof *vecs)))
        rc = CVS_ENOMEM;
    for (size_t j = 0; j < nq && !rc && m; j++)
        memcpy(vecs + j * c->dim, kmap_find(&c->km, qk[j < m ? j : 0])->rec.vec,
               c->dim * sizeof *vecs);
    if (!rc && m) {
        req q = {OP_KNN, (int64_t)nq, (int64_t)kk, 0, (int64_t)(nq * c->dim * sizeof *vecs)};
        rc = request(c, q, vecs);
    }
    for (int rk = 0; rk < g_mpi.nranks && !rc && m; rk++) {
        rd r = reply_of(c, rk);
        for (size_t b = 0; r.p < r.end && !rc; b++) {
            uint32_t cnt;
            if (rd_get(&r, &cnt, 4) || cnt > kk) {
                rc = CVS_EFORMAT;
                break;
            }
            if (nh + cnt > caph) {
                size_t nc = caph ? caph * 2 : 256;
                while (nc < nh + cnt)
                    nc *= 2;
                qhit *p = realloc(hs, nc * sizeof *p);
                if (!p) {
                    rc = CVS_ENOMEM;
                    break;
                }
                hs = p;
                caph = nc;
            }
            for (uint32_t i = 0; i < cnt && !rc; i++) {
                hs[nh].q = b % nq;
                if (!(rc = read_hit(c, &r, &hs[nh].h)) && hs[nh].q < m)
                    nh++; /* the padding query's hits are dropped */
            }
        }
    }
    if (!rc && nh > 1) {
        hit_order ho = {c->metric != CVS_METRIC_L2};
        qsort_r(hs, nh, sizeof *hs, cmp_qhit, &ho);
    }
    for (size_t j = 0, at = 0; j < m && !rc; j++) {
        node *d = kmap_find(&c->km, qk[j]);
        cvs_edge *e = malloc((keep ? keep : 1) * sizeof *e);
        if (!e) {
            rc = CVS_ENOMEM;
            break;
        }
        free(d->e[CVS_EDGES_KNN]);
        d->e[CVS_EDGES_KNN] = e;
        d->ne[CVS_EDGES_KNN] = 0;
        d->have[CVS_EDGES_KNN] = 1;
        d->cap[CVS_EDGES_KNN] = cap;
        for (; at < nh && hs[at].q == j; at++) {
            float sc = hs[at].h.score;
            if (hs[at].h.key == qk[j] || d->ne[CVS_EDGES_KNN] == keep)
                continue;
            /* graph/knn.c's weight: the similarity, 1 / (1 + d) for l2 */
            e[d->ne[CVS_EDGES_KNN]++] = (cvs_edge){
                hs[at].h.key, c->metric == CVS_METRIC_L2 ? 1.0f / (1.0f + sc) : sc, "knn"};
        }
    }
    free(hs);
    free(vecs);
    free(qk);
    return rc;
}

/* The walk's hop and the pool ahead: one request for every record's
 * edges (or record) not yet fetched, instead of one each; the kNN edges
 * need the records' vectors, which come with it, then one more. */
static int x_prefetch(void *ctx, const int64_t *keys, size_t n, unsigned what, size_t cap)
{
    mctx *c = ctx;
    unsigned knn = what & CVS_PREFETCH_KNN, w = what & ~CVS_PREFETCH_KNN;
    int64_t *need = malloc((n ? n : 1) * sizeof *need);
    size_t m = 0;
    int rc;
    if (!need)
        return CVS_ENOMEM;
    if (knn)
        w |= CVS_PREFETCH_RECORDS;
    for (size_t i = 0; i < n; i++)
        if (missing(c, keys[i], what & ~CVS_PREFETCH_KNN, cap) ||
            (knn && missing(c, keys[i], CVS_PREFETCH_KNN, cap) &&
             missing(c, keys[i], CVS_PREFETCH_RECORDS, 0)))
            need[m++] = keys[i];
    rc = m ? fetch(c, need, m, w, cap) : CVS_OK;
    if (!rc && knn)
        rc = x_knn(c, keys, n, cap);
    free(need);
    return rc;
}

static int x_edges(void *ctx, int64_t key, cvs_edge_kind kind, size_t cap, cvs_edge *out,
                   size_t *n)
{
    mctx *c = ctx;
    unsigned what = CVS_PREFETCH_LINKS << kind;
    node *d;
    int rc;
    *n = 0;
    if ((unsigned)kind > 2)
        return CVS_EINVAL;
    if (missing(c, key, what, cap) &&
        (rc = x_prefetch(c, &key, 1, what, cap)))
        return rc;
    if (!(d = kmap_find(&c->km, key)) || !d->have[kind])
        return CVS_EFORMAT;
    for (size_t i = 0; i < d->ne[kind] && *n < cap; i++)
        out[(*n)++] = d->e[kind][i];
    return CVS_OK;
}

static int x_record(void *ctx, int64_t key, cvs_record *rec, float *vec)
{
    mctx *c = ctx;
    node *d;
    int rc;
    if (missing(c, key, CVS_PREFETCH_RECORDS, 0) &&
        (rc = fetch(c, &key, 1, CVS_PREFETCH_RECORDS, 0)))
        return rc;
    if (!(d = kmap_find(&c->km, key)) || d->rec_state != 1)
        return CVS_NOTFOUND;
    memset(rec, 0, sizeof *rec);
    rec->id = d->id;
    rec->id_len = d->len;
    rec->title = d->rec.title;
    rec->title_len = d->rec.title_len;
    rec->text = d->rec.text;
    rec->text_len = d->rec.text_len;
    rec->key = key;
    if (vec)
        memcpy(vec, d->rec.vec, c->dim * sizeof *vec);
    return CVS_OK;
}

static int x_key_id(void *ctx, int64_t key, const char **id, size_t *len)
{
    mctx *c = ctx;
    node *d = kmap_find(&c->km, key);
    if (!d)
        return CVS_NOTFOUND; /* every key the pipeline holds came with its id */
    *id = d->id;
    *len = d->len;
    return CVS_OK;
}

/* ==== The batch ==== */

typedef struct question {
    char *id, *text;
    size_t len;
} question;

typedef struct qlist {
    question *q;
    size_t n, cap;
} qlist;

static int collect(void *ctx, const char *id, const char *text, size_t len)
{
    qlist *l = ctx;
    if (grow_arr((void **)&l->q, &l->cap, l->n + 1, sizeof *l->q))
        return cli_fail("cvstore-mpi context", CVS_ENOMEM, NULL);
    question *q = &l->q[l->n];
    if (!(q->id = strdup(id)) || !(q->text = malloc(len + 1))) {
        free(q->id);
        return cli_fail("cvstore-mpi context", CVS_ENOMEM, NULL);
    }
    memcpy(q->text, text, len);
    q->text[len] = '\0';
    q->len = len;
    l->n++;
    return CLI_OK;
}

/* Rank 0: answers every question, printing one line each; a question that
 * cannot be answered for what it is (CVS_EINPUT, as `cvstore context`) gets
 * an error line and the batch goes on. */
static int answer_all(mctx *c, const qlist *ql, const cvs_context_opts *o, uint64_t docs,
                      int known)
{
    cvs_context_source src = {
        .version = CVS_CONTEXT_SOURCE_VERSION, .ctx = c, .dim = c->dim, .metric = c->metric,
        .embedder = c->dbs[0], .text_docs = docs, .titles_known = known, .bm25 = x_bm25,
        .vector = x_vector, .title_seeds = x_titles, .edges = x_edges, .record = x_record,
        .key_id = x_key_id, .cmp = x_cmp, .prefetch = x_prefetch,
        .bm25_prefetch = x_bm25_prefetch, .text_stats = x_text_stats,
        .bm25_forms = x_bm25_forms,
    };
    int rc = CLI_OK;
    for (size_t i = 0; i < ql->n && rc == CLI_OK; i++) {
        cvs_context_result r = {0};
        c->tvalid = 0;
        c->svalid = 0;
        c->nbq = 0;
        c->titles_next = o->title_weight > 0 && o->strategy <= CVS_CONTEXT_MMR;
        /* A question of no words is a hole in the file, as `cvstore context`
         * says: its error line, and the batch goes on (the pipeline would
         * refuse it with CVS_EINVAL, which stops a batch). */
        size_t words = 1;
        int blank = !cvs_text_words(ql->q[i].text, ql->q[i].len, &words) && !words;
        int crc = blank ? CVS_EINPUT
                        : cvs_context_source_run(&src, o, ql->q[i].text, ql->q[i].len, NULL, &r);
        if (crc == CVS_EINPUT) {
            const char *why = blank ? "empty question" : cvs_errmsg(c->dbs[0]);
            json_t *j = json_pack("{s:s, s:s%, s:s}", "query_id", ql->q[i].id, "query",
                                  ql->q[i].text, ql->q[i].len, "error", why);
            cli_err(c->cmd, "query %s: %s", ql->q[i].id, why);
            rc = cli_json_print(stdout, j) ? cli_fail(c->cmd, CVS_ENOMEM, NULL) : CLI_OK;
        } else if (crc) {
            /* A rank whose shard failed has said why; the pipeline's own
             * errors (a bad option) name themselves. */
            cli_err(c->cmd, "query %s: %s%s%s", ql->q[i].id, cvs_strerror(crc),
                    crc == CVS_EINVAL ? ": " : "", crc == CVS_EINVAL ? cvs_errmsg(NULL) : "");
            rc = cli_exit_code(crc);
        } else {
            json_t *j = cli_context_json(&r);
            const char *note = cli_context_note(&r, ql->q[i].text, ql->q[i].len);
            json_object_set_new(j, "query_id", json_string(ql->q[i].id));
            json_object_set_new(j, "query", json_stringn(ql->q[i].text, ql->q[i].len));
            if (note) {
                cli_err(c->cmd, "query %s: %s", ql->q[i].id, note);
                json_object_set_new(j, "note", json_string(note));
            }
            rc = cli_json_print(stdout, j) ? CLI_EFAIL : CLI_OK;
        }
        cvs_context_result_free(&r);
        kmap_clear(&c->km);
    }
    req end = {OP_END, rc, 0, 0, 0};
    MPI_Request mr;
    MPI_Ibcast(&end, 5, MPI_INT64_T, 0, MPI_COMM_WORLD, &mr);
    MPI_Wait(&mr, MPI_STATUS_IGNORE);
    return rc;
}

/* Every other rank: answers requests until rank 0 ends the batch. */
static int serve_all(mctx *c)
{
    req q;
    char *payload = NULL;
    int rc = CLI_OK;
    for (;;) {
        if (receive(&q, &payload)) {
            /* Out of memory for a payload: still take part, answering
             * nothing, so that no rank waits for this one. */
            cli_err(c->cmd, "rank %d: out of memory", g_mpi.rank);
            rc = CLI_EFAIL;
        }
        if (q.op == OP_END)
            break;
        if (serve(c, &q, payload) || gather(c))
            rc = CLI_EFAIL;
    }
    free(payload);
    return rc ? rc : (int)q.a;
}

int mpi_cmd_context(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queries", required_argument, NULL, 'Q'},
        CLI_CONTEXT_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"timing", no_argument, NULL, 'T'},
        {"filter", required_argument, NULL, 'R'}, /* refused below */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "cvstore-mpi context", *db, *batch = NULL;
    cvs_context_opts o;
    shards_manifest m;
    mctx c = {.cmd = cmd};
    qlist ql = {0};
    uint64_t mine[2] = {0, 0}, all[2] = {0, 0};
    int c_, rc = CLI_OK, timing = 0;
    double t0, cpu0;

    cvs_context_opts_init(&o);
    while ((c_ = getopt_long(argc, argv, "b:s:h", opts, NULL)) != -1) {
        switch (c_) {
        case 'Q': batch = optarg; break;
        case 'b': case 's': case 'H': case 'f': case 'g': case 'l': case 'w': case 'u':
        case 'U': case 'L': case 'K': case 'E':
            /* Every rank parses the same arguments: rank 0 alone says why. */
            if (cli_context_option(g_mpi.rank == 0 ? cmd : NULL, c_, optarg, &o))
                return mcmd_usage(usage);
            break;
        case 'j': break; /* --queries always prints JSON lines */
        case 'T': timing = 1; break;
        case 'R':
            /* The shards answer the pipeline's reads without a filter
             * (cvs_context_source has no slot for one). */
            MCMD_ERR0(cmd, "--filter is not supported across shards: a metadata filter "
                      "needs one store's records (`cvstore context --filter` on one store)");
            return mcmd_usage(usage);
        case 'h':
            if (g_mpi.rank == 0)
                fputs(usage, stdout);
            return CLI_OK;
        default:
            return mcmd_usage(usage);
        }
    }
    if (argc - optind != 1) {
        MCMD_ERR0(cmd, "%s", argc - optind < 1 ? "missing DB" : "too many arguments");
        return mcmd_usage(usage);
    }
    if (!batch) {
        MCMD_ERR0(cmd, "--queries FILE.jsonl is required");
        return mcmd_usage(usage);
    }
    if (o.unit != CVS_UNIT_PASSAGE) {
        MCMD_ERR0(cmd, "--unit sentence needs one store's sentence table; across shards a "
                  "context set is made of passages");
        return mcmd_usage(usage);
    }
    db = argv[optind];
    if ((rc = mcmd_manifest(cmd, db, &m)))
        return rc;
    c.nshards = m.shards;
    c.dim = m.dim;
    c.metric = m.metric;
    if (!(c.dbs = calloc(m.shards, sizeof *c.dbs)) ||
        !(c.txns = calloc(m.shards, sizeof *c.txns)) ||
        !(c.sizes = calloc((size_t)g_mpi.nranks, sizeof *c.sizes)) ||
        !(c.displs = calloc((size_t)g_mpi.nranks, sizeof *c.displs)) ||
        !(c.toff = calloc((size_t)g_mpi.nranks, sizeof *c.toff)) ||
        !(c.tlen = calloc((size_t)g_mpi.nranks, sizeof *c.tlen)))
        rc = cli_fail(cmd, CVS_ENOMEM, NULL);
    if ((rc = mcmd_agree(rc)))
        goto out;
    if ((rc = mcmd_open_owned(cmd, db, &m, CVS_OPEN_RDONLY, c.dbs)))
        goto out;
    /* One snapshot per shard for the whole batch, as `cvstore context`
     * holds one for its batch; and what every question needs to know of
     * all shards at once: records with text, and whether any title map
     * holds a title. */
    for (uint32_t s = 0; s < m.shards && !rc; s++) {
        cvs_terms none = {NULL, 0, 0};
        uint64_t nd, tot;
        int known = 0, crc;
        if (!c.dbs[s])
            continue;
        if ((crc = cvs_txn_begin(c.dbs[s], &c.txns[s])) ||
            (crc = cvs_txn_text_stats(c.txns[s], &none, &nd, &tot, NULL)) ||
            (crc = cvs_txn_titles_known(c.txns[s], &known))) {
            rc = cli_exit_code(shard_fail(&c, s, crc));
            break;
        }
        mine[0] += nd;
        mine[1] |= (uint64_t)known;
    }
    /* Rank 0 reads the whole batch before any question is asked: a bad
     * line stops every rank with its message, having printed nothing. */
    if (!rc && g_mpi.rank == 0)
        rc = cli_queries_each(cmd, batch, collect, &ql);
    if ((rc = mcmd_agree(rc)))
        goto out;
    MPI_Allreduce(&mine[0], &all[0], 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&mine[1], &all[1], 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);

    t0 = MPI_Wtime();
    cpu0 = cpu_now();
    rc = g_mpi.rank == 0 ? answer_all(&c, &ql, &o, all[0], all[1] != 0) : serve_all(&c);
    if (timing) {
        double wall = MPI_Wtime() - t0, cpu = cpu_now() - cpu0, cmax = 0, csum = 0;
        MPI_Reduce(&cpu, &cmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        MPI_Reduce(&cpu, &csum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (g_mpi.rank == 0)
            fprintf(stderr, "%s: %zu questions in %.3f s on %d ranks (%.2f ms a question); "
                    "CPU %.3f s at rank 0, %.3f s the most of a rank, %.3f s in all; "
                    "%llu round trips, %.1f KB of replies\n", cmd, ql.n, wall, g_mpi.nranks,
                    ql.n ? wall * 1e3 / (double)ql.n : 0.0, cpu, cmax, csum,
                    (unsigned long long)c.requests, (double)c.gathered / 1024.0);
    }
    rc = mcmd_agree(rc);
out:
    for (size_t i = 0; i < ql.n; i++) {
        free(ql.q[i].id);
        free(ql.q[i].text);
    }
    free(ql.q);
    for (uint32_t s = 0; c.txns && s < m.shards; s++)
        cvs_txn_end(c.txns[s]);
    free(c.txns);
    mcmd_close_all(c.dbs, c.dbs ? m.shards : 0);
    free(c.dbs);
    free(c.mine.p);
    free(c.all);
    free(c.sizes);
    free(c.displs);
    free(c.toff);
    free(c.tlen);
    free(c.tterms.p);
    free(c.truns.p);
    free(c.sterms.p);
    free(c.sums);
    for (size_t j = 0; j < c.capbq; j++) {
        free(c.bq[j].terms.p);
        free(c.bq[j].keys);
        free(c.bq[j].scores);
    }
    free(c.bq);
    kmap_free(&c.km);
    return rc;
}
