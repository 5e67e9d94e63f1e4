/*
 * link.c -- the automatic linker: a record is linked to every record whose
 * title its text mentions ("knowledge links" of graph-augmented retrieval).
 *
 * The method is dictionary-based entity linking by exact phrase match, the
 * first stage of the classic Wikipedia linkers (Mihalcea & Csomai,
 * "Wikify!", CIKM 2007: candidate phrases are the article titles found in
 * the text, longest match first), without their learned disambiguation
 * step:
 *
 *   1. Every title is tokenized by text/tokenize.c (NFKC case folding,
 *      accents stripped, stop words dropped), so the phrase is found
 *      whatever the case and Unicode form ("The Beatles" is the phrase
 *      [beatles]); whether the text writes it as a name is asked after
 *      (deviation 8).  A
 *      title with a Wikipedia-style disambiguation suffix also enters
 *      without it: "Steve Smith (musician)" as [steve, smith] too, and
 *      "Stanley, North Dakota" as [stanley] too, since texts write the
 *      short form (on HotpotQA this doubles the links and raises the
 *      full-support rate of 512-token contexts from 0.75 to 0.79).
 *   2. The token sequences of all titles go into a hash table keyed by a
 *      64-bit FNV-1a hash of the sequence (tokens separated by 0x1f).
 *   3. Each record's text is tokenized the same way; at each position the
 *      hashes of the next 1..L tokens (L = the longest title) are computed
 *      incrementally and looked up longest first; a hit is confirmed by
 *      comparing the tokens, linked, and the scan resumes after it
 *      (leftmost-longest, so "New York City" does not also link "New York").
 *      Matching whole tokens is what keeps "Paris" out of "Parisian".
 *   4. The links are written as type "mentions", weight 1, next to the
 *      record's explicit links, in one write transaction.
 *
 * The scan costs O(tokens x L) hash probes: about a second for a million
 * tokens, far less than the import that precedes it.  An Aho-Corasick
 * automaton would drop the factor L but needs a trie over tokens; with L
 * around 10 the hash probes are cheaper to build and as fast in practice.
 *
 * Where we deviate or choose:
 *   1. No disambiguation: a title shared by several records (MuSiQue has
 *      many) links to each of them, up to MAX_SAME_TITLE; beyond that the
 *      title is too ambiguous to be worth an edge.
 *   2. Titles that would mostly produce noise are skipped: those of which
 *      stop words are more than half ("The Who", "I Was All His", whose
 *      remaining [all] would match everywhere: a known loss of a few real
 *      titles), a single token under 3 bytes or found in over 1% of the
 *      records (BM25's document frequency: "Music", "Water"), or only
 *      numbers ("1984" the novel is lost, "1999" the year no longer links
 *      every record of that year).
 *   3. Stop words are dropped on both sides, so "Lord of the Rings" also
 *      matches "lord in rings".  Keeping them would miss titles written with
 *      another article, which is the more common case.
 *   4. A record does not link to itself, and a target already linked
 *      explicitly is not linked twice.
 *   5. Re-running replaces every mention link (explicit links stay): the
 *      result depends only on the current titles and texts.
 *   6. Titles of more than 16 tokens or 480 bytes are not linked: they do
 *      not fit a "titlemap" key, through which puts match (below).
 *   7. A title shared by more than MAX_SAME_TITLE records stays in the
 *      title map: a match on it takes its tokens and links nothing, as in
 *      the scan, and a question that names it seeds nothing.
 *   8. Names as the text writes them.  A name is written with its
 *      capitals; a common noun that happens to be a title is not a
 *      mention of it ("a French pilot" is not "Pilot (Will & Grace)",
 *      "guest vocals" not "The Guest", "the arms race" not "The Race (Wiz
 *      Khalifa song)").  So a phrase match links a record only when every
 *      token its title writes with a capital (stop words aside; the first
 *      word too) starts with a capital in the text (Unicode's Lu or Lt,
 *      tokenizer deviation 5: "ÉMILE ZOLA" and "Émile Zola" name "Émile
 *      Zola", "émile zola" does not).  Three things keep case-blind
 *      matching, each because case then says nothing: a title its record
 *      writes in lower case ("iPod classic", "eBay": no word starts with a
 *      capital), a
 *      text that writes no capital at all (a note typed in lower case,
 *      stop words counted: "The" is a capital), and a capital that only
 *      starts a sentence ("Guest vocals were ..." still links "The Guest":
 *      the rule removes a link only on evidence, a small letter where the
 *      title has a capital).  A match that fails is no match: the scan
 *      tries the shorter titles at that place ("the kingdom of Hungary"
 *      links "Hungary", not "Kingdom of Hungary"), and of records sharing
 *      a title only those whose capitals the text writes are linked (the
 *      MAX_SAME_TITLE count stays the title's).  A title of more than
 *      MAX_SAME_TITLE records links nothing (deviation 7), so its case is
 *      not asked: its match takes its tokens whatever their case, and a
 *      put's relink decides that from the title map's count without
 *      reading the group's titles (chunks of one document sharing its
 *      title are common; reading the group for each occurrence made a put
 *      cost in proportion to the group).  A relink reads the capitals of
 *      each record's title once, however often its text names it.  Questions are still
 *      matched case-blind (cvs__graph_title_seeds): they are typed, often
 *      in lower case, and name few titles.  Measured with `cvstore-bench
 *      context --sets hotpotqa,musique,squad --variants clean,redundant
 *      --methods bm25-topk,bm25+links,default,topk --unit
 *      passage,sentence --budgets 128,256,512,1024 --by-type --half A`
 *      (then B; before and after over stores of each build): mention
 *      links HotpotQA 8,007 -> 6,104 (clean) and 73,654 -> 61,115
 *      (redundant), MuSiQue 4,445 -> 4,075 and 27,297 -> 24,784, SQuAD
 *      none either way.  Of 40 links removed on HotpotQA (a seeded
 *      sample) 35 were false ("chai and pan shops" -> "Pan (2015 film)",
 *      "heavy metal" -> "Heavy (Linkin Park song)") and 5 named a concept
 *      article in lower case ("basset hound", "lead vocalist", "middle
 *      name"); of 30 on MuSiQue, which has many concept articles, 14 false
 *      and 16 such ("population density", "child labour", "the Indian
 *      rebellion of 1857").  Full support at 128 / 256 / 512 / 1024
 *      tokens, half A, before -> after: bm25+links (issue 15's naive
 *      baseline, which follows these links) HotpotQA clean 0.093 / 0.406
 *      / 0.713 / 0.860 -> 0.101 / 0.421 / 0.731 / 0.854, redundant 0.093 /
 *      0.290 / 0.534 / 0.707 -> 0.101 / 0.299 / 0.540 / 0.713; default
 *      HotpotQA clean 0.107 / 0.543 / 0.836 / 0.940 -> 0.107 / 0.546 /
 *      0.833 / 0.937, redundant 0.170 / 0.588 / 0.851 / 0.934 -> 0.170 /
 *      0.597 / 0.842 / 0.931, MuSiQue clean 0.043 / 0.161 / 0.226 / 0.419
 *      -> 0.043 / 0.161 / 0.237 / 0.419; default/sentence answers HotpotQA
 *      clean 0.687 / 0.770 / 0.809 / 0.839 -> 0.693 / 0.767 / 0.803 /
 *      0.836, MuSiQue clean 0.269 / 0.355 / 0.473 / 0.538 -> 0.258 /
 *      0.344 / 0.452 / 0.516; every other row within a question; SQuAD
 *      unchanged.  Kept on half A for fewer false links at no cost to the
 *      passage unit and a gain to bm25+links; the sentence unit's answers
 *      lost a question or two (the one looked at, MuSiQue's "What
 *      century did the author of A Treatise Concerning ...", kept its gold
 *      passages' links: the walk's order among distractors moved).
 *      Half B, after: bm25+links HotpotQA clean 0.077 / 0.389 / 0.637 /
 *      0.820 -> 0.083 / 0.409 / 0.660 / 0.846, redundant 0.074 /
 *      0.289 / 0.497 / 0.660 -> 0.077 / 0.291 / 0.511 / 0.671; default
 *      HotpotQA clean 0.111 / 0.517 / 0.811 / 0.931 -> 0.111 / 0.520 /
 *      0.817 / 0.937, redundant 0.157 / 0.566 / 0.820 / 0.934 -> 0.157 /
 *      0.580 / 0.829 / 0.934; default/sentence answers HotpotQA clean
 *      0.643 / 0.729 / 0.791 / 0.837 -> 0.654 / 0.749 / 0.789 / 0.849;
 *      MuSiQue within a question, none lower in full support.  The
 *      linker's CPU time grows by the second normalization of each text:
 *      `cvstore link --no-knn` of the redundant HotpotQA store (16,574
 *      records), 0.45 s -> 0.64 s user, on a loaded machine.
 *      Not taken: the first word of a title written in sentence case
 *      ("Lead vocalist", "Whale shark": only the first word capitalized,
 *      maybe by the title's convention) left free.  Half A: 137 more
 *      links on HotpotQA clean, bm25+links one or two questions lower at
 *      256-1024 tokens (0.415 / 0.725 / 0.851, redundant 0.537 / 0.707),
 *      default unchanged.
 *   9. A title's records are read in key order wherever the map is read
 *      (the scan, a put's relink, a question's title seeds and runs).  A
 *      plain store keeps them so (MDB_INTEGERDUP); an encrypted one keeps
 *      them in the order of a keyed permutation (store/seal.c, deviation
 *      2) that follows its random salt, so each group is sorted: which
 *      records a capped list keeps, and in what order, is the records'.
 *
 * Keeping mentions on every write.  A text store (one with an embedder)
 * keeps its mention links in the write transaction of every put and
 * delete, as it keeps BM25, so a library put or an MCP remember is linked
 * at once.  A put changes the links of three kinds of records: the ones
 * written (their text), and, when a title comes, changes or goes, the
 * records whose text holds that title as a phrase (they may link to it, or
 * lose it, or see a longer title take a shorter one's place).  The third
 * kind is found without a scan: the BM25 postings of the title's rarest
 * word give the records that hold the word, and a phrase check on their
 * tokens keeps those that hold the title.  Each record so found is
 * relinked from its whole text, matched against the title map (the map
 * holds every usable title form, key = joined tokens, value = record key),
 * longest first, a shared title's records in key order: the same targets
 * in the same order as the scan of a full run, so the stored links and
 * backlinks come out byte-identical (tests/test_context.c checks this
 * after puts in an order where texts name titles that come later, updates
 * that change titles, deletes, and a title crowded past MAX_SAME_TITLE).
 * The old title of an updated or deleted record is saved before the BM25
 * hook replaces it (cvs__mentions_before), and everything else happens
 * once per batch, after its records are written (cvs__mentions_after);
 * both run inside the transaction and start over when it is retried after
 * the map grows.  One judgement differs: a one-word title's document
 * frequency (deviation 2) is taken when the title is put, against the
 * store of that moment, where a full run takes it against the final store;
 * a full run (`cvstore link`, and each import) judges again.  Cost, on a
 * generated corpus of 5,000 records with 60-word texts naming three titles
 * each: 0.13 s for an import in one batch (0.64 s to 0.77 s, the full
 * rebuild after it 0.3 s), 2.3 s more in batches of 100 (each batch relinks
 * the texts naming its new titles); a put of one record tokenizes the
 * records holding its title's rarest word, not the store.
 *
 * Linking one store among several (cvs_link_mentions_scope: the shards of
 * a sharded store, mpi/link.c).  The full run above, with the title table
 * built from the scope instead of the store: every titled record of all
 * the stores in the scope's order (this store's with their keys, the
 * others marked FOREIGN), each one-word title judged by the scope's record
 * count and document frequency, then this store's untitled records.  Only
 * this store's texts are scanned; a mention of a FOREIGN record is written
 * as any link is, by id, and its backlink goes under that id in this
 * store; the title map keeps this store's titles.  With each store linked
 * so, the stores together hold the links one store holding all the
 * records would (the same table, the same scan).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/grow.h"
#include "graph/graph.h"
#include "store/seal.h"
#include "text/bm25.h"
#include "text/tokenize.h"

#define MAX_SAME_TITLE 8
#define MIN_SINGLE_TOKEN 3
#define SEP 0x1f
#define MAX_DF_SHARE 0.01
#define MAX_MAP_TOKENS 16   /* longer titles are linked but not kept in "titlemap" */
#define MAX_MAP_BYTES 480

