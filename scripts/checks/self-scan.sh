#!/usr/bin/env bash
# scangate scans itself: the scangate binary, built with cargo-auditable
# (its dependency list embedded), packed as a one-layer image and scanned by
# `scangate scan` against the RustSec records in ../shared/osv/crates.io,
# under .ci/self-scan/policy.yaml. Any finding not excepted there fails.
#
# The debug profile is used: cargo-auditable wraps only the workspace crate,
# so the dependencies already built for the tests are reused, and the
# dependency graph (what is scanned) is the same as the release build's.
set -euo pipefail
cd "$(dirname "$0")/../.."
OSV=${SCANGATE_SELF_SCAN_OSV:-../shared/osv/crates.io}
if [ ! -f "$OSV/all.zip" ]; then
  echo "self-scan: no RustSec export at $OSV/all.zip" >&2
  exit 1
fi
export PATH="$PWD/.cache/cargo-auditable/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A separate target dir would rebuild every dependency; the wrapper changes
# only scangate's own fingerprint, so the shared one stays cheap.
cargo auditable build --quiet --bin scangate
mkdir -p "$work/db"
ln -s "$(cd "$OSV" && pwd)" "$work/db/crates.io"
python3 - "$work/image.tar" target/debug/scangate <<'PY'
import hashlib, io, json, sys, tarfile
out, binary = sys.argv[1], sys.argv[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    t.add(binary, arcname="usr/local/bin/scangate")
layer = layer.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": ["scangate:self"],
    "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, mode="w") as t:
    for name, data in [("layer.tar", layer), (config_name, config), ("manifest.json", manifest)]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
target/debug/scangate scan "docker-archive:$work/image.tar" \
  --db "$work/db" --policy .ci/self-scan/policy.yaml --exit-code 1 --format table
