//! Product codes and other GUIDs as Windows Installer writes them.
//!
//! Windows Installer stores GUIDs as 38-character strings, braces included,
//! upper case. Some implementations compare them case-sensitively (Wine
//! does, for the patch Template), so everything this tool writes is in that
//! canonical form, while everything it reads is compared case-insensitively.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Length of a braced GUID string: `{` + 36 + `}`.
pub const BRACED_LEN: usize = 38;

/// A GUID used as a product, upgrade or patch code, displayed upper-case in
/// braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub Uuid);

impl Guid {
    /// Parses the strict on-disk form: exactly 38 characters, braces, hex
    /// digits of either case.
    pub fn parse_braced(text: &str) -> Result<Guid> {
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .filter(|_| text.len() == BRACED_LEN)
            .ok_or_else(|| {
                Error::format(format!(
                    "{text:?} is not a braced GUID like \
                     {{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}}"
                ))
            })?;
        Guid::parse_hyphenated(inner)
            .ok_or_else(|| Error::format(format!("{text:?} is not a valid GUID")))
    }

    /// Parses what a user types: with or without braces, either case.
    pub fn parse_lenient(text: &str) -> Result<Guid> {
        let t = text.trim();
        let inner = t
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(t);
        let guid = Guid::parse_hyphenated(inner).ok_or_else(|| {
            Error::usage(format!(
                "{text:?} is not a product code: {}; expected a GUID such as \
                 {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}} (X a hex digit)",
                what_is_wrong(t, inner)
            ))
        })?;
        if guid.0.is_nil() {
            return Err(Error::usage(format!(
                "{text:?} is not a product code: the all-zero GUID names no product"
            )));
        }
        Ok(guid)
    }

    fn parse_hyphenated(inner: &str) -> Option<Guid> {
        // Only the 8-4-4-4-12 form: Uuid::parse_str also takes forms that
        // Windows Installer never writes (simple hex, urn:uuid:).
        let groups: Vec<&str> = inner.split('-').collect();
        let shape_ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !shape_ok {
            return None;
        }
        Uuid::parse_str(inner).ok().map(Guid)
    }

    /// The canonical text: `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`.
    pub fn braced(&self) -> String {
        self.to_string()
    }

    /// The first eight hex digits, upper case: a short tag for names.
    pub fn short(&self) -> String {
        let s = self.0.simple().to_string().to_ascii_uppercase();
        s.get(..8).unwrap_or(&s).to_string()
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{{}}}",
            self.0.hyphenated().encode_upper(&mut Uuid::encode_buffer())
        )
    }
}

impl FromStr for Guid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Guid> {
        Guid::parse_lenient(s)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.braced())
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Guid, D::Error> {
        let s = String::deserialize(d)?;
        Guid::parse_lenient(&s).map_err(serde::de::Error::custom)
    }
}

/// Finds the braced GUIDs at the start of `text` one after another (as in
/// a patch RevisionNumber: the patch code, then the codes of obsoleted
/// patches, with no delimiter). Returns the GUIDs and the unparsed rest.
pub fn leading_guids(text: &str) -> (Vec<Guid>, &str) {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(head) = rest.get(..BRACED_LEN) {
        match Guid::parse_braced(head) {
            Ok(g) => {
                out.push(g);
                rest = rest.get(BRACED_LEN..).unwrap_or("");
            }
            Err(_) => break,
        }
    }
    (out, rest)
}

/// Keeps the first of equal GUIDs, in order: a list such as Template may
/// name one product twice (in another case, too), and it is one product.
/// Linear: a hostile list may hold thousands.
pub fn dedup_in_order(codes: &mut Vec<Guid>) {
    let mut seen = std::collections::HashSet::with_capacity(codes.len());
    codes.retain(|g| seen.insert(*g));
}

/// WiX's namespace for name-based component codes
/// (`WixComponentGuidNamespace`, `{3064E5C6-FB63-4FE9-AC49-E446A792EFA5}`).
pub const WIX_COMPONENT_NAMESPACE: Guid =
    Guid(Uuid::from_u128(0x3064_E5C6_FB63_4FE9_AC49_E446_A792_EFA5));

