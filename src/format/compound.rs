//! A read-only compound-file reader that reads only what is asked of it:
//! the header, the DIFAT, the directory, the MiniFAT and the mini stream
//! when the file is opened, and a stream's sectors when the stream is read.
//! FAT sectors are loaded (and kept) only as the chains being followed
//! reach them.
//!
//! Why by hand: the `cfb` crate reads and checks the whole FAT every time a
//! file is opened (`Allocator::new`), 8 MiB and 2.1 million entries for a
//! patch with a 1 GiB cabinet in 512-byte sectors, and its allocator is
//! private, so no caller can make it lazy. `inspect`, `check` and a dry run
//! read a few kilobytes of such a patch (the summaries, the transforms, the
//! patch database): with `cfb` they cost as much as the cabinet is large.
//! An edit reads its input with it too (`crate::format::container::
//! open_for_edit`) and writes through `cfb`.
//!
//! What is checked, with the same guarantees as the `cfb` path: the header
//! fields, the DIFAT chain (bounded by the file's sector count, each sector
//! once), every FAT sector the DIFAT lists lying in the file, no used FAT
//! entry past the end of the file, every directory entry (names, types,
//! links, the sibling trees' order, loops, nesting depth), the MiniFAT
//! whole (it is small: it describes the short streams only), and every
//! declared length against the file's. Each chain followed is bounded by
//! the length of what it holds, every link is range-checked, a chain that
//! runs into itself is refused, and the sectors of every chain followed in
//! this open (the FAT and DIFAT sectors, the directory, the MiniFAT, the mini
//! stream, each stream read) are claimed: two of those chains sharing a
//! sector are refused as cross-linked, naming both. Chains that are not
//! followed (a cabinet nobody reads) are not checked: a read that does not
//! read them does not depend on them. An edit of a small file checks it
//! whole first (`crate::format::structure`), and verification checks what
//! the edit wrote.
//!
//! Where `cfb` reads a malformed file without complaint (a FAT link past
//! the end of the file ends the chain; a short last sector), so does this
//! reader, and where `cfb` refuses one it is refused here in the same
//! words, so that the commands say the same of a broken file whichever
//! reader they use. Sibling names are compared as `cfb` compares them,
//! with its table of upper-case exceptions.
//!
//! [MS-CFB] 2.2 (header), 2.3 (FAT), 2.4 (MiniFAT), 2.5 (DIFAT), 2.6
//! (directory).
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::format::names::{show_name, stream_part};
use crate::format::structure::MAX_DEPTH;

const MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const HEADER_LEN: u64 = 512;
const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const INVALID_SECTOR: u32 = 0xFFFF_FFFB;
const DIFAT_SECTOR: u32 = 0xFFFF_FFFC;
const FAT_SECTOR: u32 = 0xFFFF_FFFD;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const FREE_SECTOR: u32 = 0xFFFF_FFFF;
const NO_STREAM: u32 = 0xFFFF_FFFF;
const MAX_REGULAR_STREAM_ID: u32 = 0xFFFF_FFFA;
const HEADER_DIFAT_ENTRIES: usize = 109;
const DIR_ENTRY_LEN: usize = 128;
const MINI_SECTOR_LEN: u64 = 64;
const MINI_STREAM_CUTOFF: u32 = 4096;
const ROOT_NAME: &str = "Root Entry";

/// The part every structural error is at.
const PART: &str = "compound-file structure";

/// A structural fault, in `cfb`'s words where `cfb` has them.
fn malformed(reason: impl std::fmt::Display) -> Error {
    Error::format(format!("malformed compound file: {reason}")).at(PART)
}

fn bad(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unused entry.
    Empty,
    /// A storage.
    Storage,
    /// A stream.
    Stream,
    /// The root storage.
    Root,
}

/// One directory entry, as read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name as stored ("Root Entry" for the root).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Its CLSID (nil for streams, as `cfb` reads them).
    pub clsid: Uuid,
    /// User-defined state bits.
    pub state_bits: u32,
    /// Creation time as stored (FILETIME ticks; 0 for streams, as `cfb`
    /// reads them).
    pub created: u64,
    /// Modification time as stored (0 for streams).
    pub modified: u64,
    /// First sector (or mini sector) of a stream's chain.
    pub start: u32,
    /// A stream's length (the mini stream's, for the root).
    pub len: u64,
    left: u32,
    right: u32,
    child: u32,
}

impl Entry {
    /// Whether it is a stream.
    pub fn is_stream(&self) -> bool {
        self.kind == Kind::Stream
    }

    /// Whether it is a storage (the root included).
    pub fn is_storage(&self) -> bool {
        matches!(self.kind, Kind::Storage | Kind::Root)
    }
}

/// Who a sector belongs to, for cross-link messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Fat,
    Difat,
    Directory,
    MiniFat,
    MiniStream,
    Stream(u32),
}

/// A compound file opened for reading, `F` its bytes.
pub struct Compound<F> {
    file: F,
    file_len: u64,
    sector_len: u64,
    /// Sectors as `cfb` counts them: a partial last sector counts.
    num_sectors: u32,
    /// The FAT sectors, in order, as the DIFAT lists them.
    fat_sectors: Vec<u32>,
    /// The same sectors sorted, each once: they are claimed as the FAT's
    /// through this list rather than one by one in `claims`, since there
    /// is one per 64 KiB of a version-3 file (16,384 for a 1 GiB cabinet)
    /// and hashing each of them on every open was most of what an edit's
    /// cost still grew by with the file.
    fat_sorted: Vec<u32>,
    /// FAT sectors loaded so far, by their index in `fat_sectors`.
    fat_cache: HashMap<u32, Box<[u32]>>,
    entries: Vec<Entry>,
    /// Parent storage of each entry reached from the root.
    parent: Vec<u32>,
    /// (parent id, name key) to entry id, as `cfb` indexes names.
    names: HashMap<(u32, (usize, String)), u32>,
    minifat: Vec<u32>,
    /// The mini stream's sectors, in order.
    mini_sectors: Vec<u32>,
    /// The sectors of the chains followed so far, and whose.
    claims: HashMap<u32, Owner>,
    /// The mini sectors of the mini chains followed so far, and whose.
    mini_claims: HashMap<u32, u32>,
    /// Streams whose chains are claimed already.
    claimed_streams: std::collections::HashSet<u32>,
    /// FAT sectors read (for tests and measurements).
    fat_reads: u64,
}

impl<F> std::fmt::Debug for Compound<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compound")
            .field("file_len", &self.file_len)
            .field("sector_len", &self.sector_len)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

/// `cfb`'s upper-case mapping: its exceptions first, then the simple one.
fn upper(c: char) -> char {
    // The exceptions are none of them ASCII, and nearly every name is:
    // every path lookup upper-cases each character of each name it
    // compares (a quarter of an edit's instructions with 200 copies).
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    static TABLE: std::sync::OnceLock<HashMap<char, char>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        include!("../../vendor/cfb/src/internal/uppercase.txt")
            .iter()
            .copied()
            .collect()
    });
    table
        .get(&c)
        .copied()
        .or(c.to_uppercase().next())
        .unwrap_or_default()
}

/// The key two sibling names collide under (length in UTF-16 units, then
/// the upper-cased characters), as `cfb` compares them.
fn name_key(name: &str) -> (usize, String) {
    (
        name.encode_utf16().count(),
        name.chars().map(upper).collect(),
    )
}

