//! Corpus suite: real WiX-built patches from `../shared/corpus`.
//!
//! Every test here is ignored by default; run them with
//! `cargo test --test corpus retarget -- --ignored`. The folder is
//! `$MSP_CORPUS_DIR` when set, else `../shared/corpus` next to the
//! repository. A missing folder fails the suite rather than skipping it,
//! so a CI job that asks for the corpus cannot pass vacuously.

use std::io::Read;
use std::path::{Path, PathBuf};

use msp_retarget::testkit::propset::PropertySet;

use crate::util::corpus as shared_corpus;
use shared_corpus::corpus_dir;

//===========================================================================//
// Locating the corpus

/// Every .msp, .msi and .mst under the corpus folder, recursively, sorted.
fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                walk(&path, out);
            } else if is_installer_file(&path) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus_dir(), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no .msp, .msi or .mst file in the corpus"
    );
    files
}

fn is_installer_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["msp", "msi", "mst"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

fn open(path: &Path) -> cfb::CompoundFile<std::fs::File> {
    cfb::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_stream(comp: &mut cfb::CompoundFile<std::fs::File>, file: &Path, stream: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    comp.open_stream(stream)
        .and_then(|mut s| s.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("{}: {}: {e}", file.display(), stream.display()));
    bytes
}

//===========================================================================//
// Property sets

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn every_property_set_stream_round_trips_byte_for_byte() {
    let mut checked = 0usize;
    for file in corpus_files() {
        let mut comp = open(&file);
        // Property-set streams are the ones whose name starts with U+0005,
        // at the root and inside transform substorages alike.
        let streams: Vec<PathBuf> = comp
            .walk()
            .filter(|e| e.is_stream() && e.name().starts_with('\u{5}'))
            .map(|e| e.path().to_path_buf())
            .collect();
        for stream in streams {
            let name = stream
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == "\u{5}DigitalSignature" || name == "\u{5}MsiDigitalSignatureEx" {
                continue; // signature blobs, not property sets
            }
            let bytes = read_stream(&mut comp, &file, &stream);
            let set = PropertySet::parse(&bytes)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", file.display(), stream.display()));
            assert!(
                set.to_bytes() == bytes,
                "{}: {}: written bytes differ from the input",
                file.display(),
                stream.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no property-set stream found in the corpus");
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn patch_template_and_last_saved_by_read_as_text() {
    let mut patches = 0usize;
    for file in corpus_files() {
        let is_patch = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("msp"));
        if !is_patch {
            continue;
        }
        let mut comp = open(&file);
        let bytes = read_stream(&mut comp, &file, Path::new("/\u{5}SummaryInformation"));
        let set = PropertySet::parse(&bytes)
            .unwrap_or_else(|e| panic!("{}: summary information: {e}", file.display()));
        for pid in [7, 8] {
            let text = set
                .get_string(pid)
                .unwrap_or_else(|| panic!("{}: property {pid} is missing", file.display()))
                .unwrap_or_else(|e| panic!("{}: property {pid}: {e}", file.display()));
            assert!(
                !text.is_empty(),
                "{}: property {pid} is empty",
                file.display()
            );
        }
        let last_saved_by = set.get_string(8).and_then(Result::ok).unwrap_or_default();
        assert!(
            last_saved_by.split(';').all(|name| name.starts_with(':')),
            "{}: LastSavedBy {last_saved_by:?} is not a list of :names",
            file.display()
        );
        patches += 1;
    }
    assert!(patches > 0, "no .msp file in the corpus");
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn editing_one_string_keeps_every_other_property() {
    let mut edited = 0usize;
    for file in corpus_files() {
        let mut comp = open(&file);
        let streams: Vec<PathBuf> = comp
            .walk()
            .filter(|e| e.is_stream() && e.name() == "\u{5}SummaryInformation")
            .map(|e| e.path().to_path_buf())
            .collect();
        for stream in streams {
            let where_ = format!("{}: {}", file.display(), stream.display());
            let before = PropertySet::parse(&read_stream(&mut comp, &file, &stream))
                .unwrap_or_else(|e| panic!("{where_}: {e}"));
            let Some(Ok(revision)) = before.get_string(9) else {
                panic!("{where_}: no RevisionNumber string");
            };
            let mut after = before.clone();
            after
                .set_string(
                    9,
                    &format!("{revision};{{00000000-0000-0000-0000-000000000000}}"),
                )
                .unwrap_or_else(|e| panic!("{where_}: {e}"));
            let reparsed = PropertySet::parse(&after.to_bytes())
                .unwrap_or_else(|e| panic!("{where_}: edited stream does not parse: {e}"));
            assert_eq!(reparsed.property_ids(), before.property_ids(), "{where_}");
            for pid in before.property_ids().into_iter().filter(|&pid| pid != 9) {
                assert_eq!(
                    reparsed.get(pid),
                    before.get(pid),
                    "{where_}: property {pid}"
                );
            }
            edited += 1;
        }
    }
    assert!(edited > 0, "no SummaryInformation stream in the corpus");
}

//===========================================================================//
// Retargeting real patches

mod retargeting {
    use super::*;
    use msp_retarget::ErrorKind;
    use msp_retarget::Guid;
    use msp_retarget::testkit::patch::Patch;
    use msp_retarget::{Destination, Outcome};
    use msp_retarget::{InstanceRequest, PlanOptions};
    use msp_retarget::{RetargetRequest, retarget};

    const I1: &str = "{11111111-1111-4111-8111-111111111111}";
    const I2: &str = "{22222222-2222-4222-8222-222222222222}";

    fn patches() -> Vec<PathBuf> {
        let all: Vec<PathBuf> = corpus_files()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("msp")))
            .collect();
        assert!(!all.is_empty(), "the corpus has no .msp file");
        all
    }

    fn request(input: &Path, out: &Path, codes: &[&str]) -> RetargetRequest {
        RetargetRequest {
            input: input.to_path_buf(),
            destination: Destination::Output(out.to_path_buf()),
            instances: codes
                .iter()
                .map(|c| InstanceRequest::parse(c).unwrap())
                .collect(),
            options: PlanOptions::default(),
        }
    }

    /// Every entry of a compound file: path -> (is stream, CLSID, state
    /// bits, bytes), read with `cfb` directly.
    fn entries(
        path: &Path,
    ) -> std::collections::BTreeMap<PathBuf, (bool, uuid::Uuid, u32, Vec<u8>)> {
        let mut comp = open(path);
        let list: Vec<cfb::Entry> = comp.walk().collect();
        list.into_iter()
            .map(|e| {
                let bytes = if e.is_stream() {
                    read_stream(&mut comp, path, e.path())
                } else {
                    Vec::new()
                };
                (
                    e.path().to_path_buf(),
                    (e.is_stream(), *e.clsid(), e.state_bits(), bytes),
                )
            })
            .collect()
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn every_patch_retargets_and_keeps_untouched_entries() {
        let dir = tempfile::tempdir().unwrap();
        for input in patches() {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            let out = dir.path().join(&name);
            let report = retarget(&request(&input, &out, &[I1, I2]))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(report.outcome, Outcome::Done, "{name}");

            // The result re-reads, targets both instances and keeps the patch code.
            let before = Patch::open(&input).unwrap();
            let after = Patch::open(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
            for code in [I1, I2] {
                assert!(
                    after.targets_product(Guid::parse_braced(code).unwrap()),
                    "{name}"
                );
            }
            assert_eq!(after.codes, before.codes, "{name}");
            assert!(after.template.starts_with(&before.template), "{name}");
            assert!(
                after.last_saved_by.starts_with(&before.last_saved_by),
                "{name}"
            );

            // Every original entry except the root summary is unchanged.
            let old = entries(&input);
            let new = entries(&out);
            let root_summary = Path::new("/\u{5}SummaryInformation");
            for (path, value) in &old {
                if path == root_summary {
                    continue;
                }
                assert_eq!(
                    new.get(path),
                    Some(value),
                    "{name}: {} changed",
                    path.display()
                );
            }
            // Every added entry belongs to a copy listed in LastSavedBy.
            for path in new.keys().filter(|p| !old.contains_key(*p)) {
                let top = path
                    .components()
                    .nth(1)
                    .unwrap()
                    .as_os_str()
                    .to_string_lossy();
                assert!(
                    after.last_saved_by.contains(&format!(":{top}")),
                    "{name}: {} is not part of a listed copy",
                    path.display()
                );
            }

            // The msi crate still opens the result as a patch with the same tables.
            let package = msi::open(&out).unwrap_or_else(|e| panic!("{name}: msi crate: {e}"));
            assert_eq!(package.package_type(), msi::PackageType::Patch, "{name}");
            let original = msi::open(&input).unwrap();
            let tables = |p: &msi::Package<std::fs::File>| {
                p.tables().map(|t| t.name().to_string()).collect::<Vec<_>>()
            };
            assert_eq!(tables(&package), tables(&original), "{name}");
        }
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn copies_follow_the_product_code_check() {
        // Pairs that validate the product code are copied per instance; the
        // rtmldr pair (CharCount 0x0920001F) does not, so only Template grows.
        let dir = tempfile::tempdir().unwrap();
        for input in patches() {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            let before = Patch::open(&input).unwrap();
            let validating = before
                .pairs
                .iter()
                .filter(|p| {
                    p.main
                        .validation()
                        .has(msp_retarget::testkit::summary::Validation::PRODUCT)
                })
                .map(|p| 1 + usize::from(p.partner.is_some()))
                .sum::<usize>();
            let out = dir.path().join(&name);
            let report = retarget(&request(&input, &out, &[I1, I2])).unwrap();
            assert_eq!(report.plan.copies.len(), 2 * validating, "{name}");
            if name.eq_ignore_ascii_case("rtmldr.msp") {
                assert_eq!(
                    validating, 0,
                    "rtmldr's pair does not check the product code"
                );
            }
            if name.eq_ignore_ascii_case("PatchAv101.msp") {
                assert_eq!(validating, 2);
            }
        }
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn retargeting_the_output_again_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for input in patches() {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            let first = dir.path().join(format!("1-{name}"));
            let second = dir.path().join(format!("2-{name}"));
            let third = dir.path().join(format!("3-{name}"));
            retarget(&request(&input, &first, &[I1, I2])).unwrap();
            let again = retarget(&request(&first, &second, &[I1, I2])).unwrap();
            assert_eq!(again.outcome, Outcome::AlreadyDone, "{name}");
            assert_eq!(
                std::fs::read(&first).unwrap(),
                std::fs::read(&second).unwrap(),
                "{name}"
            );
            // Same input, same bytes.
            retarget(&request(&input, &third, &[I1, I2])).unwrap();
            assert_eq!(
                std::fs::read(&first).unwrap(),
                std::fs::read(&third).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn in_place_writes_the_bytes_of_o() {
        let dir = tempfile::tempdir().unwrap();
        for input in patches() {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            let out = dir.path().join(format!("o-{name}"));
            retarget(&request(&input, &out, &[I1, I2])).unwrap();
            let work = dir.path().join(format!("w-{name}"));
            std::fs::write(&work, std::fs::read(&input).unwrap()).unwrap();
            let mut req = request(&work, &out, &[I1, I2]);
            req.destination = Destination::InPlace;
            let r = retarget(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.outcome, Outcome::Done, "{name}");
            assert_eq!(
                std::fs::read(&work).unwrap(),
                std::fs::read(&out).unwrap(),
                "{name}: in place differs from -o"
            );
        }
        let journals = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".journal")
            })
            .count();
        assert_eq!(journals, 0);
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn databases_and_transforms_are_refused_as_not_patches() {
        let dir = tempfile::tempdir().unwrap();
        for input in corpus_files()
            .into_iter()
            .filter(|p| !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("msp")))
        {
            let before = std::fs::read(&input).unwrap();
            let out = dir.path().join("out.msp");
            let e = retarget(&request(&input, &out, &[I1])).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Format, "{}", input.display());
            assert!(e.to_string().contains("not a patch"), "{e}");
            assert!(!out.exists());
            assert_eq!(std::fs::read(&input).unwrap(), before);
        }
    }

    #[test]
    #[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
    fn inspect_reads_every_file_without_problems() {
        for input in corpus_files() {
            let r = msp_retarget::inspect(&input)
                .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            assert!(
                r.problems.is_empty(),
                "{}: {:?}",
                input.display(),
                r.problems
            );
            if r.kind == msp_retarget::testkit::container::FileKind::Patch {
                let p = r.patch.as_ref().unwrap();
                assert!(!p.pairs.is_empty(), "{}", input.display());
                assert!(
                    !r.tables.is_empty(),
                    "{}: no MsiPatchMetadata/Sequence",
                    input.display()
                );
            }
        }
    }
}
