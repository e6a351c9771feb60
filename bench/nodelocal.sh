#!/usr/bin/env bash
# Node-local cache (issue #14): kdns against the node-local DNS cache, cache hits, one core each,
# side by side in one run. Everything on 127.0.0.0/8, ports picked free.
#
#   bench/nodelocal.sh                3 rounds x 10 s per case and server, release build (~6 min)
#   bench/nodelocal.sh --smoke        1 round x 1 s, 50 services, debug build (checks the rig works;
#                                     fails when something is broken, never on speed; not in CI)
#   bench/nodelocal.sh --rounds 5 --duration 10 --services 1000 --names 1000 --out DIR
#   --release / --debug               pick the kdns build (default: release; --smoke: debug)
#   --cases hits,hits_mixedcase       run only these cases (default: both)
#
# The peer: NodeLocal DNSCache's `node-cache` is CoreDNS (v1.11.3 in k8s-dns-node-cache 1.26.4,
# v1.13.1 in 1.26.7) as a library plus interface/iptables set-up and a kube-dns ConfigMap watcher,
# none of which is on the query path. Its module (k8s.io/dns) is not served by the Go module proxy
# here (every version, tag and pseudo-version is refused), so the peer is CoreDNS 1.14.7 from
# scripts/build-tools.sh serving node-cache's Corefile: the same cache and forward plugins answer.
#
# Corefile: NodeLocal DNSCache's (kubernetes cluster/addons/dns/nodelocaldns/nodelocaldns.yaml):
# cluster.local, in-addr.arpa, ip6.arpa and `.` blocks, `cache { success 9984 30  denial 9984 5 }`
# for cluster.local, `forward . __PILLAR__CLUSTER__DNS__ { force_tcp }`. Changed only where the rig
# needs it: the port (a free high one), `bind` to two loopback addresses per server (127.0.0.10
# and .11 for the peer, .20 and .21 for kdns, in place of the link-local IP and the kube-dns
# Service IP), health/prometheus on that loopback address, and the pillars substituted here:
# __PILLAR__CLUSTER__DNS__ and __PILLAR__UPSTREAM__SERVERS__ both point at the "cluster DNS"
# upstream, a kdns on 127.0.0.53 serving --services generated Services from manifests
# (`kbench.py gen`) with `ttl 30` (the cache's cap), pinned to the load generator's core: it sees
# only the misses. kdns runs the substituted Corefile with `kdns --conf`.
#
# Load: both servers on core 0 (taskset -c 0), dnsperf (-c 8 -q 256) on core 1. Query files:
# `hits`: the positive questions of kbench's hits file (A, AAAA of dual-stack Services, SRV;
# lower case; the first --names distinct ones), and `hits_mixedcase`: the same with one
# upper-case letter (kdns's packet cache serves only lower-case questions, so this is kdns's
# `cache` plugin; CoreDNS's cache keys are case blind). Both caches are warmed with each distinct
# question once, paced over 30 s (so that the entries expire spread out, not all in one burst),
# and each measured run follows 1 s of the file on the same server (it refetches what expired
# while that server sat idle); the cache-hit share of the measured runs is read from both
# servers' coredns_cache_{hits,misses}_total. Per case: max QPS, --rounds runs of
# --duration s per server, order alternating; then p50/p99 at a fixed rate (half the slower
# server's median max) with dnsperf -v, --rounds runs each. Medians and per-round ratios
# kdns/peer; RSS (VmRSS, VmHWM) of each at the end. Results: OUT/results.json, OUT/table.md,
# OUT/run.log (OUT: bench/out/nodelocal-TS). Requires dnsperf, taskset, python3, jq, curl and
# coredns (KDNS_TOOLS_BIN, default /var/cache/kdns-tools/bin). KDNS_UNDER_TEST=PATH benchmarks
# another kdns binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KB=(python3 "$ROOT/bench/kbench.py")
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh" # bench_args, bench_out, log, die, free_ports, proc_*, build_kdns …

