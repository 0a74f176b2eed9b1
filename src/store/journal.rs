//! Crash-safe in-place edits: a redo journal of the few blocks an edit
//! changes, written and synced before the patch is touched.
//!
//! # Why a journal
//!
//! Replacing a patch by a fresh copy (copy, edit, sync, rename) is atomic
//! but costs a full copy and a full sync of the file, about a second per
//! gigabyte of cabinet. An edit of a patch only adds a few storages and
//! rewrites two summary streams: some kilobytes of directory, allocation
//! tables and new sectors. Writing those in place is cheap, but a crash
//! half-way would leave a file that is neither the old nor the new patch.
//! A copy-on-write clone would avoid both costs only where the file system
//! can clone (not ext4), so the tool journals instead, everywhere:
//!
//! 1. The edit is made in an [`Overlay`] of the unchanged file and verified
//!    there ([`crate::commands::retarget`]).
//! 2. [`commit`] writes `.NAME.msp-retarget.journal` beside the patch: a
//!    header with the file's length before and after, then one record per
//!    run of changed blocks (offset, the new bytes, and the old bytes of
//!    the part that existed before), each with a CRC-32, then an end marker
//!    with a CRC-32 of the whole journal. It syncs the journal and the
//!    folder.
//! 3. It sets the patch's new length, writes the new bytes into it, syncs
//!    it.
//! 4. It deletes the journal and syncs the folder.
//!
//! A crash before the end of step 2 leaves an incomplete journal and an
//! untouched patch: the journal is discarded. A crash in step 3 or 4
//! leaves a complete journal: writing its records again (idempotent:
//! records hold whole new contents, not differences) completes the edit.
//! If writing fails in step 3 without a crash (a full disk, a file-size
//! limit), the old bytes in the journal are written back, the length
//! restored, and the error reported: the patch is the original again.
//!
//! # Who recovers
//!
//! Every command that edits a patch, or reads one to write another
//! (`retarget`, `untarget`, with `-o` or `--in-place`), first takes an
//! exclusive advisory lock on the patch ([`EditLock`]) and completes or
//! discards a journal it finds ([`recover`]); so does
//! `msp-retarget recover FILE`. Commands that only read (`inspect`,
//! `check`, dry runs) never write: they refuse a patch with a complete
//! journal beside it, because its bytes may be half old, half new, and say
//! to run `msp-retarget recover`; an incomplete journal means the patch
//! was never touched, and they read it.
//!
//! A journal that is complete but does not fit the patch (a length that is
//! neither the before nor the after length, or a block that is neither its
//! old nor its new bytes) means the patch was changed by something else
//! after the crash; it is refused, not replayed.
//!
//! The lock is advisory (`flock` on Unix): it keeps two runs of this tool
//! from interleaving; another program writing the patch at the same time
//! is not stopped. A reader outside the tool could, during step 3 (a few
//! milliseconds), see a mix of old and new blocks.
//!
//! [`Overlay`]: crate::store::overlay::Overlay

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Reason, Result, Setting};
use crate::store::commit::{folder_of, sync_folder};
use crate::store::overlay::{BLOCK, Overlay, ReadAt, write_all_at};

const MAGIC: &[u8; 8] = b"MSPRJRNL";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 40;
const RECORD_TAG: &[u8; 4] = b"REC1";
const END_TAG: &[u8; 4] = b"END1";
/// Largest record: runs of changed blocks are cut into records of at most
/// this many new bytes, so that replaying needs at most this much memory.
pub const MAX_RECORD: u64 = 1024 * 1024;

/// The journal path for `target`: `.NAME.msp-retarget.journal` in the same
/// folder.
pub fn journal_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "patch".into());
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    folder.join(format!(".{name}.msp-retarget.journal"))
}

// ----------------------------------------------------------------------
// CRC-32 (IEEE 802.3, the one of zip and PNG), table-driven, eight bytes
// at a time ("slicing-by-8"): the journal of an edit holds every block it
// wrote, each byte in a record's CRC and the whole journal's, and a byte at
// a time was most of the commit's instructions. Written here rather than
// taken from a crate for these few lines; the tests check it against the
// byte-at-a-time form and the standard check value.

/// `CRC_TABLES[0]` is the classic table; `CRC_TABLES[k][b]` is the CRC of
/// byte `b` followed by `k` zero bytes.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
};

/// A running CRC-32.
#[derive(Clone, Copy)]
struct Crc(u32);

