#!/usr/bin/env bash
# Memory of `pods verified` and `autopath` (issue #13): kdns and CoreDNS 1.14.7 against one real
# API server holding Services, EndpointSlices and running Pods, one server at a time.
#
#   bench/autopath.sh                   10k services / ~100k endpoints; 25k, 50k, then 100k pods
#   bench/autopath.sh --pods 20000,40000   other pod counts, measured in turn as the pods are
#                                       created (services: --services)
#   bench/autopath.sh --smoke           50 services, 200 pods, debug build: CI (< 60 s; fails when
#                                       something is broken, never on size)
#
# Configurations, each started alone, synced (it answers the last Service and, with
# `pods verified`, the last Pod's name), then left 3 s before its VmRSS and VmHWM are read:
#   kdns    pods verified + autopath @kubernetes   (slim Pod watch, protobuf)
#   kdns    pods insecure                          (no Pod watch)
#   kdns    pods insecure + autopath @kubernetes   (clients placed by EndpointSlices)
#   coredns pods verified + autopath @kubernetes   (what CoreDNS needs for autopath)
#   coredns pods insecure
# CoreDNS runs with in-cluster config (protobuf, as in a cluster) when root can `unshare -m`.
# Results: OUT/results.json and OUT/table.md (OUT defaults to bench/out/autopath-TIMESTAMP).
# Pods get status.podIP through the status subresource (no kubelet): a POST and a PATCH each,
# which is what bounds the run (see the `pods` line of the log for the rate).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KB="python3 $ROOT/bench/kbench.py"
SMOKE=0 SERVICES=10000 PODS=25000,50000,100000 OUT= PROFILE= WORKERS=16
while (($#)); do
  case $1 in
  --smoke) SMOKE=1 ;;
  --services) SERVICES=$2; shift ;;
  --pods) PODS=$2; shift ;;
  --out) OUT=$2; shift ;;
  --workers) WORKERS=$2; shift ;;
  --release) PROFILE=release ;;
  -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
  *) echo "autopath.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
SETTLE=3
((SMOKE)) && SERVICES=50 PODS=200 SETTLE=1
PROFILE=${PROFILE:-$( ((SMOKE)) && echo debug || echo release)}
OUT=${OUT:-$ROOT/bench/out/autopath-$(date +%Y%m%d-%H%M%S)$( ((SMOKE)) && echo -smoke || true)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/run.log
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh" # log, die, free_ports, proc_*, coredns_api

BIN=${KDNS_TOOLS_BIN:-/var/cache/kdns-tools/bin}
for t in coredns kube-apiserver etcd; do
  [[ -x $BIN/$t ]] || die "$BIN/$t missing: run scripts/build-tools.sh (or set KDNS_TOOLS_BIN)"
done
for t in python3 jq; do command -v $t >/dev/null || die "$t missing"; done
export KDNS_BIN=$BIN

PIDS=() CLUSTER=
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n $CLUSTER ]]; then
    "$ROOT/scripts/apiserver.sh" stop "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$CLUSTER"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
log "building kdns ($PROFILE)"
(cd "$ROOT" && cargo build $([[ $PROFILE == release ]] && echo --release) --quiet --bin kdns) \
  >>"$LOG" 2>&1 || die "cargo build failed (see $LOG)"
KDNS=${KDNS_UNDER_TEST:-$CARGO_TARGET_DIR/$PROFILE/kdns}

DATA=$OUT/data
$KB gen --services "$SERVICES" --queries 10 --out "$DATA" >"$OUT/meta.json"
CHECK_NAME=$(jq -r .check_name "$OUT/meta.json")
CHECK_IP=$(jq -r .check_ip "$OUT/meta.json")

CLUSTER=$(mktemp -d "${TMPDIR:-/tmp}/kdns-autopath.XXXXXX")
log "starting etcd + kube-apiserver in $CLUSTER"
"$ROOT/scripts/apiserver.sh" start "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver.sh start failed (see $LOG)"
log "loading $(wc -l <"$DATA/objects.jsonl") namespaces, services and slices"
$KB load --env "$CLUSTER/env" --objects "$DATA/objects.jsonl" --workers "$WORKERS" >"$OUT/load.json" ||
  die "load failed: $(cat "$OUT/load.json")"
log "load: $(cat "$OUT/load.json")"
# shellcheck disable=SC1091
source "$CLUSTER/env"

# CoreDNS as in a cluster: in-cluster config (protobuf) when root (bench/common.sh).
coredns_api auto "$OUT"
API=$COREDNS_API
log "CoreDNS reaches the API server by: $API"

