//! Lint: what is wrong or risky in a patch, whatever product it is
//! checked against. Each finding has a severity and a stable code (the
//! constants in [`code`]); messages are for release engineers.
//!
//! Two entry points share the rules: [`lint_patch`] on a patch opened
//! strictly with [`Patch::open`] (what `retarget` calls on its output), and
//! [`read_lenient`] + [`lint_view`] on a file that may be broken (what
//! `check` calls), where a missing or unreadable transform is a finding
//! instead of an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Context, Error, Result, Setting};
use crate::format::container::{self, CLSID_TRANSFORM, FileKind, Storage, show_name};
use crate::format::guid::Guid;
use crate::format::names::MAX_NAME_UNITS;
use crate::format::signature::{self, SignatureState};
use crate::format::summary::{self, PairNames, Validation};
use crate::patch::read::{About, Fault, Mode, Problem, read_parts};
use crate::patch::{Pair, Patch, read_summary};
use crate::product::facts::ProductFacts;
use crate::rules::applicability::{PairStatus, check_pair};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The patch is broken: Windows Installer will not use part of it.
    Error,
    /// It works, but something is risky or surprising.
    Warning,
    /// Worth knowing.
    Info,
}

/// Stable finding codes.
pub mod code {
    /// A LastSavedBy entry does not start with `:`.
    pub const ENTRY_WITHOUT_COLON: &str = "entry-without-colon";
    /// A LastSavedBy entry is a bare `:`.
    pub const EMPTY_ENTRY: &str = "empty-entry";
    /// A `#` partner is not right after its main transform.
    pub const ORPHAN_PARTNER: &str = "orphan-partner";
    /// A main transform has no `#` partner listed.
    pub const NO_PARTNER: &str = "no-partner";
    /// A transform is listed twice.
    pub const DUPLICATE_ENTRY: &str = "duplicate-entry";
    /// A listed name is longer than 31 UTF-16 units.
    pub const NAME_TOO_LONG: &str = "name-too-long";
    /// Main transforms add a component with one code for several products
    /// (instances would share it).
    pub const SHARED_NEW_COMPONENT: &str = "shared-new-component";
    /// A listed name has a character compound files forbid.
    pub const INVALID_NAME: &str = "invalid-name";
    /// A listed storage does not exist.
    pub const MISSING_TRANSFORM: &str = "missing-transform";
    /// A listed entry is a stream, not a storage.
    pub const NOT_A_STORAGE: &str = "not-a-storage";
    /// A listed storage's CLSID is not the transform CLSID.
    pub const NOT_A_TRANSFORM: &str = "not-a-transform";
    /// A listed transform's summary information cannot be read.
    pub const UNREADABLE_TRANSFORM: &str = "unreadable-transform";
    /// LastSavedBy lists no transform.
    pub const NO_TRANSFORMS: &str = "no-transforms";
    /// The patch RevisionNumber is not a patch code.
    pub const PATCH_CODE_INVALID: &str = "patch-code-invalid";
    /// Template lists no product.
    pub const TEMPLATE_EMPTY: &str = "template-empty";
    /// A Template entry is not a braced GUID.
    pub const TEMPLATE_INVALID: &str = "template-invalid";
    /// A Template entry is not in the canonical upper-case braced form.
    pub const TEMPLATE_NOT_CANONICAL: &str = "template-not-canonical";
    /// A product is listed twice in Template (compared canonically, so
    /// `{G};{g}` too).
    pub const TEMPLATE_DUPLICATE: &str = "template-duplicate";
    /// A Template product no pair can ever validate for.
    pub const UNREACHABLE_TARGET: &str = "unreachable-target";
    /// A pair checks a product code Template does not list.
    pub const PAIR_NOT_TARGETED: &str = "pair-not-targeted";
    /// Two pairs validate for the same product and version.
    pub const AMBIGUOUS_PAIRS: &str = "ambiguous-pairs";
    /// A digital signature whose digest no longer matches the content.
    pub const SIGNATURE_STALE: &str = "signature-stale";
    /// A digital signature whose digest matches the content.
    pub const SIGNATURE_VALID: &str = "signature-valid";
    /// A signature stream that is not a readable Authenticode signature.
    pub const SIGNATURE_UNREADABLE: &str = "signature-unreadable";
    /// A signature present but not examined (a patch read for `retarget`).
    pub const SIGNATURE_UNCHECKED: &str = "signature-unchecked";

