#!/usr/bin/env bash
# Directives in the chain (issue #11), one command. Everything on 127.0.0.1, ports picked free.
#
#   bench/directives.sh               3 rounds x 5 s per case and server, release build (~3.5 min)
#   bench/directives.sh --smoke       1 round x 1 s, 50 services, debug build (CI: fails when
#                                     something is broken, never on speed)
#   bench/directives.sh --rounds 5 --duration 10 --services 10000 --hosts 1000 --out DIR
#   --release / --debug               pick the kdns build (default: release; --smoke: debug)
#   --cases hits,hits_nocache         run only these cases (default: all: hits, hits_nocache,
#                                     control_same_corefile, hosts_answer, template_answer)
#
# (a) cluster hits, kdns against kdns: kubeadm's Corefile (tests/fixtures/distributions/kubeadm)
#     vs the same Corefile plus a k3s-shaped `hosts` block (--hosts entries, none matching, with
#     `fallthrough`), a `template` in cluster.local that matches no hit (AKS's search-path
#     shape, its regex runs on every cluster question), a `template` for another zone and a
#     regex `rewrite` rule that matches nothing. Two query files: `hits` (lower case: kdns's UDP
#     packet cache replays them without running the chain) and `hits_nocache` (the same names
#     with one upper-case letter: every query runs the whole chain). Requirement: >= 0.90.
#     Control (`control_same_corefile`): a second kdns with the plain Corefile, started after
#     the plus one, against the first, on hits_nocache: what the rig reads for no difference.
# (b) kdns vs CoreDNS 1.14.7 with the same Corefile: (a)'s second Corefile without its
#     `kubernetes` block (CoreDNS would need an API server) and without `cache` (it would answer
#     in place of the directive): a `hosts` answer and a `template` answer. Requirement: >= 2.
#
# Rig as bench/run.sh: the servers on core 0 (taskset -c 0), dnsperf (-c 8 -q 256) on core 1.
# All servers run at once; each case runs its two servers back to back per round, order
# alternating, and reports the median QPS of each and the median of the per-round ratios.
# `forward . /etc/resolv.conf` points at a free 127.0.0.1 port where nothing listens (no
# measured query is forwarded). Before measuring, both servers of each case must give the same
# answers (and the expected address) for a sample of the query file; every measured answer must
# be NOERROR. Results: OUT/results.json, OUT/table.md, OUT/run.log (OUT: bench/out/directives-TS).
# Requires: dnsperf, taskset, python3, jq, and coredns (KDNS_TOOLS_BIN, default
# /var/cache/kdns-tools/bin). KDNS_UNDER_TEST=PATH benchmarks another kdns binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KB="python3 $ROOT/bench/kbench.py"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh" # bench_args, bench_out, log, die, free_ports, proc_*, build_kdns …

SMOKE=0 PROFILE= ROUNDS=3 DURATION=5 SERVICES=1000 HOSTS=1000 OUT= ONLY=all
bench_args --smoke:SMOKE=1 --rounds=ROUNDS --duration=DURATION --services=SERVICES \
  --hosts=HOSTS --out=OUT --cases=ONLY --release:PROFILE=release --debug:PROFILE=debug -- "$@"
((SMOKE)) && ROUNDS=1 DURATION=1 SERVICES=50
((ROUNDS >= 1 && DURATION >= 1 && SERVICES >= 20 && HOSTS >= 1 && HOSTS <= 65536)) ||
  { echo "directives.sh: --rounds, --duration >= 1, --services >= 20, 1 <= --hosts <= 65536" >&2; exit 2; }

bench_out directives # OUT, LOG
# BIN, CORE_SRV, CORE_CLIENT, PIDS; SIGKILL: `health { lameduck 5s }` would hold each server 5 s
# on SIGTERM, for nothing here.
bench_rig KILL dnsperf taskset python3 jq

# ------------------------------------------------------------------ build, data
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); load $(loadavg)"
build_kdns # KDNS, PROFILE

DATA=$OUT/data
NQ=$((SMOKE ? 500 : 20000))
$KB gen --services "$SERVICES" --queries "$NQ" --out "$DATA" >"$OUT/meta.json"
CHECK_NAME=$(jq -r .check_name "$OUT/meta.json")
CHECK_IP=$(jq -r .check_ip "$OUT/meta.json")
# k3s's NodeHosts shape: `IP NAME`, one node a line. Query files for the two answers of (b).
python3 - "$DATA" "$HOSTS" "$NQ" <<'EOF'
import random, sys
d, n, nq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(11)
with open(d + "/NodeHosts", "w") as f:
    for k in range(n):
        f.write("10.77.%d.%d k3s-node-%d\n" % (k >> 8, k & 255, k))
