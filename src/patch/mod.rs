//! Reading and understanding a patch: its summary information, its
//! targets, and the transform pairs listed in LastSavedBy with each
//! transform's decoded RevisionNumber and CharCount.
//!
//! A [`Patch`] keeps the compound file open read-only, so that the later
//! steps copy from the very file that was understood. It is usually a file
//! on disk ([`Patch::open`]); verification of an in-place edit reads the
//! result through an overlay of pending writes instead
//! ([`Patch::from_reader`]).

pub mod read;
pub mod sequencing;

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::format::compound::Compound;
use crate::format::container::{self, FileKind, Storage, show_name, storage_part};
use crate::format::guid::Guid;
use crate::format::propset::PropertySet;
use crate::format::structure::Chains;
use crate::format::summary::{
    self, CharCount, MAX_SUMMARY_LEN, PatchCodes, SUMMARY_STREAM, TransformRevision, get_int,
    get_string, pid, property_part, require_string,
};
use read::Fault;

/// Patches listing more transform pairs than this in LastSavedBy are
/// refused before any transform is read: planning compares pairs with
/// pairs, so the count bounds the time a hostile file can cost. A patch
/// retargeted to two thousand instances with four pairs each stays below it.
pub const MAX_PAIRS: usize = 8192;

/// One transform substorage of a patch, as far as retargeting cares.
#[derive(Debug, Clone, Serialize)]
pub struct Transform {
    /// Substorage name (as listed after the `:` in LastSavedBy).
    pub name: String,
    /// The substorage's CLSID.
    pub clsid: Guid,
    /// Decoded RevisionNumber.
    pub revision: TransformRevision,
    /// CharCount, when present.
    pub char_count: Option<u32>,
    /// Transform Template (`platform;language`), when present.
    pub template: Option<String>,
    /// What the storage holds besides its summary information, as far as
    /// telling a copy from its source needs (`edit::copy` decides).
    #[serde(skip)]
    pub content: Content,
}

/// The content of a transform storage other than its summary information,
/// as neutral facts: digests of its streams and the decoded rows of the
/// tables holding per-instance cells
/// ([`crate::format::transform::PER_INSTANCE_CELLS`]). Reading decides
/// nothing: what a copy may differ in from its source is `edit::copy`'s
/// rule, applied to these facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Digest of the names and bytes of every stream but the summary
    /// information: equal digests identify the same content.
    pub digest: u64,
    /// Each of those streams, in the order the storage lists them.
    pub streams: Vec<StreamDigest>,
    /// The rows of each per-instance table the storage has a stream for,
    /// decoded with its own string pool and the standard definitions
    /// ([`crate::format::transform::Schema::per_instance`]); empty when
    /// there is none or one does not decode (its stream is then only
    /// known by its digest).
    pub tables: Vec<(String, Vec<crate::format::transform::RowOp>)>,
}

/// One stream of a transform storage, known by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    /// The stream's name as stored (packed), relative to the storage.
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// Digest of its bytes.
    pub digest: u64,
}

impl Transform {
    /// The validation flags (high word of CharCount; none when absent).
    pub fn validation(&self) -> summary::Validation {
        CharCount(self.char_count.unwrap_or(0)).validation()
    }

    /// The Component rows of its content (decoded when the patch was read;
    /// empty when it has none or they did not decode).
    pub fn component_rows(&self) -> &[crate::format::transform::RowOp] {
        self.content
            .tables
            .iter()
            .find(|(name, _)| name == crate::format::transform::COMPONENT)
            .map(|(_, rows)| rows.as_slice())
            .unwrap_or_default()
    }

    /// The components it inserts: see [`inserted_components`].
    pub fn inserted_components(&self) -> Vec<(String, String)> {
        inserted_components(self.component_rows())
    }
}

/// The components Component rows insert: (key, ComponentId as written),
/// in row order; rows with a null ComponentId (unmanaged components have
/// no code to isolate) are left out, and a later insert of the same key
/// replaces an earlier one, as applying the rows would.
pub fn inserted_components(rows: &[crate::format::transform::RowOp]) -> Vec<(String, String)> {
    use crate::format::transform::{RowKind, Value};
    let mut out: indexmap::IndexMap<String, String> = indexmap::IndexMap::new();
    for row in rows.iter().filter(|r| r.kind == RowKind::Insert) {
        if let (Some(Value::Str(key)), Some(Value::Str(id))) =
            (row.key.first(), row.get("ComponentId"))
        {
            out.insert(key.clone(), id.clone());
        } else if let Some(Value::Str(key)) = row.key.first() {
            out.shift_remove(key);
        }
    }
    out.into_iter().collect()
}

