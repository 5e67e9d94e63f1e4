/* test_tune.c -- the head-to-head that decides between two IVF builds in
 * cvs_tune's rebuild step (index/tune.c deviation 4), driven by injected
 * timings: a load that rises or falls while the two are timed does not
 * decide it, a burst in one round does not, two equally fast builds keep
 * the one in hand, and the cost compared is the one at the target
 * (deviation 8); and the pinned lists (cvs__ivf_pin) that let an older
 * build's snapshot be searched beside a newer build without reloading. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cvstore.h"
#include "index/codes.h"
#include "index/ivf.h"
#include "index/tune.h"
#include "tests/testutil.h"

/* ==== The head-to-head, with injected timings ==== */

/* The undisturbed ms per query of each side's settings, passing (0) and
 * failing (1) nprobe, and the load: every run's time is its undisturbed
 * one times load(call), call counting the runs so far. */
typedef struct fake {
    double base[2][3][2];
    double (*load)(const struct fake *f, int side);
    size_t calls, per_side[2];
    int fail_at; /* the run that fails with CVS_EIO (0: none) */
} fake;

static int fake_run(void *ctx, int side, size_t set, int lo, double *ms)
{
    fake *f = ctx;
    f->calls++;
    if (f->fail_at && f->calls == (size_t)f->fail_at)
        return CVS_EIO;
    f->per_side[side]++;
    *ms = f->base[side][set][lo] * f->load(f, side);
    return CVS_OK;
}

/* A load that doubles the cost of a run from one run to the next but one. */
static double rising(const fake *f, int side)
{
    (void)side;
    return 1 + 0.5 * (double)f->calls;
}

static double falling(const fake *f, int side)
{
    (void)side;
    return 1000 - 2 * (double)f->calls;
}

static double flat(const fake *f, int side)
{
    (void)f;
    (void)side;
    return 1;
}

/* Side 1 two percent cheaper in the even rounds, two percent dearer in the
 * odd ones (a round is four runs here: no failing settings). */
static double seesaw(const fake *f, int side)
{
    size_t round = (f->calls - 1) / 4;
    return side == 1 ? (round & 1 ? 1.02 : 0.98) : 1;
}

/* A burst of five times the cost on side 1's runs of round 3. */
static double burst(const fake *f, int side)
{
    size_t round = (f->calls - 1) / 4;
    return side == 1 && round == 3 ? 5 : 1;
}

/* One setting a side. */
static int duel(fake *f, cvs__tune_side s[2], double target, size_t rounds)
{
    cvs__tune_side *const ss[2] = {&s[0], &s[1]};
    const size_t n[2] = {1, 1};
    size_t pick[2] = {9, 9};
    int wins = -1;
    cr_assert_eq(cvs__tune_duel(ss, n, target, rounds, fake_run, f, pick, &wins), CVS_OK);
    cr_assert(wins == 0 || wins == 1);
    cr_assert(pick[0] == 0 && pick[1] == 0);
    return wins;
}

Test(tune_duel, the_sign_test_needs_7_of_9_rounds)
{
    cr_assert_eq(cvs__tune_duel_need(9), 7);
    cr_assert_eq(cvs__tune_duel_need(5), 5);
    cr_assert_eq(cvs__tune_duel_need(1), 2, "one round can never decide");
    cr_assert_eq(cvs__tune_duel_need(20), 14);
}

Test(tune_duel, a_cheaper_challenger_wins_however_the_load_moves)
{
    /* Timed one after the other, the first side would look cheaper under
     * a rising load (its run 1.0 ms, the challenger's later one 0.9 x 1.5)
     * and the second far cheaper under a falling one; mirrored within each
     * round, the undisturbed ratio decides. */
    double (*loads[])(const fake *, int) = {rising, falling, flat};
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        fake f = {.base = {{{1.0, 0}}, {{0.9, 0}}}, .load = loads[i]};
        cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
        cr_assert_eq(duel(&f, s, 0.95, 9), 1, "load %zu", i);
        /* Two runs a side a round; cheaper in each, it has its 7 wins
         * after 7 rounds, and the last two could not change the outcome
         * (deviation 12). */
        cr_assert_eq(f.per_side[0], 14, "two runs a side a round, 7 rounds");
        cr_assert_eq(f.per_side[1], 14);
        cr_assert_lt(s[1].cost, s[0].cost);
    }
    /* And a dearer one loses, under each load. */
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        fake f = {.base = {{{0.9, 0}}, {{1.0, 0}}}, .load = loads[i]};
        cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
        cr_assert_eq(duel(&f, s, 0.95, 9), 0, "load %zu", i);
    }
}

