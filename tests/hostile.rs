//! What a hostile neighbour of a patch can make the tool do: a journal
//! placed beside it, a destination that is not a regular file, an
//! instance list that never ends, a request past the pair limit, a
//! Template that lists one product twice.
//!
//! Every input is built here, in code; every case runs the binary and
//! checks the exit code, the message and what is left on disk.

#![cfg(unix)]

use std::io::{Cursor, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{Run, cli};

use msp_retarget::testkit::synth::{PatchSpec, write_patch};

const I1: &str = "{11111111-1111-4111-8111-111111111111}";
const PRODUCT_A: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
const SUMMARY: &str = "/\u{5}SummaryInformation";
const TEMPLATE: u32 = 7;

/// Runs the binary with `args` (and `stdin`, if given) in `dir`.
fn run_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let cli = cli(args).dir(dir);
    match stdin {
        Some(bytes) => cli.stdin(bytes),
        None => cli,
    }
    .run()
}

fn patch_bytes(spec: &PatchSpec) -> Vec<u8> {
    write_patch(spec, Cursor::new(Vec::new()))
        .expect("building a synthetic patch")
        .into_inner()
}

/// A fresh folder holding `in.msp` (the one-product sample).
fn bench() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let input = dir.path().join("in.msp");
    let bytes = patch_bytes(&PatchSpec::single_product());
    std::fs::write(&input, &bytes).unwrap();
    (dir, input, bytes)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("running mkfifo");
    assert!(ok.success(), "mkfifo {}", path.display());
}

//===========================================================================//
// Journals

/// CRC-32 (IEEE), as the journal uses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    c ^ 0xFFFF_FFFF
}

/// A journal record: where, the new bytes, the old bytes.
struct Rec {
    offset: u64,
    new: Vec<u8>,
    old: Vec<u8>,
}

