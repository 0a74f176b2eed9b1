//! The physical layout of a compound file: which byte ranges of the file
//! hold each stream, and which byte ranges an edit wrote.
//!
//! Verification uses it to vouch for large streams without reading them:
//! the output starts as an exact copy of the input, so a stream whose
//! directory entry and sector chain are the same in both files, and none of
//! whose sectors were written by the edit, holds the same bytes. That turns
//! a gigabyte comparison into a walk over a few megabytes of allocation
//! tables. Small streams are still compared byte for byte.
//!
//! Not even that walk is needed when the input's structure check found the
//! stream's chain intact and shared with no other chain
//! (`crate::format::structure::Chains`): the sectors the edit wrote and the
//! FAT entries it changed (found from the few FAT sectors it wrote,
//! [`Layout::touched_sectors`]) then only have to lie outside every large
//! chain ([`Layout::outside_large_chains`]), which the other chains of the
//! file tell. A gigabyte cabinet is vouched for by reading a few kilobytes.
//!
//! Hand-written because the `cfb` crate does not expose sector chains,
//! start sectors or the writes it makes. Only what this needs is read
//! ([MS-CFB] 2.2 header, 2.3 FAT, 2.5 DIFAT, 2.6 directory entries), and
//! every id and count read from the file is checked before use, so a
//! malformed file gives an error, never a panic, a loop or a large
//! allocation.
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::format::structure::LARGE_STREAM_LEN;

const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const NO_STREAM: u32 = 0xFFFF_FFFF;
const HEADER_DIFAT_ENTRIES: usize = 109;
const DIR_ENTRY_LEN: usize = 128;

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn u16_at(b: &[u8], at: usize) -> io::Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("short read"))
}

fn u32_at(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| bad("short read"))
}

fn u64_at(b: &[u8], at: usize) -> io::Result<u64> {
    let lo = u64::from(u32_at(b, at)?);
    let hi = u64::from(u32_at(b, at + 4)?);
    Ok(lo | (hi << 32))
}

/// Where a stream's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPlace {
    /// First sector of its chain.
    pub start: u32,
    /// Its length in bytes.
    pub len: u64,
    /// Whether it lives in the mini stream (short streams).
    pub mini: bool,
}

/// The allocation tables and directory of one compound file.
#[derive(Debug)]
pub struct Layout {
    sector_len: u64,
    num_sectors: u64,
    /// Sectors as the structure check counts them (a partial last sector
    /// counts): no chain it followed reaches this far.
    chain_limit: u64,
    fat_sectors: Vec<u32>,
    difat_sectors: Vec<u32>,
    /// First sectors of the chains other than large streams' that the
    /// structure check follows: the directory, the MiniFAT, the mini
    /// stream, and the streams in regular sectors shorter than
    /// [`LARGE_STREAM_LEN`].
    other_chains: Vec<u32>,
    /// Stream paths (as `cfb` spells them, with a leading `/`) to places.
    pub streams: HashMap<PathBuf, StreamPlace>,
}

/// Reads sector-sized blocks of a file, caching the last FAT sector read
/// (chains of large streams walk the FAT sequentially).
struct Sectors<'a, F> {
    file: &'a mut F,
    sector_len: u64,
    cache: Option<(u32, Vec<u8>)>,
}

impl<F: Read + Seek> Sectors<'_, F> {
    fn read(&mut self, sector: u32) -> io::Result<Vec<u8>> {
        let offset = (u64::from(sector) + 1)
            .checked_mul(self.sector_len)
            .ok_or_else(|| bad("sector offset overflows"))?;
        self.file.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; self.sector_len as usize];
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn fat_entry(&mut self, fat_sectors: &[u32], sector: u32) -> io::Result<u32> {
        let per = self.sector_len / 4;
        let index = u64::from(sector) / per;
        let fat_sector = *fat_sectors
            .get(index as usize)
            .ok_or_else(|| bad(format!("sector {sector} is beyond the FAT")))?;
        let hit = matches!(&self.cache, Some((s, _)) if *s == fat_sector);
        if !hit {
            let data = self.read(fat_sector)?;
            self.cache = Some((fat_sector, data));
        }
        let data = self
            .cache
            .as_ref()
            .map(|(_, d)| d.as_slice())
            .unwrap_or(&[]);
        u32_at(data, ((u64::from(sector) % per) * 4) as usize)
    }
}

