#!/usr/bin/env python3
"""Builds the sample images of `scangate serve --dev` as OCI image layouts.

Each image is a directory under examples/images/<name>/ in the OCI image
layout (oci-layout, index.json, blobs/sha256/...), made deterministically
(fixed mtimes, sorted entries) so the digests do not change between runs.

  payments-api  a real Go binary built by Debian's go1.19.8 (stdlib with
                published vulnerabilities), on a Debian-like base layer
  static-site   a scratch image with static files only: nothing to flag

Usage: examples/build-images.py PAYMENTS_API_BINARY
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = 1700000000


def tar_layer(files):
    """files: list of (path, bytes, mode). Returns gzip-compressed tar bytes and the diff id."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for path, _, _ in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = EPOCH
            tar.addfile(info)
        for path, data, mode in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            info.mtime = EPOCH
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=9, mtime=0)
    return compressed, "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def build(name, layers, cmd, tag="latest"):
    layout = os.path.join(HERE, "images", name)
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    layer_descs, diff_ids = [], []
    for files in layers:
        blob, diff_id = tar_layer(files)
        digest, size = write_blob(layout, blob)
        layer_descs.append({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": size})
        diff_ids.append(diff_id)
    config = {
        "architecture": "amd64", "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": cmd, "User": "65532"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_digest, config_size = write_blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    }
    manifest_digest, manifest_size = write_blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    }
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(f"{name}: {manifest_digest}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        payments_api = f.read()
    os_release = (b'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\n'
                  b'VERSION_ID="12"\nVERSION="Debian GNU/Linux 12 (bookworm)"\n')
    base = [("etc/os-release", os_release, 0o644),
            ("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n", 0o644)]
    build("payments-api", [base, [("app/payments-api", payments_api, 0o755)]], ["/app/payments-api"], tag="1.4.2")
    site = [("site/index.html", b"<!doctype html><title>status</title><p>all systems go</p>\n", 0o644),
            ("site/robots.txt", b"User-agent: *\nDisallow:\n", 0o644)]
    build("static-site", [site], ["/site"], tag="2.0.0")


if __name__ == "__main__":
    main()
