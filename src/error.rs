//! One error type for the whole library: what went wrong, in which file,
//! in which part of it, and why.
//!
//! Messages are written for a release engineer reading a CI log, so every
//! error names the file and the part (storage, stream, property, offset)
//! whenever they are known. The [`ErrorKind`] tells a caller which phase
//! failed and maps to the tool's exit code: refusals are deliberate
//! decisions (exit 1), everything else is an error (exit 2).
//!
//! The library speaks of its own API, never of a front end's options: a
//! reason that names a setting of the request (the one at fault, or the one
//! that would get past the error) holds it as a [`Setting`], worded by its
//! API name in [`Error::reason`] and `Display`; a front end words it with
//! its own names through [`Error::worded`] (the command line with its
//! options, `bulk` with its manifest keys).

mod setting;

pub use setting::{ApiWords, Reason, Setting, Wording, reword};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed at the operating-system level.
    Io,
    /// The input is not what it must be: not a compound file, a database
    /// where a patch was expected, a malformed property set, a missing
    /// storage named by LastSavedBy, and so on.
    Format,
    /// The request itself is wrong: a malformed product code, an instance
    /// that names a base the patch does not target, conflicting options.
    Usage,
    /// The tool could do it but refuses on purpose (major-upgrade patch,
    /// signed patch, ambiguous base, result that would not apply).
    Refused,
    /// The written result did not pass verification; nothing was committed.
    Verify,
}

impl ErrorKind {
    /// The process exit code documented for this kind: 1 for a refusal,
    /// 2 for every error.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Refused => 1,
            _ => 2,
        }
    }
}

/// An error with the file, the part of the file and the reason.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    file: Option<PathBuf>,
    part: Option<String>,
    reason: Reason,
    source: Option<io::Error>,
}

/// Shorthand used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a reason (text, or a [`Reason`] that
    /// names settings); add the file and the part with [`Error::in_file`]
    /// and [`Error::at`].
    pub fn new(kind: ErrorKind, reason: impl Into<Reason>) -> Error {
        Error {
            kind,
            file: None,
            part: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// A malformed-input error.
    pub fn format(reason: impl Into<Reason>) -> Error {
        Error::new(ErrorKind::Format, reason)
    }

    /// A usage error (bad arguments).
    pub fn usage(reason: impl Into<Reason>) -> Error {
        Error::new(ErrorKind::Usage, reason)
    }

    /// A deliberate refusal.
    pub fn refused(reason: impl Into<Reason>) -> Error {
        Error::new(ErrorKind::Refused, reason)
    }

    /// A verification failure of a written result.
    pub fn verify(reason: impl Into<Reason>) -> Error {
        Error::new(ErrorKind::Verify, reason)
    }

    /// An I/O failure; `what` says what was being done ("reading", "renaming
    /// the output into place", ...).
    pub fn io(what: impl Into<Reason>, err: io::Error) -> Error {
        // cfb reports malformed structure as InvalidData / InvalidInput:
        // that is a property of the file, not of the system.
        let kind = match err.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => ErrorKind::Format,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            file: None,
            part: None,
            reason: what.into().and(format!(": {err}")),
            source: Some(err),
        }
    }

    /// Names the file this error is about (kept if one is already set).
    pub fn in_file(mut self, file: impl AsRef<Path>) -> Error {
        if self.file.is_none() {
            self.file = Some(file.as_ref().to_path_buf());
        }
        self
    }

    /// Names the part of the file (outermost first; a part already set is
    /// kept as the more precise inner part).
    pub fn at(mut self, part: impl Into<String>) -> Error {
        let part = part.into();
        self.part = Some(match self.part.take() {
            Some(inner) => format!("{part}, {inner}"),
            None => part,
        });
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file, when known.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The part of the file, when known.
    pub fn part(&self) -> Option<&str> {
        self.part.as_deref()
    }

    /// The reason, without file and part, with the settings it names
    /// worded by their API names.
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }

    /// The settings of the request the reason names, in order: the one at
    /// fault, or the one that would get past the error.
    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.reason.settings()
    }

    /// This error with the settings its reason names worded by `wording`
    /// (a front end's names for them; a setting it has no name for keeps
    /// its API name). The worded error names no setting any more.
    pub fn worded(mut self, wording: &dyn Wording) -> Error {
        self.reason = Reason::from(self.reason.worded(wording));
        self
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(part) = &self.part {
            write!(f, "{part}: ")?;
        }
        f.write_str(self.reason.as_str())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Adds file and part context to results in one call.
pub trait Context<T> {
    /// Names the file on the error, if any.
    fn in_file(self, file: impl AsRef<Path>) -> Result<T>;
    /// Names the part on the error, if any.
    fn at(self, part: impl Into<String>) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn in_file(self, file: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| e.in_file(file))
    }
    fn at(self, part: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.at(part))
    }
}

/// Runs `f`, turning a panic inside it into an `Err` with the panic's
/// message, for calls into crates that may panic on malformed input (the
/// `msi` crate unwraps values of its own tables; `cfb` indexes its
/// allocation tables with sector numbers read from the file). The panic
/// message is not printed for a thread inside `contain_panics`; panics
/// elsewhere are reported as before. Whatever `f` built is dropped unused
/// after a panic.
///
/// The panic hook is replaced once per process by one that stays quiet for
/// threads inside this function (a thread-local depth), so that parallel
/// callers (bulk runs) neither serialise on a hook swap nor restore each
/// other's hooks.
pub fn contain_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    thread_local! {
        static DEPTH: Cell<u32> = const { Cell::new(0) };
    }
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_parts_outermost_first() {
        let e = Error::format("declared length 9999 exceeds the 40 bytes left")
            .at("property 7 (Template)")
            .at("stream \\005SummaryInformation")
            .in_file("fix.msp");
        assert_eq!(
            e.to_string(),
            "fix.msp: stream \\005SummaryInformation, property 7 (Template): \
             declared length 9999 exceeds the 40 bytes left"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_contained_panic_is_an_error_with_its_message() {
        assert_eq!(contain_panics(|| 7), Ok(7));
        let e = contain_panics(|| -> u8 { panic!("bad table {}", 3) }).unwrap_err();
        assert_eq!(e, "bad table 3");
        // The hook is back: a later contained panic is still caught.
        let none: Option<u8> = "x".parse().ok();
        assert!(contain_panics(|| none.expect("a value")).is_err());
    }

    #[test]
    fn refusal_exits_one_and_invalid_data_is_a_format_error() {
        assert_eq!(Error::refused("signed").exit_code(), 1);
        let e = Error::io(
            "reading",
            io::Error::new(io::ErrorKind::InvalidData, "bad FAT"),
        );
        assert_eq!(e.kind(), ErrorKind::Format);
        let e = Error::io("reading", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
