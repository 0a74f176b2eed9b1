//! Integration tests of the library and the command line, one binary with
//! a module per theme.

// The harness: temp folders, patch building, cfb snapshots, the checker.
mod util;

// The retarget engine through the library API: presets, idempotence,
// determinism, dry runs, copy decisions, names.
mod engine;

// Component isolation: patches that add components, retargeted to
// products whose instances isolate them, and back.
mod isolate;

// Refusals and errors of the engine, with their exact text.
mod errors;

// No text of the library names an option of the command line.
mod neutral_texts;

// One entry into the `msi` crate: only `format/msi.rs` opens a database with it.
mod msi_entry;

// The harness's checker rejects outputs that break an invariant.
mod harness;

// The command line: exit codes, stdout and stderr, destinations, inspect.
mod cli;

// Shell completion scripts, driven by bash (and fish, zsh when ignored
// tests run).
mod completions;

// --version and the man pages.
mod help;

// The JSON schema of --json, pinned by mirror structs.
mod json;

// Property tests over random instance lists.
mod props;

// Golden outputs of the command line, pinned by hash.
mod golden;

// instances add and remove through the command line.
mod instances_cli;

// Every shell example in README.md and docs/ runs as written.
mod docs_examples;

// No chain links to sector 0 (what osslsigncode needs to sign a file).
mod chains;

// Patches with a FAT too large to read whole: edits, rounds of edits.
mod large_fat;

// bulk: manifests, parallel runs, the summary and JSON report.
mod bulk;

// check through the command line: verdicts, exit codes, JSON.
mod check_cli;

// Killed and starved runs: an in-place edit is all or nothing.
mod crash;

// Resource limits: huge declared sizes, deep nesting, full disks.
mod hardening;

// Hostile neighbours: journals, destinations, instance lists.
mod hostile;

// Broken input through the command line, one malformation per case.
mod malformed;

// sequence through the command line.
mod sequence_cli;

// Authenticode signatures: verdicts, stripping, osslsigncode.
mod signing;
