//! `recover`: complete or discard the journal an interrupted in-place edit
//! left beside each patch.

use std::path::PathBuf;

use crate::error::Result;
use crate::report::recover::{RecoverReport, Recovered};
use crate::store::journal::EditLock;

/// Recovers every file in turn; stops at the first error.
pub fn recover(files: &[PathBuf]) -> Result<RecoverReport> {
    let mut out = Vec::new();
    for file in files {
        // Taking the edit lock completes or discards the journal.
        let lock = EditLock::acquire(file)?;
        out.push(Recovered {
            file: file.clone(),
            recovery: lock.recovery,
        });
    }
    Ok(RecoverReport { files: out })
}