/// The component code WiX gives a `Component/@MultiInstance="yes"`
/// component in the instance transform of instance `instance_id`: a
/// name-based UUID, version 5 (SHA-1), in [`WIX_COMPONENT_NAMESPACE`], over
/// the UTF-16LE bytes of the component's GUID string exactly as its row
/// holds it followed by the instance id; written braced and upper case.
///
/// Facts read in WiX v3's source (wixtoolset/wix3), not copied:
/// * `src/tools/wix/Uuid.cs`, `NewUuid(namespace, value, backwardsCompatible)`:
///   the namespace's first three fields are converted to network byte
///   order before hashing (so it is hashed in its canonical big-endian
///   form, as RFC 4122 and [`Uuid::new_v5`] do); the value is hashed as
///   `Encoding.Unicode` bytes (UTF-16LE); SHA-1 unless the backwards
///   compatible (`-bcgg`, MD5, version 3) mode is asked for; the first 16
///   hash bytes, fields read in network order, version nibble 5, variant
///   bits `10`.
/// * The binder's instance transforms (WiX v3 `Binder.cs`; the same code
///   in its later `Bind/BindDatabaseCommand.cs`): for each MultiInstance
///   component a Component *modify* row whose ComponentId is
///   `NewUuid(WixComponentGuidNamespace, String.Concat(guid, instanceId))`
///   formatted `ToString("B").ToUpper(...)`, where `guid` is the
///   component's GUID as it stands in the Component row (WiX writes it
///   braced, upper case) and `instanceId` the `<Instance Id>`.
///
/// The text is hashed as given: a lower-case or unbraced GUID string gives
/// another code, as it would in WiX.
pub fn multi_instance_component_code(component_guid: &str, instance_id: &str) -> Guid {
    let name: Vec<u8> = component_guid
        .encode_utf16()
        .chain(instance_id.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    Guid(Uuid::new_v5(&WIX_COMPONENT_NAMESPACE.0, &name))
}

/// The product code `instances add` derives for instance `instance_id` of
/// the product whose ProductCode is `base`, when none is given: a
/// name-based UUID, version 5 (SHA-1, RFC 4122 section 4.3), whose
/// namespace is `base` itself and whose name is the UTF-16LE bytes of the
/// id exactly as typed (the encoding WiX hashes its names in, see
/// [`multi_instance_component_code`]). Running the command again with the
/// same product and ids therefore gives the same codes, and two products
/// never share one. Braced and upper case, like every code written.
pub fn instance_product_code(base: Guid, instance_id: &str) -> Guid {
    let name: Vec<u8> = instance_id
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    Guid(Uuid::new_v5(&base.0, &name))
}

/// Why `inner` (the text without its braces) is not an 8-4-4-4-12 GUID,
/// in words: the brace, the character or the group length at fault.
fn what_is_wrong(text: &str, inner: &str) -> String {
    if text.starts_with('{') != text.ends_with('}') {
        return "its braces do not match (write both or neither)".into();
    }
    if let Some((i, c)) = inner
        .char_indices()
        .find(|&(_, c)| c != '-' && !c.is_ascii_hexdigit())
    {
        return format!("{c:?} at position {} is not a hex digit", i + 1);
    }
    let lengths: Vec<String> = inner.split('-').map(|g| g.len().to_string()).collect();
    format!(
        "its groups have {} characters instead of 8-4-4-4-12",
        lengths.join("-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_round_trip_is_upper_case() {
        let g = Guid::parse_braced("{6ea3ae83-a14f-4b8b-8a86-bb977a9e7833}").unwrap();
        assert_eq!(g.braced(), "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}");
        assert_eq!(g.short(), "6EA3AE83");
    }

    #[test]
    fn strict_form_rejects_missing_braces_and_bad_shapes() {
        assert!(Guid::parse_braced("6EA3AE83-A14F-4B8B-8A86-BB977A9E7833").is_err());
        assert!(Guid::parse_braced("{6EA3AE83A14F4B8B8A86BB977A9E7833}").is_err());
        assert!(Guid::parse_braced("{6EA3AE83-A14F-4B8B-8A86-BB977A9E783Z}").is_err());
        assert!(Guid::parse_braced("{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833").is_err());
        assert!(Guid::parse_braced("").is_err());
    }

    #[test]
    fn lenient_form_accepts_what_users_type() {
        let a = Guid::parse_lenient(" 6ea3ae83-a14f-4b8b-8a86-bb977a9e7833 ").unwrap();
        let b: Guid = "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}".parse().unwrap();
        assert_eq!(a, b);
        let err = Guid::parse_lenient("product-a").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"product-a\" is not a product code")
        );
    }

    #[test]
    fn leading_guids_splits_patch_code_and_obsoleted() {
        let text = "{11111111-1111-1111-1111-111111111111}{22222222-2222-2222-2222-222222222222}";
        let (gs, rest) = leading_guids(text);
        assert_eq!(gs.len(), 2);
        assert_eq!(rest, "");
        let (gs, rest) = leading_guids("{11111111-1111-1111-1111-111111111111}1.0;x");
        assert_eq!(gs.len(), 1);
        assert_eq!(rest, "1.0;x");
        let (gs, rest) = leading_guids("é{11111111-1111-1111-1111-111111111111}");
        assert!(gs.is_empty());
        assert!(rest.starts_with('é'));
    }

    #[test]
    fn multi_instance_component_codes_follow_wix() {
        // Vectors of the project's format notes (a re-implementation of
        // WiX's Uuid.NewUuid reproduced WiX's output with them).
        let code = multi_instance_component_code("{C28843DA-EF08-41CC-BA75-D2B99D8A1983}", "I01");
        assert_eq!(code.braced(), "{0DDEE8D8-ABD9-5E13-9C73-FB0E3B0089C5}");
        assert_eq!(
            Guid(Uuid::new_v5(
                &WIX_COMPONENT_NAMESPACE.0,
                &"abc"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>()
            ))
            .braced(),
            "{06B07962-0968-5893-A468-77B73F541D6F}"
        );
        assert_eq!(code.0.get_version_num(), 5);
        assert_eq!(code.0.get_variant(), uuid::Variant::RFC4122);
        // The text is hashed as written: case and instance id matter.
        assert_ne!(
            multi_instance_component_code("{c28843da-ef08-41cc-ba75-d2b99d8a1983}", "I01"),
            code
        );
        assert_ne!(
            multi_instance_component_code("{C28843DA-EF08-41CC-BA75-D2B99D8A1983}", "I02"),
            code
        );
        // UTF-16LE, not UTF-8: the same name hashed as UTF-8 differs.
        let utf8 = Uuid::new_v5(
            &WIX_COMPONENT_NAMESPACE.0,
            b"{C28843DA-EF08-41CC-BA75-D2B99D8A1983}I01",
        );
        assert_ne!(Guid(utf8), code);
        assert_eq!(
            WIX_COMPONENT_NAMESPACE.braced(),
            "{3064E5C6-FB63-4FE9-AC49-E446A792EFA5}"
        );
    }

    #[test]
    fn instance_product_codes_are_version_5_names_under_the_base() {
        let base = Guid::parse_braced("{4014E041-A968-4DE3-B43C-322DF9A19359}").unwrap();
        let code = instance_product_code(base, "Instance1");
        // Computed independently: uuid5(UUID(base), "Instance1" as UTF-16LE)
        // with Python's hashlib over the namespace bytes then the name.
        assert_eq!(code.braced(), "{E6EBA910-873C-572A-8D77-520038FBECE9}");
        assert_eq!(code.0.get_version_num(), 5);
        assert_eq!(instance_product_code(base, "Instance1"), code);
        assert_ne!(instance_product_code(base, "Instance2"), code);
        assert_ne!(instance_product_code(base, "instance1"), code);
        let other = Guid::parse_braced("{398B8855-E3B8-4559-9C2B-3ED457C5A889}").unwrap();
        assert_ne!(instance_product_code(other, "Instance1"), code);
    }

    #[test]
    fn a_typo_says_what_is_wrong_and_the_nil_guid_is_refused() {
        let msg = |t: &str| Guid::parse_lenient(t).unwrap_err().to_string();
        assert!(
            msg("{1234}").contains("groups have 4 characters"),
            "{}",
            msg("{1234}")
        );
        let t = "{1111111G-1111-4111-8111-111111111111}";
        assert!(
            msg(t).contains("'G' at position 8 is not a hex digit"),
            "{}",
            msg(t)
        );
        let t = "{11111111-1111-4111-8111-111111111111";
        assert!(msg(t).contains("braces do not match"), "{}", msg(t));
        let t = "{00000000-0000-0000-0000-000000000000}";
        assert!(msg(t).contains("all-zero GUID"), "{}", msg(t));
        assert!(Guid::parse_lenient("11111111-1111-4111-8111-111111111111").is_ok());
    }
}
