/*
 * tune.c -- cvs_tune: the cheapest ANN search parameters that reach a
 * target recall on the store's own data.
 *
 * FAISS's AutoTune (the "operating points" of Johnson, Douze, Jégou,
 * "Billion-scale similarity search with GPUs", 2017, and faiss/AutoTune.cpp)
 * explores the parameter space of an index against ground truth and keeps
 * the Pareto-optimal (time, accuracy) points.  We do the same for the two
 * knobs our searches have: nprobe (IVF lists probed; efSearch for a FAISS
 * HNSW index) and rerank (candidates re-scored with the raw vectors).
 *
 * Queries are a seeded sample of the store's own vectors; the ground truth
 * is the exact top k + 1 of each, without the query record itself (every
 * store vector is its own nearest neighbour, which would flatter recall).
 * A caller who has queries of its workload passes them instead
 * (opts->queries, as AutoTune is given its query set): queries that are
 * not stored vectors -- questions embedded against passages, points of
 * another distribution -- lie farther from their neighbours than a stored
 * vector lies from its own, and reach the same recall only with more lists
 * probed (on `cvstore-bench scale`'s held-out, noise-moved GloVe queries
 * the setting tuned on stored vectors for 0.95 gave 0.92 at 0.1M, 0.3M and
 * 1M).  Their ground truth is the plain exact top k.
 *   The own-vector sample is leave-one-out at the record level: the query's
 * record is dropped from its results and from its ground truth, so for
 * queries drawn as the stored vectors were (a held-out split of the same
 * data) the estimate is unbiased, not optimistic.  Exact duplicates of a
 * sampled vector stay in its ground truth, as they would for a new query
 * equal to a stored vector (they are rare: at most 6 of GloVe-100's
 * 341,479 words have one).  What no own-vector sample can measure is a
 * workload off the data: the scale benchmark's queries are copies of held-
 * out vectors moved by their nearest-neighbour distance, and at 1M its
 * sampled stored vectors are mostly such copies of a seed whose original
 * and other copies are stored beside them, nearer than anything is to a
 * query.  Discounting recall by a margin would fit one benchmark's noise;
 * a sample of the workload (opts->queries) measures it, and tuned on 200
 * sample queries made like the measured ones from other held-out seeds the
 * settings land on their targets there (docs/BENCHMARKS.md, "Cost curves").
 *
 * Where we deviate from AutoTune:
 *  1. No random exploration: recall grows with nprobe for a fixed rerank,
 *     so for each rerank value we double nprobe until the target is met,
 *     then bisect between the last two values.  That is O(log nlist)
 *     measurements per rerank value instead of a sweep of the grid.
 *  2. "Cheapest" is measured time per query (one thread, the fastest of
 *     TUNE_RUNS runs of the sample; deviation 10 says which settings get
 *     them), not a cost model.  Other jobs only
 *     ever add time to a run (cache and core contention), so the minimum
 *     of several approaches the undisturbed cost; at load 8 on two cores
 *     the two runs once taken differed by 5-25%, more than the choices
 *     they decided.  The runs are cheap next to what bounds a tune (a
 *     rebuild; 200 queries are tens of milliseconds on GloVe's 340K).
 *     The noise of that minimum is taken as the gap to the next fastest
 *     run, relative (deviation 4 falls back on it).  The time is the process's CPU
 *     time, not the wall clock: on a shared machine other jobs' time
 *     slices land on whichever setting runs then (on SIFT10K at load 10 on
 *     two cores, six wall-clock tunes stored rerank 50, 200, 50, 50, 100,
 *     50; three CPU-time ones 50 each time).  It counts every thread of the
 *     process, BLAS's and FAISS's OpenMP workers included, so it is the
 *     search's cost as long as the calling process does nothing else
 *     meanwhile (the CLI does not).
 *  3. When nothing reaches the target the most accurate setting tried is
 *     stored and reported with reached = 0, so search keeps working at the
 *     best recall the index can give.
 *  4. AutoTune explores the build-time parameters too only in the sense
 *     that the user lists several index_factory strings.  With
 *     CVS_TUNE_REBUILD we try a few IVF indexes in one call, by coordinate
 *     descent from the one in the store: with and without ",sq8"
 *     re-ranking rows (index/ivf.c deviation 5), then half the list count,
 *     then double it if half did not win, else half again (the optimum
 *     lies further that way); each is built, its knobs found as
 *     above, and its time per query at the target compared.  A list count
 *     trades the coarse scan (nlist centroids) against the lists' length
 *     (n / nlist): 4 sqrt(n) is a guideline, and which side of it is
 *     faster depends on the data's clustering and the target, so it is
 *     measured, not predicted.  One step per direction keeps it to at most
 *     four builds (the three tries and the winner's rebuild), which is what
 *     bounds the time on large stores; over direct codes (l2 stores) a
 *     rebuild keeps the codec and only clusters, assigns and encodes.  The
 *     ground truth is computed once: rebuilding an index changes no record.
 *       A try and the best so far are compared head to head, not by the
 *     times their own knob searches measured: those lie minutes apart, a
 *     rebuild between them, and on a shared machine the load moves in
 *     minutes by more than list counts differ (one GloVe setting measured
 *     0.155 and 0.201 ms per query a few minutes apart; four quiet tunes
 *     of GloVe kept ivf2334,sq8 twice and moved to ivf1167,sq8 twice, three
 *     of Fashion-MNIST's four kept ivf489,sq8, though the smaller count was
 *     the faster on held-out queries each time it was measured).  So the
 *     best so far stays searchable while the try is built: a read snapshot
 *     of it is held, its lists pinned in memory (cvs__ivf_pin; its codec
 *     and parameters stay cached by generation, index/gencache.c), and
 *     once the try's knobs are found the two are timed in turns
 *     (cvs__tune_duel), each with its TUNE_FINALISTS cheapest settings by
 *     its own search: the knob search's pick between close settings is
 *     noisy too, and it decided the list count (a GloVe tune that picked
 *     ivf1167,sq8 nprobe 96 R 400 over nprobe 72 R 200 refine 20 kept
 *     ivf2334,sq8, the try cheaper in 5 of 9 rounds).  TUNE_DUEL_ROUNDS
 *     rounds, each timing one side's settings (each at deviation 8's
 *     passing and failing nprobe), the other's, the other's again and the
 *     first's again, in mirrored order and with the first side
 *     alternating, so that a load rising or falling through a round weighs
 *     on both alike.  Each round gives each setting its cost at the target
 *     (deviation 8, from the recall bounds already found: the searches are
 *     deterministic) and each side its cheapest setting's; the try
 *     replaces the best when it is the cheaper in at least 7 of the 9
 *     rounds: a sign test at 10%, which two equally fast indexes pass one
 *     time in eleven (a tie seldom
 *     costs the final rebuild) and which a burst of load in one or two
 *     rounds cannot decide; a minimum over runs (deviation 2) would still
 *     compare two different moments.  The map cannot grow while the
 *     snapshot is open (store/db.c deviation 1), so it is grown first by
 *     four times the index's bytes on disk (cvs__map_reserve: room for the
 *     three tries that may be built while it is held; data.mdb itself
 *     grows by what they write, up to about three indexes' worth, and
 *     LMDB reuses those pages later but never shrinks the file); when it cannot
 *     be, or when either side misses the target, the try replaces the best
 *     when it reaches the target and the best does not, or its own cost at
 *     the target is lower by more than either's timing noise (deviation
 *     2), or, neither reaching it, it is the more accurate.  Each side
 *     keeps the setting whose median cost over the rounds was the lowest,
 *     and the winner's rebuild (when it was not the last built) keeps it
 *     once one measurement shows it still reaches the target.
 *     Measured (tune --rebuild for 0.95 from `cvstore build`'s choice;
 *     loaded machine, load average 4-12; docs/BENCHMARKS.md, "Which
 *     list count is faster on queries the tuner never saw"): on
 *     Fashion-MNIST six tunes each went ivf979,sq8 -> ivf489,sq8 ->
 *     ivf244,sq8, ivf244 the cheaper in 8 or 9 of 9 rounds each time,
 *     where the comparison by own
 *     measurements, run beside them, kept ivf489 (and in one of the six
 *     would have: ivf244's own cost 2% lower, within its 7% noise); on
 *     the data set's held-out queries (CPU time, the two alternated)
 *     ivf244,sq8 nprobe 5 R 100 answers at 0.960-0.962 in 58-68 us,
 *     ivf489,sq8 nprobe 6 R 100 at 0.950-0.954 in 74-77 us.  On GloVe
 *     three tunes moved to ivf1167,sq8 (7-9 of 9 rounds against
 *     ivf2334,sq8; held out, 0.954-0.958 against 0.947-0.950, 3-24% less
 *     CPU per query) and kept it against ivf583,sq8 (1-2 of 9), which in
 *     two of them its own measurement had put 6-13% cheaper; the fourth,
 *     with one setting a side, kept ivf2334,sq8 (above).  A head-to-head
 *     is 9 rounds of up to 24 runs of the sample: at most 3 s of CPU on
 *     Fashion-MNIST, 8 s on GloVe, next to minutes of rebuilds.
 *  5. A setting reaches the target when the lower bound of a one-sided 90%
 *     confidence interval of its recall does (mean - 1.2816 standard errors
 *     of the per-query recalls), not the sample's mean: the store is
 *     searched with queries the sample does not hold, and a setting chosen
 *     because its mean just clears the target falls short on half of the
 *     other samples (on `cvstore-bench scale` at 0.1M, tuned on 200 sample
 *     queries for 0.90 / 0.95 it gave 0.887 / 0.945 on the measured ones).
 *     The margin shrinks as the sample grows (about 0.008 at recall 0.95
 *     over 200 queries, 0.04 over 20); the recall reported is the mean.
 *  6. The graph index (index/qg.c): nprobe is its candidate list ef (up to
 *     4096), rerank 0 its SQ8 rows' answer rather than the codes' alone,
 *     and CVS_TUNE_REBUILD does not replace it with an IVF index.
 *  7. A third knob on IVF indexes with ",sq8" rows: the exact re-score of
 *     the SQ8 re-rank's best (index/ivf_search.c deviation 6), off or 2k.
 *     Each rerank value is searched both ways and the cheaper kept, so it
 *     is on only where the target needs it (SQ8 distances alone stop near
 *     recall@10 0.98) or where it is cheaper (a shallower SQ8 re-rank plus
 *     2k reads can beat a deeper one).  Why 2k: SQ8 rounding only swaps
 *     candidates whose distances are within a rounding step, which near
 *     the k-th neighbour are the next few; k more covers them without
 *     making the reads (one LMDB look-up each) the query's main cost.  It
 *     is not a sweep, so one depth, not several, is tried.  Stored with
 *     cvs_index_set_refine (0 clears a former tune's choice).
 *  8. Settings are compared at the target, not at the settings found: the
 *     bisection stops within an eighth of nprobe, so the setting that
 *     passes overshoots the target by a different amount for each rerank
 *     value and each index tried, up to an eighth of the scan -- a handicap
 *     as large as the differences being decided.  The cost compared is the
 *     time per query interpolated linearly, in the recall's lower bound,
 *     between the last failing and the passing setting; the stored setting
 *     is still the passing one.
 *  9. The sample's size (AutoTune takes the query set it is given) follows
 *     the store's: TUNE_SAMPLE_WORK / n own vectors, at least 200 and at
 *     most 1000 (1000 up to 10,000 records, 200 from 50,000 on).  More
 *     queries narrow the bound of deviation 5 (its margin is 1.28 sd /
 *     sqrt(nq): about 0.008 at recall 0.95 over 200 queries, 0.0036 over
 *     1000) and steady the timings (each timed run lasts longer), so tune
 *     picks between close settings less by chance.  That matters most on
 *     a small store, where a list is a large share of the data (one more
 *     probed moves recall by a point or more) and a run of 200 queries
 *     lasts about a millisecond; and there it is cheap.  The measurements
 *     cost about nq times a query's cost, which grows with n (and the
 *     exact ground truth nq n d), so the budget on nq n keeps them to what
 *     200 queries cost at 50,000 records.  Measured (tune --rebuild for
 *     0.95 from `cvstore build`'s choice, loaded machine): on SIFT10K,
 *     200 queries chose ivf64,sq8 nprobe 12 R 20 (on the data set's 100
 *     held-out queries 0.966 at 5.45 us a query, one thread, CPU time),
 *     1000 chose nprobe 11 R 20 (0.963 at 5.27 us), in 36 s instead of 8;
 *     over seeds 1-3 on a fixed ivf64,sq8 index 200 queries chose nprobe
 *     12 R 20, 13 R 20 and 8 R 50 (8 R 50: 0.962 at 6.6 us), 1000 chose
 *     11, 11 and 12 with R 20.  On Fashion-MNIST 833 queries made the same
 *     choice as 200 (ivf244,sq8 nprobe 5 R 100) in 425 s instead of 136:
 *     the reason the budget stops below its 60,000 records.
 *
 * What keeps a tune of a small store to seconds (deviations 10-13): on a
 * store of 8,100 32-d Gaussian vectors a `tune --rebuild` took 56 s of CPU
 * (135 s wall at load 13 on two cores; `cvstore build` 0.5 s), of which
 * the rebuilds were 0.14 s: the rest was searching the sample, 2,770 runs
 * of its 1000 queries, most of them at the high nprobe that data needs.
 * The measurements' count, not the store's size, was the cost.
 * 10. A setting's recall needs one run of the sample (the searches are
 *     deterministic); only its time wants TUNE_RUNS.  So each setting
 *     measured is run once, and only the two whose times deviation 8 reads
 *     -- a (rerank, refine) pair's last failing and its passing setting --
 *     get the other runs once the pair's search ends (and the most
 *     accurate one, when nothing passes, deviation 3).  The costs compared
 *     are the same fastest-of-TUNE_RUNS as before; the doubling's and the
 *     bisection's other steps, whose times were never read, are 1 run
 *     instead of 5.  The noise of a cost is the larger of those two
 *     settings' (it was the largest over the bisection's steps).
 * 11. A pair is abandoned once one of its failing settings, timed fully,
 *     costs more than the dearest of the TUNE_FINALISTS finalists found so
 *     far by more than either's noise (outpriced): more lists probed never
 *     cost less, and its cost at the target lies between its last failing
 *     setting's time and its passing one's, so it can be no finalist.  The
 *     deep re-ranks (R 400, 800) at a high nprobe are the costliest
 *     settings a search measures, and the ones this drops.
 * 12. The head-to-head stops as soon as its sign test is decided: 7 wins,
 *     or 3 losses (7 of 9 then out of reach).  The outcome is the one all
 *     nine rounds would give (curtailed sampling); each side's setting is
 *     then the median over the rounds run.  A try that clearly loses costs
 *     3 rounds instead of 9, one that clearly wins 7.
 * 13. After a pair that failed even at maxprobe, the next pair measures
 *     maxprobe first: where it fails there too (the codes alone and
 *     shallow re-ranks on data whose neighbours are far, Gaussian ones),
 *     one measurement settles it instead of the whole doubling; where it
 *     passes, the doubling follows below it as before (one extra
 *     measurement, once per run of failing pairs).  It rests on deviation
 *     1's premise, that recall grows with nprobe.
 *     Measured (loaded machine, load 9-20 on two cores; process CPU time;
 *     docs/BENCHMARKS.md, "How long a tune takes"): 32-d stores of 8,100
 *     Gaussian vectors 56 -> 19 s, 8,100 clustered 17 -> 5 s, 2,000
 *     Gaussian 79 -> 27 s, 30,000 Gaussian 52 -> 23 s, each with the same
 *     choice or one of equal recall on the sample; the head-to-heads are
 *     about 40% of what is left (24 runs a round).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/codes.h"
#include "index/ivf.h"
#include "index/tune.h"
#include "pq/kmeans.h"
#include "store/db.h"

typedef struct tune_ctx {
    cvs_db *db;
    cvs_txn *txn;
    const float *q;
    const int64_t *self;  /* key of each query's own record */
    const int64_t *gt;    /* nq x k exact neighbours, self excluded */
    size_t nq, k;
    int64_t *lab;         /* nq x (k + 1) */
    float *sc;
    int qg;               /* the graph index: rerank 0 = its SQ8 rows' answer */
    size_t searches;      /* runs of the sample so far (cvs_tune_result) */
} tune_ctx;

