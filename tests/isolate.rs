//! Component isolation in `retarget`: patches that add components,
//! retargeted to products whose instances isolate components (and to
//! products whose instances do not), through the library API; each
//! retarget followed by a re-run (idempotence) and an untarget that gives
//! back every entry of the input.

use std::path::{Path, PathBuf};

use msp_retarget::testkit::components::{
    ComponentSpec, InstanceSpec, ProductSpec, SAMPLE_PRODUCT, TransformTables, new_component_patch,
    new_component_product, new_component_product_before, sample_new_component, schema,
    write_product,
};
use msp_retarget::testkit::synth::PatchSpec;
use msp_retarget::testkit::transform::edit::TransformEditor;
use msp_retarget::testkit::transform::{RowKind, Value};
use msp_retarget::{
    CodeSource, ComponentAction, ComponentIsolation, Destination, ErrorKind, InstanceRequest,
    InstanceSource, Outcome, PlanOptions, RetargetRequest, UntargetRequest, instances, retarget,
    untarget,
};

use crate::util::{Dir, Snapshot, guid};

/// The instances of the product `spec`, as `--instances-from` reads them.
fn product_instances(dir: &Dir, name: &str, spec: &ProductSpec) -> InstanceSource {
    let path = dir.write(name, &write_product(spec).unwrap());
    instances::from_product(&path).unwrap()
}

fn run(
    input: &Path,
    out: &Path,
    requests: Vec<InstanceRequest>,
    isolation: ComponentIsolation,
) -> msp_retarget::Result<msp_retarget::report::RetargetReport> {
    retarget(&RetargetRequest {
        input: input.to_path_buf(),
        destination: Destination::Output(out.to_path_buf()),
        instances: requests,
        options: PlanOptions {
            isolation,
            ..PlanOptions::default()
        },
    })
}

