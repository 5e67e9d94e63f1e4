#!/usr/bin/env bash
# mpi_shards.sh MPIRUN CVSTORE_MPI CVSTORE -- the sharded store on 1, 2 and 4
# ranks of one machine: exact search identical (byte for byte, JSON) to one
# store holding all the records; counts that add up; check clean, and
# catching a record in the wrong shard; a bad file changing nothing; a
# killed rank failing the command instead of hanging, and leaving every
# shard consistent.  Data is generated (a fixed LCG), so nothing is read
# from outside the tree.
set -uo pipefail
MPIRUN="$1"; MPI="$2"; CVS="$3"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
# CI runs as root, which Open MPI refuses without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's session directory (/tmp/ompi.HOST.UID) is shared by every
# mpirun of the user: another job's mpirun ending while one of ours starts
# can remove it under us ("orte_session_dir failed").  Ours, in the test's
# own directory.
export OMPI_MCA_orte_tmpdir_base="$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
run() { local np="$1"; shift; timeout 60 "$MPIRUN" --oversubscribe -np "$np" "$MPI" "$@"; }

# gen N DIM SEED [NAN_AT]: N vectors in fvecs, values in [-0.5, 0.5)
gen() {
  perl -e 'my ($n, $d, $s, $nan) = @ARGV; binmode STDOUT;
    for my $i (0 .. $n - 1) { print pack("l<", $d);
      for my $j (0 .. $d - 1) { $s = ($s * 1103515245 + 12345) % 2147483648;
        my $v = $s / 2147483648.0 - 0.5;
        $v = 9**9**9 / 9**9**9 if defined $nan && $i == $nan && $j == 0;
        print pack("f<", $v); } }' "$@"
}
gen 2000 16 7 > "$T/base.fvecs"
gen 30 16 99 > "$T/q.fvecs"

json_num() { perl -ne 'print "$1\n" if /"'"$2"'":(\d+)/' <<<"$1" | head -1; }

for metric in l2 cosine; do
  shards=4; [ "$metric" = cosine ] && shards=3
  "$CVS" init "$T/one-$metric" --dim 16 --metric "$metric" >/dev/null || fail "single init"
  "$CVS" import "$T/one-$metric" "$T/base.fvecs" >/dev/null 2>&1 || fail "single import"
  "$CVS" search "$T/one-$metric" --query-file "$T/q.fvecs" -k 10 --exact --json > "$T/one-$metric.json" \
    || fail "single search"
  run 2 init "$T/sh-$metric" --shards "$shards" --dim 16 --metric "$metric" >/dev/null \
    || fail "$metric: init"
  run 2 import "$T/sh-$metric" "$T/base.fvecs" --batch 300 >/dev/null || fail "$metric: import"
  nps="1 2 4"; [ "$metric" = cosine ] && nps="4" # l2 covers 1 and 2; keep the test short
  for np in $nps; do
    run "$np" search "$T/sh-$metric" --query-file "$T/q.fvecs" -k 10 --exact --json \
      > "$T/sh-$metric-$np.json" || fail "$metric: search on $np ranks"
    cmp -s "$T/one-$metric.json" "$T/sh-$metric-$np.json" \
      || fail "$metric: $np ranks: sharded search differs from one store"
  done
done
[ "$(wc -l < "$T/sh-l2-2.json")" -eq 30 ] || fail "search: not one line per query"
# --warmup searches the batch once before the timed pass: the answer is the same.
run 2 search "$T/sh-l2" --query-file "$T/q.fvecs" -k 10 --exact --json --timing --warmup \
  > "$T/sh-l2-warm.json" 2>"$T/err" || fail "search --warmup: $(cat "$T/err")"
cmp -s "$T/one-l2.json" "$T/sh-l2-warm.json" || fail "search --warmup differs from one store"
grep -q "queries/s" "$T/err" || fail "search --warmup --timing: no timing line"

# Equal scores across shards: 60 records (ids from --ids) share one vector,
# so they tie for every query; the merge orders ties by id, so 1, 2 and 4
# ranks print the same, and the 10 printed are ids in byte order.
perl -e 'binmode STDOUT; print pack("l<", 16), pack("f<16", (0.25) x 16) for 1 .. 60' > "$T/ties.fvecs"
seq 0 59 | sed 's/^/t/' > "$T/ties.txt"
run 1 init "$T/sh-ties" --shards 4 --dim 16 --metric l2 >/dev/null || fail "ties: init"
run 2 import "$T/sh-ties" "$T/ties.fvecs" --ids "$T/ties.txt" >/dev/null || fail "ties: import"
for np in 1 2 4; do
  [ "$np" = 2 ] && continue # 1 and 4 differ in every shard's rank
  run "$np" search "$T/sh-ties" --query-file "$T/q.fvecs" -k 10 --json > "$T/ties-$np.json" \
    || fail "ties: search on $np ranks"