    /// Whether `code` is one of the signature findings.
    pub fn is_signature(code: &str) -> bool {
        matches!(
            code,
            SIGNATURE_STALE | SIGNATURE_VALID | SIGNATURE_UNREADABLE | SIGNATURE_UNCHECKED
        )
    }
    /// A main transform changes the product code.
    pub const MAJOR_UPGRADE: &str = "major-upgrade";
    /// Validation bits the documentation does not define.
    pub const UNDOCUMENTED_FLAGS: &str = "undocumented-validation-flags";
    /// Several version granularities or relations at once.
    pub const CONFLICTING_VERSION_FLAGS: &str = "conflicting-version-flags";
    /// A version relation without a granularity: no comparison happens.
    pub const RELATION_WITHOUT_GRANULARITY: &str = "relation-without-granularity";
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Stable code (see [`code`]).
    pub code: &'static str,
    /// What it is about (a transform name, a Template entry), when one thing.
    pub subject: Option<String>,
    /// What is wrong and what it means.
    pub message: String,
}

impl Finding {
    fn new(
        severity: Severity,
        code: &'static str,
        subject: Option<&str>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            code,
            subject: subject.map(show_name),
            message: message.into(),
        }
    }
}

/// What lint looks at: a patch's summary and the transforms that could be
/// read. Built from a strict [`Patch`] or read leniently from a file.
#[derive(Debug)]
pub struct PatchView {
    /// The file.
    pub path: PathBuf,
    /// The patch code, when RevisionNumber holds one.
    pub patch_code: Option<Guid>,
    /// Template as stored.
    pub template: String,
    /// Template entries that are braced GUIDs (either case).
    pub targets: Vec<Guid>,
    /// LastSavedBy as stored.
    pub last_saved_by: String,
    /// Pairs whose main transform could be read, in LastSavedBy order.
    pub pairs: Vec<Pair>,
    /// The signature examined: valid, stale or unreadable.
    pub signature: SignatureState,
    /// Findings made while reading (missing or unreadable transforms).
    pub read_findings: Vec<Finding>,
}

impl<F, C: crate::format::container::Storage> From<Patch<F, C>> for PatchView {
    /// The view of a strictly opened patch, which is consumed: its compound
    /// file is closed and its pairs move into the view. Checking a result
    /// this way keeps only one copy of its pairs, without the directory.
    /// A signature is examined first (which reads the whole patch).
    fn from(mut patch: Patch<F, C>) -> PatchView {
        let signature = SignatureState::of(&mut patch.cf);
        PatchView {
            signature,
            path: patch.path,
            patch_code: Some(patch.codes.patch_code),
            template: patch.template,
            targets: patch.targets,
            last_saved_by: patch.last_saved_by,
            pairs: patch.pairs,
            read_findings: Vec::new(),
        }
    }
}

/// Lints a patch opened with [`Patch::open`]. A signature is reported as
/// present but not examined (`signature-unchecked`): examining it needs
/// the patch itself, not a borrow; [`PatchView::from`] and `check` do.
pub fn lint_patch<F>(patch: &Patch<F>) -> Vec<Finding> {
    let state = if patch.signatures.is_empty() {
        SignatureState::Unsigned
    } else {
        SignatureState::NotChecked
    };
    lint_parts(
        &patch.last_saved_by,
        &[],
        &patch.template,
        &patch.targets,
        &patch.pairs,
        &state,
    )
}

/// Lints a view: the reading findings, then LastSavedBy, Template, the
/// pairs and the signature.
pub fn lint_view(view: &PatchView) -> Vec<Finding> {
    lint_parts(
        &view.last_saved_by,
        &view.read_findings,
        &view.template,
        &view.targets,
        &view.pairs,
        &view.signature,
    )
}

