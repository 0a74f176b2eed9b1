//! The report of an edit, retarget or untarget: what was planned, what
//! was written and what verification checked, and its rendering for
//! people.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::edit::engine::Outcome;
pub use crate::edit::gate::ResultCheck;
use crate::edit::isolate::{CodeSource, ComponentAction, ComponentDecision};
use crate::edit::plan::{InstanceStatus, PairAction, Plan};
pub use crate::edit::verify::Verification;
use crate::format::guid::Guid;

/// Everything a retarget did, for the human and JSON outputs.
#[derive(Debug, Clone, Serialize)]
pub struct RetargetReport {
    /// The patch read.
    pub input: PathBuf,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// How it ended.
    pub outcome: Outcome,
    /// The patch code.
    pub patch_code: Guid,
    /// Template's products before the retarget.
    pub targets_before: Vec<Guid>,
    /// Every change.
    pub plan: Plan,
    /// What verification checked (absent for dry runs and no-ops).
    pub verification: Option<Verification>,
}

/// What is removed for one product code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UntargetInstance {
    /// The product code.
    pub instance: Guid,
    /// Whether Template listed it (and no longer does).
    pub template_removed: bool,
    /// The transform substorages removed for it, mains and partners.
    pub removed_transforms: Vec<String>,
    /// Whether it was one of the patch's original targets (needs `force`).
    pub original_target: bool,
}

/// Everything an untarget did.
#[derive(Debug, Clone, Serialize)]
pub struct UntargetReport {
    /// The patch read.
    pub input: PathBuf,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// How it ended.
    pub outcome: Outcome,
    /// The patch code.
    pub patch_code: Guid,
    /// Per product code, in request order.
    pub instances: Vec<UntargetInstance>,
    /// Every change.
    pub plan: Plan,
    /// What verification checked.
    pub verification: Option<Verification>,
}

/// Lists longer than this (in bytes) are summarised after a real run.
const LIST_SHOWN_IN_FULL: usize = 400;

/// One component decision, for people. A reason for sharing is given in
/// full the first time only (`said`): the same sentence once per copy and
/// instance would bury the rest of the report.
fn component_line(c: &ComponentDecision, said: &mut Vec<String>) -> String {
    match &c.action {
        ComponentAction::Isolated { code, source } => format!(
            "component {} {} -> {code} ({})",
            c.component,
            c.code_before,
            match source {
                CodeSource::InstanceTransform => "the instance's own transform",
                CodeSource::MultiInstance => "MultiInstance code of the instance id",
            }
        ),
        ComponentAction::Shared { reason } if said.contains(reason) => format!(
            "component {} {} shared (as above)",
            c.component, c.code_before
        ),
        ComponentAction::Shared { reason } => {
            said.push(reason.clone());
            format!(
                "component {} {} shared: {reason}",
                c.component, c.code_before
            )
        }
    }
}

/// Renders a retarget report for people.
pub fn render_retarget(r: &RetargetReport) -> String {
    let mut s = String::new();
    let plan = &r.plan;
    let head = match (r.outcome, &r.output) {
        (Outcome::AlreadyDone, Some(out)) if *out != r.input => format!(
            "{} is already retargeted; copied unchanged to {}",
            r.input.display(),
            out.display()
        ),
        _ => head(
            "retargeted",
            "already retargeted, nothing to do",
            r.outcome,
            &r.input,
            r.output.as_deref(),
        ),
    };
    let _ = writeln!(s, "{head}");
    let _ = writeln!(s, "patch {}", r.patch_code);
    let mut said = Vec::new();
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
            for c in inst.components.iter().filter(|c| c.transform == d.source) {
                let _ = writeln!(s, "      {}", component_line(c, &mut said));
            }
        }
        for row in plan
            .sequence_rows_added
            .iter()
            .filter(|r| r.instance == inst.instance)
        {
            let _ = writeln!(
                s,
                "    MsiPatchSequence row added: family {} at {}{}",
                row.family,
                row.sequence,
                row.attributes
                    .map(|a| format!(", Attributes {a}"))
                    .unwrap_or_default()
            );
        }
    }
    for name in &plan.removed_streams {
        let _ = writeln!(
            s,
            "  removed signature stream {}: sign the patch again before shipping it (see \
             docs/signing.md)",
            crate::format::container::show_name(name)
        );
    }
    // A dry run shows the lists in full: that is what it is for. After a
    // real run, long lists are summarised (the JSON report has them).
    render_lists(&mut s, plan, r.outcome == Outcome::Planned);
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

/// The first line of an edit's report: what became of `input`, with the
/// edit's `done` verb and what it says when there was `nothing` to do.
fn head(
    done: &str,
    nothing: &str,
    outcome: Outcome,
    input: &std::path::Path,
    output: Option<&std::path::Path>,
) -> String {
    match (outcome, output) {
        (Outcome::Done, Some(out)) => {
            format!("{done} {} -> {}", input.display(), out.display())
        }
        (Outcome::Done, None) => format!("{done} {}", input.display()),
        (Outcome::Planned, _) => format!("dry run for {} (nothing written)", input.display()),
        (Outcome::AlreadyDone, _) => format!("{}: {nothing}", input.display()),
    }
}

/// The Template and LastSavedBy a plan leaves, where it changes them: in
/// `full`, or summarised when long.
fn render_lists(s: &mut String, plan: &Plan, full: bool) {
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
            let count = |t: &str| crate::format::summary::split_list(t).len();
            let _ = writeln!(
                s,
                "{label} {} entries ({} added)",
                count(after),
                count(after) - count(before)
            );
        }
    }
}

/// The check of the result: what was re-checked and what lint found new.
fn render_checked(s: &mut String, c: &crate::edit::gate::ResultCheck) {
    let _ = writeln!(
        s,
        "checked: {} product{} apply as planned (instances like their base, other targets \
         unchanged)",
        c.products_checked,
        if c.products_checked == 1 { "" } else { "s" }
    );
    for f in &c.new_findings {
        let severity = match f.severity {
            crate::rules::lint::Severity::Error => "error",
            crate::rules::lint::Severity::Warning => "warning",
            crate::rules::lint::Severity::Info => "note",
        };
        let _ = writeln!(s, "  {severity} [{}]: {}", f.code, f.message);
    }
}

/// Renders an untarget report for people.
pub fn render_untarget(r: &UntargetReport) -> String {
    let mut s = String::new();
    let head = head(
        "untargeted",
        "nothing to remove",
        r.outcome,
        &r.input,
        r.output.as_deref(),
    );
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
    // Removals shorten the lists: they are always shown in full.
    render_lists(&mut s, &r.plan, true);
    if let Some(v) = &r.verification {
        render_checked(&mut s, &v.checked);
    }
    s
}
