//! The report of `inspect`: what a patch, database or transform holds, and
//! its rendering for people.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{ApiWords, Setting, Wording};
use crate::format::container::{self, FileKind, show_name};
use crate::format::summary::{CharCount, PatchCodes, TransformRevision, pid};
use crate::patch::Transform;

pub use crate::format::transform::view::{ColumnChange, RowChange, TableChanges, TransformChanges};

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
    /// What it changes, table by table and row by row (`inspect --tables`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<TransformChanges>,
}

impl TransformDetails {
    pub(crate) fn of(t: &Transform) -> TransformDetails {
        let cc = CharCount(t.char_count.unwrap_or(0));
        TransformDetails {
            name: t.name.clone(),
            revision: t.revision.clone(),
            char_count: t.char_count.map(|c| format!("{c:#010x}")),
            validation: cc.validation().names(),
            errors: cc.errors().names(),
            template: t.template.clone(),
            transform_clsid: t.clsid.0 == container::CLSID_TRANSFORM,
            changes: None,
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
    /// A database's ProductCode, ProductVersion, UpgradeCode,
    /// ProductLanguage and ProductName (databases with a Property table
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<crate::product::facts::ProductProperties>,
    /// The instances a database's embedded instance transforms define.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<crate::product::instances::InstanceSource>,
    /// Patch metadata and sequence tables (patches only).
    pub tables: Vec<TableRows>,
    /// Streams at the root.
    pub streams: Vec<StreamInfo>,
    /// The Authenticode signature, when the file has one: valid or stale,
    /// algorithm, signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::format::signature::SignatureReport>,
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
    if let Some(c) = &t.changes {
        if c.tables.is_empty()
            && c.added_tables.is_empty()
            && c.dropped_tables.is_empty()
            && c.undecoded.is_empty()
        {
            let _ = writeln!(s, "{indent}  changes  no table");
        } else {
            let _ = writeln!(s, "{indent}  changes:");
            s.push_str(&crate::format::transform::view::render(
                c,
                &format!("{indent}    "),
            ));
        }
    }
}

fn render_signature(s: &mut String, sig: &crate::format::signature::SignatureReport) {
    use crate::format::signature::Verdict;
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

/// The width long list values are wrapped to.
const WIDTH: usize = 80;

/// Widest a table column is padded to; a longer cell overflows its column
/// instead of widening every row.
const MAX_COLUMN: usize = 40;

/// `value` cut after `;` separators into lines of at most `width`
/// characters (a single entry longer than that gets a line of its own), so
/// that Template and LastSavedBy with a hundred entries read as a column.
/// Values without `;` or short enough stay one line; the lines joined give
/// back the value.
fn wrap_list(value: &str, width: usize) -> Vec<&str> {
    if value.chars().count() <= width || !value.contains(';') {
        return vec![value];
    }
    let mut lines = Vec::new();
    let (mut start, mut end, mut used) = (0, 0, 0);
    for piece in value.split_inclusive(';') {
        let len = piece.chars().count();
        if end > start && used + len > width {
            lines.push(&value[start..end]);
            start = end;
            used = 0;
        }
        end += piece.len();
        used += len;
    }
    lines.push(&value[start..end]);
    lines
}

/// A table as `msiinfo export` heads it: the column names, then the rows,
/// each column padded to its widest cell (at most [`MAX_COLUMN`]).
fn render_table(s: &mut String, t: &TableRows) {
    let _ = writeln!(s, "{} ({} rows):", t.name, t.rows.len());
    let columns = t
        .columns
        .len()
        .max(t.rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; columns];
    let header = t.columns.iter().map(String::as_str);
    for (i, cell) in header.clone().enumerate() {
        widths[i] = widths[i].max(cell.chars().count());
    }
    for row in &t.rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |s: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from("  ");
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths[i]
                .min(MAX_COLUMN)
                .saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        let _ = writeln!(s, "{}", text.trim_end());
    };
    if !t.columns.is_empty() {
        line(s, &mut header.clone());
    }
    for row in &t.rows {
        line(s, &mut row.iter().map(String::as_str));
    }
}

/// Renders an inspect report for people.
pub fn render(r: &InspectReport) -> String {
    render_worded(r, &ApiWords)
}

/// Renders an inspect report for people, naming settings in `wording`'s
/// words (a label is padded to its column as worded).
pub fn render_worded(r: &InspectReport, wording: &dyn Wording) -> String {
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
        // One code per line past the first, so that a patch retargeted to
        // a hundred instances stays readable and `grep` finds each code.
        match p.targets.as_slice() {
            [] => {
                let _ = writeln!(s, "targets     (none)");
            }
            [one] => {
                let _ = writeln!(s, "targets     {one}");
            }
            many => {
                let _ = writeln!(s, "targets ({}):", many.len());
                for t in many {
                    let _ = writeln!(s, "  {t}");
                }
            }
        }
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
    if let Some(p) = &r.product {
        let absent = "(absent)";
        for (name, value) in [
            ("ProductCode", &p.product_code),
            ("ProductVersion", &p.product_version),
            ("UpgradeCode", &p.upgrade_code),
            ("ProductLanguage", &p.product_language),
            ("ProductName", &p.product_name),
        ] {
            let _ = writeln!(s, "{name:<16} {}", value.as_deref().unwrap_or(absent));
        }
        if let Some(arg) = p.product_argument() {
            let spec = wording
                .word(&Setting::ProductSpec)
                .unwrap_or_else(|| Setting::ProductSpec.api_words());
            let _ = writeln!(s, "{:<16} {arg}", format!("as {spec}"));
        }
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
    if r.instances.is_none() && r.product.is_some() {
        let _ = writeln!(s, "instances (0): no embedded instance transform");
    }
    for t in &r.tables {
        render_table(&mut s, t);
    }
    let _ = writeln!(s, "summary information:");
    for p in &r.summary {
        let head = format!("  {:>2} {:<19} ", p.id, p.name);
        // Only the two lists that grow with the instances wrap; other
        // values (a transform's RevisionNumber has `;` too) stay one line.
        let width = match p.id {
            pid::TEMPLATE | pid::LAST_SAVED_BY => WIDTH.saturating_sub(head.len()),
            _ => usize::MAX,
        };
        let mut lines = wrap_list(&p.value, width).into_iter();
        let _ = writeln!(s, "{head}{}", lines.next().unwrap_or_default());
        for line in lines {
            let _ = writeln!(s, "{:w$}{line}", "", w = head.len());
        }
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
    fn lists_wrap_at_separators_and_join_back() {
        let value = "aaaa;bbbb;cccc;dddddddddddd;e";
        assert_eq!(wrap_list(value, 100), [value]);
        assert_eq!(wrap_list("no separator at all", 4), ["no separator at all"]);
        let lines = wrap_list(value, 10);
        assert_eq!(lines, ["aaaa;bbbb;", "cccc;", "dddddddddddd;", "e"]);
        assert_eq!(lines.concat(), value);
    }

    #[test]
    fn tables_are_headed_and_aligned() {
        let t = TableRows {
            name: "T".into(),
            columns: vec!["A".into(), "Longer".into(), "C".into()],
            rows: vec![
                vec!["".into(), "x".into(), "".into()],
                vec!["wide cell".into(), "y".into(), "z".into()],
            ],
        };
        let mut s = String::new();
        render_table(&mut s, &t);
        assert_eq!(
            s,
            "T (2 rows):\n  A          Longer  C\n             x\n  wide cell  y       z\n"
        );
    }

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
