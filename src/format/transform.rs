//! A bounded reader for Windows Installer transforms (.mst files, and the
//! transform substorages embedded in products and patches).
//!
//! # The format
//!
//! A transform is a storage (the root of an .mst, or a substorage of an
//! .msi/.msp) holding MSI-encoded streams (names packed as in
//! [`crate::format::streamname`], table streams with the U+4840 prefix):
//!
//! * **`_StringPool` / `_StringData`** — the transform's *own* string pool.
//!   `_StringPool` starts with a 4-byte header: the code page in the low 31
//!   bits and, in bit 31, the long-reference flag. Then one 4-byte entry per
//!   string, ids counting from 1: a 16-bit byte length and a 16-bit
//!   reference count. An entry of length 0 with a non-zero count is followed
//!   by 4 more bytes holding the real 32-bit length (strings of 64 KiB or
//!   more); it is still one string id. `_StringData` is the concatenated
//!   string bytes in that order, in the pool's code page. String id 0 means
//!   null.
//! * **`_Tables` / `_Columns`** — the schema changes, in the same row format
//!   as every other table: `_Tables` (Name) lists added (and dropped)
//!   tables, `_Columns` (Table, Number, Name, Type) the columns of added
//!   tables and columns added to existing ones. Number is written null by
//!   the tools; columns then count up in the order listed (appended after
//!   a table's existing columns). Columns of tables that already exist come
//!   from the **base** database: a transform only lists what it adds, so
//!   reading one needs the base [`Schema`].
//! * **one stream per changed table**, a sequence of row operations; there
//!   is no row count, the rows simply fill the stream. Unlike a database
//!   table (column-major), each transform row is stored whole:
//!   * a 16-bit little-endian **mask**;
//!   * **odd mask** (bit 0 set): the row is *added*, or *replaces* the row
//!     with the same key; the high byte is the number of leading columns
//!     that follow (bits 1–7 are zero);
//!   * **mask 0**: the row with this key is *deleted*; only the key columns
//!     follow;
//!   * **other even masks**: the row is *updated*; bit *i* set means column
//!     *i* (0-based) follows; key columns always follow, set or not;
//!   * then the present columns' values in column order: string references
//!     of 2 bytes, or 3 bytes when the pool's long-reference flag is set;
//!     16-bit integers stored as `value + 0x8000`, 32-bit integers as
//!     `value ^ 0x80000000`, 0 meaning null in both; binary (stream)
//!     columns take 2 bytes (non-zero when present) and their data is the
//!     stream `Table.Key1.Key2…` (packed name, no table prefix) of the
//!     transform storage.
//! * `\005SummaryInformation` — the transform summary (see
//!   [`crate::format::summary::TransformRevision`]).
//!
//! Verified on the WiX corpus: instance transforms (Property updates with
//! mask `0x0002`), patch transforms (adds with masks `0x0101`…`0x0801`,
//! `_Columns` adds with null Number, File updates with mask `0x0008`,
//! 16- and 32-bit integers). Never seen there: long string references,
//! deletes, tables of more than 16 columns. The mask is read as 16 bits for
//! every table, as Wine does; an update can therefore only flag columns
//! 0–15 (a 32-bit mask for wider tables is not documented anywhere this
//! project could check).
//!
//! Writing (an editable string pool, the row codec, declarative edits that
//! report the row-level changes they make) lives beside the reader in
//! [`write`] and [`edit`].
//!
//! # Bounds
//!
//! Every stream is read with a size limit before anything is allocated;
//! counts are never trusted: rows are decoded while bytes remain, string
//! lengths are checked against the bytes of `_StringData`. Malformed input
//! (truncated rows, masks naming columns the table does not have, string
//! ids past the pool) gives an [`Error`] naming the storage, the table
//! stream and the byte offset of the row.

#![deny(clippy::indexing_slicing)]

use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::container::{self, Storage};
use crate::format::streamname;

