//! Each rule of the sequencing algorithm with its own case, on real
//! patches built by the test kit and read back through [`read_patch`].

use std::path::Path;

use super::*;
use crate::commands::sequence::read_patch;
use crate::testkit::synth::{
    PairSpec, PatchSpec, SequenceRowSpec, SequenceTable, pair, write_patch_file,
};

/// The product of the documentation's Multiple Patching Example.
const PC: &str = "{18A9233C-0B34-4127-A966-C257386270BC}";
const UC: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const INSTANCE: &str = "{A93C47E2-1B5D-4F60-8E72-C4D5E6F7A822}";
const OTHER: &str = "{D7F1A3B4-2C8E-49D5-A6B0-E1F2A3B4C544}";

fn code(n: u32) -> String {
    format!("{{3B0E9C51-8D2A-4F7B-A6C4-{n:012X}}}")
}

/// A patch for PC from `from` to `to` with `rows` (None: no table).
fn spec(n: u32, from: &str, to: &str, rows: Option<Vec<SequenceRowSpec>>) -> PatchSpec {
    PatchSpec {
        patch_code: code(n),
        targets: vec![PC.into()],
        pairs: vec![pair(&format!("t{n}"), PC, from, to, UC)],
        cabinet_len: 64,
        sequence: rows.map_or(SequenceTable::Absent, SequenceTable::Rows),
        ..PatchSpec::single_product()
    }
}

fn row(family: &str, seq: &str) -> SequenceRowSpec {
    SequenceRowSpec::new(family, Some(PC), seq, false)
}

fn superseding(family: &str, seq: &str) -> SequenceRowSpec {
    SequenceRowSpec::new(family, Some(PC), seq, true)
}

struct Kit {
    dir: tempfile::TempDir,
}

impl Kit {
    fn new() -> Kit {
        Kit {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn patch(&self, name: &str, spec: &PatchSpec) -> SeqPatch {
        self.read(name, spec, false)
    }

    fn installed(&self, name: &str, spec: &PatchSpec) -> SeqPatch {
        self.read(name, spec, true)
    }

    fn read(&self, name: &str, spec: &PatchSpec, installed: bool) -> SeqPatch {
        let path = self.dir.path().join(format!("{name}.msp"));
        write_patch_file(spec, &path).unwrap();
        let mut p = read_patch(&path, installed).unwrap();
        p.name = name.to_string();
        p
    }
}

fn product(code: &str, version: &str) -> SeqProduct {
    SeqProduct {
        facts: ProductFacts {
            code: Guid::parse_braced(code).unwrap(),
            version: Some(version.into()),
            language: Some(1033),
            upgrade_code: Some(Guid::parse_braced(UC).unwrap()),
            platform: None,
            source: "test".into(),
            complete: true,
            instance_id: None,
        },
        instance_id: None,
    }
}

fn rtm() -> SeqProduct {
    product(PC, "1.0.0.0")
}

fn names(r: &ProductSequence) -> Vec<&str> {
    r.sequence.iter().map(|p| p.patch.as_str()).collect()
}

fn dropped(r: &ProductSequence) -> Vec<(&str, DropReason)> {
    r.dropped
        .iter()
        .map(|d| (d.patch.as_str(), d.reason))
        .collect()
}

fn run(product: &SeqProduct, patches: &[SeqPatch]) -> ProductSequence {
    sequence_product(product, patches).unwrap()
}

/// QFE1, QFE2 (small updates of 1.0, family AppPatch 1.1.0 and 1.2.0) and
/// ServicePack1 (a minor upgrade 1.0 -> 1.1, AppPatch 1.3.0).
fn example(kit: &Kit, supersede: bool) -> (SeqPatch, SeqPatch, SeqPatch) {
    let qfe1 = kit.patch(
        "QFE1",
        &spec(
            1,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![row("AppPatch", "1.1.0")]),
        ),
    );
    let qfe2 = kit.patch(
        "QFE2",
        &spec(
            2,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![row("AppPatch", "1.2.0")]),
        ),
    );
    let sp_row = SequenceRowSpec::new("AppPatch", Some(PC), "1.3.0", supersede);
    let sp1 = kit.patch(
        "ServicePack1",
        &spec(3, "1.0.0.0", "1.1.0.0", Some(vec![sp_row])),
    );
    (qfe1, qfe2, sp1)
}

