#!/usr/bin/env python3
"""Streaming lists (WatchList) against kdns's lists, measured on a real kube-apiserver.

For each kind (services, endpointslices, pods) this gets the full state from the API server
given by --env (the env file scripts/apiserver.sh writes) in five ways:

  list-rv0-proto    GET ?resourceVersion=0, Accept "application/vnd.kubernetes.protobuf,
                    application/json": from the watch cache, what kdns does first
  list-rv0-json     the same in JSON
  list-paged-proto  consistent list (no resourceVersion) in pages of limit=500, protobuf,
                    following `continue`: what kdns does after a 410 Gone
  watchlist-proto   GET ?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan
  watchlist-json      &allowWatchBookmarks=true (resourceVersion unset, or --watch-rv), read
                    until the BOOKMARK whose annotations hold k8s.io/initial-events-end: "true".
                    Protobuf: Accept "application/vnd.kubernetes.protobuf;stream=watch", frames
                    of a 4-byte big-endian length + a metav1.WatchEvent (field 1 = type); the
                    end is a BOOKMARK frame holding the map entry
                    {1: "k8s.io/initial-events-end", 2: "true"}. JSON: one event per line.

Each measurement opens its own TLS connection first (the handshake is not measured), then:
  wall_ms          request sent -> last byte (lists, all pages) / end bookmark (watchlist)
  ttfb_ms          request sent -> response headers
  bytes            body bytes received (identity encoding: no Accept-Encoding is sent)
  objects          items in the list(s) (counted after the clock stops) / ADDED events
  apiserver_cpu_ms utime+stime of --apiserver-pid over the request (/proc/PID/stat, CLK_TCK);
                   includes the API server's background work (the idle rate is reported)
  apiserver_alloc_mb  Go heap bytes the API server allocated over the request: the delta of
                   go_memstats_alloc_bytes_total on /metrics, minus what a /metrics scrape
                   itself allocates (calibrated at start); --no-metrics to skip
  rss_before_mb    VmRSS before the request (after `echo 5 > /proc/PID/clear_refs`, which
                   resets VmHWM to it)
  peak_growth_mb   VmHWM after - VmRSS before: how far the request pushed the resident peak.
                   Go keeps freed heap for minutes, so a request that fits in memory an
                   earlier one left free shows ~0 here: apiserver_alloc_mb is the steadier
                   measure of memory cost; peak growth is what an OOM limit sees.
  client_cpu_ms    this script's CPU over the request (reading, framing; Python)

The methods run --rounds times (default 5) after --warmup rounds, the order reversed every
other round, with --gap seconds between requests; medians go to stdout as JSON (per-round
values under "runs") and, with --table FILE, as a Markdown table. Before measuring, one
watchlist request per kind checks that the feature is served: an error answer (e.g. 400/422
with the WatchList feature gate off) is reported with the API server's message and what
`kube-apiserver -h` says about the gate, and the watchlist methods are skipped.

Reading the results (kube-apiserver 1.34): list-paged-proto's continue pages come from the watch
cache only while it holds a snapshot at or below the list's revision (ListFromCacheSnapshot);
an etcd compaction (every 5 minutes) drops the older snapshots, so on an idle data set
the pages are read from etcd until the next write to that kind: ~3x the allocation. Write
one object of the kind to put them back in the cache. The protobuf list's ttfb is
higher than JSON's because the streaming protobuf encoder sizes every item before it writes
the first byte.

Needs root (clear_refs, /proc of the API server) for the memory columns; without it they
are null. Python 3 standard library only; talks to 127.0.0.1 only. Every request is
bounded by --timeout seconds.

Example (after scripts/apiserver.sh start /tmp/c and kbench.py gen/load):
  nice -n 19 python3 bench/watchlist.py --env /tmp/c/env --table /tmp/c/watchlist.md
"""
import argparse
import http.client
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kbench import read_env  # noqa: E402  (same directory)

KINDS = {
    "services": "/api/v1/services",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "pods": "/api/v1/pods",
}
METHODS = ["list-rv0-proto", "list-rv0-json", "list-paged-proto", "watchlist-proto",
           "watchlist-json"]
