//! The DNS server: hickory types stop here (and in the directives of `src/plugin/`).
pub mod codes;
pub mod handler;
pub mod query;
pub mod respond;
pub mod server;
pub mod udp;
pub mod wire;

pub use handler::{Block, Observers, Router, Step};
pub use query::{Answer, Proto, Query};
