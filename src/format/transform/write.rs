//! Writing transforms: an editable string pool, typed rows encoded through
//! it, and the masks of new rows. The row format itself (masks, raw rows,
//! cells) is the reader's, in [`super::rows`].
//!
//! Written by hand for the same reason as the reader: no maintained crate
//! reads or writes transforms (the `msi` crate writes databases, whose
//! tables are stored column by column, and cannot open a transform).
//!
//! # What it keeps
//!
//! Edits must leave everything they do not mean to change as it was, so
//! both layers here keep the stored form, not just the meaning:
//!
//! * [`PoolEditor`] keeps every pool entry as stored: the string's bytes in
//!   the pool's code page (never decoded and re-encoded), its reference
//!   count and whether it used the long-length form. A pool nobody edits
//!   is written back byte for byte.
//! * [`RawRow`] keeps a row as stored: its mask and, per column, the raw
//!   number (string id, biased integer, stream marker) or absence.
//!   [`encode_raw_rows`] of [`decode_raw_rows`] is the identity.
//!
//! # Reference counts and free entries
//!
//! Each pool entry holds a 16-bit reference count: the cells of the
//! storage's own table streams that point at the string. That is what
//! `msi.dll` writes: in every transform and database of the corpus (built
//! by WiX through `msi.dll`; 14 transforms, 9 databases) each stored count
//! equals those cells exactly (corpus suite `tests/corpus/transform_write.rs`).
//! Wine's `dlls/msi/string.c` loads that field as the string's persistent
//! count, treats an id whose counts are zero as free (`st_find_free_entry`
//! reuses it for the next new string) and, when saving, writes an
//! unreferenced id as the empty entry `(0, 0)` with no bytes in
//! `_StringData` (`msi_save_string_table`). The editor follows that, more
//! cautiously:
//!
//! * re-pointing a cell adds one to the new string's count and takes one
//!   from the old string's; a string whose text is already in the pool
//!   (with a count below 65,535) is shared, never duplicated;
//! * a string is never rewritten in place: a new value always gets its own
//!   (or a shared) id, so other cells pointing at the old string keep it;
//! * the editor counts the references it actually sees in the table
//!   streams ([`PoolEditor::observe`]). A count is never lowered below the
//!   references seen, an entry is emptied to `(0, 0)` only when both reach
//!   zero, and an empty `(0, 0)` entry that no cell points at is the only
//!   slot reused for a new string. When some table stream could not be
//!   decoded, nothing is known about its references: then no slot is
//!   reused, no count drops below 1 and no entry is emptied.
//!
//! # Two- and three-byte references
//!
//! String references take 2 bytes, or 3 when bit 31 of the pool header is
//! set (Wine's `msi_load_string_table` reads the flag that way; `libmsi`
//! and the `msi` crate set it once ids pass 65,535). A new string that
//! needs id 65,536 in a pool without the flag sets it, and every table
//! stream that holds string columns must then be written again with
//! 3-byte references; [`PoolEditor::long_refs_changed`] tells the caller
//! (see [`super::edit`], which does that re-encoding or refuses when a
//! table stream cannot be decoded). Ids past 2²⁴ − 1 are refused.
//!
//! # Bounds
//!
//! Parsing follows the reader's rules (every length checked against the
//! bytes present); nothing is allocated from an unchecked count.

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};

use super::pool::{PoolHeader, out_of_range, walk};
use super::rows::{
    RawRow, Strings, encode_raw_rows, kind_of, present_columns, raw_number, string_ids,
};
use super::{ColumnKind, RowOp, STRING_POOL, StringPool, TableDef, Value, table_part};

/// The largest string id a 2-byte reference can hold.
pub const MAX_SHORT_ID: u32 = 0xFFFF;
/// The largest string id a 3-byte reference can hold.
pub const MAX_LONG_ID: u32 = 0xFF_FFFF;

//==========================================================================//
// The editable pool

/// One string id of the pool, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The string's bytes in the pool's code page (empty for a free id).
    bytes: Vec<u8>,
    /// The stored reference count.
    refs: u16,
    /// Stored as `(0, refs)` followed by a 32-bit length.
    long_form: bool,
}

/// A transform's string pool that can be edited and written back.
#[derive(Debug, Clone)]
pub struct PoolEditor {
    code_page: u32,
    codec: msi::CodePage,
    long_refs: bool,
    long_refs_at_start: bool,
    entries: Vec<Entry>,
    /// Live strings by bytes: the id new references share.
    index: HashMap<Vec<u8>, u32>,
    /// References seen in the table streams, per id (index 0 unused);
    /// `None` when some stream could not be decoded.
    seen: Option<Vec<u32>>,
    /// Empty entries nothing points at: the slots new strings may take
    /// (kept only while `seen` is known).
    free: BTreeSet<u32>,
    changed: bool,
}

