//! Corpus suite: real WiX-built patches from `../shared/corpus`.