/* ==== Title table ==== */

typedef struct title_ent {
    uint64_t h;
    uint32_t ntok;
    uint32_t off, len;     /* the joined tokens in the arena */
    uint32_t rec;          /* index of the record */
    uint32_t need;         /* bit j: token j must be written with a capital
                              (deviation 8) */
} title_ent;

typedef struct rec_ent {
    uint64_t key;
    uint32_t id_off, id_len;
} rec_ent;

typedef struct linker {
    rec_ent *recs;
    size_t nrecs, crecs;
    char *arena;
    size_t alen, acap;
    title_ent *titles;
    size_t ntitles, ctitles;
    uint32_t *slots;       /* open addressing: 1 + index of the first entry
                              of a hash (entries sorted by hash) */
    size_t nslots;
    uint32_t maxtok;
    /* Output: for record i, targets tgt[first[i] .. first[i+1]) (indices). */
    uint32_t *first, *tgt;
    size_t ntgt, ctgt;
    size_t sources;        /* records with at least one mention */
    uint64_t snap;         /* LMDB transaction id the output was computed in */
    const cvs_link_scope *scope; /* titles of several stores, or NULL */
    size_t nlocal;         /* records of this store among recs */
    cvs_tokens tok;
    uint64_t *hs;
} linker;

static uint64_t fnv_tok(uint64_t h, const char *s, size_t len, int sep)
{
    if (sep)
        h = (h ^ SEP) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

static int arena_add(linker *l, const char *s, size_t len, uint32_t *off)
{
    if (l->alen + len + 1 > UINT32_MAX)
        return cvs__err(CVS_ENOMEM, "linker: titles and ids exceed 4 GiB");
    if (l->alen + len + 1 > l->acap) {
        size_t c = l->acap ? l->acap * 2 : 1 << 16;
        char *p;
        while (c < l->alen + len + 1)
            c *= 2;
        if (!(p = realloc(l->arena, c)))
            return cvs__err(CVS_ENOMEM, "out of memory linking");
        l->arena = p;
        l->acap = c;
    }
    memcpy(l->arena + l->alen, s, len);
    *off = (uint32_t)l->alen;
    l->alen += len;
    return CVS_OK;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    return cvs__grow(p, cap, need, elem, "out of memory linking");
}

/* t: the title's tokens without stop words; nall: with them; df: records
 * whose title or text holds t's only token (0 when t has several). */
static int title_usable(const cvs_tokens *t, size_t nall, size_t df, size_t nrecs)
{
    int all_digits = 1;
    if (t->n == 0 || t->n * 2 < nall)
        return 0;
    if (t->n == 1 && df > MAX_DF_SHARE * (double)nrecs && df > 10)
        return 0;
    if (t->n == 1 && t->len[0] < MIN_SINGLE_TOKEN)
        return 0;
    for (size_t i = 0; i < t->n && all_digits; i++)
        for (uint32_t j = 0; j < t->len[i]; j++)
            if (t->buf[t->off[i] + j] < '0' || t->buf[t->off[i] + j] > '9') {
                all_digits = 0;
                break;
            }
    return !all_digits;
}

/* Does the joined title fit a "titlemap" key?  Longer ones are not linked
 * (deviation 6), so that puts, which match through the map, link as the
 * full rebuild does. */
static int title_fits(const cvs_tokens *t)
{
    size_t bytes = t->n ? t->n - 1 : 0;
    for (size_t i = 0; i < t->n; i++)
        bytes += t->len[i];
    return t->n <= MAX_MAP_TOKENS && bytes <= MAX_MAP_BYTES;
}

/* ==== Names as the text writes them (deviation 8) ==== */

/* The tokens of a title that its record writes with a capital: bit j for
 * the j-th token that is not a stop word; all: the title tokenized with
 * CVS_TOK_KEEP_STOP | CVS_TOK_CAPS.  Titles past MAX_MAP_TOKENS are not
 * linked (title_fits), so 32 bits hold every usable one. */
static uint32_t title_need(const cvs_tokens *all)
{
    uint32_t need = 0;
    size_t j = 0;
    for (size_t i = 0; i < all->n && j < 32; i++) {
        if (cvs__is_stopword(all->buf + all->off[i], all->len[i]))
            continue;
        need |= (uint32_t)all->caps[i] << j++;
    }
    return need;
}

/* Does the text (tokenized with CVS_TOK_CAPS) write any word with a
 * capital, stop words included?  One that writes none ("met john at the
 * guest house", a note typed in lower case) gives no evidence of case. */
static int text_cased(const cvs_tokens *t)
{
    return t->caps_any;
}

/* Is the title occurrence at tokens tok[i ..] a mention of a title whose
 * capitals are need: every token the title writes with a capital has one
 * in the text too, unless the text writes no capital at all (cased 0). */
static int case_ok(uint32_t need, const cvs_tokens *tok, size_t i, int cased)
{
    for (size_t j = 0; cased && j < 32 && need >> j; j++)
        if ((need >> j & 1) && !tok->caps[i + j])
            return 0;
    return 1;
}

static int cmp_title(const void *a, const void *b)
{
    const title_ent *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static size_t slot_of(const linker *l, uint64_t h)
{
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ull >> 20) & (l->nslots - 1);
    while (l->slots[i] && l->titles[l->slots[i] - 1].h != h)
        i = (i + 1) & (l->nslots - 1);
    return i;
}

/* Document frequency of a BM25 term: the postings under it. */
static int term_df(cvs_db *db, MDB_txn *txn, const char *s, size_t len, size_t *df)
{
    MDB_cursor *cur;
    MDB_val k = {len, (void *)s}, v;
    int mrc;
    *df = 0;
    if (!cvs__module_present(db, &cvs__text_module))
        return CVS_OK;
    if ((mrc = mdb_cursor_open(txn, cvs__text(db)->dbi_terms, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY);
    if (mrc == 0)
        mrc = mdb_cursor_count(cur, df);
    mdb_cursor_close(cur);
    return mrc && mrc != MDB_NOTFOUND ? cvs__err_lmdb(mrc, "reading postings") : CVS_OK;
}

/* Adds title (len bytes) of the last record read, when usable.  A
 * one-word title's document frequency is the store's own, or with a scope
 * the next of scope->df (*gi counts them, in cvs_link_title_terms' order). */
static int add_title(cvs_db *db, MDB_txn *txn, linker *l, cvs_tokens *tok, const char *title,
                     size_t len, size_t nrecords, size_t *gi)
{
    size_t nall, df = 0;
    uint32_t need;
    int rc;
    if ((rc = cvs__tokenize(title, len,
                            CVS_TOK_STRIP_ACCENTS | CVS_TOK_KEEP_STOP | CVS_TOK_CAPS, tok)))
        return rc;
    nall = tok->n;
    need = title_need(tok);
    if ((rc = cvs__tokenize(title, len, CVS_TOK_STRIP_ACCENTS, tok)))
        return rc;
    if (tok->n == 1 && l->scope) {
        if (*gi >= l->scope->ndf)
            return cvs__err(CVS_EINVAL, "cvs_link_mentions_scope: scope->ndf = %zu, fewer than "
                            "the titles' one-word forms (cvs_link_title_terms)", l->scope->ndf);
        df = (size_t)l->scope->df[(*gi)++];
    } else if (tok->n == 1 &&
               (rc = term_df(db, txn, tok->buf + tok->off[0], tok->len[0], &df))) {
        return rc;
    }
    if (!title_usable(tok, nall, df, nrecords) || !title_fits(tok))
        return CVS_OK;
    if ((rc = grow((void **)&l->titles, &l->ctitles, l->ntitles + 1, sizeof *l->titles)))
        return rc;
    title_ent *t = &l->titles[l->ntitles];
    uint64_t h = FNV_BASIS;
    uint32_t start = (uint32_t)l->alen, dummy;
    for (size_t i = 0; i < tok->n; i++) {
        h = fnv_tok(h, tok->buf + tok->off[i], tok->len[i], i > 0);
        if ((i && (rc = arena_add(l, "\x1f", 1, &dummy))) ||
            (rc = arena_add(l, tok->buf + tok->off[i], tok->len[i], &dummy)))
            return rc;
    }
    t->h = h;
    t->ntok = (uint32_t)tok->n;
    t->off = start;
    t->len = (uint32_t)l->alen - start;
    t->rec = (uint32_t)(l->nrecs - 1);
    t->need = need;
    if (t->ntok > l->maxtok)
        l->maxtok = t->ntok;
    l->ntitles++;
    return CVS_OK;
}

/* The lengths of title's forms (prefixes): the whole title, and without a
 * disambiguation suffix: "Steve Smith (musician)" -> "Steve Smith",
 * "Stanley, North Dakota" -> "Stanley".  Returns how many (1 to 3). */
size_t cvs__title_forms(const char *ts, size_t tl, size_t forms[3])
{
    size_t nforms = 0;
    forms[nforms++] = tl;
    for (size_t i = 1; i + 1 < tl; i++)
        if (ts[i] == ' ' && ts[i + 1] == '(') {
            forms[nforms++] = i;
            break;
        }
    for (size_t i = 1; i + 1 < tl; i++)
        if (ts[i] == ',' && ts[i + 1] == ' ') {
            if (forms[nforms - 1] != i)
                forms[nforms++] = i;
            break;
        }
    return nforms;
}

/* Reads ids and titles of every record of the snapshot. */
static int load_titles(cvs_db *db, MDB_txn *txn, linker *l, cvs_tokens *tok)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    MDB_stat st;
    size_t nrecords;
    int rc = CVS_OK, mrc;

    if ((mrc = mdb_stat(txn, db->dbi_recs, &st)))
        return cvs__err_lmdb(mrc, "counting records");
    nrecords = st.ms_entries;
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        int64_t cr, up;
        const char *id;
        size_t idl;
        MDB_val tv;
        rec_ent *r;
        if ((rc = cvs__rec_decode(&v, &cr, &up, &id, &idl)) ||
            (rc = grow((void **)&l->recs, &l->crecs, l->nrecs + 1, sizeof *l->recs)))
            goto out;
        r = &l->recs[l->nrecs];
        r->key = cvs__get_u64(k.mv_data);
        r->id_len = (uint32_t)idl;
        if ((rc = arena_add(l, id, idl, &r->id_off)))
            goto out;
        l->nrecs++;
        if (!cvs__module_present(db, &cvs__text_module) || cvs__vget(db, txn, db->dbi_titles, &k, &tv) != 0)
            continue;
        /* The title, and its forms without a disambiguation suffix:
         * "Steve Smith (musician)" -> "Steve Smith", "Stanley, North
         * Dakota" -> "Stanley". */
        const char *ts = tv.mv_data;
        size_t forms[3], nforms = cvs__title_forms(ts, tv.mv_size, forms);
        for (size_t f = 0; f < nforms; f++)
            if ((rc = add_title(db, txn, l, tok, ts, forms[f], nrecords, NULL)))
                goto out;
    }
    if (mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading records");
out:
    mdb_cursor_close(cur);
    return rc;
}

/* A record of another store among the linker's records (scope). */
#define FOREIGN UINT64_MAX

/* As load_titles, over the scope's titles: its records first, in its order
 * (those of this store with their keys, the others FOREIGN), judged with
 * its record count and document frequencies; then this store's records
 * that are not among them, which only mention. */
static int load_scope(cvs_db *db, MDB_txn *txn, linker *l, cvs_tokens *tok)
{
    const cvs_link_scope *sc = l->scope;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t *lk = NULL;
    size_t nlk = 0, gi = 0;
    int rc = CVS_OK, mrc;

    if (!(lk = malloc((sc->ntitles ? sc->ntitles : 1) * sizeof *lk)))
        return cvs__err(CVS_ENOMEM, "out of memory linking");
    for (size_t i = 0; i < sc->ntitles; i++) {
        const cvs_link_title *t = &sc->titles[i];
        unsigned char buf[CVS_IDKEY_MAX];
        MDB_val ik, iv;
        rec_ent *r;
        if (!t->id || !t->id_len || t->id_len > CVS_MAX_ID_LEN || (!t->title && t->title_len)) {
            rc = cvs__err(CVS_EINVAL, "cvs_link_mentions_scope: title %zu has no id or a "
                          "NULL title", i);
            goto out;
        }
        if ((rc = grow((void **)&l->recs, &l->crecs, l->nrecs + 1, sizeof *l->recs)))
            goto out;
        r = &l->recs[l->nrecs];
        cvs__idkey(t->id, t->id_len, buf, &ik);
        mrc = cvs__vget(db, txn, db->dbi_ids, &ik, &iv);
        if (mrc && mrc != MDB_NOTFOUND) {
            rc = cvs__err_lmdb(mrc, "looking up an id");
            goto out;
        }
        r->key = mrc == 0 && iv.mv_size == 8 ? cvs__get_u64(iv.mv_data) : FOREIGN;
        r->id_len = (uint32_t)t->id_len;
        if ((rc = arena_add(l, t->id, t->id_len, &r->id_off)))
            goto out;
        if (r->key != FOREIGN)
            lk[nlk++] = r->key;
        l->nrecs++;
        size_t forms[3], nforms = cvs__title_forms(t->title, t->title_len, forms);
        for (size_t f = 0; f < nforms; f++)
            if ((rc = add_title(db, txn, l, tok, t->title, forms[f], (size_t)sc->records, &gi)))
                goto out;
    }
    if (gi != sc->ndf) {
        rc = cvs__err(CVS_EINVAL, "cvs_link_mentions_scope: scope->ndf = %zu, but the titles "
                      "have %zu one-word forms (cvs_link_title_terms)", sc->ndf, gi);
        goto out;
    }
    qsort(lk, nlk, sizeof *lk, cvs__cmp_i64);
    if ((mrc = mdb_cursor_open(txn, db->dbi_recs, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    l->nlocal = nlk;
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        uint64_t key = cvs__get_u64(k.mv_data);
        int64_t cr, up;
        const char *id;
        size_t idl;
        rec_ent *r;
        if (bsearch(&key, lk, nlk, sizeof *lk, cvs__cmp_i64))
            continue;
        if ((rc = cvs__rec_decode(&v, &cr, &up, &id, &idl)) ||
            (rc = grow((void **)&l->recs, &l->crecs, l->nrecs + 1, sizeof *l->recs)))
            goto out;
        r = &l->recs[l->nrecs];
        r->key = key;
        r->id_len = (uint32_t)idl;
        if ((rc = arena_add(l, id, idl, &r->id_off)))
            goto out;
        l->nrecs++;
        l->nlocal++;
    }
    if (mrc != MDB_NOTFOUND)
        rc = cvs__err_lmdb(mrc, "reading records");
out:
    mdb_cursor_close(cur);
    free(lk);
    return rc;
}

static int build_table(linker *l)
{
    int rc;
    if (l->ntitles)
        qsort(l->titles, l->ntitles, sizeof *l->titles, cmp_title);
    l->nslots = 16;
    while (l->nslots < l->ntitles * 2)
        l->nslots *= 2;
    if (!(l->slots = calloc(l->nslots, sizeof *l->slots)))
        return cvs__err(CVS_ENOMEM, "out of memory linking");
    for (size_t i = 0; i < l->ntitles; i++) {
        if (i && l->titles[i].h == l->titles[i - 1].h)
            continue;
        l->slots[slot_of(l, l->titles[i].h)] = (uint32_t)i + 1;
    }
    rc = CVS_OK;
    return rc;
}

/* Do tokens tok[i .. i+n) equal the joined title t? */
static int same_tokens(const linker *l, const title_ent *t, const cvs_tokens *tok, size_t i)
{
    const char *p = l->arena + t->off, *end = p + t->len;
    for (size_t j = 0; j < t->ntok; j++) {
        uint32_t len = tok->len[i + j];
        if (j) {
            if (p >= end || *p != SEP)
                return 0;
            p++;
        }
        if ((size_t)(end - p) < len || memcmp(p, tok->buf + tok->off[i + j], len))
            return 0;
        p += len;
    }
    return p == end;
}

static int add_target(linker *l, uint32_t src, uint32_t rec, size_t start)
{
    int rc;
    if (rec == src)
        return CVS_OK;
    for (size_t i = start; i < l->ntgt; i++)
        if (l->tgt[i] == rec)
            return CVS_OK;
    if ((rc = grow((void **)&l->tgt, &l->ctgt, l->ntgt + 1, sizeof *l->tgt)))
        return rc;
    l->tgt[l->ntgt++] = rec;
    return CVS_OK;
}

/* Finds the mentions in the text of record src (tokens in tok). */
static int scan(linker *l, uint32_t src, const cvs_tokens *tok, uint64_t *hs)
{
    size_t start = l->ntgt;
    int rc, cased = text_cased(tok);
    for (size_t i = 0; i < tok->n;) {
        size_t maxl = tok->n - i < l->maxtok ? tok->n - i : l->maxtok, adv = 1;
        uint64_t h = FNV_BASIS;
        for (size_t L = 1; L <= maxl; L++) {
            h = fnv_tok(h, tok->buf + tok->off[i + L - 1], tok->len[i + L - 1], L > 1);
            hs[L] = h;
        }
        for (size_t L = maxl; L >= 1; L--) {
            size_t s = l->slots[slot_of(l, hs[L])];
            if (!s)
                continue;
            size_t first = s - 1, last = first;
            while (last < l->ntitles && l->titles[last].h == hs[L])
                last++;
            if (l->titles[first].ntok != L || !same_tokens(l, &l->titles[first], tok, i))
                continue;
            /* A crowded title takes its tokens whatever their case
             * (deviation 8): scan_map decides it from the map's count,
             * before reading any of its records' titles. */
            if (last - first > MAX_SAME_TITLE) {
                adv = L;
                break;
            }
            /* Written as none of the records writes the title: no
             * mention, and a shorter title inside it may still be one. */
            size_t e = first;
            while (e < last && !case_ok(l->titles[e].need, tok, i, cased))
                e++;
            if (e == last)
                continue;
            for (; e < last; e++)
                if (case_ok(l->titles[e].need, tok, i, cased) &&
                    (rc = add_target(l, src, l->titles[e].rec, start)))
                    return rc;
            adv = L;
            break;
        }
        i += adv;
    }
    return CVS_OK;
}

/* ==== Maintenance and check ==== */

static int mentions_kept(cvs_db *db, MDB_txn *txn);

/* A deleted record's title-map entries go in its transaction.  In a text
 * store cvs__mentions_after has removed them by title already (the title
 * was saved before the delete), so only other stores pay this scan of the
 * map, one entry per title, cheaper there than keeping what each record's
 * title folded to.
 *
 * The walk only finds the entries; they are deleted after it.  LMDB 0.9.24
 * does not keep a DUPSORT cursor's place across mdb_cursor_del of a key's
 * only value: the MDB_NEXT after it resumes the next key's values at the
 * index the sub-cursor had in an earlier key, so with "alpha" -> 1 2 3,
 * "beta" -> 4, "gamma" -> 5 6 and keys 4 and 5 deleted, 5 was never seen
 * and stayed ("titlemap: ... names key 5, which has no record").  Each
 * entry is kept as stored (an encrypted store's hashed title and permuted
 * value), so the deletes after the walk name it exactly. */
int cvs__titlemap_on_delete(cvs_db *db, MDB_txn *txn, const int64_t *keys, size_t n)
{
    MDB_dbi dbi = cvs__graph(db)->dbi_titlemap;
    MDB_cursor *cur = NULL;
    MDB_val k, v, rk, rv;
    unsigned char *gone = NULL; /* per entry: size_t key bytes, key, size_t value bytes, value */
    size_t glen = 0, gcap = 0;
    int rc = CVS_OK, mrc;
    if (mentions_kept(db, txn))
        return CVS_OK;
    if ((mrc = mdb_cursor_open(txn, dbi, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        int64_t key = v.mv_size == 8 ? (int64_t)cvs__get_u64(v.mv_data) : -1;
        if (key < 0 || !bsearch(&key, keys, n, sizeof *keys, cvs__cmp_i64))
            continue;
        if ((mrc = mdb_cursor_get(cur, &rk, &rv, MDB_GET_CURRENT)))
            break;
        if ((rc = grow((void **)&gone, &gcap, glen + 2 * sizeof(size_t) + rk.mv_size + rv.mv_size,
                       1)))
            goto out;
        memcpy(gone + glen, &rk.mv_size, sizeof(size_t));
        memcpy(gone + glen + sizeof(size_t), rk.mv_data, rk.mv_size);
        glen += sizeof(size_t) + rk.mv_size;
        memcpy(gone + glen, &rv.mv_size, sizeof(size_t));
        memcpy(gone + glen + sizeof(size_t), rv.mv_data, rv.mv_size);
        glen += sizeof(size_t) + rv.mv_size;
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cvs__werr(mrc, "reading the title map");
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    for (size_t off = 0; off < glen;) {
        memcpy(&rk.mv_size, gone + off, sizeof(size_t));
        rk.mv_data = gone + off + sizeof(size_t);
        off += sizeof(size_t) + rk.mv_size;
        memcpy(&rv.mv_size, gone + off, sizeof(size_t));
        rv.mv_data = gone + off + sizeof(size_t);
        off += sizeof(size_t) + rv.mv_size;
        if ((mrc = mdb_del(txn, dbi, &rk, &rv))) {
            rc = cvs__werr(mrc, "updating the title map");
            goto out;
        }
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    free(gone);
    return rc;
}

int cvs__titlemap_check(cvs_db *db, MDB_txn *txn, cvs__problem_fn problem, void *ctx)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int mrc;
    if (!cvs__module_present(db, &cvs__graph_module))
        return CVS_OK;
    if ((mrc = mdb_cursor_open(txn, cvs__graph(db)->dbi_titlemap, &cur)))
        return cvs__err_lmdb(mrc, "opening a cursor");
    /* In an encrypted store the keys are keyed hashes (store/seal.c,
     * deviation 1): no title structure to check, none to print. */
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT)) {
        const unsigned char *t = k.mv_data;
        int bad = !db->crypt && (k.mv_size == 0 || k.mv_size > MAX_MAP_BYTES || t[0] == SEP ||
                  t[k.mv_size - 1] == SEP);
        uint64_t key;
        for (size_t i = 1; !db->crypt && i < k.mv_size && !bad; i++)
            bad = t[i] == SEP && t[i - 1] == SEP;
        if (bad) {
            cvs__graph_problem(problem, ctx, "titlemap: malformed title key of %zu bytes", k.mv_size);
        }
        if (v.mv_size != 8) {
            cvs__graph_problem(problem, ctx, "titlemap: an entry of %zu bytes (expected 8)", v.mv_size);
            continue;
        }
        key = cvs__get_u64(v.mv_data);
        if (!cvs__has_key(txn, db->dbi_recs, key)) {
            char title[65];
            size_t tl = db->crypt ? 0 : k.mv_size < 64 ? k.mv_size : 64;
            for (size_t i = 0; i < tl; i++) /* tokens joined by spaces, as readable */
                title[i] = t[i] == SEP ? ' ' : (char)t[i];
            title[tl] = '\0';
            if (db->crypt)
                snprintf(title, sizeof title, "(hashed title)");
            cvs__graph_problem(problem, ctx, "titlemap: \"%s\" names key %llu, which has no record "
                     "(run cvstore link)", title, (unsigned long long)key);
        }
    }
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND ? CVS_OK : cvs__err_lmdb(mrc, "walking titlemap");
}

/* ==== The rule that made the links ==== */

/* Which rule of this linker made a store's mention links, in meta
 * CVS__META_LINK_RULE (u32): 2 since deviation 8; an absent key is rule 1,
 * the case-blind matching of the stores written before it.  A full run
 * (cvs_link_mentions) writes it; a put in a text store leaves it as it is,
 * since it relinks only the records it touches, except in a store with no
 * titles yet (an empty title map), which has no mention link an older rule
 * could have made: there the first put writes it, so a store that has only
 * ever been kept by puts says which rule made all its links. */
#define LINK_RULE 2u

static uint32_t rule_of(cvs_db *db, MDB_txn *txn)
{
    MDB_val k = CVS__MKEY(CVS__META_LINK_RULE), v;
    if (cvs__vget(db, txn, db->dbi_meta, &k, &v) != 0)
        return 1;
    return v.mv_size == 4 ? cvs__get_u32(v.mv_data) : 0; /* 0: unreadable, so old */
}

static int rule_write(cvs_db *db, MDB_txn *txn)
{
    unsigned char b[4];
    MDB_val k = CVS__MKEY(CVS__META_LINK_RULE), v = {sizeof b, b};
    int mrc;
    cvs__put_u32(b, LINK_RULE);
    if ((mrc = cvs__vput(db, txn, db->dbi_meta, &k, &v, 0)))
        return cvs__werr(mrc, "writing the linker's rule");
    return CVS_OK;
}

CVS_API int cvs_link_rule_outdated(cvs_db *db, int *outdated)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    int rc, mrc;
    if (!db || !outdated)
        return cvs__err(CVS_EINVAL, "cvs_link_rule_outdated: NULL argument");
    *outdated = 0;
    /* A store opened read-only before the graph's databases were added
     * has no title map, and so no mention links. */
    if (!cvs__module_present(db, &cvs__graph_module))
        return CVS_OK;
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    if ((mrc = mdb_stat(txn, cvs__graph(db)->dbi_titlemap, &st)))
        rc = cvs__err_lmdb(mrc, "reading the title map");
    else
        *outdated = st.ms_entries > 0 && rule_of(db, txn) < LINK_RULE;
    cvs__read_end(db, txn);
    return rc;
}

/* ==== Writing ==== */

/* Replaces the mention links of record key by the ntg targets tg (their
 * backlinks with them), keeping its explicit links; a target already linked
 * explicitly is not linked twice. */
typedef struct mbuf {
    cvs_link *links;
    size_t clinks;
    unsigned char *enc;
    size_t cenc;
} mbuf;

static void mbuf_free(mbuf *b)
{
    free(b->links);
    free(b->enc);
}

static int set_mentions(cvs_db *db, MDB_txn *txn, uint64_t key, const cvs_link *tg, size_t ntg,
                        mbuf *b)
{
    MDB_val k = {8, &key}, v, bk, bv = {8, &key};
    unsigned char idbuf[CVS_IDKEY_MAX];
    cvs_link *old = NULL;
    size_t nold = 0, nkeep = 0, nold_ment = 0, n;
    int rc = CVS_OK, mrc;

    mrc = cvs__vget(db, txn, db->dbi_links, &k, &v);
    if (mrc && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading links");
    if (mrc == 0 && (rc = cvs__links_decode(v.mv_data, v.mv_size, &old, &nold)))
        return rc;
    for (size_t i = 0; i < nold; i++)
        nold_ment += old[i].type && !strcmp(old[i].type, CVS_LINK_MENTIONS);
    if (ntg == 0 && nold_ment == 0)
        goto out;
    if ((rc = grow((void **)&b->links, &b->clinks, nold + ntg, sizeof *b->links)))
        goto out;
    for (size_t i = 0; i < nold; i++) {
        if (old[i].type && !strcmp(old[i].type, CVS_LINK_MENTIONS)) {
            cvs__idkey(old[i].id, old[i].id_len, idbuf, &bk);
            if ((mrc = cvs__vdel(db, txn, db->dbi_backlinks, &bk, &bv)) && mrc != MDB_NOTFOUND) {
                rc = cvs__werr(mrc, "removing a backlink");
                goto out;
            }
        } else {
            b->links[nkeep++] = old[i];
        }
    }
    n = nkeep;
    for (size_t j = 0; j < ntg; j++) {
        int dup = 0;
        for (size_t i = 0; i < nkeep && !dup; i++)
            dup = b->links[i].id_len == tg[j].id_len && !memcmp(b->links[i].id, tg[j].id, tg[j].id_len);
        if (!dup)
            b->links[n++] = (cvs_link){tg[j].id, tg[j].id_len, CVS_LINK_MENTIONS, 1.0f};
    }
    /* Encode into our own buffer: old's strings point into the stored
     * value, which the put below may overwrite in place. */
    size_t sz = cvs__links_encoded_size(b->links, n);
    if ((rc = grow((void **)&b->enc, &b->cenc, sz, 1)))
        goto out;
    cvs__links_encode(b->links, n, b->enc);
    for (size_t i = 0; i < n && rc == CVS_OK; i++) {
        cvs__idkey(b->links[i].id, b->links[i].id_len, idbuf, &bk);
        if ((mrc = cvs__vput(db, txn, db->dbi_backlinks, &bk, &bv, 0)))
            rc = cvs__werr(mrc, "writing a backlink");
    }
    if (rc)
        goto out;
    if (n) {
        MDB_val ev = {sz, b->enc};
        mrc = cvs__vput(db, txn, db->dbi_links, &k, &ev, 0);
    } else {
        mrc = cvs__vdel(db, txn, db->dbi_links, &k, NULL);
        mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
    }
    if (mrc)
        rc = cvs__werr(mrc, "writing links");
out:
    free(old);
    return rc;
}

static int write_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    linker *l = arg;
    mbuf mb = {0};
    cvs_link *tg = NULL;
    size_t ctg = 0;
    int rc = CVS_OK, mrc;

    /* The title map, for mentions in questions (cvs__graph_title_seeds). */
    if (cvs__module_present(db, &cvs__graph_module)) {
        if ((mrc = mdb_drop(txn, cvs__graph(db)->dbi_titlemap, 0)))
            return cvs__werr(mrc, "emptying the title map");
        for (size_t i = 0; i < l->ntitles;) {
            size_t j = i;
            while (j < l->ntitles && l->titles[j].h == l->titles[i].h)
                j++;
            const title_ent *t = &l->titles[i];
            /* Every usable title, also one shared by more than
             * MAX_SAME_TITLE records: a match on it still takes its tokens
             * (leftmost-longest) without linking, in scan_map as in scan. */
            for (size_t e = i; e < j; e++) {
                MDB_val k = {t->len, l->arena + t->off}, v = {8, &l->recs[l->titles[e].rec].key};
                if (l->recs[l->titles[e].rec].key == FOREIGN)
                    continue; /* another store's title: that store maps it */
                if ((mrc = cvs__vput(db, txn, cvs__graph(db)->dbi_titlemap, &k, &v, 0)))
                    return cvs__werr(mrc, "writing the title map");
            }
            i = j;
        }
    }
    if ((rc = rule_write(db, txn)))
        return rc;

    for (size_t r = 0; r < l->nrecs && rc == CVS_OK; r++) {
        size_t ntg = l->first[r + 1] - l->first[r];
        if (l->recs[r].key == FOREIGN)
            continue;
        if ((rc = grow((void **)&tg, &ctg, ntg, sizeof *tg)))
            break;
        for (size_t j = 0; j < ntg; j++) {
            const rec_ent *t = &l->recs[l->tgt[l->first[r] + j]];
            tg[j] = (cvs_link){l->arena + t->id_off, t->id_len, CVS_LINK_MENTIONS, 1.0f};
        }
        rc = set_mentions(db, txn, l->recs[r].key, tg, ntg, &mb);
    }
    free(tg);
    mbuf_free(&mb);
    return rc;
}

/* Forgets what compute found (keeps the buffers). */
static void linker_reset(linker *l)
{
    l->nrecs = l->alen = l->ntitles = l->ntgt = l->sources = l->nlocal = 0;
    l->maxtok = 0;
    free(l->slots);
    l->slots = NULL;
    l->nslots = 0;
    free(l->first);
    l->first = NULL;
    free(l->hs);
    l->hs = NULL;
}

static void linker_free(linker *l)
{
    linker_reset(l);
    cvs__tokens_free(&l->tok);
    free(l->recs);
    free(l->arena);
    free(l->titles);
    free(l->tgt);
}

/* Finds every mention in txn's view of the store. */
static int compute(cvs_db *db, MDB_txn *txn, linker *l)
{
    int rc;
    linker_reset(l);
    l->snap = (uint64_t)mdb_txn_id(txn);
    if ((rc = l->scope ? load_scope(db, txn, l, &l->tok) : load_titles(db, txn, l, &l->tok)) ||
        (rc = build_table(l)))
        return rc;
    if (!(l->first = malloc((l->nrecs + 1) * sizeof *l->first)) ||
        !(l->hs = malloc((l->maxtok + 1) * sizeof *l->hs)))
        return cvs__err(CVS_ENOMEM, "out of memory linking");
    for (size_t r = 0; r < l->nrecs; r++) {
        MDB_val k = {8, &l->recs[r].key}, v;
        l->first[r] = (uint32_t)l->ntgt;
        if (l->ntitles == 0 || l->recs[r].key == FOREIGN ||
            cvs__vget(db, txn, db->dbi_text, &k, &v) != 0)
            continue;
        if ((rc = cvs__tokenize(v.mv_data, v.mv_size, CVS_TOK_STRIP_ACCENTS | CVS_TOK_CAPS,
                                &l->tok)) ||
            (rc = scan(l, (uint32_t)r, &l->tok, l->hs)))
            return rc;
        l->sources += l->ntgt > l->first[r];
    }
    l->first[l->nrecs] = (uint32_t)l->ntgt;
    return CVS_OK;
}

/* The mentions are found in a read snapshot, so that the write lock is
 * not held while texts are tokenized.  Write transaction ids follow each
 * other: when the writing one is not the snapshot's next, other writers
 * committed in between, and what was found may name records that are gone
 * or miss new ones.  Then the mentions are found again inside the write
 * transaction (the store cannot change under it): one more scan, paid only
 * when a writer ran beside the linker.  Patching instead would need the
 * changed records' texts and every text naming a changed title. */
static int write_or_redo_fn(cvs_db *db, MDB_txn *txn, void *arg)
{
    linker *l = arg;
    int rc;
    if ((uint64_t)mdb_txn_id(txn) != l->snap + 1) {
        if ((rc = compute(db, txn, l)))
            return rc;
        l->snap = (uint64_t)mdb_txn_id(txn) - 1; /* a retry of this transaction */
    }
    return write_fn(db, txn, arg);
}

static int link_run(cvs_db *db, const cvs_link_scope *scope, cvs_link_stats *stats);

CVS_API int cvs_link_mentions(cvs_db *db, cvs_link_stats *stats)
{
    return link_run(db, NULL, stats);
}

CVS_API int cvs_link_mentions_scope(cvs_db *db, const cvs_link_scope *scope,
                                    cvs_link_stats *stats)
{
    if (!scope || (scope->ntitles && !scope->titles) || (scope->ndf && !scope->df))
        return cvs__err(CVS_EINVAL, "cvs_link_mentions_scope: NULL argument");
    return link_run(db, scope, stats);
}

CVS_API int cvs_link_title_terms(const cvs_link_title *titles, size_t n, char **buf,
                                 cvs_terms *terms)
{
    cvs_tokens tok = {0};
    char *b = NULL;
    size_t len = 0, cap = 0, nt = 0;
    int rc = CVS_OK;
    if (!buf || !terms || (n && !titles))
        return cvs__err(CVS_EINVAL, "cvs_link_title_terms: NULL argument");
    *buf = NULL;
    *terms = (cvs_terms){NULL, 0, 0};
    /* The order add_title takes them in: each title's forms, those of
     * one word without stop words. */
    for (size_t i = 0; i < n && !rc; i++) {
        size_t forms[3], nforms;
        if (!titles[i].title && titles[i].title_len) {
            rc = cvs__err(CVS_EINVAL, "cvs_link_title_terms: title %zu is NULL", i);
            break;
        }
        nforms = cvs__title_forms(titles[i].title, titles[i].title_len, forms);
        for (size_t f = 0; f < nforms && !rc; f++) {
            if ((rc = cvs__tokenize(titles[i].title, forms[f], CVS_TOK_STRIP_ACCENTS, &tok)) ||
                tok.n != 1)
                continue;
            if ((rc = grow((void **)&b, &cap, len + tok.len[0] + 1, 1)))
                break;
            memcpy(b + len, tok.buf + tok.off[0], tok.len[0]);
            b[len + tok.len[0]] = '\0';
            len += tok.len[0] + 1;
            nt++;
        }
    }
    cvs__tokens_free(&tok);
    if (rc) {
        free(b);
        return rc;
    }
    *buf = b;
    *terms = (cvs_terms){b, len, nt};
    return CVS_OK;
}

static int link_run(cvs_db *db, const cvs_link_scope *scope, cvs_link_stats *stats)
{
    linker l = {.scope = scope};
    MDB_txn *txn = NULL;
    struct timespec t0, t1;
    int rc;

    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_link_mentions: NULL argument");
    if (db->flags & CVS_OPEN_RDONLY)
        return cvs__err(CVS_ERDONLY, "cvs_link_mentions: store opened read-only");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = cvs__read_begin(db, &txn)))
        return rc;
    rc = compute(db, txn, &l);
    cvs__read_end(db, txn);
    if (rc)
        goto out;
    if (cvs__graph_test_hook)
        cvs__graph_test_hook(db);
    if ((rc = cvs__write(db, write_or_redo_fn, &l)))
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (stats) {
        stats->records = scope ? l.nlocal : l.nrecs;
        stats->titles = l.ntitles;
        stats->sources = l.sources;
        stats->links = l.ntgt;
        stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    }
out:
    linker_free(&l);
    return rc;
}

/* ==== Keeping mentions on every write ==== */

/* A text store (one that records an embedder, query/embed.c) keeps its
 * mention links with its records, as it keeps BM25. */
static int mentions_kept(cvs_db *db, MDB_txn *txn)
{
    MDB_val k = CVS__MKEY(CVS__META_EMBEDDER), v;
    return cvs__module_present(db, &cvs__text_module) && cvs__module_present(db, &cvs__graph_module) &&
           cvs__vget(db, txn, db->dbi_meta, &k, &v) == 0;
}

void cvs__minc_reset(cvs__minc *m)
{
    m->n = m->tlen = 0;
}

void cvs__minc_free(cvs__minc *m)
{
    free(m->keys);
    free(m->titles);
    free(m->off);
    free(m->len);
    memset(m, 0, sizeof *m);
}

int cvs__mentions_before(cvs_db *db, MDB_txn *txn, cvs__minc *m, uint64_t key)
{
    MDB_val k = {8, &key}, v;
    size_t c = m->cap;
    int rc, mrc;
    if (!mentions_kept(db, txn))
        return CVS_OK;
    if (m->n == m->cap) {
        if ((rc = grow((void **)&m->keys, &c, m->n + 1, sizeof *m->keys)) ||
            (c = m->cap, rc = grow((void **)&m->off, &c, m->n + 1, sizeof *m->off)) ||
            (c = m->cap, rc = grow((void **)&m->len, &c, m->n + 1, sizeof *m->len)))
            return rc;
        m->cap = c;
    }
    m->keys[m->n] = key;
    m->off[m->n] = m->tlen;
    m->len[m->n] = SIZE_MAX;
    mrc = cvs__vget(db, txn, db->dbi_titles, &k, &v);
    if (mrc && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading a title");
    if (mrc == 0) {
        if ((rc = grow((void **)&m->titles, &m->tcap, m->tlen + v.mv_size + 1, 1)))
            return rc;
        memcpy(m->titles + m->tlen, v.mv_data, v.mv_size);
        m->len[m->n] = v.mv_size;
        m->tlen += v.mv_size;
    }
    m->n++;
    return CVS_OK;
}

/* Scratch of cvs__mentions_after. */
typedef struct minc_work {
    cvs_tokens tok;
    cvs_tokens ttok;       /* a target's title, while tok holds the text */
    char *chg;             /* joined titles added or removed, each + '\0' */
    size_t nchg, lchg, cchg;
    uint64_t *aff;         /* records to relink */
    size_t naff, caff;
    struct cand { uint64_t key; size_t title; } *cand; /* a record and a changed
                              title (offset in chg) whose rarest word it holds */
    size_t ncand, ccand;
    uint64_t *unch;        /* updated records whose title is unchanged */
    size_t nunch, cunch;
    uint64_t *tk;          /* targets of one record, then a group's keys */
    size_t ntk, ctk;
    uint64_t *grp;
    size_t cgrp;
    char *ids;             /* target ids */
    size_t lids, cids;
    size_t *idoff;
    size_t cidoff;
    cvs_link *tg;
    size_t ctg;
    char *tbuf;            /* a title copied out of the store */
    size_t ctbuf;
    struct case_memo *memo; /* titles' capitals read in this relink */
    size_t nmemo, cmemo;
    char *marena;          /* their joined forms */
    size_t lmarena, cmarena;
    mbuf mb;
} minc_work;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int push_u64(uint64_t **p, size_t *n, size_t *cap, uint64_t x)
{
    int rc = grow((void **)p, cap, *n + 1, sizeof **p);
    if (rc == CVS_OK)
        (*p)[(*n)++] = x;
    return rc;
}

/* Joins the tokens into buf (at least MAX_MAP_BYTES + 1 bytes), as the map
 * keys them; 0 when they do not fit a key. */
static size_t join_tokens(const cvs_tokens *t, char *buf)
{
    size_t n = 0;
    if (!title_fits(t))
        return 0;
    for (size_t i = 0; i < t->n; i++) {
        if (i)
            buf[n++] = SEP;
        memcpy(buf + n, t->buf + t->off[i], t->len[i]);
        n += t->len[i];
    }
    return n;
}

static int add_changed(minc_work *w, const char *s, size_t len)
{
    int rc = grow((void **)&w->chg, &w->cchg, w->lchg + len + 1, 1);
    if (rc)
        return rc;
    memcpy(w->chg + w->lchg, s, len);
    w->chg[w->lchg + len] = '\0';
    w->lchg += len + 1;
    w->nchg++;
    return CVS_OK;
}

/* Adds to w->cand every record whose title or text holds the rarest word
 * of the joined title s (at offset off in w->chg): the only records it can
 * be mentioned in. */
static int add_candidates(cvs_db *db, MDB_txn *txn, minc_work *w, size_t off)
{
    const char *s = w->chg + off;
    const char *best = NULL, *p = s;
    size_t bestlen = 0, bestdf = SIZE_MAX;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, mrc;
    while (*p) {
        size_t len = strcspn(p, "\x1f"), df;
        if ((rc = term_df(db, txn, p, len, &df)))
            return rc;
        if (df < bestdf) {
            best = p;
            bestlen = len;
            bestdf = df;
        }
        p += len + (p[len] != '\0');
    }
    if (!best || bestdf == 0)
        return CVS_OK;
    if ((mrc = mdb_cursor_open(txn, cvs__text(db)->dbi_terms, &cur)))
        return cvs__werr(mrc, "opening a cursor");
    k.mv_size = bestlen;
    k.mv_data = (void *)best;
    rc = CVS_OK;
    for (mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY); mrc == 0 && rc == CVS_OK;
         mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size < 8) {
            rc = cvs__err(CVS_ECORRUPT, "a posting of %zu bytes", v.mv_size);
            break;
        }
        if ((rc = grow((void **)&w->cand, &w->ccand, w->ncand + 1, sizeof *w->cand)))
            break;
        w->cand[w->ncand].key = cvs__get_u64(v.mv_data);
        w->cand[w->ncand++].title = off;
    }
    if (rc == CVS_OK && mrc && mrc != MDB_NOTFOUND)
        rc = cvs__werr(mrc, "reading postings");
    mdb_cursor_close(cur);
    return rc;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->title > y->title) - (x->title < y->title);
}

