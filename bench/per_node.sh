#!/usr/bin/env bash
# The per-node shape (issue #14): the full kdns as a DaemonSet behind the kube-dns Service with
# `trafficDistribution: PreferSameNode` — one kdns, so one set of watches, per node. What does
# each one cost the API server, and what does each kdns hold? Everything on 127.0.0.1.
#
#   bench/per_node.sh                         10k services, 1 → 4 → 8 → 16 kdns on one API server
#   bench/per_node.sh --services 1000 --steps "1 2 4"
#
# For each step: kdns processes are added until STEP run (each with its own port and /ready), all
# ready, 10 s of rest; then the API server's RSS, its CPU to serve the new ones' lists, its
# heap, its open watches (apiserver_longrunning_requests), and each kdns's RSS. Then 5 s of
# EndpointSlice changes (one per 50 ms), and the API server's CPU per change sent to every watcher. Results: OUT/table.md and
# OUT/results.json (OUT defaults to bench/out/per-node-TIMESTAMP). Reuses the loaded etcd data of
# bench/run.sh (/tmp/kdns-bench-cluster-N). Requires what bench/run.sh requires.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KB="python3 $ROOT/bench/kbench.py"
SERVICES=10000 STEPS="1 4 8 16" OUT=
while (($#)); do
  case $1 in
  --services) SERVICES=$2; shift ;;
  --steps) STEPS=$2; shift ;;
  --out) OUT=$2; shift ;;
  -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "per_node.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$ROOT/bench/out/per-node-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
LOG=$OUT/run.log
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
export KDNS_BIN=${KDNS_TOOLS_BIN:-${KDNS_BIN:-/var/cache/kdns-tools/bin}}
APISERVER_SH=$ROOT/scripts/apiserver.sh
CLUSTER=/tmp/kdns-bench-cluster-$SERVICES
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$APISERVER_SH" stop "$CLUSTER" >/dev/null 2>&1 || true
}
trap cleanup EXIT

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
log "building kdns (release)"
(cd "$ROOT" && cargo build --release --quiet --bin kdns) >>"$LOG" 2>&1 || die "cargo build failed"
KDNS=$CARGO_TARGET_DIR/release/kdns

DATA=$OUT/data
$KB gen --services "$SERVICES" --queries 10 --out "$DATA" >"$OUT/meta.json"
DATA_ID=$(sha1sum "$DATA/objects.jsonl" | cut -c1-16)
"$APISERVER_SH" stop "$CLUSTER" >/dev/null 2>&1 || true
if [[ -f $CLUSTER/loaded && $(cat "$CLUSTER/loaded") == "$DATA_ID" ]]; then
  log "reusing the loaded etcd data in $CLUSTER"
  "$APISERVER_SH" restart-etcd "$CLUSTER" >>"$LOG" 2>&1 || die "etcd restart failed"
  "$APISERVER_SH" restart-apiserver "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver restart failed"
else
  log "starting etcd + kube-apiserver in $CLUSTER and loading $SERVICES services"
  "$APISERVER_SH" start "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver.sh start failed"
  $KB load --env "$CLUSTER/env" --objects "$DATA/objects.jsonl" --workers 16 >"$OUT/load.json" ||
    die "bulk load failed"
  echo "$DATA_ID" >"$CLUSTER/loaded"
