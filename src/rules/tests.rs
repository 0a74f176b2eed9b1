//! Unit tests of the applicability rules (table-driven, on transforms
//! built in memory) and of lint (on patches built by `synth`, edited with
//! `cfb` where a defect is needed).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::applicability;
use super::lint::{self, code};
use crate::commands::check::*;
use crate::format::container::CLSID_TRANSFORM;
use crate::format::guid::Guid;
use crate::format::summary::TransformRevision;
use crate::patch::{Pair, Patch, Transform};
use crate::product::facts::ProductFacts;
use crate::rules::applicability::*;
use crate::rules::lint::*;
use crate::testkit::synth::{PairSpec, PatchSpec, write_patch_file};

const A: &str = "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}";
const B: &str = "{398B8855-E3B8-4559-9C2B-3ED457C5A889}";
const I: &str = "{11111111-2222-4333-8444-555555555555}";
const U: &str = "{77AE8779-8689-4DC9-BB1B-64B500078104}";
const V: &str = "{5A990E27-3480-4D0C-BCA3-75B726C7C048}";

fn g(s: &str) -> Guid {
    Guid::parse_braced(s).unwrap()
}

fn transform(name: &str, flags: u16, template: Option<&str>, revision: &str) -> Transform {
    Transform {
        name: name.into(),
        clsid: Guid(CLSID_TRANSFORM),
        revision: TransformRevision::parse(revision).unwrap(),
        char_count: Some((u32::from(flags) << 16) | 0x1F),
        template: template.map(str::to_string),
        content: Default::default(),
    }
}

fn pair_of(name: &str, flags: u16, template: Option<&str>, revision: &str) -> Pair {
    Pair {
        main: transform(name, flags, template, revision),
        partner: Some(transform(&format!("#{name}"), flags, template, revision)),
    }
}

fn facts(code: &str, version: Option<&str>, lang: Option<u16>, up: Option<&str>) -> ProductFacts {
    ProductFacts {
        code: g(code),
        version: version.map(str::to_string),
        language: lang,
        upgrade_code: up.map(g),
        platform: Some("Intel".into()),
        source: "test".into(),
        complete: true,
        instance_id: None,
    }
}

//==========================================================================//
// Rules, one flag at a time

const LANG: u16 = 0x0001;
const PROD: u16 = 0x0002;
const PLAT: u16 = 0x0004;
const MAJ: u16 = 0x0008;
const MIN: u16 = 0x0010;
const UPD: u16 = 0x0020;
const LT: u16 = 0x0040;
const LE: u16 = 0x0080;
const EQ: u16 = 0x0100;
const GE: u16 = 0x0200;
const GT: u16 = 0x0400;
const UPG: u16 = 0x0800;

/// Product A at `version`, language 1033, upgrade code U.
fn a(version: &str) -> ProductFacts {
    facts(A, Some(version), Some(1033), Some(U))
}

/// Facts from a short text: `code version language upgrade`, `-` for a
/// value that is absent; a leading `?` makes the facts partial (what is
/// absent is unknown rather than missing from the product).
fn f(text: &str) -> ProductFacts {
    let (complete, text) = match text.strip_prefix('?') {
        Some(rest) => (false, rest),
        None => (true, text),
    };
    let w: Vec<&str> = text.split_whitespace().collect();
    let opt = |i: usize| w.get(i).copied().filter(|x| *x != "-");
    let code = |s: &str| match s {
        "A" => A,
        "B" => B,
        "I" => I,
        "U" => U,
        "V" => V,
        other => panic!("unknown code {other}"),
    };
    ProductFacts {
        complete,
        ..facts(
            code(w[0]),
            opt(1),
            opt(2).map(|l| l.parse().unwrap()),
            opt(3).map(code),
        )
    }
}