/* Do the tokens hold the joined title s as a phrase anywhere? */
static int holds_phrase(const cvs_tokens *tok, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < tok->n; i++) {
        const char *p = s, *end = s + len;
        size_t j = i;
        while (j < tok->n && p < end) {
            uint32_t tl = tok->len[j];
            if ((size_t)(end - p) < tl || memcmp(p, tok->buf + tok->off[j], tl))
                break;
            p += tl;
            j++;
            if (p == end || *p != SEP)
                break;
            p++;
        }
        if (p == end)
            return 1;
    }
    return 0;
}

/* Keeps, of the candidates, those whose text holds one of their titles as
 * a phrase: only their links can change (a put touches the records that
 * name its title, not all that share a word with it). */
static int verify_candidates(cvs_db *db, MDB_txn *txn, minc_work *w)
{
    int rc;
    if (w->ncand)
        qsort(w->cand, w->ncand, sizeof *w->cand, cmp_cand);
    for (size_t i = 0; i < w->ncand;) {
        size_t j = i;
        uint64_t key = w->cand[i].key;
        MDB_val k = {8, &key}, v;
        int hit = 0;
        while (j < w->ncand && w->cand[j].key == key)
            j++;
        if (cvs__vget(db, txn, db->dbi_text, &k, &v) == 0) {
            if ((rc = cvs__tokenize(v.mv_data, v.mv_size, CVS_TOK_STRIP_ACCENTS, &w->tok)))
                return rc;
            for (size_t c = i; c < j && !hit; c++)
                hit = holds_phrase(&w->tok, w->chg + w->cand[c].title);
        }
        if (hit && (rc = push_u64(&w->aff, &w->naff, &w->caff, key)))
            return rc;
        i = j;
    }
    return CVS_OK;
}