/* Deviation 2: the process's CPU time, not the wall clock. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Deviation 2: timed runs of the sample per setting (the fastest counts). */
#define TUNE_RUNS 5

/* Deviation 4: rounds of the head-to-head, the sign test's level, and the
 * room the rebuilds beside a held snapshot want in the map (in multiples
 * of the index's bytes on disk): the snapshot stays open over every try
 * that loses, up to three (phases 0-2), and the pages each frees cannot be
 * reused while it is open, so three indexes' worth plus the B-tree's own
 * (a map's size is address space; data.mdb grows only by what is
 * written). */
#define TUNE_DUEL_ROUNDS 9
#define TUNE_FINALISTS 3
#define TUNE_DUEL_ALPHA 0.1
#define TUNE_HOLD_ROOM 4

/* Deviation 7: the exact re-score depth tried, in multiples of k. */
#define TUNE_REFINE 2

/* Deviation 5: the one-sided 90% normal quantile. */
#define TUNE_Z 1.2816

/* Deviation 9: the default sample, TUNE_SAMPLE_WORK / n queries between
 * the two bounds. */
#define TUNE_SAMPLE_MIN 200
#define TUNE_SAMPLE_MAX 1000
#define TUNE_SAMPLE_WORK 1e7

/* Recall@k and ms per query of one setting, and *lb, the lower confidence
 * bound of deviation 5. */
