//! Regenerates `testdata/sample.msp`, the shipped sample patch, from
//! [`PatchSpec::single_product`]. Run with `cargo run --example make_sample`.
//!
//! With arguments, `make_sample OUT.msp CABINET_MIB` writes the same patch
//! with a cabinet of that many MiB elsewhere (for measurements by hand).
//!
//! The output is deterministic: a unit test in `synth` fails when the
//! committed file and a fresh build differ.

use std::path::{Path, PathBuf};

use msp_retarget::synth::{PatchSpec, write_patch_file};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = PatchSpec::single_product();
    let path = match args.as_slice() {
        [] => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
            std::fs::create_dir_all(&dir)?;
            dir.join("sample.msp")
        }
        [out, mib] => {
            let mib: u64 = mib.parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "CABINET_MIB must be a number",
                )
            })?;
            spec.cabinet_len = mib * 1024 * 1024;
            PathBuf::from(out)
        }
        _ => {
            eprintln!("usage: make_sample [OUT.msp CABINET_MIB]");
            std::process::exit(2);
        }
    };
    write_patch_file(&spec, &path)?;
    let len = std::fs::metadata(&path)?.len();
    println!("wrote {} ({len} bytes)", path.display());
    Ok(())
}
