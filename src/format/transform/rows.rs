//! The row format of transform table streams (masks, the stored form of a
//! row, typed row operations) and the cell codec that database tables
//! share (a cell's width, its stored number, its value).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::{ColumnKind, StringPool, TableDef, le};

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Null (stored as 0).
    Null,
    /// An integer.
    Int(i32),
    /// A string.
    Str(String),
    /// Binary data: the name (unpacked) of the stream in the transform
    /// storage that holds it, `Table.Key1.Key2…`.
    Stream(String),
}

impl Value {
    /// The string, for string values.
    #[cfg(any(test, feature = "testkit"))]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Stream(s) => write!(f, "[stream {s}]"),
        }
    }
}

/// What a row operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// Odd mask: add the row, or replace the row with the same key.
    Insert,
    /// Even non-zero mask: change the flagged columns of the row.
    Update,
    /// Mask 0: delete the row with this key.
    Delete,
}

/// One row operation of a transform table stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowOp {
    /// Insert, update or delete.
    pub kind: RowKind,
    /// The mask as stored.
    pub mask: u16,
    /// Byte offset of the row in its table stream.
    pub offset: usize,
    /// The key column values, in column order.
    pub key: Vec<Value>,
    /// The non-key columns present in the row, in column order.
    pub columns: Vec<(String, Value)>,
}

impl RowOp {
    /// The value of non-key column `name`, when the row carries it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Decodes the rows of one transform table stream against `table`.
/// Errors name the byte offset of the failing row; the caller adds the
/// stream and storage.
pub fn decode_rows(table: &TableDef, bytes: &[u8], pool: &StringPool) -> Result<Vec<RowOp>> {
    let mut rows = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (raw, next) = decode_raw_row(table, bytes, pos, pool.long_refs())?;
        rows.push(raw.typed(table, pos, pool)?);
        pos = next;
    }
    Ok(rows)
}

//==========================================================================//
// Raw rows: the stored form, shared by the reader and the editors

/// One row of a transform table stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// The mask as stored.
    pub mask: u16,
    /// Per column of the table: the raw stored number, or `None` when the
    /// row does not carry the column.
    pub cells: Vec<Option<u32>>,
}

impl RawRow {
    /// What the row does.
    pub fn kind(&self) -> RowKind {
        kind_of(self.mask)
    }

    /// The row's values, strings looked up in `pool`, as the row at byte
    /// `offset` of `table`'s stream. Errors name the row's offset.
    pub fn typed(&self, table: &TableDef, offset: usize, pool: &impl Strings) -> Result<RowOp> {
        let mut key = Vec::new();
        let mut columns = Vec::new();
        let mut has_stream = false;
        for (col, cell) in table.columns.iter().zip(&self.cells) {
            let Some(raw) = cell else { continue };
            let value = value_of(col.kind, *raw, pool).map_err(|r| {
                Error::format(format!("column {}: {r}", col.name))
                    .at(format!("row at offset {offset}"))
            })?;
            has_stream |= matches!(value, Value::Stream(_));
            if col.key {
                key.push(value);
            } else {
                columns.push((col.name.clone(), value));
            }
        }
        if has_stream {
            let name = stream_name(&table.name, &key);
            for (_, v) in &mut columns {
                if let Value::Stream(s) = v {
                    s.clone_from(&name);
                }
            }
        }
        Ok(RowOp {
            kind: self.kind(),
            mask: self.mask,
            offset,
            key,
            columns,
        })
    }
}

/// What a row with `mask` does.
pub(super) fn kind_of(mask: u16) -> RowKind {
    match mask {
        0 => RowKind::Delete,
        m if m & 1 == 1 => RowKind::Insert,
        _ => RowKind::Update,
    }
}

