//! Private copies and atomic commits.
//!
//! A retarget never writes to the user's file or to the output name
//! directly. It creates a temporary file in the destination's own folder
//! (same file system, so the final rename is atomic); once the edit is
//! verified (on an overlay of the input, [`crate::store::overlay`]) it
//! copies the input there, writes the edit's blocks into the copy, syncs
//! it, renames it over the destination and syncs the folder. If anything fails before the rename,
//! the temporary file is deleted and neither the input nor the destination
//! has changed; a process killed before the rename leaves at most a hidden
//! `.NAME.*.msp-retarget.tmp` file, never a partial file under the output
//! name.
//!
//! Such leftovers (a kill, or an abort that no handler can catch, such as
//! running out of memory) are deleted by the next run that writes the same
//! destination, on Unix, under a strict rule ([`remove_stale_temporaries`]):
//! the name is exactly `.NAME.XXXXXX.msp-retarget.tmp` for that destination
//! name (six letters or digits), it is a regular file in the destination's
//! folder (never through a link), it was last modified before this run
//! started, and no process holds it: every run keeps an exclusive advisory
//! lock (`flock`) on its temporary file from creation to commit, so a file
//! that can be locked has no live owner.

use std::fs::{self, File, Permissions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// A temporary copy waiting to be committed to `dest`.
#[derive(Debug)]
pub struct Staged {
    temp: NamedTempFile,
    dest: PathBuf,
}

/// The folder a destination path lives in (`.` for a bare file name).
pub fn folder_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Resolves the path to replace: a symbolic link is followed so that the
/// file it points to is replaced, not the link.
pub fn resolve_dest(dest: &Path) -> PathBuf {
    fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf())
}

/// What a file type is, in words, for an error.
fn kind_of(t: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// Refuses a destination that exists and is not a regular file. The
/// result is renamed over the destination, which would replace a device
/// node, a FIFO or a socket by a regular file (as root, `-o /dev/null`
/// did). A symbolic link is itself replaced (its target is never
/// written), unless it leads to something that is not a regular file:
/// `-o /dev/stdout` must not replace the system's link. A dangling link is
/// replaced, like a link to a regular file.
pub fn check_destination(dest: &Path) -> Result<()> {
    let refuse = |what: String| {
        Error::usage(format!(
            "{what}, not a regular file; the result is only written to a new file or over a \
             regular file (or a link to one)"
        ))
        .in_file(dest)
    };
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        // Nothing there (or a path that cannot name a file, which
        // creating the temporary file reports precisely).
        Err(_) => return Ok(()),
    };
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    if !t.is_symlink() {
        return Err(refuse(format!("is {}", kind_of(t))));
    }
    match fs::metadata(dest) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(refuse(format!(
            "is a symbolic link to {}",
            kind_of(m.file_type())
        ))),
        // Dangling (or a loop): nothing is behind the link to protect.
        Err(_) => Ok(()),
    }
}

/// The suffix of temporary files.
const TEMP_SUFFIX: &str = ".msp-retarget.tmp";
/// Random characters in a temporary file's name.
const TEMP_RANDOM_LEN: usize = 6;

/// Whether `name` is the name of a temporary file of this tool for the
/// destination named `stem`: `.STEM.XXXXXX.msp-retarget.tmp`.
fn is_temporary_of(name: &str, stem: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(stem))
        .and_then(|n| n.strip_prefix('.'))
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|r| r.len() == TEMP_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Deletes the temporary files that runs which could not clean up after
/// themselves (killed, or aborted) left for the destination named `stem`
/// in `folder`: files of exactly this tool's naming for that destination,
/// regular files (a link is never followed), last modified before
/// `started`, and not locked by a live run (see the module documentation).
/// Best effort: anything unclear keeps the file.
#[cfg(unix)]
pub fn remove_stale_temporaries(
    folder: &Path,
    stem: &str,
    started: std::time::SystemTime,
) -> usize {
    let Ok(entries) = fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| is_temporary_of(n, stem)) {
            continue;
        }
        let path = entry.path();
        let stale = fs::symlink_metadata(&path)
            .is_ok_and(|m| m.file_type().is_file() && m.modified().is_ok_and(|t| t < started));
        if !stale {
            continue;
        }
        // The lock is released when `held` is dropped, after the removal.
        let Ok(held) = File::open(&path) else {
            continue;
        };
        if held.try_lock().is_err() {
            continue; // a live run owns it
        }
        if fs::remove_file(&path).is_ok() {
            tracing::info!(file = %path.display(), "deleted a temporary file an interrupted run left");
            removed += 1;
        }
    }
    removed
}

impl Staged {
    /// Creates a temporary file next to `dest` and copies `input` into it
    /// (the kernel's copy_file_range where the platform has it).
    pub fn copy_of(input: &mut File, dest: &Path) -> Result<Staged> {
        let mut staged = Staged::empty(dest)?;
        input
            .rewind()
            .and_then(|_| io::copy(input, staged.temp.as_file_mut()))
            .map_err(|e| Error::io("copying the input to a temporary file", e).in_file(dest))?;
        Ok(staged)
    }

