//! Windows Installer's applicability rules, as its documentation states
//! them, applied to one product:
//!
//! * **layer 1**: the patch's summary Template lists the ProductCode
//!   (compared as GUIDs, so case-insensitively);
//! * **layer 2**: LastSavedBy is walked in order and every main transform
//!   is checked against the product according to the validation flags in
//!   the high word of its CharCount: language (transform Template
//!   `platform;language`, empty or 0 meaning any), product code (from
//!   code of RevisionNumber), platform (reported, never decisive), version
//!   at major / major.minor / major.minor.update granularity with one of
//!   the relations `< <= = >= >` of the product's version to the
//!   transform's base version (`=` when none is given; no comparison
//!   without a granularity bit), and upgrade code (third part of
//!   RevisionNumber). The first main transform whose checks all pass is
//!   the pair that applies, together with its `#` partner.
//!
//! Every other pair that validates too is reported: Wine applies every
//! valid transform, and the documentation does not say what happens then.

use serde::Serialize;

use crate::error::Setting;
use crate::format::guid::Guid;
use crate::format::summary::Validation;
use crate::format::version::{VersionFields, parse_version};
use crate::patch::{Pair, Transform};
use crate::product::facts::{ProductFacts, parse_language};

/// How one check came out (`outcome` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The product satisfies it.
    Passed,
    /// The product does not satisfy it.
    Failed,
    /// A fact the check needs was not given.
    Unknown,
    /// Reported for information; Windows Installer does not decide on it.
    Ignored,
}

/// What a check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// ProductLanguage against the transform's Template language.
    Language,
    /// ProductCode against RevisionNumber's from code.
    ProductCode,
    /// The package platform against the transform's Template platform.
    Platform,
    /// ProductVersion against RevisionNumber's from version.
    Version,
    /// UpgradeCode against RevisionNumber's third part.
    UpgradeCode,
    /// Validation bits the documentation does not define.
    UndocumentedFlags,
}

/// One check of one transform against one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What is compared.
    pub check: CheckKind,
    /// How it came out.
    #[serde(rename = "outcome")]
    pub status: CheckStatus,
    /// What the transform requires, e.g. `ProductVersion = 1.0.0 (major.minor.update)`.
    pub required: String,
    /// What the product has (absent when unknown).
    pub actual: Option<String>,
    /// A sentence for people, naming the transform.
    pub message: String,
}

/// Whether a pair validates for the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    /// Every decisive check passed.
    Valid,
    /// At least one check failed.
    Invalid,
    /// None failed, but some could not be decided.
    Undetermined,
}

/// One pair checked against one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairResult {
    /// The main transform.
    pub name: String,
    /// Its `#` partner, applied with it.
    pub partner: Option<String>,
    /// The product code it was made for (from code).
    pub made_for: Guid,
    /// The version it was made for (from version).
    pub base_version: String,
    /// CharCount in hex, when present.
    pub char_count: Option<String>,
    /// Every check its validation flags ask for, in flag order.
    pub checks: Vec<CheckResult>,
    /// The result.
    pub status: PairStatus,
}

/// The answer for one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The patch installs on the product.
    Applicable,
    /// It does not.
    NotApplicable,
    /// It would, if facts that were not given match.
    Undetermined,
}

/// The pair that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedPair {
    /// Main transform.
    pub main: String,
    /// Its partner.
    pub partner: Option<String>,
}

/// Everything decided for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductCheck {
    /// The product.
    pub facts: ProductFacts,
    /// Layer 1: whether the patch's Template lists the product code.
    pub layer1: bool,
    /// Layer 2: every main transform, in LastSavedBy order.
    pub pairs: Vec<PairResult>,
    /// The answer.
    pub verdict: Verdict,
    /// The first valid pair (also reported when layer 1 fails).
    pub applied: Option<AppliedPair>,
    /// Other pairs that validate as well.
    pub also_valid: Vec<String>,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// Caveats (ambiguous pairs, undecidable order).
    pub warnings: Vec<String>,
    /// Pairs made for other product codes left out of `pairs` (and their
    /// reasons out of `reasons`) by a brief report; 0 when all are listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub other_pairs: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Checks every pair of an opened patch against a product: what
