//! Regenerates `testdata/sequence/`, the sample set of the `sequence`
//! command: the patches of Windows Installer's "Multiple Patching Example"
//! ([`multiple_patching_example`]), the service pack once more with
//! msidbPatchSequenceSupersedeEarlier (`sp1-supersede.msp`), and the
//! product they are made for (`product.msi`). Run with
//! `cargo run --example make_sequence_samples`.

use std::path::Path;

use msp_retarget::testkit::synth::{
    EXAMPLE_PRODUCT, multiple_patching_example, product_database, write_patch_file,
};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sequence");
    std::fs::create_dir_all(&dir)?;
    for (name, spec) in multiple_patching_example(false) {
        write_patch_file(&spec, &dir.join(name))?;
        println!("wrote {}", dir.join(name).display());
    }
    for (name, spec) in multiple_patching_example(true) {
        if name == "sp1.msp" {
            let path = dir.join("sp1-supersede.msp");
            write_patch_file(&spec, &path)?;
            println!("wrote {}", path.display());
        }
    }
    let path = dir.join("product.msi");
    std::fs::write(&path, product_database(&EXAMPLE_PRODUCT)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
