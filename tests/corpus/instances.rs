//! Corpus suite for the transform reader and instance discovery: real
//! WiX-built products, instance transforms and patches from
//! `../shared/corpus`.
//!
//! Every test here is ignored by default; run them with
//! `cargo test --test corpus instances -- --ignored`. The folder is
//! `$MSP_CORPUS_DIR` when set, else `../shared/corpus` next to the
//! repository. A missing folder fails the suite rather than skipping it,
//! so a CI job that asks for the corpus cannot pass vacuously.

use std::path::{Path, PathBuf};

use msp_retarget::Guid;
use msp_retarget::instances::{self, Instance};
use msp_retarget::testkit::container;
use msp_retarget::testkit::patch;
use msp_retarget::testkit::transform::{self, RowKind, Schema, Value};

use crate::util::corpus as shared_corpus;
use shared_corpus::wix3;

//===========================================================================//
// Locating the corpus

fn g(s: &str) -> Guid {
    Guid::parse_braced(s).unwrap()
}

/// The schema of a corpus database.
fn schema_of(name: &str) -> Schema {
    let file = std::fs::File::open(wix3(name)).unwrap();
    Schema::from_package(&msi::Package::open(file).unwrap())
}

const BASE: &str = "{4014E041-A968-4DE3-B43C-322DF9A19359}";
const UPGRADE: &str = "{F907C172-70B8-4654-8D23-49FB3AE2ECB7}";
const INSTANCE1: &str = "{1F9B1809-273F-4036-AB02-26D19171D5AE}";
const INSTANCE2: &str = "{1D53CF88-158A-47DC-957A-69C0AAD67572}";
const INSTANCE3: &str = "{42923AA9-D605-4222-8E20-3378471811DE}";

