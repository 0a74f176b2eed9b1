//! The retarget plan: a pure, serializable description of every change a
//! retarget makes, computed from the understood patch and the requested
//! instances without touching any file.
//!
//! Decisions, per instance and per transform pair made for its base:
//! * a pair whose main transform validates the product code must be copied
//!   for the instance (otherwise the instance is refused at layer 2);
//! * a pair that does not validate the product code already applies to the
//!   instance once Template lists it; a copy would give the instance two
//!   valid pairs, so none is made unless `copy_all` is set;
//! * a copy that already exists (same revision with the instance code) is
//!   reported as present, which makes a retarget idempotent.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use crate::edit::copy::CopyPlan;
use crate::edit::copy::component_id;
use crate::edit::copy::copy_of;
use crate::edit::isolate::{self, ComponentDecision, ComponentIsolation, InstanceFacts};
use crate::edit::names::{InstanceTag, NameAllocator};
use crate::edit::sequence::{OwnRow, SequenceRowPlan};
use crate::error::{Error, Reason, Result, Setting};
use crate::format::guid::Guid;
use crate::format::summary::{self, Validation};
use crate::format::transform::edit::Change;
use crate::format::transform::{RowKind, Value};
use crate::patch::{MAX_PAIRS, Pair, Patch, Transform};
use crate::product::instances::{Instance, InstanceSource};

/// One instance to retarget to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRequest {
    /// The product the instance was made from; may be omitted when the
    /// patch targets exactly one product.
    pub base: Option<Guid>,
    /// The instance's product code.
    pub instance: Guid,
    /// A short instance id (e.g. the instance transform's name), used in
    /// the names of the copies.
    pub id: Option<String>,
    /// The instance's own UpgradeCode, when it differs from the base's.
    #[serde(default)]
    pub upgrade_code: Option<Guid>,
    /// The ComponentId the instance's own transform gives each component,
    /// by key (read from the product with `--instances-from`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub component_codes: IndexMap<String, String>,
    /// Whether the instance transforms of the product it was read from
    /// isolate components (what `--isolate-components auto` follows).
    #[serde(default)]
    pub product_isolates: bool,
}

impl InstanceRequest {
    /// Parses `{INSTANCE}` or `{BASE}={INSTANCE}`.
    pub fn parse(text: &str) -> Result<InstanceRequest> {
        let (base, instance) = match text.split_once('=') {
            Some((b, i)) => (Some(Guid::parse_lenient(b)?), Guid::parse_lenient(i)?),
            None => (None, Guid::parse_lenient(text)?),
        };
        Ok(InstanceRequest {
            base,
            instance,
            id: None,
            upgrade_code: None,
            component_codes: IndexMap::new(),
            product_isolates: false,
        })
    }
}

/// Options that change the decisions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Copy every pair of the base, even those that do not validate the
    /// product code.
    pub copy_all: bool,
    /// Remove signature streams instead of refusing a signed patch.
    pub strip_signature: bool,
    /// Which components the patch adds get a code of each instance's own
    /// (see [`crate::edit::isolate`]).
    #[serde(default)]
    pub isolation: ComponentIsolation,
    /// Go past [`MAX_APPLIED_TRANSFORMS`] transforms in LastSavedBy
    /// instead of refusing.
    pub beyond_transform_limit: bool,
}

/// The most transforms Windows Installer documents a package applies in
/// one installation or update (MSI SDK, "Applying Transforms"). Whether
/// the transforms a patch lists count toward it is not documented, so a
/// retarget that would list more is refused unless allowed.
pub const MAX_APPLIED_TRANSFORMS: usize = 255;

/// What happens to one pair for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PairAction {
    /// Copied under new names.
    Copy {
        /// New main transform name.
        name: String,
        /// New partner name, when the source has a partner.
        partner: Option<String>,
    },
    /// No copy: the pair does not validate the product code, so it applies
    /// to the instance once Template lists it.
    NotNeeded {
        /// Why, in words.
        reason: String,
    },
    /// A copy for this instance is already in the patch.
    AlreadyPresent {
        /// The existing copy's main transform name.
        name: String,
    },
}

