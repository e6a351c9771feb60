#!/usr/bin/env bash
# kdns vs CoreDNS side by side, one command (issue #6). Everything on 127.0.0.1.
#
#   bench/run.sh                      full run: 10k services / ~100k endpoints in a real API server
#   bench/run.sh --smoke              5 s of load, 50 services, both servers, debug build; CI
#                                     (fails when something is broken, never on speed)
#   bench/run.sh --services 1000 --duration 5 --rounds 2     smaller / shorter
#   bench/run.sh --mode manifests     kdns reads the generated YAML (CoreDNS still uses the API)
#   bench/run.sh --phases startup,memory,relist,qps,latency,create,program,churn    pick phases (default: all)
#   bench/run.sh --pods 15000         also N running Pods (POST + status PATCH each, kept in the
#                                     cluster dir); both servers then run `pods verified`
#   bench/run.sh --load api|etcd      how a new data set gets in: POSTs through the API server, or
#                                     (default) written straight into its etcd in JSON, ~9k
#                                     objects/s (kbench.py etcd-load says why and how)
#   bench/run.sh --start-runs 3       starts per server in the startup phase (median; default 5)
#   bench/run.sh --program-rate 100 --program-seconds 20    the `program` phase: Service changes
#                                     (ports) at this rate, change -> answer latency per server
#   bench/run.sh --coredns-api incluster|kubeconfig    how CoreDNS reaches the API server (default:
#                                     incluster when root: protobuf, as in a cluster)
#
# Rig: the DNS server under test on core 0 (taskset -c 0), dnsperf and the API server/etcd on
# core 1. Max QPS is measured for CoreDNS, kdns and a UDP echo ceiling (examples/udp_echo.rs)
# alternately, --rounds times each, and the median is reported. Results: OUT/results.json and
# OUT/table.md (OUT defaults to bench/out/TIMESTAMP). Requires: dnsperf (scripts/install-deps.sh),
# kube-apiserver, etcd and coredns from scripts/build-tools.sh (KDNS_TOOLS_BIN or KDNS_BIN, default
# /var/cache/kdns-tools/bin), python3, curl, taskset.
#
# The loaded API data (etcd dir) is kept in --cluster DIR (default /tmp/kdns-bench-cluster-N)
# between runs and reused when the data set is the same; --fresh reloads it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KB="python3 $ROOT/bench/kbench.py"

SMOKE=0 PROFILE= SERVICES=10000 DURATION=5 ROUNDS=5 MODE=api PHASES=all OUT= CLUSTER= FRESH=0
CREATES=200 LAT_SECONDS=6 COREDNS_API=auto PODS=0 PROGRAM_RATE=100 PROGRAM_SECONDS=20 START_RUNS=5 LOAD=etcd
while (($#)); do
  case $1 in
  --smoke) SMOKE=1 ;;
  --services) SERVICES=$2; shift ;;
  --duration) DURATION=$2; shift ;;
  --rounds) ROUNDS=$2; shift ;;
  --mode) MODE=$2; shift ;;
  --phases) PHASES=$2; shift ;;
  --out) OUT=$2; shift ;;
  --cluster) CLUSTER=$2; shift ;;
  --creates) CREATES=$2; shift ;;
  --pods) PODS=$2; shift ;;
  --program-rate) PROGRAM_RATE=$2; shift ;;
  --program-seconds) PROGRAM_SECONDS=$2; shift ;;
  --start-runs) START_RUNS=$2; shift ;;
  --load) LOAD=$2; shift ;;
  --fresh) FRESH=1 ;;
  --coredns-api) COREDNS_API=$2; shift ;;
  --release) PROFILE=release ;;
  -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if ((SMOKE)); then
  SERVICES=50 DURATION=1 ROUNDS=1 CREATES=5 LAT_SECONDS=1 PROGRAM_SECONDS=1 PROGRAM_RATE=20
  PHASES=${PHASES/all/startup,memory,qps,latency,create,program}
fi
[[ $MODE == api || $MODE == manifests ]] || { echo "run.sh: --mode api|manifests" >&2; exit 2; }
[[ $LOAD == api || $LOAD == etcd ]] || { echo "run.sh: --load api|etcd" >&2; exit 2; }
has() { [[ $PHASES == all || ,$PHASES, == *,$1,* ]]; }

