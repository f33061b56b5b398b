#!/usr/bin/env bash
# The HTML history report is checked in a real browser: Debian's Chromium,
# driven by playwright-core from npm.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
dir=.cache/npm-playwright
if [ ! -d "$dir/node_modules/playwright-core" ]; then
  mkdir -p "$dir"
  npm install --silent --prefix "$dir" playwright-core@1 >/dev/null
fi
