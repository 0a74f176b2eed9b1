use super::*;
use crate::format::transform::ColumnDef;
use crate::format::transform::tests::{pool_streams, words};
use crate::format::transform::write::tests::big_pool;

const BASE: &str = "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}";
const INST: &str = "{11111111-1111-4111-8111-111111111111}";

/// Table streams by name.
type Tables = Vec<(String, Vec<u8>)>;

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

fn sequence_def() -> TableDef {
    TableDef::new(
        "MsiPatchSequence",
        vec![
            ColumnDef::new("PatchFamily", ColumnKind::String, true),
            ColumnDef::new("ProductCode", ColumnKind::String, true),
            ColumnDef::new("Sequence", ColumnKind::String, false),
            ColumnDef::new("Attributes", ColumnKind::Int32, false),
        ],
    )
}

fn schema() -> Schema {
    let mut schema = Schema::new();
    schema.insert(sequence_def());
    schema
}

/// Strings: 1 Fam, 2 BASE, 3 1.0.1.0, 4 MsiPatchSequence. Rows: (Fam,
/// null, 1.0.1.0, null) and (Fam, BASE, 1.0.1.0, 1), sorted by key ids.
fn database() -> (Vec<u8>, Vec<u8>, Tables) {
    let (mut pool, data) = pool_streams(&["Fam", BASE, "1.0.1.0", "MsiPatchSequence"], 0);
    // Counts: Fam 2, BASE 1, 1.0.1.0 2, MsiPatchSequence 1 (in _Tables).
    for (id, refs) in [(1usize, 2u16), (3, 2)] {
        pool[4 * id + 2..4 * id + 4].copy_from_slice(&refs.to_le_bytes());
    }
    #[rustfmt::skip]
    let seq = [
        words(&[1, 1]),          // PatchFamily
        words(&[0, 2]),          // ProductCode
        words(&[3, 3]),          // Sequence
        vec![0, 0, 0, 0, 1, 0, 0, 0x80], // Attributes: null, 1
    ]
    .concat();
    let tables = vec![
        ("MsiPatchSequence".to_string(), seq),
        ("_Tables".to_string(), words(&[4])),
    ];
    (pool, data, tables)
}

fn editor() -> DatabaseEditor {
    let (pool, data, tables) = database();
    DatabaseEditor::from_streams(&pool, &data, tables, &schema()).unwrap()
}

#[test]
fn column_major_rows_round_trip() {
    let (_, _, tables) = database();
    let def = sequence_def();
    let rows = decode_db_rows(&def, &tables[0].1, false).unwrap();
    assert_eq!(rows, [vec![1, 0, 3, 0], vec![1, 2, 3, 0x8000_0001]]);
    assert_eq!(encode_db_rows(&def, &rows, false).unwrap(), tables[0].1);
    let e = decode_db_rows(&def, &[0; 11], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a whole number of 10-byte rows"), "{e}");
    // Three-byte references widen the string columns.
    let long = encode_db_rows(&def, &rows, true).unwrap();
    assert_eq!(long.len(), 2 * 13);
    assert_eq!(decode_db_rows(&def, &long, true).unwrap(), rows);
    assert!(encode_db_rows(&def, &[vec![0x1_0000, 0, 0, 0]], false).is_err());
}

#[test]
fn an_unedited_database_writes_nothing_and_counts_match() {
    let e = editor();
    assert!(e.finish().unwrap().is_empty());
    assert!(e.undecoded().is_empty());
    for id in 1..=e.pool().len() as u32 {
        assert_eq!(
            Some(u32::from(e.pool().refcount(id))),
            e.pool().seen_refs(id)
        );
    }
    assert_eq!(
        e.rows("MsiPatchSequence").unwrap()[1],
        [s("Fam"), s(BASE), s("1.0.1.0"), Value::Int(1)]
    );
}

#[test]
fn a_keyed_row_for_an_instance_goes_where_the_key_order_puts_it() {
    let before = editor();
    let mut e = before.clone();
    let change = e
        .insert_row(
            "MsiPatchSequence",
            &[s("Fam"), s(INST), s("1.0.1.0"), Value::Int(1)],
        )
        .unwrap();
    assert_eq!(
        change,
        Change::RowAdded {
            table: "MsiPatchSequence".into(),
            key: vec![s("Fam"), s(INST)],
            row: RowKind::Insert,
            columns: vec![
                ("Sequence".into(), s("1.0.1.0")),
                ("Attributes".into(), Value::Int(1))
            ],
        }
    );
    // INST is string 5: after the BASE row (id 2).
    assert_eq!(e.raw_rows("MsiPatchSequence")[2][1], 5);
    // Shared strings gained a reference; the new one has one.
    assert_eq!(
        (
            e.pool().refcount(1),
            e.pool().refcount(3),
            e.pool().refcount(5)
        ),
        (3, 3, 1)
    );
    let out = e.finish().unwrap();
    assert_eq!(out.tables.keys().collect::<Vec<_>>(), ["MsiPatchSequence"]);
    #[rustfmt::skip]
    assert_eq!(out.tables["MsiPatchSequence"], [
        words(&[1, 1, 1]),
        words(&[0, 2, 5]),
        words(&[3, 3, 3]),
        vec![0, 0, 0, 0, 1, 0, 0, 0x80, 1, 0, 0, 0x80],
    ].concat());
    let (pool, data) = out.pool.clone().unwrap();
    let (_, _, tables) = database();
    let merged: Vec<(String, Vec<u8>)> = tables
        .into_iter()
        .map(|(n, b)| (n.clone(), out.tables.get(&n).cloned().unwrap_or(b)))
        .collect();
    let after = DatabaseEditor::from_streams(&pool, &data, merged, &schema()).unwrap();
    assert_eq!(db_changes_between(&before, &after).unwrap(), [change]);
    // Untarget: removing it again gives the original streams back.
    let mut undo = after.clone();
    undo.delete_row("MsiPatchSequence", &[s("Fam"), s(INST)])
        .unwrap();
    let back = undo.finish().unwrap();
    let (orig_pool, orig_data, orig_tables) = database();
    assert_eq!(back.tables["MsiPatchSequence"], orig_tables[0].1);
    let (pool, data) = back.pool.unwrap();
    assert_eq!(data, orig_data);
    // The emptied id stays as a free (0, 0) entry.
    assert_eq!(pool, [orig_pool, words(&[0, 0])].concat());
}

#[test]
fn duplicate_keys_and_missing_rows_are_refused() {
    let mut e = editor();
    let dup = e.insert_row(
        "MsiPatchSequence",
        &[s("Fam"), s(BASE), s("2.0"), Value::Null],
    );
    assert!(
        dup.unwrap_err()
            .to_string()
            .contains("already has a row with key")
    );
    let missing = e.delete_row("MsiPatchSequence", &[s("Fam"), s(INST)]);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("has no row with key")
    );
    let no_table = e.insert_row("MsiPatchMetadata", &[s("x")]);
    assert!(
        no_table
            .unwrap_err()
            .to_string()
            .contains("adding a table is not supported")
    );
    assert!(e.insert_row("MsiPatchSequence", &[s("Fam")]).is_err());
    assert!(e.finish().unwrap().is_empty());
}

