//! `inspect`: what is in a patch, database or transform.
//!
//! Inspection is lenient where retargeting is strict: a listed transform
//! that is missing or malformed becomes a problem in the report instead of
//! an error, so that a broken patch can still be looked at.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::format::container::{self, FileKind, Storage, show_name};
use crate::format::guid::Guid;
use crate::format::propset::{PropertySet, PropertyValue};
use crate::format::streamname;
use crate::format::summary::{self, TransformRevision, pid};
use crate::format::transform::view::{self, BaseRows, TransformChanges};
use crate::format::transform::{Schema, read_transform_tables};
use crate::patch::read::{About, Mode, Problem, read_parts};
use crate::patch::{Transform, read_summary, read_transform};
use crate::report::inspect::{
    EmbeddedStorage, InspectReport, PairDetails, PatchDetails, StreamInfo, SummaryProperty,
    TableRows, TransformDetails, filetime_text,
};

fn summary_properties(set: &PropertySet) -> Vec<SummaryProperty> {
    set.property_ids()
        .into_iter()
        .filter_map(|id| {
            let value = match set.get(id)? {
                PropertyValue::Lpstr(_) => match set.get_string(id)? {
                    Ok(s) => s,
                    Err(e) => format!("(undecodable: {e})"),
                },
                PropertyValue::I2(v) => v.to_string(),
                PropertyValue::I4(v) if id == pid::CHAR_COUNT => format!("{:#010x}", *v as u32),
                PropertyValue::I4(v) => v.to_string(),
                PropertyValue::FileTime(t) => filetime_text(*t),
                PropertyValue::Empty | PropertyValue::Null => "(null)".into(),
                other => format!("{other:?}"),
            };
            Some(SummaryProperty {
                id,
                name: summary::pid::name(id),
                value,
            })
        })
        .collect()
}

fn root_streams<S: Storage>(cf: &S) -> Vec<StreamInfo> {
    cf.children(Path::new("/"))
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.is_stream)
        .map(|e| {
            let d = streamname::decode(&e.name);
            StreamInfo {
                name: if streamname::is_raw_special(&e.name) {
                    show_name(&e.name)
                } else {
                    d.name
                },
                table: d.is_table,
                size: e.len,
            }
        })
        .collect()
}

fn value_text(v: &msi::Value) -> String {
    match v {
        msi::Value::Null => String::new(),
        msi::Value::Int(n) => n.to_string(),
        msi::Value::Str(s) => s.clone(),
        msi::Value::Binary => "(binary)".into(),
    }
}

/// [`table_rows_of`] through the guarded entry into the `msi` crate, on
/// the database's streams extracted from the open file: a file that
/// fails its checks, or a panic of the crate (it unwraps values of
/// malformed tables), is reported as a problem.
fn table_rows<S: Storage>(
    cf: &mut S,
    path: &Path,
    names: &[&str],
    problems: &mut Vec<String>,
) -> Vec<TableRows> {
    let mut found = Vec::new();
    let read = |package: std::io::Result<crate::format::msi::Extract>| {
        Ok(table_rows_of(package, names, &mut found))
    };
    match crate::format::msi::guarded_in(cf, path, names, read) {
        Ok(Ok(rows)) => {
            problems.extend(found);
            rows
        }
        Ok(Err(e)) => {
            problems.push(format!("the patch database could not be read: {e}"));
            Vec::new()
        }
        Err(panicked) => {
            problems.push(format!(
                "the patch database could not be read: {}",
                panicked.describe()
            ));
            Vec::new()
        }
    }
}

fn table_rows_of(
    package: std::io::Result<crate::format::msi::Extract>,
    names: &[&str],
    problems: &mut Vec<String>,
) -> Vec<TableRows> {
    let mut package = match package {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!("the patch database could not be read: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for name in names {
        if !package.has_table(name) {
            continue;
        }
        let columns: Vec<String> = package
            .get_table(name)
            .map(|t| t.columns().iter().map(|c| c.name().to_string()).collect())
            .unwrap_or_default();
        match package.select_rows(msi::Select::table(*name)) {
            Ok(rows) => out.push(TableRows {
                name: name.to_string(),
                columns: columns.clone(),
                rows: rows
                    .map(|row| (0..row.len()).map(|i| value_text(&row[i])).collect())
                    .collect(),
            }),
            Err(e) => problems.push(format!("table {name} could not be read: {e}")),
        }
    }
    out
}

/// What `inspect` shows beyond the summary-level facts.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// Decode what each transform changes (tables, rows, old -> new).
    pub tables: bool,
    /// The base database the transforms apply to: defines the tables a
    /// transform changes without defining them, and gives old values. An
    /// `.msi`'s embedded transforms use the `.msi` itself when this is
    /// not given.
    pub package: Option<PathBuf>,
}