    /// Copies all of `input` (from its start, whatever its position) into
    /// this temporary file, which must be empty: the kernel's
    /// copy_file_range where the platform has it, which shares the extents
    /// instead of copying them on a file system that can (XFS with reflink,
    /// btrfs). `len` is the length the input had when it was read: a copy
    /// of another length means the input changed meanwhile, and is an
    /// error.
    pub fn fill_from(&mut self, input: &File, len: u64) -> Result<()> {
        let mut from = input;
        let copied = from
            .rewind()
            .and_then(|_| io::copy(&mut from, self.temp.as_file_mut()))
            .map_err(|e| {
                Error::io("copying the input to a temporary file", e).in_file(&self.dest)
            })?;
        if copied != len {
            return Err(Error::new(
                crate::error::ErrorKind::Io,
                format!(
                    "the input changed while it was being edited ({len} bytes when read, \
                     {copied} when copied)"
                ),
            )
            .in_file(&self.dest));
        }
        Ok(())
    }

    /// The temporary file, for positional writes.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Creates a temporary file next to `dest` holding `bytes`.
    pub fn with_bytes(bytes: &[u8], dest: &Path) -> Result<Staged> {
        let mut staged = Staged::empty(dest)?;
        staged
            .temp
            .as_file_mut()
            .write_all(bytes)
            .map_err(|e| Error::io("writing a temporary file", e).in_file(dest))?;
        Ok(staged)
    }

    /// An empty temporary file next to `dest`.
    pub fn empty(dest: &Path) -> Result<Staged> {
        let folder = folder_of(dest);
        let stem = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        if !folder.is_dir() {
            return Err(Error::new(
                crate::error::ErrorKind::Io,
                format!("the output folder {} does not exist", folder.display()),
            )
            .in_file(dest));
        }
        let started = std::time::SystemTime::now();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(TEMP_SUFFIX)
            .rand_bytes(TEMP_RANDOM_LEN)
            .tempfile_in(folder)
            .map_err(|e| {
                Error::io("cannot create a temporary file in the output folder", e).in_file(dest)
            })?;
        // Held until the file is renamed or deleted: it tells a later run
        // that this file has a live owner. Advisory on Unix; on Windows
        // locks are mandatory and would block the tool's own second handle.
        #[cfg(unix)]
        if let Err(e) = temp.as_file().try_lock() {
            tracing::debug!(error = %e, "cannot lock the temporary file");
        }
        #[cfg(unix)]
        remove_stale_temporaries(folder, &stem, started);
        #[cfg(not(unix))]
        let _ = started;
        Ok(Staged {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// A second read-write handle on the temporary file.
    #[cfg(test)]
    pub fn reopen(&self) -> Result<File> {
        self.temp
            .reopen()
            .map_err(|e| Error::io("reopening the temporary file", e).in_file(&self.dest))
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Syncs the copy, gives it `permissions`, renames it over the
    /// destination and syncs the folder.
    pub fn commit(self, permissions: Option<Permissions>) -> Result<()> {
        let dest = self.dest;
        let wrap = |what: &str, e: io::Error| Error::io(what.to_string(), e).in_file(&dest);
        if let Some(p) = permissions {
            fs::set_permissions(self.temp.path(), p).map_err(|e| wrap("setting permissions", e))?;
        }
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| wrap("syncing the output to disk", e))?;
        // Checked before any work, and again here: what has the name now
        // is what the rename replaces.
        check_destination(&dest)?;
        self.temp
            .persist(&dest)
            .map_err(|e| wrap("renaming the output into place", e.error))?;
        sync_folder(folder_of(&dest)).map_err(|e| wrap("syncing the output folder", e))?;
        Ok(())
    }
}

/// Syncs a folder, so that a rename or a removal in it is durable.
#[cfg(unix)]
pub(crate) fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Syncs a folder, so that a rename or a removal in it is durable.
#[cfg(not(unix))]
pub(crate) fn sync_folder(_folder: &Path) -> io::Result<()> {
    // Windows has no portable way to sync a directory; the rename itself
    // is atomic (MoveFileEx with replace).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn dropped_staging_leaves_nothing_and_commit_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.msp");
        fs::write(&src, b"input bytes").unwrap();
        let dest = dir.path().join("out.msp");

        let staged = Staged::copy_of(&mut File::open(&src).unwrap(), &dest).unwrap();
        assert!(staged.path().starts_with(dir.path()));
        drop(staged);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );

        let staged = Staged::copy_of(&mut File::open(&src).unwrap(), &dest).unwrap();
        let mut f = staged.reopen().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "input bytes");
        f.write_all(b"!").unwrap();
        staged.commit(None).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"input bytes!");
        assert_eq!(fs::read(&src).unwrap(), b"input bytes");
    }

    #[test]
    fn a_copy_of_another_length_than_read_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.msp");
        fs::write(&src, b"input bytes").unwrap();
        let dest = dir.path().join("out.msp");
        let input = File::open(&src).unwrap();

        let mut staged = Staged::empty(&dest).unwrap();
        staged.fill_from(&input, 11).unwrap();
        let mut copied = String::new();
        staged
            .reopen()
            .unwrap()
            .read_to_string(&mut copied)
            .unwrap();
        assert_eq!(copied, "input bytes");
        drop(staged);

        // The input grew after it was read: the copy is refused.
        let mut staged = Staged::empty(&dest).unwrap();
        let e = staged.fill_from(&input, 5).unwrap_err();
        assert!(e.to_string().contains("changed while"), "{e}");
        assert_eq!(e.file(), Some(dest.as_path()));
        drop(staged);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "a temporary file was left");
        assert!(!dest.exists());
    }

    #[test]
    fn missing_output_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.msp");
        fs::write(&src, b"x").unwrap();
        let dest = dir.path().join("nope").join("out.msp");
        let e = Staged::copy_of(&mut File::open(&src).unwrap(), &dest).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
