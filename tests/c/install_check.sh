#!/bin/sh
# ctest install_check: installs the build tree into a scratch prefix and
# checks it as a distribution would ship it, then builds and runs outside
# programs against it:
#   1. the files: header, libwsclient.so.X.Y.Z with its SONAME link
#      libwsclient.so.X and the development link libwsclient.so, the static
#      library, CMake and pkg-config files, programs, Lua module, man pages
#   2. no installed program or library needs or contains a sanitizer runtime
#      (a plain lua5.4 loads the installed websocket.so)
#   3. every installed ELF file is stripped and its debug information is in
#      <prefix>/lib/debug/.build-id/.. (same build ID, .gnu_debuglink);
#      the static library has no debug sections; sizes are printed
#   4. the installed programs: --help, and wscat / lua_host against the echo
#      server; `man` finds a page for a family member (ws_read_into)
#   5. CMake find_package(wsclient): wsclient::wsclient,
#      wsclient::wsclient_static, the old names, a plugin with the static
#      library inside; -Wl,--no-undefined everywhere
#   6. pkg-config: wsclient (shared), wsclient-static (with and without
#      --static); the shared ones record libwsclient.so.X, the static ones
#      no libwsclient at all
#   7. the prefix still works after moving it (pkg-config, RUNPATH)
#
#   install_check.sh CMAKE BUILD_DIR WORK_DIR CC PKG_CONFIG CONSUMER_SRC GENERATOR VERSION
set -eu

cmake=$1 build=$2 work=$3 cc=$4 pkgconfig=$5 consumer_src=$6 generator=$7 version=$8
repo=$(cd "$consumer_src/../../.." && pwd)
major=${version%%.*}
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
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' \n')" = "177ELF" ]; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install failed"; }
grep -c '^-- Stripped: ' "$work/install.log" | sed 's/^/files stripped: /'
manifest=$build/install_manifest.txt
[ -s "$manifest" ] || fail "no $manifest"

step "1. installed files"
pc=$(find "$prefix" -name wsclient.pc | head -n 1)
[ -n "$pc" ] || fail "wsclient.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
real=$libdir/libwsclient.so.$version
for f in "$prefix/include/wsclient.h" "$real" "$libdir/libwsclient.a" \
         "$libdir/pkgconfig/wsclient-static.pc" "$libdir/pkgconfig/wsclient-shared.pc" \
         "$libdir/cmake/wsclient/wsclientConfig.cmake" \
         "$libdir/cmake/wsclient/wsclientConfigVersion.cmake" \
         "$prefix/bin/wsclient-echo-server" \
         "$prefix/share/man/man3/ws_open.3" "$prefix/share/man/man7/wsclient.7"; do
    [ -f "$f" ] && [ ! -L "$f" ] || fail "not installed (as a file): $f"
done
[ "$(readlink "$libdir/libwsclient.so.$major")" = "libwsclient.so.$version" ] ||
    fail "libwsclient.so.$major is not a link to libwsclient.so.$version"
[ "$(readlink "$libdir/libwsclient.so")" = "libwsclient.so.$major" ] ||
    fail "libwsclient.so is not a link to libwsclient.so.$major"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libwsclient.so.$major" ] || fail "SONAME of $real is '$soname', expected libwsclient.so.$major"
echo "SONAME $soname; links: libwsclient.so -> libwsclient.so.$major -> libwsclient.so.$version"
# Programs and the Lua module, when the build made them.
progs=""
[ -x "$build/wscat" ] && progs="$progs wscat"
[ -x "$build/bindings/lua/lua_host" ] && progs="$progs lua_host"
for p in $progs; do
    [ -x "$prefix/bin/$p" ] || fail "not installed: bin/$p"
    [ -f "$prefix/share/man/man1/$p.1" ] || fail "no manual page man1/$p.1"
done
luamod=
if [ -f "$build/bindings/lua/websocket.so" ]; then
    luamod=$(find "$prefix" -name websocket.so | head -n 1)
    [ -n "$luamod" ] || fail "websocket.so not installed"
fi

step "2. no sanitizer runtime in any installed file"
elves=""
while IFS= read -r f; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    case $f in *.a) continue ;; esac
    is_elf "$f" || continue
    elves="$elves $f"
    n=$(needed "$f")
    case " $n " in
    *san.so*) fail "$f needs a sanitizer runtime: $n" ;;
    esac
    if nm -D "$f" 2>/dev/null | grep -Eq ' (__asan_|__ubsan_|__tsan_|__lsan_)'; then
        fail "$f references sanitizer symbols"
    fi
