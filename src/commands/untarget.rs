//! `untarget`: the inverse of a retarget. Removes the transform copies made
//! for some instances and their Template entries, with the same safety as a
//! retarget (an overlay of the input, verification, atomic commit).
//!
//! A product whose transform pairs are not copies of another product's
//! pairs is one of the patch's original targets; removing it is refused
//! unless forced, because the patch would no longer service it.

use std::path::PathBuf;

use crate::edit::engine::{Destination, Outcome, destination_path, execute, lock_for_edit};
use crate::edit::plan::{Plan, derived_from};
use crate::error::{Context, Error, Reason, Result, Setting};
use crate::format::container::Storage;
use crate::format::guid::Guid;
use crate::format::names::name_key;
use crate::format::summary;
use crate::patch::Patch;
use crate::report::edit::{UntargetInstance, UntargetReport};

/// One untarget to perform.
#[derive(Debug, Clone)]
pub struct UntargetRequest {
    /// The patch to read.
    pub input: PathBuf,
    /// Where the result goes.
    pub destination: Destination,
    /// The product codes to remove.
    pub instances: Vec<Guid>,
    /// Also remove original targets of the patch.
    pub force: bool,
}

/// Computes what an untarget removes. Pure.
pub fn plan_untarget<F, C>(
    patch: &Patch<F, C>,
    instances: &[Guid],
    force: bool,
) -> Result<(Vec<UntargetInstance>, Plan)> {
    let mut out: Vec<UntargetInstance> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for &code in instances {
        if out.iter().any(|i| i.instance == code) {
            continue;
        }
        let pairs: Vec<_> = patch.pairs_of(code).collect();
        // A code the patch does not know is most likely a typo: writing an
        // unchanged copy and exiting 0 would let it pass unnoticed.
        if pairs.is_empty() && !patch.targets_product(code) {
            return Err(Error::refused(format!(
                "{code} is not a target of the patch (not in its Template, and no transform \
                 was made for it): nothing to remove, nothing written; check the code"
            )));
        }
        let original = !pairs.is_empty() && derived_from(patch, code).is_none();
        if original && !force {
            return Err(Error::refused(
                Reason::new(format!(
                    "{code} is an original target of the patch (its transforms {} are not \
                     copies of another product's); use ",
                    pairs
                        .iter()
                        .map(|p| p.main.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .then(Setting::Force)
                .and(" to remove it anyway"),
            ));
        }
        let mut names = Vec::new();
        for p in pairs {
            names.push(p.main.name.clone());
            if let Some(partner) = &p.partner {
                names.push(partner.name.clone());
            }
        }
        removed.extend(names.iter().cloned());
        out.push(UntargetInstance {
            instance: code,
            template_removed: patch.targets_product(code),
            removed_transforms: names,
            original_target: original,
        });
    }
    let remove_codes: Vec<Guid> = out.iter().map(|i| i.instance).collect();
    let template_after = summary::retain_list(&patch.template, |e| {
        Guid::parse_braced(e.trim()).map_or(true, |g| !remove_codes.contains(&g))
    });
    // LastSavedBy may spell a storage in another case than it is stored
    // (the compound file ignores case); `removed` holds stored names.
    let removed_keys: std::collections::HashSet<String> =
        removed.iter().map(|r| name_key(r)).collect();
    let last_saved_by_after = summary::retain_list(&patch.last_saved_by, |e| {
        e.strip_prefix(':')
            .is_none_or(|name| !removed_keys.contains(&name_key(name)))
    });
    if summary::split_list(&template_after).is_empty() {
        return Err(Error::refused(
            "removing these products would leave the patch without any target",
        ));
    }
    let plan = Plan {
        patch_code: patch.codes.patch_code,
        template_before: patch.template.clone(),
        template_after,
        last_saved_by_before: patch.last_saved_by.clone(),
        last_saved_by_after,
        instances: Vec::new(),
        copies: Vec::new(),
        removed_streams: Vec::new(),
        removed_storages: removed,
        sequence_rows_added: Vec::new(),
        sequence_rows_removed: Vec::new(),
    };
    Ok((out, plan))
}

/// Runs one untarget.
pub fn untarget(req: &UntargetRequest) -> Result<UntargetReport> {
    if req.instances.is_empty() {
        return Err(Error::usage(
            Reason::new("no instance given (use ")
                .then(Setting::UntargetInstances)
                .and(")"),
        ));
    }
    let dest = destination_path(&req.input, &req.destination)?;
    let _lock = lock_for_edit(&req.input, &req.destination)?;
    crate::store::journal::check_readable(&req.input)?;
    if req.destination == Destination::DryRun {
        return dry_run(req);
    }
    let mut patch = Patch::open(&req.input)?;
    let (instances, plan) = plan_with_rows(&mut patch, req)?;
    let patch_code = patch.codes.patch_code;
    let (outcome, output, verification) = execute(
        patch,
        &plan,
        &req.input,
        dest.as_deref(),
        &req.destination,
        false,
    )?;
    Ok(UntargetReport {
        input: req.input.clone(),
        output,
        outcome,
        patch_code,
        instances,
        plan,
        verification,
    })
}

/// A dry run plans from what the lazy reader reads (the summaries, the
/// transforms, the patch database), as a retarget's does: its cost does
/// not grow with the cabinet, and nothing is written.
fn dry_run(req: &UntargetRequest) -> Result<UntargetReport> {
    let mut patch = Patch::open_read_only(&req.input)?;
    let (instances, plan) = plan_with_rows(&mut patch, req)?;
    let outcome = if plan.changes_anything() {
        Outcome::Planned
    } else {
        Outcome::AlreadyDone
    };
    Ok(UntargetReport {
        input: req.input.clone(),
        output: None,
        outcome,
        patch_code: patch.codes.patch_code,
        instances,
        plan,
        verification: None,
    })
}

/// The plan of an untarget of `patch`, with the `MsiPatchSequence` rows
/// it removes, read from the patch database.
fn plan_with_rows<F, C: Storage>(
    patch: &mut Patch<F, C>,
    req: &UntargetRequest,
) -> Result<(Vec<UntargetInstance>, Plan)> {
    if !patch.signatures.is_empty() {
        return Err(Error::refused(
            "the patch is signed; removing transforms breaks the signature",
        )
        .in_file(&req.input));
    }
    let (instances, mut plan) =
        plan_untarget(patch, &req.instances, req.force).map_err(|e| e.in_file(&req.input))?;
    let rows = crate::edit::sequence::read_rows(&mut patch.cf).in_file(&req.input)?;
    for i in &instances {
        // The base is the product the instance's copies came from; an
        // instance served without copies may mirror any other target.
        let bases: Vec<Guid> = match derived_from(patch, i.instance) {
            Some(base) => vec![base],
            None if !i.original_target => patch
                .targets
                .iter()
                .copied()
                .filter(|t| *t != i.instance)
                .collect(),
            None => Vec::new(),
        };
        for base in bases {
            for row in crate::edit::sequence::rows_to_remove(&rows, base, i.instance) {
                if !plan.sequence_rows_removed.contains(&row) {
                    plan.sequence_rows_removed.push(row);
                }
            }
        }
    }
    Ok((instances, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::retarget::{RetargetRequest, retarget};
    use crate::edit::engine::Outcome;
    use crate::edit::plan::{InstanceRequest, PlanOptions};
    use crate::testkit::synth::{PatchSpec, write_patch_file};
    use std::path::Path;

    const CODES: [&str; 3] = [
        "{11111111-1111-4111-8111-111111111111}",
        "{22222222-2222-4222-8222-222222222222}",
        "{33333333-3333-4333-8333-333333333333}",
    ];

    fn storages(path: &Path) -> Vec<String> {
        let cf = cfb::open(path).unwrap();
        let mut v: Vec<String> = cf
            .read_root_storage()
            .filter(|e| e.is_storage())
            .map(|e| e.name().to_string())
            .collect();
        v.sort();
        v
    }

    fn guids(codes: &[&str]) -> Vec<Guid> {
        codes
            .iter()
            .map(|c| Guid::parse_braced(c).unwrap())
            .collect()
    }

    #[test]
    fn retarget_then_untarget_gives_back_the_original_lists_and_storages() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("p.msp");
        write_patch_file(&PatchSpec::two_baselines(), &original).unwrap();
        let wide = dir.path().join("wide.msp");
        retarget(&RetargetRequest {
            input: original.clone(),
            destination: Destination::Output(wide.clone()),
            instances: CODES
                .iter()
                .map(|c| InstanceRequest::parse(c).unwrap())
                .collect(),
            options: PlanOptions::default(),
        })
        .unwrap();
        assert_eq!(storages(&wide).len(), storages(&original).len() + 12);

        let back = dir.path().join("back.msp");
        let r = untarget(&UntargetRequest {
            input: wide.clone(),
            destination: Destination::Output(back.clone()),
            instances: guids(&CODES),
            force: false,
        })
        .unwrap();
        assert_eq!(r.outcome, Outcome::Done);
        assert!(
            r.instances
                .iter()
                .all(|i| i.template_removed && i.removed_transforms.len() == 4)
        );
        let (a, b) = (Patch::open(&original).unwrap(), Patch::open(&back).unwrap());
        assert_eq!(a.template, b.template);
        assert_eq!(a.last_saved_by, b.last_saved_by);
        assert_eq!(storages(&original), storages(&back));

        // Untargeting again names a product the patch no longer knows:
        // refused, as a typo would be.
        let e = untarget(&UntargetRequest {
            input: back.clone(),
            destination: Destination::DryRun,
            instances: guids(&CODES[..1]),
            force: false,
        })
        .unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused);
        assert!(e.to_string().contains(CODES[0]), "{e}");
    }

    #[test]
    fn original_targets_need_force_and_the_last_target_stays() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("p.msp");
        let spec = PatchSpec::two_products();
        write_patch_file(&spec, &original).unwrap();
        let before = std::fs::read(&original).unwrap();
        let first = Guid::parse_braced(&spec.targets[0]).unwrap();
        let out = dir.path().join("o.msp");
        let req = |force| UntargetRequest {
            input: original.clone(),
            destination: Destination::Output(out.clone()),
            instances: vec![first],
            force,
        };
        let e = untarget(&req(false)).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused);
        assert!(e.to_string().contains("original target"), "{e}");
        assert!(!out.exists());
        let r = untarget(&req(true)).unwrap();
        assert!(r.instances[0].original_target);
        assert_eq!(
            Patch::open(&out).unwrap().targets.len(),
            spec.targets.len() - 1
        );
        assert_eq!(std::fs::read(&original).unwrap(), before);

        let all: Vec<Guid> = spec
            .targets
            .iter()
            .map(|t| Guid::parse_braced(t).unwrap())
            .collect();
        let e = untarget(&UntargetRequest {
            input: original.clone(),
            destination: Destination::DryRun,
            instances: all,
            force: true,
        })
        .unwrap_err();
        assert!(e.to_string().contains("without any target"), "{e}");
    }
}
