//! Row operations of a transform table stream: masks and values.

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
        let (row, next) = decode_row(table, bytes, pos, pool)
            .map_err(|reason| Error::format(reason).at(format!("row at offset {pos}")))?;
        rows.push(row);
        pos = next;
    }
    Ok(rows)
}

/// Decodes the row at `pos`; returns it and the offset after it.
fn decode_row(
    table: &TableDef,
    bytes: &[u8],
    pos: usize,
    pool: &StringPool,
) -> std::result::Result<(RowOp, usize), String> {
    let ncols = table.columns.len();
    let mask_bytes = bytes.get(pos..pos + 2).ok_or_else(|| {
        format!(
            "truncated row: 1 byte left where a 2-byte row mask should be (stream is {} bytes)",
            bytes.len()
        )
    })?;
    let mask = le(mask_bytes) as u16;
    let (kind, present): (RowKind, Vec<bool>) = if mask & 1 == 1 {
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
        (RowKind::Insert, (0..ncols).map(|i| i < count).collect())
    } else {
        if ncols < 16 && mask >> ncols != 0 {
            return Err(format!(
                "row mask 0x{mask:04X} flags column {} but table {} has {ncols} columns",
                16 - mask.leading_zeros(),
                table.name
            ));
        }
        let kind = if mask == 0 {
            RowKind::Delete
        } else {
            RowKind::Update
        };
        let present = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| c.key || (i < 16 && mask & (1 << i) != 0))
            .collect();
        (kind, present)
    };
    if let Some(missing) = table
        .columns
        .iter()
        .zip(&present)
        .find(|(c, p)| c.key && !**p)
    {
        return Err(format!(
            "row mask 0x{mask:04X} leaves out key column {} of table {}",
            missing.0.name, table.name
        ));
    }
    let long = pool.long_refs();
    let needed: usize = table
        .columns
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(c, _)| c.kind.width(long))
        .sum();
    let start = pos + 2;
    let left = bytes.len() - start;
    if left < needed {
        return Err(format!(
            "truncated row: mask 0x{mask:04X} calls for {needed} bytes of values, \
             {left} left in the stream"
        ));
    }
    let mut at = start;
    let mut key = Vec::new();
    let mut columns = Vec::new();
    let mut has_stream = false;
    for (col, _) in table.columns.iter().zip(&present).filter(|(_, p)| **p) {
        let width = col.kind.width(long);
        let raw = bytes
            .get(at..at + width)
            .map(le)
            .ok_or_else(|| "internal: row bounds".to_string())?;
        at += width;
        let value = match col.kind {
            _ if raw == 0 => Value::Null,
            ColumnKind::Int16 => Value::Int(raw as i32 - 0x8000),
            ColumnKind::Int32 => Value::Int((raw ^ 0x8000_0000) as i32),
            ColumnKind::String => match pool.get(raw) {
                Ok(s) => Value::Str(s.unwrap_or_default().to_string()),
                Err(e) => return Err(format!("column {}: {e}", col.name)),
            },
            ColumnKind::Stream => {
                has_stream = true;
                Value::Stream(String::new())
            }
        };
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
    Ok((
        RowOp {
            kind,
            mask,
            offset: pos,
            key,
            columns,
        },
        at,
    ))
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
