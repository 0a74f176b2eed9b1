//! The instances of a multi-instance product, read from where users keep
//! them: the product itself (WiX `<InstanceTransforms>` embeds one
//! transform substorage per instance), a stand-alone instance transform
//! (.mst), or a plain list file.
//!
//! An instance transform changes ProductCode in its Property table (and
//! usually the instance property and ProductName; sometimes UpgradeCode).
//! The Property table is the authority here; a transform that does not
//! change ProductCode is not an instance, and is reported as skipped with
//! the reason.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::format::container::{self, FileKind, Storage, storage_part};
use crate::format::guid::Guid;
use crate::format::streamname;
use crate::format::summary::{TransformRevision, get_string, pid, property_part};
use crate::format::transform::{self, Schema};
use crate::patch;

/// At most this many bytes of an instance list are read; a longer list is
/// refused.
pub const MAX_LIST_FILE_LEN: u64 = 16 * 1024 * 1024;

/// One instance of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// The instance's name: the transform's storage name or file stem, or
    /// the ID of a list-file line.
    pub id: Option<String>,
    /// The instance's product code.
    pub product_code: Guid,
    /// The UpgradeCode the instance transform sets (None: it keeps the
    /// base's).
    pub upgrade_code: Option<Guid>,
    /// The ProductName the instance transform sets (None: it keeps the
    /// base's).
    pub product_name: Option<String>,
    /// The base product code the instance is derived from, when known.
    pub base: Option<Guid>,
    /// The ComponentId the instance transform gives each component it
    /// isolates (Component rows setting ComponentId), by component key;
    /// empty for list-file lines and transforms that isolate nothing.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub component_codes: IndexMap<String, String>,
}

impl InstanceSource {
    /// Whether the product isolates components: some instance transform
    /// gives a component a ComponentId of the instance's own (as WiX does
    /// for `Component/@MultiInstance="yes"`).
    pub fn isolates_components(&self) -> bool {
        self.instances.iter().any(|i| !i.component_codes.is_empty())
    }

    /// Refuses a source that defines no instance, for a caller that was
    /// asked for its instances (a usage error naming the file).
    pub fn require_instances(self) -> Result<InstanceSource> {
        if self.instances.is_empty() {
            return Err(
                Error::usage("defines no instance (no transform changes the ProductCode)")
                    .in_file(&self.path),
            );
        }
        Ok(self)
    }
}

/// A transform of the product that is not an instance, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Storage name (or file stem).
    pub id: String,
    /// Why it is not an instance.
    pub reason: String,
}

/// The instances found in a product or stand-alone transform.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceSource {
    /// The file read.
    pub path: PathBuf,
    /// What the file is.
    pub kind: FileKind,
    /// The base product code: the product's ProductCode, or the from-code
    /// of a stand-alone transform's RevisionNumber.
    pub base: Guid,
    /// The base UpgradeCode, when known.
    pub base_upgrade_code: Option<Guid>,
    /// The base ProductName, when known (products only).
    pub base_product_name: Option<String>,
    /// The instances, in storage order.
    pub instances: Vec<Instance>,
    /// Storages (or the stand-alone transform) that are not instances.
    pub skipped: Vec<Skipped>,
}

/// Reads the instances of a product (.msi with embedded instance
/// transforms) or of a stand-alone instance transform (.mst). The kind is
/// told by the root CLSID, not the file name.
pub fn from_product(path: &Path) -> Result<InstanceSource> {
    let mut cf = container::open(path)?;
    from_product_with(path, &mut cf, |_| {
        crate::format::msi::guarded(path, || {
            let mut package =
                crate::format::msi::open_package(path).map_err(|e| Error::io(READ_BASE, e))?;
            base_of(&mut package)
        })
        .unwrap_or_else(|panicked| Err(panicked.error(READ_BASE)))
    })
}

/// [`from_product`] of a file already open (`cf`, named `path`), such as
/// with the lazy reader: the `msi` crate reads the database's streams
/// only ([`crate::format::msi::guarded_in`]), so that what is read follows
/// the tables and transforms, not the cabinets beside them.
pub fn from_product_in<S: Storage>(path: &Path, cf: &mut S) -> Result<InstanceSource> {
    from_product_with(path, cf, |cf| {
        let read = |package: std::io::Result<crate::format::msi::Extract>| {
            base_of(&mut package.map_err(|e| Error::io(READ_BASE, e))?)
        };
        crate::format::msi::guarded_in(cf, path, &[transform::PROPERTY], read)
            .unwrap_or_else(|panicked| Err(panicked.error(READ_BASE)))
    })
}