SMOKE=0 PROFILE='' ROUNDS=3 DURATION=10 SERVICES=1000 NAMES=1000 WARM=30 OUT='' ONLY=all
bench_args --smoke:SMOKE=1 --rounds=ROUNDS --duration=DURATION --services=SERVICES \
  --names=NAMES --out=OUT --cases=ONLY --release:PROFILE=release --debug:PROFILE=debug -- "$@"
((SMOKE)) && ROUNDS=1 DURATION=1 SERVICES=50 WARM=2
((ROUNDS >= 1 && DURATION >= 1 && DURATION <= 120 && SERVICES >= 20 && NAMES >= 1)) ||
  { echo "nodelocal.sh: --rounds >= 1, 1 <= --duration <= 120, --services >= 20, --names >= 1" >&2; exit 2; }

bench_out nodelocal # OUT, LOG
# BIN, CORE_SRV, CORE_CLIENT, PIDS; SIGKILL: CoreDNS's `health` lameduck would hold it on
# SIGTERM, for nothing here.
bench_rig KILL dnsperf taskset python3 jq curl

# ------------------------------------------------------------------ build, data
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); load $(loadavg)"
build_kdns # KDNS, PROFILE

DATA=$OUT/data
"${KB[@]}" gen --services "$SERVICES" --queries $((SMOKE ? 500 : 20000)) --out "$DATA" >"$OUT/meta.json"
CHECK_NAME=$(jq -r .check_name "$OUT/meta.json")
CHECK_IP=$(jq -r .check_ip "$OUT/meta.json")
log "data: $(cat "$OUT/meta.json")"

# ------------------------------------------------------------------ upstream ("cluster DNS")
read -r P_DNS P_UP P_HEALTH P_METRICS P_UPMETRICS < <(free_ports 5)
UP_IP=127.0.0.53
cat >"$OUT/Corefile.upstream" <<EOF
.:$P_UP {
    bind $UP_IP
    prometheus $UP_IP:$P_UPMETRICS
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests $DATA/manifests
        pods insecure
        ttl 30
    }
}
EOF
RUST_LOG=${KDNS_RUST_LOG:-info} taskset -c $CORE_CLIENT "$KDNS" --conf "$OUT/Corefile.upstream" \
  >>"$OUT/upstream.log" 2>&1 &
PID_UP=$!
PIDS+=("$PID_UP")
taskset -c $CORE_CLIENT "${KB[@]}" wait-answer --server "$UP_IP:$P_UP" --name "$CHECK_NAME" --expect "$CHECK_IP" \
  --t0-ns "$(date +%s%N)" --timeout 60 >"$OUT/start-upstream.json" ||
  die "the upstream did not answer $CHECK_NAME with $CHECK_IP within 60 s (log: $OUT/upstream.log)"
log "upstream kdns up on $UP_IP:$P_UP: $(cat "$OUT/start-upstream.json")"

# The hits files: the questions of kbench's hits file that the upstream answers with records
# (negative answers would be cached for 5 s at most: misses every few seconds).
python3 - "$ROOT/bench" "$UP_IP:$P_UP" "$DATA/queries-hits.txt" "$DATA" "$NAMES" >"$OUT/filter.json" <<'EOF' ||
import json, socket, struct, sys
sys.path.insert(0, sys.argv[1])
import kbench
host, port = sys.argv[2].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
lines = [l for l in open(sys.argv[3]).read().split("\n") if l]
positive = {}
for l in sorted(set(lines)):
    name, t = l.split()
    qid = len(positive) & 0xFFFF
    s.sendto(kbench.build_query(qid, name, t), (host, int(port)))
    b, _ = s.recvfrom(65535)
    rid, flags, _, an = struct.unpack(">HHHH", b[:8])
    positive[l] = rid == qid and flags & 15 == 0 and an > 0
keep = set(sorted(l for l, v in positive.items() if v)[:int(sys.argv[5])])
kept = [l for l in lines if l in keep]
if not kept:
    sys.exit("no question has a positive answer")
