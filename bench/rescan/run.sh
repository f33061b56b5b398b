#!/usr/bin/env bash
# Re-scan benchmark, one command: bench/rescan/run.sh
#
# Starts Debian's docker-registry on a loopback port over a storage
# directory that holds (generated once by bench/rescan/images.py, cached
# under .cache/bench-rescan/) 2,000 distinct images sharing 50 base layers
# (50 repositories x 40 tags; each image is its base layer plus its own small
# top layer; real dpkg status data), and an old and a new Debian OSV
# database. Then bench/rescan/main.rs (the rescan_bench example), in one
# process wired like `scangate serve`:
#   - scans every running digest once with the old database (warm-up: the
#     layer cache fills as a running webhook's would),
#   - measures admission (POST /validate through the real TLS server, warm
#     caches) at RATE requests/s, open loop, for SECONDS,
#   - swaps in the new database, sends each hot review once (their cached
#     verdicts were for the old revision: timed and reported apart), and
#     runs one re-scan pass over all 2,000 digests (RescanController::tick -> Rescanner, under
#     rescan.maxConcurrentRescans) while the same admission load runs,
# and prints the JSON result and a Markdown table: total time, peak RSS,
# admission p99 before vs during and their ratio.
# Environment: RATE (200), SECONDS (10), HOT (20), MAX_CONCURRENT_RESCANS
# (config default), RESCAN_CPU_NICE (config default), HISTORY (1),
# MANIFEST_CACHE_BYTES (config default; 0: every re-scan asks the registry), WRAP (a
# command to run the bench under, e.g. `perf sched record -o F --`), and the
# generator's BASES (50), TOPS (40)...
# Needs: docker-registry (scripts/deps/registry.sh), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/.cache/bench-rescan
KEY=$( (cat bench/rescan/images.py; env | grep -E '^(BASES|TOPS|PKG_MIN|PKG_MAX|RECORDS_PER_PACKAGE|NEW_RECORDS)=' | sort; md5sum /var/lib/dpkg/status) | sha256sum | cut -c1-16)
DATA=$CACHE/$KEY
mkdir -p "$CACHE"

WORK=$(mktemp -d); REG_PID=""
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
cat > "$WORK/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $DATA/storage}}
http: {addr: $ADDR}
YAML
if [ ! -f "$DATA/done" ]; then rm -rf "$DATA"; mkdir -p "$DATA/storage"; fi
docker-registry serve "$WORK/config.yml" >/dev/null 2>&1 & REG_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/v2/" && break; sleep 0.1; done
if [ ! -f "$DATA/done" ]; then
  echo "generating and pushing the images (once, about a minute)" >&2
  python3 bench/rescan/images.py "$ADDR" "$DATA" > "$DATA/generate.json"
  touch "$DATA/done"
fi

cargo build --quiet --release --example rescan_bench
OUT=$CACHE/result.json
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
${WRAP:-} "$ROOT/target/release/examples/rescan_bench" "$ADDR" "$DATA/images.json" "$DATA/db-old" "$DATA/db-new" > "$OUT"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$OUT"
python3 - "$OUT" "$DATA/generate.json" "$LOAD_START" "$LOAD_END" "$(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)" <<'PY'
import json, sys
r, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a, s, w = r["admission"], r["rescan"], r["warmup"]
print(f"\n{r['images']} images over {g['bases']} base layers ({g['packagePool']}-package pool), "
      f"databases of {g['oldRecords']} and {g['newRecords']} records; maxConcurrentRescans {r['maxConcurrentRescans']}, "
      f"history {'on' if r['history'] else 'off'}; load average {sys.argv[3]} at start, {sys.argv[4]} at end; commit {sys.argv[5]}\n")
print("| measurement | result | target |")
print("|---|---|---|")
print(f"| warm-up: first scan of every digest, old database ({w['layerAnalyses']} layers analyzed) | {w['ms']/1000:.1f} s | |")
print(f"| re-scan of {s['rescanned']} digests after the database change ({s['failed']} failed, {s['layerAnalyses']} layers analyzed, {s['layerCacheHits']} cache hits) | **{s['ms']/1000:.1f} s** | < 60 s |")
print(f"| new findings alerted by the pass | {s['newFindingsAlerted']} | |")
print(f"| RSS before the pass / peak during it / after | {s['rssBeforeMiB']:.0f} / **{s['peakRssMiB']:.0f}** / {s['rssAfterMiB']:.0f} MiB | < 500 MB |")
print(f"| admission p50 / p99 before, {a['rate']:.0f} req/s ({a['before']['requests']} reviews) | {a['before']['p50Ms']:.2f} / {a['before']['p99Ms']:.2f} ms | |")
print(f"| admission p50 / p99 during the pass ({a['during']['requests']} reviews, {a['duringFailed']} failed) | {a['during']['p50Ms']:.2f} / {a['during']['p99Ms']:.2f} ms | |")
print(f"| admission p99 during / before | **{a['p99Ratio']:.2f}x** | < 2x |")
f = a["firstAfterSwapMs"]
print(f"| first review of each of the {a['hotImages']} hot images after the swap (its verdict re-matched; before the pass) | p50 {f['p50']:.2f} / max {f['max']:.2f} ms | |")
PY
