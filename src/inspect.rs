//! `inspect`: what is in a patch, database or transform.
//!
//! Inspection is lenient where retargeting is strict: a listed transform
//! that is missing or malformed becomes a problem in the report instead of
//! an error, so that a broken patch can still be looked at.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use serde::Serialize;

use crate::container::{self, FileKind, show_name};
use crate::error::{Context, Result};
use crate::guid::Guid;
use crate::patch::{Transform, read_summary, read_transform};
use crate::propset::{PropertySet, PropertyValue};
use crate::streamname;
use crate::summary::{self, CharCount, PatchCodes, TransformRevision, pid};

/// One summary property, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryProperty {
    /// Property id.
    pub id: u32,
    /// Its documented name.
    pub name: &'static str,
    /// Its value as text.
    pub value: String,
}

/// A transform decoded for display.
#[derive(Debug, Clone, Serialize)]
pub struct TransformDetails {
    /// Substorage name (empty for a stand-alone .mst).
    pub name: String,
    /// Decoded RevisionNumber.
    pub revision: TransformRevision,
    /// CharCount as hex.
    pub char_count: Option<String>,
    /// Names of the validation flags (high word).
    pub validation: Vec<String>,
    /// Names of the error-suppression flags (low word).
    pub errors: Vec<String>,
    /// Transform Template (`platform;language`).
    pub template: Option<String>,
    /// Whether its CLSID is the transform CLSID.
    pub transform_clsid: bool,
}

impl TransformDetails {
    fn of(t: &Transform) -> TransformDetails {
        let cc = CharCount(t.char_count.unwrap_or(0));
        TransformDetails {
            name: t.name.clone(),
            revision: t.revision.clone(),
            char_count: t.char_count.map(|c| format!("{c:#010x}")),
            validation: cc.validation().names(),
            errors: cc.errors().names(),
            template: t.template.clone(),
            transform_clsid: t.clsid.0 == container::CLSID_TRANSFORM,
        }
    }
}

/// A patch's own facts.
#[derive(Debug, Clone, Serialize)]
pub struct PatchDetails {
    /// Patch code and obsoleted codes.
    pub codes: Option<PatchCodes>,
    /// Template entries.
    pub targets: Vec<String>,
    /// Transform pairs in LastSavedBy order.
    pub pairs: Vec<PairDetails>,
    /// Whether a signature stream is present.
    pub signed: bool,
}

/// One pair for display.
#[derive(Debug, Clone, Serialize)]
pub struct PairDetails {
    /// Main transform.
    pub main: TransformDetails,
    /// Partner transform.
    pub partner: Option<TransformDetails>,
}

/// A stream for display.
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    /// Decoded name (MSI stream-name compression undone).
    pub name: String,
    /// Whether it is a table stream.
    pub table: bool,
    /// Size in bytes.
    pub size: u64,
}

/// Rows of a database table, as text.
#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    /// Table name.
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one text per column.
    pub rows: Vec<Vec<String>>,
}

/// An embedded storage of a database (e.g. an instance transform).
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddedStorage {
    /// Storage name.
    pub name: String,
    /// Decoded transform summary, when it is a transform.
    pub transform: Option<TransformDetails>,
}

/// Everything `inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// The file.
    pub file: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Root CLSID.
    pub clsid: String,
    /// Summary information properties in stored order.
    pub summary: Vec<SummaryProperty>,
    /// Patch facts (patches only).
    pub patch: Option<PatchDetails>,
    /// Transform facts (stand-alone transforms only).
    pub transform: Option<TransformDetails>,
    /// Embedded storages (databases only).
    pub storages: Vec<EmbeddedStorage>,
    /// The instances a database's embedded instance transforms define.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<crate::instances::InstanceSource>,
    /// Patch metadata and sequence tables (patches only).
    pub tables: Vec<TableRows>,
    /// Streams at the root.
    pub streams: Vec<StreamInfo>,
    /// The Authenticode signature, when the file has one: valid or stale,
    /// algorithm, signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signature::SignatureReport>,
    /// Problems found while reading.
    pub problems: Vec<String>,
}

