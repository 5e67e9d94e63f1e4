#!/usr/bin/env bash
# cli_faiss.sh -- FAISS indexes and tuning from the command line: build
# --index faiss:FACTORY without a codec, stats (text and JSON), search using
# the index by default, writes after the build, tune --json storing a
# default that stats then shows, and a bad factory string refused.
#   bash tests/cli_faiss.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
: "${data:?usage: cli_faiss.sh PATH_TO_cvstore PATH_TO_tests/data}"

db=$tmp/db
expect 0 "init" init "$db" --dim 128 --metric l2
expect 0 "import SIFT10K" import "$db" "$data/siftsmall/siftsmall_base.fvecs" --quiet
expect 1 "a bad factory string is refused" build "$db" --index faiss:NoSuchThing7
grep -q "NoSuchThing7" "$tmp/err" || fail "the error names the factory string"
ok "the error names the factory string"
expect 1 "build with an empty --codec is refused" build "$db" --codec ""
expect 0 "build --index faiss:IVF64,Flat without a codec" build "$db" --index faiss:IVF64,Flat
expect 0 "stats --json" stats "$db" --json
grep -q '"spec":"faiss:IVF64,Flat"' "$tmp/out" || fail "stats shows the FAISS index"
ok "stats shows the FAISS index"
expect 0 "search uses the index by default" search "$db" --query-id 5 -k 3 --json
grep -q '"id":"13"' "$tmp/out" || fail "the nearest neighbour of 5 is 13"
ok "the nearest neighbour of 5 is 13"
printf '{"id":"new","vector":[%s]}\n' "$(seq -s, 1 128 | sed 's/[0-9]\+/1000/g')" >"$tmp/new.jsonl"
expect 0 "a put after the build" import "$db" "$tmp/new.jsonl" --quiet
expect 0 "search finds it without a rebuild" search "$db" --query-vector "$(seq -s, 1 128 | sed 's/[0-9]\+/1000/g')" -k 1 --json
grep -q '"id":"new"' "$tmp/out" || fail "the new record is found"
ok "the new record is found"
expect 0 "tune --json" tune "$db" --target-recall 0.9 --sample 50 --json --quiet
grep -q '"reached":true' "$tmp/out" || fail "tune reaches 0.9"
ok "tune reaches 0.9"
np=$(sed 's/.*"nprobe":\([0-9]*\).*/\1/' "$tmp/out")
expect 0 "stats after tune" stats "$db" --json
grep -q "\"nprobe\":$np," "$tmp/out" || fail "stats shows the tuned nprobe $np"
ok "stats shows the tuned nprobe $np"
expect 1 "tune refuses a target above 1" tune "$db" --target-recall 1.5
echo "$passed passed"
