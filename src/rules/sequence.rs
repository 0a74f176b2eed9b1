//! `sequence`: which of a set of patches Windows Installer applies to a
//! product, in which order, and why the others are left out — its
//! documented patch sequencing algorithm ("Sequencing Patches", "Eliminating
//! Patches", "MsiPatchSequence Table", "MsiPatchMetadata Table",
//! "Installing Multiple Patches"), as a pure function of a small model.
//!
//! Written by hand because nothing off Windows implements it: Wine logs
//! "patch ordering not supported", and the tools that answer the question
//! on Windows (`MsiDeterminePatchSequence`, `MsiDetermineApplicablePatches`)
//! only wrap the installer.
//!
//! For one product ([`sequence_product`]):
//!
//! 1. every patch's MsiPatchSequence rows are narrowed to the product: per
//!    family, rows keyed to its ProductCode win over the NULL row, rows
//!    keyed to other products are ignored;
//! 2. patches without sequencing data for the product come first —
//!    installed ones in the order they were applied, then the new ones in
//!    the order given; the ones obsoleted by another such patch
//!    (RevisionNumber's list after the patch code) are eliminated;
//! 3. each is judged against the product *as the patches before it leave
//!    it* with `check`'s rules ([`crate::rules::applicability`]): a minor upgrade
//!    moves ProductVersion for the patches after it;
//! 4. minor upgrades with sequencing data follow, ordered by the version
//!    they produce, each judged in turn (one with MinorUpdateTargetRTM
//!    against the product before any of them);
//! 5. small updates with sequencing data are attached after the highest
//!    minor upgrade they validate after, the others go before the first
//!    minor upgrade; within each place they are ordered by their families'
//!    Sequence values;
//! 6. superseded patches are eliminated (`msidbPatchSequenceSupersedeEarlier`
//!    in every family the earlier patch belongs to; a small update never
//!    supersedes a minor upgrade), and the rest is judged once more;
//! 7. more than 127 patches is an error (the documented limit).
//!
//! Every decision the documentation leaves open is recorded in the result
//! as a [`Choice`] when it affected it; docs/applicability.md lists them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde::Serialize;

use crate::error::{Error, Result, Setting};
use crate::format::guid::Guid;
use crate::format::summary::Validation;
use crate::format::version::{VersionFields, parse_version};
use crate::patch::Pair;
use crate::patch::sequencing::SequenceRow;
use crate::product::facts::ProductFacts;
use crate::rules::applicability::{Verdict, evaluate_pairs};

/// Windows Installer installs at most this many patches on one product
/// ("Installing Multiple Patches").
pub const MAX_PATCHES_PER_PRODUCT: usize = 127;

/// `msidbPatchSequenceSupersedeEarlier`, the Attributes bit of a
/// MsiPatchSequence row.
pub const SUPERSEDE_EARLIER: i32 = 0x1;

/// What sequencing needs to know about one patch.
#[derive(Debug, Clone)]
pub struct SeqPatch {
    /// How the patch is named in the output (its file).
    pub name: String,
    /// Its patch code.
    pub patch_code: Guid,
    /// The codes RevisionNumber lists after the patch code.
    pub obsoletes: Vec<Guid>,
    /// Already installed on the product (given with `--installed`).
    pub installed: bool,
    /// Its MsiPatchSequence rows (none when it has no such table).
    pub rows: Vec<SequenceRow>,
    /// MsiPatchMetadata `MinorUpdateTargetRTM` is set (to anything but 0).
    pub minor_update_target_rtm: bool,
    /// The product codes of its summary Template.
    pub targets: Vec<Guid>,
    /// Its transform pairs, in LastSavedBy order.
    pub pairs: Vec<Pair>,
}

/// What a patch does to the product, as its pairs for the product say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchKind {
    /// Keeps ProductCode and ProductVersion.
    SmallUpdate,
    /// Changes ProductVersion.
    MinorUpgrade,
    /// Changes ProductCode.
    MajorUpgrade,
}

