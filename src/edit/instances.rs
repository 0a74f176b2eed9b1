//! An edit of a product's instances: the pure plan of `instances add` and
//! `instances remove`, the instance transforms it writes, performing it on
//! the product's compound file and checking the result. The engine
//! ([`crate::edit::engine`]) carries it out like a patch edit: a private
//! copy or an overlay, verification, then an atomic commit.
//!
//! # An instance transform
//!
//! What WiX's `<InstanceTransforms>` embeds (read in the corpus's
//! `instance-transforms.msi` and `instance-autogen.mst`), row for row and
//! byte for byte apart from the storage's timestamps:
//!
//! * a substorage of the product named after the instance id, CLSID
//!   `{000C1082-0000-0000-C000-000000000046}` (a transform), holding
//!   `_StringPool`, `_StringData`, one stream per changed table and
//!   `\005SummaryInformation`; no `_Tables` or `_Columns` (no table or
//!   column is added);
//! * its string pool in the code page of the product's pool, each string
//!   once, in the order the rows first use it (key, then value);
//! * Property rows that update (mask `0x0002`) or, for a property the
//!   product lacks, insert: ProductCode, ProductName when it changes,
//!   UpgradeCode when given, the instance property when asked, ordered by
//!   property name (ordinal), as `msi.dll` orders a generated transform's
//!   rows by key;
//! * for isolated components, Component rows updating ComponentId to WiX's
//!   MultiInstance code ([`crate::format::guid::multi_instance_component_code`]).
//!   The Component stream's strings enter the pool before Property's: the
//!   tables are written in name order (our choice: the corpus has no
//!   transform with both);
//! * the summary of [`crate::format::summary::instance_transform_summary`];
//!   RevisionNumber is `{base}version;{instance}version;{upgrade code}`,
//!   the upgrade code being the base product's (the one the transform is
//!   made against).
//!
//! Storages are written with zero timestamps, so that the same request on
//! the same product gives the same bytes.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use serde::Serialize;

use crate::edit::compare::Marked;
use crate::edit::engine::EditJob;
use crate::edit::verify::Written;
use crate::error::{Error, Reason, Result, Setting};
use crate::format::container::{self, CLSID_TRANSFORM};
use crate::format::guid::{Guid, instance_product_code, multi_instance_component_code};
use crate::format::names::{self, name_key};
use crate::format::summary::{SUMMARY_STREAM, instance_transform_summary};
use crate::format::transform::edit::{Change, TransformEditor};
use crate::format::transform::{self, PROPERTY, Value};
use crate::product::database::{COMPONENT, ProductDatabase};

/// The id prefix of `--count` when none is given (WiX's examples and the
/// corpus name instances `Instance1`, `Instance2`...).
pub const DEFAULT_ID_PREFIX: &str = "Instance";

/// The ProductName template when none is given: the base name and the id.
pub const DEFAULT_PRODUCT_NAME: &str = "{name} ({id})";

/// At most this many instances are added by one request (Windows
/// Installer has no limit; this bounds work asked for by a typo).
pub const MAX_NEW_INSTANCES: usize = 10_000;

/// One instance to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstanceRequest {
    /// The id: the storage name, used as `TRANSFORMS=:ID`.
    pub id: String,
    /// The product code; derived from the base's and the id when `None`
    /// ([`instance_product_code`]).
    pub product_code: Option<Guid>,
}

impl NewInstanceRequest {
    /// Parses `ID` or `ID={PRODUCTCODE}` (braces optional).
    pub fn parse(text: &str) -> Result<NewInstanceRequest> {
        match text.split_once('=') {
            None => Ok(NewInstanceRequest {
                id: text.to_string(),
                product_code: None,
            }),
            Some((id, code)) => Ok(NewInstanceRequest {
                id: id.to_string(),
                product_code: Some(Guid::parse_lenient(code).map_err(|e| {
                    Error::usage(
                        Reason::new("")
                            .then(Setting::NewInstances)
                            .and(format!(" {text:?}: {}", e.reason())),
                    )
                })?),
            }),
        }
    }

