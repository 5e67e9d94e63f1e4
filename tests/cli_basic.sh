#!/usr/bin/env bash
# cli_basic.sh -- end-to-end tests of the cvstore command line on real files:
# the exit-code contract (0 / 1 / 2), JSON output, search against the
# SIFT10K ground truth, and export -> import -> export being a fixed point.
# Needs only bash and coreutils (no python3 or jq: not on a fresh Debian).
#   bash tests/cli_basic.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
: "${data:?usage: cli_basic.sh PATH_TO_cvstore PATH_TO_tests/data}"
count_of() {
  "$cli" stats "$1" --json | grep -o '"count":[0-9]*' | cut -d: -f2
}

# ---- help and the argument contract ----------------------------------------
expect 0 "cvstore --help" --help
has "$tmp/out" "Exit codes" "top-level help documents exit codes"
expect 0 "cvstore --version" --version
for c in init import get delete search stats check export; do
  expect 0 "$c --help" "$c" --help
  has "$tmp/out" "Usage: cvstore $c" "$c --help prints usage"
done
expect 1 "no command" 
expect 1 "unknown command" frobnicate
expect 1 "unknown option" stats "$tmp/x" --bogus
has "$tmp/err" "Try 'cvstore stats --help'" "a bad option points at --help"
! grep -q "Options:" "$tmp/err" || fail "a bad option prints one line, not the whole help"
! grep -q "Did you mean" "$tmp/err" || fail "--bogus is near no option of stats: no guess"
# A typo gets the name it likely meant, from the command's --help.
expect 1 "misspelt command" serach "$tmp/x" -k 1
has "$tmp/err" "unknown command 'serach' (did you mean 'search'?)" "a misspelt command is named"
expect 1 "misspelt option" search "$tmp/x" --text hi -k 1 --jsn
has "$tmp/err" "Did you mean '--json'?" "a misspelt option is named"
expect 1 "misspelt option with =" context "$tmp/x" --text hi --budjet=5
has "$tmp/err" "Did you mean '--budget'?" "a misspelt option with its value is named"
expect 1 "ambiguous option" search "$tmp/x" --text hi -k 1 --q x
! grep -q "Did you mean" "$tmp/err" || fail "an ambiguous start of options (getopt lists them) guesses nothing"
expect 1 "missing -k" search "$tmp/x" --text hi
! grep -q "Did you mean" "$tmp/err" || fail "a usage error after valid options guesses nothing"
expect 1 "missing option argument" search "$tmp/x" -k
expect 1 "init: bad --dim" init "$tmp/x" --dim abc --metric l2
expect 1 "init: bad --metric" init "$tmp/x" --dim 3 --metric manhattan
expect 1 "init: missing --metric" init "$tmp/x" --dim 3
expect 1 "missing store: stats" stats "$tmp/nope"
has "$tmp/err" "no store at" "missing store message"
expect 1 "missing store: get" get "$tmp/nope" a
expect 1 "missing store: search" search "$tmp/nope" --query-vector 1,2,3 -k 1

# ---- Chinese and Japanese text: words inside unspaced runs ----------------
cjk="$tmp/cjk"
cat >"$tmp/cjk.jsonl" <<'EOF'
{"id": "pw", "vector": [1, 0, 0], "title": "設定", "text": "アカウントのパスワードを変更するには、設定画面を開いてください。"}
{"id": "pasta", "vector": [0, 1, 0], "title": "料理", "text": "パスタの作り方：お湯を沸かして塩を入れます。"}
{"id": "pku", "vector": [0, 0, 1], "title": "大学", "text": "北京大学位于北京市海淀区，是中国著名的高等学府。"}
{"id": "lib", "vector": [1, 1, 0], "title": "学习", "text": "大学生每天在图书馆学习。"}
EOF
expect 0 "init a store for CJK text" init "$cjk" --dim 3 --metric cosine
expect 0 "import CJK records" import "$cjk" "$tmp/cjk.jsonl"
for q in "パスワード:pw" "图书馆:lib" "北京大学:pku" "ﾊﾟｽﾀ:pasta"; do
  expect 0 "context --strategy bm25 --text ${q%%:*}" context "$cjk" --text "${q%%:*}" --strategy bm25 --json
  has "$tmp/out" '"items":[{"id":"'"${q##*:}"'"' "${q%%:*} finds ${q##*:} first"
done

