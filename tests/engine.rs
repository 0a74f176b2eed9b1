//! The retarget engine through the library API: the three presets at
//! several instance counts, idempotence, determinism, dry runs, copy
//! decisions and naming edge cases. Every output is checked entry by entry
//! against its input by `util::check`.

use std::io::Write;

use msp_retarget::report::RetargetReport;
use msp_retarget::retarget;
use msp_retarget::testkit::synth::PatchSpec;
use msp_retarget::{Destination, Outcome};
use msp_retarget::{InstanceStatus, PairAction, PlanOptions};

use crate::util::check::{Expect, check_retarget, source_pairs};
use crate::util::{
    Dir, I1, I2, I3, PRODUCT_A, PRODUCT_B, SIGNATURE, Snapshot, guid, inst, inst_of,
    many_instances, pid, read, request, retarget_to,
};

//===========================================================================//
// Presets

/// Retargets `spec` to `instances` (each with its base), naming the base
/// explicitly when `explicit`, and checks the output completely.
fn preset(spec: PatchSpec, instances: &[(&str, String)], explicit: bool) -> RetargetReport {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &spec);
    let before = read(&input);
    let out = dir.join("out.msp");
    let reqs: Vec<_> = instances
        .iter()
        .map(|(b, i)| if explicit { inst_of(b, i) } else { inst(i) })
        .collect();
    let report = retarget_to(&input, &out, &reqs);

    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(report.output.as_deref(), Some(out.as_path()));
    assert!(report.verification.is_some());
    assert_eq!(report.patch_code, guid(&spec.patch_code));
    assert!(read(&input) == before, "the input changed");
    assert_eq!(dir.names(), ["in.msp", "out.msp"], "files left behind");

    let pairs: Vec<(&str, &str)> = instances.iter().map(|(b, i)| (*b, i.as_str())).collect();
    let (src, dst) = (Snapshot::of(&input), Snapshot::of(&out));
    let found = check_retarget(&src, &dst, &Expect::new(&pairs));
    // What verification reports matches what is in the files: every input
    // entry but the rewritten root summary and database streams (the
    // mirrored MsiPatchSequence rows) unchanged, the rest added.
    let v = report.verification.as_ref().unwrap();
    let same = src
        .entries
        .iter()
        .filter(|(p, e)| dst.entries.get(*p).is_some_and(|o| o.bytes == e.bytes))
        .count();
    assert_eq!(v.unchanged_entries, same);
    assert!(
        same >= src.entries.len() - 4,
        "{same} of {}",
        src.entries.len()
    );
    assert_eq!(v.added_entries, dst.entries.len() - src.entries.len());
    // The plan names the copies the file has, partners right after.
    let planned: Vec<String> = report.plan.copies.iter().map(|c| c.name.clone()).collect();
    let listed: Vec<String> = found
        .iter()
        .flat_map(|c| [c.name.clone(), format!("#{}", c.name)])
        .collect();
    assert_eq!(planned, listed);
    for (inst_plan, (b, i)) in report.plan.instances.iter().zip(instances) {
        assert_eq!(inst_plan.instance, guid(i));
        assert_eq!(inst_plan.base, guid(b));
        assert_eq!(inst_plan.status, InstanceStatus::Retarget);
        assert!(inst_plan.template_added);
    }
    report
}

fn on_a(codes: Vec<String>) -> Vec<(&'static str, String)> {
    codes.into_iter().map(|c| (PRODUCT_A, c)).collect()
}

/// Alternates the bases A and B of `two_products`.
fn on_a_and_b(codes: Vec<String>) -> Vec<(&'static str, String)> {
    codes
        .into_iter()
        .enumerate()
        .map(|(n, c)| (if n % 2 == 0 { PRODUCT_A } else { PRODUCT_B }, c))
        .collect()
}

fn three() -> Vec<String> {
    vec![I1.to_string(), I2.to_string(), I3.to_string()]
}

#[test]
fn single_product_to_one_instance() {
    let r = preset(PatchSpec::single_product(), &on_a(vec![I1.into()]), false);
    // The whole result, pinned.
    assert_eq!(
        r.plan.template_after,
        format!("{PRODUCT_A};{I1}"),
        "Template"
    );
    assert_eq!(
        r.plan.last_saved_by_after,
        ":rtmA.1;:#rtmA.1;:rtmA.1_11111111;:#rtmA.1_11111111"
    );
    assert_eq!(
        r.plan.copies[0].revision_after,
        format!("{I1}1.0.0.0;{I1}1.0.1.0;{{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}}")
    );
}

#[test]
fn single_product_to_three_instances() {
    preset(PatchSpec::single_product(), &on_a(three()), false);
}

#[test]
fn single_product_to_two_hundred_instances() {
    preset(
        PatchSpec::single_product(),
        &on_a(many_instances(200)),
        false,
    );
}

