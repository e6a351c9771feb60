#!/usr/bin/env bash
# A throwaway etcd + kube-apiserver on 127.0.0.1 for tests.
#
#   scripts/apiserver.sh start DIR              fresh cluster, data/logs/kubeconfigs under DIR
#   scripts/apiserver.sh stop DIR               stop both (SIGTERM, then SIGKILL after 20 s)
#   scripts/apiserver.sh restart-apiserver DIR  stop + start the apiserver only (same port, same etcd)
#   scripts/apiserver.sh restart-etcd DIR       stop + start etcd only (same port, same data)
#   scripts/apiserver.sh status DIR             exit 0 if both PIDs are alive
#
# Binaries: $KDNS_BIN, else ${KDNS_TOOLS:-/var/cache/kdns-tools}/bin (see scripts/build-tools.sh).
# Env knobs: KDNS_SERVICE_CIDR (default "10.96.0.0/16,fd00:10:96::/112", dual-stack),
#            KDNS_READY_TIMEOUT (seconds, default 60),
#            KDNS_ETCD_QUOTA_BYTES (etcd's space quota, default 8 GiB: bench/scale.sh's largest set).
#
# Files in DIR: env (sourceable), kubeconfig (admin), kubeconfig-dns-reader, tokens.csv,
#   pki/apiserver.crt (self-signed serving cert followed by its CA: the kubeconfigs trust this file),
#   ca.crt (the CA alone), pki/sa.key,
#   logs/{etcd,kube-apiserver}.log, etcd-data/, {etcd,apiserver}.pid, ports.
# Everything listens on 127.0.0.1 only; stdin/stdout of the servers are /dev/null / log files,
# so a caller capturing this script's output does not hang.
set -euo pipefail

usage() { echo "usage: $0 {start|stop|restart-apiserver|restart-etcd|status} DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
CMD=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)

BIN=${KDNS_BIN:-${KDNS_TOOLS:-/var/cache/kdns-tools}/bin}
SERVICE_CIDR=${KDNS_SERVICE_CIDR:-10.96.0.0/16,fd00:10:96::/112}
READY_TIMEOUT=${KDNS_READY_TIMEOUT:-60}

