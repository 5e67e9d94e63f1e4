#!/usr/bin/env bash
# mpi_context.sh MPIRUN CVSTORE_MPI CVSTORE DATA -- `cvstore-mpi context` on 1,
# 2 and 4 ranks of one machine against `cvstore context` on one store
# holding the same records (docs/SCALING.md, "context across shards"):
#   - HotpotQA passages (DATA = tests/data/hotpot-mini) in 4 shards, the
#     walk over bridge queries only (--no-links --no-knn): the same lines,
#     ids, order and scores, as one store's (BM25 with the shards' summed
#     statistics, seeds fused at rank 0, title seeds resolved over all
#     shards);
#   - the same passages in 4 and in 2 shards, every option at its default,
#     the walk crossing shards over mention links, backlinks and kNN edges:
#     the same lines (the import links mentions against the titles of all
#     shards; kNN edges are found over all shards); check clean;
#   - the same passages in 4 shards, word forms (a single-hop question's
#     words standing for their forms in all shards' vocabulary) and
#     --exact-words: one store's lines each, in as many round trips;
#     encrypted shards (made by hand): exact forms, as one encrypted store;
#   - the same passages in 1 shard on 2 ranks, every option at its default
#     (one shard's graph is one store's): the same lines;
#   - generated records whose mention links all stay inside their shard,
#     links followed (--no-knn): the same lines, paths through links
#     included;
#   - a bad queries file, --unit sentence, --filter: exit 1 on every rank, a message,
#     nothing printed on stdout.
# The "ms" field (the time of each question) is left out of every
# comparison.  The GloVe cache the embedder reads is generated here.
set -uo pipefail
MPIRUN="$1"; MPI="$2"; CVS="$3"; DATA="$4"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_orte_tmpdir_base="$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
run() { local np="$1"; shift; timeout 120 "$MPIRUN" --oversubscribe -np "$np" "$MPI" "$@"; }
nums() { perl -pe 's/"ms":[0-9.eE+-]+,//g'; }

# ---- data: generated records whose links stay in their shard, and a GloVe
# cache (every word of both files, by frequency; vectors from a fixed LCG)
python3 - "$T" "$DATA/passages.jsonl" <<'PY'
import json, sys
t, passages = sys.argv[1], sys.argv[2]
def fnv(s):  # the shard hash of docs/FORMAT.md: FNV-1a 64 of the id bytes
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h
seed = 12345
def rnd(n):
    global seed
    seed = (seed * 1103515245 + 12345) % 2**31
    return seed % n
syl = ["ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "pe", "da", "zu", "fo"]
vocab = sorted({a + b + c for a in syl for b in syl for c in syl})[:400]
tsyl = ["zor", "vak", "bel", "qui", "xan", "dro", "hel", "gym"]
titles = [a + b + c for a in tsyl for b in tsyl for c in tsyl]
n = 160
ids = ["r%03d" % i for i in range(n)]
shard = [fnv(i) % 4 for i in ids]
names = [titles[(i * 37) % len(titles)].capitalize() for i in range(n)]
texts, links = [], []
for i in range(n):
    same = [j for j in range(n) if j != i and shard[j] == shard[i]]
    to = [same[rnd(len(same))] for _ in range(2)]
    words = [vocab[rnd(len(vocab))] for _ in range(15)]
    words[4:4] = [names[to[0]]]
    words[11:11] = [names[to[1]]]
    texts.append(" ".join(words))
    links.append(to)
with open(t + "/linked.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": ids[i], "title": names[i], "text": texts[i]}) + "\n")
# The same names, each record naming two records of any shard and linking
# explicitly to the first (links and mentions across shards).
xtexts, xlinks = [], []
for i in range(n):
    to = [j for j in (rnd(n), rnd(n)) if j != i] or [(i + 1) % n]
    words = [vocab[rnd(len(vocab))] for _ in range(15)]
    for at, j in zip((4, 11), to):
        words[at:at] = [names[j]]
    xtexts.append(" ".join(words))
    xlinks.append(to)
with open(t + "/linked-x.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": ids[i], "title": names[i], "text": xtexts[i],
                            "links": [{"id": ids[xlinks[i][0]], "type": "see",
                                       "weight": 0.9}]}) + "\n")
