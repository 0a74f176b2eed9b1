//! What a bulk run did: one entry per file, totals and the exit code, for
//! the summary table and the JSON report (`command: "bulk"`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edit::engine::Outcome;
use crate::edit::plan::PairAction;
use crate::error::{Error, ErrorKind};
use crate::report::edit::RetargetReport;
use crate::report::{ErrorInfo, ErrorReport};

/// How one file of a bulk run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// Retargeted and written.
    Done,
    /// Nothing needed to change (with an output folder, the output is a
    /// copy of the input).
    AlreadyDone,
    /// Dry run: the plan was computed, nothing was written.
    Planned,
    /// Refused on purpose (signed patch, major upgrade, ambiguous base).
    Refused,
    /// Failed (bad input, I/O, verification); nothing was written for it.
    Error,
}

impl FileOutcome {
    /// The words used in the summary table.
    pub fn words(self) -> &'static str {
        match self {
            FileOutcome::Done => "done",
            FileOutcome::AlreadyDone => "already done",
            FileOutcome::Planned => "planned",
            FileOutcome::Refused => "refused",
            FileOutcome::Error => "error",
        }
    }
}

/// One file of a bulk run.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// The patch read.
    pub input: PathBuf,
    /// Where its result goes: the file in the output folder, or the input
    /// itself in place.
    pub output: PathBuf,
    /// Whether `output` was written by this run.
    pub written: bool,
    /// How it ended.
    pub outcome: FileOutcome,
    /// The retarget's report, when it did not fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RetargetReport>,
    /// The refusal or error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl FileReport {
    /// The entry of a file whose retarget returned.
    pub fn new(input: &Path, output: &Path, result: Result<RetargetReport, Error>) -> FileReport {
        match result {
            Ok(r) => FileReport {
                input: input.to_path_buf(),
                output: output.to_path_buf(),
                written: r.output.is_some(),
                outcome: match r.outcome {
                    Outcome::Done => FileOutcome::Done,
                    Outcome::AlreadyDone => FileOutcome::AlreadyDone,
                    Outcome::Planned => FileOutcome::Planned,
                },
                report: Some(r),
                error: None,
            },
            Err(e) => FileReport {
                input: input.to_path_buf(),
                output: output.to_path_buf(),
                written: false,
                outcome: if e.kind() == ErrorKind::Refused {
                    FileOutcome::Refused
                } else {
                    FileOutcome::Error
                },
                report: None,
                error: Some(ErrorReport::from_error(&e).error),
            },
        }
    }
}

/// How many files ended each way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Every file.
    pub files: usize,
    /// Retargeted and written.
    pub done: usize,
    /// Nothing needed to change.
    pub already_done: usize,
    /// Planned (dry run).
    pub planned: usize,
    /// Refused.
    pub refused: usize,
    /// Failed.
    pub error: usize,
}

impl Totals {
    /// Counts the outcomes of `files`.
    pub fn of(files: &[FileReport]) -> Totals {
        let mut t = Totals {
            files: files.len(),
            ..Totals::default()
        };
        for f in files {
            *match f.outcome {
                FileOutcome::Done => &mut t.done,
                FileOutcome::AlreadyDone => &mut t.already_done,
                FileOutcome::Planned => &mut t.planned,
                FileOutcome::Refused => &mut t.refused,
                FileOutcome::Error => &mut t.error,
            } += 1;
        }
        t
    }

    /// The exit code: 2 if any file failed, 1 if any was refused, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.error > 0 {
            2
        } else if self.refused > 0 {
            1
        } else {
            0
        }
    }
}

/// Everything a bulk run did.
#[derive(Debug, Serialize)]
pub struct BulkReport {
    /// The manifest.
    pub manifest: PathBuf,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// How many files were processed at once.
    pub jobs: usize,
    /// How many instances the manifest gave.
    pub instances: usize,
    /// One entry per file, sorted by input path.
    pub files: Vec<FileReport>,
    /// Outcome counts.
    pub totals: Totals,
    /// The process exit code this run ends with.
    pub exit_code: u8,
}

impl BulkReport {
    /// Builds the report; `files` must already be sorted.
    pub fn new(
        manifest: &Path,
        dry_run: bool,
        jobs: usize,
        instances: usize,
        files: Vec<FileReport>,
    ) -> BulkReport {
        let totals = Totals::of(&files);
        BulkReport {
            manifest: manifest.to_path_buf(),
            dry_run,
            jobs,
            instances,
            exit_code: totals.exit_code(),
            files,
            totals,
        }
    }
}