# A store whose BM25 index tokenizer version 1 made (tests/data/fixture-v2,
# encrypted, passphrase "fixture"): healthy, with a note until its next write.
mkdir "$tmp/v1tok"
cp "$data/fixture-v2/data.mdb" "$tmp/v1tok/"
printf 'fixture' >"$tmp/v1tok.key"
expect 0 "check an index of tokenizer version 1" check "$tmp/v1tok" --key-file "$tmp/v1tok.key" --json
has "$tmp/out" '"healthy":true' "an older tokenizer's index is not a problem"
has "$tmp/out" 'made by an older tokenizer' "check notes the older tokenizer"
echo '{"id": "d", "vector": [0, 0, 1], "text": "delta"}' >"$tmp/v1tok.jsonl"
expect 0 "a write to it" import "$tmp/v1tok" "$tmp/v1tok.jsonl" --key-file "$tmp/v1tok.key"
expect 0 "check after the write" check "$tmp/v1tok" --key-file "$tmp/v1tok.key" --json
has "$tmp/out" '"notes":[]' "the write rebuilt the index"

# ---- a small store with text, meta and links -------------------------------
db="$tmp/small"
expect 0 "init l2 dim 3" init "$db" --dim 3 --metric l2
expect 1 "init over an existing store" init "$db" --dim 3 --metric l2
# A folder of the user's own files is no place for a store's files: refused,
# naming a file, and nothing is written there; an empty folder is fine.
mkdir -p "$tmp/docs" "$tmp/emptydir"
echo "my notes" >"$tmp/docs/notes.txt"
expect 1 "init in a folder of other files" init "$tmp/docs" --dim 3 --metric l2
has "$tmp/err" "holds other files (such as 'notes.txt')" "init names a file that is there"
[ "$(ls "$tmp/docs")" = "notes.txt" ] || fail "init wrote into a folder of other files: $(ls "$tmp/docs")"
expect 0 "init in an empty folder" init "$tmp/emptydir" --dim 3 --metric l2
printf '%s\n' \
  '{"id":"a","vector":[1,0,0],"text":"first","meta":{"k":"v","n":3},"links":["b"]}' \
  '{"id":"b","vector":[0,1,0.25],"text":"second \"quoted\"","links":[{"id":"a","type":"cites","weight":0.5}]}' \
  '{"id":7,"vector":[0.9,0.1,-1.5e-3]}' \
  '{"id":"c","vector":[0.3333333432674408,2.5,-7]}' >"$tmp/small.jsonl"
expect 0 "import jsonl" import "$db" "$tmp/small.jsonl"
has "$tmp/err" "imported 4 records (4 new, 0 updated) from small.jsonl" "import summary"
head -1 "$tmp/small.jsonl" >"$tmp/one.jsonl"
expect 0 "import one record" import "$db" "$tmp/one.jsonl"
has "$tmp/err" "imported 1 record (0 new, 1 updated) from one.jsonl" "one record, singular"
grep -qE "s: [0-9]+(\.[0-9])? rec/s" "$tmp/err" || fail "the rate: $(cat "$tmp/err")"
# A small file reads in a moment: its byte rate is not "0.0 MB/s".
! grep -q " 0.0 MB/s" "$tmp/err" || fail "a small import's byte rate reads 0.0 MB/s: $(cat "$tmp/err")"
grep -qE "rec/s, [0-9.]+ kB/s" "$tmp/err" || fail "a small import's byte rate is in kB/s: $(cat "$tmp/err")"
[ "$(count_of "$db")" = 4 ] || fail "count after import"
ok "stats --json count is 4"

expect 0 "get --json" get "$db" a b --json
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "get --json prints one line per record"
has "$tmp/out" '{"id":"a","key":' "get --json id"
has "$tmp/out" '"text":"first"' "get --json text"
has "$tmp/out" '"meta":{"k":"v","n":3}' "get --json meta"
has "$tmp/out" '"links":["b"]' "get --json plain link"
has "$tmp/out" '"links":[{"id":"a","type":"cites","weight":0.5}]' "get --json typed link"
grep -qE '"created":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z"' "$tmp/out" ||
  fail "get --json created is ISO-8601 UTC"
ok "get --json fields"
expect 0 "get --vector" get "$db" 7 --json --vector
has "$tmp/out" '"vector":[0.899999976,0.100000001,-0.00150000001]' "get --vector values"
expect 1 "get with a missing id" get "$db" a zz
has "$tmp/out" "id:       a" "found records printed before the missing one"
has "$tmp/err" "not found: zz" "missing id named"

# malformed input: wrong dimension on line 6, in the third batch of two, so
# that an import writing batch by batch before it reaches the bad record
# would leave four records behind; nothing may be written
printf '%s\n' '{"id":"x1","vector":[1,2,3]}' '{"id":"x2","vector":[1,2,3]}' \
  '{"id":"x3","vector":[1,2,3]}' '{"id":"a","vector":[9,9,9],"text":"changed"}' \
  '{"id":"x5","vector":[1,2,3]}' '{"id":"y","vector":[1,2]}' >"$tmp/bad.jsonl"
