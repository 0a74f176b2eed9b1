//! Authenticode signatures of Windows Installer files: is the signature
//! still valid for this content, and who signed it.
//!
//! A signed .msi or .msp carries a PKCS#7 `SignedData` in the root stream
//! `\005DigitalSignature`. Its content is an `SpcIndirectDataContent`
//! (OID 1.3.6.1.4.1.311.2.1.4) whose `messageDigest` is a hash of the
//! file's entries. [`examine`] recomputes that hash and compares: `valid`
//! means the content is what was signed, `stale` that it changed since.
//!
//! What this module does **not** do: it does not check the signature value
//! against the signer's public key, nor the certificate chain, its
//! revocation or its trust. Whether a signer is trusted is the business of
//! the machine that installs the patch (and of `signtool verify` or
//! `osslsigncode verify`); this tool answers whether the content still
//! matches the digest that was signed, and names the signer.
//!
//! # The MSI digest
//!
//! Microsoft's "Windows Authenticode Portable Executable Signature Format"
//! covers PE files only; the MSI digest is documented by its independent
//! implementations. The facts below were read in osslsigncode's `msi.c`
//! (functions `msi_hash_dir`, `msi_prehash_dir`, `prehash_metadata`,
//! `dirent_cmp_hash`, `msi_verify_digests`); the code here is written from
//! them, and the conformance suite (`conformance/signing.sh`) checks the
//! verdicts against `osslsigncode verify` on files it signs.
//!
//! * **Order.** The entries of a storage are taken in the order of their
//!   names' stored bytes: UTF-16LE with the two-byte terminator, compared
//!   byte by byte over the shorter length; when one name's bytes are a
//!   prefix of the other's, the longer comes first. (Not the compound
//!   file's red-black-tree order, which compares lengths first.)
//! * **Content hash.** For each entry in that order: a stream contributes
//!   its bytes; a storage contributes, recursively, the hash input of its
//!   own entries followed by its 16-byte CLSID as stored. After the root's
//!   entries comes the root's CLSID. The root streams `\005DigitalSignature`
//!   and `\005MsiDigitalSignatureEx` are left out (at the root only).
//! * **`\005MsiDigitalSignatureEx`.** When present, it holds a pre-hash of
//!   the entries' metadata, and the digest is the hash of that pre-hash
//!   followed by the content hash input. The pre-hash covers, for the root:
//!   its CLSID and state bits; then for each entry in the same order, a
//!   stream's name (UTF-16LE, no terminator), the low 32 bits of its size,
//!   its state bits and its creation and modification times; a storage's
//!   name, CLSID, state bits and times, then its own entries. The stream
//!   must be exactly one digest long. As in osslsigncode, the pre-hash is
//!   computed from the file, not taken from the stream.
//!
//! Entry metadata comes from the `cfb` crate, which reads a stream's
//! CLSID and times as zero when a (non-conforming) file stores others.
//!
//! DER parsing is the RustCrypto crates' (`cms`, `x509-cert`, `der`),
//! hashing `sha1` and `sha2`; only the three small Authenticode structures
//! are declared here. Streams are hashed in 64 KiB chunks, the signature
//! stream is read only up to [`MAX_SIGNATURE_LEN`], and storage nesting is
//! bounded, so a hostile file costs time linear in its size.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use der::{Any, Decode, Reader, Sequence, SliceReader, Tag, TagNumber, Tagged};
use serde::Serialize;
use sha2::digest::DynDigest;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::error::{Error, Result};
use crate::format::container::{EntryInfo, Storage, stream_part};

/// How to sign a patch again after `--strip-signature`, for messages: the
/// commands docs/signing.md explains.
pub const RESIGN: &str = "sign the result again: `osslsigncode sign -pkcs12 CERT.pfx -h sha256 \
     -in OUT.msp -out SIGNED.msp` on Linux, `signtool sign /fd SHA256 /f CERT.pfx OUT.msp` on \
     Windows (see docs/signing.md)";

/// The root stream that holds the PKCS#7 signature.
pub const DIGITAL_SIGNATURE: &str = "\u{5}DigitalSignature";
/// The root stream that holds the metadata pre-hash.
pub const DIGITAL_SIGNATURE_EX: &str = "\u{5}MsiDigitalSignatureEx";
/// The root streams whose presence makes a file signed.
pub const STREAMS: [&str; 2] = [DIGITAL_SIGNATURE, DIGITAL_SIGNATURE_EX];

