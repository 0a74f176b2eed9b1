//! The commands, each an entry point that reads its inputs, runs the
//! stages and returns a report: [`retarget`], [`untarget`], [`inspect`],
//! [`check`] and [`bulk`].

pub mod bulk;
pub mod check;
pub mod inspect;
pub mod recover;
pub mod retarget;
pub mod sequence;
pub mod untarget;
