#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each: `scripts/fuzz.sh [SECONDS]`,
# else $SCANGATE_FUZZ_SECONDS, else 15; 0 skips fuzzing. scripts/test.sh
# (and so .ci/run) runs it with the default.
#
# One `cargo fuzz build` builds every target (optimised, with debug
# assertions and overflow checks, AddressSanitizer; no debug info, see
# fuzz/Cargo.toml) into fuzz/target; then the binaries run directly,
# $SCANGATE_FUZZ_JOBS at a time (default 2, one per core), each reading its
# committed corpus fuzz/corpus/<target> and writing what it finds to
# fuzz/target/run/<target>/ (new inputs in corpus/, a crash in crash-*,
# leak-*, timeout-* or oom-*, the output in log). Any finding fails the run.
#
# For long runs (bench/README.md, "Fuzzing"): SCANGATE_FUZZ_FORK=1 keeps
# fuzzing after a finding (libFuzzer -fork=1 -ignore_crashes etc.: every
# finding is saved, the run still fails at the end), and
# SCANGATE_FUZZ_MERGE=1 adds the inputs that reached new code to
# fuzz/corpus/<target> afterwards (libFuzzer -merge=1: existing files,
# the seeds among them, are kept).
#
# The stable toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer
# flags; cargo-fuzz is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-${SCANGATE_FUZZ_SECONDS:-15}}
jobs=${SCANGATE_FUZZ_JOBS:-2}
if [ "$seconds" = 0 ]; then
  echo "fuzzing skipped (SCANGATE_FUZZ_SECONDS=0)"
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
export CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR=$PWD/target

start=$(date +%s)
cargo fuzz build
echo "-- built every target in $(($(date +%s) - start)) s"
bin=target/x86_64-unknown-linux-gnu/release
run=target/run
rm -rf "$run"
mkdir -p "$run"

# One target: SECONDS of fuzzing; a hang of 10 s on one input, more than
# 2 GiB of memory, or a single allocation above 1 GiB is a finding.
fuzz_one() {
  local target=$1 seconds=$2 bin=$3 run=$4
  local out="$run/$target"
  mkdir -p "$out/corpus"
  local extra=()
  if [ "${SCANGATE_FUZZ_FORK:-0}" = 1 ]; then
    extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  local status=0
  "$bin/$target" "$out/corpus" "corpus/$target" "${extra[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$out/" >"$out/log" 2>&1 || status=$?
  # Executions and coverage: the final stats, or fork mode's last status line.
  local execs cov
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log" | grep -o '[0-9]*$' || true)
  cov=$(grep -oE '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+ corp: [0-9/a-zA-Z]+' "$out/log" | tail -1 || true)
  [ -n "$execs" ] || execs=$(echo "$cov" | grep -oE '^#[0-9]+' | tr -d '#')
  cov=$(echo "$cov" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9/a-zA-Z]+' || true)
  local findings
  findings=$(ls "$out" | grep -E '^(crash|leak|timeout|oom)-' | tr '\n' ' ' || true)
  if [ "$status" = 0 ] && [ -z "$findings" ]; then
    printf '%-18s ok     %10s runs  %s\n' "$target" "${execs:-?}" "$cov"
  else
    printf '%-18s FAILED (exit %s) %10s runs  %s: %s\n' "$target" "$status" "${execs:-?}" "$cov" "$findings"
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$out/log" | sort | uniq -c | head -8 | sed 's/^/    /'
    echo "$target" >>"$run/failed"
  fi
  if [ "${SCANGATE_FUZZ_MERGE:-0}" = 1 ]; then
    "$bin/$target" -merge=1 "corpus/$target" "$out/corpus" >"$out/merge.log" 2>&1 || true
    echo "    $target: $(grep -o 'MERGE-OUTER: [0-9]* new files.*' "$out/merge.log" || echo 'merge failed, see merge.log')"
  fi
}
export -f fuzz_one

targets=$(cargo fuzz list)
echo "-- $(echo "$targets" | wc -l) targets, $seconds s each, $jobs at a time"
echo "$targets" | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$@"' _ {} "$seconds" "$bin" "$run"
if [ -s "$run/failed" ]; then
  echo "fuzzing found problems in: $(tr '\n' ' ' <"$run/failed")(logs and inputs in fuzz/$run)"
  exit 1
fi
echo "-- fuzzing done in $(($(date +%s) - start)) s"
