#!/usr/bin/env bash
# The compressed-message benchmark (issue 16): 1 KiB JSON tag updates
# (gen_tags.py) with permessage-deflate, rtt and pipeline, wsclient against
# Boost.Beast 1.74 and Python websockets 17.4 in the same run, each with one
# common configuration ("same settings": windows 15/15, context takeover,
# level 6, memLevel 8) and with its own defaults, plus wsclient uncompressed;
# served by the project's wsclient-deflate-echo-server --stats --level 1 (the
# shared bench's echo server has no deflate; level 1 so that it is not the
# limit, see orchestrate.py), with a ceiling check (two wsclient clients at
# once, and raw-deflate: pre-compressed frames, the server alone). Interleaved repetitions, medians, same-run ratios,
# CPU per message and compression ratios as markdown tables (orchestrate.py).
#
#   benches/deflate/run.sh [--reps 5] [--rtt-count 20000] [--pipeline-count 200000]
#                          [--clients a,b,...] [--workloads rtt,pipeline] [--no-ceiling]
#                          [--server-level 0-9]
#   benches/deflate/run.sh --selftest    # small counts, < 1 min: every client runs,
#                                        # compresses, and its validation is live
#   benches/deflate/run.sh --summarize FILE.jsonl   # the tables of an earlier run
#
# Builds what it needs: the library and the deflate echo server with
# `cargo build --release --locked --lib --bins` (unless
# WSCLIENT_DEFLATEBENCH_REL names a directory that has libwsclient.so and
# wsclient-deflate-echo-server, e.g. target/release), then wsclient-bench
# (examples-c/bench_client.c) and beast-deflate with cc / g++ into
# $WSCLIENT_DEFLATEBENCH_OUT (default <that directory>/deflatebench), and the
# Python venv with websockets through ../shared/bench/setup.sh (in
# $BENCH_BUILD, default /tmp/bench-build). bench_common.h comes from
# $WSCLIENT_SHARED_DIR/bench/clients (default ../shared, as CMake's
# WSCLIENT_SHARED_DIR). Installs g++ and libboost-dev with apt when missing.
# Results: <out>/results/deflate-DATE.jsonl; messages: <out>/tags-*.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/scripts/lib.sh"

if [ "${1:-}" = "--summarize" ]; then
  exec python3 "$HERE/orchestrate.py" "$@"
fi
ensure_packages build-essential g++ libboost-dev python3 >&2
ensure_rust

REL=${WSCLIENT_DEFLATEBENCH_REL:-}
if [ -z "$REL" ]; then
  (cd "$ROOT" && cargo build --release --locked --lib --bins >&2)
  REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
REL=$(cd "$REL" && pwd)
for f in libwsclient.so wsclient-deflate-echo-server; do
  [ -e "$REL/$f" ] || { echo "no $REL/$f" >&2; exit 1; }
done
OUT=${WSCLIENT_DEFLATEBENCH_OUT:-$REL/deflatebench}
mkdir -p "$OUT"
SHARED=${WSCLIENT_SHARED_DIR:-$ROOT/../shared}
INC="$SHARED/bench/clients"
[ -f "$INC/bench_common.h" ] || { echo "no $INC/bench_common.h (set WSCLIENT_SHARED_DIR)" >&2; exit 1; }
INC=$(cd "$INC" && pwd)

# the Python client's venv (websockets 17.4), from the shared bench's setup
export BENCH_BUILD=${BENCH_BUILD:-/tmp/bench-build}
VPY="$BENCH_BUILD/venv/bin/python"
if ! "$VPY" -c "import websockets" >/dev/null 2>&1; then
  bash "$SHARED/bench/setup.sh" >&2
fi

CFLAGS=(-O2 -g -Wall -Wextra -Werror)
# -isystem: bench_common.h is shared with other clients (as CMake's SYSTEM)
build_if_stale "$OUT/wsclient-bench" "$ROOT/examples-c/bench_client.c" "$INC/bench_common.h" "$ROOT/include/wsclient.h" \
  "$REL/libwsclient.so" -- \
  cc "${CFLAGS[@]}" -I"$ROOT/include" -isystem "$INC" -o "$OUT/wsclient-bench" "$ROOT/examples-c/bench_client.c" \
  -L"$REL" -lwsclient -Wl,-rpath,"$REL" -lpthread
build_if_stale "$OUT/beast-deflate" "$HERE/beast_deflate.cpp" "$INC/bench_common.h" -- \
  g++ -std=c++17 "${CFLAGS[@]}" -isystem "$INC" -o "$OUT/beast-deflate" "$HERE/beast_deflate.cpp" -lpthread

exec python3 "$HERE/orchestrate.py" --bin-dir "$OUT" --server "$REL/wsclient-deflate-echo-server" \
  --python "$VPY" "$@"
