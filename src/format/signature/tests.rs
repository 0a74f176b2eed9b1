use std::io::{Cursor, Write};

use cfb::CompoundFile;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::fixture::{FIXTURE_SIGNER, sign, signature_blob};
use super::*;
use crate::format::container::filetime;
use crate::testkit::synth::{PatchSpec, write_patch};

type Mem = CompoundFile<Cursor<Vec<u8>>>;

fn key(name: &str) -> Vec<u8> {
    let mut k: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    k.extend_from_slice(&[0, 0]);
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<&str> = names.to_vec();
    v.sort_by(|a, b| hash_order(&key(a), &key(b)));
    v.into_iter().map(str::to_string).collect()
}

#[test]
fn names_sort_by_their_stored_bytes() {
    // Upper case before lower case (0x5A < 0x61), a prefix before the
    // longer name (the terminator's 0x00 is smallest), and U+0100 (stored
    // 00 01) before 'B' (stored 42 00): byte order of UTF-16LE, not code
    // point order and not the compound file's length-first order.
    assert_eq!(
        sorted(&["a", "Z", "AB", "A", "B", "\u{100}", "\u{5}Summary"]),
        ["\u{100}", "\u{5}Summary", "A", "AB", "B", "Z", "a"]
    );
    // Keys equal over the shorter length (no terminator): the longer first.
    assert_eq!(
        hash_order(b"ab", b"abc"),
        std::cmp::Ordering::Greater,
        "the longer name comes first"
    );
    assert_eq!(hash_order(b"abc", b"ab"), std::cmp::Ordering::Less);
}

fn empty_cf() -> Mem {
    let mut cf =
        CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())).unwrap();
    cf.set_storage_clsid("/", crate::format::container::CLSID_PATCH)
        .unwrap();
    cf
}

