//! The whole retarget, end to end: read → understand → plan → apply (to an
//! overlay of the patch) → verify → commit (a copy renamed into place, or
//! for `--in-place` the changed blocks through a journal). The library entry point that the CLI, bulk runs and other
//! programs call.

use std::path::PathBuf;

use crate::edit::engine::{Destination, Outcome, destination_path, execute, lock_for_edit};
use crate::edit::plan::{InstanceRequest, PlanOptions, plan};
use crate::error::{Context, Error, Reason, Result, Setting};
use crate::patch::Patch;
use crate::report::edit::RetargetReport;

/// One retarget to perform.
#[derive(Debug, Clone)]
pub struct RetargetRequest {
    /// The patch to read.
    pub input: PathBuf,
    /// Where the result goes.
    pub destination: Destination,
    /// The instances, in order.
    pub instances: Vec<InstanceRequest>,
    /// Decision options.
    pub options: PlanOptions,
}

/// Runs one retarget.
pub fn retarget(req: &RetargetRequest) -> Result<RetargetReport> {
    if req.instances.is_empty() {
        return Err(Error::usage(
            Reason::new("no instance given (use ")
                .then(Setting::RetargetInstances)
                .and(")"),
        ));
    }
    let dest = destination_path(&req.input, &req.destination)?;
    let _lock = lock_for_edit(&req.input, &req.destination)?;
    crate::store::journal::check_readable(&req.input)?;
    if req.destination == Destination::DryRun {
        return dry_run(req);
    }
    let mut patch = Patch::open(&req.input)?;
    let mut plan = plan(&patch, &req.instances, &req.options).map_err(|e| e.in_file(&req.input))?;
    let rows = crate::edit::sequence::read_rows(&mut patch.cf).in_file(&req.input)?;
    plan.add_sequence_rows(&rows);
    let mut report = RetargetReport {
        input: req.input.clone(),
        output: None,
        outcome: Outcome::Planned,
        patch_code: patch.codes.patch_code,
        targets_before: patch.targets.clone(),
        plan,
        verification: None,
    };
    let (outcome, output, verification) = execute(
        patch,
        &report.plan,
        &req.input,
        dest.as_deref(),
        &req.destination,
        req.options.copy_all,
    )?;
    report.outcome = outcome;
    report.output = output;
    report.verification = verification;
    Ok(report)
}

/// A dry run plans from what the lazy reader reads (the summaries, the
/// transforms, the patch database): its cost does not grow with the
/// cabinet, and nothing is written, so the structure check and the
/// verification of an edit have nothing to guard.
fn dry_run(req: &RetargetRequest) -> Result<RetargetReport> {
    let mut patch = Patch::open_read_only(&req.input)?;
    let mut plan = plan(&patch, &req.instances, &req.options).map_err(|e| e.in_file(&req.input))?;
    let rows = crate::edit::sequence::read_rows(&mut patch.cf).in_file(&req.input)?;
    plan.add_sequence_rows(&rows);
    let outcome = if plan.changes_anything() {
        Outcome::Planned
    } else {
        Outcome::AlreadyDone
    };
    Ok(RetargetReport {
        input: req.input.clone(),
        output: None,
        outcome,
        patch_code: patch.codes.patch_code,
        targets_before: patch.targets.clone(),
        plan,
        verification: None,
    })
}
