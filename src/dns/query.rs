//! What the directive chain sees of a query ([`Query`]) and what it gives back ([`Answer`]).
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_server::proto::op::{Edns, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::metrics::Counter;
use crate::zone::{Depends, Zone, ZoneHandle};

/// Largest UDP answer we send (the DNS Flag Day 2020 value): bigger answers set TC.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// How many times kdns may ask itself while answering one query (CNAME chases).
pub const MAX_DEPTH: u8 = 8;

/// One EDNS option of an OPT record: its code and its data.
pub type EdnsOpt = (u16, Vec<u8>);

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// A UDP datagram (answers that do not fit the EDNS payload size, or 512 bytes, set TC).
    Udp,
    /// A TCP connection (length-prefixed messages, no truncation).
    Tcp,
}

impl Proto {
    /// `"udp"` or `"tcp"`, as CoreDNS writes it in `{proto}` and the `proto` metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// One question and what is known about who asked it.
#[derive(Debug, Clone)]
pub struct Query {
    /// The name as the client wrote it (its case is echoed).
    pub name: Name,
    /// Lower-case text with the final dot (`text` lower-cased).
    pub lower: String,
    /// The text as the client wrote it, with the final dot ([`text`] of `name`): built once
    /// with `lower`, for the directives that echo the question's case. [`Query::set_name`]
    /// changes the three together.
    pub text: String,
    /// The question's QTYPE (A, AAAA, SRV, …).
    pub qtype: RecordType,
    /// The question's QCLASS (IN; CH for `chaos`).
    pub class: DNSClass,
    /// The message ID of the request header (`{>id}` in `log`); echoed in the response.
    pub id: u16,
    /// The header OPCODE as a number (0 = QUERY; only QUERY reaches the chain).
    pub opcode: u8,
    /// The RD (recursion desired) header flag.
    pub recursion_desired: bool,
    /// The CD (checking disabled) header flag, passed on to upstreams by `forward`.
    pub checking_disabled: bool,
    /// The AD (authentic data) header flag: the client understands AD in the answer.
    pub authentic_data: bool,
    /// The DO (DNSSEC OK) bit of the request's EDNS OPT record (`{>do}` in `log`).
    pub dnssec_ok: bool,
    /// The EDNS payload size the client advertised; `None` without EDNS.
    pub edns: Option<u16>,
    /// The transport the query came over.
    pub proto: Proto,
    /// The client's address and port (`{remote}` and `{port}` in `log`).
    pub src: SocketAddr,
    /// The address and port the query came in on (`rewrite`'s `{server_ip}`, `{server_port}`).
    pub local: SocketAddr,
    /// The EDNS options of the request's OPT record, in order (`None`: no options).
    pub edns_options: Option<Arc<[EdnsOpt]>>,
    /// `rewrite`'s `edns0` rules changed the OPT record: `forward` sends `edns_options` on
    /// (otherwise its query upstream carries no options).
    pub options_rewritten: bool,
    /// Size of the request on the wire.
    pub size: usize,
    /// Asked by kdns itself (CNAME chase, cache refresh): not counted or logged.
    pub internal: bool,
    /// Its port already has as many UDP queries waiting as it may (`load.rs`): a directive
    /// that would wait on something (an upstream) answers at once instead (`forward`: REFUSED).
    pub overloaded: bool,
    /// How many follow-ups deep this question is (0 for the client's own); capped at
    /// [`MAX_DEPTH`].
    pub depth: u8,
    /// For an IXFR: the serial of the SOA in the request's authority section, when that
    /// section holds exactly one record and it is an SOA (`transfer` answers SERVFAIL
    /// otherwise, as CoreDNS). `None` for every other question.
    pub ixfr_serial: Option<u32>,
}

/// Lower-case text with the final dot.
pub fn lower_text(name: &Name) -> String {
    text(name, true)
}

/// The name's text as written and lower-cased, from one walk over its labels (the lower-case
/// text is always the written one lower-cased: escapes are ASCII digits and `\\`).
pub(crate) fn texts(name: &Name) -> (String, String) {
    with_lower(text(name, false))
}

/// [`texts`] of `name`, read from `wire`, its bytes in the request (labels, no pointer, the
/// root's zero byte last): one pass over the bytes instead of a walk over hickory's labels.
/// A name with a label [`plain_text`] would not take falls back to [`texts`].
pub(crate) fn wire_texts(name: &Name, wire: &[u8]) -> (String, String) {
    with_lower(wire_text(wire).unwrap_or_else(|| text(name, false)))
}

/// The written text and its lower-cased copy.
fn with_lower(written: String) -> (String, String) {
    let lower = written.to_ascii_lowercase();
    (written, lower)
}

/// The text of an uncompressed wire name whose labels need no escapes; `None` for any other
/// (or for bytes that are not one whole name: a label over 63 bytes, a cut, bytes after it).
fn wire_text(wire: &[u8]) -> Option<String> {
    let mut at = 0;
    while let Some(len) = wire.get(at).map(|&l| usize::from(l)).filter(|&l| l != 0) {
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
    if at + 1 != wire.len() {
        return None;
    }
    // Whole (checked above): every label is where its length byte says.
    let mut at = 0;
    let labels = std::iter::from_fn(|| {
        let len = usize::from(*wire.get(at)?);
        let label = wire.get(at + 1..at + 1 + len).filter(|_| len > 0)?;
        at += 1 + len;
        Some(label)
    });
    plain_joined(labels, wire.len(), false)
}

/// The name's text as hickory's `to_ascii` writes it (escapes included), with the final dot;
/// lower-cased when `lower`.
pub fn text(name: &Name, lower: bool) -> String {
    plain_text(name, lower).unwrap_or_else(|| {
        let mut t = name.to_ascii();
        if lower {
            t.make_ascii_lowercase();
        }
        if !t.ends_with('.') {
            t.push('.');
        }
        t
    })
}

/// The text of a name whose labels need no escapes — letters, digits and `_`, `-` but first,
/// `*` only first (hickory's safe characters): their bytes, one label after another. `None`
/// for any other name. The query path's names are such names; this skips hickory's per-label
/// formatting, and copies each label whole (lower-cased in one pass at the end).
fn plain_text(name: &Name, lower: bool) -> Option<String> {
    plain_joined(name.iter(), name.len() + 1, lower)
}

/// `labels`, each followed by a dot (`.` alone for none), when none needs an escape; `cap`
/// bytes reserved.
fn plain_joined<'a>(
    labels: impl Iterator<Item = &'a [u8]>,
    cap: usize,
    lower: bool,
) -> Option<String> {
    let mut t = Vec::with_capacity(cap);
    for label in labels {
        if !plain_label(label) {
            return None;
        }
        t.extend_from_slice(label);
        t.push(b'.');
    }
    if t.is_empty() {
        t.push(b'.');
    }
    if lower {
        t.make_ascii_lowercase();
    }
    // ASCII only (checked above): always UTF-8.
    String::from_utf8(t).ok()
}

/// Does `label` need no escape in hickory's text (see [`plain_text`])? One table lookup per
/// byte, without a branch until the end.
fn plain_label(label: &[u8]) -> bool {
    match label.split_first() {
        Some((&first, rest)) => {
            let inner = rest
                .iter()
                .fold(INNER, |all, &b| all & CLASS[usize::from(b)]);
            CLASS[usize::from(first)] & FIRST != 0 && inner != 0
        }
        None => true,
    }
}

/// [`CLASS`]: the byte may stand after a label's first byte.
const INNER: u8 = 1;
/// [`CLASS`]: the byte may be a label's first byte.
const FIRST: u8 = 2;

/// Where each byte may stand in a label that needs no escape: letters, digits and `_`
/// anywhere, `-` but first, `*` only first.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            INNER | FIRST
        } else if c == b'-' {
            INNER
        } else if c == b'*' {
            FIRST
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The options of a request's OPT record, in order (`None` when it has none).
pub fn options_of(e: &Edns) -> Option<Arc<[EdnsOpt]>> {
    let list: Vec<EdnsOpt> = e
        .options()
        .options
        .iter()
        .map(|(code, o)| (u16::from(*code), Vec::<u8>::try_from(o).unwrap_or_default()))
        .collect();
    (!list.is_empty()).then(|| list.into())
}

/// An IXFR's serial: that of the SOA in the request's authority section, when the section
/// holds that one record alone.
pub fn ixfr_serial(authorities: &[Record]) -> Option<u32> {
    match authorities {
        [r] => match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        },
        _ => None,
    }
}

