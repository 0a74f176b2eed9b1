//! `msp-retarget completions SHELL` and `msp-retarget man`: shell
//! completion scripts and roff man pages (one per command), generated from
//! the clap definition so that they never drift from the real options.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::Cli;
use crate::cli::help::{self, Section};

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The pages `man PAGE` knows, after `msp-retarget-` (a test checks that
/// they are the commands'; a literal list because the list of values is
/// part of the definition the commands are read from).
const PAGE_NAMES: [&str; 12] = [
    "retarget",
    "untarget",
    "inspect",
    "check",
    "sequence",
    "recover",
    "bulk",
    "instances",
    "instances-add",
    "instances-remove",
    "completions",
    "man",
];

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page to print: a command's (msp-retarget-PAGE(1)); by default
    /// msp-retarget(1).
    #[arg(value_name = "PAGE", value_parser = clap::builder::PossibleValuesParser::new(PAGE_NAMES))]
    pub page: Option<String>,

    /// Write every page into this folder (made if missing) instead of
    /// printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "page")]
    pub dir: Option<PathBuf>,
}

/// A stand-in for the program's name while the bash script is generated:
/// no hyphen, no underscore, and found nowhere else in the script.
const BASH_STAND_IN: &str = "mspxretargetxbin";

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    if shell == Shell::Fish {
        clap_complete::generate(shell, &mut cmd, name.as_str(), out);
        // clap_complete's fish script offers no values for a positional
        // argument: `completions <TAB>` would list files.
        let shells = Shell::value_variants()
            .iter()
            .filter_map(|s| s.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let state = name.replace('-', "_");
        return writeln!(
            out,
            "complete -c {name} -n \"__fish_{state}_using_subcommand completions\" -f -a \"{shells}\""
        );
    }
    if shell != Shell::Bash {
        clap_complete::generate(shell, &mut cmd, name, out);
        return Ok(());
    }
    // clap_complete's bash script spells the name of a program with a
    // hyphen two ways: the loop over the words calls the subcommand state
    // `msp__retarget__subcmd__retarget`, the `case` that lists its options
    // `msp__subcmd__retarget__subcmd__retarget`, so only subcommand names
    // ever complete. Generated for a name without a hyphen, the two agree;
    // the stand-in then becomes a valid shell identifier in the function
    // and state names, and the real name where `complete` registers it.
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut cmd.bin_name(BASH_STAND_IN),
        BASH_STAND_IN,
        &mut script,
    );
    let script = String::from_utf8_lossy(&script);
    let ident = name.replace('-', "_");
    for line in script.lines() {
        let line = match line.trim_start().starts_with("complete ") {
            true => match line.strip_suffix(BASH_STAND_IN) {
                Some(head) => format!("{}{name}", head.replace(BASH_STAND_IN, &ident)),
                None => line.replace(BASH_STAND_IN, &ident),
            },
            false => line.replace(BASH_STAND_IN, &ident),
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// One man page: its name (the file's, without `.1`) and its roff text.
#[derive(Debug)]
pub struct Page {
    /// `msp-retarget` or `msp-retarget-COMMAND`.
    pub name: String,
    /// The page (roff, man macros).
    pub text: String,
}

/// The text after the options of the command at `path` (its names below
/// the program's); the same `--help` prints (a test checks it).
fn sections(path: &[&str]) -> &'static [Section] {
    match path {
        [] => help::MAIN,
        ["retarget"] => help::RETARGET,
        ["untarget"] => help::UNTARGET,
        ["inspect"] => help::INSPECT,
        ["check"] => help::CHECK,
        ["sequence"] => help::SEQUENCE,
        ["recover"] => help::RECOVER,
        ["bulk"] => help::BULK,
        ["instances"] => help::INSTANCES,
        ["instances", "add"] => help::INSTANCES_ADD,
        ["instances", "remove"] => help::INSTANCES_REMOVE,
        ["completions"] => help::COMPLETIONS,
        ["man"] => help::MAN,
        _ => &[],
    }
}

/// Every man page: msp-retarget(1), then one per command and subcommand,
/// in the order of `--help`.
pub fn pages() -> Vec<Page> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut Vec::new(), None, &mut out);
    out
}

fn collect<'a>(
    cmd: &'a clap::Command,
    path: &mut Vec<&'a str>,
    parent: Option<&str>,
    out: &mut Vec<Page>,
) {
    let name = page_name(path);
    out.push(Page {
        text: render_page(cmd, path, parent),
        name: name.clone(),
    });
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        path.push(sub.get_name());
        collect(sub, path, Some(&name), out);
        path.pop();
    }
}

fn page_name(path: &[&str]) -> String {
    std::iter::once("msp-retarget")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join("-")
}

