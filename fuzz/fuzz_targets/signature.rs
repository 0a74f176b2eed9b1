#![no_main]
//! Fuzz target: see `msp_retarget_fuzz::signature`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msp_retarget_fuzz::signature(data));