static cvs_search_params setting(const tune_ctx *c, size_t nprobe, size_t rerank,
                                 size_t refine)
{
    /* refine 0 is "none", not the store's default (a stored one would
     * otherwise leak into every measurement). */
    cvs_search_params p = {.flags = CVS_SEARCH_ANN | (rerank || c->qg ? 0 : CVS_SEARCH_NORERANK),
                           .nprobe = nprobe, .rerank = rerank || !c->qg ? rerank : CVS_RERANK_NONE,
                           .threads = 1, .refine = refine ? refine : CVS_RERANK_NONE};
    return p;
}

/* One setting's measurement: its recall from one run of the sample (the
 * searches are deterministic, so more runs give the same), its time from
 * the fastest of its runs (deviation 2), and the next fastest for the
 * noise.  Deviation 10: only the settings whose time is used get all
 * TUNE_RUNS runs (time_fully). */
typedef struct meas {
    size_t nprobe;           /* 0: none measured */
    double recall, lb;       /* mean recall, its lower bound (deviation 5) */
    double best, second;     /* seconds of the two fastest runs */
    int runs;
} meas;

/* One timed run of the sample at p into m. */
static int run_once(tune_ctx *c, const cvs_search_params *p, meas *m)
{
    double t0 = cpu_s(), dt;
    int rc = cvs_txn_search_params(c->txn, c->q, c->nq, c->k + 1, p, c->lab, c->sc);
    if (rc)
        return rc;
    dt = cpu_s() - t0;
    if (!m->runs || dt < m->best) {
        m->second = m->runs ? m->best : INFINITY;
        m->best = dt;
    } else if (dt < m->second) {
        m->second = dt;
    }
    m->runs++;
    c->searches++;
    return CVS_OK;
}

/* ms per query of m's fastest run, and the gap to the next fastest,
 * relative (deviation 2's noise; 0 with one run). */
static double meas_ms(const tune_ctx *c, const meas *m)
{
    return 1e3 * m->best / (double)c->nq;
}

static double meas_noise(const meas *m)
{
    return m->second > 0 && m->second < INFINITY ? (m->second - m->best) / m->second : 0;
}

/* Recall@k of one setting from one run, *m fresh (deviation 5's bound
 * in m->lb). */
