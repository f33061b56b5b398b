#!/usr/bin/env bash
# Python tools for the chart checks: the Helm SDK (helm-python-sdk, no helm
# binary needed) and kubernetes-validate. Idempotent.
set -euo pipefail
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q 'helm-python-sdk>=0.2.2' 'kubernetes-validate>=1.37.0' 'PyYAML>=6'
