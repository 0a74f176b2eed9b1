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

use std::path::Path;

use crate::error::Result;
use crate::product::facts::ProductFacts;
use crate::report::check::{CheckOutcome, CheckReport, PairInfo};

use crate::rules::applicability::{ProductCheck, Verdict, evaluate_pairs};
use crate::rules::lint::{PatchView, lint_view, read_lenient_in};

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
        targets: crate::format::summary::split_list(&view.template)
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
    crate::store::journal::check_readable(patch)?;
    // Opened once, with the reader that reads only what is asked of it.
    let mut cf = crate::format::container::open_lazy(patch)?;
    let view = read_lenient_in(&mut cf, patch)?;
    let mut r = report(&view, products);
    // Rows keyed to other products make the patch sequence differently on
    // this one; a database that cannot be read is `inspect`'s to report.
    if let Ok(tables) = crate::patch::sequencing::read_tables_in(&mut cf, patch) {
        for c in &mut r.products {
            if let Some(w) =
                crate::rules::sequence::row_warning(&tables.rows, &view.targets, c.facts.code)
            {
                c.warnings.push(w);
            }
        }
    }
    Ok(r)
}
