//! Builds synthetic but structurally faithful patches for tests, benchmarks
//! and the shipped sample.
//!
//! A built patch has what a WiX-built `.msp` has, laid out the same way: a
//! root storage with the patch CLSID, a small patch database
//! (`MsiPatchMetadata`, `MsiPatchSequence`) written by the `msi` crate, a
//! `\005SummaryInformation` stream written by [`crate::format::propset`], a cabinet
//! stream, and per transform pair two substorages `name` and `#name` with
//! the transform CLSID, each with its own summary information and a few
//! table streams. Table and cabinet contents are opaque deterministic
//! bytes: nothing here installs, but everything the retargeting reads is
//! real.
//!
//! The output depends only on the [`PatchSpec`]: all timestamps are fixed,
//! so two builds of one spec are byte-identical.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::format::propset::{FMTID_SUMMARY_INFORMATION, PropertySet, PropertyValue, PropsetError};
use crate::format::summary::pid;

/// The cabinet stream's name before MSI stream-name encoding.
pub const CABINET_NAME: &str = "PCW_CAB_Sample";

/// `{000C1082-0000-0000-C000-000000000046}`, the CLSID of a transform.
pub const TRANSFORM_CLSID: uuid::Uuid = crate::format::container::CLSID_TRANSFORM;

/// `{000C1086-0000-0000-C000-000000000046}`, the CLSID of a patch.
pub const PATCH_CLSID: uuid::Uuid = crate::format::container::CLSID_PATCH;

/// The time stamped on storages and in the summary information:
/// 2024-01-01T00:00:00Z, fixed so that builds are reproducible.
pub const BUILD_TIME_UNIX_SECS: u64 = 1_704_067_200;

/// Seconds from 1601-01-01 (the FILETIME epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

const SUMMARY_STREAM: &str = "\u{5}SummaryInformation";

//===========================================================================//

/// One transform pair: the base transform `name` and its patch transform
/// `#name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSpec {
    /// Substorage name of the base transform, e.g. `rtmA.1`; the partner
    /// is `#` + name.
    pub name: String,
    /// Product code the transform applies to, `{GUID}` upper case.
    pub from_code: String,
    /// Product version the transform applies to.
    pub from_version: String,
    /// Product code after the transform.
    pub to_code: String,
    /// Product version after the transform.
    pub to_version: String,
    /// Upgrade code, third part of RevisionNumber.
    pub upgrade_code: String,
    /// Validation (high word) and error-suppression (low word) flags.
    pub char_count: u32,
    /// Transform Template and LastSavedBy, `platform;language`.
    pub language: String,
}

impl PairSpec {
    /// The partner (patch transform) substorage name, `#` + name.
    pub fn partner_name(&self) -> String {
        format!("#{}", self.name)
    }

    /// RevisionNumber of the base transform:
    /// `{from}fromver;{to}tover;{upgrade}`.
    pub fn revision_number(&self) -> String {
        format!(
            "{}{};{}{};{}",
            self.from_code, self.from_version, self.to_code, self.to_version, self.upgrade_code
        )
    }

    /// RevisionNumber of the partner, which starts from the upgraded
    /// product: `{to}tover;{to}tover;{upgrade}`.
    pub fn partner_revision_number(&self) -> String {
        format!(
            "{}{};{}{};{}",
            self.to_code, self.to_version, self.to_code, self.to_version, self.upgrade_code
        )
    }
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchSpec {
    /// Patch code, the summary RevisionNumber.
    pub patch_code: String,
    /// Title, Subject and the DisplayName metadata.
    pub display_name: String,
    /// Author and the ManufacturerName metadata.
    pub manufacturer: String,
    /// PatchFamily of the `MsiPatchSequence` rows.
    pub family: String,
    /// Product codes of the summary Template, in order.
    pub targets: Vec<String>,
    /// Transform pairs, in LastSavedBy order.
    pub pairs: Vec<PairSpec>,
    /// Length of the cabinet stream in bytes.
    pub cabinet_len: u64,
    /// Whether to add a `\005DigitalSignature` stream: a fixture signature
    /// ([`crate::format::signature::fixture`]) whose SHA-256 digest matches the
    /// patch, so that it reads as valid until the patch changes.
    pub signed: bool,
    /// LastSavedBy written as is instead of the one derived from `pairs`,
    /// to build malformed patches.
    pub extra_last_saved_by: Option<String>,
    /// The MsiPatchSequence table.
    pub sequence: SequenceTable,
    /// MsiPatchMetadata rows added after the standard ones (NULL Company),
    /// e.g. `("MinorUpdateTargetRTM", "1")`.
    pub extra_metadata: Vec<(String, String)>,
    /// Real table streams for every pair's main transform (its partner
    /// then gets a ProductVersion update), instead of opaque filler: see
    /// [`super::components`].
    pub tables: Option<super::tables::TransformTables>,
    /// Compound-file version: `V4` (4096-byte sectors, `cfb`'s default) or
    /// `V3` (512-byte sectors, what msi.dll and WiX write, so eight times
    /// as many sectors and FAT entries for the same cabinet).
    pub version: cfb::Version,
}

/// What the MsiPatchSequence table of a built patch holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SequenceTable {
    /// One row per target: the spec's family, the target's code, the first
    /// pair's to-version as Sequence, NULL Attributes (what WiX writes by
    /// default).
    #[default]
    PerTarget,
    /// Exactly these rows (none: an empty table).
    Rows(Vec<SequenceRowSpec>),
    /// No MsiPatchSequence table at all.
    Absent,
}