#[test]
fn the_multiple_patching_example_orders_qfe1_qfe2_then_the_service_pack() {
    let kit = Kit::new();
    let (qfe1, qfe2, sp1) = example(&kit, false);
    let r = run(&rtm(), &[sp1.clone(), qfe2.clone(), qfe1.clone()]);
    assert_eq!(names(&r), ["QFE1", "QFE2", "ServicePack1"]);
    assert!(r.dropped.is_empty(), "{:?}", r.dropped);
    assert_eq!(r.sequence[0].kind, PatchKind::SmallUpdate);
    assert_eq!(r.sequence[0].family.as_deref(), Some("AppPatch"));
    assert_eq!(r.sequence[0].sequence.as_deref(), Some("1.1.0"));
    assert_eq!(r.sequence[2].kind, PatchKind::MinorUpgrade);
    assert_eq!(r.final_version.as_deref(), Some("1.1.0.0"));

    // QFE2 installed first, QFE1 later: QFE1 still goes first.
    let mut installed = qfe2.clone();
    installed.installed = true;
    let r = run(&rtm(), &[installed, qfe1.clone()]);
    assert_eq!(names(&r), ["QFE1", "QFE2"]);
    assert!(r.sequence[1].installed);

    // ServicePack1 installed, then QFE2 and QFE1 together: QFE1, QFE2,
    // ServicePack1 — the small updates of 1.0 go before the minor upgrade.
    let mut sp_installed = sp1;
    sp_installed.installed = true;
    let r = run(&rtm(), &[sp_installed, qfe2, qfe1]);
    assert_eq!(names(&r), ["QFE1", "QFE2", "ServicePack1"]);
    assert!(r.choices.is_empty(), "{:?}", r.choices);
}

#[test]
fn a_service_pack_with_supersede_earlier_drops_both_qfes() {
    let kit = Kit::new();
    let (qfe1, qfe2, sp1) = example(&kit, true);
    let r = run(&rtm(), &[qfe1, qfe2, sp1]);
    assert_eq!(names(&r), ["ServicePack1"]);
    assert_eq!(
        dropped(&r),
        [
            ("QFE1", DropReason::Superseded),
            ("QFE2", DropReason::Superseded)
        ]
    );
    let d = &r.dropped[0].detail;
    assert!(
        d.contains("ServicePack1") && d.contains("family AppPatch"),
        "{d}"
    );
    assert!(d.contains("1.3.0 > 1.1.0"), "{d}");
}