impl PoolEditor {
    /// Parses `_StringPool` (`pool`) and `_StringData` (`data`), keeping
    /// every entry as stored. Refuses a `_StringData` with bytes that no
    /// entry accounts for: appending after them would shift every later
    /// string. Errors are bare reasons; the caller names the storage.
    pub fn parse(pool: &[u8], data: &[u8]) -> Result<PoolEditor> {
        PoolEditor::parse_inner(pool, data).map_err(|e| e.at(table_part(STRING_POOL)))
    }

    fn parse_inner(pool: &[u8], data: &[u8]) -> Result<PoolEditor> {
        let (header, entries) = walk(pool, data.len() as u64)?;
        let mut editor = PoolEditor::empty(header)?;
        let mut at = 0;
        for entry in entries {
            let entry = entry?;
            at = entry.data.end;
            editor.entries.push(Entry {
                bytes: data.get(entry.data).unwrap_or_default().to_vec(),
                refs: entry.refs,
                long_form: entry.long_form,
            });
        }
        if at != data.len() {
            return Err(Error::format(format!(
                "_StringData has {} bytes after the last string of _StringPool; \
                 a pool with unaccounted bytes cannot be edited safely",
                data.len() - at
            )));
        }
        editor.reindex();
        Ok(editor)
    }

    /// An empty pool in `code_page` (0: neutral), for a new transform.
    pub fn new(code_page: u32) -> Result<PoolEditor> {
        let mut editor = PoolEditor::empty(PoolHeader {
            long_refs: false,
            ..PoolHeader::from_bits(code_page)
        })?;
        editor.seen = Some(vec![0]);
        Ok(editor)
    }

    fn empty(header: PoolHeader) -> Result<PoolEditor> {
        Ok(PoolEditor {
            code_page: header.code_page,
            codec: header.codec()?,
            long_refs: header.long_refs,
            long_refs_at_start: header.long_refs,
            entries: Vec::new(),
            index: HashMap::new(),
            seen: None,
            free: BTreeSet::new(),
            changed: false,
        })
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate().rev() {
            if e.refs > 0 && !e.bytes.is_empty() {
                self.index.insert(e.bytes.clone(), i as u32 + 1);
            }
        }
    }

    /// The code page of the strings (0: neutral).
    pub fn code_page(&self) -> u32 {
        self.code_page
    }

    /// Whether string references take 3 bytes.
    pub fn long_refs(&self) -> bool {
        self.long_refs
    }

    /// Whether an edit switched the pool from 2- to 3-byte references:
    /// every table stream with string columns must be written again.
    pub fn long_refs_changed(&self) -> bool {
        self.long_refs != self.long_refs_at_start
    }

    /// Whether anything was edited.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The number of string ids (free ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool has no ids.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The stored reference count of `id` (0 for id 0 and unknown ids).
    pub fn refcount(&self, id: u32) -> u16 {
        self.entry(id).map_or(0, |e| e.refs)
    }

    fn entry(&self, id: u32) -> Option<&Entry> {
        (id as usize)
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
    }

    /// The string with id `id`, decoded; `None` for id 0 (null).
    pub fn get(&self, id: u32) -> std::result::Result<Option<String>, String> {
        if id == 0 {
            return Ok(None);
        }
        self.entry(id)
            .map(|e| Some(self.codec.decode(&e.bytes)))
            .ok_or_else(|| out_of_range(id, self.entries.len()))
    }

    /// The id of a live string with exactly this text, if any.
    pub fn find(&self, text: &str) -> Option<u32> {
        self.index.get(&self.codec.encode(text)).copied()
    }

    /// The pool as the reader's [`StringPool`], to decode rows with.
    pub fn to_string_pool(&self) -> StringPool {
        let strings = self
            .entries
            .iter()
            .map(|e| self.codec.decode(&e.bytes))
            .collect();
        StringPool::from_strings(strings, self.long_refs)
    }

