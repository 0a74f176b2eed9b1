//! The owner of what a copy may differ in, on patches built by the test
//! kit whose main transform inserts a component.

use super::*;
use crate::ErrorKind;
use crate::edit::gate::check_result;
use crate::edit::plan::{Plan, PlanOptions};
use crate::edit::verify::testing::{Applied, apply_to_copy};
use crate::edit::verify::verify_file;
use crate::rules::lint::PatchView;
use crate::testkit::components::{ComponentSpec, TransformTables};
use crate::testkit::synth::PatchSpec;
use std::io::Read;

const I1: &str = "{11111111-1111-4111-8111-111111111111}";
const G: &str = "{0A0A0A0A-0000-4000-8000-00000000000A}";
const G1: &str = "{1B1B1B1B-1111-4111-8111-11111111111B}";

fn spec() -> PatchSpec {
    let mut spec = PatchSpec::single_product();
    spec.tables = Some(TransformTables::adding(
        vec![ComponentSpec::new("NewComp", G)],
        "1.0.1.0",
    ));
    spec
}

fn i1() -> Guid {
    Guid::parse_braced(I1).unwrap()
}

/// Retargets the spec's patch to I1 with `rows` declared on the copy of
/// the main transform, applied as `retarget -o` applies.
fn retarget_declaring(rows: Vec<Change>) -> Applied {
    apply_to_copy(&spec(), &[I1], &PlanOptions::default(), |plan| {
        for c in &mut plan.copies {
            if !c.source.starts_with('#') {
                c.rows = rows.clone();
            }
        }
    })
}

fn verify(a: &mut Applied) -> Result<crate::edit::verify::Verification> {
    verify_file(&mut a.patch, &a.plan, &a.output, Some(&a.written), false)
}

fn main_copy(plan: &Plan) -> &CopyPlan {
    plan.copies
        .iter()
        .find(|c| !c.source.starts_with('#'))
        .unwrap()
}

/// The source pair and the copy made for I1, read back from the result.
fn pairs_of(a: &Applied) -> (Pair, Pair) {
    let out = Patch::open(&a.output).unwrap();
    let name = &main_copy(&a.plan).name;
    let copy = out.pairs.iter().find(|p| &p.main.name == name).unwrap();
    (out.pairs[0].clone(), copy.clone())
}

#[test]
fn reading_decodes_the_component_rows_of_a_transform() {
    let a = retarget_declaring(Vec::new());
    let (source, _) = pairs_of(&a);
    let tables = &source.main.content.tables;
    assert_eq!(tables.len(), 1, "{tables:?}");
    let (name, rows) = &tables[0];
    assert_eq!(name, "Component");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("ComponentId"), Some(&Value::Str(G.into())));
    // The stand-in streams of a partner decode to nothing.
    assert!(source.partner.unwrap().content.tables.is_empty());
}

#[test]
fn a_plain_copy_is_recognised_with_no_row_changes() {
    let mut a = retarget_declaring(Vec::new());
    verify(&mut a).unwrap();
    let (source, copy) = pairs_of(&a);
    let found = copy_of(&source, &copy, i1(), None).unwrap();
    assert!(found.matches(&[], &[]), "{found:?}");
    // Made for I1, not for another instance.
    let other = Guid::parse_braced("{22222222-2222-4222-8222-222222222222}").unwrap();
    assert!(copy_of(&source, &copy, other, None).is_none());
}

#[test]
fn a_copy_whose_component_row_differs_as_declared_is_accepted_and_recognised() {
    let declared = vec![component_id(RowKind::Insert, "NewComp", G, G1)];
    let mut a = retarget_declaring(declared.clone());
    let v = verify(&mut a).unwrap();
    assert!(v.added_entries > 0);

    // The written copy holds the new code, decoded row by row.
    let (source, copy) = pairs_of(&a);
    let rows = &copy.main.content.tables[0].1;
    assert_eq!(rows[0].get("ComponentId"), Some(&Value::Str(G1.into())));
    assert_ne!(copy.main.content.digest, source.main.content.digest);

    // Recognised as a copy for I1, carrying exactly the declared change.
    let found = copy_of(&source, &copy, i1(), None).unwrap();
    assert!(found.matches(&declared, &[]), "{found:?}");
    assert!(!found.matches(&[], &[]));

    // untarget sees a copy, not an original target: no --force needed.
    let out = Patch::open(&a.output).unwrap();
    let (removed, _) = crate::commands::untarget::plan_untarget(&out, &[i1()], false).unwrap();
    assert!(!removed[0].original_target);
    assert_eq!(
        crate::edit::plan::derived_from(&out, i1()),
        Some(source.base())
    );
}

