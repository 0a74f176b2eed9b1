//! What a copy of a transform may differ in from its source: the one place
//! that knows it. Planning (is a copy already there, which product was
//! retargeted from which), applying (what bytes to write), verifying (is
//! the written copy exactly its source plus what was declared), the check
//! of the result and `untarget` all ask here.
//!
//! # The rule
//!
//! A copy is its source with **declared differences**, and nothing else:
//!
//! * its summary information's **RevisionNumber**: the source's with the
//!   base product's code replaced by the instance's (and, when the pair
//!   checks it, an upgrade code of the instance's own) —
//!   [`CopyPlan::revision_after`];
//! * **per-instance cells** of its table streams
//!   ([`PER_INSTANCE_CELLS`]: Component.ComponentId), in rows the source
//!   already carries with that column — [`CopyPlan::rows`], one
//!   [`Change::Cell`] per row and column, with the source's value as `old`;
//! * the string pool (`_StringPool`, `_StringData`) only as far as those
//!   cells need it.
//!
//! Every other stream is byte-identical, every entry keeps its CLSID,
//! state bits and timestamps.
//!
//! # The API
//!
//! * Declaring: a [`CopyPlan`] (re-exported by `edit::plan`) names the
//!   source, the copy and its differences. A row difference is a
//!   [`Change::Cell`] — for "Component row `K`: ComponentId `G` → `G2`":
//!   [`component_id`]`(RowKind::Insert, "K", "G", "G2")`, or the
//!   `Change::Cell` a [`crate::format::transform::edit::TransformEditor`]
//!   edit returns. [`check_declared`] refuses anything the rule does not
//!   allow.
//! * Recognising: [`copy_of`] tells whether a pair of the patch is a copy
//!   of another made for an instance, from what reading the patch
//!   recorded ([`crate::patch::Content`]: stream digests, decoded
//!   per-instance rows), and returns the row differences it carries
//!   ([`CopyOf`]); [`CopyOf::matches`] compares them with a declaration.
//!   Planning finds an existing copy only when it carries exactly the rows
//!   the plan would declare for it (`rows` in `edit::plan::plan`, handed
//!   to `existing_copy` and to the new [`CopyPlan`]s; none yet), so a
//!   re-run with the same declarations finds the copies it made.
//!   Recognition does no I/O, so planning stays pure; it does not look
//!   into the string pool (a pool that differs is allowed when the decoded
//!   rows differ only in per-instance cells). Verification does.
//! * Writing: [`Sources::streams_after`] gives the bytes of every stream of the
//!   copy that is not the source's: the summary information and, when
//!   rows are declared, the changed table streams and string pool (made
//!   with the transform editor of `format::transform::edit`).
//! * Verifying: [`verify_copy`] checks a written copy against its source:
//!   every entry present with the same metadata, every stream the source's
//!   bytes or exactly the bytes of [`Sources::streams_after`], and, decoding both
//!   storages row by row, exactly the declared row changes
//!   ([`crate::format::transform::edit::changes_between`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::format::container;
use crate::format::guid::Guid;
use crate::format::streamname;
use crate::format::summary::{self, MAX_SUMMARY_LEN, SUMMARY_STREAM, pid, property_part};
use crate::format::transform::edit::{Change, TransformEditor, changes_between};
use crate::format::transform::{
    self as transform, MAX_POOL_LEN, MAX_STRING_DATA_LEN, MAX_TABLE_LEN, PER_INSTANCE_CELLS,
    RowKind, RowOp, Schema, Value,
};
use crate::patch::{Content, Pair, Patch, Transform, read_summary};

/// One new substorage: a copy of `source` named `name`, made for
/// `instance`, whose declared differences from its source are
/// RevisionNumber (`revision_after`) and the row changes `rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyPlan {
    /// The instance it is made for.
    pub instance: Guid,
    /// Source substorage name.
    pub source: String,
    /// New substorage name.
    pub name: String,
    /// Source RevisionNumber.
    pub revision_before: String,
    /// RevisionNumber of the copy.
    pub revision_after: String,
    /// Row changes of the copy's table streams (per-instance cells only,
    /// see `check_declared`), in any order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Change>,
}

