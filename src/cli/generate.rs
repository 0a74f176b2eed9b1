//! `msp-retarget completions SHELL` and `msp-retarget man`: shell
//! completion scripts and a roff man page, both generated from the clap
//! definition so that they never drift from the real options.

use std::io::{self, Write};

use clap::{Args, CommandFactory};
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

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
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
    completions(a.shell, &mut out);
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
            completions(shell, &mut out);
            let text = String::from_utf8(out).expect("UTF-8 completions");
            assert!(!text.is_empty(), "{shell}: empty");
            for name in subcommands() {
                assert!(text.contains(&name), "{shell}: no {name}");
            }
            assert!(text.contains("jobs"), "{shell}: no --jobs");
        }
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
