//! Comparing a written result with its input, entry by entry: the
//! metadata an entry must keep and the bytes a stream must keep. Shared by
//! the verification of the whole result ([`super::verify`]) and of each
//! copy against its source ([`super::copy`]).

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::container::{self, EntryMeta, Storage, stream_part};
use crate::patch::Patch;

/// Whether two entries have the same kind, length, CLSID, state bits and
/// timestamps.
pub(crate) fn meta_matches(a: &EntryMeta, b: &EntryMeta) -> bool {
    a.is_stream == b.is_stream
        && a.len == b.len
        && a.clsid == b.clsid
        && a.state_bits == b.state_bits
        && a.created == b.created
        && a.modified == b.modified
}

/// The metadata of the output's entry at `path`, if there is one.
pub(crate) fn out_entry<G, D: Storage>(out: &Patch<G, D>, path: &Path) -> Option<EntryMeta> {
    out.cf.info(path).map(|e| EntryMeta::from_info(&e))
}

/// A reader that remembers whether it failed, to tell which of two
/// streams read side by side was unreadable.
pub(crate) struct Marked<R> {
    pub(crate) inner: R,
    pub(crate) failed: bool,
}

impl<R: std::io::Read> std::io::Read for Marked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.inner.read(buf);
        self.failed |= r.is_err();
        r
    }
}

fn input_error(input: &Patch, a: &Path, e: std::io::Error, what: &str) -> Error {
    Error::io(format!("{what} the input's stream"), e)
        .at(stream_part(a))
        .in_file(&input.path)
}

/// The bytes of the input's stream `a`, at most `limit` of them (its
/// length as listed), read to compare with many copies.
pub(crate) fn read_input_stream(input: &mut Patch, a: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = match input.cf.open(a) {
        Ok(stream) => stream.take(limit).read_to_end(&mut bytes).map(|_| ()),
        Err(e) => return Err(input_error(input, a, e, "cannot open")),
    };
    read.map_err(|e| input_error(input, a, e, "reading"))?;
    Ok(bytes)
}

/// Checks that the output's stream `b` holds exactly `want`, the bytes of
/// the input's stream `a` (read before, see [`read_input_stream`]).
pub(crate) fn stream_matches<G, D: Storage>(
    want: &[u8],
    a: &Path,
    out: &mut Patch<G, D>,
    b: &Path,
) -> Result<()> {
    let mut sb = out
        .cf
        .open(b)
        .map_err(|e| Error::io("cannot open", e).at(stream_part(b)))?;
    let equal = container::stream_holds(&mut sb, want)
        .map_err(|e| Error::io("comparing", e).at(stream_part(b)))?;
    if !equal {
        return Err(differs(a, b));
    }
    Ok(())
}

fn differs(a: &Path, b: &Path) -> Error {
    Error::verify(format!(
        "{} differs from the input's {}",
        stream_part(b),
        container::path_text(a)
    ))
}

pub(crate) fn compare_streams<G, D: Storage>(
    input: &mut Patch,
    a: &Path,
    out: &mut Patch<G, D>,
    b: &Path,
) -> Result<()> {
    let input_error = |e: std::io::Error, what: &str| {
        Error::io(format!("{what} the input's stream"), e)
            .at(stream_part(a))
            .in_file(&input.path)
    };
    let mut sa = Marked {
        inner: input
            .cf
            .open(a)
            .map_err(|e| input_error(e, "cannot open"))?,
        failed: false,
    };
    let mut sb = Marked {
        inner: out
            .cf
            .open(b)
            .map_err(|e| Error::io("cannot open", e).at(stream_part(b)))?,
        failed: false,
    };
    let equal = match container::streams_equal(&mut sa, &mut sb) {
        Ok(equal) => equal,
        Err(e) if sa.failed => return Err(input_error(e, "reading")),
        Err(e) => return Err(Error::io("comparing", e).at(stream_part(b))),
    };
    if !equal {
        return Err(differs(a, b));
    }
    Ok(())
}