    /// `count` instances `PREFIX1`..`PREFIXcount` (prefix
    /// [`DEFAULT_ID_PREFIX`] when `None`), codes derived.
    pub fn numbered(prefix: Option<&str>, count: usize) -> Result<Vec<NewInstanceRequest>> {
        let prefix = prefix.unwrap_or(DEFAULT_ID_PREFIX);
        if count == 0 || count > MAX_NEW_INSTANCES {
            return Err(Error::usage(
                Reason::new("")
                    .then(Setting::NewInstanceCount)
                    .and(format!(" must be between 1 and {MAX_NEW_INSTANCES}")),
            ));
        }
        Ok((1..=count)
            .map(|i| NewInstanceRequest {
                id: format!("{prefix}{i}"),
                product_code: None,
            })
            .collect())
    }
}

/// Which components get their own ComponentId per instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// None (WiX's default: a component is shared unless MultiInstance).
    #[default]
    None,
    /// Every component with a ComponentId.
    All,
    /// The components named (keys of the Component table).
    Components(Vec<String>),
}

impl Isolation {
    /// Parses `all`, `none` or `KEY[,KEY…]`.
    pub fn parse(text: &str) -> Result<Isolation> {
        match text {
            "all" => Ok(Isolation::All),
            "none" => Ok(Isolation::None),
            _ => {
                let keys: Vec<String> = text.split(',').map(|k| k.trim().to_string()).collect();
                if keys.iter().any(String::is_empty) {
                    return Err(Error::usage(
                        Reason::new("")
                            .then(Setting::Isolation)
                            .and(format!(" {text:?}: an empty component key")),
                    ));
                }
                Ok(Isolation::Components(keys))
            }
        }
    }
}

/// The options of `instances add`.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// The ProductName template (`{name}`: the base ProductName, `{id}`:
    /// the instance id); [`DEFAULT_PRODUCT_NAME`] when `None`.
    pub product_name: Option<String>,
    /// UpgradeCode per instance id.
    pub upgrade_codes: Vec<(String, Guid)>,
    /// The property set to the instance id in each transform.
    pub property: Option<String>,
    /// The components isolated.
    pub isolate: Isolation,
    /// Remove the product's digital signature instead of refusing.
    pub strip_signature: bool,
}

/// A component given its own code in an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsolatedComponent {
    /// The Component table key.
    pub component: String,
    /// The base's ComponentId.
    pub from: String,
    /// The instance's.
    pub to: Guid,
}

/// One instance the plan adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedInstance {
    /// The id (storage name).
    pub id: String,
    /// The instance's product code.
    pub product_code: Guid,
    /// Whether the code was derived rather than given.
    pub derived: bool,
    /// The ProductName the transform sets; `None`: the base's is kept.
    pub product_name: Option<String>,
    /// The UpgradeCode the transform sets; `None`: the base's is kept.
    pub upgrade_code: Option<Guid>,
    /// The components given their own code.
    pub components: Vec<IsolatedComponent>,
    /// The transform's RevisionNumber.
    pub revision_number: String,
    /// Every row the transform holds.
    pub changes: Vec<Change>,
}

/// An instance the plan removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedInstance {
    /// The storage name, as stored.
    pub id: String,
    /// Its product code.
    pub product_code: Guid,
}

/// What an instances edit does to a product; pure data (`--dry-run
/// --json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstancesPlan {
    /// The base product code.
    pub base_product_code: Guid,
    /// The base ProductName.
    pub base_product_name: Option<String>,
    /// Instances added.
    pub added: Vec<PlannedInstance>,
    /// Instances removed.
    pub removed: Vec<RemovedInstance>,
    /// Signature streams removed (only with `strip_signature`).
    pub removed_streams: Vec<String>,
}

impl InstancesPlan {
    /// Whether the plan changes the product.
    pub fn changes_anything(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty() || !self.removed_streams.is_empty()
    }
}

/// The streams of one instance transform: (stream name as stored, bytes),
/// summary last.
pub type TransformStreams = Vec<(String, Vec<u8>)>;

