#!/usr/bin/env bash
# bench_context.sh -- `cvstore-bench context` end to end on a tiny generated
# data set laid out as --data expects (multihop-qa/hotpotqa: corpus.jsonl,
# queries.jsonl, qrels.tsv) with a generated GloVe-format vocabulary: the
# CSV's columns (the embedder column of --embedder), figures that only
# come out right when gold passages and answers are read and scored
# right, --store-cache (a store made once, renamed into place when
# finished, opened by the next run with the same figures; a half-made
# store of a killed run is never taken), --answers (hand-written answers
# for the squad set, whose questions carry none: containment over the
# labelled answerable questions only), and bad input.
# usage: bench_context.sh PATH/TO/cvstore-bench PYTHON
set -uo pipefail
BENCH="$1"
PY="${2:-python3}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# 40 passages, each about one made-up entity with words of its own; each
# of 12 questions reuses three of its gold passage's rare words, and its
# answer is a fourth word of that passage.
"$PY" - "$T" <<'PY' || { echo "FAIL: generating the data" >&2; exit 1; }
import json, os, random, sys
t = sys.argv[1]
rng = random.Random(11)
d = t + "/data/multihop-qa/hotpotqa"
os.makedirs(d)
syll = ["ka", "lo", "mi", "ru", "te", "vo", "zan", "pel", "dor", "fis", "gun", "hab"]
def word():
    return "".join(rng.choice(syll) for _ in range(3))
common = "the of and a in was is by for with on at from that".split()
passages = []
for k in range(40):
    own = [word() for _ in range(6)]
    text = " ".join(rng.choice(common) + " " + w for w in own) + "."
    passages.append({"id": "p%02d" % k, "title": "Entity %s" % own[0].capitalize(),
                     "text": text, "own": own})
with open(d + "/corpus.jsonl", "w") as f:
    for p in passages:
        f.write(json.dumps({"id": p["id"], "title": p["title"], "text": p["text"]}) + "\n")
with open(d + "/queries.jsonl", "w") as q, open(d + "/qrels.tsv", "w") as r:
    r.write("query-id\tcorpus-id\tscore\n")
    for i in range(12):
        p = passages[3 * i]
        q.write(json.dumps({"id": "q%02d" % i, "question": "what %s %s %s" % tuple(p["own"][1:4]),
                            "answer": p["own"][4], "type": "bridge"}) + "\n")
        r.write("q%02d\t%s\t1\n" % (i, p["id"]))
# The squad layout: the same passages, 8 questions without answers; the
# answers come from a file of their own (--answers): q0-q2 labelled with
# their passage's answer word, q3 with a word no passage holds, q4 marked
# unanswerable, q5-q7 not labelled.  Containment is then 3 of 4, over 4.
d = t + "/data/squad2-test-half"
os.makedirs(d)
with open(d + "/corpus.jsonl", "w") as f:
    for p in passages:
        f.write(json.dumps({"id": p["id"], "title": p["title"], "text": p["text"]}) + "\n")
with open(d + "/queries.jsonl", "w") as q, open(d + "/qrels.tsv", "w") as r, \
        open(t + "/answers.jsonl", "w") as a:
    r.write("query-id\tcorpus-id\tscore\n")
    for i in range(8):
        p = passages[3 * i + 1]
        q.write(json.dumps({"id": "s%02d" % i, "question": "what %s %s %s" % tuple(p["own"][1:4])}) + "\n")
        r.write("s%02d\t%s\t1\n" % (i, p["id"]))
        if i < 3:
            a.write(json.dumps({"id": "s%02d" % i, "answers": [p["own"][4]]}) + "\n")
        elif i == 3:
            a.write(json.dumps({"id": "s%02d" % i, "answers": ["nowhereword"]}) + "\n")
        elif i == 4:
            a.write(json.dumps({"id": "s%02d" % i, "answerable": False}) + "\n")
PY
"$PY" "$(dirname "$0")/fake_glove.py" "$T/glove" "$T/data/multihop-qa/hotpotqa/corpus.jsonl" \
  || { echo "FAIL: generating the GloVe cache" >&2; exit 1; }
export CVSTORE_GLOVE_DIR="$T/glove"

run() {
  timeout 300 "$BENCH" context --data "$T/data" --sets hotpotqa --variants clean \
    --methods bm25-topk,default --budgets 256 --store-cache "$T/cache" "$@"
}
# Quality columns only (set..recall_at_5 and sentence_recall): latencies vary.
quality() { cut -d, -f1-11,15- "$1"; }

