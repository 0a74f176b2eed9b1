//! Parsing: builds the index of a property-set stream, checking every
//! length and offset against the bytes present before using it.

use super::*;

pub(super) fn parse_layout(
    bytes: &[u8],
    warnings: &mut Vec<PropsetError>,
) -> Result<Vec<Section>, PropsetError> {
    let len = bytes.len();
    // 2.21 PropertySetStream: ByteOrder, Version, SystemIdentifier, CLSID,
    // NumPropertySets, then (FMTID, Offset) per section.
    if len < HEADER_LEN {
        return Err(PropsetError::new(
            0,
            format!("the stream is {len} bytes, shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    let bom = u16_at(bytes, 0).unwrap_or_default();
    if bom != BYTE_ORDER_MARK {
        return Err(PropsetError::new(
            0,
            format!("byte order mark is {bom:#06x}, expected 0xfffe"),
        ));
    }
    let version = u16_at(bytes, 2).unwrap_or_default();
    if version > 1 {
        warnings.push(PropsetError::new(
            2,
            format!("format version {version} is neither 0 nor 1"),
        ));
    }
    let count = u32_at(bytes, OFFSET_SECTION_COUNT)
        .map(widen)
        .unwrap_or_default();
    let room = len.saturating_sub(HEADER_LEN) / SECTION_ENTRY_LEN;
    if count == 0 {
        return Err(PropsetError::new(
            OFFSET_SECTION_COUNT,
            "the property set declares no section",
        ));
    }
    if count > room {
        return Err(PropsetError::new(
            OFFSET_SECTION_COUNT,
            format!("{count} sections declared but the {len}-byte stream has room for {room}"),
        ));
    }
    let header_end = section_entry(count).ok_or_else(|| overflow(OFFSET_SECTION_COUNT))?;
    let mut sections = Vec::with_capacity(count);
    for k in 0..count {
        // k < count <= room, so the entry lies inside the stream.
        let entry = section_entry(k).unwrap_or(usize::MAX);
        let offset_at = entry.saturating_add(16);
        let mut fmtid = [0u8; 16];
        if let Some(b) = bytes.get(entry..offset_at) {
            fmtid.copy_from_slice(b);
        }
        let start = u32_at(bytes, offset_at).map(widen).unwrap_or_default();
        sections.push(parse_section(
            bytes, k, offset_at, fmtid, start, header_end, warnings,
        )?);
    }
    let mut order: Vec<(usize, usize, usize)> = sections
        .iter()
        .enumerate()
        .map(|(k, s)| (s.start, s.start.saturating_add(s.size), k))
        .collect();
    order.sort_unstable();
    for pair in order.windows(2) {
        if let [(_, end_a, a), (start_b, _, b)] = pair
            && start_b < end_a
        {
            return Err(PropsetError::new(
                *start_b,
                format!("section {b} starts inside section {a}"),
            ));
        }
    }
    Ok(sections)
}

impl PropertySet {
    /// Checks the dictionary (property 0) of the first section the way a
    /// reader that knows no dictionaries reads it, as a typed value (the
    /// `msi` crate does, and reserves a string's declared length before
    /// reading it): when its first 4 bytes say VT_LPSTR, the declared
    /// length must fit in the bytes that follow in the stream. Every other
    /// value was checked so by [`PropertySet::parse`].
    pub fn check_dictionary_as_typed(&self) -> Result<(), PropsetError> {
        let Some(section) = self.sections.first() else {
            return Ok(());
        };
        let bytes = &self.bytes;
        for prop in section.props.iter().filter(|p| p.pid == PID_DICTIONARY) {
            let at = section.start.saturating_add(prop.offset);
            if u32_at(bytes, at) != Some(u32::from(VT_LPSTR)) {
                continue;
            }
            let declared = u64::from(u32_at(bytes, at.saturating_add(4)).unwrap_or(0));
            let room = bytes.len().saturating_sub(at.saturating_add(8)) as u64;
            if declared > room {
                return Err(PropsetError::new(
                    at,
                    format!(
                        "property {} declares a {declared}-byte string; only {room} bytes follow",
                        prop.pid
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn parse_section(
    bytes: &[u8],
    k: usize,
    entry_at: usize,
    fmtid: [u8; 16],
    start: usize,
    header_end: usize,
    warnings: &mut Vec<PropsetError>,
) -> Result<Section, PropsetError> {
    let len = bytes.len();
    // 2.20 PropertySet: Size, NumProperties, (PropertyIdentifier, Offset)*.
    if start < header_end || start.checked_add(8).is_none_or(|end| end > len) {
        return Err(PropsetError::new(
            entry_at,
            format!(
                "section {k} offset {start:#x} is outside the {:#x}..{len:#x} range after the header",
                header_end
            ),
        ));
    }
    let size = u32_at(bytes, start).map(widen).unwrap_or_default();
    let available = len.saturating_sub(start);
    if size < 8 {
        return Err(PropsetError::new(
            start,
            format!("section {k} declares {size} bytes, too few for its own header"),
        ));
    }
    if size > available {
        return Err(PropsetError::new(
            start,
            format!("section {k} declares {size} bytes but only {available} bytes remain"),
        ));
    }
    let data = bytes
        .get(start..start.saturating_add(size))
        .unwrap_or_default();
    let count = u32_at(data, 4).map(widen).unwrap_or_default();
    let room = size.saturating_sub(8) / 8;
    if count > room {
        return Err(PropsetError::new(
            start.saturating_add(4),
            format!(
                "section {k} declares {count} properties but its {size} bytes have room for {room}"
            ),
        ));
    }
    // count <= room keeps the table inside the section.
    let table_end = table_slot(count).unwrap_or(usize::MAX);
    let mut slots = Vec::with_capacity(count);
    for i in 0..count {
        let at = table_slot(i).unwrap_or(usize::MAX);
        let offset_at = at.saturating_add(4);
        let message_at = start.saturating_add(offset_at);
        let pid = u32_at(data, at).unwrap_or_default();
        let offset = u32_at(data, offset_at).map(widen).unwrap_or_default();
        if offset < table_end {
            return Err(PropsetError::new(
                message_at,
                format!(
                    "property {pid} offset {offset:#x} points into the property table, which ends at {table_end:#x}"
                ),
            ));
        }
        if offset.checked_add(4).is_none_or(|end| end > size) {
            return Err(PropsetError::new(
                message_at,
                format!("property {pid} offset {offset:#x} is beyond the {size}-byte section {k}"),
            ));
        }
        if slots.iter().any(|&(other, _)| other == pid) {
            warnings.push(PropsetError::new(
                start.saturating_add(at),
                format!("property {pid} appears twice in section {k}; the first is used"),
            ));
        }
        slots.push((pid, offset));
    }
    let mut starts: Vec<(usize, u32)> = slots.iter().map(|&(pid, off)| (off, pid)).collect();
    starts.sort_unstable();
    for pair in starts.windows(2) {
        if let [(a, pid_a), (b, pid_b)] = pair
            && a == b
        {
            return Err(PropsetError::new(
                start.saturating_add(*a),
                format!("properties {pid_a} and {pid_b} share the value at offset {a:#x}"),
            ));
        }
    }
    // Where each value must end: the next value's start, or the section end.
    let limit_of = |offset: usize| {
        starts
            .iter()
            .map(|&(o, _)| o)
            .find(|&o| o > offset)
            .unwrap_or(size)
    };

    let code_page = slots
        .iter()
        .find(|&&(pid, _)| pid == PID_CODEPAGE)
        .and_then(|&(_, offset)| {
            let found = read_value(data, PID_CODEPAGE, offset, limit_of(offset), None, start);
            match found {
                Ok((PropertyValue::I2(cp), _)) => Some(u16::from_le_bytes(cp.to_le_bytes())),
                _ => {
                    warnings.push(PropsetError::new(
                        start.saturating_add(offset),
                        format!("section {k}: the code page property is not a VT_I2"),
                    ));
                    None
                }
            }
        });

    let mut props = Vec::with_capacity(count);
    for &(pid, offset) in &slots {
        let (value, end) = read_value(data, pid, offset, limit_of(offset), code_page, start)?;
        if let PropertyValue::Lpstr(_) = value {
            check_terminator(data, offset, code_page, start, pid, warnings);
        }
        props.push(Prop {
            pid,
            offset,
            end,
            value,
        });
    }
    Ok(Section {
        fmtid,
        start,
        size,
        code_page,
        props,
    })
}

/// Reads the value at `offset` of the section `data`, which must end by
/// `limit`; returns it with the end of its padded extent. `base` is the
/// section's stream offset, for messages.
fn read_value(
    data: &[u8],
    pid: u32,
    offset: usize,
    limit: usize,
    code_page: Option<u16>,
    base: usize,
) -> Result<(PropertyValue, usize), PropsetError> {
    let at = base.saturating_add(offset);
    let raw = |from: usize| data.get(from..limit).unwrap_or_default().to_vec();
    if pid == PID_DICTIONARY {
        return Ok((PropertyValue::Dictionary(raw(offset)), limit));
    }
    let room = limit.saturating_sub(offset);
    let vt = u16_at(data, offset).unwrap_or_default();
    let body = offset.saturating_add(4);
    let fixed = |size: usize| -> Result<usize, PropsetError> {
        let needed = size.saturating_add(4);
        if needed > room {
            return Err(PropsetError::new(
                at,
                format!("property {pid} needs {needed} bytes but only {room} bytes remain"),
            ));
        }
        Ok(extent_end(offset, needed, limit))
    };
    let value = match vt {
        VT_EMPTY => (PropertyValue::Empty, fixed(0)?),
        VT_NULL => (PropertyValue::Null, fixed(0)?),
        VT_I2 => {
            let end = fixed(2)?;
            let v = u16_at(data, body).unwrap_or_default();
            (PropertyValue::I2(i16::from_le_bytes(v.to_le_bytes())), end)
        }
        VT_I4 => {
            let end = fixed(4)?;
            let v = u32_at(data, body).unwrap_or_default();
            (PropertyValue::I4(i32::from_le_bytes(v.to_le_bytes())), end)
        }
        VT_UI4 => {
            let end = fixed(4)?;
            (
                PropertyValue::U4(u32_at(data, body).unwrap_or_default()),
                end,
            )
        }
        VT_FILETIME => {
            let end = fixed(8)?;
            (
                PropertyValue::FileTime(u64_at(data, body).unwrap_or_default()),
                end,
            )
        }
        VT_LPSTR => {
            fixed(4)?;
            let declared = u32_at(data, body).map(widen).unwrap_or_default();
            let left = room.saturating_sub(8);
            if declared > left {
                return Err(PropsetError::new(
                    at,
                    format!(
                        "property {pid} declares a {declared}-byte string but only {left} bytes remain"
                    ),
                ));
            }
            let text_at = offset.saturating_add(8);
            let text = data
                .get(text_at..text_at.saturating_add(declared))
                .unwrap_or_default();
            let terminator = if code_page == Some(CP_WINUNICODE) {
                [0u8, 0].as_slice()
            } else {
                [0u8].as_slice()
            };
            let text = text.strip_suffix(terminator).unwrap_or(text);
            let end = extent_end(offset, declared.saturating_add(8), limit);
            (PropertyValue::Lpstr(text.to_vec()), end)
        }
        _ => {
            fixed(0)?;
            (
                PropertyValue::Other {
                    vt,
                    data: raw(body),
                },
                limit,
            )
        }
    };
    Ok(value)
}

fn check_terminator(
    data: &[u8],
    offset: usize,
    code_page: Option<u16>,
    base: usize,
    pid: u32,
    warnings: &mut Vec<PropsetError>,
) {
    let declared = u32_at(data, offset.saturating_add(4))
        .map(widen)
        .unwrap_or_default();
    let text_at = offset.saturating_add(8);
    let text = data
        .get(text_at..text_at.saturating_add(declared))
        .unwrap_or_default();
    let at = base.saturating_add(offset);
    if code_page == Some(CP_WINUNICODE) && !declared.is_multiple_of(2) {
        warnings.push(PropsetError::new(
            at,
            format!("property {pid}: a {declared}-byte string in code page 1200 is not whole UTF-16 units"),
        ));
    }
    let unit = if code_page == Some(CP_WINUNICODE) {
        2
    } else {
        1
    };
    let terminated = text.len() >= unit && text.iter().rev().take(unit).all(|&b| b == 0);
    // [MS-OLEPS] allows a zero size for an empty string.
    if declared != 0 && !terminated {
        warnings.push(PropsetError::new(
            at,
            format!("property {pid}: the string has no NUL terminator"),
        ));
    }
}
