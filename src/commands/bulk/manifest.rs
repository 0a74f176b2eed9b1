//! The bulk manifest: a TOML file naming the patches, the instances and
//! where the results go. Paths in it are relative to the manifest's own
//! folder.
//!
//! ```toml
//! output_dir = "out"            # or: in_place = true
//! copy_all = false
//! strip_signature = false
//! isolate_components = "auto"   # or all, none, "KEY,KEY"
//!
//! [[instances]]
//! code = "{11111111-1111-4111-8111-111111111111}"
//! base = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}"   # optional
//! id = "Customer1"                                  # optional
//! upgrade_code = "{...}"                            # optional
//!
//! [[instance_files]]
//! path = "instances.txt"
//!
//! [[instances_from]]
//! path = "product.msi"
//!
//! [[patches]]
//! paths = ["patches/*.msp"]
//! instances = ["Customer1"]     # optional: only these instances (ids or codes)
//! isolate_components = "none"   # optional: this group's own choice
//! ```
//!
//! Parsing checks everything that can be checked without touching another
//! file; every error names the manifest, and the line and key when known.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::edit::isolate::ComponentIsolation;
use crate::edit::plan::{InstanceRequest, PlanOptions};
use crate::error::{Error, Result, Setting, Wording};
use crate::format::guid::Guid;

/// Where a bulk run puts its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Each result is written to this folder under its input's file name.
    Dir(PathBuf),
    /// Each input is replaced atomically.
    InPlace,
}

/// A place in the manifest, for error messages: the line (1-based) when
/// known, and the key (`patches[1].paths[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The line, when known.
    pub line: Option<usize>,
    /// The key, dotted and indexed as in TOML.
    pub key: String,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}, {}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// A file an instance list is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path, resolved against the manifest's folder.
    pub path: PathBuf,
    /// Where the manifest names it.
    pub place: Place,
}

/// One path or glob of a `[[patches]]` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written in the manifest (relative to the manifest's folder unless
    /// absolute).
    pub text: String,
    /// Where the manifest names it.
    pub place: Place,
}

/// What an entry of a group's `instances` list picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The instance with this product code.
    Code(Guid),
    /// The instances with this id.
    Id(String),
}

/// One entry of a group's `instances` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// What it picks.
    pub pick: Pick,
    /// As written.
    pub text: String,
    /// Where the manifest names it.
    pub place: Place,
}

/// One `[[patches]]` group: patches and, optionally, which of the
/// manifest's instances they are retargeted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchGroup {
    /// Paths and globs, in manifest order.
    pub patterns: Vec<Pattern>,
    /// The instances of this group; `None` for all of the manifest's.
    pub select: Option<Vec<Selector>>,
    /// This group's `isolate_components`; `None` for the manifest's.
    pub isolation: Option<ComponentIsolation>,
    /// Where the group starts.
    pub place: Place,
}

/// A parsed, checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its folder, which relative paths are resolved against (empty for a
    /// manifest in the current folder).
    pub folder: PathBuf,
    /// Where results go.
    pub output: Output,
    /// Where the manifest says where results go.
    pub output_place: Place,
    /// Decision options for every patch.
    pub options: PlanOptions,
    /// The explicit `[[instances]]`, in order.
    pub instances: Vec<InstanceRequest>,
    /// The `[[instance_files]]`, in order.
    pub instance_files: Vec<SourceFile>,
    /// The `[[instances_from]]` products and transforms, in order.
    pub instances_from: Vec<SourceFile>,
    /// The `[[patches]]` groups, in order.
    pub groups: Vec<PatchGroup>,
    /// Where each `[[instances]]` entry starts, in the order of
    /// [`Manifest::instances`].
    pub instance_places: Vec<Place>,
    /// Where each instance of the run is listed (the first time), filled
    /// when the run loads its instances
    /// ([`crate::commands::bulk::sources::load_sourced`]): a refusal that
    /// asks for an instance's base names the entry or file to change.
    pub origins: HashMap<Guid, Origin>,
}

