//! The DNS server: hickory types stop here (and in the directives of `src/plugin/`).
//!
//! This module never names a directive: the chain ([`chain`]) runs whatever [`Directive`]s and
//! [`Observer`]s the configuration built.
pub mod chain;
pub mod class;
pub mod codes;
mod encode;
mod fit;
pub(crate) mod handover;
pub mod load;
mod mmsg;
pub mod observe;
pub mod query;
mod request;
pub mod respond;
mod serial;
pub mod server;
mod tcp;
pub mod udp;
pub mod wire;

pub use chain::{Block, DataVersion, Directive, Next, OwnedNext, Router, Served};
pub use observe::{Observer, Report, Sent};
pub use query::{Answer, Proto, Query, MAX_UDP_PAYLOAD};
