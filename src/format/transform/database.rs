//! Database tables — a patch's own `MsiPatchSequence`, a product's tables —
//! decoded, edited and written back with the same byte-faithfulness as
//! transforms, sharing their string pool format ([`PoolEditor`]).
//!
//! Written by hand for the reason the transform writer is: the `msi` crate
//! rewrites a whole database when it saves (every table and the pool in
//! its own layout), where an edit here must leave every byte it does not
//! mean to change as it was.
//!
//! # The format
//!
//! A database table stream holds its rows **column by column**: the first
//! column's value of every row, then the second column's, and so on, each
//! value as wide as in a transform (string reference 2 or 3 bytes, 16-bit
//! integer `+ 0x8000`, 32-bit integer `^ 0x80000000`, 0 null, binary
//! columns 2 bytes). There is no row count: it is the stream length divided
//! by the width of a row, which must divide it exactly. `_Tables` and
//! `_Columns` are themselves such tables, and reference strings of the
//! same pool (msp-format §g; Wine's `read_table_from_storage`).
//!
//! Rows are kept sorted by the raw stored values of their key columns
//! (string ids, biased integers), the order Wine's and libmsi's
//! `find_insert_index` keep and the `msi` crate's writer sorts into; every
//! database in the corpus is in that order (see the corpus suite). An
//! inserted row goes where that order puts it.
//!
//! Tables the edit does not touch keep their bytes; when the pool passes
//! 65,535 strings every table with string columns is written again with
//! 3-byte references (refused when a table stream cannot be decoded).

use std::cmp::Ordering;

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::format::container;
use crate::format::streamname;

use super::edit::{Change, EditOutput};
use super::rows::{RawRow, raw_number, read_cell, value_of, write_cell};
use super::write::PoolEditor;
use super::{
    COLUMNS, ColumnKind, MAX_POOL_LEN, MAX_STRING_DATA_LEN, MAX_TABLE_LEN, RowKind, STRING_DATA,
    STRING_POOL, Schema, TABLES, TableDef, Value, columns_table, table_part, tables_table,
};

/// Decodes a database table stream into rows of raw values, every column
/// present.
pub fn decode_db_rows(table: &TableDef, bytes: &[u8], long_refs: bool) -> Result<Vec<Vec<u32>>> {
    let widths: Vec<usize> = table
        .columns
        .iter()
        .map(|c| c.kind.width(long_refs))
        .collect();
    let row_width: usize = widths.iter().sum();
    if row_width == 0 {
        return Err(Error::format(format!(
            "table {} has no columns",
            table.name
        )));
    }
    if !bytes.len().is_multiple_of(row_width) {
        return Err(Error::format(format!(
            "is {} bytes long, not a whole number of {row_width}-byte rows of table {}",
            bytes.len(),
            table.name
        )));
    }
    let count = bytes.len() / row_width;
    let mut rows = vec![Vec::with_capacity(widths.len()); count];
    let mut at = 0;
    for width in widths {
        for row in &mut rows {
            row.push(read_cell(bytes, at, width));
            at += width;
        }
    }
    Ok(rows)
}

/// Encodes rows of raw values, column by column.
pub fn encode_db_rows(table: &TableDef, rows: &[Vec<u32>], long_refs: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, col) in table.columns.iter().enumerate() {
        let width = col.kind.width(long_refs);
        for (n, row) in rows.iter().enumerate() {
            let raw = *row.get(i).ok_or_else(|| {
                Error::format(format!(
                    "row {n} of table {} has {} values for {} columns",
                    table.name,
                    row.len(),
                    table.columns.len()
                ))
            })?;
            write_cell(&mut out, raw, width).map_err(|r| {
                Error::format(format!(
                    "row {n} of table {}, column {}: {r}",
                    table.name, col.name
                ))
            })?;
        }
    }
    Ok(out)
}