/// One MsiPatchSequence row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceRowSpec {
    /// PatchFamily.
    pub family: String,
    /// ProductCode, or NULL.
    pub product_code: Option<String>,
    /// Sequence.
    pub sequence: String,
    /// Attributes, or NULL.
    pub attributes: Option<i32>,
}

impl SequenceRowSpec {
    /// A row of `family` at `sequence` for `product_code` (None: NULL,
    /// every target), with SupersedeEarlier when `supersede`.
    pub fn new(
        family: &str,
        product_code: Option<&str>,
        sequence: &str,
        supersede: bool,
    ) -> SequenceRowSpec {
        SequenceRowSpec {
            family: family.into(),
            product_code: product_code.map(str::to_string),
            sequence: sequence.into(),
            attributes: supersede.then_some(1),
        }
    }
}

const PRODUCT_A: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
const PRODUCT_B: &str = "{A93C47E2-1B5D-4F60-8E72-C4D5E6F7A822}";
const UPGRADE_A: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const UPGRADE_B: &str = "{D7F1A3B4-2C8E-49D5-A6B0-E1F2A3B4C544}";
const WIX_PATCH_VALIDATION: u32 = 0x0922_001F;

/// A pair as WiX builds it for one product, `from` to `to` version:
/// CharCount 0x0922001F (product code, update version, equal base version
/// and upgrade code validated), language `Intel;1033`.
pub fn pair(name: &str, code: &str, from: &str, to: &str, upgrade: &str) -> PairSpec {
    PairSpec {
        name: name.into(),
        from_code: code.into(),
        from_version: from.into(),
        to_code: code.into(),
        to_version: to.into(),
        upgrade_code: upgrade.into(),
        char_count: WIX_PATCH_VALIDATION,
        language: "Intel;1033".into(),
    }
}

impl PatchSpec {
    /// A small update of one product, 1.0.0.0 to 1.0.1.0: one target, one
    /// pair `rtmA.1`, CharCount 0x0922001F, a 64 KiB cabinet. This is the
    /// spec of the shipped `testdata/sample.msp`.
    pub fn single_product() -> PatchSpec {
        PatchSpec {
            patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A01}".into(),
            display_name: "Sample Product A patch 1.0.1.0".into(),
            manufacturer: "Sample Company".into(),
            family: "SampleFamily".into(),
            targets: vec![PRODUCT_A.into()],
            pairs: vec![pair("rtmA.1", PRODUCT_A, "1.0.0.0", "1.0.1.0", UPGRADE_A)],
            cabinet_len: 64 * 1024,
            signed: false,
            extra_last_saved_by: None,
            sequence: SequenceTable::PerTarget,
            extra_metadata: Vec::new(),
            tables: None,
            version: cfb::Version::V4,
        }
    }

    /// One patch for two products: two targets, pairs `rtmA.1` and
    /// `rtmB.1`.
    pub fn two_products() -> PatchSpec {
        PatchSpec {
            patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A02}".into(),
            display_name: "Sample Products A and B patch 1.0.1.0".into(),
            targets: vec![PRODUCT_A.into(), PRODUCT_B.into()],
            pairs: vec![
                pair("rtmA.1", PRODUCT_A, "1.0.0.0", "1.0.1.0", UPGRADE_A),
                pair("rtmB.1", PRODUCT_B, "1.0.0.0", "1.0.1.0", UPGRADE_B),
            ],
            ..PatchSpec::single_product()
        }
    }

    /// One product serviced from two baselines (RTM 1.0.0.0 and LDR
    /// 1.0.1.0) to 1.0.2.0: one target, pairs `rtm.1` and `ldr.1`.
    pub fn two_baselines() -> PatchSpec {
        PatchSpec {
            patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A03}".into(),
            display_name: "Sample Product A patch 1.0.2.0".into(),
            pairs: vec![
                pair("rtm.1", PRODUCT_A, "1.0.0.0", "1.0.2.0", UPGRADE_A),
                pair("ldr.1", PRODUCT_A, "1.0.1.0", "1.0.2.0", UPGRADE_A),
            ],
            ..PatchSpec::single_product()
        }
    }

    /// The summary Template: the targets joined by `;`.
    pub fn template(&self) -> String {
        self.targets.join(";")
    }

    /// The summary LastSavedBy: the override, or `:name;:#name` for each
    /// pair.
    pub fn last_saved_by(&self) -> String {
        match &self.extra_last_saved_by {
            Some(raw) => raw.clone(),
            None => self
                .pairs
                .iter()
                .map(|p| format!(":{};:{}", p.name, p.partner_name()))
                .collect::<Vec<_>>()
                .join(";"),
        }
    }
}

