//! The API server's protobuf encoding (`application/vnd.kubernetes.protobuf`), read just far
//! enough for DNS: lists of Services, EndpointSlices and Pods into the slim types of
//! [`super::objects`], `Status` for errors. Field numbers are those of `k8s.io/api`'s and
//! `k8s.io/apimachinery`'s `generated.proto` (v0.34); unknown fields are skipped, as protobuf
//! requires.
//!
//! Why: for 10k Services and 100k endpoints the API server sends 49 MB of JSON, which it needs
//! ~250 ms just to start sending, against 12 MB of protobuf that it streams from the first
//! millisecond (see BENCHMARKS.md). CoreDNS asks for protobuf too (in-cluster).
//!
//! | file | what it reads |
//! |---|---|
//! | `list.rs` | a list body as it streams in ([`ListDecoder`]) |
//! | `service.rs`, `slice.rs`, `pod.rs` | one Service, one EndpointSlice, one Pod |
//! | `status.rs` | the `Status` of a failed request |
//! | `meta.rs` | `ObjectMeta`, `Time`, ports |
//! | `wire.rs` | varints, fields, the `k8s\0` envelope; [`ProtoError`] |
mod list;
mod meta;
mod pod;
mod service;
mod slice;
mod status;
mod wire;

pub use list::{ListDecoder, ListMeta};
pub use pod::pod;
pub use service::service;
pub use slice::slice;
pub use status::status;
pub use wire::{ProtoError, CONTENT_TYPE};

#[cfg(test)]
mod tests;
