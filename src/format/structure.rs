//! Structural checks of a compound file that the `cfb` crate does not
//! make, run on every file before `cfb` opens it for reading, and on the
//! input of an edit small enough to be checked whole
//! (`crate::format::container::open_for_edit`; a larger one is read
//! lazily, `crate::format::compound`):
//!
//! * **Nesting depth.** Storages may nest at most [`MAX_DEPTH`] levels.
//!   `cfb` names every entry by its full path, so walking or copying a
//!   chain of `d` nested storages builds `d` paths of up to `d` names:
//!   time and memory grow with `d²` (depth 30,000 took 1.8 GB). A patch
//!   nests one level (transforms at the root), an installer database with
//!   embedded databases two or three.
//! * **Cross-linked chains.** Every sector belongs to at most one chain
//!   (a stream, the directory, the MiniFAT, the mini stream, the FAT or
//!   DIFAT sectors), and every mini sector to at most one mini stream.
//!   `cfb` rejects a sector that two FAT entries point to, but not a chain
//!   that *starts* inside another one; such a file reads, and an edit that
//!   grows one of the two chains overwrites the other (a mini stream
//!   cross-linked into a cabinet let the edit write summary streams into
//!   the cabinet, and verification then blamed the output).
//!
//! Both walks visit each directory entry and each sector once, with
//! integer stacks, so the check costs time linear in the file and memory
//! linear in its allocation tables (which `cfb` holds in memory too).
//!
//! Hand-written because `cfb` exposes neither chains nor the directory
//! tree; [MS-CFB] 2.2 (header), 2.3 (FAT), 2.5 (DIFAT) and 2.6
//! (directory). Everything else that is wrong with a file is left to `cfb`,
//! which reports it: a field this reader cannot make sense of ends the
//! check without a finding.
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::error::{Error, Result};

/// How deeply storages may nest: a storage at the root is at depth 1.
pub const MAX_DEPTH: u32 = 16;

/// Streams at least this long have their chains recorded in [`Chains`]:
/// verification vouches for such streams by their layout.
pub const LARGE_STREAM_LEN: u64 = 1024 * 1024;

/// What a complete check established about a file's large streams (of at
/// least [`LARGE_STREAM_LEN`] bytes in regular sectors): those whose chain
/// is exactly as long as the stream, ends with the end-of-chain mark, and
/// shares no sector with any other chain the check followed (the FAT and
/// DIFAT sectors, the directory, the MiniFAT, the mini stream and every
/// stream in regular sectors). Every sector of such a chain has a FAT
/// entry that is a sector of the file or the end of a chain, and belongs
/// to no other chain: that lets verification show that an edit left the
/// stream alone from the few sectors the edit touched, without walking a
/// chain of millions of sectors (`crate::format::layout`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chains {
    /// `(start sector, length)` of each such stream.
    intact: Vec<(u32, u64)>,
    /// Whether the check followed every chain of the file: the other
    /// chains' sectors are then known not to belong to the large ones.
    complete: bool,
    /// The sectors of those chains, one bit each (empty when there are
    /// none): what a check of an edited copy of the file starts from
    /// ([`check_edited`]) instead of following them again.
    sectors: Arc<[u64]>,
    /// The sector size the record is in.
    sector_len: u64,
}

impl Chains {
    /// Whether the large stream starting at `start`, `len` bytes long, has
    /// an intact chain that no other chain shares.
    pub fn is_intact(&self, start: u32, len: u64) -> bool {
        self.complete && self.intact.contains(&(start, len))
    }

    /// Whether the check found any intact large chain.
    pub fn any_intact(&self) -> bool {
        self.complete && !self.intact.is_empty()
    }
}

const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const NO_STREAM: u32 = 0xFFFF_FFFF;
const HEADER_DIFAT_ENTRIES: usize = 109;
const DIR_ENTRY_LEN: usize = 128;
const MINI_SECTOR_LEN: u64 = 64;

