#!/usr/bin/python3
"""How the built-in `use` encoder and the question's words rank the sentence
that holds a SQuAD answer (query/sentsel.c deviation 31, docs/BENCHMARKS.md,
"A trained sentence encoder as the scorer").

Over the SQuAD half's paragraphs (squad2-test-half/corpus.jsonl) split into
sentences at full stops, for each answerable question of the hand-labelled
sample (bench/data/squad2-test-half-answers.jsonl), the answer's sentence is
the first sentence of the gold paragraph holding a normalized answer (SQuAD's
normalization: lower case, no punctuation, no articles).  Every sentence of
the corpus is scored three ways:

  c(s)    max(0, cos(USE(question), USE(sentence))): the `use` embedder of a
          scratch store, each sentence embedded alone;
  lex(s)  the share of the question's idf mass the sentence's words hold
          (BM25's idf over the paragraphs, the question's wh-words left out,
          as sentsel.c's deviation 16 does; words matched exactly);
  sum     lex(s) + w * c(s), w = 1/2 and 1.

and the script prints, per half, how often the answer's sentence is first
and among the first five of the corpus's sentences, first among its own
paragraph's, first by c where not by lex and the reverse.  With --per-question
(a file of `cvstore-bench context --embedder use --unit sentence --budgets 128
--per-question P`) it also counts, over the questions whose 128-token set
misses the answer, how often each score puts the answer's sentence first.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/sentuse-ranks.py \
        [--data /work/shared/data] [--per-question P]

Needs numpy, the built library (build/libcvstore.so.0 of this checkout or
CVSTORE_LIB) and the use model (scripts/fetch-use.sh).
"""
import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
import cvstore  # noqa: E402

WH = {"what", "when", "where", "why", "how", "whom", "whose", "whether"}
WORD = re.compile(r"[a-z0-9]+")


def norm(s):
    """SQuAD's answer normalization."""
    s = s.lower()
    s = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in s)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def words(s):
    return WORD.findall(s.lower())


def split_sentences(text):
    """At a full stop (or ? !) followed by a space and a capital or digit."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text.strip())
    return [p for p in parts if p]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("CVSTORE_DATA", "/work/shared/data"))
    ap.add_argument("--answers", default=str(ROOT / "bench/data/squad2-test-half-answers.jsonl"))
    ap.add_argument("--per-question", help="cvstore-bench context --per-question file "
                    "(use stores, sentence unit, budget 128)")
    args = ap.parse_args()

    corpus = [json.loads(l) for l in open(Path(args.data) / "squad2-test-half/corpus.jsonl")]
    sents, para_of = [], []
    first = {}
    for p in corpus:
        first[p["id"]] = len(sents)
        for s in split_sentences(p["text"]):
            sents.append(s)
            para_of.append(p["id"])
    para_of = np.array(para_of)

    # BM25's idf over the paragraphs (title and text, as the store indexes them).
    df = Counter()
    for p in corpus:
        df.update(set(words(p["title"] + " " + p["text"])))
    n = len(corpus)
    idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    swords = [set(words(s)) for s in sents]

    qs = []
    for l in open(args.answers):
        q = json.loads(l)
        if not q.get("answerable"):
            continue
        answers = [norm(a) for a in q["answers"] if norm(a)]
        lo = first[q["gold"]]
        hi = lo
        while hi < len(sents) and para_of[hi] == q["gold"]:
            hi += 1
        target = next((i for i in range(lo, hi) if any(a in norm(sents[i]) for a in answers)), None)
        if target is None:
            continue  # the answer spans two sentences
        qs.append((q, target, lo, hi))

    with tempfile.TemporaryDirectory() as tmp:
        with cvstore.open(os.path.join(tmp, "use.cvs"), create=True, embedder="use") as db:
            sv = np.concatenate([db.embed(sents[i:i + 64]) for i in range(0, len(sents), 64)])
            qv = db.embed([q["question"] for q, _, _, _ in qs])
    sv /= np.maximum(np.linalg.norm(sv, axis=1, keepdims=True), 1e-12)
    qv /= np.maximum(np.linalg.norm(qv, axis=1, keepdims=True), 1e-12)

    missed = None
    if args.per_question:
        missed = set()
        for l in open(args.per_question):
            r = json.loads(l)
            if r.get("set") != "squad" or 128 not in r["budgets"]:
                continue
            if r["answer"][r["budgets"].index(128)] == 0:
                missed.add(r["id"])

    print(f"{len(corpus)} paragraphs, {len(sents)} sentences; answerable labelled questions "
          f"with the answer in one sentence: {len(qs)}")
    for half in ("A", "B"):
        rows = [(k, x) for k, x in enumerate(qs) if x[0]["half"] == half]
        tot = Counter()
        for k, (q, target, lo, hi) in rows:
            qw = [w for w in set(words(q["question"])) if w not in WH]
            mass = sum(idf.get(w, 0) for w in qw) or 1
            lex = np.array([sum(idf.get(w, 0) for w in qw if w in sw) / mass for sw in swords])
            c = np.maximum(0, sv @ qv[k])
            scores = {"c": c, "lex": lex, "lex+c/2": lex + 0.5 * c, "lex+c": lex + c}
            top = {}
            for name, s in scores.items():
                rank = int((s > s[target]).sum())  # ties go to the answer's sentence
                top[name] = rank == 0
                tot[name + " top1"] += rank == 0
                tot[name + " top5"] += rank < 5
                tot[name + " para top1"] += int((s[lo:hi] > s[target]).sum()) == 0
            tot["c right, lex wrong"] += top["c"] and not top["lex"]
            tot["lex right, c wrong"] += top["lex"] and not top["c"]
            if missed is not None and q["id"] in missed:
                tot["missed"] += 1
                tot["missed: c top1"] += top["c"]
                tot["missed: lex top1"] += top["lex"]
                tot["missed: c alone top1"] += top["c"] and not top["lex"]
        m = len(rows)
        print(f"half {half}: {m} questions")
        for name in ("c", "lex", "lex+c/2", "lex+c"):
            print(f"  {name:8s} first {tot[name + ' top1'] / m:.3f}  top five "
                  f"{tot[name + ' top5'] / m:.3f}  first in its paragraph "
                  f"{tot[name + ' para top1'] / m:.3f}")
        print(f"  c first where lex is not: {tot['c right, lex wrong']}; "
              f"lex first where c is not: {tot['lex right, c wrong']}")
        if missed is not None:
            print(f"  missed at 128 tokens: {tot['missed']}; answer's sentence first by c "
                  f"{tot['missed: c top1']}, by lex {tot['missed: lex top1']}, by c alone "
                  f"{tot['missed: c alone top1']}")


if __name__ == "__main__":
    main()
