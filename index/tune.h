/*
 * tune.h -- the head-to-head that decides between two IVF builds in
 * cvs_tune's rebuild step (index/tune.c deviation 4), exposed so that the
 * tests can drive it with injected timings.  Internal.
 */
#ifndef CVS_TUNE_H
#define CVS_TUNE_H

#include <stddef.h>

/* One setting of a finalist: its passing recall bound and, when the
 * search for it measured one, the failing setting's below it (deviation 8
 * interpolates between them), and what the head-to-head found. */
typedef struct cvs__tune_side {
    int have_lo;             /* a failing setting was measured below */
    double lo_lb, hi_lb;     /* their recall lower bounds (deviation 5) */
    double cost;             /* out: the median over rounds of its ms per
                                query at the target */
} cvs__tune_side;

/* Times one run of the sample with setting set of side (0: the best so
 * far, 1: the challenger), its passing (lo 0) or failing (lo 1) nprobe:
 * *ms per query.  A nonzero return stops the head-to-head and is returned. */
typedef int (*cvs__tune_run_fn)(void *ctx, int side, size_t set, int lo, double *ms);

/* Deviation 4's head-to-head of two finalists, each with n[i] >= 1 settings
 * s[i][0..n[i]-1]: rounds rounds, each timing both sides' settings back to
 * back in a mirrored order (first second second first, who goes first
 * alternating by round), so that a load that rises or falls during a round
 * weighs on both alike.  Each round gives each setting its cost at target
 * (deviation 8, from the mean of its two runs of each nprobe) and each side
 * the least of its settings'; *challenger_wins is set when side 1 was the
 * cheaper in at least cvs__tune_duel_need(rounds) rounds.  Every setting's
 * cost gets its median, and pick[i] the index of side i's cheapest. */
int cvs__tune_duel(cvs__tune_side *const s[2], const size_t n[2], double target, size_t rounds,
                   cvs__tune_run_fn run, void *ctx, size_t pick[2], int *challenger_wins);

/* The fewest of rounds wins that two equally fast sides reach with
 * probability at most 10% (a one-sided sign test): 7 of 9. */
size_t cvs__tune_duel_need(size_t rounds);

#endif
