//! The `check` command line: exit codes 0/1/2, the human output, and the
//! shape of the JSON document (pinned by mirror structs that refuse
//! unknown fields, so a field cannot appear or vanish unnoticed).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

/// Product code, upgrade code and version of `PatchSpec::single_product()`.
const PRODUCT: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
const UPGRADE: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const OTHER: &str = "{11111111-2222-4333-8444-555555555555}";

struct Fixture {
    dir: tempfile::TempDir,
    patch: PathBuf,
}

fn fixture(spec: &PatchSpec) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("fix.msp");
    write_patch_file(spec, &patch).unwrap();
    Fixture { dir, patch }
}

/// Writes a product database with these Property rows.
fn product_msi(path: &Path, props: &[(&str, &str)]) {
    std::fs::write(
        path,
        msp_retarget::testkit::synth::product_database(props).unwrap(),
    )
    .unwrap();
}

fn check(args: &[&str]) -> (i32, String, String) {
    let out = crate::util::cli(["check"]).args(args).run();
    (out.code, out.stdout, out.stderr)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

//===========================================================================//
// The JSON document, mirrored

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    command: String,
    outcome: String,
    patch: PathBuf,
    patch_code: Option<String>,
    targets: Vec<String>,
    pairs: Vec<PairInfo>,
    products: Vec<ProductCheck>,
    lint: Vec<Finding>,
    #[serde(default)]
    signature: Option<SignatureDoc>,
}