#[test]
fn declared_rows_survive_the_plan_as_json() {
    let declared = vec![component_id(RowKind::Insert, "NewComp", G, G1)];
    let a = retarget_declaring(declared.clone());
    let json = serde_json::to_string(&a.plan).unwrap();
    assert!(json.contains("\"rows\""), "{json}");
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a.plan);
    // A copy without rows keeps the plan's JSON as it was.
    let plain = retarget_declaring(Vec::new());
    let json = serde_json::to_string(&plain.plan).unwrap();
    assert!(!json.contains("\"rows\""), "{json}");
}

#[test]
fn a_copy_differing_from_what_the_plan_declares_is_refused_by_verification() {
    // Written with a changed ComponentId, checked against a plan that
    // declares nothing: the table stream is not its source's.
    let mut a = retarget_declaring(vec![component_id(RowKind::Insert, "NewComp", G, G1)]);
    for c in &mut a.plan.copies {
        c.rows.clear();
    }
    let e = verify(&mut a).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Verify, "{e}");

    // Checked against a plan declaring another code: not what it gives.
    let mut a = retarget_declaring(vec![component_id(RowKind::Insert, "NewComp", G, G1)]);
    let g2 = "{2C2C2C2C-2222-4222-8222-22222222222C}";
    for c in &mut a.plan.copies {
        if !c.source.starts_with('#') {
            c.rows = vec![component_id(RowKind::Insert, "NewComp", G, g2)];
        }
    }
    let e = verify(&mut a).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Verify, "{e}");
    assert!(
        e.to_string()
            .contains("not what its declared row changes give"),
        "{e}"
    );
}

#[test]
fn declarations_outside_the_rule_are_refused_before_anything_is_written() {
    let key = vec![Value::Str("NewComp".into())];
    let cell = |column: &str, old: Option<Value>| Change::Cell {
        table: "Component".into(),
        key: key.clone(),
        row: RowKind::Insert,
        column: column.into(),
        old,
        new: Value::Str("x".into()),
    };
    let e =
        check_declared(&[cell("KeyPath", Some(Value::Str("NewComp.file".into())))]).unwrap_err();
    assert!(e.to_string().contains("Component.ComponentId"), "{e}");
    assert!(check_declared(&[cell("ComponentId", None)]).is_err());
    let twice = component_id(RowKind::Insert, "NewComp", G, G1);
    assert!(check_declared(&[twice.clone(), twice]).is_err());
    let added = Change::RowAdded {
        table: "Component".into(),
        key,
        row: RowKind::Insert,
        columns: Vec::new(),
    };
    assert!(check_declared(&[added]).is_err());

    // A declaration that does not match the source (another old value)
    // is refused when the bytes are made.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.msp");
    crate::testkit::synth::write_patch_file(&spec(), &path).unwrap();
    let mut patch = Patch::open(&path).unwrap();
    let copy = CopyPlan {
        instance: i1(),
        source: "rtmA.1".into(),
        name: "rtmA.1.x".into(),
        revision_before: patch.pairs[0].main.revision.raw.clone(),
        revision_after: patch.pairs[0].main.revision.raw.clone(),
        rows: vec![component_id(RowKind::Insert, "NewComp", G1, G)],
    };
    let e = Sources::default()
        .streams_after(&mut patch.cf, &copy)
        .unwrap_err();
    assert!(e.to_string().contains("do not match its source"), "{e}");
}

/// Writes into `a.output`, beside the planned copy, nothing new, but
/// rewrites the copy's Component stream with `edit` (as a faulty writer or
/// another tool would), leaving the plan as it is.
fn tamper_copy_rows(a: &Applied, edit: impl FnOnce(&mut TransformEditor)) {
    let name = main_copy(&a.plan).name.clone();
    let dir = Path::new("/").join(&name);
    let mut cf = cfb::open_rw(&a.output).unwrap();
    let mut editor = load_editor(&mut cf, &dir).unwrap();
    edit(&mut editor);
    let out = editor.finish().unwrap();
    for (stream, bytes) in out.streams() {
        let mut s = cf.create_stream(dir.join(stream)).unwrap();
        std::io::Write::write_all(&mut s, bytes).unwrap();
    }
    cf.flush().unwrap();
}

#[test]
fn a_copy_whose_rows_differ_undeclared_is_no_copy_and_is_refused() {
    let mut a = retarget_declaring(Vec::new());
    let key = [Value::Str("NewComp".into())];
    tamper_copy_rows(&a, |e| {
        e.set_cell(
            "Component",
            &key,
            "KeyPath",
            &Value::Str("Other.file".into()),
        )
        .unwrap();
    });
    // Not recognised as a copy: KeyPath is not a per-instance cell.
    let (source, copy) = pairs_of(&a);
    assert!(copy_of(&source, &copy, i1(), None).is_none());
    // Refused by verification (written bytes are checked with no layout
    // shortcut).
    let e = verify_file(&mut a.patch, &a.plan, &a.output, None, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Verify, "{e}");
    // And by the check of the result: the copy that applies for I1 is not
    // a copy of the pair that applies to its base.
    let out = Patch::open(&a.output).unwrap();
    let e = check_result(&a.patch, &PatchView::from(out), &a.plan, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("would apply instead of"), "{e}");
}

