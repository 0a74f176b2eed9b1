//! The JSON schema of `--json`, pinned by mirror structs.
//!
//! Every document is deserialized into a mirror marked
//! `deny_unknown_fields` (so an added or renamed field fails) and then
//! serialized back and compared with the document as parsed (so a removed
//! field, even an optional one, fails too). The mirrors follow the
//! reports in `src/report/`, the plan in `src/edit/plan.rs` and the
//! verification in `src/edit/verify.rs`; a change there must change them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use msp_retarget::report::recover::Recovery;
use msp_retarget::testkit::synth::PatchSpec;

use crate::msptest;
use crate::util::{I1, I2, PRODUCT_A, PRODUCT_B, Run};

//===========================================================================//
// Mirrors

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RetargetDoc {
    schema_version: u32,
    command: String,
    input: String,
    output: Option<String>,
    outcome: String,
    patch_code: String,
    targets_before: Vec<String>,
    plan: PlanDoc,
    verification: Option<VerificationDoc>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlanDoc {
    patch_code: String,
    template_before: Vec<String>,
    template_after: Vec<String>,
    last_saved_by_before: Vec<String>,
    last_saved_by_after: Vec<String>,
    instances: Vec<InstanceDoc>,
    copies: Vec<CopyDoc>,
    removed_streams: Vec<String>,
    /// Only written when not empty (an untarget's removals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed_storages: Vec<String>,
    /// MsiPatchSequence rows mirrored for instances; only written when not
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sequence_rows_added: Vec<SequenceRowDoc>,
    /// MsiPatchSequence rows an untarget removes; only written when not
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sequence_rows_removed: Vec<SequenceRowDoc>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SequenceRowDoc {
    instance: String,
    family: String,
    product_code: String,
    sequence: String,
    attributes: Option<i32>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InstanceDoc {
    instance: String,
    id: Option<String>,
    /// Only written when the request gives one (library only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upgrade_code: Option<String>,
    base: String,
    status: String,
    template_added: bool,
    pairs: Vec<DecisionDoc>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum DecisionDoc {
    Copy {
        source: String,
        name: String,
        partner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    NotNeeded {
        source: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    AlreadyPresent {
        source: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CopyDoc {
    instance: String,
    source: String,
    name: String,
    revision_before: String,
    revision_after: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct VerificationDoc {
    unchanged_entries: u64,
    added_entries: u64,
    bytes_compared: u64,
    bytes_vouched_by_layout: u64,
    checked: ResultCheckDoc,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ResultCheckDoc {
    products_checked: u64,
    new_findings: Vec<FindingDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FindingDoc {
    severity: String,
    code: String,
    subject: Option<String>,
    message: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ErrorDoc {
    schema_version: u32,
    command: String,
    outcome: String,
    error: ErrorInfoDoc,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ErrorInfoDoc {
    kind: String,
    file: Option<String>,
    part: Option<String>,
    reason: String,
    message: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InspectDoc {
    schema_version: u32,
    command: String,
    file: String,
    kind: String,
    clsid: String,
    summary: Vec<SummaryPropertyDoc>,
    patch: Option<PatchDetailsDoc>,
    transform: Option<TransformDoc>,
    storages: Vec<StorageDoc>,
    /// Only written for a database with a Property table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    product: Option<ProductPropertiesDoc>,
    tables: Vec<TableDoc>,
    streams: Vec<StreamDoc>,
    /// Only written for a signed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignatureDoc>,
    problems: Vec<String>,
}

/// Mirrors `msp_retarget::ProductProperties`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ProductPropertiesDoc {
    product_code: Option<String>,
    product_version: Option<String>,
    upgrade_code: Option<String>,
    product_language: Option<String>,
    product_name: Option<String>,
}

/// Mirrors `msp_retarget::testkit::signature::SignatureReport`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SignatureDoc {
    verdict: String,
    reason: Option<String>,
    digest_algorithm: String,
    signed_digest: String,
    computed_digest: String,
    msi_digital_signature_ex: bool,
    signer: SignerDoc,
    signing_time: Option<String>,
    countersignature_time: Option<String>,
    nested_signatures: usize,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SignerDoc {
    subject: Option<String>,
    issuer: Option<String>,
    serial: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SummaryPropertyDoc {
    id: u32,
    name: String,
    value: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PatchDetailsDoc {
    codes: Option<PatchCodesDoc>,
    targets: Vec<String>,
    pairs: Vec<PairDoc>,
    signed: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PatchCodesDoc {
    patch_code: String,
    obsoletes: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PairDoc {
    main: TransformDoc,
    partner: Option<TransformDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TransformDoc {
    name: String,
    revision: RevisionDoc,
    char_count: Option<String>,
    validation: Vec<String>,
    errors: Vec<String>,
    template: Option<String>,
    transform_clsid: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RevisionDoc {
    from: CodeVersionDoc,
    to: CodeVersionDoc,
    upgrade_code: Option<String>,
    raw: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CodeVersionDoc {
    code: String,
    version: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StorageDoc {
    name: String,
    transform: Option<TransformDoc>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TableDoc {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StreamDoc {
    name: String,
    table: bool,
    size: u64,
}

/// Mirrors `msp_retarget::report::recover::RecoverReport`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RecoverDoc {
    schema_version: u32,
    command: String,
    files: Vec<RecoveredDoc>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RecoveredDoc {
    file: String,
    recovery: RecoveryDoc,
}

/// Mirrors `Recovery`: every value it can take.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum RecoveryDoc {
    Nothing,
    Completed,
    Discarded,
}

/// Mirrors `msp_retarget::report::instances::InstancesReport`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InstancesDoc {
    schema_version: u32,
    command: String,
    input: String,
    output: Option<String>,
    outcome: String,
    plan: InstancesPlanDoc,
    verification: Option<InstancesVerificationDoc>,
    mst_files: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InstancesPlanDoc {
    base_product_code: String,
    base_product_name: Option<String>,
    added: Vec<AddedInstanceDoc>,
    removed: Vec<RemovedInstanceDoc>,
    removed_streams: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AddedInstanceDoc {
    id: String,
    product_code: String,
    derived: bool,
    product_name: Option<String>,
    upgrade_code: Option<String>,
    components: Vec<IsolatedComponentDoc>,
    revision_number: String,
    changes: Vec<ChangeDoc>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct IsolatedComponentDoc {
    component: String,
    from: String,
    to: String,
}

/// A row of an instance transform (the only kind of change it holds).
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
enum ChangeDoc {
    RowAdded {
        table: String,
        key: Vec<ValueDoc>,
        row: String,
        columns: Vec<(String, ValueDoc)>,
    },
}

/// A table value: `{"str": "..."}`, `{"int": 1}`, `"null"`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum ValueDoc {
    Null,
    Int(i32),
    Str(String),
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RemovedInstanceDoc {
    id: String,
    product_code: String,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InstancesVerificationDoc {
    entries_unchanged: u64,
    transforms_checked: u64,
}

//===========================================================================//
// Reading documents

/// Parses one JSON document into its mirror, checking that the mirror
/// holds every field the document has and nothing more, and that the
/// envelope's two fields come first.
fn document<T: DeserializeOwned + Serialize>(text: &str, command: &str) -> T {
    let head = format!("{{\n  \"schema_version\": 3,\n  \"command\": \"{command}\",\n");
    assert!(text.starts_with(&head), "envelope of:\n{text}");
    let value: serde_json::Value = serde_json::from_str(text).expect("one JSON document");
    let doc: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("schema drift: {e}\n{text}"));
    let back = serde_json::to_value(&doc).unwrap();
    assert!(
        back == value,
        "fields missing from the document:\n~~~ mirror\n{}\n~~~ document\n{text}\n~~~",
        serde_json::to_string_pretty(&back).unwrap()
    );
    doc
}

fn retarget_doc(r: &Run) -> RetargetDoc {
    let doc: RetargetDoc = document(&r.stdout, "retarget");
    assert_eq!(doc.schema_version, 3);
    doc
}

fn error_doc(r: &Run, command: &str) -> ErrorDoc {
    let doc: ErrorDoc = document(&r.stdout, command);
    // The same message goes to stderr.
    assert_eq!(r.stderr, format!("msp-retarget: {}\n", doc.error.message));
    doc
}

//===========================================================================//
// retarget --json

msptest!(json_of_a_retarget, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let r = run(&[
        "retarget", "in.msp", "-i", I1, "-i", I2, "-o", "out.msp", "--json",
    ]);
    r.code(0);
    let doc = retarget_doc(&r);
    assert_eq!(doc.command, "retarget");
    assert_eq!(doc.input, "in.msp");
    assert_eq!(doc.output.as_deref(), Some("out.msp"));
    assert_eq!(doc.outcome, "done");
    assert_eq!(doc.patch_code, "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A01}");
    assert_eq!(doc.targets_before, [PRODUCT_A]);
    let plan = &doc.plan;
    assert_eq!(plan.patch_code, doc.patch_code);
    assert_eq!(plan.template_after, [PRODUCT_A, I1, I2]);
    assert_eq!(plan.instances.len(), 2);
    let first = &plan.instances[0];
    assert_eq!(
        (
            first.instance.as_str(),
            first.base.as_str(),
            first.status.as_str()
        ),
        (I1, PRODUCT_A, "retarget")
    );
    assert!(first.template_added);
    assert_eq!(first.id, None);
    assert_eq!(
        first.pairs,
        [DecisionDoc::Copy {
            source: "rtmA.1".into(),
            name: "rtmA.1_11111111".into(),
            partner: Some("#rtmA.1_11111111".into()),
            note: None,
        }]
    );
    let names: Vec<&str> = plan.copies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rtmA.1_11111111",
            "#rtmA.1_11111111",
            "rtmA.1_22222222",
            "#rtmA.1_22222222"
        ]
    );
    assert_eq!(plan.copies[1].source, "#rtmA.1");
    assert_eq!(plan.copies[1].instance, I1);
    assert!(plan.removed_streams.is_empty());
    let v = doc.verification.expect("a verification");
    // Each copied storage: itself, its summary and three table streams.
    assert_eq!(v.added_entries, 4 * 5);
    assert!(v.unchanged_entries > 0 && v.bytes_compared > 64 * 1024);
    // The 64 KiB cabinet is small enough to be compared, not vouched for.
    assert_eq!(v.bytes_vouched_by_layout, 0);
    // Two instances and the one original target, each at its pair's version.
    assert_eq!(v.checked.products_checked, 3);
    assert!(
        v.checked.new_findings.is_empty(),
        "{:?}",
        v.checked.new_findings
    );
});

msptest!(json_of_a_dry_run_is_the_plan_of_the_real_run, |dir, run| {
    dir.patch("ab.msp", &PatchSpec::two_products());
    let a = format!("{PRODUCT_A}={I1}");
    let b = format!("{PRODUCT_B}={I2}");
    let r = run(&[
        "retarget",
        "ab.msp",
        "-i",
        &a,
        "-i",
        &b,
        "--dry-run",
        "--json",
    ]);
    r.code(0);
    let dry = retarget_doc(&r);
    assert_eq!(dry.outcome, "planned");
    assert_eq!(dry.output, None);
    assert!(dry.verification.is_none());
    assert_eq!(dir.names(), ["ab.msp"]);

    let r = run(&[
        "retarget", "ab.msp", "-i", &a, "-i", &b, "-o", "o.msp", "--json",
    ]);
    let real = retarget_doc(&r);
    assert_eq!(dry.plan, real.plan);
});

msptest!(json_of_already_done_and_not_needed, |dir, run| {
    let mut spec = PatchSpec::two_baselines();
    spec.pairs[1].char_count = 0x0920_001F;
    dir.patch("in.msp", &spec);
    run(&["retarget", "in.msp", "-i", I1, "-o", "out.msp"]).code(0);
    let r = run(&["retarget", "out.msp", "-i", I1, "--in-place", "--json"]);
    r.code(0);
    let doc = retarget_doc(&r);
    assert_eq!(doc.outcome, "already_done");
    assert_eq!(doc.output, None);
    assert!(doc.verification.is_none());
    assert!(doc.plan.copies.is_empty());
    let inst = &doc.plan.instances[0];
    assert_eq!(inst.status, "already_done");
    assert!(!inst.template_added);
    assert_eq!(
        inst.pairs[0],
        DecisionDoc::AlreadyPresent {
            source: "rtm.1".into(),
            name: "rtm.1_11111111".into(),
            note: None,
        }
    );
    assert!(
        matches!(&inst.pairs[1], DecisionDoc::NotNeeded { source, reason, note: None }
            if source == "ldr.1" && reason.contains("(CharCount 0x0920001f)")),
        "{:?}",
        inst.pairs[1]
    );
});

msptest!(json_of_a_stripped_signature, |dir, run| {
    let spec = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    dir.patch("in.msp", &spec);
    let r = run(&[
        "retarget",
        "in.msp",
        "-i",
        I1,
        "--strip-signature",
        "--dry-run",
        "--json",
    ]);
    r.code(0);
    let doc = retarget_doc(&r);
    assert_eq!(doc.plan.removed_streams, ["\u{5}DigitalSignature"]);
});

msptest!(json_of_a_signed_patch, |dir, run| {
    let spec = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    dir.patch("in.msp", &spec);
    let r = run(&["inspect", "in.msp", "--json"]);
    r.code(0);
    let doc: InspectDoc = document(&r.stdout, "inspect");
    assert!(doc.patch.as_ref().unwrap().signed);
    let sig = doc.signature.expect("the signature");
    assert_eq!(sig.verdict, "valid");
    assert_eq!(sig.reason, None);
    assert_eq!(sig.digest_algorithm, "sha256");
    assert_eq!(sig.signed_digest.len(), 64);
    assert_eq!(sig.signed_digest, sig.computed_digest);
    assert!(!sig.msi_digital_signature_ex);
    assert_eq!(
        sig.signer.issuer.as_deref(),
        Some("CN=Fixture Signer,O=Example")
    );
    assert_eq!(sig.signer.serial.as_deref(), Some("01234567"));
    assert_eq!(sig.signing_time.as_deref(), Some("2024-01-01 00:00:00 UTC"));
    assert_eq!(sig.countersignature_time, None);

    // Unsigned: no signature member at all.
    dir.patch("plain.msp", &PatchSpec::single_product());
    let r = run(&["inspect", "plain.msp", "--json"]);
    r.code(0);
    assert!(!r.stdout.contains("\"signature\""), "{}", r.stdout);
});

msptest!(json_of_a_refusal, |dir, run| {
    dir.patch("ab.msp", &PatchSpec::two_products());
    let r = run(&["retarget", "ab.msp", "-i", I1, "-o", "out.msp", "--json"]);
    r.code(1);
    let doc = error_doc(&r, "retarget");
    assert_eq!(doc.outcome, "refused");
    assert_eq!(doc.error.kind, "refused");
    assert_eq!(doc.error.file.as_deref(), Some("ab.msp"));
    assert_eq!(doc.error.part, None);
    assert_eq!(
        doc.error.reason,
        format!(
            "the patch targets 2 products ({PRODUCT_A}, {PRODUCT_B}); name the base of \
             instance {I1} as --instance BASE={I1}"
        )
    );
    assert_eq!(doc.error.message, format!("ab.msp: {}", doc.error.reason));
    assert_eq!(dir.names(), ["ab.msp"]);
});

msptest!(json_of_errors, |dir, run| {
    // With a file and a part.
    let spec = PatchSpec {
        extra_last_saved_by: Some(":#rtmA.1".into()),
        ..PatchSpec::single_product()
    };
    dir.patch("bad.msp", &spec);
    let r = run(&["retarget", "bad.msp", "-i", I1, "-o", "out.msp", "--json"]);
    r.code(2);
    let doc = error_doc(&r, "retarget");
    assert_eq!(doc.outcome, "error");
    assert_eq!(doc.error.kind, "format");
    assert_eq!(doc.error.file.as_deref(), Some("bad.msp"));
    let part = "stream \\005SummaryInformation, property 8 (LastSavedBy)";
    assert_eq!(doc.error.part.as_deref(), Some(part));
    assert_eq!(
        doc.error.message,
        format!("bad.msp: {part}: {}", doc.error.reason)
    );

    // Without a file: a bad argument.
    let r = run(&["retarget", "bad.msp", "-i", "zz", "--dry-run", "--json"]);
    r.code(2);
    let doc = error_doc(&r, "retarget");
    assert_eq!(doc.error.kind, "usage");
    assert_eq!(doc.error.file, None);
    assert_eq!(doc.error.part.as_deref(), Some("--instance"));
    assert_eq!(
        doc.error.message,
        format!("--instance: {}", doc.error.reason)
    );

    // From inspect.
    dir.write("empty.msp", b"");
    let r = run(&["inspect", "empty.msp", "--json"]);
    r.code(2);
    let doc = error_doc(&r, "inspect");
    assert_eq!(doc.error.kind, "format");
    assert_eq!(doc.error.file.as_deref(), Some("empty.msp"));
    assert!(doc.error.reason.ends_with("the file is empty"));
});

//===========================================================================//
// inspect --json

msptest!(json_of_inspect_on_a_patch, |dir, run| {
    dir.patch("ab.msp", &PatchSpec::two_products());
    let r = run(&["inspect", "ab.msp", "--json"]);
    r.code(0);
    let doc: InspectDoc = document(&r.stdout, "inspect");
    assert_eq!(doc.file, "ab.msp");
    assert_eq!(doc.kind, "patch");
    assert_eq!(doc.clsid, "{000C1086-0000-0000-C000-000000000046}");
    let ids: Vec<u32> = doc.summary.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 19]);
    let template = doc.summary.iter().find(|p| p.id == 7).unwrap();
    assert_eq!(template.name, "Template");
    assert_eq!(template.value, format!("{PRODUCT_A};{PRODUCT_B}"));

    let patch = doc.patch.expect("patch details");
    assert_eq!(
        patch.codes.as_ref().unwrap().patch_code,
        "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A02}"
    );
    assert!(patch.codes.unwrap().obsoletes.is_empty());
    assert_eq!(patch.targets, [PRODUCT_A, PRODUCT_B]);
    assert!(!patch.signed);
    let mains: Vec<&str> = patch.pairs.iter().map(|p| p.main.name.as_str()).collect();
    assert_eq!(mains, ["rtmA.1", "rtmB.1"]);
    let b = &patch.pairs[1];
    assert_eq!(b.partner.as_ref().unwrap().name, "#rtmB.1");
    assert_eq!(b.main.revision.from.code, PRODUCT_B);
    assert_eq!(b.main.revision.from.version, "1.0.0.0");
    assert_eq!(b.main.revision.to.version, "1.0.1.0");
    assert_eq!(
        b.main.revision.upgrade_code.as_deref(),
        Some("{D7F1A3B4-2C8E-49D5-A6B0-E1F2A3B4C544}")
    );
    assert_eq!(b.main.char_count.as_deref(), Some("0x0922001f"));
    assert_eq!(
        b.main.validation,
        [
            "product_code",
            "update_version",
            "new_equal_base_version",
            "upgrade_code"
        ]
    );
    assert_eq!(b.main.errors.len(), 5);
    assert_eq!(b.main.template.as_deref(), Some("Intel;1033"));
    assert!(b.main.transform_clsid);

    assert!(doc.transform.is_none());
    assert!(doc.storages.is_empty());
    let tables: Vec<&str> = doc.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["MsiPatchMetadata", "MsiPatchSequence"]);
    assert_eq!(doc.tables[1].rows.len(), 2);
    assert_eq!(doc.tables[1].columns.len(), 4);
    let cabinet = doc
        .streams
        .iter()
        .find(|s| s.name == msp_retarget::testkit::synth::CABINET_NAME)
        .expect("the cabinet stream");
    assert_eq!(cabinet.size, 64 * 1024);
    assert!(!cabinet.table);
    assert!(
        doc.streams
            .iter()
            .any(|s| s.table && s.name == "MsiPatchSequence")
    );
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
});

msptest!(
    json_of_inspect_on_a_broken_patch_lists_problems,
    |dir, run| {
        let spec = PatchSpec {
            extra_last_saved_by: Some(":rtmA.1;:#rtmA.1;:missing".into()),
            ..PatchSpec::single_product()
        };
        dir.patch("broken.msp", &spec);
        let r = run(&["inspect", "broken.msp", "--json"]);
        r.code(0);
        let doc: InspectDoc = document(&r.stdout, "inspect");
        assert_eq!(doc.patch.unwrap().pairs.len(), 1);
        assert_eq!(
            doc.problems,
            [
                "transform missing: LastSavedBy lists :missing but the file has no storage of that name"
            ]
        );
    }
);

msptest!(json_of_inspect_on_a_database_and_a_transform, |dir, run| {
    for (kind, name, expected) in [
        (msi::PackageType::Installer, "product.msi", "database"),
        (msi::PackageType::Transform, "change.mst", "transform"),
    ] {
        let bytes = msi::Package::create(kind, std::io::Cursor::new(Vec::new()))
            .and_then(|p| p.into_inner())
            .unwrap()
            .into_inner();
        dir.write(name, &bytes);
        let r = run(&["inspect", name, "--json"]);
        r.code(0);
        let doc: InspectDoc = document(&r.stdout, "inspect");
        assert_eq!(doc.kind, expected);
        assert!(doc.patch.is_none());
        assert!(doc.tables.is_empty());
    }

    let msi = msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", PRODUCT_A),
        ("ProductVersion", "1.0.0.0"),
        ("ProductLanguage", "1033"),
        ("ProductName", "Sample"),
    ])
    .unwrap();
    dir.write("facts.msi", &msi);
    let r = run(&["inspect", "facts.msi", "--json"]);
    r.code(0);
    let doc: InspectDoc = document(&r.stdout, "inspect");
    let product = doc.product.expect("the product's properties");
    assert_eq!(product.product_code.as_deref(), Some(PRODUCT_A));
    assert_eq!(product.product_version.as_deref(), Some("1.0.0.0"));
    assert_eq!(product.product_language.as_deref(), Some("1033"));
    assert_eq!(product.product_name.as_deref(), Some("Sample"));
    assert_eq!(product.upgrade_code, None);
});

//===========================================================================//
// recover --json

msptest!(
    json_of_recover_names_each_file_and_what_was_done,
    |dir, run| {
        dir.patch("a.msp", &PatchSpec::single_product());
        dir.patch("b.msp", &PatchSpec::single_product());
        // A journal cut short before its end marker: the edit never touched
        // b.msp, so recover deletes the journal.
        dir.write(".b.msp.msp-retarget.journal", b"MSPRJRNL torn");
        let r = run(&["recover", "a.msp", "b.msp", "--json"]);
        r.code(0);
        let doc: RecoverDoc = document(&r.stdout, "recover");
        assert_eq!(
            doc.files,
            [
                RecoveredDoc {
                    file: "a.msp".into(),
                    recovery: RecoveryDoc::Nothing,
                },
                RecoveredDoc {
                    file: "b.msp".into(),
                    recovery: RecoveryDoc::Discarded,
                },
            ]
        );
        assert_eq!(dir.names(), ["a.msp", "b.msp"]);
        // The three values, as the library spells them.
        for (doc, value) in [
            (RecoveryDoc::Nothing, Recovery::Nothing),
            (RecoveryDoc::Completed, Recovery::Completed),
            (RecoveryDoc::Discarded, Recovery::Discarded),
        ] {
            assert_eq!(
                serde_json::to_value(&doc).unwrap(),
                serde_json::to_value(value).unwrap()
            );
        }
    }
);

//===========================================================================//
// The mirrors themselves

//===========================================================================//
// instances add / remove --json

msptest!(json_of_instances_add_and_remove, |dir, run| {
    let product = msp_retarget::testkit::synth::product_database_with(
        &[
            ("ProductCode", PRODUCT_A),
            ("ProductVersion", "1.0.0.0"),
            ("ProductName", "Sample"),
        ],
        &[("Core", Some("{C28843DA-EF08-41CC-BA75-D2B99D8A1983}"))],
        0,
    )
    .unwrap();
    dir.write("p.msi", &product);
    let r = run(&[
        "instances",
        "add",
        "p.msi",
        "-i",
        &format!("Blue={I1}"),
        "--isolate-components",
        "all",
        "-o",
        "out.msi",
        "--json",
    ]);
    r.code(0);
    let doc: InstancesDoc = document(&r.stdout, "instances add");
    assert_eq!(doc.outcome, "done");
    assert_eq!(doc.output.as_deref(), Some("out.msi"));
    let added = &doc.plan.added[0];
    assert_eq!(added.product_code, I1);
    assert!(!added.derived);
    assert_eq!(added.product_name.as_deref(), Some("Sample (Blue)"));
    assert_eq!(
        added.revision_number,
        format!("{PRODUCT_A}1.0.0.0;{I1}1.0.0.0;")
    );
    assert_eq!(added.components[0].component, "Core");
    assert_eq!(
        added.changes[0],
        ChangeDoc::RowAdded {
            table: "Component".into(),
            key: vec![ValueDoc::Str("Core".into())],
            row: "update".into(),
            columns: vec![(
                "ComponentId".into(),
                ValueDoc::Str(added.components[0].to.clone())
            )],
        }
    );
    assert_eq!(added.changes.len(), 3);
    assert_eq!(doc.verification.as_ref().unwrap().transforms_checked, 1);
    let dry = run(&[
        "instances",
        "add",
        "p.msi",
        "--count",
        "1",
        "--dry-run",
        "--json",
    ]);
    dry.code(0);
    let doc: InstancesDoc = document(&dry.stdout, "instances add");
    assert_eq!(doc.outcome, "planned");
    assert!(doc.verification.is_none() && doc.output.is_none());
    assert!(doc.plan.added[0].derived);
    let rm = run(&[
        "instances",
        "remove",
        "out.msi",
        "blue",
        "-o",
        "back.msi",
        "--json",
    ]);
    rm.code(0);
    let doc: InstancesDoc = document(&rm.stdout, "instances remove");
    assert_eq!(
        doc.plan.removed,
        [RemovedInstanceDoc {
            id: "Blue".into(),
            product_code: I1.into()
        }]
    );
    let bad = run(&[
        "instances",
        "add",
        "p.msi",
        "-i",
        "a/b",
        "-o",
        "x.msi",
        "--json",
    ]);
    bad.code(2);
    let err = error_doc(&bad, "instances add");
    assert_eq!(err.outcome, "error");
});

#[test]
fn mirrors_reject_unknown_and_missing_fields() {
    let ok = r#"{"action":"already_present","source":"a","name":"b"}"#;
    assert!(serde_json::from_str::<DecisionDoc>(ok).is_ok());
    let extra = r#"{"action":"already_present","source":"a","name":"b","x":1}"#;
    assert!(serde_json::from_str::<DecisionDoc>(extra).is_err());
    let unknown = r#"{"action":"moved","source":"a","name":"b"}"#;
    assert!(serde_json::from_str::<DecisionDoc>(unknown).is_err());
    let extra = r#"{"unchanged_entries":1,"added_entries":2,"bytes_compared":3,
                    "bytes_vouched_by_layout":0,
                    "checked":{"products_checked":0,"new_findings":[]},"x":0}"#;
    assert!(serde_json::from_str::<VerificationDoc>(extra).is_err());
    // A missing optional field deserializes, so document() compares the
    // round trip: this one would come back with "partner": null.
    let text = "{\n  \"schema_version\": 3,\n  \"command\": \"x\",\n  \"action\": \"copy\",\n  \
                \"source\": \"a\",\n  \"name\": \"b\"\n}";
    #[derive(Deserialize, Serialize)]
    struct Wrapped {
        schema_version: u32,
        command: String,
        #[serde(flatten)]
        decision: DecisionDoc,
    }
    let result = std::panic::catch_unwind(|| document::<Wrapped>(text, "x"));
    assert!(result.is_err(), "a missing field was not noticed");
}