Test(tune_duel, equally_fast_builds_keep_the_one_in_hand)
{
    fake f = {.base = {{{1.0, 0}}, {{1.0, 0}}}, .load = flat};
    cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
    cr_assert_eq(duel(&f, s, 0.95, 9), 0, "a tie is not a win");
    /* Cheaper in 5 of 9 rounds (the even ones) is within chance. */
    fake g = {.base = {{{1.0, 0}}, {{1.0, 0}}}, .load = seesaw};
    cr_assert_eq(duel(&g, s, 0.95, 9), 0);
}

Test(tune_duel, a_burst_in_one_round_does_not_decide)
{
    fake f = {.base = {{{1.0, 0}}, {{0.9, 0}}}, .load = burst};
    cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
    cr_assert_eq(duel(&f, s, 0.95, 9), 1);
    cr_assert_float_eq(s[1].cost, 0.9, 1e-9, "the median leaves the burst out");
    cr_assert_float_eq(s[0].cost, 1.0, 1e-9);
}

Test(tune_duel, the_costs_compared_are_at_the_target)
{
    /* Side 0's passing setting overshoots (bound 0.97, 1.0 ms) above a
     * failing one (0.90, 0.5 ms): at 0.95 it costs 0.5 + 5/7 0.5 = 0.857
     * ms, less than side 1's 0.9 ms at a setting that just passes, though
     * side 0's passing setting is the dearer of the two. */
    fake f = {.base = {{{1.0, 0.5}}, {{0.9, 0}}}, .load = rising};
    cvs__tune_side s[2] = {{.have_lo = 1, .lo_lb = 0.90, .hi_lb = 0.97}, {.hi_lb = 0.951}};
    cr_assert_eq(duel(&f, s, 0.95, 9), 0);
    /* Dearer in every round, the challenger has lost after 3. */
    cr_assert_eq(f.per_side[0], 12, "both of side 0's settings, twice a round, 3 rounds");
    cr_assert_eq(f.per_side[1], 6);
    /* Flat load: the medians are the undisturbed costs. */
    fake g = {.base = {{{1.0, 0.5}}, {{0.9, 0}}}, .load = flat};
    cr_assert_eq(duel(&g, s, 0.95, 9), 0);
    cr_assert_float_eq(s[0].cost, 0.5 + 0.5 * 5.0 / 7.0, 1e-9);
    cr_assert_float_eq(s[1].cost, 0.9, 1e-9);
    /* A setting that fails alone would cost 0.45 ms. */
    fake h = {.base = {{{1.0, 0.5}}, {{0.8, 0.45}}}, .load = flat};
    s[1] = (cvs__tune_side){.have_lo = 1, .lo_lb = 0.94, .hi_lb = 0.96};
    cr_assert_eq(duel(&h, s, 0.95, 9), 1);
    cr_assert_float_eq(s[1].cost, 0.45 + 0.35 * 0.5, 1e-9);
}

/* Deviation 12: the rounds end once the sign test is decided, with the
 * outcome the full nine would give: 7 wins, or 3 losses (7 of 9 out of
 * reach); a contest that stays open runs every round. */
