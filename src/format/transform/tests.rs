use super::*;
use cfb::CompoundFile;
use proptest::prelude::*;
use std::fmt;
use std::io::{Cursor, Read, Seek, Write};

//==========================================================================//
// Building transforms in memory

/// `_StringPool` and `_StringData` for `strings` (ids from 1).
pub(crate) fn pool_streams(strings: &[&str], header: u32) -> (Vec<u8>, Vec<u8>) {
    let mut pool = header.to_le_bytes().to_vec();
    let mut data = Vec::new();
    for s in strings {
        let len = u16::try_from(s.len()).unwrap();
        pool.extend_from_slice(&len.to_le_bytes());
        pool.extend_from_slice(&1u16.to_le_bytes());
        data.extend_from_slice(s.as_bytes());
    }
    (pool, data)
}

/// Little-endian u16s as bytes.
pub(crate) fn words(w: &[u16]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes a transform into `storage` of `cf` ("/" for the root): the string
/// pool of `strings` and each `(table, bytes)` stream.
pub(crate) fn write_transform<F: Read + Write + Seek>(
    cf: &mut CompoundFile<F>,
    storage: &str,
    strings: &[&str],
    long_refs: bool,
    tables: &[(&str, Vec<u8>)],
) {
    let dir = Path::new(storage);
    if storage != "/" {
        cf.create_storage(dir).unwrap();
        cf.set_storage_clsid(dir, container::CLSID_TRANSFORM)
            .unwrap();
    }
    let (pool, data) = pool_streams(strings, if long_refs { pool::LONG_REFS_FLAG } else { 0 });
    let mut streams = vec![(STRING_POOL, pool), (STRING_DATA, data)];
    streams.extend(tables.iter().cloned());
    for (name, bytes) in streams {
        let path = dir.join(streamname::encode(name, true));
        cf.create_stream(&path).unwrap().write_all(&bytes).unwrap();
    }
}

fn transform(
    strings: &[&str],
    long_refs: bool,
    tables: &[(&str, Vec<u8>)],
) -> CompoundFile<Cursor<Vec<u8>>> {
    let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    cf.set_storage_clsid("/", container::CLSID_TRANSFORM)
        .unwrap();
    write_transform(&mut cf, "/T", strings, long_refs, tables);
    cf
}

fn strs(v: &[(&str, &str)]) -> IndexMap<String, Option<String>> {
    v.iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

fn err_text<T: fmt::Debug>(r: Result<T>) -> String {
    r.unwrap_err().to_string()
}

//==========================================================================//
// Decoding

#[test]
fn property_updates_like_a_wix_instance_transform() {
    // The exact bytes of the corpus's Instance1 Property stream.
    let strings = [
        "Instance",
        "Instance1",
        "ProductCode",
        "{1F9B1809-273F-4036-AB02-26D19171D5AE}",
        "ProductName",
        "Instance 1",
    ];
    let rows = words(&[2, 1, 2, 2, 3, 4, 2, 5, 6]);
    let mut cf = transform(&strings, false, &[(PROPERTY, rows)]);
    let changes = property_changes(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    assert_eq!(
        changes,
        strs(&[
            ("Instance", "Instance1"),
            ("ProductCode", "{1F9B1809-273F-4036-AB02-26D19171D5AE}"),
            ("ProductName", "Instance 1"),
        ])
    );
    let t = read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    let rows = t.rows(PROPERTY);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].kind, RowKind::Update);
    assert_eq!(rows[1].mask, 2);
    assert_eq!(rows[1].offset, 6);
    assert_eq!(rows[1].key, vec![Value::Str("ProductCode".into())]);
    assert!(t.undecoded.is_empty());
    assert!(!t.long_string_refs);
}

#[test]
fn long_string_references_take_three_bytes() {
    let strings = ["ProductCode", "{00000000-0000-0000-0000-000000000001}"];
    // insert, 2 columns: mask 0x0201, refs 1 and 2 in 3 bytes each.
    let rows = vec![0x01, 0x02, 1, 0, 0, 2, 0, 0];
    let mut cf = transform(&strings, true, &[(PROPERTY, rows)]);
    let t = read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    assert!(t.long_string_refs);
    assert_eq!(t.rows(PROPERTY)[0].kind, RowKind::Insert);
    assert_eq!(
        property_changes(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap(),
        strs(&[("ProductCode", "{00000000-0000-0000-0000-000000000001}")])
    );
}

#[test]
fn deletes_and_null_values_remove_properties_and_later_rows_win() {
    let strings = ["A", "B", "x", "y"];
    #[rustfmt::skip]
    let rows = words(&[
        0x0201, 1, 3, // insert A = x
        0x0000, 2,    // delete B
        0x0002, 1, 4, // update A = y
        0x0002, 2, 0, // update B = null
    ]);
    let mut cf = transform(&strings, false, &[(PROPERTY, rows)]);
    let changes = property_changes(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    assert_eq!(changes.get("A"), Some(&Some("y".to_string())));
    assert_eq!(changes.get("B"), Some(&None));
    let t = read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    let kinds: Vec<RowKind> = t.rows(PROPERTY).iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RowKind::Insert,
            RowKind::Delete,
            RowKind::Update,
            RowKind::Update
        ]
    );
    assert!(t.rows(PROPERTY)[1].columns.is_empty());
}

#[test]
fn integers_streams_and_partial_inserts_use_the_base_schema() {
    let mut schema = Schema::new();
    schema.insert(TableDef::new(
        "Media",
        vec![
            ColumnDef::new("DiskId", ColumnKind::Int16, true),
            ColumnDef::new("LastSequence", ColumnKind::Int32, false),
            ColumnDef::new("Cabinet", ColumnKind::String, false),
        ],
    ));
    schema.insert(TableDef::new(
        "Binary",
        vec![
            ColumnDef::new("Name", ColumnKind::String, true),
            ColumnDef::new("Data", ColumnKind::Stream, false),
        ],
    ));
    let strings = ["#A.cab", "Icon1"];
    // Media: insert DiskId 2, LastSequence 2, Cabinet "#A.cab"; then an
    // insert of the key alone; then an update of LastSequence to -1.
    #[rustfmt::skip]
    let media = vec![
        0x01, 0x03, 0x02, 0x80, 0x02, 0x00, 0x00, 0x80, 0x01, 0x00,
        0x01, 0x01, 0x03, 0x80,
        0x02, 0x00, 0x02, 0x80, 0xFF, 0xFF, 0xFF, 0x7F,
    ];
    let binary = words(&[0x0201, 2, 1]);
    let mut cf = transform(&strings, false, &[("Media", media), ("Binary", binary)]);
    let t = read_transform_tables(&mut cf, Path::new("/T"), &schema).unwrap();
    let media = t.rows("Media");
    assert_eq!(media.len(), 3);
    assert_eq!(media[0].key, vec![Value::Int(2)]);
    assert_eq!(
        media[0].columns,
        vec![
            ("LastSequence".to_string(), Value::Int(2)),
            ("Cabinet".to_string(), Value::Str("#A.cab".into())),
        ]
    );
    assert_eq!(media[1].key, vec![Value::Int(3)]);
    assert!(media[1].columns.is_empty());
    assert_eq!(media[2].kind, RowKind::Update);
    assert_eq!(media[2].get("LastSequence"), Some(&Value::Int(-1)));
    assert_eq!(
        t.rows("Binary")[0].get("Data"),
        Some(&Value::Stream("Binary.Icon1".into()))
    );
    assert_eq!(t.tables.keys().collect::<Vec<_>>(), ["Binary", "Media"]);
}

#[test]
fn added_tables_and_columns_come_from_the_transform() {
    let mut schema = Schema::property_only();
    schema.insert(TableDef::new(
        "Old",
        vec![ColumnDef::new("Id", ColumnKind::String, true)],
    ));
    let strings = ["New", "Key", "Num", "Old", "Extra", "k1", "e1"];
    let tables = words(&[0x0101, 1]);
    #[rustfmt::skip]
    let columns = words(&[
        0x0401, 1, 0, 2, 0x8000 ^ 0x2D48, // New.Key: key string, number null -> 1
        0x0401, 1, 0, 3, 0x8000 ^ 0x1104, // New.Num: nullable i4 -> 2
        0x0401, 4, 0, 5, 0x8000 ^ 0x1D00, // Old.Extra appended -> 2
    ]);
    let new = vec![0x01, 0x02, 6, 0, 0x05, 0, 0, 0x80];
    let old = words(&[0x0002, 6, 7]);
    let mut cf = transform(
        &strings,
        false,
        &[
            ("_Tables", tables),
            ("_Columns", columns),
            ("New", new),
            ("Old", old),
        ],
    );
    let t = read_transform_tables(&mut cf, Path::new("/T"), &schema).unwrap();
    assert_eq!(t.added_tables, ["New"]);
    let new_def = &t.definitions["New"];
    assert_eq!(
        new_def.columns,
        vec![
            ColumnDef::new("Key", ColumnKind::String, true),
            ColumnDef::new("Num", ColumnKind::Int32, false),
        ]
    );
    assert_eq!(t.rows("New")[0].get("Num"), Some(&Value::Int(5)));
    assert_eq!(t.definitions["Old"].columns.len(), 2);
    assert_eq!(
        t.rows("Old")[0].get("Extra"),
        Some(&Value::Str("e1".into()))
    );
    assert_eq!(
        t.tables.keys().collect::<Vec<_>>(),
        ["_Tables", "_Columns", "New", "Old"]
    );
}

#[test]
fn tables_without_a_definition_are_listed_not_decoded() {
    let mut cf = transform(
        &["x"],
        false,
        &[("Component", vec![1, 2, 3]), (PROPERTY, Vec::new())],
    );
    let t = read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only()).unwrap();
    assert_eq!(t.undecoded, ["Component"]);
    assert!(t.rows(PROPERTY).is_empty());
}

