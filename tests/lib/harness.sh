# harness.sh -- what the CLI shell tests (tests/cli_*.sh) share: the
# arguments, a scratch directory removed on exit, and the assertion helpers.
# Sourced, not run; its file name keeps it out of CMake's cli_*.sh glob.
# Needs only bash and coreutils.
#   usage of a test: bash tests/cli_NAME.sh PATH_TO_cvstore [PATH_TO_tests/data]

cli=${1:?usage: ${0##*/} PATH_TO_cvstore PATH_TO_tests/data}
data=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0

ok() {
  passed=$((passed + 1))
  echo "ok - $1"
}
fail() {
  echo "not ok - $1" >&2
  [ -s "$tmp/err" ] && sed 's/^/# stderr: /' "$tmp/err" >&2
  echo "$passed passed, 1 failed"
  exit 1
}
# run CMD...: runs the CLI with stdout in $tmp/out and stderr in $tmp/err,
# the exit code in $rc, without tripping set -e.
run() {
  rc=0
  "$cli" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
# expect CODE DESC CMD...: the CLI exits with CODE.
expect() {
  local code=$1 desc=$2
  shift 2
  run "$@"
  [ "$rc" -eq "$code" ] || fail "$desc (exit $rc, expected $code)"
  ok "$desc"
}
# has FILE STRING DESC: FILE contains STRING literally.
has() {
  grep -qF -- "$2" "$1" || fail "$3: '$2' not in $(basename "$1"): $(head -c 400 "$1")"
}
# need_model TEST FETCHER DIR FILE...: DIR holds every FILE, or
# scripts/FETCHER fetches them into DIR (from npm, once); otherwise the test
# TEST is skipped with 77, saying why (no npm, no network).
need_model() {
  local name=$1 fetcher=$2 mdir=$3 f missing=
  shift 3
  for f in "$@"; do [ -s "$mdir/$f" ] || missing=1; done
  [ -z "$missing" ] && return 0
  if ! command -v npm >/dev/null; then
    echo "$name: SKIP: npm is not installed, and $mdir has no model" >&2
    exit 77
  fi
  if ! timeout 300 bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/$fetcher" "$mdir" \
      >"$tmp/fetch.log" 2>&1; then
    echo "$name: SKIP: scripts/$fetcher could not fetch the model (no network?):" \
      "$(tail -1 "$tmp/fetch.log")" >&2
    exit 77
  fi
}