/// A patch in the sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    /// The patch file.
    pub patch: String,
    /// Its patch code.
    pub patch_code: Guid,
    /// Given with `--installed`.
    pub installed: bool,
    /// What it does to the product.
    pub kind: PatchKind,
    /// The family whose Sequence placed it (absent for patches without
    /// sequencing data for the product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// That family's Sequence value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// Why it is where it is, in words.
    pub placed_by: String,
    /// The transform that validates at this place.
    pub pair: String,
    /// ProductVersion after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_after: Option<String>,
}

/// Why a patch is not in the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A later patch supersedes it in every family it belongs to.
    Superseded,
    /// A patch lists it as obsolete in its RevisionNumber.
    Obsolete,
    /// No pair of it validates for the product at its place.
    NotApplicable,
}

/// A patch left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// The patch file.
    pub patch: String,
    /// Its patch code.
    pub patch_code: Guid,
    /// Why.
    pub reason: DropReason,
    /// Why, in words (the patch and family that superseded it, the patch
    /// that obsoleted it, the product state it was judged against).
    pub detail: String,
    /// For `not_applicable`: `check`'s verdict (`not_applicable` or
    /// `undetermined` when facts that were not given decide).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// For `not_applicable`: every reason `check` gives.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A decision the documentation leaves open that affected this result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Stable name of the choice (docs/applicability.md, "Sequencing").
    pub choice: &'static str,
    /// What it decided here.
    pub detail: String,
}

/// Stable names of the choices.
pub mod choice {
    /// Two patches with equal Sequence in one family, or two minor upgrades
    /// producing the same version: the order given decides.
    pub const TIE: &str = "tie-order-given";
    /// A patch whose rows name only other products is ordered as a patch
    /// without sequencing data for this product.
    pub const ROWS_FOR_OTHER_PRODUCTS: &str = "rows-for-other-products";
    /// Whether a patch is a small update or a minor upgrade, and the version
    /// it produces, is read from the pairs that can validate for the product.
    pub const CLASSIFICATION: &str = "classification";
    /// A patch obsoletes others only for products its Template lists.
    pub const OBSOLETE_NEEDS_TARGET: &str = "obsolete-needs-target";
    /// A minor upgrade with MinorUpdateTargetRTM is judged against the
    /// product before the sequenced patches and replaces the sequenced
    /// patches before it.
    pub const TARGET_RTM: &str = "minor-update-target-rtm";
    /// After superseded patches are eliminated the rest is judged once more.
    pub const REJUDGED: &str = "rejudged-after-elimination";
    /// A patch `check` cannot decide for the product is left out.
    pub const UNDETERMINED: &str = "undetermined-left-out";
}

/// The result for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductSequence {
    /// The product's code.
    pub product_code: Guid,
    /// The instance's id, for an instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Where the product's facts come from.
    pub source: String,
    /// The patches applied, in order.
    pub sequence: Vec<Placed>,
    /// The patches left out, in the order given.
    pub dropped: Vec<Dropped>,
    /// ProductVersion after the whole sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_version: Option<String>,
    /// Open decisions that affected this result.
    pub choices: Vec<Choice>,
    /// Other things worth knowing (rows ignored, obsolescence lists that do
    /// not count).
    pub notes: Vec<String>,
}

/// A product to sequence for.
#[derive(Debug, Clone)]
pub struct SeqProduct {
    /// Its facts as installed (RTM, or after a major upgrade).
    pub facts: ProductFacts,
    /// The instance's id, for an instance.
    pub instance_id: Option<String>,
}

/// One patch's view for one product.
struct Candidate<'a> {
    idx: usize,
    patch: &'a SeqPatch,
    /// Effective rows per family, in first-appearance order.
    families: Vec<&'a SequenceRow>,
    kind: PatchKind,
    produces: Option<VersionFields>,
    sequenced: bool,
}

/// An evaluation: the verdict, the pair and the state after it.
struct Judged {
    verdict: Verdict,
    pair: Option<String>,
    after: ProductFacts,
    reasons: Vec<String>,
}