with open(t + "/linked-xq.jsonl", "w") as f:
    for q in range(12):
        i = (q * 29 + 5) % n
        w = xtexts[xlinks[i][0]].split()
        f.write(json.dumps({"id": "x%d" % q, "text": "which %s %s follows %s" %
                            (w[0], w[2], names[i])}) + "\n")
with open(t + "/linked-q.jsonl", "w") as f:
    for q in range(12):
        i = (q * 13) % n
        j = links[i][0]
        w = texts[j].split()
        f.write(json.dumps({"id": "q%d" % q, "text": "which %s %s follows %s" %
                            (w[0], w[2], names[i])}) + "\n")
PY
python3 "$(dirname "$0")/fake_glove.py" "$T/glove" "$T/linked.jsonl" "$DATA/passages.jsonl"
[ -s "$T/glove/glove100.words" ] || { echo "FAIL: generating the data" >&2; exit 1; }
export CVSTORE_GLOVE_DIR="$T/glove"

# one NAME FILE [INIT OPTIONS]: one store holding FILE; sharded NAME SHARDS FILE: the same
# records in SHARDS shards, made by cvstore-mpi init --embedder and import.
one() {
  "$CVS" init "$T/$1" --embedder glove "${@:3}" >/dev/null || fail "$1: init"
  "$CVS" import "$T/$1" "$2" >/dev/null 2>&1 || fail "$1: import"
}
sharded() {
  run 2 init "$T/$1" --shards "$2" --embedder glove >"$T/out" 2>&1 || fail "$1: init: $(cat "$T/out")"
  grep -q "embedder glove" "$T/out" || fail "$1: init does not name the embedder: $(cat "$T/out")"
  run 2 import "$T/$1" "$3" >"$T/out" 2>&1 || fail "$1: import: $(cat "$T/out")"
}
# same LABEL STORE SHARDED QUERIES NPS [OPTIONS...]: cvstore context on STORE
# (--unit passage, the one unit across shards) and cvstore-mpi context on
# SHARDED at each rank count of NPS, both with OPTIONS, print the same
# lines.
same() {
  local label="$1" store="$2" sh="$3" qf="$4" nps="$5"; shift 5
  "$CVS" context "$T/$store" --queries "$qf" --json --unit passage "$@" | nums > "$T/$label-one.json" \
    || fail "$label: cvstore context"
  [ "$(wc -l < "$T/$label-one.json")" -eq "$(grep -c . "$qf")" ] \
    || fail "$label: one store: not one line per question"
  grep -q '"items":\[{"id"' "$T/$label-one.json" || fail "$label: one store found nothing"
  for np in $nps; do
    run "$np" context "$T/$sh" --queries "$qf" --json "$@" 2>"$T/err" | nums > "$T/$label-$np.json" \
      || fail "$label: $np ranks: exit $?: $(cat "$T/err")"
    cmp -s "$T/$label-one.json" "$T/$label-$np.json" \
      || fail "$label: $np ranks: differs from one store: $(diff "$T/$label-one.json" "$T/$label-$np.json" | head -c 600)"
  done
}

# ---- HotpotQA passages, 4 shards: BM25, vectors, titles and bridges --------
one hp "$DATA/passages.jsonl"
sharded hp4 4 "$DATA/passages.jsonl"
for s in 0 1 2 3; do
  n="$("$CVS" stats "$T/hp4/shard-000$s" --json | perl -ne 'print $1 if /"count":(\d+)/')"
  [ "${n:-0}" -gt 0 ] || fail "hp4: shard $s holds no record"
done
same hotpot hp hp4 "$DATA/questions.jsonl" "1 2 4" --no-links --no-knn
grep -q '"type":"bridge"' "$T/hotpot-one.json" || fail "hotpot: no bridge edge was taken"
grep -q '"type":"[a-z0-9+]*title' "$T/hotpot-one.json" || fail "hotpot: no title seed"
same hotpot-topk hp hp4 "$DATA/questions.jsonl" "2" --no-links --no-knn --strategy topk --budget 256
# kNN edges across shards: one store's graph (built by its import) is each
# record's exact 16 nearest of the whole store; the shards' walk finds them
# over all shards, so the lines are one store's, though the 4-shard store
# has no kNN graph of its own and most neighbours live in another shard.
same hotpot-knn hp hp4 "$DATA/questions.jsonl" "1 2 4" --no-links
grep -q '"type":"knn"' "$T/hotpot-knn-one.json" || fail "hotpot-knn: no kNN edge was taken"

