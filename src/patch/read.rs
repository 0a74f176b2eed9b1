//! The one reader of a patch's summary and transform pairs, in two modes.
//!
//! [`Mode::Strict`] is how every edit reads its input ([`Patch::open`]):
//! the first thing that cannot be understood is the error. In
//! [`Mode::Lenient`] (`check`, `inspect`) reading goes on past it, and it
//! becomes a [`Problem`]: a neutral account that `check` turns into a lint
//! finding and `inspect` into a line of its report, each in its own words.
//!
//! [`Patch::open`]: super::Patch::open

use std::path::Path;

use super::{MAX_PAIRS, Pair, Transform, read_listed};
use crate::error::{Context, Error, Result};
use crate::format::container::{self, Storage, stream_part};
use crate::format::guid::{self, Guid};
use crate::format::propset::PropertySet;
use crate::format::signature;
use crate::format::summary::{
    self, PairNames, PatchCodes, SUMMARY_STREAM, pid, property_part, require_string,
};

/// How a patch is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first problem is the error: what an edit needs.
    Strict,
    /// Every problem is noted and reading goes on: what a report needs.
    Lenient,
}

/// Something a lenient read could not understand, and skipped.
#[derive(Debug)]
pub struct Problem {
    /// What it is about.
    pub about: About,
    /// Why, in the strict reader's words.
    pub error: Error,
}

/// What a [`Problem`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    /// A summary property that holds text but cannot be decoded (this
    /// id); it is read as empty.
    Property(u32),
    /// RevisionNumber, which does not start with a patch code.
    PatchCode,
    /// A Template entry that is not a braced GUID; it is no target.
    TemplateEntry,
    /// A LastSavedBy entry that does not fit the list (the error quotes
    /// it); it is skipped.
    ListEntry,
    /// A listed transform that cannot be read; its pair is left out (or
    /// only its partner is).
    Transform {
        /// The name as listed.
        name: String,
        /// Which check failed.
        fault: Fault,
    },
}

/// Why a listed transform cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The name is longer than a storage name can be.
    NameTooLong,
    /// The name holds a character storage names cannot hold.
    ForbiddenChar(char),
    /// `.` or `..`, which would name another entry than a root storage.
    NotAName,
    /// No entry of that name.
    Missing,
    /// The entry is a stream.
    NotAStorage,
    /// The storage is there but its summary cannot be understood.
    Unreadable,
}

/// What the reader understood of a patch; in a strict read, all of it.
#[derive(Debug)]
pub struct Parts {
    /// Template as stored.
    pub template: String,
    /// Target product codes from Template, in order, each once.
    pub targets: Vec<Guid>,
    /// LastSavedBy as stored.
    pub last_saved_by: String,
    /// Patch code and obsoleted codes, when RevisionNumber holds them.
    pub codes: Option<PatchCodes>,
    /// The pairs whose main transform could be read, in LastSavedBy order.
    pub pairs: Vec<Pair>,
    /// Names of the entries at the root of the file.
    pub root_names: Vec<String>,
    /// Signature streams present at the root.
    pub signatures: Vec<String>,
    /// What could not be understood (always empty in a strict read).
    pub problems: Vec<Problem>,
}

/// Reads the parts of the patch `cf` whose root summary information is
/// `summary`; without one (it could not be read), every property is
/// absent.
pub fn read_parts<S: Storage>(
    cf: &mut S,
    summary: Option<&PropertySet>,
    mode: Mode,
) -> Result<Parts> {
    let mut r = Reader {
        mode,
        problems: Vec::new(),
    };
    let stream = stream_part(&Path::new("/").join(SUMMARY_STREAM));
    let template = r.text(summary, pid::TEMPLATE, &stream)?;
    let last_saved_by = r.text(summary, pid::LAST_SAVED_BY, &stream)?;
    let revision = r.text(summary, pid::REVISION_NUMBER, &stream)?;
    let codes = match PatchCodes::parse(&revision) {
        Ok(codes) => Some(codes),
        Err(e) => {
            r.note(About::PatchCode, e, |e| {
                e.at(property_part(pid::REVISION_NUMBER)).at(stream.clone())
            })?;
            None
        }
    };
    let mut targets = Vec::new();
    for entry in summary::split_list(&template) {
        match Guid::parse_braced(entry.trim()) {
            Ok(g) => targets.push(g),
            Err(e) => r.note(About::TemplateEntry, e, |e| {
                Error::format(format!("target list {template:?}: {}", e.reason()))
                    .at(property_part(pid::TEMPLATE))
                    .at(stream.clone())
            })?,
        }
    }
    // GUIDs compare canonically: `{G};{g}` is one product listed twice
    // (`check` lints it), not two targets.
    guid::dedup_in_order(&mut targets);
    let names = match mode {
        Mode::Strict => {
            // Planning compares pairs with pairs: the count bounds the time
            // a hostile file can cost an edit. A report reads each pair once.
            summary::parse_transform_list(&last_saved_by, MAX_PAIRS)
                .at(property_part(pid::LAST_SAVED_BY))
                .at(stream.clone())?
        }
        Mode::Lenient => {
            let (names, refused) = summary::scan_transform_list(&last_saved_by);
            r.problems
                .extend(refused.into_iter().map(|(_, error)| Problem {
                    about: About::ListEntry,
                    error,
                }));
            names
        }
    };
    let mut pairs = Vec::with_capacity(names.len());
    for PairNames { main, partner } in names {
        let main = r.transform(cf, &main)?;
        let partner = match partner {
            Some(p) => r.transform(cf, &p)?,
            None => None,
        };
        if let Some(main) = main {
            pairs.push(Pair { main, partner });
        }
    }
    Ok(Parts {
        template,
        targets,
        last_saved_by,
        codes,
        pairs,
        root_names: container::root_names(cf),
        signatures: signature::streams_present(cf),
        problems: r.problems,
    })
}

struct Reader {
    mode: Mode,
    problems: Vec<Problem>,
}

impl Reader {
    /// Strict: `error` is the reading's error, in the words `strict` gives
    /// it. Lenient: it is noted as a problem and reading goes on.
    fn note(
        &mut self,
        about: About,
        error: Error,
        strict: impl FnOnce(Error) -> Error,
    ) -> Result<()> {
        match self.mode {
            Mode::Lenient => {
                self.problems.push(Problem { about, error });
                Ok(())
            }
            Mode::Strict => Err(strict(error)),
        }
    }

    /// A text property: strictly it must be there; leniently an absent one
    /// is empty, and one that cannot be decoded is a problem.
    fn text(&mut self, set: Option<&PropertySet>, id: u32, stream: &str) -> Result<String> {
        let Some(set) = set else {
            return match self.mode {
                Mode::Strict => Err(Error::format("is missing").at(property_part(id)).at(stream)),
                Mode::Lenient => Ok(String::new()),
            };
        };
        match self.mode {
            Mode::Strict => require_string(set, id).at(stream),
            Mode::Lenient => match summary::get_string(set, id) {
                Ok(text) => Ok(text.unwrap_or_default()),
                Err(error) => {
                    self.problems.push(Problem {
                        about: About::Property(id),
                        error,
                    });
                    Ok(String::new())
                }
            },
        }
    }

    fn transform<S: Storage>(&mut self, cf: &mut S, name: &str) -> Result<Option<Transform>> {
        match read_listed(cf, name) {
            Ok(t) => Ok(Some(t)),
            Err((fault, error)) => {
                let about = About::Transform {
                    name: name.to_string(),
                    fault,
                };
                self.note(about, error, |e| e)?;
                Ok(None)
            }
        }
    }
}