/// Where the manifest, or a file it names, lists an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An `[[instances]]` entry of the manifest.
    Entry(Place),
    /// A line of an `[[instance_files]]` list file.
    ListFile(PathBuf),
    /// An `[[instances_from]]` product or transform (which gives the base
    /// itself).
    Product(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    output_dir: Option<Spanned<String>>,
    in_place: Option<Spanned<bool>>,
    #[serde(default)]
    copy_all: bool,
    #[serde(default)]
    strip_signature: bool,
    isolate_components: Option<Spanned<String>>,
    #[serde(default)]
    instances: Vec<Spanned<RawInstance>>,
    #[serde(default)]
    instance_files: Vec<Spanned<RawSource>>,
    #[serde(default)]
    instances_from: Vec<Spanned<RawSource>>,
    #[serde(default)]
    patches: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    code: Spanned<String>,
    base: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
    upgrade_code: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    path: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    paths: Spanned<Vec<Spanned<String>>>,
    instances: Option<Spanned<Vec<Spanned<String>>>>,
    isolate_components: Option<Spanned<String>>,
}

/// Turns byte offsets into places.
struct Locator<'a> {
    text: &'a str,
}

impl Locator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn place(&self, span: Range<usize>, key: impl Into<String>) -> Place {
        Place {
            line: Some(self.line_of(span.start)),
            key: key.into(),
        }
    }

    /// The key written on the line of `span`, if the line is `key = ...`.
    fn key_on_line(&self, span: &Range<usize>) -> Option<String> {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line = self.text[line_start..line_end].trim();
        if let Some(header) = line.strip_prefix('[') {
            return Some(
                header
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string(),
            );
        }
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        (!key.is_empty() && !key.starts_with('#')).then(|| key.to_string())
    }
}

/// Words the settings a file's error names as this manifest's keys: a
/// bulk run's remedies are changes to the manifest. A setting the manifest
/// has no key for keeps its API words.
pub struct ManifestKeys;

impl Wording for ManifestKeys {
    fn word(&self, setting: &Setting) -> Option<String> {
        Some(match setting {
            Setting::InPlace => "`in_place = true`".into(),
            Setting::RedoInPlace => "a bulk run of it with `in_place = true`".into(),
            Setting::StripSignature => "`strip_signature = true`".into(),
            Setting::InstanceBase { instance } => format!(
                "`base = \"{{BASE}}\"` in its `[[instances]]` entry (or `{{BASE}}={instance}` \
                 in an instance list file)"
            ),
            Setting::InstancesWithIds => "`id =` in `[[instances]]`, `[[instances_from]]`, or \
                                          `ID {CODE}` lines in an `[[instance_files]]` file"
                .into(),
            Setting::RetargetInstances => "`[[instances]]`".into(),
            Setting::ComponentIsolation => "`isolate_components`".into(),
            Setting::NoComponentIsolation => "`isolate_components = \"none\"`".into(),
            Setting::AllComponentIsolation => "`isolate_components = \"all\"`".into(),
            _ => return None,
        })
    }
}

/// [`ManifestKeys`] for one run: a refusal that asks for an instance's
/// base names where that instance is listed, the manifest's line or the
/// list file.
pub struct RunKeys<'a>(pub &'a Manifest);

impl Wording for RunKeys<'_> {
    fn word(&self, setting: &Setting) -> Option<String> {
        let m = self.0;
        match setting {
            Setting::InstanceBase { instance } => match Guid::parse_lenient(instance)
                .ok()
                .and_then(|code| m.origins.get(&code))
            {
                Some(Origin::Entry(place)) => Some(format!(
                    "`base = \"{{BASE}}\"` in its `[[instances]]` entry ({}: {place})",
                    m.path.display()
                )),
                Some(Origin::ListFile(path)) => Some(format!(
                    "`{{BASE}}={instance}` on its line of {}",
                    path.display()
                )),
                Some(Origin::Product(_)) | None => ManifestKeys.word(setting),
            },
            _ => ManifestKeys.word(setting),
        }
    }
}

