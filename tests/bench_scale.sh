#!/usr/bin/env bash
# bench_scale.sh -- `cvstore-bench scale` end to end on a tiny generated seed
# set: the table's structure, recall values that only come out right when
# the ground truth and the sweeps are right, the ground-truth cache, the
# memory-budget skip, and bad input.
# usage: bench_scale.sh PATH/TO/cvstore-bench PYTHON
set -euo pipefail
BENCH="$1"
PY="${2:-python3}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# 3,000 seed vectors of 16 dimensions around 30 centres (seeded, so the
# test sees the same data every run), written as fvecs.
"$PY" - "$T/seeds.fvecs" <<'PY'
import random, struct, sys
rng = random.Random(7)
centres = [[rng.gauss(0, 1) for _ in range(16)] for _ in range(30)]
with open(sys.argv[1], "wb") as f:
    for i in range(3000):
        c = centres[rng.randrange(30)]
        f.write(struct.pack("<i16f", 16, *[x + rng.gauss(0, 0.35) for x in c]))
PY

run() {
  "$BENCH" scale --seed-file "$T/seeds.fvecs" --nq 100 --tune-seeds 100 --min-time 0 \
    --cache "$T/cache" --dir "$T" "$@"
}

# The seeds split three ways: a tune sample query's seed (cvstore-tuneq's
# sample) is neither a base seed nor a query seed, and no base row, real
# or a noisy copy, at a size past the base seeds, is made from one; the
# base of a size below the base seed count is a prefix of every larger one.
run --sizes 2.5k,6k --split "$T/split.json" >/dev/null 2>"$T/split.err" \
  || { cat "$T/split.err" >&2; fail "--split"; }
run --sizes 2k --split "$T/split2.json" >/dev/null 2>>"$T/split.err" \
  || { cat "$T/split.err" >&2; fail "--split 2k"; }
"$PY" - "$T/split.json" "$T/split2.json" <<'PY' || exit 1
import json, sys
s, s2 = (json.load(open(p)) for p in sys.argv[1:3])
def fail(msg):
    print("FAIL:", msg, file=sys.stderr); sys.exit(1)
q, t, b = set(s["queries"]), set(s["tune"]), set(s["base"])
if len(s["base"]) != 6000 or len(s["queries"]) != 100 or len(s["tune"]) != 200:
    fail("split sizes %d %d %d" % (len(s["base"]), len(s["queries"]), len(s["tune"])))
if s["base_seeds"] != 2800 or len(b) != 2800:
    fail("base seeds %r, %d distinct in the rows" % (s["base_seeds"], len(b)))
if t & b or t & q or q & b:
    fail("seeds shared: tune&base %d, tune&query %d, query&base %d"
         % (len(t & b), len(t & q), len(q & b)))
if len(t) < 50:
    fail("tune sample drawn from only %d seeds" % len(t))
if s2["base"] != s["base"][:2000] or s2["tune"] != s["tune"] or s2["queries"] != s["queries"]:
    fail("a smaller size is not a prefix, or its queries differ")
PY

# Sizes below and above the 2,800 base seeds (the second adds noisy copies);
# both above the 2,048 records under which `cvstore build` makes no index.
run --sizes 2.5k,6k --json --out "$T/out" >"$T/run1.json" 2>"$T/run1.err" \
  || { cat "$T/run1.err" >&2; fail "first run"; }
"$PY" - "$T/run1.json" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["rows"]
def fail(msg):
    print("FAIL:", msg, file=sys.stderr); sys.exit(1)
if doc["dim"] != 16 or doc["queries"] != 100 or doc["seeds"] != 3000:
    fail("header %r" % {k: doc[k] for k in ("dim", "queries", "seeds")})
got = sorted((r["n"], r["system"]) for r in rows)
want = sorted((n, s) for n in (2500, 6000)
              for s in ("cvstore", "hnswlib", "faiss", "cvstore-tuneq"))
if got != want:
    fail("rows %r" % got)