//===========================================================================//

/// Writes the patch for `spec` into `out`, which must be empty, and
/// returns it.
pub fn write_patch<W: Read + Write + Seek>(spec: &PatchSpec, out: W) -> io::Result<W> {
    let mut comp = match spec.version {
        cfb::Version::V4 => cfb::CompoundFile::open(write_database(spec, out)?)?,
        // `msi` creates its package with `cfb`'s default version: build the
        // database in memory and copy its entries into a version-3 file.
        cfb::Version::V3 => {
            let db = write_database(spec, io::Cursor::new(Vec::new()))?;
            let mut src = cfb::CompoundFile::open(db)?;
            let mut dst = cfb::CompoundFile::create_with_version(cfb::Version::V3, out)?;
            copy_entries(&mut src, &mut dst)?;
            dst
        }
    };
    comp.set_storage_clsid("/", PATCH_CLSID)?;
    write_stream(&mut comp, SUMMARY_STREAM, &patch_summary(spec)?)?;
    write_cabinet(&mut comp, spec.cabinet_len)?;
    for pair in &spec.pairs {
        let partner = pair.partner_name();
        let (main_tables, partner_tables) = match &spec.tables {
            Some(t) => (
                Some(super::tables::transform_streams(t)?),
                Some(super::tables::transform_streams(
                    &super::tables::TransformTables {
                        properties: vec![("ProductVersion".into(), pair.to_version.clone())],
                        ..Default::default()
                    },
                )?),
            ),
            None => (None, None),
        };
        write_transform(
            &mut comp,
            &pair.name,
            pair,
            &pair.revision_number(),
            main_tables,
        )?;
        write_transform(
            &mut comp,
            &partner,
            pair,
            &pair.partner_revision_number(),
            partner_tables,
        )?;
    }
    comp.set_modified_time("/", build_time())?;
    if spec.signed {
        crate::format::signature::fixture::sign(
            &mut comp,
            crate::format::signature::DigestAlgorithm::Sha256,
            false,
            BUILD_TIME_UNIX_SECS,
        )?;
    }
    comp.flush()?;
    Ok(comp.into_inner())
}

/// Writes the patch for `spec` to a new file at `path` (replacing any),
/// streaming the cabinet so that large patches need little memory.
pub fn write_patch_file(spec: &PatchSpec, path: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    write_patch(spec, file)?.sync_all()
}

/// The product of Windows Installer's "Multiple Patching Example":
/// ProductCode, ProductVersion, ProductLanguage and UpgradeCode.
pub const EXAMPLE_PRODUCT: [(&str, &str); 4] = [
    ("ProductCode", "{18A9233C-0B34-4127-A966-C257386270BC}"),
    ("ProductVersion", "1.0.0.0"),
    ("ProductLanguage", "1033"),
    ("UpgradeCode", UPGRADE_A),
];

/// The patches of Windows Installer's "Multiple Patching Example", by file
/// name: `qfe1.msp` and `qfe2.msp`, small updates of 1.0 in family
/// AppPatch at Sequence 1.1.0 and 1.2.0, and `sp1.msp`, a minor upgrade
/// 1.0 -> 1.1 at 1.3.0 (with msidbPatchSequenceSupersedeEarlier when
/// `supersede`, and then another patch code), each with one
/// MsiPatchSequence row keyed to the product.
pub fn multiple_patching_example(supersede: bool) -> Vec<(&'static str, PatchSpec)> {
    let code = EXAMPLE_PRODUCT[0].1;
    let one = |n: u8, name: &str, to: &str, seq: &str, supersede: bool| PatchSpec {
        patch_code: format!("{{7D1E6A40-2B9C-4E35-9F18-0A6C3D5E7F{n:02X}}}"),
        display_name: format!("Example {name}"),
        family: "AppPatch".into(),
        targets: vec![code.into()],
        pairs: vec![pair(name, code, "1.0.0.0", to, UPGRADE_A)],
        cabinet_len: 4096,
        sequence: SequenceTable::Rows(vec![SequenceRowSpec::new(
            "AppPatch",
            Some(code),
            seq,
            supersede,
        )]),
        ..PatchSpec::single_product()
    };
    vec![
        ("qfe1.msp", one(1, "QFE1", "1.0.0.0", "1.1.0", false)),
        ("qfe2.msp", one(2, "QFE2", "1.0.0.0", "1.2.0", false)),
        // The superseding build is another patch, with its own code.
        (
            "sp1.msp",
            one(
                3 + u8::from(supersede),
                "SP1",
                "1.1.0.0",
                "1.3.0",
                supersede,
            ),
        ),
    ]
}

