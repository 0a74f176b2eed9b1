//! Writes the seed corpora of the fuzz targets at run time, so that no
//! binary seed is committed:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds -- fuzz/corpus [MORE_FILES_DIR...]
//! ```
//!
//! `corpus/pipeline` and `corpus/layout` get the whole-file seeds of
//! [`msp_retarget_fuzz::file_seeds`] (synthetic patches and every file of
//! the extra folders, e.g. `../shared/corpus/wix3`); `corpus/propset` gets
//! their summary streams ([`msp_retarget_fuzz::propset_seeds`]);
//! `corpus/transform` the whole files and raw pool-and-rows inputs
//! ([`msp_retarget_fuzz::transform_seeds`]); `corpus/journal` in-place
//! edit journals ([`msp_retarget_fuzz::journal_seeds`]); `corpus/signature`
//! signature streams ([`msp_retarget_fuzz::signature_seeds`]);
//! `corpus/product` and `corpus/instances` product databases and the whole files
//! ([`msp_retarget_fuzz::product_seeds`]).

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args.next().unwrap_or_else(|| PathBuf::from("fuzz/corpus"));
    let extra: Vec<PathBuf> = args.collect();
    let files = msp_retarget_fuzz::file_seeds(&extra);
    let props = msp_retarget_fuzz::propset_seeds(&files);
    let transforms = msp_retarget_fuzz::transform_seeds(&files);
    let journals = msp_retarget_fuzz::journal_seeds();
    let signatures = msp_retarget_fuzz::signature_seeds(&files);
    let products = msp_retarget_fuzz::product_seeds(&files);
    for (target, seeds) in [
        ("pipeline", &files),
        ("layout", &files),
        ("propset", &props),
        ("transform", &transforms),
        ("journal", &journals),
        ("signature", &signatures),
        ("product", &products),
        ("instances", &products),
    ] {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).expect("creating the corpus folder");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).expect("writing a seed");
        }
    }
    println!(
        "{} seeds for pipeline and layout, {} for propset, {} for transform, {} for journal, \
         {} for signature, {} for product and instances, in {}",
        files.len(),
        props.len(),
        transforms.len(),
        journals.len(),
        signatures.len(),
        products.len(),
        out.display()
    );
}