    /// Records the references of decoded rows, so that counts and free
    /// entries can be judged against what the table streams hold; call it
    /// once, with every table stream, before editing. `complete` is false
    /// when some table stream of the storage could not be decoded: the
    /// editor then never reuses a slot nor empties an entry.
    pub fn observe<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (&'a TableDef, &'a [RawRow])>,
        complete: bool,
    ) {
        self.free.clear();
        if !complete {
            self.seen = None;
            return;
        }
        let mut seen = vec![0u32; self.entries.len() + 1];
        for (def, rows) in rows {
            for id in string_ids(def, rows) {
                if let Some(n) = seen.get_mut(id as usize) {
                    *n = n.saturating_add(1);
                }
            }
        }
        for (i, e) in self.entries.iter().enumerate() {
            let id = i as u32 + 1;
            if e.refs == 0 && e.bytes.is_empty() && seen.get(id as usize) == Some(&0) {
                self.free.insert(id);
            }
        }
        self.seen = Some(seen);
    }

    /// The cells of the table streams that point at `id`, as observed and
    /// kept up to date by edits; `None` when some stream could not be
    /// decoded.
    pub fn seen_refs(&self, id: u32) -> Option<u32> {
        self.seen
            .as_ref()
            .map(|s| s.get(id as usize).copied().unwrap_or(0))
    }

    /// Adds one reference to `text` and returns its id: the id of the same
    /// live string when there is one, else a free entry that nothing points
    /// at, else a new id at the end. The empty string is null (id 0), as
    /// in Windows Installer. Refuses text the code page cannot hold and
    /// pools past 2²⁴ − 1 ids.
    pub fn add_ref(&mut self, text: &str) -> Result<u32> {
        if text.is_empty() {
            return Ok(0);
        }
        let bytes = self.codec.encode(text);
        if self.codec.decode(&bytes) != text {
            return Err(Error::format(format!(
                "{text:?} cannot be written in the string pool's code page {}",
                self.code_page
            )));
        }
        self.changed = true;
        if let Some(&id) = self.index.get(&bytes)
            && let Some(e) = self.entries.get_mut(id as usize - 1)
            && e.refs < u16::MAX
        {
            e.refs += 1;
            self.bump_seen(id);
            return Ok(id);
        }
        let id = match self.free_slot() {
            Some(id) => id,
            None => {
                let id = u32::try_from(self.entries.len() + 1).unwrap_or(u32::MAX);
                if id > MAX_LONG_ID {
                    return Err(Error::format(format!(
                        "the string pool would need string id {id}; 3-byte references stop \
                         at {MAX_LONG_ID}"
                    )));
                }
                if id > MAX_SHORT_ID {
                    self.long_refs = true;
                }
                self.entries.push(Entry {
                    bytes: Vec::new(),
                    refs: 0,
                    long_form: false,
                });
                if let Some(seen) = &mut self.seen {
                    seen.push(0);
                }
                id
            }
        };
        let long_form = bytes.len() > 0xFFFF;
        if let Some(e) = self.entries.get_mut(id as usize - 1) {
            *e = Entry {
                bytes: bytes.clone(),
                refs: 1,
                long_form,
            };
        }
        self.index.insert(bytes, id);
        self.bump_seen(id);
        Ok(id)
    }

    fn bump_seen(&mut self, id: u32) {
        if let Some(n) = self.seen.as_mut().and_then(|s| s.get_mut(id as usize)) {
            *n = n.saturating_add(1);
        }
    }

    /// The lowest free entry nothing points at, when that is known.
    fn free_slot(&mut self) -> Option<u32> {
        self.seen.as_ref()?;
        self.free.pop_first()
    }

    /// Takes one reference away from `id` (id 0, null, has none). The count
    /// never drops below the references still seen (below 1 when they are
    /// unknown); an entry left with no count and no reference is emptied
    /// to `(0, 0)`, as Windows Installer and Wine write unused ids.
    pub fn release(&mut self, id: u32) -> Result<()> {
        if id == 0 {
            return Ok(());
        }
        let Some(index) = (id as usize).checked_sub(1) else {
            return Ok(());
        };
        if index >= self.entries.len() {
            return Err(Error::format(format!(
                "string id {id} is out of range: the transform's string pool has {} strings",
                self.entries.len()
            )));
        }
        self.changed = true;
        let still_seen = match self.seen.as_mut().and_then(|s| s.get_mut(id as usize)) {
            Some(n) => {
                *n = n.saturating_sub(1);
                Some(*n)
            }
            None => None,
        };
        let floor = match still_seen {
            Some(n) => u16::try_from(n).unwrap_or(u16::MAX),
            None => 1,
        };
        let Some(e) = self.entries.get_mut(index) else {
            return Ok(());
        };
        e.refs = e.refs.saturating_sub(1).max(floor.min(e.refs));
        if e.refs == 0 && still_seen == Some(0) {
            let bytes = std::mem::take(&mut e.bytes);
            e.long_form = false;
            // A duplicate of the text elsewhere in the pool is not looked
            // for: a later reference to the text gets a new id, which is
            // harmless, where a search would cost the whole pool.
            if self.index.get(&bytes) == Some(&id) {
                self.index.remove(&bytes);
            }
            self.free.insert(id);
        }
        Ok(())
    }

    /// The `_StringPool` and `_StringData` streams. Entries nobody edited
    /// are written exactly as they were read.
    pub fn to_streams(&self) -> (Vec<u8>, Vec<u8>) {
        let header = PoolHeader {
            code_page: self.code_page,
            long_refs: self.long_refs,
        }
        .to_bits();
        let mut pool = Vec::with_capacity(4 + 4 * self.entries.len());
        pool.extend_from_slice(&header.to_le_bytes());
        let mut data = Vec::new();
        for e in &self.entries {
            let len = e.bytes.len();
            if e.long_form || len > 0xFFFF {
                pool.extend_from_slice(&0u16.to_le_bytes());
                pool.extend_from_slice(&e.refs.max(1).to_le_bytes());
                pool.extend_from_slice(&(len as u32).to_le_bytes());
            } else {
                pool.extend_from_slice(&(len as u16).to_le_bytes());
                pool.extend_from_slice(&e.refs.to_le_bytes());
            }
            data.extend_from_slice(&e.bytes);
        }
        (pool, data)
    }
}

