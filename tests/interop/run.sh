#!/usr/bin/env bash
# Interop test: wsclient's C API (interop_client.c) against a third-party
# server, the Python `websockets` package (server.py), on 127.0.0.1.
#
# usage: tests/interop/run.sh [CLIENT]
#
#   CLIENT  a prebuilt interop_client (also: env WSCLIENT_INTEROP_CLIENT), e.g.
#           from CMake. When not given, the library is built with cargo and
#           the client with cc into $WSCLIENT_INTEROP_BUILD.
#
# Environment
#   WSCLIENT_INTEROP_VENV   venv for the server, created or reused, outside the
#                           repo (default: ${TMPDIR:-/tmp}/wsclient-interop-venv);
#                           packages from requirements.txt beside this script
#   WSCLIENT_INTEROP_BUILD  build dir for the client
#                           (default: ${TMPDIR:-/tmp}/wsclient-interop-build)
#   CARGO_TARGET_DIR        cargo's target dir (default: $WSCLIENT_INTEROP_BUILD/target)
#   PYTHON                  interpreter for the venv (default: python3)
#   CC                      C compiler (default: cc)
#
# Exit status: 0 only when every check passed. The server is stopped in every
# case; the client runs under a 60 s limit (it takes about a second).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${WSCLIENT_INTEROP_VENV:-${TMPDIR:-/tmp}/wsclient-interop-venv}"
BUILD="${WSCLIENT_INTEROP_BUILD:-${TMPDIR:-/tmp}/wsclient-interop-build}"
CLIENT="${1:-${WSCLIENT_INTEROP_CLIENT:-}}"

say() { echo "interop/run.sh: $*" >&2; }

# 1. The server's venv: created once, reinstalled when requirements.txt changes.
STAMP="$VENV/.wsclient-interop-requirements"
if ! cmp -s "$HERE/requirements.txt" "$STAMP" 2>/dev/null; then
  say "installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')into $VENV"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$HERE/requirements.txt" >&2
  cp "$HERE/requirements.txt" "$STAMP"
fi

# 2. The client, unless one was given.
if [ -z "$CLIENT" ]; then
  mkdir -p "$BUILD"
  TARGET="${CARGO_TARGET_DIR:-$BUILD/target}"
  say "building the library (cargo, $TARGET) and the client ($BUILD)"
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet) >&2
  LIBDIR="$(cd "$TARGET/release" && pwd)"
  CLIENT="$BUILD/interop_client"
  "${CC:-cc}" -std=c99 -O2 -Wall -Wextra -Werror -I "$REPO/include" \
      -o "$CLIENT" "$HERE/interop_client.c" \
      -L "$LIBDIR" -lwsclient -Wl,-rpath,"$LIBDIR" >&2
fi
if [ ! -x "$CLIENT" ]; then
  say "client $CLIENT is not an executable"
  exit 2
fi

# 3. Start the server on a free port; it prints the port once it listens.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wsclient-interop.XXXXXX")"
SERVER_PID=''
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$VENV/bin/python" -u "$HERE/server.py" > "$WORK/port" 2> "$WORK/server.log" &
SERVER_PID=$!
PORT=''
for _ in $(seq 1 100); do  # up to 10 s
  PORT="$(head -n 1 "$WORK/port" 2>/dev/null || true)"
  [ -n "$PORT" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
  sleep 0.1
done
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
  say "the server did not start; its log:"
  cat "$WORK/server.log" >&2
  exit 1
fi
say "websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)') server on 127.0.0.1:$PORT"

# 4. Run the client; its last line is "interop: N passed, M failed".
set +e
timeout --kill-after=5 60 "$CLIENT" "ws://127.0.0.1:$PORT"
RC=$?
set -e
if [ "$RC" -ne 0 ]; then
  [ "$RC" -eq 124 ] && say "the client timed out"
  if [ -s "$WORK/server.log" ]; then
    say "server log:"
    cat "$WORK/server.log" >&2
  fi
  say "FAIL (client exit status $RC)"
  exit 1
fi
say "PASS"
