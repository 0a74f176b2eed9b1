use super::*;
use crate::format::transform::tests::{pool_streams, words, write_transform};
use crate::format::transform::write::tests::big_pool;
use crate::format::transform::{ColumnDef, read_transform_tables};
use cfb::CompoundFile;
use std::io::Cursor;

const G: &str = "{0C1D3B2A-0000-4000-8000-000000000001}";
const G2: &str = "{0C1D3B2A-0000-4000-8000-000000000002}";
const NEW: &str = "{9E1F7A55-1111-5222-9333-444455556666}";

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

/// Table streams by name.
type Tables = Vec<(String, Vec<u8>)>;

fn schema() -> Schema {
    let mut schema = Schema::property_only();
    schema.insert(TableDef::new(
        "Component",
        vec![
            ColumnDef::new("Component", ColumnKind::String, true),
            ColumnDef::new("ComponentId", ColumnKind::String, false),
            ColumnDef::new("Directory_", ColumnKind::String, false),
            ColumnDef::new("Attributes", ColumnKind::Int16, false),
            ColumnDef::new("Condition", ColumnKind::String, false),
            ColumnDef::new("KeyPath", ColumnKind::String, false),
        ],
    ));
    schema.insert(TableDef::new(
        "Media",
        vec![
            ColumnDef::new("DiskId", ColumnKind::Int16, true),
            ColumnDef::new("LastSequence", ColumnKind::Int32, false),
        ],
    ));
    schema
}

/// A patch-like transform: a Component insert whose GUID string G is also
/// the value of a Property row, and an update of another component.
///
/// Strings: 1 NewComp, 2 G, 3 INSTALLDIR, 4 Old, 5 G2, 6 Shared.
fn patch_transform() -> (Vec<u8>, Vec<u8>, Tables) {
    let strings = ["NewComp", G, "INSTALLDIR", "Old", G2, "Shared"];
    let (mut pool, data) = pool_streams(&strings, 0);
    #[rustfmt::skip]
    let component = words(&[
        0x0601, 1, 2, 3, 0x8000, 0, 1, // insert NewComp = G
        0x0002, 4, 5,                  // update Old: ComponentId = G2
    ]);
    let property = words(&[0x0201, 6, 2]); // insert Shared = G
    // Counts as Windows Installer writes them: NewComp 2, G 2, others 1.
    for (id, refs) in [(1u16, 2u16), (2, 2)] {
        let at = 4 * usize::from(id) + 2;
        pool[at..at + 2].copy_from_slice(&refs.to_le_bytes());
    }
    let tables = vec![
        ("Component".to_string(), component),
        ("Property".to_string(), property),
        ("Media".to_string(), words(&[0x0201, 0x8002, 2, 0x8000])),
    ];
    (pool, data, tables)
}

fn editor() -> TransformEditor {
    let (pool, data, tables) = patch_transform();
    TransformEditor::from_streams(&pool, &data, tables, &schema()).unwrap()
}

/// Each id's stored count equals the cells pointing at it.
fn assert_counts_match(e: &TransformEditor) {
    for id in 1..=e.pool().len() as u32 {
        assert_eq!(
            Some(u32::from(e.pool().refcount(id))),
            e.pool().seen_refs(id),
            "string {id}"
        );
    }
}

#[test]
fn an_unedited_transform_writes_nothing() {
    let e = editor();
    assert!(e.finish().unwrap().is_empty());
    assert_counts_match(&e);
    assert_eq!(
        e.table_names().collect::<Vec<_>>(),
        ["Component", "Media", "Property"]
    );
}

