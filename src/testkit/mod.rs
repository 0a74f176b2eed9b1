//! What tests, benchmarks, examples and fuzzers need and a user of the
//! library does not, behind the `testkit` feature: the synthetic patch
//! builder ([`synth`]), the crash tests' failpoints ([`failpoint`]), and
//! the internal stages that they drive directly, re-exported here so that
//! they stay out of the library's API.

pub mod components;
pub mod failpoint;
pub mod synth;
pub mod tables;

pub use crate::error::contain_panics;
pub use crate::format::{
    compound, container, layout, msi, propset, signature, streamname, structure, summary, transform,
};
pub use crate::rules::{applicability, lint};
pub use crate::store::journal;

/// The patch reader.
pub mod patch {
    pub use crate::patch::*;
}

/// Work counters of the current thread, for tests that bound the work a
/// run does instead of timing it.
pub mod work {
    /// Pair-with-pair comparisons (is this pair a copy of that one?) made
    /// on this thread since the last [`reset`].
    pub fn copy_comparisons() -> u64 {
        crate::edit::copy::COPY_COMPARISONS.with(|c| c.get())
    }

    /// Sets the counters of this thread to zero.
    pub fn reset() {
        crate::edit::copy::COPY_COMPARISONS.with(|c| c.set(0));
    }
}
