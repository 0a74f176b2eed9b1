//! The commands, each an entry point that reads its inputs, runs the
//! stages and returns a report: [`retarget`], [`untarget`], [`inspect`],
//! [`check`], [`bulk`] and [`instances`].

pub mod bulk;
pub mod check;
pub mod inspect;
pub mod instances;
pub mod recover;
pub mod retarget;
pub mod sequence;
pub mod untarget;
