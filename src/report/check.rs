//! The report of `check`: per product, whether the patch applies and why,
//! and what lint found; and its rendering for people.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Setting;
use crate::format::container::show_name;
use crate::format::guid::Guid;
pub use crate::rules::applicability::{
    CheckKind, CheckResult, CheckStatus, PairResult, PairStatus, ProductCheck, Verdict,
};
pub use crate::rules::lint::{Finding, Severity};

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
    pub signature: Option<crate::format::signature::SignatureReport>,
}

impl CheckReport {
    /// The report without the pairs that fail for a product only because
    /// they were made for another product code, nor their reasons: what
    /// `check` prints unless `--details` is given, so that a patch
    /// retargeted to many instances does not bury each product's answer
    /// under every other instance's pair. Each product counts what was
    /// left out in `other_pairs`; verdicts and applied pairs are unchanged.
    pub fn brief(mut self) -> CheckReport {
        let for_another = |p: &PairResult| {
            p.checks
                .iter()
                .any(|ch| ch.check == CheckKind::ProductCode && ch.status == CheckStatus::Failed)
        };
        for c in &mut self.products {
            // When every pair was made for another product, that is the
            // reason itself: keep them.
            if c.pairs.iter().all(for_another) {
                continue;
            }
            let mut hidden = std::collections::HashSet::new();
            let before = c.pairs.len();
            c.pairs.retain(|p| {
                let for_another = for_another(p);
                if for_another {
                    hidden.extend(p.checks.iter().map(|ch| ch.message.clone()));
                }
                !for_another
            });
            c.other_pairs += before - c.pairs.len();
            c.reasons.retain(|r| !hidden.contains(r));
        }
        self
    }

    /// 0 when the patch applies to every product, else 1.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            CheckOutcome::Applicable => 0,
            CheckOutcome::NotApplicable => 1,
        }
    }
}

fn outcome_mark(o: CheckStatus) -> &'static str {
    match o {
        CheckStatus::Passed => "ok  ",
        CheckStatus::Failed => "FAIL",
        CheckStatus::Unknown => "??  ",
        CheckStatus::Ignored => "info",
    }
}

/// Renders a check report for people: the patch, one line per product
/// (its verdict and the pair applied or the first reason), the details of
/// the products it does not apply to, lint, and a closing line naming
/// those products. With `details`, every pair of every product.
pub fn render(r: &CheckReport) -> String {
    render_with(r, false)
}

/// The verdict in capitals, as the text output writes it.
fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Applicable => "APPLICABLE",
        Verdict::NotApplicable => "NOT APPLICABLE",
        Verdict::Undetermined => "UNDETERMINED",
    }
}

/// One line: the verdict and the pair applied, or the first reason.
fn summary_line(c: &ProductCheck) -> String {
    let why = match (&c.applied, c.verdict) {
        (Some(a), Verdict::Applicable) => match &a.partner {
            Some(p) => format!("pair {} + {}", show_name(&a.main), show_name(p)),
            None => format!("pair {}", show_name(&a.main)),
        },
        _ => c.reasons.first().cloned().unwrap_or_default(),
    };
    format!("{}: {}: {why}", c.facts.code, verdict_word(c.verdict))
}

/// [`render`], with every pair of every product when `details` is set.
pub fn render_with(r: &CheckReport, details: bool) -> String {
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
    if details {
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
    } else {
        let _ = writeln!(s, "  pairs       {}", r.pairs.len());
    }
    let _ = writeln!(s);
    for c in &r.products {
        let _ = writeln!(s, "{}", summary_line(c));
    }
    for c in &r.products {
        if !details && c.verdict == Verdict::Applicable && c.warnings.is_empty() {
            continue;
        }
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
                let _ = writeln!(s, "    {} {}", outcome_mark(ch.status), ch.message);
            }
        }
        if c.other_pairs > 0 {
            let _ = writeln!(
                s,
                "  layer 2: {} more pair{} made for other product codes ({} lists them)",
                c.other_pairs,
                if c.other_pairs == 1 { "" } else { "s" },
                Setting::CheckDetails.api_words()
            );
        }
        let _ = writeln!(s, "  verdict: {}", verdict_word(c.verdict));
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
    let failing: Vec<String> = r
        .products
        .iter()
        .filter(|c| c.verdict != Verdict::Applicable)
        .map(|c| format!("{} ({})", c.facts.code, verdict_word(c.verdict)))
        .collect();
    let _ = write!(
        s,
        "\napplies to {applicable} of {} product{}",
        r.products.len(),
        if r.products.len() == 1 { "" } else { "s" }
    );
    if failing.is_empty() {
        let _ = writeln!(s);
    } else {
        let _ = writeln!(s, "; not to {}", failing.join(", "));
    }
    s
}
