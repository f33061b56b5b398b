#!/usr/bin/env bash
# Review latency with and without 2,000 hostile connections (bench/README.md).
#   bench/hostile/run.sh                       # release build, 20 s per phase
#   HOSTILE=500 SECONDS_PER_PHASE=5 SCANGATE_BIN=target/debug/scangate bench/hostile/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${SCANGATE_BIN:-}" ]; then
  cargo build --release --bin scangate
  export SCANGATE_BIN=target/release/scangate
fi
# Two descriptors per hostile connection in this process and one in the server.
ulimit -n "$(( ${HOSTILE:-2000} * 4 + 1024 ))"
exec python3 bench/hostile/hostile.py