#[test]
fn two_products_to_one_instance() {
    let r = preset(PatchSpec::two_products(), &[(PRODUCT_B, I1.into())], true);
    assert_eq!(r.plan.copies[0].source, "rtmB.1");
    assert_eq!(r.plan.copies[0].name, "rtmB.1_11111111");
}

#[test]
fn two_products_to_three_instances() {
    preset(PatchSpec::two_products(), &on_a_and_b(three()), true);
}

#[test]
fn two_products_to_two_hundred_instances() {
    preset(
        PatchSpec::two_products(),
        &on_a_and_b(many_instances(200)),
        true,
    );
}

#[test]
fn two_baselines_to_one_instance() {
    let r = preset(PatchSpec::two_baselines(), &on_a(vec![I1.into()]), false);
    let names: Vec<&str> = r.plan.copies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rtm.1_11111111",
            "#rtm.1_11111111",
            "ldr.1_11111111",
            "#ldr.1_11111111"
        ]
    );
}

#[test]
fn two_baselines_to_three_instances() {
    preset(PatchSpec::two_baselines(), &on_a(three()), false);
}

#[test]
fn two_baselines_to_two_hundred_instances() {
    preset(
        PatchSpec::two_baselines(),
        &on_a(many_instances(200)),
        false,
    );
}

#[test]
fn instance_codes_are_written_upper_case_and_once() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    let lower = I1.to_lowercase().replace('1', "a");
    let upper = lower.to_uppercase();
    let r = retarget_to(&input, &out, &[inst(&lower), inst(&upper), inst(&lower)]);
    assert_eq!(r.plan.instances.len(), 1);
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, &upper)]),
    );
    assert_eq!(
        Snapshot::of(&out).text("", pid::TEMPLATE),
        format!("{PRODUCT_A};{upper}")
    );
}

#[test]
fn copies_keep_state_bits_and_timestamps_of_their_sources() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
    crate::util::edit(&input, |cf| {
        cf.set_state_bits("/rtmA.1", 0x5A5A).unwrap();
        cf.set_state_bits("/#rtmA.1/\u{5}SummaryInformation", 7)
            .unwrap();
        cf.set_created_time("/#rtmA.1", when).unwrap();
    });
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    let (src, dst) = (Snapshot::of(&input), Snapshot::of(&out));
    check_retarget(&src, &dst, &Expect::new(&[(PRODUCT_A, I1)]));
    assert_eq!(dst.get("/rtmA.1_11111111").state_bits, 0x5A5A);
    assert_eq!(
        dst.get("/#rtmA.1_11111111/\u{5}SummaryInformation")
            .state_bits,
        7
    );
    assert_eq!(dst.get("/#rtmA.1_11111111").created, when);
    assert_eq!(
        dst.get("/rtmA.1_11111111").clsid,
        msp_retarget::testkit::synth::TRANSFORM_CLSID
    );
}

//===========================================================================//
// Copy decisions

fn not_validating(mut spec: PatchSpec, pair: usize) -> PatchSpec {
    spec.pairs[pair].char_count = 0x0920_001F;
    spec
}

#[test]
fn pairs_that_do_not_check_the_product_code_are_not_copied() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &not_validating(PatchSpec::two_baselines(), 1));
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1)]);
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].source, "rtm.1");
    let decisions = &r.plan.instances[0].pairs;
    assert_eq!(decisions[1].source, "ldr.1");
    match &decisions[1].action {
        PairAction::NotNeeded { reason } => assert_eq!(
            reason,
            "ldr.1 does not validate the product code (CharCount 0x0920001f); it applies \
             to the instance once Template lists it, and a copy would give the instance \
             two valid pairs"
        ),
        other => panic!("ldr.1: {other:?}"),
    }
}

#[test]
fn copy_all_copies_pairs_that_do_not_check_the_product_code() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &not_validating(PatchSpec::two_baselines(), 1));
    let out = dir.join("out.msp");
    let mut req = request(
        &input,
        Destination::Output(out.clone()),
        &[inst(I1), inst(I2)],
    );
    req.options.copy_all = true;
    retarget(&req).unwrap();
    let mut expect = Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]);
    expect.copy_all = true;
    let found = check_retarget(&Snapshot::of(&input), &Snapshot::of(&out), &expect);
    let sources: Vec<&str> = found.iter().map(|c| c.source.as_str()).collect();
    assert_eq!(sources, ["rtm.1", "ldr.1", "rtm.1", "ldr.1"]);
}

#[test]
fn a_patch_without_product_checks_only_gains_template_entries() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &not_validating(PatchSpec::single_product(), 0));
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1), inst(I2)]);
    assert_eq!(r.outcome, Outcome::Done);
    assert!(r.plan.copies.is_empty());
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]),
    );
    assert!(found.is_empty());
    // Again: both instances are in Template and need no copy.
    let again = dir.join("again.msp");
    let r = retarget_to(&out, &again, &[inst(I1), inst(I2)]);
    assert_eq!(r.outcome, Outcome::AlreadyDone);
    assert!(read(&again) == read(&out));
}

