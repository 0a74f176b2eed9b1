//! An independent model of what a retarget must produce, and a checker
//! that compares an output file with its input entry by entry.
//!
//! The model is written from the format rules, not from the library: the
//! source pairs are read from LastSavedBy and the transforms' summaries by
//! hand, the expected RevisionNumber is computed by text replacement, and
//! only the copies' names are taken from the output (their scheme is
//! checked separately).

use std::collections::{BTreeMap, BTreeSet};

use super::{Snapshot, pid, summary, text, value_range};
use msp_retarget::Guid;
use msp_retarget::testkit::propset::PropertySet;

/// One transform pair of a patch, read from its LastSavedBy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePair {
    pub main: String,
    pub partner: Option<String>,
    /// Main transform's from product code, upper case and braced.
    pub from: String,
    pub char_count: u32,
}

impl SourcePair {
    /// Whether the main transform checks the product code (bit 0x0002 of
    /// CharCount's high word).
    pub fn validates_product(&self) -> bool {
        (self.char_count >> 16) & 0x0002 != 0
    }
}

/// The pairs of `snap` in LastSavedBy order.
pub fn source_pairs(snap: &Snapshot) -> Vec<SourcePair> {
    let list = snap.text("", pid::LAST_SAVED_BY);
    let mut pairs: Vec<SourcePair> = Vec::new();
    for entry in list.split(';').filter(|e| !e.is_empty()) {
        let name = entry
            .strip_prefix(':')
            .expect("LastSavedBy entries are :name");
        if name.starts_with('#') {
            let last = pairs.last_mut().expect("a partner follows its main");
            assert_eq!(format!("#{}", last.main), name);
            last.partner = Some(name.to_string());
            continue;
        }
        let set = snap.summary(name);
        let revision = text(&set, pid::REVISION_NUMBER);
        let char_count = match set.get(pid::CHAR_COUNT) {
            Some(msp_retarget::testkit::propset::PropertyValue::I4(v)) => *v as u32,
            other => panic!("{name}: CharCount is {other:?}"),
        };
        pairs.push(SourcePair {
            main: name.to_string(),
            partner: None,
            from: revision[..38].to_ascii_uppercase(),
            char_count,
        });
    }
    pairs
}

