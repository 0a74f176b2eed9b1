//! The facts about an installed (or installable) product that decide
//! whether a patch applies to it: ProductCode, ProductVersion,
//! ProductLanguage and UpgradeCode, as the product's Property table holds
//! them, plus the platform of its package for information.
//!
//! Facts come from an `.msi` (read with the `msi` crate) or from the
//! command line (`CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]]`). Facts read
//! from a package are *complete*: a property the package lacks is absent
//! from the product. Facts typed on the command line are *partial*: what
//! was not given is unknown, and a check that needs it cannot decide.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Reason, Result, Setting};
use crate::format::guid::Guid;
use crate::format::version::parse_version;

/// What decides patch applicability for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFacts {
    /// ProductCode.
    pub code: Guid,
    /// ProductVersion as stored, e.g. `1.0.0.0`.
    pub version: Option<String>,
    /// ProductLanguage (a Windows language id such as 1033).
    pub language: Option<u16>,
    /// UpgradeCode.
    pub upgrade_code: Option<Guid>,
    /// The platform of the package's summary Template (`Intel`, `x64`,
    /// ...), for information: Windows Installer does not check it for
    /// patch transforms.
    pub platform: Option<String>,
    /// Where the facts come from: the package path, or `--product TEXT`.
    pub source: String,
    /// Whether the facts are complete (read from a package): then a
    /// missing value is absent from the product, not unknown.
    pub complete: bool,
    /// The instance id (the instance transform's name) when the facts are
    /// those of an instance a product database defines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl ProductFacts {
    /// Facts with only a product code, everything else unknown.
    pub fn with_code(code: Guid) -> ProductFacts {
        ProductFacts {
            code,
            version: None,
            language: None,
            upgrade_code: None,
            platform: None,
            source: code.braced(),
            complete: false,
            instance_id: None,
        }
    }

    /// Parses `CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]]` as typed on the
    /// command line; empty fields are unknown (`{A},,1033`).
    pub fn parse_spec(text: &str) -> Result<ProductFacts> {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() > 4 {
            return Err(Error::usage(format!(
                "product {text:?} has {} fields; expected CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]]",
                fields.len()
            )));
        }
        let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
        let code = Guid::parse_lenient(fields.first().copied().unwrap_or(""))?;
        let version = match field(1) {
            Some(v) => {
                parse_version(v).map_err(|why| {
                    Error::usage(format!("product {text:?}: version {v:?} {why}"))
                })?;
                Some(v.to_string())
            }
            None => None,
        };
        let language = match field(2) {
            Some(l) => Some(parse_language(l).ok_or_else(|| {
                Error::usage(format!(
                    "product {text:?}: language {l:?} is not a language id such as 1033"
                ))
            })?),
            None => None,
        };
        let upgrade_code = match field(3) {
            Some(u) => Some(Guid::parse_lenient(u).map_err(|_| {
                Error::usage(format!(
                    "product {text:?}: upgrade code {u:?} is not a GUID like \
                     {{77AE8779-8689-4DC9-BB1B-64B500078104}}"
                ))
            })?),
            None => None,
        };
        Ok(ProductFacts {
            code,
            version,
            language,
            upgrade_code,
            platform: None,
            source: format!("{} {text}", Setting::ProductSpec.api_words()),
            complete: false,
            instance_id: None,
        })
    }

    /// Reads the facts from an installer database's Property table
    /// (ProductCode, ProductVersion and ProductLanguage are required;
    /// UpgradeCode is optional) and the platform from its summary
    /// information.
    pub fn from_package(path: &Path) -> Result<ProductFacts> {
        read_package(path).in_file(path)
    }

    /// The facts of every instance a product database defines through its
    /// embedded instance transforms: the product's own facts with the
    /// instance's ProductCode, and its UpgradeCode where the instance
    /// transform sets one (instance transforms change neither version nor
    /// language).
    pub fn instances_of(path: &Path) -> Result<Vec<ProductFacts>> {
        let base = ProductFacts::from_package(path)?;
        let source = crate::product::instances::from_product(path)?.require_instances()?;
        warn_shared_names(path, &source);
        Ok(source
            .instances
            .iter()
            .map(|i| ProductFacts {
                code: i.product_code,
                upgrade_code: i.upgrade_code.or(base.upgrade_code),
                instance_id: i.id.clone(),
                source: format!(
                    "instance {} of {}",
                    i.id.as_deref().unwrap_or("?"),
                    path.display()
                ),
                ..base.clone()
            })
            .collect())
    }

    /// A one-line description: `{CODE} 1.0.0.0, language 1033, upgrade code {U}`.
    pub fn describe(&self) -> String {
        let mut s = self.code.braced();
        let unknown = if self.complete { "none" } else { "unknown" };
        s.push_str(&format!(
            " version {}",
            self.version.as_deref().unwrap_or(unknown)
        ));
        match self.language {
            Some(l) => s.push_str(&format!(", language {l}")),
            None => s.push_str(&format!(", language {unknown}")),
        }
        match self.upgrade_code {
            Some(u) => s.push_str(&format!(", upgrade code {u}")),
            None => s.push_str(&format!(", upgrade code {unknown}")),
        }
        if let Some(p) = &self.platform {
            s.push_str(&format!(", platform {p}"));
        }
        s
    }
}

