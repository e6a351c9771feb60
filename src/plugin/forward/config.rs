//! Parsing `forward FROM TO… { options }` with CoreDNS's options, names and defaults.
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_server::proto::op::ResponseCode;
use rustls::pki_types::ServerName;

use crate::config::args;
use crate::config::syntax::Token;
use crate::config::syntax::{normalize_zone, ConfigError, Line};
use crate::dns::codes::parse_rcode;

use super::tls::{self, TlsClient};

const D: &str = "forward";
/// CoreDNS's limit on upstreams per `forward`.
const MAX_UPSTREAMS: usize = 15;

/// How upstreams are ordered for each query (`policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// A random order for each query (the default).
    #[default]
    Random,
    /// Each query starts one upstream further than the previous one.
    RoundRobin,
    /// Always in configuration order.
    Sequential,
}

/// One upstream: its address and, for a `tls://` one, the name its certificate must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `IP:PORT`.
    pub(crate) addr: SocketAddr,
    /// `tls://`: the name verified (the upstream's `%NAME`, else `tls_servername`, else its IP).
    pub(crate) tls: Option<ServerName<'static>>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tls {
            Some(_) => write!(f, "tls://{}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// A TO as written: plain DNS, or `tls://` with its own `%NAME` if it has one.
#[derive(Debug, Clone)]
enum Kind {
    Dns,
    Tls(Option<String>),
}

/// One `forward` directive: FROM, the upstreams and the block's options (CoreDNS's defaults
/// where an option is absent).
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardConfig {
    /// The zone forwarded (lower-case, final dot).
    pub(crate) from: String,
    /// Upstreams, deduplicated by address (the first TO wins), in configuration order.
    pub(crate) to: Vec<Target>,
    /// The TLS client of the `tls://` upstreams (`tls`; none when there are none).
    pub(crate) tls: Option<TlsClient>,
    /// Zones not forwarded (`except`; lower-case, final dot).
    pub(crate) except: Vec<String>,
    /// Ask upstreams over TCP whatever the client used (`force_tcp`).
    pub(crate) force_tcp: bool,
    /// Ask upstreams over UDP even for TCP clients (`prefer_udp`).
    pub(crate) prefer_udp: bool,
    /// How long idle connections are kept (`expire`, 10s).
    pub(crate) expire: Duration,
    /// At most this many idle connections per upstream and protocol, 0: no limit.
    pub(crate) max_idle_conns: usize,
    /// How long to wait for an upstream's answer (`read_timeout`, 2s).
    pub(crate) read_timeout: Duration,
    /// Failed health checks before an upstream is down (`max_fails`, 2; 0: never).
    pub(crate) max_fails: u32,
    /// Upstream attempts per query (`max_connect_attempts`; unset: twice the upstreams).
    pub(crate) max_connect_attempts: Option<u32>,
    /// The order upstreams are tried in.
    pub(crate) policy: Policy,
    /// Time between health probes (`health_check`, 0.5s).
    pub(crate) health_check: Duration,
    /// The probes' RD bit (cleared by `no_rec`).
    pub(crate) hc_recursion_desired: bool,
    /// The name the probes ask NS for (`domain`, the root by default).
    pub(crate) hc_domain: String,
    /// Queries in flight beyond which forward answers REFUSED (0: no limit).
    pub(crate) max_concurrent: u32,
    /// RCODEs handed to the next `forward` (`next`).
    pub(crate) next: Vec<ResponseCode>,
    /// An empty NOERROR answer goes to the next `forward` too (`next_on_nodata`).
    pub(crate) next_on_nodata: bool,
    /// SERVFAIL at once when every upstream is down (`failfast_all_unhealthy_upstreams`).
    pub(crate) failfast_all_unhealthy_upstreams: bool,
    /// RCODEs after which the next upstream is asked (`failover`).
    pub(crate) failover: Vec<ResponseCode>,
    /// The local address queries leave from (`source_address`).
    pub(crate) source_address: Option<IpAddr>,
    /// `FILE:LINE` of the directive.
    pub(crate) at: String,
}

impl ForwardConfig {
    fn new(from: String, at: String) -> Self {
        Self {
            from,
            to: Vec::new(),
            tls: None,
            except: Vec::new(),
            force_tcp: false,
            prefer_udp: false,
            expire: Duration::from_secs(10),
            max_idle_conns: 0,
            read_timeout: Duration::from_secs(2),
            max_fails: 2,
            max_connect_attempts: None,
            policy: Policy::Random,
            health_check: Duration::from_millis(500),
            hc_recursion_desired: true,
            hc_domain: ".".into(),
            max_concurrent: 0,
            next: Vec::new(),
            next_on_nodata: false,
            failfast_all_unhealthy_upstreams: false,
            failover: Vec::new(),
            source_address: None,
            at,
        }
    }
}

/// `nameserver` lines of a resolv.conf, on port 53.
pub(crate) fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|ip| {
            // A zone index (`fe80::1%eth0`) cannot be expressed in a SocketAddr text; drop it.
            ip.split('%').next()?.parse::<IpAddr>().ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// One TO: `IP`, `IP:PORT`, `[IPv6]:PORT`, `dns://…`, `tls://IP[%NAME][:PORT]` (port 853), a
/// resolv.conf file (its nameservers are plain DNS, even after `tls://`, as in CoreDNS), or a
/// host name (resolved once, when the Corefile loads).
fn upstreams_of(t: &Token, base: &Path) -> Result<Vec<(SocketAddr, Kind)>, ConfigError> {
    let err = |m: String| ConfigError::at(t, Some(D), m);
    let s = t.text.as_str();
    let (s, kind, port) = match s.split_once("://") {
        Some(("dns", rest)) => (rest.to_string(), Kind::Dns, 53),
        Some(("tls", rest)) => {
            let (host, name) = split_server_name(rest);
            (host, Kind::Tls(name), tls::PORT)
        }
        Some((scheme, _)) => {
            return Err(err(format!(
                "{s:?}: {scheme}:// upstreams are not supported by kdns (dns:// and tls:// only)"
            )))
        }
        None => (s.to_string(), Kind::Dns, 53),
    };
    let s = s.as_str();
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![(SocketAddr::new(ip, port), kind)]);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(vec![(sa, kind)]);
    }
    if s.contains('/') {
        let p = PathBuf::from(s);
        let p = if p.is_absolute() { p } else { base.join(p) };
        let text = std::fs::read_to_string(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
        let found = resolv_conf_nameservers(&text);
        if found.is_empty() {
            return Err(err(format!("{}: no nameserver lines", p.display())));
        }
        return Ok(found.into_iter().map(|a| (a, Kind::Dns)).collect());
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| err(format!("{s:?}: invalid port {p:?}")))?,
        ),
        None => (s, port),
    };
    if host.is_empty() || host.contains(':') {
        return Err(err(format!("{s:?} is not an address, host name or file")));
    }
    let found: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| err(format!("cannot resolve {host:?}: {e}")))?
        .collect();
    if found.is_empty() {
        return Err(err(format!("{host:?} has no address")));
    }
    Ok(found.into_iter().map(|a| (a, kind.clone())).collect())
}