ACCEPT_LIST_PROTO = "application/vnd.kubernetes.protobuf, application/json"  # kdns's
ACCEPT_WATCH_PROTO = "application/vnd.kubernetes.protobuf;stream=watch"
ACCEPT_JSON = "application/json"
PAGE = 500
END_KEY = b"k8s.io/initial-events-end"
# The annotations map entry as protobuf: field 1 (key) and field 2 (value "true").
END_PB = b"\x0a" + bytes([len(END_KEY)]) + END_KEY + b"\x12\x04true"
END_JSON = b'"k8s.io/initial-events-end":"true"'
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- protobuf, just enough


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        if c < 0x80:
            return v, i
        s += 7


def fields(b, i=0, end=None):
    """(field number, wire type, value) of a message; value is (start, end) for bytes."""
    end = len(b) if end is None else end
    while i < end:
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v = (i, i + n)
            i += n
        elif wt == 1:
            v = (i, i + 8)
            i += 8
        elif wt == 5:
            v = (i, i + 4)
            i += 4
        else:
            raise ValueError("wire type %d at %d" % (wt, i))
        yield f, wt, v


def proto_list(body):
    """A protobuf List answer (k8s\\0 + runtime.Unknown{raw: List}) -> (items, rv, continue)."""
    if body[:4] != b"k8s\x00":
        raise ValueError("not a protobuf object (magic %r)" % body[:4])
    raw = None
    for f, wt, v in fields(body, 4):
        if f == 2 and wt == 2:
            raw = v
    if raw is None:
        raise ValueError("protobuf envelope without raw")
    items, rv, cont = 0, "", ""
    for f, wt, v in fields(body, raw[0], raw[1]):
        if f == 1 and wt == 2:  # ListMeta: 2 resourceVersion, 3 continue
            for g, gwt, w in fields(body, v[0], v[1]):
                if g == 2 and gwt == 2:
                    rv = bytes(body[w[0]:w[1]]).decode()
                elif g == 3 and gwt == 2:
                    cont = bytes(body[w[0]:w[1]]).decode()
        elif f == 2 and wt == 2:
            items += 1
    return items, rv, cont


# ---------------------------------------------------------------- the API server process


def proc_cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()  # fields from 3 (state) on
    return int(rest[11]) + int(rest[12])  # 14 utime, 15 stime


def proc_status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def clear_refs(pid):
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def gate_help(binary):
    """What `kube-apiserver -h` says about the WatchList gates (lines, or an error)."""
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return ["(could not run %s -h: %s)" % (binary, e)]
    text = out.stdout + out.stderr
    return sorted(set(m.strip() for m in re.findall(r"kube:WatchList[A-Za-z]*=[^)]*\)", text)))


def proc_flag(pid, name):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    for a in argv:
        a = a.decode(errors="replace")
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# ---------------------------------------------------------------- client


class Client:
    def __init__(self, env_path, timeout):
        env = read_env(env_path)
        self.port = int(env["APISERVER_PORT"])
        self.token = env["ADMIN_TOKEN"]
        self.ctx = ssl.create_default_context(cafile=env["CA_FILE"])
        self.ctx.check_hostname = False  # the serving cert names 127.0.0.1
        self.timeout = timeout
        self.env = env
        self._metrics = None

    def conn(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                        timeout=self.timeout)
        c.connect()
        return c

    def headers(self, accept):
        return {"Authorization": "Bearer " + self.token, "Accept": accept}

    def alloc_bytes(self):
        """go_memstats_alloc_bytes_total of the API server (one keep-alive connection)."""
        for _ in range(2):
            try:
                if self._metrics is None:
                    self._metrics = self.conn()
                self._metrics.request("GET", "/metrics", headers=self.headers("text/plain"))
                r = self._metrics.getresponse()
                body = r.read()
                if r.status != 200:
                    return None
                m = re.search(rb"^go_memstats_alloc_bytes_total (\S+)$", body, re.M)
                return float(m.group(1)) if m else None
            except (OSError, http.client.HTTPException):
                if self._metrics is not None:
                    self._metrics.close()
                self._metrics = None
        return None


def read_all(r, out):
    """Reads a response to its end; returns the byte count, chunks appended to out."""
    n = 0
    while True:
        b = r.read1(1 << 16)
        if not b:
            return n
        n += len(b)
        out.append(b)