/// The ComponentId each Component row of the transform `storage` of `path`
/// gives, by key, with the row's kind.
fn component_ids(path: &Path, storage: &str) -> Vec<(String, RowKind, Value)> {
    let mut cf = cfb::open(path).unwrap();
    let t = TransformEditor::load(&mut cf, &Path::new("/").join(storage), &schema()).unwrap();
    t.rows("Component")
        .unwrap()
        .into_iter()
        .map(|r| {
            let key = match r.key.first() {
                Some(Value::Str(k)) => k.clone(),
                other => panic!("key {other:?}"),
            };
            (
                key,
                r.kind,
                r.get("ComponentId").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Untargets every instance of `requests` from `out` and checks that the
/// result holds exactly the entries of `input`, byte for byte.
fn untarget_round_trip(dir: &Dir, input: &Path, out: &Path, requests: &[InstanceRequest]) {
    let back = dir.join("back.msp");
    untarget(&UntargetRequest {
        input: out.to_path_buf(),
        destination: Destination::Output(back.clone()),
        instances: requests.iter().map(|r| r.instance).collect(),
        force: false,
    })
    .unwrap_or_else(|e| panic!("untarget: {e}"));
    let (mut a, mut b) = (Snapshot::of(input), Snapshot::of(&back));
    // The patch database's string pool: the MsiPatchSequence rows made for
    // the instances are removed, and the strings only they used are left
    // as free (0, 0) entries at its end, as Windows Installer writes
    // unused ids; every other byte is the input's.
    let pool = format!(
        "/{}",
        msp_retarget::testkit::streamname::encode("_StringPool", true)
    );
    let (pa, pb) = (
        a.entries.remove(&pool).unwrap(),
        b.entries.remove(&pool).unwrap(),
    );
    assert_eq!(pa.meta(), pb.meta());
    assert!(
        pb.bytes.starts_with(&pa.bytes),
        "the root string pool changed"
    );
    assert!(pb.bytes[pa.bytes.len()..].iter().all(|&x| x == 0));
    assert_eq!(a, b);
}

/// Retargets, checks the copies' Component rows against `want` (instance
/// code → the codes of the inserted components, in row order), re-runs
/// (nothing to do) and untargets back to the input.
fn round_trip(
    dir: &Dir,
    input: &Path,
    requests: Vec<InstanceRequest>,
    isolation: ComponentIsolation,
    want: &[(String, Vec<String>)],
) -> PathBuf {
    let out = dir.join("out.msp");
    let r = run(input, &out, requests.clone(), isolation.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.outcome, Outcome::Done);
    let source = component_ids(input, "rtmNC.1");
    for (code, codes) in want {
        let copy = r
            .plan
            .copies
            .iter()
            .find(|c| c.instance == guid(code) && c.source == "rtmNC.1")
            .unwrap_or_else(|| panic!("no copy for {code}"));
        let got = component_ids(&out, &copy.name);
        assert_eq!(got.len(), source.len());
        let ids: Vec<Value> = got.iter().map(|(_, _, v)| v.clone()).collect();
        let want_ids: Vec<Value> = codes.iter().map(|c| Value::Str(c.clone())).collect();
        assert_eq!(ids, want_ids, "copy {}", copy.name);
        // Same keys and kinds as the source, in the same order.
        for ((k, kind, _), (sk, skind, _)) in got.iter().zip(&source) {
            assert_eq!((k, kind), (sk, skind));
        }
    }
    let again = run(&out, &dir.join("again.msp"), requests.clone(), isolation).unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyDone);
    untarget_round_trip(dir, input, &out, &requests);
    out
}

#[test]
fn the_instance_transform_gives_each_copy_its_code() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    let spec = new_component_product();
    let source = product_instances(&dir, "product.msi", &spec);
    assert!(source.isolates_components());
    let want: Vec<(String, Vec<String>)> = spec
        .instances
        .iter()
        .map(|i| {
            let code = i.components.iter().find(|(k, _)| k == "NewComp").unwrap();
            (i.product_code.clone(), vec![code.1.clone()])
        })
        .collect();
    let out = round_trip(
        &dir,
        &input,
        source.requests(),
        ComponentIsolation::Auto,
        &want,
    );
    // The plan says where each code comes from.
    let r = run(
        &input,
        &dir.join("dry.msp"),
        source.requests(),
        ComponentIsolation::Auto,
    )
    .unwrap();
    for inst in &r.plan.instances {
        assert_eq!(inst.components.len(), 1);
        assert!(matches!(
            inst.components[0].action,
            ComponentAction::Isolated {
                source: CodeSource::InstanceTransform,
                ..
            }
        ));
    }
    // The base's own pair is untouched: its row still gives the base GUID.
    assert_eq!(
        component_ids(&out, "rtmNC.1")[0].2,
        Value::Str(sample_new_component().guid)
    );
}

#[test]
fn a_product_that_isolates_other_components_gets_multi_instance_codes() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    // Before the patch: the instance transforms isolate MainComp only.
    let spec = new_component_product_before();
    let source = product_instances(&dir, "product.msi", &spec);
    let after = new_component_product();
    let want: Vec<(String, Vec<String>)> = after
        .instances
        .iter()
        .map(|i| {
            let code = i.components.iter().find(|(k, _)| k == "NewComp").unwrap();
            (i.product_code.clone(), vec![code.1.clone()])
        })
        .collect();
    round_trip(
        &dir,
        &input,
        source.requests(),
        ComponentIsolation::Auto,
        &want,
    );
    let r = run(
        &input,
        &dir.join("x.msp"),
        source.requests(),
        ComponentIsolation::Auto,
    )
    .unwrap();
    assert!(r.plan.instances.iter().all(|i| matches!(
        i.components[0].action,
        ComponentAction::Isolated {
            source: CodeSource::MultiInstance,
            ..
        }
    )));
}

#[test]
fn without_isolation_the_rows_are_left_alone_and_the_plan_says_they_are_shared() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    let mut spec = new_component_product();
    for i in &mut spec.instances {
        i.components.clear();
    }
    let source = product_instances(&dir, "product.msi", &spec);
    assert!(!source.isolates_components());
    let base = sample_new_component().guid;
    let want: Vec<(String, Vec<String>)> = spec
        .instances
        .iter()
        .map(|i| (i.product_code.clone(), vec![base.clone()]))
        .collect();
    let out = round_trip(
        &dir,
        &input,
        source.requests(),
        ComponentIsolation::Auto,
        &want,
    );
    let r = run(
        &out,
        &dir.join("y.msp"),
        source.requests(),
        ComponentIsolation::Auto,
    )
    .unwrap();
    for inst in &r.plan.instances {
        let ComponentAction::Shared { reason } = &inst.components[0].action else {
            panic!("{:?}", inst.components);
        };
        assert!(reason.contains("shares component NewComp"), "{reason}");
    }
    // The copies' streams are their source's, byte for byte.
    let snap = Snapshot::of(&out);
    for (path, entry) in &snap.entries {
        if let Some(rest) = path.strip_prefix("/rtmNC.1_") {
            let rel = rest.split_once('/').map(|(_, r)| r);
            if let Some(rel) = rel.filter(|r| !r.contains("SummaryInformation")) {
                assert!(
                    entry.bytes == snap.get(&format!("/rtmNC.1/{rel}")).bytes,
                    "{path}"
                );
            }
        }
    }
}

