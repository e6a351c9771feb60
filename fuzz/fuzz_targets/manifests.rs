//! One manifest file's bytes → the manifests loader → changes → a zone.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kdns::fuzzing::manifests(data));
