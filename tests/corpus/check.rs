//! Corpus suite for `check`: every real WiX-built patch of
//! `../shared/corpus` against every product database there, with the
//! verdicts written down by hand from the files' contents (below).
//!
//! Every test here is ignored by default; run them with
//! `cargo test --test corpus check -- --ignored`. The folder is
//! `$MSP_CORPUS_DIR` when set, else `../shared/corpus` next to the
//! repository. A missing folder fails the suite rather than skipping it.
//!
//! What the files hold (read with `msp-retarget inspect`):
//!
//! | patch | pair | made for | base | CharCount | checks |
//! |---|---|---|---|---|---|
//! | PatchAv101 | rtmA.1 | A {6EA3AE83-…} | 1.0.0.0 | 0x0922001F | product, update =, upgrade {77AE8779-…} |
//! | PatchBv101 | rtmB.1 | B {398B8855-…} | 1.0.0.0 | 0x0922001F | product, update =, upgrade {77AE8779-…} |
//! | gdr1 | rtmldr.1 | R {FB94421B-…} | 1.0.1.0 | 0x0922001F | product, update =, upgrade {5A990E27-…} |
//! | gdr1 | rtm.2 | R {FB94421B-…} | 1.0.0.0 | 0x0922001F | product, update =, upgrade {5A990E27-…} |
//! | rtmldr | rtm.1 | R {FB94421B-…} | 1.0.0.0 | 0x0920001F | update =, upgrade {5A990E27-…} (no product code) |
//!
//! | product | ProductCode | version | language | UpgradeCode |
//! |---|---|---|---|---|
//! | prodAv100.msi | A | 1.0.0.0 | 1033 | {77AE8779-…} |
//! | prodAv101.msi | A | 1.0.1.0 | 1033 | {77AE8779-…} |
//! | prodBv100.msi | B | 1.0.0.0 | 1033 | {77AE8779-…} |
//! | rtm-product.msi | R | 1.0.0.0 | 1033 | {5A990E27-…} |
//! | instance-transforms.msi | {4014E041-…} | 1.0.0.0 | 1033 | {F907C172-…} |
//!
//! Every Template lists only the product its pairs were made for.

use msp_retarget::Guid;
use msp_retarget::ProductFacts;
use msp_retarget::check_file;
use msp_retarget::report::check::{CheckStatus, PairStatus, Verdict};
use msp_retarget::testkit::applicability::evaluate;
use msp_retarget::testkit::lint::lint_patch;

use crate::util::corpus as shared_corpus;
use shared_corpus::wix3 as file;

//===========================================================================//
// The corpus

const PATCHES: [&str; 4] = ["PatchAv101.msp", "PatchBv101.msp", "gdr1.msp", "rtmldr.msp"];
const PRODUCTS: [&str; 5] = [
    "prodAv100.msi",
    "prodAv101.msi",
    "prodBv100.msi",
    "rtm-product.msi",
    "instance-transforms.msi",
];

//===========================================================================//
// The expected verdicts, by hand

/// What `check` must answer for one patch and one product.
enum Expect {
    /// Applicable through this pair (and its `#` partner), no other pair valid.
    Applies(&'static str),
    /// Not applicable; Template lists the product or not; per pair, the
    /// checks that fail.
    Not(bool, &'static [(&'static str, &'static [&'static str])]),
}

use Expect::{Applies, Not};

const PC: &str = "product_code";
const VER: &str = "version";
const UC: &str = "upgrade_code";