/// Requests from a list file: ids and codes, nothing read from a product.
fn listed(ids: bool) -> Vec<InstanceRequest> {
    new_component_product()
        .instances
        .iter()
        .map(|i| InstanceRequest {
            id: ids.then(|| i.id.clone()),
            ..InstanceRequest::parse(&i.product_code).unwrap()
        })
        .collect()
}

#[test]
fn isolate_all_derives_codes_from_the_instance_ids_and_refuses_bare_codes() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    let want: Vec<(String, Vec<String>)> = new_component_product()
        .instances
        .iter()
        .map(|i| {
            let code = i.components.iter().find(|(k, _)| k == "NewComp").unwrap();
            (i.product_code.clone(), vec![code.1.clone()])
        })
        .collect();
    round_trip(&dir, &input, listed(true), ComponentIsolation::All, &want);
    let keys = ComponentIsolation::Keys(vec!["NewComp".into()]);
    round_trip(&dir, &input, listed(true), keys, &want);

    let e = run(
        &input,
        &dir.join("bare.msp"),
        listed(false),
        ComponentIsolation::All,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(e.to_string().contains("has no instance id"), "{e}");
    assert!(!dir.join("bare.msp").exists());
    // Auto with bare codes: nothing says the product isolates; shared.
    let r = run(
        &input,
        &dir.join("auto.msp"),
        listed(false),
        ComponentIsolation::Auto,
    )
    .unwrap();
    assert!(
        r.plan
            .instances
            .iter()
            .all(|i| i.components[0].new_code().is_none())
    );

    let e = run(
        &input,
        &dir.join("typo.msp"),
        listed(true),
        ComponentIsolation::Keys(vec!["NewCmop".into()]),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(e.to_string().contains("names NewCmop"), "{e}");
}

#[test]
fn a_copy_with_other_codes_is_refused_rather_than_doubled() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    let out = dir.join("out.msp");
    run(&input, &out, listed(true), ComponentIsolation::All).unwrap();
    let e = run(
        &out,
        &dir.join("none.msp"),
        listed(true),
        ComponentIsolation::None,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(e.to_string().contains("with other component codes"), "{e}");
}

/// A patch adding `components` (with `filler` extra pool strings and
/// Property updates `props`).
fn adding(
    components: Vec<ComponentSpec>,
    filler: usize,
    props: Vec<(String, String)>,
) -> PatchSpec {
    let mut spec = new_component_patch();
    spec.tables = Some(TransformTables {
        properties: props,
        components,
        feature: None,
        filler_strings: filler,
    });
    spec
}

fn several() -> Vec<ComponentSpec> {
    vec![
        sample_new_component(),
        ComponentSpec::new("Second", "{0A1B2C3D-4E5F-4061-8273-94A5B6C7D8E9}"),
        ComponentSpec::new("Third", "{F0E1D2C3-B4A5-4968-8776-655443322110}"),
    ]
}

/// The MultiInstance codes of `components` for the sample instances.
fn derived(components: &[ComponentSpec]) -> Vec<(String, Vec<String>)> {
    new_component_product()
        .instances
        .iter()
        .map(|i| {
            let spec = InstanceSpec::multi_instance(&i.id, &i.product_code, components);
            (
                i.product_code.clone(),
                spec.components.into_iter().map(|(_, c)| c).collect(),
            )
        })
        .collect()
}

#[test]
fn several_components_are_isolated_each() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &adding(several(), 0, Vec::new()));
    round_trip(
        &dir,
        &input,
        listed(true),
        ComponentIsolation::All,
        &derived(&several()),
    );
}

