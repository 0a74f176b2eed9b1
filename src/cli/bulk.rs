//! `msp-retarget bulk`: retarget every patch a manifest names.

use std::path::PathBuf;

use clap::Args;
use msp_retarget::bulk::{self, BuiltinSources, BulkOptions};
use msp_retarget::{Result, report};

use crate::cli::progress::{self, BulkProgress};

/// Arguments of `bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// The manifest (TOML): patches, instances, output folder or in place.
    pub manifest: PathBuf,

    /// Process at most N files at once [default: the number of cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,

    /// Plan every file and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a JSON report on stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bulk`; `verbose` and `quiet` are the global options (quiet also
/// hides the progress bar).
pub fn run(a: &BulkArgs, verbose: u8, quiet: bool) -> Result<u8> {
    let opts = BulkOptions {
        jobs: a
            .jobs
            .map_or_else(BulkOptions::default_jobs, |j| j as usize),
        dry_run: a.dry_run,
    };
    let progress = BulkProgress::new(progress::wanted(verbose, quiet));
    let r = bulk::run(&a.manifest, &opts, &BuiltinSources, &progress)?;
    crate::emit_worded(
        "bulk",
        a.json,
        &r,
        report::bulk::render,
        &crate::cli::words::Manifest,
    );
    Ok(r.exit_code)
}