const BUILD_FILETIME: u64 = (BUILD_TIME_UNIX_SECS + FILETIME_UNIX_OFFSET_SECS) * 10_000_000;

/// An installer database (`.msi`) whose only table is a Property table
/// holding `props`: enough of a product for the facts `check` and
/// `--instances-from` read from a package.
pub fn product_database(props: &[(&str, &str)]) -> io::Result<Vec<u8>> {
    let mut package =
        msi::Package::create(msi::PackageType::Installer, io::Cursor::new(Vec::new()))?;
    package.create_table(
        "Property",
        vec![
            msi::Column::build("Property").primary_key().id_string(72),
            msi::Column::build("Value").text_string(0),
        ],
    )?;
    package.insert_rows(
        msi::Insert::into("Property").rows(
            props
                .iter()
                .map(|(k, v)| vec![msi::Value::from(*k), msi::Value::from(*v)])
                .collect(),
        ),
    )?;
    Ok(package.into_inner()?.into_inner())
}

/// A product database with a Property table holding `props`, a
/// Component table holding `components` (key, ComponentId; `None` for a
/// null id) when there are any, and, when `filler` is above 0, a table
/// `Filler` of that many distinct strings, so that a product whose string
/// pool passes 65,535 strings (3-byte references) can be built. Template
/// `Intel;1033` and a code page of 1252 in the summary.
pub fn product_database_with(
    props: &[(&str, &str)],
    components: &[(&str, Option<&str>)],
    filler: usize,
) -> io::Result<Vec<u8>> {
    use msi::{Column, Insert, Value};
    let mut package =
        msi::Package::create(msi::PackageType::Installer, io::Cursor::new(Vec::new()))?;
    package.summary_info_mut().set_arch("Intel");
    package
        .summary_info_mut()
        .set_languages(&[msi::LanguageId::from_tag("en-US")]);
    package.create_table(
        "Property",
        vec![
            Column::build("Property").primary_key().id_string(72),
            Column::build("Value").text_string(0),
        ],
    )?;
    package.insert_rows(
        Insert::into("Property").rows(
            props
                .iter()
                .map(|(k, v)| vec![Value::from(*k), Value::from(*v)])
                .collect(),
        ),
    )?;
    if !components.is_empty() {
        package.create_table(
            "Component",
            vec![
                Column::build("Component").primary_key().id_string(72),
                Column::build("ComponentId").nullable().string(38),
                Column::build("Directory_").id_string(72),
                Column::build("Attributes").int16(),
                Column::build("Condition").nullable().string(255),
                Column::build("KeyPath").nullable().id_string(72),
            ],
        )?;
        package.insert_rows(
            Insert::into("Component").rows(
                components
                    .iter()
                    .map(|(k, id)| {
                        vec![
                            Value::from(*k),
                            id.map(Value::from).unwrap_or(Value::Null),
                            Value::from("INSTALLDIR"),
                            Value::Int(0),
                            Value::Null,
                            Value::Null,
                        ]
                    })
                    .collect(),
            ),
        )?;
    }
    if filler > 0 {
        package.create_table(
            "Filler",
            vec![Column::build("Text").primary_key().id_string(72)],
        )?;
    }
    let schema = crate::format::transform::Schema::from_package(&package);
    let bytes = package.into_inner()?.into_inner();
    if filler == 0 {
        return Ok(bytes);
    }
    fill_strings(bytes, &schema, filler).map_err(|e| io::Error::other(e.to_string()))
}

/// Adds `filler` rows of distinct strings to the empty table `Filler` of
/// the database `bytes`, widening every table to 3-byte string references
/// when the pool passes 65,535 strings. Written at the stream level: the
/// `msi` crate cannot widen a pool, and inserting row by row through it
/// costs a scan of the pool per string.
fn fill_strings(
    bytes: Vec<u8>,
    schema: &crate::format::transform::Schema,
    filler: usize,
) -> crate::error::Result<Vec<u8>> {
    use crate::format::streamname;
    use crate::format::transform::database::{decode_db_rows, encode_db_rows};
    use crate::format::transform::write::PoolEditor;
    use crate::format::transform::{columns_table, tables_table};
    let io_err = |e: io::Error| crate::error::Error::io("building the product", e);
    let mut cf = cfb::CompoundFile::open(io::Cursor::new(bytes)).map_err(io_err)?;
    let read = |cf: &mut cfb::CompoundFile<io::Cursor<Vec<u8>>>, name: &str| {
        let mut out = Vec::new();
        cf.open_stream(format!("/{}", streamname::encode(name, true)))
            .and_then(|mut s| s.read_to_end(&mut out))
            .map(|_| out)
            .map_err(io_err)
    };
    let pool = read(&mut cf, "_StringPool")?;
    let data = read(&mut cf, "_StringData")?;
    let mut editor = PoolEditor::parse(&pool, &data)?;
    let was_long = editor.long_refs();
    let mut ids = Vec::with_capacity(filler);
    for i in 0..filler {
        ids.push(vec![editor.add_ref(&format!("s{i:07}"))?]);
    }
    let long = editor.long_refs();
    let mut tables: Vec<(String, Vec<u8>)> = Vec::new();
    let names: Vec<String> = cf
        .read_root_storage()
        .filter(|e| e.is_stream())
        .map(|e| streamname::decode(e.name()))
        .filter(|d| d.is_table && !d.name.starts_with("_String"))
        .map(|d| d.name)
        .collect();
    for name in names {
        let def = match name.as_str() {
            "_Tables" => tables_table(),
            "_Columns" => columns_table(),
            other => match schema.table(other) {
                Some(d) => d.clone(),
                None => continue,
            },
        };
        let rows = if name == "Filler" {
            ids.clone()
        } else {
            decode_db_rows(&def, &read(&mut cf, &name)?, was_long)?
        };
        tables.push((name, encode_db_rows(&def, &rows, long)?));
    }
    let (pool, data) = editor.to_streams();
    tables.push(("_StringPool".into(), pool));
    tables.push(("_StringData".into(), data));
    for (name, bytes) in tables {
        let mut s = cf
            .create_stream(format!("/{}", streamname::encode(&name, true)))
            .map_err(io_err)?;
        s.write_all(&bytes).map_err(io_err)?;
    }
    cf.flush().map_err(io_err)?;
    Ok(cf.into_inner().into_inner())
}

