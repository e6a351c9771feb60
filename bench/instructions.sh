#!/usr/bin/env bash
# Instructions per question of kdns's UDP path, counted by callgrind: an A/B of user-space work
# that timing on this shared VM cannot resolve (runs of one binary differ by ±15 %; this count
# differs by well under 1 %). Kernel work (the syscalls, ~70 % of a question's CPU) is not in it.
#
#   bench/instructions.sh                                the working tree's release build
#   bench/instructions.sh --queries hits-nocache         another query file of kbench.py gen
#   bench/instructions.sh BIN_A BIN_B ...                binaries built elsewhere, side by side
#   bench/instructions.sh --services 1000 --count 5000
#
# Each binary serves the generated Services from manifests under valgrind (collecting only
# inside the UDP sockets' tasks, `--toggle-collect`), answers COUNT questions from dnsperf
# (20 in flight), and the total is divided by COUNT; then its ten costliest functions (self).
# Needs valgrind (callgrind) and dnsperf. Output in bench/out/instructions-TIMESTAMP/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
SERVICES=10000 QUERIES=search-nocache COUNT=20000 BINS=()
while (($#)); do
  case $1 in
  --services) SERVICES=$2; shift ;;
  --queries) QUERIES=$2; shift ;;
  --count) COUNT=$2; shift ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  -*) echo "instructions.sh: unknown argument $1" >&2; exit 2 ;;
  *) BINS+=("$1") ;;
  esac
  shift
done
for tool in valgrind callgrind_annotate dnsperf dig; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool not found" >&2; exit 1; }
done
OUT=$ROOT/bench/out/instructions-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PID=
trap '[[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true' EXIT

if ((${#BINS[@]} == 0)); then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
  (cd "$ROOT" && cargo build --release --quiet --bin kdns)
  BINS=("$CARGO_TARGET_DIR/release/kdns")
fi
python3 "$ROOT/bench/kbench.py" gen --services "$SERVICES" --out "$OUT/data" >"$OUT/meta.json"
[[ -f $OUT/data/queries-$QUERIES.txt ]] || { echo "instructions.sh: no query file $QUERIES" >&2; exit 2; }
head -n "$COUNT" "$OUT/data/queries-$QUERIES.txt" >"$OUT/queries.txt"
COUNT=$(wc -l <"$OUT/queries.txt")
name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["check_name"])' "$OUT/meta.json")
PORT=$(free_ports 1)
manifests_corefile "$PORT" "$OUT/data/manifests" >"$OUT/Corefile"

for i in "${!BINS[@]}"; do
  bin=${BINS[$i]} cg=$OUT/callgrind-$i.out
  valgrind --tool=callgrind --toggle-collect='*TrackedFuture*poll*' --callgrind-out-file="$cg" \
    "$bin" --conf "$OUT/Corefile" >"$OUT/kdns-$i.log" 2>&1 &
  PID=$!
  up=
  for ((t = 0; t < 600; t++)); do # 5 minutes at most: 10k manifests load slowly under valgrind
    dig +short +time=2 +tries=1 @127.0.0.1 -p "$PORT" "$name" 2>/dev/null | grep -qE '^[0-9a-f.:]+$' && { up=1; break; }
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.5
  done
  [[ -n $up ]] || { echo "instructions.sh: $bin did not answer $name (log: $OUT/kdns-$i.log)" >&2; exit 1; }
  dnsperf -s 127.0.0.1 -p "$PORT" -d "$OUT/queries.txt" -n 1 -q 20 -t 20 >"$OUT/dnsperf-$i.txt" 2>&1
  kill "$PID"; wait "$PID" 2>/dev/null || true
  PID=
  completed=$(awk '/Queries completed/ {print $3}' "$OUT/dnsperf-$i.txt")
  ((completed == COUNT)) || { echo "instructions.sh: $completed of $COUNT answered ($OUT/dnsperf-$i.txt)" >&2; exit 1; }
  callgrind_annotate "$cg" 2>/dev/null >"$OUT/annotate-$i.txt"
  total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$OUT/annotate-$i.txt")
  echo "$bin: $((total / COUNT)) instructions per question ($QUERIES, $COUNT questions, $SERVICES Services)" |
    tee -a "$OUT/summary.txt"
  grep -E '^ *[0-9,]+ \(' "$OUT/annotate-$i.txt" | sed -n '2,11p' |
    sed -E 's|\( *[0-9.]+%\) *||; s|/root/.cargo/registry/src/[^/]*/||; s|/rustc/[^/]*/||' |
    awk -v n="$COUNT" '{c = $1; gsub(",", "", c); $1 = ""; printf "  %6.0f %s\n", c / n, substr($0, 2, 150)}' |
    tee -a "$OUT/summary.txt"
done
echo "output: $OUT"
