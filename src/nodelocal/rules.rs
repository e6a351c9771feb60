//! The node's netfilter rules for the node-local addresses: node-cache's (queries and answers
//! untracked, accepted), with one change so that a dead kdns does not take the node's DNS
//! with it: a query is left untracked only while a socket is bound to its address
//! (`-m socket`). With nothing listening it is tracked like any packet, so kube-proxy's
//! Service rules (for the kube-dns ClusterIP) or the fallback DNAT below (for the link-local
//! address) carry it to the cluster DNS until kdns is back.
use std::net::IpAddr;

use super::backend::Backend;
use super::command::{failed, run, ToolError};

/// Every rule kdns adds carries this comment (`iptables-save | grep`).
pub(crate) const COMMENT: &str = "kdns node-local";

/// One rule: where it goes and its match and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) v6: bool,
    pub(crate) table: &'static str,
    pub(crate) chain: &'static str,
    pub(crate) spec: Vec<String>,
}

impl Rule {
    fn args<'a>(&'a self, op: &'a str) -> Vec<&'a str> {
        let mut a = vec!["-w", "5", "-t", self.table, op, self.chain];
        if op == "-I" {
            a.push("1");
        }
        a.extend(self.spec.iter().map(String::as_str));
        a
    }

    /// As `iptables-save` would list it (for logs and tests).
    pub(crate) fn line(&self) -> String {
        format!(
            "-t {} -A {} {}",
            self.table,
            self.chain,
            self.spec.join(" ")
        )
    }
}

/// What the rules are for.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    /// The node-local addresses (`--localip`).
    pub(crate) local: &'a [IpAddr],
    /// The DNS port.
    pub(crate) port: u16,
    /// The `health` port on those addresses (node-cache's `-health-port`).
    pub(crate) health: Option<u16>,
    /// Where queries to a link-local address go while nothing listens there (the cluster DNS
    /// Service's IP). Any other address is taken to be a Service IP (the kube-dns ClusterIP),
    /// which kube-proxy's own rules carry to the cluster DNS once the query is tracked.
    pub(crate) fallback: Option<IpAddr>,
}

/// The rules for `p`, in the order they are checked (each is inserted first in its chain).
pub(crate) fn rules(p: &Plan<'_>) -> Vec<Rule> {
    let mut out = Vec::new();
    for &addr in p.local {
        let v6 = addr.is_ipv6();
        let rule = |table, chain, spec: &[&str]| Rule {
            v6,
            table,
            chain,
            spec: spec
                .iter()
                .map(|s| s.to_string())
                .chain(["-m", "comment", "--comment", COMMENT].map(String::from))
                .collect(),
        };
        let (ip, port) = (addr.to_string(), p.port.to_string());
        for proto in ["udp", "tcp"] {
            let to = ["-d", &ip, "-p", proto, "--dport", &port];
            let from = ["-s", &ip, "-p", proto, "--sport", &port];
            out.push(rule(
                "raw",
                "PREROUTING",
                &with(&to, &["-m", "socket", "-j", "NOTRACK"]),
            ));
            out.push(rule("filter", "INPUT", &with(&to, &["-j", "ACCEPT"])));
            out.push(rule("raw", "OUTPUT", &with(&from, &["-j", "NOTRACK"])));
            out.push(rule("filter", "OUTPUT", &with(&from, &["-j", "ACCEPT"])));
            // Queries from the node itself: netfilter has no socket match on OUTPUT, so
            // these stay untracked as node-cache has them.
            out.push(rule("raw", "OUTPUT", &with(&to, &["-j", "NOTRACK"])));
            if let Some(f) = p
                .fallback
                .filter(|f| link_local(&addr) && f.is_ipv6() == v6)
            {
                let dest = match f {
                    IpAddr::V4(_) => format!("{f}:{port}"),
                    IpAddr::V6(_) => format!("[{f}]:{port}"),
                };
                out.push(rule(
                    "nat",
                    "PREROUTING",
                    &with(&to, &["-j", "DNAT", "--to-destination", &dest]),
                ));
            }
        }
        if let Some(h) = p.health {
            let h = h.to_string();
            let to = ["-d", &ip, "-p", "tcp", "--dport", &h, "-j", "ACCEPT"];
            let from = ["-s", &ip, "-p", "tcp", "--sport", &h, "-j", "ACCEPT"];
            out.push(rule("filter", "INPUT", &to));
            out.push(rule("filter", "OUTPUT", &from));
        }
    }
    out
}

/// 169.254.0.0/16 or fe80::/10: an address only this node answers.
fn link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn with<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    [a, b].concat()
}