log() { echo "apiserver.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_bin() { [[ -x $BIN/$1 ]] || die "$BIN/$1 missing; run scripts/build-tools.sh (or set KDNS_BIN)"; }

# N distinct free TCP ports on 127.0.0.1 (all bound at once so they differ).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 - "$1" <<'EOF'
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
EOF
  else
    local out=() p
    while [[ ${#out[@]} -lt $1 ]]; do
      p=$((20000 + RANDOM % 30000))
      [[ " ${out[*]} " == *" $p "* ]] && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue # something listens
      out+=("$p")
    done
    echo "${out[*]}"
  fi
}

alive() { # pidfile name -> 0 if that PID runs binary NAME
  local pid
  [[ -f $1 ]] || return 1
  pid=$(cat "$1")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  local argv0
  argv0=$(tr '\0' '\n' </proc/"$pid"/cmdline 2>/dev/null | head -n 1) || return 1
  [[ ${argv0##*/} == "$2" ]]
}

running() { # pid -> 0 if it exists and is not a zombie (no name check: right after
  # the fork, argv0 is still bash/setsid)
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

stop_one() { # pidfile name
  local pidf=$1 name=$2 pid i
  if alive "$pidf" "$name"; then
    pid=$(cat "$pidf")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      alive "$pidf" "$name" || break
      sleep 0.1
    done
    if alive "$pidf" "$name"; then
      log "$name (pid $pid) did not exit in 20 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do alive "$pidf" "$name" || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidf"
}

load_ports() {
  [[ -f $DIR/ports ]] || die "$DIR/ports missing: was the cluster started with '$0 start $DIR'?"
  # shellcheck disable=SC1091
  source "$DIR/ports"
}

start_etcd() {
  need_bin etcd
  mkdir -p "$DIR/logs"
  setsid "$BIN/etcd" \
    --name=kdns-test \
    --data-dir="$DIR/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="kdns-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true \
    --quota-backend-bytes="${KDNS_ETCD_QUOTA_BYTES:-8589934592}" \
    --log-level=warn \
    </dev/null >>"$DIR/logs/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"
  local i
  for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
    running "$(cat "$DIR/etcd.pid")" || { tail -n 30 "$DIR/logs/etcd.log" >&2; die "etcd exited"; }
    if curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$DIR/logs/etcd.log" >&2
  die "etcd not healthy after ${READY_TIMEOUT}s (log: $DIR/logs/etcd.log)"
}

start_apiserver() {
  need_bin kube-apiserver
  mkdir -p "$DIR/logs" "$DIR/pki"
  setsid "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$DIR/pki" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/pki/sa.key" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --token-auth-file="$DIR/tokens.csv" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --profiling=false \
    </dev/null >>"$DIR/logs/kube-apiserver.log" 2>&1 &
  echo $! >"$DIR/apiserver.pid"
  local i code
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    running "$(cat "$DIR/apiserver.pid")" ||
      { tail -n 40 "$DIR/logs/kube-apiserver.log" >&2; die "kube-apiserver exited"; }
    if [[ -f $DIR/pki/apiserver.crt ]]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 --cacert "$DIR/pki/apiserver.crt" \
        -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$APISERVER_PORT/readyz" || true)
      [[ $code == 200 ]] && return 0
    fi
    sleep 0.2
  done
  tail -n 40 "$DIR/logs/kube-apiserver.log" >&2
  die "kube-apiserver /readyz not 200 after ${READY_TIMEOUT}s (last: ${code:-none}; log: $DIR/logs/kube-apiserver.log)"
}

write_kubeconfig() { # file user token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kdns-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $DIR/pki/apiserver.crt
users:
- name: $2
  user:
    token: $3
contexts:
- name: $2@kdns-test
  context:
    cluster: kdns-test
    user: $2
current-context: $2@kdns-test
EOF
}

write_env() {
  cat >"$DIR/env" <<EOF
APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
APISERVER_PORT=$APISERVER_PORT
ETCD_URL=http://127.0.0.1:$ETCD_PORT
ETCD_PORT=$ETCD_PORT
ADMIN_TOKEN=$ADMIN_TOKEN
READER_TOKEN=$READER_TOKEN
APISERVER_PID=$(cat "$DIR/apiserver.pid" 2>/dev/null)
ETCD_PID=$(cat "$DIR/etcd.pid" 2>/dev/null)
CA_FILE=$DIR/pki/apiserver.crt
KUBECONFIG_ADMIN=$DIR/kubeconfig
KUBECONFIG_READER=$DIR/kubeconfig-dns-reader
KDNS_BIN=$BIN
EOF
}

case $CMD in
start)
  if alive "$DIR/etcd.pid" etcd || alive "$DIR/apiserver.pid" kube-apiserver; then
    die "a cluster is already running in $DIR (stop it first)"
  fi
  need_bin etcd; need_bin kube-apiserver
  command -v openssl >/dev/null || die "openssl not found"
  command -v curl >/dev/null || die "curl not found"
  rm -rf "$DIR/etcd-data" "$DIR/pki" "$DIR/logs"
  mkdir -p "$DIR/pki" "$DIR/logs"
  read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT < <(free_ports 3)
  ADMIN_TOKEN=$(openssl rand -hex 16)
  READER_TOKEN=$(openssl rand -hex 16)
  cat >"$DIR/ports" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
ADMIN_TOKEN=$ADMIN_TOKEN
READER_TOKEN=$READER_TOKEN
EOF
  # token,user,uid,"groups"
  { echo "$ADMIN_TOKEN,kdns-admin,kdns-admin,\"system:masters\""
    echo "$READER_TOKEN,dns-reader,dns-reader"; } >"$DIR/tokens.csv"
  chmod 600 "$DIR/tokens.csv"
  openssl genrsa -out "$DIR/pki/sa.key" 2048 2>/dev/null
  start_etcd
  start_apiserver
  # /readyz can be 200 before the bootstrap controller has created default/kubernetes.
  for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 --cacert "$DIR/pki/apiserver.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
      "https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default/services/kubernetes" || true)
    [[ $code == 200 ]] && break
    sleep 0.1
  done
  [[ $code == 200 ]] || die "default/kubernetes Service not created after ${READY_TIMEOUT}s"
  # apiserver.crt = leaf + the self-signed CA that signed it; ca.crt = that CA alone.
  awk '/-----BEGIN CERTIFICATE-----/{n++} n==2' "$DIR/pki/apiserver.crt" >"$DIR/ca.crt"
  write_kubeconfig "$DIR/kubeconfig" kdns-admin "$ADMIN_TOKEN"
  write_kubeconfig "$DIR/kubeconfig-dns-reader" dns-reader "$READER_TOKEN"
  write_env
  log "ready: https://127.0.0.1:$APISERVER_PORT (etcd 127.0.0.1:$ETCD_PORT), env in $DIR/env"
  ;;
stop)
  stop_one "$DIR/apiserver.pid" kube-apiserver
  stop_one "$DIR/etcd.pid" etcd
  ;;
restart-apiserver)
  load_ports
  stop_one "$DIR/apiserver.pid" kube-apiserver
  alive "$DIR/etcd.pid" etcd || log "warning: etcd is not running"
  start_apiserver
  write_env
  ;;
restart-etcd)
  load_ports
  stop_one "$DIR/etcd.pid" etcd
  start_etcd
  write_env
  ;;
status)
  alive "$DIR/etcd.pid" etcd && alive "$DIR/apiserver.pid" kube-apiserver
  ;;
*) usage ;;
esac
