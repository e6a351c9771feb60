//! The DNS server: hickory types stop here.
pub mod handler;
pub mod server;
pub mod udp;
pub mod wire;

pub use handler::{Answer, Block, Router, Step};
