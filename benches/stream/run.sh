#!/usr/bin/env bash
# The streaming benchmark (BENCHMARKS.md, "Streaming"): 1 GiB each way on one
# connection through `wsclient-echo-server --frames`, reading and writing at
# once: wsclient in 64 KiB pieces (ws_write_part / ws_read_part), wsclient
# whole 1 MiB messages (the bulk reference), Boost.Beast async_write_some /
# async_read_some, and a raw-TCP client of pre-built frames (the server's
# ceiling); the same clients again against fast_relay.c, a second
# frame-by-frame echo server with a higher ceiling (--fast-clients).
# Interleaved repetitions, medians and same-run ratios as markdown tables.
#
#   benches/stream/run.sh [--reps 9] [--bytes N] [--clients a,b,...]   # a run
#   benches/stream/run.sh --selftest    # small sizes; validation must be live
#
# Builds what it needs: the library and the echo server with
# `cargo build --release` (unless WSCLIENT_STREAMBENCH_REL names a directory
# that has libwsclient.so and wsclient-echo-server, e.g. build/cargo/release),
# then the clients with cc / g++ into $WSCLIENT_STREAMBENCH_OUT (default
# <that directory>/streambench). Installs g++ and libboost-dev with apt when
# missing. Results: <out>/results/stream-DATE.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_packages build-essential g++ libboost-dev libssl-dev python3 >&2

REL=${WSCLIENT_STREAMBENCH_REL:-}
if [ -z "$REL" ]; then
  ensure_rust
  (cd "$ROOT" && cargo build --release --locked --lib --bin wsclient-echo-server >&2)
  REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
REL=$(cd "$REL" && pwd)
for f in libwsclient.so wsclient-echo-server; do
  [ -e "$REL/$f" ] || { echo "no $REL/$f" >&2; exit 1; }
done
OUT=${WSCLIENT_STREAMBENCH_OUT:-$REL/streambench}
mkdir -p "$OUT"

# build BIN SRC CMD...: CMD unless BIN is newer than SRC and the shared inputs
build() {
  local bin=$1 src=$2
  shift 2
  build_if_stale "$bin" "$src" "$HERE/stream_common.h" "$ROOT/include/wsclient.h" "$REL/libwsclient.so" -- "$@"
}
CFLAGS=(-O2 -g -Wall -Wextra -Werror)
build "$OUT/wsclient-stream" "$HERE/wsclient_stream.c" \
  cc "${CFLAGS[@]}" -I"$ROOT/include" -o "$OUT/wsclient-stream" "$HERE/wsclient_stream.c" \
  -L"$REL" -lwsclient -Wl,-rpath,"$REL" -lpthread
build "$OUT/rawframes" "$HERE/rawframes.c" \
  cc "${CFLAGS[@]}" -o "$OUT/rawframes" "$HERE/rawframes.c" -lpthread
build "$OUT/fast-relay" "$HERE/fast_relay.c" \
  cc "${CFLAGS[@]}" -o "$OUT/fast-relay" "$HERE/fast_relay.c" -lcrypto -lpthread
build "$OUT/beast-stream" "$HERE/beast_stream.cpp" \
  g++ -std=c++17 "${CFLAGS[@]}" -o "$OUT/beast-stream" "$HERE/beast_stream.cpp" -lpthread

exec python3 "$HERE/orchestrate.py" --bin-dir "$OUT" --server "$REL/wsclient-echo-server" \
  --fast-relay "$OUT/fast-relay" "$@"
