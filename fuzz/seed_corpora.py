#!/usr/bin/env python3
"""Writes the seed inputs (fuzz/corpus/<target>/seed-*) from real files.

Run once by hand (python3 fuzz/seed_corpora.py); the seeds it wrote are
committed with the rest of each corpus, so neither CI nor a fuzzing run
needs the sources. Rerunning it replaces only the seed-* files. Sources, all
real files (see fuzz/corpus/SOURCES.md):

- the repository's own test data (tests/data, tests/fixtures: the rpm, apk
  databases copied from /work/shared/fixtures, examples/images);
- the OSV exports in /work/shared/osv (records, ranges, versions);
- files of the Debian 12 machine the tests run on and already use as
  oracles: /var/lib/dpkg/status, npm's own node_modules, Debian's jars,
  a Composer 2 installed.json written by `composer install`.

Big databases are cut down to a few packages (the same headers, in a
smaller file of the same format), so that the fuzzer's inputs stay small.
"""

import gzip
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DATA = os.path.join(ROOT, "tests", "data")
OSV = os.environ.get("SCANGATE_OSV", os.path.join(ROOT, "..", "..", "shared", "osv"))
if not os.path.isdir(OSV):
    OSV = "/work/shared/osv"

# Index of each scheme in the SCHEMES arrays of version_order.rs / osv_ranges.rs.
SCHEME = {"Dpkg": 0, "Rpm": 1, "Apk": 2, "Pep440": 3, "Npm": 4, "Go": 5,
          "Cargo": 6, "Maven": 7, "RubyGems": 8, "NuGet": 9, "Packagist": 10}
# Index of each path in detectors.rs PATHS.
DETECTOR_PATH = {"os-release": 0, "dpkg": 5, "apk": 7, "rpm-sqlite": 9, "rpm-bdb": 10,
                 "rpm-ndb": 11, "binary": 12, "python": 13, "npm": 16, "java": 17,
                 "gem": 18, "composer": 19, "dotnet": 20}

written = {}


def put(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, "seed-" + name), "wb") as f:
        f.write(data)
    written.setdefault(target, []).append((name, len(data)))


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --- rpm -----------------------------------------------------------------

def mariner_headers(count):
    db = sqlite3.connect(
        "file:" + os.path.join(FIXTURES, "rpmdb/cbl-mariner-2.0-rpmdb.sqlite")
        + "?mode=ro&immutable=1", uri=True)
    rows = db.execute("SELECT hnum, blob FROM Packages ORDER BY length(blob)").fetchall()
    return rows[:count]


def ndb_headers(path):
    db = read(path)
    slot_pages = struct.unpack_from("<I", db, 12)[0]
    out = []
    for at in range(32, slot_pages * 4096, 16):
        magic, pkg, block, _ = struct.unpack_from("<4sIII", db, at)
        if magic != b"Slot" or pkg == 0:
            continue
        start = block * 16
        length = struct.unpack_from("<I", db, start + 12)[0]
        out.append(db[start + 16:start + 16 + length])
    return out


