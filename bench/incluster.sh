# Sourced by bench/run.sh and bench/autopath.sh: how CoreDNS reaches the API server.
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
