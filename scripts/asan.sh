#!/usr/bin/env bash
# The Rust test suites once under AddressSanitizer (with LeakSanitizer):
# the library and the tests built by nightly Rust with -Zsanitizer=address,
# so a use after free, double free, overflow or leak in the library (its
# unsafe FFI code, the lent buffers, the C strings it hands out) fails the
# run with ASan's report. The suites that measure RSS (memory, stream_memory,
# review_events) are left out: the sanitizer's shadow memory and quarantine
# inflate it by design (churn.rs counts the heap exactly and runs here).
#   scripts/asan.sh [TEST...]    (default: the unit tests and every other suite)
# Without a nightly toolchain (rustup cannot fetch one offline) the run is
# skipped, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal >&2 ||
    { echo "asan: skipped: no nightly Rust toolchain and rustup could not install one"; exit 0; }
fi
tests=("$@")
if ((${#tests[@]} == 0)); then
  for f in tests/*.rs; do
    t=$(basename "$f" .rs)
    case $t in memory | stream_memory | review_events) ;; *) tests+=("$t") ;; esac
  done
fi
args=(--lib)
for t in "${tests[@]}"; do args+=(--test "$t"); done
host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps build scripts and proc macros uninstrumented; a separate
# target dir keeps the normal build's artifacts.
export RUSTFLAGS="-Zsanitizer=address -Cdebuginfo=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}"
export WSCLIENT_SANITIZER=address # tests/limits.rs allows for the shadow memory
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
exec cargo +nightly test --locked --target "$host" --target-dir target/asan "${args[@]}" -- --test-threads=2
