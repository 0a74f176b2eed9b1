//! Every shell example in README.md and docs/*.md runs as written: the
//! fenced `sh`, `bash` and `console` blocks are extracted and run with
//! bash (`set -euo pipefail`), the built binary first on PATH, in a
//! fresh folder per document that holds the shipped samples under the
//! names the examples use (the table [`FILES`]) and with the
//! placeholders of the examples replaced by sample values (the table
//! [`PLACEHOLDERS`]). Both tables are the whole of what the test changes;
//! review them with the documents.
//!
//! A block that cannot run on Linux (or not inside the test suite) is
//! marked by an HTML comment on the line before its fence:
//!
//! * `<!-- not-run: REASON -->`: never run (Windows commands, the test
//!   suite itself, installing into the home folder);
//! * `<!-- needs: TOOL -->`: run, with the blocks of its document after
//!   it, only by the ignored test [`docs_examples_needing_tools`] (CI runs
//!   the ignored tests), which fails when TOOL is missing.
//!
//! An unmarked block that fails fails the test, so a recipe cannot rot.

use std::path::{Path, PathBuf};
use std::process::Command;

use msp_retarget::testkit::synth::{PatchSpec, product_database, write_patch_file};

use crate::util::{Dir, I1, I2, I3, PRODUCT_A, PRODUCT_B, cli};

/// The sample's UpgradeCode (testdata/README.md).
const UPGRADE: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";

/// Placeholders of the examples and what they stand for here.
const PLACEHOLDERS: &[(&str, &str)] = &[
    // The quick start runs the tool through cargo; the test runs the
    // binary cargo built, and does not run the test suite inside itself.
    ("cargo run -- ", "msp-retarget "),
    ("\ncargo test\n", "\n"),
    ("{I1}", I1),
    ("{I2}", I2),
    ("{I3}", I3),
    ("{A}", PRODUCT_A),
    ("{B}", PRODUCT_B),
    ("{INSTANCE-CODE}", I1),
    ("{UPGRADE-CODE}", UPGRADE),
    ("{11111111-…}", I1),
];

/// The files the examples name, made from the shipped samples.
const FILES: &[(&str, &str)] = &[
    ("fix.msp", "testdata/sample.msp (one target, product A)"),
    ("ab.msp", "the two-product preset (products A and B)"),
    ("fix-all.msp", "fix.msp retargeted to I1, I2 and I3"),
    ("product.msi", "a Property table with product A's facts"),
    (
        "multi.msi",
        "product.msi with instances Instance1..3: I1, I2, I3",
    ),
    ("instances.txt", "I1 and I2 with ids"),
    ("bulk.toml", "testdata/sample.msp to I1 and I2, into out/"),
    ("testdata/", "the repository's testdata/"),
];

/// Files of [`FILES`] a document makes itself, removed before it runs
/// (osslsigncode refuses to overwrite its output).
const MADE_BY: &[(&str, &str)] = &[("docs/signing.md", "fix.msp")];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A folder holding every file of [`FILES`].
fn fixtures() -> Dir {
    let dir = Dir::new();
    copy_tree(&repo().join("testdata"), &dir.join("testdata"));
    std::fs::copy(repo().join("testdata/sample.msp"), dir.join("fix.msp")).unwrap();
    write_patch_file(&PatchSpec::two_products(), &dir.join("ab.msp")).unwrap();
    let product = product_database(&[
        ("ProductCode", PRODUCT_A),
        ("ProductVersion", "1.0.0.0"),
        ("ProductLanguage", "1033"),
        ("UpgradeCode", UPGRADE),
        ("ProductName", "Sample"),
    ])
    .unwrap();
    dir.write("product.msi", &product);
    let made = cli(["-q", "instances", "add", "product.msi", "-o", "multi.msi"])
        .dir(&dir)
        .args([
            "-i",
            &format!("Instance1={I1}"),
            "-i",
            &format!("Instance2={I2}"),
        ])
        .args(["-i", &format!("Instance3={I3}")])
        .run();
    assert!(made.code == 0, "making multi.msi: {}", made.stderr);
    dir.write(
        "instances.txt",
        format!("Customer1 {I1}\nCustomer2 {I2}\n").as_bytes(),
    );
    dir.write(
        "bulk.toml",
        format!(
            "output_dir = \"out\"\n\n[[instances]]\ncode = \"{I1}\"\nid = \"Customer1\"\n\n\
             [[instances]]\ncode = \"{I2}\"\nid = \"Customer2\"\n\n[[patches]]\npaths = [\"testdata/sample.msp\"]\n"
        )
        .as_bytes(),
    );
    let made = cli([
        "-q",
        "retarget",
        "fix.msp",
        "-i",
        I1,
        "-i",
        I2,
        "-i",
        I3,
        "-o",
        "fix-all.msp",
    ])
    .dir(&dir)
    .run();
    assert!(made.code == 0, "making fix-all.msp: {}", made.stderr);
    dir
}