/// One page: title, NAME, SYNOPSIS, DESCRIPTION, the options (clap_mangen
/// renders them, as paragraphs the reader's width fills), COMMANDS when
/// the command has subcommands, the sections of [`sections`], SEE ALSO.
fn render_page(cmd: &clap::Command, path: &[&str], parent: Option<&str>) -> String {
    let name = page_name(path);
    let date = env!("MSP_RETARGET_COMMIT_DATE");
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.as_str())
        .date(date)
        .source(format!("msp-retarget {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let sections = sections(path);
    let mut raw = Vec::new();
    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    roff.text([roman(format!("{name} - {about}"))]);
    roff.control("SH", ["SYNOPSIS"]);
    // clap's usage line, or the one a command gives (`override_usage`).
    let rendered = cmd.clone().render_usage().to_string();
    let usage = rendered.trim_start_matches("Usage:").trim().to_string();
    roff.control("nf", []);
    for (k, line) in usage.lines().enumerate() {
        let line = line.trim();
        let program = std::iter::once("msp-retarget")
            .chain(path.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        match line.strip_prefix(program.as_str()) {
            Some(rest) if k == 0 => roff.text([bold(program.as_str()), roman(rest)]),
            _ => roff.text([roman(format!("    {line}"))]),
        };
    }
    roff.control("fi", []);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(format!("{about}."))]);
    for p in help::description(sections) {
        roff.control("PP", []);
        roff.text([roman(p)]);
    }
    // The title line, then NAME to DESCRIPTION, then the options; each
    // piece repeats roff's two-line preamble, which [`dedup_preamble`]
    // keeps once.
    let _ = man.render_title(&mut raw);
    let _ = roff.to_writer(&mut raw);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut raw);
    }
    let mut roff = Roff::new();
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        roff.control("SH", ["COMMANDS"]);
        for sub in &subs {
            roff.control("TP", []);
            roff.text([bold(format!("{name}-{}", sub.get_name())), roman("(1)")]);
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            roff.text([roman(format!("{about}."))]);
        }
    }
    help::roff(sections, &mut roff);
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = parent.iter().map(|p| p.to_string()).collect();
    if parent.is_some_and(|p| p != "msp-retarget") {
        see.insert(0, "msp-retarget".to_string());
    }
    see.extend(subs.iter().map(|s| format!("{name}-{}", s.get_name())));
    let mut refs = Vec::new();
    for (k, s) in see.iter().enumerate() {
        if k > 0 {
            refs.push(roman(", "));
        }
        refs.push(bold(s.as_str()));
        refs.push(roman("(1)"));
    }
    if !refs.is_empty() {
        refs.push(roman(". "));
    }
    refs.push(roman(
        "The user guide, docs/guide.md in the source distribution, and beside it \
         bulk.md, ci.md, applicability.md and troubleshooting.md.",
    ));
    roff.text(refs);
    let _ = roff.to_writer(&mut raw);
    dedup_preamble(&String::from_utf8_lossy(&raw))
}