impl Strings for PoolEditor {
    fn string(&self, id: u32) -> std::result::Result<Option<String>, String> {
        self.get(id)
    }
}

//==========================================================================//
// Typed rows

/// Encodes typed rows into a table stream, adding their strings to `pool`.
/// Each row's mask decides which columns it carries; its key and columns
/// must be exactly those. The inverse of the reader's
/// [`super::decode_rows`] (offsets aside, which decoding recomputes).
pub fn encode_rows(table: &TableDef, rows: &[RowOp], pool: &mut PoolEditor) -> Result<Vec<u8>> {
    let mut raw_rows = Vec::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let raw = raw_row(table, row, pool)
            .map_err(|r| Error::format(r).at(format!("row {n} of table {}", table.name)))?;
        raw_rows.push(raw);
    }
    encode_raw_rows(table, &raw_rows, pool.long_refs())
}

/// One typed row as a raw row, adding its strings to `pool`.
fn raw_row(
    table: &TableDef,
    row: &RowOp,
    pool: &mut PoolEditor,
) -> std::result::Result<RawRow, String> {
    let present = present_columns(table, row.mask)?;
    if kind_of(row.mask) != row.kind {
        return Err(format!(
            "mask 0x{:04X} does not say {:?}",
            row.mask, row.kind
        ));
    }
    let mut keys = row.key.iter();
    let mut others = row.columns.iter();
    let mut cells = Vec::with_capacity(table.columns.len());
    for (col, p) in table.columns.iter().zip(&present) {
        if !*p {
            cells.push(None);
            continue;
        }
        let value = if col.key {
            keys.next()
        } else {
            match others.next() {
                Some((name, v)) if *name == col.name => Some(v),
                Some((name, _)) => {
                    return Err(format!(
                        "column {} is carried by mask 0x{:04X} but the row names {name} there",
                        col.name, row.mask
                    ));
                }
                None => None,
            }
        };
        let value = value.ok_or_else(|| {
            format!(
                "mask 0x{:04X} carries column {} but the row has no value for it",
                row.mask, col.name
            )
        })?;
        let raw = match (col.kind, value) {
            (ColumnKind::String, Value::Str(s)) => pool.add_ref(s).map_err(|e| e.to_string())?,
            (kind, v) => raw_number(kind, v).map_err(|e| format!("column {}: {e}", col.name))?,
        };
        cells.push(Some(raw));
    }
    if keys.next().is_some() || others.next().is_some() {
        return Err(format!(
            "the row has more values than mask 0x{:04X} carries",
            row.mask
        ));
    }
    Ok(RawRow {
        mask: row.mask,
        cells,
    })
}

//==========================================================================//
// Masks for new rows

/// The mask of an insert of the first `count` columns.
pub fn insert_mask(count: usize) -> std::result::Result<u16, String> {
    u8::try_from(count)
        .map(|c| (u16::from(c) << 8) | 1)
        .map_err(|_| format!("an insert carries at most 255 columns, not {count}"))
}

/// The mask of an update of the columns at `indexes` (key columns need no
/// bit). Only columns 1–15 can be flagged in a 16-bit mask.
pub fn update_mask(
    table: &TableDef,
    indexes: impl IntoIterator<Item = usize>,
) -> std::result::Result<u16, String> {
    let mut mask = 0u16;
    for i in indexes {
        let col = table
            .columns
            .get(i)
            .ok_or_else(|| format!("table {} has no column {i}", table.name))?;
        if col.key {
            continue;
        }
        if i == 0 || i >= 16 {
            return Err(format!(
                "column {} (number {}) of table {} cannot be flagged in a 16-bit update mask",
                col.name,
                i + 1,
                table.name
            ));
        }
        mask |= 1 << i;
    }
    if mask == 0 {
        return Err(format!(
            "an update of table {} must change at least one non-key column",
            table.name
        ));
    }
    Ok(mask)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
pub(crate) mod tests;
