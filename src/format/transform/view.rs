//! What a transform changes, table by table and row by row, for people and
//! for `--json`: the tables it touches (added, dropped, changed), and per
//! row whether it is inserted, updated (which columns, old → new where the
//! base database is known) or deleted.
//!
//! Old values come from the base database's rows ([`BaseRows`]), read by
//! the caller through the `msi` crate; without a base, updates show only
//! the new values, and tables the transform does not itself define cannot
//! be decoded (they are listed as such).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Seek};

use indexmap::IndexMap;
use serde::Serialize;

use super::{COLUMNS, RowKind, TABLES, TransformTables, Value};

/// One column a row sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnChange {
    /// The column.
    pub column: String,
    /// The base database's value, when the base is known and has the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value the transform gives.
    pub new: Value,
}

/// One row operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowChange {
    /// Insert (or replace), update or delete.
    pub op: RowKind,
    /// The key values.
    pub key: Vec<Value>,
    /// Whether the base database has a row with this key (`None`: no base
    /// given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_base: Option<bool>,
    /// The non-key columns the row carries.
    pub columns: Vec<ColumnChange>,
}

/// The changes to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableChanges {
    /// The table.
    pub table: String,
    /// Whether the transform adds the table.
    pub added: bool,
    /// The row operations, in stream order.
    pub rows: Vec<RowChange>,
}

/// Everything a transform changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransformChanges {
    /// Tables the transform adds.
    pub added_tables: Vec<String>,
    /// Tables the transform drops.
    pub dropped_tables: Vec<String>,
    /// Per table (the schema tables `_Tables`/`_Columns` left out: they are
    /// summed up by `added_tables`, `dropped_tables` and each added table's
    /// columns), by name.
    pub tables: Vec<TableChanges>,
    /// Table streams that could not be decoded: neither the base nor the
    /// transform defines them.
    pub undecoded: Vec<String>,
}

/// One table's rows by key: the non-key (column, value) pairs.
type RowsByKey = BTreeMap<Vec<Value>, Vec<(String, Value)>>;

/// Rows of the base database, by table and key, for old values.
#[derive(Debug, Clone, Default)]
pub struct BaseRows {
    tables: HashMap<String, RowsByKey>,
}

impl BaseRows {
    /// Reads the rows of `tables` (those the package has) from `package`.
    /// The `msi` crate is trusted with the database here: the caller opens
    /// it through the project's guarded entry.
    pub fn from_package<F: Read + Seek>(
        package: &mut msi::Package<F>,
        tables: &[&str],
    ) -> std::io::Result<BaseRows> {
        let mut out = BaseRows::default();
        for name in tables {
            let Some(table) = package.get_table(name) else {
                continue;
            };
            let columns: Vec<(String, bool)> = table
                .columns()
                .iter()
                .map(|c| (c.name().to_string(), c.is_primary_key()))
                .collect();
            let mut rows = BTreeMap::new();
            for row in package.select_rows(msi::Select::table(*name))? {
                let mut key = Vec::new();
                let mut values = Vec::new();
                for (i, (column, is_key)) in columns.iter().enumerate() {
                    let v = match &row[i] {
                        msi::Value::Null => Value::Null,
                        msi::Value::Int(n) => Value::Int(*n),
                        msi::Value::Str(s) => Value::Str(s.clone()),
                        msi::Value::Binary => Value::Stream(String::new()),
                    };
                    if *is_key {
                        key.push(v);
                    } else {
                        values.push((column.clone(), v));
                    }
                }
                rows.insert(key, values);
            }
            out.tables.insert(name.to_string(), rows);
        }
        Ok(out)
    }

    /// Adds one row (for tests, which build a base by hand).
    #[cfg(test)]
    pub fn insert(&mut self, table: &str, key: Vec<Value>, values: Vec<(String, Value)>) {
        self.tables
            .entry(table.to_string())
            .or_default()
            .insert(key, values);
    }

    fn row(&self, table: &str, key: &[Value]) -> Option<&Vec<(String, Value)>> {
        self.tables.get(table).and_then(|t| t.get(key))
    }

    fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }
}

