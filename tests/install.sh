#!/usr/bin/env bash
# install.sh -- what a user does after `cmake --install`: builds the README's
# library example against an installed cvstore, with pkg-config and with a
# C-only CMake project using find_package(cvstore), each linked to the
# shared and to the static library, and runs every binary.  Also checks
# that the GloVe fetcher is installed where the missing-GloVe error says.
# Installs into a scratch prefix, never the system.
#   bash tests/install.sh BUILD_DIR SOURCE_DIR
# Exit 77 (skipped) without cc, cmake or pkg-config.
set -euo pipefail

build=${1:?usage: install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: install.sh BUILD_DIR SOURCE_DIR}
for tool in cc cmake pkg-config; do
  command -v "$tool" >/dev/null || { echo "skip: $tool not found"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
ok() {
  passed=$((passed + 1))
  echo "ok - $1"
}
fail() {
  echo "not ok - $1" >&2
  [ -s "$tmp/log" ] && tail -n 30 "$tmp/log" | sed 's/^/# /' >&2
  exit 1
}
# run DESC CMD...: CMD succeeds, its output in $tmp/log.
run() {
  local desc=$1
  shift
  "$@" >"$tmp/log" 2>&1 || fail "$desc"
  ok "$desc"
}

prefix=$tmp/prefix
run "cmake --install into a scratch prefix" cmake --install "$build" --prefix "$prefix"
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
libdir=${libdir%/pkgconfig}

# The README's example, exactly as the README shows it.
awk '/^## The library/ {lib = 1} lib && /^```c$/ {on = 1; next} on && /^```$/ {exit} on' \
  "$src/README.md" >"$tmp/example.c"
grep -q "cvs_db_create" "$tmp/example.c" || fail "the README's example was found"
ok "the README's example extracted"

export PKG_CONFIG_PATH=$libdir/pkgconfig
# runs BIN: it prints the README's answer, in a fresh directory (it creates
# example.cvs where it runs).
runs() {
  local dir
  dir=$(mktemp -d "$tmp/run.XXXXXX")
  (cd "$dir" && "$1") >"$tmp/log" 2>&1 || fail "$2 runs"
  grep -q "^best key 1, similarity 0.999$" "$tmp/log" || fail "$2 prints the README's answer"
  ok "$2 runs"
}

# ---- pkg-config, as the README says -------------------------------------------
run "pkg-config: shared" cc "$tmp/example.c" $(pkg-config --cflags --libs cvstore) \
  -Wl,-rpath,"$libdir" -o "$tmp/ex_shared"
runs "$tmp/ex_shared" "pkg-config shared build"
! ldd "$tmp/ex_shared" | grep -q "libcvstore.so.*not found" || fail "the shared build finds libcvstore"
# The README's static recipe, with the installed prefix for /usr/local.
run "pkg-config: static (README recipe)" cc "$tmp/example.c" -I"$prefix/include" "$libdir/libcvstore.a" \
  $(pkg-config --static --libs-only-l cvstore | sed 's/-lcvstore//') -o "$tmp/ex_static"
! ldd "$tmp/ex_static" | grep -q libcvstore || fail "the static build does not need libcvstore.so"
runs "$tmp/ex_static" "pkg-config static build"

# ---- find_package(cvstore) from a C-only project ---------------------------------
mkdir "$tmp/proj"
cp "$tmp/example.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(uses_cvstore LANGUAGES C)
find_package(cvstore 0.1 REQUIRED)
add_executable(ex_shared example.c)
target_link_libraries(ex_shared PRIVATE cvstore::cvstore_shared)
add_executable(ex_static example.c)
target_link_libraries(ex_static PRIVATE cvstore::cvstore_static)
EOF
run "find_package(cvstore): configure" cmake -S "$tmp/proj" -B "$tmp/proj/build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
run "find_package(cvstore): build" cmake --build "$tmp/proj/build" -j2
runs "$tmp/proj/build/ex_shared" "find_package shared build"
runs "$tmp/proj/build/ex_static" "find_package static build"

# ---- the fetchers are installed where the errors name them ----------------------
# fetcher_named EMBEDDER SCRIPT CONVERTER CACHE_VAR: SCRIPT and CONVERTER are in
# share/cvstore, and init --embedder EMBEDDER without its cache names SCRIPT
# there (the USE error said scripts/fetch-use.sh, a checkout's).
fetcher_named() {
  local emb=$1 script=$2 conv=$3 var=$4 fetch=$prefix/share/cvstore/$2 rc=0
  [ -x "$fetch" ] && [ -f "$prefix/share/cvstore/$conv" ] ||
    fail "$script and $conv are installed in share/cvstore"
  (cd "$tmp" && env "$var=$tmp/no-$emb" "$prefix/bin/cvstore" init "$tmp/$emb" --embedder "$emb") \
    >"$tmp/log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "init --embedder $emb without its cache fails"
  grep -qF "\`bash $(realpath "$fetch") " "$tmp/log" ||
    fail "the missing-$emb error names the installed fetcher: $(cat "$tmp/log")"
  ok "the missing-$emb error names the installed $script"
}
fetcher_named glove fetch-glove.sh glove2fvecs.js CVSTORE_GLOVE_DIR
fetcher_named use fetch-use.sh use2bin.js CVSTORE_USE_DIR

echo "$passed passed"