static int measure(tune_ctx *c, size_t nprobe, size_t rerank, size_t refine, meas *m)
{
    cvs_search_params p = setting(c, nprobe, rerank, refine);
    size_t kk = c->k + 1, hit = 0;
    double sq = 0, mean, var;
    int rc;
    *m = (meas){.nprobe = nprobe};
    if ((rc = run_once(c, &p, m)))
        return rc;
    for (size_t i = 0; i < c->nq; i++) {
        const int64_t *g = c->gt + i * c->k, *l = c->lab + i * kk;
        size_t taken = 0, h = 0;
        for (size_t j = 0; j < kk && taken < c->k; j++) {
            if (l[j] == c->self[i])
                continue;
            taken++;
            for (size_t t = 0; t < c->k; t++)
                if (g[t] == l[j]) {
                    h++;
                    break;
                }
        }
        hit += h;
        sq += ((double)h / (double)c->k) * ((double)h / (double)c->k);
    }
    mean = (double)hit / (double)(c->nq * c->k);
    /* The sample variance of the per-query recalls (they are the
     * independent draws; a query's k hits are not). */
    var = c->nq > 1 ? (sq - (double)c->nq * mean * mean) / (double)(c->nq - 1) : 0;
    m->recall = mean;
    m->lb = mean - TUNE_Z * sqrt(var > 0 ? var / (double)c->nq : 0);
    return CVS_OK;
}

/* Deviation 10: the runs m still lacks of TUNE_RUNS, when its time is
 * used (no-op for none measured). */
static int time_fully(tune_ctx *c, size_t rerank, size_t refine, meas *m)
{
    cvs_search_params p = setting(c, m->nprobe, rerank, refine);
    int rc;
    while (m->nprobe && m->runs < TUNE_RUNS)
        if ((rc = run_once(c, &p, m)))
            return rc;
    return CVS_OK;
}

/* Deviation 9: the sample's size when the caller gives none, for a store
 * of n records. */
static size_t default_sample(uint64_t n)
{
    const double want = TUNE_SAMPLE_WORK / (double)(n ? n : 1);
    return want >= TUNE_SAMPLE_MAX ? TUNE_SAMPLE_MAX
           : want <= TUNE_SAMPLE_MIN ? TUNE_SAMPLE_MIN
                                     : (size_t)want;
}

