//! Multi-instance products and patches that add components, for the tests
//! and the shipped samples of component isolation.
//!
//! * [`TransformTables`]: real table streams for a patch's transforms
//!   (through [`crate::format::transform::edit::TransformEditor`]), where
//!   [`super::synth`] otherwise writes opaque filler: Component *insert*
//!   rows (what a patch that adds a component carries), Property updates,
//!   and as many filler strings as a test needs to bring the string pool
//!   near or past 65,535 ids (2- and 3-byte string references).
//! * [`ProductSpec`] / [`write_product`]: an installer database with
//!   Property and Component tables and one embedded instance transform per
//!   instance, as WiX's `<InstanceTransforms>` builds them: Property
//!   updates of ProductCode (and ProductName), and for each isolated
//!   component a Component *modify* row setting its ComponentId (WiX's
//!   `Component/@MultiInstance="yes"`, [`InstanceSpec::multi_instance`]) or
//!   any code a test chooses (the "one component-GUID transform per
//!   instance" recipe).
//!
//! Like the rest of the test kit the output depends only on the spec.

use std::io::{self, Cursor, Read, Seek, Write};
use std::path::Path;

use crate::format::guid::{Guid, multi_instance_component_code};
use crate::format::transform::edit::TransformEditor;
use crate::format::transform::{COMPONENT, PROPERTY, Value};

pub use super::tables::{
    CODE_PAGE, ComponentSpec, FEATURE, TransformTables, schema, transform_streams,
};
use super::tables::{FEATURE_COMPONENTS, encoded_streams, other};

//==========================================================================//
// Products with instance transforms

/// One instance of a product: its instance transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The instance id: the transform's storage name (`<Instance Id>`).
    pub id: String,
    /// The instance's ProductCode.
    pub product_code: String,
    /// The ProductName the transform sets, if any.
    pub product_name: Option<String>,
    /// Component modify rows: (Component key, ComponentId), in order.
    pub components: Vec<(String, String)>,
}

impl InstanceSpec {
    /// An instance whose transform isolates `components` as WiX does for
    /// `Component/@MultiInstance="yes"`: each gets
    /// [`multi_instance_component_code`] of its GUID and `id`.
    pub fn multi_instance(id: &str, product_code: &str, components: &[ComponentSpec]) -> Self {
        InstanceSpec {
            id: id.into(),
            product_code: product_code.into(),
            product_name: Some(format!("Sample Product ({id})")),
            components: components
                .iter()
                .map(|c| {
                    (
                        c.key.clone(),
                        multi_instance_component_code(&c.guid, id).braced(),
                    )
                })
                .collect(),
        }
    }
}

/// A product database with instance transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    /// ProductCode.
    pub product_code: String,
    /// ProductVersion.
    pub version: String,
    /// UpgradeCode.
    pub upgrade_code: String,
    /// ProductName.
    pub product_name: String,
    /// The Component table.
    pub components: Vec<ComponentSpec>,
    /// One embedded instance transform each, in order.
    pub instances: Vec<InstanceSpec>,
}

impl ProductSpec {
    /// The Property rows: ProductCode, ProductLanguage, ProductName,
    /// ProductVersion, UpgradeCode.
    fn properties(&self) -> Vec<(&str, &str)> {
        vec![
            ("Manufacturer", "Sample Company"),
            ("ProductCode", self.product_code.as_str()),
            ("ProductLanguage", "1033"),
            ("ProductName", self.product_name.as_str()),
            ("ProductVersion", self.version.as_str()),
            ("UpgradeCode", self.upgrade_code.as_str()),
        ]
    }
}

/// Writes the product: the database (by the `msi` crate), then one
/// transform substorage per instance with the transform CLSID, a summary
/// whose RevisionNumber goes from the product to the instance code, and
/// its Property and Component updates.
pub fn write_product(spec: &ProductSpec) -> io::Result<Vec<u8>> {
    let db = product_tables(spec)?;
    let mut cf = cfb::CompoundFile::open(Cursor::new(db))?;
    for instance in &spec.instances {
        write_instance(&mut cf, spec, instance)?;
    }
    cf.flush()?;
    Ok(cf.into_inner().into_inner())
}