with open(d + "/queries-hosts.txt", "w") as f:
    for _ in range(nq):
        f.write("k3s-node-%d A\n" % rnd.randrange(n))
with open(d + "/queries-template.txt", "w") as f:
    for _ in range(nq):
        f.write("ip-10-%d-%d-%d.nodes.example.test A\n" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255)))
EOF
log "data: $(cat "$OUT/meta.json"); $HOSTS hosts entries"

# ------------------------------------------------------------------ Corefiles
# kubeadm's Corefile, every line kept; changed only where the rig needs it: the port, `bind
# 127.0.0.1`, health/ready/prometheus on free loopback ports, `manifests DIR` in the kubernetes
# block (as tests/kubeadm.rs) and the forward target.
FIXTURE=$ROOT/tests/fixtures/distributions/kubeadm/Corefile
EXTRA=$OUT/extra.conf # the directives (a) adds, inside the server block
cat >"$EXTRA" <<EOF
    hosts $DATA/NodeHosts {
      ttl 60
      reload 15s
      fallthrough
    }
    template ANY ANY cluster.local {
      match "^(?:[^.]+\.){7,}cluster\.local\.\$"
      rcode NXDOMAIN
      fallthrough
    }
    template IN A nodes.example.test {
      match "^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]nodes[.]example[.]test[.]\$"
      answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
    rewrite stop {
      name regex (.*)\.corp\.internal\. {1}.svc.cluster.local.
      answer name (.*)\.svc\.cluster\.local\. {1}.corp.internal.
    }
EOF
corefile() { # variant(plain|plus|chain) dns health ready metrics upstream -> Corefile on stdout
  python3 - "$FIXTURE" "$EXTRA" "$DATA/manifests" "$@" <<'EOF'
import sys
fixture, extra, manifests, variant, dns, health, ready, metrics, up = sys.argv[1:]
text = open(fixture).read()
def sub(old, new):
    global text
    if text.count(old) != 1:
        sys.exit("kubeadm Corefile: expected exactly one %r" % old)
    text = text.replace(old, new)
sub(".:53 {\n", ".:%s {\n    bind 127.0.0.1\n" % dns)
sub("    health {\n", "    health 127.0.0.1:%s {\n" % health)
sub("    ready\n", "    ready 127.0.0.1:%s\n" % ready)
sub("    prometheus :9153\n", "    prometheus 127.0.0.1:%s\n" % metrics)
sub("    forward . /etc/resolv.conf {\n", "    forward . 127.0.0.1:%s {\n" % up)
sub("       pods insecure\n", "       manifests %s\n       pods insecure\n" % manifests)
if variant != "plain":
    sub("    prometheus", open(extra).read() + "    prometheus")
if variant == "chain":  # no kubernetes (CoreDNS has no API server here), no cache
    for start in ("    kubernetes ", "    cache "):
        i = text.index(start)
        j = text.index("\n    }\n", i) + len("\n    }\n")
        text = text[:i] + text[j:]
sys.stdout.write(text)
EOF
}

SERVERS="plain plus plain2 kdns coredns" # (a): plain, plus (control: plain2); (b): kdns, coredns
declare -A PORT PID CONF
read -r -a P < <(free_ports 21)
UPSTREAM=${P[20]} # nothing listens there
i=0
for s in $SERVERS; do
  v=${s%2}
  [[ $s == kdns || $s == coredns ]] && v=chain
  PORT[$s]=${P[i]}
  CONF[$s]=$OUT/Corefile.$s
  corefile "$v" "${P[i]}" "${P[i + 1]}" "${P[i + 2]}" "${P[i + 3]}" "$UPSTREAM" >"${CONF[$s]}" ||
    die "could not write ${CONF[$s]}"
  i=$((i + 4))
done

start_server() { # name
  local s=$1 name=$CHECK_NAME ip=$CHECK_IP
  if [[ $s == coredns ]]; then
    (cd "$OUT" && exec taskset -c $CORE_SRV "$BIN/coredns" -conf "${CONF[$s]}") >>"$OUT/$s.log" 2>&1 &
  else
    RUST_LOG=${KDNS_RUST_LOG:-info} taskset -c $CORE_SRV "$KDNS" --conf "${CONF[$s]}" >>"$OUT/$s.log" 2>&1 &
  fi
  PID[$s]=$!
  PIDS+=("${PID[$s]}")
  [[ $s == kdns || $s == coredns ]] && name=k3s-node-0 ip=10.77.0.0
  taskset -c $CORE_CLIENT $KB wait-answer --server "127.0.0.1:${PORT[$s]}" --name "$name" --expect "$ip" \
    --t0-ns "$(date +%s%N)" --timeout 60 >"$OUT/start-$s.json" ||
    die "$s did not answer $name with $ip within 60 s (log: $OUT/$s.log)"
  log "$s up on 127.0.0.1:${PORT[$s]}: $(cat "$OUT/start-$s.json")"
}
for s in $SERVERS; do start_server "$s"; done

# ------------------------------------------------------------------ same answers first
compare() { # server-a server-b file... : same rcode and addresses for a sample; expected ones
  python3 - "$ROOT/bench" "${PORT[$1]}" "${PORT[$2]}" "${@:3}" <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
import kbench
a, b = kbench.Prober("127.0.0.1:" + sys.argv[2]), kbench.Prober("127.0.0.1:" + sys.argv[3])
bad = n = 0
for path in sys.argv[4:]:
    for l in open(path).read().split("\n")[:80]:
        if not l:
            continue
        name, t = l.split()
        x, y = a.ask(name, t, 1.0), b.ask(name, t, 1.0)
        want = None
        m = re.match(r"k3s-node-(\d+)$", name)
        if m:
            k = int(m.group(1)); want = "10.77.%d.%d" % (k >> 8, k & 255)
        m = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)\.nodes", name)
        if m:
            want = ".".join(m.groups())
        n += 1
        if x[0] != "NOERROR" or x[0] != y[0] or sorted(x[1]) != sorted(y[1]) or (want and x[1] != [want]):
            bad += 1
            print("DIFF %s %s: %s %s, %s %s, expected %s" % (name, t, sys.argv[2], x, sys.argv[3], y, want))
print("compared %d questions, %d differ" % (n, bad))
sys.exit(1 if bad else 0)
EOF
}
# The added directives are live in (a)'s second Corefile: each answers its own question there.
python3 - "$ROOT/bench" "${PORT[plus]}" "${CHECK_NAME%.svc.cluster.local}.corp.internal" "$CHECK_IP" \
  >"$OUT/live-a.txt" <<'EOF' || { cat "$OUT/live-a.txt" | tee -a "$LOG"; die "a directive of the plus Corefile does not answer"; }
