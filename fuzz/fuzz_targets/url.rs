//! libFuzzer entry for `wsclient::internals::fuzz::url` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsclient::internals::fuzz::url(data));
