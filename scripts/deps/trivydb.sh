#!/usr/bin/env bash
# The Trivy database test writer (tests/tools/trivydb-writer): real
# go.etcd.io/bbolt from the Go module proxy, built into .cache/tools/bin.
# Keyed by a hash of its go.mod, go.sum and source, so a rerun with nothing
# changed takes no build.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=tests/tools/trivydb-writer
bin=.cache/tools/bin
key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
if [ -x "$bin/trivydb-writer" ] && [ "$(cat "$bin/trivydb-writer.key" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
# go.mod asks for Go 1.25: a Go of 1.21 or later fetches that toolchain from
# the module proxy by itself; Debian 12's golang-go (1.19) cannot.
minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "${minor:-0}" -lt 21 ]; then
  echo "trivydb.sh: Go $(go env GOVERSION) is too old to build $src (1.21 or later needed)" >&2
  exit 1
fi
mkdir -p "$bin"
(cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -o "$OLDPWD/$bin/trivydb-writer.tmp" .)
mv "$bin/trivydb-writer.tmp" "$bin/trivydb-writer"
echo "$key" >"$bin/trivydb-writer.key"