expect 1 "import of a malformed file" import "$db" "$tmp/bad.jsonl" --batch 2
has "$tmp/err" "bad.jsonl" "import error names the file"
has "$tmp/err" "line 6" "import error names the line"
[ "$(count_of "$db")" = 4 ] || fail "count unchanged after a failed import"
ok "count unchanged after a failed import"
expect 1 "no record of the failed import's first batch" get "$db" x1
expect 0 "get a" get "$db" a --json
has "$tmp/out" '"text":"first"' "the failed import updated no record"
expect 1 "import of a missing file" import "$db" "$tmp/nope.jsonl" --quiet
expect 1 "import: --ids-as-text without --ids" import "$db" "$tmp/small.jsonl" --ids-as-text

# A key that is no record field is ignored, never in silence: a warning
# naming the file, line and key, once per key, with --quiet too, and
# counted by --json.
printf '%s\n' '{"id":"k1","vector":[1,1,1],"metadata":{"a":1}}' \
  '{"id":"k2","vector":[1,1,2],"metadata":{"a":2},"embedding":[1]}' >"$tmp/keys.jsonl"
expect 0 "import with unknown keys" import "$db" "$tmp/keys.jsonl" --quiet
has "$tmp/err" 'keys.jsonl: line 1: key "metadata" is not a record field and was ignored (did you mean "meta"?)' "unknown key warned with a suggestion"
has "$tmp/err" 'line 2: key "embedding"' "each key warned"
[ "$(grep -c metadata "$tmp/err")" = 1 ] || fail "a key is warned once: $(cat "$tmp/err")"
ok "a key is warned once"
expect 0 "import --json with unknown keys" import "$db" "$tmp/keys.jsonl" --json
has "$tmp/out" '"unknown_keys":["metadata","embedding"],"unknown_key_records":2' "--json counts unknown keys"
expect 0 "delete the records of unknown keys" delete "$db" k1 k2

expect 0 "search --query-id" search "$db" --query-id a -k 2 --json
has "$tmp/out" '"query_id":"a"' "search --query-id names the query"
grep -q '"id":"a"' "$tmp/out" && fail "search --query-id leaves the record itself out"
has "$tmp/out" '{"query":0,"query_id":"a","results":[{"id":"7",' "nearest to a is 7"
expect 1 "search --query-id of a missing id" search "$db" --query-id zz -k 2
expect 1 "search: vector of the wrong dimension" search "$db" --query-vector 1,2 -k 2
expect 1 "search: two query sources" search "$db" --query-vector 1,2,3 --query-id a -k 2
expect 0 "search table" search "$db" --query-vector 0,1,0.2 -k 1
has "$tmp/out" "second" "search table shows text"

# --bm25: lexical search of text queries, as Python's search(mode="bm25"),
# in a store with no embedder, printed as a vector search prints.
expect 0 "search --bm25 --text" search "$db" --text "Second" -k 3 --bm25 --json
grep -qE '^\{"query":0,"results":\[\{"id":"b","score":[0-9.e+-]+\}\]\}$' "$tmp/out" ||
  fail "search --bm25 finds b alone, in a vector search's JSON: $(cat "$tmp/out")"
ok "search --bm25 JSON"
expect 0 "search --bm25 --include" search "$db" --text first -k 1 --bm25 --json --include text
has "$tmp/out" '"results":[{"id":"a","score":' "search --bm25 --include finds a"
has "$tmp/out" '"text":"first"}' "search --bm25 --include adds the text"
printf '%s\n' '{"id":"q1","text":"quoted second"}' '{"id":"q2","text":"the"}' >"$tmp/bq.jsonl"
expect 0 "search --bm25 --queries" search "$db" --queries "$tmp/bq.jsonl" -k 2 --bm25
has "$tmp/out" '{"query":0,"query_id":"q1","results":[{"id":"b",' "search --bm25 --queries answers q1"
has "$tmp/out" '{"query":1,"query_id":"q2","results":[]}' "a query of stop words has no results"
expect 0 "search --bm25 table" search "$db" --text first -k 1 --bm25
has "$tmp/out" "first" "search --bm25 table shows text"
expect 1 "search --bm25 with a vector" search "$db" --query-vector 1,0,0 -k 1 --bm25
has "$tmp/err" "--bm25 searches text" "search --bm25 says it needs text"
expect 1 "search --bm25 --filter" search "$db" --text first -k 1 --bm25 --filter '{"k":"v"}'
expect 1 "search --bm25 --exact" search "$db" --text first -k 1 --bm25 --exact