/// The rules on borrowed parts, so that linting a patch with thousands of
/// pairs copies none of them.
fn lint_parts(
    last_saved_by: &str,
    read_findings: &[Finding],
    template: &str,
    targets: &[Guid],
    pairs: &[Pair],
    signature: &SignatureState,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let (names, list_findings) = scan_transform_list(last_saved_by);
    out.extend(list_findings);
    out.extend(read_findings.iter().cloned());
    if names.is_empty() {
        out.push(Finding::new(
            Severity::Error,
            code::NO_TRANSFORMS,
            None,
            "LastSavedBy lists no usable transform: the patch changes nothing on any product",
        ));
    }
    lint_template(template, &mut out);
    lint_pairs(targets, pairs, &mut out);
    lint_signature(signature, &mut out);
    out
}

//==========================================================================//
// Signature

fn lint_signature(state: &SignatureState, out: &mut Vec<Finding>) {
    let stream = Some(signature::DIGITAL_SIGNATURE);
    match state {
        SignatureState::Unsigned => {}
        SignatureState::NotChecked => out.push(Finding::new(
            Severity::Info,
            code::SIGNATURE_UNCHECKED,
            stream,
            "the patch carries a digital signature, not examined here; `check` tells whether \
             it still matches the content",
        )),
        SignatureState::Unreadable(why) => out.push(Finding::new(
            Severity::Warning,
            code::SIGNATURE_UNREADABLE,
            stream,
            format!(
                "the signature cannot be read ({why}); Windows treats the patch as badly \
                 signed: strip it and sign again (docs/signing.md)"
            ),
        )),
        SignatureState::Checked(r) => match r.verdict {
            signature::Verdict::Valid => out.push(Finding::new(
                Severity::Info,
                code::SIGNATURE_VALID,
                stream,
                format!(
                    "the signature is valid for this content ({} digest, signed by {}); \
                     whether its certificate is trusted is not checked here",
                    r.digest_algorithm.name(),
                    signer_text(r)
                ),
            )),
            signature::Verdict::Stale => out.push(Finding::new(
                Severity::Warning,
                code::SIGNATURE_STALE,
                stream,
                format!(
                    "the signature ({} digest, signed by {}) no longer matches the content: {}; \
                     strip it with {} and sign the patch again (docs/signing.md)",
                    r.digest_algorithm.name(),
                    signer_text(r),
                    r.reason.as_deref().unwrap_or("the content changed"),
                    Setting::StripSignature.api_words()
                ),
            )),
        },
    }
}

fn signer_text(r: &signature::SignatureReport) -> &str {
    r.signer
        .subject
        .as_deref()
        .or(r.signer.issuer.as_deref())
        .unwrap_or("an unnamed signer")
}

//==========================================================================//
// LastSavedBy

