#!/usr/bin/env bash
# layer-check.sh -- proves that store/ calls nothing above it.
#
# Usage: scripts/layer-check.sh [BUILD_DIR]   (default: build)
#
# Reads the library's object files from BUILD_DIR and checks, with nm, that
# every symbol of ours (cvs_* / cvs__*) a store/ object leaves undefined is
# defined by an object of a layer at or below the store (core/, pq/,
# store/); the rest must come from system libraries (LMDB, libsodium, ...).
# Also checks that no store/ source includes a header of a layer above it
# (index/, graph/, query/, text/, api/).  Exits 1 and names each offender.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
objdir=$build/CMakeFiles/cvstore_obj.dir
if [ ! -d "$objdir/store" ]; then
    echo "layer-check: no objects in $objdir (build first)" >&2
    exit 1
fi
fail=0

# Includes pointing up.
if grep -nE '#include "(index|graph|query|text|api)/' store/*.c store/*.h; then
    echo "layer-check: store/ includes a header of a layer above it (listed above)" >&2
    fail=1
fi

# Symbols defined at or below the store.
low=$(mktemp)
trap 'rm -f "$low"' EXIT
for d in core pq store; do
    [ -d "$objdir/$d" ] || continue
    find "$objdir/$d" -name '*.o' -print0 | xargs -0 -r nm --defined-only -P 2>/dev/null |
        awk '{print $1}'
done | sort -u >"$low"

for o in "$objdir"/store/*.o; do
    nm -u -P "$o" | awk '{print $1}' | grep -E '^cvs_' | while read -r sym; do
        if ! grep -qxF "$sym" "$low"; then
            echo "layer-check: $(basename "$o" .o) calls $sym, defined above the store"
        fi
    done
done | tee /dev/stderr | grep -q . && fail=1

if [ $fail -eq 0 ]; then
    echo "layer-check: store/ includes and calls nothing above it"
fi
exit $fail
