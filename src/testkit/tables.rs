//! Real table streams for a patch's transforms, shared by the patch
//! builder ([`super::synth`]) and the multi-instance products
//! ([`super::components`]): Component *insert* rows (what a patch that
//! adds a component carries), Property updates, and as many filler strings
//! as a test needs to bring the string pool near or past 65,535 ids (2- and
//! 3-byte string references). Its own module so that the patch builder and
//! the products each depend on it and not on each other.

use std::io;

use crate::format::streamname;
use crate::format::transform::edit::TransformEditor;
use crate::format::transform::{
    COMPONENT, ColumnDef, ColumnKind, PROPERTY, Schema, TableDef, Value,
};
/// The code page of the string pools written here (Windows-1252, what
/// WiX writes by default).
pub const CODE_PAGE: u32 = 1252;

/// One Component row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSpec {
    /// The Component key, e.g. `NewComp`.
    pub key: String,
    /// The ComponentId as written in the row (WiX writes braced upper
    /// case).
    pub guid: String,
    /// Directory_.
    pub directory: String,
    /// Attributes.
    pub attributes: i32,
    /// KeyPath, or null (the directory is the key path).
    pub key_path: Option<String>,
}

impl ComponentSpec {
    /// A component in `INSTALLFOLDER` with attributes 0 and a null key
    /// path.
    pub fn new(key: &str, guid: &str) -> ComponentSpec {
        ComponentSpec {
            key: key.into(),
            guid: guid.into(),
            directory: "INSTALLFOLDER".into(),
            attributes: 0,
            key_path: None,
        }
    }

    /// The row's values in column order.
    fn values(&self) -> Vec<Value> {
        vec![
            Value::Str(self.key.clone()),
            Value::Str(self.guid.clone()),
            Value::Str(self.directory.clone()),
            Value::Int(self.attributes),
            Value::Null,
            self.key_path.clone().map_or(Value::Null, Value::Str),
        ]
    }
}

/// The tables of a transform written for real.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransformTables {
    /// Property *updates* (name, value), in order, before anything else.
    pub properties: Vec<(String, String)>,
    /// Component rows the transform *inserts*, in order.
    pub components: Vec<ComponentSpec>,
    /// The feature the components join (a FeatureComponents insert each,
    /// so that installing the patch installs them), if any.
    pub feature: Option<String>,
    /// Distinct filler strings added to the pool first, through Property
    /// inserts `FillNNNNNN` = `fNNNNNN` (two strings a row; an odd count
    /// leaves the last value null): pools near or past 65,535 ids.
    pub filler_strings: usize,
}

impl TransformTables {
    /// A patch transform that adds `components` and sets ProductVersion to
    /// `version`.
    pub fn adding(components: Vec<ComponentSpec>, version: &str) -> TransformTables {
        TransformTables {
            properties: vec![("ProductVersion".into(), version.into())],
            components,
            feature: None,
            filler_strings: 0,
        }
    }
}

/// The feature of the sample product.
pub const FEATURE: &str = "Main";

/// The tables of the products here that transforms change: Property and
/// Component (see [`Schema::standard`]) and FeatureComponents (Feature_
/// and Component_, both key strings, in every database).
pub fn schema() -> Schema {
    let mut schema = Schema::standard();
    schema.insert(TableDef::new(
        FEATURE_COMPONENTS,
        vec![
            ColumnDef::new("Feature_", ColumnKind::String, true),
            ColumnDef::new("Component_", ColumnKind::String, true),
        ],
    ));
    schema
}

pub(crate) const FEATURE_COMPONENTS: &str = "FeatureComponents";

pub(crate) fn other(e: crate::error::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// The streams of a transform holding `tables`: `(packed name, bytes)` of
/// `_StringPool`, `_StringData` and each table stream.
pub fn transform_streams(tables: &TransformTables) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut editor = TransformEditor::new(CODE_PAGE, &schema()).map_err(other)?;
    let mut n = 0;
    while n < tables.filler_strings {
        let value = if n + 1 < tables.filler_strings {
            Value::Str(format!("f{n:06}"))
        } else {
            Value::Null
        };
        editor
            .insert_row(PROPERTY, &[Value::Str(format!("Fill{n:06}")), value])
            .map_err(other)?;
        n += 2;
    }
    for (name, value) in &tables.properties {
        editor
            .update_row(
                PROPERTY,
                &[Value::Str(name.clone())],
                &[("Value", Value::Str(value.clone()))],
            )
            .map_err(other)?;
    }
    for c in &tables.components {
        editor.insert_row(COMPONENT, &c.values()).map_err(other)?;
    }
    if let Some(feature) = &tables.feature {
        for c in &tables.components {
            editor
                .insert_row(
                    FEATURE_COMPONENTS,
                    &[Value::Str(feature.clone()), Value::Str(c.key.clone())],
                )
                .map_err(other)?;
        }
    }
    encoded_streams(&editor)
}

/// Every stream an editor's transform holds, under its stored name: the
/// string pool and each table it wrote.
pub(crate) fn encoded_streams(editor: &TransformEditor) -> io::Result<Vec<(String, Vec<u8>)>> {
    let out = editor.finish().map_err(other)?;
    let (pool, data) = editor.pool().to_streams();
    let mut streams = vec![
        (streamname::encode("_StringPool", true), pool),
        (streamname::encode("_StringData", true), data),
    ];
    for (name, bytes) in out.tables {
        streams.push((streamname::encode(&name, true), bytes));
    }
    Ok(streams)
}
