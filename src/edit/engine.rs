//! The edit engine that every command writing a file shares (retarget,
//! untarget, instances): where the result goes
//! ([`Destination`]), how an edit ended ([`Outcome`]), and [`execute`]:
//! apply a plan to an overlay of the input, verify it there, then commit
//! it (a copy of the input with the overlay's blocks written into it,
//! renamed into place; or in place, the blocks through the redo journal).

use std::fs;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edit::apply::apply;
use crate::edit::plan::Plan;
use crate::edit::verify::{self, Verification, verify};
use crate::error::{Error, Reason, Result, Setting};
use crate::patch::Patch;
use crate::store::commit::{Staged, folder_of, resolve_dest};
use crate::store::journal::{self, EditLock};
use crate::store::overlay::Overlay;

/// Where the result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A new file (replaced atomically if it exists).
    Output(PathBuf),
    /// Edit the input itself, atomically: only the changed blocks are
    /// written, through a journal (see [`crate::store::journal`]).
    InPlace,
    /// Write nothing; report the plan.
    DryRun,
}

/// How a retarget ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The result was written.
    Done,
    /// Nothing needed to change (with `-o`, the output is a copy of the input).
    AlreadyDone,
    /// Dry run: the plan was computed, nothing was written.
    Planned,
}

/// Resolves where the result of an edit goes: `None` for a dry run.
pub(crate) fn destination_path(input: &Path, destination: &Destination) -> Result<Option<PathBuf>> {
    Ok(match destination {
        Destination::Output(out) => {
            if same_file(input, out) {
                return Err(Error::usage(
                    Reason::new("the output is the input file; use ")
                        .then(Setting::InPlace)
                        .and(" to replace it"),
                )
                .in_file(out));
            }
            crate::store::commit::check_destination(out)?;
            Some(out.clone())
        }
        Destination::InPlace => {
            // The input is the destination: a device or a FIFO that holds
            // a patch is not edited in place either.
            // (A folder gets the error reading it gives.)
            let target = resolve_dest(input);
            if !target.is_dir() {
                crate::store::commit::check_destination(&target).map_err(|e| e.in_file(input))?;
            }
            Some(target)
        }
        Destination::DryRun => None,
    })
}

/// Takes the edit lock on the input of a command that writes (none for a
/// dry run, which only reads): two runs cannot then interleave. In place,
/// a journal left by an interrupted in-place edit is completed first. With
/// `-o` the input is only read, never written: a complete journal beside
/// it makes reading it fail, with a message saying to run `recover`.
pub(crate) fn lock_for_edit(input: &Path, destination: &Destination) -> Result<Option<EditLock>> {
    match destination {
        Destination::DryRun => Ok(None),
        Destination::Output(_) => EditLock::hold(input).map(Some),
        Destination::InPlace => EditLock::acquire(input).map(Some),
    }
}

/// One edit of a compound file that the engine carries out: a patch's
/// retarget or untarget ([`PatchJob`]), or a product's instances
/// ([`crate::edit::instances`]). The engine owns where the bytes go (an
/// overlay, then a copy or the journal); the job says what changes and
/// how to check the result.
pub(crate) trait EditJob {
    /// What verification reports.
    type Checked;
    /// Whether the edit changes anything.
    fn changes_anything(&self) -> bool;
    /// The input file, named in errors.
    fn input(&self) -> &Path;
    /// How many things the edit adds, for the log.
    fn size(&self) -> usize;
    /// Performs the edit on `out` (an overlay of the input).
    fn apply<F: Read + Write + Seek>(&mut self, out: &mut cfb::CompoundFile<F>) -> Result<()>;
    /// Re-reads `result` and checks it against the input and the edit;
    /// `layout` reads the result raw, with the byte ranges the edit wrote.
    fn verify<G: Read + Seek, H: Read + Seek>(
        &mut self,
        result: verify::Written<'_, G>,
        layout: Option<(H, &[(u64, u64)])>,
    ) -> Result<Self::Checked>;
}

/// A patch edit: the patch read and the plan to perform on it.
pub(crate) struct PatchJob<'a> {
    patch: Patch,
    plan: &'a Plan,
    allow_ambiguity: bool,
}

impl EditJob for PatchJob<'_> {
    type Checked = Verification;

    fn changes_anything(&self) -> bool {
        self.plan.changes_anything()
    }

    fn input(&self) -> &Path {
        &self.patch.path
    }

    fn size(&self) -> usize {
        self.plan.copies.len()
    }

    fn apply<F: Read + Write + Seek>(&mut self, out: &mut cfb::CompoundFile<F>) -> Result<()> {
        apply(&mut self.patch, self.plan, out)
    }

    fn verify<G: Read + Seek, H: Read + Seek>(
        &mut self,
        result: verify::Written<'_, G>,
        layout: Option<(H, &[(u64, u64)])>,
    ) -> Result<Verification> {
        verify(
            &mut self.patch,
            self.plan,
            result,
            layout,
            self.allow_ambiguity,
        )
    }
}