#[test]
fn a_per_instance_cell_changed_without_a_declaration_is_refused_by_the_gate() {
    // A ComponentId changed where the plan declares nothing: recognised as
    // a copy (with that change), but not the one the plan made.
    let a = retarget_declaring(Vec::new());
    let key = [Value::Str("NewComp".into())];
    tamper_copy_rows(&a, |e| {
        e.set_cell("Component", &key, "ComponentId", &Value::Str(G1.into()))
            .unwrap();
    });
    let (source, copy) = pairs_of(&a);
    let found = copy_of(&source, &copy, i1(), None).unwrap();
    assert!(!found.matches(&[], &[]));
    let out = Patch::open(&a.output).unwrap();
    let e = check_result(&a.patch, &PatchView::from(out), &a.plan, false).unwrap_err();
    assert!(e.to_string().contains("would apply instead of"), "{e}");
}

#[test]
fn content_differing_in_bytes_but_in_no_row_is_no_copy() {
    let a = retarget_declaring(Vec::new());
    let (source, mut copy) = pairs_of(&a);
    copy.main.content.digest ^= 1;
    if let Some(s) = copy.main.content.streams.first_mut() {
        s.digest ^= 1;
    }
    assert!(copy_of(&source, &copy, i1(), None).is_none());
}

/// Flips one byte of a stream of copy `name` in `a.output` that is
/// neither its summary information nor declared (same length, so only a
/// byte comparison can tell); returns the stream's path.
fn flip_a_byte_of_copy(a: &Applied, name: &str) -> PathBuf {
    let mut cf = cfb::open_rw(&a.output).unwrap();
    let dir = Path::new("/").join(name);
    let path = cf
        .walk_storage(&dir)
        .unwrap()
        .filter(|e| e.is_stream() && e.name() != SUMMARY_STREAM && !e.is_empty())
        .map(|e| e.path().to_path_buf())
        .next()
        .unwrap();
    let mut bytes = Vec::new();
    cf.open_stream(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes[0] ^= 0x20;
    let mut s = cf.create_stream(&path).unwrap();
    std::io::Write::write_all(&mut s, &bytes).unwrap();
    drop(s);
    cf.flush().unwrap();
    path
}

/// Verifies every copy of `a` with `sources`, as verification does.
fn verify_copies(a: &mut Applied, sources: &mut Sources) -> Result<CopyTally> {
    let mut out = Patch::open(&a.output).unwrap();
    let mut tally = CopyTally::default();
    for copy in &a.plan.copies {
        let t = verify_copy(&mut a.patch, &mut out, copy, sources)?;
        tally.entries += t.entries;
        tally.bytes_compared += t.bytes_compared;
    }
    Ok(tally)
}

#[test]
fn a_changed_byte_in_a_later_copy_is_caught_with_the_source_read_once_or_read_again() {
    const I2: &str = "{22222222-2222-4222-8222-222222222222}";
    const I3: &str = "{33333333-3333-4333-8333-333333333333}";
    for limit in [SOURCE_BYTES_LIMIT, 0] {
        let mut a = apply_to_copy(&spec(), &[I1, I2, I3], &PlanOptions::default(), |_| {});
        // Intact, every copy verifies, and as much is compared whether
        // the sources' bytes are held or read again for each copy.
        let mut sources = Sources::with_limit(limit);
        let intact = verify_copies(&mut a, &mut sources).unwrap();
        assert_eq!(
            intact,
            verify_copies(&mut a, &mut Sources::with_limit(0)).unwrap()
        );
        assert!(intact.bytes_compared > 0);
        // The last copy of the main transform: its source was read for
        // the copies before it.
        let last = a
            .plan
            .copies
            .iter()
            .rev()
            .find(|c| !c.source.starts_with('#'))
            .unwrap()
            .name
            .clone();
        let path = flip_a_byte_of_copy(&a, &last);
        let e = verify_copies(&mut a, &mut Sources::with_limit(limit)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Verify, "{e}");
        let shown = container::stream_part(&path);
        assert!(
            e.to_string()
                .contains(&format!("{shown} differs from the input's")),
            "{limit}: {e}"
        );
        assert_eq!(verify(&mut a).unwrap_err().kind(), ErrorKind::Verify);
    }
}