#[test]
fn patches_without_sequencing_data_come_first_in_the_order_given_installed_first() {
    let kit = Kit::new();
    let a = kit.patch("A", &spec(1, "1.0.0.0", "1.0.0.0", None));
    let b = kit.installed("B", &spec(2, "1.0.0.0", "1.0.0.0", None));
    let q = kit.patch(
        "Q",
        &spec(3, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1")])),
    );
    let r = run(&rtm(), &[q, a, b]);
    assert_eq!(names(&r), ["B", "A", "Q"]);
    assert!(r.sequence[0].placed_by.contains("installed"));
    assert!(r.sequence[1].placed_by.contains("order given"));
    assert_eq!(r.sequence[0].family, None);
}

#[test]
fn applicability_is_threaded_through_the_patches_before() {
    let kit = Kit::new();
    // Without sequencing data the order given decides, and a small update
    // of 1.1 given before the minor upgrade to 1.1 does not apply.
    let up = kit.patch("Up", &spec(1, "1.0.0.0", "1.1.0.0", None));
    let fix = kit.patch("Fix11", &spec(2, "1.1.0.0", "1.1.0.0", None));
    let r = run(&rtm(), &[fix.clone(), up.clone()]);
    assert_eq!(names(&r), ["Up"]);
    assert_eq!(dropped(&r), [("Fix11", DropReason::NotApplicable)]);
    let d = &r.dropped[0];
    assert!(d.detail.contains("1.0.0.0 as installed"), "{}", d.detail);
    assert!(
        d.reasons.iter().any(|x| x.contains("ProductVersion")),
        "{:?}",
        d.reasons
    );
    assert_eq!(d.verdict, Some(Verdict::NotApplicable));
    let r = run(&rtm(), &[up, fix]);
    assert_eq!(names(&r), ["Up", "Fix11"]);
    assert_eq!(r.sequence[1].version_after.as_deref(), Some("1.1.0.0"));
}

#[test]
fn minor_upgrades_are_ordered_by_the_version_they_produce() {
    let kit = Kit::new();
    let sp1 = kit.patch(
        "SP1",
        &spec(1, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "9")])),
    );
    let sp2 = kit.patch(
        "SP2",
        &spec(2, "1.1.0.0", "1.2.0.0", Some(vec![row("F", "1")])),
    );
    let r = run(&rtm(), &[sp2, sp1]);
    assert_eq!(names(&r), ["SP1", "SP2"]);
    assert_eq!(r.final_version.as_deref(), Some("1.2.0.0"));
    assert!(r.sequence[1].placed_by.contains("1.2.0.0"));
}

#[test]
fn a_small_update_goes_after_the_highest_minor_upgrade_it_targets() {
    let kit = Kit::new();
    let sp1 = kit.patch(
        "SP1",
        &spec(1, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "5")])),
    );
    let sp2 = kit.patch(
        "SP2",
        &spec(2, "1.1.0.0", "1.2.0.0", Some(vec![row("F", "6")])),
    );
    // A fix of 1.1 with a lower Sequence than both service packs.
    let fix11 = kit.patch(
        "Fix11",
        &spec(3, "1.1.0.0", "1.1.0.0", Some(vec![row("F", "1")])),
    );
    let fix10 = kit.patch(
        "Fix10",
        &spec(4, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "2")])),
    );
    let r = run(&rtm(), &[fix11, sp2, fix10, sp1]);
    assert_eq!(names(&r), ["Fix10", "SP1", "Fix11", "SP2"]);
    assert!(
        r.sequence[2].placed_by.contains("SP1"),
        "{}",
        r.sequence[2].placed_by
    );
    assert!(
        r.sequence[0]
            .placed_by
            .contains("before the first minor upgrade")
    );
}

#[test]
fn a_small_update_that_targets_no_version_in_the_sequence_is_not_applicable() {
    let kit = Kit::new();
    let fix = kit.patch(
        "Fix20",
        &spec(1, "2.0.0.0", "2.0.0.0", Some(vec![row("F", "1")])),
    );
    let r = run(&rtm(), &[fix]);
    assert!(r.sequence.is_empty());
    assert_eq!(dropped(&r), [("Fix20", DropReason::NotApplicable)]);
    assert!(r.dropped[0].detail.contains("1.0.0.0 as installed"));
}

