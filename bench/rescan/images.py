#!/usr/bin/env python3
"""Images and databases for the re-scan benchmark (bench/rescan/run.sh).

usage: images.py REGISTRY OUT_DIR [DPKG_STATUS]

Pushes to the docker-registry at REGISTRY (host:port, plain HTTP), over its
HTTP API, BASES x TOPS distinct images (default 50 x 40 = 2,000):

- repository bench/app-NN (one per base) holds the base layer NN and
  TOPS tags t000..; each image is [base NN, its own top layer];
- base layer NN: etc/os-release (Debian 12), var/lib/dpkg/status with a
  subset (PKG_MIN..PKG_MAX packages) of the real status file DPKG_STATUS
  (default /var/lib/dpkg/status), a few versions bumped per base so that
  no two bases hold the same package list, and one small copyright file
  per package (usr/share/doc/PKG/copyright) so the layer has entries to walk;
- top layer: var/lib/dpkg/status.d/app (distroless style: a real dpkg
  stanza for 2-6 packages of the status pool, at per-image versions) and
  srv/app/build-id.

Writes OUT_DIR/images.json ([{"repository", "tag", "digest"}]),
OUT_DIR/db-old/Debian/all.zip and OUT_DIR/db-new/Debian/all.zip: OSV
records for Debian:12 over the package pool. The old database holds
RECORDS_PER_PACKAGE records per package, most fixed before the installed
version (no finding), some still open (a finding); the new one is the old
one plus NEW_RECORDS records published against popular packages, with a
CVSS vector (HIGH or CRITICAL), so every re-scan has new findings to diff
and alert on.

Deterministic (fixed seed). Environment: BASES (50), TOPS (40), PKG_MIN
(150), PKG_MAX (450), RECORDS_PER_PACKAGE (3), NEW_RECORDS (400),
THREADS (8).
"""

import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor

BASES = int(os.environ.get("BASES", 50))
TOPS = int(os.environ.get("TOPS", 40))
PKG_MIN = int(os.environ.get("PKG_MIN", 150))
PKG_MAX = int(os.environ.get("PKG_MAX", 450))
RECORDS_PER_PACKAGE = int(os.environ.get("RECORDS_PER_PACKAGE", 3))
NEW_RECORDS = int(os.environ.get("NEW_RECORDS", 400))
THREADS = int(os.environ.get("THREADS", 8))

OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    b'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stanzas(path):
    """(name, version, stanza text) of every installed package."""
    out = []
    text = open(path, encoding="utf-8", errors="replace").read()
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "installed" in fields.get("Status", "") and "Package" in fields and "Version" in fields:
            out.append((fields["Package"], fields["Version"], block.strip("\n")))
    return out


def with_version(stanza, version):
    return "\n".join(
        f"Version: {version}" if line.startswith("Version:") else line for line in stanza.splitlines()
    )


def tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=6, mtime=0), sha256(raw)


class Registry:
    def __init__(self, address):
        self.address = address

    def upload(self, repo, data):
        digest = sha256(data)
        head = urllib.request.Request(f"http://{self.address}/v2/{repo}/blobs/{digest}", method="HEAD")
        try:
            urllib.request.urlopen(head).close()
            return {"digest": digest, "size": len(data)}
        except urllib.error.HTTPError:
            pass
        request = urllib.request.Request(f"http://{self.address}/v2/{repo}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(request) as response:
            location = response.headers["Location"]
        if not location.startswith("http"):
            location = f"http://{self.address}{location}"
        separator = "&" if "?" in location else "?"
        request = urllib.request.Request(
            f"{location}{separator}digest={digest}",
            data=data,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(request).close()
        return {"digest": digest, "size": len(data)}

    def manifest(self, repo, tag, layers, diff_ids):
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {},
             "rootfs": {"type": "layers", "diff_ids": diff_ids}},
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **self.upload(repo, config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **l} for l in layers],
            }
        ).encode()
        request = urllib.request.Request(
            f"http://{self.address}/v2/{repo}/manifests/{tag}",
            data=manifest,
            method="PUT",
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        urllib.request.urlopen(request).close()
        return sha256(manifest)


def osv(record_id, package, fixed, vector=None):
    record = {
        "id": record_id,
        "modified": "2026-11-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])}],
        }],
    }
    if vector:
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return record