/* ==== What a relink reads of a title's case ==== */

/* The capitals of one record's title, as map_case_ok needs them: for each
 * form (cvs__title_forms) that the map keys, its joined tokens and its
 * mask (title_need).  Read once per record per relink: a title a text
 * names forty times is read and tokenized once, not forty times. */
typedef struct case_memo {
    uint64_t key;
    uint32_t nforms;
    uint32_t need[3];
    uint32_t off[3], len[3]; /* joined tokens in minc_work's marena */
} case_memo;

size_t cvs__link_title_reads;

/* Reads record key's title into a new memo entry (*out its index). */
static int memo_fill(cvs_db *db, MDB_txn *txn, minc_work *w, uint64_t key, size_t *out)
{
    char buf[MAX_MAP_BYTES + 1];
    MDB_val k = {8, &key}, v;
    size_t forms[3], nforms;
    case_memo *m;
    int rc, mrc;
    if ((rc = grow((void **)&w->memo, &w->cmemo, w->nmemo + 1, sizeof *w->memo)))
        return rc;
    m = &w->memo[w->nmemo];
    *m = (case_memo){.key = key};
    __atomic_fetch_add(&cvs__link_title_reads, 1, __ATOMIC_RELAXED);
    if ((mrc = cvs__vget(db, txn, db->dbi_titles, &k, &v)) && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading a title");
    nforms = mrc ? 0 : cvs__title_forms(v.mv_data, v.mv_size, forms);
    for (size_t f = 0; f < nforms; f++) {
        size_t jl;
        if ((rc = cvs__tokenize(v.mv_data, forms[f], CVS_TOK_STRIP_ACCENTS, &w->ttok)))
            return rc;
        if (!(jl = join_tokens(&w->ttok, buf)))
            continue; /* not in the map */
        if ((rc = grow((void **)&w->marena, &w->cmarena, w->lmarena + jl, 1)))
            return rc;
        memcpy(w->marena + w->lmarena, buf, jl);
        if ((rc = cvs__tokenize(v.mv_data, forms[f],
                                CVS_TOK_STRIP_ACCENTS | CVS_TOK_KEEP_STOP | CVS_TOK_CAPS, &w->ttok)))
            return rc;
        m->off[m->nforms] = (uint32_t)w->lmarena;
        m->len[m->nforms] = (uint32_t)jl;
        m->need[m->nforms++] = title_need(&w->ttok);
        w->lmarena += jl;
    }
    *out = w->nmemo++;
    return CVS_OK;
}

/* As case_ok for record key, whose title has a form that joins to the
 * first len bytes of joined: *ok when one such form is written as tokens
 * w->tok[i ..] are (scan's entries of one record, one per form, link it
 * when any of them passes).  The map keeps no case, so the form's capitals
 * come from the record's title, through the relink's memo.  The memo is
 * searched linearly: it holds the records of the small shared titles one
 * text names, a few per title. */
static int map_case_ok(cvs_db *db, MDB_txn *txn, minc_work *w, uint64_t key, const char *joined,
                       size_t len, size_t i, int *ok)
{
    size_t e = 0;
    int rc;
    *ok = 0;
    while (e < w->nmemo && w->memo[e].key != key)
        e++;
    if (e == w->nmemo && (rc = memo_fill(db, txn, w, key, &e)))
        return rc;
    const case_memo *m = &w->memo[e];
    for (uint32_t f = 0; f < m->nforms && !*ok; f++)
        if (m->len[f] == len && !memcmp(w->marena + m->off[f], joined, len))
            *ok = case_ok(m->need[f], &w->tok, i, 1);
    return CVS_OK;
}

/* scan through the title map: the targets of record src's text (tokens in
 * w->tok) into w->tk, in the order scan would find them. */
static int scan_map(cvs_db *db, MDB_txn *txn, MDB_cursor *cur, minc_work *w, uint64_t src)
{
    const cvs_tokens *tok = &w->tok;
    char buf[MAX_MAP_BYTES + CVS_TOKEN_MAX + 2];
    size_t ends[MAX_MAP_TOKENS + 1];
    int rc = CVS_OK, mrc, cased = text_cased(tok);
    w->ntk = 0;
    w->nmemo = w->lmarena = 0;
    for (size_t i = 0; i < tok->n;) {
        size_t maxl = 0, blen = 0, adv = 1;
        for (size_t L = 1; L <= MAX_MAP_TOKENS && i + L <= tok->n; L++) {
            uint32_t tl = tok->len[i + L - 1];
            if (blen + tl + (L > 1) > MAX_MAP_BYTES)
                break;
            if (L > 1)
                buf[blen++] = SEP;
            memcpy(buf + blen, tok->buf + tok->off[i + L - 1], tl);
            blen += tl;
            ends[L] = blen;
            maxl = L;
        }
        for (size_t L = maxl; L >= 1; L--) {
            MDB_val k = {ends[L], buf}, v;
            size_t ng = 0, cg = w->cgrp;
            size_t same;
            mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY);
            if (mrc == MDB_NOTFOUND)
                continue;
            if (mrc || (mrc = mdb_cursor_count(cur, &same)))
                return cvs__werr(mrc, "reading the title map");
            /* A crowded title takes its tokens and links nothing, as in
             * scan: decided from the count, no record of it read. */
            if (same > MAX_SAME_TITLE) {
                adv = L;
                break;
            }
            for (; mrc == 0; mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT_DUP))
                if (v.mv_size == 8 && (rc = push_u64(&w->grp, &ng, &cg, cvs__get_u64(v.mv_data))))
                    return rc;
            w->cgrp = cg;
            if (mrc != MDB_NOTFOUND)
                return cvs__werr(mrc, "reading the title map");
            /* scan links a shared title in record order. */
            if (ng)
                qsort(w->grp, ng, sizeof *w->grp, cmp_u64);
            /* Its records written as the text writes the title, kept in
             * order at the front (npass of them). */
            size_t npass = 0;
            for (size_t e = 0; e < ng; e++) {
                int ok = !cased;
                if (cased && (rc = map_case_ok(db, txn, w, w->grp[e], buf, ends[L], i, &ok)))
                    return rc;
                if (ok)
                    w->grp[npass++] = w->grp[e];
            }
            if (!npass)
                continue;
            for (size_t e = 0; e < npass; e++) {
                int dup = w->grp[e] == src;
                for (size_t j = 0; j < w->ntk && !dup; j++)
                    dup = w->tk[j] == w->grp[e];
                if (!dup && (rc = push_u64(&w->tk, &w->ntk, &w->ctk, w->grp[e])))
                    return rc;
            }
            adv = L;
            break;
        }
        i += adv;
    }
    return CVS_OK;
}

