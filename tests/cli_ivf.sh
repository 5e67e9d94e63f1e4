#!/usr/bin/env bash
# cli_ivf.sh -- the ANN index from the command line: build --index, stats
# (text and JSON), search --ann with --nprobe/--rerank/--threads, the ANN
# index used by default, and its recall against the SIFT10K ground truth.
#   bash tests/cli_ivf.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
: "${data:?usage: cli_ivf.sh PATH_TO_cvstore PATH_TO_tests/data}"
# Hits of the first 10 results of each query line against the ground truth.
hits() {
  local n=0 i=0 line got want
  while IFS= read -r line; do
    got=$(echo "$line" | grep -o '"id":"[0-9]*"' | head -10 | tr -dc '0-9\n')
    want=$(od -An -t d4 -j$((i * 404 + 4)) -N40 "$sift/siftsmall_groundtruth.ivecs" | tr -s ' \n' '\n\n')
    n=$((n + $(printf '%s\n' $got | grep -cxF -f <(printf '%s\n' $want) || true)))
    i=$((i + 1))
  done <"$tmp/out"
  echo "$n"
}

sift="$data/siftsmall"
db="$tmp/sift"
expect 0 "init" init "$db" --dim 128 --metric l2
expect 0 "import" import "$db" "$sift/siftsmall_base.fvecs" --quiet
expect 1 "build: bad --index" build "$db" --codec pq32x4 --index hnsw
has "$tmp/err" "expected ivf or ivfN" "the reason for a bad --index"
# every kind of index is named, not only IVF: "hnsw" is FAISS's (faiss:HNSW32)
has "$tmp/err" "qg, faiss:FACTORY (e.g. faiss:HNSW32" "a bad --index names qg and faiss:FACTORY"
has "$tmp/err" "or auto" "a bad --index names auto"
expect 1 "search --ann without an index" search "$db" --query-id 5 -k 3 --ann
expect 0 "build --index ivf64" build "$db" --codec pq32x4 --index ivf64
has "$tmp/err" "built index ivf64" "build reports the index"
expect 0 "stats" stats "$db"
has "$tmp/out" "index:          ivf64, direct codes, 10000 records" "stats shows the index"
has "$tmp/out" "bytes per vector" "stats shows memory per vector"
expect 0 "stats --json" stats "$db" --json
has "$tmp/out" '"index":{"spec":"ivf64","count":10000,"nlist":64,"residual":false' "stats --json index"
expect 0 "search --ann" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 12 --rerank 100 --threads 2
[ "$(wc -l <"$tmp/out")" -eq 100 ] || fail "one line per query"
h=$(hits)
[ "$h" -ge 930 ] || fail "recall@10 of --ann --nprobe 12 is $h/1000"
ok "recall@10 of --ann --nprobe 12 --rerank 100 is $h/1000"
cp "$tmp/out" "$tmp/ann"
expect 0 "search uses the index by default" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --nprobe 12 --rerank 100
cmp -s "$tmp/out" "$tmp/ann" || fail "default search differs from --ann"
ok "default search is the ANN search"
expect 0 "search --exact still exact" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --exact
[ "$(hits)" -eq 1000 ] || fail "exact search is exact"
ok "exact search is exact"
expect 1 "--nprobe with --exact" search "$db" --query-id 5 -k 3 --exact --nprobe 3
expect 0 "search --ann --rerank 0" search "$db" --query-id 5 -k 3 --ann --rerank 0 --json
has "$tmp/out" '"query_id":"5"' "query id echoed"
expect 0 "delete" delete "$db" 13
expect 0 "search after delete" search "$db" --query-id 5 -k 3 --json
if grep -qF '"id":"13"' "$tmp/out"; then fail "a deleted record is returned"; fi
ok "deleted record gone from ANN results"
expect 0 "check" check "$db"
expect 0 "build --json (rebuild, 32 lists)" build "$db" --codec pq16x8 --index ivf32 --json
has "$tmp/out" '"index":{"spec":"ivf32","count":9999,"nlist":32' "build --json reports the index"
has "$tmp/out" '"codec":{"spec":"pq16x8"' "build --json reports the codec"
expect 0 "search after the rebuild" search "$db" --query-id 5 -k 3 --json
expect 0 "check after the rebuild" check "$db"

