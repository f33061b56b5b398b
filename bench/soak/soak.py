#!/usr/bin/env python3
"""Soak run of `scangate serve`: mixed hits and misses for a set duration,
sampling the server's RSS and open file descriptors.

Everything is real and local: a `docker-registry` on loopback holding
IMAGES small Debian images (pushed over its HTTP API), a one-record Debian
OSV database, a certificate made with `openssl`, and `scangate serve` with
a short verdict TTL, so that misses keep happening all run long. The load
generator is this script: THREADS keep-alive TLS connections sending
AdmissionReviews at RATE requests/s in total:

- HIT_SHARE of them name one of HOT images (cached after the first scan),
- the rest name a random one of all IMAGES (a miss whenever its verdict
  expired), and one in twenty of those a tag that does not exist (a
  resolution error, cached for errorTtl).

Every SAMPLE seconds it reads VmRSS and the number of entries in
/proc/PID/fd; at the end it prints a Markdown summary (and writes
samples.csv and summary.md into OUT).

Environment: SCANGATE_BIN (required), DURATION (seconds, 1800), RATE (40),
THREADS (4), IMAGES (300), HOT (10), HIT_SHARE (0.8), SAMPLE (10),
VERDICT_TTL (60s), OUT (a temporary directory).
"""

import gzip
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import zipfile


def env(name, default, kind=str):
    return kind(os.environ.get(name, default))


BIN = os.environ.get("SCANGATE_BIN")
DURATION = env("DURATION", 1800, int)
RATE = env("RATE", 40, float)
THREADS = env("THREADS", 4, int)
IMAGES = env("IMAGES", 300, int)
HOT = env("HOT", 10, int)
HIT_SHARE = env("HIT_SHARE", 0.8, float)
SAMPLE = env("SAMPLE", 10, int)
VERDICT_TTL = env("VERDICT_TTL", "60s")
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="scangate-soak-")

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(name):
    files = [
        ("etc/os-release", OS_RELEASE),
        (
            "var/lib/dpkg/status",
            b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\nDescription: test\n\n",
        ),
        ("srv/name", name.encode()),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), sha256(raw)


def push(registry, repo, tag, name):
    blob, diff_id = layer(name)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {},
        }
    ).encode()

    def upload(data):
        request = urllib.request.Request(
            f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST"
        )
        with urllib.request.urlopen(request) as response:
            location = response.headers["Location"]
        if not location.startswith("http"):
            location = f"http://{registry}{location}"
        separator = "&" if "?" in location else "?"
        request = urllib.request.Request(
            f"{location}{separator}digest={sha256(data)}",
            data=data,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(request).close()
        return {"digest": sha256(data), "size": len(data)}

    config_desc = upload(config)
    layer_desc = upload(blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
        }
    ).encode()
    request = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        data=manifest,
        method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    urllib.request.urlopen(request).close()


def review(uid, image):
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "name": "soak",
                "namespace": "soak",
                "operation": "CREATE",
                "userInfo": {"username": "soak"},
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "soak", "namespace": "soak"},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
                "oldObject": None,
                "dryRun": False,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            },
        }
    ).encode()