/* Draws nq records (seeded selection sampling), their vectors and keys. */
static int draw(cvs_txn *t, uint32_t dim, size_t want, uint64_t seed, float *q, int64_t *keys,
                size_t *got)
{
    uint64_t total, seen = 0;
    cvs_iter *it = NULL;
    cvs_record r;
    size_t n = 0;
    int rc;
    if ((rc = cvs_txn_count(t, &total)) || (rc = cvs_iter_open(t, &it)))
        return rc;
    float *v = malloc(dim * sizeof *v);
    if (!v) {
        cvs_iter_close(it);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    while (n < want && (rc = cvs_iter_next(it, &r, v)) == 0) {
        if (cvs__rng_next(&seed) % (total - seen) < want - n) {
            memcpy(q + n * dim, v, dim * sizeof *v);
            keys[n++] = r.key;
        }
        seen++;
    }
    free(v);
    cvs_iter_close(it);
    if (rc && rc != CVS_NOTFOUND)
        return rc;
    *got = n;
    return CVS_OK;
}

/* A setting found by search_knobs, with what deviation 8 compares. */
typedef struct knob {
    size_t nprobe, lo_nprobe; /* passing, and the failing one below (0: none) */
    size_t rerank, refine;
    double recall, ms;        /* the passing setting's */
    double lo_lb, hi_lb;      /* the recall bounds deviation 8 interpolates between */
    double cost, noise;
} knob;

typedef struct knobs {
    cvs_tune_result r;
    double cost;   /* ms per query interpolated at the target (deviation 8) */
    double noise;  /* the largest timing noise (deviation 2) of its measurements */
    size_t lo_nprobe;      /* the failing setting below r.nprobe, 0 if none */
    double lo_lb, hi_lb;   /* the recall bounds deviation 8 interpolates between */
    /* Deviation 4: the cheapest TUNE_FINALISTS settings that reach the
     * target, cheapest first (the one above is fin[0]), for the
     * head-to-head. */
    knob fin[TUNE_FINALISTS];
    size_t nfin;
} knobs;

/* Makes k's setting its finalist i. */
static void adopt(knobs *k, size_t i)
{
    const knob *f = &k->fin[i];
    k->r.nprobe = f->nprobe;
    k->r.rerank = f->rerank;
    k->r.refine = f->refine;
    k->r.recall = f->recall;
    k->r.ms_per_query = f->ms;
    k->cost = f->cost;
    k->noise = f->noise;
    k->lo_nprobe = f->lo_nprobe;
    k->lo_lb = f->lo_lb;
    k->hi_lb = f->hi_lb;
}

/* Keeps f among k's finalists when it is among the cheapest. */
static void offer(knobs *k, const knob *f)
{
    size_t i = k->nfin < TUNE_FINALISTS ? k->nfin++ : TUNE_FINALISTS;
    if (i == TUNE_FINALISTS) {
        if (!(f->cost < k->fin[TUNE_FINALISTS - 1].cost))
            return;
        i = TUNE_FINALISTS - 1;
    }
    for (; i > 0 && f->cost < k->fin[i - 1].cost; i--)
        k->fin[i] = k->fin[i - 1];
    k->fin[i] = *f;
}

/* Deviation 8: the time per query at which the lower bound crosses the
 * target, on the line between the last failing setting (lo) and the
 * passing one (hi); hi's own time when nothing failed below it. */
static double cost_at_target(double target, int have_lo, double lo_lb, double lo_ms,
                             double hi_lb, double hi_ms)
{
    double t;
    if (!have_lo || !(hi_lb > lo_lb))
        return hi_ms;
    t = (target - lo_lb) / (hi_lb - lo_lb);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return lo_ms + t * (hi_ms - lo_ms);
}

/* ==== Deviation 4: the head-to-head ==== */

size_t cvs__tune_duel_need(size_t rounds)
{
    /* P(X >= m) for X ~ Binomial(rounds, 1/2), m from rounds down. */
    double all = ldexp(1.0, (int)rounds), c = 1, tail = 0;
    for (size_t m = rounds;; m--) {
        tail += c / all;
        if (tail > TUNE_DUEL_ALPHA || m == 0)
            return m + 1;
        c = c * (double)m / (double)(rounds - m + 1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cvs__tune_duel(cvs__tune_side *const s[2], const size_t n[2], double target, size_t rounds,
                   cvs__tune_run_fn run, void *ctx, size_t pick[2], int *challenger_wins)
{
    const size_t nset = n[0] + n[1], off[2] = {0, n[0]};
    double *cost = NULL, *sum = NULL, *tmp;
    const size_t need = cvs__tune_duel_need(rounds);
    size_t wins = 0, done = 0;
    int rc = CVS_OK;

    *challenger_wins = 0;
    pick[0] = pick[1] = 0;
    if (!rounds || !n[0] || !n[1])
        return CVS_OK;
    /* cost[set * rounds + round], then per set its two sums, then scratch. */
    if (!(cost = malloc((nset * rounds + 2 * nset + rounds) * sizeof *cost)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    sum = cost + nset * rounds;
    tmp = sum + 2 * nset;
    /* Deviation 12: the rounds stop once the sign test is decided, won
     * (need wins) or lost (more than rounds - need losses). */
    for (size_t r = 0; r < rounds && wins < need && r - wins <= rounds - need; r++) {
        const int first = (int)(r & 1), order[4] = {first, !first, !first, first};
        double side_cost[2] = {INFINITY, INFINITY};
        memset(sum, 0, 2 * nset * sizeof *sum);
        /* A B B A, and within a side its settings, each passing then
         * failing nprobe, on the way out, all reversed on the way back:
         * every run has its mirror image about the round's middle. */
        for (int o = 0; o < 4; o++) {
            const int side = order[o];
            for (size_t j = 0; j < n[side]; j++) {
                const size_t set = o < 2 ? j : n[side] - 1 - j;
                const cvs__tune_side *st = &s[side][set];
                const int nl = 1 + !!st->have_lo;
                for (int l = 0; l < nl; l++) {
                    const int lo = o < 2 ? l : nl - 1 - l;
                    double ms;
                    if ((rc = run(ctx, side, set, lo, &ms)))
                        goto out;
                    sum[2 * (off[side] + set) + lo] += ms;
                }
            }
        }
        for (int i = 0; i < 2; i++)
            for (size_t j = 0; j < n[i]; j++) {
                const cvs__tune_side *st = &s[i][j];
                const size_t g = off[i] + j;
                double c = cost_at_target(target, st->have_lo, st->lo_lb, sum[2 * g + 1] / 2,
                                          st->hi_lb, sum[2 * g] / 2);
                cost[g * rounds + r] = c;
                side_cost[i] = c < side_cost[i] ? c : side_cost[i];
            }
        wins += side_cost[1] < side_cost[0];
        done++;
    }
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < n[i]; j++) {
            memcpy(tmp, cost + (off[i] + j) * rounds, done * sizeof *tmp);
            qsort(tmp, done, sizeof *tmp, cmp_double);
            s[i][j].cost = done & 1 ? tmp[done / 2] : (tmp[done / 2 - 1] + tmp[done / 2]) / 2;
            if (s[i][j].cost < s[i][pick[i]].cost)
                pick[i] = j;
        }
    *challenger_wins = wins >= need;
out:
    free(cost);
    return rc;
}

/* The most accurate setting measured (deviation 3). */
typedef struct top_meas {
    meas m;
    size_t rerank, refine;
} top_meas;

/* One setting of a knob search measured (deviation 10: one run), reported
 * (the (rerank, refine) pairs done of all) and kept in *top when it is the
 * most accurate yet. */
static int probe(tune_ctx *c, const cvs_tune_opts *o, size_t pairs_done, size_t pairs,
                 size_t nprobe, size_t rerank, size_t refine, meas *m, top_meas *top)
{
    int rc = measure(c, nprobe, rerank, refine, m);
    if (rc)
        return rc;
    if (o->progress)
        o->progress(o->progress_ctx, "tune", pairs_done, pairs, 0, 0);
    if (m->recall > top->m.recall)
        *top = (top_meas){.m = *m, .rerank = rerank, .refine = refine};
    return CVS_OK;
}

/* Deviation 11: whether the (rerank, refine) pair whose setting *lo just
 * failed the target is priced out of the finalists: its cost at the target
 * lies between the time of its last failing setting and its passing one's,
 * and neither is less than *lo's (more lists probed never cost less), so
 * once *lo alone costs more than the dearest of TUNE_FINALISTS finalists
 * found, by more than either's timing noise, nothing further of the pair
 * can be one.  *pruned says so. */
static int outpriced(tune_ctx *c, const knobs *k, size_t rerank, size_t refine, meas *lo,
                     int *pruned)
{
    const knob *last = &k->fin[TUNE_FINALISTS - 1];
    double noise;
    int rc;
    *pruned = 0;
    if (k->nfin < TUNE_FINALISTS || !(meas_ms(c, lo) > last->cost))
        return CVS_OK;
    /* One run's time errs only upward (other jobs add to it, deviation 2):
     * it is confirmed with all TUNE_RUNS, which *lo needs anyway when it
     * stays the failing setting below the passing one. */
    if ((rc = time_fully(c, rerank, refine, lo)))
        return rc;
    noise = meas_noise(lo) > last->noise ? meas_noise(lo) : last->noise;
    *pruned = meas_ms(c, lo) > (1 + noise) * last->cost;
    return CVS_OK;
}

/* One step of a pair's search (deviation 1): nprobe measured and kept as
 * the pair's passing setting *hi or, failing, as *lo, which deviation 11
 * may price out (*pruned). */
static int pair_step(tune_ctx *c, const cvs_tune_opts *o, const knobs *best, size_t done,
                     size_t pairs, size_t nprobe, size_t rerank, size_t refine, meas *lo,
                     meas *hi, int *pruned, top_meas *top)
{
    meas m;
    int rc = probe(c, o, done, pairs, nprobe, rerank, refine, &m, top);
    if (rc)
        return rc;
    if (m.lb >= o->target_recall) {
        *hi = m;
        return CVS_OK;
    }
    *lo = m;
    return outpriced(c, best, rerank, refine, lo, pruned);
}

/* The cheapest (nprobe, rerank, refine) of the index now in the store that
 * reaches the target on c's sample (deviations 1-3, 7, 8); *best gets it,
 * or with reached 0 the most accurate setting tried.  Its own snapshot. */
static int search_knobs(tune_ctx *c, const cvs_tune_opts *o, knobs *best_out)
{
    static const size_t reranks_ivf[] = {0, 20, 50, 100, 200, 400, 800};
    static const size_t reranks_none[] = {0};
    knobs best = {.cost = INFINITY}, most = {.cost = INFINITY};
    cvs_index_info ii;
    const size_t *reranks;
    top_meas top = {.rerank = 0};
    size_t nrr, nrf, maxprobe, pairs, done = 0;
    int rc, faiss, ceiling = 0;

    if ((rc = cvs_index_get_info(c->db, &ii)))
        return rc;
    faiss = !strncmp(ii.spec, "faiss:", 6);
    c->qg = !strncmp(ii.spec, "qg", 2);
    /* Deviation 7: an IVF with ",sq8" rows is also tried with the exact
     * re-score of TUNE_REFINE k candidates. */
    nrf = !faiss && !c->qg && strstr(ii.spec, ",sq8") ? 2 : 1;
    if (c->qg) { /* nprobe is the candidate list (index/qg.c) */
        reranks = reranks_ivf;
        nrr = c->db->raw == CVS_RAW_NONE ? 1 : 3;
        maxprobe = 4096;
    } else if (faiss) {
        reranks = reranks_none;
        nrr = 1;
        maxprobe = strstr(ii.spec, "HNSW") ? 4096 : ii.nlist ? ii.nlist : 4096;
    } else {
        reranks = c->db->raw == CVS_RAW_NONE ? reranks_none : reranks_ivf;
        nrr = c->db->raw == CVS_RAW_NONE ? 1 : sizeof reranks_ivf / sizeof reranks_ivf[0];
        maxprobe = ii.nlist ? ii.nlist : 1;
    }
    pairs = nrr * nrf - (nrf > 1); /* no exact re-score without a re-rank */
    if ((rc = cvs_txn_begin(c->db, &c->txn)))
        return rc;
    for (size_t r = 0; r < nrr; r++)
        for (size_t f = 0; f < nrf; f++) {
            const size_t rerank = reranks[r], refine = f ? TUNE_REFINE * c->k : 0;
            size_t p = 1;
            meas m, lo = {0}, hi = {0};
            double cost, noise;
            int pruned = 0;
            if (refine && !rerank)
                continue; /* the exact re-score follows an SQ8 re-rank */
            done++;
            if (ceiling && maxprobe > 1) {
                /* Deviation 13: the pair before failed even at maxprobe;
                 * this one may too, which one measurement there shows. */
                if ((rc = probe(c, o, done, pairs, maxprobe, rerank, refine, &m, &top)))
                    goto out;
                if (m.lb < o->target_recall)
                    continue;
                hi = m;
            }
            /* Deviation 1: double until the target is met ... */
            while (!hi.nprobe || p < hi.nprobe) {
                if ((rc = pair_step(c, o, &best, done, pairs, p, rerank, refine, &lo, &hi,
                                    &pruned, &top)))
                    goto out;
                if (hi.nprobe == p || pruned || p >= maxprobe)
                    break;
                p = p * 2 > maxprobe ? maxprobe : p * 2;
            }
            ceiling = !hi.nprobe && !pruned;
            if (!hi.nprobe)
                continue;
            /* ... then bisect (lo fails, hi passes). */
            while (!pruned && hi.nprobe - lo.nprobe > 1 && hi.nprobe - lo.nprobe > hi.nprobe / 8)
                if ((rc = pair_step(c, o, &best, done, pairs,
                                    lo.nprobe + (hi.nprobe - lo.nprobe) / 2, rerank, refine, &lo,
                                    &hi, &pruned, &top)))
                    goto out;
            if (pruned)
                continue;
            /* Deviation 10: the two settings deviation 8 reads, timed. */
            if ((rc = time_fully(c, rerank, refine, &lo)) ||
                (rc = time_fully(c, rerank, refine, &hi)))
                goto out;
            noise = meas_noise(&lo) > meas_noise(&hi) ? meas_noise(&lo) : meas_noise(&hi);
            cost = cost_at_target(o->target_recall, lo.nprobe != 0, lo.lb, meas_ms(c, &lo),
                                  hi.lb, meas_ms(c, &hi));
            {
                knob fk = {.nprobe = hi.nprobe, .lo_nprobe = lo.nprobe, .rerank = rerank,
                           .refine = refine, .recall = hi.recall, .ms = meas_ms(c, &hi),
                           .lo_lb = lo.lb, .hi_lb = hi.lb, .cost = cost, .noise = noise};
                offer(&best, &fk);
            }
            if (cost < best.cost) {
                best.cost = cost;
                best.noise = noise;
                best.lo_nprobe = lo.nprobe;
                best.lo_lb = lo.lb;
                best.hi_lb = hi.lb;
                best.r.nprobe = hi.nprobe;
                best.r.rerank = rerank;
                best.r.refine = refine;
                best.r.recall = hi.recall;
                best.r.ms_per_query = meas_ms(c, &hi);
                best.r.reached = 1;
            }
        }
    if (!best.r.reached && top.m.nprobe) {
        /* Deviation 3: the most accurate setting, its time measured as a
         * finalist's would be (deviation 10). */
        if ((rc = time_fully(c, top.rerank, top.refine, &top.m)))
            goto out;
        most.r.nprobe = top.m.nprobe;
        most.r.rerank = top.rerank;
        most.r.refine = top.refine;
        most.r.recall = top.m.recall;
        most.r.ms_per_query = most.cost = meas_ms(c, &top.m);
        most.noise = meas_noise(&top.m);
        best = most; /* no finalists */
    }
    *best_out = best;
    rc = CVS_OK;
out:
    cvs_txn_end(c->txn);
    c->txn = NULL;
    return rc;
}

/* One IVF index configuration of deviation 4. */
typedef struct ivf_cfg {
    size_t nlist;
    int refine;            /* ",sq8" rows */
} ivf_cfg;

/* Rebuilds the IVF index as cfg, residual or direct as before: over
 * direct codes with the store's codec kept (they do not depend on the
 * lists, and training is most of a build), over residual ones with the
 * codec trained again from its spec (they do). */
static int rebuild(cvs_db *db, const char *codec, int residual, ivf_cfg cfg,
                   const cvs_tune_opts *o)
{
    char index[64];
    cvs_build_opts bo = {.index = index, .progress = o->progress,
                         .progress_ctx = o->progress_ctx};
    snprintf(index, sizeof index, "ivf%zu,%s%s", cfg.nlist, residual ? "residual" : "direct",
             cfg.refine ? ",sq8" : "");
    return residual ? cvs__codes_build(db, codec, &bo, NULL) : cvs__codes_reindex(db, &bo);
}

/* Deviation 4's rule: b replaces a when it reaches the target and a does
 * not, or both do and b's cost at the target (deviation 8) is lower by more
 * than either's timing noise, or neither does and b is more accurate. */
static int better(const knobs *b, const knobs *a)
{
    double noise = a->noise > b->noise ? a->noise : b->noise;
    if (b->r.reached != a->r.reached)
        return b->r.reached;
    if (b->r.reached)
        return b->cost < (1 - noise) * a->cost;
    return b->r.recall > a->r.recall;
}

/* Deviation 4: what the head-to-head times, each side on its own snapshot. */
typedef struct duel_ctx {
    tune_ctx *c;
    cvs_txn *txn[2];
    const knobs *k[2];
    const cvs_tune_opts *o;
    size_t done, total;  /* its runs, for the progress report "compare" */
} duel_ctx;

static int duel_run(void *ctx, int side, size_t set, int lo, double *ms)
{
    duel_ctx *d = ctx;
    const knob *k = &d->k[side]->fin[set];
    cvs_search_params p = setting(d->c, lo ? k->lo_nprobe : k->nprobe, k->rerank, k->refine);
    double t0 = cpu_s();
    int rc = cvs_txn_search_params(d->txn[side], d->c->q, d->c->nq, d->c->k + 1, &p, d->c->lab,
                                   d->c->sc);
    *ms = 1e3 * (cpu_s() - t0) / (double)d->c->nq;
    d->c->searches++;
    /* Seconds of runs on a large store: said, as every long phase is. */
    if (!rc && d->o->progress)
        d->o->progress(d->o->progress_ctx, "compare", ++d->done, d->total, 0, 0);
    return rc;
}

/* Deviation 4: *held gets a snapshot of the index now in the store with its
 * lists kept loaded, so that it can be searched beside the next build.  The
 * map cannot grow while a snapshot is open (store/db.c deviation 1), so it
 * is grown first to hold a rebuild beside it; if it cannot be, *held is
 * NULL and the two are compared by their own measurements. */
static int hold(cvs_db *db, cvs_txn **held)
{
    cvs_index_info ii;
    int rc;
    *held = NULL;
    if ((rc = cvs_index_get_info(db, &ii)))
        return rc;
    if (cvs__map_reserve(db, TUNE_HOLD_ROOM * ii.disk_bytes))
        return CVS_OK;
    if ((rc = cvs_txn_begin(db, held)))
        return rc;
    if (cvs__ivf_pin(*held)) {
        /* Not held (out of memory for the lists, say): compare by
         * measurements, as when the map cannot grow; a real fault of the
         * store shows again in the rebuild that follows. */
        cvs_txn_end(*held);
        *held = NULL;
    }
    return CVS_OK;
}

static void unhold(cvs_db *db, cvs_txn **held)
{
    if (!*held)
        return;
    cvs_txn_end(*held);
    *held = NULL;
    cvs__ivf_unpin(db);
}

/* Deviation 4: the list count and ",sq8" rows, by coordinate descent from
 * the index in the store, whose knobs *best already holds. */
static int tune_rebuild(tune_ctx *c, const cvs_tune_opts *o, knobs *best)
{
    cvs_codec_info ci;
    cvs_index_info ii;
    cvs_info info;
    cvs_txn *held = NULL, *now = NULL;
    ivf_cfg cur, built;
    size_t maxlist;
    int rc, residual;

    if ((rc = cvs_index_get_info(c->db, &ii)) || (rc = cvs_codec_get_info(c->db, &ci)) ||
        (rc = cvs_db_info(c->db, &info)))
        return rc;
    residual = ii.residual;
    cur.nlist = ii.nlist;
    cur.refine = strstr(ii.spec, ",sq8") != NULL;
    built = cur;
    /* The "ivf" limits (index/ivf.c): 39 records per list, CVS_IVF_MAX_NLIST. */
    maxlist = (size_t)(info.count / 39);
    if (maxlist > CVS_IVF_MAX_NLIST)
        maxlist = CVS_IVF_MAX_NLIST;
    for (int phase = 0; phase < 3; phase++) {
        ivf_cfg t = cur;
        knobs r;
        int wins;
        if (phase == 0)
            t.refine = !cur.refine;
        else if (phase == 1)
            t.nlist = cur.nlist / 2;
        else /* half again when half won, else double */
            t.nlist = cur.nlist != ii.nlist ? cur.nlist / 2 : cur.nlist * 2;
        if (phase && (t.nlist == cur.nlist || t.nlist < 1 || t.nlist > maxlist))
            continue;
        /* Held from when the best so far was built, or now if it is the
         * index in the store (not after a loss compared without one). */
        if (!held && built.nlist == cur.nlist && built.refine == cur.refine &&
            (rc = hold(c->db, &held)))
            goto out;
        rc = rebuild(c->db, ci.spec, residual, t, o);
        if (rc == CVS_EBUSY && held) {
            /* The map had to grow after all: compare by measurements. */
            unhold(c->db, &held);
            rc = rebuild(c->db, ci.spec, residual, t, o);
        }
        if (rc)
            goto out;
        built = t;
        best->r.rebuilds++;
        if ((rc = search_knobs(c, o, &r)))
            goto out;
        if (held && r.nfin && best->nfin) {
            cvs__tune_side s0[TUNE_FINALISTS], s1[TUNE_FINALISTS];
            cvs__tune_side *const s[2] = {s0, s1};
            const size_t n[2] = {best->nfin, r.nfin};
            size_t pick[2];
            duel_ctx d = {.c = c, .txn = {held, NULL}, .k = {best, &r}, .o = o};
            for (int i = 0; i < 2; i++)
                for (size_t j = 0; j < n[i]; j++) {
                    const knob *f = &d.k[i]->fin[j];
                    s[i][j] = (cvs__tune_side){.have_lo = f->lo_nprobe != 0, .lo_lb = f->lo_lb,
                                               .hi_lb = f->hi_lb};
                    /* Each round runs every setting twice, at both nprobe. */
                    d.total += 2 * TUNE_DUEL_ROUNDS * (1 + (f->lo_nprobe != 0));
                }
            if ((rc = cvs_txn_begin(c->db, &now)))
                goto out;
            d.txn[1] = now;
            rc = cvs__tune_duel(s, n, o->target_recall, TUNE_DUEL_ROUNDS, duel_run, &d, pick,
                                &wins);
            cvs_txn_end(now);
            now = NULL;
            if (rc)
                goto out;
            /* Each side at its setting that was cheapest in turns. */
            for (int i = 0; i < 2; i++) {
                knobs *k = i ? &r : best;
                for (size_t j = 0; j < n[i]; j++)
                    k->fin[j].cost = s[i][j].cost;
                adopt(k, pick[i]);
            }
        } else {
            wins = better(&r, best);
        }
        if (wins) {
            int n = best->r.rebuilds;
            *best = r;
            best->r.rebuilds = n;
            cur = t;
            unhold(c->db, &held); /* the best is the index in the store */
        }
    }
    unhold(c->db, &held);
    if (built.nlist != cur.nlist || built.refine != cur.refine) {
        /* The winner was not the last one built: build it again (same
         * codec spec, seed and sample, so the same index) and keep the
         * setting the head-to-head chose once it is seen to reach the
         * target again; else find its knobs anew. */
        meas m;
        int n = best->r.rebuilds + 1;
        if ((rc = rebuild(c->db, ci.spec, residual, cur, o)) ||
            (rc = cvs_txn_begin(c->db, &c->txn)))
            goto out;
        rc = measure(c, best->r.nprobe, best->r.rerank, best->r.refine, &m);
        cvs_txn_end(c->txn);
        c->txn = NULL;
        if (rc)
            goto out;
        if (!best->r.reached || m.lb < o->target_recall) {
            knobs r;
            if ((rc = search_knobs(c, o, &r)))
                goto out;
            *best = r;
        }
        best->r.rebuilds = n;
    }
    rc = CVS_OK;
out:
    unhold(c->db, &held);
    return rc;
}

CVS_API int cvs_tune(cvs_db *db, const cvs_tune_opts *opts, cvs_tune_result *res)
{
    cvs_tune_opts o = {0};
    cvs_index_info ii;
    tune_ctx c = {0};
    float *q = NULL, *gsc = NULL;
    int64_t *self = NULL, *glab = NULL, *gt = NULL;
    size_t nq = 0;
    int rc, faiss, rebuilding;
    knobs best = {.cost = INFINITY};

    if (!db || !opts || !res)
        return cvs__err(CVS_EINVAL, "cvs_tune: NULL argument");
    o = *opts;
    memset(res, 0, sizeof *res);
    if (!(o.target_recall > 0 && o.target_recall <= 1))
        return cvs__err(CVS_EINVAL, "tune: the target recall must be in (0, 1], not %g",
                        o.target_recall);
    if (o.flags & ~CVS_TUNE_REBUILD)
        return cvs__err(CVS_EINVAL, "tune: unknown flags 0x%x", o.flags);
    if (!o.k)
        o.k = 10;
    if (!o.queries != !o.nqueries)
        return cvs__err(CVS_EINVAL, "tune: queries and nqueries go together");
    if (o.queries)
        o.sample = o.nqueries;
    if (o.k > 1000)
        return cvs__err(CVS_EINVAL, "tune: k is %zu; it must be from 1 to 1000", o.k);
    if (o.sample > 100000)
        return cvs__err(CVS_EINVAL, "tune: %zu %s; at most 100000", o.sample,
                        o.queries ? "queries given" : "sample queries asked for");
    if ((rc = cvs_index_get_info(db, &ii)))
        return rc == CVS_NOTFOUND
                   ? cvs__err(CVS_EINVAL, "%s has no ANN index to tune: build one first "
                              "(cvstore build --index ivf)", db->path)
                   : rc;
    if (!o.sample)
        o.sample = default_sample(ii.count);
    faiss = !strncmp(ii.spec, "faiss:", 6);
    /* Deviation 4 needs the stored vectors to retrain on, and an IVF. */
    rebuilding = (o.flags & CVS_TUNE_REBUILD) && !faiss && strncmp(ii.spec, "qg", 2) &&
                 db->raw != CVS_RAW_NONE;

    q = malloc(o.sample * db->dim * sizeof *q);
    self = malloc(o.sample * sizeof *self);
    glab = malloc(o.sample * (o.k + 1) * sizeof *glab);
    gsc = malloc(o.sample * (o.k + 1) * sizeof *gsc);
    gt = malloc(o.sample * o.k * sizeof *gt);
    c.lab = malloc(o.sample * (o.k + 1) * sizeof *c.lab);
    c.sc = malloc(o.sample * (o.k + 1) * sizeof *c.sc);
    if (!q || !self || !glab || !gsc || !gt || !c.lab || !c.sc) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = cvs_txn_begin(db, &c.txn)))
        goto out;
    if (o.queries) {
        /* The caller's queries: no record of the store is any query's own. */
        memcpy(q, o.queries, o.nqueries * db->dim * sizeof *q);
        for (size_t i = 0; i < o.nqueries; i++)
            self[i] = INT64_MIN;
        nq = o.nqueries;
    } else if ((rc = draw(c.txn, db->dim, o.sample, o.seed ? o.seed : 1, q, self, &nq))) {
        goto out;
    }
    if (!o.queries && (nq < 2 || nq <= o.k)) {
        /* Each query is a record of the store, which finds itself first:
         * its k neighbours are the other records, so there must be k + 1
         * (and 2 at least for k 1). */
        size_t need = o.k + 1 > 2 ? o.k + 1 : 2;
        if (nq < ii.count) /* the caller's sample, not the store, is too small */
            rc = cvs__err(CVS_EINPUT, "%s: a sample of %zu queries is too few to tune k = %zu "
                          "on: give a sample of at least %zu (cvstore tune --sample; the store "
                          "has %llu records)", db->path, nq, o.k, need,
                          (unsigned long long)ii.count);
        else
            rc = cvs__err(CVS_EINPUT, "%s: too few records (%zu) to tune on: tuning for k = "
                          "%zu on the store's own records needs at least %zu (each one's k "
                          "neighbours besides itself); add records, or measure on queries of "
                          "your own (cvstore tune --query-file)", db->path, nq, o.k, need);
        goto out;
    }
    {
        cvs_search_params ep = {.flags = CVS_SEARCH_EXACT};
        if ((rc = cvs_txn_search_params(c.txn, q, nq, o.k + 1, &ep, glab, gsc)))
            goto out;
        for (size_t i = 0; i < nq; i++) {
            size_t t = 0;
            for (size_t j = 0; j <= o.k && t < o.k; j++)
                if (glab[i * (o.k + 1) + j] != self[i])
                    gt[i * o.k + t++] = glab[i * (o.k + 1) + j];
            while (t < o.k)
                gt[i * o.k + t++] = -2; /* never matches */
        }
    }
    /* Each measurement takes its own snapshot: a rebuild writes between. */
    cvs_txn_end(c.txn);
    c.txn = NULL;
    c.db = db;
    c.q = q;
    c.self = self;
    c.gt = gt;
    c.nq = nq;
    c.k = o.k;

    if ((rc = search_knobs(&c, &o, &best)))
        goto out;
    if (rebuilding && (rc = tune_rebuild(&c, &o, &best)))
        goto out;
    if ((rc = cvs_index_set_defaults(db, best.r.nprobe,
                                     best.r.rerank || faiss ? best.r.rerank : CVS_RERANK_NONE)))
        goto out;
    if ((rc = cvs_index_get_info(db, &ii)))
        goto out;
    /* Deviation 7: stored (or cleared) on every IVF, so a depth a former
     * tune stored does not outlive this one's choice. */
    if (!faiss && strncmp(ii.spec, "qg", 2) && (rc = cvs_index_set_refine(db, best.r.refine)))
        goto out;
    snprintf(best.r.index, sizeof best.r.index, "%s", ii.spec);
    best.r.sample = nq;
    best.r.searches = c.searches;
    *res = best.r;
out:
    if (c.txn)
        cvs_txn_end(c.txn);
    free(q);
    free(self);
    free(glab);
    free(gsc);
    free(gt);
    free(c.lab);
    free(c.sc);
    return rc;
}
