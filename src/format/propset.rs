//! Byte-faithful reading and editing of property-set streams, the format
//! of `\005SummaryInformation` and `\005DocumentSummaryInformation`
//! ([MS-OLEPS] 2.21 PropertySetStream, 2.20 PropertySet, 2.15
//! TypedPropertyValue, 2.5 CodePageString).
//!
//! This codec is hand-written because no crate both reads and writes
//! property sets faithfully: the `msi` crate's writer reorders properties
//! by id, forces header fields (section count, section offset) and sizes
//! strings by their UTF-8 length rather than their code-page length. A
//! retargeted patch must keep every byte of its summary streams except the
//! properties we deliberately change.
//!
//! So a [`PropertySet`] keeps the stream's bytes and an index over them.
//! Reading never normalises anything: header fields, the order of the
//! (property id, offset) table, the order of values in the data area,
//! padding, gaps, unknown value types, dictionaries and further sections
//! all stay as they were. An edit splices only the bytes of the value it
//! replaces and patches the offsets and sizes that follow it.
//!
//! Every length and count read from the stream is checked against the
//! bytes actually present before it is used, so malformed input gives a
//! [`PropsetError`] naming the offset, never a panic or a huge allocation.
//!
//! [MS-OLEPS]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-oleps/

use std::fmt;

use read::parse_layout;
use text::{decode_string, encode_string};

/// FMTID of the summary information property set
/// (`F29F85E0-4FF9-1068-AB91-08002B27B3D9`) as it lies on disk: the first
/// three GUID fields are little-endian.
pub const FMTID_SUMMARY_INFORMATION: [u8; 16] = [
    0xE0, 0x85, 0x9F, 0xF2, 0xF9, 0x4F, 0x68, 0x10, 0xAB, 0x91, 0x08, 0x00, 0x2B, 0x27, 0xB3, 0xD9,
];

/// The code page id CP_WINUNICODE: strings of such a set are UTF-16LE.
pub const CP_WINUNICODE: u16 = 1200;

/// Property id of the code page (VT_I2, read as unsigned).
pub const PID_CODEPAGE: u32 = 1;

/// Property id of a dictionary, the one property without a type field.
pub const PID_DICTIONARY: u32 = 0;

const HEADER_LEN: usize = 28;
const SECTION_ENTRY_LEN: usize = 20;
const BYTE_ORDER_MARK: u16 = 0xFFFE;
const OFFSET_SECTION_COUNT: usize = 24;
/// Win32 (2) in the high word and OS version 6.1 in the low word, as in the
/// corpus's WiX-built patches; the `msi` crate rejects a high word above 2.
#[cfg(any(test, feature = "testkit"))]
const DEFAULT_OS_VERSION: u32 = 0x0002_0106;

const VT_EMPTY: u16 = 0;
const VT_NULL: u16 = 1;
const VT_I2: u16 = 2;
const VT_I4: u16 = 3;
const VT_UI4: u16 = 19;
const VT_LPSTR: u16 = 30;
const VT_FILETIME: u16 = 64;

//===========================================================================//

/// A malformed property set, or an edit that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropsetError {
    /// Offset from the start of the stream where the problem lies.
    pub offset: u64,
    /// What is wrong, for a human.
    pub reason: String,
}

