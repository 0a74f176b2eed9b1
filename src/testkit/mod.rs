//! What tests, benchmarks, examples and fuzzers need and a user of the
//! library does not, behind the `testkit` feature: the synthetic patch
//! builder ([`synth`]), the crash tests' failpoints ([`failpoint`]), and
//! the internal stages that they drive directly, re-exported here so that
//! they stay out of the library's API.

pub mod components;
pub mod failpoint;
pub mod synth;

pub use crate::error::contain_panics;
pub use crate::format::{
    container, layout, msi, propset, signature, streamname, structure, summary, transform,
};
pub use crate::rules::{applicability, lint};
pub use crate::store::journal;

/// The patch reader.
pub mod patch {
    pub use crate::patch::*;
}