#[test]
fn every_flag_decides_as_documented() {
    use CheckKind::*;
    use CheckStatus::*;
    use PairStatus::*;
    const T: Option<&str> = Some("Intel;1033");
    const WIX: u16 = PROD | UPD | EQ | UPG;
    // (what, validation flags, transform Template, base version, product,
    //  pair status, the deciding check and its outcome)
    type Row = (
        &'static str,
        u16,
        Option<&'static str>,
        &'static str,
        &'static str,
        PairStatus,
        Option<(CheckKind, CheckStatus)>,
    );
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("no flag: valid for anything",   0,    T, "1.0.0.0", "B 9.9 7 -",        Valid, None),
        // language
        ("language equal",                LANG, T, "1.0.0.0", "A 1.0 1033 U",     Valid, Some((Language, Passed))),
        ("language differs",              LANG, T, "1.0.0.0", "A 1.0 1031 U",     Invalid, Some((Language, Failed))),
        ("language not given",            LANG, T, "1.0.0.0", "?A - - -",         Undetermined, Some((Language, Unknown))),
        ("language 0 means any",          LANG, Some("Intel;0"), "1.0", "A 1.0 1031 U", Valid, Some((Language, Passed))),
        ("empty language means any",      LANG, Some("Intel;"), "1.0", "A 1.0 1031 U",  Valid, Some((Language, Passed))),
        ("no Template means any",         LANG, None, "1.0", "?A - - -",          Valid, Some((Language, Passed))),
        ("one of several languages",      LANG, Some(";1031,1033"), "1.0", "A 1.0 1033 U", Valid, Some((Language, Passed))),
        ("language that is no id",        LANG, Some("Intel;en"), "1.0", "A 1.0 1033 U", Invalid, Some((Language, Failed))),
        // product code
        ("product code equal",            PROD, T, "1.0.0.0", "A 1.0.0.0 1033 U", Valid, Some((ProductCode, Passed))),
        ("product code differs",          PROD, T, "1.0.0.0", "I 1.0.0.0 1033 U", Invalid, Some((ProductCode, Failed))),
        // platform: reported, never decisive
        ("platform differs, ignored",     PLAT, Some("x64;1033"), "1.0", "A 1.0 1033 U", Valid, Some((Platform, Ignored))),
        // granularity; the relation is = when no relation bit is set
        ("major: minor ignored",          MAJ,  T, "1.0.0.0", "A 1.7.3.0 1033 U", Valid, Some((Version, Passed))),
        ("major differs",                 MAJ,  T, "1.0.0.0", "A 2.0.0.0 1033 U", Invalid, Some((Version, Failed))),
        ("minor: update ignored",         MIN,  T, "1.2.0.0", "A 1.2.9.0 1033 U", Valid, Some((Version, Passed))),
        ("minor differs",                 MIN,  T, "1.2.0.0", "A 1.3.0.0 1033 U", Invalid, Some((Version, Failed))),
        ("update: 4th field never compared", UPD, T, "1.0.0.0", "A 1.0.0.7 1033 U", Valid, Some((Version, Passed))),
        ("update differs",                UPD,  T, "1.0.0.0", "A 1.0.1.0 1033 U", Invalid, Some((Version, Failed))),
        ("short versions are padded",     UPD | EQ, T, "1.0", "A 1.0.0 1033 U",   Valid, Some((Version, Passed))),
        ("version not given",             UPD | EQ, T, "1.0.0.0", "?A - 1033 U",  Undetermined, Some((Version, Unknown))),
        ("product version unreadable",    UPD,  T, "1.0.0.0", "A 1.x 1033 U",     Invalid, Some((Version, Failed))),
        ("base version unreadable",       UPD,  T, "",        "A 1.0.0.0 1033 U", Invalid, Some((Version, Failed))),
        // relations of the product's version to base 1.0.1
        ("< holds",                       UPD | LT, T, "1.0.1.0", "A 1.0.0.0 1033 U", Valid, Some((Version, Passed))),
        ("< fails on equal",              UPD | LT, T, "1.0.1.0", "A 1.0.1.0 1033 U", Invalid, Some((Version, Failed))),
        ("<= holds on equal",             UPD | LE, T, "1.0.1.0", "A 1.0.1.0 1033 U", Valid, Some((Version, Passed))),
        ("<= fails",                      UPD | LE, T, "1.0.1.0", "A 1.0.2.0 1033 U", Invalid, Some((Version, Failed))),
        ("= holds",                       UPD | EQ, T, "1.0.1.0", "A 1.0.1.0 1033 U", Valid, Some((Version, Passed))),
        ("= fails",                       UPD | EQ, T, "1.0.1.0", "A 1.0.0.0 1033 U", Invalid, Some((Version, Failed))),
        (">= holds on equal",             UPD | GE, T, "1.0.1.0", "A 1.0.1.0 1033 U", Valid, Some((Version, Passed))),
        (">= fails",                      UPD | GE, T, "1.0.1.0", "A 1.0.0.0 1033 U", Invalid, Some((Version, Failed))),
        ("> holds",                       UPD | GT, T, "1.0.1.0", "A 1.0.2.0 1033 U", Valid, Some((Version, Passed))),
        ("> fails on equal",              UPD | GT, T, "1.0.1.0", "A 1.0.1.0 1033 U", Invalid, Some((Version, Failed))),
        ("> at minor granularity",        MIN | GT, T, "1.0.1.0", "A 1.1.0.0 1033 U", Valid, Some((Version, Passed))),
        ("> at major ignores minor",      MAJ | GT, T, "1.0.1.0", "A 1.9.0.0 1033 U", Invalid, Some((Version, Failed))),
        ("relation alone: no comparison", LT,   T, "1.0.0.0", "A 9.0.0.0 1033 U", Valid, None),
        // upgrade code
        ("upgrade code equal",            UPG,  T, "1.0.0.0", "A 1.0 1033 U",     Valid, Some((UpgradeCode, Passed))),
        ("upgrade code differs",          UPG,  T, "1.0.0.0", "A 1.0 1033 V",     Invalid, Some((UpgradeCode, Failed))),
        ("product has none",              UPG,  T, "1.0.0.0", "A 1.0 1033 -",     Invalid, Some((UpgradeCode, Failed))),
        ("upgrade code not given",        UPG,  T, "1.0.0.0", "?A 1.0 1033 -",    Undetermined, Some((UpgradeCode, Unknown))),
        // undocumented bits are reported, not decisive
        ("undocumented bits",             0x1000, T, "1.0.0.0", "A 1.0 1033 U",   Valid, Some((UndocumentedFlags, Ignored))),
        // WiX's PatchTransformDefault, as in the corpus
        ("WiX default on its product",    WIX,  T, "1.0.0.0", "A 1.0.0.0 1033 U", Valid, Some((UpgradeCode, Passed))),
        ("WiX default, other version",    WIX,  T, "1.0.0.0", "A 1.0.1.0 1033 U", Invalid, Some((Version, Failed))),
        ("WiX default, other product",    WIX,  T, "1.0.0.0", "I 1.0.0.0 1033 U", Invalid, Some((ProductCode, Failed))),
    ];
    for (what, flags, template, base, product, status, decisive) in rows {
        let facts = f(product);
        let revision = format!("{A}{base};{A}2.0.0.0;{U}");
        let t = transform("rtm.1", flags, template, &revision);
        let checks = applicability::check_transform(&t, &facts);
        let got = applicability::check_pair(
            &Pair {
                main: t,
                partner: None,
            },
            &facts,
        )
        .status;
        assert_eq!(got, status, "{what}: {checks:#?}");
        match decisive {
            None => assert!(
                checks.iter().all(|x| x.status != Failed),
                "{what}: {checks:#?}"
            ),
            Some((kind, outcome)) => {
                let found = checks.iter().find(|x| x.check == kind);
                assert_eq!(
                    found.map(|x| x.status),
                    Some(outcome),
                    "{what}: {checks:#?}"
                );
            }
        }
        assert!(checks.iter().all(|x| x.message.starts_with("rtm.1 ")));
    }
}

