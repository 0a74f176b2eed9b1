//! Shell completion scripts, driven the way each shell drives them: bash
//! through `COMP_WORDS`/`COMP_CWORD` and the function `complete -p`
//! registers for the program's name, fish through `complete -C`, zsh by
//! loading the script under `compinit`. The program's name has a hyphen,
//! which a generated bash script once matched only for subcommand names.

use std::process::Command;

use crate::util::{Dir, cli};

/// Writes `completions SHELL` into `dir` and returns the script's path.
fn script(dir: &Dir, shell: &str) -> std::path::PathBuf {
    let out = cli(["completions", shell]).dir(dir).run();
    out.code(0);
    dir.write(&format!("completion.{shell}"), out.stdout.as_bytes())
}

/// The candidates bash offers for the command line `words`, the last
/// word being completed, sorted.
fn bash_candidates(dir: &Dir, words: &[&str]) -> Vec<String> {
    let script = script(dir, "bash");
    // The function is the one `complete` registered for the program's
    // name, called as readline calls it: name, word, previous word.
    let driver = r#"
source "$1" || exit 3
shift
spec=$(complete -p msp-retarget) || exit 4
fn=${spec#*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" msp-retarget "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver, "bash"])
        .arg(&script)
        .args(words)
        .current_dir(dir.path())
        .output()
        .expect("running bash");
    assert!(
        out.status.success(),
        "bash: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = String::from_utf8(out.stdout)
        .expect("UTF-8 candidates")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>();
    lines.sort();
    lines
}

#[test]
fn bash_completes_options_of_a_subcommand() {
    let dir = Dir::new();
    assert_eq!(
        bash_candidates(&dir, &["msp-retarget", "retarget", "--ins"]),
        ["--instance", "--instances-file", "--instances-from"]
    );
    assert_eq!(
        bash_candidates(&dir, &["msp-retarget", "untarget", "fix.msp", "--in"]),
        ["--in-place", "--instance"]
    );
    assert_eq!(
        bash_candidates(&dir, &["msp-retarget", "check", "fix.msp", "--pro"]),
        ["--product"]
    );
}

#[test]
fn bash_completes_subcommands_values_and_files() {
    let dir = Dir::new();
    assert_eq!(
        bash_candidates(&dir, &["msp-retarget", "ret"]),
        ["retarget"]
    );
    let shells = bash_candidates(&dir, &["msp-retarget", "completions", ""]);
    for shell in ["bash", "fish", "powershell", "zsh"] {
        assert!(shells.iter().any(|s| s == shell), "{shell} in {shells:?}");
    }
    // An option that takes a file offers the folder's files.
    dir.write("product.msi", b"");
    assert_eq!(
        bash_candidates(
            &dir,
            &["msp-retarget", "check", "fix.msp", "--package", "pro"]
        ),
        ["product.msi"]
    );
}

/// Needs fish (CI installs it).
#[test]
#[ignore = "needs fish"]
fn fish_completes_options_and_shells() {
    let dir = Dir::new();
    let script = script(&dir, "fish");
    let complete = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!("source {}; complete -C '{line}'", script.display()))
            .current_dir(dir.path())
            .output()
            .expect("running fish (install it to run this test)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words = String::from_utf8(out.stdout)
            .expect("UTF-8 candidates")
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>();
        words.sort();
        words
    };
    assert_eq!(
        complete("msp-retarget retarget --ins"),
        ["--instance", "--instances-file", "--instances-from"]
    );
    assert_eq!(
        complete("msp-retarget completions "),
        ["bash", "elvish", "fish", "powershell", "zsh"]
    );
}

/// Needs zsh (CI installs it).
#[test]
#[ignore = "needs zsh"]
fn zsh_loads_the_script_and_registers_the_program() {
    let dir = Dir::new();
    let script = script(&dir, "zsh");
    let out = Command::new("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "autoload -U compinit && compinit -u -D && source {} && print -r -- $_comps[msp-retarget]",
            script.display()
        ))
        .current_dir(dir.path())
        .output()
        .expect("running zsh (install it to run this test)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "_msp-retarget");
}