/// The findings of a LastSavedBy list: the entries that
/// [`summary::scan_transform_list`] refuses, names listed twice or too
/// long for a storage, main transforms without a partner. Returns the
/// pairs the scan accepted too.
pub fn scan_transform_list(text: &str) -> (Vec<PairNames>, Vec<Finding>) {
    let (pairs, refused) = summary::scan_transform_list(text);
    let mut out = Vec::new();
    for (entry, e) in refused {
        let (severity, code, what) = if !entry.starts_with(':') {
            (
                Severity::Error,
                code::ENTRY_WITHOUT_COLON,
                "Windows Installer skips it",
            )
        } else if entry == ":" {
            (Severity::Error, code::EMPTY_ENTRY, "it names nothing")
        } else if e.reason().contains("more than once") {
            (
                Severity::Error,
                code::DUPLICATE_ENTRY,
                "Windows Installer would apply it twice",
            )
        } else {
            (
                Severity::Error,
                code::ORPHAN_PARTNER,
                "a partner must come right after its main transform",
            )
        };
        out.push(Finding::new(
            severity,
            code,
            Some(&entry),
            format!("{}; {what}", e.reason()),
        ));
    }
    // Names borrowed from the pairs, compared by their compound-file key.
    let mut seen = std::collections::HashSet::new();
    for p in &pairs {
        for name in std::iter::once(&p.main).chain(&p.partner) {
            if !seen.insert(crate::format::names::Keyed(name)) {
                out.push(Finding::new(
                    Severity::Warning,
                    code::DUPLICATE_ENTRY,
                    Some(name),
                    format!(
                        "LastSavedBy lists :{} more than once; Windows Installer would apply \
                         it again",
                        show_name(name)
                    ),
                ));
            }
            let units = name.encode_utf16().count();
            if units > MAX_NAME_UNITS {
                out.push(Finding::new(
                    Severity::Error,
                    code::NAME_TOO_LONG,
                    Some(name),
                    format!(
                        "the name :{} has {units} UTF-16 units; storage names have at most \
                         {MAX_NAME_UNITS}, so no such transform can exist",
                        show_name(name)
                    ),
                ));
            }
        }
        if p.partner.is_none() {
            out.push(Finding::new(
                Severity::Info,
                code::NO_PARTNER,
                Some(&p.main),
                format!(
                    "{} has no #{} partner listed; WiX-built patches pair every transform with \
                     a partner that registers the patch",
                    show_name(&p.main),
                    show_name(&p.main)
                ),
            ));
        }
    }
    (pairs, out)
}

//==========================================================================//
// Template

fn lint_template(template: &str, out: &mut Vec<Finding>) {
    let entries = summary::split_list(template);
    if entries.is_empty() {
        out.push(Finding::new(
            Severity::Error,
            code::TEMPLATE_EMPTY,
            None,
            "Template lists no product: Windows Installer offers the patch to none",
        ));
    }
    let mut seen = BTreeSet::new();
    for e in entries {
        match Guid::parse_braced(e.trim()) {
            Err(err) => out.push(Finding::new(
                Severity::Error,
                code::TEMPLATE_INVALID,
                Some(e),
                format!(
                    "Template entry {}; it matches no product",
                    err.reason().trim_end_matches('.')
                ),
            )),
            Ok(g) => {
                if e != g.braced() {
                    out.push(Finding::new(
                        Severity::Warning,
                        code::TEMPLATE_NOT_CANONICAL,
                        Some(e),
                        format!(
                            "Template entry {e:?} is not written {g}; some installers (Wine) \
                             compare Template entries as exact strings"
                        ),
                    ));
                }
                if !seen.insert(g) {
                    out.push(Finding::new(
                        Severity::Warning,
                        code::TEMPLATE_DUPLICATE,
                        Some(e),
                        format!(
                            "Template lists {g} more than once (GUIDs compare without case); it \
                             is one product, and other tools may count it twice"
                        ),
                    ));
                }
            }
        }
    }
}

//==========================================================================//
// Pairs