fn judge(p: &SeqPatch, state: &ProductFacts) -> Judged {
    let check = evaluate_pairs(&p.targets, &p.pairs, state);
    let mut after = state.clone();
    let pair = check.applied.as_ref().map(|a| a.main.clone());
    if let Some(name) = &pair
        && let Some(pr) = p.pairs.iter().find(|x| &x.main.name == name)
    {
        let rev = &pr.main.revision;
        after.version = Some(rev.to.version.clone());
        if rev.to.code != rev.from.code {
            after.code = rev.to.code;
        }
    }
    Judged {
        verdict: check.verdict,
        pair,
        after,
        reasons: check.reasons,
    }
}

fn version_text(v: &VersionFields) -> String {
    // Trailing zero fields beyond the third are not shown.
    let n = if v[3] == 0 { 3 } else { 4 };
    v.iter()
        .take(n)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The rows that count for `product`: per family, the row keyed to it, or
/// else the NULL row.
fn effective_rows(p: &SeqPatch, product: Guid) -> Vec<&SequenceRow> {
    let mut by_family: Vec<(&str, Option<&SequenceRow>, Option<&SequenceRow>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for r in &p.rows {
        let i = *index.entry(r.family.as_str()).or_insert_with(|| {
            by_family.push((r.family.as_str(), None, None));
            by_family.len() - 1
        });
        if let Some(slot) = by_family.get_mut(i) {
            match r.product_code {
                Some(c) if c == product => {
                    slot.1.get_or_insert(r);
                }
                Some(_) => {}
                None => {
                    slot.2.get_or_insert(r);
                }
            }
        }
    }
    by_family
        .into_iter()
        .filter_map(|(_, keyed, null)| keyed.or(null))
        .collect()
}

/// Small update, minor upgrade or major upgrade for `product`, and the
/// version a minor upgrade produces, from the main transforms that can
/// validate for it (those that do not check the product code, or check
/// this one); all of them when none can.
fn classify(p: &SeqPatch, product: Guid) -> (PatchKind, Option<VersionFields>) {
    let for_product: Vec<&Pair> = p
        .pairs
        .iter()
        .filter(|x| {
            !x.main.validation().has(Validation::PRODUCT) || x.main.revision.from.code == product
        })
        .collect();
    let pairs: Vec<&Pair> = if for_product.is_empty() {
        p.pairs.iter().collect()
    } else {
        for_product
    };
    let mut kind = PatchKind::SmallUpdate;
    let mut produces: Option<VersionFields> = None;
    for x in pairs {
        let rev = &x.main.revision;
        if rev.to.code != rev.from.code {
            return (PatchKind::MajorUpgrade, None);
        }
        let from = parse_version(&rev.from.version).ok();
        let to = parse_version(&rev.to.version).ok();
        let changes = match (from, to) {
            (Some(a), Some(b)) => a != b,
            _ => rev.from.version.trim() != rev.to.version.trim(),
        };
        if changes {
            kind = PatchKind::MinorUpgrade;
            if let Some(t) = to {
                produces = Some(produces.map_or(t, |q| q.max(t)));
            }
        }
    }
    (kind, produces)
}

/// Accumulates the result for one product.
struct Out {
    dropped: Vec<(usize, Dropped)>,
    choices: Vec<Choice>,
    notes: Vec<String>,
}

impl Out {
    fn drop(&mut self, c: &Candidate, reason: DropReason, detail: String) {
        self.dropped.push((
            c.idx,
            Dropped {
                patch: c.patch.name.clone(),
                patch_code: c.patch.patch_code,
                reason,
                detail,
                verdict: None,
                reasons: Vec::new(),
            },
        ));
    }

    fn not_applicable(&mut self, c: &Candidate, j: &Judged, at: String) {
        if j.verdict == Verdict::Undetermined {
            self.choose(
                choice::UNDETERMINED,
                format!(
                    "{} cannot be decided for {} without the facts that were not given; it is \
                     left out",
                    c.patch.name, at
                ),
            );
        }
        self.dropped.push((
            c.idx,
            Dropped {
                patch: c.patch.name.clone(),
                patch_code: c.patch.patch_code,
                reason: DropReason::NotApplicable,
                detail: format!(
                    "{} to {at}",
                    if j.verdict == Verdict::Undetermined {
                        "cannot be shown to apply"
                    } else {
                        "does not apply"
                    }
                ),
                verdict: Some(j.verdict),
                reasons: j.reasons.clone(),
            },
        ));
    }

    fn choose(&mut self, name: &'static str, detail: String) {
        let c = Choice {
            choice: name,
            detail,
        };
        if !self.choices.contains(&c) {
            self.choices.push(c);
        }
    }
}

fn describe_state(s: &ProductFacts, after: &[String]) -> String {
    let mut t = format!(
        "{} {}",
        s.code,
        s.version.as_deref().unwrap_or("(version unknown)")
    );
    match after.last() {
        None => t.push_str(" as installed"),
        Some(last) => t.push_str(&format!(" after {last}")),
    }
    t
}

/// Orders the members of one place (small updates between two minor
/// upgrades) by their families' Sequence values; ties and unrelated patches
/// keep the order given. A cycle (A before B in one family, B before A in
/// another) has no valid order.
fn order_by_families(members: &[&Candidate], product: Guid, out: &mut Out) -> Result<Vec<usize>> {
    let n = members.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    let mut families: BTreeMap<&str, Vec<(VersionFields, usize, usize)>> = BTreeMap::new();
    for (m, c) in members.iter().enumerate() {
        for r in &c.families {
            families
                .entry(r.family.as_str())
                .or_default()
                .push((r.order, c.idx, m));
        }
    }
    for (family, mut list) in families {
        list.sort();
        for w in list.windows(2) {
            if let [(sa, _, a), (sb, _, b)] = w {
                if sa < sb {
                    if let Some(e) = edges.get_mut(*a) {
                        e.push(*b);
                    }
                    if let Some(d) = indegree.get_mut(*b) {
                        *d += 1;
                    }
                } else if let (Some(x), Some(y)) = (members.get(*a), members.get(*b)) {
                    out.choose(
                        choice::TIE,
                        format!(
                            "{} and {} have the same Sequence {} in family {family}: they keep \
                             the order given",
                            x.patch.name,
                            y.patch.name,
                            version_text(sa)
                        ),
                    );
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = BinaryHeap::new();
    for (m, c) in members.iter().enumerate() {
        if indegree.get(m) == Some(&0) {
            ready.push(Reverse((c.idx, m)));
        }
    }
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, m))) = ready.pop() {
        order.push(m);
        for &next in edges.get(m).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(d) = indegree.get_mut(next) {
                *d -= 1;
                if *d == 0
                    && let Some(c) = members.get(next)
                {
                    ready.push(Reverse((c.idx, next)));
                }
            }
        }
    }
    if order.len() < n {
        let stuck: Vec<String> = members
            .iter()
            .enumerate()
            .filter(|(m, _)| indegree.get(*m).is_some_and(|d| *d > 0))
            .map(|(_, c)| c.patch.name.clone())
            .collect();
        return Err(Error::usage(format!(
            "product {product}: the MsiPatchSequence rows of {} order them in a circle (one \
             family puts one first, another family the other): no valid sequence exists \
             (Windows Installer reports ERROR_PATCH_NO_SEQUENCE)",
            stuck.join(", ")
        )));
    }
    Ok(order)
}

/// Sequences `patches` (installed ones flagged) for one product.
pub fn sequence_product(product: &SeqProduct, patches: &[SeqPatch]) -> Result<ProductSequence> {
    let code = product.facts.code;
    let mut out = Out {
        dropped: Vec::new(),
        choices: Vec::new(),
        notes: Vec::new(),
    };
    let cands: Vec<Candidate> = patches
        .iter()
        .enumerate()
        .map(|(idx, patch)| {
            let families = effective_rows(patch, code);
            let (kind, produces) = classify(patch, code);
            let sequenced = !families.is_empty() && kind != PatchKind::MajorUpgrade;
            Candidate {
                idx,
                patch,
                families,
                kind,
                produces,
                sequenced,
            }
        })
        .collect();
    for c in &cands {
        let listed = c.patch.targets.contains(&code);
        if c.families.is_empty() && !c.patch.rows.is_empty() && listed {
            let others: Vec<String> = c
                .patch
                .rows
                .iter()
                .filter_map(|r| r.product_code.map(|g| g.braced()))
                .collect();
            out.choose(
                choice::ROWS_FOR_OTHER_PRODUCTS,
                format!(
                    "{}'s MsiPatchSequence rows name only {}: for this product it is ordered \
                     as a patch without sequencing data, unlike for those products",
                    c.patch.name,
                    others.join(", ")
                ),
            );
        }
        if listed && c.patch.pairs.len() > 1 {
            let (kind, _) = classify(c.patch, code);
            let kinds: Vec<PatchKind> = c
                .patch
                .pairs
                .iter()
                .map(|x| {
                    let r = &x.main.revision;
                    if r.to.code != r.from.code {
                        PatchKind::MajorUpgrade
                    } else if parse_version(&r.to.version).ok()
                        != parse_version(&r.from.version).ok()
                    {
                        PatchKind::MinorUpgrade
                    } else {
                        PatchKind::SmallUpdate
                    }
                })
                .collect();
            if kinds.iter().any(|k| *k != kind) {
                out.choose(
                    choice::CLASSIFICATION,
                    format!(
                        "{}'s pairs do not agree on what it is (small update or upgrade): it \
                         is treated as a {} because one of its pairs for this product is",
                        c.patch.name,
                        kind_text(kind)
                    ),
                );
            }
        }
        if c.kind == PatchKind::MajorUpgrade && !c.families.is_empty() {
            out.notes.push(format!(
                "{} is a major upgrade: Windows Installer ignores its MsiPatchSequence rows",
                c.patch.name
            ));
        }
    }

    // Patches without sequencing data: installed ones first, in the order
    // applied, then the new ones in the order given.
    let mut unsequenced: Vec<&Candidate> = cands.iter().filter(|c| !c.sequenced).collect();
    unsequenced.sort_by_key(|c| (!c.patch.installed, c.idx));

    // Obsolescence: only between patches without sequencing data.
    let mut by_code: HashMap<Guid, Vec<&Candidate>> = HashMap::new();
    for c in &cands {
        by_code.entry(c.patch.patch_code).or_default().push(c);
    }
    let mut obsolete_by: HashMap<usize, &Candidate> = HashMap::new();
    for c in &cands {
        for o in &c.patch.obsoletes {
            for q in by_code.get(o).map(Vec::as_slice).unwrap_or(&[]) {
                if q.idx == c.idx {
                    continue;
                }
                if c.sequenced || q.sequenced {
                    out.notes.push(format!(
                        "{} lists {} as obsolete in its RevisionNumber, but {} has \
                         sequencing data for this product, so Windows Installer ignores the list",
                        c.patch.name,
                        q.patch.name,
                        if c.sequenced {
                            &c.patch.name
                        } else {
                            &q.patch.name
                        }
                    ));
                } else if !c.patch.targets.contains(&code) {
                    out.choose(
                        choice::OBSOLETE_NEEDS_TARGET,
                        format!(
                            "{} lists {} as obsolete, but its Template does not list this \
                             product, so it does not eliminate it here",
                            c.patch.name, q.patch.name
                        ),
                    );
                } else {
                    obsolete_by.entry(q.idx).or_insert(c);
                }
            }
        }
    }

    let mut placed: Vec<Placed> = Vec::new();
    let mut applied_names: Vec<String> = Vec::new();
    let mut state = product.facts.clone();
    for c in &unsequenced {
        if let Some(by) = obsolete_by.get(&c.idx) {
            out.drop(
                c,
                DropReason::Obsolete,
                format!(
                    "obsoleted by {} ({}): its RevisionNumber lists {}",
                    by.patch.name, by.patch.patch_code, c.patch.patch_code
                ),
            );
            continue;
        }
        let j = judge(c.patch, &state);
        if j.verdict == Verdict::Applicable {
            placed.push(Placed {
                patch: c.patch.name.clone(),
                patch_code: c.patch.patch_code,
                installed: c.patch.installed,
                kind: c.kind,
                family: None,
                sequence: None,
                placed_by: if c.patch.installed {
                    "no sequencing data for this product: installed, in the order applied".into()
                } else {
                    "no sequencing data for this product: in the order given".into()
                },
                pair: j.pair.clone().unwrap_or_default(),
                version_after: j.after.version.clone(),
            });
            applied_names.push(c.patch.name.clone());
            state = j.after;
        } else {
            out.not_applicable(c, &j, describe_state(&state, &applied_names));
        }
    }
    let base_state = state.clone();
    let base_applied = applied_names.clone();

    // Minor upgrades with sequencing data, by the version they produce.
    let mut minors: Vec<&Candidate> = cands
        .iter()
        .filter(|c| c.sequenced && c.kind == PatchKind::MinorUpgrade)
        .collect();
    minors.sort_by_key(|c| (c.produces, c.idx));
    // slot_states[k]: the product after the k-th placed minor upgrade.
    let mut slot_states: Vec<(ProductFacts, Vec<String>)> =
        vec![(base_state.clone(), base_applied.clone())];
    let mut placed_minors: Vec<(&Candidate, Judged)> = Vec::new();
    for c in &minors {
        let (judge_state, judge_after) = if c.patch.minor_update_target_rtm {
            (&base_state, &base_applied)
        } else {
            (&state, &applied_names)
        };
        let j = judge(c.patch, judge_state);
        if j.verdict == Verdict::Applicable {
            state = j.after.clone();
            applied_names.push(c.patch.name.clone());
            slot_states.push((state.clone(), applied_names.clone()));
            placed_minors.push((c, j));
        } else {
            let at = describe_state(judge_state, judge_after);
            out.not_applicable(c, &j, at);
        }
    }

    // A tie only matters when both minor upgrades are in the sequence.
    for w in placed_minors.windows(2) {
        if let [(a, _), (b, _)] = w
            && a.produces == b.produces
        {
            out.choose(
                choice::TIE,
                format!(
                    "{} and {} both produce version {}: they keep the order given",
                    a.patch.name,
                    b.patch.name,
                    a.produces.as_ref().map(version_text).unwrap_or_default()
                ),
            );
        }
    }

    // Small updates with sequencing data: after the highest minor upgrade
    // they validate after, else before the first one.
    let mut slots: Vec<Vec<(&Candidate, Judged)>> =
        (0..slot_states.len()).map(|_| Vec::new()).collect();
    for c in cands
        .iter()
        .filter(|c| c.sequenced && c.kind == PatchKind::SmallUpdate)
    {
        let mut assigned = None;
        for (k, (s, _)) in slot_states.iter().enumerate().skip(1).rev() {
            let j = judge(c.patch, s);
            if j.verdict == Verdict::Applicable {
                assigned = Some((k, j));
                break;
            }
        }
        let assigned = match assigned {
            Some(a) => Some(a),
            None => {
                let j = judge(c.patch, &base_state);
                if j.verdict == Verdict::Applicable {
                    Some((0, j))
                } else {
                    let at = describe_state(&base_state, &base_applied);
                    out.not_applicable(c, &j, at);
                    None
                }
            }
        };
        if let Some((k, j)) = assigned
            && let Some(slot) = slots.get_mut(k)
        {
            slot.push((c, j));
        }
    }

    // The sequenced part in order: slot 0, minor upgrade 1, slot 1, ...
    let mut seq_order: Vec<(&Candidate, Judged, usize)> = Vec::new();
    let mut minors_iter = placed_minors.into_iter();
    for (k, slot) in slots.into_iter().enumerate() {
        if k > 0
            && let Some((m, j)) = minors_iter.next()
        {
            seq_order.push((m, j, k));
        }
        let members: Vec<&Candidate> = slot.iter().map(|(c, _)| *c).collect();
        let order = order_by_families(&members, code, &mut out)?;
        let mut slot: Vec<Option<(&Candidate, Judged)>> = slot.into_iter().map(Some).collect();
        for m in order {
            if let Some((c, j)) = slot.get_mut(m).and_then(Option::take) {
                seq_order.push((c, j, k));
            }
        }
    }

    // Supersedence.
    let mut superseded: HashMap<usize, String> = HashMap::new();
    supersede(&seq_order, &mut superseded);
    for (pos, (m, _, _)) in seq_order.iter().enumerate() {
        if m.kind == PatchKind::MinorUpgrade && m.patch.minor_update_target_rtm {
            for (q, _, _) in seq_order.iter().take(pos) {
                if superseded.contains_key(&q.idx) {
                    continue;
                }
                out.choose(
                    choice::TARGET_RTM,
                    format!(
                        "{} targets the product before any sequenced patch \
                         (MinorUpdateTargetRTM): it replaces {} which comes before it",
                        m.patch.name, q.patch.name
                    ),
                );
                superseded.insert(
                    q.idx,
                    format!(
                        "superseded by {} ({}): a minor upgrade with MinorUpdateTargetRTM \
                         replaces every sequenced patch before it",
                        m.patch.name, m.patch.patch_code
                    ),
                );
            }
        }
    }

    // The sequenced part, judged once more without the superseded patches.
    let rejudge = !superseded.is_empty();
    let mut current = base_state.clone();
    for (c, j, k) in seq_order {
        if let Some(why) = superseded.get(&c.idx) {
            out.drop(c, DropReason::Superseded, why.clone());
            continue;
        }
        let j = if rejudge {
            let target_rtm = c.kind == PatchKind::MinorUpgrade && c.patch.minor_update_target_rtm;
            let judge_state = if target_rtm { &base_state } else { &current };
            let again = judge(c.patch, judge_state);
            if again.verdict != Verdict::Applicable {
                out.choose(
                    choice::REJUDGED,
                    format!(
                        "{} no longer applies once the superseded patches are left out",
                        c.patch.name
                    ),
                );
                let at = describe_state(judge_state, &applied_names_of(&placed));
                out.not_applicable(c, &again, at);
                continue;
            }
            again
        } else {
            j
        };
        current = j.after.clone();
        let family = c.families.first();
        let placed_by = match c.kind {
            PatchKind::MinorUpgrade => format!(
                "minor upgrade to {}, ordered by the version it produces",
                j.after.version.as_deref().unwrap_or("?")
            ),
            _ if k == 0 => "small update, before the first minor upgrade, by family \
                            Sequence"
                .to_string(),
            _ => format!(
                "small update for the version minor upgrade {} produces, by family Sequence",
                placed
                    .iter()
                    .rev()
                    .find(|p| p.kind == PatchKind::MinorUpgrade)
                    .map(|p| p.patch.as_str())
                    .unwrap_or("?")
            ),
        };
        placed.push(Placed {
            patch: c.patch.name.clone(),
            patch_code: c.patch.patch_code,
            installed: c.patch.installed,
            kind: c.kind,
            family: family.map(|r| r.family.clone()),
            sequence: family.map(|r| r.sequence.clone()),
            placed_by,
            pair: j.pair.clone().unwrap_or_default(),
            version_after: j.after.version.clone(),
        });
    }

    if placed.len() > MAX_PATCHES_PER_PRODUCT {
        return Err(Error::usage(format!(
            "product {code}: {} patches would be applied; Windows Installer applies at most \
             {MAX_PATCHES_PER_PRODUCT} patches to one product (combine them, or eliminate \
             obsolete ones)",
            placed.len()
        )));
    }
    out.dropped.sort_by_key(|(idx, _)| *idx);
    Ok(ProductSequence {
        product_code: code,
        instance_id: product.instance_id.clone(),
        source: product.facts.source.clone(),
        final_version: placed
            .last()
            .and_then(|p| p.version_after.clone())
            .or_else(|| product.facts.version.clone()),
        sequence: placed,
        dropped: out.dropped.into_iter().map(|(_, d)| d).collect(),
        choices: out.choices,
        notes: out.notes,
    })
}

/// What `check` says about a patch's MsiPatchSequence rows for one product
/// its Template lists, when they make the patch sequence differently there
/// than on another product: no row applies to it (all are keyed to other
/// products), or it falls back to a NULL row while another target has a
/// keyed row with another Sequence.
pub fn row_warning(rows: &[SequenceRow], targets: &[Guid], product: Guid) -> Option<String> {
    let see = Setting::Sequence.api_words();
    if rows.is_empty() || !targets.contains(&product) {
        return None;
    }
    let keyed_elsewhere: Vec<String> = rows
        .iter()
        .filter_map(|r| r.product_code.filter(|c| *c != product))
        .map(|c| c.braced())
        .fold(Vec::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        });
    let mine: Vec<&SequenceRow> = rows
        .iter()
        .filter(|r| r.product_code == Some(product))
        .collect();
    if mine.is_empty() && rows.iter().all(|r| r.product_code.is_some()) {
        return Some(format!(
            "the patch's MsiPatchSequence rows name only {}: on {product} it has no sequencing \
             data, so Windows Installer applies it in the order patches are given, not by \
             family Sequence as on those products (see {see})",
            keyed_elsewhere.join(", ")
        ));
    }
    for null in rows.iter().filter(|r| r.product_code.is_none()) {
        if mine.iter().any(|m| m.family == null.family) {
            continue;
        }
        if let Some(other) = rows
            .iter()
            .find(|r| r.family == null.family && r.product_code.is_some() && r.order != null.order)
        {
            return Some(format!(
                "family {}: {product} uses the NULL-ProductCode row (Sequence {}), {} its own \
                 row (Sequence {}): the patch can be ordered differently on the two products \
                 (see {see})",
                null.family,
                null.sequence,
                other.product_code.map(|c| c.braced()).unwrap_or_default(),
                other.sequence
            ));
        }
    }
    None
}

fn applied_names_of(placed: &[Placed]) -> Vec<String> {
    placed.iter().map(|p| p.patch.clone()).collect()
}

fn kind_text(k: PatchKind) -> &'static str {
    match k {
        PatchKind::SmallUpdate => "small update",
        PatchKind::MinorUpgrade => "minor upgrade",
        PatchKind::MajorUpgrade => "major upgrade",
    }
}