def read_watch_proto(r, res):
    """Reads length-prefixed WatchEvent frames until the initial-events-end bookmark."""
    buf = bytearray()
    pos = 0
    while True:
        b = r.read1(1 << 16)
        if not b:
            res["error"] = "stream ended before the initial-events-end bookmark"
            return
        res["bytes"] += len(b)
        buf += b
        while len(buf) - pos >= 4:
            n = int.from_bytes(buf[pos:pos + 4], "big")
            if len(buf) - pos - 4 < n:
                break
            start, pos = pos + 4, pos + 4 + n
            if n == 0 or buf[start] != 0x0A:  # field 1 (type), wire type 2
                res["error"] = "frame without a leading type field"
                return
            ln, i = varint(buf, start + 1)
            typ = bytes(buf[i:i + ln])
            if typ == b"ADDED":
                res["objects"] += 1
            elif typ == b"BOOKMARK":
                if END_PB in buf[start:pos]:
                    return
            elif typ == b"ERROR":
                res["error"] = "ERROR event: %r" % bytes(buf[start:min(pos, start + 300)])
                return
            else:
                res["other_events"] = res.get("other_events", 0) + 1
        if pos > 1 << 20:
            del buf[:pos]
            pos = 0


def read_watch_json(r, res):
    """Reads newline-delimited JSON events until the initial-events-end bookmark."""
    tail = b""
    while True:
        b = r.read1(1 << 16)
        if not b:
            res["error"] = "stream ended before the initial-events-end bookmark"
            return
        res["bytes"] += len(b)
        lines = (tail + b).split(b"\n")
        tail = lines.pop()
        for line in lines:
            if not line:
                continue
            head = line[:40]
            if head.startswith(b'{"type":"ADDED"'):
                res["objects"] += 1
            elif b'"BOOKMARK"' in head or b'"ERROR"' in head:
                ev = json.loads(line)
                if ev.get("type") == "ERROR":
                    res["error"] = "ERROR event: %s" % json.dumps(ev.get("object"))[:300]
                    return
                ann = (ev.get("object", {}).get("metadata", {}).get("annotations") or {})
                if ann.get(END_KEY.decode()) == "true":
                    return
            else:
                ev = json.loads(line)  # unexpected order of keys, or another type
                if ev.get("type") == "ADDED":
                    res["objects"] += 1
                else:
                    res["other_events"] = res.get("other_events", 0) + 1


def query(method, a):
    if method.startswith("list-rv0"):
        return {"resourceVersion": "0"}
    if method.startswith("list-paged"):
        return {"limit": str(PAGE)}
    q = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
         "allowWatchBookmarks": "true", "timeoutSeconds": str(int(a.timeout))}
    if a.watch_rv:
        q["resourceVersion"] = a.watch_rv
    return q


def accept(method):
    if method.endswith("json"):
        return ACCEPT_JSON
    return ACCEPT_WATCH_PROTO if method.startswith("watchlist") else ACCEPT_LIST_PROTO