/// Refuses a signed product unless the signature is to be stripped; the
/// streams to remove.
fn signature_streams(db: &ProductDatabase, strip: bool) -> Result<Vec<String>> {
    if db.signatures.is_empty() {
        return Ok(Vec::new());
    }
    if !strip {
        return Err(Error::refused(
            Reason::new(
                "is signed: a new or removed instance changes its content and breaks the \
                 signature. Use ",
            )
            .then(Setting::StripProductSignature)
            .and(", then sign the result again (osslsigncode or signtool)"),
        )
        .in_file(&db.path));
    }
    Ok(db.signatures.clone())
}

/// Plans `instances add`: checks every request and derives codes, names
/// and the rows of each transform. Refusals name the id and the reason.
pub fn plan_add(
    db: &ProductDatabase,
    requests: &[NewInstanceRequest],
    opts: &AddOptions,
) -> Result<(InstancesPlan, Vec<TransformStreams>)> {
    if requests.is_empty() {
        return Err(Error::usage(
            Reason::new("no instance given (use ")
                .then(Setting::NewInstances)
                .and(" or ")
                .then(Setting::NewInstanceCount)
                .and(")"),
        ));
    }
    if requests.len() > MAX_NEW_INSTANCES {
        return Err(Error::usage(format!(
            "{} instances asked for; at most {MAX_NEW_INSTANCES} are added at once",
            requests.len()
        )));
    }
    let removed_streams = signature_streams(db, opts.strip_signature)?;
    let template = opts.product_name.as_deref().unwrap_or(DEFAULT_PRODUCT_NAME);
    check_template(template)?;
    if let Some(p) = &opts.property {
        check_property_name(p)?;
    }
    // Names at the root, and codes in use, case-insensitively.
    let taken: HashMap<String, &str> = db
        .root_names
        .iter()
        .map(|n| (name_key(n), n.as_str()))
        .collect();
    let mut codes: HashMap<Guid, String> = HashMap::new();
    codes.insert(db.product_code, "the base product".to_string());
    for i in &db.instances.instances {
        codes.insert(
            i.product_code,
            format!("instance {}", i.id.as_deref().unwrap_or("?")),
        );
    }
    let mut ids = HashSet::new();
    for r in requests {
        names::validate_new_name(&r.id)
            .map_err(|e| Error::usage(format!("instance id {:?}: {e}", r.id)))?;
        if let Some(existing) = taken.get(&name_key(&r.id)) {
            return Err(Error::usage(format!(
                "instance id {:?} is already used by the entry {:?} of the product \
                 (names compare case-insensitively); remove it first (instances remove) \
                 or choose another id",
                r.id, existing
            ))
            .in_file(&db.path));
        }
        if !ids.insert(name_key(&r.id)) {
            return Err(Error::usage(format!(
                "instance id {:?} is given twice (names compare case-insensitively)",
                r.id
            )));
        }
    }
    for (id, _) in &opts.upgrade_codes {
        if !requests.iter().any(|r| &r.id == id) {
            return Err(Error::usage(
                Reason::new("").then(Setting::UpgradeCodes).and(format!(
                    " names instance {id:?}, which is not among the instances added"
                )),
            ));
        }
    }
    let components = isolated_components(db, &opts.isolate)?;
    let base_name = db.properties.get("ProductName").cloned().flatten();

    let mut plan = InstancesPlan {
        base_product_code: db.product_code,
        base_product_name: base_name.clone(),
        added: Vec::new(),
        removed: Vec::new(),
        removed_streams,
    };
    let mut streams = Vec::new();
    for r in requests {
        let (product_code, derived) = match r.product_code {
            Some(c) => (c, false),
            None => (instance_product_code(db.product_code, &r.id), true),
        };
        if let Some(owner) = codes.get(&product_code) {
            return Err(Error::usage(format!(
                "instance {:?}: product code {product_code} is already used by {owner}",
                r.id
            ))
            .in_file(&db.path));
        }
        codes.insert(product_code, format!("instance {}", r.id));
        let name = render_name(template, base_name.as_deref().unwrap_or(""), &r.id);
        let product_name = (Some(name.as_str()) != base_name.as_deref()).then_some(name);
        let upgrade_code = opts
            .upgrade_codes
            .iter()
            .find(|(id, _)| id == &r.id)
            .map(|(_, c)| *c)
            .filter(|c| Some(*c) != db.upgrade_code);
        let mut planned = PlannedInstance {
            id: r.id.clone(),
            product_code,
            derived,
            product_name,
            upgrade_code,
            components: components
                .iter()
                .map(|(key, from)| IsolatedComponent {
                    component: key.clone(),
                    from: from.clone(),
                    to: multi_instance_component_code(from, &r.id),
                })
                .collect(),
            revision_number: format!(
                "{}{v};{}{v};{}",
                db.product_code,
                product_code,
                db.upgrade_code.map(|u| u.braced()).unwrap_or_default(),
                v = db.product_version
            ),
            changes: Vec::new(),
        };
        let (built, changes) = build_transform(db, &planned, opts.property.as_deref())
            .map_err(|e| e.at(format!("instance {}", r.id)))?;
        planned.changes = changes;
        plan.added.push(planned);
        streams.push(built);
    }
    Ok((plan, streams))
}

