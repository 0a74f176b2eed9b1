//! Declarative edits of a transform: change cells, add rows, and get back
//! the exact list of row-level changes, so that a plan can declare them and
//! verification can check them by decoding ([`changes_between`]).
//!
//! A [`TransformEditor`] holds a transform's string pool ([`PoolEditor`])
//! and every table stream of it, decoded into raw rows when the base schema
//! or the transform's own `_Columns` defines the table. Edits re-point
//! cells (a new string gets its own id; a string other cells share is
//! never rewritten), append rows, and mark the tables they touch;
//! [`TransformEditor::finish`] returns the new bytes of `_StringPool`,
//! `_StringData` and of each changed table stream only. Every other stream
//! of the storage stays as it is: the caller writes just these into the
//! compound file.
//!
//! When a new string needs an id past 65,535 in a pool of 2-byte
//! references, the pool switches to 3-byte references and every table
//! stream with string columns is re-encoded (and returned); when a table
//! stream could not be decoded, that switch is refused with an error
//! naming the table, since its references could not be widened.
//!
//! Rows are appended in the order edits add them. Windows Installer
//! applies a transform's rows in stream order (Wine's
//! `table_load_transform` reads them one by one), so an added row cannot
//! disturb the rows before it.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::container;
use crate::format::streamname;

use super::rows::{
    RawRow, decode_raw_rows, encode_raw_rows, kind_of, present_columns, raw_number, string_ids,
};
use super::write::{PoolEditor, insert_mask};
use super::{
    COLUMNS, ColumnKind, MAX_POOL_LEN, MAX_STRING_DATA_LEN, MAX_TABLE_LEN, RowKind, RowOp,
    STRING_DATA, STRING_POOL, Schema, TABLES, TableDef, Value, decode_rows, table_part,
};

/// Which rows of a table an edit looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowFilter {
    /// Every row that carries the column.
    Any,
    /// Insert rows (odd masks) only.
    Inserts,
    /// Update rows (even non-zero masks) only.
    Updates,
}

impl RowFilter {
    fn admits(self, kind: RowKind) -> bool {
        match self {
            RowFilter::Any => kind != RowKind::Delete,
            RowFilter::Inserts => kind == RowKind::Insert,
            RowFilter::Updates => kind == RowKind::Update,
        }
    }
}

/// One row-level change of a transform, as an edit makes it and as
/// [`changes_between`] finds it by decoding. Ordered (table, then key…) so
/// that a declared list and a found one compare once both are sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A cell of an existing row changed.
    Cell {
        /// The table.
        table: String,
        /// The row's key values.
        key: Vec<Value>,
        /// What the row does (insert or update).
        row: RowKind,
        /// The column.
        column: String,
        /// The value before; `None` when the row did not carry the column.
        old: Option<Value>,
        /// The value after.
        new: Value,
    },
    /// A row operation was appended to the table stream.
    RowAdded {
        /// The table.
        table: String,
        /// The row's key values.
        key: Vec<Value>,
        /// Insert, update or delete.
        row: RowKind,
        /// The non-key columns the row carries.
        columns: Vec<(String, Value)>,
    },
    /// A row was removed (database tables; a transform deletes a row by
    /// adding a delete operation instead).
    RowRemoved {
        /// The table.
        table: String,
        /// The row's key values.
        key: Vec<Value>,
        /// The non-key columns it had.
        columns: Vec<(String, Value)>,
    },
}

/// The new bytes of the streams an edit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditOutput {
    /// `_StringPool` and `_StringData`, when the pool changed.
    pub pool: Option<(Vec<u8>, Vec<u8>)>,
    /// Changed or new table streams, by table name (not packed).
    pub tables: IndexMap<String, Vec<u8>>,
}

