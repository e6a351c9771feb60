//! The dummy interface that holds the node-local addresses (`nodelocaldns`, as node-cache
//! names it): created when missing, each address added when missing, removed on teardown.
use std::net::IpAddr;

use super::command::{failed, must, run, ToolError};

/// Makes interface `name` exist, be up, and hold every address of `ips`; returns what it had
/// to add (empty when everything was in place).
pub(crate) fn ensure(name: &str, ips: &[IpAddr]) -> Result<Vec<String>, ToolError> {
    let mut added = Vec::new();
    if run("ip", &["link", "show", "dev", name])?.status != 0 {
        added.push(create(name)?);
    }
    let have = must("ip", &["-o", "addr", "show", "dev", name])?;
    for ip in ips {
        if holds(&have, ip) {
            continue;
        }
        let cidr = match ip {
            IpAddr::V4(_) => format!("{ip}/32"),
            IpAddr::V6(_) => format!("{ip}/128"),
        };
        let mut args = vec!["addr", "add", &cidr, "dev", name];
        if ip.is_ipv6() {
            // Usable at once: no duplicate address detection for an address only this node has.
            args.push("nodad");
        }
        must("ip", &args)?;
        added.push(format!("address {ip} on {name}"));
    }
    must("ip", &["link", "set", "dev", name, "up"])?;
    Ok(added)
}

/// Creates interface `name`: a dummy, as node-cache's; on a kernel built without dummy
/// interfaces (some microVM kernels) an empty bridge, which holds addresses alike.
fn create(name: &str) -> Result<String, ToolError> {
    let ran = run("ip", &["link", "add", name, "type", "dummy"])?;
    if ran.status == 0 {
        return Ok(format!("interface {name} (dummy)"));
    }
    if !ran.output.contains("Unknown device type") {
        return Err(failed("ip", &["link", "add", name, "type", "dummy"], ran));
    }
    tracing::warn!("node-local: this kernel has no dummy interfaces; {name} is an empty bridge");
    must("ip", &["link", "add", name, "type", "bridge"])?;
    Ok(format!(
        "interface {name} (bridge: no dummy in this kernel)"
    ))
}

/// Removes interface `name` (and its addresses); gone already is fine.
pub(crate) fn remove(name: &str) -> Result<bool, ToolError> {
    if run("ip", &["link", "show", "dev", name])?.status != 0 {
        return Ok(false);
    }
    must("ip", &["link", "del", "dev", name])?;
    Ok(true)
}

/// Does `ip -o addr show`'s output list `ip`?
fn holds(listing: &str, ip: &IpAddr) -> bool {
    listing.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.any(|w| w == "inet" || w == "inet6")
            && words
                .next()
                .and_then(|cidr| cidr.split('/').next())
                .and_then(|a| a.parse::<IpAddr>().ok())
                == Some(*ip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ip_addr_show() {
        let out = "7: nodelocaldns    inet 169.254.20.10/32 scope global nodelocaldns\\       valid_lft forever preferred_lft forever\n7: nodelocaldns    inet6 fd00::a/128 scope global nodad \\       valid_lft forever preferred_lft forever\n";
        let has = |s: &str| holds(out, &s.parse().unwrap());
        assert!(has("169.254.20.10"));
        assert!(has("fd00::a"));
        assert!(!has("169.254.20.1"));
        assert!(!has("10.96.0.10"));
        assert!(!holds("", &"169.254.20.10".parse().unwrap()));
    }
}
