//! Refusals and errors of the engine: the kind, the exact reason, the file
//! named, and in every case nothing written (the folder holding the input
//! and the output is byte for byte as before: input unchanged, no output,
//! no temporary file).

use std::path::Path;

use msp_retarget::Destination;
use msp_retarget::InstanceRequest;
use msp_retarget::report::RetargetReport;
use msp_retarget::testkit::synth::PatchSpec;
use msp_retarget::{Error, ErrorKind, Setting, Wording};
use msp_retarget::{RetargetRequest, retarget};

use crate::assert_error;
use crate::util::{Dir, I1, PRODUCT_A, PRODUCT_B, inst, inst_of, request};

const OTHER: &str = "{99999999-9999-4999-8999-999999999999}";
const PATCH_CLSID: &str = "{000C1086-0000-0000-C000-000000000046}";

/// Runs `req`, and when it fails checks that the folder did not change.
fn attempt(dir: &Dir, req: &RetargetRequest) -> Result<RetargetReport, Error> {
    let before = dir.listing();
    let result = retarget(req);
    if result.is_err() {
        assert!(
            dir.listing() == before,
            "a failed retarget changed the folder: {:?} -> {:?}",
            before.keys().collect::<Vec<_>>(),
            dir.names()
        );
    }
    result
}

/// `spec` built as in.msp, retargeted to out.msp.
fn to_out(dir: &Dir, spec: &PatchSpec, instances: &[InstanceRequest]) -> RetargetRequest {
    let input = dir.patch("in.msp", spec);
    request(&input, Destination::Output(dir.join("out.msp")), instances)
}

fn names_file(err: &Error, path: &Path) {
    assert_eq!(err.file(), Some(path), "file of: {err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: ", path.display())),
        "{err}"
    );
}

//===========================================================================//
// Refusals

#[test]
fn refuses_a_major_upgrade() {
    let dir = Dir::new();
    let mut spec = PatchSpec::single_product();
    spec.pairs[0].to_code = OTHER.into();
    let req = to_out(&dir, &spec, &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Refused,
        format!(
            "transform rtmA.1 changes the product code ({PRODUCT_A} -> {OTHER}): a \
             major-upgrade patch would give every instance the same new product code"
        ),
    );
    names_file(&err, &req.input);
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn refuses_a_signed_patch() {
    let dir = Dir::new();
    let spec = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    let req = to_out(&dir, &spec, &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Refused,
        &format!(
            "the patch is signed (\\005DigitalSignature); retargeting changes its content and \
             breaks the signature. Use `PlanOptions::strip_signature` to remove it, then {}",
            msp_retarget::testkit::signature::RESIGN
        ),
    );
    names_file(&err, &req.input);

    // Both kinds of signature stream are named.
    crate::util::edit(&req.input, |cf| {
        cf.create_stream("/\u{5}MsiDigitalSignatureEx").unwrap();
    });
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Refused,
        &format!(
            "the patch is signed (\\005DigitalSignature, \\005MsiDigitalSignatureEx); \
             retargeting changes its content and breaks the signature. Use \
             `PlanOptions::strip_signature` to remove it, then {}",
            msp_retarget::testkit::signature::RESIGN
        ),
    );
}

#[test]
fn refuses_to_guess_the_base_of_a_two_product_patch() {
    let dir = Dir::new();
    let req = to_out(&dir, &PatchSpec::two_products(), &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Refused,
        format!(
            "the patch targets 2 products ({PRODUCT_A}, {PRODUCT_B}); name the base of \
             instance {I1} as `InstanceRequest::base`"
        ),
    );
    names_file(&err, &req.input);
    assert_eq!(
        err.settings().collect::<Vec<_>>(),
        [&Setting::InstanceBase {
            instance: I1.to_string()
        }]
    );
}

//===========================================================================//
// Errors in the request

#[test]
fn a_refusal_leaves_an_existing_output_alone() {
    let dir = Dir::new();
    std::fs::write(dir.join("out.msp"), b"previous result").unwrap();
    let req = to_out(&dir, &PatchSpec::two_products(), &[inst(I1)]);
    // attempt() checks that out.msp still holds its bytes.
    let err = attempt(&dir, &req).expect_err("ambiguous base");
    assert_eq!(err.kind(), ErrorKind::Refused);
}

