#!/usr/bin/env bash
# CPU profile of kdns's query path under dnsperf load: where the time per query goes.
#
#   bench/profile.sh                         kdns on 10k generated services (manifests, no API)
#   bench/profile.sh --queries search        the perf-tests search-path mix instead of hits
#   bench/profile.sh --attach PID PORT       profile a server that already runs (e.g. CoreDNS)
#   bench/profile.sh --services 1000 --seconds 5
#
# Server on core 0, dnsperf on core 1, `perf record -g --call-graph dwarf` on the server for
# SECONDS; then bench/perf_breakdown.py prints the stage shares and ns/query (from the measured
# QPS and the server's CPU time during the recording). Output in bench/out/profile-TIMESTAMP/.
# Needs perf (linux-perf) with permission to record (root, or perf_event_paranoid <= 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
SERVICES=10000 QUERIES=hits SECONDS_=6 ATTACH_PID= ATTACH_PORT=
while (($#)); do
  case $1 in
  --services) SERVICES=$2; shift ;;
  --queries) QUERIES=$2; shift ;;
  --seconds) SECONDS_=$2; shift ;;
  --attach) ATTACH_PID=$2 ATTACH_PORT=$3; shift 2 ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
command -v perf >/dev/null || { echo "profile.sh: perf not found" >&2; exit 1; }
OUT=$ROOT/bench/out/profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PID= PERF_PID=
cleanup() {
  [[ -n $PERF_PID ]] && kill "$PERF_PID" 2>/dev/null || true
  [[ -n $PID && -z $ATTACH_PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
}
trap cleanup EXIT

python3 "$ROOT/bench/kbench.py" gen --services "$SERVICES" --out "$OUT/data" >"$OUT/meta.json"
if [[ -n $ATTACH_PID ]]; then
  PID=$ATTACH_PID PORT=$ATTACH_PORT
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
  (cd "$ROOT" && cargo build --release --quiet --bin kdns)
  PORT=$(free_ports 1)
  manifests_corefile "$PORT" "$OUT/data/manifests" >"$OUT/Corefile"
  taskset -c 0 "$CARGO_TARGET_DIR/release/kdns" --conf "$OUT/Corefile" >"$OUT/kdns.log" 2>&1 &
  PID=$!
  name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["check_name"])' "$OUT/meta.json")
  for ((i = 0; i < 600; i++)); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" "$name" 2>/dev/null | grep -q . && break
    kill -0 "$PID" || { cat "$OUT/kdns.log"; exit 1; }
    sleep 0.1
  done
fi

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary.txt"
taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$OUT/data/queries-$QUERIES.txt" -l $((SECONDS_ + 3)) \
  -c 8 -q 256 -S 1 >"$OUT/dnsperf.txt" 2>&1 &
DP=$!
sleep 1.5
c0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
t0=$(date +%s%N)
perf record -F 1999 -g --call-graph dwarf,16384 -p "$PID" -o "$OUT/perf.data" -- sleep "$SECONDS_" \
  >"$OUT/perf-record.log" 2>&1 &
PERF_PID=$!
wait $PERF_PID || true
PERF_PID=
c1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
t1=$(date +%s%N)
wait $DP || true
# QPS during the recording: mean of dnsperf's per-second lines in that window (all of them if
# the run printed none).
qps=$(awk '/^[0-9.]+: [0-9.]+$/ {print $2}' "$OUT/dnsperf.txt" | sed -n "2,$((SECONDS_ + 1))p" |
  awk '{s += $1; n++} END {if (n) printf "%d", s / n}')
[[ -n $qps ]] || qps=$(awk '/Queries per second/ {printf "%d", $4}' "$OUT/dnsperf.txt")
cpu=$(python3 -c "print(round(($c1 - $c0) / $(getconf CLK_TCK) / (($t1 - $t0) / 1e9), 3))")
echo "qps during recording: $qps; server busy fraction: $cpu; load: $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee -a "$OUT/summary.txt"
perf script -i "$OUT/perf.data" -F comm,tid,ip,sym 2>/dev/null |
  python3 "$ROOT/bench/perf_breakdown.py" --qps "$qps" --cpu "$cpu" | tee -a "$OUT/summary.txt"
echo "profile: $OUT (perf report -i $OUT/perf.data)"
