#!/usr/bin/env bash
# The whole test suite, for a fresh Debian 12 machine with a Rust toolchain.
# Installs what it needs (cmake, nginx, Lua 5.4, Python venv, ...), then:
#   1. cargo fmt --check, cargo clippy -D warnings (also of the portable
#      native-tls TLS backend)
#   2. cargo test: unit tests, the header drift check, the Rust suites through
#      the C ABI (api, misuse, exports, memory, events, TLS with nginx)
#   3. CMake build + ctest: C tests under ASan/UBSan, examples, header as
#      C99/C++, static linking, man pages, install (SONAME, no sanitizer,
#      stripped + split debug info) + find_package/pkg-config consumers,
#      Lua binding and lua_host scripts (lua_host tests with the module
#      and host under ASan/UBSan)
#   4. the Python binding's pytest suite
#   5. interop with a Python `websockets` server, and permessage-deflate
#      interop (Python websockets, node ws, the deflate echo server)
#   6. Autobahn|Testsuite (must score FAILED=0), also in pieces and with
#      permessage-deflate (all 517 cases, NON-STRICT/UNIMPLEMENTED 0 too)
#   7. the shared benchmark's self-test for our bench client, and the
#      streaming and compressed benchmarks' self-tests (small sizes)
# Set WSCLIENT_SKIP="autobahn bench" (space-separated step names) to skip steps.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
ensure_rust
ensure_packages build-essential cmake pkg-config libssl-dev liblua5.4-dev lua5.4 luarocks valgrind python3-venv python3-pip \
  bsdutils groff-base man-db nodejs
# npm for node `ws` in interop-deflate (NodeSource's nodejs ships its own npm)
command -v npm >/dev/null 2>&1 || ensure_packages npm
sh tests/nginx/ensure-nginx.sh >&2
# squid, microsocks, iptables for tests/proxy.rs and ctest wscat_proxy (they skip, saying why, without)
sh tests/proxy/ensure-proxies.sh >&2 || true

BUILD=${WSCLIENT_BUILD_DIR:-build}
SHARED=${WSCLIENT_SHARED_DIR:-$ROOT/../shared}
export WSCLIENT_REQUIRE_NGINX=1
failed=()
skip() { [[ " ${WSCLIENT_SKIP:-} " == *" $1 "* ]]; }
step() {
  local name=$1; shift
  if skip "$name"; then echo "== $name: skipped"; return 0; fi
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then echo "== $name: ok ($((SECONDS - t0)) s)"; else echo "== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}

cmake_all() {
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWSCLIENT_BUILD_TESTS=ON &&
    cmake --build "$BUILD" -j2 &&
    ctest --test-dir "$BUILD" --output-on-failure -j2
}
REL="$BUILD/cargo/release"


step fmt cargo fmt --check
step clippy cargo clippy --all-targets --locked -- -D warnings
step native-tls-backend cargo clippy --locked --lib --features native-tls-backend -- -D warnings
step cargo-test cargo test --locked --no-fail-fast
step fuzz bash scripts/fuzz.sh "${WSCLIENT_FUZZ_SECONDS:-60}"  # cargo-fuzz, every target (skips without nightly)
step asan bash scripts/asan.sh                                 # the Rust suites under ASan + LSan (nightly)
step cmake-ctest cmake_all
step python env WSCLIENT_LIBRARY="$ROOT/$REL/libwsclient.so" WSCLIENT_ECHO_SERVER="$ROOT/$REL/wsclient-echo-server" \
  bash bindings/python/run-tests.sh
step interop bash tests/interop/run.sh "$BUILD/wsclient-interop-client"
# permessage-deflate against Python websockets, node ws and the project's
# deflate echo server (1,000 messages per combination)
step interop-deflate bash tests/interop/deflate_run.sh "$REL"
step autobahn env WSCLIENT_SHARED_DIR="$SHARED" bash scripts/autobahn.sh "$BUILD/wsclient-autobahn"
# the same cases with every message read and echoed in pieces (ws_read_part,
# ws_write_part on a "streamReceive" socket): the score must be the same
step autobahn-parts env AUTOBAHN_PARTS=1 WSCLIENT_SHARED_DIR="$SHARED" bash scripts/autobahn.sh "$BUILD/wsclient-autobahn"
# all 517 cases with permessage-deflate offered: FAILED, NON-STRICT and
# UNIMPLEMENTED must be 0
step autobahn-deflate env AUTOBAHN_COMPRESSION=1 WSCLIENT_SHARED_DIR="$SHARED" bash scripts/autobahn.sh "$BUILD/wsclient-autobahn"
step bench env BENCH_SKIP_SETUP=1 "$SHARED/bench/run.sh" --selftest --clients wsclient,wsclient-busypoll \
  --add-client "wsclient=$ROOT/$BUILD/wsclient-bench" --add-client "wsclient-busypoll=$ROOT/$BUILD/wsclient-bench --options {\"busyPoll\":50}"
step streambench env WSCLIENT_STREAMBENCH_REL="$ROOT/$REL" bash benches/stream/run.sh --selftest  # streaming benchmark, small sizes
# compressed-message benchmark (1 KiB JSON tag updates vs Beast and Python
# websockets with permessage-deflate), small counts; validation must be live
step deflatebench env WSCLIENT_DEFLATEBENCH_REL="$ROOT/$REL" WSCLIENT_SHARED_DIR="$SHARED" bash benches/deflate/run.sh --selftest

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