# Word forms (query/context.c deviation 17): a question that names no title
# goes by BM25 with each of its words standing for the class of its forms
# in the vocabulary of all shards (each shard's classes found in its own
# vocabulary, the classes' df summed over the shards).  The premise: on these questions one store's lines with forms
# differ from its lines with exact forms, so a shard that kept exact forms
# would differ from one store.  With --exact-words on both sides the lines
# are one store's too.
same hotpot-forms hp hp4 "$DATA/questions.jsonl" "2 4" --no-links --no-knn
same hotpot-exact hp hp4 "$DATA/questions.jsonl" "2 4" --no-links --no-knn --exact-words
cmp -s "$T/hotpot-forms-one.json" "$T/hotpot-exact-one.json" \
  && fail "hotpot-forms: premise: word forms change no line of one store's"
run 2 context "$T/hp4" --queries "$DATA/questions.jsonl" --no-links --no-knn --timing \
  >/dev/null 2>"$T/err-forms" || fail "hotpot-forms: --timing: $(cat "$T/err-forms")"
run 2 context "$T/hp4" --queries "$DATA/questions.jsonl" --no-links --no-knn --timing \
  --exact-words >/dev/null 2>"$T/err-exact" || fail "hotpot-exact: --timing: $(cat "$T/err-exact")"
trips() { perl -ne 'print $1 if /(\d+) round trips/' "$1"; }
# The forms cost no round trip: their class search brings along the idf
# statistics (deviation 14) that a question without them asks for alone.
tf="$(trips "$T/err-forms")"; te="$(trips "$T/err-exact")"
[ -n "$tf" ] && [ "$tf" = "$te" ] \
  || fail "hotpot-forms: $tf round trips with forms, $te without"

