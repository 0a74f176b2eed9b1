//! The corpus suites: real WiX-built files from `../shared/corpus` (or
//! `$MSP_CORPUS_DIR`), one binary with a module per theme. Every test is
//! ignored by default: `cargo test --test corpus -- --ignored`.

// The harness shared with the integration tests.
#[path = "../util/mod.rs"]
mod util;

// Retargeting every corpus patch: outputs, idempotence, inspect.
mod retarget;

// check on every corpus patch against every corpus product.
mod check;

// The transform reader and instance discovery on real products.
mod instances;

// Patch sequencing on the corpus.
mod sequence;

// The transform writer against every corpus transform.
mod transform_write;