impl EditOutput {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.pool.is_none() && self.tables.is_empty()
    }

    /// Every changed stream as (packed stream name, bytes), ready to be
    /// written into the transform storage.
    pub fn streams(&self) -> Vec<(String, &[u8])> {
        let mut out = Vec::new();
        if let Some((pool, data)) = &self.pool {
            out.push((streamname::encode(STRING_POOL, true), pool.as_slice()));
            out.push((streamname::encode(STRING_DATA, true), data.as_slice()));
        }
        for (name, bytes) in &self.tables {
            out.push((streamname::encode(name, true), bytes.as_slice()));
        }
        out
    }
}

/// One table stream of the transform.
#[derive(Debug, Clone)]
struct Table {
    /// The definition; `None` when neither the schema nor the transform
    /// defines the table (its stream is then kept as it is).
    def: Option<TableDef>,
    /// The stream as read; `None` for a table the edit creates.
    original: Option<Vec<u8>>,
    rows: Vec<RawRow>,
    changed: bool,
}

/// A transform being edited.
#[derive(Debug, Clone)]
pub struct TransformEditor {
    pool: PoolEditor,
    tables: IndexMap<String, Table>,
    schema: Schema,
}

impl TransformEditor {
    /// An empty transform in `code_page`, whose tables are defined by
    /// `schema` (the base database's).
    pub fn new(code_page: u32, schema: &Schema) -> Result<TransformEditor> {
        Ok(TransformEditor {
            pool: PoolEditor::new(code_page)?,
            tables: IndexMap::new(),
            schema: schema.clone(),
        })
    }

    /// Reads the transform `storage` (`/` for a stand-alone .mst) of `cf`,
    /// decoding its tables against `schema` and its own `_Columns`.
    pub fn load<S: container::Storage>(
        cf: &mut S,
        storage: &Path,
        schema: &Schema,
    ) -> Result<TransformEditor> {
        let at_storage = |e: Error| {
            let name = container::path_text(storage);
            if name.is_empty() {
                e
            } else {
                e.at(container::storage_part(&name))
            }
        };
        let entries = cf
            .children(storage)
            .map_err(|e| at_storage(Error::io("cannot list the transform", e)))?;
        let mut streams: Vec<(String, std::path::PathBuf)> = entries
            .into_iter()
            .filter(|e| e.is_stream)
            .filter_map(|e| {
                let d = streamname::decode(&e.name);
                d.is_table.then_some((d.name, e.path))
            })
            .collect();
        streams.sort();
        let mut pool = None;
        let mut data = Vec::new();
        let mut tables = Vec::new();
        for (name, path) in streams {
            let limit = match name.as_str() {
                STRING_POOL => MAX_POOL_LEN,
                STRING_DATA => MAX_STRING_DATA_LEN,
                _ => MAX_TABLE_LEN,
            };
            let bytes = container::read_stream_bounded(cf, &path, limit).map_err(&at_storage)?;
            match name.as_str() {
                STRING_POOL => pool = Some(bytes),
                STRING_DATA => data = bytes,
                _ => tables.push((name, bytes)),
            }
        }
        let pool = pool.ok_or_else(|| {
            at_storage(Error::format(
                "has no _StringPool stream, so it is not a transform (or is damaged)",
            ))
        })?;
        TransformEditor::from_streams(&pool, &data, tables, schema).map_err(at_storage)
    }

