#!/usr/bin/env bash
# cli_signals.sh -- a long command stopped by a signal, and output into a
# pipe closed early: Ctrl-C (SIGINT) or SIGTERM during an import says what
# was kept and what to run, ends by that signal (the shell's 130 or 143),
# keeps every batch committed before, and the same import again completes
# it (stopped while it links a text store: the records are all kept, and
# `cvstore link` is named); a build stopped the same way keeps the store
# as it was, an export the file it was to replace; an init stopped before
# its store is whole (its embedder attached) removes what it made; and
# `search | head -1` ends quietly (SIGPIPE, no error text) and damages
# nothing.
# Needs bash, coreutils and perl (perl-base).
#   bash tests/cli_signals.sh PATH_TO_cvstore [PATH_TO_tests/data]
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

# gen N DIM SEED: N vectors in fvecs, values in [0, 1) of a fixed LCG.
gen() {
  perl -e 'my ($n, $d, $s) = @ARGV; binmode STDOUT;
    for my $i (1 .. $n) { print pack("l<", $d);
      for my $j (1 .. $d) { $s = ($s * 1103515245 + 12345) % 2147483648;
        print pack("f<", $s / 2147483648.0); } }' "$@"
}
n=150000
gen $n 32 1 > "$tmp/v.fvecs"
gen 2000 32 2 > "$tmp/q.fvecs"
count() { "$cli" stats "$1" --json | perl -ne 'print $1 if /"count":\s*(\d+)/'; }

# Job control: a background job of a script otherwise starts with SIGINT
# ignored (and the command rightly leaves an ignored signal ignored).
set -m

# interrupt SIG NAME STORE CMD...: runs the CLI in the background, waits
# until STORE holds records (for an import: some batches are committed;
# STORE "-": one second, for a build of several), sends SIG, and leaves the exit status in $tmp/NAME.rc, stderr in
# $tmp/NAME.err.
interrupt() {
  local sig=$1 name=$2 store=$3 pid rc=0 i
  shift 3
  "$cli" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  if [ "$store" = - ]; then
    sleep 1
  else
    for i in $(seq 1 600); do
      [ "$(count "$store")" -gt 0 ] 2>/dev/null && break
      sleep 0.05
    done
  fi
  kill -s "$sig" "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  echo "$rc" >"$tmp/$name.rc"
}

"$cli" init "$tmp/s" --dim 32 --metric l2 >/dev/null
interrupt INT import "$tmp/s" import "$tmp/s" "$tmp/v.fvecs" --batch 500
[ "$(cat "$tmp/import.rc")" = 130 ] ||
  fail "an import stopped by Ctrl-C ends by SIGINT (exit $(cat "$tmp/import.rc"), stderr: $(cat "$tmp/import.err"))"
has "$tmp/import.err" "cvstore: import: interrupted: each batch of records written before it is committed" \
  "the import says what it kept"
has "$tmp/import.err" "the same import again completes it" "the import says what to run"
kept=$(count "$tmp/s")
[ "$kept" -gt 0 ] && [ "$kept" -lt $n ] && [ $((kept % 500)) = 0 ] ||
  fail "whole batches are kept (kept $kept of $n in batches of 500)"
ok "Ctrl-C during an import: a clear note, exit 130, $kept records in whole batches kept"
expect 0 "the interrupted store checks clean" check "$tmp/s"
expect 0 "the same import again completes it" import "$tmp/s" "$tmp/v.fvecs" --quiet
[ "$(count "$tmp/s")" = $n ] || fail "all $n records after the second import"
ok "the second import completes the first"

# SIGTERM during a build: nothing of it written, the store as it was.
"$cli" export "$tmp/s" --output "$tmp/before.jsonl" --quiet >/dev/null 2>&1
interrupt TERM build - build "$tmp/s" --codec pq8 --index ivf256
[ "$(cat "$tmp/build.rc")" = 143 ] ||
  fail "a build stopped by SIGTERM ends by it (exit $(cat "$tmp/build.rc"), stderr: $(cat "$tmp/build.err"))"
has "$tmp/build.err" "cvstore: build: interrupted: nothing of this build was written" \
  "the build says nothing was written"
run stats "$tmp/s"
has "$tmp/out" "codec:          none" "the interrupted build left no codec"
expect 0 "the store checks clean after the stopped build" check "$tmp/s"
"$cli" export "$tmp/s" --output "$tmp/after.jsonl" --quiet >/dev/null 2>&1
cmp -s "$tmp/before.jsonl" "$tmp/after.jsonl" || fail "the records are as before the build"
ok "SIGTERM during a build: a clear note, exit 143, the store as it was"

# Ctrl-C during `export --output F`: F is left as it was, no temporary file.
echo previous >"$tmp/out.jsonl"
interrupt INT export - export "$tmp/s" --output "$tmp/out.jsonl" --quiet
[ "$(cat "$tmp/export.rc")" = 130 ] ||
  fail "an export stopped by Ctrl-C ends by it (exit $(cat "$tmp/export.rc"), stderr: $(cat "$tmp/export.err"))"
has "$tmp/export.err" "cvstore: export: interrupted: $tmp/out.jsonl is left as it was" "export says so"
[ "$(cat "$tmp/out.jsonl")" = previous ] || fail "the interrupted export left the file as it was"
# (removed by export's guardian process as the export dies: give it time)
for i in $(seq 1 100); do
  [ -z "$(ls -A "$tmp" | grep -F out.jsonl | grep -vx out.jsonl)" ] && break
  sleep 0.05
done
[ -z "$(ls -A "$tmp" | grep -F out.jsonl | grep -vx out.jsonl)" ] ||
  fail "no temporary file is left: $(ls -A "$tmp")"