/// Plans `instances remove`: every id must name an instance transform of
/// the product (case-insensitively).
pub fn plan_remove(
    db: &ProductDatabase,
    ids: &[String],
    strip_signature: bool,
) -> Result<InstancesPlan> {
    if ids.is_empty() {
        return Err(Error::usage("no instance id given"));
    }
    let removed_streams = signature_streams(db, strip_signature)?;
    let mut removed: Vec<RemovedInstance> = Vec::new();
    for id in ids {
        let key = name_key(id);
        let found = db
            .instances
            .instances
            .iter()
            .find(|i| i.id.as_deref().map(name_key).as_deref() == Some(key.as_str()));
        let Some(found) = found else {
            let skipped = db.instances.skipped.iter().find(|s| name_key(&s.id) == key);
            let known: Vec<&str> = db
                .instances
                .instances
                .iter()
                .filter_map(|i| i.id.as_deref())
                .collect();
            let why = match skipped {
                Some(s) => format!(
                    "storage {:?} is not an instance transform ({}); it is left alone",
                    s.id, s.reason
                ),
                None if known.is_empty() => "the product has no instance".to_string(),
                None => format!("the product's instances are {}", known.join(", ")),
            };
            return Err(
                Error::usage(format!("no instance {id:?} to remove: {why}")).in_file(&db.path)
            );
        };
        let stored = found.id.clone().unwrap_or_default();
        if removed.iter().any(|r| r.id == stored) {
            return Err(Error::usage(format!(
                "instance {id:?} is given twice (names compare case-insensitively)"
            )));
        }
        removed.push(RemovedInstance {
            id: stored,
            product_code: found.product_code,
        });
    }
    Ok(InstancesPlan {
        base_product_code: db.product_code,
        base_product_name: db.properties.get("ProductName").cloned().flatten(),
        added: Vec::new(),
        removed,
        removed_streams,
    })
}

/// The components to isolate with their base ComponentId, in key order.
fn isolated_components(db: &ProductDatabase, isolate: &Isolation) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = match isolate {
        Isolation::None => Vec::new(),
        Isolation::All => db
            .components
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect(),
        Isolation::Components(keys) => {
            let mut out = Vec::new();
            for key in keys {
                match db.components.get(key) {
                    None if db.components.is_empty() => {
                        return Err(Error::usage(Reason::new("").then(Setting::Isolation).and(
                            format!(" names {key:?}, but the product has no Component table"),
                        )));
                    }
                    None => {
                        return Err(Error::usage(Reason::new("").then(Setting::Isolation).and(
                            format!(
                                " names {key:?}, which is not a key of the Component table \
                                 (keys are case-sensitive)"
                            ),
                        )));
                    }
                    Some(None) => {
                        return Err(Error::usage(format!(
                            "component {key:?} has no ComponentId: Windows Installer does not \
                             register it, so there is nothing to isolate"
                        )));
                    }
                    Some(Some(code)) => {
                        if !out.iter().any(|(k, _)| k == key) {
                            out.push((key.clone(), code.clone()));
                        }
                    }
                }
            }
            out
        }
    };
    out.sort();
    Ok(out)
}