/// `_StringPool` streams longer than this are refused (4 bytes per string:
/// four million strings).
pub const MAX_POOL_LEN: u64 = 16 * 1024 * 1024;
/// `_StringData` streams longer than this are refused.
pub const MAX_STRING_DATA_LEN: u64 = 64 * 1024 * 1024;
/// Table streams longer than this are refused.
pub const MAX_TABLE_LEN: u64 = 64 * 1024 * 1024;

/// Name of the string-pool header stream.
const STRING_POOL: &str = "_StringPool";
/// Name of the string-data stream.
const STRING_DATA: &str = "_StringData";
/// The table of added tables.
pub const TABLES: &str = "_Tables";
/// The table of added columns.
pub const COLUMNS: &str = "_Columns";
/// The Property table.
pub const PROPERTY: &str = "Property";
/// The Component table.
pub const COMPONENT: &str = "Component";

#[allow(dead_code)]
pub mod database;
// The writer is not called by an edit yet (table edits will call it);
// tests and fuzzing drive it.
#[allow(dead_code)]
pub mod edit;
mod pool;
pub mod rows;
mod schema;
pub mod view;
#[allow(dead_code)]
pub mod write;

pub use pool::{PoolHeader, StringPool, walk as walk_pool};
pub use rows::{RowKind, RowOp, Value, decode_rows};
pub use schema::{ColumnDef, ColumnKind, PER_INSTANCE_CELLS, Schema, TableDef};

use schema::property_table;
pub(crate) use schema::{columns_table, tables_table};

