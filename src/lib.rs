//! Retarget Windows Installer patches (.msp) to every instance of a
//! multi-instance product, on any operating system.
//!
//! The pipeline is visible in the module layout:
//!
//! * **read** — [`container`] opens the OLE compound file (crate `cfb`),
//!   [`propset`] decodes property-set streams byte-faithfully and
//!   [`summary`] gives typed views of the summary information
//!   ([`readahead`] and [`layout`] serve verification's re-reading);
//! * **understand** — [`patch`] finds the transform pairs, their product
//!   codes and validation flags;
//! * **plan** — [`plan`] computes a pure, serializable description of
//!   every change;
//! * **apply** — [`apply`] performs the plan on a private copy in the
//!   destination folder, through an [`overlay`] that gathers `cfb`'s
//!   small writes;
//! * **verify** — [`verify`] re-reads the result and checks it against the
//!   plan and the input;
//! * **commit** — [`commit`] syncs and renames the copy into place; an
//!   in-place edit is instead made in an [`overlay`] of the unchanged file,
//!   verified there, and written through a redo journal ([`journal`]).
//!
//! [`report`] is the one model that the human and JSON outputs render.

#![deny(missing_docs)]

pub mod apply;
pub mod bulk;
pub mod check;
pub mod commit;
pub mod container;
pub mod error;
pub mod guid;
pub mod inspect;
pub mod instances;
pub mod journal;
pub mod layout;
pub mod minifat;
pub mod names;
pub mod overlay;
pub mod patch;
pub mod plan;
pub mod product;
pub mod propset;
pub mod readahead;
pub mod report;
pub mod retarget;
pub mod sequence;
pub mod signature;
pub mod streamname;
pub mod structure;
pub mod summary;
pub mod synth;
pub mod tail;
pub mod transform;
pub mod untarget;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
