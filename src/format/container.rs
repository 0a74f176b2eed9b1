//! Compound-file access on top of the `cfb` crate: opening with clear
//! errors, telling patches from databases and transforms by their root
//! CLSID, bounded stream reads, and deep copies of substorages (which `cfb`
//! does not offer).
//!
//! Streams are copied with `io::copy`, never loaded whole, so a gigabyte
//! cabinet costs no memory.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::format::compound::Compound;
use crate::format::structure::Chains;

/// Root CLSID of a patch (.msp).
pub const CLSID_PATCH: Uuid = Uuid::from_u128(0x000C1086_0000_0000_C000_000000000046);
/// Root CLSID of an installer database (.msi, .msm, .pcp).
pub const CLSID_DATABASE: Uuid = Uuid::from_u128(0x000C1084_0000_0000_C000_000000000046);
/// Root CLSID of a transform (.mst), also stamped on transform substorages.
pub const CLSID_TRANSFORM: Uuid = Uuid::from_u128(0x000C1082_0000_0000_C000_000000000046);

/// The 8-byte signature every compound file starts with.
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What a compound file is, by its root CLSID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A patch (.msp).
    Patch,
    /// An installer database (.msi, .msm).
    Database,
    /// A transform (.mst).
    Transform,
    /// Some other compound file.
    Other,
}

impl FileKind {
    /// Classifies a root CLSID.
    pub fn from_clsid(clsid: &Uuid) -> FileKind {
        match *clsid {
            CLSID_PATCH => FileKind::Patch,
            CLSID_DATABASE => FileKind::Database,
            CLSID_TRANSFORM => FileKind::Transform,
            _ => FileKind::Other,
        }
    }

    /// A phrase for messages: "a patch (.msp)".
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Patch => "a patch (.msp)",
            FileKind::Database => "an installer database (.msi), not a patch",
            FileKind::Transform => "a transform (.mst), not a patch",
            FileKind::Other => "a compound file of unknown kind, not a patch",
        }
    }
}

pub use crate::format::names::{path_text, show_name, storage_part, stream_part};

/// Opens a compound file read-only. Directories, short files and files
/// without the compound-file signature get errors that say so. Whether an
/// interrupted in-place edit left the file half-written is the caller's
/// question (`store::journal::check_readable`): reading knows no journal.
pub fn open(path: &Path) -> Result<CompoundFile<File>> {
    open_checked(path).map(|(cf, _)| cf)
}

/// [`open`], with what the structure check established about the file's
/// large streams.
pub fn open_checked(path: &Path) -> Result<(CompoundFile<File>, Chains)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", e).in_file(path))?;
    if meta.is_dir() {
        return Err(
            Error::new(crate::error::ErrorKind::Io, "is a directory, not a file").in_file(path),
        );
    }
    let file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
    open_reader_checked(file, meta.len(), path)
}

/// Opens `path` for reading only, with the purpose-built reader of
/// [`crate::format::compound`]: what the read paths (`inspect`, `check`,
/// a dry run) use, so that their cost follows what they read rather than
/// the size of the file. Directories, short files and files without the
/// compound-file signature get the errors of [`open`].
pub fn open_lazy(path: &Path) -> Result<Compound<File>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", e).in_file(path))?;
    if meta.is_dir() {
        return Err(
            Error::new(crate::error::ErrorKind::Io, "is a directory, not a file").in_file(path),
        );
    }
    let mut file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
    check_magic(&mut file, meta.len(), path)?;
    Compound::open(file, meta.len()).map_err(|e| e.in_file(path))
}

/// Files of at most this many sectors (32 MiB in version 3, 256 MiB in
/// version 4) are checked whole when an edit opens them
/// ([`open_for_edit`]): every chain followed, the FAT checked by `cfb`'s
/// open. That costs about a millisecond at this size and keeps every
/// guarantee of the full check, a cabinet's chain damaged far from its
/// start included. Larger files are read lazily, like the read paths:
/// their cost then follows what the edit reads, not the cabinet.
pub const FULL_CHECK_MAX_SECTORS: u64 = 65_536;

