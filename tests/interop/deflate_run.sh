#!/usr/bin/env bash
# permessage-deflate interop (issue 16): wsclient's C API (deflate_interop.c)
# against three independent implementations on 127.0.0.1, each echoing
# COUNT (default 1,000) pseudo-random messages (text and binary, 0 B to
# 1 MiB, compressible and not) bit-exact, for every server configuration
# below and the client offers that go with it; the agreed parameters are
# checked too:
#   - Python `websockets` (deflate_servers.py: every server-side parameter
#     of its ServerPerMessageDeflateFactory, including its defaults);
#   - node `ws` with perMessageDeflate (deflate_servers.js; `ws` installed
#     with npm outside the repo; skipped, saying why, without node/npm);
#   - the project's wsclient-deflate-echo-server (benches/deflate_echo_server.rs).
#
# usage: tests/interop/deflate_run.sh [LIBDIR]
#
#   LIBDIR  directory with libwsclient.so and wsclient-deflate-echo-server
#           (e.g. CMake's <build>/cargo/release); default: cargo build
#           --release into $CARGO_TARGET_DIR (default: the repo's target/)
#
# Environment
#   WSCLIENT_INTEROP_VENV  the venv of tests/interop/run.sh (reused; created
#                          from requirements.txt when missing)
#   WSCLIENT_INTEROP_NODE  where `ws` is installed (default:
#                          ${TMPDIR:-/tmp}/wsclient-interop-node)
#   WSCLIENT_DEFLATE_COUNT messages per combination (default 1000)
#   WSCLIENT_DEFLATE_NODE  0: skip node (default: run it when node is there)
#   CC                     C compiler (default: cc)
#
# Exit status: 0 only when every combination passed (node's skipped with a
# printed reason counts as passed). Servers are stopped by PID in every
# case; every client run has a time limit.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${WSCLIENT_INTEROP_VENV:-${TMPDIR:-/tmp}/wsclient-interop-venv}"
NODEDIR="${WSCLIENT_INTEROP_NODE:-${TMPDIR:-/tmp}/wsclient-interop-node}"
COUNT="${WSCLIENT_DEFLATE_COUNT:-1000}"
LIBDIR="${1:-}"

say() { echo "deflate_run.sh: $*" >&2; }

# 1. The library, the deflate echo server, the client.
if [ -z "$LIBDIR" ]; then
  TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
  say "building the library and wsclient-deflate-echo-server (cargo, $TARGET)"
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet --lib \
      --bin wsclient-deflate-echo-server) >&2
  LIBDIR="$TARGET/release"
fi
LIBDIR="$(cd "$LIBDIR" && pwd)"
ZECHO="$LIBDIR/wsclient-deflate-echo-server"
for f in "$LIBDIR/libwsclient.so" "$ZECHO"; do
  [ -e "$f" ] || { say "not found: $f"; exit 2; }
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wsclient-deflate-interop.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CLIENT="$WORK/deflate_interop"
"${CC:-cc}" -std=c99 -O2 -Wall -Wextra -Werror -I "$REPO/include" -o "$CLIENT" "$HERE/deflate_interop.c" \
    -L "$LIBDIR" -lwsclient -Wl,-rpath,"$LIBDIR"

# 2. The Python venv (the one tests/interop/run.sh uses).
STAMP="$VENV/.wsclient-interop-requirements"
if ! cmp -s "$HERE/requirements.txt" "$STAMP" 2>/dev/null; then
  say "installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')into $VENV"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  cp "$HERE/requirements.txt" "$STAMP"
fi

# Starts a server program that prints "NAME PORT" lines then READY (or
# "LISTENING PORT"); fills PORTS[NAME].
declare -A PORTS
start_servers() { # LOGNAME CMD...
  local log="$WORK/$1" name port; shift
  "$@" >"$log.out" 2>"$log.err" &
  PIDS+=($!)
  local pid=$!
  for _ in $(seq 1 200); do # up to 20 s
    if grep -q -x 'READY' "$log.out" 2>/dev/null || grep -q '^LISTENING ' "$log.out" 2>/dev/null; then
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q -x 'READY' "$log.out" && ! grep -q '^LISTENING ' "$log.out"; then
    say "server $* did not start:"
    cat "$log.err" >&2
    return 1
  fi
  while read -r name port; do
    [ "$name" = READY ] && continue
    PORTS[$name]=$port
  done <"$log.out"
}

FAILED=0
PASSED=0
run() { # SERVER OPTIONS EXPECT
  local name=$1 opts=$2 expect=$3 port=${PORTS[$1]}
  if timeout --kill-after=5 600 "$CLIENT" "ws://127.0.0.1:$port/" "$opts" "$expect" "$COUNT"; then
    PASSED=$((PASSED + 1))
  else
    say "FAIL: $name $opts (expected $expect)"
    FAILED=$((FAILED + 1))
  fi
}

ALL_C='{"clientMaxWindowBits":10,"serverMaxWindowBits":11,"clientNoContextTakeover":true,"serverNoContextTakeover":true}'

# 3. Python websockets.
start_servers py "$VENV/bin/python" -u "$HERE/deflate_servers.py"
say "Python websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)')"
run plain true 15,15,0,0
run plain "$ALL_C" 10,11,1,1
run plain '{"level":1,"memLevel":1,"threshold":100}' 15,15,0,0
run default true 12,12,0,0
run snct true 15,15,0,1
run cnct true 15,15,1,0
run smwb9_cmwb8 true 8,9,0,0
run all true 9,10,1,1
run all "$ALL_C" 9,10,1,1

# 4. node ws.
if [ "${WSCLIENT_DEFLATE_NODE:-1}" = 0 ]; then
  say "node ws: skipped (WSCLIENT_DEFLATE_NODE=0)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "node ws: skipped: node or npm is not installed (apt-get install nodejs npm)"
else
  if [ ! -f "$NODEDIR/node_modules/ws/package.json" ]; then
    say "installing ws into $NODEDIR"
    mkdir -p "$NODEDIR"
    (cd "$NODEDIR" && npm install --silent --no-audit --no-fund ws@8 >&2)
  fi
  if [ -f "$NODEDIR/node_modules/ws/package.json" ]; then
    start_servers node env NODE_PATH="$NODEDIR/node_modules" node "$HERE/deflate_servers.js"
    say "node $(node --version), ws $(node -p "require('$NODEDIR/node_modules/ws/package.json').version")"
    run node-default true 15,15,0,0
    run node-default "$ALL_C" 10,11,1,1
    run node-all true 9,10,1,1
    run node-smwb12 true 15,12,0,0
    run node-cmwb8 true 8,15,0,0
  else
    say "node ws: skipped: npm could not install ws"
  fi
fi

# 5. The project's deflate echo server (its own zlib-rs codec).
z() { # NAME ARGS...
  local name=$1; shift
  start_servers "z-$name" "$ZECHO" --port 0 "$@"
  PORTS[$name]=${PORTS[LISTENING]}
}
z z-default
z z-limits --server-max-window-bits 9 --client-max-window-bits 8 --level 9
z z-nct --server-no-context-takeover --client-no-context-takeover --pooled
run z-default true 15,15,0,0
run z-default "$ALL_C" 10,11,1,1
run z-limits true 8,9,0,0
run z-nct true 15,15,1,1

say "$PASSED passed, $FAILED failed ($COUNT messages each)"
[ "$FAILED" -eq 0 ] && say PASS
[ "$FAILED" -eq 0 ]