fn product_tables(spec: &ProductSpec) -> io::Result<Vec<u8>> {
    use msi::{Category, Column, Insert};
    let mut package = msi::Package::create(msi::PackageType::Installer, Cursor::new(Vec::new()))?;
    // What Windows Installer needs of an installable package's summary: the
    // platform and language (Template), the package code (RevisionNumber),
    // the schema (PageCount) and uncompressed long file names (WordCount).
    let summary = package.summary_info_mut();
    summary.set_arch("x64");
    summary.set_languages(&[msi::LanguageId::from_id(1033)]);
    summary.set_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{}{}", spec.product_code, spec.version).as_bytes(),
    ));
    summary.set_page_count(200);
    summary.set_word_count(0);
    package.create_table(
        PROPERTY,
        vec![
            Column::build("Property").primary_key().id_string(72),
            Column::build("Value").text_string(0),
        ],
    )?;
    package.insert_rows(
        Insert::into(PROPERTY).rows(
            spec.properties()
                .into_iter()
                .map(|(k, v)| vec![msi::Value::from(k), msi::Value::from(v)])
                .collect(),
        ),
    )?;
    package.create_table(
        COMPONENT,
        vec![
            Column::build("Component").primary_key().id_string(72),
            Column::build("ComponentId")
                .nullable()
                .category(Category::Guid)
                .string(38),
            Column::build("Directory_").id_string(72),
            Column::build("Attributes").int16(),
            Column::build("Condition")
                .nullable()
                .category(Category::Condition)
                .string(255),
            Column::build("KeyPath").nullable().id_string(72),
        ],
    )?;
    installable_tables(&mut package, spec)?;
    if !spec.components.is_empty() {
        package.insert_rows(
            Insert::into(COMPONENT).rows(
                spec.components
                    .iter()
                    .map(|c| {
                        vec![
                            msi::Value::from(c.key.as_str()),
                            msi::Value::from(c.guid.as_str()),
                            msi::Value::from(c.directory.as_str()),
                            msi::Value::from(c.attributes),
                            msi::Value::Null,
                            c.key_path
                                .as_deref()
                                .map_or(msi::Value::Null, msi::Value::from),
                        ]
                    })
                    .collect(),
            ),
        )?;
    }
    Ok(package.into_inner()?.into_inner())
}