/// The declaration "Component row `key` (an insert or an update row, as
/// the source has it): ComponentId `old` → `new`".
pub fn component_id(row: RowKind, key: &str, old: &str, new: &str) -> Change {
    Change::Cell {
        table: transform::COMPONENT.to_string(),
        key: vec![Value::Str(key.to_string())],
        row,
        column: "ComponentId".to_string(),
        old: Some(Value::Str(old.to_string())),
        new: Value::Str(new.to_string()),
    }
}

/// Whether `table`.`column` is a cell a copy may change.
fn per_instance(table: &str, column: &str) -> bool {
    PER_INSTANCE_CELLS
        .iter()
        .any(|(t, c)| *t == table && *c == column)
}

/// Refuses a declaration the rule does not allow: only [`Change::Cell`]s
/// of per-instance cells, each with the source's value, each cell once.
pub fn check_declared(rows: &[Change]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for change in rows {
        let Change::Cell {
            table,
            key,
            row,
            column,
            old,
            ..
        } = change
        else {
            return Err(Error::usage(format!(
                "a copy of a transform may only change cells of existing rows; {change:?} \
                 is not one"
            )));
        };
        if !per_instance(table, column) {
            return Err(Error::usage(format!(
                "a copy of a transform may not change {table}.{column}: only {} differ \
                 from one instance to the next",
                PER_INSTANCE_CELLS
                    .iter()
                    .map(|(t, c)| format!("{t}.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if old.is_none() {
            return Err(Error::usage(format!(
                "the change of {table}.{column} in row {key:?} does not give the source's value"
            )));
        }
        if !seen.insert((table, key, row, column)) {
            return Err(Error::usage(format!(
                "{table}.{column} of row {key:?} is declared twice"
            )));
        }
    }
    Ok(())
}

fn sorted(rows: &[Change]) -> Vec<Change> {
    let mut v = rows.to_vec();
    v.sort();
    v
}

//==========================================================================//
// Recognising a copy

#[cfg(any(test, feature = "testkit"))]
thread_local! {
    /// Calls of [`copy_of`] on this thread: tests bound the work a plan
    /// (and a whole retarget) does by it, instead of timing it.
    pub(crate) static COPY_COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// What a recognised copy of a pair differs in from its source, besides
/// RevisionNumber: the row changes of its main transform and of its
/// partner, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOf {
    /// Row changes of the main transform.
    pub main: Vec<Change>,
    /// Row changes of the partner.
    pub partner: Vec<Change>,
}

impl CopyOf {
    /// Whether the copy carries exactly these row changes (any order).
    pub fn matches(&self, main: &[Change], partner: &[Change]) -> bool {
        self.main == sorted(main) && self.partner == sorted(partner)
    }
}

/// Whether `copy` is a copy of `source` made for `instance`, and with
/// which row changes. Its RevisionNumber must be the source's with the
/// source's base replaced by `instance`, with the source's upgrade code or
/// `upgrade` when given (an instance with an upgrade code of its own); its
/// CharCount the source's; its content the source's, or the source's with
/// per-instance cells changed (see the module's rule).
pub fn copy_of(
    source: &Pair,
    copy: &Pair,
    instance: Guid,
    upgrade: Option<Guid>,
) -> Option<CopyOf> {
    #[cfg(any(test, feature = "testkit"))]
    COPY_COMPARISONS.with(|c| c.set(c.get() + 1));
    let base = source.base();
    let main = transform_copy_of(&source.main, &copy.main, base, instance, upgrade)?;
    let partner = match (&source.partner, &copy.partner) {
        (None, None) => Vec::new(),
        (Some(s), Some(c)) => transform_copy_of(s, c, base, instance, upgrade)?,
        _ => return None,
    };
    Some(CopyOf { main, partner })
}

fn transform_copy_of(
    src: &Transform,
    copy: &Transform,
    base: Guid,
    instance: Guid,
    upgrade: Option<Guid>,
) -> Option<Vec<Change>> {
    // The source's codes with `base` replaced by `instance`: what parsing
    // `src.revision.retargeted(base, instance, None)` gives, without
    // building and parsing text for every comparison (planning compares
    // every pair with every pair).
    let swapped = |c: &summary::CodeVersion, s: &summary::CodeVersion| {
        c.code == if s.code == base { instance } else { s.code } && c.version == s.version
    };
    let revision = copy.char_count == src.char_count
        && swapped(&copy.revision.from, &src.revision.from)
        && swapped(&copy.revision.to, &src.revision.to)
        && (copy.revision.upgrade_code == src.revision.upgrade_code
            || (upgrade.is_some() && copy.revision.upgrade_code == upgrade));
    if !revision {
        return None;
    }
    if copy.content.digest == src.content.digest {
        return Some(Vec::new());
    }
    rows_between(&src.content, &copy.content)
}

/// The row changes that make `src`'s content `copy`'s, when they are all
/// per-instance cells and nothing else differs: same streams, each with
/// the same bytes but the string pool and the decoded tables; same rows
/// (kind, mask, key), same values but per-instance cells. A content that
/// differs in bytes but in no row is not a copy: a copy with nothing
/// declared is byte-identical.
fn rows_between(src: &Content, copy: &Content) -> Option<Vec<Change>> {
    if src.streams.len() != copy.streams.len() || src.tables.len() != copy.tables.len() {
        return None;
    }
    let decoded: Vec<String> = src
        .tables
        .iter()
        .map(|(name, _)| streamname::encode(name, true))
        .collect();
    let pool = [
        streamname::encode("_StringPool", true),
        streamname::encode("_StringData", true),
    ];
    for (a, b) in src.streams.iter().zip(&copy.streams) {
        let same = a.name == b.name && a.len == b.len && a.digest == b.digest;
        if !same && (a.name != b.name || !(decoded.contains(&a.name) || pool.contains(&a.name))) {
            return None;
        }
    }
    let mut changes = Vec::new();
    for ((ta, ra), (tb, rb)) in src.tables.iter().zip(&copy.tables) {
        if ta != tb || ra.len() != rb.len() {
            return None;
        }
        for (a, b) in ra.iter().zip(rb) {
            changes.extend(row_changes(ta, a, b)?);
        }
    }
    if changes.is_empty() {
        return None;
    }
    changes.sort();
    Some(changes)
}

/// The per-instance cells that differ between two rows at the same place,
/// or `None` when anything else differs.
fn row_changes(table: &str, a: &RowOp, b: &RowOp) -> Option<Vec<Change>> {
    if a.kind != b.kind || a.mask != b.mask || a.key != b.key || a.columns.len() != b.columns.len()
    {
        return None;
    }
    let mut out = Vec::new();
    for ((ca, va), (cb, vb)) in a.columns.iter().zip(&b.columns) {
        if ca != cb {
            return None;
        }
        if va == vb {
            continue;
        }
        if !per_instance(table, ca) {
            return None;
        }
        out.push(Change::Cell {
            table: table.to_string(),
            key: a.key.clone(),
            row: a.kind,
            column: ca.clone(),
            old: Some(va.clone()),
            new: vb.clone(),
        });
    }
    Some(out)
}

//==========================================================================//
// Writing a copy

/// The bytes of the streams of a copy that are not its source's, by path
/// relative to the storage.
#[derive(Debug, Clone, Default)]
pub struct CopyStreams {
    streams: HashMap<PathBuf, Vec<u8>>,
}

impl CopyStreams {
    /// Takes the new bytes of the stream at `rel`, if it changes (for
    /// [`container::copy_storage`]'s `replace`).
    pub fn take(&mut self, rel: &Path) -> Option<Vec<u8>> {
        self.streams.remove(rel)
    }
}

/// What copying and verifying need of each source transform, read from
/// the input once however many copies are made of it: its summary
/// information, its decoded tables (when a copy declares rows), its
/// entries, and the bytes of its streams (up to [`SOURCE_BYTES_LIMIT`] in
/// all; longer ones are read again for each copy). A retarget to `n`
/// instances makes `n` copies of each source and verifies them all; the
/// input does not change while it is edited, so what was read stays true.
#[derive(Debug)]
pub struct Sources {
    by_name: HashMap<String, Source>,
    /// Bytes of stream content held, for the limit.
    held: u64,
    limit: u64,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources {
            by_name: HashMap::new(),
            held: 0,
            limit: SOURCE_BYTES_LIMIT,
        }
    }
}

#[derive(Debug, Default)]
struct Source {
    summary: Option<crate::format::propset::PropertySet>,
    editor: Option<TransformEditor>,
    /// Its entries, each with its path relative to the storage.
    entries: Option<std::rc::Rc<[(container::EntryMeta, PathBuf)]>>,
    /// Stream bytes by path; `None` for a stream past the limit.
    bytes: HashMap<PathBuf, Option<Vec<u8>>>,
}

/// How many bytes of source streams [`Sources`] holds at most.
pub const SOURCE_BYTES_LIMIT: u64 = 4 * 1024 * 1024;

impl Sources {
    /// Sources holding at most `limit` bytes of stream content.
    #[cfg(test)]
    pub(crate) fn with_limit(limit: u64) -> Sources {
        Sources {
            limit,
            ..Sources::default()
        }
    }

    fn source(&mut self, name: &str) -> &mut Source {
        self.by_name.entry(name.to_string()).or_default()
    }

    /// The summary information of a copy: the source transform's stream
    /// with only RevisionNumber changed.
    fn summary_after<S: container::Storage>(
        &mut self,
        cf: &mut S,
        copy: &CopyPlan,
    ) -> Result<Vec<u8>> {
        let source = self.source(&copy.source);
        if source.summary.is_none() {
            let dir = Path::new("/").join(&copy.source);
            source.summary =
                Some(read_summary(cf, &dir).at(container::storage_part(&copy.source))?);
        }
        let Some(mut set) = source.summary.clone() else {
            return Err(Error::verify("a source summary just read is not there"));
        };
        set.set_string(pid::REVISION_NUMBER, &copy.revision_after)
            .map_err(Error::from)
            .at(property_part(pid::REVISION_NUMBER))
            .at(container::storage_part(&copy.source))?;
        Ok(set.to_bytes())
    }

    /// The source transform `name` of `cf` loaded for row-level work, its
    /// per-instance tables decoded.
    fn editor<S: container::Storage>(
        &mut self,
        cf: &mut S,
        name: &str,
    ) -> Result<&TransformEditor> {
        let source = self.source(name);
        if source.editor.is_none() {
            source.editor = Some(load_editor(cf, &Path::new("/").join(name))?);
        }
        source
            .editor
            .as_ref()
            .ok_or_else(|| Error::verify("a source transform just loaded is not there"))
    }

    /// Every entry of the source storage `name` (itself first), each with
    /// its path relative to the storage (empty for the storage).
    fn entries<S: container::Storage>(
        &mut self,
        cf: &S,
        name: &str,
    ) -> Result<std::rc::Rc<[(container::EntryMeta, PathBuf)]>> {
        let source = self.source(name);
        if source.entries.is_none() {
            let dir = Path::new("/").join(name);
            let entries = container::walk(cf, &dir)?
                .into_iter()
                .map(|e| {
                    let rel = e.path.strip_prefix(&dir).unwrap_or(&e.path).to_path_buf();
                    (e, rel)
                })
                .collect();
            source.entries = Some(entries);
        }
        source
            .entries
            .clone()
            .ok_or_else(|| Error::verify("a source's entries just listed are not there"))
    }

    /// The bytes of the input's stream `path` (of `len` bytes) in the
    /// source `name`, read once; `None` when holding them would pass the
    /// limit. A stream that cannot be read is the input's fault.
    fn bytes(
        &mut self,
        input: &mut Patch,
        name: &str,
        path: &Path,
        len: u64,
    ) -> Result<Option<&[u8]>> {
        let fits = self.held.saturating_add(len) <= self.limit;
        let source = self.by_name.entry(name.to_string()).or_default();
        if !source.bytes.contains_key(path) {
            let bytes = if fits {
                let read = crate::edit::compare::read_input_stream(input, path, len)?;
                self.held += read.len() as u64;
                Some(read)
            } else {
                None
            };
            source.bytes.insert(path.to_path_buf(), bytes);
        }
        Ok(source.bytes.get(path).and_then(|b| b.as_deref()))
    }

    /// The bytes of the streams of the source `name` that fit in the
    /// limit, by path, each read once from `input`.
    pub fn stream_bytes(
        &mut self,
        input: &mut Patch,
        name: &str,
    ) -> Result<HashMap<PathBuf, Vec<u8>>> {
        let streams: Vec<(PathBuf, u64)> = self
            .entries(&input.cf, name)?
            .iter()
            .filter(|(e, _)| e.is_stream)
            .map(|(e, _)| (e.path.clone(), e.len))
            .collect();
        let mut out = HashMap::new();
        for (path, len) in streams {
            if let Some(bytes) = self.bytes(input, name, &path, len)? {
                out.insert(path, bytes.to_vec());
            }
        }
        Ok(out)
    }

    /// The bytes of every stream of `copy` that differ from its source's
    /// (read from `cf`): the summary information, and when rows are
    /// declared, the table streams and string pool the changes rewrite.
    /// Refuses a declaration the rule does not allow, or one that does not
    /// match the source (a row it lacks, another old value, a row that
    /// does not carry the column).
    pub fn streams_after<S: container::Storage>(
        &mut self,
        cf: &mut S,
        copy: &CopyPlan,
    ) -> Result<CopyStreams> {
        let mut streams = HashMap::new();
        streams.insert(PathBuf::from(SUMMARY_STREAM), self.summary_after(cf, copy)?);
        if copy.rows.is_empty() {
            return Ok(CopyStreams { streams });
        }
        let part = || container::storage_part(&copy.source);
        check_declared(&copy.rows).at(format!("copy {} of {}", copy.name, copy.source))?;
        let mut editor = self.editor(cf, &copy.source)?.clone();
        let mut made = Vec::new();
        for change in &copy.rows {
            let Change::Cell {
                table,
                key,
                column,
                new,
                ..
            } = change
            else {
                continue; // check_declared allows cells only
            };
            // A row that does not carry the column would grow: its mask
            // changes, which the rule does not allow.
            let rows = editor.rows(table).map_err(|e| e.at(part()))?;
            if rows
                .iter()
                .any(|r| r.kind != RowKind::Delete && &r.key == key && r.get(column).is_none())
            {
                return Err(Error::usage(format!(
                    "row {key:?} of table {table} does not carry {column}; a copy may only \
                     change a value the source's row carries"
                ))
                .at(part()));
            }
            made.extend(
                editor
                    .set_cell(table, key, column, new)
                    .map_err(|e| e.at(part()))?,
            );
        }
        made.sort();
        if made != sorted(&copy.rows) {
            return Err(Error::usage(format!(
                "the declared row changes of copy {} do not match its source {}: declared {:?}, \
                 the source's rows give {:?}",
                copy.name,
                copy.source,
                sorted(&copy.rows),
                made
            )));
        }
        let out = editor.finish().map_err(|e| e.at(part()))?;
        for (name, bytes) in out.streams() {
            streams.insert(PathBuf::from(name), bytes.to_vec());
        }
        Ok(CopyStreams { streams })
    }
}

/// Loads the transform `dir` of `cf` for row-level work, its per-instance
/// tables decoded.
fn load_editor<S: container::Storage>(cf: &mut S, dir: &Path) -> Result<TransformEditor> {
    TransformEditor::load(cf, dir, &Schema::per_instance())
}

//==========================================================================//
// Verifying a copy

/// What checking one copy counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyTally {
    /// Entries of the copy found (the storage and everything in it).
    pub entries: usize,
    /// Bytes of stream content compared.
    pub bytes_compared: u64,
}

/// Checks the copy `copy.name` of the result `out` against its source in
/// `input`: every entry of the source present with the same metadata;
/// every stream either the source's bytes or exactly the bytes of
/// [`Sources::streams_after`]; and, when rows are declared, decoding source and
/// copy row by row finds exactly the declared changes. Counting the
/// copy's entries (nothing more than the source's) is the caller's.
/// `sources` holds what was read of each source for the copies verified
/// before (the same for every copy of one input).
pub fn verify_copy<G, D: container::Storage>(
    input: &mut Patch,
    out: &mut Patch<G, D>,
    copy: &CopyPlan,
    sources: &mut Sources,
) -> Result<CopyTally> {
    use crate::edit::compare::{compare_streams, meta_matches, out_entry, stream_matches};
    let fail = Error::verify;
    let root = Path::new("/");
    let dst_dir = root.join(&copy.name);
    let mut expected = sources.streams_after(&mut input.cf, copy)?;
    let mut tally = CopyTally::default();
    let entries = sources.entries(&input.cf, &copy.source)?;
    for (e, rel) in entries.iter() {
        let rel = rel.as_path();
        let target = if rel.as_os_str().is_empty() {
            dst_dir.clone()
        } else {
            dst_dir.join(rel)
        };
        let o = out_entry(out, &target).ok_or_else(|| {
            fail(format!(
                "the copy {} lacks {}",
                copy.name,
                container::path_text(rel)
            ))
        })?;
        tally.entries += 1;
        if let Some(want) = expected.take(rel) {
            let limit = if rel == Path::new(SUMMARY_STREAM) {
                MAX_SUMMARY_LEN
            } else {
                MAX_TABLE_LEN.max(MAX_POOL_LEN).max(MAX_STRING_DATA_LEN)
            };
            let got = container::read_stream_bounded(&mut out.cf, &target, limit)?;
            if got != want {
                return Err(fail(if rel == Path::new(SUMMARY_STREAM) {
                    format!(
                        "the summary information of copy {} is not what the plan says",
                        copy.name
                    )
                } else {
                    format!(
                        "{} of copy {} is not what its declared row changes give",
                        container::stream_part(rel),
                        copy.name
                    )
                }));
            }
            tally.bytes_compared += got.len() as u64;
            continue;
        }
        if !meta_matches(e, &o) {
            return Err(fail(format!(
                "{} differs from its source in size, CLSID, state bits or timestamps",
                container::path_text(&target)
            )));
        }
        if e.is_stream {
            match sources.bytes(input, &copy.source, &e.path, e.len)? {
                Some(bytes) => stream_matches(bytes, &e.path, out, &target)?,
                None => compare_streams(input, &e.path, out, &target)?,
            }
            tally.bytes_compared += e.len;
        }
    }
    if let Some(rel) = expected.streams.keys().next() {
        return Err(fail(format!(
            "the copy {} has a new stream {} its source does not have",
            copy.name,
            container::path_text(rel)
        )));
    }
    if !copy.rows.is_empty() {
        let after = load_editor(&mut out.cf, &dst_dir)
            .map_err(|e| fail(format!("the copy {} does not decode: {e}", copy.name)))?;
        let before = sources.editor(&mut input.cf, &copy.source)?;
        let mut found = changes_between(before, &after)
            .map_err(|e| fail(format!("the copy {}: {e}", copy.name)))?;
        found.sort();
        if found != sorted(&copy.rows) {
            return Err(fail(format!(
                "the rows of copy {} differ from its source's in {found:?}; the plan declares \
                 {:?}",
                copy.name,
                sorted(&copy.rows)
            )));
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests;