def write_db(path, records):
    os.makedirs(os.path.join(path, "Debian"), exist_ok=True)
    with zipfile.ZipFile(os.path.join(path, "Debian", "all.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for record in records:
            z.writestr(record["id"] + ".json", json.dumps(record))


def main():
    address, out = sys.argv[1], sys.argv[2]
    status = sys.argv[3] if len(sys.argv) > 3 else "/var/lib/dpkg/status"
    rng = random.Random(5)
    pool = stanzas(status)
    if len(pool) < PKG_MAX:
        sys.exit(f"{status}: {len(pool)} installed packages, PKG_MAX={PKG_MAX} needs more")
    os.makedirs(out, exist_ok=True)
    registry = Registry(address)

    # Package popularity: the first packages of a shuffled pool are in most bases.
    rng.shuffle(pool)
    bases = []
    for b in range(BASES):
        count = rng.randint(PKG_MIN, PKG_MAX)
        chosen = sorted(pool[: count // 2] + rng.sample(pool[count // 2:], count - count // 2))
        status_text, files = [], []
        for name, version, stanza in chosen:
            if rng.random() < 0.05:
                stanza = with_version(stanza, f"{version}+b{b}")
            status_text.append(stanza)
            files.append((f"usr/share/doc/{name}/copyright", f"{name}: base {b}\n".encode()))
        files = [("etc/os-release", OS_RELEASE),
                 ("var/lib/dpkg/status", ("\n\n".join(status_text) + "\n").encode())] + files
        bases.append(tar_gz(files))

    def top(b, t):
        image_rng = random.Random(b * 100_000 + t)
        picked = image_rng.sample(pool[:200], image_rng.randint(2, 6))
        text = "\n\n".join(with_version(s, f"{v}+app{t}") for _, v, s in picked) + "\n"
        return tar_gz([("var/lib/dpkg/status.d/app", text.encode()),
                       ("srv/app/build-id", f"base {b} image {t}\n".encode())])

    def push_repo(b):
        repo = f"bench/app-{b:02d}"
        blob, diff_id = bases[b]
        base_desc = registry.upload(repo, blob)
        images = []
        for t in range(TOPS):
            top_blob, top_diff = top(b, t)
            digest = registry.manifest(repo, f"t{t:03d}", [base_desc, registry.upload(repo, top_blob)],
                                       [diff_id, top_diff])
            images.append({"repository": repo, "tag": f"t{t:03d}", "digest": digest})
        return images

    with ThreadPoolExecutor(THREADS) as pool_exec:
        images = [i for repo in pool_exec.map(push_repo, range(BASES)) for i in repo]
    assert len({i["digest"] for i in images}) == len(images), "image digests are not distinct"
    with open(os.path.join(out, "images.json"), "w") as f:
        json.dump(images, f)

    # Old database: per package, records fixed long ago plus some still open.
    old = []
    for index, (name, version, _) in enumerate(sorted(pool)):
        for r in range(RECORDS_PER_PACKAGE):
            open_ = rng.random() < 0.1
            old.append(osv(f"DEBIAN-CVE-2020-{index:05d}{r}", name, None if open_ else "0.0.1~"))
    # New records: published against popular packages (the pool's head),
    # still open or fixed in a version above the installed one.
    new = list(old)
    for n in range(NEW_RECORDS):
        name, version, _ = pool[rng.randrange(min(len(pool), 300))]
        fixed = f"{version}+deb12u99" if rng.random() < 0.5 else None
        new.append(osv(f"DEBIAN-CVE-2026-{n:05d}", name, fixed, CRITICAL if n % 4 == 0 else HIGH))
    write_db(os.path.join(out, "db-old"), old)
    write_db(os.path.join(out, "db-new"), new)
    base_bytes = sum(len(b) for b, _ in bases)
    print(json.dumps({"images": len(images), "bases": BASES, "packagePool": len(pool),
                      "baseLayerBytes": base_bytes, "oldRecords": len(old), "newRecords": len(new)}))


if __name__ == "__main__":
    main()