def make_ndb(headers):
    """An NDB file as rpm writes it: one slot page, then 16-byte-block blobs."""
    slots = bytearray(4096)
    slots[0:16] = b"RpmP" + struct.pack("<III", 0, 1, 1)
    blobs = bytearray()
    block = 4096 // 16
    for i, header in enumerate(headers, start=1):
        blob = b"BlbS" + struct.pack("<III", i, 1, len(header)) + header
        blob += b"\0" * (-len(blob) % 16) + b"\0" * 16  # rpm's tail: checksum, length
        blocks = len(blob) // 16
        slots[32 + (i - 1) * 16:32 + i * 16] = b"Slot" + struct.pack("<III", i, block, blocks)
        blobs += blob
        block += blocks
    for i in range(len(headers), (4096 - 32) // 16):
        slots[32 + i * 16:36 + i * 16] = b"Slot"
    return bytes(slots + blobs)


def make_sqlite(keep):
    """The Mariner rpmdb cut down to `keep` packages, every table kept."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rpmdb.sqlite")
        shutil.copy(os.path.join(FIXTURES, "rpmdb/cbl-mariner-2.0-rpmdb.sqlite"), path)
        db = sqlite3.connect(path)
        hnums = ",".join(str(h) for h, _ in mariner_headers(keep))
        for (table,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            column = "hnum" if table == "Packages" else None
            cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            if "hnum" in cols:
                column = "hnum"
            if column:
                db.execute(f'DELETE FROM "{table}" WHERE {column} NOT IN ({hnums})')
            else:
                db.execute(f'DELETE FROM "{table}"')
        db.commit()
        db.execute("VACUUM")
        db.close()
        return read(path)


def rpm_seeds():
    headers = mariner_headers(3)
    for hnum, blob in headers:
        put("rpm_header", f"mariner-{hnum}", blob)
    sle = ndb_headers(os.path.join(FIXTURES, "rpmdb/sle15-bci-Packages.ndb"))
    sle.sort(key=len)
    for i, blob in enumerate(sle[:2]):
        put("rpm_header", f"sle15-{i}", blob)
    put("rpm_sqlite", "mariner-3-packages.sqlite", make_sqlite(3))
    put("rpm_sqlite", "mariner-1-package.sqlite", make_sqlite(1))
    put("rpm_ndb", "sle15-2-packages.ndb", make_ndb(sle[:2]))
    put("rpm_ndb", "sle15-1-package.ndb", make_ndb(sle[:1]))
    put("rpm_bdb", "libuuid-Packages.bdb", read(os.path.join(FIXTURES, "rpmdb/libuuid-Packages.bdb")))
    # Berkeley DB hash rpmdbs written by db5.3_load, as tests/it/inventory_system.rs
    # does, from two small Mariner headers: in-page items (64 KiB pages) and
    # overflow chains (512-byte pages), both byte orders.
    if shutil.which("db5.3_load"):
        for pagesize, order in [(65536, 1234), (512, 4321)]:
            with tempfile.TemporaryDirectory() as tmp:
                dump = ["VERSION=3", "format=bytevalue", "type=hash",
                        f"db_pagesize={pagesize}", f"db_lorder={order}", "HEADER=END"]
                dump += [" 00000000", " " + struct.pack("<I", 3).hex()]
                for hnum, blob in headers[:2]:
                    dump += [" " + struct.pack("<I", hnum).hex(), " " + blob.hex()]
                dump.append("DATA=END\n")
                path = os.path.join(tmp, "Packages")
                subprocess.run(["db5.3_load", path], input="\n".join(dump).encode(), check=True)
                put("rpm_bdb", f"mariner-2-packages-{pagesize}-{order}.bdb", read(path))


# --- OS databases --------------------------------------------------------

def dpkg_seeds():
    status = read("/var/lib/dpkg/status").decode("utf-8", "replace").split("\n\n")
    put("dpkg_status", "debian12-status-12", "\n\n".join(status[:12]) + "\n")
    stanza = [s for s in status if "Source: " in s and "(" in s.split("Source: ")[1].split("\n")[0]]
    if stanza:
        # distroless status.d files carry no Status field.
        one = "\n".join(l for l in stanza[0].split("\n") if not l.startswith("Status:"))
        put("dpkg_status", "distroless-status.d-entry", one + "\n")


def apk_seeds():
    text = read(os.path.join(FIXTURES, "apk/installed"))
    put("apk_installed", "trivy-installed", text)
    put("apk_installed", "trivy-installed-first-3", b"\n\n".join(text.split(b"\n\n")[:3]) + b"\n")


# --- language ecosystems -------------------------------------------------

def language_seeds():
    py = os.path.join(DATA, "language/python")
    put("python_metadata", "PyYAML-6.0-METADATA", read(os.path.join(py, "PyYAML-6.0.dist-info/METADATA")))
    put("python_metadata", "PyJWT-2.6.0-PKG-INFO", read(os.path.join(py, "PyJWT-2.6.0.egg-info/PKG-INFO")))
    put("python_metadata", "pycairo-1.20.1.egg-info", read(os.path.join(py, "pycairo-1.20.1.egg-info")))

    npm = "/usr/lib/node_modules/npm"
    put("npm_package", "npm-package.json", read(os.path.join(npm, "package.json")))
    for name in ["abbrev", "@npmcli/arborist", "semver"]:
        p = os.path.join(npm, "node_modules", name, "package.json")
        if os.path.exists(p):
            put("npm_package", name.replace("/", "_") + "-package.json", read(p))

    ruby = os.path.join(DATA, "language/ruby/specifications")
    for f in sorted(os.listdir(ruby)):
        put("gemspec", f, read(os.path.join(ruby, f)))

    put("dotnet_deps", "WebApp.deps.json", read(os.path.join(DATA, "language/dotnet/WebApp.deps.json")))

    # Composer 2's installed.json, written by a real offline `composer install`
    # exactly as tests/it/inventory_language.rs does; Composer 1's is the bare array.
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "pkgs/acme-log/composer.json": '{"name":"acme/log","version":"1.4.2","type":"library"}',
            "pkgs/acme-http/composer.json": '{"name":"acme/http","version":"2.0.1","type":"library","require":{"acme/log":"^1.4"}}',
            "app/composer.json": '{"name":"acme/app","repositories":[{"packagist.org":false},{"type":"path","url":"../pkgs/*","options":{"symlink":false}}],"require":{"acme/http":"2.0.1"}}',
        }
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w") as f:
                f.write(text)
        subprocess.run(["composer", "install", "--quiet", "--no-interaction", "--no-plugins"],
                       cwd=os.path.join(tmp, "app"), check=True,
                       env=dict(os.environ, COMPOSER_HOME=os.path.join(tmp, "home")))
        installed = read(os.path.join(tmp, "app/vendor/composer/installed.json"))
        put("composer", "composer2-installed.json", installed)
        put("composer", "composer1-installed.json", json.dumps(json.loads(installed)["packages"]))

    jars = {}
    for name in ["slf4j-nop", "wagon-file", "guice-jndi"]:
        path = os.path.realpath(f"/usr/share/java/{name}.jar")
        jars[name] = read(path)
        put("java_archive", f"{name}.jar", jars[name])
    # A Spring Boot style fat jar of two of them, as nested_jars_in_a_fat_jar builds.
    fat = io.BytesIO()
    with zipfile.ZipFile(fat, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nImplementation-Title: app\r\nImplementation-Version: 1.0\r\n\r\n")
        for name in ["slf4j-nop", "guice-jndi"]:
            info = zipfile.ZipInfo(f"BOOT-INF/lib/{name}.jar")
            info.compress_type = zipfile.ZIP_STORED
            z.writestr(info, jars[name])
    put("java_archive", "fat-app.jar", fat.getvalue())

    # The Go binary of examples/images/payments-api (go1.19.8), cut to its ELF
    # header and its build information: that is all the detector reads.
    go = go_binary()
    if go:
        at = next(i for i in range(0, len(go), 16) if go[i:i + 14] == b"\xff Go buildinf:")
        put("go_buildinfo", "payments-api-buildinfo", go[:64] + b"\0" * 64 + go[at:at + 2048])

    # cargo auditable's `.dep-v0` section (zlib JSON, its format) describing
    # tests/data/language/rust-sample/Cargo.lock, in a small ELF object.
    if shutil.which("gcc") and shutil.which("objcopy"):
        put("cargo_auditable", "rust-sample-dep-v0.o", auditable_object())


def go_binary():
    layout = os.path.join(ROOT, "examples/images/payments-api")
    index = json.loads(read(os.path.join(layout, "index.json")))
    blob = lambda d: read(os.path.join(layout, "blobs/sha256", d.split(":")[1]))
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as tar:
            for member in tar:
                if member.isfile() and member.mode & 0o111:
                    data = tar.extractfile(member).read()
                    if data.startswith(b"\x7fELF"):
                        return data
    return None


def lock_packages():
    text = read(os.path.join(DATA, "language/rust-sample/Cargo.lock")).decode()
    packages = []
    for block in text.split("[[package]]")[1:]:
        fields = {}
        for line in block.strip().splitlines():
            if " = " in line:
                k, v = line.split(" = ", 1)
                fields[k] = v.strip('"')
        packages.append(fields)
    return packages


def auditable_object():
    packages = lock_packages()
    deps = {"packages": []}
    for p in packages:
        entry = {"name": p["name"], "version": p["version"]}
        entry["source"] = "crates.io" if "source" in p else "local"
        if "source" not in p:
            entry["root"] = True
        deps["packages"].append(entry)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "a.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        obj = os.path.join(tmp, "a.o")
        subprocess.run(["gcc", "-c", "-Os", src, "-o", obj], check=True)
        sec = os.path.join(tmp, "dep")
        with open(sec, "wb") as f:
            f.write(zlib.compress(json.dumps(deps, separators=(",", ":")).encode(), 9))
        subprocess.run(["objcopy", "--add-section", f".dep-v0={sec}", obj], check=True)
        return read(obj)


# --- admission, references ------------------------------------------------

def admission_seeds():
    reviews = os.path.join(DATA, "admission/reviews")
    images = []
    for f in sorted(os.listdir(reviews)):
        body = read(os.path.join(reviews, f))
        put("admission_review", f, body)
        def walk(v):
            if isinstance(v, dict):
                for k, x in v.items():
                    if k == "image" and isinstance(x, str):
                        images.append(x)
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(json.loads(body))
    images += list(json.loads(read(os.path.join(DATA, "admission/images.json"))))
    for i, image in enumerate(dict.fromkeys(images)):
        put("image_reference", f"ref-{i}", image)


# --- layers ----------------------------------------------------------------

def layer_seeds():
    # The sample images' small layers as they are stored (gzip tar).
    for image in ["static-site", "payments-api"]:
        layout = os.path.join(ROOT, "examples/images", image)
        index = json.loads(read(os.path.join(layout, "index.json")))
        blob = lambda d: read(os.path.join(layout, "blobs/sha256", d.split(":")[1]))
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            data = blob(layer["digest"])
            if len(data) < 64 << 10:
                put("layer_walker", f"{image}-{layer['digest'][7:19]}.tar.gz", data)
    # An Alpine-like layer with a whiteout, an opaque directory, a symlink
    # and a hard link, plain and gzip.
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode, info.size = kind, link, mode, len(data)
            tar.addfile(info, io.BytesIO(data))
        add("etc/", kind=tarfile.DIRTYPE, mode=0o755)
        add("etc/os-release", b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\n')
        add("lib/apk/db/installed", b"\n\n".join(read(os.path.join(FIXTURES, "apk/installed")).split(b"\n\n")[:2]) + b"\n")
        add("usr/lib/python3/site-packages/PyYAML-6.0.dist-info/METADATA",
            read(os.path.join(DATA, "language/python/PyYAML-6.0.dist-info/METADATA")))
        add("usr/lib/python3/site-packages/.wh.old-1.0.dist-info")
        add("opt/app/.wh..wh..opq")
        add("etc/alpine-release", kind=tarfile.SYMTYPE, link="os-release")
        add("etc/os-release.bak", kind=tarfile.LNKTYPE, link="etc/os-release")
    put("layer_walker", "alpine-like.tar", tar_bytes.getvalue())
    put("layer_walker", "alpine-like.tar.gz", gzip.compress(tar_bytes.getvalue(), mtime=0))


# --- OSV -----------------------------------------------------------------

def osv_records(ecosystem, count):
    with zipfile.ZipFile(os.path.join(OSV, ecosystem, "all.zip")) as z:
        names = sorted(z.namelist())
        picked = []
        for name in names:
            record = json.loads(z.read(name))
            ranges = [r for a in record.get("affected", []) for r in a.get("ranges", [])
                      if r.get("type") in ("ECOSYSTEM", "SEMVER")]
            if ranges and len(z.read(name)) < 4096:
                picked.append((name, record))
            if len(picked) == count:
                break
        return picked


def osv_seeds():
    schemes = {"Go": "Go", "crates.io": "Cargo", "AlmaLinux": "Rpm"}
    for ecosystem, scheme in schemes.items():
        for name, record in osv_records(ecosystem, 4):
            events = [e for a in record["affected"] for r in a.get("ranges", []) for e in r["events"]]
            versions = [v for e in events for v in e.values() if v != "0"]
            installed = versions[0] if versions else "1.0.0"
            body = json.dumps(record).encode()
            put("osv_record", f"{ecosystem}-{name}", bytes([len(installed)]) + installed.encode() + body)
            lines = [installed]
            for a in record["affected"]:
                for r in a.get("ranges", []):
                    for e in r["events"]:
                        for k, v in e.items():
                            tag = {"introduced": "i", "fixed": "f", "last_affected": "l", "limit": "m"}.get(k)
                            if tag:
                                lines.append(f"{tag} {v}")
                    lines.append("-")
                for v in a.get("versions", [])[:5]:
                    lines.append(f"v {v}")
            put("osv_ranges", f"{ecosystem}-{name}", bytes([SCHEME[scheme]]) + "\n".join(lines).encode())
            if len(versions) >= 2:
                triple = (versions + versions)[:3]
                put("version_order", f"{ecosystem}-{name}", bytes([SCHEME[scheme]]) + "\n".join(triple).encode())
    # The other orderings, from the cases their unit tests and oracles use.
    triples = {
        "Dpkg": ["1:2.36-9+deb12u4", "2.36~rc1-1", "2.36-9"],
        "Apk": ["1.36.1-r2", "1.36.1_rc1-r0", "1.36.1-r10"],
        "Pep440": ["1.0.post1", "1.0rc1", "1!0.5.dev3+local.7"],
        "Npm": ["1.2.3-alpha.1", "1.2.3", "1.2.3-alpha.beta+build.5"],
        "Maven": ["1.0-SNAPSHOT", "1.0.0.RELEASE", "1.0-alpha-1"],
        "RubyGems": ["1.0.0.pre", "1.0.0.a.1", "1.0"],
        "NuGet": ["1.0.0-beta", "1.0.0", "1.0.0.1"],
        "Packagist": ["v1.0.0-beta2", "1.0.0-RC1", "dev-master"],
        "Rpm": ["2:1.0-1.el9", "1.0~rc1-1", "1.0^git1-1"],
    }
    for scheme, vs in triples.items():
        put("version_order", f"{scheme}-cases", bytes([SCHEME[scheme]]) + "\n".join(vs).encode())
        put("osv_ranges", f"{scheme}-cases", bytes([SCHEME[scheme]]) + "\n".join(
            [vs[2], f"i {vs[1]}", f"f {vs[0]}", "-", "i 0", f"l {vs[2]}", f"v {vs[0]}"]).encode())


def detector_seeds():
    # Every detector's seeds again, behind the selector byte of its path.
    mapping = {"dpkg_status": "dpkg", "apk_installed": "apk", "rpm_sqlite": "rpm-sqlite",
               "rpm_bdb": "rpm-bdb", "rpm_ndb": "rpm-ndb", "python_metadata": "python",
               "npm_package": "npm", "java_archive": "java", "gemspec": "gem",
               "composer": "composer", "dotnet_deps": "dotnet", "go_buildinfo": "binary",
               "cargo_auditable": "binary"}
    for target, path in mapping.items():
        for name, _ in list(written.get(target, [])):
            data = read(os.path.join(OUT, target, "seed-" + name))
            if len(data) <= 128 << 10:
                put("detectors", f"{target}-{name}", bytes([DETECTOR_PATH[path]]) + data)
    put("detectors", "os-release", bytes([DETECTOR_PATH["os-release"]]) + read("/etc/os-release"))


# --- bbolt ---------------------------------------------------------------

def bbolt_seeds():
    """Small bbolt files written by the real Go bbolt (tests/tools/trivydb-writer,
    built by scripts/deps/trivydb.sh) with 1 KiB pages, cut to the pages in use."""
    writer = os.path.join(ROOT, ".cache", "tools", "bin", "trivydb-writer")
    trivy = os.path.join(DATA, "trivydb")
    runs = {
        "empty": ["synthetic", "-case", "empty"],
        "deep": ["synthetic", "-case", "deep"],
        "fixtures-debian": ["fixtures", os.path.join(trivy, "debian.yaml"),
                            os.path.join(trivy, "data-source.yaml")],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in runs.items():
            db = os.path.join(tmp, name + ".db")
            subprocess.run([writer, args[0], "-o", db, "-page-size", "1024"] + args[1:], check=True)
            data = read(db)
            page_size = struct.unpack_from("<I", data, 16 + 8)[0]
            pages = max(struct.unpack_from("<Q", data, at + 16 + 40)[0] for at in (0, page_size))
            put("bbolt_file", name, data[: pages * page_size])


def main():
    if os.path.isdir(OUT):
        for target in os.listdir(OUT):
            for name in os.listdir(os.path.join(OUT, target)):
                if name.startswith("seed-"):
                    os.remove(os.path.join(OUT, target, name))
    rpm_seeds()
    dpkg_seeds()
    apk_seeds()
    language_seeds()
    admission_seeds()
    layer_seeds()
    osv_seeds()
    detector_seeds()
    bbolt_seeds()
    total = 0
    for target in sorted(written):
        size = sum(s for _, s in written[target])
        total += size
        print(f"{target:18} {len(written[target]):3} files {size:9} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