/* Relinks record key from its stored text. */
static int relink(cvs_db *db, MDB_txn *txn, MDB_cursor *cur, minc_work *w, uint64_t key)
{
    MDB_val k = {8, &key}, v;
    size_t n = 0;
    int rc, mrc;
    w->ntk = 0;
    mrc = cvs__vget(db, txn, db->dbi_text, &k, &v);
    if (mrc && mrc != MDB_NOTFOUND)
        return cvs__werr(mrc, "reading a text");
    if (mrc == 0 && ((rc = cvs__tokenize(v.mv_data, v.mv_size,
                                         CVS_TOK_STRIP_ACCENTS | CVS_TOK_CAPS, &w->tok)) ||
                     (rc = scan_map(db, txn, cur, w, key))))
        return rc;
    /* The ids are copied out: the writes below may move the pages. */
    w->lids = 0;
    if ((rc = grow((void **)&w->idoff, &w->cidoff, w->ntk + 1, sizeof *w->idoff)) ||
        (rc = grow((void **)&w->tg, &w->ctg, w->ntk + 1, sizeof *w->tg)))
        return rc;
    for (size_t i = 0; i < w->ntk; i++) {
        uint64_t tk = w->tk[i];
        MDB_val rk = {8, &tk}, rv;
        int64_t cr, up;
        const char *id;
        size_t idl;
        if (cvs__vget(db, txn, db->dbi_recs, &rk, &rv) != 0)
            continue;
        if ((rc = cvs__rec_decode(&rv, &cr, &up, &id, &idl)) ||
            (rc = grow((void **)&w->ids, &w->cids, w->lids + idl + 1, 1)))
            return rc;
        memcpy(w->ids + w->lids, id, idl);
        w->idoff[n] = w->lids;
        w->tg[n] = (cvs_link){NULL, idl, CVS_LINK_MENTIONS, 1.0f};
        w->lids += idl;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        w->tg[i].id = w->ids + w->idoff[i];
    return set_mentions(db, txn, key, w->tg, n, &w->mb);
}

/* Does the joined-title map entry (joined, key) go or come; either way the
 * title is a changed one. */
static int map_title(cvs_db *db, MDB_txn *txn, minc_work *w, const char *title, size_t tl,
                     uint64_t key, int add, size_t nrecords)
{
    char buf[MAX_MAP_BYTES + 1];
    size_t forms[3], nforms = cvs__title_forms(title, tl, forms);
    int rc, mrc;
    for (size_t f = 0; f < nforms; f++) {
        size_t nall, df = 0, jl;
        if ((rc = cvs__tokenize(title, forms[f], CVS_TOK_STRIP_ACCENTS | CVS_TOK_KEEP_STOP, &w->tok)))
            return rc;
        nall = w->tok.n;
        if ((rc = cvs__tokenize(title, forms[f], CVS_TOK_STRIP_ACCENTS, &w->tok)))
            return rc;
        if (!(jl = join_tokens(&w->tok, buf)))
            continue;
        if (add) {
            if (w->tok.n == 1 &&
                (rc = term_df(db, txn, w->tok.buf + w->tok.off[0], w->tok.len[0], &df)))
                return rc;
            if (!title_usable(&w->tok, nall, df, nrecords))
                continue;
        }
        MDB_val k = {jl, buf}, v = {8, &key};
        mrc = add ? cvs__vput(db, txn, cvs__graph(db)->dbi_titlemap, &k, &v, 0)
                  : cvs__vdel(db, txn, cvs__graph(db)->dbi_titlemap, &k, &v);
        if (mrc && mrc != MDB_NOTFOUND && mrc != MDB_KEYEXIST)
            return cvs__werr(mrc, "updating the title map");
        if ((rc = add_changed(w, buf, jl)))
            return rc;
    }
    return CVS_OK;
}

int cvs__mentions_after(cvs_db *db, MDB_txn *txn, cvs__minc *m, const int64_t *put, size_t n)
{
    minc_work w = {0};
    MDB_cursor *cur = NULL;
    MDB_stat st;
    size_t nrecords;
    int rc = CVS_OK, mrc;

    if (!mentions_kept(db, txn))
        return CVS_OK;
    if ((mrc = mdb_stat(txn, db->dbi_recs, &st)))
        return cvs__werr(mrc, "counting records");
    nrecords = st.ms_entries;
    /* No titles yet: no link an older rule made (the rule's note above). */
    if ((mrc = mdb_stat(txn, cvs__graph(db)->dbi_titlemap, &st)))
        return cvs__werr(mrc, "reading the title map");
    if (st.ms_entries == 0 && rule_of(db, txn) != LINK_RULE && (rc = rule_write(db, txn)))
        return rc;
    /* Old titles go from the map, unless the record keeps the same one. */
    for (size_t i = 0; i < m->n; i++) {
        uint64_t key = m->keys[i];
        MDB_val k = {8, &key}, v;
        int exists = cvs__has_key(txn, db->dbi_recs, key);
        if (exists && m->len[i] != SIZE_MAX && cvs__vget(db, txn, db->dbi_titles, &k, &v) == 0 &&
            v.mv_size == m->len[i] && !memcmp(v.mv_data, m->titles + m->off[i], v.mv_size)) {
            if ((rc = push_u64(&w.unch, &w.nunch, &w.cunch, key)))
                goto out;
            continue;
        }
        if (m->len[i] != SIZE_MAX &&
            (rc = map_title(db, txn, &w, m->titles + m->off[i], m->len[i], key, 0, nrecords)))
            goto out;
        if (exists && (rc = push_u64(&w.aff, &w.naff, &w.caff, key)))
            goto out;
    }
    if (w.nunch)
        qsort(w.unch, w.nunch, sizeof *w.unch, cmp_u64);
    /* New titles come. */
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)put[i];
        MDB_val k = {8, &key}, v;
        if ((rc = push_u64(&w.aff, &w.naff, &w.caff, key)))
            goto out;
        if (w.nunch && bsearch(&key, w.unch, w.nunch, sizeof *w.unch, cmp_u64))
            continue;
        mrc = cvs__vget(db, txn, db->dbi_titles, &k, &v);
        if (mrc == MDB_NOTFOUND)
            continue;
        if (mrc) {
            rc = cvs__werr(mrc, "reading a title");
            goto out;
        }
        /* Copied: the map writes may move the page it is on. */
        if ((rc = grow((void **)&w.tbuf, &w.ctbuf, v.mv_size + 1, 1)))
            goto out;
        memcpy(w.tbuf, v.mv_data, v.mv_size);
        if ((rc = map_title(db, txn, &w, w.tbuf, v.mv_size, key, 1, nrecords)))
            goto out;
    }
    for (size_t c = 0, off = 0; c < w.nchg; c++) {
        if ((rc = add_candidates(db, txn, &w, off)))
            goto out;
        off += strlen(w.chg + off) + 1;
    }
    if ((rc = verify_candidates(db, txn, &w)))
        goto out;
    if (w.naff)
        qsort(w.aff, w.naff, sizeof *w.aff, cmp_u64);
    if ((mrc = mdb_cursor_open(txn, cvs__graph(db)->dbi_titlemap, &cur))) {
        rc = cvs__werr(mrc, "opening a cursor");
        goto out;
    }
    for (size_t i = 0; i < w.naff && rc == CVS_OK; i++)
        if ((i == 0 || w.aff[i] != w.aff[i - 1]) && cvs__has_key(txn, db->dbi_recs, w.aff[i]))
            rc = relink(db, txn, cur, &w, w.aff[i]);