# A residual-quantizer codec under the same index: codes-only recall at 8
# bytes must beat the 8-byte PQ codec's on the same data.
expect 1 "build: opq before rq" build "$db" --codec opq,rq8
has "$tmp/err" "does not apply to rq" "the reason opq,rq8 is refused"
recall_codes() {
  expect 0 "search --codes ($1)" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --codes --rerank 0 >&2
  hits
}
expect 0 "build --codec pq8" build "$db" --codec pq8
hp=$(recall_codes pq8)
expect 0 "build --codec rq8 --index ivf32" build "$db" --codec rq8 --index ivf32 --json
has "$tmp/out" '"codec":{"spec":"rq8"' "build --json reports the rq codec"
expect 0 "stats (rq)" stats "$db"
has "$tmp/out" "rq8" "stats names the rq codec"
hr=$(recall_codes rq8)
[ "$hr" -ge "$hp" ] || fail "rq8 codes-only recall $hr/1000 below pq8's $hp/1000"
ok "codes-only recall@10: rq8 $hr/1000, pq8 $hp/1000"
expect 0 "search --ann (rq8)" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 12 --rerank 100
h=$(hits)
[ "$h" -ge 900 ] || fail "recall@10 of --ann over rq8 codes is $h/1000"
ok "recall@10 of --ann over rq8 codes is $h/1000"
expect 0 "check (rq)" check "$db"

# RaBitQ codes: bad bit counts refused with the reason, the store intact;
# 4 bits per dimension under the index, codes only and re-ranked.
expect 1 "build: rabitq9" build "$db" --codec rabitq9
has "$tmp/err" "rabitq codes are 1..8 bits per dimension, not 9" "the reason rabitq9 is refused"
expect 1 "build: opq before rabitq" build "$db" --codec opq,rabitq4
has "$tmp/err" "does not apply to rabitq" "the reason opq,rabitq4 is refused"
expect 0 "stats after refused builds" stats "$db"
has "$tmp/out" "rq8" "the rq codec is still in force"
expect 0 "build --codec rabitq4 --index ivf32" build "$db" --codec rabitq4 --index ivf32 --json
has "$tmp/out" '"codec":{"spec":"rabitq4"' "build --json reports the rabitq codec"
hb=$(recall_codes rabitq4)
[ "$hb" -ge 850 ] || fail "rabitq4 codes-only recall@10 $hb/1000"
ok "codes-only recall@10: rabitq4 $hb/1000"
expect 0 "search --ann (rabitq4)" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 12 --rerank 100
h=$(hits)
[ "$h" -ge 930 ] || fail "recall@10 of --ann over rabitq4 codes is $h/1000"
ok "recall@10 of --ann over rabitq4 codes is $h/1000"
expect 0 "check (rabitq)" check "$db"

# --refine: over ,sq8 rows, re-scoring every re-ranked candidate from the
# stored vectors answers as the index without rows re-ranking them does
# (same codec and lists: the same candidates, but for ties at the R-th code
# distance, which the two heaps break by list position and by key).
same_lines() { grep -cxF -f "$1" "$2" || true; }
expect 0 "build ivf32 (pq16x4)" build "$db" --codec pq16x4 --index ivf32
expect 0 "search --ann, no rows" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 8 --rerank 50
cp "$tmp/out" "$tmp/norows"
expect 0 "build ivf32,sq8 (pq16x4)" build "$db" --codec pq16x4 --index ivf32,sq8
expect 0 "search --ann --refine 50" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 8 --rerank 50 --refine 50
n=$(same_lines "$tmp/norows" "$tmp/out")
[ "$n" -ge 95 ] || fail "--refine 50 of 50: $n of 100 answers as the exact re-rank's"
ok "--refine of every candidate is the exact re-rank ($n of 100 answers the same)"
expect 0 "search --ann --refine 0" search "$db" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --ann --nprobe 8 --rerank 50 --refine 0
n=$(same_lines "$tmp/norows" "$tmp/out")
[ "$n" -le 50 ] || fail "--refine 0: $n of 100 answers with exact scores: SQ8 rows unused"
ok "--refine 0 answers with SQ8 distances ($n of 100 answers as the exact re-rank's)"
expect 1 "search --refine x" search "$db" --query-id 5 -k 3 --ann --refine x
has "$tmp/err" "--refine must be an integer" "the reason --refine x is refused"

echo "$passed passed, 0 failed"
