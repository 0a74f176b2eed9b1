//! The test harness: a fresh folder per test, patches built from a
//! [`PatchSpec`], every entry of a compound file read with `cfb` directly
//! (not through the library's `container` module, so that the library is
//! checked by independent code), summary streams decoded with
//! [`msp_retarget::testkit::propset`], and the command-line binary.

#![allow(dead_code)] // each test module uses its own subset

pub mod check;
pub mod corpus;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use msp_retarget::Destination;
use msp_retarget::Guid;
use msp_retarget::report::RetargetReport;
use msp_retarget::testkit::propset::PropertySet;
use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};
use msp_retarget::{InstanceRequest, PlanOptions};
use msp_retarget::{RetargetRequest, retarget};

/// The summary-information stream name.
pub const SUMMARY: &str = "\u{5}SummaryInformation";
/// The signature stream the synthetic builder writes.
pub const SIGNATURE: &str = "\u{5}DigitalSignature";

/// Product A of the presets (the one target of `single_product` and
/// `two_baselines`, the first of `two_products`).
pub const PRODUCT_A: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
/// Product B of `two_products`.
pub const PRODUCT_B: &str = "{A93C47E2-1B5D-4F60-8E72-C4D5E6F7A822}";

pub const I1: &str = "{11111111-1111-4111-8111-111111111111}";
pub const I2: &str = "{22222222-2222-4222-8222-222222222222}";
pub const I3: &str = "{33333333-3333-4333-8333-333333333333}";

/// Windows Installer's property ids (MSI SDK, Summary Information Stream).
pub mod pid {
    pub const TEMPLATE: u32 = 7;
    pub const LAST_SAVED_BY: u32 = 8;
    pub const REVISION_NUMBER: u32 = 9;
    pub const CHAR_COUNT: u32 = 16;
}

//===========================================================================//
// Folders

/// A fresh temporary folder for one test, removed when dropped.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::Builder::new()
                .prefix("msp-retarget-test.")
                .tempdir()
                .expect("creating a temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Builds the patch for `spec` at `name` and returns its path.
    pub fn patch(&self, name: &str, spec: &PatchSpec) -> PathBuf {
        let path = self.join(name);
        write_patch_file(spec, &path).unwrap_or_else(|e| panic!("building {name}: {e}"));
        path
    }

    /// Writes `bytes` at `name` and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        path
    }

    /// Every file directly in the folder (hidden ones included) with its
    /// bytes; folders are listed with no bytes.
    pub fn listing(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        std::fs::read_dir(self.path())
            .expect("listing the test folder")
            .map(|e| {
                let e = e.expect("listing the test folder");
                let name = e.file_name().to_string_lossy().into_owned();
                let bytes = if e.path().is_dir() {
                    None
                } else {
                    Some(std::fs::read(e.path()).expect("reading a test file"))
                };
                (name, bytes)
            })
            .collect()
    }

    /// The names in the folder, sorted.
    pub fn names(&self) -> Vec<String> {
        self.listing().into_keys().collect()
    }
}

impl AsRef<Path> for Dir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

/// Reads a file whole.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

//===========================================================================//
// Compound files, read with cfb directly

/// One entry of a compound file, everything a faithful copy keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub is_stream: bool,
    pub clsid: uuid::Uuid,
    pub state_bits: u32,
    pub created: SystemTime,
    pub modified: SystemTime,
    /// The stream's bytes (empty for storages).
    pub bytes: Vec<u8>,
}