#[test]
fn small_updates_are_ordered_by_family_sequence_within_their_place() {
    let kit = Kit::new();
    let a = kit.patch(
        "A",
        &spec(1, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1.2")])),
    );
    let b = kit.patch(
        "B",
        &spec(2, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1.10")])),
    );
    let c = kit.patch(
        "C",
        &spec(3, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1.1")])),
    );
    // Sequence compares as a version: 1.1 < 1.2 < 1.10.
    let r = run(&rtm(), &[b, a, c]);
    assert_eq!(names(&r), ["C", "A", "B"]);
}

#[test]
fn equal_sequences_keep_the_order_given_and_say_so() {
    let kit = Kit::new();
    let a = kit.patch(
        "A",
        &spec(1, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1")])),
    );
    let b = kit.patch(
        "B",
        &spec(2, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1")])),
    );
    let r = run(&rtm(), &[b.clone(), a.clone()]);
    assert_eq!(names(&r), ["B", "A"]);
    assert_eq!(r.choices.len(), 1);
    assert_eq!(r.choices[0].choice, choice::TIE);
    let r = run(&rtm(), &[a, b]);
    assert_eq!(names(&r), ["A", "B"]);
}

#[test]
fn families_that_order_two_patches_both_ways_have_no_sequence() {
    let kit = Kit::new();
    let a = kit.patch(
        "A",
        &spec(
            1,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![row("F", "1"), row("G", "2")]),
        ),
    );
    let b = kit.patch(
        "B",
        &spec(
            2,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![row("F", "2"), row("G", "1")]),
        ),
    );
    let e = sequence_product(&rtm(), &[a, b]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("ERROR_PATCH_NO_SEQUENCE"), "{text}");
    assert!(text.contains('A') && text.contains('B'), "{text}");
}

#[test]
fn a_small_update_supersedes_earlier_small_updates() {
    let kit = Kit::new();
    let qfe1 = kit.patch(
        "QFE1",
        &spec(1, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1")])),
    );
    let qfe2 = kit.patch(
        "QFE2",
        &spec(2, "1.0.0.0", "1.0.0.0", Some(vec![superseding("F", "2")])),
    );
    let r = run(&rtm(), &[qfe2, qfe1]);
    assert_eq!(names(&r), ["QFE2"]);
    assert_eq!(dropped(&r), [("QFE1", DropReason::Superseded)]);
}

#[test]
fn a_small_update_never_supersedes_a_minor_upgrade() {
    let kit = Kit::new();
    let sp1 = kit.patch(
        "SP1",
        &spec(1, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "1")])),
    );
    let qfe = kit.patch(
        "QFE",
        &spec(2, "1.1.0.0", "1.1.0.0", Some(vec![superseding("F", "2")])),
    );
    let r = run(&rtm(), &[sp1, qfe]);
    assert_eq!(names(&r), ["SP1", "QFE"]);
    assert!(r.dropped.is_empty());
}

#[test]
fn a_minor_upgrade_supersedes_an_earlier_minor_upgrade() {
    let kit = Kit::new();
    let sp1 = kit.patch(
        "SP1",
        &spec(1, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "1")])),
    );
    let sp2 = kit.patch(
        "SP2",
        &spec(2, "1.1.0.0", "1.2.0.0", Some(vec![superseding("F", "2")])),
    );
    let r = run(&rtm(), &[sp1, sp2]);
    // SP2 needs 1.1, which only SP1 gives: once SP1 is superseded, SP2 no
    // longer applies either, and the result says that this was decided.
    assert!(r.sequence.is_empty(), "{:?}", names(&r));
    assert_eq!(
        dropped(&r),
        [
            ("SP1", DropReason::Superseded),
            ("SP2", DropReason::NotApplicable)
        ]
    );
    assert!(r.choices.iter().any(|c| c.choice == choice::REJUDGED));
}

#[test]
fn supersedence_needs_every_family_of_the_earlier_patch() {
    let kit = Kit::new();
    let qfe1 = kit.patch(
        "QFE1",
        &spec(
            1,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![row("F", "1"), row("G", "1")]),
        ),
    );
    let sp = kit.patch(
        "SP",
        &spec(2, "1.0.0.0", "1.1.0.0", Some(vec![superseding("F", "2")])),
    );
    let r = run(&rtm(), &[qfe1.clone(), sp.clone()]);
    assert_eq!(names(&r), ["QFE1", "SP"]);
    // A second patch superseding family G completes it.
    let qfe2 = kit.patch(
        "QFE2",
        &spec(3, "1.0.0.0", "1.0.0.0", Some(vec![superseding("G", "2")])),
    );
    let r = run(&rtm(), &[qfe1, sp, qfe2]);
    assert_eq!(names(&r), ["QFE2", "SP"]);
    assert_eq!(dropped(&r), [("QFE1", DropReason::Superseded)]);
    let d = &r.dropped[0].detail;
    assert!(d.contains("family F") && d.contains("family G"), "{d}");
}