expect 0 "check a healthy store" check "$db"
expect 0 "check --json" check "$db" --json
has "$tmp/out" '"healthy":true' "check --json verdict"

# ---- export -> import -> export is a fixed point ---------------------------
expect 0 "export" export "$db" --output "$tmp/e1.jsonl"
[ "$(wc -l <"$tmp/e1.jsonl")" -eq 4 ] || fail "export writes one line per record"
expect 0 "init a second store" init "$tmp/copy" --dim 3 --metric l2
expect 0 "import the export" import "$tmp/copy" "$tmp/e1.jsonl"
run export "$tmp/copy"
[ "$rc" -eq 0 ] || fail "export the copy"
cmp -s "$tmp/e1.jsonl" "$tmp/out" || fail "export -> import -> export differs: $(diff "$tmp/e1.jsonl" "$tmp/out" | head -5)"
ok "export -> import -> export is identical"
# `export -o -` is standard output, as `import DB -` is standard input.
(cd "$tmp" && "$cli" export "$db" -o - >"$tmp/dash.out" 2>"$tmp/err") || fail "export -o -"
[ ! -e "$tmp/-" ] || fail "export -o - wrote a file named '-'"
cmp -s "$tmp/e1.jsonl" "$tmp/dash.out" || fail "export -o - writes the records to standard output"
ok "export -o - writes to standard output"
# The kNN graph of a store of one record: no neighbour, said so.
expect 0 "init a one-record store" init "$tmp/one" --dim 3 --metric l2
head -1 "$tmp/small.jsonl" | sed 's/,"links":\["b"\]//' >"$tmp/one.jsonl"
expect 0 "import one record" import "$tmp/one" "$tmp/one.jsonl"
expect 0 "link one record" link "$tmp/one"
has "$tmp/out" "knn: 0 neighbours each for 1 record," "link counts the neighbours a record has"
# Skipping both parts leaves nothing to do: said, not an exit 0 that did nothing.
expect 1 "link --no-mentions --no-knn" link "$tmp/one" --no-mentions --no-knn
has "$tmp/err" "--no-mentions and --no-knn together leave nothing to do" "link says both skips leave nothing to do"
# A bad -k is named as the user gave it, not only by its long form.
run link "$tmp/one" -k 0
[ "$rc" -ne 0 ] || fail "link -k 0 is refused"
has "$tmp/err" "-k/--knn: expected an integer in 1..4096, got '0'" "link -k 0 names -k"
ok "link -k 0 is refused naming -k/--knn"
# The times are exported and restored (the fixed point above compares them):
# a restored store keeps its records' history.
grep -qE '^\{"id":"a",.*"created_us":[0-9]{16},"updated_us":[0-9]{16}\}$' "$tmp/e1.jsonl" ||
  fail "export writes created_us and updated_us: $(head -1 "$tmp/e1.jsonl")"
ok "export writes the times, import restores them"
has "$tmp/e1.jsonl" '{"id":"c","vector":[0.333333343,2.5,-7],' "export writes floats with 9 digits"

# ---- delete -------------------------------------------------------------------
expect 0 "delete" delete "$db" a zz
has "$tmp/out" "deleted 1 of 2" "delete reports the count"
expect 1 "delete of ids none of which exist" delete "$db" zz
# An id that is not text is named with its bytes as \xNN, as get names it.
expect 1 "delete of an id that is not UTF-8" delete "$db" $'a\xffb'
has "$tmp/err" 'not found: a\xffb' "delete names a missing binary id as \\xNN"
expect 1 "search --query-id of an id that is not UTF-8" search "$db" --query-id $'a\xffb' -k 1
has "$tmp/err" 'not found: a\xffb' "search names a missing binary id as \\xNN"
[ "$(count_of "$db")" = 3 ] || fail "count after delete"
ok "count after delete is 3"
expect 0 "check after delete (links into a were dropped)" check "$db"

# ---- fvecs with --ids --ids-as-text: what scripts/demo.sh does ----------------
# Three 2-d vectors, little-endian: dim 2, then float32 values
# king (1, 0), queen (0.8, 0.6), apple (0, 1).
f32_1='\x00\x00\x80\x3f' f32_0='\x00\x00\x00\x00'
f32_08='\xcd\xcc\x4c\x3f' f32_06='\x9a\x99\x19\x3f' d2='\x02\x00\x00\x00'
printf "$d2$f32_1$f32_0$d2$f32_08$f32_06$d2$f32_0$f32_1" >"$tmp/words.fvecs"
printf 'king\nqueen\napple\n' >"$tmp/words.txt"
wdb="$tmp/words"
expect 0 "init cosine" init "$wdb" --dim 2 --metric cosine
expect 0 "import fvecs --ids --ids-as-text" import "$wdb" "$tmp/words.fvecs" --ids "$tmp/words.txt" --ids-as-text
expect 0 "search --query-id king (table)" search "$wdb" --query-id king -k 1 --exact
grep -qE '^ +1  queen +0\.8[0-9]* +queen$' "$tmp/out" || fail "nearest to king is queen: $(cat "$tmp/out")"
ok "nearest to king is queen, with its text"