const READ_BASE: &str = "cannot read the installer database";

/// The instances of the file `cf` at `path`; `read_base` reads the base
/// of an installer database.
fn from_product_with<S: Storage>(
    path: &Path,
    cf: &mut S,
    read_base: impl FnOnce(&mut S) -> Result<Base>,
) -> Result<InstanceSource> {
    match container::kind_of(cf) {
        FileKind::Database => read_base(cf)
            .and_then(|base| from_database(path, cf, base))
            .in_file(path),
        FileKind::Transform => from_standalone(path, cf).in_file(path),
        FileKind::Patch => Err(Error::usage(
            "is a patch (.msp); instances are read from the product (.msi) or from an \
             instance transform (.mst)",
        )
        .in_file(path)),
        FileKind::Other => Err(Error::format(
            "is a compound file of unknown kind, neither a product (.msi) nor a transform (.mst)",
        )
        .in_file(path)),
    }
}

/// The base properties and schema of an installer database.
struct Base {
    product_code: Guid,
    upgrade_code: Option<Guid>,
    product_name: Option<String>,
    schema: Schema,
}

/// The base of a database the `msi` crate opened; called inside the
/// guarded entry into the crate.
fn base_of<F: Read + Seek>(package: &mut msi::Package<F>) -> Result<Base> {
    let schema = Schema::from_package(package);
    let mut props: IndexMap<String, String> = IndexMap::new();
    if package.has_table(transform::PROPERTY) {
        let rows = package
            .select_rows(msi::Select::table(transform::PROPERTY))
            .map_err(|e| Error::io("cannot read the Property table", e))?;
        for row in rows {
            if row.len() < 2 {
                continue;
            }
            if let (Some(k), Some(v)) = (row[0].as_str(), row[1].as_str()) {
                props.insert(k.to_string(), v.to_string());
            }
        }
    }
    let product_code = props
        .get("ProductCode")
        .ok_or_else(|| Error::format("is missing"))
        .and_then(|v| Guid::parse_braced(v))
        .at("table Property, property ProductCode")?;
    let upgrade_code = props
        .get("UpgradeCode")
        .map(|v| Guid::parse_braced(v))
        .transpose()
        .at("table Property, property UpgradeCode")?;
    Ok(Base {
        product_code,
        upgrade_code,
        product_name: props.get("ProductName").cloned(),
        schema,
    })
}

fn from_database<S: Storage>(path: &Path, cf: &mut S, base: Base) -> Result<InstanceSource> {
    let storages: Vec<(String, uuid::Uuid)> = cf
        .children(Path::new("/"))
        .map_err(|e| Error::io("cannot list the root storage", e))?
        .into_iter()
        .filter(|e| !e.is_stream)
        .map(|e| (e.name, e.clsid))
        .collect();
    let pool_name = streamname::encode("_StringPool", true);
    let mut source = InstanceSource {
        path: path.to_path_buf(),
        kind: FileKind::Database,
        base: base.product_code,
        base_upgrade_code: base.upgrade_code,
        base_product_name: base.product_name.clone(),
        instances: Vec::new(),
        skipped: Vec::new(),
    };
    for (name, clsid) in storages {
        let dir = Path::new("/").join(&name);
        let is_transform =
            clsid == container::CLSID_TRANSFORM || Storage::is_stream(cf, &dir.join(&pool_name));
        if !is_transform {
            source.skipped.push(Skipped {
                id: name,
                reason: format!(
                    "not a transform: a storage of CLSID {} without a string pool",
                    Guid(clsid)
                ),
            });
            continue;
        }
        let changes = transform::property_changes(cf, &dir, &base.schema)?;
        match classify(&name, base.product_code, &changes).at(storage_part(&name))? {
            Ok(mut instance) => {
                instance.component_codes = transform::component_ids(cf, &dir, &base.schema)?;
                source.instances.push(instance);
            }
            Err(reason) => source.skipped.push(Skipped { id: name, reason }),
        }
    }
    Ok(source)
}