#[test]
fn a_base_the_patch_does_not_target_is_a_usage_error() {
    let dir = Dir::new();
    let req = to_out(&dir, &PatchSpec::single_product(), &[inst_of(OTHER, I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        format!("{OTHER}={I1}: the patch does not target {OTHER}; its targets are {PRODUCT_A}"),
    );
    names_file(&err, &req.input);
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn an_instance_equal_to_its_base_is_a_usage_error() {
    let dir = Dir::new();
    let req = to_out(
        &dir,
        &PatchSpec::single_product(),
        &[inst(I1), inst(PRODUCT_A)],
    );
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        format!("instance {PRODUCT_A} is the base product itself"),
    );
    let req = to_out(
        &dir,
        &PatchSpec::two_products(),
        &[inst_of(PRODUCT_B, PRODUCT_B)],
    );
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        format!("instance {PRODUCT_B} is the base product itself"),
    );
}

#[test]
fn another_target_of_the_patch_cannot_be_an_instance() {
    let dir = Dir::new();
    let req = to_out(
        &dir,
        &PatchSpec::two_products(),
        &[inst_of(PRODUCT_A, PRODUCT_B)],
    );
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        format!(
            "{PRODUCT_B} is a target of the patch with transform pairs of its own (rtmB.1); \
             it cannot also be an instance of {PRODUCT_A}"
        ),
    );
}

#[test]
fn the_same_instance_with_two_bases_is_a_usage_error() {
    let dir = Dir::new();
    let req = to_out(
        &dir,
        &PatchSpec::two_products(),
        &[inst_of(PRODUCT_A, I1), inst_of(PRODUCT_B, I1)],
    );
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        format!("instance {I1} is given twice, with bases {PRODUCT_A} and {PRODUCT_B}"),
    );
}

#[test]
fn no_instance_is_a_usage_error() {
    let dir = Dir::new();
    let req = to_out(&dir, &PatchSpec::single_product(), &[]);
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        "no instance given (use `RetargetRequest::instances`)",
    );
}

/// A front end's words for two settings, the others left as they are.
struct Flags;

impl Wording for Flags {
    fn word(&self, setting: &Setting) -> Option<String> {
        match setting {
            Setting::InPlace => Some("--in-place".into()),
            _ => None,
        }
    }
}

#[test]
fn the_output_may_not_be_the_input() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let req = request(&input, Destination::Output(input.clone()), &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        "the output is the input file; use `Destination::InPlace` to replace it",
    );
    names_file(&err, &input);
    // A library caller reads of the library's API, never of an option of
    // the command line; the remedy is a value a front end words.
    let message = err.to_string();
    assert!(!message.contains("--"), "{message}");
    assert_eq!(err.settings().collect::<Vec<_>>(), [&Setting::InPlace]);
    let worded = err.worded(&Flags);
    assert_eq!(
        worded.reason(),
        "the output is the input file; use --in-place to replace it"
    );
    assert_eq!(worded.file(), Some(input.as_path()));
    assert_eq!(worded.settings().count(), 0);
    // Also through another spelling of the same path.
    let other = dir.path().join(".").join("in.msp");
    let req = request(&input, Destination::Output(other), &[inst(I1)]);
    assert_error!(
        attempt(&dir, &req),
        ErrorKind::Usage,
        "the output is the input file; use `Destination::InPlace` to replace it",
    );
}

//===========================================================================//
// Errors in the input

#[test]
fn last_saved_by_naming_a_missing_storage() {
    let dir = Dir::new();
    let spec = PatchSpec {
        extra_last_saved_by: Some(":rtmA.1;:#rtmA.1;:missing".into()),
        ..PatchSpec::single_product()
    };
    let req = to_out(&dir, &spec, &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Format,
        "LastSavedBy lists :missing but the file has no storage of that name",
    );
    names_file(&err, &req.input);
}

#[test]
fn a_partner_without_its_main_transform() {
    let dir = Dir::new();
    let spec = PatchSpec {
        extra_last_saved_by: Some(":#rtmA.1;:rtmA.1".into()),
        ..PatchSpec::single_product()
    };
    let req = to_out(&dir, &spec, &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Format,
        "LastSavedBy lists the partner :#rtmA.1 without its main transform :rtmA.1 \
         right before it",
    );
    names_file(&err, &req.input);
    assert_eq!(
        err.part(),
        Some("stream \\005SummaryInformation, property 8 (LastSavedBy)")
    );
}

