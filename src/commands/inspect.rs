//! `inspect`: what is in a patch, database or transform.
//!
//! Inspection is lenient where retargeting is strict: a listed transform
//! that is missing or malformed becomes a problem in the report instead of
//! an error, so that a broken patch can still be looked at.

use std::fs::File;
use std::path::Path;

use cfb::CompoundFile;

use crate::error::{Context, Result};
use crate::format::container::{self, FileKind, show_name};
use crate::format::guid::Guid;
use crate::format::propset::{PropertySet, PropertyValue};
use crate::format::streamname;
use crate::format::summary::{self, PatchCodes, TransformRevision, pid};
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

fn root_streams(cf: &CompoundFile<File>) -> Vec<StreamInfo> {
    cf.read_root_storage()
        .filter(|e| e.is_stream())
        .map(|e| {
            let d = streamname::decode(e.name());
            StreamInfo {
                name: if streamname::is_raw_special(e.name()) {
                    show_name(e.name())
                } else {
                    d.name
                },
                table: d.is_table,
                size: e.len(),
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

/// [`table_rows_of`] through the guarded entry into the `msi` crate: a
/// file that fails its checks, or a panic of the crate (it unwraps values
/// of malformed tables), is reported as a problem.
fn table_rows(path: &Path, names: &[&str], problems: &mut Vec<String>) -> Vec<TableRows> {
    let mut found = Vec::new();
    match crate::format::msi::guarded(path, || Ok(table_rows_of(path, names, &mut found))) {
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

fn table_rows_of(path: &Path, names: &[&str], problems: &mut Vec<String>) -> Vec<TableRows> {
    let mut package = match File::open(path).and_then(msi::Package::open) {
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

/// Inspects any Windows Installer file.
pub fn inspect(path: &Path) -> Result<InspectReport> {
    crate::store::journal::check_readable(path)?;
    let mut cf = container::open(path)?;
    let kind = container::kind_of(&cf);
    let mut problems = Vec::new();
    let summary = match read_summary(&mut cf, Path::new("/")) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("root summary information: {e}"));
            None
        }
    };
    let mut report = InspectReport {
        file: path.to_path_buf(),
        kind,
        clsid: Guid(*cf.root_entry().clsid()).braced(),
        summary: summary.as_ref().map(summary_properties).unwrap_or_default(),
        patch: None,
        transform: None,
        storages: Vec::new(),
        instances: None,
        tables: Vec::new(),
        streams: root_streams(&cf),
        signature: crate::format::signature::examine(&mut cf).in_file(path)?,
        problems: Vec::new(),
    };
    match kind {
        FileKind::Patch => {
            report.patch = Some(patch_details(&mut cf, summary.as_ref(), &mut problems));
            report.tables = table_rows(
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
                            clsid: Guid(*cf.root_entry().clsid()),
                            revision,
                            char_count: summary::get_int(set, pid::CHAR_COUNT).map(|v| v as u32),
                            template: summary::get_string(set, pid::TEMPLATE).ok().flatten(),
                            content_digest: 0,
                        };
                        report.transform = Some(TransformDetails::of(&t));
                    }
                    Err(e) => problems.push(format!("RevisionNumber: {}", e.reason())),
                }
            }
        }
        FileKind::Database | FileKind::Other => {
            let storages: Vec<String> = cf
                .read_root_storage()
                .filter(|e| e.is_storage())
                .map(|e| e.name().to_string())
                .collect();
            let any_storage = !storages.is_empty();
            for name in storages {
                let transform = read_transform(&mut cf, &name)
                    .ok()
                    .map(|t| TransformDetails::of(&t));
                report.storages.push(EmbeddedStorage { name, transform });
            }
            if kind == FileKind::Database && any_storage {
                match crate::product::instances::from_product(path) {
                    Ok(src) => report.instances = Some(src),
                    Err(e) => problems.push(format!("instances: {}", e.reason())),
                }
            }
        }
    }
    report.problems = problems;
    Ok(report)
}

fn patch_details(
    cf: &mut CompoundFile<File>,
    set: Option<&PropertySet>,
    problems: &mut Vec<String>,
) -> PatchDetails {
    let text = |id| {
        set.and_then(|s| summary::get_string(s, id).ok().flatten())
            .unwrap_or_default()
    };
    let template = text(pid::TEMPLATE);
    let codes = match PatchCodes::parse(&text(pid::REVISION_NUMBER)) {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(format!("RevisionNumber: {}", e.reason()));
            None
        }
    };
    for t in summary::split_list(&template) {
        if let Err(e) = Guid::parse_braced(t.trim()) {
            problems.push(format!("Template entry: {}", e.reason()));
        }
    }
    let mut pairs = Vec::new();
    match summary::parse_transform_list(&text(pid::LAST_SAVED_BY)) {
        Ok(list) => {
            for p in list {
                let read = |cf: &mut CompoundFile<File>, name: &str, problems: &mut Vec<String>| {
                    match read_transform(cf, name) {
                        Ok(t) => Some(TransformDetails::of(&t)),
                        Err(e) => {
                            problems.push(format!("transform {}: {e}", show_name(name)));
                            None
                        }
                    }
                };
                let main = read(cf, &p.main, problems);
                let partner = p.partner.as_deref().and_then(|n| read(cf, n, problems));
                if let Some(main) = main {
                    pairs.push(PairDetails { main, partner });
                }
            }
        }
        Err(e) => problems.push(format!("LastSavedBy: {}", e.reason())),
    }
    let names = container::root_names(cf);
    PatchDetails {
        codes,
        targets: summary::split_list(&template)
            .into_iter()
            .map(str::to_string)
            .collect(),
        pairs,
        signed: container::SIGNATURE_STREAMS
            .iter()
            .any(|s| names.iter().any(|n| n == s)),
    }
}