/// Whether `a` sorts before `b` among siblings.
fn name_less(a: &str, b: &str) -> bool {
    name_key(a) < name_key(b)
}

impl<F: Read + Seek> Compound<F> {
    /// Opens the compound file that `file` holds, `file_len` bytes long.
    /// Errors are at the compound-file structure; the caller names the
    /// file.
    pub fn open(mut file: F, file_len: u64) -> Result<Compound<F>> {
        let io = |e: io::Error| Error::io("malformed compound file", e).at(PART);
        if file_len < HEADER_LEN {
            return Err(malformed(format!(
                "Invalid CFB file ({file_len} bytes is too small)"
            )));
        }
        let mut header = [0u8; 512];
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.read_exact(&mut header).map_err(io)?;
        if header[..8] != MAGIC {
            return Err(malformed(format!(
                "Invalid CFB file (wrong magic number): {:x?}",
                &header[..8]
            )));
        }
        let bom = u16_at(&header, 0x1C);
        if bom != 0xFFFE {
            return Err(malformed(format!(
                "Invalid CFB byte order mark (expected 0xFFFE, found 0x{bom:04X})"
            )));
        }
        let version = u16_at(&header, 0x1A);
        let want_shift = match version {
            3 => 9,
            4 => 12,
            v => return Err(malformed(format!("CFB version {v} is not supported"))),
        };
        let shift = u16_at(&header, 0x1E);
        if shift != want_shift {
            return Err(malformed(format!(
                "Incorrect sector shift for CFB version {version} (expected {want_shift}, \
                 found {shift})"
            )));
        }
        let mini_shift = u16_at(&header, 0x20);
        if mini_shift != 6 {
            return Err(malformed(format!(
                "Incorrect mini sector shift (expected 6, found {mini_shift})"
            )));
        }
        let cutoff = u32_at(&header, 0x38);
        if cutoff != MINI_STREAM_CUTOFF {
            return Err(malformed(format!(
                "Incorrect mini stream cutoff (expected {MINI_STREAM_CUTOFF}, found {cutoff})"
            )));
        }
        let mut fat_sectors: Vec<u32> = Vec::new();
        for i in 0..HEADER_DIFAT_ENTRIES {
            let next = u32_at(&header, 0x4C + 4 * i);
            if next == FREE_SECTOR {
                break;
            } else if next > MAX_REGULAR_SECTOR {
                return Err(malformed(format!(
                    "Initial DIFAT array refers to invalid sector index 0x{next:08X}"
                )));
            }
            fat_sectors.push(next);
        }
        let sector_len = 1u64 << shift;
        if file_len > (u64::from(MAX_REGULAR_SECTOR) + 1) * sector_len {
            return Err(malformed(format!(
                "Invalid CFB file ({file_len} bytes is too large)"
            )));
        }
        if file_len < sector_len {
            return Err(malformed(format!(
                "Invalid CFB file (length of {file_len} < sector length of {sector_len})"
            )));
        }
        // Bounded by the check above.
        let num_sectors = (file_len.div_ceil(sector_len) - 1) as u32;
        let mut cf = Compound {
            file,
            file_len,
            sector_len,
            num_sectors,
            fat_sectors: Vec::new(),
            fat_sorted: Vec::new(),
            fat_cache: HashMap::new(),
            entries: Vec::new(),
            parent: Vec::new(),
            names: HashMap::new(),
            minifat: Vec::new(),
            mini_sectors: Vec::new(),
            claims: HashMap::new(),
            mini_claims: HashMap::new(),
            claimed_streams: std::collections::HashSet::new(),
            fat_reads: 0,
        };

        // The DIFAT chain: each sector once, at most as many as the file
        // has.
        let per = (sector_len / 4) as usize;
        let mut difat_sectors: Vec<u32> = Vec::new();
        let mut next = u32_at(&header, 0x44);
        while next != END_OF_CHAIN && next != FREE_SECTOR {
            if next > MAX_REGULAR_SECTOR {
                return Err(malformed(format!(
                    "DIFAT chain includes invalid sector index {next}"
                )));
            } else if next >= num_sectors {
                return Err(malformed(format!(
                    "DIFAT chain includes sector index {next}, but sector count is only \
                     {num_sectors}"
                )));
            }
            if cf.claims.contains_key(&next) {
                return Err(malformed(format!(
                    "DIFAT chain includes duplicate sector index {next}"
                )));
            }
            cf.claims.insert(next, Owner::Difat);
            difat_sectors.push(next);
            let data = cf.read_sector(next).map_err(io)?;
            for k in 0..per - 1 {
                let entry = u32_at(&data, 4 * k);
                if entry != FREE_SECTOR && entry > MAX_REGULAR_SECTOR {
                    return Err(malformed(format!(
                        "DIFAT refers to invalid sector index {entry}"
                    )));
                }
                fat_sectors.push(entry);
            }
            next = u32_at(&data, 4 * (per - 1));
        }
        // As `cfb` reads it: zeros past the declared count padded a DIFAT
        // sector, free entries end the list.
        let num_fat = u32_at(&header, 0x2C) as usize;
        while fat_sectors.len() > HEADER_DIFAT_ENTRIES
            && fat_sectors.len() > num_fat
            && fat_sectors.last() == Some(&0)
        {
            fat_sectors.pop();
        }
        while fat_sectors.last() == Some(&FREE_SECTOR) {
            fat_sectors.pop();
        }
        if let Some(&s) = fat_sectors.iter().find(|&&s| s >= num_sectors) {
            return Err(malformed(format!(
                "DIFAT refers to sector {s}, but sector count is only {num_sectors}"
            )));
        }
        let mut sorted = fat_sectors.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some(&s) = fat_sectors
            .iter()
            .find(|s| cf.claims.get(s) == Some(&Owner::Difat))
        {
            return Err(cf.cross_linked(s, false, Owner::Difat, Owner::Fat));
        }
        cf.fat_sectors = fat_sectors;
        cf.fat_sorted = sorted;
        cf.check_fat_tail()?;

        cf.read_directory(u32_at(&header, 0x30))?;
        cf.read_minifat(u32_at(&header, 0x3C))?;
        Ok(cf)
    }

