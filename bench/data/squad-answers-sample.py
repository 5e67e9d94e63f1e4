#!/usr/bin/env python3
"""Draws the fixed sample of squad2-test-half questions that
squad-answers.jsonl labels: 200 questions of each half as
bench/bench_context.c defines the halves (half A when the top bit of
FNV-1a-64 of the question id is 0), drawn with random.Random(16).sample
from each half's questions in queries.jsonl order.  Prints one JSON line
per sampled question (id, half, question, gold paragraph id), sorted by
paragraph, for the labeller to read beside the paragraph.

Usage: squad-answers-sample.py DIR   (DIR holds queries.jsonl)
"""
import json
import random
import sys

SEED, PER_HALF = 16, 200


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    qs = [json.loads(l) for l in open(sys.argv[1] + "/queries.jsonl")]
    rng = random.Random(SEED)
    out = []
    for half in (0, 1):
        pool = [q for q in qs if fnv1a64(q["id"]) >> 63 == half]
        for q in rng.sample(pool, PER_HALF):
            out.append({"id": q["id"], "half": "AB"[half], "question": q["question"],
                        "gold": q["gold_ids"][0]})
    out.sort(key=lambda q: (q["gold"], q["id"]))
    for q in out:
        print(json.dumps(q))


if __name__ == "__main__":
    main()