/// Refuses a template with an unknown or unclosed placeholder.
fn check_template(template: &str) -> Result<()> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = rest.get(open + 1..).unwrap_or("");
        let Some(close) = after.find('}') else {
            return Err(Error::usage(
                Reason::new("").then(Setting::ProductName).and(format!(
                    " {template:?}: a '{{' is not closed (placeholders are {{name}} and {{id}})"
                )),
            ));
        };
        let word = after.get(..close).unwrap_or("");
        if word != "name" && word != "id" {
            return Err(Error::usage(
                Reason::new("").then(Setting::ProductName).and(format!(
                    " {template:?}: unknown placeholder {{{word}}} (placeholders are {{name}} \
                     and {{id}})"
                )),
            ));
        }
        rest = after.get(close + 1..).unwrap_or("");
    }
    Ok(())
}

fn render_name(template: &str, name: &str, id: &str) -> String {
    template.replace("{name}", name).replace("{id}", id)
}

/// Refuses a name that cannot be a Property key (an identifier of at most
/// 72 characters, the column's width in every product).
fn check_property_name(name: &str) -> Result<()> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !ok_start || !ok_rest || name.len() > 72 {
        return Err(Error::usage(Reason::new("").then(Setting::Property).and(
            format!(
                " {name:?} is not a property name (a letter or '_', then letters, digits, '_' \
                 or '.', at most 72 characters)"
            ),
        )));
    }
    for reserved in ["ProductCode", "ProductName", "UpgradeCode"] {
        if name == reserved {
            return Err(Error::usage(Reason::new("").then(Setting::Property).and(
                format!(
                    " {name:?}: the transform already sets {reserved}; choose another \
                     property to hold the instance id"
                ),
            )));
        }
    }
    Ok(())
}

/// The streams of the instance transform of `inst` and the rows it holds.
pub fn build_transform(
    db: &ProductDatabase,
    inst: &PlannedInstance,
    property: Option<&str>,
) -> Result<(TransformStreams, Vec<Change>)> {
    let mut editor = TransformEditor::new(db.pool_code_page, &db.schema)?;
    let mut changes = Vec::new();
    for c in &inst.components {
        changes.push(editor.update_row(
            COMPONENT,
            &[Value::Str(c.component.clone())],
            &[("ComponentId", Value::Str(c.to.braced()))],
        )?);
    }
    let mut props: Vec<(&str, String)> = vec![("ProductCode", inst.product_code.braced())];
    if let Some(n) = &inst.product_name {
        props.push(("ProductName", n.clone()));
    }
    if let Some(u) = inst.upgrade_code {
        props.push(("UpgradeCode", u.braced()));
    }
    if let Some(p) = property {
        props.push((p, inst.id.clone()));
    }
    props.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in props {
        let change = if db.properties.contains_key(key) {
            editor.update_row(
                PROPERTY,
                &[Value::Str(key.to_string())],
                &[("Value", Value::Str(value))],
            )?
        } else {
            editor.insert_row(PROPERTY, &[Value::Str(key.to_string()), Value::Str(value)])?
        };
        changes.push(change);
    }
    let out = editor.finish()?;
    let mut streams: TransformStreams = out
        .streams()
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect();
    let summary = instance_transform_summary(&db.summary, &inst.revision_number)?;
    streams.push((SUMMARY_STREAM.to_string(), summary.to_bytes()));
    Ok((streams, changes))
}

/// The zero FILETIME (1601-01-01), which storages are written with.
fn zero_time() -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH
        .checked_sub(std::time::Duration::from_secs(11_644_473_600))
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
}

