//! A watch response body (JSON `WatchEvent` lines) → each kind's watch → a zone.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kdns::fuzzing::watch_events(data));
