//! `core.v1.Pod` into [`PodObj`]: metadata and the three fields of `status` DNS reads; the
//! spec (most of a Pod's bytes) is skipped unread.
use super::meta::meta;
use super::wire::{bytes, string, Fields, ProtoError};
use crate::source::objects::{PodIpObj, PodObj, PodStatusObj};

/// A `core.v1.Pod`: metadata = 1, status = 3.
pub fn pod(b: &[u8]) -> Result<PodObj, ProtoError> {
    let mut p = PodObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => p.metadata = meta(bytes(v)?)?,
            3 => status(bytes(v)?, p.status.get_or_insert_with(Default::default))?,
            _ => {}
        }
    }
    Ok(p)
}

/// `PodStatus`: phase = 1, podIP = 6, podIPs = 12 (`PodIP`: ip = 1).
fn status(b: &[u8], st: &mut PodStatusObj) -> Result<(), ProtoError> {
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => st.phase = Some(string(n, v)?),
            6 => st.pod_ip = Some(string(n, v)?),
            12 => {
                let mut ip = PodIpObj::default();
                let mut pf = Fields::new(bytes(v)?);
                while let Some((n, v)) = pf.next_field()? {
                    if n == 1 {
                        ip.ip = string(n, v)?;
                    }
                }
                st.pod_ips.get_or_insert_with(Vec::new).push(ip);
            }
            _ => {}
        }
    }
    Ok(())
}