/// Carries out a plan on a patch ([`run`] of a [`PatchJob`]).
/// Verification re-checks the result as a patch (`allow_ambiguity` as in
/// [`verify`]). Shared by every command that edits a patch.
pub(crate) fn execute(
    patch: Patch,
    plan: &Plan,
    input: &Path,
    dest: Option<&Path>,
    destination: &Destination,
    allow_ambiguity: bool,
) -> Result<(Outcome, Option<PathBuf>, Option<Verification>)> {
    let job = PatchJob {
        patch,
        plan,
        allow_ambiguity,
    };
    run(job, input, dest, destination)
}

/// Carries out an edit: nothing for a dry run; a plain copy when nothing
/// changes (none in place); in place, an edit of an overlay of the file,
/// verified and then written through a journal; otherwise the same edit
/// of an overlay, verified, then written into a copy of the input that
/// is renamed into place.
pub(crate) fn run<J: EditJob>(
    mut job: J,
    input: &Path,
    dest: Option<&Path>,
    destination: &Destination,
) -> Result<(Outcome, Option<PathBuf>, Option<J::Checked>)> {
    let Some(dest) = dest else {
        let outcome = if job.changes_anything() {
            Outcome::Planned
        } else {
            Outcome::AlreadyDone
        };
        return Ok((outcome, None, None));
    };
    let permissions = fs::metadata(input).ok().map(|m| m.permissions());
    if !job.changes_anything() {
        if *destination == Destination::InPlace {
            return Ok((Outcome::AlreadyDone, None, None));
        }
        let staged = Staged::copy_of(&mut patch_file(input)?, dest)?;
        staged.commit(permissions)?;
        forget_stale_journal(dest);
        return Ok((Outcome::AlreadyDone, Some(dest.to_path_buf()), None));
    }
    if *destination == Destination::InPlace && journaled_in_place(dest) {
        let verification = execute_in_place(job, dest)?;
        return Ok((Outcome::Done, Some(dest.to_path_buf()), Some(verification)));
    }

    // The edit goes to an overlay of the input, as in place, and is
    // verified there; only then is the input copied (`copy_file_range`,
    // which shares the extents on a file system that can, XFS or btrfs)
    // and the edit's blocks written into the copy. The copy is never
    // read: where its extents are shared its pages are not in the cache
    // (the input's are), and reading its allocation tables back from the
    // disk cost seconds for a gigabyte patch of 512-byte sectors.
    //
    // The temporary file is created first, so that a destination that
    // cannot be written is reported before any work; it stays empty until
    // the result is verified. Any failure drops it, which deletes it.
    let mut staged = Staged::empty(dest)?;
    let file = patch_file(input)?;
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    let overlay = edit_overlay(&mut job, file, dest, "the input")?;
    let written = overlay.written();
    tracing::debug!(
        ranges = written.len(),
        "applied the plan to an overlay of the input"
    );
    let verification = job
        .verify(
            verify::Written {
                reader: overlay.reader(),
                len: overlay.len(),
                path: dest,
            },
            Some((overlay.reader(), &written[..])),
        )
        .map_err(|e| e.in_file(dest))?;
    tracing::debug!("verified");
    let size = job.size();
    drop(job);
    // The copy is of the file handle the edit read, so a file renamed
    // over the input's name meanwhile is not what is copied; a change of
    // its length or modification time since it was opened (another
    // program writing it: the edit lock only keeps this tool's own runs
    // apart) refuses the result.
    staged.fill_from(overlay.base(), overlay.base_len())?;
    if overlay.base().metadata().and_then(|m| m.modified()).ok() != modified {
        return Err(Error::new(
            crate::error::ErrorKind::Io,
            "the input changed while it was being edited",
        )
        .in_file(input));
    }
    tracing::debug!(temp = %staged.path().display(), "copied the input");
    // No sync here: the commit syncs the copy once, before the rename.
    overlay
        .write_pending_to(staged.file())
        .map_err(|e| Error::io("writing the temporary copy", e).in_file(dest))?;
    staged.commit(permissions)?;
    forget_stale_journal(dest);
    tracing::info!(output = %dest.display(), added = size, "committed");
    Ok((Outcome::Done, Some(dest.to_path_buf()), Some(verification)))
}

