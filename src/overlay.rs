//! A file seen through the writes that are pending on it.
//!
//! An in-place edit must be checked before the patch on disk changes, and
//! must then change only the few sectors the edit touched. [`Overlay`]
//! makes both possible: `cfb` edits the patch through it as if it were the
//! file, but every write lands in memory (512-byte blocks, the smallest
//! compound-file sector, so that "block written" means "sector written"
//! for the layout check of [`crate::verify`]); reads see those writes over
//! the unchanged file; the file itself is only ever read. Verification then
//! re-opens the result through [`Overlay::reader`], and the commit
//! ([`crate::journal`]) writes the dirty blocks, and only those, to the
//! file.
//!
//! Memory stays bounded whatever the edit: past [`MEM_LIMIT`] bytes of
//! blocks, further blocks go to an anonymous temporary file (deleted by the
//! system when it is closed, so a crash leaves nothing) in the folder given
//! to [`Overlay::new`].
//!
//! The logical length is the file's length or the end of the furthest
//! write, whichever is larger; bytes past the file's end that no write
//! covered read as zeros, which is what extending the file gives.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Size of the blocks pending writes are kept in: the smallest sector size
/// of a compound file, so a block lies within one sector.
pub const BLOCK: u64 = 512;

/// Bytes of pending blocks kept in memory before further blocks spill to a
/// temporary file: enough for an edit of a few dozen instances, small
/// beside the directory `cfb` keeps of a thousand-instance result.
pub const MEM_LIMIT: usize = 256 * 1024;

/// Positional reads, so that several readers share one file handle
/// without sharing a file position.
pub trait ReadAt {
    /// Reads up to `buf.len()` bytes at `offset`; 0 only at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        // Moves the handle's position, which nothing here relies on.
        std::os::windows::fs::FileExt::seek_read(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let src = self.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.as_slice().read_at(buf, offset)
    }
}

/// Writes all of `buf` at `offset` of `file`.
pub fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::write_at(file, buf, offset);
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset);
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = buf.get(n..).unwrap_or_default();
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills `buf` from `src` at `offset`; bytes past the end of `src` are
/// zeros.
fn read_full_at<R: ReadAt + ?Sized>(src: &R, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[done..].fill(0);
    Ok(())
}

/// Where a pending block is.
enum Slot {
    Mem(Box<[u8]>),
    Spilled(u64),
}

/// Pending writes over a file that is never written (see the module
/// documentation). `Read + Write + Seek` with its own position, for `cfb`.
pub struct Overlay<B: ReadAt> {
    base: B,
    base_len: u64,
    len: u64,
    pos: u64,
    blocks: BTreeMap<u64, Slot>,
    mem_bytes: usize,
    mem_limit: usize,
    spill_dir: Option<PathBuf>,
    spill: Option<(File, u64)>,
}

