use super::*;
use crate::format::transform::RowKind;
use crate::format::transform::rows::decode_raw_rows;
use crate::format::transform::tests::{pool_streams, words};
use crate::format::transform::{ColumnDef, decode_rows};
use proptest::prelude::*;

fn table(cols: &[(&str, ColumnKind, bool)]) -> TableDef {
    TableDef::new(
        "T",
        cols.iter()
            .map(|(n, k, key)| ColumnDef::new(*n, *k, *key))
            .collect(),
    )
}

fn component() -> TableDef {
    TableDef::new(
        "Component",
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

//==========================================================================//
// The pool

#[test]
fn a_pool_is_written_back_byte_for_byte() {
    // Entries: "ab" (2 refs), a free id, "c" with a zero count (kept as
    // read), and a long-form entry for "xyz".
    let mut pool = 1252u32.to_le_bytes().to_vec();
    pool.extend(words(&[2, 2, 0, 0, 1, 0, 0, 3]));
    pool.extend(3u32.to_le_bytes());
    let data = b"abcxyz".to_vec();
    let p = PoolEditor::parse(&pool, &data).unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p.get(1).unwrap().as_deref(), Some("ab"));
    assert_eq!(p.get(2).unwrap().as_deref(), Some(""));
    assert_eq!(p.get(4).unwrap().as_deref(), Some("xyz"));
    assert_eq!((p.refcount(1), p.refcount(3), p.refcount(4)), (2, 0, 3));
    assert_eq!(p.code_page(), 1252);
    assert!(!p.is_changed());
    assert_eq!(p.to_streams(), (pool, data));
}

#[test]
fn a_pool_with_unaccounted_data_or_a_bad_shape_is_refused() {
    let (pool, mut data) = pool_streams(&["a"], 0);
    data.push(b'!');
    let e = PoolEditor::parse(&pool, &data).unwrap_err().to_string();
    assert!(e.contains("1 bytes after the last string"), "{e}");
    let e = PoolEditor::parse(&[0, 0], &[]).unwrap_err().to_string();
    assert!(e.contains("4-byte header"), "{e}");
    let e = PoolEditor::parse(&[0, 0, 0, 0, 1, 0], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("partial entry"), "{e}");
    let e = PoolEditor::parse(&words(&[0, 0, 5, 1]), b"abc")
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than the 3 bytes left"), "{e}");
}

#[test]
fn add_ref_shares_live_strings_and_appends_new_ones() {
    let (pool, data) = pool_streams(&["G", "x"], 0);
    let mut p = PoolEditor::parse(&pool, &data).unwrap();
    assert_eq!(p.add_ref("G").unwrap(), 1);
    assert_eq!(p.refcount(1), 2);
    assert_eq!(p.add_ref("new").unwrap(), 3);
    assert_eq!(p.refcount(3), 1);
    assert_eq!(p.add_ref("").unwrap(), 0, "the empty string is null");
    assert_eq!(p.find("new"), Some(3));
    let (pool, data) = p.to_streams();
    assert_eq!(pool, [vec![0; 4], words(&[1, 2, 1, 1, 3, 1])].concat());
    assert_eq!(data, b"Gxnew");
}

#[test]
fn text_the_code_page_cannot_hold_is_refused() {
    let mut p = PoolEditor::new(1252).unwrap();
    let e = p.add_ref("中").unwrap_err().to_string();
    assert!(e.contains("code page 1252"), "{e}");
    assert!(PoolEditor::new(1).is_err(), "an unknown code page");
    // Windows-1252 text round-trips.
    assert_eq!(p.add_ref("é").unwrap(), 1);
    assert_eq!(p.to_streams().1, [0xE9]);
}

#[test]
fn release_never_drops_below_the_references_seen() {
    let def = table(&[
        ("K", ColumnKind::String, true),
        ("V", ColumnKind::String, false),
    ]);
    // Two rows point at "G" (id 2), but the stored count says 1.
    let (mut pool, data) = pool_streams(&["a", "G", "b"], 0);
    pool[8..10].copy_from_slice(&1u16.to_le_bytes());
    let mut p = PoolEditor::parse(&pool, &data).unwrap();
    let rows = vec![
        RawRow {
            mask: 0x0201,
            cells: vec![Some(1), Some(2)],
        },
        RawRow {
            mask: 0x0201,
            cells: vec![Some(3), Some(2)],
        },
    ];
    p.observe([(&def, rows.as_slice())], true);
    assert_eq!(p.seen_refs(2), Some(2));
    p.release(2).unwrap();
    // One reference remains: the count stays 1 and the string stays.
    assert_eq!((p.refcount(2), p.seen_refs(2)), (1, Some(1)));
    assert_eq!(p.get(2).unwrap().as_deref(), Some("G"));
    p.release(2).unwrap();
    // Nothing points at it any more: emptied to (0, 0), bytes gone.
    assert_eq!(p.refcount(2), 0);
    let (pool, data) = p.to_streams();
    assert_eq!(&pool[8..12], &[0, 0, 0, 0]);
    assert_eq!(data, b"ab");
    // The freed slot is the one a new string takes.
    assert_eq!(p.add_ref("H").unwrap(), 2);
    assert_eq!(p.to_streams().1, b"aHb");
}

#[test]
fn with_unknown_references_no_slot_is_reused_and_no_entry_emptied() {
    let (pool, data) = pool_streams(&["a", "b"], 0);
    let mut pool = pool;
    pool.extend(words(&[0, 0])); // a free id 3
    let mut p = PoolEditor::parse(&pool, &data).unwrap();
    p.observe(std::iter::empty(), false);
    p.release(1).unwrap();
    assert_eq!(p.refcount(1), 1, "kept at 1: other cells may point at it");
    assert_eq!(p.get(1).unwrap().as_deref(), Some("a"));
    assert_eq!(p.add_ref("c").unwrap(), 4, "the free id 3 is not reused");
    // Known references: the free id is reused.
    let mut q = PoolEditor::parse(&pool, &data).unwrap();
    q.observe(std::iter::empty(), true);
    assert_eq!(q.add_ref("c").unwrap(), 3);
}

#[test]
fn a_string_used_65535_times_gets_a_second_id() {
    let (mut pool, data) = pool_streams(&["G"], 0);
    pool[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut p = PoolEditor::parse(&pool, &data).unwrap();
    assert_eq!(p.add_ref("G").unwrap(), 2);
    assert_eq!(p.add_ref("G").unwrap(), 2);
    assert_eq!((p.refcount(1), p.refcount(2)), (u16::MAX, 2));
}

/// A pool of `n` distinct strings with 2-byte references.
pub(crate) fn big_pool(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pool = 0u32.to_le_bytes().to_vec();
    let mut data = Vec::new();
    for i in 0..n {
        let s = format!("s{i}");
        pool.extend((s.len() as u16).to_le_bytes());
        pool.extend(1u16.to_le_bytes());
        data.extend(s.as_bytes());
    }
    (pool, data)
}

#[test]
fn the_string_after_id_65535_switches_to_three_byte_references() {
    let (pool, data) = big_pool(65_534);
    let mut p = PoolEditor::parse(&pool, &data).unwrap();
    assert_eq!(p.add_ref("last short").unwrap(), 65_535);
    assert!(!p.long_refs() && !p.long_refs_changed());
    assert_eq!(p.add_ref("first long").unwrap(), 65_536);
    assert!(p.long_refs() && p.long_refs_changed());
    let (pool, _) = p.to_streams();
    assert_eq!(&pool[..4], &[0, 0, 0, 0x80], "bit 31 of the header");
}

#[test]
fn release_of_an_unknown_id_is_an_error() {
    let mut p = PoolEditor::new(0).unwrap();
    assert!(p.release(0).is_ok());
    assert!(
        p.release(7)
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
}

//==========================================================================//
// Rows

#[test]
fn raw_rows_keep_masks_and_raw_numbers() {
    let def = table(&[
        ("K", ColumnKind::String, true),
        ("A", ColumnKind::Int16, false),
        ("B", ColumnKind::Int32, false),
        ("C", ColumnKind::Stream, false),
    ]);
    #[rustfmt::skip]
    let bytes = [
        words(&[0x0401, 1, 0x8005]), vec![7, 0, 0, 0x80], words(&[9]), // insert, stream marker 9
        words(&[0x0004, 2]), vec![0, 0, 0, 0],                         // update of B to null
        words(&[0x0000, 3]),                                           // delete
    ]
    .concat();
    let rows = decode_raw_rows(&def, &bytes, false).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].cells,
        [Some(1), Some(0x8005), Some(0x8000_0007), Some(9)]
    );
    assert_eq!(rows[1].cells, [Some(2), None, Some(0), None]);
    assert_eq!(
        (rows[0].kind(), rows[1].kind(), rows[2].kind()),
        (RowKind::Insert, RowKind::Update, RowKind::Delete)
    );
    assert_eq!(encode_raw_rows(&def, &rows, false).unwrap(), bytes);
}

#[test]
fn rows_that_do_not_match_their_mask_are_refused() {
    let def = table(&[
        ("K", ColumnKind::String, true),
        ("V", ColumnKind::Int16, false),
    ]);
    let bad = |row: RawRow| {
        encode_raw_rows(&def, &[row], false)
            .unwrap_err()
            .to_string()
    };
    let e = bad(RawRow {
        mask: 0x0002,
        cells: vec![Some(1), None],
    });
    assert!(e.contains("no value for it"), "{e}");
    let e = bad(RawRow {
        mask: 0x0000,
        cells: vec![Some(1), Some(5)],
    });
    assert!(e.contains("does not carry it"), "{e}");
    let e = bad(RawRow {
        mask: 0x0301,
        cells: vec![Some(1), Some(5)],
    });
    assert!(e.contains("inserts 3 columns"), "{e}");
    let e = bad(RawRow {
        mask: 0x0201,
        cells: vec![Some(0x1_0000), Some(5)],
    });
    assert!(e.contains("does not fit in 2 bytes"), "{e}");
    // Three-byte references hold it.
    let row = RawRow {
        mask: 0x0201,
        cells: vec![Some(0x1_0000), Some(5)],
    };
    let bytes = encode_raw_rows(&def, std::slice::from_ref(&row), true).unwrap();
    assert_eq!(bytes, [0x01, 0x02, 0x00, 0x00, 0x01, 5, 0]);
    assert_eq!(decode_raw_rows(&def, &bytes, true).unwrap(), [row]);
    let e = decode_raw_rows(&def, &[0x01, 0x02, 0x00], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated row"), "{e}");
}

#[test]
fn integers_are_biased_and_the_null_forms_are_refused() {
    use ColumnKind::{Int16, Int32};
    assert_eq!(raw_number(Int16, &Value::Int(0)), Ok(0x8000));
    assert_eq!(raw_number(Int16, &Value::Int(-1)), Ok(0x7FFF));
    assert_eq!(raw_number(Int16, &Value::Int(32767)), Ok(0xFFFF));
    assert!(raw_number(Int16, &Value::Int(-32768)).is_err());
    assert!(raw_number(Int16, &Value::Int(40000)).is_err());
    assert_eq!(raw_number(Int32, &Value::Int(2)), Ok(0x8000_0002));
    assert_eq!(raw_number(Int32, &Value::Int(-1)), Ok(0x7FFF_FFFF));
    assert!(raw_number(Int32, &Value::Int(i32::MIN)).is_err());
    assert_eq!(raw_number(Int32, &Value::Null), Ok(0));
    assert!(raw_number(Int16, &Value::Str("x".into())).is_err());
}

#[test]
fn masks_for_new_rows() {
    let def = component();
    assert_eq!(insert_mask(6), Ok(0x0601));
    assert_eq!(update_mask(&def, [1]), Ok(0x0002));
    assert_eq!(
        update_mask(&def, [0, 1, 5]),
        Ok(0x0022),
        "key bits are not set"
    );
    assert!(update_mask(&def, [0]).is_err(), "only the key");
    assert!(update_mask(&def, [9]).is_err());
}

#[test]
fn typed_rows_encode_like_a_wix_component_insert() {
    let def = component();
    let row = RowOp {
        kind: RowKind::Insert,
        mask: 0x0601,
        offset: 0,
        key: vec![Value::Str("NewComp".into())],
        columns: vec![
            (
                "ComponentId".into(),
                Value::Str("{0C1D3B2A-0000-4000-8000-000000000001}".into()),
            ),
            ("Directory_".into(), Value::Str("INSTALLDIR".into())),
            ("Attributes".into(), Value::Int(0)),
            ("Condition".into(), Value::Null),
            ("KeyPath".into(), Value::Str("NewComp".into())),
        ],
    };
    let mut pool = PoolEditor::new(0).unwrap();
    let bytes = encode_rows(&def, std::slice::from_ref(&row), &mut pool).unwrap();
    assert_eq!(bytes, words(&[0x0601, 1, 2, 3, 0x8000, 0, 1]));
    assert_eq!(pool.refcount(1), 2, "the key and KeyPath share one string");
    assert_eq!(
        decode_rows(&def, &bytes, &pool.to_string_pool()).unwrap(),
        std::slice::from_ref(&row)
    );
    // A row whose values do not match its mask is refused.
    let mut short = row;
    short.mask = 0x0501;
    let e = encode_rows(&def, &[short], &mut pool)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more values than mask 0x0501"), "{e}");
}

//==========================================================================//
// Properties

/// A table of 1–8 columns, the first 1–2 of them keys.
fn arb_table() -> impl Strategy<Value = TableDef> {
    let kind = prop_oneof![
        Just(ColumnKind::String),
        Just(ColumnKind::Int16),
        Just(ColumnKind::Int32)
    ];
    (prop::collection::vec(kind, 1..8), 1usize..3).prop_map(|(kinds, keys)| {
        TableDef::new(
            "T",
            kinds
                .iter()
                .enumerate()
                .map(|(i, k)| ColumnDef::new(format!("C{i}"), *k, i < keys.min(kinds.len())))
                .collect(),
        )
    })
}

fn arb_value(kind: ColumnKind, key: bool) -> BoxedStrategy<Value> {
    let value = match kind {
        ColumnKind::String => "[a-zA-Z0-9{}-]{1,12}".prop_map(Value::Str).boxed(),
        ColumnKind::Int16 => (-0x7FFF..=0x7FFFi32).prop_map(Value::Int).boxed(),
        _ => any::<i32>()
            .prop_filter("the null form", |i| *i != i32::MIN)
            .prop_map(Value::Int)
            .boxed(),
    };
    if key {
        value
    } else {
        prop_oneof![1 => Just(Value::Null), 4 => value].boxed()
    }
}

/// A valid row of `def`: insert of a prefix, update of some columns, or
/// delete.
fn arb_row(def: TableDef) -> impl Strategy<Value = RowOp> {
    let n = def.columns.len();
    let keys = def.key_count();
    (0u8..3, keys..=n, any::<u16>()).prop_flat_map(move |(kind, count, bits)| {
        let def = def.clone();
        let (kind, mask) = match kind {
            0 => (RowKind::Insert, ((count as u16) << 8) | 1),
            1 => {
                let m = (bits & ((1u32 << n.min(16)) - 1) as u16) & !((1u16 << keys) - 1);
                if m == 0 {
                    (RowKind::Delete, 0)
                } else {
                    (RowKind::Update, m)
                }
            }
            _ => (RowKind::Delete, 0),
        };
        let present = present_columns(&def, mask).unwrap();
        let values: Vec<BoxedStrategy<Value>> = def
            .columns
            .iter()
            .zip(&present)
            .filter(|(_, p)| **p)
            .map(|(c, _)| arb_value(c.kind, c.key))
            .collect();
        values.prop_map(move |vals| {
            let mut key = Vec::new();
            let mut columns = Vec::new();
            let carried = def.columns.iter().zip(&present).filter(|(_, p)| **p);
            for ((c, _), v) in carried.zip(vals) {
                if c.key {
                    key.push(v);
                } else {
                    columns.push((c.name.clone(), v));
                }
            }
            RowOp {
                kind,
                mask,
                offset: 0,
                key,
                columns,
            }
        })
    })
}

fn arb_rows() -> impl Strategy<Value = (TableDef, Vec<RowOp>)> {
    arb_table().prop_flat_map(|def| {
        let rows = prop::collection::vec(arb_row(def.clone()), 0..12);
        (Just(def), rows)
    })
}

/// The rows as decoding finds them: offsets filled in.
fn with_offsets(def: &TableDef, rows: &[RowOp], long: bool) -> Vec<RowOp> {
    let mut at = 0;
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.offset = at;
            let present = present_columns(def, r.mask).unwrap();
            at += 2 + def
                .columns
                .iter()
                .zip(&present)
                .filter(|(_, p)| **p)
                .map(|(c, _)| c.kind.width(long))
                .sum::<usize>();
            r
        })
        .collect()
}