/// The source's RevisionNumber with `base` replaced by `instance` in the
/// from and to positions; everything else as stored.
pub fn retargeted_revision(source: &str, base: &str, instance: &str) -> String {
    source
        .split(';')
        .enumerate()
        .map(|(i, part)| match part.get(..38) {
            Some(code) if i < 2 && code.eq_ignore_ascii_case(base) => {
                format!("{instance}{}", &part[38..])
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// What a retarget was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// (base, instance) per request, in any order; duplicates allowed.
    pub requests: Vec<(Guid, Guid)>,
    pub copy_all: bool,
    /// Root streams that must be gone.
    pub removed: Vec<String>,
}

impl Expect {
    pub fn new(requests: &[(&str, &str)]) -> Expect {
        Expect {
            requests: requests
                .iter()
                .map(|(b, i)| (super::guid(b), super::guid(i)))
                .collect(),
            ..Expect::default()
        }
    }
}

/// One copy found in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCopy {
    pub instance: Guid,
    pub source: String,
    pub name: String,
}

fn same_props_except(a: &PropertySet, b: &PropertySet, except: &[u32], what: &str) {
    assert_eq!(a.property_ids(), b.property_ids(), "{what}: property table");
    for id in a.property_ids() {
        if !except.contains(&id) {
            assert_eq!(a.get(id), b.get(id), "{what}: property {id}");
        }
    }
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks that a new main name obeys the naming rules (docs/naming.md).
pub fn check_new_name(name: &str) {
    assert!(!name.is_empty(), "empty name");
    assert!(!name.starts_with('#'), "{name:?} starts with #");
    assert!(units(name) <= 30, "{name:?} is {} units", units(name));
    assert!(units(&format!("#{name}")) <= 31);
    assert!(
        !name.contains(['/', '\\', ':', '!', ';', '\0']),
        "{name:?} has a forbidden character"
    );
    assert!(name.chars().next().unwrap() > '\u{1f}', "{name:?}");
}

/// Checks `out` against `src` for a retarget described by `expect` whose
/// instances all were new to the patch; returns the copies, in
/// LastSavedBy order.
pub fn check_retarget(src: &Snapshot, out: &Snapshot, expect: &Expect) -> Vec<FoundCopy> {
    let pairs = source_pairs(src);

    // Signable by osslsigncode: no chain link to sector 0 or mini sector 0.
    assert_eq!(out.links_to_zero, Vec::<String>::new(), "links to sector 0");

    // The instances, once each (the first request of each), in the order
    // of their product codes whatever the order of the requests.
    let mut seen = BTreeSet::new();
    let mut requests: Vec<(Guid, Guid)> = expect
        .requests
        .iter()
        .copied()
        .filter(|(_, i)| seen.insert(*i))
        .collect();
    requests.sort_by_key(|(_, i)| i.braced());

    // Template: the original, then each instance it lacks, canonical.
    let template_before = src.text("", pid::TEMPLATE);
    let mut template = template_before.clone();
    for (_, i) in &requests {
        let listed = template
            .split(';')
            .any(|t| t.eq_ignore_ascii_case(&i.braced()));
        if !listed {
            if !template.is_empty() && !template.ends_with(';') {
                template.push(';');
            }
            template.push_str(&i.braced());
        }
    }
    assert_eq!(out.text("", pid::TEMPLATE), template, "Template");
    assert!(
        !template[template_before.len()..]
            .chars()
            .any(|c| c.is_ascii_lowercase()),
        "Template gained lower-case digits: {template}"
    );

    // Copies expected, in order: per instance, the pairs of its base.
    let expected: Vec<(Guid, Guid, &SourcePair)> = requests
        .iter()
        .flat_map(|(b, i)| {
            pairs
                .iter()
                .filter(move |p| p.from == b.braced())
                .filter(|p| p.validates_product() || expect.copy_all)
                .map(move |p| (*b, *i, p))
        })
        .collect();

    // LastSavedBy: the original, then `:N;:#N` per copy.
    let before = src.text("", pid::LAST_SAVED_BY);
    let after = out.text("", pid::LAST_SAVED_BY);
    let added = after
        .strip_prefix(&before)
        .unwrap_or_else(|| panic!("LastSavedBy {after:?} does not start with {before:?}"));
    let added = if before.is_empty() || before.ends_with(';') || expected.is_empty() {
        added
    } else {
        added
            .strip_prefix(';')
            .unwrap_or_else(|| panic!("LastSavedBy appended {added:?} without ';'"))
    };
    let mut entries = added.split(';').filter(|e| !e.is_empty());
    let mut found = Vec::new();
    for (base, instance, pair) in &expected {
        let main = entries
            .next()
            .and_then(|e| e.strip_prefix(':'))
            .unwrap_or_else(|| panic!("LastSavedBy {after:?} lacks a copy of {}", pair.main));
        check_new_name(main);
        if pair.partner.is_some() {
            let partner = entries.next();
            assert_eq!(
                partner,
                Some(format!(":#{main}").as_str()),
                "the copy {main} is not followed by its partner in {after:?}"
            );
        }
        check_copy(src, out, pair, main, *base, *instance);
        found.push(FoundCopy {
            instance: *instance,
            source: pair.main.clone(),
            name: main.to_string(),
        });
    }
    assert_eq!(entries.next(), None, "LastSavedBy {after:?} lists more");

    // The root summary: only Template and LastSavedBy changed.
    same_props_except(
        &src.summary(""),
        &out.summary(""),
        &[pid::TEMPLATE, pid::LAST_SAVED_BY],
        "root summary",
    );

    // Root names are unique ignoring case.
    let mut keys = BTreeSet::new();
    for name in out.root_names() {
        assert!(
            keys.insert(name.to_uppercase()),
            "{name:?} collides with another root entry ignoring case"
        );
    }

    // The patch database: every table as it was, but MsiPatchSequence
    // gains, per instance, the base's keyed rows keyed to the instance.
    let database_changed = check_database(src, out, &requests);

    // Every input entry unchanged, nothing but the copies added.
    let root_summary = format!("/{}", super::SUMMARY);
    let mut want: BTreeSet<String> = BTreeSet::new();
    for (path, e) in &src.entries {
        if expect.removed.iter().any(|r| *path == format!("/{r}")) {
            assert!(!out.entries.contains_key(path), "{path:?} was not removed");
            continue;
        }
        want.insert(path.clone());
        let o = out
            .entries
            .get(path)
            .unwrap_or_else(|| panic!("{path:?} of the input is missing"));
        assert_eq!(e.meta(), o.meta(), "metadata of {path:?}");
        // Table streams (the packed names start with U+4840) are
        // compared row by row above when the database changed.
        let table_stream = path.starts_with("/\u{4840}") && !path[1..].contains('/');
        if *path != root_summary && !(database_changed && table_stream) {
            assert!(e.bytes == o.bytes, "bytes of {path:?} changed");
        }
    }
    for c in &found {
        for name in [c.name.clone(), format!("#{}", c.name)] {
            for rel in out.subtree(&name).keys() {
                want.insert(if rel.is_empty() {
                    format!("/{name}")
                } else {
                    format!("/{name}/{rel}")
                });
            }
        }
    }
    let got: BTreeSet<String> = out.entries.keys().cloned().collect();
    assert_eq!(got, want, "entries of the output");
    found
}

/// A copy and its partner equal their sources except for RevisionNumber.
fn check_copy(
    src: &Snapshot,
    out: &Snapshot,
    pair: &SourcePair,
    main: &str,
    base: Guid,
    inst: Guid,
) {
    let mut storages = vec![(pair.main.clone(), main.to_string())];
    if let Some(p) = &pair.partner {
        storages.push((p.clone(), format!("#{main}")));
    }
    for (source, copy) in storages {
        let a = src.subtree(&source);
        let b = out.subtree(&copy);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "entries of {copy} vs {source}"
        );
        for (rel, ea) in &a {
            let eb = b[rel];
            assert_eq!(ea.meta(), eb.meta(), "metadata of {copy}/{rel} vs {source}");
            if rel != super::SUMMARY {
                assert!(ea.bytes == eb.bytes, "bytes of {copy}/{rel} vs {source}");
            }
        }
        // Summary: only RevisionNumber differs, and only in its value.
        let (sa, sb) = (src.summary_bytes(&source), out.summary_bytes(&copy));
        let (pa, pb) = (summary(sa), summary(sb));
        same_props_except(&pa, &pb, &[pid::REVISION_NUMBER], &copy);
        let rev_a = text(&pa, pid::REVISION_NUMBER);
        let rev_b = text(&pb, pid::REVISION_NUMBER);
        let want = retargeted_revision(&rev_a, &base.braced(), &inst.braced());
        assert_eq!(rev_b, want, "RevisionNumber of {copy}");
        assert_ne!(rev_a, rev_b, "RevisionNumber of {copy} unchanged");
        let (ra, rb) = (rev_a.split(';'), rev_b.split(';'));
        for (i, (x, y)) in ra.zip(rb).enumerate() {
            match i {
                0 | 1 => assert_eq!(x.get(38..), y.get(38..), "version {i} of {copy}"),
                _ => assert_eq!(x, y, "upgrade code of {copy}"),
            }
        }
        let range = value_range(sa, pid::REVISION_NUMBER);
        assert_eq!(range, value_range(sb, pid::REVISION_NUMBER));
        assert!(
            sa[..range.start] == sb[..range.start],
            "bytes before RevisionNumber's value differ in {copy}"
        );
        assert!(
            sa[range.end..] == sb[range.end..],
            "bytes after RevisionNumber's value differ in {copy}"
        );
    }
}

/// The Template entries of `snap`, as listed.
pub fn targets(snap: &Snapshot) -> Vec<String> {
    snap.text("", pid::TEMPLATE)
        .split(';')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Copies of the output by name, for lookups.
pub fn by_name(found: &[FoundCopy]) -> BTreeMap<&str, &FoundCopy> {
    found.iter().map(|c| (c.name.as_str(), c)).collect()
}

/// The patch database of `snap` (its root streams) opened with the `msi`
/// crate.
fn database(snap: &Snapshot) -> msi::Package<std::io::Cursor<Vec<u8>>> {
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    cf.set_storage_clsid("/", snap.entries["/"].clsid).unwrap();
    for (path, e) in &snap.entries {
        if e.is_stream && !path[1..].contains('/') {
            use std::io::Write;
            cf.create_stream(path).unwrap().write_all(&e.bytes).unwrap();
        }
    }
    cf.flush().unwrap();
    let bytes = cf.into_inner().into_inner();
    msi::Package::open(std::io::Cursor::new(bytes)).unwrap()
}

type Rows = Vec<Vec<String>>;

fn table_rows(p: &mut msi::Package<std::io::Cursor<Vec<u8>>>, table: &str) -> Rows {
    let mut rows: Rows = p
        .select_rows(msi::Select::table(table))
        .unwrap()
        .map(|r| {
            (0..r.len())
                .map(|i| match &r[i] {
                    msi::Value::Str(s) => format!("s:{s}"),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Checks the patch database of `out` against `src`: every table's rows
/// equal, except MsiPatchSequence, which gains for each (base, instance)
/// every row keyed to the base (ProductCode compared ignoring case) whose
/// family has no row keyed to the instance, keyed to the instance in
/// upper case. Returns whether any row was expected to be added.
fn check_database(src: &Snapshot, out: &Snapshot, requests: &[(Guid, Guid)]) -> bool {
    let mut a = database(src);
    let mut b = database(out);
    let names: Vec<String> = a.tables().map(|t| t.name().to_string()).collect();
    let out_names: Vec<String> = b.tables().map(|t| t.name().to_string()).collect();
    assert_eq!(names, out_names, "tables of the patch database");
    let mut added = false;
    for name in names {
        let before = table_rows(&mut a, &name);
        let after = table_rows(&mut b, &name);
        if name != "MsiPatchSequence" {
            assert_eq!(before, after, "rows of table {name}");
            continue;
        }
        let code = |s: &str| s.strip_prefix("s:").unwrap_or("").to_uppercase();
        let mut want = before.clone();
        for (base, instance) in requests {
            let (base, instance) = (base.braced(), instance.braced());
            for row in &before {
                let has = want
                    .iter()
                    .any(|r| r[0] == row[0] && code(&r[1]) == instance);
                if code(&row[1]) == base && !has {
                    let mut copy = row.clone();
                    copy[1] = format!("s:{instance}");
                    want.push(copy);
                    added = true;
                }
            }
        }
        want.sort();
        assert_eq!(after, want, "rows of MsiPatchSequence");
    }
    added
}
