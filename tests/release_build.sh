#!/usr/bin/env bash
# release_build.sh -- the library, the CLI, cvstore-mpi and cvstore-bench
# build without a warning in Release mode (-O3), as the suite's own
# RelWithDebInfo build does: -O3 inlines deeper, and gcc's
# -Wmaybe-uninitialized then sees paths -O2 does not.  A user building
# with -DCMAKE_BUILD_TYPE=Release should see no warning either.  The test
# programs are left out (they would double the time; they have no output
# parameters the library's failure paths leave unset).
#   bash tests/release_build.sh SOURCE_DIR BUILD_TYPE
# Exit 77 (skipped) when the suite's build is itself Release (its build
# already showed every warning) or without cmake.
set -euo pipefail

src=${1:?usage: release_build.sh SOURCE_DIR BUILD_TYPE}
type=${2:-}
command -v cmake >/dev/null || { echo "skip: cmake not found"; exit 77; }
[ "$type" = Release ] && { echo "skip: the suite's build is Release"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! cmake -S "$src" -B "$tmp" -DCMAKE_BUILD_TYPE=Release -DCVS_WERROR=ON \
  -DCVS_BUILD_TESTS=OFF >"$tmp/log" 2>&1; then
  tail -n 30 "$tmp/log" >&2
  echo "not ok - Release configure" >&2
  exit 1
fi
if ! nice cmake --build "$tmp" -j"$(nproc 2>/dev/null || echo 2)" >"$tmp/log" 2>&1; then
  grep -E "(warning|error):" "$tmp/log" | head -n 30 >&2
  echo "not ok - a Release build with -DCVS_WERROR=ON (warnings above)" >&2
  exit 1
fi
echo "ok - a Release build with -DCVS_WERROR=ON has no warning"
