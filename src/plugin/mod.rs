//! The CoreDNS directives, one room each: a module (or folder) holds the directive's parser
//! (errors name `FILE:LINE`), what it does in the chain ([`crate::dns::Directive`]) or as an
//! observer ([`crate::dns::Observer`]), and its table tests; its README section is under "The
//! Corefile". Parsers use only the syntax leaf (`src/config/syntax.rs`, `src/config/args.rs`).
//!
//! Directives that answer or change answers run in the server block's chain in CoreDNS's
//! plugin.cfg order ([`crate::config::COREDNS_DIRECTIVES`]), not in Corefile order:
//! `bufsize`, `prometheus`, `errors`, `log` (observers of every query), `any`, `chaos`,
//! `loadbalance`, `rewrite`, `autopath`, `acl`, `cache`, `template`, `transfer`, `hosts`,
//! `k8s_external`, `kubernetes`, `loop`, `forward`. `health`, `ready` and `reload` are
//! process-wide.
pub mod acl;
pub mod any;
pub mod autopath;
pub mod bufsize;
pub mod cache;
pub mod chaos;
pub mod errors;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod k8s_external;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
pub mod loop_detect;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod template;
pub mod transfer;
