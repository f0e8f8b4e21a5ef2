#!/bin/sh
# ctest install_check: installs the build tree into a scratch prefix and
# builds and runs consumers of the installed package:
#   1. CMake find_package(wsclient): wsclient::shared and wsclient::static
#   2. pkg-config --cflags --libs wsclient (shared), and --static with
#      -l:libwsclient.a
#   3. the pkg-config file still works after moving the prefix (relocatable)
#
#   install_check.sh CMAKE BUILD_DIR WORK_DIR CC PKG_CONFIG CONSUMER_SRC GENERATOR
set -eu

cmake=$1 build=$2 work=$3 cc=$4 pkgconfig=$5 consumer_src=$6 generator=$7
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 3' INT TERM

step() { echo "=== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix"

pc=$(find "$prefix" -name wsclient.pc | head -n 1)
[ -n "$pc" ] || fail "wsclient.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/wsclient.h" "$libdir/libwsclient.so" "$libdir/libwsclient.a" \
         "$libdir/cmake/wsclient/wsclientConfig.cmake" \
         "$libdir/cmake/wsclient/wsclientConfigVersion.cmake" \
         "$prefix/bin/wsclient-echo-server"; do
    [ -f "$f" ] || fail "not installed: $f"
done
echo "installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"

step "start the installed echo server"
"$prefix/bin/wsclient-echo-server" --port 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=
i=0
while [ $i -lt 150 ]; do
    port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$work/server.out")
    [ -n "$port" ] && break
    sleep 0.1
    i=$((i + 1))
done
[ -n "$port" ] || fail "echo server did not start"
url="ws://127.0.0.1:$port/"

step "CMake consumer (find_package)"
"$cmake" -S "$consumer_src" -B "$work/consumer-build" -G "$generator" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix"
"$cmake" --build "$work/consumer-build"
"$work/consumer-build/consumer_shared" "$url" shared
"$work/consumer-build/consumer_static" "$url" static
# The shared library is recorded by name, not by its path in the prefix.
if command -v readelf >/dev/null 2>&1; then
    needed=$(readelf -d "$work/consumer-build/consumer_shared" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "consumer_shared NEEDED: $needed"
    case " $needed " in
    *" libwsclient.so "*) ;;
    *) fail "consumer_shared does not record libwsclient.so by name: $needed" ;;
    esac
    if readelf -d "$work/consumer-build/consumer_static" | grep -q 'libwsclient'; then
        fail "consumer_static depends on libwsclient.so"
    fi
fi

if [ -z "$pkgconfig" ]; then
    echo "pkg-config not found: skipping the pkg-config consumers"
    exit 0
fi
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH

step "pkg-config consumer (shared)"
version=$("$pkgconfig" --modversion wsclient)
cflags=$("$pkgconfig" --cflags wsclient)
libs=$("$pkgconfig" --libs wsclient)
echo "wsclient $version: cflags '$cflags' libs '$libs'"
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" $cflags -Wall -Wextra -Werror -o "$work/consumer_pc" "$consumer_src/consumer.c" $libs
out=$(LD_LIBRARY_PATH=$libdir "$work/consumer_pc" "$url" shared)
echo "$out"
[ "$(echo "$out" | head -n 1)" = "wsclient $version" ] || fail "ws_version() is not the pkg-config version $version"

step "pkg-config consumer (static: --static, -l:libwsclient.a)"
libs_static=$("$pkgconfig" --libs --static wsclient | sed 's/-lwsclient\b/-l:libwsclient.a/')
echo "libs '$libs_static'"
# shellcheck disable=SC2086
"$cc" $cflags -Wall -Wextra -Werror -o "$work/consumer_pc_static" "$consumer_src/consumer.c" $libs_static
"$work/consumer_pc_static" "$url" static

step "relocated prefix"
mv "$prefix" "$work/moved"
PKG_CONFIG_PATH=$(echo "$libdir" | sed "s#^$prefix#$work/moved#")/pkgconfig
inc=$("$pkgconfig" --variable=includedir wsclient)
[ -f "$inc/wsclient.h" ] || fail "after moving the prefix, includedir is $inc"
echo "includedir after the move: $inc"

echo "PASS"