//===========================================================================//
// Idempotence and determinism

/// The presets with three instances each, as requests.
fn three_instance_cases() -> Vec<(PatchSpec, Vec<msp_retarget::InstanceRequest>)> {
    vec![
        (
            PatchSpec::single_product(),
            vec![inst(I1), inst(I2), inst(I3)],
        ),
        (
            PatchSpec::two_products(),
            vec![
                inst_of(PRODUCT_A, I1),
                inst_of(PRODUCT_B, I2),
                inst_of(PRODUCT_A, I3),
            ],
        ),
        (
            PatchSpec::two_baselines(),
            vec![inst(I1), inst(I2), inst(I3)],
        ),
    ]
}

#[test]
fn rerunning_on_the_output_is_already_done() {
    for (spec, reqs) in three_instance_cases() {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &spec);
        let first = dir.join("first.msp");
        retarget_to(&input, &first, &reqs);

        let second = dir.join("second.msp");
        let r = retarget_to(&first, &second, &reqs);
        assert_eq!(r.outcome, Outcome::AlreadyDone, "{}", spec.display_name);
        assert_eq!(r.output.as_deref(), Some(second.as_path()));
        assert!(r.verification.is_none());
        assert!(r.plan.copies.is_empty());
        assert!(!r.plan.changes_anything());
        for i in &r.plan.instances {
            assert_eq!(i.status, InstanceStatus::AlreadyDone);
            assert!(!i.template_added);
            assert!(
                i.pairs
                    .iter()
                    .all(|d| matches!(d.action, PairAction::AlreadyPresent { .. }))
            );
        }
        assert!(read(&second) == read(&first), "{}", spec.display_name);

        // A subset of the instances: also already done.
        let third = dir.join("third.msp");
        let r = retarget_to(&first, &third, &reqs[1..2]);
        assert_eq!(r.outcome, Outcome::AlreadyDone);
        assert!(read(&third) == read(&first));

        // In place: nothing is rewritten.
        let before = read(&first);
        let r = retarget(&request(&first, Destination::InPlace, &reqs)).unwrap();
        assert_eq!(r.outcome, Outcome::AlreadyDone);
        assert!(read(&first) == before);
        assert_eq!(
            dir.names(),
            ["first.msp", "in.msp", "second.msp", "third.msp"]
        );
    }
}

#[test]
fn one_more_instance_resolves_to_the_original_base() {
    for spec in [PatchSpec::single_product(), PatchSpec::two_baselines()] {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &spec);
        let first = dir.join("first.msp");
        retarget_to(&input, &first, &[inst(I1), inst(I2)]);
        let second = dir.join("second.msp");
        let r = retarget_to(&first, &second, &[inst(I3)]);
        assert_eq!(r.outcome, Outcome::Done);
        assert_eq!(r.plan.instances.len(), 1);
        assert_eq!(r.plan.instances[0].base, guid(PRODUCT_A));
        let found = check_retarget(
            &Snapshot::of(&first),
            &Snapshot::of(&second),
            &Expect::new(&[(PRODUCT_A, I3)]),
        );
        let originals: Vec<String> = spec.pairs.iter().map(|p| p.name.clone()).collect();
        let sources: Vec<String> = found.iter().map(|c| c.source.clone()).collect();
        assert_eq!(sources, originals, "{}", spec.display_name);
        // The result has the entries of retargeting to all three at once.
        let all = dir.join("all.msp");
        retarget_to(&input, &all, &[inst(I1), inst(I2), inst(I3)]);
        assert!(
            Snapshot::of(&all) == Snapshot::of(&second),
            "{}",
            spec.display_name
        );
    }
}

#[test]
fn one_more_instance_with_its_base_on_a_two_product_patch() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::two_products());
    let first = dir.join("first.msp");
    retarget_to(
        &input,
        &first,
        &[inst_of(PRODUCT_A, I1), inst_of(PRODUCT_B, I2)],
    );
    let second = dir.join("second.msp");
    retarget_to(&first, &second, &[inst_of(PRODUCT_B, I3)]);
    let found = check_retarget(
        &Snapshot::of(&first),
        &Snapshot::of(&second),
        &Expect::new(&[(PRODUCT_B, I3)]),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].source, "rtmB.1");
}

#[test]
fn two_runs_give_identical_bytes() {
    for (spec, reqs) in three_instance_cases() {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &spec);
        let (a, b) = (dir.join("a.msp"), dir.join("b.msp"));
        retarget_to(&input, &a, &reqs);
        retarget_to(&input, &b, &reqs);
        assert!(read(&a) == read(&b), "{}", spec.display_name);
        // In place gives the same bytes as -o.
        let copy = dir.join("copy.msp");
        std::fs::copy(&input, &copy).unwrap();
        let r = retarget(&request(&copy, Destination::InPlace, &reqs)).unwrap();
        assert_eq!(r.outcome, Outcome::Done);
        assert!(read(&copy) == read(&a), "{}", spec.display_name);
    }
}