#[rustfmt::skip]
const EXPECTED: [(&str, &str, Expect); 20] = [
    // PatchAv101: rtmA.1 for A 1.0.0, upgrade code 77AE.
    ("PatchAv101.msp", "prodAv100.msi",           Applies("rtmA.1")),
    ("PatchAv101.msp", "prodAv101.msi",           Not(true,  &[("rtmA.1", &[VER])])),
    ("PatchAv101.msp", "prodBv100.msi",           Not(false, &[("rtmA.1", &[PC])])),
    ("PatchAv101.msp", "rtm-product.msi",         Not(false, &[("rtmA.1", &[PC, UC])])),
    ("PatchAv101.msp", "instance-transforms.msi", Not(false, &[("rtmA.1", &[PC, UC])])),
    // PatchBv101: rtmB.1 for B 1.0.0, upgrade code 77AE (shared with A).
    ("PatchBv101.msp", "prodAv100.msi",           Not(false, &[("rtmB.1", &[PC])])),
    ("PatchBv101.msp", "prodAv101.msi",           Not(false, &[("rtmB.1", &[PC, VER])])),
    ("PatchBv101.msp", "prodBv100.msi",           Applies("rtmB.1")),
    ("PatchBv101.msp", "rtm-product.msi",         Not(false, &[("rtmB.1", &[PC, UC])])),
    ("PatchBv101.msp", "instance-transforms.msi", Not(false, &[("rtmB.1", &[PC, UC])])),
    // gdr1: rtmldr.1 for R 1.0.1, then rtm.2 for R 1.0.0; upgrade code 5A99.
    ("gdr1.msp", "prodAv100.msi",           Not(false, &[("rtmldr.1", &[PC, VER, UC]), ("rtm.2", &[PC, UC])])),
    ("gdr1.msp", "prodAv101.msi",           Not(false, &[("rtmldr.1", &[PC, UC]), ("rtm.2", &[PC, VER, UC])])),
    ("gdr1.msp", "prodBv100.msi",           Not(false, &[("rtmldr.1", &[PC, VER, UC]), ("rtm.2", &[PC, UC])])),
    ("gdr1.msp", "rtm-product.msi",         Applies("rtm.2")),
    ("gdr1.msp", "instance-transforms.msi", Not(false, &[("rtmldr.1", &[PC, VER, UC]), ("rtm.2", &[PC, UC])])),
    // rtmldr: rtm.1 for 1.0.0 with upgrade code 5A99, product code not checked.
    ("rtmldr.msp", "prodAv100.msi",           Not(false, &[("rtm.1", &[UC])])),
    ("rtmldr.msp", "prodAv101.msi",           Not(false, &[("rtm.1", &[VER, UC])])),
    ("rtmldr.msp", "prodBv100.msi",           Not(false, &[("rtm.1", &[UC])])),
    ("rtmldr.msp", "rtm-product.msi",         Applies("rtm.1")),
    ("rtmldr.msp", "instance-transforms.msi", Not(false, &[("rtm.1", &[UC])])),
];