/// Inserts `r` unless it is there; says whether it had to.
pub(crate) fn ensure(r: &Rule, b: Backend) -> Result<bool, ToolError> {
    let program = b.program(r.v6);
    let check = r.args("-C");
    let ran = run(program, &check)?;
    match ran.status {
        0 => Ok(false),
        // iptables: "Bad rule (does a matching rule exist in that chain?)".
        1 => {
            let insert = r.args("-I");
            let ran = run(program, &insert)?;
            if ran.status == 0 {
                Ok(true)
            } else {
                Err(failed(program, &insert, ran))
            }
        }
        _ => Err(failed(program, &check, ran)),
    }
}

/// Deletes every copy of `r`; says how many there were.
pub(crate) fn remove(r: &Rule, b: Backend) -> Result<usize, ToolError> {
    let program = b.program(r.v6);
    let delete = r.args("-D");
    let mut n = 0;
    loop {
        let ran = run(program, &delete)?;
        match ran.status {
            0 => n += 1,
            1 => return Ok(n),
            _ => return Err(failed(program, &delete, ran)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Plan<'_>) -> Vec<String> {
        rules(p).iter().map(Rule::line).collect()
    }

    #[test]
    fn link_local_and_cluster_ip() {
        let local: Vec<IpAddr> = vec![
            "169.254.20.10".parse().unwrap(),
            "10.96.0.10".parse().unwrap(),
        ];
        let p = Plan {
            local: &local,
            port: 53,
            health: Some(8080),
            fallback: Some("10.96.0.20".parse().unwrap()),
        };
        let all = lines(&p);
        let c = " -m comment --comment kdns node-local";
        for want in [
            format!("-t raw -A PREROUTING -d 169.254.20.10 -p udp --dport 53 -m socket -j NOTRACK{c}"),
            format!("-t filter -A INPUT -d 169.254.20.10 -p tcp --dport 53 -j ACCEPT{c}"),
            format!("-t raw -A OUTPUT -s 10.96.0.10 -p udp --sport 53 -j NOTRACK{c}"),
            format!("-t filter -A OUTPUT -s 10.96.0.10 -p tcp --sport 53 -j ACCEPT{c}"),
            format!("-t raw -A OUTPUT -d 10.96.0.10 -p udp --dport 53 -j NOTRACK{c}"),
            format!("-t nat -A PREROUTING -d 169.254.20.10 -p udp --dport 53 -j DNAT --to-destination 10.96.0.20:53{c}"),
            format!("-t filter -A INPUT -d 10.96.0.10 -p tcp --dport 8080 -j ACCEPT{c}"),
        ] {
            assert!(all.contains(&want), "{want} not in {all:#?}");
        }
        // Per address: 5 rules per protocol (and the fallback for the link-local one), 2 for
        // health.
        assert_eq!(all.len(), (2 * 6 + 2) + (2 * 5 + 2), "{all:#?}");
        // The ClusterIP is left to kube-proxy: a DNAT here would come before its rules.
        assert!(!all
            .iter()
            .any(|l| l.contains("-d 10.96.0.10 ") && l.contains("DNAT")));
        assert!(rules(&p).iter().all(|r| !r.v6));
        // Only link-local addresses get the fallback.
        let local: Vec<IpAddr> = vec!["10.96.0.20".parse().unwrap()];
        let p = Plan {
            local: &local,
            port: 53,
            health: None,
            fallback: Some("10.96.0.20".parse().unwrap()),
        };
        assert!(lines(&p).iter().all(|l| !l.contains("DNAT")));
        assert_eq!(lines(&p).len(), 10);
    }

    #[test]
    fn ipv6_goes_to_ip6tables_with_a_bracketed_fallback() {
        let local: Vec<IpAddr> = vec!["fe80::10".parse().unwrap()];
        let p = Plan {
            local: &local,
            port: 5353,
            health: None,
            fallback: Some("fd00::53".parse().unwrap()),
        };
        let r = rules(&p);
        assert!(r.iter().all(|r| r.v6));
        assert!(r
            .iter()
            .any(|r| r.line().contains("--to-destination [fd00::53]:5353")));
        // A fallback of the other family is none.
        let p = Plan {
            fallback: Some("10.0.0.1".parse().unwrap()),
            ..p
        };
        assert!(rules(&p).iter().all(|r| !r.line().contains("DNAT")));
    }

    #[test]
    fn commands() {
        let r = Rule {
            v6: false,
            table: "raw",
            chain: "OUTPUT",
            spec: vec!["-j".into(), "NOTRACK".into()],
        };
        assert_eq!(
            r.args("-I"),
            ["-w", "5", "-t", "raw", "-I", "OUTPUT", "1", "-j", "NOTRACK"]
        );
        assert_eq!(
            r.args("-C"),
            ["-w", "5", "-t", "raw", "-C", "OUTPUT", "-j", "NOTRACK"]
        );
    }
}