//===========================================================================//
// Dry runs

#[test]
fn a_dry_run_writes_nothing_and_plans_what_a_real_run_does() {
    for (spec, reqs) in three_instance_cases() {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &spec);
        let before = dir.listing();
        let dry = retarget(&request(&input, Destination::DryRun, &reqs)).unwrap();
        assert_eq!(dry.outcome, Outcome::Planned);
        assert_eq!(dry.output, None);
        assert!(dry.verification.is_none());
        assert!(dir.listing() == before, "a dry run wrote something");

        let real = retarget_to(&input, &dir.join("out.msp"), &reqs);
        assert_eq!(dry.plan, real.plan, "{}", spec.display_name);
        assert_eq!(dry.targets_before, real.targets_before);

        // A dry run on the result: already done, still nothing written.
        let before = dir.listing();
        let again = retarget(&request(&dir.join("out.msp"), Destination::DryRun, &reqs)).unwrap();
        assert_eq!(again.outcome, Outcome::AlreadyDone);
        assert!(dir.listing() == before);
    }
}

//===========================================================================//
// Signatures

#[test]
fn strip_signature_removes_it_and_reports_it() {
    let dir = Dir::new();
    let spec = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    let input = dir.patch("in.msp", &spec);
    let out = dir.join("out.msp");
    let mut req = request(&input, Destination::Output(out.clone()), &[inst(I1)]);
    req.options = PlanOptions {
        strip_signature: true,
        ..PlanOptions::default()
    };
    let r = retarget(&req).unwrap();
    assert_eq!(r.plan.removed_streams, [SIGNATURE]);
    let src = Snapshot::of(&input);
    assert!(src.entries.contains_key(&format!("/{SIGNATURE}")));
    let mut expect = Expect::new(&[(PRODUCT_A, I1)]);
    expect.removed = vec![SIGNATURE.to_string()];
    check_retarget(&src, &Snapshot::of(&out), &expect);

    // Both kinds of signature stream.
    let ex = "\u{5}MsiDigitalSignatureEx";
    crate::util::edit(&input, |cf| {
        cf.create_stream(format!("/{ex}"))
            .unwrap()
            .write_all(b"hash")
            .unwrap();
    });
    let r = retarget(&req).unwrap();
    assert_eq!(r.plan.removed_streams, [SIGNATURE, ex]);
    let src = Snapshot::of(&input);
    expect.removed.push(ex.to_string());
    check_retarget(&src, &Snapshot::of(&out), &expect);
}

//===========================================================================//
// Names

/// A single-product patch whose pair is named `name`.
fn named(name: &str) -> PatchSpec {
    let mut spec = PatchSpec::single_product();
    spec.pairs[0].name = name.to_string();
    spec
}

#[test]
fn source_names_of_29_and_30_units_are_cut_to_fit() {
    for n in [29, 30] {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &named(&"A".repeat(n)));
        let out = dir.join("out.msp");
        retarget_to(&input, &out, &[inst(I1), inst(I2)]);
        let found = check_retarget(
            &Snapshot::of(&input),
            &Snapshot::of(&out),
            &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]),
        );
        let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
        let cut = "A".repeat(21);
        assert_eq!(
            names,
            [format!("{cut}_11111111"), format!("{cut}_22222222")],
            "{n} units"
        );
    }
}

#[test]
fn a_source_name_of_31_units_without_partner() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let long = "A".repeat(31);
    crate::util::edit(&input, |cf| {
        crate::util::copy_storage(cf, "rtmA.1", &long);
        cf.remove_storage_all("/rtmA.1").unwrap();
        cf.remove_storage_all("/#rtmA.1").unwrap();
        crate::util::set_root_text(cf, pid::LAST_SAVED_BY, &format!(":{long}"));
    });
    let src = Snapshot::of(&input);
    assert_eq!(source_pairs(&src)[0].partner, None);
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1)]);
    let found = check_retarget(&src, &Snapshot::of(&out), &Expect::new(&[(PRODUCT_A, I1)]));
    let name = format!("{}_11111111", "A".repeat(21));
    assert_eq!(found[0].name, name);
    assert_eq!(r.plan.last_saved_by_after, format!(":{long};:{name}"));
    assert!(matches!(
        &r.plan.instances[0].pairs[0].action,
        PairAction::Copy { partner: None, .. }
    ));
}

