//! The one report model behind both outputs: human-readable text and JSON.
//!
//! JSON documents always carry `schema_version` and `command`, and use
//! lower-case snake_case tags; a test pins their shape. Errors and refusals
//! are reported in the same envelope, so a pipeline reading `--json` output
//! always gets one JSON document.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::plan::{InstanceStatus, PairAction};
use crate::retarget::{Outcome, RetargetReport};
use crate::untarget::UntargetReport;

/// Version of the JSON documents; bumped when a field changes meaning or
/// disappears (adding fields does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON envelope: every document has these two fields first.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The subcommand that produced it.
    pub command: &'a str,
    /// The report itself.
    #[serde(flatten)]
    pub body: &'a T,
}

/// Renders any report as pretty JSON in the envelope.
pub fn to_json<T: Serialize>(command: &str, body: &T) -> String {
    let env = Envelope {
        schema_version: SCHEMA_VERSION,
        command,
        body,
    };
    serde_json::to_string_pretty(&env).unwrap_or_else(|e| {
        format!("{{\"schema_version\":{SCHEMA_VERSION},\"command\":\"{command}\",\"outcome\":\"error\",\"error\":{{\"reason\":\"cannot serialize the report: {e}\"}}}}")
    })
}

/// An error or refusal, as JSON reports it.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    /// `refused` or `error`.
    pub outcome: &'static str,
    /// The details.
    pub error: ErrorInfo,
}

/// The parts of an [`Error`].
#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    /// Phase of the failure.
    pub kind: ErrorKind,
    /// The file, when known.
    pub file: Option<PathBuf>,
    /// The part of the file, when known.
    pub part: Option<String>,
    /// The reason.
    pub reason: String,
    /// The full one-line message, as printed on stderr.
    pub message: String,
}

impl ErrorReport {
    /// Builds the report of an error.
    pub fn from_error(e: &Error) -> ErrorReport {
        ErrorReport {
            outcome: if e.kind() == ErrorKind::Refused {
                "refused"
            } else {
                "error"
            },
            error: ErrorInfo {
                kind: e.kind(),
                file: e.file().map(PathBuf::from),
                part: e.part().map(str::to_string),
                reason: e.reason().to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// Lists longer than this (in bytes) are summarised after a real run.
const LIST_SHOWN_IN_FULL: usize = 400;

/// Renders a retarget report for people.
pub fn render_retarget(r: &RetargetReport) -> String {
    let mut s = String::new();
    let plan = &r.plan;
    let head = match (r.outcome, &r.output) {
        (Outcome::Done, Some(out)) => {
            format!("retargeted {} -> {}", r.input.display(), out.display())
        }
        (Outcome::AlreadyDone, Some(out)) if *out != r.input => format!(
            "{} is already retargeted; copied unchanged to {}",
            r.input.display(),
            out.display()
        ),
        (Outcome::AlreadyDone, _) => {
            format!("{}: already retargeted, nothing to do", r.input.display())
        }
        (Outcome::Planned, _) => format!("dry run for {} (nothing written)", r.input.display()),
        (Outcome::Done, None) => format!("retargeted {}", r.input.display()),
    };
    let _ = writeln!(s, "{head}");
    let _ = writeln!(s, "patch {}", r.patch_code);
    for inst in &plan.instances {
        let id = inst
            .id
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        let state = match inst.status {
            InstanceStatus::AlreadyDone => "already done",
            InstanceStatus::Retarget => {
                if inst.template_added {
                    "added to Template"
                } else {
                    "already in Template"
                }
            }
        };
        let _ = writeln!(
            s,
            "  instance {}{id} of base {}: {state}",
            inst.instance, inst.base
        );
        for d in &inst.pairs {
            let line = match &d.action {
                PairAction::Copy { name, partner } => match partner {
                    Some(p) => format!("copy {} -> {name}, #{} -> {p}", d.source, d.source),
                    None => format!("copy {} -> {name}", d.source),
                },
                PairAction::NotNeeded { reason } => format!("no copy of {}: {reason}", d.source),
                PairAction::AlreadyPresent { name } => {
                    format!("{} already has its copy {name}", d.source)
                }
            };
            let _ = writeln!(s, "    {line}");
        }
    }
    for name in &plan.removed_streams {
        let _ = writeln!(
            s,
            "  removed signature stream {}: sign the patch again before shipping it (see \
             docs/signing.md)",
            crate::container::show_name(name)
        );
    }
    // A dry run shows the lists in full: that is what it is for. After a
    // real run, long lists are summarised (the JSON report has them).
    let full = r.outcome == Outcome::Planned;
    for (label, before, after) in [
        ("Template:   ", &plan.template_before, &plan.template_after),
        (
            "LastSavedBy:",
            &plan.last_saved_by_before,
            &plan.last_saved_by_after,
        ),
    ] {
        if after == before {
            continue;
        }
        if full || after.len() <= LIST_SHOWN_IN_FULL {
            let _ = writeln!(s, "{label} {after}");
        } else {
            let count = |t: &str| crate::summary::split_list(t).len();
            let _ = writeln!(
                s,
                "{label} {} entries ({} added)",
                count(after),
                count(after) - count(before)
            );
        }
    }
    if let Some(v) = &r.verification {
        let _ = writeln!(
            s,
            "verified: {} entries unchanged, {} entries added, {} bytes compared",
            v.unchanged_entries, v.added_entries, v.bytes_compared
        );
        render_checked(&mut s, &v.checked);
    }
    s
}

/// The check of the result: what was re-checked and what lint found new.
fn render_checked(s: &mut String, c: &crate::check::gate::ResultCheck) {
    let _ = writeln!(
        s,
        "checked: {} product{} apply as planned (instances like their base, other targets \
         unchanged)",
        c.products_checked,
        if c.products_checked == 1 { "" } else { "s" }
    );
    for f in &c.new_findings {
        let severity = match f.severity {
            crate::check::Severity::Error => "error",
            crate::check::Severity::Warning => "warning",
            crate::check::Severity::Info => "note",
        };
        let _ = writeln!(s, "  {severity} [{}]: {}", f.code, f.message);
    }
}

/// Renders an untarget report for people.
pub fn render_untarget(r: &UntargetReport) -> String {
    let mut s = String::new();
    let head = match (r.outcome, &r.output) {
        (Outcome::Done, Some(out)) => {
            format!("untargeted {} -> {}", r.input.display(), out.display())
        }
        (Outcome::Planned, _) => format!("dry run for {} (nothing written)", r.input.display()),
        (Outcome::AlreadyDone, _) => format!("{}: nothing to remove", r.input.display()),
        (Outcome::Done, None) => format!("untargeted {}", r.input.display()),
    };
    let _ = writeln!(s, "{head}");
    for i in &r.instances {
        let what = if i.removed_transforms.is_empty() {
            "no transforms".to_string()
        } else {
            i.removed_transforms.join(", ")
        };
        let template = if i.template_removed {
            "removed from Template"
        } else {
            "not in Template"
        };
        let original = if i.original_target {
            " (an original target, forced)"
        } else {
            ""
        };
        let _ = writeln!(s, "  {}{original}: {template}; removed {what}", i.instance);
    }
    if r.plan.template_after != r.plan.template_before {
        let _ = writeln!(s, "Template:    {}", r.plan.template_after);
    }
    if r.plan.last_saved_by_after != r.plan.last_saved_by_before {
        let _ = writeln!(s, "LastSavedBy: {}", r.plan.last_saved_by_after);
    }
    if let Some(v) = &r.verification {
        render_checked(&mut s, &v.checked);
    }
    s
}