fn lint_pairs(targets: &[Guid], pairs: &[Pair], out: &mut Vec<Finding>) {
    for p in pairs {
        let m = &p.main;
        for t in std::iter::once(m).chain(&p.partner) {
            if t.clsid.0 != CLSID_TRANSFORM {
                out.push(Finding::new(
                    Severity::Warning,
                    code::NOT_A_TRANSFORM,
                    Some(&t.name),
                    format!(
                        "storage {} has CLSID {}, not the transform CLSID {}; Windows \
                         Installer may refuse it",
                        show_name(&t.name),
                        t.clsid,
                        Guid(CLSID_TRANSFORM)
                    ),
                ));
            }
        }
        if m.revision.changes_product_code() {
            out.push(Finding::new(
                Severity::Warning,
                code::MAJOR_UPGRADE,
                Some(&m.name),
                format!(
                    "{} changes the product code from {} to {}: a major upgrade delivered as a \
                     patch; every product it applies to gets the same new code",
                    show_name(&m.name),
                    m.revision.from.code,
                    m.revision.to.code
                ),
            ));
        }
        let v = m.validation();
        if v.0 & 0xF000 != 0 {
            out.push(Finding::new(
                Severity::Warning,
                code::UNDOCUMENTED_FLAGS,
                Some(&m.name),
                format!(
                    "{} sets validation bits {:#06x} that Windows Installer does not document",
                    show_name(&m.name),
                    v.0 & 0xF000
                ),
            ));
        }
        let levels = [
            Validation::MAJOR_VERSION,
            Validation::MINOR_VERSION,
            Validation::UPDATE_VERSION,
        ]
        .iter()
        .filter(|b| v.has(**b))
        .count();
        let relations = [
            Validation::NEW_LESS_BASE,
            Validation::NEW_LESS_EQUAL_BASE,
            Validation::NEW_EQUAL_BASE,
            Validation::NEW_GREATER_EQUAL_BASE,
            Validation::NEW_GREATER_BASE,
        ]
        .iter()
        .filter(|b| v.has(**b))
        .count();
        if levels > 1 || relations > 1 {
            out.push(Finding::new(
                Severity::Warning,
                code::CONFLICTING_VERSION_FLAGS,
                Some(&m.name),
                format!(
                    "{} sets {levels} version granularities and {relations} version relations \
                     (CharCount {:#010x}); the documentation defines one of each, so installers \
                     may disagree (here: the finest granularity, any of the relations)",
                    show_name(&m.name),
                    m.char_count.unwrap_or(0)
                ),
            ));
        }
        if levels == 0 && relations > 0 {
            out.push(Finding::new(
                Severity::Info,
                code::RELATION_WITHOUT_GRANULARITY,
                Some(&m.name),
                format!(
                    "{} sets a version relation but no major/minor/update granularity, so the \
                     version is not compared",
                    show_name(&m.name)
                ),
            ));
        }
        if v.has(Validation::PRODUCT) && !targets.contains(&m.revision.from.code) {
            out.push(Finding::new(
                Severity::Warning,
                code::PAIR_NOT_TARGETED,
                Some(&m.name),
                format!(
                    "{} only validates for {}, which Template does not list: it is never used",
                    show_name(&m.name),
                    m.revision.from.code
                ),
            ));
        }
    }
    let all_check_product = pairs
        .iter()
        .all(|p| p.main.validation().has(Validation::PRODUCT));
    if !pairs.is_empty() && all_check_product {
        let mut seen = BTreeSet::new();
        for t in targets {
            if seen.insert(*t) && !pairs.iter().any(|p| p.base() == *t) {
                out.push(Finding::new(
                    Severity::Warning,
                    code::UNREACHABLE_TARGET,
                    Some(&t.braced()),
                    format!(
                        "Template lists {t}, but every transform checks the product code and \
                         none was made for {t}: the patch can never apply to it"
                    ),
                ));
            }
        }
    }
    lint_ambiguity(targets, pairs, out);
    lint_shared_components(targets, pairs, out);
}

/// Components that main transforms add with one code for several
/// products: each pair's Component inserts serve the product it was made
/// for, or every Template product when it does not check the product
/// code. Products that install side by side then share the component
/// (one component, several clients): uninstalling one leaves its files to
/// the others. Instances of a product that isolates components need
/// their own codes (`retarget --isolate-components`); products that mean
/// to share a component are told so too, as a warning.
fn lint_shared_components(targets: &[Guid], pairs: &[Pair], out: &mut Vec<Finding>) {
    use indexmap::IndexMap;
    let mut served: IndexMap<(String, String), Vec<Guid>> = IndexMap::new();
    for p in pairs {
        let inserted = p.main.inserted_components();
        if inserted.is_empty() {
            continue;
        }
        let products: Vec<Guid> = if p.main.validation().has(Validation::PRODUCT) {
            vec![p.base()]
        } else {
            targets.to_vec()
        };
        for (key, code) in inserted {
            let list = served.entry((key, code.to_ascii_uppercase())).or_default();
            for g in &products {
                if !list.contains(g) {
                    list.push(*g);
                }
            }
        }
    }
    for ((key, code), products) in served {
        if products.len() < 2 {
            continue;
        }
        let shown: Vec<String> = products.iter().take(6).map(Guid::braced).collect();
        let more = products.len().saturating_sub(6);
        out.push(Finding::new(
            Severity::Warning,
            code::SHARED_NEW_COMPONENT,
            Some(&key),
            format!(
                "component {key} is added with one code, {code}, for {} products ({}{}): \
                 installed side by side they share it, and uninstalling one leaves its files \
                 to the others; if they are instances of a product that isolates components, \
                 retarget with {} to give each its own code",
                products.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                Setting::ComponentIsolation.api_words()
            ),
        ));
    }
}

