//! Where a bulk run's instances come from: the manifest's own
//! `[[instances]]`, instance list files (`[[instance_files]]`) and products
//! or instance transforms (`[[instances_from]]`).
//!
//! Reading list files and products is behind [`InstanceSources`], so that
//! the bulk run does not depend on how those files are parsed (and tests
//! can stand in for them). [`BuiltinSources`] is the tool's own.

use std::path::Path;

use crate::commands::bulk::manifest::{Manifest, Origin, SourceFile};
use crate::edit::plan::InstanceRequest;
use crate::error::{Error, Result};

/// Reads instances from files named by a manifest.
pub trait InstanceSources: Sync {
    /// The instances of an instance list file: one a line, `[ID] {BASE}={INSTANCE}`
    /// or `[ID] {INSTANCE}`, `#` comments.
    fn list_file(&self, path: &Path) -> Result<Vec<InstanceRequest>>;

    /// The instances a product (`.msi` with embedded instance transforms)
    /// or an instance transform (`.mst`) defines.
    fn product(&self, path: &Path) -> Result<Vec<InstanceRequest>>;
}

/// The tool's own readers.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSources;

// Instance list files and products are read by `crate::product::instances`, the
// same readers `retarget --instances-file/--instances-from` use.
impl InstanceSources for BuiltinSources {
    fn list_file(&self, path: &Path) -> Result<Vec<InstanceRequest>> {
        Ok(crate::product::instances::from_list_file(path)?
            .iter()
            .map(|i| i.request(None, None))
            .collect())
    }

    fn product(&self, path: &Path) -> Result<Vec<InstanceRequest>> {
        crate::store::journal::check_readable(path)?;
        Ok(crate::product::instances::from_product(path)?
            .require_instances()?
            .requests())
    }
}

/// Every instance of the manifest, in order: `[[instances]]`, then each
/// `[[instance_files]]` file, then each `[[instances_from]]` file. An
/// instance listed twice stays where it is first listed (the plan treats
/// repeats as one instance).
pub fn load_instances(
    manifest: &Manifest,
    sources: &dyn InstanceSources,
) -> Result<Vec<InstanceRequest>> {
    Ok(load_sourced(manifest, sources)?
        .into_iter()
        .map(|(request, _)| request)
        .collect())
}

/// [`load_instances`], each instance with where it is listed.
pub fn load_sourced(
    manifest: &Manifest,
    sources: &dyn InstanceSources,
) -> Result<Vec<(InstanceRequest, Origin)>> {
    let mut all: Vec<(InstanceRequest, Origin)> = manifest
        .instances
        .iter()
        .cloned()
        .zip(manifest.instance_places.iter().cloned().map(Origin::Entry))
        .collect();
    let load = |file: &SourceFile, read: &dyn Fn(&Path) -> Result<Vec<InstanceRequest>>| {
        read(&file.path).map_err(|e| {
            if e.file().is_some() {
                e
            } else {
                e.in_file(&manifest.path).at(file.place.to_string())
            }
        })
    };
    for file in &manifest.instance_files {
        let origin = Origin::ListFile(file.path.clone());
        all.extend(
            load(file, &|p| sources.list_file(p))?
                .into_iter()
                .map(|r| (r, origin.clone())),
        );
    }
    for file in &manifest.instances_from {
        let origin = Origin::Product(file.path.clone());
        all.extend(
            load(file, &|p| sources.product(p))?
                .into_iter()
                .map(|r| (r, origin.clone())),
        );
    }
    if all.is_empty() {
        return Err(Error::usage(
            "no instances: add [[instances]], [[instance_files]] or [[instances_from]]",
        )
        .in_file(&manifest.path));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Fake;

    impl InstanceSources for Fake {
        fn list_file(&self, path: &Path) -> Result<Vec<InstanceRequest>> {
            if path.ends_with("broken.txt") {
                return Err(Error::format("line 3: not a GUID").in_file(path));
            }
            Ok(vec![InstanceRequest::parse(
                "{22222222-2222-4222-8222-222222222222}",
            )?])
        }
        fn product(&self, _path: &Path) -> Result<Vec<InstanceRequest>> {
            Ok(vec![InstanceRequest {
                id: Some("I3".into()),
                ..InstanceRequest::parse("{33333333-3333-4333-8333-333333333333}")?
            }])
        }
    }

    fn manifest(body: &str) -> Manifest {
        let text = format!("output_dir = \"out\"\n{body}\n[[patches]]\npaths = [\"*.msp\"]\n");
        Manifest::parse(&text, Path::new("m/bulk.toml")).unwrap()
    }

    #[test]
    fn instances_come_in_manifest_order() {
        let m = manifest(
            "[[instances_from]]\npath = \"p.msi\"\n[[instance_files]]\npath = \"i.txt\"\n\
             [[instances]]\ncode = \"{11111111-1111-4111-8111-111111111111}\"\n",
        );
        let codes: Vec<String> = load_instances(&m, &Fake)
            .unwrap()
            .iter()
            .map(|i| i.instance.short())
            .collect();
        assert_eq!(codes, ["11111111", "22222222", "33333333"]);
        let origins: Vec<Origin> = load_sourced(&m, &Fake)
            .unwrap()
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert!(
            matches!(&origins[0], Origin::Entry(p) if p.line == Some(6) && p.key == "instances[0]"),
            "{origins:?}"
        );
        assert_eq!(origins[1], Origin::ListFile(PathBuf::from("m/i.txt")));
        assert_eq!(origins[2], Origin::Product(PathBuf::from("m/p.msi")));
    }

    #[test]
    fn errors_keep_their_file_or_name_the_manifest() {
        let m = manifest("[[instance_files]]\npath = \"broken.txt\"\n");
        let e = load_instances(&m, &Fake).unwrap_err();
        assert_eq!(e.to_string(), "m/broken.txt: line 3: not a GUID");

        // The real readers name the file they could not read.
        let e = load_instances(&m, &BuiltinSources).unwrap_err();
        assert!(e.to_string().contains("broken.txt"), "{e}");
        let m = manifest("[[instances_from]]\npath = \"p.msi\"\n");
        let e = load_instances(&m, &BuiltinSources).unwrap_err();
        assert!(e.to_string().contains("p.msi"), "{e}");
    }

    #[test]
    fn no_instance_at_all_is_refused() {
        let e = load_instances(&manifest(""), &Fake).unwrap_err();
        assert!(
            e.to_string().starts_with("m/bulk.toml: no instances"),
            "{e}"
        );
    }
}