impl Query {
    /// A query kdns asks itself (recursion desired, as a stub resolver would).
    pub fn internal(name: Name, qtype: RecordType) -> Self {
        let (text, lower) = texts(&name);
        Self {
            lower,
            text,
            name,
            qtype,
            class: DNSClass::IN,
            id: 0,
            opcode: 0,
            recursion_desired: true,
            checking_disabled: false,
            authentic_data: false,
            dnssec_ok: false,
            edns: None,
            proto: Proto::Udp,
            src: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            local: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            edns_options: None,
            options_rewritten: false,
            size: 0,
            internal: true,
            overloaded: false,
            depth: 0,
            ixfr_serial: None,
        }
    }

    /// A follow-up question asked while answering this one.
    pub fn follow(&self, name: Name, qtype: RecordType) -> Self {
        let mut q = Self {
            qtype,
            internal: true,
            depth: self.depth + 1,
            ..self.clone()
        };
        q.set_name(name);
        q
    }

    /// Asks about `name` instead: its texts follow it.
    pub fn set_name(&mut self, name: Name) {
        (self.text, self.lower) = texts(&name);
        self.name = name;
    }

    /// The buffer size CoreDNS reports (`{>bufsize}`): the EDNS size, 512 without EDNS, and
    /// 65535 over TCP.
    pub fn bufsize(&self) -> u16 {
        match self.proto {
            Proto::Tcp => u16::MAX,
            Proto::Udp => self.edns.unwrap_or(512).max(512),
        }
    }
}

