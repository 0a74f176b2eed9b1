//! Verification of a written result before it is committed.
//!
//! The result is re-opened from its bytes (through the overlay that holds
//! the edit over the unchanged input) and checked against the input and
//! the plan: every entry of the input is present with the same metadata and, for
//! streams, the same bytes (except the two summary streams the plan
//! rewrites, which must equal exactly what the plan says, and removed
//! signature streams, and the patch database's streams holding the
//! declared MsiPatchSequence rows, see [`crate::edit::sequence`]); every
//! planned copy is present and is its source with the declared differences
//! ([`crate::edit::copy::verify_copy`]); nothing else was added; the patch
//! re-reads with the planned Template and LastSavedBy and every listed
//! transform resolves.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edit::apply::root_summary_after;
use crate::edit::compare::{compare_streams, meta_matches, out_entry};
use crate::edit::gate::{ResultCheck, check_result};
use crate::edit::plan::Plan;
use crate::error::{Error, Result};
use crate::format::container::{self, Storage};
use crate::format::layout::{Layout, overlaps};
use crate::format::structure::{Chains, LARGE_STREAM_LEN};
use crate::format::summary::SUMMARY_STREAM;
use crate::patch::Patch;
use crate::rules::lint::PatchView;

/// What verification looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries of the input found unchanged in the output.
    pub unchanged_entries: usize,
    /// Entries added by the copies.
    pub added_entries: usize,
    /// Bytes of stream content compared.
    pub bytes_compared: u64,
    /// Bytes of large untouched streams vouched for by their layout (same
    /// directory entry and chain, no sector written) instead of compared.
    pub bytes_vouched_by_layout: u64,
    /// The result re-checked as `check` would: lint, and every requested
    /// instance and kept target against the rules.
    pub checked: ResultCheck,
}

/// Streams at least this long are checked by layout when possible.
const VOUCH_MIN_LEN: u64 = LARGE_STREAM_LEN;

#[cfg(test)]
thread_local! {
    /// Chains the layout check walked on this thread: its tests check that
    /// an untouched large stream is vouched for without a walk.
    static CHAINS_WALKED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// What the layout check needs: both files' layouts and the ranges the
/// edit wrote.
struct LayoutCheck<'a, H> {
    input: (File, Layout),
    output: (H, Layout),
    written: &'a [(u64, u64)],
    /// What the structure check established of the input's large streams.
    chains: Chains,
    /// Whether no sector the edit touched lies in an intact large chain of
    /// the input (worked out on first need).
    untouched: Option<bool>,
}

