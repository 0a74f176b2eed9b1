//! The report of `instances add` and `instances remove`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::edit::engine::Outcome;
use crate::edit::instances::{InstancesPlan, InstancesVerification};
use crate::format::transform::RowKind;
use crate::format::transform::edit::Change;

/// What an instances edit did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct InstancesReport {
    /// The product read.
    pub input: PathBuf,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// How it ended.
    pub outcome: Outcome,
    /// What changes.
    pub plan: InstancesPlan,
    /// What verification checked (not for a dry run).
    pub verification: Option<InstancesVerification>,
    /// Stand-alone transforms written (`--mst-dir`).
    pub mst_files: Vec<PathBuf>,
}

/// The report for people.
pub fn render(r: &InstancesReport) -> String {
    let mut s = String::new();
    let plan = &r.plan;
    let head = match (r.outcome, &r.output) {
        (Outcome::Done, Some(out)) => format!("wrote {}", out.display()),
        (Outcome::Done, None) => format!("edited {}", r.input.display()),
        (Outcome::AlreadyDone, _) => format!("{}: nothing to do", r.input.display()),
        (Outcome::Planned, _) => format!("dry run for {} (nothing written)", r.input.display()),
    };
    let _ = writeln!(s, "{head}");
    let _ = writeln!(
        s,
        "base {}{}",
        plan.base_product_code,
        plan.base_product_name
            .as_deref()
            .map(|n| format!("  {n:?}"))
            .unwrap_or_default()
    );
    for i in &plan.added {
        let derived = if i.derived { " (derived)" } else { "" };
        let _ = writeln!(s, "  added {:<12} {}{derived}", i.id, i.product_code);
        for c in &i.changes {
            if let Change::RowAdded {
                table,
                key,
                row,
                columns,
            } = c
            {
                let key: Vec<String> = key.iter().map(ToString::to_string).collect();
                let cols: Vec<String> = columns.iter().map(|(n, v)| format!("{n} = {v}")).collect();
                let _ = writeln!(
                    s,
                    "    {table} {} [{}] {}",
                    match row {
                        RowKind::Insert => "insert",
                        RowKind::Update => "update",
                        RowKind::Delete => "delete",
                    },
                    key.join(", "),
                    cols.join(", ")
                );
            }
        }
    }
    for i in &plan.removed {
        let _ = writeln!(s, "  removed {:<10} {}", i.id, i.product_code);
    }
    for name in &plan.removed_streams {
        let _ = writeln!(
            s,
            "  removed signature stream {}: sign the product again before shipping it",
            crate::format::container::show_name(name)
        );
    }
    for f in &r.mst_files {
        let _ = writeln!(s, "  wrote {}", f.display());
    }
    if let Some(v) = &r.verification {
        let _ = writeln!(
            s,
            "verified: {} entries unchanged, {} transforms re-read",
            v.entries_unchanged, v.transforms_checked
        );
    }
    s
}