#[test]
fn names_that_differ_only_in_case_are_avoided() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    crate::util::edit(&input, |cf| {
        crate::util::copy_storage(cf, "rtmA.1", "RTMA.1_11111111");
        cf.create_stream("/#RTMA.1_11111111~2").unwrap();
    });
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
    assert_eq!(found[0].name, "rtmA.1_11111111~3");
}

#[test]
fn instances_sharing_their_first_eight_digits_get_numbered_names() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    let (x, y) = (
        "{ABCDEF01-0000-4000-8000-000000000001}",
        "{abcdef01-0000-4000-8000-000000000002}",
    );
    retarget_to(&input, &out, &[inst(x), inst(y)]);
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, x), (PRODUCT_A, y)]),
    );
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["rtmA.1_ABCDEF01", "rtmA.1_ABCDEF01~2"]);
}

/// Instances whose codes share their first eight digits, and instances
/// with ids longer than a name holds: the cases where names collide.
const X: &str = "{AAAAAAAA-0000-4000-8000-000000000001}";
const Y: &str = "{AAAAAAAA-0000-4000-8000-000000000002}";

fn with_id(code: &str, id: &str) -> msp_retarget::InstanceRequest {
    msp_retarget::InstanceRequest {
        id: Some(id.to_string()),
        ..inst(code)
    }
}

#[test]
fn the_order_of_the_instances_changes_no_byte() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::two_products());
    let forward = vec![
        inst_of(PRODUCT_A, X),
        inst_of(PRODUCT_A, Y),
        msp_retarget::InstanceRequest {
            base: Some(guid(PRODUCT_B)),
            ..with_id(I1, "AVeryLongCustomerIdentifierNumber2")
        },
        msp_retarget::InstanceRequest {
            base: Some(guid(PRODUCT_B)),
            ..with_id(I2, "AVeryLongCustomerIdentifierNumber1")
        },
    ];
    let mut backward = forward.clone();
    backward.reverse();
    let (ab, ba) = (dir.join("ab.msp"), dir.join("ba.msp"));
    retarget_to(&input, &ab, &forward);
    retarget_to(&input, &ba, &backward);
    assert!(read(&ab) == read(&ba), "the outputs differ");

    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&ba),
        &Expect::new(&[
            (PRODUCT_B, I2),
            (PRODUCT_A, Y),
            (PRODUCT_B, I1),
            (PRODUCT_A, X),
        ]),
    );
    let names: Vec<(String, &str)> = found
        .iter()
        .map(|c| (c.instance.braced(), c.name.as_str()))
        .collect();
    // In the order of the codes: I1 < I2 < X < Y. The source name leads
    // every copy's name, the id is cut first.
    assert_eq!(
        names,
        [
            (I1.to_string(), "rtmB.1_AVeryLongCustomerIdenti"),
            (I2.to_string(), "rtmB.1_AVeryLongCustomerIden~2"),
            (X.to_string(), "rtmA.1_AAAAAAAA"),
            (Y.to_string(), "rtmA.1_AAAAAAAA~2"),
        ]
    );
}

/// Renames storage `from` of the root to `to`.
fn rename(cf: &mut cfb::CompoundFile<std::fs::File>, from: &str, to: &str) {
    crate::util::copy_storage(cf, from, to);
    cf.remove_storage_all(format!("/{from}")).unwrap();
}

