//! Tests of the harness itself: the checker that every engine test relies
//! on must reject an output that breaks any one of the invariants.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use msp_retarget::testkit::synth::PatchSpec;

use crate::util::check::{Expect, check_retarget};
use crate::util::{Dir, I1, PRODUCT_A, SUMMARY, Snapshot, edit, inst, pid, retarget_to};

/// Retargets the single-product preset to I1, applies `tamper` to a copy
/// of the result, and returns whether the checker accepted it.
fn accepted(tamper: impl FnOnce(&mut cfb::CompoundFile<std::fs::File>)) -> bool {
    let dir = Dir::new();
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let out = dir.join("out.msp");
    retarget_to(&input, &out, &[inst(I1)]);
    edit(&out, tamper);
    let (src, dst) = (Snapshot::of(&input), Snapshot::of(&out));
    catch_unwind(AssertUnwindSafe(|| {
        check_retarget(&src, &dst, &Expect::new(&[(PRODUCT_A, I1)]))
    }))
    .is_ok()
}

const COPY: &str = "/rtmA.1_11111111";

fn rewrite_summary(
    cf: &mut cfb::CompoundFile<std::fs::File>,
    storage: &str,
    f: impl FnOnce(&mut msp_retarget::testkit::propset::PropertySet),
) {
    let path = format!("{storage}/{SUMMARY}");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut cf.open_stream(&path).unwrap(), &mut bytes).unwrap();
    let mut set = crate::util::summary(&bytes);
    f(&mut set);
    cf.create_stream(&path)
        .unwrap()
        .write_all(&set.to_bytes())
        .unwrap();
}

fn first_table_stream(cf: &cfb::CompoundFile<std::fs::File>, storage: &str) -> String {
    cf.read_storage(storage)
        .unwrap()
        .map(|e| e.path().to_string_lossy().into_owned())
        .find(|p| !p.ends_with(SUMMARY))
        .unwrap()
}

#[test]
fn an_untouched_output_is_accepted() {
    assert!(accepted(|_| {}));
}

#[test]
fn a_changed_byte_in_a_copied_stream_is_caught() {
    assert!(!accepted(|cf| {
        let path = first_table_stream(cf, COPY);
        let mut s = cf.open_stream(&path).unwrap();
        s.write_all(b"!").unwrap();
    }));
}

#[test]
fn a_changed_original_stream_is_caught() {
    assert!(!accepted(|cf| {
        let path = first_table_stream(cf, "/rtmA.1");
        let mut s = cf.open_stream(&path).unwrap();
        s.write_all(b"!").unwrap();
    }));
}

#[test]
fn changed_metadata_is_caught() {
    assert!(!accepted(|cf| cf.set_state_bits("/rtmA.1", 1).unwrap()));
    assert!(!accepted(|cf| cf.set_state_bits(COPY, 1).unwrap()));
    assert!(!accepted(|cf| {
        cf.set_modified_time("/#rtmA.1_11111111", std::time::UNIX_EPOCH)
            .unwrap()
    }));
    assert!(!accepted(|cf| {
        cf.set_storage_clsid(COPY, uuid::Uuid::nil()).unwrap()
    }));
}

#[test]
fn another_changed_summary_property_is_caught() {
    assert!(!accepted(|cf| rewrite_summary(cf, COPY, |s| {
        s.set_string(2, "Changed").unwrap()
    })));
    assert!(!accepted(|cf| rewrite_summary(cf, "", |s| {
        s.set_string(3, "Changed").unwrap()
    })));
}

#[test]
fn a_wrong_revision_number_is_caught() {
    // The source's, unchanged.
    assert!(!accepted(|cf| rewrite_summary(cf, COPY, |s| {
        let src = format!("{PRODUCT_A}1.0.0.0;{PRODUCT_A}1.0.1.0;");
        let raw = crate::util::text(s, pid::REVISION_NUMBER);
        let upgrade = &raw[raw.len() - 38..];
        s.set_string(pid::REVISION_NUMBER, &format!("{src}{upgrade}"))
            .unwrap()
    })));
    // The base replaced, but a version changed too.
    assert!(!accepted(|cf| rewrite_summary(cf, COPY, |s| {
        let raw = crate::util::text(s, pid::REVISION_NUMBER);
        let wrong = raw.replace("1.0.1.0", "1.0.2.0");
        s.set_string(pid::REVISION_NUMBER, &wrong).unwrap()
    })));
}

#[test]
fn an_unlisted_partner_or_an_extra_entry_is_caught() {
    assert!(!accepted(|cf| {
        crate::util::set_root_text(cf, pid::LAST_SAVED_BY, ":rtmA.1;:#rtmA.1;:rtmA.1_11111111")
    }));
    assert!(!accepted(|cf| {
        cf.create_stream("/extra").unwrap();
    }));
    assert!(!accepted(|cf| {
        cf.remove_storage_all(Path::new("/#rtmA.1_11111111"))
            .unwrap();
    }));
}

#[test]
fn a_lower_case_template_entry_is_caught() {
    assert!(!accepted(|cf| {
        let template = format!("{PRODUCT_A};{I1}").to_lowercase();
        crate::util::set_root_text(cf, pid::TEMPLATE, &template)
    }));
}