/// Inspects any Windows Installer file.
pub fn inspect(path: &Path) -> Result<InspectReport> {
    inspect_with(path, &InspectOptions::default())
}

/// Inspects any Windows Installer file, with `options`.
pub fn inspect_with(path: &Path, options: &InspectOptions) -> Result<InspectReport> {
    crate::store::journal::check_readable(path)?;
    // One open, with the reader that reads only what is asked of it: the
    // transforms' tables are read from the same file.
    let mut cf = container::open_lazy(path)?;
    let mut report = inspect_file(path, &mut cf)?;
    if options.tables || options.package.is_some() {
        add_table_changes(path, &mut cf, options, &mut report)?;
    }
    Ok(report)
}

fn inspect_file<S: Storage>(path: &Path, cf: &mut S) -> Result<InspectReport> {
    let kind = container::kind_of(cf);
    let mut problems = Vec::new();
    let summary = match read_summary(cf, Path::new("/")) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("root summary information: {e}"));
            None
        }
    };
    let mut report = InspectReport {
        file: path.to_path_buf(),
        kind,
        clsid: Guid(cf.root_clsid()).braced(),
        summary: summary.as_ref().map(summary_properties).unwrap_or_default(),
        patch: None,
        transform: None,
        storages: Vec::new(),
        product: None,
        instances: None,
        tables: Vec::new(),
        streams: root_streams(cf),
        signature: crate::format::signature::examine(cf).in_file(path)?,
        problems: Vec::new(),
    };
    match kind {
        FileKind::Patch => {
            report.patch = Some(patch_details(cf, summary.as_ref(), &mut problems)?);
            report.tables = table_rows(
                cf,
                path,
                &["MsiPatchMetadata", "MsiPatchSequence"],
                &mut problems,
            );
        }
        FileKind::Transform => {
            if let Some(set) = &summary {
                let raw = summary::get_string(set, pid::REVISION_NUMBER)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                match TransformRevision::parse(&raw) {
                    Ok(revision) => {
                        let t = Transform {
                            name: String::new(),
                            clsid: Guid(cf.root_clsid()),
                            revision,
                            char_count: summary::get_int(set, pid::CHAR_COUNT).map(|v| v as u32),
                            template: summary::get_string(set, pid::TEMPLATE).ok().flatten(),
                            content: Default::default(),
                        };
                        report.transform = Some(TransformDetails::of(&t));
                    }
                    Err(e) => problems.push(format!("RevisionNumber: {}", e.reason())),
                }
            }
        }
        FileKind::Database | FileKind::Other => {
            let storages: Vec<String> = cf
                .children(Path::new("/"))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !e.is_stream)
                .map(|e| e.name)
                .collect();
            let any_storage = !storages.is_empty();
            if kind == FileKind::Database {
                match crate::product::facts::read_properties(cf, path) {
                    Ok(p) => {
                        for (name, value) in [
                            ("ProductCode", &p.product_code),
                            ("ProductVersion", &p.product_version),
                            ("ProductLanguage", &p.product_language),
                        ] {
                            if value.is_none() {
                                problems.push(format!("the Property table has no {name}"));
                            }
                        }
                        report.product = Some(p);
                    }
                    Err(e) => problems.push(format!("product properties: {}", e.reason())),
                }
            }
            for name in storages {
                let transform = read_transform(cf, &name)
                    .ok()
                    .map(|t| TransformDetails::of(&t));
                report.storages.push(EmbeddedStorage { name, transform });
            }
            if kind == FileKind::Database && any_storage {
                match crate::product::instances::from_product_in(path, cf) {
                    Ok(src) => report.instances = Some(src),
                    Err(e) => problems.push(format!("instances: {}", e.reason())),
                }
            }
        }
    }
    report.problems = problems;
    Ok(report)
}

