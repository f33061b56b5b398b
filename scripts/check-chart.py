#!/usr/bin/env python3
"""Checks charts/scangate with the real Helm library (helm-python-sdk):
lint; render with several value sets; validate every rendered object with
kubernetes-validate (strict) at a current Kubernetes version; compare
manifests/ with the default render and the chart's CRDs with `scangate crds`.

Usage: scripts/check-chart.py [--update]   (--update rewrites manifests/)
Environment: SCANGATE_BIN (default target/debug/scangate).
Exits non-zero on any problem.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "scangate"
MANIFEST = ROOT / "manifests" / "scangate.yaml"
CRDS = CHART / "crds" / "scangate-crds.yaml"
KUBE_VERSION = "1.35.0"
NAMESPACE = "scangate"
RELEASE = "scangate"
# Kinds whose schemas are not Kubernetes built-ins (CRDs of ours or of
# cert-manager / prometheus-operator); the chart's CRDs cover ours.
CUSTOM_KINDS = {"ClusterScanPolicy", "Certificate", "Issuer", "ServiceMonitor", "PrometheusRule"}

VALUE_SETS = {
    "default": {},
    "cert-manager": {"certManager": {"enabled": True}},
    "cert-manager-issuer": {"certManager": {"enabled": True, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}},
    "everything": {
        "webhook": {"failurePolicy": "Fail", "workloads": True, "excludeNamespaces": ["monitoring"]},
        "mutating": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "globalPullSecret": "scangate/pull",
        "replicaCount": 3,
        "rescan": {"alertSinks": [{"name": "team", "url": "https://hooks.example.com/x", "format": "slack"}]},
        "history": {"enabled": True, "storageClassName": "fast"},
        "config": {"orchestrator": {"maxConcurrentScans": 8}},
    },
    "minimal": {"defaultPolicy": {"enabled": False}, "grafanaDashboard": {"enabled": False}, "webhook": {"matchConditions": []}},
    # scangate outside the cluster; caBundlePem is filled in by main() with a fresh CA.
    "out-of-cluster": {
        "webhook": {"url": "https://scangate.example.com:8443/"},
        "mutating": {"enabled": True},
        "history": {"enabled": True},
        "serviceMonitor": {"enabled": True},
    },
}
# Kinds that run or reach scangate in the cluster: none in out-of-cluster mode.
IN_CLUSTER_KINDS = {"Deployment", "Service", "Secret", "PodDisruptionBudget", "PersistentVolumeClaim", "ServiceMonitor"}

# Generated TLS material differs on every render; manifests/ holds
# placeholders that the user replaces (or uses cert-manager).
TLS_PLACEHOLDER = "REPLACE-WITH-BASE64-PEM"
TLS_KEYS = re.compile(r"^(\s*(?:ca\.crt|tls\.crt|tls\.key|caBundle):) \S+$", re.M)


def render(values):
    chart = helm.Chart.load(CHART)
    chart.validate_schema(values)
    files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path in sorted(files):
        if not path.endswith((".yaml", ".yml")):
            continue
        text = files[path].strip()
        if text:
            docs.append(f"# Source: {path}\n{text}\n")
    return "---\n".join(docs)


def validate(rendered, label, problems):
    count = 0
    for obj in yaml.safe_load_all(rendered):
        if not obj:
            continue
        count += 1
        kind = obj.get("kind", "?")
        if kind in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{label}: {kind}/{obj['metadata'].get('name')}: {e.message} at {list(e.path)}")
        except Exception as e:  # unknown schema or version
            problems.append(f"{label}: {kind}: {e}")
    if count == 0:
        problems.append(f"{label}: rendered nothing")


def check_config(rendered, label, binary, problems):
    """The rendered ConfigMap must be a configuration scangate accepts."""
    import tempfile
    for obj in yaml.safe_load_all(rendered):
        if not obj or obj.get("kind") != "ConfigMap" or not obj["metadata"]["name"].endswith("-config"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            args = [binary, "serve", "--check-config"]
            for key in ("config.yaml", "extra.yaml"):
                if key in obj["data"]:
                    path = Path(tmp) / key
                    path.write_text(obj["data"][key])
                    args += ["--config", str(path)]
            run = subprocess.run(args, capture_output=True, text=True)
            if run.returncode != 0:
                problems.append(f"{label}: scangate rejects the rendered config: {run.stderr.strip()}")
                return
            effective = yaml.safe_load(run.stdout)
            if effective["kubernetes"]["mode"] != "enabled" or not effective["db"]["root"]:
                problems.append(f"{label}: rendered config does not use the cluster and a database")
        return
    problems.append(f"{label}: no scangate ConfigMap rendered")


def test_ca_pem():
    """A throwaway self-signed CA certificate (PEM) for webhook.caBundlePem."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / "ca.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "1", "-subj", "/CN=check-chart", "-keyout", str(Path(tmp) / "ca.key"), "-out", str(cert)],
            check=True, capture_output=True)
        return cert.read_text()