# ---- SIFT10K: exact search agrees with the ground truth -------------------------
sift="$data/siftsmall"
sdb="$tmp/sift"
expect 0 "init sift" init "$sdb" --dim 128 --metric l2
expect 0 "import siftsmall_base.fvecs" import "$sdb" "$sift/siftsmall_base.fvecs" --quiet
[ ! -s "$tmp/err" ] || fail "--quiet prints nothing"
[ "$(count_of "$sdb")" = 10000 ] || fail "sift count"
ok "sift count is 10000"
expect 0 "search --query-file" search "$sdb" --query-file "$sift/siftsmall_query.fvecs" -k 10 --json --exact
[ "$(wc -l <"$tmp/out")" -eq 100 ] || fail "one line per query"
has "$tmp/out" '{"query":99,' "queries in order"
got=$(head -1 "$tmp/out" | grep -o '"id":"[0-9]*"' | tr -dc '0-9\n' | tr '\n' ' ')
want=$(od -An -t d4 -j4 -N40 "$sift/siftsmall_groundtruth.ivecs" | tr -s ' \n' '  ' | sed 's/^ //')
[ "$(echo $got)" = "$(echo $want)" ] || fail "first query's top 10: got '$got', want '$want'"
ok "first query's top 10 equal the ground truth"
expect 0 "check sift" check "$sdb"

# A text question to a store with no text and no embedder is an error, not
# an empty context set that looks like an answer; a vector question works.
expect 1 "context --text without text or embedder" context "$sdb" --text "which vector is near"
has "$tmp/err" "no text to search" "context says why"
[ ! -s "$tmp/out" ] || fail "context printed a set anyway: $(head -c 200 "$tmp/out")"
q=$(printf '1,%.0s' $(seq 127))1
# The question given as a second word (no --text) is named in the error, with the option.
expect 1 "context with the question as a bare argument" context "$sdb" "which vector is near"
has "$tmp/err" "unexpected argument 'which vector is near': give the question with --text" "context names the stray question"
expect 0 "context --query-vector on it" context "$sdb" --query-vector "$q" --budget 64 --json
has "$tmp/out" '"items":[{"id":' "context by vector finds records"
# An empty --text (an unset variable in a script) is a mistake said as one,
# not an empty set with exit 0.
expect 1 "context --text ''" context "$sdb" --text " "
has "$tmp/err" "--text has no words (it is empty, or only spaces, punctuation or symbols): give the question" "context says the question is empty"
# Spaces of other kinds (U+3000, U+00A0) and punctuation hold no words either.
expect 1 "context --text of U+3000 and U+00A0" context "$sdb" --text $'\u3000\u00a0 '
has "$tmp/err" "--text has no words (it is empty, or only spaces, punctuation or symbols): give the question" "context says a question of Unicode spaces is empty"
expect 1 "context --text '?!'" context "$sdb" --text '?!'
has "$tmp/err" "--text has no words (it is empty, or only spaces, punctuation or symbols): give the question" "context says a question of punctuation is empty"
# Symbols only (emoji) hold no words either, and the message names them.
expect 1 "context --text of emoji only" context "$sdb" --text $'\U0001F600\U0001F44D'
has "$tmp/err" "--text has no words (it is empty, or only spaces, punctuation or symbols): give the question" "context says a question of symbols is empty"

# tune on a store too small for it says how many records it needs and what
# to do, not only that there are too few.
printf '%s\n' '{"id":"t1","vector":[1,2,3]}' '{"id":"t2","vector":[1,2,4]}' '{"id":"t3","vector":[1,5,3]}' \
  '{"id":"t4","vector":[2,2,3]}' '{"id":"t5","vector":[1,0,3]}' >"$tmp/five.jsonl"
expect 0 "init a 5-record store" init "$tmp/five" --dim 3 --metric l2
expect 0 "import 5 records" import "$tmp/five" "$tmp/five.jsonl"
expect 0 "build an index on 5 records" build "$tmp/five" --index ivf2
expect 1 "tune on 5 records" tune "$tmp/five"
has "$tmp/err" "too few records (5) to tune on: tuning for k = 10 on the store's own records needs at least 11" \
  "tune names the minimum"
