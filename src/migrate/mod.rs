//! kube-dns → Corefile: the `kube-system/kube-dns` ConfigMap (`stubDomains`,
//! `upstreamNameservers`) and kube-dns's `--domain`, as the Corefile kubeadm wrote when it moved
//! a cluster from kube-dns to CoreDNS. Pure text in, text out: reading the ConfigMap is
//! `crate::source::kube_dns`'s part.
//!
//! The shape is kubeadm's: its default Corefile for the domain, with `forward . <upstreamNameservers>`
//! in place of `/etc/resolv.conf`, and one server block per stub domain,
//! `acme.local:53 { errors; cache 30; loop; forward . 1.2.3.4 }`, in name order. As kubeadm did,
//! host names among the nameservers are left out (CoreDNS's `forward` takes addresses only), with
//! a warning; `federations` has no equivalent (CoreDNS removed its `federation` plugin in 1.7.0)
//! and is reported, not translated.
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The ConfigMap key of the stub domains: a JSON object, domain → list of nameservers.
pub const STUB_DOMAINS: &str = "stubDomains";
/// The ConfigMap key of the upstream nameservers: a JSON list.
pub const UPSTREAM_NAMESERVERS: &str = "upstreamNameservers";
/// The ConfigMap key of the (Kubernetes federation v1) federations: a JSON object.
pub const FEDERATIONS: &str = "federations";
/// kube-dns's default `--domain`.
pub const DEFAULT_DOMAIN: &str = "cluster.local";

/// Why a kube-dns configuration cannot be translated; every message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// A key's value is not the JSON kube-dns expects.
    #[error("{key}: invalid JSON ({expected}): {message}")]
    Json {
        /// The ConfigMap key.
        key: &'static str,
        /// What kube-dns expects there, with an example.
        expected: &'static str,
        /// serde_json's message.
        message: String,
    },
    /// A nameserver that is neither an address nor a host name.
    #[error("{at}: {value:?} is not an IP address (IP or IP:port)")]
    Address {
        /// `upstreamNameservers` or `stubDomains["acme.local"]`.
        at: String,
        /// The value as written.
        value: String,
    },
    /// A stub domain or the cluster domain that is not a domain name.
    #[error("{at}: {value:?} is not a domain name")]
    Domain {
        /// `stubDomains` or `--domain`.
        at: &'static str,
        /// The value as written.
        value: String,
    },
    /// Two stub domains that are the same name.
    #[error("stubDomains: {0:?} is given twice")]
    Duplicate(String),
}

/// A translated configuration: the Corefile and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The Corefile text.
    pub corefile: String,
    /// What was left out or assumed, one sentence each.
    pub warnings: Vec<String>,
}

/// Translates the ConfigMap's `data` for the cluster `domain` (as kube-dns's `--domain`, a
/// trailing dot allowed).
pub fn translate(
    data: &BTreeMap<String, String>,
    domain: &str,
) -> Result<Translation, MigrateError> {
    let mut warnings = Vec::new();
    let domain = domain_name(domain).ok_or_else(|| MigrateError::Domain {
        at: "--domain",
        value: domain.into(),
    })?;
    let upstream = match data.get(UPSTREAM_NAMESERVERS) {
        Some(text) => upstreams(text, &mut warnings)?,
        None => Vec::new(),
    };
    let stubs = match data.get(STUB_DOMAINS) {
        Some(text) => stub_domains(text, &mut warnings)?,
        None => BTreeMap::new(),
    };
    if let Some(text) = data.get(FEDERATIONS) {
        warnings.push(federations(text)?);
    }
    for key in data.keys() {
        if ![STUB_DOMAINS, UPSTREAM_NAMESERVERS, FEDERATIONS].contains(&key.as_str()) {
            warnings.push(format!("{key}: not a kube-dns option; ignored"));
        }
    }
    let forward_to = if upstream.is_empty() {
        "/etc/resolv.conf".to_string()
    } else {
        upstream.join(" ")
    };
    let mut corefile = main_block(&domain, &forward_to);
    for (zone, servers) in &stubs {
        corefile.push_str(&stub_block(zone, servers));
    }
    Ok(Translation { corefile, warnings })
}

/// kubeadm's default server block for `domain`, forwarding to `to`.
fn main_block(domain: &str, to: &str) -> String {
    format!(
        ".:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . {to} {{
       max_concurrent 1000
    }}
    cache 30 {{
       disable success {domain}
       disable denial {domain}
    }}
    loop
    reload
    loadbalance
}}
"
    )
}