fn build_time() -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(BUILD_TIME_UNIX_SECS))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn invalid(e: PropsetError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// The patch database, laid out as WiX's pyro writes it, with msi's
/// summary information (replaced afterwards).
fn write_database<W: Read + Write + Seek>(spec: &PatchSpec, out: W) -> io::Result<W> {
    use msi::{Category, Column, Insert, Value};
    let mut package = msi::Package::create(msi::PackageType::Patch, out)?;
    package.create_table(
        "MsiPatchMetadata",
        vec![
            Column::build("Company")
                .primary_key()
                .nullable()
                .category(Category::Identifier)
                .string(72),
            Column::build("Property")
                .primary_key()
                .category(Category::Identifier)
                .string(72),
            Column::build("Value").category(Category::Text).string(0),
        ],
    )?;
    let metadata = [
        ("AllowRemoval", "1"),
        ("Classification", "Update"),
        ("CreationTimeUTC", "1/1/2024 00:00"),
        ("Description", spec.display_name.as_str()),
        ("DisplayName", spec.display_name.as_str()),
        ("ManufacturerName", spec.manufacturer.as_str()),
    ];
    package.insert_rows(
        Insert::into("MsiPatchMetadata").rows(
            metadata
                .iter()
                .copied()
                .chain(
                    spec.extra_metadata
                        .iter()
                        .map(|(p, v)| (p.as_str(), v.as_str())),
                )
                .map(|(property, value)| {
                    vec![Value::Null, Value::from(property), Value::from(value)]
                })
                .collect(),
        ),
    )?;
    if spec.sequence == SequenceTable::Absent {
        return package.into_inner();
    }
    package.create_table(
        "MsiPatchSequence",
        vec![
            Column::build("PatchFamily")
                .primary_key()
                .category(Category::Identifier)
                .string(72),
            Column::build("ProductCode")
                .primary_key()
                .nullable()
                .category(Category::Guid)
                .string(38),
            Column::build("Sequence")
                .category(Category::Version)
                .string(72),
            Column::build("Attributes").nullable().int32(),
        ],
    )?;
    let version = spec
        .pairs
        .first()
        .map_or("1.0.0.0", |p| p.to_version.as_str());
    let rows: Vec<Vec<Value>> = match &spec.sequence {
        SequenceTable::Rows(rows) => rows
            .iter()
            .map(|r| {
                vec![
                    Value::from(r.family.as_str()),
                    r.product_code.as_deref().map_or(Value::Null, Value::from),
                    Value::from(r.sequence.as_str()),
                    r.attributes.map_or(Value::Null, Value::from),
                ]
            })
            .collect(),
        _ => spec
            .targets
            .iter()
            .map(|target| {
                vec![
                    Value::from(spec.family.as_str()),
                    Value::from(target.as_str()),
                    Value::from(version),
                    Value::Null,
                ]
            })
            .collect(),
    };
    package.insert_rows(Insert::into("MsiPatchSequence").rows(rows))?;
    package.into_inner()
}

/// The patch summary information, in the property order WiX writes.
fn patch_summary(spec: &PatchSpec) -> io::Result<Vec<u8>> {
    let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
    (|| -> Result<(), PropsetError> {
        set.set(pid::CODEPAGE, PropertyValue::I2(1252))?;
        set.set_string(pid::TITLE, &spec.display_name)?;
        set.set_string(pid::SUBJECT, &spec.display_name)?;
        set.set_string(pid::AUTHOR, &spec.manufacturer)?;
        set.set_string(pid::KEYWORDS, "Installer,Patching,PCP,Database")?;
        set.set_string(
            pid::COMMENTS,
            &format!(
                "This patch contains the logic and data required to install {}.",
                spec.display_name
            ),
        )?;
        set.set_string(pid::TEMPLATE, &spec.template())?;
        set.set_string(pid::LAST_SAVED_BY, &spec.last_saved_by())?;
        set.set_string(pid::REVISION_NUMBER, &spec.patch_code)?;
        set.set(pid::CREATE_TIME, PropertyValue::FileTime(BUILD_FILETIME))?;
        set.set(pid::LAST_SAVE_TIME, PropertyValue::FileTime(BUILD_FILETIME))?;
        set.set(pid::WORD_COUNT, PropertyValue::I4(5))?;
        set.set(pid::SECURITY, PropertyValue::I4(4))
    })()
    .map_err(invalid)?;
    Ok(set.to_bytes())
}

/// A transform's summary information. The property order is the one the
/// WiX-built transforms of the corpus have: Security before Template,
/// which keeps the table unsorted as in the field.
fn transform_summary(pair: &PairSpec, revision: &str) -> io::Result<Vec<u8>> {
    let mut set = PropertySet::new(FMTID_SUMMARY_INFORMATION);
    let char_count = i32::from_le_bytes(pair.char_count.to_le_bytes());
    (|| -> Result<(), PropsetError> {
        set.set(pid::CODEPAGE, PropertyValue::I2(1252))?;
        set.set_string(pid::TITLE, "Transform")?;
        set.set(pid::SECURITY, PropertyValue::I4(4))?;
        set.set_string(pid::TEMPLATE, &pair.language)?;
        set.set_string(pid::LAST_SAVED_BY, &pair.language)?;
        set.set_string(pid::REVISION_NUMBER, revision)?;
        set.set(pid::PAGE_COUNT, PropertyValue::I4(200))?;
        set.set(pid::CHAR_COUNT, PropertyValue::I4(char_count))
    })()
    .map_err(invalid)?;
    Ok(set.to_bytes())
}

fn write_transform<F: Read + Write + Seek>(
    comp: &mut cfb::CompoundFile<F>,
    storage: &str,
    pair: &PairSpec,
    revision: &str,
    tables: Option<Vec<(String, Vec<u8>)>>,
) -> io::Result<()> {
    let streams = match tables {
        Some(streams) => streams,
        None => [("_StringPool", 96), ("_StringData", 448), ("Property", 180)]
            .into_iter()
            .map(|(table, len)| {
                let seed = format!("{storage}/{table}");
                (
                    crate::format::streamname::encode(table, true),
                    noise(seed.as_bytes(), len),
                )
            })
            .collect(),
    };
    write_transform_storage(comp, storage, pair, revision, streams)
}

/// Writes a transform substorage `storage` of `comp`: the transform CLSID,
/// fixed timestamps, the summary of `pair` with `revision`, and `streams`
/// (packed name, bytes).
pub(crate) fn write_transform_storage<F: Read + Write + Seek>(
    comp: &mut cfb::CompoundFile<F>,
    storage: &str,
    pair: &PairSpec,
    revision: &str,
    streams: Vec<(String, Vec<u8>)>,
) -> io::Result<()> {
    let root = Path::new("/").join(storage);
    comp.create_storage(&root)?;
    comp.set_storage_clsid(&root, TRANSFORM_CLSID)?;
    // cfb stamps new storages with the current time.
    comp.set_created_time(&root, build_time())?;
    comp.set_modified_time(&root, build_time())?;
    write_stream(
        comp,
        root.join(SUMMARY_STREAM),
        &transform_summary(pair, revision)?,
    )?;
    for (name, bytes) in streams {
        write_stream(comp, root.join(name), &bytes)?;
    }
    Ok(())
}

/// Copies every entry under the root of `src` into `dst` (empty), with
/// its CLSID and state bits.
fn copy_entries<R: Read + Seek, W: Read + Write + Seek>(
    src: &mut cfb::CompoundFile<R>,
    dst: &mut cfb::CompoundFile<W>,
) -> io::Result<()> {
    let entries: Vec<cfb::Entry> = src.walk().filter(|e| !e.is_root()).collect();
    for e in &entries {
        if e.is_storage() {
            dst.create_storage(e.path())?;
        } else {
            let mut input = src.open_stream(e.path())?;
            let mut out = dst.create_new_stream(e.path())?;
            io::copy(&mut input, &mut out)?;
            out.flush()?;
        }
    }
    for e in &entries {
        dst.set_state_bits(e.path(), e.state_bits())?;
        if e.is_storage() {
            dst.set_storage_clsid(e.path(), *e.clsid())?;
        }
    }
    dst.set_storage_clsid("/", *src.root_entry().clsid())
}

fn write_stream<F: Read + Write + Seek>(
    comp: &mut cfb::CompoundFile<F>,
    path: impl AsRef<Path>,
    bytes: &[u8],
) -> io::Result<()> {
    let mut stream = comp.create_stream(path)?;
    stream.write_all(bytes)?;
    stream.flush()
}

/// Streams `len` deterministic bytes, one chunk at a time, so a gigabyte
/// cabinet never sits in memory.
fn write_cabinet<F: Read + Write + Seek>(
    comp: &mut cfb::CompoundFile<F>,
    len: u64,
) -> io::Result<()> {
    let mut stream = comp.create_stream(
        Path::new("/").join(crate::format::streamname::encode(CABINET_NAME, false)),
    )?;
    let mut noise = Noise::new(b"cabinet");
    let mut chunk = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(chunk.len(), |left| left.min(chunk.len()));
        let part = chunk.get_mut(..n).unwrap_or_default();
        noise.fill(part);
        stream.write_all(part)?;
        left = left.saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
    }
    stream.flush()
}