#[cfg(test)]
thread_local! {
    /// Sectors claimed by following chains on this thread: the tests of
    /// [`check_edited`] check that it does not follow the recorded ones.
    static SECTORS_CLAIMED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Sectors claimed by following chains on this thread so far (tests).
#[cfg(test)]
pub(crate) fn sectors_claimed() -> u64 {
    SECTORS_CLAIMED.with(|c| c.get())
}

/// Who a sector belongs to: a directory entry's id, or one of these.
const FREE: u32 = u32::MAX;
const FAT: u32 = u32::MAX - 1;
const DIFAT: u32 = u32::MAX - 2;
const DIRECTORY: u32 = u32::MAX - 3;
const MINIFAT: u32 = u32::MAX - 4;
const MINI_STREAM: u32 = u32::MAX - 5;

/// A fault found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// A storage at `depth`, past [`MAX_DEPTH`].
    TooDeep { id: u32, depth: u32 },
    /// Two chains share `sector` (a mini sector when `mini`).
    CrossLinked {
        sector: u32,
        mini: bool,
        first: u32,
        second: u32,
    },
}

/// Refuses a compound file whose storages nest deeper than [`MAX_DEPTH`]
/// or whose chains are cross-linked (see the module documentation), and
/// returns what it established about the file's large streams. The caller
/// names the file.
pub fn check<F: Read + Seek>(file: &mut F) -> Result<Chains> {
    check_with(file, None)
}

/// [`check`] of the result of an edit of a file whose check gave `input`,
/// where the caller has shown that the edit left every intact large chain
/// of `input` as it was: no sector of them written, and no FAT entry of
/// them changed (the sectors an edit touched, from the FAT sectors it
/// wrote: `crate::format::layout::Layout::touched_sectors`). Such a chain
/// is then a chain of the result, sector for sector, so its sectors are
/// claimed from `input`'s record rather than by following it again (two
/// million sectors for a 1 GiB cabinet in 512-byte sectors); every other
/// chain is followed and claimed as [`check`] does, so a chain of the
/// result that shares a sector with the cabinet's is still refused, and
/// so is a second entry pointing at the cabinet's chain. When the result
/// has no stream entry of the same start and length for one of them (the
/// edit removed it), every chain is followed.
pub fn check_edited<F: Read + Seek>(file: &mut F, input: &Chains) -> Result<Chains> {
    check_with(file, Some(input).filter(|c| c.any_intact()))
}