/// [`FULL_CHECK_MAX_SECTORS`], which the test kit lowers
/// (`MSP_RETARGET_FULL_CHECK_MAX_SECTORS`) so that the tests of malformed
/// files also run the lazy path on small files.
fn full_check_max_sectors() -> u64 {
    #[cfg(feature = "testkit")]
    if let Some(v) = std::env::var("MSP_RETARGET_FULL_CHECK_MAX_SECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return v;
    }
    FULL_CHECK_MAX_SECTORS
}

/// Whether a file of `len` bytes, whose header gives the sector shift
/// `shift`, is small enough for the whole check.
pub(crate) fn checked_whole(shift: u16, len: u64) -> bool {
    match shift {
        9 | 12 => len >> shift <= full_check_max_sectors(),
        // Not a sector size: the full check and `cfb` say what is wrong.
        _ => true,
    }
}

/// Opens the input of an edit (`path`) with the lazy reader, read once.
/// A small file ([`FULL_CHECK_MAX_SECTORS`]) is first checked whole, as
/// before the lazy reader (structure check, `cfb`'s open, declared
/// lengths), with what that check established about its large streams;
/// a larger one is read lazily and gives an empty record. Errors name the
/// file, as [`open`]'s.
pub fn open_for_edit(path: &Path) -> Result<(Compound<File>, Option<Chains>)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", e).in_file(path))?;
    if meta.is_dir() {
        return Err(
            Error::new(crate::error::ErrorKind::Io, "is a directory, not a file").in_file(path),
        );
    }
    let mut file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
    let chains = open_reader_for_edit(&mut file, meta.len(), path)?;
    let cf = Compound::open(file, meta.len()).map_err(|e| e.in_file(path))?;
    Ok((cf, chains))
}

/// The whole check of [`open_for_edit`] when the file is small enough.
fn open_reader_for_edit(file: &mut File, len: u64, path: &Path) -> Result<Option<Chains>> {
    check_magic(file, len, path)?;
    let mut header = [0u8; 0x20];
    let got = file
        .rewind()
        .and_then(|_| read_up_to(file, &mut header))
        .map_err(|e| Error::io("reading", e).in_file(path))?;
    let shift = if got == header.len() {
        u16::from_le_bytes([header[0x1E], header[0x1F]])
    } else {
        0
    };
    if !checked_whole(shift, len) {
        return Ok(None);
    }
    let (cf, chains) = open_reader_checked(&mut *file, len, path)?;
    drop(cf);
    Ok(Some(chains))
}

/// Opens the compound file `reader` holds, `len` bytes long, with the lazy
/// reader; `path` names it in errors.
pub fn open_reader_lazily<F: Read + Seek>(
    mut reader: F,
    len: u64,
    path: &Path,
) -> Result<Compound<F>> {
    check_magic(&mut reader, len, path)?;
    Compound::open(reader, len).map_err(|e| e.in_file(path))
}

/// Refuses a file that does not start with the compound-file signature.
fn check_magic<F: Read + Seek>(file: &mut F, len: u64, path: &Path) -> Result<()> {
    let mut magic = [0u8; 8];
    let got = file
        .rewind()
        .and_then(|_| read_up_to(file, &mut magic))
        .map_err(|e| Error::io("reading", e).in_file(path))?;
    if got < magic.len() || magic != CFB_MAGIC {
        let why = if len == 0 {
            "the file is empty".to_string()
        } else {
            "it does not start with the compound-file signature D0 CF 11 E0 A1 B1 1A E1".to_string()
        };
        return Err(Error::format(format!(
            "not an OLE compound file (so not a patch, database or transform): {why}"
        ))
        .in_file(path));
    }
    Ok(())
}

/// One entry, as the read paths need it from either reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Its name as stored.
    pub name: String,
    /// Its path inside the file.
    pub path: PathBuf,
    /// A stream (else a storage).
    pub is_stream: bool,
    /// A stream's length.
    pub len: u64,
    /// A storage's CLSID.
    pub clsid: Uuid,
    /// User-defined state bits.
    pub state_bits: u32,
    /// Creation time as stored (FILETIME ticks; 0 for streams).
    pub created: u64,
    /// Modification time as stored (FILETIME ticks; 0 for streams).
    pub modified: u64,
}

