//! `msp-retarget completions SHELL` and `msp-retarget man`: shell
//! completion scripts and a roff man page, both generated from the clap
//! definition so that they never drift from the real options.

use std::io::{self, Write};

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::Cli;

/// The examples of `completions --help`.
pub const COMPLETIONS_EXAMPLES: &str = "EXAMPLES:\n  msp-retarget completions bash > ~/.local/share/bash-completion/completions/msp-retarget\n  msp-retarget completions zsh > ~/.zfunc/_msp-retarget\n  msp-retarget completions fish > ~/.config/fish/completions/msp-retarget.fish\n  msp-retarget completions powershell >> $PROFILE";

/// The examples of `man --help`.
pub const MAN_EXAMPLES: &str = "EXAMPLES:\n  msp-retarget man > msp-retarget.1 && man ./msp-retarget.1\n  msp-retarget man | gzip > /usr/local/share/man/man1/msp-retarget.1.gz";

/// The exit codes, one row per code, for the man page.
const EXIT_STATUS: [(&str, &str); 3] = [
    (
        "0",
        "Done, or already done: nothing needed to change. For check: the patch applies to every \
         product given. For bulk: every file was done or already done.",
    ),
    (
        "1",
        "Refused on purpose: a major-upgrade patch, a signed patch (without \
         --strip-signature), an ambiguous base, a result that would not apply as planned (the \
         result is checked like check does before it is written). For check: the patch does not \
         apply (or cannot be shown to apply) to at least one product. For bulk: at least one file \
         was refused and none failed.",
    ),
    (
        "2",
        "Error: bad input, bad usage or manifest, I/O, failed verification. Nothing is written \
         for a file that fails. For bulk: at least one file failed.",
    ),
];

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `man` (none).
#[derive(Debug, Args)]
pub struct ManArgs {}

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

/// Writes the man page: the generated title, name, synopsis, description
/// and global options, then every command's full help with its examples,
/// then the exit status.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    let mut page = Vec::new();
    render_man(&mut page)?;
    // Each section rendered on its own repeats roff's two-line preamble
    // (the `Aq` string); keep the first.
    let text = String::from_utf8_lossy(&page);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let preamble = line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq");
        if preamble && !seen.insert(line) {
            continue;
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn render_man(out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = clap_mangen::Man::new(cmd.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let title = format!("{} {}", "msp-retarget", sub.get_name());
        roff.control("SS", [title.as_str()]);
        if let Some(about) = sub.get_about() {
            roff.text([roman(about.to_string())]);
        }
        // clap's own long help: usage, arguments, options and examples,
        // kept as laid out.
        let help = sub.render_long_help().to_string();
        roff.control("PP", []);
        roff.control("nf", []);
        for line in help.lines().skip_while(|l| !l.starts_with("Usage:")) {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "docs/guide.md, docs/bulk.md, docs/ci.md, docs/applicability.md and \
         docs/troubleshooting.md in the source distribution.",
    )]);
    roff.to_writer(out)?;
    page.render_version_section(out)
}

/// Runs `completions`.
pub fn run_completions(a: &CompletionsArgs) -> msp_retarget::Result<u8> {
    let mut out = Vec::new();
    completions(a.shell, &mut out)
        .map_err(|e| msp_retarget::Error::io("rendering the completion script", e))?;
    crate::write_stdout(&String::from_utf8_lossy(&out));
    Ok(0)
}

/// Runs `man`.
pub fn run_man(_a: &ManArgs) -> msp_retarget::Result<u8> {
    let mut out = Vec::new();
    man(&mut out).map_err(|e| msp_retarget::Error::io("rendering the man page", e))?;
    crate::write_stdout(&String::from_utf8_lossy(&out));
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

    #[test]
    fn the_man_page_has_every_command_and_the_exit_status() {
        let mut out = Vec::new();
        man(&mut out).unwrap();
        let text = String::from_utf8(out).expect("UTF-8 man page");
        assert!(text.contains("\n.TH msp-retarget 1 "), "{}", &text[..80]);
        for section in ["NAME", "SYNOPSIS", "COMMANDS", "\"EXIT STATUS\""] {
            assert!(text.contains(&format!(".SH {section}")), "no {section}");
        }
        assert_eq!(text.matches(".el .ds Aq").count(), 1, "one preamble");
        for name in subcommands() {
            assert!(
                text.contains(&format!(".SS \"msp-retarget {name}\"")),
                "no {name}"
            );
        }
        assert!(text.contains("EXAMPLES"));
        let status = text
            .split(".SH \"EXIT STATUS\"")
            .nth(1)
            .and_then(|t| t.split(".SH").next())
            .expect("an EXIT STATUS section");
        for command in ["For check", "For bulk", "would not apply as planned"] {
            assert!(status.contains(command), "EXIT STATUS lacks {command:?}");
        }
    }
}