#[test]
fn copies_named_by_the_earlier_scheme_are_recognised_on_a_rerun() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let long_id = "AVeryLongCustomerIdentifierN";
    let reqs = vec![inst(Y), inst(X), with_id(I1, long_id)];
    let new = dir.join("new.msp");
    retarget_to(&input, &new, &reqs);
    let listed = Snapshot::of(&new).text("", pid::LAST_SAVED_BY);
    assert_eq!(
        listed,
        ":rtmA.1;:#rtmA.1;:rtmA.1_00000000;:#rtmA.1_00000000;\
         :rtmA.1_AAAAAAAA;:#rtmA.1_AAAAAAAA;:rtmA.1_AAAAAAAA~2;:#rtmA.1_AAAAAAAA~2"
            .replace("00000000", "AVeryLongCustomerIdenti")
    );

    // The same retarget as the earlier scheme wrote it: names given in
    // the order of the arguments (Y's copy plain, X's `~2`), Template in
    // that order too, and the long id in place of the source name.
    let old = dir.join("old.msp");
    std::fs::copy(&new, &old).unwrap();
    crate::util::edit(&old, |cf| {
        for (from, to) in [
            ("rtmA.1_AAAAAAAA", "swap"),
            ("rtmA.1_AAAAAAAA~2", "rtmA.1_AAAAAAAA"),
            ("swap", "rtmA.1_AAAAAAAA~2"),
            (
                "rtmA.1_AVeryLongCustomerIdenti",
                "r_AVeryLongCustomerIdentifierN",
            ),
        ] {
            rename(cf, from, to);
            rename(cf, &format!("#{from}"), &format!("#{to}"));
        }
        crate::util::set_root_text(
            cf,
            pid::LAST_SAVED_BY,
            ":rtmA.1;:#rtmA.1;:rtmA.1_AAAAAAAA;:#rtmA.1_AAAAAAAA;:rtmA.1_AAAAAAAA~2;\
             :#rtmA.1_AAAAAAAA~2;:r_AVeryLongCustomerIdentifierN;:#r_AVeryLongCustomerIdentifierN",
        );
        crate::util::set_root_text(cf, pid::TEMPLATE, &format!("{PRODUCT_A};{Y};{X};{I1}"));
    });
    let old_bytes = read(&old);
    assert!(old_bytes != read(&new));
    // Y's copy under the plain name is Y's: its main transform names Y.
    let revision = Snapshot::of(&old)
        .summary("rtmA.1_AAAAAAAA")
        .get_string(pid::REVISION_NUMBER)
        .unwrap()
        .unwrap();
    assert!(revision.starts_with(Y), "{revision}");

    // A rerun, in either order, finds every copy and changes nothing.
    let mut backward = reqs.clone();
    backward.reverse();
    for (i, reqs) in [&reqs, &backward].into_iter().enumerate() {
        let out = dir.join(&format!("rerun{i}.msp"));
        let r = retarget_to(&old, &out, reqs);
        assert_eq!(r.outcome, Outcome::AlreadyDone);
        assert!(r.plan.copies.is_empty());
        assert!(read(&out) == old_bytes, "rerun {i} changed the file");
        let r = retarget(&request(&old, Destination::InPlace, reqs)).unwrap();
        assert_eq!(r.outcome, Outcome::AlreadyDone);
        assert!(
            read(&old) == old_bytes,
            "rerun {i} in place changed the file"
        );
    }

    // One more instance beside the old names: its copies only.
    let more = dir.join("more.msp");
    let mut all = reqs.clone();
    all.push(inst(I2));
    retarget_to(&old, &more, &all);
    let found = check_retarget(
        &Snapshot::of(&old),
        &Snapshot::of(&more),
        &Expect::new(&[(PRODUCT_A, I2)]),
    );
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["rtmA.1_22222222"]);
}

//===========================================================================//
// Patches whose pairs are only partly copied

/// Two baselines of one product, only `rtm.1` checking the product code:
/// an instance gets a copy of `rtm.1` and none of `ldr.1`.
fn partly_copied() -> PatchSpec {
    not_validating(PatchSpec::two_baselines(), 1)
}

#[test]
fn one_more_instance_on_a_partly_copied_patch() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &partly_copied());
    let first = dir.join("first.msp");
    retarget_to(&input, &first, &[inst(I1)]);
    let second = dir.join("second.msp");
    let r = retarget(&request(
        &first,
        Destination::Output(second.clone()),
        &[inst(I2)],
    ))
    .unwrap_or_else(|e| panic!("adding {I2}: {e}"));
    assert_eq!(r.plan.instances[0].base, guid(PRODUCT_A));
    let found = check_retarget(
        &Snapshot::of(&first),
        &Snapshot::of(&second),
        &Expect::new(&[(PRODUCT_A, I2)]),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].source, "rtm.1");
}

#[test]
fn a_subset_of_the_instances_on_a_partly_copied_patch() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &partly_copied());
    let first = dir.join("first.msp");
    retarget_to(&input, &first, &[inst(I1), inst(I2)]);
    let again = dir.join("again.msp");
    let r = retarget(&request(
        &first,
        Destination::Output(again.clone()),
        &[inst(I2)],
    ))
    .unwrap_or_else(|e| panic!("re-running for {I2}: {e}"));
    assert_eq!(r.outcome, Outcome::AlreadyDone);
    assert!(read(&again) == read(&first));
}

#[test]
fn the_same_request_again_on_a_partly_copied_patch() {
    // Works today because the requested instances are never candidates.
    let dir = Dir::new();
    let input = dir.patch("in.msp", &partly_copied());
    let first = dir.join("first.msp");
    retarget_to(&input, &first, &[inst(I1), inst(I2)]);
    let again = dir.join("again.msp");
    let r = retarget_to(&first, &again, &[inst(I1), inst(I2)]);
    assert_eq!(r.outcome, Outcome::AlreadyDone);
    let actions: Vec<&PairAction> = r.plan.instances[0]
        .pairs
        .iter()
        .map(|d| &d.action)
        .collect();
    assert!(matches!(actions[0], PairAction::AlreadyPresent { name } if name == "rtm.1_11111111"));
    assert!(matches!(actions[1], PairAction::NotNeeded { .. }));
    assert!(read(&again) == read(&first));
}

//===========================================================================//
// Lists as stored