OUT=${OUT:-$ROOT/bench/out/$(date +%Y%m%d-%H%M%S)$( ((SMOKE)) && echo -smoke || true)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/run.log
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh" # log, die, free_ports, proc_*, coredns_api

BIN=${KDNS_TOOLS_BIN:-${KDNS_BIN:-/var/cache/kdns-tools/bin}}
APISERVER_SH=${KDNS_APISERVER_SH:-$ROOT/scripts/apiserver.sh}
[[ -x $APISERVER_SH ]] || die "scripts/apiserver.sh not found (set KDNS_APISERVER_SH)"
for t in coredns kube-apiserver etcd; do
  [[ -x $BIN/$t ]] || die "$BIN/$t missing: run scripts/build-tools.sh (or set KDNS_TOOLS_BIN)"
done
for t in dnsperf taskset python3 curl; do
  command -v $t >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
export KDNS_BIN=$BIN
# Past 65,520 Services the data set's ClusterIPs leave 10.96.0.0/16 (bench/kbench.py dataset).
((SERVICES <= 65000)) || export KDNS_SERVICE_CIDR=${KDNS_SERVICE_CIDR:-10.96.0.0/12,fd00:10:96::/108}
CORE_SRV=0 CORE_CLIENT=1
(($(nproc) >= 2)) || CORE_CLIENT=0

# ------------------------------------------------------------------ processes, cleanup
PIDS=()
CLUSTER_STARTED=0
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((CLUSTER_STARTED)); then
    "$APISERVER_SH" stop "$CLUSTER" >/dev/null 2>&1 || true
    ((SMOKE)) && rm -rf "$CLUSTER"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}



# ------------------------------------------------------------------ build, data
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); load $(loadavg)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# The smoke test checks that the harness works, not speed: it uses the debug build that the
# tests already made (no extra release build in CI) unless --release is given.
PROFILE=${PROFILE:-$( ((SMOKE)) && echo debug || echo release)}
log "building kdns and udp_echo ($PROFILE)"
(cd "$ROOT" && cargo build $([[ $PROFILE == release ]] && echo --release) --quiet --bin kdns --example udp_echo) \
  >>"$LOG" 2>&1 || die "cargo build failed (see $LOG)"
KDNS=${KDNS_UNDER_TEST:-$CARGO_TARGET_DIR/$PROFILE/kdns}  # KDNS_UNDER_TEST: A/B another build
ECHO=$CARGO_TARGET_DIR/$PROFILE/examples/udp_echo

DATA=$OUT/data
$KB gen --services "$SERVICES" --queries $((SMOKE ? 500 : 20000)) --out "$DATA" >"$OUT/meta.json"
log "data: $(cat "$OUT/meta.json")"
CHECK_NAME=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["check_name"])' "$OUT/meta.json")
CHECK_IP=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["check_ip"])' "$OUT/meta.json")
CHECK_NS=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["check_namespace"])' "$OUT/meta.json")

# ------------------------------------------------------------------ API server with the data
if ((SMOKE)); then
  CLUSTER=$(mktemp -d "${TMPDIR:-/tmp}/kdns-bench-smoke.XXXXXX")
else
  CLUSTER=${CLUSTER:-/tmp/kdns-bench-cluster-$SERVICES}
fi
pin_cluster() { # apiserver + etcd to the client core, away from the server under test
  local f
  for f in "$CLUSTER/apiserver.pid" "$CLUSTER/etcd.pid"; do
    [[ -f $f ]] && taskset -a -cp "$CORE_CLIENT" "$(cat "$f")" >/dev/null 2>&1 || true
  done
}
DATA_ID=$(sha1sum "$DATA/objects.jsonl" | cut -c1-16)
if ((FRESH == 0)) && [[ -f $CLUSTER/loaded && $(cat "$CLUSTER/loaded") == "$DATA_ID" ]]; then
  log "reusing the loaded etcd data in $CLUSTER"
  if ! "$APISERVER_SH" status "$CLUSTER" 2>/dev/null; then
    "$APISERVER_SH" restart-etcd "$CLUSTER" >>"$LOG" 2>&1 || die "etcd restart failed"
    "$APISERVER_SH" restart-apiserver "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver restart failed"
  fi
  CLUSTER_STARTED=1
  pin_cluster