#[test]
fn three_byte_string_references() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &adding(several(), 70_000, Vec::new()));
    round_trip(
        &dir,
        &input,
        listed(true),
        ComponentIsolation::All,
        &derived(&several()),
    );
}

#[test]
fn a_pool_just_below_65535_strings_keeps_2_byte_references() {
    // 65,530 filler strings and the component's three: the pool ends at
    // id 65,533, and each copy's code takes id 65,534.
    let dir = Dir::new();
    let comps = vec![sample_new_component()];
    let input = dir.patch("in.msp", &adding(comps.clone(), 65_530, Vec::new()));
    let out = round_trip(
        &dir,
        &input,
        listed(true),
        ComponentIsolation::All,
        &derived(&comps),
    );
    let mut cf = cfb::open(&out).unwrap();
    let t = TransformEditor::load(&mut cf, Path::new("/rtmNC.1_Instance2"), &schema()).unwrap();
    assert_eq!(t.pool().len(), 65_534);
    assert!(!t.pool().long_refs());
}

#[test]
fn a_pool_at_65535_strings_is_refused_when_a_table_cannot_be_widened() {
    // 65,532 filler strings and the component's three: the pool ends at
    // id 65,535, the last a 2-byte reference holds, so each instance code
    // needs 3-byte references, and every table stream must be written
    // again with them. Only the tables holding per-instance cells are
    // decoded without the product; the Property table of filler is not,
    // so the retarget is refused, naming it, and writes nothing.
    let dir = Dir::new();
    let comps = vec![sample_new_component()];
    let input = dir.patch("in.msp", &adding(comps, 65_532, Vec::new()));
    let out = dir.join("out.msp");
    let e = run(&input, &out, listed(true), ComponentIsolation::All).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("passes 65,535 strings") && text.contains("table Property cannot be decoded"),
        "{text}"
    );
    assert!(text.contains("storage rtmNC.1"), "{text}");
    assert!(!out.exists());
}

#[test]
fn a_guid_string_shared_with_another_cell_keeps_that_cell() {
    let dir = Dir::new();
    let comps = vec![sample_new_component()];
    let props = vec![("NewCompGuid".to_string(), sample_new_component().guid)];
    let input = dir.patch("in.msp", &adding(comps.clone(), 0, props));
    let out = round_trip(
        &dir,
        &input,
        listed(true),
        ComponentIsolation::All,
        &derived(&comps),
    );
    let copy = "rtmNC.1_Instance1";
    let mut cf = cfb::open(&out).unwrap();
    let t = TransformEditor::load(&mut cf, &Path::new("/").join(copy), &schema()).unwrap();
    let props = t.rows("Property").unwrap();
    assert_eq!(
        props[0].get("Value"),
        Some(&Value::Str(sample_new_component().guid)),
        "the Property row still points at the base GUID"
    );
}

#[test]
fn the_sample_product_code_is_the_patch_target() {
    // The samples fit together: the patch targets the product the
    // instances are read from.
    assert_eq!(new_component_patch().targets, [SAMPLE_PRODUCT.to_string()]);
}

#[test]
fn check_warns_when_instances_would_share_a_new_component() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &new_component_patch());
    let shared = dir.join("shared.msp");
    let isolated = dir.join("isolated.msp");
    run(&input, &shared, listed(true), ComponentIsolation::None).unwrap();
    run(&input, &isolated, listed(true), ComponentIsolation::All).unwrap();
    let findings = |p: &Path| -> Vec<String> {
        msp_retarget::check_file(p, &[])
            .unwrap()
            .lint
            .iter()
            .filter(|f| f.code == "shared-new-component")
            .map(|f| f.message.clone())
            .collect()
    };
    let warned = findings(&shared);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("NewComp") && warned[0].contains("for 3 products"),
        "{}",
        warned[0]
    );
    assert!(findings(&isolated).is_empty());
    // The original patch serves one product: nothing to share.
    assert!(findings(&input).is_empty());
}