#[test]
fn a_shared_guid_is_not_rewritten_only_the_declared_cell_is_repointed() {
    let before = editor();
    let mut e = before.clone();
    let changes = e
        .set_where(
            "Component",
            RowFilter::Inserts,
            "ComponentId",
            &s(G),
            &s(NEW),
        )
        .unwrap();
    assert_eq!(
        changes,
        [Change::Cell {
            table: "Component".into(),
            key: vec![s("NewComp")],
            row: RowKind::Insert,
            column: "ComponentId".into(),
            old: Some(s(G)),
            new: s(NEW),
        }]
    );
    // G stays (the Property row still points at it), one reference less;
    // the new code is appended as string 7.
    assert_eq!(e.pool().get(2).unwrap().as_deref(), Some(G));
    assert_eq!(e.pool().refcount(2), 1);
    assert_eq!(e.pool().find(NEW), Some(7));
    assert_counts_match(&e);
    let out = e.finish().unwrap();
    assert_eq!(out.tables.keys().collect::<Vec<_>>(), ["Component"]);
    let (pool, data) = out.pool.clone().unwrap();
    assert_eq!(
        data,
        [patch_transform().1, NEW.as_bytes().to_vec()].concat()
    );
    #[rustfmt::skip]
    assert_eq!(out.tables["Component"], words(&[
        0x0601, 1, 7, 3, 0x8000, 0, 1,
        0x0002, 4, 5,
    ]));
    // Decoding the written streams finds exactly the declared change; the
    // Property row still says G.
    let (_, _, tables) = patch_transform();
    let merged: Vec<(String, Vec<u8>)> = tables
        .into_iter()
        .map(|(n, b)| {
            let b = out.tables.get(&n).cloned().unwrap_or(b);
            (n, b)
        })
        .collect();
    let after = TransformEditor::from_streams(&pool, &data, merged, &schema()).unwrap();
    assert_eq!(changes_between(&before, &after).unwrap(), changes);
    assert_eq!(after.rows("Property").unwrap()[0].get("Value"), Some(&s(G)));
    assert_counts_match(&after);
}

#[test]
fn set_where_looks_only_at_the_rows_the_filter_admits() {
    let mut e = editor();
    // G2 is in an update row: an insert filter finds nothing.
    let none = e
        .set_where(
            "Component",
            RowFilter::Inserts,
            "ComponentId",
            &s(G2),
            &s(NEW),
        )
        .unwrap();
    assert!(none.is_empty());
    assert!(e.finish().unwrap().is_empty());
    let one = e
        .set_where(
            "Component",
            RowFilter::Updates,
            "ComponentId",
            &s(G2),
            &s(NEW),
        )
        .unwrap();
    assert_eq!(one.len(), 1);
    // G2 had one reference, now none: emptied, its bytes gone.
    assert_eq!(e.pool().refcount(5), 0);
    let (_, data) = e.finish().unwrap().pool.unwrap();
    assert!(!String::from_utf8_lossy(&data).contains(G2));
    assert_counts_match(&e);
    let e2 = e.set_where("Nope", RowFilter::Any, "X", &s(G), &s(NEW));
    assert!(e2.unwrap_err().to_string().contains("table Nope"));
    let e3 = e.set_where("Component", RowFilter::Any, "Nope", &s(G), &s(NEW));
    assert!(e3.unwrap_err().to_string().contains("has no column Nope"));
}

#[test]
fn set_cell_adds_the_column_to_rows_that_lack_it() {
    let mut e = editor();
    // The update of Old carries ComponentId only: setting Condition adds
    // bit 4 to its mask.
    let c = e
        .set_cell("Component", &[s("Old")], "Condition", &s("X"))
        .unwrap();
    assert_eq!(
        c,
        [Change::Cell {
            table: "Component".into(),
            key: vec![s("Old")],
            row: RowKind::Update,
            column: "Condition".into(),
            old: None,
            new: s("X"),
        }]
    );
    assert_eq!(e.raw_rows("Component")[1].mask, 0x0012);
    // Media's insert carries DiskId and LastSequence; integers are set too.
    let c = e
        .set_cell("Media", &[Value::Int(2)], "LastSequence", &Value::Int(-5))
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        e.rows("Media").unwrap()[0].get("LastSequence"),
        Some(&Value::Int(-5))
    );
    // Keys cannot be set, missing rows are an error.
    let k = e.set_cell("Component", &[s("Old")], "Component", &s("Z"));
    assert!(
        k.unwrap_err()
            .to_string()
            .contains("part of table Component's key")
    );
    let m = e.set_cell("Component", &[s("Missing")], "Condition", &s("X"));
    assert!(
        m.unwrap_err()
            .to_string()
            .contains("no insert or update row with key")
    );
    let i = e.set_cell(
        "Media",
        &[Value::Int(2)],
        "LastSequence",
        &Value::Int(i32::MIN),
    );
    assert!(
        i.unwrap_err()
            .to_string()
            .contains("null of a 32-bit column")
    );
    assert_counts_match(&e);
}

