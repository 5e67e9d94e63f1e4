#!/usr/bin/env bash
# cli_trust.sh -- what a new user trips over first at the command line:
# export never destroys what -o names, stores and exports are owner-only,
# imports read pipes and standard input, the exit codes and messages of
# user mistakes, ids that are not text, and a full disk named as such.
# Needs only bash and coreutils; the parts that need root (a device node,
# a small tmpfs) skip themselves without it.
#   bash tests/cli_trust.sh PATH_TO_cvstore [PATH_TO_tests/data]
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
cd "$tmp"
umask 022 # what most users have: the owner-only modes below are ours

# hexbytes HEX: the bytes the hex string spells.
hexbytes() {
  printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"
}
# npy_f8 FILE ROWS COLS HEX: a float64 .npy of ROWS x COLS (data in HEX).
npy_f8() {
  local h="{'descr': '<f8', 'fortran_order': False, 'shape': ($2, $3), }"
  while [ $(((10 + ${#h} + 1) % 64)) -ne 0 ]; do h="$h "; done
  { printf '\x93NUMPY\x01\x00'; hexbytes "$(printf '%02x00' $((${#h} + 1)))"; printf '%s\n' "$h"
    hexbytes "$4"; } >"$1"
}

db="$tmp/db"
expect 0 "init" init "$db" --dim 2 --metric l2
printf '%s\n' '{"id":"a","vector":[1,2],"text":"alpha"}' '{"id":"b","vector":[3,4]}' >two.jsonl
expect 0 "import" import "$db" two.jsonl

# ---- 1. export -o never removes what it names --------------------------------
printf 'precious\n' >keep.jsonl
big="$tmp/big"
expect 0 "init a larger store" init "$big" --dim 64 --metric l2
for i in $(seq 0 199); do
  printf '{"id":"r%d","vector":[%s]}\n' "$i" "$(seq -s, "$i" $((i + 63)))"
done >big.jsonl
expect 0 "import 200 records" import "$big" big.jsonl
# A failing export (the file size limit stops the write part-way, EFBIG).
rc=0
(trap '' XFSZ; ulimit -f 8; "$cli" export "$big" -o keep.jsonl) 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "an export that cannot write exits 2 (exit $rc)"
[ "$(cat keep.jsonl)" = precious ] || fail "a failed export leaves the old file as it was"
! ls -a | grep -q 'keep.jsonl.*tmp' || fail "a failed export leaves no temporary file"
ok "a failed export keeps the target and removes only its own temporary file"
expect 0 "export over an existing file" export "$big" -o keep.jsonl
[ "$(wc -l <keep.jsonl)" -eq 200 ] || fail "the export replaced the file"
ok "a complete export replaces the file"
# A FIFO is written in place and stays a FIFO.
mkfifo fifo
cat fifo >fifo.out &
reader=$!
expect 0 "export to a FIFO" export "$db" -o fifo
wait "$reader"
[ -p fifo ] || fail "the FIFO is still a FIFO"
[ "$(wc -l <fifo.out)" -eq 2 ] || fail "the FIFO's reader got the export"
ok "export to a FIFO writes through it and keeps it"
if [ "$(id -u)" -eq 0 ] && mknod full c 1 7 2>/dev/null; then
  expect 2 "export to a full device fails" export "$db" -o full
  has "$tmp/err" "No space left on device" "the device's error is reported"
  [ -c full ] || fail "the device node is still there after a failed export"
  ok "a failed export to a device never removes the device"
else
  echo "ok - # skip: mknod needs root"
fi
# Owner-only unless asked.
expect 0 "export to a new file" export "$db" -o new.jsonl
[ "$(stat -c %a new.jsonl)" = 600 ] || fail "a new export is 0600 (is $(stat -c %a new.jsonl))"
ok "a new export is owner-only"
expect 0 "export --umask" export "$db" -o wide.jsonl --umask
[ "$(stat -c %a wide.jsonl)" = 644 ] || fail "export --umask honours the umask"
ok "export --umask gives the usual permissions"
chmod 640 keep.jsonl
expect 0 "export over a 0640 file" export "$db" -o keep.jsonl
[ "$(stat -c %a keep.jsonl)" = 640 ] || fail "a replaced file keeps its permissions"
ok "a replaced export keeps the file's permissions"

# ---- 20. stores are owner-only; key files readable by others are named --------
[ "$(stat -c %a "$db")" = 700 ] || fail "a new store's directory is 0700"
[ "$(stat -c %a "$db/data.mdb")" = 600 ] || fail "a new store's data.mdb is 0600"
[ "$(stat -c %a "$db/lock.mdb")" = 600 ] || fail "a new store's lock.mdb is 0600"
ok "a new store is owner-only"
expect 0 "init --umask" init wide --dim 2 --metric l2 --umask
[ "$(stat -c %a wide)/$(stat -c %a wide/data.mdb)" = 755/644 ] ||
  fail "init --umask honours the umask ($(stat -c %a wide)/$(stat -c %a wide/data.mdb))"
ok "init --umask gives the usual permissions"
printf 'a passphrase\n' >key
chmod 644 key
expect 0 "init --encrypt with a world-readable key file" init enc --dim 2 --metric l2 --encrypt --key-file key
has "$tmp/err" "readable by others" "a world-readable key file is warned about"
chmod 600 key
expect 0 "stats with an owner-only key file" stats enc --key-file key
! grep -q "readable by others" "$tmp/err" || fail "no warning for a 0600 key file"
ok "no warning for an owner-only key file"

# ---- 14. import from standard input and pipes; float64 npy ---------------------
std="$tmp/std"
expect 0 "init for stdin" init "$std" --dim 2 --metric l2
rc=0
"$cli" import "$std" - --format jsonl <two.jsonl >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "import - reads standard input (exit $rc)"
has "$tmp/err" "imported 2 records" "import - imports the records"
rc=0
cat big.jsonl | "$cli" import "$big" /dev/stdin --format jsonl >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "import /dev/stdin from a pipe (exit $rc)"
has "$tmp/err" "imported 200 records (0 new, 200 updated)" "a pipe imports every record"
ok "import reads standard input and pipes"
# All-or-nothing through a pipe: a bad last line changes nothing.
rc=0
{ printf '{"id":"p1","vector":[5,6]}\n'; printf '{"id":"p2","vector":[7]}\n'; } |
  "$cli" import "$std" - --format jsonl >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a bad record on standard input exits 1 (exit $rc)"
has "$tmp/err" "standard input: line 2" "the error names standard input and the line"
expect 1 "the good first line was not written" get "$std" p1
ok "a bad pipe changes nothing"
rc=0
{ printf '{"id":"d","vector":[5,6]}\n{"id":"d","vector":[5,6]}\n'; } |
  "$cli" import "$std" - --format jsonl >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a duplicate id on standard input exits 1 (exit $rc)"
has "$tmp/err" 'line 2: duplicate id "d" (first seen on line 1)' "duplicates on a pipe are named"
ok "duplicates are found in a spooled pipe"
# Without --format: JSONL (what export writes) is known by its first '{', so
# `export A | import B -` works as it reads; a binary stream needs --format.
expect 0 "init a store to pipe into" init "$tmp/piped" --dim 2 --metric l2
rc=0
"$cli" export "$std" | "$cli" import "$tmp/piped" - >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "export | import - without --format (exit $rc)"
has "$tmp/err" "imported 2 records" "export | import - imports the export"
expect 0 "a record piped in arrived" get "$tmp/piped" a --json --vector
has "$tmp/out" '"vector":[1,2],"text":"alpha"' "the piped record is whole"
rc=0
"$cli" import "$std" - </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "empty standard input without --format (exit $rc)"
has "$tmp/err" "standard input holds no records" "empty standard input is an empty export"
rc=0
printf '\002\000\000\000\000\000\200\077\000\000\000\100' |
  "$cli" import "$std" - >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "binary standard input without --format (exit $rc)"
has "$tmp/err" "needs --format" "binary standard input needs a format"
ok "import - tells JSONL by its first byte, and asks for the format of anything else"
npy_f8 f8.npy 2 2 000000000000f83f000000000000024000000000000008400000000000001040
expect 0 "import a float64 npy" import "$std" f8.npy
expect 0 "get a float64 record" get "$std" 1 --json --vector
has "$tmp/out" '"vector":[3,4]' "float64 values arrive as float32"
npy_f8 f8big.npy 1 2 000000000000f83f1d4a9cf487820748
expect 1 "a float64 beyond float32's range" import "$std" f8big.npy
has "$tmp/err" "outside the float32 range" "the range error says so"

# ---- 21. blank lines, a full disk --------------------------------------------
# A file of no records imports nothing, says so (even with --quiet), and
# changes nothing: an empty store's export is an empty file, and its
# import restores the empty store.
printf '\n\n\n' >blank.jsonl
expect 0 "a jsonl file of blank lines" import "$db" blank.jsonl --quiet
has "$tmp/err" "imported 0 records: blank.jsonl holds no records; the store is unchanged" \
  "blank lines are no records"
expect 0 "init an empty store" init "$tmp/empty" --dim 2 --metric l2
expect 0 "export the empty store" export "$tmp/empty" -o empty.jsonl
[ ! -s empty.jsonl ] || fail "an empty store exports an empty file"
expect 0 "import the empty export" import "$db" empty.jsonl
has "$tmp/err" "imported 0 records: empty.jsonl holds no records" "the summary says none"
run export "$db"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "the store keeps its two records: $(cat "$tmp/out")"
ok "an empty import changes nothing"
if [ "$(id -u)" -eq 0 ] && mkdir small && mount -t tmpfs -o size=96k tmpfs small 2>/dev/null; then
  trap 'umount "$tmp/small" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  expect 0 "init on a small file system" init small/db --dim 64 --metric l2
  expect 2 "import onto a full disk" import small/db big.jsonl
  has "$tmp/err" "No space left on device" "a full disk is named as such"
  umount small
else
  echo "ok - # skip: mounting a small tmpfs needs root"
fi

# ---- 16. exit codes and messages of user mistakes ------------------------------
expect 1 "import of a missing file" import "$db" nope.jsonl
has "$tmp/err" "nope.jsonl: No such file or directory" "a missing file is called missing"
! grep -q "malformed" "$tmp/err" || fail "a missing file is not 'malformed input'"
expect 1 "import of a path through a file" import "$db" two.jsonl/x --format jsonl
expect 1 "import --ids of a missing file" import "$db" f8.npy --ids nope.txt
has "$tmp/err" "nope.txt" "the missing ids file is named"

# Messages speak of the command line, not of library functions or fields.
expect 1 "delete of an empty id" delete "$db" ""
has "$tmp/err" "id 1 is empty" "an empty id is named"
printf '{"id":"t","text":"hello"}\n' >text.jsonl
expect 1 "text into a store without an embedder" import "$db" text.jsonl
has "$tmp/err" "--embedder" "the fix is named"
printf '{"id":"t","vector":[1,2]}\n' >ids.jsonl
expect 1 "--ids with a jsonl file" import "$db" ids.jsonl --ids plain
! grep -q "cvs_\|ids_path" "$tmp/err" || fail "no library names in messages"
long=$(printf 'word %.0s' $(seq 7000))
expect 1 "context of a question over the length limit" context "$db" --text "$long"
has "$tmp/err" "cvstore: context: invalid argument: the query has 35000 bytes, over the limit" \
  "the limit is named once, in the command's words"
! grep -q "cvs_\|CVS_" "$tmp/err" || fail "no library names in the length message"
run delete "$db" ""
! grep -q "cvs_" "$tmp/err" || fail "no library names in delete's message"
run import "$db" text.jsonl
! grep -q "cvs_" "$tmp/err" || fail "no library names in the missing-embedder message"
ok "messages name no library internals"
touch plain
expect 1 "init on a regular file" init plain --dim 2 --metric l2
has "$tmp/err" "not a directory" "init on a file says why"
expect 1 'init ""' init "" --dim 2 --metric l2
expect 1 "a bad option" search "$db" --bogus
has "$tmp/err" "Try 'cvstore search --help'" "a usage error points at --help"
[ "$(wc -l <"$tmp/err")" -eq 2 ] || fail "a usage error is two lines, not the whole help"
ok "a usage error is the error and one line"
expect 1 "an unknown command" frobnicate
[ "$(wc -l <"$tmp/err")" -eq 2 ] || fail "an unknown command is two lines"
ok "an unknown command is the error and one line"

# ---- 17. check names ids that are not text in hex -----------------------------
ck="$tmp/ck"
expect 0 "init for check" init "$ck" --dim 2 --metric l2
printf '%s\n' '{"id":"zqxjvid","vector":[1,2]}' '{"id":"other","vector":[3,4]}' >ck.jsonl
expect 0 "import for check" import "$ck" ck.jsonl
# Damage the id inside the record (its last copy in the file) into bytes that
# are not UTF-8, as a damaged encrypted store's hashed ids are.
off=$(grep -obUa zqxjvid "$ck/data.mdb" | tail -1 | cut -d: -f1)
[ -n "$off" ] || fail "the id is in data.mdb"
printf '\xff' | dd of="$ck/data.mdb" bs=1 seek="$off" conv=notrunc status=none
expect 1 "check --json on a store with a binary id" check "$ck" --json
has "$tmp/out" '"healthy":false' "check --json reports the damage"
has "$tmp/out" '\\xffqxjvid' "the binary byte is written in hex"
expect 1 "check on a store with a binary id" check "$ck"
! grep -qa $'\xff' "$tmp/out" || fail "check prints no raw binary"
has "$tmp/out" '"\xffqxjvid"' "check names the id in hex"

# ---- 18. search output with odd ids; --include ----------------------------------
se="$tmp/se"
expect 0 "init for search" init "$se" --dim 2 --metric l2
printf '%s\n' '{"id":"two\nlines","vector":[1,2],"title":"T","text":"alpha","meta":{"x":1.2345678901234567,"s":"q"}}' \
  '{"id":"plain","vector":[3,4]}' >se.jsonl
expect 0 "import ids with a newline" import "$se" se.jsonl
expect 0 "search table" search "$se" --query-vector 1,2 -k 2
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "one line per hit: $(cat "$tmp/out")"
has "$tmp/out" 'two\x0alines' "a newline in an id is escaped"
ok "the table keeps one line per hit"
expect 0 "get of an id with a newline" get "$se" "two
lines"
has "$tmp/out" 'id:       two\x0alines' "get prints such an id on one line"
expect 0 "search --json --include" search "$se" --query-vector 1,2 -k 2 --json --include text,title,meta
has "$tmp/out" '{"query":0,"results":[{"id":"two\nlines","score":0.0,"title":"T","text":"alpha","meta":{"x":1.2345678901234567,"s":"q"}},{"id":"plain","score":2.82842708}]}' \
  "--include returns each hit's payload, meta verbatim"
expect 0 "search --json --include meta" search "$se" --query-vector 1,2 -k 1 --json --include meta
has "$tmp/out" '{"id":"two\nlines","score":0.0,"meta":{"x":1.2345678901234567,"s":"q"}}' "--include meta alone"
expect 1 "--include of an unknown part" search "$se" --query-vector 1,2 -k 1 --json --include text,body
expect 1 "--include without --json" search "$se" --query-vector 1,2 -k 1 --include text

# ---- 16. build: --train raised for k-means is said; l2 gets direct codes ------
expect 0 "build ivf with a small --train" build "$big" --codec pq8 --index ivf4 --train 100
has "$tmp/err" "note: the IVF k-means trained on 160 vectors (40 per list for 4 lists), more than --train 100" \
  "a --train raised for the k-means is reported"
has "$tmp/err" "(direct codes)" "an l2 store gets direct codes"
expect 0 "build --help" build --help
has "$tmp/out" "the vector itself (direct) on l2 stores" "build --help says l2 stores get direct codes"
# ---- 17. each command's Usage line names the options its help describes ----
expect 0 "mcp --help" mcp --help
grep -q "^Usage: cvstore mcp DB .*--max-memory-bytes N" "$tmp/out" || fail "mcp's Usage names --max-memory-bytes"
expect 0 "export --help" export --help
grep -q "^Usage: cvstore export DB .*--umask" "$tmp/out" || fail "export's Usage names --umask"
expect 0 "link --help" link --help
grep -q "^Usage: cvstore link DB .*--quiet" "$tmp/out" || fail "link's Usage names --quiet"
expect 0 "check --help" check --help
grep -q "^Usage: cvstore check DB .*--quiet" "$tmp/out" || fail "check's Usage names --quiet"
long=$(printf 'why %.0s' $(seq 1 5000))
expect 1 "context with the question as a second word" context "$big" "$long"
has "$tmp/err" "unexpected argument 'why why" "the argument is named"
[ "$(wc -c <"$tmp/err")" -lt 400 ] || fail "a 20 KB argument is not echoed whole: $(wc -c <"$tmp/err") bytes"
expect 0 "context --help" context --help
has "$tmp/out" '"pool" (candidates chosen from), "ms"' "context --help names every member of its JSON"
ok "Usage lines name the options"

if command -v script >/dev/null; then
  # The progress bar draws only on a terminal: give it one.
  script -qec "'$cli' build '$big' --codec pq8 --index ivf4" /dev/null </dev/null >progress.out 2>&1 || true
  tr '\r' '\n' <progress.out >progress.lines
  grep -qa "coarse" progress.lines || fail "the k-means phase shows progress: $(head -c 300 progress.lines)"
  ! grep -a "coarse" progress.lines | grep -q "rec" || fail "k-means iterations are not counted as records"
  grep -a "encode" progress.lines | grep -q "200/200 rec" || fail "encoding counts records"
  ok "k-means progress counts steps, encoding records"
  # The kNN graph of link (and of a text store's import) compares every
  # record with every other: it shows progress too, unless --quiet.
  script -qec "'$cli' link '$big'" /dev/null </dev/null >progress.out 2>&1 || true
  tr '\r' '\n' <progress.out >progress.lines
  grep -a "^.*knn  .*200/200 rec" progress.lines >/dev/null || fail "link shows the kNN build's progress: $(head -c 300 progress.lines)"
  # A graph built within one report has no rate to show: not "0 rec/s".
  ! grep -qa " 0 rec/s" progress.lines || fail "a quick kNN build reads '0 rec/s': $(grep -a knn progress.lines | head -3)"
  script -qec "'$cli' link '$big' --quiet" /dev/null </dev/null >progress.out 2>&1 || true
  ! grep -qa "rec/s" progress.out || fail "link --quiet draws no progress bar"
  grep -qa "^knn: 16 neighbours each for 200 records" progress.out || fail "link --quiet still reports"
  ok "link shows the kNN build's progress on a terminal"
  # export to a file shows its progress; to the terminal itself, or --quiet, it does not.
  script -qec "'$cli' export '$big' -o '$tmp/prog.jsonl'" /dev/null </dev/null >progress.out 2>&1 || true
  tr '\r' '\n' <progress.out | grep -qa "^.*export .*200/200 rec" || fail "export -o shows progress: $(head -c 300 progress.out)"
  [ "$(wc -l <"$tmp/prog.jsonl")" = 200 ] || fail "export with a progress bar writes every record"
  script -qec "'$cli' export '$big' -q -o '$tmp/prog.jsonl'" /dev/null </dev/null >progress.out 2>&1 || true
  ! grep -qa "rec/s" progress.out || fail "export --quiet draws no bar"
  script -qec "'$cli' export '$big'" /dev/null </dev/null >progress.out 2>&1 || true
  ! grep -qa "rec/s" progress.out || fail "export to the terminal draws no bar over the records"
  ok "export shows its progress on a terminal when the records go to a file"
  # check walks every database of a large store: a bar per database on a
  # terminal, none with --quiet, none in a log, and the verdict unchanged.
  script -qec "'$cli' check '$big'" /dev/null </dev/null >progress.out 2>&1 || true
  tr '\r' '\n' <progress.out >progress.lines
  grep -qa "check ids .*200/200 entry" progress.lines || fail "check shows progress: $(head -c 300 progress.lines)"
  grep -qa "ok: 200 records, no problems found" progress.lines || fail "check's verdict after its bar"
  script -qec "'$cli' check '$big' --quiet" /dev/null </dev/null >progress.out 2>&1 || true
  ! grep -qa "entry/s" progress.out || fail "check --quiet draws no bar"
  "$cli" check "$big" >progress.out 2>&1 || fail "check of a healthy store"
  ! grep -qa "entry" progress.out || fail "check draws no bar off a terminal"
  ok "check shows its progress on a terminal"
fi

echo "$passed passed"
