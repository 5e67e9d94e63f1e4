#!/usr/bin/env bash
# cli_export.sh -- `cvstore export -o FILE` of an encrypted store: an export
# killed (-9) part way leaves no file holding its plaintext beside FILE, and
# FILE is either absent or the previous complete export; a normal export
# writes a new FILE owner-only and replaces an existing one, keeping its mode.
#   bash tests/cli_export.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

export CVSTORE_PASSPHRASE='open sesame'
db="$tmp/s"
o="$tmp/o"
mkdir "$o"
# 20000 records of 64 dimensions: an export of some 17 MB, long enough to
# be caught part way.
awk 'BEGIN { srand(1); for (i = 0; i < 20000; i++) {
  printf "{\"id\":\"r%d\",\"vector\":[", i
  for (j = 0; j < 64; j++) printf "%s%.6f", (j ? "," : ""), rand()
  printf "],\"text\":\"confidential memo %d\"}\n", i } }' >"$tmp/in.jsonl"
expect 0 "init --encrypt" init "$db" --dim 64 --metric l2 --encrypt
expect 0 "import" import "$db" "$tmp/in.jsonl" --quiet

expect 0 "export to a new file" export "$db" -o "$o/out.jsonl" --quiet
[ "$(wc -l <"$o/out.jsonl")" -eq 20000 ] || fail "the export has every record"
[ "$(stat -c %a "$o/out.jsonl")" = 600 ] || fail "a new export is owner-only"
ok "a new export is complete and owner-only"
err=$("$cli" export "$db" -o "$o/quiet.jsonl" --quiet 2>&1 >/dev/null)
[ -z "$err" ] || fail "export --quiet says nothing on stderr (it said: $err)"
err=$("$cli" export "$db" -o "$o/quiet.jsonl" 2>&1 >/dev/null)
case "$err" in *"exported 20000 records to $o/quiet.jsonl"*) ;;
  *) fail "export without --quiet names what it wrote (it said: $err)" ;; esac
rm -f "$o/quiet.jsonl"
ok "export --quiet prints no summary; without it the summary names the file"
cp "$o/out.jsonl" "$tmp/prev.jsonl"