#[test]
fn an_insert_grows_to_carry_a_column_it_left_out() {
    let (pool, data) = pool_streams(&["C"], 0);
    let tables = vec![("Component".to_string(), words(&[0x0101, 1]))];
    let before = TransformEditor::from_streams(&pool, &data, tables.clone(), &schema()).unwrap();
    let mut e = before.clone();
    let declared = e
        .set_cell("Component", &[s("C")], "Attributes", &Value::Int(4))
        .unwrap();
    assert_eq!(
        declared,
        [Change::Cell {
            table: "Component".into(),
            key: vec![s("C")],
            row: RowKind::Insert,
            column: "Attributes".into(),
            old: Some(Value::Null),
            new: Value::Int(4),
        }]
    );
    // Setting it again to the same value changes nothing.
    assert!(
        e.set_cell("Component", &[s("C")], "Attributes", &Value::Int(4))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        e.finish().unwrap().tables["Component"],
        words(&[0x0401, 1, 0, 0, 0x8004])
    );
    let row = &e.rows("Component").unwrap()[0];
    assert_eq!(row.get("ComponentId"), Some(&Value::Null));
    assert_eq!(row.get("Attributes"), Some(&Value::Int(4)));
    // Decoding finds the declared change only: the columns the insert now
    // carries as null were null before.
    let out = e.finish().unwrap();
    let after = TransformEditor::from_streams(&pool, &data, out.tables, &schema()).unwrap();
    assert_eq!(changes_between(&before, &after).unwrap(), declared);
}

#[test]
fn rows_are_added_and_tables_created_from_the_schema() {
    let before = editor();
    let mut e = before.clone();
    let mut declared = vec![
        e.insert_row(
            "Component",
            &[
                s("Second"),
                s(G),
                s("INSTALLDIR"),
                Value::Int(0),
                Value::Null,
                Value::Null,
            ],
        )
        .unwrap(),
    ];
    declared.push(
        e.update_row(
            "Property",
            &[s("ProductName")],
            &[("Value", s("Instance 1"))],
        )
        .unwrap(),
    );
    declared.push(e.delete_row("Media", &[Value::Int(3)]).unwrap());
    assert_eq!(
        declared[1],
        Change::RowAdded {
            table: "Property".into(),
            key: vec![s("ProductName")],
            row: RowKind::Update,
            columns: vec![("Value".into(), s("Instance 1"))],
        }
    );
    assert_eq!(e.raw_rows("Property")[1].mask, 0x0002);
    assert_eq!(e.raw_rows("Media")[1].mask, 0);
    // G is shared by the new row: three references now.
    assert_eq!(e.pool().refcount(2), 3);
    assert_counts_match(&e);
    let out = e.finish().unwrap();
    let (pool, data) = out.pool.clone().unwrap();
    let (_, _, tables) = patch_transform();
    let merged: Vec<(String, Vec<u8>)> = tables
        .into_iter()
        .map(|(n, b)| (n.clone(), out.tables.get(&n).cloned().unwrap_or(b)))
        .collect();
    let after = TransformEditor::from_streams(&pool, &data, merged, &schema()).unwrap();
    declared.sort();
    assert_eq!(changes_between(&before, &after).unwrap(), declared);

    // A table the transform does not change yet gets its stream.
    let mut fresh = TransformEditor::new(1252, &schema()).unwrap();
    fresh
        .update_row("Component", &[s("C1")], &[("ComponentId", s(NEW))])
        .unwrap();
    let out = fresh.finish().unwrap();
    assert_eq!(out.tables["Component"], words(&[0x0002, 1, 2]));
    let (pool, data) = out.pool.clone().unwrap();
    assert_eq!(&pool[..4], &1252u32.to_le_bytes());
    assert_eq!(data, [b"C1".as_slice(), NEW.as_bytes()].concat());
    let names: Vec<String> = out.streams().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["_StringPool", "_StringData", "Component"].map(|n| streamname::encode(n, true))
    );
    // Wrong shapes are refused.
    assert!(fresh.insert_row("Component", &[s("x")]).is_err());
    assert!(fresh.update_row("Component", &[s("x")], &[]).is_err());
    assert!(fresh.delete_row("Component", &[]).is_err());
    assert!(fresh.insert_row("Unknown", &[s("x")]).is_err());
    let null_key = fresh.insert_row("Property", &[Value::Null, s("v")]);
    assert!(null_key.unwrap_err().to_string().contains("cannot be null"));
}