/// The columns a mask carries, checked against `table`: an insert mask
/// has only bit 0 in its low byte and counts at most the table's columns;
/// an update or delete flags only existing columns; key columns are always
/// carried.
pub fn present_columns(table: &TableDef, mask: u16) -> std::result::Result<Vec<bool>, String> {
    let ncols = table.columns.len();
    let present: Vec<bool> = if mask & 1 == 1 {
        if mask & 0x00FE != 0 {
            return Err(format!(
                "row mask 0x{mask:04X}: an insert mask has only bit 0 set in its low byte"
            ));
        }
        let count = usize::from(mask >> 8);
        if count > ncols {
            return Err(format!(
                "row mask 0x{mask:04X} inserts {count} columns but table {} has {ncols}",
                table.name
            ));
        }
        (0..ncols).map(|i| i < count).collect()
    } else {
        if ncols < 16 && mask >> ncols != 0 {
            return Err(format!(
                "row mask 0x{mask:04X} flags column {} but table {} has {ncols} columns",
                16 - mask.leading_zeros(),
                table.name
            ));
        }
        table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| c.key || (i < 16 && mask & (1 << i) != 0))
            .collect()
    };
    if let Some(c) = table
        .columns
        .iter()
        .zip(&present)
        .find(|(c, p)| c.key && !**p)
    {
        return Err(format!(
            "row mask 0x{mask:04X} leaves out key column {} of table {}",
            c.0.name, table.name
        ));
    }
    Ok(present)
}

/// Decodes a table stream into raw rows. Errors name the row's offset.
pub fn decode_raw_rows(table: &TableDef, bytes: &[u8], long_refs: bool) -> Result<Vec<RawRow>> {
    let mut rows = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (row, next) = decode_raw_row(table, bytes, pos, long_refs)?;
        rows.push(row);
        pos = next;
    }
    Ok(rows)
}

/// Decodes the row at `pos` (`pos < bytes.len()`); returns it and the
/// offset after it. Errors name the row's offset.
fn decode_raw_row(
    table: &TableDef,
    bytes: &[u8],
    pos: usize,
    long_refs: bool,
) -> Result<(RawRow, usize)> {
    let at_row = |r: String| Error::format(r).at(format!("row at offset {pos}"));
    let mask = bytes.get(pos..pos + 2).map(le).ok_or_else(|| {
        at_row(format!(
            "truncated row: 1 byte left where a 2-byte row mask should be (stream is {} bytes)",
            bytes.len()
        ))
    })? as u16;
    let present = present_columns(table, mask).map_err(at_row)?;
    let needed: usize = table
        .columns
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(c, _)| c.kind.width(long_refs))
        .sum();
    let mut at = pos + 2;
    let left = bytes.len() - at;
    if left < needed {
        return Err(at_row(format!(
            "truncated row: mask 0x{mask:04X} calls for {needed} bytes of values, {left} left \
             in the stream"
        )));
    }
    let mut cells = Vec::with_capacity(table.columns.len());
    for (col, p) in table.columns.iter().zip(&present) {
        if !*p {
            cells.push(None);
            continue;
        }
        let width = col.kind.width(long_refs);
        cells.push(Some(read_cell(bytes, at, width)));
        at += width;
    }
    Ok((RawRow { mask, cells }, at))
}