#[test]
fn column_type_bits() {
    let k = |bits| ColumnDef::from_type_bits("c", bits).unwrap();
    assert_eq!(k(0x2D48).kind, ColumnKind::String);
    assert!(k(0x2D48).key);
    assert_eq!(k(0x0502).kind, ColumnKind::Int16);
    assert_eq!(k(0x1104).kind, ColumnKind::Int32);
    assert_eq!(k(0x1900).kind, ColumnKind::Stream);
    assert_eq!(k(0x0900).kind, ColumnKind::Stream);
    assert_eq!(k(0x1F00).kind, ColumnKind::String);
    assert!(ColumnDef::from_type_bits("c", 0x0103).is_err());
}

//==========================================================================//
// Malformed input: errors, not panics

fn property_error(rows: Vec<u8>, strings: &[&str]) -> String {
    let mut cf = transform(strings, false, &[(PROPERTY, rows)]);
    err_text(read_transform_tables(
        &mut cf,
        Path::new("/T"),
        &Schema::property_only(),
    ))
}

#[test]
fn truncated_rows_name_storage_stream_and_offset() {
    let e = property_error(vec![2, 0, 1, 0, 1, 0, 2], &["a"]);
    assert_eq!(
        e,
        "storage T, table stream Property, row at offset 6: truncated row: 1 byte left \
         where a 2-byte row mask should be (stream is 7 bytes)"
    );
    let e = property_error(vec![2, 0, 1, 0], &["a"]);
    assert!(
        e.contains(
            "row at offset 0: truncated row: mask 0x0002 calls for 4 bytes of values, 2 left"
        ),
        "{e}"
    );
}