done <"$manifest"
if nm "$libdir/libwsclient.a" 2>/dev/null | grep -Eq ' (__asan_|__ubsan_)'; then
    fail "libwsclient.a references sanitizer symbols"
fi
echo "checked:$(echo "$elves" | tr ' ' '\n' | grep -v '/debug/' | sed "s#^$prefix/##" | tr '\n' ' ')"
if [ -n "$luamod" ] && command -v lua5.4 >/dev/null 2>&1; then
    LUA_CPATH="$(dirname "$luamod")/?.so;;" lua5.4 -e 'local ws = require "websocket"; print("lua5.4 loaded websocket.so:", type(ws.createClient))' ||
        fail "a plain lua5.4 cannot load the installed $luamod"
fi

step "3. stripped, debug information split off"
for f in $elves; do
    case $f in */lib/debug/*) continue ;; esac
    sections=$(readelf -S -W "$f")
    if echo "$sections" | grep -Eq '\] \.(debug_[a-z]+|symtab) '; then
        fail "$f is not stripped"
    fi
    echo "$sections" | grep -q '\.gnu_debuglink' || fail "$f has no .gnu_debuglink"
    id=$(readelf -n "$f" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
    [ -n "$id" ] || fail "$f has no build ID"
    dbg=$prefix/lib/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug
    [ -f "$dbg" ] || fail "no debug file $dbg for $f"
    grep -qxF "$dbg" "$manifest" || fail "$dbg is not in $manifest"
    dbg_id=$(readelf -n "$dbg" 2>/dev/null | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
    [ "$dbg_id" = "$id" ] || fail "$dbg has build ID $dbg_id, $f has $id"
    readelf -S -W "$dbg" | grep -Eq '\] \.(debug_info|symtab) ' || fail "$dbg holds no debug information"
done
if readelf -S -W "$libdir/libwsclient.a" 2>/dev/null | grep -Eq '\] \.(debug_info|llvmbc) '; then
    fail "libwsclient.a still has debug or LLVM bitcode sections"
fi
echo "installed sizes (bytes):"
(cd "$prefix" && find . -type f \( -path './bin/*' -o -name '*.so*' -o -name '*.a' -o -name '*.debug' \) \
    -exec stat -c '%s %n' {} + | sort -k2 | sed 's#^\([0-9]*\) \./#  \1 #')

url=
start_server() {
    # the background job opens server.out later than this shell reads it
    : >"$work/server.out"
    "$prefix/bin/wsclient-echo-server" --port 0 >>"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    i=0
    port=
    while [ $i -lt 150 ]; do
        port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$work/server.out")
        [ -n "$port" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ] || fail "echo server did not start"
    url="ws://127.0.0.1:$port/"
}
step "start the installed echo server"
start_server

step "4. installed programs and manual pages"
for p in $progs; do
    "$prefix/bin/$p" --help >"$work/$p.help" || fail "$p --help failed"
    grep -q "^usage: $p" "$work/$p.help" || fail "$p --help prints no usage"
done
case " $progs " in
*" wscat "*)
    out=$(printf 'installed wscat\n' | "$prefix/bin/wscat" -w 0.3 "$url" 2>"$work/wscat.err") || {
        cat "$work/wscat.err"; fail "installed wscat failed"; }
    [ "$out" = "installed wscat" ] || fail "installed wscat printed '$out'"
    echo "wscat: $out" ;;
esac
case " $progs " in
*" lua_host "*)
    # The installed host finds the installed module on its own.
    "$prefix/bin/lua_host" -t 20 -D "URL=$url" "$repo/examples-lua/nodemcu_echo.lua" >"$work/lua.out" 2>&1 || {
        cat "$work/lua.out"; fail "installed lua_host failed"; }
    grep -q "got message:" "$work/lua.out" || { cat "$work/lua.out"; fail "installed lua_host: no echo"; }
    echo "lua_host: $(grep 'got message:' "$work/lua.out")" ;;
esac
if command -v man >/dev/null 2>&1; then
    page=$(MANPAGER=cat MANWIDTH=80 man -M "$prefix/share/man" 3 ws_read_into 2>&1) || fail "man ws_read_into: $page"
    echo "$page" | grep -q 'ws_read, ws_read_into' || fail "man ws_read_into shows: $page"
    echo "man 3 ws_read_into: $(echo "$page" | grep -m1 'ws_read, ws_read_into')"
fi

step "5. CMake consumer (find_package)"
"$cmake" -S "$consumer_src" -B "$work/consumer-build" -G "$generator" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix"
"$cmake" --build "$work/consumer-build"
for t in shared old_shared; do
    "$work/consumer-build/consumer_$t" "$url" shared
    n=$(needed "$work/consumer-build/consumer_$t")
    echo "consumer_$t NEEDED: $n"
    case " $n " in
    *" libwsclient.so.$major "*) ;;
    *) fail "consumer_$t does not record libwsclient.so.$major: $n" ;;
    esac
done
for t in static old_static; do
    "$work/consumer-build/consumer_$t" "$url" static
    case " $(needed "$work/consumer-build/consumer_$t") " in
    *libwsclient*) fail "consumer_$t depends on libwsclient.so" ;;
    esac
done
"$work/consumer-build/plugin_loader" "$work/consumer-build/consumer_plugin.so" "$url"
case " $(needed "$work/consumer-build/consumer_plugin.so") " in
*libwsclient*) fail "consumer_plugin.so depends on libwsclient.so" ;;
esac

if [ -z "$pkgconfig" ]; then
    echo "pkg-config not found: skipping the pkg-config consumers"
    exit 0
fi
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH

step "6. pkg-config consumers"
[ "$("$pkgconfig" --modversion wsclient)" = "$version" ] || fail "pkg-config --modversion wsclient is not $version"
[ "$("$pkgconfig" --modversion wsclient-static)" = "$version" ] || fail "pkg-config --modversion wsclient-static is not $version"
build_pc() { # NAME PKG-CONFIG-ARGS...   ($pre_libs: linker flags before the libraries)
    name=$1
    shift
    flags=$("$pkgconfig" --cflags "$@")
    libs=$("$pkgconfig" --libs "$@")
    echo "$name: cc ${pre_libs:+$pre_libs }\$(pkg-config --cflags --libs $*) = $flags $libs"
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    "$cc" $flags -Wall -Wextra -Werror -o "$work/$name" "$consumer_src/consumer.c" ${pre_libs:-} $libs -Wl,--no-undefined
}
build_pc pc_shared wsclient
n=$(needed "$work/pc_shared")
case " $n " in
*" libwsclient.so.$major "*) ;;
*) fail "pc_shared does not record libwsclient.so.$major: $n" ;;
esac
out=$(LD_LIBRARY_PATH=$libdir "$work/pc_shared" "$url" shared)
echo "$out"
[ "$(echo "$out" | head -n 1)" = "wsclient $version" ] || fail "ws_version() is not the pkg-config version $version"
build_pc pc_static wsclient-static
build_pc pc_static2 --static wsclient-static
# the issue's form: `pkg-config --static --libs wsclient` links the archive,
# also where the linker would otherwise record every library it is given
build_pc pc_static3 --static wsclient
pre_libs=-Wl,--no-as-needed build_pc pc_static4 --static wsclient
# and the .pc file named by its path (pkg-config finds wsclient-shared.pc
# next to it)
PKG_CONFIG_PATH= build_pc pc_static5 --static "$libdir/pkgconfig/wsclient.pc"
for t in pc_static pc_static2 pc_static3 pc_static4 pc_static5; do
    case " $(needed "$work/$t") " in
    *libwsclient*) fail "$t depends on libwsclient.so" ;;
    esac
    "$work/$t" "$url" static
done

step "7. relocated prefix"
cleanup
server_pid=
mv "$prefix" "$work/moved"
prefix=$work/moved
libdir=$(echo "$libdir" | sed "s#^$work/prefix#$prefix#")
PKG_CONFIG_PATH=$libdir/pkgconfig
inc=$("$pkgconfig" --variable=includedir wsclient)
[ -f "$inc/wsclient.h" ] || fail "after moving the prefix, includedir is $inc"
echo "includedir after the move: $inc"
start_server
build_pc pc_moved wsclient-static
"$work/pc_moved" "$url" static
build_pc pc_moved2 --static wsclient
"$work/pc_moved2" "$url" static
case " $progs " in
*" wscat "*)
    # RUNPATH $ORIGIN/../lib: no LD_LIBRARY_PATH needed
    out=$(printf 'moved\n' | "$prefix/bin/wscat" -q -w 0.3 "$url") || fail "wscat in the moved prefix failed"
    [ "$out" = "moved" ] || fail "wscat in the moved prefix printed '$out'" ;;
esac

echo "PASS"