//===========================================================================//
// Instances

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn product_with_embedded_instance_transforms() {
    let path = wix3("instance-transforms.msi");
    let src = instances::from_product(&path).unwrap();
    assert_eq!(src.base, g(BASE));
    assert_eq!(src.base_upgrade_code, Some(g(UPGRADE)));
    assert_eq!(src.base_product_name.as_deref(), Some("Wix Test Product"));
    assert!(src.skipped.is_empty(), "{:?}", src.skipped);
    let instance = |id: &str, code: &str, name: Option<&str>| Instance {
        id: Some(id.to_string()),
        product_code: g(code),
        upgrade_code: None,
        product_name: name.map(str::to_string),
        base: Some(g(BASE)),
        component_codes: Default::default(),
    };
    assert_eq!(
        src.instances,
        [
            instance("Instance1", INSTANCE1, Some("Instance 1")),
            instance("Instance2", INSTANCE2, Some("Instance 2")),
            instance("Instance3", INSTANCE3, None),
        ]
    );
    // Cross-check with each transform's RevisionNumber: from = base, to =
    // the Property table's ProductCode, upgrade code = the base's.
    let mut cf = container::open(&path).unwrap();
    for i in &src.instances {
        let t = patch::read_transform(&mut cf, i.id.as_deref().unwrap()).unwrap();
        assert_eq!(t.revision.from.code, src.base);
        assert_eq!(t.revision.to.code, i.product_code);
        assert_eq!(t.revision.upgrade_code, Some(g(UPGRADE)));
        assert_eq!(t.char_count, Some(0));
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn embedded_instance_transform_property_rows() {
    let path = wix3("instance-transforms.msi");
    let schema = schema_of("instance-transforms.msi");
    let mut cf = container::open(&path).unwrap();
    let t = transform::read_transform_tables(&mut cf, Path::new("/Instance1"), &schema).unwrap();
    assert_eq!(t.code_page, 0);
    assert!(!t.long_string_refs);
    assert!(t.undecoded.is_empty());
    assert_eq!(t.tables.keys().collect::<Vec<_>>(), ["Property"]);
    let rows = t.rows("Property");
    let seen: Vec<(RowKind, u16, usize, &Value, Option<&Value>)> = rows
        .iter()
        .map(|r| (r.kind, r.mask, r.offset, &r.key[0], r.get("Value")))
        .collect();
    let s = |x: &str| Value::Str(x.to_string());
    assert_eq!(
        seen,
        [
            (RowKind::Update, 2, 0, &s("Instance"), Some(&s("Instance1"))),
            (
                RowKind::Update,
                2,
                6,
                &s("ProductCode"),
                Some(&s(INSTANCE1))
            ),
            (
                RowKind::Update,
                2,
                12,
                &s("ProductName"),
                Some(&s("Instance 1"))
            ),
        ]
    );
    let changes = transform::property_changes(&mut cf, Path::new("/Instance3"), &schema).unwrap();
    assert_eq!(
        changes.into_iter().collect::<Vec<_>>(),
        [
            ("Instance".to_string(), Some("Instance3".to_string())),
            ("ProductCode".to_string(), Some(INSTANCE3.to_string())),
        ]
    );
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn standalone_instance_transform() {
    let path = wix3("instance-autogen.mst");
    let src = instances::from_product(&path).unwrap();
    // Built from a different product than instance-transforms.msi: same
    // upgrade code, another base product code.
    let base = g("{5B38B259-C979-4E88-84F8-061DCDF85ED6}");
    assert_eq!(src.base, base);
    assert_eq!(src.base_upgrade_code, Some(g(UPGRADE)));
    assert_eq!(
        src.instances,
        [Instance {
            id: Some("instance-autogen".into()),
            product_code: g(INSTANCE1),
            upgrade_code: None,
            product_name: Some("Instance 1".into()),
            base: Some(base),
            component_codes: Default::default(),
        }]
    );
    let mut cf = container::open(&path).unwrap();
    let changes =
        transform::property_changes(&mut cf, Path::new("/"), &Schema::property_only()).unwrap();
    assert_eq!(changes["Instance"].as_deref(), Some("Instance1.mst"));
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn products_without_instances_and_patches() {
    let src = instances::from_product(&wix3("prodAv100.msi")).unwrap();
    assert!(src.instances.is_empty());
    assert!(src.skipped.is_empty());
    assert_eq!(
        src.base_upgrade_code,
        Some(g("{77AE8779-8689-4DC9-BB1B-64B500078104}"))
    );
    let e = instances::from_product(&wix3("PatchAv101.msp")).unwrap_err();
    assert_eq!(e.kind(), msp_retarget::ErrorKind::Usage);
    assert!(e.to_string().contains("is a patch"), "{e}");
}

//===========================================================================//
// Patch transforms: inserts, added tables, updates, integer widths

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn patch_transform_pair_of_patch_a() {
    let schema = schema_of("prodAv100.msi");
    let mut cf = container::open(&wix3("PatchAv101.msp")).unwrap();
    let changes = transform::property_changes(&mut cf, Path::new("/rtmA.1"), &schema).unwrap();
    assert_eq!(
        changes.into_iter().collect::<Vec<_>>(),
        [("ProductVersion".to_string(), Some("1.0.1.0".to_string()))]
    );

    let t = transform::read_transform_tables(&mut cf, Path::new("/#rtmA.1"), &schema).unwrap();
    assert!(t.undecoded.is_empty(), "{:?}", t.undecoded);
    assert_eq!(t.added_tables, ["PatchPackage"]);
    let pp = &t.definitions["PatchPackage"];
    let cols: Vec<(&str, bool)> = pp
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.key))
        .collect();
    assert_eq!(cols, [("PatchId", true), ("Media_", false)]);
    // Inserts carry the column count in the mask's high byte.
    let media = t.rows("Media");
    assert_eq!(media.len(), 1);
    assert_eq!((media[0].kind, media[0].mask), (RowKind::Insert, 0x0601));
    assert_eq!(media[0].key, [Value::Int(2)]);
    assert_eq!(media[0].get("LastSequence"), Some(&Value::Int(2)));
    assert_eq!(media[0].get("Cabinet"), Some(&Value::Str("#A.cab".into())));
    assert_eq!(media[0].get("DiskPrompt"), Some(&Value::Null));
    let pkg = t.rows("PatchPackage");
    assert_eq!(pkg[0].get("Media_"), Some(&Value::Int(2)));
    let props = transform::property_changes(&mut cf, Path::new("/#rtmA.1"), &schema).unwrap();
    assert_eq!(props["PatchAv101.AllowRemoval"].as_deref(), Some("1"));
    assert_eq!(props.len(), 5);
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn patch_transform_with_file_updates_and_an_added_table() {
    let schema = schema_of("rtm-product.msi");
    let mut cf = container::open(&wix3("gdr1.msp")).unwrap();
    let t = transform::read_transform_tables(&mut cf, Path::new("/rtm.2"), &schema).unwrap();
    assert!(t.undecoded.is_empty(), "{:?}", t.undecoded);
    assert_eq!(t.added_tables, ["Registry"]);
    assert_eq!(t.definitions["Registry"].columns.len(), 6);
    let reg = &t.rows("Registry")[0];
    assert_eq!(reg.get("Root"), Some(&Value::Int(-1)));
    let files = t.rows("File");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].kind, RowKind::Insert);
    assert_eq!(files[0].get("FileSize"), Some(&Value::Int(1025)));
    assert_eq!(files[0].get("Sequence"), Some(&Value::Int(1)));
    // An update of one column: bit 3 (FileSize), key always present.
    assert_eq!((files[1].kind, files[1].mask), (RowKind::Update, 0x0008));
    assert_eq!(files[1].key, [Value::Str("F_Source".into())]);
    assert_eq!(
        files[1].columns,
        [("FileSize".to_string(), Value::Int(2051))]
    );
    let seq = t.rows("InstallExecuteSequence");
    assert_eq!(seq[0].get("Sequence"), Some(&Value::Int(2600)));
}

/// Every transform storage in the corpus decodes against the schema of the
/// corpus products, with no table left undecoded.
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn every_corpus_transform_decodes() {
    let mut schema = Schema::new();
    for db in [
        "prodAv100.msi",
        "rtm-product.msi",
        "instance-transforms.msi",
    ] {
        let s = schema_of(db);
        for name in s.table_names() {
            schema.insert(s.table(name).unwrap().clone());
        }
    }
    let mut decoded = 0;
    for file in [
        "PatchAv101.msp",
        "PatchBv101.msp",
        "gdr1.msp",
        "rtmldr.msp",
        "instance-transforms.msi",
        "instance-autogen.mst",
    ] {
        let path = wix3(file);
        let mut cf = container::open(&path).unwrap();
        let mut storages: Vec<PathBuf> = cf
            .read_root_storage()
            .filter(|e| e.is_storage() && *e.clsid() == container::CLSID_TRANSFORM)
            .map(|e| e.path().to_path_buf())
            .collect();
        if container::kind_of(&cf) == container::FileKind::Transform {
            storages.push(PathBuf::from("/"));
        }
        assert!(!storages.is_empty(), "{file}: no transform");
        for storage in storages {
            let t = transform::read_transform_tables(&mut cf, &storage, &schema)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                t.undecoded.is_empty(),
                "{file} {storage:?}: {:?}",
                t.undecoded
            );
            assert!(!t.tables.is_empty(), "{file} {storage:?}");
            decoded += 1;
        }
    }
    assert_eq!(decoded, 14);
}