impl Entry {
    /// The same entry without its bytes, for comparing metadata only.
    pub fn meta(&self) -> (bool, uuid::Uuid, u32, SystemTime, SystemTime) {
        (
            self.is_stream,
            self.clsid,
            self.state_bits,
            self.created,
            self.modified,
        )
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("is_stream", &self.is_stream)
            .field("clsid", &self.clsid)
            .field("state_bits", &self.state_bits)
            .field("created", &self.created)
            .field("modified", &self.modified)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Every entry of a compound file by path (`/`, `/name`, `/name/stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub entries: BTreeMap<String, Entry>,
    /// The sectors and mini sectors whose chain link points to sector 0
    /// or mini sector 0 (see [`links_to_sector_zero`]).
    pub links_to_zero: Vec<String>,
}

impl Snapshot {
    /// Reads every entry of the compound file at `path`.
    pub fn of(path: &Path) -> Snapshot {
        let mut cf = cfb::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let listed: Vec<(String, bool, Entry)> = cf
            .walk()
            .map(|e| {
                let entry = Entry {
                    is_stream: e.is_stream(),
                    clsid: *e.clsid(),
                    state_bits: e.state_bits(),
                    created: e.created(),
                    modified: e.modified(),
                    bytes: Vec::new(),
                };
                (
                    e.path().to_string_lossy().into_owned(),
                    e.is_stream(),
                    entry,
                )
            })
            .collect();
        let mut entries = BTreeMap::new();
        for (name, is_stream, mut entry) in listed {
            if is_stream {
                cf.open_stream(&name)
                    .and_then(|mut s| s.read_to_end(&mut entry.bytes))
                    .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
            }
            entries.insert(name, entry);
        }
        let links_to_zero = links_to_sector_zero(&read(path))
            .unwrap_or_else(|e| vec![format!("chains not followed: {e}")]);
        Snapshot {
            entries,
            links_to_zero,
        }
    }

    pub fn get(&self, path: &str) -> &Entry {
        self.entries
            .get(path)
            .unwrap_or_else(|| panic!("no entry {path:?}"))
    }

    /// Names of the entries directly under the root.
    pub fn root_names(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter_map(|k| k.strip_prefix('/'))
            .filter(|k| !k.is_empty() && !k.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// The entries below storage `name` (the storage included), by path
    /// relative to it (`""` for the storage itself).
    pub fn subtree(&self, name: &str) -> BTreeMap<String, &Entry> {
        let top = format!("/{name}");
        self.entries
            .iter()
            .filter_map(|(k, e)| {
                if *k == top {
                    Some((String::new(), e))
                } else {
                    k.strip_prefix(&format!("{top}/"))
                        .map(|rel| (rel.to_string(), e))
                }
            })
            .collect()
    }

    /// The summary stream of storage `name` (`""` for the root).
    pub fn summary_bytes(&self, storage: &str) -> &[u8] {
        let path = if storage.is_empty() {
            format!("/{SUMMARY}")
        } else {
            format!("/{storage}/{SUMMARY}")
        };
        &self.get(&path).bytes
    }

    /// The decoded summary of storage `name` (`""` for the root).
    pub fn summary(&self, storage: &str) -> PropertySet {
        summary(self.summary_bytes(storage))
    }

    /// A string property of the summary of storage `name`.
    pub fn text(&self, storage: &str, pid: u32) -> String {
        text(&self.summary(storage), pid)
    }
}

/// Decodes a property-set stream, checking that it round-trips.
pub fn summary(bytes: &[u8]) -> PropertySet {
    let set = PropertySet::parse(bytes).expect("a summary stream that parses");
    assert!(
        set.to_bytes() == bytes,
        "summary stream does not round-trip"
    );
    set
}

/// A string property; panics when absent or not a string.
pub fn text(set: &PropertySet, pid: u32) -> String {
    set.get_string(pid)
        .unwrap_or_else(|| panic!("property {pid} is missing"))
        .unwrap_or_else(|e| panic!("property {pid}: {e}"))
}

/// The byte range of property `pid`'s value (type field to end of string,
/// terminator included) in the first section of a property-set stream,
/// found by reading the header and property table by hand ([MS-OLEPS]
/// 2.20, 2.21): the offsets are independent of the library's codec.
pub fn value_range(stream: &[u8], pid: u32) -> std::ops::Range<usize> {
    let u32_at = |at: usize| -> usize {
        let b: [u8; 4] = stream[at..at + 4].try_into().unwrap();
        u32::from_le_bytes(b) as usize
    };
    let section = u32_at(44);
    let count = u32_at(section + 4);
    let offset = (0..count)
        .map(|i| section + 8 + 8 * i)
        .find(|&slot| u32_at(slot) == pid as usize)
        .map(|slot| u32_at(slot + 4))
        .unwrap_or_else(|| panic!("property {pid} is not in the table"));
    let start = section + offset;
    assert_eq!(u32_at(start) & 0xFFFF, 30, "property {pid} is not VT_LPSTR");
    start..start + 8 + u32_at(start + 4)
}

/// Edits a compound file in place with cfb (to build inputs the synthetic
/// builder cannot make).
pub fn edit(path: &Path, f: impl FnOnce(&mut cfb::CompoundFile<std::fs::File>)) {
    let mut cf = cfb::open_rw(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f(&mut cf);
    cf.flush().expect("flushing the edited file");
}

/// Copies storage `/from` to a new storage `/to` (streams, CLSID,
/// timestamps), one level deep as transforms are.
pub fn copy_storage(cf: &mut cfb::CompoundFile<std::fs::File>, from: &str, to: &str) {
    let src = cf.entry(format!("/{from}")).unwrap();
    let (clsid, created, modified) = (*src.clsid(), src.created(), src.modified());
    let streams: Vec<String> = cf
        .read_storage(format!("/{from}"))
        .unwrap()
        .map(|e| e.name().to_string())
        .collect();
    cf.create_storage(format!("/{to}")).unwrap();
    for s in streams {
        let mut bytes = Vec::new();
        cf.open_stream(format!("/{from}/{s}"))
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        cf.create_new_stream(format!("/{to}/{s}"))
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }
    cf.set_storage_clsid(format!("/{to}"), clsid).unwrap();
    cf.set_created_time(format!("/{to}"), created).unwrap();
    cf.set_modified_time(format!("/{to}"), modified).unwrap();
}

/// Sets a string property of the root summary stream.
pub fn set_root_text(cf: &mut cfb::CompoundFile<std::fs::File>, pid: u32, value: &str) {
    let path = format!("/{SUMMARY}");
    let mut bytes = Vec::new();
    cf.open_stream(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let mut set = summary(&bytes);
    set.set_string(pid, value).unwrap();
    cf.create_stream(&path)
        .unwrap()
        .write_all(&set.to_bytes())
        .unwrap();
}

//===========================================================================//
// Requests through the library

/// A product code.
pub fn guid(text: &str) -> Guid {
    Guid::parse_lenient(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `{INSTANCE}`, base left to the library.
pub fn inst(instance: &str) -> InstanceRequest {
    InstanceRequest {
        base: None,
        instance: guid(instance),
        id: None,
        upgrade_code: None,
        component_codes: Default::default(),
        product_isolates: false,
    }
}

/// `{BASE}={INSTANCE}`.
pub fn inst_of(base: &str, instance: &str) -> InstanceRequest {
    InstanceRequest {
        base: Some(guid(base)),
        ..inst(instance)
    }
}

/// A request with default options.
pub fn request(
    input: &Path,
    destination: Destination,
    instances: &[InstanceRequest],
) -> RetargetRequest {
    RetargetRequest {
        input: input.to_path_buf(),
        destination,
        instances: instances.to_vec(),
        // The engine's tests retarget to 200 instances on purpose, past
        // the transform limit a plain run refuses.
        options: PlanOptions {
            beyond_transform_limit: true,
            ..PlanOptions::default()
        },
    }
}

/// Retargets `input` to `output`, panicking on failure.
pub fn retarget_to(input: &Path, output: &Path, instances: &[InstanceRequest]) -> RetargetReport {
    let req = request(input, Destination::Output(output.to_path_buf()), instances);
    retarget(&req).unwrap_or_else(|e| panic!("retarget failed: {e}"))
}

/// `n` distinct instance codes whose first eight hex digits differ, so
/// that their copies get plain names.
pub fn many_instances(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let i = u32::try_from(i).unwrap();
            format!(
                "{{{:08X}-{:04X}-4C0D-9E00-{:012X}}}",
                0x1000_0000u32.wrapping_add(i.wrapping_mul(0x0101_0101)),
                i,
                u64::from(i) * 7919
            )
        })
        .collect()
}

//===========================================================================//
// The command line

/// The command-line binary under test, for programs that run it
/// themselves (a shell running documented examples). Tests run it through
/// [`cli`].
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_msp-retarget"))
}

/// The one way tests run the command line: `msp-retarget` with `args`,
/// without the caller's `RUST_LOG` (logs on stderr would change what tests
/// compare) or failpoint, stdin closed unless given. Options set a folder,
/// stdin, environment, resource limits (through `prlimit`, so that an
/// allocation or a write sized by a hostile field fails instead of being
/// granted) and a time limit.
pub fn cli<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Cli {
    Cli {
        args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        dir: None,
        stdin: None,
        env: Vec::new(),
        limits: Vec::new(),
        timeout: None,
    }
}

/// A run of the command line being set up; see [`cli`].
#[derive(Debug, Clone)]
pub struct Cli {
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, Option<OsString>)>,
    limits: Vec<String>,
    timeout: Option<Duration>,
}

impl Cli {
    /// Runs in `dir`.
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Cli {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Cli {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Writes `bytes` to stdin (the tool may stop reading early).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cli {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cli {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable the tests' environment may hold.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cli {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Limits the address space to `bytes`.
    pub fn memory_limit(mut self, bytes: u64) -> Cli {
        self.limits.push(format!("--as={bytes}"));
        self
    }

    /// Limits the size of any file the process writes to `bytes`.
    pub fn file_size_limit(mut self, bytes: u64) -> Cli {
        self.limits.push(format!("--fsize={bytes}"));
        self
    }

    /// Kills the process after `limit`.
    pub fn timeout(mut self, limit: Duration) -> Cli {
        self.timeout = Some(limit);
        self
    }

    /// The command, for a test that drives the process itself (spawns
    /// and kills it); [`Cli::run`] runs it to its end.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = if self.limits.is_empty() {
            std::process::Command::new(bin())
        } else {
            let mut cmd = std::process::Command::new("prlimit");
            cmd.args(&self.limits).arg(bin());
            cmd
        };
        cmd.args(&self.args)
            .env_remove("RUST_LOG")
            .env_remove("MSP_RETARGET_FAILPOINT");
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs to the end and captures everything.
    pub fn run(self) -> Run {
        let mut cmd = assert_cmd::Command::from_std(self.command());
        if let Some(bytes) = &self.stdin {
            cmd.write_stdin(bytes.clone());
        }
        if let Some(limit) = self.timeout {
            cmd.timeout(limit);
        }
        let started = Instant::now();
        let out = cmd.output().expect("running msp-retarget");
        let elapsed = started.elapsed();
        Run {
            code: out.status.code().unwrap_or(-1),
            exited: out.status.code().is_some(),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
            elapsed,
        }
    }
}

/// What a finished command printed and returned.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code; -1 when the process did not exit (a signal, the
    /// time limit).
    pub code: i32,
    /// Whether the process exited (rather than being ended by a signal).
    pub exited: bool,
    pub stdout: String,
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n~~~ stdout\n{}\n~~~ stderr\n{}\n~~~",
            self.stdout, self.stderr
        );
        self
    }
}

/// A test with a fresh folder and the binary ready to run in it:
/// `msptest!(name, |dir, run| { run(&["inspect", "x.msp"]).code(2); })`,
/// where `run` runs `msp-retarget` with the arguments in `dir`.
#[macro_export]
macro_rules! msptest {
    ($name:ident, |$dir:ident, $run:ident| $body:block) => {
        #[test]
        fn $name() {
            let $dir = $crate::util::Dir::new();
            #[allow(unused_variables)]
            let $run = |args: &[&str]| $crate::util::cli(args).dir(&$dir).run();
            $body
        }
    };
}

/// Asserts an error's kind and exact reason (the message without file and
/// part), and returns the error for further checks.
#[macro_export]
macro_rules! assert_error {
    ($result:expr, $kind:expr, $reason:expr $(,)?) => {{
        let err = match $result {
            Ok(_) => panic!("expected a {:?} error, got success", $kind),
            Err(e) => e,
        };
        assert_eq!(err.kind(), $kind, "kind of: {err}");
        assert_eq!(err.reason(), $reason, "reason of: {err}");
        err
    }};
}

//===========================================================================//
// Chains

/// Every FAT entry of a sector in the file, and every MiniFAT entry of a
/// mini sector in the mini stream, that links to sector 0 or mini sector 0,
/// named `sector N` / `mini sector N`.
///
/// [MS-CFB] allows such a link, but `osslsigncode` (2.9, `msi.c`:
/// `get_next_sector` and `get_next_mini_sector`) takes a next-sector value
/// of 0 for a corrupt file and refuses to sign it, so the files this tool
/// writes have none (the `cfb` fork hands sector 0 out only as the first
/// sector of a chain; `vendor/cfb/FORK.md`). Read from the raw bytes,
/// independently of `cfb` and of the library; `Err` for a file too
/// malformed to follow.
pub fn links_to_sector_zero(bytes: &[u8]) -> Result<Vec<String>, String> {
    const MAX_REGULAR: u32 = 0xFFFF_FFFA;
    let u32_at = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("offset {at} is past the end"))
    };
    let shift = bytes.get(0x1E).copied().ok_or("no header")?;
    if shift != 9 && shift != 12 {
        return Err(format!("sector shift {shift}"));
    }
    let sector_len = 1usize << shift;
    let num_sectors = bytes.len().saturating_sub(sector_len).div_ceil(sector_len);
    let sector = |id: u32| -> Result<&[u8], String> {
        let at = (id as usize + 1) * sector_len;
        bytes
            .get(at..at + sector_len)
            .ok_or_else(|| format!("sector {id} is past the end"))
    };
    let entries = |s: &[u8]| -> Vec<u32> {
        s.chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };

    // DIFAT: 109 entries in the header, then the DIFAT sectors' chain.
    let num_fat = u32_at(0x2C)? as usize;
    let mut difat: Vec<u32> = (0..109)
        .map(|i| u32_at(0x4C + 4 * i))
        .collect::<Result<_, _>>()?;
    let mut next = u32_at(0x44)?;
    while next < MAX_REGULAR && difat.len() < num_fat + 109 {
        let e = entries(sector(next)?);
        difat.extend_from_slice(&e[..e.len() - 1]);
        next = e[e.len() - 1];
    }
    let mut fat = Vec::new();
    for &id in difat.iter().take(num_fat) {
        fat.extend(entries(sector(id)?));
    }
    let chain = |start: u32| -> Result<Vec<u32>, String> {
        let mut out = Vec::new();
        let mut s = start;
        while s < MAX_REGULAR {
            if out.len() > fat.len() {
                return Err(format!("the chain from sector {start} loops"));
            }
            out.push(s);
            s = *fat
                .get(s as usize)
                .ok_or(format!("sector {s} has no FAT entry"))?;
        }
        Ok(out)
    };
    let mut found: Vec<String> = (0..num_sectors.min(fat.len()))
        .filter(|&i| fat[i] == 0)
        .map(|i| format!("sector {i}"))
        .collect();

    // MiniFAT: its own chain; only the entries of mini sectors the mini
    // stream (the root entry's stream) holds count.
    let minifat: Vec<u32> = {
        let mut v = Vec::new();
        for id in chain(u32_at(0x3C)?)? {
            v.extend(entries(sector(id)?));
        }
        v
    };
    let directory = chain(u32_at(0x30)?)?;
    let root = sector(*directory.first().ok_or("no directory")?)?;
    let mini_stream_len = u64::from_le_bytes(root[0x78..0x80].try_into().unwrap());
    let mini_sectors = usize::try_from(mini_stream_len / 64).unwrap_or(usize::MAX);
    found.extend(
        (0..mini_sectors.min(minifat.len()))
            .filter(|&i| minifat[i] == 0)
            .map(|i| format!("mini sector {i}")),
    );
    Ok(found)
}

/// Every Rust source file under `dir`, depth first, sorted: for the tests
/// that read the library's sources.
pub fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}