#[test]
fn rows_keyed_to_the_product_beat_the_null_row_and_others_fall_back() {
    let kit = Kit::new();
    // Pairs that do not check the product code, Template listing base and
    // instance: both patches apply to both products.
    let both = |n: u32, rows: Vec<SequenceRowSpec>| PatchSpec {
        targets: vec![PC.into(), INSTANCE.into()],
        pairs: vec![PairSpec {
            char_count: 0x0920_001F,
            ..pair(&format!("t{n}"), PC, "1.0.0.0", "1.0.0.0", UC)
        }],
        ..spec(n, "", "", Some(rows))
    };
    let x = kit.patch(
        "X",
        &both(
            1,
            vec![
                SequenceRowSpec::new("F", Some(PC), "2.0", false),
                SequenceRowSpec::new("F", None, "0.5", false),
            ],
        ),
    );
    let y = kit.patch(
        "Y",
        &both(2, vec![SequenceRowSpec::new("F", None, "1.0", false)]),
    );
    let base = run(&rtm(), &[x.clone(), y.clone()]);
    assert_eq!(names(&base), ["Y", "X"]);
    assert_eq!(base.sequence[1].sequence.as_deref(), Some("2.0"));
    let instance = run(&product(INSTANCE, "1.0.0.0"), &[x, y.clone()]);
    assert_eq!(names(&instance), ["X", "Y"]);
    assert_eq!(instance.sequence[0].sequence.as_deref(), Some("0.5"));
    assert!(instance.choices.is_empty());

    // Rows keyed to the base only: for the instance the patch has no
    // sequencing data, so it comes first, and the result says why.
    let z = kit.patch(
        "Z",
        &both(3, vec![SequenceRowSpec::new("F", Some(PC), "9", false)]),
    );
    let base = run(&rtm(), &[z.clone(), y.clone()]);
    assert_eq!(names(&base), ["Y", "Z"]);
    let instance = run(&product(INSTANCE, "1.0.0.0"), &[y, z]);
    assert_eq!(names(&instance), ["Z", "Y"]);
    assert_eq!(instance.sequence[0].family, None);
    assert_eq!(instance.choices.len(), 1);
    assert_eq!(instance.choices[0].choice, choice::ROWS_FOR_OTHER_PRODUCTS);
    assert!(instance.choices[0].detail.contains(PC));
}

#[test]
fn obsolete_patches_are_eliminated_only_without_sequencing_data() {
    let kit = Kit::new();
    let old = kit.patch("Old", &spec(1, "1.0.0.0", "1.0.0.0", None));
    let new = kit.patch(
        "New",
        &PatchSpec {
            patch_code: format!("{}{}", code(2), code(1)),
            ..spec(2, "1.0.0.0", "1.0.0.0", None)
        },
    );
    assert_eq!(new.obsoletes.len(), 1);
    let r = run(&rtm(), &[old, new.clone()]);
    assert_eq!(names(&r), ["New"]);
    assert_eq!(dropped(&r), [("Old", DropReason::Obsolete)]);
    assert!(r.dropped[0].detail.contains("New"));

    // The obsoleted patch has sequencing data: the list is ignored.
    let sequenced_old = kit.patch(
        "Old2",
        &spec(1, "1.0.0.0", "1.0.0.0", Some(vec![row("F", "1")])),
    );
    let r = run(&rtm(), &[sequenced_old, new]);
    assert_eq!(names(&r), ["New", "Old2"]);
    assert!(
        r.notes.iter().any(|n| n.contains("ignores the list")),
        "{:?}",
        r.notes
    );
}

