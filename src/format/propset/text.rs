//! Strings in the set's code page: decoding that refuses invalid bytes and
//! encoding that refuses unmappable characters, where the `msi` crate's
//! code pages would substitute U+FFFD or `?` silently.

use super::CP_WINUNICODE;

enum Codec {
    Utf16,
    Page(msi::CodePage),
}

fn codec(code_page: Option<u16>) -> Result<Codec, String> {
    match code_page {
        Some(CP_WINUNICODE) => Ok(Codec::Utf16),
        // No code page, or CP_ACP (0): the summary streams of installer
        // packages are ASCII in practice and Windows-1252 decodes ASCII
        // unchanged. (msi maps 0 to UTF-8, which would misread Latin-1.)
        None | Some(0) => Ok(Codec::Page(msi::CodePage::Windows1252)),
        Some(id) => msi::CodePage::from_id(i32::from(id))
            .map(Codec::Page)
            .ok_or_else(|| format!("code page {id} is not supported")),
    }
}

pub(super) fn decode_string(code_page: Option<u16>, bytes: &[u8]) -> Result<String, String> {
    match codec(code_page)? {
        Codec::Utf16 => {
            if !bytes.len().is_multiple_of(2) {
                return Err(format!("{} bytes are not whole UTF-16 units", bytes.len()));
            }
            let mut units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| c.try_into().map(u16::from_le_bytes).unwrap_or(0))
                .collect();
            while units.last() == Some(&0) {
                units.pop();
            }
            String::from_utf16(&units).map_err(|_| "the string is not valid UTF-16".to_string())
        }
        Codec::Page(cp) => {
            let mut bytes = bytes;
            while let Some(rest) = bytes.strip_suffix(&[0]) {
                bytes = rest;
            }
            let text = cp.decode(bytes);
            // The decoder substitutes U+FFFD silently; a lossless round trip
            // is the test that the bytes were valid.
            if cp.encode(&text) != bytes {
                return Err(format!("the string is not valid in code page {}", cp.id()));
            }
            Ok(text)
        }
    }
}

pub(super) fn encode_string(code_page: Option<u16>, text: &str) -> Result<Vec<u8>, String> {
    if text.contains('\0') {
        return Err("a NUL character would end the string early".into());
    }
    match codec(code_page)? {
        Codec::Utf16 => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        Codec::Page(cp) => {
            let bytes = cp.encode(text);
            if cp.decode(&bytes) == text {
                return Ok(bytes);
            }
            // The encoder writes '?' for what it cannot map: name the
            // first such character instead.
            let mut buf = [0u8; 4];
            let bad = text
                .chars()
                .find(|c| {
                    let one = c.encode_utf8(&mut buf);
                    cp.decode(&cp.encode(one)) != *one
                })
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            Err(format!(
                "{bad:?} (U+{:04X}) cannot be written in code page {}",
                u32::from(bad),
                cp.id()
            ))
        }
    }
}