/// The signature entries at the root of `cf`, found as the compound file
/// finds any name (ignoring case): what makes a file signed for the
/// patch reader, `inspect`, the product editor and [`SignatureState::of`]
/// alike. An entry of that name that is a storage counts: examining it
/// says what is wrong with it.
pub fn streams_present<S: Storage>(cf: &S) -> Vec<String> {
    STREAMS
        .iter()
        .filter(|n| Storage::exists(cf, &Path::new("/").join(n)))
        .map(|n| n.to_string())
        .collect()
}

/// Longest `\005DigitalSignature` stream read: real ones hold a few
/// certificates and weigh a few KiB to a few tens of KiB.
pub const MAX_SIGNATURE_LEN: u64 = 4 << 20;
/// Deepest storage nesting hashed (patches nest two levels).
const MAX_DEPTH: usize = 64;
/// Size of the reads that feed the hash.
const CHUNK: usize = 64 * 1024;

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_SPC_INDIRECT_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_COUNTERSIGNATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.6");
/// RFC 3161 time-stamp token as an unsigned attribute (Microsoft's OID).
const OID_RFC3161_TIMESTAMP: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.3.3.1");
/// Nested signature (`signtool sign /as`, `osslsigncode -nest`).
const OID_NESTED_SIGNATURE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.4.1");

/// A digest algorithm Authenticode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestAlgorithm {
    /// SHA-1 (OID 1.3.14.3.2.26).
    Sha1,
    /// SHA-256 (OID 2.16.840.1.101.3.4.2.1).
    Sha256,
    /// SHA-384 (OID 2.16.840.1.101.3.4.2.2).
    Sha384,
    /// SHA-512 (OID 2.16.840.1.101.3.4.2.3).
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm an OID names, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<DigestAlgorithm> {
        Some(match oid.to_string().as_str() {
            "1.3.14.3.2.26" => DigestAlgorithm::Sha1,
            "2.16.840.1.101.3.4.2.1" => DigestAlgorithm::Sha256,
            "2.16.840.1.101.3.4.2.2" => DigestAlgorithm::Sha384,
            "2.16.840.1.101.3.4.2.3" => DigestAlgorithm::Sha512,
            _ => return None,
        })
    }

    /// Its usual name: `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "SHA-1",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha384 => "SHA-384",
            DigestAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha1 => 20,
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha384 => 48,
            DigestAlgorithm::Sha512 => 64,
        }
    }

    fn hasher(self) -> Box<dyn DynDigest> {
        match self {
            DigestAlgorithm::Sha1 => Box::new(sha1::Sha1::default()),
            DigestAlgorithm::Sha256 => Box::new(sha2::Sha256::default()),
            DigestAlgorithm::Sha384 => Box::new(sha2::Sha384::default()),
            DigestAlgorithm::Sha512 => Box::new(sha2::Sha512::default()),
        }
    }
}

/// Whether the signed digest still matches the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The content is what was signed.
    Valid,
    /// The content changed since it was signed (or the signature's parts
    /// do not match each other).
    Stale,
}

/// Who signed, as the signature names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// Subject of the signer's certificate (RFC 4514), when the signature
    /// carries that certificate.
    pub subject: Option<String>,
    /// Issuer of the signer's certificate (RFC 4514).
    pub issuer: Option<String>,
    /// Serial number of the signer's certificate, upper-case hex.
    pub serial: Option<String>,
}

/// What [`examine`] finds in a signed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// `valid` or `stale`.
    pub verdict: Verdict,
    /// Why it is stale, when it is.
    pub reason: Option<String>,
    /// The digest algorithm of the signed MSI digest.
    pub digest_algorithm: DigestAlgorithm,
    /// The digest the signature holds, lower-case hex.
    pub signed_digest: String,
    /// The digest of the file's content now, lower-case hex.
    pub computed_digest: String,
    /// Whether `\005MsiDigitalSignatureEx` is present (its metadata
    /// pre-hash is then part of the digest).
    pub msi_digital_signature_ex: bool,
    /// The signer.
    pub signer: Signer,
    /// The signing time the signer claims (signed attribute), when present.
    pub signing_time: Option<String>,
    /// The time of a countersignature or RFC 3161 time stamp, when present.
    pub countersignature_time: Option<String>,
    /// Whether more signatures are nested in this one (only the outer one
    /// is checked).
    pub nested_signatures: usize,
}