/// The detail column of one file.
fn detail(f: &FileReport) -> String {
    if let Some(e) = &f.error {
        // The file column already names the input.
        return match (&e.file, &e.part) {
            (Some(file), Some(part)) if *file == f.input => format!("{part}: {}", e.reason),
            (Some(file), None) if *file == f.input => e.reason.clone(),
            _ => e.message.clone(),
        };
    }
    let Some(r) = &f.report else {
        return String::new();
    };
    let copies = r
        .plan
        .instances
        .iter()
        .flat_map(|i| &i.pairs)
        .filter(|d| matches!(d.action, PairAction::Copy { .. }))
        .count();
    let added = r.plan.instances.iter().filter(|i| i.template_added).count();
    let what = format!(
        "{copies} transform pair{} copied, {added} instance{} added to Template",
        if copies == 1 { "" } else { "s" },
        if added == 1 { "" } else { "s" }
    );
    let in_place = f.output == f.input;
    match (f.outcome, in_place) {
        (FileOutcome::Done, true) => format!("replaced in place: {what}"),
        (FileOutcome::Done, false) => format!("-> {}: {what}", f.output.display()),
        (FileOutcome::AlreadyDone, true) => "nothing to change".into(),
        (FileOutcome::AlreadyDone, false) => {
            format!("-> {} (copied unchanged)", f.output.display())
        }
        (FileOutcome::Planned, true) => format!("would replace in place: {what}"),
        (FileOutcome::Planned, false) => format!("would write {}: {what}", f.output.display()),
        _ => String::new(),
    }
}

/// Renders the summary table for people.
pub fn render(r: &BulkReport) -> String {
    let mut s = String::new();
    let rows: Vec<(String, &str, String)> = r
        .files
        .iter()
        .map(|f| (f.input.display().to_string(), f.outcome.words(), detail(f)))
        .collect();
    let w_file = rows
        .iter()
        .map(|r| r.0.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    let w_outcome = rows.iter().map(|r| r.1.len()).chain([7]).max().unwrap_or(7);
    let _ = writeln!(s, "{:<w_file$}  {:<w_outcome$}  DETAIL", "FILE", "OUTCOME");
    for (file, outcome, detail) in &rows {
        let line = format!("{file:<w_file$}  {outcome:<w_outcome$}  {detail}");
        let _ = writeln!(s, "{}", line.trim_end());
    }
    let t = &r.totals;
    let mut parts = Vec::new();
    for (n, words) in [
        (t.done, "done"),
        (t.already_done, "already done"),
        (t.planned, "planned"),
        (t.refused, "refused"),
        (t.error, if t.error == 1 { "error" } else { "errors" }),
    ] {
        if n > 0 {
            parts.push(format!("{n} {words}"));
        }
    }
    let _ = writeln!(
        s,
        "{} file{}{}: {}{}",
        t.files,
        if t.files == 1 { "" } else { "s" },
        if r.dry_run {
            " (dry run, nothing written)"
        } else {
            ""
        },
        parts.join(", "),
        if r.exit_code == 0 {
            String::new()
        } else {
            format!("; exit code {}", r.exit_code)
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(input: &str, e: Error) -> FileReport {
        FileReport::new(Path::new(input), Path::new("out/x.msp"), Err(e))
    }

    #[test]
    fn exit_code_is_the_worst_outcome() {
        let refused = || failed("a.msp", Error::refused("signed"));
        let broken = || {
            failed(
                "b.msp",
                Error::format("not a compound file").in_file("b.msp"),
            )
        };
        assert_eq!(Totals::of(&[]).exit_code(), 0);
        assert_eq!(Totals::of(&[refused()]).exit_code(), 1);
        let t = Totals::of(&[refused(), broken()]);
        assert_eq!(t.exit_code(), 2);
        assert_eq!((t.files, t.refused, t.error), (2, 1, 1));
    }

    #[test]
    fn the_table_names_each_file_once() {
        let files = vec![
            failed(
                "b.msp",
                Error::format("not a compound file")
                    .at("header")
                    .in_file("b.msp"),
            ),
            failed("c.msp", Error::refused("signed")),
        ];
        let text = render(&BulkReport::new(Path::new("m.toml"), false, 2, 1, files));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "FILE   OUTCOME  DETAIL");
        assert_eq!(lines[1], "b.msp  error    header: not a compound file");
        assert_eq!(lines[2], "c.msp  refused  signed");
        assert_eq!(lines[3], "2 files: 1 refused, 1 error; exit code 2");
    }
}
