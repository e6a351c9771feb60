//! NodeLocal DNSCache's Corefile placeholders: `__PILLAR__CLUSTER__DNS__` (the cluster DNS
//! Service's IP, from the environment the kubelet gives the pod) and
//! `__PILLAR__UPSTREAM__SERVERS__` (the node's resolv.conf), filled in when node-cache
//! would; the ones its manifest fills in at install time are reported with their line.
use std::fmt;

/// The cluster DNS: where the cluster and reverse zones are forwarded.
pub(crate) const CLUSTER_DNS: &str = "__PILLAR__CLUSTER__DNS__";
/// The node's upstream servers: everything else.
pub(crate) const UPSTREAM_SERVERS: &str = "__PILLAR__UPSTREAM__SERVERS__";
/// What `__PILLAR__UPSTREAM__SERVERS__` becomes (as node-cache has it).
pub(crate) const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A placeholder that cannot be filled in, with its line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PillarError {
    pub(crate) line: usize,
    pub(crate) pillar: String,
    pub(crate) why: String,
}

impl fmt::Display for PillarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pillar, self.why)
    }
}

/// The environment variable the kubelet sets to the IP of Service `svc` in the pod's
/// namespace (`kube-dns-upstream` → `KUBE_DNS_UPSTREAM_SERVICE_HOST`).
pub(crate) fn service_host_var(svc: &str) -> String {
    format!("{}_SERVICE_HOST", svc.to_uppercase().replace('-', "_"))
}

/// `base` with the runtime placeholders filled in: `cluster_dns` (`None`: not known, an error
/// only where the text needs it; `var` names where it was looked for).
pub(crate) fn fill(
    base: &str,
    cluster_dns: Option<&str>,
    var: &str,
) -> Result<String, PillarError> {
    let mut out = String::with_capacity(base.len());
    for (i, line) in base.split_inclusive('\n').enumerate() {
        let at = |pillar: &str, why: String| PillarError {
            line: i + 1,
            pillar: pillar.into(),
            why,
        };
        let mut l = line.to_string();
        if l.contains(CLUSTER_DNS) {
            let ip = cluster_dns.ok_or_else(|| {
                at(
                    CLUSTER_DNS,
                    format!("{var} is not set (the kubelet sets it for the Service that --upstreamsvc names, in kdns's namespace)"),
                )
            })?;
            l = l.replace(CLUSTER_DNS, ip);
        }
        l = l.replace(UPSTREAM_SERVERS, RESOLV_CONF);
        if let Some(p) = leftover(&l) {
            return Err(at(
                &p,
                "is filled in when the manifest is installed (NodeLocal DNSCache's manifest: sed), not by kdns".into(),
            ));
        }
        out.push_str(&l);
    }
    Ok(out)
}

/// The first `__PILLAR__…__` left in `line` (outside a comment).
fn leftover(line: &str) -> Option<String> {
    let code = line.split('#').next().unwrap_or("");
    let start = code.find("__PILLAR__")?;
    let rest = &code[start + "__PILLAR__".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .unwrap_or(rest.len());
    Some(format!("__PILLAR__{}", &rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_host_vars() {
        for (svc, var) in [
            ("kube-dns", "KUBE_DNS_SERVICE_HOST"),
            ("kube-dns-upstream", "KUBE_DNS_UPSTREAM_SERVICE_HOST"),
            ("kdns-upstream", "KDNS_UPSTREAM_SERVICE_HOST"),
        ] {
            assert_eq!(service_host_var(svc), var);
        }
    }

    #[test]
    fn fills_what_node_cache_fills() {
        let base = "cluster.local:53 {\n    forward . __PILLAR__CLUSTER__DNS__ {\n        force_tcp\n    }\n}\n.:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n";
        let out = fill(base, Some("10.96.0.20"), "X").unwrap();
        assert!(out.contains("forward . 10.96.0.20 {"), "{out}");
        assert!(out.contains("forward . /etc/resolv.conf\n"), "{out}");
        assert!(!out.contains("__PILLAR__"));
        // Untouched otherwise, line for line.
        assert_eq!(out.lines().count(), base.lines().count());
    }

    #[test]
    fn errors_name_the_line_and_the_pillar() {
        let base = "a {\n  bind 169.254.20.10\n  forward . __PILLAR__CLUSTER__DNS__\n}\n";
        let e = fill(base, None, "KUBE_DNS_UPSTREAM_SERVICE_HOST").unwrap_err();
        assert_eq!((e.line, e.pillar.as_str()), (3, CLUSTER_DNS));
        assert!(e.why.contains("KUBE_DNS_UPSTREAM_SERVICE_HOST"), "{e}");
        let base = "a {\n\n  bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__\n}\n";
        let e = fill(base, Some("10.0.0.1"), "X").unwrap_err();
        assert_eq!((e.line, e.pillar.as_str()), (3, "__PILLAR__LOCAL__DNS__"));
        assert!(e.why.contains("installed"), "{e}");
        // A comment may name one.
        let base = "# __PILLAR__DNS__DOMAIN__ is sed'ed\na {\n}\n";
        assert_eq!(fill(base, None, "X").unwrap(), base);
        // No cluster DNS needed where none is named.
        assert!(fill(".:53 {\n}\n", None, "X").is_ok());
    }
}
