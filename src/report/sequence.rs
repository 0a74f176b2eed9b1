//! The report of `sequence`: per product, the patches in the order they
//! apply and those left out with the reason; and its rendering for people.
//! The JSON is this model serialized.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::format::guid::Guid;
use crate::rules::sequence::{DropReason, PatchKind, ProductSequence};

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
