//! Messages every object shares: `meta.v1.ObjectMeta` (the fields kdns reads), `meta.v1.Time`,
//! and the port both Services and EndpointSlices have.
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};

use super::wire::{bytes, int, map_entry, string, Fields, ProtoError};
use crate::source::objects::PortObj;

/// `meta.v1.Time`: seconds = 1, nanos = 2.
fn time(b: &[u8]) -> Result<Time, ProtoError> {
    let (mut secs, mut nanos) = (0i64, 0i32);
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => secs = int(v)? as i64,
            2 => nanos = int(v)? as i32,
            _ => {}
        }
    }
    k8s_openapi::jiff::Timestamp::new(secs, nanos)
        .map(Time)
        .map_err(|_| ProtoError::Time)
}

/// `meta.v1.ObjectMeta`, the fields kdns reads (as `objects::slim_meta`).
pub(super) fn meta(b: &[u8]) -> Result<ObjectMeta, ProtoError> {
    let mut m = ObjectMeta::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => m.name = Some(string(n, v)?),
            3 => m.namespace = Some(string(n, v)?),
            6 => m.resource_version = Some(string(n, v)?),
            8 => m.creation_timestamp = Some(time(bytes(v)?)?),
            9 => m.deletion_timestamp = Some(time(bytes(v)?)?),
            11 => map_entry(bytes(v)?, m.labels.get_or_insert_with(BTreeMap::new))?,
            17 => {
                let mut entry = ManagedFieldsEntry::default();
                let mut mf = Fields::new(bytes(v)?);
                while let Some((n, v)) = mf.next_field()? {
                    if n == 4 {
                        entry.time = Some(time(bytes(v)?)?);
                    }
                }
                m.managed_fields.get_or_insert_with(Vec::new).push(entry);
            }
            _ => {}
        }
    }
    Ok(m)
}

/// `ServicePort` and `EndpointPort` share name = 1, protocol = 2, port = 3.
pub(super) fn port(b: &[u8]) -> Result<PortObj, ProtoError> {
    let mut p = PortObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => p.name = Some(string(n, v)?),
            2 => p.protocol = Some(string(n, v)?),
            3 => p.port = Some(int(v)? as i32),
            _ => {}
        }
    }
    Ok(p)
}