#[test]
fn upgrade_code_absent_on_both_sides_passes() {
    let t = transform("t", UPG, None, &format!("{A}1.0;{A}1.0;"));
    let c = applicability::check_transform(&t, &facts(A, Some("1.0"), Some(1033), None));
    assert_eq!(c[0].status, CheckStatus::Passed);
    let c = applicability::check_transform(&t, &a("1.0"));
    assert_eq!(c[0].status, CheckStatus::Failed);
}

#[test]
fn several_granularities_use_the_finest_and_several_relations_any() {
    let t = transform("t", MAJ | UPD | LT | GT, None, &format!("{A}1.0.1;{A}2.0;"));
    for (version, want) in [("1.0.0", true), ("1.0.2", true), ("1.0.1", false)] {
        let c = applicability::check_transform(&t, &a(version));
        assert_eq!(
            c[0].status == CheckStatus::Passed,
            want,
            "{version}: {c:#?}"
        );
        assert!(c[0].required.contains("< or >"), "{}", c[0].required);
    }
}

//==========================================================================//
// Verdicts

#[test]
fn verdict_applicable_names_the_pair_and_its_partner() {
    let p = pair_of(
        "rtmA.1",
        0x0922,
        Some("Intel;1033"),
        &format!("{A}1.0.0.0;{A}1.0.1.0;{U}"),
    );
    let c = evaluate_pairs(&[g(A)], &[p], &a("1.0.0.0"));
    assert_eq!(c.verdict, Verdict::Applicable);
    assert!(c.layer1);
    let applied = c.applied.unwrap();
    assert_eq!(
        (applied.main.as_str(), applied.partner.as_deref()),
        ("rtmA.1", Some("#rtmA.1"))
    );
    assert!(c.also_valid.is_empty() && c.warnings.is_empty());
}