/// What the layout needs of one directory entry.
#[derive(Debug)]
struct Node {
    /// 1 storage, 2 stream, 5 root; anything else is skipped.
    kind: u8,
    left: u32,
    right: u32,
    child: u32,
    start: u32,
    len: u64,
    /// Only for storages and for streams of at least the wanted length.
    name: Option<Box<str>>,
}

impl Node {
    /// `len_mask` keeps the low 32 bits of the length in a version-3 file,
    /// whose high bits readers ignore ([MS-CFB] 2.6.3).
    fn parse(e: &[u8], min_len: u64, len_mask: u64) -> io::Result<Node> {
        let kind = e.get(0x42).copied().unwrap_or(0);
        let len = u64_at(e, 0x78)? & len_mask;
        let named = kind == 1 || (kind == 2 && len >= min_len);
        let name = if named {
            let name_len = (u16_at(e, 0x40)? as usize).min(64);
            let units: Vec<u16> = (0..name_len.saturating_sub(2) / 2)
                .map(|k| u16_at(e, 2 * k))
                .collect::<io::Result<_>>()?;
            Some(String::from_utf16_lossy(&units).into_boxed_str())
        } else {
            None
        };
        Ok(Node {
            kind,
            left: u32_at(e, 0x44)?,
            right: u32_at(e, 0x48)?,
            child: u32_at(e, 0x4C)?,
            start: u32_at(e, 0x74)?,
            len,
            name,
        })
    }
}

impl Layout {
    /// Reads the header, the FAT sector list and the directory of `file`.
    #[cfg(any(test, feature = "testkit"))]
    pub fn read<F: Read + Seek>(file: &mut F) -> io::Result<Layout> {
        Layout::read_streams_from(file, 0)
    }

    /// [`Layout::read`], listing only streams of at least `min_len` bytes:
    /// verification vouches only for large streams, and a result with a
    /// thousand instances has tens of thousands of small ones.
    pub fn read_streams_from<F: Read + Seek>(file: &mut F, min_len: u64) -> io::Result<Layout> {
        let file_len = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; 512];
        file.read_exact(&mut header)?;
        let shift = u16_at(&header, 0x1E)?;
        if shift != 9 && shift != 12 {
            return Err(bad(format!("sector shift {shift} is neither 9 nor 12")));
        }
        let sector_len = 1u64 << shift;
        let len_mask = if shift == 9 { 0xFFFF_FFFF } else { u64::MAX };
        let num_sectors = file_len.saturating_sub(sector_len) / sector_len;
        let num_fat = u64::from(u32_at(&header, 0x2C)?);
        if num_fat > num_sectors {
            return Err(bad("more FAT sectors than sectors"));
        }
        let first_dir = u32_at(&header, 0x30)?;
        let mut first_difat = u32_at(&header, 0x44)?;
        let mut fat_sectors: Vec<u32> = Vec::with_capacity(num_fat as usize);
        for i in 0..HEADER_DIFAT_ENTRIES {
            if fat_sectors.len() as u64 >= num_fat {
                break;
            }
            fat_sectors.push(u32_at(&header, 0x4C + 4 * i)?);
        }
        let mut sectors = Sectors {
            file,
            sector_len,
            cache: None,
        };
        let mut difat_sectors = Vec::new();
        while (fat_sectors.len() as u64) < num_fat && first_difat <= MAX_REGULAR_SECTOR {
            if difat_sectors.len() as u64 >= num_sectors {
                return Err(bad("the DIFAT chain loops"));
            }
            difat_sectors.push(first_difat);
            let data = sectors.read(first_difat)?;
            let per = (sector_len / 4 - 1) as usize;
            for i in 0..per {
                if fat_sectors.len() as u64 >= num_fat {
                    break;
                }
                fat_sectors.push(u32_at(&data, 4 * i)?);
            }
            first_difat = u32_at(&data, 4 * per)?;
        }
        if (fat_sectors.len() as u64) < num_fat {
            return Err(bad(
                "the DIFAT lists fewer FAT sectors than the header says",
            ));
        }
        if let Some(s) = fat_sectors.iter().find(|s| u64::from(**s) >= num_sectors) {
            return Err(bad(format!("FAT sector {s} is beyond the end of the file")));
        }

