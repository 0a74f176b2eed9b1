//! A read buffer that survives seeks.
//!
//! `cfb` seeks before every sector it reads, so a compound file read
//! through `std::io::BufReader` gains nothing: `BufReader` drops its buffer
//! on every `seek`. Verifying a thousand-instance result reads about 9 MB
//! in 4 KiB sectors that mostly follow one another, which cost 89,000
//! `read` and 70,000 `lseek` calls. [`ReadAhead`] keeps one window of the
//! file and serves any read inside it, whatever seeks came before, and a
//! seek only moves a number.

use std::io::{self, Read, Seek, SeekFrom};

/// Bytes read at once when a read falls outside the window.
pub const WINDOW: usize = 64 * 1024;

/// A reader that keeps the last window of `inner` it read across seeks,
/// and reads ahead [`WINDOW`] bytes when reads follow one another (a
/// stream's chain); a read elsewhere fetches only what it asks for. For
/// files that do not change while it reads them.
#[derive(Debug)]
pub struct ReadAhead<R> {
    inner: R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
    /// Bytes of `buf` that hold the file.
    filled: usize,
    pos: u64,
    /// Where `inner` is positioned, when known.
    inner_pos: Option<u64>,
    /// Where the last read ended: a read starting there is sequential.
    last_end: u64,
}

impl<R> ReadAhead<R> {
    /// Reads `inner` from its start.
    pub fn new(inner: R) -> ReadAhead<R> {
        ReadAhead {
            inner,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            pos: 0,
            inner_pos: None,
            last_end: u64::MAX,
        }
    }

    /// The reader underneath.
    #[cfg(test)]
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R: Read + Seek> ReadAhead<R> {
    fn read_inner(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner_pos != Some(at) {
            self.inner.seek(SeekFrom::Start(at))?;
            self.inner_pos = Some(at);
        }
        let n = self.inner.read(buf);
        self.inner_pos = n.as_ref().ok().map(|n| at + *n as u64);
        n
    }
}

impl<R: Read + Seek> Read for ReadAhead<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let sequential = self.pos == self.last_end;
        let end = self.start + self.filled as u64;
        if self.pos < self.start || self.pos >= end {
            if !sequential || out.len() >= WINDOW {
                let n = self.read_inner(self.pos, out)?;
                self.pos += n as u64;
                self.last_end = self.pos;
                return Ok(n);
            }
            if self.buf.len() < WINDOW {
                self.buf = vec![0u8; WINDOW];
            }
            let mut buf = std::mem::take(&mut self.buf);
            let got = self.read_inner(self.pos, &mut buf);
            self.buf = buf;
            self.filled = 0;
            self.start = self.pos;
            self.filled = got?;
            if self.filled == 0 {
                return Ok(0);
            }
        }
        let from = (self.pos - self.start) as usize;
        let avail = self.buf.get(from..self.filled).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        self.last_end = self.pos;
        Ok(n)
    }
}

impl<R: Seek> Seek for ReadAhead<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?,
            SeekFrom::End(_) => {
                let p = self.inner.seek(to)?;
                self.inner_pos = Some(p);
                p
            }
        };
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Counts the reads that reach the inner reader.
    struct Counting {
        inner: Cursor<Vec<u8>>,
        reads: usize,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.inner.read(buf)
        }
    }

    impl Seek for Counting {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn reads_after_any_seek_match_the_file() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut r = ReadAhead::new(Cursor::new(data.clone()));
        let mut x = 12345u64;
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (x >> 33) % 310_000;
            let len = [1, 7, 512, 4096, 70_000][((x >> 20) % 5) as usize];
            r.seek(SeekFrom::Start(at)).unwrap();
            let mut got = vec![0u8; len];
            let mut n = 0;
            while n < len {
                let k = r.read(&mut got[n..]).unwrap();
                if k == 0 {
                    break;
                }
                n += k;
            }
            let want = data.get(at as usize..).unwrap_or_default();
            let want = &want[..want.len().min(len)];
            assert_eq!(&got[..n], want, "at {at}, {len} bytes");
        }
        assert_eq!(r.seek(SeekFrom::End(-10)).unwrap(), 299_990);
        assert_eq!(r.seek(SeekFrom::Current(4)).unwrap(), 299_994);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[299_994..]);
        assert!(r.seek(SeekFrom::Current(-400_000)).is_err());
    }

    #[test]
    fn sectors_read_in_order_cost_one_read_per_window() {
        let data = vec![7u8; 4 * WINDOW];
        let mut r = ReadAhead::new(Counting {
            inner: Cursor::new(data),
            reads: 0,
        });
        let mut sector = [0u8; 4096];
        for i in 0..(4 * WINDOW / 4096) as u64 {
            r.seek(SeekFrom::Start(i * 4096)).unwrap();
            r.read_exact(&mut sector).unwrap();
        }
        // The first sector is read alone, then a window per WINDOW bytes.
        assert_eq!(r.get_ref().reads, 5);
    }
}
