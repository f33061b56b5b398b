#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Rust installed:
# installs what the tests need (scripts/deps/*.sh), then checks formatting,
# lints, runs every test and the chart checks. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV=${VENV:-$PWD/.venv}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A clean checkout builds once; incremental state would only cost disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

echo "== installing test dependencies"
for deps in scripts/deps/*.sh; do
  echo "-- $deps"
  bash "$deps"
done
export PATH="$VENV/bin:$PATH"
# scripts/deps/cluster.sh built kube-apiserver, etcd, kubectl and helm: the
# real-cluster tests must run, never skip.
export SCANGATE_REQUIRE_CLUSTER=1

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== tests"
cargo nextest run --no-fail-fast
# Every fuzz target for a short bounded time (15 s each by default, two at
# a time, after one build of all targets); SCANGATE_FUZZ_SECONDS overrides
# the time, 0 skips it.
echo "== fuzzing"
bash scripts/fuzz.sh "${SCANGATE_FUZZ_SECONDS:-15}"
for check in scripts/checks/*; do
  [ -x "$check" ] || continue
  echo "== $check"
  "$check"
done