proptest! {
    #[test]
    fn decode_of_encode_is_the_rows((def, rows) in arb_rows(), long in any::<bool>()) {
        let mut pool = if long {
            PoolEditor::parse(&0x8000_0000u32.to_le_bytes(), &[]).unwrap()
        } else {
            PoolEditor::new(0).unwrap()
        };
        let bytes = encode_rows(&def, &rows, &mut pool).unwrap();
        let decoded = decode_rows(&def, &bytes, &pool.to_string_pool()).unwrap();
        prop_assert_eq!(&decoded, &with_offsets(&def, &rows, long));
        // Raw decoding and re-encoding give the same bytes.
        let raw = decode_raw_rows(&def, &bytes, long).unwrap();
        prop_assert_eq!(encode_raw_rows(&def, &raw, long).unwrap(), bytes.clone());
        // Encoding the decoded rows with the pool that holds their strings
        // gives the same bytes again.
        let mut same = pool.clone();
        prop_assert_eq!(encode_rows(&def, &decoded, &mut same).unwrap(), bytes);
        // Counts: each string's count is the cells pointing at it.
        let mut counts = std::collections::HashMap::new();
        for id in string_ids(&def, &raw) {
            *counts.entry(id).or_insert(0u32) += 1;
        }
        for id in 1..=pool.len() as u32 {
            prop_assert_eq!(u32::from(pool.refcount(id)), counts.get(&id).copied().unwrap_or(0));
        }
    }

    #[test]
    fn a_pool_survives_parse_and_write(strings in prop::collection::vec("[a-z]{0,6}", 0..20),
                                       refs in prop::collection::vec(0u16..4, 20)) {
        let mut pool = 0u32.to_le_bytes().to_vec();
        let mut data = Vec::new();
        for (s, r) in strings.iter().zip(&refs) {
            // An empty string with a count would be the long form.
            let r = if s.is_empty() { 0 } else { *r };
            pool.extend((s.len() as u16).to_le_bytes());
            pool.extend(r.to_le_bytes());
            data.extend(s.as_bytes());
        }
        let p = PoolEditor::parse(&pool, &data).unwrap();
        prop_assert_eq!(p.to_streams(), (pool, data));
    }
}
