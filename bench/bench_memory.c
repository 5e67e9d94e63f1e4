/*
 * bench_memory.c -- `cvstore-bench memory`: does agent memory recall find
 * the memory a question asks about?
 *
 * The facts of bench/data/memory-facts.jsonl (55 things an agent is told
 * about its user and the user's work) are written into a fresh text store
 * (the embedder --embedder names, below) through cvs_mem_remember, one call
 * each, in file order, as an agent would over time.  Then every question of
 * bench/data/memory-questions.jsonl (one paraphrase per fact, written by
 * hand, see bench/data/README.md) is recalled with cvs_mem_recall and its
 * defaults (hybrid rankings, diverse selection, k 10, no budget) and with
 * each ranking alone, and scored:
 *   hit@1   the fact's memory comes first
 *   hit@3   it is among the first three
 *   MRR     mean reciprocal rank (0 when not returned)
 * Then 500 unrelated memories are remembered (templates over other people,
 * places and things, drawn with --seed; exact and near duplicates that the
 * memory layer merges do not count towards the 500) and the questions are
 * asked again.  Recall runs with no_touch, so asking does not change what
 * the next question sees.
 *
 * Sets C and D (bench/data/memory-{facts,questions}-{c,d}.jsonl, 50 and
 * 60 facts) are run the same way, each in a store of its own.  Set C was
 * held out until recall's rules 9 and 10 were reported on it; since then it
 * is a development set like the main one, with halves (odd and even lines)
 * and misses printed by --verbose.  Set D is held out: written in one
 * sitting before C's misses were looked at, never split, its misses never
 * printed, run only to report the rules chosen on the halves of the others.
 * Set E (40 facts in 20 sibling pairs: "my daughter's school starts at 8",
 * "my son's school starts at 9") checks that no fact hides another by
 * superseding it; it was written to measure that defect, after its fix was
 * designed, so it is a regression check, not held out.  Set F (64 facts,
 * memory-{facts,questions}-f.jsonl) is held out like D: written in one
 * sitting before the rules after rule 10 were looked for, never split, its
 * misses never printed.  Set G (56 facts, the agent's reports of what it
 * was told) is a development set with halves like main and C, and set H
 * (55 facts in the user's own loose words) is held out like D and F; both
 * were written in one sitting before any fusion for a strong encoder.
 * Set J (56 facts as profile-card records) is a development set with
 * halves, and set I (55 facts the user tells the agent, in the first and
 * second person) is held out like D, F and H; both were written in one
 * sitting after rule 12, before any rule after it was looked for.  Set K
 * (52 facts a coding assistant keeps about its user's projects, machines
 * and preferences) is held out like D, F, H and I: written in one sitting
 * after rule 14, before any rule after it was looked for.  Set L (56 facts
 * of another developer's coding assistant, the kind of set K) is a
 * development set with halves, written after set K's first runs without
 * reading K's facts, questions or misses.  Set M (56 facts a family's
 * household organiser keeps: appliances, bills, school timetables, pets,
 * repairs, doctors) is held out like D, F, H, I and K: written in one
 * sitting after every other set had been run with the minilm embedder.
 * Set N (56 facts a PhD student's research assistant keeps: supervisors,
 * teaching, instruments and their bookings, papers, deadlines, funding) is
 * held out like M: written in one sitting after rule 18, before any rule
 * after it was looked for.
 *
 * --embedder names the store's embedder: minilm (the default:
 * all-MiniLM-L6-v2, query/embed_minilm.c, which the README recommends for
 * memory stores), use (the Universal Sentence Encoder lite,
 * query/embed_use.c), glove, or a list of them ("glove,use", "use,minilm"),
 * each set then run once per embedder in a store of its own, side by side
 * in one table.  remember_ms is the mean wall time of remembering one
 * text: the facts' in the first rows of a set, the unrelated memories' in
 * the rows after them; remember_cpu_ms the same in the process's CPU time
 * (all its threads: the embedding's workers too), the measure on a loaded
 * machine.
 *
 * --remember names how the texts are remembered: each (the default), one
 * cvs_mem_remember call a text; batch, cvs_mem_remember_many: the facts in
 * one call, the unrelated memories in calls of as many as are still
 * missing (a duplicate does not count towards the 500, so a call may leave
 * some missing), which tries the same texts in the same order.  The
 * outcomes, and so every figure but the times, must be the same either way
 * (query/memory.c deviation 7).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/benchutil.h"

typedef struct fact {
    char key[16];
    char *text;
    char id[CVS_MAX_ID_LEN + 1]; /* the memory that holds it */
} fact;

