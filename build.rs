//! Tells `--version` which commit the program was built from.
//!
//! From a git checkout of this crate: the commit (12 hex digits), its date,
//! and `-dirty` when tracked files differed from it when this script ran.
//! From a packaged crate (crates.io), which has no repository: the commit
//! cargo recorded in `.cargo_vcs_info.json`, if any. Otherwise the crate
//! version alone. Nothing here can fail the build: every git call that
//! does not answer leaves the version shorter, never an error.
//!
//! The script runs again only when HEAD (or the branch it names) moves, so
//! that an edit of a source file does not rebuild the crate for it; the
//! `-dirty` mark therefore describes the tree as it was at that moment.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let target = std::env::var("TARGET").unwrap_or_default();

    let commit = from_git(&dir).or_else(|| from_vcs_info(&dir));
    let (short, long) = match &commit {
        Some(c) => {
            let mark = if c.dirty { "-dirty" } else { "" };
            let hash = &c.hash[..c.hash.len().min(12)];
            let date = c
                .date
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            let short = format!("{version} ({hash}{mark}{date})");
            let mut long = format!("{short}\ncommit: {}", c.hash);
            if let Some(d) = &c.date {
                long.push_str(&format!("\ncommit date: {d}"));
            }
            if c.dirty {
                long.push_str("\nworking tree: modified (tracked files differed from the commit)");
            }
            (short, long)
        }
        None => (
            version.clone(),
            format!("{version}\ncommit: unknown (built outside a git checkout)"),
        ),
    };
    let long = format!("{long}\ntarget: {target}");
    println!("cargo:rustc-env=MSP_RETARGET_VERSION={short}");
    // The man pages' date: the commit's, so that pages built twice from
    // one commit are the same.
    let date = commit
        .as_ref()
        .and_then(|c| c.date.clone())
        .unwrap_or_default();
    println!("cargo:rustc-env=MSP_RETARGET_COMMIT_DATE={date}");
    // rustc-env takes one line: the CLI turns `\n` back into line breaks.
    println!(
        "cargo:rustc-env=MSP_RETARGET_LONG_VERSION={}",
        long.replace('\n', "\\n")
    );
}

/// The commit a build came from.
struct Commit {
    hash: String,
    date: Option<String>,
    dirty: bool,
}

/// Runs git in `dir`; its trimmed output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("--no-optional-locks")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}

/// The checkout's commit, when `dir` is the top of a git work tree (and
/// not a folder inside someone else's repository, as a vendored copy of
/// the crate would be).
fn from_git(dir: &Path) -> Option<Commit> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let hash = git(dir, &["rev-parse", "HEAD"])?;
    if hash.len() < 12 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Rerun when HEAD changes: the HEAD file (a worktree has its own) and
    // the branch it names, loose or packed.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.is_file() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let date =
        git(dir, &["log", "-1", "--format=%cd", "--date=short", "HEAD"]).filter(|d| d.len() == 10);
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(Commit { hash, date, dirty })
}

/// The commit cargo recorded when it packaged the crate:
/// `{"git": {"sha1": "…", "dirty": true}, …}` (dirty only when it was).
fn from_vcs_info(dir: &Path) -> Option<Commit> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let start = rest.find('"')? + 1;
    let hash: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    if hash.len() < 12 {
        return None;
    }
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    Some(Commit {
        hash,
        date: None,
        dirty,
    })
}
