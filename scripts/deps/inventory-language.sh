#!/usr/bin/env bash
# Real tools and files for tests/it/inventory_language.rs: Python (importlib
# oracle), npm (npm ls), Ruby (gem list), Debian Java jars with their
# maven-repo poms (with and without pom.properties), Composer (offline install from path repositories), and
# cargo-auditable under .cache/ for the Rust sample binary.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."

need=()
command -v python3 >/dev/null || need+=(python3)
command -v npm >/dev/null || need+=(npm)
command -v gem >/dev/null || need+=(ruby)
command -v composer >/dev/null || need+=(composer)
[ -e /usr/share/java/commons-lang3.jar ] || need+=(libcommons-lang3-java)
[ -e /usr/share/java/jackson-databind.jar ] || need+=(libjackson2-databind-java)
# Debian's own builds without pom.properties: the Java coordinate test.
[ -e /usr/share/java/commons-collections3.jar ] || need+=(libcommons-collections3-java)
[ -e /usr/share/java/log4j-1.2.jar ] || need+=(liblog4j1.2-java)
[ -e /usr/share/java/spring3-core.jar ] || need+=(libspring-core-java)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python's own distributions, so dist-packages holds dist-info and egg-info.
python3 -c 'import yaml' 2>/dev/null || apt-get install -y -qq python3-yaml python3-jwt >/dev/null

if [ ! -x .cache/cargo-auditable/bin/cargo-auditable ]; then
  cargo install cargo-auditable --locked --version 0.7.7 --root .cache/cargo-auditable
fi
