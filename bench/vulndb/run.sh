#!/usr/bin/env bash
# Vulnerability-database benchmark, one command: bench/vulndb/run.sh
#
# Generates (once, cached under .cache/bench-vulndb/) a synthetic OSV export
# of realistic size and shape (bench/vulndb/corpus.rs: 506,000 records over
# 18 ecosystems, <root>/<Ecosystem>/all.zip), then measures, each phase in
# a fresh process (so peak RSS is the phase's own):
#   - baseline: read every zip and inflate every entry, no parsing (median of RUNS)
#   - cold load of the zips, as scangate does without a snapshot (median of RUNS)
#   - writing the snapshot; reading its bytes (baseline); loading it (median of RUNS)
#   - matching a 1,000-package inventory against the loaded database (median of 200)
# and prints a Markdown table with the ratios load/inflate and
# snapshot-load/snapshot-read. The zips are in the page cache for every
# run (the first inflate warms it): "cold" means a fresh process.
# RUNS=3 by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${RUNS:-3}
CACHE=$ROOT/.cache/bench-vulndb
CORPUS=$CACHE/osv
SNAPSHOTS=$CACHE/snapshots
mkdir -p "$CACHE"

cargo build --quiet --release --example vulndb_bench
BENCH=$ROOT/target/release/examples/vulndb_bench
WANT_VERSION=$(sed -n 's/^pub const CORPUS_VERSION: u32 = \([0-9]*\);/\1/p' bench/vulndb/corpus.rs)
if [ "$(cat "$CORPUS/.corpus-version" 2>/dev/null)" != "$WANT_VERSION" ]; then
  echo "generating the corpus (once)" >&2
  rm -rf "$CORPUS"
  "$BENCH" generate "$CORPUS" > "$CACHE/generate.json"
fi

OUT=$CACHE/results.jsonl
: > "$OUT"
{
  echo "{\"phase\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"commit\":\"$(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)\",\"cpus\":$(nproc),\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"memAvailableMiB\":$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo),\"zipMiB\":$(du -sm "$CORPUS" | cut -f1)}"
  cat "$CACHE/generate.json"
} >> "$OUT"
"$BENCH" inflate "$CORPUS" > /dev/null   # warm the page cache
for _ in $(seq "$RUNS"); do "$BENCH" inflate "$CORPUS" >> "$OUT"; done
for _ in $(seq "$RUNS"); do "$BENCH" load "$CORPUS" >> "$OUT"; done
rm -rf "$SNAPSHOTS"
"$BENCH" snapshot-write "$CORPUS" "$SNAPSHOTS" | tee -a "$OUT" > "$CACHE/snapshot.json"
SNAPSHOT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file"])' "$CACHE/snapshot.json")
for _ in $(seq "$RUNS"); do "$BENCH" snapshot-read "$SNAPSHOT" >> "$OUT"; done
for _ in $(seq "$RUNS"); do "$BENCH" snapshot-load "$SNAPSHOT" >> "$OUT"; done
"$BENCH" match "$SNAPSHOT" 200 >> "$OUT"
echo "{\"phase\":\"end\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$OUT"

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["phase"], []).append(r)
med = lambda phase, key: statistics.median(r[key] for r in by[phase])
m, g, end = by["machine"][0], by["generate"][0], by["end"][0]
print(f"machine: {m['cpus']} CPUs, load average {m['loadavg']} at start, {end['loadavg']} at end; "
      f"{m['memAvailableMiB']} MiB available; commit {m['commit']}; {m['date']}")
print(f"corpus: {g['records']} records, {g['jsonBytes']/2**20:.0f} MiB of JSON in {g['zipBytes']/2**20:.0f} MiB of zips "
      f"(mean record {g['jsonBytes']/g['records']:.0f} bytes)")
load, inflate = med("load", "ms"), med("inflate", "ms")
sload, sread = med("snapshot-load", "ms"), med("snapshot-read", "ms")
match = by["match"][0]
print()
print("| measurement | result | target |")
print("|---|---|---|")
print(f"| baseline: read + inflate every zip entry, no parsing (median of {len(by['inflate'])}) | {inflate/1000:.2f} s | |")
print(f"| cold load of the zips: {by['load'][0]['records']} records (median of {len(by['load'])}) | **{load/1000:.2f} s** | < 20 s |")
print(f"| cold load / inflate | {load/inflate:.2f}x | |")
print(f"| peak RSS of the cold load (max of {len(by['load'])}) | **{max(r['peakRssMiB'] for r in by['load'])/1024:.2f} GiB** | < 1.5 GB |")
print(f"| RSS after the load (the database in service) | {med('load', 'rssAfterMiB')/1024:.2f} GiB | |")
w = by["snapshot-write"][0]
print(f"| snapshot write ({w['bytes']/2**20:.0f} MiB) | {w['ms']/1000:.2f} s | |")
print(f"| baseline: read the snapshot file's bytes (median of {len(by['snapshot-read'])}) | {sread/1000:.2f} s | |")
print(f"| snapshot load (median of {len(by['snapshot-load'])}) | **{sload/1000:.2f} s** | < 2 s |")
print(f"| snapshot load / read | {sload/max(sread,1):.1f}x | |")
print(f"| peak RSS of the snapshot load | {max(r['peakRssMiB'] for r in by['snapshot-load'])/1024:.2f} GiB | |")
print(f"| match {match['packages']} packages ({match['findings']} findings), median of {match['runs']} | **{match['medianMs']:.2f} ms** (p99 {match['p99Ms']:.2f} ms) | < 5 ms |")
PY