typedef struct mq {
    char *question;
    size_t fact;                 /* index into the facts */
} mq;

static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The process's CPU seconds (all threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Remembers n texts (default options): one cvs_mem_remember call each, or
 * one cvs_mem_remember_many (batch). */
static void remember_texts(cvs_db *db, const char *const *texts, size_t n, int batch,
                           cvs_mem_remembered *out, const char *what)
{
    if (batch) {
        bu_check(n ? cvs_mem_remember_many(db, texts, NULL, n, NULL, out) : CVS_OK, what);
        return;
    }
    for (size_t i = 0; i < n; i++)
        bu_check(cvs_mem_remember(db, texts[i], 0, NULL, &out[i]), what);
}

#define PICK(arr, rng) (arr[mix(rng) % (sizeof arr / sizeof arr[0])])

/* One unrelated memory: a template with its slots filled, into buf. */
static void unrelated(uint64_t *rng, char *buf, size_t cap)
{
    static const char *const people[] = {
        "Marcus", "Fatima", "Keiko", "Oluwaseun", "Bram", "Ines", "Yusuf", "Hana", "Pavel",
        "Zoe", "Dmitri", "Aisha", "Lars", "Camila", "Tariq", "Freya", "Kenji", "Nadia",
        "Rohan", "Sofia", "Emeka", "Greta", "Hugo", "Lucia"};
    static const char *const cities[] = {
        "Madrid", "Nairobi", "Oslo", "Montreal", "Seoul", "Vienna", "Lima", "Auckland",
        "Prague", "Cape Town", "Helsinki", "Denver", "Krakow", "Manila", "Dublin", "Athens"};
    static const char *const months[] = {"January", "February", "April", "June", "July",
                                         "September", "October", "December"};
    static const char *const days[] = {"Monday", "Tuesday", "Wednesday", "Friday", "Saturday"};
    static const char *const items[] = {"notebooks", "USB cables", "coffee filters",
                                        "light bulbs", "batteries", "whiteboard markers",
                                        "plant pots", "phone chargers", "paper towels"};
    static const char *const shops[] = {"the hardware store", "the corner shop", "the market",
                                        "the garden centre", "the electronics store"};
    static const char *const topics[] = {"urban beekeeping", "volcanoes", "medieval castles",
                                         "sourdough baking", "deep sea fish", "solar panels",
                                         "chess openings", "bird migration", "jazz history",
                                         "ancient Rome", "glacier retreat", "typography"};
    static const char *const media[] = {"book", "podcast", "documentary", "novel", "film"};
    static const char *const titles[] = {"The Quiet Harbor", "Paper Moons", "North of Nowhere",
                                         "The Glass Orchard", "Salt and Cedar", "Little Engines",
                                         "A Field of Lanterns", "The Long Thaw"};
    static const char *const projects[] = {"orion", "nimbus", "falcon", "kestrel", "juniper",
                                           "cobalt", "meridian", "tundra"};
    static const char *const stages[] = {"lint", "packaging", "integration test",
                                         "docker build", "deploy", "unit test"};
    static const char *const rooms[] = {"Maple", "Birch", "Cedar", "Willow", "Aspen"};
    static const char *const devices[] = {"projector", "speakerphone", "screen", "heater",
                                          "door lock", "whiteboard"};
    static const char *const foods[] = {"dessert", "soup", "snack", "breakfast", "pizza topping"};
    static const char *const dishes[] = {"tiramisu", "miso ramen", "pretzels", "pancakes",
                                         "mushrooms", "lentil soup", "apple pie", "olives"};
    static const char *const plants[] = {"tomatoes", "basil", "tulips", "sunflowers",
                                         "strawberries", "lavender"};
    static const char *const places[] = {"the river", "the harbour", "the old quarry",
                                         "the botanical garden", "the lake", "the ridge"};
    static const char *const tools[] = {"pytest", "Jest", "Bazel", "Gradle", "Cypress",
                                        "Playwright"};
    static const char *const events[] = {"a trade fair", "a wedding", "a workshop",
                                         "a hackathon", "a family visit", "a concert"};
    static const char *const adjs[] = {"too long", "surprisingly funny", "a bit slow",
                                       "beautifully shot", "forgettable", "moving"};
    static const char *const things[] = {"newspaper", "music streaming", "cloud photo",
                                         "language app", "recipe box", "news magazine"};
    const char *p = PICK(people, rng), *p2 = PICK(people, rng);
    unsigned n = 1 + (unsigned)(mix(rng) % 28), price = 3 + (unsigned)(mix(rng) % 90);
    switch (mix(rng) % 18) {
    case 0: snprintf(buf, cap, "%s asked for the %s report to be ready by %s %u.", p,
                     PICK(projects, rng), PICK(months, rng), n); break;
    case 1: snprintf(buf, cap, "Bought %u %s at %s for %u dollars.", n % 9 + 2,
                     PICK(items, rng), PICK(shops, rng), price); break;
    case 2: snprintf(buf, cap, "%s recommended the %s \"%s\" about %s.", p, PICK(media, rng),
                     PICK(titles, rng), PICK(topics, rng)); break;
    case 3: snprintf(buf, cap, "The %s meeting room %s is broken again.", PICK(rooms, rng),
                     PICK(devices, rng)); break;
    case 4: snprintf(buf, cap, "Build %u of %s failed in the %s step.", 100 + n * price,
                     PICK(projects, rng), PICK(stages, rng)); break;
    case 5: snprintf(buf, cap, "Read an article on %s in the weekend paper.",
                     PICK(topics, rng)); break;
    case 6: snprintf(buf, cap, "%s is travelling to %s for %s next week.", p, PICK(cities, rng),
                     PICK(events, rng)); break;
    case 7: snprintf(buf, cap, "Renewed the %s subscription for another %u months.",
                     PICK(things, rng), n % 12 + 1); break;
    case 8: snprintf(buf, cap, "%s's favourite %s is %s.", p, PICK(foods, rng),
                     PICK(dishes, rng)); break;
    case 9: snprintf(buf, cap, "The %s service now returns a request id in every response.",
                     PICK(projects, rng)); break;
    case 10: snprintf(buf, cap, "Watched \"%s\" with %s; it was %s.", PICK(titles, rng), p,
                      PICK(adjs, rng)); break;
    case 11: snprintf(buf, cap, "%s will cover the %s on-call shift for %s.", p,
                      PICK(days, rng), p2); break;
    case 12: snprintf(buf, cap, "Parking near %s costs %u dollars an hour.", PICK(places, rng),
                      n % 6 + 1); break;
    case 13: snprintf(buf, cap, "%s prefers a quick phone call to long chat threads.", p); break;
    case 14: snprintf(buf, cap, "The %s repository moved its tests to %s.", PICK(projects, rng),
                      PICK(tools, rng)); break;
    case 15: snprintf(buf, cap, "Planted %s along the fence on %s %u.", PICK(plants, rng),
                      PICK(months, rng), n); break;
    case 16: snprintf(buf, cap, "The %s office closes early on %ss.", PICK(cities, rng),
                      PICK(days, rng)); break;
    default: snprintf(buf, cap, "Ran %u kilometres along %s with %s.", n % 15 + 3,
                      PICK(places, rng), p); break;
    }
}