has "$tmp/err" "add records, or measure on queries of your own (cvstore tune --query-file)" \
  "tune says what to do"

# ---- a text store keeps its graph on import --------------------------------
# A tiny GloVe cache (5 words, 100 dimensions: word i is axis i plus a
# shared last axis) makes an embedding text store.
g="$tmp/glove"
mkdir -p "$g"
printf 'opera\ncomposer\ntown\nriver\nmarket\n' >"$g/glove100.words"
{
  for i in 0 1 2 3 4; do
    printf '\x64\x00\x00\x00'
    for d in $(seq 0 99); do
      if [ "$d" -eq "$i" ]; then printf '\x00\x00\x80\x3f'
      elif [ "$d" -eq 99 ]; then printf '\x00\x00\x00\x3f'
      else printf '\x00\x00\x00\x00'; fi
    done
  done
} >"$g/glove100.fvecs"
printf '%s\n' \
  '{"id":"z","title":"Zorblat","text":"Zorblat is an opera by a composer born in Brindlemoor."}' \
  '{"id":"b","title":"Brindlemoor","text":"Brindlemoor is a market town on the river."}' \
  >"$tmp/text.jsonl"
tdb="$tmp/text"
# Without the word vectors the message says what is missing, "not found" once.
mkdir "$tmp/noglove"
CVSTORE_GLOVE_DIR="$tmp/noglove" expect 1 "init --embedder glove without the vectors" init "$tmp/ng" --embedder glove
has "$tmp/err" "not found: GloVe word vectors: $tmp/noglove/glove100.words is missing" "init names the missing GloVe file"
[ "$(grep -o "not found" "$tmp/err" | wc -l)" -eq 1 ] || fail "the missing GloVe message says 'not found' once: $(cat "$tmp/err")"
ok "the missing GloVe message says 'not found' once"
export CVSTORE_GLOVE_DIR="$g"
expect 0 "init a text store" init "$tdb" --embedder glove
expect 0 "import into a text store" import "$tdb" "$tmp/text.jsonl"
has "$tmp/err" "linked: 1 mention link from 1 record to 2 titles; kNN graph of 2 records, 1 neighbour each" \
  "import of a text store links mentions"
# Records without titles: the summary says why there are no mention links,
# not "0 mention links from 0 records", which read as if nothing was imported.
printf '%s\n' '{"id":"u1","text":"an opera in the town"}' '{"id":"u2","text":"a market on the river"}' \
  >"$tmp/untitled.jsonl"
expect 0 "init a text store for untitled records" init "$tmp/untitled" --embedder glove
expect 0 "import untitled records" import "$tmp/untitled" "$tmp/untitled.jsonl"
has "$tmp/err" "imported 2 records (2 new, 0 updated)" "the records are counted"
has "$tmp/err" "linked: no mention links (no record has a title to be mentioned by); kNN graph of 2 records" \
  "no titles, said so"
if grep -qF "0 mention links" "$tmp/err"; then fail "a summary of 0 mention links from 0 records"; fi
expect 0 "import them again" import "$tmp/untitled" "$tmp/untitled.jsonl"
has "$tmp/err" "kNN graph kept up to date by the writes" "a kept kNN graph is not said to be built"
printf '%s\n' '{"id":"t1","title":"Zorblat","text":"a composer"}' >"$tmp/titled.jsonl"
expect 0 "import a titled record no text mentions" import "$tmp/untitled" "$tmp/titled.jsonl"
has "$tmp/err" "linked: no mention links (no text mentions one of the 1 title)" "titles no text names"
# A blank question of a --queries batch gets its error line, as --text ""
# is refused; the batch goes on.
printf '%s\n' '{"id":"e","text":"  "}' '{"id":"u","text":"\u3000\u00a0"}' '{"id":"o","text":"which opera"}' \
  >"$tmp/qs.jsonl"
expect 0 "context --queries with a blank question" context "$tdb" --queries "$tmp/qs.jsonl"
has "$tmp/out" '{"query_id":"e","query":"  ","error":"empty question"}' "the blank question's line"
has "$tmp/out" '"query_id":"u"' "the question of Unicode spaces has its line"
grep '"query_id":"u"' "$tmp/out" | grep -q '"error":"empty question"' \
  || fail "the question of Unicode spaces is an empty question: $(cat "$tmp/out")"