def check_out_of_cluster(rendered, values, problems):
    """webhook.url: webhooks call the URL with the given CA; nothing of scangate runs in the cluster."""
    import base64
    base = values["webhook"]["url"].rstrip("/")
    ca = base64.b64encode(values["webhook"]["caBundlePem"].encode()).decode()
    webhooks = 0
    for obj in yaml.safe_load_all(rendered):
        if not obj:
            continue
        if obj["kind"] in IN_CLUSTER_KINDS:
            problems.append(f"out-of-cluster: renders {obj['kind']}/{obj['metadata']['name']}")
        for hook in obj.get("webhooks", []):
            webhooks += 1
            config = hook["clientConfig"]
            path = "/validate" if obj["kind"] == "ValidatingWebhookConfiguration" else "/mutate"
            if config != {"url": base + path, "caBundle": ca}:
                problems.append(f"out-of-cluster: {hook['name']} clientConfig is {config}")
    if webhooks != 2:
        problems.append(f"out-of-cluster: {webhooks} webhooks rendered, expected validating and mutating")


def main():
    update = "--update" in sys.argv[1:]
    problems = []

    report = helm.lint(str(CHART), strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:
            problems.append(f"helm lint: {message.get('path')}: {message.get('error')}")
    problems += [f"helm lint: {e}" for e in report.get("errors") or []]

    binary = os.environ.get("SCANGATE_BIN", str(ROOT / "target" / "debug" / "scangate"))
    VALUE_SETS["out-of-cluster"]["webhook"]["caBundlePem"] = test_ca_pem()
    default_render = None
    for label, values in VALUE_SETS.items():
        try:
            rendered = render(values)
        except Exception as e:
            problems.append(f"{label}: render failed: {e}")
            continue
        validate(rendered, label, problems)
        check_config(rendered, label, binary, problems)
        if label == "out-of-cluster":
            check_out_of_cluster(rendered, values, problems)
        if label == "default":
            default_render = rendered
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if crd:
            validate(yaml.safe_dump(crd), "crds", problems)

    if default_render is not None:
        header = "# Generated by scripts/check-chart.py --update from charts/scangate (default values).\n"
        header += "# Replace the REPLACE-WITH-BASE64-PEM values with a CA and serving certificate, or use cert-manager.\n"
        namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
        # Namespace and CRDs first, so one `kubectl apply -f` can create the policy.
        expected = header + namespace + CRDS.read_text()
        expected += "---\n" + TLS_KEYS.sub(rf"\1 {TLS_PLACEHOLDER}", default_render)
        if update:
            MANIFEST.parent.mkdir(exist_ok=True)
            MANIFEST.write_text(expected)
        elif not MANIFEST.exists() or MANIFEST.read_text() != expected:
            problems.append("manifests/scangate.yaml is out of date: run scripts/check-chart.py --update")

    try:
        generated = subprocess.run([binary, "crds"], check=True, capture_output=True, text=True).stdout
        if generated != CRDS.read_text():
            problems.append("charts/scangate/crds differ from `scangate crds`")
    except (OSError, subprocess.CalledProcessError) as e:
        problems.append(f"cannot run `{binary} crds`: {e}")

    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    print(f"check-chart: {len(VALUE_SETS)} value sets, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