done
cmp -s "$T/ties-1.json" "$T/ties-4.json" \
  || fail "ties: the order of equal scores depends on the number of ranks"
ids="$(head -1 "$T/ties-1.json" | perl -ne 'print join(",", /"id":"([^"]*)"/g)')"
[ "$ids" = "t0,t1,t10,t11,t12,t13,t14,t15,t16,t17" ] || fail "ties: ids in another order: $ids"

# One codec for all shards: trained on a sample of all of them, it gives
# code distances that a single store with the same codec gives (no
# re-ranking, so the code distances themselves are compared).
run 2 build "$T/sh-l2" --codec pq4 --max-train 1500 >/dev/null || fail "build"
run 1 init "$T/sh1" --shards 1 --dim 16 --metric l2 >/dev/null || fail "init of one shard"
run 1 import "$T/sh1" "$T/base.fvecs" >/dev/null || fail "import into one shard"
run 1 build "$T/sh1" --codec-from "$T/sh-l2/shard-0002" >/dev/null || fail "build --codec-from"
"$CVS" search "$T/sh1/shard-0000" --query-file "$T/q.fvecs" -k 10 --codes --rerank 0 --json \
  > "$T/one-codes.json" || fail "single codes search"
for np in 2 4; do
  run "$np" search "$T/sh-l2" --query-file "$T/q.fvecs" -k 10 --codes --rerank 0 --json \
    > "$T/sh-codes-$np.json" || fail "codes search on $np ranks"
  cmp -s "$T/one-codes.json" "$T/sh-codes-$np.json" \
    || fail "$np ranks: sharded codes search differs from one store with the same codec"
done
specs="$(for s in 0 1 2 3; do "$CVS" stats "$T/sh-l2/shard-000$s" --json \
  | perl -ne 'print "$1\n" if /"codec":\{[^}]*"spec":"([^"]*)"/'; done | sort -u)"
[ "$specs" = "pq4x8" ] || fail "shards' codecs: '$specs', not one pq4x8"
run 2 build "$T/sh-l2" --codec pq5 >/dev/null 2>&1
[ $? = 1 ] || fail "build with a bad spec: not exit 1"

# ANN: codec and IVF centroids trained once (build --index) and shared by
# every shard, so each shard probes the same lists; recall@10 against the
# exact results at 1, 2 and 4 ranks is at least one store's with the same
# codec and centroids (--codec-from takes both) at the same nprobe/rerank,
# less 0.005.
recall() { # recall EXACT.json ANN.json: mean recall of ANN's ids
  perl -e 'my ($e, $a) = @ARGV; open my $fe, "<", $e or die; open my $fa, "<", $a or die;
    my ($hit, $tot) = (0, 0);
    while (my $le = <$fe>) { my $la = <$fa>; defined $la or die "$a: too few lines\n";
      my %t = map { $_ => 1 } ($le =~ /"id":"([^"]*)"/g);
      $tot += keys %t; $hit += grep { $t{$_} } ($la =~ /"id":"([^"]*)"/g); }
    die "no results\n" unless $tot; printf "%.4f\n", $hit / $tot;' "$@"
}
run 2 init "$T/sh-ann" --shards 4 --dim 16 --metric l2 >/dev/null || fail "ann: init"
run 2 import "$T/sh-ann" "$T/base.fvecs" >/dev/null || fail "ann: import"
run 2 build "$T/sh-ann" --codec pq4 --index ivf16 --max-train 1500 >"$T/out" \
  || fail "ann: build --index"
grep -q "with index ivf16" "$T/out" || fail "ann: build: $(cat "$T/out")"
run 1 init "$T/ann1" --shards 1 --dim 16 --metric l2 >/dev/null || fail "ann: init of one"
run 1 import "$T/ann1" "$T/base.fvecs" >/dev/null || fail "ann: import into one"
run 1 build "$T/ann1" --codec-from "$T/sh-ann/shard-0003" >/dev/null || fail "ann: --codec-from"
idx="$(for s in 0 1 2 3; do "$CVS" stats "$T/sh-ann/shard-000$s" --json \
  | perl -ne 'print "$1\n" if /"index":\{[^}]*"spec":"([^"]*)"/'; done | sort -u)"
[ "$idx" = "ivf16" ] || fail "ann: shards' indexes: '$idx', not one ivf16"
for pr in "2 20" "4 0" "16 100"; do
  set -- $pr
  "$CVS" search "$T/ann1/shard-0000" --query-file "$T/q.fvecs" -k 10 --ann --nprobe "$1" \
    --rerank "$2" --json > "$T/ann-one.json" || fail "ann: single search"
  r1="$(recall "$T/one-l2.json" "$T/ann-one.json")"
  for np in 1 2 4; do
    run "$np" search "$T/sh-ann" --query-file "$T/q.fvecs" -k 10 --ann --nprobe "$1" \
      --rerank "$2" --json > "$T/ann-$np.json" || fail "ann: search on $np ranks"
    rs="$(recall "$T/one-l2.json" "$T/ann-$np.json")"
    perl -e 'exit !($ARGV[0] >= $ARGV[1] - 0.005)' "$rs" "$r1" \
      || fail "ann: nprobe $1 rerank $2, $np ranks: recall $rs, one store's $r1"
  done
  # No re-ranking: every shard scans the same lists with the same codes,
  # so the merged code distances are one store's.
  if [ "$2" = 0 ]; then
    cmp -s "$T/ann-one.json" "$T/ann-4.json" || fail "ann: rerank 0 differs from one store"
  fi
done
ck="$(run 2 check "$T/sh-ann" --json)" || fail "ann: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "ann: check: $ck"
# No codec named: the choice of `cvstore build` for one store holding every
# record (the total over shards), not of the training sample or one shard.
run 2 init "$T/sh-auto" --shards 4 --dim 16 --metric l2 >/dev/null || fail "auto: init"
run 2 import "$T/sh-auto" "$T/base.fvecs" >/dev/null || fail "auto: import"
run 2 build "$T/sh-auto" >/dev/null 2>"$T/err" || fail "auto: build: $(cat "$T/err")"
cp -r "$T/ann1/shard-0000" "$T/auto-one"
"$CVS" build "$T/auto-one" >/dev/null 2>"$T/err1" || fail "auto: plain build"
want="$(sed -n 's/^chose \(codec [^ ]* and [^ ]*\( index\)\{0,1\}\) for \([0-9]*\) records.*/\1 for \3/p' "$T/err1")"
got="$(sed -n 's/^chose \(.*\) for \([0-9]*\) records.*/\1 for \2/p' "$T/err")"
[ -n "$want" ] && [ "$got" = "$want" ] || fail "auto: sharded build chose '$got', one store '$want'"
spec1="$("$CVS" stats "$T/auto-one" --json | perl -ne 'print "$1\n" if /"codec":\{[^}]*"spec":"([^"]*)"/')"
for s in 0 1 2 3; do
  sp="$("$CVS" stats "$T/sh-auto/shard-000$s" --json | perl -ne 'print "$1\n" if /"codec":\{[^}]*"spec":"([^"]*)"/')"
  [ -n "$sp" ] && [ "$sp" = "$spec1" ] || fail "auto: shard $s codec '$sp', one store '$spec1'"
done
run 2 search "$T/sh-auto" --query-file "$T/q.fvecs" -k 10 --codes --json >/dev/null \
  || fail "auto: codes search"
# A raw none store built while small (sq8, no index) gets its IVF index once
# it has grown, as one store does (cli/build.c): its codes are the only copy
# of the vectors, so the shards keep their codec and only the index is
# built, over the codes.  Cosine: an f32 store's index would be residual,
# which a raw none shard cannot take.
gen 1000 16 5 > "$T/small.fvecs"
run 2 init "$T/sh-none" --shards 2 --dim 16 --metric cosine --raw none >/dev/null || fail "none: init"
run 2 import "$T/sh-none" "$T/small.fvecs" >/dev/null 2>&1 || fail "none: import"
run 2 build "$T/sh-none" >"$T/out" 2>"$T/err" || fail "none: first build: $(cat "$T/err")"
grep -q "no index" "$T/err" || fail "none: a small store got an index: $(cat "$T/err")"
gen 3000 16 11 > "$T/grown.fvecs" # ids 0-2999: the first 1000 updated, over 2,048 in all
run 2 import "$T/sh-none" "$T/grown.fvecs" >/dev/null 2>&1 || fail "none: import more"
run 2 build "$T/sh-none" >"$T/out" 2>"$T/err" || fail "none: build once grown: $(cat "$T/err")"
grep -q "with index ivf" "$T/out" || fail "none: no index after the build: $(cat "$T/out") $(cat "$T/err")"
grep -q "kept codec sq8" "$T/err" || fail "none: the build does not say it kept the codec: $(cat "$T/err")"
run 2 search "$T/sh-none" --query-file "$T/q.fvecs" -k 10 --codes --json >"$T/none-codes.json" \
  2>"$T/err" || fail "none: codes search: $(cat "$T/err")"
nl="$(sed -n 's/.*with index ivf\([0-9]*\).*/\1/p' "$T/out")"
run 2 search "$T/sh-none" --query-file "$T/q.fvecs" -k 10 --ann --nprobe "$nl" --json \
  >"$T/none-ann.json" 2>"$T/err" || fail "none: ann search: $(cat "$T/err")"
cmp -s "$T/none-codes.json" "$T/none-ann.json" \
  || fail "none: ann with every list probed differs from the codes scan"
# With no mode, the most exact search the shards can answer: their codes,
# the only copy left (the default --exact failed: "keeps no raw vectors").
run 2 search "$T/sh-none" --query-file "$T/q.fvecs" -k 10 --json >"$T/none-default.json" \
  2>"$T/err" || fail "none: search with no mode: $(cat "$T/err")"
cmp -s "$T/none-codes.json" "$T/none-default.json" \
  || fail "none: search with no mode differs from --codes"
ck="$(run 2 check "$T/sh-none" --json)" || fail "none: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "none: check: $ck"
run 2 build "$T/sh-none" --codec pq4 --index ivf16 >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "already has codec sq8" "$T/err" \
  || fail "none: another codec was not refused by name: $(cat "$T/err")"
run 2 search "$T/sh-ann" --query-file "$T/q.fvecs" -k 10 --nprobe 2 >/dev/null 2>&1
[ $? = 1 ] || fail "--nprobe without --ann: not exit 1"
run 2 search "$T/sh-ties" --query-file "$T/q.fvecs" -k 10 --ann >/dev/null 2>"$T/err"
[ $? = 1 ] || fail "--ann without an index: not exit 1"
run 2 build "$T/sh-ann" --codec pq4 --index faiss:HNSW32 >/dev/null 2>&1
[ $? = 1 ] || fail "build --index faiss: not exit 1"
# A shard with the same codec but other centroids is a problem check
# reports: the same data, sample and seed give the same l2 codec whatever
# the list count, so a shard of an ivf8 build dropped into an ivf16 one
# differs in its centroids only.
run 2 init "$T/sh-ivf8" --shards 4 --dim 16 --metric l2 >/dev/null || fail "ivf8: init"
run 2 import "$T/sh-ivf8" "$T/base.fvecs" >/dev/null || fail "ivf8: import"
run 2 build "$T/sh-ivf8" --codec pq4 --index ivf8 --max-train 1500 >/dev/null || fail "ivf8: build"
rm -rf "$T/sh-ann/shard-0002" && cp -r "$T/sh-ivf8/shard-0002" "$T/sh-ann/" || fail "ivf8: copy"
run 2 check "$T/sh-ann" >"$T/out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "check of a shard with other centroids: exit $rc, not 1"
grep -q "shard-0002: its IVF centroids are not shard-0000's" "$T/out" \
  || fail "check, other centroids: $(head -3 "$T/out")"
grep -q "its codec is not" "$T/out" && fail "check, other centroids: blamed the codec"

# Counts add up, through cvstore-mpi and through plain cvstore on each shard.
st="$(run 4 stats "$T/sh-l2" --json)" || fail "stats"
[ "$(json_num "$st" records)" = 2000 ] || fail "stats: records $(json_num "$st" records), not 2000"
sum=0
for s in 0 1 2 3; do
  n="$("$CVS" stats "$T/sh-l2/shard-000$s" --json | perl -ne 'print "$1" if /"count":(\d+)/')"
  [ -n "$n" ] && [ "$n" -gt 0 ] || fail "shard $s: plain cvstore stats gives '$n'"
  sum=$((sum + ${n:-0}))
done
[ "$sum" = 2000 ] || fail "the shards hold $sum records, not 2000"
ck="$(run 2 check "$T/sh-l2" --json)" || fail "check: exit $?"
[[ "$ck" == *'"healthy":true'* ]] || fail "check: $ck"

# A bad file (a NaN in record 1500) changes no shard.
gen 2000 16 11 1500 > "$T/bad.fvecs"
run 2 import "$T/sh-l2" "$T/bad.fvecs" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "import of a NaN: exit $rc, not 1"
grep -q "record 1500" "$T/err" || fail "import of a NaN: message does not name the record: $(cat "$T/err")"
run 2 search "$T/sh-l2" --query-file "$T/q.fvecs" -k 10 --exact --json > "$T/after-bad.json"
cmp -s "$T/one-l2.json" "$T/after-bad.json" || fail "a failed import changed the shards"

# So does an ids file that names a record twice.
seq 0 1999 | sed '1234s/.*/17/' > "$T/dup.txt"
run 2 import "$T/sh-l2" "$T/base.fvecs" --ids "$T/dup.txt" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "import with a repeated id: exit $rc, not 1"
grep -q "id 17 on lines 18 and 1234" "$T/err" || fail "repeated id: $(cat "$T/err")"
st="$(run 2 stats "$T/sh-l2" --json)"
[ "$(json_num "$st" records)" = 2000 ] || fail "a refused import changed the record count"

# A manifest of another version, or damaged: a clear error, exit 1, no crash.
cp -r "$T/sh-cosine" "$T/sh-v2"
sed -i 's/"version": 1/"version": 2/' "$T/sh-v2/cvstore-shards.json"
run 2 stats "$T/sh-v2" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "manifest version 2: exit $rc, not 1"
grep -q "manifest version 2; this cvstore-mpi reads version 1" "$T/err" || fail "version: $(cat "$T/err")"
for damage in 's/"shards": 3/"shards": 0/' 's/"hash": "fnv1a64"/"hash": "md5"/' 's/}//' 's/"dim"/"dims"/'; do
  cp "$T/sh-cosine/cvstore-shards.json" "$T/sh-v2/cvstore-shards.json"
  sed -i "$damage" "$T/sh-v2/cvstore-shards.json"
  run 2 search "$T/sh-v2" --query-file "$T/q.fvecs" -k 3 >/dev/null 2>"$T/err"
  rc=$?
  [ "$rc" = 1 ] || fail "manifest damaged by $damage: exit $rc, not 1"
  grep -q "cvstore-shards.json" "$T/err" || fail "damaged manifest ($damage): $(cat "$T/err")"
done

# Usage errors: exit 1 on every rank, nothing hangs.
run 2 search "$T/sh-l2" --query-file "$T/q.fvecs" >/dev/null 2>&1
[ $? = 1 ] || fail "search without -k: not exit 1"
run 2 stats "$T/nothing" >/dev/null 2>&1
[ $? = 1 ] || fail "stats of a missing store: not exit 1"

# Threads: each rank runs one per core it may use, the cores shared by the
# ranks of the host, so that N ranks on N cores do not oversubscribe them
# (unbound, 2 ranks on C cores: C/2 each; 1 rank: C).
cores="$(getconf _NPROCESSORS_ONLN)"
for np in 1 2; do
  want=$((cores / np)); [ "$want" -lt 1 ] && want=1
  th="$(timeout 60 "$MPIRUN" --oversubscribe --bind-to none -np "$np" "$MPI" search "$T/sh-l2" \
    --query-file "$T/q.fvecs" -k 3 --timing 2>&1 >/dev/null | sed -n 's/.*threads a rank: \([0-9]*\).*/\1/p')"
  [ "$th" = "$want" ] || fail "$np ranks on $cores cores: $th threads a rank, not $want"
done

# A killed rank: the command fails (not 124, the timeout's code) with
# mpirun's message naming the signal, and every shard stays consistent.
gen 3000 16 23 > "$T/more.fvecs"
CVSTORE_MPI_KILL=1:batch run 2 import "$T/sh-l2" "$T/more.fvecs" --batch 100 >/dev/null 2>"$T/err"
rc=$?
{ [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || fail "killed rank during import: exit $rc"
grep -qi "signal 9\|killed" "$T/err" || fail "killed rank: no clear message: $(head -5 "$T/err")"
ck="$(run 2 check "$T/sh-l2" --json)" || fail "check after a killed import: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "check after a killed import: $ck"
CVSTORE_MPI_KILL=0:open run 2 search "$T/sh-l2" --query-file "$T/q.fvecs" -k 5 >/dev/null 2>&1
rc=$?
{ [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || fail "killed rank during search: exit $rc"
# Running the import again completes it.
run 2 import "$T/sh-l2" "$T/more.fvecs" >/dev/null || fail "import again"
st="$(run 2 stats "$T/sh-l2" --json)"
[ "$(json_num "$st" records)" = 3000 ] || fail "after the re-import: $(json_num "$st" records) records, not 3000 (ids 0..2999 upserted)"

# A rank killed with SIGKILL in the middle of an import of a larger file
# (20,000 records over 4 empty shards, one batch of each shard): mpirun
# fails promptly (not the timeout's 124) naming the signal, check is clean
# and every shard holds all of its records or none.  Rank 1 dies right
# after committing shard 1, so shard 1 holds all of its records and
# shard 3 none; rank 0's shards 0 and 2 may be either, as mpirun kills it.
gen 20000 16 31 > "$T/big.fvecs"
run 1 init "$T/sh-kill" --shards 4 --dim 16 --metric l2 >/dev/null || fail "kill: init"
CVSTORE_MPI_KILL=1:batch run 2 import "$T/sh-kill" "$T/big.fvecs" >/dev/null 2>"$T/err"
rc=$?
{ [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || fail "killed rank during a large import: exit $rc"
grep -qi "signal 9\|killed" "$T/err" || fail "killed rank: no clear message: $(head -5 "$T/err")"
want="$(python3 -c '
def fnv(b):
    h = 14695981039346656037
    for c in b: h = ((h ^ c) * 1099511628211) % 2**64
    return h
n = [0] * 4
for i in range(20000): n[fnv(str(i).encode()) % 4] += 1
print(" ".join(map(str, n)))')"
set -- $want
for s in 0 1 2 3; do
  w="$1"; shift
  n="$("$CVS" stats "$T/sh-kill/shard-000$s" --json | perl -ne 'print "$1" if /"count":(\d+)/')"
  case "$s:$n" in
    1:"$w" | 3:0 | [02]:0 | [02]:"$w") ;;
    *) fail "killed import: shard $s holds $n records, neither all ($w) nor none of its batch" ;;
  esac
done
ck="$(run 2 check "$T/sh-kill" --json)" || fail "check after a killed large import: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "check after a killed large import: $ck"
# Killed during a build (after shard 1 is encoded): each shard is still a
# healthy store, check names the shards left with another codec, and
# running the build again makes the store whole.
run 2 import "$T/sh-kill" "$T/big.fvecs" >/dev/null || fail "kill: import again"
CVSTORE_MPI_KILL=1:encode run 2 build "$T/sh-kill" --codec pq4 --max-train 2000 >/dev/null 2>"$T/err"
rc=$?
{ [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || fail "killed rank during a build: exit $rc"
for s in 0 1 2 3; do
  "$CVS" check "$T/sh-kill/shard-000$s" >/dev/null 2>&1 || fail "killed build: shard $s is not healthy"
done
run 2 check "$T/sh-kill" >"$T/out" 2>&1
[ $? = 1 ] && grep -q "shard-0003: its codec is not" "$T/out" \
  || fail "check after a killed build: $(head -3 "$T/out")"
run 2 build "$T/sh-kill" --codec pq4 --max-train 2000 >/dev/null || fail "kill: build again"
ck="$(run 2 check "$T/sh-kill" --json)" || fail "check after the build again: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "check after the build again: $ck"

# JSONL records (title, text, meta, links): each record links to the
# previous record of its own shard.  The
# shards hold exactly what one store importing the file holds (cvstore
# export of every shard against the one store's, sorted), check is clean,
# and a bad record late in the file, or a link to no record, changes no
# shard (exit 1, naming the line of the original file).
# jgen N SHARDS [BAD_LINE] [CROSS_LINE]
jgen() {
  python3 - "$@" <<'PY'
import json, sys
n, shards = int(sys.argv[1]), int(sys.argv[2])
bad = int(sys.argv[3]) if len(sys.argv) > 3 else -1
cross = int(sys.argv[4]) if len(sys.argv) > 4 else -1
def fnv(b):
    h = 14695981039346656037
    for c in b:
        h = ((h ^ c) * 1099511628211) % 2**64
    return h
last, s, line = {}, 12345, 0
for i in range(n):
    rid = "doc-%d" % i
    sh = fnv(rid.encode()) % shards
    v = []
    for _ in range(16):
        s = (s * 1103515245 + 12345) % 2147483648
        v.append(round(s / 2147483648.0 - 0.5, 6))
    r = {"id": rid, "vector": v, "title": "title %d" % i, "text": "text of record %d" % i,
         "meta": {"n": i, "even": i % 2 == 0}}
    if sh in last:
        r["links"] = [{"id": last[sh], "type": "prev", "weight": 0.5}]
    line += 1
    if line == cross:
        other = next(x for x in last.values() if fnv(x.encode()) % shards != sh)
        r["links"] = [other]
    if line == bad:
        r["vector"] = v[:3]
    last[sh] = rid
    print(json.dumps(r))
    if i % 50 == 0:
        print("")  # blank lines are skipped, and line numbers count them
        line += 1
PY
}
jgen 400 3 > "$T/recs.jsonl"
"$CVS" init "$T/jone" --dim 16 --metric l2 >/dev/null || fail "jsonl: single init"
"$CVS" import "$T/jone" "$T/recs.jsonl" >/dev/null 2>&1 || fail "jsonl: single import"
run 1 init "$T/sh-j" --shards 3 --dim 16 --metric l2 >/dev/null || fail "jsonl: init"
run 2 import "$T/sh-j" "$T/recs.jsonl" --batch 50 >"$T/out" 2>&1 || fail "jsonl: import: $(cat "$T/out")"
grep -q "imported 400 records (400 inserted" "$T/out" || fail "jsonl: import: $(cat "$T/out")"
# The records without their times (export writes when each was put: two
# imports of one file differ there and nowhere else).
untimed() { sed -E 's/,"created_us":[0-9]+,"updated_us":[0-9]+\}$/}/'; }
"$CVS" export "$T/jone" | untimed | sort > "$T/jone.exp" || fail "jsonl: single export"
for s in 0 1 2; do "$CVS" export "$T/sh-j/shard-000$s"; done | untimed | sort > "$T/sh-j.exp"
[ "$(wc -l < "$T/jone.exp")" = 400 ] || fail "jsonl: single export: $(wc -l < "$T/jone.exp") lines"
grep -q '"links"' "$T/jone.exp" && grep -q '"title"' "$T/jone.exp" || fail "jsonl: export lacks links or titles"
cmp -s "$T/jone.exp" "$T/sh-j.exp" || fail "jsonl: the shards do not hold what one store holds"
ck="$(run 2 check "$T/sh-j" --json)" || fail "jsonl: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "jsonl: check: $ck"
# A key that is no record field: a warning in the file's own words (its
# line, not the part file's), from the shard that holds the record.
jgen 400 3 | sed '7s/"meta":/"metadata":/' > "$T/keys.jsonl"
grep -q '"metadata"' "$T/keys.jsonl" || fail "jsonl: keys.jsonl has no metadata key"
run 2 import "$T/sh-j" "$T/keys.jsonl" >/dev/null 2>"$T/err" || fail "jsonl: unknown key: $(cat "$T/err")"
[ "$(grep -c 'warning: ' "$T/err")" = 1 ] || fail "jsonl: unknown key: not one warning: $(cat "$T/err")"
grep -q 'keys.jsonl: line 7: key "metadata" is not a record field and was ignored (did you mean "meta"?)$' "$T/err" \
  || fail "jsonl: unknown key: $(cat "$T/err")"
# The same key in records of every shard (and a second key in some): each
# named once per import, at its first line, as `cvstore import` names it
# (not once per shard, each rank saying it again).
sed -e 's/"meta":/"metadata":/' -e '5,$s/"title":/"heading":/' "$T/recs.jsonl" > "$T/keys2.jsonl"
"$CVS" import "$T/jone" "$T/keys2.jsonl" >/dev/null 2>"$T/err1" || fail "jsonl: keys everywhere: single: $(cat "$T/err1")"
for np in 1 2 4; do
  run "$np" import "$T/sh-j" "$T/keys2.jsonl" >/dev/null 2>"$T/err" || fail "jsonl: keys everywhere ($np ranks): $(cat "$T/err")"
  [ "$(grep -c 'warning: ' "$T/err")" = 2 ] || fail "jsonl: keys everywhere ($np ranks): not two warnings: $(cat "$T/err")"
  diff <(sed -n 's/.*warning: //p' "$T/err1") <(sed -n 's/.*warning: //p' "$T/err") >/dev/null \
    || fail "jsonl: keys everywhere ($np ranks): not cvstore import's warnings: $(cat "$T/err1") vs $(cat "$T/err")"
done
"$CVS" import "$T/jone" "$T/recs.jsonl" >/dev/null 2>&1 || fail "jsonl: single import again"
run 2 import "$T/sh-j" "$T/recs.jsonl" >/dev/null 2>&1 || fail "jsonl: import again"
# Line 380 is record 371 (8 blank lines before it): 3 values, not 16.
jgen 400 3 380 | sed 's/"text of record/"new text of record/' > "$T/bad.jsonl"
run 2 import "$T/sh-j" "$T/bad.jsonl" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "jsonl: a bad record: exit $rc, not 1"
grep -q "bad.jsonl: line 380: " "$T/err" \
  || fail "jsonl: a bad record: the message does not name line 380: $(cat "$T/err")"
# A link across shards (line 300 links to a record of another shard) is
# kept in its source's shard: the shards hold what one store importing the
# file holds, and check is clean on every shard alone and over all.
jgen 400 3 -1 300 > "$T/cross.jsonl"
grep -q '"links": \["doc-' "$T/cross.jsonl" || fail "jsonl: cross.jsonl has no link across shards"
"$CVS" init "$T/jone-x" --dim 16 --metric l2 >/dev/null || fail "jsonl: single init (cross)"
"$CVS" import "$T/jone-x" "$T/cross.jsonl" >/dev/null 2>&1 || fail "jsonl: single import (cross)"
run 2 import "$T/sh-j" "$T/cross.jsonl" >/dev/null 2>"$T/err" \
  || fail "jsonl: a link across shards: exit $?: $(cat "$T/err")"
"$CVS" export "$T/jone-x" | untimed | sort > "$T/jone-x.exp"
for s in 0 1 2; do "$CVS" export "$T/sh-j/shard-000$s"; done | untimed | sort > "$T/sh-jx.exp"
cmp -s "$T/jone-x.exp" "$T/sh-jx.exp" || fail "jsonl: cross: the shards do not hold what one store holds"
ck="$(run 2 check "$T/sh-j" --json)" || fail "jsonl: cross: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "jsonl: cross: check: $ck"
for s in 0 1 2; do
  "$CVS" check "$T/sh-j/shard-000$s" >/dev/null 2>&1 || fail "jsonl: cross: check of shard $s alone"
done
# A link into another shard whose target goes (deleted through that shard
# alone): the source's shard still checks clean (it cannot look), and
# cvstore-mpi check finds the dangling link there.
cp -r "$T/sh-j" "$T/sh-jd"
tgt="$(grep -o '"links": \["doc-[0-9]*"\]' "$T/cross.jsonl" | grep -o 'doc-[0-9]*')"
tsh="$(python3 -c '
import sys
h = 14695981039346656037
for c in sys.argv[1].encode():
    h = ((h ^ c) * 1099511628211) % 2**64
print(h % 3)' "$tgt")"
"$CVS" delete "$T/sh-jd/shard-000$tsh" "$tgt" >/dev/null || fail "jsonl: cross: delete $tgt"
ck="$(run 2 check "$T/sh-jd" --json)"
[ "$?" = 1 ] || fail "jsonl: cross: check after deleting $tgt did not exit 1: $ck"
[[ "$ck" == *"links to \\\"$tgt\\\", which shard-000$tsh"*dangling* ]] \
  || fail "jsonl: cross: check does not name the dangling link to $tgt: $ck"
rm -rf "$T/sh-jd"

# A link to an id that is in no record of the file nor in its shard is
# refused before anything is written (exit 1, naming the line).
sed 's/"links": \["doc-[0-9]*"\]/"links": ["doc-9999"]/' "$T/cross.jsonl" \
  | sed 's/"text of record/"new text of record/' > "$T/cross-bad.jsonl"
run 2 import "$T/sh-j" "$T/cross-bad.jsonl" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "jsonl: a link to no record: exit $rc, not 1"
grep -q "cross-bad.jsonl: line 300: link to unknown id \"doc-9999\"" "$T/err" \
  || fail "jsonl: a link to no record: $(cat "$T/err")"
for s in 0 1 2; do "$CVS" export "$T/sh-j/shard-000$s"; done | untimed | sort > "$T/sh-j2.exp"
cmp -s "$T/jone-x.exp" "$T/sh-j2.exp" || fail "jsonl: a refused import changed a shard"

# A record in the wrong shard is a problem check reports.
for id in $(seq 0 50); do
  printf '{"id": "x%s", "vector": [%s]}\n' "$id" "$(yes 0.5 | head -16 | paste -sd,)"
done > "$T/x.jsonl"
"$CVS" import "$T/sh-l2/shard-0000" "$T/x.jsonl" >/dev/null 2>&1 || fail "plain import into a shard"
run 2 check "$T/sh-l2" >"$T/out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "check of a misplaced record: exit $rc, not 1"
grep -q "belongs in shard" "$T/out" || fail "check of a misplaced record: $(head -3 "$T/out")"

# A shard given a codec of its own is a problem too.
"$CVS" build "$T/sh-l2/shard-0001" --codec pq8 >/dev/null 2>&1 || fail "plain build of a shard"
run 2 check "$T/sh-l2" >"$T/out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "check of a shard with its own codec: exit $rc, not 1"
grep -q "shard-0001: its codec is not shard-0000's" "$T/out" || fail "check: $(tail -3 "$T/out")"

# A file of no records -- what export writes for an empty store, an empty
# fvecs, blank lines -- imports as nothing and says so, exit 0, as
# `cvstore import` does; the shards are unchanged.
"$CVS" init "$T/none" --dim 16 --metric l2 >/dev/null || fail "empty: init"
"$CVS" export "$T/none" >"$T/none.jsonl" || fail "empty: export"
: >"$T/none.fvecs"
printf '\n  \n' >"$T/blank.jsonl"
before="$(for s in 0 1 2; do json_num "$("$CVS" stats "$T/sh-j/shard-000$s" --json)" count; done)"
for f in none.jsonl none.fvecs blank.jsonl; do
  run 2 import "$T/sh-j" "$T/$f" >"$T/out" 2>"$T/err" \
    || fail "empty: import $f: exit $?: $(cat "$T/err")"
  grep -q "imported 0 records: .*$f holds no records; the store is unchanged" "$T/err" \
    || fail "empty: import $f says so: $(cat "$T/err" "$T/out")"
  [ "$(grep -c "imported 0 records" "$T/err")" = 1 ] || fail "empty: import $f: said once: $(cat "$T/err")"
done
after="$(for s in 0 1 2; do json_num "$("$CVS" stats "$T/sh-j/shard-000$s" --json)" count; done)"
[ "$before" = "$after" ] || fail "empty: the shards changed: $before -> $after"

# The overview (`cvstore-mpi --help`) names for each command options that
# command's own --help documents: the overview once lacked build's --index
# and search's --ann, which README's commands use.
run 1 --help > "$T/help" 2>&1 || fail "--help: exit $?"
grep -q -- '--ann' "$T/help" || fail "--help: search's --ann is not named"
grep -q -- '--index' "$T/help" || fail "--help: build's --index is not named"
while read -r cmd opts; do
  run 1 "$cmd" --help > "$T/help-$cmd" 2>&1 || fail "$cmd --help: exit $?"
  for o in $opts; do
    grep -q -- "$o" "$T/help-$cmd" || fail "--help names $cmd $o, which $cmd --help does not"
  done
done < <(perl -ne 'print "$1 ", join(" ", /(--[a-z][a-z-]*)/g), "\n" if /^  ([a-z]+) DB/' "$T/help")

[ "$fails" = 0 ] && echo "mpi_shards: all passed"
exit $((fails > 0))
