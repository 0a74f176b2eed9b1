//! The string pool format (`_StringPool` + `_StringData`) shared by
//! transforms and databases: its header, the one bounded walk over its
//! entries, and the reader's decoded pool.
//!
//! Every reader of a pool walks it through [`walk`]: the transform reader
//! ([`StringPool::parse`]), the editor ([`super::write::PoolEditor`]) and
//! the checks made before the `msi` crate opens a database
//! ([`crate::format::msi::check_before_msi`]), which knows only the length
//! of `_StringData`, not its bytes. So a pool is judged by one set of
//! rules, in one wording, wherever it is read.

use std::ops::Range;

use crate::error::{Error, Result};

/// Bit 31 of the pool header: string references take 3 bytes.
pub(super) const LONG_REFS_FLAG: u32 = 0x8000_0000;

/// What the 4-byte header of `_StringPool` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolHeader {
    /// The code page of the strings (0: neutral), without the flag bit.
    pub code_page: u32,
    /// Whether string references take 3 bytes instead of 2.
    pub long_refs: bool,
}

impl PoolHeader {
    /// Reads the header at the start of `pool`, which must hold it; the
    /// code page is not judged here (see [`PoolHeader::codec`]).
    pub fn parse(pool: &[u8]) -> Result<PoolHeader> {
        let Some(&[a, b, c, d]) = pool.first_chunk::<4>() else {
            return Err(Error::format(format!(
                "{} bytes: not a 4-byte header followed by 4-byte entries",
                pool.len()
            )));
        };
        Ok(PoolHeader::from_bits(u32::from_le_bytes([a, b, c, d])))
    }

    /// The header of the stored 32-bit value `bits`.
    pub fn from_bits(bits: u32) -> PoolHeader {
        PoolHeader {
            code_page: bits & !LONG_REFS_FLAG,
            long_refs: bits & LONG_REFS_FLAG != 0,
        }
    }

    /// The 32-bit value as stored.
    pub fn to_bits(self) -> u32 {
        self.code_page | if self.long_refs { LONG_REFS_FLAG } else { 0 }
    }

    /// The decoder of the pool's strings. 0 (neutral) is read as
    /// Windows-1252, which leaves ASCII unchanged (the `msi` crate would
    /// read it as UTF-8); a code page neither this tool nor the `msi`
    /// crate knows is refused (both know the same ones).
    pub fn codec(self) -> Result<msi::CodePage> {
        if self.code_page == 0 {
            return Ok(msi::CodePage::Windows1252);
        }
        i32::try_from(self.code_page)
            .ok()
            .and_then(msi::CodePage::from_id)
            .ok_or_else(|| {
                Error::format(format!(
                    "code page {} is not one an installer database can use",
                    self.code_page
                ))
            })
    }
}

/// One entry of `_StringPool`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    /// The string id (counting from 1).
    pub id: usize,
    /// The stored reference count.
    pub refs: u16,
    /// Stored as `(0, refs)` followed by a 32-bit length.
    pub long_form: bool,
    /// Where the string's bytes lie in `_StringData` (always inside the
    /// `data_len` given to [`walk`]).
    pub data: Range<usize>,
}

/// Walks `_StringPool` (`pool`), checking its shape, its code page and
/// every declared length against the `data_len` bytes of `_StringData`,
/// before any of it is used. Allocates nothing. Errors are bare reasons;
/// the caller names the stream.
pub fn walk(pool: &[u8], data_len: u64) -> Result<(PoolHeader, PoolEntries<'_>)> {
    let header = PoolHeader::parse(pool)?;
    let entries = pool.get(4..).unwrap_or_default();
    if entries.len() % 4 != 0 {
        return Err(Error::format(format!(
            "ends with a partial entry: the {} bytes after its 4-byte header are not whole \
             4-byte entries",
            entries.len()
        )));
    }
    header.codec()?;
    Ok((
        header,
        PoolEntries {
            rest: entries,
            next_id: 1,
            data_at: 0,
            data_len,
        },
    ))
}

