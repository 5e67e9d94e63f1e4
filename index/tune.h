/*
 * tune.h -- the head-to-head that decides between two IVF builds in
 * cvs_tune's rebuild step (index/tune.c deviation 4), exposed so that the
 * tests can drive it with injected timings.  Internal.
 */
#ifndef CVS_TUNE_H
#define CVS_TUNE_H

#include <stddef.h>

/* One finalist: its passing setting's recall bound and, when the search for
 * it measured one, the failing setting's below it (deviation 8 interpolates
 * between them), and what the head-to-head found. */
typedef struct cvs__tune_side {
    int have_lo;             /* a failing setting was measured below */
    double lo_lb, hi_lb;     /* their recall lower bounds (deviation 5) */
    double cost;             /* out: the median over rounds of its ms per
                                query at the target */
} cvs__tune_side;

/* Times one run of the sample with side's (0: the best so far, 1: the
 * challenger) passing setting (lo 0) or failing one (lo 1): *ms per query.
 * A nonzero return stops the head-to-head and is returned. */
typedef int (*cvs__tune_run_fn)(void *ctx, int side, int lo, double *ms);

/* Deviation 4's head-to-head of two finalists: rounds rounds, each timing
 * both sides' settings back to back in a mirrored order (first second
 * second first, who goes first alternating by round), so that a load that
 * rises or falls during a round weighs on both alike.  Each round gives
 * each side its cost at target (deviation 8, from the mean of its two runs
 * of each setting); *challenger_wins is set when side 1 was the cheaper in
 * at least cvs__tune_duel_need(rounds) rounds.  s[i].cost gets each side's
 * median cost. */
int cvs__tune_duel(cvs__tune_side s[2], double target, size_t rounds, cvs__tune_run_fn run,
                   void *ctx, int *challenger_wins);

/* The fewest of rounds wins that two equally fast sides reach with
 * probability at most 10% (a one-sided sign test): 7 of 9. */
size_t cvs__tune_duel_need(size_t rounds);

#endif
