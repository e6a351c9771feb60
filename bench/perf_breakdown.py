#!/usr/bin/env python3
"""Where a DNS server spends CPU per query, from `perf script` output of a `perf record -g` run.

  perf script -i perf.data -F comm,tid,ip,sym --no-inline | bench/perf_breakdown.py [--qps Q]

Prints (1) inclusive shares of the stages of kdns's query path (a sample counts for a stage when
the stage's frame is anywhere on its stack), (2) self time by kind (kernel, malloc/free, memmove,
memcmp, formatting, HAMT lookups, ...) with the kdns/hickory frame that caused it, and, with
--qps (the measured rate) and --cpu (the server's busy fraction), nanoseconds per query.
Standard library only.
"""
import argparse
import collections
import re
import sys

# Stages, outermost first (inclusive time; they nest, so they do not add up).
STAGES = [
    ("kdns UDP loop (src/dns/udp.rs serve, one task per socket)", r"kdns::dns::udp::serve"),
    ("  fast path: hand parse + packet cache + assemble", r"kdns::dns::udp::parse|kdns::dns::udp::assemble|hashbrown::map::HashMap<K,V,S,A>::get|hashbrown::raw"),
    ("  full path (udp::full: decode, Router::resolve, encode)", r"kdns::dns::udp::full"),
    ("    request decode (Message::from_vec)", r"Message::from_vec|hickory_proto::op::message::Message::read|Message as hickory_proto::serialize::binary::BinDecodable"),
    ("    response encode (udp::encode)", r"kdns::dns::udp::encode"),
    ("  packet cache store", r"kdns::dns::udp::store"),
    ("hickory UDP task per packet (handle_udp closure)", r"hickory_server::server::handle_udp::\{\{closure\}\}::\{\{closure\}\}"),
    ("hickory handle_raw_request (decode + handler + encode)", r"ServerContext<T>::handle_raw_request"),
    ("  request decode (MessageRequest::read)", r"MessageRequest as hickory_proto::serialize::binary::BinDecodable|MessageRequest::read|Queries::read|LowerQuery"),
    ("  kdns Handler::handle_request", r"kdns::dns::handler::Handler as hickory_server"),
    ("    Router::resolve_depth", r"kdns::dns::handler::Router::resolve_depth"),
    ("      Name::to_ascii + lower-casing (handler.rs)", r"hickory_proto::rr::domain::name::Name::to_ascii|Name as core::fmt::Display|to_ascii_lowercase"),
    ("      zone lookup::serve (lookup.rs)", r"kdns::zone::lookup::serve"),
    ("        HAMT gets (imbl)", r"imbl::nodes::hamt"),
    ("        format!/to_string in lookup", r"alloc::fmt::format::format_inner|alloc::string::ToString"),
    ("        dashed_ip (endpoint labels)", r"kdns::zone::names::dashed_ip"),
    ("      wire::all_to_wire (zone -> hickory records)", r"kdns::dns::wire::all_to_wire|kdns::dns::wire::to_wire"),
    ("        Name::from_ascii (name parsing)", r"Name::from_encoded_str|Name::from_ascii|Name::from_utf8"),
    ("    response build + send (MessageResponseBuilder, encode)", r"ResponseHandle as hickory_server::server::response_handler::ResponseHandler>::send_response|ResponseHandler>::send_response"),
    ("      message encode (BinEncodable::emit)", r"as hickory_proto::serialize::binary::BinEncodable>::emit|BinEncoder|encode_as|to_bytes"),
    ("hickory UDP socket task (recv loop, channel, send_to)", r"UdpStream<P> as futures_core::stream::Stream>::poll_next|hickory_server::server::handle_udp::\{\{closure\}\}$|BufDnsStreamHandle|UdpStream.*send"),
    ("tokio task spawn / JoinSet", r"tokio::task::join_set::JoinSet<T>::spawn|tokio::runtime::task::.*::spawn|JoinSet.*join_next|ShardedList|OwnedTasks"),
    ("syscall recvfrom (kernel)", r"__sys_recvfrom|__x64_sys_recvfrom|recvmsg"),
    ("syscall sendto (kernel)", r"__sys_sendto|__x64_sys_sendto|sendmsg"),
    ("epoll / scheduler park", r"epoll_wait|do_epoll_wait|Parker|park_timeout|park_internal"),
]

