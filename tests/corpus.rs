//! Corpus suite: real WiX-built patches from `../shared/corpus`.
//!
//! Every test here is ignored by default; run them with
//! `cargo test --test corpus -- --ignored`. The folder is
//! `$MSP_CORPUS_DIR` when set, else `../shared/corpus` next to the
//! repository. A missing folder fails the suite rather than skipping it,
//! so a CI job that asks for the corpus cannot pass vacuously.

use std::io::Read;
use std::path::{Path, PathBuf};

use msp_retarget::propset::PropertySet;

//===========================================================================//
// Locating the corpus

/// The corpus folder; panics when it does not exist.
fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("MSP_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    assert!(
        dir.is_dir(),
        "corpus folder {} is missing: set MSP_CORPUS_DIR or provide ../shared/corpus",
        dir.display()
    );
    dir
}

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