out:
    if (cur)
        mdb_cursor_close(cur);
    cvs__tokens_free(&w.tok);
    cvs__tokens_free(&w.ttok);
    free(w.chg);
    free(w.cand);
    free(w.aff);
    free(w.unch);
    free(w.tk);
    free(w.grp);
    free(w.ids);
    free(w.idoff);
    free(w.tg);
    free(w.tbuf);
    free(w.memo);
    free(w.marena);
    mbuf_free(&w.mb);
    return rc;
}

/* ==== Titles mentioned in a question ==== */

int cvs__graph_titles_known(cvs_txn *t, int *known)
{
    MDB_stat st;
    int mrc;
    *known = 0;
    if (!cvs__module_present(t->db, &cvs__graph_module))
        return CVS_OK;
    if ((mrc = mdb_stat(t->txn, cvs__graph(t->db)->dbi_titlemap, &st)))
        return cvs__err_lmdb(mrc, "reading the title map");
    *known = st.ms_entries > 0;
    return CVS_OK;
}

CVS_API int cvs_txn_titles_known(cvs_txn *txn, int *known)
{
    if (!txn || !known)
        return cvs__err(CVS_EINVAL, "cvs_txn_titles_known: NULL argument");
    return cvs__graph_titles_known(txn, known);
}

