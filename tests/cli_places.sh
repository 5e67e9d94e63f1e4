#!/usr/bin/env bash
# cli_places.sh -- the command line in places that refuse writes: a store on
# a file system that fills during an import, a store on a read-only file
# system, and the fetch scripts given a model cache they cannot write.  Each
# must say what happened and what to do, and lose nothing: the store opens
# and checks clean after, and the same import completes once there is room.
# The places are tmpfs mounts in a private mount namespace (unshare -rm), so
# the test needs no root; where that is not allowed it is skipped (77).
# Needs bash, coreutils, util-linux (unshare, mount) and perl (perl-base).
#   bash tests/cli_places.sh PATH_TO_cvstore [PATH_TO_tests/data]
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir "$tmp/probe"
if ! unshare -rm sh -c 'mount -t tmpfs -o size=1m tmpfs "$1" && mount -o remount,ro "$1"' \
    _ "$tmp/probe" 2>/dev/null; then
  echo "cli_places: SKIP: no private tmpfs mounts here (unshare -rm, mount)" >&2
  exit 77
fi

# gen N DIM SEED: N vectors in fvecs, values in [0, 1) of a fixed LCG.
gen() {
  perl -e 'my ($n, $d, $s) = @ARGV; binmode STDOUT;
    for my $i (1 .. $n) { print pack("l<", $d);
      for my $j (1 .. $d) { $s = ($s * 1103515245 + 12345) % 2147483648;
        print pack("f<", $s / 2147483648.0); } }' "$@"
}
gen 500 64 1 > "$tmp/small.fvecs"
gen 20000 64 2 > "$tmp/big.fvecs"   # 5.2 MB: more than the 3 MB file system holds

# Everything on a mount happens inside one namespace (the mounts die with
# it); the commands' outputs land in $tmp, outside it, and are judged below.
mkdir "$tmp/m" "$tmp/m2"
unshare -rm bash -c '
  cli=$1 m=$2 t=$3 scripts=$4 m2=$3/m2
  step() { local name=$1; shift; rc=0; "$@" >"$t/$name.out" 2>"$t/$name.err" || rc=$?; echo "$rc" >"$t/$name.rc"; }
  mount -t tmpfs -o size=3m tmpfs "$m" || exit 9
  step init "$cli" init "$m/s" --dim 64 --metric l2
  step small "$cli" import "$m/s" "$t/small.fvecs" --quiet
  step full "$cli" import "$m/s" "$t/big.fvecs" --batch 1000 --quiet
  step full_stats "$cli" stats "$m/s" --json
  step full_check "$cli" check "$m/s"
  # A file system with no room at all: a new store is refused, and a
  # store whose lock file must be made again (deleted) cannot have it.
  mount -t tmpfs -o size=2m tmpfs "$m2" || exit 9
  "$cli" init "$m2/nolock" --dim 4 --metric l2 >/dev/null && rm "$m2/nolock/lock.mdb" || exit 9
  head -c 4000000 /dev/zero > "$m2/fill" 2>/dev/null
  step full_init "$cli" init "$m2/new" --dim 4 --metric l2
  if [ -e "$m2/new" ]; then echo "left" > "$t/full_init.left"; fi
  step full_lock "$cli" stats "$m2/nolock"
  rm "$m2/fill"
  step freed_lock "$cli" check "$m2/nolock"
  mount -o remount,size=40m "$m" || exit 9
  step again "$cli" import "$m/s" "$t/big.fvecs" --batch 1000 --quiet
  step again_stats "$cli" stats "$m/s" --json
  mount -o remount,ro "$m" || exit 9
  step ro_import "$cli" import "$m/s" "$t/small.fvecs"
  step ro_delete "$cli" delete "$m/s" 1
  step ro_search "$cli" search "$m/s" --query-id 1 -k 3
  step ro_export "$cli" export "$m/s" -o "$t/export.jsonl" --quiet
  for f in glove use minilm; do
    step "fetch_$f" bash "$scripts/fetch-$f.sh" "$m/cache/$f"
    step "fetch_${f}_dir" bash "$scripts/fetch-$f.sh" "$m"
  done
' _ "$cli" "$tmp/m" "$tmp" "$here/../scripts" || fail "the mounts could not be made (exit $?)"

rc_of() { cat "$tmp/$1.rc"; }
count_in() { grep -o '"count":[0-9]*' "$tmp/$1.out" | cut -d: -f2; }

# ---- a file system that fills during an import -----------------------------
[ "$(rc_of init)" = 0 ] && [ "$(rc_of small)" = 0 ] || fail "init and a small import: $(cat "$tmp/small.err")"
[ "$(rc_of full)" = 2 ] || fail "an import onto a full file system exits 2 (exit $(rc_of full))"
ok "an import onto a full file system exits 2"
has "$tmp/full.err" "No space left on device" "the import names the full disk"
committed=$(sed -n 's/.*the first \([0-9]*\) records of big.fvecs are committed.*/\1/p' "$tmp/full.err")
[ -n "$committed" ] || fail "the import says how many records are committed: $(cat "$tmp/full.err")"
has "$tmp/full.err" "the same import again completes it" "the import says how to complete it"
ok "the import says that $committed records are committed and how to complete it"
[ "$(count_in full_stats)" = "$((committed > 500 ? committed : 500))" ] ||
  fail "the store holds what was committed: count $(count_in full_stats), said $committed"