/// Marks every placed sequenced patch that a later one supersedes in every
/// family it belongs to. A superseding patch must have SupersedeEarlier in
/// the family and a greater Sequence there; a small update supersedes only
/// small updates.
fn supersede(order: &[(&Candidate, Judged, usize)], out: &mut HashMap<usize, String>) {
    // Per family: the members with SupersedeEarlier, highest Sequence first.
    let mut supersiders: HashMap<&str, Vec<(VersionFields, &Candidate)>> = HashMap::new();
    for (c, _, _) in order {
        for r in &c.families {
            if r.attributes & SUPERSEDE_EARLIER != 0 {
                supersiders
                    .entry(r.family.as_str())
                    .or_default()
                    .push((r.order, c));
            }
        }
    }
    for list in supersiders.values_mut() {
        list.sort_by_key(|(s, c)| (Reverse(*s), c.idx));
    }
    for (q, _, _) in order {
        let mut by: Vec<String> = Vec::new();
        for r in &q.families {
            let found = supersiders.get(r.family.as_str()).and_then(|list| {
                list.iter().find(|(s, c)| {
                    c.idx != q.idx
                        && *s > r.order
                        && (c.kind == PatchKind::MinorUpgrade || q.kind == PatchKind::SmallUpdate)
                })
            });
            match found {
                Some((s, c)) => by.push(format!(
                    "{} ({}) in family {} (Sequence {} > {})",
                    c.patch.name,
                    c.patch.patch_code,
                    r.family,
                    version_text(s),
                    r.sequence
                )),
                None => {
                    by.clear();
                    break;
                }
            }
        }
        if !by.is_empty() {
            out.insert(q.idx, format!("superseded by {}", by.join("; by ")));
        }
    }
}

#[cfg(test)]
mod tests;