/// A FILETIME (100-ns ticks since 1601) from the `SystemTime` `cfb` made
/// of it (the inverse of its conversion, exact where `SystemTime` has
/// 100-ns precision).
pub fn filetime(t: std::time::SystemTime) -> u64 {
    const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;
    let ticks = |d: std::time::Duration| {
        d.as_secs()
            .saturating_mul(10_000_000)
            .saturating_add(u64::from(d.subsec_nanos() / 100))
    };
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH_TICKS.saturating_add(ticks(d)),
        Err(e) => UNIX_EPOCH_TICKS.saturating_sub(ticks(e.duration())),
    }
}

/// What reading a compound file needs, from `cfb` (which edits) or from
/// the lazy reader [`Compound`] (which only reads): the one interface the
/// patch reader, the signature check and the database reader take, so that
/// each reads either.
pub trait Storage {
    /// A stream open for reading.
    type Stream<'a>: Read
    where
        Self: 'a;
    /// The root storage's CLSID.
    fn root_clsid(&self) -> Uuid;
    /// The root storage's state bits.
    fn root_state_bits(&self) -> u32;
    /// The entry at `path`.
    fn info(&self, path: &Path) -> Option<EntryInfo>;
    /// Whether `path` names an entry.
    fn exists(&self, path: &Path) -> bool {
        self.info(path).is_some()
    }
    /// Whether `path` names a stream.
    fn is_stream(&self, path: &Path) -> bool {
        self.info(path).is_some_and(|e| e.is_stream)
    }
    /// Whether `path` names a storage.
    fn is_storage(&self, path: &Path) -> bool {
        self.info(path).is_some_and(|e| !e.is_stream)
    }
    /// The entries directly under the storage `path`, in the file's order.
    fn children(&self, path: &Path) -> io::Result<Vec<EntryInfo>>;
    /// The storage `path` and everything below it, in `cfb`'s walk order.
    fn walk_from(&self, path: &Path) -> io::Result<Vec<EntryInfo>>;
    /// Opens the stream at `path`.
    fn open(&mut self, path: &Path) -> io::Result<Self::Stream<'_>>;
}

fn info_of_cfb(e: &cfb::Entry) -> EntryInfo {
    EntryInfo {
        name: e.name().to_string(),
        path: e.path().to_path_buf(),
        is_stream: e.is_stream(),
        len: e.len(),
        clsid: *e.clsid(),
        state_bits: e.state_bits(),
        created: filetime(e.created()),
        modified: filetime(e.modified()),
    }
}

impl<F: Read + Seek> Storage for CompoundFile<F> {
    type Stream<'a>
        = cfb::Stream<F>
    where
        F: 'a;
    fn root_clsid(&self) -> Uuid {
        *self.root_entry().clsid()
    }
    fn root_state_bits(&self) -> u32 {
        self.root_entry().state_bits()
    }
    fn info(&self, path: &Path) -> Option<EntryInfo> {
        self.entry(path).ok().map(|e| info_of_cfb(&e))
    }
    fn children(&self, path: &Path) -> io::Result<Vec<EntryInfo>> {
        Ok(self.read_storage(path)?.map(|e| info_of_cfb(&e)).collect())
    }
    fn walk_from(&self, path: &Path) -> io::Result<Vec<EntryInfo>> {
        Ok(self.walk_storage(path)?.map(|e| info_of_cfb(&e)).collect())
    }
    fn open(&mut self, path: &Path) -> io::Result<Self::Stream<'_>> {
        self.open_stream(path)
    }
}

fn info_of(path: PathBuf, e: &crate::format::compound::Entry) -> EntryInfo {
    EntryInfo {
        name: e.name.clone(),
        path,
        is_stream: e.is_stream(),
        len: e.len,
        clsid: e.clsid,
        state_bits: e.state_bits,
        created: e.created,
        modified: e.modified,
    }
}