#[test]
fn string_ids_out_of_range() {
    let e = property_error(words(&[2, 1, 9]), &["a"]);
    assert!(
        e.contains(
            "column Value: string id 9 is out of range: the transform's string pool has 1 strings"
        ),
        "{e}"
    );
}

#[test]
fn wrong_masks() {
    let e = property_error(words(&[0x0301, 1, 1, 1]), &["a"]);
    assert!(
        e.contains("inserts 3 columns but table Property has 2"),
        "{e}"
    );
    let e = property_error(words(&[0x0011, 1, 1]), &["a"]);
    assert!(e.contains("only bit 0 set in its low byte"), "{e}");
    let e = property_error(words(&[0x0008, 1, 1]), &["a"]);
    assert!(
        e.contains("flags column 4 but table Property has 2 columns"),
        "{e}"
    );
    let e = property_error(words(&[0x0001]), &["a"]);
    assert!(e.contains("leaves out key column Property"), "{e}");
}

#[test]
fn malformed_string_pools() {
    let data = b"abc";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0, 0], "2 bytes: not a 4-byte header"),
        (vec![0, 0, 0, 0, 3, 0, 1], "partial entry"),
        (
            words(&[0, 0, 4, 1]),
            "string 1 is 4 bytes long, more than the 3 bytes left",
        ),
        (
            words(&[0, 0, 0, 1]),
            "string 1 announces a 32-bit length that is not there",
        ),
        // A "huge" 32-bit length is checked against the data, never allocated.
        (
            words(&[0, 0, 0, 1, 0xFFFF, 0xFFFF]),
            "4294967295 bytes long",
        ),
        (words(&[1234, 0]), "code page 1234"),
    ];
    for (pool, want) in cases {
        let e = StringPool::parse(&pool, data).unwrap_err().to_string();
        assert!(e.contains(want), "{want:?} not in {e:?}");
    }
    let ok = StringPool::parse(&words(&[0xFDE9, 0x8000, 0, 1, 3, 0, 0, 0, 0, 0]), data).unwrap();
    assert_eq!(ok.code_page(), 65001);
    assert!(ok.long_refs());
    assert_eq!(ok.len(), 3);
    assert_eq!(ok.get(1).unwrap(), Some("abc"));
    assert_eq!(ok.get(2).unwrap(), Some(""));
    assert_eq!(ok.get(0).unwrap(), None);
    assert!(ok.get(4).is_err());
}

