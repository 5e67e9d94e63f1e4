#!/usr/bin/env bash
# bench_context_sets.sh -- a user's own QA folder in `cvstore-bench context`
# (--sets NAME=DIR), fed by scripts/make-templated-set.py run on a tiny
# made-up source corpus: the generator reads the facts the passages state
# (release years, directors, birth and death dates, nationalities), fills
# 2WikiMultihopQA's templates with gold passages that state them, writes
# the same files for the same seed, and the bench runs the folder under its
# name with its question types (bridge_comparison, longer than the 15
# characters a type row held, included).  Bad NAME=DIR is refused.
# usage: bench_context_sets.sh PATH/TO/cvstore-bench PYTHON
set -uo pipefail
BENCH="$1"
PY="${2:-python3}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# 16 made-up directors (dates, nationality) and 16 films, one each, plus 24
# passages about nothing in particular; names are made of syllables so no
# real word or name interferes.
"$PY" - "$T" <<'PY' || { echo "FAIL: generating the source corpus" >&2; exit 1; }
import json, random, sys
t = sys.argv[1]
rng = random.Random(7)
syll = ["ka", "lo", "mi", "ru", "te", "vo", "zan", "pel", "dor", "fis", "gun", "hab"]
def name():
    return "".join(rng.choice(syll) for _ in range(3)).capitalize()
months = "January February March April May June July August September October November December".split()
nats = ["American", "French", "Swedish", "Japanese"]
rows, k = [], 0
for i in range(16):
    d = "%s %s" % (name(), name())
    by, dy = 1880 + 3 * i, 1950 + 2 * i
    rows.append({"id": k, "title": d, "text": "%s (%d %s %d - %d %s %d) was a %s film director. He made "
                 "films about %s." % (d, 1 + i, months[i % 12], by, 2 + i, months[(i + 5) % 12], dy,
                                      nats[i % 4], name().lower())})
    k += 1
    f = "The %s" % name()
    rows.append({"id": k, "title": f + " (film)", "text": "%s is a %d %s drama film directed by %s. It "
                 "tells of a %s." % (f, 1930 + i, nats[(i + 1) % 4], d, name().lower())})
    k += 1
for i in range(24):
    rows.append({"id": k, "title": "Place %s" % name(), "text": "Place %s is a village near %s with "
                 "a %s." % (name(), name(), name().lower())})
    k += 1