#[test]
fn keys_inserted_earlier_are_refused_and_a_deleted_key_can_come_back() {
    let mut e = editor();
    let row = |product: &str| [s("Fam"), s(product), s("2.0"), Value::Null];
    e.insert_row("MsiPatchSequence", &row(INST)).unwrap();
    // The second insert of the same key is refused from the keys the
    // first insert recorded; a new key still goes in.
    assert!(e.insert_row("MsiPatchSequence", &row(INST)).is_err());
    let other = "{22222222-2222-4222-8222-222222222222}";
    e.insert_row("MsiPatchSequence", &row(other)).unwrap();
    // After a delete the key is free again; the file's own rows stay
    // refused.
    e.delete_row("MsiPatchSequence", &[s("Fam"), s(INST)])
        .unwrap();
    e.insert_row("MsiPatchSequence", &row(INST)).unwrap();
    assert!(e.insert_row("MsiPatchSequence", &row(BASE)).is_err());
    assert!(e.insert_row("MsiPatchSequence", &row(other)).is_err());
    let keys: Vec<Value> = e
        .rows("MsiPatchSequence")
        .unwrap()
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for product in [INST, other, BASE] {
        assert_eq!(keys.iter().filter(|k| **k == s(product)).count(), 1);
    }
}

#[test]
fn passing_65535_strings_widens_every_table_with_strings() {
    let (pool, data) = big_pool(65_535);
    let seq = [words(&[1]), words(&[0]), words(&[3]), vec![0, 0, 0, 0]].concat();
    let tables = vec![
        ("MsiPatchSequence".to_string(), seq),
        ("_Tables".to_string(), words(&[4])),
    ];
    let mut e = DatabaseEditor::from_streams(&pool, &data, tables, &schema()).unwrap();
    e.insert_row(
        "MsiPatchSequence",
        &[s("s0"), s(INST), s("s2"), Value::Null],
    )
    .unwrap();
    let out = e.finish().unwrap();
    assert_eq!(
        out.tables.keys().collect::<Vec<_>>(),
        ["MsiPatchSequence", "_Tables"]
    );
    assert_eq!(out.tables["_Tables"], [4, 0, 0]);
    let rows = decode_db_rows(&sequence_def(), &out.tables["MsiPatchSequence"], true).unwrap();
    assert_eq!(rows, [vec![1, 0, 3, 0], vec![1, 65_536, 3, 0]]);
}

proptest::proptest! {
    /// Arbitrary bytes never panic the database editor.
    #[test]
    fn arbitrary_database_streams_are_refused_or_edited_without_panic(
        strings in proptest::collection::vec("[a-zA-Z{}-]{1,8}", 0..8),
        refs in proptest::collection::vec(0u16..3, 8),
        long in proptest::bool::ANY,
        seq in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let (pool, data) = random_pool(&strings, &refs, long);
        let tables = vec![("MsiPatchSequence".to_string(), seq)];
        if let Ok(mut e) = DatabaseEditor::from_streams(&pool, &data, tables, &schema()) {
            proptest::prop_assert!(e.finish().unwrap().is_empty());
            let _ = e.insert_row("MsiPatchSequence", &[s("F"), s(INST), s("1"), Value::Null]);
            let _ = e.delete_row("MsiPatchSequence", &[s("F"), Value::Null]);
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
