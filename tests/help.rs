//! `--version`, `-V` and the man pages, through the built program.

use std::path::Path;
use std::process::Command;

use crate::util::{Dir, cli};

fn stdout(args: &[&str]) -> String {
    let out = cli(args).run();
    assert_eq!(out.code, 0, "{args:?}: {out:?}");
    out.stdout
}

/// The commit of the checkout the tests run in, when git can tell.
fn checkout_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let top = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let top = std::fs::canonicalize(String::from_utf8(top.stdout).ok()?.trim()).ok()?;
    let here = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).ok()?;
    (out.status.success() && top == here)
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let short = stdout(&["-V"]);
    let prefix = format!("msp-retarget {}", env!("CARGO_PKG_VERSION"));
    assert!(short.starts_with(&prefix), "{short}");
    assert_eq!(short.lines().count(), 1, "{short}");
    let long = stdout(&["--version"]);
    assert!(long.starts_with(&short), "{long}");
    assert!(long.contains("\ncommit: "), "{long}");
    assert!(long.contains("\ntarget: "), "{long}");
    if let Some(commit) = checkout_commit() {
        // `0.1.0 (0123456789ab 2026-11-29)`, `-dirty` after the hash when
        // tracked files had changed.
        let rest = short[prefix.len()..].trim();
        assert!(
            rest.starts_with(&format!("({commit}")),
            "{short} vs {commit}"
        );
        let date = rest.trim_end_matches(')').rsplit(' ').next().unwrap();
        assert_eq!(date.len(), 10, "{short}");
        assert!(
            date.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
            "{short}"
        );
    } else {
        assert_eq!(short.trim(), prefix, "no git: the crate version alone");
    }
}

/// Every page `man --dir` writes, by name.
fn pages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = Dir::new();
    let listed = stdout(&["man", "--dir", dir.join("man1").to_str().unwrap()]);
    let names = pages(&dir.join("man1"));
    let mut expected: Vec<String> = [
        "",
        "-retarget",
        "-untarget",
        "-inspect",
        "-check",
        "-sequence",
        "-recover",
        "-bulk",
        "-instances",
        "-instances-add",
        "-instances-remove",
        "-completions",
        "-man",
    ]
    .iter()
    .map(|s| format!("msp-retarget{s}.1"))
    .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(listed.lines().count(), names.len(), "{listed}");
    // One page on stdout is the same page.
    let retarget = stdout(&["man", "retarget"]);
    let written = std::fs::read_to_string(dir.join("man1/msp-retarget-retarget.1")).unwrap();
    assert_eq!(retarget, written);
    assert!(stdout(&["man"]).starts_with(".ie \\n(.g .ds Aq"));
    // -q: the pages, no list.
    let quiet = stdout(&["-q", "man", "--dir", dir.join("q").to_str().unwrap()]);
    assert_eq!(quiet, "");
    assert_eq!(pages(&dir.join("q")).len(), names.len());
    // A file where the folder should be: refused, untouched.
    dir.write("file", b"keep");
    let out = cli(["man", "--dir", dir.join("file").to_str().unwrap()]).run();
    assert_eq!(out.code, 2);
    let err = &out.stderr;
    assert!(
        err.starts_with("msp-retarget: ") && err.contains("file: is not a folder"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("file")).unwrap(), b"keep");
    // A link where a page goes is replaced, its target not written.
    #[cfg(unix)]
    {
        let links = dir.join("links");
        std::fs::create_dir(&links).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), links.join("msp-retarget.1")).unwrap();
        stdout(&["-q", "man", "--dir", links.to_str().unwrap()]);
        assert!(!dir.join("elsewhere").exists());
        assert!(
            std::fs::symlink_metadata(links.join("msp-retarget.1"))
                .unwrap()
                .is_file()
        );
        assert_eq!(pages(&links).len(), names.len(), "no temporary file left");
    }
}

#[test]
fn man_pages_parse_and_render_within_80_columns() {
    if installed("groff") && installed("man") {
        check_rendering();
    }
}

/// The same where the tools must be there (CI runs the ignored tests).
#[test]
#[ignore = "needs groff and man (apt-get install groff-base man-db); run with --ignored"]
fn man_pages_render_with_the_tools_installed() {
    assert!(
        installed("groff") && installed("man"),
        "needs groff and man (apt-get install groff-base man-db)"
    );
    check_rendering();
}

/// groff finds nothing to warn about in any page, and man renders each
/// within 80 columns.
fn check_rendering() {
    let dir = Dir::new();
    stdout(&["-q", "man", "--dir", dir.path().to_str().unwrap()]);
    for name in pages(dir.path()) {
        let page = dir.join(&name);
        let groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(groff.status.success(), "{name}: {groff:?}");
        let warnings = String::from_utf8_lossy(&groff.stderr);
        assert!(warnings.is_empty(), "{name}: {warnings}");
        let man = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env_remove("MAN_KEEP_FORMATTING")
            .output()
            .unwrap();
        assert!(man.status.success(), "{name}: {man:?}");
        let text = String::from_utf8_lossy(&man.stdout);
        assert!(text.lines().count() > 20, "{name}: {text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{name}: {} columns: {line:?}",
                line.chars().count()
            );
        }
        // Prose reflows: at 60 columns the page takes more lines.
        let narrow = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "60")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        let narrow = String::from_utf8_lossy(&narrow.stdout);
        assert!(
            narrow.lines().count() > text.lines().count(),
            "{name}: nothing reflowed"
        );
    }
}