/// The changes of a decoded transform; `base` supplies old values.
pub fn describe(t: &TransformTables, base: Option<&BaseRows>) -> TransformChanges {
    let mut tables = Vec::new();
    for (name, rows) in &t.tables {
        if name == TABLES || name == COLUMNS {
            continue;
        }
        let added = t.added_tables.contains(name);
        // A base that lacks the table (one the transform adds) knows no row.
        let base = base.filter(|b| !added && b.has_table(name));
        let rows = rows
            .iter()
            .map(|r| {
                let old_row = base.and_then(|b| b.row(name, &r.key));
                let old = |column: &str| {
                    old_row
                        .and_then(|vs| vs.iter().find(|(c, _)| c == column).map(|(_, v)| v.clone()))
                };
                RowChange {
                    op: r.kind,
                    key: r.key.clone(),
                    in_base: base.map(|_| old_row.is_some()),
                    columns: r
                        .columns
                        .iter()
                        .map(|(c, v)| ColumnChange {
                            column: c.clone(),
                            old: old(c),
                            new: v.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        tables.push(TableChanges {
            table: name.clone(),
            added,
            rows,
        });
    }
    TransformChanges {
        added_tables: t.added_tables.clone(),
        dropped_tables: t.dropped_tables.clone(),
        tables,
        undecoded: t.undecoded.clone(),
    }
}

/// The tables whose old values a base could supply: the changed tables the
/// transform does not add.
pub fn tables_needing_base(t: &TransformTables) -> Vec<&str> {
    t.tables
        .keys()
        .filter(|n| *n != TABLES && *n != COLUMNS && !t.added_tables.contains(n))
        .map(String::as_str)
        .collect()
}

fn key_text(key: &[Value]) -> String {
    key.iter()
        .map(|v| match v {
            Value::Str(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the changes for people, each line starting with `indent`.
pub fn render(c: &TransformChanges, indent: &str) -> String {
    let mut s = String::new();
    for t in &c.added_tables {
        let _ = writeln!(s, "{indent}adds table {t}");
    }
    for t in &c.dropped_tables {
        let _ = writeln!(s, "{indent}drops table {t}");
    }
    for t in &c.tables {
        let counts: IndexMap<&str, usize> = t.rows.iter().fold(IndexMap::new(), |mut m, r| {
            *m.entry(match r.op {
                RowKind::Insert => "insert",
                RowKind::Update => "update",
                RowKind::Delete => "delete",
            })
            .or_insert(0) += 1;
            m
        });
        let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            s,
            "{indent}{}{} ({})",
            t.table,
            if t.added { " (new table)" } else { "" },
            summary.join(", ")
        );
        for r in &t.rows {
            let what = match (r.op, r.in_base) {
                (RowKind::Insert, Some(true)) => "replace",
                (RowKind::Insert, _) => "insert",
                (RowKind::Update, Some(false)) => "update (row not in base)",
                (RowKind::Update, _) => "update",
                (RowKind::Delete, Some(false)) => "delete (row not in base)",
                (RowKind::Delete, _) => "delete",
            };
            let _ = writeln!(s, "{indent}  {what} [{}]", key_text(&r.key));
            for col in &r.columns {
                match &col.old {
                    Some(old) if *old != col.new => {
                        let _ = writeln!(s, "{indent}    {}: {old} -> {}", col.column, col.new);
                    }
                    Some(_) => {
                        let _ = writeln!(s, "{indent}    {}: {} (unchanged)", col.column, col.new);
                    }
                    None => {
                        let _ = writeln!(s, "{indent}    {}: {}", col.column, col.new);
                    }
                }
            }
        }
    }
    for t in &c.undecoded {
        let _ = writeln!(
            s,
            "{indent}{t} (not decoded: neither the transform nor the base defines the table; \
             give the base database)"
        );
    }
    s
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::transform::tests::{words, write_transform};
    use crate::format::transform::{Schema, read_transform_tables};
    use cfb::CompoundFile;
    use std::io::Cursor;
    use std::path::Path;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn instance_like() -> TransformTables {
        let strings = [
            "ProductCode",
            "{1F9B1809-273F-4036-AB02-26D19171D5AE}",
            "ProductName",
            "Instance 1",
            "Gone",
            "New",
            "v",
        ];
        #[rustfmt::skip]
        let rows = words(&[
            0x0002, 1, 2, // update ProductCode
            0x0002, 3, 4, // update ProductName
            0x0000, 5,    // delete Gone
            0x0201, 6, 7, // insert New = v
        ]);
        let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        write_transform(&mut cf, "/T", &strings, false, &[("Property", rows)]);
        read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap()
    }

    #[test]
    fn without_a_base_rows_show_new_values_only() {
        let c = describe(&instance_like(), None);
        assert_eq!(c.tables.len(), 1);
        let rows = &c.tables[0].rows;
        assert_eq!(
            rows.iter().map(|r| r.op).collect::<Vec<_>>(),
            [
                RowKind::Update,
                RowKind::Update,
                RowKind::Delete,
                RowKind::Insert
            ]
        );
        assert_eq!(rows[0].in_base, None);
        assert_eq!(rows[0].columns[0].old, None);
        let text = render(&c, "");
        assert!(
            text.contains("Property (2 update, 1 delete, 1 insert)"),
            "{text}"
        );
        assert!(
            text.contains("  update [ProductCode]\n    Value: \"{1F9B1809"),
            "{text}"
        );
        assert!(text.contains("  delete [Gone]"), "{text}");
    }

    #[test]
    fn with_a_base_updates_show_old_and_new() {
        let mut base = BaseRows::default();
        base.insert(
            "Property",
            vec![s("ProductCode")],
            vec![("Value".into(), s("{4014E041-A968-4DE3-B43C-322DF9A19359}"))],
        );
        base.insert("Property", vec![s("Gone")], vec![("Value".into(), s("x"))]);
        let c = describe(&instance_like(), Some(&base));
        let rows = &c.tables[0].rows;
        assert_eq!(rows[0].in_base, Some(true));
        assert_eq!(
            rows[0].columns[0].old,
            Some(s("{4014E041-A968-4DE3-B43C-322DF9A19359}"))
        );
        assert_eq!(rows[1].in_base, Some(false));
        let text = render(&c, "  ");
        assert!(
            text.contains(
                "    Value: \"{4014E041-A968-4DE3-B43C-322DF9A19359}\" -> \
                 \"{1F9B1809-273F-4036-AB02-26D19171D5AE}\""
            ),
            "{text}"
        );
        assert!(
            text.contains("update (row not in base) [ProductName]"),
            "{text}"
        );
        assert!(text.contains("  insert [New]"), "{text}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["tables"][0]["rows"][0]["op"], "update");
        assert_eq!(
            json["tables"][0]["rows"][0]["columns"][0]["old"]["str"],
            "{4014E041-A968-4DE3-B43C-322DF9A19359}"
        );
        assert!(
            json["tables"][0]["rows"][3]["columns"][0]
                .get("old")
                .is_none()
        );
    }
}