#[test]
fn minor_update_target_rtm_is_judged_against_rtm_and_replaces_what_is_before_it() {
    let kit = Kit::new();
    let sp1 = kit.patch(
        "SP1",
        &spec(1, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "1")])),
    );
    let sp2_spec = spec(2, "1.0.0.0", "1.2.0.0", Some(vec![row("G", "1")]));
    let sp2_plain = kit.patch("SP2", &sp2_spec);
    // Without MinorUpdateTargetRTM, SP2 (made for 1.0) does not apply
    // after SP1.
    let r = run(&rtm(), &[sp1.clone(), sp2_plain]);
    assert_eq!(names(&r), ["SP1"]);
    assert_eq!(dropped(&r), [("SP2", DropReason::NotApplicable)]);
    let sp2 = kit.patch(
        "SP2",
        &PatchSpec {
            extra_metadata: vec![("MinorUpdateTargetRTM".into(), "1".into())],
            ..sp2_spec
        },
    );
    assert!(sp2.minor_update_target_rtm);
    let r = run(&rtm(), &[sp1, sp2]);
    assert_eq!(names(&r), ["SP2"]);
    assert_eq!(dropped(&r), [("SP1", DropReason::Superseded)]);
    assert!(r.dropped[0].detail.contains("MinorUpdateTargetRTM"));
    assert!(r.choices.iter().any(|c| c.choice == choice::TARGET_RTM));
}

#[test]
fn a_patch_for_another_product_is_not_applicable_with_checks_reasons() {
    let kit = Kit::new();
    let other = kit.patch(
        "Other",
        &PatchSpec {
            targets: vec![OTHER.into()],
            pairs: vec![pair("o", OTHER, "1.0.0.0", "1.0.0.0", UC)],
            ..spec(1, "", "", Some(vec![row("F", "1")]))
        },
    );
    let r = run(&rtm(), &[other]);
    assert!(r.sequence.is_empty());
    let d = &r.dropped[0];
    assert_eq!(d.reason, DropReason::NotApplicable);
    assert!(
        d.reasons.iter().any(|x| x.contains("Template")),
        "{:?}",
        d.reasons
    );
    assert!(
        d.reasons.iter().any(|x| x.contains("product code")),
        "{:?}",
        d.reasons
    );
}

#[test]
fn without_the_products_version_a_patch_is_undetermined_and_left_out() {
    let kit = Kit::new();
    let qfe = kit.patch("QFE", &spec(1, "1.0.0.0", "1.0.0.0", None));
    let mut p = rtm();
    p.facts.version = None;
    p.facts.complete = false;
    let r = run(&p, &[qfe]);
    assert!(r.sequence.is_empty());
    assert_eq!(r.dropped[0].verdict, Some(Verdict::Undetermined));
    assert!(r.choices.iter().any(|c| c.choice == choice::UNDETERMINED));
}

#[test]
fn more_than_127_patches_for_one_product_is_an_error_naming_the_count() {
    let kit = Kit::new();
    let make = |n: u32| {
        kit.patch(
            &format!("Q{n}"),
            &spec(
                n,
                "1.0.0.0",
                "1.0.0.0",
                Some(vec![row("F", &format!("1.{n}"))]),
            ),
        )
    };
    let mut patches: Vec<SeqPatch> = (1..=127).map(make).collect();
    let r = run(&rtm(), &patches);
    assert_eq!(r.sequence.len(), 127);
    patches.push(make(128));
    let e = sequence_product(&rtm(), &patches).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("128 patches"), "{text}");
    assert!(text.contains("127"), "{text}");
    assert_eq!(e.kind(), crate::error::ErrorKind::Usage);
}

#[test]
fn sequencing_rows_are_read_as_written() {
    let kit = Kit::new();
    let p = kit.patch(
        "P",
        &spec(
            1,
            "1.0.0.0",
            "1.0.0.0",
            Some(vec![
                SequenceRowSpec::new("F", None, "1.2.3.4", true),
                SequenceRowSpec::new("G", Some(PC), "7", false),
            ]),
        ),
    );
    assert_eq!(p.rows.len(), 2);
    let f = p.rows.iter().find(|r| r.family == "F").unwrap();
    assert_eq!(f.product_code, None);
    assert_eq!(f.order, [1, 2, 3, 4]);
    assert_eq!(f.attributes, SUPERSEDE_EARLIER);
    let g = p.rows.iter().find(|r| r.family == "G").unwrap();
    assert_eq!(g.product_code.map(|c| c.braced()).as_deref(), Some(PC));
    assert_eq!(g.attributes, 0);
    assert!(!p.minor_update_target_rtm);
    let none = kit.patch("N", &spec(2, "1.0.0.0", "1.0.0.0", None));
    assert!(none.rows.is_empty());
}