/// Two pairs that both validate for one product: tried on the products the
/// pairs were made for (their from code, version, language and upgrade
/// code) and, for pairs that do not check the product code, on every
/// Template product with those facts.
fn lint_ambiguity(targets: &[Guid], pairs: &[Pair], out: &mut Vec<Finding>) {
    use std::collections::{HashMap, HashSet};
    // What a product is, for a transform: code, version, language, upgrade code.
    type Key = (Guid, String, Option<u16>, Option<Guid>);
    let mut seen: HashSet<Key> = HashSet::new();
    let mut candidates: Vec<ProductFacts> = Vec::new();
    let mut add = |code: Guid, base: &ProductFacts| {
        let key = (
            code,
            base.version.clone().unwrap_or_default(),
            base.language,
            base.upgrade_code,
        );
        if seen.insert(key) {
            candidates.push(ProductFacts {
                code,
                ..base.clone()
            });
        }
    };
    let mut facts_seen = HashSet::new();
    for p in pairs {
        let m = &p.main;
        let base = crate::rules::applicability::made_for(p);
        add(base.code, &base);
        if !m.validation().has(Validation::PRODUCT) {
            let key = (base.version.clone(), base.language, base.upgrade_code);
            if facts_seen.insert(key) {
                for t in targets {
                    add(*t, &base);
                }
            }
        }
    }
    // Only pairs made for a candidate's code, or that do not check the
    // product code, can validate for it; the latter do not depend on the
    // code, so their validity is computed once per version, language and
    // upgrade code. Patches with many instance copies stay near linear.
    let mut by_code: HashMap<Guid, Vec<usize>> = HashMap::new();
    let mut any_code: Vec<usize> = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if p.main.validation().has(Validation::PRODUCT) {
            by_code.entry(p.base()).or_default().push(i);
        } else {
            any_code.push(i);
        }
    }
    let valid_among = |indices: &[usize], facts: &ProductFacts| -> Vec<usize> {
        indices
            .iter()
            .copied()
            .filter(|i| {
                pairs
                    .get(*i)
                    .is_some_and(|p| check_pair(p, facts).status == PairStatus::Valid)
            })
            .collect()
    };
    let mut any_code_valid: HashMap<(String, Option<u16>, Option<Guid>), Vec<usize>> =
        HashMap::new();
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for facts in &candidates {
        let mut valid = valid_among(
            by_code.get(&facts.code).map_or(&[][..], Vec::as_slice),
            facts,
        );
        let key = (
            facts.version.clone().unwrap_or_default(),
            facts.language,
            facts.upgrade_code,
        );
        let shared = any_code_valid
            .entry(key)
            .or_insert_with(|| valid_among(&any_code, facts));
        valid.extend(shared.iter().copied());
        valid.sort_unstable();
        if valid.len() < 2 || !reported.insert(valid.clone()) {
            continue;
        }
        // A pair listed twice is a duplicate-entry finding, not ambiguity.
        let mut unique = HashSet::new();
        let names: Vec<String> = valid
            .iter()
            .filter_map(|i| pairs.get(*i))
            .map(|p| p.main.name.clone())
            .filter(|n| unique.insert(n.clone()))
            .collect();
        if names.len() > 1 {
            let shown = if names.len() > 6 {
                format!(
                    "{} and {} more",
                    names.get(..5).unwrap_or_default().join(", "),
                    names.len() - 5
                )
            } else {
                names.join(", ")
            };
            out.push(Finding::new(
                Severity::Warning,
                code::AMBIGUOUS_PAIRS,
                None,
                format!(
                    "{shown} {} validate for product {} version {}: Wine applies every valid \
                     transform and Windows Installer does not document which it uses",
                    if names.len() == 2 { "both" } else { "all" },
                    facts.code,
                    facts.version.as_deref().unwrap_or("?")
                ),
            ));
        }
    }
}