#[test]
fn three_byte_references_are_kept() {
    let strings = ["NewComp", G];
    let (pool, data) = pool_streams(&strings, 0x8000_0000);
    // Component insert of two columns with 3-byte references.
    let tables = vec![("Component".to_string(), vec![0x01, 0x02, 1, 0, 0, 2, 0, 0])];
    let mut e = TransformEditor::from_streams(&pool, &data, tables, &schema()).unwrap();
    assert!(e.pool().long_refs());
    e.set_where(
        "Component",
        RowFilter::Inserts,
        "ComponentId",
        &s(G),
        &s(NEW),
    )
    .unwrap();
    let out = e.finish().unwrap();
    assert_eq!(out.tables["Component"], [0x01, 0x02, 1, 0, 0, 3, 0, 0]);
    assert_eq!(&out.pool.unwrap().0[..4], &[0, 0, 0, 0x80]);
}

#[test]
fn passing_65535_strings_re_encodes_every_table_with_strings() {
    // 65,535 strings: the pool is full for 2-byte references. Component
    // points at s0 (key) and s1 (GUID), Property at s2 = s3, Media holds
    // no strings.
    // Every string has a count of 1, so none is free: the new one needs
    // id 65,536.
    let (pool, data) = big_pool(65_535);
    let tables = vec![
        ("Component".to_string(), words(&[0x0201, 1, 2])),
        ("Property".to_string(), words(&[0x0201, 3, 4])),
        ("Media".to_string(), words(&[0x0101, 0x8001])),
    ];
    let before = TransformEditor::from_streams(&pool, &data, tables.clone(), &schema()).unwrap();
    let mut e = before.clone();
    let declared = e
        .set_where(
            "Component",
            RowFilter::Inserts,
            "ComponentId",
            &s("s1"),
            &s(NEW),
        )
        .unwrap();
    assert_eq!(e.pool().find(NEW), Some(65_536));
    assert!(e.pool().long_refs_changed());
    let out = e.finish().unwrap();
    assert_eq!(
        out.tables.keys().collect::<Vec<_>>(),
        ["Component", "Property"]
    );
    assert_eq!(out.tables["Component"], [0x01, 0x02, 1, 0, 0, 0, 0, 1]);
    assert_eq!(out.tables["Property"], [0x01, 0x02, 3, 0, 0, 4, 0, 0]);
    let (pool, data) = out.pool.clone().unwrap();
    assert_eq!(&pool[..4], &[0, 0, 0, 0x80]);
    let merged: Vec<(String, Vec<u8>)> = tables
        .into_iter()
        .map(|(n, b)| (n.clone(), out.tables.get(&n).cloned().unwrap_or(b)))
        .collect();
    let after = TransformEditor::from_streams(&pool, &data, merged, &schema()).unwrap();
    assert_eq!(changes_between(&before, &after).unwrap(), declared);
}

#[test]
fn passing_65535_strings_with_an_undecodable_table_is_refused() {
    let (pool, data) = big_pool(65_535);
    let tables = vec![
        ("Component".to_string(), words(&[0x0201, 1, 2])),
        ("Mystery".to_string(), words(&[0x0101, 3])),
    ];
    let mut e = TransformEditor::from_streams(&pool, &data, tables, &schema()).unwrap();
    assert_eq!(e.undecoded(), ["Mystery"]);
    let err = e
        .set_where(
            "Component",
            RowFilter::Inserts,
            "ComponentId",
            &s("s1"),
            &s(NEW),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("3-byte string references"), "{err}");
    assert!(err.contains("Mystery"), "{err}");
}

#[test]
fn a_free_slot_is_reused_only_when_every_table_is_decoded() {
    let (mut pool, data) = pool_streams(&["NewComp", G], 0);
    pool.extend(words(&[0, 0])); // id 3 is free
    let component = ("Component".to_string(), words(&[0x0201, 1, 2]));
    let mut e =
        TransformEditor::from_streams(&pool, &data, vec![component.clone()], &schema()).unwrap();
    e.set_where(
        "Component",
        RowFilter::Inserts,
        "ComponentId",
        &s(G),
        &s(NEW),
    )
    .unwrap();
    assert_eq!(e.pool().find(NEW), Some(3), "the free id");
    // G lost its only reference: emptied.
    assert_eq!(e.pool().refcount(2), 0);
    let mystery = ("Mystery".to_string(), words(&[0x0101, 3]));
    let mut e =
        TransformEditor::from_streams(&pool, &data, vec![component, mystery], &schema()).unwrap();
    e.set_where(
        "Component",
        RowFilter::Inserts,
        "ComponentId",
        &s(G),
        &s(NEW),
    )
    .unwrap();
    assert_eq!(
        e.pool().find(NEW),
        Some(4),
        "appended: Mystery may point at 3"
    );
    assert_eq!(e.pool().refcount(2), 1, "kept: Mystery may point at it");
}