/// The decision for one pair of the base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairDecision {
    /// The source pair's main transform name.
    pub source: String,
    /// What happens.
    #[serde(flatten)]
    pub action: PairAction,
    /// Why, when the reason is not the usual one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Overall state of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Something is added for it.
    Retarget,
    /// Template lists it and every copy it needs exists.
    AlreadyDone,
}

/// The plan for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePlan {
    /// The instance product code.
    pub instance: Guid,
    /// Its instance id, when given.
    pub id: Option<String>,
    /// Its own UpgradeCode, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_code: Option<Guid>,
    /// The base product it was made from.
    pub base: Guid,
    /// Whether anything changes for it.
    pub status: InstanceStatus,
    /// Whether its code is added to Template.
    pub template_added: bool,
    /// One decision per pair of the base.
    pub pairs: Vec<PairDecision>,
    /// One decision per component the base's copied main transforms add
    /// (empty when they add none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentDecision>,
}

/// A `;`-list kept as the summary stores it (the plan writes it back as
/// it is), shown in JSON as an array of its non-empty entries, the shape
/// `inspect` and `check` give Template.
mod list_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(crate::format::summary::split_list(text))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.join(";"))
    }
}

/// Every change of one retarget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The patch code (left unchanged).
    pub patch_code: Guid,
    /// Template before (JSON: an array of its entries).
    #[serde(with = "list_text")]
    pub template_before: String,
    /// Template after (JSON: an array of its entries).
    #[serde(with = "list_text")]
    pub template_after: String,
    /// LastSavedBy before (JSON: an array of its entries).
    #[serde(with = "list_text")]
    pub last_saved_by_before: String,
    /// LastSavedBy after (JSON: an array of its entries).
    #[serde(with = "list_text")]
    pub last_saved_by_after: String,
    /// Per instance, in request order.
    pub instances: Vec<InstancePlan>,
    /// New substorages, in the order they are listed in LastSavedBy.
    pub copies: Vec<CopyPlan>,
    /// Signature streams removed (only with `strip_signature`).
    pub removed_streams: Vec<String>,
    /// Substorages removed (by `untarget`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_storages: Vec<String>,
    /// MsiPatchSequence rows added to the patch's own database: each row
    /// keyed to a base, mirrored for an instance of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence_rows_added: Vec<SequenceRowPlan>,
    /// MsiPatchSequence rows removed (by `untarget`): the mirrored rows of
    /// the instances removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence_rows_removed: Vec<SequenceRowPlan>,
}

impl Plan {
    /// Whether applying the plan changes the file at all.
    pub fn changes_anything(&self) -> bool {
        self.template_after != self.template_before
            || self.last_saved_by_after != self.last_saved_by_before
            || !self.copies.is_empty()
            || !self.removed_streams.is_empty()
            || !self.removed_storages.is_empty()
            || !self.sequence_rows_added.is_empty()
            || !self.sequence_rows_removed.is_empty()
    }

    /// Declares the MsiPatchSequence rows each instance gets: for every
    /// row of `rows` (the patch's own, in stored order) keyed to the
    /// instance's base, the same row keyed to the instance, unless the
    /// instance already has a row of that family. An instance that gets a
    /// row is one the retarget changes.
    pub fn add_sequence_rows(&mut self, rows: &[OwnRow]) {
        for inst in &mut self.instances {
            let added = crate::edit::sequence::rows_to_add(rows, inst.base, inst.instance);
            if !added.is_empty() {
                inst.status = InstanceStatus::Retarget;
            }
            self.sequence_rows_added.extend(added);
        }
    }
}