    /// A transform from its streams: `_StringPool`, `_StringData` and each
    /// table stream by (unpacked) table name.
    pub fn from_streams(
        pool: &[u8],
        data: &[u8],
        tables: impl IntoIterator<Item = (String, Vec<u8>)>,
        schema: &Schema,
    ) -> Result<TransformEditor> {
        let mut pool = PoolEditor::parse(pool, data)?;
        let mut streams: IndexMap<String, Vec<u8>> = tables.into_iter().collect();
        streams.sort_keys();
        // The schema tables first: they define the others.
        let strings = pool.to_string_pool();
        let decode = |def: &TableDef, bytes: &[u8]| {
            decode_rows(def, bytes, &strings).map_err(|e| e.at(table_part(&def.name)))
        };
        let mut added_tables = Vec::new();
        if let Some(bytes) = streams.get(TABLES) {
            for row in decode(&super::tables_table(), bytes)? {
                if let (Some(Value::Str(name)), RowKind::Insert) = (row.key.first(), row.kind) {
                    added_tables.push(name.clone());
                }
            }
        }
        let added = match streams.get(COLUMNS) {
            Some(bytes) => {
                let rows = decode(&super::columns_table(), bytes)?;
                super::added_columns(&rows, schema, &added_tables)
                    .map_err(|e| e.at(table_part(COLUMNS)))?
            }
            None => IndexMap::new(),
        };
        let mut out = IndexMap::new();
        let mut complete = true;
        for (name, bytes) in streams {
            let def = match name.as_str() {
                TABLES => Some(super::tables_table()),
                COLUMNS => Some(super::columns_table()),
                _ => added.get(&name).or_else(|| schema.table(&name)).cloned(),
            };
            let rows = match &def {
                Some(def) => decode_raw_rows(def, &bytes, pool.long_refs())
                    .map_err(|e| e.at(table_part(&name)))?,
                None => {
                    complete = false;
                    Vec::new()
                }
            };
            out.insert(
                name,
                Table {
                    def,
                    original: Some(bytes),
                    rows,
                    changed: false,
                },
            );
        }
        for table in out.values() {
            if let Some(def) = &table.def {
                check_string_ids(def, &table.rows, &pool)?;
            }
        }
        pool.observe(
            out.values()
                .filter_map(|t| t.def.as_ref().map(|d| (d, t.rows.as_slice()))),
            complete,
        );
        let mut schema = schema.clone();
        for def in added.into_values() {
            schema.insert(def);
        }
        Ok(TransformEditor {
            pool,
            tables: out,
            schema,
        })
    }

    /// The string pool.
    pub fn pool(&self) -> &PoolEditor {
        &self.pool
    }