#[test]
fn references_past_the_pool_are_refused_on_load() {
    let (pool, data) = pool_streams(&["a"], 0);
    let tables = vec![("Property".to_string(), words(&[0x0201, 1, 9]))];
    let e = TransformEditor::from_streams(&pool, &data, tables, &schema()).unwrap_err();
    assert!(e.to_string().contains("string id 9 is out of range"), "{e}");
}

#[test]
fn changes_between_refuses_what_an_edit_never_does() {
    let before = editor();
    let (pool, data, mut tables) = patch_transform();
    tables.retain(|(n, _)| n != "Media");
    let after = TransformEditor::from_streams(&pool, &data, tables.clone(), &schema()).unwrap();
    let e = changes_between(&before, &after).unwrap_err().to_string();
    assert!(e.contains("Media is gone"), "{e}");
    // A row re-keyed.
    tables.push(("Media".into(), words(&[0x0201, 0x8009, 2, 0x8000])));
    let after = TransformEditor::from_streams(&pool, &data, tables, &schema()).unwrap();
    let e = changes_between(&before, &after).unwrap_err().to_string();
    assert!(e.contains("is now Insert 9"), "{e}");
}

#[test]
fn load_reads_a_transform_storage_and_agrees_with_the_reader() {
    let (_, _, tables) = patch_transform();
    let strings = ["NewComp", G, "INSTALLDIR", "Old", G2, "Shared"];
    let tables: Vec<(&str, Vec<u8>)> = tables
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    write_transform(&mut cf, "/T", &strings, false, &tables);
    let e = TransformEditor::load(&mut cf, Path::new("/T"), &schema()).unwrap();
    let t = read_transform_tables(&mut cf, Path::new("/T"), &schema()).unwrap();
    for name in ["Component", "Property", "Media"] {
        assert_eq!(e.rows(name).unwrap(), t.rows(name), "{name}");
    }
    let err = TransformEditor::load(&mut cf, Path::new("/"), &schema()).unwrap_err();
    assert!(err.to_string().contains("has no _StringPool"), "{err}");
}

#[test]
fn changes_serialize_for_plans_and_reports() {
    let change = Change::Cell {
        table: "Component".into(),
        key: vec![s("NewComp")],
        row: RowKind::Insert,
        column: "ComponentId".into(),
        old: Some(s(G)),
        new: s(NEW),
    };
    assert_eq!(
        serde_json::to_value(&change).unwrap(),
        serde_json::json!({
            "change": "cell",
            "table": "Component",
            "key": [{"str": "NewComp"}],
            "row": "insert",
            "column": "ComponentId",
            "old": {"str": G},
            "new": {"str": NEW},
        })
    );
}

proptest::proptest! {
    /// Arbitrary bytes never panic the editor: they are refused, or read,
    /// written back unchanged, and editable.
    #[test]
    fn arbitrary_streams_are_refused_or_edited_without_panic(
        strings in proptest::collection::vec("[a-zA-Z{}-]{1,8}", 0..8),
        refs in proptest::collection::vec(0u16..3, 8),
        long in proptest::bool::ANY,
        component in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        property in proptest::collection::vec(proptest::num::u8::ANY, 0..32),
    ) {
        let (pool, data) = random_pool(&strings, &refs, long);
        let tables = vec![
            ("Component".to_string(), component),
            ("Property".to_string(), property),
        ];
        if let Ok(mut e) = TransformEditor::from_streams(&pool, &data, tables, &schema()) {
            proptest::prop_assert!(e.finish().unwrap().is_empty());
            let _ = e.set_where("Component", RowFilter::Any, "ComponentId", &s(G), &s(NEW));
            let _ = e.update_row("Property", &[s("P")], &[("Value", s(NEW))]);
            let _ = e.finish();
        }
    }
}

/// A well-formed pool of `strings` with the given counts (so that the
/// arbitrary table bytes, not the pool, are what is exercised).
fn random_pool(strings: &[String], refs: &[u16], long: bool) -> (Vec<u8>, Vec<u8>) {
    let strs: Vec<&str> = strings.iter().map(String::as_str).collect();
    let (mut pool, data) = pool_streams(&strs, if long { 0x8000_0000 } else { 0 });
    for (i, r) in refs.iter().take(strs.len()).enumerate() {
        let at = 4 + 4 * i + 2;
        pool[at..at + 2].copy_from_slice(&r.max(&1).to_le_bytes());
    }
    (pool, data)
}