run --csv "$T/a.csv" >"$T/a.out" 2>"$T/a.err" || { cat "$T/a.err" >&2; fail "first run"; }
head -1 "$T/a.csv" | grep -q "embedder" || fail "the CSV has no embedder column: $(head -1 "$T/a.csv")"
"$PY" - "$T/a.csv" <<'PY' || fail "figures of the first run"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["half"] == "all" and r["type"] == "all"]
by = {r["method"]: r for r in rows}
assert set(by) >= {"bm25-topk", "default"}, by.keys()
for m in ("bm25-topk", "default"):
    r = by[m]
    assert r["embedder"] == "glove", r
    assert int(r["questions"]) == 12, r
    # every question copies three rare words of its one gold passage, whose
    # fourth word is the answer: BM25 puts it first, so it is in 256 tokens
    assert float(r["full_support"]) == 1.0, (m, r["full_support"])
    assert float(r["answer_contained"]) == 1.0, (m, r["answer_contained"])
    assert float(r["recall_at_2"]) == 1.0, (m, r["recall_at_2"])
PY
ls "$T/cache" >"$T/ls" 2>&1
grep -qx "hotpotqa-clean-k16-glove" "$T/ls" || fail "the cache does not hold the store: $(cat "$T/ls")"
grep -q "tmp-" "$T/ls" && fail "a temporary store was left in the cache: $(cat "$T/ls")"

# A half-made store of a killed run (its temporary name) is not taken; the
# finished one is, and gives the same figures.
mkdir -p "$T/cache/hotpotqa-clean-k16-glove.tmp-1"
run --csv "$T/b.csv" >/dev/null 2>"$T/b.err" || { cat "$T/b.err" >&2; fail "second run"; }
grep -q "store from the cache $T/cache/hotpotqa-clean-k16-glove\$" "$T/b.err" ||
  fail "the second run did not open the cached store: $(cat "$T/b.err")"
[ "$(quality "$T/a.csv")" = "$(quality "$T/b.csv")" ] ||
  fail "a cached store gave other figures: $(diff <(quality "$T/a.csv") <(quality "$T/b.csv"))"
# The cached store was not linked by this run: no "0 mention links" for it.
grep -q "imported and linked by an earlier run" "$T/b.err" ||
  fail "the cached store's line: $(grep passages "$T/b.err")"
grep -q "0 mention links, kNN recall 0.000" "$T/b.err" &&
  fail "a cached store read as one without links: $(grep passages "$T/b.err")"

# The cached store holds a stamp of what it was built from; a store built
# from other data (here the same file with one byte changed), by an older
# cvstore-bench (no stamp) or by other code (another STORE_BUILD) is built
# again, said on stderr, with the same figures; the stale one is gone.
# Before the stamp, all three were reused silently.  The data is named by
# its contents: the same file with a new modification time (data laid out
# again) is the same store.  Stamped by the time, it was built again.
stamp="$T/cache/hotpotqa-clean-k16-glove/cvstore-bench.stamp"
corpus="$T/data/multihop-qa/hotpotqa/corpus.jsonl"
[ -s "$stamp" ] || fail "the cached store has no stamp"
grep -Eq "^data blake2b-256 [0-9a-f]{64}\$" "$stamp" ||
  fail "the stamp does not hash the data file: $(cat "$stamp")"
grep -q "^format [0-9]" "$stamp" && grep -q "^store build [0-9]" "$stamp" ||
  fail "the stamp has no format or code version: $(cat "$stamp")"
rebuilt() {  # DESC: the run rebuilt the store, said why, and kept the figures
  grep -q "building it again" "$T/r.err" || fail "$1: the store was reused: $(cat "$T/r.err")"
  grep -q "store from the cache" "$T/r.err" && fail "$1: the stale store was opened"
  [ "$(quality "$T/a.csv")" = "$(quality "$T/r.csv")" ] || fail "$1: other figures"
  ls "$T/cache" | grep -q "stale-" && fail "$1: the stale store was left: $(ls "$T/cache")"
  [ -s "$stamp" ] || fail "$1: the rebuilt store has no stamp"
}
touch -d "2001-01-01" "$corpus"
run --csv "$T/r.csv" >/dev/null 2>"$T/r.err" || fail "run after the data was touched"
grep -q "store from the cache $T/cache/hotpotqa-clean-k16-glove\$" "$T/r.err" ||
  fail "the same data with a new time rebuilt the store: $(cat "$T/r.err")"
