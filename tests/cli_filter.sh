#!/usr/bin/env bash
# cli_filter.sh -- `cvstore search --filter`: results restricted to matching
# metadata, K results whenever K records match, a bad filter is exit code 1
# with the reason, and without --filter the JSON output is unchanged;
# `cvstore context --filter` the same way, its items with their "meta".
#   bash tests/cli_filter.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
# same FILE EXPECTED DESC: FILE holds exactly EXPECTED.
same() {
  [ "$(cat "$1")" = "$2" ] || fail "$3: got '$(cat "$1")', want '$2'"
  ok "$3"
}

db="$tmp/s"
expect 0 "init" init "$db" --dim 2 --metric l2
# d0..d9 along the x axis; even ones "en", odd ones "fr"; years 2000 + i;
# d9 has no meta at all.
for i in 0 1 2 3 4 5 6 7 8; do
  lang=$([ $((i % 2)) -eq 0 ] && echo en || echo fr)
  echo "{\"id\":\"d$i\",\"vector\":[$i,0],\"meta\":{\"lang\":\"$lang\",\"year\":$((2000 + i)),\"top\":$([ $i -lt 3 ] && echo true || echo false)}}"
done >"$tmp/in.jsonl"
echo '{"id":"d9","vector":[9,0]}' >>"$tmp/in.jsonl"
expect 0 "import" import "$db" "$tmp/in.jsonl" --quiet

ids() { grep -o '"id":"[^"]*"' "$tmp/out" | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//'; }

expect 0 "search without a filter" search "$db" --query-vector 0,0 -k 3 --json
same "$tmp/out" '{"query":0,"results":[{"id":"d0","score":0.0},{"id":"d1","score":1.0},{"id":"d2","score":2.0}]}' \
  "JSON output without --filter is unchanged"

expect 0 "string equality" search "$db" --query-vector 0,0 -k 3 --json --filter '{"lang": "fr"}'
[ "$(ids)" = "d1 d3 d5" ] || fail "lang fr: $(ids)"
ok "lang fr gives the 3 nearest fr records"

expect 0 "range and equality" search "$db" --query-vector 0,0 -k 10 --json \
  --filter '{"lang": "en", "year": {"$gte": 2003, "$lt": 2008}}'
[ "$(ids)" = "d4 d6" ] || fail "en in 2003..2007: $(ids)"
ok "fewer matches than k: just the matches"

expect 0 "\$in and boolean" search "$db" --query-vector 9,0 -k 2 --json \
  --filter '{"lang": {"$in": ["fr", "de"]}, "top": true}'
[ "$(ids)" = "d1" ] || fail "fr and top: $(ids)"
ok "\$in with a boolean"

expect 0 "\$ids with an unknown id" search "$db" --query-vector 0,0 -k 5 --json \
  --filter '{"$ids": ["d9", "d4", "nope"]}'
[ "$(ids)" = "d4 d9" ] || fail "\$ids: $(ids)"
ok "\$ids allow-list, unknown ids ignored"

expect 0 "--query-id with a filter" search "$db" --query-id d2 -k 2 --json --filter '{"lang": "en"}'
[ "$(ids)" = "d0 d4" ] || fail "nearest en to d2: $(ids)"
ok "--query-id leaves the query record out and still gives k"

expect 0 "table output with a filter" search "$db" --query-vector 0,0 -k 1 --filter '{"year": 2005}'
grep -qE '^ +1  d5 ' "$tmp/out" || fail "table: $(cat "$tmp/out")"
ok "table shows the match"

expect 1 "malformed filter" search "$db" --query-vector 0,0 -k 1 --filter '{"year": {"$gt": "x"}}'
grep -q 'year' "$tmp/err" || fail "the message names the member"
ok "the message names the member"
expect 1 "filter that is not JSON" search "$db" --query-vector 0,0 -k 1 --filter '{lang'
expect 1 "empty filter" search "$db" --query-vector 0,0 -k 1 --filter ''
expect 0 "search --help mentions --filter" search --help
grep -q -- '--filter JSON' "$tmp/out" || fail "--help documents --filter"
ok "--help documents --filter"

# context --filter: every item (and every step of its path) matches, and
# each item carries its record's metadata.
expect 0 "context without a filter" context "$db" --query-vector 0,0 --budget 1000 --json
has "$tmp/out" '"meta":{"lang":"en","year":2000,"top":true}' "an item carries its meta"
grep -q '"id":"d1"' "$tmp/out" || fail "unfiltered context has d1: $(cat "$tmp/out")"
ok "unfiltered context has fr records"
expect 0 "context with a filter" context "$db" --query-vector 0,0 --budget 1000 --json \
  --filter '{"lang": "en"}'
[ -n "$(ids)" ] || fail "context lang en: empty"
for i in $(ids); do
  case $i in d0|d2|d4|d6|d8) ;; *) fail "context lang en has $i (with its path: $(ids))" ;; esac
done
ok "context --filter: only en records, on every step of the path"
expect 0 "context with a filter nothing matches" context "$db" --query-vector 0,0 --json \
  --filter '{"lang": "de"}'
has "$tmp/out" '"items":[]' "no match: an empty set"
expect 1 "context with a malformed filter" context "$db" --query-vector 0,0 \
  --filter '{"year": {"$gt": "x"}}'
grep -q 'year' "$tmp/err" || fail "context: the message names the member"
ok "context: the message names the member"
expect 0 "context --help mentions --filter" context --help
grep -q -- '--filter JSON' "$tmp/out" || fail "context --help documents --filter"
ok "context --help documents --filter"

echo "$passed passed, 0 failed"
