/*
 * select.c -- choosing a context set from a pool of candidates under a
 * token budget: top-k, MMR, and the default, diversity-aware submodular
 * selection.
 *
 * Every strategy sees the same input: n candidates with a relevance r_i >= 0
 * (query/context.c: fused BM25 + vector score plus what the graph walk
 * carried to it), a cost c_i in tokens (cvs_tokens_estimate), unit vectors
 * v_i, and the budget B.  The similarity of two candidates is the cosine
 * s_ij = v_i . v_j.
 *
 * topk: candidates by decreasing r_i; each one that still fits goes in (a
 * long one that does not fit is skipped and shorter ones after it may still
 * go in), so the budget is never exceeded.
 *
 * mmr: Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking for
 * Reordering Documents and Producing Summaries", SIGIR 1998: repeatedly add
 * argmax_i  lambda r_i - (1 - lambda) max_{j in S} s_ij  among candidates
 * that fit.  lambda = 1 is top-k's order exactly.
 *
 * diverse: greedy maximization of the monotone submodular function
 *
 *   f(S) = sum_{i in S} r_i  +  beta * sum_{p in P} r_p max_{j in S} s+_pj / sum_{p in P} r_p
 *
 * with P the whole pool, s+ = max(s, 0) and beta = opts->coverage.  The
 * first term rewards relevant items; the second is a relevance-weighted
 * facility location (Cornuéjols, Fisher & Nemhauser 1977; used for
 * summarization by Lin & Bilmes, ACL 2011): the pool is "covered" by the
 * set when every relevant candidate has something similar in it, so a
 * second near-copy of a chosen passage adds almost nothing while a passage
 * about another part of the question (the second hop) adds much.  A sum of
 * a modular and a facility-location function with non-negative weights is
 * monotone submodular (Nemhauser, Wolsey & Fisher 1978), so greedy
 * selection has its classic guarantees.  With costs, the greedy step takes
 * the best gain per token, evaluated lazily (Minoux 1978; the CELF variant
 * of Leskovec et al., KDD 2007: stale gains are upper bounds).  Khuller,
 * Moss & Naor (1999) and Lin & Bilmes (2010) compare that result with the
 * best single item that fits for a constant-factor guarantee; we start
 * from the most relevant item instead (deviation 5).
 *
 * Where we deviate or choose:
 *   1. Near-duplicates are suppressed outright in diverse and mmr (for
 *      lambda < 1, so that lambda = 1 stays top-k's order): a
 *      candidate whose cosine with a chosen item exceeds dup_threshold,
 *      or that is a near-copy of one by its words (cvs_pool.copy,
 *      context.c deviation 9), is never added, whatever its gain (the
 *      objective already discounts them; the hard rule also catches
 *      copies of a short item whose tiny cost would otherwise make them
 *      look cheap).
 *   2. The pool P is the candidates, not the whole corpus: coverage of what
 *      the search and the walk found, not of the store.
 *   3. The gain per token divides by the cost raised to 0.25 (COST_EXP),
 *      not by the cost: pure gain/cost over-rewards very short passages (a
 *      one-line stub beats the passage that holds the answer).  Measured
 *      full-support at 512 tokens (at commit 77016c4; cvstore-bench
 *      context, first 300
 *      HotpotQA questions / all 200 MuSiQue): exponent 1: 0.64 / 0.13,
 *      0.75: 0.68 / 0.14, 0.25: 0.74 / 0.15, 0: 0.73 / 0.17 (0 is plain
 *      greedy, no longer cost-aware; 0.25 keeps a preference for short
 *      items at equal gain).
 *   4. Ties break on the lower pool index (higher relevance), so results
 *      are deterministic.
 *   5. diverse picks first the most relevant candidate that fits, then
 *      goes on greedily, and never swaps the set for the best single item:
 *      the gain per token and that single item both trade the most
 *      relevant passage for a shorter or more "central" one, which at a
 *      small budget is the evidence lost.  With context.c's deviation 7,
 *      measured full support at 256 / 512 / 1024 tokens (half A; first 600
 *      SQuAD-half questions / HotpotQA / MuSiQue, clean): cost-aware first
 *      pick and the single-item swap 0.705 / 0.898 / 0.949, 0.493 / 0.803
 *      / 0.922, 0.097 / 0.183 / 0.355; most relevant first 0.752 / 0.873
 *      / 0.946, 0.496 / 0.800 / 0.922, 0.097 / 0.194 / 0.355.
 *   6. diverse takes top-k's set when that set holds no two near-copies
 *      by words (cvs_pool.copy); only when it does is the set chosen by
 *      the objective above.  The coverage term is there to stop a set
 *      from spending its budget on redundant passages; where relevance
 *      order puts none in the set it can only trade relevance for
 *      centrality.  A rule for that reason, not chosen by a figure: on
 *      half A of cvstore-bench context (clean) the full diverse objective
 *      and top-k were within 0.011 of each other at 256 / 512 tokens on
 *      all three sets, while half B showed what it costs (diverse minus
 *      top-k at 256 / 512 / 1024: MuSiQue -0.037 / -0.075 / -0.019, SQuAD
 *      half 0 / -0.014 / 0).  With the rule, half B: MuSiQue 0 / 0 /
 *      +0.009, SQuAD half 0 / 0 / 0, HotpotQA 0 / 0 / -0.003; on the
 *      redundant variants, where top-k's set holds copies, diverse stays
 *      ahead at 512 (SQuAD half +0.042, HotpotQA +0.171, MuSiQue +0.028).
 *      There the objective chooses nearly every set (63 of MuSiQue's 93
 *      half-A questions on its redundant variant, 5 on the clean one), and
 *      on MuSiQue its gain per token costs a gold passage in 6 of the 15
 *      question-budgets that clean gets and redundant misses; top-k's order
 *      with copies skipped instead of it was tried and not taken: it costs
 *      HotpotQA redundant five questions at 1024 tokens, where the gain per
 *      token fits more passages (context.c deviation 10).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "query/context.h"

#define COST_EXP 0.25

static double cost_pow(size_t c)
{
    return pow((double)(c ? c : 1), COST_EXP);
}

static int fits(size_t used, size_t c, size_t budget)
{
    return c <= budget && used + c <= budget;
}

static size_t sel_topk(const cvs_pool *p, size_t budget, size_t *order)
{
    size_t used = 0, m = 0;
    /* The pool is sorted by decreasing relevance already. */
    for (size_t i = 0; i < p->n; i++)
        if (fits(used, p->cost[i], budget)) {
            order[m++] = i;
            used += p->cost[i];
        }
    return m;
}