/// `retarget` calls for each requested instance before it commits.
#[cfg(any(test, feature = "testkit"))]
pub fn evaluate<F>(patch: &crate::patch::Patch<F>, facts: &ProductFacts) -> ProductCheck {
    evaluate_pairs(&patch.targets, &patch.pairs, facts)
}

/// Checks `pairs` (in LastSavedBy order) against a product, with
/// `targets` the product codes of the patch's Template.
pub fn evaluate_pairs(targets: &[Guid], pairs: &[Pair], facts: &ProductFacts) -> ProductCheck {
    evaluate_iter(targets, pairs.iter(), facts)
}

/// [`evaluate_pairs`] over any selection of pairs, still in LastSavedBy
/// order: callers that check many products leave out pairs that cannot
/// validate for the product (they check another product code), which
/// changes only the list of reasons, not the verdict or the applied pair.
pub fn evaluate_iter<'a>(
    targets: &[Guid],
    pairs: impl Iterator<Item = &'a Pair>,
    facts: &ProductFacts,
) -> ProductCheck {
    let layer1 = targets.contains(&facts.code);
    let results: Vec<PairResult> = pairs.map(|p| check_pair(p, facts)).collect();
    let valid: Vec<&PairResult> = results
        .iter()
        .filter(|r| r.status == PairStatus::Valid)
        .collect();
    let applied = valid.first().map(|r| AppliedPair {
        main: r.name.clone(),
        partner: r.partner.clone(),
    });
    let also_valid: Vec<String> = valid.iter().skip(1).map(|r| r.name.clone()).collect();
    let any_undetermined = results.iter().any(|r| r.status == PairStatus::Undetermined);
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    if !layer1 {
        reasons.push(format!(
            "the patch's Template does not list {}, so Windows Installer does not consider \
             the patch for this product",
            facts.code
        ));
    }
    let verdict = match (&applied, layer1) {
        (Some(a), true) => {
            reasons.push(format!("{} validates{}", a.main, applied_with(a)));
            Verdict::Applicable
        }
        (Some(a), false) => {
            reasons.push(format!(
                "{} would validate{}: only the Template entry is missing",
                a.main,
                applied_with(a)
            ));
            Verdict::NotApplicable
        }
        (None, _) => {
            if results.is_empty() {
                reasons.push("the patch lists no transform in LastSavedBy".into());
            }
            if layer1 && any_undetermined {
                reasons.push(missing_facts(&results));
            }
            for r in &results {
                for c in &r.checks {
                    if matches!(c.status, CheckStatus::Failed | CheckStatus::Unknown) {
                        reasons.push(c.message.clone());
                    }
                }
            }
            if layer1 && any_undetermined {
                Verdict::Undetermined
            } else {
                Verdict::NotApplicable
            }
        }
    };
    if let Some(a) = &applied {
        for other in &also_valid {
            warnings.push(format!(
                "{other} validates too: Wine applies every valid transform, and Windows \
                 Installer does not document which of two valid pairs it uses; two valid \
                 pairs for one product is ambiguous (first in LastSavedBy: {})",
                a.main
            ));
        }
        let first_valid = results
            .iter()
            .position(|r| r.status == PairStatus::Valid)
            .unwrap_or(0);
        for r in results.iter().take(first_valid) {
            if r.status == PairStatus::Undetermined {
                warnings.push(format!(
                    "{} comes first and may validate too: give the missing product facts \
                     to decide",
                    r.name
                ));
            }
        }
    }
    ProductCheck {
        facts: facts.clone(),
        layer1,
        pairs: results,
        verdict,
        applied,
        also_valid,
        reasons,
        warnings,
        other_pairs: 0,
    }
}

