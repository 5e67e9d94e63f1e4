#!/usr/bin/env bash
# check_layers.sh -- scripts/check-layers.sh on fake trees: a tree whose
# includes point down passes; an upward include, a sideways one between
# peers, a CLI reaching past the public header and a folder missing from
# the layer table each fail, naming file:line; --list prints the graph.
set -u
SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/check-layers.sh"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# A clean tree: each folder includes its own headers and lower layers.
mk() { mkdir -p "$(dirname "$1")"; printf '%s\n' "${@:2}" > "$1"; }
clean() {
    rm -rf "$T/tree"
    mk "$T/tree/include/cvstore.h" '/* public */'
    mk "$T/tree/core/err.h" '/* bottom */'
    mk "$T/tree/pq/pq.c" '#include "core/err.h"' '#include "pq.h"' '#include <stdio.h>'
    mk "$T/tree/pq/pq.h" '#include "cvstore.h"'
    mk "$T/tree/store/db.c" '#include "pq/pq.h"' '#include "core/err.h"'
    mk "$T/tree/index/ivf.c" '#include "store/db.h"' '  #  include "pq/pq.h"'
    mk "$T/tree/graph/knn.c" '#include "index/ivf.h"'
    mk "$T/tree/query/ctx.c" '#include "graph/graph.h"'
    mk "$T/tree/cli/main.c" '#include "cvstore.h"' '#include "common.h"' '#include "cli/common.h"'
    mk "$T/tree/bench/b.c" '#include "store/db.h"'
    mk "$T/tree/tests/t.c" '#include "store/db.h"'  # not library code: never scanned
}

clean
out=$(bash "$SCRIPT" "$T/tree" 2>&1) || bad "clean tree rejected: $out"

clean
mk "$T/tree/store/put.c" '/* a write */' '#include "index/ivf.h"'
out=$(bash "$SCRIPT" "$T/tree" 2>&1) && bad "upward include store -> index accepted"
grep -q 'store/put.c:2: .*store (layer 2) reaches up to index (layer 3)' <<<"$out" ||
    bad "upward include not reported as file:line with both layers: $out"

clean
mk "$T/tree/pq/rq.c" '#include "store/jobs.h"'
mk "$T/tree/graph/link.c" '#include "query/tokenize.h"'
out=$(bash "$SCRIPT" "$T/tree" 2>&1) && bad "two upward includes accepted"
[ "$(grep -c 'reaches up' <<<"$out")" -eq 2 ] || bad "not every violation printed: $out"

clean
mk "$T/tree/text/bm25.c" '#include "index/ivf.h"'
out=$(bash "$SCRIPT" "$T/tree" 2>&1) && bad "include between peers index and text accepted"
grep -q 'text/bm25.c:1: .*peers' <<<"$out" || bad "peer include not reported: $out"

clean
mk "$T/tree/cli/get.c" '#include "cvstore.h"' '#include "store/db.h"'
out=$(bash "$SCRIPT" "$T/tree" 2>&1) && bad "cli including an internal header accepted"
grep -q 'cli/get.c:2: ' <<<"$out" || bad "cli include not reported: $out"

clean
mk "$T/tree/shard/map.c" '#include "store/db.h"'
out=$(bash "$SCRIPT" "$T/tree" 2>&1) && bad "a folder missing from the layer table accepted"
grep -q '^shard/' <<<"$out" || bad "unknown folder not named: $out"

clean
mk "$T/tree/store/put.c" '#include "index/ivf.h"'
out=$(bash "$SCRIPT" --list "$T/tree" 2>&1) || bad "--list failed: $out"
grep -q '^store -> index .*1 include .*up' <<<"$out" || bad "--list lacks the upward edge: $out"
grep -q '^index -> store ' <<<"$out" || bad "--list lacks index -> store: $out"

[ "$fail" -eq 0 ] && echo "check_layers: all cases pass"
exit "$fail"