fi
# shellcheck disable=SC1091
source "$CLUSTER/env"
API_PID=$(cat "$CLUSTER/apiserver.pid")
TICK=$(getconf CLK_TCK)
cpu_ms() { echo $(($(proc_cpu "$1") * 1000 / TICK)); }
metrics() {
  curl -sk -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$APISERVER_PORT/metrics"
}
watchers() { # open watches of the kinds kdns watches (apiserver_longrunning_requests, WATCH)
  metrics | awk '/^apiserver_longrunning_requests\{/ && /verb="WATCH"/ &&
    /resource="(services|endpointslices|namespaces)"/ {s += $NF} END {print s + 0}'
}
heap() { # the API server's Go heap in use, MB (steadier than its RSS)
  metrics | awk '/^go_memstats_heap_inuse_bytes / {printf "%.1f", $NF / 1048576}'
}
sent() { # EndpointSlice watch events sent so far
  metrics | awk '/^apiserver_watch_events_total\{/ && /resource="endpointslices"/ {s += $NF} END {print s + 0}'
}
# Let the API server settle after its start (its watch cache fills).
sleep 15
BASE_RSS=$(proc_mem "$API_PID" VmRSS) BASE_W=$(watchers) BASE_HEAP=$(heap)
log "API server at rest: RSS $BASE_RSS MB, heap in use $BASE_HEAP MB, $BASE_W watches"
echo '[]' >"$OUT/results.json"
KPIDS=() n=0
for step in $STEPS; do
  cpu0=$(cpu_ms "$API_PID")
  while ((n < step)); do
    read -r port ready < <(free_ports 2)
    cat >"$OUT/Corefile.$n" <<EOC
.:$port {
    bind 127.0.0.1
    ready 127.0.0.1:$ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_ADMIN
    }
}
EOC
    RUST_LOG=warn "$KDNS" --conf "$OUT/Corefile.$n" >>"$OUT/kdns-$n.log" 2>&1 &
    KPIDS+=($!) PIDS+=($!)
    for ((w = 0; w < 600; w++)); do
      [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ready/ready") == 200 ]] && break
      sleep 0.1
    done
    n=$((n + 1))
  done
  cpu_start=$(($(cpu_ms "$API_PID") - cpu0))
  sleep 10
  rss=$(proc_mem "$API_PID" VmRSS) w=$(watchers) hp=$(heap)
  krss=$(for p in "${KPIDS[@]}"; do proc_mem "$p" VmRSS; done | awk '{s += $1} END {printf "%.1f", s / NR}')
  # EndpointSlice changes for 5 s (one every 50 ms), every watcher told of each.
  cpu1=$(cpu_ms "$API_PID") ev0=$(sent)
  changes=$($KB churn --env "$CLUSTER/env" --namespace "churn-$step" --seconds 5 --interval 0.05 |
    jq .changes) || die "churn failed"
  sleep 2
  cpu_churn=$(($(cpu_ms "$API_PID") - cpu1)) events=$(($(sent) - ev0))
  log "kdns=$n: API server RSS $rss MB, heap $hp MB, watches $w, $events events sent, CPU for the new lists ${cpu_start} ms, for $changes changes ${cpu_churn} ms; kdns RSS $krss MB each"
  jq --argjson n "$n" --argjson rss "$rss" --argjson w "$w" --argjson cs "$cpu_start" \
    --argjson cc "$cpu_churn" --argjson k "$krss" --argjson base "$BASE_RSS" --argjson ch "$changes" \
    --argjson hp "$hp" --argjson bh "$BASE_HEAP" --argjson ev "$events" \
    '. + [{kdns: $n, apiserver_rss_mb: $rss, apiserver_rss_base_mb: $base, apiserver_heap_mb: $hp,
           apiserver_heap_base_mb: $bh, watches: $w, events_sent: $ev,
           apiserver_cpu_ms_for_new_lists: $cs, changes: $ch, apiserver_cpu_ms_changes: $cc,
           kdns_rss_mb: $k}]' \
    "$OUT/results.json" >"$OUT/r.tmp" && mv "$OUT/r.tmp" "$OUT/results.json"
done
{
  echo "| kdns on the API server | open watches (3 kinds) | API server heap in use (MB) | RSS (MB) | API server CPU for the new kdns's lists (ms) | events sent per EndpointSlice change | API server CPU per change (ms) | kdns RSS each (MB) |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| 0 | $BASE_W | $BASE_HEAP | $BASE_RSS | | | | |"
  jq -r '.[] | "| \(.kdns) | \(.watches) | \(.apiserver_heap_mb) | \(.apiserver_rss_mb) | \(.apiserver_cpu_ms_for_new_lists) | \((.events_sent / .changes * 10 | round) / 10) | \((.apiserver_cpu_ms_changes / .changes * 100 | round) / 100) | \(.kdns_rss_mb) |"' "$OUT/results.json"
} >"$OUT/table.md"
cat "$OUT/table.md"
