//! What tests, benchmarks, examples and fuzzers need and a user of the
//! library does not: the synthetic patch builder ([`synth`]).

pub mod synth;
