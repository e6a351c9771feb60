//! The streaming list decoder: a list body is the 4-byte magic `k8s\0` followed by a
//! `runtime.Unknown` whose `raw` field holds the list message; [`ListDecoder`] takes the body
//! as it arrives and hands out each item as soon as its bytes are complete, so decoding
//! overlaps the download.
use super::wire::{string, varint, Fields, ProtoError, MAGIC};

/// `ListMeta`: what a list page says about what follows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListMeta {
    /// The list's resourceVersion (where a watch starts).
    pub resource_version: String,
    /// The token of the next page; empty on the last one.
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

/// Unless the error only says that more bytes are needed (and more may come): `Ok(None)`.
fn need_more<T>(r: Result<T, ProtoError>, more_to_come: bool) -> Result<Option<T>, ProtoError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ProtoError::Truncated) if more_to_come => Ok(None),
        Err(e) => Err(e),
    }
}

impl ListDecoder {
    /// A decoder at the start of a body.
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
            if !self.list_field(raw_end, item)? {
                break;
            }
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

    /// Reads one field of the list message, if complete (false: more bytes are needed).
    fn list_field(
        &mut self,
        raw_end: usize,
        item: &mut dyn FnMut(&[u8]) -> Result<(), ProtoError>,
    ) -> Result<bool, ProtoError> {
        let more = self.buf.len() < raw_end;
        let avail = &self.buf[..raw_end.min(self.buf.len())];
        let mut p = self.pos;
        let Some(key) = need_more(varint(avail, &mut p), more)? else {
            return Ok(false);
        };
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        if wire != 2 {
            // Scalars in ListMeta's position never occur; step over them generically.
            let mut f = Fields {
                buf: avail,
                pos: self.pos,
            };
            if need_more(f.next_field(), more)?.is_none() {
                return Ok(false);
            }
            self.pos = f.pos;
            return Ok(true);
        }
        let Some(len) = need_more(varint(avail, &mut p), more)? else {
            return Ok(false);
        };
        let len = usize::try_from(len).map_err(|_| ProtoError::Truncated)?;
        let end = p.checked_add(len).ok_or(ProtoError::Truncated)?;
        if end > raw_end {
            return Err(ProtoError::Truncated);
        }
        if end > self.buf.len() {
            return Ok(false); // the rest of this field has not arrived yet
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
        Ok(true)
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
            let Some(key) = need_more(varint(&self.buf, &mut p), true)? else {
                return Ok(false);
            };
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            if wire != 2 {
                return Err(ProtoError::WireType(wire));
            }
            let Some(len) = need_more(varint(&self.buf, &mut p), true)? else {
                return Ok(false);
            };
            let len = usize::try_from(len).map_err(|_| ProtoError::Truncated)?;
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