int cvs__graph_title_seeds(cvs_txn *t, const char *text, size_t len, int64_t *keys, size_t cap,
                           size_t *n)
{
    cvs_tokens tok = {0};
    int rc;

    *n = 0;
    if (!cvs__module_present(t->db, &cvs__graph_module))
        return CVS_OK;
    if ((rc = cvs__tokenize(text, len, CVS_TOK_STRIP_ACCENTS, &tok)) == CVS_OK)
        rc = cvs__graph_title_seeds_tokens(t, &tok, keys, cap, n);
    cvs__tokens_free(&tok);
    return rc;
}

int cvs__graph_title_seeds_tokens(cvs_txn *t, const cvs_tokens *q, int64_t *keys, size_t cap,
                                  size_t *n)
{
    cvs_db *db = t->db;
    const cvs_tokens tok = *q; /* read only */
    char buf[MAX_MAP_BYTES + CVS_TOKEN_MAX + 2];
    size_t ends[MAX_MAP_TOKENS + 1];
    MDB_cursor *cur = NULL;
    int rc = CVS_OK, mrc;

    *n = 0;
    if (!cvs__module_present(db, &cvs__graph_module))
        return CVS_OK;
    if ((mrc = mdb_cursor_open(t->txn, cvs__graph(db)->dbi_titlemap, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (size_t i = 0; i < tok.n && *n < cap;) {
        size_t maxl = 0, blen = 0, adv = 1;
        /* The joined forms of tokens i .. i+L for every L, longest first. */
        for (size_t L = 1; L <= MAX_MAP_TOKENS && i + L <= tok.n; L++) {
            uint32_t tl = tok.len[i + L - 1];
            if (blen + tl + 1 > MAX_MAP_BYTES)
                break;
            if (L > 1)
                buf[blen++] = SEP;
            memcpy(buf + blen, tok.buf + tok.off[i + L - 1], tl);
            blen += tl;
            ends[L] = blen;
            maxl = L;
        }
        for (size_t L = maxl; L >= 1; L--) {
            MDB_val k = {ends[L], buf}, v;
            mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY);
            if (mrc == MDB_NOTFOUND)
                continue;
            size_t same = 0, ng = 0;
            int64_t grp[MAX_SAME_TITLE];
            /* A title of too many records is a match that names none. */
            if (mrc == 0 && (mrc = mdb_cursor_count(cur, &same)) == 0 && same > MAX_SAME_TITLE)
                mrc = MDB_NOTFOUND;
            /* Its records in key order: an encrypted store's come in the
             * order of a keyed permutation (store/seal.c, deviation 2),
             * which follows the salt; the cap and the seeds' order must
             * not (deviation 9). */
            for (; mrc == 0 && ng < MAX_SAME_TITLE; mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT_DUP))
                grp[ng++] = (int64_t)cvs__get_u64(v.mv_data);
            if (mrc && mrc != MDB_NOTFOUND) {
                rc = cvs__err_lmdb(mrc, "reading the title map");
                goto out;
            }
            qsort(grp, ng, sizeof *grp, cvs__cmp_i64);
            for (size_t g = 0; g < ng && *n < cap; g++) {
                uint64_t k64 = (uint64_t)grp[g];
                MDB_val rk = {8, &k64}, rv;
                int dup = 0;
                for (size_t j = 0; j < *n && !dup; j++)
                    dup = keys[j] == grp[g];
                if (!dup && cvs__vget(db, t->txn, db->dbi_recs, &rk, &rv) == 0)
                    keys[(*n)++] = grp[g];
            }
            adv = L;
            break;
        }
        i += adv;
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

/* The same matching, every run reported (cvstore.h, "Title seeds over
 * several stores"); cvs_title_runs_resolve below applies the rule of
 * cvs__graph_title_seeds_tokens above to the runs of several stores. */
CVS_API int cvs_txn_title_runs(cvs_txn *t, const cvs_terms *terms,
                               int (*fn)(void *ctx, const cvs_title_run *run), void *ctx)
{
    cvs_db *db;
    cvs_tokens tok;
    char buf[MAX_MAP_BYTES + CVS_TOKEN_MAX + 2];
    int64_t *keys = NULL;
    MDB_cursor *cur = NULL;
    int rc, mrc;

    if (!t || !terms || !fn)
        return cvs__err(CVS_EINVAL, "cvs_txn_title_runs: NULL argument");
    db = t->db;
    if ((rc = cvs__terms_view(terms, &tok)))
        return rc;
    if (!cvs__module_present(db, &cvs__graph_module))
        goto out;
    if (!(keys = malloc(MAX_SAME_TITLE * sizeof *keys))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((mrc = mdb_cursor_open(t->txn, cvs__graph(db)->dbi_titlemap, &cur))) {
        rc = cvs__err_lmdb(mrc, "opening a cursor");
        goto out;
    }
    for (size_t i = 0; i < tok.n && !rc; i++) {
        size_t blen = 0;
        for (size_t L = 1; L <= MAX_MAP_TOKENS && i + L <= tok.n && !rc; L++) {
            uint32_t tl = tok.len[i + L - 1];
            size_t same = 0;
            cvs_title_run run = {i, L, 0, keys, 0};
            if (blen + tl + 1 > MAX_MAP_BYTES)
                break;
            if (L > 1)
                buf[blen++] = SEP;
            memcpy(buf + blen, tok.buf + tok.off[i + L - 1], tl);
            blen += tl;
            MDB_val k = {blen, buf}, v;
            mrc = cvs__cget(db, cur, &k, &v, MDB_SET_KEY);
            if (mrc == MDB_NOTFOUND)
                continue;
            if (mrc == 0)
                mrc = mdb_cursor_count(cur, &same);
            run.same = same;
            while (mrc == 0 && same <= MAX_SAME_TITLE) {
                int64_t key = (int64_t)cvs__get_u64(v.mv_data);
                uint64_t k64 = (uint64_t)key;
                MDB_val rk = {8, &k64}, rv;
                if (run.nkeys < MAX_SAME_TITLE && cvs__vget(db, t->txn, db->dbi_recs, &rk, &rv) == 0)
                    keys[run.nkeys++] = key;
                mrc = cvs__cget(db, cur, &k, &v, MDB_NEXT_DUP);
            }
            if (mrc && mrc != MDB_NOTFOUND) {
                rc = cvs__err_lmdb(mrc, "reading the title map");
                break;
            }
            /* In key order, an encrypted store's too (deviation 9). */
            qsort(keys, run.nkeys, sizeof *keys, cvs__cmp_i64);
            rc = fn(ctx, &run);
        }
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    free(keys);
    cvs__terms_view_free(&tok);
    return rc;
}

static int cmp_run(const void *a, const void *b)
{
    const cvs_title_run *x = *(const cvs_title_run *const *)a, *y = *(const cvs_title_run *const *)b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* the longest first */
    return (x > y) - (x < y);           /* then the stores' order */
}

CVS_API int cvs_title_runs_resolve(const cvs_title_run *runs, size_t nruns, size_t cap,
                                   int64_t *keys, size_t *n)
{
    const cvs_title_run **o;
    size_t pos = 0, next = 0;

    if (!n || (nruns && !runs) || (cap && !keys))
        return cvs__err(CVS_EINVAL, "cvs_title_runs_resolve: NULL argument");
    *n = 0;
    if (!nruns)
        return CVS_OK;
    if (!(o = malloc(nruns * sizeof *o)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nruns; i++)
        o[i] = &runs[i];
    qsort(o, nruns, sizeof *o, cmp_run);
    /* As cvs__graph_title_seeds_tokens: from term `next` on, the longest
     * run there whose title has at most MAX_SAME_TITLE records in all
     * (the runs of one title from several stores add up) gives its
     * records, and the scan goes on after it; a place with none moves on
     * by one term. */
    while (pos < nruns && *n < cap) {
        size_t at = o[pos]->start, taken = 0;
        if (at < next) {
            pos++;
            continue;
        }
        while (pos < nruns && o[pos]->start == at && !taken) {
            size_t end = pos, same = 0;
            while (end < nruns && o[end]->start == at && o[end]->len == o[pos]->len)
                same += o[end++]->same;
            if (same <= MAX_SAME_TITLE) {
                for (size_t r = pos; r < end; r++)
                    for (size_t j = 0; j < o[r]->nkeys && *n < cap; j++) {
                        int dup = 0;
                        for (size_t q = 0; q < *n && !dup; q++)
                            dup = keys[q] == o[r]->keys[j];
                        if (!dup)
                            keys[(*n)++] = o[r]->keys[j];
                    }
                taken = o[pos]->len;
            }
            pos = end;
        }
        next = at + (taken ? taken : 1);
    }
    free(o);
    return CVS_OK;
}