fn targets_text<F, C>(patch: &Patch<F, C>) -> String {
    patch
        .targets
        .iter()
        .map(Guid::braced)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pairs of a patch by the product they are made for, with the
/// position of each product's first pair in LastSavedBy. Built once per
/// plan: planning asks, for every instance, for the pairs of its base, of
/// the instance itself and of the products it may derive from, and
/// scanning all pairs (and every target) for each question made a re-run
/// on a patch already retargeted to 5,000 instances take 19 s where the
/// first run took under 5 s.
pub(crate) struct PairIndex<'a> {
    by_base: HashMap<Guid, (usize, Vec<&'a Pair>)>,
}

impl<'a> PairIndex<'a> {
    /// Indexes the pairs of `patch`.
    pub(crate) fn new<F, C>(patch: &'a Patch<F, C>) -> PairIndex<'a> {
        let mut by_base: HashMap<Guid, (usize, Vec<&Pair>)> = HashMap::new();
        for (i, p) in patch.pairs.iter().enumerate() {
            by_base.entry(p.base()).or_insert((i, Vec::new())).1.push(p);
        }
        PairIndex { by_base }
    }

    /// The pairs made for `base`, in LastSavedBy order.
    pub(crate) fn pairs_of(&self, base: Guid) -> &[&'a Pair] {
        self.by_base.get(&base).map_or(&[], |(_, v)| v.as_slice())
    }

    /// The product `code` was retargeted from, if its pairs are copies of
    /// the pairs of a product listed earlier in LastSavedBy.
    pub(crate) fn derived_from<F, C>(&self, patch: &Patch<F, C>, code: Guid) -> Option<Guid> {
        let (my_first, mine) = self.by_base.get(&code)?;
        // Every pair of `code` must be a copy of some pair of the earlier
        // product; not every pair of that product needs a copy (pairs that
        // do not check the product code are not copied). The copy's
        // upgrade code may be an instance's own.
        patch.targets.iter().copied().find(|b| {
            *b != code
                && self.by_base.get(b).is_some_and(|(first, theirs)| {
                    first < my_first
                        && mine.iter().all(|m| {
                            theirs.iter().any(|t| {
                                copy_of(t, m, code, m.main.revision.upgrade_code).is_some()
                            })
                        })
                })
        })
    }
}

/// The product `code` was retargeted from, if its pairs are copies of the
/// pairs of a product listed earlier in LastSavedBy.
pub(crate) fn derived_from<F, C>(patch: &Patch<F, C>, code: Guid) -> Option<Guid> {
    // One pass over the pairs: a hostile patch may list thousands of
    // products with a pair each (scanning the pairs for every product made
    // that cubic: 2,000 pairs took 15 seconds).
    PairIndex::new(patch).derived_from(patch, code)
}

/// The products a request without a base can mean: products with
/// transform pairs of their own (not instances served by a pair that does
/// not check the product code), whose pairs are not copies of another
/// product's (not instances retargeted earlier), and that are not among
/// the requested instances; so that re-running a retarget, or adding one
/// more instance to a retargeted patch, resolves as the first run did.
/// The same for every request, so computed once per plan.
fn base_candidates<F, C>(
    patch: &Patch<F, C>,
    index: &PairIndex<'_>,
    requested: &HashSet<Guid>,
) -> Vec<Guid> {
    patch
        .targets
        .iter()
        .copied()
        .filter(|t| {
            !requested.contains(t)
                && !index.pairs_of(*t).is_empty()
                && index.derived_from(patch, *t).is_none()
        })
        .collect()
}

/// Resolves the base of a request: the named one, or the only product the
/// request can mean (one of `candidates`, see [`base_candidates`]).
fn resolve_base<F, C>(
    patch: &Patch<F, C>,
    req: &InstanceRequest,
    candidates: &[Guid],
) -> Result<Guid> {
    if let Some(base) = req.base {
        if !patch.targets_product(base) {
            return Err(Error::usage(format!(
                "{}={}: the patch does not target {base}; its targets are {}",
                base,
                req.instance,
                targets_text(patch)
            )));
        }
        return Ok(base);
    }
    match (candidates, patch.targets.as_slice()) {
        ([only], _) => Ok(*only),
        (_, []) => Err(Error::format(
            "the patch's Template lists no target product",
        )),
        (_, [only]) => Ok(*only),
        _ => Err(Error::refused(
            Reason::new(format!(
                "the patch targets {} products ({}); name the base of instance {} as ",
                patch.targets.len(),
                targets_text(patch),
                req.instance,
            ))
            .then(Setting::InstanceBase {
                instance: req.instance.to_string(),
            }),
        )),
    }
}

/// The copy of `pair` that already serves `instance`, if any: a copy
/// carrying exactly the row changes this plan would declare for it
/// (`rows`: main transform's, partner's). With an upgrade code of the
/// instance's own, a copy of a pair that checks the upgrade code must
/// carry it. A copy made for `instance` has the instance's code as its
/// from code, so only the instance's pairs are looked at.
fn existing_copy<'a>(
    index: &PairIndex<'a>,
    pair: &Pair,
    instance: Guid,
    upgrade: Option<Guid>,
    rows: (&[Change], &[Change]),
) -> Result<Option<&'a Pair>> {
    let mut other = None;
    for &q in index.pairs_of(instance) {
        let upgrade_ok = upgrade.is_none()
            || !pair.main.validation().has(Validation::UPGRADE_CODE)
            || q.main.revision.upgrade_code == upgrade;
        match copy_of(pair, q, instance, upgrade) {
            Some(d) if upgrade_ok && d.matches(rows.0, rows.1) => return Ok(Some(q)),
            Some(d) if upgrade_ok => other = Some((q, d)),
            _ => {}
        }
    }
    // A copy for the instance with other component codes: a second copy
    // would give the instance two valid pairs.
    if let Some((q, d)) = other {
        return Err(Error::refused(format!(
            "{} is already a copy of {} for instance {instance}, with other component codes \
             ({}) than this retarget gives ({}); untarget the instance first to make it again",
            q.main.name,
            pair.main.name,
            show_codes(&d.main),
            show_codes(rows.0)
        )));
    }
    Ok(None)
}

