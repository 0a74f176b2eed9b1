//! A patch's own sequencing tables: its MsiPatchSequence rows and
//! MsiPatchMetadata's MinorUpdateTargetRTM, read through the `msi` crate
//! behind the same guards `inspect` uses
//! ([`crate::format::msi::guarded`]).

use std::path::Path;

use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::format::container::Storage;
use crate::format::guid::Guid;
use crate::format::version::{VersionFields, parse_version};

/// The sequencing tables of a patch: its MsiPatchSequence rows and whether
/// MsiPatchMetadata sets MinorUpdateTargetRTM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequencingTables {
    /// The MsiPatchSequence rows, in stored order.
    pub rows: Vec<SequenceRow>,
    /// `MinorUpdateTargetRTM` (NULL Company) is present and not `0`.
    pub minor_update_target_rtm: bool,
}

/// One MsiPatchSequence row, its Sequence already parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceRow {
    /// PatchFamily (compared for equality only, as the installer does).
    pub family: String,
    /// ProductCode, or NULL: the row applies to every target.
    pub product_code: Option<Guid>,
    /// Sequence as stored.
    pub sequence: String,
    /// Sequence as numbers, for ordering.
    #[serde(skip)]
    pub order: VersionFields,
    /// Attributes (NULL is 0).
    pub attributes: i32,
}

impl SequenceRow {
    /// A row from its stored values; `None` when Sequence is not a version.
    pub fn new(
        family: &str,
        product_code: Option<Guid>,
        sequence: &str,
        attributes: i32,
    ) -> Option<SequenceRow> {
        Some(SequenceRow {
            family: family.to_string(),
            product_code,
            order: parse_version(sequence).ok()?,
            sequence: sequence.trim().to_string(),
            attributes,
        })
    }
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

/// [`read_tables`] of a patch already open (`cf`, named `path`): the
/// `msi` crate reads only the database's streams, extracted from it
/// ([`crate::format::msi::guarded_in`]), not the whole file.
pub fn read_tables_in<S: Storage>(cf: &mut S, path: &Path) -> Result<SequencingTables> {
    let read = |package: std::io::Result<crate::format::msi::Extract>| {
        let mut package = package.map_err(|e| Error::io("cannot read the patch database", e))?;
        tables_of(&mut package)
    };
    match crate::format::msi::guarded_in(cf, path, &["MsiPatchMetadata", "MsiPatchSequence"], read)
    {
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
    let mut package = crate::format::msi::open_package(path)
        .map_err(|e| Error::io("cannot read the patch database", e))?;
    tables_of(&mut package)
}

fn tables_of<F: std::io::Read + std::io::Seek>(
    package: &mut msi::Package<F>,
) -> Result<SequencingTables> {
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