else
  "$APISERVER_SH" stop "$CLUSTER" >/dev/null 2>&1 || true
  log "starting etcd + kube-apiserver in $CLUSTER"
  "$APISERVER_SH" start "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver.sh start failed (see $LOG)"
  CLUSTER_STARTED=1
  rm -f "$CLUSTER/loaded"
  log "bulk loading $(wc -l <"$DATA/objects.jsonl") objects (--load $LOAD, API server on both cores)"
  if [[ $LOAD == api ]]; then
    $KB load --env "$CLUSTER/env" --objects "$DATA/objects.jsonl" --workers 16 >"$OUT/load.json" ||
      die "bulk load failed: $(cat "$OUT/load.json")"
  else
    $KB etcd-load --env "$CLUSTER/env" --objects "$DATA/objects.jsonl" >"$OUT/load.json" ||
      die "bulk load failed: $(cat "$OUT/load.json")"
    "$APISERVER_SH" restart-apiserver "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver restart failed"
  fi
  log "load: $(cat "$OUT/load.json")"
  echo "$DATA_ID" >"$CLUSTER/loaded"
  pin_cluster
fi
# shellcheck disable=SC1091
source "$CLUSTER/env"
# Running Pods on top (kept: the count loaded so far is in $CLUSTER/loaded-pods).
PODS_HAVE=$(cat "$CLUSTER/loaded-pods" 2>/dev/null || echo 0)
if ((PODS > PODS_HAVE)); then
  log "creating pods $PODS_HAVE..$PODS (--load $LOAD, API server on both cores)"
  taskset -a -cp 0,1 "$(cat "$CLUSTER/apiserver.pid")" >/dev/null 2>&1 || true
  if [[ $LOAD == api ]]; then
    $KB pods --env "$CLUSTER/env" --services "$SERVICES" --pods "$PODS" --start "$PODS_HAVE" >"$OUT/pods.json" ||
      die "pod load failed: $(cat "$OUT/pods.json")"
  else
    $KB etcd-load --env "$CLUSTER/env" --services "$SERVICES" --pods "$PODS" --start "$PODS_HAVE" >"$OUT/pods.json" ||
      die "pod load failed: $(cat "$OUT/pods.json")"
    "$APISERVER_SH" restart-apiserver "$CLUSTER" >>"$LOG" 2>&1 || die "apiserver restart failed"
    source "$CLUSTER/env"
  fi
  log "pods: $(cat "$OUT/pods.json")"
  echo "$PODS" >"$CLUSTER/loaded-pods"
  pin_cluster
elif ((PODS > 0 && PODS < PODS_HAVE)); then
  die "$CLUSTER holds $PODS_HAVE pods, more than --pods $PODS: use --fresh or another --cluster"
fi
PODS_MODE=insecure
((PODS > 0)) && PODS_MODE=verified

# ------------------------------------------------------------------ servers
read -r P_KDNS P_CORE P_ECHO P_READY < <(free_ports 4)
# CoreDNS as it runs in a cluster (in-cluster config: protobuf) when root, else through the
# kubeconfig (with which client-go keeps JSON): bench/common.sh.
coredns_api "$COREDNS_API" "$OUT"
log "CoreDNS reaches the API server by: $COREDNS_API"
cat >"$OUT/Corefile.coredns" <<EOF
.:$P_CORE {
    bind 127.0.0.1
    ready 127.0.0.1:$P_READY
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        $CORE_K8S
        pods $PODS_MODE
    }
}
EOF
if [[ $MODE == api ]]; then KSRC="kubeconfig $KUBECONFIG_ADMIN"; else KSRC="manifests $DATA/manifests"; fi
cat >"$OUT/Corefile.kdns" <<EOF
.:$P_KDNS {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        $KSRC
        pods $PODS_MODE
    }
}
EOF
PID_KDNS= PID_CORE= PID_ECHO=
start_server() { # name -> sets PID_<name>; the startup JSON goes to $OUT/start-NAME.json
  local t0 pid res prober sync=$OUT/start-$1.sync
  local port=$P_KDNS ready=()
  [[ $1 == coredns ]] && port=$P_CORE ready=(--ready-url "http://127.0.0.1:$P_READY/ready")
  # The prober starts first (Python's own start is not the server's) and says when it is armed;
  # then the clock starts and the server with it.
  rm -f "$sync" "$sync.t0"
  taskset -c $CORE_CLIENT $KB wait-answer --server "127.0.0.1:$port" --name "$CHECK_NAME" \
    --expect "$CHECK_IP" --t0-file "$sync" --timeout 120 "${ready[@]}" >"$OUT/start-$1.json" &
  prober=$!
  for ((w = 0; w < 2000; w++)); do [[ -e $sync ]] && break; sleep 0.005; done
  [[ -e $sync ]] || die "the startup prober did not arm"
  t0=$(date +%s%N)
  echo "$t0" >"$sync.t0.tmp" && mv "$sync.t0.tmp" "$sync.t0"
  case $1 in
  kdns)
    RUST_LOG=${KDNS_RUST_LOG:-info,kdns=debug,hickory_server=warn,hickory_proto=warn,hickory_net=warn,kube=warn} \
      taskset -c $CORE_SRV "$KDNS" --conf "$OUT/Corefile.kdns" >>"$OUT/kdns.log" 2>&1 &
    pid=$! PID_KDNS=$pid ;;
  coredns)
    GOGC=${GOGC:-100} "${CORE_WRAP[@]}" taskset -c $CORE_SRV "$BIN/coredns" -conf "$OUT/Corefile.coredns" \
      >>"$OUT/coredns.log" 2>&1 &
    pid=$! PID_CORE=$pid ;;
  esac
  PIDS+=("$pid")
  wait "$prober" ||
    die "$1 did not answer $CHECK_NAME with $CHECK_IP within 120 s: $(cat "$OUT/start-$1.json") (log: $OUT/$1.log)"
  # CPU the server used to get there (robust on a shared machine, unlike wall time).
  local tmp
  tmp=$(jq -c --arg c "$(proc_cpu_ms "$pid")" '. + {cpu_ms: ($c|tonumber)}' "$OUT/start-$1.json") &&
    echo "$tmp" >"$OUT/start-$1.json"
}