/// The patch as the lenient reader understands it; what it could not
/// understand becomes problems.
fn patch_details<S: Storage>(
    cf: &mut S,
    set: Option<&PropertySet>,
    problems: &mut Vec<String>,
) -> Result<PatchDetails> {
    let parts = read_parts(cf, set, Mode::Lenient)?;
    for Problem { about, error: e } in &parts.problems {
        problems.push(match about {
            // The summary shows the property as stored.
            About::Property(_) => continue,
            About::PatchCode => format!("RevisionNumber: {}", e.reason()),
            About::TemplateEntry => format!("Template entry: {}", e.reason()),
            About::ListEntry => format!("LastSavedBy: {}", e.reason()),
            About::Transform { name, .. } => format!("transform {}: {e}", show_name(name)),
        });
    }
    Ok(PatchDetails {
        codes: parts.codes,
        targets: summary::split_list(&parts.template)
            .into_iter()
            .map(str::to_string)
            .collect(),
        pairs: parts
            .pairs
            .iter()
            .map(|p| PairDetails {
                main: TransformDetails::of(&p.main),
                partner: p.partner.as_ref().map(TransformDetails::of),
            })
            .collect(),
        signed: !parts.signatures.is_empty(),
    })
}

/// The schema and old rows of a base database (`cf`, the file at `path`),
/// read through the guarded entry into the `msi` crate from the
/// database's streams only ([`crate::format::msi::guarded_in`]), so that
/// a product's cabinets are not read. Only the tables `wanted` are read
/// for rows.
fn read_base<S: Storage>(cf: &mut S, path: &Path, wanted: &[String]) -> Result<(Schema, BaseRows)> {
    let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let read = |package: std::io::Result<crate::format::msi::Extract>| {
        let read = || -> std::io::Result<(Schema, BaseRows)> {
            let mut package = package?;
            let schema = Schema::from_package(&package);
            let rows = BaseRows::from_package(&mut package, &names)?;
            Ok((schema, rows))
        };
        read().map_err(|e| Error::io("cannot read the base database", e))
    };
    match crate::format::msi::guarded_in(cf, path, &names, read) {
        Ok(found) => found.in_file(path),
        Err(panicked) => Err(panicked
            .error("the base database could not be read")
            .in_file(path)),
    }
}

