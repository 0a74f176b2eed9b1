//! `instances add` and `instances remove` through the command line: the
//! transforms written (decoded row by row with the transform reader),
//! derived codes checked against an independent computation, determinism,
//! every refusal, the remove round trip, a product whose string pool needs
//! 3-byte references, and a retarget to the instances added.

use std::path::Path;

use msp_retarget::instances;
use msp_retarget::testkit::synth::{PatchSpec, product_database_with};
use msp_retarget::testkit::transform::{self, RowKind, Schema, Value};
use uuid::Uuid;

use crate::msptest;
use crate::util::{Dir, PRODUCT_A, Snapshot, read};

const UPGRADE: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const G1: &str = "{C28843DA-EF08-41CC-BA75-D2B99D8A1983}";
const G2: &str = "{0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0}";
const GIVEN: &str = "{44444444-4444-4444-8444-444444444444}";

/// Product A of the patch presets, with two registered components and
/// one unregistered.
fn product(dir: &Dir, name: &str) -> std::path::PathBuf {
    product_with_filler(dir, name, 0)
}

fn product_with_filler(dir: &Dir, name: &str, filler: usize) -> std::path::PathBuf {
    let bytes = product_database_with(
        &[
            ("ProductCode", PRODUCT_A),
            ("ProductVersion", "1.0.0.0"),
            ("ProductLanguage", "1033"),
            ("ProductName", "Sample"),
            ("UpgradeCode", UPGRADE),
            ("Manufacturer", "Example"),
        ],
        &[("Core", Some(G1)), ("Docs", Some(G2)), ("Loose", None)],
        filler,
    )
    .unwrap();
    dir.write(name, &bytes)
}

/// The derivation, computed here from its documented definition: UUID v5
/// in the base ProductCode's namespace over the id's UTF-16LE bytes.
fn derived(base: &str, id: &str) -> String {
    let ns = Uuid::parse_str(base.trim_matches(['{', '}'])).unwrap();
    let name: Vec<u8> = id.encode_utf16().flat_map(u16::to_le_bytes).collect();
    format!("{{{}}}", Uuid::new_v5(&ns, &name).hyphenated()).to_uppercase()
}

/// WiX's MultiInstance component code, from its definition.
fn wix_component(guid: &str, id: &str) -> String {
    let ns = Uuid::parse_str("3064E5C6-FB63-4FE9-AC49-E446A792EFA5").unwrap();
    let name: Vec<u8> = format!("{guid}{id}")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    format!("{{{}}}", Uuid::new_v5(&ns, &name).hyphenated()).to_uppercase()
}

fn schema(path: &Path) -> Schema {
    Schema::from_package(&msi::Package::open(std::fs::File::open(path).unwrap()).unwrap())
}

/// One decoded row operation: kind, key, columns.
type Row = (RowKind, Vec<Value>, Vec<(String, Value)>);

