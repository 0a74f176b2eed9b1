//! Bytes past the sectors the FAT can describe.
//!
//! A compound file's FAT has an entry for each sector it can address:
//! `FAT sectors × entries per sector`. A file may be longer than that
//! (a valid patch followed by 64 KiB of zeros is read by every reader,
//! which ignores the rest): those trailing bytes are no sectors of the
//! file. The `cfb` crate counts them as free sectors all the same, and the
//! first sector it allocates there has no FAT sector to record it in: it
//! panicked mid-edit ("index out of bounds").
//!
//! An edit therefore shows `cfb` the file only up to the end of what the
//! FAT can describe ([`Clipped`]), and afterwards puts the trailing bytes
//! back, byte for byte, after the edited compound file (which may have
//! grown over the place they were in). Reading needs none of this: `cfb`
//! reads only sectors that chains lead to.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::store::overlay::{Overlay, ReadAt};

/// Where the sectors the FAT can describe end, in bytes from the start of
/// the file, when the file is longer than that; `None` when it is not (or
/// the header is not one this can read, which `cfb` then reports).
pub fn trailing_from<F: Read + Seek>(file: &mut F) -> io::Result<Option<u64>> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 0x30];
    if file.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let shift = u16::from_le_bytes([header[0x1E], header[0x1F]]);
    if shift != 9 && shift != 12 {
        return Ok(None);
    }
    let sector_len = 1u64 << shift;
    let num_fat = u64::from(u32::from_le_bytes([
        header[0x2C],
        header[0x2D],
        header[0x2E],
        header[0x2F],
    ]));
    // The header occupies the place of sector -1.
    let end = num_fat
        .saturating_mul(sector_len / 4)
        .saturating_add(1)
        .saturating_mul(sector_len);
    Ok((num_fat > 0 && end < len).then_some(end))
}

/// A view of a file that ends at `len` for seeks from the end, and grows
/// with the writes past it: what `cfb` takes the file's length from.
pub struct Clipped<F> {
    inner: F,
    len: u64,
    pos: u64,
}

impl<F: Seek> Clipped<F> {
    /// `inner`, seen as `len` bytes long.
    pub fn new(inner: F, len: u64) -> Clipped<F> {
        Clipped { inner, len, pos: 0 }
    }

    /// The length of the view: its initial length or the end of the
    /// furthest write.
    pub fn len(&self) -> u64 {
        self.len
    }
}

impl<F: Read + Seek> Read for Clipped<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<F: Write + Seek> Write for Clipped<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<F: Seek> Seek for Clipped<F> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.pos = self.inner.seek(SeekFrom::Start(target))?;
        Ok(self.pos)
    }
}

/// Runs `edit` on `overlay` seen up to `from` (what
/// [`trailing_from`] found), then writes the bytes of the file underneath
/// from `from` on after the end of the edited compound file.
pub fn edit_keeping_tail<B: ReadAt, T>(
    overlay: &mut Overlay<B>,
    from: u64,
    edit: impl FnOnce(&mut Clipped<&mut Overlay<B>>) -> Result<T>,
) -> Result<T> {
    let base_len = overlay.base_len();
    let mut view = Clipped::new(&mut *overlay, from);
    let done = edit(&mut view)?;
    let end = view.len();
    if end != from {
        // The trailing bytes are read from the file underneath, which the
        // overlay never writes, and moved to the new end.
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = from;
        while at < base_len {
            let n = (base_len - at).min(buf.len() as u64) as usize;
            let moving = |e| Error::io("moving the bytes past the last sector", e);
            let got = overlay.base().read_at(&mut buf[..n], at).map_err(moving)?;
            if got == 0 {
                return Err(moving(io::ErrorKind::UnexpectedEof.into()));
            }
            overlay
                .write_at(&buf[..got], end + (at - from))
                .map_err(moving)?;
            at += got as u64;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn clipped_reports_its_length_and_grows_with_writes() {
        let mut v = Clipped::new(Cursor::new(vec![1u8; 100]), 40);
        assert_eq!(v.seek(SeekFrom::End(0)).unwrap(), 40);
        let mut buf = [0u8; 10];
        v.seek(SeekFrom::Start(35)).unwrap();
        assert_eq!(v.read(&mut buf).unwrap(), 5);
        v.seek(SeekFrom::Start(60)).unwrap();
        v.write_all(&[2u8; 8]).unwrap();
        assert_eq!(v.len(), 68);
        assert_eq!(v.seek(SeekFrom::End(-1)).unwrap(), 67);
    }

    #[test]
    fn the_tail_moves_behind_what_the_edit_wrote() {
        let mut base = vec![0u8; 1000];
        base[900..].copy_from_slice(&[7u8; 100]);
        let mut ov = Overlay::new(base, 1000, None);
        edit_keeping_tail(&mut ov, 900, |v| {
            assert_eq!(v.seek(SeekFrom::End(0)).unwrap(), 900);
            v.write_all(&[9u8; 150]).unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(ov.len(), 1150);
        let mut out = vec![0u8; 1150];
        assert_eq!(ov.read_at(&mut out, 0).unwrap(), 1150);
        assert_eq!(&out[900..1050], &[9u8; 150][..]);
        assert_eq!(&out[1050..], &[7u8; 100][..]);
    }
}
