//! Compound-file entry names: the one rule for a new name (at most 31
//! UTF-16 units, no character compound files or LastSavedBy forbid) and
//! the case-insensitive comparison under which siblings collide.
//!
//! # Rules for a new name ([`validate_new_name`], [`validate_partner_name`])
//!
//! * not empty, at most [`MAX_NAME_UNITS`] (31) UTF-16 code units; a
//!   character outside the Basic Multilingual Plane counts as two;
//! * none of `/ \ : !` (compound files forbid them), `;` (it separates the
//!   entries of LastSavedBy) or U+0000 (it would end the stored name early);
//! * the first character is not U+0000–U+001F (reserved for OLE's own
//!   streams such as `\005SummaryInformation`);
//! * only a partner name starts with `#`; what follows the `#` obeys the
//!   rules of a main name.

/// Longest name a compound file directory entry can hold, in UTF-16 code
/// units, not counting the terminating NUL.
pub const MAX_NAME_UNITS: usize = 31;

/// Longest main name of a pair: one unit is kept free for the `#` of its
/// partner.
pub const MAX_MAIN_UNITS: usize = MAX_NAME_UNITS - 1;

/// Characters a new name must not contain anywhere.
pub(crate) const FORBIDDEN: [char; 6] = ['/', '\\', ':', '!', ';', '\0'];

/// Why a name cannot be used for a new substorage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name (or the part after a partner's `#`) is empty.
    #[error("a new storage name must not be empty")]
    Empty,
    /// The name is longer than a compound file entry can hold.
    #[error(
        "name {name:?} is {units} UTF-16 units long; the limit is {limit}{}",
        if *partner { " including the '#' of the partner" } else { "" }
    )]
    TooLong {
        /// The offending name.
        name: String,
        /// Its length in UTF-16 code units.
        units: usize,
        /// The limit that applies.
        limit: usize,
        /// Whether the name is a partner (`#` + main name).
        partner: bool,
    },
    /// The name contains a character that is not allowed anywhere in it.
    #[error("name {name:?} contains {ch:?}, {}", forbidden_reason(*ch))]
    Forbidden {
        /// The offending name.
        name: String,
        /// The first forbidden character found.
        ch: char,
    },
    /// The name starts with a character reserved for OLE's own streams.
    #[error(
        "name {name:?} starts with U+{:04X}; first characters U+0000 to U+001F \
         are reserved for OLE's own streams",
        u32::from(*ch)
    )]
    ReservedFirst {
        /// The offending name.
        name: String,
        /// Its first character.
        ch: char,
    },
    /// A main name starts with `#`, which marks partner transforms.
    #[error(
        "name {name:?} starts with '#', which marks the partner of a transform; \
         a main name must not"
    )]
    LeadingHash {
        /// The offending name.
        name: String,
    },
    /// A partner name does not start with `#`.
    #[error("partner name {name:?} must start with '#'")]
    NotPartner {
        /// The offending name.
        name: String,
    },
    /// An instance id has no character that may appear in a name.
    #[error(
        "instance id {id:?} has no character usable in a storage name \
         (A-Z a-z 0-9 . _ -)"
    )]
    EmptyTag {
        /// The id as given.
        id: String,
    },
    /// No free name was found for a copy.
    #[error("no free storage name left for the copy of {source_name:?} for instance {tag:?}")]
    Exhausted {
        /// The source transform name.
        source_name: String,
        /// The instance tag.
        tag: String,
    },
}

fn forbidden_reason(ch: char) -> &'static str {
    match ch {
        ';' => "which separates the entries of the patch's LastSavedBy list",
        '\0' => "which would end the stored name early",
        _ => "which compound files forbid in entry names",
    }
}

impl From<NameError> for crate::error::Error {
    // Names come from the request (instance ids, explicit names), so a name
    // that cannot be used is a problem of the request, not of the input file.
    fn from(err: NameError) -> crate::error::Error {
        crate::error::Error::usage(err.to_string())
    }
}

pub(crate) fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks that `name` can be used as the main name of a new substorage.
///
/// To check a whole pair, also check `#` + name with
/// [`validate_partner_name`]: only then is the main name short enough for
/// its partner.
pub fn validate_new_name(name: &str) -> Result<(), NameError> {
    if name.starts_with('#') {
        return Err(NameError::LeadingHash {
            name: name.to_owned(),
        });
    }
    check_common(name, name, false)
}

/// Checks that `name` can be used as the partner (`#` + main name) of a new
/// substorage.
pub fn validate_partner_name(name: &str) -> Result<(), NameError> {
    let Some(main) = name.strip_prefix('#') else {
        return Err(NameError::NotPartner {
            name: name.to_owned(),
        });
    };
    if main.starts_with('#') {
        return Err(NameError::LeadingHash {
            name: name.to_owned(),
        });
    }
    check_common(name, main, true)
}

