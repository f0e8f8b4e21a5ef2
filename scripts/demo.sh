#!/usr/bin/env bash
# The main job, end to end: builds libwsclient (shared + static) and the C
# examples with CMake, starts the project's echo server on a free loopback
# port, and runs the C port of WinCC OA's CTRL example against it.
# Installs what it needs on Debian 12 (cmake, compiler, OpenSSL headers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_packages cmake build-essential pkg-config libssl-dev

BUILD=${WSCLIENT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWSCLIENT_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target ctrl_example

start_echo_server "$BUILD/cargo/release/wsclient-echo-server"
trap 'kill $ECHO_PID 2>/dev/null || true' EXIT
echo "== echo server on 127.0.0.1:$ECHO_PORT; running examples-c/ctrl_example.c"
"$BUILD/ctrl_example" "ws://127.0.0.1:$ECHO_PORT/"