start_echo() {
  taskset -c $CORE_SRV "$ECHO" "127.0.0.1:$P_ECHO" >>"$OUT/echo.log" 2>&1 &
  PID_ECHO=$!
  PIDS+=("$PID_ECHO")
  sleep 0.2
}

R=$OUT/results.json
echo '{}' >"$R"
jset() { # jq path (e.g. .startup.kdns) and a JSON value
  local tmp
  tmp=$(jq --argjson v "$2" "$1 = \$v" "$R") && echo "$tmp" >"$R"
}
jset .machine "$(jq -n --arg n "$(nproc)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --arg k "$(uname -r)" --arg load "$(loadavg)" --arg dnsperf "$(dnsperf -h 2>&1 | grep -m1 Version)" \
  --arg coredns "$("$BIN/coredns" -version | head -1)" --arg kdns "$(cd "$ROOT" && git describe --always --dirty)" \
  --arg mode "$MODE" --arg profile "$PROFILE" --arg services "$SERVICES" --argjson data "$(cat "$OUT/meta.json")" \
  --arg pods "$PODS" \
  '{nproc:$n, cpu:$cpu, kernel:$k, load_at_start:$load, dnsperf:$dnsperf, coredns:$coredns, kdns:$kdns, kdns_source:$mode, kdns_build:$profile, services:($services|tonumber), pods:($pods|tonumber), data:$data}')"
[[ -f $OUT/load.json ]] && jset .bulk_load "$(cat "$OUT/load.json")"

# ------------------------------------------------------------------ start -> ready
if has startup; then
  for ((i = 1; i <= (SMOKE ? 1 : START_RUNS); i++)); do
    for srv in coredns kdns; do
      start_server $srv
      res=$(cat "$OUT/start-$srv.json")
      log "startup $srv #$i: $res"
      jset ".startup_runs.$srv[$((i - 1))]" "$res"
      if [[ $srv == kdns ]]; then stop_pid "$PID_KDNS"; else stop_pid "$PID_CORE"; fi
      sleep 1
    done
  done
  for srv in coredns kdns; do
    jset ".startup.$srv" "$(jq ".startup_runs.$srv | {answer_ms: (map(.answer_ms) | sort | .[(length/2|floor)]),
      cpu_ms: (map(.cpu_ms) | sort | .[(length/2|floor)]), ready_ms: (map(.ready_ms) | sort | .[(length/2|floor)])}" "$R")"
  done
fi

log "starting both servers for the remaining phases (load $(loadavg))"
start_server coredns; log "coredns up: $(cat "$OUT/start-coredns.json")"
start_server kdns; log "kdns up: $(cat "$OUT/start-kdns.json")"
start_echo