impl SignatureReport {
    /// One line for people: `valid (SHA-256), signed by CN=...`.
    pub fn summary(&self) -> String {
        let who = self
            .signer
            .subject
            .as_deref()
            .or(self.signer.issuer.as_deref())
            .unwrap_or("an unnamed signer");
        match self.verdict {
            Verdict::Valid => format!("valid ({}), signed by {who}", self.digest_algorithm.name()),
            Verdict::Stale => format!(
                "stale ({}), signed by {who}: {}",
                self.digest_algorithm.name(),
                self.reason.as_deref().unwrap_or("the content changed")
            ),
        }
    }
}

/// What is known of a file's signature, for `check`'s lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// No signature stream.
    Unsigned,
    /// Signature streams are present but were not examined (a patch
    /// borrowed read-only cannot have its streams hashed).
    NotChecked,
    /// Examined: valid or stale.
    Checked(Box<SignatureReport>),
    /// Present but unreadable: the error, naming the stream.
    Unreadable(String),
}

impl SignatureState {
    /// Examines `cf` (see [`examine`]); an unreadable signature becomes
    /// [`SignatureState::Unreadable`] instead of an error.
    pub fn of<S: Storage>(cf: &mut S) -> SignatureState {
        if streams_present(cf).is_empty() {
            return SignatureState::Unsigned;
        }
        match examine(cf) {
            Ok(Some(r)) => SignatureState::Checked(Box::new(r)),
            Ok(None) => SignatureState::Unsigned,
            Err(e) => SignatureState::Unreadable(e.to_string()),
        }
    }

    /// The report, when the signature was examined.
    pub fn report(&self) -> Option<&SignatureReport> {
        match self {
            SignatureState::Checked(r) => Some(r),
            _ => None,
        }
    }
}

//==========================================================================//
// Authenticode structures (the only ASN.1 declared by hand)

/// `SpcAttributeTypeAndOptionalValue`.
#[derive(Debug, Sequence)]
struct SpcAttributeTypeAndOptionalValue {
    kind: ObjectIdentifier,
    #[asn1(optional = "true")]
    value: Option<Any>,
}

/// `DigestInfo` (PKCS#1).
#[derive(Debug, Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// `SpcIndirectDataContent`.
#[derive(Debug, Sequence)]
struct SpcIndirectDataContent {
    data: SpcAttributeTypeAndOptionalValue,
    message_digest: DigestInfo,
}

//==========================================================================//
// Entry point

/// Examines the signature of the compound file `cf`. `None` when the file
/// has no `\005DigitalSignature` stream; an error naming the stream when
/// the signature cannot be read or parsed; otherwise the verdict, the
/// algorithm and the signer.
pub fn examine<S: Storage>(cf: &mut S) -> Result<Option<SignatureReport>> {
    let root = Path::new("/");
    let sig_path = root.join(DIGITAL_SIGNATURE);
    let ex_path = root.join(DIGITAL_SIGNATURE_EX);
    for p in [&sig_path, &ex_path] {
        if Storage::is_storage(cf, p) {
            return Err(Error::format(
                "is a storage, not a stream: it cannot hold a signature, and Windows treats \
                 the file as badly signed",
            )
            .at(crate::format::container::storage_part(
                &crate::format::container::path_text(p),
            )));
        }
    }
    let has_ex = Storage::is_stream(cf, &ex_path);
    if !Storage::is_stream(cf, &sig_path) {
        if has_ex {
            return Err(Error::format(
                "the file has \\005MsiDigitalSignatureEx but no \\005DigitalSignature stream: \
                 a signature was removed incompletely",
            )
            .at(stream_part(&ex_path)));
        }
        return Ok(None);
    }
    let blob = crate::format::container::read_stream_bounded(cf, &sig_path, MAX_SIGNATURE_LEN)?;
    let parsed = parse_pkcs7(&blob).map_err(|e| {
        Error::format(format!("is not a readable Authenticode signature: {e}"))
            .at(stream_part(&sig_path))
    })?;
    let ex = if has_ex {
        Some(crate::format::container::read_stream_bounded(
            cf, &ex_path, 64,
        )?)
    } else {
        None
    };

    let alg = parsed.algorithm;
    let mut reason = parsed.attributes_mismatch.clone();
    if let Some(ex) = &ex
        && ex.len() != alg.digest_len()
        && reason.is_none()
    {
        reason = Some(format!(
            "\\005MsiDigitalSignatureEx holds {} bytes, not one {} digest ({} bytes)",
            ex.len(),
            alg.name(),
            alg.digest_len()
        ));
    }
    let computed = msi_digest(cf, alg, has_ex)?;
    if reason.is_none() && computed != parsed.signed_digest {
        reason = Some(
            "the file's content no longer matches the digest that was signed: it changed \
             after signing"
                .to_string(),
        );
    }
    Ok(Some(SignatureReport {
        verdict: if reason.is_none() {
            Verdict::Valid
        } else {
            Verdict::Stale
        },
        reason,
        digest_algorithm: alg,
        signed_digest: hex(&parsed.signed_digest),
        computed_digest: hex(&computed),
        msi_digital_signature_ex: has_ex,
        signer: parsed.signer,
        signing_time: parsed.signing_time,
        countersignature_time: parsed.countersignature_time,
        nested_signatures: parsed.nested,
    }))
}