/// `IP%NAME[:PORT]` or `[IPv6%NAME]:PORT` → (`IP[:PORT]`, NAME), as CoreDNS splits them.
fn split_server_name(s: &str) -> (String, Option<String>) {
    let Some(i) = s.rfind('%') else {
        return (s.to_string(), None);
    };
    let mut host = s[..i].to_string();
    if host.starts_with('[') {
        host.push(']');
    }
    let mut name = &s[i + 1..];
    if let Some(c) = name.rfind(':') {
        host.push_str(&name[c..]);
        name = &name[..c];
    }
    (host, Some(name.trim_end_matches(']').to_string()))
}

/// The name a `tls://` upstream's certificate is verified against: its own `%NAME`, else
/// `tls_servername`, else its IP (as Go's TLS client does); both set is an error, as in CoreDNS.
fn tls_name(
    t: &Token,
    addr: SocketAddr,
    own: Option<String>,
    global: Option<&String>,
) -> Result<ServerName<'static>, ConfigError> {
    if let (Some(own), Some(g)) = (&own, global) {
        return Err(ConfigError::at(
            t,
            Some(D),
            format!("both forward ('{g}') and proxy level ('{own}') TLS servernames are set for upstream proxy 'tls://{addr}'"),
        ));
    }
    let name = own
        .or_else(|| global.cloned())
        .unwrap_or_else(|| addr.ip().to_string());
    tls::server_name(t, &name)
}

