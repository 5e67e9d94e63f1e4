#!/usr/bin/env bash
# cli_mcp.sh -- `cvstore mcp` driven by the official MCP TypeScript SDK
# (tests/mcp_client.mjs).  The SDK comes from the npm registry, pinned, and
# is installed once under the build directory (build/mcp-test); when node or
# npm is missing, or npm cannot fetch it (no network), the test is skipped
# with exit code 77 (SKIP_RETURN_CODE in CMakeLists.txt), never failed.
#   bash tests/cli_mcp.sh CVSTORE DATA_DIR
set -euo pipefail

SDK_VERSION=1.32.2
cvstore="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="$(dirname "$cvstore")/mcp-test"
skip() { echo "cli_mcp: SKIP: $*" >&2; exit 77; }

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
pkg="$prefix/node_modules/@modelcontextprotocol/sdk/package.json"
if ! grep -q "\"version\": \"$SDK_VERSION\"" "$pkg" 2>/dev/null; then
  mkdir -p "$prefix"
  timeout 300 npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/sdk@$SDK_VERSION" >"$prefix.log" 2>&1 \
    || skip "npm could not install @modelcontextprotocol/sdk@$SDK_VERSION (see $prefix.log)"
fi
# Above the client's own 180 s watchdog, which says what timed out.
exec timeout 200 node "$here/mcp_client.mjs" "$cvstore" "$prefix"