/// Applies the job to an overlay of `file` (the input), whose pending
/// blocks spill to `dest`'s folder; `what` names the file in errors.
fn edit_overlay<J: EditJob>(
    job: &mut J,
    file: fs::File,
    dest: &Path,
    what: &str,
) -> Result<Overlay<fs::File>> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {what}"), e).in_file(dest))?
        .len();
    let mut overlay = Overlay::new(file, len, Some(folder_of(dest).to_path_buf()));
    let reopening = |e| Error::io(format!("reopening {what}"), e).in_file(dest);
    // Nothing is written before `cfb` has opened the overlay, which holds
    // the input's bytes: a file it cannot open (its check of the FAT finds
    // what the lazy read of a large input did not walk) is the input's
    // fault, and named so.
    let input = job.input().to_path_buf();
    let opening = |e| {
        Error::io("malformed compound file", e)
            .at("compound-file structure")
            .in_file(&input)
    };
    // Bytes past what the FAT describes are kept out of `cfb`'s sight and
    // put back after the edit (see `crate::store::tail`).
    let tail = crate::store::tail::trailing_from(&mut overlay.reader()).map_err(reopening)?;
    // `cfb` leaves MiniFAT sectors it no longer needs in the chain; they
    // are given back after the edit (see `crate::format::minifat`).
    let trim = |f: &mut dyn ReadWriteSeek| {
        crate::format::minifat::trim(f)
            .map_err(|e| Error::io(format!("trimming the MiniFAT of {what}"), e).in_file(dest))
    };
    match tail {
        None => {
            let mut out = cfb::CompoundFile::open(&mut overlay).map_err(opening)?;
            apply_contained(job, &mut out, dest)?;
            drop(out);
            trim(&mut overlay)?;
        }
        Some(from) => crate::store::tail::edit_keeping_tail(&mut overlay, from, |view| {
            let mut out = cfb::CompoundFile::open(&mut *view).map_err(opening)?;
            apply_contained(job, &mut out, dest)?;
            drop(out);
            trim(view).map(|_| ())
        })?,
    }
    Ok(overlay)
}

/// Edits the file at `dest` in place. `cfb` edits an [`Overlay`] of the
/// file, which keeps every write in memory (or a temporary file); the
/// result is re-opened and verified through the overlay against the
/// still unchanged file; only then are the changed blocks written, through
/// a journal. The caller holds the edit lock.
fn execute_in_place<J: EditJob>(mut job: J, dest: &Path) -> Result<J::Checked> {
    let overlay = edit_overlay(&mut job, patch_file(dest)?, dest, "the input")?;
    let written = overlay.written();
    tracing::debug!(
        ranges = written.len(),
        pending = overlay.pending_bytes(),
        "applied the plan to the overlay"
    );
    let verification = job
        .verify(
            verify::Written {
                reader: overlay.reader(),
                len: overlay.len(),
                path: dest,
            },
            Some((overlay.reader(), &written[..])),
        )
        .map_err(|e| e.in_file(dest))?;
    tracing::debug!("verified");
    let size = job.size();
    drop(job);
    journal::commit(dest, &overlay)?;
    tracing::info!(output = %dest.display(), added = size, "committed in place");
    Ok(verification)
}

/// Whether `--in-place` writes the changed blocks of the file itself
/// (through a journal) rather than renaming an edited copy over it.
///
/// A file with several hard links keeps the copy-and-rename path: writing
/// into it would change every name, where `--in-place` has always replaced
/// only the name given (like `sed -i`). So does a file the user may not
/// write (a rename only needs the folder to be writable, as before). On
/// Windows file locks are mandatory, not advisory, so the edit lock would
/// block the tool's own reads of the patch: the copy-and-rename path is
/// kept there too.
fn journaled_in_place(dest: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let writable = fs::OpenOptions::new().write(true).open(dest).is_ok();
        match fs::metadata(dest) {
            Ok(_) if !writable => {
                tracing::info!("the patch is not writable: replacing it by an edited copy");
                false
            }
            Ok(m) if m.nlink() <= 1 => true,
            Ok(m) => {
                tracing::info!(
                    links = m.nlink(),
                    "the patch has several hard links: replacing it by an edited copy"
                );
                false
            }
            Err(_) => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dest;
        false
    }
}

/// A journal beside a file that was just replaced by a rename belonged to
/// the file that is gone: it must not be applied to the new one.
fn forget_stale_journal(dest: &Path) {
    let jp = journal::journal_path(&resolve_dest(dest));
    if jp.exists() {
        tracing::warn!(journal = %jp.display(), "deleting the journal of the replaced file");
        let _ = fs::remove_file(&jp);
    }
}

/// Applies the job to `out`, containing a panic inside `cfb`: it indexes
/// its allocation tables with sector numbers from the file, and a few
/// inconsistencies its open does not check (an empty stream whose start
/// sector is garbage, freed when the stream is removed) make it panic
/// mid-edit. The edit is of an overlay, so a panic
/// leaves nothing behind; it is reported as a malformed input.
fn apply_contained<J: EditJob, F: Read + Write + Seek>(
    job: &mut J,
    out: &mut cfb::CompoundFile<F>,
    dest: &Path,
) -> Result<()> {
    let input = job.input().to_path_buf();
    match crate::error::contain_panics(|| job.apply(out)) {
        Ok(done) => done.map_err(|e| e.in_file(dest)),
        Err(why) => Err(Error::format(format!(
            "the compound-file library failed while editing it ({why}): its allocation \
             tables are inconsistent"
        ))
        .at("compound-file structure")
        .in_file(input)),
    }
}

/// What trimming the MiniFAT needs of a file.
trait ReadWriteSeek: Read + Write + Seek {}
impl<T: Read + Write + Seek> ReadWriteSeek for T {}

fn patch_file(path: &Path) -> Result<fs::File> {
    fs::File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
