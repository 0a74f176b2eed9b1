//! What tests, benchmarks, examples and fuzzers need and a user of the
//! library does not, behind the `testkit` feature: the synthetic patch
//! builder ([`synth`]) and the crash tests' failpoints ([`failpoint`]).

pub mod failpoint;
pub mod synth;