fn put(cf: &mut Mem, path: &str, bytes: &[u8]) {
    cf.create_stream(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn the_digest_is_the_content_in_byte_order_then_clsids() {
    let mut cf = empty_cf();
    let storage_clsid = Uuid::from_u128(0x0011_2233_4455_6677_8899_AABB_CCDD_EEFF);
    put(&mut cf, "/a", b"lower");
    put(&mut cf, "/B", b"upper");
    cf.create_storage("/S").unwrap();
    cf.set_storage_clsid("/S", storage_clsid).unwrap();
    put(&mut cf, "/S/x", b"inner");
    // Signature streams at the root are left out; elsewhere they count.
    put(&mut cf, "/\u{5}DigitalSignature", b"ignored");
    put(&mut cf, "/\u{5}MsiDigitalSignatureEx", b"ignored too");
    put(&mut cf, "/S/\u{5}DigitalSignature", b"counted");

    // B (42 00) < S (53 00) < a (61 00); in S, \005 (05 00) < x (78 00).
    let mut want = Sha256::new();
    Digest::update(&mut want, b"upper");
    Digest::update(&mut want, b"counted");
    Digest::update(&mut want, b"inner");
    Digest::update(&mut want, storage_clsid.to_bytes_le());
    Digest::update(&mut want, b"lower");
    Digest::update(
        &mut want,
        crate::format::container::CLSID_PATCH.to_bytes_le(),
    );
    let got = msi_digest(&mut cf, DigestAlgorithm::Sha256, false).unwrap();
    assert_eq!(got, Digest::finalize(want).to_vec());
}

#[test]
fn the_prehash_covers_metadata_in_the_same_order() {
    let mut cf = empty_cf();
    put(&mut cf, "/b", b"12345");
    cf.create_storage("/S").unwrap();
    cf.set_state_bits("/S", 7).unwrap();
    cf.set_state_bits("/", 3).unwrap();
    put(&mut cf, "/\u{5}DigitalSignature", b"ignored");
    let s = cf.entry("/S").unwrap();
    let (created, modified) = (filetime(s.created()), filetime(s.modified()));

    let mut want = Sha256::new();
    Digest::update(
        &mut want,
        crate::format::container::CLSID_PATCH.to_bytes_le(),
    );
    Digest::update(&mut want, 3u32.to_le_bytes());
    // S (53 00) before b (62 00): name, CLSID, state bits, times.
    Digest::update(&mut want, &key("S")[..2]);
    Digest::update(&mut want, [0u8; 16]);
    Digest::update(&mut want, 7u32.to_le_bytes());
    Digest::update(&mut want, created.to_le_bytes());
    Digest::update(&mut want, modified.to_le_bytes());
    // b: name, 32-bit size, state bits, zero times.
    Digest::update(&mut want, &key("b")[..2]);
    Digest::update(&mut want, 5u32.to_le_bytes());
    Digest::update(&mut want, 0u32.to_le_bytes());
    Digest::update(&mut want, [0u8; 16]);
    assert_eq!(
        prehash(&mut cf, DigestAlgorithm::Sha256).unwrap(),
        Digest::finalize(want).to_vec()
    );
    // With the pre-hash, the digest is H(pre-hash || content).
    let pre = prehash(&mut cf, DigestAlgorithm::Sha256).unwrap();
    let mut want = Sha256::new();
    Digest::update(&mut want, &pre);
    Digest::update(&mut want, [0u8; 16]); // S: no streams, its nil CLSID
    Digest::update(&mut want, b"12345");
    Digest::update(
        &mut want,
        crate::format::container::CLSID_PATCH.to_bytes_le(),
    );
    assert_eq!(
        msi_digest(&mut cf, DigestAlgorithm::Sha256, true).unwrap(),
        Digest::finalize(want).to_vec()
    );
}

fn signed_patch(alg: DigestAlgorithm, with_ex: bool) -> Mem {
    let bytes = write_patch(&PatchSpec::single_product(), Cursor::new(Vec::new()))
        .unwrap()
        .into_inner();
    let mut cf = CompoundFile::open(Cursor::new(bytes)).unwrap();
    sign(&mut cf, alg, with_ex, 1_700_000_000).unwrap();
    cf
}

#[test]
fn a_signed_patch_is_valid_with_every_algorithm() {
    for alg in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        for with_ex in [false, true] {
            let mut cf = signed_patch(alg, with_ex);
            let r = examine(&mut cf).unwrap().unwrap();
            assert_eq!(r.verdict, Verdict::Valid, "{alg:?} {with_ex}: {r:?}");
            assert_eq!(r.digest_algorithm, alg);
            assert_eq!(r.signed_digest.len(), alg.digest_len() * 2);
            assert_eq!(r.signed_digest, r.computed_digest);
            assert_eq!(r.msi_digital_signature_ex, with_ex);
            assert_eq!(r.signer.issuer.as_deref(), Some(FIXTURE_SIGNER));
            assert_eq!(r.signer.serial.as_deref(), Some("01234567"));
            assert_eq!(r.signing_time.as_deref(), Some("2023-11-14 22:13:20 UTC"));
            assert!(r.summary().starts_with("valid ("), "{}", r.summary());
        }
    }
}

#[test]
fn an_unsigned_file_has_no_signature() {
    let mut cf = empty_cf();
    put(&mut cf, "/a", b"x");
    assert_eq!(examine(&mut cf).unwrap(), None);
    assert_eq!(SignatureState::of(&mut cf), SignatureState::Unsigned);
}

#[test]
fn a_changed_stream_makes_it_stale() {
    for with_ex in [false, true] {
        let mut cf = signed_patch(DigestAlgorithm::Sha256, with_ex);
        let name = format!(
            "/{}",
            crate::format::streamname::encode("MsiPatchMetadata", true)
        );
        cf.open_stream(&name).unwrap().write_all(b"!").unwrap();
        let r = examine(&mut cf).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Stale);
        assert_ne!(r.signed_digest, r.computed_digest);
        assert!(r.reason.unwrap().contains("changed after signing"));
    }
}

#[test]
fn metadata_counts_only_with_msi_digital_signature_ex() {
    // State bits are metadata: outside the content digest, inside the
    // pre-hash.
    for (with_ex, verdict) in [(false, Verdict::Valid), (true, Verdict::Stale)] {
        let mut cf = signed_patch(DigestAlgorithm::Sha256, with_ex);
        cf.set_state_bits("/rtmA.1", 1).unwrap();
        let r = examine(&mut cf).unwrap().unwrap();
        assert_eq!(r.verdict, verdict, "with_ex {with_ex}");
    }
}

#[test]
fn a_storage_clsid_counts_in_the_content_digest() {
    let mut cf = signed_patch(DigestAlgorithm::Sha1, false);
    cf.set_storage_clsid("/rtmA.1", Uuid::nil()).unwrap();
    assert_eq!(examine(&mut cf).unwrap().unwrap().verdict, Verdict::Stale);
}

#[test]
fn an_ex_stream_of_the_wrong_length_is_stale() {
    let mut cf = signed_patch(DigestAlgorithm::Sha256, true);
    put(&mut cf, "/\u{5}MsiDigitalSignatureEx", &[0u8; 20]);
    let r = examine(&mut cf).unwrap().unwrap();
    assert_eq!(r.verdict, Verdict::Stale);
    assert!(r.reason.unwrap().contains("holds 20 bytes"));
}