    /// Reads sector `sector` whole; a last sector cut short by the end of
    /// the file reads as zeros past it, as `cfb` reads it.
    fn read_sector(&mut self, sector: u32) -> io::Result<Vec<u8>> {
        let at = (u64::from(sector) + 1) * self.sector_len;
        let mut buf = vec![0u8; self.sector_len as usize];
        self.file.seek(SeekFrom::Start(at))?;
        let mut n = 0;
        while n < buf.len() {
            match self.file.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }

    /// The FAT entries past the end of the file must be unused, as `cfb`
    /// requires ("FAT has N entries, but file has only M sectors"): only
    /// the FAT sectors that describe sectors past the end are read (one,
    /// or none, for a file that is not cut short).
    fn check_fat_tail(&mut self) -> Result<()> {
        let per = self.sector_len / 4;
        let described = self.fat_sectors.len() as u64 * per;
        let n = u64::from(self.num_sectors);
        if described <= n {
            return Ok(());
        }
        let mut last_used = None;
        for index in (n / per)..self.fat_sectors.len() as u64 {
            let table = self.fat_table(index as u32)?;
            for (k, &e) in table.iter().enumerate() {
                let s = index * per + k as u64;
                if s >= n && !matches!(e, 0 | DIFAT_SECTOR | FAT_SECTOR | FREE_SECTOR) {
                    last_used = Some(s);
                }
            }
        }
        match last_used {
            Some(s) => Err(malformed(format!(
                "FAT has {} entries, but file has only {} sectors",
                s + 1,
                self.num_sectors
            ))),
            None => Ok(()),
        }
    }

    /// The FAT sector at `index` of the FAT, loaded once.
    fn fat_table(&mut self, index: u32) -> Result<&[u32]> {
        if !self.fat_cache.contains_key(&index) {
            let Some(&sector) = self.fat_sectors.get(index as usize) else {
                return Err(malformed(format!("FAT sector {index} is not listed")));
            };
            let data = self
                .read_sector(sector)
                .map_err(|e| Error::io("malformed compound file", e).at(PART))?;
            self.fat_reads += 1;
            let table: Box<[u32]> = data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            self.fat_cache.insert(index, table);
        }
        Ok(self
            .fat_cache
            .get(&index)
            .map(|t| &t[..])
            .unwrap_or_default())
    }

    /// The FAT entry of `sector`, as `cfb` reads it: the FAT and DIFAT
    /// sectors are marked as such whatever their entry says, a link past
    /// the end of the file ends the chain, and an invalid entry is an
    /// error.
    fn next(&mut self, sector: u32) -> Result<u32> {
        let per = (self.sector_len / 4) as u32;
        if sector >= self.num_sectors {
            return Err(malformed(format!(
                "Found reference to sector {sector}, but FAT has only {} entries",
                self.num_sectors
            )));
        }
        match self.claimed(sector) {
            Some(Owner::Fat) => return Ok(FAT_SECTOR),
            Some(Owner::Difat) => return Ok(DIFAT_SECTOR),
            _ => {}
        }
        let table = self.fat_table(sector / per)?;
        let next = table
            .get((sector % per) as usize)
            .copied()
            .unwrap_or(FREE_SECTOR);
        if next == INVALID_SECTOR {
            return Err(malformed(format!("0x{next:08X} is not a valid FAT entry")));
        }
        if next <= MAX_REGULAR_SECTOR && next >= self.num_sectors {
            return Ok(END_OF_CHAIN);
        }
        Ok(next)
    }

    /// Follows the chain from `start` for at most `limit` sectors (or to
    /// its end when `limit` is `None`, bounded by the file), claiming each
    /// sector for `owner`. Returns the sectors and whether the chain ended
    /// with the end-of-chain mark.
    fn follow(&mut self, start: u32, limit: Option<u64>, owner: Owner) -> Result<(Vec<u32>, u32)> {
        let mut sectors = Vec::new();
        let mut s = start;
        let bound = limit.unwrap_or(u64::from(self.num_sectors));
        while s != END_OF_CHAIN && (sectors.len() as u64) < bound {
            if s > MAX_REGULAR_SECTOR || s >= self.num_sectors {
                return Err(malformed(format!(
                    "{} includes sector index {s}, but sector count is only {}",
                    self.describe(owner),
                    self.num_sectors
                )));
            }
            if let Some(first) = self.claimed(s) {
                if first == owner {
                    return Err(malformed(format!(
                        "the chain of {} runs back into its sector {s}",
                        self.describe(owner)
                    )));
                }
                return Err(self.cross_linked(s, false, first, owner));
            }
            self.claims.insert(s, owner);
            sectors.push(s);
            s = self.next(s)?;
        }
        Ok((sectors, s))
    }

    fn read_directory(&mut self, first: u32) -> Result<()> {
        let (sectors, _) = self.follow(first, None, Owner::Directory)?;
        let mask = if self.sector_len == 512 {
            0xFFFF_FFFF
        } else {
            u64::MAX
        };
        let io = |e: io::Error| Error::io("malformed compound file", e).at(PART);
        for s in sectors {
            let data = self.read_sector(s).map_err(io)?;
            for raw in data.chunks_exact(DIR_ENTRY_LEN) {
                let entry = parse_entry(raw, mask)?;
                self.entries.push(entry);
            }
        }
        self.check_tree()?;
        // Declared lengths: none may exceed the file (`cfb` would read such
        // a stream round a loop for as long as the length says).
        let root_len = self.entries[0].len;
        if root_len > self.file_len {
            return Err(Error::format(format!(
                "the root entry declares a {root_len}-byte mini stream, more than the whole \
                 {}-byte file",
                self.file_len
            ))
            .at(PART));
        }
        let file_len = self.file_len;
        for id in self.walk_ids(0) {
            let e = &self.entries[id as usize];
            if e.is_stream() && e.len > file_len {
                return Err(Error::format(format!(
                    "declares {} bytes, more than the whole {file_len}-byte file",
                    e.len
                ))
                .at(stream_part(&self.path_of(id))));
            }
        }
        Ok(())
    }

    /// `cfb`'s checks of the sibling trees, then the nesting depth, the
    /// parents and the name index.
    fn check_tree(&mut self) -> Result<()> {
        let n = self.entries.len();
        if n == 0 {
            return Err(malformed("root entry is missing"));
        }
        if !self.entries[0].len.is_multiple_of(MINI_SECTOR_LEN) {
            return Err(malformed(format!(
                "root stream len is {}, but should be multiple of {MINI_SECTOR_LEN}",
                self.entries[0].len
            )));
        }
        let mut visited = vec![false; n];
        let mut stack = vec![0u32];
        while let Some(id) = stack.pop() {
            let i = id as usize;
            if std::mem::replace(&mut visited[i], true) {
                return Err(malformed("loop in tree"));
            }
            let e = &self.entries[i];
            if id == 0 {
                if e.kind != Kind::Root {
                    return Err(malformed(format!(
                        "root entry has object type {:?}",
                        e.kind
                    )));
                }
            } else if !matches!(e.kind, Kind::Storage | Kind::Stream) {
                return Err(malformed(format!(
                    "non-root entry with object type {:?}",
                    e.kind
                )));
            }
            for (link, what, left) in [
                (e.left, "left sibling", true),
                (e.right, "right sibling", false),
            ] {
                if link == NO_STREAM {
                    continue;
                }
                let Some(other) = self.entries.get(link as usize) else {
                    return Err(malformed(format!(
                        "{what} index is {link}, but directory entry count is {n}"
                    )));
                };
                let ordered = if left {
                    name_less(&other.name, &e.name)
                } else {
                    name_less(&e.name, &other.name)
                };
                if !ordered {
                    return Err(malformed(format!(
                        "name ordering, {:?} vs {:?}",
                        e.name, other.name
                    )));
                }
                stack.push(link);
            }
            if e.child != NO_STREAM {
                if e.child as usize >= n {
                    return Err(malformed(format!(
                        "child index is {}, but directory entry count is {n}",
                        e.child
                    )));
                }
                stack.push(e.child);
            }
        }
        // Parents, depth and the name index, in `cfb`'s order (a later
        // entry of the same key wins, as there).
        self.parent = vec![NO_STREAM; n];
        let mut stack: Vec<(u32, u32, u32)> = vec![(0, 0, 0)];
        while let Some((id, parent, depth)) = stack.pop() {
            let e = &self.entries[id as usize];
            if id != 0 {
                self.parent[id as usize] = parent;
                if e.kind == Kind::Storage && depth > MAX_DEPTH {
                    return Err(Error::format(format!(
                        "storage {} is nested {depth} levels deep; at most {MAX_DEPTH} are \
                         accepted",
                        self.path_text(id)
                    ))
                    .at(PART));
                }
                self.names.insert((parent, name_key(&e.name)), id);
            }
            let (left, right, child) = (e.left, e.right, e.child);
            for sibling in [left, right] {
                if sibling != NO_STREAM {
                    stack.push((sibling, parent, depth));
                }
            }
            if child != NO_STREAM {
                stack.push((child, id, depth + 1));
            }
        }
        Ok(())
    }

    fn read_minifat(&mut self, first: u32) -> Result<()> {
        let (sectors, _) = self.follow(first, None, Owner::MiniFat)?;
        let io = |e: io::Error| Error::io("malformed compound file", e).at(PART);
        let mut minifat = Vec::with_capacity(sectors.len() * (self.sector_len / 4) as usize);
        for s in sectors {
            let data = self.read_sector(s).map_err(io)?;
            minifat.extend(
                data.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        while minifat.last() == Some(&FREE_SECTOR) {
            minifat.pop();
        }
        let root_minis = self.entries[0].len / MINI_SECTOR_LEN;
        if root_minis < minifat.len() as u64 {
            minifat.truncate(root_minis as usize);
        }
        let mut pointed = vec![0u64; minifat.len().div_ceil(64)];
        for (from, &to) in minifat.iter().enumerate() {
            if to <= MAX_REGULAR_SECTOR {
                if to as usize >= minifat.len() {
                    return Err(malformed(format!(
                        "MiniFAT has {} entries, but mini sector {from} points to {to}",
                        minifat.len()
                    )));
                }
                let (w, b) = (to as usize / 64, 1u64 << (to % 64));
                if pointed[w] & b != 0 {
                    return Err(malformed(format!("mini sector {to} pointed to twice")));
                }
                pointed[w] |= b;
            }
        }
        self.minifat = minifat;
        // The mini stream: the root entry's chain, as long as its length.
        let root = &self.entries[0];
        let (start, len) = (root.start, root.len);
        if len > 0 {
            let needed = len.div_ceil(self.sector_len);
            let (sectors, after) = self.follow(start, Some(needed), Owner::MiniStream)?;
            if (sectors.len() as u64) < needed {
                return Err(malformed(format!(
                    "the mini stream's chain has {} sectors; its {len} bytes need {needed}",
                    sectors.len()
                )));
            }
            if after != END_OF_CHAIN {
                // Into another stream's chain: cross-linked. Otherwise the
                // rest of the chain is the mini stream's too: `cfb` keeps
                // the sectors of a mini stream that shrank (when streams
                // are removed) in its chain, and grows it into them, so a
                // file it wrote has such a chain; its sectors are claimed.
                if let Some(id) = self.stream_starting_at(after, Owner::MiniStream) {
                    return Err(self.cross_linked(
                        after,
                        false,
                        Owner::MiniStream,
                        Owner::Stream(id),
                    ));
                }
                self.follow(after, None, Owner::MiniStream)?;
            }
            self.mini_sectors = sectors;
        }
        Ok(())
    }

    /// The entry ids of the storage `id`'s subtree in `cfb`'s walk order:
    /// each level in name order, a storage followed by what it holds.
    fn walk_ids(&self, id: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut stack: Vec<(u32, bool)> = vec![(id, false)];
        let spine = |stack: &mut Vec<(u32, bool)>, mut at: u32| {
            while at != NO_STREAM {
                stack.push((at, true));
                at = self.entries.get(at as usize).map_or(NO_STREAM, |e| e.left);
            }
        };
        while let Some((at, siblings)) = stack.pop() {
            let Some(e) = self.entries.get(at as usize) else {
                continue;
            };
            out.push(at);
            if siblings {
                spine(&mut stack, e.right);
            }
            if e.kind != Kind::Stream && e.child != NO_STREAM {
                spine(&mut stack, e.child);
            }
        }
        out
    }

    /// The ids directly under storage `id`, in name order.
    fn child_ids(&self, id: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut stack = Vec::new();
        let mut at = self.entries.get(id as usize).map_or(NO_STREAM, |e| e.child);
        loop {
            while at != NO_STREAM {
                stack.push(at);
                at = self.entries.get(at as usize).map_or(NO_STREAM, |e| e.left);
            }
            let Some(top) = stack.pop() else {
                break;
            };
            out.push(top);
            at = self
                .entries
                .get(top as usize)
                .map_or(NO_STREAM, |e| e.right);
        }
        out
    }

    /// The path of entry `id`, from the root ("/" for the root).
    fn path_of(&self, id: u32) -> PathBuf {
        let mut names = Vec::new();
        let mut at = id;
        while at != 0 && at != NO_STREAM && names.len() <= self.entries.len() {
            names.push(self.entries[at as usize].name.as_str());
            at = self.parent.get(at as usize).copied().unwrap_or(NO_STREAM);
        }
        let mut path = PathBuf::from("/");
        for n in names.iter().rev() {
            path.push(n);
        }
        path
    }

    /// The path of entry `id` for messages.
    fn path_text(&self, id: u32) -> String {
        let mut names = Vec::new();
        let mut at = id;
        while at != 0 && at != NO_STREAM && names.len() <= self.entries.len() {
            names.push(show_name(&self.entries[at as usize].name));
            at = self.parent.get(at as usize).copied().unwrap_or(NO_STREAM);
        }
        names.reverse();
        names.join("/")
    }

    fn describe(&self, owner: Owner) -> String {
        match owner {
            Owner::Fat => "a FAT sector".into(),
            Owner::Difat => "a DIFAT sector".into(),
            Owner::Directory => "the directory".into(),
            Owner::MiniFat => "the MiniFAT".into(),
            Owner::MiniStream => "the mini stream (of the root entry)".into(),
            Owner::Stream(id) => stream_part(&self.path_of(id)),
        }
    }

    /// The error of a chain that goes on at `after` past the `needed`
    /// sectors of its `len` bytes: cross-linked when `after` starts
    /// another chain the directory knows (the check needs no walk of that
    /// chain), else too long.
    fn runs_on(&self, owner: Owner, after: u32, needed: u64, len: u64) -> Error {
        match self.stream_starting_at(after, owner) {
            Some(id) => self.cross_linked(after, false, owner, Owner::Stream(id)),
            None => {
                let text =
                    format!("the chain goes on past the {needed} sectors its {len} bytes need");
                match owner {
                    Owner::Stream(_) => Error::format(text),
                    _ => malformed(format!("{}: {text}", self.describe(owner))),
                }
            }
        }
    }

    /// The stream in regular sectors, other than `owner`, whose chain
    /// starts at `sector`.
    fn stream_starting_at(&self, sector: u32, owner: Owner) -> Option<u32> {
        let cutoff = u64::from(MINI_STREAM_CUTOFF);
        self.walk_ids(0).into_iter().find(|&id| {
            let e = &self.entries[id as usize];
            e.is_stream() && e.len >= cutoff && e.start == sector && owner != Owner::Stream(id)
        })
    }

    fn cross_linked(&self, sector: u32, mini: bool, first: Owner, second: Owner) -> Error {
        let what = if mini { "mini sector" } else { "sector" };
        Error::format(format!(
            "{} and {} share {what} {sector}: their chains are cross-linked",
            self.describe(first),
            self.describe(second)
        ))
        .at(PART)
    }

    /// The id of the entry at `path`, found as `cfb` finds it.
    fn id_of(&self, path: &Path) -> Option<u32> {
        let mut id = 0u32;
        for c in path.components() {
            match c {
                Component::RootDir => id = 0,
                Component::CurDir => {}
                Component::Normal(name) => {
                    id = *self.names.get(&(id, name_key(name.to_str()?)))?;
                }
                Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
        Some(id)
    }

    /// The root entry.
    pub fn root(&self) -> &Entry {
        &self.entries[0]
    }

    /// The entry at `path`, if any.
    pub fn entry(&self, path: &Path) -> Option<&Entry> {
        self.id_of(path).map(|id| &self.entries[id as usize])
    }

    /// The entries directly under the storage at `path`, in name order,
    /// each with its path.
    pub fn read_storage(&self, path: &Path) -> io::Result<Vec<(PathBuf, &Entry)>> {
        let id = self.storage_id(path)?;
        Ok(self
            .child_ids(id)
            .into_iter()
            .map(|c| (self.path_of(c), &self.entries[c as usize]))
            .collect())
    }

    /// The storage at `path` and everything below it, in `cfb`'s walk
    /// order, each with its path.
    pub fn walk_storage(&self, path: &Path) -> io::Result<Vec<(PathBuf, &Entry)>> {
        let id = self.storage_id(path)?;
        Ok(self
            .walk_ids(id)
            .into_iter()
            .map(|c| (self.path_of(c), &self.entries[c as usize]))
            .collect())
    }

    fn storage_id(&self, path: &Path) -> io::Result<u32> {
        match self.id_of(path) {
            Some(id) if self.entries[id as usize].is_storage() => Ok(id),
            Some(_) => Err(io::Error::new(io::ErrorKind::InvalidInput, "Not a storage")),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "No such storage")),
        }
    }

    /// Opens the stream at `path` for reading. Its chain is followed
    /// first, bounded by its length: a chain that ends early, runs past
    /// the stream, loops, leaves the file (or the mini stream) or shares a
    /// sector with another chain followed in this open is an error.
    pub fn open_stream(&mut self, path: &Path) -> io::Result<Stream<'_, F>> {
        let id = self
            .id_of(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such stream"))?;
        let e = self.entries[id as usize].clone();
        if !e.is_stream() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "Not a stream"));
        }
        let chain = self
            .chain_of(id, &e)
            .map_err(|err| bad(err.reason().to_string()))?;
        Ok(Stream {
            cf: self,
            chain,
            len: e.len,
            pos: 0,
        })
    }