static int load_jsonl(const char *path, json_t ***rows, size_t *n)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    if (!f) {
        perror(path);
        return -1;
    }
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        *rows = realloc(*rows, (*n + 1) * sizeof **rows);
        (*rows)[(*n)++] = j;
    }
    free(line);
    fclose(f);
    return 0;
}

typedef struct mres {
    double hit1, hit3, mrr, p50;
    size_t nq;
} mres;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static mres ask(cvs_db *db, const fact *facts, const mq *qs, size_t nq, cvs_mem_strategy st,
                int verbose)
{
    mres r = {0};
    double *lat = malloc((nq + 1) * sizeof *lat);
    for (size_t i = 0; i < nq; i++) {
        cvs_mem_recall_opts ro = {.strategy = st, .no_touch = 1};
        cvs_mem_items it = {0};
        const char *want = facts[qs[i].fact].id;
        size_t rank = 0;
        double a = bu_now();
        bu_check(cvs_mem_recall(db, qs[i].question, 0, &ro, &it), "recall");
        lat[i] = (bu_now() - a) * 1e3;
        for (size_t k = 0; k < it.n && !rank; k++)
            if (!strcmp(it.items[k].id, want))
                rank = k + 1;
        r.hit1 += rank == 1;
        r.hit3 += rank >= 1 && rank <= 3;
        r.mrr += rank ? 1.0 / (double)rank : 0;
        if (verbose && rank != 1) {
            /* where each ranking alone puts it, to tell the fusion's
             * misses from the rankings' */
            size_t alone[2] = {0, 0};
            for (int a = 0; a < 2; a++) {
                cvs_mem_recall_opts ao = {.strategy = a ? CVS_MEM_VECTOR : CVS_MEM_LEXICAL,
                                          .no_touch = 1};
                cvs_mem_items ai = {0};
                bu_check(cvs_mem_recall(db, qs[i].question, 0, &ao, &ai), "recall");
                for (size_t k = 0; k < ai.n && !alone[a]; k++)
                    if (!strcmp(ai.items[k].id, want))
                        alone[a] = k + 1;
                cvs_mem_items_free(&ai);
            }
            fprintf(stderr, "  miss (rank %zu; lexical %zu, vector %zu): %s -> %s\n", rank,
                    alone[0], alone[1], qs[i].question, it.n ? it.items[0].text : "(nothing)");
        }
        cvs_mem_items_free(&it);
    }
    r.nq = nq;
    if (nq) {
        r.hit1 /= (double)nq;
        r.hit3 /= (double)nq;
        r.mrr /= (double)nq;
        qsort(lat, nq, sizeof *lat, cmp_d);
        r.p50 = lat[nq / 2];
    }
    free(lat);
    return r;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cvstore-bench memory [--set main|c|d|e|f|g|h|i|j|k|l|m|n|o|all] [--facts PATH --questions PATH]\n"
        "                            [--unrelated N] [--seed N] [--csv PATH] [--dir TMPDIR]\n"
        "                            [--verbose] [--half A|B] [--embedder LIST]\n"
        "                            [--remember each|batch]\n"
        "Remembers the facts one cvs_mem_remember call each into a fresh text store,\n"
        "asks the paraphrased questions, then adds N unrelated memories (default 500)\n"
        "and asks again: hit@1, hit@3, MRR and p50 latency per recall strategy.\n"
        "  --set        main: bench/data/memory-{facts,questions}.jsonl; c, d: sets C\n"
        "               and D, memory-{facts,questions}-{c,d}.jsonl, each in a store of\n"
        "               its own; e: set E, 20 pairs of sibling facts (near in words,\n"
        "               about different things: none may hide the other); f: set F,\n"
        "               memory-{facts,questions}-f.jsonl, 64 facts; g, h, i, j, k, l,\n"
        "               m, n, o: sets G (56), H (55), I (55), J (56), K (52), L (56),\n"
        "               M (56), N (56) and O (56); a list (main,c,g,j,l) or all (the\n"
        "               default): those sets, one after the other.  Sets D, F, H, I,\n"
        "               K, M, N and O are held out: they are only for reporting\n"
        "  --facts, --questions  another set instead (both files)\n"
        "  --verbose    print every question of sets main, C, E, G, J and L whose memory\n"
        "               is not first, with its rank in each ranking alone (0: not in\n"
        "               the first k); the misses of sets D, F, H, I, K, M, N and O\n"
        "               are not printed, so that they stay held out\n"
        "  --half A|B   sets main, C, G, J and L only, and only the questions on their odd\n"
        "               (A) or even (B) lines; every fact is still remembered.  Choose\n"
        "               rules on A\n"
        "  --embedder   the store's embedder: minilm (default), use, glove, or a list\n"
        "               of them (use,minilm): each set once per embedder, side by side\n"
        "  --remember   each (default): one cvs_mem_remember call a text; batch:\n"
        "               cvs_mem_remember_many, the facts in one call, the unrelated\n"
        "               memories in calls of as many as are missing (the same texts,\n"
        "               the same outcomes: only remember_ms and remember_cpu_ms move)\n");
}

