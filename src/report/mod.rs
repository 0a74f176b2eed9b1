//! The one report model behind both outputs: human-readable text and JSON.
//!
//! JSON documents always carry `schema_version` and `command`, and use
//! lower-case snake_case tags; a test pins their shape. Errors and refusals
//! are reported in the same envelope, so a pipeline reading `--json` output
//! always gets one JSON document.

pub mod bulk;
pub mod check;
pub mod edit;
pub mod inspect;
pub mod instances;
pub mod recover;
pub mod sequence;

pub use crate::format::signature::{SignatureReport, Verdict as SignatureVerdict};
pub use edit::{
    RetargetReport, UntargetInstance, UntargetReport, render_retarget, render_untarget,
};

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Version of the JSON documents; bumped when a field changes meaning or
/// disappears (adding fields does not bump it).
///
/// 3: retarget's and untarget's `plan.template_*` and
/// `plan.last_saved_by_*` are arrays of entries (were `;`-joined strings).
pub const SCHEMA_VERSION: u32 = 3;

/// The JSON envelope: every document has these two fields first.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The subcommand that produced it.
    pub command: &'a str,
    /// The report itself.
    #[serde(flatten)]
    pub body: &'a T,
}

/// Renders any report as pretty JSON in the envelope.
pub fn to_json<T: Serialize>(command: &str, body: &T) -> String {
    let env = Envelope {
        schema_version: SCHEMA_VERSION,
        command,
        body,
    };
    serde_json::to_string_pretty(&env).unwrap_or_else(|e| {
        format!("{{\"schema_version\":{SCHEMA_VERSION},\"command\":\"{command}\",\"outcome\":\"error\",\"error\":{{\"reason\":\"cannot serialize the report: {e}\"}}}}")
    })
}

/// An error or refusal, as JSON reports it.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    /// `refused` or `error`.
    pub outcome: &'static str,
    /// The details.
    pub error: ErrorInfo,
}

/// The parts of an [`Error`].
#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    /// Phase of the failure.
    pub kind: ErrorKind,
    /// The file, when known.
    pub file: Option<PathBuf>,
    /// The part of the file, when known.
    pub part: Option<String>,
    /// The reason.
    pub reason: String,
    /// The full one-line message, as printed on stderr.
    pub message: String,
}

impl ErrorReport {
    /// Builds the report of an error.
    pub fn from_error(e: &Error) -> ErrorReport {
        ErrorReport {
            outcome: if e.kind() == ErrorKind::Refused {
                "refused"
            } else {
                "error"
            },
            error: ErrorInfo {
                kind: e.kind(),
                file: e.file().map(PathBuf::from),
                part: e.part().map(str::to_string),
                reason: e.reason().to_string(),
                message: e.to_string(),
            },
        }
    }
}
