//! Gives back the MiniFAT sectors an edit by `cfb` left unused.
//!
//! `cfb` 0.16 adds a sector to the MiniFAT chain whenever the mini stream
//! grows from a multiple of 128 mini sectors (with 512-byte sectors; 1,024
//! with 4,096-byte ones), without looking whether the chain already has a
//! sector for the new entries; and removing streams shrinks the mini
//! stream but never the chain. So every retarget that followed an untarget
//! of the same size added a MiniFAT sector for good: ten cycles on a real
//! patch grew its MiniFAT from 3 to 12 sectors. Nothing on our side can
//! avoid the growth (the mini stream's length at the start of an edit is
//! the file's), so after each edit the chain is cut back to the sectors
//! the mini stream needs, and the rest are marked free in the FAT, where
//! the next allocation reuses them: the file stays the size the first
//! cycle made it.
//!
//! Hand-written on the raw structure ([MS-CFB] 2.2 header, 2.3 FAT, 2.5
//! DIFAT, 2.6.2 root entry) because `cfb` exposes no chains. It runs on
//! the file `cfb` has just written and verification re-reads, and it
//! changes nothing unless every field it follows is in range.
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

use std::io::{self, Read, Seek, SeekFrom, Write};

const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const FREE_SECTOR: u32 = 0xFFFF_FFFF;
const HEADER_DIFAT_ENTRIES: u64 = 109;
const MINI_SECTOR_LEN: u64 = 64;

struct Raw<'a, F: ?Sized> {
    file: &'a mut F,
    sector_len: u64,
    num_sectors: u64,
    header: [u8; 512],
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<F: Read + Write + Seek + ?Sized> Raw<'_, F> {
    fn offset(&self, sector: u32, within: u64) -> Option<u64> {
        (u64::from(sector) < self.num_sectors)
            .then(|| (u64::from(sector) + 1) * self.sector_len + within)
    }

    fn read_u32(&mut self, sector: u32, within: u64) -> io::Result<Option<u32>> {
        let Some(at) = self.offset(sector, within) else {
            return Ok(None);
        };
        let mut b = [0u8; 4];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut b)?;
        Ok(Some(u32::from_le_bytes(b)))
    }

    fn write_u32_at(&mut self, at: u64, value: u32) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(&value.to_le_bytes())
    }

    /// The file offset of `sector`'s FAT entry.
    fn fat_entry_at(&mut self, sector: u32) -> io::Result<Option<u64>> {
        let per = self.sector_len / 4;
        let index = u64::from(sector) / per;
        let num_fat = u64::from(u32_at(&self.header, 0x2C).unwrap_or(0));
        if index >= num_fat {
            return Ok(None);
        }
        let fat_sector = if index < HEADER_DIFAT_ENTRIES {
            u32_at(&self.header, 0x4C + 4 * index as usize)
        } else {
            // Follow the DIFAT chain to the sector holding this entry.
            let rest = index - HEADER_DIFAT_ENTRIES;
            let mut difat = u32_at(&self.header, 0x44).unwrap_or(END_OF_CHAIN);
            for _ in 0..rest / (per - 1) {
                match self.read_u32(difat, (per - 1) * 4)? {
                    Some(next) => difat = next,
                    None => return Ok(None),
                }
            }
            self.read_u32(difat, (rest % (per - 1)) * 4)?
        };
        Ok(fat_sector.and_then(|s| self.offset(s, (u64::from(sector) % per) * 4)))
    }
}