/// A main transform and its `#` partner.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    /// The main transform (`:name`).
    pub main: Transform,
    /// The partner (`:#name`), when listed.
    pub partner: Option<Transform>,
}

impl Pair {
    /// The product code the pair was made for (main transform's from code).
    pub fn base(&self) -> Guid {
        self.main.revision.from.code
    }
}

/// An opened, understood patch, read from `F` (a file unless said)
/// through `C`: the lazy reader ([`Compound`]) for an edit's input
/// ([`Patch::open`]) and a read that only plans ([`Patch::open_read_only`]),
/// `cfb` for a result re-read through its overlay ([`Patch::from_reader`]).
pub struct Patch<F = File, C = Compound<F>> {
    /// Where it was read from (for an overlay, the file it lies over).
    pub path: PathBuf,
    /// The compound file, open read-only.
    pub cf: C,
    /// The root summary information, decoded byte-faithfully.
    pub summary: PropertySet,
    /// Template as stored.
    pub template: String,
    /// Target product codes from Template, in order, each once (an entry
    /// that repeats an earlier one in another case is the same product).
    pub targets: Vec<Guid>,
    /// LastSavedBy as stored.
    pub last_saved_by: String,
    /// Patch code and obsoleted codes.
    pub codes: PatchCodes,
    /// Transform pairs in LastSavedBy order.
    pub pairs: Vec<Pair>,
    /// Names of the entries at the root of the file.
    pub root_names: Vec<String>,
    /// Signature streams present at the root.
    pub signatures: Vec<String>,
    /// What the whole structure check found of the file's large streams,
    /// on which verification's layout check relies; `None` when the file
    /// was read lazily, without that check (a large input of an edit, see
    /// [`container::open_for_edit`], or a read that only plans):
    /// verification then vouches for its large streams by the rule of
    /// [`crate::format::compound::edit_left_alone`].
    pub(crate) chains: Option<Chains>,
    _file: std::marker::PhantomData<fn() -> F>,
}

impl<F, C> std::fmt::Debug for Patch<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patch")
            .field("path", &self.path)
            .field("targets", &self.targets)
            .field("pairs", &self.pairs)
            .finish_non_exhaustive()
    }
}

/// Reads and decodes the summary information stream under `dir` ("/" for
/// the root, "/name" for a substorage).
pub fn read_summary<S: Storage>(cf: &mut S, dir: &Path) -> Result<PropertySet> {
    let path = dir.join(SUMMARY_STREAM);
    if !Storage::is_stream(cf, &path) {
        return Err(Error::format("has no \\005SummaryInformation stream"));
    }
    let bytes = container::read_stream_bounded(cf, &path, MAX_SUMMARY_LEN)?;
    PropertySet::parse(&bytes)
        .map_err(Error::from)
        .at(container::stream_part(&path))
}

impl Patch {
    /// Opens `path`, checks that it is a patch, and decodes its summary
    /// information and every transform pair named in LastSavedBy: the
    /// input of an edit, read once through the lazy reader (a small file
    /// is checked whole first: [`container::open_for_edit`]).
    pub fn open(path: &Path) -> Result<Patch> {
        let (cf, chains) = container::open_for_edit(path)?;
        from_compound(path, cf, chains)
    }

    /// [`Patch::open`] with the reader that reads only what is asked of it
    /// ([`crate::format::compound`]): for what only reads and plans (a dry
    /// run), whose cost then follows the summaries and transforms, not the
    /// size of the file. Its large streams are not followed, so it carries
    /// no [`Chains`] and is no input for an edit.
    pub fn open_read_only(path: &Path) -> Result<Patch<File, Compound<File>>> {
        let cf = container::open_lazy(path)?;
        from_compound(path, cf, None)
    }
}

impl<F: Read + Seek> Patch<F, Compound<F>> {
    /// Reads the result of an edit of a patch read lazily from `reader`,
    /// `len` bytes long, through the lazy reader; `path` names it in
    /// errors. Verification reads what it compares, and vouches for the
    /// rest by [`crate::format::compound::edit_left_alone`].
    pub(crate) fn from_reader_lazily(reader: F, len: u64, path: &Path) -> Result<Self> {
        let cf = container::open_reader_lazily(reader, len, path)?;
        from_compound(path, cf, None)
    }
}

impl<F: Read + Seek> Patch<F, CompoundFile<F>> {
    /// Reads a patch from `reader`, `len` bytes long, with the checks of
    /// [`Patch::open`]; `path` names it in errors.
    pub fn from_reader(reader: F, len: u64, path: &Path) -> Result<Patch<F, CompoundFile<F>>> {
        let (cf, chains) = container::open_reader_checked(reader, len, path)?;
        Patch::from_compound(path, cf, Some(chains))
    }

