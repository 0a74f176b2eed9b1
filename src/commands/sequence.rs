//! The `sequence` command: reads the patches and the products and
//! sequences the patches for every product
//! ([`crate::rules::sequence::sequence_product`]); the report and its
//! rendering are in [`crate::report::sequence`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Reason, Result, Setting};
use crate::format::guid::Guid;
use crate::patch::Patch;
use crate::patch::sequencing::read_tables;
use crate::product::facts::ProductFacts;
pub use crate::report::sequence::{PatchUse, SequenceReport};
use crate::rules::sequence::{DropReason, SeqPatch, SeqProduct, sequence_product};

/// What `sequence` is asked.
#[derive(Debug, Clone, Default)]
pub struct SequenceRequest {
    /// The patches to apply, in the order given.
    pub patches: Vec<PathBuf>,
    /// Patches already installed, in the order they were applied.
    pub installed: Vec<PathBuf>,
    /// The products (the base and every instance).
    pub products: Vec<SeqProduct>,
}

/// The products of `--package`, `--product` and `--instances-from`, in
/// that order.
pub fn products_from(
    packages: &[PathBuf],
    specs: &[String],
    instances_from: &[PathBuf],
) -> Result<Vec<SeqProduct>> {
    let mut out = Vec::new();
    for p in packages {
        out.push(SeqProduct {
            facts: ProductFacts::from_package(p)?,
            instance_id: None,
        });
    }
    for s in specs {
        out.push(SeqProduct {
            facts: ProductFacts::parse_spec(s)?,
            instance_id: None,
        });
    }
    for path in instances_from {
        crate::store::journal::check_readable(path)?;
        let facts = ProductFacts::instances_of(path)?;
        let source = crate::product::instances::from_product(path)?;
        for (f, i) in facts.into_iter().zip(source.instances) {
            out.push(SeqProduct {
                facts: f,
                instance_id: i.id,
            });
        }
    }
    Ok(out)
}

/// Runs `sequence`: reads every patch (installed ones first), refuses a
/// patch code given twice, and sequences them for each product.
pub fn sequence_files(req: &SequenceRequest) -> Result<SequenceReport> {
    if req.patches.is_empty() && req.installed.is_empty() {
        return Err(Error::usage("give at least one patch"));
    }
    if req.products.is_empty() {
        return Err(Error::usage(
            Reason::new("give at least one product (")
                .then(Setting::SequenceProducts)
                .and(")"),
        ));
    }
    let mut patches: Vec<SeqPatch> = Vec::new();
    for p in &req.installed {
        crate::store::journal::check_readable(p)?;
        patches.push(read_patch(p, true)?);
    }
    for p in &req.patches {
        crate::store::journal::check_readable(p)?;
        patches.push(read_patch(p, false)?);
    }
    sequence_patches(&patches, &req.products)
}

/// Reads one patch for sequencing: its summary and pairs through
/// [`Patch::open`], its sequencing tables; `installed` marks one already
/// installed. Errors name the file and the part.
pub fn read_patch(path: &Path, installed: bool) -> Result<SeqPatch> {
    let patch = Patch::open(path)?;
    let tables = read_tables(path)?;
    Ok(SeqPatch {
        name: path.display().to_string(),
        patch_code: patch.codes.patch_code,
        obsoletes: patch.codes.obsoletes.clone(),
        installed,
        rows: tables.rows,
        minor_update_target_rtm: tables.minor_update_target_rtm,
        targets: patch.targets.clone(),
        pairs: patch.pairs,
    })
}

/// [`sequence_files`] on patches already read.
pub fn sequence_patches(patches: &[SeqPatch], products: &[SeqProduct]) -> Result<SequenceReport> {
    let mut seen: HashMap<Guid, &str> = HashMap::new();
    for p in patches {
        if let Some(first) = seen.insert(p.patch_code, &p.name) {
            return Err(Error::usage(format!(
                "{} and {} have the same patch code {}: give each patch once",
                first, p.name, p.patch_code
            )));
        }
    }
    let results = products
        .iter()
        .map(|product| sequence_product(product, patches))
        .collect::<Result<Vec<_>>>()?;
    let uses = patches
        .iter()
        .map(|p| {
            let sequenced_for = results
                .iter()
                .filter(|r| r.sequence.iter().any(|s| s.patch_code == p.patch_code))
                .count();
            let applies_to_none = results.iter().all(|r| {
                r.dropped
                    .iter()
                    .any(|d| d.patch_code == p.patch_code && d.reason == DropReason::NotApplicable)
            });
            PatchUse {
                patch: p.name.clone(),
                patch_code: p.patch_code,
                installed: p.installed,
                sequenced_for,
                applies_to_none,
            }
        })
        .collect();
    Ok(SequenceReport {
        products: results,
        patches: uses,
    })
}
