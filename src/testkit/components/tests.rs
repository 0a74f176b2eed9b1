use super::*;
use crate::format::streamname;
use crate::format::transform::RowKind;

/// The transform `streams` describe, decoded against the standard schema.
fn decode(streams: &[(String, Vec<u8>)]) -> TransformEditor {
    let get = |name: &str| {
        streams
            .iter()
            .find(|(n, _)| *n == streamname::encode(name, true))
            .map(|(_, b)| b.clone())
            .unwrap()
    };
    let tables = streams
        .iter()
        .map(|(n, b)| (streamname::decode(n).name, b.clone()))
        .filter(|(n, _)| !n.starts_with("_String"))
        .collect::<Vec<_>>();
    TransformEditor::from_streams(&get("_StringPool"), &get("_StringData"), tables, &schema())
        .unwrap()
}

#[test]
fn a_patch_transform_inserts_its_components() {
    let comps = vec![
        sample_new_component(),
        ComponentSpec::new("Other", "{11111111-2222-4333-8444-555555555555}"),
    ];
    let t = decode(&transform_streams(&TransformTables::adding(comps.clone(), "1.0.1.0")).unwrap());
    let rows = t.rows(COMPONENT).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, c) in rows.iter().zip(&comps) {
        assert_eq!(row.kind, RowKind::Insert);
        assert_eq!(row.key, [Value::Str(c.key.clone())]);
        assert_eq!(row.get("ComponentId"), Some(&Value::Str(c.guid.clone())));
        assert_eq!(row.get("Attributes"), Some(&Value::Int(0)));
    }
    let props = t.rows(PROPERTY).unwrap();
    assert_eq!(props[0].kind, RowKind::Update);
    assert_eq!(props[0].get("Value"), Some(&Value::Str("1.0.1.0".into())));
    assert!(!t.pool().long_refs());
}

#[test]
fn filler_strings_fill_the_pool_to_the_count_asked() {
    // 65,530 filler strings, ProductVersion and its value, and the
    // component's three strings (key, GUID, directory): 65,535 ids, the
    // most 2-byte references hold.
    let near = TransformTables {
        filler_strings: 65_530,
        ..TransformTables::adding(vec![sample_new_component()], "1.0.1.0")
    };
    let t = decode(&transform_streams(&near).unwrap());
    assert_eq!(t.pool().len(), 65_535);
    assert!(!t.pool().long_refs());
    let past = TransformTables {
        filler_strings: 70_000,
        ..near
    };
    let t = decode(&transform_streams(&past).unwrap());
    assert!(t.pool().long_refs());
    assert_eq!(
        t.rows(COMPONENT).unwrap()[0].get("ComponentId"),
        Some(&Value::Str(sample_new_component().guid))
    );
}

#[test]
fn the_product_has_its_instances_and_their_component_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.msi");
    let spec = new_component_product();
    std::fs::write(&path, write_product(&spec).unwrap()).unwrap();
    let src = crate::product::instances::from_product(&path).unwrap();
    assert_eq!(src.base.braced(), SAMPLE_PRODUCT);
    let ids: Vec<_> = src
        .instances
        .iter()
        .map(|i| i.id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["Instance1", "Instance2"]);
    assert_eq!(
        src.instances[1].product_code.braced(),
        SAMPLE_INSTANCES[1].1
    );
    // The instance transform holds the MultiInstance code of each component.
    let mut cf = cfb::CompoundFile::open(std::fs::File::open(&path).unwrap()).unwrap();
    let t = TransformEditor::load(&mut cf, Path::new("/Instance2"), &schema()).unwrap();
    let rows = t.rows(COMPONENT).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].kind, RowKind::Update);
    assert_eq!(rows[1].key, [Value::Str("NewComp".into())]);
    let want = multi_instance_component_code(&sample_new_component().guid, "Instance2");
    assert_eq!(rows[1].get("ComponentId"), Some(&Value::Str(want.braced())));
    assert_eq!(instance_code(&spec.instances[1], "NewComp"), Some(want));
    // The database itself is what the msi crate reads.
    let mut package = msi::Package::open(std::fs::File::open(&path).unwrap()).unwrap();
    let keys: Vec<String> = package
        .select_rows(msi::Select::table(COMPONENT))
        .unwrap()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["MainComp", "NewComp"]);
}

#[test]
fn the_sample_patch_reads_as_a_patch_adding_new_comp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.msp");
    crate::testkit::synth::write_patch_file(&new_component_patch(), &path).unwrap();
    let mut patch = crate::patch::Patch::open(&path).unwrap();
    assert_eq!(patch.pairs.len(), 1);
    let t = TransformEditor::load(&mut patch.cf, Path::new("/rtmNC.1"), &schema()).unwrap();
    let rows = t.rows(COMPONENT).unwrap();
    assert_eq!(rows[0].key, [Value::Str("NewComp".into())]);
    let partner = TransformEditor::load(&mut patch.cf, Path::new("/#rtmNC.1"), &schema()).unwrap();
    assert!(partner.rows(COMPONENT).unwrap().is_empty());
}

#[test]
fn committed_new_component_samples_match_a_fresh_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let stale = "stale: run `cargo run --example make_new_component_samples`";
    let read = |name: &str| {
        std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}; {stale}"))
    };
    let fresh = tempfile::tempdir().unwrap();
    write_samples(fresh.path()).unwrap();
    for name in ["new-component.msp", "new-component-product.msi"] {
        assert!(
            std::fs::read(fresh.path().join(name)).unwrap() == read(name),
            "testdata/{name} is {stale}"
        );
    }
}

#[test]
fn a_product_whose_transforms_set_no_component_id_does_not_isolate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.msi");
    let mut spec = new_component_product();
    for i in &mut spec.instances {
        i.components.clear();
    }
    std::fs::write(&path, write_product(&spec).unwrap()).unwrap();
    let src = crate::product::instances::from_product(&path).unwrap();
    assert_eq!(src.instances.len(), 2);
    assert!(!src.isolates_components());
    assert!(src.instances.iter().all(|i| i.component_codes.is_empty()));
}