for r in rows:
    name = "%s n=%d" % (r["system"], r["n"])
    if r["skipped"] is not None:
        fail(name + " skipped: " + r["skipped"])
    for key in ("build_s", "bytes_per_vector", "disk_bytes", "rss_peak_gib"):
        if r[key] is None or r[key] < 0:
            fail("%s: %s = %r" % (name, key, r[key]))
    if not r["sweep"]:
        fail(name + ": no measured points")
    for p in r["sweep"]:
        if not (0 <= p["recall"] <= 1) or not p["qps"] > 0:
            fail("%s: point %r" % (name, p))
    recalls = [p["recall"] for p in r["sweep"]]
    if r["system"] in ("cvstore", "cvstore-tuneq"):
        if r["import_s"] is None:
            fail(name + ": no import time")
        # The setting tuned for 0.99 on the store's own vectors (or on the
        # sample queries) must come close on these queries too: far off
        # means the ground truth is.
        tuned = {p["setting"].split(":")[0]: p["recall"] for p in r["sweep"]}
        if sorted(tuned) != ["tune 0.9", "tune 0.95", "tune 0.99", "tune 0.995"]:
            fail("%s: tuned settings %r" % (name, sorted(tuned)))
        if tuned["tune 0.99"] < 0.9:
            fail("%s: recall %.3f at the setting tuned for 0.99" % (name, tuned["tune 0.99"]))
    else:
        # The sweeps must move recall, and their far end must reach what an
        # exhaustive search reaches: a wrong ground truth caps it well below.
        if max(recalls) < 0.99:
            fail("%s: best recall %.3f" % (name, max(recalls)))
        if recalls[0] >= max(recalls):
            fail("%s: recall does not grow along the sweep %r" % (name, recalls))
    # qps@t: the fastest measured point reaching t, for every system.
    for t, a in zip((0.90, 0.95, 0.99), r["at"]):
        best = max([p["qps"] for p in r["sweep"] if p["recall"] >= t], default=None)
        if a["qps"] != best or (best is not None and a["recall"] < t):
            fail("%s: qps@%.2f %r, fastest point reaching it %r" % (name, t, a, best))
PY
grep -q "ground truth: exact" "$T/run1.err" || fail "first run did not compute the ground truth"
for f in scale.json scale.csv scale.dat scale.gp; do
  [ -s "$T/out/$f" ] || fail "no $f"
done
if command -v gnuplot >/dev/null; then
  [ -s "$T/out/scale-qps95.svg" ] || fail "gnuplot present but no scale-qps95.svg"
fi

# A rerun reads the ground truth back, and the markdown table has a row per
# size and system.
run --sizes 2.5k --systems hnswlib --out "$T/out2" >"$T/run2.md" 2>"$T/run2.err" \
  || { cat "$T/run2.err" >&2; fail "second run"; }
grep -q "ground truth: cached" "$T/run2.err" || fail "ground truth not read from the cache"
grep -q "^| 2500 | hnswlib |" "$T/run2.md" || fail "no markdown row for 2500 hnswlib"

# A damaged cache file is recomputed, not trusted.
for g in "$T"/cache/gt-*-n2500-*; do printf 'junk' >"$g"; done
run --sizes 2.5k --systems hnswlib --out "$T/out3" >/dev/null 2>"$T/run3.err" \
  || { cat "$T/run3.err" >&2; fail "run over a damaged cache"; }
grep -q "does not match; recomputing" "$T/run3.err" || fail "damaged cache not noticed"

# Under 2,048 records `cvstore build` makes no index: the row is one exact
# search (what a user's search is then), so its recall is the ground truth's.
run --sizes 1k --systems cvstore --json --out "$T/out6" >"$T/run6.json" 2>"$T/run6.err" \
  || { cat "$T/run6.err" >&2; fail "run at 1k"; }
"$PY" - "$T/run6.json" <<'PY' || exit 1
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["rows"] if x["system"] == "cvstore"][0]
pts = r.get("sweep") or r.get("points") or []
txt = json.dumps(r)
if "no index" not in txt:
    print("FAIL: 1k cvstore row does not say it has no index:", txt[:300], file=sys.stderr); sys.exit(1)
PY
grep -q '"recall": *0\.99[0-9]*\|"recall": *1' "$T/run6.json" \
  || fail "1k exact search: recall below 0.99: $(head -c 400 "$T/run6.json")"

# A budget that holds nothing skips every system and says what it needs.
run --sizes 2k --mem-gib 0.0001 --out "$T/out4" >"$T/run4.md" 2>/dev/null \
  || fail "run with a tiny budget"
[ "$(grep -c 'skipped: needs' "$T/run4.md")" -eq 4 ] || fail "not four skipped rows"

# Bad input: exit 1 and a message.
set +e
"$BENCH" scale --sizes 0.1,x >/dev/null 2>"$T/bad.err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad --sizes" "$T/bad.err" || fail "bad --sizes: rc $rc"
head -c 680 "$T/seeds.fvecs" >"$T/few.fvecs"
run --seed-file "$T/few.fvecs" --sizes 1k --out "$T/out5" >/dev/null 2>"$T/few.err"; rc=$?
[ $rc -eq 1 ] && grep -q "need more than --nq" "$T/few.err" || fail "too few seeds: rc $rc"
set -e
echo "bench_scale: ok"