/// Encodes raw rows into a table stream; refuses rows whose cells do not
/// match what their mask carries, or values wider than their column.
pub fn encode_raw_rows(table: &TableDef, rows: &[RawRow], long_refs: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let at_row = |r: String| Error::format(r).at(format!("row {n} of table {}", table.name));
        let present = present_columns(table, row.mask).map_err(at_row)?;
        if row.cells.len() != table.columns.len() {
            return Err(at_row(format!(
                "the row has {} cells, the table {} columns",
                row.cells.len(),
                table.columns.len()
            )));
        }
        out.extend_from_slice(&row.mask.to_le_bytes());
        for ((col, p), cell) in table.columns.iter().zip(&present).zip(&row.cells) {
            match (p, cell) {
                (true, Some(raw)) => write_cell(&mut out, *raw, col.kind.width(long_refs))
                    .map_err(|r| at_row(format!("column {}: {r}", col.name)))?,
                (false, None) => {}
                (true, None) => {
                    return Err(at_row(format!(
                        "mask 0x{:04X} carries column {} but the row has no value for it",
                        row.mask, col.name
                    )));
                }
                (false, Some(_)) => {
                    return Err(at_row(format!(
                        "the row has a value for column {} but mask 0x{:04X} does not carry it",
                        col.name, row.mask
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// The string ids the rows point at (null excluded).
pub fn string_ids<'a>(table: &'a TableDef, rows: &'a [RawRow]) -> impl Iterator<Item = u32> + 'a {
    rows.iter().flat_map(move |row| {
        table
            .columns
            .iter()
            .zip(&row.cells)
            .filter(|(c, _)| c.kind == ColumnKind::String)
            .filter_map(|(_, cell)| cell.filter(|id| *id != 0))
    })
}

//==========================================================================//
// Cells: one stored value, the same in transform rows and database columns

/// The cell of `width` bytes at `at` (0 when the bytes are not there; the
/// callers have checked they are).
pub(super) fn read_cell(bytes: &[u8], at: usize, width: usize) -> u32 {
    at.checked_add(width)
        .and_then(|end| bytes.get(at..end))
        .map_or(0, le)
}

/// Appends the cell `raw` in `width` bytes; refuses a value that does not
/// fit.
pub(super) fn write_cell(
    out: &mut Vec<u8>,
    raw: u32,
    width: usize,
) -> std::result::Result<(), String> {
    if width < 4 && raw >> (8 * width) != 0 {
        return Err(format!("{raw} does not fit in {width} bytes"));
    }
    out.extend_from_slice(raw.to_le_bytes().get(..width).unwrap_or_default());
    Ok(())
}

/// What a string cell needs of a pool: the string of an id.
pub trait Strings {
    /// The string with id `id` (counting from 1); `None` for id 0 (null);
    /// an error for an id past the pool.
    fn string(&self, id: u32) -> std::result::Result<Option<String>, String>;
}

impl Strings for StringPool {
    fn string(&self, id: u32) -> std::result::Result<Option<String>, String> {
        self.get(id).map(|s| s.map(str::to_owned))
    }
}

/// The value a raw cell of `kind` holds (strings looked up in `pool`;
/// streams named after the row key by the caller).
pub fn value_of(
    kind: ColumnKind,
    raw: u32,
    pool: &impl Strings,
) -> std::result::Result<Value, String> {
    Ok(match kind {
        _ if raw == 0 => Value::Null,
        ColumnKind::Int16 => Value::Int(raw as i32 - 0x8000),
        ColumnKind::Int32 => Value::Int((raw ^ 0x8000_0000) as i32),
        ColumnKind::String => Value::Str(pool.string(raw)?.unwrap_or_default()),
        ColumnKind::Stream => Value::Stream(String::new()),
    })
}

/// The raw number of a non-string value in a column of `kind` (strings go
/// through the pool, see [`super::write::PoolEditor::add_ref`]). Refuses
/// values the column cannot hold: 16-bit integers are stored `+ 0x8000`
/// and 32-bit ones `^ 0x80000000`, 0 being null, so −32,768 and −2³¹ have
/// no form.
pub fn raw_number(kind: ColumnKind, value: &Value) -> std::result::Result<u32, String> {
    match (kind, value) {
        (_, Value::Null) => Ok(0),
        (ColumnKind::Int16, Value::Int(i)) if (-0x7FFF..=0x7FFF).contains(i) => {
            Ok((*i + 0x8000) as u32)
        }
        (ColumnKind::Int16, Value::Int(i)) => Err(format!(
            "{i} does not fit a 16-bit column (-32767 to 32767; -32768 is null)"
        )),
        (ColumnKind::Int32, Value::Int(i)) if *i != i32::MIN => Ok((*i as u32) ^ 0x8000_0000),
        (ColumnKind::Int32, Value::Int(i)) => Err(format!(
            "{i} is the null of a 32-bit column and cannot be stored"
        )),
        (ColumnKind::Stream, Value::Stream(_)) => Ok(1),
        (kind, v) => Err(format!("{v} cannot be stored in a {kind:?} column")),
    }
}

/// The (unpacked) name of the stream holding a binary value of the row
/// with `key` in `table`: the table name and the key values joined by `.`.
pub fn stream_name(table: &str, key: &[Value]) -> String {
    let mut name = table.to_string();
    for v in key {
        name.push('.');
        match v {
            Value::Null => {}
            Value::Int(i) => name.push_str(&i.to_string()),
            Value::Str(s) | Value::Stream(s) => name.push_str(s),
        }
    }
    name
}