    /// The byte offsets of a stream's blocks: sectors, or mini sectors
    /// inside the mini stream.
    fn chain_of(&mut self, id: u32, e: &Entry) -> Result<Chain> {
        if e.len == 0 {
            return Ok(Chain::Regular(Vec::new()));
        }
        if e.len < u64::from(MINI_STREAM_CUTOFF) {
            let needed = e.len.div_ceil(MINI_SECTOR_LEN);
            // At most 64 mini sectors (a stream below the cutoff): a loop is
            // found among those read, without a flag per mini sector of the
            // file for every stream (quadratic on a patch with thousands).
            let mut minis: Vec<u32> = Vec::new();
            let mut s = e.start;
            for _ in 0..needed {
                if s == END_OF_CHAIN {
                    return Err(Error::format(format!(
                        "its mini chain ends after {} mini sectors; its {} bytes need {needed}",
                        minis.len(),
                        e.len
                    )));
                }
                if s as usize >= self.minifat.len() {
                    return Err(Error::format(format!(
                        "its mini chain reaches mini sector {s}, past the {} of the mini stream",
                        self.minifat.len()
                    )));
                }
                if minis.contains(&s) {
                    return Err(Error::format(format!(
                        "its mini chain runs back into mini sector {s}"
                    )));
                }
                minis.push(s);
                s = self.minifat[s as usize];
            }
            if s != END_OF_CHAIN {
                return Err(Error::format(format!(
                    "its mini chain goes on past the {needed} mini sectors its {} bytes need",
                    e.len
                )));
            }
            // Mini streams sharing a mini sector: the MiniFAT check refused
            // two links to one mini sector, so only a chain starting inside
            // another can; the chains read are compared.
            if !self.claimed_streams.contains(&id) {
                for &m in &minis {
                    if let Some(&first) = self.mini_claims.get(&m) {
                        return Err(self.cross_linked(
                            m,
                            true,
                            Owner::Stream(first),
                            Owner::Stream(id),
                        ));
                    }
                }
                for &m in &minis {
                    self.mini_claims.insert(m, id);
                }
                self.claimed_streams.insert(id);
            }
            return Ok(Chain::Mini(minis));
        }
        let needed = e.len.div_ceil(self.sector_len);
        let known = self.claimed_streams.contains(&id);
        if known {
            // Followed once already in this open: its sectors are its own.
            let mut sectors = Vec::with_capacity(needed as usize);
            let mut s = e.start;
            for _ in 0..needed {
                sectors.push(s);
                s = self.next(s)?;
            }
            return Ok(Chain::Regular(sectors));
        }
        let (sectors, after) = self.follow(e.start, Some(needed), Owner::Stream(id))?;
        self.claimed_streams.insert(id);
        if (sectors.len() as u64) < needed {
            return Err(Error::format(format!(
                "its chain ends after {} sectors; its {} bytes need {needed}",
                sectors.len(),
                e.len
            )));
        }
        if after != END_OF_CHAIN {
            return Err(self.runs_on(Owner::Stream(id), after, needed, e.len));
        }
        Ok(Chain::Regular(sectors))
    }

