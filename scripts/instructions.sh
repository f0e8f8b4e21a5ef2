#!/usr/bin/env bash
# Instructions executed per message (user space, whole client process, from
# valgrind's callgrind) for the shared benchmark's clients: unlike wall-clock
# numbers on a shared VM, these are repeatable. Each figure is the difference
# between two runs of different length divided by the difference in message
# count, so start-up and connection set-up cancel out.
#
#   scripts/instructions.sh CLIENT...    (defaults: our bench client, tungstenite, ws-minimal, Beast)
#
# Needs valgrind, the shared benchmark built (../shared/bench/run.sh does it)
# and build/wsclient-bench (CMake).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages valgrind
BB=${BENCH_BUILD:-/tmp/bench-build}
BT=${CARGO_TARGET_DIR:-/tmp/bench-target}
clients=("$@")
((${#clients[@]})) || clients=("$PWD/build/wsclient-bench" "$BT/release/tungstenite-client" "$BT/release/minimal-client" "$BB/beast-client")
out=$(mktemp)
"$BT/release/echo-server" --ws-port 0 --raw-port 0 >"$out" &
srv=$!
trap 'kill $srv 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q READY "$out" && break; sleep 0.1; done
port=$(grep -o 'ws=[0-9]*' "$out" | cut -d= -f2)
count() { # client workload n size -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --url "ws://127.0.0.1:$port/" \
    --workload "$2" --count "$3" --size "$4" 2>&1 >/dev/null | awk '/Collected/ {print $4}'
}
printf '| client | rtt (32 B) | pipeline (32 B) | bulk (1 MiB) | connect |\n|---|---:|---:|---:|---:|\n'
for c in "${clients[@]}"; do
  [ -x "$c" ] || { echo "skipping $c (not built)" >&2; continue; }
  row="| $(basename "$c")"
  for spec in "rtt 2000 12000 32" "pipeline 20000 120000 32" "bulk 10 40 1048576" "connect 100 600 32"; do
    set -- $spec
    a=$(count "$c" "$1" "$2" "$4"); b=$(count "$c" "$1" "$3" "$4")
    row="$row | $(( (b - a) / ($3 - $2) ))"
  done
  echo "$row |"
done