grep -q '"query_id":"o"' "$tmp/out" || fail "the next question is answered: $(cat "$tmp/out")"
ok "the batch goes on after a blank question"
# A question of stop words only: neither BM25 nor GloVe reads a stop word,
# so nothing answers it; the empty set (exit 0, as for any question that
# finds nothing) says why and what to do, on stderr and in the JSON.
expect 0 "context --text of stop words only" context "$tdb" --text "who was the"
has "$tmp/err" 'no result: the question has only stop words (words such as "the", "is", "who"' \
  "context says why the set is empty"
has "$tmp/err" "add a word that names what you look for" "and what to do"
# A question of one run of over 64 bytes (an id or hash), which BM25 drops
# as it drops stop words: the note names that reason too.
expect 0 "context --text of one 80-byte run" context "$tdb" --text "$(printf 'a%.0s' {1..80})"
has "$tmp/err" "runs of over 64 bytes without a space" "the note names long runs"
# A budget past the largest one says what the range is (it said "expected a
# positive integer" of a positive integer).
expect 1 "context --budget too large" context "$tdb" --text "opera" --budget 99999999999999999999
has "$tmp/err" "from 1 to 1099511627776" "the budget's range"
expect 0 "context --json of stop words only" context "$tdb" --text "who was the" --json
has "$tmp/out" '"items":[]' "the set is empty"
has "$tmp/out" '"note":"no result: the question has only stop words' "the JSON says why"
printf '%s\n' '{"id":"s","text":"Is it the"}' '{"id":"o","text":"which opera"}' >"$tmp/qs.jsonl"
expect 0 "context --queries with a question of stop words" context "$tdb" --queries "$tmp/qs.jsonl"
grep '"query_id":"s"' "$tmp/out" | grep -qF '"note":"no result: the question has only stop words' \
  || fail "the stop-word question's line says why: $(cat "$tmp/out")"
if grep '"query_id":"o"' "$tmp/out" | grep -qF '"note"'; then fail "an answered question has a note"; fi
ok "a question of stop words gets a note in a batch"
# A malformed line is a bad file: nothing is answered (as search --queries
# and import do), the line is named, exit 1.  Context answered the lines
# before it and then stopped, leaving a script half a batch and exit 1.
printf '%s\n' '{"id":"o","text":"which opera"}' '{"id":"x"}' '{"id":"p","text":"opera"}' \
  >"$tmp/qs.jsonl"
expect 1 "context --queries with a malformed line" context "$tdb" --queries "$tmp/qs.jsonl"
[ ! -s "$tmp/out" ] || fail "a malformed batch answered some questions: $(cat "$tmp/out")"
has "$tmp/err" "qs.jsonl:2: expected" "the malformed line is named"
ok "a malformed batch answers nothing"
# A NUL character in a question is named as such, not with jansson's text
# ("\u0000 is not allowed without JSON_ALLOW_NUL").
printf '%s\n' '{"id":"n","text":"opera\u0000house"}' >"$tmp/qs.jsonl"
expect 1 "context --queries with a NUL character" context "$tdb" --queries "$tmp/qs.jsonl"
has "$tmp/err" 'qs.jsonl:1: a NUL character (\u0000) at column' "the NUL character is named"
# From a pipe (process substitution) as from a file.
expect 0 "context --queries from a pipe" context "$tdb" --queries <(printf '%s\n' '{"id":"o","text":"which opera"}')
has "$tmp/out" '"query_id":"o"' "a batch read from a pipe is answered"
# "-" reads the batch from stdin (kept in a temporary file between the passes).
run context "$tdb" --queries - <<<'{"id":"o","text":"which opera"}'
[ "$rc" -eq 0 ] || fail "context --queries - (exit $rc)"
has "$tmp/out" '"query_id":"o"' "a batch read from stdin is answered"
# Stdin a regular file a script has read a header line of: the batch is the
# lines after it.  The second pass read from the file's start, answering the
# header and q1 instead of q1, q2 and q3.
printf '%s\n' '{"id":"h","text":"opera header"}' '{"id":"q1","text":"which opera"}' \
  '{"id":"q2","text":"opera"}' '{"id":"q3","text":"which composer"}' >"$tmp/qh.jsonl"