    /// How many FAT sectors have been read so far.
    #[cfg(any(test, feature = "testkit"))]
    pub fn fat_sectors_read(&self) -> u64 {
        self.fat_reads
    }

    /// The FAT entry of `sector` as stored (`None` when its FAT sector
    /// cannot be read, or the FAT does not describe it).
    fn stored_fat_entry(&mut self, sector: u32) -> Option<u32> {
        let per = (self.sector_len / 4) as u32;
        let table = self.fat_table(sector / per).ok()?;
        table.get((sector % per) as usize).copied()
    }

    /// Who `sector` is claimed by in this open: the FAT's when the DIFAT
    /// lists it, else the chain followed through it, if any.
    fn claimed(&self, sector: u32) -> Option<Owner> {
        if self.fat_sorted.binary_search(&sector).is_ok() {
            Some(Owner::Fat)
        } else {
            self.claims.get(&sector).copied()
        }
    }

    /// Whether `sector` was free or past the end of this file, or belongs
    /// to a chain followed in this open (the FAT and DIFAT sectors, the
    /// directory, the MiniFAT, the mini stream, each stream read: each
    /// bounded, range-checked, ended where its length says and sharing no
    /// sector with another of them, or the read that followed it failed).
    fn free_or_followed(&mut self, sector: u32) -> bool {
        sector >= self.num_sectors
            || self.claimed(sector).is_some()
            || self.stored_fat_entry(sector) == Some(FREE_SECTOR)
    }
}