/// Fills each transform's `changes`: decoded against the base database
/// (`--package`, or the `.msi` itself for its embedded transforms), with
/// the base's rows as old values. A transform whose tables cannot be read
/// becomes a problem, as everywhere in `inspect`.
fn add_table_changes<S: Storage>(
    path: &Path,
    cf: &mut S,
    options: &InspectOptions,
    report: &mut InspectReport,
) -> Result<()> {
    // The base: another file (`--package`), the `.msi` itself, or none.
    let mut other = match &options.package {
        Some(p) => Some((container::open_lazy(p)?, p.as_path())),
        None => None,
    };
    let has_base = other.is_some() || report.kind == FileKind::Database;
    let mut read_base_of = |cf: &mut S, wanted: &[String]| match &mut other {
        Some((base, base_path)) => read_base(base, base_path, wanted),
        None => read_base(cf, path, wanted),
    };
    // The storages to decode, by name ("" for a stand-alone transform).
    let mut storages: Vec<String> = Vec::new();
    if let Some(p) = &report.patch {
        for pair in &p.pairs {
            storages.push(pair.main.name.clone());
            storages.extend(pair.partner.as_ref().map(|t| t.name.clone()));
        }
    }
    if report.transform.is_some() {
        storages.push(String::new());
    }
    storages.extend(
        report
            .storages
            .iter()
            .filter(|s| s.transform.is_some())
            .map(|s| s.name.clone()),
    );
    let storage_path = |name: &str| {
        if name.is_empty() {
            PathBuf::from("/")
        } else {
            Path::new("/").join(name)
        }
    };
    // First pass with the base's schema only (or none) to learn which
    // tables need old rows; then the rows of those tables.
    let (schema, base) = if has_base {
        let (schema, _) = read_base_of(cf, &[])?;
        let mut wanted: Vec<String> = Vec::new();
        for name in &storages {
            if let Ok(t) = read_transform_tables(cf, &storage_path(name), &schema) {
                for table in view::tables_needing_base(&t) {
                    if !wanted.iter().any(|w| w == table) {
                        wanted.push(table.to_string());
                    }
                }
            }
        }
        let (schema, rows) = read_base_of(cf, &wanted)?;
        (schema, Some(rows))
    } else {
        // Every database defines Property and Component the same way.
        (Schema::standard(), None)
    };
    let mut changes: Vec<(String, std::result::Result<TransformChanges, String>)> = Vec::new();
    for name in storages {
        let found = read_transform_tables(cf, &storage_path(&name), &schema)
            .map(|t| view::describe(&t, base.as_ref()))
            .map_err(|e| e.to_string());
        changes.push((name, found));
    }
    let mut slots: Vec<&mut TransformDetails> = Vec::new();
    if let Some(p) = &mut report.patch {
        for pair in &mut p.pairs {
            slots.push(&mut pair.main);
            slots.extend(pair.partner.as_mut());
        }
    }
    slots.extend(report.transform.as_mut());
    slots.extend(
        report
            .storages
            .iter_mut()
            .filter_map(|s| s.transform.as_mut()),
    );
    for (slot, (name, found)) in slots.into_iter().zip(changes) {
        match found {
            Ok(c) => slot.changes = Some(c),
            Err(e) => report.problems.push(format!(
                "tables of transform {}: {e}",
                if name.is_empty() {
                    "(root)".to_string()
                } else {
                    show_name(&name)
                }
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::propset::FMTID_SUMMARY_INFORMATION;
    use crate::format::summary::SUMMARY_STREAM;
    use crate::format::transform::edit::TransformEditor;
    use crate::format::transform::{RowKind, Value};
    use cfb::CompoundFile;
    use std::io::{Cursor, Write};

    const BASE: &str = "{4014E041-A968-4DE3-B43C-322DF9A19359}";
    const I1: &str = "{11111111-1111-4111-8111-111111111111}";

    /// A product whose Property table holds ProductCode, ProductName,
    /// ProductVersion and ProductLanguage, with one embedded instance transform `I1` built by the transform
    /// writer: ProductCode and ProductName updated, a property added.
    fn product_with_instance(dir: &Path) -> PathBuf {
        let db = crate::testkit::synth::product_database(&[
            ("ProductCode", BASE),
            ("ProductName", "Product"),
            ("ProductVersion", "1.0.0.0"),
            ("ProductLanguage", "1033"),
        ])
        .unwrap();
        let mut cf = CompoundFile::open(Cursor::new(db)).unwrap();
        let mut t = TransformEditor::new(1252, &Schema::property_only()).unwrap();
        let s = |x: &str| Value::Str(x.into());
        t.update_row("Property", &[s("ProductCode")], &[("Value", s(I1))])
            .unwrap();
        t.update_row(
            "Property",
            &[s("ProductName")],
            &[("Value", s("Product (I1)"))],
        )
        .unwrap();
        t.insert_row("Property", &[s("INSTANCE"), s("I1")]).unwrap();
        let out = t.finish().unwrap();
        let root = Path::new("/I1");
        cf.create_storage(root).unwrap();
        cf.set_storage_clsid(root, container::CLSID_TRANSFORM)
            .unwrap();
        let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
        set.set(pid::CODEPAGE, PropertyValue::I2(1252)).unwrap();
        set.set_string(pid::REVISION_NUMBER, &format!("{BASE}1.0.0.0;{I1}1.0.0.0;"))
            .unwrap();
        set.set(pid::CHAR_COUNT, PropertyValue::I4(0)).unwrap();
        let mut streams = vec![(SUMMARY_STREAM.to_string(), set.to_bytes())];
        streams.extend(out.streams().into_iter().map(|(n, b)| (n, b.to_vec())));
        for (name, bytes) in streams {
            cf.create_stream(root.join(name))
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        }
        let path = dir.join("product.msi");
        std::fs::write(&path, cf.into_inner().into_inner()).unwrap();
        path
    }

    #[test]
    fn tables_show_what_an_embedded_transform_changes_with_old_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = product_with_instance(dir.path());
        let plain = inspect(&path).unwrap();
        assert!(
            plain.storages[0]
                .transform
                .as_ref()
                .unwrap()
                .changes
                .is_none()
        );
        let options = InspectOptions {
            tables: true,
            package: None,
        };
        let r = inspect_with(&path, &options).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let changes = r.storages[0]
            .transform
            .as_ref()
            .unwrap()
            .changes
            .clone()
            .unwrap();
        assert_eq!(changes.tables.len(), 1);
        let rows = &changes.tables[0].rows;
        let ops: Vec<(RowKind, Option<bool>)> = rows.iter().map(|r| (r.op, r.in_base)).collect();
        assert_eq!(
            ops,
            [
                (RowKind::Update, Some(true)),
                (RowKind::Update, Some(true)),
                (RowKind::Insert, Some(false))
            ]
        );
        assert_eq!(rows[0].columns[0].old, Some(Value::Str(BASE.into())));
        assert_eq!(rows[0].columns[0].new, Value::Str(I1.into()));
        let text = crate::report::inspect::render(&r);
        assert!(
            text.contains(&format!(
                "        update [ProductCode]\n          Value: \"{BASE}\" -> \"{I1}\"\n"
            )),
            "{text}"
        );
        assert!(text.contains("        insert [INSTANCE]\n"), "{text}");
        // JSON carries the same, old values included.
        let json = serde_json::to_value(&r).unwrap();
        let row = &json["storages"][0]["transform"]["changes"]["tables"][0]["rows"][0];
        assert_eq!(row["columns"][0]["old"]["str"], BASE);

        // The same transform against another base: its rows, not the .msi's.
        let other = dir.path().join("other.msi");
        std::fs::write(
            &other,
            crate::testkit::synth::product_database(&[(
                "ProductCode",
                "{22222222-2222-4222-8222-222222222222}",
            )])
            .unwrap(),
        )
        .unwrap();
        let r = inspect_with(
            &path,
            &InspectOptions {
                tables: false,
                package: Some(other),
            },
        )
        .unwrap();
        let changes = r.storages[0]
            .transform
            .as_ref()
            .unwrap()
            .changes
            .clone()
            .unwrap();
        let rows = &changes.tables[0].rows;
        assert_eq!(
            rows[0].columns[0].old,
            Some(Value::Str("{22222222-2222-4222-8222-222222222222}".into()))
        );
        assert_eq!(rows[1].in_base, Some(false), "no ProductName in that base");
    }

    #[test]
    fn a_broken_list_shows_the_pairs_check_reads_and_a_problem_per_bad_entry() {
        let dir = tempfile::tempdir().unwrap();
        let patch = dir.path().join("broken.msp");
        let spec = crate::testkit::synth::PatchSpec {
            extra_last_saved_by: Some(":rtmA.1;:#orphan;:#rtmA.1;:missing".into()),
            ..crate::testkit::synth::PatchSpec::single_product()
        };
        crate::testkit::synth::write_patch_file(&spec, &patch).unwrap();
        let r = inspect(&patch).unwrap();
        let details = r.patch.unwrap();
        let pairs: Vec<(&str, Option<&str>)> = details
            .pairs
            .iter()
            .map(|p| {
                (
                    p.main.name.as_str(),
                    p.partner.as_ref().map(|t| t.name.as_str()),
                )
            })
            .collect();
        assert_eq!(pairs, [("rtmA.1", Some("#rtmA.1"))]);
        assert_eq!(
            r.problems,
            [
                "LastSavedBy: LastSavedBy lists the partner :#orphan without its main \
                 transform :orphan right before it",
                "transform missing: LastSavedBy lists :missing but the file has no storage of \
                 that name",
            ]
        );
        // `check` reads the same pairs with the same reader.
        let view = crate::rules::lint::read_lenient(&patch).unwrap();
        let names: Vec<&str> = view.pairs.iter().map(|p| p.main.name.as_str()).collect();
        assert_eq!(names, ["rtmA.1"]);
    }

    #[test]
    fn a_base_that_is_not_a_database_is_an_error_and_broken_tables_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = product_with_instance(dir.path());
        let junk = dir.path().join("junk.msi");
        std::fs::write(&junk, b"not a compound file").unwrap();
        let options = InspectOptions {
            tables: true,
            package: Some(junk.clone()),
        };
        let e = inspect_with(&path, &options).unwrap_err();
        assert_eq!(e.file(), Some(junk.as_path()));
        // A synthetic patch's transforms hold noise, not tables.
        let patch = dir.path().join("fix.msp");
        crate::testkit::synth::write_patch_file(
            &crate::testkit::synth::PatchSpec::single_product(),
            &patch,
        )
        .unwrap();
        let r = inspect_with(
            &patch,
            &InspectOptions {
                tables: true,
                package: None,
            },
        )
        .unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("tables of transform")),
            "{:?}",
            r.problems
        );
    }
}
