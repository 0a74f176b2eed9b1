//! The report of `recover`: what was done to each patch's journal.

use std::path::PathBuf;

use serde::Serialize;

pub use crate::store::journal::Recovery;

/// One file recovered.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    /// The patch.
    pub file: PathBuf,
    /// What was done to its journal.
    pub recovery: Recovery,
}

/// Everything `recover` did, in the order the files were given.
#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    /// One entry per file.
    pub files: Vec<Recovered>,
}

/// Renders a recover report for people: one line per file.
pub fn render(r: &RecoverReport) -> String {
    let lines: Vec<String> = r
        .files
        .iter()
        .map(|f| {
            let what = match f.recovery {
                Recovery::Nothing => "nothing to recover",
                Recovery::Completed => "completed an interrupted in-place edit",
                Recovery::Discarded => {
                    "deleted an unfinished journal (the patch had not been touched)"
                }
            };
            format!("{}: {what}", f.file.display())
        })
        .collect();
    lines.join("\n")
}
