//! Regenerates `testdata/sample.msp`, the shipped sample patch, from
//! [`PatchSpec::single_product`]. Run with `cargo run --example make_sample`.
//!
//! With arguments, `make_sample OUT.msp CABINET_MIB` writes the same patch
//! with a cabinet of that many MiB elsewhere (for measurements by hand);
//! `make_sample OUT.msp CABINET_MIB two-pair` writes the two-pair patch
//! (`PatchSpec::two_baselines`) the benchmark's instance curve uses;
//! `make_sample OUT.msp CABINET_MIB v3` writes the single-product patch as
//! a version-3 compound file (512-byte sectors, as real patches are).
//!
//! The output is deterministic: a unit test in `synth` fails when the
//! committed file and a fresh build differ.

use std::path::{Path, PathBuf};

use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = PatchSpec::single_product();
    let path = match args.as_slice() {
        [] => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
            std::fs::create_dir_all(&dir)?;
            dir.join("sample.msp")
        }
        [out, mib] | [out, mib, _] => {
            match args.get(2).map(String::as_str) {
                Some("two-pair") => spec = PatchSpec::two_baselines(),
                Some("v3") => spec.version = cfb::Version::V3,
                None => {}
                Some(_) => {
                    eprintln!("usage: make_sample [OUT.msp CABINET_MIB [two-pair|v3]]");
                    std::process::exit(2);
                }
            }
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
            eprintln!("usage: make_sample [OUT.msp CABINET_MIB [two-pair|v3]]");
            std::process::exit(2);
        }
    };
    write_patch_file(&spec, &path)?;
    let len = std::fs::metadata(&path)?.len();
    println!("wrote {} ({len} bytes)", path.display());
    Ok(())
}