/// Formats a FILETIME (100-ns ticks since 1601-01-01 UTC).
pub fn filetime_text(ticks: u64) -> String {
    if ticks == 0 {
        return "(not set)".into();
    }
    let secs = ticks / 10_000_000;
    let days = (secs / 86_400) as i64 - 134_774; // days from 1601 to 1970
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

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

/// [`table_rows_of`], with a panic of the `msi` crate (it unwraps values
/// of malformed tables) reported as a problem.
fn table_rows(path: &Path, names: &[&str], problems: &mut Vec<String>) -> Vec<TableRows> {
    let mut found = Vec::new();
    match crate::error::contain_panics(|| table_rows_of(path, names, &mut found)) {
        Ok(rows) => {
            problems.extend(found);
            rows
        }
        Err(why) => {
            problems.push(format!(
                "the patch database could not be read: the msi crate failed: {why}"
            ));
            Vec::new()
        }
    }
}

fn table_rows_of(path: &Path, names: &[&str], problems: &mut Vec<String>) -> Vec<TableRows> {
    if let Err(e) = container::check_before_msi(path) {
        problems.push(format!("the patch database could not be read: {e}"));
        return Vec::new();
    }
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
        signature: crate::signature::examine(&mut cf).in_file(path)?,
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
                match crate::instances::from_product(path) {
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

fn render_transform(s: &mut String, indent: &str, t: &TransformDetails) {
    let r = &t.revision;
    let _ = writeln!(
        s,
        "{indent}{}",
        if t.name.is_empty() {
            "transform"
        } else {
            &t.name
        }
    );
    let _ = writeln!(s, "{indent}  from     {} {}", r.from.code, r.from.version);
    let _ = writeln!(s, "{indent}  to       {} {}", r.to.code, r.to.version);
    if let Some(u) = r.upgrade_code {
        let _ = writeln!(s, "{indent}  upgrade  {u}");
    }
    let _ = writeln!(
        s,
        "{indent}  checks   {} (CharCount {})",
        if t.validation.is_empty() {
            "nothing".to_string()
        } else {
            t.validation.join(", ")
        },
        t.char_count.as_deref().unwrap_or("absent")
    );
    if !t.errors.is_empty() {
        let _ = writeln!(s, "{indent}  ignores  {}", t.errors.join(", "));
    }
    if let Some(tpl) = &t.template {
        let _ = writeln!(s, "{indent}  template {tpl:?}");
    }
    if !t.transform_clsid && !t.name.is_empty() {
        let _ = writeln!(
            s,
            "{indent}  note     storage CLSID is not the transform CLSID"
        );
    }
}

fn render_signature(s: &mut String, sig: &crate::signature::SignatureReport) {
    use crate::signature::Verdict;
    let what = match sig.verdict {
        Verdict::Valid => "valid: the content is what was signed",
        Verdict::Stale => "STALE: the content changed since it was signed",
    };
    let _ = writeln!(s, "  signature {what}");
    if let Some(why) = sig
        .reason
        .as_deref()
        .filter(|_| sig.verdict == Verdict::Stale)
    {
        let _ = writeln!(s, "    why     {why}");
    }
    let _ = writeln!(
        s,
        "    digest  {} {}",
        sig.digest_algorithm.name(),
        sig.signed_digest
    );
    if sig.signed_digest != sig.computed_digest {
        let _ = writeln!(
            s,
            "    now     {} {}",
            sig.digest_algorithm.name(),
            sig.computed_digest
        );
    }
    let unknown = || "(not in the signature)".to_string();
    let _ = writeln!(
        s,
        "    signer  {}",
        sig.signer.subject.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        s,
        "    issuer  {}",
        sig.signer.issuer.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        s,
        "    serial  {}",
        sig.signer.serial.clone().unwrap_or_else(unknown)
    );
    if let Some(t) = &sig.signing_time {
        let _ = writeln!(s, "    signed  {t} (the signer's clock)");
    }
    if let Some(t) = &sig.countersignature_time {
        let _ = writeln!(s, "    stamped {t} (countersignature)");
    }
    let _ = writeln!(
        s,
        "    MsiDigitalSignatureEx {}",
        if sig.msi_digital_signature_ex {
            "present (metadata pre-hash signed too)"
        } else {
            "absent"
        }
    );
    if sig.nested_signatures > 0 {
        let _ = writeln!(
            s,
            "    nested  {} more signature(s), not checked",
            sig.nested_signatures
        );
    }
    let _ = writeln!(
        s,
        "    note    certificate trust is not checked here (signtool verify /pa, osslsigncode verify)"
    );
}

/// Renders an inspect report for people.
pub fn render(r: &InspectReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {}",
        r.file.display(),
        r.kind.describe().split(',').next().unwrap_or("")
    );
    if let Some(p) = &r.patch {
        if let Some(c) = &p.codes {
            let _ = writeln!(s, "patch code  {}", c.patch_code);
            for o in &c.obsoletes {
                let _ = writeln!(s, "obsoletes   {o}");
            }
        }
        let _ = writeln!(
            s,
            "targets     {}",
            if p.targets.is_empty() {
                "(none)".to_string()
            } else {
                p.targets.join(" ")
            }
        );
        let _ = writeln!(s, "signed      {}", if p.signed { "yes" } else { "no" });
        if let Some(sig) = &r.signature {
            render_signature(&mut s, sig);
        }
        let _ = writeln!(s, "transform pairs ({}):", p.pairs.len());
        for pair in &p.pairs {
            render_transform(&mut s, "  ", &pair.main);
            match &pair.partner {
                Some(partner) => render_transform(&mut s, "    ", partner),
                None => {
                    let _ = writeln!(s, "    (no # partner)");
                }
            }
        }
    }
    if let Some(sig) = r.signature.as_ref().filter(|_| r.patch.is_none()) {
        let _ = writeln!(s, "signed      yes");
        render_signature(&mut s, sig);
    }
    if let Some(t) = &r.transform {
        render_transform(&mut s, "", t);
    }
    if !r.storages.is_empty() {
        let _ = writeln!(s, "embedded storages ({}):", r.storages.len());
        for st in &r.storages {
            match &st.transform {
                Some(t) => render_transform(&mut s, "  ", t),
                None => {
                    let _ = writeln!(s, "  {} (not a transform)", show_name(&st.name));
                }
            }
        }
    }
    if let Some(src) = &r.instances {
        let _ = writeln!(s, "instances of {} ({}):", src.base, src.instances.len());
        for i in &src.instances {
            let _ = writeln!(
                s,
                "  {:<12} {}{}{}",
                i.id.as_deref().unwrap_or("-"),
                i.product_code,
                i.upgrade_code
                    .map(|u| format!("  upgrade {u}"))
                    .unwrap_or_default(),
                i.product_name
                    .as_deref()
                    .map(|n| format!("  \"{n}\""))
                    .unwrap_or_default()
            );
        }
        for k in &src.skipped {
            let _ = writeln!(s, "  {} is not an instance: {}", k.id, k.reason);
        }
    }
    for t in &r.tables {
        let _ = writeln!(s, "{} ({} rows):", t.name, t.rows.len());
        for row in &t.rows {
            let _ = writeln!(s, "  {}", row.join(" | "));
        }
    }
    let _ = writeln!(s, "summary information:");
    for p in &r.summary {
        let _ = writeln!(s, "  {:>2} {:<19} {}", p.id, p.name, p.value);
    }
    let _ = writeln!(s, "streams ({}):", r.streams.len());
    for st in &r.streams {
        let _ = writeln!(
            s,
            "  {:>12}  {}{}",
            st.size,
            st.name,
            if st.table { " (table)" } else { "" }
        );
    }
    for p in &r.problems {
        let _ = writeln!(s, "problem: {p}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_formats_known_dates() {
        assert_eq!(filetime_text(0), "(not set)");
        // 1970-01-01 00:00:00 UTC.
        assert_eq!(
            filetime_text(116_444_736_000_000_000),
            "1970-01-01 00:00:00 UTC"
        );
        // 2009-07-01 12:34:56 UTC = 1246451696 s after 1970.
        let t = 116_444_736_000_000_000 + 1_246_451_696 * 10_000_000;
        assert_eq!(filetime_text(t), "2009-07-01 12:34:56 UTC");
    }
}