/// The order of two rows: their key columns' raw values, in column order.
pub fn key_order(table: &TableDef, a: &[u32], b: &[u32]) -> Ordering {
    for (i, col) in table.columns.iter().enumerate() {
        if !col.key {
            continue;
        }
        match a.get(i).cmp(&b.get(i)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[derive(Debug, Clone)]
struct DbTable {
    def: Option<TableDef>,
    original: Vec<u8>,
    rows: Vec<Vec<u32>>,
    changed: bool,
    /// The decoded keys of `rows`, built by the first insert (which
    /// decodes every row, as a key check must) and kept up to date by the
    /// later ones; dropped by a delete. Without it each insert decoded the
    /// whole table: a retarget to `n` instances inserts `n` rows per
    /// MsiPatchSequence row, and the inserts cost `O(n²)`.
    keys: Option<std::collections::BTreeSet<Vec<Value>>>,
}

/// A database (the root storage of an .msi or .msp) being edited.
#[derive(Debug, Clone)]
pub struct DatabaseEditor {
    pool: PoolEditor,
    tables: IndexMap<String, DbTable>,
}

impl DatabaseEditor {
    /// Reads the database at the root of `cf`: its pool and every table
    /// stream, decoded with `schema` (the database's own, e.g.
    /// [`Schema::from_package`]; `_Tables` and `_Columns` are known).
    pub fn load<S: container::Storage>(cf: &mut S, schema: &Schema) -> Result<DatabaseEditor> {
        let entries: Vec<(String, std::path::PathBuf)> = cf
            .children(std::path::Path::new("/"))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.is_stream)
            .filter_map(|e| {
                let d = streamname::decode(&e.name);
                d.is_table.then_some((d.name, e.path))
            })
            .collect();
        let mut pool = None;
        let mut data = Vec::new();
        let mut tables = Vec::new();
        for (name, path) in entries {
            let limit = match name.as_str() {
                STRING_POOL => MAX_POOL_LEN,
                STRING_DATA => MAX_STRING_DATA_LEN,
                _ => MAX_TABLE_LEN,
            };
            let bytes = container::read_stream_bounded(cf, &path, limit)?;
            match name.as_str() {
                STRING_POOL => pool = Some(bytes),
                STRING_DATA => data = bytes,
                _ => tables.push((name, bytes)),
            }
        }
        let pool = pool.ok_or_else(|| {
            Error::format("has no _StringPool stream, so it is not a database (or is damaged)")
        })?;
        DatabaseEditor::from_streams(&pool, &data, tables, schema)
    }

    /// A database from its streams: `_StringPool`, `_StringData` and each
    /// table stream by (unpacked) name.
    pub fn from_streams(
        pool: &[u8],
        data: &[u8],
        tables: impl IntoIterator<Item = (String, Vec<u8>)>,
        schema: &Schema,
    ) -> Result<DatabaseEditor> {
        let mut pool = PoolEditor::parse(pool, data)?;
        let mut streams: IndexMap<String, Vec<u8>> = tables.into_iter().collect();
        streams.sort_keys();
        let mut out = IndexMap::new();
        let mut complete = true;
        for (name, bytes) in streams {
            let def = match name.as_str() {
                TABLES => Some(tables_table()),
                COLUMNS => Some(columns_table()),
                _ => schema.table(&name).cloned(),
            };
            let rows = match &def {
                Some(def) => decode_db_rows(def, &bytes, pool.long_refs())
                    .map_err(|e| e.at(table_part(&name)))?,
                None => {
                    complete = false;
                    Vec::new()
                }
            };
            if let Some(def) = &def {
                for id in string_ids(def, &rows) {
                    if id as usize > pool.len() {
                        return Err(Error::format(format!(
                            "string id {id} is out of range: the string pool has {} strings",
                            pool.len()
                        ))
                        .at(table_part(&name)));
                    }
                }
            }
            out.insert(
                name,
                DbTable {
                    def,
                    original: bytes,
                    rows,
                    changed: false,
                    keys: None,
                },
            );
        }
        let as_raw: Vec<(TableDef, Vec<RawRow>)> = out
            .values()
            .filter_map(|t| {
                let def = t.def.clone()?;
                let rows = t
                    .rows
                    .iter()
                    .map(|r| RawRow {
                        mask: 0,
                        cells: r.iter().map(|v| Some(*v)).collect(),
                    })
                    .collect();
                Some((def, rows))
            })
            .collect();
        pool.observe(as_raw.iter().map(|(d, r)| (d, r.as_slice())), complete);
        Ok(DatabaseEditor { pool, tables: out })
    }

    /// The string pool.
    pub fn pool(&self) -> &PoolEditor {
        &self.pool
    }

    /// Table streams that could not be decoded.
    pub fn undecoded(&self) -> Vec<&str> {
        self.tables
            .iter()
            .filter(|(_, t)| t.def.is_none())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The definition of `table`.
    pub fn definition(&self, table: &str) -> Option<&TableDef> {
        self.tables.get(table).and_then(|t| t.def.as_ref())
    }

    /// The raw rows of `table`, in stored order.
    pub fn raw_rows(&self, table: &str) -> &[Vec<u32>] {
        self.tables
            .get(table)
            .map(|t| t.rows.as_slice())
            .unwrap_or_default()
    }

    /// The rows of `table`, decoded: every column's value in order.
    pub fn rows(&self, table: &str) -> Result<Vec<Vec<Value>>> {
        let Some(t) = self.tables.get(table) else {
            return Ok(Vec::new());
        };
        let def = t.def.as_ref().ok_or_else(|| {
            Error::format(format!("the schema does not define table {table}")).at(table_part(table))
        })?;
        t.rows
            .iter()
            .map(|row| {
                def.columns
                    .iter()
                    .zip(row)
                    .map(|(c, raw)| {
                        value_of(c.kind, *raw, &self.pool).map_err(|r| {
                            Error::format(format!("column {}: {r}", c.name)).at(table_part(table))
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn table_mut(&mut self, table: &str) -> Result<(&mut DbTable, TableDef)> {
        let t = self.tables.get_mut(table).ok_or_else(|| {
            Error::usage(format!(
                "the database has no {table} table stream (adding a table is not supported)"
            ))
        })?;
        let def = t.def.clone().ok_or_else(|| {
            Error::format(format!(
                "table {table} cannot be edited: the schema does not define it"
            ))
            .at(table_part(table))
        })?;
        Ok((t, def))
    }

    /// Inserts the row `values` (every column, in order) into `table`
    /// where the key order puts it. Refuses a key the table already has.
    pub fn insert_row(&mut self, table: &str, values: &[Value]) -> Result<Change> {
        let (_, def) = self.table_mut(table)?;
        if values.len() != def.columns.len() {
            return Err(Error::usage(format!(
                "table {table} has {} columns; the row has {} values",
                def.columns.len(),
                values.len()
            )));
        }
        // The key must be new: compared by value, before any string is added.
        let key: Vec<Value> = def
            .columns
            .iter()
            .zip(values)
            .filter(|(c, _)| c.key)
            .map(|(_, v)| v.clone())
            .collect();
        if self.tables.get(table).is_some_and(|t| t.keys.is_none()) {
            let keys = self.rows(table)?.iter().map(|r| key_of(&def, r)).collect();
            if let Some(t) = self.tables.get_mut(table) {
                t.keys = Some(keys);
            }
        }
        if self
            .tables
            .get(table)
            .and_then(|t| t.keys.as_ref())
            .is_some_and(|keys| keys.contains(&key))
        {
            return Err(Error::usage(format!(
                "table {table} already has a row with key {}",
                show(&key)
            )));
        }
        let mut raw = Vec::with_capacity(values.len());
        for (col, v) in def.columns.iter().zip(values) {
            let r = match (col.kind, v) {
                (ColumnKind::String, Value::Str(s)) => self.pool.add_ref(s)?,
                (ColumnKind::Stream, _) => {
                    return Err(Error::usage(format!(
                        "table {table}, column {}: binary columns are not written by this editor",
                        col.name
                    )));
                }
                (kind, v) => raw_number(kind, v).map_err(|r| {
                    Error::usage(format!("table {table}, column {}: {r}", col.name))
                })?,
            };
            raw.push(r);
        }
        self.widen_if_needed()?;
        let (t, def) = self.table_mut(table)?;
        let at = t
            .rows
            .partition_point(|r| key_order(&def, r, &raw) == Ordering::Less);
        t.rows.insert(at, raw);
        t.changed = true;
        if let Some(keys) = &mut t.keys {
            keys.insert(key.clone());
        }
        let columns = def
            .columns
            .iter()
            .zip(values)
            .filter(|(c, _)| !c.key)
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect();
        Ok(Change::RowAdded {
            table: table.to_string(),
            key,
            row: RowKind::Insert,
            columns,
        })
    }

    /// Removes the row with `key` from `table`; refuses when there is none.
    pub fn delete_row(&mut self, table: &str, key: &[Value]) -> Result<Change> {
        let (_, def) = self.table_mut(table)?;
        let rows = self.rows(table)?;
        let index = rows
            .iter()
            .position(|r| key_of(&def, r) == key)
            .ok_or_else(|| {
                Error::usage(format!("table {table} has no row with key {}", show(key)))
            })?;
        let columns = def
            .columns
            .iter()
            .zip(rows.get(index).into_iter().flatten())
            .filter(|(c, _)| !c.key)
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect();
        let (t, def) = self.table_mut(table)?;
        let raw = t.rows.remove(index);
        t.changed = true;
        // A file may hold two rows with one key: the set cannot tell
        // whether the key is gone, so the next insert rebuilds it.
        t.keys = None;
        for (col, id) in def.columns.iter().zip(raw) {
            if col.kind == ColumnKind::String {
                self.pool.release(id)?;
            }
        }
        Ok(Change::RowRemoved {
            table: table.to_string(),
            key: key.to_vec(),
            columns,
        })
    }

    fn widen_if_needed(&mut self) -> Result<()> {
        if !self.pool.long_refs_changed() {
            return Ok(());
        }
        for (name, t) in &mut self.tables {
            match &t.def {
                None => {
                    return Err(Error::format(format!(
                        "the string pool passes 65,535 strings, so every table must be written \
                         with 3-byte string references, but table {name} cannot be decoded"
                    ))
                    .at(table_part(name)));
                }
                Some(def) if def.columns.iter().any(|c| c.kind == ColumnKind::String) => {
                    t.changed = true;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The new bytes of every stream the edits changed.
    pub fn finish(&self) -> Result<EditOutput> {
        let mut out = EditOutput::default();
        for (name, t) in &self.tables {
            let (true, Some(def)) = (t.changed, &t.def) else {
                continue;
            };
            let bytes = encode_db_rows(def, &t.rows, self.pool.long_refs())
                .map_err(|e| e.at(table_part(name)))?;
            if bytes != t.original {
                out.tables.insert(name.clone(), bytes);
            }
        }
        if self.pool.is_changed() {
            out.pool = Some(self.pool.to_streams());
        }
        Ok(out)
    }
}

/// The string ids of rows of `def`.
fn string_ids<'a>(def: &'a TableDef, rows: &'a [Vec<u32>]) -> impl Iterator<Item = u32> + 'a {
    rows.iter().flat_map(move |r| {
        def.columns
            .iter()
            .zip(r)
            .filter(|(c, id)| c.kind == ColumnKind::String && **id != 0)
            .map(|(_, id)| *id)
    })
}

fn key_of(def: &TableDef, row: &[Value]) -> Vec<Value> {
    def.columns
        .iter()
        .zip(row)
        .filter(|(c, _)| c.key)
        .map(|(_, v)| v.clone())
        .collect()
}

fn show(key: &[Value]) -> String {
    key.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row-level changes that turn database table contents `before` into
/// `after`, found by decoding both and matching rows by key, sorted: rows
/// added, rows removed, cells changed. Tables that lost their stream are an
/// error.
pub fn db_changes_between(before: &DatabaseEditor, after: &DatabaseEditor) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for name in before.tables.keys() {
        if !after.tables.contains_key(name) {
            return Err(Error::verify(format!("table stream {name} is gone")));
        }
    }
    for (name, t) in &after.tables {
        let Some(def) = &t.def else { continue };
        let old = before.rows(name)?;
        let new = after.rows(name)?;
        let by_key = |rows: &[Vec<Value>]| -> std::collections::BTreeMap<Vec<Value>, Vec<Value>> {
            rows.iter().map(|r| (key_of(def, r), r.clone())).collect()
        };
        let (old, new) = (by_key(&old), by_key(&new));
        let others = |row: &[Value]| -> Vec<(String, Value)> {
            def.columns
                .iter()
                .zip(row)
                .filter(|(c, _)| !c.key)
                .map(|(c, v)| (c.name.clone(), v.clone()))
                .collect()
        };
        for (key, row) in &new {
            match old.get(key) {
                None => out.push(Change::RowAdded {
                    table: name.clone(),
                    key: key.clone(),
                    row: RowKind::Insert,
                    columns: others(row),
                }),
                Some(before_row) => {
                    for ((c, o), n) in def.columns.iter().zip(before_row).zip(row) {
                        if o != n {
                            out.push(Change::Cell {
                                table: name.clone(),
                                key: key.clone(),
                                row: RowKind::Update,
                                column: c.name.clone(),
                                old: Some(o.clone()),
                                new: n.clone(),
                            });
                        }
                    }
                }
            }
        }
        for (key, row) in &old {
            if !new.contains_key(key) {
                out.push(Change::RowRemoved {
                    table: name.clone(),
                    key: key.clone(),
                    columns: others(row),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests;
