//! Sequencing rows for instances: the patch's own `MsiPatchSequence`
//! table (in the root storage's database, not in a transform) gets, for
//! every row keyed to a base product, the same row keyed to each instance
//! added for that base; `untarget` removes those mirrored rows again.
//!
//! Why: a keyed row counts only for its product and beats a NULL row; an
//! instance matches no keyed row and falls back to "member of every
//! family", so base and instances would be sequenced and superseded
//! differently (Windows Installer, "MsiPatchSequence Table" and "Sequencing
//! Patches").
//!
//! This module is the one place that knows how the root database streams
//! of a result may differ from the input's: [`database_after`] is what
//! apply writes, and [`check_root_streams`] is what verify accepts — the
//! same bytes, and decoded row by row exactly the declared rows added or
//! removed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::format::container::{self, Storage};
use crate::format::guid::Guid;
use crate::format::streamname;
use crate::format::transform::database::{DatabaseEditor, db_changes_between};
use crate::format::transform::edit::{Change, EditOutput};
use crate::format::transform::{ColumnDef, RowKind, Schema, TableDef, Value};

/// The table this module edits.
pub const TABLE: &str = "MsiPatchSequence";

/// One `MsiPatchSequence` row a plan adds or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRowPlan {
    /// The instance the row is keyed to.
    pub instance: Guid,
    /// PatchFamily.
    pub family: String,
    /// ProductCode as written in the row.
    pub product_code: String,
    /// Sequence.
    pub sequence: String,
    /// Attributes (None: NULL).
    pub attributes: Option<i32>,
}

impl SequenceRowPlan {
    fn values(&self) -> Vec<Value> {
        vec![
            Value::Str(self.family.clone()),
            Value::Str(self.product_code.clone()),
            Value::Str(self.sequence.clone()),
            self.attributes.map_or(Value::Null, Value::Int),
        ]
    }

    fn key(&self) -> Vec<Value> {
        vec![
            Value::Str(self.family.clone()),
            Value::Str(self.product_code.clone()),
        ]
    }
}

/// One stored `MsiPatchSequence` row, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRow {
    /// PatchFamily.
    pub family: String,
    /// ProductCode as written (None: NULL).
    pub product_code: Option<String>,
    /// Sequence.
    pub sequence: String,
    /// Attributes (None: NULL).
    pub attributes: Option<i32>,
}

impl OwnRow {
    fn product(&self) -> Option<Guid> {
        self.product_code
            .as_deref()
            .and_then(|c| Guid::parse_braced(c.trim()).ok())
    }
}

/// The root database of a patch, with its schema read from `_Columns`
/// (every table decoded, so that string reference counts can be judged).
/// `None` when the patch has no `MsiPatchSequence` table stream: there is
/// nothing to mirror and the database is not read further.
fn load<S: Storage>(cf: &mut S) -> Result<Option<DatabaseEditor>> {
    let packed = streamname::encode(TABLE, true);
    if !Storage::is_stream(cf, &Path::new("/").join(&packed)) {
        return Ok(None);
    }
    let bare = DatabaseEditor::load(cf, &Schema::new()).at("the patch database")?;
    let schema = schema_of(&bare).at("the patch database")?;
    let db = DatabaseEditor::load(cf, &schema).at("the patch database")?;
    if db.definition(TABLE).is_none() {
        return Err(
            Error::format("_Columns does not define table MsiPatchSequence")
                .at("the patch database"),
        );
    }
    let def = db
        .definition(TABLE)
        .cloned()
        .unwrap_or_else(|| TableDef::new(TABLE, vec![]));
    let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    if names != ["PatchFamily", "ProductCode", "Sequence", "Attributes"]
        || def.columns.iter().map(|c| c.key).collect::<Vec<_>>() != [true, true, false, false]
    {
        return Err(Error::format(format!(
            "has columns {names:?}; the sequencing rows of instances are written only to the \
             standard PatchFamily, ProductCode (keys), Sequence, Attributes"
        ))
        .at("table MsiPatchSequence"));
    }
    Ok(Some(db))
}