def mixed(l):
    i = 1 if l[0] == "_" else 0
    return l[:i] + l[i].upper() + l[i + 1:]
with open(sys.argv[4] + "/queries-nl-hits.txt", "w") as f:
    f.write("\n".join(kept) + "\n")
with open(sys.argv[4] + "/queries-nl-distinct.txt", "w") as f:
    f.write("\n".join(sorted(keep)) + "\n")
with open(sys.argv[4] + "/queries-nl-hits-mixedcase.txt", "w") as f:
    f.write("\n".join(mixed(l) for l in kept) + "\n")
print(json.dumps({"questions": len(lines), "kept": len(kept), "distinct": len(keep),
                  "distinct_positive": sum(positive.values()),
                  "distinct_negative_dropped": sum(1 for v in positive.values() if not v)}))
EOF
  die "could not make the query files: $(cat "$OUT/filter.json")"
log "query files: $(cat "$OUT/filter.json")"

# ------------------------------------------------------------------ the node-local servers
# NodeLocal DNSCache's Corefile, kubernetes/kubernetes cluster/addons/dns/nodelocaldns/
# nodelocaldns.yaml (ConfigMap node-local-dns, key Corefile), as published; the rig's changes are
# made by nl_corefile below.
cat >"$OUT/Corefile.base" <<'EOF'
__PILLAR__DNS__DOMAIN__:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    health __PILLAR__LOCAL__DNS__:8080
    }
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    }
ip6.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__UPSTREAM__SERVERS__
    prometheus :9253
    }
EOF
nl_corefile() { # local-ip dns-server-ip -> Corefile on stdout
  sed -e "s/__PILLAR__DNS__DOMAIN__/cluster.local/" \
    -e "s/:53 {\$/:$P_DNS {/" \
    -e "s/__PILLAR__LOCAL__DNS__:8080/$1:$P_HEALTH/" \
    -e "s/__PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__/$1 $2/" \
    -e "s/prometheus :9253/prometheus $1:$P_METRICS/" \
    -e "s/__PILLAR__CLUSTER__DNS__/$UP_IP:$P_UP/" \
    -e "s/__PILLAR__UPSTREAM__SERVERS__/$UP_IP:$P_UP/" "$OUT/Corefile.base"
}
declare -A IP PID
IP[peer]=127.0.0.10 IP[kdns]=127.0.0.20
nl_corefile 127.0.0.10 127.0.0.11 >"$OUT/Corefile.peer"
nl_corefile 127.0.0.20 127.0.0.21 >"$OUT/Corefile.kdns"
! grep -n '__PILLAR__\|:53 {\|:9253\|:8080' "$OUT/Corefile.peer" "$OUT/Corefile.kdns" ||
  die "a pillar or a default port is left in the Corefiles"

start_server() { # peer|kdns
  local s=$1
  if [[ $s == peer ]]; then
    (cd "$OUT" && exec taskset -c $CORE_SRV "$BIN/coredns" -conf "$OUT/Corefile.peer") >>"$OUT/peer.log" 2>&1 &
  else
    RUST_LOG=${KDNS_RUST_LOG:-info} taskset -c $CORE_SRV "$KDNS" --conf "$OUT/Corefile.kdns" \
      >>"$OUT/kdns.log" 2>&1 &
  fi
  PID[$s]=$!
  PIDS+=("${PID[$s]}")
  taskset -c $CORE_CLIENT "${KB[@]}" wait-answer --server "${IP[$s]}:$P_DNS" --name "$CHECK_NAME" --expect "$CHECK_IP" \
    --t0-ns "$(date +%s%N)" --timeout 60 >"$OUT/start-$s.json" ||
    die "$s did not answer $CHECK_NAME with $CHECK_IP within 60 s (log: $OUT/$s.log)"
  log "$s up on ${IP[$s]}:$P_DNS: $(cat "$OUT/start-$s.json")"
}
start_server peer
start_server kdns

