#!/usr/bin/env bash
# Only the tests against the real control plane (tests/it/cluster_real/):
# builds kube-apiserver, etcd, kubectl and helm if needed (scripts/deps/cluster.sh;
# cold about 33 min on 2 shared cores, seconds when up to date) and the local
# registry's tools, then runs the tests with the cluster required, so a
# missing build fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps/registry.sh
bash scripts/deps/cluster.sh
export SCANGATE_REQUIRE_CLUSTER=1
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --no-fail-fast -E 'test(/^cluster_real::/)' "$@"
else
  cargo test --test it cluster_real:: "$@"
fi