/// Writes one transform's streams into the storage `dir` of `cf` (the
/// root for a stand-alone .mst) and marks it a transform.
pub fn write_transform<F: Read + Write + Seek>(
    cf: &mut CompoundFile<F>,
    dir: &Path,
    streams: &TransformStreams,
) -> Result<()> {
    let part = || container::storage_part(&container::path_text(dir));
    if dir != Path::new("/") {
        cf.create_storage(dir)
            .map_err(|e| Error::io("cannot create the storage", e).at(part()))?;
    }
    for (name, bytes) in streams {
        let path = dir.join(name);
        let mut s = cf
            .create_new_stream(&path)
            .map_err(|e| Error::io("cannot create", e).at(container::stream_part(&path)))?;
        s.write_all(bytes)
            .and_then(|_| s.flush())
            .map_err(|e| Error::io("cannot write", e).at(container::stream_part(&path)))?;
    }
    let set = |cf: &mut CompoundFile<F>| -> std::io::Result<()> {
        cf.set_storage_clsid(dir, CLSID_TRANSFORM)?;
        cf.set_created_time(dir, zero_time())?;
        cf.set_modified_time(dir, zero_time())
    };
    set(cf).map_err(|e| Error::io("cannot set metadata", e).at(part()))
}

/// What the verification of an instances edit checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstancesVerification {
    /// Entries of the product compared byte for byte with the input.
    pub entries_unchanged: usize,
    /// Transforms re-read and decoded.
    pub transforms_checked: usize,
}

/// The instances edit the engine carries out.
pub(crate) struct InstancesJob<'a> {
    /// The product read.
    pub db: &'a ProductDatabase,
    /// The plan.
    pub plan: &'a InstancesPlan,
    /// The streams of each added instance, in plan order.
    pub streams: &'a [TransformStreams],
    /// The `--property` name, for verification.
    pub property: Option<&'a str>,
}

impl EditJob for InstancesJob<'_> {
    type Checked = InstancesVerification;

    fn changes_anything(&self) -> bool {
        self.plan.changes_anything()
    }

    fn input(&self) -> &Path {
        &self.db.path
    }

    fn size(&self) -> usize {
        self.plan.added.len() + self.plan.removed.len()
    }

    fn apply<F: Read + Write + Seek>(&mut self, out: &mut CompoundFile<F>) -> Result<()> {
        for r in &self.plan.removed {
            let dir = Path::new("/").join(&r.id);
            out.remove_storage_all(&dir)
                .map_err(|e| Error::io("cannot remove", e).at(container::storage_part(&r.id)))?;
        }
        for s in &self.plan.removed_streams {
            let path = Path::new("/").join(s);
            out.remove_stream(&path)
                .map_err(|e| Error::io("cannot remove", e).at(container::stream_part(&path)))?;
        }
        for (inst, streams) in self.plan.added.iter().zip(self.streams) {
            write_transform(out, &Path::new("/").join(&inst.id), streams)?;
        }
        Ok(())
    }

    fn verify<G: Read + Seek, H: Read + Seek>(
        &mut self,
        result: Written<'_, G>,
        _layout: Option<(H, &[(u64, u64)])>,
    ) -> Result<InstancesVerification> {
        verify_result(self, result)
    }
}

