#!/usr/bin/env bash
# Version-ordering oracles: dpkg (dpkg --compare-versions), rpm (python3-rpm's
# labelCompare), PEP 440 (packaging in the venv), npm semver (node), Maven
# (maven-artifact jar, java), RubyGems (ruby), Packagist (php-cli, composer semver).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! /usr/bin/python3 -c "import rpm" 2>/dev/null; then
  apt-get update -qq
  apt-get install -y -qq python3-rpm >/dev/null
fi
VENV=${VENV:-.venv}
"$VENV/bin/python" -c "import packaging" 2>/dev/null || "$VENV/bin/pip" install -q packaging
dir=.cache/npm-semver
[ -d "$dir/node_modules/semver" ] || { mkdir -p "$dir"; npm install --silent --prefix "$dir" semver@7 >/dev/null; }
need=()
[ -n "$(ls /usr/share/maven/lib/maven-artifact-*.jar 2>/dev/null)" ] || need+=(maven)
command -v java >/dev/null || need+=(default-jdk-headless)
command -v ruby >/dev/null || need+=(ruby)
command -v php >/dev/null || need+=(php-cli)
[ -f /usr/share/php/Composer/Semver/VersionParser.php ] || need+=(php-composer-semver)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