fn rcodes(o: &Line, no_noerror: bool) -> Result<Vec<ResponseCode>, ConfigError> {
    if o.args().is_empty() {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            format!("{} expects at least one RCODE", o.name().text),
        ));
    }
    o.args()
        .iter()
        .map(|a| {
            let rc = parse_rcode(&a.text).ok_or_else(|| {
                ConfigError::at(a, Some(D), format!("{:?} is not a valid rcode", a.text))
            })?;
            if no_noerror && rc == ResponseCode::NoError {
                return Err(ConfigError::at(
                    a,
                    Some(D),
                    "NOERROR cannot be used in failover",
                ));
            }
            Ok(rc)
        })
        .collect()
}

/// Parses one `forward` line and its block.
pub(crate) fn parse(line: &Line) -> Result<ForwardConfig, ConfigError> {
    let name = line.name();
    let (from, to) = from_and_to(line)?;
    let zone = normalize_zone(&from.text).map_err(|m| ConfigError::at(from, Some(D), m))?;
    let mut f = ForwardConfig::new(zone, name.at());
    let base = name
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut tls = tls::Settings::default();
    for o in args::block(line) {
        if !tls.option(o, &base)? {
            option(&mut f, o)?;
        }
    }
    for t in to {
        for (addr, kind) in upstreams_of(t, &base)? {
            if f.to.iter().any(|u| u.addr == addr) {
                continue;
            }
            let tls = match kind {
                Kind::Dns => None,
                Kind::Tls(own) => Some(tls_name(t, addr, own, tls.server_name.as_ref())?),
            };
            f.to.push(Target { addr, tls });
        }
    }
    if f.to.iter().any(|u| u.tls.is_some()) {
        f.tls = Some(tls.client());
    }
    if f.to.len() > MAX_UPSTREAMS {
        return Err(ConfigError::at(
            name,
            Some(D),
            format!("more than {MAX_UPSTREAMS} TOs configured: {}", f.to.len()),
        ));
    }
    Ok(f)
}

/// FROM and the TOs (at least one).
fn from_and_to(line: &Line) -> Result<(&Token, &[Token]), ConfigError> {
    let [from, to @ ..] = line.args() else {
        return Err(ConfigError::at(
            line.name(),
            Some(D),
            "expects FROM TO... (e.g. forward . /etc/resolv.conf)",
        ));
    };
    if to.is_empty() {
        return Err(ConfigError::at(
            from,
            Some(D),
            "expects at least one upstream after FROM",
        ));
    }
    Ok((from, to))
}

/// Applies one line of the block to `f`.
fn option(f: &mut ForwardConfig, o: &Line) -> Result<(), ConfigError> {
    args::no_block(o, D)?;
    match o.name().text.as_str() {
        "except" => except(f, o)?,
        "force_tcp" => f.force_tcp = flag(o)?,
        "prefer_udp" => f.prefer_udp = flag(o)?,
        "expire" => f.expire = args::duration(args::one(o, D, "a duration")?, D)?,
        "max_idle_conns" => f.max_idle_conns = count(o, 0..=1_000_000)?,
        "read_timeout" => f.read_timeout = read_timeout(o)?,
        "max_fails" => f.max_fails = count(o, 0..=u32::MAX)?,
        "max_connect_attempts" => f.max_connect_attempts = Some(count(o, 0..=u32::MAX)?),
        "policy" => f.policy = policy(o)?,
        "health_check" => health_check(f, o)?,
        "max_concurrent" => f.max_concurrent = count(o, 0..=i32::MAX as u32)?,
        "next" => f.next = rcodes(o, false)?,
        "next_on_nodata" => f.next_on_nodata = flag(o)?,
        "failfast_all_unhealthy_upstreams" => f.failfast_all_unhealthy_upstreams = flag(o)?,
        "failover" => f.failover = rcodes(o, true)?,
        "source_address" => f.source_address = Some(source_address(o)?),
        "doh_method" | "resolver" | "max_age" => {
            return Err(ConfigError::at(
                o.name(),
                Some(D),
                format!(
                    "{} is not supported by kdns (dns:// and tls:// upstreams only)",
                    o.name().text
                ),
            ))
        }
        _ => return Err(args::unknown(o, D)),
    }
    Ok(())
}

/// An option without arguments: `true` when it has none.
fn flag(o: &Line) -> Result<bool, ConfigError> {
    args::no_args(o, D)?;
    Ok(true)
}

