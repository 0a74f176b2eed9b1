#![no_main]
//! Fuzz target: see `msp_retarget_fuzz::product`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msp_retarget_fuzz::product(data));
