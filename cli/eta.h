/*
 * eta.h -- the progress bar's rate and time left, from a recent window.
 *
 * The bar showed elapsed * (1 - f) / f: the whole phase's average pace
 * carried to the end.  Long work does not keep its pace: an import fills the
 * page cache and deepens LMDB's B-trees, k-means passes get no faster, a
 * kNN pass slows as the graph fills; so the first minutes, the fastest,
 * made the estimate of a two-hour import read forty minutes.  Honest is the
 * pace of the recent past: the time left is the work left over the rate
 * measured across the last CLI_ETA_WINDOW seconds, the estimate a
 * download manager or `pv` gives.
 *
 *  1. The window is fixed (20 s), not a share of the elapsed time: a share
 *     of a two-hour run is half an hour of stale pace.  Over 20 s a bar
 *     redrawn ten times a second has 200 reports: noise averages out.
 *  2. Samples are kept at least CLI_ETA_STEP apart, in a ring that holds
 *     the window: reports come as often as the library likes (every batch),
 *     and only their spread in time matters.  The newest report is always
 *     the window's end.
 *  3. No estimate before CLI_ETA_MIN_SPAN seconds of reports, or while no
 *     work has been done across the window (a stall has no finite answer:
 *     the bar shows none rather than a number it cannot back).
 *
 * Header-only so the CLI and its tests (tests/test_cli.c: synthetic timings)
 * share one copy; the clock is the caller's, which is what makes it testable.
 */
#ifndef CVS_CLI_ETA_H
#define CVS_CLI_ETA_H

#include <stdint.h>

#define CLI_ETA_WINDOW 20.0   /* seconds of reports the rate is measured over */
#define CLI_ETA_STEP 0.25     /* seconds between kept samples */
#define CLI_ETA_MIN_SPAN 0.5  /* seconds of reports before any estimate */
#define CLI_ETA_RING 96       /* > WINDOW / STEP, so the ring spans the window */

typedef struct cli_eta {
    double t[CLI_ETA_RING];     /* when */
    double frac[CLI_ETA_RING];  /* the fraction done then (-1: unknown) */
    double done[CLI_ETA_RING];  /* the count done then */
    unsigned head, n;           /* the ring: oldest at (head + RING - n) % RING */
    double now_t, now_frac, now_done; /* the newest report */
    int have_now;
} cli_eta;

static inline void cli_eta_reset(cli_eta *e)
{
    e->head = e->n = 0;
    e->have_now = 0;
}

/* One report at time t (seconds, any origin, not decreasing): count done,
 * fraction frac of the whole (-1 when the total is unknown). */
static inline void cli_eta_add(cli_eta *e, double t, double done, double frac)
{
    unsigned last = (e->head + CLI_ETA_RING - 1) % CLI_ETA_RING;
    if (!e->n || t - e->t[last] >= CLI_ETA_STEP) {
        e->t[e->head] = t;
        e->frac[e->head] = frac;
        e->done[e->head] = done;
        e->head = (e->head + 1) % CLI_ETA_RING;
        if (e->n < CLI_ETA_RING)
            e->n++;
    }
    e->now_t = t;
    e->now_frac = frac;
    e->now_done = done;
    e->have_now = 1;
}

/* The oldest kept sample inside the window ending at the newest report;
 * -1 when the reports span less than CLI_ETA_MIN_SPAN. */
static inline int cli_eta_start(const cli_eta *e)
{
    for (unsigned k = e->n; k > 0; k--) {
        unsigned i = (e->head + CLI_ETA_RING - k) % CLI_ETA_RING;
        if (e->now_t - e->t[i] <= CLI_ETA_WINDOW)
            return e->now_t - e->t[i] >= CLI_ETA_MIN_SPAN ? (int)i : -1;
    }
    return -1;
}

/* The count per second across the window; -1 when there is none yet. */
static inline double cli_eta_rate(const cli_eta *e)
{
    int i = e->have_now ? cli_eta_start(e) : -1;
    if (i < 0 || e->now_done < e->done[i])
        return -1;
    return (e->now_done - e->done[i]) / (e->now_t - e->t[i]);
}

/* Seconds left at the window's pace; -1 when unknown (no total, too early,
 * no progress across the window, or done). */
static inline double cli_eta_seconds(const cli_eta *e)
{
    int i = e->have_now ? cli_eta_start(e) : -1;
    double df;
    if (i < 0 || e->frac[i] < 0 || e->now_frac < 0 || e->now_frac >= 1)
        return -1;
    if ((df = e->now_frac - e->frac[i]) <= 0)
        return -1;
    return (1 - e->now_frac) * (e->now_t - e->t[i]) / df;
}

#endif