/// The one whole-number argument of option `o`, in `range`.
fn count<T>(o: &Line, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    args::number(args::one(o, D, "a number")?, D, &o.name().text, range)
}

/// `except DOMAIN…`, added to the names already excepted.
fn except(f: &mut ForwardConfig, o: &Line) -> Result<(), ConfigError> {
    let a = o.args();
    if a.is_empty() {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "except expects at least one domain",
        ));
    }
    for d in a {
        f.except
            .push(normalize_zone(&d.text).map_err(|m| ConfigError::at(d, Some(D), m))?);
    }
    Ok(())
}

/// `read_timeout DURATION`, not 0.
fn read_timeout(o: &Line) -> Result<Duration, ConfigError> {
    let t = args::one(o, D, "a duration")?;
    let d = args::duration(t, D)?;
    if d.is_zero() {
        return Err(ConfigError::at(t, Some(D), "read_timeout must be positive"));
    }
    Ok(d)
}

/// `policy random|round_robin|sequential`.
fn policy(o: &Line) -> Result<Policy, ConfigError> {
    let p = args::one(o, D, "random, round_robin or sequential")?;
    match p.text.as_str() {
        "random" => Ok(Policy::Random),
        "round_robin" => Ok(Policy::RoundRobin),
        "sequential" => Ok(Policy::Sequential),
        other => Err(ConfigError::at(
            p,
            Some(D),
            format!("unknown policy {other:?} (random, round_robin or sequential)"),
        )),
    }
}

/// `health_check DURATION [no_rec] [domain FQDN]`: the domain goes back to the root unless
/// given; `no_rec` clears RD (and stays cleared).
fn health_check(f: &mut ForwardConfig, o: &Line) -> Result<(), ConfigError> {
    let [d, rest @ ..] = o.args() else {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "health_check expects DURATION [no_rec] [domain FQDN]",
        ));
    };
    f.health_check = args::duration(d, D)?;
    f.hc_domain = ".".into();
    let mut i = 0;
    while i < rest.len() {
        match rest[i].text.as_str() {
            "no_rec" => f.hc_recursion_desired = false,
            "domain" => {
                f.hc_domain = hc_domain(&rest[i], rest.get(i + 1))?;
                i += 1;
            }
            other => {
                return Err(ConfigError::at(
                    &rest[i],
                    Some(D),
                    format!("health_check: unknown option {other:?}"),
                ))
            }
        }
        i += 1;
    }
    Ok(())
}

/// The FQDN after `health_check … domain`.
fn hc_domain(keyword: &Token, dom: Option<&Token>) -> Result<String, ConfigError> {
    let dom = dom
        .ok_or_else(|| ConfigError::at(keyword, Some(D), "health_check: domain expects a name"))?;
    normalize_zone(&dom.text).map_err(|m| {
        ConfigError::at(
            dom,
            Some(D),
            format!("health_check: invalid domain name: {m}"),
        )
    })
}