/// The parts of `msp_retarget::testkit::signature::SignatureReport` checked here.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct SignatureDoc {
    verdict: String,
    digest_algorithm: String,
    msi_digital_signature_ex: bool,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairInfo {
    main: String,
    partner: Option<String>,
    made_for: String,
    base_version: String,
    validation: Vec<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductCheck {
    facts: Facts,
    layer1: bool,
    pairs: Vec<PairResult>,
    verdict: String,
    applied: Option<Applied>,
    also_valid: Vec<String>,
    reasons: Vec<String>,
    warnings: Vec<String>,
    #[serde(default)]
    other_pairs: usize,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Facts {
    code: String,
    version: Option<String>,
    language: Option<u16>,
    upgrade_code: Option<String>,
    platform: Option<String>,
    source: String,
    complete: bool,
    /// Only written for an instance of a product database.
    #[serde(default)]
    instance_id: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairResult {
    name: String,
    partner: Option<String>,
    made_for: String,
    base_version: String,
    char_count: Option<String>,
    checks: Vec<Check>,
    status: String,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    check: String,
    outcome: String,
    required: String,
    actual: Option<String>,
    message: String,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Applied {
    main: String,
    partner: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    severity: String,
    code: String,
    subject: Option<String>,
    message: String,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorEnvelope {
    schema_version: u32,
    command: String,
    outcome: String,
    error: ErrorInfo,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorInfo {
    kind: String,
    file: Option<PathBuf>,
    part: Option<String>,
    reason: String,
    message: String,
}

//===========================================================================//
// Exit codes

#[test]
fn exit_0_when_the_patch_applies_to_every_product() {
    let f = fixture(&PatchSpec::single_product());
    let msi = f.dir.path().join("product.msi");
    product_msi(
        &msi,
        &[
            ("ProductCode", PRODUCT),
            ("ProductVersion", "1.0.0.0"),
            ("ProductLanguage", "1033"),
            ("UpgradeCode", UPGRADE),
        ],
    );
    let spec = format!("{},1.0.0.0,1033,{UPGRADE}", PRODUCT.to_lowercase());
    let (code, out, err) = check(&[path(&f.patch), "--package", path(&msi), "--product", &spec]);
    assert_eq!(code, 0, "{out}{err}");
    // One line per product; no details for a product it applies to.
    assert!(
        out.contains(&format!("{PRODUCT}: APPLICABLE: pair rtmA.1 + #rtmA.1\n")),
        "{out}"
    );
    assert!(!out.contains("verdict:"), "{out}");
    assert!(out.contains("applies to 2 of 2 products\n"), "{out}");
    assert!(out.contains("lint: no findings"), "{out}");
    // --details: every pair of every product.
    let (code, out, _) = check(&[
        path(&f.patch),
        "--package",
        path(&msi),
        "--product",
        &spec,
        "--details",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: APPLICABLE"), "{out}");
    assert!(
        out.contains("rtmA.1 validates and is applied with its partner #rtmA.1"),
        "{out}"
    );
}

#[test]
fn exit_1_when_it_does_not_apply_to_one_product() {
    let f = fixture(&PatchSpec::single_product());
    let good = format!("{PRODUCT},1.0.0.0,1033,{UPGRADE}");
    let newer = format!("{PRODUCT},1.0.1.0,1033,{UPGRADE}");
    let (code, out, _) = check(&[path(&f.patch), "--product", &good, "--product", &newer]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "rtmA.1 requires ProductVersion = 1.0.0 (major.minor.update), the product has 1.0.1"
        ),
        "{out}"
    );
    let (code, out, _) = check(&[path(&f.patch), "--product", OTHER]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT APPLICABLE"), "{out}");
    assert!(
        out.contains(&format!(
            "rtmA.1 checks the product code: the patch transform was made for {PRODUCT}, \
             this product is {OTHER}"
        )),
        "{out}"
    );
}

#[test]
fn exit_1_when_missing_facts_leave_it_undetermined() {
    let f = fixture(&PatchSpec::single_product());
    let (code, out, _) = check(&[path(&f.patch), "--product", PRODUCT]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNDETERMINED"), "{out}");
    assert!(out.contains("ProductVersion was not given"), "{out}");
}

#[test]
fn exit_2_on_errors() {
    let f = fixture(&PatchSpec::single_product());
    let missing = f.dir.path().join("nope.msp");
    let (code, _, err) = check(&[path(&missing), "--product", PRODUCT]);
    assert_eq!(code, 2);
    assert!(err.contains("nope.msp"), "{err}");

    let (code, _, err) = check(&[path(&f.patch), "--product", "not-a-guid"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a product code"), "{err}");

    // A patch given where a product database is expected.
    let (code, _, err) = check(&[path(&f.patch), "--package", path(&f.patch)]);
    assert_eq!(code, 2);
    assert!(err.contains("not a product database"), "{err}");

    // A database given where the patch is expected.
    let msi = f.dir.path().join("product.msi");
    product_msi(&msi, &[("ProductCode", PRODUCT)]);
    let (code, _, err) = check(&[path(&msi), "--product", PRODUCT]);
    assert_eq!(code, 2);
    assert!(err.contains("not a patch"), "{err}");

    // A product database without ProductVersion.
    let (code, _, err) = check(&[path(&f.patch), "--package", path(&msi)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("product.msi") && err.contains("no ProductVersion"),
        "{err}"
    );

    // No product at all is a usage error from the parser.
    let (code, _, _) = check(&[path(&f.patch)]);
    assert_eq!(code, 2);
}

//===========================================================================//
// JSON

#[test]
fn json_has_the_documented_shape() {
    let f = fixture(&PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    });
    let good = format!("{PRODUCT},1.0.0.0,1033,{UPGRADE}");
    let (code, out, err) = check(&[
        path(&f.patch),
        "--product",
        &good,
        "--product",
        OTHER,
        "--json",
    ]);
    assert_eq!(code, 1, "{err}");
    let r: Report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(r.schema_version, 3);
    assert_eq!(r.command, "check");
    assert_eq!(r.outcome, "not_applicable");
    assert_eq!(r.targets, [PRODUCT]);
    assert_eq!(r.pairs.len(), 1);
    assert_eq!(r.pairs[0].partner.as_deref(), Some("#rtmA.1"));

    let ok = &r.products[0];
    assert_eq!(ok.verdict, "applicable");
    assert!(ok.layer1);
    assert!(ok.facts.language == Some(1033) && !ok.facts.complete);
    assert_eq!(ok.applied.as_ref().unwrap().main, "rtmA.1");
    let pair = &ok.pairs[0];
    assert_eq!(pair.status, "valid");
    assert_eq!(pair.char_count.as_deref(), Some("0x0922001f"));
    let kinds: Vec<(&str, &str)> = pair
        .checks
        .iter()
        .map(|c| (c.check.as_str(), c.outcome.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("product_code", "passed"),
            ("version", "passed"),
            ("upgrade_code", "passed")
        ]
    );

    let bad = &r.products[1];
    assert_eq!(bad.verdict, "not_applicable");
    assert!(!bad.layer1);
    assert!(bad.applied.is_none());
    assert_eq!(bad.pairs[0].status, "invalid");
    assert!(
        bad.reasons
            .iter()
            .any(|r| r.contains("Template does not list"))
    );

    assert_eq!(r.lint.len(), 1);
    assert_eq!(r.lint[0].severity, "info");
    assert_eq!(r.lint[0].code, "signature-valid");
    let sig = r.signature.expect("the signature");
    assert_eq!(sig.verdict, "valid");
    assert_eq!(sig.digest_algorithm, "sha256");
}

#[test]
fn json_errors_use_the_error_envelope() {
    let f = fixture(&PatchSpec::single_product());
    let missing = f.dir.path().join("nope.msp");
    let (code, out, _) = check(&[path(&missing), "--product", PRODUCT, "--json"]);
    assert_eq!(code, 2);
    let e: ErrorEnvelope = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(e.command, "check");
    assert_eq!(e.outcome, "error");
    assert!(e.error.message.contains("nope.msp"));
}

#[test]
fn a_broken_patch_is_still_checked_and_its_defects_listed() {
    let f = fixture(&PatchSpec {
        extra_last_saved_by: Some(":rtmA.1;:#rtmA.1;:gone;x".into()),
        ..PatchSpec::single_product()
    });
    let good = format!("{PRODUCT},1.0.0.0,1033,{UPGRADE}");
    let (code, out, err) = check(&[path(&f.patch), "--product", &good, "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: Report = serde_json::from_str(&out).unwrap();
    let codes: Vec<&str> = r.lint.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        ["entry-without-colon", "no-partner", "missing-transform"],
        "{:#?}",
        r.lint
    );
    assert!(r.lint.iter().any(|f| f.severity == "error"));
}
