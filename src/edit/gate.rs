//! The check an edit runs on its own result before committing it: the
//! written patch, re-opened, must lint no worse than the input and must
//! apply to every product exactly as the plan intends.
//!
//! Instances are judged against their base product: an instance must get
//! the verdict its base product gets from the input, with the instance's
//! copy of the pair that applies to the base (or that very pair, when it
//! does not check the product code). Comparing with the base rather than
//! demanding "applicable" keeps the check right for patches whose pairs
//! do not validate for the facts they were made for (a version relation
//! of `<`, say): the tool promises that an instance behaves like its base,
//! nothing more. Every product the input targets, and that the result
//! still targets, must keep the verdict and the pair it had.
//!
//! The facts tried for a product are those each of its pairs was made for
//! ([`made_for`]): a product with an RTM and an SP1 baseline is checked
//! at both versions.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::edit::copy::{CopyOf, copy_of};
use crate::edit::plan::Plan;
use crate::error::{Error, Result};
use crate::format::guid::Guid;
use crate::format::summary::Validation;
use crate::format::transform::edit::Change;
use crate::patch::{Pair, Patch};
use crate::product::facts::ProductFacts;
use crate::rules::applicability::{ProductCheck, Verdict, evaluate_iter, made_for};
use crate::rules::lint::{Finding, PatchView, Severity, code, lint_patch, lint_view};

/// What the check of a result found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResultCheck {
    /// Products checked (each with every set of facts its pairs were made
    /// for): the requested instances and the targets kept.
    pub products_checked: usize,
    /// Lint findings of the result the input did not have. Only warnings
    /// and notes: a new error refuses the result.
    pub new_findings: Vec<Finding>,
}

/// Checks `output`, the written result of `plan` on `input` (as a view:
/// by then the result's compound file has served and is closed). With
/// `allow_ambiguity` (`--copy-all`, which copies pairs that validate for
/// every product on purpose), a product for which more pairs validate
/// than before is reported, not refused.
pub fn check_result<F>(
    input: &Patch<F>,
    output: &PatchView,
    plan: &Plan,
    allow_ambiguity: bool,
) -> Result<ResultCheck> {
    let mut report = ResultCheck {
        new_findings: new_findings(input, output)?,
        ..ResultCheck::default()
    };
    // The row changes the plan declares, by copy name: looked up for
    // every instance, so indexed once.
    let declared: HashMap<&str, &[Change]> = plan
        .copies
        .iter()
        .map(|c| (c.name.as_str(), c.rows.as_slice()))
        .collect();
    let before = Index::new(&input.targets, &input.pairs);
    let after = Index::new(&output.targets, &output.pairs);
    let mut problems: Vec<String> = Vec::new();

    // Requested instances: like their base. Many instances share a base,
    // whose verdicts on the input are computed once.
    let mut base_checks: HashMap<Guid, Vec<(ProductFacts, ProductCheck)>> = HashMap::new();
    for inst in &plan.instances {
        let base = base_checks.entry(inst.base).or_insert_with(|| {
            before
                .facts_of(inst.base)
                .into_iter()
                .map(|f| {
                    let check = before.evaluate(&f);
                    (f, check)
                })
                .collect()
        });
        for (facts, was) in base.iter() {
            let mine = ProductFacts {
                code: inst.instance,
                upgrade_code: inst.upgrade_code.or(facts.upgrade_code),
                source: format!("instance {}", inst.instance),
                ..facts.clone()
            };
            let now = after.evaluate(&mine);
            report.products_checked += 1;
            let what = format!(
                "instance {} (like its base {} at version {})",
                inst.instance,
                inst.base,
                facts.version.as_deref().unwrap_or("?")
            );
            if let Some(p) = compare(was, &now, allow_ambiguity, |applied| {
                was.applied.as_ref().is_some_and(|w| {
                    w.main == applied
                        || match (before.pair(&w.main), after.pair(applied)) {
                            (Some(src), Some(copy)) => {
                                copy_of(src, copy, inst.instance, inst.upgrade_code)
                                    .is_some_and(|d| declared_as(&declared, copy, &d))
                            }
                            _ => false,
                        }
                })
            }) {
                problems.push(format!("{what}: {p}"));
            }
        }
    }

    // Targets kept, other than the instances just checked: unchanged.
    let kept: HashSet<Guid> = output.targets.iter().copied().collect();
    let mut done: HashSet<Guid> = plan.instances.iter().map(|i| i.instance).collect();
    for t in input.targets.iter().copied() {
        if !kept.contains(&t) || !done.insert(t) {
            continue;
        }
        for facts in before.facts_of(t) {
            let was = before.evaluate(&facts);
            let now = after.evaluate(&facts);
            report.products_checked += 1;
            let what = format!(
                "target {t} at version {}",
                facts.version.as_deref().unwrap_or("?")
            );
            if let Some(p) = compare(&was, &now, allow_ambiguity, |applied| {
                was.applied.as_ref().is_some_and(|w| w.main == applied)
            }) {
                problems.push(format!("{what}: {p}"));
            }
        }
    }

    if problems.is_empty() {
        return Ok(report);
    }
    let shown = problems.len().min(5);
    let more = problems.len() - shown;
    let mut msg = format!(
        "the result would not apply as planned, so it was not written: {}",
        problems.get(..shown).unwrap_or_default().join("; ")
    );
    if more > 0 {
        msg.push_str(&format!("; and {more} more"));
    }
    Err(Error::refused(msg))
}

