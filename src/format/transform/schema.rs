//! Table definitions: the base database's schema that a transform's rows
//! are decoded against, and the fixed definitions of `_Tables`/`_Columns`.

use std::io::{Read, Seek};

use indexmap::IndexMap;
use serde::Serialize;

use super::{COLUMNS, COMPONENT, PROPERTY, TABLES};

// Bits of a column's type in `_Columns.Type`.
const TYPE_SIZE_MASK: i32 = 0xFF;
const TYPE_VALID: i32 = 0x0100;
const TYPE_STRING: i32 = 0x0800;
const TYPE_NULLABLE: i32 = 0x1000;
const TYPE_KEY: i32 = 0x2000;

/// How a column's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// 16-bit integer (2 bytes, offset 0x8000).
    Int16,
    /// 32-bit integer (4 bytes, offset 0x80000000).
    Int32,
    /// String reference into the pool (2 or 3 bytes).
    String,
    /// Binary data in a stream named after the row's key (2 bytes).
    Stream,
}

impl ColumnKind {
    /// Bytes a value of this kind takes in a row.
    pub fn width(self, long_string_refs: bool) -> usize {
        match self {
            ColumnKind::Int16 | ColumnKind::Stream => 2,
            ColumnKind::Int32 => 4,
            ColumnKind::String if long_string_refs => 3,
            ColumnKind::String => 2,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Storage kind.
    pub kind: ColumnKind,
    /// Part of the primary key.
    pub key: bool,
}

impl ColumnDef {
    /// A column.
    pub fn new(name: impl Into<String>, kind: ColumnKind, key: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            kind,
            key,
        }
    }

    /// Decodes the `Type` bits of a `_Columns` row: string bit 0x0800
    /// (with 0x0100 alone besides nullability meaning a binary stream),
    /// otherwise an integer of the byte size in the low byte (1–2 → 16
    /// bits, 4 → 32 bits); key bit 0x2000.
    pub fn from_type_bits(name: &str, bits: i32) -> std::result::Result<ColumnDef, String> {
        let key = bits & TYPE_KEY != 0;
        let kind = if bits & !TYPE_NULLABLE == TYPE_STRING | TYPE_VALID {
            ColumnKind::Stream
        } else if bits & TYPE_STRING != 0 {
            ColumnKind::String
        } else {
            match bits & TYPE_SIZE_MASK {
                0..=2 => ColumnKind::Int16,
                4 => ColumnKind::Int32,
                size => {
                    return Err(format!(
                        "column {name}: type 0x{bits:04X} is an integer of {size} bytes; \
                         only 2 and 4 exist"
                    ));
                }
            }
        };
        Ok(ColumnDef::new(name, kind, key))
    }
}

/// The columns of one table, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDef {
    /// Table name.
    pub name: String,
    /// Columns in stored order.
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// A table definition.
    pub fn new(name: impl Into<String>, columns: Vec<ColumnDef>) -> TableDef {
        TableDef {
            name: name.into(),
            columns,
        }
    }

    /// The number of key columns.
    pub fn key_count(&self) -> usize {
        self.columns.iter().filter(|c| c.key).count()
    }

    /// The index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// The table definitions of a base database: what a transform's rows are
/// decoded against.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    tables: IndexMap<String, TableDef>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// The schema of a database opened with the `msi` crate.
    pub fn from_package<F: Read + Seek>(package: &msi::Package<F>) -> Schema {
        let mut schema = Schema::new();
        for table in package.tables() {
            if table.name() == TABLES || table.name() == COLUMNS {
                continue;
            }
            let columns = table
                .columns()
                .iter()
                .map(|c| {
                    let kind = match c.coltype() {
                        msi::ColumnType::Int16 => ColumnKind::Int16,
                        msi::ColumnType::Int32 => ColumnKind::Int32,
                        msi::ColumnType::Str(_) => ColumnKind::String,
                        msi::ColumnType::Binary => ColumnKind::Stream,
                    };
                    ColumnDef::new(c.name(), kind, c.is_primary_key())
                })
                .collect();
            schema.insert(TableDef::new(table.name(), columns));
        }
        schema
    }

    /// The well-known definition of the Property table alone (Property:
    /// key string, Value: string): enough to read an instance transform
    /// without its product.
    pub fn property_only() -> Schema {
        let mut schema = Schema::new();
        schema.insert(property_table());
        schema
    }

    /// The well-known definitions of the Property and Component tables:
    /// what a patch's main transform is read against to find the
    /// components it adds when the product's own database is not at hand.
    /// Every Windows Installer database defines Component with these six
    /// columns (the "Component Table" page of the Windows Installer SDK:
    /// Component s72 key, ComponentId S38, Directory_ s72, Attributes i2,
    /// Condition S255, KeyPath S72).
    pub fn standard() -> Schema {
        let mut schema = Schema::property_only();
        schema.insert(component_table());
        schema
    }

    /// Adds or replaces a table definition.
    pub fn insert(&mut self, table: TableDef) {
        self.tables.insert(table.name.clone(), table);
    }

    /// The definition of `name`.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.get(name)
    }

    /// The names of all tables.
    #[cfg(any(test, feature = "testkit"))]
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

/// The cells Windows Installer products vary from one instance to the
/// next, as (table, column): an instance that shares a component code with
/// another shares the component itself (one component, two clients), so
/// products whose instances isolate components give each instance its own
/// ComponentId ("Authoring Multiple Instances with Instance Transforms",
/// Windows Installer documentation; WiX `Component/@MultiInstance`). The
/// tables named here are decoded without the product, with the
/// definitions of [`Schema::per_instance`].
pub const PER_INSTANCE_CELLS: &[(&str, &str)] = &[(COMPONENT, "ComponentId")];

impl Schema {
    /// The standard definitions of the tables of [`PER_INSTANCE_CELLS`]
    /// (see [`Schema::standard`]): what reading a patch's transforms needs
    /// to decode those cells without the product (a patch transform lists
    /// only the columns it adds, and these tables exist in every product).
    pub fn per_instance() -> Schema {
        let mut schema = Schema::new();
        schema.insert(component_table());
        schema
    }
}

pub(super) fn property_table() -> TableDef {
    TableDef::new(
        PROPERTY,
        vec![
            ColumnDef::new("Property", ColumnKind::String, true),
            ColumnDef::new("Value", ColumnKind::String, false),
        ],
    )
}

/// The Component table as every database defines it (see
/// [`Schema::standard`]).
pub(super) fn component_table() -> TableDef {
    TableDef::new(
        COMPONENT,
        vec![
            ColumnDef::new("Component", ColumnKind::String, true),
            ColumnDef::new("ComponentId", ColumnKind::String, false),
            ColumnDef::new("Directory_", ColumnKind::String, false),
            ColumnDef::new("Attributes", ColumnKind::Int16, false),
            ColumnDef::new("Condition", ColumnKind::String, false),
            ColumnDef::new("KeyPath", ColumnKind::String, false),
        ],
    )
}

/// The definition of `_Tables`, the same in a transform and a database.
pub(crate) fn tables_table() -> TableDef {
    TableDef::new(
        TABLES,
        vec![ColumnDef::new("Name", ColumnKind::String, true)],
    )
}

/// The definition of `_Columns`, the same in a transform and a database.
pub(crate) fn columns_table() -> TableDef {
    TableDef::new(
        COLUMNS,
        vec![
            ColumnDef::new("Table", ColumnKind::String, true),
            ColumnDef::new("Number", ColumnKind::Int16, true),
            ColumnDef::new("Name", ColumnKind::String, false),
            ColumnDef::new("Type", ColumnKind::Int16, false),
        ],
    )
}