# Encrypted shards keep their BM25 terms as keyed hashes, in no order a
# word's forms share: they say so, and the question keeps its exact forms,
# as one encrypted store does (its lines are one plain store's with
# --exact-words).  The shards are made by hand (cvstore-mpi init makes
# plain ones): hp4's manifest, each shard an encrypted store holding the
# records its id hashes to; each is linked alone, so links are off.
export CVSTORE_PASSPHRASE='shard secret'
mkdir -p "$T/ehp4" && cp "$T/hp4/cvstore-shards.json" "$T/ehp4/"
python3 - "$DATA/passages.jsonl" "$T/ehp4" <<'PY'
import json, sys
def fnv(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h
out = [open("%s/part%d.jsonl" % (sys.argv[2], s), "w") for s in range(4)]
for line in open(sys.argv[1]):
    out[fnv(json.loads(line)["id"]) % 4].write(line)
PY
for s in 0 1 2 3; do
  "$CVS" init "$T/ehp4/shard-000$s" --embedder glove --encrypt >/dev/null || fail "ehp4: init shard $s"
  "$CVS" import "$T/ehp4/shard-000$s" "$T/ehp4/part$s.jsonl" >/dev/null 2>&1 || fail "ehp4: import shard $s"
done
one ehp "$DATA/passages.jsonl" --encrypt
same hotpot-crypt ehp ehp4 "$DATA/questions.jsonl" "2" --no-links --no-knn
cmp -s "$T/hotpot-crypt-one.json" "$T/hotpot-exact-one.json" \
  || fail "hotpot-crypt: encrypted shards do not rank by exact forms: $(diff "$T/hotpot-crypt-one.json" "$T/hotpot-exact-one.json" | head -c 600)"
unset CVSTORE_PASSPHRASE

# Every option at its default on 4 and on 2 shards: the walk takes mention
# links and kNN edges from records of one shard to records of another
# (checked below on one store's paths; the target of such a link has its
# backlink in the other shard, read as well), and the lines are one
# store's: the import linked every shard's texts against the titles of all
# (mpi/link.c), links and backlinks are followed into the shard that holds
# their end, and kNN edges are found over all shards.
same hotpot-default hp hp4 "$DATA/questions.jsonl" "1 2 4"
sharded hp2 2 "$DATA/passages.jsonl"
same hotpot-default2 hp hp2 "$DATA/questions.jsonl" "2"
for sh in 4 2; do
  crossed="$(python3 - "$T/hotpot-default-one.json" "$sh" <<'PY'
import json, sys
def fnv(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h
n = int(sys.argv[2])
kinds = set()
for line in open(sys.argv[1]):
    for it in json.loads(line).get("items", []):
        via = it.get("via", [])
        for a, b in zip(via, via[1:]):
            if fnv(a["id"]) % n != fnv(b["id"]) % n:
                kinds.add({"mentions": "link", "link": "link", "knn": "knn"}.get(b["type"], "other"))
print(" ".join(sorted(kinds)))
PY
)"
  for k in link knn; do
    [[ " $crossed " == *" $k "* ]] \
      || fail "hotpot-default: no $k edge of the walk crosses $sh shards (only: $crossed)"
  done
done
ck="$(run 2 check "$T/hp4" --json)" || fail "hp4: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "hp4: check: $ck"
"$CVS" check "$T/hp4/shard-0001" >/dev/null 2>&1 || fail "hp4: check of shard 1 alone"

# One shard on 2 ranks (rank 1 owns none), linked as `cvstore import` links
# one store (mentions and the kNN graph): its graph is one store's, so every
# option at its default gives one store's lines.
sharded hp1 1 "$DATA/passages.jsonl"
"$CVS" link "$T/hp1/shard-0000" >/dev/null 2>&1 || fail "hp1: link"
same hotpot-1shard hp hp1 "$DATA/questions.jsonl" "2"
grep -q '"type":"mentions"\|"type":"knn"\|"type":"linked-by"' "$T/hotpot-1shard-one.json" \
  || fail "hotpot-1shard: the walk took no graph edge"
grep -q '"type":"knn"' "$T/hotpot-1shard-one.json" || fail "hotpot-1shard: no kNN edge was taken"

# ---- links inside shards: followed on whatever rank owns the record -------
one ln "$T/linked.jsonl"
sharded ln4 4 "$T/linked.jsonl"
same linked ln ln4 "$T/linked-q.jsonl" "1 2 4" --no-knn
grep -q '"type":"mentions"' "$T/linked-one.json" || fail "linked: no mention link was followed"

# ---- explicit links and mentions across shards, followed where they lead --
one lx "$T/linked-x.jsonl"
sharded lx4 4 "$T/linked-x.jsonl"
same linked-x lx lx4 "$T/linked-xq.jsonl" "1 2 4" --no-knn
grep -q '"type":"link"' "$T/linked-x-one.json" || fail "linked-x: no explicit link was followed"
ck="$(run 2 check "$T/lx4" --json)" || fail "lx4: check: $ck"
[[ "$ck" == *'"healthy":true'* ]] || fail "lx4: check: $ck"

# ---- links an older rule made: one note over all shards ------------------
# Two shards of ln4 made as an older cvstore left them: meta "link_rule"
# (u32, docs/FORMAT.md) 1 in place of 2, patched in data.mdb (LMDB keeps
# no checksums; the key and its 4-byte value sit side by side in the leaf).
for s in 1 3; do
  python3 - "$T/ln4/shard-000$s/data.mdb" <<'PY' || fail "ln4: shard $s has no link_rule to patch"
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old, new = b"link_rule\x02\x00\x00\x00", b"link_rule\x01\x00\x00\x00"
if old not in b:
    sys.exit(1)
open(p, "wb").write(b.replace(old, new))
PY
done
note="the mention links of 2 of 4 shards were made by an older rule; run \`cvstore-mpi link $T/ln4\` to rebuild them over all shards"
out="$(run 2 stats "$T/ln4")" || fail "outdated: stats: $out"
[[ "$out" == *"links:      $note"* ]] || fail "outdated: stats has no note: $out"
[[ "$(grep -c '(links outdated)' <<<"$out")" = 2 ]] || fail "outdated: stats marks not 2 shards: $out"
out="$(run 2 stats "$T/ln4" --json)" || fail "outdated: stats --json: $out"
[[ "$out" == *'"links_outdated_shards":2,'* ]] || fail "outdated: stats --json: $out"
out="$(run 2 check "$T/ln4")" || fail "outdated: check: a note is no problem: $out"
[[ "$out" == *"note: $note"* ]] || fail "outdated: check has no note: $out"
out="$(run 2 check "$T/ln4" --json)" || fail "outdated: check --json: $out"
[[ "$out" == *'"healthy":true'*'"notes":["'"$note"'"]'* ]] || fail "outdated: check --json: $out"
# One shard alone names the sharded command, not `cvstore link`.
out="$("$CVS" check "$T/ln4/shard-0001" 2>&1)" || fail "outdated: check of shard 1 alone: $out"
[[ "$out" == *'this store is shard 1 of 4: run `cvstore-mpi link` on the sharded store'* ]] \
  || fail "outdated: check of shard 1 alone: $out"
out="$(run 2 link "$T/ln4")" || fail "outdated: link: $out"
[[ "$out" == "linked: "*" against 160 titles of all 4 shards"* ]] || fail "outdated: link says: $out"
out="$(run 2 check "$T/ln4" --json)" || fail "relinked: check --json: $out"
[[ "$out" == *'"healthy":true'*'"notes":[]'* ]] || fail "relinked: check still notes: $out"
out="$(run 2 stats "$T/ln4" --json)" || fail "relinked: stats --json: $out"
[[ "$out" == *'"links_outdated_shards":0,'* ]] || fail "relinked: stats --json: $out"
same linked-relinked ln ln4 "$T/linked-q.jsonl" "2" --no-knn
"$CVS" link "$T/ln4/shard-0003" --no-knn >/dev/null 2>"$T/err" || fail "shard 3: link: $(cat "$T/err")"
grep -q 'warning: this store is shard 3 of 4: linked alone it sees only its own titles' "$T/err" \
  || fail "shard 3: cvstore link of one shard says nothing: $(cat "$T/err")"

# ---- a question of no words: its error line, the batch goes on --------------
# As `cvstore context --queries` answers it (the pipeline refuses a
# question of no words rather than answer an empty set).
printf '%s\n' '{"id":"e","text":"  "}' '{"id":"u","text":"\u3000\u00a0"}' '{"id":"p","text":"?!"}' \
  '{"id":"o","text":"who"}' > "$T/blank.jsonl"
run 2 context "$T/hp4" --queries "$T/blank.jsonl" >"$T/out" 2>"$T/err" \
  || fail "blank questions: exit $?: $(cat "$T/err")"
for q in e u p; do
  grep "\"query_id\":\"$q\"" "$T/out" | grep -q '"error":"empty question"' \
    || fail "blank question $q: no error line: $(cat "$T/out")"
done
grep '"query_id":"o"' "$T/out" | grep -q '"items":' || fail "blank questions: the batch did not go on: $(cat "$T/out")"
# "who" is a stop word: nothing reads it, and its empty set says why.
grep '"query_id":"o"' "$T/out" | grep -q '"note":"no result: the question has only stop words' \
  || fail "a question of stop words: no note: $(cat "$T/out")"
grep -q 'query o: no result: the question has only stop words' "$T/err" \
  || fail "a question of stop words: nothing on stderr: $(cat "$T/err")"

# ---- bad input: exit 1 on every rank, nothing printed ----------------------
printf '{"id":"a","text":"who"}\nnot json\n' > "$T/bad.jsonl"
run 2 context "$T/hp4" --queries "$T/bad.jsonl" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "bad queries: exit $rc, not 1"
grep -q "bad.jsonl:2: " "$T/err" || fail "bad queries: the message does not name line 2: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "bad queries: printed answers: $(head -c 200 "$T/out")"
run 2 context "$T/hp4" --queries "$T/missing.jsonl" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "missing queries file: exit $rc, not 1"
grep -q "missing.jsonl" "$T/err" || fail "missing queries file: no message naming it: $(cat "$T/err")"
run 2 context "$T/hp4" --queries "$DATA/questions.jsonl" --unit sentence >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "--unit sentence: exit $rc, not 1"
grep -q "sentence" "$T/err" || fail "--unit sentence: no message: $(cat "$T/err")"
run 2 context "$T/hp4" --queries "$DATA/questions.jsonl" --filter '{"a": 1}' >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "--filter: exit $rc, not 1"
grep -q "not supported across shards" "$T/err" || fail "--filter: no message: $(cat "$T/err")"
run 2 context "$T/hp4" >"$T/out" 2>"$T/err"
[ "$?" = 1 ] || fail "no --queries: not exit 1"

[ "$fails" -eq 0 ] && echo "mpi_context: all passed"
exit $((fails > 0))
