//! The node-local role (`kdns node-local`): what NodeLocal DNSCache's node-cache sets up on
//! the node besides its DNS server — the dummy interface with the node-local addresses and
//! the netfilter rules for them — kept in place by a periodic check and removed on exit.
//! The DNS server itself is the ordinary one, serving node-cache's Corefile.
//!
//! Nothing here knows DNS, Kubernetes or the zone: it runs `ip` and `iptables`.
mod backend;
mod command;
mod link;
mod pillars;
mod rules;

use std::net::IpAddr;

pub(crate) use backend::{detect as detect_backend, Backend};
pub(crate) use command::ToolError;
pub(crate) use pillars::{fill, service_host_var};
pub(crate) use rules::{rules, Plan, Rule};

/// What the node needs for kdns to serve the node-local addresses.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    /// The dummy interface (`--interfacename`).
    pub(crate) interface: String,
    /// The node-local addresses (`--localip`).
    pub(crate) local: Vec<IpAddr>,
    /// The DNS port.
    pub(crate) port: u16,
    /// The `health` port on the node-local addresses.
    pub(crate) health: Option<u16>,
    /// The cluster DNS Service's IP: where queries go while kdns is not listening.
    pub(crate) fallback: Option<IpAddr>,
    /// Manage the interface (`--setupinterface`).
    pub(crate) interface_on: bool,
    /// Manage the rules (`--setupiptables`).
    pub(crate) rules_on: bool,
    /// The iptables the rules go to.
    pub(crate) backend: Backend,
}

impl Network {
    /// The rules this node gets.
    pub(crate) fn rules(&self) -> Vec<Rule> {
        if !self.rules_on {
            return Vec::new();
        }
        rules(&Plan {
            local: &self.local,
            port: self.port,
            health: self.health,
            fallback: self.fallback,
        })
    }

    /// Puts in place whatever is missing (at start, and at every check); says what it added.
    /// Idempotent: a restarted kdns adopts what its predecessor left.
    pub(crate) fn ensure(&self) -> Result<Vec<String>, ToolError> {
        let mut added = Vec::new();
        if self.interface_on {
            added.extend(link::ensure(&self.interface, &self.local)?);
        }
        for r in self.rules() {
            if rules::ensure(&r, self.backend)? {
                added.push(format!("rule {}", r.line()));
            }
        }
        Ok(added)
    }

    /// Removes the rules, then the interface (each step tried; the first error returned).
    pub(crate) fn teardown(&self) -> Result<(), ToolError> {
        let mut first = None;
        for r in self.rules() {
            if let Err(e) = rules::remove(&r, self.backend) {
                first.get_or_insert(e);
            }
        }
        if self.interface_on {
            if let Err(e) = link::remove(&self.interface) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
