//! Hostile and broken input through the command line.
//!
//! Every case starts from a valid patch built in memory by
//! `msp_retarget::testkit::synth`, breaks one thing (an offset, a count, a chain, a
//! property, a name) by writing bytes at a computed place, and runs the
//! binary: `retarget IN --instance {I} -o OUT` and, where the file exists,
//! `inspect IN`. Every run must finish within the time limit (a loop is a
//! failure, not a hang), and a failing run must:
//!
//! * exit with the documented code (2 for an error, 1 for a refusal);
//! * print `msp-retarget: FILE: PART: reason` naming the file and, where
//!   there is one, the part (storage, stream, property, offset);
//! * leave the input byte for byte as it was;
//! * leave no output and no `.*.msp-retarget.tmp` file in the output folder.
//!
//! Some malformations are harmless and accepted on purpose (a string
//! without its NUL, a well-formed second section, damage `cfb` reads past
//! such as a short last sector); those cases assert that the result is
//! written and re-reads. `inspect` is lenient by design: a broken summary
//! or transform is listed as a problem (exit 0), so most of its outcomes
//! here are "accepted".
//!
//! Fuzz finds and other regressions are named `r_<what_failed>` or carry a
//! "Regression" comment saying what used to happen.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::Run;

use msp_retarget::testkit::propset::{PropertySet, PropertyValue};
use msp_retarget::testkit::synth::{PatchSpec, write_patch};

const I1: &str = "{11111111-1111-4111-8111-111111111111}";
const ROOT_SUMMARY: &str = "/\u{5}SummaryInformation";
const T_SUMMARY: &str = "/rtmA.1/\u{5}SummaryInformation";
const P_SUMMARY: &str = "/#rtmA.1/\u{5}SummaryInformation";
/// A run taking longer than this counts as a hang.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// No case writes more than a few kilobytes.
const FILE_SIZE_LIMIT: u64 = 64 << 20;

const TEMPLATE: u32 = 7;
const LAST_SAVED_BY: u32 = 8;
const REVISION_NUMBER: u32 = 9;
const CODEPAGE: u32 = 1;

const END_OF_CHAIN: u32 = 0xFFFF_FFFE;

//===========================================================================//
// Building inputs

/// The bytes of the valid sample patch (one product, pair rtmA.1).
fn valid() -> Vec<u8> {
    spec_bytes(&PatchSpec::single_product())
}

fn spec_bytes(spec: &PatchSpec) -> Vec<u8> {
    write_patch(spec, Cursor::new(Vec::new()))
        .expect("building a synthetic patch")
        .into_inner()
}

fn with_spec(f: impl FnOnce(&mut PatchSpec)) -> Vec<u8> {
    let mut spec = PatchSpec::single_product();
    f(&mut spec);
    spec_bytes(&spec)
}

/// Edits the compound file with `cfb` (which writes a well-formed file).
fn with_cfb(bytes: Vec<u8>, f: impl FnOnce(&mut cfb::CompoundFile<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).expect("reopening the patch");
    f(&mut cf);
    cf.flush().expect("flushing the edit");
    cf.into_inner().into_inner()
}

/// Replaces the stream at `path` by `f` applied to its bytes.
fn with_stream(bytes: Vec<u8>, path: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    with_cfb(bytes, |cf| {
        let mut data = Vec::new();
        cf.open_stream(path)
            .and_then(|mut s| s.read_to_end(&mut data))
            .expect("reading the stream");
        f(&mut data);
        cf.create_stream(path)
            .and_then(|mut s| s.write_all(&data))
            .expect("rewriting the stream");
    })
}

/// Edits a summary stream through the property-set codec.
fn with_set(bytes: Vec<u8>, path: &str, f: impl FnOnce(&mut PropertySet)) -> Vec<u8> {
    with_stream(bytes, path, |data| {
        let mut set = PropertySet::parse(data).expect("parsing the valid summary");
        f(&mut set);
        *data = set.to_bytes();
    })
}

fn set_value(bytes: Vec<u8>, path: &str, pid: u32, value: PropertyValue) -> Vec<u8> {
    with_set(bytes, path, |s| s.set(pid, value).expect("setting a value"))
}

fn set_text(bytes: Vec<u8>, path: &str, pid: u32, text: &str) -> Vec<u8> {
    with_set(bytes, path, |s| {
        s.set_string(pid, text).expect("setting a string")
    })
}

fn remove_prop(bytes: Vec<u8>, path: &str, pid: u32) -> Vec<u8> {
    with_set(bytes, path, |s| {
        assert!(s.remove(pid).expect("removing a property"));
    })
}

fn truncated(bytes: Vec<u8>, len: usize) -> Vec<u8> {
    bytes[..len].to_vec()
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Raw property-set offsets ([MS-OLEPS] 2.20/2.21) in a summary stream.
mod ps {
    use super::get_u32;

    /// Stream offset of the first section.
    pub fn section(b: &[u8]) -> usize {
        get_u32(b, 44) as usize
    }

    /// Stream offset of the (pid, offset) slot of `pid` in section 0.
    pub fn slot(b: &[u8], pid: u32) -> usize {
        let sec = section(b);
        let count = get_u32(b, sec + 4) as usize;
        (0..count)
            .map(|i| sec + 8 + 8 * i)
            .find(|&at| get_u32(b, at) == pid)
            .unwrap_or_else(|| panic!("property {pid} is not in the set"))
    }

    /// Stream offset of the value of `pid`.
    pub fn value(b: &[u8], pid: u32) -> usize {
        section(b) + get_u32(b, slot(b, pid) + 4) as usize
    }
}

/// A compound file's raw structures ([MS-CFB] 2.2 header, 2.3 FAT, 2.4
/// MiniFAT, 2.6 directory), located for byte surgery.
struct Image(Vec<u8>);

/// One directory entry: its id, byte offset in the file and path.
#[derive(Debug, Clone)]
struct DirEntry {
    id: u32,
    at: usize,
    path: String,
}

impl Image {
    fn sector_len(&self) -> usize {
        1 << get_u16(&self.0, 0x1E)
    }

    fn sector_at(&self, sector: u32) -> usize {
        (sector as usize + 1) * self.sector_len()
    }

    /// Byte offset of the FAT entry of `sector` (FAT sectors from the
    /// header's DIFAT, enough for the small files built here).
    fn fat_slot(&self, sector: u32) -> usize {
        let per = self.sector_len() / 4;
        let fat = get_u32(&self.0, 0x4C + 4 * (sector as usize / per));
        self.sector_at(fat) + 4 * (sector as usize % per)
    }

    fn next(&self, sector: u32) -> u32 {
        get_u32(&self.0, self.fat_slot(sector))
    }

    fn chain(&self, start: u32) -> Vec<u32> {
        let mut out = vec![start];
        while let Some(&s) = out.last() {
            let n = self.next(s);
            if n >= 0xFFFF_FFFA || out.len() > 100_000 {
                break;
            }
            out.push(n);
        }
        out
    }

    /// Byte offset of the MiniFAT entry of mini sector `mini`.
    fn minifat_slot(&self, mini: u32) -> usize {
        let per = self.sector_len() / 4;
        let chain = self.chain(get_u32(&self.0, 0x3C));
        self.sector_at(chain[mini as usize / per]) + 4 * (mini as usize % per)
    }

    fn entry_at(&self, id: u32) -> usize {
        let per = self.sector_len() / 128;
        let chain = self.chain(get_u32(&self.0, 0x30));
        self.sector_at(chain[id as usize / per]) + 128 * (id as usize % per)
    }

    fn name_of(&self, at: usize) -> String {
        let len = get_u16(&self.0, at + 0x40) as usize;
        let units: Vec<u16> = (0..len.saturating_sub(2) / 2)
            .map(|k| get_u16(&self.0, at + 2 * k))
            .collect();
        String::from_utf16_lossy(&units)
    }

    /// Every entry reachable from the root, with its path.
    fn entries(&self) -> Vec<DirEntry> {
        let mut out = vec![DirEntry {
            id: 0,
            at: self.entry_at(0),
            path: "/".into(),
        }];
        let mut stack = vec![(get_u32(&self.0, self.entry_at(0) + 0x4C), String::new())];
        while let Some((id, parent)) = stack.pop() {
            if id == u32::MAX {
                continue;
            }
            let at = self.entry_at(id);
            let path = format!("{parent}/{}", self.name_of(at));
            stack.push((get_u32(&self.0, at + 0x44), parent.clone()));
            stack.push((get_u32(&self.0, at + 0x48), parent));
            if self.0[at + 0x42] == 1 {
                stack.push((get_u32(&self.0, at + 0x4C), path.clone()));
            }
            out.push(DirEntry { id, at, path });
        }
        out
    }

    fn entry(&self, path: &str) -> DirEntry {
        self.entries()
            .into_iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no entry {path:?}"))
    }

    /// The root stream holding the cabinet: the longest one.
    fn cabinet(&self) -> DirEntry {
        self.entries()
            .into_iter()
            .filter(|e| self.0[e.at + 0x42] == 2)
            .max_by_key(|e| self.len_of(e))
            .expect("a stream")
    }

    fn start_of(&self, e: &DirEntry) -> u32 {
        get_u32(&self.0, e.at + 0x74)
    }

    fn len_of(&self, e: &DirEntry) -> u64 {
        u64::from(get_u32(&self.0, e.at + 0x78))
    }
}

/// Applies raw surgery `f` to the image of the valid patch.
fn raw(f: impl FnOnce(&mut Image)) -> Vec<u8> {
    raw_of(valid(), f)
}

fn raw_of(bytes: Vec<u8>, f: impl FnOnce(&mut Image)) -> Vec<u8> {
    let mut image = Image(bytes);
    f(&mut image);
    image.0
}

/// Raw surgery on a summary stream's bytes.
fn summary_raw(path: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    with_stream(valid(), path, f)
}

/// A summary with a second, well-formed section after the first (or, with
/// `overlap`, a second section declared at the first one's offset).
fn two_sections(overlap: bool) -> Vec<u8> {
    summary_raw(ROOT_SUMMARY, |b| {
        let sec = ps::section(b);
        let size = get_u32(b, sec) as usize;
        let first = b[sec..sec + size].to_vec();
        let mut out = b[..28].to_vec();
        put_u32(&mut out, 24, 2);
        let start0 = 28 + 2 * 20;
        let start1 = start0 + size.next_multiple_of(4);
        out.extend_from_slice(&b[28..44]);
        out.extend_from_slice(&(start0 as u32).to_le_bytes());
        out.extend_from_slice(&[0x5A; 16]); // a user-defined FMTID
        let second = if overlap { start0 } else { start1 };
        out.extend_from_slice(&(second as u32).to_le_bytes());
        out.extend_from_slice(&first);
        out.resize(start1, 0);
        out.extend_from_slice(&8u32.to_le_bytes()); // size
        out.extend_from_slice(&0u32.to_le_bytes()); // no properties
        *b = out;
    })
}

/// A pair whose partner's storage name (`#` + main) is `len` units long.
fn pair_named(len: usize) -> Vec<u8> {
    let main = len - 1;
    with_spec(|s| s.pairs[0].name = format!("{:x<main$}", "rtm"))
}

fn package_bytes(kind: msi::PackageType) -> Vec<u8> {
    msi::Package::create(kind, Cursor::new(Vec::new()))
        .and_then(|p| p.into_inner())
        .expect("building a package")
        .into_inner()
}

//===========================================================================//
// The harness

/// What the case's input is.
enum Input {
    /// These bytes, written to `in.msp`.
    Bytes(Vec<u8>),
    /// A path prepared by the case inside the test folder (a folder, a
    /// missing file, a link loop, an unreadable file).
    Path(Box<dyn FnOnce(&Path) -> PathBuf>),
}

/// Where the output goes, relative to the test folder.
enum Output {
    /// `out/out.msp`, in a folder of its own.
    Normal,
    /// A path the case prepares (a missing folder, a file as folder, ...).
    Custom(Box<dyn FnOnce(&Path) -> PathBuf>),
}

/// How the command must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Exit 2 naming the file, with these texts in the message.
    Error(&'static [&'static str]),
    /// Exit 1 (refused on purpose), with these texts in the message.
    Refused(&'static [&'static str]),
    /// Exit 0: the malformation is harmless and the result is written.
    Accepted,
}

