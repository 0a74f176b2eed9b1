//! Bulk runs: many patches retargeted to many instances from one manifest.
//!
//! A bulk run goes in two phases, so that a mistake in the manifest costs
//! nothing:
//!
//! 1. **prepare** — read the manifest ([`manifest`]), load the instances
//!    ([`sources`]), expand the patch globs and work out every output path
//!    ([`run::prepare`]). Any problem here (a bad key, a glob that matches
//!    nothing, two inputs that would write the same output) ends the run
//!    with an error naming the manifest, before any file is written.
//! 2. **execute** — retarget every file with [`crate::commands::retarget::retarget`],
//!    several at once ([`run::execute`]). A file that fails is reported and
//!    the others go on; the report ([`report::BulkReport`]) lists the files
//!    sorted by input path, whatever order they finished in.
//!
//! The schema of the manifest is documented in `docs/bulk.md`.

pub mod manifest;
pub mod run;
pub mod sources;

pub use crate::report::bulk::{BulkReport, FileOutcome, FileReport, Totals};
pub use manifest::{Manifest, ManifestKeys, Origin, RunKeys};
pub use run::{BulkOptions, Job, NoProgress, Progress, execute, prepare, run};
pub use sources::{BuiltinSources, InstanceSources, load_instances, load_sourced};
