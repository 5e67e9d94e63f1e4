#!/usr/bin/python3
"""fit-sentsel.py -- fit query/sentsel.c's sentence model (its deviation 18).

A logistic regression over the features cvs__sentsel computes for each
candidate unit, the way RECOMP's and EXIT's extractive compressors are
trained (Xu et al. 2023; Hwang et al. 2024) but linear, with numpy alone
(Debian's python3-numpy; no pip).  Input: the lines `cvstore-bench context
--features FILE` writes (one per candidate unit of the `default/sentence`
method, clean variant).  Usage:

  build/cvstore-bench context --data ../shared/data \\
      --sets hotpotqa,musique,squad:600 --variants clean --methods default \\
      --unit sentence --budgets 64,128,256,512 --features /tmp/feat.tsv
  /usr/bin/python3 scripts/fit-sentsel.py /tmp/feat.tsv [--train hotpotqa,musique]

Labels.  A unit is positive when it holds one of the question's gold
supporting sentences (HotpotQA's gold_sentences, where the question lists
them), or when it is a gold passage's unit that holds the answer string.  A
unit of a passage that is not gold is negative.  A gold passage's unit that
holds no answer, in a question that lists no gold sentences, has no label
(it may be the first hop's supporting sentence) and is left out.

Fitting.  Half A only (the bench's halves, by a hash of the question id) of
the --train sets (default hotpotqa); features standardized on the training
rows, L2 penalty LAMBDA on the standardized weights (not the intercept),
each class weighted to half of the total (so the probability is about 1/2
where the evidence is even, on the scale of the hand-made relevance), fitted
by Newton's method.  The weights are printed back on the raw features' scale,
as the C constants LR_W / LR_B.  Then, for every set and half: the log loss,
and the area under the ROC curve and the mean per-question average precision
of the model and of the hand-made relevance's ingredients alone (lexical
coverage), so the model's ranking can be compared with the features'.
"""
import sys

import numpy as np

FEATURES = ["lex", "tlex", "rel", "rank", "lead", "pos", "len", "walk", "qnamed",
            "names", "namedby", "num"]
LAMBDA = 1.0
COL0 = 13  # first feature column


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows.append(c)
    return rows


def labels(rows):
    """(y, keep) per row, as the module's docstring says."""
    y = np.zeros(len(rows))
    keep = np.ones(len(rows), bool)
    for i, c in enumerate(rows):
        has_gs, gold, gsent, ans = int(c[3]), int(c[7]), int(c[8]), int(c[9])
        if gsent or (gold and ans):
            y[i] = 1
        elif gold and not has_gs:
            keep[i] = False
    return y, keep


def fit(X, y, lam=LAMBDA, balanced=True):
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    pos = y.sum()
    sw = np.where(y > 0, 0.5 * len(y) / pos, 0.5 * len(y) / (len(y) - pos))
    if not balanced:
        sw = np.ones(len(y))
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], lam)
    reg[-1] = 0
    for _ in range(50):
        p = 1 / (1 + np.exp(-Z @ w))
        g = Z.T @ (sw * (p - y)) + reg * w
        H = (Z * (sw * p * (1 - p))[:, None]).T @ Z + np.diag(reg)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    raw = w[:-1] / sd
    b = w[-1] - (raw * mu).sum()
    return raw, b


def auc(s, y):
    order = np.argsort(s, kind="mergesort")
    r = np.empty(len(s))
    r[order] = np.arange(1, len(s) + 1)
    # ties: average ranks
    _, inv, cnt = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    r = (sums / cnt)[inv]
    npos = y.sum()
    nneg = len(y) - npos
    return (r[y > 0].sum() - npos * (npos + 1) / 2) / (npos * nneg) if npos and nneg else float("nan")


def mean_ap(s, y, q):
    aps = []
    for qid in np.unique(q):
        m = q == qid
        if y[m].sum() == 0:
            continue
        o = np.argsort(-s[m], kind="mergesort")
        yy = y[m][o]
        hits = np.cumsum(yy)
        aps.append((hits / np.arange(1, len(yy) + 1))[yy > 0].mean())
    return float(np.mean(aps)) if aps else float("nan")


def main():
    path = sys.argv[1]
    train_sets = ["hotpotqa"]
    if "--train" in sys.argv:
        train_sets = sys.argv[sys.argv.index("--train") + 1].split(",")
    rows = load(path)
    X = np.array([[float(v) for v in c[COL0:COL0 + len(FEATURES)]] for c in rows])
    y, keep = labels(rows)
    st = np.array([c[0] for c in rows])
    half = np.array([c[1] for c in rows])
    qid = np.array([c[0] + ":" + c[2] for c in rows])
    multi = np.array([c[10] == "0" for c in rows])
    keep &= multi  # the model scores the questions taken for multi-hop only
    if "--answer" in sys.argv:  # label: the answer's unit of a gold passage only
        y = np.array([float(c[7] == "1" and c[9] == "1") for c in rows])
        keep &= ~np.array([c[7] == "1" and c[9] == "0" for c in rows])
    tr = keep & (half == "A") & np.isin(st, train_sets)
    print(f"training rows {tr.sum()} ({int(y[tr].sum())} positive) from half A of "
          f"{','.join(train_sets)}; L2 {LAMBDA} on standardized weights")
    w, b = fit(X[tr], y[tr], balanced="--natural" not in sys.argv)
    print("\n/* fitted weights, raw feature scale */")
    print("static const double LR_W[NFEAT] = {")
    for name, v in zip(FEATURES, w):
        print(f"    {v:+.4f}, /* F_{name.upper()} */")
    print("};")
    print(f"static const double LR_B = {b:+.4f};")
    print("one line: " + ",".join(f"{v:.4f}" for v in list(w) + [b]) + "\n")
    print("set       half  rows   pos   logloss  AUC(model) AUC(lex)  MAP(model) MAP(lex)")
    for s in sorted(set(st)):
        for h in ("A", "B"):
            m = keep & (st == s) & (half == h)
            if not m.any() or y[m].sum() == 0:
                continue
            z = X[m] @ w + b
            p = 1 / (1 + np.exp(-z))
            ll = -np.mean(y[m] * np.log(p + 1e-12) + (1 - y[m]) * np.log(1 - p + 1e-12))
            lex = X[m][:, FEATURES.index("tlex")] + 1e-3 * X[m][:, FEATURES.index("rel")]
            print(f"{s:9s} {h:4s} {m.sum():6d} {int(y[m].sum()):5d}  {ll:.4f}   "
                  f"{auc(z, y[m]):.4f}     {auc(lex, y[m]):.4f}    "
                  f"{mean_ap(z, y[m], qid[m]):.4f}     {mean_ap(lex, y[m], qid[m]):.4f}")


if __name__ == "__main__":
    main()
