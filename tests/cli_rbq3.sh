#!/usr/bin/env bash
# cli_rbq3.sh -- stores whose RaBitQ codes are of codec blob version 3 (one
# centre, 12-byte tail), written by the build before version 4, stay
# readable: tests/data/fixture-rbq3-none (raw none: the codes are the only
# copy of the vectors) and fixture-rbq3-f32 (ip, raw f32).  Both READMEs say
# how they were made; their search.txt and export.jsonl are the old
# binary's output, which this build must reproduce.  And a codec of a
# version this build does not know is one problem for check, and stats
# prints the rest of the store.
#   bash tests/cli_rbq3.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
: "${data:?usage: cli_rbq3.sh PATH_TO_cvstore PATH_TO_tests/data}"

mkdir "$tmp/rn" "$tmp/rf"
cp "$data/fixture-rbq3-none/data.mdb" "$tmp/rn/"
cp "$data/fixture-rbq3-f32/data.mdb" "$tmp/rf/"

# same_searches DB FIXTURE: every "## search NAME ARGS" block of the
# fixture's search.txt, run on DB, prints what the old binary printed.
same_searches() {
  local db=$1 golden=$data/$2/search.txt n=0 args
  while IFS= read -r line; do
    case $line in "## search "*) ;; *) continue ;; esac
    read -r -a args <<<"${line#\#\# search * }"
    run search "$db" "${args[@]}"
    [ "$rc" -eq 0 ] || fail "$2: search ${args[*]} (exit $rc)"
    # The block under this header, up to the next one.
    awk -v h="$line" '$0 == h {on = 1; next} /^## / {on = 0} on' "$golden" >"$tmp/want"
    cmp -s "$tmp/out" "$tmp/want" ||
      fail "$2: search ${args[*]} differs from the old binary's: $(diff "$tmp/want" "$tmp/out" | head -20)"
    n=$((n + 1))
  done <"$golden"
  [ "$n" -ge 6 ] || fail "$2: only $n searches in search.txt"
  ok "$2: $n searches answer as the old binary did"
}

# ---- raw none: the codes are the vectors ----
expect 0 "check of the raw none store" check "$tmp/rn"
has "$tmp/out" "no problems found" "check rn"
expect 0 "stats of the raw none store" stats "$tmp/rn"
has "$tmp/out" "rabitq, format 3: one centre" "stats rn"
expect 0 "stats --json" stats "$tmp/rn" --json
has "$tmp/out" '"format":3' "stats rn --json"
expect 0 "export of the raw none store" export "$tmp/rn" -o "$tmp/rn.jsonl" --quiet
cmp -s "$tmp/rn.jsonl" "$data/fixture-rbq3-none/export.jsonl" ||
  fail "export differs from the old binary's: $(cmp "$tmp/rn.jsonl" "$data/fixture-rbq3-none/export.jsonl")"
ok "export equals the old binary's, byte for byte"
same_searches "$tmp/rn" fixture-rbq3-none

# Puts encode with the version 3 codec; the old records do not move.
for i in 0 1 2 3 4; do
  v=""
  for d in $(seq 0 15); do v="$v${v:+,}$(( (i * 7 + d * 3) % 11 - 5 )).5"; done
  printf '{"id":"n%d","vector":[%s]}\n' "$i" "$v"
done >"$tmp/more.jsonl"
expect 0 "import into the raw none store" import "$tmp/rn" "$tmp/more.jsonl" --quiet
expect 0 "check after the import" check "$tmp/rn"
has "$tmp/out" "245 records, no problems found" "check rn after import"
expect 0 "export after the import" export "$tmp/rn" -o "$tmp/rn2.jsonl" --quiet
head -n 240 "$tmp/rn2.jsonl" | cmp -s - "$data/fixture-rbq3-none/export.jsonl" ||
  fail "the old records changed with the import"
grep -q '"id":"n4"' "$tmp/rn2.jsonl" || fail "n4 not exported"
ok "the old records export unchanged after the import; the new ones export"
# n3's own vector finds n3 first (its code decodes near it).
q=$(sed -n 's/.*"id":"n3","vector":\[\([^]]*\)\].*/\1/p' "$tmp/rn2.jsonl")
expect 0 "search for n3's exported vector" search "$tmp/rn" --query-vector "$q" -k 1
has "$tmp/out" " n3 " "n3 nearest to its own vector"