/// Whether the copy `copy`, recognised with the row changes `found`, has
/// the ones the plan declares for it; a copy the plan did not make (one
/// already in the input) has whatever it had.
fn declared_as(declared: &HashMap<&str, &[Change]>, copy: &Pair, found: &CopyOf) -> bool {
    match declared.get(copy.main.name.as_str()) {
        None => true,
        Some(main) => {
            let partner = copy
                .partner
                .as_ref()
                .and_then(|p| declared.get(p.name.as_str()).copied())
                .unwrap_or_default();
            found.matches(main, partner)
        }
    }
}

/// Lint findings of `output` that `input` does not have; an error among
/// them refuses the result.
fn new_findings<F>(input: &Patch<F>, output: &PatchView) -> Result<Vec<Finding>> {
    refuse_new_errors(&lint_patch(input), lint_view(output))
}

fn refuse_new_errors(before: &[Finding], after: Vec<Finding>) -> Result<Vec<Finding>> {
    let key = |f: &Finding| (f.code, f.subject.clone(), f.message.clone());
    let old: HashSet<_> = before.iter().map(key).collect();
    let new: Vec<Finding> = after
        .into_iter()
        .filter(|f| !old.contains(&key(f)))
        // A signature stripped on request is reported by the plan.
        .filter(|f| !code::is_signature(f.code))
        .collect();
    let errors: Vec<String> = new
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{} ({})", f.message, f.code))
        .collect();
    if !errors.is_empty() {
        return Err(Error::refused(format!(
            "the result fails lint, so it was not written: {}",
            errors.join("; ")
        )));
    }
    Ok(new)
}

/// What went wrong between the verdict before and after, if anything.
/// `expected` tells whether the pair applied after is the right one.
fn compare(
    was: &ProductCheck,
    now: &ProductCheck,
    allow_ambiguity: bool,
    expected: impl Fn(&str) -> bool,
) -> Option<String> {
    let verdict = |v: Verdict| match v {
        Verdict::Applicable => "applies to it",
        Verdict::NotApplicable => "does not apply to it",
        Verdict::Undetermined => "cannot be decided for it",
    };
    if now.verdict != was.verdict {
        let why = now.reasons.first().map(String::as_str).unwrap_or("");
        return Some(format!(
            "the patch {} (before: {}){}{why}",
            verdict(now.verdict),
            verdict(was.verdict),
            if why.is_empty() { "" } else { ": " }
        ));
    }
    match (&was.applied, &now.applied) {
        (Some(_), Some(a)) if !expected(&a.main) => {
            return Some(format!(
                "{} would apply instead of {}",
                a.main,
                was.applied.as_ref().map_or("", |w| w.main.as_str())
            ));
        }
        (Some(w), None) => return Some(format!("{} no longer validates", w.main)),
        _ => {}
    }
    if now.also_valid.len() > was.also_valid.len() && !allow_ambiguity {
        return Some(format!(
            "{} validate as well as {}: ambiguous",
            now.also_valid.join(", "),
            now.applied.as_ref().map_or("", |a| a.main.as_str())
        ));
    }
    None
}

