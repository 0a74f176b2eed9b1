//! Where the corpus suites find the shared corpus of real WiX-built
//! patches and packages: `$MSP_CORPUS_DIR`, else `../shared/corpus` beside
//! the repository.

use std::path::{Path, PathBuf};

/// The corpus folder; fails the test, saying how to provide it, when it
/// is missing.
pub fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("MSP_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    assert!(
        dir.is_dir(),
        "corpus folder {} is missing: set MSP_CORPUS_DIR or provide ../shared/corpus",
        dir.display()
    );
    dir
}

/// A file of the corpus's `wix3` folder, which must exist.
pub fn wix3(name: &str) -> PathBuf {
    let path = corpus_dir().join("wix3").join(name);
    assert!(path.is_file(), "corpus file {} is missing", path.display());
    path
}