/// The Authenticode digest of the compound file `cf` with `alg`,
/// including the metadata pre-hash when `with_ex` (see the module
/// documentation for the order).
pub fn msi_digest<S: Storage>(cf: &mut S, alg: DigestAlgorithm, with_ex: bool) -> Result<Vec<u8>> {
    let mut h = alg.hasher();
    if with_ex {
        h.update(&prehash(cf, alg)?);
    }
    let mut buf = vec![0u8; CHUNK];
    hash_storage(cf, Path::new("/"), &mut *h, &mut buf, 0)?;
    Ok(h.finalize().into_vec())
}

/// The metadata pre-hash that `\005MsiDigitalSignatureEx` holds.
pub fn prehash<S: Storage>(cf: &mut S, alg: DigestAlgorithm) -> Result<Vec<u8>> {
    let mut pre = alg.hasher();
    prehash_storage(cf, Path::new("/"), &mut *pre, 0)?;
    Ok(pre.finalize().into_vec())
}

//==========================================================================//
// The MSI digest

/// One entry of a storage, with what the digest needs.
struct Node {
    path: PathBuf,
    /// Stored name bytes: UTF-16LE with the terminator.
    key: Vec<u8>,
    stream: bool,
    len: u64,
    clsid: [u8; 16],
    state_bits: u32,
    created: u64,
    modified: u64,
}

impl Node {
    fn of(e: EntryInfo) -> Node {
        let mut key: Vec<u8> = e.name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        key.extend_from_slice(&[0, 0]);
        Node {
            path: e.path,
            key,
            stream: e.is_stream,
            len: e.len,
            clsid: e.clsid.to_bytes_le(),
            state_bits: e.state_bits,
            created: e.created,
            modified: e.modified,
        }
    }

    /// The name bytes without the terminator.
    fn name_bytes(&self) -> &[u8] {
        self.key
            .get(..self.key.len().saturating_sub(2))
            .unwrap_or(&[])
    }

    fn is_signature_stream(&self) -> bool {
        let name = self.path.file_name().and_then(|n| n.to_str());
        matches!(name, Some(DIGITAL_SIGNATURE | DIGITAL_SIGNATURE_EX))
    }
}

/// The hash order of two stored names: bytes compared over the shorter
/// length; on a tie the longer name first.
fn hash_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    match a.get(..n).cmp(&b.get(..n)) {
        std::cmp::Ordering::Equal => b.len().cmp(&a.len()),
        o => o,
    }
}

fn children<S: Storage>(cf: &S, dir: &Path) -> Result<Vec<Node>> {
    let mut out: Vec<Node> = cf
        .children(dir)
        .map_err(|e| Error::io("cannot list", e).at(storage_label(dir)))?
        .into_iter()
        .map(Node::of)
        .collect();
    out.sort_by(|a, b| hash_order(&a.key, &b.key));
    Ok(out)
}

fn storage_label(dir: &Path) -> String {
    let text = crate::format::container::path_text(dir);
    if text.is_empty() {
        "root storage".to_string()
    } else {
        crate::format::container::storage_part(&text)
    }
}

fn too_deep(dir: &Path) -> Error {
    Error::format(format!(
        "storages are nested more than {MAX_DEPTH} levels deep; the signature digest is not \
         computed for such files"
    ))
    .at(storage_label(dir))
}