/// Cuts the MiniFAT chain of the compound file in `file` back to the
/// sectors its mini stream needs, marking the others free. Returns how
/// many sectors were freed.
pub fn trim<F: Read + Write + Seek + ?Sized>(file: &mut F) -> io::Result<u32> {
    let file_len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 512];
    file.read_exact(&mut header)?;
    let shift = u16::from_le_bytes([header[0x1E], header[0x1F]]);
    if shift != 9 && shift != 12 {
        return Ok(0);
    }
    let sector_len = 1u64 << shift;
    let mut raw = Raw {
        file,
        sector_len,
        num_sectors: file_len.div_ceil(sector_len).saturating_sub(1),
        header,
    };
    let field = |at| u32_at(&header, at).unwrap_or(END_OF_CHAIN);
    let first_minifat = field(0x3C);
    if first_minifat > MAX_REGULAR_SECTOR {
        return Ok(0);
    }
    // The root entry is the first of the directory's first sector.
    let Some(lo) = raw.read_u32(field(0x30), 0x78)? else {
        return Ok(0);
    };
    let hi = raw.read_u32(field(0x30), 0x7C)?.unwrap_or(0);
    let root_len = if shift == 9 {
        u64::from(lo)
    } else {
        u64::from(lo) | (u64::from(hi) << 32)
    };
    let entries_per_sector = sector_len / 4;
    let needed = (root_len / MINI_SECTOR_LEN).div_ceil(entries_per_sector);

    let mut chain: Vec<(u32, u64)> = Vec::new();
    let mut s = first_minifat;
    while s <= MAX_REGULAR_SECTOR {
        if chain.len() as u64 >= raw.num_sectors {
            return Ok(0); // a loop: leave the file alone
        }
        let Some(at) = raw.fat_entry_at(s)? else {
            return Ok(0);
        };
        chain.push((s, at));
        raw.file.seek(SeekFrom::Start(at))?;
        let mut b = [0u8; 4];
        raw.file.read_exact(&mut b)?;
        s = u32::from_le_bytes(b);
    }
    if s != END_OF_CHAIN || chain.len() as u64 <= needed {
        return Ok(0);
    }
    let keep = needed as usize;
    match keep.checked_sub(1).and_then(|last| chain.get(last)) {
        Some(&(_, at)) => raw.write_u32_at(at, END_OF_CHAIN)?,
        None => raw.write_u32_at(0x3C, END_OF_CHAIN)?,
    }
    let freed = chain.get(keep..).unwrap_or_default();
    for &(_, at) in freed {
        raw.write_u32_at(at, FREE_SECTOR)?;
    }
    raw.write_u32_at(0x40, keep as u32)?;
    raw.file.flush()?;
    Ok(freed.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A v3 file with `n` small streams, then all but the first removed:
    /// the MiniFAT chain keeps the sectors the removed streams needed.
    fn shrunk(n: usize) -> Vec<u8> {
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                .unwrap();
        for k in 0..n {
            cf.create_stream(format!("/s{k}"))
                .unwrap()
                .write_all(&[k as u8; 640])
                .unwrap();
        }
        for k in 1..n {
            cf.remove_stream(format!("/s{k}")).unwrap();
        }
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    #[test]
    fn unused_minifat_sectors_are_freed_and_the_file_still_reads() {
        let bytes = shrunk(40); // 400 mini sectors: 4 MiniFAT sectors
        assert_eq!(u32_at(&bytes, 0x40), Some(4));
        let mut file = Cursor::new(bytes);
        assert_eq!(trim(&mut file).unwrap(), 3);
        assert_eq!(trim(&mut file).unwrap(), 0, "a second trim finds nothing");
        let bytes = file.into_inner();
        assert_eq!(u32_at(&bytes, 0x40), Some(1));
        let mut cf = cfb::CompoundFile::open_strict(Cursor::new(bytes)).unwrap();
        let mut data = Vec::new();
        cf.open_stream("/s0")
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(data, vec![0u8; 640]);
        // Space freed is reused: adding the streams back does not grow the
        // MiniFAT past what they need.
        for k in 1..40 {
            cf.create_stream(format!("/s{k}"))
                .unwrap()
                .write_all(&[1u8; 640])
                .unwrap();
        }
        cf.flush().unwrap();
        assert_eq!(u32_at(cf.into_inner().get_ref(), 0x40), Some(4));
    }

    #[test]
    fn garbage_is_left_alone() {
        let mut file = Cursor::new(vec![0u8; 600]);
        assert_eq!(trim(&mut file).unwrap(), 0);
        assert_eq!(file.into_inner(), vec![0u8; 600]);
    }
}
