#!/usr/bin/env bash
# Real package data for the inventory tests: Go (its own `go version -m` is
# the oracle for Go build info).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v go >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq golang-go >/dev/null
fi