/// `text` with roff's two-line preamble (the `Aq` string) kept only where
/// it first appears.
fn dedup_preamble(text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for line in text.lines() {
        let preamble = line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq");
        if preamble && !seen.insert(line) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Runs `completions`.
pub fn run_completions(a: &CompletionsArgs) -> msp_retarget::Result<u8> {
    let mut out = Vec::new();
    completions(a.shell, &mut out)
        .map_err(|e| msp_retarget::Error::io("rendering the completion script", e))?;
    crate::write_stdout(&String::from_utf8_lossy(&out));
    Ok(0)
}

/// Writes one page whole or not at all: into a temporary file beside it,
/// renamed over `path` (a link there is replaced, not followed), readable
/// by all as installed man pages are.
fn write_page(dir: &std::path::Path, path: &std::path::Path, text: &str) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".msp-retarget-man.")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Runs `man`: one page on stdout, or every page into `--dir`.
pub fn run_man(a: &ManArgs) -> msp_retarget::Result<u8> {
    let Some(dir) = &a.dir else {
        let name = match &a.page {
            Some(page) => format!("msp-retarget-{page}"),
            None => "msp-retarget".to_string(),
        };
        let page = pages()
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| msp_retarget::Error::usage(format!("no man page {name}")))?;
        crate::write_stdout(&page.text);
        return Ok(0);
    };
    if dir.exists() && !dir.is_dir() {
        return Err(msp_retarget::Error::usage("is not a folder (--dir)").in_file(dir));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        msp_retarget::Error::io("making the folder for the man pages", e).in_file(dir)
    })?;
    let mut written = String::new();
    for page in pages() {
        let path = dir.join(format!("{}.1", page.name));
        write_page(dir, &path, &page.text)
            .map_err(|e| msp_retarget::Error::io("writing a man page", e).in_file(&path))?;
        written.push_str(&format!("wrote {}\n", path.display()));
    }
    crate::print_out(&written);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn every_subcommand_has_examples() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut seen = 0;
        for sub in cmd.get_subcommands() {
            let after = [sub.get_after_help(), sub.get_after_long_help()]
                .into_iter()
                .flatten()
                .map(|s| s.to_string())
                .collect::<String>();
            assert!(
                after.contains("EXAMPLES"),
                "`{} --help` has no EXAMPLES",
                sub.get_name()
            );
            seen += 1;
        }
        assert!(seen >= 6, "only {seen} subcommands");
    }

    #[test]
    fn completions_are_generated_for_every_shell() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out).unwrap();
            let text = String::from_utf8(out).expect("UTF-8 completions");
            assert!(!text.is_empty(), "{shell}: empty");
            for name in subcommands() {
                assert!(text.contains(&name), "{shell}: no {name}");
            }
            assert!(text.contains("jobs"), "{shell}: no --jobs");
        }
    }

    #[test]
    fn powershell_registers_the_program_and_its_options() {
        let mut out = Vec::new();
        completions(Shell::PowerShell, &mut out).unwrap();
        let text = String::from_utf8(out).expect("UTF-8 completions");
        assert!(text.contains("-CommandName 'msp-retarget'"));
        let retarget = text
            .split("'msp-retarget;retarget' {")
            .nth(1)
            .and_then(|t| t.split("break").next())
            .expect("a branch for retarget");
        assert!(retarget.contains("'--instance'"), "{retarget}");
    }

    /// Every command with its path below the program, the program first.
    fn commands() -> Vec<(Vec<String>, clap::Command)> {
        fn walk(
            cmd: &clap::Command,
            path: &mut Vec<String>,
            out: &mut Vec<(Vec<String>, clap::Command)>,
        ) {
            out.push((path.clone(), cmd.clone()));
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                path.push(sub.get_name().to_string());
                walk(sub, path, out);
                path.pop();
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn help_and_man_pages_say_the_same_after_the_options() {
        for (path, cmd) in commands() {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let after = cmd
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(!sections(&path).is_empty(), "{path:?}: no sections");
            assert_eq!(after, help::text(sections(&path)), "{path:?}");
        }
    }

    #[test]
    fn help_fits_80_columns_as_laid_out() {
        for (path, mut cmd) in commands() {
            let help = cmd.render_long_help().to_string();
            for line in help.lines() {
                assert!(line.chars().count() <= 80, "{path:?}: {line:?}");
            }
            // clap re-wraps a line of the text after the options that is
            // too long, which loses its indentation: none is.
            let after = cmd
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(help.contains(&after), "{path:?}: re-wrapped:\n{help}");
            let usage = cmd.render_usage().to_string();
            for line in usage.lines() {
                assert!(line.chars().count() <= 80, "{path:?}: usage {line:?}");
            }
        }
    }

    #[test]
    fn the_page_names_are_the_commands() {
        let names: Vec<String> = pages().into_iter().map(|p| p.name).collect();
        let mut expected = vec!["msp-retarget".to_string()];
        expected.extend(PAGE_NAMES.iter().map(|p| format!("msp-retarget-{p}")));
        assert_eq!(names, expected);
        assert_eq!(commands().len(), names.len());
    }

    #[test]
    fn every_page_is_roff_with_its_sections_and_no_pasted_help() {
        for page in pages() {
            let text = &page.text;
            assert!(
                text.contains(&format!("\n.TH {} 1 ", page.name)),
                "{}: {}",
                page.name,
                &text[..80]
            );
            for section in [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "EXAMPLES",
                "\"SEE ALSO\"",
            ] {
                assert!(
                    text.contains(&format!("\n.SH {section}\n")),
                    "{}: no {section}",
                    page.name
                );
            }
            assert_eq!(
                text.matches(".el .ds Aq").count(),
                1,
                "{}: one preamble",
                page.name
            );
            // Options are paragraphs the reader's width fills, not the
            // lines of --help kept as they are.
            assert!(!text.contains("Usage:"), "{}", page.name);
            assert!(!text.contains("Options:"), "{}", page.name);
            for line in text.lines() {
                assert!(
                    !line.starts_with('.') || line.len() >= 2,
                    "{}: bare request {line:?}",
                    page.name
                );
            }
        }
        let main = &pages()[0].text;
        let status = main
            .split(".SH \"EXIT STATUS\"")
            .nth(1)
            .and_then(|t| t.split(".SH").next())
            .expect("an EXIT STATUS section");
        for needle in ["For check", "For bulk", "would not apply as planned"] {
            assert!(status.contains(needle), "EXIT STATUS lacks {needle:?}");
        }
        for name in PAGE_NAMES.iter().filter(|p| !p.contains('-')) {
            assert!(
                main.contains(&format!("\\fBmsp\\-retarget\\-{name}\\fR(1)")),
                "{name}"
            );
        }
    }

    #[test]
    fn example_commands_fit_a_man_page() {
        for (path, _) in commands() {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let examples = help::example_commands(sections(&path));
            assert!(!examples.is_empty(), "{path:?}: no examples");
            for command in examples {
                assert!(command.starts_with("msp-retarget "), "{command}");
                for line in help::command_lines(command) {
                    assert!(
                        line.chars().count() <= help::EXAMPLE_WIDTH,
                        "{path:?}: {line:?}"
                    );
                }
            }
        }
    }
}