#[test]
fn an_ex_stream_without_a_signature_is_an_error() {
    let mut cf = empty_cf();
    put(&mut cf, "/\u{5}MsiDigitalSignatureEx", &[0u8; 32]);
    let e = examine(&mut cf).unwrap_err();
    assert!(e.to_string().contains("no \\005DigitalSignature"), "{e}");
    assert!(matches!(
        SignatureState::of(&mut cf),
        SignatureState::Unreadable(_)
    ));
}

#[test]
fn a_signature_storage_is_an_error_naming_it() {
    for name in ["/\u{5}DigitalSignature", "/\u{5}MsiDigitalSignatureEx"] {
        let mut cf = empty_cf();
        cf.create_storage(name).unwrap();
        let e = examine(&mut cf).unwrap_err();
        assert!(e.to_string().contains("storage \\005"), "{e}");
        assert!(e.to_string().contains("is a storage, not a stream"), "{e}");
        assert!(matches!(
            SignatureState::of(&mut cf),
            SignatureState::Unreadable(_)
        ));
    }
}

fn with_blob(blob: &[u8]) -> crate::error::Error {
    let mut cf = signed_patch(DigestAlgorithm::Sha256, false);
    put(&mut cf, "/\u{5}DigitalSignature", blob);
    examine(&mut cf).unwrap_err()
}

#[test]
fn malformed_signatures_are_errors_naming_the_stream() {
    let good = signature_blob(DigestAlgorithm::Sha256, &[7u8; 32], 0).unwrap();
    let unknown = {
        // The same shape with an unknown OID (1.2.840.113549.2.5.0, the
        // length of SHA-256's) where SHA-256's is.
        let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
        let mut b = good.clone();
        let mut n = 0;
        while let Some(at) = b.windows(9).position(|w| w == sha256) {
            b[at..at + 9].copy_from_slice(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x05, 0x00]);
            n += 1;
        }
        assert_eq!(n, 3, "digestAlgorithms, the indirect data, the signer");
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "ContentInfo"),
        ("text", b"not a signature".to_vec(), "ContentInfo"),
        ("truncated", good[..good.len() / 2].to_vec(), "ContentInfo"),
        ("unknown algorithm", unknown, "does not support"),
        (
            "not signed data",
            der::Encode::to_der(&cms::content_info::ContentInfo {
                content_type: ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1"),
                content: Any::null(),
            })
            .unwrap(),
            "not SignedData",
        ),
    ];
    for (what, blob, needle) in cases {
        let e = with_blob(&blob);
        let text = e.to_string();
        assert_eq!(e.kind(), crate::error::ErrorKind::Format, "{what}");
        assert!(
            text.contains("stream \\005DigitalSignature"),
            "{what}: {text}"
        );
        assert!(text.contains(needle), "{what}: {text}");
    }
}

#[test]
fn an_altered_indirect_digest_is_stale() {
    // Replace the signed MSI digest inside the blob without updating the
    // signer's messageDigest: the signature no longer covers itself.
    let mut cf = signed_patch(DigestAlgorithm::Sha256, false);
    let right = msi_digest(&mut cf, DigestAlgorithm::Sha256, false).unwrap();
    let mut blob = signature_blob(DigestAlgorithm::Sha256, &right, 0).unwrap();
    let at = blob
        .windows(32)
        .position(|w| w == right.as_slice())
        .unwrap();
    blob[at] ^= 1;
    put(&mut cf, "/\u{5}DigitalSignature", &blob);
    let r = examine(&mut cf).unwrap().unwrap();
    assert_eq!(r.verdict, Verdict::Stale);
    assert!(r.reason.unwrap().contains("messageDigest"));
}

#[test]
fn a_huge_signature_stream_is_refused_before_reading() {
    let mut cf = signed_patch(DigestAlgorithm::Sha256, false);
    put(
        &mut cf,
        "/\u{5}DigitalSignature",
        &vec![0u8; MAX_SIGNATURE_LEN as usize + 1],
    );
    let e = examine(&mut cf).unwrap_err();
    assert!(e.to_string().contains("limited to"), "{e}");
}

#[test]
fn filetime_inverts_cfb() {
    let mut cf = empty_cf();
    cf.create_storage("/S").unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_234_567_890, 123_456_700);
    cf.set_modified_time("/S", t).unwrap();
    assert_eq!(
        filetime(cf.entry("/S").unwrap().modified()),
        116_444_736_000_000_000 + 12_345_678_901_234_567
    );
    assert_eq!(filetime(std::time::UNIX_EPOCH), 116_444_736_000_000_000);
}

#[test]
fn serials_show_without_the_sign_byte() {
    assert_eq!(serial_text(&[0x00, 0x8A, 0x01]), "8A01");
    assert_eq!(serial_text(&[0x00]), "00");
    assert_eq!(serial_text(&[0x01, 0x23]), "0123");
    assert_eq!(serial_text(&[0x00, 0x7F]), "007F");
}
