//! A transform's own string pool (`_StringPool` + `_StringData`).

use crate::error::{Error, Result};

use super::{LONG_REFS_FLAG, le};

/// A transform's string pool, decoded.
#[derive(Debug, Clone)]
pub struct StringPool {
    code_page: u32,
    long_refs: bool,
    strings: Vec<String>,
}

impl StringPool {
    /// Decodes `_StringPool` (`pool`) and `_StringData` (`data`). Errors
    /// are bare reasons; the caller names the stream.
    pub fn parse(pool: &[u8], data: &[u8]) -> Result<StringPool> {
        let header = pool.get(..4).ok_or_else(|| {
            Error::format(format!(
                "_StringPool is {} bytes long; it must hold at least its 4-byte header",
                pool.len()
            ))
        })?;
        let header = le(header);
        let long_refs = header & LONG_REFS_FLAG != 0;
        let code_page = header & !LONG_REFS_FLAG;
        let decoder = decoder_for(code_page)?;
        let entries = pool.get(4..).unwrap_or_default();
        if entries.len() % 4 != 0 {
            return Err(Error::format(format!(
                "_StringPool ends with a partial entry: {} bytes after the header are not \
                 whole 4-byte entries",
                entries.len()
            )));
        }
        let mut strings = Vec::new();
        let mut chunks = entries.chunks_exact(4);
        let mut data_pos: usize = 0;
        while let Some(entry) = chunks.next() {
            let id = strings.len() + 1;
            let (len_bytes, refs_bytes) = entry.split_at(2);
            let mut len = le(len_bytes) as usize;
            if len == 0 && le(refs_bytes) != 0 {
                let long = chunks.next().ok_or_else(|| {
                    Error::format(format!(
                        "_StringPool: string {id} announces a 32-bit length but the pool ends"
                    ))
                })?;
                len = le(long) as usize;
            }
            let bytes = data_pos
                .checked_add(len)
                .and_then(|end| data.get(data_pos..end))
                .ok_or_else(|| {
                    Error::format(format!(
                        "_StringPool: string {id} is {len} bytes long but _StringData has \
                         only {} bytes left",
                        data.len().saturating_sub(data_pos)
                    ))
                })?;
            strings.push(decoder.decode(bytes));
            data_pos += len;
        }
        Ok(StringPool {
            code_page,
            long_refs,
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
            .ok_or_else(|| {
                format!(
                    "string id {id} is out of range: the transform's string pool has {} strings",
                    self.strings.len()
                )
            })
    }
}

/// The decoder for a pool's code page. 0 (neutral) is read as
/// Windows-1252, which leaves ASCII unchanged (the `msi` crate would read
/// it as UTF-8).
fn decoder_for(code_page: u32) -> Result<msi::CodePage> {
    if code_page == 0 {
        return Ok(msi::CodePage::Windows1252);
    }
    i32::try_from(code_page)
        .ok()
        .and_then(msi::CodePage::from_id)
        .ok_or_else(|| {
            Error::format(format!(
                "_StringPool: code page {code_page} is not one this tool can decode"
            ))
        })
}
