#!/usr/bin/env bash
# cli_damaged.sh -- a damaged store is an error message, never a signal.
# Copies of a plain and an encrypted store (records with text, titles,
# metadata and links, a codec with an IVF index -- with stored SQ8 rows in
# the plain one --, the kNN graph) get bytes
# of data.mdb overwritten at random, seeded so that a failure replays; on
# each copy every reading command, `link`, `import` and `delete` must end
# with exit 0, 1 or 2
# (with a message for anything but success), within a time
# limit, and without a sanitizer report in a sanitizer build.
#   bash tests/cli_damaged.sh PATH_TO_cvstore [PATH_TO_tests/data] [COPIES]
# (CVS_DAMAGE_SEED=N tries other damage; CVS_DAMAGE_COPIES=N more copies)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

copies=${3:-${CVS_DAMAGE_COPIES:-10}}
flips=24
RANDOM=${CVS_DAMAGE_SEED:-20261206}

# 300 records in 8 dimensions: text naming other records' titles (so link
# finds mentions), metadata, and an explicit link each.
for i in $(seq 0 299); do
  v=""
  for d in 0 1 2 3 4 5 6 7; do v="$v${v:+,}$(( (i * 7 + d * 13) % 17 - 8 )).$(( (i * d) % 10 ))"; done
  link=""
  [ "$i" -gt 0 ] && link=",\"links\":[{\"id\":\"r$((i - 1))\",\"type\":\"next\"}]"
  printf '{"id":"r%d","vector":[%s],"title":"topic%d","text":"note %d about topic%d and topic%d","meta":{"n":%d}%s}\n' \
    "$i" "$v" "$i" "$i" "$(( (i + 1) % 300 ))" "$(( (i + 7) % 300 ))" "$i" "$link"
done >"$tmp/in.jsonl"

# Three records to import into each damaged copy: text naming titles (the
# title map and mention links change) and a link into the old records.
for i in 1 2 3; do
  printf '{"id":"n%d","vector":[1,2,3,4,5,6,7,%d],"title":"new%d","text":"more about topic%d","links":[{"id":"r%d","type":"next"}]}\n' \
    "$i" "$i" "$i" "$((i * 70))" "$((i * 70 + 1))"
done >"$tmp/more.jsonl"

make_store() { # DIR INDEX [--encrypt]
  expect 0 "init $1 ${*:3}" init "$1" --dim 8 --metric l2 "${@:3}"
  expect 0 "import into $1" import "$1" "$tmp/in.jsonl" --quiet
  expect 0 "build pq4 with index $2 in $1" build "$1" --codec pq4 --index "$2" --quiet
  expect 0 "link $1" link "$1" -k 5
  expect 0 "check $1" check "$1"
}

# flip FILE: overwrites $flips random bytes past the two meta pages (a
# damaged meta page is refused on open, which cli_basic.sh already covers).
flip() {
  local f=$1 size off n
  size=$(stat -c %s "$f")
  for n in $(seq 1 "$flips"); do
    off=$(( 8192 + ((RANDOM << 15) | RANDOM) % (size - 8192) ))
    printf "\\x$(printf %02x $((RANDOM % 256)))" |
      dd of="$f" bs=1 seek="$off" conv=notrunc status=none
  done
}

# survive DESC CMD...: exit 0, 1 or 2, a message with any failure, no
# sanitizer report, within 60 s.
survive() {
  local desc=$1
  shift
  rc=0
  timeout 60 "$cli" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -le 2 ] || fail "$desc: exit $rc (a signal, or a time-out at 124)"
  # (check lists the problems it finds on stdout)
  [ "$rc" -eq 0 ] || [ -s "$tmp/err" ] || [ -s "$tmp/out" ] ||
    fail "$desc: exit $rc without a message"
  ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/err" ||
    fail "$desc: sanitizer report"
}

export CVSTORE_PASSPHRASE='damage test'
make_store "$tmp/plain" ivf4,sq8
make_store "$tmp/sealed" ivf4 --encrypt

damaged=0
for kind in plain sealed; do
  for c in $(seq 1 "$copies"); do
    d="$tmp/copy"
    rm -rf "$d"
    cp -r "$tmp/$kind" "$d"
    flip "$d/data.mdb"
    what="$kind copy $c"
    survive "$what: check" check "$d"
    [ "$rc" -eq 0 ] || damaged=$((damaged + 1))
    survive "$what: get" get "$d" r5 r150 r299
    survive "$what: search" search "$d" --query-vector 1,2,3,4,5,6,7,8 -k 5
    survive "$what: search --ann" search "$d" --query-vector 1,2,3,4,5,6,7,8 -k 5 --ann
    survive "$what: stats" stats "$d"
    survive "$what: export" export "$d" -o "$tmp/export.jsonl"
    survive "$what: context" context "$d" --query-vector 1,2,3,4,5,6,7,8 --budget 200
    # a question in words: sentences by default, read from the sentence table
    survive "$what: context --text" context "$d" --text "note about topic5" --budget 200
    survive "$what: link" link "$d" -k 5
    survive "$what: import" import "$d" "$tmp/more.jsonl" --quiet
    survive "$what: delete" delete "$d" r5 r150 r299 r77
  done