/// A finished answer, in wire records.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response code (NOERROR, NXDOMAIN, SERVFAIL, …).
    pub rcode: ResponseCode,
    /// The AA (authoritative answer) header flag: set by `kubernetes`, copied from upstream by
    /// `forward`.
    pub authoritative: bool,
    /// The RA (recursion available) header flag, set for answers relayed by `forward`.
    pub recursion_available: bool,
    /// The AD (authentic data) header flag of the response.
    pub authentic_data: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (the SOA of a negative answer, NS records).
    pub authority: Vec<Record>,
    /// The additional section (e.g. SRV target addresses); the EDNS OPT record is added when
    /// encoding.
    pub additional: Vec<Record>,
    /// The directive that wrote the answer (`""` when none did): CoreDNS's `plugin` label.
    pub plugin: &'static str,
    /// Why it failed, for `errors` (CoreDNS's plugin error).
    pub error: Option<Arc<str>>,
    /// A pure answer of the synced zone: it stays right while the configuration and the zone
    /// are unchanged (see `scope`), so the UDP path may replay it (see `dns/udp.rs`).
    pub cacheable: bool,
    /// Counters a replay of this answer bumps besides the block's metrics (the lookups of a
    /// `cache` that did not keep it).
    pub replay: Vec<Arc<Counter>>,
    /// Where a cacheable answer came from: the zone and the snapshot's generation, and for an
    /// answer decided by one namespace's objects alone, that namespace's version.
    pub scope: Option<Scope>,
    /// The request's EDNS size as `bufsize` lowered it: it bounds the UDP response and is the
    /// size the response's OPT record advertises (CoreDNS changes the request in place).
    pub bufsize: Option<u16>,
    /// An extended DNS error (RFC 8914) INFO-CODE for the response's OPT record (`acl`: 15
    /// Blocked, 17 Filtered); the response then carries an OPT record even if the request
    /// had none, as CoreDNS's.
    pub ede: Option<u16>,
    /// Send no reply at all (`acl`'s `drop`); observers still see the query, as CoreDNS's
    /// (NOERROR, 0 bytes).
    pub silent: bool,
    /// `rewrite`'s `edns0` rules gave a request without EDNS an OPT record (4096 bytes; CoreDNS
    /// changes the request in place): the response carries one too.
    pub opt_added: bool,
    /// The later messages of an answer that takes several (a zone transfer over TCP): the
    /// answer section of each, sent in order after this answer's own message with the same
    /// header and question. `None` for every other answer (one pointer, no allocation).
    pub more: Option<Box<Vec<Vec<Record>>>>,
}

