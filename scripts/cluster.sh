#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the cluster tests: etcd and
# kube-apiserver built by scripts/deps/cluster.sh (no kubelet, no
# controller-manager, no kube-proxy), with a CA generated per cluster.
#
#   scripts/cluster.sh up DIR       start; writes DIR/admin.kubeconfig (system:masters)
#   scripts/cluster.sh down DIR     stop what `up DIR` started (its pid files only)
#   scripts/cluster.sh sa-kubeconfig DIR NAMESPACE SERVICEACCOUNT OUT
#                                   OUT: a kubeconfig with a token of that
#                                   ServiceAccount (TokenRequest API)
#
# Everything listens on 127.0.0.1 only. With CLUSTER_OWNER_PID set, a watcher
# stops the cluster when that process is gone (a test killed before its
# cleanup ran leaves nothing behind). Binaries: $CLUSTER_BIN, default
# .cache/cluster/bin of this repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CLUSTER_BIN:-$root/.cache/cluster/bin}

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stops the process in PIDFILE if it is still the one we started (its
# command line names BINARY), TERM then KILL after 10 s.
stop_pidfile() {
  local pidfile=$1 binary=$2 pid cmdline
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [ -n "$pid" ] && [[ "$cmdline" == *"$binary"* ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

down() {
  local dir=$1
  [ -d "$dir" ] || return 0
  stop_pidfile "$dir/watcher.pid" "cluster.sh"
  stop_pidfile "$dir/kube-apiserver.pid" "$bin/kube-apiserver"
  stop_pidfile "$dir/etcd.pid" "$bin/etcd"
}

# Polls CMD... every 100 ms for up to SECONDS; fails with WHAT and LOG's tail.
wait_for() {
  local seconds=$1 what=$2 log=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: $what not ready within ${seconds}s; last lines of $log:" >&2
      tail -n 30 "$log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

pki() {
  local p=$1
  # One CA signs the serving certificate and the admin client certificate.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj "/CN=scangate-test-ca" -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=kube-apiserver" -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n') \
    -out "$p/apiserver.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/O=system:masters/CN=scangate-test-admin" -keyout "$p/admin.key" -out "$p/admin.csr" 2>/dev/null
  openssl x509 -req -in "$p/admin.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$p/admin.crt" 2>/dev/null
  # The ServiceAccount token signing key pair (ES256).
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$p/sa.key" 2>/dev/null
  openssl pkey -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}

b64() { base64 -w0 <"$1"; }

up() {
  local dir=$1
  for tool in etcd kube-apiserver kubectl; do
    [ -x "$bin/$tool" ] || die "$bin/$tool missing: run scripts/deps/cluster.sh"
  done
  command -v openssl >/dev/null || die "openssl is needed"
  [ ! -e "$dir/kube-apiserver.pid" ] || die "$dir already holds a running cluster (down it first)"
  mkdir -p "$dir/pki" "$dir/etcd" "$dir/logs"
  dir=$(cd "$dir" && pwd)
  local p=$dir/pki started=$SECONDS
  pki "$p"
  local etcd_port peer_port api_port
  etcd_port=$(free_port)
  peer_port=$(free_port)
  api_port=$(free_port)
  local etcd_url=http://127.0.0.1:$etcd_port server=https://127.0.0.1:$api_port
  # On failure below, stop whatever was already started.
  trap 'down "$dir"' ERR

  # setsid: the processes outlive this script, never a terminal's signals.
  setsid "$bin/etcd" --name scangate-test --data-dir "$dir/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "scangate-test=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync >"$dir/logs/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
  wait_for 60 etcd "$dir/logs/etcd.log" curl -fsS "$etcd_url/health"

  # The flags of controller-runtime's envtest, with Node,RBAC authorization and
  # our own CA: no Service IP is ever dialled (endpoint reconciler off, no
  # kube-proxy); the ServiceAccount admission plugin is off because nothing
  # here creates the namespaces' default ServiceAccounts.
  setsid "$bin/kube-apiserver" \
    --etcd-servers "$etcd_url" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-account-issuer "$server" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --endpoint-reconciler-type none \
    --disable-admission-plugins ServiceAccount \
    --allow-privileged=true \
    --cert-dir "$p" >"$dir/logs/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$dir/kube-apiserver.pid"

  cat >"$dir/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: scangate-test
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$p/ca.crt")
contexts:
- name: admin
  context: {cluster: scangate-test, user: admin}
current-context: admin
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$p/admin.crt")
    client-key-data: $(b64 "$p/admin.key")
EOF
  cp "$p/ca.crt" "$dir/ca.crt"
  echo "$server" >"$dir/server"
  wait_for 120 kube-apiserver "$dir/logs/kube-apiserver.log" \
    curl -fsS --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "$server/readyz"
  trap - ERR

  if [ -n "${CLUSTER_OWNER_PID:-}" ]; then
    # Run by this script's own path so stop_pidfile recognises it.
    setsid bash "$0" watch "$dir" "$CLUSTER_OWNER_PID" >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/watcher.pid"
  fi
  echo "cluster up in $((SECONDS - started)) s: $server (kubeconfig $dir/admin.kubeconfig)"
}

watch() {
  local dir=$1 owner=$2
  while kill -0 "$owner" 2>/dev/null; do sleep 1; done
  rm -f "$dir/watcher.pid"
  down "$dir"
}

sa_kubeconfig() {
  local dir=$1 namespace=$2 sa=$3 out=$4 token
  token=$("$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" -n "$namespace" \
    create token "$sa" --duration 24h)
  [ -n "$token" ] || die "no token for serviceaccount $namespace/$sa"
  (
    umask 077
    cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: scangate-test
  cluster:
    server: $(cat "$dir/server")
    certificate-authority-data: $(b64 "$dir/ca.crt")
contexts:
- name: $sa
  context: {cluster: scangate-test, user: $sa, namespace: $namespace}
current-context: $sa
users:
- name: $sa
  user:
    token: $token
EOF
  )
}

case "${1:-}" in
  up) [ $# -eq 2 ] || die "usage: $0 up DIR"; up "$2" ;;
  down) [ $# -eq 2 ] || die "usage: $0 down DIR"; down "$2" ;;
  sa-kubeconfig) [ $# -eq 5 ] || die "usage: $0 sa-kubeconfig DIR NAMESPACE SERVICEACCOUNT OUT"; sa_kubeconfig "$2" "$3" "$4" "$5" ;;
  watch) [ $# -eq 3 ] || die "usage: $0 watch DIR PID"; watch "$2" "$3" ;;
  *) die "usage: $0 up DIR | down DIR | sa-kubeconfig DIR NAMESPACE SERVICEACCOUNT OUT" ;;
esac