/// The table definitions `_Columns` gives.
fn schema_of(db: &DatabaseEditor) -> Result<Schema> {
    let mut tables: indexmap::IndexMap<String, Vec<(i32, ColumnDef)>> = indexmap::IndexMap::new();
    for row in db.rows(crate::format::transform::COLUMNS)? {
        let (
            Some(Value::Str(table)),
            Some(Value::Int(number)),
            Some(Value::Str(name)),
            Some(Value::Int(bits)),
        ) = (row.first(), row.get(1), row.get(2), row.get(3))
        else {
            return Err(
                Error::format("a _Columns row lacks its table, number, name or type")
                    .at("table _Columns"),
            );
        };
        let col = ColumnDef::from_type_bits(name, *bits)
            .map_err(|r| Error::format(r).at("table _Columns"))?;
        tables
            .entry(table.clone())
            .or_default()
            .push((*number, col));
    }
    let mut schema = Schema::new();
    for (name, mut cols) in tables {
        cols.sort_by_key(|(n, _)| *n);
        schema.insert(TableDef::new(
            name,
            cols.into_iter().map(|(_, c)| c).collect(),
        ));
    }
    Ok(schema)
}

fn own_rows(db: &DatabaseEditor) -> Result<Vec<OwnRow>> {
    db.rows(TABLE)?
        .into_iter()
        .enumerate()
        .map(|(n, r)| {
            let text = |v: Option<&Value>| match v {
                Some(Value::Str(s)) => Some(s.clone()),
                _ => None,
            };
            let family = text(r.first()).ok_or_else(|| {
                Error::format("PatchFamily is empty").at(format!("table {TABLE}, row {}", n + 1))
            })?;
            Ok(OwnRow {
                family,
                product_code: text(r.get(1)),
                sequence: text(r.get(2)).unwrap_or_default(),
                attributes: match r.get(3) {
                    Some(Value::Int(i)) => Some(*i),
                    _ => None,
                },
            })
        })
        .collect()
}

/// The `MsiPatchSequence` rows of the patch's own database, in stored
/// order; empty when it has no such table.
pub fn read_rows<S: Storage>(cf: &mut S) -> Result<Vec<OwnRow>> {
    match load(cf)? {
        Some(db) => own_rows(&db),
        None => Ok(Vec::new()),
    }
}

/// The rows to add for `instance` of `base`: one per row keyed to the
/// base whose family has no row keyed to the instance yet (so a re-run
/// adds nothing).
pub fn rows_to_add(rows: &[OwnRow], base: Guid, instance: Guid) -> Vec<SequenceRowPlan> {
    let has = |family: &str| {
        rows.iter()
            .any(|r| r.family == family && r.product() == Some(instance))
    };
    rows.iter()
        .filter(|r| r.product() == Some(base) && !has(&r.family))
        .map(|r| SequenceRowPlan {
            instance,
            family: r.family.clone(),
            product_code: instance.braced(),
            sequence: r.sequence.clone(),
            attributes: r.attributes,
        })
        .collect()
}

/// The rows to remove with `instance`, retargeted from `base`: those keyed
/// to the instance that mirror a row of the base (same family, Sequence
/// and Attributes) — the rows a retarget added, nothing else.
pub fn rows_to_remove(rows: &[OwnRow], base: Guid, instance: Guid) -> Vec<SequenceRowPlan> {
    rows.iter()
        .filter(|r| r.product() == Some(instance))
        .filter(|r| {
            rows.iter().any(|b| {
                b.product() == Some(base)
                    && b.family == r.family
                    && b.sequence == r.sequence
                    && b.attributes == r.attributes
            })
        })
        .map(|r| SequenceRowPlan {
            instance,
            family: r.family.clone(),
            product_code: r.product_code.clone().unwrap_or_default(),
            sequence: r.sequence.clone(),
            attributes: r.attributes,
        })
        .collect()
}

/// The root database streams after adding `added` and removing `removed`:
/// `None` when neither has rows.
pub fn database_after<S: Storage>(
    cf: &mut S,
    added: &[SequenceRowPlan],
    removed: &[SequenceRowPlan],
) -> Result<Option<EditOutput>> {
    if added.is_empty() && removed.is_empty() {
        return Ok(None);
    }
    let mut db = load(cf)?.ok_or_else(|| {
        Error::format("the plan changes MsiPatchSequence rows but the patch has no such table")
    })?;
    for row in removed {
        db.delete_row(TABLE, &row.key())?;
    }
    for row in added {
        db.insert_row(TABLE, &row.values())?;
    }
    Ok(Some(db.finish()?))
}

/// The root stream paths of `out`'s changed streams.
pub fn changed_paths(out: &EditOutput) -> Vec<(PathBuf, &[u8])> {
    out.streams()
        .into_iter()
        .map(|(name, bytes)| (Path::new("/").join(name), bytes))
        .collect()
}