def measure(cl, a, kind, method):
    """One measurement of METHOD on KIND; returns a dict (with "error" on failure)."""
    pid = a.apiserver_pid
    base = KINDS[kind]
    q = query(method, a)
    conn = cl.conn()
    alloc0 = cl.alloc_bytes() if a.metrics else None
    rss0 = proc_status_kb(pid, "VmRSS")
    cleared = clear_refs(pid)
    res = {"bytes": 0, "objects": 0, "requests": 0}
    chunks = []
    pages = []  # (content type, body) per page, decoded after the clock stops
    cpu0 = proc_cpu_ticks(pid)
    ccpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        cont = None
        while True:
            qq = dict(q)
            if cont:
                qq["continue"] = cont
            conn.request("GET", base + "?" + urllib.parse.urlencode(qq),
                         headers=cl.headers(accept(method)))
            r = conn.getresponse()
            res["requests"] += 1
            if res["requests"] == 1:
                res["ttfb_ms"] = (time.perf_counter() - t0) * 1000
            res["content_type"] = r.getheader("Content-Type", "")
            if r.status != 200:
                body = r.read()
                res["bytes"] += len(body)
                res["error"] = "HTTP %d: %s" % (r.status, body[:400].decode(errors="replace"))
                res["status"] = r.status
                break
            if method.startswith("watchlist"):
                if method.endswith("proto"):
                    read_watch_proto(r, res)
                else:
                    read_watch_json(r, res)
                break
            chunks = []
            res["bytes"] += read_all(r, chunks)
            body = b"".join(chunks)
            pages.append((res["content_type"], body))
            if not method.startswith("list-paged"):
                break
            if not res["content_type"].startswith("application/vnd.kubernetes.protobuf"):
                res["error"] = "paged list not in protobuf: %s" % res["content_type"]
                break
            _, _, cont = proto_list(body)  # the next page needs the continue token now
            if not cont:
                break
    except (OSError, http.client.HTTPException, ValueError) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    t1 = time.perf_counter()
    cpu1 = proc_cpu_ticks(pid)
    ccpu1 = time.process_time()
    hwm = proc_status_kb(pid, "VmHWM")
    conn.close()
    alloc1 = cl.alloc_bytes() if a.metrics else None
    res["wall_ms"] = (t1 - t0) * 1000
    res["apiserver_cpu_ms"] = (cpu1 - cpu0) * 1000.0 / CLK_TCK
    res["client_cpu_ms"] = (ccpu1 - ccpu0) * 1000
    if alloc0 is not None and alloc1 is not None:
        res["apiserver_alloc_mb"] = max(0.0, (alloc1 - alloc0 - cl.scrape_alloc) / 1e6)
    if rss0 is not None:
        res["rss_before_mb"] = rss0 / 1024
        if cleared and hwm is not None:
            res["peak_growth_mb"] = max(0, hwm - rss0) / 1024
            res["hwm_mb"] = hwm / 1024
    for ctype, body in pages:  # counting, off the clock
        try:
            if ctype.startswith("application/vnd.kubernetes.protobuf"):
                n, rv, _ = proto_list(body)
            else:
                d = json.loads(body)
                n, rv = len(d.get("items") or []), d.get("metadata", {}).get("resourceVersion")
            res["objects"] += n
            res["resource_version"] = rv
        except (ValueError, KeyError) as e:
            res["error"] = "decoding the list: %s" % e
    return res


NUMERIC = ["wall_ms", "ttfb_ms", "bytes", "objects", "requests", "apiserver_cpu_ms",
           "apiserver_alloc_mb", "rss_before_mb", "peak_growth_mb", "client_cpu_ms"]


def median_of(runs):
    out = {}
    for k in NUMERIC:
        xs = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
        if xs:
            m = statistics.median(xs)
            out[k] = round(m, 2) if isinstance(m, float) else m
    return out


def calibrate(cl, n=5):
    """What one /metrics scrape allocates in the API server (median of N back-to-back pairs)."""
    ds = []
    for _ in range(n):
        x, y = cl.alloc_bytes(), cl.alloc_bytes()
        if x is None or y is None:
            return None
        ds.append(y - x)
    return statistics.median(ds)


def idle_cpu(pid, seconds):
    c0, t0 = proc_cpu_ticks(pid), time.perf_counter()
    time.sleep(seconds)
    return (proc_cpu_ticks(pid) - c0) * 1000.0 / CLK_TCK / (time.perf_counter() - t0)


def fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return ("%%.%df" % nd) % v
    return str(v)


def paired(runs_a, runs_b, field):
    """Median over rounds of a[field] / b[field], the two measured in the same round."""
    b = {r["round"]: r.get(field) for r in runs_b if "error" not in r}
    rs = [r[field] / b[r["round"]] for r in runs_a
          if "error" not in r and r.get(field) and b.get(r["round"])]
    return statistics.median(rs) if rs else None