/// Whether an edit provably left alone every large stream of `input` that
/// neither reader followed, by the rule below; `result` is the file the
/// edit made of `input` (it started as its exact copy, and only the byte
/// ranges `written`, sorted and merged, changed), read through the lazy
/// reader after everything verification reads of it was read; `untouched`
/// are the start sectors of those streams, each with a directory entry of
/// the same name, start and length in both files.
///
/// The rule, from what the edit wrote and not from a walk of the streams'
/// chains: every sector the edit touched (a sector in a written range, or
/// one whose FAT entry differs between the two files, found by comparing
/// only the FAT sectors that moved or were written), and every sector of
/// every chain the result's reader followed, was, in the input, free or
/// past its end, or a sector of a chain the input's reader followed (see
/// [`Compound::free_or_followed`]); and no stream start in `untouched` is
/// such a sector.
///
/// What it proves: if the chain of such a stream in the input is valid
/// (every link in the file, no loop, ending where its length says, sharing
/// no sector with another chain: what every valid file has), none of its
/// sectors is free, past the end or on a followed chain, so the edit wrote
/// none of them and changed none of their FAT entries: in the result the
/// stream has the same chain, sector for sector, holding the same bytes;
/// and no chain the result's reader followed (the directory, the MiniFAT,
/// the mini stream, every stream verification read: every other stream)
/// shares a sector with it. The result is then as sound as a whole check
/// of it would find, without reading the stream's chain.
///
/// What it cannot prove: that the unread chain is valid in the input. A
/// chain the input's reader did not follow may be cut, loop, or run into
/// another chain; a chain it followed may run into the middle of the
/// unread one (a cross-link from a chain the edit then rewrites, such as
/// the directory or the mini stream, into the middle of a cabinet). No
/// valid file has either, and such a file is corrupt before the edit: a
/// reader of its cabinet already reads another structure's bytes there.
/// The edit then leaves the unread chain as it was, sectors and FAT
/// entries, except where the input's own cross-link makes it the other
/// chain's; it is never walked, so its cost stays out of the edit.
/// Anything else the rule meets (a sector it cannot tell, a FAT sector
/// that cannot be read) answers false, and the caller compares the
/// streams byte for byte, which follows their chains and blames a
/// damaged one on the input.
pub(crate) fn edit_left_alone<F: Read + Seek, G: Read + Seek>(
    input: &mut Compound<F>,
    result: &mut Compound<G>,
    written: &[(u64, u64)],
    untouched: &[u32],
) -> bool {
    let Some(touched) = touched_sectors(input, result, written) else {
        return false;
    };
    // A start sector free or followed in the input, or touched, is
    // already a chain shared with another: not one to vouch for.
    untouched.iter().all(|&s| !input.free_or_followed(s))
        && touched.iter().all(|&s| input.free_or_followed(s))
        && result.claims.keys().all(|&s| input.free_or_followed(s))
        && result.fat_sorted.iter().all(|&s| input.free_or_followed(s))
}

