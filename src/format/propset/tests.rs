use super::*;
use proptest::prelude::*;

/// The 28-byte stream header plus one (FMTID, offset) entry per section.
fn header(sections: &[([u8; 16], u32)]) -> Vec<u8> {
    let mut b = vec![
        0xFE, 0xFF, // byte order mark
        0x00, 0x00, // format version 0
        0x06, 0x01, 0x02, 0x00, // OS version 6.1, Win32
    ];
    b.extend_from_slice(&[0; 16]); // class id
    b.extend_from_slice(&u32::try_from(sections.len()).unwrap().to_le_bytes());
    for (fmtid, offset) in sections {
        b.extend_from_slice(fmtid);
        b.extend_from_slice(&offset.to_le_bytes());
    }
    b
}

/// Code page 1252, Template "abc", Security 4, a FILETIME, in table order.
fn simple() -> Vec<u8> {
    let mut b = header(&[(FMTID_SUMMARY_INFORMATION, 48)]);
    #[rustfmt::skip]
    b.extend_from_slice(&[
        80, 0, 0, 0,            // 48: section size
        4, 0, 0, 0,             // 52: property count
        1, 0, 0, 0, 40, 0, 0, 0,  // 56: pid 1 at +40
        7, 0, 0, 0, 48, 0, 0, 0,  // 64: pid 7 at +48
        19, 0, 0, 0, 60, 0, 0, 0, // 72: pid 19 at +60
        12, 0, 0, 0, 68, 0, 0, 0, // 80: pid 12 at +68
        2, 0, 0, 0, 0xE4, 0x04, 0, 0, // 88 (+40): VT_I2 1252, padding
        30, 0, 0, 0, 4, 0, 0, 0, b'a', b'b', b'c', 0, // 96 (+48): VT_LPSTR "abc\0"
        3, 0, 0, 0, 4, 0, 0, 0, // 108 (+60): VT_I4 4
        64, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, // 116 (+68): VT_FILETIME
    ]);
    b
}

fn parse(bytes: &[u8]) -> PropertySet {
    PropertySet::parse(bytes).unwrap()
}

fn err(bytes: &[u8]) -> String {
    PropertySet::parse(bytes).unwrap_err().to_string()
}

