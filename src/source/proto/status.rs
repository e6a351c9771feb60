//! `meta.v1.Status`, the body of a failed request.
use super::wire::{int, string, unknown_raw, Fields, ProtoError};

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