fn hash_storage<S: Storage>(
    cf: &mut S,
    dir: &Path,
    h: &mut dyn DynDigest,
    buf: &mut [u8],
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep(dir));
    }
    let clsid = if depth == 0 {
        cf.root_clsid().to_bytes_le()
    } else {
        cf.info(dir)
            .ok_or_else(|| Error::format("cannot find: no such storage").at(storage_label(dir)))?
            .clsid
            .to_bytes_le()
    };
    for node in children(cf, dir)? {
        if depth == 0 && node.is_signature_stream() {
            continue;
        }
        if node.stream {
            let mut s = cf
                .open(&node.path)
                .map_err(|e| Error::io("cannot open", e).at(stream_part(&node.path)))?;
            let mut left = node.len;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let chunk = buf.get_mut(..want).unwrap_or_default();
                let n = s
                    .read(chunk)
                    .map_err(|e| Error::io("reading", e).at(stream_part(&node.path)))?;
                if n == 0 {
                    return Err(Error::format(format!(
                        "ends {left} bytes before its declared length"
                    ))
                    .at(stream_part(&node.path)));
                }
                h.update(chunk.get(..n).unwrap_or_default());
                left -= n as u64;
            }
        } else {
            hash_storage(cf, &node.path, h, buf, depth + 1)?;
        }
    }
    h.update(&clsid);
    Ok(())
}

fn prehash_storage<S: Storage>(
    cf: &mut S,
    dir: &Path,
    h: &mut dyn DynDigest,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep(dir));
    }
    if depth == 0 {
        h.update(&cf.root_clsid().to_bytes_le());
        h.update(&cf.root_state_bits().to_le_bytes());
    } else {
        let me = cf
            .info(dir)
            .ok_or_else(|| Error::format("cannot find: no such storage").at(storage_label(dir)))?;
        let me = Node::of(me);
        h.update(me.name_bytes());
        h.update(&me.clsid);
        h.update(&me.state_bits.to_le_bytes());
        h.update(&me.created.to_le_bytes());
        h.update(&me.modified.to_le_bytes());
    }
    for node in children(cf, dir)? {
        if depth == 0 && node.is_signature_stream() {
            continue;
        }
        if node.stream {
            h.update(node.name_bytes());
            // The low 32 bits of the size field, as stored.
            h.update(&(node.len as u32).to_le_bytes());
            h.update(&node.state_bits.to_le_bytes());
            h.update(&node.created.to_le_bytes());
            h.update(&node.modified.to_le_bytes());
        } else {
            prehash_storage(cf, &node.path, h, depth + 1)?;
        }
    }
    Ok(())
}

//==========================================================================//
// PKCS#7

/// What the signature stream says.
#[derive(Debug)]
struct Parsed {
    algorithm: DigestAlgorithm,
    signed_digest: Vec<u8>,
    signer: Signer,
    signing_time: Option<String>,
    countersignature_time: Option<String>,
    nested: usize,
    /// Set when the signed attributes' message digest does not cover the
    /// `SpcIndirectDataContent` (the signature was altered).
    attributes_mismatch: Option<String>,
}