/// How a block is marked.
#[derive(Debug, Clone, PartialEq)]
enum Mark {
    Run,
    NotRun(String),
    Needs(String),
}

/// One fenced shell block.
#[derive(Debug)]
struct Block {
    doc: String,
    line: usize,
    mark: Mark,
    text: String,
}

/// The shell blocks of one Markdown document, with their marks.
fn blocks(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc
        .strip_prefix(repo())
        .unwrap_or(doc)
        .display()
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let lang = lang.trim().to_string();
        let start = i;
        let mut j = i + 1;
        while j < lines.len() && !lines[j].trim_start().starts_with("```") {
            j += 1;
        }
        if matches!(lang.as_str(), "sh" | "bash" | "console" | "shell") {
            let before = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim())
                .unwrap_or("");
            let mark = if let Some(r) = before
                .strip_prefix("<!-- not-run:")
                .and_then(|r| r.strip_suffix("-->"))
            {
                Mark::NotRun(r.trim().to_string())
            } else if let Some(t) = before
                .strip_prefix("<!-- needs:")
                .and_then(|r| r.strip_suffix("-->"))
            {
                Mark::Needs(t.trim().to_string())
            } else {
                Mark::Run
            };
            out.push(Block {
                doc: name.clone(),
                line: start + 1,
                mark,
                text: format!("\n{}\n", lines[start + 1..j.min(lines.len())].join("\n")),
            });
        }
        i = j + 1;
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![repo().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

fn substitute(text: &str) -> String {
    let mut s = text.to_string();
    for (from, to) in PLACEHOLDERS {
        s = s.replace(from, to);
    }
    s
}

/// Runs `block` in `dir`; the failure as text.
fn run(dir: &Dir, block: &Block) -> Result<(), String> {
    let bin = crate::util::bin().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", substitute(&block.text));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}:{}: exit {:?}\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            block.doc,
            block.line,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn run_documents(with_tools: bool) -> usize {
    let mut failures = Vec::new();
    let mut ran = 0;
    for doc in documents() {
        let all = blocks(&doc);
        let first_needs = all.iter().position(|b| matches!(b.mark, Mark::Needs(_)));
        let dir = fixtures();
        for (_, name) in MADE_BY.iter().filter(|(d, _)| doc.ends_with(d)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (k, b) in all.iter().enumerate() {
            let needs_tools = first_needs.is_some_and(|f| k >= f);
            match &b.mark {
                Mark::NotRun(reason) => {
                    assert!(
                        !reason.is_empty(),
                        "{}:{}: not-run without a reason",
                        b.doc,
                        b.line
                    );
                    continue;
                }
                Mark::Needs(tool) if with_tools => {
                    let found = Command::new("sh")
                        .arg("-c")
                        .arg(format!("command -v {tool}"))
                        .output()
                        .is_ok_and(|o| o.status.success());
                    assert!(
                        found,
                        "{}:{}: needs {tool}, which is not installed",
                        b.doc, b.line
                    );
                }
                _ => {}
            }
            if needs_tools != with_tools {
                continue;
            }
            ran += 1;
            if let Err(e) = run(&dir, b) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    ran
}

#[test]
fn every_shell_example_in_the_docs_runs() {
    let ran = run_documents(false);
    assert!(
        ran >= 10,
        "only {ran} blocks ran: are the documents still read?"
    );
}

/// The blocks that need other tools (osslsigncode...), and the blocks of
/// their documents after them; run by CI with the ignored tests.
#[test]
#[ignore = "needs the tools the docs name (jq, osslsigncode, openssl); run with --ignored"]
fn docs_examples_needing_tools() {
    let ran = run_documents(true);
    assert!(ran > 0);
}

/// The example commands of `msp-retarget COMMAND... --help`: the indented
/// lines under EXAMPLES that start with the program's name, with the
/// lines a ` \` continues.
fn help_examples(command: &[&str]) -> Vec<String> {
    let out = cli(command).args(["--help"]).run();
    out.code(0);
    let help = out.stdout;
    let examples = help
        .split("\nEXAMPLES:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no EXAMPLES in {command:?} --help"));
    let mut commands: Vec<String> = Vec::new();
    let mut continued = false;
    for line in examples
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with(' '))
    {
        let text = line.trim();
        if continued {
            commands.last_mut().unwrap().push_str(&format!("\n{text}"));
        } else if text.starts_with("msp-retarget ") {
            commands.push(text.to_string());
        }
        continued = text.ends_with('\\');
    }
    commands
}

/// The commands with their own help and examples (a test checks that
/// they are all: one man page each, besides the program's), with the
/// folder of the fixtures their examples are written for and what a
/// reader has already done (the folders completion scripts go into).
const COMMANDS: &[(&[&str], &str, &str)] = &[
    (&["retarget"], "", ""),
    (&["untarget"], "", ""),
    (&["inspect"], "", ""),
    (&["check"], "", ""),
    // The Multiple Patching Example of testdata/README.md.
    (&["sequence"], "testdata/sequence", ""),
    (&["recover"], "", ""),
    (&["bulk"], "", ""),
    (&["instances"], "", ""),
    (&["instances", "add"], "", ""),
    (&["instances", "remove"], "", ""),
    (
        &["completions"],
        "",
        "mkdir -p ~/.local/share/bash-completion/completions ~/.zfunc \
         ~/.config/fish/completions\nPROFILE=profile.ps1",
    ),
    (&["man"], "", ""),
];

/// Every example of every command's --help runs on the shipped samples,
/// each command's in a fresh copy of the fixtures, in order, and exits 0
/// (the examples show commands that succeed, so exit 1 counts as a
/// failure too).
#[test]
fn the_examples_of_every_command_help_run_on_the_samples() {
    let pages = Dir::new();
    cli(["-q", "man", "--dir"])
        .args([pages.path()])
        .run()
        .code(0);
    assert_eq!(
        std::fs::read_dir(pages.path()).unwrap().count(),
        COMMANDS.len() + 1
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for (command, folder, setup) in COMMANDS {
        let dir = fixtures();
        let examples = help_examples(command);
        assert!(!examples.is_empty(), "{command:?}: no examples");
        for example in examples {
            ran += 1;
            let block = Block {
                doc: format!("msp-retarget {} --help", command.join(" ")),
                line: 0,
                mark: Mark::Run,
                text: format!("\ncd ./{folder}\n{setup}\n{example}\n"),
            };
            if let Err(e) = run(&dir, &block) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 30, "only {ran} examples");
}

#[test]
fn the_examples_of_the_top_level_help_run_on_the_samples() {
    let commands = help_examples(&[]);
    assert!(commands.len() >= 4, "{commands:?}");
    let dir = fixtures();
    let block = Block {
        doc: "msp-retarget --help".to_string(),
        line: 0,
        mark: Mark::Run,
        text: format!("\n{}\n", commands.join("\n")),
    };
    run(&dir, &block).unwrap_or_else(|e| panic!("{e}"));
    // What they made is there: the bulk output and the result the CI
    // check passed.
    assert!(dir.join("out").is_dir());
    assert!(dir.join("fix-all.msp").is_file());
}

#[test]
fn the_tables_name_what_the_fixtures_hold() {
    let dir = fixtures();
    for (name, _) in FILES {
        assert!(dir.join(name).exists(), "{name} is not made");
    }
}