/* 1 if candidate i is a near-copy by words of one of the m chosen. */
static int copies_chosen(const cvs_pool *p, size_t i, const size_t *order, size_t m)
{
    for (size_t j = 0; p->copy && j < m; j++)
        if (p->copy(p->copy_ctx, i, order[j]))
            return 1;
    return 0;
}

/* 1 if two of the m chosen candidates are near-copies by words. */
static int chosen_copies(const cvs_pool *p, const size_t *order, size_t m)
{
    for (size_t i = 1; p->copy && i < m; i++)
        if (copies_chosen(p, order[i], order, i))
            return 1;
    return 0;
}

static size_t sel_mmr(const cvs_pool *p, size_t budget, float lambda, float dup,
                      size_t *order, float *maxsim, unsigned char *taken)
{
    size_t used = 0, m = 0;
    for (size_t i = 0; i < p->n; i++) {
        maxsim[i] = 0;
        taken[i] = 0;
    }
    for (;;) {
        size_t best = p->n;
        float bv = -INFINITY;
        for (size_t i = 0; i < p->n; i++) {
            if (taken[i] || !fits(used, p->cost[i], budget) ||
                (m && lambda < 1 && (maxsim[i] > dup || copies_chosen(p, i, order, m))))
                continue;
            float v = lambda * p->rel[i] - (1 - lambda) * (m ? maxsim[i] : 0);
            if (v > bv) {
                bv = v;
                best = i;
            }
        }
        if (best == p->n)
            break;
        taken[best] = 1;
        order[m++] = best;
        used += p->cost[best];
        for (size_t i = 0; i < p->n; i++) {
            float s = p->sim[i * p->n + best];
            if (s > maxsim[i])
                maxsim[i] = s;
        }
    }
    return m;
}

