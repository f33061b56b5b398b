#!/usr/bin/env bash
# Tools the registry and scanner tests need: a real OCI registry (CNCF
# distribution, Debian's docker-registry), skopeo to push and convert images,
# htpasswd for the registry's basic auth.
set -euo pipefail
need=()
for tool in docker-registry skopeo htpasswd; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y --no-install-recommends docker-registry skopeo apache2-utils
fi
