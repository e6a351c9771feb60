//! `discovery.v1.EndpointSlice` into [`SliceObj`].
use super::meta::{meta, port};
use super::wire::{bytes, int, string, Fields, ProtoError};
use crate::source::objects::{ConditionsObj, EndpointObj, SliceObj, TargetRefObj};

/// A `discovery.v1.EndpointSlice`.
pub fn slice(b: &[u8]) -> Result<SliceObj, ProtoError> {
    let mut s = SliceObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => s.metadata = meta(bytes(v)?)?,
            2 => s
                .endpoints
                .get_or_insert_with(Vec::new)
                .push(endpoint(bytes(v)?)?),
            3 => s.ports.get_or_insert_with(Vec::new).push(port(bytes(v)?)?),
            4 => s.address_type = string(n, v)?,
            _ => {}
        }
    }
    Ok(s)
}

/// One `Endpoint`: addresses, `ready`, hostname, the target's name, zone.
fn endpoint(b: &[u8]) -> Result<EndpointObj, ProtoError> {
    let mut e = EndpointObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => e.addresses.push(string(n, v)?),
            2 => {
                let mut c = ConditionsObj::default();
                let mut cf = Fields::new(bytes(v)?);
                while let Some((n, v)) = cf.next_field()? {
                    if n == 1 {
                        c.ready = Some(int(v)? != 0);
                    }
                }
                e.conditions = Some(c);
            }
            3 => e.hostname = Some(string(n, v)?),
            4 => {
                let mut t = TargetRefObj::default();
                let mut tf = Fields::new(bytes(v)?);
                while let Some((n, v)) = tf.next_field()? {
                    if n == 3 {
                        t.name = Some(string(n, v)?);
                    }
                }
                e.target_ref = Some(t);
            }
            7 => e.zone = Some(string(n, v)?),
            _ => {}
        }
    }
    Ok(e)
}