fn der_err(what: &str) -> impl Fn(der::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Parses a `\005DigitalSignature` blob. Errors are plain text for the
/// caller to place.
fn parse_pkcs7(blob: &[u8]) -> std::result::Result<Parsed, String> {
    // A trailing pad after the DER structure is tolerated, like a reader
    // that stops at the structure's end.
    let mut reader = SliceReader::new(blob).map_err(der_err("PKCS#7 ContentInfo"))?;
    let info = ContentInfo::decode(&mut reader).map_err(der_err("PKCS#7 ContentInfo"))?;
    if info.content_type != OID_SIGNED_DATA {
        return Err(format!(
            "PKCS#7 content type is {}, not SignedData (1.2.840.113549.1.7.2)",
            info.content_type
        ));
    }
    let sd = signed_parts(&info.content).map_err(der_err("SignedData"))?;
    let encap = &sd.encap;
    if encap.econtent_type != OID_SPC_INDIRECT_DATA {
        return Err(format!(
            "SignedData content type is {}, not SpcIndirectDataContent (1.3.6.1.4.1.311.2.1.4)",
            encap.econtent_type
        ));
    }
    let content = encap
        .econtent
        .as_ref()
        .ok_or("SignedData holds no SpcIndirectDataContent")?;
    if content.tag() != Tag::Sequence {
        return Err(format!(
            "SpcIndirectDataContent is a {}, not a SEQUENCE",
            content.tag()
        ));
    }
    let idc: SpcIndirectDataContent = content
        .decode_as()
        .map_err(der_err("SpcIndirectDataContent"))?;
    let alg_oid = idc.message_digest.algorithm.oid;
    let algorithm = DigestAlgorithm::from_oid(&alg_oid).ok_or_else(|| {
        format!("the signed digest uses algorithm {alg_oid}, which this tool does not support")
    })?;
    let signed_digest = idc.message_digest.digest.as_bytes().to_vec();
    if signed_digest.len() != algorithm.digest_len() {
        return Err(format!(
            "the signed {} digest is {} bytes long, not {}",
            algorithm.name(),
            signed_digest.len(),
            algorithm.digest_len()
        ));
    }
    let si = sd
        .signer_infos
        .first()
        .ok_or("SignedData has no SignerInfo")?;
    let attributes_mismatch = check_message_digest(si, content.value())?;
    let signer = signer_of(&sd, si);
    let signing_time =
        attribute(si.signed_attrs.as_ref(), OID_SIGNING_TIME).and_then(|v| time_text(v).ok());
    let countersignature_time = countersignature_time(si);
    let nested = si
        .unsigned_attrs
        .as_ref()
        .map(|attrs| {
            attrs
                .iter()
                .filter(|a| a.oid == OID_NESTED_SIGNATURE)
                .map(|a| a.values.len())
                .sum()
        })
        .unwrap_or(0);
    Ok(Parsed {
        algorithm,
        signed_digest,
        signer,
        signing_time,
        countersignature_time,
        nested,
        attributes_mismatch,
    })
}

/// The parts of a `SignedData` this module uses.
struct SignedParts {
    encap: EncapsulatedContentInfo,
    /// The certificates that decode (others are skipped: the signer's
    /// subject is only shown, never relied on).
    certificates: Vec<x509_cert::Certificate>,
    signer_infos: Vec<SignerInfo>,
}

/// Reads a `SignedData` field by field rather than with `cms`'s
/// `SignedData`, whose SET OF types refuse a certificate present twice
/// and whose certificate set fails whole on one certificate `x509-cert`
/// cannot read: neither should make a signature unreadable.
fn signed_parts(content: &Any) -> der::Result<SignedParts> {
    if content.tag() != Tag::Sequence {
        return Err(content.tag().unexpected_error(Some(Tag::Sequence)));
    }
    let mut r = SliceReader::new(content.value())?;
    let _version: Any = r.decode()?;
    let _digest_algorithms: Any = r.decode()?;
    let encap: EncapsulatedContentInfo = r.decode()?;
    let mut certificates = Vec::new();
    let mut signer_infos = Vec::new();
    while !r.is_finished() {
        let field: Any = r.decode()?;
        let tag = field.tag();
        if tag.is_context_specific() && tag.number() == TagNumber::N0 {
            for item in items(&field)? {
                if let Ok(cert) = item.decode_as::<x509_cert::Certificate>() {
                    certificates.push(cert);
                }
            }
        } else if tag == Tag::Set {
            for item in items(&field)? {
                signer_infos.push(item.decode_as::<SignerInfo>()?);
            }
        }
    }
    Ok(SignedParts {
        encap,
        certificates,
        signer_infos,
    })
}

/// The elements of a constructed value.
fn items(field: &Any) -> der::Result<Vec<Any>> {
    let mut r = SliceReader::new(field.value())?;
    let mut out = Vec::new();
    while !r.is_finished() {
        out.push(r.decode()?);
    }
    Ok(out)
}

/// The first value of attribute `oid`.
fn attribute(attrs: Option<&x509_cert::attr::Attributes>, oid: ObjectIdentifier) -> Option<&Any> {
    attrs?
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| a.values.iter().next())
}

/// Checks that the signer's `messageDigest` attribute is the hash of the
/// `SpcIndirectDataContent` value (PKCS#7 v1.5 hashes the content octets
/// without their tag and length). `Ok(Some(reason))` when it is not.
fn check_message_digest(
    si: &SignerInfo,
    content_value: &[u8],
) -> std::result::Result<Option<String>, String> {
    let Some(attrs) = si.signed_attrs.as_ref() else {
        return Err("the SignerInfo has no signed attributes".into());
    };
    let value = attribute(Some(attrs), OID_MESSAGE_DIGEST)
        .ok_or("the SignerInfo has no messageDigest attribute")?;
    let expected: OctetString = value.decode_as().map_err(der_err("messageDigest"))?;
    let alg = DigestAlgorithm::from_oid(&si.digest_alg.oid).ok_or_else(|| {
        format!(
            "the SignerInfo uses digest algorithm {}, which this tool does not support",
            si.digest_alg.oid
        )
    })?;
    let mut h = alg.hasher();
    h.update(content_value);
    if *h.finalize() == *expected.as_bytes() {
        Ok(None)
    } else {
        Ok(Some(
            "the signer's messageDigest does not match the SpcIndirectDataContent: the \
             signature itself was altered"
                .to_string(),
        ))
    }
}

