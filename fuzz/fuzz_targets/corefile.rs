//! Corefile text → the lexer (env, snippets, imports) and the parser, as `kdns --validate`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kdns::fuzzing::corefile(text);
    }
});