fn from_standalone<S: Storage>(path: &Path, cf: &mut S) -> Result<InstanceSource> {
    let root = Path::new("/");
    let summary_part = || container::stream_part(Path::new(crate::format::summary::SUMMARY_STREAM));
    let set = patch::read_summary(cf, root)?;
    let raw = get_string(&set, pid::REVISION_NUMBER)
        .at(summary_part())?
        .ok_or_else(|| {
            Error::format("is missing")
                .at(property_part(pid::REVISION_NUMBER))
                .at(summary_part())
        })?;
    let revision = TransformRevision::parse(&raw)
        .at(property_part(pid::REVISION_NUMBER))
        .at(summary_part())?;
    let base = revision.from.code;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let changes = transform::property_changes(cf, root, &Schema::property_only())?;
    let mut source = InstanceSource {
        path: path.to_path_buf(),
        kind: FileKind::Transform,
        base,
        base_upgrade_code: revision.upgrade_code,
        base_product_name: None,
        instances: Vec::new(),
        skipped: Vec::new(),
    };
    match classify(&id, base, &changes)? {
        Ok(mut instance) => {
            instance.component_codes = transform::component_ids(cf, root, &Schema::new())?;
            source.instances.push(instance);
        }
        // Fall back on RevisionNumber when the Property table says nothing.
        Err(_) if !changes.contains_key("ProductCode") && revision.changes_product_code() => {
            let mut instance = classify_codes(&id, base, revision.to.code, &changes)?;
            instance.base = Some(base);
            source.instances.push(instance);
        }
        Err(reason) => source.skipped.push(Skipped { id, reason }),
    }
    Ok(source)
}

/// An instance from a transform's Property changes, or the reason it is
/// not one. Malformed UpgradeCode values are errors.
fn classify(
    id: &str,
    base: Guid,
    changes: &IndexMap<String, Option<String>>,
) -> Result<std::result::Result<Instance, String>> {
    let code = match changes.get("ProductCode") {
        None => return Ok(Err("its Property table does not change ProductCode".into())),
        Some(None) => return Ok(Err("its Property table deletes ProductCode".into())),
        Some(Some(text)) => match Guid::parse_braced(text) {
            Ok(code) => code,
            Err(_) => {
                return Ok(Err(format!(
                    "it sets ProductCode to {text:?}, which is not a braced GUID"
                )));
            }
        },
    };
    if code == base {
        return Ok(Err(
            "it sets ProductCode to the base product's own code".into()
        ));
    }
    classify_codes(id, base, code, changes).map(Ok)
}

fn classify_codes(
    id: &str,
    base: Guid,
    code: Guid,
    changes: &IndexMap<String, Option<String>>,
) -> Result<Instance> {
    let upgrade_code = match changes.get("UpgradeCode") {
        Some(Some(text)) => {
            Some(Guid::parse_braced(text).at("table Property, property UpgradeCode")?)
        }
        _ => None,
    };
    let product_name = changes.get("ProductName").cloned().flatten();
    Ok(Instance {
        id: Some(id.to_string()),
        product_code: code,
        upgrade_code,
        product_name,
        base: Some(base),
        component_codes: IndexMap::new(),
    })
}

//==========================================================================//
// List files