/// What makes the product installable (by Wine's msi.dll, in the
/// conformance suite): a directory tree (TARGETDIR, ProgramFilesFolder,
/// INSTALLFOLDER `Sample`), one feature [`FEATURE`] holding every
/// component, and the standard actions that register a product and its
/// components (no files: each component's key path is its directory, and
/// the Media table is empty).
fn installable_tables(
    package: &mut msi::Package<Cursor<Vec<u8>>>,
    spec: &ProductSpec,
) -> io::Result<()> {
    use msi::{Column, Insert, Value as V};
    package.create_table(
        "Directory",
        vec![
            Column::build("Directory").primary_key().id_string(72),
            Column::build("Directory_Parent").nullable().id_string(72),
            Column::build("DefaultDir").text_string(255),
        ],
    )?;
    package.insert_rows(Insert::into("Directory").rows(vec![
        vec![V::from("TARGETDIR"), V::Null, V::from("SourceDir")],
        vec![
            V::from("ProgramFilesFolder"),
            V::from("TARGETDIR"),
            V::from("."),
        ],
        vec![
            V::from("INSTALLFOLDER"),
            V::from("ProgramFilesFolder"),
            V::from("Sample"),
        ],
    ]))?;
    package.create_table(
        "Feature",
        vec![
            Column::build("Feature").primary_key().id_string(38),
            Column::build("Feature_Parent").nullable().id_string(38),
            Column::build("Title").nullable().text_string(64),
            Column::build("Description").nullable().text_string(255),
            Column::build("Display").nullable().int16(),
            Column::build("Level").int16(),
            Column::build("Directory_").nullable().id_string(72),
            Column::build("Attributes").int16(),
        ],
    )?;
    package.insert_rows(Insert::into("Feature").rows(vec![vec![
        V::from(FEATURE),
        V::Null,
        V::from("Main"),
        V::Null,
        V::from(1),
        V::from(1),
        V::Null,
        V::from(0),
    ]]))?;
    package.create_table(
        FEATURE_COMPONENTS,
        vec![
            Column::build("Feature_").primary_key().id_string(38),
            Column::build("Component_").primary_key().id_string(72),
        ],
    )?;
    if !spec.components.is_empty() {
        package.insert_rows(
            Insert::into(FEATURE_COMPONENTS).rows(
                spec.components
                    .iter()
                    .map(|c| vec![V::from(FEATURE), V::from(c.key.as_str())])
                    .collect(),
            ),
        )?;
    }
    // Empty, as in a package without files; Wine's patch installation
    // queries it after every transform and stops at the first failure.
    package.create_table(
        "Media",
        vec![
            Column::build("DiskId").primary_key().int16(),
            Column::build("LastSequence").int32(),
            Column::build("DiskPrompt").nullable().text_string(64),
            Column::build("Cabinet").nullable().text_string(255),
            Column::build("VolumeLabel").nullable().text_string(32),
            Column::build("Source").nullable().text_string(72),
        ],
    )?;
    package.create_table(
        "InstallExecuteSequence",
        vec![
            Column::build("Action").primary_key().id_string(72),
            Column::build("Condition").nullable().text_string(255),
            Column::build("Sequence").nullable().int16(),
        ],
    )?;
    let actions = [
        ("CostInitialize", 800),
        ("FileCost", 900),
        ("CostFinalize", 1000),
        ("InstallValidate", 1400),
        ("InstallInitialize", 1500),
        ("ProcessComponents", 1600),
        ("CreateFolders", 3700),
        ("RegisterUser", 6000),
        ("RegisterProduct", 6100),
        ("PublishFeatures", 6300),
        ("PublishProduct", 6400),
        ("InstallFinalize", 6600),
    ];
    package.insert_rows(
        Insert::into("InstallExecuteSequence").rows(
            actions
                .iter()
                .map(|(a, n)| vec![V::from(*a), V::Null, V::from(*n)])
                .collect(),
        ),
    )?;
    Ok(())
}

fn write_instance<F: Read + Write + Seek>(
    cf: &mut cfb::CompoundFile<F>,
    spec: &ProductSpec,
    instance: &InstanceSpec,
) -> io::Result<()> {
    let mut editor = TransformEditor::new(CODE_PAGE, &schema()).map_err(other)?;
    let mut props = vec![("ProductCode", instance.product_code.as_str())];
    if let Some(name) = &instance.product_name {
        props.push(("ProductName", name.as_str()));
    }
    for (name, value) in props {
        editor
            .update_row(
                PROPERTY,
                &[Value::Str(name.into())],
                &[("Value", Value::Str(value.into()))],
            )
            .map_err(other)?;
    }
    for (key, code) in &instance.components {
        editor
            .update_row(
                COMPONENT,
                &[Value::Str(key.clone())],
                &[("ComponentId", Value::Str(code.clone()))],
            )
            .map_err(other)?;
    }
    let streams = encoded_streams(&editor)?;
    let pair = super::synth::PairSpec {
        name: instance.id.clone(),
        from_code: spec.product_code.clone(),
        from_version: spec.version.clone(),
        to_code: instance.product_code.clone(),
        to_version: spec.version.clone(),
        upgrade_code: spec.upgrade_code.clone(),
        char_count: 0,
        language: "Intel;1033".into(),
    };
    super::synth::write_transform_storage(cf, &instance.id, &pair, &pair.revision_number(), streams)
}