with open(t + "/source.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY

gen() { "$PY" "$SRC/scripts/make-templated-set.py" --source "$T/source.jsonl" --per-template 6 \
          --seed 3 --out "$1" 2>"$1.err"; }
gen "$T/set" || { cat "$T/set.err" >&2; fail "the generator failed"; }
gen "$T/again" || fail "the generator failed the second time"
for f in corpus.jsonl queries.jsonl qrels.tsv SOURCE.md; do
  cmp -s "$T/set/$f" "$T/again/$f" || fail "$f differs between two runs with the same seed"
done

# Every question's facts are stated by its gold passages: the answer of a
# compositional question is in the person's passage, a comparison's and a
# bridge comparison's is the label of a gold passage, and the order it
# claims holds for the dates the generator was given.
"$PY" - "$T/set" "$T/source.jsonl" <<'PY' || fail "the generated questions"
import collections, json, re, sys
d = sys.argv[1]
corpus = [json.loads(l) for l in open(d + "/corpus.jsonl")]
qs = [json.loads(l) for l in open(d + "/queries.jsonl")]
qrels = collections.defaultdict(set)
for line in open(d + "/qrels.tsv").read().splitlines()[1:]:
    q, c, s = line.split("\t")
    qrels[q].add(int(c))
types = collections.Counter(q["type"] for q in qs)
assert types["comparison"] >= 6 and types["compositional"] >= 6 and types["bridge_comparison"] >= 6, types
assert len({q["id"] for q in qs}) == len(qs)
for q in qs:
    gold = [corpus[i] for i in q["gold_ids"]]
    assert set(q["gold_ids"]) == qrels[q["id"]], q
    assert q["num_gold"] == len(gold) == (4 if q["type"] == "bridge_comparison" else 2), q
    labels = [re.sub(r"\s*\([^)]*\)$", "", g["title"]) for g in gold]
    if q["type"] == "compositional":
        assert any(q["answer"] in g["text"] for g in gold), q
    elif q["answer"] not in ("yes", "no"):
        assert q["answer"] in labels and q["answer"] in q["question"], q
    if q["template"] == "director-born-first":
        # the film whose director's birth year is smaller
        films = [g for g in gold if "directed by" in g["text"]]
        def born(film):
            dname = re.search(r"directed by (\w+ \w+)", film["text"]).group(1)
            p = [g for g in gold if g["title"] == dname][0]
            return int(re.search(r"\(\d+ \w+ (\d{4})", p["text"]).group(1))
        first = min(films, key=born)
        assert q["answer"] == re.sub(r"\s*\([^)]*\)$", "", first["title"]), q
    # 10 passages a question at most in its context, gold ones included
    assert set(q["gold_ids"]) <= set(q["context_ids"]) and len(q["context_ids"]) <= 10, q
print(dict(types))
PY
grep -q "make-templated-set.py" "$T/set/SOURCE.md" || fail "SOURCE.md does not say how the set was made"

"$PY" "$SRC/tests/fake_glove.py" "$T/glove" "$T/set/corpus.jsonl" ||
  { echo "FAIL: generating the GloVe cache" >&2; exit 1; }
export CVSTORE_GLOVE_DIR="$T/glove"

timeout 300 "$BENCH" context --sets "mine=$T/set" --variants clean \
  --methods bm25-topk,bm25+links,default --budgets 128,4096 --by-type --csv "$T/a.csv" \
  >"$T/a.out" 2>"$T/a.err" || { cat "$T/a.err" >&2; fail "the bench on mine=DIR"; }
"$PY" - "$T/a.csv" "$T/set/queries.jsonl" <<'PY' || fail "the figures of mine=DIR"
import collections, csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
qs = [json.loads(l) for l in open(sys.argv[2])]
assert rows and all(r["set"] == "mine" for r in rows), {r["set"] for r in rows}
types = collections.Counter(q["type"] for q in qs)
for t, n in types.items():
    got = [r for r in rows if r["type"] == t and r["half"] == "all" and r["method"] == "default"]
    assert got and int(got[0]["questions"]) == n, (t, n, got[:1])
allq = [r for r in rows if r["type"] == "all" and r["half"] == "all"]
for r in allq:
    assert int(r["questions"]) == len(qs), r
    # 4096 tokens hold the whole tiny corpus: every gold passage is in, and
    # it is found only when the folder's qrels were read under its ids
    if r["budget"] == "4096":
        assert float(r["full_support"]) == 1.0, r
        assert float(r["answer_contained"]) > 0.5, r
PY
grep -q "| mine | clean | all | bridge_comparison |" "$T/a.out" ||
  fail "no bridge_comparison row in the by-type table: $(grep -c bridge "$T/a.out")"

# Bad NAME=DIR: refused with a message naming the mistake, nothing run.
for bad in "=$T/set" "has space=$T/set" "mine=" "waytoolongnameforasetlabel_x=$T/set"; do
  if timeout 60 "$BENCH" context --sets "$bad" --variants clean >/dev/null 2>"$T/b.err"; then
    fail "--sets '$bad' was accepted"
  fi
  grep -q "NAME=DIR" "$T/b.err" || fail "--sets '$bad': $(cat "$T/b.err")"
done
if timeout 60 "$BENCH" context --sets "mine=$T/nosuch" --variants clean >/dev/null 2>"$T/c.err"; then
  fail "a missing folder was accepted"
fi
grep -q "$T/nosuch/queries.jsonl" "$T/c.err" || fail "the missing file is not named: $(cat "$T/c.err")"
# SET:N still works on NAME=DIR
timeout 300 "$BENCH" context --sets "mine=$T/set:5" --variants clean --methods bm25-topk \
  --budgets 256 --csv "$T/n.csv" >/dev/null 2>"$T/n.err" || { cat "$T/n.err" >&2; fail "mine=DIR:5"; }
"$PY" -c "
import csv, sys
r = [r for r in csv.DictReader(open('$T/n.csv')) if r['half'] == 'all' and r['type'] == 'all'][0]
assert int(r['questions']) == 5, r
" || fail "mine=DIR:5 did not take 5 questions"

[ "$fails" -eq 0 ] || exit 1
echo "ok - cvstore-bench context --sets NAME=DIR on a generated templated set"
