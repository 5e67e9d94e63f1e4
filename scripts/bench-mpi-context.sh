#!/usr/bin/env bash
# bench-mpi-context.sh -- a batch of context sets over a sharded text store
# against the number of MPI ranks, beside `cvstore context` on one store
# holding the same records (docs/SCALING.md, "context across shards").
#   bash scripts/bench-mpi-context.sh [HOTPOTQA_DIR] [BUILD_DIR] [QUESTIONS] [RANKS...]
# HOTPOTQA_DIR holds corpus.jsonl and queries.jsonl (the multihop-qa set,
# default /work/shared/data/multihop-qa/hotpotqa; the SQuAD half,
# /work/shared/data/squad2-test-half, has the same files); its passages go
# into one store and into a 4-shard store, both embedded by SIF over the
# GloVe cache of scripts/fetch-glove.sh; the first QUESTIONS (default 100)
# questions are asked at the default options, with --exact-words (a
# single-hop question's words as written: no vocabulary ranges, no class
# search), and without links and kNN edges, each the same on both sides
# (the script counts the lines that match one store's, the "ms" field left
# out).  Times: `cvstore context`'s
# wall clock around the batch (start-up included), and `cvstore-mpi context
# --timing` (the batch at rank 0, start-up left out; the CPU time of the
# busiest rank and of all, the round trips and the bytes of their replies,
# "-" from a cvstore-mpi that does not count them).  RANKS default "1 2".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-/work/shared/data/multihop-qa/hotpotqa}"
BUILD="${2:-$ROOT/build}"
NQ="${3:-100}"
shift 3 2>/dev/null || shift $#
RANKS=("${@:-}")
[ -z "${RANKS[0]}" ] && RANKS=(1 2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
export OMPI_MCA_orte_tmpdir_base="$T"
python3 - "$DATA" "$T" "$NQ" <<'PY'
import json, sys
data, t, nq = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(t + "/passages.jsonl", "w") as f:
    for line in open(data + "/corpus.jsonl", encoding="utf-8"):
        r = json.loads(line)
        f.write(json.dumps({"id": "p%05d" % r["id"], "title": r["title"], "text": r["text"]},
                           ensure_ascii=False) + "\n")
with open(t + "/q.jsonl", "w") as f:
    for i, line in enumerate(open(data + "/queries.jsonl", encoding="utf-8")):
        if i == nq:
            break
        q = json.loads(line)
        f.write(json.dumps({"id": q["id"], "text": q["question"]}, ensure_ascii=False) + "\n")
PY
"$BUILD/cvstore" init "$T/one" --embedder glove >/dev/null
"$BUILD/cvstore" import "$T/one" "$T/passages.jsonl" >/dev/null 2>&1
mpirun --oversubscribe -np 2 "$BUILD/cvstore-mpi" init "$T/sh" --shards 4 --embedder glove >/dev/null
mpirun --oversubscribe -np 2 "$BUILD/cvstore-mpi" import "$T/sh" "$T/passages.jsonl" >/dev/null
nums() { perl -pe 's/"ms":[0-9.eE+-]+,//g'; }
echo "| options | store | ranks | questions | seconds | ms a question | CPU s, busiest rank | CPU s, all ranks | round trips | KB of replies | lines equal to one store's |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for opts in "" "--exact-words" "--no-links --no-knn"; do
  s0=$(date +%s.%N)
  "$BUILD/cvstore" context "$T/one" --queries "$T/q.jsonl" --json --unit passage $opts \
    | nums > "$T/one.json"
  s1=$(date +%s.%N)
  dt=$(echo "$s1 - $s0" | bc -l)
  printf '| %s | one store | - | %d | %.2f | %.1f | - | - | - | - | - |\n' "${opts:-default}" "$NQ" "$dt" \
    "$(echo "$dt * 1000 / $NQ" | bc -l)"
  for np in "${RANKS[@]}"; do
    mpirun --oversubscribe -np "$np" "$BUILD/cvstore-mpi" context "$T/sh" --queries "$T/q.jsonl" \
      --json --timing $opts 2>"$T/err" | nums > "$T/sh.json"
    secs=$(perl -ne 'print $1 if /questions in ([0-9.]+) s/' "$T/err")
    cmax=$(perl -ne 'print $1 if /, ([0-9.]+) s the most of a rank/' "$T/err")
    csum=$(perl -ne 'print $1 if /, ([0-9.]+) s in all/' "$T/err")
    trips=$(perl -ne 'print $1 if /(\d+) round trips/' "$T/err")
    kb=$(perl -ne 'print $1 if /([0-9.]+) KB of replies/' "$T/err")
    same=$(paste -d '\n' "$T/one.json" "$T/sh.json" | paste - - | awk -F'\t' '$1 == $2' | wc -l)
    printf '| %s | 4 shards | %d | %d | %.2f | %.1f | %.2f | %.2f | %d | %s | %d |\n' "${opts:-default}" \
      "$np" "$NQ" "$secs" "$(echo "$secs * 1000 / $NQ" | bc -l)" "$cmax" "$csum" "$trips" "${kb:--}" \
      "$same"
  done
done
echo
echo "load average at the end (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