#[test]
fn lists_ending_in_a_semicolon_are_appended_to_as_stored() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    crate::util::edit(&input, |cf| {
        crate::util::set_root_text(cf, pid::TEMPLATE, &format!("{PRODUCT_A};"));
        crate::util::set_root_text(cf, pid::LAST_SAVED_BY, ":rtmA.1;:#rtmA.1;");
    });
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1)]);
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
    assert_eq!(r.plan.template_after, format!("{PRODUCT_A};{I1}"));
    assert_eq!(
        r.plan.last_saved_by_after,
        ":rtmA.1;:#rtmA.1;:rtmA.1_11111111;:#rtmA.1_11111111"
    );
}

#[test]
fn a_lower_case_template_is_kept_and_matched_ignoring_case() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let lower = format!("{};{}", PRODUCT_A.to_lowercase(), I1.to_lowercase());
    crate::util::edit(&input, |cf| {
        crate::util::set_root_text(cf, pid::TEMPLATE, &lower);
    });
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1), inst(I2)]);
    // I1 is listed already (in lower case); only I2 is added.
    assert!(!r.plan.instances[0].template_added);
    assert!(r.plan.instances[1].template_added);
    assert_eq!(r.plan.template_after, format!("{lower};{I2}"));
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]),
    );
}

//===========================================================================//
// More names and later runs

#[test]
fn names_that_differ_only_in_the_case_of_a_non_ascii_letter_are_avoided() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &named("rtmä.1"));
    crate::util::edit(&input, |cf| {
        crate::util::copy_storage(cf, "rtmä.1", "RTMÄ.1_11111111");
    });
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
    assert_eq!(found[0].name, "rtmä.1_11111111~2");
}

#[test]
fn instance_ids_name_the_copies() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    let with_id = |code: &str, id: &str| msp_retarget::InstanceRequest {
        id: Some(id.to_string()),
        ..inst(code)
    };
    let r = retarget_to(
        &input,
        &out,
        &[
            with_id(I1, "Instance 1"),
            with_id(I2, "!!"),
            with_id(I3, "a-very-long.instance_id-of-many-units"),
        ],
    );
    assert_eq!(r.plan.instances[0].id.as_deref(), Some("Instance 1"));
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2), (PRODUCT_A, I3)]),
    );
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rtmA.1_Instance1",
            "rtmA.1_22222222",
            // The source name stays; the id is cut.
            "rtmA.1_a-very-long.instance_id"
        ]
    );
}

#[test]
fn copy_all_later_adds_only_the_missing_copies() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &partly_copied());
    let first = dir.join("first.msp");
    retarget_to(&input, &first, &[inst(I1)]);
    let second = dir.join("second.msp");
    let mut req = request(&first, Destination::Output(second.clone()), &[inst(I1)]);
    req.options.copy_all = true;
    let r = retarget(&req).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    let actions: Vec<&PairAction> = r.plan.instances[0]
        .pairs
        .iter()
        .map(|d| &d.action)
        .collect();
    assert!(matches!(actions[0], PairAction::AlreadyPresent { .. }));
    assert!(matches!(actions[1], PairAction::Copy { name, .. } if name == "ldr.1_11111111"));
    assert!(!r.plan.instances[0].template_added);
    let (src, out) = (Snapshot::of(&first), Snapshot::of(&second));
    // Only ldr.1's copy is new; everything of the first run is kept.
    let new: Vec<String> = out
        .root_names()
        .into_iter()
        .filter(|n| !src.root_names().contains(n))
        .collect();
    assert_eq!(new, ["#ldr.1_11111111", "ldr.1_11111111"]);
    assert_eq!(
        out.text("", pid::LAST_SAVED_BY),
        format!(
            "{};:ldr.1_11111111;:#ldr.1_11111111",
            src.text("", pid::LAST_SAVED_BY)
        )
    );
    assert_eq!(out.text("", pid::TEMPLATE), src.text("", pid::TEMPLATE));
    for (path, e) in &src.entries {
        if path != "/\u{5}SummaryInformation" {
            assert_eq!(out.get(path), e, "{path}");
        }
    }
}

#[test]
fn a_large_cabinet_is_kept_byte_for_byte() {
    // Verification vouches for streams of 1 MiB and more by their layout
    // instead of re-reading them; the checker still compares every byte.
    let dir = Dir::new();
    let spec = PatchSpec {
        cabinet_len: 3 * 1024 * 1024 + 7,
        ..PatchSpec::two_baselines()
    };
    let input = dir.patch("in.msp", &spec);
    let out = dir.join("out.msp");
    let r = retarget_to(&input, &out, &[inst(I1), inst(I2)]);
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]),
    );
    let v = r.verification.unwrap();
    assert_eq!(v.bytes_vouched_by_layout, spec.cabinet_len);
}

//===========================================================================//
// In place: the journaled path writes exactly what -o writes