# Same answers (rcode, address set) from both and from the upstream, for a sample of each file.
python3 - "$ROOT/bench" "${IP[kdns]}:$P_DNS" "${IP[peer]}:$P_DNS" "$UP_IP:$P_UP" \
  "$DATA/queries-nl-hits.txt" "$DATA/queries-nl-hits-mixedcase.txt" >"$OUT/compare.txt" <<'EOF' ||
import sys
sys.path.insert(0, sys.argv[1])
import kbench
k, c, u = (kbench.Prober(a) for a in sys.argv[2:5])
bad = n = 0
for path in sys.argv[5:]:
    for l in open(path).read().split("\n")[:80]:
        if not l:
            continue
        name, t = l.split()
        x, y, z = k.ask(name, t, 1.0), c.ask(name, t, 1.0), u.ask(name, t, 1.0)
        n += 1
        if x[0] != "NOERROR" or x[0] != y[0] or x[0] != z[0] or not sorted(x[1]) == sorted(y[1]) == sorted(z[1]):
            bad += 1
            print("DIFF %s %s: kdns %s, peer %s, upstream %s" % (name, t, x, y, z))
print("compared %d questions, %d differ" % (n, bad))
sys.exit(1 if bad else 0)
EOF
  { head -20 "$OUT/compare.txt" | tee -a "$LOG"; die "kdns and the peer answer differently"; }
log "kdns vs peer vs upstream: $(tail -1 "$OUT/compare.txt")"

# ------------------------------------------------------------------ measure
R=$OUT/results.json
jq -n --arg n "$(nproc)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --arg k "$(uname -r)" --arg load "$(loadavg)" --arg dnsperf "$(dnsperf -h 2>&1 | grep -m1 Version || true)" \
  --arg peer "$("$BIN/coredns" -version | head -1) with node-cache's Corefile" \
  --arg kdns "$(cd "$ROOT" && git describe --always --dirty)" \
  --arg profile "$PROFILE" --argjson rounds "$ROUNDS" --argjson duration "$DURATION" \
  --argjson services "$SERVICES" --argjson q "$(cat "$OUT/filter.json")" --arg date "$(date -u +%FT%TZ)" \
  '{machine: {nproc:$n, cpu:$cpu, kernel:$k, load_at_start:$load, dnsperf:$dnsperf, peer:$peer,
    kdns:$kdns, kdns_build:$profile, date:$date}, rounds:$rounds, duration_s:$duration,
    services:$services, queries:$q, cases:{}}' >"$R"

cache_counts() { # server -> "hits misses" (coredns_cache_*_total, all blocks and types)
  curl -s --max-time 5 "http://${IP[$1]}:$P_METRICS/metrics" |
    awk '/^coredns_cache_hits_total/ {h += $NF} /^coredns_cache_misses_total/ {m += $NF}
         END {printf "%d %d\n", h, m}'
}