#[test]
fn a_storage_without_a_string_pool_is_not_a_transform() {
    let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    cf.create_storage("/X").unwrap();
    let e = err_text(property_changes(
        &mut cf,
        Path::new("/X"),
        &Schema::property_only(),
    ));
    assert!(e.starts_with("storage X: has no _StringPool stream"), "{e}");
}

#[test]
fn malformed_columns_rows() {
    let strings = ["New", "C"];
    let columns = words(&[0x0401, 1, 0x8000 ^ 5, 2, 0x8000 ^ 0x0502]);
    let mut cf = transform(&strings, false, &[("_Columns", columns)]);
    let e = err_text(read_transform_tables(
        &mut cf,
        Path::new("/T"),
        &Schema::new(),
    ));
    assert!(
        e.contains("table stream _Columns, row at offset 0: column C of table New has number 5"),
        "{e}"
    );
}

fn any_table() -> impl Strategy<Value = TableDef> {
    let kind = prop_oneof![
        Just(ColumnKind::Int16),
        Just(ColumnKind::Int32),
        Just(ColumnKind::String),
        Just(ColumnKind::Stream),
    ];
    proptest::collection::vec((kind, any::<bool>()), 1..20).prop_map(|cols| {
        TableDef::new(
            "T",
            cols.into_iter()
                .enumerate()
                .map(|(i, (k, key))| ColumnDef::new(format!("c{i}"), k, key || i == 0))
                .collect(),
        )
    })
}

proptest! {
    #[test]
    fn random_table_streams_never_panic(
        table in any_table(),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        long in any::<bool>(),
    ) {
        let pool = StringPool::from_strings(vec!["a".into(), "b".into(), "c".into()], long);
        if let Ok(rows) = decode_rows(&table, &bytes, &pool) {
            // Every byte belongs to exactly one row.
            let sizes: usize = rows.len();
            prop_assert!(sizes * 2 <= bytes.len());
        }
        let _ = decode_rows(&property_table(), &bytes, &pool);
        let _ = decode_rows(&columns_table(), &bytes, &pool);
    }

    #[test]
    fn random_string_pools_never_panic(
        pool in proptest::collection::vec(any::<u8>(), 0..200),
        data in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = StringPool::parse(&pool, &data);
    }

    #[test]
    fn random_transform_streams_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        columns in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut cf = transform(
            &["Property", "Value", "T", "x"],
            false,
            &[(PROPERTY, bytes.clone()), ("_Columns", columns), ("T", bytes)],
        );
        let _ = read_transform_tables(&mut cf, Path::new("/T"), &Schema::property_only());
    }
}

#[test]
fn property_changes_without_a_property_definition_use_the_well_known_one() {
    let mut cf = transform(&["A", "b"], false, &[(PROPERTY, words(&[2, 1, 2]))]);
    let changes = property_changes(&mut cf, Path::new("/T"), &Schema::new()).unwrap();
    assert_eq!(changes, strs(&[("A", "b")]));
}