import sys
sys.path.insert(0, sys.argv[1])
import kbench
p = kbench.Prober("127.0.0.1:" + sys.argv[2])
bad = 0
for name, want in ((sys.argv[3], ("NOERROR", [sys.argv[4]])),        # rewrite, then kubernetes
                   ("a.b.c.d.e.f.g.cluster.local", ("NXDOMAIN", [])),  # the cluster.local template
                   ("ip-10-1-2-3.nodes.example.test", ("NOERROR", ["10.1.2.3"])),
                   ("k3s-node-0", ("NOERROR", ["10.77.0.0"]))):        # hosts
    got = p.ask(name, "A", 1.0)
    ok = got == want
    bad += not ok
    print("%s %s A: %s (expected %s)" % ("ok  " if ok else "BAD ", name, got, want))
sys.exit(1 if bad else 0)
EOF
log "(a) the added directives answer in the plus Corefile: $(grep -c '^ok' "$OUT/live-a.txt") of 4"
compare plus plain "$DATA/queries-hits.txt" "$DATA/queries-hits-nocache.txt" >"$OUT/compare-a.txt" ||
  { head -20 "$OUT/compare-a.txt" | tee -a "$LOG"; die "plain and plus kdns answer differently"; }
log "(a) plus vs plain: $(tail -1 "$OUT/compare-a.txt")"
compare kdns coredns "$DATA/queries-hosts.txt" "$DATA/queries-template.txt" >"$OUT/compare-b.txt" ||
  { head -20 "$OUT/compare-b.txt" | tee -a "$LOG"; die "kdns and CoreDNS answer differently"; }
log "(b) kdns vs CoreDNS: $(tail -1 "$OUT/compare-b.txt")"

# ------------------------------------------------------------------ throughput
R=$OUT/results.json
jq -n --arg n "$(nproc)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --arg k "$(uname -r)" --arg load "$(loadavg)" --arg dnsperf "$(dnsperf -h 2>&1 | grep -m1 Version || true)" \
  --arg coredns "$("$BIN/coredns" -version | head -1)" --arg kdns "$(cd "$ROOT" && git describe --always --dirty)" \
  --arg profile "$PROFILE" --argjson rounds "$ROUNDS" --argjson duration "$DURATION" \
  --argjson services "$SERVICES" --argjson hosts "$HOSTS" --arg date "$(date -u +%FT%TZ)" \
  '{machine: {nproc:$n, cpu:$cpu, kernel:$k, load_at_start:$load, dnsperf:$dnsperf, coredns:$coredns,
    kdns:$kdns, kdns_build:$profile, date:$date}, rounds:$rounds, duration_s:$duration,
    services:$services, hosts_entries:$hosts, cases:{}}' >"$R"