    /// The names of the table streams (not packed), sorted.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// Table streams that could not be decoded (no definition).
    pub fn undecoded(&self) -> Vec<&str> {
        self.tables
            .iter()
            .filter(|(_, t)| t.def.is_none())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The definition of table `name` as this transform decodes it.
    pub fn definition(&self, name: &str) -> Option<&TableDef> {
        self.tables
            .get(name)
            .and_then(|t| t.def.as_ref())
            .or_else(|| self.schema.table(name))
    }

    /// The raw rows of `table` (empty when the transform does not change
    /// it or it could not be decoded).
    pub fn raw_rows(&self, table: &str) -> &[RawRow] {
        self.tables
            .get(table)
            .map(|t| t.rows.as_slice())
            .unwrap_or_default()
    }

    /// The rows of `table`, decoded; offsets are those of the stream as it
    /// would be written now.
    pub fn rows(&self, table: &str) -> Result<Vec<RowOp>> {
        let Some(t) = self.tables.get(table) else {
            return Ok(Vec::new());
        };
        let Some(def) = &t.def else {
            return Err(Error::format(format!(
                "neither the base schema nor the transform defines table {table}"
            ))
            .at(table_part(table)));
        };
        let long = self.pool.long_refs();
        let mut offset = 0;
        let mut out = Vec::with_capacity(t.rows.len());
        for row in &t.rows {
            let op = self.typed(def, row, offset)?;
            offset += 2 + def
                .columns
                .iter()
                .zip(&row.cells)
                .filter(|(_, c)| c.is_some())
                .map(|(c, _)| c.kind.width(long))
                .sum::<usize>();
            out.push(op);
        }
        Ok(out)
    }

    fn typed(&self, def: &TableDef, row: &RawRow, offset: usize) -> Result<RowOp> {
        row.typed(def, offset, &self.pool)
            .map_err(|e| e.at(table_part(&def.name)))
    }

    /// The definition of `table` for an edit: the transform's, else the
    /// schema's (the table stream is then created).
    fn table_for_edit(&mut self, table: &str) -> Result<(&mut Table, TableDef)> {
        if !self.tables.contains_key(table) {
            let def = self.schema.table(table).cloned().ok_or_else(|| {
                Error::usage(format!(
                    "table {table} is neither in the transform nor in the base schema"
                ))
            })?;
            self.tables.insert(
                table.to_string(),
                Table {
                    def: Some(def),
                    original: None,
                    rows: Vec::new(),
                    changed: true,
                },
            );
        }
        let t = self
            .tables
            .get_mut(table)
            .ok_or_else(|| Error::usage(format!("no table {table}")))?;
        let def = t.def.clone().ok_or_else(|| {
            Error::format(format!(
                "table {table} cannot be edited: neither the base schema nor the transform \
                 defines it"
            ))
            .at(table_part(table))
        })?;
        Ok((t, def))
    }

    /// In `table`, for the rows `filter` admits whose `column` holds `from`,
    /// sets `column` to `to`. Returns one [`Change::Cell`] per row changed
    /// (none when no row matched). Key columns cannot be set.
    pub fn set_where(
        &mut self,
        table: &str,
        filter: RowFilter,
        column: &str,
        from: &Value,
        to: &Value,
    ) -> Result<Vec<Change>> {
        let def = self.definition(table).cloned();
        let Some(def) = def else {
            return Err(Error::usage(format!(
                "table {table} is neither in the transform nor in the base schema"
            )));
        };
        let index = column_index(&def, column)?;
        let matching: Vec<usize> = self
            .rows(table)?
            .iter()
            .enumerate()
            .filter(|(_, r)| filter.admits(r.kind))
            .filter(|(_, r)| r.get(column) == Some(from))
            .map(|(i, _)| i)
            .collect();
        let mut changes = Vec::new();
        for i in matching {
            changes.extend(self.set_at(table, &def, i, index, to)?);
        }
        Ok(changes)
    }

    /// In `table`, for every insert or update row with `key`, sets `column`
    /// to `to`; a row that does not carry the column gets it (an insert's
    /// column count grows, the columns between are null as they were; an
    /// update's mask gains the column's bit). Refuses when no row has the
    /// key.
    pub fn set_cell(
        &mut self,
        table: &str,
        key: &[Value],
        column: &str,
        to: &Value,
    ) -> Result<Vec<Change>> {
        let def = self
            .definition(table)
            .cloned()
            .ok_or_else(|| Error::usage(format!("table {table} is not in the transform")))?;
        let index = column_index(&def, column)?;
        let matching: Vec<usize> = self
            .rows(table)?
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind != RowKind::Delete && r.key == key)
            .map(|(i, _)| i)
            .collect();
        if matching.is_empty() {
            return Err(Error::usage(format!(
                "table {table} of the transform has no insert or update row with key {}",
                show_key(key)
            )));
        }
        let mut changes = Vec::new();
        for i in matching {
            changes.extend(self.set_at(table, &def, i, index, to)?);
        }
        Ok(changes)
    }