dnsperf_run() { # label server file seconds [dnsperf args] -> JSON with CPU and cache-hit share
  local f=$OUT/dnsperf-$1.txt s=$2 file=$3 secs=$4 pid c0 c1 h0 m0 h1 m1
  shift 4
  pid=${PID[$s]}
  # 1 s of the file first, not recorded: it refetches the entries that expired while this server
  # sat idle (the other one's turn), which would otherwise all miss in the run's first moment.
  taskset -c $CORE_CLIENT dnsperf -s "${IP[$s]}" -p "$P_DNS" -d "$file" -l 1 -c 8 -q 256 >/dev/null 2>&1 || true
  read -r h0 m0 < <(cache_counts "$s")
  c0=$(proc_cpu "$pid")
  taskset -c $CORE_CLIENT dnsperf -s "${IP[$s]}" -p "$P_DNS" -d "$file" -l "$secs" -c 8 -q 256 -t 2 "$@" \
    >"$f" 2>&1 || true
  c1=$(proc_cpu "$pid")
  kill -0 "$pid" 2>/dev/null || die "$s died during $1 (log: $OUT/$s.log)"
  read -r h1 m1 < <(cache_counts "$s")
  "${KB[@]}" dnsperf "$f" | jq -c --arg cpu "$((c1 - c0))" --arg tck "$(getconf CLK_TCK)" --arg load "$(loadavg)" \
    --argjson h "$((h1 - h0))" --argjson m "$((m1 - m0))" \
    '. + {server_cpu_s: (($cpu|tonumber)/($tck|tonumber)), load: $load, cache_hits: $h, cache_misses: $m}
       | . + {qps_per_core: (if .server_cpu_s > 0 then ((.completed // 0) / .server_cpu_s | floor) else null end)}'
}

# Warm both caches with each distinct question once, paced over WARM s (the cache's TTL cap): the
# entries then expire spread out, as in a node's steady state, rather than all in one burst of
# forwards every 30 s (which, measured, put ~2 % of a 10-s run's answers behind a burst of TCP
# forwards and made p99 a measure of that burst). Each expired entry is refetched by the next
# query for it: misses stay a steady trickle of about NAMES/30 a second.
python3 - "$ROOT/bench" "${IP[kdns]}:$P_DNS" "${IP[peer]}:$P_DNS" "$DATA/queries-nl-distinct.txt" "$WARM" \
  >"$OUT/warm.json" <<'EOF' || die "warm-up failed: $(cat "$OUT/warm.json")"
import json, sys, time
sys.path.insert(0, sys.argv[1])
import kbench
servers = [kbench.Prober(a) for a in sys.argv[2:4]]
qs = [l.split() for l in open(sys.argv[4]).read().split("\n") if l]
step, t0, bad = float(sys.argv[5]) / len(qs), time.monotonic(), 0
for i, (name, t) in enumerate(qs):
    time.sleep(max(0.0, t0 + i * step - time.monotonic()))
    for p in servers:
        bad += p.ask(name, t, 1.0)[0] != "NOERROR"
print(json.dumps({"questions": len(qs), "seconds": round(time.monotonic() - t0, 1), "not_noerror": bad}))
sys.exit(1 if bad else 0)
EOF
log "caches warmed: $(cat "$OUT/warm.json")"

CASES="hits:queries-nl-hits.txt
hits_mixedcase:queries-nl-hits-mixedcase.txt"
while IFS=: read -r c qf; do
  [[ $ONLY == all || ,$ONLY, == *,$c,* ]] || continue
  file=$DATA/$qf
  while read -r r s; do
    res=$(dnsperf_run "$c-max-$s-$r" "$s" "$file" "$DURATION")
    log "$c max $s round $r: $(echo "$res" | jq -c '{qps, completed, lost, server_cpu_s, cache_hits, cache_misses, load}')"
    check_run "$s" "$c" "$res"
    jset ".cases.$c.max.$s.runs[$r]" "$res"
  done < <(alternate peer kdns)
  rate=$(jq --arg c "$c" '.cases[$c].max | [.[] | [.runs[].qps] | sort | .[(length/2|floor)]] | min * 0.5 | floor' "$R")
  ((rate >= 100)) || rate=100
  jset ".cases.$c.latency_rate" "$rate"
  while read -r r s; do
    res=$(dnsperf_run "$c-lat-$s-$r" "$s" "$file" "$DURATION" -Q "$rate" -v)
    grep -v '^> ' "$OUT/dnsperf-$c-lat-$s-$r.txt" >"$OUT/tmp.txt" && mv "$OUT/tmp.txt" "$OUT/dnsperf-$c-lat-$s-$r.txt"
    log "$c latency @ $rate QPS $s round $r: $(echo "$res" | jq -c '{qps, lost, latency_ms, server_cpu_s, cache_hits, cache_misses, load}')"
    check_run "$s" "$c" "$res"
    jset ".cases.$c.latency.$s.runs[$r]" "$(echo "$res" | jq -c 'del(.rcodes)')"
  done < <(alternate peer kdns)
done <<<"$CASES"

for s in peer kdns; do
  jset ".memory.$s" "$(jq -n --arg r "$(proc_mem "${PID[$s]}" VmRSS)" --arg h "$(proc_mem "${PID[$s]}" VmHWM)" \
    '{rss_mb: ($r|tonumber), hwm_mb: ($h|tonumber)}')"
done
jset .upstream_cpu_s "$(jq -n --arg c "$(proc_cpu "$PID_UP")" --arg t "$(getconf CLK_TCK)" '($c|tonumber)/($t|tonumber)')"
log "memory: $(jq -c .memory "$R")"

# Medians, and per-round ratios kdns/peer (the two runs of a round are back to back).
tmp=$(jq '.machine.load_at_end = $l
  | def med: sort | .[(length/2|floor)];
    def r3: . * 1000 | round / 1000;
    .memory.rss_ratio = (.memory.kdns.rss_mb / .memory.peer.rss_mb | r3)
  | .cases |= with_entries(.value |= (
      .max |= with_entries(.value.qps_med = ([.value.runs[].qps] | med)
        | .value.qps_per_core_med = ([.value.runs[].qps_per_core // 0] | med)
        | .value.hit_share = ([.value.runs[] | .cache_hits / ((.cache_hits + .cache_misses) + 1e-9)] | min | . * 10000 | round / 10000))
    | .qps_ratio_runs = [range(0; (.max.kdns.runs | length)) as $i | (.max.kdns.runs[$i].qps / .max.peer.runs[$i].qps | r3)]
    | .qps_ratio_med = (.qps_ratio_runs | med)
    | .latency |= with_entries(.value.latency_ms = (.value.runs as $r
        | reduce ("p50", "p90", "p99", "p999", "max") as $p ({}; .[$p] = ([$r[].latency_ms[$p]] | med))))
    | .p99_ratio_runs = [range(0; (.latency.kdns.runs | length)) as $i
        | (.latency.kdns.runs[$i].latency_ms.p99 / .latency.peer.runs[$i].latency_ms.p99 | r3)]
    | .p99_ratio_med = (.p99_ratio_runs | med)))' --arg l "$(loadavg)" "$R") && echo "$tmp" >"$R"

{
  echo "| case | kdns max QPS | peer max QPS | ratio kdns/peer (per-round) | QPS per busy core kdns / peer | rate | p50 kdns / peer (ms) | p99 kdns / peer (ms) | p99 ratio (per-round) | cache-hit share kdns / peer (lowest run) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  jq -r '.cases | to_entries[] | .value as $v | [
      .key, ($v.max.kdns.qps_med | floor), ($v.max.peer.qps_med | floor),
      "\($v.qps_ratio_med) (\($v.qps_ratio_runs | map(tostring) | join(" ")))",
      "\($v.max.kdns.qps_per_core_med) / \($v.max.peer.qps_per_core_med)", $v.latency_rate,
      "\($v.latency.kdns.latency_ms.p50) / \($v.latency.peer.latency_ms.p50)",
      "\($v.latency.kdns.latency_ms.p99) / \($v.latency.peer.latency_ms.p99)",
      "\($v.p99_ratio_med) (\($v.p99_ratio_runs | map(tostring) | join(" ")))",
      "\($v.max.kdns.hit_share) / \($v.max.peer.hit_share)"]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
  jq -r '"\nRSS after the run: kdns \(.memory.kdns.rss_mb) MB (peak \(.memory.kdns.hwm_mb)), peer \(.memory.peer.rss_mb) MB (peak \(.memory.peer.hwm_mb)); ratio \(.memory.rss_ratio). Upstream CPU over the whole run: \(.upstream_cpu_s) s."' "$R"
} >"$OUT/table.md"
cat "$OUT/table.md"
log "results: $R"
((SMOKE)) && echo "nodelocal smoke: ok"
exit 0