/// A compound file made by the msi crate with the given package type.
fn package_bytes(kind: msi::PackageType) -> Vec<u8> {
    msi::Package::create(kind, std::io::Cursor::new(Vec::new()))
        .and_then(|p| p.into_inner())
        .expect("creating a package")
        .into_inner()
}

#[test]
fn a_database_or_a_transform_is_not_a_patch() {
    for (kind, name, what, clsid) in [
        (
            msi::PackageType::Installer,
            "product.msi",
            "an installer database (.msi), not a patch",
            "{000C1084-0000-0000-C000-000000000046}",
        ),
        (
            msi::PackageType::Transform,
            "change.mst",
            "a transform (.mst), not a patch",
            "{000C1082-0000-0000-C000-000000000046}",
        ),
    ] {
        let dir = Dir::new();
        let input = dir.write(name, &package_bytes(kind));
        let req = request(
            &input,
            Destination::Output(dir.join("out.msp")),
            &[inst(I1)],
        );
        let err = assert_error!(
            attempt(&dir, &req),
            ErrorKind::Format,
            format!("is {what}: its root CLSID is {clsid}, a patch has {PATCH_CLSID}"),
        );
        names_file(&err, &input);
    }
}

#[test]
fn files_that_are_not_compound_files() {
    let not_cfb = "not an OLE compound file (so not a patch, database or transform): ";
    for (name, bytes, why) in [
        (
            "text.msp",
            &b"MZ this is not a compound file"[..],
            "it does not start with the compound-file signature D0 CF 11 E0 A1 B1 1A E1",
        ),
        ("empty.msp", &b""[..], "the file is empty"),
        (
            "short.msp",
            &[0xD0, 0xCF, 0x11][..],
            "it does not start with the compound-file signature D0 CF 11 E0 A1 B1 1A E1",
        ),
    ] {
        let dir = Dir::new();
        let input = dir.write(name, bytes);
        let req = request(
            &input,
            Destination::Output(dir.join("out.msp")),
            &[inst(I1)],
        );
        let err = assert_error!(
            attempt(&dir, &req),
            ErrorKind::Format,
            format!("{not_cfb}{why}"),
        );
        names_file(&err, &input);
    }
}

#[test]
fn a_truncated_compound_file() {
    let dir = Dir::new();
    let whole = crate::util::read(&dir.patch("whole.msp", &PatchSpec::single_product()));
    let input = dir.write("cut.msp", &whole[..1024]);
    let req = request(
        &input,
        Destination::Output(dir.join("out.msp")),
        &[inst(I1)],
    );
    let err = attempt(&dir, &req).expect_err("a truncated file");
    assert_eq!(err.kind(), ErrorKind::Format, "{err}");
    assert_eq!(err.part(), Some("compound-file structure"));
    assert!(
        err.reason().starts_with("malformed compound file: "),
        "{err}"
    );
    names_file(&err, &input);
}

#[test]
fn a_directory_or_a_missing_file() {
    let dir = Dir::new();
    std::fs::create_dir(dir.join("folder.msp")).unwrap();
    let input = dir.join("folder.msp");
    let req = request(
        &input,
        Destination::Output(dir.join("out.msp")),
        &[inst(I1)],
    );
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Io,
        "is a directory, not a file"
    );
    names_file(&err, &input);

    let input = dir.join("missing.msp");
    let req = request(
        &input,
        Destination::Output(dir.join("out.msp")),
        &[inst(I1)],
    );
    let err = attempt(&dir, &req).expect_err("a missing file");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.reason().starts_with("cannot read: "), "{err}");
    names_file(&err, &input);
}

//===========================================================================//
// Errors at the destination

#[test]
fn a_missing_output_folder() {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("nope").join("out.msp");
    let req = request(&input, Destination::Output(out.clone()), &[inst(I1)]);
    let err = assert_error!(
        attempt(&dir, &req),
        ErrorKind::Io,
        format!(
            "the output folder {} does not exist",
            dir.join("nope").display()
        ),
    );
    names_file(&err, &out);
}

#[test]
fn an_output_that_is_a_folder_is_refused_before_any_work() {
    // Once failed only at the very end, renaming the verified copy into
    // place; now refused up front, like any destination that is not a
    // regular file.
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let req = request(&input, Destination::Output(out.clone()), &[inst(I1)]);
    let err = attempt(&dir, &req).expect_err("a folder as the output");
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(
        err.reason().starts_with("is a folder, not a regular file"),
        "{err}"
    );
    names_file(&err, &out);
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"x");
}