/// The row operations of table `table` of the embedded transform `id`:
/// (kind, key, columns) in stream order.
fn rows(path: &Path, id: &str, table: &str) -> Vec<Row> {
    let mut cf = cfb::open(path).unwrap();
    let t =
        transform::read_transform_tables(&mut cf, &Path::new("/").join(id), &schema(path)).unwrap();
    t.rows(table)
        .iter()
        .map(|r| (r.kind, r.key.clone(), r.columns.clone()))
        .collect()
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn value(v: &str) -> Vec<(String, Value)> {
    vec![("Value".to_string(), s(v))]
}

//===========================================================================//
// What is written

msptest!(
    count_adds_derived_instances_and_leaves_the_input_alone,
    |dir, run| {
        let input = product(&dir, "p.msi");
        let before = read(&input);
        let r = run(&[
            "instances",
            "add",
            "p.msi",
            "--count",
            "3",
            "-o",
            "multi.msi",
        ]);
        r.code(0);
        assert_eq!(r.stderr, "");
        assert!(r.stdout.starts_with("wrote multi.msi\n"), "{}", r.stdout);
        assert_eq!(read(&input), before, "the input changed");

        let src = instances::from_product(&dir.join("multi.msi")).unwrap();
        assert!(src.skipped.is_empty(), "{:?}", src.skipped);
        let got: Vec<(String, String, Option<String>)> = src
            .instances
            .iter()
            .map(|i| {
                (
                    i.id.clone().unwrap(),
                    i.product_code.braced(),
                    i.product_name.clone(),
                )
            })
            .collect();
        let want: Vec<(String, String, Option<String>)> = (1..=3)
            .map(|n| {
                let id = format!("Instance{n}");
                (
                    id.clone(),
                    derived(PRODUCT_A, &id),
                    Some(format!("Sample ({id})")),
                )
            })
            .collect();
        assert_eq!(got, want);
        // Row by row: ProductCode and ProductName updates, by key.
        assert_eq!(
            rows(&dir.join("multi.msi"), "Instance2", "Property"),
            [
                (
                    RowKind::Update,
                    vec![s("ProductCode")],
                    value(&derived(PRODUCT_A, "Instance2"))
                ),
                (
                    RowKind::Update,
                    vec![s("ProductName")],
                    value("Sample (Instance2)")
                ),
            ]
        );
        // Nothing else in the storage: no _Tables, _Columns or Component.
        let snap = Snapshot::of(&dir.join("multi.msi"));
        let mut decoded: Vec<String> = snap
            .subtree("Instance2")
            .into_keys()
            .map(|n| msp_retarget::testkit::streamname::decode(&n).name)
            .collect();
        decoded.sort();
        assert_eq!(
            decoded,
            [
                "",
                "\u{5}SummaryInformation",
                "Property",
                "_StringData",
                "_StringPool"
            ]
        );
        let storage = snap.get("/Instance2");
        assert_eq!(
            storage.clsid,
            Uuid::from_u128(0x000C1082_0000_0000_C000_000000000046)
        );
        // Every entry of the input is there, unchanged.
        let original = Snapshot::of(&input);
        for (path, e) in &original.entries {
            assert!(snap.get(path).bytes == e.bytes, "{path} changed");
        }
    }
);

msptest!(
    given_codes_property_upgrade_code_and_name_template,
    |dir, run| {
        product(&dir, "p.msi");
        let given = format!("Blue={GIVEN}");
        let up = format!("Green={}", "{55555555-5555-4555-8555-555555555555}");
        run(&[
            "instances",
            "add",
            "p.msi",
            "-i",
            &given,
            "-i",
            "Green",
            "--property",
            "INSTANCEID",
            "--upgrade-code",
            &up,
            "--product-name",
            "{id} edition of {name}",
            "-o",
            "out.msi",
        ])
        .code(0);
        let out = dir.join("out.msi");
        // INSTANCEID is not in the product: an insert; the rows by key.
        assert_eq!(
            rows(&out, "Blue", "Property"),
            [
                (RowKind::Insert, vec![s("INSTANCEID")], value("Blue")),
                (RowKind::Update, vec![s("ProductCode")], value(GIVEN)),
                (
                    RowKind::Update,
                    vec![s("ProductName")],
                    value("Blue edition of Sample")
                ),
            ]
        );
        let green = rows(&out, "Green", "Property");
        assert_eq!(
            green.last().unwrap(),
            &(
                RowKind::Update,
                vec![s("UpgradeCode")],
                value("{55555555-5555-4555-8555-555555555555}")
            )
        );
        let src = instances::from_product(&out).unwrap();
        assert_eq!(
            src.instances[1].upgrade_code.map(|g| g.braced()).as_deref(),
            Some("{55555555-5555-4555-8555-555555555555}")
        );
        // '{name}' keeps the base name: no ProductName row (WiX's behaviour).
        run(&[
            "instances",
            "add",
            "p.msi",
            "-i",
            "Plain",
            "--product-name",
            "{name}",
            "-o",
            "plain.msi",
        ])
        .code(0);
        assert_eq!(
            rows(&dir.join("plain.msi"), "Plain", "Property"),
            [(
                RowKind::Update,
                vec![s("ProductCode")],
                value(&derived(PRODUCT_A, "Plain"))
            )]
        );
    }
);

msptest!(
    isolated_components_get_wix_multi_instance_codes,
    |dir, run| {
        product(&dir, "p.msi");
        run(&[
            "instances",
            "add",
            "p.msi",
            "-i",
            "I01",
            "--isolate-components",
            "all",
            "-o",
            "all.msi",
        ])
        .code(0);
        let comp = |v: String| vec![("ComponentId".to_string(), Value::Str(v))];
        assert_eq!(
            rows(&dir.join("all.msi"), "I01", "Component"),
            [
                (
                    RowKind::Update,
                    vec![s("Core")],
                    comp(wix_component(G1, "I01"))
                ),
                (
                    RowKind::Update,
                    vec![s("Docs")],
                    comp(wix_component(G2, "I01"))
                ),
            ]
        );
        // The vector of the project's format notes, as a fixed point.
        assert_eq!(
            wix_component(G1, "I01"),
            "{0DDEE8D8-ABD9-5E13-9C73-FB0E3B0089C5}"
        );
        run(&[
            "instances",
            "add",
            "p.msi",
            "-i",
            "I01",
            "--isolate-components",
            "Docs",
            "-o",
            "docs.msi",
        ])
        .code(0);
        assert_eq!(
            rows(&dir.join("docs.msi"), "I01", "Component"),
            [(
                RowKind::Update,
                vec![s("Docs")],
                comp(wix_component(G2, "I01"))
            )]
        );
        assert!(rows(&dir.join("docs.msi"), "I01", "Property").len() == 2);
    }
);

msptest!(
    same_request_same_bytes_whatever_the_destination,
    |dir, run| {
        product(&dir, "p.msi");
        let args = |out: &str| {
            [
                "instances",
                "add",
                "p.msi",
                "--count",
                "4",
                "--property",
                "ID",
                "-o",
            ]
            .iter()
            .map(|a| a.to_string())
            .chain([out.to_string()])
            .collect::<Vec<String>>()
        };
        let a = args("a.msi");
        let b = args("b.msi");
        run(&a.iter().map(String::as_str).collect::<Vec<_>>()).code(0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        run(&b.iter().map(String::as_str).collect::<Vec<_>>()).code(0);
        assert!(read(&dir.join("a.msi")) == read(&dir.join("b.msi")));
        std::fs::copy(dir.join("p.msi"), dir.join("c.msi")).unwrap();
        run(&[
            "instances",
            "add",
            "c.msi",
            "--count",
            "4",
            "--property",
            "ID",
            "--in-place",
        ])
        .code(0);
        // In place the same streams land in the file (the layout may differ).
        assert_eq!(
            Snapshot::of(&dir.join("c.msi")),
            Snapshot::of(&dir.join("a.msi"))
        );
    }
);

msptest!(
    mst_dir_writes_standalone_transforms_equal_to_the_embedded,
    |dir, run| {
        product(&dir, "p.msi");
        std::fs::create_dir(dir.join("mst")).unwrap();
        run(&[
            "instances",
            "add",
            "p.msi",
            "--count",
            "2",
            "--mst-dir",
            "mst",
            "-o",
            "out.msi",
        ])
        .code(0);
        let embedded = Snapshot::of(&dir.join("out.msi"));
        for id in ["Instance1", "Instance2"] {
            let mst = Snapshot::of(&dir.join(&format!("mst/{id}.mst")));
            let sub = embedded.subtree(id);
            for (path, e) in &mst.entries {
                if path == "/" {
                    assert_eq!(
                        e.clsid,
                        Uuid::from_u128(0x000C1082_0000_0000_C000_000000000046)
                    );
                    continue;
                }
                let rel = path.trim_start_matches('/');
                assert!(sub[rel].bytes == e.bytes, "{id}: {rel} differs");
            }
            assert_eq!(mst.entries.len(), sub.len());
            let src = instances::from_product(&dir.join(&format!("mst/{id}.mst"))).unwrap();
            assert_eq!(
                src.instances[0].product_code.braced(),
                derived(PRODUCT_A, id)
            );
        }
        // A dry run writes nothing, not even the .mst files.
        std::fs::create_dir(dir.join("dry")).unwrap();
        let r = run(&[
            "instances",
            "add",
            "p.msi",
            "--count",
            "2",
            "--mst-dir",
            "dry",
            "--dry-run",
            "--json",
        ]);
        r.code(0);
        assert_eq!(std::fs::read_dir(dir.join("dry")).unwrap().count(), 0);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["command"], "instances add");
        assert_eq!(v["outcome"], "planned");
        assert_eq!(
            v["plan"]["added"][1]["product_code"],
            derived(PRODUCT_A, "Instance2")
        );
        assert_eq!(v["plan"]["added"][1]["derived"], true);
    }
);

//===========================================================================//
// Refusals

msptest!(refusals_name_the_reason_and_write_nothing, |dir, run| {
    product(&dir, "p.msi");
    run(&["instances", "add", "p.msi", "--count", "2", "-o", "two.msi"]).code(0);
    let base_code = format!("X={PRODUCT_A}");
    let taken_code = format!("X={}", derived(PRODUCT_A, "Instance1"));
    let long = "A".repeat(32);
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (vec!["p.msi", "-i", "a/b"], 2, "contains '/'".into()),
        (
            vec!["p.msi", "-i", &long],
            2,
            "is 32 UTF-16 units long".into(),
        ),
        (vec!["p.msi", "-i", "#x"], 2, "'#'".into()),
        (
            vec!["p.msi", "-i", "Dup", "-i", "dup"],
            2,
            "is given twice".into(),
        ),
        (
            vec!["two.msi", "-i", "instance1"],
            2,
            "already used by the entry \"Instance1\"".into(),
        ),
        (
            vec!["p.msi", "-i", &base_code],
            2,
            "is already used by the base product".into(),
        ),
        (
            vec!["two.msi", "-i", &taken_code],
            2,
            "is already used by instance Instance1".into(),
        ),
        (
            vec!["p.msi", "-i", "A", "--isolate-components", "Loose"],
            2,
            "has no ComponentId".into(),
        ),
        (
            vec!["p.msi", "-i", "A", "--isolate-components", "Nope"],
            2,
            "not a key of the Component table".into(),
        ),
        (
            vec!["p.msi", "-i", "A", "--product-name", "{nmae}"],
            2,
            "unknown placeholder {nmae}".into(),
        ),
        (
            vec!["p.msi", "-i", "A", "--property", "1x"],
            2,
            "is not a property name".into(),
        ),
        (
            vec![
                "p.msi",
                "-i",
                "A",
                "--upgrade-code",
                "B={66666666-6666-4666-8666-666666666666}",
            ],
            2,
            "names instance \"B\"".into(),
        ),
    ];
    for (args, code, fragment) in cases {
        let mut full = vec!["instances", "add"];
        full.extend(&args);
        full.extend(["-o", "out.msi"]);
        let r = run(&full);
        r.code(code);
        assert!(
            r.stderr.contains(&fragment),
            "{args:?}: {fragment:?} not in {}",
            r.stderr
        );
        assert!(!dir.join("out.msi").exists(), "{args:?} wrote a result");
    }
    // A patch and a transform are not products.
    dir.patch("fix.msp", &PatchSpec::single_product());
    let r = run(&[
        "instances",
        "add",
        "fix.msp",
        "--count",
        "1",
        "-o",
        "out.msi",
    ]);
    r.code(2);
    assert!(
        r.stderr.contains("fix.msp: is a patch (.msp)"),
        "{}",
        r.stderr
    );
    std::fs::create_dir(dir.join("mst")).unwrap();
    run(&[
        "instances",
        "add",
        "p.msi",
        "-i",
        "T",
        "--mst-dir",
        "mst",
        "-o",
        "t.msi",
    ])
    .code(0);
    let r = run(&[
        "instances",
        "add",
        "mst/T.mst",
        "--count",
        "1",
        "-o",
        "out.msi",
    ]);
    r.code(2);
    assert!(r.stderr.contains("is a transform (.mst)"), "{}", r.stderr);
    // remove: unknown ids, and storages that are not instances.
    let r = run(&[
        "instances",
        "remove",
        "two.msi",
        "Instance9",
        "-o",
        "out.msi",
    ]);
    r.code(2);
    assert!(
        r.stderr.contains(
            "no instance \"Instance9\" to remove: the product's instances are Instance1, Instance2"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.join("out.msi").exists());
});

msptest!(
    a_signed_product_is_refused_unless_the_signature_is_stripped,
    |dir, run| {
        let input = product(&dir, "p.msi");
        crate::util::edit(&input, |cf| {
            use std::io::Write;
            let mut s = cf.create_stream("/\u{5}DigitalSignature").unwrap();
            s.write_all(b"not really a signature").unwrap();
        });
        let r = run(&["instances", "add", "p.msi", "--count", "1", "-o", "out.msi"]);
        r.code(1);
        assert!(r.stderr.contains("is signed"), "{}", r.stderr);
        assert!(r.stderr.contains("--strip-signature"), "{}", r.stderr);
        assert!(!dir.join("out.msi").exists());
        let r = run(&[
            "instances",
            "add",
            "p.msi",
            "--count",
            "1",
            "--strip-signature",
            "-o",
            "out.msi",
        ]);
        r.code(0);
        assert!(
            r.stdout.contains("removed signature stream"),
            "{}",
            r.stdout
        );
        let snap = Snapshot::of(&dir.join("out.msi"));
        assert!(!snap.entries.contains_key("/\u{5}DigitalSignature"));
        assert!(snap.entries.contains_key("/Instance1"));
    }
);

//===========================================================================//
// remove

msptest!(remove_undoes_add, |dir, run| {
    let input = product(&dir, "p.msi");
    run(&[
        "instances",
        "add",
        "p.msi",
        "--count",
        "3",
        "--isolate-components",
        "all",
        "-o",
        "three.msi",
    ])
    .code(0);
    let r = run(&[
        "instances",
        "remove",
        "three.msi",
        "instance2",
        "-o",
        "two.msi",
    ]);
    r.code(0);
    assert!(r.stdout.contains("removed Instance2"), "{}", r.stdout);
    let ids: Vec<String> = instances::from_product(&dir.join("two.msi"))
        .unwrap()
        .instances
        .into_iter()
        .map(|i| i.id.unwrap())
        .collect();
    assert_eq!(ids, ["Instance1", "Instance3"]);
    run(&[
        "instances",
        "remove",
        "two.msi",
        "Instance1",
        "Instance3",
        "--in-place",
    ])
    .code(0);
    // Every entry as it was, metadata included, and nothing more.
    assert_eq!(Snapshot::of(&dir.join("two.msi")), Snapshot::of(&input));
    let src = instances::from_product(&dir.join("two.msi")).unwrap();
    assert!(src.instances.is_empty());
});

//===========================================================================//
// Large products, inspect, retarget

msptest!(a_product_with_3_byte_string_references, |dir, run| {
    let input = product_with_filler(&dir, "big.msi", 70_000);
    // The product's pool passes 65,535 strings: its header has the flag.
    let mut cf = cfb::open(&input).unwrap();
    let pool_name = msp_retarget::testkit::streamname::encode("_StringPool", true);
    let mut header = [0u8; 4];
    use std::io::Read;
    cf.open_stream(format!("/{pool_name}"))
        .unwrap()
        .read_exact(&mut header)
        .unwrap();
    assert_ne!(u32::from_le_bytes(header) & 0x8000_0000, 0);
    drop(cf);
    run(&[
        "instances",
        "add",
        "big.msi",
        "--count",
        "2",
        "--isolate-components",
        "Core",
        "-o",
        "out.msi",
    ])
    .code(0);
    let out = dir.join("out.msi");
    assert_eq!(
        rows(&out, "Instance1", "Property")[0],
        (
            RowKind::Update,
            vec![s("ProductCode")],
            value(&derived(PRODUCT_A, "Instance1"))
        )
    );
    assert_eq!(rows(&out, "Instance2", "Component").len(), 1);
    let codes: Vec<String> = instances::from_product(&out)
        .unwrap()
        .instances
        .iter()
        .map(|i| i.product_code.braced())
        .collect();
    assert_eq!(
        codes,
        [
            derived(PRODUCT_A, "Instance1"),
            derived(PRODUCT_A, "Instance2")
        ]
    );
});

msptest!(inspect_lists_them_and_retarget_takes_them, |dir, run| {
    product(&dir, "p.msi");
    dir.patch("fix.msp", &PatchSpec::single_product());
    run(&[
        "instances",
        "add",
        "p.msi",
        "--count",
        "2",
        "-o",
        "multi.msi",
    ])
    .code(0);
    let r = run(&["inspect", "multi.msi"]);
    r.code(0);
    let i1 = derived(PRODUCT_A, "Instance1");
    let i2 = derived(PRODUCT_A, "Instance2");
    assert!(
        r.stdout
            .contains(&format!("  Instance1    {i1}  \"Sample (Instance1)\"\n")),
        "{}",
        r.stdout
    );
    let r = run(&[
        "retarget",
        "fix.msp",
        "--instances-from",
        "multi.msi",
        "-o",
        "all.msp",
    ]);
    r.code(0);
    let snap = Snapshot::of(&dir.join("all.msp"));
    assert_eq!(
        snap.text("", crate::util::pid::TEMPLATE),
        format!("{PRODUCT_A};{i1};{i2}")
    );
    let r = run(&[
        "check",
        "all.msp",
        "--package",
        "p.msi",
        "--instances-from",
        "multi.msi",
    ]);
    r.code(0);
});

msptest!(
    check_warns_when_instances_share_a_product_name,
    |dir, run| {
        product(&dir, "p.msi");
        dir.patch("fix.msp", &PatchSpec::single_product());
        run(&[
            "instances",
            "add",
            "p.msi",
            "--count",
            "2",
            "--product-name",
            "{name}",
            "-o",
            "same.msi",
        ])
        .code(0);
        run(&["instances", "add", "p.msi", "--count", "2", "-o", "own.msi"]).code(0);
        let r = run(&["check", "fix.msp", "--instances-from", "same.msi"]);
        assert!(
            r.stderr
                .contains("instances Instance1 and Instance2 share the ProductName \"Sample\""),
            "{}",
            r.stderr
        );
        let r = run(&["check", "fix.msp", "--instances-from", "own.msi"]);
        assert!(!r.stderr.contains("share the ProductName"), "{}", r.stderr);
    }
);
