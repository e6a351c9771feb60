#!/usr/bin/env bash
# Overload (issue #12): kdns and CoreDNS side by side, each with a small cluster zone and
# `forward . <an upstream on 127.0.0.1 that never answers>`, no limits configured, under dnsperf
# at several times what can wait. Everything on 127.0.0.1, bounded in time.
#
#   bench/overload.sh                          20 s per run; rates 20000 (8x what kdns lets wait
#                                              on a dead upstream: 10,000 per 4 s) and max
#   bench/overload.sh --duration 5 --rates 20000      shorter
#   bench/overload.sh --servers kdns                  one server only
#
# Rig (as bench/run.sh): the server under test on core 0 (taskset -c 0), dnsperf and the probe on
# core 1; both servers get `ulimit -n 1048576` (a container's usual limit; the hard limit when
# that cannot be raised: it is logged), so sockets are not what stops CoreDNS. The cluster zone: 50 Services in namespace `bench`; kdns reads them as
# manifests (`kubernetes cluster.local { manifests DIR }`), CoreDNS serves the same A records
# from a `file` zone (its `kubernetes` needs an API server; `file` answers from memory too).
# The dead upstream is a bound UDP socket nobody reads (no ICMP, no answer).
#
# Load: dnsperf (-c 16 -q 60000 -t 1) with 90% unique external names (forwarded, never answered)
# and 10% cluster names; alongside, a probe asks only cluster names, 500 a second, and reports the
# share answered within 1 s and the latency of those (p50, p99). RSS is sampled every 0.5 s
# (peak = VmHWM, reset before the load). Results: OUT/results.jsonl and OUT/table.md (OUT
# defaults to bench/out/overload-TIMESTAMP). Requires dnsperf (scripts/install-deps.sh), coredns
# (scripts/build-tools.sh; KDNS_TOOLS_BIN, default /var/cache/kdns-tools/bin), python3, curl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh" # bench_args, bench_out, log, die, free_ports, loadavg, build_kdns …
DURATION=20 RATES="20000 max" SERVERS="coredns kdns" OUT='' SMOKE=0 PROFILE=release # no smoke mode
bench_args --duration=DURATION --rates=RATES --servers=SERVERS --out=OUT -- "$@"
bench_out overload # OUT, LOG
# BIN, CORE_SRV, CORE_CLIENT, PIDS (stop_pid stops one of them before the end).
bench_rig TERM dnsperf taskset python3 curl

build_kdns # KDNS (release; KDNS_UNDER_TEST: another build, not built here)

read -r P_KDNS P_CORE M_KDNS M_CORE P_DEAD < <(free_ports 5)

# ------------------------------------------------------------------ data
python3 - "$OUT" <<'EOF'
import os, sys
out = sys.argv[1]
os.makedirs(out + "/manifests", exist_ok=True)
objs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n"]
zone = ["$ORIGIN cluster.local.", "$TTL 5",
        "@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
        "@ IN NS ns.dns.cluster.local.", "ns.dns IN A 10.96.0.10"]
names = []
for i in range(50):
    ip = "10.96.1.%d" % (i + 1)
    objs.append("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc%d\n  namespace: bench\n"
                "spec:\n  type: ClusterIP\n  clusterIP: %s\n  clusterIPs: [%s]\n  ports:\n"
                "  - name: http\n    port: 80\n    protocol: TCP\n" % (i, ip, ip))
    zone.append("svc%d.bench.svc IN A %s" % (i, ip))
    names.append(("svc%d.bench.svc.cluster.local" % i, ip))
open(out + "/manifests/objects.yaml", "w").write("---\n".join(objs))
open(out + "/cluster.local.zone", "w").write("\n".join(zone) + "\n")
open(out + "/cluster-names.txt", "w").write("".join("%s %s\n" % n for n in names))
with open(out + "/mix.txt", "w") as f:
    for k in range(200000):
        if k % 10 == 9:
            f.write("%s A\n" % names[k % 50][0])
        else:
            f.write("q%d.ext%d.example.com A\n" % (k, k % 97))
EOF

