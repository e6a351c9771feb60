//! The API server's protobuf encoding (`application/vnd.kubernetes.protobuf`), read just far
//! enough for DNS: lists of Services and EndpointSlices into the slim types of
//! [`super::objects`], `Status` for errors. Field numbers are those of `k8s.io/api`'s and
//! `k8s.io/apimachinery`'s `generated.proto` (v0.34); unknown fields are skipped, as protobuf
//! requires.
//!
//! Why: for 10k Services and 100k endpoints the API server sends 49 MB of JSON, which it needs
//! ~250 ms just to start sending, against 12 MB of protobuf that it streams from the first
//! millisecond (see BENCHMARKS.md). CoreDNS asks for protobuf too (in-cluster).
//!
//! A list body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` whose `raw` field
//! holds the list message; [`ListDecoder`] takes the body as it arrives and hands out each
//! item as soon as its bytes are complete, so decoding overlaps the download.
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};

use super::objects::{
    ConditionsObj, EndpointObj, PortObj, ServiceObj, ServiceSpecObj, SliceObj, TargetRefObj,
};

/// The content type to ask for.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8; 4] = b"k8s\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    #[error("protobuf: truncated message")]
    Truncated,
    #[error("protobuf: unsupported wire type {0}")]
    WireType(u8),
    #[error("protobuf: missing the k8s magic prefix")]
    Magic,
    #[error("protobuf: field {0} is not valid UTF-8")]
    Utf8(u32),
    #[error("protobuf: bad timestamp")]
    Time,
}

/// One field's value.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Reads the fields of one message.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(ProtoError::Truncated)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ProtoError::Truncated)
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = varint(self.buf, &mut self.pos)?;
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let skip = |this: &mut Self, n: usize| {
            let end = this.pos.checked_add(n).ok_or(ProtoError::Truncated)?;
            if end > this.buf.len() {
                return Err(ProtoError::Truncated);
            }
            this.pos = end;
            Ok(())
        };
        let v = match wire {
            0 => Value::Varint(varint(self.buf, &mut self.pos)?),
            1 => {
                skip(self, 8)?;
                Value::Fixed
            }
            5 => {
                skip(self, 4)?;
                Value::Fixed
            }
            2 => {
                let n = usize::try_from(varint(self.buf, &mut self.pos)?)
                    .map_err(|_| ProtoError::Truncated)?;
                let start = self.pos;
                skip(self, n)?;
                Value::Bytes(&self.buf[start..self.pos])
            }
            w => return Err(ProtoError::WireType(w)),
        };
        Ok(Some((field, v)))
    }
}

fn string(field: u32, v: Value<'_>) -> Result<String, ProtoError> {
    match v {
        Value::Bytes(b) => std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| ProtoError::Utf8(field)),
        _ => Err(ProtoError::WireType(0)),
    }
}

fn bytes(v: Value<'_>) -> Result<&[u8], ProtoError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(ProtoError::WireType(0)),
    }
}

fn int(v: Value<'_>) -> Result<u64, ProtoError> {
    match v {
        Value::Varint(n) => Ok(n),
        _ => Err(ProtoError::WireType(2)),
    }
}