/// Re-reads the result: every entry of the input the plan does not
/// remove is there with the same bytes (storages compared stream by
/// stream, with their CLSIDs); every added storage is a transform holding
/// exactly the planned streams, whose Property and Component rows decode
/// to the planned changes; nothing else was added.
fn verify_result<G: Read + Seek>(
    job: &InstancesJob<'_>,
    result: Written<'_, G>,
) -> Result<InstancesVerification> {
    let fail = |what: String| Error::verify(what);
    let mut out = container::open_reader(result.reader, result.len, result.path)
        .map_err(|e| fail(format!("the result does not re-read: {e}")))?;
    if container::kind_of(&out) != container::FileKind::Database {
        return Err(fail("the result is not an installer database".into()));
    }
    let mut input = container::open(&job.db.path)?;
    let removed: HashSet<String> = job
        .plan
        .removed
        .iter()
        .map(|r| name_key(&r.id))
        .chain(job.plan.removed_streams.iter().map(|s| name_key(s)))
        .collect();
    let mut report = InstancesVerification::default();
    let in_entries = container::walk(&input, Path::new("/"))?;
    let out_entries = container::walk(&out, Path::new("/"))?;
    // Looked up once per entry of the input and per instance: an index,
    // so that verifying n instances costs n lookups, not n scans.
    let out_index: HashMap<&Path, &container::EntryMeta> =
        out_entries.iter().map(|o| (o.path.as_path(), o)).collect();
    let top = |p: &Path| {
        p.components()
            .nth(1)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut expected = HashSet::new();
    for e in in_entries.iter().filter(|e| e.path != Path::new("/")) {
        if removed.contains(&name_key(&top(&e.path))) {
            if out.exists(&e.path) && e.path.components().count() == 2 {
                return Err(fail(format!(
                    "{} is still there",
                    container::path_text(&e.path)
                )));
            }
            continue;
        }
        expected.insert(e.path.clone());
        let shown = container::path_text(&e.path);
        if e.is_stream {
            if !out.is_stream(&e.path) {
                return Err(fail(format!("stream {shown} is missing")));
            }
            let mut a = Marked {
                inner: input
                    .open_stream(&e.path)
                    .map_err(|err| Error::io("cannot open", err).in_file(&job.db.path))?,
                failed: false,
            };
            let mut b = out
                .open_stream(&e.path)
                .map_err(|err| fail(format!("stream {shown} does not open: {err}")))?;
            // The output's stream is the input's, copied: when the input's
            // chain does not read (a loop, a sector past the end), the fault
            // is the product's, and the message must say so.
            let equal = match container::streams_equal(&mut a, &mut b) {
                Ok(equal) => equal,
                Err(err) if a.failed => {
                    return Err(Error::io("reading the product's stream", err)
                        .at(container::stream_part(&e.path))
                        .in_file(&job.db.path));
                }
                Err(err) => return Err(fail(format!("stream {shown} does not read: {err}"))),
            };
            if !equal {
                return Err(fail(format!("stream {shown} changed")));
            }
        } else {
            let Some(o) = out_index.get(e.path.as_path()) else {
                return Err(fail(format!("storage {shown} is missing")));
            };
            if o.clsid != e.clsid || o.is_stream {
                return Err(fail(format!("storage {shown} changed kind or CLSID")));
            }
        }
        report.entries_unchanged += 1;
    }
    for (inst, streams) in job.plan.added.iter().zip(job.streams) {
        let dir = Path::new("/").join(&inst.id);
        let at = |what: String| fail(format!("instance {}: {what}", inst.id));
        let Some(entry) = out_index.get(dir.as_path()) else {
            return Err(at("its storage is missing".into()));
        };
        if entry.is_stream || entry.clsid != CLSID_TRANSFORM {
            return Err(at("its storage is not marked a transform".into()));
        }
        expected.insert(dir.clone());
        for (name, bytes) in streams {
            let path = dir.join(name);
            expected.insert(path.clone());
            let got = container::read_stream_bounded(&mut out, &path, transform::MAX_TABLE_LEN)
                .map_err(|e| at(format!("does not re-read: {e}")))?;
            if &got != bytes {
                return Err(at(format!(
                    "stream {} is not what was written",
                    container::path_text(&path)
                )));
            }
        }
        let changes = transform::read_transform_tables(&mut out, &dir, &job.db.schema)
            .map_err(|e| at(format!("does not decode: {e}")))?;
        let mut found = Vec::new();
        for (table, rows) in &changes.tables {
            for row in rows {
                found.push((
                    table.clone(),
                    row.kind,
                    row.key.clone(),
                    row.columns.clone(),
                ));
            }
        }
        let mut declared: Vec<_> = inst
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::RowAdded {
                    table,
                    key,
                    row,
                    columns,
                } => Some((table.clone(), *row, key.clone(), columns.clone())),
                _ => None,
            })
            .collect();
        found.sort();
        declared.sort();
        if found != declared || declared.len() != inst.changes.len() {
            return Err(at(format!(
                "its rows decode to {found:?}, the plan says {declared:?}"
            )));
        }
        let props = transform::property_changes(&mut out, &dir, &job.db.schema)
            .map_err(|e| at(format!("does not decode: {e}")))?;
        let code = props.get("ProductCode").cloned().flatten();
        if code.as_deref() != Some(inst.product_code.braced().as_str()) {
            return Err(at(format!(
                "it sets ProductCode to {code:?}, the plan says {}",
                inst.product_code
            )));
        }
        if let Some(p) = job.property {
            let v = props.get(p).cloned().flatten();
            if v.as_deref() != Some(inst.id.as_str()) {
                return Err(at(format!("it sets {p} to {v:?}")));
            }
        }
        report.transforms_checked += 1;
    }
    for o in out_entries.iter().filter(|o| o.path != Path::new("/")) {
        if !expected.contains(&o.path) {
            return Err(fail(format!(
                "the result has an entry the plan does not add: {}",
                container::path_text(&o.path)
            )));
        }
    }
    Ok(report)
}