//===========================================================================//
// Tests

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn the_table_covers_every_patch_and_product() {
    for p in PATCHES {
        for m in PRODUCTS {
            assert!(
                EXPECTED.iter().any(|(pp, mm, _)| *pp == p && *mm == m),
                "no expected verdict for {p} on {m}"
            );
            file(p);
            file(m);
        }
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn product_facts_are_read_from_every_product() {
    #[rustfmt::skip]
    let want = [
        ("prodAv100.msi", "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}", "1.0.0.0", "{77AE8779-8689-4DC9-BB1B-64B500078104}"),
        ("prodAv101.msi", "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}", "1.0.1.0", "{77AE8779-8689-4DC9-BB1B-64B500078104}"),
        ("prodBv100.msi", "{398B8855-E3B8-4559-9C2B-3ED457C5A889}", "1.0.0.0", "{77AE8779-8689-4DC9-BB1B-64B500078104}"),
        ("rtm-product.msi", "{FB94421B-7FA3-4495-A9D7-212099C19147}", "1.0.0.0", "{5A990E27-3480-4D0C-BCA3-75B726C7C048}"),
        ("instance-transforms.msi", "{4014E041-A968-4DE3-B43C-322DF9A19359}", "1.0.0.0", "{F907C172-70B8-4654-8D23-49FB3AE2ECB7}"),
    ];
    for (name, code, version, upgrade) in want {
        let f = ProductFacts::from_package(&file(name)).unwrap();
        assert_eq!(f.code.braced(), code, "{name}");
        assert_eq!(f.version.as_deref(), Some(version), "{name}");
        assert_eq!(f.language, Some(1033), "{name}");
        assert_eq!(
            f.upgrade_code.map(|u| u.braced()).as_deref(),
            Some(upgrade),
            "{name}"
        );
        assert_eq!(f.platform.as_deref(), Some("Intel"), "{name}");
        assert!(f.complete);
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn every_patch_on_every_product_gets_the_expected_verdict() {
    for (patch, product, expect) in &EXPECTED {
        let facts = ProductFacts::from_package(&file(product)).unwrap();
        let r = check_file(&file(patch), std::slice::from_ref(&facts)).unwrap();
        let c = &r.products[0];
        let ctx = format!("{patch} on {product}: {c:#?}");
        match expect {
            Applies(pair) => {
                assert_eq!(c.verdict, Verdict::Applicable, "{ctx}");
                assert!(c.layer1, "{ctx}");
                let applied = c.applied.as_ref().unwrap();
                assert_eq!(applied.main, *pair, "{ctx}");
                assert_eq!(applied.partner, Some(format!("#{pair}")), "{ctx}");
                assert!(c.also_valid.is_empty() && c.warnings.is_empty(), "{ctx}");
                assert_eq!(r.exit_code(), 0);
            }
            Not(layer1, pairs) => {
                assert_eq!(c.verdict, Verdict::NotApplicable, "{ctx}");
                assert_eq!(c.layer1, *layer1, "{ctx}");
                assert!(c.applied.is_none(), "{ctx}");
                assert_eq!(c.pairs.len(), pairs.len(), "{ctx}");
                for (got, (name, failing)) in c.pairs.iter().zip(pairs.iter()) {
                    assert_eq!(got.name, *name, "{ctx}");
                    assert_eq!(got.status, PairStatus::Invalid, "{ctx}");
                    let failed: Vec<String> = got
                        .checks
                        .iter()
                        .filter(|ch| ch.status == CheckStatus::Failed)
                        .map(|ch| serde_json::to_value(ch.check).unwrap())
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect();
                    assert_eq!(failed, *failing, "{ctx}");
                }
                assert_eq!(
                    c.reasons
                        .iter()
                        .any(|r| r.contains("Template does not list")),
                    !layer1,
                    "{ctx}"
                );
                assert_eq!(r.exit_code(), 1);
            }
        }
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn no_corpus_patch_has_lint_findings() {
    for patch in PATCHES {
        let r = check_file(&file(patch), &[]).unwrap();
        assert!(r.lint.is_empty(), "{patch}: {:#?}", r.lint);
        let strict = msp_retarget::testkit::patch::Patch::open(&file(patch)).unwrap();
        assert!(lint_patch(&strict).is_empty(), "{patch}");
    }
}

#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn the_command_line_agrees() {
    let run = |patch: &str, product: &str| {
        crate::util::cli(["check"])
            .args([file(patch)])
            .args(["--package"])
            .args([file(product)])
            .args(["--details"])
            .run()
    };
    let out = run("gdr1.msp", "rtm-product.msi");
    assert_eq!(out.code, 0);
    let text = out.stdout;
    assert!(
        text.contains(
            "rtmldr.1 requires ProductVersion = 1.0.1 (major.minor.update), the product has 1.0.0"
        ),
        "{text}"
    );
    assert!(
        text.contains("rtm.2 validates and is applied with its partner #rtm.2"),
        "{text}"
    );
    let out = run("PatchAv101.msp", "prodAv101.msi");
    assert_eq!(out.code, 1);
}

/// A retargeted corpus patch applies to the instance it was made for, and
/// still to its base, with no lint finding: what `retarget` can verify
/// with `evaluate` and `lint_patch` before committing.
#[test]
#[ignore = "corpus suite (../shared/corpus or MSP_CORPUS_DIR): run with --ignored"]
fn retargeted_corpus_patches_apply_to_their_instances() {
    use msp_retarget::Destination;
    use msp_retarget::{InstanceRequest, PlanOptions};
    use msp_retarget::{RetargetRequest, retarget};
    let instance = Guid::parse_braced("{1F9B1809-273F-4036-AB02-26D19171D5AE}").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (patch, base_product, via_copy) in [
        ("PatchAv101.msp", "prodAv100.msi", true),
        ("rtmldr.msp", "rtm-product.msi", false),
    ] {
        let out = dir.path().join(patch);
        retarget(&RetargetRequest {
            input: file(patch),
            destination: Destination::Output(out.clone()),
            instances: vec![InstanceRequest {
                base: None,
                instance,
                id: Some("Instance1".into()),
                upgrade_code: None,
                component_codes: Default::default(),
                product_isolates: false,
            }],
            options: PlanOptions::default(),
        })
        .unwrap();
        let strict = msp_retarget::testkit::patch::Patch::open(&out).unwrap();
        assert!(
            lint_patch(&strict).is_empty(),
            "{patch}: {:#?}",
            lint_patch(&strict)
        );
        let base = ProductFacts::from_package(&file(base_product)).unwrap();
        let inst = ProductFacts {
            code: instance,
            ..base.clone()
        };
        let b = evaluate(&strict, &base);
        assert_eq!(b.verdict, Verdict::Applicable, "{patch}: {b:#?}");
        assert!(b.also_valid.is_empty(), "{patch}: {b:#?}");
        let i = evaluate(&strict, &inst);
        assert_eq!(i.verdict, Verdict::Applicable, "{patch}: {i:#?}");
        assert!(i.also_valid.is_empty(), "{patch}: {i:#?}");
        let applied = i.applied.unwrap().main;
        assert_eq!(
            applied != b.applied.unwrap().main,
            via_copy,
            "{patch}: {applied}"
        );
    }
}