/* One set of the benchmark: its facts remembered into a fresh store under
 * parent, its questions asked before and after n_unrel unrelated memories,
 * six rows added to tab.  Returns 0, or 1 on a malformed input file. */
static int run_set(const char *name, const bu_embedder *emb, const char *facts_path,
                   const char *q_path,
                   int half, size_t n_unrel, uint64_t seed, const char *parent, int verbose,
                   int batch, bu_table *tab)
{
    static const char *const stname[] = {"hybrid", "lexical", "vector"};
    size_t nf = 0, nqr = 0, nq = 0, merged = 0, superseded = 0;
    int ret = 0;
    json_t **frows = NULL, **qrows = NULL;
    fact *facts = NULL;
    mq *qs = NULL;
    cvs_db *db = NULL;
    char *tmp = NULL, store[4200];
    double rem_ms[2] = {0, 0}, rem_cpu[2] = {0, 0}, c0;
    cvs_mem_remembered *outs = NULL;
    char (*bufs)[256] = NULL;
    const char **texts = NULL;

    if (load_jsonl(facts_path, &frows, &nf) || load_jsonl(q_path, &qrows, &nqr)) {
        ret = 1;
        goto out;
    }
    facts = calloc(nf + 1, sizeof *facts);
    qs = calloc(nqr + 1, sizeof *qs);
    for (size_t i = 0; i < nf; i++) {
        json_t *k = json_object_get(frows[i], "key"), *t = json_object_get(frows[i], "text");
        if (!json_is_string(k) || !json_is_string(t)) {
            fprintf(stderr, "%s: line %zu: needs \"key\" and \"text\"\n", facts_path, i + 1);
            ret = 1;
            goto out;
        }
        snprintf(facts[i].key, sizeof facts[i].key, "%s", json_string_value(k));
        facts[i].text = (char *)json_string_value(t);
    }
    for (size_t i = 0; i < nqr; i++) {
        json_t *q = json_object_get(qrows[i], "question"), *f = json_object_get(qrows[i], "fact");
        size_t k = 0;
        while (json_is_string(f) && k < nf && strcmp(facts[k].key, json_string_value(f)))
            k++;
        if (!json_is_string(q) || k == nf) {
            fprintf(stderr, "%s: line %zu: needs \"question\" and the \"fact\" key of a fact\n",
                    q_path, i + 1);
            ret = 1;
            goto out;
        }
        /* Half A is the questions on odd lines (1, 3, ...), half B the
         * even ones: rules are chosen looking at A's misses only. */
        if ((half == 1 && i % 2) || (half == 2 && !(i % 2)))
            continue;
        qs[nq].question = (char *)json_string_value(q);
        qs[nq++].fact = k;
    }
    if (!(tmp = bu_tmpdir(parent))) {
        ret = 2;
        goto out;
    }
    snprintf(store, sizeof store, "%s/store", tmp);
    {
        cvs_create_opts co = {.dim = emb->dim, .metric = CVS_METRIC_COSINE};
        bu_check(cvs_db_create(store, &co, &db), "create");
        bu_check(cvs_db_set_embedder(db, emb->name, 0, NULL, NULL), emb->name);
    }
    {
        size_t cap = (nf > n_unrel ? nf : n_unrel) + 1;
        outs = calloc(cap, sizeof *outs);
        bufs = calloc(cap, sizeof *bufs);
        texts = calloc(cap, sizeof *texts);
        if (!outs || !bufs || !texts) {
            fprintf(stderr, "memory: out of memory\n");
            ret = 2;
            goto out;
        }
    }
    for (size_t i = 0; i < nf; i++)
        texts[i] = facts[i].text;
    double t0 = bu_now();
    c0 = cpu_now();
    remember_texts(db, texts, nf, batch, outs, "remember the facts");
    rem_cpu[0] = nf ? (cpu_now() - c0) * 1e3 / (double)nf : 0;
    for (size_t i = 0; i < nf; i++) {
        const cvs_mem_remembered r = outs[i];
        snprintf(facts[i].id, sizeof facts[i].id, "%s", r.id);
        if (r.outcome != CVS_MEM_ADDED) {
            merged++;
            fprintf(stderr, "memory: fact %s was %s into an earlier memory\n", facts[i].key,
                    r.outcome == CVS_MEM_MERGED ? "merged" : "folded as a duplicate");
        }
        /* Each fact is a fact of its own: one superseding another hides it
         * (recall weighs it at a quarter). */
        for (size_t j = 0; j < i && r.superseded[0]; j++)
            if (!strcmp(r.superseded, facts[j].id)) {
                superseded++;
                fprintf(stderr, "memory: fact %s superseded fact %s\n", facts[i].key,
                        facts[j].key);
            }
    }
    rem_ms[0] = nf ? (bu_now() - t0) * 1e3 / (double)nf : 0;
    fprintf(stderr,
            "memory: set %s (%s): %zu facts remembered in %.2f s (%zu not added as new, %zu "
            "superseding another), %zu questions\n",
            name, emb->name, nf, bu_now() - t0, merged, superseded, nq);
    for (int round = 0; round < 2; round++) {
        size_t total = nf - merged;
        if (round == 1) {
            uint64_t rng = seed;
            size_t added = 0, tries = 0;
            t0 = bu_now();
            c0 = cpu_now();
            /* One call a text stops at the n_unrel-th added; a batch of as
             * many as are missing tries the same texts, and never more. */
            while (added < n_unrel && tries < 20 * n_unrel + 100) {
                size_t m = batch ? n_unrel - added : 1;
                if (m > 20 * n_unrel + 100 - tries)
                    m = 20 * n_unrel + 100 - tries;
                for (size_t j = 0; j < m; j++) {
                    unrelated(&rng, bufs[j], sizeof bufs[j]);
                    texts[j] = bufs[j];
                }
                remember_texts(db, texts, m, batch, outs, "remember unrelated");
                tries += m;
                for (size_t j = 0; j < m; j++) {
                    const cvs_mem_remembered r = outs[j];
                    added += r.outcome == CVS_MEM_ADDED;
                    /* an unrelated memory must never rewrite or hide a fact */
                    for (size_t i = 0; i < nf; i++) {
                        if (r.outcome == CVS_MEM_MERGED && !strcmp(r.id, facts[i].id))
                            fprintf(stderr, "memory: \"%s\" merged into fact %s\n", bufs[j],
                                    facts[i].key);
                        if (r.superseded[0] && !strcmp(r.superseded, facts[i].id)) {
                            superseded++;
                            fprintf(stderr, "memory: \"%s\" superseded fact %s\n", bufs[j],
                                    facts[i].key);
                        }
                    }
                }
            }
            rem_ms[1] = tries ? (bu_now() - t0) * 1e3 / (double)tries : 0;
            rem_cpu[1] = tries ? (cpu_now() - c0) * 1e3 / (double)tries : 0;
            fprintf(stderr,
                    "memory: %zu unrelated memories added (%zu calls) in %.2f s; facts "
                    "superseded in all: %zu\n",
                    added, tries, bu_now() - t0, superseded);
            total += added;
        }
        for (int st = 0; st < 3; st++) {
            mres r = ask(db, facts, qs, nq, (cvs_mem_strategy)st, verbose && st == 0);
            bu_table_row(tab);
            bu_table_cell(tab, "%s", name);
            bu_table_cell(tab, "%s", emb->name);
            bu_table_cell(tab, "%zu", total);
            bu_table_cell(tab, "%s", stname[st]);
            bu_table_cell(tab, "%zu", r.nq);
            bu_table_cell(tab, "%.3f", r.hit1);
            bu_table_cell(tab, "%.3f", r.hit3);
            bu_table_cell(tab, "%.3f", r.mrr);
            bu_table_cell(tab, "%.2f", r.p50);
            bu_table_cell(tab, "%.2f", rem_ms[round]);
            bu_table_cell(tab, "%.2f", rem_cpu[round]);
            fprintf(stderr, "memory: set %s (%s), %zu memories, %s: hit@1 %.3f hit@3 %.3f\n",
                    name, emb->name, total, stname[st], r.hit1, r.hit3);
        }
    }
out:
    cvs_db_close(db);
    if (tmp) {
        bu_rmrf(tmp);
        free(tmp);
    }
    for (size_t i = 0; i < nf; i++)
        json_decref(frows[i]);
    for (size_t i = 0; i < nqr; i++)
        json_decref(qrows[i]);
    free(frows);
    free(qrows);
    free(facts);
    free(qs);
    free(outs);
    free(bufs);
    free(texts);
    return ret;
}