/// Writes each added instance's transform as the stand-alone `ID.mst` in
/// `dir` (atomically, each), a transform compound file of version 3 with
/// zero timestamps. Returns the files written.
pub fn write_standalone(
    dir: &Path,
    plan: &InstancesPlan,
    streams: &[TransformStreams],
) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::usage(
            Reason::new("is not a folder (")
                .then(Setting::MstDir)
                .and(")"),
        )
        .in_file(dir));
    }
    let mut out = Vec::new();
    for (inst, streams) in plan.added.iter().zip(streams) {
        let path = dir.join(format!("{}.mst", inst.id));
        crate::store::commit::check_destination(&path)?;
        let bytes = standalone_bytes(streams).map_err(|e| e.in_file(&path))?;
        let permissions = None;
        crate::store::commit::Staged::with_bytes(&bytes, &path)?.commit(permissions)?;
        out.push(path);
    }
    Ok(out)
}

/// The bytes of a stand-alone transform holding `streams`.
pub fn standalone_bytes(streams: &TransformStreams) -> Result<Vec<u8>> {
    let cursor = std::io::Cursor::new(Vec::new());
    let mut cf = CompoundFile::create_with_version(cfb::Version::V3, cursor)
        .map_err(|e| Error::io("cannot create the transform", e))?;
    write_transform(&mut cf, Path::new("/"), streams)?;
    cf.flush()
        .map_err(|e| Error::io("cannot write the transform", e))?;
    Ok(cf.into_inner().into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_templates_and_isolation_parse_or_say_why() {
        let r = NewInstanceRequest::parse("Blue={44444444-4444-4444-8444-444444444444}").unwrap();
        assert_eq!(r.id, "Blue");
        assert_eq!(
            r.product_code.unwrap().braced(),
            "{44444444-4444-4444-8444-444444444444}"
        );
        assert_eq!(
            NewInstanceRequest::parse("Blue").unwrap().product_code,
            None
        );
        assert!(NewInstanceRequest::parse("Blue={1234}").is_err());
        let n = NewInstanceRequest::numbered(None, 2).unwrap();
        assert_eq!(n[1].id, "Instance2");
        assert!(NewInstanceRequest::numbered(Some("I"), 0).is_err());
        assert!(NewInstanceRequest::numbered(Some("I"), MAX_NEW_INSTANCES + 1).is_err());
        assert!(check_template("{name} ({id})").is_ok());
        assert!(check_template("fixed").is_ok());
        assert!(check_template("{nam}").is_err());
        assert!(check_template("{name").is_err());
        assert_eq!(render_name("{name} ({id})", "App", "I1"), "App (I1)");
        assert_eq!(Isolation::parse("all").unwrap(), Isolation::All);
        assert_eq!(Isolation::parse("none").unwrap(), Isolation::None);
        assert_eq!(
            Isolation::parse("A, B").unwrap(),
            Isolation::Components(vec!["A".into(), "B".into()])
        );
        assert!(Isolation::parse("A,,B").is_err());
        assert!(check_property_name("INSTANCEID").is_ok());
        assert!(check_property_name("_x.1").is_ok());
        assert!(check_property_name("1x").is_err());
        assert!(check_property_name("ProductCode").is_err());
        assert!(check_property_name(&"A".repeat(73)).is_err());
    }
}
