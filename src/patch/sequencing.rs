//! Reading what sequencing needs from patch files: the summary and pairs
//! through [`Patch::open`], the MsiPatchSequence and MsiPatchMetadata
//! tables through the `msi` crate behind the same guards `inspect` uses
//! (through [`crate::format::msi::guarded`]).

use std::fs::File;
use std::path::Path;

use super::Patch;
use crate::error::{Context, Error, Result};
use crate::format::guid::Guid;
use crate::rules::sequence::{SeqPatch, SequenceRow};

/// The sequencing tables of a patch: its MsiPatchSequence rows and whether
/// MsiPatchMetadata sets MinorUpdateTargetRTM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequencingTables {
    /// The MsiPatchSequence rows, in stored order.
    pub rows: Vec<SequenceRow>,
    /// `MinorUpdateTargetRTM` (NULL Company) is present and not `0`.
    pub minor_update_target_rtm: bool,
}

/// Reads one patch for sequencing; `installed` marks one given with
/// `--installed`. Errors name the file and the part.
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

/// Reads the sequencing tables of the patch database at `path`.
pub fn read_tables(path: &Path) -> Result<SequencingTables> {
    match crate::format::msi::guarded(path, || read_tables_unguarded(path)) {
        Ok(r) => r.in_file(path),
        Err(panicked) => Err(panicked
            .error("the patch database cannot be read")
            .in_file(path)),
    }
}

fn text(v: &msi::Value) -> Option<&str> {
    match v {
        msi::Value::Str(s) => Some(s.as_str()),
        _ => None,
    }
}

fn read_tables_unguarded(path: &Path) -> Result<SequencingTables> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", e))?;
    let mut package =
        msi::Package::open(file).map_err(|e| Error::io("cannot read the patch database", e))?;
    let mut out = SequencingTables::default();
    if package.has_table("MsiPatchMetadata") {
        let table = "table MsiPatchMetadata";
        let rows = package
            .select_rows(msi::Select::table("MsiPatchMetadata"))
            .map_err(|e| Error::io("cannot read", e).at(table))?;
        for row in rows {
            if !(row.has_column("Company") && row.has_column("Property") && row.has_column("Value"))
            {
                return Err(
                    Error::format("lacks one of the columns Company, Property, Value").at(table),
                );
            }
            if row["Company"].is_null() && text(&row["Property"]) == Some("MinorUpdateTargetRTM") {
                let value = text(&row["Value"]).unwrap_or("").trim().to_string();
                out.minor_update_target_rtm = !value.is_empty() && value != "0";
            }
        }
    }
    if package.has_table("MsiPatchSequence") {
        let table = "table MsiPatchSequence";
        let rows = package
            .select_rows(msi::Select::table("MsiPatchSequence"))
            .map_err(|e| Error::io("cannot read", e).at(table))?;
        for (n, row) in rows.enumerate() {
            if !["PatchFamily", "ProductCode", "Sequence"]
                .iter()
                .all(|c| row.has_column(c))
            {
                return Err(Error::format(
                    "lacks one of the columns PatchFamily, ProductCode, Sequence",
                )
                .at(table));
            }
            let part = || format!("{table}, row {}", n + 1);
            let family = text(&row["PatchFamily"])
                .filter(|f| !f.is_empty())
                .ok_or_else(|| Error::format("PatchFamily is empty").at(part()))?;
            let product_code = match &row["ProductCode"] {
                msi::Value::Null => None,
                msi::Value::Str(s) if s.trim().is_empty() => None,
                msi::Value::Str(s) => Some(Guid::parse_braced(s.trim()).map_err(|e| {
                    Error::format(format!("ProductCode {s:?}: {}", e.reason())).at(part())
                })?),
                other => {
                    return Err(
                        Error::format(format!("ProductCode is not a string: {other:?}")).at(part()),
                    );
                }
            };
            let sequence = text(&row["Sequence"]).unwrap_or("");
            let attributes = if row.has_column("Attributes") {
                match &row["Attributes"] {
                    msi::Value::Int(i) => *i,
                    _ => 0,
                }
            } else {
                0
            };
            let parsed =
                SequenceRow::new(family, product_code, sequence, attributes).ok_or_else(|| {
                    Error::format(format!(
                        "Sequence {sequence:?} of family {family} is not a version \
                         (one to four numbers separated by dots)"
                    ))
                    .at(part())
                })?;
            out.rows.push(parsed);
        }
    }
    Ok(out)
}