/// The sectors an edit touched ([`edit_left_alone`]): those in the
/// `written` ranges (the header aside), and those whose FAT entry differs
/// between `input` and `result`, read only from the FAT sectors that moved
/// or were written. `None` when that cannot be told (other sector sizes,
/// a result whose FAT covers less, a FAT sector that cannot be read).
fn touched_sectors<F: Read + Seek, G: Read + Seek>(
    input: &mut Compound<F>,
    result: &mut Compound<G>,
    written: &[(u64, u64)],
) -> Option<Vec<u32>> {
    let sl = input.sector_len;
    if result.sector_len != sl || result.fat_sectors.len() < input.fat_sectors.len() {
        return None;
    }
    let mut touched: Vec<u32> = Vec::new();
    for &(start, end) in written {
        if end <= sl {
            continue; // the header
        }
        let first = start.max(sl) / sl - 1;
        let last = (end - 1) / sl - 1;
        for s in first..=last {
            touched.push(u32::try_from(s).ok()?);
        }
    }
    let per = (sl / 4) as usize;
    for k in 0..input.fat_sectors.len() {
        let (a, b) = (input.fat_sectors[k], result.fat_sectors[k]);
        let at = (u64::from(b) + 1) * sl;
        if a == b && !crate::format::layout::overlaps(written, at, at + sl) {
            continue; // the same bytes in both files
        }
        let old = input.fat_table(k as u32).ok()?.to_vec();
        let new = result.fat_table(k as u32).ok()?;
        for (i, (x, y)) in old.iter().zip(new).enumerate() {
            if x != y {
                touched.push(u32::try_from(k * per + i).ok()?);
            }
        }
    }
    // FAT sectors the edit added describe sectors past the input's FAT: a
    // sector of the input among them that they do not give as free was
    // touched (it had no FAT entry in the input).
    for k in input.fat_sectors.len()..result.fat_sectors.len() {
        let new = result.fat_table(k as u32).ok()?;
        for (i, &e) in new.iter().enumerate() {
            let s = u32::try_from(k * per + i).ok()?;
            if s < input.num_sectors && e != FREE_SECTOR {
                touched.push(s);
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    Some(touched)
}

/// A stream's blocks.
enum Chain {
    Regular(Vec<u32>),
    Mini(Vec<u32>),
}

/// A stream being read.
pub struct Stream<'a, F> {
    cf: &'a mut Compound<F>,
    chain: Chain,
    len: u64,
    pos: u64,
}

impl<F: Read + Seek> Read for Stream<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let (block_len, offset) = match &self.chain {
            Chain::Regular(sectors) => {
                let sl = self.cf.sector_len;
                let index = (self.pos / sl) as usize;
                let Some(&s) = sectors.get(index) else {
                    return Ok(0);
                };
                // Sectors that follow each other in the file are read in
                // one call.
                let mut run = 1usize;
                while (run as u64) * sl < buf.len() as u64 + self.pos % sl
                    && s.checked_add(run as u32)
                        .is_some_and(|n| sectors.get(index + run) == Some(&n))
                {
                    run += 1;
                }
                (run as u64 * sl, (u64::from(s) + 1) * sl)
            }
            Chain::Mini(minis) => {
                let Some(&m) = minis.get((self.pos / MINI_SECTOR_LEN) as usize) else {
                    return Ok(0);
                };
                let at = u64::from(m) * MINI_SECTOR_LEN;
                let sl = self.cf.sector_len;
                let Some(&s) = self.cf.mini_sectors.get((at / sl) as usize) else {
                    return Err(bad(format!(
                        "mini sector {m} lies past the end of the mini stream"
                    )));
                };
                (MINI_SECTOR_LEN, (u64::from(s) + 1) * sl + at % sl)
            }
        };
        let within = match &self.chain {
            Chain::Regular(_) => self.pos % self.cf.sector_len,
            Chain::Mini(_) => self.pos % MINI_SECTOR_LEN,
        };
        let want = (block_len - within)
            .min(self.len - self.pos)
            .min(buf.len() as u64) as usize;
        self.cf.file.seek(SeekFrom::Start(offset + within))?;
        let n = self.cf.file.read(&mut buf[..want])?;
        if n == 0 {
            // Past the end of a short last sector: zeros, as `cfb` reads it.
            buf[..want].fill(0);
            self.pos += want as u64;
            return Ok(want);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Parses one 128-byte directory entry with `cfb`'s checks; `mask` keeps
/// the low 32 bits of a version-3 length.
fn parse_entry(e: &[u8], mask: u64) -> Result<Entry> {
    let name_bytes = u16_at(e, 0x40);
    if name_bytes > 64 {
        return Err(malformed(format!("name length too large: {name_bytes}")));
    } else if !name_bytes.is_multiple_of(2) {
        return Err(malformed(format!("odd name length: {name_bytes}")));
    }
    let units: Vec<u16> = (0..(name_bytes / 2).saturating_sub(1) as usize)
        .map(|k| u16_at(e, 2 * k))
        .collect();
    let mut name = String::from_utf16(&units).map_err(|_| malformed("name not valid UTF-16"))?;
    let kind = match e[0x42] {
        0 => Kind::Empty,
        1 => Kind::Storage,
        2 => Kind::Stream,
        5 => Kind::Root,
        t => return Err(malformed(format!("invalid object type: {t}"))),
    };
    if kind == Kind::Root {
        name = ROOT_NAME.to_string();
    } else {
        if units.len() > 31 {
            return Err(malformed(format!(
                "Object name cannot be more than 31 UTF-16 code units (was {})",
                units.len()
            )));
        }
        for c in ['/', '\\', ':', '!'] {
            if name.contains(c) {
                return Err(malformed(format!(
                    "Object name cannot contain {c} character"
                )));
            }
        }
    }
    let color = e[0x43];
    if color > 1 {
        return Err(malformed(format!("invalid color: {color}")));
    }
    let left = u32_at(e, 0x44);
    if left != NO_STREAM && left > MAX_REGULAR_STREAM_ID {
        return Err(malformed(format!("invalid left sibling: {left}")));
    }
    let right = u32_at(e, 0x48);
    if right != NO_STREAM && right > MAX_REGULAR_STREAM_ID {
        return Err(malformed(format!("invalid right sibling: {right}")));
    }
    let child = u32_at(e, 0x4C);
    if child != NO_STREAM {
        if kind == Kind::Stream {
            return Err(malformed(format!("non-empty stream child: {child}")));
        } else if child > MAX_REGULAR_STREAM_ID {
            return Err(malformed(format!("invalid child: {child}")));
        }
    }
    let clsid = if kind == Kind::Stream {
        Uuid::nil()
    } else {
        let b: [u8; 16] = e[0x50..0x60].try_into().unwrap_or_default();
        Uuid::from_bytes_le(b)
    };
    let (start, len) = if kind == Kind::Storage {
        (0, 0)
    } else {
        (u32_at(e, 0x74), u64_at(e, 0x78) & mask)
    };
    let (created, modified) = if kind == Kind::Stream {
        (0, 0)
    } else {
        (u64_at(e, 0x64), u64_at(e, 0x6C))
    };
    Ok(Entry {
        name,
        kind,
        clsid,
        state_bits: u32_at(e, 0x60),
        created,
        modified,
        start,
        len,
        left,
        right,
        child,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn build(version: cfb::Version, streams: &[(&str, usize)]) -> Vec<u8> {
        let mut cf =
            cfb::CompoundFile::create_with_version(version, Cursor::new(Vec::new())).unwrap();
        cf.create_storage("/t").unwrap();
        cf.create_storage("/t/inner").unwrap();
        cf.set_storage_clsid("/t", Uuid::from_u128(0x1234)).unwrap();
        cf.set_state_bits("/t", 7).unwrap();
        for (k, &(name, len)) in streams.iter().enumerate() {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ k as u8).collect();
            cf.create_stream(name).unwrap().write_all(&bytes).unwrap();
        }
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    const STREAMS: &[(&str, usize)] = &[
        ("/small", 300),
        ("/Big", 2 * 1024 * 1024 + 5),
        ("/t/a", 5000),
        ("/t/inner/b", 10),
        ("/t/\u{5}Summary", 4095),
        ("/empty", 0),
    ];

    fn open(bytes: &[u8]) -> Result<Compound<Cursor<&[u8]>>> {
        Compound::open(Cursor::new(bytes), bytes.len() as u64)
    }

    fn read(cf: &mut Compound<Cursor<&[u8]>>, path: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        cf.open_stream(Path::new(path))?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reads_what_cfb_reads_in_versions_3_and_4() {
        for version in [cfb::Version::V3, cfb::Version::V4] {
            let bytes = build(version, STREAMS);
            let mut theirs = cfb::CompoundFile::open(Cursor::new(&bytes[..])).unwrap();
            let mut ours = open(&bytes).unwrap();
            let names = |v: Vec<(PathBuf, &Entry)>| -> Vec<(PathBuf, bool, u64)> {
                v.into_iter()
                    .map(|(p, e)| (p, e.is_stream(), e.len))
                    .collect()
            };
            let walked: Vec<(PathBuf, bool, u64)> = theirs
                .walk()
                .map(|e| (e.path().to_path_buf(), e.is_stream(), e.len()))
                .collect();
            assert_eq!(names(ours.walk_storage(Path::new("/")).unwrap()), walked);
            let listed: Vec<(PathBuf, bool, u64)> = theirs
                .read_storage("/t")
                .unwrap()
                .map(|e| (e.path().to_path_buf(), e.is_stream(), e.len()))
                .collect();
            assert_eq!(names(ours.read_storage(Path::new("/t")).unwrap()), listed);
            let t = ours.entry(Path::new("/T")).expect("names ignore case");
            assert_eq!((t.clsid, t.state_bits), (Uuid::from_u128(0x1234), 7));
            for &(path, _) in STREAMS {
                let mut want = Vec::new();
                theirs
                    .open_stream(path)
                    .unwrap()
                    .read_to_end(&mut want)
                    .unwrap();
                assert_eq!(read(&mut ours, path).unwrap(), want, "{path}");
                // A second read of the same stream is no cross-link.
                assert_eq!(read(&mut ours, path).unwrap(), want, "{path}");
            }
            assert!(ours.open_stream(Path::new("/t")).is_err());
            assert!(ours.open_stream(Path::new("/missing")).is_err());
        }
    }

    /// Byte offset of the FAT entry of `sector` (FAT sectors from the
    /// header's DIFAT).
    fn fat_slot(b: &[u8], sector: u32) -> usize {
        let sl = 1usize << u16_at(b, 0x1E);
        let per = sl / 4;
        let fat = u32_at(b, 0x4C + 4 * (sector as usize / per)) as usize;
        (fat + 1) * sl + 4 * (sector as usize % per)
    }

    /// The offset of the directory entry named `name`.
    fn entry_at(b: &[u8], name: &str) -> usize {
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        (0..b.len() - 128)
            .step_by(128)
            .find(|&at| b[at..].starts_with(&utf16) && b[at + 0x42] == 2)
            .expect("the entry")
    }

    fn start_of(b: &[u8], name: &str) -> u32 {
        u32_at(b, entry_at(b, name) + 0x74)
    }

    fn put(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn fat_sectors_are_read_only_as_chains_reach_them() {
        // The big stream first, so that the small ones lie past it.
        let streams = [("/Big", 8 * 1024 * 1024), ("/a", 5000), ("/b", 100)];
        let bytes = build(cfb::Version::V3, &streams);
        let mut cf = open(&bytes).unwrap();
        let total = (bytes.len() as u64 / 512).div_ceil(128);
        assert!(total > 100, "{total} FAT sectors");
        read(&mut cf, "/a").unwrap();
        read(&mut cf, "/b").unwrap();
        assert!(
            cf.fat_sectors_read() <= 4,
            "{} of {total} FAT sectors read",
            cf.fat_sectors_read()
        );
        read(&mut cf, "/Big").unwrap();
        assert!(cf.fat_sectors_read() >= total - 2);
    }

    fn reason(r: io::Result<Vec<u8>>) -> String {
        r.expect_err("a malformed chain").to_string()
    }

    #[test]
    fn malformed_chains_are_errors_when_read() {
        let bytes = build(cfb::Version::V3, &[("/first", 9000), ("/second", 9000)]);
        let first = start_of(&bytes, "first");
        let second_sector = u32_at(&bytes, fat_slot(&bytes, first));

        // A loop: the second sector leads back to the first.
        let mut looped = bytes.clone();
        put(&mut looped, fat_slot(&bytes, second_sector), first);
        let mut cf = open(&looped).unwrap();
        let e = reason(read(&mut cf, "/first"));
        assert!(e.contains("runs back into its sector"), "{e}");
        assert_eq!(read(&mut cf, "/second").unwrap().len(), 9000);

        // A link past the end of the file ends the chain (as cfb reads
        // it): the chain is then shorter than its stream.
        let mut out = bytes.clone();
        put(&mut out, fat_slot(&bytes, first), 0x00FF_FFF0);
        let e = reason(read(&mut open(&out).unwrap(), "/first"));
        assert!(
            e.contains("its chain ends after 1 sectors; its 9000 bytes need 18"),
            "{e}"
        );

        // Ending early, and going on past the stream.
        let mut short = bytes.clone();
        put(&mut short, fat_slot(&bytes, second_sector), END_OF_CHAIN);
        let e = reason(read(&mut open(&short).unwrap(), "/first"));
        assert!(e.contains("ends after 2 sectors"), "{e}");
        let mut long = bytes.clone();
        let at = entry_at(&long, "first") + 0x78;
        put(&mut long, at, 9000 - 1024);
        let e = reason(read(&mut open(&long).unwrap(), "/first"));
        assert!(e.contains("goes on past the 16 sectors"), "{e}");
        // Into the start of another stream's chain: cross-linked, named.
        let mut into = bytes.clone();
        let second = start_of(&bytes, "second");
        let mut s = first;
        for _ in 0..17 {
            s = u32_at(&bytes, fat_slot(&bytes, s));
        }
        put(&mut into, fat_slot(&bytes, s), second);
        let e = reason(read(&mut open(&into).unwrap(), "/first"));
        assert!(
            e.contains(&format!(
                "stream first and stream second share sector {second}"
            )),
            "{e}"
        );

        // The second stream starts inside the first one's chain: reading
        // both finds the sector they share, naming both.
        let mut linked = bytes.clone();
        let at = entry_at(&linked, "second") + 0x74;
        put(&mut linked, at, second_sector);
        let mut cf = open(&linked).unwrap();
        let _ = read(&mut cf, "/first");
        let e = reason(read(&mut cf, "/second"));
        assert!(
            e.contains(&format!(
                "stream first and stream second share sector {second_sector}"
            )),
            "{e}"
        );

        // A chain running into a FAT sector.
        let mut into_fat = bytes.clone();
        let fat0 = u32_at(&bytes, 0x4C);
        put(&mut into_fat, fat_slot(&bytes, first), fat0);
        let e = reason(read(&mut open(&into_fat).unwrap(), "/first"));
        assert!(
            e.contains(&format!(
                "a FAT sector and stream first share sector {fat0}"
            )),
            "{e}"
        );
    }

    #[test]
    fn mini_chains_are_bounded_and_cross_links_found() {
        let bytes = build(cfb::Version::V3, &[("/first", 300), ("/second", 300)]);
        let first = start_of(&bytes, "first");
        let mut linked = bytes.clone();
        let at = entry_at(&linked, "second") + 0x74;
        put(&mut linked, at, first);
        let mut cf = open(&linked).unwrap();
        read(&mut cf, "/first").unwrap();
        let e = reason(read(&mut cf, "/second"));
        assert!(
            e.contains(&format!(
                "stream first and stream second share mini sector {first}"
            )),
            "{e}"
        );
        // Starting inside it: the chain ends early.
        let mut inside = bytes.clone();
        put(&mut inside, at, first + 1);
        let e = reason(read(&mut open(&inside).unwrap(), "/second"));
        assert!(e.contains("ends after 4 mini sectors"), "{e}");
        // Past the mini stream.
        let mut out = bytes.clone();
        let at = entry_at(&out, "second") + 0x74;
        put(&mut out, at, 5000);
        let e = reason(read(&mut open(&out).unwrap(), "/second"));
        assert!(e.contains("past the"), "{e}");
    }

    #[test]
    fn a_mini_stream_chain_longer_than_the_mini_stream_is_read_as_cfb_writes_it() {
        // `cfb` shrinks the mini stream when streams are removed but keeps
        // its chain.
        let bytes = build(
            cfb::Version::V3,
            &[("/a", 3000), ("/b", 3000), ("/c", 3000), ("/d", 3000)],
        );
        let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
        cf.remove_stream("/c").unwrap();
        cf.remove_stream("/d").unwrap();
        cf.flush().unwrap();
        let bytes = cf.into_inner().into_inner();
        let root = (u32_at(&bytes, 0x30) as usize + 1) * 512;
        let (mut s, len) = (u32_at(&bytes, root + 0x74), u32_at(&bytes, root + 0x78));
        let mut chain = 0;
        while s != END_OF_CHAIN {
            chain += 1;
            s = u32_at(&bytes, fat_slot(&bytes, s));
        }
        assert!(chain > len.div_ceil(512), "{chain} sectors for {len} bytes");
        let mut ours = open(&bytes).unwrap();
        assert_eq!(read(&mut ours, "/b").unwrap().len(), 3000);
    }

    fn refused(bytes: &[u8]) -> String {
        open(bytes).expect_err("a malformed file").to_string()
    }

    #[test]
    fn malformed_structures_are_refused_when_opened() {
        let bytes = build(cfb::Version::V3, &[("/a", 9000)]);
        // A DIFAT chain that loops: more FAT sectors than the header
        // holds, continued in a DIFAT sector that names itself as next.
        let mut difat = bytes.clone();
        put(&mut difat, 0x2C, 200);
        put(&mut difat, 0x44, 0);
        put(&mut difat, 0x48, 1);
        for k in 0..127 {
            put(&mut difat, 512 + 4 * k, FREE_SECTOR);
        }
        put(&mut difat, 512 + 508, 0);
        let e = refused(&difat);
        assert!(
            e.contains("DIFAT chain includes duplicate sector index 0"),
            "{e}"
        );
        // A directory chain that loops.
        let mut dir = bytes.clone();
        let first_dir = u32_at(&bytes, 0x30);
        put(&mut dir, fat_slot(&bytes, first_dir), first_dir);
        assert!(refused(&dir).contains("runs back"));
        // A sibling that is its own sibling.
        let mut tree = bytes.clone();
        let at = entry_at(&tree, "a");
        let id = ((at - 512 * (first_dir as usize + 1)) / 128) as u32;
        put(&mut tree, at + 0x44, id);
        assert!(refused(&tree).contains("name ordering"));
        // Declared lengths past the file.
        let mut huge = bytes.clone();
        put(&mut huge, at + 0x78, 0x7FFF_FFFF);
        assert!(refused(&huge).contains("more than the whole"));
        // Garbage and truncation.
        assert!(refused(&[0u8; 100]).contains("too small"));
        assert!(refused(&[0u8; 4096]).contains("wrong magic number"));
        let cut = &bytes[..bytes.len() / 2];
        assert!(refused(cut).contains("file has only"), "{}", refused(cut));
    }
}