SELF_KINDS = [
    ("malloc/free/realloc", r"^(malloc|_int_malloc|_int_free|cfree|free|realloc|_int_realloc|malloc_consolidate|unlink_chunk|__libc_malloc|__libc_free|tcache|__rust_alloc|__rust_dealloc|__rdl_)"),
    ("memmove/memcpy", r"memmove|memcpy"),
    ("memcmp/bcmp", r"memcmp|bcmp"),
    ("memset", r"memset"),
    ("core::fmt", r"^core::fmt|alloc::fmt|<alloc::string::String as core::fmt::Write>"),
    ("imbl HAMT", r"^imbl::"),
    ("kdns own code", r"^kdns::|^<kdns::"),
    ("hickory-proto", r"hickory_proto"),
    ("hickory-server/net", r"hickory_server|hickory_net"),
    ("tokio", r"tokio::|^<tokio"),
]

OWNER = re.compile(r"(kdns::[A-Za-z_:]+|hickory_[a-z]+::[A-Za-z_:<>]+|tokio::[a-z_:]+)")


def parse(stream, comm_filter):
    samples = []
    cur = None
    for line in stream:
        if not line.strip():
            if cur is not None:
                samples.append(cur)
            cur = None
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            cur = [] if (comm_filter is None or comm_filter in line) else None
            continue
        if cur is None:
            continue
        parts = line.strip().split(None, 1)
        addr = parts[0]
        sym = parts[1] if len(parts) > 1 else "[unknown]"
        kernel = addr.startswith("ffff")
        cur.append((sym, kernel))
    if cur is not None:
        samples.append(cur)
    return [s for s in samples if s]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comm", help="only samples of this thread name (e.g. tokio-rt-worker)")
    ap.add_argument("--qps", type=float, help="measured queries per second during the recording")
    ap.add_argument("--cpu", type=float, default=1.0,
                    help="busy fraction of the server's core during the recording (0..1)")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    samples = parse(sys.stdin, a.comm)
    n = len(samples)
    if not n:
        sys.exit("no samples")
    per_q = (lambda share: share * a.cpu * 1e9 / a.qps) if a.qps else None
    print("samples: %d" % n)
    print()
    print("| stage (inclusive) | share of server CPU |%s" % (" ns/query |" if per_q else ""))
    print("|---|---|%s" % ("---|" if per_q else ""))
    for name, pat in STAGES:
        rx = re.compile(pat)
        k = sum(1 for s in samples if any(rx.search(f) for f, _ in s))
        share = k / n
        print("| %s | %.1f %% |%s" % (name.replace("  ", "&nbsp;&nbsp;"), 100 * share,
                                      (" %.0f |" % per_q(share)) if per_q else ""))
    kern = sum(1 for s in samples if s[0][1]) / n
    print("| kernel (all, self) | %.1f %% |%s" % (100 * kern, (" %.0f |" % per_q(kern)) if per_q else ""))
    print()
    print("| self time by kind | share | top owners (nearest kdns/hickory/tokio frame) |")
    print("|---|---|---|")
    kinds = [(k, re.compile(p)) for k, p in SELF_KINDS]
    by_kind = collections.Counter()
    owners = collections.defaultdict(collections.Counter)
    for s in samples:
        leaf, is_k = s[0]
        kind = "kernel" if is_k else next((k for k, rx in kinds if rx.search(leaf)), "other user")
        by_kind[kind] += 1
        owner = "?"
        for f, kk in s[1:] if kind in ("malloc/free/realloc", "memmove/memcpy", "memcmp/bcmp", "memset", "core::fmt", "kernel") else s:
            if kk:
                continue
            m = OWNER.search(f)
            if m and not f.startswith(("core::fmt", "alloc::")):
                owner = m.group(1).rstrip(":")
                break
        owners[kind][owner] += 1
    for kind, c in by_kind.most_common():
        top = ", ".join("%s %.1f%%" % (o, 100 * v / n) for o, v in owners[kind].most_common(3))
        print("| %s | %.1f %% | %s |" % (kind, 100 * c / n, top))
    print()
    print("| top self symbols | share |")
    print("|---|---|")
    leafs = collections.Counter(s[0][0] for s in samples)
    for sym, c in leafs.most_common(a.top):
        print("| `%s` | %.1f %% |" % (sym[:110], 100 * c / n))


if __name__ == "__main__":
    main()