impl<F: Read + Seek> Storage for Compound<F> {
    type Stream<'a>
        = crate::format::compound::Stream<'a, F>
    where
        F: 'a;
    fn root_clsid(&self) -> Uuid {
        self.root().clsid
    }
    fn root_state_bits(&self) -> u32 {
        self.root().state_bits
    }
    fn info(&self, path: &Path) -> Option<EntryInfo> {
        self.entry(path).map(|e| info_of(path.to_path_buf(), e))
    }
    fn children(&self, path: &Path) -> io::Result<Vec<EntryInfo>> {
        Ok(self
            .read_storage(path)?
            .into_iter()
            .map(|(p, e)| info_of(p, e))
            .collect())
    }
    fn walk_from(&self, path: &Path) -> io::Result<Vec<EntryInfo>> {
        Ok(self
            .walk_storage(path)?
            .into_iter()
            .map(|(p, e)| info_of(p, e))
            .collect())
    }
    fn open(&mut self, path: &Path) -> io::Result<Self::Stream<'_>> {
        self.open_stream(path)
    }
}

/// Opens the compound file that `reader` holds, `len` bytes long, with the
/// checks of [`open`]; `path` names it in errors.
pub fn open_reader<F: Read + Seek>(file: F, len: u64, path: &Path) -> Result<CompoundFile<F>> {
    open_reader_checked(file, len, path).map(|(cf, _)| cf)
}

/// [`open_reader`], with what the structure check established about the
/// file's large streams.
pub fn open_reader_checked<F: Read + Seek>(
    file: F,
    len: u64,
    path: &Path,
) -> Result<(CompoundFile<F>, Chains)> {
    open_reader_checked_with(file, len, path, None)
}

/// [`open_reader_checked`] of the result of an edit that left the intact
/// large chains `input` records as they were (see
/// [`crate::format::structure::check_edited`]).
pub fn open_edited_checked<F: Read + Seek>(
    file: F,
    len: u64,
    path: &Path,
    input: &Chains,
) -> Result<(CompoundFile<F>, Chains)> {
    open_reader_checked_with(file, len, path, Some(input))
}

fn open_reader_checked_with<F: Read + Seek>(
    mut file: F,
    len: u64,
    path: &Path,
    input: Option<&Chains>,
) -> Result<(CompoundFile<F>, Chains)> {
    check_magic(&mut file, len, path)?;
    // Before `cfb` opens it: nesting depth (its open and every walk over
    // its entries cost time and memory quadratic in the depth) and
    // cross-linked chains (which it reads without noticing).
    let chains = match input {
        Some(input) => crate::format::structure::check_edited(&mut file, input),
        None => crate::format::structure::check(&mut file),
    }
    .map_err(|e| e.in_file(path))?;
    file.rewind()
        .map_err(|e| Error::io("reading", e).in_file(path))?;
    let cf = CompoundFile::open(file).map_err(|e| {
        Error::io("malformed compound file", e)
            .at("compound-file structure")
            .in_file(path)
    })?;
    check_declared_lengths(&cf, len).map_err(|e| e.in_file(path))?;
    Ok((cf, chains))
}