# An IVF index over the codes: the codec is written back as version 3 and
# scanning every list gives the codes scan's answers.
expect 0 "build an IVF index over the codes" build "$tmp/rn" --codec rabitq4 --index ivf4
has "$tmp/err" "kept codec rabitq4" "build --index over raw none"
expect 0 "check after the IVF build" check "$tmp/rn"
has "$tmp/out" "no problems found" "check rn after the IVF build"
expect 0 "stats after the IVF build" stats "$tmp/rn" --json
has "$tmp/out" '"format":3' "the kept codec stays version 3"
q="0.5,1,-2,0.3,3,-1,0.2,1.1,0,-0.4,2,1,-3,0.7,0.1,-1.5"
expect 0 "codes scan" search "$tmp/rn" --query-vector "$q" -k 5 --codes --rerank 0
cp "$tmp/out" "$tmp/codes.txt"
expect 0 "ANN search of every list" search "$tmp/rn" --query-vector "$q" -k 5 --ann --nprobe 4 --rerank 0
cmp -s "$tmp/out" "$tmp/codes.txt" || fail "ANN over all lists differs from the codes scan: $(diff "$tmp/codes.txt" "$tmp/out")"
ok "ANN over every list answers as the codes scan"
expect 0 "export after the IVF build" export "$tmp/rn" -o "$tmp/rn3.jsonl" --quiet
cmp -s "$tmp/rn2.jsonl" "$tmp/rn3.jsonl" || fail "the IVF build changed the exported vectors"
ok "the IVF build leaves the vectors as they were"

# ---- raw f32, ip: searched as before, a build gives version 4 ----
expect 0 "check of the f32 store" check "$tmp/rf"
has "$tmp/out" "no problems found" "check rf"
expect 0 "stats of the f32 store" stats "$tmp/rf"
has "$tmp/out" "rabitq, format 3: rebuild the codes to get the centres' recall" "stats rf"
same_searches "$tmp/rf" fixture-rbq3-f32
expect 0 "rebuild the f32 store's codes" build "$tmp/rf" --codec rabitq4
expect 0 "stats after the rebuild" stats "$tmp/rf" --json
has "$tmp/out" '"format":4' "a build writes version 4"
has "$tmp/out" '"code_bytes":19' "version 4 codes of 16-d rabitq4 are 19 bytes"
expect 0 "stats text after the rebuild" stats "$tmp/rf"
! grep -q "format 3" "$tmp/out" || fail "stats still names format 3 after the rebuild"
ok "no format 3 note after the rebuild"
expect 0 "check after the rebuild" check "$tmp/rf"
has "$tmp/out" "no problems found" "check rf after the rebuild"

# ---- a codec blob of a version this build does not know ----
# (byte 8 of the blob is its version; it is checked before the checksum).
# The fixtures were built once, so their data.mdb holds one blob.
bump_codec_version() { # DIR
  local off
  off=$(grep -obUa -F CVSCODEC "$1/data.mdb" | cut -d: -f1)
  [ "$(printf '%s\n' "$off" | grep -c .)" -eq 1 ] || fail "not one codec blob in $1: $off"
  printf '\x09' | dd of="$1/data.mdb" bs=1 seek=$((off + 8)) conv=notrunc status=none
}
for db in rf rn; do
  mkdir "$tmp/new-$db"
  case $db in rf) cp "$data/fixture-rbq3-f32/data.mdb" "$tmp/new-$db/" ;;
              rn) cp "$data/fixture-rbq3-none/data.mdb" "$tmp/new-$db/" ;; esac
  bump_codec_version "$tmp/new-$db"
  expect 1 "$db: check of a codec of version 9" check "$tmp/new-$db"
  [ "$(grep -c '^problem:' "$tmp/out")" -eq 1 ] ||
    fail "$db: check reported more than the codec: $(head -5 "$tmp/out")"
  has "$tmp/out" "the codec cannot be loaded, so the codes are not checked" "$db: check"
  has "$tmp/out" "format version 9" "$db: check names the version"
  ok "$db: check reports the unreadable codec once"
  expect 1 "$db: stats of a codec of version 9" stats "$tmp/new-$db"
  has "$tmp/out" "records:        240" "$db: stats still counts the records"
  has "$tmp/out" "codec:          cannot be read: " "$db: stats names the codec"
  has "$tmp/out" "embedder:       none" "$db: stats prints the parts after the codec"
  has "$tmp/err" "format version 9" "$db: stats says why on stderr"
  expect 1 "$db: stats --json of a codec of version 9" stats "$tmp/new-$db" --json
  has "$tmp/out" '"codec":{"error":' "$db: stats --json"
  has "$tmp/out" '"count":240' "$db: stats --json still counts the records"
done

echo "$passed passed"
