#!/bin/sh
# Soak run of `scangate serve` (not part of CI): mixed hits and misses
# against a real docker-registry for DURATION seconds, sampling the
# server's RSS and open file descriptors. See bench/soak/soak.py for every
# knob (DURATION, RATE, THREADS, IMAGES, HOT, HIT_SHARE, SAMPLE,
# VERDICT_TTL, OUT) and bench/README.md for how to read the result.
#
#   bench/soak/run.sh                      # 30 minutes, release build
#   DURATION=300 bench/soak/run.sh         # 5 minutes
#   SCANGATE_BIN=target/debug/scangate bench/soak/run.sh
#
# Needs docker-registry (scripts/deps/registry.sh), openssl and python3.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${SCANGATE_BIN:-}" ]; then
    cargo build --release --bin scangate
    SCANGATE_BIN=target/release/scangate
fi
SCANGATE_BIN=$(realpath "$SCANGATE_BIN")
export SCANGATE_BIN
exec python3 bench/soak/soak.py
