#!/usr/bin/env bash
# The real control plane for the cluster tests (tests/it/cluster_real/):
# kube-apiserver, kubectl, etcd and helm built from their Go modules
# (tests/cluster/tools, pinned) into .cache/cluster/bin. No release binaries
# are downloaded. The build is keyed by a hash of the tools modules and this
# script, so a second run only compares the key and takes seconds.
#
# Cold, on the development machine (2 shared cores): see README "Testing".
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=tests/cluster/tools
out=.cache/cluster/bin

command -v go >/dev/null 2>&1 || { echo "cluster.sh: go is not installed (Go >= 1.26 is needed)" >&2; exit 1; }

key=$(cat "$0" "$tools/go.mod" "$tools/go.sum" "$tools/helm/go.mod" "$tools/helm/go.sum" \
  "$tools/cmd/etcd/main.go" | sha256sum | cut -d' ' -f1)
if [ -f "$out/.key" ] && [ "$(cat "$out/.key")" = "$key" ]; then
  echo "cluster tools up to date ($out)"
  exit 0
fi

# The release the tools module pins, for the version strings the servers report
# (helm compares a chart's kubeVersion with the API server's GitVersion).
pinned() { awk -v m="$1" '$1 == m && $2 ~ /^v[0-9]/ { print $2 } $1 == "require" && $2 == m { print $3 }' "$2"; }
k8s_version=$(pinned k8s.io/kubernetes "$tools/go.mod")
helm_version=$(pinned helm.sh/helm/v4 "$tools/helm/go.mod")
if [ -z "$k8s_version" ] || [ -z "$helm_version" ]; then
  echo "cluster.sh: cannot read the pinned versions from $tools" >&2
  exit 1
fi
major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
build_date=1970-01-01T00:00:00Z # fixed: the same inputs give the same binaries

version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  version_flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

# A half-written bin directory must never look complete: build aside, then swap.
tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
start=$(date +%s)
# Static binaries, go.sum as committed, no VCS stamp (the same inputs give the same files).
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
(
  cd "$tools"
  go build -trimpath -ldflags "-s -w $version_flags" -o "$OLDPWD/$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./cmd/etcd
)
(
  cd "$tools/helm"
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version \
    -X helm.sh/helm/v4/internal/version.gitTreeState=clean" -o "$OLDPWD/$tmp/" helm.sh/helm/v4/cmd/helm
)
echo "$key" >"$tmp/.key"
rm -rf "$out"
mv "$tmp" "$out"
echo "cluster tools built in $(($(date +%s) - start)) s: $(cd "$out" && echo *)"