fn signer_of(sd: &SignedParts, si: &SignerInfo) -> Signer {
    match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            let subject = sd.certificates.iter().find_map(|cert| {
                let tbs = &cert.tbs_certificate;
                (tbs.serial_number == ias.serial_number && tbs.issuer == ias.issuer)
                    .then(|| tbs.subject.to_string())
            });
            Signer {
                subject,
                issuer: Some(ias.issuer.to_string()),
                serial: Some(serial_text(ias.serial_number.as_bytes())),
            }
        }
        SignerIdentifier::SubjectKeyIdentifier(_) => Signer {
            subject: None,
            issuer: None,
            serial: None,
        },
    }
}

/// The time of a PKCS#9 countersignature (its signingTime) or of an
/// RFC 3161 time-stamp token (its TSTInfo genTime).
fn countersignature_time(si: &SignerInfo) -> Option<String> {
    let attrs = si.unsigned_attrs.as_ref()?;
    if let Some(v) = attribute(Some(attrs), OID_COUNTERSIGNATURE) {
        let counter: SignerInfo = v.decode_as().ok()?;
        return attribute(counter.signed_attrs.as_ref(), OID_SIGNING_TIME)
            .and_then(|t| time_text(t).ok());
    }
    let token = attribute(Some(attrs), OID_RFC3161_TIMESTAMP)?;
    let info: ContentInfo = token.decode_as().ok()?;
    let sd = signed_parts(&info.content).ok()?;
    let tst: OctetString = sd.encap.econtent.as_ref()?.decode_as().ok()?;
    tst_gen_time(tst.as_bytes()).ok()
}

/// `genTime` of a DER `TSTInfo` (RFC 3161 2.4.2): the fifth field.
fn tst_gen_time(der: &[u8]) -> der::Result<String> {
    let mut r = SliceReader::new(der)?;
    r.sequence(|r| {
        for _ in 0..4 {
            let _: Any = r.decode()?;
        }
        let t: GeneralizedTime = r.decode()?;
        while !r.is_finished() {
            let _: Any = r.decode()?;
        }
        Ok(date_text(t.to_date_time()))
    })
}

/// A PKCS#9 `Time` (UTCTime or GeneralizedTime) as text.
fn time_text(v: &Any) -> der::Result<String> {
    let dt = if v.tag() == Tag::UtcTime {
        v.decode_as::<UtcTime>()?.to_date_time()
    } else {
        v.decode_as::<GeneralizedTime>()?.to_date_time()
    };
    Ok(date_text(dt))
}

fn date_text(dt: der::DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    )
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A serial number's DER integer bytes as upper-case hex, without the
/// sign byte DER adds before a high bit (as `openssl x509 -serial` and
/// signtool show it).
fn serial_text(bytes: &[u8]) -> String {
    let shown = match bytes {
        [0, next, ..] if *next >= 0x80 => bytes.get(1..).unwrap_or_default(),
        _ => bytes,
    };
    hex(shown).to_uppercase()
}

/// The name of the signature stream, for messages.
#[cfg(any(test, feature = "testkit"))]
pub fn stream_name() -> String {
    crate::format::container::show_name(DIGITAL_SIGNATURE)
}

/// Parses a `\005DigitalSignature` stream's bytes without a file (what
/// the fuzz target drives): the signed MSI digest with its algorithm, or
/// the reason the bytes are not an Authenticode signature.
#[cfg(any(test, feature = "testkit"))]
pub fn parse_signature_blob(
    blob: &[u8],
) -> std::result::Result<(DigestAlgorithm, Vec<u8>), String> {
    parse_pkcs7(blob).map(|p| (p.algorithm, p.signed_digest))
}

#[cfg(any(test, feature = "testkit"))]
pub mod fixture;
#[cfg(test)]
mod tests;
