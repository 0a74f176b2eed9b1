//! The file formats, read and written byte-faithfully: compound files
//! (OLE structured storage), their entry and stream names, property sets
//! and the summary information, GUIDs, and transforms. Nothing here knows
//! what a patch is for, what an edit plans or how a file is committed.

pub mod compound;
pub mod container;
pub mod guid;
pub mod layout;
pub mod minifat;
pub mod msi;
pub mod names;
pub mod propset;
pub mod signature;
pub mod streamname;
pub mod structure;
pub mod summary;
pub mod transform;
pub mod version;
