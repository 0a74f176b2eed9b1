//! `sequence` on the real WiX-built patches of the shared corpus against
//! their products (ignored by default; run with
//! `cargo test --test corpus sequence -- --ignored`; the folder is
//! `$MSP_CORPUS_DIR`, else `../shared/corpus`).
//!
//! The expected orders are written by hand from the patches' tables
//! (`msp-retarget inspect`):
//!
//! * `rtmldr.msp`: pair `rtm.1` 1.0.0.0 -> 1.0.1.0 (a minor upgrade; it does
//!   not check the product code), MsiPatchSequence `SP`/NULL/1.0.1.0/1,
//!   MsiPatchMetadata MinorUpdateTargetRTM = 1;
//! * `gdr1.msp`: pairs `rtmldr.1` (1.0.1.0) and `rtm.2` (1.0.0.0), both
//!   keeping the version (a small update from two baselines), rows
//!   `Source` and `Patch`, NULL product, 1.0.1.1, SupersedeEarlier;
//! * `PatchAv101.msp` / `PatchBv101.msp`: `rtmA.1` / `rtmB.1` 1.0.0.0 ->
//!   1.0.1.0 for product A / B, rows `SP`/NULL/1.0.1.0/1,
//!   MinorUpdateTargetRTM = 1.
//!
//! So on `rtm-product.msi` (1.0.0.0): rtmldr is the only minor upgrade and
//! applies to RTM; gdr1's `rtmldr.1` validates after it, so gdr1 is
//! attached after rtmldr; their families differ, so nothing is superseded.
//! Alone, gdr1 goes before the (absent) first minor upgrade and applies
//! through `rtm.2`. On prodAv100 and prodBv100 only their own patch
//! applies; the others are not applicable (Template).

use std::path::PathBuf;

use serde_json::Value;

use crate::util::corpus as shared_corpus;
use shared_corpus::wix3 as file;

fn run(args: &[String]) -> (i32, Value) {
    let out = crate::util::cli(["sequence"])
        .args(args)
        .args(["--json"])
        .run();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", out.stdout, out.stderr));
    (out.code, v)
}

fn s(p: PathBuf) -> String {
    p.to_str().unwrap().to_string()
}

/// (file name, pair) of each sequenced patch of product `i`.
fn order(v: &Value, i: usize) -> Vec<(String, String)> {
    v["products"][i]["sequence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = PathBuf::from(p["patch"].as_str().unwrap());
            (
                name.file_name().unwrap().to_string_lossy().into_owned(),
                p["pair"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn dropped(v: &Value, i: usize) -> Vec<(String, String)> {
    v["products"][i]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = PathBuf::from(p["patch"].as_str().unwrap());
            (
                name.file_name().unwrap().to_string_lossy().into_owned(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn every_corpus_patch_against_every_corpus_product() {
    let (code, v) = run(&[
        s(file("gdr1.msp")),
        s(file("rtmldr.msp")),
        s(file("PatchAv101.msp")),
        s(file("PatchBv101.msp")),
        "--package".into(),
        s(file("rtm-product.msi")),
        "--package".into(),
        s(file("prodAv100.msi")),
        "--package".into(),
        s(file("prodBv100.msi")),
    ]);
    assert_eq!(code, 0, "every patch applies to one of the products");
    assert_eq!(
        order(&v, 0),
        pairs(&[("rtmldr.msp", "rtm.1"), ("gdr1.msp", "rtmldr.1")])
    );
    assert_eq!(v["products"][0]["final_version"], "1.0.1.0");
    assert_eq!(v["products"][0]["sequence"][0]["kind"], "minor_upgrade");
    assert_eq!(v["products"][0]["sequence"][1]["kind"], "small_update");
    assert_eq!(
        dropped(&v, 0),
        pairs(&[
            ("PatchAv101.msp", "not_applicable"),
            ("PatchBv101.msp", "not_applicable")
        ])
    );
    assert_eq!(order(&v, 1), pairs(&[("PatchAv101.msp", "rtmA.1")]));
    assert_eq!(
        dropped(&v, 1),
        pairs(&[
            ("gdr1.msp", "not_applicable"),
            ("rtmldr.msp", "not_applicable"),
            ("PatchBv101.msp", "not_applicable")
        ])
    );
    assert_eq!(order(&v, 2), pairs(&[("PatchBv101.msp", "rtmB.1")]));
    assert_eq!(v["products"][2]["dropped"].as_array().unwrap().len(), 3);
    // Only rtm-product's two minor upgrades could tie; just one applies.
    for i in 0..3 {
        assert_eq!(v["products"][i]["choices"], serde_json::json!([]), "{i}");
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn gdr1_alone_applies_to_rtm_through_its_rtm_pair() {
    let (code, v) = run(&[
        s(file("gdr1.msp")),
        "--package".into(),
        s(file("rtm-product.msi")),
    ]);
    assert_eq!(code, 0);
    assert_eq!(order(&v, 0), pairs(&[("gdr1.msp", "rtm.2")]));
    assert_eq!(v["products"][0]["final_version"], "1.0.0.0");
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn an_installed_ldr_baseline_keeps_gdr1_on_its_ldr_pair() {
    let (code, v) = run(&[
        s(file("gdr1.msp")),
        "--installed".into(),
        s(file("rtmldr.msp")),
        "--package".into(),
        s(file("rtm-product.msi")),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        order(&v, 0),
        pairs(&[("rtmldr.msp", "rtm.1"), ("gdr1.msp", "rtmldr.1")])
    );
    assert_eq!(v["products"][0]["sequence"][0]["installed"], true);
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn retargeted_patches_are_sequenced_alike_for_base_and_instance() {
    const INSTANCE: &str = "{11111111-1111-4111-8111-111111111111}";
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for name in ["gdr1.msp", "rtmldr.msp"] {
        let out = dir.path().join(name);
        crate::util::cli(["retarget", &s(file(name)), "--instance", INSTANCE, "-o"])
            .args([&out])
            .run()
            .code(0);
        outputs.push(s(out));
    }
    let (code, v) = run(&[
        outputs[0].clone(),
        outputs[1].clone(),
        "--package".into(),
        s(file("rtm-product.msi")),
        "--product".into(),
        format!("{INSTANCE},1.0.0.0,1033,{{5A990E27-3480-4D0C-BCA3-75B726C7C048}}"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        order(&v, 0),
        pairs(&[("rtmldr.msp", "rtm.1"), ("gdr1.msp", "rtmldr.1")])
    );
    // NULL rows apply to the instance too; rtm.1 does not check the product
    // code, gdr1's pairs were copied for the instance.
    let instance = order(&v, 1);
    assert_eq!(instance.len(), 2, "{instance:?}");
    assert_eq!(instance[0], ("rtmldr.msp".to_string(), "rtm.1".to_string()));
    assert_eq!(instance[1].0, "gdr1.msp");
    assert!(instance[1].1.starts_with("rtmldr.1_"), "{instance:?}");
}
