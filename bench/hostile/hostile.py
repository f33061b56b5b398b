#!/usr/bin/env python3
"""Review latency with and without hostile connections (bench/README.md,
section Hostile connections).

Starts `scangate serve --dev` (the real binary: rustls, hyper, the bundled
example images, database and policies) on loopback, then measures
AdmissionReviews (`examples/reviews/allowed.json`, a warm cache hit) sent
by a well-behaved client in three phases of SECONDS each:

  baseline  nothing else connected;
  held      HOSTILE connections open first and held (silent TCP, silent
            TLS, TLS slowloris sending a header byte every 2 s), with
            server.firstRequestTimeout above the phase so that none is
            closed: what holding connections costs;
  churn     the same clients against the default deadlines
            (FIRST_REQUEST_TIMEOUT, 5s): each is closed at its deadline and
            reconnects at once, so HOSTILE stay connected all the time and
            the server pays a TLS handshake for each cycle.

The well-behaved client sends REVIEWS_PER_S reviews a second, open loop
(latency counted from the scheduled send time), half on one keep-alive
connection and half each on a new TLS connection (a new connection must be
accepted past the hostile ones). Prints a Markdown table: p50/p99 per
phase and kind, ratios to the baseline, the server's RSS and open
connections, and connections closed by reason (from /metrics).
Python 3 standard library only.
"""

import http.client
import json
import os
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = str(Path(os.environ.get("SCANGATE_BIN", ROOT / "target/release/scangate")).resolve())
HOSTILE = int(os.environ.get("HOSTILE", "2000"))
SECONDS = float(os.environ.get("SECONDS_PER_PHASE", "20"))
RATE = float(os.environ.get("REVIEWS_PER_S", "50"))
FIRST = os.environ.get("FIRST_REQUEST_TIMEOUT", "5s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, work, first_request_timeout):
        self.port, self.metrics_port = free_port(), free_port()
        config = work / f"config-{first_request_timeout}.yaml"
        text = (f"server:\n  maxConnections: {4 * HOSTILE}\n"
                f"  firstRequestTimeout: {first_request_timeout}\n")
        if first_request_timeout != FIRST:
            # Held: no deadline may end the hostile connections mid-phase.
            text += (f"  tlsHandshakeTimeout: {first_request_timeout}\n"
                     f"  headerReadTimeout: {first_request_timeout}\n")
        config.write_text(text + "telemetry:\n  logLevel: warn\n")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--dev", "--config", str(config),
             "--listen", f"127.0.0.1:{self.port}",
             "--metrics-listen", f"127.0.0.1:{self.metrics_port}"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "ab"))
        ca = work / ".cache/dev-tls/ca.crt"
        deadline = time.time() + 60
        while time.time() < deadline:
            if ca.exists():
                self.context = ssl.create_default_context(cafile=str(ca))
                try:
                    if self.get("/readyz")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit("scangate serve --dev did not become ready")

    def connection(self):
        return http.client.HTTPSConnection("localhost", self.port, context=self.context, timeout=30)

    def get(self, path):
        c = self.connection()
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()

    def rss_mib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


class Hostile(threading.Thread):
    """HOSTILE connections, by i % 3: silent TCP, silent TLS, TLS slowloris;
    each reconnected as soon as the server closes it."""

    HEAD = b"POST /validate HTTP/1.1\r\nHost: x\r\n"

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stop_flag = server, threading.Event()
        self.tls = ssl.create_default_context(cafile=None)
        self.tls.check_hostname, self.tls.verify_mode = False, ssl.CERT_NONE
        self.conns = [None] * HOSTILE
        self.sent = [0] * HOSTILE
        self.reconnects = 0
        self.sel = selectors.DefaultSelector()

    def open(self, i):
        try:
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            if i % 3:
                s = self.tls.wrap_socket(s, server_hostname="localhost")
            s.setblocking(False)
        except OSError:
            return
        self.conns[i], self.sent[i] = s, 0
        self.sel.register(s, selectors.EVENT_READ, i)

    def open_all(self):
        for i in range(HOSTILE):
            self.open(i)
        return sum(c is not None for c in self.conns)

    def run(self):
        next_byte = time.time() + 2
        while not self.stop_flag.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                i, s = key.data, key.fileobj
                try:
                    data = s.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    data = b""
                if not data:  # closed by the server: come back at once
                    self.sel.unregister(s)
                    s.close()
                    self.conns[i] = None
                    self.reconnects += 1
                    self.open(i)
            if time.time() >= next_byte:
                next_byte += 2
                for i, s in enumerate(self.conns):
                    if s is not None and i % 3 == 2:
                        try:
                            s.send(self.HEAD[self.sent[i] % len(self.HEAD):][:1])
                            self.sent[i] += 1
                        except (OSError, ssl.SSLWantWriteError):
                            pass
            for i, s in enumerate(self.conns):
                if s is None:
                    self.open(i)

    def close(self):
        self.stop_flag.set()
        self.join()
        for s in self.conns:
            if s is not None:
                s.close()


