//! What the block's observers (`prometheus`, `errors`, `log`) are told of every query once its
//! answer went out, and what a replay of cached bytes on the UDP path must count again.
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::class::Class;
use super::query::{Answer, Query};

/// What is known once the answer went out.
pub struct Sent {
    /// The response code sent (extended codes included).
    pub rcode: u16,
    /// The answer's class (`log`'s `class` filter).
    pub class: Class,
    /// `qr,aa,…` as set.
    pub flags: Flags,
    /// Bytes sent.
    pub rsize: usize,
    /// From the request's arrival to the response written.
    pub took: Duration,
    /// The address the query arrived on.
    pub local: SocketAddr,
}

/// The response's header flags; shown as `qr,aa,tc,rd,ra,ad,cd`, those set (miekg/dns order).
/// Kept as bits: only `log` ever shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(u8);

/// The flags' names, in the order they are shown.
const FLAG_NAMES: [&str; 7] = ["qr", "aa", "tc", "rd", "ra", "ad", "cd"];

/// The flags set among `qr,aa,tc,rd,ra,ad,cd`.
pub fn flags(qr: bool, aa: bool, tc: bool, rd: bool, ra: bool, ad: bool, cd: bool) -> Flags {
    let bits = [qr, aa, tc, rd, ra, ad, cd]
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, on)| acc | u8::from(*on) << i);
    Flags(bits)
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, name) in FLAG_NAMES.iter().enumerate() {
            if self.0 & 1 << i != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// One finished query, as its observers see it.
pub struct Report<'a> {
    /// The question and who asked it.
    pub query: &'a Query,
    /// What the chain answered.
    pub answer: &'a Answer,
    /// What went out.
    pub sent: &'a Sent,
}

/// Counting that a replay of cached bytes repeats (pre-resolved series).
pub trait Recount: Send + Sync {
    /// One more replayed answer of `response_size` bytes to a request of `request_size`.
    fn record(&self, request_size: usize, response_size: usize, took: Duration);
}

/// What an observer needs of an answer the UDP path would replay.
pub enum Replay {
    /// Nothing: replays are invisible to it.
    Nothing,
    /// These counts, repeated on every replay.
    Count(Arc<dyn Recount>),
    /// It must see every query itself (`log`): the answer is not replayed.
    Never,
}

/// A directive that sees every finished query of its block.
pub trait Observer: Send + Sync + 'static {
    /// A query of its block was answered.
    fn observe(&self, r: &Report<'_>);

    /// What replaying this answer's bytes must count.
    fn replay(&self, _r: &Report<'_>) -> Replay {
        Replay::Nothing
    }

    /// A query on its port that no block covers (REFUSED); true when it was counted (the first
    /// observer that counts it ends the search).
    fn dropped(&self, _r: &Report<'_>) -> bool {
        false
    }
}