/// kubeadm's server block for one stub domain.
fn stub_block(zone: &str, servers: &[String]) -> String {
    format!(
        "{zone}:53 {{\n    errors\n    cache 30\n    loop\n    forward . {}\n}}\n",
        servers.join(" ")
    )
}

fn json<T: serde::de::DeserializeOwned>(
    key: &'static str,
    expected: &'static str,
    text: &str,
) -> Result<T, MigrateError> {
    serde_json::from_str(text).map_err(|e| MigrateError::Json {
        key,
        expected,
        message: e.to_string(),
    })
}

fn upstreams(text: &str, warnings: &mut Vec<String>) -> Result<Vec<String>, MigrateError> {
    let list: Vec<String> = json(
        UPSTREAM_NAMESERVERS,
        r#"a list of IP addresses, e.g. ["8.8.8.8", "8.8.4.4"]"#,
        text,
    )?;
    if list.len() > 3 {
        warnings.push(format!(
            "{UPSTREAM_NAMESERVERS}: kube-dns takes at most 3 and rejects this ConfigMap; all {} are forwarded to",
            list.len()
        ));
    }
    let kept = addresses(UPSTREAM_NAMESERVERS, &list, warnings)?;
    if kept.is_empty() && !list.is_empty() {
        warnings.push(format!(
            "{UPSTREAM_NAMESERVERS}: no address left; forwarding to /etc/resolv.conf, as kube-dns does without the key"
        ));
    }
    Ok(kept)
}

fn stub_domains(
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<String>>, MigrateError> {
    let map: BTreeMap<String, Vec<String>> = json(
        STUB_DOMAINS,
        r#"an object of domain → list of IP addresses, e.g. {"acme.local": ["1.2.3.4"]}"#,
        text,
    )?;
    let mut out = BTreeMap::new();
    for (written, servers) in &map {
        let zone = domain_name(written).ok_or_else(|| MigrateError::Domain {
            at: STUB_DOMAINS,
            value: written.clone(),
        })?;
        let at = format!("{STUB_DOMAINS}[{written:?}]");
        let kept = addresses(&at, servers, warnings)?;
        if kept.is_empty() {
            warnings.push(format!(
                "{at}: no address left; the stub domain is left out (its names go to the upstream)"
            ));
            continue;
        }
        if out.insert(zone.clone(), kept).is_some() {
            return Err(MigrateError::Duplicate(zone));
        }
    }
    Ok(out)
}

fn federations(text: &str) -> Result<String, MigrateError> {
    let map: BTreeMap<String, String> = json(
        FEDERATIONS,
        r#"an object of federation → domain, e.g. {"foo": "foo.feddomain.com"}"#,
        text,
    )?;
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    Ok(format!(
        "{FEDERATIONS}: not translated ({}): CoreDNS removed its federation plugin in 1.7.0 and kdns has none",
        names.join(", ")
    ))
}

/// The nameservers of `at` that are addresses (`IP`, `IP:port`, `[IPv6]:port`), as written;
/// host names are left out with a warning, anything else is an error.
fn addresses(
    at: &str,
    values: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, MigrateError> {
    let mut kept = Vec::new();
    for v in values {
        let s = v.trim();
        let ok =
            s.parse::<IpAddr>().is_ok() || s.parse::<SocketAddr>().is_ok_and(|a| a.port() != 0);
        if ok {
            kept.push(s.to_string());
        } else if is_host_name(s) {
            warnings.push(format!(
                "{at}: host name {s:?} left out (CoreDNS's forward takes addresses only, as kubeadm's translation did)"
            ));
        } else {
            return Err(MigrateError::Address {
                at: at.into(),
                value: v.clone(),
            });
        }
    }
    Ok(kept)
}

/// `ns.example.com` or `ns.example.com:5353`: a domain name whose last label is not all digits
/// (so `1.2.3.400` is a bad address, not a name).
fn is_host_name(s: &str) -> bool {
    let (host, port_ok) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().is_ok_and(|p| p != 0)),
        None => (s, true),
    };
    port_ok
        && domain_name(host).is_some_and(|d| {
            d.rsplit('.')
                .next()
                .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// `name` lower-cased without its trailing dot, if it is a domain name (labels of 1–63
/// letters, digits, `-`, `_`; at most 253 characters).
fn domain_name(name: &str) -> Option<String> {
    let n = name.trim();
    let n = n.strip_suffix('.').unwrap_or(n).to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (!n.is_empty() && n.len() <= 253 && n.split('.').all(label_ok)).then_some(n)
}

#[cfg(test)]
mod tests;