/// `map<string, string>` entry: key = 1, value = 2.
fn map_entry(b: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), ProtoError> {
    let (mut k, mut val) = (String::new(), String::new());
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => k = string(n, v)?,
            2 => val = string(n, v)?,
            _ => {}
        }
    }
    into.insert(k, val);
    Ok(())
}

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
fn meta(b: &[u8]) -> Result<ObjectMeta, ProtoError> {
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
fn port(b: &[u8]) -> Result<PortObj, ProtoError> {
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

/// A `core.v1.Service`.
pub fn service(b: &[u8]) -> Result<ServiceObj, ProtoError> {
    let mut s = ServiceObj::default();
    let mut f = Fields::new(b);
    while let Some((n, v)) = f.next_field()? {
        match n {
            1 => s.metadata = meta(bytes(v)?)?,
            2 => {
                let spec = s.spec.get_or_insert_with(ServiceSpecObj::default);
                let mut sf = Fields::new(bytes(v)?);
                while let Some((n, v)) = sf.next_field()? {
                    match n {
                        1 => spec
                            .ports
                            .get_or_insert_with(Vec::new)
                            .push(port(bytes(v)?)?),
                        2 => map_entry(bytes(v)?, spec.selector.get_or_insert_with(BTreeMap::new))?,
                        3 => spec.cluster_ip = Some(string(n, v)?),
                        4 => spec.type_ = Some(string(n, v)?),
                        10 => spec.external_name = Some(string(n, v)?),
                        18 => spec
                            .cluster_ips
                            .get_or_insert_with(Vec::new)
                            .push(string(n, v)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

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

/// `meta.v1.Status` of an error response: (code, reason, message).
pub fn status(body: &[u8]) -> Result<(u16, String, String), ProtoError> {
    let raw = unknown_raw(body)?;
    let (mut code, mut reason, mut message) = (0u16, String::new(), String::new());
    let mut f = Fields::new(raw);
    while let Some((n, v)) = f.next_field()? {
        match n {
            3 => message = string(n, v)?,
            4 => reason = string(n, v)?,
            6 => code = int(v)? as u16,
            _ => {}
        }
    }
    Ok((code, reason, message))
}

/// The `raw` bytes of a complete `k8s\0` + `runtime.Unknown` body.
fn unknown_raw(body: &[u8]) -> Result<&[u8], ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::Magic)?;
    let mut f = Fields::new(rest);
    while let Some((n, v)) = f.next_field()? {
        if n == 2 {
            return bytes(v);
        }
    }
    Ok(&[])
}

/// `ListMeta`: what a list page says about what follows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListMeta {
    pub resource_version: String,
    pub continue_token: String,
}

/// Decodes a list body as it arrives: [`ListDecoder::feed`] each chunk, and every complete
/// item (`items`, field 2 of the list message) is handed to the callback right away.
#[derive(Debug, Default)]
pub struct ListDecoder {
    buf: Vec<u8>,
    /// Offset of the next unread byte in `buf`.
    pos: usize,
    /// Offset in `buf` where the list message (`raw`) ends, once its header was read.
    raw_end: Option<usize>,
    meta: ListMeta,
    done: bool,
}

impl ListDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes of the body; calls `item` with each complete item's bytes.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        item: &mut dyn FnMut(&[u8]) -> Result<(), ProtoError>,
    ) -> Result<(), ProtoError> {
        self.buf.extend_from_slice(chunk);
        loop {
            if self.done {
                return Ok(());
            }
            let Some(raw_end) = self.raw_end else {
                if !self.read_header()? {
                    return Ok(());
                }
                continue;
            };
            if self.pos >= raw_end {
                self.done = true;
                return Ok(());
            }
            // One field of the list message, if complete.
            let mut p = self.pos;
            let key = match varint(&self.buf[..raw_end.min(self.buf.len())], &mut p) {
                Ok(k) => k,
                Err(ProtoError::Truncated) if self.buf.len() < raw_end => break,
                Err(e) => return Err(e),
            };
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            if wire != 2 {
                // Scalars in ListMeta's position never occur; step over them generically.
                let mut f = Fields {
                    buf: &self.buf[..raw_end.min(self.buf.len())],
                    pos: self.pos,
                };
                match f.next_field() {
                    Ok(_) => self.pos = f.pos,
                    Err(ProtoError::Truncated) if self.buf.len() < raw_end => break,
                    Err(e) => return Err(e),
                }
                continue;
            }
            let len = match varint(&self.buf[..raw_end.min(self.buf.len())], &mut p) {
                Ok(n) => usize::try_from(n).map_err(|_| ProtoError::Truncated)?,
                Err(ProtoError::Truncated) if self.buf.len() < raw_end => break,
                Err(e) => return Err(e),
            };
            let end = p.checked_add(len).ok_or(ProtoError::Truncated)?;
            if end > raw_end {
                return Err(ProtoError::Truncated);
            }
            if end > self.buf.len() {
                break; // the rest of this field has not arrived yet
            }
            let body = &self.buf[p..end];
            match field {
                1 => {
                    let mut f = Fields::new(body);
                    while let Some((n, v)) = f.next_field()? {
                        match n {
                            2 => self.meta.resource_version = string(n, v)?,
                            3 => self.meta.continue_token = string(n, v)?,
                            _ => {}
                        }
                    }
                }
                2 => item(body)?,
                _ => {}
            }
            self.pos = end;
        }
        // Keep the buffer small: drop what was consumed once it is most of it.
        if self.pos > 1 << 16 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            if let Some(e) = self.raw_end.as_mut() {
                *e -= self.pos;
            }
            self.pos = 0;
        }
        Ok(())
    }

    /// Reads the magic and the `runtime.Unknown` fields up to `raw`'s length; false when more
    /// bytes are needed.
    fn read_header(&mut self) -> Result<bool, ProtoError> {
        if self.pos == 0 {
            if self.buf.len() < MAGIC.len() {
                return Ok(false);
            }
            if &self.buf[..4] != MAGIC {
                return Err(ProtoError::Magic);
            }
            self.pos = 4;
        }
        loop {
            let mut p = self.pos;
            let key = match varint(&self.buf, &mut p) {
                Ok(k) => k,
                Err(ProtoError::Truncated) => return Ok(false),
                Err(e) => return Err(e),
            };
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            if wire != 2 {
                return Err(ProtoError::WireType(wire));
            }
            let len = match varint(&self.buf, &mut p) {
                Ok(n) => usize::try_from(n).map_err(|_| ProtoError::Truncated)?,
                Err(ProtoError::Truncated) => return Ok(false),
                Err(e) => return Err(e),
            };
            if field == 2 {
                self.pos = p;
                self.raw_end = Some(p.checked_add(len).ok_or(ProtoError::Truncated)?);
                return Ok(true);
            }
            let end = p.checked_add(len).ok_or(ProtoError::Truncated)?;
            if end > self.buf.len() {
                return Ok(false);
            }
            self.pos = end; // typeMeta, or anything else before `raw`
        }
    }

    /// The list's metadata, once the whole body was fed; an error if the list was cut short
    /// (every list the API server sends has its `raw` message, if only with `ListMeta`).
    pub fn finish(self) -> Result<ListMeta, ProtoError> {
        match self.raw_end {
            Some(end) if self.pos >= end && self.buf.len() >= end => Ok(self.meta),
            _ => Err(ProtoError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tiny encoder, for tests only.
    fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
        put_varint(u64::from(field) << 3 | u64::from(wire), out);
    }
    fn put_varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn len(field: u32, b: &[u8], out: &mut Vec<u8>) {
        key(field, 2, out);
        put_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    fn int(field: u32, v: u64, out: &mut Vec<u8>) {
        key(field, 0, out);
        put_varint(v, out);
    }
    fn msg(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    fn meta_bytes(name: &str) -> Vec<u8> {
        msg(|m| {
            len(1, name.as_bytes(), m);
            len(3, b"prod", m);
            len(6, b"77", m);
            len(8, &msg(|t| int(1, 1_767_225_600, t)), m);
            len(
                11,
                &msg(|e| {
                    len(1, b"kubernetes.io/service-name", e);
                    len(2, b"web", e);
                }),
                m,
            );
            len(
                17,
                &msg(|e| {
                    len(1, b"kubectl", e);
                    len(4, &msg(|t| int(1, 1_767_225_601, t)), e);
                    len(7, b"{\"f:spec\":{}}", e);
                }),
                m,
            );
            len(12, &msg(|e| len(1, b"ignored", e)), m);
        })
    }

    fn slice_bytes(name: &str) -> Vec<u8> {
        msg(|s| {
            len(1, &meta_bytes(name), s);
            len(4, b"IPv4", s);
            len(
                2,
                &msg(|e| {
                    len(1, b"10.1.0.1", e);
                    len(2, &msg(|c| int(1, 0, c)), e);
                    len(3, b"web-0", e);
                    len(4, &msg(|t| len(3, b"pod-a", t)), e);
                    len(6, b"node-1", e);
                    len(7, b"zone-a", e);
                }),
                s,
            );
            len(
                3,
                &msg(|p| {
                    len(1, b"http", p);
                    len(2, b"TCP", p);
                    int(3, 8080, p);
                }),
                s,
            );
        })
    }

    fn list_body(items: &[Vec<u8>], rv: &str) -> Vec<u8> {
        let list = msg(|l| {
            len(1, &msg(|m| len(2, rv.as_bytes(), m)), l);
            for i in items {
                len(2, i, l);
            }
        });
        let mut body = MAGIC.to_vec();
        len(
            1,
            &msg(|t| {
                len(1, b"discovery.k8s.io/v1", t);
                len(2, b"EndpointSliceList", t);
            }),
            &mut body,
        );
        len(2, &list, &mut body);
        len(4, CONTENT_TYPE.as_bytes(), &mut body);
        body
    }

    #[test]
    fn decodes_a_slice() {
        let s = slice(&slice_bytes("web-abc")).unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("web-abc"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(s.metadata.resource_version.as_deref(), Some("77"));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()["kubernetes.io/service-name"],
            "web"
        );
        let mf = s.metadata.managed_fields.as_ref().unwrap();
        assert_eq!(mf[0].time.as_ref().unwrap().0.as_second(), 1_767_225_601);
        assert!(s.metadata.annotations.is_none());
        assert_eq!(s.address_type, "IPv4");
        let e = &s.endpoints.as_ref().unwrap()[0];
        assert_eq!(e.addresses, ["10.1.0.1"]);
        assert_eq!(e.conditions.as_ref().unwrap().ready, Some(false));
        assert_eq!(e.hostname.as_deref(), Some("web-0"));
        assert_eq!(
            e.target_ref.as_ref().unwrap().name.as_deref(),
            Some("pod-a")
        );
        assert_eq!(e.zone.as_deref(), Some("zone-a"));
        let p = &s.ports.as_ref().unwrap()[0];
        assert_eq!(
            (p.name.as_deref(), p.protocol.as_deref(), p.port),
            (Some("http"), Some("TCP"), Some(8080))
        );
    }

    #[test]
    fn decodes_a_service() {
        let b = msg(|s| {
            len(1, &meta_bytes("web"), s);
            len(
                2,
                &msg(|sp| {
                    len(
                        1,
                        &msg(|p| {
                            len(1, b"dns", p);
                            len(2, b"UDP", p);
                            int(3, 53, p);
                            len(4, &msg(|t| int(1, 5353, t)), p);
                        }),
                        sp,
                    );
                    len(3, b"10.0.0.1", sp);
                    len(18, b"10.0.0.1", sp);
                    len(18, b"fd00::1", sp);
                    len(4, b"ClusterIP", sp);
                    len(7, b"None", sp);
                }),
                s,
            );
            len(3, b"\x0a\x00", s); // status
        });
        let s = service(&b).unwrap();
        let spec = s.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(spec.cluster_ips.unwrap(), ["10.0.0.1", "fd00::1"]);
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.ports.unwrap()[0].port, Some(53));
        assert!(spec.external_name.is_none());
    }

    /// The body split at every possible point gives the same items and metadata.
    #[test]
    fn list_streams_at_any_split() {
        let items: Vec<Vec<u8>> = (0..5).map(|i| slice_bytes(&format!("s{i}"))).collect();
        let body = list_body(&items, "12345");
        for split in 0..body.len() {
            let mut d = ListDecoder::new();
            let mut names = Vec::new();
            let mut on = |b: &[u8]| {
                names.push(slice(b)?.metadata.name.unwrap());
                Ok(())
            };
            d.feed(&body[..split], &mut on).unwrap();
            d.feed(&body[split..], &mut on).unwrap();
            assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"], "split at {split}");
            assert_eq!(d.finish().unwrap().resource_version, "12345");
        }
    }

    #[test]
    fn truncated_and_garbage_bodies_are_errors_not_panics() {
        let body = list_body(&[slice_bytes("a"), slice_bytes("b")], "1");
        // (A cut in the trailing contentType field, after the list, loses nothing.)
        for cut in 1..body.len() - 2 - CONTENT_TYPE.len() {
            let mut d = ListDecoder::new();
            let mut n = 0;
            let r = d.feed(&body[..cut], &mut |b| slice(b).map(|_| n += 1));
            assert!(r.is_err() || d.finish().is_err(), "cut at {cut}");
        }
        let mut d = ListDecoder::new();
        assert_eq!(
            d.feed(b"{\"kind\":", &mut |_| Ok(())),
            Err(ProtoError::Magic)
        );
        // Every single-byte corruption: no panic.
        for i in 4..body.len() {
            let mut b = body.clone();
            b[i] ^= 0xff;
            let mut d = ListDecoder::new();
            let _ = d.feed(&b, &mut |b| slice(b).map(|_| ()));
        }
        let _ = service(&[0xff; 12]);
        let _ = slice(&[
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
    }

    #[test]
    fn status_of_an_error() {
        let mut body = MAGIC.to_vec();
        len(
            2,
            &msg(|s| {
                len(2, b"Failure", s);
                len(3, b"endpointslices is forbidden", s);
                len(4, b"Forbidden", s);
                int(6, 403, s);
            }),
            &mut body,
        );
        assert_eq!(
            status(&body).unwrap(),
            (
                403,
                "Forbidden".to_string(),
                "endpointslices is forbidden".to_string()
            )
        );
    }
}
