#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agent5_e2e::fuzz_harness::realtime_events(data));
