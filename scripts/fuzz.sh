#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 20). Needs
# cargo-fuzz (installed here if missing); the stable toolchain is used with
# RUSTC_BOOTSTRAP=1 for the sanitizer flags. The first build takes about
# 10 minutes on 2 cores, so the test suite runs this only when
# SCANGATE_FUZZ_SECONDS is set.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-${SCANGATE_FUZZ_SECONDS:-20}}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "-- $target ($seconds s)"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|stat::peak_rss|SUMMARY|panicked" || true
done