done
ok "every command on $((2 * copies)) damaged copies ended with a message, never a signal"
# The flips must have hit something: most copies fail their check.
[ "$damaged" -ge "$copies" ] || fail "only $damaged of $((2 * copies)) damaged copies failed check"
ok "check found damage in $damaged of $((2 * copies)) copies"
# A data.mdb of 0 bytes (an init killed, a copy cut short): not a store, said
# so (a reading open said "opening: Bad file descriptor", exit 2, and a
# writing one made the file an empty LMDB environment); nothing is written.
d="$tmp/empty"
cp -r "$tmp/plain" "$d"
: >"$d/data.mdb"
expect 1 "stats of an empty data.mdb" stats "$d"
has "$tmp/err" "data.mdb is empty" "stats says data.mdb is empty"
has "$tmp/err" "run init again" "stats says what to do"
# check's finding, as for any damage: on stdout, and in its JSON report
expect 1 "check of an empty data.mdb" check "$d"
has "$tmp/out" "problem: store cannot be opened: $d: an init was interrupted: no store was created (data.mdb is empty)" "check says data.mdb is empty"
has "$tmp/out" "run init again" "check says what to do"
has "$tmp/out" "1 problem found" "check counts it"
expect 1 "check --json of an empty data.mdb" check "$d" --json
has "$tmp/out" '{"healthy":false,"problems":1,"records":null,"messages":["store cannot be opened: ' \
  "check --json reports it"
# A data.mdb cut to a third (a copy that stopped): the same verdict, the
# library's reason and its remedy (check exited 2, "the check itself
# failed", and --json printed nothing for a script to read).
d="$tmp/short"
cp -r "$tmp/plain" "$d"
truncate -s $(( $(stat -c %s "$d/data.mdb") / 3 / 4096 * 4096 )) "$d/data.mdb"
expect 1 "check of a data.mdb cut short" check "$d"
has "$tmp/out" "problem: store cannot be opened: $d: data.mdb is cut short" "check says it is cut short"
has "$tmp/out" "restore the store from a backup" "check gives the remedy"
expect 1 "check --json of a data.mdb cut short" check "$d" --json
/usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
assert r["healthy"] is False and r["problems"] == 1 and r["records"] is None, r
assert "data.mdb is cut short" in r["messages"][0], r' "$tmp/out" ||
  fail "check --json of a data.mdb cut short: $(cat "$tmp/out")"
ok "check --json of a data.mdb cut short is a report of one problem"
d="$tmp/empty"
expect 1 "import into an empty data.mdb" import "$d" "$tmp/more.jsonl" --quiet
has "$tmp/err" "data.mdb is empty" "import says data.mdb is empty"
[ ! -s "$d/data.mdb" ] || fail "opening an empty data.mdb for writing wrote to it"
ok "an empty data.mdb stays empty"

# Meta page fields LMDB trusts, each refused before LMDB opens the file
# (a page size of 0 was a SIGFPE, exit 136; a last page of 2^52 an open
# that never ended, exit 124 here).
put_le() { # FILE OFFSET BYTES VALUE: VALUE little-endian in BYTES bytes
  local i s=""
  for i in $(seq 0 $(($3 - 1))); do s="$s$(printf '\\x%02x' $((($4 >> (8 * i)) & 255)))"; done
  printf "$s" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
psize=$(getconf PAGESIZE)
[ "$psize" -le 32768 ] || psize=32768
for damage in "40 4 0 meta page 0 gives a page size of 0" \
              "$((psize + 40)) 4 2147483648 meta page 1 gives a page size of 2147483648" \
              "136 8 $((1 << 52)) which no map" \
              "136 8 $((1 << 30)) more than its free list could name"; do
  set -- $damage
  d="$tmp/meta"
  rm -rf "$d"
  cp -r "$tmp/plain" "$d"
  put_le "$d/data.mdb" "$1" "$2" "$3"
  # the last page: in both meta pages, so the newer has it
  [ "$1" != 136 ] || put_le "$d/data.mdb" "$((psize + 136))" "$2" "$3"
  want=${damage#* * * }
  # stats fails (exit 2); check's verdict is the damage (exit 1, on stdout)
  for cmd in stats check; do
    rc=0
    timeout 20 "$cli" "$cmd" "$d" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$cmd" = stats ]; then want_rc=2 where=err; else want_rc=1 where=out; fi
    [ "$rc" -eq "$want_rc" ] || fail "$cmd with '$want': exit $rc, expected $want_rc (124 is a hang)"
    has "$tmp/$where" "$want" "$cmd says $want"
  done
  ok "a meta page with '$want' is refused"
done
echo "$passed passed"