# kill_part_way TARGET: starts an export to TARGET and kills it with -9 once
# it has written some of its output (a file of its open in $o that is not
# empty).  Returns 1 if the export ended before it could be caught.
# The name it was writing is left in $writing.
writing=
kill_part_way() {
  local pid fd caught=0 name
  "$cli" export "$db" -o "$1" --quiet 2>/dev/null &
  pid=$!
  while [ "$caught" -eq 0 ] && kill -0 "$pid" 2>/dev/null; do
    for fd in /proc/"$pid"/fd/*; do
      name=$(readlink "$fd" 2>/dev/null) || continue
      case "$name" in
      "$o"/*)
        if [ "$(stat -L -c %s "$fd" 2>/dev/null || echo 0)" -gt 0 ]; then
          writing=$name
          kill -9 "$pid" 2>/dev/null && caught=1
          break
        fi ;;
      esac
    done
  done
  wait "$pid" 2>/dev/null || true
  [ "$caught" -eq 1 ]
}
# no_stray KEEP: $o holds no file but KEEP (if any), and none holds plaintext
# (after up to 10 s: a guardian process removes what a killed export left).
no_stray() {
  local f i
  for i in $(seq 100); do
    [ -z "$(find "$o" -mindepth 1 ! -path "$1" -print -quit)" ] && break
    sleep 0.1
  done
  for f in "$o"/* "$o"/.[!.]*; do
    [ -e "$f" ] || continue
    [ "$f" = "$1" ] && continue
    if grep -qF confidential "$f"; then fail "a killed export left $f holding plaintext"; fi
    fail "a killed export left $f beside the target"
  done
}

# killed TARGET: kill_part_way until it catches the export (5 tries).
killed() {
  local attempt
  for attempt in 1 2 3 4 5; do
    kill_part_way "$1" && return 0
  done
  fail "an export to $1 was caught part way (it ended first 5 times)"
}

# kills_leave_nothing HOW: an export killed part way over FILE leaves FILE
# as it was and no plaintext beside it; one to a new name leaves nothing.
# HOW names the way the output file is made (in the messages); with the
# fallback, the file written must be the named temporary one.
kills_leave_nothing() {
  killed "$o/out.jsonl"
  if [ -n "${CVSTORE_TEST_NO_TMPFILE:-}" ]; then
    case "$writing" in
    "$o"/.out.jsonl.tmp-*) ;;
    *) fail "the fallback wrote a named temporary file beside FILE, not $writing" ;;
    esac
  fi
  no_stray "$o/out.jsonl"
  cmp -s "$o/out.jsonl" "$tmp/prev.jsonl" || fail "$1: a killed export left FILE as it was"
  ok "$1: an export killed part way leaves no plaintext beside FILE and FILE as it was"
  killed "$o/new.jsonl"
  no_stray "$o/out.jsonl"
  [ ! -e "$o/new.jsonl" ] || fail "$1: an export to a new name killed part way left the name"
  ok "$1: an export to a new name killed part way leaves nothing"
}

kills_leave_nothing O_TMPFILE

# The same where O_TMPFILE cannot be used: the named temporary file beside
# FILE (forced with CVSTORE_TEST_NO_TMPFILE=1) is removed when the export is
# killed, and a completed export is the same file as through O_TMPFILE.
export CVSTORE_TEST_NO_TMPFILE=1
kills_leave_nothing "named temporary file"
expect 0 "export (fallback) to a new name" export "$db" -o "$o/new.jsonl" --quiet
cmp -s "$o/new.jsonl" "$tmp/prev.jsonl" || fail "a completed export (fallback) is complete"
[ "$(stat -c %a "$o/new.jsonl")" = 600 ] || fail "a new export (fallback) is owner-only"
rm "$o/new.jsonl"
no_stray "$o/out.jsonl"
ok "fallback: a completed export is whole, owner-only, and leaves nothing else"

# Without close_range (ENOSYS: Linux before 5.9, where the fallback runs
# most; injected by strace), the export still ends, complete, and leaves no
# guardian: one that kept the pipe's write end open waited forever, and the
# export with it.  Skipped without strace (or where it cannot inject).
if command -v strace >/dev/null &&
  strace -f -o /dev/null -e inject=close_range:error=ENOSYS true 2>/dev/null; then
  # setsid: a hung export and its guardian (which ignores TERM) are one
  # process group, killed together below.
  (ulimit -n 4096; exec setsid strace -f -o "$tmp/strace.log" -e trace=close_range \
    -e inject=close_range:error=ENOSYS "$cli" export "$db" -o "$o/new.jsonl" --quiet) &
  pid=$!
  for i in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$o"/.new.jsonl.tmp-* "$o/new.jsonl"
    fail "without close_range, the export (fallback) was still running after 120 s"
  fi
  wait "$pid" || fail "without close_range, the export (fallback) failed"
  grep -q 'close_range(.*ENOSYS' "$tmp/strace.log" || fail "strace injected no ENOSYS"
  cmp -s "$o/new.jsonl" "$tmp/prev.jsonl" || fail "without close_range, the export is complete"
  rm "$o/new.jsonl"
  no_stray "$o/out.jsonl"
  ok "fallback without close_range: the export ends, complete, and leaves nothing"
else
  echo "skip: no strace that can inject ENOSYS into close_range"
fi
unset CVSTORE_TEST_NO_TMPFILE

# A normal export replaces the file, which keeps its permissions.
chmod 640 "$o/out.jsonl"
expect 0 "delete a record" delete "$db" r7
expect 0 "export over the previous one" export "$db" -o "$o/out.jsonl" --quiet
[ "$(wc -l <"$o/out.jsonl")" -eq 19999 ] || fail "the export replaced the previous one"
[ "$(stat -c %a "$o/out.jsonl")" = 640 ] || fail "a replaced export keeps its mode"
no_stray "$o/out.jsonl"
ok "an export replaces FILE, keeping its mode, and leaves nothing else"

# -o naming the store's own data.mdb (or lock.mdb): refused, the store kept
# (the export was renamed over data.mdb: the store was gone, its records a
# JSONL file in its place).
for f in data.mdb lock.mdb; do
  before=$(md5sum <"$db/data.mdb")
  expect 1 "export -o the store's $f" export "$db" -o "$db/$f" --quiet
  has "$tmp/err" "$db/$f is a store's own file" "export -o $f says why"
  [ "$(md5sum <"$db/data.mdb")" = "$before" ] || fail "export -o $f changed data.mdb"
done
expect 0 "the store is whole after" check "$db" --quiet
ok "export never writes over a store's data.mdb or lock.mdb"

echo "$passed passed, 0 failed"