impl Manifest {
    /// Reads and parses the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("cannot read the manifest", e).in_file(path))?;
        Manifest::parse(&text, path)
    }

    /// Parses manifest `text`, read from `path` (which resolves relative
    /// paths and is named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let loc = Locator { text };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let place = e.span().map(|span| Place {
                line: Some(loc.line_of(span.start)),
                key: loc.key_on_line(&span).unwrap_or_default(),
            });
            let err = Error::usage(e.message().trim().to_string()).in_file(path);
            match place {
                Some(Place { line, key }) if key.is_empty() => {
                    err.at(format!("line {}", line.unwrap_or(1)))
                }
                Some(p) => err.at(p.to_string()),
                None => err,
            }
        })?;
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let err = |place: &Place, reason: String| {
            Error::usage(reason).in_file(path).at(place.to_string())
        };

        let (output, output_place) = match (
            &raw.output_dir,
            raw.in_place.as_ref().map(|s| (*s.get_ref(), s.span())),
        ) {
            (Some(dir), None | Some((false, _))) => {
                let place = loc.place(dir.span(), "output_dir");
                if dir.get_ref().trim().is_empty() {
                    return Err(err(&place, "output_dir is empty; name a folder".into()));
                }
                (Output::Dir(folder.join(dir.get_ref())), place)
            }
            (None, Some((true, span))) => (Output::InPlace, loc.place(span, "in_place")),
            (Some(dir), Some((true, _))) => {
                return Err(err(
                    &loc.place(dir.span(), "output_dir"),
                    "give either output_dir or in_place = true, not both".into(),
                ));
            }
            (None, None | Some((false, _))) => {
                return Err(Error::usage(
                    "say where the results go: output_dir = \"FOLDER\" (relative to the \
                     manifest) or in_place = true",
                )
                .in_file(path));
            }
        };

        // The same values as `retarget --isolate-components`, checked by the
        // same parser; the reason is worded with the manifest's key.
        let isolation = |s: &Spanned<String>, key: String| -> Result<ComponentIsolation> {
            ComponentIsolation::parse(s.get_ref()).map_err(|_| {
                err(
                    &loc.place(s.span(), key),
                    format!(
                        "{:?} is not auto, all, none or a comma-separated list of component \
                         keys (none of them empty)",
                        s.get_ref()
                    ),
                )
            })
        };
        let default_isolation = raw
            .isolate_components
            .as_ref()
            .map(|s| isolation(s, "isolate_components".into()))
            .transpose()?
            .unwrap_or_default();
        let guid = |s: &Spanned<String>, key: String| -> Result<Guid> {
            Guid::parse_lenient(s.get_ref())
                .map_err(|e| err(&loc.place(s.span(), key), e.reason().to_string()))
        };
        let mut instances = Vec::new();
        let mut instance_places = Vec::new();
        for (i, inst) in raw.instances.iter().enumerate() {
            instance_places.push(loc.place(inst.span(), format!("instances[{i}]")));
            let r = inst.get_ref();
            let id = match &r.id {
                Some(id) if id.get_ref().trim().is_empty() => {
                    return Err(err(
                        &loc.place(id.span(), format!("instances[{i}].id")),
                        "the id is empty; leave it out instead".into(),
                    ));
                }
                Some(id) => Some(id.get_ref().clone()),
                None => None,
            };
            instances.push(InstanceRequest {
                instance: guid(&r.code, format!("instances[{i}].code"))?,
                base: r
                    .base
                    .as_ref()
                    .map(|b| guid(b, format!("instances[{i}].base")))
                    .transpose()?,
                id,
                upgrade_code: r
                    .upgrade_code
                    .as_ref()
                    .map(|u| guid(u, format!("instances[{i}].upgrade_code")))
                    .transpose()?,
                component_codes: Default::default(),
                product_isolates: false,
            });
        }

        let sources = |list: &[Spanned<RawSource>], table: &str| -> Result<Vec<SourceFile>> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    let p = &s.get_ref().path;
                    let place = loc.place(p.span(), format!("{table}[{i}].path"));
                    if p.get_ref().trim().is_empty() {
                        return Err(err(&place, "the path is empty".into()));
                    }
                    Ok(SourceFile {
                        path: folder.join(p.get_ref()),
                        place,
                    })
                })
                .collect()
        };
        let instance_files = sources(&raw.instance_files, "instance_files")?;
        let instances_from = sources(&raw.instances_from, "instances_from")?;

        if raw.patches.is_empty() {
            return Err(Error::usage(
                "no [[patches]] group: name the patches with [[patches]] paths = [\"*.msp\"]",
            )
            .in_file(path));
        }
        let mut groups = Vec::new();
        for (g, group) in raw.patches.iter().enumerate() {
            let r = group.get_ref();
            let place = loc.place(group.span(), format!("patches[{g}]"));
            if r.paths.get_ref().is_empty() {
                return Err(err(
                    &loc.place(r.paths.span(), format!("patches[{g}].paths")),
                    "paths is empty; list at least one path or glob".into(),
                ));
            }
            let mut patterns = Vec::new();
            for (i, p) in r.paths.get_ref().iter().enumerate() {
                let place = loc.place(p.span(), format!("patches[{g}].paths[{i}]"));
                if p.get_ref().trim().is_empty() {
                    return Err(err(&place, "the path is empty".into()));
                }
                patterns.push(Pattern {
                    text: p.get_ref().clone(),
                    place,
                });
            }
            let select = match &r.instances {
                None => None,
                Some(list) if list.get_ref().is_empty() => {
                    return Err(err(
                        &loc.place(list.span(), format!("patches[{g}].instances")),
                        "instances is empty; leave it out to use every instance".into(),
                    ));
                }
                Some(list) => Some(
                    list.get_ref()
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let text = s.get_ref().trim().to_string();
                            let place = loc.place(s.span(), format!("patches[{g}].instances[{i}]"));
                            if text.is_empty() {
                                return Err(err(&place, "the entry is empty".into()));
                            }
                            let pick = match Guid::parse_lenient(&text) {
                                Ok(code) => Pick::Code(code),
                                Err(_) => Pick::Id(text.clone()),
                            };
                            Ok(Selector { pick, text, place })
                        })
                        .collect::<Result<Vec<_>>>()?,
                ),
            };
            let group_isolation = r
                .isolate_components
                .as_ref()
                .map(|s| isolation(s, format!("patches[{g}].isolate_components")))
                .transpose()?;
            groups.push(PatchGroup {
                patterns,
                select,
                isolation: group_isolation,
                place,
            });
        }

        Ok(Manifest {
            path: path.to_path_buf(),
            folder,
            output,
            output_place,
            options: PlanOptions {
                copy_all: raw.copy_all,
                strip_signature: raw.strip_signature,
                isolation: default_isolation,
                ..PlanOptions::default()
            },
            instances,
            instance_files,
            instances_from,
            groups,
            instance_places,
            origins: HashMap::new(),
        })
    }

    /// A usage error about the manifest at `place`.
    pub fn error(&self, place: &Place, reason: impl Into<String>) -> Error {
        Error::usage(reason.into())
            .in_file(&self.path)
            .at(place.to_string())
    }

    /// The decision options for the patches of `group`: the manifest's,
    /// with the group's own `isolate_components` when it has one.
    pub fn options_for(&self, group: &PatchGroup) -> PlanOptions {
        let mut options = self.options.clone();
        if let Some(isolation) = &group.isolation {
            options.isolation = isolation.clone();
        }
        options
    }

    /// `path` resolved against the manifest's folder (absolute paths stay).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.folder.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
    const I1: &str = "{11111111-1111-4111-8111-111111111111}";

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("ci/bulk.toml"))
    }

    fn message(text: &str) -> String {
        parse(text)
            .expect_err("the manifest must be refused")
            .to_string()
    }

    #[test]
    fn a_full_manifest_resolves_paths_against_its_folder() {
        let m = parse(&format!(
            r#"
output_dir = "out"
strip_signature = true

[[instances]]
code = "{I1}"
base = "{A}"
id = "Customer1"

[[instance_files]]
path = "instances.txt"

[[instances_from]]
path = "/abs/product.msi"

[[patches]]
paths = ["patches/*.msp", "extra/fix.msp"]
instances = ["Customer1", "{I1}"]
"#
        ))
        .unwrap();
        assert_eq!(m.output, Output::Dir(PathBuf::from("ci/out")));
        assert!(m.options.strip_signature && !m.options.copy_all);
        assert_eq!(m.instances.len(), 1);
        assert_eq!(m.instances[0].id.as_deref(), Some("Customer1"));
        assert_eq!(m.instances[0].base.unwrap().braced(), A);
        assert_eq!(m.instance_files[0].path, PathBuf::from("ci/instances.txt"));
        assert_eq!(m.instances_from[0].path, PathBuf::from("/abs/product.msi"));
        assert_eq!(m.groups[0].patterns[1].text, "extra/fix.msp");
        assert_eq!(m.groups[0].patterns[1].place.line, Some(17));
        let select = m.groups[0].select.as_ref().unwrap();
        assert_eq!(select[0].pick, Pick::Id("Customer1".into()));
        assert!(matches!(select[1].pick, Pick::Code(_)));
    }

    #[test]
    fn in_place_needs_no_output_dir() {
        let m = parse("in_place = true\n[[patches]]\npaths = [\"a.msp\"]\n").unwrap();
        assert_eq!(m.output, Output::InPlace);
        assert!(m.instances.is_empty());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let msg = message(
            "output_dir = \"out\"\ncopy_everything = true\n[[patches]]\npaths = [\"a.msp\"]\n",
        );
        assert!(
            msg.starts_with(
                "ci/bulk.toml: line 2, copy_everything: unknown field `copy_everything`"
            ),
            "{msg}"
        );
    }

    #[test]
    fn bad_guid_names_the_key() {
        let msg = message(
            "output_dir = \"out\"\n[[instances]]\ncode = \"{1234}\"\n[[patches]]\npaths = [\"a.msp\"]\n",
        );
        assert!(
            msg.starts_with(
                "ci/bulk.toml: line 3, instances[0].code: \"{1234}\" is not a product code"
            ),
            "{msg}"
        );
    }

    #[test]
    fn missing_patches_and_missing_destination_are_refused() {
        let msg = message("output_dir = \"out\"\n");
        assert!(
            msg.starts_with("ci/bulk.toml: no [[patches]] group"),
            "{msg}"
        );
        let msg = message("[[patches]]\npaths = [\"a.msp\"]\n");
        assert!(msg.contains("output_dir = \"FOLDER\""), "{msg}");
        let msg =
            message("output_dir = \"o\"\nin_place = true\n[[patches]]\npaths = [\"a.msp\"]\n");
        assert!(
            msg.starts_with("ci/bulk.toml: line 1, output_dir: give either"),
            "{msg}"
        );
    }

    #[test]
    fn empty_lists_and_wrong_types_are_refused() {
        let msg = message("output_dir = \"o\"\n[[patches]]\npaths = []\n");
        assert!(
            msg.starts_with("ci/bulk.toml: line 3, patches[0].paths: paths is empty"),
            "{msg}"
        );
        let msg = message("output_dir = \"o\"\ncopy_all = \"yes\"\n[[patches]]\npaths = [\"a\"]\n");
        assert!(
            msg.starts_with("ci/bulk.toml: line 2, copy_all: invalid type"),
            "{msg}"
        );
        let msg = message("output_dir = \"o\"\n[[patches]]\nglob = \"*.msp\"\n");
        assert!(msg.contains("unknown field `glob`"), "{msg}");
    }

    #[test]
    fn the_manifests_in_the_docs_parse() {
        for doc in [
            include_str!("../../../docs/bulk.md"),
            include_str!("../../../docs/guide.md"),
            include_str!("../../../docs/ci.md"),
        ] {
            let blocks: Vec<&str> = doc
                .split("```toml\n")
                .skip(1)
                .map(|b| b.split("```").next().unwrap_or_default())
                .collect();
            assert!(!blocks.is_empty());
            for block in blocks {
                if let Err(e) = parse(block) {
                    panic!("{e}\n{block}");
                }
            }
        }
    }

    #[test]
    fn isolate_components_is_read_like_the_option_and_a_group_overrides_it() {
        let m = parse(
            "output_dir = \"o\"\nisolate_components = \"A, B\"\n[[patches]]\npaths = [\"a\"]\n\
             [[patches]]\npaths = [\"b\"]\nisolate_components = \"none\"\n",
        )
        .unwrap();
        let keys = ComponentIsolation::Keys(vec!["A".into(), "B".into()]);
        assert_eq!(m.options.isolation, keys);
        assert_eq!(m.groups[0].isolation, None);
        assert_eq!(m.options_for(&m.groups[0]).isolation, keys);
        assert_eq!(m.groups[1].isolation, Some(ComponentIsolation::None));
        assert_eq!(
            m.options_for(&m.groups[1]).isolation,
            ComponentIsolation::None
        );
        // Left out: auto, as the option's default.
        let m = parse("output_dir = \"o\"\n[[patches]]\npaths = [\"a\"]\n").unwrap();
        assert_eq!(m.options.isolation, ComponentIsolation::Auto);

        let msg = message(
            "output_dir = \"o\"\nisolate_components = \"A,,B\"\n[[patches]]\npaths = [\"a\"]\n",
        );
        assert!(
            msg.starts_with("ci/bulk.toml: line 2, isolate_components: \"A,,B\" is not auto"),
            "{msg}"
        );
        let msg = message(
            "output_dir = \"o\"\n[[patches]]\npaths = [\"a\"]\nisolate_components = \" \"\n",
        );
        assert!(
            msg.starts_with("ci/bulk.toml: line 4, patches[0].isolate_components: \" \" is not"),
            "{msg}"
        );
        let msg = message(
            "output_dir = \"o\"\nisolate_components = true\n[[patches]]\npaths = [\"a\"]\n",
        );
        assert!(
            msg.starts_with("ci/bulk.toml: line 2, isolate_components: invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let msg = message("output_dir = \"o\"\n[[patches]\n");
        assert!(msg.starts_with("ci/bulk.toml: line 2"), "{msg}");
    }
}
