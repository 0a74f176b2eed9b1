//! Typed views of the summary information of patches and transforms.
//!
//! The generic, byte-faithful codec lives in [`crate::format::propset`]; this module
//! gives the Windows Installer meaning of the properties a retarget reads
//! and writes (Windows Installer SDK, "Summary Information Stream Property
//! Set" and the per-property pages):
//!
//! * in a patch: Template (PID 7) is the `;`-list of target product codes,
//!   LastSavedBy (PID 8) the `;`-list of `:name` transform substorages,
//!   RevisionNumber (PID 9) the patch code followed by obsoleted patch codes;
//! * in a transform: Template is `platform;language`, RevisionNumber is
//!   `{from}from-version;{to}to-version;{upgrade code}` and CharCount
//!   (PID 16) carries validation flags in its high word and
//!   error-suppression flags in its low word.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::guid::{BRACED_LEN, Guid, leading_guids};
use crate::format::propset::{PropertySet, PropertyValue};

/// Summary streams larger than this are refused before they are read:
/// even a thousand instances add well under a megabyte to them.
pub const MAX_SUMMARY_LEN: u64 = 4 * 1024 * 1024;

/// Name of the summary-information stream (raw, not MSI-encoded).
pub const SUMMARY_STREAM: &str = "\u{5}SummaryInformation";

/// Property ids of the summary-information property set.
pub mod pid {
    /// Code page of the strings (VT_I2).
    pub const CODEPAGE: u32 = 1;
    /// Title.
    pub const TITLE: u32 = 2;
    /// Subject.
    pub const SUBJECT: u32 = 3;
    /// Author.
    pub const AUTHOR: u32 = 4;
    /// Keywords (a patch's source list).
    pub const KEYWORDS: u32 = 5;
    /// Comments.
    pub const COMMENTS: u32 = 6;
    /// Template: targets of a patch, `platform;language` of a transform.
    pub const TEMPLATE: u32 = 7;
    /// LastSavedBy: transform list of a patch.
    pub const LAST_SAVED_BY: u32 = 8;
    /// RevisionNumber: patch code(s), or a transform's product codes.
    pub const REVISION_NUMBER: u32 = 9;
    /// Last printed (FILETIME).
    pub const LAST_PRINTED: u32 = 11;
    /// Creation time (FILETIME).
    pub const CREATE_TIME: u32 = 12;
    /// Last save time (FILETIME).
    pub const LAST_SAVE_TIME: u32 = 13;
    /// PageCount (VT_I4).
    pub const PAGE_COUNT: u32 = 14;
    /// WordCount (VT_I4).
    pub const WORD_COUNT: u32 = 15;
    /// CharCount (VT_I4): a transform's validation and error flags.
    pub const CHAR_COUNT: u32 = 16;
    /// Creating application.
    pub const APP_NAME: u32 = 18;
    /// Security (VT_I4).
    pub const SECURITY: u32 = 19;

    /// The property's name as Windows Installer documents it.
    pub fn name(pid: u32) -> &'static str {
        match pid {
            CODEPAGE => "Codepage",
            TITLE => "Title",
            SUBJECT => "Subject",
            AUTHOR => "Author",
            KEYWORDS => "Keywords",
            COMMENTS => "Comments",
            TEMPLATE => "Template",
            LAST_SAVED_BY => "LastSavedBy",
            REVISION_NUMBER => "RevisionNumber",
            LAST_PRINTED => "LastPrinted",
            CREATE_TIME => "CreateTime",
            LAST_SAVE_TIME => "LastSaveTime",
            PAGE_COUNT => "PageCount",
            WORD_COUNT => "WordCount",
            CHAR_COUNT => "CharCount",
            APP_NAME => "CreatingApplication",
            SECURITY => "Security",
            _ => "unknown",
        }
    }
}

/// The part name used in errors for a summary property.
pub fn property_part(pid: u32) -> String {
    format!("property {pid} ({})", pid::name(pid))
}