/// A patch's pairs indexed for checking many products: only pairs made for
/// a product's code, or that do not check the product code, can validate
/// for it.
struct Index<'a> {
    targets: &'a [Guid],
    pairs: &'a [Pair],
    by_code: HashMap<Guid, Vec<usize>>,
    any_code: Vec<usize>,
    /// Every pair by the product it was made for, checking the product
    /// code or not.
    by_base: HashMap<Guid, Vec<usize>>,
    by_name: HashMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    fn new(targets: &'a [Guid], pairs: &'a [Pair]) -> Index<'a> {
        let mut by_code: HashMap<Guid, Vec<usize>> = HashMap::new();
        let mut any_code = Vec::new();
        let mut by_name = HashMap::new();
        let mut by_base: HashMap<Guid, Vec<usize>> = HashMap::new();
        for (i, p) in pairs.iter().enumerate() {
            by_base.entry(p.base()).or_default().push(i);
            if p.main.validation().has(Validation::PRODUCT) {
                by_code.entry(p.base()).or_default().push(i);
            } else {
                any_code.push(i);
            }
            by_name.entry(p.main.name.as_str()).or_insert(i);
        }
        Index {
            targets,
            pairs,
            by_code,
            any_code,
            by_base,
            by_name,
        }
    }

    fn pair(&self, name: &str) -> Option<&'a Pair> {
        self.by_name.get(name).and_then(|i| self.pairs.get(*i))
    }

    /// The distinct facts the pairs made for `code` were made for; a
    /// product with no pair of its own is tried with its code alone.
    fn facts_of(&self, code: Guid) -> Vec<ProductFacts> {
        let mut seen = HashSet::new();
        let mut out: Vec<ProductFacts> = self
            .by_base
            .get(&code)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|i| self.pairs.get(*i))
            .map(made_for)
            .filter(|f| seen.insert((f.version.clone(), f.language, f.upgrade_code)))
            .collect();
        if out.is_empty() {
            out.push(ProductFacts::with_code(code));
        }
        out
    }

    fn evaluate(&self, facts: &ProductFacts) -> ProductCheck {
        let mine = self.by_code.get(&facts.code).map_or(&[][..], Vec::as_slice);
        let mut indices: Vec<usize> = mine.iter().chain(&self.any_code).copied().collect();
        indices.sort_unstable();
        evaluate_iter(
            self.targets,
            indices.iter().filter_map(|i| self.pairs.get(*i)),
            facts,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::plan::PlanOptions;
    use crate::edit::verify::Verification;
    use crate::edit::verify::testing::apply_to_copy;
    use crate::error::ErrorKind;
    use crate::testkit::synth::PatchSpec;

    const I1: &str = "{11111111-1111-4111-8111-111111111111}";
    const I2: &str = "{22222222-2222-4222-8222-222222222222}";

    /// Plans `requests` on a patch built from `spec`, lets `sabotage` change
    /// the plan (as a faulty planner would), applies it to a copy and
    /// verifies the copy: verification compares the file with the plan, so
    /// only the check of the result can catch a plan that is wrong.
    fn run(
        spec: &PatchSpec,
        requests: &[&str],
        options: &PlanOptions,
        allow_ambiguity: bool,
        sabotage: impl FnOnce(&mut Plan),
    ) -> Result<Verification> {
        let mut a = apply_to_copy(spec, requests, options, sabotage);
        crate::edit::verify::verify_file(
            &mut a.patch,
            &a.plan,
            &a.output,
            Some(&a.written),
            allow_ambiguity,
        )
    }

    fn refusal(r: Result<Verification>) -> String {
        let e = r.expect_err("the result must be refused");
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        e.to_string()
    }

    #[test]
    fn a_correct_result_passes_with_every_product_counted() {
        let spec = PatchSpec::two_products();
        let a = format!("{}={I1}", spec.targets[0]);
        let b = format!("{}={I2}", spec.targets[1]);
        let v = run(&spec, &[&a, &b], &PlanOptions::default(), false, |_| {}).unwrap();
        // Two instances and two original targets.
        assert_eq!(v.checked.products_checked, 4);
        assert!(
            v.checked.new_findings.is_empty(),
            "{:?}",
            v.checked.new_findings
        );
    }

    #[test]
    fn a_copy_still_made_for_the_base_is_refused() {
        let spec = PatchSpec::single_product();
        let msg = refusal(run(&spec, &[I1], &PlanOptions::default(), false, |p| {
            for c in &mut p.copies {
                c.revision_after = c.revision_before.clone();
            }
        }));
        assert!(msg.contains("would not apply as planned"), "{msg}");
        assert!(msg.contains(&format!("instance {I1}")), "{msg}");
        assert!(
            msg.contains("does not apply to it (before: applies to it)"),
            "{msg}"
        );
        // The unchanged copy also validates for the base: ambiguous.
        assert!(msg.contains("ambiguous"), "{msg}");
    }

    #[test]
    fn an_instance_left_out_of_template_is_refused() {
        let spec = PatchSpec::single_product();
        let msg = refusal(run(&spec, &[I1], &PlanOptions::default(), false, |p| {
            p.template_after = p.template_before.clone();
        }));
        assert!(msg.contains("Template does not list"), "{msg}");
    }

    #[test]
    fn lint_findings_new_in_the_result_are_reported() {
        let spec = PatchSpec::single_product();
        let lower = I2.to_lowercase();
        let v = run(&spec, &[I1], &PlanOptions::default(), false, |p| {
            p.template_after = format!("{};{lower}", p.template_after);
        })
        .unwrap();
        // A product listed with no pair that can validate for it.
        let codes: Vec<&str> = v.checked.new_findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, [code::UNREACHABLE_TARGET], "{codes:?}");
        // An error among the new findings refuses (strict reading refuses
        // most broken results before lint sees them).
        let view = |template: &str| PatchView {
            path: "x.msp".into(),
            patch_code: None,
            template: template.into(),
            targets: Vec::new(),
            last_saved_by: ":rtmA.1;:#rtmA.1".into(),
            pairs: Vec::new(),
            signature: crate::format::signature::SignatureState::Unsigned,
            read_findings: Vec::new(),
        };
        let before = lint_view(&view(I1));
        let after = lint_view(&view(&format!("{I1};x")));
        let e = refuse_new_errors(&before, after).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(e.to_string().contains("(template-invalid)"), "{e}");
    }

    /// A spec whose pairs do not check the product code: they validate for
    /// any product, instances included, without copies.
    fn any_product() -> PatchSpec {
        let mut spec = PatchSpec::single_product();
        for p in &mut spec.pairs {
            p.char_count &= !(u32::from(Validation::PRODUCT) << 16);
        }
        spec
    }

    #[test]
    fn copies_made_with_copy_all_are_ambiguous_on_purpose() {
        let options = PlanOptions {
            copy_all: true,
            ..PlanOptions::default()
        };
        let v = run(&any_product(), &[I1], &options, true, |_| {}).unwrap();
        assert!(
            v.checked
                .new_findings
                .iter()
                .any(|f| f.code == code::AMBIGUOUS_PAIRS),
            "{:?}",
            v.checked.new_findings
        );
        let msg = refusal(run(&any_product(), &[I1], &options, false, |_| {}));
        assert!(msg.contains("ambiguous"), "{msg}");
    }

    #[test]
    fn pairs_for_any_product_need_no_copy_and_pass() {
        let v = run(
            &any_product(),
            &[I1],
            &PlanOptions::default(),
            false,
            |_| {},
        )
        .unwrap();
        assert_eq!(v.checked.products_checked, 2);
    }
}
