//! `check`: will this patch install on that product, and why — Windows
//! Installer's documented applicability rules ([`rules`]) for each
//! product, plus lint of the patch itself ([`lint`]).
//!
//! Library use: [`evaluate`] checks an opened [`Patch`] against one
//! product's facts and [`lint_patch`] lints it, so that `retarget` can
//! refuse to write a patch that would not apply to a requested instance.
//! [`check_file`] is the `check` command: it reads the patch leniently, so
//! that a broken patch is still evaluated as far as it can be and its
//! defects are reported as findings.
//!
//! [`Patch`]: crate::patch::Patch

pub mod gate;
pub mod lint;
pub mod rules;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::container::show_name;
use crate::error::Result;
use crate::guid::Guid;
use crate::product::ProductFacts;

pub use lint::{Finding, PatchView, Severity, lint_patch, lint_view, read_lenient};
pub use rules::{
    CheckKind, CheckResult, Outcome, PairResult, PairStatus, ProductCheck, Verdict, evaluate,
    evaluate_pairs,
};

/// How a `check` came out over all products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The patch applies to every product given.
    Applicable,
    /// It does not apply (or cannot be shown to apply) to at least one.
    NotApplicable,
}

/// One pair as the patch lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairInfo {
    /// Main transform.
    pub main: String,
    /// Its partner.
    pub partner: Option<String>,
    /// From code.
    pub made_for: Guid,
    /// From version.
    pub base_version: String,
    /// Names of the validation flags set.
    pub validation: Vec<String>,
}

/// Everything `check` reports; the JSON and the text render this.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Over all products.
    pub outcome: CheckOutcome,
    /// The patch.
    pub patch: PathBuf,
    /// Its patch code, when readable.
    pub patch_code: Option<Guid>,
    /// Template entries as stored.
    pub targets: Vec<String>,
    /// The readable pairs, in LastSavedBy order.
    pub pairs: Vec<PairInfo>,
    /// One result per product, in the order given.
    pub products: Vec<ProductCheck>,
    /// Lint findings.
    pub lint: Vec<Finding>,
    /// The Authenticode signature, when the patch has a readable one:
    /// valid or stale, algorithm, signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signature::SignatureReport>,
}

impl CheckReport {
    /// 0 when the patch applies to every product, else 1.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            CheckOutcome::Applicable => 0,
            CheckOutcome::NotApplicable => 1,
        }
    }
}

/// Builds the report for a view and products.
pub fn report(view: &PatchView, products: &[ProductFacts]) -> CheckReport {
    let checks: Vec<ProductCheck> = products
        .iter()
        .map(|f| evaluate_pairs(&view.targets, &view.pairs, f))
        .collect();
    let outcome = if checks.iter().all(|c| c.verdict == Verdict::Applicable) {
        CheckOutcome::Applicable
    } else {
        CheckOutcome::NotApplicable
    };
    CheckReport {
        outcome,
        patch: view.path.clone(),
        patch_code: view.patch_code,
        targets: crate::summary::split_list(&view.template)
            .into_iter()
            .map(str::to_string)
            .collect(),
        pairs: view
            .pairs
            .iter()
            .map(|p| PairInfo {
                main: p.main.name.clone(),
                partner: p.partner.as_ref().map(|t| t.name.clone()),
                made_for: p.main.revision.from.code,
                base_version: p.main.revision.from.version.clone(),
                validation: p.main.validation().names(),
            })
            .collect(),
        products: checks,
        lint: lint_view(view),
        signature: view.signature.report().cloned(),
    }
}

/// The `check` command: reads `patch` leniently, evaluates it for every
/// product and lints it. Errors only when the file is not a readable
/// patch at all.
pub fn check_file(patch: &Path, products: &[ProductFacts]) -> Result<CheckReport> {
    let view = read_lenient(patch)?;
    Ok(report(&view, products))
}

fn outcome_mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "ok  ",
        Outcome::Failed => "FAIL",
        Outcome::Unknown => "??  ",
        Outcome::Ignored => "info",
    }
}

/// Renders a check report for people.
pub fn render(r: &CheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "patch {}", r.patch.display());
    if let Some(c) = r.patch_code {
        let _ = writeln!(s, "  patch code  {c}");
    }
    let _ = writeln!(
        s,
        "  Template    {}",
        if r.targets.is_empty() {
            "(empty)".to_string()
        } else {
            r.targets.join(" ")
        }
    );
    for p in &r.pairs {
        let partner = p
            .partner
            .as_deref()
            .map(|q| format!(" + {}", show_name(q)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  pair        {}{partner}: made for {} {}, checks {}",
            show_name(&p.main),
            p.made_for,
            p.base_version,
            if p.validation.is_empty() {
                "nothing".to_string()
            } else {
                p.validation.join(", ")
            }
        );
    }
    for c in &r.products {
        let _ = writeln!(s);
        let _ = writeln!(s, "product {} ({})", c.facts.code, c.facts.source);
        let _ = writeln!(s, "  facts: {}", c.facts.describe());
        let _ = writeln!(
            s,
            "  layer 1 (Template): {}",
            if c.layer1 { "listed" } else { "NOT listed" }
        );
        for p in &c.pairs {
            let status = match p.status {
                PairStatus::Valid => "validates",
                PairStatus::Invalid => "does not validate",
                PairStatus::Undetermined => "cannot tell",
            };
            let _ = writeln!(s, "  layer 2 {}: {status}", show_name(&p.name));
            if p.checks.is_empty() {
                let _ = writeln!(s, "    (checks nothing: valid for every product)");
            }
            for ch in &p.checks {
                let _ = writeln!(s, "    {} {}", outcome_mark(ch.outcome), ch.message);
            }
        }
        let verdict = match c.verdict {
            Verdict::Applicable => "APPLICABLE",
            Verdict::NotApplicable => "NOT APPLICABLE",
            Verdict::Undetermined => "UNDETERMINED",
        };
        let _ = writeln!(s, "  verdict: {verdict}");
        for reason in &c.reasons {
            let _ = writeln!(s, "    - {reason}");
        }
        for w in &c.warnings {
            let _ = writeln!(s, "    warning: {w}");
        }
    }
    let _ = writeln!(s);
    if r.lint.is_empty() {
        let _ = writeln!(s, "lint: no findings");
    } else {
        let _ = writeln!(s, "lint ({} findings):", r.lint.len());
        for f in &r.lint {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(s, "  {sev:<7} [{}] {}", f.code, f.message);
        }
    }
    let applicable = r
        .products
        .iter()
        .filter(|c| c.verdict == Verdict::Applicable)
        .count();
    let _ = writeln!(
        s,
        "\napplies to {applicable} of {} product{}",
        r.products.len(),
        if r.products.len() == 1 { "" } else { "s" }
    );
    s
}
