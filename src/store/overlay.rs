//! A file seen through the writes that are pending on it.
//!
//! An in-place edit must be checked before the patch on disk changes, and
//! must then change only the few sectors the edit touched. [`Overlay`]
//! makes both possible: `cfb` edits the patch through it as if it were the
//! file, but every write lands in memory (512-byte blocks, the smallest
//! compound-file sector, so that "block written" means "sector written"
//! for the layout check of [`crate::edit::verify`]); reads see those writes over
//! the unchanged file; the file itself is only ever read. Verification then
//! re-opens the result through [`Overlay::reader`], and the commit
//! ([`crate::store::journal`]) writes the dirty blocks, and only those, to the
//! file. An edit to a new output (`-o`) goes through an overlay of the
//! input too, is verified the same way, and [`Overlay::write_pending_to`]
//! then writes the blocks into a copy of the input: `cfb` rewrites the
//! same directory and FAT entries hundreds of thousands of times in a
//! large edit, a few bytes at a time, and the overlay turns those into a
//! few large writes.
//!
//! Memory stays bounded whatever the edit: past [`MEM_LIMIT`] bytes of
//! blocks, the least recently written go to an anonymous temporary file
//! (deleted by the system when it is closed, so a crash leaves nothing)
//! in the folder given to [`Overlay::new`], in batches, and are read back
//! from there in runs.
//!
//! The logical length is the file's length or the end of the furthest
//! write, whichever is larger; bytes past the file's end that no write
//! covered read as zeros, which is what extending the file gives.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Size of the blocks pending writes are kept in: the smallest sector size
/// of a compound file, so a block lies within one sector.
pub const BLOCK: u64 = BLOCK_LEN as u64;

const BLOCK_LEN: usize = 512;

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

/// A pending block: in memory, in the spill file, or both (a block read
/// back from the spill file keeps its place there).
struct Block {
    /// Its bytes, while it is in memory.
    mem: Option<Box<[u8; BLOCK_LEN]>>,
    /// Its place in the spill file (in blocks), once it has been evicted.
    /// Blocks are kept small: a thousand-instance edit has 15,000. A block
    /// is only brought into memory to be written, so `mem`, when present,
    /// is always newer than the spilled copy.
    spilled_at: Option<u32>,
    /// When it was last written: its entry in the eviction queue carries
    /// the same stamp, older entries for it are stale.
    stamp: u64,
}

/// Blocks written at once when memory is full: the least recently written
/// ones, so the blocks `cfb` keeps rewriting (FAT and directory sectors)
/// stay in memory, and new blocks reach the spill file in one write per
/// batch rather than one per block.
const EVICT_BATCH: usize = 64;

