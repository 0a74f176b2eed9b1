//! MSI stream-name encoding, so that `inspect` can show `Property` instead
//! of five CJK characters.
//!
//! Windows Installer packs the names of table streams and of `_Streams`
//! entries to fit longer names into the 31 UTF-16 units of a compound file
//! entry:
//!
//! * the 64 characters `0-9`, `A-Z`, `a-z`, `.`, `_` get the values 0–63
//!   in that order;
//! * two such characters in a row, `a` then `b`, become one unit
//!   `0x3800 + a + (b << 6)` (0x3800–0x47FF);
//! * one such character not followed by another becomes `0x4800 + a`
//!   (0x4800–0x483F);
//! * any other character is kept as it is;
//! * a table stream is prefixed with U+4840.
//!
//! The names of OLE's own streams (`\005SummaryInformation`,
//! `\005DigitalSignature`, ...) and of substorages (transforms) are stored
//! raw; see [`is_raw_special`]. The encoded units all lie in the Basic
//! Multilingual Plane outside the surrogate range, so they are ordinary
//! `char`s in the names cfb returns.

/// The unit that marks a table stream.
const TABLE_PREFIX: char = '\u{4840}';
/// First unit of a packed pair of characters.
const PAIR_BASE: u32 = 0x3800;
/// First unit of a single packed character.
const SINGLE_BASE: u32 = 0x4800;

/// A stream name with MSI's packing undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedName {
    /// The name as Windows Installer sees it (`Property`, `Binary.Icon`).
    pub name: String,
    /// Whether the stored name carried the table prefix.
    pub is_table: bool,
}

/// The value of `c` in the packing alphabet.
fn value(c: char) -> Option<u32> {
    let v = match c {
        '0'..='9' => u32::from(c) - u32::from('0'),
        'A'..='Z' => u32::from(c) - u32::from('A') + 10,
        'a'..='z' => u32::from(c) - u32::from('a') + 36,
        '.' => 62,
        '_' => 63,
        _ => return None,
    };
    Some(v)
}

/// The alphabet character of a 6-bit value.
fn letter(v: u32) -> Option<char> {
    let (base, offset) = match v {
        0..=9 => ('0', v),
        10..=35 => ('A', v - 10),
        36..=61 => ('a', v - 36),
        62 => return Some('.'),
        63 => return Some('_'),
        _ => return None,
    };
    char::from_u32(u32::from(base) + offset)
}

/// Whether `name` is one of OLE's own streams (first character U+0005),
/// whose names are never packed.
pub fn is_raw_special(name: &str) -> bool {
    name.starts_with('\u{5}')
}

/// Undoes MSI's packing of a stored stream name.
///
/// Characters outside the packed ranges come out unchanged, so raw names
/// (see [`is_raw_special`]) decode to themselves.
pub fn decode(name: &str) -> DecodedName {
    let (is_table, rest) = match name.strip_prefix(TABLE_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    let mut out = String::with_capacity(rest.len());
    for c in rest.chars() {
        let u = u32::from(c);
        let unpacked = if (PAIR_BASE..SINGLE_BASE).contains(&u) {
            let v = u - PAIR_BASE;
            letter(v & 0x3f)
                .zip(letter(v >> 6))
                .map(|(a, b)| [Some(a), Some(b)])
        } else if (SINGLE_BASE..SINGLE_BASE + 64).contains(&u) {
            letter(u - SINGLE_BASE).map(|a| [Some(a), None])
        } else {
            None
        };
        match unpacked {
            Some(chars) => out.extend(chars.into_iter().flatten()),
            None => out.push(c),
        }
    }
    DecodedName {
        name: out,
        is_table,
    }
}

/// Packs `name` the way Windows Installer stores it; `is_table` adds the
/// table prefix.
///
/// The result is not checked against the 31-unit limit of compound file
/// names: a caller that creates the stream gets that check from cfb.
pub fn encode(name: &str, is_table: bool) -> String {
    let mut out = String::with_capacity(name.len());
    if is_table {
        out.push(TABLE_PREFIX);
    }
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let Some(a) = value(c) else {
            out.push(c);
            continue;
        };
        let packed = match chars.peek().copied().and_then(value) {
            Some(b) => {
                chars.next();
                char::from_u32(PAIR_BASE + a + (b << 6))
            }
            None => char::from_u32(SINGLE_BASE + a),
        };
        // Both ranges are plain BMP characters, so `packed` is always Some;
        // keeping the character beats panicking should that ever change.
        out.push(packed.unwrap_or(c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn from_units(units: &[u16]) -> String {
        String::from_utf16(units).unwrap()
    }

    /// Vectors from msp-format.md §f.
    const VECTORS: [(&str, bool, &[u16]); 4] = [
        ("_Tables", true, &[0x4840, 0x3F7F, 0x4164, 0x422F, 0x4836]),
        ("_Columns", true, &[0x4840, 0x3B3F, 0x43F2, 0x4438, 0x45B1]),
        ("Property", true, &[0x4840, 0x4559, 0x44F2, 0x4568, 0x4737]),
        (
            "CAB_msitest",
            false,
            &[0x3A8C, 0x47CB, 0x45B0, 0x45EC, 0x45A8, 0x4837],
        ),
    ];

    #[test]
    fn known_vectors_encode() {
        for (name, is_table, stored) in VECTORS {
            assert_eq!(units(&encode(name, is_table)), stored, "{name}");
        }
    }

    #[test]
    fn known_vectors_decode() {
        for (name, is_table, stored) in VECTORS {
            let decoded = decode(&from_units(stored));
            assert_eq!(
                decoded,
                DecodedName {
                    name: name.to_owned(),
                    is_table
                }
            );
        }
    }

    #[test]
    fn other_characters_pass_through() {
        assert_eq!(encode("a-b", false), "\u{4824}-\u{4825}");
        assert_eq!(decode("\u{4824}-\u{4825}").name, "a-b");
        assert_eq!(encode("", true), "\u{4840}");
        assert_eq!(
            decode("\u{4840}"),
            DecodedName {
                name: String::new(),
                is_table: true
            }
        );
        // Only a leading prefix marks a table.
        assert_eq!(decode("x\u{4840}").name, "x\u{4840}");
    }

    #[test]
    fn raw_special_names() {
        let summary = "\u{5}SummaryInformation";
        assert!(is_raw_special(summary));
        assert!(is_raw_special("\u{5}DigitalSignature"));
        assert!(!is_raw_special("#RTM.1"));
        assert!(!is_raw_special(&encode("Property", true)));
        assert_eq!(decode(summary).name, summary);
        assert!(!decode(summary).is_table);
    }

    proptest! {
        #[test]
        fn alphabet_names_round_trip(name in "[0-9A-Za-z._]{0,62}", is_table: bool) {
            let stored = encode(&name, is_table);
            let packed_units = name.len().div_ceil(2) + usize::from(is_table);
            prop_assert_eq!(stored.encode_utf16().count(), packed_units);
            prop_assert_eq!(decode(&stored), DecodedName { name, is_table });
        }

        #[test]
        fn mixed_names_round_trip(name in "[0-9A-Za-z._ #$-]{0,40}|\\PC{0,20}", is_table: bool) {
            // Names that already hold packed units or a leading prefix are
            // ambiguous by design; everything else must come back intact.
            prop_assume!(!name.chars().any(|c| ('\u{3800}'..='\u{4840}').contains(&c)));
            let stored = encode(&name, is_table);
            prop_assert_eq!(decode(&stored), DecodedName { name, is_table });
        }
    }
}