/// Reads a list of instances, one a line: `[ID] {BASE}={INSTANCE}` or
/// `[ID] {INSTANCE}`. Blank lines and `#` comments (a line starting with
/// `#`, or from a `#` after white space) are ignored; braces are optional
/// and case does not matter. Errors name the file and the line; a list
/// with no instance, or with one product code twice, is an error. `-` is
/// standard input.
///
/// At most [`MAX_LIST_FILE_LEN`] bytes are read, whatever the file is: a
/// pipe, a device or a file that grows has no size to check beforehand,
/// so the bound is on the reading itself (one byte more than the limit
/// tells that the list is too long).
pub fn from_list_file(path: &Path) -> Result<Vec<Instance>> {
    let stdin = path.as_os_str() == "-";
    let name = if stdin {
        Path::new("<standard input>")
    } else {
        path
    };
    let mut bytes = Vec::new();
    let read = if stdin {
        std::io::stdin()
            .lock()
            .take(MAX_LIST_FILE_LEN + 1)
            .read_to_end(&mut bytes)
    } else {
        File::open(path).and_then(|f| f.take(MAX_LIST_FILE_LEN + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| Error::io("cannot read", e).in_file(name))?;
    if bytes.len() as u64 > MAX_LIST_FILE_LEN {
        return Err(Error::usage(format!(
            "holds more than {MAX_LIST_FILE_LEN} bytes; instance lists are limited to that"
        ))
        .in_file(name));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| {
            Error::usage(format!(
                "is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })
        .in_file(name)?;
    parse_list(&text).in_file(name)
}

/// Parses the text of a list file (see [`from_list_file`]).
pub fn parse_list(text: &str) -> Result<Vec<Instance>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut out: Vec<Instance> = Vec::new();
    let mut lines_of: IndexMap<Guid, usize> = IndexMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some(instance) = parse_line(line).at(format!("line {n}"))? else {
            continue;
        };
        if let Some(first) = lines_of.insert(instance.product_code, n) {
            return Err(Error::usage(format!(
                "product code {} is already listed on line {first}",
                instance.product_code
            ))
            .at(format!("line {n}")));
        }
        out.push(instance);
    }
    if out.is_empty() {
        return Err(Error::usage("lists no instances"));
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line.get(..i).unwrap_or(line);
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn parse_line(line: &str) -> Result<Option<Instance>> {
    let words: Vec<&str> = strip_comment(line).split_whitespace().collect();
    let (id, spec) = match words.as_slice() {
        [] => return Ok(None),
        [spec] => (None, *spec),
        [id, spec] => (Some(id.to_string()), *spec),
        _ => {
            return Err(Error::usage(format!(
                "expected `[ID] {{BASE}}={{INSTANCE}}` or `[ID] {{INSTANCE}}`, found {} words",
                words.len()
            )));
        }
    };
    let (base, code) = match spec.split_once('=') {
        Some((b, c)) => (Some(Guid::parse_lenient(b)?), Guid::parse_lenient(c)?),
        None => (None, Guid::parse_lenient(spec)?),
    };
    if base == Some(code) {
        return Err(Error::usage(format!(
            "the instance product code {code} is the base's own code"
        )));
    }
    Ok(Some(Instance {
        id,
        product_code: code,
        upgrade_code: None,
        product_name: None,
        base,
        component_codes: IndexMap::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfb::CompoundFile;
    use std::io::{Cursor, Write};

    use crate::format::propset::PropertySet;
    use crate::format::transform::tests::{words, write_transform};

    const BASE: &str = "{4014E041-A968-4DE3-B43C-322DF9A19359}";
    const I1: &str = "{1F9B1809-273F-4036-AB02-26D19171D5AE}";
    const I2: &str = "{1D53CF88-158A-47DC-957A-69C0AAD67572}";

    fn g(s: &str) -> Guid {
        Guid::parse_braced(s).unwrap()
    }

    #[test]
    fn list_lines_in_every_form() {
        let text = format!(
            "\u{FEFF}# instances of the product\n\
             \n\
             I1 {BASE}={I1}   # first\n\
             {}\r\n\
             I3 ab2c0f3e-1111-4222-8333-444455556666\n",
            I2.to_lowercase()
        );
        let list = parse_list(&text).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].id.as_deref(), Some("I1"));
        assert_eq!(list[0].base, Some(g(BASE)));
        assert_eq!(list[0].product_code, g(I1));
        assert_eq!(list[1].id, None);
        assert_eq!(list[1].base, None);
        assert_eq!(list[1].product_code, g(I2));
        assert_eq!(
            list[2].product_code,
            g("{AB2C0F3E-1111-4222-8333-444455556666}")
        );
    }

    #[test]
    fn list_errors_name_the_line() {
        let cases = [
            (format!("{I1}\nI2 x y\n"), "line 2: expected `[ID]"),
            (
                format!("\n\nI1 {BASE}=nope\n"),
                "line 3: \"nope\" is not a product code",
            ),
            (format!("{I1}\n{I2}\nagain {I1}\n"), "line 3: product code"),
            (
                format!("{BASE}={BASE}"),
                "line 1: the instance product code",
            ),
            ("# nothing\n\n".to_string(), "lists no instances"),
        ];
        for (text, want) in cases {
            let e = parse_list(&text).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage);
            assert!(e.to_string().contains(want), "{want:?} not in {e}");
        }
    }

    #[test]
    fn list_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instances.txt");
        std::fs::write(&path, format!("{I1}\nbad\n")).unwrap();
        let e = from_list_file(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: line 2: ", path.display())),
            "{e}"
        );
        std::fs::write(&path, b"\xFF\xFE").unwrap();
        let e = from_list_file(&path).unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        std::fs::write(&path, format!("I1 {I1}\n")).unwrap();
        assert_eq!(from_list_file(&path).unwrap()[0].product_code, g(I1));
    }

    /// A stand-alone transform file with `revision` and a Property table.
    fn write_mst(path: &Path, revision: &str, strings: &[&str], property: Vec<u8>) {
        let mut cf = CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.set_storage_clsid("/", container::CLSID_TRANSFORM)
            .unwrap();
        write_transform(&mut cf, "/", strings, false, &[("Property", property)]);
        let mut set = PropertySet::new(crate::format::propset::FMTID_SUMMARY_INFORMATION);
        set.set_string(pid::REVISION_NUMBER, revision).unwrap();
        cf.create_stream(format!("/{}", crate::format::summary::SUMMARY_STREAM))
            .unwrap()
            .write_all(&set.to_bytes())
            .unwrap();
        cf.flush().unwrap();
        std::fs::write(path, cf.into_inner().into_inner()).unwrap();
    }

    #[test]
    fn standalone_transform_gives_one_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Blue.mst");
        let rev = format!("{BASE}1.0;{I1}1.0;");
        write_mst(
            &path,
            &rev,
            &["ProductCode", I1, "UpgradeCode", I2],
            words(&[2, 1, 2, 2, 3, 4]),
        );
        let src = from_product(&path).unwrap();
        assert_eq!(src.base, g(BASE));
        assert_eq!(
            src.instances,
            [Instance {
                id: Some("Blue".into()),
                product_code: g(I1),
                upgrade_code: Some(g(I2)),
                product_name: None,
                base: Some(g(BASE)),
                component_codes: IndexMap::new(),
            }]
        );
    }

    #[test]
    fn standalone_falls_back_on_revision_number_or_skips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mst");
        write_mst(
            &path,
            &format!("{BASE}1.0;{I2}1.0;"),
            &["A", "b"],
            words(&[2, 1, 2]),
        );
        let src = from_product(&path).unwrap();
        assert_eq!(src.instances[0].product_code, g(I2));

        write_mst(
            &path,
            &format!("{BASE}1.0;{BASE}1.0;"),
            &["A", "b"],
            words(&[2, 1, 2]),
        );
        let src = from_product(&path).unwrap();
        assert!(src.instances.is_empty());
        assert_eq!(
            src.skipped[0].reason,
            "its Property table does not change ProductCode"
        );
    }

    #[test]
    fn malformed_standalone_transforms_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mst");
        // Truncated row, string id out of range.
        for (rows, want) in [
            (
                vec![2, 0, 1, 0, 2],
                "table stream Property, row at offset 0: truncated row",
            ),
            (words(&[2, 1, 7]), "string id 7 is out of range"),
        ] {
            write_mst(
                &path,
                &format!("{BASE}1.0;{I1}1.0;"),
                &["ProductCode", I1],
                rows,
            );
            let e = from_product(&path).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Format);
            let e = e.to_string();
            assert!(e.starts_with(&path.display().to_string()), "{e}");
            assert!(e.contains(want), "{want:?} not in {e}");
        }
        // An UpgradeCode that is not a GUID.
        write_mst(
            &path,
            &format!("{BASE}1.0;{I1}1.0;"),
            &["ProductCode", I1, "UpgradeCode", "nope"],
            words(&[2, 1, 2, 2, 3, 4]),
        );
        let e = from_product(&path).unwrap_err().to_string();
        assert!(e.contains("property UpgradeCode"), "{e}");
    }

    #[test]
    fn classification_reasons() {
        let base = g(BASE);
        let ch = |v: &[(&str, Option<&str>)]| -> IndexMap<String, Option<String>> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect()
        };
        let reason = |c| classify("x", base, &c).unwrap().unwrap_err();
        assert!(reason(ch(&[("ProductCode", None)])).contains("deletes"));
        assert!(reason(ch(&[("ProductCode", Some("zz"))])).contains("not a braced GUID"));
        assert!(reason(ch(&[("ProductCode", Some(BASE))])).contains("own code"));
        let i = classify(
            "x",
            base,
            &ch(&[("ProductCode", Some(I1)), ("ProductName", Some("P"))]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(i.product_name.as_deref(), Some("P"));
    }
}