/* The sets of the benchmark: --set's name, the files' suffix, whether
 * --half splits it and --verbose prints its misses (sets D, F, H, I, K,
 * M, N and O are held out: neither). */
static const struct mset {
    const char *name, *opt, *facts, *questions; /* --set takes opt or name */
    int halves, misses;
} msets[] = {
    {"main", "main", CVS_SOURCE_DIR "/bench/data/memory-facts.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions.jsonl", 1, 1},
    {"C", "c", CVS_SOURCE_DIR "/bench/data/memory-facts-c.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-c.jsonl", 1, 1},
    {"D", "d", CVS_SOURCE_DIR "/bench/data/memory-facts-d.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-d.jsonl", 0, 0},
    {"E", "e", CVS_SOURCE_DIR "/bench/data/memory-facts-e.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-e.jsonl", 0, 1},
    {"F", "f", CVS_SOURCE_DIR "/bench/data/memory-facts-f.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-f.jsonl", 0, 0},
    {"G", "g", CVS_SOURCE_DIR "/bench/data/memory-facts-g.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-g.jsonl", 1, 1},
    {"H", "h", CVS_SOURCE_DIR "/bench/data/memory-facts-h.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-h.jsonl", 0, 0},
    {"I", "i", CVS_SOURCE_DIR "/bench/data/memory-facts-i.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-i.jsonl", 0, 0},
    {"J", "j", CVS_SOURCE_DIR "/bench/data/memory-facts-j.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-j.jsonl", 1, 1},
    {"K", "k", CVS_SOURCE_DIR "/bench/data/memory-facts-k.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-k.jsonl", 0, 0},
    {"L", "l", CVS_SOURCE_DIR "/bench/data/memory-facts-l.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-l.jsonl", 1, 1},
    {"M", "m", CVS_SOURCE_DIR "/bench/data/memory-facts-m.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-m.jsonl", 0, 0},
    {"N", "n", CVS_SOURCE_DIR "/bench/data/memory-facts-n.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-n.jsonl", 0, 0},
    {"O", "o", CVS_SOURCE_DIR "/bench/data/memory-facts-o.jsonl",
     CVS_SOURCE_DIR "/bench/data/memory-questions-o.jsonl", 0, 0},
};
#define NSETS (sizeof msets / sizeof msets[0])

