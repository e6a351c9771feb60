//! `rewrite edns0`: the rules that change the OPT record of the query on its way (CoreDNS's
//! `edns0LocalRule`, `edns0VariableRule`, `edns0NsidRule`, `edns0SubnetRule`).
use std::net::{IpAddr, SocketAddr};

use crate::dns::query::EdnsOpt;

/// The NSID option code.
pub const NSID: u16 = 3;
/// The client subnet option code.
pub const SUBNET: u16 = 8;

/// What an `edns0` rule does with its option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace the option if present, else add it.
    Set,
    /// Replace the option only if present.
    Replace,
    /// Add the option (`local`, `nsid`: even when one is present).
    Append,
    /// Remove every option with the code.
    Unset,
}

/// A variable for a `local` option's data, filled per query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `{qname}`: the question name as it stands.
    QName,
    /// `{qtype}`: the QTYPE, 2 bytes.
    QType,
    /// `{client_ip}`: 4 or 16 bytes.
    ClientIp,
    /// `{client_port}`: 2 bytes.
    ClientPort,
    /// `{protocol}`: `udp` or `tcp`.
    Protocol,
    /// `{server_ip}`: 4 or 16 bytes (the client's family).
    ServerIp,
    /// `{server_port}`: 2 bytes.
    ServerPort,
    /// `{plugin/label}`: metadata, which kdns does not have: the rule never applies.
    Label,
}

/// The option an `edns0` rule handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `local CODE DATA`.
    Local(u16, Vec<u8>),
    /// `local CODE {VARIABLE}`.
    Variable(u16, Var),
    /// `nsid`.
    Nsid,
    /// `subnet V4BITS V6BITS`.
    Subnet(u8, u8),
}

/// One `edns0` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns0 {
    /// What it does.
    pub action: Action,
    /// Which option.
    pub kind: Kind,
    /// `revert`: accepted; kdns relays no upstream options to the client anyway.
    pub revert: bool,
}

/// The OPT record of the query as the rules leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opt {
    /// The query has an OPT record (a rule adds one: 4096 bytes, DO clear).
    pub present: bool,
    /// Its options, in order.
    pub options: Vec<EdnsOpt>,
    /// A rule touched the OPT record: the options go upstream.
    pub changed: bool,
}

/// What a variable is filled from.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The question name as the rules left it (with the final dot).
    pub qname: &'a str,
    /// The QTYPE.
    pub qtype: u16,
    /// The client's address.
    pub src: SocketAddr,
    /// The address the query came in on.
    pub local: SocketAddr,
    /// `udp` or `tcp`.
    pub proto: &'static str,
}

/// Option codes miekg/dns reads into their own types: a `local` rule never finds these in the
/// query (it adds another).
fn typed(code: u16) -> bool {
    matches!(code, 1..=12 | 15)
}

/// The address as `{client_ip}`/`{server_ip}` writes it: 4 bytes for an IPv4 client, else 16.
fn ip_wire(v4_client: bool, ip: IpAddr) -> Vec<u8> {
    match (v4_client, ip) {
        (true, IpAddr::V4(a)) => a.octets().to_vec(),
        (true, IpAddr::V6(a)) => a
            .to_ipv4_mapped()
            .map_or(Vec::new(), |a| a.octets().to_vec()),
        (false, IpAddr::V4(a)) => a.to_ipv6_mapped().octets().to_vec(),
        (false, IpAddr::V6(a)) => a.octets().to_vec(),
    }
}

impl Var {
    /// The data for this query (`None`: the rule does not apply).
    fn data(&self, cx: &Ctx<'_>) -> Option<Vec<u8>> {
        let v4 = cx.src.is_ipv4();
        let d = match self {
            Var::QName => cx.qname.as_bytes().to_vec(),
            Var::QType => cx.qtype.to_be_bytes().to_vec(),
            Var::ClientIp => ip_wire(v4, cx.src.ip()),
            Var::ServerIp => ip_wire(v4, cx.local.ip()),
            Var::ClientPort => cx.src.port().to_be_bytes().to_vec(),
            Var::ServerPort => cx.local.port().to_be_bytes().to_vec(),
            Var::Protocol => cx.proto.as_bytes().to_vec(),
            Var::Label => return None,
        };
        Some(d)
    }
}

/// The client subnet option data for the client's address (RFC 7871; miekg/dns's packing).
fn subnet_data(v4: u8, v6: u8, ip: IpAddr) -> Vec<u8> {
    let (family, bits, octets) = match ip {
        IpAddr::V4(a) => (1u16, v4, a.octets().to_vec()),
        IpAddr::V6(a) => (2u16, v6, a.octets().to_vec()),
    };
    let mut out = family.to_be_bytes().to_vec();
    out.extend([bits, 0]);
    let need = usize::from(bits).div_ceil(8);
    for (i, b) in octets.iter().take(need).enumerate() {
        let left = usize::from(bits).saturating_sub(i * 8).min(8);
        let mask = if left == 8 { 0xff } else { !(0xffu8 >> left) };
        out.push(b & mask);
    }
    out
}

impl Opt {
    /// CoreDNS's `setupEdns0Opt`: the OPT record, added if the query has none.
    fn setup(&mut self) {
        self.present = true;
        self.changed = true;
    }
}

impl Edns0 {
    /// Applies the rule to `opt`; `true` when it counts as done (CoreDNS's `RewriteDone`).
    pub fn apply(&self, opt: &mut Opt, cx: &Ctx<'_>) -> bool {
        let (code, data) = match &self.kind {
            Kind::Local(code, data) => (*code, data.clone()),
            Kind::Nsid => (NSID, Vec::new()),
            Kind::Subnet(v4, v6) => (SUBNET, subnet_data(*v4, *v6, cx.src.ip())),
            Kind::Variable(code, var) => match var.data(cx) {
                Some(d) => (*code, d),
                None => return false,
            },
        };
        opt.setup();
        if self.action == Action::Unset {
            opt.options.retain(|(c, _)| *c != code);
            return true;
        }
        let local = matches!(self.kind, Kind::Local(..) | Kind::Variable(..));
        let found = opt
            .options
            .iter_mut()
            .find(|(c, _)| *c == code && (!local || !typed(code)));
        if let Some(o) = found {
            match (&self.kind, self.action) {
                (_, Action::Set | Action::Replace) => {
                    o.1 = data;
                    return true;
                }
                (Kind::Variable(..) | Kind::Subnet(..), _) => return false,
                _ => {}
            }
        }
        if matches!(self.action, Action::Append | Action::Set) {
            opt.options.push((code, data));
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests;
