//! The `msi` crate trusts what a file declares and can panic on a hostile
//! one, so the library opens a database with it in one place only,
//! `format::msi::open_package`, which every reader calls inside
//! `format::msi::guarded` (bounded checks first, panics contained). The
//! check reads the sources: no other file of `src/` outside the test kit
//! and unit tests calls the crate's openers.

use std::path::Path;

/// The crate's ways to open a database.
const OPENERS: [&str; 3] = ["msi::Package::open", "msi::open(", "msi::open_rw"];

#[test]
fn only_format_msi_opens_a_database_with_the_msi_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    crate::util::rust_sources(&root, &mut files);
    assert!(files.len() > 50, "read only {} files", files.len());
    let mut entry_seen = false;
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("testkit/") || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests at the end of a file may build databases directly.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if OPENERS.iter().any(|o| line.contains(o)) {
                if rel == "format/msi.rs" {
                    entry_seen = true;
                } else {
                    found.push(format!("{rel}:{}: {line}", n + 1));
                }
            }
        }
    }
    assert!(entry_seen, "format/msi.rs no longer opens the database");
    assert!(
        found.is_empty(),
        "the msi crate opened outside format/msi.rs:\n{}",
        found.join("\n")
    );
}
