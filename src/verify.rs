//! Verification of a written result before it is committed.
//!
//! The output is re-opened from disk and checked against the input and the
//! plan: every entry of the input is present with the same metadata and, for
//! streams, the same bytes (except the two summary streams the plan
//! rewrites, which must equal exactly what the plan says, and removed
//! signature streams); every planned copy is present and equal to its
//! source except for RevisionNumber; nothing else was added; the patch
//! re-reads with the planned Template and LastSavedBy and every listed
//! transform resolves.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apply::{copy_summary_after, root_summary_after};
use crate::container::{self, EntryMeta, stream_part};
use crate::error::{Context, Error, Result};
use crate::patch::Patch;
use crate::plan::Plan;
use crate::summary::SUMMARY_STREAM;

/// What verification looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries of the input found unchanged in the output.
    pub unchanged_entries: usize,
    /// Entries added by the copies.
    pub added_entries: usize,
    /// Bytes of stream content compared.
    pub bytes_compared: u64,
}

fn meta_matches(a: &EntryMeta, b: &EntryMeta) -> bool {
    a.is_stream == b.is_stream
        && a.len == b.len
        && a.clsid == b.clsid
        && a.state_bits == b.state_bits
        && a.created == b.created
        && a.modified == b.modified
}

/// Verifies the file at `output` against `input` and `plan`.
pub fn verify(input: &mut Patch, plan: &Plan, output: &Path) -> Result<Verification> {
    verify_inner(input, plan, output).map_err(|e| {
        if e.kind() == crate::ErrorKind::Verify {
            e
        } else {
            Error::verify(format!("the result does not re-read: {e}"))
        }
    })
}

fn verify_inner(input: &mut Patch, plan: &Plan, output: &Path) -> Result<Verification> {
    let mut out = Patch::open(output)?;
    let fail = |what: String| Error::verify(what);
    if out.template != plan.template_after {
        return Err(fail(format!(
            "Template is {:?}, the plan says {:?}",
            out.template, plan.template_after
        )));
    }
    if out.last_saved_by != plan.last_saved_by_after {
        return Err(fail(format!(
            "LastSavedBy is {:?}, the plan says {:?}",
            out.last_saved_by, plan.last_saved_by_after
        )));
    }
    if out.codes != input.codes {
        return Err(fail("the patch code changed".into()));
    }

    let root = Path::new("/");
    let summary_path = root.join(SUMMARY_STREAM);
    let removed: HashSet<PathBuf> = plan.removed_streams.iter().map(|s| root.join(s)).collect();
    let removed_storages: Vec<PathBuf> =
        plan.removed_storages.iter().map(|s| root.join(s)).collect();
    let out_entries: HashMap<PathBuf, EntryMeta> = container::walk(&out.cf, root)?
        .into_iter()
        .map(|e| (e.path.clone(), e))
        .collect();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut report = Verification::default();

    // Every input entry, unchanged.
    for e in container::walk(&input.cf, root)? {
        if removed.contains(&e.path) || removed_storages.iter().any(|s| e.path.starts_with(s)) {
            if out_entries.contains_key(&e.path) {
                return Err(fail(format!(
                    "{} was to be removed but is still there",
                    container::path_text(&e.path)
                )));
            }
            continue;
        }
        let o = out_entries.get(&e.path).ok_or_else(|| {
            fail(format!(
                "{} of the input is missing",
                container::path_text(&e.path)
            ))
        })?;
        seen.insert(e.path.clone());
        if e.path == summary_path {
            let want = root_summary_after(input, plan)?;
            let got = container::read_stream_bounded(
                &mut out.cf,
                &e.path,
                crate::patch::MAX_SUMMARY_LEN,
            )?;
            if got != want {
                return Err(fail(
                    "the root summary information is not what the plan says".into(),
                ));
            }
            report.bytes_compared += got.len() as u64;
            continue;
        }
        if e.path == root {
            if e.clsid != o.clsid {
                return Err(fail("the root CLSID changed".into()));
            }
            report.unchanged_entries += 1;
            continue;
        }
        if !meta_matches(&e, o) {
            return Err(fail(format!(
                "{} changed its size, CLSID, state bits or timestamps",
                container::path_text(&e.path)
            )));
        }
        if e.is_stream {
            compare_streams(input, &e.path, &mut out, &e.path)?;
            report.bytes_compared += e.len;
        }
        report.unchanged_entries += 1;
    }

    // Every planned copy, equal to its source but for RevisionNumber.
    for copy in &plan.copies {
        let src_dir = root.join(&copy.source);
        let dst_dir = root.join(&copy.name);
        for e in container::walk(&input.cf, &src_dir)? {
            let rel = e
                .path
                .strip_prefix(&src_dir)
                .unwrap_or(&e.path)
                .to_path_buf();
            let target = if rel.as_os_str().is_empty() {
                dst_dir.clone()
            } else {
                dst_dir.join(&rel)
            };
            let o = out_entries.get(&target).ok_or_else(|| {
                fail(format!(
                    "the copy {} lacks {}",
                    copy.name,
                    container::path_text(&rel)
                ))
            })?;
            seen.insert(target.clone());
            report.added_entries += 1;
            if rel == Path::new(SUMMARY_STREAM) {
                let want = copy_summary_after(&mut input.cf, copy)?;
                let got = container::read_stream_bounded(
                    &mut out.cf,
                    &target,
                    crate::patch::MAX_SUMMARY_LEN,
                )?;
                if got != want {
                    return Err(fail(format!(
                        "the summary information of copy {} is not what the plan says",
                        copy.name
                    )));
                }
                report.bytes_compared += got.len() as u64;
                continue;
            }
            if !meta_matches(&e, o) {
                return Err(fail(format!(
                    "{} differs from its source in size, CLSID, state bits or timestamps",
                    container::path_text(&target)
                )));
            }
            if e.is_stream {
                compare_streams(input, &e.path, &mut out, &target)?;
                report.bytes_compared += e.len;
            }
        }
    }

    if let Some(extra) = out_entries.keys().find(|p| !seen.contains(*p)) {
        return Err(fail(format!(
            "{} is in the result but not in the plan",
            container::path_text(extra)
        )));
    }
    Ok(report)
}

fn compare_streams(input: &mut Patch, a: &Path, out: &mut Patch, b: &Path) -> Result<()> {
    let mut sa = input
        .cf
        .open_stream(a)
        .map_err(|e| Error::io("cannot open", e).at(stream_part(a)))?;
    let mut sb = out
        .cf
        .open_stream(b)
        .map_err(|e| Error::io("cannot open", e).at(stream_part(b)))?;
    let equal = container::streams_equal(&mut sa, &mut sb)
        .map_err(|e| Error::io("comparing", e))
        .at(stream_part(b))?;
    if !equal {
        return Err(Error::verify(format!(
            "{} differs from the input's {}",
            stream_part(b),
            container::path_text(a)
        )));
    }
    Ok(())
}