/// The component code an instance transform of `product` gives `key`, if
/// it has a modify row for it.
pub fn instance_code(instance: &InstanceSpec, key: &str) -> Option<Guid> {
    instance
        .components
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, c)| Guid::parse_braced(c).ok())
}

//==========================================================================//
// The shipped sample

/// The product code of the sample product.
pub const SAMPLE_PRODUCT: &str = "{0C5E1B7A-9D2F-4E63-8A41-5B6C7D8E9F10}";
/// The UpgradeCode of the sample product.
pub const SAMPLE_UPGRADE: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
/// The sample product's instances: (id, product code).
pub const SAMPLE_INSTANCES: [(&str, &str); 2] = [
    ("Instance1", "{1A2B3C4D-1111-4A5B-8C6D-7E8F90A1B2C1}"),
    ("Instance2", "{1A2B3C4D-2222-4A5B-8C6D-7E8F90A1B2C2}"),
];

/// The component every version of the sample product has.
pub fn sample_main_component() -> ComponentSpec {
    ComponentSpec::new("MainComp", "{5D8F2C61-3B7A-4E09-9C14-A2B3C4D5E6F7}")
}

/// The component the sample patch adds.
pub fn sample_new_component() -> ComponentSpec {
    ComponentSpec::new("NewComp", "{8E1A4F27-6C3D-4B58-A9E0-1F2A3B4C5D6E}")
}

/// The sample product at `version` with `components`, both instances
/// isolating every component (MultiInstance).
pub fn sample_product(version: &str, components: Vec<ComponentSpec>) -> ProductSpec {
    ProductSpec {
        product_code: SAMPLE_PRODUCT.into(),
        version: version.into(),
        upgrade_code: SAMPLE_UPGRADE.into(),
        product_name: "Sample Product".into(),
        instances: SAMPLE_INSTANCES
            .iter()
            .map(|(id, code)| InstanceSpec::multi_instance(id, code, &components))
            .collect(),
        components,
    }
}

/// `testdata/new-component-product.msi`: the sample product as the patch
/// leaves it (1.0.1.0, MainComp and NewComp), with two instance
/// transforms that isolate both.
pub fn new_component_product() -> ProductSpec {
    sample_product(
        "1.0.1.0",
        vec![sample_main_component(), sample_new_component()],
    )
}

/// The sample product before the patch (1.0.0.0, MainComp only): its
/// instance transforms show that it isolates components but have no row
/// for NewComp.
pub fn new_component_product_before() -> ProductSpec {
    sample_product("1.0.0.0", vec![sample_main_component()])
}

/// `testdata/new-component.msp`: a small update of the sample product,
/// 1.0.0.0 to 1.0.1.0, whose main transform adds component `NewComp`.
pub fn new_component_patch() -> super::synth::PatchSpec {
    use super::synth::{PatchSpec, pair};
    PatchSpec {
        patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A10}".into(),
        display_name: "Sample Product patch 1.0.1.0 (adds NewComp)".into(),
        targets: vec![SAMPLE_PRODUCT.into()],
        pairs: vec![pair(
            "rtmNC.1",
            SAMPLE_PRODUCT,
            "1.0.0.0",
            "1.0.1.0",
            SAMPLE_UPGRADE,
        )],
        cabinet_len: 4096,
        tables: Some(TransformTables {
            feature: Some(FEATURE.into()),
            ..TransformTables::adding(vec![sample_new_component()], "1.0.1.0")
        }),
        ..PatchSpec::single_product()
    }
}

/// Writes both samples into `dir`: `new-component.msp` and
/// `new-component-product.msi`.
pub fn write_samples(dir: &Path) -> io::Result<()> {
    super::synth::write_patch_file(&new_component_patch(), &dir.join("new-component.msp"))?;
    std::fs::write(
        dir.join("new-component-product.msi"),
        write_product(&new_component_product())?,
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests;