dnsperf_run() { # label server file seconds -> JSON with the server's CPU seconds
  local f=$OUT/dnsperf-$1.txt pid=${PID[$2]} c0 c1
  c0=$(proc_cpu "$pid")
  taskset -c $CORE_CLIENT dnsperf -s 127.0.0.1 -p "${PORT[$2]}" -d "$3" -l "$4" -c 8 -q 256 -t 2 >"$f" 2>&1 || true
  c1=$(proc_cpu "$pid")
  kill -0 "$pid" 2>/dev/null || die "$2 died during $1 (log: $OUT/$2.log)"
  $KB dnsperf "$f" | jq -c --arg cpu "$((c1 - c0))" --arg tck "$(getconf CLK_TCK)" --arg load "$(loadavg)" \
    '. + {server_cpu_s: (($cpu|tonumber)/($tck|tonumber)), load: $load}
       | . + {qps_per_core: (if .server_cpu_s > 0 then ((.completed // 0) / .server_cpu_s | floor) else null end)}'
}

# case  server-a server-b  query-file  requirement (a/b)
CASES="hits:plus:plain:queries-hits.txt:0.9
hits_nocache:plus:plain:queries-hits-nocache.txt:0.9
control_same_corefile:plain2:plain:queries-hits-nocache.txt:0.9
hosts_answer:kdns:coredns:queries-hosts.txt:2
template_answer:kdns:coredns:queries-template.txt:2"
while IFS=: read -r c sa sb qf need; do
  [[ $ONLY == all || ,$ONLY, == *,$c,* ]] || continue
  file=$DATA/$qf
  ((SMOKE)) || for s in $sa $sb; do # warm up, not recorded
    taskset -c $CORE_CLIENT dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$file" -l 1 -c 8 -q 256 >/dev/null 2>&1 || true
  done
  while read -r r s; do
    res=$(dnsperf_run "$c-$s-$r" "$s" "$file" "$DURATION")
    log "$c $s round $r: $(echo "$res" | jq -c '{qps, completed, lost, server_cpu_s, rcodes, load}')"
    check_run "$s" "$c" "$res"
    jset ".cases.$c.servers.$s.runs[$r]" "$res"
  done < <(alternate "$sa" "$sb")
  jset ".cases.$c.a" "\"$sa\""
  jset ".cases.$c.b" "\"$sb\""
  jset ".cases.$c.requirement" "$need"
done <<<"$CASES"

# Medians: each server's QPS, and the per-round ratio a/b (the two runs of a round are back to back).
tmp=$(jq '.machine.load_at_end = $l | .cases |= with_entries(.value |= (
    def med: sort | .[(length/2|floor)];
    .servers |= with_entries(.value.qps_med = ([.value.runs[].qps] | med)
      | .value.qps_per_core_med = ([.value.runs[].qps_per_core // 0] | med)) |
    .ratio_runs = [range(0; (.servers[.a].runs | length)) as $i
      | (.servers[.a].runs[$i].qps / .servers[.b].runs[$i].qps * 1000 | round / 1000)] |
    .ratio_med = (.ratio_runs | med) |
    .per_core_ratio_runs = [range(0; (.servers[.a].runs | length)) as $i
      | ((.servers[.a].runs[$i].qps_per_core // 0) / ((.servers[.b].runs[$i].qps_per_core // 0) + 1e-9) * 1000
        | round / 1000)] |
    .per_core_ratio_med = (.per_core_ratio_runs | med) |
    .met = (.ratio_med >= .requirement)))' --arg l "$(loadavg)" "$R") && echo "$tmp" >"$R"

{
  echo "| case | kdns QPS | compared with | its QPS | ratio (median of rounds) | per-round ratios | requirement | met | QPS per busy server core, kdns / other | per-core ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  jq -r '.cases | to_entries[] | .value as $v | [
      .key, ($v.servers[$v.a].qps_med | floor),
      (if $v.b == "plain" then "kdns, plain kubeadm" else "CoreDNS 1.14.7" end),
      ($v.servers[$v.b].qps_med | floor), $v.ratio_med, ($v.ratio_runs | map(tostring) | join(" ")),
      ("≥ " + ($v.requirement | tostring)), (if $v.met then "yes" else "**no**" end),
      "\($v.servers[$v.a].qps_per_core_med) / \($v.servers[$v.b].qps_per_core_med)", $v.per_core_ratio_med]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
} >"$OUT/table.md"
cat "$OUT/table.md"
log "results: $R"
((SMOKE)) && echo "directives smoke: ok"
exit 0