impl Crc {
    fn new() -> Crc {
        Crc(0xFFFF_FFFF)
    }
    fn update(&mut self, bytes: &[u8]) {
        let t = &CRC_TABLES;
        let mut c = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for w in &mut chunks {
            let lo = c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
            c = t[7][(lo & 0xFF) as usize]
                ^ t[6][((lo >> 8) & 0xFF) as usize]
                ^ t[5][((lo >> 16) & 0xFF) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xFF) as usize]
                ^ t[2][((hi >> 8) & 0xFF) as usize]
                ^ t[1][((hi >> 16) & 0xFF) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
            c = t[0][((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }
    fn value(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

// ----------------------------------------------------------------------
// Writing.

/// A writer that keeps the CRC of everything written through it.
struct CrcWriter<W> {
    inner: W,
    crc: Crc,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// One record to write: where, and how many bytes existed there before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordPlace {
    offset: u64,
    new_len: u64,
    old_len: u64,
}

fn record_places(overlay_runs: &[(u64, u64)], len_before: u64, len_after: u64) -> Vec<RecordPlace> {
    let mut places = Vec::new();
    for (start, end) in covering_growth(overlay_runs, len_before, len_after) {
        let mut at = start;
        while at < end {
            let new_len = (end - at).min(MAX_RECORD);
            places.push(RecordPlace {
                offset: at,
                new_len,
                old_len: len_before.saturating_sub(at).min(new_len),
            });
            at += new_len;
        }
    }
    places
}

fn write_journal<B: ReadAt>(
    path: &Path,
    overlay: &Overlay<B>,
    places: &[RecordPlace],
) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(256 * 1024, file),
        crc: Crc::new(),
    };
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&(BLOCK as u32).to_le_bytes());
    header.extend_from_slice(&overlay.base_len().to_le_bytes());
    header.extend_from_slice(&overlay.len().to_le_bytes());
    let mut hc = Crc::new();
    hc.update(&header);
    header.extend_from_slice(&hc.value().to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    w.put(&header)?;
    let mut buf = Vec::new();
    for p in places {
        buf.clear();
        buf.extend_from_slice(RECORD_TAG);
        buf.extend_from_slice(&p.offset.to_le_bytes());
        buf.extend_from_slice(&(p.new_len as u32).to_le_bytes());
        buf.extend_from_slice(&(p.old_len as u32).to_le_bytes());
        let head = buf.len();
        buf.resize(head + (p.new_len + p.old_len) as usize, 0);
        let (new, old) = buf[head..].split_at_mut(p.new_len as usize);
        read_exact_at(overlay, new, p.offset)?;
        read_exact_at_base(overlay.base(), old, p.offset)?;
        let mut rc = Crc::new();
        rc.update(&buf);
        buf.extend_from_slice(&rc.value().to_le_bytes());
        w.put(&buf)?;
    }
    w.put(END_TAG)?;
    w.put(&(places.len() as u64).to_le_bytes())?;
    let total = w.crc.value();
    w.inner.write_all(&total.to_le_bytes())?;
    let file = w.inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(file)
}

fn read_exact_at<B: ReadAt>(ov: &Overlay<B>, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = ov.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

fn read_exact_at_base<R: ReadAt + ?Sized>(r: &R, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match r.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------
// Reading.

/// What a complete journal's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalHeader {
    /// The patch's length before the edit.
    pub len_before: u64,
    /// Its length after.
    pub len_after: u64,
    /// Number of records.
    pub records: u64,
}

/// One record as read back.
struct Record<'a> {
    offset: u64,
    new: &'a [u8],
    old: &'a [u8],
}

fn take<const N: usize>(r: &mut impl Read, crc: &mut Crc) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    crc.update(&b);
    Ok(b)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// What reading a journal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// Complete, every checksum right, and shaped as the tool writes
    /// journals.
    Complete(JournalHeader),
    /// Torn or damaged: it was being written when the process stopped
    /// (the patch was not touched yet).
    Incomplete,
    /// Every checksum right, but not shaped as the tool writes journals
    /// (records out of order or overlapping, a length its records do not
    /// justify): the journal is not the tool's, and is never replayed.
    Foreign(String),
}

/// Reads a journal from the start, checking every bound and checksum, and
/// calls `f` for each record. `f` is called before the whole-journal
/// checksum is known, and only for records that pass the shape rules, so
/// callers that write run a checking pass first.
///
/// The shape rules bind what a complete journal may make a replay do to
/// what its records hold: records are sorted and disjoint, none is empty,
/// none reaches past the length after, each carries exactly the old bytes
/// that existed before at its place, the length after is never below the
/// length before, and every byte from the length before to the length
/// after is written by a record. A replay can therefore grow a file by at
/// most the bytes the journal carries, and writes nowhere the journal does
/// not hold the new bytes for.
fn read_journal(
    file: &File,
    mut f: impl FnMut(&JournalHeader, Record<'_>) -> io::Result<()>,
) -> io::Result<Reading> {
    let file_len = file.metadata()?.len();
    let mut start = file;
    start.rewind()?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let mut total = Crc::new();
    let mut head = [0u8; HEADER_LEN];
    if file_len < HEADER_LEN as u64 {
        return Ok(Reading::Incomplete);
    }
    r.read_exact(&mut head)?;
    total.update(&head);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at =
        |b: &[u8], at: usize| u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32);
    let mut hc = Crc::new();
    hc.update(&head[..32]);
    if &head[..8] != MAGIC
        || u32_at(&head, 8) != VERSION
        || u64::from(u32_at(&head, 12)) != BLOCK
        || u32_at(&head, 32) != hc.value()
    {
        return Ok(Reading::Incomplete);
    }
    let mut header = JournalHeader {
        len_before: u64_at(&head, 16),
        len_after: u64_at(&head, 24),
        records: 0,
    };
    // The first broken shape rule: a header checksum that is right rules
    // out a torn header, so a length after below the length before is the
    // journal's own doing.
    let mut foreign: Option<String> = (header.len_after < header.len_before).then(|| {
        format!(
            "it shrinks the file from {} to {} bytes, which an edit never does",
            header.len_before, header.len_after
        )
    });
    // Where the previous record ended; how far from the length before the
    // records have written without a gap.
    let mut previous_end = 0u64;
    let mut grown_to = header.len_before;
    let mut consumed = HEADER_LEN as u64;
    let mut buf = Vec::new();
    loop {
        let mut rc = Crc::new();
        let tag: [u8; 4] = match take(&mut r, &mut rc) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Reading::Incomplete),
            Err(e) => return Err(e),
        };
        if &tag == END_TAG {
            total.update(&tag);
            let count = match take::<8>(&mut r, &mut total) {
                Ok(c) => u64::from_le_bytes(c),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Reading::Incomplete);
                }
                Err(e) => return Err(e),
            };
            let mut stored = [0u8; 4];
            if r.read_exact(&mut stored).is_err() {
                return Ok(Reading::Incomplete);
            }
            consumed += 16;
            let complete = count == header.records
                && u32::from_le_bytes(stored) == total.value()
                && consumed == file_len;
            if !complete {
                return Ok(Reading::Incomplete);
            }
            if foreign.is_none() && header.records == 0 {
                foreign = Some("it holds no record".into());
            }
            if foreign.is_none() && grown_to < header.len_after {
                foreign = Some(format!(
                    "it sets the file's length to {} bytes, but its records write it only up \
                     to byte {grown_to} (the length before was {})",
                    header.len_after, header.len_before
                ));
            }
            return Ok(match foreign {
                Some(why) => Reading::Foreign(why),
                None => Reading::Complete(header),
            });
        }
        if &tag != RECORD_TAG {
            return Ok(Reading::Incomplete);
        }
        let fixed = match take::<16>(&mut r, &mut rc) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Reading::Incomplete),
            Err(e) => return Err(e),
        };
        let offset = u64_at(&fixed, 0);
        let new_len = u64::from(u32_at(&fixed, 8));
        let old_len = u64::from(u32_at(&fixed, 12));
        // Lengths that cannot be read safely: a torn or damaged record.
        if new_len > MAX_RECORD
            || old_len > new_len
            || consumed + 20 + new_len + old_len + 4 > file_len
        {
            return Ok(Reading::Incomplete);
        }
        buf.clear();
        buf.resize((new_len + old_len) as usize, 0);
        r.read_exact(&mut buf)?;
        rc.update(&buf);
        let mut stored = [0u8; 4];
        r.read_exact(&mut stored)?;
        if u32::from_le_bytes(stored) != rc.value() {
            return Ok(Reading::Incomplete);
        }
        total.update(&tag);
        total.update(&fixed);
        total.update(&buf);
        total.update(&stored);
        consumed += 20 + new_len + old_len + 4;
        header.records += 1;
        // A record whose checksum is right was written whole: a broken
        // shape rule is the journal's own doing.
        let end = offset.checked_add(new_len);
        let problem = if new_len == 0 {
            Some(format!("record {} is empty", header.records))
        } else if offset < previous_end {
            Some(format!(
                "record {} (offset {offset}) overlaps or precedes the record before it, which \
                 ends at offset {previous_end}",
                header.records
            ))
        } else if end.is_none_or(|end| end > header.len_after) {
            Some(format!(
                "record {} (offset {offset}, {new_len} bytes) reaches past the length after the \
                 edit, {} bytes",
                header.records, header.len_after
            ))
        } else if old_len != header.len_before.saturating_sub(offset).min(new_len) {
            Some(format!(
                "record {} (offset {offset}) holds {old_len} bytes of before-image, where the \
                 file had {} bytes before the edit",
                header.records,
                header.len_before.saturating_sub(offset).min(new_len)
            ))
        } else {
            None
        };
        if foreign.is_none() {
            foreign = problem;
        }
        if foreign.is_some() {
            // Read on for the checksums (a torn journal is incomplete, not
            // foreign), but never hand such a record to `f`.
            continue;
        }
        let end = offset + new_len;
        previous_end = end;
        if end > header.len_before {
            if offset > grown_to {
                foreign = Some(format!(
                    "bytes {grown_to} to {offset}, past the length before the edit ({}), are \
                     written by no record",
                    header.len_before
                ));
                continue;
            }
            grown_to = grown_to.max(end);
        }
        let (new, old) = buf.split_at(new_len as usize);
        f(&header, Record { offset, new, old })
            .map_err(|e| io::Error::new(e.kind(), format!("applying the journal: {e}")))?;
    }
}