impl<H: Read + Seek> LayoutCheck<'_, H> {
    fn new<'a>(
        input: &Patch,
        chains: &Chains,
        mut output: H,
        written: &'a [(u64, u64)],
    ) -> Option<LayoutCheck<'a, H>> {
        let mut f = File::open(&input.path).ok()?;
        let in_layout = Layout::read_streams_from(&mut f, VOUCH_MIN_LEN).ok()?;
        if in_layout.streams.is_empty() {
            // Nothing large enough to vouch for: the result's layout is
            // not worth reading.
            return None;
        }
        let out_layout = Layout::read_streams_from(&mut output, VOUCH_MIN_LEN).ok()?;
        Some(LayoutCheck {
            input: (f, in_layout),
            output: (output, out_layout),
            written,
            chains: chains.clone(),
            untouched: None,
        })
    }

    /// Whether the edit provably touched no sector of an intact large
    /// chain of the input: from the sectors it wrote and the FAT entries
    /// it changed (`Layout::touched_sectors`), not from a walk of the
    /// chains. Any doubt (or error) answers false.
    fn edit_missed_large_chains(&mut self) -> bool {
        if let Some(known) = self.untouched {
            return known;
        }
        let (in_file, in_layout) = (&mut self.input.0, &self.input.1);
        let (out_file, out_layout) = (&mut self.output.0, &self.output.1);
        let untouched = match in_layout.touched_sectors(in_file, out_layout, out_file, self.written)
        {
            Ok(Some(touched)) => in_layout
                .outside_large_chains(in_file, &touched)
                .unwrap_or(false),
            _ => false,
        };
        tracing::debug!(
            untouched,
            "large chains of the input left alone by the edit"
        );
        self.untouched = Some(untouched);
        untouched
    }

    /// Whether the stream at `path` provably holds the same bytes in both
    /// files: same place, same chain, none of its sectors written. Any
    /// doubt answers false, and the caller compares bytes.
    fn vouches(&mut self, path: &Path, len: u64) -> bool {
        let (Some(a), Some(b)) = (
            self.input.1.streams.get(path).copied(),
            self.output.1.streams.get(path).copied(),
        ) else {
            return false;
        };
        if a != b
            || a.mini
            || a.len != len
            || self.input.1.sector_len() != self.output.1.sector_len()
        {
            return false;
        }
        // Same directory entry in both files, an intact chain that no
        // other chain shares (the input's structure check), and no sector
        // of it written or relinked by the edit: the output reads the same
        // sectors, which hold the same bytes.
        if self.chains.is_intact(a.start, a.len) && self.edit_missed_large_chains() {
            return true;
        }
        #[cfg(test)]
        CHAINS_WALKED.with(|c| c.set(c.get() + 1));
        let sector_len = self.input.1.sector_len();
        let written = self.written;
        let (out_file, out_layout) = (&mut self.output.0, &self.output.1);
        let in_layout = &self.input.1;
        let walked = in_layout.walk_chain(&mut self.input.0, a, |sector, offset, next| {
            if overlaps(written, offset, offset + sector_len) {
                return false;
            }
            // The output's FAT entry equals the input's when its FAT sector
            // is at the same place and was not written; else read it.
            let same_fat = match (
                in_layout.fat_range_of(sector),
                out_layout.fat_range_of(sector),
            ) {
                (Some(x), Some(y)) => x == y && !overlaps(written, x.0, x.1),
                _ => false,
            };
            same_fat
                || out_layout
                    .next_sector(out_file, sector)
                    .is_ok_and(|n| n == next)
        });
        walked.unwrap_or(false)
    }
}

/// A written result to verify: a reader of it, its length, and the name
/// errors give it.
pub struct Written<'a, G> {
    /// Reads the result.
    pub reader: G,
    /// Its length in bytes.
    pub len: u64,
    /// The file it is (or will be, for an overlay) named in errors.
    pub path: &'a Path,
}