/// The first reason of an undetermined verdict: which facts are missing,
/// which pair needs them, and how to give them, so that the line a user
/// reads first tells what to do.
fn missing_facts(results: &[PairResult]) -> String {
    let mut missing: Vec<(&str, &str)> = Vec::new();
    let mut needed_by = None;
    for r in results
        .iter()
        .filter(|r| r.status == PairStatus::Undetermined)
    {
        for c in r.checks.iter().filter(|c| c.status == CheckStatus::Unknown) {
            let fact = match c.check {
                CheckKind::Language => ("ProductLanguage", "LANGUAGE"),
                CheckKind::Version => ("ProductVersion", "VERSION"),
                CheckKind::UpgradeCode => ("UpgradeCode", "UPGRADECODE"),
                _ => continue,
            };
            if !missing.contains(&fact) {
                missing.push(fact);
            }
            needed_by.get_or_insert(r.name.as_str());
        }
    }
    let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
    let fields: Vec<&str> = missing.iter().map(|(_, f)| *f).collect();
    format!(
        "cannot decide: the product's {} {} not given and {} checks {}; give {} in \
         {} CODE,VERSION,LANGUAGE,UPGRADECODE (fields may be left empty), or read the facts \
         with {} PRODUCT.msi or {} PRODUCT.msi",
        names.join(" and "),
        if names.len() == 1 { "was" } else { "were" },
        needed_by.unwrap_or("a pair"),
        if names.len() == 1 { "it" } else { "them" },
        fields.join(" and "),
        Setting::ProductSpec.api_words(),
        Setting::ProductPackage.api_words(),
        Setting::ProductInstances.api_words(),
    )
}

fn applied_with(a: &AppliedPair) -> String {
    match &a.partner {
        Some(p) => format!(" and is applied with its partner {p}"),
        None => " (it has no # partner)".into(),
    }
}

/// The product a pair was made for, as far as its main transform says:
/// the from code and version of RevisionNumber, the language of its
/// Template (0 or none meaning any), the upgrade code. Complete facts: what
/// a product installed from the pair's base package has.
pub fn made_for(pair: &Pair) -> ProductFacts {
    let m = &pair.main;
    let (_, lang) = m
        .template
        .as_deref()
        .unwrap_or("")
        .split_once(';')
        .unwrap_or(("", ""));
    ProductFacts {
        code: m.revision.from.code,
        version: Some(m.revision.from.version.clone()),
        language: parse_language(lang).filter(|l| *l != 0),
        upgrade_code: m.revision.upgrade_code,
        platform: None,
        source: format!("the product {} was made for", m.name),
        complete: true,
        instance_id: None,
    }
}

/// Checks one pair: its main transform decides.
pub fn check_pair(pair: &Pair, facts: &ProductFacts) -> PairResult {
    let checks = check_transform(&pair.main, facts);
    let status = if checks.iter().any(|c| c.status == CheckStatus::Failed) {
        PairStatus::Invalid
    } else if checks.iter().any(|c| c.status == CheckStatus::Unknown) {
        PairStatus::Undetermined
    } else {
        PairStatus::Valid
    };
    PairResult {
        name: pair.main.name.clone(),
        partner: pair.partner.as_ref().map(|p| p.name.clone()),
        made_for: pair.main.revision.from.code,
        base_version: pair.main.revision.from.version.clone(),
        char_count: pair.main.char_count.map(|c| format!("{c:#010x}")),
        checks,
        status,
    }
}

/// The transform Template `platform;language` split in two.
fn split_template(template: Option<&str>) -> (&str, &str) {
    let t = template.unwrap_or("").trim_end_matches('\0');
    t.split_once(';').unwrap_or((t, ""))
}