/// Verifies the root database streams of a result: each changed stream
/// holds exactly the bytes [`database_after`] gives for the input, and
/// decoding both databases row by row shows exactly the declared rows
/// added and removed, nothing else. Returns the stream paths it checked
/// (the caller compares every other stream byte for byte).
pub fn check_root_streams<S: Storage, T: Storage>(
    input: &mut S,
    output: &mut T,
    added: &[SequenceRowPlan],
    removed: &[SequenceRowPlan],
) -> Result<HashSet<PathBuf>> {
    let Some(want) = database_after(input, added, removed)? else {
        return Ok(HashSet::new());
    };
    let mut checked = HashSet::new();
    for (path, bytes) in changed_paths(&want) {
        let got = container::read_stream_bounded(output, &path, bytes.len() as u64 + 1)
            .map_err(|e| Error::verify(format!("the result's patch database: {e}")))?;
        if got != bytes {
            return Err(Error::verify(format!(
                "{} of the patch database is not what the plan says",
                container::path_text(&path)
            )));
        }
        checked.insert(path);
    }
    let before = load(input)?.ok_or_else(|| Error::verify("the input has no MsiPatchSequence"))?;
    let after = load(output)
        .map_err(|e| Error::verify(format!("the result's patch database: {e}")))?
        .ok_or_else(|| Error::verify("the result has no MsiPatchSequence table"))?;
    let mut declared: Vec<Change> = added
        .iter()
        .map(|r| Change::RowAdded {
            table: TABLE.into(),
            key: r.key(),
            row: RowKind::Insert,
            columns: vec![
                ("Sequence".into(), Value::Str(r.sequence.clone())),
                (
                    "Attributes".into(),
                    r.attributes.map_or(Value::Null, Value::Int),
                ),
            ],
        })
        .chain(removed.iter().map(|r| Change::RowRemoved {
            table: TABLE.into(),
            key: r.key(),
            columns: vec![
                ("Sequence".into(), Value::Str(r.sequence.clone())),
                (
                    "Attributes".into(),
                    r.attributes.map_or(Value::Null, Value::Int),
                ),
            ],
        }))
        .collect();
    declared.sort();
    let found = db_changes_between(&before, &after)?;
    if found != declared {
        return Err(Error::verify(format!(
            "the patch database differs from the input in {} row changes; the plan declares {}",
            found.len(),
            declared.len()
        )));
    }
    Ok(checked)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::commands::retarget::{RetargetRequest, retarget};
    use crate::commands::untarget::{UntargetRequest, untarget};
    use crate::edit::engine::{Destination, Outcome};
    use crate::edit::plan::{InstanceRequest, PlanOptions};
    use crate::testkit::synth::{PatchSpec, SequenceRowSpec, SequenceTable, write_patch_file};
    use std::io::Read;

    const BASE: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
    const OTHER: &str = "{A93C47E2-1B5D-4F60-8E72-C4D5E6F7A822}";
    const I1: &str = "{11111111-1111-4111-8111-111111111111}";
    const I2: &str = "{22222222-2222-4222-8222-222222222222}";

    fn spec() -> PatchSpec {
        PatchSpec {
            sequence: SequenceTable::Rows(vec![
                SequenceRowSpec::new("Fam", Some(BASE), "1.0.1.0", true),
                SequenceRowSpec::new("Fam", None, "1.0.1.0", false),
                SequenceRowSpec::new("Second", Some(BASE), "2.0", false),
                SequenceRowSpec::new("Fam", Some(OTHER), "3.0", false),
            ]),
            ..PatchSpec::single_product()
        }
    }

    fn rows_of(path: &Path) -> Vec<OwnRow> {
        read_rows(&mut cfb::open(path).unwrap()).unwrap()
    }

    fn db_streams(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut cf = cfb::open(path).unwrap();
        ["_StringPool", "_StringData", TABLE]
            .iter()
            .map(|t| {
                let p = Path::new("/").join(streamname::encode(t, true));
                let mut v = Vec::new();
                cf.open_stream(&p).unwrap().read_to_end(&mut v).unwrap();
                (t.to_string(), v)
            })
            .collect()
    }

    fn run(
        input: &Path,
        destination: Destination,
        codes: &[&str],
    ) -> crate::report::edit::RetargetReport {
        retarget(&RetargetRequest {
            input: input.to_path_buf(),
            destination,
            instances: codes
                .iter()
                .map(|c| InstanceRequest::parse(c).unwrap())
                .collect(),
            options: PlanOptions::default(),
        })
        .unwrap()
    }

    fn keyed<'a>(rows: &'a [OwnRow], code: &str) -> Vec<&'a OwnRow> {
        rows.iter()
            .filter(|r| r.product_code.as_deref() == Some(code))
            .collect()
    }

    #[test]
    fn keyed_rows_are_mirrored_for_each_instance_and_removed_by_untarget() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("p.msp");
        write_patch_file(&spec(), &input).unwrap();
        let before = rows_of(&input);
        let wide = dir.path().join("wide.msp");
        let report = run(&input, Destination::Output(wide.clone()), &[I1, I2]);
        assert_eq!(report.outcome, Outcome::Done);
        assert_eq!(report.plan.sequence_rows_added.len(), 4);
        let after = rows_of(&wide);
        assert_eq!(after.len(), before.len() + 4);
        for code in [I1, I2] {
            let mine = keyed(&after, code);
            let base = keyed(&after, BASE);
            assert_eq!(mine.len(), 2, "{code}");
            for (m, b) in mine.iter().zip(&base) {
                assert_eq!(
                    (&m.family, &m.sequence, m.attributes),
                    (&b.family, &b.sequence, b.attributes)
                );
            }
        }
        // NULL and other products' rows untouched.
        for r in before
            .iter()
            .filter(|r| r.product_code.as_deref() != Some(BASE))
        {
            assert_eq!(after.iter().filter(|a| *a == r).count(), 1, "{r:?}");
        }
        // Stored in key order, as Windows Installer keeps them.
        let mut cf = cfb::open(&wide).unwrap();
        let db = load(&mut cf).unwrap().unwrap();
        let def = db.definition(TABLE).unwrap().clone();
        let raw = db.raw_rows(TABLE);
        assert!(raw.windows(2).all(|w| {
            crate::format::transform::database::key_order(&def, &w[0], &w[1])
                == std::cmp::Ordering::Less
        }));
        // The msi crate reads the same rows.
        let through_msi = crate::patch::sequencing::read_tables(&wide).unwrap();
        assert_eq!(through_msi.rows.len(), after.len());

        // A rerun adds nothing.
        let again = dir.path().join("again.msp");
        let rerun = run(&wide, Destination::Output(again.clone()), &[I1, I2]);
        assert_eq!(rerun.outcome, Outcome::AlreadyDone);
        assert!(rerun.plan.sequence_rows_added.is_empty());
        assert_eq!(rows_of(&again), after);

        // Untarget removes exactly the rows it added.
        let back = dir.path().join("back.msp");
        let undone = untarget(&UntargetRequest {
            input: wide.clone(),
            destination: Destination::Output(back.clone()),
            instances: [I1, I2]
                .iter()
                .map(|c| Guid::parse_braced(c).unwrap())
                .collect(),
            force: false,
        })
        .unwrap();
        assert_eq!(undone.plan.sequence_rows_removed.len(), 4);
        assert_eq!(rows_of(&back), before);
        assert_eq!(db_streams(&back)[2], db_streams(&input)[2]);
    }

    #[test]
    fn in_place_writes_the_rows_through_the_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("p.msp");
        write_patch_file(&spec(), &input).unwrap();
        let report = run(&input, Destination::InPlace, &[I1]);
        assert_eq!(report.outcome, Outcome::Done);
        let rows = rows_of(&input);
        assert_eq!(keyed(&rows, I1).len(), 2);
        assert_eq!(
            run(&input, Destination::InPlace, &[I1]).outcome,
            Outcome::AlreadyDone
        );
    }

    #[test]
    fn a_tampered_row_is_refused_by_verification() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("p.msp");
        write_patch_file(&spec(), &input).unwrap();
        let mut patch = crate::patch::Patch::open(&input).unwrap();
        let req = [InstanceRequest::parse(I1).unwrap()];
        let mut plan = crate::edit::plan::plan(&patch, &req, &PlanOptions::default()).unwrap();
        let rows = read_rows(&mut patch.cf).unwrap();
        plan.add_sequence_rows(&rows);
        // Apply a plan with one more row than the plan verified against.
        let mut wrong = plan.clone();
        wrong.sequence_rows_added[0].sequence = "9.9".into();
        let output = dir.path().join("out.msp");
        std::fs::copy(&input, &output).unwrap();
        {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&output)
                .unwrap();
            let mut cf = cfb::CompoundFile::open(f).unwrap();
            crate::edit::apply::apply(&mut patch, &wrong, &mut cf).unwrap();
        }
        let e =
            crate::edit::verify::verify_file(&mut patch, &plan, &output, None, false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Verify, "{e}");
        // The right plan verifies.
        std::fs::copy(&input, &output).unwrap();
        {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&output)
                .unwrap();
            let mut cf = cfb::CompoundFile::open(f).unwrap();
            crate::edit::apply::apply(&mut patch, &plan, &mut cf).unwrap();
        }
        crate::edit::verify::verify_file(&mut patch, &plan, &output, None, false).unwrap();
    }
}