/// A product database's identifying properties as its Property table
/// stores them, for display (`inspect PRODUCT.msi`): nothing is checked or
/// converted, and a property the table lacks is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductProperties {
    /// ProductCode.
    pub product_code: Option<String>,
    /// ProductVersion.
    pub product_version: Option<String>,
    /// UpgradeCode.
    pub upgrade_code: Option<String>,
    /// ProductLanguage.
    pub product_language: Option<String>,
    /// ProductName.
    pub product_name: Option<String>,
}

impl ProductProperties {
    /// The `--product CODE,VERSION,LANGUAGE[,UPGRADECODE]` argument that
    /// gives `check` and `sequence` these facts by hand, when the three
    /// required ones are present.
    pub fn product_argument(&self) -> Option<String> {
        let mut s = format!(
            "{},{},{}",
            self.product_code.as_deref()?,
            self.product_version.as_deref()?,
            self.product_language.as_deref()?
        );
        if let Some(u) = &self.upgrade_code {
            s.push(',');
            s.push_str(u);
        }
        Some(s)
    }
}

/// Reads [`ProductProperties`] from the Property table of an installer
/// database already open (`cf`, named `path`; `inspect` opens it with the
/// lazy reader), through the guarded entry into the `msi` crate, which
/// reads the database's streams only ([`crate::format::msi::guarded_in`]),
/// not the cabinets beside them. A database without a Property table is an
/// error naming the table.
pub fn read_properties<S: crate::format::container::Storage>(
    cf: &mut S,
    path: &Path,
) -> Result<ProductProperties> {
    let read = |package: std::io::Result<crate::format::msi::Extract>| {
        properties_of(&mut package.map_err(|e| Error::io("cannot read as a database", e))?)
    };
    crate::format::msi::guarded_in(cf, path, &["Property"], read)
        .unwrap_or_else(|panicked| Err(panicked.error("cannot read as a database")))
        .in_file(path)
}

/// The product's properties in the Property table of a database the `msi`
/// crate opened; called inside the guarded entry into the crate.
fn properties_of<F: std::io::Read + std::io::Seek>(
    package: &mut msi::Package<F>,
) -> Result<ProductProperties> {
    if !package.has_table("Property") {
        return Err(Error::format("has no Property table").at("table Property"));
    }
    let rows = package
        .select_rows(msi::Select::table("Property"))
        .map_err(|e| Error::io("cannot read", e).at("table Property"))?;
    let mut found = ProductProperties::default();
    for row in rows {
        if row.len() < 2 {
            continue;
        }
        let (msi::Value::Str(name), msi::Value::Str(value)) = (&row[0], &row[1]) else {
            continue;
        };
        let slot = match name.as_str() {
            "ProductCode" => &mut found.product_code,
            "ProductVersion" => &mut found.product_version,
            "UpgradeCode" => &mut found.upgrade_code,
            "ProductLanguage" => &mut found.product_language,
            "ProductName" => &mut found.product_name,
            _ => continue,
        };
        *slot = Some(value.trim().to_string());
    }
    Ok(found)
}

/// [`read_package_unguarded`] through the guarded entry into the `msi`
/// crate: a malformed database is an error naming it, never a panic.
fn read_package(path: &Path) -> Result<ProductFacts> {
    crate::format::msi::guarded(path, || read_package_unguarded(path))
        .unwrap_or_else(|panicked| Err(panicked.error("cannot read as a database")))
}