# Correctness spot check: both servers give the same rcode and the same A set for a few names.
python3 - "$ROOT/bench" "$P_KDNS" "$P_CORE" "$DATA/queries-hits.txt" "$DATA/queries-search.txt" \
  "$DATA/queries-hits-nocache.txt" >"$OUT/compare.txt" <<'EOF' ||
import sys
sys.path.insert(0, sys.argv[1])
import kbench
k, c = kbench.Prober("127.0.0.1:" + sys.argv[2]), kbench.Prober("127.0.0.1:" + sys.argv[3])
lines = (open(sys.argv[4]).read().split("\n")[:60] + open(sys.argv[5]).read().split("\n")[:50]
         + open(sys.argv[6]).read().split("\n")[:40])
bad = 0
for l in lines:
    if not l or l.split()[1] not in kbench.QTYPES:
        continue
    name, t = l.split()
    a, b = k.ask(name, t, 1.0), c.ask(name, t, 1.0)
    if a[0] != b[0] or sorted(a[1]) != sorted(b[1]):
        bad += 1
        print("DIFF %s %s: kdns %s coredns %s" % (name, t, a, b))
print("compared %d questions, %d differ" % (len(lines), bad))
sys.exit(1 if bad else 0)
EOF
  { log "kdns and CoreDNS answers differ:"; head -20 "$OUT/compare.txt" | tee -a "$LOG"; die "answers differ"; }
log "$(tail -1 "$OUT/compare.txt")"

# ------------------------------------------------------------------ memory, relist
if has memory; then
  sleep $((SMOKE ? 1 : 5))
  for srv in kdns coredns; do
    pid=$PID_KDNS; [[ $srv == coredns ]] && pid=$PID_CORE
    jset ".memory.$srv" "$(jq -n --arg r "$(proc_mem "$pid" VmRSS)" --arg h "$(proc_mem "$pid" VmHWM)" \
      '{steady_rss_mb:($r|tonumber), startup_hwm_mb:($h|tonumber)}')"
  done
  log "memory: $(jq -c .memory "$R")"
fi
if has relist && [[ $MODE == api ]]; then
  relists_before=$(grep -c 'list applied' "$OUT/kdns.log" || true)
  for pid in $PID_KDNS $PID_CORE; do echo 5 >"/proc/$pid/clear_refs"; done # reset VmHWM
  log "relist: restarting the API server"
  t0=$(date +%s)
  "$APISERVER_SH" restart-apiserver "$CLUSTER" >>"$LOG" 2>&1 || die "restart-apiserver failed"
  pin_cluster
  source "$CLUSTER/env"
  # Wait (bounded) until kdns has relisted every kind, then a little longer for CoreDNS.
  for ((i = 0; i < 600; i++)); do
    now=$(grep -c 'list applied' "$OUT/kdns.log" || true)
    ((now - relists_before >= (PODS > 0 ? 4 : 3))) && break
    sleep 0.1
  done
  sleep $((SERVICES > 50000 ? SERVICES / 5000 : 10)) # CoreDNS logs nothing when it has relisted
  for srv in kdns coredns; do
    pid=$PID_KDNS; [[ $srv == coredns ]] && pid=$PID_CORE
    jset ".memory.$srv.relist_hwm_mb" "$(proc_mem "$pid" VmHWM)"
    jset ".memory.$srv.after_relist_rss_mb" "$(proc_mem "$pid" VmRSS)"
  done
  jset .memory.kdns_lists_applied_in_relist "$(($(grep -c 'list applied' "$OUT/kdns.log" || true) - relists_before))"
  log "relist: $(jq -c .memory "$R") ($(($(date +%s) - t0)) s)"
fi

