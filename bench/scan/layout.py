#!/usr/bin/env python3
"""Writes an OCI image layout with one tagged linux/amd64 image.

usage: layout.py DIR TAG BLOB:MEDIA_SUFFIX:DIFF_ID_SOURCE ...
  BLOB            the layer file as stored (gzip or plain tar)
  MEDIA_SUFFIX    "tar+gzip" or "tar"
  DIFF_ID_SOURCE  the uncompressed tar (same file for plain tar)
Blobs are hard-linked (or copied) into DIR/blobs/sha256.
"""
import hashlib, json, os, shutil, sys


def sha256_file(path, cache={}):
    if path not in cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        cache[path] = "sha256:" + h.hexdigest()
    return cache[path]


def put(out, path=None, data=None):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    if data is not None:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest[7:]), "wb") as f:
            f.write(data)
        return digest, len(data)
    digest = sha256_file(path)
    target = os.path.join(blobs, digest[7:])
    if not os.path.exists(target):
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    return digest, os.path.getsize(path)


def main():
    out, tag, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for spec in specs:
        blob, suffix, source = spec.split(":")
        digest, size = put(out, path=blob)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1." + suffix, "digest": digest, "size": size})
        diff_ids.append(sha256_file(source))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_digest, config_size = put(out, data=config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": config_size},
                           "layers": layers}).encode()
    digest, size = put(out, data=manifest)
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest, "size": size, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)


if __name__ == "__main__":
    main()