R=$OUT/results.json
jq -n --arg kdns "$(cd "$ROOT" && git describe --always --dirty)" --arg coredns "$("$BIN/coredns" -version | head -1)" \
  --argjson services "$SERVICES" --arg profile "$PROFILE" --arg api "$API" \
  --argjson data "$(cat "$OUT/meta.json")" --argjson load "$(cat "$OUT/load.json")" \
  '{kdns:$kdns, coredns:$coredns, services:$services, kdns_build:$profile, coredns_api:$api,
    data:$data, load:$load, pod_loads:[], runs:[]}' >"$R"

measure() { # server pods autopath
  local srv=$1 pods=$2 ap=$3 port conf pid t0 line label
  port=$(free_port)
  conf=$OUT/Corefile.$srv.$pods.$ap
  label="$srv pods $pods (autopath: $ap) at $N pods"
  local src="kubeconfig $KUBECONFIG_ADMIN"
  [[ $srv == coredns ]] && src=$CORE_K8S
  {
    echo ".:$port {"
    echo "    bind 127.0.0.1"
    [[ $ap == yes ]] && echo "    autopath @kubernetes"
    echo "    kubernetes cluster.local in-addr.arpa ip6.arpa {"
    [[ -n $src ]] && echo "        $src"
    echo "        pods $pods"
    echo "    }"
    echo "}"
  } >"$conf"
  t0=$(date +%s%N)
  if [[ $srv == kdns ]]; then
    RUST_LOG=warn "$KDNS" --conf "$conf" >>"$OUT/kdns.log" 2>&1 &
  else
    "${CORE_WRAP[@]}" "$BIN/coredns" -conf "$conf" >>"$OUT/coredns.log" 2>&1 &
  fi
  pid=$!
  PIDS+=("$pid")
  $KB wait-answer --server "127.0.0.1:$port" --name "$CHECK_NAME" --expect "$CHECK_IP" \
    --t0-ns "$t0" --timeout 300 >"$OUT/wait.json" || die "$label: no answer for $CHECK_NAME"
  if [[ $pods == verified ]]; then
    $KB wait-answer --server "127.0.0.1:$port" --name "$CHECK_POD" --expect "$CHECK_POD_IP" \
      --t0-ns "$t0" --timeout 300 >"$OUT/wait-pod.json" || die "$label: no answer for $CHECK_POD"
  fi
  local synced_ms
  synced_ms=$(jq -s 'map(.answer_ms) | max' "$OUT/wait.json" $([[ $pods == verified ]] && echo "$OUT/wait-pod.json"))
  sleep "$SETTLE"
  line=$(jq -n --arg srv "$srv" --arg pods "$pods" --arg ap "$ap" --argjson n "$N" \
    --arg rss "$(proc_mem "$pid" VmRSS)" --arg hwm "$(proc_mem "$pid" VmHWM)" --argjson synced "$synced_ms" \
    '{server:$srv, pod_count:$n, pods:$pods, autopath:($ap=="yes"), rss_mb:($rss|tonumber),
      hwm_mb:($hwm|tonumber), synced_ms:$synced}')
  log "$line"
  jq --argjson l "$line" '.runs += [$l]' "$R" >"$R.tmp" && mv "$R.tmp" "$R"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PIDS=()
}

N=0
for target in ${PODS//,/ }; do
  log "creating pods $N..$target"
  $KB pods --env "$CLUSTER/env" --services "$SERVICES" --start "$N" --pods "$target" --workers "$WORKERS" \
    >"$OUT/pods.json" || die "pods failed: $(cat "$OUT/pods.json")"
  log "pods: $(cat "$OUT/pods.json")"
  jq --argjson l "$(cat "$OUT/pods.json")" '.pod_loads += [$l]' "$R" >"$R.tmp" && mv "$R.tmp" "$R"
  N=$target
  CHECK_POD=$(jq -r .check_pod "$OUT/pods.json")
  CHECK_POD_IP=$(jq -r .check_pod_ip "$OUT/pods.json")
  measure kdns verified yes
  measure kdns insecure no
  measure kdns insecure yes
  measure coredns verified yes
  measure coredns insecure no
done

jq -r '"| pods | server | configuration | RSS after sync (MB) | peak RSS (MB) | synced after (ms) |",
  "|---|---|---|---|---|---|",
  (.runs[] | "| \(.pod_count) | \(.server) | pods \(.pods)\(if .autopath then " + autopath" else "" end) | \(.rss_mb) | \(.hwm_mb) | \(.synced_ms) |")' \
  "$R" >"$OUT/table.md"
log "services $SERVICES, pods $PODS (results: $R)"
cat "$OUT/table.md" | tee -a "$LOG"