class Load:
    def __init__(self, port, cafile, registry):
        self.port, self.registry = port, registry
        self.context = ssl.create_default_context(cafile=cafile)
        self.lock = threading.Lock()
        self.counts = {}
        self.latencies = []
        self.stop = threading.Event()

    def count(self, outcome, seconds):
        with self.lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.latencies.append(seconds)

    def image(self, rng):
        if rng.random() < HIT_SHARE:
            return f"{self.registry}/soak/app-{rng.randrange(HOT)}:v1"
        if rng.random() < 0.05:
            return f"{self.registry}/soak/app-{rng.randrange(IMAGES)}:missing"
        return f"{self.registry}/soak/app-{rng.randrange(IMAGES)}:v1"

    def worker(self, index):
        rng = random.Random(index)
        interval = THREADS / RATE
        connection = None
        sent = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += interval
            if connection is None:
                connection = http.client.HTTPSConnection(
                    "localhost", self.port, context=self.context, timeout=30
                )
            body = review(f"soak-{index}-{sent}", self.image(rng))
            sent += 1
            started = time.monotonic()
            try:
                connection.request(
                    "POST", "/validate", body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                data = response.read()
                seconds = time.monotonic() - started
                if response.status != 200:
                    self.count(f"http-{response.status}", seconds)
                else:
                    answer = json.loads(data)["response"]
                    message = answer.get("status", {}).get("message", "")
                    if answer["allowed"]:
                        outcome = "allowed"
                    elif "is being scanned" in message:
                        outcome = "pending"
                    elif "queue full" in message:
                        outcome = "shed"
                    elif "could not be scanned" in message:
                        outcome = "scan-error"
                    else:
                        outcome = "denied"
                    self.count(outcome, seconds)
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.count(f"failed-{type(error).__name__}", time.monotonic() - started)
                connection.close()
                connection = None
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib, fds, threads


def main():
    if not BIN:
        sys.exit("SCANGATE_BIN is not set (bench/soak/run.sh sets it)")
    work = tempfile.mkdtemp(prefix="scangate-soak-work-")
    os.makedirs(OUT, exist_ok=True)
    processes = []
    try:
        # The registry.
        registry_port = free_port()
        registry = f"127.0.0.1:{registry_port}"
        with open(f"{work}/registry.yml", "w") as f:
            f.write(
                f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {work}/storage\n"
                f"http:\n  addr: {registry}\n"
            )
        processes.append(
            subprocess.Popen(
                ["docker-registry", "serve", f"{work}/registry.yml"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(registry_port)
        started = time.time()
        for i in range(IMAGES):
            push(registry, f"soak/app-{i}", "v1", f"app-{i}")
        print(f"pushed {IMAGES} images in {time.time() - started:.1f}s", flush=True)

        # The database: one Debian 12 record that hello 2.10-3 is affected by.
        os.makedirs(f"{work}/db/Debian")
        with zipfile.ZipFile(f"{work}/db/Debian/all.zip", "w") as z:
            z.writestr(
                "DSA-SOAK-1.json",
                json.dumps(
                    {
                        "id": "DSA-SOAK-1",
                        "modified": "2024-01-01T00:00:00Z",
                        "summary": "soak",
                        "affected": [
                            {
                                "package": {"ecosystem": "Debian:12", "name": "hello"},
                                "ranges": [
                                    {
                                        "type": "ECOSYSTEM",
                                        "events": [{"introduced": "0"}, {"fixed": "2.10-4"}],
                                    }
                                ],
                            }
                        ],
                    }
                ),
            )

        # The certificate.
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                "-keyout", f"{work}/tls.key", "-out", f"{work}/tls.crt",
            ],
            check=True,
            capture_output=True,
        )

        # The server.
        port, metrics_port = free_port(), free_port()
        with open(f"{work}/config.yaml", "w") as f:
            f.write(
                f"server:\n  listen: 127.0.0.1:{port}\n  metricsListen: 127.0.0.1:{metrics_port}\n"
                f"orchestrator:\n  verdictTtl: {VERDICT_TTL}\n  tagTtl: 30s\n  errorTtl: 10s\n"
                f"telemetry:\n  logLevel: warn\n"
                f"scanner:\n  insecureRegistries: ['{registry}']\n"
            )
        with open(f"{work}/policy.yaml", "w") as f:
            f.write(
                "apiVersion: scangate.dev/v1alpha1\nkind: ClusterScanPolicy\nmetadata: {name: soak}\n"
                "spec: {failOn: {severity: HIGH, unknownSeverityAs: MEDIUM}, onScanPending: Deny, onScanError: Deny}\n"
            )
        server = subprocess.Popen(
            [
                BIN, "serve", "--config", f"{work}/config.yaml", "--db", f"{work}/db",
                "--policy", f"{work}/policy.yaml",
                "--tls-cert", f"{work}/tls.crt", "--tls-key", f"{work}/tls.key",
            ],
            stdout=open(f"{OUT}/server.log", "w"),
            stderr=subprocess.STDOUT,
        )
        processes.append(server)
        wait_port(port)

        load = Load(port, f"{work}/tls.crt", registry)
        threads = [
            threading.Thread(target=load.worker, args=(i,), daemon=True)
            for i in range(THREADS)
        ]
        for t in threads:
            t.start()
        samples = []
        began = time.time()
        with open(f"{OUT}/samples.csv", "w") as csv:
            csv.write("seconds,rss_kib,fds,threads,requests\n")
            while time.time() - began < DURATION:
                time.sleep(SAMPLE)
                if server.poll() is not None:
                    sys.exit(f"scangate exited with {server.returncode}; see {OUT}/server.log")
                rss, fds, nthreads = status_of(server.pid)
                with load.lock:
                    requests = sum(load.counts.values())
                elapsed = time.time() - began
                samples.append((elapsed, rss, fds, nthreads, requests))
                csv.write(f"{elapsed:.0f},{rss},{fds},{nthreads},{requests}\n")
                csv.flush()
                print(f"{elapsed:6.0f}s rss={rss / 1024:.1f}MiB fds={fds} threads={nthreads} requests={requests}", flush=True)
        load.stop.set()
        for t in threads:
            t.join(timeout=35)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as m:
            metrics = m.read().decode()
        with open(f"{OUT}/metrics.txt", "w") as f:
            f.write(metrics)
        scans = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("scangate_scans_total{")
        )
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    # After the first tenth (warm-up: first scans, caches filling).
    steady = [s for s in samples if s[0] >= DURATION / 10] or samples
    rss = [s[1] / 1024 for s in steady]
    fds = [s[2] for s in steady]
    total = sum(load.counts.values())
    lat = sorted(load.latencies)
    failed = sum(n for k, n in load.counts.items() if k.startswith(("failed", "http-")))
    summary = "\n".join(
        [
            f"| duration | {DURATION} s ({DURATION / 60:.0f} min), sampled every {SAMPLE} s |",
            "|---|---|",
            f"| load | {RATE:g} req/s over {THREADS} keep-alive TLS connections; {HIT_SHARE:.0%} hot ({HOT} images), the rest over {IMAGES} images (verdictTtl {VERDICT_TTL}) |",
            f"| requests | {total} ({', '.join(f'{k} {v}' for k, v in sorted(load.counts.items()))}) |",
            f"| failed requests | {failed} |",
            f"| scans run | {scans:.0f} |",
            f"| latency | p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.0f} ms |",
            f"| RSS after warm-up | first {rss[0]:.1f} MiB, min {min(rss):.1f}, max {max(rss):.1f}, last {rss[-1]:.1f}, mean of last tenth {statistics.mean(rss[-max(1, len(rss) // 10):]):.1f} |",
            f"| open fds after warm-up | first {fds[0]}, min {min(fds)}, max {max(fds)}, last {fds[-1]} |",
        ]
    )
    with open(f"{OUT}/summary.md", "w") as f:
        f.write(summary + "\n")
    print(summary)
    print(f"samples: {OUT}/samples.csv")


if __name__ == "__main__":
    main()