Test(tune_duel, the_rounds_stop_once_the_outcome_is_decided)
{
    cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
    fake win = {.base = {{{1.0, 0}}, {{0.5, 0}}}, .load = flat};
    fake lose = {.base = {{{0.5, 0}}, {{1.0, 0}}}, .load = flat};
    fake seesaw_f = {.base = {{{1.0, 0}}, {{1.0, 0}}}, .load = seesaw};
    cr_assert_eq(duel(&win, s, 0.95, 9), 1);
    cr_assert_eq(win.calls, 7 * 4, "won in 7 rounds of 4 runs");
    cr_assert_eq(duel(&lose, s, 0.95, 9), 0);
    cr_assert_eq(lose.calls, 3 * 4, "lost in 3");
    /* Won, lost, won, ...: the third loss comes in round 6. */
    cr_assert_eq(duel(&seesaw_f, s, 0.95, 9), 0);
    cr_assert_eq(seesaw_f.calls, 6 * 4);
    /* 20 rounds, 14 wins needed: a loss-free challenger still stops at 14. */
    fake win20 = {.base = {{{1.0, 0}}, {{0.5, 0}}}, .load = flat};
    cr_assert_eq(duel(&win20, s, 0.95, 20), 1);
    cr_assert_eq(win20.calls, 14 * 4);
}

Test(tune_duel, a_failing_run_stops_it)
{
    fake f = {.base = {{{1.0, 0}}, {{0.9, 0}}}, .load = flat, .fail_at = 11};
    cvs__tune_side s[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
    cvs__tune_side *const ss[2] = {&s[0], &s[1]};
    const size_t n[2] = {1, 1};
    size_t pick[2];
    int wins = -1;
    cr_assert_eq(cvs__tune_duel(ss, n, 0.95, 9, fake_run, &f, pick, &wins), CVS_EIO);
    cr_assert_eq(wins, 0);
    cr_assert_eq(f.calls, 11);
}

Test(tune_duel, each_side_is_judged_at_its_cheapest_setting)
{
    /* The challenger's first setting (the cheapest by its own knob
     * search) is in truth dearer than the best so far; its second is
     * cheaper, and so is it at that one.  The best so far's second setting
     * is its cheapest. */
    fake f = {.base = {{{1.0, 0}, {0.95, 0}}, {{1.1, 0}, {0.85, 0.6}, {1.3, 0}}},
              .load = rising};
    cvs__tune_side s0[2] = {{.hi_lb = 0.96}, {.hi_lb = 0.96}};
    cvs__tune_side s1[3] = {{.hi_lb = 0.96}, {.have_lo = 1, .lo_lb = 0.93, .hi_lb = 0.97},
                            {.hi_lb = 0.96}};
    cvs__tune_side *const ss[2] = {s0, s1};
    const size_t n[2] = {2, 3};
    size_t pick[2];
    int wins = -1;
    cr_assert_eq(cvs__tune_duel(ss, n, 0.95, 9, fake_run, &f, pick, &wins), CVS_OK);
    cr_assert_eq(wins, 1);
    cr_assert_eq(pick[0], 1);
    cr_assert_eq(pick[1], 1);
    cr_assert_eq(f.per_side[0], 2 * 2 * 7, "every setting twice a round, 7 rounds");
    cr_assert_eq(f.per_side[1], (1 + 2 + 1) * 2 * 7);
    /* Against a best so far whose second setting (0.7) beats the
     * challenger's cheapest (0.725 at the target): no win. */
    fake g = {.base = {{{1.0, 0}, {0.7, 0}}, {{1.1, 0}, {0.85, 0.6}, {1.3, 0}}}, .load = falling};
    cr_assert_eq(cvs__tune_duel(ss, n, 0.95, 9, fake_run, &g, pick, &wins), CVS_OK);
    cr_assert_eq(wins, 0);
    cr_assert_eq(pick[0], 1);
}

/* ==== Pinned lists ==== */

enum { D = 16, N = 3000, NQ = 20 };

static void put_random(cvs_db *d)
{
    float *v = malloc((size_t)N * D * sizeof *v);
    cvs_record *r = calloc(N, sizeof *r);
    char (*ids)[16] = malloc(N * sizeof *ids);
    tu_randvecs(v, (size_t)N * D, 7);
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[0], "%zu", i);
        r[i].id = ids[i];
        r[i].id_len = strlen(ids[i]);
        r[i].vector = v + i * D;
    }
    cr_assert_eq(cvs_put(d, r, N, 0, NULL, NULL), 0, "%s", cvs_errmsg(d));
    free(v);
    free(r);
    free(ids);
}

