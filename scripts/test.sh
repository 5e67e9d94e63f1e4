#!/usr/bin/env bash
# test.sh -- the README's second command: installs what is missing, builds,
# and runs the whole test suite with ctest.
#   bash scripts/test.sh              # normal build in build/
#   bash scripts/test.sh --sanitize   # ASan + UBSan build in build-asan/
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cvs_install_packages
# The MCP client test (tests/cli_mcp.sh) runs the official SDK under node;
# without npm it would only be skipped.
cvs_need_npm
dir="$CVS_ROOT/build"
args=(-DCVS_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  dir="$CVS_ROOT/build-asan"
  args+=(-DCVS_SANITIZE=ON)
fi
cvs_build "$dir" "${args[@]}"
cd "$dir"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600