/// A complete journal, every checksum right, in the documented format
/// (see the `journal` module): what a hostile neighbour can write.
fn journal_bytes(len_before: u64, len_after: u64, records: &[Rec]) -> Vec<u8> {
    let mut j = Vec::new();
    j.extend_from_slice(b"MSPRJRNL");
    j.extend_from_slice(&1u32.to_le_bytes());
    j.extend_from_slice(&512u32.to_le_bytes());
    j.extend_from_slice(&len_before.to_le_bytes());
    j.extend_from_slice(&len_after.to_le_bytes());
    let hc = crc32(&j);
    j.extend_from_slice(&hc.to_le_bytes());
    j.extend_from_slice(&0u32.to_le_bytes());
    for r in records {
        let mut rec = Vec::new();
        rec.extend_from_slice(b"REC1");
        rec.extend_from_slice(&r.offset.to_le_bytes());
        rec.extend_from_slice(&(r.new.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(r.old.len() as u32).to_le_bytes());
        rec.extend_from_slice(&r.new);
        rec.extend_from_slice(&r.old);
        let rc = crc32(&rec);
        rec.extend_from_slice(&rc.to_le_bytes());
        j.extend_from_slice(&rec);
    }
    j.extend_from_slice(b"END1");
    j.extend_from_slice(&(records.len() as u64).to_le_bytes());
    let total = crc32(&j);
    j.extend_from_slice(&total.to_le_bytes());
    j
}

fn journal_of(input: &Path) -> PathBuf {
    let name = input.file_name().unwrap().to_string_lossy();
    input.with_file_name(format!(".{name}.msp-retarget.journal"))
}

/// Journals that a tool's own commit never writes, each of which made
/// `--in-place`, `recover` or even `-o` write the patch: the file grows
/// past what any record writes.
fn growing_journals(len: u64) -> Vec<(&'static str, Vec<u8>)> {
    let far = 64 << 20;
    vec![
        // 56 bytes: a header and an end marker, no record at all.
        ("no record", journal_bytes(len, far, &[])),
        // One record at the very end, nothing between the old end and it.
        (
            "a gap before the last record",
            journal_bytes(
                len,
                far,
                &[Rec {
                    offset: far - 512,
                    new: vec![0x5A; 512],
                    old: Vec::new(),
                }],
            ),
        ),
    ]
}

/// Regression: a 56-byte journal beside an 8 KB patch made `retarget IN
/// -o OUT` grow the input to 64 MiB. `-o` never writes its input: a
/// complete journal beside it is refused, naming the journal and saying to
/// run `recover`, and nothing at all is written.
#[test]
fn r_a_journal_beside_the_input_of_an_o_run_never_writes_the_input() {
    let (dir, input, original) = bench();
    let jp = journal_of(&input);
    let len = original.len() as u64;
    // One well-formed enough to be replayed by `recover`: it rewrites the
    // header block, whose bytes before it holds.
    let replayable = journal_bytes(
        len,
        len,
        &[Rec {
            offset: 0,
            new: vec![0x5A; 512],
            old: original[..512].to_vec(),
        }],
    );
    let mut journals = vec![("replayable", replayable)];
    journals.extend(growing_journals(len));
    for (what, journal) in journals {
        std::fs::write(&jp, &journal).unwrap();
        let advice = if what == "replayable" {
            "msp-retarget recover"
        } else {
            "not replayed"
        };
        for verb in ["retarget", "untarget"] {
            let o = run_in(
                dir.path(),
                &[verb, "in.msp", "--instance", I1, "-o", "out.msp"],
                None,
            );
            assert_eq!(o.code, 1, "{what}, {verb}: {}", o.stderr);
            let err = o.stderr;
            assert!(
                err.contains(advice) && err.contains(&jp.display().to_string()),
                "{what}, {verb}: {err}"
            );
            assert!(
                std::fs::read(&input).unwrap() == original,
                "{what}, {verb}: the input changed"
            );
            assert_eq!(
                names_in(dir.path()),
                [".in.msp.msp-retarget.journal", "in.msp"],
                "{what}, {verb}"
            );
        }
    }
    // A torn journal is left alone too: `-o` deletes nothing beside its
    // input (the patch itself was not touched, so it reads on).
    std::fs::write(&jp, b"MSPRJRNL torn").unwrap();
    let o = run_in(
        dir.path(),
        &["retarget", "in.msp", "--instance", I1, "-o", "out.msp"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(jp.exists());
    assert!(std::fs::read(&input).unwrap() == original);
}

/// Regression: a journal whose declared length after the edit is not
/// written by its records (no record, or a gap up to a record at the end)
/// was replayed by `recover` and `--in-place`, growing the patch to 64 MiB.
/// It is refused, named, kept, and the patch is left as it was.
#[test]
fn r_a_journal_that_grows_the_file_past_its_records_is_refused() {
    let (dir, input, original) = bench();
    let jp = journal_of(&input);
    for (what, journal) in growing_journals(original.len() as u64) {
        std::fs::write(&jp, &journal).unwrap();
        for args in [
            &["recover", "in.msp"][..],
            &["retarget", "in.msp", "--instance", I1, "--in-place"][..],
            &["inspect", "in.msp"][..],
        ] {
            let o = run_in(dir.path(), args, None);
            let err = o.stderr;
            assert_eq!(o.code, 1, "{what}, {args:?}: {err}");
            assert!(
                err.contains(&jp.display().to_string()) && err.contains("not replayed"),
                "{what}, {args:?}: {err}"
            );
            assert!(
                std::fs::read(&input).unwrap() == original,
                "{what}, {args:?}: the patch changed"
            );
            assert_eq!(std::fs::read(&jp).unwrap(), journal, "{what}, {args:?}");
        }
    }
}

/// Regression: records that overlap, or come out of order, were replayed
/// one after the other. A journal the tool wrote has sorted, disjoint
/// records; any other is refused and not replayed.
#[test]
fn r_a_journal_with_overlapping_records_is_refused() {
    let (dir, input, original) = bench();
    let jp = journal_of(&input);
    let len = original.len() as u64;
    let block = |at: usize| original[at..at + 512].to_vec();
    let journal = journal_bytes(
        len,
        len,
        &[
            Rec {
                offset: 1024,
                new: vec![1; 512],
                old: block(1024),
            },
            Rec {
                offset: 1024,
                new: vec![2; 512],
                old: block(1024),
            },
        ],
    );
    std::fs::write(&jp, &journal).unwrap();
    let o = run_in(dir.path(), &["recover", "in.msp"], None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("not replayed"), "{}", o.stderr);
    assert!(std::fs::read(&input).unwrap() == original);
    assert!(jp.exists());
}

//===========================================================================//
// Destinations

fn assert_refused_destination(dir: &Path, dest: &Path, what: &str) {
    let d = dest.to_str().unwrap();
    let o = run_in(
        dir,
        &["retarget", "in.msp", "--instance", I1, "-o", d],
        None,
    );
    let err = o.stderr;
    assert_eq!(o.code, 2, "{what}: {err}");
    assert!(
        err.contains(d) && err.contains("not a regular file"),
        "{what}: {err}"
    );
    let temps: Vec<String> = names_in(dir)
        .into_iter()
        .filter(|n| n.ends_with(".msp-retarget.tmp"))
        .collect();
    assert!(temps.is_empty(), "{what}: {temps:?}");
}

/// Regression: `-o FIFO` (and, as root, `-o /dev/null`) replaced the node
/// by a regular file; only folders were refused. A destination that
/// exists and is not a regular file is refused before any work, and left
/// as it was; so is a link to one (`-o /dev/stdout` must not replace the
/// system's link). A link to a regular file, or a dangling one, is still
/// replaced by the result, as documented.
#[test]
fn r_o_refuses_a_destination_that_is_not_a_regular_file() {
    let (dir, _input, _) = bench();
    let fifo = dir.path().join("fifo.msp");
    mkfifo(&fifo);
    assert_refused_destination(dir.path(), &fifo, "a FIFO");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let socket = dir.path().join("socket.msp");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_refused_destination(dir.path(), &socket, "a socket");
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket()
    );

    // A link to a device (never the device itself here: as root, the old
    // behaviour would have replaced a real device node).
    let link = dir.path().join("null.msp");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    assert_refused_destination(dir.path(), &link, "a link to a device");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let link_to_fifo = dir.path().join("to-fifo.msp");
    std::os::unix::fs::symlink(&fifo, &link_to_fifo).unwrap();
    assert_refused_destination(dir.path(), &link_to_fifo, "a link to a FIFO");

    // --in-place on a FIFO (through a link, too) is refused the same way,
    // before anything is opened.
    for name in ["fifo.msp", "to-fifo.msp"] {
        let o = run_in(
            dir.path(),
            &["retarget", name, "--instance", I1, "--in-place"],
            None,
        );
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(o.stderr.contains("not a regular file"), "{}", o.stderr);
    }

    let folder = dir.path().join("folder.msp");
    std::fs::create_dir(&folder).unwrap();
    assert_refused_destination(dir.path(), &folder, "a folder");

    // A device node of our own, where the system lets us make one (root):
    // a copy of the null device inside the test's folder.
    let node = dir.path().join("node.msp");
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        assert_refused_destination(dir.path(), &node, "a character device");
        assert!(
            std::fs::symlink_metadata(&node)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    // Links to a regular file and dangling links: the link is replaced.
    let target = dir.path().join("target.bin");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.msp");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling.msp");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    for l in [&link, &dangling] {
        let o = run_in(
            dir.path(),
            &[
                "retarget",
                "in.msp",
                "--instance",
                I1,
                "-o",
                l.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(std::fs::symlink_metadata(l).unwrap().file_type().is_file());
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
}

/// Regression: a bulk run wrote its results over whatever had the output
/// name, a FIFO included. An existing output that is not a regular file
/// fails the run before anything is written.
#[test]
fn r_bulk_refuses_an_output_that_is_not_a_regular_file() {
    let (dir, _input, original) = bench();
    std::fs::create_dir(dir.path().join("patches")).unwrap();
    std::fs::write(dir.path().join("patches/a.msp"), &original).unwrap();
    std::fs::write(dir.path().join("patches/b.msp"), &original).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    mkfifo(&dir.path().join("out/b.msp"));
    std::fs::write(
        dir.path().join("bulk.toml"),
        format!(
            "output_dir = \"out\"\n[[instances]]\ncode = \"{I1}\"\n[[patches]]\npaths = \
             [\"patches/*.msp\"]\n"
        ),
    )
    .unwrap();
    let o = run_in(dir.path(), &["bulk", "bulk.toml", "-q"], None);
    let err = o.stderr;
    assert_eq!(o.code, 2, "{err}");
    assert!(
        err.contains("b.msp") && err.contains("not a regular file"),
        "{err}"
    );
    assert_eq!(names_in(&dir.path().join("out")), ["b.msp"]);
    assert!(
        std::fs::symlink_metadata(dir.path().join("out/b.msp"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

//===========================================================================//
// Instance lists

/// Regression: the 16 MiB bound of `--instances-file` was checked against
/// the file's size, so a pipe was read whole (and `/dev/zero` to the end
/// of memory). Whatever the file kind, at most the limit and one byte are
/// read, then the list is refused.
#[test]
fn r_an_instances_file_is_read_no_further_than_its_limit_whatever_its_kind() {
    let (dir, _input, _) = bench();
    let limit = msp_retarget::instances::MAX_LIST_FILE_LEN as usize;
    let fifo = dir.path().join("list.fifo");
    mkfifo(&fifo);
    // A writer that would go on well past the limit: comments, so that a
    // list read whole would parse (and then lack an instance).
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let line = [b"#".as_slice(), &[b'x'; 1022], b"\n"].concat();
            let mut sent = 0usize;
            while sent < limit + (4 << 20) {
                if f.write_all(&line).is_err() {
                    break; // the reader stopped: what the bound is for
                }
                sent += line.len();
            }
            sent
        })
    };
    let o = run_in(
        dir.path(),
        &[
            "retarget",
            "in.msp",
            "--instances-file",
            "list.fifo",
            "--dry-run",
        ],
        None,
    );
    let err = o.stderr;
    assert_eq!(o.code, 2, "{err}");
    assert!(
        err.contains("list.fifo") && err.contains(&format!("more than {limit} bytes")),
        "{err}"
    );
    let sent = writer.join().unwrap();
    assert!(sent < limit + (4 << 20), "the whole pipe was read");

    // An endless file.
    #[cfg(target_os = "linux")]
    {
        let o = run_in(
            dir.path(),
            &[
                "retarget",
                "in.msp",
                "--instances-file",
                "/dev/zero",
                "--dry-run",
            ],
            None,
        );
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.stderr.contains(&format!("more than {limit} bytes")),
            "{}",
            o.stderr
        );
    }
}

/// `--instances-file -` reads the list from standard input, with the same
/// bound.
#[test]
fn r_an_instances_file_of_dash_is_standard_input() {
    let (dir, _input, _) = bench();
    let o = run_in(
        dir.path(),
        &[
            "retarget",
            "in.msp",
            "--instances-file",
            "-",
            "-o",
            "out.msp",
        ],
        Some(format!("Customer1 {I1}\n").as_bytes()),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let inspect = run_in(dir.path(), &["inspect", "out.msp"], None);
    assert!(inspect.stdout.contains("Customer1"), "{}", inspect.stdout);
    // Too much on standard input.
    let limit = msp_retarget::instances::MAX_LIST_FILE_LEN as usize;
    let o = run_in(
        dir.path(),
        &["retarget", "in.msp", "--instances-file", "-", "--dry-run"],
        Some(&vec![b'#'; limit + 10]),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("standard input") && o.stderr.contains("more than"),
        "{}",
        o.stderr
    );
}

//===========================================================================//
// The pair limit

/// Regression: a retarget whose result lists more than 8,192 pairs ran
/// the whole edit, then failed verification naming a temporary file that
/// was already deleted. It is refused at planning, naming the input, with
/// exit 2, and nothing is written.
#[test]
fn r_a_result_past_the_pair_limit_is_refused_at_planning() {
    let (dir, _input, original) = bench();
    let max = msp_retarget::testkit::patch::MAX_PAIRS;
    // The sample has one pair; one copy per instance makes max + 1.
    let list: String = (0..max)
        .map(|n| {
            format!(
                "{{{:08X}-0000-4000-8000-{:012X}}}\n",
                0x1000_0000u32 + n as u32,
                n
            )
        })
        .collect();
    std::fs::write(dir.path().join("list.txt"), &list).unwrap();
    for dest in [&["--dry-run"][..], &["-o", "out.msp"][..]] {
        let mut args = vec!["retarget", "in.msp", "--instances-file", "list.txt"];
        args.extend_from_slice(dest);
        let o = run_in(dir.path(), &args, None);
        let err = o.stderr;
        assert_eq!(o.code, 2, "{dest:?}: {err}");
        assert!(
            err.starts_with("msp-retarget: in.msp: ") && err.contains(&max.to_string()),
            "{dest:?}: {err}"
        );
        assert!(!err.contains(".msp-retarget.tmp"), "{dest:?}: {err}");
        assert_eq!(names_in(dir.path()), ["in.msp", "list.txt"], "{dest:?}");
    }
    assert!(std::fs::read(dir.path().join("in.msp")).unwrap() == original);
}

//===========================================================================//
// Template

/// Regression: Template `{G};{g}` counted as two products, so a retarget
/// without a base was refused ("targets 2 products"). GUIDs compare
/// canonically: it is one product, and `check` lints the second entry as
/// a duplicate (a warning).
#[test]
fn r_a_template_listing_one_product_twice_is_one_product() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = patch_bytes(&PatchSpec::single_product());
    let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
    let mut summary = Vec::new();
    cf.open_stream(SUMMARY)
        .unwrap()
        .read_to_end(&mut summary)
        .unwrap();
    let mut set = msp_retarget::testkit::propset::PropertySet::parse(&summary).unwrap();
    let template = format!("{PRODUCT_A};{}", PRODUCT_A.to_lowercase());
    set.set_string(TEMPLATE, &template).unwrap();
    cf.create_stream(SUMMARY)
        .unwrap()
        .write_all(&set.to_bytes())
        .unwrap();
    cf.flush().unwrap();
    std::fs::write(dir.path().join("in.msp"), cf.into_inner().into_inner()).unwrap();
    let o = run_in(
        dir.path(),
        &["retarget", "in.msp", "--instance", I1, "-o", "out.msp"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let check = run_in(
        dir.path(),
        &["check", "in.msp", "--product", PRODUCT_A, "--json"],
        None,
    );
    let json: serde_json::Value = serde_json::from_str(&check.stdout).expect("JSON");
    let findings = json["lint"].as_array().expect("lint findings");
    let dup: Vec<_> = findings
        .iter()
        .filter(|f| f["code"] == "template-duplicate")
        .collect();
    assert_eq!(dup.len(), 1, "{findings:?}");
    assert_eq!(dup[0]["severity"], "warning", "{findings:?}");
}
