//! The `sequence` command line: the documentation's Multiple Patching
//! Example as real patch files, exit codes 0/1/2, the human output, and the
//! shape of the JSON document (mirror structs that refuse unknown fields).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use msp_retarget::testkit::synth::{
    PatchSpec, SequenceRowSpec, SequenceTable, pair, product_database, write_patch_file,
};

const PC: &str = "{18A9233C-0B34-4127-A966-C257386270BC}";
const UC: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const INSTANCE: &str = "{A93C47E2-1B5D-4F60-8E72-C4D5E6F7A822}";

fn spec(n: u32, from: &str, to: &str, seq: &str, supersede: bool) -> PatchSpec {
    PatchSpec {
        patch_code: format!("{{3B0E9C51-8D2A-4F7B-A6C4-{n:012X}}}"),
        targets: vec![PC.into()],
        pairs: vec![pair(&format!("t{n}"), PC, from, to, UC)],
        cabinet_len: 64,
        sequence: SequenceTable::Rows(vec![SequenceRowSpec::new(
            "AppPatch",
            Some(PC),
            seq,
            supersede,
        )]),
        ..PatchSpec::single_product()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// QFE1, QFE2 and SP1 of the Multiple Patching Example, and the
    /// product 1.0 they are made for.
    fn example(supersede: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, s) in [
            ("QFE1.msp", spec(1, "1.0.0.0", "1.0.0.0", "1.1.0", false)),
            ("QFE2.msp", spec(2, "1.0.0.0", "1.0.0.0", "1.2.0", false)),
            ("SP1.msp", spec(3, "1.0.0.0", "1.1.0.0", "1.3.0", supersede)),
        ] {
            write_patch_file(&s, &dir.path().join(name)).unwrap();
        }
        let props = [
            ("ProductCode", PC),
            ("ProductVersion", "1.0.0.0"),
            ("ProductLanguage", "1033"),
            ("UpgradeCode", UC),
        ];
        std::fs::write(
            dir.path().join("product.msi"),
            product_database(&props).unwrap(),
        )
        .unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

fn sequence(args: &[&str]) -> (i32, String, String) {
    let out = crate::util::cli(["sequence"]).args(args).run();
    (out.code, out.stdout, out.stderr)
}

//===========================================================================//
// The JSON document, mirrored

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    command: String,
    products: Vec<Product>,
    patches: Vec<PatchUse>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    product_code: String,
    instance_id: Option<String>,
    source: String,
    sequence: Vec<Placed>,
    dropped: Vec<Dropped>,
    final_version: Option<String>,
    choices: Vec<Choice>,
    notes: Vec<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Placed {
    patch: String,
    patch_code: String,
    installed: bool,
    kind: String,
    family: Option<String>,
    sequence: Option<String>,
    placed_by: String,
    pair: String,
    version_after: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Dropped {
    patch: String,
    patch_code: String,
    reason: String,
    detail: String,
    verdict: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Choice {
    choice: String,
    detail: String,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUse {
    patch: String,
    patch_code: String,
    installed: bool,
    sequenced_for: usize,
    applies_to_none: bool,
}

fn json(args: &[&str]) -> (i32, Report) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = sequence(&all);
    let report: Report =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\nstderr: {err}"));
    (code, report)
}

fn file_names(items: &[Placed]) -> Vec<String> {
    items
        .iter()
        .map(|p| {
            Path::new(&p.patch)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

//===========================================================================//

#[test]
fn the_example_is_ordered_qfe1_qfe2_sp1_whatever_the_order_given() {
    let f = Fixture::example(false);
    let (code, r) = json(&[
        &f.path("SP1.msp"),
        &f.path("QFE2.msp"),
        &f.path("QFE1.msp"),
        "--package",
        &f.path("product.msi"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(r.schema_version, 3);
    assert_eq!(r.command, "sequence");
    assert_eq!(r.products.len(), 1);
    let p = &r.products[0];
    assert_eq!(p.product_code, PC);
    assert_eq!(p.instance_id, None);
    assert_eq!(file_names(&p.sequence), ["QFE1.msp", "QFE2.msp", "SP1.msp"]);
    assert_eq!(p.sequence[2].kind, "minor_upgrade");
    assert_eq!(p.sequence[0].kind, "small_update");
    assert_eq!(p.sequence[0].family.as_deref(), Some("AppPatch"));
    assert_eq!(p.final_version.as_deref(), Some("1.1.0.0"));
    assert!(p.dropped.is_empty());
    assert!(
        r.patches
            .iter()
            .all(|u| u.sequenced_for == 1 && !u.applies_to_none)
    );
}

#[test]
fn installed_patches_are_sequenced_with_the_new_ones() {
    let f = Fixture::example(false);
    let (code, r) = json(&[
        &f.path("QFE2.msp"),
        &f.path("QFE1.msp"),
        "--package",
        &f.path("product.msi"),
        "--installed",
        &f.path("SP1.msp"),
    ]);
    assert_eq!(code, 0);
    let p = &r.products[0];
    assert_eq!(file_names(&p.sequence), ["QFE1.msp", "QFE2.msp", "SP1.msp"]);
    assert!(p.sequence[2].installed);
    assert!(r.patches[0].installed, "installed patches are listed first");
}

#[test]
fn supersede_earlier_drops_the_qfes_with_the_reason() {
    let f = Fixture::example(true);
    let (code, r) = json(&[
        &f.path("QFE1.msp"),
        &f.path("QFE2.msp"),
        &f.path("SP1.msp"),
        "--package",
        &f.path("product.msi"),
    ]);
    assert_eq!(code, 0, "a superseded patch still applies to the product");
    let p = &r.products[0];
    assert_eq!(file_names(&p.sequence), ["SP1.msp"]);
    assert_eq!(p.dropped.len(), 2);
    for d in &p.dropped {
        assert_eq!(d.reason, "superseded");
        assert!(d.detail.contains("SP1.msp"), "{}", d.detail);
        assert_eq!(d.verdict, None);
    }
}

#[test]
fn a_patch_for_no_product_given_exits_1_with_the_reasons() {
    let f = Fixture::example(false);
    let other = format!("{INSTANCE},1.0.0.0,1033,{UC}");
    let (code, out, _) = sequence(&[&f.path("QFE1.msp"), "--product", &other]);
    assert_eq!(code, 1);
    assert!(out.contains("dropped QFE1.msp"), "{out}");
    assert!(out.contains("not applicable"), "{out}");
    assert!(out.contains("Template does not list"), "{out}");
    assert!(out.contains("applies to no product given"), "{out}");
    let (code, r) = json(&[&f.path("QFE1.msp"), "--product", &other]);
    assert_eq!(code, 1);
    let d = &r.products[0].dropped[0];
    assert_eq!(d.reason, "not_applicable");
    assert_eq!(d.verdict.as_deref(), Some("not_applicable"));
    assert!(!d.reasons.is_empty());
    assert!(r.patches[0].applies_to_none);
}

#[test]
fn the_human_output_numbers_the_sequence() {
    let f = Fixture::example(false);
    let (code, out, err) = sequence(&[
        &f.path("SP1.msp"),
        &f.path("QFE1.msp"),
        "--package",
        &f.path("product.msi"),
    ]);
    assert_eq!(code, 0, "{err}");
    let one = out.find("1. QFE1.msp").expect(&out);
    let two = out.find("2. SP1.msp").expect(&out);
    assert!(one < two);
    assert!(out.contains("family AppPatch 1.3.0"), "{out}");
}

#[test]
fn errors_exit_2_naming_the_file() {
    let f = Fixture::example(false);
    let missing = f.path("missing.msp");
    let (code, _, err) = sequence(&[&missing, "--package", &f.path("product.msi")]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.msp"), "{err}");
    // The same patch twice.
    let q = f.path("QFE1.msp");
    let (code, _, err) = sequence(&[&q, &q, "--package", &f.path("product.msi")]);
    assert_eq!(code, 2);
    assert!(err.contains("same patch code"), "{err}");
    // No product.
    let (code, _, _) = sequence(&[&q]);
    assert_eq!(code, 2);
    // A product database given as a patch.
    let (code, out, err) = sequence(&[
        &f.path("product.msi"),
        "--package",
        &f.path("product.msi"),
        "--json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("product.msi"), "{err}");
    assert!(out.contains("\"outcome\": \"error\""), "{out}");
}

#[test]
fn the_shipped_sample_set_sequences_as_documented() {
    // The sample set shipped in testdata/ sequences as its README says.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sequence");
    let p = |n: &str| -> PathBuf { dir.join(n) };
    let (code, r) = json(&[
        p("sp1.msp").to_str().unwrap(),
        p("qfe2.msp").to_str().unwrap(),
        p("qfe1.msp").to_str().unwrap(),
        "--package",
        p("product.msi").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        file_names(&r.products[0].sequence),
        ["qfe1.msp", "qfe2.msp", "sp1.msp"]
    );
}

#[test]
fn a_retargeted_instance_is_sequenced_like_its_base() {
    let f = Fixture::example(false);
    let out = f.path("QFE1-all.msp");
    crate::util::cli([
        "retarget",
        &f.path("QFE1.msp"),
        "--instance",
        INSTANCE,
        "-o",
        &out,
    ])
    .run()
    .code(0);
    let instance = format!("{INSTANCE},1.0.0.0,1033,{UC}");
    let check = crate::util::cli(["check", &out, "--package", &f.path("product.msi")])
        .args(["--product", &instance, "--json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let warnings = |i: usize| v["products"][i]["warnings"].as_array().unwrap().clone();
    assert!(warnings(0).is_empty(), "{:?}", warnings(0));
    // The retarget mirrored the base's keyed row for the instance: no
    // warning, and sequence orders the instance by family Sequence.
    assert!(warnings(1).is_empty(), "{:?}", warnings(1));
    let (code, r) = json(&[&out, "--product", &instance]);
    assert_eq!(code, 0);
    assert_eq!(
        r.products[0].sequence[0].family.as_deref(),
        Some("AppPatch")
    );
    assert!(
        r.products[0]
            .choices
            .iter()
            .all(|c| c.choice != "rows-for-other-products"),
        "{:?}",
        r.products[0].choices
    );
}