int bench_memory(int argc, char **argv)
{
    static const struct option opts[] = {
        {"facts", required_argument, 0, 'F'}, {"questions", required_argument, 0, 'Q'},
        {"unrelated", required_argument, 0, 'u'}, {"seed", required_argument, 0, 'e'},
        {"csv", required_argument, 0, 'c'}, {"dir", required_argument, 0, 'd'},
        {"verbose", no_argument, 0, 'v'}, {"half", required_argument, 0, 'H'},
        {"set", required_argument, 0, 'S'}, {"embedder", required_argument, 0, 'E'},
        {"remember", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    static const char *const header[] = {"set", "embedder", "memories", "strategy", "questions",
                                         "hit_at_1", "hit_at_3", "mrr", "p50_ms", "remember_ms",
                                         "remember_cpu_ms"};
    /* minilm: the embedder the README recommends for memory */
    size_t emb[BU_N_EMBEDDERS] = {2}, nemb = 1;
    const char *facts_path = NULL, *q_path = NULL;
    const char *csv = NULL, *parent = NULL;
    size_t n_unrel = 500;
    uint64_t seed = 1;
    int c, verbose = 0, ret = 0, half = 0; /* 0 all, 1 A, 2 B */
    int batch = 0;
    int on[NSETS], any, split;
    bu_table *tab = NULL;

    for (size_t i = 0; i < NSETS; i++)
        on[i] = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'F': facts_path = optarg; break;
        case 'Q': q_path = optarg; break;
        case 'u': n_unrel = strtoul(optarg, NULL, 10); break;
        case 'e': seed = strtoull(optarg, NULL, 10); break;
        case 'c': csv = optarg; break;
        case 'd': parent = optarg; break;
        case 'v': verbose = 1; break;
        case 'H':
            if (!strcmp(optarg, "A") || !strcmp(optarg, "a"))
                half = 1;
            else if (!strcmp(optarg, "B") || !strcmp(optarg, "b"))
                half = 2;
            else {
                usage(stderr);
                return 1;
            }
            break;
        case 'S':
            /* one name, a comma-separated list of them ("main,c,g"), or all */
            any = 1;
            for (size_t i = 0; i < NSETS; i++)
                on[i] = 0;
            for (const char *p = optarg; any;) {
                size_t l = strcspn(p, ",");
                any = 0;
                for (size_t i = 0; i < NSETS; i++)
                    if ((l == strlen(msets[i].opt) && !strncmp(p, msets[i].opt, l)) ||
                        (l == strlen(msets[i].name) && !strncmp(p, msets[i].name, l)) ||
                        (l == 3 && !strncmp(p, "all", 3)))
                        any = on[i] = 1;
                if (!any || !p[l])
                    break;
                p += l + 1;
            }
            if (!any) {
                usage(stderr);
                return 1;
            }
            break;
        case 'E':
            if (bu_embedders_parse("cvstore-bench memory", optarg, emb, &nemb)) {
                usage(stderr);
                return 1;
            }
            break;
        case 'R':
            if (!strcmp(optarg, "batch"))
                batch = 1;
            else if (strcmp(optarg, "each")) {
                usage(stderr);
                return 1;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    split = 0;
    for (size_t i = 0; i < NSETS; i++)
        split |= on[i] && msets[i].halves;
    if (optind < argc || !facts_path != !q_path || (half && !split)) {
        fprintf(stderr, "cvstore-bench memory: %s\n",
                optind < argc           ? "unexpected argument"
                : !facts_path != !q_path ? "--facts and --questions go together"
                                         : "--half splits sets main, C, G, J and L; sets "
                                           "D, E, F, H, I, K, M and N have no halves");
        usage(stderr);
        return 1;
    }
    tab = bu_table_new(11, header);
    for (size_t j = 0; j < NSETS * nemb && !ret; j++) {
        size_t i = j / nemb;
        /* Halves are for choosing rules, set D for reporting them: a run
         * on a half asks only the sets that have halves; --facts replaces
         * the main set and runs alone. */
        if (!on[i] || (half && !msets[i].halves) || (facts_path && i > 0))
            continue;
        ret = run_set(facts_path ? "file" : msets[i].name, &bu_embedders[emb[j % nemb]],
                      facts_path ? facts_path : msets[i].facts,
                      q_path ? q_path : msets[i].questions, msets[i].halves ? half : 0, n_unrel,
                      seed, parent, verbose && msets[i].misses, batch, tab);
    }
    if (!ret) {
        bu_table_print(tab);
        if (csv && bu_table_csv(tab, csv))
            ret = 2;
    }
    bu_table_free(tab);
    return ret;
}