#[test]
fn verdict_not_applicable_gives_every_reason_in_words() {
    let pairs = [
        pair_of(
            "rtmA.1",
            0x0922,
            Some("Intel;1033"),
            &format!("{A}1.0.0.0;{A}1.0.1.0;{U}"),
        ),
        pair_of(
            "rtm.2",
            0x0920,
            Some("Intel;1033"),
            &format!("{I}1.0.0.0;{I}1.0.1.0;{U}"),
        ),
    ];
    let c = evaluate_pairs(
        &[g(A)],
        &pairs,
        &facts(I, Some("1.0.1.0"), Some(1033), Some(U)),
    );
    assert_eq!(c.verdict, Verdict::NotApplicable);
    assert!(!c.layer1);
    let text = c.reasons.join("\n");
    for needle in [
        format!("the patch's Template does not list {I}"),
        format!(
            "rtmA.1 checks the product code: the patch transform was made for {A}, this product is {I}"
        ),
        "rtmA.1 requires ProductVersion = 1.0.0 (major.minor.update), the product has 1.0.1".into(),
        "rtm.2 requires ProductVersion = 1.0.0 (major.minor.update), the product has 1.0.1".into(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn layer1_alone_fails_a_pair_that_would_validate() {
    let p = pair_of("rtm.1", 0x0920, None, &format!("{A}1.0.0.0;{A}1.0.1.0;{U}"));
    let c = evaluate_pairs(
        &[g(A)],
        &[p],
        &facts(I, Some("1.0.0.0"), Some(1033), Some(U)),
    );
    assert_eq!(c.verdict, Verdict::NotApplicable);
    assert_eq!(c.applied.as_ref().unwrap().main, "rtm.1");
    assert!(
        c.reasons
            .iter()
            .any(|r| r.contains("only the Template entry is missing"))
    );
}

#[test]
fn first_valid_pair_applies_and_others_are_reported_as_ambiguous() {
    let pairs = [
        pair_of("ldr.1", 0x0922, None, &format!("{A}1.0.1.0;{A}1.0.2.0;{U}")),
        pair_of("rtm.1", 0x0920, None, &format!("{A}1.0.0.0;{A}1.0.2.0;{U}")),
        pair_of(
            "rtm.1_I",
            0x0922,
            None,
            &format!("{I}1.0.0.0;{I}1.0.2.0;{U}"),
        ),
    ];
    let c = evaluate_pairs(
        &[g(A), g(I)],
        &pairs,
        &facts(I, Some("1.0.0.0"), Some(1033), Some(U)),
    );
    assert_eq!(c.verdict, Verdict::Applicable);
    assert_eq!(c.applied.unwrap().main, "rtm.1");
    assert_eq!(c.also_valid, ["rtm.1_I"]);
    assert!(c.warnings[0].contains("ambiguous"), "{:?}", c.warnings);
}

#[test]
fn missing_facts_leave_the_verdict_undetermined() {
    let p = pair_of(
        "rtmA.1",
        0x0922,
        None,
        &format!("{A}1.0.0.0;{A}1.0.1.0;{U}"),
    );
    let c = evaluate_pairs(&[g(A)], &[p], &ProductFacts::with_code(g(A)));
    assert_eq!(c.verdict, Verdict::Undetermined);
    assert!(
        c.reasons
            .iter()
            .any(|r| r.contains("ProductVersion was not given")),
        "{:?}",
        c.reasons
    );
    let none = evaluate_pairs(&[g(A)], &[], &a("1.0"));
    assert_eq!(none.verdict, Verdict::NotApplicable);
    assert!(none.reasons[0].contains("no transform"));
}

//==========================================================================//
// Lint on synthetic patches

struct Built {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn build(spec: &PatchSpec, edit: impl FnOnce(&mut cfb::CompoundFile<std::fs::File>)) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.msp");
    write_patch_file(spec, &path).unwrap();
    let mut cf = cfb::open_rw(&path).unwrap();
    edit(&mut cf);
    cf.flush().unwrap();
    Built { _dir: dir, path }
}

fn lint_of(
    spec: &PatchSpec,
    edit: impl FnOnce(&mut cfb::CompoundFile<std::fs::File>),
) -> Vec<Finding> {
    let b = build(spec, edit);
    lint_view(&read_lenient(&b.path).unwrap())
}

fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}

fn with_lsb(lsb: &str) -> PatchSpec {
    PatchSpec {
        extra_last_saved_by: Some(lsb.into()),
        ..PatchSpec::single_product()
    }
}

fn spec_pair(name: &str, from: &str, to: &str, char_count: u32) -> PairSpec {
    PairSpec {
        name: name.into(),
        from_code: from.into(),
        from_version: "1.0.0.0".into(),
        to_code: to.into(),
        to_version: "1.0.1.0".into(),
        upgrade_code: U.into(),
        char_count,
        language: "Intel;1033".into(),
    }
}

fn sample_a() -> &'static str {
    "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}"
}

#[test]
fn a_clean_patch_has_no_findings_strict_or_lenient() {
    assert!(lint_of(&PatchSpec::single_product(), |_| {}).is_empty());
    assert!(lint_of(&PatchSpec::two_products(), |_| {}).is_empty());
    assert!(lint_of(&PatchSpec::two_baselines(), |_| {}).is_empty());
    let b = build(&PatchSpec::single_product(), |_| {});
    let patch = Patch::open(&b.path).unwrap();
    assert!(lint_patch(&patch).is_empty());
}

#[test]
fn last_saved_by_defects() {
    let cases: [(&str, &[&str]); 7] = [
        (
            "rtmA.1;:#rtmA.1",
            &[
                code::ENTRY_WITHOUT_COLON,
                code::ORPHAN_PARTNER,
                code::NO_TRANSFORMS,
            ],
        ),
        (":rtmA.1;:#rtmA.1;:", &[code::EMPTY_ENTRY]),
        (
            ":#rtmA.1;:rtmA.1",
            &[code::ORPHAN_PARTNER, code::NO_PARTNER],
        ),
        (":rtmA.1", &[code::NO_PARTNER]),
        (
            ":rtmA.1;:#rtmA.1;:missing",
            &[code::NO_PARTNER, code::MISSING_TRANSFORM],
        ),
        (
            ":rtmA.1;:#rtmA.1;:rtmA.1;:#rtmA.1",
            &[code::DUPLICATE_ENTRY, code::DUPLICATE_ENTRY],
        ),
        ("", &[code::NO_TRANSFORMS]),
    ];
    for (lsb, want) in cases {
        let got = lint_of(&with_lsb(lsb), |_| {});
        assert_eq!(codes(&got), want, "{lsb:?}: {got:#?}");
    }
    let long = format!(":rtmA.1;:#rtmA.1;:{}", "x".repeat(32));
    let got = lint_of(&with_lsb(&long), |_| {});
    assert_eq!(
        codes(&got),
        [code::NAME_TOO_LONG, code::NO_PARTNER],
        "{got:#?}"
    );
    let got = lint_of(&with_lsb(":rtmA.1;:#rtmA.1;:a!b"), |_| {});
    assert!(codes(&got).contains(&code::INVALID_NAME), "{got:#?}");
}

#[test]
fn storage_defects() {
    let got = lint_of(&with_lsb(":rtmA.1;:#rtmA.1;:strm"), |cf| {
        cf.create_stream("/strm").unwrap().write_all(b"x").unwrap();
    });
    assert!(codes(&got).contains(&code::NOT_A_STORAGE), "{got:#?}");
    let got = lint_of(&PatchSpec::single_product(), |cf| {
        cf.set_storage_clsid("/#rtmA.1", uuid::Uuid::nil()).unwrap();
    });
    assert_eq!(codes(&got), [code::NOT_A_TRANSFORM], "{got:#?}");
    assert_eq!(got[0].subject.as_deref(), Some("#rtmA.1"));
    let got = lint_of(&PatchSpec::single_product(), |cf| {
        let path = Path::new("/rtmA.1/\u{5}SummaryInformation");
        cf.remove_stream(path).unwrap();
        cf.create_stream(path)
            .unwrap()
            .write_all(b"garbage")
            .unwrap();
    });
    assert_eq!(codes(&got), [code::UNREADABLE_TRANSFORM], "{got:#?}");
}

#[test]
fn a_missing_main_still_lets_check_report_the_rest() {
    let b = build(&PatchSpec::two_products(), |cf| {
        cf.remove_storage_all("/rtmB.1").unwrap();
    });
    assert!(Patch::open(&b.path).is_err(), "strict open must refuse");
    let r = check_file(
        &b.path,
        &[facts(
            sample_a(),
            Some("1.0.0.0"),
            Some(1033),
            Some("{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}"),
        )],
    )
    .unwrap();
    assert_eq!(r.products[0].verdict, Verdict::Applicable);
    assert_eq!(r.exit_code(), 0);
    assert!(
        codes(&r.lint).contains(&code::MISSING_TRANSFORM),
        "{:#?}",
        r.lint
    );
}

/// Rewrites the patch's Template (synth writes MsiPatchSequence rows from
/// its targets, and the msi crate refuses non-canonical GUIDs there).
fn set_template(cf: &mut cfb::CompoundFile<std::fs::File>, text: &str) {
    use std::io::Read;
    let path = Path::new("/\u{5}SummaryInformation");
    let mut bytes = Vec::new();
    cf.open_stream(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let mut set = crate::format::propset::PropertySet::parse(&bytes).unwrap();
    set.set_string(crate::format::summary::pid::TEMPLATE, text)
        .unwrap();
    cf.remove_stream(path).unwrap();
    cf.create_stream(path)
        .unwrap()
        .write_all(&set.to_bytes())
        .unwrap();
}

#[test]
fn template_defects() {
    let spec = PatchSpec::single_product();
    let lower = sample_a().to_lowercase();
    let got = lint_of(&spec, |cf| set_template(cf, &lower));
    assert_eq!(codes(&got), [code::TEMPLATE_NOT_CANONICAL], "{got:#?}");
    let junk = format!("{};garbage;{}", sample_a(), sample_a());
    let got = lint_of(&spec, |cf| set_template(cf, &junk));
    assert_eq!(
        codes(&got),
        [code::TEMPLATE_INVALID, code::TEMPLATE_DUPLICATE],
        "{got:#?}"
    );
    let got = lint_of(&spec, |cf| set_template(cf, ""));
    assert_eq!(
        codes(&got),
        [code::TEMPLATE_EMPTY, code::PAIR_NOT_TARGETED],
        "{got:#?}"
    );
    // Layer 1 compares GUIDs, whatever their case.
    let b = build(&spec, |cf| set_template(cf, &lower));
    let up = Some("{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}");
    let r = check_file(
        &b.path,
        &[facts(sample_a(), Some("1.0.0.0"), Some(1033), up)],
    )
    .unwrap();
    assert!(r.products[0].layer1);
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn unreachable_targets_and_untargeted_pairs() {
    let spec = PatchSpec {
        targets: vec![sample_a().into(), B.into()],
        ..PatchSpec::single_product()
    };
    let got = lint_of(&spec, |_| {});
    assert_eq!(codes(&got), [code::UNREACHABLE_TARGET], "{got:#?}");
    assert_eq!(got[0].subject.as_deref(), Some(B));
    // A pair that does not check the product code reaches every target.
    let spec = PatchSpec {
        targets: vec![A.into(), B.into()],
        pairs: vec![spec_pair("rtm.1", A, A, 0x0920_001F)],
        ..PatchSpec::single_product()
    };
    assert!(lint_of(&spec, |_| {}).is_empty());
}

#[test]
fn ambiguous_pairs_are_found() {
    // A pair without the product-code check plus a copy for an instance.
    let spec = PatchSpec {
        targets: vec![A.into(), I.into()],
        pairs: vec![
            spec_pair("rtm.1", A, A, 0x0920_001F),
            spec_pair("rtm.1_I", I, I, 0x0920_001F | 0x0002_0000),
        ],
        ..PatchSpec::single_product()
    };
    let got = lint_of(&spec, |_| {});
    assert_eq!(codes(&got), [code::AMBIGUOUS_PAIRS], "{got:#?}");
    assert!(
        got[0].message.contains("rtm.1, rtm.1_I"),
        "{}",
        got[0].message
    );
    // Two baselines of one product at different versions are not.
    assert!(lint_of(&PatchSpec::two_baselines(), |_| {}).is_empty());
}

#[test]
fn signature_major_upgrade_and_flag_oddities() {
    let signed = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    // Signed and untouched: valid, as information.
    let got = lint_of(&signed, |_| {});
    assert_eq!(codes(&got), [code::SIGNATURE_VALID]);
    assert_eq!(got[0].severity, Severity::Info);
    assert!(got[0].message.contains("SHA-256"), "{}", got[0].message);
    let b = build(&signed, |_| {});
    let patch = Patch::open(&b.path).unwrap();
    // A borrowed patch cannot be hashed: present, not examined.
    assert_eq!(codes(&lint_patch(&patch)), [code::SIGNATURE_UNCHECKED]);
    // The view a patch turns into (what the check of a result lints) says
    // the same as the file read leniently.
    assert_eq!(lint_view(&PatchView::from(patch)), got);
    // One stream changed after signing: stale, a warning.
    let got = lint_of(&signed, |cf| {
        use std::io::Write as _;
        let name = crate::format::streamname::encode("MsiPatchMetadata", true);
        let mut s = cf.open_stream(format!("/{name}")).unwrap();
        s.write_all(&[0x55]).unwrap();
    });
    assert_eq!(codes(&got), [code::SIGNATURE_STALE]);
    assert_eq!(got[0].severity, Severity::Warning);
    assert!(
        got[0]
            .message
            .contains("strip it with `PlanOptions::strip_signature`"),
        "{}",
        got[0].message
    );
    // Not a signature at all: unreadable, naming the stream.
    let got = lint_of(&signed, |cf| {
        use std::io::Write as _;
        let mut s = cf.create_stream("/\u{5}DigitalSignature").unwrap();
        s.write_all(b"not DER").unwrap();
    });
    assert_eq!(codes(&got), [code::SIGNATURE_UNREADABLE]);
    assert!(
        got[0].message.contains("\\005DigitalSignature"),
        "{}",
        got[0].message
    );

    let one = |p: PairSpec| PatchSpec {
        targets: vec![A.into()],
        pairs: vec![p],
        ..PatchSpec::single_product()
    };
    for (pair, want) in [
        (spec_pair("mu.1", A, B, 0x0922_001F), code::MAJOR_UPGRADE),
        (
            spec_pair("x.1", A, A, 0x1922_001F),
            code::UNDOCUMENTED_FLAGS,
        ),
        (
            spec_pair("x.1", A, A, 0x0932_001F),
            code::CONFLICTING_VERSION_FLAGS,
        ),
        (
            spec_pair("x.1", A, A, 0x0522_001F),
            code::CONFLICTING_VERSION_FLAGS,
        ),
        (
            spec_pair("x.1", A, A, 0x0102_001F),
            code::RELATION_WITHOUT_GRANULARITY,
        ),
    ] {
        let got = lint_of(&one(pair.clone()), |_| {});
        assert_eq!(codes(&got), [want], "{pair:?}: {got:#?}");
    }
}

#[test]
fn the_list_scan_agrees_with_the_strict_parser_on_valid_lists() {
    for text in [
        ":a;:#a;:b;:#b",
        ":a;:b;:#b;:c",
        ":a;;:#a;",
        ":#x;:#x2",
        ":a;:#a;:a",
    ] {
        let strict = crate::format::summary::parse_transform_list(text, usize::MAX);
        let (lenient, findings) = lint::scan_transform_list(text);
        match strict {
            Ok(pairs) => {
                assert_eq!(pairs, lenient, "{text}");
                assert!(
                    findings
                        .iter()
                        .all(|f| matches!(f.code, code::NO_PARTNER | code::DUPLICATE_ENTRY)),
                    "{text}: {findings:#?}"
                );
            }
            Err(_) => assert!(
                findings.iter().any(|f| f.severity == Severity::Error),
                "{text}"
            ),
        }
    }
}

//==========================================================================//
// What retarget will call

#[test]
fn a_retargeted_patch_lints_clean_and_applies_to_its_instance() {
    use crate::commands::retarget::{RetargetRequest, retarget};
    use crate::edit::engine::Destination;
    use crate::edit::plan::{InstanceRequest, PlanOptions};
    let b = build(&PatchSpec::single_product(), |_| {});
    let out = b.path.with_file_name("out.msp");
    let instance = g(I);
    retarget(&RetargetRequest {
        input: b.path.clone(),
        destination: Destination::Output(out.clone()),
        instances: vec![InstanceRequest {
            base: None,
            instance,
            id: None,
            upgrade_code: None,
            component_codes: Default::default(),
            product_isolates: false,
        }],
        options: PlanOptions::default(),
    })
    .unwrap();
    let patch = Patch::open(&out).unwrap();
    assert!(lint_patch(&patch).is_empty(), "{:#?}", lint_patch(&patch));
    let up = Some("{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}");
    let c = evaluate(&patch, &facts(I, Some("1.0.0.0"), Some(1033), up));
    assert_eq!(c.verdict, Verdict::Applicable, "{c:#?}");
    assert_ne!(c.applied.unwrap().main, "rtmA.1");
    let base = evaluate(&patch, &facts(sample_a(), Some("1.0.0.0"), Some(1033), up));
    assert_eq!(base.applied.unwrap().main, "rtmA.1");
    assert!(base.also_valid.is_empty());
    let other = evaluate(&patch, &facts(B, Some("1.0.0.0"), Some(1033), up));
    assert_eq!(other.verdict, Verdict::NotApplicable);
}

#[test]
fn render_shows_verdicts_checks_and_lint() {
    let b = build(
        &PatchSpec {
            signed: true,
            ..PatchSpec::single_product()
        },
        |_| {},
    );
    let r = check_file(&b.path, &[a("1.0.0.0")]).unwrap();
    assert_eq!(r.exit_code(), 1);
    let text = crate::report::check::render(&r);
    for needle in [
        "NOT APPLICABLE",
        "layer 1 (Template): NOT listed",
        "FAIL rtmA.1 checks the product code",
        "info    [signature-valid]",
        "applies to 0 of 1 product",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn ambiguity_over_many_copies_is_reported_once_and_shortened() {
    // The shape `retarget --copy-all` gives a pair without the product-code
    // check: one copy per instance, each valid for every instance.
    let instances: Vec<Guid> = (0..300u128)
        .map(|i| {
            Guid(uuid::Uuid::from_u128(
                0x2222_0000_0000_4000_8000_0000_0000_0000 + i,
            ))
        })
        .collect();
    let mut pairs = vec![pair_of(
        "rtm.1",
        0x0920,
        Some("Intel;1033"),
        &format!("{A}1.0.0.0;{A}1.0.1.0;{U}"),
    )];
    for (n, i) in instances.iter().enumerate() {
        pairs.push(pair_of(
            &format!("rtm.1_{n}"),
            0x0920,
            Some("Intel;1033"),
            &format!("{i}1.0.0.0;{i}1.0.1.0;{U}"),
        ));
    }
    let mut targets = vec![g(A)];
    targets.extend(&instances);
    let view = PatchView {
        path: PathBuf::from("many.msp"),
        patch_code: Some(g(B)),
        template: targets
            .iter()
            .map(Guid::braced)
            .collect::<Vec<_>>()
            .join(";"),
        targets,
        last_saved_by: pairs
            .iter()
            .map(|p| format!(":{};:#{}", p.main.name, p.main.name))
            .collect::<Vec<_>>()
            .join(";"),
        pairs,
        signature: crate::format::signature::SignatureState::Unsigned,
        read_findings: Vec::new(),
    };
    let got = lint_view(&view);
    assert_eq!(codes(&got), [code::AMBIGUOUS_PAIRS], "{got:#?}");
    assert!(
        got[0].message.contains("and 296 more all validate"),
        "{}",
        got[0].message
    );
}