struct Case {
    input: Input,
    output: Output,
    retarget: Want,
    /// `inspect IN`: `None` when there is no file to inspect.
    inspect: Option<Want>,
}

fn case(bytes: Vec<u8>, retarget: Want, inspect: Want) -> Case {
    Case {
        input: Input::Bytes(bytes),
        output: Output::Normal,
        retarget,
        inspect: Some(inspect),
    }
}

/// Runs the binary under a file-size limit, so that a case that makes it
/// write without end fails (killed by SIGXFSZ) instead of filling the disk.
fn run_bin(args: &[&std::ffi::OsStr]) -> Run {
    crate::util::cli(args)
        .file_size_limit(FILE_SIZE_LIMIT)
        .timeout(TIME_LIMIT)
        .run()
}

/// [`run_bin`] with every input read lazily, as a large one is (the test
/// kit's threshold of the whole check lowered to nothing).
fn run_bin_lazily(args: &[&std::ffi::OsStr]) -> Run {
    crate::util::cli(args)
        .env("MSP_RETARGET_FULL_CHECK_MAX_SECTORS", "0")
        .file_size_limit(FILE_SIZE_LIMIT)
        .timeout(TIME_LIMIT)
        .run()
}

/// The names in `folder` (hidden ones included), sorted.
fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|d| {
            d.map(|e| {
                e.expect("listing")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn checksum(path: &Path) -> Option<(u64, u64)> {
    use std::hash::Hasher;
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(&bytes);
    Some((bytes.len() as u64, h.finish()))
}

fn check(what: &str, ran: &Run, want: Want, named: &Path) {
    let context = format!("{what}: exit {:?}, stderr:\n{}", ran.code, ran.stderr);
    if std::env::var_os("MALFORMED_SHOW").is_some() {
        eprintln!("{context}");
    }
    assert!(
        ran.exited && ran.elapsed < TIME_LIMIT,
        "{what}: killed after {:?} (time limit {TIME_LIMIT:?}): a loop?\n{}",
        ran.elapsed,
        ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{context}");
    let (code, texts): (i32, &[&str]) = match want {
        Want::Error(t) => (2, t),
        Want::Refused(t) => (1, t),
        Want::Accepted => (0, &[]),
    };
    assert_eq!(ran.code, code, "{context}");
    if code == 0 {
        return;
    }
    let prefix = format!("msp-retarget: {}: ", named.display());
    assert!(
        ran.stderr.starts_with(&prefix),
        "{what}: the message does not start with {prefix:?}:\n{}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{context}");
    for text in texts {
        assert!(
            ran.stderr.contains(text),
            "{what}: no {text:?} in:\n{}",
            ran.stderr
        );
    }
}

fn run_case(c: Case) {
    let dir = tempfile::Builder::new()
        .prefix("msp-retarget-malformed.")
        .tempdir()
        .expect("a temporary folder");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("creating out/");
    let input = match c.input {
        Input::Bytes(b) => {
            let p = dir.path().join("in.msp");
            std::fs::write(&p, b).expect("writing the input");
            p
        }
        Input::Path(f) => f(dir.path()),
    };
    let (output, custom_output) = match c.output {
        Output::Normal => (out_dir.join("out.msp"), false),
        Output::Custom(f) => (f(dir.path()), true),
    };
    let before = checksum(&input);
    let out_folder = output.parent().map(Path::to_path_buf).unwrap_or_default();
    let folder_before = names_in(&out_folder);

    // Some cases list hundreds of pairs on purpose: they test reading, not
    // the documented transform limit a plain run refuses.
    let args: [&std::ffi::OsStr; 7] = [
        "retarget".as_ref(),
        input.as_os_str(),
        "--instance".as_ref(),
        I1.as_ref(),
        "-o".as_ref(),
        output.as_os_str(),
        "--beyond-transform-limit".as_ref(),
    ];
    // Output-path failures name the output; everything else the input.
    let named = if custom_output { &output } else { &input };
    // Read lazily, as a large input is, the edit says the same (these
    // files' streams are all read, so nothing is left to the rule that
    // vouches for unread ones); then as the small file it is.
    if !custom_output {
        let ran = run_bin_lazily(&args);
        check("retarget, read lazily", &ran, c.retarget, named);
        assert_eq!(checksum(&input), before, "retarget changed the input");
        if c.retarget == Want::Accepted {
            std::fs::remove_file(&output).expect("the output of the lazy run");
        }
        assert_eq!(
            names_in(&out_folder),
            folder_before,
            "the lazy run left files"
        );
    }
    let ran = run_bin(&args);
    check("retarget", &ran, c.retarget, named);
    assert_eq!(checksum(&input), before, "retarget changed the input");
    let folder_after = names_in(&out_folder);
    if c.retarget == Want::Accepted {
        let added: Vec<&String> = folder_after
            .iter()
            .filter(|n| !folder_before.contains(n))
            .collect();
        assert_eq!(added, vec!["out.msp"], "retarget left other files");
        let again = run_bin(&["inspect".as_ref(), output.as_os_str()]);
        check("inspect of the output", &again, Want::Accepted, &output);
    } else {
        assert_eq!(
            folder_after, folder_before,
            "a failed retarget changed the output folder (output or temporary file left)"
        );
        assert!(
            !output.is_file() || custom_output,
            "a failed retarget left an output"
        );
        assert!(
            !folder_after
                .iter()
                .any(|n| n.ends_with(".msp-retarget.tmp")),
            "temporary file left: {folder_after:?}"
        );
    }

    if let Some(want) = c.inspect {
        let ran = run_bin(&["inspect".as_ref(), input.as_os_str()]);
        check("inspect", &ran, want, &input);
        assert_eq!(checksum(&input), before, "inspect changed the input");
    }

    // sequence reads the patch strictly and its database through the msi
    // crate: an answer or an error naming the input, never a panic or a hang.
    let ran = run_bin(&[
        "sequence".as_ref(),
        input.as_os_str(),
        "--product".as_ref(),
        "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11},1.0.0.0,1033".as_ref(),
    ]);
    let context = format!("sequence: exit {:?}, stderr:\n{}", ran.code, ran.stderr);
    assert!(ran.elapsed < TIME_LIMIT, "{context}");
    assert!(!ran.stderr.contains("panicked"), "{context}");
    assert!(matches!(ran.code, 0..=2), "{context}");
    if ran.code == 2 {
        let prefix = format!("msp-retarget: {}: ", input.display());
        assert!(ran.stderr.starts_with(&prefix), "{context}");
    }
    assert_eq!(checksum(&input), before, "sequence changed the input");

    // inspect --tables decodes every transform's rows (the transform
    // view): the same bar.
    let ran = run_bin(&["inspect".as_ref(), input.as_os_str(), "--tables".as_ref()]);
    let context = format!(
        "inspect --tables: exit {:?}, stderr:\n{}",
        ran.code, ran.stderr
    );
    assert!(ran.elapsed < TIME_LIMIT, "{context}");
    assert!(!ran.stderr.contains("panicked"), "{context}");
    assert!(matches!(ran.code, 0..=2), "{context}");
    if ran.code == 2 {
        let prefix = format!("msp-retarget: {}: ", input.display());
        assert!(ran.stderr.starts_with(&prefix), "{context}");
        assert_eq!(ran.stderr.lines().count(), 1, "{context}");
    }
    assert_eq!(
        checksum(&input),
        before,
        "inspect --tables changed the input"
    );
}

/// One test per case: `name: input, retarget outcome, inspect outcome;`.
macro_rules! cases {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run_case($case);
            }
        )*
    };
}

use Want::{Accepted, Error, Refused};

//===========================================================================//
// Not a patch at all

cases! {
    an_empty_file: case(Vec::new(), Error(&["the file is empty"]), Error(&["the file is empty"]));
    a_text_file: case(b"hello, world\n".to_vec(), Error(&["compound-file signature"]), Error(&["compound-file signature"]));
    shorter_than_the_signature: case(vec![0xD0, 0xCF, 0x11], Error(&["compound-file signature"]), Error(&["compound-file signature"]));
    an_installer_database: case(package_bytes(msi::PackageType::Installer), Error(&["installer database (.msi)"]), Accepted);
    a_transform: case(package_bytes(msi::PackageType::Transform), Error(&["a transform (.mst)"]), Accepted);
    a_compound_file_of_another_kind: case(with_cfb(valid(), |cf| cf.set_storage_clsid("/", uuid::Uuid::nil()).unwrap()), Error(&["unknown kind"]), Accepted);
    a_directory: Case {
        input: Input::Path(Box::new(|d| {
            let p = d.join("folder.msp");
            std::fs::create_dir(&p).unwrap();
            p
        })),
        output: Output::Normal,
        retarget: Error(&["is a directory"]),
        inspect: Some(Error(&["is a directory"])),
    };
    a_missing_file: Case {
        input: Input::Path(Box::new(|d| d.join("missing.msp"))),
        output: Output::Normal,
        retarget: Error(&["cannot read"]),
        inspect: Some(Error(&["cannot read"])),
    };
    a_symbolic_link_loop: Case {
        input: Input::Path(Box::new(|d| {
            std::os::unix::fs::symlink(d.join("b.msp"), d.join("a.msp")).unwrap();
            std::os::unix::fs::symlink(d.join("a.msp"), d.join("b.msp")).unwrap();
            d.join("a.msp")
        })),
        output: Output::Normal,
        retarget: Error(&["cannot read"]),
        inspect: Some(Error(&["cannot read"])),
    };
}

/// chmod 000 blocks reading except for a privileged user (root in CI):
/// there the file reads and the retarget succeeds, which is also right.
#[test]
fn an_unreadable_file() {
    let probe = tempfile::NamedTempFile::new().unwrap();
    set_mode(probe.path(), 0o000);
    let privileged = std::fs::File::open(probe.path()).is_ok();
    let want = if privileged {
        Accepted
    } else {
        Error(&["cannot open", "ermission denied"])
    };
    run_case(Case {
        input: Input::Path(Box::new(|d| {
            let p = d.join("locked.msp");
            std::fs::write(&p, valid()).unwrap();
            set_mode(&p, 0o000);
            p
        })),
        output: Output::Normal,
        retarget: want,
        inspect: Some(want),
    });
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

//===========================================================================//
// Truncated files

cases! {
    truncated_inside_the_header: case(truncated(valid(), 300), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    truncated_after_the_header: case(truncated(valid(), 512), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    truncated_to_half: {
        let v = valid();
        let half = v.len() / 2;
        case(truncated(v, half), Error(&["compound-file structure", "file has only"]), Error(&["file has only"]))
    };
    // The cut lies in unused space of the last sector (cfb allows a
    // short last sector); the result verifies.
    truncated_by_a_partial_sector: {
        let v = valid();
        let len = v.len() - 100;
        case(truncated(v, len), Accepted, Accepted)
    };
    truncated_inside_the_cabinet: {
        let v = valid();
        let image = Image(v.clone());
        let cab = image.cabinet();
        let last = *image.chain(image.start_of(&cab)).last().unwrap();
        let cut = image.sector_at(last) + 10;
        case(truncated(v, cut), Error(&["compound-file structure", "file has only"]), Error(&["file has only"]))
    };
}

//===========================================================================//
// The compound-file structure

/// A damaged cabinet chain shows when the cabinet is read whole, which
/// verification does; the message blames the input, not the output. (The
/// lazy reader follows a chain when the stream is opened: "cannot open
/// the input's stream: its chain ends after ...".)
const CABINET_UNREADABLE: &[&str] = &["the input's stream", "(PCW_CAB_Sample)"];

cases! {
    a_bad_sector_shift: case(raw(|i| put_u16(&mut i.0, 0x1E, 7)), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    // cfb trusts the DIFAT, not the count; the result verifies.
    a_huge_fat_sector_count: case(raw(|i| put_u32(&mut i.0, 0x2C, 0x7FFF_FFFF)), Accepted, Accepted);
    a_fat_sector_beyond_the_file: case(raw(|i| put_u32(&mut i.0, 0x4C, 0x00FF_FFF0)), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_difat_chain_that_loops: case(raw(|i| {
        // More FAT sectors than the header holds, continued in a DIFAT
        // sector whose "next" points back to itself.
        let s = i.sector_len();
        put_u32(&mut i.0, 0x2C, 200);
        put_u32(&mut i.0, 0x44, 0);
        put_u32(&mut i.0, 0x48, 1);
        let at = i.sector_at(0) + s - 4;
        put_u32(&mut i.0, at, 0);
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_directory_sector_beyond_the_file: case(raw(|i| put_u32(&mut i.0, 0x30, 0x00FF_FFF0)), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_directory_chain_that_loops: case(raw(|i| {
        let dir = get_u32(&i.0, 0x30);
        let at = i.fat_slot(dir);
        put_u32(&mut i.0, at, dir);
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    // cfb reads the directory's one sector and stops at the bad link; the
    // edit rewrites the directory chain, and the result verifies.
    a_directory_chain_leaving_the_file: case(raw(|i| {
        let dir = get_u32(&i.0, 0x30);
        let at = i.fat_slot(dir);
        put_u32(&mut i.0, at, 0x00FF_FFF0);
    }), Accepted, Accepted);
    a_directory_cycle: case(raw(|i| {
        // The transform storage becomes its own child.
        let t = i.entry("/rtmA.1");
        put_u32(&mut i.0, t.at + 0x4C, t.id);
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_sibling_that_is_its_own_sibling: case(raw(|i| {
        let t = i.entry(ROOT_SUMMARY);
        put_u32(&mut i.0, t.at + 0x44, t.id);
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_sibling_out_of_range: case(raw(|i| {
        let t = i.entry("/rtmA.1");
        put_u32(&mut i.0, t.at + 0x48, 5000);
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    an_entry_of_unknown_type: case(raw(|i| {
        let t = i.entry("/#rtmA.1");
        i.0[t.at + 0x42] = 7;
    }), Error(&["compound-file structure"]), Error(&["compound-file structure"]));
    a_cabinet_chain_that_loops: case(raw(|i| {
        let cab = i.cabinet();
        let second = i.chain(i.start_of(&cab))[1];
        let at = i.fat_slot(second);
        let start = i.start_of(&cab);
        put_u32(&mut i.0, at, start);
    }), Error(CABINET_UNREADABLE), Accepted);
    a_cabinet_chain_leaving_the_file: case(raw(|i| {
        let cab = i.cabinet();
        let at = i.fat_slot(i.start_of(&cab));
        put_u32(&mut i.0, at, 0x00FF_FFF0);
    }), Error(CABINET_UNREADABLE), Accepted);
    a_cabinet_chain_ending_early: case(raw(|i| {
        let cab = i.cabinet();
        let at = i.fat_slot(i.start_of(&cab));
        put_u32(&mut i.0, at, END_OF_CHAIN);
    }), Error(CABINET_UNREADABLE), Accepted);
    a_cabinet_starting_beyond_the_file: case(raw(|i| {
        let cab = i.cabinet();
        put_u32(&mut i.0, cab.at + 0x74, 0x00FF_FFF0);
    }), Error(CABINET_UNREADABLE), Accepted);
    a_mini_chain_that_loops: case(raw(|i| {
        let s = i.entry(ROOT_SUMMARY);
        let at = i.minifat_slot(i.start_of(&s));
        let start = i.start_of(&s);
        put_u32(&mut i.0, at, start);
    }), Error(&["root, stream \\005SummaryInformation", "mini chain runs back"]), Accepted);
    a_mini_chain_leaving_the_mini_stream: case(raw(|i| {
        let s = i.entry(ROOT_SUMMARY);
        let at = i.minifat_slot(i.start_of(&s));
        put_u32(&mut i.0, at, 0x00FF_FFF0);
    }), Error(&["compound-file structure", "MiniFAT"]), Error(&["MiniFAT"]));
    a_transform_summary_chain_that_loops: case(raw(|i| {
        let s = i.entry(T_SUMMARY);
        let at = i.minifat_slot(i.start_of(&s));
        let start = i.start_of(&s);
        put_u32(&mut i.0, at, start);
    }), Error(&["storage rtmA.1", "stream rtmA.1/\\005SummaryInformation"]), Accepted);
    a_summary_declaring_a_terabyte: case(raw(|i| {
        let s = i.entry(ROOT_SUMMARY);
        i.0[s.at + 0x78..s.at + 0x80].copy_from_slice(&(1u64 << 40).to_le_bytes());
    }), Error(&["stream \\005SummaryInformation", "declares 1099511627776 bytes"]), Error(&["more than the whole"]));
    // Regression (fuzz target `pipeline`, `crash-b45f5b0f…`): cfb trusts
    // the mini stream's length when it adds a small stream, and extended
    // the root chain towards it: a 24 KB input wrote 17 GB.
    r_a_mini_stream_declaring_exabytes: case(raw(|i| {
        let root = i.entry("/");
        i.0[root.at + 0x78..root.at + 0x80].copy_from_slice(&0x3B00_0000_0000_1C00u64.to_le_bytes());
    }), Error(&["compound-file structure", "4251398048237755392-byte mini stream"]), Error(&["mini stream"]));
    a_mini_stream_longer_than_the_file: case(raw(|i| {
        let root = i.entry("/");
        let len = (i.0.len() as u64 + 4096) & !63;
        i.0[root.at + 0x78..root.at + 0x80].copy_from_slice(&len.to_le_bytes());
    }), Error(&["compound-file structure", "mini stream, more than the whole"]), Error(&["mini stream"]));
    a_name_length_over_32_units: case(raw(|i| {
        let t = i.entry("/rtmA.1");
        put_u16(&mut i.0, t.at + 0x40, 66);
    }), Error(&["compound-file structure", "name length"]), Error(&["compound-file structure"]));
}

//===========================================================================//
// The root summary information: property-set structure

cases! {
    no_summary_stream: case(with_cfb(valid(), |cf| cf.remove_stream(ROOT_SUMMARY).unwrap()), Error(&["root", "no \\005SummaryInformation stream"]), Accepted);
    a_summary_over_4_mib: case(with_stream(valid(), ROOT_SUMMARY, |b| b.resize(4 * 1024 * 1024 + 1, 0)), Error(&["stream \\005SummaryInformation", "limited to 4194304 bytes"]), Accepted);
    a_summary_shorter_than_its_header: case(summary_raw(ROOT_SUMMARY, |b| b.truncate(10)), Error(&["stream \\005SummaryInformation", "offset 0x0", "header"]), Accepted);
    a_wrong_byte_order_mark: case(summary_raw(ROOT_SUMMARY, |b| put_u16(b, 0, 0xFEFF)), Error(&["stream \\005SummaryInformation", "byte order"]), Accepted);
    no_section: case(summary_raw(ROOT_SUMMARY, |b| put_u32(b, 24, 0)), Error(&["stream \\005SummaryInformation", "offset 0x18"]), Accepted);
    a_section_count_beyond_the_stream: case(summary_raw(ROOT_SUMMARY, |b| put_u32(b, 24, 0x0100_0000)), Error(&["stream \\005SummaryInformation", "offset 0x18", "sections declared"]), Accepted);
    a_section_offset_out_of_range: case(summary_raw(ROOT_SUMMARY, |b| put_u32(b, 44, 0xFFFF)), Error(&["stream \\005SummaryInformation", "offset 0x2c", "section 0 offset 0xffff"]), Accepted);
    a_section_larger_than_the_stream: case(summary_raw(ROOT_SUMMARY, |b| { let s = ps::section(b); put_u32(b, s, 0x10000) }), Error(&["stream \\005SummaryInformation", "offset 0x30", "only"]), Accepted);
    a_huge_property_count: case(summary_raw(ROOT_SUMMARY, |b| { let s = ps::section(b); put_u32(b, s + 4, 0x1000_0000) }), Error(&["stream \\005SummaryInformation", "offset 0x34", "properties"]), Accepted);
    a_property_offset_beyond_the_section: case(summary_raw(ROOT_SUMMARY, |b| { let at = ps::slot(b, TEMPLATE) + 4; put_u32(b, at, 0x000F_FFF0) }), Error(&["stream \\005SummaryInformation", "property 7 offset 0xffff0"]), Accepted);
    a_property_offset_inside_the_table: case(summary_raw(ROOT_SUMMARY, |b| { let at = ps::slot(b, TEMPLATE) + 4; put_u32(b, at, 8) }), Error(&["stream \\005SummaryInformation", "property 7 offset 0x8"]), Accepted);
    two_properties_sharing_a_value: case(summary_raw(ROOT_SUMMARY, |b| { let v = get_u32(b, ps::slot(b, TEMPLATE) + 4); let at = ps::slot(b, LAST_SAVED_BY) + 4; put_u32(b, at, v) }), Error(&["stream \\005SummaryInformation", "share the value"]), Accepted);
    a_huge_declared_string_length: case(summary_raw(ROOT_SUMMARY, |b| { let at = ps::value(b, TEMPLATE) + 4; put_u32(b, at, 0xFFFF_FFF0) }), Error(&["stream \\005SummaryInformation", "4294967280-byte string"]), Accepted);
    a_second_section_inside_the_first: case(two_sections(true), Error(&["stream \\005SummaryInformation", "section 1 starts inside section 0"]), Accepted);
    a_well_formed_second_section: case(two_sections(false), Accepted, Accepted);
    a_string_without_its_nul: case(summary_raw(ROOT_SUMMARY, |b| {
        // The declared length leaves the NUL out; the text stays the same.
        let at = ps::value(b, LAST_SAVED_BY) + 4;
        let len = get_u32(b, at);
        put_u32(b, at, len - 1);
    }), Accepted, Accepted);
    an_unsupported_code_page: case(set_value(valid(), ROOT_SUMMARY, CODEPAGE, PropertyValue::I2(9999)), Error(&["stream \\005SummaryInformation", "property 7 (Template)", "code page 9999"]), Accepted);
    invalid_utf16_in_code_page_1200: case(with_set(valid(), ROOT_SUMMARY, |s| {
        s.set(CODEPAGE, PropertyValue::I2(1200)).unwrap();
        s.set(TEMPLATE, PropertyValue::Lpstr(vec![0x00, 0xD8, 0x41, 0x00])).unwrap();
    }), Error(&["stream \\005SummaryInformation", "property 7 (Template)", "UTF-16"]), Accepted);
}

//===========================================================================//
// The root summary information: what the properties say

cases! {
    template_is_an_integer: case(set_value(valid(), ROOT_SUMMARY, TEMPLATE, PropertyValue::I4(7)), Error(&["stream \\005SummaryInformation", "property 7 (Template)", "VT_I4"]), Accepted);
    last_saved_by_is_an_integer: case(set_value(valid(), ROOT_SUMMARY, LAST_SAVED_BY, PropertyValue::I4(8)), Error(&["property 8 (LastSavedBy)", "VT_I4"]), Accepted);
    revision_number_is_a_filetime: case(set_value(valid(), ROOT_SUMMARY, REVISION_NUMBER, PropertyValue::FileTime(1)), Error(&["property 9 (RevisionNumber)", "VT_FILETIME"]), Accepted);
    template_is_missing: case(remove_prop(valid(), ROOT_SUMMARY, TEMPLATE), Error(&["stream \\005SummaryInformation", "property 7 (Template)", "is missing"]), Accepted);
    a_target_that_is_not_a_guid: case(set_text(valid(), ROOT_SUMMARY, TEMPLATE, "{not-a-guid}"), Error(&["property 7 (Template)", "{not-a-guid}"]), Accepted);
    no_target: case(with_spec(|s| s.targets.clear()), Error(&["Template lists no target"]), Accepted);
    patch_code_malformed: case(with_spec(|s| s.patch_code = "3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A01".into()), Error(&["property 9 (RevisionNumber)", "braced patch code"]), Accepted);
    patch_code_with_trailing_text: case(with_spec(|s| s.patch_code.push_str("garbage")), Error(&["property 9 (RevisionNumber)", "\"garbage\""]), Accepted);
    patch_code_empty: case(set_text(valid(), ROOT_SUMMARY, REVISION_NUMBER, ""), Error(&["property 9 (RevisionNumber)"]), Accepted);
}

//===========================================================================//
// LastSavedBy and the transform storages

const NOT_A_NAME: &[&str] = &["not the name of a storage at the root"];

fn last_saved_by(text: &'static str) -> Vec<u8> {
    with_spec(|s| s.extra_last_saved_by = Some(text.into()))
}

cases! {
    last_saved_by_names_a_missing_storage: case(last_saved_by(":rtmA.1;:#rtmA.1;:gone"), Error(&["no storage of that name", ":gone"]), Accepted);
    last_saved_by_names_a_stream: case(with_cfb(last_saved_by(":rtmA.1;:#rtmA.1;:plain"), |cf| {
        cf.create_stream("/plain").unwrap().write_all(b"plain").unwrap();
    }), Error(&["that entry is a stream", ":plain"]), Accepted);
    last_saved_by_names_the_summary: case(last_saved_by(":\u{5}SummaryInformation"), Error(&["that entry is a stream", "\\005SummaryInformation"]), Accepted);
    last_saved_by_without_colons: case(last_saved_by("rtmA.1;#rtmA.1"), Error(&["property 8 (LastSavedBy)", "does not start with ':'"]), Accepted);
    last_saved_by_partner_first: case(last_saved_by(":#rtmA.1;:rtmA.1"), Error(&["property 8 (LastSavedBy)", "partner :#rtmA.1"]), Accepted);
    last_saved_by_partner_of_another: case(last_saved_by(":rtmA.1;:#rtmB.1"), Error(&["property 8 (LastSavedBy)", "partner :#rtmB.1"]), Accepted);
    last_saved_by_with_an_empty_entry: case(last_saved_by(":rtmA.1;:#rtmA.1;:"), Error(&["property 8 (LastSavedBy)", "empty entry"]), Accepted);
    last_saved_by_lists_a_pair_twice: case(last_saved_by(":rtmA.1;:#rtmA.1;:rtmA.1;:#rtmA.1"), Error(&["property 8 (LastSavedBy)", "lists :rtmA.1 more than once"]), Accepted);
    last_saved_by_lists_a_name_twice_in_another_case: case(last_saved_by(":rtmA.1;:#rtmA.1;:RTMA.1"), Error(&["property 8 (LastSavedBy)", "lists :RTMA.1 more than once"]), Accepted);
    // Regression: these names were resolved as paths, to a nested entry or
    // to the root, whose summary was then read as a transform's.
    last_saved_by_names_a_path: case(last_saved_by(":rtmA.1/\u{5}SummaryInformation"), Error(NOT_A_NAME), Accepted);
    last_saved_by_names_the_parent: case(last_saved_by(":rtmA.1/.."), Error(NOT_A_NAME), Accepted);
    last_saved_by_names_the_root: case(last_saved_by(":."), Error(NOT_A_NAME), Accepted);
    last_saved_by_names_a_nested_storage: case(with_cfb(last_saved_by(":rtmA.1/inner;:#rtmA.1/inner"), |cf| {
        cf.create_storage("/rtmA.1/inner").unwrap();
    }), Error(NOT_A_NAME), Accepted);
    last_saved_by_names_32_units: case(last_saved_by(":rtmA.1xxxxxxxxxxxxxxxxxxxxxxxxxx"), Error(NOT_A_NAME), Accepted);
    last_saved_by_lists_no_pair: case(last_saved_by(""), Error(&["no transform pair"]), Accepted);
    a_transform_without_summary: case(with_cfb(valid(), |cf| cf.remove_stream(T_SUMMARY).unwrap()), Error(&["storage rtmA.1", "no \\005SummaryInformation stream"]), Accepted);
    a_transform_summary_of_garbage: case(with_stream(valid(), T_SUMMARY, |b| *b = b"garbage".to_vec()), Error(&["storage rtmA.1", "stream rtmA.1/\\005SummaryInformation", "offset 0x0", "28-byte header"]), Accepted);
    transform_revision_without_a_guid: case(with_spec(|s| s.pairs[0].from_code.clear()), Error(&["storage rtmA.1", "property 9 (RevisionNumber)", "braced product code"]), Accepted);
    transform_revision_with_a_malformed_guid: case(with_spec(|s| s.pairs[0].from_code = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A1G}".into()), Error(&["storage rtmA.1", "property 9 (RevisionNumber)", "from product code"]), Accepted);
    transform_revision_with_a_malformed_upgrade_code: case(with_spec(|s| s.pairs[0].upgrade_code = "{upgrade}".into()), Error(&["storage rtmA.1", "property 9 (RevisionNumber)", "upgrade code"]), Accepted);
    transform_revision_missing: case(remove_prop(valid(), T_SUMMARY, REVISION_NUMBER), Error(&["storage rtmA.1", "property 9 (RevisionNumber)", "is missing"]), Accepted);
    transform_revision_is_an_integer: case(set_value(valid(), T_SUMMARY, REVISION_NUMBER, PropertyValue::I4(9)), Error(&["storage rtmA.1", "property 9 (RevisionNumber)", "VT_I4"]), Accepted);
    partner_revision_malformed: case(set_text(valid(), P_SUMMARY, REVISION_NUMBER, "{5F6A1D2E}1.0;x;"), Error(&["storage #rtmA.1", "property 9 (RevisionNumber)"]), Accepted);
    a_storage_name_of_31_units: case(pair_named(31), Accepted, Accepted);
    a_storage_name_of_32_units_without_nul: case(raw_of(pair_named(31), |i| {
        // Length 64 bytes is 31 units and a NUL; put a 32nd unit where the
        // NUL belongs.
        let name = format!("/#{:x<30}", "rtm");
        let t = i.entry(&name);
        put_u16(&mut i.0, t.at + 62, u16::from(b'z'));
    }), Accepted, Accepted);
}

//===========================================================================//
// Work that grows with what the file lists

cases! {
    // Regression: each listing of a pair was read, planned and copied
    // again, and planning compares every pair with every pair (text built
    // and parsed each time): 2,000 listings (36 KB of LastSavedBy) took 15
    // seconds, 8,000 took 4.5 minutes, a 4 MiB summary days.
    last_saved_by_lists_a_pair_200000_times: case(with_spec(|s| s.extra_last_saved_by = Some(":rtmA.1;:#rtmA.1;".repeat(200_000))), Error(&["property 8 (LastSavedBy)", "more than once"]), Accepted);
    last_saved_by_lists_more_than_8192_pairs: case(with_spec(|s| {
        s.extra_last_saved_by = Some((0..8193).map(|k| format!(":t{k};")).collect());
    }), Error(&["property 8 (LastSavedBy)", "lists 8193 transform pairs", "more than 8192"]), Accepted);
}

/// Retargets `bytes` to `I1` in-process (`-o`), counting the pair-with-pair
/// comparisons of the whole run (plan, verification, gate), then inspects
/// it. The work is bounded by counting, not timing: a timed run fails on a
/// loaded machine and passes a slow algorithm on a fast one.
fn retarget_counted(
    bytes: Vec<u8>,
) -> (
    msp_retarget::Result<msp_retarget::report::RetargetReport>,
    u64,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let input = dir.path().join("in.msp");
    std::fs::write(&input, &bytes).expect("writing the input");
    let request = msp_retarget::RetargetRequest {
        input: input.clone(),
        destination: msp_retarget::Destination::Output(dir.path().join("out.msp")),
        instances: vec![msp_retarget::InstanceRequest::parse(I1).expect("an instance")],
        // Hundreds of pairs on purpose: past the transform limit.
        options: msp_retarget::PlanOptions {
            beyond_transform_limit: true,
            ..msp_retarget::PlanOptions::default()
        },
    };
    msp_retarget::testkit::work::reset();
    let result = msp_retarget::retarget(&request);
    let comparisons = msp_retarget::testkit::work::copy_comparisons();
    let inspected = msp_retarget::inspect(&input).expect("inspect reads it");
    assert!(inspected.problems.is_empty(), "{:?}", inspected.problems);
    assert_eq!(
        std::fs::read(&input).expect("the input"),
        bytes,
        "the input changed"
    );
    (result, comparisons, dir)
}

/// 600 distinct pairs of one product (1,200 transform storages, 600
/// copies): planning and checking compare pairs with pairs, and must do so
/// a bounded number of times per pair, not for every pair of every pair.
#[test]
fn six_hundred_pairs_retarget_with_linear_work() {
    let n = 600;
    let bytes = with_spec(|s| {
        let pair = s.pairs[0].clone();
        s.cabinet_len = 100;
        s.pairs = (0..n)
            .map(|k| msp_retarget::testkit::synth::PairSpec {
                name: format!("p{k}"),
                ..pair.clone()
            })
            .collect();
    });
    let (result, comparisons, dir) = retarget_counted(bytes);
    let report = result.expect("the retarget");
    assert_eq!(report.outcome, msp_retarget::Outcome::Done);
    assert_eq!(
        report.plan.copies.len(),
        2 * n,
        "a main transform and its partner per pair"
    );
    assert!(
        comparisons <= 8 * n as u64,
        "{comparisons} pair comparisons for {n} pairs"
    );
    drop(dir);
}

/// Regression: 1,200 products with a pair each, all in Template. Telling
/// which products are earlier retargets scanned every pair for every pair
/// of every product (cubic: 2,000 took 15 seconds in a release build); it
/// compares each product's pairs with those of the products before it,
/// at most once per pair of products.
#[test]
fn twelve_hundred_products_resolve_with_quadratic_work() {
    let n: u64 = 1200;
    let bytes = with_spec(|s| {
        let pair = s.pairs[0].clone();
        s.cabinet_len = 100;
        s.pairs = (0..n)
            .map(|k| {
                let code = format!("{{{k:08X}-5555-4555-8555-555555555555}}");
                msp_retarget::testkit::synth::PairSpec {
                    name: format!("p{k}"),
                    from_code: code.clone(),
                    to_code: code,
                    ..pair.clone()
                }
            })
            .collect();
        s.targets = s.pairs.iter().map(|p| p.from_code.clone()).collect();
    });
    let (result, comparisons, dir) = retarget_counted(bytes);
    let e = result.expect_err("a request without a base is ambiguous");
    assert_eq!(e.kind(), msp_retarget::ErrorKind::Refused, "{e}");
    assert!(
        e.to_string().contains("the patch targets 1200 products"),
        "{e}"
    );
    assert!(
        comparisons <= n * (n - 1) / 2,
        "{comparisons} pair comparisons for {n} products"
    );
    drop(dir);
}

//===========================================================================//
// Names the compound-file format forbids

/// A root stream renamed in place (same length, same order among its
/// siblings) to a name with a character cfb refuses to create.
fn forbidden_name(c: char) -> Vec<u8> {
    let bytes = with_cfb(valid(), |cf| {
        cf.create_stream("/zzzzz").unwrap().write_all(b"x").unwrap();
    });
    raw_of(bytes, |i| {
        let e = i.entry("/zzzzz");
        put_u16(&mut i.0, e.at + 8, c as u16);
    })
}

/// cfb checks names when it reads the directory, so these never reach a
/// write (where it asserts them valid).
const FORBIDDEN: &[&str] = &["compound-file structure", "Object name cannot contain"];

cases! {
    a_stream_name_with_a_slash: case(forbidden_name('/'), Error(FORBIDDEN), Error(FORBIDDEN));
    a_stream_name_with_a_colon: case(forbidden_name(':'), Error(FORBIDDEN), Error(FORBIDDEN));
    a_stream_name_with_a_bang: case(forbidden_name('!'), Error(FORBIDDEN), Error(FORBIDDEN));
    a_stream_name_with_a_backslash: case(forbidden_name('\\'), Error(FORBIDDEN), Error(FORBIDDEN));
}

//===========================================================================//
// Where the output goes

fn output_case(output: impl FnOnce(&Path) -> PathBuf + 'static, want: Want) -> Case {
    Case {
        input: Input::Bytes(valid()),
        output: Output::Custom(Box::new(output)),
        retarget: want,
        inspect: None,
    }
}

cases! {
    an_output_in_a_missing_folder: output_case(|d| d.join("missing").join("out.msp"), Error(&["the output folder", "does not exist"]));
    an_output_under_a_regular_file: output_case(|d| {
        std::fs::write(d.join("file"), b"x").unwrap();
        d.join("file").join("out.msp")
    }, Error(&["does not exist"]));
    an_output_that_is_a_folder: output_case(|d| {
        std::fs::create_dir_all(d.join("out").join("taken.msp")).unwrap();
        d.join("out").join("taken.msp")
    }, Error(&["is a folder, not a regular file"]));
    an_output_that_is_the_input: output_case(|d| d.join("in.msp"), Error(&["use --in-place"]));
}

/// A read-only output folder refuses the temporary file, except for a
/// privileged user, who writes there anyway.
#[test]
fn an_output_in_a_read_only_folder() {
    let probe = tempfile::tempdir().unwrap();
    set_mode(probe.path(), 0o555);
    let privileged = std::fs::write(probe.path().join("x"), b"x").is_ok();
    set_mode(probe.path(), 0o755);
    let want = if privileged {
        Accepted
    } else {
        Error(&["cannot create a temporary file"])
    };
    run_case(Case {
        input: Input::Bytes(valid()),
        output: Output::Custom(Box::new(|d| {
            let ro = d.join("ro");
            std::fs::create_dir(&ro).unwrap();
            set_mode(&ro, 0o555);
            ro.join("out.msp")
        })),
        retarget: want,
        inspect: None,
    });
}

//===========================================================================//
// Fuzz finds

/// Nulls the first row's name in the `_Tables` table of a database: the
/// `msi` crate unwraps it as a string and panics.
fn null_table_name(bytes: Vec<u8>) -> Vec<u8> {
    let name = format!(
        "/{}",
        msp_retarget::testkit::streamname::encode("_Tables", true)
    );
    with_stream(bytes, &name, |b| {
        b[0] = 0;
        b[1] = 0;
    })
}

/// Regression (fuzz target `transform`, `smoke-transform/crash-333d8e54…`):
/// `inspect` of a patch whose database has a null table name panicked in
/// the msi crate (exit 101); it now lists the problem and exits 0.
#[test]
fn r_msi_panics_on_a_null_table_name_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, null_table_name(valid())).unwrap();
    let out = crate::util::cli(["inspect".as_ref(), input.as_os_str()])
        .timeout(TIME_LIMIT)
        .run();
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("the msi crate failed"), "{stdout}");
    // The retarget does not read the database: it succeeds.
    run_case(case(null_table_name(valid()), Accepted, Accepted));
}

/// The same database fault in a product read for its instances
/// (`--instances-from`): an error naming the product, not a panic.
#[test]
fn r_msi_panics_on_a_null_table_name_instances_from() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, valid()).unwrap();
    let product = dir.path().join("product.msi");
    std::fs::write(
        &product,
        null_table_name(package_bytes(msi::PackageType::Installer)),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let ran = run_bin(&[
        "retarget".as_ref(),
        input.as_os_str(),
        "--instances-from".as_ref(),
        product.as_os_str(),
        "-o".as_ref(),
        out_dir.join("out.msp").as_os_str(),
    ]);
    check(
        "retarget --instances-from",
        &ran,
        Error(&["the msi crate failed"]),
        &product,
    );
    assert!(names_in(&out_dir).is_empty());
}

/// Regression (issue 13, item 11): `check PATCH --package BAD.msi`, where
/// BAD.msi has a null table name, panicked in the msi crate (exit 101): the
/// product facts were read without the guarded entry. It is now an error
/// naming the product and the table; so is `check --instances-from`, and
/// `retarget --instances-from` names the table too.
#[test]
fn r_msi_panics_on_a_null_table_name_check_package() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, valid()).unwrap();
    let product = dir.path().join("product.msi");
    std::fs::write(
        &product,
        null_table_name(package_bytes(msi::PackageType::Installer)),
    )
    .unwrap();
    let want = Error(&[
        "the msi crate failed",
        "table _Tables, row 1 (a table without a name)",
    ]);
    for flag in ["--package", "--instances-from"] {
        let ran = run_bin(&[
            "check".as_ref(),
            input.as_os_str(),
            flag.as_ref(),
            product.as_os_str(),
        ]);
        check(&format!("check {flag}"), &ran, want, &product);
    }
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let ran = run_bin(&[
        "retarget".as_ref(),
        input.as_os_str(),
        "--instances-from".as_ref(),
        product.as_os_str(),
        "-o".as_ref(),
        out_dir.join("out.msp").as_os_str(),
    ]);
    check("retarget --instances-from", &ran, want, &product);
    assert!(names_in(&out_dir).is_empty());
}

/// Appends a string of `len` declared bytes to the `_StringPool` of a
/// database (a zero length with a reference count, then the 32-bit length).
fn huge_pool_string(bytes: Vec<u8>, len: u32) -> Vec<u8> {
    let name = format!(
        "/{}",
        msp_retarget::testkit::streamname::encode("_StringPool", true)
    );
    with_stream(bytes, &name, |b| {
        b.extend_from_slice(&[0, 0, 1, 0]);
        b.extend_from_slice(&len.to_le_bytes());
    })
}

/// Runs the binary with `args` under a 2 GB address-space limit, where an
/// allocation of gigabytes fails (and aborts the process) instead of
/// being granted lazily.
#[cfg(target_os = "linux")]
fn run_limited(args: &[&std::ffi::OsStr]) -> Run {
    crate::util::cli(args).memory_limit(2_000_000_000).run()
}

/// `inspect` of `bytes` under the address-space limit: it must end with
/// exit 0 (inspect lists a broken part as a problem) and print `texts`.
#[cfg(target_os = "linux")]
fn inspect_limited_lists(bytes: Vec<u8>, texts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, bytes).unwrap();
    let out = run_limited(&["inspect".as_ref(), input.as_os_str()]);
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.code, 0, "{stderr}");
    for text in texts {
        assert!(stdout.contains(text), "no {text:?} in:\n{stdout}");
    }
}

/// Regression (fuzz target `pipeline`, `oom-37fa0ba8…`): the msi crate
/// allocates every string length `_StringPool` declares (up to 4 GiB)
/// before reading it. `inspect` now refuses to hand it such a database.
#[cfg(target_os = "linux")]
#[test]
fn r_msi_allocates_a_declared_string_length() {
    inspect_limited_lists(
        huge_pool_string(valid(), 0xFFFF_0000),
        &["bytes of _StringData"],
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, valid()).unwrap();

    let product = dir.path().join("product.msi");
    let bytes = huge_pool_string(package_bytes(msi::PackageType::Installer), 0xFFFF_0000);
    std::fs::write(&product, bytes).unwrap();
    let out = run_limited(&[
        "retarget".as_ref(),
        input.as_os_str(),
        "--instances-from".as_ref(),
        product.as_os_str(),
        "--dry-run".as_ref(),
    ]);
    let stderr = &out.stderr;
    assert_eq!(out.code, 2, "{stderr}");
    assert!(
        stderr.starts_with(&format!("msp-retarget: {}: ", product.display()))
            && stderr.contains("(table _StringPool)")
            && stderr.contains("bytes of _StringData"),
        "{stderr}"
    );
}

/// Regression (fuzz target `pipeline`, `oom-c9ecfafe…`): the msi crate
/// reserves a summary string's declared length (up to 4 GiB) before
/// reading it; `inspect` now lists the broken summary and does not hand
/// the file to the crate.
#[cfg(target_os = "linux")]
#[test]
fn r_msi_allocates_a_declared_summary_string() {
    let bytes = summary_raw(ROOT_SUMMARY, |b| {
        let at = ps::value(b, TEMPLATE) + 4;
        put_u32(b, at, 0xFFFF_FFF0);
    });
    inspect_limited_lists(
        bytes,
        &[
            "the patch database could not be read",
            "4294967280-byte string",
        ],
    );
}

/// Regression (fuzz target `transform`, `crash-1c6ad0f6…`, an allocation of
/// 1.29 GB): property 0 of a summary is a dictionary to this crate's
/// parser, which keeps it as it is, but the msi crate reads it as a typed
/// value, and a string type with a 4 GiB length made it reserve that much.
#[cfg(target_os = "linux")]
#[test]
fn r_msi_allocates_a_string_declared_as_property_0() {
    let bytes = summary_raw(ROOT_SUMMARY, |b| {
        let slot = ps::slot(b, 3);
        let at = ps::value(b, 3);
        put_u32(b, slot, 0);
        put_u32(b, at + 4, 0xFFFF_FFF0);
    });
    inspect_limited_lists(bytes, &["property 0 declares a 4294967280-byte string"]);
}

cases! {
    // The msi crate sizes a table's rows by the declared stream length.
    a_table_stream_declaring_more_than_the_file: case(raw(|i| {
        let name = format!("/{}", msp_retarget::testkit::streamname::encode("_Tables", true));
        let e = i.entry(&name);
        i.0[e.at + 0x78..e.at + 0x80].copy_from_slice(&(8u64 << 30).to_le_bytes());
    }), Error(&["(table _Tables)", "declares 8589934592 bytes"]), Error(&["(table _Tables)"]));
}

//===========================================================================//
// A refusal, for contrast: exit 1, the same guarantees

cases! {
    a_signed_patch: case(with_spec(|s| s.signed = true), Refused(&["signed"]), Accepted);
}

/// Regression (fuzz target `pipeline`, `crash-8943a723…`): an empty
/// signature stream whose start sector is garbage. `cfb` opens the file,
/// then panics (an index out of bounds in its MiniFAT) when
/// `--strip-signature` removes the stream and it frees the chain. The
/// edit now runs with panics contained: exit 2 naming the input, nothing
/// written, the input unchanged, with `-o` and in place.
#[test]
fn r_cfb_panics_removing_an_empty_stream_with_a_garbage_start() {
    let bytes = raw_of(with_spec(|s| s.signed = true), |i| {
        let e = i.entry("/\u{5}DigitalSignature");
        i.0[e.at + 0x78..e.at + 0x80].copy_from_slice(&0u64.to_le_bytes());
        put_u32(&mut i.0, e.at + 0x74, 1610);
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.msp");
    std::fs::write(&input, &bytes).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("out.msp");
    for dest in [
        vec!["-o".as_ref(), output.as_os_str()],
        vec!["--in-place".as_ref()],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "retarget".as_ref(),
            input.as_os_str(),
            "--instance".as_ref(),
            I1.as_ref(),
            "--strip-signature".as_ref(),
        ];
        args.extend(dest);
        let ran = run_bin(&args);
        check(
            "retarget --strip-signature",
            &ran,
            Error(&[
                "compound-file structure",
                "allocation tables are inconsistent",
            ]),
            &input,
        );
        assert_eq!(std::fs::read(&input).unwrap(), bytes, "the input changed");
        assert!(names_in(&out_dir).is_empty(), "{:?}", names_in(&out_dir));
        assert_eq!(
            names_in(dir.path()),
            ["in.msp", "out"],
            "files left beside the input"
        );
    }
}

//===========================================================================//
// Broken product files: `--package`, `--instances-from`, `inspect`

/// The product the sample patch targets, as a valid installer database.
fn product() -> Vec<u8> {
    msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}"),
        ("ProductVersion", "1.0.0.0"),
        ("ProductLanguage", "1033"),
        ("UpgradeCode", "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}"),
        ("ProductName", "Sample Product A"),
    ])
    .expect("building a product database")
}

/// The stream of table (or pool) `name` at the root of a database.
fn table(name: &str) -> String {
    format!("/{}", msp_retarget::testkit::streamname::encode(name, true))
}

/// `product()` with the stream of table `name` replaced by `f` of it.
fn product_table(name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    with_stream(product(), &table(name), f)
}

/// `product()` with an embedded storage `Inst1`, stamped as a transform,
/// holding a `Property` stream of `property` and a copy of the product's
/// string pool.
fn product_with_instance(property: Vec<u8>) -> Vec<u8> {
    let base = product();
    let mut cf = cfb::CompoundFile::open(Cursor::new(base)).unwrap();
    let read = |cf: &mut cfb::CompoundFile<Cursor<Vec<u8>>>, p: &str| {
        let mut v = Vec::new();
        cf.open_stream(p).unwrap().read_to_end(&mut v).unwrap();
        v
    };
    let pool = read(&mut cf, &table("_StringPool"));
    let data = read(&mut cf, &table("_StringData"));
    cf.create_storage("/Inst1").unwrap();
    cf.set_storage_clsid("/Inst1", TRANSFORM_CLSID).unwrap();
    for (name, bytes) in [
        ("_StringPool", pool),
        ("_StringData", data),
        ("Property", property),
    ] {
        let path = format!("/Inst1{}", table(name));
        cf.create_stream(&path).unwrap().write_all(&bytes).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

const PATCH_CLSID: uuid::Uuid = uuid::Uuid::from_u128(0x000C1086_0000_0000_C000_000000000046);
const TRANSFORM_CLSID: uuid::Uuid = uuid::Uuid::from_u128(0x000C1082_0000_0000_C000_000000000046);

/// Runs the binary under an address-space limit (an allocation sized by a
/// declared field fails instead of being granted lazily), a file-size
/// limit and the time limit.
fn run_guarded(args: &[&std::ffi::OsStr]) -> Run {
    crate::util::cli(args)
        .memory_limit(2_000_000_000)
        .file_size_limit(FILE_SIZE_LIMIT)
        .timeout(TIME_LIMIT)
        .run()
}

/// Runs the product file `bytes` (written as `product.EXT`) through every
/// command that reads a product: `check --package`, `retarget
/// --instances-from --dry-run`, `inspect`, `sequence --package`, `inspect
/// --tables`, `instances add -o` and `instances remove -o`. Each
/// must end in time with an answer (exit 0 or 1) or an error (exit 2)
/// whose message starts with the product's name and holds every one of
/// `texts` (the first four) and a part of the file; never a panic, an
/// abort or a signal; neither file changed; no output or temporary file
/// left by a failed edit.
/// Returns the exit codes, in that order.
fn run_product_case(bytes: Vec<u8>, ext: &str, texts: &[&str]) -> Vec<i32> {
    let dir = tempfile::Builder::new()
        .prefix("msp-retarget-malformed.")
        .tempdir()
        .expect("a temporary folder");
    let patch = dir.path().join("in.msp");
    std::fs::write(&patch, valid()).unwrap();
    let product = dir.path().join(format!("product.{ext}"));
    std::fs::write(&product, &bytes).unwrap();
    let out = dir.path().join(format!("out.{ext}"));
    let (p, m, o) = (patch.as_os_str(), product.as_os_str(), out.as_os_str());
    let runs: [(&str, Vec<&std::ffi::OsStr>); 7] = [
        (
            "check --package",
            vec!["check".as_ref(), p, "--package".as_ref(), m],
        ),
        (
            "retarget --instances-from",
            vec![
                "retarget".as_ref(),
                p,
                "--instances-from".as_ref(),
                m,
                "--dry-run".as_ref(),
            ],
        ),
        ("inspect", vec!["inspect".as_ref(), m]),
        (
            "sequence --package",
            vec!["sequence".as_ref(), p, "--package".as_ref(), m],
        ),
        (
            "inspect --tables",
            vec!["inspect".as_ref(), m, "--tables".as_ref()],
        ),
        (
            "instances add",
            vec![
                "instances".as_ref(),
                "add".as_ref(),
                m,
                "--count".as_ref(),
                "2".as_ref(),
                "-o".as_ref(),
                o,
            ],
        ),
        (
            "instances remove",
            vec![
                "instances".as_ref(),
                "remove".as_ref(),
                m,
                "Inst1".as_ref(),
                "-o".as_ref(),
                o,
            ],
        ),
    ];
    let mut codes = Vec::new();
    for (k, (what, args)) in runs.into_iter().enumerate() {
        let ran = run_guarded(&args);
        let context = format!("{what}: exit {:?}, stderr:\n{}", ran.code, ran.stderr);
        if std::env::var_os("MALFORMED_SHOW").is_some() {
            eprintln!("{context}");
        }
        assert!(ran.elapsed < TIME_LIMIT, "{what}: a hang? {context}");
        assert!(!ran.stderr.contains("panicked"), "{context}");
        assert!(matches!(ran.code, 0..=2), "{context}");
        codes.push(ran.code);
        if ran.code == 2 {
            let prefix = format!("msp-retarget: {}: ", product.display());
            assert!(ran.stderr.starts_with(&prefix), "{context}");
            assert_eq!(ran.stderr.lines().count(), 1, "{context}");
            // An error of the msi crate names the part it is about too.
            let reason = &ran.stderr[prefix.len()..];
            assert!(
                !reason.starts_with("cannot read") && !reason.starts_with("the "),
                "{what}: no part named: {context}"
            );
            // The wording of the first four is pinned; the rest read
            // the same parts but may stop at another fault first.
            for text in texts.iter().filter(|_| k < 4) {
                assert!(ran.stderr.contains(text), "{what}: no {text:?}: {context}");
            }
        }
        assert_eq!(
            std::fs::read(&product).unwrap(),
            bytes,
            "{what} changed the product"
        );
        assert_eq!(
            std::fs::read(&patch).unwrap(),
            valid(),
            "{what} changed the patch"
        );
        if ran.code != 0 {
            assert!(!out.exists(), "{what} failed and left {}", out.display());
        }
        let _ = std::fs::remove_file(&out);
        assert_eq!(
            names_in(dir.path()),
            ["in.msp".to_owned(), format!("product.{ext}")],
            "{what} left files behind"
        );
    }
    codes
}

/// One test per broken product: `name: bytes, extension, texts every
/// error must hold, exit codes of [check, retarget, inspect, sequence,
/// inspect --tables, instances add, instances remove];`.
/// `inspect` lists a broken database as a problem (exit 0); `retarget
/// --instances-from` of a product without instance transforms is an error;
/// exit 0 from `check` and `sequence` means the damage was harmless and the
/// product's facts were read whole (the patch applies to them).
///
/// Regression: `check --package` and `sequence --package` of a database
/// whose `_Tables` or `_Columns` has a nulled row panicked inside the
/// `msi` crate (exit 101); the facts are now read behind the guarded entry.
/// Regression: an unknown code page, `_Columns` naming a table `_Tables`
/// lacks, and a null field in `_Columns` gave the `msi` crate's message
/// without the part ("cannot read the installer database: Unknown codepage
/// for string pool (12345)").
macro_rules! product_cases {
    ($($name:ident: $bytes:expr, $ext:expr, $texts:expr, $codes:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let codes = run_product_case($bytes, $ext, $texts);
                assert_eq!(codes, $codes);
            }
        )*
    };
}

product_cases! {
    p_a_valid_product: product(), "msi", &[], [0, 2, 0, 0, 0, 0, 2];
    p_tables_row_nulled: product_table("_Tables", |b| { b[0] = 0; b[1] = 0; }), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_tables_row_dangling: product_table("_Tables", |b| { b[0] = 0xFF; b[1] = 0x7F; }), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_tables_of_odd_length: product_table("_Tables", |b| b.push(7)), "msi", &[], [0, 2, 0, 0, 0, 0, 2];
    p_columns_row_nulled: product_table("_Columns", |b| b.iter_mut().for_each(|x| *x = 0)), "msi", &["the msi crate failed"], [2, 2, 0, 2, 2, 2, 2];
    p_columns_row_dangling: product_table("_Columns", |b| { b[0] = 0xFF; b[1] = 0x7F; }), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_columns_truncated: product_table("_Columns", |b| b.truncate(b.len() - 3)), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_columns_type_garbage: product_table("_Columns", |b| { let n = b.len(); for x in &mut b[n / 2..] { *x = 0xFF; } }), "msi", &[], [0, 2, 0, 0, 0, 2, 2];
    p_pool_count_past_the_data: product_table("_StringPool", |b| b.extend_from_slice(&[0xFF, 0xFF, 1, 0])), "msi", &["bytes of _StringData"], [2, 2, 0, 2, 2, 2, 2];
    p_pool_long_length_past_the_data: product_table("_StringPool", |b| { b.extend_from_slice(&[0, 0, 1, 0]); b.extend_from_slice(&0xFFFF_0000u32.to_le_bytes()); }), "msi", &["bytes of _StringData"], [2, 2, 0, 2, 2, 2, 2];
    p_pool_long_length_cut: product_table("_StringPool", |b| b.extend_from_slice(&[0, 0, 1, 0])), "msi", &["(table _StringPool)", "32-bit length that is not there"], [2, 2, 0, 2, 2, 2, 2];
    p_pool_first_length_past_the_end: product_table("_StringPool", |b| { b[4] = 0xFF; b[5] = 0xFF; }), "msi", &["bytes of _StringData"], [2, 2, 0, 2, 2, 2, 2];
    p_pool_empty: product_table("_StringPool", Vec::clear), "msi", &["(table _StringPool)", "0 bytes: not a 4-byte header"], [2, 2, 0, 2, 2, 2, 2];
    p_data_empty: product_table("_StringData", Vec::clear), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_odd_code_page: product_table("_StringPool", |b| put_u32(b, 0, 12345)), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_code_page_with_long_references: product_table("_StringPool", |b| put_u32(b, 0, 0x8000_04E4)), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_property_one_byte_long: product_table("Property", |b| b.push(1)), "msi", &[], [0, 2, 0, 0, 0, 0, 2];
    p_property_truncated: product_table("Property", |b| b.truncate(3)), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_property_empty: product_table("Property", Vec::clear), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_property_key_index_0: product_table("Property", |b| { b[0] = 0; b[1] = 0; }), "msi", &["table Property", "ProductCode"], [2, 2, 0, 2, 0, 2, 2];
    p_property_all_zero: product_table("Property", |b| b.iter_mut().for_each(|x| *x = 0)), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_property_dangling_values: product_table("Property", |b| b.iter_mut().for_each(|x| *x = 0x7F)), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_summary_truncated: with_stream(product(), ROOT_SUMMARY, |b| b.truncate(30)), "msi", &["\\005SummaryInformation"], [2, 2, 0, 2, 2, 2, 2];
    p_summary_string_past_the_end: with_stream(product(), ROOT_SUMMARY, |b| { let n = b.len(); b.truncate(n - 2); }), "msi", &[], [2, 2, 0, 2, 2, 2, 2];
    p_no_property_table: with_cfb(product(), |cf| cf.remove_stream(table("Property")).unwrap()), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_a_patch_clsid: with_cfb(product(), |cf| cf.set_storage_clsid("/", PATCH_CLSID).unwrap()), "msi", &["is a patch (.msp)"], [2, 2, 0, 2, 0, 2, 2];
    p_a_transform_clsid: with_cfb(product(), |cf| cf.set_storage_clsid("/", TRANSFORM_CLSID).unwrap()), "msi", &[], [2, 2, 0, 2, 0, 2, 2];
    p_not_a_compound_file: b"MZ not a database at all".to_vec(), "msi", &[], [2, 2, 2, 2, 2, 2, 2];
    p_an_empty_transform: package_bytes(msi::PackageType::Transform), "mst", &[], [2, 2, 0, 2, 0, 2, 2];
    p_a_transform_with_garbage_tables: with_cfb(package_bytes(msi::PackageType::Transform), |cf| {
        cf.create_stream(table("Property")).unwrap().write_all(&[0xAB; 37]).unwrap();
        cf.create_stream(table("_Tables")).unwrap().write_all(&[0xFF; 5]).unwrap();
    }), "mst", &[], [2, 2, 0, 2, 0, 2, 2];
    p_a_transform_with_a_huge_pool: huge_pool_string(package_bytes(msi::PackageType::Transform), 0xFFFF_0000), "mst", &[], [2, 2, 0, 2, 0, 2, 2];
    p_an_instance_that_is_a_stream: with_cfb(product(), |cf| {
        cf.create_stream("/Inst1").unwrap().write_all(&[0x5A; 100]).unwrap();
    }), "msi", &[], [0, 2, 0, 0, 0, 0, 2];
    p_an_instance_with_garbage_property: product_with_instance(vec![0xEE; 13]), "msi", &["storage Inst1", "Property"], [0, 2, 0, 0, 0, 2, 2];
    p_an_instance_with_an_empty_property: product_with_instance(Vec::new()), "msi", &[], [0, 2, 0, 0, 0, 0, 2];
    // Regression (found by the `product` fuzz target): a stream no command
    // reads but `instances add` copies and verifies, with a mini chain that
    // loops; the error named the output ("stream … does not read"), not
    // the product whose chain it is.
    p_a_stream_whose_mini_chain_loops: a_looping_unread_stream(), "msi", &[], [0, 2, 0, 0, 0, 2, 2];
}

/// `product()` with a 200-byte stream `Junk` (four mini sectors) whose
/// second mini sector leads back to its first.
fn a_looping_unread_stream() -> Vec<u8> {
    let bytes = with_cfb(product(), |cf| {
        cf.create_stream("/Junk")
            .and_then(|mut s| s.write_all(&[0x4A; 200]))
            .expect("adding a stream");
    });
    raw_of(bytes, |i| {
        let s = i.entry("/Junk");
        let start = i.start_of(&s);
        let second = get_u32(&i.0, i.minifat_slot(start));
        let at = i.minifat_slot(second);
        put_u32(&mut i.0, at, start);
    })
}