/// Little-endian value of up to 4 bytes.
fn le(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

//==========================================================================//
// Reading a transform storage

/// Everything a transform storage changes, table by table.
#[derive(Debug, Clone, Serialize)]
pub struct TransformTables {
    /// Code page of the transform's strings (0: neutral).
    pub code_page: u32,
    /// Whether string references take 3 bytes.
    pub long_string_refs: bool,
    /// Row operations per table, `_Tables` and `_Columns` first, then the
    /// other tables by name.
    pub tables: IndexMap<String, Vec<RowOp>>,
    /// The definitions the tables were decoded with (base schema plus the
    /// transform's own `_Columns`).
    pub definitions: IndexMap<String, TableDef>,
    /// Tables added by the transform (`_Tables` inserts).
    pub added_tables: Vec<String>,
    /// Tables dropped by the transform (`_Tables` deletes).
    pub dropped_tables: Vec<String>,
    /// Table streams that could not be decoded because neither the schema
    /// nor the transform defines the table.
    pub undecoded: Vec<String>,
}

impl TransformTables {
    /// The row operations of `table` (empty when the transform does not
    /// change it).
    pub fn rows(&self, table: &str) -> &[RowOp] {
        self.tables
            .get(table)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Reads every table stream of the transform `storage` (`/` for a
/// stand-alone .mst, `/Name` for a substorage), decoding tables that exist
/// in the base database with `schema` and tables the transform adds with
/// its own `_Columns`.
pub fn read_transform_tables<S: Storage>(
    cf: &mut S,
    storage: &Path,
    schema: &Schema,
) -> Result<TransformTables> {
    read_tables(cf, storage, schema, None).map_err(|e| at_storage(e, storage))
}

/// The Property changes of the transform `storage`: property → new value,
/// `None` when the row is deleted or its value set to null (which Windows
/// Installer treats as the property not existing). Later rows win. Only
/// the Property table (and the schema tables) are decoded; when `schema`
/// has no Property table, the well-known definition is used.
pub fn property_changes<S: Storage>(
    cf: &mut S,
    storage: &Path,
    schema: &Schema,
) -> Result<IndexMap<String, Option<String>>> {
    // Every database's Property table has the same two columns.
    let with_property;
    let schema = if schema.table(PROPERTY).is_some() {
        schema
    } else {
        with_property = {
            let mut s = schema.clone();
            s.insert(property_table());
            s
        };
        &with_property
    };
    let tables =
        read_tables(cf, storage, schema, Some(PROPERTY)).map_err(|e| at_storage(e, storage))?;
    let mut out = IndexMap::new();
    let Some(def) = tables.definitions.get(PROPERTY) else {
        return Ok(out);
    };
    let value_column = def
        .columns
        .iter()
        .find(|c| c.name == "Value")
        .or_else(|| def.columns.iter().find(|c| !c.key))
        .map(|c| c.name.clone());
    for row in tables.rows(PROPERTY) {
        let name = match row.key.first() {
            Some(Value::Str(s)) => s.clone(),
            _ => {
                return Err(at_storage(
                    Error::format("a Property row has a null property name")
                        .at(format!("row at offset {}", row.offset))
                        .at(table_part(PROPERTY)),
                    storage,
                ));
            }
        };
        let new = match row.kind {
            RowKind::Delete => None,
            RowKind::Insert | RowKind::Update => {
                match value_column.as_deref().and_then(|c| row.get(c)) {
                    Some(Value::Str(s)) => Some(s.clone()),
                    Some(_) => None,
                    // An update that does not touch the value changes nothing.
                    None if row.kind == RowKind::Update => continue,
                    None => None,
                }
            }
        };
        out.insert(name, new);
    }
    Ok(out)
}

/// The ComponentId each Component row of the transform `storage` sets,
/// by component key, in row order (a later row for the same key wins):
/// what an instance transform gives a component it isolates (WiX writes
/// a Component *modify* row per `MultiInstance` component). Rows that do
/// not carry ComponentId, set it to null or delete the row are left out.
/// Only the Component table (and the schema tables) are decoded; when
/// `schema` has no Component table, the standard definition is used.
pub fn component_ids<S: Storage>(
    cf: &mut S,
    storage: &Path,
    schema: &Schema,
) -> Result<IndexMap<String, String>> {
    let with_component;
    let schema = if schema.table(COMPONENT).is_some() {
        schema
    } else {
        with_component = {
            let mut s = schema.clone();
            s.insert(schema::component_table());
            s
        };
        &with_component
    };
    let tables =
        read_tables(cf, storage, schema, Some(COMPONENT)).map_err(|e| at_storage(e, storage))?;
    let mut out = IndexMap::new();
    for row in tables.rows(COMPONENT) {
        let (Some(Value::Str(key)), RowKind::Insert | RowKind::Update) =
            (row.key.first(), row.kind)
        else {
            continue;
        };
        if let Some(Value::Str(id)) = row.get("ComponentId") {
            out.insert(key.clone(), id.clone());
        }
    }
    Ok(out)
}

fn at_storage(e: Error, storage: &Path) -> Error {
    let name = container::path_text(storage);
    if name.is_empty() {
        e
    } else {
        e.at(container::storage_part(&name))
    }
}

fn table_part(name: &str) -> String {
    format!("table stream {}", container::show_name(name))
}

fn read_tables<S: Storage>(
    cf: &mut S,
    storage: &Path,
    schema: &Schema,
    only: Option<&str>,
) -> Result<TransformTables> {
    // The table streams present, by unpacked name.
    let entries = cf
        .children(storage)
        .map_err(|e| Error::io("cannot list the transform", e))?;
    let mut streams: Vec<(String, std::path::PathBuf)> = entries
        .into_iter()
        .filter(|e| e.is_stream)
        .filter_map(|e| {
            let decoded = streamname::decode(&e.name);
            decoded.is_table.then_some((decoded.name, e.path))
        })
        .collect();
    streams.sort();
    let path_of = |name: &str| {
        streams
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
    };

    let pool_path = path_of(STRING_POOL).ok_or_else(|| {
        Error::format("has no _StringPool stream, so it is not a transform (or is damaged)")
    })?;
    let pool_bytes = container::read_stream_bounded(cf, &pool_path, MAX_POOL_LEN)?;
    let data_bytes = match path_of(STRING_DATA) {
        Some(p) => container::read_stream_bounded(cf, &p, MAX_STRING_DATA_LEN)?,
        None => Vec::new(),
    };
    let pool = StringPool::parse(&pool_bytes, &data_bytes)?;

    let read = |cf: &mut S, def: &TableDef| -> Result<Option<Vec<RowOp>>> {
        let Some(path) = path_of(&def.name) else {
            return Ok(None);
        };
        let bytes = container::read_stream_bounded(cf, &path, MAX_TABLE_LEN)
            .map_err(|e| e.at(table_part(&def.name)))?;
        decode_rows(def, &bytes, &pool)
            .map(Some)
            .map_err(|e| e.at(table_part(&def.name)))
    };

    let mut out = TransformTables {
        code_page: pool.code_page(),
        long_string_refs: pool.long_refs(),
        tables: IndexMap::new(),
        definitions: IndexMap::new(),
        added_tables: Vec::new(),
        dropped_tables: Vec::new(),
        undecoded: Vec::new(),
    };

    let tables_def = tables_table();
    if let Some(rows) = read(cf, &tables_def)? {
        for row in &rows {
            if let Some(Value::Str(name)) = row.key.first() {
                match row.kind {
                    RowKind::Delete => out.dropped_tables.push(name.clone()),
                    _ => out.added_tables.push(name.clone()),
                }
            }
        }
        out.tables.insert(TABLES.to_string(), rows);
    }
    let columns_def = columns_table();
    let mut added = IndexMap::new();
    if let Some(rows) = read(cf, &columns_def)? {
        added = added_columns(&rows, schema, &out.added_tables)
            .map_err(|e| e.at(table_part(COLUMNS)))?;
        out.tables.insert(COLUMNS.to_string(), rows);
    }
    out.definitions.insert(TABLES.to_string(), tables_def);
    out.definitions.insert(COLUMNS.to_string(), columns_def);

    for (name, _) in &streams {
        let name = name.as_str();
        if [STRING_POOL, STRING_DATA, TABLES, COLUMNS].contains(&name) {
            continue;
        }
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let def = match added.get(name) {
            Some(def) => Some(def),
            None => schema.table(name),
        };
        let Some(def) = def else {
            out.undecoded.push(name.to_string());
            continue;
        };
        if let Some(rows) = read(cf, def)? {
            out.tables.insert(name.to_string(), rows);
            out.definitions.insert(name.to_string(), def.clone());
        }
    }
    // A table the caller asked for is defined even when unchanged.
    if let Some(o) = only
        && let Some(def) = added.get(o).or_else(|| schema.table(o))
    {
        out.definitions
            .entry(o.to_string())
            .or_insert_with(|| def.clone());
    }
    Ok(out)
}

/// The complete definitions of the tables whose columns the transform's
/// `_Columns` rows add to: new tables, and existing tables with columns
/// appended.
fn added_columns(
    rows: &[RowOp],
    schema: &Schema,
    new_tables: &[String],
) -> Result<IndexMap<String, TableDef>> {
    let mut defs: IndexMap<String, TableDef> = IndexMap::new();
    for row in rows.iter().filter(|r| r.kind == RowKind::Insert) {
        let at_row = |e: Error| e.at(format!("row at offset {}", row.offset));
        let (Some(Value::Str(table)), Some(Value::Str(name)), Some(Value::Int(bits))) =
            (row.key.first(), row.get("Name"), row.get("Type"))
        else {
            return Err(at_row(Error::format(
                "a _Columns row lacks its Table, Name or Type",
            )));
        };
        let def = defs.entry(table.clone()).or_insert_with(|| {
            let existing = if new_tables.contains(table) {
                None
            } else {
                schema.table(table)
            };
            existing
                .cloned()
                .unwrap_or_else(|| TableDef::new(table.clone(), Vec::new()))
        });
        let column =
            ColumnDef::from_type_bits(name, *bits).map_err(|e| at_row(Error::format(e)))?;
        let next = def.columns.len() + 1;
        let number = match row.key.get(1) {
            Some(Value::Int(n)) => usize::try_from(*n).unwrap_or(0),
            _ => next,
        };
        if number == next {
            def.columns.push(column);
        } else if def
            .columns
            .get(number.wrapping_sub(1))
            .is_some_and(|c| c.name == column.name)
        {
            // Restates a column the table already has.
        } else {
            return Err(at_row(Error::format(format!(
                "column {name} of table {table} has number {number}, but the table has \
                 {} columns so far: numbers must continue the existing ones",
                def.columns.len()
            ))));
        }
    }
    Ok(defs)
}

//==========================================================================//

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
pub(crate) mod tests;
