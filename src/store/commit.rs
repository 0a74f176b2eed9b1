//! Private copies and atomic commits.
//!
//! A retarget never writes to the user's file or to the output name
//! directly. It copies the input into a temporary file in the destination's
//! own folder (same file system, so the final rename is atomic), works and
//! verifies there, then syncs the data, renames the copy over the
//! destination and syncs the folder. If anything fails before the rename,
//! the temporary file is deleted and neither the input nor the destination
//! has changed; a process killed before the rename leaves at most a hidden
//! `.NAME.*.msp-retarget.tmp` file, never a partial file under the output
//! name.

use std::fs::{self, File, Permissions};
use std::io::{self, Seek};
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

impl Staged {
    /// Creates a temporary file next to `dest` and copies `input` into it
    /// (the kernel's copy_file_range where the platform has it).
    pub fn copy_of(input: &mut File, dest: &Path) -> Result<Staged> {
        let folder = folder_of(dest);
        let stem = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        if !folder.is_dir() {
            return Err(Error::new(
                crate::ErrorKind::Io,
                format!("the output folder {} does not exist", folder.display()),
            )
            .in_file(dest));
        }
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(".msp-retarget.tmp")
            .tempfile_in(folder)
            .map_err(|e| {
                Error::io("cannot create a temporary file in the output folder", e).in_file(dest)
            })?;
        input
            .rewind()
            .and_then(|_| io::copy(input, temp.as_file_mut()))
            .map_err(|e| Error::io("copying the input to a temporary file", e).in_file(dest))?;
        Ok(Staged {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// A second read-write handle on the temporary file.
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
    fn missing_output_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.msp");
        fs::write(&src, b"x").unwrap();
        let dest = dir.path().join("nope").join("out.msp");
        let e = Staged::copy_of(&mut File::open(&src).unwrap(), &dest).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
