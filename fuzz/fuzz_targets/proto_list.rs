//! A protobuf list body → the streaming list decoder (whole and chunked: the same items) →
//! Service and EndpointSlice decoders → a zone. The first byte sets the chunk size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kdns::fuzzing::proto_list(data));
