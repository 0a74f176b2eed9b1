//! Signatures for tests and fuzz seeds: a `\005DigitalSignature` blob with
//! the full shape of an Authenticode signature (ContentInfo, SignedData,
//! SpcIndirectDataContent, a SignerInfo whose messageDigest covers it)
//! over a given MSI digest, and no real signature value. [`super::examine`]
//! checks the digests, not the signature value, so such a blob reads as
//! `valid` while the content is unchanged; no other verifier accepts it.
//!
//! Written with the `cms` and `der` encoders so that the tests need no
//! signing tool and no key.

use std::str::FromStr;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::{
    DigestAlgorithm, DigestInfo, OID_MESSAGE_DIGEST, OID_SIGNED_DATA, OID_SIGNING_TIME,
    OID_SPC_INDIRECT_DATA, SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent,
};

const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_SPC_SIPINFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.30");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The issuer and subject the fixture names.
pub const FIXTURE_SIGNER: &str = "CN=Fixture Signer,O=Example";

fn oid_of(alg: DigestAlgorithm) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(match alg {
        DigestAlgorithm::Sha1 => "1.3.14.3.2.26",
        DigestAlgorithm::Sha256 => "2.16.840.1.101.3.4.2.1",
        DigestAlgorithm::Sha384 => "2.16.840.1.101.3.4.2.2",
        DigestAlgorithm::Sha512 => "2.16.840.1.101.3.4.2.3",
    })
}

fn alg_id(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

fn attr(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// A signature blob over `digest` (the MSI digest made with `alg`), signed
/// at `unix_secs` by [`FIXTURE_SIGNER`].
pub fn signature_blob(alg: DigestAlgorithm, digest: &[u8], unix_secs: u64) -> der::Result<Vec<u8>> {
    let idc = SpcIndirectDataContent {
        data: SpcAttributeTypeAndOptionalValue {
            kind: OID_SPC_SIPINFO,
            value: None,
        },
        message_digest: DigestInfo {
            algorithm: alg_id(oid_of(alg)),
            digest: OctetString::new(digest)?,
        },
    };
    let econtent = Any::from_der(&idc.to_der()?)?;
    let mut h = alg.hasher();
    h.update(econtent.value());
    let content_digest = h.finalize();
    let time = UtcTime::from_unix_duration(std::time::Duration::from_secs(unix_secs))?;
    let signed_attrs = SetOfVec::try_from(vec![
        attr(OID_CONTENT_TYPE, Any::encode_from(&OID_SPC_INDIRECT_DATA)?)?,
        attr(OID_SIGNING_TIME, Any::encode_from(&time)?)?,
        attr(
            OID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(&*content_digest)?)?,
        )?,
    ])?;
    let issuer = Name::from_str(FIXTURE_SIGNER)?;
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer,
            serial_number: SerialNumber::new(&[0x01, 0x23, 0x45, 0x67])?,
        }),
        digest_alg: alg_id(oid_of(alg)),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: alg_id(OID_RSA),
        signature: OctetString::new(vec![0u8; 256])?,
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg_id(oid_of(alg))])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_SPC_INDIRECT_DATA,
            econtent: Some(econtent),
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
    };
    ContentInfo {
        content_type: OID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()
}

/// Signs the compound file `cf` the fixture's way: writes
/// `\005MsiDigitalSignatureEx` (when `with_ex`) and `\005DigitalSignature`
/// for its current content.
pub fn sign<F: std::io::Read + std::io::Write + std::io::Seek>(
    cf: &mut cfb::CompoundFile<F>,
    alg: DigestAlgorithm,
    with_ex: bool,
    unix_secs: u64,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let root = std::path::Path::new("/");
    if with_ex {
        let pre = super::prehash(cf, alg).map_err(|e| invalid(e.to_string()))?;
        cf.create_stream(root.join(super::DIGITAL_SIGNATURE_EX))?
            .write_all(&pre)?;
    }
    let digest = super::msi_digest(cf, alg, with_ex).map_err(|e| invalid(e.to_string()))?;
    let blob = signature_blob(alg, &digest, unix_secs).map_err(|e| invalid(e.to_string()))?;
    cf.create_stream(root.join(super::DIGITAL_SIGNATURE))?
        .write_all(&blob)?;
    cf.flush()
}