    /// Sets column `index` of row `i` of `table` to `to`; `None` when the
    /// row already holds it (nothing changes).
    fn set_at(
        &mut self,
        table: &str,
        def: &TableDef,
        i: usize,
        index: usize,
        to: &Value,
    ) -> Result<Option<Change>> {
        let col = def
            .columns
            .get(index)
            .ok_or_else(|| Error::usage(format!("table {table} has no column {index}")))?;
        if col.key {
            return Err(Error::usage(format!(
                "column {} is part of table {table}'s key; a key is changed by deleting the \
                 row and adding another",
                col.name
            )));
        }
        let raw = self
            .tables
            .get(table)
            .and_then(|t| t.rows.get(i))
            .cloned()
            .ok_or_else(|| Error::usage(format!("table {table} has no row {i}")))?;
        let row = self.typed(def, &raw, 0)?;
        // An insert's columns past its count are null.
        let old = match (row.get(&col.name), row.kind) {
            (None, RowKind::Insert) => Some(Value::Null),
            (old, _) => old.cloned(),
        };
        if old.as_ref() == Some(to) && row.get(&col.name).is_some() {
            return Ok(None);
        }
        let (kind, key) = (row.kind, row.key.clone());
        let raw_new = self.raw_value(col.kind, to, table, &col.name)?;
        let (t, _) = self.table_for_edit(table)?;
        let r = t
            .rows
            .get_mut(i)
            .ok_or_else(|| Error::usage(format!("table {table} has no row {i}")))?;
        let old_raw = r.cells.get(index).copied().flatten();
        match kind {
            RowKind::Insert if r.cells.get(index).is_some_and(Option::is_none) => {
                // Grow the insert to carry the column; those between were
                // null by omission and are now null by value.
                let mask = insert_mask(index + 1).map_err(Error::usage)?;
                for c in r.cells.iter_mut().take(index + 1) {
                    c.get_or_insert(0);
                }
                r.mask = mask;
            }
            RowKind::Update if r.cells.get(index).is_some_and(Option::is_none) => {
                if index == 0 || index >= 16 {
                    return Err(Error::usage(format!(
                        "column {} of table {table} cannot be flagged in a 16-bit update mask",
                        col.name
                    )));
                }
                r.mask |= 1 << index;
            }
            RowKind::Delete => {
                return Err(Error::usage(format!(
                    "row {} of table {table} is a delete; it has no values to set",
                    show_key(&key)
                )));
            }
            _ => {}
        }
        if let Some(c) = r.cells.get_mut(index) {
            *c = Some(raw_new);
        }
        t.changed = true;
        if let (ColumnKind::String, Some(old_id)) = (col.kind, old_raw) {
            self.pool.release(old_id)?;
        }
        Ok(Some(Change::Cell {
            table: table.to_string(),
            key,
            row: kind,
            column: col.name.clone(),
            old,
            new: to.clone(),
        }))
    }

    /// The raw number of `value` for a column of `kind`; strings get a
    /// reference in the pool.
    fn raw_value(
        &mut self,
        kind: ColumnKind,
        value: &Value,
        table: &str,
        column: &str,
    ) -> Result<u32> {
        let at = |r: String| Error::usage(format!("table {table}, column {column}: {r}"));
        let raw = match (kind, value) {
            (ColumnKind::String, Value::Str(s)) => self.pool.add_ref(s)?,
            (ColumnKind::Stream, _) => {
                return Err(at(
                    "binary columns live in their own streams; this editor does not write them"
                        .to_string(),
                ));
            }
            (kind, v) => raw_number(kind, v).map_err(at)?,
        };
        self.widen_if_needed()?;
        Ok(raw)
    }

