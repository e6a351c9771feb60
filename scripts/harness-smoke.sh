#!/usr/bin/env bash
# End-to-end check of the Go test tooling (everything on 127.0.0.1):
# build tools, start etcd + kube-apiserver, create a Service and an EndpointSlice with curl,
# check RBAC for the dns-reader token, run CoreDNS against the cluster and dig it, run envoracle,
# check kubectl (server-side dry run), restart apiserver and etcd, stop.
# Prints "N passed, N failed" at the end; exit 1 on any failure.
set -uo pipefail

for c in jq dig curl openssl python3; do
  command -v "$c" >/dev/null || { echo "harness-smoke: $c missing (apt-get install -y jq bind9-dnsutils curl openssl)" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$("$ROOT/scripts/build-tools.sh" | tail -n 1) || { echo "build-tools.sh failed" >&2; exit 1; }
export KDNS_BIN=$BIN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kdns-smoke.XXXXXX")
PASS=0 FAIL=0 COREDNS_PID=

cleanup() {
  [[ -n $COREDNS_PID ]] && kill "$COREDNS_PID" 2>/dev/null && wait "$COREDNS_PID" 2>/dev/null
  "$ROOT/scripts/apiserver.sh" stop "$WORK/cluster" || true
}
trap cleanup EXIT

check() { # description, command...
  local d=$1; shift
  if "$@"; then echo "ok   - $d"; PASS=$((PASS + 1)); else echo "FAIL - $d"; FAIL=$((FAIL + 1)); fi
}

"$ROOT/scripts/apiserver.sh" start "$WORK/cluster" || { echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC1091
source "$WORK/cluster/env"

api() { # METHOD PATH [JSON] [TOKEN]
  curl -sS --cacert "$CA_FILE" -H "Authorization: Bearer ${4:-$ADMIN_TOKEN}" \
    -H 'Content-Type: application/json' -X "$1" "$APISERVER_URL$2" ${3:+--data "$3"}
}
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_FILE" -H "Authorization: Bearer $2" "$APISERVER_URL$1"; }

ns_ok() { api GET /api/v1/namespaces | jq -e '.items | map(.metadata.name) | index("default")' >/dev/null; }
check "GET /api/v1/namespaces as admin" ns_ok
check "kubernetes Service has ClusterIP 10.96.0.1" \
  test "$(api GET /api/v1/namespaces/default/services/kubernetes | jq -r .spec.clusterIP)" = 10.96.0.1
check "dns-reader is forbidden before RBAC" test "$(code /api/v1/services "$READER_TOKEN")" = 403

api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"smoke"}}' >/dev/null
SVC=$(api POST /api/v1/namespaces/smoke/services '{"apiVersion":"v1","kind":"Service",
  "metadata":{"name":"web","namespace":"smoke"},
  "spec":{"ipFamilyPolicy":"PreferDualStack","ports":[{"name":"http","port":80,"protocol":"TCP"}]}}')
CIP=$(jq -r .spec.clusterIP <<<"$SVC")
CIP6=$(jq -r '.spec.clusterIPs[1] // empty' <<<"$SVC")
echo "web.smoke clusterIPs: $(jq -c .spec.clusterIPs <<<"$SVC")"
check "Service got a ClusterIP" test -n "$CIP" -a "$CIP" != null
check "Service is dual-stack" test -n "$CIP6"
api POST /apis/discovery.k8s.io/v1/namespaces/smoke/endpointslices '{"apiVersion":"discovery.k8s.io/v1",
  "kind":"EndpointSlice","metadata":{"name":"web-1","namespace":"smoke",
  "labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
  "endpoints":[{"addresses":["10.1.0.5"],"conditions":{"ready":true}}],
  "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}' >/dev/null
check "EndpointSlice created" test "$(api GET /apis/discovery.k8s.io/v1/namespaces/smoke/endpointslices/web-1 | jq -r '.endpoints[0].addresses[0]')" = 10.1.0.5
check "loopback endpoint is rejected (422)" test "$(api POST /apis/discovery.k8s.io/v1/namespaces/smoke/endpointslices '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"lo","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["127.0.0.1"]}],"ports":[]}' | jq -r .code)" = 422

# RBAC for the reader: list/watch services, endpointslices, namespaces (CoreDNS's set).
api POST /apis/rbac.authorization.k8s.io/v1/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
  "metadata":{"name":"dns-reader"},"rules":[{"apiGroups":[""],"resources":["services","namespaces"],"verbs":["list","watch"]},
  {"apiGroups":["discovery.k8s.io"],"resources":["endpointslices"],"verbs":["list","watch"]}]}' >/dev/null
api POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
  "metadata":{"name":"dns-reader"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"dns-reader"},
  "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"dns-reader"}]}' >/dev/null
ok_reader() { local i; for i in $(seq 50); do [[ $(code /api/v1/services "$READER_TOKEN") == 200 ]] && return 0; sleep 0.1; done; return 1; }
check "dns-reader can list services after RBAC" ok_reader
check "dns-reader cannot read secrets" test "$(code /api/v1/secrets "$READER_TOKEN")" = 403

# CoreDNS as the reference server, using the dns-reader kubeconfig.
DNS_PORT=$(python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass')
cat >"$WORK/Corefile" <<EOF
.:$DNS_PORT {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $WORK/cluster/kubeconfig-dns-reader
    }
}
EOF
"$BIN/coredns" -conf "$WORK/Corefile" </dev/null >"$WORK/coredns.log" 2>&1 &
COREDNS_PID=$!
dig_a() { dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=1 "$@" 2>/dev/null; }
wait_dns() { local i; for i in $(seq 100); do [[ $(dig_a web.smoke.svc.cluster.local A) == "$CIP" ]] && return 0; sleep 0.2; done; return 1; }
check "coredns: web.smoke.svc.cluster.local A = $CIP" wait_dns
check "coredns: AAAA = $CIP6" test "$(dig_a web.smoke.svc.cluster.local AAAA)" = "$CIP6"
check "coredns: SRV _http._tcp.web.smoke" bash -c "dig @127.0.0.1 -p $DNS_PORT +short _http._tcp.web.smoke.svc.cluster.local SRV | grep -q ' 80 web.smoke.svc.cluster.local.'"
kill "$COREDNS_PID"; wait "$COREDNS_PID" 2>/dev/null; COREDNS_PID=
[[ $FAIL -eq 0 ]] || tail -n 20 "$WORK/coredns.log"

# envoracle on the example case.
OUT=$("$BIN/envoracle" <"$ROOT/tests/harness/testdata/envoracle-example.json")
check "envoracle: KUBERNETES_SERVICE_HOST in both cases" test "$(jq -r '[.results[0,1].env[] | select(.name=="KUBERNETES_SERVICE_HOST") | .value] | join(",")' <<<"$OUT")" = 10.96.0.1,10.96.0.1
check "envoracle: MY_SVC_SERVICE_PORT_HTTP=80" test "$(jq -r '.results[0].env[] | select(.name=="MY_SVC_SERVICE_PORT_HTTP") | .value' <<<"$OUT")" = 80
check "envoracle: service links off hides MY_SVC_*" test "$(jq '[.results[1].env[] | select(.name|startswith("MY_SVC"))] | length' <<<"$OUT")" = 0
check "envoracle: collision reported" test "$(jq -c '.results[0].collisions' <<<"$OUT")" = '["A_PORT_80_TCP_PORT"]'

if [[ -x $BIN/kubectl ]]; then
  check "kubectl get svc" bash -c "'$BIN/kubectl' --kubeconfig '$KUBECONFIG_ADMIN' -n smoke get svc web -o name | grep -q service/web"
  check "kubectl apply --dry-run=server" bash -c "printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: smoke}\n' | '$BIN/kubectl' --kubeconfig '$KUBECONFIG_ADMIN' apply --dry-run=server -f - | grep -q 'server dry run'"
fi

# Fault helpers: restart apiserver (same port), then etcd (same data).
OLD_PID=$APISERVER_PID
check "restart-apiserver" "$ROOT/scripts/apiserver.sh" restart-apiserver "$WORK/cluster"
source "$WORK/cluster/env"
check "apiserver PID changed, Service survived" test "$APISERVER_PID" != "$OLD_PID" -a "$(api GET /api/v1/namespaces/smoke/services/web | jq -r .spec.clusterIP)" = "$CIP"
check "restart-etcd" "$ROOT/scripts/apiserver.sh" restart-etcd "$WORK/cluster"
ok_after_etcd() { local i; for i in $(seq 100); do [[ $(api GET /api/v1/namespaces/smoke/services/web | jq -r .spec.clusterIP) == "$CIP" ]] && return 0; sleep 0.2; done; return 1; }
check "apiserver serves again after etcd restart" ok_after_etcd

"$ROOT/scripts/apiserver.sh" stop "$WORK/cluster"
source "$WORK/cluster/env"
gone() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null); [[ -z $st || $st == Z ]]; } # zombie = exited
check "stop: both processes gone" eval "gone $APISERVER_PID && gone $ETCD_PID"
trap - EXIT
[[ $FAIL -eq 0 ]] && rm -rf "$WORK"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
