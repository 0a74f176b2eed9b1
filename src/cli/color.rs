//! `--color auto|always|never` and the `NO_COLOR` convention, decided once
//! for stderr (logs and error messages) and handed to clap for help and
//! usage errors.
//!
//! The rule (no-color.org, and what rg, fd and cargo do): `always` and
//! `never` are obeyed; `auto` colours only a terminal, and not when
//! `NO_COLOR` is set to a non-empty value or `TERM` is `dumb`. The option
//! given on the command line wins over `NO_COLOR`.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

pub use clap::ColorChoice;

/// Whether stderr is coloured in this run (set once in `main`).
static STDERR: AtomicBool = AtomicBool::new(false);

/// Whether output to a stream is coloured, for `choice`, whether the
/// stream is a terminal, and the values of `NO_COLOR` and `TERM`.
pub fn decide(
    choice: ColorChoice,
    is_terminal: bool,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && no_color.is_none_or(OsStr::is_empty) && term != Some(OsStr::new("dumb"))
        }
    }
}

/// Decides for stderr from the environment and remembers the answer.
pub fn init_stderr(choice: ColorChoice) -> bool {
    let no_color = std::env::var_os("NO_COLOR");
    let term = std::env::var_os("TERM");
    let on = decide(
        choice,
        std::io::stderr().is_terminal(),
        no_color.as_deref(),
        term.as_deref(),
    );
    STDERR.store(on, Ordering::Relaxed);
    on
}

/// Whether stderr is coloured.
pub fn stderr() -> bool {
    STDERR.load(Ordering::Relaxed)
}

/// The start of every error line on stderr: the program's name, in bold
/// red when stderr is coloured.
pub fn error_prefix() -> &'static str {
    if stderr() {
        "\x1b[1;31mmsp-retarget:\x1b[0m"
    } else {
        "msp-retarget:"
    }
}

/// What the command line asks for before clap parses it: the colour (so
/// that clap's own errors obey it), whether `--json` was given and which
/// subcommand (so that a usage error can still be a JSON document). Only
/// arguments before a lone `--` count; a value clap would refuse is
/// ignored here and refused by clap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Early {
    /// `--color`, `auto` when absent or not understood.
    pub color: ColorChoice,
    /// Whether `--json` appears.
    pub json: bool,
    /// The first word that is not an option, when it names a subcommand.
    pub command: Option<String>,
}

/// Scans `args` (the program's name first) for [`Early`]; `subcommands`
/// are the names clap knows.
pub fn scan(args: &[OsString], subcommands: &[&str]) -> Early {
    let mut early = Early {
        color: ColorChoice::Auto,
        json: false,
        command: None,
    };
    let mut seen_word = false;
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = words.next() {
        let value = match arg.as_ref() {
            "--" => break,
            "--json" => {
                early.json = true;
                continue;
            }
            "--color" => words.next().map(|v| v.into_owned()),
            other => match other.strip_prefix("--color=") {
                Some(v) => Some(v.to_string()),
                None => {
                    if !seen_word && !other.starts_with('-') {
                        seen_word = true;
                        if subcommands.contains(&other) {
                            early.command = Some(other.to_string());
                        }
                    }
                    continue;
                }
            },
        };
        early.color = match value.as_deref() {
            Some("always") => ColorChoice::Always,
            Some("never") => ColorChoice::Never,
            _ => ColorChoice::Auto,
        };
    }
    early
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn auto_colours_a_terminal_only_without_no_color_or_a_dumb_term() {
        let auto = ColorChoice::Auto;
        assert!(decide(auto, true, None, os("xterm")));
        assert!(
            decide(auto, true, os(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(!decide(auto, false, None, os("xterm")), "redirected");
        assert!(!decide(auto, true, os("1"), os("xterm")), "NO_COLOR");
        assert!(!decide(auto, true, None, os("dumb")), "TERM=dumb");
    }

    #[test]
    fn always_and_never_win_over_the_environment() {
        assert!(decide(ColorChoice::Always, false, os("1"), os("dumb")));
        assert!(!decide(ColorChoice::Never, true, None, os("xterm")));
    }

    #[test]
    fn the_scan_finds_color_json_and_the_subcommand() {
        let subs = ["retarget", "inspect"];
        let scan = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            scan(&args, &subs)
        };
        let e = scan(&["m", "--color", "never", "inspect", "x.msp", "--json"]);
        assert_eq!(e.color, ColorChoice::Never);
        assert!(e.json);
        assert_eq!(e.command.as_deref(), Some("inspect"));
        let e = scan(&["m", "-v", "retarget", "inspect", "--color=always"]);
        assert_eq!(e.color, ColorChoice::Always);
        assert!(!e.json);
        assert_eq!(e.command.as_deref(), Some("retarget"), "the first word");
        let e = scan(&["m", "inspect", "--", "--json", "--color=never"]);
        assert_eq!((e.color, e.json), (ColorChoice::Auto, false), "after --");
        let e = scan(&["m", "frobnicate", "--color", "purple"]);
        assert_eq!((e.color, e.command), (ColorChoice::Auto, None));
    }
}