    /// [`Patch::from_reader`] of the result of an edit of a patch whose
    /// structure check gave `input`, which the edit provably left intact
    /// ([`container::open_edited_checked`]).
    pub(crate) fn from_edited_reader(
        reader: F,
        len: u64,
        path: &Path,
        input: &Chains,
    ) -> Result<Patch<F, CompoundFile<F>>> {
        let (cf, chains) = container::open_edited_checked(reader, len, path, input)?;
        Patch::from_compound(path, cf, Some(chains))
    }

    fn from_compound(
        path: &Path,
        cf: CompoundFile<F>,
        chains: Option<Chains>,
    ) -> Result<Patch<F, CompoundFile<F>>> {
        from_compound(path, cf, chains)
    }
}

fn from_compound<F, C: Storage>(path: &Path, cf: C, chains: Option<Chains>) -> Result<Patch<F, C>> {
    let kind = container::kind_of(&cf);
    if kind != FileKind::Patch {
        return Err(Error::format(format!(
            "is {}: its root CLSID is {{{}}}, a patch has {{{}}}",
            kind.describe(),
            cf.root_clsid().hyphenated().to_string().to_uppercase(),
            container::CLSID_PATCH
                .hyphenated()
                .to_string()
                .to_uppercase()
        ))
        .in_file(path));
    }
    understand(path, cf, chains).in_file(path)
}

fn understand<F, C: Storage>(
    path: &Path,
    mut cf: C,
    chains: Option<Chains>,
) -> Result<Patch<F, C>> {
    let summary = read_summary(&mut cf, Path::new("/")).at("root")?;
    let parts = read::read_parts(&mut cf, Some(&summary), read::Mode::Strict)?;
    let codes = parts
        .codes
        .ok_or_else(|| Error::format("RevisionNumber holds no patch code"))?;
    Ok(Patch {
        path: path.to_path_buf(),
        cf,
        summary,
        template: parts.template,
        targets: parts.targets,
        last_saved_by: parts.last_saved_by,
        codes,
        pairs: parts.pairs,
        root_names: parts.root_names,
        signatures: parts.signatures,
        chains,
        _file: std::marker::PhantomData,
    })
}

impl<F, C> Patch<F, C> {
    /// The pairs made for `base` (main transform's from code).
    pub fn pairs_of(&self, base: Guid) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().filter(move |p| p.base() == base)
    }

    /// Whether Template lists `code` (compared as GUIDs, so case-insensitively).
    pub fn targets_product(&self, code: Guid) -> bool {
        self.targets.contains(&code)
    }
}

/// Reads one transform substorage named in LastSavedBy.
pub fn read_transform<S: Storage>(cf: &mut S, name: &str) -> Result<Transform> {
    read_listed(cf, name).map_err(|(_, e)| e)
}

/// [`read_transform`], saying which of its checks failed.
fn read_listed<S: Storage>(
    cf: &mut S,
    name: &str,
) -> std::result::Result<Transform, (Fault, Error)> {
    // A name with a path separator, or "." / "..", would be resolved by
    // `Path::join` and `cfb` to an entry elsewhere in the file (a nested
    // storage, the root): a transform is a storage at the root.
    let not_a_name = if name.encode_utf16().count() > crate::format::names::MAX_NAME_UNITS {
        Some(Fault::NameTooLong)
    } else if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\' | ':' | '!')) {
        Some(Fault::ForbiddenChar(c))
    } else if matches!(name, "" | "." | "..") {
        Some(Fault::NotAName)
    } else {
        None
    };
    if let Some(fault) = not_a_name {
        return Err((
            fault,
            Error::format(format!(
                "LastSavedBy lists :{} but that is not the name of a storage at the root of \
                 the file (1 to {} UTF-16 units, none of / \\ : !)",
                show_name(name),
                crate::format::names::MAX_NAME_UNITS
            )),
        ));
    }
    let dir = Path::new("/").join(name);
    if !Storage::exists(cf, &dir) {
        return Err((
            Fault::Missing,
            Error::format(format!(
                "LastSavedBy lists :{} but the file has no storage of that name",
                show_name(name)
            )),
        ));
    }
    if !Storage::is_storage(cf, &dir) {
        return Err((
            Fault::NotAStorage,
            Error::format(format!(
                "LastSavedBy lists :{} but that entry is a stream, not a transform storage",
                show_name(name)
            )),
        ));
    }
    read_storage(cf, name).map_err(|e| (Fault::Unreadable, e))
}