/// A synthetic patch for the corpus product that has embedded instance
/// transforms, so that `--instances-from` has something to retarget.
fn patch_for_instance_product(dir: &Path) -> PathBuf {
    use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};
    let mut spec = PatchSpec::single_product();
    spec.targets = vec![BASE.to_string()];
    for p in &mut spec.pairs {
        p.from_code = BASE.to_string();
        p.to_code = BASE.to_string();
        p.upgrade_code = UPGRADE.to_string();
    }
    let path = dir.join("fix.msp");
    write_patch_file(&spec, &path).unwrap();
    path
}

fn run_cli(args: &[&std::ffi::OsStr]) -> crate::util::Run {
    crate::util::cli(args).run()
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn instances_from_the_product_equal_the_same_instances_typed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let patch = patch_for_instance_product(dir.path());
    let from = dir.path().join("from.msp");
    let by_hand = dir.path().join("by-hand.msp");
    let list = dir.path().join("instances.txt");
    std::fs::write(
        &list,
        format!(
            "# the three instances of instance-transforms.msi\n\
             Instance1 {BASE}={INSTANCE1}\nInstance2 {BASE}={INSTANCE2}\n\
             Instance3 {BASE}={INSTANCE3}\n"
        ),
    )
    .unwrap();
    let msi = wix3("instance-transforms.msi");
    let out = run_cli(&[
        "retarget".as_ref(),
        patch.as_os_str(),
        "--instances-from".as_ref(),
        msi.as_os_str(),
        "-o".as_ref(),
        from.as_os_str(),
    ]);
    out.code(0);
    let out = run_cli(&[
        "retarget".as_ref(),
        patch.as_os_str(),
        "--instances-file".as_ref(),
        list.as_os_str(),
        "-o".as_ref(),
        by_hand.as_os_str(),
    ]);
    out.code(0);
    assert!(std::fs::read(&from).unwrap() == std::fs::read(&by_hand).unwrap());

    // The instance ids name the copies, so inspect shows which is whose.
    let p = patch::Patch::open(&from).unwrap();
    for (id, code) in [
        ("Instance1", INSTANCE1),
        ("Instance2", INSTANCE2),
        ("Instance3", INSTANCE3),
    ] {
        assert!(p.targets_product(g(code)));
        let pair = p.pairs.iter().find(|x| x.base() == g(code)).unwrap();
        assert!(
            pair.main.name.ends_with(&format!("_{id}")),
            "{}",
            pair.main.name
        );
    }
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn an_instance_with_its_own_upgrade_code_gets_it_in_the_copies() {
    let dir = tempfile::tempdir().unwrap();
    let patch = patch_for_instance_product(dir.path());
    let own = "{ABCDEF01-2345-4678-9ABC-DEF012345678}";
    let src = instances::from_product(&wix3("instance-transforms.msi")).unwrap();
    let mut requests = src.requests();
    requests[0].upgrade_code = Some(g(own));
    let out = dir.path().join("out.msp");
    msp_retarget::retarget(&msp_retarget::RetargetRequest {
        input: patch,
        destination: msp_retarget::Destination::Output(out.clone()),
        instances: requests,
        options: Default::default(),
    })
    .unwrap();
    let p = patch::Patch::open(&out).unwrap();
    for pair in p.pairs.iter().filter(|x| x.base() == g(INSTANCE1)) {
        assert_eq!(pair.main.revision.upgrade_code, Some(g(own)));
    }
    for pair in p.pairs.iter().filter(|x| x.base() == g(INSTANCE2)) {
        assert_eq!(pair.main.revision.upgrade_code, Some(g(UPGRADE)));
    }
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn check_instances_from_confirms_every_instance_of_a_retargeted_patch() {
    let dir = tempfile::tempdir().unwrap();
    let patch = patch_for_instance_product(dir.path());
    let msi = wix3("instance-transforms.msi");
    let out = dir.path().join("all.msp");
    let check = |p: &Path| {
        run_cli(&[
            "check".as_ref(),
            p.as_os_str(),
            "--instances-from".as_ref(),
            msi.as_os_str(),
        ])
    };
    // The original patch serves none of the instances.
    let before = check(&patch);
    assert_eq!(Some(before.code), Some(1), "{}", before.stdout);
    let r = run_cli(&[
        "retarget".as_ref(),
        patch.as_os_str(),
        "--instances-from".as_ref(),
        msi.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!((r.code == 0), "{}", r.stderr);
    let after = check(&out);
    let text = after.stdout;
    assert_eq!(Some(after.code), Some(0), "{text}");
    for code in [INSTANCE1, INSTANCE2, INSTANCE3] {
        assert!(text.contains(code), "{text}");
    }
}

//===========================================================================//
// Generated instance transforms against WiX's

/// Every stream of storage `name` of the compound file at `path`, by
/// stream name, with the storage's CLSID.
fn storage_streams(
    path: &Path,
    name: &str,
) -> (uuid::Uuid, std::collections::BTreeMap<String, Vec<u8>>) {
    use std::io::Read;
    let mut cf = cfb::open(path).unwrap();
    let dir = Path::new("/").join(name);
    let clsid = *cf.entry(&dir).unwrap().clsid();
    let names: Vec<PathBuf> = cf
        .read_storage(&dir)
        .unwrap()
        .map(|e| e.path().to_path_buf())
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for p in names {
        let mut bytes = Vec::new();
        cf.open_stream(&p).unwrap().read_to_end(&mut bytes).unwrap();
        out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), bytes);
    }
    (clsid, out)
}

/// `instances remove` then `instances add` on `instance-transforms.msi`
/// with WiX's ids, codes, names and instance property give its three
/// transforms back: every stream byte for byte (string pool, Property
/// rows, summary information) and the transform CLSID. Only the storages'
/// timestamps differ (WiX writes the build time; we write zero).
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn generated_instance_transforms_equal_wix() {
    use msp_retarget::{
        AddOptions, Destination, InstancesAddRequest, InstancesRemoveRequest, NewInstanceRequest,
        instances_add, instances_remove,
    };
    let wix = wix3("instance-transforms.msi");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.msi");
    instances_remove(&InstancesRemoveRequest {
        input: wix.clone(),
        destination: Destination::Output(base.clone()),
        ids: vec!["Instance1".into(), "Instance2".into(), "Instance3".into()],
        strip_signature: false,
    })
    .unwrap();
    assert!(instances::from_product(&base).unwrap().instances.is_empty());
    let mut current = base;
    for (n, id, code, name) in [
        (1, "Instance1", INSTANCE1, "Instance 1"),
        (2, "Instance2", INSTANCE2, "Instance 2"),
        (3, "Instance3", INSTANCE3, "{name}"),
    ] {
        let out = dir.path().join(format!("step{n}.msi"));
        let r = instances_add(&InstancesAddRequest {
            input: current.clone(),
            destination: Destination::Output(out.clone()),
            instances: vec![NewInstanceRequest {
                id: id.into(),
                product_code: Some(g(code)),
            }],
            options: AddOptions {
                product_name: Some(name.into()),
                property: Some("Instance".into()),
                ..AddOptions::default()
            },
            mst_dir: None,
        })
        .unwrap();
        assert_eq!(r.plan.added[0].product_code, g(code));
        current = out;
    }
    for id in ["Instance1", "Instance2", "Instance3"] {
        let (wix_clsid, wix_streams) = storage_streams(&wix, id);
        let (our_clsid, our_streams) = storage_streams(&current, id);
        assert_eq!(our_clsid, wix_clsid, "{id}: CLSID");
        assert_eq!(
            our_streams.keys().collect::<Vec<_>>(),
            wix_streams.keys().collect::<Vec<_>>(),
            "{id}: streams"
        );
        for (name, bytes) in &wix_streams {
            assert!(
                &our_streams[name] == bytes,
                "{id}: stream {name:?} differs from WiX's"
            );
        }
    }
    // And decoded: the same instances, in the same order.
    let ours = instances::from_product(&current).unwrap().instances;
    let theirs = instances::from_product(&wix).unwrap().instances;
    assert_eq!(ours, theirs);
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn inspect_shows_the_product_facts_and_its_instances() {
    let path = wix3("instance-transforms.msi");
    let out = run_cli(&["inspect".as_ref(), path.as_os_str()]);
    assert!((out.code == 0));
    let text = out.stdout;
    for line in [
        format!("ProductCode      {BASE}"),
        "ProductVersion   1.0.0.0".to_string(),
        format!("UpgradeCode      {UPGRADE}"),
        "ProductLanguage  1033".to_string(),
        "ProductName      Wix Test Product".to_string(),
        format!("as --product     {BASE},1.0.0.0,1033,{UPGRADE}"),
        format!("instances of {BASE} (3):"),
        format!("  Instance2    {INSTANCE2}  \"Instance 2\""),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }

    let out = run_cli(&["inspect".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert!((out.code == 0));
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let product = &doc["product"];
    assert_eq!(product["product_code"], BASE);
    assert_eq!(product["product_version"], "1.0.0.0");
    assert_eq!(product["upgrade_code"], UPGRADE);
    assert_eq!(product["product_language"], "1033");
    assert_eq!(product["product_name"], "Wix Test Product");
    let codes: Vec<&str> = doc["instances"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, [INSTANCE1, INSTANCE2, INSTANCE3]);
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn check_json_names_each_instance_by_id_in_a_field() {
    let product = wix3("instance-transforms.msi");
    let out = run_cli(&[
        "check".as_ref(),
        wix3("PatchAv101.msp").as_os_str(),
        "--instances-from".as_ref(),
        product.as_os_str(),
        "--json".as_ref(),
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 3);
    let found: Vec<(String, String)> = doc["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["facts"]["instance_id"].as_str().unwrap().to_string(),
                p["facts"]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("Instance1", INSTANCE1),
        ("Instance2", INSTANCE2),
        ("Instance3", INSTANCE3),
    ]
    .map(|(id, code)| (id.to_string(), code.to_string()));
    assert_eq!(found, expected);
}
