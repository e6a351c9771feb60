# Sourced by the bench/ scripts (run.sh, directives.sh, autopath.sh, overload.sh, nodelocal.sh,
# per_node.sh, profile.sh, instructions.sh): the helpers they share. Only definitions: sourcing it runs nothing.

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; } # LOG: the run's log file
die() { log "ERROR: $*"; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
proc_cpu() { # pid -> utime+stime in clock ticks (all threads)
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
proc_cpu_ms() { # pid -> CPU in ms, to the microsecond: the sum of its live threads' schedstat
  # (utime+stime in /proc/PID/stat counts whole clock ticks, 10 ms: too coarse for a ~100 ms
  # start); the tick count instead when it is more than a tick above (a thread that exited).
  local pid=$1 ticks ns=0 f v
  ticks=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) * 1000 / hz}' "/proc/$pid/stat" 2>/dev/null) || ticks=0
  for f in /proc/"$pid"/task/*/schedstat; do
    { read -r v _ <"$f"; } 2>/dev/null && ns=$((ns + v))
  done
  awk -v n="$ns" -v k="${ticks:-0}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {p = n / 1e6; if (k - p > 1000 / hz) p = k; printf "%.3f", p}'
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

manifests_corefile() { # port manifests-dir -> a Corefile serving those manifests on 127.0.0.1:port
  cat <<EOF
.:$1 {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests $2
        pods insecure
    }
}
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

# The command line, from a table: bench_args SPEC... -- ARG...
# SPEC is --flag=VAR (the flag takes a value, VAR gets it) or --flag:VAR=VALUE (a switch: VAR
# gets VALUE). -h|--help prints the script's header (the comment lines after the #! line) and
# exits 0; anything else exits 2 with "SCRIPT: unknown argument ARG".
bench_args() {
  local spec
  local -A takes=() sets=()
  while [[ $1 != -- ]]; do
    spec=$1
    if [[ $spec == *:* ]]; then sets[${spec%%:*}]=${spec#*:}; else takes[${spec%%=*}]=${spec#*=}; fi
    shift
  done
  shift
  while (($#)); do
    if [[ -n $1 && -n ${takes[$1]+x} ]]; then
      printf -v "${takes[$1]}" %s "$2"
      shift
    elif [[ -n $1 && -n ${sets[$1]+x} ]]; then
      printf -v "${sets[$1]%%=*}" %s "${sets[$1]#*=}"
    elif [[ $1 == -h || $1 == --help ]]; then
      awk 'NR == 1 {next} /^#/ {print; next} {exit}' "$0"
      exit 0
    else
      echo "${0##*/}: unknown argument $1" >&2
      exit 2
    fi
    shift
  done
}

# bench_out NAME: OUT (--out, else bench/out/NAME-TIMESTAMP, -smoke added with SMOKE=1) made and
# absolute; LOG=OUT/run.log.
bench_out() {
  local smoke=
  ((${SMOKE:-0})) && smoke=-smoke
  OUT=${OUT:-$ROOT/bench/out/$1-$(date +%Y%m%d-%H%M%S)$smoke}
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  LOG=$OUT/run.log
}

# tools_bin TOOL...: BIN, the Go-built tools (KDNS_TOOLS_BIN, else KDNS_BIN, else
# /var/cache/kdns-tools/bin); dies unless each TOOL is there.
tools_bin() {
  local t
  BIN=${KDNS_TOOLS_BIN:-${KDNS_BIN:-/var/cache/kdns-tools/bin}}
  for t in "$@"; do
    [[ -x $BIN/$t ]] || die "$BIN/$t missing: run scripts/build-tools.sh (or set KDNS_TOOLS_BIN)"
  done
}

# need_commands COMMAND...: dies unless each is on the PATH.
need_commands() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
  done
}

# rig_cores: CORE_SRV=0 for the server under test, CORE_CLIENT=1 for the load (0 on one core).
rig_cores() {
  CORE_SRV=0 CORE_CLIENT=1
  (($(nproc) >= 2)) || CORE_CLIENT=0
}

# bench_rig SIGNAL COMMAND...: the side-by-side rig: BIN holding coredns (tools_bin), each
# COMMAND on the PATH, CORE_SRV and CORE_CLIENT (rig_cores), and PIDS, empty, whose processes
# get SIGNAL when the script exits (reap_on_exit).
bench_rig() {
  local signal=$1
  shift
  tools_bin coredns
  need_commands "$@"
  rig_cores
  PIDS=()
  reap_on_exit "$signal"
}

# reap_on_exit [SIGNAL]: when the script exits (INT and TERM: exit 130), every pid in PIDS gets
# SIGNAL (default TERM) and is waited for; the exit status is the script's.
reap_on_exit() {
  REAP_SIGNAL=${1:-TERM}
  trap reap EXIT
  trap 'exit 130' INT TERM
}
# shellcheck disable=SC2317 # reap runs from the EXIT trap
reap() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill -"$REAP_SIGNAL" "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  exit "$rc"
}

# stop_pid PID: stops it (SIGTERM), waits for it, drops it from PIDS.
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# build_kdns: KDNS, the kdns binary: KDNS_UNDER_TEST when set (another build, not built here),
# else `cargo build --bin kdns` (output to LOG) in PROFILE (default: debug with SMOKE=1, the
# build the tests already made, since a smoke run checks the harness, not speed; else release)
# into CARGO_TARGET_DIR (default ROOT/target; exported).
build_kdns() {
  local flags=(--quiet --bin kdns)
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
  PROFILE=${PROFILE:-$( ((${SMOKE:-0})) && echo debug || echo release)}
  if [[ -n ${KDNS_UNDER_TEST:-} ]]; then
    KDNS=$KDNS_UNDER_TEST
  else
    log "building kdns ($PROFILE)"
    [[ $PROFILE == release ]] && flags+=(--release)
    (cd "$ROOT" && cargo build "${flags[@]}") >>"$LOG" 2>&1 || die "cargo build failed (see $LOG)"
    KDNS=$CARGO_TARGET_DIR/$PROFILE/kdns
  fi
  [[ -x $KDNS ]] || die "no kdns binary at $KDNS"
}

# alternate A B: the runs of ROUNDS rounds, a line "ROUND SERVER" each: A then B in even rounds,
# B then A in odd ones (the two runs of a round back to back, neither server always first).
alternate() {
  local r
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2)); then echo "$r $2"; echo "$r $1"; else echo "$r $1"; echo "$r $2"; fi
  done
}

# jset PATH JSON: sets PATH (a jq path) to JSON in the results file R.
jset() { local tmp; tmp=$(jq --argjson v "$2" "$1 = \$v" "$R") && echo "$tmp" >"$R"; }

# check_run SERVER CASE JSON: dies unless a dnsperf run (kbench.py dnsperf's JSON) got answers,
# all NOERROR.
check_run() {
  [[ $(echo "$3" | jq '.completed // 0') -gt 0 ]] || die "$1 answered nothing ($2)"
  [[ $(echo "$3" | jq -c '.rcodes | keys') == '["NOERROR"]' ]] ||
    die "$1 gave other answers than NOERROR in $2: $(echo "$3" | jq -c .rcodes)"
}