/// Every check the transform's validation flags ask for.
pub fn check_transform(t: &Transform, facts: &ProductFacts) -> Vec<CheckResult> {
    let v = t.validation();
    let name = t.name.as_str();
    let unknown = |what: &str| {
        if facts.complete {
            format!("the product has no {what}")
        } else {
            format!("the product's {what} was not given")
        }
    };
    let mut out = Vec::new();
    let (platform, languages) = split_template(t.template.as_deref());

    if v.has(Validation::LANGUAGE) {
        out.push(check_language(name, languages, facts, &unknown));
    }
    if v.has(Validation::PRODUCT) {
        let want = t.revision.from.code;
        let (outcome, message) = if want == facts.code {
            (
                CheckStatus::Passed,
                format!("{name} checks the product code: made for {want}, as is this product"),
            )
        } else {
            (
                CheckStatus::Failed,
                format!(
                    "{name} checks the product code: the patch transform was made for {want}, \
                     this product is {}",
                    facts.code
                ),
            )
        };
        out.push(CheckResult {
            check: CheckKind::ProductCode,
            status: outcome,
            required: format!("ProductCode = {want}"),
            actual: Some(facts.code.braced()),
            message,
        });
    }
    if v.has(Validation::PLATFORM) {
        let want = if platform.is_empty() { "any" } else { platform };
        let have = facts.platform.clone();
        let relation = match &have {
            Some(h) if h.eq_ignore_ascii_case(want) || want == "any" => "matches",
            Some(_) => "differs",
            None => "is not known",
        };
        out.push(CheckResult {
            check: CheckKind::Platform,
            status: CheckStatus::Ignored,
            required: format!("platform {want}"),
            actual: have.clone(),
            message: format!(
                "{name} asks for platform {want}; the product's ({}) {relation}, but Windows \
                 Installer does not check the platform of patch transforms",
                have.as_deref().unwrap_or("unknown")
            ),
        });
    }
    if let Some(c) = check_version(name, v, &t.revision.from.version, facts, &unknown) {
        out.push(c);
    }
    if v.has(Validation::UPGRADE_CODE) {
        out.push(check_upgrade_code(
            name,
            t.revision.upgrade_code,
            facts,
            &unknown,
        ));
    }
    let undocumented = v.0 & 0xF000;
    if undocumented != 0 {
        out.push(CheckResult {
            check: CheckKind::UndocumentedFlags,
            status: CheckStatus::Ignored,
            required: format!("{undocumented:#06x}"),
            actual: None,
            message: format!(
                "{name} sets validation bits {undocumented:#06x} that Windows Installer does \
                 not document; they are not checked here"
            ),
        });
    }
    out
}

fn check_language(
    name: &str,
    languages: &str,
    facts: &ProductFacts,
    unknown: &dyn Fn(&str) -> String,
) -> CheckResult {
    let list: Vec<&str> = languages
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let parsed: Vec<Option<u16>> = list.iter().map(|l| parse_language(l)).collect();
    let required = if list.is_empty() {
        "any language".to_string()
    } else {
        format!("ProductLanguage = {}", list.join(" or "))
    };
    let actual = facts.language.map(|l| l.to_string());
    let (outcome, message) = if list.is_empty() || parsed.contains(&Some(0)) {
        (
            CheckStatus::Passed,
            format!("{name} checks the language but accepts any (its Template gives none or 0)"),
        )
    } else if parsed.iter().any(Option::is_none) {
        (
            CheckStatus::Failed,
            format!(
                "{name} checks the language, but its Template language {languages:?} is not a \
                 language id"
            ),
        )
    } else {
        match facts.language {
            None => (
                CheckStatus::Unknown,
                format!("{name} requires {required}; {}", unknown("ProductLanguage")),
            ),
            Some(l) if parsed.contains(&Some(l)) => (
                CheckStatus::Passed,
                format!("{name} requires {required}, as the product has"),
            ),
            Some(l) => (
                CheckStatus::Failed,
                format!("{name} requires {required}, the product has {l}"),
            ),
        }
    };
    CheckResult {
        check: CheckKind::Language,
        status: outcome,
        required,
        actual,
        message,
    }
}

/// The comparison granularity: how many version fields are compared.
fn granularity(v: Validation) -> Option<(usize, &'static str)> {
    if v.has(Validation::UPDATE_VERSION) {
        Some((3, "major.minor.update"))
    } else if v.has(Validation::MINOR_VERSION) {
        Some((2, "major.minor"))
    } else if v.has(Validation::MAJOR_VERSION) {
        Some((1, "major"))
    } else {
        None
    }
}