/// `len` deterministic bytes derived from `seed`.
fn noise(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Noise::new(seed).fill(&mut out);
    out
}

/// A xorshift64* generator: fast, deterministic, and seeded by name so that
/// different streams get different bytes.
struct Noise(u64);

impl Noise {
    fn new(seed: &[u8]) -> Noise {
        // FNV-1a of the seed; never zero, which xorshift cannot leave.
        let hash = seed.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        Noise(hash | 1)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            for (byte, value) in chunk.iter_mut().zip(word) {
                *byte = value;
            }
        }
    }
}

//===========================================================================//

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn build(spec: &PatchSpec) -> Vec<u8> {
        write_patch(spec, Cursor::new(Vec::new()))
            .unwrap()
            .into_inner()
    }

    fn open(bytes: &[u8]) -> cfb::CompoundFile<Cursor<&[u8]>> {
        cfb::CompoundFile::open(Cursor::new(bytes)).unwrap()
    }

    fn read(comp: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: impl AsRef<Path>) -> Vec<u8> {
        let mut out = Vec::new();
        comp.open_stream(path)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn summary(comp: &mut cfb::CompoundFile<Cursor<&[u8]>>, storage: &str) -> PropertySet {
        let bytes = read(comp, Path::new("/").join(storage).join(SUMMARY_STREAM));
        let set = PropertySet::parse(&bytes).unwrap();
        assert_eq!(set.to_bytes(), bytes);
        set
    }

    fn text(set: &PropertySet, pid: u32) -> String {
        set.get_string(pid).unwrap().unwrap()
    }

    #[test]
    fn msi_opens_it_as_a_patch_with_its_tables_and_cabinet() {
        let bytes = build(&PatchSpec::single_product());
        let mut package = msi::Package::open(Cursor::new(bytes.as_slice())).unwrap();
        assert_eq!(package.package_type(), msi::PackageType::Patch);
        assert!(package.has_table("MsiPatchMetadata"));
        assert!(package.has_table("MsiPatchSequence"));
        assert!(!package.has_digital_signature());
        let rows = package
            .select_rows(msi::Select::table("MsiPatchSequence"))
            .unwrap()
            .count();
        assert_eq!(rows, 1);
        // msi encodes the name itself: this checks our local encoder.
        let mut cabinet = Vec::new();
        package
            .read_stream(CABINET_NAME)
            .unwrap()
            .read_to_end(&mut cabinet)
            .unwrap();
        assert_eq!(cabinet.len(), 64 * 1024);
    }

    #[test]
    fn table_stream_names_match_msi_encoding() {
        let bytes = build(&PatchSpec::single_product());
        let comp = open(&bytes);
        for table in ["_StringPool", "_StringData", "_Tables", "MsiPatchSequence"] {
            let name = Path::new("/").join(crate::format::streamname::encode(table, true));
            assert!(comp.is_stream(&name), "{table}");
        }
    }

    #[test]
    fn patch_summary_is_what_wix_writes() {
        let spec = PatchSpec::two_products();
        let bytes = build(&spec);
        let mut comp = open(&bytes);
        assert_eq!(*comp.root_entry().clsid(), PATCH_CLSID);
        let set = summary(&mut comp, "");
        assert_eq!(set.code_page(), Some(1252));
        assert_eq!(
            set.property_ids(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 19]
        );
        assert_eq!(text(&set, 7), format!("{PRODUCT_A};{PRODUCT_B}"));
        assert_eq!(text(&set, 8), ":rtmA.1;:#rtmA.1;:rtmB.1;:#rtmB.1");
        assert_eq!(text(&set, 9), spec.patch_code);
        assert_eq!(
            set.get(12),
            Some(&PropertyValue::FileTime(133_485_408_000_000_000))
        );
        assert_eq!(set.get(15), Some(&PropertyValue::I4(5)));
        assert_eq!(set.get(19), Some(&PropertyValue::I4(4)));
    }

    #[test]
    fn every_pair_has_two_transform_storages() {
        let spec = PatchSpec::two_baselines();
        let bytes = build(&spec);
        let mut comp = open(&bytes);
        for pair in &spec.pairs {
            for (storage, revision) in [
                (pair.name.clone(), pair.revision_number()),
                (pair.partner_name(), pair.partner_revision_number()),
            ] {
                let entry = comp.entry(Path::new("/").join(&storage)).unwrap();
                assert!(entry.is_storage(), "{storage}");
                assert_eq!(*entry.clsid(), TRANSFORM_CLSID);
                assert_eq!(entry.created(), build_time());
                assert_eq!(entry.modified(), build_time());
                let set = summary(&mut comp, &storage);
                assert_eq!(set.property_ids(), [1, 2, 19, 7, 8, 9, 14, 16]);
                assert_eq!(text(&set, 2), "Transform");
                assert_eq!(text(&set, 7), "Intel;1033");
                assert_eq!(text(&set, 9), revision);
                assert_eq!(set.get(16), Some(&PropertyValue::I4(0x0922_001F)));
                let streams = comp
                    .read_storage(Path::new("/").join(&storage))
                    .unwrap()
                    .count();
                assert_eq!(streams, 4);
            }
        }
        assert_eq!(
            spec.pairs[1].revision_number(),
            format!("{PRODUCT_A}1.0.1.0;{PRODUCT_A}1.0.2.0;{UPGRADE_A}")
        );
    }

    #[test]
    fn overrides_and_signature() {
        let spec = PatchSpec {
            extra_last_saved_by: Some("rtmA.1;:missing".into()),
            signed: true,
            ..PatchSpec::single_product()
        };
        let bytes = build(&spec);
        let mut comp = open(&bytes);
        assert_eq!(text(&summary(&mut comp, ""), 8), "rtmA.1;:missing");
        assert!(
            !read(
                &mut comp,
                Path::new("/").join(crate::format::signature::DIGITAL_SIGNATURE)
            )
            .is_empty()
        );
        let sig = crate::format::signature::examine(&mut comp)
            .unwrap()
            .unwrap();
        assert_eq!(sig.verdict, crate::format::signature::Verdict::Valid);
        let package = msi::Package::open(Cursor::new(bytes.as_slice())).unwrap();
        assert!(package.has_digital_signature());
    }

    #[test]
    fn builds_are_byte_identical() {
        for spec in [
            PatchSpec::single_product(),
            PatchSpec::two_products(),
            PatchSpec::two_baselines(),
        ] {
            assert!(build(&spec) == build(&spec), "{}", spec.display_name);
        }
    }

    #[test]
    fn committed_sample_matches_a_fresh_build() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.msp");
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            build(&PatchSpec::single_product()) == committed,
            "testdata/sample.msp is stale: run `cargo run --example make_sample`"
        );
    }

    #[test]
    fn committed_sequence_samples_match_a_fresh_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sequence");
        let stale = "testdata/sequence is stale: run `cargo run --example make_sequence_samples`";
        let read = |name: &str| {
            std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}; {stale}"))
        };
        for (name, spec) in multiple_patching_example(false) {
            assert!(build(&spec) == read(name), "{name}: {stale}");
        }
        let (_, sp) = multiple_patching_example(true).pop().unwrap();
        assert!(build(&sp) == read("sp1-supersede.msp"), "{stale}");
        assert!(
            product_database(&EXAMPLE_PRODUCT).unwrap() == read("product.msi"),
            "{stale}"
        );
    }

    #[test]
    fn a_large_cabinet_is_streamed_whole() {
        let len = 3 * 1024 * 1024 + 5;
        let spec = PatchSpec {
            cabinet_len: len,
            ..PatchSpec::single_product()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.msp");
        write_patch_file(&spec, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut comp = open(&bytes);
        let cabinet = read(
            &mut comp,
            Path::new("/").join(crate::format::streamname::encode(CABINET_NAME, false)),
        );
        assert_eq!(cabinet.len() as u64, len);
        let expected = noise(b"cabinet", cabinet.len());
        assert!(cabinet == expected);
    }

    #[test]
    fn version_3_has_512_byte_sectors_and_the_same_entries() {
        let v4 = build(&PatchSpec::single_product());
        let v3 = build(&PatchSpec {
            version: cfb::Version::V3,
            ..PatchSpec::single_product()
        });
        let (a, b) = (open(&v4), open(&v3));
        assert_eq!(a.version(), cfb::Version::V4);
        assert_eq!(b.version(), cfb::Version::V3);
        // Sector shift 9 at offset 30 of the header.
        assert_eq!(v3.get(30..32), Some(&[9u8, 0][..]));
        let list = |c: &cfb::CompoundFile<Cursor<&[u8]>>| {
            c.walk()
                .map(|e| {
                    let (path, len) = (e.path().to_path_buf(), e.len());
                    (path, e.is_stream(), len, *e.clsid(), e.state_bits())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(list(&a), list(&b));
        let mut b = b;
        let mut a = a;
        for e in list(&a).into_iter().filter(|e| e.1) {
            assert_eq!(read(&mut a, &e.0), read(&mut b, &e.0), "{}", e.0.display());
        }
    }
}
