//! `instances add` and `instances remove`: make a product multi-instance
//! by embedding instance transforms, or take some out. Read → plan →
//! apply (to an overlay of the product) → verify → commit, through the same engine as a retarget.

use std::path::PathBuf;

use crate::edit::engine::{Destination, Outcome, destination_path, lock_for_edit, run};
use crate::edit::instances::{
    AddOptions, InstancesJob, NewInstanceRequest, plan_add, plan_remove, write_standalone,
};
use crate::error::{Error, Reason, Result, Setting};
use crate::product::database;
use crate::report::instances::InstancesReport;

/// One `instances add` to perform.
#[derive(Debug, Clone)]
pub struct InstancesAddRequest {
    /// The product (.msi).
    pub input: PathBuf,
    /// Where the result goes.
    pub destination: Destination,
    /// The instances to add, in order.
    pub instances: Vec<NewInstanceRequest>,
    /// What each transform sets.
    pub options: AddOptions,
    /// Also write each transform as `ID.mst` in this folder.
    pub mst_dir: Option<PathBuf>,
}

/// One `instances remove` to perform.
#[derive(Debug, Clone)]
pub struct InstancesRemoveRequest {
    /// The product (.msi).
    pub input: PathBuf,
    /// Where the result goes.
    pub destination: Destination,
    /// The ids of the instances to remove (case-insensitive).
    pub ids: Vec<String>,
    /// Remove the product's digital signature instead of refusing.
    pub strip_signature: bool,
}

/// Adds instance transforms to a product.
pub fn instances_add(req: &InstancesAddRequest) -> Result<InstancesReport> {
    if let Some(dir) = &req.mst_dir
        && !dir.is_dir()
    {
        return Err(Error::usage(
            Reason::new("is not a folder (")
                .then(Setting::MstDir)
                .and(")"),
        )
        .in_file(dir));
    }
    let dest = destination_path(&req.input, &req.destination)?;
    let _lock = lock_for_edit(&req.input, &req.destination)?;
    crate::store::journal::check_readable(&req.input)?;
    let db = database::read(&req.input)?;
    let (plan, streams) =
        plan_add(&db, &req.instances, &req.options).map_err(|e| e.in_file(&req.input))?;
    let job = InstancesJob {
        db: &db,
        plan: &plan,
        streams: &streams,
        property: req.options.property.as_deref(),
    };
    let (outcome, output, verification) = run(job, &req.input, dest.as_deref(), &req.destination)?;
    let mst_files = match (&req.mst_dir, outcome) {
        (Some(dir), Outcome::Done) => write_standalone(dir, &plan, &streams)?,
        _ => Vec::new(),
    };
    Ok(InstancesReport {
        input: req.input.clone(),
        output,
        outcome,
        plan,
        verification,
        mst_files,
    })
}

/// Removes instance transforms from a product.
pub fn instances_remove(req: &InstancesRemoveRequest) -> Result<InstancesReport> {
    let dest = destination_path(&req.input, &req.destination)?;
    let _lock = lock_for_edit(&req.input, &req.destination)?;
    crate::store::journal::check_readable(&req.input)?;
    let db = database::read(&req.input)?;
    let plan = plan_remove(&db, &req.ids, req.strip_signature)?;
    let job = InstancesJob {
        db: &db,
        plan: &plan,
        streams: &[],
        property: None,
    };
    let (outcome, output, verification) = run(job, &req.input, dest.as_deref(), &req.destination)?;
    Ok(InstancesReport {
        input: req.input.clone(),
        output,
        outcome,
        plan,
        verification,
        mst_files: Vec::new(),
    })
}