        let mut layout = Layout {
            sector_len,
            num_sectors,
            chain_limit: file_len.div_ceil(sector_len).saturating_sub(1),
            fat_sectors,
            difat_sectors,
            other_chains: vec![first_dir, u32_at(&header, 0x3C)?],
            streams: HashMap::new(),
        };
        let cutoff = u64::from(u32_at(&header, 0x38)?);
        // The directory: a chain of sectors holding 128-byte entries, kept
        // as compact nodes (a thousand-instance result has 36,000 entries:
        // 4.6 MB raw), with names only where a path needs them.
        let mut dir: Vec<Node> = Vec::new();
        let mut steps = 0u64;
        let mut sector = first_dir;
        let mut sectors = Sectors {
            file: sectors.file,
            sector_len,
            cache: None,
        };
        while sector != END_OF_CHAIN {
            steps += 1;
            if steps > num_sectors || u64::from(sector) >= num_sectors {
                return Err(bad("the directory chain loops or leaves the file"));
            }
            for raw in sectors.read(sector)?.chunks_exact(DIR_ENTRY_LEN) {
                dir.push(Node::parse(raw, min_len, len_mask)?);
            }
            sector = sectors.fat_entry(&layout.fat_sectors, sector)?;
        }
        layout.index_directory(&dir, cutoff, file_len)?;
        Ok(layout)
    }

    fn index_directory(&mut self, dir: &[Node], cutoff: u64, file_len: u64) -> io::Result<()> {
        let entry = |i: u32| -> io::Result<&Node> {
            dir.get(i as usize)
                .ok_or_else(|| bad(format!("directory entry {i} is out of range")))
        };
        // Depth-first over the sibling trees; every entry is visited at
        // most once, which bounds the walk and breaks cycles.
        let mut seen = vec![false; dir.len()];
        let root = entry(0)?;
        if root.len > 0 {
            self.other_chains.push(root.start);
        }
        let root_child = root.child;
        let mut stack: Vec<(u32, PathBuf)> = vec![(root_child, PathBuf::from("/"))];
        while let Some((id, parent)) = stack.pop() {
            if id == NO_STREAM {
                continue;
            }
            let slot = seen
                .get_mut(id as usize)
                .ok_or_else(|| bad(format!("directory entry {id} is out of range")))?;
            if *slot {
                return Err(bad("the directory tree has a cycle"));
            }
            *slot = true;
            let e = entry(id)?;
            stack.push((e.left, parent.clone()));
            stack.push((e.right, parent.clone()));
            // The streams in regular sectors whose chains the structure
            // check claims (in the same words as it does).
            if e.kind == 2
                && e.len > 0
                && e.len <= file_len
                && e.len >= cutoff
                && e.len < LARGE_STREAM_LEN
            {
                self.other_chains.push(e.start);
            }
            match (e.kind, &e.name) {
                (1, Some(name)) => stack.push((e.child, parent.join(&**name))),
                // Streams carry a name only when long enough to list.
                (2, Some(name)) => {
                    let place = StreamPlace {
                        start: e.start,
                        len: e.len,
                        mini: e.len < cutoff,
                    };
                    self.streams.insert(parent.join(&**name), place);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Calls `f(sector, file offset, next sector)` for each sector of a
    /// regular (non-mini) stream's chain, in order, until `f` returns
    /// false. Returns whether the whole chain was visited and ended where
    /// the stream does.
    pub fn walk_chain<F: Read + Seek>(
        &self,
        file: &mut F,
        place: StreamPlace,
        mut f: impl FnMut(u32, u64, u32) -> bool,
    ) -> io::Result<bool> {
        if place.mini {
            return Err(bad("a mini stream has no regular chain"));
        }
        let needed = place.len.div_ceil(self.sector_len);
        if needed > self.num_sectors {
            return Err(bad("the stream is longer than the file"));
        }
        let mut sectors = Sectors {
            file,
            sector_len: self.sector_len,
            cache: None,
        };
        let mut sector = place.start;
        for _ in 0..needed {
            if u64::from(sector) >= self.num_sectors {
                return Err(bad(format!(
                    "sector {sector} is beyond the end of the file"
                )));
            }
            let offset = (u64::from(sector) + 1) * self.sector_len;
            let next = sectors.fat_entry(&self.fat_sectors, sector)?;
            if !f(sector, offset, next) {
                return Ok(false);
            }
            sector = next;
        }
        // A chain longer than its stream is not what a well-formed stream
        // has; the caller then compares bytes instead.
        Ok(sector == END_OF_CHAIN)
    }

    /// The sectors that an edit may have changed in `output`, a file that
    /// started as an exact copy of this one (`input`) and on which only the
    /// byte ranges `written` (sorted, merged) changed: the sectors those
    /// ranges lie in, and the sectors whose FAT entry differs between the
    /// two files. Only the FAT sectors that moved or were written are read,
    /// so the cost follows the edit, not the file. `None` when that cannot
    /// be told so (the output is shorter, or its FAT covers less).
    pub fn touched_sectors<F: Read + Seek, G: Read + Seek>(
        &self,
        in_file: &mut F,
        output: &Layout,
        out_file: &mut G,
        written: &[(u64, u64)],
    ) -> io::Result<Option<Vec<u32>>> {
        let sl = self.sector_len;
        if output.sector_len != sl
            || output.num_sectors < self.num_sectors
            || output.fat_sectors.len() < self.fat_sectors.len()
        {
            return Ok(None);
        }
        let mut touched: Vec<u32> = Vec::new();
        for &(start, end) in written {
            if end <= sl {
                continue; // the header
            }
            let first = start.max(sl) / sl - 1;
            let last = (end - 1) / sl - 1;
            if last > output.chain_limit {
                return Ok(None); // not a range of the output
            }
            touched.extend((first..=last).filter_map(|s| u32::try_from(s).ok()));
        }
        let per = (sl / 4) as usize;
        let mut ins = Sectors {
            file: in_file,
            sector_len: sl,
            cache: None,
        };
        let mut outs = Sectors {
            file: out_file,
            sector_len: sl,
            cache: None,
        };
        for (k, (&a, &b)) in self.fat_sectors.iter().zip(&output.fat_sectors).enumerate() {
            let at = (u64::from(b) + 1) * sl;
            if a == b && !overlaps(written, at, at + sl) {
                continue; // the same bytes in both files
            }
            let (old, new) = (ins.read(a)?, outs.read(b)?);
            for i in 0..per {
                if old.get(4 * i..4 * i + 4) != new.get(4 * i..4 * i + 4)
                    && let Ok(s) = u32::try_from(k * per + i)
                {
                    touched.push(s);
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        Ok(Some(touched))
    }

    /// Whether none of `sectors` (sorted) can lie in the chain of a large
    /// stream that the structure check found intact ([`Chains`]): each is
    /// past the sectors it followed, or its FAT entry is neither a sector
    /// nor the end of a chain (every sector of an intact chain has one of
    /// those), or it lies in one of the other chains the check followed
    /// (which share no sector with an intact one). Reads the FAT sectors of
    /// those sectors and of the other chains (the directory, the MiniFAT,
    /// the mini stream, the short streams): what an edit reads anyway, not
    /// the large streams' chains. Only meaningful for a file that passed
    /// the structure check; any doubt answers false.
    ///
    /// [`Chains`]: crate::format::structure::Chains
    pub fn outside_large_chains<F: Read + Seek>(
        &self,
        file: &mut F,
        sectors: &[u32],
    ) -> io::Result<bool> {
        let mut fat = Sectors {
            file,
            sector_len: self.sector_len,
            cache: None,
        };
        let mut others: Option<HashSet<u32>> = None;
        for &t in sectors {
            if u64::from(t) >= self.chain_limit {
                continue;
            }
            let Ok(next) = fat.fat_entry(&self.fat_sectors, t) else {
                continue; // past the FAT: in no chain
            };
            if next > MAX_REGULAR_SECTOR && next != END_OF_CHAIN {
                continue;
            }
            let others = match &mut others {
                Some(o) => o,
                None => others.insert(self.other_chain_sectors(&mut fat)?),
            };
            if !others.contains(&t) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every sector of the chains in `other_chains`, and the FAT and DIFAT
    /// sectors, followed as the structure check follows them; a sector seen
    /// twice ends its chain (in a file that passed the check, only a chain
    /// running into itself does that), so each is read once.
    fn other_chain_sectors<F: Read + Seek>(
        &self,
        fat: &mut Sectors<'_, F>,
    ) -> io::Result<HashSet<u32>> {
        let mut seen: HashSet<u32> = self
            .fat_sectors
            .iter()
            .chain(&self.difat_sectors)
            .copied()
            .collect();
        let per = self.sector_len / 4;
        let covered = (self.fat_sectors.len() as u64 * per).min(self.chain_limit);
        for &start in &self.other_chains {
            let mut s = start;
            while s <= MAX_REGULAR_SECTOR && u64::from(s) < covered && seen.insert(s) {
                s = fat.fat_entry(&self.fat_sectors, s)?;
            }
        }
        Ok(seen)
    }

    /// The FAT entry of `sector` (the next sector of its chain).
    pub fn next_sector<F: Read + Seek>(&self, file: &mut F, sector: u32) -> io::Result<u32> {
        let mut sectors = Sectors {
            file,
            sector_len: self.sector_len,
            cache: None,
        };
        sectors.fat_entry(&self.fat_sectors, sector)
    }

    /// The file byte range of the FAT sector that holds `sector`'s entry.
    pub fn fat_range_of(&self, sector: u32) -> Option<(u64, u64)> {
        let per = self.sector_len / 4;
        let fat = *self.fat_sectors.get((u64::from(sector) / per) as usize)?;
        let start = (u64::from(fat) + 1) * self.sector_len;
        Some((start, start + self.sector_len))
    }

    /// The sector size.
    pub fn sector_len(&self) -> u64 {
        self.sector_len
    }
}

/// Whether `[start, end)` overlaps any of the sorted, merged `ranges`.
pub fn overlaps(ranges: &[(u64, u64)], start: u64, end: u64) -> bool {
    let i = ranges.partition_point(|r| r.1 <= start);
    ranges.get(i).is_some_and(|r| r.0 < end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    #[test]
    fn overlap_finds_the_ranges_a_span_touches() {
        let ranges = [(10, 20), (50, 52)];
        assert!(overlaps(&ranges, 0, 11));
        assert!(!overlaps(&ranges, 20, 50));
        assert!(overlaps(&ranges, 51, 60));
        assert!(!overlaps(&ranges, 52, 100));
    }

    #[test]
    fn layout_finds_chains_of_streams_written_by_cfb() {
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.create_storage("/s").unwrap();
        cf.create_stream("/s/big")
            .unwrap()
            .write_all(&vec![7u8; 100_000])
            .unwrap();
        cf.create_stream("/small")
            .unwrap()
            .write_all(b"tiny")
            .unwrap();
        let mut file = cf.into_inner();
        let layout = Layout::read(&mut file).unwrap();
        let big = layout.streams[&PathBuf::from("/s/big")];
        assert_eq!(big.len, 100_000);
        assert!(!big.mini);
        assert!(layout.streams[&PathBuf::from("/small")].mini);
        let mut count = 0u64;
        let bytes = file.get_ref().clone();
        let complete = layout
            .walk_chain(&mut file, big, |_, offset, _| {
                // Every sector of the chain holds the stream's bytes.
                let at = offset as usize;
                count += 1;
                bytes.get(at..at + 4) == Some(&[7u8; 4][..])
            })
            .unwrap();
        assert!(complete);
        assert_eq!(count, 100_000u64.div_ceil(layout.sector_len()));
    }

    #[test]
    fn malformed_layouts_are_errors() {
        assert!(Layout::read(&mut Cursor::new(vec![0u8; 100])).is_err());
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.create_stream("/a")
            .unwrap()
            .write_all(&[1u8; 10_000])
            .unwrap();
        let mut bytes = cf.into_inner().into_inner();
        bytes[0x1E] = 7; // sector shift
        assert!(Layout::read(&mut Cursor::new(bytes.clone())).is_err());
        bytes[0x1E] = 9;
        bytes[0x2C..0x30].copy_from_slice(&u32::MAX.to_le_bytes()); // FAT count
        assert!(Layout::read(&mut Cursor::new(bytes)).is_err());
    }
}
