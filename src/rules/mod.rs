//! Windows Installer's rules, independent of any edit: whether a patch
//! applies to a product ([`applicability`]) and what is wrong with a
//! patch ([`lint`]).

pub mod applicability;
pub mod lint;
pub mod sequence;
#[cfg(test)]
mod tests;