def measure(server, body):
    """SECONDS of reviews at RATE/s, open loop; latencies in ms by kind."""
    kept = server.connection()
    results = {"keep-alive": [], "new connection": []}
    errors = 0
    start = time.perf_counter()
    n = int(SECONDS * RATE)
    for k in range(n):
        scheduled = start + k / RATE
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        kind = "keep-alive" if k % 2 == 0 else "new connection"
        conn = kept if kind == "keep-alive" else server.connection()
        try:
            conn.request("POST", "/validate", body, {"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            assert answer["response"]["allowed"] is True, answer
        except (OSError, http.client.HTTPException):
            errors += 1
            if kind == "keep-alive":
                kept = server.connection()
            continue
        finally:
            if kind == "new connection":
                conn.close()
        results[kind].append((time.perf_counter() - scheduled) * 1000)
    return results, errors


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * p))] if values else float("nan")


def closed_by_reason(metrics):
    out = {}
    for line in metrics.splitlines():
        if line.startswith("scangate_connections_closed_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = int(float(line.split()[-1]))
    return out


def gauge(metrics, name):
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return -1


def phase(label, server, body, hostile=None):
    if hostile:
        opened = hostile.open_all()
        hostile.start()
        time.sleep(2)
    results, errors = measure(server, body)
    metrics = server.metrics()
    row = {"phase": label, "errors": errors, "rss": server.rss_mib(),
           "open": gauge(metrics, "scangate_connections_open"),
           "closed": closed_by_reason(metrics)}
    for kind, values in results.items():
        row[kind] = (pct(values, 0.5), pct(values, 0.99), len(values))
    if hostile:
        row["hostile opened"] = opened
        row["reconnects"] = hostile.reconnects
        hostile.close()
    return row


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(["cp", "-r", str(ROOT / "examples"), str(work)], check=True)
        body = (work / "examples/reviews/allowed.json").read_bytes()
        rows = []
        held_timeout = f"{int(SECONDS * 3 + 30)}s"
        for label, first, hostile in [("baseline", FIRST, False),
                                      ("held", held_timeout, True),
                                      ("churn", FIRST, True)]:
            server = Server(work, first)
            try:
                for _ in range(20):  # warm the caches
                    c = server.connection()
                    c.request("POST", "/validate", body, {"Content-Type": "application/json"})
                    c.getresponse().read()
                rows.append(phase(label, server, body, Hostile(server) if hostile else None))
            finally:
                server.stop()
        base = rows[0]
        print(f"\n{HOSTILE} hostile connections, {RATE:g} reviews/s for {SECONDS:g} s per phase, "
              f"firstRequestTimeout {FIRST} (held: {held_timeout})\n")
        print("| phase | keep-alive p50 / p99 ms | new-conn p50 / p99 ms | p99 ratio keep-alive / new-conn | "
              "errors | server RSS MiB | open conns | hostile reconnects | closed by reason |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            ka, nc = r["keep-alive"], r["new connection"]
            ratio = f"{ka[1] / base['keep-alive'][1]:.2f} / {nc[1] / base['new connection'][1]:.2f}"
            print(f"| {r['phase']} | {ka[0]:.2f} / {ka[1]:.2f} | {nc[0]:.2f} / {nc[1]:.2f} | {ratio} | "
                  f"{r['errors']} | {r['rss']:.1f} | {r['open']} | {r.get('reconnects', '-')} | "
                  f"{', '.join(f'{k} {v}' for k, v in sorted(r['closed'].items())) or '-'} |")
        print("\n" + json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