/// Retargets a copy of `input` in place and returns the report; the folder
/// must then hold no journal and no temporary file.
fn in_place(dir: &Dir, input: &std::path::Path, reqs: &[msp_retarget::InstanceRequest]) -> Vec<u8> {
    let copy = dir.join("copy.msp");
    std::fs::copy(input, &copy).unwrap();
    let r = retarget(&request(&copy, Destination::InPlace, reqs)).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.output.as_deref(), Some(copy.as_path()));
    assert!(r.verification.is_some());
    let bytes = read(&copy);
    std::fs::remove_file(&copy).unwrap();
    bytes
}

#[test]
fn in_place_gives_the_bytes_of_o_on_every_preset_and_many_instances() {
    let cases = [
        (PatchSpec::single_product(), on_a(many_instances(200))),
        (PatchSpec::two_products(), on_a_and_b(many_instances(50))),
        (PatchSpec::two_baselines(), on_a(many_instances(200))),
    ];
    for (spec, instances) in cases {
        let dir = Dir::new();
        let input = dir.patch("in.msp", &spec);
        let reqs: Vec<_> = instances.iter().map(|(b, i)| inst_of(b, i)).collect();
        let out = dir.join("out.msp");
        retarget_to(&input, &out, &reqs);
        let got = in_place(&dir, &input, &reqs);
        assert!(got == read(&out), "{}", spec.display_name);
        assert_eq!(dir.names(), ["in.msp", "out.msp"], "{}", spec.display_name);
    }
}

#[cfg(unix)]
#[test]
fn in_place_writes_into_the_file_and_keeps_its_inode_and_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let work = dir.join("work.msp");
    std::fs::copy(&input, &work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::metadata(&work).unwrap();
    let r = retarget(&request(&work, Destination::InPlace, &[inst(I1)])).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    let after = std::fs::metadata(&work).unwrap();
    assert_eq!(
        before.ino(),
        after.ino(),
        "the file was replaced, not edited"
    );
    assert_eq!(after.permissions().mode() & 0o777, 0o640);
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    assert!(read(&work) == read(&out));
}

#[cfg(unix)]
#[test]
fn a_hard_linked_file_is_replaced_by_an_edited_copy_and_its_other_name_kept() {
    use std::os::unix::fs::MetadataExt;
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let work = dir.join("work.msp");
    std::fs::copy(&input, &work).unwrap();
    let other = dir.join("other.msp");
    std::fs::hard_link(&work, &other).unwrap();
    let r = retarget(&request(&work, Destination::InPlace, &[inst(I1)])).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    assert!(read(&other) == read(&input), "the other name changed");
    assert_ne!(
        std::fs::metadata(&work).unwrap().ino(),
        std::fs::metadata(&other).unwrap().ino()
    );
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    assert!(read(&work) == read(&out));
}

#[test]
fn untarget_in_place_gives_the_bytes_of_o() {
    use msp_retarget::{UntargetRequest, untarget};
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::two_baselines());
    let all = dir.join("all.msp");
    let codes = many_instances(30);
    let reqs: Vec<_> = codes.iter().map(|c| inst_of(PRODUCT_A, c)).collect();
    retarget_to(&input, &all, &reqs);
    let remove: Vec<_> = codes.iter().step_by(3).map(|c| guid(c)).collect();
    let untarget_req = |input: &std::path::Path, destination| UntargetRequest {
        input: input.to_path_buf(),
        destination,
        instances: remove.clone(),
        force: false,
    };
    let out = dir.join("out.msp");
    untarget(&untarget_req(&all, Destination::Output(out.clone()))).unwrap();
    let work = dir.join("work.msp");
    std::fs::copy(&all, &work).unwrap();
    let r = untarget(&untarget_req(&work, Destination::InPlace)).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    assert!(read(&work) == read(&out));
    assert_eq!(dir.names(), ["all.msp", "in.msp", "out.msp", "work.msp"]);
}

#[test]
fn a_journal_left_by_a_crash_is_completed_before_the_next_edit_and_blocks_readers() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    // An unfinished (torn) journal: the patch was not touched; readers go
    // on, the next edit deletes it.
    let work = dir.join("work.msp");
    std::fs::copy(&input, &work).unwrap();
    let journal = msp_retarget::testkit::journal::journal_path(&work);
    std::fs::write(&journal, b"MSPRJRNL torn").unwrap();
    msp_retarget::inspect(&work).unwrap();
    let r = retarget(&request(&work, Destination::InPlace, &[inst(I1)])).unwrap();
    assert_eq!(r.outcome, Outcome::Done);
    assert!(read(&work) == read(&out));
    assert!(!journal.exists());
    // `-o` only reads its input: it reads past a torn journal, and
    // deletes nothing beside the input.
    std::fs::write(&journal, b"MSPRJRNL torn").unwrap();
    let again = dir.join("again.msp");
    retarget_to(&work, &again, &[inst(I1)]);
    assert!(journal.exists());
}