/// The rules shared by main and partner names; `body` is the name without
/// a partner's `#`, so that the first-character rule applies to it.
fn check_common(name: &str, body: &str, partner: bool) -> Result<(), NameError> {
    let Some(first) = body.chars().next() else {
        return Err(NameError::Empty);
    };
    let len = units(name);
    if len > MAX_NAME_UNITS {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            units: len,
            limit: MAX_NAME_UNITS,
            partner,
        });
    }
    if let Some(ch) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(NameError::Forbidden {
            name: name.to_owned(),
            ch,
        });
    }
    if first <= '\u{1f}' {
        return Err(NameError::ReservedFirst {
            name: name.to_owned(),
            ch: first,
        });
    }
    Ok(())
}

/// The key under which the compound file compares sibling names: two names
/// whose keys differ never collide.
///
/// Compound files compare names case-insensitively by upper-casing each
/// character with its *simple* (one-to-one) Unicode mapping. Here each
/// character becomes the first character of its Rust upper-case mapping;
/// for the characters whose full mapping is one character this is exactly
/// the simple mapping. For the few whose full mapping expands (`ß` → `SS`,
/// `ﬁ` → `FI`, Greek letters with ypogegrammeni) the first character can
/// merge names that the compound file keeps apart (`ß` and `S`), but never
/// the reverse; the compound file also orders by length first, which this
/// key ignores for the same reason. Such a key may make an allocator skip a
/// usable name, but never hand out one that would clash.
pub fn name_key(name: &str) -> String {
    key_chars(name).collect()
}

/// The characters of [`name_key`]`(name)`, one by one, for comparing and
/// hashing names without building a key per name.
pub fn key_chars(name: &str) -> impl Iterator<Item = char> + Clone + '_ {
    name.chars().map(key_char)
}

/// One character of a [`name_key`]; ASCII, nearly every name, without the
/// general case mapping.
fn key_char(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_uppercase()
    } else {
        c.to_uppercase().next().unwrap_or(c)
    }
}

/// Whether two names have the same [`name_key`], without building either.
pub fn same_key(a: &str, b: &str) -> bool {
    // The same bytes, and ASCII, need no case mapping.
    if a == b {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    key_chars(a).eq(key_chars(b))
}

/// A borrowed name that hashes and compares by its [`name_key`]: a set of
/// these finds names listed twice without a key string per name.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a>(pub &'a str);

impl PartialEq for Keyed<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_key(self.0, other.0)
    }
}

impl Eq for Keyed<'_> {}

impl std::hash::Hash for Keyed<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for c in key_chars(self.0) {
            state.write_u32(u32::from(c));
        }
        // Ends the sequence, as `str`'s own hash does, so that a name is
        // never hashed as a prefix of a longer one.
        state.write_u8(0xFF);
    }
}

// How names are shown in messages: here rather than in the container
// module, so that every reader of the directory can name an entry without
// depending on the module that opens files.

/// Displays an entry name for messages: control characters such as the
/// U+0005 of `\005SummaryInformation` are written as `\005`.
pub fn show_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if (c as u32) < 0x20 {
            out.push_str(&format!("\\{:03o}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The part name for errors about a stream. A name packed by Windows
/// Installer (unreadable CJK-range characters) is followed by its
/// unpacked form: `stream 㬙䟠... (PCW_CAB_Sample)`.
pub fn stream_part(path: &std::path::Path) -> String {
    let text = path_text(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let unpacked = crate::format::streamname::decode(&name);
    if unpacked.name != name || unpacked.is_table {
        let table = if unpacked.is_table { "table " } else { "" };
        format!(
            "stream {} ({table}{})",
            show_name(&text),
            show_name(&unpacked.name)
        )
    } else {
        format!("stream {}", show_name(&text))
    }
}

/// The part name for errors about a storage.
pub fn storage_part(name: &str) -> String {
    format!("storage {}", show_name(name))
}

/// A path inside the compound file as text, without the leading `/`.
pub fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_string()
}

#[cfg(test)]
mod key_tests {
    use super::*;

    fn hash_of(k: Keyed) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        thread_local!(static STATE: RandomState = RandomState::new());
        STATE.with(|s| s.hash_one(k))
    }

    /// Comparing and hashing without a key string agree with the key.
    #[test]
    fn keys_compare_and_hash_as_the_key_string() {
        let names = [
            "rtmA.1", "RTMA.1", "rtma.1", "rtmA.2", "#rtmA.1", "ß", "S", "s", "SS", "é", "É", "ǅ",
            "ǆ", "Ǆ", "ﬁ", "FI", "", "a", "ab", "İ", "i",
        ];
        for a in names {
            for b in names {
                let same = name_key(a) == name_key(b);
                assert_eq!(same_key(a, b), same, "{a:?} {b:?}");
                assert_eq!(Keyed(a) == Keyed(b), same, "{a:?} {b:?}");
                if same {
                    assert_eq!(hash_of(Keyed(a)), hash_of(Keyed(b)), "{a:?} {b:?}");
                }
            }
        }
        assert_eq!(name_key("rtmA.1;é"), "RTMA.1;É");
    }
}
