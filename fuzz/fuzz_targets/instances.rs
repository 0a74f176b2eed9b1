#![no_main]
//! Fuzz target: see `msp_retarget_fuzz::instances`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msp_retarget_fuzz::instances(data));