/// Reads `journal` whole and says whether it is complete, torn or foreign.
pub fn validate(journal: &File) -> io::Result<Reading> {
    read_journal(journal, |_, _| Ok(()))
}

/// The runs of changed blocks, extended over any gap in the part an edit
/// adds to the file: records must cover every byte between the length
/// before and the length after ([`read_journal`]'s rules). A gap's bytes
/// are zeros in the overlay, and are journalled as such.
fn covering_growth(runs: &[(u64, u64)], len_before: u64, len_after: u64) -> Vec<(u64, u64)> {
    if len_after <= len_before {
        return runs.to_vec();
    }
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(runs.len() + 1);
    let mut all: Vec<(u64, u64)> = runs.to_vec();
    all.push((len_before, len_after));
    all.sort_unstable();
    for (start, end) in all {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

// ----------------------------------------------------------------------
// Recovery.

/// What [`recover`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// No journal: nothing to do.
    Nothing,
    /// A complete journal: the interrupted edit was completed.
    Completed,
    /// An incomplete journal: the patch had not been touched; the journal
    /// was deleted.
    Discarded,
}

fn remove_journal(journal: &Path) -> io::Result<()> {
    match fs::remove_file(journal) {
        Ok(()) => sync_folder(folder_of(journal)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the journal of `target`, if there is one. A journal path that is
/// not a regular file (a link, a folder) is not the tool's and is refused.
fn open_journal(target: &Path) -> Result<Option<(PathBuf, File)>> {
    let jp = journal_path(target);
    match fs::symlink_metadata(&jp) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read the journal", e).in_file(&jp)),
        Ok(m) if !m.file_type().is_file() => {
            return Err(Error::refused(format!(
                "{} is in the place of an in-place edit journal but is not a regular file; \
                 remove it",
                jp.display()
            ))
            .in_file(target));
        }
        Ok(_) => {}
    }
    let f = File::open(&jp).map_err(|e| Error::io("cannot open the journal", e).in_file(&jp))?;
    Ok(Some((jp, f)))
}

/// The refusal of a journal that is not the tool's: it is named, with the
/// reason, and kept (the user decides what it is).
fn foreign_journal(jp: &Path, target: &Path, why: &str) -> Error {
    Error::refused(format!(
        "the in-place edit journal {} beside this patch is not one this tool wrote for it \
         ({why}); it is not replayed. Check the patch and delete the journal",
        jp.display()
    ))
    .in_file(target)
}

/// Refuses to read `path` while a complete journal lies beside it: the
/// patch may be half-written (see the module documentation). An incomplete
/// journal is only mentioned: the patch was not touched. A foreign journal
/// is refused too, naming it. Nothing is written or deleted: this is the
/// check of the commands that only read the patch, `-o` runs included.
/// Readers do not call this (reading knows no journal): every command
/// calls it on each file it is about to read. A path that is missing or a
/// folder is left to the reader, whose error names that first.
pub fn check_readable(path: &Path) -> Result<()> {
    if !std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) {
        return Ok(());
    }
    let target = crate::store::commit::resolve_dest(path);
    let Some((jp, f)) = open_journal(&target)? else {
        return Ok(());
    };
    match validate(&f) {
        Ok(Reading::Complete(_)) => Err(Error::refused(
            Reason::new(format!(
                "an in-place edit of this patch was interrupted (or is running): {} holds its \
                 journal. Run ",
                jp.display(),
            ))
            .then(Setting::Recover {
                file: Some(path.to_path_buf()),
            })
            .and(" (or ")
            .then(Setting::RedoInPlace)
            .and(") to complete the edit before reading it"),
        )
        .in_file(path)),
        Ok(Reading::Foreign(why)) => Err(foreign_journal(&jp, path, &why)),
        Ok(Reading::Incomplete) => {
            tracing::warn!(
                journal = %jp.display(),
                "an unfinished in-place edit journal lies beside the patch; the patch itself was \
                 not touched (recovering the patch deletes the journal)"
            );
            Ok(())
        }
        Err(e) => Err(Error::io("cannot read the journal", e).in_file(&jp)),
    }
}

/// The first block of `rec` that holds neither the record's old nor its
/// new bytes in `file` (`len` bytes long): a crash can leave any mix of
/// the two, block by block, and past the old length the new bytes or the
/// zeros that extending the file gave. Any other content means the
/// journal is not the before-image of this file.
fn stray_block(
    file: &File,
    len: u64,
    rec: &Record<'_>,
    current: &mut [u8],
) -> io::Result<Option<u64>> {
    for (k, new) in rec.new.chunks(BLOCK as usize).enumerate() {
        let at = rec.offset + (k as u64) * BLOCK;
        if at >= len {
            break;
        }
        let n = ((len - at) as usize).min(new.len());
        let cur = &mut current[..n];
        read_exact_at_base(file, cur, at)?;
        let old = rec.old.get(k * BLOCK as usize..).unwrap_or_default();
        let old = old.get(..n.min(old.len())).unwrap_or_default();
        let is_old = if old.is_empty() {
            cur.iter().all(|b| *b == 0)
        } else {
            old.len() == n && cur == old
        };
        if *cur != new[..n] && !is_old {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// Completes or discards the journal left beside `target` by an
/// interrupted in-place edit. The caller holds the [`EditLock`], so no
/// other run of the tool is writing that journal.
///
/// A complete journal is bound to the file before anything is written:
/// the file's length must be the length before or after the edit, and
/// every block a record covers must hold the record's old bytes or its new
/// ones. A journal that fails this, or breaks the shape rules of
/// [`read_journal`], is refused and kept, never replayed.
pub fn recover(target: &Path) -> Result<Recovery> {
    let Some((jp, jf)) = open_journal(target)? else {
        return Ok(Recovery::Nothing);
    };
    let jerr = |what: &str, e: io::Error| Error::io(what.to_string(), e).in_file(&jp);
    let header = match validate(&jf).map_err(|e| jerr("cannot read the journal", e))? {
        Reading::Complete(header) => header,
        Reading::Foreign(why) => return Err(foreign_journal(&jp, target, &why)),
        Reading::Incomplete => {
            tracing::warn!(journal = %jp.display(), "deleting an unfinished journal; the patch was not touched");
            remove_journal(&jp).map_err(|e| jerr("cannot delete the unfinished journal", e))?;
            return Ok(Recovery::Discarded);
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(target)
        .map_err(|e| {
            Error::io("cannot open for completing an interrupted in-place edit", e).in_file(target)
        })?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("cannot read", e).in_file(target))?
        .len();
    let mismatch = |why: String| {
        Error::refused(format!(
            "{why}: the patch was changed after an interrupted in-place edit, or the journal \
             {} is not its own; it is not replayed. Delete the journal to keep the patch as it \
             is, or restore the patch from a copy",
            jp.display()
        ))
        .in_file(target)
    };
    if len != header.len_before && len != header.len_after {
        return Err(mismatch(format!(
            "the patch is {len} bytes long, the journal expects {} or {}",
            header.len_before, header.len_after
        )));
    }
    let mut current = vec![0u8; BLOCK as usize];
    let mut stray = None;
    read_journal(&jf, |_, rec| {
        if stray.is_none() {
            stray = stray_block(&file, len, &rec, &mut current)?;
        }
        Ok(())
    })
    .map_err(|e| Error::io("reading the patch", e).in_file(target))?;
    if let Some(at) = stray {
        return Err(mismatch(format!(
            "the block at offset {at} holds neither the bytes before nor after the edit"
        )));
    }
    tracing::warn!(journal = %jp.display(), "completing an interrupted in-place edit");
    // The replay checks each record again just before writing it, and the
    // journal must read the same: a journal rewritten between the passes
    // stops the replay instead of steering it.
    let replayed = read_journal(&jf, |_, rec| {
        if let Some(at) = stray_block(&file, len, &rec, &mut current)? {
            return Err(invalid(&format!(
                "the journal changed while it was replayed (block at offset {at})"
            )));
        }
        write_all_at(&file, rec.new, rec.offset)
    })
    .map_err(|e| Error::io("completing the interrupted edit", e).in_file(target))?;
    if replayed != Reading::Complete(header) {
        return Err(Error::io(
            "completing the interrupted edit",
            invalid("the journal changed while it was replayed"),
        )
        .in_file(target));
    }
    file.set_len(header.len_after)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io("completing the interrupted edit", e).in_file(target))?;
    remove_journal(&jp).map_err(|e| jerr("cannot delete the journal", e))?;
    Ok(Recovery::Completed)
}

// ----------------------------------------------------------------------
// Committing.

/// Writes the pending writes of `overlay` (whose base is `target`, opened
/// for reading) into `target` through a journal; see the module
/// documentation. The caller holds the [`EditLock`].
pub fn commit(target: &Path, overlay: &Overlay<File>) -> Result<()> {
    let jp = journal_path(target);
    let places = record_places(&overlay.written(), overlay.base_len(), overlay.len());
    if places.is_empty() {
        // Nothing changed: no journal (one without records is not valid).
        return Ok(());
    }
    let io_err = |what: Reason, e: io::Error| Error::io(what, e).in_file(target);
    let file = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| io_err("cannot open for writing".into(), e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err("cannot read".into(), e))?
        .len();
    if len != overlay.base_len() {
        return Err(Error::new(
            crate::error::ErrorKind::Io,
            format!(
                "the patch changed length while it was being edited ({} → {len} bytes); \
                 nothing was written",
                overlay.base_len()
            ),
        )
        .in_file(target));
    }
    let journal = match write_journal(&jp, overlay, &places) {
        Ok(j) => j,
        Err(e) => {
            let _ = fs::remove_file(&jp);
            return Err(io_err(
                format!(
                    "writing the in-place edit journal {} (the patch is unchanged)",
                    jp.display()
                )
                .into(),
                e,
            ));
        }
    };
    if let Err(e) = sync_folder(folder_of(&jp)) {
        drop(journal);
        let _ = remove_journal(&jp);
        return Err(io_err(
            "syncing the folder (the patch is unchanged)".into(),
            e,
        ));
    }
    tracing::debug!(records = places.len(), journal = %jp.display(), "journal written");
    failpoint("journal-written");

    // How many records were (perhaps partly) written, for a roll-back.
    let mut started = 0usize;
    let mut write = || -> io::Result<()> {
        // The length first: a crash then leaves the length before or the
        // length after, never one in between (recovery relies on it).
        if overlay.len() != len {
            file.set_len(overlay.len())?;
        }
        let mut buf = Vec::new();
        for (k, p) in places.iter().enumerate() {
            if k == places.len() / 2 {
                failpoint("half-written");
            }
            buf.resize(p.new_len as usize, 0);
            read_exact_at(overlay, &mut buf, p.offset)?;
            started = k + 1;
            write_all_at(&file, &buf, p.offset)?;
        }
        file.sync_data()?;
        failpoint("written");
        Ok(())
    };
    if let Err(e) = write() {
        // Not a crash: put the old bytes back so the error leaves the
        // original, not a journal waiting to be completed. Only what was
        // written is put back: a file-size limit below the file's length
        // fails every write past it, old bytes included.
        return Err(match roll_back(&file, &journal, &jp, started) {
            Ok(()) => io_err("writing the edit (the patch was restored)".into(), e),
            Err(r) => io_err(
                Reason::new(format!(
                    "writing the edit; restoring the patch failed too ({r}); its journal {} is \
                     kept: run ",
                    jp.display()
                ))
                .then(Setting::Recover { file: None })
                .and(" on the patch to complete the edit"),
                e,
            ),
        });
    }
    drop(journal);
    remove_journal(&jp).map_err(|e| {
        Error::io(
            Reason::new("deleting the journal (the edit is complete; ")
                .then(Setting::Recover { file: None })
                .and(" deletes it)"),
            e,
        )
        .in_file(&jp)
    })?;
    Ok(())
}

/// The crash tests' failpoints ([`crate::testkit::failpoint`]); nothing
/// without the `testkit` feature.
#[cfg(feature = "testkit")]
fn failpoint(name: &str) {
    crate::testkit::failpoint::hit(name);
}

#[cfg(not(feature = "testkit"))]
fn failpoint(_name: &str) {}

/// Writes back the old bytes of the first `started` records, restores the
/// length, syncs and deletes the journal.
fn roll_back(file: &File, journal: &File, jp: &Path, started: usize) -> io::Result<()> {
    let mut k = 0usize;
    let header = match read_journal(journal, |_, rec| {
        k += 1;
        if k <= started {
            write_all_at(file, rec.old, rec.offset)?;
        }
        Ok(())
    })? {
        Reading::Complete(header) => header,
        _ => return Err(invalid("the journal does not read back")),
    };
    if file.metadata()?.len() != header.len_before {
        file.set_len(header.len_before)?;
    }
    file.sync_data()?;
    remove_journal(jp)
}

// ----------------------------------------------------------------------
// Locking.

/// An exclusive advisory lock on a patch, held while it is read for an
/// edit and written, so that two runs of the tool cannot interleave. Taking
/// it completes or discards a journal left by an interrupted in-place edit.
#[derive(Debug)]
pub struct EditLock {
    _file: File,
    /// What was found beside the patch.
    pub recovery: Recovery,
}

impl EditLock {
    /// Locks `path` (waiting for another run that holds it) and recovers.
    pub fn acquire(path: &Path) -> Result<EditLock> {
        EditLock::take(path, true)
    }

    /// Locks `path` (waiting for another run that holds it) without
    /// looking at a journal beside it: for a command that only reads the
    /// patch to write another file (`-o`). Such a command never writes or
    /// deletes anything beside its input; reading the patch then refuses
    /// it while a complete journal lies beside it
    /// ([`check_readable`]).
    pub fn hold(path: &Path) -> Result<EditLock> {
        EditLock::take(path, false)
    }

    fn take(path: &Path, recovering: bool) -> Result<EditLock> {
        // The same errors as reading the patch gives.
        let meta = fs::metadata(path).map_err(|e| Error::io("cannot read", e).in_file(path))?;
        if meta.is_dir() {
            return Err(
                Error::new(crate::error::ErrorKind::Io, "is a directory, not a file").in_file(path),
            );
        }
        let target = crate::store::commit::resolve_dest(path);
        let mut tries = 0;
        loop {
            let file =
                File::open(&target).map_err(|e| Error::io("cannot open", e).in_file(path))?;
            lock(&file, path)?;
            // A run that replaced the file by renaming a copy over it
            // (the fallback path) unlinked the inode locked here: lock the
            // file that now has the name instead.
            if tries < 16 && !same_inode(&file, &target) {
                tries += 1;
                continue;
            }
            let recovery = if recovering {
                recover(&target)?
            } else {
                Recovery::Nothing
            };
            return Ok(EditLock {
                _file: file,
                recovery,
            });
        }
    }
}

fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => {
            tracing::info!(file = %path.display(), "waiting for another edit of this patch to end");
            file.lock()
                .map_err(|e| Error::io("cannot lock the patch", e).in_file(path))
        }
        Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            // File systems without locks: proceed as before locks existed.
            tracing::debug!(file = %path.display(), "file locks unsupported here");
            Ok(())
        }
        Err(fs::TryLockError::Error(e)) => Err(Error::io("cannot lock the patch", e).in_file(path)),
    }
}

#[cfg(unix)]
fn same_inode(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => true,
    }
}

#[cfg(not(unix))]
fn same_inode(_file: &File, _path: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> u32 {
        let mut c = Crc::new();
        c.update(bytes);
        c.value()
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc(b""), 0);
        // Eight bytes and more go through the sliced tables.
        assert_eq!(
            crc(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn crc32_eight_bytes_at_a_time_is_the_byte_at_a_time_crc() {
        let byte_at_a_time = |bytes: &[u8]| {
            let mut c = 0xFFFF_FFFFu32;
            for &b in bytes {
                c = CRC_TABLES[0][((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
            }
            c ^ 0xFFFF_FFFF
        };
        let data: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 511, 512, 1999, 2000] {
            assert_eq!(crc(&data[..len]), byte_at_a_time(&data[..len]), "{len}");
        }
        // Updates in pieces of any length give the CRC of the whole.
        for split in [1, 3, 8, 13, 100] {
            let mut c = Crc::new();
            for piece in data.chunks(split) {
                c.update(piece);
            }
            assert_eq!(c.value(), byte_at_a_time(&data), "{split}");
        }
    }

    /// A target file of `len` bytes and an overlay with some writes on it.
    fn setup(dir: &Path, len: usize) -> (PathBuf, Vec<u8>, Overlay<File>) {
        let target = dir.join("t.msp");
        let original: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        fs::write(&target, &original).unwrap();
        let mut ov = Overlay::new(File::open(&target).unwrap(), len as u64, None);
        ov.write_at(&[1; 700], 100).unwrap();
        ov.write_at(&[2; 10], 5000).unwrap();
        ov.write_at(&[3; 3000], len as u64 + 200).unwrap();
        (target, original, ov)
    }

    fn expected(ov: &Overlay<File>) -> Vec<u8> {
        let mut want = vec![0u8; ov.len() as usize];
        read_exact_at(ov, &mut want, 0).unwrap();
        want
    }

    #[test]
    fn commit_writes_the_overlay_and_leaves_no_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (target, _, ov) = setup(dir.path(), 8000);
        let want = expected(&ov);
        commit(&target, &ov).unwrap();
        assert_eq!(fs::read(&target).unwrap(), want);
        assert!(!journal_path(&target).exists());
        assert_eq!(recover(&target).unwrap(), Recovery::Nothing);
    }

    /// Writes the journal as a crash right after step 2 leaves it.
    fn journal_only(target: &Path, ov: &Overlay<File>) -> PathBuf {
        let jp = journal_path(target);
        let places = record_places(&ov.written(), ov.base_len(), ov.len());
        write_journal(&jp, ov, &places).unwrap();
        jp
    }

    #[test]
    fn a_complete_journal_is_replayed_and_replay_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (target, _, ov) = setup(dir.path(), 8000);
        let want = expected(&ov);
        let jp = journal_only(&target, &ov);
        let saved = fs::read(&jp).unwrap();
        // Readers refuse the file meanwhile.
        let e = check_readable(&target).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused);
        // The remedy is a setting a front end words: recovering this file.
        assert!(e.to_string().contains("Run `recover` on "), "{e}");
        assert_eq!(
            e.settings().next(),
            Some(&Setting::Recover {
                file: Some(target.clone())
            })
        );
        assert_eq!(recover(&target).unwrap(), Recovery::Completed);
        assert_eq!(fs::read(&target).unwrap(), want);
        assert!(!jp.exists());
        // A crash after the writes, before the journal was deleted.
        fs::write(&jp, &saved).unwrap();
        assert_eq!(recover(&target).unwrap(), Recovery::Completed);
        assert_eq!(fs::read(&target).unwrap(), want);
        // A crash half-way through the writes: some blocks new, some old.
        let dir2 = tempfile::tempdir().unwrap();
        let (target2, original, ov2) = setup(dir2.path(), 8000);
        let jp2 = journal_only(&target2, &ov2);
        let mut half = original.clone();
        half[100..512].fill(1); // block 0 new, block 1 still old
        fs::write(&target2, &half).unwrap();
        assert_eq!(recover(&target2).unwrap(), Recovery::Completed);
        assert_eq!(fs::read(&target2).unwrap(), want);
        assert!(!jp2.exists());
    }

    #[test]
    fn torn_or_damaged_journals_are_discarded_and_the_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (target, original, ov) = setup(dir.path(), 8000);
        let jp = journal_only(&target, &ov);
        let full = fs::read(&jp).unwrap();
        for cut in [
            0,
            10,
            HEADER_LEN,
            HEADER_LEN + 30,
            full.len() / 2,
            full.len() - 1,
        ] {
            fs::write(&jp, &full[..cut]).unwrap();
            check_readable(&target).unwrap();
            assert_eq!(
                recover(&target).unwrap(),
                Recovery::Discarded,
                "cut at {cut}"
            );
            assert!(!jp.exists());
            assert_eq!(fs::read(&target).unwrap(), original);
        }
        for flip in [
            3,
            HEADER_LEN + 2,
            HEADER_LEN + 25,
            full.len() / 2,
            full.len() - 2,
        ] {
            let mut bad = full.clone();
            bad[flip] ^= 0x40;
            fs::write(&jp, &bad).unwrap();
            assert_eq!(
                recover(&target).unwrap(),
                Recovery::Discarded,
                "flip at {flip}"
            );
            assert_eq!(fs::read(&target).unwrap(), original);
        }
        let mut longer = full.clone();
        longer.push(0);
        fs::write(&jp, &longer).unwrap();
        assert_eq!(recover(&target).unwrap(), Recovery::Discarded);
    }

    #[test]
    fn a_journal_that_does_not_fit_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (target, original, ov) = setup(dir.path(), 8000);
        let jp = journal_only(&target, &ov);
        let mut other = original.clone();
        other[150] ^= 1; // a block neither old nor new
        fs::write(&target, &other).unwrap();
        let e = recover(&target).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused);
        assert!(jp.exists());
        assert_eq!(fs::read(&target).unwrap(), other);
        fs::write(&target, &original[..5000]).unwrap();
        assert_eq!(
            recover(&target).unwrap_err().kind(),
            crate::error::ErrorKind::Refused
        );
    }

    #[test]
    fn records_are_cut_at_the_record_limit_and_know_their_old_part() {
        let places = record_places(&[(0, 512), (1024, 1024 + 2 * MAX_RECORD + 5)], 2000, 2000);
        assert_eq!(places.len(), 4);
        assert_eq!(places[1].old_len, 2000 - 1024);
        assert_eq!(places[2].old_len, 0);
        assert_eq!(places[3].new_len, 5);
    }

    #[test]
    fn a_growing_edit_journals_every_byte_it_adds() {
        // Blocks written at 0 and past a gap beyond the old end (8000):
        // the gap is journalled too, so the journal justifies its length.
        let runs = covering_growth(&[(0, 512), (8192, 9000)], 8000, 9000);
        assert_eq!(runs, [(0, 512), (8000, 9000)]);
        assert_eq!(covering_growth(&[(0, 512)], 8000, 8000), [(0, 512)]);
        let dir = tempfile::tempdir().unwrap();
        let (target, _, ov) = setup(dir.path(), 8000);
        let jp = journal_only(&target, &ov);
        let header = match validate(&File::open(&jp).unwrap()).unwrap() {
            Reading::Complete(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!(header.len_after, ov.len());
    }

    #[test]
    fn the_lock_serialises_two_editors() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.msp");
        fs::write(&target, b"x").unwrap();
        let held = EditLock::acquire(&target).unwrap();
        let other = File::open(&target).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
    }
}