rc=0
(read -r _; exec "$cli" context "$tdb" --queries - --json) <"$tmp/qh.jsonl" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "context --queries - from a file past its first line (exit $rc)"
for q in q1 q2 q3; do has "$tmp/out" "\"query_id\":\"$q\"" "the lines after the one read are answered"; done
if grep -qF '"query_id":"h"' "$tmp/out"; then fail "the line read before is answered: $(cat "$tmp/out")"; fi
ok "--queries - answers from where stdin was"
# Memory stays bounded whatever the batch's size: the file is checked line
# by line, then answered line by line.  Read whole into memory, a 40 MB
# file under a 40 MB data limit ran out part way and named a line that was
# well formed ("invalid token" at line 25521) instead of the bad last one.
# (OpenBLAS's threads spin on a failed allocation under the limit: one
# thread; not under ASan, whose shadow memory the limit would refuse.)
if [ -z "${ASAN_OPTIONS:-}" ]; then
  line="{\"id\":\"q\",\"text\":\"$(printf 'word %.0s' {1..200})\"}"
  for ((i = 0; i < 40000; i++)); do echo "$line"; done >"$tmp/big.jsonl"
  echo '{"id":"x"}' >>"$tmp/big.jsonl"
  rc=0
  (ulimit -d 40000; OPENBLAS_NUM_THREADS=1 exec "$cli" context "$tdb" --queries "$tmp/big.jsonl") \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "a 40 MB batch with a bad last line under a 40 MB data limit (exit $rc)"
  has "$tmp/err" "big.jsonl:40001: expected" "the bad last line of a batch larger than memory is named"
  [ ! -s "$tmp/out" ] || fail "a malformed batch answered some questions"
fi
# --query-file of a name that does not tell the format: the message says to
# give it, and context now takes --format as search does (it had none).
printf '{"id":"q","vector":[%s1]}\n' "$(printf '0.1,%.0s' {1..99})" >"$tmp/qv.bin"
expect 1 "context --query-file of an unknown extension" context "$tdb" --query-file "$tmp/qv.bin"
has "$tmp/err" "give it explicitly" "the format is asked for"
expect 0 "context --query-file --format jsonl" context "$tdb" --query-file "$tmp/qv.bin" --format jsonl --json
has "$tmp/out" '"items":[{' "a query file of a given format is answered"
expect 1 "context --format without --query-file" context "$tdb" --text opera --format jsonl
expect 0 "get the mentioning record" get "$tdb" z --json
has "$tmp/out" '{"id":"b","type":"mentions"' "mention link kept by import, no --link"
ndb="$tmp/text-nolink"
expect 0 "init another text store" init "$ndb" --embedder glove
expect 0 "import --no-link" import "$ndb" "$tmp/text.jsonl" --no-link
if grep -qF 'linked:' "$tmp/err"; then fail "--no-link rebuilt the links anyway"; fi
ok "--no-link skips the rebuild"
expect 0 "get after --no-link" get "$ndb" z --json
has "$tmp/out" '{"id":"b","type":"mentions"' "puts keep mention links without the rebuild"
# A vector store keeps the explicit --link: no graph after a plain import.
expect 0 "plain import into a vector store prints no link line" import "$db" "$tmp/small.jsonl"
if grep -qF 'linked:' "$tmp/err"; then fail "a vector store was linked without --link"; fi
ok "a vector store is not linked without --link"
# mcp on a store that cannot be written (a read-only file system: a tmpfs
# remounted read-only in a private mount namespace) serves recall and
# refuses remember with the reason, instead of refusing to start.
if unshare -rm true 2>/dev/null; then
  mkdir "$tmp/ro"
  unshare -rm bash -c '
    mount -t tmpfs -o size=16m tmpfs "$1" && "$2" init "$1/m" --embedder glove >/dev/null &&
      "$2" import "$1/m" "$3" >/dev/null 2>&1 && mount -o remount,ro "$1" || exit 9
    printf "%s\n" \
      "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"sh\",\"version\":\"1\"}}}" \
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"recall\",\"arguments\":{\"query\":\"opera\"}}}" \
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"remember\",\"arguments\":{\"text\":\"a new opera\"}}}" |
      "$2" mcp "$1/m" >"$4/ro.out" 2>"$4/ro.err"' _ "$tmp/ro" "$cli" "$tmp/text.jsonl" "$tmp" ||
    fail "mcp on a read-only file system (exit $?): $(cat "$tmp/ro.err" 2>/dev/null)"
  has "$tmp/ro.err" "opened read-only" "mcp says the store is served read-only"
  [ "$(grep -c '"isError":false' "$tmp/ro.out")" = 1 ] || fail "recall answers on a read-only store: $(cat "$tmp/ro.out")"
  grep '"id":2' "$tmp/ro.out" | grep -q '"isError":true.*read-only\|read-only.*"isError":true' ||
    fail "remember says the store is read-only: $(cat "$tmp/ro.out")"
  ok "mcp serves a read-only store, remember says why it fails"
else
  ok "# SKIP mcp on a read-only file system (no unshare -rm here)"
fi
unset CVSTORE_GLOVE_DIR

echo "$passed passed, 0 failed"