# One byte: the last passage's closing full stop (a sentence's end either
# way, so the figures stay the same).
"$PY" - "$corpus" <<'PY' || fail "changing a byte of the data"
import sys
p = sys.argv[1]
b = open(p, "rb").read()
i = b.rindex(b'."}')
open(p, "wb").write(b[:i] + b'!' + b[i + 1:])
PY
run --csv "$T/r.csv" >/dev/null 2>"$T/r.err" || fail "run after the data changed"
rebuilt "data changed"
grep -q "built from 'data blake2b-256 " "$T/r.err" ||
  fail "the changed line is not named: $(cat "$T/r.err")"
rm "$stamp"
run --csv "$T/r.csv" >/dev/null 2>"$T/r.err" || fail "run on a store without a stamp"
rebuilt "no stamp"
grep -q "has no cvstore-bench.stamp" "$T/r.err" || fail "no stamp, not said: $(cat "$T/r.err")"
sed -i 's/^store build .*/store build 0/' "$stamp"
run --csv "$T/r.csv" >/dev/null 2>"$T/r.err" || fail "run on a store of other code"
rebuilt "other code"
grep -q "built from 'store build 0'" "$T/r.err" || fail "the code version is not named: $(cat "$T/r.err")"
run --csv "$T/r.csv" >/dev/null 2>"$T/r.err" || fail "run after the rebuilds"
grep -q "store from the cache" "$T/r.err" || fail "a rebuilt store is not reused: $(cat "$T/r.err")"

# --answers: the squad set's containment is over the labelled answerable
# questions (3 of 4), and the CSV says over how many; 'none' leaves it out.
timeout 300 "$BENCH" context --data "$T/data" --sets squad --variants clean --methods default \
  --budgets 256 --answers "$T/answers.jsonl" --csv "$T/s.csv" >"$T/s.out" 2>"$T/s.err" ||
  { cat "$T/s.err" >&2; fail "squad run with --answers"; }
"$PY" - "$T/s.csv" <<'PY' || fail "squad figures with --answers"
import csv, sys
r = [r for r in csv.DictReader(open(sys.argv[1])) if r["half"] == "all" and r["type"] == "all"][0]
assert int(r["questions"]) == 8, r
assert int(r["answer_questions"]) == 4, r
assert float(r["full_support"]) == 1.0, r
assert abs(float(r["answer_contained"]) - 0.75) < 1e-9, r
PY
grep -q "answers of 5 questions (4 answerable)" "$T/s.err" || fail "no count of the labels read: $(cat "$T/s.err")"
grep -q "ans is over the 4 of 8 questions" "$T/s.out" || fail "no note of the sample's size: $(cat "$T/s.out")"
timeout 300 "$BENCH" context --data "$T/data" --sets squad --variants clean --methods default \
  --budgets 256 --answers none --csv "$T/n.csv" >/dev/null 2>&1 || fail "squad run with --answers none"
"$PY" - "$T/n.csv" <<'PY' || fail "--answers none still measured answers"
import csv, sys
r = [r for r in csv.DictReader(open(sys.argv[1])) if r["half"] == "all" and r["type"] == "all"][0]
assert r["answer_contained"] == "" and int(r["answer_questions"]) == 0, r
PY
# A label line that is not {"id", "answers"} or {"id", "answerable": false}
# is an error naming the line, before anything is imported.
cp "$T/answers.jsonl" "$T/bad.jsonl"
echo '{"id": "s05", "answers": "not a list"}' >>"$T/bad.jsonl"
if timeout 60 "$BENCH" context --data "$T/data" --sets squad --answers "$T/bad.jsonl" \
  >/dev/null 2>"$T/bad.err"; then
  fail "a malformed answers file was accepted"
fi
grep -q "bad.jsonl line 6" "$T/bad.err" || fail "the bad label line is not named: $(cat "$T/bad.err")"

# Bad input: an unknown embedder is refused before anything runs.
if timeout 60 "$BENCH" context --data "$T/data" --sets hotpotqa --embedder nosuch \
  >/dev/null 2>"$T/c.err"; then
  fail "--embedder nosuch was accepted"
fi
grep -qi "usage\|embedder" "$T/c.err" || fail "--embedder nosuch said nothing useful: $(cat "$T/c.err")"

[ "$fails" -eq 0 ] || exit 1
echo "ok - cvstore-bench context: CSV columns, figures, --store-cache, --answers, bad input"
