//! Windows Installer version strings (ProductVersion, a transform's
//! versions, a MsiPatchSequence row's Sequence): one to four decimal
//! fields, compared as numbers.

/// A product version split into its numeric fields; missing fields are 0.
/// Windows Installer compares at most the first three.
pub type VersionFields = [u32; 4];

/// Parses `major[.minor[.build[.revision]]]`: one to four decimal fields.
/// The error says why, for messages ("is not a version: ...").
pub fn parse_version(text: &str) -> std::result::Result<VersionFields, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty".into());
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return Err("has more than four fields".into());
    }
    let mut out = [0u32; 4];
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "is not a version: field {part:?} is not a decimal number"
            ));
        }
        *slot = part
            .parse()
            .map_err(|_| format!("is not a version: field {part:?} is too large"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_one_to_four_fields() {
        assert_eq!(parse_version("1.0.1.0").unwrap(), [1, 0, 1, 0]);
        assert_eq!(parse_version("2").unwrap(), [2, 0, 0, 0]);
        assert_eq!(
            parse_version("255.255.65535").unwrap(),
            [255, 255, 65535, 0]
        );
        assert!(parse_version("").is_err());
        assert!(parse_version("1..0").is_err());
        assert!(parse_version("1.0.0.0.0").is_err());
        assert!(parse_version("1.0-beta").is_err());
        assert!(parse_version("99999999999").is_err());
    }
}