#[cfg(test)]
impl<'a> Written<'a, File> {
    /// The result file at `path` (the tests verify files; a command
    /// verifies an overlay of its input).
    pub fn open(path: &'a Path) -> Result<Written<'a, File>> {
        let file = File::open(path).map_err(|e| Error::io("cannot reopen the result", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot reopen the result", e))?
            .len();
        Ok(Written {
            reader: file,
            len,
            path,
        })
    }
}

/// Re-opens a written result as a patch. A result that does not open as
/// a patch is a verification failure. With `input`, the chains of the
/// input that the edit provably left alone are not followed again by the
/// result's structure check ([`crate::format::structure::check_edited`]).
fn reopen<G: Read + Seek>(
    result: Written<'_, G>,
    input: Option<&Chains>,
) -> Result<Patch<G, cfb::CompoundFile<G>>> {
    match input {
        Some(input) => Patch::from_edited_reader(result.reader, result.len, result.path, input),
        None => Patch::from_reader(result.reader, result.len, result.path),
    }
    .map_err(|e| Error::verify(format!("the result does not re-read: {e}")))
}

/// Verifies `result` against `input` and `plan`. With a second reader of
/// the result and the byte ranges the edit wrote (`layout`), large
/// untouched streams are checked by layout instead of byte for byte; that
/// relies on the result having started as an exact copy of the input (a
/// copy, or the input itself under an overlay). Then the result is
/// checked as a patch ([`check_result`]): a result that lints worse than
/// the input or would not apply as planned is refused. `allow_ambiguity`
/// lets more pairs validate for a product than before (`--copy-all`).
///
/// The layouts are read before the result is opened as a patch, and the
/// result's directory is closed before the check: with a thousand
/// instances each of them is several megabytes, and they never coexist.
pub fn verify<G: Read + Seek, H: Read + Seek>(
    input: &mut Patch,
    plan: &Plan,
    result: Written<'_, G>,
    layout: Option<(H, &[(u64, u64)])>,
    allow_ambiguity: bool,
) -> Result<Verification> {
    let Some(chains) = input.chains.clone() else {
        return verify_lazily(input, plan, result, layout.map(|(_, w)| w), allow_ambiguity);
    };
    let mut layout = layout.and_then(|(h, w)| LayoutCheck::new(input, &chains, h, w));
    // The input's intact large chains, when no sector of them was written
    // or relinked: the result's structure check claims them from the
    // input's record instead of following them again.
    let untouched = layout
        .as_mut()
        .is_some_and(|l| l.edit_missed_large_chains());
    let mut out = reopen(result, untouched.then_some(&chains))?;
    let input_path = input.path.clone();
    let mut vouch = |path: &Path, len: u64| layout.as_mut().is_some_and(|l| l.vouches(path, len));
    let report =
        verify_inner(input, plan, &mut out, &mut vouch).map_err(|e| blame(e, &input_path))?;
    drop(layout);
    finish(input, plan, report, out, allow_ambiguity)
}

/// The check of the result as a patch ([`check_result`]), after the
/// comparisons.
fn finish<G, D: Storage>(
    input: &Patch,
    plan: &Plan,
    mut report: Verification,
    out: Patch<G, D>,
    allow_ambiguity: bool,
) -> Result<Verification> {
    report.checked = check_result(input, &PatchView::from(out), plan, allow_ambiguity)?;
    Ok(report)
}

/// A damaged input stream (a chain that loops or leaves the file) shows
/// first in verification, where it is read whole: it is the input's
/// fault, and its error names the input. Anything else that fails there
/// is the result's.
fn blame(e: Error, input: &Path) -> Error {
    if e.kind() == crate::error::ErrorKind::Verify || e.file() == Some(input) {
        e
    } else {
        Error::verify(format!("the result does not re-read: {e}"))
    }
}

/// [`verify`] of the edit of an input read lazily (a large file, see
/// [`container::open_for_edit`]): the result is read through the lazy
/// reader too, every stream verification compares is read (and its chain
/// followed) in both files, and the large streams whose directory entries
/// match are vouched for by the rule of
/// [`crate::format::compound::edit_left_alone`], checked once everything
/// else was read; when the rule does not hold, they are compared byte
/// for byte. Neither file's large chains are walked otherwise.
fn verify_lazily<G: Read + Seek>(
    input: &mut Patch,
    plan: &Plan,
    result: Written<'_, G>,
    written: Option<&[(u64, u64)]>,
    allow_ambiguity: bool,
) -> Result<Verification> {
    let mut out = Patch::from_reader_lazily(result.reader, result.len, result.path)
        .map_err(|e| Error::verify(format!("the result does not re-read: {e}")))?;
    let input_path = input.path.clone();
    let mut vouched: Vec<(PathBuf, u64)> = Vec::new();
    let mut vouch = |path: &Path, len: u64| {
        written.is_some() && {
            vouched.push((path.to_path_buf(), len));
            true
        }
    };
    let mut report =
        verify_inner(input, plan, &mut out, &mut vouch).map_err(|e| blame(e, &input_path))?;
    if let (Some(written), false) = (written, vouched.is_empty()) {
        follow_removed(input, plan);
        let starts: Option<Vec<u32>> = vouched
            .iter()
            .map(|(path, len)| {
                let (a, b) = (input.cf.entry(path)?, out.cf.entry(path)?);
                (a.start == b.start && a.len == *len && b.len == *len).then_some(a.start)
            })
            .collect();
        let left_alone = starts.is_some_and(|starts| {
            crate::format::compound::edit_left_alone(&mut input.cf, &mut out.cf, written, &starts)
        });
        tracing::debug!(
            left_alone,
            streams = vouched.len(),
            "large streams of the input left alone by the edit"
        );
        if !left_alone {
            for (path, len) in &vouched {
                #[cfg(test)]
                CHAINS_WALKED.with(|c| c.set(c.get() + 1));
                compare_streams(input, path, &mut out, path).map_err(|e| blame(e, &input_path))?;
                report.bytes_vouched_by_layout -= len;
                report.bytes_compared += len;
            }
        }
    }
    finish(input, plan, report, out, allow_ambiguity)
}

/// Follows the input's chains of the streams the plan removes, so that the
/// FAT entries the removal frees are those of followed chains
/// ([`crate::format::compound::edit_left_alone`]). A chain that cannot be
/// followed stays unfollowed, and the rule then does not hold.
fn follow_removed(input: &mut Patch, plan: &Plan) {
    let root = Path::new("/");
    let mut paths: Vec<PathBuf> = plan.removed_streams.iter().map(|s| root.join(s)).collect();
    for s in &plan.removed_storages {
        if let Ok(entries) = input.cf.walk_from(&root.join(s)) {
            paths.extend(entries.into_iter().filter(|e| e.is_stream).map(|e| e.path));
        }
    }
    for path in paths {
        let _ = Storage::open(&mut input.cf, &path);
    }
}

/// Verifies the result file at `output` ([`verify`]).
#[cfg(test)]
pub fn verify_file(
    input: &mut Patch,
    plan: &Plan,
    output: &Path,
    written: Option<&[(u64, u64)]>,
    allow_ambiguity: bool,
) -> Result<Verification> {
    let layout = match written {
        Some(w) => Some((
            File::open(output).map_err(|e| Error::io("cannot reopen the result", e))?,
            w,
        )),
        None => None,
    };
    verify(input, plan, Written::open(output)?, layout, allow_ambiguity)
}

fn verify_inner<G, D: Storage>(
    input: &mut Patch,
    plan: &Plan,
    out: &mut Patch<G, D>,
    vouch: &mut dyn FnMut(&Path, u64) -> bool,
) -> Result<Verification> {
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
    // Output entries are looked up one by one and counted rather than
    // listed (a thousand instances make tens of thousands of entries):
    // the result holds exactly what was planned when every planned entry
    // is found and the result has no more entries than that. Counting is
    // sound because planned paths are distinct: input paths are, and copy
    // names are distinct and new (checked here, ignoring case as the
    // compound file does).
    let out_count = out
        .cf
        .walk_from(root)
        .map_err(|e| Error::io("cannot list", e))?
        .len();
    check_copy_names_distinct(input, plan)?;
    let mut accounted = 0usize;
    let mut report = Verification::default();
    // The patch database's streams the plan changes (MsiPatchSequence
    // rows), checked as a whole: exact bytes and row-level differences.
    let database_streams = crate::edit::sequence::check_root_streams(
        &mut input.cf,
        &mut out.cf,
        &plan.sequence_rows_added,
        &plan.sequence_rows_removed,
    )?;

    // Every input entry, unchanged.
    for e in container::walk(&input.cf, root)? {
        if removed.contains(&e.path) || removed_storages.iter().any(|s| e.path.starts_with(s)) {
            if out.cf.exists(&e.path) {
                return Err(fail(format!(
                    "{} was to be removed but is still there",
                    container::path_text(&e.path)
                )));
            }
            continue;
        }
        let o = out_entry(out, &e.path).ok_or_else(|| {
            fail(format!(
                "{} of the input is missing",
                container::path_text(&e.path)
            ))
        })?;
        accounted += 1;
        if e.path == summary_path {
            let want = root_summary_after(input, plan)?;
            let got = container::read_stream_bounded(
                &mut out.cf,
                &e.path,
                crate::format::summary::MAX_SUMMARY_LEN,
            )?;
            if got != want {
                return Err(fail(
                    "the root summary information is not what the plan says".into(),
                ));
            }
            report.bytes_compared += got.len() as u64;
            continue;
        }
        if database_streams.contains(&e.path) {
            report.bytes_compared += o.len;
            continue;
        }
        if e.path == root {
            if e.clsid != o.clsid {
                return Err(fail("the root CLSID changed".into()));
            }
            report.unchanged_entries += 1;
            continue;
        }
        if !meta_matches(&e, &o) {
            return Err(fail(format!(
                "{} changed its size, CLSID, state bits or timestamps",
                container::path_text(&e.path)
            )));
        }
        if e.is_stream {
            let vouched = e.len >= VOUCH_MIN_LEN && vouch(&e.path, e.len);
            if vouched {
                report.bytes_vouched_by_layout += e.len;
            } else {
                compare_streams(input, &e.path, out, &e.path)?;
                report.bytes_compared += e.len;
            }
        }
        report.unchanged_entries += 1;
    }

    // Every planned copy: its source with the declared differences.
    let mut sources = crate::edit::copy::Sources::default();
    for copy in &plan.copies {
        let tally = crate::edit::copy::verify_copy(input, out, copy, &mut sources)?;
        accounted += tally.entries;
        report.added_entries += tally.entries;
        report.bytes_compared += tally.bytes_compared;
    }

    if out_count != accounted {
        return Err(fail(match first_unplanned(input, plan, out)? {
            Some(extra) => format!(
                "{} is in the result but not in the plan",
                container::path_text(&extra)
            ),
            None => {
                format!("the result has {out_count} entries, the plan accounts for {accounted}")
            }
        }));
    }
    Ok(report)
}

/// Copy names must be distinct, and not names at the input's root,
/// ignoring case as compound files do; counting relies on it.
fn check_copy_names_distinct(input: &Patch, plan: &Plan) -> Result<()> {
    let key = crate::format::names::name_key;
    let mut names: HashSet<String> = input.root_names.iter().map(|n| key(n)).collect();
    for copy in &plan.copies {
        if !names.insert(key(&copy.name)) {
            return Err(Error::verify(format!(
                "the plan adds {} twice or over an existing entry",
                container::storage_part(&copy.name)
            )));
        }
    }
    Ok(())
}

/// The first output entry the plan does not account for (only looked for
/// when the counts differ).
fn first_unplanned<G, D: Storage>(
    input: &Patch,
    plan: &Plan,
    out: &Patch<G, D>,
) -> Result<Option<PathBuf>> {
    let root = Path::new("/");
    let removed = |p: &Path| {
        plan.removed_streams.iter().any(|s| p == root.join(s))
            || plan
                .removed_storages
                .iter()
                .any(|s| p.starts_with(root.join(s)))
    };
    let walk = out
        .cf
        .walk_from(root)
        .map_err(|e| Error::io("cannot list", e))?;
    for e in walk {
        let path = e.path.as_path();
        let planned = plan.copies.iter().any(|c| {
            path.strip_prefix(root.join(&c.name))
                .is_ok_and(|rel| input.cf.exists(&root.join(&c.source).join(rel)))
        }) || (input.cf.exists(path) && !removed(path));
        if !planned {
            return Ok(Some(path.to_path_buf()));
        }
    }
    Ok(None)
}

/// Test scaffolding shared with the check of the result's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::edit::plan::{InstanceRequest, PlanOptions, plan};
    use crate::store::overlay::Overlay;
    use crate::testkit::synth::{PatchSpec, write_patch_file};

    /// A patch, a plan for it, and the plan applied to a copy.
    pub(crate) struct Applied {
        /// Holds the files; they go when it drops.
        pub _dir: tempfile::TempDir,
        /// The input, opened.
        pub patch: Patch,
        /// The plan, as `edit` left it.
        pub plan: Plan,
        /// The edited copy.
        pub output: PathBuf,
        /// The byte ranges the edit wrote.
        pub written: Vec<(u64, u64)>,
    }

    /// Writes `spec` to a temporary folder, plans `requests` on it, lets
    /// `edit` change the plan (as a faulty planner would), applies it to
    /// an overlay of a copy and writes the overlay's blocks into the copy:
    /// the bytes `retarget -o` writes.
    pub(crate) fn apply_to_copy(
        spec: &PatchSpec,
        requests: &[&str],
        options: &PlanOptions,
        edit: impl FnOnce(&mut Plan),
    ) -> Applied {
        apply_to_copy_of(spec, |_| {}, requests, options, edit)
    }

    /// [`apply_to_copy`], with `damage` changing the written patch before
    /// it is opened.
    pub(crate) fn apply_to_copy_of(
        spec: &PatchSpec,
        damage: impl FnOnce(&Path),
        requests: &[&str],
        options: &PlanOptions,
        edit: impl FnOnce(&mut Plan),
    ) -> Applied {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.msp");
        write_patch_file(spec, &input).unwrap();
        damage(&input);
        let mut patch = Patch::open(&input).unwrap();
        let requests: Vec<InstanceRequest> = requests
            .iter()
            .map(|r| InstanceRequest::parse(r).unwrap())
            .collect();
        let mut plan = plan(&patch, &requests, options).unwrap();
        edit(&mut plan);
        let output = dir.path().join("out.msp");
        std::fs::copy(&input, &output).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&output)
            .unwrap();
        let len = file.metadata().unwrap().len();
        let mut overlay = Overlay::new(file, len, None);
        let mut cf = cfb::CompoundFile::open(&mut overlay).unwrap();
        crate::edit::apply::apply(&mut patch, &plan, &mut cf).unwrap();
        drop(cf);
        overlay.write_pending_to(overlay.base()).unwrap();
        let written = overlay.written();
        Applied {
            _dir: dir,
            patch,
            plan,
            output,
            written,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{apply_to_copy, apply_to_copy_of};
    use super::*;
    use crate::edit::plan::{PlanOptions, plan};
    use crate::testkit::synth::{PatchSpec, write_patch_file};
    use std::io::{Seek, SeekFrom, Write};

    /// Builds a patch with a 2 MiB cabinet, applies a one-instance plan to
    /// a copy, then lets `tamper` change the copy; returns verify's verdict.
    fn verify_after(tamper: impl FnOnce(&Path, &mut Vec<(u64, u64)>)) -> Result<Verification> {
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = 2 * 1024 * 1024;
        let mut a = apply_to_copy(
            &spec,
            &["{11111111-1111-4111-8111-111111111111}"],
            &PlanOptions::default(),
            |_| {},
        );
        tamper(&a.output, &mut a.written);
        verify_file(&mut a.patch, &a.plan, &a.output, Some(&a.written), false)
    }

    /// The file offset of the middle of the cabinet stream.
    fn cabinet_middle(path: &Path) -> u64 {
        let mut f = File::open(path).unwrap();
        let layout = Layout::read(&mut f).unwrap();
        let (_, place) = layout
            .streams
            .iter()
            .find(|(_, p)| p.len == 2 * 1024 * 1024)
            .unwrap();
        let mut offsets = Vec::new();
        layout
            .walk_chain(&mut f, *place, |_, off, _| {
                offsets.push(off);
                true
            })
            .unwrap();
        offsets[offsets.len() / 2]
    }

    #[test]
    fn with_nothing_large_enough_to_vouch_for_every_byte_is_compared() {
        let spec = PatchSpec::single_product();
        let mut a = apply_to_copy(
            &spec,
            &["{11111111-1111-4111-8111-111111111111}"],
            &PlanOptions::default(),
            |_| {},
        );
        let v = verify_file(&mut a.patch, &a.plan, &a.output, Some(&a.written), false).unwrap();
        assert_eq!(v.bytes_vouched_by_layout, 0);
        assert!(v.bytes_compared >= spec.cabinet_len, "{v:?}");
    }

    fn chains_walked() -> u64 {
        CHAINS_WALKED.with(|c| c.get())
    }

    #[test]
    fn large_untouched_streams_are_vouched_for_by_layout() {
        let before = chains_walked();
        let mut claimed = 0;
        let v = verify_after(|_, _| {
            claimed = crate::format::structure::sectors_claimed();
        })
        .unwrap();
        assert_eq!(v.bytes_vouched_by_layout, 2 * 1024 * 1024);
        assert!(v.bytes_compared > 0, "small streams are still compared");
        assert_eq!(
            chains_walked(),
            before,
            "vouched for without walking its chain"
        );
        // Nor does the result's structure check follow it again (512
        // sectors of 4096 bytes).
        let followed = crate::format::structure::sectors_claimed() - claimed;
        assert!(followed > 0 && followed < 512, "{followed}");
    }

    /// Ends the 2 MiB cabinet's chain of the file at `path` at its middle
    /// sector; returns the file offset of the FAT entry changed.
    fn cut_cabinet_chain(path: &Path) -> u64 {
        let mut f = File::open(path).unwrap();
        let layout = Layout::read(&mut f).unwrap();
        let place = *layout
            .streams
            .values()
            .find(|p| p.len == 2 * 1024 * 1024)
            .unwrap();
        let mut sectors = Vec::new();
        layout
            .walk_chain(&mut f, place, |s, _, _| {
                sectors.push(s);
                true
            })
            .unwrap();
        let middle = sectors[sectors.len() / 2];
        let (fat_start, _) = layout.fat_range_of(middle).unwrap();
        let per = layout.sector_len() / 4;
        let at = fat_start + (u64::from(middle) % per) * 4;
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&0xFFFF_FFFEu32.to_le_bytes()).unwrap();
        at
    }

    #[test]
    fn a_relinked_sector_of_a_large_stream_is_walked_and_caught() {
        let before = chains_walked();
        let e = verify_after(|path, written| {
            // The cabinet's chain now ends at its middle sector, as an
            // edit that relinked that sector would leave it.
            let at = cut_cabinet_chain(path);
            written.push((at, at + 4));
            written.sort_unstable();
        })
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Verify, "{e}");
        assert!(chains_walked() > before, "a touched chain is walked");
    }

    #[test]
    fn a_cut_large_chain_in_the_input_is_walked_and_blamed_on_the_input() {
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = 2 * 1024 * 1024;
        let before = chains_walked();
        let mut a = apply_to_copy_of(
            &spec,
            |path| {
                cut_cabinet_chain(path);
            },
            &["{11111111-1111-4111-8111-111111111111}"],
            &PlanOptions::default(),
            |_| {},
        );
        let e = verify_file(&mut a.patch, &a.plan, &a.output, Some(&a.written), false).unwrap_err();
        assert!(
            chains_walked() > before,
            "a chain not known intact is walked"
        );
        assert_eq!(e.file(), Some(a.patch.path.as_path()), "{e}");
        assert!(e.to_string().contains("the input's stream"), "{e}");
    }

    #[test]
    fn a_written_sector_inside_a_large_stream_is_compared_and_caught() {
        let e = verify_after(|path, written| {
            let at = cabinet_middle(path);
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(b"clobbered").unwrap();
            written.push((at, at + 9));
            written.sort_unstable();
        })
        .unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Verify);
        assert!(e.to_string().contains("differs"), "{e}");
    }