/// The entries of a pool, in id order (see [`walk`]); the first error
/// ends the walk.
#[derive(Debug, Clone)]
pub struct PoolEntries<'a> {
    rest: &'a [u8],
    next_id: usize,
    data_at: u64,
    data_len: u64,
}

impl Iterator for PoolEntries<'_> {
    type Item = Result<PoolEntry>;

    fn next(&mut self) -> Option<Result<PoolEntry>> {
        let (&[l0, l1, r0, r1], tail) = self.rest.split_first_chunk::<4>()?;
        self.rest = tail;
        let id = self.next_id;
        self.next_id += 1;
        let refs = u16::from_le_bytes([r0, r1]);
        let mut len = u64::from(u16::from_le_bytes([l0, l1]));
        // A zero length with references: the real length follows.
        let long_form = len == 0 && refs != 0;
        if long_form {
            let Some((long, tail)) = self.rest.split_first_chunk::<4>() else {
                self.rest = &[];
                return Some(Err(Error::format(format!(
                    "string {id} announces a 32-bit length that is not there"
                ))));
            };
            self.rest = tail;
            len = u64::from(u32::from_le_bytes(*long));
        }
        let left = self.data_len.saturating_sub(self.data_at);
        if len > left {
            self.rest = &[];
            return Some(Err(Error::format(format!(
                "string {id} is {len} bytes long, more than the {left} bytes left of the {} \
                 bytes of _StringData",
                self.data_len
            ))));
        }
        // Both ends are at most `data_len`, the length of bytes in memory
        // or of a stream the caller bounded.
        let start = usize::try_from(self.data_at).unwrap_or(usize::MAX);
        self.data_at += len;
        let end = usize::try_from(self.data_at).unwrap_or(usize::MAX);
        Some(Ok(PoolEntry {
            id,
            refs,
            long_form,
            data: start..end,
        }))
    }
}

/// A transform's string pool, decoded.
#[derive(Debug, Clone)]
pub struct StringPool {
    code_page: u32,
    long_refs: bool,
    strings: Vec<String>,
}

impl StringPool {
    /// Decodes `_StringPool` (`pool`) and `_StringData` (`data`). Errors
    /// name the pool's table stream; the caller names the storage.
    pub fn parse(pool: &[u8], data: &[u8]) -> Result<StringPool> {
        StringPool::parse_inner(pool, data).map_err(|e| e.at(super::table_part(super::STRING_POOL)))
    }

    fn parse_inner(pool: &[u8], data: &[u8]) -> Result<StringPool> {
        let (header, entries) = walk(pool, data.len() as u64)?;
        let decoder = header.codec()?;
        let mut strings = Vec::new();
        for entry in entries {
            let entry = entry?;
            strings.push(decoder.decode(data.get(entry.data).unwrap_or_default()));
        }
        Ok(StringPool {
            code_page: header.code_page,
            long_refs: header.long_refs,
            strings,
        })
    }

    /// An empty pool (for tests and synthetic transforms).
    pub fn from_strings(strings: Vec<String>, long_refs: bool) -> StringPool {
        StringPool {
            code_page: 0,
            long_refs,
            strings,
        }
    }

    /// The code page of the strings (0: neutral).
    pub fn code_page(&self) -> u32 {
        self.code_page
    }

    /// Whether string references take 3 bytes instead of 2.
    pub fn long_refs(&self) -> bool {
        self.long_refs
    }

    /// The number of strings.
    #[cfg(any(test, feature = "testkit"))]
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether the pool has no strings.
    #[cfg(any(test, feature = "testkit"))]
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// The string with id `id` (counting from 1); `None` for id 0 (null).
    pub fn get(&self, id: u32) -> std::result::Result<Option<&str>, String> {
        if id == 0 {
            return Ok(None);
        }
        self.strings
            .get(id as usize - 1)
            .map(|s| Some(s.as_str()))
            .ok_or_else(|| out_of_range(id, self.strings.len()))
    }
}

/// The message for a string id past the pool's `count` strings.
pub(super) fn out_of_range(id: u32, count: usize) -> String {
    format!("string id {id} is out of range: the transform's string pool has {count} strings")
}