/// Reads a string property; `Ok(None)` when it is absent or not a string.
pub fn get_string(set: &PropertySet, id: u32) -> Result<Option<String>> {
    match set.get(id) {
        Some(PropertyValue::Lpstr(_)) => match set.get_string(id) {
            Some(r) => r
                .map(Some)
                .map_err(|e| Error::from(e).at(property_part(id))),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

/// Reads a string property the caller cannot do without: an error saying
/// "is missing" when it is absent, or naming its type when it is not a
/// string (a Template stored as VT_I4 is not a missing Template).
pub fn require_string(set: &PropertySet, id: u32) -> Result<String> {
    match set.get(id) {
        None => Err(Error::format("is missing").at(property_part(id))),
        Some(PropertyValue::Lpstr(_)) => {
            get_string(set, id)?.ok_or_else(|| Error::format("is missing").at(property_part(id)))
        }
        Some(other) => Err(Error::format(format!(
            "is {}, not a string (VT_LPSTR)",
            other.type_name()
        ))
        .at(property_part(id))),
    }
}

/// Reads an integer property (VT_I2 or VT_I4).
pub fn get_int(set: &PropertySet, id: u32) -> Option<i64> {
    match set.get(id) {
        Some(PropertyValue::I2(v)) => Some(i64::from(*v)),
        Some(PropertyValue::I4(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

//==========================================================================//
// CharCount flags

/// Validation flags: the high word of a transform's CharCount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Validation(pub u16);

impl Validation {
    /// Default language must match (MSITRANSFORM_VALIDATE_LANGUAGE).
    pub const LANGUAGE: u16 = 0x0001;
    /// ProductCode must equal the from code (MSITRANSFORM_VALIDATE_PRODUCT).
    pub const PRODUCT: u16 = 0x0002;
    /// Platform must match (MSITRANSFORM_VALIDATE_PLATFORM).
    pub const PLATFORM: u16 = 0x0004;
    /// Compare the major version only.
    pub const MAJOR_VERSION: u16 = 0x0008;
    /// Compare major and minor versions.
    pub const MINOR_VERSION: u16 = 0x0010;
    /// Compare major, minor and update versions.
    pub const UPDATE_VERSION: u16 = 0x0020;
    /// Installed version < base version.
    pub const NEW_LESS_BASE: u16 = 0x0040;
    /// Installed version <= base version.
    pub const NEW_LESS_EQUAL_BASE: u16 = 0x0080;
    /// Installed version = base version.
    pub const NEW_EQUAL_BASE: u16 = 0x0100;
    /// Installed version >= base version.
    pub const NEW_GREATER_EQUAL_BASE: u16 = 0x0200;
    /// Installed version > base version.
    pub const NEW_GREATER_BASE: u16 = 0x0400;
    /// UpgradeCode must equal the third part of RevisionNumber.
    pub const UPGRADE_CODE: u16 = 0x0800;

    const NAMES: [(u16, &'static str); 12] = [
        (Self::LANGUAGE, "language"),
        (Self::PRODUCT, "product_code"),
        (Self::PLATFORM, "platform"),
        (Self::MAJOR_VERSION, "major_version"),
        (Self::MINOR_VERSION, "minor_version"),
        (Self::UPDATE_VERSION, "update_version"),
        (Self::NEW_LESS_BASE, "new_less_base_version"),
        (Self::NEW_LESS_EQUAL_BASE, "new_less_equal_base_version"),
        (Self::NEW_EQUAL_BASE, "new_equal_base_version"),
        (
            Self::NEW_GREATER_EQUAL_BASE,
            "new_greater_equal_base_version",
        ),
        (Self::NEW_GREATER_BASE, "new_greater_base_version"),
        (Self::UPGRADE_CODE, "upgrade_code"),
    ];

    /// Whether every bit of `flag` is set.
    pub fn has(self, flag: u16) -> bool {
        self.0 & flag == flag
    }

    /// Names of the set flags, plus `unknown_0x....` for undocumented bits.
    pub fn names(self) -> Vec<String> {
        flag_names(self.0, &Self::NAMES)
    }
}

/// Error-suppression flags: the low word of a transform's CharCount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorFlags(pub u16);

impl ErrorFlags {
    const NAMES: [(u16, &'static str); 7] = [
        (0x0001, "add_existing_row"),
        (0x0002, "delete_missing_row"),
        (0x0004, "add_existing_table"),
        (0x0008, "delete_missing_table"),
        (0x0010, "update_missing_row"),
        (0x0020, "change_codepage"),
        (0x0100, "view_transform"),
    ];

    /// Names of the set flags, plus `unknown_0x....` for undocumented bits.
    pub fn names(self) -> Vec<String> {
        flag_names(self.0, &Self::NAMES)
    }
}

fn flag_names(bits: u16, table: &[(u16, &str)]) -> Vec<String> {
    let mut out: Vec<String> = table
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known = table.iter().fold(0u16, |acc, (b, _)| acc | b);
    let unknown = bits & !known;
    if unknown != 0 {
        out.push(format!("unknown_{unknown:#06x}"));
    }
    out
}

/// A transform's CharCount split into its two words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharCount(pub u32);

impl CharCount {
    /// The validation flags (high word).
    pub fn validation(self) -> Validation {
        Validation((self.0 >> 16) as u16)
    }
    /// The error-suppression flags (low word).
    pub fn errors(self) -> ErrorFlags {
        ErrorFlags((self.0 & 0xFFFF) as u16)
    }
}

//==========================================================================//
// Transform RevisionNumber

/// One `{code}version` part of a transform RevisionNumber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeVersion {
    /// The product code.
    pub code: Guid,
    /// The version text as stored (may be empty).
    pub version: String,
}

/// A decoded transform RevisionNumber:
/// `{from}from-version;{to}to-version;{upgrade code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransformRevision {
    /// The product the transform applies to.
    pub from: CodeVersion,
    /// The product after the transform.
    pub to: CodeVersion,
    /// The upgrade code, when the third part is present and not empty.
    pub upgrade_code: Option<Guid>,
    /// The text as stored.
    pub raw: String,
}

impl TransformRevision {
    /// Parses the stored text.
    pub fn parse(raw: &str) -> Result<TransformRevision> {
        let parts: Vec<&str> = raw.split(';').collect();
        let code_version = |i: usize, what: &str| -> Result<CodeVersion> {
            let part = parts.get(i).copied().unwrap_or("");
            let code_text = part.get(..BRACED_LEN).ok_or_else(|| {
                Error::format(format!(
                    "RevisionNumber {raw:?}: the {what} part {part:?} does not start \
                     with a braced product code"
                ))
            })?;
            let code = Guid::parse_braced(code_text).map_err(|e| {
                Error::format(format!(
                    "RevisionNumber {raw:?}: {what} product code: {}",
                    e.reason()
                ))
            })?;
            Ok(CodeVersion {
                code,
                version: part.get(BRACED_LEN..).unwrap_or("").to_string(),
            })
        };
        let from = code_version(0, "from")?;
        let to = code_version(1, "to")?;
        let upgrade_code = match parts.get(2).map(|p| p.trim()) {
            None | Some("") => None,
            Some(p) => Some(Guid::parse_braced(p).map_err(|e| {
                Error::format(format!(
                    "RevisionNumber {raw:?}: upgrade code: {}",
                    e.reason()
                ))
            })?),
        };
        Ok(TransformRevision {
            from,
            to,
            upgrade_code,
            raw: raw.to_string(),
        })
    }

    /// Whether the transform changes the product code (a major upgrade).
    pub fn changes_product_code(&self) -> bool {
        self.from.code != self.to.code
    }

    /// The stored text with `base` replaced by `instance` in the from and
    /// to product-code positions, and the upgrade code replaced when
    /// `upgrade` is given. Everything else (versions, delimiters, any
    /// trailing parts) is kept exactly as stored.
    pub fn retargeted(&self, base: Guid, instance: Guid, upgrade: Option<Guid>) -> String {
        let mut parts: Vec<String> = self.raw.split(';').map(str::to_string).collect();
        for part in parts.iter_mut().take(2) {
            let matches = part
                .get(..BRACED_LEN)
                .and_then(|c| Guid::parse_braced(c).ok())
                == Some(base);
            if matches {
                let rest = part.get(BRACED_LEN..).unwrap_or("");
                *part = format!("{instance}{rest}");
            }
        }
        if let Some(up) = upgrade {
            match parts.get_mut(2) {
                Some(p) => *p = up.braced(),
                None => parts.push(up.braced()),
            }
        }
        parts.join(";")
    }
}

//==========================================================================//
// Patch Template / LastSavedBy / RevisionNumber

/// Splits a `;`-list, dropping empty entries (a trailing `;` is common).
pub fn split_list(text: &str) -> Vec<&str> {
    text.split(';').filter(|s| !s.is_empty()).collect()
}

/// Appends entries to a `;`-list, keeping the stored text as it is.
pub fn append_list(text: &str, entries: &[String]) -> String {
    let mut out = text.to_string();
    for e in entries {
        if !out.is_empty() && !out.ends_with(';') {
            out.push(';');
        }
        out.push_str(e);
    }
    out
}

/// The entries of a `;`-list that `keep` accepts, joined again with the
/// stored text of each kept (an empty entry, a stray space) as it is: the
/// inverse of [`append_list`].
pub fn retain_list(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.split(';')
        .filter(|e| keep(e))
        .collect::<Vec<_>>()
        .join(";")
}

/// A patch RevisionNumber: the patch code and the codes of the patches it
/// obsoletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchCodes {
    /// The patch code.
    pub patch_code: Guid,
    /// Obsoleted patch codes (ignored by Windows Installer 3.0+ when the
    /// patch has an MsiPatchSequence table).
    pub obsoletes: Vec<Guid>,
}

impl PatchCodes {
    /// Parses a patch RevisionNumber.
    pub fn parse(raw: &str) -> Result<PatchCodes> {
        let (codes, rest) = leading_guids(raw.trim_end_matches('\0'));
        let Some((first, others)) = codes.split_first() else {
            return Err(Error::format(format!(
                "RevisionNumber {raw:?} does not start with a braced patch code"
            )));
        };
        if !rest.trim().is_empty() {
            return Err(Error::format(format!(
                "RevisionNumber {raw:?}: unexpected text {rest:?} after the patch codes"
            )));
        }
        Ok(PatchCodes {
            patch_code: *first,
            obsoletes: others.to_vec(),
        })
    }
}

/// One pair of transforms as listed in LastSavedBy: the main transform and
/// its `#` partner, named without the leading `:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairNames {
    /// The main transform's substorage name.
    pub main: String,
    /// The partner's substorage name (`#` + main), when listed.
    pub partner: Option<String>,
}

/// Parses a patch's LastSavedBy into transform pairs: every entry is
/// `:name`, and a `:#X` entry belongs to the `:X` entry right before it.
///
/// A storage listed twice (names compare as the compound file compares
/// them, ignoring case) is an error: no tool writes that, and every
/// listing would be read, planned and copied again. So is a list of more
/// than `max` pairs, once every entry is found valid: at most `max` pairs
/// are kept, so that a long list costs a pass over its text and not a
/// name per entry, and the error gives the count.
pub fn parse_transform_list(text: &str, max: usize) -> Result<Vec<PairNames>> {
    let mut pairs: Vec<PairNames> = Vec::new();
    let mut count = 0usize;
    // Entries as slices of the list, hashed by their compound-file key:
    // no key string per entry.
    let mut seen = std::collections::HashSet::new();
    let mut last: Option<Listed> = None;
    for entry in list_entries(text) {
        if !seen.insert(crate::format::names::Keyed(entry)) {
            return Err(listed_twice(entry));
        }
        let step = list_step(entry, last)?;
        if matches!(step, Step::Main(_)) {
            count += 1;
        }
        accept(step, entry, &mut last, &mut pairs, count <= max);
    }
    if count > max {
        return Err(Error::format(format!(
            "LastSavedBy lists {count} transform pairs; patches with more than {max} are \
             refused"
        )));
    }
    Ok(pairs)
}

/// Pairs the entries of a LastSavedBy list the way
/// [`parse_transform_list`] does, but goes on past a bad entry: each entry
/// is judged as that parser judges it when it follows the pair accepted
/// last (that pair's entries are the only ones it is compared with for a
/// name listed twice), and a refused entry comes back with the parser's
/// reason. A lenient reader reads the pairs; the refused entries are its
/// problems. One pass, and no allocation for an entry beyond its pair or
/// its error.
pub fn scan_transform_list(text: &str) -> (Vec<PairNames>, Vec<(String, Error)>) {
    let mut pairs: Vec<PairNames> = Vec::new();
    let mut refused = Vec::new();
    let mut last: Option<Listed> = None;
    for entry in list_entries(text) {
        let twice = last.is_some_and(|l| {
            crate::format::names::same_key(entry, l.main)
                || l.partner
                    .is_some_and(|p| crate::format::names::same_key(entry, p))
        });
        let step = if twice {
            Err(listed_twice(entry))
        } else {
            list_step(entry, last)
        };
        match step {
            Ok(step) => accept(step, entry, &mut last, &mut pairs, true),
            Err(e) => refused.push((entry.to_string(), e)),
        }
    }
    (pairs, refused)
}

/// The entries of a `;`-list, as [`split_list`] gives them, without
/// collecting them.
fn list_entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').filter(|s| !s.is_empty())
}

/// The pair a LastSavedBy reader accepted last, as its entries are listed
/// (`:X` and `:#X`).
#[derive(Clone, Copy)]
struct Listed<'a> {
    main: &'a str,
    partner: Option<&'a str>,
}

/// What an accepted LastSavedBy entry adds: a pair (its main name) or the
/// partner of the pair before it (its name, `#` included).
enum Step<'a> {
    Main(&'a str),
    Partner(&'a str),
}

/// Judges one LastSavedBy entry after the pair accepted last, but for a
/// name listed twice, which each reader checks against what it has seen.
fn list_step<'a>(entry: &'a str, last: Option<Listed>) -> Result<Step<'a>> {
    let name = entry.strip_prefix(':').ok_or_else(|| {
        Error::format(format!(
            "LastSavedBy entry {entry:?} does not start with ':' (every entry names a \
             transform substorage as :name)"
        ))
    })?;
    if name.is_empty() {
        return Err(Error::format("LastSavedBy has an empty entry ':'"));
    }
    let Some(main) = name.strip_prefix('#') else {
        return Ok(Step::Main(name));
    };
    match last {
        Some(l) if l.main.strip_prefix(':') == Some(main) && l.partner.is_none() => {
            Ok(Step::Partner(name))
        }
        _ => Err(Error::format(format!(
            "LastSavedBy lists the partner :{name} without its main transform :{main} right \
             before it"
        ))),
    }
}

/// Records an accepted `entry` as the pair accepted last, and in `pairs`
/// when `keep` (a reader past its bound keeps counting, not pairs).
fn accept<'a>(
    step: Step<'a>,
    entry: &'a str,
    last: &mut Option<Listed<'a>>,
    pairs: &mut Vec<PairNames>,
    keep: bool,
) {
    match step {
        Step::Main(name) => {
            if keep {
                pairs.push(PairNames {
                    main: name.to_string(),
                    partner: None,
                });
            }
            *last = Some(Listed {
                main: entry,
                partner: None,
            });
        }
        Step::Partner(name) => {
            if keep && let Some(p) = pairs.last_mut() {
                p.partner = Some(name.to_string());
            }
            if let Some(l) = last {
                l.partner = Some(entry);
            }
        }
    }
}

fn listed_twice(entry: &str) -> Error {
    Error::format(format!("LastSavedBy lists {entry} more than once"))
}

//==========================================================================//
// Instance transforms

/// The OS version field of the header of the summary streams `msi.dll`
/// writes into a transform (Win32 in the high word, 6.0 in the low word),
/// as read in every instance transform of the corpus (`instance-transforms.msi`,
/// `instance-autogen.mst`).
pub const TRANSFORM_SUMMARY_OS_VERSION: u32 = 0x0002_0006;

/// Security (PID 19) of a transform: 4, as in the corpus's instance
/// transforms.
const TRANSFORM_SECURITY: i32 = 4;

/// The summary information of an instance transform of the product whose
/// summary is `product`, whose RevisionNumber is `revision`, laid out as
/// WiX (through `msi.dll`) writes it, property by property and in the same
/// order: the code page and Title, Subject, Author, Keywords and Comments
/// copied from the product, CreatingApplication empty, Security 4, the
/// product's Template as Template and LastSavedBy, RevisionNumber, the
/// product's PageCount, and CharCount 0 (no validation, no error
/// suppression: WiX's instance transforms carry none, and Windows Installer
/// applies an embedded instance transform whatever it validates). Values
/// are copied as stored, in the product's code page; a property the product
/// lacks is left out.
pub fn instance_transform_summary(product: &PropertySet, revision: &str) -> Result<PropertySet> {
    let mut set = PropertySet::with_os_version(
        crate::format::propset::FMTID_SUMMARY_INFORMATION,
        TRANSFORM_SUMMARY_OS_VERSION,
    );
    let copy = |set: &mut PropertySet, from: u32, to: u32| -> Result<()> {
        if let Some(v) = product.get(from) {
            set.set(to, v.clone()).map_err(Error::from)?;
        }
        Ok(())
    };
    for id in [
        pid::CODEPAGE,
        pid::TITLE,
        pid::SUBJECT,
        pid::AUTHOR,
        pid::KEYWORDS,
        pid::COMMENTS,
    ] {
        copy(&mut set, id, id)?;
    }
    set.set(pid::APP_NAME, PropertyValue::Lpstr(Vec::new()))
        .map_err(Error::from)?;
    set.set(pid::SECURITY, PropertyValue::I4(TRANSFORM_SECURITY))
        .map_err(Error::from)?;
    copy(&mut set, pid::TEMPLATE, pid::TEMPLATE)?;
    copy(&mut set, pid::TEMPLATE, pid::LAST_SAVED_BY)?;
    set.set_string(pid::REVISION_NUMBER, revision)
        .map_err(Error::from)?;
    copy(&mut set, pid::PAGE_COUNT, pid::PAGE_COUNT)?;
    set.set(pid::CHAR_COUNT, PropertyValue::I4(0))
        .map_err(Error::from)?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}";
    const I: &str = "{11111111-2222-3333-4444-555555555555}";
    const U: &str = "{77AE8779-8689-4DC9-BB1B-64B500078104}";

    #[test]
    fn char_count_splits_words_and_names_flags() {
        let c = CharCount(0x0922_001F);
        assert!(c.validation().has(Validation::PRODUCT));
        assert!(c.validation().has(Validation::UPGRADE_CODE));
        assert!(!c.validation().has(Validation::LANGUAGE));
        assert_eq!(
            c.validation().names(),
            [
                "product_code",
                "update_version",
                "new_equal_base_version",
                "upgrade_code"
            ]
        );
        assert_eq!(c.errors().names().len(), 5);
        assert_eq!(Validation(0x9000).names(), ["unknown_0x9000"]);
        assert!(!CharCount(0x0920_001F).validation().has(Validation::PRODUCT));
    }

    #[test]
    fn revision_parses_and_retargets_only_product_codes() {
        let raw = format!("{A}1.0.0.0;{A}1.0.1.0;{U}");
        let r = TransformRevision::parse(&raw).unwrap();
        assert_eq!(r.from.version, "1.0.0.0");
        assert_eq!(r.to.version, "1.0.1.0");
        assert_eq!(r.upgrade_code.unwrap().braced(), U);
        assert!(!r.changes_product_code());
        let base = Guid::parse_braced(A).unwrap();
        let inst = Guid::parse_braced(I).unwrap();
        assert_eq!(
            r.retargeted(base, inst, None),
            format!("{I}1.0.0.0;{I}1.0.1.0;{U}")
        );
        let up = Guid::parse_braced(I).unwrap();
        assert_eq!(
            r.retargeted(base, inst, Some(up)),
            format!("{I}1.0.0.0;{I}1.0.1.0;{I}")
        );
    }

    #[test]
    fn revision_keeps_lower_case_text_it_does_not_replace() {
        let raw = format!("{}1.0;{}2.0;", A.to_lowercase(), A.to_lowercase());
        let r = TransformRevision::parse(&raw).unwrap();
        assert_eq!(r.upgrade_code, None);
        let other = Guid::parse_braced(U).unwrap();
        let inst = Guid::parse_braced(I).unwrap();
        assert_eq!(r.retargeted(other, inst, None), raw);
        assert_eq!(
            r.retargeted(Guid::parse_braced(A).unwrap(), inst, None),
            format!("{I}1.0;{I}2.0;")
        );
    }

    #[test]
    fn revision_errors_say_which_part() {
        let e = TransformRevision::parse("garbage").unwrap_err();
        assert!(e.reason().contains("from part"), "{e}");
        let e = TransformRevision::parse(&format!("{A}1.0;{{bad}}1.0")).unwrap_err();
        assert!(e.reason().contains("to part"), "{e}");
        let e = TransformRevision::parse(&format!("{A}1.0;{A}1.0;nope")).unwrap_err();
        assert!(e.reason().contains("upgrade code"), "{e}");
    }

    #[test]
    fn transform_list_pairs_partners_with_their_main() {
        let pairs = parse_transform_list(":rtmA.1;:#rtmA.1;:ldr.1;", usize::MAX).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].partner.as_deref(), Some("#rtmA.1"));
        assert_eq!(pairs[1].partner, None);
        let e = parse_transform_list(":#rtmA.1;:rtmA.1", usize::MAX).unwrap_err();
        assert!(e.reason().contains("without its main"), "{e}");
        let e = parse_transform_list(":a;:#b", usize::MAX).unwrap_err();
        assert!(e.reason().contains(":#b"), "{e}");
        let e = parse_transform_list("rtmA.1", usize::MAX).unwrap_err();
        assert!(e.reason().contains("does not start with ':'"), "{e}");
    }

    /// The list readers as they were before they became one pass: the
    /// strict parser with a key string per entry, and the scan offering
    /// each entry to it after the pair accepted last. The one-pass readers
    /// must answer exactly as these do.
    mod reference {
        use super::super::*;

        pub fn parse(text: &str, max: usize) -> Result<Vec<PairNames>> {
            let mut pairs: Vec<PairNames> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for entry in split_list(text) {
                if !seen.insert(crate::format::names::name_key(entry)) {
                    return Err(Error::format(format!(
                        "LastSavedBy lists {entry} more than once"
                    )));
                }
                let name = entry.strip_prefix(':').ok_or_else(|| {
                    Error::format(format!(
                        "LastSavedBy entry {entry:?} does not start with ':' (every entry \
                         names a transform substorage as :name)"
                    ))
                })?;
                if name.is_empty() {
                    return Err(Error::format("LastSavedBy has an empty entry ':'"));
                }
                if let Some(main) = name.strip_prefix('#') {
                    match pairs.last_mut() {
                        Some(p) if p.main == main && p.partner.is_none() => {
                            p.partner = Some(name.to_string());
                        }
                        _ => {
                            return Err(Error::format(format!(
                                "LastSavedBy lists the partner :{name} without its main \
                                 transform :{main} right before it"
                            )));
                        }
                    }
                } else {
                    pairs.push(PairNames {
                        main: name.to_string(),
                        partner: None,
                    });
                }
            }
            if pairs.len() > max {
                return Err(Error::format(format!(
                    "LastSavedBy lists {} transform pairs; patches with more than {max} are \
                     refused",
                    pairs.len()
                )));
            }
            Ok(pairs)
        }

        pub fn scan(text: &str) -> (Vec<PairNames>, Vec<(String, Error)>) {
            let mut pairs: Vec<PairNames> = Vec::new();
            let mut refused = Vec::new();
            for entry in split_list(text) {
                let context = pairs.last().map(|p| match &p.partner {
                    Some(q) => format!(":{};:{q}", p.main),
                    None => format!(":{}", p.main),
                });
                let probe = match &context {
                    Some(c) => format!("{c};{entry}"),
                    None => entry.to_string(),
                };
                match parse(&probe, usize::MAX) {
                    Ok(mut parsed) => {
                        if parsed.len() > usize::from(context.is_some()) {
                            if let Some(new) = parsed.pop() {
                                pairs.push(new);
                            }
                        } else if let (Some(last), Some(p)) = (pairs.last_mut(), parsed.pop()) {
                            last.partner = p.partner;
                        }
                    }
                    Err(e) => refused.push((entry.to_string(), e)),
                }
            }
            (pairs, refused)
        }
    }

    fn texts<T>(r: Result<T>) -> Result<T, String> {
        r.map_err(|e| e.to_string())
    }

    proptest::proptest! {
        /// Lists of entries that collide in every way the readers know
        /// (case, `ß` against `S`, partners before and after their main,
        /// no colon, empty): the one-pass readers give the same pairs and
        /// the same errors, entry by entry, as the readers they replace.
        #[test]
        fn the_list_readers_answer_as_before(
            entries in proptest::collection::vec(
                proptest::sample::select(vec![
                    ":a", ":A", ":#a", ":#A", ":b", ":#b", ":ß", ":S", ":#ß", ":#s", "a",
                    ":", ":#", "::", ":#:", "#a", " :a", ":é", ":É", ":#é", "",
                ]),
                0..24,
            ),
            max in 0usize..4,
        ) {
            let text = entries.join(";");
            let (pairs, refused) = scan_transform_list(&text);
            let (want_pairs, want_refused) = reference::scan(&text);
            proptest::prop_assert_eq!(&pairs, &want_pairs, "{}", text);
            let texts_of = |r: &[(String, Error)]| {
                r.iter().map(|(e, err)| format!("{e}: {err}")).collect::<Vec<_>>()
            };
            proptest::prop_assert_eq!(texts_of(&refused), texts_of(&want_refused), "{}", text);
            proptest::prop_assert_eq!(
                texts(parse_transform_list(&text, usize::MAX)),
                texts(reference::parse(&text, usize::MAX)),
                "{}", text
            );
            proptest::prop_assert_eq!(
                texts(parse_transform_list(&text, max)),
                texts(reference::parse(&text, max)),
                "{} (at most {})", text, max
            );
        }
    }

    #[test]
    fn a_long_list_keeps_at_most_the_bound_and_counts_the_rest() {
        let text: String = (0..10).map(|k| format!(":t{k};:#t{k};")).collect();
        assert_eq!(parse_transform_list(&text, 10).unwrap().len(), 10);
        let e = parse_transform_list(&text, 3).unwrap_err();
        assert_eq!(
            e.reason(),
            "LastSavedBy lists 10 transform pairs; patches with more than 3 are refused"
        );
        // A fault past the bound is still the error, as for any list.
        let e = parse_transform_list(&format!("{text}:T1"), 3).unwrap_err();
        assert!(e.reason().contains(":T1 more than once"), "{e}");
    }

    #[test]
    fn patch_codes_and_list_helpers() {
        let p = PatchCodes::parse(&format!("{A}{I}")).unwrap();
        assert_eq!(p.obsoletes.len(), 1);
        assert!(PatchCodes::parse("x").is_err());
        assert!(PatchCodes::parse(&format!("{A}junk")).is_err());
        assert_eq!(append_list("", &["a".into(), "b".into()]), "a;b");
        assert_eq!(append_list("x;", &["a".into()]), "x;a");
        assert_eq!(split_list("a;;b;"), ["a", "b"]);
        assert_eq!(retain_list("a;;b; c", |e| e != "b"), "a;; c");
    }
}