/* Gain of adding i given cover[p] = max_{j in S} s+_pj. */
static double gain(const cvs_pool *p, const float *cover, size_t i, double beta, double wsum)
{
    double g = 0;
    const float *row = p->sim + i * p->n;
    for (size_t q = 0; q < p->n; q++) {
        float s = row[q] > 0 ? row[q] : 0;
        if (s > cover[q])
            g += p->rel[q] * (s - cover[q]);
    }
    return p->rel[i] + beta * g / wsum;
}

static size_t sel_diverse(const cvs_pool *p, size_t budget, float beta, float dup,
                          size_t *order, float *cover, unsigned char *taken, double *ub)
{
    size_t used = 0, m = 0;
    double wsum = 0;
    for (size_t i = 0; i < p->n; i++) {
        wsum += p->rel[i];
        cover[i] = 0;
        taken[i] = 0;
    }
    if (wsum <= 0)
        wsum = 1;
    /* Initial gains are exact (S empty), later upper bounds. */
    for (size_t i = 0; i < p->n; i++)
        ub[i] = gain(p, cover, i, beta, wsum);
    /* The most relevant candidate that fits goes first (the essay, 5). */
    for (size_t i = 0; i < p->n; i++)
        if (fits(used, p->cost[i], budget)) {
            taken[i] = 1;
            order[m++] = i;
            used += p->cost[i];
            for (size_t q = 0; q < p->n; q++) {
                float s = p->sim[i * p->n + q];
                if (s > cover[q])
                    cover[q] = s;
            }
            break;
        }
    for (;;) {
        /* Lazy greedy: re-evaluate the best upper bound per token until the
         * re-evaluated one stays on top. */
        size_t best = p->n;
        for (;;) {
            double bv = -INFINITY;
            best = p->n;
            for (size_t i = 0; i < p->n; i++) {
                if (taken[i] == 1 || taken[i] == 3 || !fits(used, p->cost[i], budget))
                    continue;
                double v = ub[i] / cost_pow(p->cost[i]);
                if (v > bv) {
                    bv = v;
                    best = i;
                }
            }
            if (best == p->n)
                break;
            if (taken[best] == 2) /* fresh this round */
                break;
            if (m) {
                float ms = 0;
                for (size_t j = 0; j < m; j++)
                    if (p->sim[best * p->n + order[j]] > ms)
                        ms = p->sim[best * p->n + order[j]];
                if (ms > dup || copies_chosen(p, best, order, m)) {
                    taken[best] = 3; /* suppressed near-duplicate */
                    continue;
                }
            }
            ub[best] = gain(p, cover, best, beta, wsum);
            taken[best] = 2;
        }
        for (size_t i = 0; i < p->n; i++)
            if (taken[i] == 2)
                taken[i] = 0;
        if (best == p->n)
            break;
        taken[best] = 1;
        order[m++] = best;
        used += p->cost[best];
        for (size_t q = 0; q < p->n; q++) {
            float s = p->sim[best * p->n + q];
            if (s > cover[q])
                cover[q] = s;
        }
    }
    return m;
}

int cvs__select(const cvs_pool *p, cvs_context_strategy strategy, size_t budget, float lambda,
                float coverage, float dup, size_t *order, size_t *nsel)
{
    float *fs = NULL;
    unsigned char *taken = NULL;
    double *ub = NULL;
    int rc = CVS_OK;

    *nsel = 0;
    if (p->n == 0)
        return CVS_OK;
    if (strategy == CVS_CONTEXT_MMR || strategy == CVS_CONTEXT_DIVERSE) {
        if (!(fs = malloc(p->n * sizeof *fs)) || !(taken = malloc(p->n)) ||
            !(ub = malloc(p->n * sizeof *ub))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory selecting a context");
            goto out;
        }
    }
    switch (strategy) {
    case CVS_CONTEXT_MMR:
        *nsel = sel_mmr(p, budget, lambda, dup, order, fs, taken);
        break;
    case CVS_CONTEXT_DIVERSE:
        /* Top-k's set when it holds no near-copies (the essay, 6). */
        if (p->copy && (*nsel = sel_topk(p, budget, order), !chosen_copies(p, order, *nsel)))
            break;
        *nsel = sel_diverse(p, budget, coverage, dup, order, fs, taken, ub);
        break;
    default:
        *nsel = sel_topk(p, budget, order);
        break;
    }
out:
    free(fs);
    free(taken);
    free(ub);
    return rc;
}
