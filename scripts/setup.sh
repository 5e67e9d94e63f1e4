#!/usr/bin/env bash
# setup.sh -- installs what cvstore needs on Debian 12 (only what is
# missing, quietly) and builds it with CMake.  Sourced by demo.sh and test.sh;
# runnable on its own: bash scripts/setup.sh [--sanitize] [--no-build]
set -euo pipefail

CVS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CVS_PACKAGES=(build-essential cmake pkg-config git
  libfaiss-dev liblmdb-dev libopenblas-dev liblapacke-dev libsodium-dev
  libcriterion-dev libjansson-dev libutf8proc-dev libcurl4-openssl-dev libicu-dev libstemmer-dev
  libhnswlib-dev gnuplot-nox libopenmpi-dev openmpi-bin
  python3-numpy python3-pytest python3-pip python3-setuptools python3-wheel)

cvs_log() { printf 'cvstore: %s\n' "$*" >&2; }

cvs_install_packages() {
  local missing=() p
  for p in "${CVS_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { cvs_log "need root (or sudo) to install: ${missing[*]}"; exit 2; }
    sudo=sudo
  fi
  cvs_log "installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# npm is needed by the demo (it fetches the GloVe vectors) and by the MCP
# client test (the official SDK, run under node), so only demo.sh and
# test.sh ask for it, and only when no npm is on the PATH already.
cvs_need_npm() {
  command -v npm >/dev/null && return 0
  cvs_install_packages npm
}

# cvs_build BUILD_DIR [cmake args...]
cvs_build() {
  local dir="$1"; shift
  local jobs; jobs="$(nproc 2>/dev/null || echo 2)"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cvs_log "configuring $dir"
    cmake -S "$CVS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.configure.log" 2>&1 \
      || { cat "$dir.configure.log" >&2; exit 2; }
  fi
  cvs_log "building in $dir"
  cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 \
    || { grep -E 'error|Error' "$dir.build.log" | head -40 >&2; cvs_log "build failed; full log: $dir.build.log"; exit 2; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cvs_install_packages
  case "${1:-}" in
    --no-build) ;;
    --sanitize) cvs_build "$CVS_ROOT/build-asan" -DCVS_SANITIZE=ON ;;
    *) cvs_build "$CVS_ROOT/build" ;;
  esac
fi
