#!/usr/bin/env bash
# Base tools every test run needs: Debian's build tools for -sys crates, a
# Python venv for the Python-based checks, cargo-nextest.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Package lists once per run, so every later script can install by name.
apt-get update -qq
need=()
for pkg in build-essential pkg-config python3-venv ca-certificates curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
