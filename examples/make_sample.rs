//! Regenerates `testdata/sample.msp`, the shipped sample patch, from
//! [`PatchSpec::single_product`]. Run with `cargo run --example make_sample`.
//!
//! The output is deterministic: a unit test in `synth` fails when the
//! committed file and a fresh build differ.

use std::path::Path;

use msp_retarget::synth::{PatchSpec, write_patch_file};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sample.msp");
    write_patch_file(&PatchSpec::single_product(), &path)?;
    let len = std::fs::metadata(&path)?.len();
    println!("wrote {} ({len} bytes)", path.display());
    Ok(())
}