impl<B: ReadAt> std::fmt::Debug for Overlay<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("base_len", &self.base_len)
            .field("len", &self.len)
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl<B: ReadAt> Overlay<B> {
    /// An overlay on `base`, which is `base_len` bytes long. Blocks beyond
    /// the memory limit spill to a temporary file in `spill_dir` (the
    /// system's temporary folder when `None`).
    pub fn new(base: B, base_len: u64, spill_dir: Option<PathBuf>) -> Overlay<B> {
        Overlay {
            base,
            base_len,
            len: base_len,
            pos: 0,
            blocks: BTreeMap::new(),
            mem_bytes: 0,
            mem_limit: MEM_LIMIT,
            spill_dir,
            spill: None,
        }
    }

    /// Sets how many bytes of blocks stay in memory (tests use a small
    /// limit to exercise spilling).
    pub fn with_mem_limit(mut self, limit: usize) -> Overlay<B> {
        self.mem_limit = limit;
        self
    }

    /// The length of the file underneath.
    pub fn base_len(&self) -> u64 {
        self.base_len
    }

    /// The length the file will have once the writes are applied.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the logical file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file underneath.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// Bytes held in blocks (memory and spill file).
    pub fn pending_bytes(&self) -> u64 {
        self.blocks.len() as u64 * BLOCK
    }

    /// The byte ranges that differ from the file underneath or may differ
    /// (whole written blocks), sorted, merged and clipped to the logical
    /// length.
    pub fn written(&self) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &index in self.blocks.keys() {
            let start = index * BLOCK;
            let end = (start + BLOCK).min(self.len);
            if start >= end {
                continue;
            }
            match runs.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => runs.push((start, end)),
            }
        }
        runs
    }

    /// A reader with its own position that sees the same bytes.
    pub fn reader(&self) -> OverlayReader<'_, B> {
        OverlayReader { ov: self, pos: 0 }
    }

    fn block_from_slot(&self, slot: &Slot, out: &mut [u8]) -> io::Result<()> {
        match slot {
            Slot::Mem(data) => {
                out.copy_from_slice(data);
                Ok(())
            }
            Slot::Spilled(at) => {
                let (file, _) = self
                    .spill
                    .as_ref()
                    .ok_or_else(|| io::Error::other("spilled block without a spill file"))?;
                read_full_at(file, out, *at)
            }
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` of the logical file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.len - offset) as usize;
        let buf = &mut buf[..want];
        let mut done = 0usize;
        let mut block = vec![0u8; BLOCK as usize];
        while done < want {
            let at = offset + done as u64;
            let index = at / BLOCK;
            let within = (at % BLOCK) as usize;
            if let Some(slot) = self.blocks.get(&index) {
                self.block_from_slot(slot, &mut block)?;
                let n = (BLOCK as usize - within).min(want - done);
                buf[done..done + n].copy_from_slice(&block[within..within + n]);
                done += n;
                continue;
            }
            // A run of blocks without pending writes: one read of the base
            // up to the next pending block.
            let next = self
                .blocks
                .range(index..)
                .next()
                .map(|(i, _)| i * BLOCK)
                .unwrap_or(u64::MAX);
            let n = ((next - at).min((want - done) as u64)) as usize;
            read_full_at_base(&self.base, self.base_len, &mut buf[done..done + n], at)?;
            done += n;
        }
        Ok(done)
    }

    fn store(&mut self, index: u64, data: &[u8]) -> io::Result<()> {
        match self.blocks.get_mut(&index) {
            Some(Slot::Mem(b)) => {
                b.copy_from_slice(data);
                return Ok(());
            }
            Some(Slot::Spilled(at)) => {
                let at = *at;
                let (file, _) = self
                    .spill
                    .as_ref()
                    .ok_or_else(|| io::Error::other("spilled block without a spill file"))?;
                return write_all_at(file, data, at);
            }
            None => {}
        }
        if self.mem_bytes + data.len() <= self.mem_limit {
            self.mem_bytes += data.len();
            self.blocks.insert(index, Slot::Mem(data.into()));
            return Ok(());
        }
        if self.spill.is_none() {
            let file = match &self.spill_dir {
                Some(dir) => tempfile::tempfile_in(dir)?,
                None => tempfile::tempfile()?,
            };
            self.spill = Some((file, 0));
        }
        let (file, end) = self
            .spill
            .as_mut()
            .ok_or_else(|| io::Error::other("no spill file"))?;
        let at = *end;
        write_all_at(file, data, at)?;
        *end += data.len() as u64;
        self.blocks.insert(index, Slot::Spilled(at));
        Ok(())
    }

    /// Writes `buf` at `offset` of the logical file.
    pub fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past 2^64"))?;
        let mut block = vec![0u8; BLOCK as usize];
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = at / BLOCK;
            let within = (at % BLOCK) as usize;
            let n = (BLOCK as usize - within).min(buf.len() - done);
            if n < BLOCK as usize {
                // A partial block: start from what it holds now.
                match self.blocks.get(&index) {
                    Some(slot) => self.block_from_slot(slot, &mut block)?,
                    None => {
                        read_full_at_base(&self.base, self.base_len, &mut block, index * BLOCK)?
                    }
                }
            }
            block[within..within + n].copy_from_slice(&buf[done..done + n]);
            self.store(index, &block)?;
            done += n;
        }
        self.len = self.len.max(end);
        Ok(())
    }
}

/// Reads from the base, zeros past its length.
fn read_full_at_base<B: ReadAt + ?Sized>(
    base: &B,
    base_len: u64,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<()> {
    let inside = base_len.saturating_sub(offset).min(buf.len() as u64) as usize;
    read_full_at(base, &mut buf[..inside], offset)?;
    buf[inside..].fill(0);
    Ok(())
}

fn seek_to(pos: u64, len: u64, to: SeekFrom) -> io::Result<u64> {
    let target = match to {
        SeekFrom::Start(n) => Some(n),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
    };
    target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
}

impl<B: ReadAt> Read for Overlay<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B: ReadAt> Write for Overlay<B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<B: ReadAt> Seek for Overlay<B> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_to(self.pos, self.len, to)?;
        Ok(self.pos)
    }
}

/// A read-only view of an [`Overlay`] with its own position.
pub struct OverlayReader<'a, B: ReadAt> {
    ov: &'a Overlay<B>,
    pos: u64,
}

impl<B: ReadAt> Read for OverlayReader<'_, B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.ov.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B: ReadAt> Seek for OverlayReader<'_, B> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_to(self.pos, self.ov.len, to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Applies the same operations to an overlay and to a plain buffer and
    /// checks that both read the same, and that the base is untouched.
    fn check_against_cursor(base_len: usize, ops: &[(u64, Vec<u8>)], mem_limit: usize) {
        let base: Vec<u8> = (0..base_len).map(|i| (i * 7 % 251) as u8).collect();
        let mut ov = Overlay::new(base.clone(), base_len as u64, None).with_mem_limit(mem_limit);
        let mut plain = Cursor::new(base.clone());
        for (at, bytes) in ops {
            ov.seek(SeekFrom::Start(*at)).unwrap();
            ov.write_all(bytes).unwrap();
            plain.seek(SeekFrom::Start(*at)).unwrap();
            plain.write_all(bytes).unwrap();
        }
        let want = plain.into_inner();
        assert_eq!(ov.len(), want.len() as u64);
        let mut got = Vec::new();
        ov.rewind().unwrap();
        ov.read_to_end(&mut got).unwrap();
        assert_eq!(got, want);
        let mut got = Vec::new();
        ov.reader().read_to_end(&mut got).unwrap();
        assert_eq!(got, want);
        assert_eq!(ov.base(), &base, "the base was written");
        // Applying the written ranges to the base gives the result.
        let mut applied = base.clone();
        applied.resize(ov.len() as usize, 0);
        for (s, e) in ov.written() {
            let mut part = vec![0u8; (e - s) as usize];
            ov.read_at(&mut part, s).unwrap();
            applied[s as usize..e as usize].copy_from_slice(&part);
        }
        assert_eq!(applied, want);
    }

    #[test]
    fn reads_see_writes_and_the_base_is_never_written() {
        let ops = vec![
            (10, vec![1u8; 5]),
            (500, vec![2u8; 30]),
            (1024, vec![3u8; 512]),
            (3000, vec![4u8; 1]),
            (12, vec![5u8; 2000]),
        ];
        check_against_cursor(4096, &ops, MEM_LIMIT);
    }

    #[test]
    fn writes_past_the_end_grow_the_file_with_zeros_between() {
        let ops = vec![
            (5000, vec![9u8; 10]),
            (4090, vec![8u8; 3]),
            (9000, vec![7u8; 600]),
        ];
        check_against_cursor(4093, &ops, MEM_LIMIT);
    }

    #[test]
    fn spilled_blocks_read_and_rewrite_like_memory_ones() {
        let ops: Vec<(u64, Vec<u8>)> = (0..40)
            .map(|i| ((i * 733) % 20_000, vec![i as u8; 100 + i as usize * 13]))
            .chain([(100, vec![0xAA; 3000])])
            .collect();
        check_against_cursor(16_000, &ops, 2048);
    }

    #[test]
    fn written_ranges_merge_adjacent_blocks() {
        let mut ov = Overlay::new(vec![0u8; 4096], 4096, None);
        ov.write_at(&[1], 0).unwrap();
        ov.write_at(&[1], 600).unwrap();
        ov.write_at(&[1], 2000).unwrap();
        assert_eq!(ov.written(), vec![(0, 1024), (1536, 2048)]);
        assert_eq!(ov.pending_bytes(), 3 * BLOCK);
    }

    #[test]
    fn seeking_before_the_start_is_an_error() {
        let mut ov = Overlay::new(vec![0u8; 10], 10, None);
        assert!(ov.seek(SeekFrom::Current(-1)).is_err());
        assert_eq!(ov.seek(SeekFrom::End(-2)).unwrap(), 8);
    }
}