fn check_with<F: Read + Seek>(file: &mut F, input: Option<&Chains>) -> Result<Chains> {
    let Some(mut scan) = Scan::read(file).ok().flatten() else {
        return Ok(Chains::default());
    };
    match scan.fault(input) {
        None => Ok(std::mem::take(&mut scan.chains)),
        Some(Fault::TooDeep { id, depth }) => Err(Error::format(format!(
            "storage {} is nested {depth} levels deep; at most {MAX_DEPTH} are accepted",
            scan.path_of(id)
        ))
        .at("compound-file structure")),
        Some(Fault::CrossLinked {
            sector,
            mini,
            first,
            second,
        }) => {
            let what = if mini { "mini sector" } else { "sector" };
            Err(Error::format(format!(
                "{} and {} share {what} {sector}: their chains are cross-linked",
                scan.describe(first),
                scan.describe(second)
            ))
            .at("compound-file structure"))
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// What the check needs of one directory entry.
struct Node {
    kind: u8,
    left: u32,
    right: u32,
    child: u32,
    start: u32,
    len: u64,
    name: Box<str>,
}

/// The allocation tables and directory of a file, as read.
struct Scan {
    fat: Vec<u32>,
    fat_sectors: Vec<u32>,
    difat_sectors: Vec<u32>,
    dir_start: u32,
    minifat_start: u32,
    minifat: Vec<u32>,
    cutoff: u64,
    dir: Vec<Node>,
    num_sectors: u64,
    sector_len: u64,
    file_len: u64,
    /// Filled in by a check that finds no fault.
    chains: Chains,
    /// Parent storage of each entry reached from the root (for names).
    parent: Vec<u32>,
}

/// Who claims sectors, in the order of the check.
#[derive(Debug, Clone, Copy)]
enum Claimant {
    /// The FAT sectors the header and the DIFAT list.
    FatSectors,
    /// The DIFAT chain's sectors.
    DifatSectors,
    /// The chain from a start sector.
    Chain(u32),
}

/// The sectors claimed so far (one bit each), and by whom: each claimant
/// with its owner and how many sectors it claimed.
struct Claims {
    taken: Vec<u64>,
    done: Vec<(Claimant, u32, u64)>,
}

/// Why reading stopped: `None` leaves the file to `cfb`.
type Read_<T> = io::Result<Option<T>>;

fn read_sector<F: Read + Seek>(file: &mut F, sector_len: u64, sector: u32) -> Read_<Vec<u8>> {
    let Some(offset) = (u64::from(sector) + 1).checked_mul(sector_len) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; sector_len as usize];
    match file.read_exact(&mut buf) {
        Ok(()) => Ok(Some(buf)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

impl Scan {
    fn read<F: Read + Seek>(file: &mut F) -> Read_<Scan> {
        let file_len = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; 512];
        if file.read_exact(&mut header).is_err() {
            return Ok(None);
        }
        let field = |at| u32_at(&header, at).unwrap_or(0);
        let shift = u16_at(&header, 0x1E).unwrap_or(0);
        if shift != 9 && shift != 12 {
            return Ok(None);
        }
        let sector_len = 1u64 << shift;
        // As `cfb` counts them: a partial last sector counts.
        let num_sectors = file_len.div_ceil(sector_len).saturating_sub(1);
        let num_fat = u64::from(field(0x2C));
        if num_fat > num_sectors {
            return Ok(None);
        }
        let per = (sector_len / 4) as usize;
        let in_range = |s: u32| u64::from(s) < num_sectors;

        // FAT sectors: 109 in the header, the rest in the DIFAT chain.
        let mut fat_sectors: Vec<u32> = Vec::with_capacity(num_fat as usize);
        for i in 0..HEADER_DIFAT_ENTRIES.min(num_fat as usize) {
            fat_sectors.push(field(0x4C + 4 * i));
        }
        let mut difat_sectors = Vec::new();
        let mut next = field(0x44);
        while (fat_sectors.len() as u64) < num_fat {
            if !in_range(next) || difat_sectors.len() as u64 >= num_sectors {
                return Ok(None);
            }
            difat_sectors.push(next);
            let Some(data) = read_sector(file, sector_len, next)? else {
                return Ok(None);
            };
            for i in 0..per - 1 {
                if fat_sectors.len() as u64 >= num_fat {
                    break;
                }
                fat_sectors.push(u32_at(&data, 4 * i).unwrap_or(0));
            }
            next = u32_at(&data, 4 * (per - 1)).unwrap_or(0);
        }
        let mut fat: Vec<u32> = Vec::with_capacity(fat_sectors.len() * per);
        for &s in &fat_sectors {
            if !in_range(s) {
                return Ok(None);
            }
            let Some(data) = read_sector(file, sector_len, s)? else {
                return Ok(None);
            };
            fat.extend(
                data.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        // Sectors past the end of the file are not sectors.
        fat.truncate(num_sectors as usize);

        let mut scan = Scan {
            fat,
            fat_sectors,
            difat_sectors,
            dir_start: field(0x30),
            minifat_start: field(0x3C),
            minifat: Vec::new(),
            cutoff: u64::from(field(0x38)),
            dir: Vec::new(),
            num_sectors,
            sector_len,
            file_len,
            chains: Chains::default(),
            parent: Vec::new(),
        };
        let mask = if shift == 9 { 0xFFFF_FFFF } else { u64::MAX };
        let dir_sectors: Vec<u32> = scan.chain(scan.dir_start).collect();
        for sector in dir_sectors {
            let Some(data) = read_sector(file, sector_len, sector)? else {
                return Ok(None);
            };
            for e in data.chunks_exact(DIR_ENTRY_LEN) {
                let name_len = (u16_at(e, 0x40).unwrap_or(0) as usize).min(64);
                let units: Vec<u16> = (0..name_len.saturating_sub(2) / 2)
                    .filter_map(|k| u16_at(e, 2 * k))
                    .collect();
                let lo = u64::from(u32_at(e, 0x78).unwrap_or(0));
                let hi = u64::from(u32_at(e, 0x7C).unwrap_or(0));
                scan.dir.push(Node {
                    kind: e.get(0x42).copied().unwrap_or(0),
                    left: u32_at(e, 0x44).unwrap_or(NO_STREAM),
                    right: u32_at(e, 0x48).unwrap_or(NO_STREAM),
                    child: u32_at(e, 0x4C).unwrap_or(NO_STREAM),
                    start: u32_at(e, 0x74).unwrap_or(0),
                    len: (lo | (hi << 32)) & mask,
                    name: String::from_utf16_lossy(&units).into_boxed_str(),
                });
            }
        }
        let minifat_sectors: Vec<u32> = scan.chain(scan.minifat_start).collect();
        for sector in minifat_sectors {
            let Some(data) = read_sector(file, sector_len, sector)? else {
                return Ok(None);
            };
            scan.minifat.extend(
                data.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        // Mini sectors past the mini stream's end are not mini sectors.
        let mini_count = scan
            .dir
            .first()
            .map_or(0, |root| root.len / MINI_SECTOR_LEN);
        scan.minifat
            .truncate(usize::try_from(mini_count).unwrap_or(usize::MAX));
        Ok(Some(scan))
    }

    /// The sectors of the chain from `start`, in order, ending where the
    /// FAT does not point to a sector of the file, after at most as many
    /// steps as the file has sectors (a loop is `cfb`'s to report).
    fn chain(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        let mut s = start;
        let mut steps = 0u64;
        std::iter::from_fn(move || {
            if s > MAX_REGULAR_SECTOR || s as usize >= self.fat.len() || steps >= self.num_sectors {
                return None;
            }
            steps += 1;
            let here = s;
            s = self.fat[here as usize];
            Some(here)
        })
    }

    /// The sectors a claimant claims, in order.
    fn sectors_of(&self, c: Claimant) -> Box<dyn Iterator<Item = u32> + '_> {
        match c {
            Claimant::FatSectors => Box::new(self.fat_sectors.iter().copied()),
            Claimant::DifatSectors => Box::new(self.difat_sectors.iter().copied()),
            Claimant::Chain(start) => Box::new(self.chain(start)),
        }
    }

    /// The first fault: storages too deep, then cross-linked chains. With
    /// `input`, the intact large chains it records are claimed from it
    /// (see [`check_edited`]).
    fn fault(&mut self, input: Option<&Chains>) -> Option<Fault> {
        let n = self.dir.len();
        if self.dir.first().is_none_or(|root| root.kind != 5) {
            return None;
        }
        // Depth-first over the sibling trees with an integer stack; every
        // entry is visited at most once, which bounds the walk.
        self.parent = vec![NO_STREAM; n];
        let mut seen = vec![false; n];
        seen[0] = true;
        let mut order: Vec<u32> = Vec::new();
        let mut stack: Vec<(u32, u32, u32)> = vec![(self.dir[0].child, 0, 1)];
        while let Some((id, parent, depth)) = stack.pop() {
            let Some(node) = self.dir.get(id as usize) else {
                continue;
            };
            if std::mem::replace(&mut seen[id as usize], true) {
                return None; // a cycle: `cfb` refuses the file
            }
            self.parent[id as usize] = parent;
            order.push(id);
            stack.push((node.left, parent, depth));
            stack.push((node.right, parent, depth));
            if node.kind == 1 {
                if depth > MAX_DEPTH {
                    return Some(Fault::TooDeep { id, depth });
                }
                stack.push((node.child, id, depth + 1));
            }
        }

        // Every sector to one owner: the sectors' owners are claimed in a
        // fixed order, one bit per sector (a 1 GiB file of 512-byte sectors
        // has two million), and the owner a conflict names is looked up
        // again only when there is one.
        let words = self.fat.len().div_ceil(64);
        let mut claims = Claims {
            taken: vec![0u64; words],
            done: Vec::new(),
        };
        // The sectors of this file's intact large chains, for the record.
        let mut large: Vec<u64> = Vec::new();
        let skipped = match input {
            Some(pre) => self.preclaim(&mut claims, pre, &order),
            None => Vec::new(),
        };
        if !skipped.is_empty()
            && let Some(pre) = input
        {
            large = vec![0u64; words];
            large[..pre.sectors.len()].copy_from_slice(&pre.sectors);
        }
        let fixed = [
            (Claimant::FatSectors, FAT),
            (Claimant::DifatSectors, DIFAT),
            (Claimant::Chain(self.dir_start), DIRECTORY),
            (Claimant::Chain(self.minifat_start), MINIFAT),
        ];
        for (c, who) in fixed {
            if let Err(f) = self.claim(&mut claims, c, who) {
                return Some(f);
            }
        }
        // A length past the end of the file is reported by the caller's
        // check of declared lengths, in those words, after this check.
        let root = &self.dir[0];
        if root.len > self.file_len {
            return None;
        }
        if root.len > 0
            && let Err(f) = self.claim(&mut claims, Claimant::Chain(root.start), MINI_STREAM)
        {
            return Some(f);
        }
        for &id in &order {
            let node = &self.dir[id as usize];
            if node.kind != 2 || node.len == 0 || node.len > self.file_len || node.len < self.cutoff
            {
                continue;
            }
            let (start, len) = (node.start, node.len);
            if skipped.contains(&id) {
                // Claimed from the input's record, intact there and
                // left alone by the edit.
                self.chains.intact.push((start, len));
                continue;
            }
            let is_large = len >= LARGE_STREAM_LEN;
            if is_large && large.is_empty() {
                large = vec![0u64; words];
            }
            let also = if is_large { Some(&mut large[..]) } else { None };
            let (count, last) =
                match self.claim_marking(&mut claims, Claimant::Chain(start), id, also) {
                    Ok(c) => c,
                    Err(f) => return Some(f),
                };
            // Intact: as many sectors as the length needs, the last one
            // marked end-of-chain (a chain that loops never is).
            let intact = is_large
                && count == len.div_ceil(self.sector_len)
                && last.is_some_and(|s| self.fat.get(s as usize) == Some(&END_OF_CHAIN));
            if intact {
                self.chains.intact.push((start, len));
            } else if is_large {
                // Not part of the record: its sectors are taken back out.
                for t in self.chain(start).take(count as usize) {
                    if let Some(word) = large.get_mut(t as usize / 64) {
                        *word &= !(1u64 << (t % 64));
                    }
                }
            }
        }
        if !self.chains.intact.is_empty() {
            self.chains.sectors = Arc::from(large);
            self.chains.sector_len = self.sector_len;
        }
        let mut mini_owner = vec![FREE; self.minifat.len()];
        for &id in &order {
            let node = &self.dir[id as usize];
            if node.kind != 2
                || node.len == 0
                || node.len > self.file_len
                || node.len >= self.cutoff
            {
                continue;
            }
            let mut s = node.start;
            let mut steps = 0usize;
            while s <= MAX_REGULAR_SECTOR && steps < mini_owner.len() {
                let Some(slot) = mini_owner.get_mut(s as usize) else {
                    break;
                };
                if *slot == id {
                    break;
                }
                if *slot != FREE {
                    return Some(Fault::CrossLinked {
                        sector: s,
                        mini: true,
                        first: *slot,
                        second: id,
                    });
                }
                *slot = id;
                steps += 1;
                s = self.minifat[s as usize];
            }
        }
        self.chains.complete = true;
        None
    }

    /// Claims for the streams of `order` that `input` records as intact
    /// large chains the sectors `input` records, as their owners; returns
    /// those streams' ids. Nothing is claimed (and every chain is then
    /// followed) unless each recorded chain is the chain of a stream of
    /// this file (the first in `order` with the same start and length) and
    /// the record fits this file's sectors.
    fn preclaim(&self, claims: &mut Claims, input: &Chains, order: &[u32]) -> Vec<u32> {
        let fits = input.sector_len == self.sector_len
            && !input.sectors.is_empty()
            && input.sectors.len() <= claims.taken.len()
            && input.sectors.iter().rposition(|&w| w != 0).is_none_or(|i| {
                (i as u64 * 64 + 63 - u64::from(input.sectors[i].leading_zeros()))
                    < self.fat.len() as u64
            });
        if !fits {
            return Vec::new();
        }
        let mut ids = Vec::with_capacity(input.intact.len());
        for &(start, len) in &input.intact {
            let found = order.iter().copied().find(|&id| {
                let node = &self.dir[id as usize];
                node.kind == 2
                    && node.start == start
                    && node.len == len
                    && len >= self.cutoff
                    && len <= self.file_len
                    && !ids.contains(&id)
            });
            match found {
                Some(id) => ids.push(id),
                None => return Vec::new(),
            }
        }
        claims.taken[..input.sectors.len()].copy_from_slice(&input.sectors);
        for (&(start, len), &id) in input.intact.iter().zip(&ids) {
            claims
                .done
                .push((Claimant::Chain(start), id, len.div_ceil(self.sector_len)));
        }
        ids
    }

    /// Claims the sectors of `c` for `who`, up to the first sector past the
    /// allocation table or the first it claimed already (a chain running
    /// into itself, `cfb`'s to report); returns how many it claimed and the
    /// last one, or the fault of a sector another owner claimed first.
    fn claim(
        &self,
        claims: &mut Claims,
        c: Claimant,
        who: u32,
    ) -> std::result::Result<(u64, Option<u32>), Fault> {
        self.claim_marking(claims, c, who, None)
    }

    /// [`Scan::claim`], also setting each claimed sector's bit in `also`.
    fn claim_marking(
        &self,
        claims: &mut Claims,
        c: Claimant,
        who: u32,
        also: Option<&mut [u64]>,
    ) -> std::result::Result<(u64, Option<u32>), Fault> {
        // A chain is followed without a boxed iterator: the cabinet's has
        // millions of sectors.
        match c {
            Claimant::Chain(start) => self.claim_from(claims, self.chain(start), c, who, also),
            _ => self.claim_from(claims, self.sectors_of(c), c, who, also),
        }
    }

    /// Claims the sectors `sectors` yields ([`Scan::claim_marking`]).
    fn claim_from(
        &self,
        claims: &mut Claims,
        sectors: impl Iterator<Item = u32>,
        c: Claimant,
        who: u32,
        mut also: Option<&mut [u64]>,
    ) -> std::result::Result<(u64, Option<u32>), Fault> {
        let mut count = 0u64;
        let mut last = None;
        for s in sectors {
            let Some(word) = claims.taken.get_mut(s as usize / 64) else {
                break;
            };
            let bit = 1u64 << (s % 64);
            if s as usize >= self.fat.len() {
                break;
            }
            if *word & bit != 0 {
                if self.sectors_of(c).take(count as usize).any(|t| t == s) {
                    break;
                }
                return Err(Fault::CrossLinked {
                    sector: s,
                    mini: false,
                    first: self.first_owner(claims, s),
                    second: who,
                });
            }
            *word |= bit;
            #[cfg(test)]
            SECTORS_CLAIMED.with(|c| c.set(c.get() + 1));
            if let Some(w) = also.as_deref_mut().and_then(|a| a.get_mut(s as usize / 64)) {
                *w |= bit;
            }
            count += 1;
            last = Some(s);
        }
        claims.done.push((c, who, count));
        Ok((count, last))
    }

    /// Which earlier claimant took sector `s` (the error path only: each
    /// claimant's sectors are followed again as far as it claimed them).
    fn first_owner(&self, claims: &Claims, s: u32) -> u32 {
        claims
            .done
            .iter()
            .find(|&&(c, _, count)| self.sectors_of(c).take(count as usize).any(|t| t == s))
            .map_or(FREE, |&(_, who, _)| who)
    }

    /// The path of entry `id` inside the file, from its parents.
    fn path_of(&self, id: u32) -> String {
        let mut names = Vec::new();
        let mut at = id;
        // Parents were set by a walk from the root, so this ends; the bound
        // is for safety.
        while at != 0 && at != NO_STREAM && names.len() <= self.dir.len() {
            let Some(node) = self.dir.get(at as usize) else {
                break;
            };
            names.push(crate::format::names::show_name(&node.name));
            at = self.parent.get(at as usize).copied().unwrap_or(NO_STREAM);
        }
        names.reverse();
        names.join("/")
    }

    /// An owner for messages.
    fn describe(&self, who: u32) -> String {
        match who {
            FAT => "a FAT sector".into(),
            DIFAT => "a DIFAT sector".into(),
            DIRECTORY => "the directory".into(),
            MINIFAT => "the MiniFAT".into(),
            MINI_STREAM => "the mini stream (of the root entry)".into(),
            id => {
                crate::format::names::stream_part(&std::path::Path::new("/").join(self.path_of(id)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn nested(depth: usize) -> Vec<u8> {
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        let mut p = std::path::PathBuf::from("/");
        for _ in 0..depth {
            p.push("s");
            cf.create_storage(&p).unwrap();
        }
        cf.create_stream(p.join("x"))
            .unwrap()
            .write_all(b"data")
            .unwrap();
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    #[test]
    fn depth_up_to_the_limit_is_accepted_and_past_it_refused() {
        check(&mut Cursor::new(nested(MAX_DEPTH as usize))).unwrap();
        let e = check(&mut Cursor::new(nested(MAX_DEPTH as usize + 1))).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("nested 17 levels deep"), "{text}");
        assert!(text.contains(&"s/".repeat(16)), "{text}");
    }

    /// The offset of the directory entry named `name` in `bytes`.
    fn entry_at(bytes: &[u8], name: &str) -> usize {
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        (0..bytes.len() - 128)
            .step_by(128)
            .find(|&at| bytes[at..].starts_with(&utf16) && bytes[at + 0x42] == 2)
            .expect("the entry")
    }

    #[test]
    fn mini_streams_sharing_a_mini_sector_are_refused() {
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .unwrap();
        for (name, len) in [("/first", 300), ("/second", 300)] {
            cf.create_stream(name)
                .unwrap()
                .write_all(&vec![1u8; len])
                .unwrap();
        }
        cf.flush().unwrap();
        let mut bytes = cf.into_inner().into_inner();
        check(&mut Cursor::new(bytes.clone())).unwrap();
        // The second stream now starts in the middle of the first's chain.
        let first = entry_at(&bytes, "first");
        let second = entry_at(&bytes, "second");
        let start = u32::from_le_bytes(bytes[first + 0x74..first + 0x78].try_into().unwrap());
        bytes[second + 0x74..second + 0x78].copy_from_slice(&(start + 1).to_le_bytes());
        let e = check(&mut Cursor::new(bytes)).unwrap_err().to_string();
        assert!(
            e.contains("stream first and stream second share mini sector"),
            "{e}"
        );
    }

    #[test]
    fn intact_large_chains_are_recorded_and_cut_ones_are_not() {
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .unwrap();
        let len = 2 * LARGE_STREAM_LEN;
        cf.create_stream("/cab")
            .unwrap()
            .write_all(&vec![7u8; len as usize])
            .unwrap();
        cf.create_stream("/small")
            .unwrap()
            .write_all(&[1u8; 9000])
            .unwrap();
        cf.flush().unwrap();
        let mut bytes = cf.into_inner().into_inner();
        let at = entry_at(&bytes, "cab");
        let start = u32::from_le_bytes(bytes[at + 0x74..at + 0x78].try_into().unwrap());
        let chains = check(&mut Cursor::new(bytes.clone())).unwrap();
        assert!(chains.is_intact(start, len));
        assert!(
            !chains.is_intact(start, len - 512),
            "the length is part of the fact"
        );
        // The chain ends after its second sector (an entry of the first
        // FAT sector, which holds sectors 0 to 127).
        let fat0 = u32::from_le_bytes(bytes[0x4C..0x50].try_into().unwrap()) as usize;
        let second = u32::from_le_bytes(
            bytes[(fat0 + 1) * 512 + 4 * start as usize..][..4]
                .try_into()
                .unwrap(),
        );
        assert!(
            second < 128,
            "the test's cabinet starts in the first FAT sector"
        );
        let slot = (fat0 + 1) * 512 + 4 * second as usize;
        bytes[slot..slot + 4].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        let chains = check(&mut Cursor::new(bytes)).unwrap();
        assert!(!chains.is_intact(start, len));
    }

    #[test]
    fn streams_sharing_a_sector_are_refused_naming_both_and_a_loop_is_left_to_cfb() {
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .unwrap();
        for name in ["/first", "/second"] {
            cf.create_stream(name)
                .unwrap()
                .write_all(&[1u8; 9000])
                .unwrap();
        }
        cf.flush().unwrap();
        let bytes = cf.into_inner().into_inner();
        check(&mut Cursor::new(bytes.clone())).unwrap();
        let fat0 = u32::from_le_bytes(bytes[0x4C..0x50].try_into().unwrap()) as usize;
        let fat_slot = |s: u32| (fat0 + 1) * 512 + 4 * s as usize;
        let first = entry_at(&bytes, "first");
        let start = u32::from_le_bytes(bytes[first + 0x74..first + 0x78].try_into().unwrap());
        let next = u32::from_le_bytes(bytes[fat_slot(start)..][..4].try_into().unwrap());
        assert!(next < 128, "the test's streams lie in the first FAT sector");

        // The second stream starts inside the first one's chain.
        let mut linked = bytes.clone();
        let second = entry_at(&linked, "second");
        linked[second + 0x74..second + 0x78].copy_from_slice(&next.to_le_bytes());
        let e = check(&mut Cursor::new(linked)).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "stream first and stream second share sector {next}"
            )),
            "{e}"
        );

        // The first stream's chain runs back into itself: `cfb`'s to report.
        let mut looped = bytes;
        let at = fat_slot(next);
        looped[at..at + 4].copy_from_slice(&start.to_le_bytes());
        let chains = check(&mut Cursor::new(looped)).unwrap();
        assert!(chains.complete, "every chain was followed");
    }

    /// A version-3 file with a 2 MiB cabinet and a small stream; its
    /// check; the cabinet's start sector.
    fn with_cabinet() -> (Vec<u8>, Chains, u32) {
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .unwrap();
        cf.create_stream("/cab")
            .unwrap()
            .write_all(&vec![7u8; 2 * LARGE_STREAM_LEN as usize])
            .unwrap();
        cf.create_stream("/small")
            .unwrap()
            .write_all(&[1u8; 9000])
            .unwrap();
        cf.flush().unwrap();
        let bytes = cf.into_inner().into_inner();
        let at = entry_at(&bytes, "cab");
        let start = u32::from_le_bytes(bytes[at + 0x74..at + 0x78].try_into().unwrap());
        let chains = check(&mut Cursor::new(bytes.clone())).unwrap();
        assert!(chains.is_intact(start, 2 * LARGE_STREAM_LEN));
        (bytes, chains, start)
    }

    /// `bytes` edited by `cfb`: `edit` runs on it, then it is flushed.
    fn edited(
        bytes: Vec<u8>,
        edit: impl FnOnce(&mut cfb::CompoundFile<Cursor<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
        edit(&mut cf);
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    fn add_streams(cf: &mut cfb::CompoundFile<Cursor<Vec<u8>>>) {
        for name in ["/added", "/more"] {
            cf.create_stream(name)
                .unwrap()
                .write_all(&[3u8; 9000])
                .unwrap();
        }
    }

    fn claimed() -> u64 {
        sectors_claimed()
    }

    #[test]
    fn an_edited_copy_is_checked_from_the_record_with_the_same_findings() {
        let (bytes, chains, _) = with_cabinet();
        let out = edited(bytes, add_streams);
        let before = claimed();
        let full = check(&mut Cursor::new(out.clone())).unwrap();
        let followed_full = claimed() - before;
        let before = claimed();
        let from_record = check_edited(&mut Cursor::new(out), &chains).unwrap();
        let followed = claimed() - before;
        assert_eq!(from_record, full);
        // The cabinet's 4,096 sectors are claimed from the record.
        assert_eq!(followed_full - followed, 4096, "{followed_full} {followed}");
    }

    #[test]
    fn an_edited_copy_whose_new_chain_runs_into_the_cabinet_is_refused() {
        let (bytes, chains, start) = with_cabinet();
        let out = edited(bytes, add_streams);
        let fat0 = u32::from_le_bytes(out[0x4C..0x50].try_into().unwrap()) as usize;
        let second = u32::from_le_bytes(
            out[(fat0 + 1) * 512 + 4 * start as usize..][..4]
                .try_into()
                .unwrap(),
        );
        for into in [start, second] {
            let mut bad = out.clone();
            let at = entry_at(&bad, "added");
            bad[at + 0x74..at + 0x78].copy_from_slice(&into.to_le_bytes());
            let e = check_edited(&mut Cursor::new(bad), &chains)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("stream cab and stream added share sector {into}")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_second_entry_on_the_cabinet_chain_is_refused() {
        let (bytes, chains, start) = with_cabinet();
        let mut out = edited(bytes, add_streams);
        let at = entry_at(&out, "more");
        out[at + 0x74..at + 0x78].copy_from_slice(&start.to_le_bytes());
        out[at + 0x78..at + 0x7C].copy_from_slice(&(2 * LARGE_STREAM_LEN as u32).to_le_bytes());
        let e = check_edited(&mut Cursor::new(out), &chains)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cross-linked"), "{e}");
        assert!(e.contains("stream cab") && e.contains("stream more"), "{e}");
    }

    #[test]
    fn a_record_the_edited_copy_does_not_match_is_not_used() {
        let (bytes, chains, _) = with_cabinet();
        // The cabinet is removed and its sectors reused by new streams.
        let out = edited(bytes, |cf| {
            cf.remove_stream("/cab").unwrap();
            add_streams(cf);
        });
        let full = check(&mut Cursor::new(out.clone())).unwrap();
        let before = claimed();
        let from_record = check_edited(&mut Cursor::new(out), &chains).unwrap();
        assert_eq!(from_record, full);
        assert!(claimed() > before);
    }

    #[test]
    fn garbage_is_left_to_cfb() {
        check(&mut Cursor::new(vec![0u8; 100])).unwrap();
        check(&mut Cursor::new(vec![0xFFu8; 4096])).unwrap();
    }
}