# ------------------------------------------------------------------ throughput
dnsperf_run() { # label port file seconds [extra dnsperf args] -> JSON with server CPU
  local label=$1 port=$2 file=$3 secs=$4 pid c0 c1 f
  shift 4
  case $port in $P_KDNS) pid=$PID_KDNS ;; $P_CORE) pid=$PID_CORE ;; *) pid=$PID_ECHO ;; esac
  f=$OUT/dnsperf-$label.txt
  c0=$(proc_cpu "$pid")
  taskset -c $CORE_CLIENT dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" -c 8 -q 256 -t 2 \
    "$@" >"$f" 2>&1 || true
  c1=$(proc_cpu "$pid")
  kill -0 "$pid" 2>/dev/null || die "server for $label died (pid $pid)"
  $KB dnsperf "$f" | jq -c --arg cpu "$(((c1 - c0)))" --arg tck "$(getconf CLK_TCK)" --arg load "$(loadavg)" \
    '. + {server_cpu_s: (($cpu|tonumber)/($tck|tonumber)), load: $load}
       | . + {qps_per_core: (if .server_cpu_s > 0 then ((.completed // 0) / .server_cpu_s | floor) else null end)}'
}

median_of() { # jq array expr -> median
  jq -c "[$1] | sort | .[(length/2|floor)]" "$R"
}

if has qps; then
  for q in hits search hits_nocache search_nocache; do
    file=$DATA/queries-${q/_/-}.txt
    servers="coredns kdns"
    [[ $q == hits || $q == search ]] && servers="coredns kdns echo"
    ((SMOKE)) || for srv in $servers; do # warm up (not recorded)
      port=$P_KDNS; [[ $srv == coredns ]] && port=$P_CORE; [[ $srv == echo ]] && port=$P_ECHO
      taskset -c $CORE_CLIENT dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l 1 -c 8 -q 256 >/dev/null 2>&1 || true
    done
    for ((r = 0; r < ROUNDS; r++)); do
      order=$servers
      ((r % 2)) && order=$(echo "$servers" | tr ' ' '\n' | tac | tr '\n' ' ')
      for srv in $order; do
        port=$P_KDNS; [[ $srv == coredns ]] && port=$P_CORE; [[ $srv == echo ]] && port=$P_ECHO
        res=$(dnsperf_run "$q-$srv-$r" "$port" "$file" "$DURATION")
        log "qps $q $srv round $r: $(echo "$res" | jq -c '{qps, completed, lost, server_cpu_s, qps_per_core, rcodes, load}')"
        jset ".max_$q.$srv.runs[$r]" "$res"
        [[ $(echo "$res" | jq '.completed // 0') -gt 0 ]] || die "$srv answered nothing ($q)"
      done
    done
    for srv in $servers; do
      jset ".max_$q.$srv.qps_med" "$(median_of ".max_$q.$srv.runs[].qps")"
      jset ".max_$q.$srv.qps_per_core_med" "$(median_of ".max_$q.$srv.runs[].qps_per_core")"
    done
  done
fi

# ------------------------------------------------------------------ latency at 50 % of CoreDNS max
if has latency; then
  cmax=$(jq '.max_hits.coredns.qps_med // empty' "$R")
  [[ -n $cmax ]] || cmax=$(dnsperf_run "hits-coredns-probe" "$P_CORE" "$DATA/queries-hits.txt" 2 | jq .qps)
  rate=$(python3 -c "print(max(100, int(float('$cmax') * 0.5)))")
  jset .latency.qps "$rate"
  for ((r = 0; r < (SMOKE ? 1 : 3); r++)); do
    for srv in coredns kdns; do
      port=$P_KDNS; [[ $srv == coredns ]] && port=$P_CORE
      res=$(dnsperf_run "latency-$srv-$r" "$port" "$DATA/queries-hits.txt" "$LAT_SECONDS" -Q "$rate" -v)
      log "latency $srv @ $rate QPS round $r: $(echo "$res" | jq -c '{qps, lost, latency_ms, server_cpu_s, load}')"
      jset ".latency.runs.$srv[$r]" "$(echo "$res" | jq -c 'del(.rcodes)')"
      [[ $(echo "$res" | jq '.completed // 0') -gt 0 ]] || die "$srv answered nothing (latency run)"
    done
  done
  for srv in coredns kdns; do
    for p in p50 p90 p99 p999 max; do
      jset ".latency.$srv.latency_ms.$p" "$(median_of ".latency.runs.$srv[].latency_ms.$p")"
    done
  done
  rm -f "$OUT"/dnsperf-latency-*.txt.v
  # Keep the per-query -v output small on disk: only the summary lines.
  for f in "$OUT"/dnsperf-latency-*.txt; do grep -v '^> ' "$f" >"$f.tmp" && mv "$f.tmp" "$f"; done
fi

if has memory; then
  for srv in kdns coredns; do
    pid=$PID_KDNS; [[ $srv == coredns ]] && pid=$PID_CORE
    jset ".memory.$srv.after_load_rss_mb" "$(proc_mem "$pid" VmRSS)"
  done
fi

# ------------------------------------------------------------------ created -> answered
if has create && [[ $MODE == api ]]; then
  log "create -> answer: $CREATES Services, both servers polled"
  res=$(taskset -c $CORE_CLIENT $KB create-latency --env "$CLUSTER/env" --namespace "$CHECK_NS" \
    --servers "kdns=127.0.0.1:$P_KDNS,coredns=127.0.0.1:$P_CORE" --count "$CREATES" --cleanup) ||
    die "create-latency failed: $res"
  jset .create "$res"
  log "create: $res"
fi

# ------------------------------------------------------------------ programming latency
# --program-rate Service changes per second for --program-seconds, each to another Service (its
# `http` port, seen in SRV answers; kbench.py program-latency): from each change's API
# acknowledgement to the first answer showing it, per server.
if has program && [[ $MODE == api ]]; then
  log "program: $PROGRAM_RATE Service changes/s for $PROGRAM_SECONDS s, both servers polled"
  # One core cannot run the API server at this rate (writes acknowledged 100-300 ms late, watch
  # events later still, equally for both servers): the API server and etcd get both cores and the
  # servers under test priority on theirs, so that what is measured is the servers' own delay.
  nice_all() { local t; for t in /proc/"$2"/task/*; do renice -n "$1" -p "${t##*/}" >/dev/null 2>&1 || true; done; }
  for f in "$CLUSTER/apiserver.pid" "$CLUSTER/etcd.pid"; do taskset -a -cp 0,1 "$(cat "$f")" >/dev/null 2>&1 || true; done
  nice_all -10 "$PID_KDNS"; nice_all -10 "$PID_CORE"
  res=$(taskset -c $CORE_CLIENT $KB program-latency --env "$CLUSTER/env" --services "$SERVICES" \
    --servers "kdns=127.0.0.1:$P_KDNS,coredns=127.0.0.1:$P_CORE" --rate "$PROGRAM_RATE" \
    --seconds "$PROGRAM_SECONDS") || die "program-latency failed: $res"
  pin_cluster
  nice_all 0 "$PID_KDNS"; nice_all 0 "$PID_CORE"
  jset .program "$res"
  log "program: $res"
fi

# ------------------------------------------------------------------ churn elsewhere
# Hits and the search mix while an EndpointSlice in another namespace changes 20 times a
# second (a rolling deployment somewhere in the cluster): how much of each server's speed
# survives churn, against its quiet rate in the qps phase. The churn client and the API server
# share dnsperf's core, so the UDP echo runs under the same churn: what the rig itself loses.
if has churn && [[ $MODE == api ]]; then
  for q in hits search; do
    file=$DATA/queries-$q.txt
    for ((r = 0; r < ROUNDS; r++)); do
      order="coredns kdns echo"
      ((r % 2)) && order="echo kdns coredns"
      for srv in $order; do
        port=$P_KDNS; [[ $srv == coredns ]] && port=$P_CORE; [[ $srv == echo ]] && port=$P_ECHO
        nice -n -10 taskset -c $CORE_CLIENT $KB churn --env "$CLUSTER/env" --seconds "$((DURATION + 1))" \
          --interval 0.05 >"$OUT/churn-$q-$srv-$r.json" &
        cpid=$!
        sleep 0.5
        res=$(dnsperf_run "churn-$q-$srv-$r" "$port" "$file" "$DURATION")
        wait "$cpid" || die "churn failed: $(cat "$OUT/churn-$q-$srv-$r.json")"
        res=$(echo "$res" | jq -c --argjson c "$(cat "$OUT/churn-$q-$srv-$r.json")" '. + {churn: $c}')
        log "churn $q $srv round $r: $(echo "$res" | jq -c '{qps, lost, qps_per_core, churn, load}')"
        jset ".churn_$q.$srv.runs[$r]" "$res"
        [[ $(echo "$res" | jq '.completed // 0') -gt 0 ]] || die "$srv answered nothing (churn)"
      done
    done
    for srv in coredns kdns echo; do
      jset ".churn_$q.$srv.qps_med" "$(median_of ".churn_$q.$srv.runs[].qps")"
      jset ".churn_$q.$srv.qps_per_core_med" "$(median_of ".churn_$q.$srv.runs[].qps_per_core")"
    done
  done
fi

jset .machine.load_at_end "\"$(loadavg)\""
$KB table "$R" >"$OUT/table.md"
cat "$OUT/table.md"
log "results: $R"
((SMOKE)) && echo "bench smoke: ok"
exit 0