fn read_package_unguarded(path: &Path) -> Result<ProductFacts> {
    let mut package = crate::format::msi::open_package(path)
        .map_err(|e| Error::io("cannot read as a database", e))?;
    match package.package_type() {
        msi::PackageType::Installer => {}
        other => {
            return Err(Error::usage(format!(
                "is a {} file, not a product database (.msi)",
                match other {
                    msi::PackageType::Patch => "patch (.msp)",
                    msi::PackageType::Transform => "transform (.mst)",
                    msi::PackageType::Installer => "database",
                }
            )));
        }
    }
    let platform = package.summary_info().arch().map(str::to_string);
    if !package.has_table("Property") {
        return Err(Error::format(
            "has no Property table, so no ProductCode: is it a merge module?",
        ));
    }
    let rows = package
        .select_rows(msi::Select::table("Property"))
        .map_err(|e| Error::io("cannot read", e).at("table Property"))?;
    let mut props = std::collections::HashMap::new();
    for row in rows {
        if let (msi::Value::Str(name), msi::Value::Str(value)) = (&row[0], &row[1])
            && matches!(
                name.as_str(),
                "ProductCode" | "ProductVersion" | "ProductLanguage" | "UpgradeCode"
            )
        {
            props.insert(name.clone(), value.trim().to_string());
        }
    }
    let part = |name: &str| format!("table Property, row {name}");
    let required = |name: &str| -> Result<String> {
        props.get(name).cloned().ok_or_else(|| {
            Error::format(
                Reason::new(format!(
                    "the Property table has no {name}; give the product's facts with "
                ))
                .then(Setting::ProductSpec)
                .and(" instead"),
            )
            .at("table Property")
        })
    };
    let code_text = required("ProductCode")?;
    let code = Guid::parse_braced(&code_text)
        .map_err(|e| Error::format(e.reason().to_string()).at(part("ProductCode")))?;
    let version = required("ProductVersion")?;
    parse_version(&version)
        .map_err(|why| Error::format(format!("{version:?} {why}")).at(part("ProductVersion")))?;
    let language_text = required("ProductLanguage")?;
    let language = parse_language(&language_text).ok_or_else(|| {
        Error::format(format!("{language_text:?} is not a language id")).at(part("ProductLanguage"))
    })?;
    let upgrade_code = match props.get("UpgradeCode") {
        Some(u) => Some(
            Guid::parse_braced(u)
                .map_err(|e| Error::format(e.reason().to_string()).at(part("UpgradeCode")))?,
        ),
        None => None,
    };
    Ok(ProductFacts {
        code,
        version: Some(version),
        language: Some(language),
        upgrade_code,
        platform,
        source: path.display().to_string(),
        complete: true,
        instance_id: None,
    })
}

/// Parses a language id (decimal, as ProductLanguage stores it).
pub fn parse_language(text: &str) -> Option<u16> {
    text.trim().parse().ok()
}

/// Warns (on the log, which is on by default) when two instances of the
/// product show the same ProductName (their own, or the base's when their
/// transform keeps it): Add/Remove Programs then lists them alike, which
/// is how instances get mixed up. Linear in the instances.
fn warn_shared_names(path: &Path, source: &crate::product::instances::InstanceSource) {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for i in &source.instances {
        let Some(name) = i
            .product_name
            .as_deref()
            .or(source.base_product_name.as_deref())
        else {
            continue;
        };
        let id = i.id.as_deref().unwrap_or("?");
        if let Some(first) = seen.insert(name, id) {
            tracing::warn!(
                "{}: instances {first} and {id} share the ProductName {name:?}: Add/Remove \
                 Programs lists them alike (a ProductName template for instances add gives \
                 each its own)",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_every_field_and_leaves_the_rest_unknown() {
        let f = ProductFacts::parse_spec(
            "6ea3ae83-a14f-4b8b-8a86-bb977a9e7833,1.0.0.0,1033,{77AE8779-8689-4DC9-BB1B-64B500078104}",
        )
        .unwrap();
        assert_eq!(f.code.braced(), "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}");
        assert_eq!(f.version.as_deref(), Some("1.0.0.0"));
        assert_eq!(f.language, Some(1033));
        assert!(f.upgrade_code.is_some());
        assert!(!f.complete);
        let g = ProductFacts::parse_spec("{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833},,1031").unwrap();
        assert_eq!(g.version, None);
        assert_eq!(g.language, Some(1031));
        assert_eq!(g.upgrade_code, None);
    }

    #[test]
    fn spec_errors_are_usage_errors_naming_the_field() {
        for (text, needle) in [
            ("nope", "not a product code"),
            (
                "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833},1.x",
                "version \"1.x\"",
            ),
            (
                "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833},1.0,en",
                "language \"en\"",
            ),
            (
                "{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833},1.0,1033,up",
                "upgrade code",
            ),
            ("{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833},1,2,3,4", "5 fields"),
        ] {
            let e = ProductFacts::parse_spec(text).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{text}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn package_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.msi");
        std::fs::write(&path, b"not a database").unwrap();
        let e = ProductFacts::from_package(&path).unwrap_err();
        assert!(e.to_string().contains("empty.msi"), "{e}");
    }

    #[test]
    fn package_without_product_code_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noprops.msi");
        let bytes = crate::testkit::synth::product_database(&[("ProductVersion", "1.0")]).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let e = ProductFacts::from_package(&path).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("noprops.msi"), "{text}");
        assert!(text.contains("no ProductCode"), "{text}");
    }
}
