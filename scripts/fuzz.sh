#!/usr/bin/env bash
# A bounded coverage-guided fuzz run of every target in fuzz/ (cargo-fuzz,
# libFuzzer, nightly Rust):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, all)
# Each target starts from its committed seeds (fuzz/seeds/<target>) plus the
# corpus earlier runs grew (fuzz/corpus/<target>, not committed). A crash, a
# broken invariant, a > 2 GiB RSS or a > 10 s input fails the run, with the
# input saved in fuzz/artifacts/<target>/ (tests/fuzz_corpus.rs replays it:
# fix the bug, then move the input to fuzz/seeds/<target>/crash-<what>).
# Installs cargo-fuzz from crates.io if missing. Without a nightly toolchain
# (rustup cannot fetch one offline) the run is skipped, saying why, and the
# corpus is still replayed on stable by `cargo test --test fuzz_corpus`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
secs=${1:-${WSCLIENT_FUZZ_SECONDS:-60}}
shift || true
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal >&2 ||
    { echo "fuzz: skipped: no nightly Rust toolchain and rustup could not install one"; exit 0; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked >&2 || { echo "fuzz: skipped: cargo install cargo-fuzz failed"; exit 0; }
fi
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -O >&2
rc=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  # -max_len: 20 kB reaches every parser path (a direct read needs > 8 KiB)
  # and keeps the runs fast; -close_fd_mask=1: the targets' stdout is not ours
  if cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -max_len=20000 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -close_fd_mask=1 \
    >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || true)
    echo "fuzz $t: ok, ${runs:-?} runs in ${secs} s, ${cov:-?}, corpus $(ls "fuzz/corpus/$t" | wc -l) files"
  else
    echo "fuzz $t: FAILED"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20
    rc=1
  fi
  rm -f "$log"
done
exit $rc