/// Where a cacheable zone answer came from, for the UDP packet cache.
#[derive(Clone)]
pub struct Scope {
    /// The zone that answered.
    pub zone: ZoneHandle,
    /// The zone's generation read before the answering snapshot was loaded.
    pub generation: u64,
    /// How long the answer stays right.
    pub holds: Holds,
    /// A negative answer whose only moving part is the zone's SOA serial (in its authority
    /// section): a replay writes the zone's current serial, so it outlives the changes that
    /// only move the serial.
    pub negative: bool,
}

/// How long a cacheable zone answer stays right (besides the configuration it came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holds {
    /// While the zone's generation is still [`Scope::generation`]: any change ends it.
    Generation,
    /// While this namespace's version is unchanged (0: a namespace the zone never had
    /// objects of), whatever changes elsewhere: one namespace alone decided the answer.
    Namespace(Arc<str>, u64),
    /// While the zone stays synced, whatever changes: the name's shape alone decided it.
    Always,
}

impl Scope {
    /// The scope of an answer read from `snapshot` (published in `zone` at `generation`)
    /// that `depends` on part of the cluster, or on all of it (`None`).
    pub fn of(
        zone: &ZoneHandle,
        (generation, snapshot): (u64, &Zone),
        depends: Option<&Depends>,
        negative: bool,
    ) -> Scope {
        let holds = match depends {
            None => Holds::Generation,
            Some(Depends::Namespace(ns)) => {
                Holds::Namespace(ns.clone(), snapshot.ns_version(ns).unwrap_or(0))
            }
            Some(Depends::Nothing) => Holds::Always,
        };
        Scope {
            zone: zone.clone(),
            generation,
            negative: negative && holds != Holds::Generation,
            holds,
        }
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let negative = if self.negative { ", negative" } else { "" };
        match &self.holds {
            Holds::Generation => write!(f, "Scope(gen {}{negative})", self.generation),
            Holds::Namespace(ns, v) => write!(f, "Scope({ns}@{v}{negative})"),
            Holds::Always => write!(f, "Scope(always{negative})"),
        }
    }
}

