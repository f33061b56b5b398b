#!/usr/bin/env bash
# Scanner benchmark, one command: bench/scan/run.sh
#
# Starts Debian's docker-registry on a loopback port, pushes a Debian
# bookworm minbase image (one gzip layer, from debootstrap, cached under
# .cache/), two images that differ from it only in a small top layer, and
# an image with a 1 GiB layer; then measures, in one run:
#   - skopeo copy docker://… dir:… (pull only, external tool), median of 3
#   - the client's own pull (blobs streamed + sha256, no analysis) vs a cold
#     scan (fresh scanner: resolve, manifest, layers, inventory, match), median of 5
#   - inflating the minbase layer alone, in memory, with the scanner's
#     decompressor (the floor of a cold scan of that layer), median of 5
#   - a rescan of an image differing only in its top layer (base layer cached)
#   - peak RSS of a cold scan of the image with the 1 GiB layer
# Needs: docker-registry, skopeo (scripts/deps/registry.sh), debootstrap, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/.cache/bench-scan
ROOTFS_TAR=$ROOT/.cache/debootstrap/bookworm-minbase.tar
mkdir -p "$CACHE"

if [ ! -f "$ROOTFS_TAR" ]; then
  echo "building the minbase rootfs (debootstrap, once)" >&2
  mkdir -p "$ROOT/.cache/debootstrap"
  debootstrap --variant=minbase bookworm "$ROOT/.cache/debootstrap/bookworm-minbase" http://deb.debian.org/debian >&2
  tar -C "$ROOT/.cache/debootstrap/bookworm-minbase" --numeric-owner -cf "$ROOTFS_TAR" .
fi
[ -f "$CACHE/minbase.tar.gz" ] || gzip -6 -c "$ROOTFS_TAR" > "$CACHE/minbase.tar.gz"
for n in 2 3; do
  if [ ! -f "$CACHE/top$n.tar.gz" ]; then
    mkdir -p "$CACHE/top$n/etc"; echo "build $n" > "$CACHE/top$n/etc/build-id"
    tar -C "$CACHE/top$n" --mtime=@0 --numeric-owner -cf "$CACHE/top$n.tar" etc
    gzip -n -6 -c "$CACHE/top$n.tar" > "$CACHE/top$n.tar.gz"
  fi
done
if [ ! -f "$CACHE/big.tar" ]; then
  mkdir -p "$CACHE/big"; head -c 1073741824 /dev/urandom > "$CACHE/big/blob.bin"
  tar -C "$CACHE/big" --mtime=@0 -cf "$CACHE/big.tar" blob.bin; rm -rf "$CACHE/big"
fi

WORK=$(mktemp -d); REG_PID=""
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
cat > "$WORK/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/storage}}
http: {addr: $ADDR}
YAML
docker-registry serve "$WORK/config.yml" >/dev/null 2>&1 & REG_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/v2/" && break; sleep 0.1; done

push() { # repo:tag layers...
  local ref=$1; shift
  python3 bench/scan/layout.py "$WORK/layout-${ref//[:\/]/-}" "${ref#*:}" "$@"
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci:$WORK/layout-${ref//[:\/]/-}:${ref#*:}" "docker://$ADDR/$ref"
}
push bench/minbase:v1 "$CACHE/minbase.tar.gz:tar+gzip:$ROOTFS_TAR"
push bench/minbase:v2 "$CACHE/minbase.tar.gz:tar+gzip:$ROOTFS_TAR" "$CACHE/top2.tar.gz:tar+gzip:$CACHE/top2.tar"
push bench/minbase:v3 "$CACHE/minbase.tar.gz:tar+gzip:$ROOTFS_TAR" "$CACHE/top3.tar.gz:tar+gzip:$CACHE/top3.tar"
push bench/big:v1 "$CACHE/minbase.tar.gz:tar+gzip:$ROOTFS_TAR" "$CACHE/big.tar:tar:$CACHE/big.tar"

cargo build --quiet --release --example scan_bench
BENCH=$ROOT/target/release/examples/scan_bench

skopeo_ms=()
for i in 1 2 3; do
  start=$(date +%s%N)
  skopeo copy --quiet --src-tls-verify=false "docker://$ADDR/bench/minbase:v1" "dir:$WORK/pulled-$i"
  skopeo_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
done
echo "{\"skopeoCopyMs\":[${skopeo_ms[0]},${skopeo_ms[1]},${skopeo_ms[2]}]}"
"$BENCH" compare "$ADDR" bench/minbase:v1 5
"$BENCH" inflate "$CACHE/minbase.tar.gz" 5
"$BENCH" rescan "$ADDR" bench/minbase:v2 bench/minbase:v3
python3 - "$BENCH" "$ADDR" <<'PY'
import resource, subprocess, sys
subprocess.run([sys.argv[1], "scan", sys.argv[2], "bench/big:v1"], check=True)
print('{"bigLayerPeakRssMiB": %.1f}' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
PY