    /// [`verify_after`] on a version-3 patch, the input read lazily (as a
    /// large input is): verification then vouches by the rule of
    /// [`crate::format::compound::edit_left_alone`]. `damage` changes the
    /// input before the edit.
    fn verify_lazily_after(
        damage: impl FnOnce(&Path),
        tamper: impl FnOnce(&Path, &mut Vec<(u64, u64)>),
    ) -> (Result<Verification>, Patch, PathBuf, tempfile::TempDir) {
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = 2 * 1024 * 1024;
        spec.version = cfb::Version::V3;
        let mut a = apply_to_copy_of(
            &spec,
            damage,
            &["{11111111-1111-4111-8111-111111111111}"],
            &PlanOptions::default(),
            |_| {},
        );
        tamper(&a.output, &mut a.written);
        let mut lazy = Patch::open_read_only(&a.patch.path).unwrap();
        assert!(lazy.chains.is_none(), "read lazily");
        let v = verify_file(&mut lazy, &a.plan, &a.output, Some(&a.written), false);
        (v, lazy, a.output, a._dir)
    }

    #[test]
    fn lazily_read_large_untouched_streams_are_vouched_for_without_a_walk() {
        let before = chains_walked();
        let (v, input, _, _dir) = verify_lazily_after(|_| {}, |_, _| {});
        let v = v.unwrap();
        assert_eq!(v.bytes_vouched_by_layout, 2 * 1024 * 1024);
        assert!(v.bytes_compared > 0, "small streams are still compared");
        assert_eq!(chains_walked(), before, "vouched for, not compared");
        // The cabinet's 4,096 sectors have 32 FAT sectors: the input's
        // reader loaded those of the chains it followed, not the cabinet's.
        assert!(
            input.cf.fat_sectors_read() < 8,
            "{} FAT sectors read",
            input.cf.fat_sectors_read()
        );
    }

