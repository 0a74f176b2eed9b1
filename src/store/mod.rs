//! Putting a result on disk: an [`overlay`] that gathers writes, the
//! atomic commit of a new file ([`commit`]), the redo journal and edit lock
//! of an in-place edit ([`journal`]) and the bytes past the FAT's end that
//! an edit keeps ([`tail`]).

pub mod commit;
pub mod journal;
pub mod overlay;
pub mod tail;