//==========================================================================//
// Lenient reading

/// Reads a patch file for `check` with the lenient reader: only the
/// compound file, the root CLSID and the root summary information must be
/// readable; every listed transform that is missing or malformed becomes
/// a finding.
#[cfg(test)]
pub fn read_lenient(path: &Path) -> Result<PatchView> {
    read_lenient_in(&mut container::open_lazy(path)?, path)
}

/// [`read_lenient`] of a file already open (`cf`, named `path`).
pub fn read_lenient_in<S: Storage>(cf: &mut S, path: &Path) -> Result<PatchView> {
    let kind = container::kind_of(cf);
    if kind != FileKind::Patch {
        return Err(Error::format(format!("is {}", kind.describe())).in_file(path));
    }
    read_view(path, cf).in_file(path)
}

fn read_view<S: Storage>(path: &Path, cf: &mut S) -> Result<PatchView> {
    let set = read_summary(cf, Path::new("/")).at("root")?;
    let parts = read_parts(cf, Some(&set), Mode::Lenient)?;
    let mut read_findings = Vec::new();
    for problem in parts.problems {
        if let Some(finding) = read_finding(problem)? {
            read_findings.push(finding);
        }
    }
    let signature = SignatureState::of(cf);
    Ok(PatchView {
        path: path.to_path_buf(),
        patch_code: parts.codes.map(|c| c.patch_code),
        template: parts.template,
        targets: parts.targets,
        last_saved_by: parts.last_saved_by,
        pairs: parts.pairs,
        signature,
        read_findings,
    })
}

/// The finding of a reading problem. A summary property that cannot be
/// decoded is an error: nothing can be said of a patch whose Template or
/// LastSavedBy is unknown. Template and LastSavedBy entries are reported
/// by the lints of those lists, a name too long by the list's.
fn read_finding(problem: Problem) -> Result<Option<Finding>> {
    let Problem { about, error: e } = problem;
    let (name, fault) = match about {
        About::Property(id) => return Err(e.at(summary::property_part(id))),
        About::PatchCode => {
            return Ok(Some(Finding::new(
                Severity::Error,
                code::PATCH_CODE_INVALID,
                None,
                e.reason().to_string(),
            )));
        }
        About::TemplateEntry | About::ListEntry => return Ok(None),
        About::Transform { name, fault } => (name, fault),
    };
    let (code, message) = match fault {
        Fault::NameTooLong => return Ok(None),
        Fault::ForbiddenChar(c) => (
            code::INVALID_NAME,
            format!(
                "the name :{} contains {c:?}, which compound-file names cannot hold: no such \
                 transform can exist",
                show_name(&name)
            ),
        ),
        Fault::Missing => (
            code::MISSING_TRANSFORM,
            format!(
                "LastSavedBy lists :{} but the patch has no storage of that name; Windows \
                 Installer cannot apply it",
                show_name(&name)
            ),
        ),
        Fault::NotAStorage => (
            code::NOT_A_STORAGE,
            format!(
                "LastSavedBy lists :{} but that entry is a stream, not a transform storage",
                show_name(&name)
            ),
        ),
        Fault::NotAName | Fault::Unreadable => (
            code::UNREADABLE_TRANSFORM,
            format!(
                "transform {} cannot be read, so it can never validate: {e}",
                show_name(&name)
            ),
        ),
    };
    Ok(Some(Finding::new(
        Severity::Error,
        code,
        Some(&name),
        message,
    )))
}