fn put(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn reads_a_hand_built_set_and_writes_it_back_unchanged() {
    let bytes = simple();
    let set = parse(&bytes);
    assert_eq!(set.to_bytes(), bytes);
    assert_eq!(set.fmtid(), FMTID_SUMMARY_INFORMATION);
    assert_eq!(set.section_count(), 1);
    assert_eq!(set.code_page(), Some(1252));
    assert_eq!(set.property_ids(), [1, 7, 19, 12]);
    assert_eq!(set.get(7), Some(&PropertyValue::Lpstr(b"abc".to_vec())));
    assert_eq!(set.get(19), Some(&PropertyValue::I4(4)));
    assert_eq!(
        set.get(12),
        Some(&PropertyValue::FileTime(0x0807_0605_0403_0201))
    );
    assert_eq!(set.get(2), None);
    assert_eq!(set.get_string(7).unwrap().unwrap(), "abc");
    assert!(set.get_string(19).unwrap().is_err());
    assert!(set.warnings().is_empty());
}

#[test]
fn a_longer_string_moves_only_what_follows_it() {
    let before = simple();
    let mut set = parse(&before);
    set.set_string(7, "abcdefg").unwrap();
    let after = set.to_bytes();
    let mut expected = before[..96].to_vec();
    put(&mut expected, 48, 84); // section size grew by 4
    put(&mut expected, 76, 64); // pid 19 moved from +60 to +64
    put(&mut expected, 84, 72); // pid 12 moved from +68 to +72
    #[rustfmt::skip]
    expected.extend_from_slice(&[
        30, 0, 0, 0, 8, 0, 0, 0, b'a', b'b', b'c', b'd', b'e', b'f', b'g', 0, // "abcdefg\0"
    ]);
    expected.extend_from_slice(&before[108..]);
    assert_eq!(after, expected);
    // Everything in the data area before the string is untouched.
    assert_eq!(after[88..96], before[88..96]);
    assert_eq!(parse(&after), set);
    assert_eq!(set.get_string(7).unwrap().unwrap(), "abcdefg");
}

#[test]
fn a_shorter_string_shrinks_the_section() {
    let mut set = parse(&simple());
    set.set_string(7, "abcdefgh").unwrap(); // 9 bytes with NUL: +8
    assert_eq!(set.to_bytes().len(), simple().len() + 8);
    set.set_string(7, "").unwrap();
    let b = set.to_bytes();
    assert_eq!(b.len(), simple().len());
    #[rustfmt::skip]
    assert_eq!(b[96..108], [
        30, 0, 0, 0, 1, 0, 0, 0, // "" is one NUL
        0, 0, 0, 0,             // the NUL and zero padding
    ]);
    assert_eq!(b[108..], simple()[108..]);
    assert_eq!(set.get(19), Some(&PropertyValue::I4(4)));
    assert_eq!(set.get_string(7).unwrap().unwrap(), "");
}

#[test]
fn setting_the_same_value_changes_no_byte() {
    let mut bytes = simple();
    bytes[91] = 0xAA; // non-zero padding after the code page
    let mut set = parse(&bytes);
    set.set(1, PropertyValue::I2(1252)).unwrap();
    set.set_string(7, "abc").unwrap();
    assert_eq!(set.to_bytes(), bytes);
}

#[test]
fn odd_lengths_keep_their_padding_until_rewritten() {
    let mut b = header(&[(FMTID_SUMMARY_INFORMATION, 48)]);
    #[rustfmt::skip]
    b.extend_from_slice(&[
        40, 0, 0, 0,            // section size
        2, 0, 0, 0,             // property count
        2, 0, 0, 0, 24, 0, 0, 0,  // pid 2 at +24
        3, 0, 0, 0, 36, 0, 0, 0,  // pid 3 at +36
        30, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', 0, 0xAA, // +24: "ab\0", padding 0xAA
        1, 0, 0, 0,             // +36: VT_NULL
    ]);
    let mut set = parse(&b);
    assert_eq!(set.to_bytes(), b);
    set.set(3, PropertyValue::Empty).unwrap();
    assert_eq!(set.to_bytes()[48 + 24..48 + 36], b[48 + 24..48 + 36]);
    set.set_string(2, "xyzw").unwrap(); // 5 bytes with NUL: 3 of padding
    #[rustfmt::skip]
    assert_eq!(set.to_bytes()[48 + 24..], [
        30, 0, 0, 0, 5, 0, 0, 0, b'x', b'y', b'z', b'w', 0, 0, 0, 0, // zero padded
        0, 0, 0, 0, // VT_EMPTY, now at +40
    ]);
    assert_eq!(set.property_ids(), [2, 3]);
}

#[test]
fn unsorted_table_and_values_in_another_order_round_trip_and_edit() {
    let mut b = header(&[(FMTID_SUMMARY_INFORMATION, 48)]);
    #[rustfmt::skip]
    b.extend_from_slice(&[
        56, 0, 0, 0,              // 48: section size
        3, 0, 0, 0,               // 52: property count
        19, 0, 0, 0, 48, 0, 0, 0, // 56: pid 19 at +48 (last value)
        1, 0, 0, 0, 40, 0, 0, 0,  // 64: pid 1 at +40 (middle)
        7, 0, 0, 0, 32, 0, 0, 0,  // 72: pid 7 at +32 (first value)
        30, 0, 0, 0, 0, 0, 0, 0,  // 80 (+32): zero-size string
        2, 0, 0, 0, 0xE4, 0x04, 0, 0, // 88 (+40): VT_I2 1252
        3, 0, 0, 0, 2, 0, 0, 0,   // 96 (+48): VT_I4 2
    ]);
    let mut set = parse(&b);
    assert_eq!(set.to_bytes(), b);
    assert!(set.warnings().is_empty());
    assert_eq!(set.property_ids(), [19, 1, 7]);
    assert_eq!(set.get_string(7).unwrap().unwrap(), "");
    set.set_string(7, "ab").unwrap();
    let after = set.to_bytes();
    // pid 7 is the first value: the other two move by 4, the table
    // keeps its order.
    #[rustfmt::skip]
    assert_eq!(after[48..92], [
        60, 0, 0, 0, 3, 0, 0, 0,
        19, 0, 0, 0, 52, 0, 0, 0,
        1, 0, 0, 0, 44, 0, 0, 0,
        7, 0, 0, 0, 32, 0, 0, 0,
        30, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', 0, 0,
    ]);
    assert_eq!(after[92..], b[88..]);
    assert_eq!(set.get(19), Some(&PropertyValue::I4(2)));
    assert_eq!(set.code_page(), Some(1252));
}

#[test]
fn a_new_property_goes_at_the_end_of_table_and_data() {
    let before = simple();
    let mut set = parse(&before);
    set.set(15, PropertyValue::I4(5)).unwrap();
    let b = set.to_bytes();
    assert_eq!(set.property_ids(), [1, 7, 19, 12, 15]);
    assert_eq!(b[48..56], [96, 0, 0, 0, 5, 0, 0, 0]); // size 80+8+8, 5 properties
    #[rustfmt::skip]
    assert_eq!(b[56..96], [
        1, 0, 0, 0, 48, 0, 0, 0,   // every old value moved by the new slot
        7, 0, 0, 0, 56, 0, 0, 0,
        19, 0, 0, 0, 68, 0, 0, 0,
        12, 0, 0, 0, 76, 0, 0, 0,
        15, 0, 0, 0, 88, 0, 0, 0,  // the new slot
    ]);
    assert_eq!(b[96..136], before[88..128]);
    assert_eq!(b[136..], [3, 0, 0, 0, 5, 0, 0, 0]);
    assert_eq!(parse(&b), set);
}

#[test]
fn remove_drops_the_slot_and_the_value() {
    let mut set = parse(&simple());
    assert!(set.remove(7).unwrap());
    assert!(!set.remove(7).unwrap());
    assert_eq!(set.property_ids(), [1, 19, 12]);
    let b = set.to_bytes();
    assert_eq!(b[48..56], [60, 0, 0, 0, 3, 0, 0, 0]);
    assert_eq!(
        b[56..80],
        [
            1, 0, 0, 0, 32, 0, 0, 0, 19, 0, 0, 0, 40, 0, 0, 0, 12, 0, 0, 0, 48, 0, 0, 0
        ]
    );
    assert_eq!(
        set.get(12),
        Some(&PropertyValue::FileTime(0x0807_0605_0403_0201))
    );
}

/// Two sections with a 4-byte gap between them and 3 trailing bytes.
fn two_sections() -> Vec<u8> {
    let user = [
        0x05, 0xD5, 0xCD, 0xD5, 0x9C, 0x2E, 0x1B, 0x10, 0x93, 0x97, 0x08, 0x00, 0x2B, 0x2C, 0xF9,
        0xAE,
    ];
    let mut b = header(&[(FMTID_SUMMARY_INFORMATION, 68), (user, 104)]);
    #[rustfmt::skip]
    b.extend_from_slice(&[
        32, 0, 0, 0, 1, 0, 0, 0,   // 68: first section, 32 bytes, 1 property
        2, 0, 0, 0, 16, 0, 0, 0,   // pid 2 at +16
        30, 0, 0, 0, 8, 0, 0, 0, b'T', b'i', b't', b'l', b'e', b'!', b'!', 0, // "Title!!"
        0xEE, 0xEE, 0xEE, 0xEE,    // 100: gap between the sections
        36, 0, 0, 0, 2, 0, 0, 0,   // 104: second section, 36 bytes, 2 properties
        0, 0, 0, 0, 24, 0, 0, 0,   // dictionary at +24
        5, 0, 0, 0, 28, 0, 0, 0,   // pid 5 at +28
        0, 0, 0, 0,                // empty dictionary
        0x48, 0, 0, 0, 9, 9, 9, 9, // an unknown type 0x48, kept raw
        1, 2, 3,                   // trailing bytes
    ]);
    b
}

#[test]
fn a_second_section_moves_when_the_first_grows() {
    let before = two_sections();
    let mut set = parse(&before);
    assert_eq!(set.to_bytes(), before);
    assert_eq!(set.section_count(), 2);
    assert_eq!(set.code_page(), None);
    set.set_string(2, "A longer title").unwrap(); // 15 bytes with NUL: +8
    let b = set.to_bytes();
    assert_eq!(b[..64], before[..64]);
    assert_eq!(b[64..68], [112, 0, 0, 0]); // second section offset 104 + 8
    assert_eq!(b[68..72], [40, 0, 0, 0]);
    assert_eq!(b[108..], before[100..]); // gap, second section, trailer
    set.set(9, PropertyValue::Lpstr(b"{GUID}".to_vec()))
        .unwrap();
    let b = set.to_bytes();
    assert_eq!(b[64..68], [136, 0, 0, 0]); // + 8 slot + 12 value
    assert_eq!(b[132..], before[100..]);
    let reparsed = parse(&b);
    assert_eq!(reparsed.get_string(9).unwrap().unwrap(), "{GUID}");
}

#[test]
fn unknown_types_and_dictionaries_round_trip() {
    let bytes = two_sections();
    let mut set = parse(&bytes);
    set.set(
        2,
        PropertyValue::Other {
            vt: 0x48,
            data: vec![7; 4],
        },
    )
    .unwrap();
    assert_eq!(
        set.get(2),
        Some(&PropertyValue::Other {
            vt: 0x48,
            data: vec![7; 4]
        })
    );
    assert!(set.set(0, PropertyValue::I4(1)).is_err());
    assert!(set.set(3, PropertyValue::Dictionary(vec![0; 4])).is_err());
}

#[test]
fn code_page_1200_strings_are_utf16() {
    let mut b = header(&[(FMTID_SUMMARY_INFORMATION, 48)]);
    #[rustfmt::skip]
    b.extend_from_slice(&[
        40, 0, 0, 0, 2, 0, 0, 0,   // size, 2 properties
        1, 0, 0, 0, 24, 0, 0, 0,   // pid 1 at +24
        2, 0, 0, 0, 32, 0, 0, 0,   // pid 2 at +32
        2, 0, 0, 0, 0xB0, 0x04, 0, 0, // VT_I2 1200
        30, 0, 0, 0, 6, 0, 0, 0,   // VT_LPSTR, 6 bytes
        b'h', 0, 0xE9, 0, 0, 0, 0, 0, // "hé" + 2-byte NUL + padding
    ]);
    put(&mut b, 48, 48);
    let mut set = parse(&b);
    assert_eq!(set.to_bytes(), b);
    assert_eq!(set.code_page(), Some(1200));
    assert_eq!(
        set.get(2),
        Some(&PropertyValue::Lpstr(vec![b'h', 0, 0xE9, 0]))
    );
    assert_eq!(set.get_string(2).unwrap().unwrap(), "hé");
    set.set_string(2, "€☃").unwrap();
    assert_eq!(
        set.to_bytes()[80..96],
        [30, 0, 0, 0, 6, 0, 0, 0, 0xAC, 0x20, 0x03, 0x26, 0, 0, 0, 0]
    );
    assert!(set.set(2, PropertyValue::Lpstr(vec![1, 2, 3])).is_err());
}

#[test]
fn code_page_1252_strings_are_sized_in_bytes() {
    let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
    set.set(1, PropertyValue::I2(1252)).unwrap();
    set.set_string(2, "é").unwrap();
    let b = set.to_bytes();
    assert_eq!(b[b.len() - 12..], [30, 0, 0, 0, 2, 0, 0, 0, 0xE9, 0, 0, 0]);
    assert_eq!(set.get(2), Some(&PropertyValue::Lpstr(vec![0xE9])));
    assert_eq!(set.get_string(2).unwrap().unwrap(), "é");
    let before = set.to_bytes();
    let e = set.set_string(2, "snow☃").unwrap_err();
    assert!(e.reason.contains("U+2603"), "{e}");
    assert!(set.set_string(2, "a\0b").is_err());
    assert_eq!(set.to_bytes(), before);
}

#[test]
fn a_missing_terminator_is_reported_and_kept() {
    let mut b = simple();
    b[107] = b'd'; // "abcd", no NUL
    let set = parse(&b);
    assert_eq!(set.to_bytes(), b);
    assert_eq!(set.get_string(7).unwrap().unwrap(), "abcd");
    assert_eq!(set.warnings().len(), 1);
    assert!(set.warnings()[0].reason.contains("no NUL"));
}

#[test]
fn trailing_nuls_are_stripped_when_reading_text() {
    let mut b = simple();
    b[106] = 0; // "ab\0\0"
    assert_eq!(parse(&b).get_string(7).unwrap().unwrap(), "ab");
}

#[test]
fn new_set_is_minimal_and_parses() {
    let set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
    let b = set.to_bytes();
    assert_eq!(b.len(), 56);
    assert_eq!(b[..8], [0xFE, 0xFF, 0, 0, 0x06, 0x01, 0x02, 0x00]);
    assert_eq!(b[24..28], [1, 0, 0, 0]);
    assert_eq!(b[44..56], [48, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse(&b), set);
}

#[test]
fn malformed_headers_are_errors() {
    assert_eq!(
        err(&[0xFE, 0xFF]),
        "at offset 0x0: the stream is 2 bytes, shorter than the 28-byte header"
    );
    let mut b = simple();
    b[0] = 0xFF;
    assert_eq!(
        err(&b),
        "at offset 0x0: byte order mark is 0xffff, expected 0xfffe"
    );
    let mut b = simple();
    put(&mut b, 24, u32::MAX);
    assert_eq!(
        err(&b),
        "at offset 0x18: 4294967295 sections declared but the 128-byte stream has room for 5"
    );
    put(&mut b, 24, 0);
    assert!(err(&b).contains("no section"));
    let mut b = simple();
    put(&mut b, 44, 4000);
    assert!(
        err(&b).starts_with("at offset 0x2c: section 0 offset 0xfa0 is outside"),
        "{}",
        err(&b)
    );
    put(&mut b, 44, 20);
    assert!(err(&b).contains("outside"));
}

#[test]
fn malformed_sections_are_errors() {
    let mut b = simple();
    put(&mut b, 48, 0x7FFF_FFFF);
    assert_eq!(
        err(&b),
        "at offset 0x30: section 0 declares 2147483647 bytes but only 80 bytes remain"
    );
    let mut b = simple();
    put(&mut b, 52, 0x4000_0000);
    assert_eq!(
        err(&b),
        "at offset 0x34: section 0 declares 1073741824 properties but its 80 bytes have room for 9"
    );
    let mut b = simple();
    put(&mut b, 60, 8);
    assert!(err(&b).contains("points into the property table"));
    let mut b = simple();
    put(&mut b, 68, 78);
    assert_eq!(
        err(&b),
        "at offset 0x44: property 7 offset 0x4e is beyond the 80-byte section 0"
    );
    let mut b = simple();
    put(&mut b, 68, 40);
    assert!(err(&b).contains("share the value"));
    let mut b = simple();
    put(&mut b, 100, 9999);
    assert_eq!(
        err(&b),
        "at offset 0x60: property 7 declares a 9999-byte string but only 4 bytes remain"
    );
    let mut b = two_sections();
    put(&mut b, 68, 40);
    assert!(err(&b).contains("starts inside section 0"));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let b = two_sections();
    for len in 0..b.len() {
        let _ = PropertySet::parse(&b[..len]);
    }
    for len in 0..simple().len() {
        assert!(PropertySet::parse(&simple()[..len]).is_err(), "{len}");
    }
}

#[test]
fn converts_to_a_format_error_with_the_offset() {
    let e: crate::error::Error = PropertySet::parse(&[]).unwrap_err().into();
    assert_eq!(e.kind(), crate::error::ErrorKind::Format);
    assert_eq!(e.part(), Some("offset 0x0"));
}

#[derive(Debug, Clone)]
enum Op {
    Set(u32, PropertyValue),
    Text(u32, String),
    Remove(u32),
}

fn value() -> impl Strategy<Value = PropertyValue> {
    prop_oneof![
        Just(PropertyValue::Empty),
        Just(PropertyValue::Null),
        any::<i16>().prop_map(PropertyValue::I2),
        any::<i32>().prop_map(PropertyValue::I4),
        any::<u32>().prop_map(PropertyValue::U4),
        any::<u64>().prop_map(PropertyValue::FileTime),
        proptest::collection::vec(1u8..=255, 0..40).prop_map(PropertyValue::Lpstr),
        (100u16..200, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(vt, data)| {
            PropertyValue::Other {
                vt,
                data: [data.as_slice(), &[0; 3]].concat()[..data.len() & !3].to_vec(),
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (2u32..12, value()).prop_map(|(pid, v)| Op::Set(pid, v)),
        (2u32..12, "[a-zA-Zé;:{}-]{0,20}").prop_map(|(pid, s)| Op::Text(pid, s)),
        (1u32..12).prop_map(Op::Remove),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = PropertySet::parse(&bytes);
    }

    #[test]
    fn corrupted_valid_sets_never_panic(pos in 0usize..143, word in any::<u32>()) {
        let mut b = two_sections();
        let end = (pos + 4).min(b.len());
        b[pos..end].copy_from_slice(&word.to_le_bytes()[..end - pos]);
        if let Ok(set) = PropertySet::parse(&b) {
            prop_assert_eq!(set.to_bytes(), b);
        }
    }

    #[test]
    fn edits_keep_the_set_valid(ops in proptest::collection::vec(op(), 0..20)) {
        let mut set = PropertySet::parse(&two_sections()).unwrap();
        let mut model = std::collections::BTreeMap::new();
        model.insert(2u32, PropertyValue::Lpstr(b"Title!!".to_vec()));
        for op in ops {
            match op {
                Op::Set(pid, v) => {
                    set.set(pid, v.clone()).unwrap();
                    model.insert(pid, v);
                }
                Op::Text(pid, s) => {
                    set.set_string(pid, &s).unwrap();
                    model.insert(pid, PropertyValue::Lpstr(msi::CodePage::Windows1252.encode(&s)));
                }
                Op::Remove(pid) => {
                    prop_assert_eq!(set.remove(pid).unwrap(), model.remove(&pid).is_some());
                }
            }
            let reparsed = PropertySet::parse(&set.to_bytes()).unwrap();
            prop_assert_eq!(&reparsed, &set);
        }
        for (pid, v) in &model {
            prop_assert_eq!(set.get(*pid), Some(v));
        }
        prop_assert_eq!(set.property_ids().len(), model.len());
        let b = set.to_bytes();
        // The second section and what surrounds it never change.
        prop_assert_eq!(&b[b.len() - 43..], &two_sections()[two_sections().len() - 43..]);
    }
}

#[test]
fn a_dictionary_read_as_a_typed_string_must_fit() {
    // Property 0 is kept raw by the parser; read as a typed value it is a
    // VT_LPSTR of `len` bytes.
    let with_dictionary = |len: u32| {
        let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
        let mut raw = 30u32.to_le_bytes().to_vec();
        raw.extend_from_slice(&len.to_le_bytes());
        raw.extend_from_slice(b"abcd");
        set.set(PID_DICTIONARY, PropertyValue::Dictionary(raw))
            .unwrap();
        PropertySet::parse(&set.to_bytes()).unwrap()
    };
    assert_eq!(with_dictionary(4).check_dictionary_as_typed(), Ok(()));
    let e = with_dictionary(0xFFFF_FFF0)
        .check_dictionary_as_typed()
        .unwrap_err();
    assert_eq!(
        e.reason,
        "property 0 declares a 4294967280-byte string; only 4 bytes follow"
    );
    // A set without a dictionary has nothing to check.
    let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
    set.set(2, PropertyValue::Lpstr(b"abc".to_vec())).unwrap();
    assert_eq!(set.check_dictionary_as_typed(), Ok(()));
}