/// Refuses a directory entry that declares more bytes than the whole file
/// holds. `cfb` trusts the declared lengths: reading such a stream walks
/// its chain round a loop for as long as the length says, and adding a
/// small stream to a file whose mini stream (the root entry's length)
/// claims exabytes grows the output without end (a 24 KB input wrote
/// 17 GB before the disk filled). No valid file has such an entry, so it
/// is refused before anything reads or writes.
pub fn check_declared_lengths<F>(cf: &CompoundFile<F>, file_len: u64) -> Result<()> {
    let root = cf.root_entry().len();
    if root > file_len {
        return Err(Error::format(format!(
            "the root entry declares a {root}-byte mini stream, more than the whole \
             {file_len}-byte file"
        ))
        .at("compound-file structure"));
    }
    if let Some(e) = cf.walk().find(|e| e.is_stream() && e.len() > file_len) {
        return Err(Error::format(format!(
            "declares {} bytes, more than the whole {file_len}-byte file",
            e.len()
        ))
        .at(stream_part(e.path())));
    }
    Ok(())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The kind of an opened compound file.
pub fn kind_of<S: Storage>(cf: &S) -> FileKind {
    FileKind::from_clsid(&cf.root_clsid())
}

/// Reads a whole stream that the tool is going to parse, refusing streams
/// longer than `limit` bytes before allocating anything.
pub fn read_stream_bounded<S: Storage>(cf: &mut S, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let len = cf
        .info(path)
        .ok_or_else(|| {
            Error::io(
                "cannot find",
                io::Error::new(io::ErrorKind::NotFound, "No such stream"),
            )
            .at(stream_part(path))
        })?
        .len;
    if len > limit {
        return Err(Error::format(format!(
            "is {len} bytes long; streams the tool parses are limited to {limit} bytes"
        ))
        .at(stream_part(path)));
    }
    let mut stream = cf
        .open(path)
        .map_err(|e| Error::io("cannot open", e).at(stream_part(path)))?;
    // `len` is bounded by `limit` above, so the reservation is too.
    let mut buf = Vec::with_capacity(len as usize);
    stream
        .by_ref()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading", e).at(stream_part(path)))?;
    Ok(buf)
}

/// The names of the entries directly under the root storage.
pub fn root_names<S: Storage>(cf: &S) -> Vec<String> {
    cf.children(Path::new("/"))
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

/// Metadata of one entry that a faithful copy must reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// Path inside the file.
    pub path: PathBuf,
    /// Storage or stream.
    pub is_stream: bool,
    /// Stream length (0 for storages).
    pub len: u64,
    /// CLSID (storages).
    pub clsid: Uuid,
    /// User-defined state bits.
    pub state_bits: u32,
    /// Creation time as stored.
    pub created: std::time::SystemTime,
    /// Modification time as stored.
    pub modified: std::time::SystemTime,
}

/// The `SystemTime` `cfb` makes of a FILETIME (100-ns ticks since 1601),
/// the inverse of [`filetime`]: metadata read by either reader compares
/// and copies the same (`cfb` writes back the ticks it was given).
pub fn system_time(ticks: u64) -> std::time::SystemTime {
    const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;
    let duration = |d: u64| std::time::Duration::new(d / 10_000_000, (d % 10_000_000) as u32 * 100);
    let t = if ticks >= UNIX_EPOCH_TICKS {
        std::time::UNIX_EPOCH.checked_add(duration(ticks - UNIX_EPOCH_TICKS))
    } else {
        std::time::UNIX_EPOCH.checked_sub(duration(UNIX_EPOCH_TICKS - ticks))
    };
    t.unwrap_or(std::time::UNIX_EPOCH)
}

impl EntryMeta {
    /// The metadata of an entry of either reader.
    pub fn from_info(e: &EntryInfo) -> EntryMeta {
        EntryMeta {
            path: e.path.clone(),
            is_stream: e.is_stream,
            len: e.len,
            clsid: e.clsid,
            state_bits: e.state_bits,
            created: system_time(e.created),
            modified: system_time(e.modified),
        }
    }
}

/// Every entry below (and including) `path`, in the crate's walk order.
pub fn walk<S: Storage>(cf: &S, path: &Path) -> Result<Vec<EntryMeta>> {
    Ok(cf
        .walk_from(path)
        .map_err(|e| Error::io("cannot list", e).at(storage_part(&path_text(path))))?
        .iter()
        .map(EntryMeta::from_info)
        .collect())
}

/// Copies the storage `src_path` of `src` to the new storage `dst_path` of
/// `dst`: every stream byte for byte, sub-storages recursively, and the
/// CLSID, state bits and timestamps of every entry. `replace` may supply
/// new contents for a stream, given its path relative to the storage; the
/// stream's original bytes are then not read here at all.
pub fn copy_storage<S, W>(
    src: &mut S,
    src_path: &Path,
    dst: &mut CompoundFile<W>,
    dst_path: &Path,
    replace: &mut dyn FnMut(&Path) -> Option<Vec<u8>>,
) -> Result<()>
where
    S: Storage,
    W: Read + Write + Seek,
{
    let entries = walk(src, src_path)?;
    let part = || storage_part(&path_text(dst_path));
    // Each entry's path relative to the storage and its target, worked out
    // once (`Path::strip_prefix` walks both paths' components).
    let places: Vec<(PathBuf, PathBuf)> = entries
        .iter()
        .map(|e| {
            let rel = e.path.strip_prefix(src_path).unwrap_or(&e.path);
            let target = if rel.as_os_str().is_empty() {
                dst_path.to_path_buf()
            } else {
                dst_path.join(rel)
            };
            (rel.to_path_buf(), target)
        })
        .collect();
    for (e, (rel, target)) in entries.iter().zip(&places) {
        if !e.is_stream {
            dst.create_storage(target)
                .map_err(|err| Error::io("cannot create storage", err).at(part()))?;
            continue;
        }
        let mut out = dst
            .create_new_stream(target)
            .map_err(|err| Error::io("cannot create", err).at(stream_part(target)))?;
        match replace(rel) {
            Some(bytes) => out.write_all(&bytes),
            None => {
                let mut input = src
                    .open(&e.path)
                    .map_err(|err| Error::io("cannot open", err).at(stream_part(&e.path)))?;
                io::copy(&mut input, &mut out).map(|_| ())
            }
        }
        .and_then(|_| out.flush())
        .map_err(|err| Error::io("copying", err).at(stream_part(target)))?;
    }
    // Metadata last: creating children must not be able to overwrite it.
    for (e, (_, target)) in entries.iter().zip(&places) {
        let set = |dst: &mut CompoundFile<W>| -> io::Result<()> {
            // A new entry's state bits are zero: most entries have none,
            // and each set rewrites the directory entry.
            if e.state_bits != 0 {
                dst.set_state_bits(target, e.state_bits)?;
            }
            if !e.is_stream {
                dst.set_storage_clsid(target, e.clsid)?;
                dst.set_created_time(target, e.created)?;
                dst.set_modified_time(target, e.modified)?;
            }
            Ok(())
        };
        set(dst).map_err(|err| Error::io("cannot set metadata", err).at(part()))?;
    }
    Ok(())
}

/// Compares two streams byte for byte without loading either whole.
pub fn streams_equal(a: &mut impl Read, b: &mut impl Read) -> io::Result<bool> {
    // The buffers start small and grow while reads fill them: verification
    // compares thousands of streams of a few kilobytes, and zeroing two
    // 64 KiB buffers for each was a tenth of a 100-instance edit.
    let mut ba = vec![0u8; 4096];
    let mut bb = vec![0u8; 4096];
    loop {
        let na = read_up_to(a, &mut ba)?;
        let nb = read_up_to(b, &mut bb)?;
        if na != nb || ba.get(..na) != bb.get(..nb) {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
        if na == ba.len() && ba.len() < 64 * 1024 {
            ba.resize(ba.len() * 2, 0);
            bb.resize(bb.len() * 2, 0);
        }
    }
}

/// Whether the stream `a` holds exactly the bytes `want`, read without
/// loading it whole.
pub fn stream_holds(a: &mut impl Read, want: &[u8]) -> io::Result<bool> {
    // Into a buffer the size of `want` (one byte more tells a longer
    // stream): no zeroed buffer for each of the thousands of small
    // streams verification compares.
    let limit = want.len().saturating_add(1);
    let mut got = Vec::with_capacity(limit);
    a.take(limit as u64).read_to_end(&mut got)?;
    Ok(got == want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn kinds_by_clsid() {
        assert_eq!(FileKind::from_clsid(&CLSID_PATCH), FileKind::Patch);
        assert_eq!(FileKind::from_clsid(&CLSID_DATABASE), FileKind::Database);
        assert_eq!(FileKind::from_clsid(&CLSID_TRANSFORM), FileKind::Transform);
        assert_eq!(FileKind::from_clsid(&Uuid::nil()), FileKind::Other);
        // On-disk bytes of the patch CLSID, as the format notes give them.
        assert_eq!(&CLSID_PATCH.to_bytes_le()[..4], &[0x86, 0x10, 0x0C, 0x00]);
    }

    #[test]
    fn stream_part_unpacks_msi_names() {
        let packed = crate::format::streamname::encode("PCW_CAB_Sample", false);
        assert_eq!(
            stream_part(&Path::new("/").join(&packed)),
            format!("stream {packed} (PCW_CAB_Sample)")
        );
        assert_eq!(
            stream_part(Path::new("/rtmA.1/\u{5}SummaryInformation")),
            "stream rtmA.1/\\005SummaryInformation"
        );
    }

    #[test]
    fn show_name_escapes_control_characters() {
        assert_eq!(
            show_name("\u{5}SummaryInformation"),
            "\\005SummaryInformation"
        );
    }

    #[test]
    fn copy_storage_reproduces_streams_and_metadata() {
        let mut src = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        src.create_storage("/t").unwrap();
        src.create_storage("/t/sub").unwrap();
        src.create_stream("/t/a")
            .unwrap()
            .write_all(b"hello")
            .unwrap();
        src.create_stream("/t/sub/big")
            .unwrap()
            .write_all(&vec![7u8; 10_000])
            .unwrap();
        src.create_stream("/t/x")
            .unwrap()
            .write_all(b"old")
            .unwrap();
        src.set_storage_clsid("/t", CLSID_TRANSFORM).unwrap();
        src.set_state_bits("/t/a", 42).unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        src.set_created_time("/t", when).unwrap();
        src.set_modified_time("/t/sub", when).unwrap();

        let mut dst = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        let mut replace = |p: &Path| (p == Path::new("x")).then(|| b"new".to_vec());
        copy_storage(
            &mut src,
            Path::new("/t"),
            &mut dst,
            Path::new("/c"),
            &mut replace,
        )
        .unwrap();

        let e = dst.entry("/c").unwrap();
        assert_eq!(*e.clsid(), CLSID_TRANSFORM);
        assert_eq!(e.created(), when);
        assert_eq!(dst.entry("/c/sub").unwrap().modified(), when);
        assert_eq!(dst.entry("/c/a").unwrap().state_bits(), 42);
        let mut s = String::new();
        dst.open_stream("/c/a")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        let mut v = Vec::new();
        dst.open_stream("/c/sub/big")
            .unwrap()
            .read_to_end(&mut v)
            .unwrap();
        assert_eq!(v, vec![7u8; 10_000]);
        s.clear();
        dst.open_stream("/c/x")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "new");
    }

    #[test]
    fn bounded_read_refuses_long_streams() {
        let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.create_stream("/s")
            .unwrap()
            .write_all(&[1u8; 100])
            .unwrap();
        assert_eq!(
            read_stream_bounded(&mut cf, Path::new("/s"), 100)
                .unwrap()
                .len(),
            100
        );
        let e = read_stream_bounded(&mut cf, Path::new("/s"), 99).unwrap_err();
        assert!(e.to_string().contains("limited to 99 bytes"), "{e}");
    }

    #[test]
    fn stream_holds_compares_with_bytes_in_memory() {
        let long: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert!(stream_holds(&mut &long[..], &long).unwrap());
        assert!(stream_holds(&mut &b""[..], b"").unwrap());
        assert!(!stream_holds(&mut &long[..9_999], &long).unwrap());
        assert!(!stream_holds(&mut &long[..], &long[..9_999]).unwrap());
        assert!(!stream_holds(&mut &long[..], &long[..4096]).unwrap());
        let mut other = long.clone();
        other[9_000] ^= 1;
        assert!(!stream_holds(&mut &other[..], &long).unwrap());
        assert!(!stream_holds(&mut &b"abc"[..], b"abd").unwrap());
        assert!(!stream_holds(&mut &b"ab"[..], b"").unwrap());
    }

    #[test]
    fn streams_equal_compares_content() {
        assert!(streams_equal(&mut &b"abc"[..], &mut &b"abc"[..]).unwrap());
        assert!(!streams_equal(&mut &b"abc"[..], &mut &b"abd"[..]).unwrap());
        assert!(!streams_equal(&mut &b"abc"[..], &mut &b"ab"[..]).unwrap());
        // Past the buffers' first size and their largest.
        let long: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut changed = long.clone();
        changed[250_000] ^= 1;
        assert!(streams_equal(&mut &long[..], &mut &long.clone()[..]).unwrap());
        assert!(!streams_equal(&mut &long[..], &mut &changed[..]).unwrap());
        assert!(!streams_equal(&mut &long[..], &mut &long[..299_999]).unwrap());
    }
}
