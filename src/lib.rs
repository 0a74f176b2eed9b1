//! Retarget Windows Installer patches (.msp) to every instance of a
//! multi-instance product, on any operating system.
//!
//! The library API is what this page lists: one entry point per command
//! ([`retarget`], [`untarget`], [`inspect`], [`check_file`], [`recover`],
//! [`bulk`], [`instances_add`], [`instances_remove`]), their request types, the [`report`] model that the human and
//! JSON outputs render, and [`Error`]. The stages behind them (compound
//! files and property sets, the patch reader, the rules, the edit plan and
//! engine, the store) are internal; `docs/architecture.md` maps them.
//!
//! # Example
//!
//! Plan a retarget of a patch to two instances, then write it:
//!
//! ```
//! use msp_retarget::{
//!     Destination, InstanceRequest, Outcome, PlanOptions, RetargetRequest, retarget,
//! };
//!
//! let folder = tempfile::tempdir()?;
//! let output = folder.path().join("sample-all.msp");
//! let request = RetargetRequest {
//!     input: "testdata/sample.msp".into(),
//!     destination: Destination::DryRun,
//!     instances: vec![
//!         InstanceRequest::parse("{11111111-1111-4111-8111-111111111111}")?,
//!         InstanceRequest::parse("{22222222-2222-4222-8222-222222222222}")?,
//!     ],
//!     options: PlanOptions::default(),
//! };
//!
//! // The plan: what would change, nothing written.
//! let planned = retarget(&request)?;
//! assert_eq!(planned.outcome, Outcome::Planned);
//! assert_eq!(planned.plan.instances.len(), 2);
//!
//! // The same request written to a new file (atomically, verified).
//! let written = retarget(&RetargetRequest {
//!     destination: Destination::Output(output.clone()),
//!     ..request
//! })?;
//! assert_eq!(written.outcome, Outcome::Done);
//! assert!(output.is_file());
//! println!("{}", msp_retarget::report::render_retarget(&written));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod commands;
mod edit;
mod error;
mod format;
mod patch;
mod product;
pub mod report;
mod rules;
mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use commands::bulk;
pub use commands::check::check_file;
pub use commands::inspect::{InspectOptions, inspect, inspect_with};
pub use commands::instances::{
    InstancesAddRequest, InstancesRemoveRequest, instances_add, instances_remove,
};
pub use commands::recover::recover;
pub use commands::retarget::{RetargetRequest, retarget};
pub use commands::sequence::{SequenceRequest, products_from, sequence_files};
pub use commands::untarget::{UntargetRequest, untarget};
pub use edit::engine::{Destination, Outcome};
pub use edit::instances::{
    AddOptions, InstancesPlan, InstancesVerification, IsolatedComponent, Isolation,
    NewInstanceRequest, PlannedInstance, RemovedInstance,
};
pub use edit::isolate::{CodeSource, ComponentAction, ComponentDecision, ComponentIsolation};
pub use edit::plan::{
    CopyPlan, InstancePlan, InstanceRequest, InstanceStatus, PairAction, PairDecision, Plan,
    PlanOptions,
};
pub use error::{ApiWords, Error, ErrorKind, Reason, Result, Setting, Wording, reword};
pub use format::guid::Guid;
/// The row changes a plan declares for a copy ([`CopyPlan::rows`]), with
/// the kinds of row and the values they name.
pub use format::transform::edit::Change;
pub use format::transform::{RowKind, Value};
pub use product::facts::{ProductFacts, ProductProperties};
pub use product::instances::{self, Instance, InstanceSource};
pub use store::journal::check_readable;