def table(R):
    out = []
    m = R["meta"]
    out.append("kube-apiserver %s, pid %s; %d rounds (+%d warm-up), medians. Idle API server CPU: "
               "%.1f ms/s. WatchList served: %s. `kube-apiserver -h`: %s." % (
                   m.get("apiserver_version", "?"), m["apiserver_pid"], m["rounds"], m["warmup"],
                   m["idle_cpu_ms_per_s"], m["watchlist_served"],
                   "; ".join(m["gate_help"]) or "—"))
    if not m["watchlist_served"]:
        for kind, p in m.get("watchlist_probe", {}).items():
            if not p["ok"]:
                out.append("")
                out.append("**Streaming list not served** for %s (the watchlist methods were "
                           "skipped): %s" % (kind, p.get("error", "?")[:400]))
    out.append("")
    out.append("| kind | method | objects | MB | wall ms | ttfb ms | wall / rv0-proto | "
               "API CPU ms | API CPU / rv0-proto | API alloc MB | API RSS peak growth MB | "
               "client CPU ms |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, by in R["results"].items():
        ref = by.get("list-rv0-proto", {}).get("runs", [])
        for method, r in by.items():
            md = r.get("median", {})
            if not md:
                out.append("| %s | %s | error: %s |  |  |  |  |  |  |  |  |  |" % (
                    kind, method, r.get("error", "?")[:120].replace("|", "/").replace("\n", " ")))
                continue
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                kind, method, fmt(md.get("objects")),
                fmt(md["bytes"] / 1e6 if "bytes" in md else None, 2),
                fmt(md.get("wall_ms")), fmt(md.get("ttfb_ms")),
                fmt(paired(r["runs"], ref, "wall_ms"), 2),
                fmt(md.get("apiserver_cpu_ms"), 0),
                fmt(paired(r["runs"], ref, "apiserver_cpu_ms"), 2),
                fmt(md.get("apiserver_alloc_mb")),
                fmt(md.get("peak_growth_mb")), fmt(md.get("client_cpu_ms"), 0)))
    out.append("")
    out.append("wall: request sent -> last byte (all pages) or the initial-events-end bookmark; "
               "ttfb: -> response headers (first page). Ratios: median of the per-round ratios "
               "to list-rv0-proto of the same round. API CPU: utime+stime of the API server "
               "over the request, background included (10 ms ticks). API alloc: Go heap bytes "
               "allocated (go_memstats_alloc_bytes_total delta, one /metrics scrape "
               "subtracted). RSS peak growth: VmHWM after - VmRSS before (after clear_refs); Go "
               "reuses heap an earlier request freed, so this is a floor. Client: Python 3, one "
               "TLS connection per measurement (handshake not timed), no compression.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--env", help="CLUSTER/env written by scripts/apiserver.sh")
    ap.add_argument("--apiserver-pid", type=int,
                    help="default: CLUSTER/apiserver.pid beside --env, else APISERVER_PID in it")
    ap.add_argument("--apiserver-bin",
                    help="for `-h` (the gate's default); default: KDNS_BIN from --env, else "
                         "/var/cache/kdns-tools/bin/kube-apiserver")
    ap.add_argument("--kinds", default="services,endpointslices,pods",
                    help="comma-separated, of: " + ",".join(KINDS))
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of: " +
                    ",".join(METHODS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    ap.add_argument("--gap", type=float, default=0.5, help="seconds between requests")
    ap.add_argument("--timeout", type=float, default=60, help="seconds, per request (socket "
                    "timeout and the watch's timeoutSeconds)")
    ap.add_argument("--watch-rv", default="",
                    help='resourceVersion for the watchlist: "" = unset (consistent, as '
                         'client-go\'s first one), or e.g. "0" (any, from the cache)')
    ap.add_argument("--no-metrics", dest="metrics", action="store_false",
                    help="do not scrape /metrics for the allocation column")
    ap.add_argument("--table", help="also write the Markdown table to this file")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="no measuring: print the table of a saved JSON output and exit")
    a = ap.parse_args()
    if a.render:
        sys.stdout.write(table(json.load(open(a.render))))
        return

    if not a.env:
        ap.error("--env is required")
    env = read_env(a.env)
    if a.apiserver_pid is None:
        pf = os.path.join(os.path.dirname(os.path.abspath(a.env)), "apiserver.pid")
        if os.path.exists(pf):
            a.apiserver_pid = int(open(pf).read().strip())
        elif env.get("APISERVER_PID"):
            a.apiserver_pid = int(env["APISERVER_PID"])
        else:
            ap.error("no --apiserver-pid and no apiserver.pid beside --env")
    if not os.path.exists("/proc/%d/stat" % a.apiserver_pid):
        ap.error("API server pid %d is not running" % a.apiserver_pid)
    binary = a.apiserver_bin or os.path.join(
        env.get("KDNS_BIN") or "/var/cache/kdns-tools/bin", "kube-apiserver")
    kinds = [k for k in a.kinds.split(",") if k]
    methods = [m for m in a.methods.split(",") if m]
    for k in kinds:
        if k not in KINDS:
            ap.error("unknown kind %r" % k)
    for m in methods:
        if m not in METHODS:
            ap.error("unknown method %r" % m)

    cl = Client(a.env, a.timeout)
    cl.scrape_alloc = 0.0
    if a.metrics:
        s = calibrate(cl)
        if s is None:
            print("watchlist.py: /metrics has no go_memstats_alloc_bytes_total; no alloc column",
                  file=sys.stderr)
            a.metrics = False
        else:
            cl.scrape_alloc = s
    version = None
    try:
        c = cl.conn()
        c.request("GET", "/version", headers=cl.headers(ACCEPT_JSON))
        version = json.loads(c.getresponse().read()).get("gitVersion")
        c.close()
    except (OSError, http.client.HTTPException, ValueError):
        pass
    meta = {
        "apiserver_pid": a.apiserver_pid, "apiserver_version": version,
        "feature_gates_flag": proc_flag(a.apiserver_pid, "--feature-gates"),
        "gate_help": gate_help(binary), "rounds": a.rounds, "warmup": a.warmup,
        "gap_s": a.gap, "watch_rv": a.watch_rv, "page": PAGE,
        "scrape_alloc_mb": round(cl.scrape_alloc / 1e6, 2),
        "idle_cpu_ms_per_s": round(idle_cpu(a.apiserver_pid, 3.0), 2),
        "memory_columns": os.access("/proc/%d/clear_refs" % a.apiserver_pid, os.W_OK),
    }

    # Is the streaming list served at all?
    served = {}
    for k in kinds:
        probe = measure(cl, a, k, "watchlist-json")
        served[k] = {"ok": "error" not in probe}
        if "error" in probe:
            served[k]["error"] = probe["error"]
            served[k]["status"] = probe.get("status")
    meta["watchlist_served"] = all(v["ok"] for v in served.values())
    meta["watchlist_probe"] = served
    if not meta["watchlist_served"]:
        print("watchlist.py: the API server does not serve streaming lists: %s\n"
              "  kube-apiserver -h: %s\n  running with --feature-gates: %s\n"
              "  (the gate is kube-apiserver --feature-gates=WatchList=true); watchlist skipped"
              % (json.dumps(served), "; ".join(meta["gate_help"]),
                 meta["feature_gates_flag"] or "(not given)"),
              file=sys.stderr)
        methods = [m for m in methods if not m.startswith("watchlist")]

    runs = {k: {m: [] for m in methods} for k in kinds}
    errors = {k: {} for k in kinds}
    for rnd in range(a.warmup + a.rounds):
        order = methods if rnd % 2 == 0 else list(reversed(methods))
        for k in kinds:
            for m in order:
                r = measure(cl, a, k, m)
                if "error" in r:
                    errors[k][m] = r["error"]
                if rnd >= a.warmup:
                    r["round"] = rnd - a.warmup
                    runs[k][m].append(r)
                time.sleep(a.gap)
        print("watchlist.py: round %d/%d done%s" % (
            rnd + 1, a.warmup + a.rounds, " (warm-up)" if rnd < a.warmup else ""), file=sys.stderr)

    results = {}
    for k in kinds:
        results[k] = {}
        for m in methods:
            ok = [r for r in runs[k][m] if "error" not in r]
            e = {"median": median_of(ok), "runs": [
                {x: (round(v, 3) if isinstance(v, float) else v) for x, v in r.items()}
                for r in runs[k][m]]}
            if m in errors[k]:
                e["error"] = errors[k][m]
            results[k][m] = e
    R = {"meta": meta, "results": results}
    json.dump(R, sys.stdout, indent=1)
    print()
    if a.table:
        with open(a.table, "w") as f:
            f.write(table(R))
    if any(errors[k] for k in kinds):
        sys.exit(1)


if __name__ == "__main__":
    main()