    #[test]
    fn a_written_sector_inside_a_large_stream_fails_the_rule_and_is_caught() {
        let before = chains_walked();
        let (v, ..) = verify_lazily_after(
            |_| {},
            |path, written| {
                let at = cabinet_middle(path);
                let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(b"clobbered").unwrap();
                written.push((at, at + 9));
                written.sort_unstable();
            },
        );
        let e = v.unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Verify, "{e}");
        assert!(e.to_string().contains("differs"), "{e}");
        assert!(chains_walked() > before, "compared after the rule failed");
    }

    #[test]
    fn a_relinked_sector_of_a_large_stream_fails_the_rule_and_is_caught() {
        let (v, ..) = verify_lazily_after(
            |_| {},
            |path, written| {
                let at = cut_cabinet_chain(path);
                written.push((at, at + 4));
                written.sort_unstable();
            },
        );
        let e = v.unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Verify, "{e}");
    }

    #[test]
    fn a_cut_large_chain_in_a_lazily_read_input_is_left_as_it_was() {
        // What the rule cannot see: a chain nobody reads. The edit touches
        // none of its sectors or FAT entries, so the result carries the
        // input's damage unchanged, byte for byte.
        let mut cut = 0;
        let (v, input, output, _dir) =
            verify_lazily_after(|path| cut = cut_cabinet_chain(path), |_, _| {});
        assert_eq!(v.unwrap().bytes_vouched_by_layout, 2 * 1024 * 1024);
        let (a, b) = (
            std::fs::read(&input.path).unwrap(),
            std::fs::read(output).unwrap(),
        );
        let at = cut as usize;
        assert_eq!(a[at..at + 4], 0xFFFF_FFFEu32.to_le_bytes());
        assert_eq!(a[at..at + 4], b[at..at + 4]);
    }

    #[test]
    fn without_a_write_log_everything_is_compared() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.msp");
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = 2 * 1024 * 1024;
        write_patch_file(&spec, &input).unwrap();
        let mut patch = Patch::open(&input).unwrap();
        let plan = plan(&patch, &[], &PlanOptions::default()).unwrap();
        let v = verify_file(&mut patch, &plan, &input.clone(), None, false).unwrap();
        assert_eq!(v.bytes_vouched_by_layout, 0);
        assert!(v.bytes_compared >= 2 * 1024 * 1024);
    }
}
