//! Corpus suite for the transform writer: every transform in the corpus
//! (each pair transform of the WiX-built patches, the instance transforms
//! embedded in `instance-transforms.msi`, `instance-autogen.mst`) decodes
//! into rows that encode back to the same bytes, its string pool is
//! written back byte for byte, and an edit changes only what it declares.
//!
//! Ignored by default; run with
//! `cargo test --test corpus transform_write -- --ignored`. The folder is
//! `$MSP_CORPUS_DIR` when set, else `../shared/corpus` next to the
//! repository; a missing folder fails the suite.

use std::io::Read;
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use msp_retarget::testkit::container;
use msp_retarget::testkit::streamname;
use msp_retarget::testkit::transform::edit::{Change, RowFilter, TransformEditor, changes_between};
use msp_retarget::testkit::transform::rows::{decode_raw_rows, encode_raw_rows};
use msp_retarget::testkit::transform::write::{PoolEditor, encode_rows};
use msp_retarget::testkit::transform::{Schema, Value, decode_rows};

use crate::util::corpus as shared_corpus;
use shared_corpus::wix3;

/// The tables of every corpus database, merged.
fn corpus_schema() -> Schema {
    let mut schema = Schema::new();
    for db in [
        "prodAv100.msi",
        "prodBv100.msi",
        "rtm-product.msi",
        "instance-transforms.msi",
    ] {
        let file = std::fs::File::open(wix3(db)).unwrap();
        let s = Schema::from_package(&msi::Package::open(file).unwrap());
        for name in s.table_names() {
            schema.insert(s.table(name).unwrap().clone());
        }
    }
    schema
}

const FILES: [&str; 6] = [
    "PatchAv101.msp",
    "PatchBv101.msp",
    "gdr1.msp",
    "rtmldr.msp",
    "instance-transforms.msi",
    "instance-autogen.mst",
];

/// Every transform storage of a corpus file.
fn transform_storages(cf: &CompoundFile<std::fs::File>) -> Vec<PathBuf> {
    let mut storages: Vec<PathBuf> = cf
        .read_root_storage()
        .filter(|e| e.is_storage() && *e.clsid() == container::CLSID_TRANSFORM)
        .map(|e| e.path().to_path_buf())
        .collect();
    if container::kind_of(cf) == container::FileKind::Transform {
        storages.push(PathBuf::from("/"));
    }
    storages
}