impl PropsetError {
    fn new(offset: usize, reason: impl Into<String>) -> PropsetError {
        PropsetError {
            offset: u64::try_from(offset).unwrap_or(u64::MAX),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PropsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {:#x}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for PropsetError {}

impl From<PropsetError> for crate::error::Error {
    fn from(e: PropsetError) -> crate::error::Error {
        crate::error::Error::format(e.reason).at(format!("offset {:#x}", e.offset))
    }
}

//===========================================================================//

/// The value of one property.
///
/// Types this codec does not model are kept as [`PropertyValue::Other`]
/// and written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// VT_EMPTY.
    Empty,
    /// VT_NULL.
    Null,
    /// VT_I2, a 16-bit signed integer (the code page is stored this way).
    I2(i16),
    /// VT_I4, a 32-bit signed integer.
    I4(i32),
    /// VT_UI4, a 32-bit unsigned integer.
    U4(u32),
    /// VT_LPSTR: the string's bytes in the set's code page, without the
    /// terminator (UTF-16LE bytes when the code page is 1200).
    Lpstr(Vec<u8>),
    /// VT_FILETIME: 100-nanosecond intervals since 1601-01-01 UTC.
    FileTime(u64),
    /// The dictionary (property id 0), kept raw: it has no type field.
    Dictionary(Vec<u8>),
    /// Any other type: the type code and the bytes after the 4-byte type
    /// field up to the next value (or the end of the section).
    Other {
        /// The VARENUM type code.
        vt: u16,
        /// The raw value bytes, padding included.
        data: Vec<u8>,
    },
}

impl PropertyValue {
    /// A short name of the value's type for messages (`VT_LPSTR`, ...).
    pub fn type_name(&self) -> String {
        match self {
            PropertyValue::Empty => "VT_EMPTY".into(),
            PropertyValue::Null => "VT_NULL".into(),
            PropertyValue::I2(_) => "VT_I2".into(),
            PropertyValue::I4(_) => "VT_I4".into(),
            PropertyValue::U4(_) => "VT_UI4".into(),
            PropertyValue::Lpstr(_) => "VT_LPSTR".into(),
            PropertyValue::FileTime(_) => "VT_FILETIME".into(),
            PropertyValue::Dictionary(_) => "dictionary".into(),
            PropertyValue::Other { vt, .. } => format!("type {vt:#06x}"),
        }
    }

    /// The serialized value, padded with zeros to a multiple of 4 bytes.
    fn encode(&self, code_page: Option<u16>) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let typed = |out: &mut Vec<u8>, vt: u16| {
            out.extend_from_slice(&vt.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        };
        match self {
            PropertyValue::Empty => typed(&mut out, VT_EMPTY),
            PropertyValue::Null => typed(&mut out, VT_NULL),
            PropertyValue::I2(v) => {
                typed(&mut out, VT_I2);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PropertyValue::I4(v) => {
                typed(&mut out, VT_I4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PropertyValue::U4(v) => {
                typed(&mut out, VT_UI4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PropertyValue::Lpstr(bytes) => {
                let terminator: &[u8] = if code_page == Some(CP_WINUNICODE) {
                    if bytes.len() % 2 != 0 {
                        return Err(format!(
                            "a {}-byte string cannot be UTF-16 (code page 1200)",
                            bytes.len()
                        ));
                    }
                    &[0, 0]
                } else {
                    &[0]
                };
                let len = bytes
                    .len()
                    .checked_add(terminator.len())
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("a {}-byte string is too long", bytes.len()))?;
                typed(&mut out, VT_LPSTR);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(terminator);
            }
            PropertyValue::FileTime(v) => {
                typed(&mut out, VT_FILETIME);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PropertyValue::Dictionary(data) => out.extend_from_slice(data),
            PropertyValue::Other { vt, data } => {
                typed(&mut out, *vt);
                out.extend_from_slice(data);
            }
        }
        out.resize(round_up4(out.len()).ok_or("value too long")?, 0);
        Ok(out)
    }
}

//===========================================================================//

/// A property set read from (or built into) a stream, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySet {
    bytes: Vec<u8>,
    /// Sections in header-table order; never empty.
    sections: Vec<Section>,
    warnings: Vec<PropsetError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    fmtid: [u8; 16],
    /// Stream offset of the section.
    start: usize,
    /// Declared size in bytes, header included.
    size: usize,
    code_page: Option<u16>,
    /// Properties in table order.
    props: Vec<Prop>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Prop {
    pid: u32,
    /// Offset of the value from the section start.
    offset: usize,
    /// End of the value and its padding, from the section start; an edit
    /// replaces `offset..end` and leaves any gap after it alone.
    end: usize,
    value: PropertyValue,
}

impl PropertySet {
    /// An empty set with one section of format `fmtid`: byte order 0xFFFE,
    /// format version 0, class id zero, no properties.
    #[cfg(any(test, feature = "testkit"))]
    pub fn new(fmtid: [u8; 16]) -> PropertySet {
        PropertySet::with_os_version(fmtid, DEFAULT_OS_VERSION)
    }

    /// [`PropertySet::new`] with the header's OS version field set to
    /// `os_version` (low word the system's version, high word its kind),
    /// for writers that reproduce another tool's header.
    pub fn with_os_version(fmtid: [u8; 16], os_version: u32) -> PropertySet {
        let mut bytes = Vec::with_capacity(56);
        bytes.extend_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes()); // format version
        bytes.extend_from_slice(&os_version.to_le_bytes());
        bytes.extend_from_slice(&[0; 16]); // class id
        bytes.extend_from_slice(&1u32.to_le_bytes()); // section count
        bytes.extend_from_slice(&fmtid);
        bytes.extend_from_slice(&48u32.to_le_bytes()); // section offset
        bytes.extend_from_slice(&8u32.to_le_bytes()); // section size
        bytes.extend_from_slice(&0u32.to_le_bytes()); // property count
        PropertySet {
            bytes,
            sections: vec![Section {
                fmtid,
                start: 48,
                size: 8,
                code_page: None,
                props: Vec::new(),
            }],
            warnings: Vec::new(),
        }
    }

    /// Reads a property-set stream. Oddities that do not stop a faithful
    /// round trip (a string without its terminator, a repeated property
    /// id, an unknown format version) are accepted and listed by
    /// [`PropertySet::warnings`].
    pub fn parse(bytes: &[u8]) -> Result<PropertySet, PropsetError> {
        let mut warnings = Vec::new();
        let sections = parse_layout(bytes, &mut warnings)?;
        Ok(PropertySet {
            bytes: bytes.to_vec(),
            sections,
            warnings,
        })
    }

    /// The stream's bytes: exactly the parsed input when nothing was changed.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The stream's bytes, borrowed.
    #[cfg(any(test, feature = "testkit"))]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Non-fatal oddities found by the last parse or edit.
    #[cfg(any(test, feature = "testkit"))]
    pub fn warnings(&self) -> &[PropsetError] {
        &self.warnings
    }

    /// The FMTID of the first section.
    #[cfg(any(test, feature = "testkit"))]
    pub fn fmtid(&self) -> [u8; 16] {
        self.sections.first().map(|s| s.fmtid).unwrap_or_default()
    }

    /// How many sections the set has (2 when a user-defined section
    /// follows, as in DocumentSummaryInformation).
    #[cfg(any(test, feature = "testkit"))]
    pub fn section_count(&self) -> usize {
        self.sections.len()
    }

    /// The first section's code page (property 1), when it has one.
    pub fn code_page(&self) -> Option<u16> {
        self.sections.first().and_then(|s| s.code_page)
    }

    /// Property ids of the first section, in table order.
    pub fn property_ids(&self) -> Vec<u32> {
        self.first_props().iter().map(|p| p.pid).collect()
    }

    /// The value of property `pid` of the first section.
    pub fn get(&self, pid: u32) -> Option<&PropertyValue> {
        self.first_props()
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| &p.value)
    }

    /// Property `pid` of the first section decoded as text in the set's
    /// code page, trailing NULs removed; `None` when the property is
    /// absent, an error when it is not a string or its bytes are not valid
    /// in the code page.
    pub fn get_string(&self, pid: u32) -> Option<Result<String, PropsetError>> {
        let section = self.sections.first()?;
        let prop = section.props.iter().find(|p| p.pid == pid)?;
        let at = section.start.saturating_add(prop.offset);
        Some(match &prop.value {
            PropertyValue::Lpstr(bytes) => decode_string(section.code_page, bytes)
                .map_err(|why| PropsetError::new(at, format!("property {pid}: {why}"))),
            other => Err(PropsetError::new(
                at,
                format!("property {pid} is {}, not a string", other.type_name()),
            )),
        })
    }

    /// Sets property `pid` of the first section to `text`, encoded in the
    /// set's code page (Windows-1252 when the set has none). Refuses text
    /// the code page cannot represent, and NUL characters, rather than
    /// writing substitutes.
    pub fn set_string(&mut self, pid: u32, text: &str) -> Result<(), PropsetError> {
        let bytes = encode_string(self.code_page(), text).map_err(|why| {
            PropsetError::new(self.first_start(), format!("property {pid}: {why}"))
        })?;
        self.set(pid, PropertyValue::Lpstr(bytes))
    }

    /// Sets property `pid` of the first section.
    ///
    /// An existing property keeps its table slot and its place in the data
    /// area; only what follows its value moves. A new property goes at the
    /// end of the table and of the data area. Setting a value equal to the
    /// current one changes nothing, so untouched padding stays as it was.
    /// Changing property 1 (the code page) does not re-encode strings.
    ///
    /// Fails, leaving the set unchanged, when the value cannot be written:
    /// an odd-length string under code page 1200, a dictionary anywhere
    /// but property 0 (or anything else there), a set outgrowing 4 GiB.
    pub fn set(&mut self, pid: u32, value: PropertyValue) -> Result<(), PropsetError> {
        let (start, code_page, existing) = {
            let section = self.first_section()?;
            let existing = section
                .props
                .iter()
                .find(|p| p.pid == pid)
                .map(|p| (p.offset, p.end, p.value == value));
            (section.start, section.code_page, existing)
        };
        let is_dictionary = matches!(value, PropertyValue::Dictionary(_));
        if (pid == PID_DICTIONARY) != is_dictionary {
            return Err(PropsetError::new(
                start,
                format!("property {pid} cannot hold a {}", value.type_name()),
            ));
        }
        let encoded = value
            .encode(code_page)
            .map_err(|why| PropsetError::new(start, format!("property {pid}: {why}")))?;
        let backup = self.bytes.clone();
        let edited = match existing {
            Some((_, _, true)) => return Ok(()),
            Some((offset, end, false)) => self.splice(0, offset, end, &encoded),
            None => self.append(pid, &encoded),
        };
        self.finish_edit(edited, backup)
    }

    /// Removes property `pid` from the first section (its table slot and
    /// its value); returns whether it was there.
    #[cfg(any(test, feature = "testkit"))]
    pub fn remove(&mut self, pid: u32) -> Result<bool, PropsetError> {
        let section = self.first_section()?;
        let Some((index, prop)) = section.props.iter().enumerate().find(|(_, p)| p.pid == pid)
        else {
            return Ok(false);
        };
        let (offset, end, start) = (prop.offset, prop.end, section.start);
        let count = section.props.len();
        let backup = self.bytes.clone();
        let edited = (|| {
            self.splice(0, offset, end, &[])?;
            // The count drops before the slot goes so that the offset fixup
            // reads only the slots that remain.
            let new_count = count.checked_sub(1).ok_or_else(|| overflow(start))?;
            self.put_u32(start.saturating_add(4), new_count)?;
            let slot = table_slot(index).ok_or_else(|| overflow(start))?;
            let slot_end = slot.checked_add(8).ok_or_else(|| overflow(start))?;
            self.splice(0, slot, slot_end, &[])
        })();
        self.finish_edit(edited, backup).map(|()| true)
    }

    fn first_section(&self) -> Result<&Section, PropsetError> {
        self.sections
            .first()
            .ok_or_else(|| PropsetError::new(0, "the property set has no section"))
    }

    fn first_props(&self) -> &[Prop] {
        self.sections.first().map_or(&[], |s| s.props.as_slice())
    }

    fn first_start(&self) -> usize {
        self.sections.first().map_or(0, |s| s.start)
    }

    /// Re-reads the edited bytes so the index matches them; an edit that
    /// failed, or produced bytes that do not parse, is rolled back.
    fn finish_edit(
        &mut self,
        edited: Result<(), PropsetError>,
        backup: Vec<u8>,
    ) -> Result<(), PropsetError> {
        let mut warnings = Vec::new();
        let reparsed = edited.and_then(|()| parse_layout(&self.bytes, &mut warnings));
        match reparsed {
            Ok(sections) => {
                self.sections = sections;
                self.warnings = warnings;
                Ok(())
            }
            Err(e) => {
                self.bytes = backup;
                Err(e)
            }
        }
    }

    /// Adds a table slot after the last one and the value after the end of
    /// the section.
    fn append(&mut self, pid: u32, encoded: &[u8]) -> Result<(), PropsetError> {
        let section = self.first_section()?;
        let (start, count) = (section.start, section.props.len());
        let slot = table_slot(count).ok_or_else(|| overflow(start))?;
        self.splice(0, slot, slot, &[0; 8])?;
        let size = self.first_section()?.size;
        let value_at = round_up4(size).ok_or_else(|| overflow(start))?;
        let mut tail = vec![0; value_at.saturating_sub(size)];
        tail.extend_from_slice(encoded);
        self.splice(0, size, size, &tail)?;
        let slot_at = start.checked_add(slot).ok_or_else(|| overflow(start))?;
        self.put_u32(slot_at, usize::try_from(pid).unwrap_or(usize::MAX))?;
        self.put_u32(slot_at.saturating_add(4), value_at)?;
        let new_count = count.checked_add(1).ok_or_else(|| overflow(start))?;
        self.put_u32(start.saturating_add(4), new_count)
    }

    /// Replaces `from..to` (relative to section `index`) with `new` and
    /// moves everything after it: property offsets at or past `to`, the
    /// section size and the offsets of sections lying after it.
    ///
    /// The index in `self.sections` is not refreshed, except for the
    /// section's size; the caller re-parses when done.
    fn splice(
        &mut self,
        index: usize,
        from: usize,
        to: usize,
        new: &[u8],
    ) -> Result<(), PropsetError> {
        let section = self
            .sections
            .get(index)
            .ok_or_else(|| PropsetError::new(0, format!("no section {index}")))?;
        let start = section.start;
        let abs_from = start.checked_add(from).ok_or_else(|| overflow(start))?;
        let abs_to = start.checked_add(to).ok_or_else(|| overflow(start))?;
        if abs_from > abs_to || abs_to > self.bytes.len() {
            return Err(PropsetError::new(abs_from, "edit outside the stream"));
        }
        let old_len = to.saturating_sub(from);
        let shift = |value: usize| -> Result<usize, PropsetError> {
            value
                .checked_sub(old_len)
                .and_then(|v| v.checked_add(new.len()))
                .filter(|v| u32::try_from(*v).is_ok())
                .ok_or_else(|| overflow(abs_from))
        };
        let new_size = shift(section.size)?;
        self.bytes.splice(abs_from..abs_to, new.iter().copied());

        let count = self.u32_at(start.saturating_add(4))?;
        for i in 0..count {
            let at = table_slot(i)
                .and_then(|slot| slot.checked_add(4))
                .and_then(|slot| slot.checked_add(start))
                .ok_or_else(|| overflow(start))?;
            let offset = self.u32_at(at)?;
            if offset >= to {
                self.put_u32(at, shift(offset)?)?;
            }
        }
        self.put_u32(start, new_size)?;
        if let Some(section) = self.sections.get_mut(index) {
            section.size = new_size;
        }
        for k in 0..self.sections.len() {
            let at = section_entry(k)
                .and_then(|e| e.checked_add(16))
                .ok_or_else(|| overflow(0))?;
            let offset = self.u32_at(at)?;
            if k != index && offset >= abs_to {
                self.put_u32(at, shift(offset)?)?;
            }
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> Result<usize, PropsetError> {
        u32_at(&self.bytes, at)
            .map(widen)
            .ok_or_else(|| PropsetError::new(at, "edit reads past the end of the stream"))
    }

    fn put_u32(&mut self, at: usize, value: usize) -> Result<(), PropsetError> {
        let value = u32::try_from(value).map_err(|_| overflow(at))?;
        let end = at.checked_add(4).ok_or_else(|| overflow(at))?;
        let slot = self
            .bytes
            .get_mut(at..end)
            .ok_or_else(|| PropsetError::new(at, "edit writes past the end of the stream"))?;
        slot.copy_from_slice(&value.to_le_bytes());
        Ok(())
    }
}

fn overflow(at: usize) -> PropsetError {
    PropsetError::new(at, "the edited property set would exceed 4 GiB")
}

/// Offset of the `i`th (property id, offset) slot from the section start.
fn table_slot(i: usize) -> Option<usize> {
    i.checked_mul(8)?.checked_add(8)
}

/// Stream offset of the `k`th (FMTID, offset) entry of the header.
fn section_entry(k: usize) -> Option<usize> {
    k.checked_mul(SECTION_ENTRY_LEN)?.checked_add(HEADER_LEN)
}

/// Where a value of `len` unpadded bytes at `offset` ends once padded to a
/// multiple of 4, but never past `limit` (the next value or the section
/// end): a writer may leave no padding before the next value.
fn extent_end(offset: usize, len: usize, limit: usize) -> usize {
    round_up4(len)
        .and_then(|padded| offset.checked_add(padded))
        .map_or(limit, |end| end.min(limit))
}

fn round_up4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

fn widen(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

mod read;
mod text;

#[cfg(test)]
mod tests;