/// `source_address IP`.
fn source_address(o: &Line) -> Result<IpAddr, ConfigError> {
    let t = args::one(o, D, "an IP address")?;
    t.text
        .parse()
        .map_err(|_| ConfigError::at(t, Some(D), format!("invalid IP address {:?}", t.text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};

    fn fwd(text: &str) -> Result<Vec<ForwardConfig>, ConfigError> {
        let c = load_str(text, Path::new("/etc/kdns/Corefile"), 53)?;
        Ok(c.blocks[0]
            .plugins
            .iter()
            .filter_map(|p| match p {
                Plugin::Forward(f) => Some((**f).clone()),
                _ => None,
            })
            .collect())
    }

    #[test]
    fn upstream_forms_and_defaults() {
        let f = &fwd(".:53 {\n forward . 10.0.0.1 10.0.0.2:5353 [2001:db8::1]:53 dns://10.0.0.3 10.0.0.1:53\n}\n").unwrap()[0];
        assert_eq!(f.from, ".");
        let want: Vec<SocketAddr> = [
            "10.0.0.1:53",
            "10.0.0.2:5353",
            "[2001:db8::1]:53",
            "10.0.0.3:53",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got: Vec<SocketAddr> = f.to.iter().map(|t| t.addr).collect();
        assert_eq!(got, want, "deduplicated, in order");
        assert_eq!(f.max_fails, 2);
        assert_eq!(f.expire, Duration::from_secs(10));
        assert_eq!(f.health_check, Duration::from_millis(500));
        assert_eq!(f.read_timeout, Duration::from_secs(2));
        assert_eq!(f.policy, Policy::Random);
        assert_eq!(f.max_concurrent, 0);
    }

    #[test]
    fn resolv_conf_file() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("resolv.conf");
        std::fs::write(&rc, "# comment\nsearch x.local\nnameserver 127.0.0.53\nnameserver ::1\nnameserver fe80::1%eth0\noptions ndots:5\n").unwrap();
        let f = &fwd(&format!(
            ".:53 {{\n forward . {} {{\n  max_concurrent 1000\n }}\n}}\n",
            rc.display()
        ))
        .unwrap()[0];
        let want: Vec<SocketAddr> = ["127.0.0.53:53", "[::1]:53", "[fe80::1]:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<SocketAddr> = f.to.iter().map(|t| t.addr).collect();
        assert_eq!(got, want);
        assert_eq!(f.max_concurrent, 1000);
        let e = fwd(".:53 {\n forward . /nonexistent/resolv.conf\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/kdns/Corefile:2: forward: /nonexistent/resolv.conf:"),
            "{e}"
        );
    }

    #[test]
    fn options() {
        let f = &fwd(".:53 {\n forward example.org 10.0.0.1 {\n  except a.example.org B.example.org\n  force_tcp\n  prefer_udp\n  expire 20s\n  max_fails 3\n  policy sequential\n  health_check 1s no_rec domain example.org\n  max_concurrent 10\n  next NXDOMAIN servfail\n  failover REFUSED\n  read_timeout 500ms\n  max_connect_attempts 3\n  failfast_all_unhealthy_upstreams\n  source_address 127.0.0.1\n }\n}\n").unwrap()[0];
        assert_eq!(f.from, "example.org.");
        assert_eq!(f.except, vec!["a.example.org.", "b.example.org."]);
        assert!(f.force_tcp && f.prefer_udp && f.failfast_all_unhealthy_upstreams);
        assert_eq!(
            (f.expire, f.max_fails, f.policy),
            (Duration::from_secs(20), 3, Policy::Sequential)
        );
        assert_eq!(
            (f.health_check, f.hc_recursion_desired, f.hc_domain.as_str()),
            (Duration::from_secs(1), false, "example.org.")
        );
        assert_eq!(f.next, vec![ResponseCode::NXDomain, ResponseCode::ServFail]);
        assert_eq!(f.failover, vec![ResponseCode::Refused]);
        assert_eq!(
            (f.read_timeout, f.max_connect_attempts),
            (Duration::from_millis(500), Some(3))
        );
        assert_eq!(f.source_address, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            fwd(".:53 {\n forward a. 10.0.0.1\n forward . 10.0.0.2\n}\n")
                .unwrap()
                .len(),
            2,
            "several forwards per block"
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            (".:53 {\n forward .\n}\n", "Corefile:2: forward: expects at least one upstream"),
            (".:53 {\n forward\n}\n", "Corefile:2: forward: expects FROM TO"),
            (".:53 {\n forward . https://9.9.9.9\n}\n", "Corefile:2: forward: \"https://9.9.9.9\": https:// upstreams are not supported by kdns (dns:// and tls:// only)"),
            (".:53 {\n forward . 10.0.0.1:99999\n}\n", "Corefile:2: forward: \"10.0.0.1:99999\": invalid port"),
            (".:53 {\n forward . 10.0.0.1 {\n  policy fastest\n }\n}\n", "Corefile:3: forward: unknown policy \"fastest\""),
            (".:53 {\n forward . 10.0.0.1 {\n  max_fails -1\n }\n}\n", "Corefile:3: forward: max_fails must be a whole number"),
            (".:53 {\n forward . 10.0.0.1 {\n  max_concurrent lots\n }\n}\n", "Corefile:3: forward: max_concurrent must be"),
            (".:53 {\n forward . 10.0.0.1 {\n  health_check 1s maybe\n }\n}\n", "Corefile:3: forward: health_check: unknown option \"maybe\""),
            (".:53 {\n forward . 10.0.0.1 {\n  expire soon\n }\n}\n", "Corefile:3: forward: invalid duration \"soon\""),
            (".:53 {\n forward . 10.0.0.1 {\n  failover NOERROR\n }\n}\n", "Corefile:3: forward: NOERROR cannot be used in failover"),
            (".:53 {\n forward . 10.0.0.1 {\n  next BOGUS\n }\n}\n", "Corefile:3: forward: \"BOGUS\" is not a valid rcode"),
            (".:53 {\n forward . 10.0.0.1 {\n  force_tcp yes\n }\n}\n", "Corefile:3: forward: force_tcp takes no arguments"),
            (".:53 {\n forward . 10.0.0.1 {\n  resolver 10.0.0.2\n }\n}\n", "Corefile:3: forward: resolver is not supported"),
            (".:53 {\n forward . 10.0.0.1 {\n  upstream\n }\n}\n", "Corefile:3: forward: unknown property \"upstream\""),
            (".:53 {\n forward . 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9 10.0.0.10 10.0.0.11 10.0.0.12 10.0.0.13 10.0.0.14 10.0.0.15 10.0.0.16\n}\n", "Corefile:2: forward: more than 15 TOs configured: 16"),
        ] {
            let e = fwd(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("/etc/kdns/{want}")), "{e}\n  does not start with /etc/kdns/{want}");
        }
    }

    #[test]
    fn every_option_error_keeps_its_wording() {
        for (opt, want) in [
            ("except", "except expects at least one domain"),
            ("except a..b", "\"a..b\" is not a valid domain name"),
            ("prefer_udp 1", "prefer_udp takes no arguments"),
            ("next_on_nodata 1", "next_on_nodata takes no arguments"),
            (
                "failfast_all_unhealthy_upstreams 1",
                "failfast_all_unhealthy_upstreams takes no arguments",
            ),
            ("expire", "expire expects a duration"),
            ("read_timeout 0s", "read_timeout must be positive"),
            ("read_timeout", "read_timeout expects a duration"),
            (
                "max_idle_conns 1000001",
                "max_idle_conns must be a whole number from 0 to 1000000, got \"1000001\"",
            ),
            (
                "max_connect_attempts",
                "max_connect_attempts expects a number",
            ),
            (
                "max_connect_attempts x",
                "max_connect_attempts must be a whole number from 0 to 4294967295",
            ),
            (
                "max_concurrent 2147483648",
                "max_concurrent must be a whole number from 0 to 2147483647",
            ),
            ("policy", "policy expects random, round_robin or sequential"),
            (
                "health_check",
                "health_check expects DURATION [no_rec] [domain FQDN]",
            ),
            ("health_check soon", "invalid duration \"soon\""),
            (
                "health_check 1s domain",
                "health_check: domain expects a name",
            ),
            (
                "health_check 1s domain a..b",
                "health_check: invalid domain name: \"a..b\"",
            ),
            ("next", "next expects at least one RCODE"),
            ("failover", "failover expects at least one RCODE"),
            ("failover x", "\"x\" is not a valid rcode"),
            ("source_address", "source_address expects an IP address"),
            ("source_address x", "invalid IP address \"x\""),
            (
                "doh_method GET",
                "doh_method is not supported by kdns (dns:// and tls:// upstreams only)",
            ),
            ("expire 1s {\n  }", "expire takes no block"),
        ] {
            let text = format!(".:53 {{\n forward . 10.0.0.1 {{\n  {opt}\n }}\n}}\n");
            let e = fwd(&text).unwrap_err().to_string();
            let want = format!("/etc/kdns/Corefile:3: forward: {want}");
            assert!(
                e.starts_with(&want),
                "{opt}: {e}\n  does not start with {want}"
            );
        }
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let f = &fwd(".:53 {\n forward . 10.0.0.1 {\n  health_check 1s no_rec domain a.org\n  health_check 2s\n  except a.org\n  except b.org\n  policy round_robin\n  max_connect_attempts 0\n  max_idle_conns 7\n  source_address ::1\n }\n}\n").unwrap()[0];
        assert_eq!(f.health_check, Duration::from_secs(2));
        assert_eq!(f.hc_domain, ".", "the domain goes back to the root");
        assert!(!f.hc_recursion_desired, "no_rec stays");
        assert_eq!(f.except, vec!["a.org.", "b.org."], "except lines add up");
        assert_eq!(f.policy, Policy::RoundRobin);
        assert_eq!(f.max_connect_attempts, Some(0));
        assert_eq!(f.max_idle_conns, 7);
        assert_eq!(f.source_address, Some("::1".parse().unwrap()));
    }
}
