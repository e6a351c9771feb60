# Sourced by the bench/ scripts (run.sh, directives.sh, autopath.sh, overload.sh): the helpers
# they share.

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; } # LOG: the run's log file
die() { log "ERROR: $*"; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
proc_cpu() { # pid -> utime+stime in clock ticks (all threads)
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
proc_mem() { # pid field (VmRSS|VmHWM) -> MB
  awk -v f="$2:" '$1 == f {printf "%.1f", $2 / 1024}' "/proc/$1/status"
}

free_ports() { # N ports free for both UDP and TCP on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
out, keep = [], []
while len(out) < int(sys.argv[1]):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    keep += [u, t]; out.append(p)
print(" ".join(map(str, out)))
EOF
}

# How CoreDNS reaches the API server.
#
# coredns_api MODE OUT — MODE incluster|kubeconfig|auto (auto: incluster when root can make a
# private mount namespace). Sets COREDNS_API (the mode used), CORE_K8S (the kubernetes line
# CoreDNS needs: empty in-cluster) and CORE_WRAP (the command CoreDNS runs under). In-cluster
# config is CoreDNS as in a cluster (it asks for protobuf): the service-account token and CA under
# /var/run/secrets and KUBERNETES_SERVICE_HOST/PORT, faked in a private mount namespace. Needs
# ADMIN_TOKEN, CA_FILE, APISERVER_PORT and KUBECONFIG_ADMIN from scripts/apiserver.sh's env.
coredns_api() {
  local mode=$1 out=$2
  if [[ $mode == auto ]]; then
    if ((EUID == 0)) && unshare -m true 2>/dev/null; then mode=incluster; else mode=kubeconfig; fi
  fi
  COREDNS_API=$mode CORE_K8S="kubeconfig $KUBECONFIG_ADMIN" CORE_WRAP=()
  [[ $mode == incluster ]] || return 0
  CORE_K8S=""
  mkdir -p "$out/sa"
  printf %s "$ADMIN_TOKEN" >"$out/sa/token"
  cp "$CA_FILE" "$out/sa/ca.crt"
  echo default >"$out/sa/namespace"
  cat >"$out/coredns-incluster.sh" <<EOF
#!/bin/sh
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$out/sa/token" "$out/sa/ca.crt" "$out/sa/namespace" /run/secrets/kubernetes.io/serviceaccount/
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$APISERVER_PORT
exec "\$@"
EOF
  chmod +x "$out/coredns-incluster.sh"
  CORE_WRAP=(unshare -m --propagation private "$out/coredns-incluster.sh")
}
