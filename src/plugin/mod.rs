//! The CoreDNS directives besides `kubernetes`: each module holds one directive's parser
//! (errors name `FILE:LINE`), what it does, and its tests.
//!
//! Directives that answer or change answers run in the server block's chain in CoreDNS's
//! plugin.cfg order ([`crate::config::COREDNS_DIRECTIVES`]), not in Corefile order:
//! `prometheus`, `errors`, `log` (observers of every query), `loadbalance`, `cache`,
//! `kubernetes`, `loop`, `forward`. `health`, `ready` and `reload` are process-wide.
pub mod cache;
pub mod errors;
pub mod forward;
pub mod health;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
pub mod loop_detect;
pub mod prometheus;
pub mod ready;
pub mod reload;