/// Reads the transform storage `listed` names, which exists.
fn read_storage<S: Storage>(cf: &mut S, listed: &str) -> Result<Transform> {
    let entry = cf
        .info(&Path::new("/").join(listed))
        .ok_or_else(|| Error::format("cannot read: no such storage").at(storage_part(listed)))?;
    let clsid = Guid(entry.clsid);
    // The compound file finds names ignoring case, so LastSavedBy may
    // spell a storage `RTMA.1` that is stored as `rtmA.1`. Everything
    // after this point (the copy's paths, its name, verification) uses the
    // name as stored, which is what walking the storage yields.
    let name = entry.name;
    let dir = Path::new("/").join(&name);
    let part = storage_part(&name);
    let set = read_summary(cf, &dir).at(part.clone())?;
    let stream = || {
        format!(
            "{part}, {}",
            container::stream_part(Path::new(SUMMARY_STREAM))
        )
    };
    let raw = require_string(&set, pid::REVISION_NUMBER).at(stream())?;
    let revision = TransformRevision::parse(&raw)
        .at(property_part(pid::REVISION_NUMBER))
        .at(stream())?;
    let char_count = get_int(&set, pid::CHAR_COUNT).map(|v| v as u32);
    let template = get_string(&set, pid::TEMPLATE).at(stream())?;
    let content = read_content(cf, &dir).at(part)?;
    Ok(Transform {
        name,
        clsid,
        revision,
        char_count,
        template,
        content,
    })
}

/// The facts of [`Content`] for the storage `dir`: every stream but the
/// summary information read in chunks and digested, then the per-instance
/// tables decoded. SipHash with fixed keys (what `DefaultHasher::new` is)
/// is deterministic, which is all this needs: it tells copies apart from
/// different transforms, it is not a security boundary (verification
/// compares bytes).
fn read_content<S: Storage>(cf: &mut S, dir: &Path) -> Result<Content> {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let summary = dir.join(SUMMARY_STREAM);
    // Transform streams are a few kilobytes: a 64 KiB buffer, zeroed for
    // each of the hundreds of transforms an edit re-reads, cost more than
    // reading them.
    let mut buf = [0u8; 8 * 1024];
    let mut streams = Vec::new();
    let entries = cf
        .walk_from(dir)
        .map_err(|e| Error::io("cannot list", e).at(storage_part(&container::path_text(dir))))?;
    for e in entries {
        if !e.is_stream || e.path == summary {
            continue;
        }
        let rel = e.path.strip_prefix(dir).unwrap_or(&e.path);
        let name = rel.to_string_lossy().into_owned();
        let mut one = std::collections::hash_map::DefaultHasher::new();
        let mut s = cf
            .open(&e.path)
            .map_err(|err| Error::io("cannot open", err).at(container::stream_part(&e.path)))?;
        loop {
            let n = s
                .read(&mut buf)
                .map_err(|err| Error::io("reading", err).at(container::stream_part(&e.path)))?;
            if n == 0 {
                break;
            }
            one.write(buf.get(..n).unwrap_or_default());
        }
        // The whole content's digest is made of the streams' (name,
        // length, digest): each byte is hashed once.
        let digest = one.finish();
        h.write(name.as_bytes());
        h.write_u64(e.len);
        h.write_u64(digest);
        streams.push(StreamDigest {
            name,
            len: e.len,
            digest,
        });
    }
    let tables = per_instance_tables(cf, dir, &streams).unwrap_or_default();
    Ok(Content {
        digest: h.finish(),
        streams,
        tables,
    })
}

/// The rows of the per-instance tables of the storage `dir`, or `None`
/// when it has none or one does not decode: reading a patch never fails
/// on them (a table that does not decode is then known by its digest).
fn per_instance_tables<S: Storage>(
    cf: &mut S,
    dir: &Path,
    streams: &[StreamDigest],
) -> Option<Vec<(String, Vec<crate::format::transform::RowOp>)>> {
    use crate::format::streamname;
    use crate::format::transform::{self, Schema, StringPool};
    let schema = Schema::per_instance();
    let wanted: Vec<(&StreamDigest, &transform::TableDef)> = streams
        .iter()
        .filter_map(|s| {
            let d = streamname::decode(&s.name);
            d.is_table
                .then(|| schema.table(&d.name))
                .flatten()
                .map(|def| (s, def))
        })
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let mut read = |name: &str, limit: u64| {
        container::read_stream_bounded(cf, &dir.join(streamname::encode(name, true)), limit).ok()
    };
    let pool = read("_StringPool", transform::MAX_POOL_LEN)?;
    let data = read("_StringData", transform::MAX_STRING_DATA_LEN)?;
    let pool = StringPool::parse(&pool, &data).ok()?;
    let mut out = Vec::new();
    for (s, def) in wanted {
        let bytes =
            container::read_stream_bounded(cf, &dir.join(&s.name), transform::MAX_TABLE_LEN)
                .ok()?;
        out.push((
            def.name.clone(),
            transform::decode_rows(def, &bytes, &pool).ok()?,
        ));
    }
    Some(out)
}
