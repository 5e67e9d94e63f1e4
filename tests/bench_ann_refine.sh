#!/usr/bin/env bash
# bench_ann_refine.sh -- `cvstore-bench ann --refine` on a tiny generated
# set: the exact re-score depth reaches the search (a row of its own,
# labelled with it, whose recall is that of the exact re-score: at least
# the SQ8 re-rank's), and bad values are refused.
# usage: bench_ann_refine.sh PATH/TO/cvstore-bench PYTHON
set -euo pipefail
BENCH="$1"
PY="${2:-python3}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# 3,000 base and 60 query vectors of 16 dimensions around 40 centres, with
# noise fine enough that SQ8's rounding reorders near neighbours.
"$PY" - "$T/base.fvecs" "$T/query.fvecs" <<'PY'
import random, struct, sys
rng = random.Random(5)
centres = [[rng.gauss(0, 1) for _ in range(16)] for _ in range(40)]
for path, n in ((sys.argv[1], 3000), (sys.argv[2], 60)):
    with open(path, "wb") as f:
        for i in range(n):
            c = centres[rng.randrange(40)]
            f.write(struct.pack("<i16f", 16, *[x + rng.gauss(0, 0.3) for x in c]))
PY

run() {
  "$BENCH" ann --base "$T/base.fvecs" --query "$T/query.fvecs" --metric l2 \
    --systems cvstore --cvs-codecs "pq8x4" --cvs-index "ivf16,sq8" --nprobe 16 \
    --rerank 400 --no-plot --dir "$T" "$@"
}

run --csv "$T/plain.csv" >"$T/plain.out" 2>&1 || { cat "$T/plain.out" >&2; fail "run without --refine"; }
run --refine 30 --csv "$T/refine.csv" >"$T/refine.out" 2>&1 \
  || { cat "$T/refine.out" >&2; fail "run with --refine 30"; }
"$PY" - "$T/plain.csv" "$T/refine.csv" <<'PY' || exit 1
import csv, sys
def rows(p):
    return [r for r in csv.DictReader(open(p)) if r["system"] == "cvstore"]
plain, refine = rows(sys.argv[1]), rows(sys.argv[2])
if len(plain) != 1 or len(refine) != 1:
    sys.exit(f"FAIL: expected one cvstore row each, got {len(plain)} and {len(refine)}")
p, r = plain[0], refine[0]
if "refine" in p["config"] or not r["config"].endswith("nprobe=16 R=400 refine=30"):
    sys.exit(f"FAIL: labels {p['config']!r} / {r['config']!r}")
rp, rr = float(p["recall10"]), float(r["recall10"])
# Every list probed and 400 re-ranked: the exact re-score of the SQ8 best 30
# finds the true top 10 whenever SQ8 keeps them in its 30, so its recall is
# near 1 and not below the SQ8 ranking's.
if not (rr >= rp and rr >= 0.99):
    sys.exit(f"FAIL: recall with refine {rr}, without {rp}")
PY

for bad in 0 -3 x 10x ""; do
  if run --refine "$bad" >"$T/bad.out" 2>&1; then fail "--refine '$bad' accepted"; fi
  grep -q "bad --refine" "$T/bad.out" || { cat "$T/bad.out" >&2; fail "no message for --refine '$bad'"; }
done
# A --dir that cannot hold a scratch directory (a regular file) is refused
# before anything runs: the runs of the systems before cvstore's took
# minutes, then the first scratch store failed.
: >"$T/afile"
if run --dir "$T/afile" >"$T/bad.out" 2>&1; then fail "--dir of a regular file accepted"; fi
grep -q "cannot make a scratch directory under $T/afile" "$T/bad.out" \
  || { cat "$T/bad.out" >&2; fail "no message for a --dir of a regular file"; }
if grep -q "loading" "$T/bad.out"; then cat "$T/bad.out" >&2; fail "a data set was loaded with a bad --dir"; fi
echo "bench_ann_refine: ok"