/// The table streams of `storage`: (unpacked name, bytes).
fn table_streams(cf: &mut CompoundFile<std::fs::File>, storage: &Path) -> Vec<(String, Vec<u8>)> {
    let entries: Vec<(String, PathBuf)> = cf
        .read_storage(storage)
        .unwrap()
        .filter(|e| e.is_stream())
        .filter_map(|e| {
            let d = streamname::decode(e.name());
            d.is_table.then(|| (d.name, e.path().to_path_buf()))
        })
        .collect();
    entries
        .into_iter()
        .map(|(name, path)| {
            let mut bytes = Vec::new();
            cf.open_stream(&path)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn every_corpus_transform_reencodes_to_the_same_bytes() {
    let schema = corpus_schema();
    let mut transforms = 0;
    let mut tables = 0;
    let mut rows_seen = 0;
    for file in FILES {
        let mut cf = container::open(&wix3(file)).unwrap();
        for storage in transform_storages(&cf) {
            let what = format!("{file} {}", storage.display());
            let streams = table_streams(&mut cf, &storage);
            let get = |n: &str| {
                streams
                    .iter()
                    .find(|(name, _)| name == n)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default()
            };
            let (pool_bytes, data_bytes) = (get("_StringPool"), get("_StringData"));
            // The pool is written back byte for byte.
            let pool = PoolEditor::parse(&pool_bytes, &data_bytes).unwrap();
            assert_eq!(
                pool.to_streams(),
                (pool_bytes.clone(), data_bytes.clone()),
                "{what}"
            );

            let others: Vec<(String, Vec<u8>)> = streams
                .iter()
                .filter(|(n, _)| n != "_StringPool" && n != "_StringData")
                .cloned()
                .collect();
            let editor =
                TransformEditor::from_streams(&pool_bytes, &data_bytes, others.clone(), &schema)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                editor.undecoded().is_empty(),
                "{what}: {:?}",
                editor.undecoded()
            );
            // Nothing edited, nothing to write.
            assert!(editor.finish().unwrap().is_empty(), "{what}");

            let strings = pool.to_string_pool();
            for (name, bytes) in &others {
                let def = editor.definition(name).unwrap().clone();
                // Raw rows: decode then encode is the identity.
                let raw = decode_raw_rows(&def, bytes, pool.long_refs()).unwrap();
                assert_eq!(
                    &encode_raw_rows(&def, &raw, pool.long_refs()).unwrap(),
                    bytes,
                    "{what} {name}"
                );
                // Typed rows: the reader's rows, encoded into a new pool,
                // decode to the same rows.
                let rows = decode_rows(&def, bytes, &strings).unwrap();
                assert_eq!(editor.rows(name).unwrap(), rows, "{what} {name}");
                let mut fresh = PoolEditor::new(pool.code_page()).unwrap();
                let encoded = encode_rows(&def, &rows, &mut fresh).unwrap();
                let again = decode_rows(&def, &encoded, &fresh.to_string_pool()).unwrap();
                assert_eq!(again, rows, "{what} {name}");
                // With the transform's own pool, the typed rows encode to
                // the very bytes of the stream.
                let mut own = pool.clone();
                assert_eq!(
                    &encode_rows(&def, &rows, &mut own).unwrap(),
                    bytes,
                    "{what} {name}"
                );
                rows_seen += rows.len();
                tables += 1;
            }
            // Reference counts are the cells pointing at each string.
            for id in 1..=pool.len() as u32 {
                let seen = editor.pool().seen_refs(id).unwrap();
                assert_eq!(u32::from(pool.refcount(id)), seen, "{what}: string {id}");
            }
            transforms += 1;
        }
    }
    assert_eq!(transforms, 14);
    eprintln!("{transforms} transforms, {tables} table streams, {rows_seen} rows");
}

/// Re-pointing one Property value of an instance transform changes that
/// cell only: decoding before and after finds exactly the declared change,
/// and only the pool and the Property stream are written.
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn an_edit_of_a_corpus_transform_changes_only_what_it_declares() {
    let schema = corpus_schema();
    let mut cf = container::open(&wix3("instance-transforms.msi")).unwrap();
    let before = TransformEditor::load(&mut cf, Path::new("/Instance1"), &schema).unwrap();
    let mut after = before.clone();
    let old = Value::Str("{1F9B1809-273F-4036-AB02-26D19171D5AE}".into());
    let new = Value::Str("{11111111-1111-4111-8111-111111111111}".into());
    let declared = after
        .set_where("Property", RowFilter::Updates, "Value", &old, &new)
        .unwrap();
    assert_eq!(
        declared,
        [Change::Cell {
            table: "Property".into(),
            key: vec![Value::Str("ProductCode".into())],
            row: msp_retarget::testkit::transform::RowKind::Update,
            column: "Value".into(),
            old: Some(old.clone()),
            new: new.clone(),
        }]
    );
    let out = after.finish().unwrap();
    assert_eq!(out.tables.keys().collect::<Vec<_>>(), ["Property"]);
    let (pool, data) = out.pool.clone().unwrap();
    let rewritten =
        TransformEditor::from_streams(&pool, &data, out.tables.clone(), &schema).unwrap();
    assert_eq!(changes_between(&before, &rewritten).unwrap(), declared);
}

/// The change view of a WiX instance transform, with the product as the
/// base: ProductCode goes from the base's code to the instance's.
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn change_view_of_an_instance_transform_shows_old_and_new() {
    use msp_retarget::testkit::transform::view::{self, BaseRows};
    let path = wix3("instance-transforms.msi");
    let schema = corpus_schema();
    let mut cf = container::open(&path).unwrap();
    let t = msp_retarget::testkit::transform::read_transform_tables(
        &mut cf,
        Path::new("/Instance1"),
        &schema,
    )
    .unwrap();
    let mut package = msi::Package::open(std::fs::File::open(&path).unwrap()).unwrap();
    let base = BaseRows::from_package(&mut package, &view::tables_needing_base(&t)).unwrap();
    let changes = view::describe(&t, Some(&base));
    assert_eq!(changes.tables.len(), 1);
    let rows = &changes.tables[0].rows;
    let code = rows
        .iter()
        .find(|r| r.key == [Value::Str("ProductCode".into())])
        .unwrap();
    assert_eq!(code.in_base, Some(true));
    assert_eq!(
        code.columns[0].old,
        Some(Value::Str("{4014E041-A968-4DE3-B43C-322DF9A19359}".into()))
    );
    assert_eq!(
        code.columns[0].new,
        Value::Str("{1F9B1809-273F-4036-AB02-26D19171D5AE}".into())
    );
    let text = view::render(&changes, "");
    assert!(
        text.contains(
            "Value: \"{4014E041-A968-4DE3-B43C-322DF9A19359}\" -> \
             \"{1F9B1809-273F-4036-AB02-26D19171D5AE}\""
        ),
        "{text}"
    );
}

/// Every corpus database (the products and the patches' own databases):
/// its pool is written back byte for byte, every table decodes and encodes
/// to the same bytes, rows are in key order, and every stored reference
/// count equals the cells pointing at the string.
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn every_corpus_database_reencodes_to_the_same_bytes_in_key_order() {
    use msp_retarget::testkit::transform::database::{
        DatabaseEditor, decode_db_rows, encode_db_rows, key_order,
    };
    let files = [
        "prodAv100.msi",
        "prodAv101.msi",
        "prodBv100.msi",
        "rtm-product.msi",
        "instance-transforms.msi",
        "PatchAv101.msp",
        "PatchBv101.msp",
        "gdr1.msp",
        "rtmldr.msp",
    ];
    let (mut tables, mut rows_seen) = (0, 0);
    for file in files {
        let path = wix3(file);
        let package = msi::Package::open(std::fs::File::open(&path).unwrap()).unwrap();
        let schema = Schema::from_package(&package);
        let mut cf = container::open(&path).unwrap();
        let db = DatabaseEditor::load(&mut cf, &schema).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(db.undecoded().is_empty(), "{file}: {:?}", db.undecoded());
        assert!(db.finish().unwrap().is_empty());
        let streams = table_streams(&mut cf, Path::new("/"));
        let long = db.pool().long_refs();
        for (name, bytes) in &streams {
            if name == "_StringPool" || name == "_StringData" {
                continue;
            }
            let def = db.definition(name).unwrap();
            let rows = decode_db_rows(def, bytes, long).unwrap();
            assert_eq!(
                &encode_db_rows(def, &rows, long).unwrap(),
                bytes,
                "{file} {name}"
            );
            assert!(
                rows.windows(2)
                    .all(|w| key_order(def, &w[0], &w[1]) == std::cmp::Ordering::Less),
                "{file} {name}: rows not in key order"
            );
            tables += 1;
            rows_seen += rows.len();
        }
        for id in 1..=db.pool().len() as u32 {
            assert_eq!(
                Some(u32::from(db.pool().refcount(id))),
                db.pool().seen_refs(id),
                "{file}: string {id}"
            );
        }
    }
    eprintln!(
        "{} databases, {tables} tables, {rows_seen} rows",
        files.len()
    );
}

/// `inspect --package` on a WiX patch: the partner transform's Media insert
/// and the main transform's ProductVersion update with its old value.
#[test]
#[ignore = "corpus suite: needs ../shared/corpus or MSP_CORPUS_DIR"]
fn inspect_shows_what_a_wix_patch_changes() {
    let out = crate::util::cli(["inspect"])
        .args([wix3("PatchAv101.msp")])
        .args(["--package"])
        .args([wix3("prodAv100.msi")])
        .args(["--json"])
        .run();
    out.code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let pair = &json["patch"]["pairs"][0];
    let main = &pair["main"]["changes"]["tables"][0];
    assert_eq!(main["table"], "Property");
    let row = &main["rows"][0];
    assert_eq!(row["op"], "update");
    assert_eq!(row["key"][0]["str"], "ProductVersion");
    assert_eq!(row["columns"][0]["old"]["str"], "1.0.0.0");
    assert_eq!(row["columns"][0]["new"]["str"], "1.0.1.0");
    let partner = &pair["partner"]["changes"];
    assert_eq!(partner["added_tables"][0], "PatchPackage");
    assert_eq!(partner["undecoded"].as_array().unwrap().len(), 0);
    let media = partner["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "Media")
        .unwrap();
    assert_eq!(media["rows"][0]["op"], "insert");
    assert_eq!(media["rows"][0]["in_base"], false);
    assert_eq!(json["problems"].as_array().unwrap().len(), 0);
}
