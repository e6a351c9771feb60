#!/usr/bin/env bash
# kdns vs CoreDNS at cluster scale (issue #14): bench/run.sh at three sizes on one real API
# server each, then a linear fit of every measure against the size, so that what does not fit
# on the machine is estimated from measured growth rather than skipped.
#
#   bench/scale.sh                              10k/15k, 30k/45k, 50k/75k (Services/Pods), ~20 min
#   bench/scale.sh --sizes 100000:150000        the issue's 100k/1M endpoints/150k Pods: loads, but
#                                               kube-apiserver 1.34 then fails its start on 2 vCPUs
#                                               (BENCHMARKS.md, "5,000-node scale")
#   bench/scale.sh --sizes 3000:4500,10000:15000 --out DIR     other sizes (SERVICES:PODS)
#   bench/scale.sh --table DIR                  only rebuild DIR/table.md from DIR/sN/results.json
#
# Each size: `bench/run.sh --release --services S --pods P --phases startup,memory,relist,program
# --start-runs 3` (~10.4 endpoints per Service, so 50k Services are 522k endpoints; both servers
# run `pods verified`): steady RSS, RSS peak while relisting after an API-server restart (the
# kubernetes#139117 scenario), start -> correct answer, and change -> answer latency while 100
# Services/s change (their ports). The loaded etcd data stays in /tmp/kdns-bench-cluster-S
# (reused by later runs; written straight into etcd, ~9k objects/s: run.sh --load). Results:
# DIR/sS/ (run.sh's output) and DIR/table.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=10000:15000,30000:45000,50000:75000 OUT= TABLE_ONLY=0
while (($#)); do
  case $1 in
  --sizes) SIZES=$2; shift ;;
  --out) OUT=$2; shift ;;
  --table) OUT=$2 TABLE_ONLY=1; shift ;;
  -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
  *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$ROOT/bench/out/scale-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

if ((TABLE_ONLY == 0)); then
  for size in ${SIZES//,/ }; do
    s=${size%%:*} p=${size#*:}
    echo "[$(date +%T)] scale: $s Services, $p Pods" >&2
    "$ROOT/bench/run.sh" --release --services "$s" --pods "$p" --phases startup,memory,relist,program \
      --start-runs 3 --out "$OUT/s$s" >"$OUT/s$s.log" 2>&1 ||
      { tail -20 "$OUT/s$s.log" >&2; echo "scale.sh: the $s run failed (log: $OUT/s$s.log)" >&2; exit 1; }
  done
fi

python3 - "$OUT" >"$OUT/table.md" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
runs = []
for f in glob.glob(os.path.join(out, "s*", "results.json")):
    R = json.load(open(f))
    runs.append(R)
runs.sort(key=lambda R: R["machine"]["services"])
if not runs:
    sys.exit("scale.sh: no results.json under " + out)

def get(R, path):
    for k in path.split("."):
        R = R.get(k) if isinstance(R, dict) else None
    return R

# (what, path, fitted): latencies do not grow with the size, so they get no line.
MEASURES = [
    ("steady RSS (MB)", "memory.%s.steady_rss_mb", True),
    ("RSS peak in the relist after an API-server restart (MB)", "memory.%s.relist_hwm_mb", True),
    ("start -> correct answer (ms, median of 3)", "startup.%s.answer_ms", True),
    ("CPU from start to ready (ms)", "startup.%s.cpu_ms", True),
    ("change -> answer p50 at 100 changes/s (ms)", "program.%s.p50", False),
    ("change -> answer p99 at 100 changes/s (ms)", "program.%s.p99", False),
    ("watch delivery -> answer p50 (ms)", "program.%s.from_watch.p50", False),
    ("watch delivery -> answer p99 (ms)", "program.%s.from_watch.p99", False),
]

def fit(xs, ys):
    """Least squares y = a + b*x; None when fewer than two points."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    return my - b * mx, b

sizes = [R["machine"]["services"] for R in runs]
head = " | ".join("%dk Svc / %dk Pods" % (s // 1000, (R["machine"].get("pods") or 0) // 1000)
                  for s, R in zip(sizes, runs))
print("| measure | server | %s | fit: a + b per 1k Services | at 100k (fit) |" % head)
print("|---|---|%s---|---|" % ("---|" * len(runs)))
for what, path, fitted in MEASURES:
    for srv in ("kdns", "coredns"):
        ys = [get(R, path % srv) for R in runs]
        f = fit(sizes, ys) if fitted else None
        cells = " | ".join("—" if y is None else ("%.1f" % y if isinstance(y, float) else str(y)) for y in ys)
        model = "%.1f + %.2f" % (f[0], f[1] * 1000) if f else ""
        at = "%.0f" % (f[0] + f[1] * 100000) if f else ""
        print("| %s | %s | %s | %s | %s |" % (what, srv, cells, model, at))
print()
print("| ratio kdns / CoreDNS | %s |" % head)
print("|---|%s" % ("---|" * len(runs)))
for what, path, _ in MEASURES:
    cells = []
    for R in runs:
        k, c = get(R, path % "kdns"), get(R, path % "coredns")
        cells.append("%.2f" % (k / c) if k is not None and c else "—")
    print("| %s | %s |" % (what, " | ".join(cells)))
cells = []
for R in runs:
    m = R.get("memory", {})
    r = [("%.2f" % (m[s]["relist_hwm_mb"] / m[s]["steady_rss_mb"])) if m.get(s, {}).get("relist_hwm_mb") else "—"
         for s in ("kdns", "coredns")]
    cells.append("%s vs %s" % tuple(r))
print("| relist peak / own steady RSS, kdns vs CoreDNS | %s |" % " | ".join(cells))
EOF
cat "$OUT/table.md"
echo "results: $OUT/table.md" >&2
