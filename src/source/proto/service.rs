//! `core.v1.Service` into [`ServiceObj`].
use std::collections::BTreeMap;

use super::meta::{meta, port};
use super::wire::{bytes, map_entry, string, Fields, ProtoError};
use crate::source::objects::{IngressObj, ServiceObj, ServiceSpecObj, ServiceStatusObj};

/// A `core.v1.Service`.
pub fn service(b: &[u8]) -> Result<ServiceObj, ProtoError> {
    let mut s = ServiceObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => s.metadata = meta(bytes(v)?)?,
            2 => spec(
                bytes(v)?,
                s.spec.get_or_insert_with(ServiceSpecObj::default),
            )?,
            3 => status(
                bytes(v)?,
                s.status.get_or_insert_with(ServiceStatusObj::default),
            )?,
            _ => {}
        }
    }
    Ok(s)
}

/// `ServiceStatus`: only `loadBalancer` (1), whose `ingress` (1) points hold `ip` (1) and
/// `hostname` (2).
fn status(b: &[u8], status: &mut ServiceStatusObj) -> Result<(), ProtoError> {
    let mut sf = Fields::new(b);
    while let Some((n, v)) = sf.next_field()? {
        if n != 1 {
            continue;
        }
        let lb = status.load_balancer.get_or_insert_with(Default::default);
        let mut lf = Fields::new(bytes(v)?);
        while let Some((n, v)) = lf.next_field()? {
            if n == 1 {
                lb.ingress
                    .get_or_insert_with(Vec::new)
                    .push(ingress(bytes(v)?)?);
            }
        }
    }
    Ok(())
}

/// One `LoadBalancerIngress`.
fn ingress(b: &[u8]) -> Result<IngressObj, ProtoError> {
    let mut i = IngressObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => i.ip = Some(string(n, v)?),
            2 => i.hostname = Some(string(n, v)?),
            _ => {}
        }
    }
    Ok(i)
}

/// `ServiceSpec`, merged into `spec` (a repeated message field merges, as protobuf requires).
fn spec(b: &[u8], spec: &mut ServiceSpecObj) -> Result<(), ProtoError> {
    let mut sf = Fields::new(b);
    while let Some((n, v)) = sf.next_field()? {
        match n {
            1 => spec
                .ports
                .get_or_insert_with(Vec::new)
                .push(port(bytes(v)?)?),
            2 => map_entry(bytes(v)?, spec.selector.get_or_insert_with(BTreeMap::new))?,
            3 => spec.cluster_ip = Some(string(n, v)?),
            4 => spec.type_ = Some(string(n, v)?),
            5 => spec
                .external_ips
                .get_or_insert_with(Vec::new)
                .push(string(n, v)?),
            10 => spec.external_name = Some(string(n, v)?),
            18 => spec
                .cluster_ips
                .get_or_insert_with(Vec::new)
                .push(string(n, v)?),
            _ => {}
        }
    }
    Ok(())
}