/// A relation of the product's version to the base version: its symbol
/// and whether an ordering (product vs base) satisfies it.
type Relation = (&'static str, fn(std::cmp::Ordering) -> bool);

/// The relations the flags accept (`=` when none is set).
fn relations(v: Validation) -> Vec<Relation> {
    use std::cmp::Ordering;
    let table: [(u16, Relation); 5] = [
        (Validation::NEW_LESS_BASE, ("<", Ordering::is_lt)),
        (Validation::NEW_LESS_EQUAL_BASE, ("<=", Ordering::is_le)),
        (Validation::NEW_EQUAL_BASE, ("=", Ordering::is_eq)),
        (Validation::NEW_GREATER_EQUAL_BASE, (">=", Ordering::is_ge)),
        (Validation::NEW_GREATER_BASE, (">", Ordering::is_gt)),
    ];
    let set: Vec<Relation> = table
        .iter()
        .filter(|(bit, _)| v.has(*bit))
        .map(|(_, r)| *r)
        .collect();
    if set.is_empty() {
        vec![("=", Ordering::is_eq)]
    } else {
        set
    }
}

fn shown(fields: &VersionFields, n: usize) -> String {
    fields
        .iter()
        .take(n)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn check_version(
    name: &str,
    v: Validation,
    base: &str,
    facts: &ProductFacts,
    unknown: &dyn Fn(&str) -> String,
) -> Option<CheckResult> {
    let (n, level) = granularity(v)?;
    let rels = relations(v);
    let symbols = rels
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(" or ");
    let base_fields = match parse_version(base) {
        Ok(f) => f,
        Err(why) => {
            return Some(CheckResult {
                check: CheckKind::Version,
                status: CheckStatus::Failed,
                required: format!("ProductVersion {symbols} {base:?} ({level})"),
                actual: facts.version.clone(),
                message: format!(
                    "{name} checks the version, but its base version {base:?} {why}: it can \
                     never validate"
                ),
            });
        }
    };
    let required = format!(
        "ProductVersion {symbols} {} ({level})",
        shown(&base_fields, n)
    );
    let Some(have_text) = facts.version.as_deref() else {
        return Some(CheckResult {
            check: CheckKind::Version,
            status: CheckStatus::Unknown,
            message: format!("{name} requires {required}; {}", unknown("ProductVersion")),
            required,
            actual: None,
        });
    };
    let (outcome, message) = match parse_version(have_text) {
        Err(why) => (
            CheckStatus::Failed,
            format!("{name} requires {required}, the product's version {have_text:?} {why}"),
        ),
        Ok(have) => {
            let ord = have.get(..n).cmp(&base_fields.get(..n));
            let have_shown = shown(&have, n);
            if rels.iter().any(|(_, accepts)| accepts(ord)) {
                (
                    CheckStatus::Passed,
                    format!("{name} requires {required}, the product has {have_shown}"),
                )
            } else {
                (
                    CheckStatus::Failed,
                    format!("{name} requires {required}, the product has {have_shown}"),
                )
            }
        }
    };
    Some(CheckResult {
        check: CheckKind::Version,
        status: outcome,
        required,
        actual: Some(have_text.to_string()),
        message,
    })
}

fn check_upgrade_code(
    name: &str,
    want: Option<Guid>,
    facts: &ProductFacts,
    unknown: &dyn Fn(&str) -> String,
) -> CheckResult {
    let required = match want {
        Some(u) => format!("UpgradeCode = {u}"),
        None => "UpgradeCode = (empty)".into(),
    };
    let actual = facts.upgrade_code.map(|u| u.braced());
    let (outcome, message) = match (want, facts.upgrade_code) {
        (_, None) if !facts.complete => (
            CheckStatus::Unknown,
            format!("{name} requires {required}; {}", unknown("UpgradeCode")),
        ),
        (None, None) => (
            CheckStatus::Passed,
            format!("{name} requires no upgrade code, and the product has none"),
        ),
        (Some(w), Some(h)) if w == h => (
            CheckStatus::Passed,
            format!("{name} requires {required}, as the product has"),
        ),
        (Some(w), None) => (
            CheckStatus::Failed,
            format!("{name} checks the upgrade code: it requires {w}, the product has none"),
        ),
        (None, Some(h)) => (
            CheckStatus::Failed,
            format!(
                "{name} checks the upgrade code but names none in its RevisionNumber; the \
                 product has {h}"
            ),
        ),
        (Some(w), Some(h)) => (
            CheckStatus::Failed,
            format!(
                "{name} checks the upgrade code: the patch transform requires {w}, this \
                 product has {h}"
            ),
        ),
    };
    CheckResult {
        check: CheckKind::UpgradeCode,
        status: outcome,
        required,
        actual,
        message,
    }
}