impl Answer {
    /// An answer with only a response code.
    pub fn code(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: false,
            recursion_available: false,
            authentic_data: false,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            plugin: "",
            error: None,
            cacheable: false,
            replay: Vec::new(),
            scope: None,
            bufsize: None,
            ede: None,
            silent: false,
            opt_added: false,
            more: None,
        }
    }

    /// REFUSED (no server block, or a class other than IN on a port without `chaos` or
    /// `forward`).
    pub fn refused() -> Self {
        Self::code(ResponseCode::Refused)
    }

    /// Names the directive that wrote this answer (sets [`Answer::plugin`]).
    pub fn by(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }

    /// Attaches the error `errors` logs for this answer (sets [`Answer::error`]).
    pub fn with_error(mut self, e: impl Into<Arc<str>>) -> Self {
        self.error = Some(e.into());
        self
    }

    /// Every record of every section, those of the later messages ([`Answer::more`]) too.
    pub fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authority.iter_mut())
            .chain(self.additional.iter_mut())
            .chain(self.more.iter_mut().flat_map(|m| m.iter_mut().flatten()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::serialize::binary::BinEncodable;

    #[test]
    fn a_querys_texts_follow_its_name() {
        let name = |labels: &[&[u8]]| {
            let mut n = Name::from_labels(labels.iter().copied()).expect("labels");
            n.set_fqdn(true);
            n
        };
        let mut q = Query::internal(
            name(&[b"Web", b"Shop", b"svc", b"Cluster", b"local"]),
            RecordType::A,
        );
        assert_eq!(q.text, "Web.Shop.svc.Cluster.local.");
        assert_eq!(q.lower, "web.shop.svc.cluster.local.");
        for labels in [
            &[b"A\\B".as_slice(), b"x y", b"Z"][..],
            &[b"*".as_slice(), b"Ex-1", b"_Tcp"][..],
        ] {
            q.set_name(name(labels));
            assert_eq!(
                (q.text.as_str(), q.lower.as_str()),
                (
                    hickory_text(&q.name, false).as_str(),
                    hickory_text(&q.name, true).as_str()
                ),
                "{labels:?}"
            );
            let f = q.follow(name(&[b"Next", b"Org"]), RecordType::AAAA);
            assert_eq!(
                (f.text.as_str(), f.lower.as_str()),
                ("Next.Org.", "next.org.")
            );
        }
    }

    /// hickory's text, as the query path wrote it before `plain_text`.
    fn hickory_text(name: &Name, lower: bool) -> String {
        let mut t = name.to_ascii();
        if lower {
            t = t.to_ascii_lowercase();
        }
        if !t.ends_with('.') {
            t.push('.');
        }
        t
    }

    #[test]
    fn the_text_is_hickorys() {
        let texts = [
            ".",
            "Web.Default.svc.Cluster.Local.",
            "web.default.svc.cluster.local",
            "_http._tcp.WEB.ns.svc.cluster.local.",
            "*.ns.svc.cluster.local.",
            "10-0-0-1.Web.ns.svc.cluster.local.",
        ];
        let mut names: Vec<Name> = texts
            .iter()
            .map(|t| Name::from_ascii(t).expect("a name"))
            .collect();
        // Labels hickory escapes: a leading dash, a star inside, a dot, a space, bytes past
        // ASCII, an uppercase letter after an escape.
        for raw in [
            &b"-lead"[..],
            b"a*b",
            b"a.b",
            b"sp ace",
            b"\xc3\xa9t\xc3\xa9",
            b"\x00\x7fZ",
            b"*lead",
            b"tail-",
            b"_x-y_",
            b"a\\b",
            b"a@b",
        ] {
            let mut n = Name::from_labels([raw, b"Cluster", b"local"]).expect("labels");
            n.set_fqdn(true);
            names.push(n);
        }
        for n in &names {
            for lower in [false, true] {
                assert_eq!(text(n, lower), hickory_text(n, lower), "{n:?}");
            }
        }
        assert_eq!(
            plain_text(&names[1], true).as_deref(),
            Some("web.default.svc.cluster.local.")
        );
        assert_eq!(plain_text(&names[6], false), None);
        for n in &names {
            let wire = n.to_bytes().expect("encodes");
            assert_eq!(wire_texts(n, &wire), super::texts(n), "{n:?}");
        }
        let n = &names[1];
        let wire = n.to_bytes().expect("encodes");
        assert_eq!(
            wire_text(&wire).as_deref(),
            Some("Web.Default.svc.Cluster.Local.")
        );
        let mut long = wire.clone();
        long.push(0);
        for junk in [&wire[..wire.len() - 1], &wire[..5], &long[..], &[][..]] {
            assert_eq!(wire_text(junk), None, "{junk:?}");
        }
        assert_eq!(wire_text(&[0]).as_deref(), Some("."));
    }
}
