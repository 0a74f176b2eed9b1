//! The `sequence` command: reads the patches and the products, sequences
//! the patches for every product ([`super::sequence_product`]) and renders
//! the result for people; the JSON is the serialized [`SequenceReport`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::guid::Guid;
use crate::product::facts::ProductFacts;
use crate::rules::sequence::read::read_patch;
use crate::rules::sequence::{
    DropReason, PatchKind, ProductSequence, SeqPatch, SeqProduct, sequence_product,
};

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

/// One given patch over all products.
#[derive(Debug, Clone, Serialize)]
pub struct PatchUse {
    /// The patch file.
    pub patch: String,
    /// Its patch code.
    pub patch_code: Guid,
    /// Given with `--installed`.
    pub installed: bool,
    /// How many products it is sequenced for.
    pub sequenced_for: usize,
    /// Whether every product found it not applicable.
    pub applies_to_none: bool,
}

/// Everything `sequence` reports.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceReport {
    /// One result per product, in the order given.
    pub products: Vec<ProductSequence>,
    /// Every given patch, installed ones first.
    pub patches: Vec<PatchUse>,
}

impl SequenceReport {
    /// 1 when some given patch applies to no product, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.patches.iter().any(|p| p.applies_to_none))
    }
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
            "give at least one product (--package, --product or --instances-from)",
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

fn kind_text(k: PatchKind) -> &'static str {
    match k {
        PatchKind::SmallUpdate => "small update",
        PatchKind::MinorUpgrade => "minor upgrade",
        PatchKind::MajorUpgrade => "major upgrade",
    }
}

fn reason_text(r: DropReason) -> &'static str {
    match r {
        DropReason::Superseded => "superseded",
        DropReason::Obsolete => "obsolete",
        DropReason::NotApplicable => "not applicable",
    }
}

fn short(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

/// Renders a sequence report for people.
pub fn render(r: &SequenceReport) -> String {
    let mut s = String::new();
    for p in &r.products {
        let id = p
            .instance_id
            .as_deref()
            .map(|i| format!(" instance {i}"))
            .unwrap_or_default();
        let _ = writeln!(s, "product {}{id} ({})", p.product_code, p.source);
        if p.sequence.is_empty() {
            let _ = writeln!(s, "  no patch applies");
        }
        for (n, x) in p.sequence.iter().enumerate() {
            let family = match (&x.family, &x.sequence) {
                (Some(f), Some(q)) => format!(", family {f} {q}"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  {}. {} {}{}: {}{family}",
                n + 1,
                short(&x.patch),
                x.patch_code,
                if x.installed { " (installed)" } else { "" },
                kind_text(x.kind),
            );
            let _ = writeln!(
                s,
                "     {} via {}{}",
                x.placed_by,
                x.pair,
                x.version_after
                    .as_deref()
                    .map(|v| format!(", version {v} after it"))
                    .unwrap_or_default()
            );
        }
        for d in &p.dropped {
            let _ = writeln!(
                s,
                "  dropped {} {}: {}: {}",
                short(&d.patch),
                d.patch_code,
                reason_text(d.reason),
                d.detail
            );
            for reason in &d.reasons {
                let _ = writeln!(s, "    - {reason}");
            }
        }
        for c in &p.choices {
            let _ = writeln!(s, "  our choice [{}]: {}", c.choice, c.detail);
        }
        for note in &p.notes {
            let _ = writeln!(s, "  note: {note}");
        }
        let _ = writeln!(s);
    }
    let none: Vec<&str> = r
        .patches
        .iter()
        .filter(|p| p.applies_to_none)
        .map(|p| p.patch.as_str())
        .collect();
    if none.is_empty() {
        let _ = writeln!(
            s,
            "every patch applies to at least one product given ({} product{})",
            r.products.len(),
            if r.products.len() == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(s, "applies to no product given: {}", none.join(", "));
    }
    s
}
