#!/usr/bin/env python3
"""Checks that the CRD schemas refuse what the policy loader refuses.

Every document of examples/policies/ must pass both its CRD's
openAPIV3Schema (jsonschema, plus the API server's strict field
validation: no field the schema does not declare) and
`scangate policy check`. Each bad document below, written as a user
would, must be refused by both. CEL rules (x-kubernetes-validations) need
a real API server and are not evaluated here; the cases they cover are
marked `cel` and checked against the loader only.

Usage: scripts/checks/policy-schemas.py   (venv of scripts/deps/k8s.sh)
Environment: SCANGATE_BIN (default target/debug/scangate).
Exits non-zero on any problem.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
CRDS = ROOT / "charts" / "scangate" / "crds" / "scangate-crds.yaml"
EXAMPLES = ROOT / "examples" / "policies"
HEAD = {"apiVersion": "scangate.dev/v1alpha1"}


def policy(spec):
    return {**HEAD, "kind": "ClusterScanPolicy", "metadata": {"name": "p"}, "spec": spec}


def exception(spec):
    base = {"vulnerabilities": ["CVE-2024-1234"], "images": ["app:*"], "reason": "r", "expires": "2030-01-01"}
    base.update(spec)
    base = {k: v for k, v in base.items() if v is not None}
    return {**HEAD, "kind": "ScanException", "metadata": {"name": "x", "namespace": "shop"}, "spec": base}


# (name, document, checked by the schema alone: False when CEL decides)
BAD = [
    ("image typo", exception({"images": None, "image": ["app:*"]}), True),
    ("no images", exception({"images": None}), True),
    ("empty images", exception({"images": []}), True),
    ("empty vulnerabilities", exception({"vulnerabilities": []}), True),
    ("unreadable date", exception({"expires": "next week"}), True),
    ("remediation 7days", policy({"remediation": {"HIGH": "7days"}}), True),
    ("remediation -7d", policy({"remediation": {"HIGH": "-7d"}}), True),
    ("maxDatabaseAge zero", policy({"maxDatabaseAge": "0d"}), True),
    ("failOn typo", policy({"failOn": {"fixableonly": True}}), True),
    ("breakGlass typo", policy({"breakGlass": {"enable": True}}), True),
    ("matchLabel typo", policy({"namespaceSelector": {"matchLabel": {"env": "prod"}}}), True),
    ("unknown operator", policy({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Foo"}]}}), True),
    ("mode lowercase", policy({"mode": "audit"}), True),
    ("remediation severity", policy({"remediation": {"SEVERE": "1d"}}), False),
    ("In without values", policy({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}), False),
]


def schemas():
    out = {}
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if crd:
            kind = crd["spec"]["names"]["kind"]
            out[kind] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return out


def undeclared(value, schema, path="", found=None):
    """Fields the schema does not declare (the API server's strict field validation)."""
    found = [] if found is None else found
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                undeclared(item, schema["properties"][key], f"{path}.{key}", found)
            elif path == "" and key in ("apiVersion", "kind", "metadata"):
                continue
            else:
                found.append(f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            undeclared(item, schema["additionalProperties"], f"{path}.{key}", found)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            undeclared(item, schema["items"], f"{path}[{i}]", found)
    return found


def schema_refusal(document, schema):
    problems = undeclared(document, schema)
    validator = jsonschema.Draft7Validator(schema)
    problems += [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
    return problems


def loader_refusal(binary, document):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(document, f)
    try:
        result = subprocess.run([binary, "policy", "check", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    return result.returncode, result.stderr.strip()


def main():
    binary = os.environ.get("SCANGATE_BIN", str(ROOT / "target" / "debug" / "scangate"))
    by_kind = schemas()
    problems = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            refused = schema_refusal(document, by_kind[document["kind"]])
            if refused:
                problems.append(f"{path.name}: the schema refuses an example: {refused}")
    result = subprocess.run([binary, "policy", "check", *map(str, sorted(EXAMPLES.glob("*.yaml")))],
                            capture_output=True, text=True)
    if result.returncode != 0:
        problems.append(f"scangate policy check refuses the examples: {result.stderr.strip()}")
    for name, document, by_schema in BAD:
        if by_schema and not schema_refusal(document, by_kind[document["kind"]]):
            problems.append(f"{name}: the CRD schema accepts it")
        code, err = loader_refusal(binary, document)
        if code != 2:
            problems.append(f"{name}: `scangate policy check` exits {code}, not 2: {err}")
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    print(f"policy-schemas: {len(BAD)} bad documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
