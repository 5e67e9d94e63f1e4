#!/usr/bin/env bash
# check-layers.sh -- the library's folders point one way: a file may include
# headers of its own folder and of folders on lower layers, never of a
# folder on a higher layer or of another folder on its own layer (peers stay
# independent, so the folder-level include graph stays acyclic).  cli/ uses
# the public API only: "cvstore.h" and cli/'s own headers.
#   bash scripts/check-layers.sh [ROOT]          check; exit 1 on a violation
#   bash scripts/check-layers.sh --list [ROOT]   print the folder-level include graph
# ROOT defaults to the repository this script lives in.  Every violation is
# printed as file:line, the include, and the two layers.  Only bash, grep
# and awk are used.
set -euo pipefail

# ==== The layers, bottom first ====
# One line per folder: folder and layer number.  Folders with the same
# number are peers.  Adding a folder is one line here.  compose/ stands
# for the composition folder (the one place that names every derived
# structure): rename its line to the folder's name.  bench/ and mpi/ sit
# above cli/ because mpi/ shares cli/common.h.
LAYERS='
core    0
pq      1
store   2
index   3
text    3
graph   4
query   5
api     6
cli     7
bench   8
mpi     8
'
# Top-level folders that hold no library code (never scanned).
IGNORED='tests fuzz cmake python include docs scripts data'
# Header of the public API, includable from every layer.
PUBLIC='cvstore.h'

mode=check
if [ "${1:-}" = "--list" ]; then
    mode=list
    shift
fi
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT"

# Folders holding C sources that the table does not name are an error: a
# new folder gets its line in the table before it gets code.
unknown=0
for d in */; do
    d="${d%/}"
    case " $IGNORED " in *" $d "*) continue ;; esac
    case "$d" in build*) continue ;; esac
    if ! awk -v d="$d" '$1 == d { found = 1 } END { exit !found }' <<<"$LAYERS" &&
        [ -n "$(find "$d" -name '*.[ch]' -o -name '*.cpp' | head -1)" ]; then
        echo "$d/: folder holds C sources but has no line in the layer table of $0" >&2
        unknown=1
    fi
done

folders=$(awk 'NF == 2 { print $1 }' <<<"$LAYERS")
files=()
for d in $folders; do
    [ -d "$d" ] || continue
    while IFS= read -r f; do files+=("$f"); done < <(find "$d" \( -name '*.c' -o -name '*.h' \
        -o -name '*.cpp' \) | LC_ALL=C sort)
done
[ ${#files[@]} -gt 0 ] || { echo "no source files under $ROOT" >&2; exit 1; }

# One line per include: file:line:text.  grep exits 1 when nothing matches.
includes=$(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${files[@]}" || true)

set +e
awk -v mode="$mode" -v public="$PUBLIC" -v layers="$LAYERS" '
BEGIN {
    n = split(layers, lines, "\n")
    for (i = 1; i <= n; i++)
        if (split(lines[i], f, " ") == 2)
            rank[f[1]] = f[2]
    bad = 0
}
{
    # file:line:#include "path"
    file = $0; sub(/:.*/, "", file)
    rest = substr($0, length(file) + 2)
    line = rest; sub(/:.*/, "", line)
    inc = rest; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
    from = file; sub(/\/.*/, "", from)
    if (inc == public || inc ~ "(^|/)include/" public "$")
        to = "include"
    else if (inc ~ /\//)
        { to = inc; sub(/\/.*/, "", to) }
    else
        to = from                       # a header next to the file
    if (from != to) {
        edge = from " -> " to
        if (!(edge in count))
            order[++nedges] = edge
        count[edge]++
    }
    if (mode == "list")
        next
    if (from == "cli") {
        if (to != "include" && to != "cli") {
            printf "%s:%s: includes \"%s\": cli (layer %s) may include only %s and cli/ headers\n",
                   file, line, inc, rank[from], public
            bad++
        }
        next
    }
    if (to == "include" || to == from)
        next
    if (!(to in rank)) {
        printf "%s:%s: includes \"%s\": folder %s/ is not in the layer table\n", file, line, inc, to
        bad++
    } else if (rank[to] + 0 > rank[from] + 0) {
        printf "%s:%s: includes \"%s\": %s (layer %s) reaches up to %s (layer %s)\n",
               file, line, inc, from, rank[from], to, rank[to]
        bad++
    } else if (rank[to] + 0 == rank[from] + 0) {
        printf "%s:%s: includes \"%s\": %s and %s are peers (layer %s) and must not include each other\n",
               file, line, inc, from, to, rank[from]
        bad++
    }
}
END {
    if (mode == "list") {
        for (i = 1; i <= nedges; i++) {
            e = order[i]
            split(e, p, " -> ")
            tag = ""
            if (p[2] != "include" && p[2] in rank && p[1] in rank && rank[p[2]] + 0 >= rank[p[1]] + 0)
                tag = "   <- up or sideways"
            printf "%-22s %4d include%s%s\n", e, count[e], count[e] == 1 ? "" : "s", tag
        }
        exit 0
    }
    if (bad)
        printf "%d include%s against the layer order\n", bad, bad == 1 ? "" : "s" > "/dev/stderr"
    exit bad ? 1 : 0
}' <<<"$includes" | { if [ "$mode" = list ]; then LC_ALL=C sort; else cat; fi; }
rc=${PIPESTATUS[0]}
set -e
[ "$mode" = list ] && exit 0
[ "$unknown" -eq 0 ] || rc=1
exit "$rc"