cat >"$OUT/probe.py" <<'EOF'
# Cluster names only, RATE a second for SECONDS: share answered right within 1 s, p50/p99.
import json, os, random, select, socket, sys, time
port, rate, secs, names_file = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
names = [l.split() for l in open(names_file) if l.strip()]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.connect(("127.0.0.1", port))
s.setblocking(False)
def q(i, name):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return i.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire + b"\x00\x01\x00\x01"
sent, lat, wrong = {}, [], 0
t0 = time.monotonic()
n = 0
while True:
    now = time.monotonic()
    if now - t0 >= secs + 1.0:
        break
    if now - t0 < secs and n < (now - t0) * rate:
        i = n % 65536
        name, ip = names[n % len(names)]
        sent[i] = (now, bytes(int(x) for x in ip.split(".")))
        s.send(q(i, name))
        n += 1
        continue
    r, _, _ = select.select([s], [], [], 0.0005)
    while r:
        try:
            b = s.recv(2048)
        except BlockingIOError:
            break
        i = int.from_bytes(b[:2], "big")
        if i in sent:
            t, ip = sent.pop(i)
            ok = (b[3] & 0xF) == 0 and b[6:8] != b"\0\0" and ip in b[12:]
            if ok and time.monotonic() - t <= 1.0:
                lat.append(time.monotonic() - t)
            elif not ok:
                wrong += 1
lat.sort()
pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))] * 1000, 2) if lat else None
print(json.dumps({"asked": n, "answered": len(lat), "share": round(len(lat) / max(n, 1), 4),
                  "wrong_or_refused": wrong, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))
EOF

# The dead upstream: a bound socket nobody reads.
taskset -c $CORE_CLIENT python3 -c "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$P_DEAD)); time.sleep(1e6)" &
PIDS+=($!)

cat >"$OUT/Corefile.kdns" <<EOF
.:$P_KDNS {
    bind 127.0.0.1
    prometheus 127.0.0.1:$M_KDNS
    kubernetes cluster.local {
        manifests $OUT/manifests
    }
    forward . 127.0.0.1:$P_DEAD
}
EOF
cat >"$OUT/Corefile.coredns" <<EOF
.:$P_CORE {
    bind 127.0.0.1
    prometheus 127.0.0.1:$M_CORE
    file $OUT/cluster.local.zone cluster.local
    forward . 127.0.0.1:$P_DEAD
}
EOF

mem() { awk -v f="$2:" '$1 == f {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -maxdepth 1 -type l 2>/dev/null | wc -l; }
metrics() { # port -> the series this report reads
  curl -s --max-time 10 "http://127.0.0.1:$1/metrics" |
    grep -E '^(kdns_dns_dropped_total|coredns_dns_responses_total|coredns_forward_requests_total|coredns_forward_max_concurrent_rejects_total|go_goroutines|process_open_fds)' || true
}

run_one() { # server rate
  local srv=$1 rate=$2 port mport pid t0 tag=$1-$2
  case $srv in
  kdns)
    port=$P_KDNS mport=$M_KDNS
    RUST_LOG=warn taskset -c $CORE_SRV "$KDNS" --conf "$OUT/Corefile.kdns" >>"$OUT/kdns.log" 2>&1 &
    ;;
  coredns)
    port=$P_CORE mport=$M_CORE
    taskset -c $CORE_SRV "$BIN/coredns" -conf "$OUT/Corefile.coredns" >>"$OUT/coredns.log" 2>&1 &
    ;;
  esac
  pid=$!
  PIDS+=("$pid")
  for ((i = 0; i < 200; i++)); do
    dig +short +tries=1 +time=1 -p "$port" @127.0.0.1 svc1.bench.svc.cluster.local A 2>/dev/null | grep -q 10.96.1.2 && break
    sleep 0.1
  done
  ((i < 200)) || die "$srv did not answer svc1.bench.svc.cluster.local"
  sleep 1
  local base
  base=$(mem "$pid" VmRSS)
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # reset VmHWM
  (
    t0=$(date +%s.%N)
    while kill -0 "$pid" 2>/dev/null; do
      echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') $(mem "$pid" VmRSS) $(fds "$pid")"
      sleep 0.5
    done
  ) >"$OUT/rss-$tag.txt" &
  local sampler=$!
  taskset -c $CORE_CLIENT python3 "$OUT/probe.py" "$port" 500 "$DURATION" "$OUT/cluster-names.txt" >"$OUT/probe-$tag.json" &
  local probe=$!
  local qarg=()
  [[ $rate == max ]] || qarg=(-Q "$rate")
  taskset -c $CORE_CLIENT dnsperf -s 127.0.0.1 -p "$port" -d "$OUT/mix.txt" -l "$DURATION" \
    -c 16 -q 60000 -t 1 "${qarg[@]}" >"$OUT/dnsperf-$tag.txt" 2>&1 || true
  wait "$probe" || true
  kill -0 "$pid" 2>/dev/null || die "$srv died under load (see $OUT/$srv.log)"
  local peak end cpu
  peak=$(mem "$pid" VmHWM)
  cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat")
  end=$(mem "$pid" VmRSS)
  metrics "$mport" >"$OUT/metrics-$tag.txt"
  sleep 5
  local after
  after=$(mem "$pid" VmRSS)
  kill "$sampler" 2>/dev/null || true
  stop_pid "$pid"
  python3 - "$srv" "$rate" "$base" "$peak" "$end" "$after" "$OUT" "$tag" "$cpu" <<'EOF' | tee -a "$OUT/results.jsonl"
import json, re, sys
srv, rate, base, peak, end, after, out, tag, cpu = sys.argv[1:10]
d = open("%s/dnsperf-%s.txt" % (out, tag)).read()
num = lambda pat: (lambda m: float(m.group(1)) if m else None)(re.search(pat, d))
rc = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+) \([\d.]+%\)", d.split("Response codes:")[1].split("\n")[0])) if "Response codes:" in d else {}
m = {}
for line in open("%s/metrics-%s.txt" % (out, tag)):
    k, v = line.rsplit(" ", 1)
    m[k] = m.get(k, 0) + float(v)
