#!/usr/bin/env bash
# docs_commands.sh SRC CVSTORE CVSTORE_BENCH [CVSTORE_MPI] -- the commands
# README.md and docs/*.md quote name only options the binaries have.
#
# docs/BENCHMARKS.md reports each figure with the command that printed it,
# and README.md and docs/*.md show commands to type; an option renamed or
# removed in the code leaves such a command failing with "unknown option"
# while the document still offers it.  For every `cvstore SUB`,
# `cvstore-bench SUB` and `cvstore-mpi SUB` a document writes (code blocks
# and inline code, a line continued with a backslash read as one), each
# --option that follows it on the line must appear in `BIN SUB --help`.
# Options are compared as words only: whether their values are right is not
# checked.  Without CVSTORE_MPI (no MPI found) cvstore-mpi commands are left
# out.
set -uo pipefail
SRC="$1"; CVS="$2"; BENCH="$3"; MPI="${4:-}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# help BIN SUB: the help of BIN SUB, cached in $T; empty when BIN has no
# command SUB (its --help then exits non-zero: "cvstore store", prose).
help() {
  local f="$T/$(basename "$1")-$2"
  if [ ! -f "$f" ]; then
    "$1" "$2" --help > "$f" 2>&1 || : > "$f"
  fi
  cat "$f"
}

# Every "BIN<TAB>SUB<TAB>OPTION<TAB>FILE:LINE" the documents quote.
for doc in "$SRC"/README.md "$SRC"/docs/*.md; do
  perl -e '
    my ($file) = @ARGV; open(my $fh, "<", $file) or die "$file: $!";
    local $/; my $t = <$fh>; my $rel = $file; $rel =~ s{^.*/(README\.md|docs/[^/]+)$}{$1};
    $t =~ s/\\\n/ /g;   # a continued command line is one line
    my $n = 0;
    for my $line (split /\n/, $t) {
      $n++;
      # cvstore-bench SUB ... and cvstore[-mpi] SUB ... up to a backtick,
      # a table cell end or the end of the line.
      while ($line =~ /(?<![\w-])(cvstore(?:-bench|-mpi)?)\s+([a-z]+)\b([^`|\n]*)/g) {
        my ($bin, $sub, $rest) = ($1, $2, $3);
        # the options of this command only: stop at the next command named
        $rest =~ s/(?<![\w-])cvstore(?:-bench|-mpi)?\s.*//;
        for my $o ($rest =~ /(?<![\w-])(--[a-z][a-z0-9-]*)/g) {
          print "$bin\t$sub\t$o\t$rel:$n\n";
        }
      }
    }' "$doc"
done > "$T/uses"
[ -s "$T/uses" ] || fail "no command with an option found in the documents (the parser is broken)"

checked=0
while IFS=$'\t' read -r bin sub opt where; do
  case "$bin" in
    cvstore) b="$CVS" ;;
    cvstore-bench) b="$BENCH" ;;
    cvstore-mpi) [ -n "$MPI" ] || continue; b="$MPI" ;;
  esac
  h="$(help "$b" "$sub")"
  [ -n "$h" ] || continue
  if ! grep -q -- "$opt" <<<"$h"; then
    fail "$where: \`$bin $sub ... $opt\`: $bin $sub --help has no $opt"
  fi
  checked=$((checked + 1))
done < "$T/uses"
[ "$checked" -gt 100 ] || fail "only $checked options checked (the parser or the helps are broken)"

[ "$fails" = 0 ] && echo "docs_commands: $checked options of documented commands, all in the helps"
exit $((fails > 0))
