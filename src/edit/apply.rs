//! Applying a [`Plan`] to an overlay of the patch.
//!
//! The overlay reads as every byte of the input (see [`crate::store::overlay`]);
//! applying adds the planned substorages (what differs from their sources
//! comes from [`crate::edit::copy::Sources::streams_after`]), rewrites the root
//! summary stream, writes the patch database's MsiPatchSequence rows the
//! plan declares (table stream and string pool, from
//! [`crate::edit::sequence`]) and removes signature streams when asked.
//! Nothing else is touched, so streams the plan does not
//! change are neither read nor rewritten.

use std::io::{Read, Seek, Write};
use std::path::Path;

use cfb::CompoundFile;

use crate::edit::plan::Plan;
use crate::error::{Context, Error, Result};
use crate::format::container::{self, stream_part};
use crate::format::names;
use crate::format::summary::{SUMMARY_STREAM, pid, property_part};
use crate::patch::Patch;

/// The root summary information as it must be after the plan: the input's
/// stream with only Template and LastSavedBy changed.
pub fn root_summary_after(patch: &Patch, plan: &Plan) -> Result<Vec<u8>> {
    let mut set = patch.summary.clone();
    for (id, value) in [
        (pid::TEMPLATE, &plan.template_after),
        (pid::LAST_SAVED_BY, &plan.last_saved_by_after),
    ] {
        set.set_string(id, value)
            .map_err(Error::from)
            .at(property_part(id))
            .at(stream_part(&Path::new("/").join(SUMMARY_STREAM)))?;
    }
    Ok(set.to_bytes())
}

/// Applies `plan` to `out`, a compound file holding a copy of the input.
/// The caller flushes and syncs.
pub fn apply<W: Read + Write + Seek>(
    patch: &mut Patch,
    plan: &Plan,
    out: &mut CompoundFile<W>,
) -> Result<()> {
    // Each source is read once, however many copies are made of it.
    let mut sources = crate::edit::copy::Sources::default();
    for copy in &plan.copies {
        check_new_name(&copy.name)?;
        let target = Path::new("/").join(&copy.name);
        if out.exists(&target) {
            return Err(Error::format(format!(
                "cannot add {}: an entry of that name already exists",
                container::storage_part(&copy.name)
            )));
        }
        let mut streams = sources.streams_after(&mut patch.cf, copy)?;
        // The source's other streams as read once for every copy (those
        // past the limit are read again here).
        let held = sources.stream_bytes(patch, &copy.source)?;
        let source = Path::new("/").join(&copy.source);
        let mut replace = |rel: &Path| {
            streams
                .take(rel)
                .or_else(|| held.get(&source.join(rel)).cloned())
        };
        tracing::debug!(source = %copy.source, name = %copy.name, "copying transform");
        container::copy_storage(&mut patch.cf, &source, out, &target, &mut replace)
            .at(format!("copy {} of {}", copy.name, copy.source))?;
    }

    let root_summary = root_summary_after(patch, plan)?;
    let path = Path::new("/").join(SUMMARY_STREAM);
    let mut stream = out
        .create_stream(&path)
        .map_err(|e| Error::io("cannot rewrite", e).at(stream_part(&path)))?;
    stream
        .write_all(&root_summary)
        .and_then(|_| stream.flush())
        .map_err(|e| Error::io("writing", e).at(stream_part(&path)))?;
    drop(stream);

    // The patch's own database: MsiPatchSequence rows mirrored for
    // instances (or removed with them), with the pool they reference.
    if let Some(db) = crate::edit::sequence::database_after(
        &mut patch.cf,
        &plan.sequence_rows_added,
        &plan.sequence_rows_removed,
    )? {
        for (path, bytes) in crate::edit::sequence::changed_paths(&db) {
            let mut stream = out
                .create_stream(&path)
                .map_err(|e| Error::io("cannot rewrite", e).at(stream_part(&path)))?;
            stream
                .write_all(bytes)
                .and_then(|_| stream.flush())
                .map_err(|e| Error::io("writing", e).at(stream_part(&path)))?;
        }
    }

    for name in &plan.removed_storages {
        let path = Path::new("/").join(name);
        out.remove_storage_all(&path)
            .map_err(|e| Error::io("cannot remove", e).at(container::storage_part(name)))?;
    }
    for name in &plan.removed_streams {
        let path = Path::new("/").join(name);
        out.remove_stream(&path)
            .map_err(|e| Error::io("cannot remove", e).at(stream_part(&path)))?;
    }
    out.flush()
        .map_err(|e| Error::io("writing the compound-file structure", e))?;
    Ok(())
}

/// `cfb` writes any name it is given, and a file with an invalid name
/// cannot be reopened: check every name before it is created.
fn check_new_name(name: &str) -> Result<()> {
    let result = if name.starts_with('#') {
        names::validate_partner_name(name)
    } else {
        names::validate_new_name(name)
    };
    result.map_err(|e| Error::from(e).at(container::storage_part(name)))
}