agg = lambda pre: sum(v for k, v in m.items() if k.startswith(pre))
resp = {}
for k, v in m.items():
    r = re.search(r'^coredns_dns_responses_total\{.*rcode="(\w+)"', k)
    if r:
        resp[r.group(1)] = resp.get(r.group(1), 0) + int(v)
rss = [l.split() for l in open("%s/rss-%s.txt" % (out, tag)) if l.strip()]
print(json.dumps({
    "server": srv, "rate": rate, "server_cpu_s": float(cpu),
    "dnsperf": {"sent": num(r"Queries sent:\s+(\d+)"), "completed": num(r"Queries completed:\s+(\d+)"),
                "lost": num(r"Queries lost:\s+(\d+)"), "qps": num(r"Queries per second:\s+([\d.]+)"), "rcodes": rc},
    "rss_mb": {"before": float(base), "peak_hwm": float(peak), "at_end": float(end), "5s_after": float(after),
               "peak_sampled": max((float(r[1]) for r in rss), default=None)},
    "fds_peak": max((int(r[2]) for r in rss), default=None),
    "probe": json.load(open("%s/probe-%s.json" % (out, tag))),
    "responses_by_rcode": resp,
    "dropped_overload": m.get('kdns_dns_dropped_total{reason="overload"}'),
    "forward_requests": agg("coredns_forward_requests_total"),
    "goroutines": m.get("go_goroutines"),
}))
EOF
}

# A container's usual limit; without CAP_SYS_RESOURCE, the hard limit (then it is what stops
# CoreDNS's growth: a forwarded query holds a socket).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open files limit for both servers: $(ulimit -n)"
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(loadavg)"
log "$("$BIN/coredns" -version | head -1); kdns $(cd "$ROOT" && git describe --always --dirty); $(dnsperf -h 2>&1 | grep -m1 Version)"
: >"$OUT/results.jsonl"
for rate in $RATES; do
  for srv in $SERVERS; do
    log "$srv at $rate qps for $DURATION s (load $(loadavg))"
    run_one "$srv" "$rate"
    sleep 1
  done
done

python3 - "$OUT/results.jsonl" >"$OUT/table.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| server | offered | server CPU | dnsperf sent | answered (of sent) | REFUSED | SERVFAIL | peak RSS | RSS 5 s after | peak fds | cluster names answered in 1 s | p50 | p99 | `kdns_dns_dropped_total{reason=\"overload\"}` |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    d, p = r["dnsperf"], r["probe"]
    sent = d["sent"] or 0
    print("| %s | %s | %.1f s | %s | %s (%.1f%%) | %s | %s | %.0f MB | %.0f MB | %s | %.1f%% (%d/%d) | %s ms | %s ms | %s |" % (
        r["server"], r["rate"] + " qps" if r["rate"] != "max" else "flat out", r["server_cpu_s"],
        "{:,.0f}".format(sent),
        "{:,.0f}".format(d["completed"] or 0), 100.0 * (d["completed"] or 0) / max(sent, 1),
        "{:,}".format(d["rcodes"].get("REFUSED", 0)), "{:,}".format(d["rcodes"].get("SERVFAIL", 0)),
        r["rss_mb"]["peak_hwm"], r["rss_mb"]["5s_after"], r["fds_peak"],
        100 * p["share"], p["answered"], p["asked"], p["p50_ms"], p["p99_ms"],
        "{:,.0f}".format(r["dropped_overload"]) if r["dropped_overload"] is not None else "–"))
EOF
cat "$OUT/table.md"
log "results: $OUT/results.jsonl"