/* The in-memory lists a search of t's snapshot scans. */
static cvs_ivf *lists_of(cvs_db *d, cvs_txn *t)
{
    cvs_ivf_params *p = NULL;
    struct cvs_codec *codec = NULL;
    cvs_ivf *ix = NULL;
    cr_assert_eq(cvs__codec_for_txn(d, t->txn, &codec, NULL), 0);
    cr_assert_eq(cvs__ivf_params_for_txn(d, t->txn, &p), 0);
    cr_assert_not_null(p);
    cr_assert_eq(cvs__ivf_acquire(d, t->txn, p, codec, &ix), 0, "%s", cvs_errmsg(d));
    cvs__ivf_release(d, ix);
    return ix;
}

Test(tune_pin, an_older_build_is_searched_from_its_pinned_lists)
{
    cvs_create_opts co = {.dim = D, .metric = CVS_METRIC_L2, .raw = CVS_RAW_F32};
    cvs_build_opts bo = {.index = "ivf32,sq8"};
    cvs_search_params sp = {.flags = CVS_SEARCH_ANN, .nprobe = 4, .rerank = 20, .threads = 1};
    char *dir = NULL;
    cvs_db *db = NULL;
    cvs_txn *old = NULL, *now = NULL;
    float q[NQ * D], s0[NQ * 10], s1[NQ * 10];
    int64_t l0[NQ * 10], l1[NQ * 10];

    tu_store_create(&co, NULL, &dir, &db);
    put_random(db);
    tu_randvecs(q, NQ * D, 99);
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &old), 0);
    cr_assert_eq(cvs__ivf_pin(old), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_search_params(old, q, NQ, 10, &sp, l0, s0), 0, "%s", cvs_errmsg(db));
    cvs_ivf *pinned = cvs__codes(db)->ivf_pin;
    cr_assert_not_null(pinned);

    /* A newer build replaces the shared lists; the old snapshot still
     * answers from the pinned ones, as before, and the new one from its own. */
    bo.index = "ivf8,sq8";
    cr_assert_eq(cvs_build(db, "pq8x4", &bo), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(cvs_txn_begin(db, &now), 0);
    cr_assert_eq(lists_of(db, old), pinned, "the old snapshot scans the pinned lists");
    cr_assert_neq(lists_of(db, now), pinned);
    cr_assert_eq(lists_of(db, now)->nlist, 8);
    cr_assert_eq(cvs_txn_search_params(old, q, NQ, 10, &sp, l1, s1), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(memcmp(l0, l1, sizeof l0), 0, "the old build's answers");
    /* Its codec and parameters are decoded once, not on every search
     * (index/gencache.c finds the retired ones by generation). */
    {
        struct cvs_codec *c1, *c2;
        cvs_ivf_params *p1, *p2, *pn;
        cr_assert_eq(cvs__codec_for_txn(db, old->txn, &c1, NULL), 0);
        cr_assert_eq(cvs__codec_for_txn(db, old->txn, &c2, NULL), 0);
        cr_assert_eq(c1, c2);
        cr_assert_eq(cvs__ivf_params_for_txn(db, old->txn, &p1), 0);
        cr_assert_eq(cvs__ivf_params_for_txn(db, old->txn, &p2), 0);
        cr_assert_eq(cvs__ivf_params_for_txn(db, now->txn, &pn), 0);
        cr_assert_eq(p1, p2);
        cr_assert_eq(p1->nlist, 32);
        cr_assert_eq(pn->nlist, 8);
    }
    cr_assert_eq(memcmp(s0, s1, sizeof s0), 0);
    cvs_txn_end(now);

    /* Unpinned, the old snapshot still answers the same (a private copy
     * loaded for each search). */
    cvs__ivf_unpin(db);
    cr_assert_null(cvs__codes(db)->ivf_pin);
    cr_assert_eq(cvs_txn_search_params(old, q, NQ, 10, &sp, l1, s1), 0, "%s", cvs_errmsg(db));
    cr_assert_eq(memcmp(l0, l1, sizeof l0), 0);
    cvs_txn_end(old);

    /* Pinned at close: the handle drops it. */
    cr_assert_eq(cvs_txn_begin(db, &old), 0);
    cr_assert_eq(cvs__ivf_pin(old), 0);
    cvs_txn_end(old);
    tu_store_remove(&dir, &db);
}