ok "Ctrl-C during export --output: a clear note, the file as it was"

# Ctrl-C during `init --copy-vocab` (the GloVe files copied into the store:
# 141 MB of the real ones, 80 MB of these): the store it was making is
# removed, so the same command again works instead of finding "a store
# already exists there", and a directory that was there before stays.
mkdir "$tmp/glove"
perl -e 'my ($n, $d) = @ARGV; open my $w, ">", "$d/glove100.words" or die; open my $v, ">",
  "$d/glove100.fvecs" or die; binmode $v; my $rec = pack("l<", 100) . pack("f<100", map {
  ($_ % 7) / 10 - 0.3 } 1 .. 100); for my $i (0 .. $n - 1) { print $w "w$i\n"; print $v $rec }' \
  200000 "$tmp/glove"
export CVSTORE_GLOVE_DIR="$tmp/glove"
for made in new existing; do
  rm -rf "$tmp/g"
  [ $made = existing ] && mkdir "$tmp/g"
  "$cli" init "$tmp/g" --embedder glove --copy-vocab >"$tmp/init.out" 2>"$tmp/init.err" &
  pid=$!
  for i in $(seq 1 400); do [ -e "$tmp/g/data.mdb" ] && break; sleep 0.02; done
  sleep 0.2
  kill -s INT "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 130 ] || fail "init ($made directory) stopped by Ctrl-C ends by it (exit $rc: $(cat "$tmp/init.out" "$tmp/init.err"))"
  has "$tmp/init.err" "cvstore: init: interrupted: nothing of the store is left" "init says so"
  if [ $made = new ]; then
    [ ! -e "$tmp/g" ] || fail "the interrupted init removes the directory it made: $(ls -la "$tmp/g")"
  else
    [ -d "$tmp/g" ] && [ -z "$(ls -A "$tmp/g")" ] ||
      fail "the interrupted init leaves the directory that was there, empty: $(ls -la "$tmp/g")"
  fi
  expect 0 "the same init again ($made directory) works" init "$tmp/g" --embedder glove --copy-vocab
done
ok "Ctrl-C during init --copy-vocab leaves nothing, and init again works"

# Ctrl-C after a text store's records are in, while the import links them
# (mentions, kNN graph): the note says the records are all committed and
# names `cvstore link` for the rest, not the import again (which would
# embed every record anew).
rm -rf "$tmp/g"
mkdir "$tmp/glove2" # 5000 words of varied vectors (the cache above repeats one)
perl -e 'my $s = 7; my $d = shift; open my $w, ">", "$d/glove100.words" or die; open my $v,
  ">", "$d/glove100.fvecs" or die; binmode $v; for my $i (0 .. 4999) { print $w "w$i\n"; print $v pack("l<", 100),
  pack("f<100", map { $s = ($s * 1103515245 + 12345) % 2147483648; $s / 2147483648 - 0.5 }
  1 .. 100) }' "$tmp/glove2"
export CVSTORE_GLOVE_DIR="$tmp/glove2"
"$cli" init "$tmp/g" --embedder glove >/dev/null
perl -e 'my $s = 1; for my $i (0 .. 29999) { my @w = map { $s = ($s * 1103515245 + 12345)
  % 2147483648; "w" . ($s % 5000) } 1 .. 8; print "{\"id\":\"t$i\",\"text\":\"@w[0..3]. @w[4..7].\"}\n" }' \
  >"$tmp/texts.jsonl"
"$cli" import "$tmp/g" "$tmp/texts.jsonl" --quiet >"$tmp/tximport.out" 2>"$tmp/tximport.err" &
pid=$!
for i in $(seq 1 1200); do [ "$(count "$tmp/g")" = 30000 ] 2>/dev/null && break; sleep 0.05; done
kill -s INT "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "an import stopped while linking ends by SIGINT (exit $rc: $(cat "$tmp/tximport.err"))"
has "$tmp/tximport.err" "cvstore: import: interrupted: all 30000 records are imported and committed; the links (mentions, kNN graph) were not finished: \`cvstore link $tmp/g\` makes them" \
  "the import stopped while linking names cvstore link"
expect 0 "cvstore link completes the interrupted import" link "$tmp/g" --quiet
expect 0 "the linked store checks clean" check "$tmp/g"
ok "Ctrl-C while an import links: the records kept, cvstore link named"
unset CVSTORE_GLOVE_DIR
rm -rf "$tmp/glove" "$tmp/glove2" "$tmp/g"

# A signal the command was started with ignored stays ignored (nohup, a
# background job without job control): the import runs to its end.
set +m
rm -rf "$tmp/s2"
"$cli" init "$tmp/s2" --dim 32 --metric l2 >/dev/null
trap '' INT # ignored in this shell when the job forks: no window before it is
"$cli" import "$tmp/s2" "$tmp/q.fvecs" --quiet &
pid=$!
trap - INT
kill -s INT "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] && [ "$(count "$tmp/s2")" = 2000 ] ||
  fail "an ignored SIGINT stays ignored (exit $rc, $(count "$tmp/s2") records)"
ok "an ignored SIGINT stays ignored"

# Output into a pipe its reader closed: SIGPIPE ends the command quietly.
for json in "" --json; do
  set +o pipefail
  "$cli" search "$tmp/s" --query-file "$tmp/q.fvecs" -k 50 $json 2>"$tmp/pipe.err" | head -1 >/dev/null
  set -o pipefail
  [ ! -s "$tmp/pipe.err" ] || fail "search $json | head -1 writes no error: $(cat "$tmp/pipe.err")"
done
ok "search | head -1 ends without error text"
expect 0 "the store checks clean after the closed pipes" check "$tmp/s"

echo "$passed passed"