#[test]
fn a_file_that_is_not_a_patch_is_an_error_naming_it() {
    let kit = Kit::new();
    let path = kit.dir.path().join("product.msi");
    let bytes = crate::testkit::synth::product_database(&[("ProductCode", PC)]).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let e = read_patch(Path::new(&path), false).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("product.msi"), "{text}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn check_warns_when_rows_make_a_product_sequence_differently() {
    let g = |c: &str| Guid::parse_braced(c).unwrap();
    let targets = [g(PC), g(INSTANCE)];
    let keyed = SequenceRow::new("F", Some(g(PC)), "2", 0).unwrap();
    let null = SequenceRow::new("F", None, "1", 0).unwrap();
    let same_null = SequenceRow::new("F", None, "2", 0).unwrap();
    // Only rows for the base: the instance has no sequencing data.
    let w = row_warning(std::slice::from_ref(&keyed), &targets, g(INSTANCE)).unwrap();
    assert!(w.contains("name only") && w.contains(PC), "{w}");
    assert_eq!(
        row_warning(std::slice::from_ref(&keyed), &targets, g(PC)),
        None
    );
    // A keyed row for the base and a NULL row with another Sequence.
    let rows = [keyed.clone(), null];
    let w = row_warning(&rows, &targets, g(INSTANCE)).unwrap();
    assert!(w.contains("NULL-ProductCode row (Sequence 1)"), "{w}");
    assert!(w.contains("(Sequence 2)"), "{w}");
    assert_eq!(row_warning(&rows, &targets, g(PC)), None);
    // The same Sequence either way, NULL rows only, no rows, not a target.
    assert_eq!(
        row_warning(&[keyed, same_null.clone()], &targets, g(INSTANCE)),
        None
    );
    assert_eq!(row_warning(&[same_null], &targets, g(INSTANCE)), None);
    assert_eq!(row_warning(&[], &targets, g(INSTANCE)), None);
    let rows = [SequenceRow::new("F", Some(g(PC)), "2", 0).unwrap()];
    assert_eq!(row_warning(&rows, &[g(PC)], g(INSTANCE)), None);
}

#[test]
fn two_minor_upgrades_to_one_version_keep_the_order_given_and_say_so() {
    let kit = Kit::new();
    // Both move 1.0 to 1.1; the second accepts any version >= 1.0, so it
    // applies after the first as well.
    let relaxed = |n: u32| PatchSpec {
        pairs: vec![PairSpec {
            char_count: u32::from(
                Validation::PRODUCT
                    | Validation::UPDATE_VERSION
                    | Validation::NEW_GREATER_EQUAL_BASE,
            ) << 16,
            ..pair(&format!("t{n}"), PC, "1.0.0.0", "1.1.0.0", UC)
        }],
        ..spec(n, "", "", Some(vec![row("F", &n.to_string())]))
    };
    let a = kit.patch("A", &relaxed(1));
    let b = kit.patch("B", &relaxed(2));
    let r = run(&rtm(), &[b.clone(), a.clone()]);
    assert_eq!(names(&r), ["B", "A"]);
    assert_eq!(r.choices.len(), 1, "{:?}", r.choices);
    assert_eq!(r.choices[0].choice, choice::TIE);
    assert!(
        r.choices[0].detail.contains("1.1.0"),
        "{}",
        r.choices[0].detail
    );
    assert_eq!(names(&run(&rtm(), &[a, b])), ["A", "B"]);
    // When only one of them applies, the tie decides nothing: no choice.
    let (_, _, sp1) = example(&kit, false);
    let other = kit.patch(
        "C",
        &spec(4, "1.0.0.0", "1.1.0.0", Some(vec![row("F", "4")])),
    );
    let r = run(&rtm(), &[sp1, other]);
    assert_eq!(r.sequence.len(), 1);
    assert!(r.choices.is_empty(), "{:?}", r.choices);
}
