#!/usr/bin/env bash
# cli_crypt.sh -- encrypted stores from the command line: `init --encrypt`,
# the passphrase from CVSTORE_PASSPHRASE or --key-file for every command,
# import / search / get / build / check / export on an encrypted store, a
# wrong or missing passphrase is exit code 1 with a clear message, and
# nothing of the records is readable in the store's file.
#   bash tests/cli_crypt.sh PATH_TO_cvstore PATH_TO_tests/data
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

db="$tmp/s"
unset CVSTORE_PASSPHRASE
printf 'open sesame\n' >"$tmp/key"

expect 1 "init --encrypt without a passphrase" init "$db" --dim 2 --metric l2 --encrypt
has "$tmp/err" "needs a passphrase" "init without a passphrase says so"
[ ! -e "$db/data.mdb" ] || fail "a store was left behind without a passphrase"
ok "no store was created"

expect 0 "init --encrypt --key-file" init "$db" --dim 2 --metric l2 --encrypt --key-file "$tmp/key"
has "$tmp/out" "encrypted" "init reports encryption"
for i in 0 1 2 3 4 5 6 7 8 9; do
  echo "{\"id\":\"rec$i\",\"vector\":[$i,0],\"text\":\"confidential memo $i\",\"meta\":{\"owner\":\"alice$i\"}}"
done >"$tmp/in.jsonl"

# The key file's trailing newline is dropped: the same passphrase by env.
export CVSTORE_PASSPHRASE='open sesame'
expect 0 "import with CVSTORE_PASSPHRASE" import "$db" "$tmp/in.jsonl" --quiet
expect 0 "search" search "$db" --query-vector 3.2,0 -k 2 --json
has "$tmp/out" '"id":"rec3"' "the nearest record comes back"
unset CVSTORE_PASSPHRASE
expect 0 "get with --key-file=F" get "$db" rec7 --key-file="$tmp/key"
has "$tmp/out" "confidential memo 7" "get returns the decrypted text"
has "$tmp/out" "alice7" "get returns the decrypted metadata"
expect 0 "stats" stats "$db" --key-file "$tmp/key"
has "$tmp/out" "encrypted:      yes" "stats says encrypted"
printf 'open sesame\r\n' >"$tmp/key.crlf"
chmod 600 "$tmp/key.crlf"
expect 0 "a key file with a Windows line end (--help: \\r\\n dropped)" stats "$db" --key-file "$tmp/key.crlf"
has "$tmp/out" "encrypted:      yes" "stats with the CRLF key file says encrypted"
expect 0 "build pq1 with an IVF index" build "$db" --codec pq1 --index ivf2 --key-file "$tmp/key"
expect 0 "ANN search" search "$db" --query-vector 8.9,0 -k 1 --ann --json --key-file "$tmp/key"
has "$tmp/out" '"id":"rec9"' "ANN search finds the nearest record"
expect 0 "check" check "$db" --key-file "$tmp/key"
expect 0 "export" export "$db" --key-file "$tmp/key"
has "$tmp/out" "confidential memo 0" "export decrypts"

expect 1 "a wrong passphrase" search "$db" --query-vector 0,0 -k 1 --key-file /dev/stdin <<<"open sesamE"
has "$tmp/err" "wrong passphrase" "a wrong passphrase is named as such"
CVSTORE_PASSPHRASE=wrong expect 1 "a wrong passphrase by env" stats "$db"
expect 1 "no passphrase" get "$db" rec1
has "$tmp/err" "passphrase is needed" "a missing passphrase is named as such"
expect 1 "an unreadable key file" stats "$db" --key-file "$tmp/nonexistent"
expect 1 "a directory as key file" stats "$db" --key-file "$tmp"
has "$tmp/err" "Is a directory" "a directory given as key file is named as such, not as an empty file"

for s in confidential alice rec3 owner; do
  if grep -qF "$s" "$db/data.mdb"; then fail "'$s' is readable in data.mdb"; fi
done
ok "no text, metadata, id or field name is readable in the file"

# A plain store next to it is unaffected by a passphrase in the environment.
expect 0 "plain init" init "$tmp/p" --dim 2 --metric l2
CVSTORE_PASSPHRASE=anything expect 0 "plain store with a passphrase set" stats "$tmp/p"
has "$tmp/out" "encrypted:      no" "plain store reports no encryption"

echo "$passed passed, 0 failed"
