//! The protobuf wire format, as far as the API server's messages need it: varints, tagged
//! fields (skipping the unknown ones, as protobuf requires), and the `k8s\0` envelope.
use std::collections::BTreeMap;

/// The content type to ask for.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The first bytes of every protobuf body of the API server.
pub(super) const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// The bytes end inside a field.
    #[error("protobuf: truncated message")]
    Truncated,
    /// A wire type protobuf 3 does not use (or the wrong one for the field).
    #[error("protobuf: unsupported wire type {0}")]
    WireType(u8),
    /// The body does not start with `k8s\0`.
    #[error("protobuf: missing the k8s magic prefix")]
    Magic,
    /// A string field (by number) is not UTF-8.
    #[error("protobuf: field {0} is not valid UTF-8")]
    Utf8(u32),
    /// A timestamp out of range.
    #[error("protobuf: bad timestamp")]
    Time,
}

/// One field's value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Reads the fields of one message.
pub(super) struct Fields<'a> {
    /// The message.
    pub(super) buf: &'a [u8],
    /// Offset of the next field.
    pub(super) pos: usize,
}

/// Reads the varint at `*pos`, advancing it.
pub(super) fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
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
    /// The fields of the message `buf`, from its start.
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next field: its number and value; `None` at the end of the message.
    pub(super) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, ProtoError> {
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

/// A string field.
pub(super) fn string(field: u32, v: Value<'_>) -> Result<String, ProtoError> {
    match v {
        Value::Bytes(b) => std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| ProtoError::Utf8(field)),
        _ => Err(ProtoError::WireType(0)),
    }
}

/// A bytes (or embedded message) field.
pub(super) fn bytes(v: Value<'_>) -> Result<&[u8], ProtoError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(ProtoError::WireType(0)),
    }
}

/// An integer field.
pub(super) fn int(v: Value<'_>) -> Result<u64, ProtoError> {
    match v {
        Value::Varint(n) => Ok(n),
        _ => Err(ProtoError::WireType(2)),
    }
}

/// `map<string, string>` entry: key = 1, value = 2.
pub(super) fn map_entry(b: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), ProtoError> {
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

/// The `raw` bytes of a complete `k8s\0` + `runtime.Unknown` body.
pub(super) fn unknown_raw(body: &[u8]) -> Result<&[u8], ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::Magic)?;
    let mut f = Fields::new(rest);
    while let Some((n, v)) = f.next_field()? {
        if n == 2 {
            return bytes(v);
        }
    }
    Ok(&[])
}