    /// After the pool switched to 3-byte references, every table with
    /// string columns must be written again; refuses when one cannot be
    /// decoded.
    fn widen_if_needed(&mut self) -> Result<()> {
        if !self.pool.long_refs_changed() {
            return Ok(());
        }
        for (name, t) in &mut self.tables {
            match &t.def {
                None => {
                    return Err(Error::format(format!(
                        "the string pool passes 65,535 strings, so every table stream must be \
                         written with 3-byte string references, but table {name} cannot be \
                         decoded (neither the base schema nor the transform defines it)"
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

    /// Appends an insert of the row `values` (every column, in order) to
    /// `table`, creating the table stream when the transform has none.
    pub fn insert_row(&mut self, table: &str, values: &[Value]) -> Result<Change> {
        let (_, def) = self.table_for_edit(table)?;
        if values.len() != def.columns.len() {
            return Err(Error::usage(format!(
                "table {table} has {} columns; the row has {} values",
                def.columns.len(),
                values.len()
            )));
        }
        let mask = insert_mask(values.len()).map_err(Error::usage)?;
        let cells: Vec<Option<u32>> = values.iter().map(|_| Some(0)).collect();
        self.append_row(table, &def, mask, cells, values)
    }

    /// Appends an update of the row `key` of `table`: `columns` (name,
    /// value) set, the others left alone.
    pub fn update_row(
        &mut self,
        table: &str,
        key: &[Value],
        columns: &[(&str, Value)],
    ) -> Result<Change> {
        let (_, def) = self.table_for_edit(table)?;
        let mut values: Vec<Option<Value>> = vec![None; def.columns.len()];
        fill_key(&def, key, &mut values)?;
        let mut mask = 0u16;
        for (name, v) in columns {
            let i = column_index(&def, name)?;
            if def.columns.get(i).is_some_and(|c| c.key) {
                return Err(Error::usage(format!(
                    "column {name} is part of table {table}'s key"
                )));
            }
            if i >= 16 {
                return Err(Error::usage(format!(
                    "column {name} of table {table} cannot be flagged in a 16-bit update mask"
                )));
            }
            mask |= 1 << i;
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(v.clone());
            }
        }
        if mask == 0 {
            return Err(Error::usage(format!(
                "an update of table {table} must set at least one non-key column"
            )));
        }
        let cells = values.iter().map(|v| v.as_ref().map(|_| 0)).collect();
        let values: Vec<Value> = values.into_iter().flatten().collect();
        self.append_row(table, &def, mask, cells, &values)
    }

    /// Appends a delete of the row `key` of `table`.
    pub fn delete_row(&mut self, table: &str, key: &[Value]) -> Result<Change> {
        let (_, def) = self.table_for_edit(table)?;
        let mut values: Vec<Option<Value>> = vec![None; def.columns.len()];
        fill_key(&def, key, &mut values)?;
        let cells = values.iter().map(|v| v.as_ref().map(|_| 0)).collect();
        let values: Vec<Value> = values.into_iter().flatten().collect();
        self.append_row(table, &def, 0, cells, &values)
    }

    /// Appends a row: `cells` says which columns are present, `values`
    /// gives them in order.
    fn append_row(
        &mut self,
        table: &str,
        def: &TableDef,
        mask: u16,
        mut cells: Vec<Option<u32>>,
        values: &[Value],
    ) -> Result<Change> {
        present_columns(def, mask).map_err(Error::usage)?;
        let mut given = values.iter();
        let mut key = Vec::new();
        let mut columns = Vec::new();
        for (col, cell) in def.columns.iter().zip(cells.iter_mut()) {
            let Some(slot) = cell else { continue };
            let v = given
                .next()
                .ok_or_else(|| Error::usage(format!("too few values for table {table}")))?;
            if col.key && *v == Value::Null {
                return Err(Error::usage(format!(
                    "key column {} of table {table} cannot be null",
                    col.name
                )));
            }
            *slot = self.raw_value(col.kind, v, table, &col.name)?;
            if col.key {
                key.push(v.clone());
            } else {
                columns.push((col.name.clone(), v.clone()));
            }
        }
        let (t, _) = self.table_for_edit(table)?;
        t.rows.push(RawRow { mask, cells });
        t.changed = true;
        Ok(Change::RowAdded {
            table: table.to_string(),
            key,
            row: kind_of(mask),
            columns,
        })
    }

    /// The new bytes of every stream the edits changed.
    pub fn finish(&self) -> Result<EditOutput> {
        let mut out = EditOutput::default();
        let long = self.pool.long_refs();
        for (name, t) in &self.tables {
            if !t.changed {
                continue;
            }
            let Some(def) = &t.def else { continue };
            let bytes = encode_raw_rows(def, &t.rows, long).map_err(|e| e.at(table_part(name)))?;
            if t.original.as_deref() != Some(bytes.as_slice()) {
                out.tables.insert(name.clone(), bytes);
            }
        }
        if self.pool.is_changed() {
            out.pool = Some(self.pool.to_streams());
        }
        Ok(out)
    }
}

/// Fills the key columns of `values` from `key`.
fn fill_key(def: &TableDef, key: &[Value], values: &mut [Option<Value>]) -> Result<()> {
    let mut given = key.iter();
    for (col, slot) in def.columns.iter().zip(values.iter_mut()) {
        if col.key {
            *slot = Some(given.next().cloned().ok_or_else(|| {
                Error::usage(format!(
                    "table {} has {} key columns; {} given",
                    def.name,
                    def.key_count(),
                    key.len()
                ))
            })?);
        }
    }
    if given.next().is_some() {
        return Err(Error::usage(format!(
            "table {} has {} key columns; {} given",
            def.name,
            def.key_count(),
            key.len()
        )));
    }
    Ok(())
}

fn column_index(def: &TableDef, column: &str) -> Result<usize> {
    def.column_index(column).ok_or_else(|| {
        Error::usage(format!(
            "table {} has no column {column} (it has {})",
            def.name,
            def.columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn show_key(key: &[Value]) -> String {
    key.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses rows pointing past the pool, as the reader does.
fn check_string_ids(def: &TableDef, rows: &[RawRow], pool: &PoolEditor) -> Result<()> {
    let len = pool.len();
    if let Some(id) = string_ids(def, rows).find(|id| *id as usize > len) {
        return Err(Error::format(format!(
            "string id {id} is out of range: the transform's string pool has {len} strings"
        ))
        .at(table_part(&def.name)));
    }
    Ok(())
}

/// The value `row` gives `column`: an insert's columns past its count are
/// null, an update's absent columns are unchanged (`None`).
fn carried<'r>(row: &'r RowOp, column: &str) -> Option<&'r Value> {
    match (row.get(column), row.kind) {
        (None, RowKind::Insert) => Some(&Value::Null),
        (v, _) => v,
    }
}

/// The row-level changes that turn `before` into `after`, found by
/// decoding both, sorted: cells that differ in rows at the same place (same
/// key and kind), and rows `after` appends. Rows removed, reordered or
/// re-keyed, and tables that lost their stream, are errors: an edit never
/// does that, so a verification comparing this list with the declared one
/// (sorted) fails. A table neither side can decode (no definition) is not
/// looked at: an edit never writes it, so the caller compares its bytes.
pub fn changes_between(before: &TransformEditor, after: &TransformEditor) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for name in before.tables.keys() {
        if !after.tables.contains_key(name) {
            return Err(Error::verify(format!("table stream {name} is gone")));
        }
    }
    let undecoded =
        |e: &TransformEditor, name: &str| e.tables.get(name).is_some_and(|t| t.def.is_none());
    for name in after.tables.keys() {
        if undecoded(before, name) && undecoded(after, name) {
            continue;
        }
        let old = before.rows(name)?;
        let new = after.rows(name)?;
        if new.len() < old.len() {
            return Err(Error::verify(format!(
                "table {name} lost rows: {} before, {} after",
                old.len(),
                new.len()
            )));
        }
        for (o, n) in old.iter().zip(&new) {
            if o.key != n.key || o.kind != n.kind {
                return Err(Error::verify(format!(
                    "table {name}: the row at offset {} was {:?} {} and is now {:?} {}",
                    o.offset,
                    o.kind,
                    show_key(&o.key),
                    n.kind,
                    show_key(&n.key)
                )));
            }
            let def = after
                .definition(name)
                .ok_or_else(|| Error::verify(format!("table {name} has no definition")))?;
            for col in def.columns.iter().filter(|c| !c.key) {
                let (ov, nv) = (carried(o, &col.name), carried(n, &col.name));
                if ov != nv {
                    let Some(nv) = nv else {
                        return Err(Error::verify(format!(
                            "table {name}, row {}: column {} was dropped",
                            show_key(&o.key),
                            col.name
                        )));
                    };
                    out.push(Change::Cell {
                        table: name.clone(),
                        key: o.key.clone(),
                        row: o.kind,
                        column: col.name.clone(),
                        old: ov.cloned(),
                        new: nv.clone(),
                    });
                }
            }
        }
        for n in new.iter().skip(old.len()) {
            out.push(Change::RowAdded {
                table: name.clone(),
                key: n.key.clone(),
                row: n.kind,
                columns: n.columns.clone(),
            });
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests;
