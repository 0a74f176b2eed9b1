//! Putting a result on disk: an [`overlay`] that gathers writes, a
//! read-ahead buffer for re-reading ([`readahead`]), the atomic commit of a
//! new file ([`commit`]) and the redo journal and edit lock of an in-place
//! edit ([`journal`]).

pub mod commit;
pub mod journal;
pub mod overlay;
pub mod readahead;
pub mod tail;