/// Component codes of row changes, for messages: `Key -> code`, or `none`.
fn show_codes(rows: &[Change]) -> String {
    let shown: Vec<String> = rows
        .iter()
        .filter_map(|c| match c {
            Change::Cell {
                key,
                new: Value::Str(new),
                ..
            } => Some(match key.first() {
                Some(Value::Str(k)) => format!("{k} -> {new}"),
                _ => new.clone(),
            }),
            _ => None,
        })
        .collect();
    if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(", ")
    }
}

/// Computes the plan. Pure: reads only the understood patch.
pub fn plan<F, C>(
    patch: &Patch<F, C>,
    requests: &[InstanceRequest],
    opts: &PlanOptions,
) -> Result<Plan> {
    if !patch.signatures.is_empty() && !opts.strip_signature {
        return Err(Error::refused(
            Reason::new(format!(
                "the patch is signed ({}); retargeting changes its content and breaks the \
                 signature. Use ",
                patch
                    .signatures
                    .iter()
                    .map(|s| crate::format::container::show_name(s))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
            .then(Setting::StripSignature)
            .and(format!(
                " to remove it, then {}",
                crate::format::signature::RESIGN
            )),
        ));
    }
    let mut names = NameAllocator::new(patch.root_names.iter().map(String::as_str));
    let mut instances: Vec<InstancePlan> = Vec::new();
    let mut copies = Vec::new();
    let mut new_targets: Vec<String> = Vec::new();
    let mut new_entries: Vec<String> = Vec::new();

    let index = PairIndex::new(patch);
    let requested: HashSet<Guid> = requests.iter().map(|r| r.instance).collect();
    let candidates = base_candidates(patch, &index, &requested);
    let mut planned: HashMap<Guid, usize> = HashMap::new();
    // Pairs the result will list: a result past the limit could not be
    // read back (and verified), so it is refused here, before any work
    // and while planning costs little.
    let mut pairs_after = patch.pairs.len();
    // Every Component key the copied main transforms insert, to refuse
    // `--isolate-components KEY` naming none of them.
    let mut inserted_keys: Vec<String> = Vec::new();
    // The instances in the order of their product codes (the same instance
    // given twice keeps its first base): the names of the copies, Template
    // and LastSavedBy then do not depend on the order the instances were
    // given in, and neither do the bytes of the result.
    let mut ordered: Vec<&InstanceRequest> = requests.iter().collect();
    ordered.sort_by_key(|r| r.instance);
    for (done, &req) in ordered.iter().enumerate() {
        let base = resolve_base(patch, req, &candidates)?;
        if let Some(earlier) = planned.get(&req.instance).map(|&k| &instances[k]) {
            if earlier.base != base {
                return Err(Error::usage(format!(
                    "instance {} is given twice, with bases {} and {base}",
                    req.instance, earlier.base
                )));
            }
            continue; // the same instance twice is one instance
        }
        if base == req.instance {
            return Err(Error::usage(format!(
                "instance {} is the base product itself",
                req.instance
            )));
        }
        // A product with transform pairs of its own that are not copies of
        // this base's is a target in its own right: copying the base's pairs
        // for it would give it two pairs that may both apply.
        if !index.pairs_of(req.instance).is_empty()
            && index.derived_from(patch, req.instance) != Some(base)
        {
            return Err(Error::usage(format!(
                "{} is a target of the patch with transform pairs of its own ({}); it \
                 cannot also be an instance of {base}",
                req.instance,
                patch
                    .pairs_of(req.instance)
                    .map(|p| p.main.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let pairs = index.pairs_of(base);
        if pairs.is_empty() {
            return Err(Error::format(format!(
                "no transform pair of the patch is made for {base} (no main transform in \
                 LastSavedBy has it as its from product code)"
            )));
        }
        if let Some(p) = pairs
            .iter()
            .find(|p| p.main.revision.changes_product_code())
        {
            return Err(Error::refused(format!(
                "transform {} changes the product code ({} -> {}): a major-upgrade patch \
                 would give every instance the same new product code",
                p.main.name, p.main.revision.from.code, p.main.revision.to.code
            )));
        }
        let tag = InstanceTag::for_instance(req.id.as_deref(), req.instance.0);
        let mut decisions = Vec::new();
        let mut components = Vec::new();
        let facts = InstanceFacts {
            instance: req.instance,
            id: req.id.as_deref(),
            codes: &req.component_codes,
            product_isolates: req.product_isolates,
        };
        for &pair in pairs {
            let validates = pair.main.validation().has(Validation::PRODUCT);
            // An upgrade code of the instance's own matters only to pairs
            // that check it, and only when it differs from the pair's.
            let own_upgrade = req
                .upgrade_code
                .filter(|u| Some(*u) != pair.main.revision.upgrade_code);
            let upgrade_checked = pair.main.validation().has(Validation::UPGRADE_CODE);
            let upgrade = own_upgrade.filter(|_| upgrade_checked);
            let mut note = None;
            // The codes this instance's copy gives the components the main
            // transform adds; only copies carry them, so they are decided
            // for pairs that are copied (or already were).
            let inserted = pair.main.inserted_components();
            let copied = validates || upgrade.is_some() || opts.copy_all;
            let chosen = if copied {
                isolate::decide(&pair.main.name, &inserted, &facts, &opts.isolation)?
            } else {
                isolate::not_copied(&pair.main.name, &inserted)
            };
            let rows: Vec<Change> = chosen
                .iter()
                .filter_map(|d| {
                    d.new_code().map(|code| {
                        component_id(RowKind::Insert, &d.component, &d.code_before, code)
                    })
                })
                .collect();
            let action = if let Some(q) =
                existing_copy(&index, pair, req.instance, upgrade, (&rows, &[]))?
            {
                PairAction::AlreadyPresent {
                    name: q.main.name.clone(),
                }
            } else if copied {
                if !validates && upgrade.is_some() {
                    note = Some(format!(
                        "{} does not check the product code but checks the upgrade code, \
                         and the instance has its own ({}): without a copy carrying it the \
                         instance would be refused",
                        pair.main.name,
                        upgrade.map(|u| u.braced()).unwrap_or_default()
                    ));
                }
                pairs_after += 1;
                if pairs_after > MAX_PAIRS {
                    return Err(Error::usage(format!(
                        "the result would list more than {MAX_PAIRS} transform pairs, the most a \
                         patch may list (the patch has {}; the first {} of the {} instances \
                         already need {} more): retarget to fewer instances per patch",
                        patch.pairs.len(),
                        done + 1,
                        requests.len(),
                        pairs_after - patch.pairs.len()
                    )));
                }
                let name = names.allocate(&pair.main.name, &tag).map_err(Error::from)?;
                let partner = pair.partner.as_ref().map(|_| format!("#{name}"));
                let mut push = |src: &Transform, new: &str, rows: &[Change]| {
                    let checks_upgrade = src.validation().has(Validation::UPGRADE_CODE);
                    copies.push(CopyPlan {
                        instance: req.instance,
                        source: src.name.clone(),
                        name: new.to_string(),
                        revision_before: src.revision.raw.clone(),
                        revision_after: src.revision.retargeted(
                            base,
                            req.instance,
                            own_upgrade.filter(|_| checks_upgrade),
                        ),
                        rows: rows.to_vec(),
                    });
                    new_entries.push(format!(":{new}"));
                };
                push(&pair.main, &name, &rows);
                if let (Some(src), Some(new)) = (&pair.partner, &partner) {
                    push(src, new, &[]);
                }
                PairAction::Copy { name, partner }
            } else {
                PairAction::NotNeeded {
                    reason: format!(
                        "{} does not validate the product code (CharCount {:#010x}); it \
                         applies to the instance once Template lists it, and a copy would \
                         give the instance two valid pairs",
                        pair.main.name,
                        pair.main.char_count.unwrap_or(0)
                    ),
                }
            };
            decisions.push(PairDecision {
                source: pair.main.name.clone(),
                action,
                note,
            });
            inserted_keys.extend(inserted.into_iter().map(|(k, _)| k));
            components.extend(chosen);
        }
        let template_added = !patch.targets_product(req.instance);
        if template_added {
            new_targets.push(req.instance.braced());
        }
        let copies_needed = decisions
            .iter()
            .any(|d| matches!(d.action, PairAction::Copy { .. }));
        planned.insert(req.instance, instances.len());
        instances.push(InstancePlan {
            instance: req.instance,
            id: req.id.clone(),
            upgrade_code: req.upgrade_code,
            base,
            status: if template_added || copies_needed {
                InstanceStatus::Retarget
            } else {
                InstanceStatus::AlreadyDone
            },
            template_added,
            pairs: decisions,
            components,
        });
    }

    let listed = summary::split_list(&patch.last_saved_by).len();
    let after = listed + new_entries.len();
    if !new_entries.is_empty() && after > MAX_APPLIED_TRANSFORMS && !opts.beyond_transform_limit {
        return Err(Error::refused(
            Reason::new(format!(
                "the result would list {after} transforms in LastSavedBy (the patch has \
                 {listed}, the {} instances add {}); Windows Installer documents that a package \
                 applies no more than {MAX_APPLIED_TRANSFORMS} transforms in an installation or \
                 update (MSI SDK, Applying Transforms) and does not say whether a patch's count: \
                 retarget to fewer instances per patch, or allow it explicitly (",
                instances.len(),
                new_entries.len()
            ))
            .then(Setting::BeyondTransformLimit)
            .and(") once tested on Windows"),
        ));
    }
    if !requests.is_empty() {
        isolate::check_keys(&opts.isolation, inserted_keys.iter().map(String::as_str))?;
    }
    let removed_streams = if opts.strip_signature {
        patch.signatures.clone()
    } else {
        Vec::new()
    };
    Ok(Plan {
        patch_code: patch.codes.patch_code,
        template_before: patch.template.clone(),
        template_after: summary::append_list(&patch.template, &new_targets),
        last_saved_by_before: patch.last_saved_by.clone(),
        last_saved_by_after: summary::append_list(&patch.last_saved_by, &new_entries),
        instances,
        copies,
        removed_streams,
        removed_storages: Vec::new(),
        sequence_rows_added: Vec::new(),
        sequence_rows_removed: Vec::new(),
    })
}

// The requests for instances a product defines are built here, not in
// `product`: reading a product knows nothing of edits.
impl Instance {
    /// The retarget request for this instance. `default_base` is the
    /// product the instance came from when the instance itself does not
    /// say (instances of a product's own transforms); `base_upgrade_code`
    /// keeps an UpgradeCode equal to the base's from counting as the
    /// instance's own.
    pub fn request(
        &self,
        default_base: Option<Guid>,
        base_upgrade_code: Option<Guid>,
    ) -> InstanceRequest {
        InstanceRequest {
            base: self.base.or(default_base),
            instance: self.product_code,
            id: self.id.clone(),
            upgrade_code: self.upgrade_code.filter(|u| Some(*u) != base_upgrade_code),
            component_codes: self.component_codes.clone(),
            product_isolates: false,
        }
    }
}

impl InstanceSource {
    /// Retarget requests for every instance found.
    pub fn requests(&self) -> Vec<InstanceRequest> {
        let isolates = self.isolates_components();
        self.instances
            .iter()
            .map(|i| InstanceRequest {
                product_isolates: isolates,
                ..i.request(Some(self.base), self.base_upgrade_code)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_request_forms() {
        let r = InstanceRequest::parse("{11111111-1111-1111-1111-111111111111}").unwrap();
        assert_eq!(r.base, None);
        let r = InstanceRequest::parse(
            "6ea3ae83-a14f-4b8b-8a86-bb977a9e7833={11111111-1111-1111-1111-111111111111}",
        )
        .unwrap();
        assert_eq!(
            r.base.unwrap().braced(),
            "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}"
        );
        assert!(InstanceRequest::parse("x={11111111-1111-1111-1111-111111111111}").is_err());
    }

    fn open_spec(spec: &crate::testkit::synth::PatchSpec) -> (tempfile::TempDir, Patch) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.msp");
        crate::testkit::synth::write_patch_file(spec, &path).unwrap();
        let patch = Patch::open(&path).unwrap();
        (dir, patch)
    }

    const OWN_UPGRADE: &str = "{99999999-9999-4999-8999-999999999999}";

    fn with_upgrade(code: &str) -> InstanceRequest {
        InstanceRequest {
            upgrade_code: Some(Guid::parse_braced(OWN_UPGRADE).unwrap()),
            ..InstanceRequest::parse(code).unwrap()
        }
    }

    #[test]
    fn own_upgrade_code_is_written_where_the_pair_checks_it() {
        let (_dir, patch) = open_spec(&crate::testkit::synth::PatchSpec::single_product());
        let req = with_upgrade("{11111111-1111-4111-8111-111111111111}");
        let plan = plan(&patch, &[req], &PlanOptions::default()).unwrap();
        assert_eq!(plan.copies.len(), 2);
        for c in &plan.copies {
            assert!(
                c.revision_after.ends_with(&format!(";{OWN_UPGRADE}")),
                "{}",
                c.revision_after
            );
        }
        assert_eq!(
            plan.instances[0].upgrade_code.unwrap().braced(),
            OWN_UPGRADE
        );
    }

    #[test]
    fn a_pair_checking_only_the_upgrade_code_is_copied_for_an_own_upgrade_code() {
        let mut spec = crate::testkit::synth::PatchSpec::single_product();
        for p in &mut spec.pairs {
            p.char_count = 0x0800_001F; // upgrade code only
        }
        let (_dir, patch) = open_spec(&spec);
        let code = "{11111111-1111-4111-8111-111111111111}";
        // Without an upgrade code of its own the instance needs no copy.
        let plain = plan(
            &patch,
            &[InstanceRequest::parse(code).unwrap()],
            &PlanOptions::default(),
        )
        .unwrap();
        assert!(plain.copies.is_empty());
        assert!(matches!(
            plain.instances[0].pairs[0].action,
            PairAction::NotNeeded { .. }
        ));
        // With one, the pair is copied and the report says why.
        let own = plan(&patch, &[with_upgrade(code)], &PlanOptions::default()).unwrap();
        assert_eq!(own.copies.len(), 2);
        let note = own.instances[0].pairs[0].note.as_deref().unwrap();
        assert!(note.contains("checks the upgrade code"), "{note}");
    }

    /// Regression: a re-run on a patch already retargeted to 5,000
    /// instances took 19 s where the first run took under 5 s: for every
    /// instance, planning looked for its existing copy among all pairs and
    /// re-derived every target's origin. The work per instance is now
    /// bounded: with `n` instances already done, re-planning them compares
    /// pairs a small multiple of `n` times, not `n²`.
    #[test]
    fn r_replanning_a_retargeted_patch_is_linear_in_its_instances() {
        let (_dir, mut patch) = open_spec(&crate::testkit::synth::PatchSpec::single_product());
        let source = patch.pairs[0].clone();
        let base = source.base();
        let n = 400u128;
        let codes: Vec<Guid> = (1..=n)
            .map(|k| {
                Guid(uuid::Uuid::from_u128(
                    0x1111_1111_1111_4111_8111_0000_0000_0000 + k,
                ))
            })
            .collect();
        // The copies a retarget to `codes` makes, as the patch would list them.
        for (k, code) in codes.iter().enumerate() {
            let mut copy = source.clone();
            for t in std::iter::once(&mut copy.main).chain(copy.partner.as_mut()) {
                t.name = format!("{}_{k}", t.name);
                assert_eq!(t.revision.from.code, base);
                t.revision.from.code = *code;
                t.revision.to.code = *code;
            }
            patch.pairs.push(copy);
            patch.targets.push(*code);
        }
        let requests: Vec<InstanceRequest> = codes
            .iter()
            .map(|c| InstanceRequest::parse(&c.braced()).unwrap())
            .collect();
        crate::edit::copy::COPY_COMPARISONS.with(|c| c.set(0));
        let plan = plan(&patch, &requests, &PlanOptions::default()).unwrap();
        let comparisons = crate::edit::copy::COPY_COMPARISONS.with(|c| c.get());
        assert!(!plan.changes_anything());
        assert!(
            plan.instances
                .iter()
                .all(|i| i.status == InstanceStatus::AlreadyDone),
            "{:?}",
            plan.instances.first()
        );
        assert!(
            comparisons <= 4 * n as u64,
            "{comparisons} pair comparisons for {n} instances"
        );
    }

    /// Idempotence through the declared differences: a copy whose
    /// ComponentId was changed as declared is the existing copy for a plan
    /// that would declare the same change, and not for one that would
    /// declare none (or another).
    #[test]
    fn an_existing_copy_is_one_with_the_row_changes_the_plan_would_declare() {
        use crate::edit::copy::component_id;
        use crate::format::transform::RowKind;
        use crate::testkit::components::{ComponentSpec, TransformTables};
        const G: &str = "{0A0A0A0A-0000-4000-8000-00000000000A}";
        const G1: &str = "{1B1B1B1B-1111-4111-8111-11111111111B}";
        const G2: &str = "{2C2C2C2C-2222-4222-8222-22222222222C}";
        let i1 = "{11111111-1111-4111-8111-111111111111}";
        let mut spec = crate::testkit::synth::PatchSpec::single_product();
        spec.tables = Some(TransformTables::adding(
            vec![ComponentSpec::new("NewComp", G)],
            "1.0.1.0",
        ));
        let declared = vec![component_id(RowKind::Insert, "NewComp", G, G1)];
        let a = crate::edit::verify::testing::apply_to_copy(
            &spec,
            &[i1],
            &PlanOptions::default(),
            |plan| {
                for c in &mut plan.copies {
                    if !c.source.starts_with('#') {
                        c.rows = declared.clone();
                    }
                }
            },
        );
        let out = Patch::open(&a.output).unwrap();
        let index = PairIndex::new(&out);
        let source = &out.pairs[0];
        let instance = Guid::parse_braced(i1).unwrap();
        let found = existing_copy(&index, source, instance, None, (&declared, &[])).unwrap();
        assert_eq!(
            found.map(|p| p.main.name.as_str()),
            Some(a.plan.copies[0].name.as_str())
        );
        // A copy with other row changes is not the existing copy, and a
        // second copy would give the instance two valid pairs: refused.
        let e = existing_copy(&index, source, instance, None, (&[], &[])).unwrap_err();
        assert!(e.to_string().contains("with other component codes"), "{e}");
        let other = vec![component_id(RowKind::Insert, "NewComp", G, G2)];
        let e = existing_copy(&index, source, instance, None, (&other, &[])).unwrap_err();
        assert!(e.to_string().contains(G2), "{e}");
        // Another instance has no copy at all.
        let i2 = Guid::parse_braced("{22222222-2222-4222-8222-222222222222}").unwrap();
        assert!(
            existing_copy(&index, source, i2, None, (&[], &[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_retarget_with_own_upgrade_code_is_idempotent() {
        use crate::commands::retarget::{RetargetRequest, retarget};
        use crate::edit::engine::{Destination, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("p.msp");
        crate::testkit::synth::write_patch_file(
            &crate::testkit::synth::PatchSpec::single_product(),
            &input,
        )
        .unwrap();
        let req = |input: &std::path::Path, out: &str| RetargetRequest {
            input: input.to_path_buf(),
            destination: Destination::Output(dir.path().join(out)),
            instances: vec![with_upgrade("{11111111-1111-4111-8111-111111111111}")],
            options: PlanOptions::default(),
        };
        assert_eq!(
            retarget(&req(&input, "a.msp")).unwrap().outcome,
            Outcome::Done
        );
        let again = retarget(&req(&dir.path().join("a.msp"), "b.msp")).unwrap();
        assert_eq!(again.outcome, Outcome::AlreadyDone);
    }
}
