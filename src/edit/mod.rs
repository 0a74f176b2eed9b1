//! An edit of a patch or of a product's instances ([`instances`]): the pure [`plan`], the names of new entries
//! ([`names`]), performing it ([`apply`]), checking the result
//! ([`verify`]), what a copy of a transform may differ in from its
//! source ([`copy`]) and refusing a result that would not install as planned
//! ([`gate`]).

pub mod apply;
mod compare;
pub mod copy;
pub mod engine;
pub mod gate;
pub mod instances;
pub mod isolate;
pub mod names;
pub mod plan;
pub mod sequence;
pub mod verify;