/// Pending writes over a file that is never written (see the module
/// documentation). `Read + Write + Seek` with its own position, for `cfb`.
pub struct Overlay<B: ReadAt> {
    base: B,
    base_len: u64,
    len: u64,
    pos: u64,
    blocks: BTreeMap<u64, Block>,
    /// Blocks in memory by when they were written, oldest first; entries
    /// whose stamp is no longer their block's are skipped.
    queue: VecDeque<(u64, u64)>,
    clock: u64,
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
            queue: VecDeque::new(),
            clock: 0,
            mem_bytes: 0,
            mem_limit: MEM_LIMIT,
            spill_dir,
            spill: None,
        }
    }

    /// Sets how many bytes of blocks stay in memory (tests use a small
    /// limit to exercise spilling).
    #[cfg(any(test, feature = "testkit"))]
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
    #[cfg(any(test, feature = "testkit"))]
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

    fn spill_file(&self) -> io::Result<&File> {
        self.spill
            .as_ref()
            .map(|(f, _)| f)
            .ok_or_else(|| io::Error::other("a spilled block without a spill file"))
    }

    /// Reads up to `buf.len()` bytes at `offset` of the logical file.
    /// Consecutive blocks that lie one after another in the spill file are
    /// read with one call, and runs the edit did not touch with one read of
    /// the file underneath.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.len - offset) as usize;
        let buf = &mut buf[..want];
        let mut done = 0usize;
        while done < want {
            let at = offset + done as u64;
            let index = at / BLOCK;
            let within = at % BLOCK;
            let left = (want - done) as u64;
            let n = match self.blocks.get(&index) {
                Some(Block {
                    mem: Some(data), ..
                }) => {
                    let n = (BLOCK - within).min(left) as usize;
                    let from = within as usize;
                    let src = data
                        .get(from..from + n)
                        .ok_or_else(|| io::Error::other("a pending block of the wrong size"))?;
                    buf[done..done + n].copy_from_slice(src);
                    n
                }
                Some(Block {
                    mem: None,
                    spilled_at: Some(first),
                    ..
                }) => {
                    let mut run_end = index + 1;
                    let end_wanted = at + left;
                    while run_end * BLOCK < end_wanted
                        && matches!(
                            self.blocks.get(&run_end),
                            Some(Block { mem: None, spilled_at: Some(s), .. })
                                if u64::from(*s) == u64::from(*first) + (run_end - index)
                        )
                    {
                        run_end += 1;
                    }
                    let n = (run_end * BLOCK - at).min(left) as usize;
                    read_full_at(
                        self.spill_file()?,
                        &mut buf[done..done + n],
                        u64::from(*first) * BLOCK + within,
                    )?;
                    n
                }
                Some(_) => return Err(io::Error::other("a pending block holds no bytes")),
                None => {
                    // A run of blocks without pending writes: one read of
                    // the base up to the next pending block.
                    let next = self
                        .blocks
                        .range(index..)
                        .next()
                        .map(|(i, _)| i * BLOCK)
                        .unwrap_or(u64::MAX);
                    let n = (next - at).min(left) as usize;
                    read_full_at_base(&self.base, self.base_len, &mut buf[done..done + n], at)?;
                    n
                }
            };
            done += n;
        }
        Ok(done)
    }

    /// Block `index` in memory, ready to be written: its current bytes
    /// unless `whole` (the caller overwrites all of them).
    fn resident(&mut self, index: u64, whole: bool) -> io::Result<&mut [u8]> {
        // The block written last, written again (`cfb` writes a directory
        // entry or a run of FAT entries a few bytes at a time): it is in
        // memory and already the newest in the queue, so nothing changes
        // for eviction.
        let newest = self.clock;
        let is_newest = |b: &Block| b.mem.is_some() && b.stamp == newest;
        if self.blocks.get(&index).is_some_and(is_newest) {
            return self
                .blocks
                .get_mut(&index)
                .and_then(|b| b.mem.as_deref_mut())
                .map(|b| &mut b[..])
                .ok_or_else(|| io::Error::other("a block in memory is not there"));
        }
        let loaded = match self.blocks.get(&index) {
            Some(Block { mem: Some(_), .. }) => None,
            Some(Block {
                spilled_at: Some(at),
                ..
            }) => {
                let mut data = Box::new([0u8; BLOCK_LEN]);
                if !whole {
                    read_full_at(self.spill_file()?, &mut data[..], u64::from(*at) * BLOCK)?;
                }
                Some(data)
            }
            Some(_) => return Err(io::Error::other("a pending block holds no bytes")),
            None => {
                let mut data = Box::new([0u8; BLOCK_LEN]);
                if !whole {
                    read_full_at_base(&self.base, self.base_len, &mut data[..], index * BLOCK)?;
                }
                Some(data)
            }
        };
        if loaded.is_some() {
            self.mem_bytes += BLOCK as usize;
        }
        self.clock += 1;
        let stamp = self.clock;
        let block = self.blocks.entry(index).or_insert(Block {
            mem: None,
            spilled_at: None,
            stamp,
        });
        if let Some(data) = loaded {
            block.mem = Some(data);
        }
        block.stamp = stamp;
        self.queue.push_back((index, stamp));
        if self.queue.len() > 2 * (self.mem_bytes / BLOCK as usize) + 2 * EVICT_BATCH {
            let blocks = &self.blocks;
            self.queue.retain(|(i, s)| {
                blocks
                    .get(i)
                    .is_some_and(|b| b.mem.is_some() && b.stamp == *s)
            });
        }
        self.blocks
            .get_mut(&index)
            .and_then(|b| b.mem.as_deref_mut())
            .map(|b| &mut b[..])
            .ok_or_else(|| io::Error::other("a block just loaded is not in memory"))
    }

    /// Moves the least recently written blocks to the spill file until
    /// memory is under the limit again by a batch ([`EVICT_BATCH`] blocks,
    /// or a quarter of the limit when that is smaller).
    fn evict(&mut self) -> io::Result<()> {
        if self.mem_bytes <= self.mem_limit {
            return Ok(());
        }
        let batch = (EVICT_BATCH * BLOCK as usize).min(self.mem_limit / 4);
        let target = self.mem_limit - batch;
        let mut victims = Vec::with_capacity(EVICT_BATCH);
        while self.mem_bytes > target {
            let Some((index, stamp)) = self.queue.pop_front() else {
                break;
            };
            if let Some(b) = self.blocks.get_mut(&index)
                && b.stamp == stamp
                && let Some(data) = b.mem.take()
            {
                self.mem_bytes -= BLOCK as usize;
                victims.push((index, data));
            }
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
        // Blocks new to the spill file go to its end in file order, one
        // after another, in one write (so that reading them back takes
        // one read per run); rewritten ones go back to their place.
        victims.sort_unstable_by_key(|(index, _)| *index);
        let mut appended = Vec::new();
        for (index, data) in victims {
            let Some(b) = self.blocks.get_mut(&index) else {
                continue;
            };
            match b.spilled_at {
                Some(at) => write_all_at(file, &data[..], u64::from(at) * BLOCK)?,
                None => {
                    let at = (*end + appended.len() as u64) / BLOCK;
                    b.spilled_at =
                        Some(u32::try_from(at).map_err(|_| {
                            io::Error::other("the edit's pending writes exceed 2 TiB")
                        })?);
                    appended.extend_from_slice(&data[..]);
                }
            }
        }
        write_all_at(file, &appended, *end)?;
        *end += appended.len() as u64;
        Ok(())
    }

    /// Writes `buf` at `offset` of the logical file.
    pub fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past 2^64"))?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = at / BLOCK;
            let within = (at % BLOCK) as usize;
            let n = (BLOCK as usize - within).min(buf.len() - done);
            let block = self.resident(index, n == BLOCK as usize)?;
            block[within..within + n].copy_from_slice(&buf[done..done + n]);
            self.evict()?;
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

impl<B: ReadAt> Overlay<B> {
    /// Writes the pending blocks into `file`, a copy of the file underneath
    /// (`-o` and the copy-and-rename path, where nothing needs a journal).
    /// The length is set first, then each run of blocks is written in
    /// pieces of at most 1 MiB.
    pub fn write_pending_to(&self, file: &File) -> io::Result<()> {
        if self.len != self.base_len {
            file.set_len(self.len)?;
        }
        let mut buf = Vec::new();
        for (start, end) in self.written() {
            let mut at = start;
            while at < end {
                let n = (end - at).min(1024 * 1024) as usize;
                buf.resize(n, 0);
                // Written blocks are read from memory or the spill file,
                // never from the file being written.
                if self.read_at(&mut buf, at)? != n {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                write_all_at(file, &buf, at)?;
                at += n as u64;
            }
        }
        Ok(())
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
    fn many_small_writes_under_a_small_limit_read_like_a_buffer() {
        // Small writes all over a file larger than the memory limit, the way
        // `cfb` updates FAT and directory entries: blocks are evicted,
        // reloaded, rewritten in place in the spill file and read back in
        // runs.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ops: Vec<(u64, Vec<u8>)> = (0..2_000)
            .map(|i| {
                let at = next() % 40_000;
                let len = [1, 4, 128, 512, 700, 4096][(next() % 6) as usize];
                (at, vec![(i % 251) as u8; len])
            })
            .collect();
        check_against_cursor(30_000, &ops, 4096);
    }

    #[test]
    fn blocks_written_often_stay_in_memory() {
        let mut ov = Overlay::new(vec![0u8; 4096], 4096, None).with_mem_limit(8 * BLOCK as usize);
        for i in 0..200u64 {
            // A hot block (a FAT sector, say) between new ones.
            ov.write_at(&[i as u8; 4], 0).unwrap();
            ov.write_at(&[1u8; BLOCK as usize], 4096 + i * BLOCK)
                .unwrap();
        }
        assert!(ov.blocks.get(&0).is_some_and(|b| b.mem.is_some()));
        assert!(ov.mem_bytes <= 8 * BLOCK as usize);
        assert!(ov.queue.len() <= 2 * 8 + 2 * EVICT_BATCH + 1);
        let mut first = [0u8; 4];
        ov.read_at(&mut first, 0).unwrap();
        assert_eq!(first, [199u8; 4]);
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