ok "the store opens after a full disk and holds what was said to be committed"
[ "$(rc_of full_check)" = 0 ] || fail "check after a full disk: $(cat "$tmp/full_check.out" "$tmp/full_check.err")"
ok "check is clean after a full disk"
[ "$(rc_of again)" = 0 ] && [ "$(count_in again_stats)" = 20000 ] ||
  fail "the same import with room completes it: exit $(rc_of again), count $(count_in again_stats)"
ok "the same import again, with room, completes it"

[ "$(rc_of full_init)" = 2 ] || fail "init on a full file system exits 2 (exit $(rc_of full_init))"
has "$tmp/full_init.err" "its file system is full" "init names the full file system"
[ ! -e "$tmp/full_init.left" ] || fail "init on a full file system left its directory"
ok "init on a full file system says so and leaves nothing"
[ "$(rc_of full_lock)" = 2 ] || fail "a lock file on a full file system: exit $(rc_of full_lock)"
has "$tmp/full_lock.err" "its file system is full" "a lock file that cannot be written names the full disk"
! grep -q "store is damaged" "$tmp/full_lock.err" ||
  fail "a full disk is called damage: $(cat "$tmp/full_lock.err")"
[ "$(rc_of freed_lock)" = 0 ] || fail "check once there is room: $(cat "$tmp/freed_lock.err")"
ok "a lock file on a full file system is a full disk, not damage; with room the store checks clean"

# ---- a read-only file system -------------------------------------------------
for w in ro_import ro_delete; do
  [ "$(rc_of $w)" = 1 ] || fail "$w on a read-only file system exits 1 (exit $(rc_of $w))"
  has "$tmp/$w.err" "cannot be written (Read-only file system)" "$w names the read-only file system"
  ! grep -q "store is opened read-only" "$tmp/$w.err" ||
    fail "$w blames a read-only open nobody asked for: $(cat "$tmp/$w.err")"
  has "$tmp/$w.err" "commands that only read it" "$w says what still works"
done
ok "writes on a read-only file system say so, and what still works"
[ "$(rc_of ro_search)" = 0 ] && [ "$(rc_of ro_export)" = 0 ] ||
  fail "reads on a read-only file system: $(cat "$tmp/ro_search.err" "$tmp/ro_export.err")"
[ "$(wc -l < "$tmp/export.jsonl")" = 20000 ] || fail "the export of a read-only store is whole"
ok "search and export read a store on a read-only file system"

# ---- a model cache the fetch scripts cannot write ------------------------------
for f in glove use minilm; do
  env=CVSTORE_$(echo "$f" | tr a-z A-Z)_DIR
  for w in "fetch_$f" "fetch_${f}_dir"; do
    [ "$(rc_of "$w")" = 1 ] || fail "$w into a read-only directory exits 1 (exit $(rc_of "$w"))"
    has "$tmp/$w.err" "fetch-$f: cannot write to " "$w names the directory"
    has "$tmp/$w.err" "(Read-only file system)" "$w says why"
    has "$tmp/$w.err" "point $env at it" "$w says what to do"
    ! grep -q "npm" "$tmp/$w.err" || fail "$w downloaded before finding it could not write"
  done
done
ok "the fetch scripts refuse a cache they cannot write, before downloading"

# ---- another user's store --------------------------------------------------------
# Run as nobody where the test is root (root ignores permissions), else as
# the owner with the permissions taken away: the same refusals either way.
chmod 755 "$tmp"
as_other() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  # A checkout in a directory only root may enter: nobody cannot run it.
  if ! as_other "$cli" --version >/dev/null 2>&1; then
    ok "# SKIP another user's store (no setpriv, or nobody cannot run $cli)"
    echo "$passed passed, 0 failed"
    exit 0
  fi
fi
mkdir -m 755 "$tmp/perm"
"$cli" init "$tmp/perm/own" --dim 64 --metric l2 >/dev/null || fail "init an owner-only store"
(umask 022 && "$cli" init "$tmp/perm/shared" --dim 64 --metric l2 --umask >/dev/null &&
   "$cli" import "$tmp/perm/shared" "$tmp/small.fvecs" --quiet) || fail "init a shared store"
chmod 000 "$tmp/perm/own"
chmod 444 "$tmp/perm/shared/lock.mdb"
other() { local name=$1; shift; rc=0; as_other "$cli" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?; }
other own_stats stats "$tmp/perm/own"
[ "$rc" = 1 ] || fail "stats of another user's owner-only store exits 1 (exit $rc)"
has "$tmp/own_stats.err" "this user may not read the store (Permission denied)" "an owner-only store is not called missing"
! grep -q "no store at" "$tmp/own_stats.err" || fail "another user's store is called missing"
other shared_search search "$tmp/perm/shared" --query-id 1 -k 2
[ "$rc" = 1 ] || fail "search of a store whose lock file this user may not write exits 1 (exit $rc)"
has "$tmp/shared_search.err" "even a reader writes the store's lock file" "a reader is told why it needs lock.mdb"
other shared_import import "$tmp/perm/shared" "$tmp/small.fvecs"
[ "$rc" = 1 ] || fail "import into another user's store exits 1 (exit $rc)"
has "$tmp/shared_import.err" "cannot be written by this user (Permission denied)" "a write is refused for this user"
! grep -q "still do" "$tmp/shared_import.err" || fail "reads are promised where they cannot work"
! grep -q "store is opened read-only" "$tmp/shared_search.err" "$tmp/shared_import.err" ||
  fail "a permission is called a read-only open"
chmod 700 "$tmp/perm/own"
chmod 644 "$tmp/perm/shared/lock.mdb"
ok "another user's store: refused with the reason (permissions, lock.mdb), never 'no store'"

echo "$passed passed, 0 failed"