//==========================================================================//
// The writer and the editors on hostile streams

/// A pool header with the 3-byte reference flag over `strings`.
fn long_pool(strings: &[&str]) -> (Vec<u8>, Vec<u8>) {
    pool_streams(strings, 1252 | pool::LONG_REFS_FLAG)
}

#[test]
fn hostile_streams_are_refused_by_the_editors_with_the_table_named() {
    use super::database::DatabaseEditor;
    use super::edit::TransformEditor;
    let schema = Schema::property_only();
    let (pool, data) = pool_streams(&["Property", "Value"], 1252);
    let (lpool, ldata) = long_pool(&["Property", "Value"]);
    let tx = |pool: &[u8], data: &[u8], rows: Vec<u8>| {
        err_text(TransformEditor::from_streams(
            pool,
            data,
            [(PROPERTY.to_string(), rows)],
            &schema,
        ))
    };
    let db = |pool: &[u8], data: &[u8], rows: Vec<u8>| {
        err_text(DatabaseEditor::from_streams(
            pool,
            data,
            [(PROPERTY.to_string(), rows)],
            &schema,
        ))
    };
    // Truncated pool: a header cut, an entry cut, a long length cut.
    assert!(tx(&pool[..3], &data, Vec::new()).contains("4-byte header"));
    assert!(tx(&pool[..6], &data, Vec::new()).contains("partial entry"));
    let mut cut = pool.clone();
    cut.extend_from_slice(&[0, 0, 1, 0]);
    assert!(tx(&cut, &data, Vec::new()).contains("32-bit length"));
    // A huge declared length, and a count of strings past the data.
    let mut huge = pool.clone();
    huge.extend_from_slice(&[0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(tx(&huge, &data, Vec::new()).contains("bytes left of the"));
    let mut many = pool.clone();
    many.extend(std::iter::repeat_n([0xFF, 0xFF, 1, 0], 10_000).flatten());
    assert!(db(&many, &data, Vec::new()).contains("bytes left of the"));
    // 3-byte references with rows of 2-byte widths: an insert of two
    // string columns is 2 + 6 bytes, so 2 + 4 bytes is cut.
    let e = tx(&lpool, &ldata, words(&[0x0201, 1, 2]));
    assert!(
        e.contains("stream Property") && e.contains("truncated row"),
        "{e}"
    );
    // Database rows (column-wise) not a whole number of 6-byte rows.
    let e = db(&lpool, &ldata, vec![1, 0, 0, 2, 0]);
    assert!(
        e.contains("stream Property") && e.contains("6-byte rows"),
        "{e}"
    );
    let e = db(&pool, &data, vec![1, 0, 0]);
    assert!(
        e.contains("stream Property") && e.contains("4-byte rows"),
        "{e}"
    );
    // String references past the pool.
    let e = tx(&pool, &data, words(&[0x0201, 1, 9]));
    assert!(
        e.contains("stream Property") && e.contains("string id 9"),
        "{e}"
    );
    let e = db(&pool, &data, words(&[1, 0x7777]));
    assert!(
        e.contains("stream Property") && e.contains("string id 30583"),
        "{e}"
    );
}

proptest! {
    #[test]
    fn random_streams_through_the_editors_never_panic_and_round_trip(
        pool in proptest::collection::vec(any::<u8>(), 0..64),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        rows in proptest::collection::vec(any::<u8>(), 0..120),
        long in any::<bool>(),
    ) {
        use super::database::DatabaseEditor;
        use super::edit::TransformEditor;
        let mut pool = pool;
        if let Some(b) = pool.get_mut(3) {
            *b = if long { 0x80 } else { 0 };
        }
        let schema = Schema::property_only();
        let streams = || [(PROPERTY.to_string(), rows.clone())];
        if let Ok(t) = TransformEditor::from_streams(&pool, &data, streams(), &schema) {
            let out = t.finish().unwrap();
            prop_assert!(out.is_empty());
            let _ = t.rows(PROPERTY);
        }
        if let Ok(d) = DatabaseEditor::from_streams(&pool, &data, streams(), &schema) {
            let out = d.finish().unwrap();
            prop_assert!(out.is_empty());
            let _ = d.rows(PROPERTY);
        }
    }
}
