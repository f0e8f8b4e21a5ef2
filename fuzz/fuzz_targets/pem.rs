//! libFuzzer entry for `wsclient::internals::fuzz::pem` (src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsclient::internals::fuzz::pem(data));
